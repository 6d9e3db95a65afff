//! The history a drill keeps when its scenario asks for a consistency
//! section (`[table] consistency = "strong"` or `"both"`): every operation
//! on every key with its invocation and completion in the drill's clock
//! (virtual time under simulation), what each region's writes cost and
//! how they ended, and whether each region was cut off when they began.
//! [`History::report`] turns it into the report's consistency section: a
//! linearizability verdict per key ([`meridian_scenario::linear`]) on a
//! STRONG table, stale strongly consistent reads, write latency and
//! refusals per region.

use std::collections::{BTreeMap, BTreeSet};

use meridian_core::Version;
use meridian_scenario::linear::{self, Call, Check, Outcome};
use meridian_scenario::report::{ConsistencyReport, Outage, PartitionedWrites, RegionConsistency};
use meridian_scenario::scenario::{Action, Table};

/// The most states the linearizability search may cache for one key
/// before it answers "inconclusive": a few hundred MB at worst for the
/// longest histories a drill makes, and never reached by one that is
/// linearizable in practice (the search finds an order at once).
const SEARCH_BUDGET: usize = 2_000_000;

/// Examples of each kind of problem the report keeps.
const EXAMPLES: usize = 20;

/// How a request that did not succeed ended, as the drill's client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Definitely not applied: `ReplicatedWriteConflictException`.
    Conflict,
    /// Definitely not applied: no majority reached, and the region says the
    /// write never left it; or too many writes waiting.
    Refused,
    /// Definitely not applied: the provisioned table's units were spent
    /// (`ProvisionedThroughputExceededException`).
    Throttled,
    /// May have been applied: a timeout, a lost connection, or a region
    /// that says the write may still take effect.
    Unknown,
}

impl Fail {
    /// Reads a region's error answer. Only the answers a region gives for
    /// a write it never placed count as refusals; anything else (a
    /// transport error, a crash mid-request) may hide an applied write.
    pub(crate) fn of(status: &tonic::Status) -> Fail {
        use meridian_region::client_meter::THROTTLED;
        use meridian_region::strong::{MAY_TAKE_EFFECT, NO_MAJORITY};
        let m = status.message();
        match status.code() {
            tonic::Code::Aborted => Fail::Conflict,
            tonic::Code::ResourceExhausted if m.starts_with(THROTTLED) => Fail::Throttled,
            tonic::Code::ResourceExhausted => Fail::Refused,
            tonic::Code::Unavailable if m.contains(NO_MAJORITY) && !m.contains(MAY_TAKE_EFFECT) => {
                Fail::Refused
            }
            _ => Fail::Unknown,
        }
    }
}

/// One strongly consistent read's answer: the item's version and the
/// drill's tag in it, or nothing.
pub(crate) type ReadAnswer = Option<(Version, Option<u64>)>;

/// Everything recorded of one operation, by the task that ran it.
pub(crate) struct Record {
    pub(crate) region: usize,
    pub(crate) invoked: u64,
    pub(crate) completed: u64,
    /// Whether the region had a link cut when the operation began.
    pub(crate) partitioned: bool,
    /// Per key, what the operation asked of it.
    pub(crate) calls: Vec<(u64, Call)>,
    pub(crate) end: End,
}

/// How an operation ended.
pub(crate) enum End {
    /// Writes acknowledged, with the version each key got.
    Written(Vec<Version>),
    Read(ReadAnswer),
    ConditionFailed,
    Failed(Fail),
}

/// An acknowledged write, for the stale-read count.
struct Acked {
    invoked: u64,
    completed: u64,
    version: Version,
    deletes: bool,
}

#[derive(Default)]
pub(crate) struct History {
    regions: Vec<String>,
    ops: BTreeMap<u64, Vec<linear::Op>>,
    acked: BTreeMap<u64, Vec<Acked>>,
    /// Per key, when each delete was sent and answered (the end of time
    /// for one of unknown outcome), whatever its outcome.
    deletes_sent: BTreeMap<u64, Vec<(u64, u64)>>,
    reads: Vec<(u64, u64, u64, ReadAnswer)>,
    per_region: BTreeMap<usize, RegionCounts>,
    /// Directed links cut now, by region index.
    cut: BTreeSet<(usize, usize)>,
    /// Per region, when it last crashed (µs into the drill), until it
    /// acknowledges a write again; and each outage so measured.
    crashed: BTreeMap<usize, u64>,
    outages: Vec<(usize, u64, Option<u64>)>,
}

