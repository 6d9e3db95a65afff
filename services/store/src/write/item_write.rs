//! Item writes ([`ItemWrite`]) and how each kind is planned against the
//! key's current head: one `GroupTxn::plan_*` function per kind.

use meridian_core::{Item, TableDef, Version};

use super::condition::{Change, Condition};
use super::plan::Plan;
use crate::error::{ConditionFailure, StoreError};
use crate::group::GroupTxn;

/// One write to one item. A request of several commits all or nothing, and
/// replicates as one unit that every peer applies all or nothing.
#[derive(Clone)]
pub enum ItemWrite {
    Put {
        table: String,
        item: Item,
        condition: Option<Condition>,
    },
    /// An item as it was stored (a restore loading a backup): a Put that
    /// secondary indexes never refuse. An item that does not fit an index
    /// is left out of it, as an index build leaves it out.
    Load { table: String, item: Item },
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
}

impl ItemWrite {
    /// The table the write writes or checks.
    pub fn table(&self) -> &str {
        match self {
            ItemWrite::Put { table, .. }
            | ItemWrite::Load { table, .. }
            | ItemWrite::Delete { table, .. }
            | ItemWrite::Update { table, .. }
            | ItemWrite::ConditionCheck { table, .. }
            | ItemWrite::Expire { table, .. } => table,
        }
    }
}

impl std::fmt::Debug for ItemWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemWrite::Put {
                table,
                item,
                condition,
            } => write!(f, "Put({table}, {item:?}, {condition:?})"),
            ItemWrite::Load { table, item } => write!(f, "Load({table}, {item:?})"),
            ItemWrite::Delete {
                table,
                key,
                condition,
            } => write!(f, "Delete({table}, {key:?}, {condition:?})"),
            ItemWrite::Update {
                table,
                key,
                condition,
                ..
            } => write!(f, "Update({table}, {key:?}, {condition:?})"),
            ItemWrite::ConditionCheck {
                table,
                key,
                condition,
            } => {
                write!(f, "ConditionCheck({table}, {key:?}, {condition:?})")
            }
            ItemWrite::Expire {
                table,
                key,
                version,
                ..
            } => write!(f, "Expire({table}, {key:?}, {version})"),
        }
    }
}

/// Where a write stands in its request: the `i`th of `n`. In a request of
/// several, a validation error says which write it is about.
#[derive(Clone, Copy)]
pub(super) struct At {
    pub(super) i: usize,
    pub(super) n: usize,
}

impl At {
    /// `e`, as the error of the write at this position.
    fn error(self, e: meridian_core::Error) -> StoreError {
        let At { i, n } = self;
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
    }
}

impl GroupTxn<'_, '_> {
    /// Resolves one item write against the current state without writing
    /// anything.
    pub(super) fn plan_item(&mut self, at: At, op: &ItemWrite) -> Result<Plan, StoreError> {
        match op {
            ItemWrite::Put {
                table,
                item,
                condition,
            } => self.plan_put(at, table, item, condition.as_ref()),
            ItemWrite::Load { table, item } => self.plan_load(at, table, item),
            ItemWrite::Delete {
                table,
                key,
                condition,
            } => self.plan_delete(at, table, key, condition.as_ref()),
            ItemWrite::Update {
                table,
                key,
                change,
                condition,
            } => self.plan_update(at, table, key, change, condition.as_ref()),
            ItemWrite::ConditionCheck {
                table,
                key,
                condition,
            } => self.plan_condition_check(at, table, key, condition),
            ItemWrite::Expire {
                table,
                key,
                version,
                attribute,
            } => self.plan_expire(at, table, key, version, attribute),
        }
    }

    /// The plan against the current head of `key` in `table`, whose
    /// incarnation is `tv`.
    fn item_plan(
        &mut self,
        table: &str,
        key: meridian_core::EncodedKey,
        tv: Version,
    ) -> Result<Plan, StoreError> {
        let head = self.head(table, &key)?;
        Plan::new(table, key, Some(tv), head)
    }

