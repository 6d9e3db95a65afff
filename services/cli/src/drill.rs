//! `meridian drill run <scenario>`: run a scenario of workload and faults
//! against real region processes (or, with `--sim`, under deterministic
//! simulation) and write `report.json` and `report.html`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use meridian_drill::Progress;
use meridian_scenario::report::Report;
use meridian_scenario::scenario::Scenario;

mod progress;
pub use progress::PROGRESS_FILE;
use progress::ProgressLog;

/// Where a drill's report goes unless told: `drill-out/<scenario name>`,
/// under the directory meridian runs in.
pub const DRILL_OUT: &str = "drill-out";

#[derive(Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub command: DrillCommand,
}

#[derive(Subcommand)]
// `--help` text (clap), plain text rather than rustdoc.
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub enum DrillCommand {
    /// Run a scenario file and write report.json and report.html.
    Run {
        /// A scenario file, e.g. simulations/partition-heal.toml; or an AWS
        /// FIS experiment template (.json), whose pause-replication and wait
        /// actions become the timeline (docs/drills.md).
        scenario: PathBuf,
        /// With an FIS template: every duration divided by this (1 to
        /// 3600), so a 12-minute pause at 60 lasts 12 s.
        #[arg(long, default_value_t = 1)]
        time_scale: u32,
        /// With an FIS template: a TOML file whose [[alarm]] tables (its
        /// other tables left out, so a cluster file serves) declare the
        /// alarms the template's stopConditions name (docs/drills.md).
        #[arg(long)]
        alarms: Option<PathBuf>,
        /// Where the report, the cluster file, logs and data go
        /// (default: drill-out/<scenario name>). Its data is wiped first.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run under deterministic simulation (turmoil, virtual time)
        /// instead of against real processes.
        #[arg(long)]
        sim: bool,
        /// Seed of the workload (and of the simulation with --sim).
        /// Default: random live, 1 with --sim.
        #[arg(long)]
        seed: Option<u64>,
        /// No progress bar, and no line per alarm changing state,
        /// invariant violated or objective failed as the drill runs.
        #[arg(long)]
        quiet: bool,
        /// Print the summary as one JSON document on stdout; progress and
        /// notes go to stderr.
        #[arg(long)]
        json: bool,
        /// Drive regions already running, reached through this cluster
        /// file, instead of starting regions: a cluster under `meridian up`
        /// (its control API supervises the regions; crashes, restarts,
        /// wipes and copies go through it, as `meridian net` does), or else
        /// a Docker Swarm stack (regions/local-3.toml with
        /// regions/stack.sh), whose crashes scale the region's service.
        /// See docs/drills.md and docs/containers.md.
        #[arg(long, conflicts_with = "sim")]
        cluster: Option<PathBuf>,
        /// The stack's name, with --cluster when it is a Swarm stack.
        #[arg(long, requires = "cluster", default_value = "meridian")]
        stack: String,
    },
    /// Simulate the random fault timeline of one seed, as the test suite's
    /// seeded sweep does; a failing seed is replayed with this.
    Random {
        /// The seed: the same seed gives the same scenario and the same run.
        #[arg(long)]
        seed: u64,
        /// Where the report goes [default: drill-out/random-<seed>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the summary as one JSON document on stdout; notes go to stderr.
        #[arg(long)]
        json: bool,
    },
    /// Simulate and check the random fault timelines of many seeds, in
    /// parallel, with a summary (the seeded sweep); a failing seed is
    /// replayed alone with `drill random --seed N`.
    Sweep {
        /// How many seeds, 1 to 1,000,000.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed; the sweep runs `first` to `first + seeds - 1`.
        #[arg(long, default_value_t = 1)]
        first: u64,
        /// Simulations at once, 1 to 256 [default: the machine's cores].
        #[arg(long)]
        jobs: Option<usize>,
        /// Print the summary as one JSON document on stdout; progress goes
        /// to stderr.
        #[arg(long)]
        json: bool,
    },
}

