//! The region's operations: what every front (gRPC, the DynamoDB HTTP API)
//! calls. Fronts translate requests and errors; the operations, and the one
//! write path under them, are the same for all.

use std::sync::Arc;

use meridian_core::settings::TableSettings;
use meridian_core::{EncodedKey, TableDef, Version};
use meridian_store::{CatalogChange, SortRange, StoreError, StoredRow, WriteRequest, WriteResult};

use crate::Shared;
pub use crate::error::{Internal, OpError};

/// The per-replica settings `describe` reads, as DynamoDB keeps them per
/// replica: the table class and server-side encryption. Their text is the
/// front's to write and read. (Deletion protection, per replica too, is a
/// catalog row every region reads: `meridian_core::protection`.)
pub const TABLE_CLASS: &str = "table_class";
pub const SSE: &str = "sse";
/// This replica's disassociation protection, DynamoDB's per-replica
/// setting: on unless this setting says `off`.
pub const DISASSOCIATION_PROTECTION: &str = "disassociation_protection";

/// A table as `describe` reports it.
#[derive(Clone, Debug)]
pub struct TableInfo {
    pub def: TableDef,
    /// The catalog version that created this incarnation of the table.
    pub version: Version,
    pub item_count: u64,
    /// Bytes of the live items as stored in this region.
    pub size_bytes: u64,
    pub ttl_attribute: Option<String>,
    /// Billing, throughput and stream in force.
    pub settings: TableSettings,
    /// Every secondary index as it stands in this region, in definition order.
    pub indexes: Vec<IndexState>,
    /// Whether this region's replica is protected from deletion.
    pub deletion_protected: bool,
    /// This replica's [`TABLE_CLASS`] and [`SSE`] settings, as stored.
    pub table_class: Option<String>,
    pub sse: Option<String>,
    /// Whether this region's replica is protected from disassociation
    /// (on by default, as in DynamoDB).
    pub disassociation_protected: bool,
    /// The replicas whose own resource-based policy withholds replication
    /// from another replica now (`REPLICATION_NOT_AUTHORIZED`,
    /// `meridian_core::replicas::authorize`).
    pub not_authorized: Vec<String>,
}

/// A secondary index as it stands in this region.
#[derive(Clone, Debug)]
pub struct IndexState {
    pub def: meridian_core::index::IndexDef,
    /// Still being built from the table's items here (`CREATING`).
    pub building: bool,
    pub stats: meridian_store::IndexStats,
}

/// Which tables a front sees, and how: the one place the two fronts'
/// views of one region differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Meridian's own API (gRPC, the loops): every table of the catalog,
    /// a replica being created here readable as it fills.
    Catalog,
    /// The DynamoDB endpoint's: a table without a replica in this region
    /// is not found, as DynamoDB answers for a table that does not exist
    /// in the region asked; a replica still being created here is not
    /// found for item requests, as a table that is not `ACTIVE`.
    Replicas,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct RegionHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) view: View,
}

impl RegionHandle {
    /// This handle, seeing the region through `view`.
    pub fn with_view(mut self, view: View) -> Self {
        self.view = view;
        self
    }

    /// Whether `def` is seen through this handle.
    fn sees(&self, def: &TableDef) -> bool {
        self.view == View::Catalog || def.has_replica(self.region())
    }

    pub fn region(&self) -> &str {
        &self.shared.config.name
    }

    /// The regions a table made by DynamoDB's CreateTable here starts in
    /// (`dynamodb_create_table`).
    pub fn create_table_regions(&self) -> Vec<String> {
        match self.shared.config.dynamodb_create_table {
            crate::config::CreateTableRegions::Region => vec![self.region().to_string()],
            crate::config::CreateTableRegions::EveryRegion => self.regions(),
        }
    }

    /// Every region of the cluster, this one included.
    pub fn regions(&self) -> Vec<String> {
        self.shared.config.all_regions()
    }

