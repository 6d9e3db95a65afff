//! Scenario files (`simulations/*.toml`): regions and their latencies, a
//! workload, a duration and a timeline of fault events. The same file drives
//! a live drill and a simulated one.
//!
//! Durations are written `"250ms"`, `"10s"` or `"2m"`. Latencies in a
//! scenario are one-way; a catalogue lists round-trip times, halved here.
//!
//! [`Action`] is the one fault vocabulary: scenario events parse into it,
//! and so do the arguments of `meridian net`, and the live executor
//! (`meridian_cluster::faults`) applies it to a running cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A scenario, validated, with every time in [`Duration`]s.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub regions: Vec<String>,
    /// One-way base latency per directed pair `(from, to)`.
    pub latency: BTreeMap<(String, String), Duration>,
    /// Jitter added on every link, and its distribution.
    pub jitter: Duration,
    pub distribution: Distribution,
    pub workload: Workload,
    pub duration: Duration,
    /// Longest wait for convergence once the workload stops.
    pub settle: Duration,
    pub sample_interval: Duration,
    /// Drift guard of every region.
    pub max_clock_offset: Duration,
    /// How long every region keeps a tombstone before it may purge it
    /// (once every region holds it: docs/repair.md, "Purging tombstones").
    pub tombstone_retain: Duration,
    /// How often every region runs a repair round with every peer.
    pub repair_interval: Duration,
    /// What a `crash` costs a region's disk. Under [`Durability::Normal`]
    /// a simulated crash is a power loss: the region comes back with its
    /// files as they stood at its last sync point, having lost the commits
    /// made since, as SQLite's `synchronous=NORMAL` allows.
    pub durability: Durability,
    /// How far apart the sync points of a simulated power loss are: the
    /// longest stretch of commits one can take.
    pub sync_interval: Duration,
    /// Sorted by time; ties keep file order.
    pub events: Vec<Event>,
}

/// How durable an acknowledged write is in the drill's regions, as a
/// cluster file's `durability` says (docs/store.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is synced: a crash loses nothing acknowledged.
    #[default]
    Full,
    /// Commits are synced at checkpoints only: a power loss may take the
    /// last ones (a simulated crash does; a live one is a kill, which
    /// loses nothing).
    Normal,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Uniform,
    Normal,
    Pareto,
}

impl Distribution {
    pub const ALL: [&'static str; 3] = ["uniform", "normal", "pareto"];

    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Normal => "normal",
            Distribution::Pareto => "pareto",
        }
    }
}

