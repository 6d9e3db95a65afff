//! `meridian-scenario`: what a drill is and how it is judged. The scenario
//! file format ([`scenario`]), the checker (this module) and the report
//! ([`report`], [`html`]). Live and simulated drills (`meridian-drill`) and
//! the tests share it, so both modes read the same files and yield the same
//! report.
//!
//! The checker: what every replica must hold once delivery is complete, and
//! whether the conflict log tells the truth.
//!
//! The [`Oracle`] is built only from acknowledged writes, as clients saw
//! them. Tests and drills feed it, read each replica's heads after
//! quiescence, and ask for a [`Verdict`].

pub mod alarm;
pub mod consistency;
pub mod fis;
pub mod html;
pub mod invariant;
pub mod linear;
pub mod objectives;
pub mod report;
pub mod scenario;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use meridian_core::{Conflict, EncodedKey, Item, Timestamp, Version};

/// One write a client saw acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct AckedWrite {
    pub table: String,
    pub key: EncodedKey,
    pub version: Version,
    pub prev: Option<Version>,
    /// `None` for a delete.
    pub image: Option<Item>,
    /// Set when the key held nothing at the writing region, which had
    /// purged tombstones up to this time: the write has seen every earlier
    /// write to the key at or below it.
    pub seen_through: Option<Timestamp>,
}

/// The head of one key on one replica.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub version: Version,
    pub image: Option<Item>,
}

pub type Heads = BTreeMap<(String, EncodedKey), Head>;

/// Every acknowledged write, by version.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    writes: BTreeMap<Version, AckedWrite>,
    /// Per key, the versions of its acknowledged deletes.
    deletes: BTreeMap<(String, EncodedKey), BTreeSet<Version>>,
    /// Keys a delete was sent for whose outcome no client saw (it failed or
    /// timed out): it may have been applied, and its tombstone purged.
    uncertain_deletes: BTreeSet<(String, EncodedKey)>,
    /// With TTL on: the attribute, and per key the acknowledged writes
    /// whose item carries an expiry there (epoch seconds). A region's
    /// reaper deletes such an item once its time has passed, by a write
    /// no client saw acknowledged ([`Oracle::expire_on`]).
    ttl: Option<String>,
    expiring: BTreeMap<(String, EncodedKey), BTreeMap<Version, u64>>,
    /// Expiries at or before this (epoch seconds) must have been applied
    /// by the time replicas are checked: such an item still live is one
    /// the reapers missed or that came back.
    reaped_by: Option<u64>,
    /// Acknowledged writes recorded as losing to a TTL delete
    /// ([`Oracle::note_expiries`]): a replica may hold nothing for their
    /// key once that tombstone is purged.
    lost_to_expiry: BTreeSet<Version>,
    /// Acknowledged writes to an earlier incarnation of their table, one
    /// since deleted and created again ([`Oracle::retire`]): conflict
    /// records may still name them, but no replica may hold one.
    retired: BTreeMap<Version, AckedWrite>,
    /// The expiries of retired writes, by key: a conflict record of the
    /// old table may show one winning as a TTL delete.
    retired_expiring: BTreeMap<(String, EncodedKey), BTreeMap<Version, u64>>,
}

/// The checker's answer: empty `problems` means every check passed.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub problems: Vec<String>,
    pub keys_checked: usize,
    pub conflicts_checked: usize,
    /// Distinct acknowledged writes recorded as the loser of a conflict.
    pub lost_updates: usize,
    /// Acknowledged writes that were overwritten by a write that had not
    /// seen them, judged from the acknowledged writes alone.
    pub expected_lost_updates: usize,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn fail(&mut self, p: String) {
        // Enough to diagnose; a broken run can produce thousands.
        if self.problems.len() < 50 {
            self.problems.push(p);
        }
    }
}

