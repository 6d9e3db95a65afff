//! The drill itself, shared by live and simulated runs: create the table,
//! run the workload in every region, apply the fault timeline, sample every
//! region's status, heal, wait for convergence, and check the result.
//!
//! It reaches regions only through their gRPC API (and their store files,
//! read-only: at the end, and around a disaster), so the live run and the simulated one execute
//! exactly this code; only [`Faults`] differs. All times come from
//! `tokio::time`, which is real time live and virtual time under turmoil.
//!
//! [`drive`] reads as its steps: [`set_up`], then [`Run::workload`] (the
//! one loop over the timeline, which hands each event to the module that
//! owns it: [`restore`](crate::restore) the point-in-time events,
//! [`join`](crate::join) a new replica, [`recreate`](crate::recreate) a
//! recreate, [`Faults`] the rest), [`Run::wind_down`], [`Run::settle`] and
//! [`Run::judge`] (in [`judge`]), which reads the regions' stores through
//! [`crate::checks`].

mod judge;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_scenario::report::{EventMark, Report};
use meridian_scenario::scenario::{Action, Scenario};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::checks::FinalStateError;
use crate::collect::{HealMark, Sample, SampleRows, Series};
use crate::disaster::{Disaster, power_loss};
use crate::endpoint::SimEndpoint;
use crate::experiment::Experiment;
use crate::history::History;
use crate::join::Joins;
use crate::orders::Orders;
use crate::probe::{self, agree, digest_all, sample, set_clock};
use crate::recorded::Recorded;
use crate::recreate::{RECREATE_POLL, Recreate};
use crate::restore::Recovery;
use crate::table;
use crate::target::{Faults, Mode, RegionTarget, index_of};
use crate::traffic::{DrillClock, Tally, lock, region_workload};

/// What the progress display shows, and what a drill watched while it
/// runs is shown: the timeline entries and series rows its report will
/// hold, handed over as they are made.
#[derive(Clone, Debug)]
pub struct Progress {
    pub elapsed: Duration,
    pub duration: Duration,
    /// `"workload"`, `"settling"` or `"checking"`.
    pub phase: &'static str,
    pub acked: u64,
    pub failed: u64,
    /// Pending over every link at the newest sample.
    pub pending: u64,
    pub last_event: Option<String>,
    /// The report's timeline entries made since the previous progress.
    pub events: Vec<EventMark>,
    /// Objectives failed since then, judged live (`criterion`); not on the
    /// report's timeline, whose criteria are all judged at the end.
    pub judged: Vec<EventMark>,
    /// With a new sample: the row it adds to each of the report's series.
    pub rows: Option<SampleRows>,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("setting up the drill table: {0}")]
    Setup(String),
    /// The scenario asks what this drill cannot watch (the field named).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Final(#[from] FinalStateError),
    /// The regions' stores could not be brought where the checks read them.
    #[error("reading the regions' stores for the checks: {0}")]
    Stores(String),
}

