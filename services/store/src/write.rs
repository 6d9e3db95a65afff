//! The single write path. Every local write and every applied remote
//! mutation goes through a [`Group`]: one SQLite transaction in which the
//! item row, its log entry and any conflict record commit together.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use meridian_core::{
    CATALOG_TABLE, Context, EncodedKey, Head, Hlc, Item, TableDef, Version, decode_item,
    encode_item, resolve,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{LogEntry, StoreError, version_from};

/// Most item bytes one request may write: its unit must fit one replication
/// message. DynamoDB caps a BatchWriteItem request at 16 MB too.
pub const MAX_UNIT_BYTES: usize = 16 << 20;

/// The one writer of a region's store.
pub struct Writer {
    conn: Connection,
    region: String,
    path: PathBuf,
    /// Live table definitions by name; cleared whenever the catalog may have changed.
    catalog: HashMap<String, Option<(TableDef, Version)>>,
}

/// A condition on the current item (`None`: no live item), evaluated inside
/// the write's transaction. Expression conditions arrive as closures so the
/// store stays independent of the expression language.
pub type Check = Arc<dyn Fn(Option<&Item>) -> bool + Send + Sync>;

/// Computes the new item from the current one (`None`: no live item yet),
/// inside the write's transaction: an atomic read-modify-write.
pub type Change = Arc<dyn Fn(Option<&Item>) -> Result<Item, meridian_core::Error> + Send + Sync>;

/// What must hold of the current item for a write to go ahead.
#[derive(Clone)]
pub enum Condition {
    MustNotExist,
    VersionEquals(Version),
    Check(Check),
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::MustNotExist => f.write_str("MustNotExist"),
            Condition::VersionEquals(v) => write!(f, "VersionEquals({v})"),
            Condition::Check(_) => f.write_str("Check(..)"),
        }
    }
}

/// Why a condition did not hold, with the item it was checked against.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionFailure {
    pub message: String,
    pub current: Option<Item>,
}

impl std::fmt::Display for ConditionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One local operation. A request of several ops commits all or nothing, and
/// replicates as one unit that every peer applies all or nothing.
#[derive(Clone)]
pub enum WriteOp {
    Put {
        table: String,
        item: Item,
        condition: Option<Condition>,
    },
    Delete {
        table: String,
        key: Item,
        condition: Option<Condition>,
    },
    /// Read-modify-write of one item; the result must keep the key.
    Update {
        table: String,
        key: Item,
        change: Change,
        condition: Option<Condition>,
    },
    /// A condition with no write, for transactions.
    ConditionCheck {
        table: String,
        key: Item,
        condition: Condition,
    },
    /// A TTL expiry: deletes the item only if its version is still
    /// `version` and TTL is still enabled on `attribute`.
    Expire {
        table: String,
        key: Item,
        version: Version,
        attribute: String,
    },
    CreateTable(TableDef),
    DeleteTable(String),
    /// Enables (`Some(attribute)`) or disables TTL on a table.
    SetTtl {
        table: String,
        attribute: Option<String>,
    },
    /// Sets `add` and removes `remove` among the tags of the table's replica
    /// in this region, within the write's transaction.
    Tag {
        table: String,
        add: meridian_core::schema::Tags,
        remove: Vec<String>,
    },
}

impl WriteOp {
    fn is_catalog(&self) -> bool {
        matches!(
            self,
            WriteOp::CreateTable(_)
                | WriteOp::DeleteTable(_)
                | WriteOp::SetTtl { .. }
                | WriteOp::Tag { .. }
        )
    }
}

impl std::fmt::Debug for WriteOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteOp::Put {
                table,
                item,
                condition,
            } => write!(f, "Put({table}, {item:?}, {condition:?})"),
            WriteOp::Delete {
                table,
                key,
                condition,
            } => write!(f, "Delete({table}, {key:?}, {condition:?})"),
            WriteOp::Update {
                table,
                key,
                condition,
                ..
            } => write!(f, "Update({table}, {key:?}, {condition:?})"),
            WriteOp::ConditionCheck {
                table,
                key,
                condition,
            } => {
                write!(f, "ConditionCheck({table}, {key:?}, {condition:?})")
            }
            WriteOp::Expire {
                table,
                key,
                version,
                ..
            } => write!(f, "Expire({table}, {key:?}, {version})"),
            WriteOp::CreateTable(def) => write!(f, "CreateTable({})", def.name),
            WriteOp::DeleteTable(name) => write!(f, "DeleteTable({name})"),
            WriteOp::SetTtl { table, attribute } => write!(f, "SetTtl({table}, {attribute:?})"),
            WriteOp::Tag { table, add, remove } => write!(f, "Tag({table}, {add:?}, {remove:?})"),
        }
    }
}

