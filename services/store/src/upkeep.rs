//! The writer's upkeep between requests, each step in a savepoint of its
//! own: the positions recorded for peers (what this region applied of
//! each, what each acknowledged of ours), the log and conflict records
//! trimmed, indexes built a few rows at a time.

use meridian_core::Timestamp;
use rusqlite::params;

use crate::group::{Group, GroupTxn};
use crate::{StoreError, log};

/// Conflict records beyond the newest `?1`, oldest first, at most `?2`: a
/// range of ids, found from the key's end.
pub(crate) const PURGE_CONFLICTS_OVER_COUNT: &str = "DELETE FROM conflicts WHERE id IN (
       SELECT id FROM conflicts WHERE id <= (SELECT MAX(id) FROM conflicts) - ?1
       ORDER BY id LIMIT ?2)";
/// Conflict records detected before `?1`, oldest first, at most `?2`,
/// through `conflicts_real`. One statement with `OR` for both rules read
/// every record on every truncation pass (every second, on the writer):
/// SQLite cannot search an index for either side of an `OR` there.
pub(crate) const PURGE_CONFLICTS_TOO_OLD: &str = "DELETE FROM conflicts WHERE id IN (
       SELECT id FROM conflicts WHERE detected_real < ?1
       ORDER BY detected_real LIMIT ?2)";

/// What one pass of [`Group::trim`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trimmed {
    pub log: u64,
    pub conflicts: u64,
    pub tombstones: u64,
    /// Point-in-time history rows past their table's period.
    pub history: u64,
    /// Change-stream records past the retention.
    pub stream: u64,
}

impl Group<'_> {
    /// One pass of trimming at the group's real time `now` (µs), at most
    /// `max_rows` of each kind: the log's entries before `keep_from`, the
    /// conflict records beyond the newest `conflicts.0` or detected before
    /// `conflicts.1` (µs); with `tombstones_below`, a purge horizon every
    /// replica vouches for, the store's horizon raised there and tombstones
    /// at or below it purged ([`Group::purge_tombstones`]); history past
    /// each table's period; stream records older than `stream_before` (µs).
    pub fn trim(
        &mut self,
        now: u64,
        keep_from: u64,
        (keep, before): (u64, u64),
        tombstones_below: Option<Timestamp>,
        stream_before: u64,
        max_rows: u64,
    ) -> Result<Trimmed, StoreError> {
        Ok(Trimmed {
            log: self.truncate_log(keep_from, max_rows)?,
            conflicts: self.purge_conflicts(keep, before, max_rows)?,
            tombstones: match tombstones_below {
                Some(h) => self.purge_tombstones(h, max_rows)?,
                None => 0,
            },
            history: self.truncate_history(now, max_rows)?,
            stream: self.truncate_stream(stream_before, max_rows)?,
        })
    }

    /// Records that this region has applied `peer`'s log through `applied`
    /// in the epoch `log_id`: what a new stream of a new epoch resumes from,
    /// as [`meridian_core::epoch::resume_at`] decided it.
    pub fn set_inbound(
        &mut self,
        peer: &str,
        log_id: &str,
        applied: u64,
    ) -> Result<(), StoreError> {
        self.isolated(|ctx| ctx.set_inbound(peer, log_id, applied))
    }

    /// Deletes the log's entries before position `keep_from`, at most
    /// `max_rows` of them, and returns how many went. The newest entry is
    /// never deleted, so positions keep counting from it (a rolled-back
    /// insert or a deleted row never frees a position below the head).
    pub fn truncate_log(&mut self, keep_from: u64, max_rows: u64) -> Result<u64, StoreError> {
        self.isolated(|ctx| {
            let (first, head) = log::ends(ctx.conn)?;
            let (Some(first), Some(head)) = (first, head) else {
                return Ok(0);
            };
            let below = (keep_from as i64)
                .min(head)
                .min(first.saturating_add(max_rows as i64));
            if below <= first {
                return Ok(0);
            }
            let n = ctx
                .conn
                .prepare_cached("DELETE FROM log WHERE seq < ?1")?
                .execute([below])?;
            Ok(n as u64)
        })
    }

    /// Deletes conflict records beyond the newest `keep`, and those
    /// detected before `older_than` (real time, µs), at most `max_rows`;
    /// returns how many went. The counts of conflicts recorded do not
    /// change ([`crate::Reader::conflict_count`],
    /// [`crate::Reader::table_conflict_counts`]).
    pub fn purge_conflicts(
        &mut self,
        keep: u64,
        older_than: u64,
        max_rows: u64,
    ) -> Result<u64, StoreError> {
        let limit = |n: u64| n.min(i64::MAX as u64) as i64;
        self.isolated(|ctx| {
            let over = ctx
                .conn
                .prepare_cached(PURGE_CONFLICTS_OVER_COUNT)?
                .execute(params![limit(keep), limit(max_rows)])?;
            let old = ctx
                .conn
                .prepare_cached(PURGE_CONFLICTS_TOO_OLD)?
                .execute(params![
                    limit(older_than),
                    limit(max_rows.saturating_sub(over as u64))
                ])?;
            Ok((over + old) as u64)
        })
    }

    /// Builds the next `max_rows` entries of an index being built here
    /// (`GroupTxn::build_indexes`); 0 when no index is being built.
    pub fn build_indexes(&mut self, max_rows: u64) -> Result<u64, StoreError> {
        self.isolated(|ctx| ctx.build_indexes(max_rows))
    }

    /// Records that `peer` has durably applied our log through `acked`, as
    /// the peer itself reported it: the peer's word is authoritative.
    pub fn set_watermark(&mut self, peer: &str, acked: u64) -> Result<(), StoreError> {
        self.isolated(|ctx| {
            ctx.conn
                .prepare_cached(
                    "INSERT INTO watermarks (peer, acked) VALUES (?1, ?2)
                     ON CONFLICT (peer) DO UPDATE SET acked = excluded.acked",
                )?
                .execute(params![peer, acked as i64])?;
            Ok(())
        })
    }
}

impl GroupTxn<'_, '_> {
    /// Records `peer`'s log `log_id` as applied here through `applied`:
    /// [`Group::set_inbound`], and every apply that moves the position.
    pub(crate) fn set_inbound(
        &mut self,
        peer: &str,
        log_id: &str,
        applied: u64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO inbound (peer, log_id, applied) VALUES (?1, ?2, ?3)
                 ON CONFLICT (peer) DO UPDATE SET log_id = excluded.log_id, applied = excluded.applied",
            )?
            .execute(params![peer, log_id, applied as i64])?;
        Ok(())
    }
}