/// How one drill runs and reports.
struct RunOpts {
    sim: bool,
    seed: Option<u64>,
    quiet: bool,
    json: bool,
    /// Running regions to drive: their cluster file, and a Swarm stack's
    /// name should they be one.
    attached: Option<(PathBuf, String)>,
    /// The drill's progress file, once its output directory is made.
    log: std::sync::Arc<ProgressLog>,
}

impl RunOpts {
    /// Notes for a person: on stdout, or on stderr when stdout carries JSON.
    fn note(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}

pub async fn run(args: DrillArgs) -> Result<()> {
    match args.command {
        DrillCommand::Random { seed, out, json } => {
            let scenario = meridian_drill::random::scenario(seed);
            let out = out.unwrap_or_else(|| PathBuf::from(DRILL_OUT).join(&scenario.name));
            let opts = RunOpts {
                sim: true,
                seed: Some(seed),
                quiet: true,
                json,
                attached: None,
                log: Default::default(),
            };
            run_loaded(scenario, &format!("drill random --seed {seed}"), out, opts).await
        }
        DrillCommand::Sweep {
            seeds,
            first,
            jobs,
            json,
        } => sweep(seeds, first, jobs, json).await,
        DrillCommand::Run {
            scenario,
            time_scale,
            alarms,
            out,
            sim,
            seed,
            quiet,
            json,
            cluster,
            stack,
        } => {
            let opts = RunOpts {
                sim,
                seed,
                quiet,
                json,
                attached: cluster.map(|c| (c, stack)),
                log: Default::default(),
            };
            let template = Template { time_scale, alarms };
            run_scenario(&scenario, template, out, opts).await
        }
    }
}

/// What applies to an FIS experiment template only.
struct Template {
    time_scale: u32,
    /// The file whose `[[alarm]]` tables the stop conditions name.
    alarms: Option<PathBuf>,
}

async fn run_scenario(path: &Path, t: Template, out: Option<PathBuf>, opts: RunOpts) -> Result<()> {
    let time_scale = t.time_scale;
    let template = path.extension().is_some_and(|e| e == "json");
    if !template && time_scale != 1 {
        anyhow::bail!(
            "--time-scale: applies to an FIS experiment template (.json), not to a scenario file"
        );
    }
    if !template && t.alarms.is_some() {
        anyhow::bail!(
            "--alarms: applies to an FIS experiment template (.json); a scenario file declares its own [[alarm]] tables"
        );
    }
    let (scenario, written) = if template {
        let (s, toml) = fis_scenario(path, &t, &opts)?;
        (s, Some(toml))
    } else {
        (Scenario::load(path)?, None)
    };
    let scenario = meridian_drill::profile::apply(scenario)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let out = out.unwrap_or_else(|| PathBuf::from(DRILL_OUT).join(&scenario.name));
    if let Some(toml) = written {
        // What the template became, to read or to edit and run as a file.
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(out.join("scenario.toml"), toml)
            .with_context(|| format!("writing {}", out.join("scenario.toml").display()))?;
    }
    let mut replay = match time_scale {
        1 => format!("drill run {}", path.display()),
        n => format!("drill run {} --time-scale {n}", path.display()),
    };
    if let Some(a) = &t.alarms {
        replay.push_str(&format!(" --alarms {}", a.display()));
    }
    run_loaded(scenario, &replay, out, opts).await
}

/// The scenario of an FIS experiment template (`meridian_scenario::fis`),
/// on the regions of `--cluster` or else the default cluster's, and its
/// scenario-file text.
fn fis_scenario(path: &Path, t: &Template, opts: &RunOpts) -> Result<(Scenario, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let alarms = match &t.alarms {
        Some(a) => std::fs::read_to_string(a)
            .with_context(|| format!("--alarms: reading {}", a.display()))?,
        None => String::new(),
    };
    let regions: Vec<String> = match &opts.attached {
        Some((cluster, _)) => meridian_region::ClusterFile::load(cluster)
            .map_err(|e| anyhow::anyhow!("{}: {e}", cluster.display()))?
            .regions
            .iter()
            .map(|r| r.name.clone())
            .collect(),
        None => meridian_scenario::fis::DEFAULT_REGIONS
            .iter()
            .map(|r| r.to_string())
            .collect(),
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "template".into());
    // Against a running cluster, as in a game day, the template's table is
    // the application's and so is the load.
    let external = opts.attached.is_some();
    let drill = meridian_scenario::fis::scenario_with_alarms(
        &text,
        &stem,
        &regions,
        t.time_scale,
        external,
        &alarms,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let scenario = Scenario::parse(&drill.toml, &Default::default())
        .map_err(|e| anyhow::anyhow!("{}: the scenario it makes: {e}", path.display()))?;
    Ok((scenario, drill.toml))
}

/// Runs a drill and writes its report. A checker that fails is a
/// [`crate::Refusal::CheckerFailed`] (exit 4); a drill that could not run is
/// any other error (exit 1).
async fn run_loaded(
    scenario: Scenario,
    replay: &str,
    out: PathBuf,
    mut opts: RunOpts,
) -> Result<()> {
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    opts.log = std::sync::Arc::new(ProgressLog::create(&out));
    let made = drill_report(scenario, replay, &out, &opts)
        .await
        .and_then(|report| write_report(&report, &out).map(|()| report));
    opts.log.write(&progress::end_line(made.as_ref()));
    let report = made?;
    if opts.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary_json(&report, &out))?
        );
    } else {
        print_summary(&report, &out);
    }
    if !report.verdict.ok {
        let first = report.verdict.problems.first().cloned().unwrap_or_default();
        return Err(crate::Refusal::CheckerFailed(first).into());
    }
    Ok(())
}

