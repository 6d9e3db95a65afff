//! Change streams: the records of DynamoDB Streams, kept by each region
//! for every change of a live head it makes, local or applied from a peer,
//! in the order it made them (docs/streams.md).
//!
//! A record is written in the change's own transaction, beside the head
//! ([`Ctx::record_stream`]), while the table's stream is enabled. The
//! stream a record belongs to is named by its label, the time it was
//! enabled: a stream disabled and enabled again is a new stream, as in
//! DynamoDB, and the old one stays readable until its records age out.
//! Sequence numbers are the rows' positions in this region, never reused
//! (`AUTOINCREMENT`), so they only grow within a stream. Records older
//! than the retention go ([`Group::truncate_stream`]).
//!
//! Beside the records, a stream keeps a conflict mark for each conflict
//! the region resolves on its table ([`Ctx::mark_conflict`]), which a
//! watch merges with the records ([`WatchCursor`]) so that a write that
//! lost on arrival, and is no record, still shows. Marks are not records:
//! the DynamoDB Streams API never reads them. They go with the records.

use meridian_core::settings::TableSettings;
use meridian_core::{CATALOG_TABLE, EncodedKey, Mutation, decode_item};
use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::group::{Ctx, Group, HeadRow, Records};
use crate::read::Reader;

/// What a stream record holds of the item, as the stream was enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl ViewType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "KEYS_ONLY" => ViewType::KeysOnly,
            "NEW_IMAGE" => ViewType::NewImage,
            "OLD_IMAGE" => ViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => ViewType::NewAndOldImages,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ViewType::KeysOnly => "KEYS_ONLY",
            ViewType::NewImage => "NEW_IMAGE",
            ViewType::OldImage => "OLD_IMAGE",
            ViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }

    fn code(self) -> i64 {
        match self {
            ViewType::KeysOnly => 0,
            ViewType::NewImage => 1,
            ViewType::OldImage => 2,
            ViewType::NewAndOldImages => 3,
        }
    }

    fn from_code(c: i64) -> Result<Self, StoreError> {
        Ok(match c {
            0 => ViewType::KeysOnly,
            1 => ViewType::NewImage,
            2 => ViewType::OldImage,
            3 => ViewType::NewAndOldImages,
            _ => return Err(StoreError::Corrupt(format!("stream view type {c}"))),
        })
    }

    fn keeps_new(self) -> bool {
        matches!(self, ViewType::NewImage | ViewType::NewAndOldImages)
    }

    fn keeps_old(self) -> bool {
        matches!(self, ViewType::OldImage | ViewType::NewAndOldImages)
    }
}

/// DynamoDB's `eventName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Insert,
    Modify,
    Remove,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Insert => "INSERT",
            Event::Modify => "MODIFY",
            Event::Remove => "REMOVE",
        }
    }

    fn code(self) -> i64 {
        match self {
            Event::Insert => 1,
            Event::Modify => 2,
            Event::Remove => 3,
        }
    }

    fn from_code(c: i64) -> Result<Self, StoreError> {
        Ok(match c {
            1 => Event::Insert,
            2 => Event::Modify,
            3 => Event::Remove,
            _ => return Err(StoreError::Corrupt(format!("stream event {c}"))),
        })
    }

    /// The event a head change from `old` to `new` (live item images,
    /// `None` for nothing or a tombstone) is, if any. A change that leaves
    /// the item as it was writes no record, as DynamoDB Streams documents
    /// for a PutItem or UpdateItem that changes no data; deleting what is
    /// not there writes none either.
    pub fn of(old: Option<&[u8]>, new: Option<&[u8]>) -> Option<Self> {
        match (old, new) {
            (None, None) => None,
            (None, Some(_)) => Some(Event::Insert),
            (Some(o), Some(n)) if o == n => None,
            (Some(_), Some(_)) => Some(Event::Modify),
            (Some(_), None) => Some(Event::Remove),
        }
    }
}

/// An enabled stream: its label (µs since the epoch it was enabled) and
/// view type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOn {
    pub label: u64,
    pub view: ViewType,
}

/// One shard of a stream as this region holds it (docs/streams.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0 for the stream's first, then one more per roll.
    pub index: u32,
    /// Its records are at or above this position ...
    pub first_seq: u64,
    /// ... and below this one, the next shard's first; `None` for the
    /// stream's last shard, which takes every record still to come while
    /// the stream is enabled.
    pub end: Option<u64>,
    /// The first and last record it still holds.
    pub held: Option<(u64, u64)>,
}

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

/// One stream record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    pub seq: u64,
    pub table: String,
    pub label: u64,
    /// The group's time, µs.
    pub at: u64,
    pub key: EncodedKey,
    pub event: Event,
    pub view: ViewType,
    /// The item before and after, encoded, as the view type keeps them.
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
    /// A delete by TTL expiry.
    pub ttl: bool,
    /// The version the change gave the key, encoded.
    pub version: Vec<u8>,
    /// The version of the head it replaced (a tombstone's included).
    pub replaced: Option<Vec<u8>>,
}

