//! Snapshots of a STRONG table (docs/strong.md, *Catching up past the
//! compacted log*): read on the leader, as of the position its store has
//! applied, and installed on a member whose store lost the entries every
//! member has since dropped.
//!
//! Reading takes the table's heads (tombstones included: a chosen write's
//! compare-and-set expects them) and the applied position in one read
//! transaction, so the heads are exactly those that applying every chosen
//! entry through that position gives.
//!
//! Installing replaces the member's heads of the table with the
//! snapshot's and moves its consensus state to the position, in one
//! transaction of the group: the log through it goes, the commit and the
//! compaction point rise to it and the applied position becomes it. A
//! crash before the group commits leaves the member as it was (its parts
//! are kept in memory until then, so it asks for the snapshot again);
//! after, the member is at the position as a whole. The table's secondary
//! indexes and digest follow the items in the same transaction. No change
//! stream record and no point-in-time history is written for it: a
//! snapshot is not a change any client made, and its heads are the
//! leader's, whose own records describe them; this region's stream skips
//! the changes the snapshot brought (docs/limits.md).

use meridian_core::digest::{HeadDigest, Summary};
use meridian_core::strong::Index;
use meridian_core::{EncodedKey, Hlc, Mutation, Version};
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::digest::{self as digest_rows, LeafChange};
use crate::group::{Group, GroupTxn};
use crate::read::Reader;

/// A STRONG table as of a position of its log.
#[derive(Clone, Debug, PartialEq)]
pub struct StrongSnapshot {
    /// The table's incarnation.
    pub incarnation: Vec<u8>,
    /// Every chosen entry through it is applied in `heads`.
    pub through: Index,
    /// Every head of the table, tombstones included, in key order.
    pub heads: Vec<Mutation>,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("strong mode: {what}"))
}

impl Reader {
    /// The heads of STRONG `table` and the position they are at, read in
    /// one transaction; `None` if this store keeps no consensus state for
    /// it.
    pub fn strong_snapshot(&self, table: &str) -> Result<Option<StrongSnapshot>, StoreError> {
        let tx = self.conn().unchecked_transaction()?;
        let state: Option<(Vec<u8>, i64)> = tx
            .prepare_cached("SELECT incarnation, applied FROM strong_state WHERE tbl = ?1")?
            .query_row([table], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((incarnation, applied)) = state else {
            return Ok(None);
        };
        let mut heads = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT pk, sk, version, prev, ctx, image, ttl FROM items WHERE tbl = ?1 ORDER BY pk, sk",
            )?;
            let rows = stmt.query_map([table], |r| {
                Ok(Mutation {
                    seq: 0,
                    table: table.to_string(),
                    table_version: Some(incarnation.clone()),
                    key: EncodedKey {
                        partition: r.get(0)?,
                        sort: r.get(1)?,
                    },
                    version: r.get(2)?,
                    prev: r.get(3)?,
                    context: r.get(4)?,
                    image: r.get(5)?,
                    commit_real: 0,
                    ttl: r.get(6)?,
                    unit: (0, 1),
                })
            })?;
            for row in rows {
                heads.push(row?);
            }
        }
        tx.commit()?;
        Ok(Some(StrongSnapshot {
            incarnation,
            through: applied as u64,
            heads,
        }))
    }
}

impl Group<'_> {
    /// Installs a snapshot of STRONG `table` at `through` of the table's
    /// incarnation `incarnation`: with `heads` (a full replica) its heads
    /// are replaced by them; with `None` (a witness) only the consensus
    /// state moves. Returns false, changing nothing, when this store keeps
    /// no state of that incarnation or has applied that far already (a
    /// member never goes back). Every head must be of the table's
    /// incarnation with an image filed under its own key.
    pub fn strong_install(
        &mut self,
        hlc: &Hlc,
        table: &str,
        incarnation: &[u8],
        through: Index,
        heads: Option<&[Mutation]>,
    ) -> Result<bool, StoreError> {
        self.isolated(|ctx| ctx.strong_install(hlc, table, incarnation, through, heads))
    }
}

