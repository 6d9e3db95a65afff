//! The `digest` table's rows: the stored leaves of each table's
//! anti-entropy hash tree ([`meridian_core::digest`]), and the one place
//! that changes them. Every change to an `items` row changes its leaf in the
//! same transaction ([`Ctx::put_head`](crate::group::Ctx), the table purge),
//! so the tree always describes the heads exactly.
//!
//! A group collects its leaf changes in memory, in order, and writes each
//! touched leaf once just before it commits ([`write_changes`]): a group of
//! many writes changes each leaf with one statement instead of one per
//! write. A savepoint rolled back drops the changes made since it, as it
//! drops the log entries. A purge deletes the table's leaves at once and
//! leaves a marker, so the group's earlier changes to that table (to rows
//! now gone) are not written.
//!
//! A leaf is changed in place by one statement: its hash is XORed with the
//! delta and its counts added to, so nothing is read back. SQLite has no
//! XOR operator; `(a | b) - (a & b)` is XOR on 64-bit integers and never
//! overflows (the two terms share no bits).

use std::collections::BTreeMap;

use meridian_core::digest::{Delta, Summary};
use rusqlite::{Connection, Row, params};

use crate::StoreError;

/// One change a group makes to the digest, in the order it makes them.
pub(crate) enum LeafChange {
    Change {
        table: String,
        leaf: u32,
        delta: Delta,
    },
    /// The table's items and leaves were deleted: earlier changes are void.
    Purge(String),
}

/// Writes a group's changes, one statement per touched leaf.
pub(crate) fn write_changes(conn: &Connection, changes: Vec<LeafChange>) -> Result<(), StoreError> {
    // In (table, leaf) order: the same statements in the same order for the
    // same group, and neighbouring leaves share pages.
    let mut net: BTreeMap<(String, u32), Delta> = BTreeMap::new();
    for c in changes {
        match c {
            LeafChange::Change { table, leaf, delta } => {
                let d = net.entry((table, leaf)).or_default();
                d.hash ^= delta.hash;
                d.live += delta.live;
                d.tombstones += delta.tombstones;
            }
            LeafChange::Purge(table) => net.retain(|(t, _), _| *t != table),
        }
    }
    for ((table, leaf), delta) in &net {
        change_leaf(conn, table, *leaf, delta)?;
    }
    Ok(())
}

/// Applies `delta` to leaf `leaf` of `table`.
pub(crate) fn change_leaf(
    conn: &Connection,
    table: &str,
    leaf: u32,
    delta: &Delta,
) -> Result<(), StoreError> {
    if *delta == Delta::default() {
        return Ok(());
    }
    let (h0, h1) = split(delta.hash);
    conn.prepare_cached(
        "INSERT INTO digest (tbl, leaf, h0, h1, live, tombstones) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tbl, leaf) DO UPDATE SET
         h0 = (h0 | excluded.h0) - (h0 & excluded.h0),
         h1 = (h1 | excluded.h1) - (h1 & excluded.h1),
         live = live + excluded.live, tombstones = tombstones + excluded.tombstones",
    )?
    .execute(params![table, leaf, h0, h1, delta.live, delta.tombstones])?;
    Ok(())
}

/// Forgets every leaf of `table`, whose items are being purged.
pub(crate) fn purge(conn: &Connection, table: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM digest WHERE tbl = ?1")?
        .execute([table])?;
    Ok(())
}

/// The stored non-empty leaves of `table` in `[first, end)`, in leaf order.
pub(crate) fn leaves(
    conn: &Connection,
    table: &str,
    first: u32,
    end: u32,
) -> Result<Vec<(u32, Summary)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT leaf, h0, h1, live, tombstones FROM digest
         WHERE tbl = ?1 AND leaf >= ?2 AND leaf < ?3 ORDER BY leaf",
    )?;
    let rows = stmt.query_map(params![table, first, end], from_row)?;
    let mut out = Vec::new();
    for r in rows {
        let (leaf, s) = r?;
        // A leaf whose heads were all replaced away is kept at zero.
        if s != Summary::default() {
            out.push((leaf, s));
        }
    }
    Ok(out)
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<(u32, Summary)> {
    let (h0, h1): (i64, i64) = (r.get(1)?, r.get(2)?);
    Ok((
        r.get(0)?,
        Summary {
            hash: (u128::from(h0 as u64) << 64) | u128::from(h1 as u64),
            live: r.get::<_, i64>(3)? as u64,
            tombstones: r.get::<_, i64>(4)? as u64,
        },
    ))
}

/// The hash as the two signed 64-bit integers SQLite stores.
fn split(hash: u128) -> (i64, i64) {
    ((hash >> 64) as u64 as i64, hash as u64 as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_xor_of_signed_halves_is_xor() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::SCHEMA).unwrap();
        let values = [
            0u128,
            1,
            u128::MAX,
            1 << 127,
            (1 << 63) | 5,
            0x8000_0000_0000_0000_8000_0000_0000_0001,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ];
        let mut expect = 0u128;
        for (i, v) in values.iter().enumerate() {
            let d = Delta {
                hash: *v,
                live: 1,
                tombstones: i as i64 % 2,
            };
            change_leaf(&conn, "t", 7, &d).unwrap();
            expect ^= v;
            let got = leaves(&conn, "t", 0, 10).unwrap();
            if expect == 0 {
                assert_eq!(got[0].1.hash, 0);
            } else {
                assert_eq!(
                    got,
                    vec![(
                        7,
                        Summary {
                            hash: expect,
                            live: i as u64 + 1,
                            tombstones: (i as u64).div_ceil(2),
                        }
                    )]
                );
            }
        }
    }
}
