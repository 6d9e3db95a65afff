//! The `digest` table's rows: the stored leaves of each table's
//! anti-entropy hash tree ([`meridian_core::digest`]), and the one place
//! that changes them. Every change to an `items` row changes its leaf in the
//! same transaction ([`GroupTxn::put_head`](crate::group::GroupTxn::put_head), the table purge),
//! so the tree always describes the heads exactly.
//!
//! A group collects its leaf changes in memory, in order, and writes each
//! touched table's leaves once just before it commits ([`write_changes`]):
//! one read and one write of a table's leaf row per group, however many of
//! its leaves the group touched. One row per table, not one per leaf: a
//! group commit of many writes to random keys touches most leaves, and a
//! statement per leaf cost BatchWrite about a quarter of its throughput
//! (docs/repair.md). A savepoint rolled back drops the changes made since
//! it, as it drops the log entries. A purge deletes the table's row at once
//! and leaves a marker, so the group's earlier changes to that table (to
//! rows now gone) are not written.

use std::collections::BTreeMap;

use meridian_core::digest::{Delta, LEAVES, Summary};
use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;

/// Bytes one leaf takes in a table's row: hash, live count, tombstone count.
const LEAF_BYTES: usize = 32;

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

/// Writes a group's changes: one read and one write per touched table.
pub(crate) fn write_changes(conn: &Connection, changes: Vec<LeafChange>) -> Result<(), StoreError> {
    // Net deltas per table, in table order: the same statements in the same
    // order for the same group.
    let mut net: BTreeMap<String, Vec<Delta>> = BTreeMap::new();
    for c in changes {
        match c {
            LeafChange::Change { table, leaf, delta } => {
                let deltas = net
                    .entry(table)
                    .or_insert_with(|| vec![Delta::default(); LEAVES as usize]);
                let d = &mut deltas[leaf as usize];
                d.hash ^= delta.hash;
                d.live += delta.live;
                d.tombstones += delta.tombstones;
            }
            LeafChange::Purge(table) => {
                net.remove(&table);
            }
        }
    }
    for (table, deltas) in &net {
        if deltas.iter().all(|d| *d == Delta::default()) {
            continue;
        }
        let mut leaves = read(conn, table)?;
        for (s, d) in leaves.iter_mut().zip(deltas) {
            *s = d.apply_to(*s);
        }
        write(conn, table, &leaves)?;
    }
    Ok(())
}

/// Applies `delta` to leaf `leaf` of `table`, by itself.
#[cfg(test)]
fn change_leaf(conn: &Connection, table: &str, leaf: u32, delta: &Delta) -> Result<(), StoreError> {
    write_changes(
        conn,
        vec![LeafChange::Change {
            table: table.to_string(),
            leaf,
            delta: *delta,
        }],
    )
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
    let all = read(conn, table)?;
    let end = end.min(LEAVES);
    Ok((first.min(end)..end)
        .map(|leaf| (leaf, all[leaf as usize]))
        // A leaf whose heads were all replaced away is kept at zero.
        .filter(|(_, s)| *s != Summary::default())
        .collect())
}

/// The root of every table that has a digest row, in table order.
pub(crate) fn roots(conn: &Connection) -> Result<Vec<(String, Summary)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT tbl FROM digest ORDER BY tbl")?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    tables
        .into_iter()
        .map(|t| {
            let root = read(conn, &t)?
                .into_iter()
                .fold(Summary::default(), Summary::combine);
            Ok((t, root))
        })
        .collect()
}

/// Every leaf of `table`; all zero when it has no row yet.
fn read(conn: &Connection, table: &str) -> Result<Vec<Summary>, StoreError> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT leaves FROM digest WHERE tbl = ?1")?
        .query_row([table], |r| r.get(0))
        .optional()?;
    let Some(blob) = blob else {
        return Ok(vec![Summary::default(); LEAVES as usize]);
    };
    if blob.len() != LEAVES as usize * LEAF_BYTES {
        return Err(StoreError::Corrupt(format!(
            "the digest row of table {table} is {} bytes, expected {}",
            blob.len(),
            LEAVES as usize * LEAF_BYTES
        )));
    }
    Ok(blob.chunks_exact(LEAF_BYTES).map(decode).collect())
}

fn write(conn: &Connection, table: &str, leaves: &[Summary]) -> Result<(), StoreError> {
    let mut blob = Vec::with_capacity(leaves.len() * LEAF_BYTES);
    for s in leaves {
        blob.extend_from_slice(&s.hash.to_be_bytes());
        blob.extend_from_slice(&s.live.to_be_bytes());
        blob.extend_from_slice(&s.tombstones.to_be_bytes());
    }
    conn.prepare_cached(
        "INSERT INTO digest (tbl, leaves) VALUES (?1, ?2)
         ON CONFLICT (tbl) DO UPDATE SET leaves = excluded.leaves",
    )?
    .execute(params![table, blob])?;
    Ok(())
}

fn decode(b: &[u8]) -> Summary {
    let word = |r: std::ops::Range<usize>| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[r]);
        u64::from_be_bytes(w)
    };
    Summary {
        hash: (u128::from(word(0..8)) << 64) | u128::from(word(8..16)),
        live: word(16..24),
        tombstones: word(24..32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_changes_accumulate_by_xor_and_counts() {
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
