//! Secondary index entries (`meridian_core::index`): kept in the
//! transaction of every change of an item, built in the background for an
//! index added to a table that holds data, and read by Query and Scan.
//!
//! An entry holds keys only: the index key and the table key. A query of
//! the index reads the item's head through the table key, so what it
//! returns is always the item as stored now, cut to the index's projection.

use std::ops::Bound;
use std::sync::Arc;

use meridian_core::expr::{KeyMatch, SortKeyCondition};
use meridian_core::index::{self, IndexDef, IndexKey, push_component, push_escaped};
use meridian_core::key::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, encode_key_value};
use meridian_core::{AttrValue, KeyType};
use meridian_core::{CATALOG_TABLE, EncodedKey, Item, Mutation, TableDef, Version, decode_item};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::group::GroupTxn;
use crate::range::SortRange;
use crate::read::StoredRow;
use crate::{Reader, StoreError};

fn corrupt(e: meridian_core::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Drops every index entry and marks every index of every table to be
/// built again from the items (a store copied from elsewhere: its entries
/// are not trusted).
pub(crate) fn rebuild_all(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("DELETE FROM idx; DELETE FROM index_builds; DELETE FROM collections;")?;
    let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT pk, version, image FROM items WHERE tbl = ?1 AND sk = x'' AND image IS NOT NULL")?
        .query_map([CATALOG_TABLE], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (_, version, image) in rows {
        let def = TableDef::from_item(&decode_item(&image).map_err(corrupt)?).map_err(corrupt)?;
        let incarnation = Version::from_bytes(&version).map_err(corrupt)?;
        let def = crate::catalog::effective(conn, def, &incarnation)?;
        for i in &def.indexes {
            conn.execute(
                "INSERT INTO index_builds (tbl, name) VALUES (?1, ?2)",
                [&def.name, &i.name],
            )?;
        }
        if index::keeps_collections(&def.indexes) {
            conn.execute(
                "INSERT INTO collections (tbl, pk, bytes)
                 SELECT tbl, pk, SUM(LENGTH(image)) FROM items WHERE tbl = ?1 AND image IS NOT NULL GROUP BY pk",
                [&def.name],
            )?;
        }
    }
    Ok(())
}

/// An index query's partition (the partition attributes' values as a
/// tuple) and the range of index sort keys its condition allows: the
/// sort attributes given by equality are a fixed prefix, and the condition
/// on the next one bounds the rest.
pub fn index_range(
    index: &IndexDef,
    km: &KeyMatch,
) -> Result<(Vec<u8>, SortRange), meridian_core::Error> {
    let mut partition = Vec::new();
    for (v, a) in km.partition.iter().zip(&index.partition) {
        push_component(
            &mut partition,
            &encode_key_value(v, a, MAX_PARTITION_KEY_BYTES)?,
        );
    }
    let mut prefix = Vec::new();
    for (v, a) in km.sort_eq.iter().zip(&index.sort) {
        push_component(&mut prefix, &encode_key_value(v, a, MAX_SORT_KEY_BYTES)?);
    }
    let within = |p: &[u8]| {
        if p.is_empty() {
            SortRange::all()
        } else {
            SortRange::prefix(p)
        }
    };
    let Some(cond) = &km.sort else {
        return Ok((partition, within(&prefix)));
    };
    let attr = &index.sort[km.sort_eq.len()];
    let component = |v: &AttrValue| -> Result<Vec<u8>, meridian_core::Error> {
        let mut c = prefix.clone();
        push_component(&mut c, &encode_key_value(v, attr, MAX_SORT_KEY_BYTES)?);
        Ok(c)
    };
    // Every tuple whose component here is `c` or sorts after all of them.
    let past = |c: &[u8]| match SortRange::prefix(c).upper {
        Bound::Excluded(u) => Bound::Included(u),
        other => other,
    };
    let floor = || {
        if prefix.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(prefix.clone())
        }
    };
    use Bound::*;
    let range = match cond {
        SortKeyCondition::Eq(_, v) => SortRange::prefix(&component(v)?),
        SortKeyCondition::Lt(_, v) => SortRange {
            lower: floor(),
            upper: Excluded(component(v)?),
        },
        SortKeyCondition::Le(_, v) => SortRange {
            lower: floor(),
            upper: SortRange::prefix(&component(v)?).upper,
        },
        SortKeyCondition::Gt(_, v) => SortRange {
            lower: past(&component(v)?),
            upper: within(&prefix).upper,
        },
        SortKeyCondition::Ge(_, v) => SortRange {
            lower: Included(component(v)?),
            upper: within(&prefix).upper,
        },
        SortKeyCondition::Between(_, lo, hi) => {
            let (lo, hi) = (component(lo)?, component(hi)?);
            if lo > hi {
                return Err(meridian_core::Error::Expression(
                    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound".into(),
                ));
            }
            SortRange {
                lower: Included(lo),
                upper: SortRange::prefix(&hi).upper,
            }
        }
        SortKeyCondition::BeginsWith(_, v) => {
            if attr.ty == KeyType::N {
                return Err(meridian_core::Error::Expression(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N".into(),
                ));
            }
            let mut p = prefix.clone();
            push_escaped(&mut p, &encode_key_value(v, attr, MAX_SORT_KEY_BYTES)?);
            SortRange::prefix(&p)
        }
    };
    Ok((partition, range))
}

/// Where a listing of an index stands: the entry's index key and table key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexPos {
    pub index: IndexKey,
    pub key: EncodedKey,
}