/// The outcome of one op. A condition check writes nothing: its `seq` is 0
/// and `version` is the head's (or a zero version when there is none).
#[derive(Clone, Debug, PartialEq)]
pub struct WriteResult {
    pub version: Version,
    pub prev: Option<Version>,
    pub seq: u64,
    /// The live item before the write.
    pub old: Option<Item>,
    /// The live item after the write.
    pub new: Option<Item>,
}

/// A mutation received from a peer, already decoded and validated.
#[derive(Clone, Debug)]
pub struct RemoteEntry {
    /// The sender's log position.
    pub seq: u64,
    pub table: String,
    pub table_version: Option<Version>,
    pub key: EncodedKey,
    pub version: Version,
    pub prev: Option<Version>,
    /// The writes this one descends from, itself included.
    pub context: Context,
    /// Canonical item bytes; `None` is a tombstone.
    pub image: Option<Vec<u8>>,
    pub commit_real: u64,
    /// A tombstone written by TTL expiry.
    pub ttl: bool,
    /// Position and length of the origin request's unit.
    pub unit: (u32, u32),
}

#[derive(Clone, Debug, Default)]
pub struct ApplyOutcome {
    /// The sender position durably applied once the group commits.
    pub applied_through: u64,
    pub applied: usize,
    pub duplicates: usize,
    /// Mutations for a table that was deleted after they were written.
    pub dropped: usize,
    pub conflicts: usize,
    /// Why the entries after `applied_through` were refused; the sender retries them.
    pub refused: Option<String>,
    pub drift_refused: bool,
    /// A catalog change was applied, and logged to be relayed.
    pub relayed: bool,
    /// Real-time delivery latency of each processed entry, in µs.
    pub latencies_micros: Vec<u64>,
}

impl Writer {
    pub(crate) fn new(conn: Connection, region: String, path: PathBuf) -> Self {
        Writer {
            conn,
            region,
            path,
            catalog: HashMap::new(),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
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

    /// The highest version timestamp in the log, to restore the HLC after a restart.
    pub fn max_logged_version(&self) -> Result<Option<Version>, StoreError> {
        let v: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT MAX(version) FROM log", [], |r| r.get(0))?;
        version_from(v)
    }

    /// Starts a group commit. Everything done through it commits in one
    /// transaction with one fsync.
    pub fn group(&mut self) -> Result<Group<'_>, StoreError> {
        exec(&self.conn, "BEGIN IMMEDIATE")?;
        Ok(Group {
            conn: &self.conn,
            region: &self.region,
            catalog: &mut self.catalog,
            logged: Vec::new(),
            committed: false,
            aborted: None,
        })
    }
}

/// One open group-commit transaction.
pub struct Group<'a> {
    conn: &'a Connection,
    region: &'a str,
    catalog: &'a mut HashMap<String, Option<(TableDef, Version)>>,
    /// What this group appended to the log so far, in order: handed out at
    /// commit so shippers can send it without reading it back.
    logged: Vec<LogEntry>,
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
            if let Err(e) = exec(self.conn, "ROLLBACK") {
                tracing::error!(error = %e, "rollback of an abandoned group failed");
            }
        }
    }
}

/// One local op, resolved against the current state, not yet written.
struct Plan {
    index: usize,
    table: String,
    key: EncodedKey,
    table_version: Option<Version>,
    head: Option<HeadRow>,
    /// The live item now, decoded.
    current: Option<Item>,
    failure: Option<ConditionFailure>,
    /// `Some(image)` to write (`Some(None)` a tombstone); `None` writes nothing.
    write: Option<Option<Item>>,
    ttl: bool,
    /// A table whose items go with this catalog write.
    purge: Option<String>,
}

