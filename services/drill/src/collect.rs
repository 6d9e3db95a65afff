//! Turns status samples, conflict records and checker verdicts into the
//! report's series and summaries. Pure functions: the same inputs always
//! give the same report.

use std::collections::{BTreeMap, BTreeSet};

use meridian_core::lag;
use meridian_core::{AttrValue, Conflict, Version};
use meridian_proto::v1 as pb;
use meridian_scenario::report::{
    ConflictExample, ConflictPair, ConflictSample, HealReport, LatencySummary, LinkReport,
    LinkSample, PurgeCounts, Report, VerdictReport,
};
use meridian_scenario::scenario::Action;
use meridian_scenario::{Oracle, Verdict};

use crate::target::RegionTarget;

/// Every region's status at one moment; `None` where a region did not answer.
#[derive(Clone, Debug)]
pub struct Sample {
    pub t_ms: u64,
    /// In the report's region order.
    pub statuses: Vec<Option<pb::StatusResponse>>,
}

/// An event after which a backlog should drain: a heal or a restart.
#[derive(Clone, Debug)]
pub struct HealMark {
    pub at_ms: u64,
    pub label: String,
    /// Directed links `(from, to)` by region index.
    pub links: Vec<(usize, usize)>,
}

/// How many conflicts to show in full.
const EXAMPLES: usize = 10;

fn peer<'a>(status: &'a pb::StatusResponse, name: &str) -> Option<&'a pb::PeerStatus> {
    status.peers.iter().find(|p| p.peer == name)
}

fn ms(micros: Option<u64>) -> Option<f64> {
    micros.map(|m| m as f64 / 1000.0)
}

fn summary(counts: &[u64]) -> LatencySummary {
    LatencySummary {
        count: counts.iter().sum(),
        p50_ms: ms(lag::quantile_micros(counts, 0.5)),
        p99_ms: ms(lag::quantile_micros(counts, 0.99)),
        max_ms: ms(lag::quantile_micros(counts, 1.0)),
    }
}

/// A sample's row of every series the report plots: what a drill
/// watched while it runs is shown, and what [`fill`] puts in the report.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRows {
    /// One row per directed link `(from, to, row)`, in the report's order.
    pub links: Vec<(String, String, LinkSample)>,
    /// Conflicts recorded so far, per detecting region.
    pub conflicts: ConflictSample,
    /// Each answering region's DynamoDB endpoint answers since the
    /// previous sample that had them (CloudWatch's `UserErrors`,
    /// `SystemErrors`, `ThrottledRequests`); a region that did not answer
    /// is left out.
    pub answers: BTreeMap<String, pb::RequestCounts>,
}

/// The report's series made a sample at a time, so that a drill's live
/// rows and its report's are the same rows, by the same rule: each link's
/// latency is windowed since the previous sample that reached its receiver,
/// and a region that did not answer keeps its last count of conflicts.
#[derive(Clone, Debug)]
pub struct Series {
    names: Vec<String>,
    /// Per directed link, in report order.
    links: Vec<LinkWindow>,
    known: BTreeMap<String, u64>,
    /// Each region's count of conflicts when the drill began, which its
    /// series counts from ([`Series::since`]).
    base: BTreeMap<String, u64>,
    /// Each region's DynamoDB answers at its last sample.
    answers: BTreeMap<String, pb::RequestCounts>,
}

/// A directed link `(from, to)` by region index, and its receiver's
/// bucket counts at the last sample that had them.
#[derive(Clone, Debug)]
struct LinkWindow {
    link: (usize, usize),
    last: Option<Vec<u64>>,
}

impl Series {
    pub fn new(names: &[String]) -> Series {
        let mut links = Vec::new();
        for i in 0..names.len() {
            for j in 0..names.len() {
                if i != j {
                    links.push(LinkWindow {
                        link: (i, j),
                        last: None,
                    });
                }
            }
        }
        Series {
            names: names.to_vec(),
            links,
            known: names.iter().map(|n| (n.clone(), 0)).collect(),
            base: BTreeMap::new(),
            answers: BTreeMap::new(),
        }
    }

    /// A series that counts from `baseline`, a sample taken as the drill
    /// began: regions that ran before it (a cluster under `meridian up`)
    /// counted latencies and conflicts that are not the drill's. A drill
    /// that starts its own regions counts from their start instead
    /// ([`Series::new`]), so a simulated one takes no extra sample.
    pub fn since(names: &[String], baseline: &Sample) -> Series {
        let mut series = Series::new(names);
        for w in &mut series.links {
            w.last = link_buckets(baseline, w.link, names);
        }
        for (name, st) in names.iter().zip(&baseline.statuses) {
            if let Some(st) = st {
                series.base.insert(name.clone(), st.conflicts);
                if let Some(c) = st.requests {
                    series.answers.insert(name.clone(), c);
                }
            }
        }
        series
    }

