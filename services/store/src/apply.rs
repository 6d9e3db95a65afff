//! The remote apply path: a batch of a peer's [`Mutation`]s, applied in its
//! log order, unit by unit, each mutation decided by
//! [`meridian_core::resolve`] against the key's head.

use meridian_core::{
    CATALOG_TABLE, Context, Head, Hlc, Mutation, TableDef, Version, decode_item, resolve,
};
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::group::{Group, GroupTxn};
use crate::heads::HeadRow;
use crate::peer_batch::{PeerBatch, Skipped, Skips};

/// The apply path's promise, checked in debug builds where a version is
/// about to replace a head: last-writer-wins on (HLC, origin region) lets
/// a version replace only an older one, so replicas that saw the same
/// writes in any order hold the same head.
fn lww_holds(current: Option<&Version>, incoming: &Version) {
    debug_assert!(
        current.is_none_or(|c| c < incoming),
        "invariant broken: version {incoming} would replace the newer {}",
        current.map_or(String::new(), |c| c.to_string())
    );
}

#[derive(Clone, Debug, Default)]
pub struct ApplyOutcome {
    /// The sender position durably applied once the group commits.
    pub applied_through: u64,
    pub applied: usize,
    pub duplicates: usize,
    /// Mutations for a table that was deleted after they were written.
    pub dropped: usize,
    pub conflicts: usize,
    /// Writes for keys this region holds nothing for, at or below its
    /// purge horizon: a tombstone purged here overwrote them, so they are
    /// dropped rather than bring a deleted item back.
    pub superseded: usize,
    /// Why the entries after `applied_through` were refused; the sender retries them.
    pub refused: Option<String>,
    /// When the drift guard refused them: how far ahead of this region's
    /// physical clock the refused entry's version was, µs.
    pub drift_ahead_micros: Option<u64>,
    /// What kind of refusal `refused` is, for metrics.
    pub refusal: Option<Refusal>,
    /// A catalog change was applied, and logged to be relayed.
    pub relayed: bool,
    /// Relayed catalog entries left for their origin to bring: each would
    /// delete or replace a table this region holds, and only the region
    /// that made it is believed (see [`Group::apply`]). Counted as applied
    /// through, so the relaying link goes on.
    pub left_to_origin: usize,
    /// Entries skipped, per reason (the batch's [`PeerBatch::skips`]);
    /// counted as applied through.
    pub skipped: Skipped,
    /// Real-time delivery latency of each processed entry, in µs.
    pub latencies_micros: Vec<u64>,
}

/// Why an entry was refused for now; the sender retries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its version is further ahead of this region's clock than the drift
    /// guard allows.
    DriftGuard,
    /// Its table, or the incarnation it was written under, is not known
    /// here yet.
    TableNotReady,
}

impl Refusal {
    /// The metric label of the refusal.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::DriftGuard => "drift_guard",
            Refusal::TableNotReady => "table_not_ready",
        }
    }
}

