//! The checks. Each is one function: it makes its own tables (the runner
//! removes them and heals its faults whatever happens), does what the AWS
//! page it cites describes, and says PASS, FAIL or SKIP with what it saw.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeValue, Get, Put, ReturnValue, TimeToLiveSpecification, TransactGetItem,
    TransactWriteItem,
};
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use futures::future::join_all;
use serde_json::json;

use crate::ConfError;
use crate::ctx::{Ctx, Item, Scope, TableSpec, Verdict, code, key, ms, n, num, s, sdk, show};
use crate::measure::{LagSample, ReorderSample};
use crate::report::Outcome;

pub const SRC_CORE: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/globaltables-CoreConcepts.html";
pub const SRC_BEST_PRACTICES: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-global-table-design.html";
pub const SRC_PRESCRIPTIVE: &str =
    "https://docs.aws.amazon.com/prescriptive-guidance/latest/dynamodb-global-tables/overview.html";
pub const SRC_WRITE_MODES: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-global-table-design.prescriptive-guidance.writemodes.html";
pub const SRC_TRANSACTIONS: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-apis-global-tables";
pub const SRC_STREAMS_IDENTITY: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_Identity.html";
pub const SRC_MRSC_EXAMPLE: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/example_dynamodb_Scenario_MRSCGlobalTables_section.html";
pub const SRC_MRSC: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html#V2globaltables_HowItWorks.consistency-modes-mrsc";
pub const SRC_RWCE: &str = "https://docs.aws.amazon.com/botocore/latest/reference/services/dynamodb/client/exceptions/ReplicatedWriteConflictException.html";

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Verdict, ConfError>> + Send + 'a>>;

/// A check: its name (for `--only`), its source page and its function.
pub struct Check {
    pub name: &'static str,
    pub source: &'static str,
    pub run: for<'a> fn(&'a Ctx, &'a mut Scope) -> Fut<'a>,
}

macro_rules! check {
    ($name:literal, $source:expr, $f:ident) => {
        Check {
            name: $name,
            source: $source,
            run: {
                fn boxed<'a>(c: &'a Ctx, s: &'a mut Scope) -> Fut<'a> {
                    Box::pin($f(c, s))
                }
                boxed
            },
        }
    };
}

pub static ALL: &[Check] = &[
    check!("replication", SRC_CORE, replication),
    check!("lww-whole-item", SRC_PRESCRIPTIVE, lww_whole_item),
    check!("conditions-local", SRC_PRESCRIPTIVE, conditions_local),
    check!("stale-consistent-read", SRC_CORE, stale_consistent_read),
    check!("lost-increments", SRC_WRITE_MODES, lost_increments),
    check!("per-item-order", SRC_BEST_PRACTICES, per_item_order),
    check!(
        "reordering-between-items",
        SRC_BEST_PRACTICES,
        reordering_between_items
    ),
    check!("torn-transactions", SRC_TRANSACTIONS, torn_transactions),
    check!("streams-of-replicas", SRC_CORE, streams_of_replicas),
    check!(
        "ttl-delete-as-service",
        SRC_STREAMS_IDENTITY,
        ttl_delete_as_service
    ),
    check!("replica-add-remove", SRC_CORE, replica_add_remove),
    check!("mrsc-strong-read", SRC_MRSC_EXAMPLE, mrsc_strong_read),
    check!("mrsc-write-conflict", SRC_RWCE, mrsc_write_conflict),
    check!("mrsc-isolated-region", SRC_MRSC, mrsc_isolated_region),
    check!(
        "mrsc-refuses-transactions",
        SRC_MRSC,
        mrsc_refuses_transactions
    ),
];

fn need(ctx: &Ctx, k: usize) -> Option<Verdict> {
    (ctx.regions.len() < k)
        .then(|| Verdict::skip(format!("needs {k} endpoints, {} given", ctx.regions.len())))
}

fn all(ctx: &Ctx) -> Vec<usize> {
    (0..ctx.regions.len()).collect()
}

fn name(ctx: &Ctx, i: usize) -> &str {
    &ctx.regions[i].name
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// 1. A write in one region appears in every other.
async fn replication(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "rep", &regions, TableSpec::default())
        .await?;
    let within = ctx.visible_within();
    let (mut lags, mut missing) = (Vec::new(), Vec::new());
    for &a in &regions {
        let pk = format!("rep-{a}");
        ctx.put(a, &t, item(&[("pk", s(&pk)), ("from", s(name(ctx, a)))]))
            .await?;
        let acked = Instant::now();
        let seen = join_all(regions.iter().filter(|&&b| b != a).map(|&b| {
            let (t, pk) = (&t, &pk);
            async move { (b, ctx.poll_item(b, t, pk, within, |i| i.is_some()).await) }
        }))
        .await;
        for (b, r) in seen {
            match r? {
                Some((_, at)) => {
                    let lag = ms(at.saturating_duration_since(acked));
                    lags.push((format!("{}>{}", name(ctx, a), name(ctx, b)), lag));
                    ctx.collected.lock().unwrap().lags.push(LagSample {
                        from: name(ctx, a).into(),
                        to: name(ctx, b).into(),
                        lag_ms: lag,
                    });
                }
                None => missing.push(format!("{}>{}", name(ctx, a), name(ctx, b))),
            }
        }
    }
    let data = json!({"lag_ms": lags.iter().map(|(p, l)| json!({"pair": p, "lag_ms": l})).collect::<Vec<_>>(), "missing": missing});
    if !missing.is_empty() {
        return Ok(Verdict::fail(format!(
            "not visible within {within:?} on {}",
            missing.join(", ")
        ))
        .with(data));
    }
    let max = lags.iter().map(|x| x.1).fold(0.0, f64::max);
    Ok(Verdict::pass(format!(
        "a put in each of {} regions was seen in every other; lag max {max:.1} ms over {} pairs",
        regions.len(),
        lags.len()
    ))
    .with(data))
}

