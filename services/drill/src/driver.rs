//! The drill itself, shared by live and simulated runs: create the table,
//! run the workload in every region, apply the fault timeline, sample every
//! region's status, heal, wait for convergence, and check the result.
//!
//! It reaches regions only through their gRPC API (and their store files,
//! read-only: at the end, and around a disaster), so the live run and the simulated one execute
//! exactly this code; only [`Faults`] differs. All times come from
//! `tokio::time`, which is real time live and virtual time under turmoil.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::{Conflict, EncodedKey, Item, KeyAttr, KeySchema, KeyType, Version};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::convert::{conflict_from_pb, version_from_pb, version_to_pb};
use meridian_scenario::report::{DisasterReport, LostWrite, Report};
use meridian_scenario::scenario::{Action, Durability, Scenario};
use meridian_scenario::{AckedWrite, Heads, Oracle, Verdict};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::collect::{self, HealMark, Sample};
use crate::restore::{self, Mark, Restored};
use crate::workload::{self, Generator, OpKind};

/// How to reach one region.
#[derive(Clone)]
pub struct RegionTarget {
    pub name: String,
    pub channel: Channel,
    /// Its store, read after the drill to compare every replica's heads.
    pub data_dir: PathBuf,
}

/// Network and process faults; the two modes implement these differently.
/// Clock skew is not here: the driver sets it through the Admin API in both.
pub trait Faults {
    fn apply(&mut self, action: &Action) -> impl Future<Output = Result<(), String>>;
    /// Ends every partition, isolation and flap and restarts every crashed
    /// region; latency, bandwidth and loss stay. Returns what it did, one
    /// line per change, for the report's markers.
    fn heal_all(&mut self) -> impl Future<Output = Result<Vec<String>, String>>;
    /// Writes `ops` through `region`'s own operations, for what its gRPC
    /// API has no call for: turning TTL on (`WriteOp::SetTtl`, which the
    /// DynamoDB endpoint's UpdateTimeToLive runs). Only a simulated drill
    /// reaches a region's operations; a live one says so.
    fn region_write(
        &mut self,
        region: &str,
        ops: Vec<meridian_store::WriteOp>,
    ) -> impl Future<Output = Result<(), String>>;
}

/// What the progress display shows.
#[derive(Clone, Debug)]
pub struct Progress {
    pub elapsed: Duration,
    pub duration: Duration,
    /// `"workload"`, `"settling"` or `"checking"`.
    pub phase: &'static str,
    pub acked: u64,
    pub failed: u64,
    pub pending: u64,
    pub last_event: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("setting up the drill table: {0}")]
    Setup(String),
    #[error("reading {region}'s store after the drill: {message}")]
    Final { region: String, message: String },
}

/// Longest a single workload request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a status sample may take; a region that does not answer is down.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Most conflict records one region's Admin API lists at once.
const MAX_CONFLICTS: u32 = 100_000;
/// Workload ticks: operations are started in bursts this far apart.
const TICK: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Tally {
    oracle: Oracle,
    attempted: u64,
    acked: u64,
    failed: u64,
    /// Updates whose condition failed because a concurrent write got there
    /// first: correct behaviour, not a failure.
    rejected: u64,
    by_op: BTreeMap<String, u64>,
    by_region: BTreeMap<String, u64>,
    /// Requests sent and not yet answered (a mark waits for none).
    in_flight: u64,
    /// Per region, how many times it was restarted while a recreated
    /// table's newest incarnation was current ([`Recreate::restarted`]).
    fences: BTreeMap<String, u64>,
}

fn schema() -> KeySchema {
    KeySchema {
        partition: KeyAttr {
            name: workload::KEY_ATTR.into(),
            ty: KeyType::S,
        },
        sort: None,
    }
}

fn version_of(v: &Option<pb::Version>) -> Option<Version> {
    v.as_ref().and_then(|v| version_from_pb(v, "version").ok())
}

