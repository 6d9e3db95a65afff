//! On-demand backups of one table: a file of their own, outside the store.
//!
//! A backup is the table exactly as this region held it at one position of
//! its history: its definition and settings, and every live item with its
//! version, read in one SQLite read transaction while writers go on (WAL).
//! The copy runs inside SQLite (`INSERT … SELECT` from the store attached
//! read-only), so no row crosses into Rust, and the file is written under a
//! scratch name, fsynced and renamed: a backup file either is whole or does
//! not exist.
//!
//! The file is a SQLite database with two tables of its own
//! ([`BACKUP_SCHEMA`]): `backup_meta` (what the backup is of, and where in
//! the region's history) and `backup_items` (key, version, item image).
//! Their names differ from the store's, so while the store is attached the
//! store's own readers ([`Reader`]) work unchanged on the same connection,
//! inside the same transaction as the copy.

use std::path::{Path, PathBuf};

use meridian_core::settings::TableSettings;
use meridian_core::{EncodedKey, Item, TableDef, Version, decode_item, encode_item};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::read::Reader;
use crate::seed::check_schema;
use crate::{StoreError, db_path};

/// The backup file's schema. `format` in `backup_meta` says which version
/// of it a file holds.
const BACKUP_SCHEMA: &str = "
CREATE TABLE backup_meta (
    k TEXT PRIMARY KEY,
    v BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE backup_items (
    pk      BLOB NOT NULL,
    sk      BLOB NOT NULL,
    version BLOB NOT NULL,
    image   BLOB NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
";

/// The version of [`BACKUP_SCHEMA`] this build writes and reads.
const FORMAT: &str = "1";

/// The suffix of a backup being written; start-up deletes what a crash left.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// What a backup is of: read back from its file by [`BackupFile::open`].
#[derive(Clone, Debug, PartialEq)]
pub struct BackupMeta {
    /// The name the user gave it (`BackupName`).
    pub name: String,
    /// The region that took it.
    pub region: String,
    /// When it was taken, µs since the epoch (the region's unskewed clock).
    pub created_micros: u64,
    /// The table's definition when it was taken, with the billing mode in
    /// force then and no stream (a restored table starts without one, as in
    /// DynamoDB).
    pub def: TableDef,
    /// The catalog version that created the backed-up incarnation.
    pub incarnation: Version,
    /// Live items, and the bytes of their stored images.
    pub items: u64,
    pub item_bytes: u64,
    /// Where in the region's history it was taken: its log identity and
    /// head at that moment.
    pub log_id: String,
    pub log_head: u64,
}

/// What [`take`] is asked for: a backup of `table` in `region`, named
/// `name`, taken at `now_micros`; with `as_of`, the table as it was at that
/// instant instead, rebuilt from the point-in-time history
/// ([`crate::pitr`]), which must reach back that far.
pub struct Take<'a> {
    pub region: &'a str,
    pub table: &'a str,
    pub name: &'a str,
    pub now_micros: u64,
    pub as_of: Option<u64>,
}

/// Takes the backup `what` asks for from the store in `data_dir` into a
/// new file at `dest` (which must not exist). Every row comes from one read
/// snapshot of the store. Returns what the file holds. On any error no file
/// is left at `dest`.
pub fn take(data_dir: &Path, what: &Take<'_>, dest: &Path) -> Result<BackupMeta, StoreError> {
    if dest.exists() {
        return Err(open_error(
            dest,
            "a backup file already exists there".into(),
        ));
    }
    let scratch = scratch_path(dest);
    let _ = std::fs::remove_file(&scratch);
    let result =
        write(data_dir, what, &scratch).and_then(|meta| install(&scratch, dest).map(|()| meta));
    if result.is_err() {
        let _ = std::fs::remove_file(&scratch);
    }
    result
}

fn write(data_dir: &Path, label: &Take<'_>, scratch: &Path) -> Result<BackupMeta, StoreError> {
    let table = label.table;
    let conn = Connection::open_with_flags(
        scratch,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A scratch file: fsynced once, whole, before it is renamed into place.
    conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")?;
    conn.execute_batch(BACKUP_SCHEMA)?;
    conn.execute(
        "ATTACH DATABASE ?1 AS store",
        [format!("file:{}?mode=ro", db_path(data_dir).display())],
    )?;
    let reader = Reader::new(conn);
    let meta = reader.snapshot(|r| {
        let (mut def, incarnation) = r
            .table_def(table)?
            .ok_or_else(|| StoreError::TableNotFound(table.to_string()))?;
        let settings = r
            .settings(table)?
            .unwrap_or_else(|| TableSettings::initial(&def, &incarnation));
        def.billing = settings.billing;
        def.stream_view_type = None;
        let conn = r.conn();
        conn.prepare(
            "INSERT INTO main.backup_items (pk, sk, version, image)
             SELECT pk, sk, version, image FROM store.items
             WHERE tbl = ?1 AND image IS NOT NULL ORDER BY pk, sk",
        )?
        .execute([table])?;
        if let Some(at) = label.as_of {
            let pitr = r
                .pitr(table)?
                .ok_or_else(|| StoreError::PitrDisabled(table.to_string()))?;
            let earliest = pitr.earliest(label.now_micros);
            if at < earliest || at > label.now_micros {
                return Err(StoreError::RestoreTime {
                    asked: at,
                    earliest,
                    latest: label.now_micros,
                });
            }
            undo_after(conn, table, at)?;
        }
        let (items, item_bytes): (i64, i64) = conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(image)), 0) FROM main.backup_items",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let meta = BackupMeta {
            name: label.name.to_string(),
            region: label.region.to_string(),
            created_micros: label.as_of.unwrap_or(label.now_micros),
            def,
            incarnation,
            items: items as u64,
            item_bytes: item_bytes as u64,
            log_id: r.log_id()?,
            log_head: r.log_head()?,
        };
        write_meta(conn, &meta)?;
        Ok(meta)
    })?;
    drop(reader);
    Ok(meta)
}

