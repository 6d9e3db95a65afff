//! A watch of one stream: its pages, read from one snapshot each, and the
//! cursor that merges records and conflict marks into the order the
//! region made them.

use rusqlite::OptionalExtension;

use super::{StreamMark, StreamRecord};
use crate::StoreError;
use crate::read::Reader;

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
}
