//! Catalog changes ([`CatalogChange`]) and how each kind is planned
//! against the table's catalog rows: one `GroupTxn::plan_*` function per
//! kind. A catalog change is a request of its own: catalog changes
//! replicate one by one.

use meridian_core::settings::TableSettings;
use meridian_core::{CATALOG_TABLE, EncodedKey, TableDef, Version, decode_item};
use rusqlite::OptionalExtension;

use super::plan::Plan;
use crate::error::StoreError;
use crate::group::GroupTxn;

/// One change of the catalog: a table, its settings or one of its replicas.
#[derive(Clone)]
pub enum CatalogChange {
    CreateTable(TableDef),
    DeleteTable(String),
    /// Enables (`Some(attribute)`) or disables TTL on a table.
    SetTtl {
        table: String,
        attribute: Option<String>,
    },
    /// Changes the table's billing mode, throughput or stream by DynamoDB's
    /// rules, against its settings within the write's transaction.
    UpdateSettings {
        table: String,
        change: meridian_core::settings::SettingsChange,
    },
    /// Sets `add` and removes `remove` among the tags of the table's replica
    /// in this region, within the write's transaction.
    Tag {
        table: String,
        add: meridian_core::schema::Tags,
        remove: Vec<String>,
    },
    /// Turns deletion protection of this region's replica of `table` on or
    /// off: its row `protection/<region>` in the catalog, which every
    /// region reads (`meridian_core::protection`).
    Protect {
        table: String,
        on: bool,
    },
    /// Sets `region`'s replica of `table` to `status`
    /// (`meridian_core::replicas`). This region's own replica set to
    /// `DELETED` also deletes its copy of the table's items, in the same
    /// transaction.
    SetReplica {
        table: String,
        region: String,
        status: meridian_core::replicas::Status,
        /// The KMS key a new replica (`CREATING`) is made with, as its
        /// `Create` named it (`meridian_core::replicas::State::kms_key`);
        /// any other status keeps the replica's.
        kms_key: Option<String>,
    },
    /// This region joins `table` as a replica of `account`, `CREATING`
    /// while it fills (CreateTable's `GlobalTableSourceArn`,
    /// `meridian_core::replicas::authorize`).
    JoinReplica {
        table: String,
        account: meridian_core::account::Account,
    },
    /// Sets (`Some`) or removes the resource-based policy of this region's
    /// replica of `table` (its catalog row `policy/<region>`), when the
    /// stored revision is still `if_revision` (`None`: no policy).
    SetPolicy {
        table: String,
        policy: Option<meridian_core::replicas::authorize::Stored>,
        if_revision: Option<String>,
    },
    /// This region's replica of `table` leaves its global table at `cut`
    /// (hybrid-logical µs): `DISASSOCIATED` since then
    /// (`meridian_core::replicas::disassociate`).
    Disassociated {
        table: String,
        cut: u64,
    },
    /// Creates or deletes a global secondary index of `table`, checked
    /// against its indexes within the write's transaction
    /// (`meridian_core::index::plan`). A created index is built from the
    /// table's items in the background, in every region.
    UpdateIndex {
        table: String,
        change: meridian_core::index::Change,
    },
    /// Sets `table`'s consistency row (`meridian_core::consistency`):
    /// STRONG with its members, refused unless the table is empty here,
    /// within the write's transaction; or `Eventual`, once two of its
    /// members were removed and it is a single-Region table.
    SetConsistency {
        table: String,
        mode: meridian_core::consistency::Consistency,
    },
}

impl std::fmt::Debug for CatalogChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogChange::CreateTable(def) => write!(f, "CreateTable({})", def.name),
            CatalogChange::DeleteTable(name) => write!(f, "DeleteTable({name})"),
            CatalogChange::SetTtl { table, attribute } => {
                write!(f, "SetTtl({table}, {attribute:?})")
            }
            CatalogChange::UpdateSettings { table, change } => {
                write!(f, "UpdateSettings({table}, {change:?})")
            }
            CatalogChange::Tag { table, add, remove } => {
                write!(f, "Tag({table}, {add:?}, {remove:?})")
            }
            CatalogChange::Protect { table, on } => write!(f, "Protect({table}, {on})"),
            CatalogChange::SetReplica {
                table,
                region,
                status,
                kms_key,
            } => write!(
                f,
                "SetReplica({table}, {region}, {}, {kms_key:?})",
                status.as_str()
            ),
            CatalogChange::Disassociated { table, cut } => {
                write!(f, "Disassociated({table}, {cut})")
            }
            CatalogChange::JoinReplica { table, account } => {
                write!(f, "JoinReplica({table}, {account})")
            }
            CatalogChange::SetPolicy {
                table,
                policy,
                if_revision,
            } => write!(
                f,
                "SetPolicy({table}, {:?}, if {if_revision:?})",
                policy.as_ref().map(|p| &p.revision)
            ),
            CatalogChange::UpdateIndex { table, change } => {
                write!(f, "UpdateIndex({table}, {change:?})")
            }
            CatalogChange::SetConsistency { table, mode } => {
                let members = mode.strong().map(|s| &s.members);
                write!(f, "SetConsistency({table}, {}, {members:?})", mode.as_str())
            }
        }
    }
}

