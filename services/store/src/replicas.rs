//! Finding the tables whose replica set a region's replica rows
//! (`meridian_core::replicas`) may be changing. The replica set in force
//! is applied to every definition the store hands out by
//! [`crate::catalog`], so every gate (local writes, peers' writes, repair,
//! seeding) asks the same question of it. The rows a region writes of
//! its own replica (its state, its resource-based policy) are planned here
//! too, for the writer's transaction.

use meridian_core::replicas;
use meridian_core::replicas::authorize;
use meridian_core::{CATALOG_TABLE, decode_item};
use rusqlite::params;

use crate::StoreError;
use crate::group::GroupTxn;
use crate::write::Plan;

impl crate::Reader {
    /// The tables that have a replica row naming `region`: the only ones
    /// whose replica there can be changing, found in one pass over the
    /// catalog instead of a definition read per table.
    pub fn tables_with_replica_row(&self, region: &str) -> Result<Vec<String>, StoreError> {
        let sort = replicas::key("", region).sort;
        let mut stmt = self.conn().prepare_cached(
            "SELECT pk FROM items WHERE tbl = ?1 AND sk = ?2 AND image IS NOT NULL ORDER BY pk",
        )?;
        let rows = stmt.query_map(params![CATALOG_TABLE, sort], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| {
            String::from_utf8(r?).map_err(|_| StoreError::Corrupt("table name is not UTF-8".into()))
        })
        .collect()
    }
}

impl GroupTxn<'_, '_> {
    /// The plan that writes `region`'s replica row of `table`: `status`
    /// since `now`, with a disassociation's `cut`, or the one it had
    /// (`meridian_core::replicas::disassociate::next`).
    pub(crate) fn replica_row(
        &mut self,
        table: &str,
        region: &str,
        status: meridian_core::replicas::Status,
        now: u64,
        cut: Option<u64>,
    ) -> Result<Plan, StoreError> {
        let Some((def, incarnation)) = self.table_def(table)? else {
            return Err(StoreError::TableNotFound(table.to_string()));
        };
        let before = def.replica_states.get(region);
        let state = meridian_core::replicas::disassociate::next(before, status, now, cut);
        self.catalog.remove(table);
        let key = meridian_core::replicas::key(table, region);
        let head = self.head(CATALOG_TABLE, &key)?;
        let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
        p.write = Some(Some(meridian_core::replicas::item(&state, &incarnation)));
        Ok(p)
    }

    /// The plan that sets (`Some`) or removes this region's policy row of
    /// `table`, when the stored revision is still `if_revision` (`None`:
    /// no policy); another is [`StoreError::PolicyChanged`].
    pub(crate) fn policy_row(
        &mut self,
        table: &str,
        policy: Option<&authorize::Stored>,
        if_revision: Option<&str>,
    ) -> Result<Plan, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Err(StoreError::TableNotFound(table.to_string()));
        };
        let key = authorize::key(table, self.region);
        let head = self.head(CATALOG_TABLE, &key)?;
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let found = match head.as_ref().and_then(|h| h.image.as_ref()) {
            Some(image) => {
                let (stored, of) =
                    authorize::from_item(&decode_item(image).map_err(corrupt)?).map_err(corrupt)?;
                (of == incarnation).then_some(stored.revision)
            }
            None => None,
        };
        if found.as_deref() != if_revision {
            return Err(StoreError::PolicyChanged {
                table: table.to_string(),
                expected: if_revision.map(str::to_string),
                found,
            });
        }
        let mut p = Plan::new(CATALOG_TABLE, key, None, head)?;
        p.write = Some(policy.map(|stored| authorize::item(stored, &incarnation)));
        Ok(p)
    }
}
