//! The client API (`meridian.v1.Meridian`). Each call validates its input,
//! then goes through the same storage bridge as every other write.

use meridian_core::autoscaling::{PolicyUpdate, ScalingUpdate, TargetUpdate};
use meridian_core::expr::{KeyMatch, SortKeyCondition};
use meridian_core::index::IndexDef;
use meridian_core::key::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, encode_key_value};
use meridian_core::settings::{Billing, SettingsChange};
use meridian_core::units::MAX_CAPACITY_UNITS;
use meridian_core::{AttrValue, KeyAttr, KeySchema, KeyType, TableDef, Version, encode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_server::Meridian;
use meridian_store::{
    CatalogChange, Condition, ItemWrite, SortRange, StoredRow, WriteRequest, WriteResult,
};
use tonic::{Request, Response, Status};

use crate::convert::*;
use crate::ops::RegionHandle;
use crate::status::status_from_op;

/// Most items a page returns, and its default size.
pub const MAX_PAGE_ITEMS: u32 = 1000;
/// A page stops growing past 1 MB, as in DynamoDB.
pub const MAX_PAGE_BYTES: usize = 1 << 20;
pub const MAX_BATCH_WRITE: usize = 25;
pub const MAX_BATCH_GET: usize = 100;
/// gRPC message limit for the client API: a BatchWrite of 25 items or a
/// BatchGet of 100 items at 400 KB each fits.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

pub struct ClientApi {
    pub(crate) ops: RegionHandle,
}

fn condition_from_pb(c: Option<pb::Condition>) -> Result<Option<Condition>, Status> {
    Ok(match c.and_then(|c| c.kind) {
        None | Some(pb::condition::Kind::MustNotExist(false)) => None,
        Some(pb::condition::Kind::MustNotExist(true)) => Some(Condition::MustNotExist),
        Some(pb::condition::Kind::VersionEquals(v)) => Some(Condition::VersionEquals(
            version_from_pb(&v, "condition.version_equals")?,
        )),
    })
}

fn write_response(w: &WriteResult) -> pb::WriteResponse {
    pb::WriteResponse {
        version: Some(version_to_pb(&w.version)),
        prev: w.prev.as_ref().map(version_to_pb),
        seen_through: w
            .seen_through
            .map(|h| version_to_pb(&Version::new(h, &w.version.origin))),
    }
}

fn stored(row: &StoredRow) -> Option<pb::StoredItem> {
    row.image.as_ref().map(|item| pb::StoredItem {
        item: encode_item(item),
        version: Some(version_to_pb(&row.version)),
    })
}

/// Turns rows into a page: stops at `limit` items or 1 MB, whichever first.
fn page(rows: Vec<StoredRow>, limit: usize) -> pb::PageResponse {
    let rows = rows.into_iter().map(|r| (r.key.clone(), r)).collect();
    page_of(rows, limit, encode_token)
}

/// [`page`] for rows with positions of their own (an index's), whose
/// token `token` makes.
fn page_of<C>(
    rows: Vec<(C, StoredRow)>,
    limit: usize,
    token: fn(&C) -> Vec<u8>,
) -> pb::PageResponse {
    let mut items = Vec::with_capacity(rows.len());
    let mut bytes = 0;
    let mut last = None;
    let full = rows.len() >= limit;
    let mut truncated = false;
    for (pos, row) in &rows {
        let Some(s) = stored(row) else { continue };
        bytes += s.item.len();
        items.push(s);
        last = Some(pos);
        if bytes >= MAX_PAGE_BYTES {
            truncated = items.len() < rows.len();
            break;
        }
    }
    pb::PageResponse {
        items,
        next_page_token: match last {
            Some(k) if full || truncated => token(k),
            _ => Vec::new(),
        },
    }
}

/// CreateTable's `provisioned` billing for a table of `members` regions,
/// checked as DynamoDB checks `ProvisionedThroughput`: units from 1 to
/// the per-table quota, and a global table's write units auto scaled
/// ("A global table must be in on-demand mode or provisioned with auto
/// scaling enabled", *Throughput capacity planning for DynamoDB global
/// tables*).
fn provisioned_billing(p: &pb::Provisioned, members: usize) -> Result<Billing, Status> {
    for (field, units) in [
        ("provisioned.read_units", p.read_units),
        ("provisioned.write_units", p.write_units),
    ] {
        if !(1..=MAX_CAPACITY_UNITS).contains(&units) {
            return Err(Status::invalid_argument(format!(
                "{field}: {units} is not within 1 to {MAX_CAPACITY_UNITS}"
            )));
        }
    }
    if members > 1 && p.write_scaling.is_none() {
        return Err(Status::invalid_argument(format!(
            "provisioned.write_scaling: {}",
            meridian_core::autoscaling::NOT_AUTOSCALED
        )));
    }
    Ok(Billing::Provisioned {
        read: p.read_units,
        write: p.write_units,
    })
}

/// The auto scaling `p` asks for, as UpdateTableReplicaAutoScaling's
/// update: the write settings every replica shares, and the same read
/// settings for each of `members`. The catalog change checks them
/// (`meridian_core::autoscaling::PolicyUpdate::apply`), naming the field.
fn scaling_of(p: &pb::Provisioned, members: &[String]) -> Option<ScalingUpdate> {
    let update = |field: &str, s: &pb::AutoScalingSpec| PolicyUpdate {
        field: field.into(),
        min: Some(s.min),
        max: Some(s.max),
        disabled: false,
        policy: Some(TargetUpdate {
            target: s.target,
            ..Default::default()
        }),
    };
    let write = p
        .write_scaling
        .as_ref()
        .map(|s| update("provisioned.write_scaling", s));
    let read = p
        .read_scaling
        .as_ref()
        .map(|s| update("provisioned.read_scaling", s));
    (write.is_some() || read.is_some()).then(|| ScalingUpdate {
        write,
        read: read
            .map(|r| members.iter().map(|m| (m.clone(), r.clone())).collect())
            .unwrap_or_default(),
    })
}

/// CreateTable's key schema: the partition key it must name, and the sort
/// key it may.
fn create_key_schema(r: &pb::CreateTableRequest) -> Result<KeySchema, Status> {
    let partition = key_attr_from_pb(
        r.partition_key
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("partition_key: missing"))?,
        "partition_key",
    )?;
    let sort = r
        .sort_key
        .as_ref()
        .map(|s| key_attr_from_pb(s, "sort_key"))
        .transpose()?;
    Ok(KeySchema { partition, sort })
}

