//! What a scenario is once read and checked: its regions and their
//! latencies, the workload, the times that bound the drill, and the
//! timeline of events, every time in [`Duration`]s.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::action::{Action, Distribution};
use super::criteria::Objectives;
use crate::alarm::Alarm;
use crate::invariant::Invariant;

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
    /// How the drill's table keeps its copies in step: EVENTUAL, STRONG,
    /// or both, one run after the other from the same seed.
    pub table: Table,
    /// The order regions make each other's writes visible in, and its lanes.
    pub replication: Replication,
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
    /// Alarms evaluated at every sample (`[[alarm]]`).
    pub alarms: Vec<Alarm>,
    /// The alarms whose ALARM stops the drill (`stop_conditions`).
    pub stop_conditions: Vec<String>,
    /// What the application must meet for the drill to pass.
    pub objectives: Objectives,
    /// What the application's data must hold (`[[invariant]]`).
    pub invariants: Vec<Invariant>,
    /// A failover endpoint in front of the regions (`[failover]`).
    pub failover: Option<Failover>,
}

/// A failover endpoint a simulated drill models, as `meridian up` serves
/// one: the workload of its home (the first of `regions`) is sent to the
/// region it forwards to, which moves on health checks, as a Route 53
/// failover record moves (docs/failover.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failover {
    pub regions: Vec<String>,
    pub interval_ms: u64,
    pub failure_threshold: u32,
    pub ttl_ms: u64,
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

/// The drill table's consistency (docs/strong.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub consistency: Consistency,
    /// A STRONG table's witness: the third member, which holds no items
    /// and runs no workload; `None` makes the three regions replicas.
    pub witness: Option<String>,
    /// Whether the drill records every operation's history and reports on
    /// consistency: set for `"strong"` and `"both"`, so the EVENTUAL half
    /// of a comparison is measured the same way as the STRONG half.
    pub history: bool,
    /// `[table.capacity]`: the table provisioned with these units instead
    /// of on demand (docs/drills.md, *Capacity*).
    pub capacity: Option<Capacity>,
}

/// A provisioned drill table: its units, their auto scaling, and the
/// regions' auto scaling period and burst (docs/dynamodb-compat.md,
/// *Throughput* and *Auto scaling*).
#[derive(Clone, Debug, PartialEq)]
pub struct Capacity {
    pub read_units: u64,
    pub write_units: u64,
    /// Write auto scaling, which every replica shares; a table of more
    /// than one replica needs it, as on AWS.
    pub write_scaling: Option<Scaling>,
    /// Read auto scaling, the same for every replica.
    pub read_scaling: Option<Scaling>,
    /// Auto scaling's data point, when the scenario sets it (else
    /// DynamoDB's minute); shorter compresses its cadence (two points
    /// above the target before a scale out) into a drill's length.
    pub autoscaling_period: Option<Duration>,
    /// Unused units a bucket keeps, when the scenario sets it (else
    /// DynamoDB's five minutes); less is as when DynamoDB spent the burst,
    /// which it may do without notice. Kept as given so that a drill
    /// against a running cluster, whose regions it does not configure,
    /// can refuse what it could not apply.
    pub burst: Option<Duration>,
}

/// Target tracking between `min` and `max` units at `target` percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    pub min: u64,
    pub max: u64,
    pub target: f64,
}

/// Every figure is checked finite when the scenario loads.
impl Eq for Capacity {}

impl Table {
    /// This table as one run of the drill makes it: `Both` is two runs.
    pub fn run_as(&self, consistency: Consistency) -> Table {
        Table {
            consistency,
            witness: self.witness.clone(),
            history: self.history,
            capacity: self.capacity.clone(),
        }
    }

