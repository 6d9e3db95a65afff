//! What a drill reports: time series per link, fault markers, a summary and
//! the checker's verdict. `report.json` is this structure serialised;
//! `report.html` renders it ([`crate::html`]).
//!
//! Every time here is measured from the start of the drill, in real time for
//! a live drill and virtual time for a simulated one, never in HLC time, so
//! injected clock skew cannot distort a report. Maps are `BTreeMap`s and
//! nothing wall-clock-dependent is stored, so a simulated drill with the same
//! seed serialises to the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::alarm::AlarmReport;
pub use crate::consistency::{
    ComparisonSide, ConsistencyReport, Outage, PartitionedWrites, RegionConsistency,
};
pub use crate::invariant::InvariantReport;
pub use crate::objectives::CriterionReport;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    /// `"live"` or `"sim"`.
    pub mode: String,
    /// The seed of a simulated drill (and of the workload in a live one).
    pub seed: u64,
    pub regions: Vec<String>,
    /// How long the workload ran, ms.
    pub duration_ms: u64,
    /// Time between samples, ms.
    pub sample_interval_ms: u64,
    /// The fault timeline as it was applied.
    pub events: Vec<EventMark>,
    /// One entry per directed link `from` → `to`, in region order.
    pub links: Vec<LinkReport>,
    /// Conflicts recorded so far, per detecting region, at each sample.
    pub conflict_series: Vec<ConflictSample>,
    pub heals: Vec<HealReport>,
    pub convergence: Convergence,
    pub workload: WorkloadReport,
    /// Conflicts and lost updates per (winner origin, loser origin) pair.
    pub conflict_pairs: Vec<ConflictPair>,
    /// A few conflicts in full, for a conflict study.
    pub conflict_examples: Vec<ConflictExample>,
    /// Batches each region refused because a version was too far ahead of
    /// its clock (drift guard), summed over peers since the region started;
    /// a batch retried and refused again counts again.
    pub drift_refusals: BTreeMap<String, u64>,
    /// Per region, since it last started: tombstones purged, and writes
    /// dropped because a purged tombstone had deleted them (a restored
    /// copy's deleted items kept out).
    #[serde(default)]
    pub purges: BTreeMap<String, PurgeCounts>,
    /// Every wiped or restored data directory: what it lost for good (RPO)
    /// and how long its region took to serve every surviving write (RTO).
    #[serde(default)]
    pub disasters: Vec<DisasterReport>,
    /// Every restore of the table to a mark, checked key by key.
    #[serde(default)]
    pub restores: Vec<RestoreReport>,
    /// Every replica added during the drill, and its fill.
    #[serde(default)]
    pub joins: Vec<JoinReport>,
    /// With `workload.stream`: each region's change stream replayed from
    /// its start against its final items.
    #[serde(default)]
    pub streams: Vec<StreamCheck>,
    /// With `workload.indexes`: each region's indexes against a
    /// recomputation from its items, and against the other regions'.
    #[serde(default)]
    pub indexes: Vec<IndexCheck>,
    /// With `[table] consistency = "strong"` or `"both"`: what clients saw
    /// of the table's consistency (docs/drills.md, *Consistency*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ConsistencyReport>,
    /// With `consistency = "both"`: the EVENTUAL run and the STRONG run of
    /// the same scenario and seed, side by side; the rest of the report is
    /// the STRONG run's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<ComparisonSide>,
    /// With `workload.orders`: what readers in other regions saw of each
    /// order (a line without its header, an order seen in part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<OrdersReport>,
    /// With `[replication] order = "both"`: the log-order run and the
    /// partition-order run of the same scenario and seed, side by side;
    /// the rest of the report is the partition-order run's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_comparison: Vec<OrderSide>,
    /// Against a cluster whose `meridian up` serves a failover endpoint
    /// (docs/failover.md): where it forwarded, and every move it made
    /// while the drill ran, with what the client lost at each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverReport>,
    /// With `[table.capacity]`: each region's replica of the provisioned
    /// table, its units as auto scaling moved them and what it consumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity: Vec<CapacityReport>,
    /// The scenario's alarms (`[[alarm]]`): each one's states over the
    /// drill, evaluated at every sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmReport>,
    /// With `stop_conditions`: whether the experiment ran its timeline
    /// through or a stop condition's alarm stopped it, as FIS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentReport>,
    /// The scenario's objectives (`[objectives]`), each met or not; one
    /// not met fails the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<CriterionReport>,
    /// The scenario's invariants (`[[invariant]]`): each one's checks and
    /// violations; one violated fails the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<InvariantReport>,
    pub verdict: VerdictReport,
}

