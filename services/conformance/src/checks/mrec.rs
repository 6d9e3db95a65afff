//! Multi-Region eventual consistency: replication, last writer wins on
//! the whole item, local conditions, stale reads and lost increments.

use std::time::Instant;

use aws_sdk_dynamodb::types::ReturnValue;
use futures::future::join_all;
use serde_json::json;

use super::common::*;
use crate::ConfError;
use crate::ctx::{Ctx, Item, Scope, TableSpec, Verdict, code, key, ms, n, num, s, sdk, show};
use crate::measure::LagSample;
use meridian_layout::link_name;

/// 1. A write in one region appears in every other.
pub(super) async fn replication(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
                    lags.push((link_name(name(ctx, a), name(ctx, b)), lag));
                    ctx.collected.lock().unwrap().lags.push(LagSample {
                        from: name(ctx, a).into(),
                        to: name(ctx, b).into(),
                        lag_ms: lag,
                    });
                }
                None => missing.push(link_name(name(ctx, a), name(ctx, b))),
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
pub(super) async fn set_attr(
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
pub(super) async fn lww_whole_item(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
pub(super) async fn put_if_absent(
    ctx: &Ctx,
    region: usize,
    t: &str,
    pk: &str,
) -> Result<bool, ConfError> {
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
pub(super) async fn conditions_local(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
pub(super) async fn stale_consistent_read(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
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
pub(super) async fn add_one(ctx: &Ctx, region: usize, t: &str, pk: &str) -> Result<(), ConfError> {
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
pub(super) async fn lost_increments(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
