//! Restores to a marked instant (scenario events `recovery`, `mark` and
//! `restore-to-time`), and their check.
//!
//! A mark pauses the workload everywhere, waits until every region has
//! applied everything and the digests agree, and then keeps the table as
//! the marked region holds it, read from its store, with the region's own
//! latest restorable time: that instant is the mark. The table kept is
//! checked against the oracle (every acknowledged write up to the pause) and
//! is what a restore to the mark must give back. The workload then resumes,
//! and whatever it writes after the mark (the "mistake") must not be in the
//! restore. At the end the restored table, in every region it replicated
//! to, is compared with the kept one key by key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::{EncodedKey, Item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_scenario::report::RestoreReport;
use meridian_scenario::scenario::{Action, Scenario};
use meridian_scenario::{Oracle, Verdict, show_key};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::probe::{agree, digest_all, drained, sample};
use crate::target::{RegionTarget, index_of};
use crate::traffic::{Tally, lock};

/// The point-in-time events of a drill: marks kept, restores run, and
/// what the marks found against the oracle.
#[derive(Default)]
pub(crate) struct Recovery {
    marks: Vec<Mark>,
    restored: Vec<Restored>,
    /// What the marks found against the oracle, for the drill's verdict.
    pub(crate) verdict: Verdict,
}

