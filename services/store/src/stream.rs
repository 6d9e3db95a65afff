//! Change streams: the records of DynamoDB Streams, kept by each region
//! for every change of a live head it makes, local or applied from a peer,
//! in the order it made them (docs/streams.md).
//!
//! A record is written in the change's own transaction, beside the head
//! ([`GroupTxn::record_stream`](crate::group::GroupTxn::record_stream)),
//! while the table's stream is enabled. The stream a record belongs to is
//! named by its label, the time it was enabled: a stream disabled and
//! enabled again is a new stream, as in DynamoDB, and the old one stays
//! readable until its records age out. Sequence numbers are the rows'
//! positions in this region, never reused (`AUTOINCREMENT`), so they only
//! grow within a stream. Records older than the retention go
//! ([`Group::truncate_stream`](crate::Group::truncate_stream)).
//!
//! Beside the records, a stream keeps a conflict mark for each conflict
//! the region resolves on its table
//! ([`GroupTxn::mark_conflict`](crate::group::GroupTxn::mark_conflict)),
//! which a watch merges with the records ([`WatchCursor`]) so that a write
//! that lost on arrival, and is no record, still shows. Marks are not
//! records: the DynamoDB Streams API never reads them. They go with the
//! records.
//!
//! This module holds what a stream is made of: view types, events,
//! shards, records and marks, and how a record row decodes. Writing them
//! in a change's transaction is [`mod@write`]'s job, reading them back
//! [`read`]'s, and merging records and marks for a watch [`watch`]'s.

mod read;
mod watch;
mod write;

use meridian_core::EncodedKey;
use meridian_core::settings::TableSettings;

use crate::StoreError;

pub use watch::{WatchCursor, WatchItem, WatchPage};
#[cfg(test)]
pub(crate) use write::STREAMS_GOING;

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

/// The columns of a stream record row, in [`RecordRow::from_row`]'s order.
const COLUMNS: &str = "seq, tbl, label, at, pk, sk, event, view, old, new, ttl, version, replaced";

/// A `stream` row as read ([`COLUMNS`]), before its codes are decoded.
struct RecordRow {
    seq: i64,
    table: String,
    label: i64,
    at: i64,
    key: EncodedKey,
    event: i64,
    view: i64,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
    ttl: bool,
    version: Vec<u8>,
    replaced: Option<Vec<u8>>,
}

impl RecordRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RecordRow {
            seq: r.get(0)?,
            table: r.get(1)?,
            label: r.get(2)?,
            at: r.get(3)?,
            key: EncodedKey {
                partition: r.get(4)?,
                sort: r.get(5)?,
            },
            event: r.get(6)?,
            view: r.get(7)?,
            old: r.get(8)?,
            new: r.get(9)?,
            ttl: r.get(10)?,
            version: r.get(11)?,
            replaced: r.get(12)?,
        })
    }

    fn into_record(self) -> Result<StreamRecord, StoreError> {
        Ok(StreamRecord {
            seq: self.seq as u64,
            table: self.table,
            label: self.label as u64,
            at: self.at as u64,
            key: self.key,
            event: Event::from_code(self.event)?,
            view: ViewType::from_code(self.view)?,
            old: self.old,
            new: self.new,
            ttl: self.ttl,
            version: self.version,
            replaced: self.replaced,
        })
    }
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