#[derive(Default)]
struct RegionCounts {
    latencies_us: Vec<u64>,
    conflicts: u64,
    refused: u64,
    unknown: u64,
    condition_failed: u64,
    reads: u64,
    partitioned: PartitionedWrites,
}

/// Follows one timeline action's cuts and heals on `cut`, the directed
/// links (indices into `regions`) cut now; a flapping link counts as cut
/// while it flaps. The drill's history and the sweep's generator
/// ([`crate::random`]) both read a timeline through it.
pub(crate) fn follow_cuts(cut: &mut BTreeSet<(usize, usize)>, regions: &[String], action: &Action) {
    let index = |name: &str| regions.iter().position(|r| r == name);
    let n = regions.len();
    let touching = |r: usize| {
        (0..n)
            .filter(move |&j| j != r)
            .flat_map(move |j| [(r, j), (j, r)])
    };
    match action {
        Action::Partition { from, to, both, .. } | Action::Flap { from, to, both, .. } => {
            if let (Some(a), Some(b)) = (index(from), index(to)) {
                cut.insert((a, b));
                if *both {
                    cut.insert((b, a));
                }
            }
        }
        Action::Isolate { region, .. } => {
            if let Some(r) = index(region) {
                cut.extend(touching(r));
            }
        }
        Action::Heal { link, region } | Action::Clear { link, region } => match (link, region) {
            (Some((a, b)), _) => {
                if let (Some(a), Some(b)) = (index(a), index(b)) {
                    cut.remove(&(a, b));
                    cut.remove(&(b, a));
                }
            }
            (None, Some(r)) => {
                if let Some(r) = index(r) {
                    cut.retain(|&(a, b)| a != r && b != r);
                }
            }
            (None, None) => cut.clear(),
        },
        _ => {}
    }
}

impl History {
    pub(crate) fn new(regions: Vec<String>) -> Self {
        History {
            regions,
            ..History::default()
        }
    }

    /// Whether region `i` has a link cut either way now.
    pub(crate) fn partitioned(&self, i: usize) -> bool {
        self.cut.iter().any(|&(a, b)| a == i || b == i)
    }

    /// Follows the timeline's cuts and heals (a flapping link counts as cut
    /// while it flaps), and its crashes, `at` µs into the drill.
    pub(crate) fn event(&mut self, action: &Action, at: u64) {
        if let Action::Crash { region } = action
            && let Some(r) = self.regions.iter().position(|x| x == region)
        {
            self.crashed.insert(r, at);
            self.outages.push((r, at, None));
        }
        follow_cuts(&mut self.cut, &self.regions, action);
    }

    /// Every fault healed at the end of the workload.
    pub(crate) fn heal_all(&mut self) {
        self.cut.clear();
    }

    pub(crate) fn record(&mut self, r: Record) {
        let counts = self.per_region.entry(r.region).or_default();
        let writes = r.calls.iter().any(|(_, c)| matches!(c, Call::Write { .. }));
        if writes && r.partitioned {
            counts.partitioned.attempted += 1;
        }
        let answered = match r.end {
            End::Failed(Fail::Unknown) => u64::MAX,
            _ => r.completed,
        };
        for (key, call) in &r.calls {
            if let Call::Write { value: None, .. } = call {
                self.deletes_sent
                    .entry(*key)
                    .or_default()
                    .push((r.invoked, answered));
            }
        }
        let outcome = match &r.end {
            End::Written(versions) => {
                // Back in service: the first write it acknowledges that was
                // sent after it crashed.
                if let Some(at) = self.crashed.get(&r.region).copied()
                    && r.invoked > at
                {
                    self.crashed.remove(&r.region);
                    if let Some(o) = self
                        .outages
                        .iter_mut()
                        .rev()
                        .find(|o| o.0 == r.region && o.2.is_none())
                    {
                        o.2 = Some((r.completed - at) / 1000);
                    }
                }
                counts.latencies_us.push(r.completed - r.invoked);
                if r.partitioned {
                    counts.partitioned.acked += 1;
                }
                for ((key, call), version) in r.calls.iter().zip(versions) {
                    self.acked.entry(*key).or_default().push(Acked {
                        invoked: r.invoked,
                        completed: r.completed,
                        version: version.clone(),
                        deletes: matches!(call, Call::Write { value: None, .. }),
                    });
                }
                Outcome::Ok
            }
            End::Read(answer) => {
                counts.reads += 1;
                if let Some((key, _)) = r.calls.first() {
                    self.reads
                        .push((*key, r.invoked, r.completed, answer.clone()));
                }
                match answer {
                    None => Outcome::Returned(None),
                    Some((_, Some(tag))) => Outcome::Returned(Some(*tag)),
                    // An item without the drill's tag was never written by
                    // this drill's history: nothing to check it against.
                    Some((_, None)) => return,
                }
            }
            End::ConditionFailed => {
                counts.condition_failed += 1;
                Outcome::ConditionFailed
            }
            End::Failed(f) => {
                match f {
                    Fail::Conflict => counts.conflicts += 1,
                    Fail::Refused | Fail::Throttled => counts.refused += 1,
                    Fail::Unknown => counts.unknown += 1,
                }
                if writes && r.partitioned {
                    match f {
                        Fail::Unknown => counts.partitioned.unknown += 1,
                        _ => counts.partitioned.refused += 1,
                    }
                }
                match f {
                    Fail::Unknown => Outcome::Unknown,
                    _ => Outcome::Refused,
                }
            }
        };
        for (key, call) in r.calls {
            self.ops.entry(key).or_default().push(linear::Op {
                call,
                outcome,
                invoked: r.invoked,
                completed: r.completed,
                client: r.region as u32,
            });
        }
    }

