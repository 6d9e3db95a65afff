//! A table's definition as in force now, worked out from the catalog: the
//! definition row with the replica rows and index rows written beside it
//! since (`meridian_core::replicas`, `meridian_core::index`) applied. The
//! writer's transaction and the readers both hand out definitions, and
//! both get them from here, so they agree on which rows count.

use std::ops::Bound;

use meridian_core::{CATALOG_TABLE, Item, TableDef, Version, decode_item};
use meridian_core::{consistency, index, replicas};
use rusqlite::{Connection, params};

use crate::StoreError;
use crate::group::GroupTxn;
use crate::heads::HeadRow;
use crate::range::SortRange;

fn corrupt(e: meridian_core::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The live catalog rows of `table` whose sort keys start with `prefix`:
/// (sort key, row).
pub(crate) fn catalog_rows(
    conn: &Connection,
    table: &str,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, Item)>, StoreError> {
    let range = SortRange::prefix(prefix);
    let Bound::Excluded(end) = range.upper else {
        return Err(StoreError::Corrupt(
            "a catalog row prefix without an end".into(),
        ));
    };
    let mut stmt = conn.prepare_cached(
        "SELECT sk, image FROM items WHERE tbl = ?1 AND pk = ?2 AND sk >= ?3 AND sk < ?4 AND image IS NOT NULL",
    )?;
    let found = stmt.query_map(params![CATALOG_TABLE, table.as_bytes(), prefix, end], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut rows = Vec::new();
    for row in found {
        let (sk, image) = row?;
        rows.push((sk, decode_item(&image).map_err(corrupt)?));
    }
    Ok(rows)
}

/// `def`, the definition created at `incarnation`, as in force now: its
/// replica rows and index rows applied. Every definition the store hands
/// out comes through here.
pub(crate) fn effective(
    conn: &Connection,
    def: TableDef,
    incarnation: &Version,
) -> Result<TableDef, StoreError> {
    let mut def = with_replicas(conn, def, incarnation)?;
    let rows: Vec<(String, Item)> = catalog_rows(conn, &def.name, index::SORT_PREFIX)?
        .into_iter()
        .filter_map(|(sk, row)| index::name_of(&sk).map(|n| (n, row)))
        .collect();
    if !rows.is_empty() {
        let indexes = std::mem::take(&mut def.indexes);
        def.indexes =
            index::apply(&def.key_schema, indexes, incarnation, &rows).map_err(corrupt)?;
    }
    Ok(def)
}

/// `def`, the definition created at `incarnation`, with its replica rows
/// and its consistency row applied ([`effective`] applies the index rows
/// too).
pub(crate) fn with_replicas(
    conn: &Connection,
    def: TableDef,
    incarnation: &Version,
) -> Result<TableDef, StoreError> {
    let rows: Vec<(String, Item)> = catalog_rows(conn, &def.name, replicas::SORT_PREFIX)?
        .into_iter()
        .filter_map(|(sk, row)| replicas::region_of(&sk).map(|r| (r, row)))
        .collect();
    let def = replicas::apply(def, incarnation, &rows).map_err(corrupt)?;
    let mode = catalog_rows(conn, &def.name, consistency::SORT_KEY)?
        .into_iter()
        .find(|(sk, _)| sk == consistency::SORT_KEY);
    consistency::apply(def, incarnation, mode.as_ref().map(|(_, row)| row)).map_err(corrupt)
}

impl GroupTxn<'_, '_> {
    /// The live definition of a table and its catalog version.
    pub(crate) fn table_def(
        &mut self,
        name: &str,
    ) -> Result<Option<(TableDef, Version)>, StoreError> {
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
                let def =
                    TableDef::from_item(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let def = effective(self.conn, def, &version)?;
                Some((def, version))
            }
            _ => None,
        };
        self.catalog.insert(name.to_string(), def.clone());
        Ok(def)
    }
}