impl Group<'_> {
    /// Applies a batch of a peer's log in order: LWW per mutation,
    /// conflicts recorded, the sender's position advanced. Stops at the first entry the
    /// drift guard refuses, so the sender can retry it later.
    ///
    /// The entries come from a peer: every version, context and image is
    /// decoded here before it counts, and a malformed one fails the batch
    /// with [`StoreError::Invalid`] (the receiver has usually refused it
    /// already).
    ///
    /// Catalog changes are relayed, so `peer` may send another region's;
    /// but nothing proves that region made it, and a forged one would
    /// delete a table everywhere under an innocent name. So a relayed
    /// change (its origin is not `peer`) that would delete or replace a
    /// table definition this region holds live is left to its origin
    /// (`left_to_origin`): skipped with the rest of its unit, and counted
    /// as applied through, so the relaying link goes on. The origin's own
    /// stream, which mutual TLS binds to the origin and which ships every
    /// entry of its log to every peer, or a repair round brings it; a
    /// forgery never comes. Relayed changes that destroy nothing (a table
    /// new here, a losing version, a duplicate) pass at once, so a region
    /// still learns a table from whichever peer brings it first.
    ///
    /// `batch.released` is partition order's (its field's doc).
    /// The entries of a table in `batch.skips` are skipped: counted as
    /// applied through, so the link goes on with the other tables, and in
    /// `skipped` under their reason; what they carried comes back by
    /// repair rounds once the reason ends. Catalog changes are never
    /// skipped.
    pub fn apply(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        batch: &PeerBatch,
    ) -> Result<ApplyOutcome, StoreError> {
        self.isolated(|ctx| ctx.apply(hlc, real_now, batch))
    }

    /// Applies heads a peer sent to repair this region (anti-entropy, see
    /// docs/repair.md): each entry on its own, by the same admission and
    /// LWW decision as [`Group::apply`], but outside any log, so no
    /// sender position moves and `seq` is not read. Stops at the first
    /// entry refused (its table is not known here yet, or the drift guard),
    /// reported in `refused`; the caller repairs `$catalog` first so items
    /// find their tables. `latencies_micros` means nothing here: a head's
    /// `commit_real` is its version's time, not a delivery.
    pub fn repair(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        entries: &[Mutation],
    ) -> Result<ApplyOutcome, StoreError> {
        self.isolated(|ctx| ctx.repair(hlc, real_now, entries))
    }
}

impl GroupTxn<'_, '_> {
    fn apply(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        batch: &PeerBatch,
    ) -> Result<ApplyOutcome, StoreError> {
        let PeerBatch {
            peer,
            log_id,
            released,
            ..
        } = batch;
        let (peer, released) = (peer.as_str(), *released);
        let (start, new_log) = self.inbound_position(peer, log_id)?;
        let mut out = ApplyOutcome {
            applied_through: start,
            ..Default::default()
        };
        let refused_at = self.apply_units(hlc, real_now, batch, &mut out)?;
        if let Some(through) = released {
            // Only the prefix below the unit of the first refused entry is
            // known whole.
            let through = refused_at.map_or(through, |r| through.min(r - 1));
            out.applied_through = start.max(through);
        }
        debug_assert!(
            out.applied_through >= start,
            "invariant broken: {peer}'s log {log_id} applied through {start} would move back to {}",
            out.applied_through
        );
        if out.applied_through > start || new_log {
            self.set_inbound(peer, log_id, out.applied_through)?;
        }
        Ok(out)
    }

    /// Applies `batch`'s entries unit by unit into `out`, skipping the
    /// units already applied through, until a unit is refused. Answers
    /// the position the refused unit starts at, if one was, for a
    /// released batch's applied-through to stop below it.
    fn apply_units(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        batch: &PeerBatch,
        out: &mut ApplyOutcome,
    ) -> Result<Option<u64>, StoreError> {
        let PeerBatch {
            peer,
            entries,
            released,
            skips,
            ..
        } = batch;
        let peer = peer.as_str();
        let mut gate = GateCache::default();
        // Per admitted entry of the current unit: its version, or `None`
        // when its table is gone.
        let mut admitted = Vec::new();
        let mut refused_at = None;
        let mut i = 0;
        while i < entries.len() {
            // A unit is one origin request: applied all or nothing. The
            // receiver checked that every unit is whole within the batch.
            // Released entries go one by one, as their lanes let them.
            let len = match released {
                Some(_) => 1,
                None => (entries[i].unit.1 as usize).clamp(1, entries.len() - i),
            };
            let unit = &entries[i..i + len];
            i += len;
            if unit[len - 1].seq <= out.applied_through {
                out.duplicates += len;
                continue;
            }
            // Every entry of the unit is admitted before any is written, so
            // a refused unit writes nothing and needs no savepoint. An error
            // after that point fails the whole apply, which the caller rolls back.
            let refusal = self.admit_unit(hlc, peer, skips, unit, &mut gate, &mut admitted, out)?;
            if let Some((kind, reason, drift)) = refusal {
                out.refused = Some(reason);
                out.refusal = Some(kind);
                out.drift_ahead_micros = drift;
                // Where its unit starts: a sender resumes after what is
                // recorded, and a batch must not start inside a unit.
                refused_at = Some(unit[0].seq.saturating_sub(u64::from(unit[0].unit.0)));
                break;
            }
            for (e, version) in unit.iter().zip(admitted.drain(..)) {
                self.apply_entry(real_now, e, version, out)?;
                if e.table == CATALOG_TABLE {
                    gate = GateCache::default();
                }
            }
        }
        Ok(refused_at)
    }

