//! Provisioned throughput, enforced on this region's replica as DynamoDB
//! enforces it (the rules and their sources: `meridian_core::throughput`).
//! Every data-plane request is admitted against the buckets of the tables
//! and indexes it reads or writes, and charged what it consumed once done:
//! its `ConsumedCapacity`, which the endpoint computes by DynamoDB's rules
//! whether or not the client asked for it (and then leaves out).
//!
//! A request whose bucket is spent is refused with
//! `ProvisionedThroughputExceededException` and its `ThrottlingReasons`
//! (`reason`, `resource`: the table's or index's ARN). Batches are split
//! as DynamoDB splits them: the throttled tables' requests come back in
//! `UnprocessedItems` / `UnprocessedKeys`, and only when every table is
//! throttled is the whole batch refused.
//!
//! The buckets are the region's (`meridian_region::capacity`): a replica
//! has its own capacity, as in DynamoDB, and the writes it applies from
//! its peers draw on the same write units as its own clients' writes.

use meridian_core::throughput::{Limit, Op, reason};
use meridian_region::capacity::Resource;
use meridian_region::ops::RegionHandle;
use serde_json::{Map, Value as Json, json};

use crate::arn::{index_arn, table_arn};
use crate::error::{ApiError, ApiResult, CancelReason, Kind};
use crate::request::{Operation, Request};

mod placement;

use placement::At;