/// Runs a scenario against regions that are already up.
pub async fn drive<F: Faults>(
    scenario: &Scenario,
    seed: u64,
    mode: &str,
    regions: &[RegionTarget],
    faults: &mut F,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, DriveError> {
    let table = scenario.workload.table.clone();
    let created_micros = create_table(
        regions,
        &table,
        &scenario.workload.replicas,
        scenario.workload.stream.as_deref(),
        scenario.workload.indexes,
    )
    .await?;
    let mut tally = Tally::default();
    if scenario.workload.ttl {
        enable_ttl(regions, &table, faults)
            .await
            .map_err(DriveError::Setup)?;
        tally.oracle.expire_on(workload::TTL_ATTR);
    }

    let tally = Arc::new(Mutex::new(tally));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (pause_tx, pause_rx) = watch::channel(false);
    let start = Instant::now();
    // Epoch time as the regions read it, from the table's creation version
    // (virtual time under simulation): what an item's expiry is written in.
    let clock = DrillClock {
        start,
        epoch_micros: created_micros,
    };
    let mut workers = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        // A region that joins the table later runs no workload.
        if !scenario.workload.replicas.contains(&r.name) {
            continue;
        }
        workers.push(tokio::spawn(region_workload(
            scenario.clone(),
            seed,
            i,
            r.clone(),
            tally.clone(),
            (stop_rx.clone(), pause_rx.clone()),
            clock,
        )));
    }
    let mut recovery = Recovery::default();
    let mut recreate = Recreate::default();
    let mut joins = crate::join::Joins::default();

    let mut samples: Vec<Sample> = Vec::new();
    let mut marks = Vec::new();
    let mut skewed = vec![false; regions.len()];
    let mut next_event = 0;
    let mut next_sample = start + scenario.sample_interval;
    let end = start + scenario.duration;
    let mut last_event = None;
    let mut heals: Vec<HealMark> = Vec::new();
    let mut disasters: Vec<Disaster> = Vec::new();
    loop {
        let now = Instant::now();
        while next_event < scenario.events.len() && start + scenario.events[next_event].at <= now {
            let action = &scenario.events[next_event].action;
            let at_risk = action
                .data_loss()
                .or_else(|| power_loss(scenario, mode, action))
                .map(|region| Disaster::before(region, regions, &table, &tally));
            let label = match action {
                Action::Recovery { .. } | Action::Mark { .. } | Action::RestoreToTime { .. } => {
                    let at_ms = Instant::now().duration_since(start).as_millis() as u64;
                    let step = recovery.apply(action, at_ms, scenario, regions, &tally, &pause_tx);
                    labelled(action, step.await)
                }
                Action::AddReplica { region, from } => {
                    let at_ms = Instant::now().duration_since(start).as_millis() as u64;
                    let asked = joins.add(regions, &table, region, from, at_ms).await;
                    labelled(action, asked)
                }
                Action::Recreate { region } => {
                    labelled(action, recreate.start(region, regions, &pause_tx))
                }
                _ => {
                    if let Action::Restart { region } = action
                        && recreate.restarted(&pause_tx)
                    {
                        // Requests still on their way to the region (sent
                        // while it was down) reach it as it comes back,
                        // maybe holding the table's old incarnation: what
                        // it acknowledges then may be written there, and
                        // go with that incarnation. Their outcome for the
                        // new table is unknown.
                        *tally
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .fences
                            .entry(region.clone())
                            .or_default() += 1;
                    }
                    apply(action, regions, faults, &mut skewed).await
                }
            };
            let label = match power_loss(scenario, mode, action) {
                Some(_) => {
                    format!("{label} (power loss: the commits since its last sync point are lost)")
                }
                None => label,
            };
            let at_ms = Instant::now().duration_since(start).as_millis() as u64;
            if let Some(Some(mut d)) = at_risk {
                d.report.at_ms = at_ms;
                d.report.label = label.clone();
                d.at = Instant::now();
                disasters.push(d);
            }
            tracing::info!(at_ms, event = %label, "fault event");
            last_event = Some(label.clone());
            if let Some(links) = restored_links(action, regions) {
                heals.push(HealMark {
                    at_ms,
                    label: label.clone(),
                    links,
                });
            }
            marks.push(meridian_scenario::report::EventMark {
                at_ms,
                action: action.name().into(),
                label,
            });
            next_event += 1;
        }
        // A recreate goes on beside the events, a step at a time.
        if let Some(step) = recreate
            .step(scenario, regions, &tally, &pause_tx, faults, &mut disasters)
            .await
        {
            let at_ms = Instant::now().duration_since(start).as_millis() as u64;
            let label = step.unwrap_or_else(|e| format!("recreate failed: {e}"));
            tracing::info!(at_ms, event = %label, "fault event");
            marks.push(meridian_scenario::report::EventMark {
                at_ms,
                action: "recreate".into(),
                label,
            });
        }
        if now >= end {
            break;
        }
        if now >= next_sample {
            let s = sample(regions, start).await;
            Disaster::follow(&mut disasters, regions, &table, &s, &tally);
            joins.follow(&table, &s, &mut marks);
            report_progress(
                progress,
                scenario,
                start,
                "workload",
                &tally,
                &s,
                &last_event,
            );
            samples.push(s);
            next_sample += scenario.sample_interval;
        }
        let mut wake = next_sample.min(end);
        if let Some(e) = scenario.events.get(next_event) {
            wake = wake.min(start + e.at);
        }
        if recreate.pending.is_some() {
            wake = wake.min(Instant::now() + RECREATE_POLL);
        }
        tokio::time::sleep_until(wake).await;
    }

    // Stop the workload and let in-flight requests finish (each is bounded
    // by REQUEST_TIMEOUT).
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let workload_end = Instant::now();
    let end_ms = workload_end.duration_since(start).as_millis() as u64;
    // A recreate still waiting for the workload to go quiet runs now that
    // nothing is in flight; one spreading its table needs no more watching.
    if let Some(Pending::Quiescing(_)) = recreate.pending
        && let Some(step) = recreate
            .step(scenario, regions, &tally, &pause_tx, faults, &mut disasters)
            .await
    {
        marks.push(meridian_scenario::report::EventMark {
            at_ms: end_ms,
            action: "recreate".into(),
            label: step.unwrap_or_else(|e| format!("recreate failed: {e}")),
        });
    }

    // Heal everything so the regions can converge.
    match faults.heal_all().await {
        Ok(done) => {
            if !done.is_empty() {
                heals.push(HealMark {
                    at_ms: end_ms,
                    label: "heal all (end of workload)".into(),
                    links: all_links(regions.len()),
                });
            }
            for label in done {
                marks.push(meridian_scenario::report::EventMark {
                    at_ms: end_ms,
                    action: if label.starts_with("restart") {
                        "restart".into()
                    } else {
                        "heal".into()
                    },
                    label: format!("{label} (end of workload)"),
                });
            }
        }
        Err(e) => marks.push(meridian_scenario::report::EventMark {
            at_ms: end_ms,
            action: "heal".into(),
            label: format!("heal all failed: {e}"),
        }),
    }
    for (i, r) in regions.iter().enumerate() {
        if skewed[i] {
            let label = match set_clock(r, 0, 0).await {
                Ok(()) => format!("skew {} removed (end of workload)", r.name),
                Err(e) => format!("removing skew of {} failed: {e}", r.name),
            };
            marks.push(meridian_scenario::report::EventMark {
                at_ms: end_ms,
                action: "skew".into(),
                label,
            });
        }
    }

    // Settle: sample until every link is drained and every digest agrees.
    let settle_end = workload_end + scenario.settle;
    let mut convergence = None;
    let digests = loop {
        let s = sample(regions, start).await;
        report_progress(
            progress,
            scenario,
            start,
            "settling",
            &tally,
            &s,
            &last_event,
        );
        Disaster::follow(&mut disasters, regions, &table, &s, &tally);
        joins.follow(&table, &s, &mut marks);
        let drained = joins.settled()
            && s.statuses.iter().all(|st| {
                st.as_ref()
                    .is_some_and(|st| meridian_cluster::wait::drained(st).is_ok())
            });
        samples.push(s);
        if drained {
            let digests = digest_all(regions, &table).await;
            let distinct: std::collections::BTreeSet<_> = digests.values().collect();
            if digests.len() == regions.len() && distinct.len() == 1 {
                convergence = Some(Instant::now().duration_since(workload_end));
                break digests;
            }
        }
        if Instant::now() >= settle_end {
            break digest_all(regions, &table).await;
        }
        tokio::time::sleep(scenario.sample_interval).await;
    };

    // Check.
    let (heads, conflicts) = final_state(regions, &table).await?;
    let mut tally = {
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *t)
    };
    // Strict only when every request got an answer: otherwise a write may
    // have committed without its acknowledgement reaching the workload.
    let strict = tally.failed == 0;
    // Every region's reaper passes over the table every 250 ms (simulated),
    // so an item whose time came two seconds before this read is gone
    // everywhere, unless it came back.
    tally
        .oracle
        .reaped_by((clock.epoch_micros_now() / 1_000_000).saturating_sub(2));
    let mut replicas = Verdict::default();
    // What the disasters took for good leaves the oracle: the replicas are
    // judged by what survived, and the loss is reported as the RPO.
    let disasters = Disaster::settle(disasters, &mut tally.oracle, &heads, &mut replicas);
    let all_conflicts: Vec<Conflict> = conflicts.values().flatten().cloned().collect();
    tally.oracle.note_expiries(&all_conflicts);
    for (name, h) in &heads {
        tally.oracle.check_replica(name, h, strict, &mut replicas);
    }
    replicas.problems.append(&mut recovery.verdict.problems);
    let streams = match scenario.workload.stream {
        Some(_) => check_streams(regions, &table, &heads, &mut replicas.problems),
        None => Vec::new(),
    };
    let index_checks = if scenario.workload.indexes {
        check_indexes(regions, &table, &heads, &mut replicas.problems)
    } else {
        Vec::new()
    };
    let joins = joins.finish(&mut replicas.problems);
    let restores = recovery
        .check(regions, scenario.settle, &mut replicas)
        .await;
    let mut converged = Verdict::default();
    meridian_scenario::check_converged(&heads, &mut converged);
    let mut conflict_check = Verdict::default();
    tally
        .oracle
        .check_conflicts(&all_conflicts, strict, &mut conflict_check);

    let mut report = Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        mode: mode.into(),
        seed,
        regions: regions.iter().map(|r| r.name.clone()).collect(),
        duration_ms: scenario.duration.as_millis() as u64,
        sample_interval_ms: scenario.sample_interval.as_millis() as u64,
        events: marks,
        ..Report::default()
    };
    collect::fill(&mut report, &samples, &heals);
    report.convergence.after_workload_ms = convergence.map(|d| d.as_millis() as u64);
    report.convergence.digests = digests;
    report.workload = meridian_scenario::report::WorkloadReport {
        attempted: tally.attempted,
        acked: tally.acked,
        failed: tally.failed,
        by_op: tally.by_op.clone(),
        by_region: tally.by_region.clone(),
    };
    if tally.rejected > 0 {
        report
            .workload
            .by_op
            .insert("update-rejected".into(), tally.rejected);
    }
    report.disasters = disasters;
    report.restores = restores;
    report.joins = joins;
    report.streams = streams;
    report.indexes = index_checks;
    collect::conflicts(&mut report, &all_conflicts, &tally.oracle);
    report.verdict = collect::verdict(
        &replicas,
        &conflict_check,
        &converged,
        convergence.is_some(),
    );
    Ok(report)
}