impl Plan {
    fn new(
        table: &str,
        key: EncodedKey,
        table_version: Option<Version>,
        head: Option<HeadRow>,
    ) -> Result<Self, StoreError> {
        let current = match head.as_ref().and_then(|h| h.image.as_deref()) {
            Some(bytes) => {
                Some(decode_item(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
            None => None,
        };
        Ok(Plan {
            index: 0,
            table: table.to_string(),
            key,
            table_version,
            head,
            current,
            failure: None,
            write: None,
            ttl: false,
            purge: None,
        })
    }

    /// The row this op touches, for the one-touch-per-key rule.
    fn target(&self) -> (&str, &EncodedKey) {
        (self.table.as_str(), &self.key)
    }

    fn check(&mut self, condition: Option<&Condition>) {
        let version = self.head.as_ref().map(|h| &h.version);
        let message = match condition {
            None => None,
            Some(Condition::MustNotExist) => self.current.is_some().then(|| {
                format!(
                    "the item exists, at version {}",
                    version.map(ToString::to_string).unwrap_or_default()
                )
            }),
            Some(Condition::VersionEquals(want)) => match version {
                Some(h) if h == want => None,
                Some(h) => Some(format!(
                    "expected version {want}, the current version is {h}"
                )),
                None => Some(format!("expected version {want}, the item does not exist")),
            },
            Some(Condition::Check(f)) => {
                (!f(self.current.as_ref())).then(|| "The conditional request failed".to_string())
            }
        };
        self.failure = message.map(|message| ConditionFailure {
            message,
            current: self.current.clone(),
        });
    }
}

/// One mutation about to become a head and a log entry.
struct MutationRow<'m> {
    table: &'m str,
    table_version: Option<&'m Version>,
    key: &'m EncodedKey,
    version: &'m Version,
    prev: Option<&'m Version>,
    context: &'m Context,
    image: Option<&'m [u8]>,
    /// Written by TTL expiry.
    ttl: bool,
    /// Position and length of the replication unit this mutation belongs to.
    unit: (u32, u32),
}

struct HeadRow {
    version: Version,
    context: Context,
    ttl: bool,
    image: Option<Vec<u8>>,
}

impl Group<'_> {
    /// Commits the group. Only after this returns may any request in it be
    /// acknowledged. Returns the log entries it appended, in log order.
    pub fn commit(mut self) -> Result<Vec<LogEntry>, StoreError> {
        if let Some(why) = self.aborted.take() {
            // Dropping the group rolls it back.
            return Err(StoreError::GroupAborted(why));
        }
        exec(self.conn, "COMMIT")?;
        self.committed = true;
        Ok(std::mem::take(&mut self.logged))
    }

    /// Runs `f` inside a savepoint: on error everything it did is undone and
    /// the rest of the group is unaffected.
    fn isolated<T>(
        &mut self,
        f: impl FnOnce(&mut Ctx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        exec(self.conn, "SAVEPOINT request")?;
        let logged = self.logged.len();
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
            exec(self.conn, "ROLLBACK TO request").and_then(|_| exec(self.conn, "RELEASE request"))
        };
        if let Err(e) = end {
            self.aborted.get_or_insert_with(|| e.to_string());
            return Err(StoreError::GroupAborted(e.to_string()));
        }
        result
    }

    /// Applies one local request (one or more ops) atomically inside the group.
    /// A request refused by validation or a condition leaves no trace; the
    /// others in the group are unaffected.
    ///
    /// No savepoint: a savepoint per request costs sub-journal writes on
    /// the hottest path, and a request writes nothing until every op has
    /// been validated and every condition holds. An error after its first
    /// write can only come from SQLite itself (an I/O error, a full disk);
    /// it aborts the whole group, so a half-written request is never
    /// committed and nothing in the group is acknowledged.
    pub fn write(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteResult>, StoreError> {
        self.unguarded(|ctx| ctx.write_ops(hlc, real_now, ops))
    }

    /// Runs `f` in the group's transaction as it stands, without a
    /// savepoint. SQLite may have rolled the whole transaction back on its
    /// own (full disk, I/O error); then the group is aborted, since
    /// continuing would commit later requests outside it.
    fn unguarded<T>(
        &mut self,
        f: impl FnOnce(&mut Ctx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut ctx = Ctx {
            conn: self.conn,
            region: self.region,
            catalog: self.catalog,
            logged: &mut self.logged,
        };
        let mut result = f(&mut ctx);
        if result.is_err() {
            // Cached catalog entries may describe what is being undone.
            self.catalog.clear();
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

    /// Applies a batch from `peer` in order: LWW per mutation, conflicts
    /// recorded, the sender's position advanced. Stops at the first entry the
    /// drift guard refuses, so the sender can retry it later.
    pub fn apply(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        peer: &str,
        log_id: &str,
        entries: &[RemoteEntry],
    ) -> Result<ApplyOutcome, StoreError> {
        self.isolated(|ctx| ctx.apply(hlc, real_now, peer, log_id, entries))
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

struct Ctx<'c, 'a> {
    conn: &'a Connection,
    region: &'a str,
    catalog: &'c mut HashMap<String, Option<(TableDef, Version)>>,
    logged: &'c mut Vec<LogEntry>,
}

impl Ctx<'_, '_> {
    fn head(&self, table: &str, key: &EncodedKey) -> Result<Option<HeadRow>, StoreError> {
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
                version: Version::from_bytes(&v).map_err(corrupt)?,
                context: Context::from_bytes(&ctx).map_err(corrupt)?,
                image,
                ttl,
            })
        })
        .transpose()
    }

    /// Makes `m` the head of its key and, if `log`, appends it to the log
    /// in the same transaction. Returns its log position, or 0 if not
    /// logged. Only what this region ships is logged: its own writes and
    /// the catalog changes it relays; a peer's item writes stay in the
    /// peer's log.
    fn commit_mutation(
        &mut self,
        m: &MutationRow<'_>,
        commit_real: u64,
        log: bool,
    ) -> Result<u64, StoreError> {
        let (version, prev, ctx) = (
            m.version.to_bytes(),
            m.prev.map(Version::to_bytes),
            m.context.to_bytes(),
        );
        self.conn
            .prepare_cached(
                "INSERT INTO items (tbl, pk, sk, version, prev, ctx, image, ttl) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (tbl, pk, sk) DO UPDATE SET version = excluded.version,
                 prev = excluded.prev, ctx = excluded.ctx, image = excluded.image, ttl = excluded.ttl",
            )?
            .execute(params![m.table, m.key.partition, m.key.sort, version, prev, ctx, m.image, m.ttl])?;
        if !log {
            return Ok(0);
        }
        let table_version = m.table_version.map(Version::to_bytes);
        self.conn
            .prepare_cached(
                "INSERT INTO log (tbl, table_version, pk, sk, version, prev, ctx, image, origin, commit_real,
                 ttl, txn_pos, txn_len)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                m.table,
                table_version,
                m.key.partition,
                m.key.sort,
                version,
                prev,
                ctx,
                m.image,
                m.version.origin,
                commit_real as i64,
                m.ttl,
                m.unit.0,
                m.unit.1
            ])?;
        let seq = self.conn.last_insert_rowid() as u64;
        self.logged.push(LogEntry {
            seq,
            table: m.table.to_string(),
            table_version,
            key: m.key.clone(),
            version,
            prev,
            context: ctx,
            image: m.image.map(<[u8]>::to_vec),
            commit_real,
            ttl: m.ttl,
            unit: m.unit,
        });
        Ok(seq)
    }

    /// The live definition of a table and its catalog version.
    fn table_def(&mut self, name: &str) -> Result<Option<(TableDef, Version)>, StoreError> {
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
                Some((
                    TableDef::from_item(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    version,
                ))
            }
            _ => None,
        };
        self.catalog.insert(name.to_string(), def.clone());
        Ok(def)
    }

