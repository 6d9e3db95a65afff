//! The DynamoDB Streams API (`DynamoDBStreams_20120810`) on every region's
//! endpoint: ListStreams, DescribeStream, GetShardIterator and GetRecords
//! over the region's own change stream (`meridian_store::stream`,
//! docs/streams.md).
//!
//! Each stream of a table (one per time it was enabled, named by its label)
//! is one shard here: its records are this region's changes in the order it
//! made them, which is all one shard can promise and all a consumer needs
//! per item. A shard iterator is a position in it, written out in the
//! iterator string with the time it was handed out; it is good for 15
//! minutes, as DynamoDB's are.

use meridian_core::{Item, TableDef, decode_item, item_to_json};
use meridian_region::ops::Ops;
use meridian_store::stream::{StreamRecord, ViewType};
use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult, Kind};
use crate::req::Req;
use crate::tables::{stream_label, table_arn};

/// The target prefix of the Streams API.
pub const TARGET_PREFIX: &str = "DynamoDBStreams_20120810.";

/// How long a shard iterator stays good, ms.
const ITERATOR_LIFETIME_MS: u64 = 15 * 60 * 1000;
/// Most records one GetRecords returns, and its default.
const MAX_RECORDS: u64 = 1000;
/// Most bytes of records one GetRecords returns.
const MAX_PAGE_BYTES: usize = 1 << 20;

/// One stream of a table as this region holds it.
struct Stream {
    table: String,
    label: u64,
    view: ViewType,
    /// Whether it is the table's stream now (else it was disabled).
    enabled: bool,
    def: TableDef,
}

impl Stream {
    fn arn(&self, region: &str) -> String {
        format!(
            "{}/stream/{}",
            table_arn(region, &self.table),
            stream_label(self.label)
        )
    }

    /// The one shard of the stream. Its id is DynamoDB-shaped
    /// (`shardId-<20 digits>-<8 hex>`) and names the stream's label.
    fn shard_id(&self) -> String {
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("{}/{}", self.table, self.label));
        format!(
            "shardId-{:020}-{:02x}{:02x}{:02x}{:02x}",
            self.label, h[0], h[1], h[2], h[3]
        )
    }
}

fn not_found(what: &str, value: &str) -> ApiError {
    ApiError::new(
        Kind::ResourceNotFound,
        format!("Requested resource not found: {what}: {value} not found"),
    )
}

fn seq_text(seq: u64) -> String {
    format!("{seq:021}")
}

/// A sequence number as a client sends it back.
fn parse_seq(s: &str) -> ApiResult<u64> {
    if s.is_empty() || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(format!(
            "Invalid SequenceNumber: {s:?} is not a sequence number of this endpoint (1 to 40 digits)"
        )));
    }
    s.trim_start_matches('0').parse::<u64>().or_else(|_| {
        if s.bytes().all(|b| b == b'0') {
            Ok(0)
        } else {
            Err(ApiError::validation(format!(
                "Invalid SequenceNumber: {s} is beyond every sequence number of this endpoint"
            )))
        }
    })
}

/// Every stream of `table` (or of every table) this region holds records
/// of or has enabled now, by table then label.
async fn streams(ops: &Ops, table: Option<&str>) -> ApiResult<Vec<Stream>> {
    let only = table.map(str::to_string);
    let found = ops
        .read(move |r| {
            let mut out: Vec<(String, u64, ViewType, bool, TableDef)> = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            let names = match &only {
                Some(t) => vec![t.clone()],
                None => {
                    let mut all = Vec::new();
                    let mut after = String::new();
                    loop {
                        let page = r.list_tables(&after, 1000)?;
                        let full = page.len() == 1000;
                        if let Some(last) = page.last() {
                            after = last.clone();
                        }
                        all.extend(page);
                        if !full {
                            break all;
                        }
                    }
                }
            };
            for name in names {
                let Some((def, _)) = r.table_def(&name)? else {
                    continue;
                };
                let now = r.stream_on(&name)?;
                for (label, view) in r.streams_held(&name)? {
                    let enabled = now.is_some_and(|s| s.label == label);
                    seen.insert((name.clone(), label));
                    out.push((name.clone(), label, view, enabled, def.clone()));
                }
                if let Some(s) = now
                    && seen.insert((name.clone(), s.label))
                {
                    out.push((name.clone(), s.label, s.view, true, def.clone()));
                }
            }
            out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            Ok(out)
        })
        .await?;
    Ok(found
        .into_iter()
        .map(|(table, label, view, enabled, def)| Stream {
            table,
            label,
            view,
            enabled,
            def,
        })
        .collect())
}