    pub fn strong(&self) -> bool {
        self.consistency == Consistency::Strong
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Last writer wins across regions (docs/conflicts.md).
    #[default]
    Eventual,
    /// Multi-Region strong consistency: a majority of the three members
    /// decides every write. Every operation's history is recorded and each
    /// key checked for linearizability.
    Strong,
    /// The drill twice from the same seed, against an EVENTUAL table and
    /// then a STRONG one, same workload and same faults; the report puts
    /// them side by side.
    Both,
}

impl Consistency {
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Eventual => "EVENTUAL",
            Consistency::Strong => "STRONG",
            Consistency::Both => "EVENTUAL and STRONG",
        }
    }
}

/// How the drill's regions replicate (`[replication]`; docs/replication.md,
/// "Lanes").
#[derive(Clone, Debug, PartialEq)]
pub struct Replication {
    pub order: Order,
    /// Partitions of the drill's tables.
    pub partitions: u32,
    /// Mean and cap of each replicated write's lane delay.
    pub lane_delay: Duration,
    pub lane_delay_max: Duration,
    /// A replication profile to rehearse against (`[replication]
    /// profile`), resolved against the scenario file's directory; the
    /// drill applies it before it starts (`meridian_drill::profile`).
    pub profile: Option<std::path::PathBuf>,
}

impl Default for Replication {
    /// The regions' own defaults (`replication_partitions`,
    /// `replication_lane_delay_ms`, `replication_lane_delay_max_ms`).
    fn default() -> Self {
        Replication {
            order: Order::Partition,
            partitions: 8,
            lane_delay: Duration::from_millis(2),
            lane_delay_max: Duration::from_millis(20),
            profile: None,
        }
    }
}

impl Replication {
    /// This replication as one run of the drill makes it: `Both` is two runs.
    pub fn run_as(&self, order: Order) -> Replication {
        Replication {
            order,
            ..self.clone()
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// DynamoDB's: each partition replicates on its own, so writes to
    /// different items, and the items of one transaction, can become
    /// visible elsewhere in another order than they were committed.
    #[default]
    Partition,
    /// Whole requests in commit order: kinder than DynamoDB, for comparison.
    Log,
    /// The drill twice from the same seed, in log order and then in
    /// partition order; the report puts them side by side.
    Both,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Partition => "partition",
            Order::Log => "log",
            Order::Both => "log and partition",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub table: String,
    /// The user's application makes the load, on its own table in a
    /// running cluster: the drill creates nothing and writes nothing, and
    /// judges the writes the regions recorded in their logs
    /// (docs/drills.md, "Drill your own application"). The fields that
    /// shape a generated load are then zero.
    pub external: bool,
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
    /// Orders placed per second in each region that runs the workload (a
    /// header, then its lines in one request), each watched from the other
    /// regions for a line without its header (an application's invariant
    /// that partition order breaks; docs/drills.md). 0: none.
    pub orders: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Key `k` (1-based rank) is chosen with probability ∝ 1 / k^s.
    Zipf(f64),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
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

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: Duration,
    pub action: Action,
}

impl Scenario {
    /// This scenario with every tail drawn from `seed` that it leaves to
    /// the seed (`pause-replication`'s `tail_max`): uniform in whole
    /// milliseconds from 0 to `tail_max`, at most the pause's duration,
    /// the same for the same seed and event. A drill draws them as it
    /// begins, simulated or live, so a seed replays them.
    pub fn with_seeded_tails(&self, seed: u64) -> Scenario {
        let mut out = self.clone();
        for (i, e) in out.events.iter_mut().enumerate() {
            if let Action::PauseReplication {
                duration,
                tail,
                tail_max: max @ Some(_),
                ..
            } = &mut e.action
            {
                let bound = max.unwrap_or_default().min(*duration).as_millis() as u64;
                let draw = splitmix64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                *tail = Duration::from_millis(draw % (bound + 1));
                *max = None;
            }
        }
        out
    }
}

/// One step of SplitMix64: a well-mixed 64-bit value from `x`, for draws
/// that must not depend on a generator's state.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
