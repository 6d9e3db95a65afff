//! The local write path. A request is item writes ([`ItemWrite`]) or one
//! catalog change ([`CatalogChange`]); `Group::write` plans it against the
//! current heads (every key validated, every condition evaluated: phase
//! one, each kind of op by a function of its own in `item_write.rs` and
//! `catalog_change.rs`) and only then writes it, each write as a new
//! version that becomes the key's head and this region's next log entry
//! (phase two, `GroupTxn::execute`).

mod catalog_change;
mod condition;
mod item_write;
mod plan;

use std::collections::HashMap;

use meridian_core::{CATALOG_TABLE, Context, Hlc, Item, Mutation, Version, encode_item};

pub use catalog_change::CatalogChange;
pub use condition::{Change, Check, Condition};
use item_write::At;
pub use item_write::ItemWrite;
pub(crate) use plan::Plan;

use crate::error::StoreError;
use crate::group::{Group, GroupTxn};
use crate::heads::HeadRow;

/// Most item bytes one request may write: its unit must fit one replication
/// message. DynamoDB caps a BatchWriteItem request at 16 MB too.
pub const MAX_UNIT_BYTES: usize = 16 << 20;

/// One request's ops, as the store takes them: item writes, which commit
/// all or nothing and replicate as one unit that every peer applies all or
/// nothing, or a catalog change, which stands alone (catalog changes
/// replicate one by one: a request of more than one is refused). The two
/// kinds never share a request: `Ops` has exactly these two variants (the
/// match below has no wildcard, so a third would not compile), each
/// holding one kind only:
///
/// ```
/// use meridian_store::{CatalogChange, ItemWrite, Ops};
/// let load = [ItemWrite::Load { table: "t".into(), item: Default::default() }];
/// let drop = [CatalogChange::DeleteTable("t".into())];
/// for ops in [Ops::from(&load), Ops::from(&drop)] {
///     match ops {
///         Ops::Items(items) => assert!(matches!(items, [ItemWrite::Load { .. }])),
///         Ops::Catalog(changes) => assert!(matches!(changes, [CatalogChange::DeleteTable(_)])),
///     }
/// }
/// ```
///
/// and a catalog change cannot travel as an item write:
///
/// ```compile_fail
/// use meridian_store::{CatalogChange, Ops};
/// let drop = [CatalogChange::DeleteTable("t".into())];
/// let _ = Ops::Items(&drop);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Ops<'r> {
    Items(&'r [ItemWrite]),
    Catalog(&'r [CatalogChange]),
}

impl<'r> From<&'r [ItemWrite]> for Ops<'r> {
    fn from(items: &'r [ItemWrite]) -> Self {
        Ops::Items(items)
    }
}

impl<'r, const N: usize> From<&'r [ItemWrite; N]> for Ops<'r> {
    fn from(items: &'r [ItemWrite; N]) -> Self {
        Ops::Items(items)
    }
}

impl<'r> From<&'r Vec<ItemWrite>> for Ops<'r> {
    fn from(items: &'r Vec<ItemWrite>) -> Self {
        Ops::Items(items)
    }
}

impl<'r> From<&'r [CatalogChange]> for Ops<'r> {
    fn from(changes: &'r [CatalogChange]) -> Self {
        Ops::Catalog(changes)
    }
}

impl<'r, const N: usize> From<&'r [CatalogChange; N]> for Ops<'r> {
    fn from(changes: &'r [CatalogChange; N]) -> Self {
        Ops::Catalog(changes)
    }
}

impl<'r> From<&'r Vec<CatalogChange>> for Ops<'r> {
    fn from(changes: &'r Vec<CatalogChange>) -> Self {
        Ops::Catalog(changes)
    }
}

impl<'r> From<&'r WriteRequest> for Ops<'r> {
    fn from(request: &'r WriteRequest) -> Self {
        match request {
            WriteRequest::Items(items) => Ops::Items(items),
            WriteRequest::Catalog(changes) => Ops::Catalog(changes),
        }
    }
}

/// [`Ops`] owned, for a request on its way to the writer.
#[derive(Clone, Debug)]
pub enum WriteRequest {
    Items(Vec<ItemWrite>),
    Catalog(Vec<CatalogChange>),
}

