//! `meridian net`: inject network, clock and process faults into a running
//! cluster (`meridian up`) through the link proxy's control API.
//!
//! This file is argument parsing and rendering only. Each command parses
//! into the fault vocabulary of scenario files
//! ([`meridian_scenario::scenario::Action`]) and is applied by
//! [`meridian_cluster::faults::Executor`], the same code a live drill uses;
//! the mapping of a directed link onto proxies and toxics is described
//! there and in docs/netsim.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use meridian_cluster::ControlApi;
use meridian_cluster::faults::{Executor, Outcome, halves};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::ClusterFile;
use meridian_scenario::scenario::{self, Action, Distribution, PartitionKind, arrow};
use serde_json::{Value as Json, json};

use crate::load_cluster;

/// Longest latency or jitter `net` injects: an hour is already absurd.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Highest bandwidth limit, KB/s (10 GB/s: no limit on loopback).
const MAX_RATE_KB: u64 = 10_000_000;

/// `meridian net --help`: what a link is, before any command.
pub const LONG_ABOUT: &str = "\
Inject faults into a running cluster: latency, loss, partitions, skew, crashes.

A directed link A → B is every byte travelling from region A to region B:
the upstream of proxy A>B (the connection A opens to B, carrying A's
mutations) plus the downstream of proxy B>A (A's acks on the connection B
opens to A). --both applies the same to B → A. Repeating a command replaces
the fault; it never stacks. `heal` ends partitions, isolation and flapping
and keeps latency, bandwidth and loss; `clear` removes everything.

Region names, gRPC addresses and the control API come from the cluster file
(--config). The cluster must run under `meridian up` with a [netsim]
section (crash and restart need it), or behind `meridian netsim --config`.
The commands are the events of scenario files (docs/drills.md), applied the
same way a live drill applies them. See docs/netsim.md for the exact mapping
onto proxies and toxics.";

#[derive(Args)]
pub struct NetArgs {
    /// Cluster file: region names, their gRPC addresses, the control API
    /// [default: regions/local-3.toml if it exists here, else the one the
    /// last `meridian up` recorded (see docs/operations.md)].
    #[arg(long, global = true, env = "MERIDIAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Control API address (host:port) [default: netsim.api of the cluster file].
    #[arg(long, global = true)]
    pub api: Option<String>,
    #[command(subcommand)]
    pub command: NetCommand,
}

/// `--distribution`: uniform, normal or pareto.
fn distribution() -> impl TypedValueParser<Value = Distribution> {
    PossibleValuesParser::new(Distribution::ALL).try_map(|s| s.parse::<Distribution>())
}

/// `--kind`: blackhole or refuse.
fn kind() -> impl TypedValueParser<Value = PartitionKind> {
    PossibleValuesParser::new(PartitionKind::ALL).try_map(|s| s.parse::<PartitionKind>())
}

#[derive(Args)]
pub struct Pair {
    /// Region the bytes leave (a name from the cluster file).
    pub from: String,
    /// Region the bytes reach.
    pub to: String,
    /// Apply the same to TO → FROM.
    #[arg(long)]
    pub both: bool,
}

