//! The local write path: a request of one or more [`WriteOp`]s is planned
//! against the current heads (every key validated, every condition
//! evaluated) and only then written, each write as a new version that
//! becomes the key's head and this region's next log entry.

use std::collections::HashMap;
use std::sync::Arc;

use meridian_core::{
    CATALOG_TABLE, Context, EncodedKey, Hlc, Item, Mutation, TableDef, Version, decode_item,
    encode_item,
};

use meridian_core::settings::TableSettings;

use rusqlite::OptionalExtension;

use crate::error::{ConditionFailure, StoreError};
use crate::group::{Group, GroupTxn, HeadRow};

/// Most item bytes one request may write: its unit must fit one replication
/// message. DynamoDB caps a BatchWriteItem request at 16 MB too.
pub const MAX_UNIT_BYTES: usize = 16 << 20;

/// A condition on the current item (`None`: no live item), evaluated inside
/// the write's transaction. Expression conditions arrive as closures so the
/// store stays independent of the expression language.
pub type Check = Arc<dyn Fn(Option<&Item>) -> bool + Send + Sync>;

/// Computes the new item from the current one (`None`: no live item yet),
/// inside the write's transaction: an atomic read-modify-write. It answers
/// `None` when the update leaves no item, and then nothing is written.
pub type Change =
    Arc<dyn Fn(Option<&Item>) -> Result<Option<Item>, meridian_core::Error> + Send + Sync>;

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

/// One local operation. A request of several ops commits all or nothing, and
/// replicates as one unit that every peer applies all or nothing.
#[derive(Clone)]
pub enum WriteOp {
    Put {
        table: String,
        item: Item,
        condition: Option<Condition>,
    },
    /// An item as it was stored (a restore loading a backup): a Put that
    /// secondary indexes never refuse. An item that does not fit an index
    /// is left out of it, as an index build leaves it out.
    Load {
        table: String,
        item: Item,
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
    /// Changes the table's billing mode, throughput or stream by DynamoDB's
    /// rules, against its settings within the write's transaction.
    UpdateSettings {
        table: String,
        change: meridian_core::settings::SettingsChange,
    },
    /// Sets `add` and removes `remove` among the tags of the table's replica
    /// in this region, within the write's transaction.
    Tag {
        table: String,
        add: meridian_core::schema::Tags,
        remove: Vec<String>,
    },
    /// Turns deletion protection of this region's replica of `table` on or
    /// off: its row `protection/<region>` in the catalog, which every
    /// region reads (`meridian_core::protection`).
    Protect {
        table: String,
        on: bool,
    },
    /// Sets `region`'s replica of `table` to `status`
    /// (`meridian_core::replicas`). This region's own replica set to
    /// `DELETED` also deletes its copy of the table's items, in the same
    /// transaction.
    SetReplica {
        table: String,
        region: String,
        status: meridian_core::replicas::Status,
    },
    /// This region joins `table` as a replica of `account`, `CREATING`
    /// while it fills (CreateTable's `GlobalTableSourceArn`,
    /// `meridian_core::replicas::authorize`).
    JoinReplica {
        table: String,
        account: meridian_core::account::Account,
    },
    /// Sets (`Some`) or removes the resource-based policy of this region's
    /// replica of `table` (its catalog row `policy/<region>`), when the
    /// stored revision is still `if_revision` (`None`: no policy).
    SetPolicy {
        table: String,
        policy: Option<meridian_core::replicas::authorize::Stored>,
        if_revision: Option<String>,
    },
    /// This region's replica of `table` leaves its global table at `cut`
    /// (hybrid-logical µs): `DISASSOCIATED` since then
    /// (`meridian_core::replicas::disassociate`).
    Disassociated {
        table: String,
        cut: u64,
    },
    /// Creates or deletes a global secondary index of `table`, checked
    /// against its indexes within the write's transaction
    /// (`meridian_core::index::plan`). A created index is built from the
    /// table's items in the background, in every region.
    UpdateIndex {
        table: String,
        change: meridian_core::index::Change,
    },
    /// Sets `table`'s consistency row (`meridian_core::consistency`):
    /// STRONG with its members, refused unless the table is empty here,
    /// within the write's transaction; or `Eventual`, once two of its
    /// members were removed and it is a single-Region table.
    SetConsistency {
        table: String,
        mode: meridian_core::consistency::Consistency,
    },
}

impl WriteOp {
    /// The table an item op writes or checks; `None` for a table op.
    pub fn item_table(&self) -> Option<&str> {
        match self {
            WriteOp::Put { table, .. }
            | WriteOp::Load { table, .. }
            | WriteOp::Delete { table, .. }
            | WriteOp::Update { table, .. }
            | WriteOp::ConditionCheck { table, .. }
            | WriteOp::Expire { table, .. } => Some(table),
            _ => None,
        }
    }