    /// Strongly consistent reads that returned less than a write
    /// acknowledged before they began: the newest such write (by version,
    /// the order every replica settles on) had a newer version than the
    /// item read, or was a put where the read found nothing and no delete
    /// of the key was in flight at any time from the put's start to the
    /// read's end (one may have taken effect after the put).
    fn stale_reads(&self, show: &dyn Fn(u64) -> String) -> (u64, Vec<String>) {
        let mut stale = 0;
        let mut examples = Vec::new();
        for (key, invoked, completed, answer) in &self.reads {
            let newest = self
                .acked
                .get(key)
                .into_iter()
                .flatten()
                .filter(|w| w.completed < *invoked)
                .max_by(|a, b| a.version.cmp(&b.version));
            let Some(w) = newest else { continue };
            let is_stale = match answer {
                Some((v, _)) => *v < w.version,
                None => {
                    !w.deletes
                        && !self.deletes_sent.get(key).is_some_and(|d| {
                            d.iter().any(|(sent, answered)| {
                                *sent <= *completed && *answered >= w.invoked
                            })
                        })
                }
            };
            if is_stale {
                stale += 1;
                if examples.len() < EXAMPLES {
                    let got = answer
                        .as_ref()
                        .map_or("nothing".to_string(), |(v, _)| v.to_string());
                    examples.push(format!(
                        "{}: a strongly consistent read at {} ms returned {got}; {} was acknowledged at {} ms",
                        show(*key),
                        invoked / 1000,
                        w.version,
                        w.completed / 1000
                    ));
                }
            }
        }
        (stale, examples)
    }

