//! A recreate of the drill's table ([`meridian_scenario::scenario::Action::Recreate`]): the workload
//! pauses, the table is deleted and created again in one region once no
//! request is in flight, and the workload resumes once every region holds
//! the new incarnation. It runs a step at a time beside the other events.
//!
//! [`Action::Recreate`]: meridian_scenario::scenario::Action::Recreate

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::Version;
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::scenario::Scenario;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::disaster::Disaster;
use crate::probe::SAMPLE_TIMEOUT;
use crate::table::{create_request, enable_ttl, version_of};
use crate::target::{Faults, RegionTarget, index_of};
use crate::traffic::{REQUEST_TIMEOUT, Tally, lock};

/// How often a running recreate is looked at.
pub(crate) const RECREATE_POLL: Duration = Duration::from_millis(50);

/// A recreate of the drill's table under way ([`meridian_scenario::scenario::Action::Recreate`]), run a
/// step at a time from the driver's loop so other events keep firing.
#[derive(Default)]
pub(crate) struct Recreate {
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
    /// Whether a recreate is under way (the driver then looks at it every
    /// [`RECREATE_POLL`]).
    pub(crate) fn running(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether a recreate is waiting for the workload to go quiet.
    pub(crate) fn quiescing(&self) -> bool {
        matches!(self.pending, Some(Pending::Quiescing(_)))
    }

    pub(crate) fn start(
        &mut self,
        region: &str,
        regions: &[RegionTarget],
        pause: &watch::Sender<bool>,
    ) -> Result<(), String> {
        if self.pending.is_some() {
            return Err("the previous recreate is still running".into());
        }
        let i = index_of(regions, region)?;
        let _ = pause.send(true);
        self.pending = Some(Pending::Quiescing(i));
        Ok(())
    }

    /// A region restarted: a power loss or a restored copy can take it back
    /// to the table's old incarnation, where its workload would write to a
    /// table the others deleted. The workload pauses again until every
    /// region holds the newest one. Returns whether a recreated table is
    /// current (the requests in flight to the region are then fenced off,
    /// see [`Tally::fences`](crate::traffic::Tally::fences)).
    pub(crate) fn restarted(&mut self, pause: &watch::Sender<bool>) -> bool {
        if let (None, Some((i, version))) = (&self.pending, &self.current) {
            let _ = pause.send(true);
            self.pending = Some(Pending::Spreading(*i, version.clone()));
        }
        self.current.is_some()
    }

    /// Takes the next step when it is due: the delete and create once the
    /// workload is idle, the resume once every region holds the new table.
    /// `None` while there is nothing to do or report.
    pub(crate) async fn step<F: Faults>(
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
                if lock(tally).in_flight != 0 {
                    return None;
                }
                let recreated = self
                    .recreate(i, scenario, regions, tally, faults, disasters)
                    .await;
                if recreated.is_err() {
                    let _ = pause.send(false);
                    self.pending = None;
                }
                Some(recreated)
            }
            Pending::Spreading(i, version) => {
                if !holds_everywhere(regions, table, &version).await {
                    return None;
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

    /// Deletes the table and creates it again in the `i`th region, the
    /// writes acknowledged to the old table retired with it; once created,
    /// the recreate is left spreading, and later steps wait until every
    /// region holds the new incarnation.
    async fn recreate<F: Faults>(
        &mut self,
        i: usize,
        scenario: &Scenario,
        regions: &[RegionTarget],
        tally: &Mutex<Tally>,
        faults: &mut F,
        disasters: &mut [Disaster],
    ) -> Result<String, String> {
        let table = &scenario.workload.table;
        let r = &regions[i];
        delete_table(r, table).await?;
        let retired = retire(tally, table, disasters);
        let version = create_again(scenario, regions, r, faults).await?;
        self.current = Some((i, version.clone()));
        self.pending = Some(Pending::Spreading(i, version));
        Ok(format!(
            "{table} deleted and created again in {} ({retired} acknowledged writes retired with the old table)",
            r.name
        ))
    }
}

/// Takes the old table's acknowledged writes out of the oracle: every one
/// went with the table, and no disaster can give one back. Returns how
/// many were retired.
fn retire(tally: &Mutex<Tally>, table: &str, disasters: &mut [Disaster]) -> usize {
    let retired = {
        let mut t = lock(tally);
        let before = t.oracle.retired();
        t.oracle.retire(table);
        t.oracle.retired() - before
    };
    for d in disasters.iter_mut() {
        d.forget();
    }
    retired
}

/// Creates the drill's table again in `r`, replicated to every region and
/// provisioned as the scenario has it, with TTL turned on again if the
/// workload uses it; returns the new incarnation's version.
async fn create_again<F: Faults>(
    scenario: &Scenario,
    regions: &[RegionTarget],
    r: &RegionTarget,
    faults: &mut F,
) -> Result<Version, String> {
    let table = &scenario.workload.table;
    let replicas: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();
    let mut request = create_request(
        table,
        &replicas,
        scenario.workload.stream.as_deref(),
        scenario.workload.indexes,
    );
    request.provisioned = scenario
        .table
        .capacity
        .as_ref()
        .map(crate::capacity::provisioned);
    let d = tokio::time::timeout(
        REQUEST_TIMEOUT,
        MeridianClient::new(r.channel.clone()).create_table(request),
    )
    .await
    .map_err(|_| format!("CreateTable {table} in {} timed out", r.name))?
    .map_err(|e| format!("{} refused CreateTable {table}: {}", r.name, e.message()))?;
    let version = version_of(&d.into_inner().version)
        .ok_or_else(|| format!("{} created {table} without a version", r.name))?;
    if scenario.workload.ttl {
        enable_ttl(faults, &r.name, table)
            .await
            .map_err(|e| format!("turning TTL on for {table} again: {e}"))?;
    }
    Ok(version)
}

/// Whether every region answers that it holds `table` at `version`, the
/// recreated incarnation; asks no further after the first that does not.
async fn holds_everywhere(regions: &[RegionTarget], table: &str, version: &Version) -> bool {
    for r in regions {
        let mut c = MeridianClient::new(r.channel.clone());
        let d = tokio::time::timeout(
            SAMPLE_TIMEOUT,
            c.describe_table(pb::TableRequest {
                name: table.to_string(),
            }),
        )
        .await;
        match d {
            Ok(Ok(d)) if version_of(&d.get_ref().version).as_ref() == Some(version) => {}
            _ => return false,
        }
    }
    true
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