/// Puts every key of `table` changed after `at` back as it was then: as
/// the first history row after `at` recorded the head it replaced (absent
/// when it held nothing or a tombstone). Runs in the backup's snapshot.
fn undo_after(conn: &Connection, table: &str, at: u64) -> Result<(), StoreError> {
    conn.execute_batch("DROP TABLE IF EXISTS temp.undo")?;
    conn.execute(
        "CREATE TEMP TABLE undo AS
         SELECT MIN(n) AS n FROM store.history WHERE tbl = ?1 AND at > ?2 GROUP BY pk, sk",
        params![table, at as i64],
    )?;
    conn.execute_batch(
        "DELETE FROM main.backup_items WHERE (pk, sk) IN
           (SELECT h.pk, h.sk FROM temp.undo u JOIN store.history h ON h.n = u.n);
         INSERT INTO main.backup_items (pk, sk, version, image)
           SELECT h.pk, h.sk, h.version, h.image FROM temp.undo u JOIN store.history h ON h.n = u.n
           WHERE h.image IS NOT NULL;
         DROP TABLE temp.undo;",
    )?;
    Ok(())
}

fn write_meta(conn: &Connection, meta: &BackupMeta) -> Result<(), StoreError> {
    let rows: [(&str, Vec<u8>); 10] = [
        ("format", FORMAT.into()),
        ("name", meta.name.clone().into_bytes()),
        ("region", meta.region.clone().into_bytes()),
        ("created", meta.created_micros.to_string().into_bytes()),
        ("def", encode_item(&meta.def.to_item())),
        ("incarnation", meta.incarnation.to_bytes()),
        ("items", meta.items.to_string().into_bytes()),
        ("item_bytes", meta.item_bytes.to_string().into_bytes()),
        ("log_id", meta.log_id.clone().into_bytes()),
        ("log_head", meta.log_head.to_string().into_bytes()),
    ];
    let mut stmt = conn.prepare("INSERT INTO main.backup_meta (k, v) VALUES (?1, ?2)")?;
    for (k, v) in rows {
        stmt.execute(params![k, v])?;
    }
    Ok(())
}

