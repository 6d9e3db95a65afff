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
    /// once they hold `max_bytes` of keys and images (at least one). The
    /// position to ask the next page from, if there may be one.
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
        type Raw = (
            i64,
            String,
            Vec<u8>,
            Vec<u8>,
            Vec<u8>,
            Option<Vec<u8>>,
            Vec<u8>,
            Option<Vec<u8>>,
            String,
            i64,
        );
        let mut rows = stmt.query(params![
            table,
            after.min(i64::MAX as u64) as i64,
            // One more than the page, to know whether another follows.
            limit.saturating_add(1).min(i64::MAX as usize) as i64
        ])?;
        let mut raw: Vec<Raw> = Vec::new();
        let (mut bytes, mut next) = (0usize, None);
        while let Some(r) = rows.next()? {
            if raw.len() == limit || (bytes >= max_bytes && !raw.is_empty()) {
                next = raw.last().map(|x: &Raw| x.0 as u64);
                break;
            }
            let row: Raw = (
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            );
            bytes += row.2.len()
                + row.3.len()
                + row.5.as_ref().map_or(0, Vec::len)
                + row.7.as_ref().map_or(0, Vec::len);
            raw.push(row);
        }
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let page = raw
            .into_iter()
            .map(|(_, tbl, pk, sk, w, wi, l, li, by, at)| {
                Ok(Conflict {
                    table: tbl,
                    key: EncodedKey {
                        partition: pk,
                        sort: sk,
                    },
                    winner: Version::from_bytes(&w).map_err(corrupt)?,
                    winner_image: wi.map(|b| decode_item(&b)).transpose().map_err(corrupt)?,
                    loser: Version::from_bytes(&l).map_err(corrupt)?,
                    loser_image: li.map(|b| decode_item(&b)).transpose().map_err(corrupt)?,
                    detected_by: by,
                    detected_real_micros: at as u64,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, next))
    }
}
