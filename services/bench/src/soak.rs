//! `bench soak`: three regions behind link proxies under an everyday load
//! for minutes to an hour, with a fault every minute, judged on whether
//! they stay correct and flat. The workload, the fault timeline, the
//! oracle of acknowledged writes and the convergence checks are the
//! drill's own ([`meridian_drill::driver::drive`], scenario in
//! [`plan`]); beside it, every region is sampled
//! ([`sample`]) for what would show a leak or a slowdown, and
//! [`verdict`] decides.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use meridian_scenario::html::{Figure, Points};
use meridian_scenario::scenario::Scenario;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::Cluster;
use super::phase::q_ms;
use super::report::Report;

mod faults;
mod plan;
mod sample;
mod verdict;

use faults::SoakFaults;
use plan::{MAX_MINUTES, Plan};
use sample::{Reading, RegionSample, Sample, link_windows, sample_until, to_json};
use verdict::{MAX_GROWTH, MAX_P99_RATIO, Verdict, judge};

/// The soak's table.
const TABLE: &str = "soak";

/// How often each region's TTL reaper passes over the table (a page of
/// items each time), as under simulated drills: expired items go within
/// seconds even from a large table.
const TTL_INTERVAL_MS: u64 = 250;

/// How long the soak's regions keep stream records: a quarter of the run,
/// so that the stream reaches its steady size in the first half and the
/// second half can show whether anything else grows. With DynamoDB's 24
/// hours, every write a region applies adds a record for a day (about 1.7
/// million per region in 10 minutes), and no run shorter than a day could
/// tell that retention from a leak. Tombstones (an hour) and conflict
/// records (7 days) keep their defaults: a 10-minute run leaves about
/// 12,000 of each per region, a few MiB.
fn retention_secs(duration: Duration) -> u64 {
    (duration.as_secs() / 4).max(1)
}

#[derive(Args, Debug)]
pub struct SoakArgs {
    #[command(flatten)]
    common: Common,
    /// Minutes of workload, 1 to 60; a fault every minute but the first
    /// and the last.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Operations per second started in each region (overwrites, deletes,
    /// conditional updates).
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
    /// Keys the writes go to.
    #[arg(long, default_value_t = 50_000)]
    keys: u64,
    /// Requests in flight per region at most.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seed of the workload's choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub async fn soak(a: SoakArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let plan = Plan::new(smoke, a.minutes).map_err(|e| anyhow!(e))?;
    let (rate, keys, concurrency) = if smoke {
        (50, 500, 32)
    } else {
        (a.rate, a.keys, a.concurrency)
    };
    let names: Vec<String> = super::cluster::NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let text = plan.scenario(&names, rate, keys, concurrency, TABLE);
    let scenario = Scenario::parse(&text, &Default::default())
        .map_err(|e| anyhow!("the soak's scenario: {e}"))?;
    let retain = retention_secs(plan.duration);
    let mut r = Report::new(
        "soak",
        smoke,
        1,
        json!({
            "minutes": plan.duration.as_secs_f64() / 60.0, "rate_per_region": rate, "keys": keys,
            "concurrency": concurrency, "seed": a.seed, "fault_period_s": plan.period.as_secs_f64(),
            "fault_lasts_s": plan.fault_for.as_secs_f64(), "sample_s": plan.sample.as_secs_f64(),
            "ttl_interval_ms": TTL_INTERVAL_MS, "max_minutes": MAX_MINUTES,
            "stream_retain_secs": retain,
        }),
    );
    r.machine = a.common.machine()?;
    let dir = a.common.tempdir()?;
    let cluster = start_cluster(dir.path(), retain).await?;
    let result = run(&cluster, &scenario, &plan, a.seed).await;
    cluster.shutdown().await;
    let (drill, samples) = result?;

    let per_period = (plan.period.as_millis() / plan.sample.as_millis()) as usize;
    let duration_ms = plan.duration.as_millis() as u64;
    let (verdict, figures) = judge(&names, &drill, &samples, per_period, duration_ms, smoke);
    add_metrics(&mut r, &drill, &samples, &figures, plan.duration);
    r.target(
        &format!(
            "RSS growth over the second half < {:.0} %",
            MAX_GROWTH * 100.0
        ),
        "RSS growth over the second half (worst region)",
        false,
        MAX_GROWTH,
    );
    r.target(
        &format!("p99 last period ≤ {MAX_P99_RATIO}× the first"),
        "replication p99, last / first period",
        false,
        MAX_P99_RATIO,
    );
    r.notes.push(format!(
        "stream records are kept {retain} s (a quarter of the run, against DynamoDB's 24 h), so that the stream reaches its steady size in the first half"
    ));
    r.notes.push(format!(
        "a fault every {} s but in the first and last period, each undone {} s later: latency 40 ms on a link, a partition of a link, a crash and restart of a region, a clock skew of +250 ms; TTL reaper every {TTL_INTERVAL_MS} ms",
        plan.period.as_secs(),
        plan.fault_for.as_secs()
    ));
    if smoke {
        r.notes.push("--smoke: growth and latency are reported, not judged; a few seconds cannot show either".into());
    }
    r.runs.push(json!({
        "samples": to_json(&names, &samples),
        "verdict": verdict.to_json(),
        "figures": figures,
        "drill": {
            "verdict": drill.verdict,
            "workload": drill.workload,
            "events": drill.events,
            "convergence": drill.convergence,
        },
    }));
    let json_path = r.finish(&a.common.out)?;
    let html = json_path.with_extension("html");
    std::fs::write(&html, plot(&names, &drill, &samples))
        .with_context(|| format!("writing {}", html.display()))?;
    println!("wrote {}", html.display());
    print_verdict(&verdict);
    if !verdict.passed() {
        bail!("the soak failed: see the verdict above");
    }
    println!("the soak passed");
    Ok(())
}