/// One region's replica of a provisioned table during a drill
/// (`[table.capacity]`, docs/drills.md, *Capacity*): its units at the
/// first sample that had them and at each change (auto scaling's, as
/// DescribeTable would show them), and the units its buckets were
/// charged: its clients' requests and the replicated writes it applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    pub region: String,
    pub table: String,
    pub units: Vec<UnitsChange>,
    pub consumed_read: f64,
    pub consumed_write: f64,
    /// The most write units consumed a second over one sample interval.
    pub peak_write_per_s: f64,
    /// The drill's requests this region refused for spent units
    /// (`ProvisionedThroughputExceededException`).
    pub throttled_requests: u64,
}

/// A replica's units from `t_ms` on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitsChange {
    pub t_ms: u64,
    pub read_units: u64,
    pub write_units: u64,
}

/// How the experiment ended, in FIS's words: `completed` (every action
/// ran) or `stopped` (a stop condition's alarm went to ALARM), with why
/// and when ([Stop conditions for AWS FIS](https://docs.aws.amazon.com/fis/latest/userguide/stop-conditions.html)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// FIS's experiment state: `completed` or `stopped`.
    pub state: String,
    /// FIS's `state.reason`.
    pub reason: String,
    /// When the drill stopped, ms: the faults ended then, and the events
    /// after it were not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at_ms: Option<u64>,
    /// The alarm that stopped it, and when it went to ALARM (the end of
    /// the period whose evaluation breached), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_at_ms: Option<u64>,
    /// The timeline's events not applied because it stopped.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub events_skipped: u64,
}

/// The failover endpoint during a drill, from its record
/// (`GET /meridian/failover`), read as the drill began and at its end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FailoverReport {
    pub listen: String,
    pub home: String,
    /// Where it forwarded as the drill began, and at its end.
    pub active_at_start: String,
    pub active_at_end: String,
    /// The longest a region that stops answering keeps the endpoint's
    /// clients: failure threshold × interval + TTL, ms.
    pub bound_ms: u64,
    /// Requests it forwarded, and failed to, while the drill ran.
    pub forwarded: u64,
    pub failed: u64,
    pub moves: Vec<FailoverMove>,
}

/// One move of the failover endpoint during a drill.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FailoverMove {
    /// When it moved, ms into the drill.
    pub at_ms: u64,
    pub from: String,
    pub to: String,
    /// `health` (the old region failed its checks) or `asked`.
    pub why: String,
    /// From the old region's first failed health check to the move: what
    /// the threshold and the TTL cost. `None` for a move asked for.
    pub after_first_failed_ms: Option<u64>,
    /// Requests the endpoint could not forward between the old region's
    /// last answered check and the move.
    pub failed_requests: u64,
    /// Writes the old region had acknowledged that the new one lacked
    /// when the endpoint moved (the recovery point as the client saw it),
    /// and where they stood at the drill's end: back in the new region,
    /// overwritten there by a later write, or still missing.
    pub missing: u64,
    pub came_back: u64,
    pub superseded: u64,
    pub still_missing: u64,
    /// The first of them, with their reasons.
    pub writes: Vec<FailoverWrite>,
}

/// A write the client had seen acknowledged in the old region that the new
/// one lacked when the endpoint moved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FailoverWrite {
    pub table: String,
    /// Its key, DynamoDB JSON.
    pub key: String,
    pub version: String,
    /// `missing`, `came_back` or `superseded`.
    pub state: String,
    pub reason: String,
    /// When it came back or was superseded, ms into the drill.
    pub resolved_at_ms: Option<u64>,
}

/// What readers saw of the orders placed in the drill (`workload.orders`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrdersReport {
    /// Orders whose header and lines were acknowledged.
    pub placed: u64,
    /// Per directed link (origin, reader).
    pub links: Vec<OrderLink>,
}

impl OrdersReport {
    /// Totals over every link: (checked, broken, torn).
    pub fn totals(&self) -> (u64, u64, u64) {
        self.links.iter().fold((0, 0, 0), |(c, b, t), l| {
            (c + l.checked, b + l.broken, t + l.torn)
        })
    }
}

/// What a reader in `to` saw of the orders placed in `from`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderLink {
    pub from: String,
    pub to: String,
    /// Orders whose first line the reader saw (and then read the rest).
    pub checked: u64,
    /// Orders whose first line did not show within the reader's wait.
    pub unseen: u64,
    /// Orders whose line showed before its header: the invariant broken.
    pub broken: u64,
    /// Orders seen with some of their lines missing.
    pub torn: u64,
}

/// One run of an order comparison (`[replication] order = "both"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderSide {
    /// `log` or `partition`.
    pub order: String,
    pub ok: bool,
    pub problems: Vec<String>,
    pub acked: u64,
    /// Over every link, as the receivers counted them.
    pub reordered: u64,
    pub torn_units: u64,
    /// Replication latency over every link.
    pub latency: LatencySummary,
    /// Orders: seen elsewhere, with a line before its header, in part.
    pub orders_checked: u64,
    pub orders_broken: u64,
    pub orders_torn: u64,
    pub lost_updates: u64,
    pub convergence_ms: Option<u64>,
}

