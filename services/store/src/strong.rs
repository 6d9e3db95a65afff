//! Strong mode's side of the store (docs/strong.md): each STRONG table's
//! consensus state and log (`strong_state`, `strong_log`), kept in the
//! same transactions as everything else so a promise or an acceptance is
//! durable when its group commits; the chosen entries applied to the items
//! as compare-and-sets, in log order, with the applied position moving in
//! the same transaction; and a write evaluated without being written, for
//! its mutations to be proposed.

use std::sync::Arc;

use meridian_core::strong::codec::{self, Writes};
use meridian_core::strong::{
    Ballot, Body, Durable, Generation, Index, LIVES_KEPT, MEMBERS, Persist, ProposalId, Slot,
};
use meridian_core::{Hlc, Mutation, TableDef, Version};
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::apply::ApplyOutcome;
use crate::group::{Group, GroupTxn};
use crate::read::Reader;
use crate::write::{ItemWrite, WriteResult};

/// A write worked out for proposing: what the client is answered once it
/// is chosen and applied, and the mutations with the live version each
/// key had.
#[derive(Clone, Debug)]
pub struct StrongEvaluated {
    pub results: Vec<WriteResult>,
    pub writes: Writes,
}

/// What applying one chosen entry did here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrongApplied {
    pub index: Index,
    pub id: ProposalId,
    /// A write whose keys still had the versions it was evaluated against,
    /// and so took effect; `false` for one that found a key moved on (its
    /// proposer evaluates it again) and for a rejoin.
    pub written: bool,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("strong mode: {what}"))
}

fn seen_bytes(seen: &[Option<Generation>; MEMBERS]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MEMBERS * 17);
    for s in seen {
        out.push(s.is_some() as u8);
        let g = s.unwrap_or_default();
        out.extend_from_slice(&g.counter.to_le_bytes());
        out.extend_from_slice(&g.nonce.to_le_bytes());
    }
    out
}

fn seen_from(b: &[u8]) -> Result<[Option<Generation>; MEMBERS], StoreError> {
    if b.len() != MEMBERS * 17 {
        return Err(corrupt("a seen record of the wrong size"));
    }
    Ok(std::array::from_fn(|m| {
        let c = &b[m * 17..(m + 1) * 17];
        (c[0] == 1).then(|| Generation {
            counter: u64::from_le_bytes(c[1..9].try_into().expect("8 bytes")),
            nonce: u64::from_le_bytes(c[9..17].try_into().expect("8 bytes")),
        })
    }))
}

/// A member's recorded lives: (counter, nonce) pairs, little-endian.
fn lives_bytes(lives: &[Generation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lives.len() * 16);
    for g in lives {
        out.extend_from_slice(&g.counter.to_le_bytes());
        out.extend_from_slice(&g.nonce.to_le_bytes());
    }
    out
}

fn lives_from(b: &[u8]) -> Result<Vec<Generation>, StoreError> {
    if !b.len().is_multiple_of(16) || b.len() / 16 > LIVES_KEPT {
        return Err(corrupt("a lives record of the wrong size"));
    }
    Ok(b.chunks_exact(16)
        .map(|c| Generation {
            counter: u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            nonce: u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
        })
        .collect())
}