    /// The rows `s` adds to every series.
    pub fn push(&mut self, s: &Sample) -> SampleRows {
        self.push_windows(s).0
    }

    /// The rows `s` adds, with each link's latency bucket counts since the
    /// previous sample (`None` where its receiver did not answer).
    fn push_windows(&mut self, s: &Sample) -> (SampleRows, Vec<Option<Vec<u64>>>) {
        let names = &self.names;
        let mut rows = Vec::with_capacity(self.links.len());
        let mut windows = Vec::with_capacity(self.links.len());
        for LinkWindow { link: (i, j), last } in &mut self.links {
            let (from, to) = (&names[*i], &names[*j]);
            let pending = s.statuses[*i]
                .as_ref()
                .and_then(|st| peer(st, to))
                .map(|p| p.pending);
            let buckets = link_buckets(s, (*i, *j), names);
            let window = buckets.as_ref().map(|cur| match &*last {
                None => cur.clone(),
                // Counts going backwards mean `to` restarted and counts
                // from zero again: the whole current histogram is new.
                Some(prev) => lag::window(prev, cur).unwrap_or_else(|| cur.clone()),
            });
            if let Some(b) = buckets {
                *last = Some(b);
            }
            let (p50, p99, max, applied) = match &window {
                Some(w) => (
                    ms(lag::quantile_micros(w, 0.5)),
                    ms(lag::quantile_micros(w, 0.99)),
                    ms(lag::quantile_micros(w, 1.0)),
                    w.iter().sum(),
                ),
                None => (None, None, None, 0),
            };
            rows.push((
                from.clone(),
                to.clone(),
                LinkSample {
                    t_ms: s.t_ms,
                    p50_ms: p50,
                    p99_ms: p99,
                    max_ms: max,
                    applied,
                    pending,
                },
            ));
            windows.push(window);
        }
        let mut answers = BTreeMap::new();
        for (i, st) in s.statuses.iter().enumerate() {
            if let Some(st) = st {
                let base = self.base.get(&names[i]).copied().unwrap_or(0);
                self.known
                    .insert(names[i].clone(), st.conflicts.saturating_sub(base));
                if let Some(now) = st.requests {
                    let before = self.answers.insert(names[i].clone(), now);
                    answers.insert(names[i].clone(), answers_since(before, now));
                }
            }
        }
        let conflicts = ConflictSample {
            t_ms: s.t_ms,
            by_region: self.known.clone(),
        };
        (
            SampleRows {
                links: rows,
                conflicts,
                answers,
            },
            windows,
        )
    }
}

/// A region's answers between two samples: none at its first (where its
/// counting starts: a region that did not answer the baseline, then does,
/// brings nothing it answered before the drill), and all of `now` where a
/// count went back (the region restarted and counts from zero again).
fn answers_since(before: Option<pb::RequestCounts>, now: pb::RequestCounts) -> pb::RequestCounts {
    let Some(b) = before else {
        return pb::RequestCounts::default();
    };
    let fields = |c: &pb::RequestCounts| [c.requests, c.user_errors, c.system_errors, c.throttled];
    if fields(&b).iter().zip(fields(&now)).any(|(b, n)| *b > n) {
        return now;
    }
    pb::RequestCounts {
        requests: now.requests - b.requests,
        user_errors: now.user_errors - b.user_errors,
        system_errors: now.system_errors - b.system_errors,
        throttled: now.throttled - b.throttled,
    }
}

/// The latency bucket counts of link `i → j` in `s`: measured where it
/// lands, at `j`; `None` where `j` did not answer.
fn link_buckets(s: &Sample, (i, j): (usize, usize), names: &[String]) -> Option<Vec<u64>> {
    s.statuses[j]
        .as_ref()
        .and_then(|st| peer(st, &names[i]))
        .map(|p| p.latency_buckets.clone())
        .filter(|b| b.len() == lag::BUCKETS)
}

/// A count that region `at` keeps of its link with the peer named `of`,
/// over the samples, from its value in `baseline` (else from 0): a count
/// that goes back (`at` restarted) counts from zero again.
fn counted(
    baseline: Option<&Sample>,
    samples: &[Sample],
    (at, of): (usize, &str),
    count: impl Fn(&pb::PeerStatus) -> u64,
) -> u64 {
    let value = |s: &Sample| {
        s.statuses[at]
            .as_ref()
            .and_then(|st| peer(st, of))
            .map(&count)
    };
    let mut total = 0;
    let mut last = baseline.and_then(&value).unwrap_or(0);
    for s in samples {
        let Some(c) = value(s) else {
            continue;
        };
        total += if c >= last { c - last } else { c };
        last = c;
    }
    total
}