    fn write_ops(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteResult>, StoreError> {
        // Phase 1: validate every op and evaluate every condition against the
        // current heads. Nothing is written unless all of them hold.
        // A table operation stands alone: catalog changes replicate one by one.
        if ops.len() > 1 && ops.iter().any(WriteOp::is_catalog) {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "ops",
                "a table operation must be a request of its own",
            )));
        }
        let mut planned = Vec::with_capacity(ops.len());
        let mut seen = HashMap::new();
        let mut failures: Vec<Option<ConditionFailure>> = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let plan = self.plan(i, op, ops.len())?;
            let (table, key) = plan.target();
            if let Some(j) = seen.insert((table.to_string(), key.clone()), i) {
                return Err(StoreError::Invalid(meridian_core::Error::invalid(
                    format!("ops[{i}]"),
                    format!("same key as ops[{j}]; a request may touch each key once"),
                )));
            }
            failures.push(plan.failure.clone());
            planned.push(plan);
        }
        if failures.iter().any(Option::is_some) {
            return Err(if ops.len() == 1 {
                StoreError::ConditionFailed(failures.swap_remove(0).expect("one failure"))
            } else {
                StoreError::TransactionCanceled { reasons: failures }
            });
        }
        // A unit ships in one replication message: keep it within bounds.
        let unit_bytes: usize = planned
            .iter()
            .filter_map(|p| p.write.as_ref())
            .map(|image| image.as_ref().map_or(0, meridian_core::value::item_size))
            .sum();
        if unit_bytes > MAX_UNIT_BYTES {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "ops",
                format!(
                    "the request writes {unit_bytes} bytes of items, the limit for one request is {MAX_UNIT_BYTES} bytes"
                ),
            )));
        }
        // Phase 2: write. Several writes form one replication unit. The
        // request runs without a savepoint (see `Group::write`), so any
        // failure from here on must take the whole group down with it.
        let unit_len = planned.iter().filter(|p| p.write.is_some()).count() as u32;
        let mut results = Vec::with_capacity(planned.len());
        // Positions count writes only: a condition check is not shipped.
        let mut pos = 0;
        for plan in planned {
            let writes = plan.write.is_some();
            let result = self
                .execute(hlc, real_now, plan, (pos, unit_len))
                .map_err(|e| {
                    StoreError::GroupAborted(format!("a request failed half-written: {e}"))
                })?;
            results.push(result);
            if writes {
                pos += 1;
            }
        }
        Ok(results)
    }

    /// Resolves one op against the current state without writing anything.
    fn plan(&mut self, i: usize, op: &WriteOp, n: usize) -> Result<Plan, StoreError> {
        // In a request of several ops, say which one a validation error is about.
        let at = |e: meridian_core::Error| -> StoreError {
            if n > 1 {
                StoreError::Invalid(meridian_core::Error::invalid(
                    format!("ops[{i}]"),
                    e.to_string(),
                ))
            } else {
                StoreError::Invalid(e)
            }
        };
        let item_write = |this: &mut Self,
                          table: &str,
                          key: EncodedKey,
                          tv: Version|
         -> Result<Plan, StoreError> {
            let head = this.head(table, &key)?;
            Plan::new(table, key, Some(tv), head)
        };
        // An op on an item named by its key attributes: the table, the key
        // in encoded form, and the plan against the current head.
        let by_key = |this: &mut Self,
                      table: &str,
                      key_attrs: &Item|
         -> Result<(TableDef, Plan), StoreError> {
            let (def, tv) = this.replica_def(table)?;
            let key = def.key_schema.key_from_attrs(key_attrs).map_err(at)?;
            let plan = item_write(this, table, key, tv)?;
            Ok((def, plan))
        };
        let mut plan = match op {
            WriteOp::Put {
                table,
                item,
                condition,
            } => {
                let (def, tv) = self.replica_def(table)?;
                let key = def.key_schema.key_of(item).map_err(at)?;
                meridian_core::value::check_item_size(item).map_err(at)?;
                let mut p = item_write(self, table, key, tv)?;
                p.check(condition.as_ref());
                p.write = Some(Some(item.clone()));
                p
            }
            WriteOp::Delete {
                table,
                key,
                condition,
            } => {
                let (_, mut p) = by_key(self, table, key)?;
                p.check(condition.as_ref());
                p.write = Some(None);
                p
            }
            WriteOp::Update {
                table,
                key,
                change,
                condition,
            } => {
                let key_attrs = key;
                let (def, mut p) = by_key(self, table, key_attrs)?;
                let key = p.key.clone();
                p.check(condition.as_ref());
                if p.failure.is_none() {
                    let mut new = change(p.current.as_ref()).map_err(at)?;
                    // The key is the key: an update can neither drop nor change it.
                    for (name, value) in key_attrs {
                        match new.get(name) {
                            Some(v) if v != value => {
                                return Err(at(meridian_core::Error::invalid(
                                    name.clone(),
                                    "cannot update a key attribute",
                                )));
                            }
                            Some(_) => {}
                            None => {
                                new.insert(name.clone(), value.clone());
                            }
                        }
                    }
                    if def.key_schema.key_of(&new).map_err(at)? != key {
                        return Err(at(meridian_core::Error::invalid(
                            "key",
                            "cannot update a key attribute",
                        )));
                    }
                    meridian_core::value::check_item_size(&new).map_err(at)?;
                    p.write = Some(Some(new));
                }
                p
            }
            WriteOp::ConditionCheck {
                table,
                key,
                condition,
            } => {
                let (_, mut p) = by_key(self, table, key)?;
                p.check(Some(condition));
                p
            }
            WriteOp::Expire {
                table,
                key,
                version,
                attribute,
            } => {
                let (_, mut p) = by_key(self, table, key)?;
                let tv = p.table_version.clone().ok_or_else(|| {
                    StoreError::Corrupt("an item plan without its table version".into())
                })?;
                let enabled = self.ttl_attribute(table, &tv)?;
                p.check(Some(&Condition::VersionEquals(version.clone())));
                if enabled.as_deref() != Some(attribute.as_str()) {
                    p.failure = Some(ConditionFailure {
                        message: format!("TTL is no longer enabled on {attribute}"),
                        current: p.current.clone(),
                    });
                }
                p.write = Some(None);
                p.ttl = true;
                p
            }
            WriteOp::CreateTable(def) => {
                if self.table_def(&def.name)?.is_some() {
                    return Err(StoreError::TableExists(def.name.clone()));
                }
                self.catalog.remove(&def.name);
                let key = TableDef::catalog_key(&def.name);
                let head = self.head(CATALOG_TABLE, &key)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = Some(Some(def.to_item()));
                p
            }
            WriteOp::DeleteTable(name) => {
                if self.table_def(name)?.is_none() {
                    return Err(StoreError::TableNotFound(name.clone()));
                }
                self.catalog.remove(name);
                let key = TableDef::catalog_key(name);
                let head = self.head(CATALOG_TABLE, &key)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = Some(None);
                p.purge = Some(name.clone());
                p
            }
            WriteOp::SetTtl { table, attribute } => {
                let Some((_, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                let key = TableDef::ttl_key(table);
                let head = self.head(CATALOG_TABLE, &key)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = Some(
                    attribute
                        .as_ref()
                        .map(|a| TableDef::ttl_item(a, &incarnation)),
                );
                p
            }
            WriteOp::Tag { table, add, remove } => {
                let Some((_, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                let key = TableDef::tags_key(table, self.region);
                let head = self.head(CATALOG_TABLE, &key)?;
                let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
                let current = match head.as_ref().and_then(|h| h.image.as_ref()) {
                    Some(image) => {
                        let (tags, of) = TableDef::tags(&decode_item(image).map_err(corrupt)?)
                            .map_err(corrupt)?;
                        if of == incarnation {
                            tags
                        } else {
                            Default::default()
                        }
                    }
                    None => Default::default(),
                };
                let tags = meridian_core::schema::merge_tags(current, add, remove)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write =
                    Some((!tags.is_empty()).then(|| TableDef::tags_item(&tags, &incarnation)));
                p
            }
        };
        plan.index = i;
        Ok(plan)
    }

    fn execute(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        plan: Plan,
        unit: (u32, u32),
    ) -> Result<WriteResult, StoreError> {
        let prev = plan.head.as_ref().map(|h| h.version.clone());
        let Some(image) = plan.write else {
            let version = prev
                .clone()
                .unwrap_or_else(|| Version::new(meridian_core::Timestamp::ZERO, self.region));
            return Ok(WriteResult {
                version,
                prev,
                seq: 0,
                old: plan.current.clone(),
                new: plan.current,
            });
        };
        if let Some(name) = &plan.purge {
            self.purge_table(name)?;
        }
        // Causality: the new version must exceed the one it replaces, even if
        // the physical clock went backwards across a restart.
        if let Some(p) = &prev {
            hlc.restore(p.hlc);
        }
        let version = Version::new(hlc.now()?, self.region);
        let context = match &plan.head {
            Some(h) => h.context.after(&version),
            None => Context::empty().after(&version),
        };
        let bytes = image.as_ref().map(encode_item);
        let row = MutationRow {
            table: &plan.table,
            table_version: plan.table_version.as_ref(),
            key: &plan.key,
            version: &version,
            prev: prev.as_ref(),
            context: &context,
            image: bytes.as_deref(),
            ttl: plan.ttl,
            unit,
        };
        let seq = self.commit_mutation(&row, real_now, true)?;
        Ok(WriteResult {
            version,
            prev,
            seq,
            old: plan.current,
            new: image,
        })
    }

    /// The TTL attribute of incarnation `incarnation` of `table`, if enabled.
    fn ttl_attribute(
        &self,
        table: &str,
        incarnation: &Version,
    ) -> Result<Option<String>, StoreError> {
        let row = self.head(CATALOG_TABLE, &TableDef::ttl_key(table))?;
        let Some(image) = row.and_then(|h| h.image) else {
            return Ok(None);
        };
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let item = decode_item(&image).map_err(corrupt)?;
        let (attribute, for_version) = TableDef::ttl_attribute(&item).map_err(corrupt)?;
        Ok((for_version == *incarnation).then_some(attribute))
    }

    fn replica_def(&mut self, table: &str) -> Result<(TableDef, Version), StoreError> {
        let (def, version) = self
            .table_def(table)?
            .ok_or_else(|| StoreError::TableNotFound(table.to_string()))?;
        if !def.has_replica(self.region) {
            return Err(StoreError::NotReplica {
                table: table.to_string(),
                region: self.region.to_string(),
                replicas: def.replicas.clone(),
            });
        }
        Ok((def, version))
    }

    fn purge_table(&self, table: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM items WHERE tbl = ?1")?
            .execute([table])?;
        Ok(())
    }

    fn apply(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        peer: &str,
        log_id: &str,
        entries: &[RemoteEntry],
    ) -> Result<ApplyOutcome, StoreError> {
        let known: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT log_id, applied FROM inbound WHERE peer = ?1")?
            .query_row([peer], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        // A position in another log of this peer means nothing for this one.
        let (start, new_log) = match known {
            Some((id, applied)) if id == log_id => (applied as u64, false),
            _ => (0, true),
        };
        let mut out = ApplyOutcome {
            applied_through: start,
            ..Default::default()
        };
        let mut gate = GateCache::default();
        // Per admitted entry of the current unit: whether its table is gone.
        let mut gone = Vec::new();
        let mut i = 0;
        while i < entries.len() {
            // A unit is one origin request: applied all or nothing. The
            // receiver checked that every unit is whole within the batch.
            let len = (entries[i].unit.1 as usize).clamp(1, entries.len() - i);
            let unit = &entries[i..i + len];
            i += len;
            if unit[len - 1].seq <= out.applied_through {
                out.duplicates += len;
                continue;
            }
            // Every entry of the unit is admitted before any is written, so
            // a refused unit writes nothing and needs no savepoint. An error
            // after that point fails the whole apply, which the caller rolls back.
            gone.clear();
            let mut refusal = None;
            for e in unit {
                match self.admit(hlc, e, &mut gate)? {
                    Admit::Refuse(reason, drift) => {
                        refusal = Some((reason, drift));
                        break;
                    }
                    Admit::Write => gone.push(false),
                    Admit::Drop => gone.push(true),
                }
            }
            if let Some((reason, drift)) = refusal {
                out.refused = Some(reason);
                out.drift_refused = drift;
                break;
            }
            for (e, table_gone) in unit.iter().zip(gone.drain(..)) {
                self.apply_entry(real_now, e, table_gone, &mut out)?;
                if e.table == CATALOG_TABLE {
                    gate = GateCache::default();
                }
            }
        }
        if out.applied_through > start || new_log {
            self.conn
                .prepare_cached(
                    "INSERT INTO inbound (peer, log_id, applied) VALUES (?1, ?2, ?3)
                     ON CONFLICT (peer) DO UPDATE SET log_id = excluded.log_id, applied = excluded.applied",
                )?
                .execute(params![peer, log_id, out.applied_through as i64])?;
        }
        Ok(out)
    }

    /// Decides whether a remote entry can be applied now, without writing
    /// anything: the drift guard, and whether its table is known here.
    fn admit(
        &mut self,
        hlc: &Hlc,
        e: &RemoteEntry,
        gate: &mut GateCache,
    ) -> Result<Admit, StoreError> {
        if let Err(err) = hlc.observe(e.version.hlc) {
            return Ok(Admit::Refuse(err.to_string(), true));
        }
        if e.table == CATALOG_TABLE {
            return Ok(Admit::Write);
        }
        let cached = match gate.0.take() {
            Some(c) if c.0 == e.table && e.table_version.as_ref() == Some(&c.1) => c,
            _ => {
                let g = self.gate(&e.table, e.table_version.as_ref())?;
                let v = e.table_version.clone().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "item mutation for {} without a table version",
                        e.table
                    ))
                })?;
                (e.table.clone(), v, g)
            }
        };
        let admit = match &cached.2 {
            Gate::Apply(def) => {
                check_image_key(def, e)?;
                Admit::Write
            }
            Gate::Drop => Admit::Drop,
            Gate::Retry(reason) => Admit::Refuse(reason.clone(), false),
        };
        gate.0 = Some(cached);
        Ok(admit)
    }

    /// Applies one admitted remote entry: LWW against the current head,
    /// with any conflict recorded.
    fn apply_entry(
        &mut self,
        real_now: u64,
        e: &RemoteEntry,
        table_gone: bool,
        out: &mut ApplyOutcome,
    ) -> Result<(), StoreError> {
        if table_gone {
            out.dropped += 1;
            out.applied_through = e.seq;
            return Ok(());
        }
        out.latencies_micros
            .push(real_now.saturating_sub(e.commit_real));
        let current = self.head(&e.table, &e.key)?;
        let decision = resolve(
            current.as_ref().map(|c| Head {
                version: &c.version,
                context: &c.context,
            }),
            Head {
                version: &e.version,
                context: &e.context,
            },
        );
        if decision.duplicate {
            out.duplicates += 1;
        }
        // Two regions expiring the same item is agreement, not a lost update.
        let both_expired = e.ttl && current.as_ref().is_some_and(|c| c.ttl);
        if decision.conflict && e.table != CATALOG_TABLE && !both_expired {
            let Some(c) = current.as_ref() else {
                return Err(StoreError::Corrupt(
                    "conflict without a current head".into(),
                ));
            };
            let (winner, winner_image, loser, loser_image) = if decision.apply {
                (
                    &e.version,
                    e.image.as_deref(),
                    &c.version,
                    c.image.as_deref(),
                )
            } else {
                (
                    &c.version,
                    c.image.as_deref(),
                    &e.version,
                    e.image.as_deref(),
                )
            };
            self.conn
                .prepare_cached(
                    "INSERT INTO conflicts (tbl, pk, sk, winner, winner_image, loser, loser_image, detected_by, detected_real)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    e.table,
                    e.key.partition,
                    e.key.sort,
                    winner.to_bytes(),
                    winner_image,
                    loser.to_bytes(),
                    loser_image,
                    self.region,
                    real_now as i64
                ])?;
            out.conflicts += 1;
        }
        if decision.apply {
            if e.table == CATALOG_TABLE {
                let name = String::from_utf8_lossy(&e.key.partition).into_owned();
                self.catalog.remove(&name);
                if e.key.sort.is_empty() {
                    // A new incarnation or a deletion: nothing of the old table survives.
                    self.purge_table(&name)?;
                }
                out.relayed = true;
            }
            let row = MutationRow {
                table: &e.table,
                table_version: e.table_version.as_ref(),
                key: &e.key,
                version: &e.version,
                prev: e.prev.as_ref(),
                context: &e.context,
                image: e.image.as_deref(),
                ttl: e.ttl,
                unit: e.unit,
            };
            // Catalog changes are relayed, so a table reaches every region
            // before its items.
            self.commit_mutation(&row, e.commit_real, e.table == CATALOG_TABLE)?;
            out.applied += 1;
        }
        out.applied_through = e.seq;
        Ok(())
    }

    /// Whether an item mutation written under `table_version` belongs to the
    /// table as this region knows it now.
    fn gate(&mut self, table: &str, table_version: Option<&Version>) -> Result<Gate, StoreError> {
        let Some(written_under) = table_version else {
            return Err(StoreError::Corrupt(format!(
                "item mutation for {table} without a table version"
            )));
        };
        let catalog = self.head(CATALOG_TABLE, &TableDef::catalog_key(table))?;
        Ok(match catalog {
            None => Gate::Retry(format!("table {table} is not known here yet")),
            Some(c) if c.version == *written_under => match self.table_def(table)? {
                Some((def, _)) if def.has_replica(self.region) => Gate::Apply(def),
                Some(_) => Gate::Drop,
                None => Gate::Drop,
            },
            Some(c) if c.version > *written_under => Gate::Drop,
            Some(_) => Gate::Retry(format!(
                "table {table} was recreated; its definition has not arrived yet"
            )),
        })
    }
}