/// One index's size here, for DescribeTable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub items: u64,
    /// The bytes a query of it can return: the items' stored bytes for an
    /// `ALL` projection, the keys' bytes for the others.
    pub bytes: u64,
}

impl GroupTxn<'_, '_> {
    /// Moves the entries of `key` of `table` from what its head `old`
    /// (encoded) put there to what its head `new` puts there, in every
    /// index the table has.
    pub(crate) fn index_change(
        &mut self,
        table: &str,
        key: &EncodedKey,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let Some(indexes) = self.records(table)?.indexes else {
            return Ok(());
        };
        if index::keeps_collections(&indexes) {
            let delta = new.map_or(0, <[u8]>::len) as i64 - old.map_or(0, <[u8]>::len) as i64;
            if delta != 0 {
                self.conn
                    .prepare_cached(
                        "INSERT INTO collections (tbl, pk, bytes) VALUES (?1, ?2, ?3)
                         ON CONFLICT (tbl, pk) DO UPDATE SET bytes = bytes + excluded.bytes",
                    )?
                    .execute(params![table, key.partition, delta])?;
                self.conn
                    .prepare_cached(
                        "DELETE FROM collections WHERE tbl = ?1 AND pk = ?2 AND bytes <= 0",
                    )?
                    .execute(params![table, key.partition])?;
            }
        }
        let decode = |i: Option<&[u8]>| i.map(decode_item).transpose().map_err(corrupt);
        let (before, after) = (decode(old)?, decode(new)?);
        for i in indexes.iter() {
            let was = before.as_ref().and_then(|item| i.key_of(item));
            let now = after.as_ref().and_then(|item| i.key_of(item));
            if was == now {
                continue;
            }
            if let Some(k) = was {
                self.conn
                    .prepare_cached(
                        "DELETE FROM idx WHERE tbl = ?1 AND name = ?2 AND ipk = ?3 AND isk = ?4 AND pk = ?5 AND sk = ?6",
                    )?
                    .execute(params![table, i.name, k.partition, k.sort, key.partition, key.sort])?;
            }
            if let Some(k) = now {
                insert(self.conn, table, &i.name, &k, key)?;
            }
        }
        Ok(())
    }

    /// Refuses a local write of `new` over `old` (encoded images) to `key`
    /// of `def` that would take its item collection past the limit, when
    /// the table keeps collections (`meridian_core::index::keeps_collections`).
    pub(crate) fn check_collection(
        &self,
        def: &TableDef,
        key: &EncodedKey,
        old: Option<&[u8]>,
        new: Option<&Item>,
    ) -> Result<(), StoreError> {
        if !index::keeps_collections(&def.indexes) {
            return Ok(());
        }
        let now: i64 = self
            .conn
            .prepare_cached(
                "SELECT COALESCE(MAX(bytes), 0) FROM collections WHERE tbl = ?1 AND pk = ?2",
            )?
            .query_row(params![def.name, key.partition], |r| r.get(0))?;
        let new = new.map_or(0, |i| meridian_core::encode_item(i).len());
        index::check_collection(
            now.max(0) as u64,
            old.map_or(0, <[u8]>::len),
            new,
            index::MAX_ITEM_COLLECTION_BYTES,
        )?;
        Ok(())
    }

