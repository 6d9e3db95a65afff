//! The single write path. Every local write and every applied remote
//! mutation goes through a [`Group`]: one SQLite transaction in which the
//! item row, its log entry and any conflict record commit together.

use std::collections::HashMap;
use std::path::PathBuf;

use meridian_core::{
    CATALOG_TABLE, Context, EncodedKey, Head, Hlc, Item, TableDef, Version, decode_item,
    encode_item, resolve,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{StoreError, version_from};

/// The one writer of a region's store.
pub struct Writer {
    conn: Connection,
    region: String,
    path: PathBuf,
    /// Live table definitions by name; cleared whenever the catalog may have changed.
    catalog: HashMap<String, Option<(TableDef, Version)>>,
}

/// Optimistic concurrency on the version this region holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    MustNotExist,
    VersionEquals(Version),
}

/// One local operation. A request of several ops commits all or nothing.
#[derive(Clone, Debug)]
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
    CreateTable(TableDef),
    DeleteTable(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct WriteResult {
    pub version: Version,
    pub prev: Option<Version>,
    pub seq: u64,
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
    /// A shippable entry (a catalog change to relay) was applied.
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
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Group {
            conn: &self.conn,
            region: &self.region,
            catalog: &mut self.catalog,
            committed: false,
        })
    }
}

/// One open group-commit transaction.
pub struct Group<'a> {
    conn: &'a Connection,
    region: &'a str,
    catalog: &'a mut HashMap<String, Option<(TableDef, Version)>>,
    committed: bool,
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Cached catalog entries may describe what is being rolled back.
            self.catalog.clear();
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback of an abandoned group failed");
            }
        }
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
}

struct HeadRow {
    version: Version,
    context: Context,
    image: Option<Vec<u8>>,
}