/// A disaster being followed: a region's data directory wiped or rolled
/// back. Read just before it happens: which of the region's acknowledged
/// writes no peer held (all it may lose), and what it must serve again.
struct Disaster {
    report: DisasterReport,
    region: usize,
    at: Instant,
    at_risk: BTreeSet<Version>,
    needed: BTreeMap<(String, EncodedKey), Version>,
}

impl Disaster {
    /// Reads the peers' stores as `region` is about to lose its data; `None`
    /// for a region the drill does not have.
    fn before(
        region: &str,
        regions: &[RegionTarget],
        table: &str,
        tally: &Mutex<Tally>,
    ) -> Option<Disaster> {
        let i = regions.iter().position(|r| r.name == region)?;
        // A peer whose store cannot be read holds nothing we can count on.
        let others: Vec<Heads> = regions
            .iter()
            .filter(|r| r.name != region)
            .map(|r| meridian_cluster::state::heads(&r.data_dir, table).unwrap_or_default())
            .collect();
        let t = tally.lock().unwrap_or_else(|p| p.into_inner());
        let at_risk = t.oracle.at_risk(region, &others);
        let needed = t.oracle.surviving(&at_risk);
        Some(Disaster {
            report: DisasterReport {
                region: region.to_string(),
                at_risk: at_risk.len() as u64,
                ..DisasterReport::default()
            },
            region: i,
            at: Instant::now(),
            at_risk,
            needed,
        })
    }

    /// Marks the RTO of every disaster whose region is up (it answered
    /// `sample`) and now holds every write that survived.
    fn follow(
        disasters: &mut [Disaster],
        regions: &[RegionTarget],
        table: &str,
        sample: &Sample,
        tally: &Mutex<Tally>,
    ) {
        for d in disasters.iter_mut().filter(|d| d.report.rto_ms.is_none()) {
            let Some(Some(status)) = sample.statuses.get(d.region) else {
                continue;
            };
            if let Some(s) = &status.seeded {
                d.report.seeded = Some(meridian_scenario::report::SeedReport {
                    peer: s.peer.clone(),
                    items: s.items,
                    bytes: s.bytes,
                    ms: s.micros / 1000,
                });
            }
            let Ok(heads) = meridian_cluster::state::heads(&regions[d.region].data_dir, table)
            else {
                continue;
            };
            let holds = {
                let t = tally.lock().unwrap_or_else(|p| p.into_inner());
                t.oracle.holds(&heads, &d.needed)
            };
            if holds {
                d.report.rto_ms = Some(Instant::now().duration_since(d.at).as_millis() as u64);
            }
        }
    }

    /// The reports, once the drill is over: the writes lost for good leave
    /// `oracle` and are listed under the disaster that put them at risk; a
    /// region that never served every surviving write fails `verdict`.
    fn settle(
        disasters: Vec<Disaster>,
        oracle: &mut Oracle,
        finals: &[(String, Heads)],
        verdict: &mut Verdict,
    ) -> Vec<DisasterReport> {
        let finals: Vec<&Heads> = finals.iter().map(|(_, h)| h).collect();
        disasters
            .into_iter()
            .map(|d| {
                let mut r = d.report;
                r.lost = oracle
                    .remove_lost(&d.at_risk, &finals)
                    .into_iter()
                    .map(|w| LostWrite {
                        key: meridian_scenario::show_key(&w.table, &w.key),
                        version: w.version.to_string(),
                    })
                    .collect();
                if r.rto_ms.is_none() {
                    // What its final store still lacks, to diagnose.
                    let lacking: Vec<String> = finals
                        .get(d.region)
                        .map(|h| oracle.lacking(h, &d.needed, 3))
                        .unwrap_or_default();
                    verdict.problems.push(format!(
                        "{} never served every write that survived \"{}\" during the drill (at the end it lacks: {})",
                        r.region,
                        r.label,
                        if lacking.is_empty() { "nothing".into() } else { lacking.join(", ") }
                    ));
                }
                r
            })
            .collect()
    }
}