#[derive(Subcommand)]
pub enum NetCommand {
    /// Every directed link with its faults, connection, pending mutations and
    /// replication lag; every region's process and clock.
    Show {
        /// Lag over a window of this length (e.g. 5s) instead of since start.
        #[arg(long)]
        window: Option<String>,
        /// One JSON document instead of the table (null where unknown).
        #[arg(long)]
        json: bool,
    },
    /// One-way latency on FROM → TO, e.g. `lag us-east-1 eu-west-1 40ms`.
    /// Keeps the jitter already set unless --jitter is given; `0` with no
    /// jitter removes the latency.
    Lag {
        #[command(flatten)]
        pair: Pair,
        /// Delay added to every chunk: 40ms, 1.5s, 0.
        latency: String,
        /// Jitter: ± this (uniform), σ (normal), or the median extra delay
        /// (pareto).
        #[arg(long)]
        jitter: Option<String>,
        /// How the jitter is distributed [default for a new latency: uniform].
        #[arg(long, value_parser = distribution())]
        distribution: Option<Distribution>,
    },
    /// Jitter on FROM → TO, keeping the latency already set.
    Jitter {
        #[command(flatten)]
        pair: Pair,
        /// e.g. 5ms; 0 removes it.
        jitter: String,
        /// How the jitter is distributed [default for a new latency: uniform].
        #[arg(long, value_parser = distribution())]
        distribution: Option<Distribution>,
    },
    /// Bandwidth limit on FROM → TO in KB/s, e.g. `bandwidth A B 100`; `off`
    /// removes it.
    Bandwidth {
        #[command(flatten)]
        pair: Pair,
        /// KB/s (1 to 10000000), or `off`.
        rate: String,
    },
    /// Packet loss on FROM → TO, e.g. `loss A B 2%`: each chunk, with that
    /// probability, waits one TCP retransmission timeout and the chunks
    /// behind it wait too. `0%` removes it.
    Loss {
        #[command(flatten)]
        pair: Pair,
        /// 0 to 100, with or without %.
        percent: String,
        /// Retransmission timeout a lost chunk costs.
        #[arg(long, default_value = "200ms")]
        rto: String,
    },
    /// Cut FROM → TO (one way unless --both).
    Partition {
        #[command(flatten)]
        pair: Pair,
        /// blackhole: bytes are accepted and never forwarded (a `timeout`
        /// toxic of 0 on both streams of the link); connections stay open,
        /// silently. refuse: for A → B, proxy A>B gets a `reset_peer` toxic
        /// (open connections get an RST) and is then disabled (new
        /// connections are refused); the connection B opens to A stays up.
        #[arg(long, value_parser = kind(), default_value = "blackhole")]
        kind: PartitionKind,
    },
    /// End partitions, isolation and flapping: of link A ⇄ B, of every link
    /// of --region, or (no arguments) everywhere. Latency, bandwidth and
    /// loss stay; `meridian net clear` removes those too.
    Heal {
        /// One end of the link to heal (both ways).
        from: Option<String>,
        /// The other end.
        to: Option<String>,
        /// Heal every link of this region instead.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        region: Option<String>,
    },
    /// Remove every fault (every toxic, of any client) and enable the
    /// proxies: of link A ⇄ B, of every link of --region, or everywhere.
    Clear {
        /// One end of the link to clear (both ways).
        from: Option<String>,
        /// The other end.
        to: Option<String>,
        /// Clear every link of this region instead.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        region: Option<String>,
    },
    /// Cut every link of REGION, both ways.
    Isolate {
        /// The region to cut off.
        region: String,
        /// blackhole (silent) or refuse (reset and refused), as for `partition`.
        #[arg(long, value_parser = kind(), default_value = "blackhole")]
        kind: PartitionKind,
    },
    /// Blackhole FROM → TO for --down out of every --period, until healed.
    Flap {
        #[command(flatten)]
        pair: Pair,
        /// e.g. 2s (at least 100ms).
        #[arg(long)]
        period: String,
        /// e.g. 500ms (more than 0, less than --period).
        #[arg(long)]
        down: String,
    },
    /// Skew REGION's clock (the one its HLC reads): `skew R +300ms`,
    /// `skew R -1s --drift-ppm 50`, `skew R 0` to undo. Sets the offset and
    /// the drift together (through Admin SetClock, not the proxy).
    Skew {
        /// The region whose clock to skew.
        region: String,
        /// Offset from real time: +300ms, -1.5s, 0 (within ±1 day).
        #[arg(allow_hyphen_values = true)]
        offset: String,
        /// Drift rate, parts per million (within ±100000).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        drift_ppm: i64,
    },
    /// Kill REGION's process with SIGKILL (needs `meridian up`).
    Crash {
        /// The region to kill.
        region: String,
    },
    /// Start REGION again on its data directory and wait until it serves.
    Restart {
        /// The region to start.
        region: String,
        /// How long to wait for it to serve.
        #[arg(long, default_value = "30s")]
        wait: String,
    },
}

pub async fn run(args: NetArgs) -> Result<()> {
    let config = crate::cluster_path(args.config.as_deref())?;
    let cluster = load_cluster(&config)?;
    let api = match &args.api {
        Some(a) => a.clone(),
        None => match &cluster.netsim {
            Some(n) => n.api.to_string(),
            None => bail!(
                "{} has no [netsim] section, so its regions do not talk through the link proxy; \
                 add one (see regions/local-3.toml) and restart `meridian up`, or pass --api",
                config.display()
            ),
        },
    };
    let line = match args.command {
        NetCommand::Show { window, json } => {
            let window = window
                .map(|w| parse_ms("--window", &w, Duration::from_secs(600)))
                .transpose()?
                .map(Duration::from_millis);
            let api = ControlApi::new(api).with_token(cluster.client_admin_token()?);
            let shown = gather(&cluster, &api, window).await;
            if json {
                serde_json::to_string_pretty(&show_json(&shown))?
            } else {
                show_text(&shown)
            }
        }
        command => {
            let mut restart_wait = meridian_cluster::faults::RESTART_WAIT;
            if let NetCommand::Restart { wait, .. } = &command {
                restart_wait =
                    Duration::from_millis(parse_ms("--wait", wait, Duration::from_secs(600))?);
            }
            let action = parse(&cluster, command)?;
            let api = ControlApi::new(api).with_token(cluster.client_admin_token()?);
            let mut executor = Executor::new(cluster, api);
            executor.restart_wait = restart_wait;
            let outcome = executor.apply(&action).await?;
            render(&executor.cluster, &action, &outcome)
        }
    };
    // Not println!: a closed pipe (`meridian net show | head`) is not an error.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Parsing. Every error names the argument and the limit.

/// Parses `250ms`, `1.5s`, `2m`, `0` into a duration of whole milliseconds
/// (the proxy's resolution).
pub fn parse_ms(arg: &str, text: &str, max: Duration) -> Result<u64> {
    let d = scenario::parse_duration(text).map_err(|e| anyhow!("{arg}: {e}"))?;
    if d > max {
        bail!("{arg}: {text} is more than the limit of {}", show_dur(max));
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        bail!("{arg}: {text} is finer than the proxy's resolution of 1 ms");
    }
    Ok(d.as_millis() as u64)
}

/// Parses `+300ms`, `-1.5s`, `300ms` or `0` into signed microseconds.
pub fn parse_offset(arg: &str, text: &str) -> Result<i64> {
    scenario::parse_offset(text).map_err(|e| anyhow!("{arg}: {e}"))
}

pub fn parse_percent(arg: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    let p: f64 = n
        .parse()
        .map_err(|_| anyhow!("{arg}: {text:?} is not a percentage like 2% or 0.5"))?;
    if !(0.0..=100.0).contains(&p) {
        bail!("{arg}: must be between 0 and 100 %, got {text}");
    }
    Ok(p)
}

/// KB/s, with an optional `KB/s` suffix; `None` for `off`.
pub fn parse_rate(arg: &str, text: &str) -> Result<Option<u64>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let n = t
        .strip_suffix("KB/s")
        .or_else(|| t.strip_suffix("kb/s"))
        .unwrap_or(t)
        .trim();
    let rate: u64 = n
        .parse()
        .map_err(|_| anyhow!("{arg}: {text:?} is not a whole number of KB/s like 100, or off"))?;
    if rate == 0 {
        bail!(
            "{arg}: must be at least 1 KB/s; `off` removes the limit and `meridian net partition` stops traffic"
        );
    }
    if rate > MAX_RATE_KB {
        bail!("{arg}: must be at most {MAX_RATE_KB} KB/s, got {rate}");
    }
    Ok(Some(rate))
}