/// UpdateItem `SET <attr> = :v` returning the whole new item, without retries.
async fn set_attr(
    ctx: &Ctx,
    region: usize,
    t: &str,
    pk: &str,
    attr: &str,
) -> Result<Item, ConfError> {
    let r = &ctx.regions[region];
    let out = r
        .raw
        .update_item()
        .table_name(t)
        .set_key(Some(key(pk)))
        .update_expression("SET #a = :v")
        .expression_attribute_names("#a", attr)
        .expression_attribute_values(":v", s(format!("by-{}", r.name)))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(|e| sdk("UpdateItem", &r.name, e))?;
    Ok(out.attributes().cloned().unwrap_or_default())
}

/// 2\. Concurrent writes of different attributes converge to one writer's
/// whole item, never a merge.
async fn lww_whole_item(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "lww", &regions, TableSpec::default())
        .await?;
    let isolated = ctx.fault_ready(1).is_ok();
    let rounds = if isolated { 1 } else { 20 };
    let (mut concurrent, mut merged, mut foreign) = (0, Vec::new(), Vec::new());
    for i in 0..rounds {
        let pk = format!("lww-{i}");
        ctx.put(0, &t, item(&[("pk", s(&pk)), ("base", n(1))]))
            .await?;
        ctx.converged(&t, &pk, &regions).await?;
        if isolated {
            ctx.isolate(scope, 1).await?;
        }
        let (a, b) = tokio::join!(
            set_attr(ctx, 0, &t, &pk, "a"),
            set_attr(ctx, 1, &t, &pk, "b")
        );
        ctx.heal(scope).await;
        let (a, b) = (a?, b?);
        // Neither saw the other's attribute: the two updates overlapped.
        if a.contains_key("b") || b.contains_key("a") {
            continue;
        }
        concurrent += 1;
        let fin = ctx.converged(&t, &pk, &regions).await?;
        let fin = fin.unwrap_or_default();
        if fin.contains_key("a") && fin.contains_key("b") {
            merged.push(show(Some(&fin)));
        } else if fin != a && fin != b {
            foreign.push(show(Some(&fin)));
        }
    }
    let how = if isolated {
        "with the second region isolated"
    } else {
        "racing, without a fault API"
    };
    let data =
        json!({"rounds": rounds, "concurrent": concurrent, "merged": merged, "other": foreign});
    if !merged.is_empty() {
        return Ok(Verdict::fail(format!("{} of {concurrent} concurrent updates ({how}) converged to a merge of both writers: {}", merged.len(), merged[0])).with(data));
    }
    if !foreign.is_empty() {
        return Ok(Verdict::fail(format!(
            "converged to an item neither writer produced: {}",
            foreign[0]
        ))
        .with(data));
    }
    if concurrent == 0 {
        return Ok(Verdict::skip(format!("none of {rounds} racing rounds overlapped (each saw the other's write), so nothing to compare; a fault API forces the overlap")).with(data));
    }
    Ok(Verdict::pass(format!(
        "{concurrent} of {rounds} rounds overlapped ({how}); each converged in all {} regions to one writer's whole item",
        regions.len()
    ))
    .with(data))
}

/// A PutItem with `attribute_not_exists(pk)`, no retries: Ok(true) if it
/// took, Ok(false) on ConditionalCheckFailedException.
async fn put_if_absent(ctx: &Ctx, region: usize, t: &str, pk: &str) -> Result<bool, ConfError> {
    let r = &ctx.regions[region];
    match r
        .raw
        .put_item()
        .table_name(t)
        .set_item(Some(item(&[("pk", s(pk)), ("by", s(&r.name))])))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if code(&e) == "ConditionalCheckFailedException" => Ok(false),
        Err(e) => Err(sdk("PutItem (conditional)", &r.name, e)),
    }
}

/// 3. Conditions are evaluated against the local replica.
async fn conditions_local(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "cond", &regions, TableSpec::default())
        .await?;
    // What the local replica has, it checks: a replicated item fails the
    // condition in the other region.
    ctx.put(0, &t, item(&[("pk", s("cond-seen"))])).await?;
    if ctx
        .poll_item(1, &t, "cond-seen", ctx.visible_within(), |i| i.is_some())
        .await?
        .is_none()
    {
        return Ok(Verdict::fail("a put never replicated to the second region"));
    }
    if put_if_absent(ctx, 1, &t, "cond-seen").await? {
        return Ok(Verdict::fail(format!(
            "attribute_not_exists succeeded in {} on an item its replica already had",
            name(ctx, 1)
        )));
    }
    if ctx.fault_ready(1).is_ok() {
        ctx.isolate(scope, 1).await?;
        let first = put_if_absent(ctx, 0, &t, "cond-iso").await?;
        let second = put_if_absent(ctx, 1, &t, "cond-iso").await?;
        ctx.heal(scope).await;
        let fin = ctx.converged(&t, "cond-iso", &regions).await?;
        let data = json!({"first": first, "second": second, "final": show(fin.as_ref())});
        return Ok(if first && second {
            Verdict::pass(format!(
                "with {} isolated, attribute_not_exists on one new key succeeded in both {} and {}; converged to {}",
                name(ctx, 1), name(ctx, 0), name(ctx, 1), show(fin.as_ref())
            ))
            .with(data)
        } else {
            Verdict::fail(format!(
                "with {} isolated, its conditional put was {} although its replica had no item",
                name(ctx, 1),
                if second { "taken" } else { "refused" }
            ))
            .with(data)
        });
    }
    let keys = 20;
    let (mut both, mut one) = (0, 0);
    for i in 0..keys {
        let pk = format!("cond-race-{i}");
        let (a, b) = tokio::join!(
            put_if_absent(ctx, 0, &t, &pk),
            put_if_absent(ctx, 1, &t, &pk)
        );
        match (a?, b?) {
            (true, true) => both += 1,
            (true, false) | (false, true) => one += 1,
            (false, false) => {
                return Ok(Verdict::fail(format!(
                    "both conditional puts of new key {pk} were refused"
                )));
            }
        }
    }
    Ok(Verdict::pass(format!(
        "a replicated item fails the condition locally; racing on {keys} new keys without a fault API: both regions succeeded on {both}, one on {one}"
    ))
    .with(json!({"keys": keys, "both_succeeded": both, "one_succeeded": one})))
}