impl std::str::FromStr for Distribution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uniform" => Ok(Distribution::Uniform),
            "normal" => Ok(Distribution::Normal),
            "pareto" => Ok(Distribution::Pareto),
            other => Err(format!(
                "{other:?} is not a distribution: use uniform, normal or pareto"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub table: String,
    /// Operations per second started in each region.
    pub rate_per_region: u32,
    pub keys: u64,
    pub keys_dist: KeyDistribution,
    /// Relative weights of put, update, delete and get.
    pub mix: Mix,
    /// Approximate size of a written item, bytes.
    pub item_bytes: usize,
    /// Requests in flight per region at most; past that, the workload falls
    /// behind its rate instead of piling up.
    pub concurrency: usize,
    /// The regions that hold the table when the drill starts, and run the
    /// workload: every region unless the file names some. Each other
    /// region joins with an `add-replica` event.
    pub replicas: Vec<String>,
    /// The table's change stream, when the drill checks it: its view type
    /// (`NEW_IMAGE` or `NEW_AND_OLD_IMAGES`, which keep what a replay
    /// needs). Each region's stream, replayed from the start, must give
    /// its final items (docs/streams.md).
    pub stream: Option<String>,
    /// The table has the drill's secondary indexes, whose keys the writes
    /// move between partitions; each region's indexes must equal a
    /// recomputation from its items, and agree across regions
    /// (docs/indexes.md).
    pub indexes: bool,
    /// The table has TTL on, and one put in four (those made early enough
    /// that their time passes before the workload ends) carries an expiry
    /// one to two seconds ahead, so the regions' reapers delete them
    /// during the run. The checker takes an expired item's absence, or a
    /// TTL tombstone no client saw, as the expiry it is, and an expired
    /// item still live at the end as a failure.
    pub ttl: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Key `k` (1-based rank) is chosen with probability ∝ 1 / k^s.
    Zipf(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub put: u32,
    #[serde(default)]
    pub update: u32,
    #[serde(default)]
    pub delete: u32,
    #[serde(default)]
    pub get: u32,
    /// Multi-item writes: 2 to 4 distinct keys put or deleted in one
    /// request, committed together and replicated as one unit.
    #[serde(default)]
    pub transact: u32,
}

/// Partition kinds, as docs/netsim.md and `meridian net` name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKind {
    /// Bytes are accepted and never forwarded.
    Blackhole,
    /// Connections are refused or reset.
    Refuse,
}

impl PartitionKind {
    pub const ALL: [&'static str; 2] = ["blackhole", "refuse"];

    pub fn as_str(self) -> &'static str {
        match self {
            PartitionKind::Blackhole => "blackhole",
            PartitionKind::Refuse => "refuse",
        }
    }
}

impl std::str::FromStr for PartitionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "blackhole" => Ok(PartitionKind::Blackhole),
            "refuse" => Ok(PartitionKind::Refuse),
            other => Err(format!(
                "{other:?} is not a partition kind: use blackhole or refuse"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: Duration,
    pub action: Action,
}

/// A fault, or the end of one. A directed link `from → to` carries every
/// byte travelling from `from` to `to`; `both` applies the same to `to → from`.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Set a link's latency (one-way), jitter and jitter distribution. A
    /// field left `None` keeps what the link has (`meridian net lag` without
    /// `--jitter` keeps the jitter); a scenario event gives all three, so it
    /// replaces. Latency and jitter both zero removes the latency.
    Latency {
        from: String,
        to: String,
        both: bool,
        latency: Option<Duration>,
        jitter: Option<Duration>,
        distribution: Option<Distribution>,
    },
    /// Limit a link to `kbps` kilobytes per second; `None` removes the limit.
    Bandwidth {
        from: String,
        to: String,
        both: bool,
        kbps: Option<u64>,
    },
    /// Lose a share of segments; TCP retransmits, so each loss costs a
    /// retransmission timeout (`rto`, the proxy's default when `None`).
    /// 0 % removes the loss.
    Loss {
        from: String,
        to: String,
        both: bool,
        percent: f64,
        rto: Option<Duration>,
    },
    Partition {
        from: String,
        to: String,
        both: bool,
        kind: PartitionKind,
    },
    /// Cut every link of one region, both ways.
    Isolate { region: String, kind: PartitionKind },
    /// Partition a link for `down` out of every `period`, until healed.
    Flap {
        from: String,
        to: String,
        both: bool,
        period: Duration,
        down: Duration,
    },
    /// End partitions, isolations and flapping: of one link (both ways) when
    /// `from`/`to` are given, of one region's links when `region` is, or
    /// everywhere. Latency, bandwidth and loss stay.
    Heal {
        link: Option<(String, String)>,
        region: Option<String>,
    },
    /// Remove every fault, latency, bandwidth and loss included, in the same
    /// scope as [`Action::Heal`].
    Clear {
        link: Option<(String, String)>,
        region: Option<String>,
    },
    /// Skew a region's HLC clock: `offset_micros` ahead (negative: behind)
    /// and a drift rate in ppm.
    Skew {
        region: String,
        offset_micros: i64,
        drift_ppm: i64,
    },
    /// kill -9 of the region's process.
    Crash { region: String },
    /// Start a crashed region again on its data directory.
    Restart { region: String },
    /// Delete a crashed region's data directory, as a lost disk would: a
    /// later `restart` brings it back empty.
    Wipe { region: String },
    /// Copy a crashed region's data directory under `name`, to put back
    /// later with `restore`.
    Snapshot { region: String, name: String },
    /// Replace a crashed region's data directory with its copy `name`, as
    /// a restore from an old backup would.
    Restore { region: String, name: String },
    /// Turn point-in-time recovery of the drill's table on in a region
    /// (docs/backups.md).
    Recovery { region: String },
    /// Note an instant as `name`: the workload pauses everywhere until the
    /// regions agree, and the table as `region` holds it then is what a
    /// restore to this mark must give back, key by key.
    Mark { region: String, name: String },
    /// Restore the drill's table in `region` as it was at mark `name`,
    /// into `<table>-<name>`, by point-in-time recovery; the checker
    /// compares it, in every region, with the table at the mark.
    RestoreToTime { region: String, name: String },
    /// Add a replica of the drill's table in `region`, asked of `from` (a
    /// region of the table), while the workload goes on
    /// (docs/replicas.md). The report follows its fill to `ACTIVE`.
    AddReplica { region: String, from: String },
    /// Delete the drill's table in `region` and create it again with the
    /// same schema (and TTL, when the workload has it on): the workload
    /// pauses until no request is in flight and resumes once every region
    /// holds the new table, while other events go on firing. Writes to the
    /// old table are gone with it and must never reappear in the new one.
    Recreate { region: String },
}

/// The directed links an event on `from → to` covers: that one, and
/// `to → from` as well when `both`.
pub fn directed(from: &str, to: &str, both: bool) -> Vec<(String, String)> {
    let mut v = vec![(from.to_string(), to.to_string())];
    if both {
        v.push((to.to_string(), from.to_string()));
    }
    v
}

/// The directed links isolating `region` from the other `regions` cuts:
/// to and from each of them, in their order.
pub fn isolating(region: &str, regions: &[String]) -> Vec<(String, String)> {
    regions
        .iter()
        .filter(|other| *other != region)
        .flat_map(|other| directed(region, other, true))
        .collect()
}

/// How a directed link is drawn: `→`, or `⇄` when `both` ways.
pub fn arrow(both: bool) -> &'static str {
    if both { "⇄" } else { "→" }
}

impl Action {
    /// The region whose data this action destroys or rolls back, if any:
    /// the disasters a drill states an RPO and RTO for.
    pub fn data_loss(&self) -> Option<&str> {
        match self {
            Action::Wipe { region } | Action::Restore { region, .. } => Some(region),
            _ => None,
        }
    }