impl Group<'_> {
    /// Commits the group. Only after this returns may any request in it be acknowledged.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        self.committed = true;
        Ok(())
    }

    /// Runs `f` inside a savepoint: on error everything it did is undone and
    /// the rest of the group is unaffected.
    fn isolated<T>(
        &mut self,
        f: impl FnOnce(&mut Ctx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("SAVEPOINT request")?;
        let mut ctx = Ctx {
            conn: self.conn,
            region: self.region,
            catalog: self.catalog,
        };
        let result = f(&mut ctx);
        if result.is_err() {
            self.catalog.clear();
        }
        // SQLite may have rolled the whole transaction back on its own (full
        // disk, I/O error); then there is no savepoint left and continuing
        // would commit later requests outside the group.
        if self.conn.is_autocommit() {
            return Err(StoreError::GroupAborted(match result {
                Err(e) => e.to_string(),
                Ok(_) => "the transaction ended unexpectedly".into(),
            }));
        }
        let end = if result.is_ok() {
            "RELEASE request"
        } else {
            "ROLLBACK TO request; RELEASE request"
        };
        if let Err(e) = self.conn.execute_batch(end) {
            return Err(StoreError::GroupAborted(e.to_string()));
        }
        result
    }

    /// Applies one local request (one or more ops) atomically inside the group.
    /// A failed request leaves no trace; the others in the group are unaffected.
    pub fn write(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteResult>, StoreError> {
        self.isolated(|ctx| ctx.write_ops(hlc, real_now, ops))
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
}

impl Ctx<'_, '_> {
    fn head(&self, table: &str, key: &EncodedKey) -> Result<Option<HeadRow>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT version, ctx, image FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
            )?
            .query_row(params![table, key.partition, key.sort], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                ))
            })
            .optional()?;
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        row.map(|(v, ctx, image)| {
            Ok(HeadRow {
                version: Version::from_bytes(&v).map_err(corrupt)?,
                context: Context::from_bytes(&ctx).map_err(corrupt)?,
                image,
            })
        })
        .transpose()
    }

    /// Makes `m` the head of its key and appends it to the log, together.
    fn commit_mutation(
        &self,
        m: &MutationRow<'_>,
        commit_real: u64,
        shippable: bool,
    ) -> Result<u64, StoreError> {
        let (version, prev, ctx) = (
            m.version.to_bytes(),
            m.prev.map(Version::to_bytes),
            m.context.to_bytes(),
        );
        self.conn
            .prepare_cached(
                "INSERT INTO items (tbl, pk, sk, version, prev, ctx, image) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tbl, pk, sk) DO UPDATE SET version = excluded.version,
                 prev = excluded.prev, ctx = excluded.ctx, image = excluded.image",
            )?
            .execute(params![m.table, m.key.partition, m.key.sort, version, prev, ctx, m.image])?;
        self.conn
            .prepare_cached(
                "INSERT INTO log (tbl, table_version, pk, sk, version, prev, ctx, image, origin, commit_real, shippable)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                m.table,
                m.table_version.map(Version::to_bytes),
                m.key.partition,
                m.key.sort,
                version,
                prev,
                ctx,
                m.image,
                m.version.origin,
                commit_real as i64,
                shippable
            ])?;
        Ok(self.conn.last_insert_rowid() as u64)
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
        let mut seen = HashMap::new();
        let mut results = Vec::with_capacity(ops.len());
        // In a batch, say which operation a validation error is about.
        let at = |i: usize, e: meridian_core::Error| -> StoreError {
            if ops.len() > 1 {
                StoreError::Invalid(meridian_core::Error::invalid(
                    format!("ops[{i}]"),
                    e.to_string(),
                ))
            } else {
                StoreError::Invalid(e)
            }
        };
        let mut first_use = |i: usize, table: &str, key: &EncodedKey| -> Result<(), StoreError> {
            match seen.insert((table.to_string(), key.clone()), i) {
                Some(j) => Err(StoreError::Invalid(meridian_core::Error::invalid(
                    format!("ops[{i}]"),
                    format!("same key as ops[{j}]; a batch may touch each key once"),
                ))),
                None => Ok(()),
            }
        };
        for (i, op) in ops.iter().enumerate() {
            let result = match op {
                WriteOp::Put {
                    table,
                    item,
                    condition,
                } => {
                    let (def, table_version) = self.replica_def(table)?;
                    let key = def.key_schema.key_of(item).map_err(|e| at(i, e))?;
                    meridian_core::value::check_item_size(item).map_err(|e| at(i, e))?;
                    first_use(i, table, &key)?;
                    let image = encode_item(item);
                    self.write_one(
                        hlc,
                        real_now,
                        table,
                        Some(&table_version),
                        &key,
                        Some(&image),
                        condition.as_ref(),
                    )?
                }
                WriteOp::Delete {
                    table,
                    key,
                    condition,
                } => {
                    let (def, table_version) = self.replica_def(table)?;
                    let key = def.key_schema.key_from_attrs(key).map_err(|e| at(i, e))?;
                    first_use(i, table, &key)?;
                    self.write_one(
                        hlc,
                        real_now,
                        table,
                        Some(&table_version),
                        &key,
                        None,
                        condition.as_ref(),
                    )?
                }
                WriteOp::CreateTable(def) => {
                    if self.table_def(&def.name)?.is_some() {
                        return Err(StoreError::TableExists(def.name.clone()));
                    }
                    let image = encode_item(&def.to_item());
                    let key = TableDef::catalog_key(&def.name);
                    self.catalog.remove(&def.name);
                    self.write_one(hlc, real_now, CATALOG_TABLE, None, &key, Some(&image), None)?
                }
                WriteOp::DeleteTable(name) => {
                    if self.table_def(name)?.is_none() {
                        return Err(StoreError::TableNotFound(name.clone()));
                    }
                    let key = TableDef::catalog_key(name);
                    self.catalog.remove(name);
                    self.purge_table(name)?;
                    self.write_one(hlc, real_now, CATALOG_TABLE, None, &key, None, None)?
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    fn replica_def(&mut self, table: &str) -> Result<(TableDef, Version), StoreError> {
        let (def, version) = self
            .table_def(table)?
            .ok_or_else(|| StoreError::TableNotFound(table.to_string()))?;
        if !def.replicas.iter().any(|r| r == self.region) {
            return Err(StoreError::NotReplica {
                table: table.to_string(),
                region: self.region.to_string(),
                replicas: def.replicas.clone(),
            });
        }
        Ok((def, version))
    }

    #[allow(clippy::too_many_arguments)]
    fn write_one(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        table: &str,
        table_version: Option<&Version>,
        key: &EncodedKey,
        image: Option<&[u8]>,
        condition: Option<&Condition>,
    ) -> Result<WriteResult, StoreError> {
        let current = self.head(table, key)?;
        match (condition, &current) {
            (
                Some(Condition::MustNotExist),
                Some(HeadRow {
                    image: Some(_),
                    version,
                    ..
                }),
            ) => {
                return Err(StoreError::ConditionFailed(format!(
                    "the item exists, at version {version}"
                )));
            }
            (Some(Condition::VersionEquals(want)), cur) => {
                let have = cur.as_ref().map(|c| &c.version);
                if have != Some(want) {
                    return Err(StoreError::ConditionFailed(match have {
                        Some(h) => format!("expected version {want}, the current version is {h}"),
                        None => format!("expected version {want}, the item does not exist"),
                    }));
                }
            }
            _ => {}
        }
        let prev = current.as_ref().map(|c| c.version.clone());
        // Causality: the new version must exceed the one it replaces, even if
        // the physical clock went backwards across a restart.
        if let Some(p) = &prev {
            hlc.restore(p.hlc);
        }
        let version = Version::new(hlc.now()?, self.region);
        let context = current
            .as_ref()
            .map(|c| c.context.after(&version))
            .unwrap_or_else(|| Context::empty().after(&version));
        let row = MutationRow {
            table,
            table_version,
            key,
            version: &version,
            prev: prev.as_ref(),
            context: &context,
            image,
        };
        let seq = self.commit_mutation(&row, real_now, true)?;
        Ok(WriteResult { version, prev, seq })
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
        for e in entries {
            if e.seq <= out.applied_through {
                out.duplicates += 1;
                continue;
            }
            if let Err(err) = hlc.observe(e.version.hlc) {
                out.refused = Some(err.to_string());
                out.drift_refused = true;
                break;
            }
            if e.table != CATALOG_TABLE {
                match self.gate(&e.table, e.table_version.as_ref())? {
                    Gate::Apply(def) => check_image_key(&def, e)?,
                    Gate::Drop => {
                        out.dropped += 1;
                        out.applied_through = e.seq;
                        continue;
                    }
                    Gate::Retry(reason) => {
                        out.refused = Some(reason);
                        break;
                    }
                }
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
            if decision.conflict && e.table != CATALOG_TABLE {
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
                    // A new incarnation or a deletion: nothing of the old table survives.
                    let name = String::from_utf8_lossy(&e.key.partition).into_owned();
                    self.catalog.remove(&name);
                    self.purge_table(&name)?;
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
                };
                self.commit_mutation(&row, e.commit_real, e.table == CATALOG_TABLE)?;
                out.applied += 1;
            }
            out.applied_through = e.seq;
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
                Some((def, _)) if def.replicas.iter().any(|r| r == self.region) => Gate::Apply(def),
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
