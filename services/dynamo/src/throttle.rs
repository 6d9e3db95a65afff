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
//! Each region keeps its own buckets: a replica has its own capacity, as in
//! DynamoDB. Writes a replica applies from its peers draw on nothing here
//! (docs/limits.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use meridian_core::TableDef;
use meridian_core::settings::TableSettings;
use meridian_core::throughput::{Bucket, Op, Rate, rate, reason};
use meridian_region::ops::RegionHandle;
use serde_json::{Map, Value as Json, json};

use crate::arn::{index_arn, table_arn};
use crate::error::{ApiError, ApiResult, Kind};
use crate::request::Request;

/// Most buckets kept; past it, all start again full (a bound on memory
/// under table churn, never reached by a cluster's own tables).
const MAX_BUCKETS: usize = 10_000;

type Key = (String, Option<String>, Op);

/// The buckets of one region's endpoint, and what the catalog said of each
/// table's rates as of its last change.
pub(crate) struct Meter {
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    epoch: u64,
    tables: HashMap<String, Option<(TableDef, TableSettings)>>,
    buckets: HashMap<Key, Bucket>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            start: Instant::now(),
            state: Mutex::default(),
        }
    }
}

/// What one request reads or writes: table, index (a global one), op.
#[derive(Clone, Debug, PartialEq)]
struct Touch {
    table: String,
    index: Option<String>,
    op: Op,
}

/// What [`Meter::begin`] left for [`Meter::finish`].
pub(crate) struct Metered {
    touches: Vec<Touch>,
    /// Whether the client asked for `ConsumedCapacity` (else it is left out).
    asked: bool,
    /// A batch's requests of throttled tables, for its `Unprocessed…`.
    held: Option<(&'static str, Map<String, Json>)>,
}

impl Meter {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The rate of `t` now, from the catalog as of its last change.
    async fn rate(&self, ops: &RegionHandle, t: &Touch) -> ApiResult<Option<Rate>> {
        let epoch = ops.catalog_epoch();
        let cached = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.epoch != epoch {
                s.epoch = epoch;
                s.tables.clear();
            }
            s.tables.get(&t.table).cloned()
        };
        let known = match cached {
            Some(k) => k,
            None => {
                let name = t.table.clone();
                let found = ops.table(&name).await.ok();
                let k = match found {
                    Some((def, _)) => {
                        let n = name.clone();
                        ops.read(move |r| r.settings(&n))
                            .await?
                            .map(|settings| (def, settings))
                    }
                    None => None,
                };
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                s.tables.insert(name, k.clone());
                k
            }
        };
        Ok(known.and_then(|(def, settings)| rate(&def, &settings, t.index.as_deref(), t.op)))
    }

    /// `t` as metered: a read of a local secondary index draws on its
    /// table's capacity, as in DynamoDB, so it is the table's.
    async fn resolve(&self, ops: &RegionHandle, mut t: Touch) -> ApiResult<Touch> {
        if let Some(index) = &t.index {
            let table = Touch {
                index: None,
                ..t.clone()
            };
            self.rate(ops, &table).await?;
            let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let global = s
                .tables
                .get(&t.table)
                .and_then(Option::as_ref)
                .is_some_and(|(def, _)| {
                    def.index(index)
                        .is_some_and(|i| i.kind == meridian_core::index::Kind::Global)
                });
            if !global {
                t.index = None;
            }
        }
        Ok(t)
    }

    /// Whether `t`'s bucket admits a request now; a resource without a
    /// provisioned rate always does.
    async fn admits(&self, ops: &RegionHandle, t: &Touch) -> ApiResult<bool> {
        let Some(rate) = self.rate(ops, t).await? else {
            return Ok(true);
        };
        let now = self.now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.buckets.len() >= MAX_BUCKETS {
            s.buckets.clear();
        }
        let b = s
            .buckets
            .entry((t.table.clone(), t.index.clone(), t.op))
            .or_insert_with(|| Bucket::full(&rate, now));
        b.refill(&rate, now);
        Ok(b.admits())
    }

    async fn charge(&self, ops: &RegionHandle, t: &Touch, units: f64) -> ApiResult<()> {
        let Some(rate) = self.rate(ops, t).await? else {
            return Ok(());
        };
        let now = self.now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let b = s
            .buckets
            .entry((t.table.clone(), t.index.clone(), t.op))
            .or_insert_with(|| Bucket::full(&rate, now));
        b.refill(&rate, now);
        b.charge(units);
        Ok(())
    }

    /// Admits the request, or refuses it; makes the endpoint compute its
    /// `ConsumedCapacity`, and holds back a batch's requests of throttled
    /// tables.
    pub(crate) async fn begin(
        &self,
        ops: &RegionHandle,
        req: &mut Request,
    ) -> ApiResult<Option<Metered>> {
        let Some(found) = req.touches() else {
            return Ok(None);
        };
        let mut touches: Vec<Touch> = Vec::with_capacity(found.len());
        for (table, index, op) in found {
            let t = self.resolve(ops, Touch { table, index, op }).await?;
            if !touches.contains(&t) {
                touches.push(t);
            }
        }
        let mut throttled = Vec::new();
        for t in &touches {
            if !self.admits(ops, t).await? && !throttled.contains(t) {
                throttled.push(t.clone());
            }
        }
        let batch = req.op.unprocessed();
        let map = req.body_mut();
        let mut held = None;
        if !throttled.is_empty() {
            let every = touches.iter().all(|t| throttled.contains(t));
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
                _ => return Err(refusal(ops.region(), &throttled)),
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
    pub(crate) async fn finish(
        &self,
        ops: &RegionHandle,
        m: Metered,
        mut answer: Json,
    ) -> ApiResult<Json> {
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
                self.charge(ops, t, units).await?;
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
}

/// DynamoDB's refusal of requests whose buckets are spent.
fn refusal(region: &str, throttled: &[Touch]) -> ApiError {
    let reasons: Vec<Json> = throttled
        .iter()
        .map(|t| {
            let table = table_arn(region, &t.table);
            let resource = match &t.index {
                Some(i) => index_arn(&table, i),
                None => table,
            };
            json!({"reason": reason(t.index.is_some(), t.op), "resource": resource})
        })
        .collect();
    let mut e = ApiError::new(
        Kind::ProvisionedThroughputExceeded,
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    );
    e.extra
        .insert("ThrottlingReasons".into(), Json::Array(reasons));
    e
}
