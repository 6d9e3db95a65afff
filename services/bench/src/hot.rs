//! `bench replicate --hot-keys N`: every region writes over N items of its
//! own, with coalescing on (the default) and off (`replication_coalesce =
//! false`), each on a cluster of its own: how many entries the links ship
//! for the writes they replicate, at the rate, and behind a backlog (one
//! region stopped while the two others write, then restarted), with what
//! each costs (docs/replication.md, *Coalescing*).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::load::{Via, load_keys};
use super::phase::{Phase, add_rate_p99_cpu, link_counts_to, phase_over};
use super::report::Report;
use super::status::wait_drained;

/// One repetition with one setting.
pub(super) struct Hot {
    steady: Phase,
    backlog: Backlog,
}

/// What the two writing regions shipped to the restarted one.
struct Backlog {
    /// Writes accepted while it was down.
    written: u64,
    shipped: u64,
    coalesced: u64,
    /// From its restart until nothing is pending anywhere.
    drain: Duration,
}

/// Both settings, `reps` times each, every repetition's two runs one after
/// the other on clusters of their own under `root`: (on, off) pairs.
pub(super) async fn pairs(
    root: &Path,
    keys: u64,
    rate: u64,
    secs: u64,
    clients: usize,
    reps: usize,
) -> Result<Vec<(Hot, Hot)>> {
    let mut out = Vec::new();
    for rep in 0..reps {
        let run_as = |coalesce: bool, name: &str| {
            let dir = root.join(format!("{name}{rep}"));
            async move { run(&dir, coalesce, keys, rate, secs, clients).await }
        };
        let on = run_as(true, "on").await?;
        let off = run_as(false, "off").await?;
        out.push((on, off));
    }
    Ok(out)
}

/// One run of three regions with `coalesce` as the cluster file's
/// `replication_coalesce`: the steady phase, then the backlog.
async fn run(
    root: &Path,
    coalesce: bool,
    keys: u64,
    rate: u64,
    secs: u64,
    clients: usize,
) -> Result<Hot> {
    std::fs::create_dir_all(root)?;
    let mut cluster = Cluster::start_with(3, true, root, |f| {
        f.replication_coalesce = coalesce;
    })
    .await?;
    let result = async {
        cluster.create_table().await?;
        let steady = phase_over(&cluster, rate, secs, clients, keys, "h").await?;
        let backlog = backlog(&mut cluster, keys, rate, secs, clients).await?;
        anyhow::Ok(Hot { steady, backlog })
    }
    .await;
    cluster.shutdown().await;
    result
}

/// The third region stopped while the two others write `rate` a second
/// each for `secs` over `keys` items, then restarted and drained.
async fn backlog(
    cluster: &mut Cluster,
    keys: u64,
    rate: u64,
    secs: u64,
    clients: usize,
) -> Result<Backlog> {
    let victim = cluster.names[2].clone();
    let senders = [0, 1];
    cluster.stop_region(2).await?;
    let before = link_counts_to(cluster, &senders, Some(&victim)).await?;
    let max = Duration::from_secs(secs + 5);
    let (count, paced) = (rate * secs, Some(rate as f64));
    let c: &Cluster = cluster;
    let (a, b) = tokio::join!(
        load_keys(c, 0, Via::Grpc, clients, count, keys, 1, paced, max, "b-0-"),
        load_keys(c, 1, Via::Grpc, clients, count, keys, 1, paced, max, "b-1-"),
    );
    let written = a?.items + b?.items;
    cluster.restart_region(2).await?;
    let healed = Instant::now();
    wait_drained(cluster, &[0, 1, 2], Duration::from_secs(120)).await?;
    let drain = healed.elapsed();
    let after = link_counts_to(cluster, &senders, Some(&victim)).await?;
    Ok(Backlog {
        written,
        shipped: after.shipped - before.shipped,
        coalesced: after.coalesced - before.coalesced,
        drain,
    })
}

/// The rows of every pair: entries shipped per replicated write at the
/// rate and per write behind the backlog, CPU and latency, drain time, and
/// the ratios of each pair.
pub(super) fn figures(r: &mut Report, keys: u64, pairs: &[(Hot, Hot)]) {
    for (on, off) in pairs {
        for (tag, h) in [("on", on), ("off", off)] {
            let p = &h.steady;
            let tag = format!("hot keys {tag}");
            // Each write is replicated to the two other regions.
            let replicated = (p.writes * 2).max(1) as f64;
            r.add(
                &format!("{tag}: entries shipped / replicated write"),
                "ratio",
                p.shipped as f64 / replicated,
            );
            add_rate_p99_cpu(r, &tag, p);
            let b = &h.backlog;
            r.add(
                &format!("{tag} backlog: entries shipped / written"),
                "ratio",
                b.shipped as f64 / b.written.max(1) as f64,
            );
            r.add(&format!("{tag} backlog drain"), "s", b.drain.as_secs_f64());
        }
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        r.add(
            "hot keys on / off entries shipped",
            "ratio",
            ratio(on.steady.shipped, off.steady.shipped),
        );
        r.add(
            "hot keys on / off backlog entries shipped",
            "ratio",
            ratio(on.backlog.shipped, off.backlog.shipped),
        );
        r.add(
            "hot keys on / off region CPU/write",
            "ratio",
            on.steady.cpu.region_per_write_us / off.steady.cpu.region_per_write_us,
        );
        r.runs.push(json!({
            "hot_keys": keys,
            "on": {"writes": on.steady.writes, "shipped": on.steady.shipped, "coalesced": on.steady.coalesced,
                   "backlog_written": on.backlog.written, "backlog_shipped": on.backlog.shipped,
                   "backlog_coalesced": on.backlog.coalesced, "backlog_drain_s": on.backlog.drain.as_secs_f64()},
            "off": {"writes": off.steady.writes, "shipped": off.steady.shipped, "coalesced": off.steady.coalesced,
                    "backlog_written": off.backlog.written, "backlog_shipped": off.backlog.shipped,
                    "backlog_coalesced": off.backlog.coalesced, "backlog_drain_s": off.backlog.drain.as_secs_f64()},
        }));
    }
    r.target(
        &format!(
            "coalescing on, {keys} hot keys, behind a backlog: fewer entries shipped than written"
        ),
        "hot keys on backlog: entries shipped / written",
        false,
        1.0,
    );
    r.notes.push(format!(
        "hot keys: every region writes over {keys} items of its own, on a cluster of its own with replication_coalesce on (the default) and then off; the steady phase writes at the rate for the phase's seconds (entries shipped per replicated write: each write goes to two peers), then the third region is stopped while the two others write as long again at the rate, and restarted: entries the two shipped to it against the writes, and the time from its restart until nothing is pending"
    ));
}
