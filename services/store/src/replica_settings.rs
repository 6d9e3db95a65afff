//! Settings a region keeps for its own replica of a table and never
//! replicates, as DynamoDB keeps them per replica: resource-based
//! policies, contributor insights, the table class and encryption. Each is
//! a named text value of the table's current incarnation; what the text
//! means is the caller's. Deletion protection was kept here too
//! ([`LEGACY_DELETION_PROTECTION`]) until other regions had to read it; it
//! is now a catalog row (`meridian_core::protection`).
//!
//! A change reads the value and writes the new one in the writer's group,
//! so a conditional change (a policy's expected revision) is decided
//! against the value it replaces, and two concurrent changes never both
//! pass the same condition.

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::group::Group;
use crate::read::Reader;

/// The setting deletion protection was kept under before it became a
/// catalog row: a region started on such a store moves it there
/// ([`Reader::legacy_protected`]).
pub const LEGACY_DELETION_PROTECTION: &str = "deletion_protection";

/// The setting a table's resource-based policy was kept under before it
/// became a catalog row (`meridian_core::replicas::authorize`), as its
/// revision, a newline and its document: a region started on such a
/// store moves it there ([`Reader::legacy_settings`]).
pub const LEGACY_TABLE_POLICY: &str = "policy/table";

/// A setting's value before and after a change (`None`: unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replaced {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The value of `name` for `table` as stored, if it belongs to the
/// incarnation `incarnation`.
fn value(
    conn: &rusqlite::Connection,
    table: &str,
    name: &str,
    incarnation: &[u8],
) -> Result<Option<String>, StoreError> {
    let row: Option<(Vec<u8>, String)> = conn
        .prepare_cached(
            "SELECT incarnation, value FROM replica_settings WHERE tbl = ?1 AND name = ?2",
        )?
        .query_row([table, name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.filter(|(of, _)| of == incarnation).map(|(_, v)| v))
}

impl Group<'_> {
    /// Changes setting `name` of `table` in this region to what `change`
    /// makes of its current value (`None`: unset) at `now` (µs): `Some`
    /// stores the text, `None` removes it; answers both values. `change`
    /// refusing (`Err(e)`) writes nothing and is answered `Ok(Err(e))`; a
    /// missing table is `TableNotFound`.
    pub fn change_replica_setting<E>(
        &mut self,
        table: &str,
        name: &str,
        now: u64,
        change: impl FnOnce(Option<&str>, u64) -> Result<Option<String>, E>,
    ) -> Result<Result<Replaced, E>, StoreError> {
        self.unguarded(|ctx| {
            let (_, incarnation) = ctx
                .table_def(table)?
                .ok_or_else(|| StoreError::TableNotFound(table.to_string()))?;
            let incarnation = incarnation.to_bytes();
            let current = value(ctx.conn, table, name, &incarnation)?;
            let next = match change(current.as_deref(), now) {
                Ok(next) => next,
                Err(e) => return Ok(Err(e)),
            };
            match &next {
                Some(text) => {
                    ctx.conn
                        .prepare_cached(
                            "INSERT OR REPLACE INTO replica_settings (tbl, name, incarnation, value) VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![table, name, incarnation, text])?;
                }
                None => {
                    ctx.conn
                        .prepare_cached("DELETE FROM replica_settings WHERE tbl = ?1 AND name = ?2")?
                        .execute([table, name])?;
                }
            }
            Ok(Ok(Replaced {
                before: current,
                after: next,
            }))
        })
    }
}

impl Reader {
    /// The tables whose replica here was protected against deletion under
    /// [`LEGACY_DELETION_PROTECTION`], in their current incarnation.
    pub fn legacy_protected(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .legacy_settings(LEGACY_DELETION_PROTECTION)?
            .into_iter()
            .map(|(t, _)| t)
            .collect())
    }

    /// The tables with setting `name` here, in their current incarnation,
    /// with its value: what an earlier build kept here that has moved.
    pub fn legacy_settings(&self, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let tables: Vec<String> = self
            .conn()
            .prepare_cached("SELECT tbl FROM replica_settings WHERE name = ?1 ORDER BY tbl")?
            .query_map([name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for t in tables {
            if let Some(v) = self.replica_setting(&t, name)? {
                out.push((t, v));
            }
        }
        Ok(out)
    }

    /// Setting `name` of `table` in this region, if set for the table's
    /// current incarnation.
    pub fn replica_setting(&self, table: &str, name: &str) -> Result<Option<String>, StoreError> {
        match self.table_def(table)? {
            Some((_, incarnation)) => value(self.conn(), table, name, &incarnation.to_bytes()),
            None => Ok(None),
        }
    }

    /// Every setting of `table` in this region whose name starts with
    /// `prefix`, by name.
    pub fn replica_settings(
        &self,
        table: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(Vec::new());
        };
        let incarnation = incarnation.to_bytes();
        let mut stmt = self.conn().prepare_cached(
            "SELECT name, incarnation, value FROM replica_settings WHERE tbl = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map([table], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, of, value) = row?;
            if name.starts_with(prefix) && of == incarnation {
                out.push((name, value));
            }
        }
        Ok(out)
    }
}
