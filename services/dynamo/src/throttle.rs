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
use crate::error::{ApiError, ApiResult, Kind};
use crate::request::{Operation, Request};

/// What [`begin`] left for [`finish`].
pub(crate) struct Metered {
    touches: Vec<Resource>,
    /// Whether the client asked for `ConsumedCapacity` (else it is left out).
    asked: bool,
    /// A batch's requests of throttled tables, for its `Unprocessed…`.
    held: Option<(&'static str, Map<String, Json>)>,
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

/// Admits the request, or refuses it; makes the endpoint compute its
/// `ConsumedCapacity`, and holds back a batch's requests of throttled
/// tables.
///
/// A request draws on each table's (or read index's) bucket; a write also
/// on each of its table's provisioned global indexes, whose spent write
/// units throttle the table's writes as DynamoDB's do; a request of one
/// item also on its partition's ceiling, in either billing mode.
pub(crate) async fn begin(ops: &RegionHandle, req: &mut Request) -> ApiResult<Option<Metered>> {
    let Some(found) = req.touches() else {
        return Ok(None);
    };
    let mut touches: Vec<Resource> = Vec::with_capacity(found.len());
    let mut add = |t: Resource| {
        if !touches.contains(&t) {
            touches.push(t);
        }
    };
    for (table, index, op) in found {
        let t = resolve(ops, Resource::of(table.clone(), index, op)).await?;
        add(t);
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
        if let Some(member) = req.op.one_item() {
            let body = req.body_mut();
            let key_of = |name: &str| {
                body.get(member)
                    .and_then(|m| m.get(name))
                    .and_then(|v| serde_json::to_vec(v).ok())
            };
            if let Some(p) = ops.capacity_partition(&table, key_of).await? {
                add(Resource {
                    partition: Some(p),
                    ..Resource::of(table.clone(), None, op)
                });
            }
        }
    }
    let mut throttled = Vec::new();
    for t in &touches {
        if !ops.capacity_admits(t).await? && !throttled.contains(t) {
            throttled.push(t.clone());
        }
    }
    let batch = req.op.unprocessed();
    let map = req.body_mut();
    let mut held = None;
    if !throttled.is_empty() {
        // Refused whole only when every table has a throttled bucket.
        let every = touches
            .iter()
            .all(|t| throttled.iter().any(|x: &Resource| x.table == t.table));
        match (batch, map.get_mut("RequestItems")) {
            (Some(field), Some(Json::Object(items))) if !every => {
                let mut out = Map::new();
                for t in &throttled {
                    if let Some(v) = items.remove(&t.table) {
                        out.insert(t.table.clone(), v);
                    }
                }
                held = Some((field, out));
            }
            _ => return Err(refusal(ops, &throttled).await?),
        }
    }
    let asked = !matches!(
        map.get("ReturnConsumedCapacity").and_then(Json::as_str),
        None | Some("NONE")
    );
    if !asked {
        map.insert("ReturnConsumedCapacity".into(), json!("TOTAL"));
    }
    let touches = touches
        .into_iter()
        .filter(|t| !throttled.contains(t))
        .collect();
    Ok(Some(Metered {
        touches,
        asked,
        held,
    }))
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
        for t in m.touches.iter().filter(|t| t.table == table) {
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
            ops.capacity_charge(t, units).await?;
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
            slot.extend(held);
        }
    }
    Ok(answer)
}

/// Charges the write units a refused write consumed all the same (a failed
/// conditional write) to what it writes.
pub(crate) async fn charge_refused(ops: &RegionHandle, m: Metered, units: f64) -> ApiResult<()> {
    for t in m.touches.iter().filter(|t| t.op == Op::Write) {
        ops.capacity_charge(t, units).await?;
    }
    Ok(())
}

/// DynamoDB's refusal of requests whose buckets are spent: a provisioned
/// table's `ProvisionedThroughputExceededException`, or, when only on-demand
/// tables' partitions are spent, the `ThrottlingException` DynamoDB answers
/// on demand, each with its `ThrottlingReasons`.
async fn refusal(ops: &RegionHandle, throttled: &[Resource]) -> ApiResult<ApiError> {
    let region = ops.region();
    let mut reasons = Vec::with_capacity(throttled.len());
    // An on-demand table's throttles (a partition's ceiling, its most) are
    // `ThrottlingException`s; any provisioned bucket makes the answer
    // provisioned throughput's.
    let (mut on_demand, mut most) = (true, false);
    for t in throttled {
        let table = table_arn(region, &t.table);
        let resource = match &t.index {
            Some(i) => index_arn(&table, i),
            None => table,
        };
        let table_on_demand = ops.capacity_on_demand(&t.table).await?;
        on_demand &= table_on_demand;
        let limit = match t.partition {
            Some(_) => Limit::KeyRange,
            None if table_on_demand => {
                most = true;
                Limit::MaxOnDemand
            }
            None => Limit::Provisioned,
        };
        reasons
            .push(json!({"reason": reason(t.index.is_some(), t.op, limit), "resource": resource}));
    }
    let mut e = match (on_demand, most) {
        (true, true) => ApiError::new(Kind::Throttling, MAX_ON_DEMAND_THROTTLED),
        (true, false) => ApiError::new(Kind::Throttling, ON_DEMAND_THROTTLED),
        (false, _) => ApiError::new(
            Kind::ProvisionedThroughputExceeded,
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        ),
    };
    // botocore's model spells the member `throttlingReasons` in a
    // ThrottlingException and `ThrottlingReasons` in the others.
    let member = if on_demand {
        "throttlingReasons"
    } else {
        "ThrottlingReasons"
    };
    e.extra.insert(member.into(), Json::Array(reasons));
    Ok(e)
}

/// Meridian's message when an on-demand table's most
/// (`OnDemandThroughput`) throttles a request: AWS documents the reason
/// (`MaxOnDemandThroughputExceeded`), not the message.
const MAX_ON_DEMAND_THROTTLED: &str = "Throughput exceeds the maximum OnDemandThroughput configured on the table. Raise or remove MaxReadRequestUnits or MaxWriteRequestUnits with UpdateTable's OnDemandThroughput.";

/// DynamoDB's message when it throttles an on-demand table.
const ON_DEMAND_THROTTLED: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";