/// Link series, conflict series and heal drain times from the samples,
/// counted from `baseline` when there is one ([`Series::since`]).
pub fn fill(
    report: &mut Report,
    baseline: Option<&Sample>,
    samples: &[Sample],
    heals: &[HealMark],
) {
    let names = report.regions.clone();
    let (links, conflict_series) = link_series(&names, baseline, samples);
    let heal_reports = heal_reports(&names, samples, heals);
    let (drift, purges) = last_counts(&names, samples);
    report.links = links;
    report.conflict_series = conflict_series;
    report.heals = heal_reports;
    report.drift_refusals = drift;
    report.purges = purges;
}

/// Each link's samples, latency summary and counts, and the conflicts
/// recorded per sample.
fn link_series(
    names: &[String],
    baseline: Option<&Sample>,
    samples: &[Sample],
) -> (Vec<LinkReport>, Vec<ConflictSample>) {
    let mut series = match baseline {
        Some(b) => Series::since(names, b),
        None => Series::new(names),
    };
    let mut links: Vec<LinkReport> = series
        .links
        .iter()
        .map(|&LinkWindow { link: (i, j), .. }| LinkReport {
            from: names[i].clone(),
            to: names[j].clone(),
            latency: LatencySummary::default(),
            samples: Vec::new(),
            max_pending: 0,
            reordered: 0,
            torn_units: 0,
            left_to_origin: 0,
            paused_skipped: 0,
            coalesced: 0,
            replicated_write_units: 0,
            throttled_ms: 0,
        })
        .collect();
    let mut totals = vec![vec![0u64; lag::BUCKETS]; links.len()];
    let mut conflict_series = Vec::new();
    for s in samples {
        let (rows, windows) = series.push_windows(s);
        for (((link, total), (_, _, row)), window) in links
            .iter_mut()
            .zip(&mut totals)
            .zip(rows.links)
            .zip(windows)
        {
            if let Some(w) = window {
                for (t, c) in total.iter_mut().zip(&w) {
                    *t += c;
                }
            }
            link.max_pending = link.max_pending.max(row.pending.unwrap_or(0));
            link.samples.push(row);
        }
        conflict_series.push(rows.conflicts);
    }
    for ((link, total), window) in links.iter_mut().zip(&totals).zip(&series.links) {
        link.latency = summary(total);
        let (i, j) = window.link;
        // What the receiver counted of the sender, and the sender of the
        // receiver.
        let (at_to, at_from) = ((j, names[i].as_str()), (i, names[j].as_str()));
        link.reordered = counted(baseline, samples, at_to, |p| p.reordered);
        link.torn_units = counted(baseline, samples, at_to, |p| p.torn_units);
        link.left_to_origin = counted(baseline, samples, at_to, |p| p.left_to_origin);
        link.paused_skipped = counted(baseline, samples, at_to, |p| p.paused_skipped);
        link.coalesced = counted(baseline, samples, at_from, |p| p.coalesced);
        link.replicated_write_units =
            counted(baseline, samples, at_to, |p| p.replicated_write_units);
        link.throttled_ms = counted(baseline, samples, at_to, |p| p.throttled_micros) / 1000;
    }
    (links, conflict_series)
}

