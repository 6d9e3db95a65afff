//! The group commit shared by both write paths. Every local write
//! (`write.rs`) and every applied remote mutation (`apply.rs`) goes through
//! a [`Group`]: one SQLite transaction in which the item row, its log entry
//! and any conflict record commit together. What both paths write, a
//! mutation's head and its log entry, is written here and nowhere else.

use std::collections::HashMap;
use std::path::PathBuf;

use meridian_core::digest::{self, HeadDigest, Summary};
use meridian_core::{
    CATALOG_TABLE, Context, EncodedKey, Head, Mutation, TableDef, Version, decode_item,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::digest::{self as digest_rows, LeafChange};
use crate::stream::StreamOn;
use crate::{StoreError, log, version_from};

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

/// After how long (µs) a change stream's shard closes unless set
/// otherwise: four hours, as DynamoDB's shards roll.
const DEFAULT_SHARD_AGE: u64 = 4 * 3600 * 1_000_000;

/// The one writer of a region's store.
pub struct Writer {
    conn: Connection,
    region: String,
    path: PathBuf,
    /// Live table definitions by name; cleared whenever the catalog may have changed.
    catalog: CatalogCache,
    /// What a change of a table records besides its head here (history,
    /// stream), by name; cleared with the catalog and whenever a setting
    /// changes.
    records: HashMap<String, Records>,
    /// The time of the last group (µs): the next never goes below it, so
    /// history rows never go back in time.
    last_at: u64,
    /// After how long (µs) a change stream's shard closes and the next
    /// opens, at the first change past it (docs/streams.md).
    shard_age: u64,
}

impl Writer {
    pub(crate) fn new(conn: Connection, region: String, path: PathBuf) -> Self {
        Writer {
            conn,
            region,
            path,
            catalog: CatalogCache::default(),
            records: HashMap::new(),
            last_at: 0,
            shard_age: DEFAULT_SHARD_AGE,
        }
    }

    /// Sets after how long a change stream's shard closes and the next
    /// opens (DynamoDB rolls its shards about every four hours).
    pub fn set_stream_shard_age(&mut self, age: std::time::Duration) {
        self.shard_age = (age.as_micros() as u64).max(1);
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How many times a cached table definition was dropped because the
    /// catalog may have changed: a definition read while this had some
    /// value is current for as long as it keeps it (the region's readers
    /// cache definitions on it).
    pub fn catalog_epoch(&self) -> u64 {
        self.catalog.epoch
    }

    /// Sets after how many WAL pages a commit checkpoints by itself.
    pub(crate) fn set_auto_checkpoint(&self, pages: u32) -> Result<(), StoreError> {
        self.conn.query_row(
            &format!("PRAGMA wal_autocheckpoint={pages}"),
            [],
            |_| Ok(()),
        )?;
        Ok(())
    }

    /// The highest version among the heads this store has written, of any
    /// origin: the clock restarts above it. Reads the stored high-water
    /// marks (one row per region), never the log.
    pub fn max_version(&self) -> Result<Option<Version>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT version FROM high_water")?;
        let mut max: Option<Version> = None;
        for v in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))? {
            let v = version_from(Some(v?))?;
            if v > max {
                max = v;
            }
        }
        Ok(max)
    }

    /// Starts a group commit at the system clock's time: [`Writer::group_at`].
    pub fn group(&mut self) -> Result<Group<'_>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.group_at(now)
    }

    /// Starts a group commit. Everything done through it commits in one
    /// transaction with one fsync. `real_micros` is the region's time, which
    /// point-in-time history records its changes at.
    pub fn group_at(&mut self, real_micros: u64) -> Result<Group<'_>, StoreError> {
        exec(&self.conn, "BEGIN IMMEDIATE")?;
        self.last_at = self.last_at.max(real_micros);
        Ok(Group {
            conn: &self.conn,
            region: &self.region,
            at: self.last_at,
            shard_age: self.shard_age,
            records: &mut self.records,
            catalog: &mut self.catalog,
            logged: Vec::new(),
            digest: Vec::new(),
            high: Vec::new(),
            committed: false,
            aborted: None,
        })
    }
}

/// One open group-commit transaction.
pub struct Group<'a> {
    conn: &'a Connection,
    region: &'a str,
    /// The group's time, µs: what history rows record.
    at: u64,
    shard_age: u64,
    catalog: &'a mut CatalogCache,
    records: &'a mut HashMap<String, Records>,
    /// What this group appended to the log so far, in order: handed out at
    /// commit so shippers can send it without reading it back.
    logged: Vec<Mutation>,
    /// The group's changes to digest leaves, in order, written once per
    /// leaf just before it commits (see `crate::digest`).
    digest: Vec<LeafChange>,
    /// The highest version the group put as a head, per origin: raises the
    /// `high_water` rows at commit. A request rolled back may leave its
    /// versions here; a mark that is too high only keeps the clock higher.
    high: Vec<(String, Vec<u8>)>,
    committed: bool,
    /// Why the group can no longer commit: a request failed half-written,
    /// or SQLite ended the transaction. Set once; commit refuses after it.
    aborted: Option<String>,
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Cached catalog entries may describe what is being rolled back.
            self.catalog.clear();
            self.records.clear();
            if let Err(e) = exec(self.conn, "ROLLBACK") {
                tracing::error!(error = %e, "rollback of an abandoned group failed");
            }
        }
    }
}

