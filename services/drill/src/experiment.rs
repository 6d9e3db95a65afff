//! The drill as an experiment the application judges (docs/drills.md,
//! *Judge the drill by your application*): its alarms evaluated at every
//! sample, its stop conditions watched while the timeline runs (an alarm
//! in ALARM stops it as FIS stops an experiment: the faults end, the rest
//! of the timeline is not applied), and its objectives judged at the end
//! beside Meridian's own checks.

use std::sync::Mutex;
use std::time::Duration;

use meridian_scenario::alarm::MetricName;
use meridian_scenario::objectives::{self, Judged};
use meridian_scenario::report::{EventMark, ExperimentReport, Report};
use meridian_scenario::scenario::{Action, Scenario};
use tokio::time::Instant;

use crate::alarms::{Alarms, Counts, Stop, Totals};
use crate::collect::{Sample, SampleRows};
use crate::endpoint::FailoverCounts;
use crate::invariants::Invariants;
use crate::target::{Faults, Mode, RegionTarget};
use crate::traffic::{Tally, lock};

/// A stop, once made.
struct Stopped {
    at_ms: u64,
    stop: Stop,
    skipped: u64,
}

/// What the drill follows of the experiment while it runs.
#[derive(Default)]
pub(crate) struct Experiment {
    alarms: Option<Alarms>,
    stopped: Option<Stopped>,
    /// When the timeline's last applied event was, ms: its faults end
    /// there (or at the stop).
    faults_end_ms: u64,
    /// Pauses of replication applied, (table, region, ends at ms): a stop
    /// ends those still running.
    pauses: Vec<(String, String, u64)>,
    invariants: Option<Invariants>,
    /// The faults in effect: cuts, crashes and skews, as the timeline
    /// labelled them, with the regions they touch.
    active: Vec<(&'static str, Vec<String>, String)>,
    /// Whether the live progress has said the ceiling on failed requests
    /// was crossed.
    ceiling_told: bool,
}

/// Refuses, naming the field, what this drill cannot watch: before any
/// fault is applied. A simulated drill's regions serve no DynamoDB
/// endpoint, and only a cluster with a failover endpoint has its record.
pub(crate) async fn check<F: Faults>(
    scenario: &Scenario,
    mode: Mode,
    faults: &mut F,
) -> Result<(), String> {
    crate::invariants::check(scenario)?;
    let metric = |f: fn(MetricName) -> bool| scenario.alarms.iter().position(|a| f(a.metric));
    if mode == Mode::Simulated
        && let Some(i) = metric(MetricName::dynamodb_answers)
    {
        return Err(format!(
            "alarm[{i}].metric: {} counts the answers of the regions' DynamoDB endpoints, which a simulated drill's regions do not serve; run the drill against a cluster (--cluster)",
            scenario.alarms[i].metric.as_str()
        ));
    }
    if mode == Mode::Live && scenario.failover.is_some() {
        return Err(
            "failover: a simulated drill's endpoint; against a running cluster, its cluster file's [failover] section is the endpoint (docs/failover.md)".into(),
        );
    }
    let needs_endpoint = metric(MetricName::failover_endpoints);
    let external_ceiling =
        scenario.workload.external && scenario.objectives.max_failed_requests.is_some();
    if needs_endpoint.is_none() && !external_ceiling {
        return Ok(());
    }
    if scenario.failover.is_some() || faults.failover_record().await.is_some() {
        return Ok(());
    }
    Err(match needs_endpoint {
        Some(i) => format!(
            "alarm[{i}].metric: {} is the failover endpoint's, and this drill's cluster serves none (docs/failover.md; a simulated drill has one with a [failover] section)",
            scenario.alarms[i].metric.as_str()
        ),
        None => "objectives.max_failed_requests: with workload.external = true the drill sees your application's failed requests only through the failover endpoint, and this cluster serves none (docs/failover.md)".into(),
    })
}

impl Experiment {
    pub(crate) fn new(scenario: &Scenario, mode: Mode) -> Experiment {
        Experiment {
            alarms: Alarms::new(scenario),
            invariants: Invariants::new(scenario, mode),
            ..Experiment::default()
        }
    }

    /// Whether the stop conditions are watched and not yet met.
    pub(crate) fn running(&self) -> bool {
        self.stopped.is_none()
    }

