//! Seeding an empty store from a peer's snapshot.
//!
//! A region that starts on an empty data directory (a lost disk, or a new
//! region) would otherwise pull every head from its peers through the
//! repair exchange, one LWW apply at a time. Every region is a full replica,
//! so a peer's store already is the region's future state; copying it whole
//! is how replicated stores bootstrap a replica (a Raft snapshot, streamed
//! SSTables). The peer writes one consistent copy of its database
//! ([`Reader::snapshot_to`]: SQLite's online backup, every page in one step,
//! so one read snapshot); the region checks it as untrusted input and turns
//! it into its own store ([`adopt`]), then opens it as usual.
//!
//! What belongs to the peer rather than to the data is dropped or rewritten
//! (docs/repair.md, "Seeding from a peer"): the peer's log, epochs, outbound
//! watermarks, conflict records, point-in-time history and settings, and change-stream records go; its record of this region's old log
//! goes (that log no longer exists); the peer's own log is recorded as
//! applied through its head at the snapshot, since every entry of it is in
//! the snapshot's items; the other senders' positions stay, because the
//! snapshot holds exactly what the peer had applied from them. Items,
//! tombstones, the digest, the high-water marks and the purge horizon are
//! the data and stay. After that, the log streams and repair rounds bring
//! what was written since, as after any restart.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use meridian_core::digest::{self, HeadDigest, LEAVES, Summary};
use meridian_core::{CATALOG_TABLE, Context, EncodedKey, TableDef, Version, decode_item};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use thiserror::Error;

use crate::read::Reader;
use crate::{SCHEMA, SCHEMA_VERSION, StoreError, db_path, digest as digest_rows};

impl Reader {
    /// Writes a consistent copy of the whole store to a new file at `path`:
    /// SQLite's online backup in a single step, so every page comes from one
    /// read snapshot and writers go on meanwhile (WAL). Returns the file's
    /// size in bytes.
    pub fn snapshot_to(&self, path: &Path) -> Result<u64, StoreError> {
        let mut dest = Connection::open(path)?;
        // A scratch file: the caller streams it and deletes it; a crash
        // leaves nothing anyone reads.
        dest.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")?;
        {
            let backup = rusqlite::backup::Backup::new(self.conn(), &mut dest)?;
            // -1: every page at once, so the copy never restarts when the
            // writer commits and never mixes two snapshots.
            backup.step(-1)?;
        }
        drop(dest);
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }
}

/// What [`adopt`] found in a peer's snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    /// The peer's log as the snapshot holds it: its current epoch and head.
    pub peer_log: Option<(String, u64)>,
    /// Live items and tombstones taken over, all tables.
    pub items: u64,
    pub tombstones: u64,
    /// Tables whose data was dropped because this region holds no replica
    /// of them.
    pub dropped_tables: Vec<String>,
}

/// Checks the snapshot `file` that `peer` sent and makes it the store of
/// `region` in `data_dir`, which must hold no store yet. Everything in the
/// file is untrusted: its schema must be exactly this build's, its pages
/// must pass SQLite's integrity check, every head must decode and carry a
/// version at most `max_physical` (the drift guard), and every table's
/// stored digest must equal a recomputation from its items. On any error
/// nothing is installed.
pub fn adopt(
    file: &Path,
    data_dir: &Path,
    region: &str,
    peer: &str,
    max_physical: u64,
) -> Result<Seeded, StoreError> {
    let refuse = |reason: String| StoreError::Open {
        path: file.to_path_buf(),
        reason,
    };
    let target = db_path(data_dir);
    if target.exists() {
        return Err(refuse(format!(
            "{} already holds a store; only an empty data directory is seeded",
            data_dir.display()
        )));
    }
    let mut conn = open_snapshot(file, peer)?;
    let t = std::time::Instant::now();
    let mut seeded = verify_items(&conn, max_physical).map_err(|e| refuse(e.to_string()))?;
    tracing::debug!(millis = t.elapsed().as_millis() as u64, "seed: verify");
    let t = std::time::Instant::now();

    let tx = conn.transaction()?;
    make_own(&tx, region, peer, &mut seeded)?;
    tx.commit()?;
    drop(conn);
    install(file, &target)?;
    tracing::debug!(
        millis = t.elapsed().as_millis() as u64,
        "seed: fixups+install"
    );
    Ok(seeded)
}