/// Whether CreateTable's `consistency` asks for a STRONG table; EVENTUAL
/// is the default, and anything else is refused.
fn create_strong(consistency: &str) -> Result<bool, Status> {
    match consistency {
        "" | "EVENTUAL" => Ok(false),
        "STRONG" => Ok(true),
        other => Err(Status::invalid_argument(format!(
            "consistency: {other:?} is not EVENTUAL or STRONG"
        ))),
    }
}

/// Sets the stream CreateTable asks for on `def`, when it asks for one,
/// after checking the view type is one DynamoDB knows.
fn create_stream(def: &mut TableDef, view_type: String) -> Result<(), Status> {
    if !view_type.is_empty() {
        if meridian_store::stream::ViewType::parse(&view_type).is_none() {
            return Err(Status::invalid_argument(format!(
                "stream_view_type: {view_type:?} is not one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES"
            )));
        }
        def.stream_view_type = Some(view_type);
    }
    Ok(())
}

/// Sets CreateTable's provisioned billing on `def`, a table whose regions
/// will be its replicas and `others`, and returns the auto scaling it asks
/// for. The scaling is checked here, before anything is made, so a refusal
/// changes nothing: the catalog change applies the same rule.
fn create_provisioned(
    def: &mut TableDef,
    p: &pb::Provisioned,
    others: &[String],
    table: &str,
) -> Result<Option<ScalingUpdate>, Status> {
    let members: Vec<String> = def.replicas.iter().chain(others).cloned().collect();
    def.billing = provisioned_billing(p, members.len())?;
    let scaling = scaling_of(p, &members);
    if let Some(s) = &scaling {
        let updates = s.write.iter().map(|u| (u, "Write"));
        for (u, kind) in updates.chain(s.read.iter().map(|(_, u)| (u, "Read"))) {
            u.apply(None, kind, table).map_err(invalid)?;
        }
    }
    Ok(scaling)
}

