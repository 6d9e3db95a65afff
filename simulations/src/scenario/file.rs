//! The scenario file as TOML holds it, before any check: every section
//! and its defaults, and the region catalogue's round-trip times.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::action::{Distribution, PartitionKind};
use super::criteria::{AlarmSection, InvariantSection, ObjectivesSection};
use super::model::{Consistency, Durability, Mix, Order};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) duration: String,
    #[serde(default = "default_settle")]
    pub(super) settle: String,
    #[serde(default = "default_sample")]
    pub(super) sample_interval: String,
    #[serde(default = "default_max_offset")]
    pub(super) max_clock_offset: String,
    #[serde(default = "default_tombstone_retain")]
    pub(super) tombstone_retain: String,
    #[serde(default = "default_repair_interval")]
    pub(super) repair_interval: String,
    #[serde(default)]
    pub(super) durability: Durability,
    #[serde(default = "default_sync_interval")]
    pub(super) sync_interval: String,
    pub(super) regions: RegionsSection,
    #[serde(default)]
    pub(super) network: NetworkSection,
    pub(super) workload: WorkloadSection,
    #[serde(default)]
    pub(super) table: TableSection,
    #[serde(default)]
    pub(super) replication: ReplicationSection,
    #[serde(default, rename = "event")]
    pub(super) events: Vec<EventSection>,
    /// Alarms over what the drill measures, CloudWatch's shape.
    #[serde(default, rename = "alarm")]
    pub(super) alarms: Vec<AlarmSection>,
    /// Alarms whose ALARM stops the drill, as an FIS template's
    /// `stopConditions` stop an experiment.
    #[serde(default)]
    pub(super) stop_conditions: Vec<String>,
    #[serde(default)]
    pub(super) objectives: ObjectivesSection,
    /// Invariants over the application's data.
    #[serde(default, rename = "invariant")]
    pub(super) invariants: Vec<InvariantSection>,
    /// A failover endpoint the workload of its first region goes through.
    #[serde(default)]
    pub(super) failover: Option<FailoverSection>,
}

/// `[failover]`: a cluster file's section of the same name, without the
/// addresses (docs/drills.md, *A failover endpoint in a simulated drill*).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FailoverSection {
    pub(super) regions: Vec<String>,
    #[serde(default = "default_failover_interval")]
    pub(super) interval_ms: u64,
    #[serde(default = "default_failover_threshold")]
    pub(super) failure_threshold: u32,
    #[serde(default = "default_failover_ttl")]
    pub(super) ttl_ms: u64,
}

fn default_failover_interval() -> u64 {
    meridian_layout::failover::DEFAULT_INTERVAL_MS
}
fn default_failover_threshold() -> u32 {
    meridian_layout::failover::DEFAULT_FAILURE_THRESHOLD
}
fn default_failover_ttl() -> u64 {
    meridian_layout::failover::DEFAULT_TTL_MS
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
pub(super) struct RegionsSection {
    pub(super) names: Vec<String>,
    /// A catalogue file, relative to the scenario file.
    pub(super) catalogue: Option<String>,
    /// Round-trip times in ms, `rtt_ms.<a>.<b>`; overrides the catalogue.
    #[serde(default)]
    pub(super) rtt_ms: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkSection {
    #[serde(default)]
    pub(super) jitter: Option<String>,
    #[serde(default)]
    pub(super) distribution: Option<Distribution>,
}

/// `[table]`: the drill table's consistency and its witness.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TableSection {
    #[serde(default)]
    pub(super) consistency: Consistency,
    pub(super) witness: Option<String>,
    pub(super) capacity: Option<CapacitySection>,
}

/// `[table.capacity]`: the drill table provisioned.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CapacitySection {
    pub(super) read_units: u64,
    pub(super) write_units: u64,
    pub(super) write_scaling: Option<ScalingSection>,
    pub(super) read_scaling: Option<ScalingSection>,
    pub(super) autoscaling_period: Option<String>,
    pub(super) burst: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScalingSection {
    pub(super) min: u64,
    pub(super) max: u64,
    pub(super) target: f64,
}

/// `[replication]`: the order in which regions make each other's writes
/// visible, and partition order's lanes (docs/replication.md, "Lanes").
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplicationSection {
    #[serde(default)]
    pub(super) order: Order,
    pub(super) partitions: Option<u32>,
    pub(super) lane_delay: Option<String>,
    pub(super) lane_delay_max: Option<String>,
    /// A replication profile (`meridian conformance --measure`), relative
    /// to the scenario file.
    pub(super) profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkloadSection {
    #[serde(default = "default_table")]
    pub(super) table: String,
    /// The load is the user's application's, not the drill's: the drill
    /// runs only its timeline and judges what the regions recorded. The
    /// fields that shape a generated load are then refused, so they are
    /// read as options here and defaulted in `load`.
    #[serde(default)]
    pub(super) external: bool,
    pub(super) rate_per_region: Option<u32>,
    pub(super) keys: Option<u64>,
    /// `"uniform"` or `"zipf"`.
    pub(super) distribution: Option<String>,
    /// The zipf exponent.
    pub(super) zipf_s: Option<f64>,
    pub(super) mix: Option<Mix>,
    pub(super) item_bytes: Option<usize>,
    pub(super) concurrency: Option<usize>,
    /// The regions that hold the table at the start (default: all).
    pub(super) replicas: Option<Vec<String>>,
    /// A change stream on the table, checked at the end.
    pub(super) stream: Option<String>,
    /// The drill's secondary indexes on the table, checked at the end.
    #[serde(default)]
    pub(super) indexes: bool,
    /// Orders placed per second in each region, checked for "every order
    /// line has its header" in the others (0: none).
    pub(super) orders: Option<u32>,
    /// TTL on the table, with expiring items in the workload.
    pub(super) ttl: Option<bool>,
}

fn default_table() -> String {
    "drill".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventSection {
    pub(super) at: String,
    pub(super) action: String,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) both: bool,
    pub(super) kind: Option<PartitionKind>,
    pub(super) latency: Option<String>,
    pub(super) jitter: Option<String>,
    pub(super) distribution: Option<Distribution>,
    pub(super) kbps: Option<u64>,
    pub(super) percent: Option<f64>,
    pub(super) rto: Option<String>,
    pub(super) period: Option<String>,
    pub(super) down: Option<String>,
    /// A snapshot's name (`snapshot`, `restore`).
    pub(super) name: Option<String>,
    pub(super) offset_ms: Option<i64>,
    /// The offset as `meridian net skew` takes it: `"+300ms"`, `"-1.5s"`.
    pub(super) offset: Option<String>,
    pub(super) drift_ppm: Option<i64>,
    /// How long a `pause-replication` lasts, and its tail: a duration, or
    /// `"seeded"` (the default), drawn from the seed up to `tail_max`.
    pub(super) duration: Option<String>,
    pub(super) tail: Option<String>,
    pub(super) tail_max: Option<String>,
}

/// The region catalogue (`regions/catalogue.toml`): round-trip times
/// between well-known cloud regions.
#[derive(Deserialize)]
pub(super) struct Catalogue {
    pub(super) rtt_ms: BTreeMap<String, BTreeMap<String, f64>>,
}
