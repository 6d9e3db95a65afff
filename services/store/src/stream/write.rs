//! Writing a stream in a change's own transaction: the record of each
//! change while the table's stream is on, the conflict marks, the rolling
//! of shards, and the retention that trims records, marks and shards.

use meridian_core::settings::TableSettings;
use meridian_core::{CATALOG_TABLE, Mutation, decode_item};
use rusqlite::{OptionalExtension, params};

use super::{Event, StreamOn, ViewType};
use crate::StoreError;
use crate::cache::Records;
use crate::group::{Group, GroupTxn};
use crate::heads::HeadRow;

/// The last shard of `table`'s stream `label` and when it opened.
fn last_shard(
    conn: &rusqlite::Connection,
    table: &str,
    label: u64,
) -> Result<Option<(u32, u64)>, StoreError> {
    let rolled = conn
        .prepare_cached(
            "SELECT shard, opened FROM stream_shards WHERE tbl = ?1 AND label = ?2
             ORDER BY shard DESC LIMIT 1",
        )?
        .query_row(params![table, label as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64))
        })
        .optional()?;
    if rolled.is_some() {
        return Ok(rolled);
    }
    // Shard 0 opened with the stream's first record.
    Ok(conn
        .prepare_cached("SELECT at FROM stream WHERE tbl = ?1 AND label = ?2 ORDER BY seq LIMIT 1")?
        .query_row(params![table, label as i64], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|at| (0, at as u64)))
}

/// The stream of `table` in force now, from its settings.
fn stream_of(ctx: &mut GroupTxn<'_, '_>, table: &str) -> Result<Option<StreamOn>, StoreError> {
    let Some((def, incarnation)) = ctx.table_def(table)? else {
        return Ok(None);
    };
    let row = ctx
        .head(CATALOG_TABLE, &TableSettings::key(table))?
        .and_then(|h| h.image);
    let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
    let row = row.map(|i| decode_item(&i)).transpose().map_err(corrupt)?;
    let settings = TableSettings::current(&def, &incarnation, row.as_ref()).map_err(corrupt)?;
    Ok(StreamOn::of(&settings))
}

impl GroupTxn<'_, '_> {
    /// What a change of `table` records besides its head (cached until
    /// the catalog or a setting changes).
    pub(crate) fn records(&mut self, table: &str) -> Result<Records, StoreError> {
        if let Some(hit) = self.records.get(table) {
            return Ok(hit.clone());
        }
        let stream = stream_of(self, table)?;
        let shard = match stream {
            Some(s) => last_shard(self.conn, table, s.label)?,
            None => None,
        };
        let r = Records {
            history: self.keeps_history(table)?,
            stream,
            indexes: self.indexes_of(table)?,
            shard,
        };
        self.records.insert(table.to_string(), r.clone());
        Ok(r)
    }