/// Drives the drill and samples the regions beside it until its workload
/// ends.
async fn run(
    cluster: &Cluster,
    scenario: &Scenario,
    plan: &Plan,
    seed: u64,
) -> Result<(meridian_scenario::report::Report, Vec<Sample>)> {
    let exec = cluster
        .executor()
        .context("the soak's cluster has no link proxies")?;
    let mut faults = SoakFaults {
        cluster,
        exec,
        table: TABLE.into(),
    };
    let targets = cluster.targets();
    let start = Instant::now();
    let total = plan.duration.as_secs();
    let mut shown = 0;
    let mut progress = |p: &meridian_drill::Progress| {
        // A line every tenth of the run, not a redrawn bar: logs stay readable.
        let s = p.elapsed.as_secs();
        if p.phase == "workload" && s >= shown {
            eprintln!(
                "soak: {s}/{total} s, acked {}, failed {}, pending {}{}",
                p.acked,
                p.failed,
                p.pending,
                p.last_event
                    .as_deref()
                    .map(|e| format!(", last: {e}"))
                    .unwrap_or_default()
            );
            shown = s + (total / 10).max(1);
        }
    };
    let drill = meridian_drill::driver::drive(
        scenario,
        seed,
        meridian_drill::Mode::Live,
        &targets,
        &mut faults,
        &mut progress,
    );
    let sampler = sample_until(cluster, TABLE, start, plan.sample, plan.samples());
    let (drill, samples) = tokio::join!(drill, sampler);
    Ok((drill?, samples))
}

const MIB: f64 = 1024.0 * 1024.0;

/// The table's figures: the workload, and per resource its worst region.
fn add_metrics(
    r: &mut Report,
    drill: &meridian_scenario::report::Report,
    samples: &[Sample],
    figures: &serde_json::Value,
    duration: Duration,
) {
    let w = &drill.workload;
    r.add("requests started", "requests", w.attempted as f64);
    r.add("writes acknowledged", "writes", w.acked as f64);
    r.add("requests failed", "requests", w.failed as f64);
    r.add(
        "acknowledged rate per region",
        "writes/s",
        w.acked as f64 / 3.0 / duration.as_secs_f64(),
    );
    let fig = |k: &str| figures[k].as_f64().unwrap_or(f64::NAN);
    r.add(
        "RSS growth over the second half (worst region)",
        "ratio",
        fig("rss growth max"),
    );
    r.add(
        "fds growth over the second half (worst region)",
        "ratio",
        fig("fds growth max"),
    );
    r.add(
        "disk growth over the second half (worst region)",
        "ratio",
        fig("disk growth max"),
    );
    r.add(
        "replication p99, first period",
        "ms",
        fig("p99 first period ms"),
    );
    r.add(
        "replication p99, last period",
        "ms",
        fig("p99 last period ms"),
    );
    r.add(
        "replication p99, last / first period",
        "ratio",
        fig("p99 last / first"),
    );
    let end = |get: Reading| {
        samples.last().map_or(f64::NAN, |s| {
            s.regions
                .iter()
                .filter_map(get)
                .max()
                .map_or(f64::NAN, |v| v as f64)
        })
    };
    r.add(
        "RSS at the end (largest region)",
        "MiB",
        end(|x| x.rss_bytes) / MIB,
    );
    r.add("open fds at the end (most)", "fds", end(|x| x.open_fds));
    r.add(
        "data directory at the end (largest)",
        "MiB",
        end(|x| Some(x.disk_bytes)) / MIB,
    );
    r.add("log rows at the end (most)", "entries", end(|x| x.log_rows));
    r.add(
        "tombstones at the end (most)",
        "keys",
        end(|x| x.tombstones),
    );
    r.add(
        "conflicts kept at the end (most)",
        "conflicts",
        end(|x| x.conflicts),
    );
}

