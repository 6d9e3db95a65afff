//! Heads and log appends: what both write paths write. A mutation becomes
//! its key's head here (`GroupTxn::put_head`, with what the table records
//! beside it: indexes, history, stream, digest) and, when this region
//! ships it, its log entry (`GroupTxn::append_log`); nowhere else. Local
//! writes (`write.rs`) and applied mutations (`apply.rs`) both call these.

use meridian_core::digest::{self, HeadDigest, Summary};
use meridian_core::{CATALOG_TABLE, Context, EncodedKey, Head, Mutation, Version};
use rusqlite::{OptionalExtension, params};

use crate::digest::{self as digest_rows, LeafChange};
use crate::group::GroupTxn;
use crate::{StoreError, log};

/// The head of a key as the writer reads it: what resolving a write against it needs.
pub(crate) struct HeadRow {
    pub(crate) version: Version,
    pub(crate) context: Context,
    /// A tombstone written by TTL expiry.
    pub(crate) ttl: bool,
    pub(crate) image: Option<Vec<u8>>,
    /// Its entry in the table's digest, which replacing it takes out.
    pub(crate) entry: Summary,
}

impl HeadRow {
    pub(crate) fn as_head(&self) -> Head<'_> {
        Head {
            version: &self.version,
            context: &self.context,
            expiry: self.ttl,
        }
    }
}

impl GroupTxn<'_, '_> {
    pub(crate) fn head(
        &self,
        table: &str,
        key: &EncodedKey,
    ) -> Result<Option<HeadRow>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT version, ctx, image, ttl FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
            )?
            .query_row(params![table, key.partition, key.sort], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            })
            .optional()?;
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        row.map(|(v, ctx, image, ttl)| {
            Ok(HeadRow {
                entry: digest::entry(key, &v, image.as_deref()),
                version: Version::from_bytes(&v).map_err(corrupt)?,
                context: Context::from_bytes(&ctx).map_err(corrupt)?,
                image,
                ttl,
            })
        })
        .transpose()
    }

    /// Makes `m` the head of its key, in the group's transaction, and
    /// records the change of the key's digest leaf from `old` to `m`
    /// (written when the group commits). `old` is the key's head as
    /// read in this transaction ([`GroupTxn::head`]): both callers have just read
    /// it to decide the write, so keeping the digest costs no extra read.
    pub(crate) fn put_head(
        &mut self,
        old: Option<&HeadRow>,
        m: &Mutation,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO items (tbl, pk, sk, version, prev, ctx, image, ttl) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (tbl, pk, sk) DO UPDATE SET version = excluded.version,
                 prev = excluded.prev, ctx = excluded.ctx, image = excluded.image, ttl = excluded.ttl",
            )?
            .execute(params![
                m.table,
                m.key.partition,
                m.key.sort,
                m.version,
                m.prev,
                m.context,
                m.image,
                m.ttl
            ])?;
        if let Some(origin) = m.origin() {
            match self.high.iter_mut().find(|(o, _)| o == origin) {
                Some((_, v)) if *v >= m.version => {}
                Some((_, v)) => v.clone_from(&m.version),
                None => self.high.push((origin.to_string(), m.version.clone())),
            }
        }
        if m.table == CATALOG_TABLE {
            // A table created, replaced or dropped, or its settings
            // changed: what its changes record is read again.
            self.records.clear();
            if m.key.sort == meridian_core::settings::SETTINGS_SORT_KEY {
                self.note_stream_label(m)?;
            }
            if m.key.sort.starts_with(meridian_core::index::SORT_PREFIX) {
                self.index_row_changed(m)?;
            }
        } else {
            let records = self.records(&m.table)?;
            if records.indexes.is_some() {
                let before = old.and_then(|h| h.image.as_deref());
                self.index_change(&m.table, &m.key, before, m.image.as_deref())?;
            }
            if records.history {
                // Asked first, so a table without history encodes nothing here.
                let replaced = old.map(|h| (h.version.to_bytes(), h.image.as_deref()));
                self.record_history(&m.table, &m.key, replaced)?;
            }
            if let Some(stream) = records.stream {
                self.record_stream(stream, old, m)?;
            }
            // Counted apart from the stream, so the two can be compared.
            if old.is_some_and(|h| h.image.is_some()) && m.image.is_none() {
                self.conn
                    .prepare_cached(
                        "INSERT INTO removes_applied (tbl, n) VALUES (?1, 1)
                         ON CONFLICT (tbl) DO UPDATE SET n = n + 1",
                    )?
                    .execute([&m.table])?;
            }
        }
        let new = HeadDigest::of(&m.key, &m.version, m.image.as_deref());
        let delta = Summary::replace(old.map(|h| &h.entry), &new.entry);
        self.digest.push(LeafChange::Change {
            table: m.table.clone(),
            leaf: new.leaf().index as u32,
            delta,
        });
        Ok(())
    }

    /// Appends `m`, whose head was just put, to the log in the same
    /// transaction, at the next position, and keeps it to hand out at
    /// commit. Returns its position. Only what this region ships is
    /// logged: its own writes and the catalog changes it relays; a peer's
    /// item writes stay in the peer's log.
    pub(crate) fn append_log(&mut self, mut m: Mutation) -> Result<u64, StoreError> {
        m.seq = log::append(self.conn, &m)?;
        let seq = m.seq;
        self.logged.push(m);
        Ok(seq)
    }

    /// Deletes every head of `table`, and with them its digest, its
    /// point-in-time setting and history, its indexes and this region's
    /// replica settings (policies, insights, deletion protection): a table
    /// created again under the name starts without them. Its streams stay until
    /// their records age out, as DynamoDB keeps a deleted table's stream;
    /// a table created again gets a stream of its own label.
    pub(crate) fn purge_table(&mut self, table: &str) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM items WHERE tbl = ?1",
            "DELETE FROM history WHERE tbl = ?1",
            "DELETE FROM pitr WHERE tbl = ?1",
            "DELETE FROM idx WHERE tbl = ?1",
            "DELETE FROM collections WHERE tbl = ?1",
            "DELETE FROM index_builds WHERE tbl = ?1",
            "DELETE FROM removes_applied WHERE tbl = ?1",
            "DELETE FROM strong_state WHERE tbl = ?1",
            "DELETE FROM strong_log WHERE tbl = ?1",
            "DELETE FROM replica_settings WHERE tbl = ?1",
            // The count covers one incarnation; the records stay, under
            // their own retention.
            "DELETE FROM conflict_counts WHERE tbl = ?1",
        ] {
            self.conn.prepare_cached(sql)?.execute([table])?;
        }
        self.records.remove(table);
        digest_rows::purge(self.conn, table)?;
        self.digest.push(LeafChange::Purge(table.to_string()));
        Ok(())
    }
}
