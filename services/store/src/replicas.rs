//! Reading a table's replica rows (`meridian_core::replicas`) from the
//! catalog, so that every definition the store hands out carries the
//! replica set in force, and every gate (local writes, peers' writes,
//! repair, seeding) asks the same question of it.

use meridian_core::replicas::{self, SORT_PREFIX};
use meridian_core::{CATALOG_TABLE, TableDef, Version};
use rusqlite::{Connection, params};

use crate::StoreError;

/// `def`, the definition created at `incarnation`, with its replica rows
/// applied (`crate::index::effective` applies the rest).
pub(crate) fn effective(
    conn: &Connection,
    def: TableDef,
    incarnation: &Version,
) -> Result<TableDef, StoreError> {
    let rows: Vec<(String, meridian_core::Item)> =
        crate::index::catalog_rows(conn, &def.name, SORT_PREFIX)?
            .into_iter()
            .filter_map(|(sk, row)| replicas::region_of(&sk).map(|r| (r, row)))
            .collect();
    replicas::apply(def, incarnation, &rows).map_err(|e| StoreError::Corrupt(e.to_string()))
}

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