    /// The event's name in the file, for markers and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Latency { .. } => "latency",
            Action::Bandwidth { .. } => "bandwidth",
            Action::Loss { .. } => "loss",
            Action::Partition { .. } => "partition",
            Action::Isolate { .. } => "isolate",
            Action::Flap { .. } => "flap",
            Action::Heal { .. } => "heal",
            Action::Clear { .. } => "clear",
            Action::Skew { .. } => "skew",
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
            Action::Wipe { .. } => "wipe",
            Action::Snapshot { .. } => "snapshot",
            Action::Restore { .. } => "restore",
            Action::Recovery { .. } => "recovery",
            Action::Mark { .. } => "mark",
            Action::RestoreToTime { .. } => "restore-to-time",
            Action::AddReplica { .. } => "add-replica",
            Action::Recreate { .. } => "recreate",
        }
    }

    /// A one-line description, as plots and progress output show it.
    pub fn label(&self) -> String {
        let ms = |d: &Option<Duration>| match d {
            Some(d) => format!("{} ms", d.as_millis()),
            None => "unchanged".to_string(),
        };
        match self {
            Action::Latency {
                from,
                to,
                both,
                latency,
                jitter,
                distribution,
            } => format!(
                "latency {from} {} {to} {} ± {} ({})",
                arrow(*both),
                ms(latency),
                ms(jitter),
                distribution
                    .map(Distribution::as_str)
                    .unwrap_or("unchanged")
            ),
            Action::Bandwidth {
                from,
                to,
                both,
                kbps,
            } => match kbps {
                Some(kbps) => format!("bandwidth {from} {} {to} {kbps} KB/s", arrow(*both)),
                None => format!("bandwidth {from} {} {to} off", arrow(*both)),
            },
            Action::Loss {
                from,
                to,
                both,
                percent,
                ..
            } => format!("loss {from} {} {to} {percent}%", arrow(*both)),
            Action::Partition {
                from,
                to,
                both,
                kind,
            } => format!("partition {from} {} {to} ({})", arrow(*both), kind.as_str()),
            Action::Isolate { region, kind } => {
                format!("isolate {region} ({})", kind.as_str())
            }
            Action::Flap {
                from,
                to,
                both,
                period,
                down,
            } => format!(
                "flap {from} {} {to} down {} ms every {} ms",
                arrow(*both),
                down.as_millis(),
                period.as_millis()
            ),
            Action::Heal { link, region } => match (link, region) {
                (Some((a, b)), _) => format!("heal {a} ⇄ {b}"),
                (None, Some(r)) => format!("heal {r}"),
                (None, None) => "heal all".into(),
            },
            Action::Clear { link, region } => match (link, region) {
                (Some((a, b)), _) => format!("clear {a} ⇄ {b}"),
                (None, Some(r)) => format!("clear {r}"),
                (None, None) => "clear all".into(),
            },
            Action::Skew {
                region,
                offset_micros,
                drift_ppm,
            } => format!(
                "skew {region} {:+} ms, drift {drift_ppm:+} ppm",
                *offset_micros as f64 / 1e3
            ),
            Action::Crash { region } => format!("crash {region}"),
            Action::Restart { region } => format!("restart {region}"),
            Action::Wipe { region } => format!("wipe {region}'s data directory"),
            Action::Snapshot { region, name } => format!("snapshot {region} as {name:?}"),
            Action::Restore { region, name } => format!("restore {region} from {name:?}"),
            Action::Recovery { region } => format!("point-in-time recovery on in {region}"),
            Action::Mark { region, name } => format!("mark {name:?} in {region}"),
            Action::RestoreToTime { region, name } => {
                format!("restore {region}'s table to mark {name:?}")
            }
            Action::AddReplica { region, from } => {
                format!("add a replica in {region} (asked of {from})")
            }
            Action::Recreate { region } => {
                format!("delete the table in {region} and create it again")
            }
        }
    }
}

// ------------------------------------------------------------ file format

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    description: String,
    duration: String,
    #[serde(default = "default_settle")]
    settle: String,
    #[serde(default = "default_sample")]
    sample_interval: String,
    #[serde(default = "default_max_offset")]
    max_clock_offset: String,
    #[serde(default = "default_tombstone_retain")]
    tombstone_retain: String,
    #[serde(default = "default_repair_interval")]
    repair_interval: String,
    #[serde(default)]
    durability: Durability,
    #[serde(default = "default_sync_interval")]
    sync_interval: String,
    regions: RegionsSection,
    #[serde(default)]
    network: NetworkSection,
    workload: WorkloadSection,
    #[serde(default, rename = "event")]
    events: Vec<EventSection>,
}

fn default_settle() -> String {
    "60s".into()
}
fn default_sample() -> String {
    "250ms".into()
}
fn default_max_offset() -> String {
    "500ms".into()
}

/// The regions' own default (`repair_interval_ms`).
fn default_repair_interval() -> String {
    "30s".into()
}

/// About how often SQLite's automatic checkpoint syncs a busy region's WAL.
fn default_sync_interval() -> String {
    "1s".into()
}