    fn is_catalog(&self) -> bool {
        matches!(
            self,
            WriteOp::CreateTable(_)
                | WriteOp::DeleteTable(_)
                | WriteOp::SetTtl { .. }
                | WriteOp::UpdateSettings { .. }
                | WriteOp::Tag { .. }
                | WriteOp::Protect { .. }
                | WriteOp::SetReplica { .. }
                | WriteOp::Disassociated { .. }
                | WriteOp::JoinReplica { .. }
                | WriteOp::SetPolicy { .. }
                | WriteOp::UpdateIndex { .. }
                | WriteOp::SetConsistency { .. }
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
            WriteOp::Load { table, item } => write!(f, "Load({table}, {item:?})"),
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
            WriteOp::UpdateSettings { table, change } => {
                write!(f, "UpdateSettings({table}, {change:?})")
            }
            WriteOp::Tag { table, add, remove } => write!(f, "Tag({table}, {add:?}, {remove:?})"),
            WriteOp::Protect { table, on } => write!(f, "Protect({table}, {on})"),
            WriteOp::SetReplica {
                table,
                region,
                status,
            } => write!(f, "SetReplica({table}, {region}, {})", status.as_str()),
            WriteOp::Disassociated { table, cut } => write!(f, "Disassociated({table}, {cut})"),
            WriteOp::JoinReplica { table, account } => write!(f, "JoinReplica({table}, {account})"),
            WriteOp::SetPolicy {
                table,
                policy,
                if_revision,
            } => write!(
                f,
                "SetPolicy({table}, {:?}, if {if_revision:?})",
                policy.as_ref().map(|p| &p.revision)
            ),
            WriteOp::UpdateIndex { table, change } => write!(f, "UpdateIndex({table}, {change:?})"),
            WriteOp::SetConsistency { table, mode } => {
                let members = mode.strong().map(|s| &s.members);
                write!(f, "SetConsistency({table}, {}, {members:?})", mode.as_str())
            }
        }
    }
}

/// The outcome of one op. A condition check writes nothing: its `seq` is 0
/// and `version` is the head's (or a zero version when there is none).
#[derive(Clone, Debug, PartialEq)]
pub struct WriteResult {
    pub version: Version,
    pub prev: Option<Version>,
    /// Set when the key held nothing here and tombstones at or below this
    /// time had been purged: the write has seen every earlier write to the
    /// key at or below it (docs/repair.md, "Purging tombstones").
    pub seen_through: Option<meridian_core::Timestamp>,
    /// The write's position in this region's log; 0 for a condition check
    /// and for a STRONG write's evaluation, which logs nothing.
    pub seq: u64,
    /// The live item before the write.
    pub old: Option<Item>,
    /// The live item after the write.
    pub new: Option<Item>,
}

/// A planned op's answer, and the mutation it makes with the head that
/// mutation replaces (none for a condition check).
type Resolved = (WriteResult, Option<(Mutation, Option<HeadRow>)>);

/// A request's planned ops, each with its place in the request's
/// replication unit: (position among the writes, number of writes).
/// Several writes form one unit; a condition check is not shipped, so
/// positions count writes only.
fn in_unit(planned: Vec<Plan>) -> impl Iterator<Item = (Plan, (u32, u32))> {
    let len = planned.iter().filter(|p| p.write.is_some()).count() as u32;
    let mut pos = 0;
    planned.into_iter().map(move |plan| {
        let at = pos;
        if plan.write.is_some() {
            pos += 1;
        }
        (plan, (at, len))
    })
}

/// One local op, resolved against the current state, not yet written.
pub(crate) struct Plan {
    index: usize,
    table: String,
    key: EncodedKey,
    table_version: Option<Version>,
    head: Option<HeadRow>,
    /// The live item now, decoded.
    current: Option<Item>,
    failure: Option<ConditionFailure>,
    /// `Some(image)` to write (`Some(None)` a tombstone); `None` writes nothing.
    pub(crate) write: Option<Option<Item>>,
    ttl: bool,
    /// A table whose items go with this catalog write.
    purge: Option<String>,
}

impl Plan {
    pub(crate) fn new(
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

impl Group<'_> {
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
}

impl GroupTxn<'_, '_> {
    pub(crate) fn write_ops(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: &[WriteOp],
    ) -> Result<Vec<WriteResult>, StoreError> {
        let planned = self.plan_ops(ops, real_now, false)?;
        // Phase 2: write. The request runs without a savepoint (see
        // `Group::write`), so any failure from here on must take the whole
        // group down with it.
        let mut results = Vec::with_capacity(planned.len());
        for (plan, unit) in in_unit(planned) {
            let result = self.execute(hlc, real_now, plan, unit).map_err(|e| {
                StoreError::GroupAborted(format!("a request failed half-written: {e}"))
            })?;
            results.push(result);
        }
        Ok(results)
    }