fn limit_of(limit: u32) -> Result<usize, Status> {
    match limit {
        0 => Ok(MAX_PAGE_ITEMS as usize),
        1..=MAX_PAGE_ITEMS => Ok(limit as usize),
        n => Err(Status::invalid_argument(format!(
            "limit: {n} is above the maximum of {MAX_PAGE_ITEMS}"
        ))),
    }
}

impl ClientApi {
    async fn table(&self, name: &str) -> Result<(TableDef, Version), Status> {
        self.ops.table(name).await.map_err(status_from_op)
    }

    async fn write(&self, ops: impl Into<WriteRequest>) -> Result<Vec<WriteResult>, Status> {
        self.ops.write(ops).await.map_err(status_from_op)
    }

    /// The regions a new table starts in, and the others a STRONG table
    /// joins once made: a STRONG table starts in this region alone, empty,
    /// and becomes global with its other replicas and witness
    /// (docs/strong.md). Every region the table starts in must be one this
    /// cluster has; a STRONG table's others are checked when it is made
    /// global.
    fn create_replicas(
        &self,
        strong: bool,
        asked: Vec<String>,
        witness: &str,
    ) -> Result<(Vec<String>, Vec<String>), Status> {
        let known = self.ops.regions();
        let mut replicas = if asked.is_empty() {
            known.clone()
        } else {
            asked
        };
        let others: Vec<String> = if strong {
            let here = self.ops.region().to_string();
            if !replicas.contains(&here) {
                return Err(Status::invalid_argument(format!(
                    "replicas: a STRONG table is created through one of its replicas; {here} is not among {}",
                    replicas.join(", ")
                )));
            }
            let others = replicas.iter().filter(|x| **x != here).cloned().collect();
            replicas = vec![here];
            others
        } else {
            if !witness.is_empty() {
                return Err(Status::invalid_argument(
                    "witness: only a STRONG table has a witness",
                ));
            }
            Vec::new()
        };
        if let Some(unknown) = replicas.iter().find(|x| !known.contains(x)) {
            return Err(Status::invalid_argument(format!(
                "replicas: unknown region {unknown:?}; this cluster has {}",
                known.join(", ")
            )));
        }
        Ok((replicas, others))
    }

    /// A single key value from an item that must hold exactly that attribute.
    fn key_value(
        bytes: &[u8],
        attr: &KeyAttr,
        field: &str,
        limit: usize,
    ) -> Result<Vec<u8>, Status> {
        let item = item_from_bytes(bytes, field)?;
        if item.len() != 1 || !item.contains_key(&attr.name) {
            return Err(Status::invalid_argument(format!(
                "{field}: must hold exactly the key attribute {} ({})",
                attr.name,
                attr.ty.as_str()
            )));
        }
        encode_key_value(&item[&attr.name], attr, limit).map_err(invalid)
    }
}