/// Runs a drill, simulated or live, its progress written as it goes.
async fn drill_report(
    scenario: Scenario,
    replay: &str,
    out: &Path,
    opts: &RunOpts,
) -> Result<Report> {
    if scenario.workload.external && opts.attached.is_none() {
        anyhow::bail!(
            "{}: workload.external = true leaves the load to your application, so the drill runs against the regions it uses: add --cluster FILE (the cluster file `meridian up` runs)",
            scenario.name
        );
    }
    if opts.sim {
        return run_sim(&scenario, replay, out, opts).await;
    }
    let seed = opts.seed.unwrap_or_else(rand_seed);
    opts.note(&format!(
        "drill {}: live, {} regions, {} s of workload, seed {seed}",
        scenario.name,
        scenario.regions.len(),
        scenario.duration.as_secs_f64()
    ));
    opts.log
        .write(&progress::start_line(&scenario, "live", seed));
    Ok(match meridian_drill::compare::sides(&scenario) {
        // A comparison: a cluster of its own for each run, one after
        // the other.
        Some(_) if opts.attached.is_some() => anyhow::bail!(
            "{} compares two runs, each on a cluster of its own, and a running cluster is one cluster: run it without --cluster",
            scenario.name
        ),
        Some([first, second]) => {
            let [a, b] = meridian_drill::compare::side_names(&scenario);
            let one = run_live(&first, seed, &out.join(a), opts).await?;
            let two = run_live(&second, seed, &out.join(b), opts).await?;
            meridian_drill::compare::combine(&scenario, one, two)
        }
        None => run_live(&scenario, seed, out, opts).await?,
    })
}

/// A simulated drill, on a thread of its own: how to replay it, and how
/// much faster than real time it ran.
async fn run_sim(scenario: &Scenario, replay: &str, out: &Path, opts: &RunOpts) -> Result<Report> {
    let started = std::time::Instant::now();
    let seed = opts.seed.unwrap_or(1);
    let replay = if replay.contains("--seed") {
        format!("meridian {replay}")
    } else {
        format!("meridian {replay} --sim --seed {seed}")
    };
    opts.note(&format!(
        "drill {}: simulated, seed {seed} (replay: {replay})",
        scenario.name
    ));
    let dir = out.join("sim-data");
    let scenario2 = scenario.clone();
    let log = opts.log.clone();
    log.write(&progress::start_line(scenario, "sim", seed));
    let mut bar = ProgressBar::new(opts.quiet);
    let report = tokio::task::spawn_blocking(move || {
        let watched = meridian_drill::sim::run_watched(&scenario2, seed, &dir, &mut |p| {
            bar.show(p);
            log.progress(p)
        });
        bar.finish();
        watched
    })
    .await
    .context("the simulation thread failed")??;
    let wall = started.elapsed();
    let simulated = scenario.duration
        + std::time::Duration::from_millis(report.convergence.after_workload_ms.unwrap_or(0));
    opts.note(&format!(
        "simulated {:.1} s in {:.1} s of real time: {:.0}× faster than real time",
        simulated.as_secs_f64(),
        wall.as_secs_f64(),
        simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    ));
    Ok(report)
}