    /// A load budget for one of this region's servers, counted in its
    /// metrics (`crate::limits`).
    pub fn budget(
        &self,
        endpoint: &'static str,
        limit: usize,
        timeout: std::time::Duration,
    ) -> crate::limits::Budget {
        crate::limits::Budget::new(endpoint, limit, timeout, self.shared.metrics.clone())
    }

    /// The region's metrics, for fronts that count their own requests.
    pub fn metrics(&self) -> std::sync::Arc<crate::metrics::Metrics> {
        self.shared.metrics.clone()
    }

    /// Counts a client request refused for its signature
    /// (`meridian_unauthenticated_requests_total`).
    pub fn count_unauthenticated(&self, endpoint: &'static str, reason: &'static str) {
        self.shared
            .metrics
            .unauthenticated
            .get_or_create(&crate::metrics::EndpointReasonLabel { endpoint, reason })
            .inc();
    }

    /// Unskewed time in µs since the epoch, as this region reads it.
    pub fn real_now_micros(&self) -> u64 {
        self.shared.real_clock.now_micros()
    }

    /// Whether a pause of `table`'s replication is under way here
    /// (docs/netsim.md, *Pausing a table's replication*).
    pub fn replication_paused(&self, table: &str) -> bool {
        self.shared
            .pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .under_way(table, tokio::time::Instant::now())
    }

    pub async fn table(&self, name: &str) -> Result<(TableDef, Version), OpError> {
        self.shared
            .storage
            .table_def(name)
            .await?
            .filter(|(def, _)| self.sees(def))
            .ok_or_else(|| OpError::TableNotFound(name.to_string()))
    }

    /// [`Self::table`], for a request on the table's items: through the
    /// DynamoDB view, a replica still being created here (filling from its
    /// peers) is not found yet, as DynamoDB answers for a table that is not
    /// `ACTIVE` (`ResourceNotFoundException`: "its status might not be
    /// ACTIVE", API_GetItem). Meridian's own API reads it as it fills.
    pub async fn item_table(&self, name: &str) -> Result<(TableDef, Version), OpError> {
        let found = self.table(name).await?;
        if self.creating_here(&found.0) {
            return Err(OpError::TableNotFound(name.to_string()));
        }
        Ok(found)
    }

    /// Whether this handle sees `def` as a replica still being created in
    /// this region ([`Self::item_table`]).
    pub fn creating_here(&self, def: &TableDef) -> bool {
        self.view == View::Replicas
            && def
                .replica_states
                .get(self.region())
                .is_some_and(|s| s.status == meridian_core::replicas::Status::Creating)
    }

    /// `name`'s definition and the catalog version that created it, as the
    /// catalog has them, whether or not this handle sees the table
    /// (its [`View`]).
    pub async fn catalog_table(&self, name: &str) -> Result<Option<(TableDef, Version)>, OpError> {
        Ok(self.shared.storage.table_def(name).await?)
    }