/// The live table definitions the writer has worked out, by name (`None`:
/// no such table), and a count of the times any was dropped. Every change
/// of a catalog row that a definition is worked out from drops the
/// table's entry first, so the count moves whenever a definition may
/// have changed.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    defs: HashMap<String, Option<(TableDef, Version)>>,
    epoch: u64,
}

impl CatalogCache {
    pub(crate) fn get(&self, name: &str) -> Option<&Option<(TableDef, Version)>> {
        self.defs.get(name)
    }

    pub(crate) fn insert(&mut self, name: String, def: Option<(TableDef, Version)>) {
        self.defs.insert(name, def);
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.defs.remove(name);
        self.epoch += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.defs.clear();
        self.epoch += 1;
    }
}

/// What a change of a table records besides its head, cached per table
/// in the writer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Records {
    pub history: bool,
    pub stream: Option<StreamOn>,
    /// The secondary indexes whose entries a change keeps.
    pub indexes: Option<std::sync::Arc<[meridian_core::index::IndexDef]>>,
    /// The stream's last shard and when it opened (µs); `None` before its
    /// first record.
    pub shard: Option<(u32, u64)>,
}

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

impl Group<'_> {
    /// Commits the group. Only after this returns may any request in it be
    /// acknowledged. Returns the log entries it appended, in log order.
    pub fn commit(mut self) -> Result<Vec<Mutation>, StoreError> {
        if let Some(why) = self.aborted.take() {
            // Dropping the group rolls it back.
            return Err(StoreError::GroupAborted(why));
        }
        // Still inside the transaction: a failure here commits nothing.
        digest_rows::write_changes(self.conn, std::mem::take(&mut self.digest))?;
        for (origin, version) in &self.high {
            // max() on blobs compares bytes, which is version order.
            self.conn
                .prepare_cached(
                    "INSERT INTO high_water (origin, version) VALUES (?1, ?2)
                     ON CONFLICT (origin) DO UPDATE SET version = max(version, excluded.version)",
                )?
                .execute(params![origin, version])?;
        }
        exec(self.conn, "COMMIT")?;
        self.committed = true;
        Ok(std::mem::take(&mut self.logged))
    }

    /// Runs `f` inside a savepoint: on error everything it did is undone and
    /// the rest of the group is unaffected.
    pub(crate) fn isolated<T>(
        &mut self,
        f: impl FnOnce(&mut GroupTxn<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        exec(self.conn, "SAVEPOINT request")?;
        let logged = self.logged.len();
        let digest = self.digest.len();
        let result = self.unguarded(f);
        if self.conn.is_autocommit() {
            // No savepoint left to release: `unguarded` reported the abort.
            return result;
        }
        let end = if result.is_ok() {
            exec(self.conn, "RELEASE request")
        } else {
            // What the savepoint undoes is no longer part of the log.
            self.logged.truncate(logged);
            self.digest.truncate(digest);
            exec(self.conn, "ROLLBACK TO request").and_then(|_| exec(self.conn, "RELEASE request"))
        };
        if let Err(e) = end {
            self.aborted.get_or_insert_with(|| e.to_string());
            return Err(StoreError::GroupAborted(e.to_string()));
        }
        result
    }

    /// Runs `f` in the group's transaction as it stands, without a
    /// savepoint. SQLite may have rolled the whole transaction back on its
    /// own (full disk, I/O error); then the group is aborted, since
    /// continuing would commit later requests outside it.
    pub(crate) fn unguarded<T>(
        &mut self,
        f: impl FnOnce(&mut GroupTxn<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut ctx = GroupTxn {
            conn: self.conn,
            region: self.region,
            at: self.at,
            shard_age: self.shard_age,
            records: self.records,
            catalog: self.catalog,
            logged: &mut self.logged,
            digest: &mut self.digest,
            high: &mut self.high,
        };
        let mut result = f(&mut ctx);
        if result.is_err() {
            // Cached catalog entries may describe what is being undone.
            self.catalog.clear();
            self.records.clear();
        }
        if self.conn.is_autocommit() {
            result = Err(StoreError::GroupAborted(match result {
                Err(e) => e.to_string(),
                Ok(_) => "the transaction ended unexpectedly".into(),
            }));
        }
        if let Err(StoreError::GroupAborted(why)) = &result {
            self.aborted.get_or_insert_with(|| why.clone());
        }
        result
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
        self.isolated(|ctx| {
            ctx.conn
                .prepare_cached(
                    "INSERT INTO inbound (peer, log_id, applied) VALUES (?1, ?2, ?3)
                     ON CONFLICT (peer) DO UPDATE SET log_id = excluded.log_id, applied = excluded.applied",
                )?
                .execute(params![peer, log_id, applied as i64])?;
            Ok(())
        })
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

/// The group's open transaction as one request, or one step of upkeep,
/// works in it: the connection, the group's time and caches, and what the
/// group writes at commit (log entries, digest changes, high-water marks).
/// Handed out by [`Group::isolated`] (inside a savepoint) and
/// [`Group::unguarded`]; the store's write paths are methods on it.
pub(crate) struct GroupTxn<'c, 'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) region: &'a str,
    /// The group's time, µs.
    pub(crate) at: u64,
    /// See [`Writer::set_stream_shard_age`], µs.
    pub(crate) shard_age: u64,
    pub(crate) records: &'c mut HashMap<String, Records>,
    pub(crate) catalog: &'c mut CatalogCache,
    pub(crate) logged: &'c mut Vec<Mutation>,
    pub(crate) digest: &'c mut Vec<LeafChange>,
    pub(crate) high: &'c mut Vec<(String, Vec<u8>)>,
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

    /// The live definition of a table and its catalog version.
    pub(crate) fn table_def(
        &mut self,
        name: &str,
    ) -> Result<Option<(TableDef, Version)>, StoreError> {
        if let Some(hit) = self.catalog.get(name) {
            return Ok(hit.clone());
        }
        let def = match self.head(CATALOG_TABLE, &TableDef::catalog_key(name))? {
            Some(HeadRow {
                version,
                image: Some(image),
                ..
            }) => {
                let item = decode_item(&image).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let def =
                    TableDef::from_item(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let def = crate::catalog::effective(self.conn, def, &version)?;
                Some((def, version))
            }
            _ => None,
        };
        self.catalog.insert(name.to_string(), def.clone());
        Ok(def)
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

/// Runs a transaction-control statement through the statement cache: these
/// run several times per request, and re-parsing them each time showed up
/// in profiles of the write path.
pub(crate) fn exec(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use meridian_core::hlc::ManualClock;
    use meridian_core::{
        AttrValue, Hlc, Item, KeyAttr, KeySchema, KeyType, PhysicalClock, TableDef,
    };

    use crate::{Durability, WriteOp};

    /// A strong-mode evaluation writes nothing: a group of evaluations
    /// alone adds no frame to the WAL (no fsync) and raises no high-water
    /// mark, and what it returns is the mutation a write would store.
    #[test]
    fn an_evaluation_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = crate::open(dir.path(), "r-a", Durability::Normal).unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let hlc = Hlc::new(clock.clone() as Arc<dyn PhysicalClock>, 500_000);
        let def = TableDef::new(
            "items",
            KeySchema {
                partition: KeyAttr {
                    name: "id".into(),
                    ty: KeyType::S,
                },
                sort: None,
            },
            vec!["r-a".into()],
        )
        .unwrap();
        let put = WriteOp::Put {
            table: "items".into(),
            item: Item::from([("id".to_string(), AttrValue::S("k".into()))]),
            condition: None,
        };
        let mut g = writer.group().unwrap();
        g.write(&hlc, 1, &[WriteOp::CreateTable(def)]).unwrap();
        g.commit().unwrap();
        let before = writer.max_version().unwrap();
        // Frames in the WAL, all copied back: a commit that wrote would
        // change the count (more frames, or the WAL started over).
        let frames = |w: &crate::Writer| -> i64 {
            w.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap()
        };
        let wal = frames(&writer);
        clock.advance(1_000);
        let mut g = writer.group().unwrap();
        let e = g
            .strong_evaluate(&hlc, 2, std::slice::from_ref(&put))
            .unwrap();
        assert!(g.commit().unwrap().is_empty());
        assert_eq!(
            frames(&writer),
            wal,
            "the evaluation's group wrote to the WAL"
        );
        assert_eq!(writer.max_version().unwrap(), before);
        assert_eq!(e.writes.expect, [None], "the key held nothing");
        let [m] = &e.writes.mutations[..] else {
            panic!("one mutation: {:?}", e.writes.mutations)
        };
        assert_eq!(m.version, e.results[0].version.to_bytes());
        assert!(m.version > before.unwrap().to_bytes());
        assert_eq!(
            m.image,
            Some(meridian_core::value::encode_item(&match put {
                WriteOp::Put { item, .. } => item,
                _ => unreachable!(),
            }))
        );
    }
}