/// One live drill: its regions started under `out`, driven, stopped.
async fn run_live(scenario: &Scenario, seed: u64, out: &Path, opts: &RunOpts) -> Result<Report> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if let Some((cluster, stack)) = &opts.attached {
        return run_attached(scenario, seed, out, opts, cluster, stack).await;
    }
    let exe = std::env::current_exe().context("locating the meridian binary")?;
    let cluster = meridian_drill::live::LiveCluster::start(scenario, &exe, out).await?;
    opts.note(&format!(
        "regions up; watch with: meridian status --config {0}  (or meridian net show --config {0})",
        cluster.cluster_file().display()
    ));
    let targets = cluster.targets()?;
    let mut cluster = cluster;
    let result = drive_live(scenario, seed, &targets, &mut cluster, opts).await;
    cluster.stop().await;
    Ok(result?)
}

/// Drives a live drill against `targets` with `faults`, showing progress
/// unless `--quiet`: the same for regions this command started and for a
/// running cluster.
async fn drive_live(
    scenario: &Scenario,
    seed: u64,
    targets: &[meridian_drill::RegionTarget],
    faults: &mut impl meridian_drill::Faults,
    opts: &RunOpts,
) -> Result<Report, meridian_drill::driver::DriveError> {
    let mut bar = ProgressBar::new(opts.quiet);
    let result = meridian_drill::driver::drive(
        scenario,
        seed,
        meridian_drill::Mode::Live,
        targets,
        faults,
        &mut |p| {
            bar.show(p);
            opts.log.progress(p);
        },
    )
    .await;
    bar.finish();
    result
}

/// One live drill against running regions (`meridian up`'s or a Swarm
/// stack's): driven, the faults it left cleared.
async fn run_attached(
    scenario: &Scenario,
    seed: u64,
    out: &Path,
    opts: &RunOpts,
    cluster: &Path,
    stack: &str,
) -> Result<Report> {
    let mut regions = meridian_drill::attached::Attached::start(scenario, cluster, stack, out)
        .await
        .map_err(anyhow::Error::msg)?;
    opts.note(&format!(
        "{} ready; watch with: meridian net show --config {}",
        regions.host(),
        cluster.display()
    ));
    let targets = regions.targets().map_err(anyhow::Error::msg)?;
    let result = drive_live(scenario, seed, &targets, &mut regions, opts).await;
    regions.stop(&scenario.workload.table).await;
    Ok(result?)
}

