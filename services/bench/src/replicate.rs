//! `bench replicate`: three regions writing at a fixed rate, with no
//! injected latency and then with one-way latency L on every link.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::Common;
use super::cluster::Cluster;
use super::phase::{Phase, add_cpu, add_rate_p99_cpu, hi_bucket_ms, idle, phase, q_ms};
use super::report::Report;
use super::viewer::{Dashboard, Read, Viewer};

#[derive(Args, Debug)]
pub struct ReplicateArgs {
    #[command(flatten)]
    common: Common,
    /// Writes per second per region (single-item PutItem).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of writing per phase.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Injected one-way latency L in ms for the second phase.
    #[arg(long, default_value_t = 40)]
    latency_ms: u64,
    /// Also run 1k, 5k, 10k and 20k writes/s per region at 0 latency.
    #[arg(long)]
    sweep: bool,
    /// Concurrent clients per region.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// The regions' `repair_interval_ms`: how often each runs an
    /// anti-entropy round against every peer while the writes go on
    /// (0: only after reconnects).
    #[arg(long, default_value_t = 30_000)]
    repair_interval_ms: u64,
    /// The regions' `log_retain_entries` (default: the cluster default).
    #[arg(long)]
    log_retain_entries: Option<u64>,
    /// Also run the same load at 0 latency twice per repetition: without a
    /// dashboard, then with one served against the cluster and one page's
    /// reads of it open, and report both and their ratio.
    #[arg(long)]
    dashboard: bool,
    /// Also run the load over this many items per region, with coalescing
    /// on and off, each on a cluster of its own, at the rate and behind a
    /// backlog: entries shipped against writes (docs/replication.md,
    /// Coalescing).
    #[arg(long)]
    hot_keys: Option<u64>,
}

/// Seconds the cluster is watched doing nothing, before the first phase.
const IDLE_SECS: u64 = 5;

/// The phases at L = 0 and L, then `--sweep`'s and `--dashboard`'s,
/// on three regions; then one region alone and the same phases in log
/// order, each on a cluster of its own.
pub async fn replicate(a: ReplicateArgs, dashboard: Dashboard) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let (rate, secs) = if smoke { (200, 1) } else { (a.rate, a.secs) };
    let lat = a.latency_ms;
    let mut r = Report::new(
        "replicate",
        smoke,
        reps,
        json!({"rate_per_region": rate, "secs": secs, "latency_ms": lat, "clients": a.clients, "sweep": a.sweep, "repair_interval_ms": a.repair_interval_ms, "hot_keys": a.hot_keys}),
    );
    r.machine = a.common.machine()?;
    let dir = a.common.tempdir()?;
    let repair = a.repair_interval_ms;
    let retain = a.log_retain_entries;
    let cluster = Cluster::start_with(3, true, dir.path(), |f| {
        f.repair_interval_ms = repair;
        if let Some(n) = retain {
            f.log_retain_entries = n;
        }
    })
    .await?;
    // (L, region CPU/write, p99) of every partition-order phase, for the
    // comparison with log order.
    let mut partition: Vec<(u64, f64, f64)> = Vec::new();
    let result = async {
        cluster.create_table().await?;
        let quiet = idle(&cluster, if smoke { 1 } else { IDLE_SECS }).await?;
        r.add("idle region CPU", "% of a core", quiet.cpu_percent);
        r.add("idle region wake-ups", "switches/s", quiet.switches_per_sec);
        let mut n = 0;
        for rep in 0..reps {
            for l in [0, lat] {
                cluster.set_latency(l).await?;
                n += 1;
                let p = phase(&cluster, rate, secs, a.clients, &format!("p{n}")).await?;
                partition.push((l, p.cpu.region_per_write_us, q_ms(&p.all, 0.99)));
                latency_figures(&mut r, rep, l, rate, &p);
            }
        }
        if a.sweep && !smoke {
            cluster.set_latency(0).await?;
            for rep in 0..reps {
                for s_rate in [1_000u64, 5_000, 10_000, 20_000] {
                    n += 1;
                    let p = phase(&cluster, s_rate, secs, a.clients, &format!("p{n}")).await?;
                    sweep_figures(&mut r, rep, s_rate, &p);
                }
            }
        }
        if a.dashboard {
            cluster.set_latency(0).await?;
            for _ in 0..reps {
                n += 1;
                let off = phase(&cluster, rate, secs, a.clients, &format!("p{n}")).await?;
                let viewer = Viewer::open(cluster.file().clone(), dashboard).await?;
                n += 1;
                let on = phase(&cluster, rate, secs, a.clients, &format!("p{n}")).await;
                let read = viewer.close().await?;
                let on = on?;
                dashboard_figures(&mut r, &off, &on, read);
            }
        }
        anyhow::Ok(())
    }
    .await;
    cluster.shutdown().await;
    result?;
    let alone = alone(&dir.path().join("alone"), rate, secs, a.clients, reps).await?;
    for p in &alone {
        add_cpu(&mut r, "one region", &p.cpu);
    }
    let log = log_order(&dir.path().join("log"), &a, rate, secs, reps).await?;
    log_order_figures(&mut r, &log, &partition);
    if let Some(keys) = a.hot_keys {
        let root = dir.path().join("hot");
        let pairs = super::hot::pairs(&root, keys.max(1), rate, secs, a.clients, reps).await?;
        super::hot::figures(&mut r, keys.max(1), &pairs);
    }
    targets_and_notes(&mut r, lat, a.dashboard);
    r.finish(&a.common.out)?;
    Ok(())
}