/// How long each heal's backlog took to drain: the backlog of a link is
/// what its origin had logged at the heal.
fn heal_reports(names: &[String], samples: &[Sample], heals: &[HealMark]) -> Vec<HealReport> {
    let pending_of = |s: &Sample, (i, j): (usize, usize)| {
        s.statuses[i]
            .as_ref()
            .and_then(|st| peer(st, &names[j]))
            .map(|p| p.pending)
    };
    let acked_of = |s: &Sample, (i, j): (usize, usize)| {
        s.statuses[i]
            .as_ref()
            .and_then(|st| peer(st, &names[j]))
            .map(|p| p.acked_seq)
    };
    let head_of = |s: &Sample, i: usize| s.statuses[i].as_ref().map(|st| st.log_head);
    let mut heal_reports = Vec::new();
    for h in heals {
        let after: Vec<&Sample> = samples.iter().filter(|s| s.t_ms >= h.at_ms).collect();
        let backlog = after
            .first()
            .map(|s| h.links.iter().filter_map(|&l| pending_of(s, l)).sum())
            .unwrap_or(0);
        // The backlog of a link is what its origin had logged at the heal
        // (the first sample that reached the origin after it); it has
        // drained once the receiver acknowledged that position. New writes
        // after the heal do not count, so drain time does not depend on
        // whether the workload is still running.
        let targets: Vec<Option<u64>> = h
            .links
            .iter()
            .map(|&(i, _)| after.iter().find_map(|s| head_of(s, i)))
            .collect();
        let drain_ms = after
            .iter()
            .find(|s| {
                h.links.iter().zip(&targets).all(|(&l, target)| {
                    // A sample that missed the origin's head still
                    // settles the link once nothing is pending.
                    pending_of(s, l) == Some(0)
                        || matches!((target, acked_of(s, l)), (Some(t), Some(a)) if a >= *t)
                })
            })
            .map(|s| s.t_ms - h.at_ms);
        heal_reports.push(HealReport {
            at_ms: h.at_ms,
            label: h.label.clone(),
            links: h
                .links
                .iter()
                .map(|&(i, j)| format!("{} → {}", names[i], names[j]))
                .collect(),
            backlog,
            drain_ms,
        });
    }
    heal_reports
}

/// Each region's drift refusals and purge counts, from its last answered
/// status.
fn last_counts(
    names: &[String],
    samples: &[Sample],
) -> (BTreeMap<String, u64>, BTreeMap<String, PurgeCounts>) {
    let mut drift = BTreeMap::new();
    let mut purges = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let last = samples.iter().rev().find_map(|s| s.statuses[i].as_ref());
        drift.insert(n.clone(), last.map_or(0, |st| st.drift_refusals));
        purges.insert(
            n.clone(),
            PurgeCounts {
                tombstones_purged: last.map_or(0, |st| st.tombstones_purged),
                superseded: last.map_or(0, |st| st.superseded),
            },
        );
    }
    (drift, purges)
}

fn show_key(c: &Conflict) -> String {
    let from_image = [&c.winner_image, &c.loser_image]
        .into_iter()
        .flatten()
        .find_map(|i| match i.get(crate::workload::KEY_ATTR) {
            Some(AttrValue::S(s)) => Some(s.clone()),
            _ => None,
        });
    let k = from_image.unwrap_or_else(|| String::from_utf8_lossy(&c.key.partition).into_owned());
    serde_json::json!({ crate::workload::KEY_ATTR: { "S": k } }).to_string()
}

fn show_image(i: &Option<meridian_core::Item>) -> Option<String> {
    i.as_ref().map(|i| {
        let mut shown = i.clone();
        // The padding is noise in a conflict study.
        if let Some(AttrValue::S(p)) = shown.get_mut("pad") {
            *p = format!("<{} bytes>", p.len());
        }
        serde_json::Value::Object(meridian_core::item_to_json(&shown)).to_string()
    })
}

/// Conflicts and lost updates per (winner origin, loser origin), and a few
/// conflicts in full. A pair of versions recorded by several regions counts
/// once.
pub fn conflicts(report: &mut Report, all: &[Conflict], oracle: &Oracle) {
    let mut distinct: BTreeMap<(Version, Version), &Conflict> = BTreeMap::new();
    for c in all {
        distinct
            .entry((c.winner.clone(), c.loser.clone()))
            .or_insert(c);
    }
    let mut pairs: BTreeMap<(String, String), (u64, BTreeSet<Version>)> = BTreeMap::new();
    for (w, l) in distinct.keys() {
        let e = pairs
            .entry((w.origin.clone(), l.origin.clone()))
            .or_default();
        e.0 += 1;
        if oracle.get(l).is_some() {
            e.1.insert(l.clone());
        }
    }
    report.conflict_pairs = pairs
        .into_iter()
        .map(|((winner, loser), (n, lost))| ConflictPair {
            winner,
            loser,
            conflicts: n,
            lost_updates: lost.len() as u64,
        })
        .collect();
    report.conflict_examples = distinct
        .values()
        .take(EXAMPLES)
        .map(|c| ConflictExample {
            table: c.table.clone(),
            key: show_key(c),
            winner: c.winner.to_string(),
            loser: c.loser.to_string(),
            reason: c.reason().as_str().to_string(),
            detected_by: c.detected_by.clone(),
            winner_image: show_image(&c.winner_image),
            loser_image: show_image(&c.loser_image),
        })
        .collect();
}