    /// Notes an event of the timeline applied at `at_ms`.
    pub(crate) fn applied(&mut self, action: &Action, at_ms: u64) {
        self.faults_end_ms = at_ms;
        self.follow_faults(action);
        if let Action::PauseReplication {
            table,
            region,
            duration,
            tail,
            ..
        } = action
        {
            let ends = at_ms + (*duration + *tail).as_millis() as u64;
            self.pauses.push((table.clone(), region.clone(), ends));
        }
    }

    /// The failover endpoint's record as the drill began: its alarms
    /// count from there.
    pub(crate) fn failover_from(&mut self, record: Option<&serde_json::Value>) {
        if let Some(a) = self.alarms.as_mut() {
            a.failover_from(record.and_then(FailoverCounts::of));
        }
    }

    /// The regions crashed now, which answer no health check.
    pub(crate) fn crashed(&self) -> std::collections::BTreeSet<String> {
        self.active
            .iter()
            .filter(|(kind, _, _)| *kind == "crash")
            .flat_map(|(_, regions, _)| regions.iter().cloned())
            .collect()
    }

    /// Keeps [`Experiment::active`] up to date with `action`.
    fn follow_faults(&mut self, action: &Action) {
        let label = action.label();
        match action {
            Action::Partition { from, to, .. } | Action::Flap { from, to, .. } => {
                self.active
                    .push(("cut", vec![from.clone(), to.clone()], label));
            }
            Action::Isolate { region, .. } => {
                self.active.push(("cut", vec![region.clone()], label));
            }
            Action::Heal { link, region } | Action::Clear { link, region } => {
                let scope: Vec<&String> = match (link, region) {
                    (Some((a, b)), _) => vec![a, b],
                    (None, Some(r)) => vec![r],
                    (None, None) => Vec::new(),
                };
                self.active.retain(|(kind, regions, _)| {
                    *kind != "cut"
                        || !scope.iter().all(|s| regions.contains(s)) && !scope.is_empty()
                });
            }
            Action::Crash { region } => self.active.push(("crash", vec![region.clone()], label)),
            Action::Restart { region } => self
                .active
                .retain(|(kind, regions, _)| *kind != "crash" || regions[0] != *region),
            Action::Skew {
                region,
                offset_micros,
                drift_ppm,
            } => {
                self.active
                    .retain(|(kind, regions, _)| *kind != "skew" || regions[0] != *region);
                if *offset_micros != 0 || *drift_ppm != 0 {
                    self.active.push(("skew", vec![region.clone()], label));
                }
            }
            _ => {}
        }
    }

    /// The faults in effect at `t_ms`, as the timeline labelled them.
    fn faults_at(&self, t_ms: u64) -> Vec<String> {
        let mut out: Vec<String> = self.active.iter().map(|(_, _, l)| l.clone()).collect();
        for (table, region, ends) in &self.pauses {
            if *ends > t_ms {
                out.push(format!("pause-replication {table} at {region}"));
            }
        }
        out
    }

    /// The objectives that fail before the end, judged at `t_ms` for the
    /// live progress with the drill's `failed` requests so far: the
    /// ceiling on failed requests, once crossed (said once). Every
    /// objective is judged for the report at the end ([`Self::finish`]);
    /// these entries are not on its timeline. An external workload's
    /// failed requests are the failover endpoint's, read at the end.
    pub(crate) fn judge_live(
        &mut self,
        t_ms: u64,
        failed: u64,
        scenario: &Scenario,
    ) -> Vec<EventMark> {
        let Some(max) = scenario.objectives.max_failed_requests else {
            return Vec::new();
        };
        if scenario.workload.external || self.ceiling_told || failed <= max {
            return Vec::new();
        }
        self.ceiling_told = true;
        let c = objectives::failed_requests(max, Some(failed), Some(t_ms));
        vec![EventMark {
            at_ms: t_ms,
            action: "criterion".into(),
            label: c.problem(),
        }]
    }

    /// Checks the invariants due at `t_ms` (every one once `settled`);
    /// returns the timeline's entries of the violations newly seen.
    pub(crate) async fn check_invariants(
        &mut self,
        t_ms: u64,
        settled: bool,
        regions: &[RegionTarget],
    ) -> Vec<EventMark> {
        let faults = match settled {
            true => Vec::new(),
            false => self.faults_at(t_ms),
        };
        match self.invariants.as_mut() {
            Some(i) => i.check(t_ms, settled, regions, &faults).await,
            None => Vec::new(),
        }
    }

