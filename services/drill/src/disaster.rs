//! Disasters a drill follows: a region's data directory wiped, rolled back
//! to a snapshot, or (a simulated crash under `durability = "normal"`)
//! back to its last sync point. Each is read just before it strikes, its
//! recovery time measured from the status samples, and what it took for
//! good reported as lost at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use meridian_core::{EncodedKey, Version};
use meridian_scenario::report::{DisasterReport, LostWrite};
use meridian_scenario::scenario::{Action, Durability, Scenario};
use meridian_scenario::{Heads, Oracle, Verdict};
use tokio::time::Instant;

use crate::collect::Sample;
use crate::target::{Mode, RegionTarget};
use crate::traffic::{Tally, lock};

/// A disaster being followed: a region's data directory wiped or rolled
/// back. Read just before it happens: which of the region's acknowledged
/// writes no peer held (all it may lose), and what it must serve again.
pub(crate) struct Disaster {
    report: DisasterReport,
    region: usize,
    at: Instant,
    at_risk: BTreeSet<Version>,
    needed: BTreeMap<(String, EncodedKey), Version>,
    /// Per sample the region answered without holding every needed write:
    /// when (ms after it struck) and the versions it lacked. A write that
    /// lost to a TTL delete is known only from the conflict logs at the
    /// end, so the RTO is found again then ([`Disaster::settle`]).
    lacks: Vec<(u64, Vec<Version>)>,
}

impl Disaster {
    /// Reads the peers' stores as `region` has just lost its data (every
    /// write it acknowledged is in the oracle by then); `None` for a region
    /// the drill does not have.
    pub(crate) fn before(
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
        let mut t = lock(tally);
        // Requests in flight to the region now, answered later, may carry
        // writes it committed before the loss (`Tally::acked_across_loss`).
        *t.losses.entry(region.to_string()).or_default() += 1;
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
            lacks: Vec::new(),
        })
    }

    /// The disaster struck now, at `at_ms` into the drill, as the event
    /// `label`: its recovery time is measured from here.
    pub(crate) fn struck(&mut self, at_ms: u64, label: String) {
        self.report.at_ms = at_ms;
        self.report.label = label;
        self.at = Instant::now();
    }

    /// The table was deleted and created again: every acknowledged write
    /// went with the old one, so nothing is at risk and nothing needed.
    pub(crate) fn forget(&mut self) {
        self.at_risk.clear();
        self.needed.clear();
    }

    /// Marks the RTO of every disaster whose region is up (it answered
    /// `sample`) and now holds every write that survived.
    pub(crate) fn follow(
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
            let lacking = {
                let t = lock(tally);
                t.oracle.lacking_versions(&heads, &d.needed)
            };
            let ms = Instant::now().duration_since(d.at).as_millis() as u64;
            if lacking.is_empty() {
                d.report.rto_ms = Some(ms);
            } else {
                d.lacks.push((ms, lacking));
            }
        }
    }

    /// The reports, once the drill is over: the writes lost for good leave
    /// `oracle` and are listed under the disaster that put them at risk; a
    /// region that never served every surviving write fails `verdict`.
    /// `late` holds, per region, the writes it acknowledged to requests in
    /// flight when a loss struck it, answered after the loss was read: at
    /// risk from that region's losses too: a write committed just before a
    /// wipe can be answered after it, its answer still on the wire.
    pub(crate) fn settle(
        disasters: Vec<Disaster>,
        oracle: &mut Oracle,
        late: &BTreeMap<String, BTreeSet<Version>>,
        finals: &[(String, Heads)],
        verdict: &mut Verdict,
    ) -> Vec<DisasterReport> {
        let named = finals;
        let finals: Vec<&Heads> = finals.iter().map(|(_, h)| h).collect();
        disasters
            .into_iter()
            .map(|mut d| {
                if let Some(late) = late.get(&d.report.region) {
                    d.at_risk.extend(late.iter().cloned());
                    d.report.at_risk = d.at_risk.len() as u64;
                }
                if d.report.rto_ms.is_none() {
                    // The first sample whose lacks all lost to a TTL delete:
                    // a write a TTL delete beat is not owed, so the region
                    // served every survivor then.
                    d.report.rto_ms = d
                        .lacks
                        .iter()
                        .find(|(_, lacked)| lacked.iter().all(|v| oracle.lost_to_expiry(v)))
                        .map(|(ms, _)| *ms);
                }
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
                    // By name: the finals are the regions holding items.
                    let lacking: Vec<String> = named
                        .iter()
                        .find(|(n, _)| *n == r.region)
                        .map(|(_, h)| oracle.lacking(h, &d.needed, 3))
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
pub(crate) fn power_loss<'a>(
    scenario: &Scenario,
    mode: Mode,
    action: &'a Action,
) -> Option<&'a str> {
    match action {
        Action::Crash { region }
            if mode == Mode::Simulated && scenario.durability == Durability::Normal =>
        {
            Some(region)
        }
        _ => None,
    }
}