/// The soak's three regions, each with a metrics port and a DynamoDB
/// endpoint (a region without a port here reads as down in every sample),
/// the TTL reaper's interval and the stream's retention `retain`.
async fn start_cluster(dir: &std::path::Path, retain: u64) -> Result<Cluster> {
    Cluster::start_with(3, true, dir, |f| {
        f.ttl_interval_ms = TTL_INTERVAL_MS;
        f.stream_retain_secs = retain;
        let port = || {
            meridian_cluster::ports::free_port()
                .ok()
                .map(|p| std::net::SocketAddr::from(([127, 0, 0, 1], p)))
        };
        for region in &mut f.regions {
            region.metrics = port();
            region.dynamo = port();
        }
    })
    .await
}

/// Each check of the verdict, judged or not, with what it found.
fn print_verdict(verdict: &Verdict) {
    println!("\nsoak verdict:");
    for c in &verdict.checks {
        let mark = match (c.judged, c.ok) {
            (false, _) => "NOT JUDGED",
            (true, true) => "PASS",
            (true, false) => "FAIL",
        };
        println!("  {mark:<10} {}: {}", c.what, c.detail);
    }
}

/// One line per link: its name and its points.
type LinkLines = Vec<(String, Points)>;

/// Per link, its pending mutations at each sample and its replication
/// p99 over each sample interval.
fn link_series(names: &[String], samples: &[Sample]) -> (LinkLines, LinkLines) {
    let mut links: std::collections::BTreeMap<String, (Points, Points)> = Default::default();
    for (k, s) in samples.iter().enumerate() {
        for (i, r) in s.regions.iter().enumerate() {
            for (peer, p) in &r.pending {
                let e = links.entry(format!("{} → {peer}", names[i])).or_default();
                e.0.push((s.t_ms, Some(*p as f64)));
            }
        }
        if k > 0 {
            for (link, w) in link_windows(names, &samples[k - 1], s) {
                let p99 = q_ms(&w, 0.99);
                links
                    .entry(link)
                    .or_default()
                    .1
                    .push((s.t_ms, p99.is_finite().then_some(p99)));
            }
        }
    }
    links
        .into_iter()
        .map(|(l, (p, q))| ((l.clone(), p), (l, q)))
        .unzip()
}

/// The samples drawn, one plot per figure, with the fault timeline.
fn plot(names: &[String], drill: &meridian_scenario::report::Report, samples: &[Sample]) -> String {
    let per_region = |get: &dyn Fn(&RegionSample) -> Option<f64>| -> Vec<(String, Points)> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let points = samples
                    .iter()
                    .map(|s| (s.t_ms, s.regions.get(i).and_then(get)))
                    .collect();
                (name.clone(), points)
            })
            .collect()
    };
    let fig = |heading: &str, y_label: &str, explain: &str, lines| Figure {
        heading: heading.into(),
        explain: explain.into(),
        y_label: y_label.into(),
        lines,
        log_if_wide: false,
    };
    let (pending, p99) = link_series(names, samples);
    let figures = [
        fig(
            "RSS",
            "MiB",
            "Each region's resident memory, from its /metrics (process_resident_memory_bytes). A gap: the region was down.",
            per_region(&|r| r.rss_bytes.map(|b| b as f64 / MIB)),
        ),
        fig(
            "Open file descriptors",
            "fds",
            "From each region's /metrics (process_open_fds).",
            per_region(&|r| r.open_fds.map(|b| b as f64)),
        ),
        fig(
            "Store file",
            "MiB",
            "The region's SQLite store file.",
            per_region(&|r| Some(r.store_bytes as f64 / MIB)),
        ),
        fig(
            "WAL",
            "MiB",
            "The store's write-ahead log file.",
            per_region(&|r| Some(r.wal_bytes as f64 / MIB)),
        ),
        fig(
            "Log rows",
            "entries",
            "Replication log entries kept (Status: log_head − log_start).",
            per_region(&|r| r.log_rows.map(|v| v as f64)),
        ),
        fig(
            "Tombstones",
            "keys",
            "Tombstones among the table's heads, read from the store file.",
            per_region(&|r| r.tombstones.map(|v| v as f64)),
        ),
        fig(
            "Conflicts kept",
            "conflicts",
            "Conflicts recorded, as Status counts them.",
            per_region(&|r| r.conflicts.map(|v| v as f64)),
        ),
        fig(
            "Pending per link",
            "mutations",
            "Mutations of the origin's log the receiver has not applied.",
            pending,
        ),
        Figure {
            log_if_wide: true,
            ..fig(
                "Replication p99 per link",
                "ms",
                "Over the mutations applied in each sample interval.",
                p99,
            )
        },
    ];
    meridian_scenario::html::figures(
        "meridian bench soak",
        &format!(
            "{} s of workload, sampled every {} s; numbered markers are the faults.",
            samples.last().map_or(0, |s| s.t_ms / 1000),
            samples.get(1).map_or(0, |s| s.t_ms / 1000)
        ),
        &figures,
        &drill.events,
    )
}