impl GroupTxn<'_, '_> {
    /// Resolves one catalog change against the current state without
    /// writing anything. `now`: the group's real time (µs), which settings
    /// and replica states record.
    pub(super) fn plan_catalog(
        &mut self,
        change: &CatalogChange,
        now: u64,
    ) -> Result<Plan, StoreError> {
        match change {
            CatalogChange::CreateTable(def) => self.plan_create_table(def),
            CatalogChange::DeleteTable(name) => self.plan_delete_table(name),
            CatalogChange::SetTtl { table, attribute } => {
                self.plan_set_ttl(table, attribute.as_deref())
            }
            CatalogChange::UpdateSettings { table, change } => {
                self.plan_update_settings(table, change, now)
            }
            CatalogChange::Tag { table, add, remove } => self.plan_tag(table, add, remove),
            CatalogChange::Protect { table, on } => self.plan_protect(table, *on),
            CatalogChange::SetReplica {
                table,
                region,
                status,
                kms_key,
            } => self.plan_set_replica(table, region, *status, kms_key.as_deref(), now),
            CatalogChange::Disassociated { table, cut } => {
                let region = self.region.to_string();
                let status = meridian_core::replicas::Status::Disassociated;
                self.replica_row(table, &region, status, now, Some(*cut))
            }
            CatalogChange::JoinReplica { table, account } => {
                self.plan_join_replica(table, account, now)
            }
            CatalogChange::SetPolicy {
                table,
                policy,
                if_revision,
            } => self.policy_row(table, policy.as_ref(), if_revision.as_deref()),
            CatalogChange::SetConsistency { table, mode } => self.plan_set_consistency(table, mode),
            CatalogChange::UpdateIndex { table, change } => self.plan_update_index(table, change),
        }
    }

    /// The plan against the current head of the catalog row `key`.
    fn catalog_plan(&mut self, key: EncodedKey) -> Result<Plan, StoreError> {
        let head = self.head(CATALOG_TABLE, &key)?;
        Plan::new(CATALOG_TABLE, key, None, head)
    }

    /// The live definition of `table` and its incarnation, or
    /// `TableNotFound`.
    fn live_table(&mut self, table: &str) -> Result<(TableDef, Version), StoreError> {
        self.table_def(table)?
            .ok_or_else(|| StoreError::TableNotFound(table.to_string()))
    }

    fn plan_create_table(&mut self, def: &TableDef) -> Result<Plan, StoreError> {
        meridian_core::index::validate(&def.key_schema, &def.indexes)?;
        if self.table_def(&def.name)?.is_some() {
            return Err(StoreError::TableExists(def.name.clone()));
        }
        self.catalog.remove(&def.name);
        let mut p = self.catalog_plan(TableDef::catalog_key(&def.name))?;
        p.write = Some(Some(def.to_item()));
        Ok(p)
    }

    fn plan_delete_table(&mut self, name: &str) -> Result<Plan, StoreError> {
        if self.table_def(name)?.is_none() {
            return Err(StoreError::TableNotFound(name.to_string()));
        }
        self.catalog.remove(name);
        let mut p = self.catalog_plan(TableDef::catalog_key(name))?;
        p.write = Some(None);
        p.purge = Some(name.to_string());
        Ok(p)
    }