    /// The report's consistency section, and the problems that fail the
    /// verdict: on a STRONG table, every key not linearizable (or not
    /// decided within the budget) and every stale strongly consistent read.
    pub(crate) fn report(
        &self,
        table: &Table,
        strong: bool,
        show: &dyn Fn(u64) -> String,
    ) -> (ConsistencyReport, Vec<String>) {
        let mut problems = Vec::new();
        let mut report = ConsistencyReport {
            consistency: if strong { "STRONG" } else { "EVENTUAL" }.into(),
            witness: table.witness.clone().filter(|_| strong),
            operations: self.ops.values().map(|o| o.len() as u64).sum(),
            ..ConsistencyReport::default()
        };
        if strong {
            for (key, ops) in &self.ops {
                report.keys_checked += 1;
                match linear::check(ops, SEARCH_BUDGET) {
                    Check::Linearizable { .. } => report.linearizable += 1,
                    Check::Violation { ops, placed, stuck } => {
                        let line = format!(
                            "{} is not linearizable: no order of its {ops} operations explains what clients saw (the deepest order placed {placed}, stuck at {stuck})",
                            show(*key)
                        );
                        if report.violations.len() < EXAMPLES {
                            report.violations.push(line.clone());
                        }
                        report.violation_count += 1;
                        problems.push(line);
                    }
                    Check::Inconclusive { ops, states } => {
                        let line = format!(
                            "{}: linearizability undecided after {states} states of its {ops} operations",
                            show(*key)
                        );
                        report.inconclusive.push(line.clone());
                        problems.push(line);
                    }
                }
            }
        }
        let (stale, examples) = self.stale_reads(show);
        report.consistent_reads = self.reads.len() as u64;
        report.stale_reads = stale;
        report.stale_examples = examples;
        if strong && stale > 0 {
            problems.push(format!(
                "{stale} strongly consistent reads of the STRONG table were stale"
            ));
        }
        for (i, name) in self.regions.iter().enumerate() {
            let Some(c) = self.per_region.get(&i) else {
                continue;
            };
            let mut l = c.latencies_us.clone();
            l.sort_unstable();
            let pct = |p: f64| -> Option<f64> {
                if l.is_empty() {
                    return None;
                }
                let at = ((l.len() as f64 * p).ceil() as usize).clamp(1, l.len()) - 1;
                Some((l[at] as f64 / 100.0).round() / 10.0)
            };
            report.regions.push(RegionConsistency {
                region: name.clone(),
                writes_acked: l.len() as u64,
                write_p50_ms: pct(0.50),
                write_p99_ms: pct(0.99),
                conflicts: c.conflicts,
                refused: c.refused,
                unknown: c.unknown,
                condition_failed: c.condition_failed,
                consistent_reads: c.reads,
                partitioned: c.partitioned.clone(),
            });
        }
        report.conflicts = report.regions.iter().map(|r| r.conflicts).sum();
        report.outages = self
            .outages
            .iter()
            .map(|(r, at, back)| Outage {
                region: self.regions.get(*r).cloned().unwrap_or_default(),
                at_ms: at / 1000,
                back_ms: *back,
            })
            .collect();
        (report, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(physical: u64) -> Version {
        Version::new(
            meridian_core::Timestamp {
                physical,
                logical: 0,
            },
            "a",
        )
    }

    fn write(key: u64, tag: u64, invoked: u64, completed: u64, v: u64) -> Record {
        Record {
            region: 0,
            invoked,
            completed,
            partitioned: false,
            calls: vec![(
                key,
                Call::Write {
                    value: Some(tag),
                    expect: linear::Expect::Any,
                },
            )],
            end: End::Written(vec![version(v)]),
        }
    }

    fn read(key: u64, invoked: u64, completed: u64, answer: ReadAnswer) -> Record {
        Record {
            region: 1,
            invoked,
            completed,
            partitioned: false,
            calls: vec![(key, Call::Read)],
            end: End::Read(answer),
        }
    }

    #[test]
    fn a_read_behind_an_acknowledged_write_is_stale_and_not_linearizable() {
        let mut h = History::new(vec!["a".into(), "b".into()]);
        h.record(write(1, 10, 0, 100, 5));
        h.record(write(1, 11, 200, 300, 6));
        h.record(read(1, 400, 500, Some((version(5), Some(10)))));
        // A read overlapping the second write may see either.
        h.record(read(1, 250, 260, Some((version(5), Some(10)))));
        let show = |k: u64| format!("key {k}");
        let (r, problems) = h.report(&Table::default(), true, &show);
        assert_eq!(r.stale_reads, 1, "{r:?}");
        assert_eq!(r.violation_count, 1, "{r:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(r.regions[0].writes_acked, 2);
        // The same history on an EVENTUAL table: counted, not a failure.
        let (r, problems) = h.report(&Table::default(), false, &show);
        assert_eq!((r.stale_reads, r.keys_checked), (1, 0));
        assert!(problems.is_empty());
    }

    #[test]
    fn a_cut_follows_partitions_and_heals() {
        let mut h = History::new(vec!["a".into(), "b".into(), "c".into()]);
        h.event(
            &Action::Isolate {
                region: "c".into(),
                kind: meridian_scenario::scenario::PartitionKind::Blackhole,
            },
            0,
        );
        assert!(h.partitioned(0) && h.partitioned(2));
        h.event(
            &Action::Heal {
                link: None,
                region: Some("c".into()),
            },
            0,
        );
        assert!(!h.partitioned(0) && !h.partitioned(2));
        h.event(
            &Action::Partition {
                from: "a".into(),
                to: "b".into(),
                both: false,
                kind: meridian_scenario::scenario::PartitionKind::Blackhole,
            },
            0,
        );
        // A crash, and the first write acknowledged after it.
        h.event(&Action::Crash { region: "a".into() }, 1_000_000);
        h.record(write(1, 1, 900_000, 1_200_000, 1));
        h.record(write(1, 2, 1_500_000, 1_700_000, 2));
        let (r, _) = h.report(&Table::default(), false, &|k| k.to_string());
        assert_eq!(r.outages[0].back_ms, Some(700));
        assert!(h.partitioned(1) && !h.partitioned(2));
        h.heal_all();
        assert!(!h.partitioned(1));
    }
}
