//! Multi-Region strong consistency: strong reads, write conflicts, an
//! isolated member, and what MRSC refuses.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde_json::json;

use super::common::*;
use crate::ConfError;
use crate::ctx::{Ctx, Scope, Verdict, code, key, ms, n, num, s};

/// Three endpoints whose Regions form one of AWS's Region sets, as
/// DynamoDB makes a STRONG table of no other three (the default cluster's
/// span three sets; regions/local-us-3.toml is one set).
pub(super) fn mrsc_regions(ctx: &Ctx) -> Option<Verdict> {
    need(ctx, 3).or_else(|| {
        let names: Vec<&str> = (0..3).map(|i| name(ctx, i)).collect();
        meridian_core::consistency::check_region_set(&names)
            .err()
            .map(|e| Verdict::skip(format!("{e}")))
    })
}

/// 12a. A strongly consistent read in any replica sees the latest write.
pub(super) async fn mrsc_strong_read(ctx: &Ctx, scope: &mut Scope) -> Result<Verdict, ConfError> {
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
pub(super) async fn mrsc_write_conflict(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
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
pub(super) async fn mrsc_isolated_region(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
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
pub(super) async fn isolate_strong_replica(
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
pub(super) async fn mrsc_refuses_transactions(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<Verdict, ConfError> {
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