    /// Where `peer`'s log `log_id` is applied through here, and whether
    /// that log is new to this region: a position recorded in another log
    /// of the peer means nothing for this one.
    fn inbound_position(&self, peer: &str, log_id: &str) -> Result<(u64, bool), StoreError> {
        let known: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT log_id, applied FROM inbound WHERE peer = ?1")?
            .query_row([peer], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match known {
            Some((id, applied)) if id == log_id => (applied as u64, false),
            _ => (0, true),
        })
    }

    /// Admits every entry of `unit` before any is written, into
    /// `admitted` (cleared first: per entry its version, or `None` when it
    /// is not written), counting what it skips in `out`. Answers the
    /// refusal that stops the apply at this unit, if any; a unit holding a
    /// relayed catalog change left to its origin is not written at all.
    #[allow(clippy::too_many_arguments)]
    fn admit_unit(
        &mut self,
        hlc: &Hlc,
        peer: &str,
        skips: &Skips,
        unit: &[Mutation],
        gate: &mut GateCache,
        admitted: &mut Vec<Option<Version>>,
        out: &mut ApplyOutcome,
    ) -> Result<Option<(Refusal, String, Option<u64>)>, StoreError> {
        admitted.clear();
        let mut refusal = None;
        let mut left = false;
        for e in unit {
            if e.table != CATALOG_TABLE
                && let Some(why) = skips.why(&e.table)
            {
                out.skipped.count(why);
                admitted.push(None);
                continue;
            }
            if self.strong_table(&e.table)? {
                // Never written: a STRONG table's items change only
                // through its log.
                admitted.push(None);
                continue;
            }
            match self.admit(hlc, e, gate, Some(peer))? {
                Admit::Refuse(kind, reason, drift) => {
                    refusal = Some((kind, reason, drift));
                    break;
                }
                Admit::Write(version) => admitted.push(Some(version)),
                Admit::Drop => admitted.push(None),
                Admit::LeaveToOrigin(reason) => {
                    tracing::info!(region = %self.region, %peer, %reason, "left a relayed catalog change to its origin");
                    left = true;
                    admitted.push(None);
                }
            }
        }
        if left {
            // The unit is one catalog change of its origin: none of
            // it here until the origin brings all of it.
            out.left_to_origin += admitted.len();
            admitted.iter_mut().for_each(|v| *v = None);
        }
        Ok(refusal)
    }

    fn repair(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        entries: &[Mutation],
    ) -> Result<ApplyOutcome, StoreError> {
        let mut out = ApplyOutcome::default();
        let mut gate = GateCache::default();
        for e in entries {
            if self.strong_table(&e.table)? {
                // A STRONG table's items change only through its log.
                out.dropped += 1;
                continue;
            }
            // Repair is how a change whose origin cannot be reached still
            // arrives: relayed catalog changes are not held back here.
            let version = match self.admit(hlc, e, &mut gate, None)? {
                Admit::Refuse(kind, reason, drift) => {
                    out.refused = Some(reason);
                    out.refusal = Some(kind);
                    out.drift_ahead_micros = drift;
                    break;
                }
                Admit::Write(version) => Some(version),
                // Never asked of a repair round, which names no sender.
                Admit::Drop | Admit::LeaveToOrigin(_) => None,
            };
            self.apply_entry(real_now, e, version, &mut out)?;
            if e.table == CATALOG_TABLE {
                gate = GateCache::default();
            }
        }
        out.applied_through = 0;
        out.latencies_micros.clear();
        Ok(out)
    }