/// A latency phase's rows: rate, CPU, latency percentiles overall and per
/// region pair, and how far p99 is from the L + 10 ms target.
fn latency_figures(r: &mut Report, rep: usize, l: u64, rate: u64, p: &Phase) {
    let tag = format!("L={l}ms");
    r.add(
        &format!("{tag} achieved rate/region"),
        "writes/s",
        p.achieved,
    );
    add_cpu(r, &tag, &p.cpu);
    r.add(&format!("{tag} p50"), "ms", q_ms(&p.all, 0.5));
    r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
    r.add(&format!("{tag} max"), "ms", hi_bucket_ms(&p.all));
    r.add(
        &format!("{tag} max pending"),
        "mutations",
        p.max_pending as f64,
    );
    for (pair, w) in &p.pairs {
        r.add(&format!("{tag} p99 {pair}"), "ms", q_ms(w, 0.99));
    }
    let bound = (l + 10) as f64;
    r.add(
        &format!("{tag} p99 / (L+10ms)"),
        "ratio",
        q_ms(&p.all, 0.99) / bound,
    );
    r.runs.push(json!({
        "rep": rep, "latency_ms": l, "rate": rate, "achieved": p.achieved,
        "max_pending": p.max_pending,
        "pairs": p.pairs.iter().map(|(k, w)| (k.clone(), json!({
            "p50_ms": q_ms(w, 0.5), "p99_ms": q_ms(w, 0.99), "max_ms": hi_bucket_ms(w),
            "count": w.iter().sum::<u64>(),
        }))).collect::<serde_json::Map<_, _>>(),
    }));
}

/// A `--sweep` phase's rows, at `s_rate` writes per second per region.
fn sweep_figures(r: &mut Report, rep: usize, s_rate: u64, p: &Phase) {
    let tag = format!("sweep {}k/s", s_rate / 1000);
    add_rate_p99_cpu(r, &tag, p);
    r.add(
        &format!("{tag} max pending"),
        "mutations",
        p.max_pending as f64,
    );
    r.runs.push(
        json!({"rep": rep, "sweep_rate": s_rate, "achieved": p.achieved,
    "p99_ms": q_ms(&p.all, 0.99), "max_pending": p.max_pending}),
    );
}

/// The log-order phases' rows, each against the partition-order phase of
/// the same repetition and latency: (L, region CPU/write, p99) there.
fn log_order_figures(r: &mut Report, log: &[(u64, Phase)], partition: &[(u64, f64, f64)]) {
    for ((l, p), (pl, p_cpu, p_p99)) in log.iter().zip(partition) {
        debug_assert_eq!(l, pl);
        let tag = format!("log order L={l}ms");
        add_cpu(r, &tag, &p.cpu);
        r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
        r.add(
            &format!("partition / log order region CPU/write L={l}ms"),
            "ratio",
            p_cpu / p.cpu.region_per_write_us,
        );
        r.add(
            &format!("partition - log order p99 L={l}ms"),
            "ms",
            p_p99 - q_ms(&p.all, 0.99),
        );
    }
}

