//! Reading streams back: records, shards, spans and trim horizons, the
//! streams a table still has records of, their marks, and the table
//! definition a stream was of.

use meridian_core::{EncodedKey, decode_item};
use rusqlite::{OptionalExtension, params};

use super::{COLUMNS, RecordRow, Shard, StreamMark, StreamOn, StreamRecord, ViewType};
use crate::StoreError;
use crate::read::Reader;

impl Reader {
    /// Up to `limit` records of `table`'s stream `label` after position
    /// `after` and below `before` (a shard's end; `None` for the whole
    /// stream), in order.
    pub fn stream_records(
        &self,
        table: &str,
        label: u64,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM stream WHERE tbl = ?1 AND label = ?2 AND seq > ?3 AND seq < ?4
             ORDER BY seq LIMIT ?5"
        );
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![table, label as i64, after as i64, before, limit as i64],
            RecordRow::from_row,
        )?;
        rows.map(|r| r?.into_record()).collect()
    }

    /// Every shard of `table`'s stream `label` this region still knows, in
    /// order: shard 0 (which may hold nothing any more) and each one
    /// opened since whose records have not all gone. Two index seeks per
    /// shard.
    pub fn stream_shards(&self, table: &str, label: u64) -> Result<Vec<Shard>, StoreError> {
        let mut starts: Vec<(u32, u64)> = vec![(0, 0)];
        let mut stmt = self.conn().prepare_cached(
            "SELECT shard, first_seq FROM stream_shards WHERE tbl = ?1 AND label = ?2 ORDER BY shard",
        )?;
        for row in stmt.query_map(params![table, label as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64))
        })? {
            starts.push(row?);
        }
        let seek = |sql: &str, bound: i64| -> Result<Option<u64>, StoreError> {
            Ok(self
                .conn()
                .prepare_cached(sql)?
                .query_row(params![table, label as i64, bound], |r| r.get::<_, i64>(0))
                .optional()?
                .map(|s| s as u64))
        };
        let mut out = Vec::with_capacity(starts.len());
        for (i, &(index, first_seq)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map(|&(_, f)| f);
            let first = seek(
                "SELECT seq FROM stream WHERE tbl = ?1 AND label = ?2 AND seq >= ?3 ORDER BY seq LIMIT 1",
                first_seq as i64,
            )?
            .filter(|&s| end.is_none_or(|e| s < e));
            let held = match first {
                Some(first) => seek(
                    "SELECT seq FROM stream WHERE tbl = ?1 AND label = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT 1",
                    end.map_or(i64::MAX, |e| e as i64),
                )?
                .map(|last| (first, last)),
                None => None,
            };
            out.push(Shard {
                index,
                first_seq,
                end,
                held,
            });
        }
        Ok(out)
    }

    /// The record at position `seq`, of whatever stream.
    pub fn stream_record(&self, seq: u64) -> Result<Option<StreamRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM stream WHERE seq = ?1");
        self.conn()
            .prepare_cached(&sql)?
            .query_row([seq as i64], RecordRow::from_row)
            .optional()?
            .map(RecordRow::into_record)
            .transpose()
    }

    /// The first and last positions `table`'s stream `label` still holds:
    /// two index seeks (one query with both MIN and MAX would scan).
    pub fn stream_span(&self, table: &str, label: u64) -> Result<Option<(u64, u64)>, StoreError> {
        let end = |sql: &str| -> Result<Option<i64>, StoreError> {
            Ok(self
                .conn()
                .prepare_cached(sql)?
                .query_row(params![table, label as i64], |r| r.get(0))
                .optional()?)
        };
        let first =
            end("SELECT seq FROM stream WHERE tbl = ?1 AND label = ?2 ORDER BY seq LIMIT 1")?;
        let last =
            end("SELECT seq FROM stream WHERE tbl = ?1 AND label = ?2 ORDER BY seq DESC LIMIT 1")?;
        Ok(first.zip(last).map(|(f, l)| (f as u64, l as u64)))
    }

    /// How far the retention trimmed each shard of `table`'s stream
    /// `label`: shard index → the position of its last record that went.
    /// A shard missing here lost none.
    pub fn stream_trims(
        &self,
        table: &str,
        label: u64,
    ) -> Result<std::collections::BTreeMap<u32, u64>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT shard, through FROM stream_trims WHERE tbl = ?1 AND label = ?2",
        )?;
        let rows = stmt.query_map(params![table, label as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u32, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The streams' trim horizon: the records at or below this position
    /// went with the retention (whatever their stream), 0 when none did.
    pub fn stream_trimmed(&self) -> Result<u64, StoreError> {
        let v: Option<String> = self
            .conn()
            .prepare_cached("SELECT v FROM meta WHERE k = 'stream_trimmed'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        v.map_or(Ok(0), |v| {
            v.parse()
                .map_err(|_| StoreError::Corrupt(format!("stream_trimmed {v:?}")))
        })
    }

    /// The position the next record of any stream will get.
    pub fn stream_next(&self) -> Result<u64, StoreError> {
        let assigned: Option<i64> = self
            .conn()
            .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'stream'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        Ok(assigned.unwrap_or(0) as u64 + 1)
    }

    /// The streams of `table` that still hold records here: label and
    /// view type, by label. One index seek per stream, however many
    /// records each holds.
    pub fn streams_held(&self, table: &str) -> Result<Vec<(u64, ViewType)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT label, view FROM stream WHERE tbl = ?1 AND label > ?2 ORDER BY label LIMIT 1",
        )?;
        let mut out = Vec::new();
        let mut after = -1i64;
        while let Some((label, view)) = stmt
            .query_row(params![table, after], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
        {
            out.push((label as u64, ViewType::from_code(view)?));
            after = label;
        }
        Ok(out)
    }

    /// Up to `limit` conflict marks of `table`'s stream `label` after mark
    /// `after` (its `n`), in the order they were made.
    pub fn stream_marks(
        &self,
        table: &str,
        label: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StreamMark>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT n, seq, at, pk, sk, applied, kept, kept_image, discarded, discarded_image
             FROM stream_marks WHERE tbl = ?1 AND label = ?2 AND n > ?3 ORDER BY n LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                table,
                label as i64,
                after.min(i64::MAX as u64) as i64,
                limit as i64
            ],
            |r| {
                Ok(StreamMark {
                    n: r.get::<_, i64>(0)? as u64,
                    seq: r.get::<_, i64>(1)? as u64,
                    at: r.get::<_, i64>(2)? as u64,
                    key: EncodedKey {
                        partition: r.get(3)?,
                        sort: r.get(4)?,
                    },
                    applied: r.get(5)?,
                    kept: r.get(6)?,
                    kept_image: r.get(7)?,
                    discarded: r.get(8)?,
                    discarded_image: r.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The definition of the table `table`'s stream `label` was of, kept
    /// with its first record (it outlives the table by the retention).
    pub fn stream_table(
        &self,
        table: &str,
        label: u64,
    ) -> Result<Option<meridian_core::TableDef>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn()
            .prepare_cached("SELECT def FROM stream_tables WHERE tbl = ?1 AND label = ?2")?
            .query_row(params![table, label as i64], |r| r.get(0))
            .optional()?;
        bytes
            .map(|b| {
                let corrupt = |e: meridian_core::Error| StoreError::Corrupt(e.to_string());
                meridian_core::TableDef::from_item(&decode_item(&b).map_err(corrupt)?)
                    .map_err(corrupt)
            })
            .transpose()
    }

    /// Tables that streams still hold records of, by name, whether or not
    /// the table exists now.
    pub fn streamed_tables(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT DISTINCT tbl FROM stream_tables ORDER BY tbl")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for name in names {
            if !self.streams_held(&name)?.is_empty() {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// The label of the latest stream the live table `table` has had,
    /// enabled now or since disabled: its stream now, else the latest one
    /// a settings row of this incarnation enabled, else the one it was
    /// created with. `None` for a table that never had a stream (or does
    /// not exist).
    pub fn latest_stream_label(&self, table: &str) -> Result<Option<u64>, StoreError> {
        let Some((def, incarnation)) = self.table_def(table)? else {
            return Ok(None);
        };
        if let Some(on) = self.stream_on(table)? {
            return Ok(Some(on.label));
        }
        let enabled: Option<i64> = self
            .conn()
            .prepare_cached(
                "SELECT label FROM stream_labels WHERE tbl = ?1 AND incarnation = ?2
                 ORDER BY label DESC LIMIT 1",
            )?
            .query_row(params![table, incarnation.to_bytes()], |r| r.get(0))
            .optional()?;
        let created = def
            .stream_view_type
            .as_ref()
            .map(|_| incarnation.hlc.physical);
        Ok(enabled.map(|l| l as u64).max(created))
    }

    /// The stream of `table` in force now, if one is enabled.
    pub fn stream_on(&self, table: &str) -> Result<Option<StreamOn>, StoreError> {
        Ok(self.settings(table)?.as_ref().and_then(StreamOn::of))
    }
}
