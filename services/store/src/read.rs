//! Reads. A [`Reader`] owns its own connection and sees the last committed
//! group (WAL snapshot isolation per statement).

use std::collections::HashMap;
use std::ops::Bound;

use meridian_core::digest::{self, HeadDigest, NodeId, Summary};
use meridian_core::epoch::Epoch;
use meridian_core::{
    CATALOG_TABLE, Conflict, Context, EncodedKey, Item, Mutation, TableDef, Version, decode_item,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::range::SortRange;
use crate::{StoreError, digest as digest_rows, log, version_from};

pub struct Reader {
    conn: Connection,
}

/// The head of a key: a live item or a tombstone (`image == None`).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRow {
    pub key: EncodedKey,
    pub version: Version,
    pub prev: Option<Version>,
    pub context: Context,
    pub image: Option<Item>,
}

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

/// Order-independent summary of a table's heads, to compare replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub hash: String,
    pub live: u64,
    pub tombstones: u64,
}

/// One head as a comparison below the stored leaves needs it: the key, its
/// version (`Version` bytes), whether it is a tombstone, and its digest.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafHead {
    pub key: EncodedKey,
    pub version: Vec<u8>,
    pub tombstone: bool,
    pub digest: HeadDigest,
}

pub(crate) fn row_to_stored(
    key: EncodedKey,
    v: Vec<u8>,
    p: Option<Vec<u8>>,
    ctx: Vec<u8>,
    image: Option<Vec<u8>>,
) -> Result<StoredRow, StoreError> {
    Ok(StoredRow {
        key,
        version: Version::from_bytes(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        prev: version_from(p)?,
        context: Context::from_bytes(&ctx).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        image: image
            .map(|b| decode_item(&b).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
    })
}

type RawRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Vec<u8>,
    Option<Vec<u8>>,
);

impl Reader {
    /// The reader's connection, for other modules of the store.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn new(conn: Connection) -> Self {
        Reader { conn }
    }

    /// The head of one key, tombstones included.
    pub fn get(&self, table: &str, key: &EncodedKey) -> Result<Option<StoredRow>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT version, prev, ctx, image FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
            )?
            .query_row(params![table, key.partition, key.sort], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        row.map(|(v, p, c, i)| row_to_stored(key.clone(), v, p, c, i))
            .transpose()
    }

    /// A live table definition and the catalog version that created it.
    pub fn table_def(&self, name: &str) -> Result<Option<(TableDef, Version)>, StoreError> {
        match self.get(CATALOG_TABLE, &TableDef::catalog_key(name))? {
            Some(StoredRow {
                version,
                image: Some(item),
                ..
            }) => {
                let def =
                    TableDef::from_item(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let def = crate::catalog::effective(&self.conn, def, &version)?;
                Ok(Some((def, version)))
            }
            _ => Ok(None),
        }
    }

    /// Several heads from one consistent snapshot, tombstones included.
    pub fn get_all(
        &self,
        keys: &[(String, EncodedKey)],
    ) -> Result<Vec<Option<StoredRow>>, StoreError> {
        self.snapshot(|r| keys.iter().map(|(t, k)| r.get(t, k)).collect())
    }

    /// The attribute TTL expiry reads on `table`, if TTL is enabled on the
    /// table's current incarnation.
    pub fn ttl_attribute(&self, table: &str) -> Result<Option<String>, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(None);
        };
        match self.get(CATALOG_TABLE, &TableDef::ttl_key(table))? {
            Some(StoredRow {
                image: Some(item), ..
            }) => {
                let (attribute, for_version) = TableDef::ttl_attribute(&item)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((for_version == incarnation).then_some(attribute))
            }
            _ => Ok(None),
        }
    }

    /// The settings in force on `table` (billing, throughput, stream).
    pub fn settings(
        &self,
        table: &str,
    ) -> Result<Option<meridian_core::settings::TableSettings>, StoreError> {
        use meridian_core::settings::TableSettings;
        let Some((def, incarnation)) = self.table_def(table)? else {
            return Ok(None);
        };
        let row = self
            .get(CATALOG_TABLE, &TableSettings::key(table))?
            .and_then(|r| r.image);
        TableSettings::current(&def, &incarnation, row.as_ref())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The tags of the current incarnation of `table` in `region`.
    pub fn tags(
        &self,
        table: &str,
        region: &str,
    ) -> Result<meridian_core::schema::Tags, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(Default::default());
        };
        match self.get(CATALOG_TABLE, &TableDef::tags_key(table, region))? {
            Some(StoredRow {
                image: Some(item), ..
            }) => {
                let (tags, of) =
                    TableDef::tags(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(if of == incarnation {
                    tags
                } else {
                    Default::default()
                })
            }
            _ => Ok(Default::default()),
        }
    }

    /// Live tables in name order, after `start_after`.
    pub fn list_tables(&self, start_after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pk FROM items WHERE tbl = ?1 AND sk = x'' AND image IS NOT NULL AND pk > ?2 ORDER BY pk LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![CATALOG_TABLE, start_after.as_bytes(), limit as i64],
            |r| r.get::<_, Vec<u8>>(0),
        )?;
        rows.map(|r| {
            String::from_utf8(r?).map_err(|_| StoreError::Corrupt("table name is not UTF-8".into()))
        })
        .collect()
    }

    fn rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<StoredRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let raw: Vec<RawRow> = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        raw.into_iter()
            .map(|(pk, sk, v, p, c, i)| {
                row_to_stored(
                    EncodedKey {
                        partition: pk,
                        sort: sk,
                    },
                    v,
                    p,
                    c,
                    i,
                )
            })
            .collect()
    }

    /// Live items of one partition, in sort-key order (or reverse), strictly
    /// after `after` in that order.
    pub fn query(
        &self,
        table: &str,
        partition: &[u8],
        range: &SortRange,
        reverse: bool,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let mut sql = String::from(
            "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? AND pk = ? AND image IS NOT NULL",
        );
        let mut args: Vec<Value> = vec![Value::Text(table.into()), Value::Blob(partition.to_vec())];
        let mut bound = |b: &Bound<Vec<u8>>, incl: &str, excl: &str| match b {
            Bound::Included(v) => {
                sql.push_str(&format!(" AND sk {incl} ?"));
                args.push(Value::Blob(v.clone()));
            }
            Bound::Excluded(v) => {
                sql.push_str(&format!(" AND sk {excl} ?"));
                args.push(Value::Blob(v.clone()));
            }
            Bound::Unbounded => {}
        };
        bound(&range.lower, ">=", ">");
        bound(&range.upper, "<=", "<");
        if let Some(a) = after {
            sql.push_str(if reverse {
                " AND sk < ?"
            } else {
                " AND sk > ?"
            });
            args.push(Value::Blob(a.to_vec()));
        }
        sql.push_str(if reverse {
            " ORDER BY sk DESC"
        } else {
            " ORDER BY sk ASC"
        });
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(limit as i64));
        self.rows(&sql, args)
    }

    /// Live items of a table in key order, strictly after `after`.
    pub fn scan(
        &self,
        table: &str,
        after: Option<&EncodedKey>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let (sql, args) = match after {
            None => (
                "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? AND image IS NOT NULL ORDER BY pk, sk LIMIT ?",
                vec![Value::Text(table.into()), Value::Integer(limit as i64)],
            ),
            Some(k) => (
                "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? AND image IS NOT NULL AND (pk, sk) > (?, ?) ORDER BY pk, sk LIMIT ?",
                vec![
                    Value::Text(table.into()),
                    Value::Blob(k.partition.clone()),
                    Value::Blob(k.sort.clone()),
                    Value::Integer(limit as i64),
                ],
            ),
        };
        self.rows(sql, args)
    }

    /// Every head of a table, tombstones included, in key order.
    pub fn heads(&self, table: &str) -> Result<Vec<StoredRow>, StoreError> {
        self.rows(
            "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? ORDER BY pk, sk",
            vec![Value::Text(table.into())],
        )
    }

    pub fn item_count(&self, table: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM items WHERE tbl = ?1 AND image IS NOT NULL")?
            .query_row([table], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Bytes of a table's live items as stored (encoded, a few bytes per
    /// attribute above DynamoDB's item size), summed at the cost of one pass
    /// over the table's heads, like [`Reader::item_count`].
    pub fn table_bytes(&self, table: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(LENGTH(image)), 0) FROM items WHERE tbl = ?1 AND image IS NOT NULL",
            )?
            .query_row([table], |r| r.get::<_, i64>(0))? as u64)
    }

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
        let (first, head): (Option<i64>, Option<i64>) = self
            .conn
            .prepare_cached("SELECT MIN(seq), MAX(seq) FROM log")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
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

    /// The purge horizon: tombstones at or below it may have been purged
    /// here (zero before any purge).
    pub fn purge_horizon(&self) -> Result<meridian_core::Timestamp, StoreError> {
        crate::purge::horizon(&self.conn)
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

    /// The root of `table`'s digest tree, as the admin `Digest` shows it:
    /// equal digests mean equal keys, versions, items and tombstones (to a
    /// 128-bit hash). Reads the table's stored leaves, never its items.
    pub fn digest(&self, table: &str) -> Result<Digest, StoreError> {
        let root = self.digest_node(table, NodeId::ROOT)?;
        Ok(Digest {
            hash: root.hash_hex(),
            live: root.live,
            tombstones: root.tombstones,
        })
    }

    /// The summary of one node of `table`'s digest tree at most at
    /// [`digest::LEAF_LEVEL`], from the stored leaves (a node below the leaf
    /// level needs the leaf's heads: [`Reader::leaf_heads`]).
    pub fn digest_node(&self, table: &str, node: NodeId) -> Result<Summary, StoreError> {
        check_stored(node)?;
        let range = node.leaves();
        let leaves = digest_rows::leaves(&self.conn, table, range.start, range.end)?;
        Ok(digest::node_from_leaves(node, &leaves))
    }

    /// The summaries of the children of `parent`, a node above
    /// [`digest::LEAF_LEVEL`], from the stored leaves under it: one step of
    /// a top-down comparison. Below, [`Reader::leaf_heads`] and
    /// [`digest::children_of`] continue it.
    pub fn digest_children(
        &self,
        table: &str,
        parent: NodeId,
    ) -> Result<Vec<(NodeId, Summary)>, StoreError> {
        if parent.level >= digest::LEAF_LEVEL {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "level",
                format!(
                    "{} is not above the stored leaves (level {}); their children come from the leaf's heads",
                    parent.level,
                    digest::LEAF_LEVEL
                ),
            )));
        }
        let range = parent.leaves();
        let leaves = digest_rows::leaves(&self.conn, table, range.start, range.end)?;
        Ok(digest::children_from_leaves(parent, &leaves))
    }

    /// Every stored non-empty leaf of `table`, in leaf order.
    pub fn digest_leaves(&self, table: &str) -> Result<Vec<(u32, Summary)>, StoreError> {
        digest_rows::leaves(&self.conn, table, 0, digest::LEAVES)
    }

    /// The heads of `table` in the given stored leaves, tombstones
    /// included, in key order: what a comparison below the stored leaves
    /// works on. One pass over the table serves any number of leaves, so a
    /// caller asks for every differing leaf at once. (A per-leaf index on
    /// `items` would make this a range read, but costs every write an index
    /// update; see docs/repair.md.)
    pub fn leaf_heads(&self, table: &str, leaves: &[u32]) -> Result<Vec<LeafHead>, StoreError> {
        let mut wanted = vec![false; digest::LEAVES as usize];
        for (i, &leaf) in leaves.iter().enumerate() {
            if leaf >= digest::LEAVES {
                return Err(StoreError::Invalid(meridian_core::Error::invalid(
                    format!("leaves[{i}]"),
                    format!("{leaf} is not a leaf; there are {}", digest::LEAVES),
                )));
            }
            wanted[leaf as usize] = true;
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT pk, sk, version, image FROM items WHERE tbl = ?1 ORDER BY pk, sk",
        )?;
        let mut rows = stmt.query([table])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let key = EncodedKey {
                partition: r.get(0)?,
                sort: r.get(1)?,
            };
            let key_hash = digest::key_hash(&key);
            if !wanted[NodeId::leaf_of(key_hash).index as usize] {
                continue;
            }
            let version: Vec<u8> = r.get(2)?;
            let image = r
                .get_ref(3)?
                .as_blob_or_null()
                .map_err(|e| StoreError::Corrupt(format!("items.image: {e}")))?;
            let entry = digest::entry(&key, &version, image);
            out.push(LeafHead {
                tombstone: image.is_none(),
                key,
                version,
                digest: HeadDigest { key_hash, entry },
            });
        }
        Ok(out)
    }

    /// The root of every table's tree (`$catalog` included) that has ever
    /// held a head here, in table order: where a comparison starts.
    pub fn digest_roots(&self) -> Result<Vec<(String, Summary)>, StoreError> {
        digest_rows::roots(&self.conn)
    }

    /// The 16 children of each of `parents`, any level, in order: above
    /// the stored leaves from the leaves, at or below them from the heads
    /// of their leaves, all read from one snapshot (one pass over the table
    /// for all the parents that need heads).
    pub fn digest_children_of(
        &self,
        table: &str,
        parents: &[NodeId],
    ) -> Result<Vec<Vec<(NodeId, Summary)>>, StoreError> {
        self.snapshot(|r| r.children_in_snapshot(table, parents))
    }

    fn children_in_snapshot(
        &self,
        table: &str,
        parents: &[NodeId],
    ) -> Result<Vec<Vec<(NodeId, Summary)>>, StoreError> {
        let deep: Vec<u32> = parents
            .iter()
            .filter(|p| p.level >= digest::LEAF_LEVEL)
            .map(|p| p.leaves().start)
            .collect();
        let mut heads: Vec<HeadDigest> = if deep.is_empty() {
            Vec::new()
        } else {
            self.leaf_heads(table, &deep)?
                .into_iter()
                .map(|h| h.digest)
                .collect()
        };
        heads.sort_unstable_by_key(|h| h.key_hash);
        let leaves = if deep.len() < parents.len() {
            self.digest_leaves(table)?
        } else {
            Vec::new()
        };
        Ok(parents
            .iter()
            .map(|p| {
                if p.level >= digest::LEAF_LEVEL {
                    digest::children_of_sorted(*p, &heads)
                } else {
                    digest::children_from_leaves(*p, &leaves)
                }
            })
            .collect())
    }

    /// The heads of `table` below any of `nodes`, in key order, refused
    /// when there are more than `limit` of them (the caller should descend
    /// further instead): a comparison's last step before it names keys.
    pub fn heads_under(
        &self,
        table: &str,
        nodes: &[NodeId],
        limit: usize,
    ) -> Result<Vec<LeafHead>, StoreError> {
        let leaves: Vec<u32> = nodes.iter().flat_map(NodeId::leaves).collect();
        let ranges = digest::ranges(nodes);
        let heads: Vec<LeafHead> = self
            .leaf_heads(table, &leaves)?
            .into_iter()
            .filter(|h| digest::covers(&ranges, h.digest.key_hash))
            .collect();
        if heads.len() > limit {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "nodes",
                format!(
                    "the nodes hold {} heads, more than the limit of {limit}; ask for their children",
                    heads.len()
                ),
            )));
        }
        Ok(heads)
    }

    /// The heads of `table` below any of `nodes`, as mutations ready to
    /// ship ([`Reader::entries`]), in key order after `after`, at most
    /// `limit` of them and until about `max_bytes`: what a replica that
    /// lacks a whole subtree needs. The second value is true when more
    /// follow the last one returned.
    pub fn entries_under(
        &self,
        table: &str,
        nodes: &[NodeId],
        after: Option<&EncodedKey>,
        (limit, max_bytes): (usize, usize),
    ) -> Result<(Vec<Mutation>, bool), StoreError> {
        self.snapshot(|r| r.entries_under_in_snapshot(table, nodes, after, limit, max_bytes))
    }

    fn entries_under_in_snapshot(
        &self,
        table: &str,
        nodes: &[NodeId],
        after: Option<&EncodedKey>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Mutation>, bool), StoreError> {
        let Some(table_version) = self.table_version_bytes(table)? else {
            return Ok((Vec::new(), false));
        };
        const COLUMNS: &str =
            "SELECT pk, sk, version, prev, ctx, image, ttl FROM items WHERE tbl = ?1";
        let (mut stmt, args) = match after {
            // Row values compare as the primary key orders: strictly after
            // `after`, a range of the key's index.
            Some(k) => (
                self.conn.prepare_cached(&format!(
                    "{COLUMNS} AND (pk, sk) > (?2, ?3) ORDER BY pk, sk"
                ))?,
                params_from_iter(vec![
                    Value::Text(table.to_string()),
                    Value::Blob(k.partition.clone()),
                    Value::Blob(k.sort.clone()),
                ]),
            ),
            None => (
                self.conn
                    .prepare_cached(&format!("{COLUMNS} ORDER BY pk, sk"))?,
                params_from_iter(vec![Value::Text(table.to_string())]),
            ),
        };
        let mut rows = stmt.query(args)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let ranges = digest::ranges(nodes);
        while let Some(r) = rows.next()? {
            let key = EncodedKey {
                partition: r.get(0)?,
                sort: r.get(1)?,
            };
            let key_hash = digest::key_hash(&key);
            if !digest::covers(&ranges, key_hash) {
                continue;
            }
            if (bytes >= max_bytes || out.len() >= limit) && !out.is_empty() {
                return Ok((out, true));
            }
            let m = head_mutation(
                table,
                &table_version,
                key,
                (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
            )?;
            bytes += m.size();
            out.push(m);
        }
        Ok((out, false))
    }

    /// The catalog version of `table`'s live incarnation, as an item
    /// mutation carries it (`None` for `$catalog` itself: `Some(None)`).
    fn table_version_bytes(&self, table: &str) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        if table == CATALOG_TABLE {
            return Ok(Some(None));
        }
        Ok(self.table_def(table)?.map(|(_, v)| Some(v.to_bytes())))
    }

    /// The current heads of `keys` in `table`, as mutations ready to ship
    /// to a peer that lacks them and apply there by the normal LWW apply,
    /// from one snapshot. A key with no head is left out. Each carries the
    /// table's current catalog version (an items row exists only in the
    /// current incarnation); `seq` is 0 and `commit_real` the version's
    /// physical time, since a head is not a log entry.
    pub fn entries(&self, table: &str, keys: &[EncodedKey]) -> Result<Vec<Mutation>, StoreError> {
        self.snapshot(|r| r.entries_in_snapshot(table, keys))
    }

    fn entries_in_snapshot(
        &self,
        table: &str,
        keys: &[EncodedKey],
    ) -> Result<Vec<Mutation>, StoreError> {
        let Some(table_version) = self.table_version_bytes(table)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, prev, ctx, image, ttl FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
        )?;
        let mut out = Vec::new();
        for key in keys {
            let row = stmt
                .query_row(params![table, key.partition, key.sort], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, Option<Vec<u8>>>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })
                .optional()?;
            let Some(row) = row else {
                continue;
            };
            out.push(head_mutation(table, &table_version, key.clone(), row)?);
        }
        Ok(out)
    }

    /// The leaves of `table` whose stored summary differs from one
    /// recomputed from its heads: empty when the maintained tree is exact.
    /// Reads the whole table, from one snapshot.
    pub fn verify_digest(&self, table: &str) -> Result<Vec<u32>, StoreError> {
        let all: Vec<u32> = (0..digest::LEAVES).collect();
        let (stored, heads) =
            self.snapshot(|r| Ok((r.digest_leaves(table)?, r.leaf_heads(table, &all)?)))?;
        let recomputed = digest::leaves_of(heads.into_iter().map(|h| h.digest));
        Ok(differing_leaves(&stored, &recomputed))
    }
}