impl Recovery {
    /// Runs a `recovery`, `mark` or `restore-to-time` event (any other
    /// is none of its business and does nothing).
    pub(crate) async fn apply(
        &mut self,
        action: &Action,
        at_ms: u64,
        scenario: &Scenario,
        regions: &[RegionTarget],
        tally: &Arc<Mutex<Tally>>,
        pause: &watch::Sender<bool>,
    ) -> Result<(), String> {
        let table = &scenario.workload.table;
        let index = |region: &str| index_of(regions, region);
        match action {
            Action::Recovery { region } => {
                recovery(&regions[index(region)?], table).await?;
            }
            Action::Mark { region, name } => {
                let i = index(region)?;
                let _ = pause.send(true);
                let kept = async {
                    quiesce(regions, table, tally, scenario.settle).await?;
                    let (oracle, strict) = {
                        let t = lock(tally);
                        (t.oracle.clone(), t.failed == 0)
                    };
                    let at = At {
                        ms: at_ms,
                        oracle: &oracle,
                        strict,
                    };
                    let mark = mark(name, i, &regions[i], table, at, &mut self.verdict).await?;
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
                let done = restore(mark, &regions[i], table, at_ms, scenario.settle).await;
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
    pub(crate) async fn check(
        &mut self,
        regions: &[RegionTarget],
        within: Duration,
        verdict: &mut Verdict,
    ) -> Vec<RestoreReport> {
        for r in &self.restored {
            let deadline = Instant::now() + within;
            loop {
                let digests = digest_all(regions, &r.report.table).await;
                if agree(&digests, regions.len()) || Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        check(std::mem::take(&mut self.restored), regions, verdict)
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
        let idle = lock(tally).in_flight == 0;
        if idle {
            let s = sample(regions, Instant::now()).await;
            if drained(&s) && agree(&digest_all(regions, table).await, regions.len()) {
                return Ok(());
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

/// Most differences a report lists per restore.
const MAX_MISMATCHES: usize = 200;
/// How long an Admin call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The table as a region held it at a mark.
pub(crate) struct Mark {
    pub name: String,
    pub region: usize,
    /// The region's latest restorable time at the mark, µs.
    pub at_micros: u64,
    pub at_ms: u64,
    pub items: BTreeMap<EncodedKey, Item>,
}

/// A restore that ran, waiting for its check at the end.
pub(crate) struct Restored {
    pub report: RestoreReport,
    pub expected: BTreeMap<EncodedKey, Item>,
}

fn admin(r: &RegionTarget) -> AdminClient<tonic::transport::Channel> {
    AdminClient::new(r.admin.clone())
}

/// Turns point-in-time recovery of `table` on in `r` (one day, far more
/// than a drill lasts) and returns the region's latest restorable time.
pub(crate) async fn recovery(r: &RegionTarget, table: &str) -> Result<u64, String> {
    let status = tokio::time::timeout(
        CALL_TIMEOUT,
        admin(r).set_recovery(pb::SetRecoveryRequest {
            table: table.into(),
            period_days: 1,
        }),
    )
    .await
    .map_err(|_| format!("{} did not answer", r.name))?
    .map_err(|e| e.message().to_string())?
    .into_inner();
    Ok(status.latest_micros)
}

/// When a mark is kept: ms from the start, and what the oracle knew then
/// (strict when every request so far got an answer).
pub(crate) struct At<'a> {
    pub ms: u64,
    pub oracle: &'a Oracle,
    pub strict: bool,
}

/// Keeps the table as `r` holds it now (every region has converged, the
/// workload is paused) as mark `name`, after checking it against what the
/// oracle knew at this instant: `verdict` collects what does not match.
pub(crate) async fn mark(
    name: &str,
    region: usize,
    r: &RegionTarget,
    table: &str,
    at: At<'_>,
    verdict: &mut Verdict,
) -> Result<Mark, String> {
    let at_micros = recovery(r, table).await?;
    let heads = meridian_cluster::state::heads(&r.data_dir, table).map_err(|e| e.to_string())?;
    let mut at_mark = Verdict::default();
    at.oracle
        .check_replica(&r.name, &heads, at.strict, &mut at_mark);
    verdict.problems.extend(
        at_mark
            .problems
            .into_iter()
            .map(|p| format!("at mark {name:?}: {p}")),
    );
    let items = heads
        .into_iter()
        .filter_map(|((_, key), head)| head.image.map(|item| (key, item)))
        .collect();
    Ok(Mark {
        name: name.to_string(),
        region,
        at_micros,
        at_ms: at.ms,
        items,
    })
}

/// Restores `table` in `r` to `mark` into `<table>-<mark>` and waits, at
/// most `within`, until every item is loaded.
pub(crate) async fn restore(
    mark: &Mark,
    r: &RegionTarget,
    table: &str,
    at_ms: u64,
    within: Duration,
) -> Restored {
    let target = format!("{table}-{}", mark.name);
    let mut report = RestoreReport {
        region: r.name.clone(),
        mark: mark.name.clone(),
        table: target.clone(),
        mark_ms: mark.at_ms,
        at_ms,
        items_expected: mark.items.len() as u64,
        ..RestoreReport::default()
    };
    let start = Instant::now();
    let result = async {
        tokio::time::timeout(
            CALL_TIMEOUT,
            admin(r).restore_to_time(pb::RestoreToTimeRequest {
                table: table.into(),
                target_table: target.clone(),
                at_micros: mark.at_micros,
                replicas: Vec::new(),
            }),
        )
        .await
        .map_err(|_| format!("{} did not answer", r.name))?
        .map_err(|e| e.message().to_string())?;
        let deadline = start + within;
        loop {
            let listed = tokio::time::timeout(
                CALL_TIMEOUT,
                admin(r).list_backups(pb::ListBackupsRequest::default()),
            )
            .await
            .map_err(|_| format!("{} did not answer", r.name))?
            .map_err(|e| e.message().to_string())?
            .into_inner();
            let status = listed
                .restores
                .into_iter()
                .find(|s| s.table == target)
                .ok_or_else(|| format!("{} does not report the restore", r.name))?;
            if !status.error.is_empty() {
                return Err(status.error);
            }
            if !status.in_progress {
                return Ok(status.loaded);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not done within {} s ({} of {} loaded)",
                    within.as_secs(),
                    status.loaded,
                    status.total
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    .await;
    match result {
        Ok(loaded) => {
            report.items_restored = loaded;
            report.restore_ms = Some(start.elapsed().as_millis() as u64);
        }
        Err(e) => report.error = Some(e),
    }
    Restored {
        report,
        expected: mark.items.clone(),
    }
}

/// An item in DynamoDB JSON, cut short: enough to tell two apart in a report.
fn brief(item: &Item) -> String {
    let mut text = serde_json::Value::Object(meridian_core::item_to_json(item)).to_string();
    if text.len() > 120 {
        let mut cut = 120;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Compares each restored table, in every region, with the table at its
/// mark, key by key; `verdict` collects what differs.
pub(crate) fn check(
    restored: Vec<Restored>,
    regions: &[RegionTarget],
    verdict: &mut Verdict,
) -> Vec<RestoreReport> {
    let mut reports = Vec::new();
    for Restored {
        mut report,
        expected,
    } in restored
    {
        if let Some(e) = &report.error {
            verdict.problems.push(format!(
                "the restore of {} to mark {:?} failed: {e}",
                report.table, report.mark
            ));
            reports.push(report);
            continue;
        }
        for r in regions {
            let heads = match meridian_cluster::state::heads(&r.data_dir, &report.table) {
                Ok(h) => h,
                Err(e) => {
                    report
                        .mismatches
                        .push(format!("{}: cannot read: {e}", r.name));
                    continue;
                }
            };
            let got: BTreeMap<&EncodedKey, &Item> = heads
                .iter()
                .filter_map(|((_, k), h)| h.image.as_ref().map(|i| (k, i)))
                .collect();
            for (key, want) in &expected {
                report.keys_checked += 1;
                match got.get(key) {
                    Some(item) if *item == want => {}
                    Some(item) => report.mismatches.push(format!(
                        "{}: {} holds {}, at the mark it held {}",
                        r.name,
                        show_key(&report.table, key),
                        brief(item),
                        brief(want)
                    )),
                    None => report.mismatches.push(format!(
                        "{}: {} is missing, at the mark it held {}",
                        r.name,
                        show_key(&report.table, key),
                        brief(want)
                    )),
                }
            }
            for key in got.keys().filter(|k| !expected.contains_key(*k)) {
                report.mismatches.push(format!(
                    "{}: {} holds an item, at the mark it held none",
                    r.name,
                    show_key(&report.table, key)
                ));
            }
        }
        if !report.mismatches.is_empty() {
            verdict.problems.push(format!(
                "the restore of {} to mark {:?} differs from the table at the mark in {} places; first: {}",
                report.table,
                report.mark,
                report.mismatches.len(),
                report.mismatches[0]
            ));
            report.mismatches.truncate(MAX_MISMATCHES);
        }
        reports.push(report);
    }
    reports
}