enum Gate {
    Apply(TableDef),
    Drop,
    Retry(String),
}

/// The gate of the last (table, table version) seen in one apply: entries
/// of a batch mostly share a table, and the gate costs a catalog lookup.
/// Emptied whenever a catalog entry is applied.
#[derive(Default)]
struct GateCache(Option<(String, Version, Gate)>);

/// What admission decided for one remote entry.
enum Admit {
    Write,
    /// Its table incarnation is gone here: skipped, but counted as applied through.
    Drop,
    /// Not now: the reason, and whether the drift guard refused it.
    Refuse(String, bool),
}

/// A peer's image must carry the key it is filed under.
/// A peer's entry must carry a key in this table's canonical form, and its
/// image must be filed under that key.
fn check_image_key(def: &TableDef, e: &RemoteEntry) -> Result<(), StoreError> {
    let canonical = def
        .key_schema
        .key_attrs(&e.key)
        .and_then(|attrs| def.key_schema.key_from_attrs(&attrs));
    if canonical.as_ref() != Ok(&e.key) {
        return Err(StoreError::Invalid(meridian_core::Error::invalid(
            "key",
            format!(
                "entry {} has a key that is not valid for table {}",
                e.seq, def.name
            ),
        )));
    }
    if let Some(bytes) = &e.image {
        let item = decode_item(bytes)?;
        if def.key_schema.key_of(&item)? != e.key {
            return Err(StoreError::Invalid(meridian_core::Error::invalid(
                "image",
                format!("the item's key does not match the key of entry {}", e.seq),
            )));
        }
    }
    Ok(())
}

/// Runs a transaction-control statement through the statement cache: these
/// run several times per request, and re-parsing them each time showed up
/// in profiles of the write path.
fn exec(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