impl Reader {
    /// The STRONG tables of the catalog, each with its definition in force
    /// and its incarnation.
    pub fn strong_catalog(&self) -> Result<Vec<(TableDef, Version)>, StoreError> {
        let names: Vec<Vec<u8>> = {
            let mut stmt = self.conn().prepare_cached(
                "SELECT pk FROM items WHERE tbl = ?1 AND sk = ?2 AND image IS NOT NULL",
            )?;
            let rows = stmt.query_map(
                params![
                    meridian_core::CATALOG_TABLE,
                    meridian_core::consistency::SORT_KEY
                ],
                |r| r.get(0),
            )?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for name in names {
            let Ok(name) = String::from_utf8(name) else {
                continue;
            };
            if let Some((def, v)) = self.table_def(&name)?
                && def.consistency.strong().is_some()
            {
                out.push((def, v));
            }
        }
        Ok(out)
    }

    /// The STRONG tables this store keeps consensus state for, with the
    /// incarnation each belongs to.
    pub fn strong_tables(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT tbl, incarnation FROM strong_state ORDER BY tbl")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A STRONG table's consensus state as stored, with its log, and the
    /// incarnation it belongs to.
    pub fn strong_durable(&self, table: &str) -> Result<Option<(Vec<u8>, Durable)>, StoreError> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT incarnation, promised_round, promised_leader, compacted, commit_idx, applied,
                        gen_counter, gen_nonce, rejoining, seen, lives
                 FROM strong_state WHERE tbl = ?1",
            )?
            .query_row([table], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, Vec<u8>>(9)?,
                    r.get::<_, Vec<u8>>(10)?,
                ))
            })
            .optional()?;
        let Some((inc, round, leader, compacted, commit, applied, gc, gn, rejoining, seen, lives)) =
            row
        else {
            return Ok(None);
        };
        let mut slots = Vec::new();
        let mut stmt = self.conn().prepare_cached(
            "SELECT idx, ballot_round, ballot_leader, entry FROM strong_log WHERE tbl = ?1 ORDER BY idx",
        )?;
        let rows = stmt.query_map([table], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        for row in rows {
            let (idx, round, leader, bytes) = row?;
            let (entry, _) = codec::decode(&bytes).map_err(corrupt)?;
            slots.push((
                idx as u64,
                Slot {
                    ballot: Ballot {
                        round: round as u64,
                        leader: leader as u8,
                    },
                    entry: Arc::new(entry),
                },
            ));
        }
        Ok(Some((
            inc,
            Durable {
                promised: Ballot {
                    round: round as u64,
                    leader: leader as u8,
                },
                slots,
                compacted: compacted as u64,
                commit: commit as u64,
                applied: applied as u64,
                generation: Generation {
                    counter: gc as u64,
                    nonce: gn as u64,
                },
                rejoining: rejoining != 0,
                seen: seen_from(&seen)?,
                lives: lives_from(&lives)?,
            },
        )))
    }
}

/// A snapshot of a STRONG table for [`Group::strong_step`] to install:
/// its incarnation, its position and its heads (`None` on the witness).
pub struct StrongInstall {
    pub incarnation: Vec<u8>,
    pub through: u64,
    pub heads: Option<Vec<Mutation>>,
}

impl Group<'_> {
    /// One step of a member made durable in this group: its state
    /// `changes`, then the snapshot `install` if any, then its chosen
    /// entries applied through `through` (one fsync for all). An install
    /// that fails fails the whole step, since the member has moved to the
    /// snapshot's position already; an apply that fails (a table whose
    /// replica row has not reached this region yet) is undone alone and
    /// reported as `Some(Err)`, the changes staying made.
    #[allow(clippy::type_complexity)]
    pub fn strong_step(
        &mut self,
        hlc: &Hlc,
        table: &str,
        changes: &[Persist],
        install: Option<&StrongInstall>,
        through: Option<Index>,
    ) -> Result<Option<Result<Vec<StrongApplied>, String>>, StoreError> {
        if !changes.is_empty() {
            self.strong_persist(table, changes)?;
        }
        if let Some(i) = install {
            self.strong_install(hlc, table, &i.incarnation, i.through, i.heads.as_deref())?;
        }
        Ok(through.map(|t| self.strong_apply(hlc, table, t).map_err(|e| e.to_string())))
    }

    /// Creates the consensus state of a table that has just become STRONG
    /// (its incarnation `incarnation`), unless it has one.
    ///
    /// The table is empty, but this region may hold tombstones of it from
    /// when it was EVENTUAL, which another member never had: they go, so
    /// every member starts from no heads at all and decides each chosen
    /// write's compare-and-set the same way (`strong_write`).
    pub fn strong_init(
        &mut self,
        table: &str,
        incarnation: &[u8],
        durable: &Durable,
    ) -> Result<(), StoreError> {
        self.isolated(|ctx| {
            let created = ctx
                .conn
                .prepare_cached(
                    "INSERT INTO strong_state (tbl, incarnation, promised_round, promised_leader, compacted,
                        commit_idx, applied, gen_counter, gen_nonce, rejoining, seen, lives)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (tbl) DO NOTHING",
                )?
                .execute(params![
                    table,
                    incarnation,
                    durable.promised.round as i64,
                    durable.promised.leader as i64,
                    durable.compacted as i64,
                    durable.commit as i64,
                    durable.applied as i64,
                    durable.generation.counter as i64,
                    durable.generation.nonce as i64,
                    durable.rejoining as i64,
                    seen_bytes(&durable.seen),
                    lives_bytes(&durable.lives),
                ])?;
            if created == 1 {
                ctx.drop_tombstones(table)?;
            }
            Ok(())
        })
    }

    /// Makes a member's state changes durable with this group.
    pub fn strong_persist(&mut self, table: &str, changes: &[Persist]) -> Result<(), StoreError> {
        self.isolated(|ctx| {
            for change in changes {
                ctx.strong_persist_one(table, change)?;
            }
            Ok(())
        })
    }

    /// Applies the chosen entries of `table` after its applied position
    /// through `through`, in order, each as a compare-and-set; the applied
    /// position moves with them. An entry whose table this region does not
    /// hold a replica of yet fails the whole apply, to be tried again: a
    /// member must apply every chosen entry, never skip one.
    pub fn strong_apply(
        &mut self,
        hlc: &Hlc,
        table: &str,
        through: Index,
    ) -> Result<Vec<StrongApplied>, StoreError> {
        self.isolated(|ctx| ctx.strong_apply(hlc, table, through))
    }

    /// Works out what `ops` on a STRONG table would write here, and writes
    /// nothing: the answer the client will get, and the mutations to
    /// propose with the live version each key had.
    pub fn strong_evaluate(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: &[ItemWrite],
    ) -> Result<StrongEvaluated, StoreError> {
        let evaluated = self.unguarded(|ctx| ctx.evaluate_ops(hlc, real_now, ops))?;
        // Each mutation expects the head it replaces, a tombstone
        // included: a write evaluated where its key held nothing must not
        // follow a delete chosen since, or versions would run backwards
        // along the log.
        let (mut results, mut mutations, mut expect) = (Vec::new(), Vec::new(), Vec::new());
        for (result, mutation) in evaluated {
            if let Some(m) = mutation {
                expect.push(result.prev.as_ref().map(Version::to_bytes));
                mutations.push(m);
            }
            results.push(result);
        }
        Ok(StrongEvaluated {
            results,
            writes: Writes { mutations, expect },
        })
    }
}