/// The summary of `drill run --json`: the figures the text summary prints,
/// with the verdict and where the full report is.
fn summary_json(r: &Report, out: &Path) -> serde_json::Value {
    let links: Vec<_> = r
        .links
        .iter()
        .map(|l| {
            serde_json::json!({
                "from": l.from,
                "to": l.to,
                "p50_ms": l.latency.p50_ms,
                "p99_ms": l.latency.p99_ms,
                "max_ms": l.latency.max_ms,
                "applied": l.latency.count,
                "max_pending": l.max_pending,
            })
        })
        .collect();
    let heals: Vec<_> = r
        .heals
        .iter()
        .map(|h| {
            serde_json::json!({
                "at_ms": h.at_ms,
                "label": h.label,
                "backlog": h.backlog,
                "drain_ms": h.drain_ms,
            })
        })
        .collect();
    let v = &r.verdict;
    serde_json::json!({
        "scenario": r.scenario,
        "mode": r.mode,
        "seed": r.seed,
        "links": links,
        "heals": heals,
        // The disasters' RPO (writes lost for good) and RTO, as the report has them.
        "disasters": r.disasters,
        // Each restore to a mark, compared with the table at the mark.
        "restores": r.restores,
        // Each replica added during the drill, its fill and when it was ACTIVE.
        "joins": r.joins,
        // Against a cluster with a failover endpoint: its moves during the drill.
        "failover": r.failover,
        // With workload.stream: each region's stream replayed against its items.
        "streams": r.streams,
        "indexes": r.indexes,
        "workload": {
            "attempted": r.workload.attempted,
            "acked": r.workload.acked,
            "failed": r.workload.failed,
        },
        "conflicts": r.conflict_pairs.iter().map(|p| p.conflicts).sum::<u64>(),
        "lost_updates": r.conflict_pairs.iter().map(|p| p.lost_updates).sum::<u64>(),
        "converged_after_ms": r.convergence.after_workload_ms,
        "verdict": {
            "ok": v.ok,
            "converged": v.converged,
            "acked_writes_accounted": v.acked_writes_accounted,
            "oracle_match": v.oracle_match,
            "keys_checked": v.keys_checked,
            "conflicts_checked": v.conflicts_checked,
            "problems": v.problems,
        },
        "report": {
            "json": out.join("report.json"),
            "html": out.join("report.html"),
        },
    })
}

/// `drill sweep`: every seed simulated and checked, failures as they come
/// on stderr, then the summary. Any failing seed makes it a
/// [`crate::Refusal::CheckerFailed`] (exit 4).
async fn sweep(seeds: u64, first: u64, jobs: Option<usize>, json: bool) -> Result<()> {
    const MAX_SEEDS: u64 = 1_000_000;
    const MAX_JOBS: usize = 256;
    if !(1..=MAX_SEEDS).contains(&seeds) {
        anyhow::bail!("--seeds {seeds}: a sweep runs 1 to {MAX_SEEDS} seeds");
    }
    let Some(end) = first.checked_add(seeds) else {
        anyhow::bail!(
            "--first {first} --seeds {seeds}: the last seed is past {}",
            u64::MAX
        );
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if !(1..=MAX_JOBS).contains(&jobs) {
        anyhow::bail!("--jobs {jobs}: 1 to {MAX_JOBS} simulations at once");
    }
    eprintln!("sweep: seeds {first} to {}, {jobs} at once", end - 1);
    let dir = tempfile::Builder::new()
        .prefix("meridian-sweep-")
        .tempdir()
        .context("creating the sweep's data directory")?;
    let path = dir.path().to_path_buf();
    let done = std::sync::atomic::AtomicU64::new(0);
    let every = (seeds / 20).max(1);
    let summary = tokio::task::spawn_blocking(move || {
        meridian_drill::sweep::sweep(first..end, jobs, &path, &|run| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if !run.passed() {
                eprintln!(
                    "seed {} FAILED: {}\n  replay: {}",
                    run.seed,
                    run.problems.first().map_or("", String::as_str),
                    run.replay()
                );
            }
            if n.is_multiple_of(every) || n == seeds {
                eprintln!("  {n}/{seeds} seeds done");
            }
        })
    })
    .await
    .context("the sweep's threads failed")?;
    let failed: Vec<&meridian_drill::sweep::SeedRun> = summary.failed().collect();
    if json {
        print_sweep_json(&summary, &failed, first, seeds, jobs)?;
    } else {
        print_sweep(&summary, &failed, first..end, jobs);
    }
    if let Some(r) = failed.first() {
        return Err(crate::Refusal::CheckerFailed(format!(
            "{} of {seeds} seeds failed; the first, seed {}: {}",
            failed.len(),
            r.seed,
            r.problems.first().map_or("", String::as_str)
        ))
        .into());
    }
    Ok(())
}