    /// Whether `table` is a STRONG table here (docs/strong.md).
    fn strong_table(&mut self, table: &str) -> Result<bool, StoreError> {
        Ok(table != CATALOG_TABLE
            && self
                .table_def(table)?
                .is_some_and(|(d, _)| d.consistency.strong().is_some()))
    }

    /// Decides whether a remote entry can be applied now, without writing
    /// anything: the drift guard, whether its table is known here, and,
    /// for a catalog change `sender` relays (`None`: a repair round),
    /// whether it may come from anyone but its origin.
    fn admit(
        &mut self,
        hlc: &Hlc,
        e: &Mutation,
        gate: &mut GateCache,
        sender: Option<&str>,
    ) -> Result<Admit, StoreError> {
        let version = Version::from_bytes(&e.version).map_err(|x| invalid(e, "version", x))?;
        if let Err(err) = hlc.observe(version.hlc) {
            let ahead = match &err {
                meridian_core::HlcError::DriftRefused { ahead_micros, .. } => Some(*ahead_micros),
                meridian_core::HlcError::Exhausted(_) => None,
            };
            return Ok(Admit::Refuse(Refusal::DriftGuard, err.to_string(), ahead));
        }
        if e.table == CATALOG_TABLE {
            if let Some(sender) = sender
                && version.origin != sender
                && e.key.sort.is_empty()
                && let Some(what) = self.destroys_table(e, &version)?
            {
                let name = String::from_utf8_lossy(&e.key.partition);
                return Ok(Admit::LeaveToOrigin(format!(
                    "{sender} relayed a change by {} that would {what} table {name}, which this region holds; a change that deletes or replaces a table is taken only from the region that made it, through its own stream or a repair round",
                    version.origin
                )));
            }
            return Ok(Admit::Write(version));
        }
        let Some(table_version) = e.table_version.as_deref() else {
            return Err(StoreError::Corrupt(format!(
                "item mutation for {} without a table version",
                e.table
            )));
        };
        let cached = match gate.0.take() {
            Some(c) if c.0 == e.table && c.1 == table_version => c,
            _ => {
                let g = self.gate(e, table_version)?;
                (e.table.clone(), table_version.to_vec(), g)
            }
        };
        let admit = match &cached.2 {
            // A write across a disassociated replica's split after its cut
            // stays on its own side (`meridian_core::replicas::disassociate`).
            Gate::Apply(def)
                if !meridian_core::replicas::disassociate::carries(
                    def,
                    &version.origin,
                    self.region,
                    version.hlc.physical,
                ) =>
            {
                Admit::Drop
            }
            Gate::Apply(def) => {
                check_image_key(def, e)?;
                Admit::Write(version)
            }
            Gate::Drop => Admit::Drop,
            Gate::Retry(reason) => Admit::Refuse(Refusal::TableNotReady, reason.clone(), None),
        };
        gate.0 = Some(cached);
        Ok(admit)
    }

