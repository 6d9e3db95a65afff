//! The `log` table's rows: the one mapping between a log row and a
//! [`Mutation`], both ways. The record keeps versions, the context and the
//! image in the bytes the row holds, so neither direction encodes or
//! decodes anything.

use meridian_core::{EncodedKey, Mutation};
use rusqlite::{Connection, Row, params};

use crate::StoreError;

/// Log entries after a position (`?1`), in log order, in the columns
/// [`from_row`] reads.
pub(crate) const SELECT_AFTER: &str = "SELECT seq, tbl, table_version, pk, sk, version, prev, ctx, image, commit_real, ttl, txn_pos, txn_len
     FROM log WHERE seq > ?1 ORDER BY seq";

/// Appends `m` at the next log position and returns that position; `m.seq`
/// is not read.
pub(crate) fn append(conn: &Connection, m: &Mutation) -> Result<u64, StoreError> {
    let origin = m.origin().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "a mutation of {} to log has a malformed version",
            m.table
        ))
    })?;
    conn.prepare_cached(
        "INSERT INTO log (tbl, table_version, pk, sk, version, prev, ctx, image, origin, commit_real,
         ttl, txn_pos, txn_len)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        m.table,
        m.table_version,
        m.key.partition,
        m.key.sort,
        m.version,
        m.prev,
        m.context,
        m.image,
        origin,
        m.commit_real as i64,
        m.ttl,
        m.unit.0,
        m.unit.1
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

pub(crate) const ENDS: &str = "SELECT (SELECT MIN(seq) FROM log), (SELECT MAX(seq) FROM log)";

/// The log's first and last positions, `None` when it is empty. Two
/// subqueries, because SQLite answers a lone `MIN` or `MAX` from the end
/// of the key but scans the whole log for `SELECT MIN(seq), MAX(seq)`:
/// that scan, once per `Status` and per truncation pass, was 7 % of a
/// region's CPU under `bench replicate` with 100,000 entries kept.
pub(crate) fn ends(conn: &Connection) -> Result<(Option<i64>, Option<i64>), StoreError> {
    Ok(conn
        .prepare_cached(ENDS)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// A row of [`SELECT_AFTER`].
pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Mutation> {
    Ok(Mutation {
        seq: r.get::<_, i64>(0)? as u64,
        table: r.get(1)?,
        table_version: r.get(2)?,
        key: EncodedKey {
            partition: r.get(3)?,
            sort: r.get(4)?,
        },
        version: r.get(5)?,
        prev: r.get(6)?,
        context: r.get(7)?,
        image: r.get(8)?,
        commit_real: r.get::<_, i64>(9)? as u64,
        ttl: r.get(10)?,
        unit: (r.get(11)?, r.get(12)?),
    })
}