/// `drill sweep --json`: the summary as one JSON document.
fn print_sweep_json(
    summary: &meridian_drill::sweep::Summary,
    failed: &[&meridian_drill::sweep::SeedRun],
    first: u64,
    seeds: u64,
    jobs: usize,
) -> Result<()> {
    let lost: u64 = summary.runs.iter().map(|r| r.lost_updates).sum();
    let (strong_seeds, strong) = summary.strong();
    let (churn_seeds, churn) = summary.left_to_origin();
    let failures: Vec<_> = failed
        .iter()
        .map(|r| {
            serde_json::json!({
                "seed": r.seed,
                "acked": r.acked,
                "problems": r.problems,
                "replay": r.replay(),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "first": first,
            "seeds": seeds,
            "jobs": jobs,
            "passed": summary.runs.len() - failed.len(),
            "failed": failed.len(),
            "with_conflicts": summary.with_conflicts(),
            "lost_updates_recorded": lost,
            "left_to_origin": {"seeds": churn_seeds, "changes": churn},
            "strong": {
                "seeds": strong_seeds,
                "keys_checked": strong.keys_checked,
                "not_linearizable": strong.violations,
                "undecided": strong.undecided,
                "consistent_reads": strong.reads,
                "stale_reads": strong.stale_reads,
                "replicated_write_conflicts": strong.conflicts,
            },
            "wall_ms": summary.wall.as_millis() as u64,
            "failures": failures,
        }))?
    );
    Ok(())
}