impl ClientApi {
    /// Index `name` of `def`, if it exists and is built here.
    async fn readable_index<'a>(
        &self,
        def: &'a TableDef,
        name: &str,
    ) -> Result<&'a IndexDef, Status> {
        let index = def.index(name).ok_or_else(|| {
            Status::invalid_argument(format!("index: table {} has no index {name:?}", def.name))
        })?;
        let table = def.name.clone();
        let building = self
            .ops
            .read(move |r| r.indexes_building(&table))
            .await
            .map_err(status_from_op)?;
        if building.iter().any(|b| b == name) {
            return Err(Status::failed_precondition(format!(
                "index: {name} is still being built from the table's items in this region"
            )));
        }
        Ok(index)
    }

    /// A Query of one of the table's indexes: `partition_key` holds every
    /// partition attribute of the index, `sort` is a condition on its first
    /// sort attribute.
    async fn query_index(
        &self,
        def: &TableDef,
        r: pb::QueryRequest,
    ) -> Result<pb::PageResponse, Status> {
        let index = self.readable_index(def, &r.index).await?;
        let key = item_from_bytes(&r.partition_key, "partition_key")?;
        if key.len() != index.partition.len() {
            return Err(Status::invalid_argument(format!(
                "partition_key: must hold exactly the partition attributes of index {}: {}",
                index.name,
                index
                    .partition
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let partition = index
            .partition
            .iter()
            .map(|a| {
                key.get(&a.name).cloned().ok_or_else(|| {
                    Status::invalid_argument(format!("partition_key: missing {}", a.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sort = match r.sort {
            None => None,
            Some(cond) => {
                let attr = index.sort.first().ok_or_else(|| {
                    Status::invalid_argument(format!("sort: index {} has no sort key", index.name))
                })?;
                let value = |b: &[u8], f: &str| -> Result<AttrValue, Status> {
                    let item = item_from_bytes(b, f)?;
                    match item.get(&attr.name) {
                        Some(v) if item.len() == 1 => Ok(v.clone()),
                        _ => Err(Status::invalid_argument(format!(
                            "{f}: must hold exactly the sort attribute {}",
                            attr.name
                        ))),
                    }
                };
                let name = attr.name.clone();
                let v = value(&cond.value, "sort.value")?;
                Some(
                    match pb::SortOp::try_from(cond.op).unwrap_or(pb::SortOp::Unspecified) {
                        pb::SortOp::Eq => SortKeyCondition::Eq(name, v),
                        pb::SortOp::Lt => SortKeyCondition::Lt(name, v),
                        pb::SortOp::Le => SortKeyCondition::Le(name, v),
                        pb::SortOp::Gt => SortKeyCondition::Gt(name, v),
                        pb::SortOp::Ge => SortKeyCondition::Ge(name, v),
                        pb::SortOp::Between => {
                            SortKeyCondition::Between(name, v, value(&cond.high, "sort.high")?)
                        }
                        pb::SortOp::BeginsWith => SortKeyCondition::BeginsWith(name, v),
                        pb::SortOp::Unspecified => {
                            return Err(Status::invalid_argument("sort.op: missing or unknown"));
                        }
                    },
                )
            }
        };
        let km = KeyMatch {
            partition,
            sort_eq: Vec::new(),
            sort,
        };
        let (ipk, range) = meridian_store::index_range(index, &km).map_err(invalid)?;
        let limit = limit_of(r.limit)?;
        let after = decode_index_token(&r.page_token)?;
        if after.as_ref().is_some_and(|a| a.index.partition != ipk) {
            return Err(Status::invalid_argument(
                "page_token: belongs to another partition of the index",
            ));
        }
        let (table, name, reverse) = (def.name.clone(), index.name.clone(), r.reverse);
        let rows = self
            .ops
            .read(move |s| {
                s.index_query(&table, &name, &ipk, &range, reverse, after.as_ref(), limit)
            })
            .await
            .map_err(status_from_op)?;
        Ok(page_of(rows, limit, encode_index_token))
    }
}

pub fn describe(def: &TableDef, version: &Version, item_count: u64) -> pb::TableDescription {
    pb::TableDescription {
        name: def.name.clone(),
        partition_key: Some(key_attr_to_pb(&def.key_schema.partition)),
        sort_key: def.key_schema.sort.as_ref().map(key_attr_to_pb),
        replicas: def.replicas.clone(),
        version: Some(version_to_pb(version)),
        item_count,
        indexes: def.indexes.iter().map(|i| index_to_pb(i, false)).collect(),
        consistency: def.consistency.as_str().to_string(),
        witness: def
            .consistency
            .strong()
            .and_then(|s| s.witness.clone())
            .unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl Meridian for ClientApi {
    type WatchStream = crate::changes::WatchStream;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = req.into_inner();
        let stream = crate::changes::watch(self.ops.clone(), r.table, r.from_start).await?;
        Ok(Response::new(stream))
    }

    async fn create_table(
        &self,
        req: Request<pb::CreateTableRequest>,
    ) -> Result<Response<pb::TableDescription>, Status> {
        let r = req.into_inner();
        let key_schema = create_key_schema(&r)?;
        let strong = create_strong(&r.consistency)?;
        let (replicas, others) = self.create_replicas(strong, r.replicas, &r.witness)?;
        let mut def = TableDef::new(&r.name, key_schema, replicas).map_err(invalid)?;
        def.indexes = r
            .indexes
            .iter()
            .enumerate()
            .map(|(n, i)| index_from_pb(i, &format!("indexes[{n}]")))
            .collect::<Result<_, _>>()?;
        create_stream(&mut def, r.stream_view_type)?;
        let scaling = match &r.provisioned {
            Some(p) => create_provisioned(&mut def, p, &others, &r.name)?,
            None => None,
        };
        let results = self
            .write(vec![CatalogChange::CreateTable(def.clone())])
            .await?;
        if let Some(scaling) = scaling {
            self.write(vec![CatalogChange::UpdateSettings {
                table: r.name.clone(),
                change: SettingsChange {
                    scaling: Some(scaling),
                    ..Default::default()
                },
            }])
            .await?;
        }
        if strong {
            let witness = (!r.witness.is_empty()).then_some(r.witness.as_str());
            let info = self
                .ops
                .make_strong(&r.name, &others, &Default::default(), witness)
                .await
                .map_err(status_from_op)?;
            return Ok(Response::new(describe(&info.def, &info.version, 0)));
        }
        Ok(Response::new(describe(&def, &results[0].version, 0)))
    }

    async fn describe_table(
        &self,
        req: Request<pb::TableRequest>,
    ) -> Result<Response<pb::TableDescription>, Status> {
        let t = self
            .ops
            .describe(&req.into_inner().name)
            .await
            .map_err(status_from_op)?;
        let mut d = describe(&t.def, &t.version, t.item_count);
        for (spec, state) in d.indexes.iter_mut().zip(&t.indexes) {
            spec.building = state.building;
        }
        Ok(Response::new(d))
    }

    async fn list_tables(
        &self,
        req: Request<pb::ListTablesRequest>,
    ) -> Result<Response<pb::ListTablesResponse>, Status> {
        let r = req.into_inner();
        let limit = match r.limit {
            0 => 100,
            1..=100 => r.limit as usize,
            n => {
                return Err(Status::invalid_argument(format!(
                    "limit: {n} is above the maximum of 100"
                )));
            }
        };
        let names = self
            .ops
            .list_tables(&r.start_after, limit)
            .await
            .map_err(status_from_op)?;
        let last_evaluated = if names.len() == limit {
            names.last().cloned().unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListTablesResponse {
            names,
            last_evaluated,
        }))
    }

    async fn delete_table(
        &self,
        req: Request<pb::TableRequest>,
    ) -> Result<Response<pb::TableDescription>, Status> {
        let name = req.into_inner().name;
        let (def, version) = self.table(&name).await?;
        self.write(vec![CatalogChange::DeleteTable(name)]).await?;
        Ok(Response::new(describe(&def, &version, 0)))
    }

    async fn put_item(
        &self,
        req: Request<pb::PutItemRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let r = req.into_inner();
        let op = ItemWrite::Put {
            table: r.table.clone(),
            item: item_from_bytes(&r.item, "item")?,
            condition: condition_from_pb(r.condition)?,
        };
        Ok(Response::new(write_response(
            &self.write_items(&r.table, vec![op]).await?[0],
        )))
    }

    async fn get_item(
        &self,
        req: Request<pb::GetItemRequest>,
    ) -> Result<Response<pb::GetItemResponse>, Status> {
        let r = req.into_inner();
        let (def, _) = self.table(&r.table).await?;
        let key = def
            .key_schema
            .key_from_attrs(&item_from_bytes(&r.key, "key")?)
            .map_err(invalid)?;
        let touches = self.admit_read(&r.table, &[&key.partition]).await?;
        if r.consistent {
            self.ops
                .consistent(&r.table)
                .await
                .map_err(status_from_op)?;
        }
        let row = self.ops.get(&r.table, key).await.map_err(status_from_op)?;
        let found = row.as_ref().and_then(|r| r.image.as_ref());
        self.charge_read(&touches, [found], r.consistent, false)
            .await;
        Ok(Response::new(pb::GetItemResponse {
            item: row.as_ref().and_then(stored),
        }))
    }

    async fn delete_item(
        &self,
        req: Request<pb::DeleteItemRequest>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let r = req.into_inner();
        let op = ItemWrite::Delete {
            table: r.table.clone(),
            key: item_from_bytes(&r.key, "key")?,
            condition: condition_from_pb(r.condition)?,
        };
        Ok(Response::new(write_response(
            &self.write_items(&r.table, vec![op]).await?[0],
        )))
    }

    async fn query(
        &self,
        req: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::PageResponse>, Status> {
        let r = req.into_inner();
        let (def, _) = self.table(&r.table).await?;
        if !r.index.is_empty() {
            return self.query_index(&def, r).await.map(Response::new);
        }
        let ks = def.key_schema;
        let pk = Self::key_value(
            &r.partition_key,
            &ks.partition,
            "partition_key",
            MAX_PARTITION_KEY_BYTES,
        )?;
        let range = match r.sort {
            None => SortRange::all(),
            Some(cond) => {
                let sk = ks.sort.as_ref().ok_or_else(|| {
                    Status::invalid_argument(format!("sort: table {} has no sort key", r.table))
                })?;
                let value = |b: &[u8], f: &str| Self::key_value(b, sk, f, MAX_SORT_KEY_BYTES);
                use std::ops::Bound::*;
                let (lower, upper) = match pb::SortOp::try_from(cond.op)
                    .unwrap_or(pb::SortOp::Unspecified)
                {
                    pb::SortOp::Eq => {
                        let v = value(&cond.value, "sort.value")?;
                        (Included(v.clone()), Included(v))
                    }
                    pb::SortOp::Lt => (Unbounded, Excluded(value(&cond.value, "sort.value")?)),
                    pb::SortOp::Le => (Unbounded, Included(value(&cond.value, "sort.value")?)),
                    pb::SortOp::Gt => (Excluded(value(&cond.value, "sort.value")?), Unbounded),
                    pb::SortOp::Ge => (Included(value(&cond.value, "sort.value")?), Unbounded),
                    pb::SortOp::Between => {
                        let (lo, hi) = (
                            value(&cond.value, "sort.value")?,
                            value(&cond.high, "sort.high")?,
                        );
                        if lo > hi {
                            return Err(Status::invalid_argument(
                                "sort: BETWEEN needs its lower bound (value) at or below its upper bound (high)",
                            ));
                        }
                        (Included(lo), Included(hi))
                    }
                    pb::SortOp::BeginsWith => {
                        if sk.ty == KeyType::N {
                            return Err(Status::invalid_argument(format!(
                                "sort: begins_with needs a string or binary sort key; {} is a number",
                                sk.name
                            )));
                        }
                        let r = SortRange::prefix(&value(&cond.value, "sort.value")?);
                        (r.lower, r.upper)
                    }
                    pb::SortOp::Unspecified => {
                        return Err(Status::invalid_argument("sort.op: missing or unknown"));
                    }
                };
                SortRange { lower, upper }
            }
        };
        let limit = limit_of(r.limit)?;
        let after = match decode_token(&r.page_token)? {
            Some(k) if k.partition != pk => {
                return Err(Status::invalid_argument(
                    "page_token: belongs to another partition key",
                ));
            }
            Some(k) => Some(k.sort),
            None => None,
        };
        let touches = self.admit_read(&r.table, &[&pk]).await?;
        let rows = self
            .ops
            .query(&r.table, pk, range, r.reverse, after, limit)
            .await
            .map_err(status_from_op)?;
        let read = rows.iter().map(|r| r.image.as_ref());
        self.charge_read(&touches, read, false, true).await;
        Ok(Response::new(page(rows, limit)))
    }

    async fn scan(
        &self,
        req: Request<pb::ScanRequest>,
    ) -> Result<Response<pb::PageResponse>, Status> {
        let r = req.into_inner();
        let (def, _) = self.table(&r.table).await?;
        let limit = limit_of(r.limit)?;
        if !r.index.is_empty() {
            let name = self.readable_index(&def, &r.index).await?.name.clone();
            let after = decode_index_token(&r.page_token)?;
            let rows = self
                .ops
                .read(move |s| s.index_scan(&r.table, &name, after.as_ref(), limit))
                .await
                .map_err(status_from_op)?;
            return Ok(Response::new(page_of(rows, limit, encode_index_token)));
        }
        let after = decode_token(&r.page_token)?;
        let touches = self.admit_read(&r.table, &[]).await?;
        let rows = self
            .ops
            .scan(&r.table, after, limit)
            .await
            .map_err(status_from_op)?;
        let read = rows.iter().map(|r| r.image.as_ref());
        self.charge_read(&touches, read, false, true).await;
        Ok(Response::new(page(rows, limit)))
    }

    async fn batch_write(
        &self,
        req: Request<pb::BatchWriteRequest>,
    ) -> Result<Response<pb::BatchWriteResponse>, Status> {
        let r = req.into_inner();
        if r.ops.is_empty() || r.ops.len() > MAX_BATCH_WRITE {
            return Err(Status::invalid_argument(format!(
                "ops: a batch holds 1 to {MAX_BATCH_WRITE} operations, got {}",
                r.ops.len()
            )));
        }
        let mut ops = Vec::with_capacity(r.ops.len());
        for (i, op) in r.ops.into_iter().enumerate() {
            ops.push(match op.op {
                Some(pb::batch_write_op::Op::Put(item)) => ItemWrite::Put {
                    table: r.table.clone(),
                    item: item_from_bytes(&item, &format!("ops[{i}].put"))?,
                    condition: None,
                },
                Some(pb::batch_write_op::Op::DeleteKey(key)) => ItemWrite::Delete {
                    table: r.table.clone(),
                    key: item_from_bytes(&key, &format!("ops[{i}].delete_key"))?,
                    condition: None,
                },
                None => {
                    return Err(Status::invalid_argument(format!(
                        "ops[{i}]: empty operation"
                    )));
                }
            });
        }
        let results = self.write_items(&r.table, ops).await?;
        Ok(Response::new(pb::BatchWriteResponse {
            results: results.iter().map(write_response).collect(),
        }))
    }

    async fn batch_get(
        &self,
        req: Request<pb::BatchGetRequest>,
    ) -> Result<Response<pb::BatchGetResponse>, Status> {
        let r = req.into_inner();
        if r.keys.is_empty() || r.keys.len() > MAX_BATCH_GET {
            return Err(Status::invalid_argument(format!(
                "keys: a batch holds 1 to {MAX_BATCH_GET} keys, got {}",
                r.keys.len()
            )));
        }
        let (def, _) = self.table(&r.table).await?;
        let keys = r
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                def.key_schema
                    .key_from_attrs(&item_from_bytes(k, &format!("keys[{i}]"))?)
                    .map_err(|e| Status::invalid_argument(format!("keys[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let partitions: Vec<&[u8]> = keys.iter().map(|k| k.partition.as_slice()).collect();
        let touches = self.admit_read(&r.table, &partitions).await?;
        let rows = self
            .ops
            .get_many(&r.table, keys)
            .await
            .map_err(status_from_op)?;
        let found = rows
            .iter()
            .map(|r| r.as_ref().and_then(|r| r.image.as_ref()));
        self.charge_read(&touches, found, false, false).await;
        Ok(Response::new(pb::BatchGetResponse {
            items: rows.iter().flatten().filter_map(stored).collect(),
        }))
    }
}