impl Reader {
    /// Runs `f` in one read transaction: everything it reads comes from
    /// one snapshot of the store, whatever the writer commits meanwhile.
    pub(crate) fn snapshot<T>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN")?;
        let out = f(self);
        self.conn.execute_batch("COMMIT")?;
        out
    }

    /// How many live items of `table`'s incarnation this region has turned
    /// into tombstones, local and replicated deletes and TTL expiries
    /// alike (`removes_applied`): what its stream's REMOVE records must
    /// number, while the stream has been on since the table's creation and
    /// none of its records has aged out.
    pub fn removes_applied(&self, table: &str) -> Result<u64, StoreError> {
        let n: Option<i64> = self
            .conn
            .prepare_cached("SELECT n FROM removes_applied WHERE tbl = ?1")?
            .query_row([table], |r| r.get(0))
            .optional()?;
        Ok(n.unwrap_or(0) as u64)
    }
}

/// An items row's (version, prev, ctx, image, ttl).
type HeadColumns = (Vec<u8>, Option<Vec<u8>>, Vec<u8>, Option<Vec<u8>>, bool);

/// The head of `key` as a mutation ready to ship: `seq` 0 and
/// `commit_real` the version's physical time, since a head is not a log
/// entry.
fn head_mutation(
    table: &str,
    table_version: &Option<Vec<u8>>,
    key: EncodedKey,
    (version, prev, context, image, ttl): HeadColumns,
) -> Result<Mutation, StoreError> {
    let physical = Version::from_bytes(&version)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .hlc
        .physical;
    Ok(Mutation {
        seq: 0,
        table: table.to_string(),
        table_version: table_version.clone(),
        key,
        version,
        prev,
        context,
        image,
        commit_real: physical,
        ttl,
        unit: (0, 1),
    })
}

/// The leaves whose summaries differ between two lists of non-empty
/// leaves, each in leaf order, in leaf order.
pub fn differing_leaves(a: &[(u32, Summary)], b: &[(u32, Summary)]) -> Vec<u32> {
    let a: HashMap<u32, Summary> = a.iter().copied().collect();
    let b: HashMap<u32, Summary> = b.iter().copied().collect();
    let mut out: Vec<u32> = a
        .keys()
        .chain(b.keys())
        .copied()
        .filter(|l| a.get(l) != b.get(l))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A node whose summary the store keeps.
fn check_stored(node: NodeId) -> Result<(), StoreError> {
    if node.level > digest::LEAF_LEVEL {
        return Err(StoreError::Invalid(meridian_core::Error::invalid(
            "level",
            format!(
                "{} is below the stored leaves (level {}); sum the leaf's heads instead",
                node.level,
                digest::LEAF_LEVEL
            ),
        )));
    }
    Ok(())
}