impl From<Vec<ItemWrite>> for WriteRequest {
    fn from(items: Vec<ItemWrite>) -> Self {
        WriteRequest::Items(items)
    }
}

impl From<Vec<CatalogChange>> for WriteRequest {
    fn from(changes: Vec<CatalogChange>) -> Self {
        WriteRequest::Catalog(changes)
    }
}

impl WriteRequest {
    /// The tables the request's item writes write or check, in order; none
    /// for a catalog change.
    pub fn item_tables(&self) -> impl Iterator<Item = &str> {
        let items = match self {
            WriteRequest::Items(items) => &items[..],
            WriteRequest::Catalog(_) => &[],
        };
        items.iter().map(ItemWrite::table)
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

impl Group<'_> {
    /// Applies one local request (item writes, or a catalog change)
    /// atomically inside the group. A request refused by validation or a
    /// condition leaves no trace; the others in the group are unaffected.
    ///
    /// No savepoint: a savepoint per request costs sub-journal writes on
    /// the hottest path, and a request writes nothing until every op has
    /// been validated and every condition holds. An error after its first
    /// write can only come from SQLite itself (an I/O error, a full disk);
    /// it aborts the whole group, so a half-written request is never
    /// committed and nothing in the group is acknowledged.
    pub fn write<'r>(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: impl Into<Ops<'r>>,
    ) -> Result<Vec<WriteResult>, StoreError> {
        let ops = ops.into();
        self.unguarded(|ctx| ctx.write_ops(hlc, real_now, ops))
    }
}

impl GroupTxn<'_, '_> {
    pub(crate) fn write_ops(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        ops: Ops<'_>,
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

    /// Works out what `items` on a STRONG table would write, and writes
    /// nothing ([`Group::strong_evaluate`]): each op's answer, with the
    /// mutation it would make (none for a condition check). The mutations
    /// are what [`GroupTxn::write_ops`] would write for the same ops on
    /// this state, built by the same code, only never stored.
    pub(crate) fn evaluate_ops(
        &mut self,
        hlc: &Hlc,
        real_now: u64,
        items: &[ItemWrite],
    ) -> Result<Vec<(WriteResult, Option<Mutation>)>, StoreError> {
        let planned = self.plan_ops(Ops::Items(items), real_now, true)?;
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
        ops: Ops<'_>,
        real_now: u64,
        strong: bool,
    ) -> Result<Vec<Plan>, StoreError> {
        // Nothing is written unless every op is valid and every condition holds.
        let mut planned = match ops {
            Ops::Items(items) => self.plan_items(items, strong)?,
            Ops::Catalog(changes) => self.plan_catalog_request(changes, real_now)?,
        };
        if planned.iter().any(|p| p.failure.is_some()) {
            let mut failures: Vec<_> = planned.iter_mut().map(|p| p.failure.take()).collect();
            return Err(if failures.len() == 1 {
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

    /// Plans each item write of a request in order, refusing writes to a
    /// STRONG table's items outside its consensus (unless `strong`) and a
    /// request that touches a key twice.
    fn plan_items(&mut self, items: &[ItemWrite], strong: bool) -> Result<Vec<Plan>, StoreError> {
        let mut planned = Vec::with_capacity(items.len());
        let mut seen = HashMap::new();
        for (i, op) in items.iter().enumerate() {
            let plan = self.plan_item(At { i, n: items.len() }, op)?;
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
            planned.push(plan);
        }
        Ok(planned)
    }

    /// Plans a request's catalog change: a table operation stands alone,
    /// since catalog changes replicate one by one.
    fn plan_catalog_request(
        &mut self,
        changes: &[CatalogChange],
        real_now: u64,
    ) -> Result<Vec<Plan>, StoreError> {
        match changes {
            [] => Ok(Vec::new()),
            [change] => {
                let plan = self.plan_catalog(change, real_now)?;
                // Every catalog row this region writes moves the count of
                // catalog changes, as every row applied from a peer does
                // (`install`): what is read beside a definition under that
                // count (a table's settings, which the region's capacity
                // caches) is read again.
                self.catalog
                    .remove(&String::from_utf8_lossy(&plan.key.partition));
                Ok(vec![plan])
            }
            _ => Err(StoreError::Invalid(meridian_core::Error::invalid(
                "ops",
                "a table operation must be a request of its own",
            ))),
        }
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
}