    /// Works out what `ops` on a STRONG table would write, and writes
    /// nothing ([`Group::strong_evaluate`]): each op's answer, with the
    /// mutation it would make (none for a condition check). The mutations
    /// are what [`GroupTxn::write_ops`] would write for the same ops on
    /// this state, built by the same code, only never stored.
    pub(crate) fn evaluate_ops(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: &[WriteOp],
    ) -> Result<Vec<(WriteResult, Option<Mutation>)>, StoreError> {
        let planned = self.plan_ops(ops, real_now, true)?;
        let mut out = Vec::with_capacity(planned.len());
        for (plan, unit) in in_unit(planned) {
            let (result, write) = self.resolve(hlc, real_now, plan, unit)?;
            out.push((result, write.map(|(m, _)| m)));
        }
        Ok(out)
    }

    /// Phase 1: validates every op and evaluates every condition against
    /// the current heads, writing nothing. `strong`: the ops are evaluated
    /// for strong mode's consensus; anywhere else a STRONG table's items
    /// are refused, since they change only through its log.
    fn plan_ops(
        &mut self,
        ops: &[WriteOp],
        real_now: u64,
        strong: bool,
    ) -> Result<Vec<Plan>, StoreError> {
        // Nothing is written unless every op is valid and every condition holds.
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
            let plan = self.plan(i, op, ops.len(), real_now)?;
            let (table, key) = plan.target();
            if !strong
                && table != CATALOG_TABLE
                && self
                    .table_def(table)?
                    .is_some_and(|(d, _)| d.consistency.strong().is_some())
            {
                return Err(StoreError::Invalid(meridian_core::Error::invalid(
                    "TableName",
                    format!(
                        "{table} is a STRONG table: its items change only through its consensus log"
                    ),
                )));
            }
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
        Ok(planned)
    }