/// 4\. A strongly consistent read is local: stale in B while A's write is
/// held back.
async fn stale_consistent_read(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    if let Err(why) = ctx.fault_ready(1) {
        return Ok(Verdict::skip(format!(
            "needs a fault to hold A's write back deterministically: {why}"
        )));
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "stale", &regions, TableSpec::default())
        .await?;
    ctx.put(0, &t, item(&[("pk", s("k")), ("v", n(0))])).await?;
    if ctx
        .poll_item(1, &t, "k", ctx.visible_within(), |i| {
            i.and_then(|i| num(i, "v")) == Some(0)
        })
        .await?
        .is_none()
    {
        return Ok(Verdict::fail(
            "the first version never reached the second region",
        ));
    }
    ctx.isolate(scope, 1).await?;
    ctx.put(0, &t, item(&[("pk", s("k")), ("v", n(1))])).await?;
    let read = ctx.get(1, &t, "k", true).await?;
    ctx.heal(scope).await;
    let v = read.as_ref().and_then(|i| num(i, "v"));
    let caught_up = ctx
        .poll_item(1, &t, "k", ctx.visible_within(), |i| {
            i.and_then(|i| num(i, "v")) == Some(1)
        })
        .await?
        .is_some();
    let data = json!({"consistent_read_saw": v, "caught_up_after_heal": caught_up});
    Ok(match (v, caught_up) {
        (Some(0), true) => Verdict::pass(format!(
            "ConsistentRead in {} returned v=0 while v=1 was acknowledged in {} (links cut); v=1 arrived after the heal",
            name(ctx, 1), name(ctx, 0)
        )),
        (Some(0), false) => Verdict::fail("stale as documented, but v=1 never arrived after the heal"),
        (Some(1), _) => Verdict::fail(format!(
            "ConsistentRead in {} returned A's write although every link of {} was cut: the cut did not hold, or reads are not local",
            name(ctx, 1), name(ctx, 1)
        )),
        (other, _) => Verdict::fail(format!("ConsistentRead returned {other:?}")),
    }
    .with(data))
}

/// `ADD c :1` without retries (a retry could count twice).
async fn add_one(ctx: &Ctx, region: usize, t: &str, pk: &str) -> Result<(), ConfError> {
    let r = &ctx.regions[region];
    r.raw
        .update_item()
        .table_name(t)
        .set_key(Some(key(pk)))
        .update_expression("ADD c :one")
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .map_err(|e| sdk("UpdateItem ADD", &r.name, e))?;
    Ok(())
}

/// 5. Concurrent increments from two regions lose some under MREC.
async fn lost_increments(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "incr", &regions, TableSpec::default())
        .await?;
    ctx.put(0, &t, item(&[("pk", s("counter")), ("c", n(0))]))
        .await?;
    ctx.converged(&t, "counter", &regions).await?;
    let isolated = ctx.fault_ready(1).is_ok();
    let k = if isolated {
        10
    } else {
        (ctx.samples / 5).clamp(10, 200)
    };
    if isolated {
        ctx.isolate(scope, 1).await?;
    }
    let side = |r: usize| {
        let t = &t;
        async move {
            let mut ok = 0usize;
            for _ in 0..k {
                if add_one(ctx, r, t, "counter").await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }
    };
    let (a, b) = tokio::join!(side(0), side(1));
    ctx.heal(scope).await;
    let fin = ctx.converged(&t, "counter", &regions).await?;
    let total = (a + b) as i64;
    let got = fin.as_ref().and_then(|i| num(i, "c")).unwrap_or(-1);
    let lost = total - got;
    let how = if isolated {
        format!("{} isolated", name(ctx, 1))
    } else {
        "racing, no fault API".into()
    };
    let data = json!({"acknowledged": total, "final": got, "lost": lost, "isolated": isolated});
    if got < 0 || got > total {
        return Ok(Verdict::fail(format!(
            "{total} acknowledged increments converged to c={got}"
        ))
        .with(data));
    }
    if isolated && lost == 0 {
        return Ok(Verdict::fail(format!(
            "{total} increments made on both sides of a partition all survived: the replicas merged the counter instead of last writer wins"
        ))
        .with(data));
    }
    Ok(Verdict::pass(format!(
        "{total} acknowledged ADDs ({how}) converged to c={got} in every region: {lost} lost"
    ))
    .with(data))
}

