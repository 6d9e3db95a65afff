//! Deletion protection of a table in this region. DynamoDB sets it per
//! replica of a global table and never replicates it, so it lives here
//! beside the region's other local settings ([`crate::pitr`]), not in the
//! replicated catalog: a row for the table's current incarnation is the
//! protection on.

use meridian_core::Version;
use rusqlite::OptionalExtension;

use crate::StoreError;
use crate::group::Group;
use crate::read::Reader;

/// Whether the row of `table` is for its incarnation `incarnation`.
fn protected(
    conn: &rusqlite::Connection,
    table: &str,
    incarnation: &Version,
) -> Result<bool, StoreError> {
    let of: Option<Vec<u8>> = conn
        .prepare_cached("SELECT incarnation FROM deletion_protection WHERE tbl = ?1")?
        .query_row([table], |r| r.get(0))
        .optional()?;
    Ok(of.is_some_and(|of| of == incarnation.to_bytes()))
}

impl Group<'_> {
    /// Turns deletion protection of `table` on or off in this region.
    pub fn set_deletion_protection(&mut self, table: &str, on: bool) -> Result<(), StoreError> {
        self.unguarded(|ctx| {
            let (_, incarnation) = ctx
                .table_def(table)?
                .ok_or_else(|| StoreError::TableNotFound(table.to_string()))?;
            if on {
                ctx.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO deletion_protection (tbl, incarnation) VALUES (?1, ?2)",
                    )?
                    .execute(rusqlite::params![table, incarnation.to_bytes()])?;
            } else {
                ctx.conn
                    .prepare_cached("DELETE FROM deletion_protection WHERE tbl = ?1")?
                    .execute([table])?;
            }
            Ok(())
        })
    }
}

impl Reader {
    /// Whether `table` is protected from deletion in this region. A table
    /// deleted and created again starts unprotected.
    pub fn deletion_protected(&self, table: &str) -> Result<bool, StoreError> {
        match self.table_def(table)? {
            Some((_, incarnation)) => protected(self.conn(), table, &incarnation),
            None => Ok(false),
        }
    }
}