/// The stream a `StreamArn` names, in this region.
async fn stream_of(ops: &Ops, arn: &str) -> ApiResult<Stream> {
    // `arn:aws:dynamodb:<this region>:<account>:table/`: another region's
    // stream is not one of this endpoint's.
    let prefix = table_arn(ops.region(), "");
    let rest = arn
        .strip_prefix(prefix.as_str())
        .ok_or_else(|| not_found("Stream", arn))?;
    let (table, label) = rest
        .split_once("/stream/")
        .ok_or_else(|| ApiError::validation(format!("Invalid StreamArn: {arn}")))?;
    meridian_core::schema::validate_table_name(table)
        .map_err(|_| ApiError::validation(format!("Invalid StreamArn: {arn}")))?;
    streams(ops, Some(table))
        .await?
        .into_iter()
        .find(|s| stream_label(s.label) == label)
        .ok_or_else(|| not_found("Stream", arn))
}

/// A position in a shard: records after `after`.
#[derive(Debug, PartialEq, Eq)]
struct Iterator {
    table: String,
    label: u64,
    after: u64,
    issued_ms: u64,
}

impl Iterator {
    fn encode(&self) -> String {
        let hex: String = self.table.bytes().map(|b| format!("{b:02x}")).collect();
        format!("mi1|{hex}|{}|{}|{}", self.label, self.after, self.issued_ms)
    }

    fn decode(s: &str) -> ApiResult<Self> {
        let bad = || ApiError::validation(format!("Invalid ShardIterator: {s:?}"));
        if s.is_empty() || s.len() > 2048 {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: Member must have length between 1 and 2048, got {}",
                s.len()
            )));
        }
        let parts: Vec<&str> = s.split('|').collect();
        let [tag, hex, label, after, issued] = parts.as_slice() else {
            return Err(bad());
        };
        if *tag != "mi1" || hex.len() % 2 != 0 {
            return Err(bad());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let table = String::from_utf8(bytes).map_err(|_| bad())?;
        let num = |x: &str| x.parse::<u64>().map_err(|_| bad());
        Ok(Iterator {
            table,
            label: num(label)?,
            after: num(after)?,
            issued_ms: num(issued)?,
        })
    }
}

pub async fn dispatch(ops: &Ops, op: &str, r: Req<'_>) -> ApiResult<Json> {
    match op {
        "ListStreams" => list_streams(ops, r).await,
        "DescribeStream" => describe_stream(ops, r).await,
        "GetShardIterator" => get_shard_iterator(ops, r).await,
        "GetRecords" => get_records(ops, r).await,
        other => Err(ApiError::new(
            Kind::UnknownOperation,
            format!("Operation {other} is not part of the DynamoDB Streams API"),
        )),
    }
}

fn limit(r: &Req<'_>, field: &str, max: u64, default: u64) -> ApiResult<u64> {
    match r.opt_u64(field)? {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{n}' at '{}' failed to satisfy constraint: Member must have value less than or equal to {max} and greater than or equal to 1",
            crate::req::lower_first(field)
        ))),
    }
}

async fn list_streams(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let table = r.opt_str("TableName")?;
    if let Some(t) = table {
        ops.table(t).await?;
    }
    let max = limit(&r, "Limit", 100, 100)? as usize;
    let start = r.opt_str("ExclusiveStartStreamArn")?;
    let all = streams(ops, table).await?;
    let region = ops.region();
    let from = match start {
        Some(arn) => all
            .iter()
            .position(|s| s.arn(region) == arn)
            .map_or(0, |i| i + 1),
        None => 0,
    };
    let page: Vec<&Stream> = all.iter().skip(from).take(max).collect();
    let mut out = json!({
        "Streams": page.iter().map(|s| json!({
            "StreamArn": s.arn(region),
            "TableName": s.table,
            "StreamLabel": stream_label(s.label),
        })).collect::<Vec<_>>(),
    });
    if from + page.len() < all.len()
        && let Some(last) = page.last()
    {
        out["LastEvaluatedStreamArn"] = json!(last.arn(region));
    }
    Ok(out)
}