/// 6. One item's versions never go backwards in another region.
async fn per_item_order(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "order", &regions, TableSpec::default())
        .await?;
    let versions = ctx.samples.min(300) as i64;
    let done = std::sync::atomic::AtomicBool::new(false);
    let writer = async {
        let r = async {
            for v in 1..=versions {
                ctx.put(0, &t, item(&[("pk", s("seq")), ("v", n(v))]))
                    .await?;
            }
            Ok::<_, ConfError>(())
        }
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let deadline = Instant::now() + ctx.visible_within();
    let readers = join_all(regions[1..].iter().map(|&b| {
        let (t, done) = (&t, &done);
        async move {
            let (mut seen, mut back, mut last) = (0usize, Vec::new(), 0i64);
            loop {
                let v = ctx
                    .get(b, t, "seq", false)
                    .await?
                    .and_then(|i| num(&i, "v"))
                    .unwrap_or(0);
                seen += 1;
                observe(&mut last, v, &mut back);
                if last == versions
                    || (done.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() > deadline)
                {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Ok::<_, ConfError>((b, seen, back, last))
        }
    }));
    let (w, rs) = tokio::join!(writer, readers);
    w?;
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    let mut data = Vec::new();
    for r in rs {
        let (b, seen, back, last) = r?;
        data.push(json!({"region": name(ctx, b), "reads": seen, "went_back": back, "last": last}));
        if !back.is_empty() {
            failed.push(format!(
                "{} went back from v={} to v={}",
                name(ctx, b),
                back[0].0,
                back[0].1
            ));
        } else if last != versions {
            failed.push(format!(
                "{} stopped at v={last} of {versions}",
                name(ctx, b)
            ));
        } else {
            lines.push(format!("{} {seen} reads", name(ctx, b)));
        }
    }
    let data = json!({"versions": versions, "regions": data});
    Ok(if failed.is_empty() {
        Verdict::pass(format!(
            "{versions} versions written in {}; never seen going back ({})",
            name(ctx, 0),
            lines.join(", ")
        ))
        .with(data)
    } else {
        Verdict::fail(failed.join("; ")).with(data)
    })
}

/// One reading of a version: a version below the highest seen before is a
/// step back, recorded as (highest, seen); the highest never decreases.
fn observe(highest: &mut i64, v: i64, back: &mut Vec<(i64, i64)>) {
    if v < *highest {
        back.push((*highest, v));
    }
    *highest = (*highest).max(v);
}

/// Commit gaps the pairs cycle through, so the reordering rate is seen at
/// more than one gap (ms of deliberate pause between the two writes).
const GAPS_MS: [u64; 6] = [0, 0, 1, 2, 5, 10];

/// Writes `samples` pairs (item A, then item B) in region `a` and watches
/// region `b`: B visible while A is not is a reordering.
pub(crate) async fn sample_reordering(
    ctx: &Ctx,
    t: &str,
    a: usize,
    b: usize,
    samples: usize,
    tag: &str,
) -> Result<(Vec<ReorderSample>, usize), ConfError> {
    let within = ctx.visible_within();
    let mut out = Vec::new();
    let mut lost = 0;
    for i in 0..samples {
        let (ka, kb) = (format!("{tag}-a-{i}"), format!("{tag}-b-{i}"));
        ctx.put(a, t, item(&[("pk", s(&ka))])).await?;
        let acked_a = Instant::now();
        let gap = GAPS_MS[i % GAPS_MS.len()];
        if gap > 0 {
            tokio::time::sleep(Duration::from_millis(gap)).await;
        }
        ctx.put(a, t, item(&[("pk", s(&kb))])).await?;
        let gap_ms = ms(acked_a.elapsed());
        // B first, then A: A missing after B was seen proves B was visible
        // without A (items are never deleted here).
        if ctx
            .poll_item(b, t, &kb, within, |i| i.is_some())
            .await?
            .is_none()
        {
            lost += 1;
            continue;
        }
        let a_there = ctx.get(b, t, &ka, false).await?.is_some();
        out.push(ReorderSample {
            gap_ms,
            reordered: !a_there,
        });
    }
    Ok((out, lost))
}

/// 7. Writes to different items may become visible out of order.
async fn reordering_between_items(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let t = ctx
        .global_table(scope, "reorder", &[0, 1], TableSpec::default())
        .await?;
    let (samples, lost) = sample_reordering(ctx, &t, 0, 1, ctx.samples, "p").await?;
    let x = samples.iter().filter(|s| s.reordered).count();
    let y = samples.len();
    let mean_gap = samples.iter().map(|s| s.gap_ms).sum::<f64>() / y.max(1) as f64;
    ctx.collected
        .lock()
        .unwrap()
        .reorders
        .extend(samples.iter().cloned());
    let data = json!({"observed": x, "pairs": y, "never_seen": lost, "mean_gap_ms": mean_gap});
    if lost > 0 {
        return Ok(Verdict::fail(format!(
            "{lost} of {} writes never reached {}",
            ctx.samples,
            name(ctx, 1)
        ))
        .with(data));
    }
    let saw = format!(
        "observed {x} of {y} pairs (A then B, {}→{}, mean commit gap {mean_gap:.2} ms) with B visible before A",
        name(ctx, 0),
        name(ctx, 1)
    );
    Ok(if ctx.expect_reordering && x == 0 {
        Verdict::fail(format!("{saw}; --expect-reordering asked for some"))
    } else {
        Verdict::pass(format!("{saw} (AWS allows it)"))
    }
    .with(data))
}

/// 8. A transaction's items may become visible one by one elsewhere.
async fn torn_transactions(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let t = ctx
        .global_table(scope, "torn", &[0, 1], TableSpec::default())
        .await?;
    let (r0, r1) = (&ctx.regions[0], &ctx.regions[1]);
    let txs = ctx.samples;
    let (mut torn, mut reads, mut never) = (0usize, 0usize, 0usize);
    let deadline_each = ctx.visible_within();
    for i in 0..txs {
        let k = 2 + i % 3;
        let keys: Vec<String> = (0..k).map(|j| format!("tx-{i}-{j}")).collect();
        let mut req = r0.ddb.transact_write_items();
        for pk in &keys {
            req = req.transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&t)
                            .set_item(Some(item(&[("pk", s(pk)), ("tx", n(i))])))
                            .build()?,
                    )
                    .build(),
            );
        }
        req.send()
            .await
            .map_err(|e| sdk("TransactWriteItems", &r0.name, e))?;
        let deadline = Instant::now() + deadline_each;
        let mut was_torn = false;
        loop {
            let mut get = r1.ddb.transact_get_items();
            for pk in &keys {
                get = get.transact_items(
                    TransactGetItem::builder()
                        .get(
                            Get::builder()
                                .table_name(&t)
                                .set_key(Some(key(pk)))
                                .build()?,
                        )
                        .build(),
                );
            }
            let out = get
                .send()
                .await
                .map_err(|e| sdk("TransactGetItems", &r1.name, e))?;
            reads += 1;
            let visible = out
                .responses()
                .iter()
                .filter(|r| r.item().is_some())
                .count();
            if visible > 0 && visible < k {
                was_torn = true;
            }
            if visible == k {
                break;
            }
            if Instant::now() > deadline {
                never += 1;
                break;
            }
            tokio::task::yield_now().await;
        }
        torn += was_torn as usize;
    }
    let data = json!({"torn": torn, "transactions": txs, "reads": reads, "never_complete": never});
    if never > 0 {
        return Ok(Verdict::fail(format!(
            "{never} of {txs} transactions never became wholly visible in {}",
            name(ctx, 1)
        ))
        .with(data));
    }
    let saw = format!(
        "observed {torn} of {txs} transactions (2-4 items, different partition keys) partly visible in {} ({reads} TransactGetItems)",
        name(ctx, 1)
    );
    Ok(if ctx.expect_reordering && torn == 0 {
        Verdict::fail(format!("{saw}; --expect-reordering asked for some"))
    } else {
        Verdict::pass(format!("{saw} (AWS: ACID only in the writing region)"))
    }
    .with(data))
}

