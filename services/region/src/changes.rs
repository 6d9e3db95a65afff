//! `Watch`: a table's change stream in this region, tailed for a program
//! or for `meridian watch` (docs/streams.md). Each record goes out with
//! the version it overwrote when the change won over a concurrent write,
//! and each concurrent write this region discarded without a record (it
//! lost on arrival) goes out as a DISCARDED event in its place, so every
//! conflict the region resolves shows as it happens. Both come from the
//! stream (its records and its conflict marks, `stream_marks`), read
//! together from one snapshot and merged into the order the region made
//! them ([`meridian_store::stream::WatchCursor`]).

use std::pin::Pin;
use std::time::Duration;

use meridian_core::{Version, decode_item, item_to_json};
use meridian_proto::v1 as pb;
use meridian_store::stream::{StreamMark, StreamRecord, WatchItem};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::convert::version_to_pb;
use crate::ops::RegionHandle;
use crate::status::status_from_op;

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::ChangeEvent, Status>> + Send>>;

/// How often a watch looks for new records once it has read them all.
const POLL: Duration = Duration::from_millis(50);
/// Records (and marks) read per look.
const PAGE: usize = 500;

/// Starts watching `table`'s stream in this region.
pub async fn watch(
    ops: RegionHandle,
    table: String,
    from_start: bool,
) -> Result<WatchStream, Status> {
    let (def, _) = ops.table(&table).await.map_err(status_from_op)?;
    let t = table.clone();
    let (on, cursor) = ops
        .read(move |r| {
            let on = r.stream_on(&t)?;
            let cursor = match on {
                Some(s) => Some(r.watch_start(&t, s.label, from_start)?),
                None => None,
            };
            Ok((on, cursor))
        })
        .await
        .map_err(status_from_op)?;
    let (Some(on), Some(mut cursor)) = (on, cursor) else {
        return Err(Status::failed_precondition(format!(
            "table {table} has no stream enabled in {}; enable one with UpdateTable's StreamSpecification (docs/streams.md)",
            ops.region()
        )));
    };
    let (tx, rx) = tokio::sync::mpsc::channel(PAGE);
    tokio::spawn(async move {
        loop {
            let t = table.clone();
            let at = cursor.clone();
            let read = ops
                .read(move |r| r.watch_page(&t, on.label, &at, PAGE))
                .await;
            let page = match read {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.send(Err(status_from_op(e))).await;
                    return;
                }
            };
            let full = page.records.len() >= PAGE || page.marks.len() >= PAGE;
            let read_nothing = page.records.is_empty() && page.marks.is_empty();
            let enabled = page.enabled;
            for item in cursor.merge(page) {
                let event = match &item {
                    WatchItem::Record(rec, mark) => {
                        change_event(&def.key_schema, rec, mark.as_ref())
                    }
                    WatchItem::Discarded(mark) => discarded_event(&def.key_schema, mark),
                };
                if tx.send(event).await.is_err() {
                    return; // the client went
                }
            }
            if read_nothing && cursor.pending() == 0 && !enabled {
                return;
            }
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// An item image, encoded, as DynamoDB JSON; empty for none.
fn image_json(bytes: &Option<Vec<u8>>) -> Result<String, meridian_core::Error> {
    match bytes {
        Some(bytes) => {
            Ok(serde_json::Value::Object(item_to_json(&decode_item(bytes)?)).to_string())
        }
        None => Ok(String::new()),
    }
}

fn change_event(
    schema: &meridian_core::KeySchema,
    rec: &StreamRecord,
    mark: Option<&StreamMark>,
) -> Result<pb::ChangeEvent, Status> {
    let corrupt =
        |e: meridian_core::Error| Status::internal(format!("stream record {}: {e}", rec.seq));
    let keys = schema.key_attrs(&rec.key).map_err(corrupt)?;
    let version = Version::from_bytes(&rec.version).map_err(corrupt)?;
    let overwrote = match mark {
        Some(m) => Some(version_to_pb(
            &Version::from_bytes(&m.discarded).map_err(corrupt)?,
        )),
        None => None,
    };
    Ok(pb::ChangeEvent {
        sequence: rec.seq,
        event: rec.event.as_str().to_string(),
        keys_json: serde_json::Value::Object(item_to_json(&keys)).to_string(),
        new_image_json: image_json(&rec.new).map_err(corrupt)?,
        old_image_json: image_json(&rec.old).map_err(corrupt)?,
        version: Some(version_to_pb(&version)),
        at_micros: rec.at,
        ttl: rec.ttl,
        overwrote,
        kept: None,
        kept_image_json: String::new(),
    })
}

/// A concurrent write the region discarded without a record.
fn discarded_event(
    schema: &meridian_core::KeySchema,
    mark: &StreamMark,
) -> Result<pb::ChangeEvent, Status> {
    let corrupt =
        |e: meridian_core::Error| Status::internal(format!("stream conflict mark {}: {e}", mark.n));
    let keys = schema.key_attrs(&mark.key).map_err(corrupt)?;
    let version = |b: &[u8]| Version::from_bytes(b).map(|v| version_to_pb(&v));
    Ok(pb::ChangeEvent {
        sequence: mark.seq - 1,
        event: "DISCARDED".into(),
        keys_json: serde_json::Value::Object(item_to_json(&keys)).to_string(),
        new_image_json: image_json(&mark.discarded_image).map_err(corrupt)?,
        old_image_json: String::new(),
        version: Some(version(&mark.discarded).map_err(corrupt)?),
        at_micros: mark.at,
        ttl: false,
        overwrote: None,
        kept: Some(version(&mark.kept).map_err(corrupt)?),
        kept_image_json: image_json(&mark.kept_image).map_err(corrupt)?,
    })
}
