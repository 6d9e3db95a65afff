//! Purging tombstones, and the horizon that keeps purged deletes deleted
//! (meridian_core::purge, docs/repair.md).

use meridian_core::digest::{HeadDigest, Summary};
use meridian_core::purge::{bytes_above, covers};
use meridian_core::{CATALOG_TABLE, Context, EncodedKey, Timestamp, Version};
use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;
use crate::digest::LeafChange;
use crate::group::{Group, GroupTxn};
use crate::read::Reader;

/// The stored purge horizon; zero before any purge.
fn horizon(conn: &Connection) -> Result<Timestamp, StoreError> {
    let b: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hlc FROM purge_horizon WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match b {
        None => Ok(Timestamp::ZERO),
        Some(b) => {
            let b: &[u8; 12] = b
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("purge horizon of {} bytes", b.len())))?;
            Ok(Timestamp::from_bytes(b))
        }
    }
}

impl Reader {
    /// The purge horizon: tombstones at or below it may have been purged
    /// here (zero before any purge).
    pub fn purge_horizon(&self) -> Result<meridian_core::Timestamp, StoreError> {
        horizon(self.conn())
    }
}

/// A stored head: table, partition key, sort key, version bytes.
type HeadRow = (String, Vec<u8>, Vec<u8>, Vec<u8>);

impl Group<'_> {
    /// Raises the purge horizon to `h` and deletes up to `max_rows`
    /// tombstones at or below it, oldest first; returns how many went.
    ///
    /// The caller vouches that every replica of every table holds every
    /// write at or below `h` (or something newer at its key), this one
    /// included: then those tombstones are held everywhere, and any write
    /// at or below `h` that arrives later for a key this region holds
    /// nothing for is one they overwrote. Table deletions (`$catalog`
    /// tombstones) stay: they keep late writes of a deleted table out. So
    /// do a STRONG table's: its writes are ordered by its log, not by the
    /// replication this horizon speaks for, and each is a compare-and-set
    /// on its key's head, which must be the same in every member.
    pub fn purge_tombstones(&mut self, h: Timestamp, max_rows: u64) -> Result<u64, StoreError> {
        self.isolated(|ctx| {
            ctx.conn
                .prepare_cached(
                    "INSERT INTO purge_horizon (id, hlc) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET hlc = max(hlc, excluded.hlc)",
                )?
                .execute([h.to_bytes().to_vec()])?;
            let rows: Vec<HeadRow> = ctx
                .conn
                .prepare_cached(
                    "SELECT tbl, pk, sk, version FROM items INDEXED BY tombstones
                     WHERE image IS NULL AND version < ?1 AND tbl != ?2
                       AND tbl NOT IN (SELECT tbl FROM strong_state)
                     ORDER BY version LIMIT ?3",
                )?
                .query_map(
                    params![
                        bytes_above(h),
                        CATALOG_TABLE,
                        max_rows.min(i64::MAX as u64) as i64
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?
                .collect::<Result<_, _>>()?;
            for (table, partition, sort, version) in &rows {
                let key = EncodedKey {
                    partition: partition.clone(),
                    sort: sort.clone(),
                };
                tracing::trace!(region = %ctx.region, %table, ?key, version = ?Version::from_bytes(version).ok(), "purged a tombstone");
                ctx.remove_head(table, &key, version, None)?;
            }
            Ok(rows.len() as u64)
        })
    }

    /// Deletes the live heads of `table` listed in `heads` (key and version
    /// bytes) that are still the key's head and are at or below `h`, a
    /// peer's purge horizon; returns how many went. The peer holds nothing
    /// at those keys, and below its horizon that means a tombstone it
    /// purged overwrote them: a live one here is a deleted item that this
    /// region (restored from an old copy, say) still holds. Tombstones
    /// listed stay, for this region's own purge.
    pub fn drop_superseded(
        &mut self,
        table: &str,
        heads: &[(EncodedKey, Vec<u8>)],
        h: Timestamp,
    ) -> Result<u64, StoreError> {
        if table == CATALOG_TABLE {
            return Ok(0);
        }
        self.isolated(|ctx| {
            let mut n = 0;
            for (key, version) in heads {
                let covered = Version::from_bytes(version).is_ok_and(|v| covers(h, &v));
                if !covered {
                    continue;
                }
                let Some(current) = ctx.head(table, key)? else {
                    continue;
                };
                // A tombstone stays until this region's own horizon passes
                // it: dropping it here would let a later write at the key
                // start from nothing and pass for concurrent with it.
                if current.version.to_bytes() == *version && current.image.is_some() {
                    tracing::debug!(region = %ctx.region, %table, ?key, version = %current.version, horizon = ?h, "dropped a head a peer's purged tombstone deleted");
                    ctx.remove_head(table, key, version, current.image.as_deref())?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}

impl GroupTxn<'_, '_> {
    /// The causal context a local write starts from at a key that holds
    /// nothing, and the purge horizon it covers (`None` before any purge).
    /// Below the horizon the key may have held writes whose tombstone was
    /// purged; this region held all of them, so the write has seen them,
    /// and must not pass for concurrent with them where a slower region
    /// still holds the tombstone.
    pub(crate) fn fresh_context(&self) -> Result<(Context, Option<Timestamp>), StoreError> {
        let h = horizon(self.conn)?;
        if h == Timestamp::ZERO {
            return Ok((Context::empty(), None));
        }
        let origins: Vec<String> = self
            .conn
            .prepare_cached("SELECT origin FROM high_water")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok((Context::seen_through(h, &origins), Some(h)))
    }

    /// Every tombstone of `table` here, gone (a table that has just become
    /// STRONG: `Group::strong_init`).
    pub(crate) fn drop_tombstones(&mut self, table: &str) -> Result<(), StoreError> {
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT pk, sk, version FROM items WHERE tbl = ?1 AND image IS NULL")?
            .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (partition, sort, version) in rows {
            let key = EncodedKey { partition, sort };
            self.remove_head(table, &key, &version, None)?;
        }
        Ok(())
    }

    /// Deletes the head `(version, image)` of `key` and takes it out of the
    /// table's digest.
    fn remove_head(
        &mut self,
        table: &str,
        key: &EncodedKey,
        version: &[u8],
        image: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3")?
            .execute(params![table, key.partition, key.sort])?;
        // A live item going is a change of the table; a tombstone going
        // changes nothing anyone reads.
        if image.is_some() {
            self.record_history(table, key, Some((version.to_vec(), image)))?;
            self.index_change(table, key, image, None)?;
        }
        let old = HeadDigest::of(key, version, image);
        self.digest.push(LeafChange::Change {
            table: table.to_string(),
            leaf: old.leaf().index as u32,
            delta: Summary::replace(Some(&old.entry), &Summary::default()),
        });
        Ok(())
    }

    /// Whether a remote write of `version` for a key this region holds
    /// nothing for was overwritten by a tombstone purged here since.
    pub(crate) fn purged(&self, table: &str, version: &Version) -> Result<bool, StoreError> {
        Ok(table != CATALOG_TABLE && covers(horizon(self.conn)?, version))
    }
}