/// A record of `pk` in `region`'s stream of `table` with `event`, polled
/// until `within` ends.
async fn find_stream_record(
    ctx: &Ctx,
    region: usize,
    table: &str,
    pk: &str,
    event: OperationType,
    within: Duration,
) -> Result<Option<aws_sdk_dynamodbstreams::types::Record>, ConfError> {
    let r = &ctx.regions[region];
    let deadline = Instant::now() + within;
    let smap = |op: &str, e: String| ConfError::Dynamo(format!("{op} in {}: {e}", r.name));
    loop {
        let streams = r
            .streams
            .list_streams()
            .table_name(table)
            .send()
            .await
            .map_err(|e| smap("ListStreams", code(&e)))?;
        for st in streams.streams() {
            let Some(arn) = st.stream_arn() else { continue };
            let d = r
                .streams
                .describe_stream()
                .stream_arn(arn)
                .send()
                .await
                .map_err(|e| smap("DescribeStream", code(&e)))?;
            let shards = d
                .stream_description()
                .map(|d| d.shards().to_vec())
                .unwrap_or_default();
            for sh in shards {
                let Some(id) = sh.shard_id() else { continue };
                let it = r
                    .streams
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(|e| smap("GetShardIterator", code(&e)))?;
                let mut iter = it.shard_iterator().map(String::from);
                for _ in 0..20 {
                    let Some(i) = iter.take() else { break };
                    let recs = r
                        .streams
                        .get_records()
                        .shard_iterator(i)
                        .send()
                        .await
                        .map_err(|e| smap("GetRecords", code(&e)))?;
                    for rec in recs.records() {
                        let matches = rec.event_name() == Some(&event)
                            && rec
                                .dynamodb()
                                .and_then(|d| d.keys())
                                .and_then(|k| k.get("pk"))
                                == Some(&aws_sdk_dynamodbstreams::types::AttributeValue::S(
                                    pk.into(),
                                ));
                        if matches {
                            return Ok(Some(rec.clone()));
                        }
                    }
                    if recs.records().is_empty() {
                        break;
                    }
                    iter = recs.next_shard_iterator().map(String::from);
                }
            }
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(if r.real_aws { 1000 } else { 100 })).await;
    }
}

/// 9. Every replica's stream has the writes replicated to it.
async fn streams_of_replicas(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "streams", &regions, TableSpec { stream: true })
        .await?;
    ctx.put(0, &t, item(&[("pk", s("s1")), ("v", n(7))]))
        .await?;
    let mut missing = Vec::new();
    let mut ok = Vec::new();
    for &b in &regions[1..] {
        match find_stream_record(
            ctx,
            b,
            &t,
            "s1",
            OperationType::Insert,
            ctx.visible_within(),
        )
        .await?
        {
            Some(rec) => {
                let image = rec.dynamodb().and_then(|d| d.new_image());
                let v = image.and_then(|i| i.get("v"));
                if v == Some(&aws_sdk_dynamodbstreams::types::AttributeValue::N(
                    "7".into(),
                )) {
                    ok.push(name(ctx, b).to_string());
                } else {
                    missing.push(format!("{}: INSERT without the new image", name(ctx, b)));
                }
            }
            None => missing.push(format!("{}: no INSERT record", name(ctx, b))),
        }
    }
    Ok(if missing.is_empty() {
        Verdict::pass(format!(
            "a put in {} is an INSERT with its NEW_IMAGE in the stream of {}",
            name(ctx, 0),
            ok.join(", ")
        ))
    } else {
        Verdict::fail(missing.join("; "))
    })
}