/// Checks that `name` is a region of the cluster, naming the argument.
fn region(cluster: &ClusterFile, arg: &str, name: &str) -> Result<String> {
    cluster
        .entry(name)
        .map(|_| name.to_string())
        .map_err(|e| anyhow!("{arg}: {e}"))
}

/// Checks a pair of regions.
fn link(cluster: &ClusterFile, pair: &Pair) -> Result<(String, String)> {
    region(cluster, "FROM", &pair.from)?;
    region(cluster, "TO", &pair.to)?;
    if pair.from == pair.to {
        bail!(
            "FROM and TO are both {}; a link joins two different regions",
            pair.from
        );
    }
    Ok((pair.from.clone(), pair.to.clone()))
}

/// The scope of a heal or clear: link A ⇄ B, every link of a region, or
/// everywhere.
type Scope = (Option<(String, String)>, Option<String>);

fn scope(
    cluster: &ClusterFile,
    from: Option<String>,
    to: Option<String>,
    region_arg: Option<String>,
) -> Result<Scope> {
    match (from, to, region_arg) {
        (Some(a), Some(b), None) => {
            let pair = Pair {
                from: a,
                to: b,
                both: true,
            };
            Ok((Some(link(cluster, &pair)?), None))
        }
        (None, None, Some(r)) => Ok((None, Some(region(cluster, "--region", &r)?))),
        (None, None, None) => Ok((None, None)),
        (Some(_), None, _) => bail!("TO is missing: give two regions, --region, or nothing"),
        _ => bail!("give two regions, --region R, or nothing (everywhere)"),
    }
}

/// One command as the fault it is, checked before anything is sent.
pub fn parse(cluster: &ClusterFile, command: NetCommand) -> Result<Action> {
    Ok(match command {
        NetCommand::Show { .. } => bail!("show is not a fault"),
        NetCommand::Lag {
            pair,
            latency,
            jitter,
            distribution,
        } => {
            let (from, to) = link(cluster, &pair)?;
            let latency = parse_ms("LATENCY", &latency, MAX_DELAY)?;
            let jitter = jitter
                .map(|j| parse_ms("--jitter", &j, MAX_DELAY))
                .transpose()?;
            Action::Latency {
                from,
                to,
                both: pair.both,
                latency: Some(Duration::from_millis(latency)),
                jitter: jitter.map(Duration::from_millis),
                distribution,
            }
        }
        NetCommand::Jitter {
            pair,
            jitter,
            distribution,
        } => {
            let (from, to) = link(cluster, &pair)?;
            let jitter = parse_ms("JITTER", &jitter, MAX_DELAY)?;
            Action::Latency {
                from,
                to,
                both: pair.both,
                latency: None,
                jitter: Some(Duration::from_millis(jitter)),
                distribution,
            }
        }
        NetCommand::Bandwidth { pair, rate } => {
            let (from, to) = link(cluster, &pair)?;
            Action::Bandwidth {
                from,
                to,
                both: pair.both,
                kbps: parse_rate("RATE", &rate)?,
            }
        }
        NetCommand::Loss { pair, percent, rto } => {
            let (from, to) = link(cluster, &pair)?;
            let percent = parse_percent("PERCENT", &percent)?;
            let rto = parse_ms("--rto", &rto, scenario::MAX_RTO)?;
            if rto == 0 {
                bail!("--rto: must be at least 1 ms");
            }
            Action::Loss {
                from,
                to,
                both: pair.both,
                percent,
                rto: Some(Duration::from_millis(rto)),
            }
        }
        NetCommand::Partition { pair, kind } => {
            let (from, to) = link(cluster, &pair)?;
            Action::Partition {
                from,
                to,
                both: pair.both,
                kind,
            }
        }
        NetCommand::Isolate { region: r, kind } => Action::Isolate {
            region: region(cluster, "REGION", &r)?,
            kind,
        },
        NetCommand::Flap { pair, period, down } => {
            let (from, to) = link(cluster, &pair)?;
            let period = parse_ms(
                "--period",
                &period,
                Duration::from_millis(meridian_netsim::toxic::MAX_FLAP_PERIOD_MS),
            )?;
            let down = parse_ms("--down", &down, MAX_DELAY * 24)?;
            let min = meridian_netsim::toxic::MIN_FLAP_PERIOD_MS;
            if period < min {
                bail!(
                    "--period: must be at least {min} ms, got {}",
                    show_ms(period)
                );
            }
            if down == 0 || down >= period {
                bail!(
                    "--down: must be more than 0 and less than --period ({}), got {}",
                    show_ms(period),
                    show_ms(down)
                );
            }
            Action::Flap {
                from,
                to,
                both: pair.both,
                period: Duration::from_millis(period),
                down: Duration::from_millis(down),
            }
        }
        NetCommand::Heal { from, to, region } => {
            let (link, region) = scope(cluster, from, to, region)?;
            Action::Heal { link, region }
        }
        NetCommand::Clear { from, to, region } => {
            let (link, region) = scope(cluster, from, to, region)?;
            Action::Clear { link, region }
        }
        NetCommand::Skew {
            region: r,
            offset,
            drift_ppm,
        } => {
            let region = region(cluster, "REGION", &r)?;
            let offset_micros = parse_offset("OFFSET", &offset)?;
            if drift_ppm.abs() > scenario::MAX_DRIFT_PPM {
                bail!(
                    "--drift-ppm: must be within ±{}, got {drift_ppm}",
                    scenario::MAX_DRIFT_PPM
                );
            }
            Action::Skew {
                region,
                offset_micros,
                drift_ppm,
            }
        }
        NetCommand::Crash { region: r } => Action::Crash {
            region: region(cluster, "REGION", &r)?,
        },
        NetCommand::Restart { region: r, .. } => Action::Restart {
            region: region(cluster, "REGION", &r)?,
        },
    })
}

