//! The group commit: one SQLite transaction that many requests share, so
//! throughput does not pay one fsync per request. Every local write
//! (`write.rs`) and every applied remote mutation (`apply.rs`) runs in a
//! [`Group`], as a [`GroupTxn`]: the item row, its log entry and any
//! conflict record commit together, and nothing in the group is
//! acknowledged before [`Group::commit`]. What they write, a mutation's
//! head and its log entry, is written in `heads.rs`.

use std::collections::HashMap;

use meridian_core::Mutation;
use rusqlite::{Connection, params};

use crate::StoreError;
use crate::cache::{CatalogCache, Records};
use crate::digest::{self as digest_rows, LeafChange};

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

impl Group<'_> {
    /// Opens a group's transaction on the writer's connection
    /// ([`crate::Writer::group_at`]), at `at`, the group's time (µs).
    pub(crate) fn begin<'a>(
        conn: &'a Connection,
        region: &'a str,
        at: u64,
        shard_age: u64,
        records: &'a mut HashMap<String, Records>,
        catalog: &'a mut CatalogCache,
    ) -> Result<Group<'a>, StoreError> {
        exec(conn, "BEGIN IMMEDIATE")?;
        Ok(Group {
            conn,
            region,
            at,
            shard_age,
            records,
            catalog,
            logged: Vec::new(),
            digest: Vec::new(),
            high: Vec::new(),
            committed: false,
            aborted: None,
        })
    }

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
    /// See [`crate::Writer::set_stream_shard_age`], µs.
    pub(crate) shard_age: u64,
    pub(crate) records: &'c mut HashMap<String, Records>,
    pub(crate) catalog: &'c mut CatalogCache,
    pub(crate) logged: &'c mut Vec<Mutation>,
    pub(crate) digest: &'c mut Vec<LeafChange>,
    pub(crate) high: &'c mut Vec<(String, Vec<u8>)>,
}

/// Runs a transaction-control statement through the statement cache: these
/// run several times per request, and re-parsing them each time showed up
/// in profiles of the write path.
pub(crate) fn exec(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