/// 10. TTL deletes are the service's: the stream's userIdentity says so.
async fn ttl_delete_as_service(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    let regions = all(ctx);
    let real_aws = ctx.regions.iter().any(|r| r.real_aws);
    let interval_ms = ctx
        .ttl_interval_ms
        .unwrap_or(crate::cluster::DEFAULT_TTL_INTERVAL_MS);
    // On Meridian the reaper runs every interval; a deadline of three
    // intervals and 10 s more is "clearly passed".
    let clearly = Duration::from_millis(3 * interval_ms) + Duration::from_secs(10);
    let t = if regions.len() > 1 {
        ctx.global_table(scope, "ttl", &regions, TableSpec { stream: true })
            .await?
    } else {
        ctx.create_table(scope, "ttl", 0, TableSpec { stream: true })
            .await?
    };
    let r0 = &ctx.regions[0];
    r0.ddb
        .update_time_to_live()
        .table_name(&t)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("exp")
                .build()?,
        )
        .send()
        .await
        .map_err(|e| sdk("UpdateTimeToLive", &r0.name, e))?;
    // Expires in 3 s: time enough to reach every region first.
    ctx.put(
        0,
        &t,
        item(&[("pk", s("ttl-1")), ("exp", n(now_secs() + 3))]),
    )
    .await?;
    let expired_at = Instant::now() + Duration::from_secs(3);
    let mut gone = Vec::new();
    let mut stayed = Vec::new();
    for &r in &regions {
        let left = (expired_at + ctx.ttl_deadline).saturating_duration_since(Instant::now());
        match ctx.poll_item(r, &t, "ttl-1", left, |i| i.is_none()).await? {
            Some(_) => gone.push(r),
            None => stayed.push(name(ctx, r).to_string()),
        }
    }
    if !stayed.is_empty() {
        let waited = format!(
            "not deleted in {} within {} s of expiry",
            stayed.join(", "),
            ctx.ttl_deadline.as_secs()
        );
        if real_aws {
            return Ok(Verdict::skip(format!(
                "{waited} (AWS deletes expired items typically within two days; raise --ttl-deadline-secs)"
            )));
        }
        if ctx.ttl_deadline < clearly {
            return Ok(Verdict::skip(format!(
                "{waited}, shorter than 3 TTL intervals ({interval_ms} ms) + 10 s"
            )));
        }
        return Ok(Verdict::fail(format!(
            "{waited}, more than 3 TTL intervals ({interval_ms} ms)"
        )));
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for &r in &gone {
        match find_stream_record(
            ctx,
            r,
            &t,
            "ttl-1",
            OperationType::Remove,
            ctx.visible_within(),
        )
        .await?
        {
            None => bad.push(format!("{}: no REMOVE record", name(ctx, r))),
            Some(rec) => {
                let id = rec.user_identity();
                let (ty, pid) = (
                    id.and_then(|i| i.r#type()),
                    id.and_then(|i| i.principal_id()),
                );
                if ty == Some("Service") && pid == Some("dynamodb.amazonaws.com") {
                    good.push(name(ctx, r).to_string());
                } else {
                    bad.push(format!("{}: userIdentity {:?}/{:?}", name(ctx, r), ty, pid));
                }
            }
        }
    }
    Ok(if bad.is_empty() {
        Verdict::pass(format!(
            "the expired item was deleted everywhere; REMOVE with userIdentity Service/dynamodb.amazonaws.com in {}",
            good.join(", ")
        ))
    } else {
        Verdict::fail(bad.join("; "))
    })
}

/// 11. A new replica gets the existing items; a removed one goes.
async fn replica_add_remove(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = need(ctx, 2) {
        return Ok(v);
    }
    let last = ctx.regions.len() - 1;
    let t = ctx
        .create_table(scope, "replica", 0, TableSpec::default())
        .await?;
    let items = 10;
    for i in 0..items {
        ctx.put(0, &t, item(&[("pk", s(format!("pre-{i}"))), ("v", n(i))]))
            .await?;
    }
    let added = Instant::now();
    ctx.add_replicas(0, &t, &[last]).await?;
    let mut missing = 0;
    for i in 0..items {
        if ctx
            .poll_item(last, &t, &format!("pre-{i}"), ctx.visible_within(), |x| {
                x.is_some()
            })
            .await?
            .is_none()
        {
            missing += 1;
        }
    }
    if missing > 0 {
        return Ok(Verdict::fail(format!(
            "{missing} of {items} existing items never reached the new replica in {}",
            name(ctx, last)
        )));
    }
    let filled = ms(added.elapsed());
    let r0 = &ctx.regions[0];
    r0.ddb
        .update_table()
        .table_name(&t)
        .replica_updates(
            aws_sdk_dynamodb::types::ReplicationGroupUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder()
                        .region_name(name(ctx, last))
                        .build()?,
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk("UpdateTable ReplicaUpdates Delete", &r0.name, e))?;
    let deadline = Instant::now() + ctx.visible_within();
    let rl = &ctx.regions[last];
    loop {
        match rl.ddb.describe_table().table_name(&t).send().await {
            Err(e) if code(&e) == "ResourceNotFoundException" => break,
            _ if Instant::now() > deadline => {
                return Ok(Verdict::fail(format!(
                    "{} still describes the table {:?} after its replica was removed",
                    rl.name,
                    ctx.visible_within()
                )));
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(if rl.real_aws { 2000 } else { 50 })).await
            }
        }
    }
    Ok(Verdict::pass(format!(
        "a replica added in {} held all {items} existing items ({filled:.0} ms from the request); removed, its region answers ResourceNotFoundException",
        rl.name
    )))
}

fn mrsc_regions(ctx: &Ctx) -> Option<Verdict> {
    need(ctx, 3)
}

/// 12a. A strongly consistent read in any replica sees the latest write.
async fn mrsc_strong_read(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = mrsc_regions(ctx) {
        return Ok(v);
    }
    let t = ctx.strong_table(scope, "mrsc-read", 0, 1, 2).await?;
    let rounds = 20;
    let mut stale = Vec::new();
    for i in 0..rounds {
        let (w, r) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
        ctx.put(w, &t, item(&[("pk", s("k")), ("v", n(i))])).await?;
        let got = ctx.get(r, &t, "k", true).await?.and_then(|x| num(&x, "v"));
        if got != Some(i) {
            stale.push(format!(
                "wrote v={i} in {}, read {got:?} in {}",
                name(ctx, w),
                name(ctx, r)
            ));
        }
    }
    Ok(if stale.is_empty() {
        Verdict::pass(format!(
            "{rounds} writes alternating {} and {}: each ConsistentRead in the other returned it",
            name(ctx, 0),
            name(ctx, 1)
        ))
    } else {
        Verdict::fail(format!(
            "{} stale strongly consistent reads: {}",
            stale.len(),
            stale[0]
        ))
    })
}

/// 12b. Two regions racing on one item: one may get
/// ReplicatedWriteConflictException; no acknowledged write is lost.
async fn mrsc_write_conflict(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = mrsc_regions(ctx) {
        return Ok(v);
    }
    let t = ctx.strong_table(scope, "mrsc-race", 0, 1, 2).await?;
    ctx.put(0, &t, item(&[("pk", s("race")), ("c", n(0))]))
        .await?;
    let rounds = (ctx.samples / 6).clamp(10, 100);
    let (mut ok, mut conflicts, mut unknown) = (0i64, 0usize, Vec::new());
    for _ in 0..rounds {
        let one = |r: usize| {
            let t = &t;
            async move {
                let c = &ctx.regions[r];
                c.raw
                    .update_item()
                    .table_name(t)
                    .set_key(Some(key("race")))
                    .update_expression("ADD c :one")
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| code(&e))
            }
        };
        let (a, b) = tokio::join!(one(0), one(1));
        for r in [a, b] {
            match r {
                Ok(()) => ok += 1,
                Err(c) if c == "ReplicatedWriteConflictException" => conflicts += 1,
                Err(c) => unknown.push(c),
            }
        }
    }
    let fin = ctx
        .get(0, &t, "race", true)
        .await?
        .and_then(|x| num(&x, "c"))
        .unwrap_or(-1);
    let possible = ok..=ok + unknown.len() as i64;
    let data = json!({"rounds": rounds, "succeeded": ok, "conflicts": conflicts, "other_errors": unknown, "final": fin});
    if !possible.contains(&fin) {
        return Ok(Verdict::fail(format!(
            "{ok} acknowledged increments, c={fin}: writes were lost or invented"
        ))
        .with(data));
    }
    let extra = if unknown.is_empty() {
        String::new()
    } else {
        format!(", {} other errors ({})", unknown.len(), unknown[0])
    };
    Ok(Verdict::pass(format!(
        "{rounds} racing rounds: {conflicts} ReplicatedWriteConflictException, {ok} increments acknowledged, all kept (c={fin}){extra}"
    ))
    .with(data))
}