    fn plan_set_ttl(&mut self, table: &str, attribute: Option<&str>) -> Result<Plan, StoreError> {
        let (def, incarnation) = self.live_table(table)?;
        if attribute.is_some() && def.consistency.strong().is_some() {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "TimeToLiveSpecification",
                "Time to Live is not supported on multi-Region strongly consistent global tables",
            )));
        }
        let mut p = self.catalog_plan(TableDef::ttl_key(table))?;
        p.write = Some(attribute.map(|a| TableDef::ttl_item(a, &incarnation)));
        Ok(p)
    }

    fn plan_update_settings(
        &mut self,
        table: &str,
        change: &meridian_core::settings::SettingsChange,
        now: u64,
    ) -> Result<Plan, StoreError> {
        let (def, incarnation) = self.live_table(table)?;
        let key = TableSettings::key(table);
        let head = self.head(CATALOG_TABLE, &key)?;
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let row = match head.as_ref().and_then(|h| h.image.as_ref()) {
            Some(image) => Some(decode_item(image).map_err(corrupt)?),
            None => None,
        };
        let current = TableSettings::current(&def, &incarnation, row.as_ref()).map_err(corrupt)?;
        let next = current.apply(&def, change, now)?;
        let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
        p.write = Some(Some(next.to_item(&incarnation)));
        Ok(p)
    }

    fn plan_tag(
        &mut self,
        table: &str,
        add: &meridian_core::schema::Tags,
        remove: &[String],
    ) -> Result<Plan, StoreError> {
        let (_, incarnation) = self.live_table(table)?;
        let key = TableDef::tags_key(table, self.region);
        let head = self.head(CATALOG_TABLE, &key)?;
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let current = match head.as_ref().and_then(|h| h.image.as_ref()) {
            Some(image) => {
                let (tags, of) =
                    TableDef::tags(&decode_item(image).map_err(corrupt)?).map_err(corrupt)?;
                if of == incarnation {
                    tags
                } else {
                    Default::default()
                }
            }
            None => Default::default(),
        };
        let tags = meridian_core::schema::merge_tags(current, add, remove)?;
        let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
        p.write = Some((!tags.is_empty()).then(|| TableDef::tags_item(&tags, &incarnation)));
        Ok(p)
    }

    fn plan_protect(&mut self, table: &str, on: bool) -> Result<Plan, StoreError> {
        let (_, incarnation) = self.live_table(table)?;
        let key = meridian_core::protection::key(table, self.region);
        let head = self.head(CATALOG_TABLE, &key)?;
        let live = head.as_ref().is_some_and(|h| h.image.is_some());
        let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
        p.write = match (on, live) {
            (true, _) => Some(Some(meridian_core::protection::item(&incarnation))),
            (false, true) => Some(None),
            // Nothing to turn off.
            (false, false) => None,
        };
        Ok(p)
    }

    fn plan_set_replica(
        &mut self,
        table: &str,
        region: &str,
        status: meridian_core::replicas::Status,
        kms_key: Option<&str>,
        now: u64,
    ) -> Result<Plan, StoreError> {
        let mut p = self.replica_row(table, region, status, now, None)?;
        if region == self.region && status == meridian_core::replicas::Status::Deleted {
            p.purge = Some(table.to_string());
        }
        // A new membership's key; any other state keeps the one it had
        // (`meridian_core::replicas::disassociate::next`).
        if let (Some(key), meridian_core::replicas::Status::Creating) = (kms_key, status)
            && let Some(Some(row)) = p.write.as_mut()
        {
            row.insert(
                meridian_core::replicas::KMS_KEY.to_string(),
                meridian_core::AttrValue::S(key.to_string()),
            );
        }
        Ok(p)
    }

    fn plan_join_replica(
        &mut self,
        table: &str,
        account: &meridian_core::account::Account,
        now: u64,
    ) -> Result<Plan, StoreError> {
        let region = self.region.to_string();
        let status = meridian_core::replicas::Status::Creating;
        // Decided against the replica set in force now: a region
        // that holds the table already, or is still removing it,
        // is not joined again.
        if let Some((def, _)) = self.table_def(table)?
            && def.replica_states.get(&region).is_some_and(|s| {
                s.status.holds_data() || s.status == meridian_core::replicas::Status::Deleting
            })
        {
            return Err(StoreError::TableExists(table.to_string()));
        }
        let mut p = self.replica_row(table, &region, status, now, None)?;
        if let Some(Some(row)) = p.write.as_mut() {
            row.insert(
                "account".to_string(),
                meridian_core::AttrValue::S(account.to_string()),
            );
        }
        Ok(p)
    }

    fn plan_set_consistency(
        &mut self,
        table: &str,
        mode: &meridian_core::consistency::Consistency,
    ) -> Result<Plan, StoreError> {
        let (_, incarnation) = self.live_table(table)?;
        let live: Option<i64> = if mode.strong().is_none() {
            None
        } else {
            self.conn
                .prepare_cached("SELECT 1 FROM items WHERE tbl = ?1 AND image IS NOT NULL LIMIT 1")?
                .query_row([table], |r| r.get(0))
                .optional()?
        };
        if live.is_some() {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                meridian_core::consistency::FIELD,
                "A table must be empty to become a multi-Region strongly consistent global table",
            )));
        }
        self.catalog.remove(table);
        let mut p = self.catalog_plan(meridian_core::consistency::key(table))?;
        p.write = Some(Some(meridian_core::consistency::item(mode, &incarnation)));
        Ok(p)
    }

    fn plan_update_index(
        &mut self,
        table: &str,
        change: &meridian_core::index::Change,
    ) -> Result<Plan, StoreError> {
        let (def, incarnation) = self.live_table(table)?;
        let created = meridian_core::index::plan(&def, change)?;
        self.catalog.remove(table);
        let mut p = self.catalog_plan(meridian_core::index::key(table, change.name()))?;
        p.write = Some(Some(meridian_core::index::item(
            created.as_ref(),
            &incarnation,
        )));
        Ok(p)
    }
}