/// The targets the figures are held to, and what the figures mean.
fn targets_and_notes(r: &mut Report, lat: u64, dashboard: bool) {
    r.target(
        "p99 ≤ 10 ms at 0 injected latency",
        "L=0ms p99",
        false,
        10.0,
    );
    r.target(
        &format!("p99 ≤ L + 10 ms = {} ms with L = {lat} ms", lat + 10),
        &format!("L={lat}ms p99"),
        false,
        (lat + 10) as f64,
    );
    if dashboard {
        r.target(
            "with a dashboard open, at least 0.95× the rate without it",
            "dashboard on / off achieved rate",
            true,
            0.95,
        );
        r.notes.push(
            "dashboard on: the dashboard served in this process against the cluster, with one client reading it as the page does (first reads, the event stream of samples and pulses, conflicts when they move, tables and drills every tenth sample); its CPU is in the bench CPU".into(),
        );
    }
    r.target(
        "partition order: region CPU per replicated write within 15 % of log order's",
        "partition / log order region CPU/write L=0ms",
        false,
        1.15,
    );
    r.notes.push(
        "latency percentiles come from the regions' bucketed histograms (bucket upper bounds, ≤ 9 % wide)".into(),
    );
    r.notes.push(
        "the phases without a prefix run in partition order, the regions' default (docs/replication.md, Lanes: 8 partitions a table, lane delays exponential with a 2 ms mean, capped at 20 ms); 'log order' repeats them on a cluster of its own with replication_order = \"log\", after the others, and the ratio and difference pair the two orders' phases of the same repetition and latency".into(),
    );
    r.notes.push(
        "CPU/write: user + system CPU of the regions, and of this process (clients and link proxies), from a phase's first write until nothing is pending, per write accepted; CPU busy: their share of all cores. CPU/write falls as the rate rises (larger groups and batches), so CPU busy near 100 % is the sign of saturation; wake-ups/write: the regions' threads' context switches (voluntary and not, from /proc) over the same span, per write accepted; idle: the regions' CPU and context switches per region over 5 s with the table created and no requests; one region: the same rate and clients against a cluster of one region with no peers, after the three-region phases".into(),
    );
}

/// The three-region phases again, on a cluster of their own in log order
/// (whole requests in commit order): what partition order costs.
async fn log_order(
    root: &std::path::Path,
    a: &ReplicateArgs,
    rate: u64,
    secs: u64,
    reps: usize,
) -> Result<Vec<(u64, Phase)>> {
    std::fs::create_dir_all(root)?;
    let (repair, retain) = (a.repair_interval_ms, a.log_retain_entries);
    let cluster = Cluster::start_with(3, true, root, |f| {
        f.repair_interval_ms = repair;
        if let Some(n) = retain {
            f.log_retain_entries = n;
        }
        f.replication_order = meridian_region::replication::ReplicationOrder::Log;
    })
    .await?;
    let result = async {
        cluster.create_table().await?;
        let mut phases = Vec::new();
        for rep in 0..reps {
            for l in [0, a.latency_ms] {
                cluster.set_latency(l).await?;
                let p = phase(&cluster, rate, secs, a.clients, &format!("l{rep}-{l}")).await?;
                phases.push((l, p));
            }
        }
        anyhow::Ok(phases)
    }
    .await;
    cluster.shutdown().await;
    result
}

/// The same load, rate and clients against one region with no peers: what
/// a write costs before any replication, the floor under the CPU per write
/// of the three-region phases.
async fn alone(
    root: &std::path::Path,
    rate: u64,
    secs: u64,
    clients: usize,
    reps: usize,
) -> Result<Vec<Phase>> {
    std::fs::create_dir_all(root)?;
    let cluster = Cluster::start(1, false, root).await?;
    let result = async {
        cluster.create_table().await?;
        let mut phases = Vec::new();
        for rep in 0..reps {
            phases.push(phase(&cluster, rate, secs, clients, &format!("a{rep}")).await?);
        }
        anyhow::Ok(phases)
    }
    .await;
    cluster.shutdown().await;
    result
}

/// The same load without and with a dashboard open: both phases' rates and
/// CPU, and the ratios.
fn dashboard_figures(r: &mut Report, off: &Phase, on: &Phase, read: Read) {
    for (tag, p) in [("dashboard off", off), ("dashboard on", on)] {
        add_rate_p99_cpu(r, tag, p);
    }
    r.add(
        "dashboard on / off achieved rate",
        "ratio",
        on.achieved / off.achieved,
    );
    let cpu = |p: &Phase| p.cpu.region_per_write_us + p.cpu.bench_per_write_us;
    r.add("dashboard on / off CPU/write", "ratio", cpu(on) / cpu(off));
    r.add("dashboard on: samples read", "events", read.samples as f64);
    r.add("dashboard on: pulses read", "events", read.pulses as f64);
    r.runs.push(json!({
        "dashboard": true, "off_achieved": off.achieved, "on_achieved": on.achieved,
        "samples": read.samples, "pulses": read.pulses, "fetches": read.fetches,
    }));
}