/// `drill sweep`'s summary as text: the counts, then each failed seed
/// with the command that replays it.
fn print_sweep(
    summary: &meridian_drill::sweep::Summary,
    failed: &[&meridian_drill::sweep::SeedRun],
    seeds: std::ops::Range<u64>,
    jobs: usize,
) {
    let (first, end) = (seeds.start, seeds.end);
    let seeds = end - first;
    let lost: u64 = summary.runs.iter().map(|r| r.lost_updates).sum();
    let (strong_seeds, strong) = summary.strong();
    let (churn_seeds, churn) = summary.left_to_origin();
    let wall = summary.wall.as_secs_f64();
    println!(
        "sweep of seeds {first} to {}: {} passed, {} failed; {} with conflicts checked, {lost} lost updates recorded (each one the checker matched); {wall:.1} s, {:.2} s per seed per job",
        end - 1,
        summary.runs.len() - failed.len(),
        failed.len(),
        summary.with_conflicts(),
        wall * jobs as f64 / seeds as f64,
    );
    println!(
        "  relayed table changes left to their origin (passed over, never a refusal): {churn} in {churn_seeds} seeds"
    );
    println!(
        "  STRONG tables: {strong_seeds} seeds, {} keys checked for linearizability, {} not linearizable, {} undecided; {} strongly consistent reads, {} stale; {} ReplicatedWriteConflictExceptions",
        strong.keys_checked,
        strong.violations,
        strong.undecided,
        strong.reads,
        strong.stale_reads,
        strong.conflicts,
    );
    for r in failed {
        println!(
            "  seed {}: {}\n    replay: {}",
            r.seed,
            r.problems.join("; "),
            r.replay()
        );
    }
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

pub fn write_report(report: &Report, out: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report).context("serialising the report")?;
    let json_path = out.join("report.json");
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    let html_path = out.join("report.html");
    std::fs::write(&html_path, meridian_scenario::html::render(report))
        .with_context(|| format!("writing {}", html_path.display()))?;
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

/// The drill's report, as a summary on standard output.
fn print_summary(r: &Report, out: &Path) {
    print_links(r);
    print_disasters(r);
    print_restores_and_joins(r);
    print_streams_and_indexes(r);
    print_workload(r);
    print_verdict(r, out);
}

/// Each link's replication latency and backlog, and how fast each heal's backlog drained.
fn print_links(r: &Report) {
    println!(
        "\n{:<36} {:>8} {:>8} {:>8} {:>9} {:>11}",
        "link", "p50 ms", "p99 ms", "max ms", "applied", "max pending"
    );
    for l in &r.links {
        println!(
            "{:<36} {:>8} {:>8} {:>8} {:>9} {:>11}",
            format!("{} → {}", l.from, l.to),
            ms(l.latency.p50_ms),
            ms(l.latency.p99_ms),
            ms(l.latency.max_ms),
            l.latency.count,
            l.max_pending
        );
    }
    for h in &r.heals {
        println!(
            "{:>8} ms  {:<40} backlog {:>7}  drained in {}",
            h.at_ms,
            h.label,
            h.backlog,
            h.drain_ms
                .map(|d| format!("{d} ms"))
                .unwrap_or_else(|| "never".into())
        );
    }
}

/// Each disaster's lost writes (RPO) and recovery time (RTO).
fn print_disasters(r: &Report) {
    for d in &r.disasters {
        println!(
            "{:>8} ms  {:<40} RPO {} lost ({} at risk)  RTO {}",
            d.at_ms,
            d.label,
            d.lost.len(),
            d.at_risk,
            d.rto_ms
                .map(|t| format!("{t} ms"))
                .unwrap_or_else(|| "never".into())
        );
        if let Some(s) = &d.seeded {
            println!(
                "            restarted empty: copied {}'s store ({} items, {:.1} MiB) in {} ms",
                s.peer,
                s.items,
                s.bytes as f64 / 1048576.0,
                s.ms
            );
        }
        for w in d.lost.iter().take(10) {
            println!("            lost {} at {}", w.key, w.version);
        }
    }
}

/// Each restore to a mark, and each replica added during the drill.
fn print_restores_and_joins(r: &Report) {
    for x in &r.restores {
        println!(
            "{:>8} ms  restore {}'s table to mark {:?} ({} ms): {} of {} items in {}, {} keys compared, {} differences{}",
            x.at_ms,
            x.region,
            x.mark,
            x.mark_ms,
            x.items_restored,
            x.items_expected,
            x.restore_ms
                .map(|t| format!("{t} ms"))
                .unwrap_or_else(|| "never".into()),
            x.keys_checked,
            x.mismatches.len(),
            x.error
                .as_ref()
                .map(|e| format!(" (failed: {e})"))
                .unwrap_or_default()
        );
    }
    for j in &r.joins {
        let outcome = match (j.active_ms, &j.error) {
            (_, Some(e)) => format!("failed: {e}"),
            (Some(ms), None) => format!(
                "ACTIVE at {ms} ms; filled {} items ({} bytes) from {} in {} ms, {:.0} items/s",
                j.items,
                j.bytes,
                j.peers.join(", "),
                j.fill_ms,
                j.rate()
            ),
            (None, None) => "never ACTIVE".into(),
        };
        println!(
            "{:>8} ms  add a replica in {} (asked of {}): {outcome}",
            j.at_ms, j.region, j.asked
        );
    }
}

/// Each region's stream and indexes, checked against its items.
fn print_streams_and_indexes(r: &Report) {
    for c in &r.streams {
        let outcome = match &c.error {
            Some(e) => format!("could not be read: {e}"),
            None if c.mismatches.is_empty() => "replays to its items exactly".into(),
            None => format!("{} keys differ from its items", c.mismatches.len()),
        };
        let removes = if c.removes == c.tombstones_applied {
            format!("{} REMOVE, as many as the tombstones it applied", c.removes)
        } else {
            format!(
                "{} REMOVE, but it applied {} tombstones",
                c.removes, c.tombstones_applied
            )
        };
        println!(
            "stream of {}: {} records ({removes}) over {} keys; {outcome}",
            c.region, c.records, c.keys_checked
        );
    }
    for c in &r.indexes {
        let outcome = match &c.error {
            Some(e) => format!("not checked: {e}"),
            None if !c.mismatches.is_empty() => {
                format!("{} entries differ from its items", c.mismatches.len())
            }
            None if !c.agrees => "equals its items, but differs from the first region's".into(),
            None => "equals its items and every region's".into(),
        };
        println!(
            "index {} of {}: {} entries over {} items; {outcome}",
            c.index, c.region, c.entries, c.items
        );
    }
}

/// What the workload got back, the conflicts, and the failover endpoint's moves.
fn print_workload(r: &Report) {
    if r.workload.external {
        println!(
            "workload: your application's; the regions committed {} of its writes during the drill{}",
            r.workload.acked,
            match r.workload.unread {
                0 => String::new(),
                n => format!(" ({n} log entries were truncated before the drill read them)"),
            }
        );
    } else {
        println!(
            "workload: {} acknowledged, {} failed of {} attempted",
            r.workload.acked, r.workload.failed, r.workload.attempted
        );
    }
    let conflicts: u64 = r.conflict_pairs.iter().map(|p| p.conflicts).sum();
    let lost: u64 = r.conflict_pairs.iter().map(|p| p.lost_updates).sum();
    println!("conflicts: {conflicts} recorded, {lost} lost updates");
    if let Some(f) = &r.failover {
        println!(
            "failover endpoint {}: {} forwarded, {} failed; {} when the drill began, {} at its end",
            f.listen, f.forwarded, f.failed, f.active_at_start, f.active_at_end
        );
        for m in &f.moves {
            println!(
                "  moved {} → {} at {:.1} s ({}{}): {} requests failed; {} writes missing at the move, {} came back, {} superseded, {} still missing",
                m.from,
                m.to,
                m.at_ms as f64 / 1000.0,
                m.why,
                match m.after_first_failed_ms {
                    Some(ms) => format!(", {ms} ms after the first failed check"),
                    None => String::new(),
                },
                m.failed_requests,
                m.missing,
                m.came_back,
                m.superseded,
                m.still_missing
            );
        }
    }
}

/// Tombstones, convergence, the checker's verdict, and where the report is.
fn print_verdict(r: &Report, out: &Path) {
    let purged: u64 = r.purges.values().map(|p| p.tombstones_purged).sum();
    let superseded: u64 = r.purges.values().map(|p| p.superseded).sum();
    if purged + superseded > 0 {
        println!(
            "tombstones: {purged} purged; {superseded} writes of deleted items kept out (regions' counts since their last start)"
        );
    }
    match r.convergence.after_workload_ms {
        Some(c) => println!("converged {c} ms after the workload stopped"),
        None => println!("did not converge within the settle time"),
    }
    let v = &r.verdict;
    println!(
        "checker: {} (converged {}, acknowledged writes accounted for {}, oracle match {}; {} keys, {} conflict records)",
        if v.ok { "PASS" } else { "FAIL" },
        v.converged,
        v.acked_writes_accounted,
        v.oracle_match,
        v.keys_checked,
        v.conflicts_checked
    );
    for p in v.problems.iter().take(10) {
        println!("  - {p}");
    }
    println!(
        "report: {} and {}",
        out.join("report.json").display(),
        out.join("report.html").display()
    );
}

/// A one-line progress bar on stderr, redrawn in place, and above it a
/// line for each alarm that changes state, invariant violated, stop and
/// objective failed, as the drill judges them
/// ([`progress::judged`]); those lines are written to a stderr that is
/// no terminal too, unless `--quiet`.
struct ProgressBar {
    quiet: bool,
    /// Whether stderr is a terminal, where the bar is drawn.
    tty: bool,
    drawn: bool,
}

impl ProgressBar {
    fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        ProgressBar {
            quiet,
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    fn show(&mut self, p: &Progress) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr();
        for e in progress::judged(p) {
            let clear = if self.drawn { "\r\x1b[2K" } else { "" };
            let _ = writeln!(err, "{clear}{:>7.1}s  {}", e.at_ms as f64 / 1000.0, e.label);
            self.drawn = false;
        }
        if !self.tty {
            return;
        }
        let frac = (p.elapsed.as_secs_f64() / p.duration.as_secs_f64().max(1e-9)).min(1.0);
        let width = 24;
        let filled = (frac * width as f64) as usize;
        let bar: String = "#".repeat(filled) + &".".repeat(width - filled);
        let mut line = format!(
            "[{bar}] {:>6.1}/{:.0}s {:<9} acked {:>7} failed {:>5} pending {:>6}",
            p.elapsed.as_secs_f64(),
            p.duration.as_secs_f64(),
            p.phase,
            p.acked,
            p.failed,
            p.pending
        );
        if let Some(e) = &p.last_event {
            line.push_str("  last: ");
            line.push_str(e);
        }
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}
