//! A region's SQLite store.
//!
//! One file holds the items (with tombstones), the mutation log (of
//! [`meridian_core::Mutation`]s), peer watermarks and the conflict log.
//! There is exactly one [`Writer`] per region; it groups many requests into
//! one transaction ([`Writer::group`]) so throughput does not depend on one
//! fsync per item. Any number of
//! [`Reader`]s run beside it on their own connections (WAL mode).
//!
//! Everything here is synchronous. How async code reaches it is the region
//! crate's business (its `bridge` module), so the same store serves live
//! threads and the single-threaded deterministic simulator.

mod apply;
pub mod backup;
mod cache;
mod catalog;
mod digest;
mod error;
mod group;
mod heads;
mod index;
mod log;
pub mod memory;
mod peer_batch;
pub mod pitr;
#[cfg(test)]
mod plans;
mod range;
mod read;
mod replica_settings;
mod replicas;
mod seed;
pub mod stream;
mod strong;
mod strong_snapshot;
mod tombstones;
mod upkeep;
mod write;
mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use apply::{ApplyOutcome, Refusal};
pub(crate) use error::version_from;
pub use error::{ConditionFailure, StoreError};
pub use group::Group;
pub use index::{IndexPos, IndexStats, index_range};
pub use peer_batch::{PeerBatch, Skip, Skipped, Skips};
pub use range::SortRange;
pub use read::{
    BatchFill, CONFLICT_RECORD_OVERHEAD, Digest, LeafHead, Reader, StoredRow, differing_leaves,
};
pub use replica_settings::{LEGACY_DELETION_PROTECTION, LEGACY_TABLE_POLICY, Replaced};
pub use seed::{Seeded, adopt};
pub use strong::{StrongApplied, StrongEvaluated, StrongInstall};
pub use strong_snapshot::StrongSnapshot;
pub use upkeep::Trimmed;
pub use write::{
    CatalogChange, Change, Check, Condition, ItemWrite, Ops, WriteRequest, WriteResult,
};
pub use writer::Writer;

const SCHEMA: &str = include_str!("schema.sql");
const SCHEMA_VERSION: &str = "17";
/// Older schema versions that running [`SCHEMA`] brings up to date by
/// itself (it only adds tables and indexes): 7 lacked the purge horizon
/// and the tombstone index, 8 the point-in-time recovery tables, 9 the
/// change stream, 10 the secondary indexes, 11 the stream's shards (its
/// streams are then one shard each, shard 0, until they roll), 12 the
/// count of removes applied (it then starts from 0 for existing tables),
/// 13 the streams' conflict marks (a watch then shows none of the
/// conflicts resolved before), 14 strong mode's state and log, 15 the
/// per-replica settings (resource policies, contributor insights: none),
/// 16 the count of conflicts per table (initialised from the records kept:
/// [`COUNT_KEPT_CONFLICTS`]).
const UPGRADED_IN_PLACE: &[&str] = &["7", "8", "9", "10", "11", "12", "13", "14", "15", "16"];

/// Fills the per-table conflict counts of a store that had none (every
/// version in [`UPGRADED_IN_PLACE`]) from the records it still keeps: those
/// purged by their retention are not counted, and those of a table's
/// earlier incarnation under the same name are.
const COUNT_KEPT_CONFLICTS: &str = "INSERT OR REPLACE INTO conflict_counts (tbl, n)
     SELECT tbl, COUNT(*) FROM conflicts GROUP BY tbl";

/// How durable an acknowledged write is. See docs/store.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, so an
    /// acknowledged write survives power loss and kernel crashes.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a process crash (kill -9), but the
    /// last commits may be lost on power loss. Faster on slow disks.
    Normal,
    /// `synchronous=OFF`: never fsyncs. Only for the deterministic
    /// simulator, where a crash drops a simulated host but never the
    /// operating system's page cache, so nothing committed is lost there.
    /// A cluster file cannot ask for it.
    Simulated,
}

impl Durability {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Durability::Full),
            "normal" => Some(Durability::Normal),
            _ => None,
        }
    }
}

/// The path of the database inside a region's data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("meridian.db")
}

/// The page cache of the write connection (and the checkpointer's), in
/// KiB: the writer is the only connection that changes the store, so its
/// cache stays valid from one transaction to the next and holds the pages
/// its writes keep coming back to.
const WRITER_CACHE_KIB: u32 = 16_000;

/// The page cache of each reader connection, in KiB. In WAL mode a reader
/// throws its whole cache away at the start of every read transaction once
/// anything has been committed since its last one, so under writes a
/// reader's cache only serves the transaction in progress: enough for the
/// B-tree's upper levels is all it can use. A larger one only filled up
/// during full-table passes (anti-entropy, scans, backups), several at a
/// time, and the allocator kept those pages afterwards: with 16 MiB each, a
/// soak region's C heap held 57 to 75 MiB; with this, about 18.
const READER_CACHE_KIB: u32 = 2_000;