// ---------------------------------------------------------------------------
// Rendering.

fn show_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 && (ms / 1000.0).fract() == 0.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

fn show_ms(ms: u64) -> String {
    show_dur(Duration::from_millis(ms))
}

/// What the scope of a heal or clear is called.
fn scope_words(link: &Option<(String, String)>, region: &Option<String>) -> String {
    match (link, region) {
        (Some((a, b)), _) => format!("{a} ⇄ {b}"),
        (None, Some(r)) => format!("every link of {r}"),
        (None, None) => "every link".into(),
    }
}

/// The one line `meridian net` prints for an applied fault.
fn render(cluster: &ClusterFile, action: &Action, out: &Outcome) -> String {
    match action {
        Action::Latency { from, to, both, .. } => {
            let head = format!("latency {from} {} {to}", arrow(*both));
            let a = out
                .toxics
                .first()
                .map(|t| t["attributes"].clone())
                .unwrap_or(Json::Null);
            let (l, j) = (
                a["latency"].as_u64().unwrap_or(0),
                a["jitter"].as_u64().unwrap_or(0),
            );
            if l == 0 && j == 0 {
                return format!("{head}: removed");
            }
            let mut line = format!("{head}: {}", show_ms(l));
            if j > 0 {
                let _ = write!(
                    line,
                    " ± {} ({})",
                    show_ms(j),
                    a["distribution"].as_str().unwrap_or("uniform")
                );
            }
            line.push_str(" one way");
            line
        }
        Action::Bandwidth {
            from,
            to,
            both,
            kbps,
        } => {
            let head = format!("bandwidth {from} {} {to}", arrow(*both));
            match kbps {
                Some(r) => format!("{head}: {r} KB/s"),
                None if out.removed == 0 => format!("{head}: no limit was set"),
                None => format!("{head}: limit removed"),
            }
        }
        Action::Loss {
            from,
            to,
            both,
            percent,
            rto,
        } => {
            let head = format!("loss {from} {} {to}", arrow(*both));
            if *percent == 0.0 {
                return if out.removed == 0 {
                    format!("{head}: no loss was set")
                } else {
                    format!("{head}: removed")
                };
            }
            let rto = rto
                .map(|r| r.as_millis() as u64)
                .unwrap_or(meridian_netsim::toxic::DEFAULT_RTO_MS);
            format!(
                "{head}: {percent} % of chunks held one retransmission timeout ({}), and what follows them waits",
                show_ms(rto)
            )
        }
        Action::Partition {
            from: a,
            to: b,
            both,
            kind,
        } => match kind {
            PartitionKind::Blackhole => format!(
                "partitioned {a} {} {b} (blackhole): every byte from {a} to {b}{} is dropped; connections stay open",
                arrow(*both),
                if *both { " and back" } else { "" }
            ),
            PartitionKind::Refuse => format!(
                "partitioned {a} {} {b} (refuse): {}; proxy {} disabled",
                arrow(*both),
                if *both {
                    format!("connections between {a} and {b} are reset and refused")
                } else {
                    format!(
                        "connections {a} opens to {b} are reset and refused, those {b} opens to {a} stay up"
                    )
                },
                scenario::directed(a, b, *both)
                    .iter()
                    .map(|(x, y)| meridian_region::config::link_name(x, y))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        },
        Action::Isolate { region, kind } => {
            let peers: Vec<String> = cluster
                .region_names()
                .into_iter()
                .filter(|r| r != region)
                .collect();
            format!(
                "isolated {region} ({}): cut both ways from {}; `meridian net heal --region {region}` ends it",
                kind.as_str(),
                peers.join(", ")
            )
        }
        Action::Flap {
            from,
            to,
            both,
            period,
            down,
        } => format!(
            "flapping {from} {} {to}: blackholed for the first {} of every {}; `meridian net heal` ends it",
            arrow(*both),
            show_dur(*down),
            show_dur(*period)
        ),
        Action::Heal { link, region } => format!(
            "healed {}: removed {} partition/flap toxics, enabled {} proxies; \
             latency, bandwidth and loss stay (`meridian net clear` removes them)",
            scope_words(link, region),
            out.removed,
            out.enabled
        ),
        Action::Clear {
            link: None,
            region: None,
        } => "cleared every link: every toxic removed, every proxy enabled".into(),
        Action::Clear { link, region } => format!(
            "cleared {}: removed {} toxics, enabled {} proxies",
            scope_words(link, region),
            out.removed,
            out.enabled
        ),
        Action::Skew { region, .. } => {
            let Some(c) = &out.clock else {
                return format!("skewed {region}'s clock");
            };
            let hlc_ahead_ms = c
                .hlc_now
                .as_ref()
                .map(|v| (v.physical_micros as i128 - c.real_micros as i128) as f64 / 1e3)
                .unwrap_or(0.0);
            format!(
                "skewed {region}'s clock: {:+} ms offset, {:+} ppm drift; its HLC now reads {hlc_ahead_ms:+.1} ms from real time ({})",
                c.offset_micros as f64 / 1e3,
                c.drift_ppm,
                crate::client::version_text(&c.hlc_now)
            )
        }
        Action::Crash { region } => format!(
            "crashed {region} (SIGKILL, pid {}); `meridian net restart {region}` starts it again",
            pid(out)
        ),
        Action::Restart { region } => format!(
            "restarted {region} (pid {}) on its data directory; serving after {:.1} s",
            pid(out),
            out.serving_after.unwrap_or_default().as_secs_f64()
        ),
        Action::Wipe { .. }
        | Action::Snapshot { .. }
        | Action::Restore { .. }
        | Action::Recovery { .. }
        | Action::Mark { .. }
        | Action::RestoreToTime { .. }
        | Action::AddReplica { .. }
        | Action::Recreate { .. } => action.label(),
    }
}

fn pid(out: &Outcome) -> Json {
    out.process
        .as_ref()
        .map(|p| p["pid"].clone())
        .unwrap_or(Json::Null)
}

/// One directed link of `net show`; `None` where it is unknown.
struct LinkRow {
    from: String,
    to: String,
    connected: Option<bool>,
    pending: Option<u64>,
    /// Lag p50 and p99, ms, measured where the bytes land.
    lag: Option<(f64, f64)>,
    /// The link's faults in words ("-" for none); `None` when the control
    /// API did not answer.
    faults: Option<String>,
}

/// A region's process as the control API lists it.
enum Process {
    /// The control API did not answer.
    Unknown,
    /// The API supervises no processes (a bare `meridian netsim`).
    Unsupervised,
    Listed {
        state: String,
        pid: Option<u64>,
    },
}

/// One region of `net show`.
struct RegionRow {
    name: String,
    grpc: String,
    process: Process,
    /// `None` when the region did not answer: it is down.
    status: Option<RegionClock>,
}

struct RegionClock {
    hlc_ahead_ms: f64,
    conflicts: u64,
    refused: u64,
}

/// What `net show` found, before it is rendered as text or JSON.
struct Shown {
    faults_error: Option<String>,
    lag_label: String,
    window: Option<Duration>,
    links: Vec<LinkRow>,
    regions: Vec<RegionRow>,
}

/// `meridian net show`: every directed link and every region.
async fn gather(cluster: &ClusterFile, api: &ControlApi, window: Option<Duration>) -> Shown {
    let names = cluster.region_names();
    let proxies = api.proxies().await;
    // Outer None: unknown (API unreachable); inner None: not supervised.
    let processes = match &proxies {
        Ok(_) => api.regions().await.ok(),
        Err(_) => None,
    };
    let statuses = fetch_statuses(cluster).await;
    let mut lag_label = "since start".to_string();
    let mut windowed: Option<Vec<Option<pb::StatusResponse>>> = None;
    if let Some(w) = window {
        tokio::time::sleep(w).await;
        windowed = Some(statuses_only(fetch_statuses(cluster).await));
        lag_label = format!("over {}", show_dur(w));
    }
    let faults_error = proxies.as_ref().err().map(|e| format!("{e:#}"));
    let empty = BTreeMap::new();
    let proxies = proxies.as_ref().unwrap_or(&empty);
    let mut links = Vec::new();
    for a in &names {
        for b in &names {
            if a == b {
                continue;
            }
            let faults = (!proxies.is_empty()).then(|| describe(proxies, a, b));
            let peer =
                status_of(&statuses, &names, a).and_then(|s| s.peers.iter().find(|p| p.peer == *b));
            // Lag a → b is measured where it lands, at b.
            let lag = match (&windowed, status_of(&statuses, &names, b)) {
                (Some(later), Some(s)) => {
                    let i = names.iter().position(|n| n == b).unwrap_or(0);
                    match later.get(i).and_then(Option::as_ref) {
                        Some(l) => window_lag(s, l, a),
                        None => None,
                    }
                }
                (None, Some(s)) => s
                    .peers
                    .iter()
                    .find(|p| p.peer == *a)
                    .and_then(|p| p.latency)
                    .filter(|l| l.count > 0)
                    .map(|l| (l.p50_ms, l.p99_ms)),
                _ => None,
            };
            links.push(LinkRow {
                from: a.clone(),
                to: b.clone(),
                connected: peer.map(|p| p.connected),
                pending: peer.map(|p| p.pending),
                lag,
                faults,
            });
        }
    }
    let regions = cluster
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| RegionRow {
            name: r.name.clone(),
            grpc: r.grpc.to_string(),
            process: match &processes {
                None => Process::Unknown,
                Some(None) => Process::Unsupervised,
                Some(Some(list)) => match list.iter().find(|p| p["name"] == r.name.as_str()) {
                    Some(p) => Process::Listed {
                        state: p["state"].as_str().unwrap_or("?").to_string(),
                        pid: p["pid"].as_u64(),
                    },
                    None => Process::Unknown,
                },
            },
            status: statuses
                .get(i)
                .and_then(|s| s.as_ref())
                .map(|(s, ahead)| RegionClock {
                    hlc_ahead_ms: *ahead,
                    conflicts: s.conflicts,
                    refused: s.drift_refusals,
                }),
        })
        .collect();
    Shown {
        faults_error,
        lag_label,
        window,
        links,
        regions,
    }
}