    /// Resolves one op against the current state without writing anything.
    fn plan(&mut self, i: usize, op: &WriteOp, n: usize, now: u64) -> Result<Plan, StoreError> {
        // In a request of several ops, say which one a validation error is about.
        let at = |e: meridian_core::Error| -> StoreError {
            if let meridian_core::Error::IndexKey { reason, empty, .. } = e {
                // DynamoDB's message stands alone; the position goes beside it.
                return StoreError::Invalid(meridian_core::Error::IndexKey {
                    op: (n > 1).then_some(i),
                    reason,
                    empty,
                });
            }
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
                meridian_core::value::check_item(item).map_err(at)?;
                def.check_index_keys(item, false).map_err(at)?;
                let mut p = item_write(self, table, key, tv)?;
                let old = p.head.as_ref().and_then(|h| h.image.as_deref());
                self.check_collection(&def, &p.key, old, Some(item))?;
                p.check(condition.as_ref());
                p.write = Some(Some(item.clone()));
                p
            }
            WriteOp::Load { table, item } => {
                let (def, tv) = self.replica_def(table)?;
                let key = def.key_schema.key_of(item).map_err(at)?;
                meridian_core::value::check_item(item).map_err(at)?;
                let mut p = item_write(self, table, key, tv)?;
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
                // `None`: the update leaves no item, and writes nothing.
                if p.failure.is_none()
                    && let Some(mut new) = change(p.current.as_ref()).map_err(at)?
                {
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
                    meridian_core::value::check_item(&new).map_err(at)?;
                    def.check_index_keys(&new, true).map_err(at)?;
                    let old = p.head.as_ref().and_then(|h| h.image.as_deref());
                    self.check_collection(&def, &p.key, old, Some(&new))?;
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
                meridian_core::index::validate(&def.key_schema, &def.indexes)?;
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
                let Some((def, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                if attribute.is_some() && def.consistency.strong().is_some() {
                    return Err(StoreError::Invalid(meridian_core::Error::invalid(
                        "TimeToLiveSpecification",
                        "Time to Live is not supported on multi-Region strongly consistent global tables",
                    )));
                }
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
            WriteOp::UpdateSettings { table, change } => {
                let Some((def, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                let key = TableSettings::key(table);
                let head = self.head(CATALOG_TABLE, &key)?;
                let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
                let row = match head.as_ref().and_then(|h| h.image.as_ref()) {
                    Some(image) => Some(decode_item(image).map_err(corrupt)?),
                    None => None,
                };
                let current =
                    TableSettings::current(&def, &incarnation, row.as_ref()).map_err(corrupt)?;
                let next = current.apply(&def, change, now)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = Some(Some(next.to_item(&incarnation)));
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
            WriteOp::Protect { table, on } => {
                let Some((_, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                let key = meridian_core::protection::key(table, self.region);
                let head = self.head(CATALOG_TABLE, &key)?;
                let live = head.as_ref().is_some_and(|h| h.image.is_some());
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = match (on, live) {
                    (true, _) => Some(Some(meridian_core::protection::item(&incarnation))),
                    (false, true) => Some(None),
                    // Nothing to turn off.
                    (false, false) => None,
                };
                p
            }
            WriteOp::SetReplica {
                table,
                region,
                status,
            } => {
                let mut p = self.replica_row(table, region, *status, now, None)?;
                if region == self.region && *status == meridian_core::replicas::Status::Deleted {
                    p.purge = Some(table.clone());
                }
                p
            }
            WriteOp::Disassociated { table, cut } => {
                let region = self.region.to_string();
                let status = meridian_core::replicas::Status::Disassociated;
                self.replica_row(table, &region, status, now, Some(*cut))?
            }
            WriteOp::JoinReplica { table, account } => {
                let region = self.region.to_string();
                let status = meridian_core::replicas::Status::Creating;
                // Decided against the replica set in force now: a region
                // that holds the table already, or is still removing it,
                // is not joined again.
                if let Some((def, _)) = self.table_def(table)?
                    && def.replica_states.get(&region).is_some_and(|s| {
                        s.status.holds_data()
                            || s.status == meridian_core::replicas::Status::Deleting
                    })
                {
                    return Err(StoreError::TableExists(table.clone()));
                }
                let mut p = self.replica_row(table, &region, status, now, None)?;
                if let Some(Some(row)) = p.write.as_mut() {
                    row.insert(
                        "account".to_string(),
                        meridian_core::AttrValue::S(account.to_string()),
                    );
                }
                p
            }
            WriteOp::SetPolicy {
                table,
                policy,
                if_revision,
            } => self.policy_row(table, policy.as_ref(), if_revision.as_deref())?,
            WriteOp::SetConsistency { table, mode } => {
                let Some((_, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                let live: Option<i64> = if mode.strong().is_none() {
                    None
                } else {
                    self.conn
                        .prepare_cached(
                            "SELECT 1 FROM items WHERE tbl = ?1 AND image IS NOT NULL LIMIT 1",
                        )?
                        .query_row([table], |r| r.get(0))
                        .optional()?
                };
                if live.is_some() {
                    return Err(StoreError::Invalid(meridian_core::Error::invalid(
                        meridian_core::consistency::FIELD,
                        "A table must be empty to become a multi-Region strongly consistent global table",
                    )));
                }
                self.catalog.remove(table);
                let key = meridian_core::consistency::key(table);
                let head = self.head(CATALOG_TABLE, &key)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = Some(Some(meridian_core::consistency::item(mode, &incarnation)));
                p
            }
            WriteOp::UpdateIndex { table, change } => {
                let Some((def, incarnation)) = self.table_def(table)? else {
                    return Err(StoreError::TableNotFound(table.clone()));
                };
                let created = meridian_core::index::plan(&def, change)?;
                self.catalog.remove(table);
                let key = meridian_core::index::key(table, change.name());
                let head = self.head(CATALOG_TABLE, &key)?;
                let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
                p.write = Some(Some(meridian_core::index::item(
                    created.as_ref(),
                    &incarnation,
                )));
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
        if plan.write.is_some()
            && let Some(name) = &plan.purge
        {
            self.purge_table(name)?;
        }
        let (mut result, write) = self.resolve(hlc, real_now, plan, unit)?;
        if let Some((m, head)) = write {
            self.put_head(head.as_ref(), &m)?;
            result.seq = self.append_log(m)?;
        }
        Ok(result)
    }

    /// A planned op's answer and the mutation it makes, with the head that
    /// mutation replaces; writes nothing. The answer's `seq` is 0 until
    /// the mutation is logged.
    fn resolve(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        plan: Plan,
        unit: (u32, u32),
    ) -> Result<Resolved, StoreError> {
        let prev = plan.head.as_ref().map(|h| h.version.clone());
        let Some(image) = plan.write else {
            let version = prev
                .clone()
                .unwrap_or_else(|| Version::new(meridian_core::Timestamp::ZERO, self.region));
            let result = WriteResult {
                version,
                prev,
                seen_through: None,
                seq: 0,
                old: plan.current.clone(),
                new: plan.current,
            };
            return Ok((result, None));
        };
        // Causality: the new version must exceed the one it replaces, even if
        // the physical clock went backwards across a restart.
        if let Some(p) = &prev {
            hlc.restore(p.hlc);
        }
        let version = Version::new(hlc.now()?, self.region);
        let (context, seen_through) = match &plan.head {
            Some(h) => (h.context.after(&version), None),
            None if plan.table == CATALOG_TABLE => (Context::empty().after(&version), None),
            None => {
                let (fresh, h) = self.fresh_context()?;
                (fresh.after(&version), h)
            }
        };
        let m = Mutation {
            // Its log position, which `append_log` assigns.
            seq: 0,
            table: plan.table,
            table_version: plan.table_version.as_ref().map(Version::to_bytes),
            key: plan.key,
            version: version.to_bytes(),
            prev: prev.as_ref().map(Version::to_bytes),
            context: context.to_bytes(),
            image: image.as_ref().map(encode_item),
            commit_real: real_now,
            ttl: plan.ttl,
            unit,
        };
        let result = WriteResult {
            version,
            prev,
            seen_through,
            seq: 0,
            old: plan.current,
            new: image,
        };
        Ok((result, Some((m, plan.head))))
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
}