    pub async fn describe(&self, name: &str) -> Result<TableInfo, OpError> {
        let (def, version) = self.table(name).await?;
        let owned = name.to_string();
        let here = self.region().to_string();
        let index_defs = def.indexes.clone();
        let (item_count, size_bytes, ttl_attribute, settings, indexes, replica) = self
            .shared
            .storage
            .read(move |r| {
                let building = r.indexes_building(&owned)?;
                let indexes = index_defs
                    .into_iter()
                    .map(|def| {
                        Ok(IndexState {
                            stats: r.index_stats(&owned, &def)?,
                            building: building.contains(&def.name),
                            def,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok((
                    r.item_count(&owned)?,
                    r.table_bytes(&owned)?,
                    r.ttl_attribute(&owned)?,
                    r.settings(&owned)?,
                    indexes,
                    (
                        r.protected_replicas(&owned)?.contains(&here),
                        r.replica_setting(&owned, TABLE_CLASS)?,
                        r.replica_setting(&owned, SSE)?,
                        r.replica_setting(&owned, DISASSOCIATION_PROTECTION)?,
                        r.replica_policies(&owned)?,
                    ),
                ))
            })
            .await?;
        // The table may have been dropped between the two reads.
        let mut settings = settings.ok_or_else(|| OpError::TableNotFound(name.to_string()))?;
        // This replica's units as auto scaling set them, which float apart
        // from the other replicas' (`crate::capacity::Scaled`).
        if let Some(scaled) = self.shared.capacity.scaled(name) {
            scaled.apply_to(&version, &mut settings);
        }
        let policies: meridian_core::replicas::authorize::Policies = replica
            .4
            .iter()
            .map(|(r, s)| (r.clone(), meridian_core::policy::Policy::parse(&s.document)))
            .collect();
        let not_authorized = if def.consistency.strong().is_some() {
            Vec::new()
        } else {
            let now = self.shared.real_clock.now_micros();
            meridian_core::replicas::authorize::not_authorized(&def, &policies, now)
        };
        Ok(TableInfo {
            def,
            version,
            item_count,
            size_bytes,
            ttl_attribute,
            settings,
            indexes,
            deletion_protected: replica.0,
            table_class: replica.1,
            sse: replica.2,
            disassociation_protected: replica.3.as_deref() != Some("off"),
            not_authorized,
        })
    }

    /// A table's definition and TTL attribute, if TTL is enabled on it.
    pub async fn ttl_setting(&self, name: &str) -> Result<Option<(TableDef, String)>, OpError> {
        let (def, _) = self.table(name).await?;
        let owned = name.to_string();
        let attr = self
            .shared
            .storage
            .read(move |r| r.ttl_attribute(&owned))
            .await?;
        Ok(attr.map(|a| (def, a)))
    }

    /// The tags of a table's replica in this region.
    pub async fn tags(&self, name: &str) -> Result<meridian_core::schema::Tags, OpError> {
        self.table(name).await?;
        let (owned, region) = (name.to_string(), self.region().to_string());
        Ok(self
            .shared
            .storage
            .read(move |r| r.tags(&owned, &region))
            .await?)
    }

    pub async fn list_tables(
        &self,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<String>, OpError> {
        let mut after = start_after.to_string();
        let (only, region) = (self.view == View::Replicas, self.region().to_string());
        Ok(self
            .shared
            .storage
            .read(move |r| {
                let mut out = Vec::new();
                loop {
                    let page = r.list_tables(&after, limit)?;
                    let done = page.len() < limit;
                    for name in page {
                        let here = !only
                            || r.table_def(&name)?
                                .is_some_and(|(def, _)| def.has_replica(&region));
                        if here && out.len() < limit {
                            out.push(name.clone());
                        }
                        after = name;
                    }
                    if done || out.len() == limit {
                        return Ok(out);
                    }
                }
            })
            .await?)
    }

    /// Adds and removes replicas of `table`, by DynamoDB's rules
    /// (`meridian_core::replicas::plan`), and answers with the table as
    /// described after the change. A change stands alone in the catalog,
    /// so each region it names is written by a request of its own; all are
    /// checked before the first is written.
    pub async fn change_replicas(
        &self,
        table: &str,
        change: &meridian_core::replicas::Change,
    ) -> Result<TableInfo, OpError> {
        let (def, _) = self.table(table).await?;
        let rows = meridian_core::replicas::plan(&def, self.region(), &self.regions(), change)
            .map_err(invalid)?;
        let protected = self.protected_replicas(table).await?;
        meridian_core::protection::check_removals(table, &change.delete, &protected)
            .map_err(invalid)?;
        if !change.create.is_empty() {
            self.stream_for_new_replica(table, &def).await?;
        }
        self.set_replicas(table, rows, &change.kms_keys).await?;
        self.describe(table).await
    }

    /// Turns on the stream of `table` (as `def`) before a replica is added,
    /// as DynamoDB does for a table that becomes global, so each new
    /// replica starts with it; an existing stream keeps its view type.
    pub async fn stream_for_new_replica(&self, table: &str, def: &TableDef) -> Result<(), OpError> {
        let owned = table.to_string();
        let settings = self.read(move |r| r.settings(&owned)).await?;
        if let Some(change) = settings.and_then(|s| s.stream_for_replicas(def)) {
            self.write(vec![CatalogChange::UpdateSettings {
                table: table.to_string(),
                change,
            }])
            .await?;
        }
        Ok(())
    }

    /// Writes each of `rows` (region, status) as a request of its own: a
    /// replica change stands alone in the catalog. A new replica takes its
    /// KMS key from `kms_keys`, if one was named for it.
    async fn set_replicas(
        &self,
        table: &str,
        rows: Vec<(String, meridian_core::replicas::Status)>,
        kms_keys: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), OpError> {
        for (region, status) in rows {
            let kms_key = kms_keys.get(&region).cloned();
            self.write(vec![CatalogChange::SetReplica {
                table: table.to_string(),
                region,
                status,
                kms_key,
            }])
            .await?;
        }
        Ok(())
    }

    /// The regions whose replica of `table` is protected against deletion.
    pub async fn protected_replicas(&self, table: &str) -> Result<Vec<String>, OpError> {
        let owned = table.to_string();
        Ok(self
            .shared
            .storage
            .read(move |r| r.protected_replicas(&owned))
            .await?)
    }

    /// DeleteTable through DynamoDB's API, sent to this region: this
    /// region's replica only while another region holds the table, else
    /// the table everywhere; the whole table also where the cluster makes
    /// DynamoDB's tables in every region at once (`dynamodb_create_table =
    /// "every-region"`), and for a STRONG table. Refused when a replica it
    /// would delete is protected (`meridian_core::protection::deletion`).
    /// Meridian's own DeleteTable (gRPC, the CLI, drills) deletes the table
    /// everywhere and is not this.
    pub async fn delete_table_here(
        &self,
        table: &str,
    ) -> Result<meridian_core::protection::Deletion, OpError> {
        use meridian_core::protection::{Deletion, deletion};
        let (def, _) = self.table(table).await?;
        let protected = self.protected_replicas(table).await?;
        let everywhere = matches!(
            self.shared.config.dynamodb_create_table,
            crate::config::CreateTableRegions::EveryRegion
        );
        let d = deletion(&def, self.region(), &protected, everywhere).map_err(invalid)?;
        let op = match d {
            Deletion::Table => CatalogChange::DeleteTable(def.name.clone()),
            Deletion::Replica => CatalogChange::SetReplica {
                table: def.name.clone(),
                region: self.region().to_string(),
                status: meridian_core::replicas::Status::Deleting,
                kms_key: None,
            },
        };
        self.write(vec![op]).await?;
        Ok(d)
    }

    /// How many times the catalog has changed here: a cache of what it
    /// says is good while this stays the same.
    pub fn catalog_epoch(&self) -> u64 {
        self.shared.storage.catalog_epoch()
    }

    /// Whether the bucket of `r` in this region's provisioned throughput
    /// admits a request now (`crate::capacity`); always, on demand.
    pub async fn capacity_admits(&self, r: &crate::capacity::Resource) -> Result<bool, OpError> {
        let s = &self.shared;
        Ok(s.capacity.admits(&s.storage, r).await?)
    }

    /// Charges what a request consumed to `r`'s bucket.
    pub async fn capacity_charge(
        &self,
        r: &crate::capacity::Resource,
        units: f64,
    ) -> Result<(), OpError> {
        let s = &self.shared;
        Ok(s.capacity.charge(&s.storage, r, units).await?)
    }

    /// The partitions of `table` holding the items whose partition keys
    /// `keys_of` gives, encoded, asked with the key attribute
    /// (`crate::capacity`); `None` for a table unknown here.
    pub async fn capacity_partitions(
        &self,
        table: &str,
        keys_of: impl FnOnce(&meridian_core::key::KeyAttr) -> Vec<Option<Vec<u8>>>,
    ) -> Result<Option<Vec<Option<u32>>>, OpError> {
        let s = &self.shared;
        Ok(s.capacity.partitions(&s.storage, table, keys_of).await?)
    }

    /// `table`'s global indexes with write units of their own, whose
    /// spent units throttle the table's writes, each with its key
    /// attributes' names.
    pub async fn capacity_write_indexes(
        &self,
        table: &str,
    ) -> Result<Vec<(String, Vec<String>)>, OpError> {
        let s = &self.shared;
        Ok(s.capacity.write_indexes(&s.storage, table).await?)
    }

    /// Whether `r`'s table is on demand in this region, and which limit
    /// `r`'s bucket is (`crate::capacity`); `None` for a table unknown here.
    pub async fn capacity_limit(
        &self,
        r: &crate::capacity::Resource,
    ) -> Result<Option<(bool, meridian_core::throughput::Limit)>, OpError> {
        let s = &self.shared;
        Ok(s.capacity.limit(&s.storage, r).await?)
    }

    /// Whether `index` is a global index of `table`, which has capacity of
    /// its own (a local one draws on its table's).
    pub async fn is_global_index(&self, table: &str, index: &str) -> Result<bool, OpError> {
        let s = &self.shared;
        Ok(s.capacity.is_global_index(&s.storage, table, index).await?)
    }

    /// Disassociates this region's replica of `table` from its global
    /// table, by DynamoDB's rules
    /// (`meridian_core::replicas::disassociate::plan`): the replica becomes
    /// `DISASSOCIATING` now, and the replica-change worker finishes it once
    /// its peers hold every write of the table made here
    /// (`WAIT_FOR_REPLICATION`).
    pub async fn disassociate(
        &self,
        table: &str,
        region: &str,
        mode: &str,
    ) -> Result<TableInfo, OpError> {
        let info = self.describe(table).await?;
        meridian_core::replicas::disassociate::plan(
            &info.def,
            self.region(),
            region,
            mode,
            info.disassociation_protected,
        )
        .map_err(invalid)?;
        self.write(vec![CatalogChange::SetReplica {
            table: table.to_string(),
            region: self.region().to_string(),
            status: meridian_core::replicas::Status::Disassociating,
            kms_key: None,
        }])
        .await?;
        self.describe(table).await
    }

    /// Turns disassociation protection of this region's replica of
    /// `table` on or off: a per-replica setting, never replicated. Only a
    /// replica of a global table has it, as in DynamoDB.
    pub async fn set_disassociation_protection(
        &self,
        table: &str,
        on: bool,
    ) -> Result<TableInfo, OpError> {
        let (def, _) = self.table(table).await?;
        if meridian_core::replicas::disassociate::group(&def, self.region()).len() < 2
            || def.consistency.strong().is_some()
        {
            return Err(invalid(meridian_core::Error::invalid(
                "DisassociationProtectionEnabled",
                format!(
                    "Table '{table}' in {} is not a replica of a multi-Region eventually consistent global table",
                    self.region()
                ),
            )));
        }
        let value = (!on).then(|| "off".to_string());
        self.change_replica_setting(table, DISASSOCIATION_PROTECTION, move |_, _| {
            Ok::<_, std::convert::Infallible>(value)
        })
        .await?
        .unwrap_or_else(|never| match never {});
        self.describe(table).await
    }

    /// Changes setting `name` of this region's replica of `table`, one
    /// DynamoDB keeps per replica and never replicates (a resource policy,
    /// contributor insights): `change` makes the new value of the current
    /// one in the write's transaction, or refuses (`Ok(Err(_))`, nothing
    /// written). Answers the value it replaced and the one now stored.
    pub async fn change_replica_setting<E: Send + 'static>(
        &self,
        table: &str,
        name: &str,
        change: impl FnOnce(Option<&str>, u64) -> Result<Option<String>, E> + Send + 'static,
    ) -> Result<Result<meridian_store::Replaced, E>, OpError> {
        self.table(table).await?;
        Ok(self
            .shared
            .storage
            .change_replica_setting(table, name, change)
            .await?)
    }

    /// Runs `f` on a read snapshot of the store, off the async workers:
    /// for fronts that read what no other operation here gives (a change
    /// stream's records).
    pub async fn read<T, F>(&self, f: F) -> Result<T, OpError>
    where
        F: FnOnce(&meridian_store::Reader) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.shared.storage.read(f).await?)
    }

    /// The one write path: every local write of every front comes here,
    /// so every front's writes are checked, versioned and logged alike.
    pub async fn write(
        &self,
        request: impl Into<WriteRequest>,
    ) -> Result<Vec<WriteResult>, OpError> {
        let request = request.into();
        if self.view == View::Replicas {
            // Item writes to a replica being created are refused as its
            // reads are (`item_table`); whether the table is here at all
            // is the store's to answer.
            let mut tables: Vec<&str> = request.item_tables().collect();
            tables.dedup();
            for t in tables {
                if let Some((def, _)) = self.shared.storage.table_def(t).await?
                    && self.creating_here(&def)
                {
                    return Err(OpError::TableNotFound(t.to_string()));
                }
            }
        }
        let strong = request
            .item_tables()
            .find(|t| self.shared.strong.is_strong(t))
            .map(str::to_string);
        match (strong, request) {
            (Some(table), WriteRequest::Items(items)) => {
                crate::strong::write(&self.shared, &table, items).await
            }
            (_, request) => Ok(self.shared.storage.write(request).await?),
        }
    }

    /// Whether `table` is STRONG here (docs/strong.md).
    pub fn is_strong(&self, table: &str) -> bool {
        self.shared.strong.is_strong(table)
    }

    /// Before a strongly consistent read (`ConsistentRead`): on a STRONG
    /// table, waits until this region holds every write chosen before the
    /// call, whichever region took it. Other tables read their own copy.
    ///
    /// Whether the table is STRONG is the catalog's to say, not the
    /// strong-mode runtime's: a region that lost its store learns the
    /// table again from its peers before its runtime has found it, and a
    /// read of its half-filled copy then is stale. The barrier finds the member itself, or
    /// answers that this region holds none yet.
    pub async fn consistent(&self, table: &str) -> Result<(), OpError> {
        let strong = self.shared.strong.is_strong(table)
            || self
                .shared
                .storage
                .table_def(table)
                .await?
                .is_some_and(|(def, _)| def.consistency.strong().is_some());
        if strong {
            self.shared.strong.read_barrier(table).await?;
        }
        Ok(())
    }

    /// Makes `table`, held by this region alone and empty, a STRONG global
    /// table with `create` as new replicas and `witness`, by DynamoDB's
    /// rules (`meridian_core::consistency::plan`). The mode is written
    /// first, so no region takes the table's writes by last-writer-wins
    /// once it is a replica; the replicas follow, each with the KMS key
    /// `kms_keys` names for it, if any.
    pub async fn make_strong(
        &self,
        table: &str,
        create: &[String],
        kms_keys: &std::collections::BTreeMap<String, String>,
        witness: Option<&str>,
    ) -> Result<TableInfo, OpError> {
        let (def, _) = self.table(table).await?;
        let info = self.describe(table).await?;
        let known = self.regions();
        for r in create.iter().map(String::as_str).chain(witness) {
            if !known.iter().any(|k| k == r) {
                return Err(invalid(meridian_core::Error::invalid(
                    meridian_core::consistency::FIELD,
                    format!(
                        "Region {r} is not a region of this cluster; its regions are {}",
                        known.join(", ")
                    ),
                )));
            }
        }
        let facts = meridian_core::consistency::Facts {
            items: info.item_count,
            ttl: info.ttl_attribute.is_some(),
        };
        let set = meridian_core::consistency::plan(&def, self.region(), create, witness, &facts)
            .map_err(invalid)?;
        let change = meridian_core::replicas::Change {
            create: create.to_vec(),
            delete: Vec::new(),
            kms_keys: kms_keys.clone(),
        };
        let rows =
            meridian_core::replicas::plan(&def, self.region(), &known, &change).map_err(invalid)?;
        self.write(vec![CatalogChange::SetConsistency {
            table: table.to_string(),
            mode: meridian_core::consistency::Consistency::Strong(set),
        }])
        .await?;
        self.set_replicas(table, rows, &change.kms_keys).await?;
        self.shared.strong.refresh().await;
        self.describe(table).await
    }

    /// Removes two members of STRONG `table` at once, by DynamoDB's rules
    /// (`meridian_core::consistency::plan_removal`): `replicas` and
    /// `witness`, leaving this region's replica a single-Region table.
    ///
    /// This region first applies everything chosen in the table's log
    /// before the request (a linearizable read's barrier), so every write
    /// acknowledged before it is in the table that stays. The removed
    /// replicas' rows are written next, then the consistency row that ends
    /// the table's consensus in every region: a region stops deciding
    /// together only once it knows which replica stays.
    pub async fn remove_strong_members(
        &self,
        table: &str,
        replicas: &[String],
        witness: Option<&str>,
    ) -> Result<TableInfo, OpError> {
        let (def, _) = self.table(table).await?;
        let rows = meridian_core::consistency::plan_removal(&def, self.region(), replicas, witness)
            .map_err(invalid)?;
        let protected = self.protected_replicas(table).await?;
        meridian_core::protection::check_removals(table, replicas, &protected).map_err(invalid)?;
        self.shared.strong.read_barrier(table).await?;
        self.set_replicas(table, rows, &Default::default()).await?;
        self.write(vec![CatalogChange::SetConsistency {
            table: table.to_string(),
            mode: meridian_core::consistency::Consistency::Eventual,
        }])
        .await?;
        self.shared.strong.refresh().await;
        self.describe(table).await
    }

    /// The head of a key, tombstones included.
    pub async fn get(&self, table: &str, key: EncodedKey) -> Result<Option<StoredRow>, OpError> {
        let table = table.to_string();
        Ok(self
            .shared
            .storage
            .read(move |r| r.get(&table, &key))
            .await?)
    }

    pub async fn get_many(
        &self,
        table: &str,
        keys: Vec<EncodedKey>,
    ) -> Result<Vec<Option<StoredRow>>, OpError> {
        let table = table.to_string();
        Ok(self
            .shared
            .storage
            .read(move |r| keys.iter().map(|k| r.get(&table, k)).collect())
            .await?)
    }

    /// Heads of keys across tables, read from one snapshot.
    pub async fn get_all(
        &self,
        keys: Vec<(String, EncodedKey)>,
    ) -> Result<Vec<Option<StoredRow>>, OpError> {
        Ok(self.shared.storage.read(move |r| r.get_all(&keys)).await?)
    }

    pub async fn query(
        &self,
        table: &str,
        partition: Vec<u8>,
        range: SortRange,
        reverse: bool,
        after: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, OpError> {
        let table = table.to_string();
        Ok(self
            .shared
            .storage
            .read(move |r| r.query(&table, &partition, &range, reverse, after.as_deref(), limit))
            .await?)
    }

    pub async fn scan(
        &self,
        table: &str,
        after: Option<EncodedKey>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, OpError> {
        let table = table.to_string();
        Ok(self
            .shared
            .storage
            .read(move |r| r.scan(&table, after.as_ref(), limit))
            .await?)
    }
}

/// A core rule's refusal as the operations answer it.
fn invalid(e: meridian_core::Error) -> OpError {
    OpError::Invalid(e)
}
