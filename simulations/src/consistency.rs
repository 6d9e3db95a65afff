//! The report's consistency section, for drills whose scenario asks for
//! one (`[table] consistency = "strong"` or `"both"`), and the side-by-side
//! comparison of an EVENTUAL and a STRONG run of one scenario. Every time
//! in it is measured by the drill's client from the drill's clock (virtual
//! time under simulation).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What clients saw of one table's consistency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyReport {
    /// `"EVENTUAL"` or `"STRONG"`.
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
    /// Operations recorded in the history, counted once per key they touch.
    pub operations: u64,
    /// Keys checked for linearizability (STRONG only), and of them the ones
    /// found linearizable.
    pub keys_checked: u64,
    pub linearizable: u64,
    /// Keys no order explains, and the first of them in words.
    pub violation_count: u64,
    pub violations: Vec<String>,
    /// Keys the bounded search could not decide (each fails the verdict).
    pub inconclusive: Vec<String>,
    /// `ReplicatedWriteConflictException`s, over every region.
    pub conflicts: u64,
    /// Strongly consistent reads (`ConsistentRead=true`), and those that
    /// returned less than a write acknowledged before they began.
    pub consistent_reads: u64,
    pub stale_reads: u64,
    pub stale_examples: Vec<String>,
    /// Per region that ran the workload.
    pub regions: Vec<RegionConsistency>,
    /// Every crash of the timeline, and how long its region took to
    /// acknowledge a write again.
    #[serde(default)]
    pub outages: Vec<Outage>,
}

/// A region's crash as its clients saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub region: String,
    /// The crash, ms into the drill.
    pub at_ms: u64,
    /// RTO as a client sees it: from the crash until the region
    /// acknowledged a write sent after it, ms; `None`: never, in the drill.
    pub back_ms: Option<u64>,
}

/// One region's writes and reads as its clients saw them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionConsistency {
    pub region: String,
    /// Requests with writes acknowledged, and their latency from the
    /// client's send to its answer.
    pub writes_acked: u64,
    pub write_p50_ms: Option<f64>,
    pub write_p99_ms: Option<f64>,
    /// `ReplicatedWriteConflictException`s.
    pub conflicts: u64,
    /// Requests refused with nothing applied (a majority never reached and
    /// the write never placed, or too many writes waiting).
    pub refused: u64,
    /// Requests whose outcome is unknown (timed out, or "the write may
    /// still take effect").
    pub unknown: u64,
    /// Conditional writes whose condition did not hold.
    pub condition_failed: u64,
    pub consistent_reads: u64,
    /// Its writes begun while one of its links was cut.
    pub partitioned: PartitionedWrites,
}

/// Writes a region began while one of its links was cut: availability
/// under a partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionedWrites {
    pub attempted: u64,
    pub acked: u64,
    /// Refused: a `ReplicatedWriteConflictException`, or nothing applied.
    pub refused: u64,
    pub unknown: u64,
}

/// One side of a comparison: the same scenario and seed run against one
/// kind of table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparisonSide {
    pub consistency: ConsistencyReport,
    /// Whether this run's checker passed, and why not.
    pub ok: bool,
    pub problems: Vec<String>,
    pub acked: u64,
    /// Acknowledged writes recorded as losing a last-writer-wins conflict:
    /// lost updates.
    pub lost_updates: u64,
    /// RPO: acknowledged writes lost for good by a crash or a lost disk.
    pub rpo_writes_lost: u64,
    /// RTO: per crashed region, from the crash until it acknowledged a
    /// write again, ms (`None`: never, during the drill).
    pub rto_ms: BTreeMap<String, Option<u64>>,
    /// From the end of the workload until every region agreed, ms.
    pub convergence_ms: Option<u64>,
}