/// The regions' own default (`tombstone_retain_secs`).
fn default_tombstone_retain() -> String {
    "60m".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionsSection {
    names: Vec<String>,
    /// A catalogue file, relative to the scenario file.
    catalogue: Option<String>,
    /// Round-trip times in ms, `rtt_ms.<a>.<b>`; overrides the catalogue.
    #[serde(default)]
    rtt_ms: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    #[serde(default)]
    jitter: Option<String>,
    #[serde(default)]
    distribution: Option<Distribution>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadSection {
    #[serde(default = "default_table")]
    table: String,
    rate_per_region: u32,
    keys: u64,
    /// `"uniform"` or `"zipf"`.
    #[serde(default = "default_dist")]
    distribution: String,
    /// The zipf exponent.
    zipf_s: Option<f64>,
    mix: Mix,
    #[serde(default = "default_item_bytes")]
    item_bytes: usize,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    /// The regions that hold the table at the start (default: all).
    replicas: Option<Vec<String>>,
    /// A change stream on the table, checked at the end.
    stream: Option<String>,
    /// The drill's secondary indexes on the table, checked at the end.
    #[serde(default)]
    indexes: bool,
    /// TTL on the table, with expiring items in the workload.
    #[serde(default)]
    ttl: bool,
}

fn default_table() -> String {
    "drill".into()
}
fn default_dist() -> String {
    "uniform".into()
}
fn default_item_bytes() -> usize {
    200
}
fn default_concurrency() -> usize {
    32
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventSection {
    at: String,
    action: String,
    from: Option<String>,
    to: Option<String>,
    region: Option<String>,
    #[serde(default)]
    both: bool,
    kind: Option<PartitionKind>,
    latency: Option<String>,
    jitter: Option<String>,
    distribution: Option<Distribution>,
    kbps: Option<u64>,
    percent: Option<f64>,
    rto: Option<String>,
    period: Option<String>,
    down: Option<String>,
    /// A snapshot's name (`snapshot`, `restore`).
    name: Option<String>,
    offset_ms: Option<i64>,
    /// The offset as `meridian net skew` takes it: `"+300ms"`, `"-1.5s"`.
    offset: Option<String>,
    drift_ppm: Option<i64>,
}

/// The region catalogue (`regions/catalogue.toml`): round-trip times
/// between well-known cloud regions.
#[derive(Deserialize)]
struct Catalogue {
    rtt_ms: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Limits that keep a scenario bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
pub const MAX_RATE_PER_REGION: u32 = 50_000;
pub const MAX_KEYS: u64 = 10_000_000;
pub const MAX_ITEM_BYTES: usize = 64 * 1024;
pub const MAX_EVENTS: usize = 10_000;
pub const MAX_REGIONS: usize = 16;
/// Largest retransmission timeout of `loss`: Linux's maximum RTO.
pub const MAX_RTO: Duration = Duration::from_secs(120);

/// Parses `"250us"`, `"250ms"`, `"10s"`, `"1.5s"`, `"2m"` or `"0"`, rounded
/// to whole microseconds (so `"0.1s"` is exactly 100 ms). The one duration
/// parser of scenario files and `meridian net`; a space before the unit is
/// allowed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None if t == "0" => return Ok(Duration::ZERO),
        None => return Err(format!("{text:?} needs a unit: ms, s or m (e.g. 40ms)")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 40ms, 1.5s or 2m"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s or m"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_micros((secs * 1e6).round() as u64))
}

/// Largest clock offset a region accepts (Admin SetClock): one day.
pub const MAX_SKEW: Duration = Duration::from_secs(86_400);
/// Largest drift rate a region accepts (Admin SetClock), ppm.
pub const MAX_DRIFT_PPM: i64 = 100_000;

/// Parses a signed clock offset, `"+300ms"`, `"-1.5s"`, `"300ms"` or `"0"`,
/// into microseconds, within ±[`MAX_SKEW`].
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = parse_duration(rest)?;
    if d > MAX_SKEW {
        return Err(format!(
            "{text} is beyond the limit of ±{} s (one day)",
            MAX_SKEW.as_secs()
        ));
    }
    Ok(sign * d.as_micros() as i64)
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut rtt = file.regions.rtt_ms.clone();
        if let Some(c) = &file.regions.catalogue {
            let cpath = path.parent().unwrap_or(Path::new(".")).join(c);
            let ctext = std::fs::read_to_string(&cpath).map_err(|source| ScenarioError::Read {
                path: cpath.clone(),
                source,
            })?;
            let cat: Catalogue = toml::from_str(&ctext).map_err(|e| ScenarioError::Invalid {
                path: cpath.clone(),
                message: e.to_string(),
            })?;
            for (a, row) in cat.rtt_ms {
                for (b, ms) in row {
                    rtt.entry(a.clone()).or_default().entry(b).or_insert(ms);
                }
            }
        }
        Scenario::from_file(file, &rtt).map_err(invalid)
    }

    /// Parses a scenario from text; `catalogue` supplies round-trip times
    /// the file does not list itself.
    pub fn parse(
        text: &str,
        catalogue: &BTreeMap<String, BTreeMap<String, f64>>,
    ) -> Result<Scenario, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rtt = file.regions.rtt_ms.clone();
        for (a, row) in catalogue {
            for (b, ms) in row {
                rtt.entry(a.clone())
                    .or_default()
                    .entry(b.clone())
                    .or_insert(*ms);
            }
        }
        Scenario::from_file(file, &rtt)
    }

    fn from_file(
        file: File,
        rtt: &BTreeMap<String, BTreeMap<String, f64>>,
    ) -> Result<Scenario, String> {
        let dur =
            |field: &str, text: &str| parse_duration(text).map_err(|e| format!("{field}: {e}"));
        let name_ok = !file.name.is_empty()
            && file.name.len() <= 64
            && !file.name.starts_with('.')
            && file
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            // The name becomes a directory name for the drill's output.
            return Err(format!(
                "name must be 1 to 64 characters of letters, digits, '-', '_' and '.', not starting with '.', got {:?}",
                file.name
            ));
        }
        let regions = file.regions.names.clone();
        if regions.len() < 2 || regions.len() > MAX_REGIONS {
            return Err(format!(
                "regions.names must list 2 to {MAX_REGIONS} regions, got {}",
                regions.len()
            ));
        }
        for (i, r) in regions.iter().enumerate() {
            meridian_core::schema::validate_region_name(r)
                .map_err(|e| format!("regions.names: {e}"))?;
            if regions[..i].contains(r) {
                return Err(format!("regions.names lists {r} twice"));
            }
        }
        let mut latency = BTreeMap::new();
        for a in &regions {
            for b in &regions {
                if a == b {
                    continue;
                }
                let ms = rtt
                    .get(a)
                    .and_then(|row| row.get(b))
                    .or_else(|| rtt.get(b).and_then(|row| row.get(a)))
                    .copied()
                    .ok_or_else(|| {
                        format!(
                            "no round-trip time for {a} ⇄ {b}: add regions.rtt_ms.{a}.{b} (0 for none) or a catalogue that lists the pair"
                        )
                    })?;
                if !(0.0..=10_000.0).contains(&ms) {
                    return Err(format!(
                        "rtt_ms.{a}.{b} must be between 0 and 10000 ms, got {ms}"
                    ));
                }
                latency.insert(
                    (a.clone(), b.clone()),
                    Duration::from_secs_f64(ms / 2.0 / 1000.0),
                );
            }
        }
        let duration = dur("duration", &file.duration)?;
        if duration.is_zero() || duration > MAX_DURATION {
            return Err(format!(
                "duration must be between 1ms and {} s, got {}",
                MAX_DURATION.as_secs(),
                file.duration
            ));
        }
        let settle = dur("settle", &file.settle)?;
        if settle > MAX_DURATION {
            return Err(format!(
                "settle must be at most {} s, got {}",
                MAX_DURATION.as_secs(),
                file.settle
            ));
        }
        let sample_interval = dur("sample_interval", &file.sample_interval)?;
        if sample_interval < Duration::from_millis(10) || sample_interval > Duration::from_secs(60)
        {
            return Err(format!(
                "sample_interval must be between 10ms and 60s, got {}",
                file.sample_interval
            ));
        }
        let max_clock_offset = dur("max_clock_offset", &file.max_clock_offset)?;
        if max_clock_offset < Duration::from_millis(1) || max_clock_offset > Duration::from_secs(60)
        {
            return Err(format!(
                "max_clock_offset must be between 1ms and 60s, got {}",
                file.max_clock_offset
            ));
        }
        let tombstone_retain = dur("tombstone_retain", &file.tombstone_retain)?;
        if tombstone_retain.subsec_nanos() != 0
            || tombstone_retain > Duration::from_secs(7 * 86_400)
        {
            return Err(format!(
                "tombstone_retain must be whole seconds, at most 7 days (10080m), got {}",
                file.tombstone_retain
            ));
        }
        let repair_interval = dur("repair_interval", &file.repair_interval)?;
        if repair_interval < Duration::from_millis(100)
            || repair_interval > Duration::from_secs(3600)
        {
            return Err(format!(
                "repair_interval must be between 100ms and 60m, got {}",
                file.repair_interval
            ));
        }
        let sync_interval = dur("sync_interval", &file.sync_interval)?;
        if sync_interval < Duration::from_millis(10) || sync_interval > Duration::from_secs(3600) {
            return Err(format!(
                "sync_interval must be between 10ms and 60m, got {}",
                file.sync_interval
            ));
        }
        let jitter = match &file.network.jitter {
            Some(j) => dur("network.jitter", j)?,
            None => Duration::ZERO,
        };
        let w = &file.workload;
        let workload = Workload {
            table: w.table.clone(),
            rate_per_region: w.rate_per_region,
            keys: w.keys,
            keys_dist: match (w.distribution.as_str(), w.zipf_s) {
                ("uniform", None) => KeyDistribution::Uniform,
                ("uniform", Some(_)) => {
                    return Err("workload.zipf_s is only for distribution = \"zipf\"".into());
                }
                ("zipf", Some(s)) if s > 0.0 && s <= 10.0 => KeyDistribution::Zipf(s),
                ("zipf", Some(s)) => {
                    return Err(format!("workload.zipf_s must be in (0, 10], got {s}"));
                }
                ("zipf", None) => return Err("workload.zipf_s is required for zipf".into()),
                (other, _) => {
                    return Err(format!(
                        "workload.distribution must be \"uniform\" or \"zipf\", got {other:?}"
                    ));
                }
            },
            mix: w.mix,
            item_bytes: w.item_bytes,
            concurrency: w.concurrency,
            indexes: w.indexes,
            ttl: w.ttl,
            stream: match w.stream.as_deref() {
                None => None,
                Some(v @ ("NEW_IMAGE" | "NEW_AND_OLD_IMAGES")) => Some(v.to_string()),
                Some(other) => {
                    return Err(format!(
                        "workload.stream must be \"NEW_IMAGE\" or \"NEW_AND_OLD_IMAGES\" (a replay needs the new image), got {other:?}"
                    ));
                }
            },
            replicas: match &w.replicas {
                None => regions.clone(),
                Some(r) if r.is_empty() => {
                    return Err("workload.replicas must name at least one region".into());
                }
                Some(r) => {
                    if let Some(x) = r.iter().find(|x| !regions.contains(x)) {
                        return Err(format!(
                            "workload.replicas: {x:?} is not one of the scenario's regions ({})",
                            regions.join(", ")
                        ));
                    }
                    r.clone()
                }
            },
        };
        meridian_core::schema::validate_table_name(&workload.table)
            .map_err(|e| format!("workload.table: {e}"))?;
        if workload.rate_per_region == 0 || workload.rate_per_region > MAX_RATE_PER_REGION {
            return Err(format!(
                "workload.rate_per_region must be between 1 and {MAX_RATE_PER_REGION}, got {}",
                workload.rate_per_region
            ));
        }
        if workload.keys == 0 || workload.keys > MAX_KEYS {
            return Err(format!(
                "workload.keys must be between 1 and {MAX_KEYS}, got {}",
                workload.keys
            ));
        }
        let m = workload.mix;
        if [m.put, m.update, m.delete, m.get, m.transact]
            .into_iter()
            .map(u64::from)
            .sum::<u64>()
            == 0
        {
            return Err("workload.mix needs at least one non-zero weight".into());
        }
        if workload.item_bytes < 16 || workload.item_bytes > MAX_ITEM_BYTES {
            return Err(format!(
                "workload.item_bytes must be between 16 and {MAX_ITEM_BYTES}, got {}",
                workload.item_bytes
            ));
        }
        if workload.concurrency == 0 || workload.concurrency > 1024 {
            return Err(format!(
                "workload.concurrency must be between 1 and 1024, got {}",
                workload.concurrency
            ));
        }
        if file.events.len() > MAX_EVENTS {
            return Err(format!(
                "at most {MAX_EVENTS} events, got {}",
                file.events.len()
            ));
        }
        let mut events = Vec::new();
        for (i, e) in file.events.iter().enumerate() {
            let field = |name: &str| format!("event[{i}].{name}");
            let at = dur(&field("at"), &e.at)?;
            if at > duration {
                return Err(format!(
                    "{} = {} is after the end of the workload ({})",
                    field("at"),
                    e.at,
                    file.duration
                ));
            }
            let region_of = |v: &Option<String>, name: &str| -> Result<String, String> {
                let r = v
                    .clone()
                    .ok_or_else(|| format!("{} is required", field(name)))?;
                if !regions.contains(&r) {
                    return Err(format!(
                        "{} = {r:?} is not one of the scenario's regions ({})",
                        field(name),
                        regions.join(", ")
                    ));
                }
                Ok(r)
            };
            let link = || -> Result<(String, String), String> {
                let (a, b) = (region_of(&e.from, "from")?, region_of(&e.to, "to")?);
                if a == b {
                    return Err(format!("{}: from and to must differ", field("to")));
                }
                Ok((a, b))
            };
            let action = match e.action.as_str() {
                "latency" => {
                    let (from, to) = link()?;
                    Action::Latency {
                        from,
                        to,
                        both: e.both,
                        latency: Some(dur(
                            &field("latency"),
                            e.latency
                                .as_deref()
                                .ok_or_else(|| format!("{} is required", field("latency")))?,
                        )?),
                        // An event replaces the link's latency whole.
                        jitter: Some(match &e.jitter {
                            Some(j) => dur(&field("jitter"), j)?,
                            None => Duration::ZERO,
                        }),
                        distribution: Some(e.distribution.unwrap_or(Distribution::Normal)),
                    }
                }
                "bandwidth" => {
                    let (from, to) = link()?;
                    let kbps = e
                        .kbps
                        .ok_or_else(|| format!("{} is required", field("kbps")))?;
                    if kbps == 0 {
                        return Err(format!(
                            "{} must be at least 1 (use partition to cut a link)",
                            field("kbps")
                        ));
                    }
                    Action::Bandwidth {
                        from,
                        to,
                        both: e.both,
                        kbps: Some(kbps),
                    }
                }
                "loss" => {
                    let (from, to) = link()?;
                    let percent = e
                        .percent
                        .ok_or_else(|| format!("{} is required", field("percent")))?;
                    if !(0.0..=100.0).contains(&percent) {
                        return Err(format!(
                            "{} must be between 0 and 100, got {percent}",
                            field("percent")
                        ));
                    }
                    let rto = match &e.rto {
                        Some(r) => {
                            let rto = dur(&field("rto"), r)?;
                            if rto < Duration::from_millis(1) || rto > MAX_RTO {
                                return Err(format!(
                                    "{} must be between 1ms and {} s, got {r}",
                                    field("rto"),
                                    MAX_RTO.as_secs()
                                ));
                            }
                            Some(rto)
                        }
                        None => None,
                    };
                    Action::Loss {
                        from,
                        to,
                        both: e.both,
                        percent,
                        rto,
                    }
                }
                "partition" => {
                    let (from, to) = link()?;
                    Action::Partition {
                        from,
                        to,
                        both: e.both,
                        kind: e.kind.unwrap_or(PartitionKind::Blackhole),
                    }
                }
                "isolate" => Action::Isolate {
                    region: region_of(&e.region, "region")?,
                    kind: e.kind.unwrap_or(PartitionKind::Blackhole),
                },
                "flap" => {
                    let (from, to) = link()?;
                    let period = dur(
                        &field("period"),
                        e.period
                            .as_deref()
                            .ok_or_else(|| format!("{} is required", field("period")))?,
                    )?;
                    let down = dur(
                        &field("down"),
                        e.down
                            .as_deref()
                            .ok_or_else(|| format!("{} is required", field("down")))?,
                    )?;
                    if period < Duration::from_millis(100) || down.is_zero() || down >= period {
                        return Err(format!(
                            "{}: need period ≥ 100ms and 0 < down < period, got period {} and down {}",
                            field("period"),
                            e.period.as_deref().unwrap_or(""),
                            e.down.as_deref().unwrap_or("")
                        ));
                    }
                    Action::Flap {
                        from,
                        to,
                        both: e.both,
                        period,
                        down,
                    }
                }
                "heal" | "clear" => {
                    let link = match (&e.from, &e.to) {
                        (None, None) => None,
                        _ => Some(link()?),
                    };
                    let region = match &e.region {
                        None => None,
                        Some(_) => Some(region_of(&e.region, "region")?),
                    };
                    if link.is_some() && region.is_some() {
                        return Err(format!(
                            "{}: give from/to or region, not both",
                            field("region")
                        ));
                    }
                    if e.action == "heal" {
                        Action::Heal { link, region }
                    } else {
                        Action::Clear { link, region }
                    }
                }
                "skew" => {
                    let offset_micros = match (e.offset_ms, &e.offset) {
                        (Some(_), Some(_)) => {
                            return Err(format!(
                                "{}: give offset_ms or offset, not both",
                                field("offset")
                            ));
                        }
                        (Some(offset_ms), None) => {
                            if offset_ms.unsigned_abs() > 86_400_000 {
                                return Err(format!(
                                    "{} must be within ±86400000 (one day), got {offset_ms}",
                                    field("offset_ms")
                                ));
                            }
                            offset_ms * 1000
                        }
                        (None, Some(o)) => {
                            parse_offset(o).map_err(|e| format!("{}: {e}", field("offset")))?
                        }
                        (None, None) => 0,
                    };
                    let drift_ppm = e.drift_ppm.unwrap_or(0);
                    if drift_ppm.unsigned_abs() > MAX_DRIFT_PPM as u64 {
                        return Err(format!(
                            "{} must be within ±100000, got {drift_ppm}",
                            field("drift_ppm")
                        ));
                    }
                    Action::Skew {
                        region: region_of(&e.region, "region")?,
                        offset_micros,
                        drift_ppm,
                    }
                }
                "crash" => Action::Crash {
                    region: region_of(&e.region, "region")?,
                },
                "restart" => Action::Restart {
                    region: region_of(&e.region, "region")?,
                },
                "wipe" => Action::Wipe {
                    region: region_of(&e.region, "region")?,
                },
                "snapshot" | "restore" | "mark" | "restore-to-time" => {
                    let region = region_of(&e.region, "region")?;
                    let name = e.name.clone().unwrap_or_else(|| "default".into());
                    if name.is_empty()
                        || name.len() > 64
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        return Err(format!(
                            "{} must be 1 to 64 letters, digits, '-' or '_', got {name:?}",
                            field("name")
                        ));
                    }
                    match e.action.as_str() {
                        "snapshot" => Action::Snapshot { region, name },
                        "restore" => Action::Restore { region, name },
                        "mark" => Action::Mark { region, name },
                        _ => Action::RestoreToTime { region, name },
                    }
                }
                "recovery" => Action::Recovery {
                    region: region_of(&e.region, "region")?,
                },
                "add-replica" => Action::AddReplica {
                    region: region_of(&e.region, "region")?,
                    from: match &e.from {
                        Some(_) => region_of(&e.from, "from")?,
                        None => workload.replicas[0].clone(),
                    },
                },
                "recreate" => Action::Recreate {
                    region: region_of(&e.region, "region")?,
                },
                other => {
                    return Err(format!(
                        "{} = {other:?} is not one of latency, bandwidth, loss, partition, isolate, flap, heal, clear, skew, crash, restart, wipe, snapshot, restore, recovery, mark, restore-to-time, add-replica, recreate",
                        field("action")
                    ));
                }
            };
            events.push(Event { at, action });
        }
        events.sort_by_key(|e| e.at);
        // A crash must come before the restart of the same region, and a
        // region's data is touched only while it is down.
        let mut down = std::collections::BTreeSet::new();
        let mut snapshots = std::collections::BTreeSet::new();
        let mut recovering = std::collections::BTreeSet::new();
        let mut marks = std::collections::BTreeSet::new();
        let mut restored = std::collections::BTreeSet::new();
        let mut holding: std::collections::BTreeSet<String> =
            workload.replicas.iter().cloned().collect();
        for e in &events {
            let at = format!("the {} event at {:?}", e.action.name(), e.at);
            match &e.action {
                Action::Crash { region } if !down.insert(region.clone()) => {
                    return Err(format!("{region} is crashed twice without a restart"));
                }
                Action::Restart { region } if !down.remove(region) => {
                    return Err(format!("{region} is restarted without a crash before it"));
                }
                Action::Wipe { region }
                | Action::Snapshot { region, .. }
                | Action::Restore { region, .. }
                    if !down.contains(region) =>
                {
                    return Err(format!(
                        "{at}: {region} must be crashed first (its data is copied or replaced only while it is down)"
                    ));
                }
                Action::Snapshot { region, name } => {
                    snapshots.insert((region.clone(), name.clone()));
                }
                Action::Restore { region, name }
                    if !snapshots.contains(&(region.clone(), name.clone())) =>
                {
                    return Err(format!(
                        "{at}: {region} has no snapshot named {name:?} before it"
                    ));
                }
                Action::Recovery { region } => {
                    recovering.insert(region.clone());
                }
                Action::Mark { region, .. } | Action::RestoreToTime { region, .. }
                    if !recovering.contains(region) =>
                {
                    return Err(format!(
                        "{at}: {region} needs a recovery event before it (point-in-time recovery must be on)"
                    ));
                }
                // A mark's restore is the table `<table>-<name>`: one per name.
                Action::Mark { name, .. } if !marks.insert(name.clone()) => {
                    return Err(format!("{at}: there is already a mark named {name:?}"));
                }
                Action::RestoreToTime { region, name }
                    if !marks.contains(name) || !restored.insert(name.clone()) =>
                {
                    return Err(format!(
                        "{at}: {region} has no mark named {name:?} before it, or it is restored twice"
                    ));
                }
                Action::AddReplica { region, from } => {
                    if !holding.contains(from) {
                        return Err(format!("{at}: {from} holds no replica of the table to ask"));
                    }
                    if !holding.insert(region.clone()) {
                        return Err(format!("{at}: {region} already holds a replica"));
                    }
                }
                // The recreated table goes to every region, as the first.
                Action::Recreate { .. } if holding.len() != regions.len() => {
                    return Err(format!(
                        "{at}: recreate needs every region to hold the table; add the others first"
                    ));
                }
                // Marks compare every region's copy of the table.
                Action::Mark { .. } if holding.len() != regions.len() => {
                    return Err(format!(
                        "{at}: a mark needs every region to hold the table; add the others first"
                    ));
                }
                _ => {}
            }
        }
        // The checker compares every region's copy at the end.
        if let Some(missing) = regions.iter().find(|r| !holding.contains(*r)) {
            return Err(format!(
                "{missing} holds no replica of the table and no add-replica event adds one; the checker compares every region's copy"
            ));
        }
        Ok(Scenario {
            name: file.name,
            description: file.description,
            regions,
            latency,
            jitter,
            distribution: file.network.distribution.unwrap_or(Distribution::Normal),
            workload,
            duration,
            settle,
            sample_interval,
            max_clock_offset,
            tombstone_retain,
            repair_interval,
            durability: file.durability,
            sync_interval,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        name = "t"
        duration = "10s"
        [regions]
        names = ["a", "b", "c"]
        rtt_ms = { a = { b = 80, c = 20 }, b = { c = 0 } }
        [workload]
        rate_per_region = 100
        keys = 50
        mix = { put = 1 }
    "#;

    fn parse(extra: &str) -> Result<Scenario, String> {
        Scenario::parse(&format!("{BASE}\n{extra}"), &BTreeMap::new())
    }

    #[test]
    fn durability_sync_interval_and_transactions() {
        let top = |lines: &str| {
            Scenario::parse(
                &BASE.replacen("[regions]", &format!("{lines}\n[regions]"), 1),
                &BTreeMap::new(),
            )
        };
        let s = parse("").unwrap();
        assert_eq!(s.durability, Durability::Full);
        assert_eq!(s.sync_interval, Duration::from_secs(1));
        assert_eq!(s.workload.mix.transact, 0);
        let s = top("durability = \"normal\"\nsync_interval = \"250ms\"").unwrap();
        assert_eq!(s.durability, Durability::Normal);
        assert_eq!(s.sync_interval, Duration::from_millis(250));
        assert!(top("durability = \"off\"").is_err());
        assert!(
            top("sync_interval = \"1ms\"")
                .unwrap_err()
                .contains("sync_interval")
        );
        let only = Scenario::parse(
            &BASE.replace("mix = { put = 1 }", "mix = { transact = 1 }"),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(only.workload.mix.transact, 1);
    }

    #[test]
    fn recreate_names_a_region_of_the_table() {
        let s = parse("[[event]]\nat = \"2s\"\naction = \"recreate\"\nregion = \"b\"").unwrap();
        assert_eq!(s.events[0].action, Action::Recreate { region: "b".into() });
        assert_eq!(s.events[0].action.name(), "recreate");
        assert!(parse("[[event]]\nat = \"2s\"\naction = \"recreate\"").is_err());
        assert!(parse("[[event]]\nat = \"2s\"\naction = \"recreate\"\nregion = \"zz\"").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").unwrap_err().contains("unit"));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        // What `meridian net` accepted too: microseconds, and exact tenths.
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("10 s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_offset("+300ms"), Ok(300_000));
        assert_eq!(parse_offset("-1.5s"), Ok(-1_500_000));
        assert!(parse_offset("-1500m").unwrap_err().contains("one day"));
    }

    #[test]
    fn rtt_is_halved_and_symmetric() {
        let s = parse("").unwrap();
        let l = |a: &str, b: &str| s.latency[&(a.to_string(), b.to_string())];
        assert_eq!(l("a", "b"), Duration::from_millis(40));
        assert_eq!(l("b", "a"), Duration::from_millis(40));
        assert_eq!(l("c", "a"), Duration::from_millis(10));
        assert_eq!(l("b", "c"), Duration::ZERO);
        let err =
            Scenario::parse(&BASE.replace(", b = { c = 0 }", ""), &BTreeMap::new()).unwrap_err();
        assert!(err.contains("b ⇄ c"), "{err}");
        let err = Scenario::parse(
            &BASE.replace("name = \"t\"", "name = \"../x\""),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.starts_with("name must be"), "{err}");
    }

    #[test]
    fn events_are_sorted_and_validated() {
        let s = parse(
            r#"
            [[event]]
            at = "5s"
            action = "heal"
            [[event]]
            at = "1s"
            action = "partition"
            from = "a"
            to = "b"
            both = true
            "#,
        )
        .unwrap();
        assert_eq!(s.events[0].action.name(), "partition");
        assert_eq!(s.events[0].action.label(), "partition a ⇄ b (blackhole)");
        let err = parse("[[event]]\nat = \"1s\"\naction = \"crash\"\nregion = \"zz\"").unwrap_err();
        assert!(
            err.contains("event[0].region") && err.contains("zz"),
            "{err}"
        );
        let err = parse("[[event]]\nat = \"11s\"\naction = \"heal\"").unwrap_err();
        assert!(err.contains("after the end"), "{err}");
        let err =
            parse("[[event]]\nat = \"1s\"\naction = \"restart\"\nregion = \"a\"").unwrap_err();
        assert!(err.contains("without a crash"), "{err}");
        let err = parse(
            "[[event]]\nat = \"1s\"\naction = \"flap\"\nfrom = \"a\"\nto = \"b\"\nperiod = \"1s\"\ndown = \"2s\"",
        )
        .unwrap_err();
        assert!(err.contains("down < period"), "{err}");
    }

    #[test]
    fn repair_settings_default_to_the_regions_and_are_bounded() {
        let s = parse("").unwrap();
        assert_eq!(s.repair_interval, Duration::from_secs(30));
        assert_eq!(s.tombstone_retain, Duration::from_secs(3600));
        let with = |extra: &str| {
            Scenario::parse(
                &BASE.replace(
                    "duration = \"10s\"",
                    &format!("duration = \"10s\"\n{extra}"),
                ),
                &BTreeMap::new(),
            )
        };
        let s = with("tombstone_retain = \"5s\"\nrepair_interval = \"2s\"").unwrap();
        assert_eq!(s.tombstone_retain, Duration::from_secs(5));
        assert_eq!(s.repair_interval, Duration::from_secs(2));
        let err = with("tombstone_retain = \"1500ms\"").unwrap_err();
        assert!(
            err.contains("tombstone_retain") && err.contains("whole seconds"),
            "{err}"
        );
        let err = with("tombstone_retain = \"10081m\"").unwrap_err();
        assert!(err.contains("7 days"), "{err}");
        let err = with("repair_interval = \"50ms\"").unwrap_err();
        assert!(
            err.contains("repair_interval") && err.contains("100ms"),
            "{err}"
        );
    }

    #[test]
    fn workload_limits_name_the_field() {
        let err = Scenario::parse(
            &BASE.replace("rate_per_region = 100", "rate_per_region = 0"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.contains("workload.rate_per_region"), "{err}");
        let err = Scenario::parse(
            &BASE.replace(
                "mix = { put = 1 }",
                "mix = { put = 1 }\ndistribution = \"zipf\"",
            ),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.contains("zipf_s"), "{err}");
    }
}