/// The checker's verdict. `replicas`: every region's heads against the
/// oracle; `conflicts`: the conflict log against the oracle; `converged`:
/// equal heads everywhere; `in_time`: drained with equal digests within the
/// settle deadline.
pub fn verdict(
    replicas: &Verdict,
    conflicts: &Verdict,
    converged: &Verdict,
    in_time: bool,
) -> VerdictReport {
    let mut problems: Vec<String> = Vec::new();
    if !in_time {
        problems.push(
            "the regions did not drain and agree on one digest within the settle time".into(),
        );
    }
    for v in [converged, replicas, conflicts] {
        problems.extend(v.problems.iter().cloned());
    }
    let converged_ok = converged.ok() && in_time;
    VerdictReport {
        ok: converged_ok && replicas.ok() && conflicts.ok(),
        converged: converged_ok,
        acked_writes_accounted: conflicts.ok(),
        oracle_match: replicas.ok(),
        keys_checked: replicas.keys_checked as u64,
        conflicts_checked: conflicts.conflicts_checked as u64,
        lost_updates: conflicts.lost_updates as u64,
        expected_lost_updates: conflicts.expected_lost_updates as u64,
        problems,
    }
}

/// Every directed link of `n` regions, by index.
pub(crate) fn all_links(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .collect()
}

/// The links a heal or restart brings back, whose backlog should drain.
pub(crate) fn restored_links(
    action: &Action,
    regions: &[RegionTarget],
) -> Option<Vec<(usize, usize)>> {
    let index = |name: &str| regions.iter().position(|r| r.name == name);
    let touching = |r: usize| {
        all_links(regions.len())
            .into_iter()
            .filter(|&(i, j)| i == r || j == r)
            .collect::<Vec<_>>()
    };
    match action {
        Action::Heal { link, region } | Action::Clear { link, region } => match (link, region) {
            (Some((a, b)), _) => {
                let (a, b) = (index(a)?, index(b)?);
                Some(vec![(a, b), (b, a)])
            }
            (None, Some(r)) => Some(touching(index(r)?)),
            (None, None) => Some(all_links(regions.len())),
        },
        Action::Restart { region } => Some(touching(index(region)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample in which `b` had applied `applied` entries from `a`, all
    /// in one latency bucket, skipped `skipped` of them, and recorded
    /// `conflicts`; `a` has heard nothing from `b`.
    fn sample(t_ms: u64, applied: u64, skipped: u64, conflicts: u64) -> Sample {
        let mut buckets = vec![0; lag::BUCKETS];
        buckets[10] = applied;
        let from_a = pb::PeerStatus {
            peer: "a".into(),
            latency_buckets: buckets,
            paused_skipped: skipped,
            ..Default::default()
        };
        Sample {
            t_ms,
            statuses: vec![
                Some(pb::StatusResponse::default()),
                Some(pb::StatusResponse {
                    peers: vec![from_a],
                    conflicts,
                    ..Default::default()
                }),
            ],
        }
    }

    /// Against regions that ran before the drill, what they counted before
    /// it is left out when the series counts from the drill's first sample;
    /// a series from the regions' start keeps it.
    #[test]
    fn a_series_since_a_baseline_counts_only_what_came_after_it() {
        let names = vec!["a".to_string(), "b".to_string()];
        let baseline = sample(0, 900, 40, 7);
        let samples = [sample(250, 930, 45, 9)];
        let report = |baseline: Option<&Sample>| {
            let mut r = Report {
                regions: names.clone(),
                ..Report::default()
            };
            fill(&mut r, baseline, &samples, &[]);
            r
        };
        let since = report(Some(&baseline));
        let ab = |r: &Report| r.links.iter().find(|l| l.from == "a").cloned().unwrap();
        assert_eq!(ab(&since).latency.count, 30);
        assert_eq!(ab(&since).paused_skipped, 5);
        assert_eq!(since.conflict_series[0].by_region["b"], 2);
        let from_start = report(None);
        assert_eq!(ab(&from_start).latency.count, 930);
        assert_eq!(ab(&from_start).paused_skipped, 45);
        assert_eq!(from_start.conflict_series[0].by_region["b"], 9);
    }

    #[test]
    fn a_regions_answers_count_from_its_first_sample_and_again_after_a_restart() {
        let c = |requests, user_errors| pb::RequestCounts {
            requests,
            user_errors,
            ..Default::default()
        };
        assert_eq!(answers_since(None, c(500, 40)), c(0, 0));
        assert_eq!(answers_since(Some(c(500, 40)), c(520, 43)), c(20, 3));
        assert_eq!(answers_since(Some(c(500, 40)), c(7, 2)), c(7, 2));
        // Any count going back is a restart, not only the requests'.
        assert_eq!(answers_since(Some(c(500, 40)), c(600, 1)), c(600, 1));
    }
}