/// Makes the finished scratch file durable and gives it its final name.
fn install(scratch: &Path, dest: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| open_error(dest, e.to_string());
    std::fs::File::open(scratch)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(scratch, dest).map_err(io)?;
    if let Some(dir) = dest.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

fn scratch_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(PARTIAL_SUFFIX);
    PathBuf::from(s)
}

fn open_error(path: &Path, reason: String) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        reason,
    }
}

/// A backup file opened for reading. It is checked as input from outside
/// the store: its schema must be exactly [`BACKUP_SCHEMA`], its format this
/// build's, and every item read from it must decode.
pub struct BackupFile {
    conn: Connection,
    path: PathBuf,
    pub meta: BackupMeta,
}

impl BackupFile {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let refuse = |reason: String| open_error(path, reason);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        conn.execute_batch("PRAGMA cell_size_check=ON; PRAGMA query_only=ON;")?;
        check_schema(&conn, BACKUP_SCHEMA, "a backup file's").map_err(|e| refuse(e.to_string()))?;
        let get = |k: &str| -> Result<Vec<u8>, StoreError> {
            conn.query_row("SELECT v FROM backup_meta WHERE k = ?1", [k], |r| r.get(0))
                .optional()?
                .ok_or_else(|| refuse(format!("its backup_meta has no {k}")))
        };
        let text = |k: &str| -> Result<String, StoreError> {
            String::from_utf8(get(k)?).map_err(|_| refuse(format!("its {k} is not UTF-8")))
        };
        let number = |k: &str| -> Result<u64, StoreError> {
            text(k)?
                .parse()
                .map_err(|_| refuse(format!("its {k} is not a number")))
        };
        let format = text("format")?;
        if format != FORMAT {
            return Err(refuse(format!(
                "backup format {format:?}, this build reads {FORMAT:?}"
            )));
        }
        let def = decode_item(&get("def")?)
            .and_then(|item| TableDef::from_item(&item))
            .map_err(|e| refuse(format!("its table definition: {e}")))?;
        let incarnation = Version::from_bytes(&get("incarnation")?)
            .map_err(|e| refuse(format!("its incarnation: {e}")))?;
        let meta = BackupMeta {
            name: text("name")?,
            region: text("region")?,
            created_micros: number("created")?,
            def,
            incarnation,
            items: number("items")?,
            item_bytes: number("item_bytes")?,
            log_id: text("log_id")?,
            log_head: number("log_head")?,
        };
        Ok(BackupFile {
            conn,
            path: path.to_path_buf(),
            meta,
        })
    }

    /// Up to `limit` items after `after` (from the first when `None`), in
    /// key order, with their keys.
    pub fn items_after(
        &self,
        after: Option<&EncodedKey>,
        limit: usize,
    ) -> Result<Vec<(EncodedKey, Item)>, StoreError> {
        let map = |r: &rusqlite::Row<'_>| {
            Ok((
                EncodedKey {
                    partition: r.get(0)?,
                    sort: r.get(1)?,
                },
                r.get::<_, Vec<u8>>(2)?,
            ))
        };
        let rows: Vec<(EncodedKey, Vec<u8>)> = match after {
            None => self
                .conn
                .prepare_cached("SELECT pk, sk, image FROM backup_items ORDER BY pk, sk LIMIT ?1")?
                .query_map([limit as i64], map)?
                .collect::<Result<_, _>>()?,
            // Row values compare in key order and keep the primary key's
            // index, so each page starts where the last one ended.
            Some(k) => self
                .conn
                .prepare_cached(
                    "SELECT pk, sk, image FROM backup_items WHERE (pk, sk) > (?1, ?2)
                     ORDER BY pk, sk LIMIT ?3",
                )?
                .query_map(params![k.partition, k.sort, limit as i64], map)?
                .collect::<Result<_, _>>()?,
        };
        let mut out = Vec::new();
        for (key, image) in rows {
            let item = decode_item(&image)
                .map_err(|e| open_error(&self.path, format!("an item does not decode: {e}")))?;
            out.push((key, item));
        }
        Ok(out)
    }

    /// The file's size on disk.
    pub fn size_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
}