/// What [`begin`] left for [`finish`].
pub(crate) struct Metered {
    /// The buckets the request draws on, each with its share of what its
    /// table's `ConsumedCapacity` says: the whole for a table's or an
    /// index's, the part of the items placed there for a partition's.
    touches: Vec<(Resource, f64)>,
    /// Whether the client asked for `ConsumedCapacity` (else it is left out).
    asked: bool,
    /// A batch's requests held back by spent buckets, for its
    /// `Unprocessed…`.
    held: Option<(&'static str, Map<String, Json>)>,
}

/// One item of the request, placed: its table, access, place in the
/// request and partition (`None` when the request does not give its key).
struct Item {
    table: String,
    op: Op,
    at: At,
    partition: Option<Resource>,
}

impl Item {
    /// Whether a spent bucket `r` holds this item back: its partition, or
    /// its table's (or a global index's written with it) for its access.
    fn held_by(&self, r: &Resource) -> bool {
        match r.partition {
            Some(_) => self.partition.as_ref() == Some(r),
            None => r.table == self.table && r.op == self.op,
        }
    }
}

/// What one request reads or writes, as metered: a read of a local
/// secondary index draws on its table's capacity, as in DynamoDB, so it is
/// the table's.
async fn resolve(ops: &RegionHandle, mut t: Resource) -> ApiResult<Resource> {
    if let Some(index) = &t.index
        && !ops.is_global_index(&t.table, index).await?
    {
        t.index = None;
    }
    Ok(t)
}

/// The table and index buckets a request draws on: each table's (or read
/// index's), and for a write each of its table's provisioned global
/// indexes, whose spent write units throttle the table's writes as
/// DynamoDB's do.
async fn buckets(ops: &RegionHandle, req: &mut Request) -> ApiResult<Option<Vec<Resource>>> {
    let Some(found) = req.touches() else {
        return Ok(None);
    };
    let mut out: Vec<Resource> = Vec::with_capacity(found.len());
    let mut add = |t: Resource| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    for (table, index, op) in found {
        add(resolve(ops, Resource::of(table.clone(), index, op)).await?);
        if op == Op::Write {
            // A put whose item lacks an index's key is not written to
            // the index; any other write may change or remove an entry.
            let put = match req.op {
                Operation::PutItem => req.body_mut().get("Item").and_then(Json::as_object),
                _ => None,
            };
            for (i, keys) in ops.capacity_write_indexes(&table).await? {
                if put.is_none_or(|item| keys.iter().all(|k| item.contains_key(k))) {
                    add(Resource::of(table.clone(), Some(i), op));
                }
            }
        }
    }
    Ok(Some(out))
}

/// The tables of `names`, each once, in the order first named.
fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for t in names {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The items of `req` (`placement::items`), each in its table's partition.
async fn place(ops: &RegionHandle, req: &Request, query_index: bool) -> ApiResult<Vec<Item>> {
    let placed = placement::items(req, query_index);
    let mut out: Vec<Item> = placed
        .iter()
        .map(|p| Item {
            table: p.table.to_string(),
            op: p.op,
            at: p.at.clone(),
            partition: None,
        })
        .collect();
    for table in distinct(placed.iter().map(|p| p.table)) {
        let of: Vec<usize> = (0..placed.len())
            .filter(|&i| placed[i].table == table)
            .collect();
        let keys = |attr: &_| of.iter().map(|&i| placed[i].key.encoded(attr)).collect();
        let Some(partitions) = ops.capacity_partitions(table, keys).await? else {
            continue;
        };
        for (&i, p) in of.iter().zip(partitions) {
            out[i].partition = p.map(|p| Resource {
                partition: Some(p),
                ..Resource::of(table, None, placed[i].op)
            });
        }
    }
    Ok(out)
}

/// Admits the request, or refuses it; makes the endpoint compute its
/// `ConsumedCapacity`, and holds back a batch's requests that spent
/// buckets hold.
///
/// A request draws on its tables' and indexes' buckets ([`buckets`]) and
/// each item it names by its key on its partition's ceiling, in either
/// billing mode ([`place`]). A spent bucket refuses a request of one item
/// or key, a Scan and a PartiQL statement whole; a batch gives back the
/// requests it holds in `Unprocessed…` and is refused whole only when it
/// holds them all, as BatchWriteItem's API reference says; a transaction
/// is cancelled with each held action's reason.
pub(crate) async fn begin(ops: &RegionHandle, req: &mut Request) -> ApiResult<Option<Metered>> {
    let Some(buckets) = buckets(ops, req).await? else {
        return Ok(None);
    };
    let query_index = req.op == Operation::Query && buckets.iter().any(|b| b.index.is_some());
    let items = place(ops, req, query_index).await?;
    let mut every: Vec<Resource> = buckets;
    for p in items.iter().filter_map(|i| i.partition.clone()) {
        if !every.contains(&p) {
            every.push(p);
        }
    }
    let mut spent = Vec::new();
    for r in &every {
        if !ops.capacity_admits(r).await? {
            spent.push(r.clone());
        }
    }
    let held: Vec<bool> = items
        .iter()
        .map(|i| spent.iter().any(|r| i.held_by(r)))
        .collect();
    let mut kept = None;
    if !spent.is_empty() {
        let some_go = held.iter().any(|h| !h);
        match req.op.unprocessed() {
            Some(field) if some_go && held.iter().any(|h| *h) => {
                kept = Some((field, hold(req.body_mut(), &items, &held)));
            }
            _ if req.op.transaction() => return Err(cancelled(ops, req, &items, &spent).await?),
            _ => return Err(refusal(ops, &spent).await?),
        }
    }
    let map = req.body_mut();
    let asked = !matches!(
        map.get("ReturnConsumedCapacity").and_then(Json::as_str),
        None | Some("NONE")
    );
    if !asked {
        map.insert("ReturnConsumedCapacity".into(), json!("TOTAL"));
    }
    Ok(Some(Metered {
        touches: shares(every, &spent, &items, &held),
        asked,
        held: kept,
    }))
}

/// Each bucket that admitted the request with its share of its table's
/// units: a partition's is the part of its table's items (of its access)
/// that went ahead placed in it; a table's or index's the whole.
fn shares(
    every: Vec<Resource>,
    spent: &[Resource],
    items: &[Item],
    held: &[bool],
) -> Vec<(Resource, f64)> {
    let going = || items.iter().zip(held).filter(|(_, h)| !**h).map(|(i, _)| i);
    every
        .into_iter()
        .filter(|r| !spent.contains(r))
        .map(|r| {
            let share = match r.partition {
                None => 1.0,
                Some(_) => {
                    let of_table = going().filter(|i| i.table == r.table && i.op == r.op);
                    let all = of_table.clone().count();
                    let here = of_table
                        .filter(|i| i.partition.as_ref() == Some(&r))
                        .count();
                    here as f64 / all.max(1) as f64
                }
            };
            (r, share)
        })
        .collect()
}

/// Takes a batch's held requests out of its `RequestItems`, as its
/// `Unprocessed…` gives them back: a write request as sent, keys with
/// their table's other members.
fn hold(body: &mut Map<String, Json>, items: &[Item], held: &[bool]) -> Map<String, Json> {
    let mut out = Map::new();
    let Some(Json::Object(request)) = body.get_mut("RequestItems") else {
        return out;
    };
    for table in distinct(items.iter().map(|i| i.table.as_str())) {
        let places: Vec<usize> = items
            .iter()
            .zip(held)
            .filter(|(i, h)| **h && i.table == table)
            .filter_map(|(i, _)| match i.at {
                At::Batch(n) => Some(n),
                _ => None,
            })
            .collect();
        if places.is_empty() {
            continue;
        }
        let Some(entry) = request.get_mut(table) else {
            continue;
        };
        let (list, rest) = match entry {
            Json::Array(list) => (list, None),
            Json::Object(o) => {
                let rest: Map<String, Json> = o
                    .iter()
                    .filter(|(k, _)| *k != "Keys")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                match o.get_mut("Keys") {
                    Some(Json::Array(keys)) => (keys, Some(rest)),
                    _ => continue,
                }
            }
            _ => continue,
        };
        let mut taken = Vec::new();
        for n in places.iter().rev() {
            if *n < list.len() {
                taken.push(list.remove(*n));
            }
        }
        taken.reverse();
        let empty = list.is_empty();
        let given = match rest {
            None => Json::Array(taken),
            Some(mut rest) => {
                rest.insert("Keys".into(), Json::Array(taken));
                Json::Object(rest)
            }
        };
        out.insert(table.to_string(), given);
        if empty {
            request.remove(table);
        }
    }
    out
}

/// Charges what the request consumed and gives the answer back as the
/// client asked for it, with a batch's held-back requests unprocessed.
pub(crate) async fn finish(ops: &RegionHandle, m: Metered, mut answer: Json) -> ApiResult<Json> {
    let consumed = match &answer["ConsumedCapacity"] {
        Json::Array(list) => list.clone(),
        Json::Null => Vec::new(),
        one => vec![one.clone()],
    };
    for c in &consumed {
        let Some(table) = c["TableName"].as_str() else {
            continue;
        };
        for (t, share) in m.touches.iter().filter(|(t, _)| t.table == table) {
            // A transaction splits its units into reads and writes; any
            // other request is all of one kind, its touch's.
            let split = match t.op {
                Op::Read => "ReadCapacityUnits",
                Op::Write => "WriteCapacityUnits",
            };
            let transactional =
                c.get("ReadCapacityUnits").is_some() || c.get("WriteCapacityUnits").is_some();
            let field = if transactional {
                split
            } else {
                "CapacityUnits"
            };
            let units = c.get(field).and_then(Json::as_f64).unwrap_or(0.0);
            ops.capacity_charge(t, units * share).await?;
        }
    }
    if !m.asked
        && let Some(o) = answer.as_object_mut()
    {
        o.remove("ConsumedCapacity");
    }
    if let Some((field, held)) = m.held
        && let Some(o) = answer.as_object_mut()
    {
        let slot = o.entry(field).or_insert_with(|| json!({}));
        if let Some(slot) = slot.as_object_mut() {
            for (table, given) in held {
                merge(slot.entry(table).or_insert(Json::Null), given);
            }
        }
    }
    Ok(answer)
}

/// Adds held requests to what the operation itself left unprocessed of
/// their table.
fn merge(slot: &mut Json, held: Json) {
    match (slot, held) {
        (Json::Array(mine), Json::Array(more)) => mine.extend(more),
        (Json::Object(mine), Json::Object(mut more)) => {
            if let (Some(Json::Array(keys)), Some(Json::Array(extra))) =
                (mine.get_mut("Keys"), more.remove("Keys"))
            {
                keys.extend(extra);
            }
        }
        (slot, held) => *slot = held,
    }
}

/// Charges the write units a refused write consumed all the same (a failed
/// conditional write) to what it writes.
pub(crate) async fn charge_refused(ops: &RegionHandle, m: Metered, units: f64) -> ApiResult<()> {
    for (t, share) in m.touches.iter().filter(|(t, _)| t.op == Op::Write) {
        ops.capacity_charge(t, units * share).await?;
    }
    Ok(())
}

/// What kind of limit spent bucket `r` is, and whether its table is on
/// demand (its throttles are then `ThrottlingException`s).
async fn limit_of(ops: &RegionHandle, r: &Resource) -> ApiResult<(bool, Limit)> {
    // A bucket spent is of a table known here; dropped meanwhile, its
    // throttle is a provisioned one's.
    Ok(ops
        .capacity_limit(r)
        .await?
        .unwrap_or((false, Limit::Provisioned)))
}

/// DynamoDB's refusal of requests whose buckets are spent: a provisioned
/// table's `ProvisionedThroughputExceededException`; on demand, the
/// account's per-table quota's `RequestLimitExceeded`, or else the
/// `ThrottlingException` DynamoDB answers on demand; each with its
/// `ThrottlingReasons`.
async fn refusal(ops: &RegionHandle, throttled: &[Resource]) -> ApiResult<ApiError> {
    let region = ops.region();
    let mut reasons = Vec::with_capacity(throttled.len());
    // An on-demand table's throttles (a partition's ceiling, its most, the
    // quota) are not provisioned throughput's; any provisioned bucket makes
    // the answer provisioned throughput's.
    let (mut on_demand, mut most, mut quota) = (true, false, false);
    for t in throttled {
        let table = table_arn(region, &t.table);
        let resource = match &t.index {
            Some(i) => index_arn(&table, i),
            None => table,
        };
        let (table_on_demand, limit) = limit_of(ops, t).await?;
        on_demand &= table_on_demand;
        most |= limit == Limit::MaxOnDemand;
        quota |= limit == Limit::AccountLimit;
        reasons
            .push(json!({"reason": reason(t.index.is_some(), t.op, limit), "resource": resource}));
    }
    let kind = match (on_demand, quota, most) {
        (false, _, _) => Kind::ProvisionedThroughputExceeded,
        (true, true, _) => Kind::RequestLimitExceeded,
        (true, false, _) => Kind::Throttling,
    };
    let mut e = match (kind, most) {
        (Kind::ProvisionedThroughputExceeded, _) => ApiError::new(kind, PROVISIONED_THROTTLED),
        (Kind::RequestLimitExceeded, _) => ApiError::new(kind, QUOTA_THROTTLED),
        (_, true) => ApiError::new(kind, MAX_ON_DEMAND_THROTTLED),
        (_, false) => ApiError::new(kind, ON_DEMAND_THROTTLED),
    };
    // botocore's model spells the member `throttlingReasons` in a
    // ThrottlingException and `ThrottlingReasons` in the others.
    let member = if kind == Kind::Throttling {
        "throttlingReasons"
    } else {
        "ThrottlingReasons"
    };
    e.extra.insert(member.into(), Json::Array(reasons));
    Ok(e)
}

/// A transaction some of whose actions spent buckets hold: DynamoDB
/// cancels it ("There is insufficient provisioned capacity for the
/// transaction to be completed", *TransactionCanceledException*) with
/// each held action's reason, `ProvisionedThroughputExceeded` on a
/// provisioned table, `ThrottlingError` on an on-demand one, in the
/// messages the API reference's cancellation reasons give, and `None` for
/// the others. An action whose key the request does not give is placed by
/// its table only.
async fn cancelled(
    ops: &RegionHandle,
    req: &Request,
    items: &[Item],
    spent: &[Resource],
) -> ApiResult<ApiError> {
    let actions = req
        .body()
        .0
        .get("TransactItems")
        .and_then(Json::as_array)
        .map_or(0, Vec::len);
    let mut reasons = vec![CancelReason::None; actions];
    for (n, table) in req.actions() {
        let by = items
            .iter()
            .find(|i| i.at == At::Action(n))
            .map(|i| spent.iter().find(|r| i.held_by(r)))
            .unwrap_or_else(|| {
                spent
                    .iter()
                    .find(|r| r.partition.is_none() && r.table == table)
            });
        let (Some(r), Some(slot)) = (by, reasons.get_mut(n)) else {
            continue;
        };
        let (on_demand, limit) = limit_of(ops, r).await?;
        *slot = match (on_demand, limit, r.index.is_some()) {
            (_, Limit::AccountLimit, _) => {
                CancelReason::Throttled("ThrottlingError", QUOTA_THROTTLED)
            }
            (_, Limit::MaxOnDemand, _) => {
                CancelReason::Throttled("ThrottlingError", MAX_ON_DEMAND_THROTTLED)
            }
            (true, _, true) => {
                CancelReason::Throttled("ThrottlingError", ON_DEMAND_INDEX_THROTTLED)
            }
            (true, _, false) => CancelReason::Throttled("ThrottlingError", ON_DEMAND_THROTTLED),
            (false, _, true) => CancelReason::Throttled(
                "ProvisionedThroughputExceeded",
                PROVISIONED_INDEX_THROTTLED,
            ),
            (false, _, false) => {
                CancelReason::Throttled("ProvisionedThroughputExceeded", PROVISIONED_THROTTLED)
            }
        };
    }
    Ok(crate::error::cancelled(&reasons))
}

/// DynamoDB's message past the account's quota: the API reference's
/// description of `RequestLimitExceeded`.
const QUOTA_THROTTLED: &str = "Throughput exceeds the current throughput quota for your account. Please contact AWS Support to request a quota increase.";

/// DynamoDB's message when a provisioned table's units are spent.
const PROVISIONED_THROTTLED: &str = "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";

/// DynamoDB's message, in a cancelled transaction's reasons, when a
/// provisioned global index's units are spent.
const PROVISIONED_INDEX_THROTTLED: &str = "The level of configured provisioned throughput for one or more global secondary indexes of the table was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes with the UpdateTable API.";

/// DynamoDB's message, in a cancelled transaction's reasons, when an
/// on-demand global index is throttled.
const ON_DEMAND_INDEX_THROTTLED: &str = "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.";

/// Meridian's message when an on-demand table's most
/// (`OnDemandThroughput`) throttles a request: AWS documents the reason
/// (`MaxOnDemandThroughputExceeded`), not the message.
const MAX_ON_DEMAND_THROTTLED: &str = "Throughput exceeds the maximum OnDemandThroughput configured on the table. Raise or remove MaxReadRequestUnits or MaxWriteRequestUnits with UpdateTable's OnDemandThroughput.";

/// DynamoDB's message when it throttles an on-demand table.
const ON_DEMAND_THROTTLED: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";
