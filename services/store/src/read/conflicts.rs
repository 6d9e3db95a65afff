//! Reading the conflict records: the count of conflicts ever recorded,
//! and the records still kept, page by page.

use meridian_core::{Conflict, EncodedKey, Version, decode_item};
use rusqlite::{OptionalExtension, params};

use super::Reader;
use crate::StoreError;

impl Reader {
    /// Conflicts recorded since the store was created, including those
    /// whose records were purged by their retention: it never goes down.
    pub fn conflict_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'conflicts'")?
            .query_row([], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// Conflicts recorded per table, by table name: each table's since its
    /// current incarnation was created here (a store upgraded from schema
    /// 16 counts the records it kept then). Purging records by their
    /// retention does not lower them; a table without a conflict has no
    /// entry. One row per table is read, never the records.
    pub fn table_conflict_counts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT tbl, n FROM conflict_counts ORDER BY tbl")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (tbl, n) = row?;
            out.insert(tbl, n.max(0) as u64);
        }
        Ok(out)
    }

    /// Conflict records still kept.
    pub fn conflict_records(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM conflicts", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Recorded conflicts, oldest first; `table` empty means every table.
    pub fn conflicts(&self, table: &str, limit: usize) -> Result<Vec<Conflict>, StoreError> {
        Ok(self.conflicts_page(table, 0, limit, usize::MAX)?.0)
    }

    /// A page of recorded conflicts, oldest first, after the position
    /// `after` (0 for the first page): at most `limit` records, and no more
    /// once they come to `max_bytes` (at least one), each counted with
    /// everything it stores plus [`CONFLICT_RECORD_OVERHEAD`], so that
    /// `max_bytes` bounds the page as a message too. The position to ask
    /// the next page from, if there may be one.
    pub fn conflicts_page(
        &self,
        table: &str,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Conflict>, Option<u64>), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, tbl, pk, sk, winner, winner_image, loser, loser_image, detected_by, detected_real
             FROM conflicts WHERE (?1 = '' OR tbl = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![
            table,
            after.min(i64::MAX as u64) as i64,
            // One more than the page, to know whether another follows.
            limit.saturating_add(1).min(i64::MAX as usize) as i64
        ])?;
        let mut kept: Vec<ConflictRow> = Vec::new();
        let (mut bytes, mut next) = (0usize, None);
        while let Some(r) = rows.next()? {
            if kept.len() == limit || (bytes >= max_bytes && !kept.is_empty()) {
                next = kept.last().map(|x| x.id as u64);
                break;
            }
            let row = ConflictRow::from_row(r)?;
            bytes += CONFLICT_RECORD_OVERHEAD
                + row.table.len()
                + row.key.partition.len()
                + row.key.sort.len()
                + row.winner.len()
                + row.loser.len()
                + row.winner_image.as_ref().map_or(0, Vec::len)
                + row.loser_image.as_ref().map_or(0, Vec::len)
                + row.detected_by.len();
            kept.push(row);
        }
        let page = kept
            .into_iter()
            .map(ConflictRow::into_conflict)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, next))
    }
}

/// What a conflict record costs a page beyond the bytes it stores, an upper
/// bound: its versions' numbers and its reason once decoded, and a message's
/// tags and lengths. Counting only keys and images let a page of many small
/// records pass the 4 MiB a gRPC message may have.
pub const CONFLICT_RECORD_OVERHEAD: usize = 256;

/// A `conflicts` row as a page reads it, before its versions and images
/// are decoded.
struct ConflictRow {
    id: i64,
    table: String,
    key: EncodedKey,
    winner: Vec<u8>,
    winner_image: Option<Vec<u8>>,
    loser: Vec<u8>,
    loser_image: Option<Vec<u8>>,
    detected_by: String,
    detected_real: i64,
}

impl ConflictRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(ConflictRow {
            id: r.get(0)?,
            table: r.get(1)?,
            key: EncodedKey {
                partition: r.get(2)?,
                sort: r.get(3)?,
            },
            winner: r.get(4)?,
            winner_image: r.get(5)?,
            loser: r.get(6)?,
            loser_image: r.get(7)?,
            detected_by: r.get(8)?,
            detected_real: r.get(9)?,
        })
    }

    fn into_conflict(self) -> Result<Conflict, StoreError> {
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        Ok(Conflict {
            table: self.table,
            key: self.key,
            winner: Version::from_bytes(&self.winner).map_err(corrupt)?,
            winner_image: self
                .winner_image
                .map(|b| decode_item(&b))
                .transpose()
                .map_err(corrupt)?,
            loser: Version::from_bytes(&self.loser).map_err(corrupt)?,
            loser_image: self
                .loser_image
                .map(|b| decode_item(&b))
                .transpose()
                .map_err(corrupt)?,
            detected_by: self.detected_by,
            detected_real_micros: self.detected_real as u64,
        })
    }
}
