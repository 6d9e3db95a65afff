//! Reading a table's replica rows (`meridian_core::replicas`) from the
//! catalog, so that every definition the store hands out carries the
//! replica set in force, and every gate (local writes, peers' writes,
//! repair, seeding) asks the same question of it.

use meridian_core::replicas::{self, SORT_PREFIX};
use meridian_core::{CATALOG_TABLE, TableDef, Version, decode_item};
use rusqlite::{Connection, params};

use crate::StoreError;

/// `def`, the definition created at `incarnation`, with its replica rows
/// applied.
pub(crate) fn effective(
    conn: &Connection,
    def: TableDef,
    incarnation: &Version,
) -> Result<TableDef, StoreError> {
    let mut end = SORT_PREFIX.to_vec();
    *end.last_mut().expect("a prefix") += 1;
    let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
    let mut rows = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT sk, image FROM items WHERE tbl = ?1 AND pk = ?2 AND sk >= ?3 AND sk < ?4 AND image IS NOT NULL",
    )?;
    let found = stmt.query_map(
        params![CATALOG_TABLE, def.name.as_bytes(), SORT_PREFIX, end],
        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )?;
    for row in found {
        let (sk, image) = row?;
        let Some(region) = replicas::region_of(&sk) else {
            continue;
        };
        rows.push((region, decode_item(&image).map_err(corrupt)?));
    }
    replicas::apply(def, incarnation, &rows).map_err(corrupt)
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
