//! What replication reads: the log and how much of it a peer still needs,
//! the peers' watermarks and this region's inbound positions, the log's
//! epochs, the high-water marks the clock restarts above, and the
//! tombstones that garbage collection has still to purge.

use std::collections::HashMap;

use meridian_core::epoch::Epoch;
use meridian_core::{Mutation, Version};
use rusqlite::{OptionalExtension, params};

use super::Reader;
use crate::{StoreError, log, version_from};

/// A replication batch being filled: the one rule for where a batch of log
/// entries ends, whether it is read from the store or from memory. It ends
/// at `limit` entries or `max_bytes` (by [`Mutation::size`]), but never
/// inside a unit, since a unit is never split across batches.
pub struct BatchFill {
    limit: usize,
    max_bytes: usize,
    len: usize,
    bytes: usize,
    last_unit: Option<(u32, u32)>,
}

impl BatchFill {
    pub fn new(limit: usize, max_bytes: usize) -> Self {
        BatchFill {
            limit: limit.max(1),
            max_bytes,
            len: 0,
            bytes: 0,
            last_unit: None,
        }
    }

    /// Whether the batch takes no further entry.
    pub fn full(&self) -> bool {
        let full = self.len >= self.limit || self.bytes >= self.max_bytes;
        let mid_unit = self.last_unit.is_some_and(|(pos, len)| pos + 1 < len);
        full && !mid_unit
    }

    /// Counts `e` into the batch.
    pub fn add(&mut self, e: &Mutation) {
        self.len += 1;
        self.bytes += e.size();
        self.last_unit = Some(e.unit);
    }
}

impl Reader {
    /// Log entries after `after`, at most `limit` entries and about `max_bytes`.
    /// A batch never ends inside a unit (a multi-write request): it grows
    /// past the limits until the unit is whole.
    pub fn log_after(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Mutation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(log::SELECT_AFTER)?;
        let mut rows = stmt.query(params![after as i64])?;
        let mut out: Vec<Mutation> = Vec::new();
        let mut fill = BatchFill::new(limit, max_bytes);
        while let Some(r) = rows.next()? {
            if fill.full() {
                break;
            }
            let e = log::from_row(r)?;
            fill.add(&e);
            out.push(e);
        }
        Ok(out)
    }

    /// Log entries after `after`: what a peer at that watermark still needs,
    /// whether the log still holds them or they were truncated (then
    /// anti-entropy brings them). Positions run without gaps (a
    /// rolled-back insert frees its position again, and truncation never
    /// deletes the head), so this is a subtraction rather than a count,
    /// which was O(backlog) on every status poll. A watermark past the
    /// head counts as nothing pending.
    pub fn pending(&self, after: u64) -> Result<u64, StoreError> {
        Ok(self.log_head()?.saturating_sub(after))
    }

    /// The first position the log still holds: 1 until it is truncated,
    /// and one past the head when it is empty.
    pub fn log_start(&self) -> Result<u64, StoreError> {
        let (first, head) = log::ends(&self.conn)?;
        Ok(match (first, head) {
            (Some(first), _) => first as u64,
            (None, head) => head.unwrap_or(0) as u64 + 1,
        })
    }

    pub fn log_head(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM log")?
            .query_row([], |r| r.get::<_, i64>(0))? as u64)
    }

    /// How many of `table`'s entries this region's log holds after
    /// position `after`: writes a peer at that watermark has not applied.
    pub fn log_entries_after(&self, table: &str, after: u64) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM log WHERE seq > ?1 AND tbl = ?2")?
            .query_row(params![after as i64, table], |r| r.get::<_, i64>(0))? as u64)
    }

    pub fn watermarks(&self) -> Result<HashMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT peer, acked FROM watermarks")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The sender position from `peer` that this region has durably applied.
    /// Zero when our record is of another log of that peer (a wiped or
    /// restored data directory): its new log starts over.
    pub fn inbound(&self, peer: &str, log_id: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT applied FROM inbound WHERE peer = ?1 AND log_id = ?2")?
            .query_row([peer, log_id], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// The identity of this region's log: its current epoch's.
    pub fn log_id(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT id FROM epochs ORDER BY n DESC LIMIT 1", [], |r| {
                r.get(0)
            })?)
    }

    /// The epochs of this region's log, oldest first; the last is current.
    pub fn epochs(&self) -> Result<Vec<Epoch>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, start FROM epochs ORDER BY n")?;
        let rows = stmt.query_map([], |r| {
            Ok(Epoch {
                id: r.get(0)?,
                start: r.get::<_, i64>(1)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The highest version of `origin`'s among the heads this store has
    /// written: how far that region's own writes reached here.
    pub fn high_water(&self, origin: &str) -> Result<Option<Version>, StoreError> {
        let v: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT version FROM high_water WHERE origin = ?1")?
            .query_row([origin], |r| r.get(0))
            .optional()?;
        version_from(v)
    }

    /// How many tombstones (deleted keys, not table deletions) this region holds.
    pub fn tombstone_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM items INDEXED BY tombstones WHERE image IS NULL AND tbl != ?1",
            )?
            .query_row([meridian_core::CATALOG_TABLE], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// What this region last applied of `peer`'s log: the epoch and position.
    pub fn inbound_record(&self, peer: &str) -> Result<Option<(String, u64)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT log_id, applied FROM inbound WHERE peer = ?1")?
            .query_row([peer], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .optional()?)
    }
}
