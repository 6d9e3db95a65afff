//! Reads. A [`Reader`] owns its own connection and sees the last committed
//! group (WAL snapshot isolation per statement).
//!
//! This module reads items and the catalog (heads, definitions, queries
//! and scans). What else a reader serves has a module of its own:
//! replication's log and positions ([`replication`]), the conflict records
//! ([`conflicts`]) and the digest tree and heads that comparing two
//! replicas reads ([`repair`]). Change streams read in
//! [`crate::stream`], secondary indexes in `crate::index`.

mod conflicts;
mod repair;
mod replication;

use std::ops::Bound;

use meridian_core::{CATALOG_TABLE, Context, EncodedKey, Item, TableDef, Version, decode_item};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::range::SortRange;
use crate::{StoreError, version_from};

pub use conflicts::CONFLICT_RECORD_OVERHEAD;
pub use repair::{Digest, LeafHead, differing_leaves};
pub use replication::BatchFill;

pub struct Reader {
    conn: Connection,
}

/// The head of a key: a live item or a tombstone (`image == None`).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRow {
    pub key: EncodedKey,
    pub version: Version,
    pub prev: Option<Version>,
    pub context: Context,
    pub image: Option<Item>,
}

pub(crate) fn row_to_stored(
    key: EncodedKey,
    v: Vec<u8>,
    p: Option<Vec<u8>>,
    ctx: Vec<u8>,
    image: Option<Vec<u8>>,
) -> Result<StoredRow, StoreError> {
    Ok(StoredRow {
        key,
        version: Version::from_bytes(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        prev: version_from(p)?,
        context: Context::from_bytes(&ctx).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        image: image
            .map(|b| decode_item(&b).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
    })
}

/// An items row as a listing reads it (`pk, sk, version, prev, ctx,
/// image`), before its columns are decoded.
struct ItemRow {
    key: EncodedKey,
    version: Vec<u8>,
    prev: Option<Vec<u8>>,
    context: Vec<u8>,
    image: Option<Vec<u8>>,
}

impl ItemRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(ItemRow {
            key: EncodedKey {
                partition: r.get(0)?,
                sort: r.get(1)?,
            },
            version: r.get(2)?,
            prev: r.get(3)?,
            context: r.get(4)?,
            image: r.get(5)?,
        })
    }
}