impl GroupTxn<'_, '_> {
    fn strong_install(
        &mut self,
        hlc: &Hlc,
        table: &str,
        incarnation: &[u8],
        through: Index,
        heads: Option<&[Mutation]>,
    ) -> Result<bool, StoreError> {
        let state: Option<(Vec<u8>, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT incarnation, applied, commit_idx FROM strong_state WHERE tbl = ?1",
            )?
            .query_row([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((stored, applied, commit)) = state else {
            return Ok(false);
        };
        if stored != incarnation {
            return Ok(false);
        }
        if let Some(heads) = heads {
            if through <= applied as u64 {
                return Ok(false);
            }
            self.replace_heads(hlc, table, incarnation, heads)?;
        } else if through <= commit as u64 {
            return Ok(false);
        }
        for (sql, p) in [
            (
                "DELETE FROM strong_log WHERE tbl = ?1 AND idx <= ?2",
                through,
            ),
            (
                "UPDATE strong_state SET commit_idx = max(commit_idx, ?2), compacted = max(compacted, ?2)
                 WHERE tbl = ?1",
                through,
            ),
        ] {
            self.conn
                .prepare_cached(sql)?
                .execute(params![table, p as i64])?;
        }
        if heads.is_some() {
            self.conn
                .prepare_cached("UPDATE strong_state SET applied = ?2 WHERE tbl = ?1")?
                .execute(params![table, through as i64])?;
        }
        Ok(true)
    }

    /// Makes `heads` the table's heads: every head it had goes, with its
    /// index entries and digest leaves, and each of `heads` is written with
    /// its own.
    fn replace_heads(
        &mut self,
        hlc: &Hlc,
        table: &str,
        incarnation: &[u8],
        heads: &[Mutation],
    ) -> Result<(), StoreError> {
        let def = match self.table_def(table)? {
            Some((def, v)) if v.to_bytes() == incarnation => def,
            _ => {
                return Err(corrupt(format!(
                    "{table}: a snapshot of another incarnation"
                )));
            }
        };
        if !def.has_replica(self.region) {
            return Err(StoreError::TableNotFound(format!(
                "{table} has no replica here yet: its snapshot waits"
            )));
        }
        for sql in [
            "DELETE FROM items WHERE tbl = ?1",
            "DELETE FROM idx WHERE tbl = ?1",
            "DELETE FROM collections WHERE tbl = ?1",
        ] {
            self.conn.prepare_cached(sql)?.execute([table])?;
        }
        digest_rows::purge(self.conn, table)?;
        self.digest.push(LeafChange::Purge(table.to_string()));
        for m in heads {
            if m.table != table || m.table_version.as_deref() != Some(incarnation) {
                return Err(corrupt(format!(
                    "a snapshot of {table} holds a head of table {}",
                    m.table
                )));
            }
            crate::apply::check_image_key(&def, m)?;
            let version = Version::from_bytes(&m.version).map_err(corrupt)?;
            // The versions are chosen writes' own: the clock moves past
            // them as when they are applied from the log.
            let _ = hlc.observe(version.hlc);
            self.conn
                .prepare_cached(
                    "INSERT INTO items (tbl, pk, sk, version, prev, ctx, image, ttl)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    table,
                    m.key.partition,
                    m.key.sort,
                    m.version,
                    m.prev,
                    m.context,
                    m.image,
                    m.ttl
                ])?;
            self.index_change(table, &m.key, None, m.image.as_deref())?;
            if let Some(origin) = m.origin() {
                match self.high.iter_mut().find(|(o, _)| o == origin) {
                    Some((_, v)) if *v >= m.version => {}
                    Some((_, v)) => v.clone_from(&m.version),
                    None => self.high.push((origin.to_string(), m.version.clone())),
                }
            }
            let new = HeadDigest::of(&m.key, &m.version, m.image.as_deref());
            self.digest.push(LeafChange::Change {
                table: table.to_string(),
                leaf: new.leaf().index as u32,
                delta: Summary::replace(None, &new.entry),
            });
        }
        Ok(())
    }
}
