//! The drill's judgement, once the regions have settled: every replica
//! against the oracle, less what the disasters took for good, and the
//! streams, indexes, joins, restores, convergence and conflicts beside it.
//! A child of the driver so that it reads the run's own fields.

use std::collections::BTreeMap;

use meridian_core::Conflict;
use meridian_scenario::report::{ConsistencyReport, DisasterReport, Report};
use meridian_scenario::scenario::Scenario;
use meridian_scenario::{Heads, Verdict};

use super::{DriveError, Run, Settled};
use crate::checks;
use crate::collect;
use crate::disaster::Disaster;
use crate::history::History;
use crate::recorded::Recorded;
use crate::target::RegionTarget;
use crate::traffic::{Tally, lock};

impl Run<'_> {
    /// The report as the run itself makes it: its heading (the scenario,
    /// the mode, the regions, and the timeline's marks, taken from the
    /// drive), the series and heals from the samples, the convergence, the
    /// workload's counts and, on a table with a capacity, what it throttled.
    fn report_of_run(
        &mut self,
        seed: u64,
        settled: Settled,
        tally: &Tally,
        recorded: Option<&Recorded>,
    ) -> Report {
        let scenario = &self.scenario;
        let mut report = Report {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            mode: self.mode.as_str().into(),
            seed,
            regions: self.regions.iter().map(|r| r.name.clone()).collect(),
            duration_ms: scenario.duration.as_millis() as u64,
            sample_interval_ms: scenario.sample_interval.as_millis() as u64,
            events: std::mem::take(&mut self.marks),
            ..Report::default()
        };
        let (samples, heals) = (&self.samples, &self.heals);
        collect::fill(&mut report, self.baseline.as_ref(), samples, heals);
        report.convergence.after_workload_ms = settled.convergence.map(|d| d.as_millis() as u64);
        report.convergence.digests = settled.digests;
        report.workload = tally.report();
        if scenario.table.capacity.is_some() {
            let throttled = |r: &str| tally.throttled_by_region.get(r).copied().unwrap_or(0);
            let (names, every) = (&report.regions, report.sample_interval_ms);
            report.capacity =
                crate::capacity::report(names, &self.table, samples, throttled, every);
        }
        if let Some(r) = recorded {
            report.workload.external = true;
            report.workload.unread = r.unread;
        }
        report
    }

    /// Reads every region's final state and judges the drill: every
    /// replica against the oracle, less what the disasters took for good,
    /// and the streams, indexes, joins, restores, convergence and conflicts.
    pub(super) async fn judge(mut self, seed: u64, settled: Settled) -> Result<Report, DriveError> {
        self.read_recorded().await;
        let holders = std::mem::take(&mut self.holders);
        let (heads, mut conflicts) = checks::final_state(&holders, &self.table).await?;
        let mut tally = std::mem::take(&mut *lock(&self.tally));
        let mut replicas = Verdict::default();
        let recorded = self.recorded.take();
        // Strict only when every request got an answer: otherwise a write may
        // have committed without its acknowledgement reaching the workload.
        // Of an application's writes the drill knows only that they were
        // committed, not which were answered.
        let strict = tally.failed == 0 && recorded.is_none();
        let now_secs = self.clock.epoch_micros_now() / 1_000_000;
        scope_to_the_drill(
            recorded.as_ref(),
            &mut conflicts,
            &mut tally,
            now_secs,
            &mut replicas,
        );
        // What the disasters took for good leaves the oracle: the replicas are
        // judged by what survived, and the loss is reported as the RPO.
        // Writes that lost to a TTL delete are known before the disasters
        // are judged: a region holding nothing for such a key serves it
        // (nothing is the key's right state once a TTL delete beat the write).
        let all_conflicts: Vec<Conflict> = conflicts.values().flatten().cloned().collect();
        tally.oracle.note_expiries(&all_conflicts);
        let late = std::mem::take(&mut tally.acked_across_loss);
        let disasters = Disaster::settle(
            std::mem::take(&mut self.disasters),
            &mut tally.oracle,
            &late,
            &heads,
            &mut replicas,
        );
        for (name, h) in &heads {
            tally.oracle.check_replica(name, h, strict, &mut replicas);
        }
        replicas
            .problems
            .append(&mut self.recovery.verdict.problems);
        let mut report = self.report_of_run(seed, settled, &tally, recorded.as_ref());
        self.check_beside(&mut report, &holders, &heads, &mut replicas)
            .await;
        let mut converged = Verdict::default();
        meridian_scenario::check_converged(&heads, &mut converged);
        let mut conflict_check = Verdict::default();
        (tally.oracle).check_conflicts(&all_conflicts, strict, &mut conflict_check);
        // What clients saw of the table's consistency; on a STRONG table
        // every key must be linearizable, every strongly consistent read
        // current, and no acknowledged write lost to a crash either.
        report.consistency = tally
            .history
            .as_ref()
            .map(|h| consistency(h, self.scenario, &disasters, &mut replicas.problems));
        report.disasters = disasters;
        collect::conflicts(&mut report, &all_conflicts, &tally.oracle);
        let in_time = report.convergence.after_workload_ms.is_some();
        report.verdict = collect::verdict(&replicas, &conflict_check, &converged, in_time);
        Ok(report)
    }

    /// The checks beside the replicas' items, each adding its problems to
    /// `replicas`: the streams and indexes if the workload keeps them, the
    /// joins, and the restores.
    async fn check_beside(
        &mut self,
        report: &mut Report,
        regions: &[RegionTarget],
        heads: &[(String, Heads)],
        replicas: &mut Verdict,
    ) {
        let (table, workload) = (&self.table, &self.scenario.workload);
        report.streams = match workload.stream {
            Some(_) => checks::check_streams(regions, table, heads, &mut replicas.problems),
            None => Vec::new(),
        };
        report.indexes = if workload.indexes {
            checks::check_indexes(regions, table, heads, &mut replicas.problems)
        } else {
            Vec::new()
        };
        report.joins = std::mem::take(&mut self.joins).finish(&mut replicas.problems);
        report.restores = (self.recovery)
            .check(regions, self.scenario.settle, replicas)
            .await;
    }
}