/// A key as reports show it: `table/partition hex/sort hex`.
pub fn show_key(table: &str, key: &EncodedKey) -> String {
    format!("{table}/{}/{}", hex(&key.partition), hex(&key.sort))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Oracle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Items written under `attribute` expire: a region's TTL reaper
    /// deletes each once its time has passed, and replicates the delete
    /// like any other. Call before recording writes.
    pub fn expire_on(&mut self, attribute: &str) {
        self.ttl = Some(attribute.to_string());
    }

    /// Every expiry at or before `secs` (epoch seconds) must have been
    /// applied when the replicas are checked.
    pub fn reaped_by(&mut self, secs: u64) {
        self.reaped_by = Some(secs);
    }

    /// Takes note of the acknowledged writes the conflict records show
    /// losing to a TTL delete: a tombstone no client saw, which can be the
    /// expiry of an earlier write of the key ([`Oracle::expired_by`]). An
    /// expiry that races a write made elsewhere without seeing it wins by
    /// last-writer-wins like any delete; its tombstone may then be purged,
    /// which leaves the key empty. Call before checking replicas.
    pub fn note_expiries(&mut self, conflicts: &[Conflict]) {
        for c in conflicts {
            if c.winner_image.is_none()
                && !self.writes.contains_key(&c.winner)
                && self.writes.contains_key(&c.loser)
                && self.expired_by(&c.table, &c.key, &c.winner)
            {
                self.lost_to_expiry.insert(c.loser.clone());
            }
        }
    }

    /// When the item of `w` expires, if it carries an expiry.
    fn expiry_of(&self, w: &AckedWrite) -> Option<u64> {
        let attr = self.ttl.as_ref()?;
        match w.image.as_ref()?.get(attr)? {
            meridian_core::AttrValue::N(n) => n.to_string().parse().ok(),
            _ => None,
        }
    }

    /// Whether the tombstone `version` at `key`, which no client saw
    /// acknowledged, can be a TTL expiry: an acknowledged write before it
    /// carried an expiry no later than the tombstone's own time (a second
    /// of slack: the reaper reads the region's unskewed clock, the version
    /// its HLC).
    fn expired_by(&self, table: &str, key: &EncodedKey, version: &Version) -> bool {
        let at = version.hlc.physical / 1_000_000 + 1;
        let k = (table.to_string(), key.clone());
        [&self.expiring, &self.retired_expiring].iter().any(|m| {
            m.get(&k)
                .is_some_and(|e| e.range(..version).any(|(_, &exp)| exp <= at))
        })
    }

    /// Whether an acknowledged write at or after `version` carried an
    /// expiry: the key may have been deleted by it since, and the
    /// tombstone purged.
    fn expiring_since(&self, table: &str, key: &EncodedKey, version: &Version) -> bool {
        self.expiring_from(table, key, Bound::Included(version))
    }

    /// [`Self::expiring_since`], from `from` on.
    fn expiring_from(&self, table: &str, key: &EncodedKey, from: Bound<&Version>) -> bool {
        self.expiring
            .get(&(table.to_string(), key.clone()))
            .is_some_and(|e| {
                e.range::<Version, _>((from, Bound::Unbounded))
                    .next()
                    .is_some()
            })
    }

    /// `table` was deleted and created again: every write acknowledged to
    /// it so far went with the old incarnation. They leave the writes a
    /// replica must hold for the retired set, which no replica may hold.
    /// Call once no request to the table is in flight.
    pub fn retire(&mut self, table: &str) {
        let old: Vec<Version> = self
            .writes
            .values()
            .filter(|w| w.table == table)
            .map(|w| w.version.clone())
            .collect();
        for v in old {
            if let Some(w) = self.writes.remove(&v) {
                self.retired.insert(v, w);
            }
        }
        self.deletes.retain(|(t, _), _| t != table);
        self.uncertain_deletes.retain(|(t, _)| t != table);
        let keys: Vec<(String, EncodedKey)> = self
            .expiring
            .keys()
            .filter(|(t, _)| t == table)
            .cloned()
            .collect();
        for k in keys {
            if let Some(e) = self.expiring.remove(&k) {
                self.retired_expiring.entry(k).or_default().extend(e);
            }
        }
        let retired = &self.retired;
        self.lost_to_expiry.retain(|v| !retired.contains_key(v));
    }

    /// How many acknowledged writes were retired with their table.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    /// An acknowledged write, live or retired.
    fn acked(&self, v: &Version) -> Option<&AckedWrite> {
        self.writes.get(v).or_else(|| self.retired.get(v))
    }

    pub fn record(&mut self, w: AckedWrite) {
        if let Some(exp) = self.expiry_of(&w) {
            self.expiring
                .entry((w.table.clone(), w.key.clone()))
                .or_default()
                .insert(w.version.clone(), exp);
        }
        if w.image.is_none() {
            self.deletes
                .entry((w.table.clone(), w.key.clone()))
                .or_default()
                .insert(w.version.clone());
        }
        self.writes.insert(w.version.clone(), w);
    }

    /// A delete of `key` was sent and no client saw its outcome.
    pub fn record_uncertain_delete(&mut self, table: &str, key: EncodedKey) {
        self.uncertain_deletes.insert((table.to_string(), key));
    }

    /// Whether a replica holding nothing at `key` may have deleted it
    /// from `from` on: a delete there, acknowledged since (or an expiry
    /// set since) or of unknown outcome, whose tombstone was purged once
    /// every region held it. Absence then hides nothing that was
    /// acknowledged.
    fn deleted_from(&self, table: &str, key: &EncodedKey, from: Bound<&Version>) -> bool {
        let k = (table.to_string(), key.clone());
        self.uncertain_deletes.contains(&k)
            || self.deletes.get(&k).is_some_and(|d| {
                d.range::<Version, _>((from, Bound::Unbounded))
                    .next()
                    .is_some()
            })
            || self.expiring_from(table, key, from)
    }

    /// Whether `heads` holds `version` of the key, or something newer: a
    /// head as new, or none where it may have been deleted since (by
    /// `version` itself too, when it is a delete or carries an expiry).
    fn holds_one(&self, heads: &Heads, table: &str, key: &EncodedKey, version: &Version) -> bool {
        self.holds_from(heads, table, key, version, Bound::Included(version))
    }

    /// Whether `heads` shows that `version` of the key reached it: a head
    /// as new, or none where a later delete or expiry explains it. Unlike
    /// [`Self::holds_one`], a replica holding nothing is no sign that a
    /// delete (or a write that expires) reached it: its own tombstone
    /// purged and its never arriving look alike.
    fn reached_one(&self, heads: &Heads, table: &str, key: &EncodedKey, version: &Version) -> bool {
        self.holds_from(heads, table, key, version, Bound::Excluded(version))
    }

    fn holds_from(
        &self,
        heads: &Heads,
        table: &str,
        key: &EncodedKey,
        version: &Version,
        deleted_from: Bound<&Version>,
    ) -> bool {
        match heads.get(&(table.to_string(), key.clone())) {
            Some(h) => h.version >= *version,
            // Or it lost to a TTL delete, whose tombstone was purged.
            None => {
                self.deleted_from(table, key, deleted_from) || self.lost_to_expiry.contains(version)
            }
        }
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    pub fn get(&self, v: &Version) -> Option<&AckedWrite> {
        self.writes.get(v)
    }

    /// The LWW winner of every key among acknowledged writes.
    pub fn expected(&self) -> BTreeMap<(String, EncodedKey), &AckedWrite> {
        let mut out: BTreeMap<(String, EncodedKey), &AckedWrite> = BTreeMap::new();
        for w in self.writes.values() {
            let slot = out.entry((w.table.clone(), w.key.clone())).or_insert(w);
            if w.version > slot.version {
                *slot = w;
            }
        }
        out
    }

    /// The writes acknowledged by `region` that no other replica showed it
    /// had received, in `others` (read when `region` lost its data): what
    /// the loss may take for good. Everything else had reached a peer and
    /// must survive. A delete a peer holds nothing for is at risk, as it
    /// may never have arrived there ([`Self::reached_one`]); whether it
    /// was lost is judged at the end, by what the replicas hold then.
    pub fn at_risk(&self, region: &str, others: &[Heads]) -> BTreeSet<Version> {
        self.writes
            .values()
            .filter(|w| w.version.origin == region)
            .filter(|w| {
                !others
                    .iter()
                    .any(|h| self.reached_one(h, &w.table, &w.key, &w.version))
            })
            .map(|w| w.version.clone())
            .collect()
    }

    /// Per key, the newest acknowledged write outside `at_risk`: what a
    /// replica must hold (or something newer) to serve every write that
    /// survived a loss.
    pub fn surviving(
        &self,
        at_risk: &BTreeSet<Version>,
    ) -> BTreeMap<(String, EncodedKey), Version> {
        let mut out: BTreeMap<(String, EncodedKey), Version> = BTreeMap::new();
        for w in self
            .writes
            .values()
            .filter(|w| !at_risk.contains(&w.version))
        {
            let slot = out
                .entry((w.table.clone(), w.key.clone()))
                .or_insert_with(|| w.version.clone());
            if w.version > *slot {
                *slot = w.version.clone();
            }
        }
        out
    }

    /// Whether `heads` holds every version of `needed`, or something newer
    /// for its key: a replica that serves every write that survived a loss.
    /// Judged with what the oracle knows now: a key held nothing for may
    /// have been deleted since (`holds_one`).
    pub fn holds(&self, heads: &Heads, needed: &BTreeMap<(String, EncodedKey), Version>) -> bool {
        self.lacking(heads, needed, 1).is_empty()
    }

    /// The versions of `needed` that `heads` does not hold.
    pub fn lacking_versions(
        &self,
        heads: &Heads,
        needed: &BTreeMap<(String, EncodedKey), Version>,
    ) -> Vec<Version> {
        needed
            .iter()
            .filter(|((table, key), v)| !self.holds_one(heads, table, key, v))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether the acknowledged write `version` lost to a TTL delete
    /// ([`Self::note_expiries`]).
    pub fn lost_to_expiry(&self, version: &Version) -> bool {
        self.lost_to_expiry.contains(version)
    }

    /// Up to `most` writes of `needed` that `heads` does not hold, as
    /// `key at version`: what a region that never recovered still lacks.
    pub fn lacking(
        &self,
        heads: &Heads,
        needed: &BTreeMap<(String, EncodedKey), Version>,
        most: usize,
    ) -> Vec<String> {
        needed
            .iter()
            .filter(|((table, key), v)| !self.holds_one(heads, table, key, v))
            .take(most)
            .map(|((table, key), v)| format!("{} at {v}", show_key(table, key)))
            .collect()
    }

    /// Removes and returns, oldest first, the writes of `at_risk` that no
    /// replica of `finals` holds, nor anything newer for their key: the
    /// writes lost for good (the drill's RPO). The checks that follow then
    /// judge the replicas by what survived.
    pub fn remove_lost(
        &mut self,
        at_risk: &BTreeSet<Version>,
        finals: &[&Heads],
    ) -> Vec<AckedWrite> {
        let lost: Vec<Version> = at_risk
            .iter()
            .filter(|v| {
                self.writes.get(*v).is_some_and(|w| {
                    !finals
                        .iter()
                        .any(|h| self.holds_one(h, &w.table, &w.key, &w.version))
                })
            })
            .cloned()
            .collect();
        let lost: Vec<AckedWrite> = lost.iter().filter_map(|v| self.writes.remove(v)).collect();
        for w in &lost {
            if let Some(e) = self.expiring.get_mut(&(w.table.clone(), w.key.clone())) {
                e.remove(&w.version);
            }
        }
        for w in lost.iter().filter(|w| w.image.is_none()) {
            if let Some(d) = self.deletes.get_mut(&(w.table.clone(), w.key.clone())) {
                d.remove(&w.version);
            }
        }
        lost
    }

    /// Checks one replica's heads against the acknowledged writes.
    ///
    /// `strict`: every write was acknowledged, so each head must be exactly
    /// the oracle's winner and no other key may exist. Otherwise (a crash cut
    /// some acknowledgements off) a head may be a newer unacknowledged write,
    /// but never older than the newest acknowledged one: nothing acknowledged
    /// may be lost.
    pub fn check_replica(&self, region: &str, heads: &Heads, strict: bool, verdict: &mut Verdict) {
        let expected = self.expected();
        for ((table, key), h) in heads {
            if let Some(w) = self.retired.get(&h.version).filter(|w| w.table == *table) {
                verdict.fail(format!(
                    "{region}: {}: holds {}, written to the table before it was deleted and created again",
                    show_key(table, key),
                    w.version
                ));
            }
        }
        for ((table, key), want) in &expected {
            verdict.keys_checked += 1;
            let at = show_key(table, key);
            match heads.get(&(table.clone(), key.clone())) {
                // A delete whose tombstone every region held, since purged.
                None if want.image.is_none() => {}
                // A delete no client saw the outcome of may have followed.
                None if !strict && self.uncertain_deletes.contains(&(table.clone(), key.clone())) => {}
                // It expired, or lost to an expiry, and the TTL delete's
                // tombstone was purged.
                None if self.expiring_since(table, key, &want.version)
                    || self.lost_to_expiry.contains(&want.version) => {}
                None => verdict.fail(format!(
                    "{region}: {at}: acknowledged write {} is missing",
                    want.version
                )),
                Some(h) if h.version == want.version => {
                    if h.image != want.image {
                        verdict.fail(format!("{region}: {at}: version {} holds a different item", h.version));
                    }
                    match (self.expiry_of(want), self.reaped_by) {
                        (Some(exp), Some(by)) if exp <= by && h.image.is_some() => verdict.fail(format!(
                            "{region}: {at}: {} expired at {exp} s but is still live: no reaper deleted it, or it came back",
                            h.version
                        )),
                        _ => {}
                    }
                }
                // A TTL delete no client saw, of an item whose time had come.
                Some(h) if h.version > want.version && h.image.is_none() && self.expired_by(table, key, &h.version) => {}
                Some(h) if h.version < want.version => verdict.fail(format!(
                    "{region}: {at}: holds {} but {} was acknowledged: an acknowledged write was lost",
                    h.version, want.version
                )),
                Some(h) if strict => verdict.fail(format!(
                    "{region}: {at}: holds {} which no client saw acknowledged (newest acknowledged {})",
                    h.version, want.version
                )),
                Some(_) => {}
            }
        }
        if strict {
            for (table, key) in heads.keys() {
                if !expected.contains_key(&(table.clone(), key.clone())) {
                    verdict.fail(format!(
                        "{region}: {}: exists but was never written",
                        show_key(table, key)
                    ));
                }
            }
        }
    }

    /// Whether `later`'s history (itself and its chain of `prev`s, as clients
    /// saw them acknowledged) contains `earlier`. `None` when the chain runs
    /// into a write no client saw acknowledged.
    fn descends(&self, later: &Version, earlier: &Version) -> Option<bool> {
        let mut at = later;
        loop {
            if at == earlier {
                return Some(true);
            }
            if at < earlier {
                return Some(false);
            }
            let w = self.acked(at)?;
            match w.prev.as_ref() {
                Some(p) => at = p,
                None => return Some(w.seen_through.is_some_and(|h| earlier.hlc <= h)),
            }
        }
    }

    /// Acknowledged writes that were overwritten without being seen: not the
    /// final winner of their key, and no write replaced them while holding
    /// them, nor was written over their purged delete (`seen_through`).
    /// A write whose item carried an expiry is not among them: its expiry
    /// may be what replaced it, a delete no client saw.
    pub fn lost_updates(&self) -> BTreeSet<Version> {
        let finals: BTreeSet<&Version> = self.expected().values().map(|w| &w.version).collect();
        let replaced: BTreeSet<&Version> = self
            .writes
            .values()
            .filter_map(|w| w.prev.as_ref())
            .collect();
        let mut seen: BTreeMap<(&str, &EncodedKey), Timestamp> = BTreeMap::new();
        for w in self.writes.values() {
            if let Some(h) = w.seen_through {
                let slot = seen.entry((&w.table, &w.key)).or_insert(h);
                *slot = (*slot).max(h);
            }
        }
        self.writes
            .values()
            .filter(|w| {
                !finals.contains(&w.version)
                    && !replaced.contains(&w.version)
                    && self.expiry_of(w).is_none()
                    && seen
                        .get(&(w.table.as_str(), &w.key))
                        .is_none_or(|h| w.version.hlc > *h)
            })
            .map(|w| w.version.clone())
            .collect()
    }

    /// Checks recorded conflicts against the conflict rule
    /// (docs/conflicts.md#the-rule): the two writes were
    /// concurrent (neither is in the other's history, judged from the `prev`
    /// chains clients saw acknowledged, not from what the record claims), the
    /// winner is the greater version, and both images are the ones written.
    /// In strict mode, also that every lost update was recorded somewhere.
    pub fn check_conflicts(&self, conflicts: &[Conflict], strict: bool, verdict: &mut Verdict) {
        let mut losers = BTreeSet::new();
        for c in conflicts {
            verdict.conflicts_checked += 1;
            let at = format!(
                "{}: conflict on {}",
                c.detected_by,
                show_key(&c.table, &c.key)
            );
            if c.winner <= c.loser {
                verdict.fail(format!(
                    "{at}: winner {} is not greater than loser {}",
                    c.winner, c.loser
                ));
            }
            let (w, l) = (self.acked(&c.winner), self.acked(&c.loser));
            match (w, l) {
                (Some(w), Some(l)) => {
                    let seen = (
                        self.descends(&w.version, &l.version),
                        self.descends(&l.version, &w.version),
                    );
                    if matches!(seen, (Some(true), _) | (_, Some(true))) {
                        verdict.fail(format!(
                            "{at}: {} and {} are not concurrent: one descends from the other",
                            w.version, l.version
                        ));
                    }
                    if self.retired.contains_key(&w.version)
                        != self.retired.contains_key(&l.version)
                    {
                        verdict.fail(format!(
                            "{at}: {} and {} were written to different incarnations of the table",
                            w.version, l.version
                        ));
                    }
                    if w.image != c.winner_image || l.image != c.loser_image {
                        verdict.fail(format!("{at}: recorded images differ from the writes"));
                    }
                    if (&w.table, &w.key) != (&c.table, &c.key)
                        || (&l.table, &l.key) != (&c.table, &c.key)
                    {
                        verdict.fail(format!("{at}: versions belong to other keys"));
                    }
                }
                // A TTL delete (no client saw it) of an item whose time had
                // come, against a write made without seeing it.
                (Some(_), None)
                    if c.loser_image.is_none() && self.expired_by(&c.table, &c.key, &c.loser) => {}
                (None, Some(_))
                    if c.winner_image.is_none() && self.expired_by(&c.table, &c.key, &c.winner) => {
                }
                _ if strict => verdict.fail(format!(
                    "{at}: involves a version no client saw acknowledged ({} vs {})",
                    c.winner, c.loser
                )),
                _ => {}
            }
            losers.insert(c.loser.clone());
        }
        verdict.lost_updates = losers.iter().filter(|l| self.acked(l).is_some()).count();
        let expected = self.lost_updates();
        verdict.expected_lost_updates = expected.len();
        if strict {
            for lost in expected.difference(&losers) {
                verdict.fail(format!("lost update {lost} was recorded by no region"));
            }
        }
    }
}

/// Checks that every replica holds the same heads; reports the first differences.
pub fn check_converged(replicas: &[(String, Heads)], verdict: &mut Verdict) {
    let Some((first_name, first)) = replicas.first() else {
        return;
    };
    for (name, heads) in &replicas[1..] {
        if heads == first {
            continue;
        }
        let keys: BTreeSet<_> = first.keys().chain(heads.keys()).collect();
        for k in keys {
            // A tombstone and nothing read the same: one region has purged
            // a delete that another still holds (docs/repair.md).
            let purged = |x: Option<&Head>, y: Option<&Head>| {
                x.is_none() && y.is_some_and(|h| h.image.is_none())
            };
            let (a, b) = (first.get(k), heads.get(k));
            if a != b && !purged(a, b) && !purged(b, a) {
                verdict.fail(format!(
                    "{first_name} and {name} differ on {}: {:?} vs {:?}",
                    show_key(&k.0, &k.1),
                    a.map(|h| h.version.to_string()),
                    b.map(|h| h.version.to_string())
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::{AttrValue, Timestamp};

    fn v(p: u64, o: &str) -> Version {
        Version::new(Timestamp::new(p, 0), o)
    }

    fn key(k: &str) -> EncodedKey {
        EncodedKey {
            partition: k.as_bytes().to_vec(),
            sort: vec![],
        }
    }

    fn item(s: &str) -> Option<Item> {
        Some(
            [("v".to_string(), AttrValue::S(s.into()))]
                .into_iter()
                .collect(),
        )
    }

    /// A conflict on key `k` of table `t`, as region `by` records it.
    fn conflict(by: &str, win: &AckedWrite, lose: &AckedWrite) -> Conflict {
        Conflict {
            detected_by: by.into(),
            table: "t".into(),
            key: key("k"),
            winner: win.version.clone(),
            winner_image: win.image.clone(),
            loser: lose.version.clone(),
            loser_image: lose.image.clone(),
            detected_real_micros: 0,
        }
    }

    fn w(p: u64, o: &str, prev: Option<Version>, img: &str) -> AckedWrite {
        AckedWrite {
            table: "t".into(),
            key: key("k"),
            version: v(p, o),
            prev,
            image: item(img),
            seen_through: None,
        }
    }

    fn heads_of(write: &AckedWrite) -> Heads {
        [(
            ("t".to_string(), key("k")),
            Head {
                version: write.version.clone(),
                image: write.image.clone(),
            },
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_write_that_reached_a_peer_is_not_at_risk_and_one_that_did_not_is_lost_only_if_gone_everywhere()
     {
        let mut o = Oracle::new();
        let shipped = w(1, "a-1", None, "x");
        let unshipped = w(2, "a-1", Some(shipped.version.clone()), "y");
        let elsewhere = AckedWrite {
            key: key("j"),
            ..w(3, "b-1", None, "z")
        };
        for x in [&shipped, &unshipped, &elsewhere] {
            o.record(x.clone());
        }
        // At the loss, the peer holds the first write of a-1 only.
        let mut peer = heads_of(&shipped);
        peer.extend(
            heads_of(&elsewhere)
                .into_values()
                .map(|h| (("t".to_string(), key("j")), h)),
        );
        let risk = o.at_risk("a-1", std::slice::from_ref(&peer));
        assert_eq!(risk, BTreeSet::from([unshipped.version.clone()]));
        // What must survive: per key, the newest write outside the risk.
        let needed = o.surviving(&risk);
        assert_eq!(needed[&("t".to_string(), key("k"))], shipped.version);
        assert!(o.holds(&peer, &needed));
        assert!(!o.holds(&heads_of(&elsewhere), &needed));

        // Held somewhere at the end: not lost, and nothing is removed.
        let mut kept = o.clone();
        assert!(kept.remove_lost(&risk, &[&heads_of(&unshipped)]).is_empty());
        assert_eq!(kept.len(), 3);
        // Held nowhere: lost for good, and the checks judge the rest.
        let lost = o.remove_lost(&risk, &[&peer, &peer]);
        assert_eq!(lost, vec![unshipped]);
        let mut v = Verdict::default();
        o.check_replica("a-1", &peer, false, &mut v);
        assert!(v.ok(), "{:?}", v.problems);
    }

    /// Seed 880044 of the sweep: a region lost power with a delete no
    /// peer had received, on a key the peers held nothing for (the table
    /// had just been created again). Their holding nothing did not show
    /// the delete had reached them, though it counted so, and the delete
    /// was then both "survived" and lost.
    #[test]
    fn a_delete_no_peer_shows_it_received_is_at_risk_and_lost_if_an_older_write_remains() {
        let mut o = Oracle::new();
        let put = w(1, "b-1", None, "x");
        let delete = AckedWrite {
            image: None,
            ..w(2, "a-1", Some(put.version.clone()), "")
        };
        o.record(put.clone());
        o.record(delete.clone());
        // The peer holds nothing for the key: the delete is at risk.
        let nothing = Heads::new();
        let risk = o.at_risk("a-1", std::slice::from_ref(&nothing));
        assert_eq!(risk, BTreeSet::from([delete.version.clone()]));
        // Nothing anywhere at the end: the delete's effect stands.
        assert!(o.clone().remove_lost(&risk, &[&nothing]).is_empty());
        // Every replica holds the older write at the end: the delete was lost.
        let lost = o.remove_lost(&risk, &[&heads_of(&put), &heads_of(&put)]);
        assert_eq!(lost, vec![delete]);
        // A delete a peer holds the tombstone of reached it.
        let mut o = Oracle::new();
        let delete = AckedWrite {
            image: None,
            ..w(2, "a-1", None, "")
        };
        o.record(delete.clone());
        assert!(o.at_risk("a-1", &[heads_of(&delete)]).is_empty());
    }

    #[test]
    fn detects_lost_acknowledged_write_and_divergence() {
        let mut o = Oracle::new();
        let a = w(1, "a-1", None, "a");
        let b = w(2, "b-1", None, "b");
        o.record(a.clone());
        o.record(b.clone());
        let mut ok = Verdict::default();
        o.check_replica("r", &heads_of(&b), true, &mut ok);
        assert!(ok.ok(), "{:?}", ok.problems);
        let mut lost = Verdict::default();
        o.check_replica("r", &heads_of(&a), true, &mut lost);
        assert!(!lost.ok());
        let mut diverged = Verdict::default();
        check_converged(
            &[("x".into(), heads_of(&a)), ("y".into(), heads_of(&b))],
            &mut diverged,
        );
        assert!(!diverged.ok());
    }

    #[test]
    fn conflict_records_must_be_concurrent_and_won_by_the_greater_version() {
        let mut o = Oracle::new();
        let a = w(1, "a-1", None, "a");
        let b = w(2, "b-1", None, "b");
        let c = w(3, "a-1", Some(v(2, "b-1")), "c");
        for x in [&a, &b, &c] {
            o.record(x.clone());
        }
        let record = |win: &AckedWrite, lose: &AckedWrite| conflict("r", win, lose);
        let mut good = Verdict::default();
        o.check_conflicts(&[record(&b, &a)], true, &mut good);
        assert!(good.ok(), "{:?}", good.problems);
        assert_eq!(good.lost_updates, 1);
        assert_eq!(
            good.expected_lost_updates, 1,
            "a lost to b; b was replaced by c, which saw it"
        );
        let mut unrecorded = Verdict::default();
        o.check_conflicts(&[], true, &mut unrecorded);
        assert!(
            !unrecorded.ok(),
            "a lost update nobody recorded must fail the check"
        );
        let mut wrong_winner = Verdict::default();
        o.check_conflicts(&[record(&a, &b)], true, &mut wrong_winner);
        assert!(!wrong_winner.ok());
        let mut not_concurrent = Verdict::default();
        o.check_conflicts(&[record(&c, &b)], true, &mut not_concurrent);
        assert!(!not_concurrent.ok());
    }

    #[test]
    fn a_purged_tombstone_reads_as_the_delete_it_was_and_nothing_else() {
        let mut o = Oracle::new();
        let put = w(1, "a-1", None, "x");
        let del = AckedWrite {
            image: None,
            ..w(2, "a-1", Some(put.version.clone()), "")
        };
        o.record(put.clone());
        o.record(del.clone());
        let purged = Heads::new();
        let mut v = Verdict::default();
        o.check_replica("r", &purged, true, &mut v);
        assert!(v.ok(), "{:?}", v.problems);
        let mut v = Verdict::default();
        check_converged(
            &[("a".into(), heads_of(&del)), ("b".into(), purged.clone())],
            &mut v,
        );
        assert!(v.ok(), "{:?}", v.problems);
        // A live item is never excused by a missing key, nor a different tombstone.
        let mut v = Verdict::default();
        check_converged(
            &[("a".into(), heads_of(&put)), ("b".into(), purged)],
            &mut v,
        );
        assert!(!v.ok());
        let other = AckedWrite {
            image: None,
            ..w(3, "b-1", None, "")
        };
        let mut v = Verdict::default();
        check_converged(
            &[("a".into(), heads_of(&del)), ("b".into(), heads_of(&other))],
            &mut v,
        );
        assert!(!v.ok());
        // Missing where a live item was acknowledged last is still a loss.
        let mut live = Oracle::new();
        live.record(put);
        let mut v = Verdict::default();
        live.check_replica("r", &Heads::new(), true, &mut v);
        assert!(!v.ok());
    }

    fn expiring(p: u64, o: &str, prev: Option<Version>, exp: u64) -> AckedWrite {
        let mut x = w(p, o, prev, "e");
        if let Some(i) = x.image.as_mut() {
            i.insert(
                "exp".into(),
                AttrValue::N(meridian_core::Number::parse(&exp.to_string(), "exp").unwrap()),
            );
        }
        x
    }

    fn tombstone(p: u64, o: &str) -> Heads {
        [(
            ("t".to_string(), key("k")),
            Head {
                version: v(p, o),
                image: None,
            },
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn an_expired_item_may_be_gone_but_not_still_live_nor_deleted_early() {
        const S: u64 = 1_000_000;
        let mut o = Oracle::new();
        o.expire_on("exp");
        // Written at 10 s, expiring at 12 s.
        let x = expiring(10 * S, "a-1", None, 12);
        o.record(x.clone());
        o.reaped_by(14);
        let check = |o: &Oracle, heads: &Heads| {
            let mut v = Verdict::default();
            o.check_replica("r", heads, true, &mut v);
            v
        };
        // Reaped: a TTL tombstone at 12.3 s that no client saw, or
        // nothing once it was purged. Neither is a lost update.
        assert!(check(&o, &tombstone(12 * S + 300_000, "b-1")).ok());
        assert!(check(&o, &Heads::new()).ok());
        let mut c = Verdict::default();
        o.check_conflicts(&[], true, &mut c);
        assert!(c.ok() && c.expected_lost_updates == 0, "{:?}", c);
        // Still live after its time: no reaper deleted it, or it came back.
        assert!(!check(&o, &heads_of(&x)).ok());
        // A tombstone from before its time (beyond the second of slack)
        // is no expiry.
        assert!(!check(&o, &tombstone(10 * S + 500_000, "b-1")).ok());
        // An older version back in its place is a loss, expiry or not.
        let mut o2 = Oracle::new();
        o2.expire_on("exp");
        let older = w(9 * S, "a-1", None, "old");
        o2.record(older.clone());
        o2.record(expiring(10 * S, "a-1", Some(older.version.clone()), 12));
        assert!(!check(&o2, &heads_of(&older)).ok());
        // Without an expiry, an unacknowledged tombstone is still refused,
        // and so is absence.
        let mut plain = Oracle::new();
        plain.expire_on("exp");
        plain.record(w(10 * S, "a-1", None, "p"));
        assert!(!check(&plain, &tombstone(13 * S, "b-1")).ok());
        assert!(!check(&plain, &Heads::new()).ok());
    }

    #[test]
    fn a_ttl_delete_that_beat_a_concurrent_write_is_a_conflict_the_checker_accepts() {
        const S: u64 = 1_000_000;
        let mut o = Oracle::new();
        o.expire_on("exp");
        let x = expiring(10 * S, "a-1", None, 12);
        // Written in b-1 without seeing x, before the expiry reached it.
        let y = w(12 * S, "b-1", None, "y");
        o.record(x.clone());
        o.record(y.clone());
        let ttl = v(12 * S + 500_000, "a-1");
        let record = Conflict {
            detected_by: "b-1".into(),
            table: "t".into(),
            key: key("k"),
            winner: ttl.clone(),
            winner_image: None,
            loser: y.version.clone(),
            loser_image: y.image.clone(),
            detected_real_micros: 0,
        };
        let mut good = Verdict::default();
        o.check_conflicts(std::slice::from_ref(&record), true, &mut good);
        assert!(good.ok(), "{:?}", good.problems);
        assert_eq!(good.lost_updates, 1);
        let mut v = Verdict::default();
        o.check_replica("r", &tombstone(12 * S + 500_000, "a-1"), true, &mut v);
        assert!(v.ok(), "{:?}", v.problems);
        // Once that tombstone is purged, the key is empty: the checker
        // takes it only after seeing y lose to the expiry.
        let mut v = Verdict::default();
        o.check_replica("r", &Heads::new(), true, &mut v);
        assert!(!v.ok(), "y is the newest acknowledged write");
        o.note_expiries(std::slice::from_ref(&record));
        let mut v = Verdict::default();
        o.check_replica("r", &Heads::new(), true, &mut v);
        assert!(v.ok(), "{:?}", v.problems);
        // The same record with a live winner no client saw is refused.
        let forged = Conflict {
            winner_image: y.image.clone(),
            ..record
        };
        let mut bad = Verdict::default();
        o.check_conflicts(&[forged], true, &mut bad);
        assert!(!bad.ok());
    }

    #[test]
    fn retired_writes_check_out_in_conflicts_but_no_replica_may_hold_one() {
        let mut o = Oracle::new();
        let a = w(10, "a-1", None, "a");
        let b = w(11, "b-1", None, "b");
        o.record(a.clone());
        o.record(b.clone());
        o.retire("t");
        assert_eq!(o.retired(), 2);
        let fresh = w(20, "a-1", None, "fresh");
        o.record(fresh.clone());
        let record = |win: &AckedWrite, lose: &AckedWrite| conflict("b-1", win, lose);
        // The old table's conflict still checks out.
        let mut good = Verdict::default();
        o.check_conflicts(&[record(&b, &a)], true, &mut good);
        assert!(good.ok(), "{:?}", good.problems);
        // One across incarnations does not.
        let mut mixed = Verdict::default();
        o.check_conflicts(&[record(&fresh, &b)], true, &mut mixed);
        assert!(!mixed.ok());
        // The new table holds the new write; an old one is a resurrection.
        let mut ok = Verdict::default();
        o.check_replica("r", &heads_of(&fresh), true, &mut ok);
        assert!(ok.ok(), "{:?}", ok.problems);
        let mut back = Verdict::default();
        let mut o2 = Oracle::new();
        o2.record(b.clone());
        o2.retire("t");
        o2.check_replica("r", &heads_of(&b), false, &mut back);
        assert!(!back.ok());
        assert!(back.problems[0].contains("deleted and created again"));
    }
}