    /// Whether `e`, a table definition row at `version`, would delete
    /// (`Some("delete")`) or replace with another incarnation
    /// (`Some("replace")`) the live definition this region holds: what
    /// LWW would apply over it, and is not what is already there.
    fn destroys_table(
        &mut self,
        e: &Mutation,
        version: &Version,
    ) -> Result<Option<&'static str>, StoreError> {
        let Some(current) = self.head(CATALOG_TABLE, &e.key)? else {
            return Ok(None);
        };
        if current.image.is_none() || current.version == *version {
            return Ok(None);
        }
        let context = Context::from_bytes(&e.context).map_err(|x| invalid(e, "context", x))?;
        let decision = resolve(
            CATALOG_TABLE,
            Some(current.as_head()),
            Head {
                version,
                context: &context,
                expiry: e.ttl,
            },
        );
        Ok(decision.apply.then_some(if e.image.is_none() {
            "delete"
        } else {
            "replace"
        }))
    }

    /// Applies one remote entry admitted as `version` (`None`: its table is
    /// gone): LWW against the current head, as [`resolve`] decides, with any
    /// conflict it finds recorded.
    pub(crate) fn apply_entry(
        &mut self,
        real_now: u64,
        e: &Mutation,
        version: Option<Version>,
        out: &mut ApplyOutcome,
    ) -> Result<(), StoreError> {
        let Some(version) = version else {
            out.dropped += 1;
            out.applied_through = e.seq;
            return Ok(());
        };
        out.latencies_micros
            .push(real_now.saturating_sub(e.commit_real));
        let context = Context::from_bytes(&e.context).map_err(|x| invalid(e, "context", x))?;
        let current = self.head(&e.table, &e.key)?;
        if current.is_none() && self.purged(&e.table, &version)? {
            tracing::debug!(region = %self.region, table = %e.table, key = ?e.key, %version, "dropped a write a purged tombstone deleted");
            out.superseded += 1;
            out.applied_through = e.seq;
            return Ok(());
        }
        let decision = resolve(
            &e.table,
            current.as_ref().map(HeadRow::as_head),
            Head {
                version: &version,
                context: &context,
                expiry: e.ttl,
            },
        );
        if decision.duplicate {
            out.duplicates += 1;
        }
        if decision.conflict {
            let Some(c) = current.as_ref() else {
                return Err(StoreError::Corrupt(
                    "conflict without a current head".into(),
                ));
            };
            self.record_conflict(real_now, e, c, decision.apply)?;
            // With the stream, for a watch (docs/streams.md).
            self.mark_conflict(e, c, decision.apply)?;
            out.conflicts += 1;
        }
        if decision.apply {
            lww_holds(current.as_ref().map(|c| &c.version), &version);
            self.install(current.as_ref(), e, out)?;
        }
        out.applied_through = e.seq;
        Ok(())
    }

    /// Makes `e` the head of its key, replacing `current`: what an entry
    /// that won (last-writer-wins) or was chosen (strong mode) does.
    pub(crate) fn install(
        &mut self,
        current: Option<&HeadRow>,
        e: &Mutation,
        out: &mut ApplyOutcome,
    ) -> Result<(), StoreError> {
        let catalog = e.table == CATALOG_TABLE;
        if catalog {
            let name = String::from_utf8_lossy(&e.key.partition).into_owned();
            self.catalog.remove(&name);
            if e.key.sort.is_empty() {
                // A new incarnation or a deletion: nothing of the old table survives.
                self.purge_table(&name)?;
            }
            out.relayed = true;
        }
        self.put_head(current, e)?;
        if catalog {
            // Catalog changes are relayed, so a table reaches every
            // region before its items.
            self.append_log(e.clone())?;
        }
        out.applied += 1;
        Ok(())
    }

    /// Records that `e` and the head `current` of its key were concurrent;
    /// `e` won if `applied`.
    fn record_conflict(
        &self,
        real_now: u64,
        e: &Mutation,
        current: &HeadRow,
        applied: bool,
    ) -> Result<(), StoreError> {
        let current_version = current.version.to_bytes();
        let (winner, winner_image, loser, loser_image) = if applied {
            (
                &e.version,
                e.image.as_deref(),
                &current_version,
                current.image.as_deref(),
            )
        } else {
            (
                &current_version,
                current.image.as_deref(),
                &e.version,
                e.image.as_deref(),
            )
        };
        self.conn
            .prepare_cached(
                "INSERT INTO conflicts (tbl, pk, sk, winner, winner_image, loser, loser_image, detected_by, detected_real)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                e.table,
                e.key.partition,
                e.key.sort,
                winner,
                winner_image,
                loser,
                loser_image,
                self.region,
                real_now as i64
            ])?;
        self.conn
            .prepare_cached(
                "INSERT INTO conflict_counts (tbl, n) VALUES (?1, 1)
                 ON CONFLICT (tbl) DO UPDATE SET n = n + 1",
            )?
            .execute([&e.table])?;
        Ok(())
    }

    /// Whether `e`, an item mutation written under the table version
    /// `written_under` (its bytes), belongs to the table as this region
    /// knows it now.
    fn gate(&mut self, e: &Mutation, written_under: &[u8]) -> Result<Gate, StoreError> {
        let table = e.table.as_str();
        let written_under =
            Version::from_bytes(written_under).map_err(|x| invalid(e, "table_version", x))?;
        let catalog = self.head(CATALOG_TABLE, &TableDef::catalog_key(table))?;
        Ok(match catalog {
            None => Gate::Retry(format!("table {table} is not known here yet")),
            Some(c) if c.version == written_under => match self.table_def(table)? {
                Some((def, _)) if def.has_replica(self.region) => Gate::Apply(Box::new(def)),
                Some(_) => Gate::Drop,
                None => Gate::Drop,
            },
            Some(c) if c.version > written_under => Gate::Drop,
            Some(_) => Gate::Retry(format!(
                "table {table} was recreated; its definition has not arrived yet"
            )),
        })
    }
}