/// Opens `peer`'s snapshot `file` as a database from elsewhere and checks
/// what it is before anything in it is read: this build's schema and
/// schema version, a store of `peer`, pages that pass SQLite's integrity
/// check.
fn open_snapshot(file: &Path, peer: &str) -> Result<Connection, StoreError> {
    let refuse = |reason: String| StoreError::Open {
        path: file.to_path_buf(),
        reason,
    };
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // SQLite's own advice for a database file from elsewhere: nothing in its
    // schema may run functions or write to the schema, and cell sizes are
    // checked as pages are read.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.execute_batch("PRAGMA cell_size_check=ON; PRAGMA journal_mode=DELETE;")?;
    check_schema(&conn, SCHEMA, "this store's").map_err(|e| refuse(e.to_string()))?;
    let meta = |k: &str| -> Result<Option<String>, StoreError> {
        Ok(conn
            .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
            .optional()?)
    };
    if meta("schema_version")?.as_deref() != Some(SCHEMA_VERSION) {
        return Err(refuse(format!(
            "schema_version is {:?}, this build's is {SCHEMA_VERSION:?}",
            meta("schema_version")?
        )));
    }
    if meta("region")?.as_deref() != Some(peer) {
        return Err(refuse(format!(
            "the snapshot is of region {:?}, not of {peer}",
            meta("region")?
        )));
    }
    let t = std::time::Instant::now();
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    tracing::debug!(millis = t.elapsed().as_millis() as u64, "seed: quick_check");
    if check != "ok" {
        return Err(refuse(format!("integrity check: {check}")));
    }
    Ok(conn)
}

/// Makes the verified snapshot `region`'s store, in `tx`: what was the
/// peer's own (its log and epochs, what it recorded of its peers, its
/// conflicts, history, streams, replica settings, a STRONG table's votes)
/// goes, the peer's log position is recorded as applied, the tables
/// without a replica here are dropped, and every index is rebuilt.
fn make_own(
    tx: &rusqlite::Transaction<'_>,
    region: &str,
    peer: &str,
    seeded: &mut Seeded,
) -> Result<(), StoreError> {
    seeded.peer_log = tx
        .query_row(
            "SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM log) FROM epochs ORDER BY n DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)),
        )
        .optional()?;
    tx.execute_batch(
        "DELETE FROM log; DELETE FROM epochs; DELETE FROM watermarks; DELETE FROM conflicts; DELETE FROM conflict_counts;
         DELETE FROM sqlite_sequence WHERE name = 'conflicts'; DELETE FROM history; DELETE FROM pitr; DELETE FROM stream; DELETE FROM stream_shards; DELETE FROM stream_tables; DELETE FROM stream_trims; DELETE FROM removes_applied; DELETE FROM stream_marks; DELETE FROM replica_settings;",
    )?;
    tx.execute("DELETE FROM inbound WHERE peer = ?1", [region])?;
    if let Some((id, head)) = &seeded.peer_log {
        tx.execute(
            "INSERT OR REPLACE INTO inbound (peer, log_id, applied) VALUES (?1, ?2, ?3)",
            params![peer, id, *head as i64],
        )?;
    }
    tx.execute("UPDATE meta SET v = ?1 WHERE k = 'region'", [region])?;
    // A STRONG table's consensus state is the peer's, not this region's
    // (docs/strong.md): what it accepted and promised stays behind. Its
    // chosen entries are the data (kept, with the applied position the
    // items are at), and this region votes again only once it has rejoined.
    tx.execute_batch(
        "DELETE FROM strong_log WHERE idx > (SELECT commit_idx FROM strong_state s WHERE s.tbl = strong_log.tbl);
         UPDATE strong_state SET promised_round = 0, promised_leader = 0, gen_counter = 0, gen_nonce = 0,
            rejoining = 1, seen = zeroblob(51), lives = x'';",
    )?;
    for table in tables_without_replica(tx, region)? {
        tx.execute("DELETE FROM items WHERE tbl = ?1", [&table])?;
        tx.execute("DELETE FROM digest WHERE tbl = ?1", [&table])?;
        seeded.dropped_tables.push(table);
    }
    // The peer's index entries are not checked: every index is built
    // again here from the verified items.
    crate::index::rebuild_all(tx)?;
    Ok(())
}

