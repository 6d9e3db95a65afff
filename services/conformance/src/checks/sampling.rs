//! `--measure`: lags per directed pair and the reordering rate, fitted to
//! a profile (`crate::measure`).

use std::time::{Duration, Instant};

use futures::future::join_all;

use super::common::*;
use super::order::sample_reordering;
use crate::ConfError;
use crate::ctx::{Ctx, Scope, TableSpec, Verdict, ms, s};
use crate::measure::LagSample;
use crate::report::Outcome;

/// The smallest round trip of a GetItem to `region` (a missing key), over
/// a few tries: half of it is how late the client hears of what the
/// service did.
pub(super) async fn rtt(ctx: &Ctx, region: usize, t: &str) -> Result<Duration, ConfError> {
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

pub(super) async fn measure_inner(
    ctx: &Ctx,
    scope: &mut Scope,
) -> Result<(Verdict, String), ConfError> {
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