impl GroupTxn<'_, '_> {
    fn strong_persist_one(&mut self, table: &str, change: &Persist) -> Result<(), StoreError> {
        let set = |conn: &rusqlite::Connection, sql: &str, p: &[&dyn rusqlite::ToSql]| {
            conn.prepare_cached(sql)?.execute(p).map(|_| ())
        };
        match change {
            Persist::Promised(b) => set(
                self.conn,
                "UPDATE strong_state SET promised_round = ?2, promised_leader = ?3 WHERE tbl = ?1",
                &[&table, &(b.round as i64), &(b.leader as i64)],
            )?,
            Persist::Accepted(slots) => {
                for (idx, slot) in slots {
                    set(
                        self.conn,
                        "INSERT INTO strong_log (tbl, idx, ballot_round, ballot_leader, entry)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (tbl, idx) DO UPDATE SET ballot_round = excluded.ballot_round,
                            ballot_leader = excluded.ballot_leader, entry = excluded.entry",
                        &[
                            &table,
                            &(*idx as i64),
                            &(slot.ballot.round as i64),
                            &(slot.ballot.leader as i64),
                            &codec::encode(&slot.entry),
                        ],
                    )?;
                }
            }
            Persist::Commit(c) => set(
                self.conn,
                "UPDATE strong_state SET commit_idx = max(commit_idx, ?2) WHERE tbl = ?1",
                &[&table, &(*c as i64)],
            )?,
            Persist::Compacted(c) => {
                set(
                    self.conn,
                    "DELETE FROM strong_log WHERE tbl = ?1 AND idx <= ?2",
                    &[&table, &(*c as i64)],
                )?;
                set(
                    self.conn,
                    "UPDATE strong_state SET compacted = max(compacted, ?2) WHERE tbl = ?1",
                    &[&table, &(*c as i64)],
                )?;
            }
            Persist::Life {
                generation,
                rejoining,
                lives,
            } => set(
                self.conn,
                "UPDATE strong_state SET gen_counter = ?2, gen_nonce = ?3, rejoining = ?4, lives = ?5
                 WHERE tbl = ?1",
                &[
                    &table,
                    &(generation.counter as i64),
                    &(generation.nonce as i64),
                    &(*rejoining as i64),
                    &lives_bytes(lives),
                ],
            )?,
            Persist::PeerSeen { member, generation } => {
                let seen: Option<Vec<u8>> = self
                    .conn
                    .prepare_cached("SELECT seen FROM strong_state WHERE tbl = ?1")?
                    .query_row([table], |r| r.get(0))
                    .optional()?;
                let mut seen = seen_from(&seen.unwrap_or_else(|| seen_bytes(&[None; MEMBERS])))?;
                if let Some(s) = seen.get_mut(*member as usize) {
                    *s = Some(*generation);
                }
                set(
                    self.conn,
                    "UPDATE strong_state SET seen = ?2 WHERE tbl = ?1",
                    &[&table, &seen_bytes(&seen)],
                )?;
            }
        }
        Ok(())
    }