/// Why a database file from elsewhere (a peer's snapshot, a backup) fails
/// its checks. The caller decides what kind of store error a refusal is
/// (`StoreError::Open`, naming the file); these are the reasons.
#[derive(Debug, Error)]
pub(crate) enum Refused {
    /// SQLite failed reading the file, or building the schema to compare
    /// it with.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A column that is not of the type the schema gives it.
    #[error("{0}")]
    Column(#[from] rusqlite::types::FromSqlError),
    #[error("reading its schema: {0}")]
    ReadSchema(rusqlite::Error),
    /// The file's schema differs from the one expected, object for object.
    #[error(
        "its schema is not {what} (first unexpected object: {extra:?}; first missing: {missing:?})"
    )]
    Schema {
        what: &'static str,
        extra: Option<String>,
        missing: Option<String>,
    },
    /// A head's `what` (version, previous version, context, item) does not
    /// decode.
    #[error("table {table}, a head's {what}: {source}")]
    Head {
        table: Arc<str>,
        what: &'static str,
        source: meridian_core::Error,
    },
    /// A head's version is past what the drift guard accepts.
    #[error(
        "table {table}, a head's version: {physical} µs is past what the drift guard accepts ({max_physical} µs)"
    )]
    Drift {
        table: Arc<str>,
        physical: u64,
        max_physical: u64,
    },
    #[error("table {table}: {source}")]
    ReadDigest { table: String, source: StoreError },
    /// A table's stored digest differs from the one recomputed from its
    /// heads.
    #[error(
        "table {table}: the stored digest differs from its items in {differing} of {leaves} leaves (first: leaf {first}, level {level})"
    )]
    Digest {
        table: String,
        differing: usize,
        leaves: u32,
        first: u32,
        level: u8,
    },
    #[error("checking the snapshot's heads panicked")]
    Panicked,
}

/// A database file from elsewhere (a peer's snapshot, a backup) must have
/// exactly the schema `schema` creates, object for object: a trigger or
/// view of anyone else's making must never run here. `what` names the
/// schema in the error.
pub(crate) fn check_schema(
    conn: &Connection,
    schema: &str,
    what: &'static str,
) -> Result<(), Refused> {
    let objects = |c: &Connection| -> rusqlite::Result<Vec<(String, String, String)>> {
        c.prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
    };
    let fresh = Connection::open_in_memory()?;
    fresh.execute_batch(schema)?;
    let want = objects(&fresh)?;
    let got = objects(conn).map_err(Refused::ReadSchema)?;
    if got != want {
        let extra = got.iter().find(|o| !want.contains(o));
        let missing = want.iter().find(|o| !got.contains(o));
        return Err(Refused::Schema {
            what,
            extra: extra.map(|o| o.1.clone()),
            missing: missing.map(|o| o.1.clone()),
        });
    }
    Ok(())
}

/// One pass over every head: each must decode (version, previous version,
/// context, item image) with a version within the drift guard, and each
/// table's stored digest must equal the one recomputed from its heads, or
/// later repair rounds would compare a digest that lies. This thread reads
/// the rows; decoding them, the bulk of the cost, is shared with a second
/// thread batch by batch.
fn verify_items(conn: &Connection, max_physical: u64) -> Result<Seeded, Refused> {
    let mut stmt = conn
        .prepare("SELECT tbl, pk, sk, version, prev, ctx, image FROM items ORDER BY tbl, pk, sk")?;
    let mut rows = stmt.query([])?;
    let mut mine = Tally::default();
    let theirs = std::thread::scope(|s| -> Result<Tally, Refused> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Head>>(1);
        let worker = s.spawn(move || -> Result<Tally, Refused> {
            let mut t = Tally::default();
            for batch in rx {
                t.check(batch, max_physical)?;
            }
            Ok(t)
        });
        let mut table: Arc<str> = Arc::from("");
        let mut batch = Vec::with_capacity(VERIFY_BATCH);
        let mut read = || -> Result<(), Refused> {
            while let Some(r) = rows.next()? {
                let tbl = r.get_ref(0)?.as_str()?;
                if *table != *tbl {
                    table = Arc::from(tbl);
                }
                batch.push(Head {
                    table: table.clone(),
                    key: EncodedKey {
                        partition: r.get(1)?,
                        sort: r.get(2)?,
                    },
                    version: r.get(3)?,
                    prev: r.get(4)?,
                    ctx: r.get(5)?,
                    image: r.get(6)?,
                });
                if batch.len() == VERIFY_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(VERIFY_BATCH));
                    // The worker takes the batch if it is free; else this
                    // thread checks it, so neither waits on the other.
                    match tx.try_send(full) {
                        Ok(()) => {}
                        Err(std::sync::mpsc::TrySendError::Full(full)) => {
                            mine.check(full, max_physical)?
                        }
                        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Ok(()),
                    }
                }
            }
            mine.check(std::mem::take(&mut batch), max_physical)
        };
        let read = read();
        drop(tx);
        let theirs = worker.join().map_err(|_| Refused::Panicked)??;
        read?;
        Ok(theirs)
    })?;
    mine.merge(theirs);
    // Every table with heads or a digest row: a digest row with no heads
    // behind it must be empty too.
    let mut stmt = conn.prepare("SELECT tbl FROM digest")?;
    let with_digest: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for t in with_digest {
        mine.leaves.entry(Arc::from(t)).or_default();
    }
    for (table, leaves) in &mine.leaves {
        compare_digest(conn, table, leaves)?;
    }
    Ok(Seeded {
        items: mine.items,
        tombstones: mine.tombstones,
        ..Default::default()
    })
}