/// One index of the drill's table in one region, at the end
/// (docs/indexes.md): its entries as stored must be exactly those its
/// items give, and the same in every region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexCheck {
    pub region: String,
    pub index: String,
    /// Entries stored, and items in the region.
    pub entries: u64,
    pub items: u64,
    /// Entries stored that no item gives, and items' entries missing (the
    /// first 20 of each kind, together).
    pub mismatches: Vec<String>,
    /// Whether its entries equal those of the first region listed.
    pub agrees: bool,
    /// Why the index could not be read or is not complete, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One region's change stream of the drill's table, replayed from its
/// start (docs/streams.md): it must give exactly the region's final items.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamCheck {
    pub region: String,
    /// Records read, and of them REMOVEs.
    pub records: u64,
    pub removes: u64,
    /// Live items the region turned into tombstones over the run (local
    /// deletes, TTL expiries and deletes from peers), counted by its store
    /// apart from the stream: `removes` must equal it.
    #[serde(default)]
    pub tombstones_applied: u64,
    /// Live items in the region, and keys compared.
    pub items: u64,
    pub keys_checked: u64,
    /// Each key where the replay and the region differ (the first 20).
    pub mismatches: Vec<String>,
    /// Why the stream could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Records went with the stream's retention before the check: only
    /// keys with a record still held were compared, and the REMOVEs were
    /// not counted against the tombstones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trimmed: bool,
}

/// A replica of the drill's table added in a region while the workload ran
/// (docs/replicas.md): from the request to `ACTIVE`, and what the fill
/// moved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinReport {
    /// The new replica's region, and the region asked.
    pub region: String,
    pub asked: String,
    /// The request, ms from the start.
    pub at_ms: u64,
    /// When the drill first saw the replica `ACTIVE`, ms from the start;
    /// `None` if it never became so.
    pub active_ms: Option<u64>,
    /// The fill as the new region measured it: heads copied, bytes
    /// received, and its time from start to `ACTIVE`.
    pub items: u64,
    pub bytes: u64,
    pub fill_ms: u64,
    /// The peers it pulled from.
    pub peers: Vec<String>,
    /// Why the request failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl JoinReport {
    /// Heads copied per second of fill.
    pub fn rate(&self) -> f64 {
        self.items as f64 / (self.fill_ms.max(1) as f64 / 1e3)
    }
}

/// A restore of the drill's table to a marked instant by point-in-time
/// recovery, and how it compared with the table at that instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The region that restored, and the mark's name.
    pub region: String,
    pub mark: String,
    /// The new table it created.
    pub table: String,
    /// The mark and the restore, ms from the start.
    pub mark_ms: u64,
    pub at_ms: u64,
    /// How long loading took, ms; `None` if it did not finish.
    pub restore_ms: Option<u64>,
    /// Live items at the mark, and items the restore loaded.
    pub items_expected: u64,
    pub items_restored: u64,
    /// Keys compared, over every region's copy of the restored table.
    pub keys_checked: u64,
    /// Every difference found, one line each (at most a few hundred).
    pub mismatches: Vec<String>,
    /// Why the restore did not run or finish, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one region purged, and what purged tombstones kept out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeCounts {
    pub tombstones_purged: u64,
    pub superseded: u64,
}

/// One disaster of the drill: a region's data directory wiped, or rolled
/// back to an older copy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DisasterReport {
    pub region: String,
    /// When the data was lost, ms from the start.
    pub at_ms: u64,
    pub label: String,
    /// Writes the region had acknowledged that no peer held when it lost
    /// its data: all it could lose. Every other write must survive.
    pub at_risk: u64,
    /// RPO: the acknowledged writes lost for good, normally none.
    pub lost: Vec<LostWrite>,
    /// RTO: from the loss until the region served reads that include every
    /// write that survived it, ms; `None` if it never did during the drill.
    pub rto_ms: Option<u64>,
    /// How the region got its data back when it restarted empty: the peer
    /// whose store it copied, and how much (docs/repair.md, "Seeding from a
    /// peer"); `None` when repair rounds alone rebuilt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeded: Option<SeedReport>,
}

/// A region's store copied from a peer when it started empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeedReport {
    pub peer: String,
    pub items: u64,
    pub bytes: u64,
    pub ms: u64,
}

/// An acknowledged write that no replica holds at the end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LostWrite {
    pub key: String,
    pub version: String,
}