enum Gate {
    Apply(Box<TableDef>),
    Drop,
    Retry(String),
}

/// The gate of the last (table, table version bytes) seen in one apply:
/// entries of a batch mostly share a table, and the gate costs a catalog
/// lookup. Emptied whenever a catalog entry is applied.
#[derive(Default)]
struct GateCache(Option<(String, Vec<u8>, Gate)>);

/// What admission decided for one remote entry.
enum Admit {
    /// Apply it; its version, decoded.
    Write(Version),
    /// Its table incarnation is gone here: skipped, but counted as applied through.
    Drop,
    /// A relayed catalog change that would delete or replace a table held
    /// here: skipped with its unit, counted as applied through, and left
    /// for its origin to bring; why, for the log.
    LeaveToOrigin(String),
    /// Not now: what kind of refusal, the reason, and how far ahead the
    /// version was when the drift guard refused it.
    Refuse(Refusal, String, Option<u64>),
}

/// A field of entry `e` that does not decode.
fn invalid(e: &Mutation, field: &str, error: meridian_core::Error) -> StoreError {
    StoreError::Invalid(meridian_core::Error::invalid(
        field,
        format!("entry {}: {error}", e.seq),
    ))
}

/// A peer's entry must carry a key in this table's canonical form, and its
/// image must be filed under that key.
pub(crate) fn check_image_key(def: &TableDef, e: &Mutation) -> Result<(), StoreError> {
    let canonical = def
        .key_schema
        .key_attrs(&e.key)
        .and_then(|attrs| def.key_schema.key_from_attrs(&attrs));
    if canonical.as_ref() != Ok(&e.key) {
        return Err(StoreError::Invalid(meridian_core::Error::invalid(
            "key",
            format!(
                "entry {} has a key that is not valid for table {}",
                e.seq, def.name
            ),
        )));
    }
    if let Some(bytes) = &e.image {
        let item = decode_item(bytes)?;
        if def.key_schema.key_of(&item)? != e.key {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "image",
                format!("the item's key does not match the key of entry {}", e.seq),
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(physical: u64, origin: &str) -> Version {
        Version {
            hlc: meridian_core::Timestamp {
                physical,
                logical: 0,
            },
            origin: origin.into(),
        }
    }

    #[test]
    fn a_newer_version_or_a_new_key_passes_the_lww_check() {
        lww_holds(None, &version(1, "a"));
        lww_holds(Some(&version(1, "a")), &version(1, "b"));
        lww_holds(Some(&version(1, "b")), &version(2, "a"));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invariant broken: version")]
    fn an_older_version_replacing_a_head_fires_the_lww_check() {
        lww_holds(Some(&version(2, "a")), &version(1, "b"));
    }
}