    /// Keeps the label of the stream a table's settings row `m` enables,
    /// with the incarnation the row is of, so the label outlives the
    /// stream's disabling ([`crate::Reader::latest_stream_label`]). A row that
    /// does not decode enables nothing here: whether it may be applied is
    /// not this record's to decide.
    pub(crate) fn note_stream_label(&mut self, m: &Mutation) -> Result<(), StoreError> {
        let Some(image) = m.image.as_deref() else {
            return Ok(());
        };
        let Ok(table) = std::str::from_utf8(&m.key.partition) else {
            return Ok(());
        };
        let Some((settings, of)) = decode_item(image)
            .ok()
            .and_then(|item| TableSettings::from_item(&item).ok())
        else {
            return Ok(());
        };
        if let Some(s) = settings.stream {
            self.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO stream_labels (tbl, incarnation, label) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![table, of.to_bytes(), s.since as i64])?;
        }
        Ok(())
    }

    /// Writes the record of `m` replacing `old`, on `stream`, if the
    /// change is an event.
    pub(crate) fn record_stream(
        &mut self,
        stream: StreamOn,
        old: Option<&HeadRow>,
        m: &Mutation,
    ) -> Result<(), StoreError> {
        let before = old.and_then(|h| h.image.as_deref());
        let Some(event) = Event::of(before, m.image.as_deref()) else {
            return Ok(());
        };
        let view = stream.view;
        self.conn
            .prepare_cached(
                "INSERT INTO stream (tbl, label, at, pk, sk, event, view, old, new, ttl, version, replaced)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                m.table,
                stream.label as i64,
                self.at as i64,
                m.key.partition,
                m.key.sort,
                event.code(),
                view.code(),
                before.filter(|_| view.keeps_old()),
                m.image.as_deref().filter(|_| view.keeps_new()),
                m.ttl,
                m.version,
                old.map(|h| h.version.to_bytes()),
            ])?;
        self.roll_shard(&m.table, stream.label)
    }

    /// Keeps, with `e.table`'s stream if one is on, the conflict between
    /// the arriving `e` and the head `current` this region just resolved:
    /// `e` won (and is about to be put) if `applied`, else it lost on
    /// arrival and is never applied. Written before the head, so `seq`,
    /// the position the next record will take, is the position of `e`'s
    /// own record when it makes one ([`super::WatchCursor`]). Only on the
    /// conflict path: a write without a conflict pays nothing here.
    pub(crate) fn mark_conflict(
        &mut self,
        e: &Mutation,
        current: &HeadRow,
        applied: bool,
    ) -> Result<(), StoreError> {
        if e.table == CATALOG_TABLE {
            return Ok(());
        }
        let Some(stream) = self.records(&e.table)?.stream else {
            return Ok(());
        };
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'stream'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        let held = current.version.to_bytes();
        let arrived = (e.version.as_slice(), e.image.as_deref());
        let head = (held.as_slice(), current.image.as_deref());
        let ((kept, kept_image), (discarded, discarded_image)) = if applied {
            (arrived, head)
        } else {
            (head, arrived)
        };
        let images = stream.view != ViewType::KeysOnly;
        self.conn
            .prepare_cached(
                "INSERT INTO stream_marks (tbl, label, seq, at, pk, sk, applied, kept, kept_image, discarded, discarded_image)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                e.table,
                stream.label as i64,
                seq.unwrap_or(0) + 1,
                self.at as i64,
                e.key.partition,
                e.key.sort,
                applied,
                kept,
                kept_image.filter(|_| images),
                discarded,
                discarded_image.filter(|_| images),
            ])?;
        Ok(())
    }

    /// Opens the stream's next shard at the record just written when its
    /// shard has been open for the shard age: shards roll at the first
    /// change past it, so a quiet stream keeps its shard open.
    fn roll_shard(&mut self, table: &str, label: u64) -> Result<(), StoreError> {
        let (at, age) = (self.at, self.shard_age);
        let Some(cached) = self.records.get_mut(table) else {
            return Ok(());
        };
        match cached.shard {
            None => {
                cached.shard = Some((0, at));
                // The stream's first record: keep the definition it is of.
                if let Some((def, _)) = self.table_def(table)? {
                    self.conn
                        .prepare_cached(
                            "INSERT OR IGNORE INTO stream_tables (tbl, label, def) VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![
                            table,
                            label as i64,
                            meridian_core::encode_item(&def.to_item())
                        ])?;
                }
            }
            Some((k, opened)) if at >= opened.saturating_add(age) => {
                let seq = self.conn.last_insert_rowid();
                self.conn
                    .prepare_cached(
                        "INSERT INTO stream_shards (tbl, label, shard, first_seq, opened)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![table, label as i64, k + 1, seq, at as i64])?;
                cached.shard = Some((k + 1, at));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

impl Group<'_> {
    /// Deletes stream records older than `before` (µs), at most
    /// `max_rows` of the oldest; returns how many went. Records are in
    /// time order (a group's time never goes back), so the oldest rows
    /// are the only candidates. Each shard that loses records keeps the
    /// position of its last one gone, its own trim horizon
    /// ([`crate::Reader::stream_trims`]): other streams' records going tell a
    /// consumer of this one nothing.
    pub fn truncate_stream(&mut self, before: u64, max_rows: u64) -> Result<u64, StoreError> {
        let before = before.min(i64::MAX as u64) as i64;
        let n = self.unguarded(|ctx| {
            // Conflict marks older than the retention go, however few
            // records follow them (marks are in time order too) ...
            ctx.conn
                .prepare_cached(
                    "DELETE FROM stream_marks WHERE n <= (
                       SELECT MAX(n) FROM (SELECT n, at FROM stream_marks ORDER BY n LIMIT ?2) WHERE at < ?1)",
                )?
                .execute(params![before, max_rows as i64])?;
            let through: Option<i64> = ctx
                .conn
                .prepare_cached(
                    "SELECT MAX(seq) FROM (SELECT seq, at FROM stream ORDER BY seq LIMIT ?2) WHERE at < ?1",
                )?
                .query_row(params![before, max_rows as i64], |r| r.get(0))?;
            let Some(through) = through else {
                return Ok(0);
            };
            trim_shards(ctx.conn, through)?;
            let n = ctx
                .conn
                .prepare_cached("DELETE FROM stream WHERE seq <= ?1")?
                .execute([through])?;
            // ... and so do the marks of the records going, or of the
            // places between them: a watch never shows a mark whose
            // records went.
            ctx.conn
                .prepare_cached("DELETE FROM stream_marks WHERE seq <= ?1")?
                .execute([through])?;
            // A shard whose records all went goes too, with its trim
            // horizon; a stream's last shard stays, for the changes still
            // to come.
            ctx.conn
                .prepare_cached(
                    "DELETE FROM stream_trims WHERE shard > 0 AND EXISTS (
                         SELECT 1 FROM stream_shards n
                         WHERE n.tbl = stream_trims.tbl AND n.label = stream_trims.label
                           AND n.shard = stream_trims.shard + 1 AND n.first_seq <= ?1 + 1)",
                )?
                .execute([through])?;
            ctx.conn
                .prepare_cached(
                    "DELETE FROM stream_shards WHERE EXISTS (
                         SELECT 1 FROM stream_shards n
                         WHERE n.tbl = stream_shards.tbl AND n.label = stream_shards.label
                           AND n.shard = stream_shards.shard + 1 AND n.first_seq <= ?1 + 1)",
                )?
                .execute([through])?;
            ctx.conn
                .prepare_cached(
                    "INSERT INTO meta (k, v) VALUES ('stream_trimmed', ?1)
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                )?
                .execute([through.to_string()])?;
            Ok(n)
        })?;
        Ok(n as u64)
    }
}