/// 12c. A replica cut off from both others refuses writes and strongly
/// consistent reads; the other replica (with the witness, a majority) goes
/// on. Each replica is isolated in turn, so whichever of them leads the
/// table's writes, the case "the leader is cut off" is always among them.
async fn mrsc_isolated_region(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = mrsc_regions(ctx) {
        return Ok(v);
    }
    for r in [0, 1] {
        if let Err(why) = ctx.fault_ready(r) {
            return Ok(Verdict::skip(format!(
                "needs a fault to isolate a region: {why}"
            )));
        }
    }
    let t = ctx.strong_table(scope, "mrsc-iso", 0, 1, 2).await?;
    let (mut bad, mut good, mut data) = (Vec::new(), Vec::new(), Vec::new());
    for (iso, other) in [(1, 0), (0, 1)] {
        let (b, g, d) = isolate_strong_replica(ctx, scope, &t, iso, other).await?;
        bad.extend(b);
        good.extend(g);
        data.push(d);
        // Both replicas take writes again before the next phase (or the
        // end): bounded, and a failure to recover is a finding too.
        for r in [0, 1] {
            let deadline = Instant::now() + ctx.visible_within();
            while let Err(e) = ctx
                .put(r, &t, item(&[("pk", s(format!("heal-{r}")))]))
                .await
            {
                if Instant::now() >= deadline {
                    bad.push(format!(
                        "{} took no write within {:?} of the heal: {e}",
                        name(ctx, r),
                        ctx.visible_within()
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let data = json!({ "phases": data });
    Ok(if bad.is_empty() {
        Verdict::pass(good.join("; ")).with(data)
    } else {
        Verdict::fail(bad.join("; ")).with(data)
    })
}

/// One phase of 12c: `iso` cut off, `other` (with the witness) expected to
/// go on. Returns what went wrong, what went right, and the figures.
async fn isolate_strong_replica(
    ctx: &Ctx,
    scope: &mut Scope,
    t: &str,
    iso: usize,
    other: usize,
) -> Result<(Vec<String>, Vec<String>, serde_json::Value), ConfError> {
    ctx.isolate(scope, iso).await?;
    let ri = &ctx.regions[iso];
    let started = Instant::now();
    let write = ri
        .raw
        .put_item()
        .table_name(t)
        .set_item(Some(item(&[("pk", s(format!("iso-{iso}")))])))
        .send()
        .await;
    let write_ms = ms(started.elapsed());
    let read = ri
        .raw
        .get_item()
        .table_name(t)
        .set_key(Some(key(&format!("probe-{iso}"))))
        .consistent_read(true)
        .send()
        .await;
    // The majority side goes on, but may first have to elect a leader in
    // place of one that sat in the isolated region: its writes are retried
    // (no SDK retries, so each try is one wait) for a bounded time, and how
    // long it took is reported.
    let from = Instant::now();
    let deadline = from + Duration::from_secs(15).min(ctx.visible_within());
    let (mut other_res, mut attempts) = (Err(String::from("not tried")), 0);
    while Instant::now() < deadline {
        attempts += 1;
        let ro = &ctx.regions[other];
        other_res = ro
            .raw
            .put_item()
            .table_name(t)
            .set_item(Some(item(&[("pk", s(format!("go-on-{other}")))])))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(&e));
        if other_res.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let other_ms = ms(from.elapsed());
    let other_read = if other_res.is_ok() {
        ctx.get(other, t, &format!("go-on-{other}"), true)
            .await
            .ok()
            .flatten()
            .is_some()
    } else {
        false
    };
    ctx.heal(scope).await;
    let write_code = write.as_ref().err().map(code);
    let read_code = read.as_ref().err().map(code);
    let data = json!({"isolated": ri.name, "isolated_write": write_code, "isolated_write_ms": write_ms,
        "isolated_strong_read": read_code, "other": name(ctx, other), "other_write": other_res.as_ref().err(),
        "other_write_tries": attempts, "other_write_ms": other_ms, "other_strong_read_ok": other_read});
    let mut bad = Vec::new();
    if write_code.is_none() {
        bad.push(format!("{} took a write while isolated", ri.name));
    }
    if read_code.is_none() {
        bad.push(format!(
            "{} answered a strongly consistent read while isolated",
            ri.name
        ));
    }
    if let Err(c) = &other_res {
        bad.push(format!(
            "with {} isolated, {} (and the witness, a majority) refused every write for {other_ms:.0} ms ({attempts} tries, last {c})",
            ri.name,
            name(ctx, other)
        ));
    } else if !other_read {
        bad.push(format!(
            "with {} isolated, {} could not read its own write strongly",
            ri.name,
            name(ctx, other)
        ));
    }
    let good = vec![format!(
        "{} isolated: write refused ({}, {write_ms:.0} ms), strong read refused ({}); {} wrote after {other_ms:.0} ms ({attempts} tries)",
        ri.name,
        write_code.unwrap_or_default(),
        read_code.unwrap_or_default(),
        name(ctx, other)
    )];
    Ok((bad, good, data))
}

/// 12d. An MRSC table refuses transactions.
async fn mrsc_refuses_transactions(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
    if let Some(v) = mrsc_regions(ctx) {
        return Ok(v);
    }
    let t = ctx.strong_table(scope, "mrsc-tx", 0, 1, 2).await?;
    let r0 = &ctx.regions[0];
    let res = r0
        .raw
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&t)
                        .set_item(Some(item(&[("pk", s("tx"))])))
                        .build()?,
                )
                .build(),
        )
        .send()
        .await;
    Ok(match res {
        Err(e) if code(&e) == "ValidationException" => {
            Verdict::pass("TransactWriteItems on a STRONG table: ValidationException".to_string())
        }
        Err(e) => Verdict::fail(format!(
            "TransactWriteItems on a STRONG table refused with {} rather than ValidationException",
            code(&e)
        )),
        Ok(_) => Verdict::fail("TransactWriteItems on a STRONG table succeeded"),
    })
}

/// The smallest round trip of a GetItem to `region` (a missing key), over
/// a few tries: half of it is how late the client hears of what the
/// service did.
async fn rtt(ctx: &Ctx, region: usize, t: &str) -> Result<Duration, ConfError> {
    let mut best = Duration::MAX;
    for _ in 0..10 {
        let started = Instant::now();
        ctx.get(region, t, "rtt-probe", false).await?;
        best = best.min(started.elapsed());
    }
    Ok(best)
}

/// `--measure`: lag per directed pair from single puts, corrected for each
/// endpoint's round trip, plus the reordering samples; fits the profile.
pub async fn measure(ctx: &Ctx) -> (Verdict, Option<String>) {
    let mut scope = Scope::default();
    let result = tokio::time::timeout(ctx.timeout * 4, measure_inner(ctx, &mut scope)).await;
    ctx.heal(&mut scope).await;
    let mut cleanup = String::new();
    for t in &scope.tables {
        if let Some(p) = ctx.drop_table(t).await {
            cleanup = format!(" [cleanup: {p}]");
        }
    }
    match result {
        Ok(Ok((v, text))) => (
            Verdict {
                saw: v.saw + &cleanup,
                ..v
            },
            Some(text),
        ),
        Ok(Err(e)) => (Verdict::fail(format!("measuring: {e}{cleanup}")), None),
        Err(_) => (
            Verdict::fail(format!(
                "measuring took over {} s{cleanup}",
                (ctx.timeout * 4).as_secs()
            )),
            None,
        ),
    }
}

async fn measure_inner(ctx: &Ctx, scope: &mut Scope) -> Result<(Verdict, String), ConfError> {
    if ctx.regions.len() < 2 {
        return Ok((Verdict::skip("needs 2 endpoints"), String::new()));
    }
    let regions = all(ctx);
    let t = ctx
        .global_table(scope, "measure", &regions, TableSpec::default())
        .await?;
    let mut half = Vec::new();
    for &r in &regions {
        half.push(rtt(ctx, r, &t).await? / 2);
    }
    let per_source = (ctx.samples / regions.len()).max(20);
    let mut lags = Vec::new();
    for &a in &regions {
        for i in 0..per_source {
            let pk = format!("m-{a}-{i}");
            ctx.put(a, &t, item(&[("pk", s(&pk))])).await?;
            let acked = Instant::now();
            let seen = join_all(regions.iter().filter(|&&b| b != a).map(|&b| {
                let (t, pk) = (&t, &pk);
                async move {
                    (
                        b,
                        ctx.poll_item(b, t, pk, ctx.visible_within(), |x| x.is_some())
                            .await,
                    )
                }
            }))
            .await;
            for (b, r) in seen {
                if let Some((_, at)) = r? {
                    // Service-side times: the ack left A half an RTT before
                    // it arrived, the sighting was made half an RTT before
                    // its answer arrived.
                    let lag = ms(at.saturating_duration_since(acked)) - ms(half[b]) + ms(half[a]);
                    lags.push(LagSample {
                        from: name(ctx, a).into(),
                        to: name(ctx, b).into(),
                        lag_ms: lag.max(0.0),
                    });
                }
            }
        }
    }
    let mut reorders = ctx.collected.lock().unwrap().reorders.clone();
    if reorders.is_empty() {
        reorders = sample_reordering(ctx, &t, 0, 1, ctx.samples, "mr").await?.0;
    }
    let samples = crate::measure::Samples { lags, reorders };
    let profile = crate::measure::estimate(&samples);
    let on: Vec<String> = ctx
        .regions
        .iter()
        .map(|r| format!("{}={}", r.name, r.url))
        .collect();
    let when = crate::measure::utc_timestamp(now_secs());
    let text = profile.to_toml(&on.join(", "), &when);
    let pairs: Vec<String> = profile
        .pairs
        .iter()
        .map(|p| format!("{} {:.2}", p.pair, p.latency_ms))
        .collect();
    let v = Verdict {
        outcome: Outcome::Pass,
        saw: format!(
            "{} lags over {} pairs; latency ms {}; lane delay {:.3} ms (max {:.3}); order {}",
            samples.lags.len(),
            profile.pairs.len(),
            pairs.join(", "),
            profile.replication_lane_delay_ms,
            profile.replication_lane_delay_max_ms,
            profile.replication_order
        ),
        data: serde_json::to_value(&profile).unwrap_or_default(),
    };
    Ok((v, text))
}

#[cfg(test)]
mod tests {
    use super::observe;

    #[test]
    fn any_step_back_is_recorded_against_the_highest_seen() {
        let (mut hi, mut back) = (0, Vec::new());
        for v in [0, 1, 1, 3, 2, 4, 4, 0, 5] {
            observe(&mut hi, v, &mut back);
        }
        assert_eq!(back, [(3, 2), (4, 0)]);
        assert_eq!(hi, 5);
        let (mut hi, mut back) = (0, Vec::new());
        for v in [0, 0, 1, 2, 2, 3] {
            observe(&mut hi, v, &mut back);
        }
        assert!(back.is_empty(), "repeats and gaps are not steps back");
    }
}