    /// An index row of the catalog was just put. What changes here follows
    /// the definition now in force, not the row alone: a row of another
    /// incarnation, or one the rules leave out (`meridian_core::index::apply`),
    /// changes nothing, unless it took the place of the row that defined
    /// the index. An index the row created in the current incarnation is
    /// built again from the items (`GroupTxn::build_indexes`); one no longer
    /// defined loses its entries.
    pub(crate) fn index_row_changed(&mut self, m: &Mutation) -> Result<(), StoreError> {
        let (Ok(table), Some(name)) = (
            String::from_utf8(m.key.partition.clone()),
            index::name_of(&m.key.sort),
        ) else {
            return Ok(());
        };
        self.catalog.remove(&table);
        let row = m
            .image
            .as_deref()
            .map(decode_item)
            .transpose()
            .map_err(corrupt)?;
        let row = row
            .as_ref()
            .map(index::from_item)
            .transpose()
            .map_err(corrupt)?;
        let current = self.table_def(&table)?;
        let defined = current
            .as_ref()
            .and_then(|(def, _)| def.index(&name).cloned());
        let created_by_row = match (&row, &current, &defined) {
            (Some((Some(by_row), of)), Some((_, incarnation)), Some(d)) => {
                of == incarnation && by_row == d
            }
            _ => false,
        };
        if defined.is_some() && !created_by_row {
            // Still defined, and not by this row: its entries stand.
            return Ok(());
        }
        for sql in [
            "DELETE FROM idx WHERE tbl = ?1 AND name = ?2",
            "DELETE FROM index_builds WHERE tbl = ?1 AND name = ?2",
        ] {
            self.conn.prepare_cached(sql)?.execute([&table, &name])?;
        }
        if created_by_row {
            self.conn
                .prepare_cached("INSERT INTO index_builds (tbl, name) VALUES (?1, ?2)")?
                .execute([&table, &name])?;
        }
        Ok(())
    }

    /// Builds the next `max_rows` entries of the first index being built:
    /// the items after its cursor, in key order. Returns how many items it
    /// read, plus one when it finished or dropped a build (0: nothing to
    /// build). Entries written meanwhile by item changes are already right;
    /// an item the build reaches gets the entry its head has now.
    pub(crate) fn build_indexes(&mut self, max_rows: u64) -> Result<u64, StoreError> {
        type Build = (String, String, Option<Vec<u8>>, Option<Vec<u8>>);
        let build: Option<Build> = self
            .conn
            .prepare_cached(
                "SELECT tbl, name, pk, sk FROM index_builds ORDER BY tbl, name LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((table, name, pk, sk)) = build else {
            return Ok(0);
        };
        let finish = |ctx: &mut Self| -> Result<u64, StoreError> {
            ctx.conn
                .prepare_cached("DELETE FROM index_builds WHERE tbl = ?1 AND name = ?2")?
                .execute([&table, &name])?;
            ctx.records.remove(&table);
            Ok(1)
        };
        let Some(def) = self
            .table_def(&table)?
            .and_then(|(d, _)| d.index(&name).cloned())
        else {
            return finish(self);
        };
        let after = match (pk, sk) {
            (Some(partition), Some(sort)) => Some(EncodedKey { partition, sort }),
            _ => None,
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT pk, sk, image FROM items WHERE tbl = ?1 AND image IS NOT NULL AND (pk, sk) > (?2, ?3) ORDER BY pk, sk LIMIT ?4",
        )?;
        let (apk, ask) = after.map(|k| (k.partition, k.sort)).unwrap_or_default();
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = stmt
            .query_map(params![table, apk, ask, max_rows as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut last = None;
        for (partition, sort, image) in &rows {
            let key = EncodedKey {
                partition: partition.clone(),
                sort: sort.clone(),
            };
            if let Some(k) = def.key_of(&decode_item(image).map_err(corrupt)?) {
                insert(self.conn, &table, &name, &k, &key)?;
            }
            last = Some(key);
        }
        match last {
            Some(k) if rows.len() as u64 == max_rows => {
                self.conn
                    .prepare_cached(
                        "UPDATE index_builds SET pk = ?3, sk = ?4 WHERE tbl = ?1 AND name = ?2",
                    )?
                    .execute(params![table, name, k.partition, k.sort])?;
                Ok(rows.len() as u64)
            }
            _ => Ok(rows.len() as u64 + finish(self)?),
        }
    }

    /// The indexes a change of `table` keeps, if any.
    pub(crate) fn indexes_of(
        &mut self,
        table: &str,
    ) -> Result<Option<Arc<[IndexDef]>>, StoreError> {
        Ok(self
            .table_def(table)?
            .map(|(d, _)| d.indexes)
            .filter(|i| !i.is_empty())
            .map(Arc::from))
    }
}

fn insert(
    conn: &Connection,
    table: &str,
    name: &str,
    k: &IndexKey,
    key: &EncodedKey,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO idx (tbl, name, ipk, isk, pk, sk) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        table,
        name,
        k.partition,
        k.sort,
        key.partition,
        key.sort
    ])?;
    Ok(())
}