/// Runs a scenario against regions that are already up.
pub async fn drive<F: Faults>(
    scenario: &Scenario,
    seed: u64,
    mode: Mode,
    regions: &[RegionTarget],
    faults: &mut F,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, DriveError> {
    // The tails the scenario leaves to the seed, drawn once for the run.
    let seeded = scenario.with_seeded_tails(seed);
    let scenario = &seeded;
    crate::experiment::check(scenario, mode, faults)
        .await
        .map_err(DriveError::Refused)?;
    let (tally, epoch_micros) = set_up(scenario, regions, faults).await?;
    let mut run = Run::new(scenario, mode, regions, tally, epoch_micros);
    if mode == Mode::Live {
        run.take_baseline().await;
    }
    if scenario.workload.external {
        run.recorded = Some(
            Recorded::start(scenario, &run.replicas(), epoch_micros)
                .await
                .map_err(DriveError::Setup)?,
        );
    }
    let failover = run.failover_start(faults).await;
    let (stop, workers) = run.start_workload(seed);
    let orders = Orders::start(scenario, regions);
    run.workload(faults, progress).await;
    if let Some(o) = &orders {
        o.stop();
    }
    let workload_end = run.wind_down(stop, workers, faults).await;
    // The last orders' readers finish while the regions settle.
    let orders = match orders {
        Some(o) => Some(o.finish().await),
        None => None,
    };
    run.report_progress(progress, "settling", None);
    let settled = run.settle(workload_end, faults, progress).await;
    // The invariants once more, every one, on the settled regions.
    let marks = run
        .experiment
        .check_invariants(run.ms_now(), true, &run.holders)
        .await;
    run.marks.extend(marks);
    faults
        .settled()
        .await
        .map_err(|e| DriveError::Stores(e.to_string()))?;
    let failover_end = match &failover {
        Some((_, began)) => settled_failover(faults, *began).await,
        None => None,
    };
    let experiment = std::mem::take(&mut run.experiment);
    let epoch_micros = run.clock.epoch_micros;
    let mut report = run.judge(seed, settled).await?;
    report.orders = orders;
    if let (Some((start, began)), Some(end)) = (&failover, &failover_end) {
        report.failover = Some(crate::failover::report(start, end, *began));
    }
    experiment.finish(&mut report, scenario, epoch_micros);
    Ok(report)
}

/// The failover endpoint's record once the regions have settled: read
/// again while a write its moves found missing is still missing, until its
/// health rounds have had time to look them up against the settled stores
/// ([`crate::failover::settle_wait`]). One that stays missing then was
/// lost (its region's data with it), and is reported so.
async fn settled_failover<F: Faults>(
    faults: &mut F,
    began_unix_ms: u64,
) -> Option<serde_json::Value> {
    let mut deadline = None;
    loop {
        let record = faults.failover_record().await?;
        let deadline =
            *deadline.get_or_insert_with(|| Instant::now() + crate::failover::settle_wait(&record));
        if crate::failover::still_missing(&record, began_unix_ms) == 0 || Instant::now() >= deadline
        {
            return Some(record);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Real time now, µs since the epoch: when a live drill began, as the
/// regions' logs and the failover endpoint's record give their times.
fn unix_micros_now() -> u64 {
    use meridian_core::PhysicalClock;
    meridian_core::SystemClock.now_micros()
}

/// Creates the drill's table (and turns TTL on for it if the workload
/// wants it); returns the tally the workload starts from, and the table's
/// creation time in the regions' epoch time. The table of an external
/// workload is the application's: nothing is made, and the time is now.
async fn set_up<F: Faults>(
    scenario: &Scenario,
    regions: &[RegionTarget],
    faults: &mut F,
) -> Result<(Tally, u64), DriveError> {
    let table = &scenario.workload.table;
    if scenario.workload.external {
        return Ok((Tally::default(), unix_micros_now()));
    }
    let created_micros = table::create(
        regions,
        table,
        &scenario.workload.replicas,
        (
            scenario.workload.stream.as_deref(),
            scenario.workload.indexes,
        ),
        &scenario.table,
    )
    .await
    .map_err(DriveError::Setup)?;
    crate::orders::set_up(scenario, regions)
        .await
        .map_err(DriveError::Setup)?;
    let mut tally = Tally {
        endpoint: scenario.failover.as_ref().map(SimEndpoint::new),
        ..Tally::default()
    };
    if scenario.table.history {
        tally.history = Some(History::new(
            regions.iter().map(|r| r.name.clone()).collect(),
        ));
    }
    if scenario.workload.ttl {
        table::enable_ttl(faults, &regions[0].name, table)
            .await
            .map_err(|e| DriveError::Setup(format!("turning TTL on for {table}: {e}")))?;
        tally.oracle.expire_on(crate::workload::TTL_ATTR);
    }
    Ok((tally, created_micros))
}

/// How the regions settled after the workload: every region's digest at
/// the end, and how long after the workload they came to agree (`None` if
/// they did not within the scenario's `settle`).
struct Settled {
    digests: BTreeMap<String, String>,
    convergence: Option<Duration>,
}

/// A drill under way: the timeline's position, what each kind of event
/// has left to follow, and everything the report is made from.
struct Run<'a> {
    scenario: &'a Scenario,
    mode: Mode,
    regions: &'a [RegionTarget],
    /// The regions that hold the table's items: all of them, but a STRONG
    /// table's witness.
    holders: Vec<RegionTarget>,
    table: String,
    start: Instant,
    clock: DrillClock,
    tally: Arc<Mutex<Tally>>,
    /// Holds the workload (marks and recreates pause it).
    pause: watch::Sender<bool>,
    recovery: Recovery,
    recreate: Recreate,
    joins: Joins,
    disasters: Vec<Disaster>,
    /// Per region, whether the timeline left its clock skewed.
    skewed: Vec<bool>,
    samples: Vec<Sample>,
    /// The report's timeline.
    marks: Vec<EventMark>,
    heals: Vec<HealMark>,
    last_event: Option<String>,
    /// The report's series, a sample at a time, for the progress.
    series: Series,
    /// How many of `marks` the progress has handed over.
    told: usize,
    /// Pending over every link at the newest sample.
    pending: u64,
    /// A live drill's sample as it began, which its figures count from:
    /// regions it did not start counted before it.
    baseline: Option<Sample>,
    /// With an external workload: the application's writes, as the
    /// regions' logs recorded them.
    recorded: Option<Recorded>,
    /// The scenario's alarms, stop conditions and objectives.
    experiment: Experiment,
}

impl<'a> Run<'a> {
    fn new(
        scenario: &'a Scenario,
        mode: Mode,
        regions: &'a [RegionTarget],
        tally: Tally,
        epoch_micros: u64,
    ) -> Self {
        let start = Instant::now();
        Run {
            scenario,
            mode,
            regions,
            holders: regions
                .iter()
                .filter(|r| {
                    !scenario.table.strong() || scenario.table.witness.as_ref() != Some(&r.name)
                })
                .cloned()
                .collect(),
            table: scenario.workload.table.clone(),
            start,
            // Epoch time as the regions read it, from the table's creation
            // version (virtual time under simulation): what an item's
            // expiry is written in.
            clock: DrillClock {
                start,
                epoch_micros,
            },
            tally: Arc::new(Mutex::new(tally)),
            pause: watch::channel(false).0,
            recovery: Recovery::default(),
            recreate: Recreate::default(),
            joins: Joins::default(),
            disasters: Vec::new(),
            skewed: vec![false; regions.len()],
            samples: Vec::new(),
            marks: Vec::new(),
            heals: Vec::new(),
            last_event: None,
            series: Series::new(&regions.iter().map(|r| r.name.clone()).collect::<Vec<_>>()),
            told: 0,
            pending: 0,
            baseline: None,
            recorded: None,
            experiment: Experiment::new(scenario, mode),
        }
    }

    /// Samples the regions as the drill begins; its series and figures
    /// count from there.
    async fn take_baseline(&mut self) {
        let s = sample(self.regions, self.start).await;
        let names: Vec<String> = self.regions.iter().map(|r| r.name.clone()).collect();
        self.series = Series::since(&names, &s);
        self.baseline = Some(s);
    }

    /// The failover endpoint's record as the drill begins, if the cluster
    /// serves one, with the real time it was read at (ms since the epoch):
    /// its moves from here on are the drill's.
    async fn failover_start<F: Faults>(
        &mut self,
        faults: &mut F,
    ) -> Option<(serde_json::Value, u64)> {
        let failover = faults
            .failover_record()
            .await
            .map(|record| (record, unix_micros_now() / 1_000));
        if let Some((record, _)) = &failover {
            self.experiment.failover_from(Some(record));
        }
        failover
    }

    /// The regions that hold the table's items from the start.
    fn replicas(&self) -> Vec<RegionTarget> {
        self.holders
            .iter()
            .filter(|r| self.scenario.workload.replicas.contains(&r.name))
            .cloned()
            .collect()
    }

    /// With an external workload, reads what every region committed since
    /// the last reading: before each sample, so what a sample is compared
    /// with is known.
    async fn read_recorded(&mut self) {
        if let Some(r) = self.recorded.as_mut() {
            r.read_all(&self.tally).await;
        }
    }

    fn ms_now(&self) -> u64 {
        Instant::now().duration_since(self.start).as_millis() as u64
    }

    fn mark(&mut self, at_ms: u64, action: &str, label: String) {
        self.marks.push(EventMark {
            at_ms,
            action: action.into(),
            label,
        });
    }

    /// Starts one workload task per region that holds the table from the
    /// start (a region that joins it later runs none); returns what stops
    /// them, and the tasks.
    fn start_workload(&self, seed: u64) -> (watch::Sender<bool>, Vec<JoinHandle<()>>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let pause_rx = self.pause.subscribe();
        let mut workers = Vec::new();
        for (i, r) in self.regions.iter().enumerate() {
            // An external workload is the application's to run.
            if self.scenario.workload.external || !self.scenario.workload.replicas.contains(&r.name)
            {
                continue;
            }
            workers.push(tokio::spawn(region_workload(
                self.scenario.clone(),
                seed,
                (i, self.regions.to_vec()),
                self.tally.clone(),
                (stop_rx.clone(), pause_rx.clone()),
                self.clock,
            )));
        }
        (stop_tx, workers)
    }

    /// The workload's duration: every event fired on time, a recreate
    /// stepped beside them, and the regions sampled every interval.
    async fn workload<F: Faults>(&mut self, faults: &mut F, progress: &mut dyn FnMut(&Progress)) {
        let scenario = self.scenario;
        let mut next_event = 0;
        let mut next_sample = self.start + scenario.sample_interval;
        let end = self.start + scenario.duration;
        loop {
            let now = Instant::now();
            while next_event < scenario.events.len()
                && self.start + scenario.events[next_event].at <= now
            {
                let at_ms = scenario.events[next_event].at.as_millis() as u64;
                let rounds = self.experiment.failover_rounds(at_ms, &self.tally);
                self.marks.extend(rounds);
                self.event(&scenario.events[next_event].action, faults)
                    .await;
                next_event += 1;
                self.report_progress(progress, "workload", None);
            }
            // A recreate goes on beside the events, a step at a time.
            if let Some(step) = self.step_recreate(faults).await {
                let at_ms = self.ms_now();
                let label = step.unwrap_or_else(|e| format!("recreate failed: {e}"));
                tracing::info!(at_ms, event = %label, "fault event");
                self.mark(at_ms, "recreate", label);
                self.report_progress(progress, "workload", None);
            }
            if now >= end {
                break;
            }
            let moves = self.experiment.failover_rounds(self.ms_now(), &self.tally);
            self.marks.extend(moves);
            if now >= next_sample {
                if self.sample_workload(faults, progress, next_event).await {
                    break;
                }
                next_sample += scenario.sample_interval;
            }
            let mut wake = next_sample.min(end);
            if let Some(e) = scenario.events.get(next_event) {
                wake = wake.min(self.start + e.at);
            }
            if self.recreate.running() {
                wake = wake.min(Instant::now() + RECREATE_POLL);
            }
            if let Some(e) = lock(&self.tally).endpoint.as_ref() {
                wake = wake.min(self.start + Duration::from_millis(e.wake_ms()));
            }
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Samples the regions while the workload runs, and weighs the sample
    /// against the scenario's stop conditions; true when one stopped the
    /// drill, the timeline's events from `next_event` on skipped.
    async fn sample_workload<F: Faults>(
        &mut self,
        faults: &mut F,
        progress: &mut dyn FnMut(&Progress),
        next_event: usize,
    ) -> bool {
        self.read_recorded().await;
        let (s, stop, marks) = (self.experiment)
            .sample_counting(self.regions, self.start, &self.tally, self.scenario)
            .await;
        self.marks.extend(marks);
        let stop = match s {
            Some(s) => {
                self.follow(&s);
                let rows = self.report_progress(progress, "workload", Some(&s));
                let t_ms = s.t_ms;
                self.samples.push(s);
                let (marks, stop) = (self.experiment)
                    .sample(t_ms, rows, &self.tally, faults, &self.holders)
                    .await;
                self.marks.extend(marks);
                stop
            }
            None => stop,
        };
        let Some(stop) = stop else { return false };
        let (at_ms, skipped) = (self.ms_now(), self.scenario.events.len() - next_event);
        for label in (self.experiment)
            .stop(stop, at_ms, skipped, self.regions)
            .await
        {
            self.mark(at_ms, "stop", label);
        }
        self.report_progress(progress, "workload", None);
        true
    }

    /// Fires one event of the timeline through the module that owns it, and
    /// puts it on the report's timeline; a disaster it brings is followed
    /// from here on.
    async fn event<F: Faults>(&mut self, action: &Action, faults: &mut F) {
        let power_loss = power_loss(self.scenario, self.mode, action);
        // A STRONG table's witness holds no items: its store's loss puts
        // no write at risk and leaves it nothing to serve again.
        let loses = action
            .data_loss()
            .or(power_loss)
            .filter(|region| self.holders.iter().any(|h| h.name == *region));
        // The application's writes the region holds are read before it
        // loses them: the loss may take some for good.
        if let (Some(region), Some(r)) = (loses, self.recorded.as_mut()) {
            r.read(region, &self.tally).await;
        }
        let label = match action {
            Action::Recovery { .. } | Action::Mark { .. } | Action::RestoreToTime { .. } => {
                let at_ms = self.ms_now();
                let step = self.recovery.apply(
                    action,
                    at_ms,
                    self.scenario,
                    self.regions,
                    &self.tally,
                    &self.pause,
                );
                labelled(action, step.await)
            }
            Action::AddReplica { region, from } => {
                let at_ms = self.ms_now();
                let asked = self
                    .joins
                    .add(self.regions, &self.table, region, from, at_ms)
                    .await;
                labelled(action, asked)
            }
            Action::Recreate { region } => labelled(
                action,
                self.recreate.start(region, self.regions, &self.pause),
            ),
            Action::MoveTraffic { from, to } => {
                labelled(action, lock(&self.tally).move_traffic(from, to))
            }
            _ => {
                if let Action::Restart { region } = action
                    && self.recreate.restarted(&self.pause)
                {
                    // Requests still on their way to the region (sent
                    // while it was down) reach it as it comes back,
                    // maybe holding the table's old incarnation: what
                    // it acknowledges then may be written there, and
                    // go with that incarnation. Their outcome for the
                    // new table is unknown.
                    *lock(&self.tally).fences.entry(region.clone()).or_default() += 1;
                }
                apply(action, self.regions, faults, &mut self.skewed).await
            }
        };
        let label = match power_loss {
            Some(_) => {
                format!("{label} (power loss: the commits since its last sync point are lost)")
            }
            None => label,
        };
        // What the peers hold is read once the loss has struck: a write the
        // region acknowledged while the event was on its way, and that no
        // peer had yet (one held in a lane of partition order, say), is at
        // risk too. What reaches a peer later survives, and counts so.
        let at_risk =
            loses.map(|region| Disaster::before(region, self.regions, &self.table, &self.tally));
        let at_ms = self.ms_now();
        if let Some(Some(mut d)) = at_risk {
            d.struck(at_ms, label.clone());
            self.disasters.push(d);
        }
        tracing::info!(at_ms, event = %label, "fault event");
        if let Some(h) = lock(&self.tally).history.as_mut() {
            h.event(action, self.clock.micros_since_start());
        }
        self.last_event = Some(label.clone());
        if let Some(links) = crate::collect::restored_links(action, self.regions) {
            self.heals.push(HealMark {
                at_ms,
                label: label.clone(),
                links,
            });
        }
        self.mark(at_ms, action.name(), label);
        self.experiment.applied(action, at_ms);
    }

    async fn step_recreate<F: Faults>(&mut self, faults: &mut F) -> Option<Result<String, String>> {
        self.recreate
            .step(
                self.scenario,
                self.regions,
                &self.tally,
                &self.pause,
                faults,
                &mut self.disasters,
            )
            .await
    }

    /// What a sample shows of the disasters and joins being followed.
    fn follow(&mut self, s: &Sample) {
        Disaster::follow(
            &mut self.disasters,
            self.regions,
            &self.table,
            s,
            &self.tally,
        );
        self.joins.follow(&self.table, s, &mut self.marks);
    }

    /// Hands the progress what changed since it was last called: the
    /// timeline entries made since, and the rows a new sample `s` adds.
    fn report_progress(
        &mut self,
        progress: &mut dyn FnMut(&Progress),
        phase: &'static str,
        s: Option<&Sample>,
    ) -> Option<SampleRows> {
        let (acked, failed) = {
            let t = lock(&self.tally);
            (t.acked, t.failed)
        };
        let rows = s.map(|s| {
            self.pending = s
                .statuses
                .iter()
                .flatten()
                .flat_map(|st| st.peers.iter().map(|p| p.pending))
                .sum();
            self.series.push(s)
        });
        let events = self.marks[self.told..].to_vec();
        self.told = self.marks.len();
        let judged = self
            .experiment
            .judge_live(self.ms_now(), failed, self.scenario);
        progress(&Progress {
            elapsed: Instant::now().duration_since(self.start),
            duration: self.scenario.duration,
            phase,
            acked,
            failed,
            pending: self.pending,
            last_event: self.last_event.clone(),
            events,
            judged,
            rows: rows.clone(),
        });
        rows
    }

    /// Stops the workload and lets in-flight requests finish (each is
    /// bounded by the request timeout), finishes a recreate that waited for
    /// that, and heals every fault and skew so the regions can converge.
    /// Returns when the workload ended.
    async fn wind_down<F: Faults>(
        &mut self,
        stop: watch::Sender<bool>,
        workers: Vec<JoinHandle<()>>,
        faults: &mut F,
    ) -> Instant {
        let _ = stop.send(true);
        for w in workers {
            let _ = w.await;
        }
        let workload_end = Instant::now();
        let end_ms = workload_end.duration_since(self.start).as_millis() as u64;
        // A recreate still waiting for the workload to go quiet runs now that
        // nothing is in flight; one spreading its table needs no more watching.
        if self.recreate.quiescing()
            && let Some(step) = self.step_recreate(faults).await
        {
            let label = step.unwrap_or_else(|e| format!("recreate failed: {e}"));
            self.mark(end_ms, "recreate", label);
        }

        if let Some(h) = lock(&self.tally).history.as_mut() {
            h.heal_all();
        }
        match faults.heal_all().await {
            Ok(done) => {
                if !done.is_empty() {
                    self.heals.push(HealMark {
                        at_ms: end_ms,
                        label: "heal all (end of workload)".into(),
                        links: crate::collect::all_links(self.regions.len()),
                    });
                }
                for label in done {
                    let action = if label.starts_with("restart") {
                        "restart"
                    } else {
                        "heal"
                    };
                    self.mark(end_ms, action, format!("{label} (end of workload)"));
                }
            }
            Err(e) => self.mark(end_ms, "heal", format!("heal all failed: {e}")),
        }
        for (i, r) in self.regions.iter().enumerate() {
            if self.skewed[i] {
                let label = match set_clock(r, 0, 0).await {
                    Ok(()) => format!("skew {} removed (end of workload)", r.name),
                    Err(e) => format!("removing skew of {} failed: {e}", r.name),
                };
                self.mark(end_ms, "skew", label);
            }
        }
        workload_end
    }

    /// Samples until every link is drained and every digest agrees, or the
    /// scenario's `settle` has passed since `workload_end`.
    async fn settle<F: Faults>(
        &mut self,
        workload_end: Instant,
        faults: &mut F,
        progress: &mut dyn FnMut(&Progress),
    ) -> Settled {
        let settle_end = workload_end + self.scenario.settle;
        loop {
            self.read_recorded().await;
            let s = sample(self.regions, self.start).await;
            self.follow(&s);
            let rows = self.report_progress(progress, "settling", Some(&s));
            let (marks, _) = (self.experiment)
                .sample(s.t_ms, rows, &self.tally, faults, &self.holders)
                .await;
            self.marks.extend(marks);
            let drained = self.joins.settled() && probe::drained(&s);
            if drained {
                let digests = digest_all(&self.holders, &self.table).await;
                if agree(&digests, self.holders.len()) {
                    // The regions agree: a region whose last writes came
                    // after this sample's read of it serves them now (one
                    // restarted after the workload can drain between the
                    // follow and the digests), so it is followed again.
                    self.follow(&s);
                    self.samples.push(s);
                    return Settled {
                        digests,
                        convergence: Some(Instant::now().duration_since(workload_end)),
                    };
                }
            }
            self.samples.push(s);
            if Instant::now() >= settle_end {
                return Settled {
                    digests: digest_all(&self.holders, &self.table).await,
                    convergence: None,
                };
            }
            tokio::time::sleep(self.scenario.sample_interval).await;
        }
    }
}

/// Applies one event and returns its label, with the error if it failed
/// (a failed fault is reported, not fatal: the drill goes on).
async fn apply<F: Faults>(
    action: &Action,
    regions: &[RegionTarget],
    faults: &mut F,
    skewed: &mut [bool],
) -> String {
    let result = match action {
        Action::Skew {
            region,
            offset_micros,
            drift_ppm,
        } => {
            async {
                let i = index_of(regions, region)?;
                skewed[i] = *offset_micros != 0 || *drift_ppm != 0;
                set_clock(&regions[i], *offset_micros, *drift_ppm).await
            }
            .await
        }
        // `drive` drew every tail left to the seed before the first event.
        Action::PauseReplication {
            table,
            region,
            duration,
            tail,
            ..
        } => {
            let admins: Vec<_> = regions
                .iter()
                .map(|r| (r.name.clone(), r.admin.clone()))
                .collect();
            let token = regions.first().and_then(|r| r.admin_token.as_deref());
            let request = meridian_cluster::faults::pause_request(table, region, *duration, *tail);
            meridian_cluster::faults::pause_everywhere(&admins, token, request)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        other => faults.apply(other).await.map_err(|e| e.to_string()),
    };
    labelled(action, result)
}

/// An event's label, with the error if it failed.
fn labelled(action: &Action, result: Result<(), String>) -> String {
    let label = action.label();
    match result {
        Ok(()) => label,
        Err(e) => {
            tracing::warn!(event = %label, error = %e, "fault event failed");
            format!("{label} (failed: {e})")
        }
    }
}