fn open_conn(
    path: &Path,
    durability: Durability,
    read_only: bool,
) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    if !read_only {
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: format!("could not enable WAL, journal mode is {mode}"),
            });
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
            Durability::Simulated => "OFF",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous={sync}; PRAGMA journal_size_limit={WAL_KEEP_BYTES};"
        ))?;
        if durability == Durability::Simulated {
            // Simulations run thousands of small transactions on one thread;
            // reading pages through a mapping saves a syscall per page, and
            // the mapped memory is of no concern there.
            conn.execute_batch("PRAGMA mmap_size=268435456;")?;
        }
    }
    let cache_kib = if read_only {
        READER_CACHE_KIB
    } else {
        WRITER_CACHE_KIB
    };
    conn.execute_batch(&format!(
        "PRAGMA cache_size=-{cache_kib}; PRAGMA temp_store=MEMORY;"
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Stores up to this size are checked with SQLite's `quick_check` each time
/// they open: about a tenth of a second here. A larger one is not, so that
/// a restart does not wait on a pass over the whole file.
pub const STARTUP_CHECK_MAX_BYTES: u64 = 64 << 20;

/// Refuses a store that fails SQLite's integrity check at start-up, when
/// that is cheap ([`STARTUP_CHECK_MAX_BYTES`]): a region must not serve,
/// ship or repair from a file it cannot trust.
fn check_integrity(conn: &Connection, path: &Path, size: u64) -> Result<(), StoreError> {
    if size == 0 {
        return Ok(());
    }
    if size > STARTUP_CHECK_MAX_BYTES {
        tracing::info!(path = %path.display(), mib = size >> 20, "store over 64 MiB: integrity check at start-up skipped");
        return Ok(());
    }
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            reason: format!(
                "the store failed SQLite's integrity check ({check}); restore it from a copy, or start from an empty data directory, which copies a peer's store"
            ),
        });
    }
    Ok(())
}

/// Opens (creating if needed) the region's store and returns its one writer.
/// Refuses a data directory that belongs to another region.
pub fn open(data_dir: &Path, region: &str, durability: Durability) -> Result<Writer, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
        path: data_dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let path = db_path(data_dir);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    let conn = open_conn(&path, durability, false)?;
    check_integrity(&conn, &path, size)?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.unchecked_transaction()?;
    // Each check with what to do about a mismatch.
    let checks = [
        ("region", region, ""),
        (
            "schema_version",
            SCHEMA_VERSION,
            "; there is no migration, so start from an empty data directory (`meridian up --wipe`)",
        ),
    ];
    for (k, v, hint) in checks {
        let existing: Option<String> = tx
            .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
            .optional()?;
        match existing {
            Some(e) if k == "schema_version" && UPGRADED_IN_PLACE.contains(&e.as_str()) => {
                tx.execute("UPDATE meta SET v = ?2 WHERE k = ?1", [k, v])?;
                tx.execute(COUNT_KEPT_CONFLICTS, [])?;
            }
            Some(e) if e != v => {
                return Err(StoreError::Open {
                    path,
                    reason: format!("{k} is {e:?} in this data directory, expected {v:?}{hint}"),
                });
            }
            Some(_) => {}
            None => {
                tx.execute("INSERT INTO meta (k, v) VALUES (?1, ?2)", [k, v])?;
            }
        }
    }
    // Every opening starts a new epoch of the log (meridian_core::epoch):
    // nothing durable tells a clean restart from a restored copy or a
    // rollback, so peers resume only as far as the chain vouches for.
    tx.execute(
        "INSERT INTO epochs (id, start)
         VALUES (lower(hex(randomblob(8))), (SELECT COALESCE(MAX(seq), 0) + 1 FROM log))",
        [],
    )?;
    tx.execute(
        "DELETE FROM epochs WHERE n <= (SELECT MAX(n) FROM epochs) - ?1",
        [meridian_core::epoch::MAX_EPOCHS as i64],
    )?;
    tx.commit()?;
    Ok(Writer::new(conn, region.to_string(), path))
}

/// WAL pages after which the writer checkpoints by itself when nothing else
/// does: about 64 MiB of WAL. Normally a [`Checkpointer`] keeps the WAL far
/// below this, off the writer's thread.
const WRITER_CHECKPOINT_PAGES: u32 = 16_384;

/// The size a WAL file is cut back to when SQLite starts it over from its
/// first frame: what the writer's own checkpoints let it reach. SQLite
/// otherwise keeps a WAL file at the largest size it ever had, so one
/// burst (a restarted region catching up on its peers' backlog while the
/// checkpointer could not restart the WAL) left the data directory 30 MiB
/// larger for the life of the process in a soak, against its neighbours
/// and its own earlier process. Steady running keeps the file it uses.
const WAL_KEEP_BYTES: u64 = WRITER_CHECKPOINT_PAGES as u64 * 4096;

/// Copies committed WAL pages back into the database file on its own
/// connection, so the writer's commits do not pay for it. SQLite's default
/// (an automatic checkpoint inside the commit that crosses 1,000 WAL pages)
/// took about a third of the writer's time while a region caught up.
pub struct Checkpointer {
    conn: Connection,
}

impl Checkpointer {
    /// Runs one passive checkpoint: it never waits for or blocks the writer
    /// or readers, and copies what it can. Returns the WAL's size in pages
    /// and how many of them are now in the database file.
    pub fn run(&self) -> Result<(i64, i64), StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })?)
    }
}

/// Opens a checkpointer on an existing store and hands checkpoints over to
/// it: from now on the writer only checkpoints if the WAL grows past
/// [`WRITER_CHECKPOINT_PAGES`], a safety net should the checkpointer stall.
pub fn open_checkpointer(
    writer: &Writer,
    durability: Durability,
) -> Result<Checkpointer, StoreError> {
    let conn = open_conn(writer.path(), durability, false)?;
    writer.set_auto_checkpoint(WRITER_CHECKPOINT_PAGES)?;
    Ok(Checkpointer { conn })
}

/// Opens a reader on an existing store.
pub fn open_reader(data_dir: &Path) -> Result<Reader, StoreError> {
    let conn = open_conn(&db_path(data_dir), Durability::Full, true)?;
    conn.execute_batch("PRAGMA query_only=ON;")?;
    Ok(Reader::new(conn))
}