async fn describe_stream(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("StreamArn")?;
    limit(&r, "Limit", 100, 100)?;
    let s = stream_of(ops, arn).await?;
    let (table, label) = (s.table.clone(), s.label);
    let (span, next) = ops
        .read(move |r| Ok((r.stream_span(&table, label)?, r.stream_next()?)))
        .await?;
    let mut range = json!({
        "StartingSequenceNumber": seq_text(span.map_or(next, |(first, _)| first)),
    });
    if !s.enabled {
        range["EndingSequenceNumber"] = json!(seq_text(span.map_or(next, |(_, last)| last)));
    }
    let shards = match r.opt_str("ExclusiveStartShardId")? {
        Some(id) if id == s.shard_id() => vec![],
        _ => vec![json!({"ShardId": s.shard_id(), "SequenceNumberRange": range})],
    };
    let ks = &s.def.key_schema;
    let mut key_schema = vec![json!({"AttributeName": ks.partition.name, "KeyType": "HASH"})];
    if let Some(sk) = &ks.sort {
        key_schema.push(json!({"AttributeName": sk.name, "KeyType": "RANGE"}));
    }
    Ok(json!({"StreamDescription": {
        "StreamArn": s.arn(ops.region()),
        "StreamLabel": stream_label(s.label),
        "StreamStatus": if s.enabled { "ENABLED" } else { "DISABLED" },
        "StreamViewType": s.view.as_str(),
        "CreationRequestDateTime": s.label as f64 / 1e6,
        "TableName": s.table,
        "KeySchema": key_schema,
        "Shards": shards,
    }}))
}

const ITERATOR_TYPES: [&str; 4] = [
    "TRIM_HORIZON",
    "LATEST",
    "AT_SEQUENCE_NUMBER",
    "AFTER_SEQUENCE_NUMBER",
];

async fn get_shard_iterator(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("StreamArn")?;
    let shard = r.str("ShardId")?;
    let kind = r.str("ShardIteratorType")?;
    if !ITERATOR_TYPES.contains(&kind) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{kind}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            ITERATOR_TYPES.join(", ")
        )));
    }
    let asked = r.opt_str("SequenceNumber")?;
    let s = stream_of(ops, arn).await?;
    if shard != s.shard_id() {
        return Err(not_found("Shard", shard));
    }
    let (table, label) = (s.table.clone(), s.label);
    let at = match (kind, asked) {
        ("AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER", None) => {
            return Err(ApiError::validation(format!(
                "SequenceNumber is required when ShardIteratorType is {kind}"
            )));
        }
        ("TRIM_HORIZON" | "LATEST", Some(_)) => {
            return Err(ApiError::validation(format!(
                "SequenceNumber must not be given when ShardIteratorType is {kind}"
            )));
        }
        (_, Some(n)) => Some(parse_seq(n)?),
        (_, None) => None,
    };
    let (span, next, record, trimmed) = ops
        .read(move |r| {
            Ok((
                r.stream_span(&table, label)?,
                r.stream_next()?,
                at.map(|n| r.stream_record(n)).transpose()?.flatten(),
                r.stream_trimmed()?,
            ))
        })
        .await?;
    let after = match (kind, at) {
        ("TRIM_HORIZON", _) => span.map_or(next, |(first, _)| first) - 1,
        ("LATEST", _) => next - 1,
        (_, Some(n)) => {
            let ours = record
                .as_ref()
                .is_some_and(|x| x.table == s.table && x.label == s.label);
            if !ours {
                if n <= trimmed {
                    return Err(ApiError::new(
                        Kind::TrimmedDataAccess,
                        format!(
                            "The sequence number {} is beyond the trim horizon of shard {shard}: its records were older than the retention",
                            asked.unwrap_or_default()
                        ),
                    ));
                }
                return Err(ApiError::validation(format!(
                    "Invalid SequenceNumber: {} is not a record of shard {shard} of stream {arn}",
                    asked.unwrap_or_default()
                )));
            }
            if kind == "AT_SEQUENCE_NUMBER" {
                n - 1
            } else {
                n
            }
        }
        _ => unreachable!("the kind was checked"),
    };
    let it = Iterator {
        table: s.table,
        label: s.label,
        after,
        issued_ms: ops.real_now_micros() / 1000,
    };
    Ok(json!({"ShardIterator": it.encode()}))
}