    /// A write to an item named by its key attributes: the table, and the
    /// plan against the key's current head.
    fn plan_by_key(
        &mut self,
        at: At,
        table: &str,
        key_attrs: &Item,
    ) -> Result<(TableDef, Plan), StoreError> {
        let (def, tv) = self.replica_def(table)?;
        let key = def
            .key_schema
            .key_from_attrs(key_attrs)
            .map_err(|e| at.error(e))?;
        let plan = self.item_plan(table, key, tv)?;
        Ok((def, plan))
    }

    fn plan_put(
        &mut self,
        at: At,
        table: &str,
        item: &Item,
        condition: Option<&Condition>,
    ) -> Result<Plan, StoreError> {
        let at = |e| at.error(e);
        let (def, tv) = self.replica_def(table)?;
        let key = def.key_schema.key_of(item).map_err(at)?;
        meridian_core::value::check_item(item).map_err(at)?;
        def.check_index_keys(item, false).map_err(at)?;
        let mut p = self.item_plan(table, key, tv)?;
        let old = p.head.as_ref().and_then(|h| h.image.as_deref());
        self.check_collection(&def, &p.key, old, Some(item))?;
        p.check(condition);
        p.write = Some(Some(item.clone()));
        Ok(p)
    }

    fn plan_load(&mut self, at: At, table: &str, item: &Item) -> Result<Plan, StoreError> {
        let at = |e| at.error(e);
        let (def, tv) = self.replica_def(table)?;
        let key = def.key_schema.key_of(item).map_err(at)?;
        meridian_core::value::check_item(item).map_err(at)?;
        let mut p = self.item_plan(table, key, tv)?;
        p.write = Some(Some(item.clone()));
        Ok(p)
    }

    fn plan_delete(
        &mut self,
        at: At,
        table: &str,
        key: &Item,
        condition: Option<&Condition>,
    ) -> Result<Plan, StoreError> {
        let (_, mut p) = self.plan_by_key(at, table, key)?;
        p.check(condition);
        p.write = Some(None);
        Ok(p)
    }

    fn plan_update(
        &mut self,
        at: At,
        table: &str,
        key_attrs: &Item,
        change: &Change,
        condition: Option<&Condition>,
    ) -> Result<Plan, StoreError> {
        let (def, mut p) = self.plan_by_key(at, table, key_attrs)?;
        let at = |e| at.error(e);
        let key = p.key.clone();
        p.check(condition);
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
        Ok(p)
    }

    fn plan_condition_check(
        &mut self,
        at: At,
        table: &str,
        key: &Item,
        condition: &Condition,
    ) -> Result<Plan, StoreError> {
        let (_, mut p) = self.plan_by_key(at, table, key)?;
        p.check(Some(condition));
        Ok(p)
    }

    fn plan_expire(
        &mut self,
        at: At,
        table: &str,
        key: &Item,
        version: &Version,
        attribute: &str,
    ) -> Result<Plan, StoreError> {
        let (_, mut p) = self.plan_by_key(at, table, key)?;
        let tv = p
            .table_version
            .clone()
            .ok_or_else(|| StoreError::Corrupt("an item plan without its table version".into()))?;
        let enabled = self.ttl_attribute(table, &tv)?;
        p.check(Some(&Condition::VersionEquals(version.clone())));
        if enabled.as_deref() != Some(attribute) {
            p.failure = Some(ConditionFailure {
                message: format!("TTL is no longer enabled on {attribute}"),
                current: p.current.clone(),
            });
        }
        p.write = Some(None);
        p.ttl = true;
        Ok(p)
    }

    /// The TTL attribute of incarnation `incarnation` of `table`, if enabled.
    fn ttl_attribute(
        &self,
        table: &str,
        incarnation: &Version,
    ) -> Result<Option<String>, StoreError> {
        let row = self.head(meridian_core::CATALOG_TABLE, &TableDef::ttl_key(table))?;
        let Some(image) = row.and_then(|h| h.image) else {
            return Ok(None);
        };
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let item = meridian_core::decode_item(&image).map_err(corrupt)?;
        let (attribute, for_version) = TableDef::ttl_attribute(&item).map_err(corrupt)?;
        Ok((for_version == *incarnation).then_some(attribute))
    }

    /// The live definition of `table` and its incarnation, refused unless
    /// this region holds a replica of it.
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