    /// A sample at `t_ms`: every alarm evaluated on its `rows` and the
    /// drill's counts (`tally`), and the invariants due checked in `holders`;
    /// returns the timeline's entries, and a stop condition met.
    pub(crate) async fn sample<F: Faults>(
        &mut self,
        t_ms: u64,
        rows: Option<SampleRows>,
        tally: &Mutex<Tally>,
        faults: &mut F,
        holders: &[RegionTarget],
    ) -> (Vec<EventMark>, Option<Stop>) {
        let Some(rows) = rows else {
            return (Vec::new(), None);
        };
        let (requests, simulated) = {
            let t = lock(tally);
            let endpoint = t.endpoint.as_ref().map(|e| e.counts);
            (crate::alarms::counts(&t), endpoint)
        };
        let (mut marks, stop) = match self.totals(requests, simulated, faults).await {
            Some(totals) => self.observe(t_ms, Some(&rows), totals),
            None => (Vec::new(), None),
        };
        marks.extend(self.check_invariants(t_ms, false, holders).await);
        (marks, stop)
    }

    /// A status sample of `regions`, while the alarms on the drill's own
    /// counts (`tally`) are evaluated at every sample interval: a region
    /// that does not answer holds a sample up to its timeout. A stop
    /// condition met meanwhile ends the wait: the sample is dropped and the
    /// stop returned, with the timeline's entries of the alarms.
    pub(crate) async fn sample_counting(
        &mut self,
        regions: &[RegionTarget],
        start: Instant,
        tally: &Mutex<Tally>,
        scenario: &Scenario,
    ) -> (Option<Sample>, Option<Stop>, Vec<EventMark>) {
        let taking = crate::probe::sample(regions, start);
        let endpoint = lock(tally).endpoint.is_some();
        if self.alarms.is_none() && !endpoint {
            return (Some(taking.await), None, Vec::new());
        }
        tokio::pin!(taking);
        // The next evaluation of the alarms on the drill's own counts.
        let mut tick = self.alarms.is_some().then(Instant::now);
        let mut marks = Vec::new();
        loop {
            let now_ms = Instant::now().duration_since(start).as_millis() as u64;
            marks.extend(self.failover_rounds(now_ms, tally));
            if let Some(at) = tick.as_mut().filter(|at| **at <= Instant::now()) {
                let totals = {
                    let t = lock(tally);
                    Totals {
                        requests: crate::alarms::counts(&t),
                        failover: t.endpoint.as_ref().map(|e| e.counts),
                    }
                };
                let t_ms = Instant::now().duration_since(start).as_millis() as u64;
                let (m, stop) = self.observe(t_ms, None, totals);
                marks.extend(m);
                if stop.is_some() {
                    return (None, stop, marks);
                }
                *at += scenario.sample_interval;
            }
            let rounds = lock(tally)
                .endpoint
                .as_ref()
                .map(|e| start + Duration::from_millis(e.wake_ms()));
            let wake = match (tick, rounds) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).expect("alarms or an endpoint to wait for"),
            };
            tokio::select! {
                s = &mut taking => return (Some(s), None, marks),
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// The simulated failover endpoint's health rounds due by `now_ms`,
    /// the crashed regions not answering; each move it made, as a timeline
    /// entry. Run before each event (a round due with it sees the regions
    /// as they were before it) and beside a status sample, which a crashed
    /// region holds up: the endpoint's rounds never wait for one.
    pub(crate) fn failover_rounds(&self, now_ms: u64, tally: &Mutex<Tally>) -> Vec<EventMark> {
        let down = self.crashed();
        let moves = match lock(tally).endpoint.as_mut() {
            Some(e) => e.advance(now_ms, &down),
            None => return Vec::new(),
        };
        moves
            .into_iter()
            .map(|(at_ms, label)| {
                tracing::info!(at_ms, event = %label, "failover endpoint");
                EventMark {
                    at_ms,
                    action: "failover".into(),
                    label,
                }
            })
            .collect()
    }

    /// The counts the alarms' datapoints are made from, read now: the
    /// drill's requests per region and, if an alarm watches them, the
    /// failover endpoint's (a simulated drill's endpoint counts are
    /// `simulated`).
    async fn totals<F: Faults>(
        &self,
        requests: Counts,
        simulated: Option<FailoverCounts>,
        faults: &mut F,
    ) -> Option<Totals> {
        let alarms = self.alarms.as_ref()?;
        let failover = match (alarms.reads_failover(), simulated) {
            (false, _) => None,
            (true, Some(counts)) => Some(counts),
            (true, None) => faults
                .failover_record()
                .await
                .and_then(|r| FailoverCounts::of(&r)),
        };
        Some(Totals { requests, failover })
    }

    /// Evaluates every alarm at the sample `t_ms`; returns the timeline
    /// entries its changes of state make, and a stop condition met while
    /// the experiment runs.
    fn observe(
        &mut self,
        t_ms: u64,
        rows: Option<&SampleRows>,
        totals: Totals,
    ) -> (Vec<EventMark>, Option<Stop>) {
        let Some(alarms) = self.alarms.as_mut() else {
            return (Vec::new(), None);
        };
        let (changes, stop) = alarms.observe(t_ms, rows, totals);
        let marks = changes
            .into_iter()
            .map(|(name, t)| EventMark {
                at_ms: t.at_ms,
                action: "alarm".into(),
                label: format!(
                    "alarm {name}: {} → {} ({})",
                    t.from.as_str(),
                    t.to.as_str(),
                    t.reason
                ),
            })
            .collect();
        (marks, stop.filter(|_| self.running()))
    }

    /// Stops the experiment at `at_ms`: ends the pauses of replication
    /// still running (the drill's wind-down heals the rest), and returns
    /// the timeline's entries for it.
    pub(crate) async fn stop(
        &mut self,
        stop: Stop,
        at_ms: u64,
        skipped: usize,
        regions: &[RegionTarget],
    ) -> Vec<String> {
        let mut labels = vec![format!(
            "experiment stopped: stop condition {} in ALARM at {} ms; its faults end now{}",
            stop.alarm,
            stop.transition.at_ms,
            match skipped {
                0 => String::new(),
                n => format!(", {n} events of the timeline not applied"),
            }
        )];
        let admins: Vec<_> = regions
            .iter()
            .map(|r| (r.name.clone(), r.admin.clone()))
            .collect();
        let token = regions.first().and_then(|r| r.admin_token.as_deref());
        for (table, region, ends) in std::mem::take(&mut self.pauses) {
            if ends <= at_ms {
                continue;
            }
            let request = meridian_cluster::faults::pause_request(
                &table,
                &region,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
            );
            labels.push(
                match meridian_cluster::faults::pause_everywhere(&admins, token, request).await {
                    Ok(_) => format!("pause of {table}'s replication at {region} ended (stop)"),
                    Err(e) => format!("ending the pause of {table} at {region} failed: {e}"),
                },
            );
        }
        self.faults_end_ms = at_ms;
        self.stopped = Some(Stopped {
            at_ms,
            stop,
            skipped: skipped as u64,
        });
        labels
    }

    /// Puts the alarms, the experiment's end and the objectives in
    /// `report`; an objective not met fails its verdict.
    pub(crate) fn finish(self, report: &mut Report, scenario: &Scenario, epoch_micros: u64) {
        if let Some(a) = &self.alarms {
            report.alarms = a.reports();
        }
        if !scenario.stop_conditions.is_empty() {
            report.experiment = Some(match &self.stopped {
                Some(s) => ExperimentReport {
                    state: "stopped".into(),
                    reason: format!(
                        "Stop condition {} went to ALARM: {}",
                        s.stop.alarm, s.stop.transition.reason
                    ),
                    stopped_at_ms: Some(s.at_ms),
                    alarm: Some(s.stop.alarm.clone()),
                    alarm_at_ms: Some(s.stop.transition.at_ms),
                    events_skipped: s.skipped,
                },
                None => ExperimentReport {
                    state: "completed".into(),
                    reason: "Experiment completed: no stop condition went to ALARM".into(),
                    ..ExperimentReport::default()
                },
            });
        }
        let failed_requests = match scenario.workload.external {
            true => report.failover.as_ref().map(|f| f.failed),
            false => Some(report.workload.failed),
        };
        if let Some(i) = self.invariants {
            report.invariants = i.reports();
        }
        for i in report.invariants.iter().filter(|i| !i.holds) {
            let first = &i.violations[0];
            report.verdict.problems.push(format!(
                "invariant {} violated {} times, first in {} at {} ms: {}",
                i.name,
                i.violations.len() as u64 + i.more,
                first.region,
                first.at_ms,
                first.detail
            ));
            report.verdict.ok = false;
        }
        report.criteria = objectives::judge(
            &scenario.objectives,
            report,
            &Judged {
                faults_end_ms: self.faults_end_ms,
                failed_requests,
                epoch_micros,
            },
        );
        for c in report.criteria.iter().filter(|c| !c.met) {
            report.verdict.problems.push(c.problem());
            report.verdict.ok = false;
        }
    }
}