/// Heads per batch handed between the two checking threads.
const VERIFY_BATCH: usize = 2048;

/// One items row of the snapshot, as read.
struct Head {
    table: Arc<str>,
    key: EncodedKey,
    version: Vec<u8>,
    prev: Option<Vec<u8>>,
    ctx: Vec<u8>,
    image: Option<Vec<u8>>,
}

/// What one checking thread found: each table's leaves recomputed, and
/// the heads counted.
#[derive(Default)]
struct Tally {
    leaves: HashMap<Arc<str>, Vec<Summary>>,
    items: u64,
    tombstones: u64,
}

impl Tally {
    fn check(&mut self, batch: Vec<Head>, max_physical: u64) -> Result<(), Refused> {
        for h in batch {
            // The table is cloned only for an error.
            let at = |what: &'static str| {
                let table = &h.table;
                move |source| Refused::Head {
                    table: table.clone(),
                    what,
                    source,
                }
            };
            let v = Version::from_bytes(&h.version).map_err(at("version"))?;
            if v.hlc.physical > max_physical {
                return Err(Refused::Drift {
                    table: h.table.clone(),
                    physical: v.hlc.physical,
                    max_physical,
                });
            }
            if let Some(prev) = &h.prev {
                Version::from_bytes(prev).map_err(at("previous version"))?;
            }
            Context::from_bytes(&h.ctx).map_err(at("context"))?;
            match &h.image {
                Some(bytes) => {
                    decode_item(bytes).map_err(at("item"))?;
                    self.items += 1;
                }
                None => self.tombstones += 1,
            }
            let head = HeadDigest::of(&h.key, &h.version, h.image.as_deref());
            let leaves = self
                .leaves
                .entry(h.table.clone())
                .or_insert_with(|| vec![Summary::default(); LEAVES as usize]);
            let leaf = &mut leaves[head.leaf().index as usize];
            *leaf = leaf.combine(head.entry);
        }
        Ok(())
    }

    /// Adds another thread's findings; XOR and counts do not depend on
    /// which thread saw which head.
    fn merge(&mut self, other: Tally) {
        self.items += other.items;
        self.tombstones += other.tombstones;
        for (table, leaves) in other.leaves {
            let mine = self
                .leaves
                .entry(table)
                .or_insert_with(|| vec![Summary::default(); LEAVES as usize]);
            for (m, o) in mine.iter_mut().zip(leaves) {
                *m = m.combine(o);
            }
        }
    }
}

fn compare_digest(conn: &Connection, table: &str, recomputed: &[Summary]) -> Result<(), Refused> {
    let stored =
        digest_rows::leaves(conn, table, 0, LEAVES).map_err(|source| Refused::ReadDigest {
            table: table.to_string(),
            source,
        })?;
    let recomputed: Vec<(u32, Summary)> = recomputed
        .iter()
        .enumerate()
        .filter(|(_, s)| **s != Summary::default())
        .map(|(i, s)| (i as u32, *s))
        .collect();
    let differ = crate::differing_leaves(&stored, &recomputed);
    if let Some(first) = differ.first() {
        return Err(Refused::Digest {
            table: table.to_string(),
            differing: differ.len(),
            leaves: LEAVES,
            first: *first,
            level: digest::LEAF_LEVEL,
        });
    }
    Ok(())
}

/// The tables whose definition this region is not a replica of.
fn tables_without_replica(conn: &Connection, region: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT pk, version, image FROM items WHERE tbl = ?1 AND sk = x'' AND image IS NOT NULL",
    )?;
    let defs: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = stmt
        .query_map([CATALOG_TABLE], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (name, version, image) in defs {
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let def = TableDef::from_item(&decode_item(&image).map_err(corrupt)?).map_err(corrupt)?;
        let version = Version::from_bytes(&version).map_err(corrupt)?;
        // The replica set in force: a region added since the table's
        // creation keeps its copy, one removed since does not.
        let def = crate::catalog::with_replicas(conn, def, &version)?;
        if !def.has_replica(region) {
            out.push(String::from_utf8_lossy(&name).into_owned());
        }
    }
    Ok(out)
}

/// Moves the checked file into place durably: synced, renamed, and the
/// directory synced, so a crash leaves either no store or the whole one.
fn install(file: &Path, target: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Open {
        path: target.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::File::open(file)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(file, target).map_err(io)?;
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}