/// `net show` as a table.
fn show_text(s: &Shown) -> String {
    let mut out = String::new();
    if let Some(e) = &s.faults_error {
        let _ = writeln!(out, "faults unknown: {e}\n");
    }
    let w = s
        .regions
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        * 2
        + 3;
    let _ = writeln!(
        out,
        "{:<w$}  {:<4} {:>8} {:>9} {:>9}  faults (every byte from → to)",
        "link", "conn", "pending", "lag p50", "lag p99"
    );
    for l in &s.links {
        let conn = match l.connected {
            Some(true) => "up",
            Some(false) => "down",
            None => "?",
        };
        let pending = l.pending.map(|p| p.to_string()).unwrap_or("?".into());
        let (p50, p99) = match l.lag {
            Some((p50, p99)) => (format!("{p50:.1}ms"), format!("{p99:.1}ms")),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<w$}  {:<4} {:>8} {:>9} {:>9}  {}",
            format!("{} → {}", l.from, l.to),
            conn,
            pending,
            p50,
            p99,
            l.faults.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(
        out,
        "\npending: mutations `from` has committed that `to` has not applied. lag ({}): real time from commit in `from` to apply in `to`.",
        s.lag_label
    );
    let rw = w.saturating_sub(3) / 2;
    let _ = writeln!(
        out,
        "\n{:<rw$}  {:<21} {:<22} {:>10} {:>9} {:>7}",
        "region", "grpc", "process", "hlc−wall", "conflicts", "refused",
    );
    for r in &s.regions {
        let process = match &r.process {
            Process::Unknown => "?".into(),
            Process::Unsupervised => "not supervised".into(),
            Process::Listed { state, pid } => format!(
                "{state} (pid {})",
                pid.map(|p| p.to_string()).unwrap_or("-".into())
            ),
        };
        let (skew, conflicts, refused) = match &r.status {
            Some(c) => (
                format!("{:+.1}ms", c.hlc_ahead_ms),
                c.conflicts.to_string(),
                c.refused.to_string(),
            ),
            None => ("down".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<rw$}  {:<21} {:<22} {:>10} {:>9} {:>7}",
            r.name, r.grpc, process, skew, conflicts, refused,
        );
    }
    let _ = write!(
        out,
        "\nhlc−wall: how far the region's HLC reads ahead of this machine's clock: its injected skew \
         (meridian net skew), or the newest version it has seen from a skewed peer. \
         refused: remote versions refused by the drift guard."
    );
    out
}

/// `net show --json`: the same, one JSON document; `null` where unknown.
fn show_json(s: &Shown) -> Json {
    let links: Vec<Json> = s
        .links
        .iter()
        .map(|l| {
            json!({
                "from": l.from,
                "to": l.to,
                "connected": l.connected,
                "pending": l.pending,
                "lag_p50_ms": l.lag.map(|(p50, _)| p50),
                "lag_p99_ms": l.lag.map(|(_, p99)| p99),
                "faults": l.faults,
            })
        })
        .collect();
    let regions: Vec<Json> = s
        .regions
        .iter()
        .map(|r| {
            let (state, pid) = match &r.process {
                Process::Unknown => (Json::Null, Json::Null),
                Process::Unsupervised => (json!("not supervised"), Json::Null),
                Process::Listed { state, pid } => (json!(state), json!(pid)),
            };
            json!({
                "name": r.name,
                "grpc": r.grpc,
                "process": state,
                "pid": pid,
                "up": r.status.is_some(),
                "hlc_ahead_ms": r.status.as_ref().map(|c| c.hlc_ahead_ms),
                "conflicts": r.status.as_ref().map(|c| c.conflicts),
                "drift_refusals": r.status.as_ref().map(|c| c.refused),
            })
        })
        .collect();
    json!({
        "faults_error": s.faults_error,
        "lag_window_ms": s.window.map(|w| w.as_millis() as u64),
        "links": links,
        "regions": regions,
    })
}

/// Status of every region in file order, each with its HLC's lead over this
/// machine's clock in ms.
async fn fetch_statuses(cluster: &ClusterFile) -> Vec<Option<(pb::StatusResponse, f64)>> {
    let mut tasks = Vec::new();
    for r in &cluster.regions {
        let url = format!("http://{}", r.admin_addr());
        tasks.push(tokio::spawn(async move {
            let call = async {
                let ch = crate::client::channel(&url).await.ok()?;
                let before = wall_micros();
                let s = AdminClient::new(ch)
                    .status(pb::StatusRequest {})
                    .await
                    .ok()?
                    .into_inner();
                // Measured from when the request left: the region reads its
                // HLC on arrival of the request, and the answer may then be
                // held back (Nagle) for tens of ms, which would make a
                // midpoint read the HLC as behind.
                let ahead = s
                    .hlc_now
                    .as_ref()
                    .map(|v| (v.physical_micros as i128 - before as i128) as f64 / 1e3)
                    .unwrap_or(0.0);
                tracing::debug!(region = %s.region, rtt_ms = (wall_micros() - before) as f64 / 1e3, "status");
                Some((s, ahead))
            };
            tokio::time::timeout(Duration::from_secs(5), call)
                .await
                .ok()
                .flatten()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.ok().flatten());
    }
    out
}

fn statuses_only(v: Vec<Option<(pb::StatusResponse, f64)>>) -> Vec<Option<pb::StatusResponse>> {
    v.into_iter().map(|s| s.map(|(s, _)| s)).collect()
}

fn status_of<'a>(
    statuses: &'a [Option<(pb::StatusResponse, f64)>],
    names: &[String],
    region: &str,
) -> Option<&'a pb::StatusResponse> {
    let i = names.iter().position(|n| n == region)?;
    statuses.get(i)?.as_ref().map(|(s, _)| s)
}

/// p50 and p99 (ms) of lag from `peer`, between two samples of a region.
fn window_lag(
    earlier: &pb::StatusResponse,
    later: &pb::StatusResponse,
    peer: &str,
) -> Option<(f64, f64)> {
    let buckets = |s: &pb::StatusResponse| {
        s.peers
            .iter()
            .find(|p| p.peer == peer)
            .map(|p| p.latency_buckets.clone())
    };
    let w = meridian_core::lag::window(&buckets(earlier)?, &buckets(later)?)?;
    let p50 = meridian_core::lag::quantile_micros(&w, 0.5)?;
    let p99 = meridian_core::lag::quantile_micros(&w, 0.99)?;
    Some((p50 as f64 / 1e3, p99 as f64 / 1e3))
}

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One toxic in words.
fn toxic_words(t: &Json) -> String {
    let a = &t["attributes"];
    let n = |k: &str| a[k].as_u64().unwrap_or(0);
    let mut w = match t["type"].as_str().unwrap_or("?") {
        "latency" => {
            let mut s = format!("latency {}", show_ms(n("latency")));
            if n("jitter") > 0 {
                let _ = write!(
                    s,
                    " ± {} {}",
                    show_ms(n("jitter")),
                    a["distribution"].as_str().unwrap_or("uniform")
                );
            }
            s
        }
        "bandwidth" => format!("bandwidth {} KB/s", n("rate")),
        "loss" => format!(
            "loss {} % (rto {})",
            a["percent"].as_f64().unwrap_or(0.0),
            show_ms(n("rto_ms"))
        ),
        "timeout" if n("timeout") == 0 => "blackhole".into(),
        "timeout" => format!("stall, closed after {}", show_ms(n("timeout"))),
        "reset_peer" => format!("reset after {}", show_ms(n("timeout"))),
        "flap" => format!(
            "flapping: down {} of every {}",
            show_ms(n("down_ms")),
            show_ms(n("period_ms"))
        ),
        "slow_close" => format!("slow close {}", show_ms(n("delay"))),
        "limit_data" => format!("closes after {} bytes", n("bytes")),
        other => other.to_string(),
    };
    if let Some(x) = t["toxicity"].as_f64()
        && x < 1.0
    {
        let _ = write!(w, " (on {:.0} % of connections)", x * 100.0);
    }
    w
}

/// The faults of the directed link `a → b` in words: the toxics on the
/// upstream of `a>b` and the downstream of `b>a`, and whether `a>b` refuses.
fn describe(proxies: &BTreeMap<String, Json>, a: &str, b: &str) -> String {
    let mut words: Vec<(String, Vec<String>)> = Vec::new();
    let mut refused = false;
    for (proxy, stream) in halves(a, b) {
        let Some(p) = proxies.get(&proxy) else {
            words.push((format!("no proxy {proxy}"), vec![proxy.clone()]));
            continue;
        };
        let disabled = p["enabled"] == json!(false);
        if stream == "upstream" && disabled {
            refused = true;
        }
        for t in p["toxics"].as_array().into_iter().flatten() {
            if t["stream"] != stream {
                continue;
            }
            // A disabled proxy carries nothing; its reset toxic is moot.
            if disabled && t["type"] == "reset_peer" {
                continue;
            }
            let w = toxic_words(t);
            match words.iter_mut().find(|(x, _)| *x == w) {
                Some((_, on)) => on.push(proxy.clone()),
                None => words.push((w, vec![proxy.clone()])),
            }
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if refused {
        parts.push(format!(
            "refused ({} disabled)",
            meridian_region::config::link_name(a, b)
        ));
    }
    for (w, on) in words {
        if on.len() == 2 {
            parts.push(w);
        } else {
            parts.push(format!("{w} [via {} only]", on.join("")));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_percentages_and_rates_name_the_argument_and_the_limit() {
        assert_eq!(parse_ms("L", "40ms", MAX_DELAY).unwrap(), 40);
        assert_eq!(parse_ms("L", "1.5s", MAX_DELAY).unwrap(), 1500);
        assert_eq!(parse_ms("L", "0.1s", MAX_DELAY).unwrap(), 100);
        assert_eq!(parse_ms("L", "0", MAX_DELAY).unwrap(), 0);
        let e = parse_ms("--jitter", "40", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--jitter") && e.contains("unit"), "{e}");
        let e = parse_ms("LATENCY", "2h", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATENCY") && e.contains("unknown unit"), "{e}");
        let e = parse_ms("LATENCY", "2m", Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATENCY") && e.contains("60 s"), "{e}");
        let e = parse_ms("LATENCY", "0.5ms", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 ms"), "{e}");

        assert_eq!(parse_percent("P", "2%").unwrap(), 2.0);
        assert_eq!(parse_percent("P", "0.5").unwrap(), 0.5);
        let e = parse_percent("PERCENT", "150%").unwrap_err().to_string();
        assert!(
            e.contains("PERCENT") && e.contains("between 0 and 100"),
            "{e}"
        );
        assert!(parse_percent("P", "-1%").is_err());
        assert!(parse_percent("P", "lots").is_err());

        assert_eq!(parse_rate("R", "100").unwrap(), Some(100));
        assert_eq!(parse_rate("R", "100KB/s").unwrap(), Some(100));
        assert_eq!(parse_rate("R", "off").unwrap(), None);
        let e = parse_rate("RATE", "0").unwrap_err().to_string();
        assert!(e.contains("RATE") && e.contains("at least 1"), "{e}");
        let e = parse_rate("RATE", "99999999999").unwrap_err().to_string();
        assert!(e.contains("at most"), "{e}");

        assert_eq!(parse_offset("O", "+300ms").unwrap(), 300_000);
        assert_eq!(parse_offset("O", "-1.5s").unwrap(), -1_500_000);
        assert_eq!(parse_offset("O", "250us").unwrap(), 250);
        assert_eq!(parse_offset("O", "0").unwrap(), 0);
        let e = parse_offset("OFFSET", "+2d").unwrap_err().to_string();
        assert!(e.contains("OFFSET"), "{e}");
        let e = parse_offset("OFFSET", "-25h").unwrap_err().to_string();
        assert!(e.contains("OFFSET") && e.contains("unknown unit"), "{e}");
        let e = parse_offset("OFFSET", "-1500m").unwrap_err().to_string();
        assert!(e.contains("one day"), "{e}");
    }

    #[test]
    fn a_directed_link_is_the_upstream_of_its_proxy_and_the_downstream_of_the_reverse() {
        assert_eq!(
            halves("a", "b"),
            [
                ("a>b".to_string(), "upstream"),
                ("b>a".to_string(), "downstream")
            ]
        );
    }

    #[test]
    fn faults_are_described_per_directed_link() {
        let lat = json!({"name": "meridian.latency.upstream", "type": "latency", "stream": "upstream",
            "toxicity": 1.0, "attributes": {"latency": 40, "jitter": 5, "distribution": "normal"}});
        let lat_down = json!({"name": "meridian.latency.downstream", "type": "latency", "stream": "downstream",
            "toxicity": 1.0, "attributes": {"latency": 40, "jitter": 5, "distribution": "normal"}});
        let hole = json!({"name": "x", "type": "timeout", "stream": "upstream",
            "toxicity": 1.0, "attributes": {"timeout": 0}});
        let mut proxies = BTreeMap::new();
        proxies.insert(
            "a>b".to_string(),
            json!({"enabled": true, "toxics": [lat, hole]}),
        );
        proxies.insert(
            "b>a".to_string(),
            json!({"enabled": false, "toxics": [lat_down]}),
        );
        assert_eq!(
            describe(&proxies, "a", "b"),
            "latency 40 ms ± 5 ms normal, blackhole [via a>b only]"
        );
        // b → a: upstream of b>a (disabled, so refused), downstream of a>b (nothing).
        assert_eq!(describe(&proxies, "b", "a"), "refused (b>a disabled)");
        proxies.insert("b>a".to_string(), json!({"enabled": true, "toxics": []}));
        assert_eq!(describe(&proxies, "b", "a"), "-");
    }
}
