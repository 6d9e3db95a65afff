//! Finding the tables whose replica set a region's replica rows
//! (`meridian_core::replicas`) may be changing. The replica set in force
//! is applied to every definition the store hands out by
//! [`crate::catalog`], so every gate (local writes, peers' writes, repair,
//! seeding) asks the same question of it.

use meridian_core::CATALOG_TABLE;
use meridian_core::replicas;
use rusqlite::params;

use crate::StoreError;

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