/// Scopes the judgement to the drill's own time: an application's table
/// (`recorded`) keeps the conflicts recorded since the drill began, and
/// what reading its regions' records went wrong is a problem; the drill's
/// own table loses from the oracle the items whose time came two seconds
/// before `now_secs`.
fn scope_to_the_drill(
    recorded: Option<&Recorded>,
    conflicts: &mut BTreeMap<String, Vec<Conflict>>,
    tally: &mut Tally,
    now_secs: u64,
    replicas: &mut Verdict,
) {
    if let Some(r) = recorded {
        // Conflicts the application's table recorded before the drill
        // are another time's.
        for c in conflicts.values_mut() {
            c.retain(|c| c.detected_real_micros >= r.since_micros);
        }
        replicas.problems.extend(r.errors());
    } else {
        // Every region's reaper passes over the drill's table every
        // 250 ms (simulated), so an item whose time came two seconds
        // before this read is gone everywhere, unless it came back. An
        // application's regions reap at their own pace.
        tally.oracle.reaped_by(now_secs.saturating_sub(2));
    }
}

/// What clients saw of the table's consistency, from its history; on a
/// STRONG table every key must be linearizable, every strongly consistent
/// read current, and no acknowledged write lost to a crash either.
fn consistency(
    h: &History,
    scenario: &Scenario,
    disasters: &[DisasterReport],
    problems: &mut Vec<String>,
) -> ConsistencyReport {
    let strong = scenario.table.strong();
    let show = |rank: u64| crate::workload::key_name(rank);
    let (report, mut found) = h.report(&scenario.table, strong, &show);
    if strong {
        let lost: usize = disasters.iter().map(|d| d.lost.len()).sum();
        if lost > 0 {
            found.push(format!(
                "{lost} acknowledged writes to the STRONG table were lost"
            ));
        }
    }
    problems.extend(found);
    report
}
