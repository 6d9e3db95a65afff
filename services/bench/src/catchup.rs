//! `bench catchup`: one region stopped while the others write a backlog,
//! restarted, and how fast the backlog drains.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::Cluster;
use super::load::load;
use super::report::Report;
use super::status::{snapshot, wait_drained};

#[derive(Args, Debug)]
pub struct CatchupArgs {
    #[command(flatten)]
    common: Common,
    /// Mutations written while one region is down (split over the others).
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Concurrent BatchWrite clients per writing region.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time limit for writing the backlog and for draining it, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

/// Three regions; the third stopped while the other two write a backlog,
/// then restarted, and timed until neither holds anything for it.
pub async fn catchup(a: CatchupArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let backlog = if smoke { 2_000 } else { a.backlog };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "catchup",
        smoke,
        reps,
        json!({"backlog": backlog, "clients": a.clients, "batch": 25, "max_secs": max.as_secs()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let mut cluster = Cluster::start(3, false, dir.path()).await?;
        let result = async {
            cluster.create_table().await?;
            wait_drained(&cluster, &[0, 1, 2], Duration::from_secs(30)).await?;
            cluster.stop_region(2).await?;
            let victim = cluster.names[2].clone();
            let t = Instant::now();
            let half = backlog / 2;
            let (l0, l1) = tokio::join!(
                load(&cluster, 0, a.clients, half, 25, None, max, "c0-"),
                load(&cluster, 1, a.clients, backlog - half, 25, None, max, "c1-"),
            );
            let written = l0?.items + l1?.items;
            let write_rate = written as f64 / t.elapsed().as_secs_f64();
            let at_heal = snapshot(&cluster, &[0, 1]).await?;
            let pend: Vec<u64> = (0..2)
                .map(|i| at_heal[i].get(&victim).map_or(0, |x| x.0))
                .collect();
            cluster.restart_region(2).await?;
            let (first, done) = watch_drain(&cluster, &victim, &pend, max).await?;
            anyhow::Ok((written, write_rate, pend, first, done))
        }
        .await;
        cluster.shutdown().await;
        let (written, write_rate, pend, first, done) = result?;
        figures(&mut r, rep, written, write_rate, &pend, first, done);
    }
    r.target(
        "≥ 100,000 mutations/s per link",
        "drain rate per link (min)",
        true,
        100_000.0,
    );
    r.notes.push("drain time runs from the restarted region listening to both senders reporting 0 pending; it includes the senders' reconnect".into());
    r.finish(&a.common.out)?;
    Ok(())
}

/// From the restart of `victim` until each of the two senders holds
/// nothing for it: when each first sent some of its backlog (`pend`),
/// and when each was drained.
async fn watch_drain(
    cluster: &Cluster,
    victim: &str,
    pend: &[u64],
    max: Duration,
) -> Result<([Option<Duration>; 2], [Option<Duration>; 2])> {
    let healed = Instant::now();
    let mut first: [Option<Duration>; 2] = [None, None];
    let mut done: [Option<Duration>; 2] = [None, None];
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    while done.iter().any(Option::is_none) {
        tick.tick().await;
        if healed.elapsed() >= max {
            bail!("backlog did not drain within {} s", max.as_secs());
        }
        let s = snapshot(cluster, &[0, 1]).await?;
        for i in 0..2 {
            let p = s[i].get(victim).map_or(0, |x| x.0);
            if first[i].is_none() && p < pend[i] {
                first[i] = Some(healed.elapsed());
            }
            if done[i].is_none() && p == 0 {
                done[i] = Some(healed.elapsed());
                first[i].get_or_insert(healed.elapsed());
            }
        }
    }
    Ok((first, done))
}

/// One repetition's rows: the drain's rates, overall and per link, against
/// the rate the backlog was written at.
fn figures(
    r: &mut Report,
    rep: usize,
    written: u64,
    write_rate: f64,
    pend: &[u64],
    first: [Option<Duration>; 2],
    done: [Option<Duration>; 2],
) {
    let done: Vec<Duration> = done.iter().map(|d| d.expect("drained")).collect();
    let first: Vec<Duration> = first.iter().map(|d| d.expect("drained")).collect();
    let drain = done.iter().max().copied().unwrap_or_default();
    let total: u64 = pend.iter().sum();
    let link_rates: Vec<f64> = (0..2)
        .map(|i| pend[i] as f64 / done[i].as_secs_f64().max(1e-6))
        .collect();
    let link_rates_flowing: Vec<f64> = (0..2)
        .map(|i| {
            // When one poll saw the whole drain, no flowing window exists.
            let flowing = done[i] - first[i];
            let span = if flowing.is_zero() { done[i] } else { flowing };
            pend[i] as f64 / span.as_secs_f64().max(1e-6)
        })
        .collect();
    r.add("backlog write rate (baseline)", "mutations/s", write_rate);
    r.add("drain time (restart → 0 pending)", "s", drain.as_secs_f64());
    r.add(
        "drain rate, all links",
        "mutations/s",
        total as f64 / drain.as_secs_f64().max(1e-6),
    );
    r.add(
        "drain rate per link (min)",
        "mutations/s",
        link_rates.iter().copied().fold(f64::INFINITY, f64::min),
    );
    r.add(
        "drain rate per link, from first progress (min)",
        "mutations/s",
        link_rates_flowing
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
    );
    r.add(
        "time to first progress (max)",
        "s",
        first
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
    );
    r.add(
        "drain / write rate",
        "ratio",
        total as f64 / drain.as_secs_f64().max(1e-6) / write_rate,
    );
    r.runs.push(json!({
        "rep": rep, "written": written, "pending_at_heal": pend,
        "first_progress_s": first.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
        "drained_s": done.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
    }));
}