/// The stream of `table` in force now, from its settings.
fn stream_of(ctx: &mut Ctx<'_, '_>, table: &str) -> Result<Option<StreamOn>, StoreError> {
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

impl StreamOn {
    /// The stream `settings` enable, if any.
    fn of(settings: &TableSettings) -> Option<Self> {
        let s = settings.stream.as_ref()?;
        ViewType::parse(&s.view_type).map(|view| StreamOn {
            label: s.since,
            view,
        })
    }
}

impl Ctx<'_, '_> {
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
    /// stream's disabling ([`Reader::latest_stream_label`]). A row that
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
    /// own record when it makes one ([`WatchCursor`]). Only on the
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
    /// ([`Reader::stream_trims`]): other streams' records going tell a
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

/// Keeps, for each shard with records at or below `through` (about to
/// go), the position of the last of them. One pass over the positions
/// going for the streams they are of, then two index seeks per shard of
/// those streams.
fn trim_shards(conn: &rusqlite::Connection, through: i64) -> Result<(), StoreError> {
    let streams: Vec<(String, i64)> = conn
        .prepare_cached("SELECT DISTINCT tbl, label FROM stream WHERE seq <= ?1")?
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

type RawRecord = (
    i64,
    String,
    i64,
    i64,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    bool,
    Vec<u8>,
    Option<Vec<u8>>,
);

fn record_of(r: RawRecord) -> Result<StreamRecord, StoreError> {
    let (seq, table, label, at, pk, sk, event, view, old, new, ttl, version, replaced) = r;
    Ok(StreamRecord {
        seq: seq as u64,
        table,
        label: label as u64,
        at: at as u64,
        key: EncodedKey {
            partition: pk,
            sort: sk,
        },
        event: Event::from_code(event)?,
        view: ViewType::from_code(view)?,
        old,
        new,
        ttl,
        version,
        replaced,
    })
}

const COLUMNS: &str = "seq, tbl, label, at, pk, sk, event, view, old, new, ttl, version, replaced";

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

/// A conflict this region resolved on a table while its stream was on,
/// as the stream keeps it for a watch (`stream_marks`; docs/streams.md).
/// Never a record: the DynamoDB Streams API does not show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamMark {
    /// Its place among the stream's marks.
    pub n: u64,
    /// The stream position it belongs at: the record of the change that
    /// won when `applied` and the change made one; otherwise it came
    /// after every record below `seq` and before the one at `seq`.
    pub seq: u64,
    /// The group's time, µs.
    pub at: u64,
    pub key: EncodedKey,
    /// The arriving write won and overwrote the head; otherwise it lost on
    /// arrival and was never applied.
    pub applied: bool,
    /// The version the region kept and the one it discarded, encoded, and
    /// their items (none for a tombstone or a `KEYS_ONLY` stream).
    pub kept: Vec<u8>,
    pub kept_image: Option<Vec<u8>>,
    pub discarded: Vec<u8>,
    pub discarded_image: Option<Vec<u8>>,
}

impl StreamMark {
    /// Whether `rec` is the record of the change this mark's winner made.
    fn marks(&self, rec: &StreamRecord) -> bool {
        self.applied
            && rec.seq == self.seq
            && rec.key == self.key
            && rec.version == self.kept
            && rec.replaced.as_deref() == Some(self.discarded.as_slice())
    }
}

/// One snapshot's page of a watch ([`Reader::watch_page`]).
#[derive(Clone, Debug)]
pub struct WatchPage {
    pub records: Vec<StreamRecord>,
    pub marks: Vec<StreamMark>,
    /// The stream is still the table's enabled one.
    pub enabled: bool,
    /// What each of `records` and `marks` was limited to.
    pub limit: usize,
}

/// What a watch hands out, in the order the region made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// A stream record, with the mark of the concurrent write it
    /// overwrote when it did.
    Record(StreamRecord, Option<StreamMark>),
    /// A concurrent write the region discarded without a record to carry
    /// it: a remote write that lost on arrival to the version held, or
    /// (rarer) a head overwritten by a concurrent change that made no
    /// record (a delete of a deleted item, a put of the same item).
    Discarded(StreamMark),
}

/// A watch's place in a stream's records and marks, and the merge of the
/// two into the order the region made them. A mark goes before the record
/// at its `seq` (or with it, when it is that record's change), so a record
/// goes out only once every mark at or below its position has been read,
/// and a mark only once the records before it have gone out.
#[derive(Clone, Debug, Default)]
pub struct WatchCursor {
    /// The last record handed out (a position).
    pub after: u64,
    /// The last mark read (its `n`).
    pub marks_after: u64,
    /// Marks read whose place is not known yet.
    pending: std::collections::VecDeque<StreamMark>,
}

impl WatchCursor {
    /// Marks read and not handed out yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn new(after: u64, marks_after: u64) -> Self {
        WatchCursor {
            after,
            marks_after,
            pending: Default::default(),
        }
    }

    /// Takes a page read at this cursor and returns what can go out now,
    /// in order; the rest is read again (records) or kept (marks) for the
    /// next page.
    pub fn merge(&mut self, page: WatchPage) -> Vec<WatchItem> {
        let full = |n: usize| page.limit > 0 && n >= page.limit;
        // Every record at or below this position is in the page.
        let records_known = match page.records.last() {
            Some(r) if full(page.records.len()) => r.seq,
            _ => u64::MAX,
        };
        // Every mark at or below this position has been read.
        let marks_known = match page.marks.last() {
            Some(m) if full(page.marks.len()) => m.seq.saturating_sub(1),
            _ => u64::MAX,
        };
        if let Some(m) = page.marks.last() {
            self.marks_after = m.n;
        }
        self.pending.extend(page.marks);
        let mut records = page.records.into_iter().peekable();
        let mut out = Vec::new();
        loop {
            let next_record = records.peek().map(|r| r.seq);
            match (self.pending.front(), next_record) {
                (Some(m), r) if r.is_none_or(|r| m.seq <= r) => {
                    if r == Some(m.seq) {
                        // Its position's record is here: the change that
                        // won, or a record made after a lost write.
                        let m = self.pending.pop_front().expect("front");
                        if records.peek().is_some_and(|rec| m.marks(rec)) {
                            let rec = records.next().expect("peeked");
                            self.after = rec.seq;
                            out.push(WatchItem::Record(rec, Some(m)));
                        } else {
                            out.push(WatchItem::Discarded(m));
                        }
                    } else if records_known >= m.seq || (!m.applied && records_known >= m.seq - 1) {
                        // No record at its position (or, for a lost write,
                        // none before it) is left to come.
                        let m = self.pending.pop_front().expect("front");
                        out.push(WatchItem::Discarded(m));
                    } else {
                        break;
                    }
                }
                (_, Some(r)) if r <= marks_known => {
                    let rec = records.next().expect("peeked");
                    self.after = rec.seq;
                    out.push(WatchItem::Record(rec, None));
                }
                _ => break,
            }
        }
        out
    }
}

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
            raw,
        )?;
        rows.map(|r| record_of(r?)).collect()
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
            .query_row([seq as i64], raw)
            .optional()?
            .map(record_of)
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

    /// Where a watch of `table`'s stream `label` starts: the last record
    /// and the last mark before it, from one snapshot. From the start, that
    /// is before the oldest record and mark the stream still holds;
    /// otherwise before the next ones made.
    pub fn watch_start(
        &self,
        table: &str,
        label: u64,
        from_start: bool,
    ) -> Result<WatchCursor, StoreError> {
        self.snapshot(|r| {
            let next = r.stream_next()?;
            if from_start {
                let after = match r.stream_span(table, label)? {
                    Some((first, _)) => first - 1,
                    None => next - 1,
                };
                return Ok(WatchCursor::new(after, 0));
            }
            let marks: Option<i64> = r
                .conn()
                .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'stream_marks'")?
                .query_row([], |row| row.get(0))
                .optional()?;
            Ok(WatchCursor::new(next - 1, marks.unwrap_or(0) as u64))
        })
    }

    /// The next page of a watch at `cursor`, from one snapshot: up to
    /// `limit` records and `limit` marks after it, and whether the stream
    /// `label` is still the table's enabled one.
    pub fn watch_page(
        &self,
        table: &str,
        label: u64,
        cursor: &WatchCursor,
        limit: usize,
    ) -> Result<WatchPage, StoreError> {
        self.snapshot(|r| {
            Ok(WatchPage {
                records: r.stream_records(table, label, cursor.after, None, limit)?,
                marks: r.stream_marks(table, label, cursor.marks_after, limit)?,
                enabled: r.stream_on(table)?.is_some_and(|s| s.label == label),
                limit,
            })
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_follow_dynamodbs_rules() {
        let (a, b): (&[u8], &[u8]) = (b"a", b"b");
        assert_eq!(Event::of(None, Some(a)), Some(Event::Insert));
        assert_eq!(Event::of(Some(a), Some(b)), Some(Event::Modify));
        assert_eq!(Event::of(Some(a), None), Some(Event::Remove));
        // Nothing visible changed: no record.
        assert_eq!(Event::of(Some(a), Some(a)), None);
        assert_eq!(Event::of(None, None), None);
    }

    #[test]
    fn view_types_round_trip() {
        for v in [
            ViewType::KeysOnly,
            ViewType::NewImage,
            ViewType::OldImage,
            ViewType::NewAndOldImages,
        ] {
            assert_eq!(ViewType::parse(v.as_str()), Some(v));
            assert_eq!(ViewType::from_code(v.code()).unwrap(), v);
        }
        assert_eq!(ViewType::parse("ALL"), None);
    }
}