    fn strong_apply(
        &mut self,
        hlc: &Hlc,
        table: &str,
        through: Index,
    ) -> Result<Vec<StrongApplied>, StoreError> {
        let state: Option<(Vec<u8>, i64)> = self
            .conn
            .prepare_cached("SELECT incarnation, applied FROM strong_state WHERE tbl = ?1")?
            .query_row([table], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((incarnation, applied)) = state else {
            return Ok(Vec::new());
        };
        let applied = applied as u64;
        if through <= applied {
            return Ok(Vec::new());
        }
        let def = match self.table_def(table)? {
            Some((def, v)) if v.to_bytes() == incarnation => def,
            // The table was deleted or recreated: its state goes with it.
            _ => return Ok(Vec::new()),
        };
        if !def.has_replica(self.region) {
            return Err(StoreError::TableNotFound(format!(
                "{table} has no replica here yet: its chosen entries wait"
            )));
        }
        let entries: Vec<(i64, Vec<u8>)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT idx, entry FROM strong_log WHERE tbl = ?1 AND idx > ?2 AND idx <= ?3 ORDER BY idx",
            )?;
            let rows = stmt.query_map(params![table, applied as i64, through as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut expected = applied + 1;
        for (idx, bytes) in entries {
            if idx as u64 != expected {
                return Err(corrupt(format!(
                    "{table}: chosen entry {expected} is missing from the log"
                )));
            }
            expected += 1;
            let (entry, writes) = codec::decode(&bytes).map_err(corrupt)?;
            let written = match (&entry.body, writes) {
                (Body::Write { .. }, Some(w)) => self.strong_write(hlc, &def, &incarnation, &w)?,
                _ => false,
            };
            out.push(StrongApplied {
                index: idx as u64,
                id: entry.id,
                written,
            });
        }
        if expected <= through {
            return Err(corrupt(format!(
                "{table}: chosen entry {expected} is missing from the log"
            )));
        }
        self.conn
            .prepare_cached("UPDATE strong_state SET applied = ?2 WHERE tbl = ?1")?
            .execute(params![table, through as i64])?;
        Ok(out)
    }

    /// Applies one chosen write if every key's head (a tombstone included)
    /// is still what its proposer read: the same decision in every
    /// replica, since every replica's heads of a STRONG table change only
    /// through this log (no tombstone of one is purged, `purge_tombstones`).
    fn strong_write(
        &mut self,
        hlc: &Hlc,
        def: &TableDef,
        incarnation: &[u8],
        w: &Writes,
    ) -> Result<bool, StoreError> {
        let mut heads = Vec::with_capacity(w.mutations.len());
        for (m, expect) in w.mutations.iter().zip(&w.expect) {
            if m.table != def.name || m.table_version.as_deref() != Some(incarnation) {
                return Err(corrupt(format!(
                    "a chosen write of {} names table {}",
                    def.name, m.table
                )));
            }
            let head = self.head(&m.table, &m.key)?;
            if head.as_ref().map(|h| h.version.to_bytes()) != *expect {
                return Ok(false);
            }
            heads.push(head);
        }
        let mut outcome = ApplyOutcome::default();
        for (m, head) in w.mutations.iter().zip(&heads) {
            let version = Version::from_bytes(&m.version).map_err(corrupt)?;
            crate::apply::check_image_key(def, m)?;
            // A chosen write takes effect whatever the clock, the versions
            // or the purge horizon say: the log decided its order, the
            // same in every replica, and last-writer-wins (which a purged
            // tombstone or a clock the drift guard held back would turn
            // against it in one region only) has no say here.
            let _ = hlc.observe(version.hlc);
            self.install(head.as_ref(), m, &mut outcome)?;
        }
        Ok(true)
    }
}
