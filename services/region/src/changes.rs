//! `Watch`: a table's change stream in this region, tailed for a program
//! or for `meridian watch` (docs/streams.md). Each record goes out with
//! the version it overwrote when the change won over a concurrent write,
//! so conflicts show as they happen.

use std::pin::Pin;
use std::time::Duration;

use meridian_core::{Version, decode_item, item_to_json};
use meridian_proto::v1 as pb;
use meridian_store::stream::StreamRecord;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::convert::{status_from_op, version_to_pb};
use crate::ops::Ops;

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::ChangeEvent, Status>> + Send>>;

/// How often a watch looks for new records once it has read them all.
const POLL: Duration = Duration::from_millis(50);
/// Records read per look.
const PAGE: usize = 500;

/// Starts watching `table`'s stream in this region.
pub async fn watch(ops: Ops, table: String, from_start: bool) -> Result<WatchStream, Status> {
    let (def, _) = ops.table(&table).await.map_err(status_from_op)?;
    let t = table.clone();
    let (on, span, next) = ops
        .read(move |r| {
            let on = r.stream_on(&t)?;
            let span = match on {
                Some(s) => r.stream_span(&t, s.label)?,
                None => None,
            };
            Ok((on, span, r.stream_next()?))
        })
        .await
        .map_err(status_from_op)?;
    let Some(on) = on else {
        return Err(Status::failed_precondition(format!(
            "table {table} has no stream enabled in {}; enable one with UpdateTable's StreamSpecification (docs/streams.md)",
            ops.region()
        )));
    };
    let mut after = match (from_start, span) {
        (true, Some((first, _))) => first - 1,
        _ => next - 1,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(PAGE);
    tokio::spawn(async move {
        loop {
            let t = table.clone();
            let read = ops
                .read(move |r| {
                    let records = r.stream_records(&t, on.label, after, None, PAGE)?;
                    let marked = records
                        .iter()
                        .map(|rec| r.overwrote(rec))
                        .collect::<Result<Vec<_>, _>>()?;
                    let enabled = r.stream_on(&t)?.is_some_and(|s| s.label == on.label);
                    Ok((records, marked, enabled))
                })
                .await;
            let (records, marked, enabled) = match read {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.send(Err(status_from_op(e))).await;
                    return;
                }
            };
            let done = records.is_empty() && !enabled;
            for (rec, overwrote) in records.iter().zip(marked) {
                after = rec.seq;
                let event = change_event(&def.key_schema, rec, overwrote);
                if tx.send(event).await.is_err() {
                    return; // the client went
                }
            }
            if done {
                return;
            }
            if records.len() < PAGE {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

fn change_event(
    schema: &meridian_core::KeySchema,
    rec: &StreamRecord,
    overwrote: bool,
) -> Result<pb::ChangeEvent, Status> {
    let corrupt =
        |e: meridian_core::Error| Status::internal(format!("stream record {}: {e}", rec.seq));
    let json = |b: &Option<Vec<u8>>| -> Result<String, Status> {
        match b {
            Some(bytes) => Ok(serde_json::Value::Object(item_to_json(
                &decode_item(bytes).map_err(corrupt)?,
            ))
            .to_string()),
            None => Ok(String::new()),
        }
    };
    let keys = schema.key_attrs(&rec.key).map_err(corrupt)?;
    let version = Version::from_bytes(&rec.version).map_err(corrupt)?;
    let overwrote = match (&rec.replaced, overwrote) {
        (Some(v), true) => Some(version_to_pb(&Version::from_bytes(v).map_err(corrupt)?)),
        _ => None,
    };
    Ok(pb::ChangeEvent {
        sequence: rec.seq,
        event: rec.event.as_str().to_string(),
        keys_json: serde_json::Value::Object(item_to_json(&keys)).to_string(),
        new_image_json: json(&rec.new)?,
        old_image_json: json(&rec.old)?,
        version: Some(version_to_pb(&version)),
        at_micros: rec.at,
        ttl: rec.ttl,
        overwrote,
    })
}