/// The streams with records at or below `?1`. `NOT INDEXED` keeps SQLite
/// to the range of positions going: left to itself it walks all of
/// `stream_of`, the whole stream, on every truncation pass (163 ms a
/// second on a stream of 3 million records).
pub(crate) const STREAMS_GOING: &str =
    "SELECT DISTINCT tbl, label FROM stream NOT INDEXED WHERE seq <= ?1";

/// Keeps, for each shard with records at or below `through` (about to
/// go), the position of the last of them. One pass over the positions
/// going for the streams they are of, then two index seeks per shard of
/// those streams.
fn trim_shards(conn: &rusqlite::Connection, through: i64) -> Result<(), StoreError> {
    let streams: Vec<(String, i64)> = conn
        .prepare_cached(STREAMS_GOING)?
        .query_map([through], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (table, label) in streams {
        let mut starts: Vec<(i64, i64)> = vec![(0, 0)];
        starts.extend(
            conn.prepare_cached(
                "SELECT shard, first_seq FROM stream_shards WHERE tbl = ?1 AND label = ?2 ORDER BY shard",
            )?
            .query_map(params![table, label], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?,
        );
        for (i, &(shard, first)) in starts.iter().enumerate() {
            if first > through {
                break;
            }
            let end = starts
                .get(i + 1)
                .map_or(through + 1, |&(_, f)| f.min(through + 1));
            let last: Option<i64> = conn
                .prepare_cached(
                    "SELECT seq FROM stream WHERE tbl = ?1 AND label = ?2 AND seq >= ?3 AND seq < ?4
                     ORDER BY seq DESC LIMIT 1",
                )?
                .query_row(params![table, label, first, end], |r| r.get(0))
                .optional()?;
            if let Some(last) = last {
                conn.prepare_cached(
                    "INSERT INTO stream_trims (tbl, label, shard, through) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tbl, label, shard) DO UPDATE SET through = MAX(through, excluded.through)",
                )?
                .execute(params![table, label, shard, last])?;
            }
        }
    }
    Ok(())
}