/// One applied fault event, for the markers on every plot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventMark {
    pub at_ms: u64,
    /// e.g. `"partition"`, `"heal"`, `"crash"`.
    pub action: String,
    /// Human-readable: `"partition us-east-1 ⇄ eu-west-1 (blackhole)"`.
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkReport {
    pub from: String,
    pub to: String,
    /// Replication latency from → to over the whole drill, from the
    /// receiving region's bucket counts.
    pub latency: LatencySummary,
    pub samples: Vec<LinkSample>,
    /// Largest pending count seen on this link.
    pub max_pending: u64,
    /// Partition order's anomalies at the receiver over the drill: entries
    /// applied while an earlier one of the sender's log was held, and
    /// units applied in part (docs/replication.md, "Lanes").
    #[serde(default)]
    pub reordered: u64,
    #[serde(default)]
    pub torn_units: u64,
    /// Catalog entries the sender relayed that would delete or replace
    /// the table at the receiver, passed over for their origin to bring
    /// (docs/replication.md): table churn on a link, which never stalls it.
    #[serde(default)]
    pub left_to_origin: u64,
    /// The sender's entries the receiver skipped, their table's
    /// replication being paused (`pause-replication`).
    #[serde(default)]
    pub paused_skipped: u64,
    /// Versions of items the sender left out of what it shipped on this
    /// link, a later version of the same item in the same batch standing
    /// for them (docs/replication.md, "Coalescing").
    #[serde(default)]
    pub coalesced: u64,
    /// Write units the sender's entries drew on the receiver's provisioned
    /// tables, and how long, in ms, the receiver's stream waited for them
    /// (docs/replication.md, "Replicated write units"): a replica short of
    /// replicated write units, its backlog growing.
    #[serde(default)]
    pub replicated_write_units: u64,
    #[serde(default)]
    pub throttled_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Mutations measured.
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// One sample of one link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkSample {
    pub t_ms: u64,
    /// Latency of the mutations applied since the previous sample; `None`
    /// when none were (or the receiving region was down).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub applied: u64,
    /// Mutations in `from`'s log that `to` has not durably applied; `None`
    /// when `from` could not be asked (crashed).
    pub pending: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictSample {
    pub t_ms: u64,
    /// Cumulative conflicts recorded, per detecting region.
    pub by_region: BTreeMap<String, u64>,
}

/// How long the backlog took to drain after a heal (or a restart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealReport {
    pub at_ms: u64,
    pub label: String,
    /// Links the event restored.
    pub links: Vec<String>,
    /// Pending on those links at the first sample after the heal.
    pub backlog: u64,
    /// From the heal until, on every one of those links, the receiver had
    /// acknowledged everything its origin had logged at the first sample
    /// after the heal (writes made after the heal do not count); `None` if
    /// that never happened before the drill ended. Sample-resolution.
    pub drain_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// From the end of the workload (every fault healed) until every link
    /// showed zero pending and every region's digest was equal; `None` if
    /// that did not happen within the settle deadline.
    pub after_workload_ms: Option<u64>,
    /// The digests at the end, per region.
    pub digests: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub attempted: u64,
    pub acked: u64,
    /// Requests that failed (region down, timeout, throttled); not in
    /// the oracle.
    pub failed: u64,
    /// Of `failed`, those a provisioned table's spent units refused
    /// (`[table.capacity]`), per serving region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throttled_by_region: BTreeMap<String, u64>,
    /// Acknowledged operations per kind: put, update, delete, get.
    pub by_op: BTreeMap<String, u64>,
    pub by_region: BTreeMap<String, u64>,
    /// The load was the user's application's (`workload.external`): the
    /// counts are of the writes the regions committed for it, read from
    /// their logs (`write` or `delete` by kind, by origin region), not of
    /// requests the drill made, and `failed` is unknown (0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// With an external load: log entries the regions truncated before
    /// the drill read them, whose writes went unjudged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unread: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictPair {
    /// Origin region of the winning write.
    pub winner: String,
    /// Origin region of the losing write.
    pub loser: String,
    /// Distinct (winner, loser) version pairs recorded.
    pub conflicts: u64,
    /// Distinct acknowledged writes that lost a conflict.
    pub lost_updates: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConflictExample {
    pub table: String,
    /// The key as DynamoDB JSON.
    pub key: String,
    pub winner: String,
    pub loser: String,
    /// Why the winner won: "later physical time", "same physical time,
    /// higher logical counter" or "same timestamp, origin region breaks the
    /// tie".
    pub reason: String,
    pub detected_by: String,
    pub winner_image: Option<String>,
    pub loser_image: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerdictReport {
    pub ok: bool,
    /// Equal digests after quiescence.
    pub converged: bool,
    /// Every acknowledged write is present or superseded with the conflict
    /// recorded.
    pub acked_writes_accounted: bool,
    /// Every region's versions match the oracle of acknowledged writes.
    pub oracle_match: bool,
    pub keys_checked: u64,
    pub conflicts_checked: u64,
    pub lost_updates: u64,
    pub expected_lost_updates: u64,
    pub problems: Vec<String>,
}