async fn get_records(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let it = Iterator::decode(r.str("ShardIterator")?)?;
    let max = limit(&r, "Limit", MAX_RECORDS, MAX_RECORDS)? as usize;
    let now_ms = ops.real_now_micros() / 1000;
    if now_ms > it.issued_ms + ITERATOR_LIFETIME_MS {
        return Err(ApiError::new(
            Kind::ExpiredIterator,
            format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} (an iterator is good for 15 minutes)",
                meridian_core::utc::format_millis(it.issued_ms * 1000),
                meridian_core::utc::format_millis(now_ms * 1000)
            ),
        ));
    }
    let s = streams(ops, Some(&it.table))
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|s| s.label == it.label))
        .ok_or_else(|| {
            not_found(
                "Stream",
                &format!("{} / {}", it.table, stream_label(it.label)),
            )
        })?;
    let (table, label, after) = (it.table.clone(), it.label, it.after);
    let (records, trimmed, span) = ops
        .read(move |r| {
            Ok((
                r.stream_records(&table, label, after, max)?,
                r.stream_trimmed()?,
                r.stream_span(&table, label)?,
            ))
        })
        .await?;
    // Records after the position may have gone with the retention.
    if after < trimmed {
        return Err(ApiError::new(
            Kind::TrimmedDataAccess,
            format!(
                "The iterator's position (after {}) is beyond the trim horizon: the records after it were older than the retention",
                seq_text(after)
            ),
        ));
    }
    let region = ops.region().to_string();
    let mut out = Vec::new();
    let mut bytes = 0;
    let mut last = after;
    for rec in &records {
        let (j, size) = record_json(&region, &s, rec)?;
        if !out.is_empty() && bytes + size > MAX_PAGE_BYTES {
            break;
        }
        bytes += size;
        last = rec.seq;
        out.push(j);
    }
    let mut answer = json!({"Records": out});
    // A disabled stream's shard is closed: past its last record there is
    // no next iterator.
    let closed = !s.enabled && span.is_none_or(|(_, l)| last >= l);
    if !closed {
        let next = Iterator {
            after: last,
            issued_ms: now_ms,
            ..it
        };
        answer["NextShardIterator"] = json!(next.encode());
    }
    Ok(answer)
}

/// A record as DynamoDB Streams gives it, and its size.
fn record_json(region: &str, s: &Stream, rec: &StreamRecord) -> ApiResult<(Json, usize)> {
    let corrupt = |e: meridian_core::Error| {
        ApiError::new(
            Kind::InternalServerError,
            format!("stream record {}: {e}", rec.seq),
        )
    };
    let keys: Item = s.def.key_schema.key_attrs(&rec.key).map_err(corrupt)?;
    let image = |b: &Option<Vec<u8>>| -> ApiResult<Option<Item>> {
        b.as_deref().map(decode_item).transpose().map_err(corrupt)
    };
    let (old, new) = (image(&rec.old)?, image(&rec.new)?);
    let size = meridian_core::value::item_size(&keys)
        + old.as_ref().map_or(0, meridian_core::value::item_size)
        + new.as_ref().map_or(0, meridian_core::value::item_size);
    let mut d = json!({
        "ApproximateCreationDateTime": (rec.at / 1_000_000) as f64,
        "Keys": item_to_json(&keys),
        "SequenceNumber": seq_text(rec.seq),
        "SizeBytes": size,
        "StreamViewType": rec.view.as_str(),
    });
    if let Some(n) = &new {
        d["NewImage"] = Json::Object(item_to_json(n));
    }
    if let Some(o) = &old {
        d["OldImage"] = Json::Object(item_to_json(o));
    }
    let event_id = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("{region}/{}", rec.seq));
        h[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut j = json!({
        "eventID": event_id,
        "eventName": rec.event.as_str(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": d,
    });
    if rec.ttl {
        // DynamoDB's mark of a delete made by TTL expiry.
        j["userIdentity"] = json!({"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"});
    }
    Ok((j, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iterator_reads_back_as_written_and_garbage_is_refused() {
        let it = Iterator {
            table: "orders|x".into(),
            label: 1_700_000_000_123_456,
            after: 42,
            issued_ms: 1_700_000_000_000,
        };
        assert_eq!(Iterator::decode(&it.encode()).unwrap(), it);
        for bad in [
            "",
            "mi1|zz|1|2|3",
            "mi2|61|1|2|3",
            "mi1|61|1|2",
            "mi1|61|x|2|3",
        ] {
            let e = Iterator::decode(bad).unwrap_err();
            assert_eq!(e.kind, Kind::Validation, "{bad:?}");
        }
    }

    #[test]
    fn sequence_numbers_read_back_and_garbage_is_refused() {
        assert_eq!(parse_seq(&seq_text(17)).unwrap(), 17);
        assert_eq!(parse_seq("000").unwrap(), 0);
        for bad in ["", "12a", "-1", "99999999999999999999999"] {
            assert!(parse_seq(bad).is_err(), "{bad:?}");
        }
    }
}
