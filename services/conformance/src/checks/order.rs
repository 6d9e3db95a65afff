//! Order: one item's versions never go back; writes to different items,
//! and a transaction's items, may become visible out of order.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{Get, Put, TransactGetItem, TransactWriteItem};
use futures::future::join_all;
use serde_json::json;

use super::common::*;
use crate::ConfError;
use crate::ctx::{Ctx, Scope, TableSpec, Verdict, key, ms, n, num, s, sdk};
use crate::measure::ReorderSample;

/// 6. One item's versions never go backwards in another region.
pub(super) async fn per_item_order(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
pub(super) fn observe(highest: &mut i64, v: i64, back: &mut Vec<(i64, i64)>) {
    if v < *highest {
        back.push((*highest, v));
    }
    *highest = (*highest).max(v);
}

/// Commit gaps the pairs cycle through, so the reordering rate is seen at
/// more than one gap (ms of deliberate pause between the two writes).
pub(super) const GAPS_MS: [u64; 6] = [0, 0, 1, 2, 5, 10];

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
pub(super) async fn reordering_between_items(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
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
pub(super) async fn torn_transactions(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