/// An index listing: one index's entries (`tbl`, `name` bound first) with
/// their items' heads; conditions and order follow.
const LISTING: &str =
    "SELECT x.ipk, x.isk, x.pk, x.sk, i.version, i.prev, i.ctx, i.image FROM idx x
     JOIN items i ON i.tbl = x.tbl AND i.pk = x.pk AND i.sk = x.sk
     WHERE x.tbl = ? AND x.name = ? AND i.image IS NOT NULL";

impl IndexPos {
    /// An entry's position from the first four columns of a row (`ipk,
    /// isk, pk, sk`), as every read of the entries selects them.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IndexPos {
            index: IndexKey {
                partition: r.get(0)?,
                sort: r.get(1)?,
            },
            key: EncodedKey {
                partition: r.get(2)?,
                sort: r.get(3)?,
            },
        })
    }
}

/// A row as index listings ([`LISTING`]) read it: the entry (index key,
/// table key), then the item's head, before the head is decoded.
struct IndexListingRow {
    pos: IndexPos,
    version: Vec<u8>,
    prev: Option<Vec<u8>>,
    context: Vec<u8>,
    image: Vec<u8>,
}

impl IndexListingRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IndexListingRow {
            pos: IndexPos::from_row(r)?,
            version: r.get(4)?,
            prev: r.get(5)?,
            context: r.get(6)?,
            image: r.get(7)?,
        })
    }
}