impl Reader {
    /// The reader's connection, for other modules of the store.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn new(conn: Connection) -> Self {
        Reader { conn }
    }

    /// The head of one key, tombstones included.
    pub fn get(&self, table: &str, key: &EncodedKey) -> Result<Option<StoredRow>, StoreError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT version, prev, ctx, image FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3",
            )?
            .query_row(params![table, key.partition, key.sort], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        row.map(|(v, p, c, i)| row_to_stored(key.clone(), v, p, c, i))
            .transpose()
    }

    /// A live table definition and the catalog version that created it.
    pub fn table_def(&self, name: &str) -> Result<Option<(TableDef, Version)>, StoreError> {
        match self.get(CATALOG_TABLE, &TableDef::catalog_key(name))? {
            Some(StoredRow {
                version,
                image: Some(item),
                ..
            }) => {
                let def =
                    TableDef::from_item(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let def = crate::catalog::effective(&self.conn, def, &version)?;
                Ok(Some((def, version)))
            }
            _ => Ok(None),
        }
    }

    /// Several heads from one consistent snapshot, tombstones included.
    pub fn get_all(
        &self,
        keys: &[(String, EncodedKey)],
    ) -> Result<Vec<Option<StoredRow>>, StoreError> {
        self.snapshot(|r| keys.iter().map(|(t, k)| r.get(t, k)).collect())
    }

    /// The attribute TTL expiry reads on `table`, if TTL is enabled on the
    /// table's current incarnation.
    pub fn ttl_attribute(&self, table: &str) -> Result<Option<String>, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(None);
        };
        match self.get(CATALOG_TABLE, &TableDef::ttl_key(table))? {
            Some(StoredRow {
                image: Some(item), ..
            }) => {
                let (attribute, for_version) = TableDef::ttl_attribute(&item)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((for_version == incarnation).then_some(attribute))
            }
            _ => Ok(None),
        }
    }

    /// The settings in force on `table` (billing, throughput, stream).
    pub fn settings(
        &self,
        table: &str,
    ) -> Result<Option<meridian_core::settings::TableSettings>, StoreError> {
        use meridian_core::settings::TableSettings;
        let Some((def, incarnation)) = self.table_def(table)? else {
            return Ok(None);
        };
        let row = self
            .get(CATALOG_TABLE, &TableSettings::key(table))?
            .and_then(|r| r.image);
        TableSettings::current(&def, &incarnation, row.as_ref())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The tags of the current incarnation of `table` in `region`.
    pub fn tags(
        &self,
        table: &str,
        region: &str,
    ) -> Result<meridian_core::schema::Tags, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(Default::default());
        };
        match self.get(CATALOG_TABLE, &TableDef::tags_key(table, region))? {
            Some(StoredRow {
                image: Some(item), ..
            }) => {
                let (tags, of) =
                    TableDef::tags(&item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(if of == incarnation {
                    tags
                } else {
                    Default::default()
                })
            }
            _ => Ok(Default::default()),
        }
    }

    /// The regions whose replica of `table` has deletion protection on
    /// (`meridian_core::protection`), in name order: rows of the table's
    /// current incarnation only.
    pub fn protected_replicas(&self, table: &str) -> Result<Vec<String>, StoreError> {
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(Vec::new());
        };
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let mut out = Vec::new();
        for (sk, item) in crate::catalog::catalog_rows(
            self.conn(),
            table,
            meridian_core::protection::SORT_PREFIX,
        )? {
            let region = meridian_core::protection::region_of(&sk).ok_or_else(|| {
                StoreError::Corrupt("a protection row's region is not UTF-8".into())
            })?;
            if meridian_core::protection::from_item(&item).map_err(corrupt)? == incarnation {
                out.push(region);
            }
        }
        Ok(out)
    }

    /// The resource-based policies of `table`'s replicas, by region
    /// (`meridian_core::replicas::authorize`): rows of the table's current
    /// incarnation only.
    pub fn replica_policies(
        &self,
        table: &str,
    ) -> Result<
        std::collections::BTreeMap<String, meridian_core::replicas::authorize::Stored>,
        StoreError,
    > {
        use meridian_core::replicas::authorize;
        let Some((_, incarnation)) = self.table_def(table)? else {
            return Ok(Default::default());
        };
        let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
        let mut out = std::collections::BTreeMap::new();
        for (sk, item) in crate::catalog::catalog_rows(self.conn(), table, authorize::SORT_PREFIX)?
        {
            let region = authorize::region_of(&sk)
                .ok_or_else(|| StoreError::Corrupt("a policy row's region is not UTF-8".into()))?;
            let (stored, of) = authorize::from_item(&item).map_err(corrupt)?;
            if of == incarnation {
                out.insert(region, stored);
            }
        }
        Ok(out)
    }

    /// Every table a resource-based policy may stop replicating
    /// (`meridian_core::replicas::authorize`), with its replicas'
    /// policies: those with a policy row, or with replica rows (a replica of
    /// another account is one). Tables with neither replicate unhindered.
    #[allow(clippy::type_complexity)]
    pub fn authorization_inputs(
        &self,
    ) -> Result<
        Vec<(
            TableDef,
            std::collections::BTreeMap<String, meridian_core::replicas::authorize::Stored>,
        )>,
        StoreError,
    > {
        let end = |prefix: &[u8]| match SortRange::prefix(prefix).upper {
            Bound::Excluded(end) => Ok(end),
            _ => Err(StoreError::Corrupt(
                "a catalog row prefix without an end".into(),
            )),
        };
        let (policy, replica) = (
            meridian_core::replicas::authorize::SORT_PREFIX,
            meridian_core::replicas::SORT_PREFIX,
        );
        let tables: Vec<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT pk FROM items WHERE tbl = ?1 AND image IS NOT NULL \
                 AND ((sk >= ?2 AND sk < ?3) OR (sk >= ?4 AND sk < ?5))",
            )?
            .query_map(
                params![CATALOG_TABLE, policy, end(policy)?, replica, end(replica)?],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for t in tables {
            let name = String::from_utf8(t)
                .map_err(|_| StoreError::Corrupt("table name is not UTF-8".into()))?;
            if let Some((def, _)) = self.table_def(&name)? {
                let policies = self.replica_policies(&name)?;
                out.push((def, policies));
            }
        }
        Ok(out)
    }

    /// Live tables in name order, after `start_after`.
    pub fn list_tables(&self, start_after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pk FROM items WHERE tbl = ?1 AND sk = x'' AND image IS NOT NULL AND pk > ?2 ORDER BY pk LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![CATALOG_TABLE, start_after.as_bytes(), limit as i64],
            |r| r.get::<_, Vec<u8>>(0),
        )?;
        rows.map(|r| {
            String::from_utf8(r?).map_err(|_| StoreError::Corrupt("table name is not UTF-8".into()))
        })
        .collect()
    }

    fn rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<StoredRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows: Vec<ItemRow> = stmt
            .query_map(params_from_iter(args), ItemRow::from_row)?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|r| row_to_stored(r.key, r.version, r.prev, r.context, r.image))
            .collect()
    }

    /// Live items of one partition, in sort-key order (or reverse), strictly
    /// after `after` in that order.
    pub fn query(
        &self,
        table: &str,
        partition: &[u8],
        range: &SortRange,
        reverse: bool,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let mut sql = String::from(
            "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? AND pk = ? AND image IS NOT NULL",
        );
        let mut args: Vec<Value> = vec![Value::Text(table.into()), Value::Blob(partition.to_vec())];
        let mut bound = |b: &Bound<Vec<u8>>, incl: &str, excl: &str| match b {
            Bound::Included(v) => {
                sql.push_str(&format!(" AND sk {incl} ?"));
                args.push(Value::Blob(v.clone()));
            }
            Bound::Excluded(v) => {
                sql.push_str(&format!(" AND sk {excl} ?"));
                args.push(Value::Blob(v.clone()));
            }
            Bound::Unbounded => {}
        };
        bound(&range.lower, ">=", ">");
        bound(&range.upper, "<=", "<");
        if let Some(a) = after {
            sql.push_str(if reverse {
                " AND sk < ?"
            } else {
                " AND sk > ?"
            });
            args.push(Value::Blob(a.to_vec()));
        }
        sql.push_str(if reverse {
            " ORDER BY sk DESC"
        } else {
            " ORDER BY sk ASC"
        });
        sql.push_str(" LIMIT ?");
        args.push(Value::Integer(limit as i64));
        self.rows(&sql, args)
    }

    /// Live items of a table in key order, strictly after `after`.
    pub fn scan(
        &self,
        table: &str,
        after: Option<&EncodedKey>,
        limit: usize,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let (sql, args) = match after {
            None => (
                "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? AND image IS NOT NULL ORDER BY pk, sk LIMIT ?",
                vec![Value::Text(table.into()), Value::Integer(limit as i64)],
            ),
            Some(k) => (
                "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? AND image IS NOT NULL AND (pk, sk) > (?, ?) ORDER BY pk, sk LIMIT ?",
                vec![
                    Value::Text(table.into()),
                    Value::Blob(k.partition.clone()),
                    Value::Blob(k.sort.clone()),
                    Value::Integer(limit as i64),
                ],
            ),
        };
        self.rows(sql, args)
    }

    /// Every head of a table, tombstones included, in key order.
    pub fn heads(&self, table: &str) -> Result<Vec<StoredRow>, StoreError> {
        self.rows(
            "SELECT pk, sk, version, prev, ctx, image FROM items WHERE tbl = ? ORDER BY pk, sk",
            vec![Value::Text(table.into())],
        )
    }

    pub fn item_count(&self, table: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM items WHERE tbl = ?1 AND image IS NOT NULL")?
            .query_row([table], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Bytes of a table's live items as stored (encoded, a few bytes per
    /// attribute above DynamoDB's item size), summed at the cost of one pass
    /// over the table's heads, like [`Reader::item_count`].
    pub fn table_bytes(&self, table: &str) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(LENGTH(image)), 0) FROM items WHERE tbl = ?1 AND image IS NOT NULL",
            )?
            .query_row([table], |r| r.get::<_, i64>(0))? as u64)
    }
}

impl Reader {
    /// Runs `f` in one read transaction: everything it reads comes from
    /// one snapshot of the store, whatever the writer commits meanwhile.
    pub(crate) fn snapshot<T>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN")?;
        let out = f(self);
        self.conn.execute_batch("COMMIT")?;
        out
    }

    /// How many live items of `table`'s incarnation this region has turned
    /// into tombstones, local and replicated deletes and TTL expiries
    /// alike (`removes_applied`): what its stream's REMOVE records must
    /// number, while the stream has been on since the table's creation and
    /// none of its records has aged out.
    pub fn removes_applied(&self, table: &str) -> Result<u64, StoreError> {
        let n: Option<i64> = self
            .conn
            .prepare_cached("SELECT n FROM removes_applied WHERE tbl = ?1")?
            .query_row([table], |r| r.get(0))
            .optional()?;
        Ok(n.unwrap_or(0) as u64)
    }
}