/// The region a `crash` takes the last commits of: under
/// `durability = "normal"` a simulated crash is a power loss, which loses
/// what was committed since the last sync point, like a restore from a
/// copy that recent. Followed as a disaster, so what it took that no peer
/// held is reported as lost, and everything else must come back. A live
/// crash is a kill, which loses nothing: no disaster there.
fn power_loss<'a>(scenario: &Scenario, mode: &str, action: &'a Action) -> Option<&'a str> {
    match action {
        Action::Crash { region } if mode == "sim" && scenario.durability == Durability::Normal => {
            Some(region)
        }
        _ => None,
    }
}

fn all_links(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .collect()
}

/// The links a heal or restart brings back, whose backlog should drain.
fn restored_links(action: &Action, regions: &[RegionTarget]) -> Option<Vec<(usize, usize)>> {
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

fn report_progress(
    progress: &mut dyn FnMut(&Progress),
    scenario: &Scenario,
    start: Instant,
    phase: &'static str,
    tally: &Mutex<Tally>,
    s: &Sample,
    last_event: &Option<String>,
) {
    let (acked, failed) = {
        let t = tally.lock().unwrap_or_else(|p| p.into_inner());
        (t.acked, t.failed)
    };
    progress(&Progress {
        elapsed: Instant::now().duration_since(start),
        duration: scenario.duration,
        phase,
        acked,
        failed,
        pending: s
            .statuses
            .iter()
            .flatten()
            .flat_map(|st| st.peers.iter().map(|p| p.pending))
            .sum(),
        last_event: last_event.clone(),
    });
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
        } => match regions.iter().position(|r| &r.name == region) {
            Some(i) => {
                skewed[i] = *offset_micros != 0 || *drift_ppm != 0;
                set_clock(&regions[i], *offset_micros, *drift_ppm).await
            }
            None => Err(format!("no region {region}")),
        },
        other => faults.apply(other).await,
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

async fn set_clock(r: &RegionTarget, offset_micros: i64, drift_ppm: i64) -> Result<(), String> {
    let mut admin = AdminClient::new(r.channel.clone());
    tokio::time::timeout(
        SAMPLE_TIMEOUT * 2,
        admin.set_clock(pb::SetClockRequest {
            offset_micros,
            drift_ppm,
        }),
    )
    .await
    .map_err(|_| format!("{} did not answer", r.name))?
    .map(|_| ())
    .map_err(|e| e.message().to_string())
}

/// The drill's clock in the regions' epoch time: the instant the workload
/// started, and the epoch time then.
#[derive(Clone, Copy)]
struct DrillClock {
    start: Instant,
    epoch_micros: u64,
}

impl DrillClock {
    fn epoch_micros_now(&self) -> u64 {
        self.epoch_micros + Instant::now().duration_since(self.start).as_micros() as u64
    }
}

/// How far into the workload a put may still carry an expiry: its time
/// then passes, one to two seconds later, at least a second before the
/// workload ends.
fn expiring_until(duration: Duration) -> Duration {
    duration.saturating_sub(Duration::from_secs(3))
}

/// Turns TTL on for the drill's table on [`workload::TTL_ATTR`], through
/// the first region's own operations (the gRPC API has no call for it);
/// the catalog row replicates it to every region.
async fn enable_ttl<F: Faults>(
    regions: &[RegionTarget],
    table: &str,
    faults: &mut F,
) -> Result<(), String> {
    faults
        .region_write(
            &regions[0].name,
            vec![meridian_store::WriteOp::SetTtl {
                table: table.into(),
                attribute: Some(workload::TTL_ATTR.into()),
            }],
        )
        .await
        .map_err(|e| format!("turning TTL on for {table}: {e}"))
}

/// Creates the drill's table and waits until every region has it; returns
/// its creation version's physical time (µs since the epoch).
async fn create_table(
    regions: &[RegionTarget],
    table: &str,
    replicas: &[String],
    stream: Option<&str>,
    indexes: bool,
) -> Result<u64, DriveError> {
    let first = &regions[0];
    let mut client = MeridianClient::new(first.channel.clone());
    let request = create_request(table, replicas, stream, indexes);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Regions may still be connecting; retry until the create is accepted.
    loop {
        match client.create_table(request.clone()).await {
            Ok(_) => break,
            Err(e) if e.code() == tonic::Code::AlreadyExists => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(DriveError::Setup(format!(
                    "{} refused CreateTable {table}: {}",
                    first.name,
                    e.message()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let mut created = 0;
    for r in regions {
        let mut c = MeridianClient::new(r.channel.clone());
        loop {
            match c
                .describe_table(pb::TableRequest { name: table.into() })
                .await
            {
                Ok(d) => {
                    if created == 0 {
                        created = version_of(&d.into_inner().version).map_or(0, |v| v.hlc.physical);
                    }
                    break;
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(DriveError::Setup(format!(
                        "table {table} did not reach {} within 30 s: {}",
                        r.name,
                        e.message()
                    )));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    Ok(created)
}

/// The drill's table as the driver creates it.
fn create_request(
    table: &str,
    replicas: &[String],
    stream: Option<&str>,
    indexes: bool,
) -> pb::CreateTableRequest {
    pb::CreateTableRequest {
        name: table.into(),
        partition_key: Some(pb::KeyAttr {
            name: workload::KEY_ATTR.into(),
            r#type: "S".into(),
        }),
        sort_key: None,
        replicas: replicas.to_vec(),
        stream_view_type: stream.unwrap_or_default().to_string(),
        indexes: if indexes {
            workload::indexes()
                .iter()
                .map(|i| meridian_region::convert::index_to_pb(i, false))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// One region's open-loop workload: `rate_per_region` operations per second
/// started on schedule, at most `concurrency` in flight. When the region is
/// slow or down, ticks that find no free slot are skipped and counted as
/// failed, so a stalled region cannot pile up unbounded work.
async fn region_workload(
    scenario: Scenario,
    seed: u64,
    index: usize,
    target: RegionTarget,
    tally: Arc<Mutex<Tally>>,
    (mut stop, paused): (watch::Receiver<bool>, watch::Receiver<bool>),
    clock: DrillClock,
) {
    let w = &scenario.workload;
    let expiring_until = clock.start + expiring_until(scenario.duration);
    let mut generator = Generator::new(w, seed, index);
    let slots = Arc::new(Semaphore::new(w.concurrency));
    let client = MeridianClient::new(target.channel.clone());
    let per_tick = f64::from(w.rate_per_region) * TICK.as_secs_f64();
    let mut owed = 0.0;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut counter = (index as u64) << 48;
    let mut inflight = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        // A mark holds the workload: nothing is owed for the pause.
        if *paused.borrow() {
            owed = 0.0;
            while inflight.try_join_next().is_some() {}
            continue;
        }
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let op = generator.next_op();
            counter += 1;
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                t.attempted += 1;
                t.failed += 1;
                continue;
            };
            let (client, tally, table, region) = (
                client.clone(),
                tally.clone(),
                w.table.clone(),
                target.name.clone(),
            );
            let item_bytes = w.item_bytes;
            // One put in four carries an expiry 1 to 2 s ahead, while it
            // will pass before the workload ends.
            let expires = (w.ttl
                && op.kind == OpKind::Put
                && counter.is_multiple_of(4)
                && Instant::now() <= expiring_until)
                .then(|| clock.epoch_micros_now() / 1_000_000 + 2);
            let fence = {
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                t.in_flight += 1;
                t.fences.get(&region).copied().unwrap_or(0)
            };
            inflight.spawn(async move {
                let result = tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    run_op(client, &table, &region, &op, counter, item_bytes, expires),
                )
                .await
                .unwrap_or(Err(()));
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                t.attempted += 1;
                t.in_flight -= 1;
                // Answered across a restart that fenced the region off: as
                // if it had timed out.
                let result = match result {
                    Ok(Outcome::Acked(_))
                        if t.fences.get(&region).copied().unwrap_or(0) != fence =>
                    {
                        Err(())
                    }
                    r => r,
                };
                match result {
                    Ok(Outcome::Acked(writes)) => {
                        t.acked += 1;
                        *t.by_op.entry(op.kind.as_str().into()).or_default() += 1;
                        *t.by_region.entry(region.clone()).or_default() += 1;
                        for w in writes {
                            t.oracle.record(w);
                        }
                    }
                    Ok(Outcome::Rejected) => t.rejected += 1,
                    Err(()) => {
                        t.failed += 1;
                        // A delete whose outcome no client saw may have
                        // been applied, alone or in a transaction.
                        let deleted = (op.kind == OpKind::Delete)
                            .then_some(op.key)
                            .into_iter()
                            .chain(op.also.iter().filter(|(_, d)| *d).map(|&(k, _)| k));
                        for key in deleted {
                            if let Ok(k) = schema().key_of(&workload::key_item(key)) {
                                t.oracle.record_uncertain_delete(&table, k);
                            }
                        }
                    }
                }
                drop(permit);
            });
        }
        // Reap finished requests so the set stays small.
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
}

enum Outcome {
    /// The writes the region acknowledged: one, several for a
    /// transaction, none for a read.
    Acked(Vec<AckedWrite>),
    /// A conditional update lost to a concurrent write in the same region.
    Rejected,
}

async fn run_op(
    mut client: MeridianClient<Channel>,
    table: &str,
    region: &str,
    op: &workload::Op,
    counter: u64,
    item_bytes: usize,
    expires: Option<u64>,
) -> Result<Outcome, ()> {
    let key = op.key;
    let schema = schema();
    let encoded = |item: &Item| schema.key_of(item).map_err(|_| ());
    let write = |key: EncodedKey, r: &pb::WriteResponse, image: Option<Item>| {
        Ok::<_, ()>(AckedWrite {
            table: table.to_string(),
            key,
            version: version_of(&r.version).ok_or(())?,
            prev: version_of(&r.prev),
            image,
            seen_through: version_of(&r.seen_through).map(|v| v.hlc),
        })
    };
    let acked = |key: EncodedKey, r: pb::WriteResponse, image: Option<Item>| {
        Ok(Outcome::Acked(vec![write(key, &r, image)?]))
    };
    match op.kind {
        OpKind::Transact => {
            // The first key is always put, the others put or deleted as
            // drawn; every item of one transaction carries its counter.
            let writes: Vec<(Item, Option<Item>)> = std::iter::once((key, false))
                .chain(op.also.iter().copied())
                .map(|(k, delete)| {
                    if delete {
                        (workload::key_item(k), None)
                    } else {
                        let item = workload::item(k, region, counter, item_bytes);
                        (workload::key_item(k), Some(item))
                    }
                })
                .collect();
            let ops = writes
                .iter()
                .map(|(k, image)| pb::BatchWriteOp {
                    op: Some(match image {
                        Some(item) => pb::batch_write_op::Op::Put(meridian_core::encode_item(item)),
                        None => pb::batch_write_op::Op::DeleteKey(meridian_core::encode_item(k)),
                    }),
                })
                .collect();
            let r = client
                .batch_write(pb::BatchWriteRequest {
                    table: table.into(),
                    ops,
                })
                .await
                .map_err(|_| ())?
                .into_inner();
            if r.results.len() != writes.len() {
                return Err(());
            }
            let acked = writes
                .into_iter()
                .zip(&r.results)
                .map(|((k, image), r)| write(encoded(&k)?, r, image))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Outcome::Acked(acked))
        }
        OpKind::Put => {
            let mut item = workload::item(key, region, counter, item_bytes);
            if let Some(at) = expires {
                item.insert(workload::TTL_ATTR.into(), workload::number(at));
            }
            let r = client
                .put_item(pb::PutItemRequest {
                    table: table.into(),
                    item: meridian_core::encode_item(&item),
                    condition: None,
                })
                .await
                .map_err(|_| ())?
                .into_inner();
            acked(encoded(&item)?, r, Some(item))
        }
        OpKind::Delete => {
            let k = workload::key_item(key);
            let r = client
                .delete_item(pb::DeleteItemRequest {
                    table: table.into(),
                    key: meridian_core::encode_item(&k),
                    condition: None,
                })
                .await
                .map_err(|_| ())?
                .into_inner();
            acked(encoded(&k)?, r, None)
        }
        OpKind::Get => {
            client
                .get_item(pb::GetItemRequest {
                    table: table.into(),
                    key: meridian_core::encode_item(&workload::key_item(key)),
                })
                .await
                .map_err(|_| ())?;
            Ok(Outcome::Acked(Vec::new()))
        }
        OpKind::Update => {
            let got = client
                .get_item(pb::GetItemRequest {
                    table: table.into(),
                    key: meridian_core::encode_item(&workload::key_item(key)),
                })
                .await
                .map_err(|_| ())?
                .into_inner();
            let (n, condition) = match got.item {
                Some(stored) => {
                    let current = meridian_core::decode_item(&stored.item).map_err(|_| ())?;
                    let v = version_of(&stored.version).ok_or(())?;
                    (
                        workload::counter_of(&current) + 1,
                        pb::condition::Kind::VersionEquals(version_to_pb(&v)),
                    )
                }
                None => (1, pb::condition::Kind::MustNotExist(true)),
            };
            let item = workload::item(key, region, n, item_bytes);
            match client
                .put_item(pb::PutItemRequest {
                    table: table.into(),
                    item: meridian_core::encode_item(&item),
                    condition: Some(pb::Condition {
                        kind: Some(condition),
                    }),
                })
                .await
            {
                Ok(r) => acked(encoded(&item)?, r.into_inner(), Some(item)),
                Err(e) if e.code() == tonic::Code::FailedPrecondition => Ok(Outcome::Rejected),
                Err(_) => Err(()),
            }
        }
    }
}

/// Every region's status, `None` for a region that did not answer in time.
async fn sample(regions: &[RegionTarget], start: Instant) -> Sample {
    let t_ms = Instant::now().duration_since(start).as_millis() as u64;
    let asks = regions.iter().map(|r| {
        let mut admin = AdminClient::new(r.channel.clone());
        async move {
            tokio::time::timeout(SAMPLE_TIMEOUT, admin.status(pb::StatusRequest {}))
                .await
                .ok()
                .and_then(|r| r.ok())
                .map(|r| r.into_inner())
        }
    });
    Sample {
        t_ms,
        statuses: futures::future::join_all(asks).await,
    }
}

async fn digest_all(regions: &[RegionTarget], table: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in regions {
        let mut admin = AdminClient::new(r.channel.clone());
        if let Ok(Ok(d)) = tokio::time::timeout(
            SAMPLE_TIMEOUT,
            admin.digest(pb::DigestRequest {
                table: table.into(),
            }),
        )
        .await
        {
            out.insert(r.name.clone(), d.into_inner().digest);
        }
    }
    out
}

type FinalState = (Vec<(String, Heads)>, BTreeMap<String, Vec<Conflict>>);

/// Replays every region's change stream of `table` (read from its store
/// file) and compares it with the region's final items, key by key.
fn check_streams(
    regions: &[RegionTarget],
    table: &str,
    heads: &[(String, Heads)],
    problems: &mut Vec<String>,
) -> Vec<meridian_scenario::report::StreamCheck> {
    let mut out = Vec::new();
    for (r, (name, h)) in regions.iter().zip(heads) {
        let mut check = meridian_scenario::report::StreamCheck {
            region: name.clone(),
            ..Default::default()
        };
        match meridian_cluster::state::stream_replay(&r.data_dir, table) {
            Err(e) => {
                problems.push(format!("{name}: its change stream could not be read: {e}"));
                check.error = Some(e.to_string());
            }
            Ok(replayed) => {
                check.records = replayed.records;
                check.removes = replayed.removes;
                check.tombstones_applied = replayed.tombstones_applied;
                problems.extend(removes_mismatch(&check));
                let live: BTreeMap<&EncodedKey, &Item> = h
                    .iter()
                    .filter_map(|((_, k), head)| head.image.as_ref().map(|i| (k, i)))
                    .collect();
                check.items = live.len() as u64;
                let keys: BTreeSet<&EncodedKey> =
                    live.keys().copied().chain(replayed.items.keys()).collect();
                check.keys_checked = keys.len() as u64;
                for k in keys {
                    let got = replayed.items.get(k).map(|b| meridian_core::decode_item(b));
                    let got = match got {
                        Some(Ok(item)) => Some(item),
                        Some(Err(e)) => {
                            check
                                .mismatches
                                .push(format!("{k:?}: its record does not decode: {e}"));
                            continue;
                        }
                        None => None,
                    };
                    let want = live.get(k).copied();
                    if want != got.as_ref() {
                        let what = match (want, got) {
                            (Some(_), None) => "live, but the replay removed it or never saw it",
                            (None, Some(_)) => "absent, but the replay has it",
                            _ => "the replay's item differs",
                        };
                        check.mismatches.push(format!("{k:?}: {what}"));
                    }
                }
                if !check.mismatches.is_empty() {
                    problems.push(format!(
                        "{name}: its change stream replayed gives {} keys that differ from its items",
                        check.mismatches.len()
                    ));
                    check.mismatches.truncate(20);
                }
            }
        }
        out.push(check);
    }
    out
}

/// A region whose stream's REMOVE records are not exactly the live items
/// it turned into tombstones (its store counts those apart, in each
/// change's transaction): a REMOVE dropped, written twice, or written for
/// what was no delete of a live item. A replay that gives the right items
/// can still hide one, as a REMOVE of a key written again later does.
fn removes_mismatch(check: &meridian_scenario::report::StreamCheck) -> Option<String> {
    (check.error.is_none() && check.removes != check.tombstones_applied).then(|| {
        format!(
            "{}: its change stream holds {} REMOVE records, but it turned {} live items into tombstones",
            check.region, check.removes, check.tombstones_applied
        )
    })
}

/// Checks every index of `table` in every region (read from its store
/// file): its entries must be exactly those the region's final items give
/// by the sparse rule, it must be built, and every region must hold the
/// same entries as the first.
fn check_indexes(
    regions: &[RegionTarget],
    table: &str,
    heads: &[(String, Heads)],
    problems: &mut Vec<String>,
) -> Vec<meridian_scenario::report::IndexCheck> {
    use meridian_scenario::report::IndexCheck;
    let mut out = Vec::new();
    let mut first: BTreeMap<String, BTreeSet<meridian_store::IndexPos>> = BTreeMap::new();
    for (r, (name, h)) in regions.iter().zip(heads) {
        let held = match meridian_cluster::state::indexes(&r.data_dir, table) {
            Ok(held) => held,
            Err(e) => {
                problems.push(format!("{name}: its indexes could not be read: {e}"));
                out.push(IndexCheck {
                    region: name.clone(),
                    error: Some(e.to_string()),
                    ..Default::default()
                });
                continue;
            }
        };
        let live: Vec<(&EncodedKey, &Item)> = h
            .iter()
            .filter_map(|((_, k), head)| head.image.as_ref().map(|i| (k, i)))
            .collect();
        for held in held {
            let want: BTreeSet<meridian_store::IndexPos> = live
                .iter()
                .filter_map(|(k, item)| {
                    held.def.key_of(item).map(|index| meridian_store::IndexPos {
                        index,
                        key: (*k).clone(),
                    })
                })
                .collect();
            let mut check = IndexCheck {
                region: name.clone(),
                index: held.def.name.clone(),
                entries: held.entries.len() as u64,
                items: live.len() as u64,
                ..Default::default()
            };
            for p in held.entries.difference(&want).take(20) {
                check
                    .mismatches
                    .push(format!("stored, no item gives it: {p:?}"));
            }
            for p in want.difference(&held.entries).take(20) {
                check
                    .mismatches
                    .push(format!("an item gives it, not stored: {p:?}"));
            }
            if held.building {
                check.error = Some("still being built".into());
                problems.push(format!(
                    "{name}: index {} is still being built",
                    held.def.name
                ));
            }
            if !check.mismatches.is_empty() {
                problems.push(format!(
                    "{name}: index {} differs from its items ({} entries stored, {} given by its items)",
                    held.def.name,
                    held.entries.len(),
                    want.len()
                ));
            }
            check.agrees = match first.get(&held.def.name) {
                None => {
                    first.insert(held.def.name.clone(), held.entries);
                    true
                }
                Some(reference) => *reference == held.entries,
            };
            if !check.agrees {
                problems.push(format!(
                    "{name}: index {} differs from {}'s",
                    check.index, regions[0].name
                ));
            }
            out.push(check);
        }
    }
    out
}

/// Every region's heads (from its store file, read-only) and conflicts.
async fn final_state(regions: &[RegionTarget], table: &str) -> Result<FinalState, DriveError> {
    let mut heads = Vec::new();
    let mut conflicts = BTreeMap::new();
    for r in regions {
        let fail = |message: String| DriveError::Final {
            region: r.name.clone(),
            message,
        };
        let h =
            meridian_cluster::state::heads(&r.data_dir, table).map_err(|e| fail(e.to_string()))?;
        heads.push((r.name.clone(), h));
        let mut admin = AdminClient::new(r.channel.clone());
        let listed = tokio::time::timeout(
            Duration::from_secs(30),
            meridian_cluster::state::conflicts(&mut admin, table, MAX_CONFLICTS as usize),
        )
        .await
        .map_err(|_| fail("conflicts: no answer in 30 s".into()))?
        .map_err(|e| fail(format!("conflicts: {}", e.message())))?;
        if listed.len() >= MAX_CONFLICTS as usize {
            return Err(fail(format!(
                "more than {MAX_CONFLICTS} conflicts recorded; the drill cannot check them all (use fewer operations or more keys)"
            )));
        }
        let list = listed
            .into_iter()
            .map(|c| conflict_from_pb(c).map_err(|e| fail(format!("conflict: {}", e.message()))))
            .collect::<Result<Vec<_>, _>>()?;
        conflicts.insert(r.name.clone(), list);
    }
    Ok((heads, conflicts))
}

/// The point-in-time events of a drill: marks kept, restores run, and
/// what the marks found against the oracle.
#[derive(Default)]
struct Recovery {
    marks: Vec<Mark>,
    restored: Vec<Restored>,
    verdict: Verdict,
}

impl Recovery {
    async fn apply(
        &mut self,
        action: &Action,
        at_ms: u64,
        scenario: &Scenario,
        regions: &[RegionTarget],
        tally: &Arc<Mutex<Tally>>,
        pause: &watch::Sender<bool>,
    ) -> Result<(), String> {
        let table = &scenario.workload.table;
        let index = |region: &str| {
            regions
                .iter()
                .position(|r| r.name == region)
                .ok_or_else(|| format!("no region {region}"))
        };
        match action {
            Action::Recovery { region } => {
                restore::recovery(&regions[index(region)?], table).await?;
            }
            Action::Mark { region, name } => {
                let i = index(region)?;
                let _ = pause.send(true);
                let kept = async {
                    quiesce(regions, table, tally, scenario.settle).await?;
                    let (oracle, strict) = {
                        let t = tally.lock().unwrap_or_else(|p| p.into_inner());
                        (t.oracle.clone(), t.failed == 0)
                    };
                    let at = restore::At {
                        ms: at_ms,
                        oracle: &oracle,
                        strict,
                    };
                    let mark =
                        restore::mark(name, i, &regions[i], table, at, &mut self.verdict).await?;
                    // Writes resume once the region's clock has passed the
                    // mark, so none of them can share its instant.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok::<_, String>(mark)
                }
                .await;
                let _ = pause.send(false);
                self.marks.push(kept?);
            }
            Action::RestoreToTime { region, name } => {
                let i = index(region)?;
                let mark = self
                    .marks
                    .iter()
                    .find(|m| m.name == *name && m.region == i)
                    .ok_or_else(|| format!("mark {name:?} was not kept"))?;
                let done = restore::restore(mark, &regions[i], table, at_ms, scenario.settle).await;
                let failed = done.report.error.clone();
                self.restored.push(done);
                if let Some(e) = failed {
                    return Err(e);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Waits (at most `within`) until each restored table has reached every
    /// region and agrees everywhere, then compares it with its mark.
    async fn check(
        &mut self,
        regions: &[RegionTarget],
        within: Duration,
        verdict: &mut Verdict,
    ) -> Vec<meridian_scenario::report::RestoreReport> {
        for r in &self.restored {
            let deadline = Instant::now() + within;
            loop {
                let digests = digest_all(regions, &r.report.table).await;
                let distinct: BTreeSet<_> = digests.values().collect();
                if (digests.len() == regions.len() && distinct.len() == 1)
                    || Instant::now() >= deadline
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        restore::check(std::mem::take(&mut self.restored), regions, verdict)
    }
}

/// How often a running recreate is looked at.
const RECREATE_POLL: Duration = Duration::from_millis(50);

/// A recreate of the drill's table under way ([`Action::Recreate`]), run a
/// step at a time from the driver's loop so other events keep firing.
#[derive(Default)]
struct Recreate {
    pending: Option<Pending>,
    /// The table's newest incarnation: where it was created, and its
    /// version.
    current: Option<(usize, Version)>,
}

#[derive(Clone)]
enum Pending {
    /// The workload is paused; waiting until no request is in flight.
    Quiescing(usize),
    /// The table was created again in that region at this version; the
    /// workload resumes once every region holds that incarnation.
    Spreading(usize, Version),
}

impl Recreate {
    fn start(
        &mut self,
        region: &str,
        regions: &[RegionTarget],
        pause: &watch::Sender<bool>,
    ) -> Result<(), String> {
        if self.pending.is_some() {
            return Err("the previous recreate is still running".into());
        }
        let i = regions
            .iter()
            .position(|r| r.name == region)
            .ok_or_else(|| format!("no region {region}"))?;
        let _ = pause.send(true);
        self.pending = Some(Pending::Quiescing(i));
        Ok(())
    }

    /// A region restarted: a power loss or a restored copy can take it back
    /// to the table's old incarnation, where its workload would write to a
    /// table the others deleted. The workload pauses again until every
    /// region holds the newest one. Returns whether a recreated table is
    /// current (the requests in flight to the region are then fenced off,
    /// see [`Tally::fences`]).
    fn restarted(&mut self, pause: &watch::Sender<bool>) -> bool {
        if let (None, Some((i, version))) = (&self.pending, &self.current) {
            let _ = pause.send(true);
            self.pending = Some(Pending::Spreading(*i, version.clone()));
        }
        self.current.is_some()
    }

    /// Takes the next step when it is due: the delete and create once the
    /// workload is idle, the resume once every region holds the new table.
    /// `None` while there is nothing to do or report.
    async fn step<F: Faults>(
        &mut self,
        scenario: &Scenario,
        regions: &[RegionTarget],
        tally: &Arc<Mutex<Tally>>,
        pause: &watch::Sender<bool>,
        faults: &mut F,
        disasters: &mut [Disaster],
    ) -> Option<Result<String, String>> {
        let table = &scenario.workload.table;
        match self.pending.clone()? {
            Pending::Quiescing(i) => {
                if tally.lock().unwrap_or_else(|p| p.into_inner()).in_flight != 0 {
                    return None;
                }
                let r = &regions[i];
                if let Err(e) = delete_table(r, table).await {
                    let _ = pause.send(false);
                    self.pending = None;
                    return Some(Err(e));
                }
                // Every acknowledged write went with the old table, and
                // no disaster can give one back.
                let retired = {
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    let before = t.oracle.retired();
                    t.oracle.retire(table);
                    t.oracle.retired() - before
                };
                for d in disasters.iter_mut() {
                    d.at_risk.clear();
                    d.needed.clear();
                }
                let replicas: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();
                let request = create_request(
                    table,
                    &replicas,
                    scenario.workload.stream.as_deref(),
                    scenario.workload.indexes,
                );
                let created = async {
                    let d = tokio::time::timeout(
                        REQUEST_TIMEOUT,
                        MeridianClient::new(r.channel.clone()).create_table(request),
                    )
                    .await
                    .map_err(|_| format!("CreateTable {table} in {} timed out", r.name))?
                    .map_err(|e| {
                        format!("{} refused CreateTable {table}: {}", r.name, e.message())
                    })?;
                    let version = version_of(&d.into_inner().version)
                        .ok_or_else(|| format!("{} created {table} without a version", r.name))?;
                    if scenario.workload.ttl {
                        faults
                            .region_write(
                                &r.name,
                                vec![meridian_store::WriteOp::SetTtl {
                                    table: table.clone(),
                                    attribute: Some(workload::TTL_ATTR.into()),
                                }],
                            )
                            .await
                            .map_err(|e| format!("turning TTL on for {table} again: {e}"))?;
                    }
                    Ok::<_, String>(version)
                }
                .await;
                match created {
                    Ok(version) => {
                        self.current = Some((i, version.clone()));
                        self.pending = Some(Pending::Spreading(i, version));
                        Some(Ok(format!(
                            "{table} deleted and created again in {} ({retired} acknowledged writes retired with the old table)",
                            r.name
                        )))
                    }
                    Err(e) => {
                        let _ = pause.send(false);
                        self.pending = None;
                        Some(Err(e))
                    }
                }
            }
            Pending::Spreading(i, version) => {
                for r in regions {
                    let mut c = MeridianClient::new(r.channel.clone());
                    let d = tokio::time::timeout(
                        SAMPLE_TIMEOUT,
                        c.describe_table(pb::TableRequest {
                            name: table.clone(),
                        }),
                    )
                    .await;
                    match d {
                        Ok(Ok(d)) if version_of(&d.get_ref().version) == Some(version.clone()) => {}
                        _ => return None,
                    }
                }
                let _ = pause.send(false);
                self.pending = None;
                Some(Ok(format!(
                    "every region holds {table} as {} created it again; the workload resumes",
                    regions[i].name
                )))
            }
        }
    }
}

/// Deletes the drill's table in `r`; a table already gone (an earlier try
/// that timed out after it was applied) counts as deleted.
async fn delete_table(r: &RegionTarget, table: &str) -> Result<(), String> {
    let mut c = MeridianClient::new(r.channel.clone());
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        let asked = tokio::time::timeout(
            REQUEST_TIMEOUT,
            c.delete_table(pb::TableRequest { name: table.into() }),
        )
        .await;
        match asked {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.code() == tonic::Code::NotFound => return Ok(()),
            Ok(Err(e)) if Instant::now() >= deadline => {
                return Err(format!(
                    "{} refused DeleteTable {table}: {}",
                    r.name,
                    e.message()
                ));
            }
            Err(_) if Instant::now() >= deadline => {
                return Err(format!("DeleteTable {table} in {} timed out", r.name));
            }
            _ => tokio::time::sleep(RECREATE_POLL).await,
        }
    }
}

/// Waits, at most `within`, until no workload request is in flight, every
/// link has drained and every region has the same digest of `table`.
async fn quiesce(
    regions: &[RegionTarget],
    table: &str,
    tally: &Arc<Mutex<Tally>>,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let idle = tally.lock().unwrap_or_else(|p| p.into_inner()).in_flight == 0;
        if idle {
            let s = sample(regions, Instant::now()).await;
            let drained = s.statuses.iter().all(|st| {
                st.as_ref()
                    .is_some_and(|st| meridian_cluster::wait::drained(st).is_ok())
            });
            if drained {
                let digests = digest_all(regions, table).await;
                let distinct: BTreeSet<_> = digests.values().collect();
                if digests.len() == regions.len() && distinct.len() == 1 {
                    return Ok(());
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the regions did not settle within {} s for the mark",
                within.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_scenario::report::StreamCheck;

    #[test]
    fn a_stream_with_fewer_or_more_removes_than_tombstones_applied_is_reported() {
        let check = |removes, tombstones_applied| StreamCheck {
            region: "r1".into(),
            removes,
            tombstones_applied,
            ..Default::default()
        };
        assert_eq!(removes_mismatch(&check(7, 7)), None);
        let fewer = removes_mismatch(&check(6, 7)).expect("a missing REMOVE is reported");
        assert!(
            fewer.contains("6 REMOVE") && fewer.contains("7 live items"),
            "{fewer}"
        );
        assert!(removes_mismatch(&check(8, 7)).is_some());
        // An unreadable stream is reported once, as unreadable.
        let unreadable = StreamCheck {
            error: Some("no such table".into()),
            ..check(0, 3)
        };
        assert_eq!(removes_mismatch(&unreadable), None);
    }
}