impl Reader {
    fn index_rows(
        &self,
        sql: &str,
        args: Vec<Value>,
    ) -> Result<Vec<(IndexPos, StoredRow)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(sql)?;
        let rows: Vec<IndexListingRow> = stmt
            .query_map(params_from_iter(args), IndexListingRow::from_row)?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|r| {
                let row = crate::read::row_to_stored(
                    r.pos.key.clone(),
                    r.version,
                    r.prev,
                    r.context,
                    Some(r.image),
                )?;
                Ok((r.pos, row))
            })
            .collect()
    }

    /// Entries of one partition of index `name` of `table` whose index sort
    /// key is in `range`, in index order (sort key, then table key) or its
    /// reverse, strictly after `after` in that order, with their items.
    #[allow(clippy::too_many_arguments)]
    pub fn index_query(
        &self,
        table: &str,
        name: &str,
        partition: &[u8],
        range: &SortRange,
        reverse: bool,
        after: Option<&IndexPos>,
        limit: usize,
    ) -> Result<Vec<(IndexPos, StoredRow)>, StoreError> {
        let mut sql = format!("{LISTING} AND x.ipk = ?");
        let mut args = vec![
            Value::Text(table.into()),
            Value::Text(name.into()),
            Value::Blob(partition.to_vec()),
        ];
        let mut bound = |b: &Bound<Vec<u8>>, op: &str| {
            if let Bound::Included(v) | Bound::Excluded(v) = b {
                let strict = matches!(b, Bound::Excluded(_));
                sql.push_str(&format!(
                    " AND x.isk {op}{} ?",
                    if strict { "" } else { "=" }
                ));
                args.push(Value::Blob(v.clone()));
            }
        };
        bound(&range.lower, ">");
        bound(&range.upper, "<");
        if let Some(a) = after {
            sql.push_str(if reverse {
                " AND (x.isk, x.pk, x.sk) < (?, ?, ?)"
            } else {
                " AND (x.isk, x.pk, x.sk) > (?, ?, ?)"
            });
            args.extend([
                Value::Blob(a.index.sort.clone()),
                Value::Blob(a.key.partition.clone()),
                Value::Blob(a.key.sort.clone()),
            ]);
        }
        sql.push_str(if reverse {
            " ORDER BY x.isk DESC, x.pk DESC, x.sk DESC LIMIT ?"
        } else {
            " ORDER BY x.isk, x.pk, x.sk LIMIT ?"
        });
        args.push(Value::Integer(limit as i64));
        self.index_rows(&sql, args)
    }

    /// Entries of index `name` of `table` in index order, strictly after
    /// `after`, with their items.
    pub fn index_scan(
        &self,
        table: &str,
        name: &str,
        after: Option<&IndexPos>,
        limit: usize,
    ) -> Result<Vec<(IndexPos, StoredRow)>, StoreError> {
        let mut sql = String::from(LISTING);
        let mut args = vec![Value::Text(table.into()), Value::Text(name.into())];
        if let Some(a) = after {
            sql.push_str(" AND (x.ipk, x.isk, x.pk, x.sk) > (?, ?, ?, ?)");
            args.extend([
                Value::Blob(a.index.partition.clone()),
                Value::Blob(a.index.sort.clone()),
                Value::Blob(a.key.partition.clone()),
                Value::Blob(a.key.sort.clone()),
            ]);
        }
        sql.push_str(" ORDER BY x.ipk, x.isk, x.pk, x.sk LIMIT ?");
        args.push(Value::Integer(limit as i64));
        self.index_rows(&sql, args)
    }

    /// Every entry of index `name` of `table` as stored, in index order:
    /// what the drill checker compares with a recomputation from the items.
    pub fn index_entries(&self, table: &str, name: &str) -> Result<Vec<IndexPos>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT ipk, isk, pk, sk FROM idx WHERE tbl = ?1 AND name = ?2 ORDER BY ipk, isk, pk, sk",
        )?;
        let rows = stmt.query_map(params![table, name], IndexPos::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The indexes of `table` still being built here.
    pub fn indexes_building(&self, table: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT name FROM index_builds WHERE tbl = ?1 ORDER BY name")?;
        let rows = stmt.query_map([table], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The bytes of the item collection of partition `partition` of
    /// `table`, for a table with local secondary indexes (0 otherwise).
    pub fn collection_bytes(&self, table: &str, partition: &[u8]) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COALESCE(MAX(bytes), 0) FROM collections WHERE tbl = ?1 AND pk = ?2",
            )?
            .query_row(params![table, partition], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Whether any index of any table is being built here.
    pub fn any_index_building(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM index_builds)")?
            .query_row([], |r| r.get(0))?)
    }

    /// How many items index `def` of `table` holds here, and their bytes.
    pub fn index_stats(&self, table: &str, def: &IndexDef) -> Result<IndexStats, StoreError> {
        let sql = if def.projection == index::Projection::All {
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(i.image)), 0) FROM idx x
             JOIN items i ON i.tbl = x.tbl AND i.pk = x.pk AND i.sk = x.sk
             WHERE x.tbl = ?1 AND x.name = ?2"
        } else {
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(ipk) + LENGTH(isk) + LENGTH(pk) + LENGTH(sk)), 0)
             FROM idx WHERE tbl = ?1 AND name = ?2"
        };
        let (items, bytes): (i64, i64) = self
            .conn()
            .prepare_cached(sql)?
            .query_row(params![table, def.name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(IndexStats {
            items: items as u64,
            bytes: bytes as u64,
        })
    }
}
