//! The DynamoDB Streams API (`DynamoDBStreams_20120810`) on every region's
//! endpoint: ListStreams, DescribeStream, GetShardIterator and GetRecords
//! over the region's own change stream (`meridian_store::stream`,
//! docs/streams.md).
//!
//! Each stream of a table (one per time it was enabled, named by its label)
//! is a line of shards, each the parent of the next: the store closes a
//! shard and opens its child at the first change past the shard age, as
//! DynamoDB rolls its shards. A shard's records are this region's changes
//! in the order it made them, which is all a consumer needs per item. A
//! shard iterator is a position in one shard, written out in the iterator
//! string with the time it was handed out; it is good for 15 minutes, as
//! DynamoDB's are.

use meridian_core::{Item, TableDef, decode_item, item_to_json};
use meridian_region::ops::RegionHandle;
use meridian_store::stream::{Shard, StreamRecord, ViewType};
use serde_json::{Value as Json, json};

use crate::arn::{stream_arn, stream_label, table_arn};
use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;
use crate::shard_iterator::Iterator;

/// Most records one GetRecords returns, and its default.
const MAX_RECORDS: u64 = 1000;
/// Most bytes of records one GetRecords returns.
const MAX_PAGE_BYTES: usize = 1 << 20;

/// One stream of a table as this region holds it.
pub(crate) struct Stream {
    table: String,
    label: u64,
    view: ViewType,
    /// Whether it is the table's stream now (else it was disabled).
    enabled: bool,
    def: TableDef,
}

impl Stream {
    fn arn(&self, region: &str) -> String {
        stream_arn(region, &self.table, self.label)
    }

    /// Shard `index` of the stream. Its id is DynamoDB-shaped
    /// (`shardId-<20 digits>-<8 hex>`): the stream's label, and a hash that
    /// tells the table and the shard apart. Shard 0 keeps the id a stream's
    /// one shard had before shards rolled.
    fn shard_id(&self, index: u32) -> String {
        use sha2::Digest;
        let h = sha2::Sha256::digest(match index {
            0 => format!("{}/{}", self.table, self.label),
            k => format!("{}/{}/{k}", self.table, self.label),
        });
        format!(
            "shardId-{:020}-{:02x}{:02x}{:02x}{:02x}",
            self.label, h[0], h[1], h[2], h[3]
        )
    }

    /// Whether `shard` (one of `all`, the stream's shards) is closed: a
    /// child follows it, or the stream was disabled. A closed shard takes
    /// no more records.
    fn closed(&self, shard: &Shard, all: &[Shard]) -> bool {
        !self.enabled || all.last().is_some_and(|l| l.index != shard.index)
    }

    /// The shards DescribeStream lists: every one that still holds
    /// records, and the open one.
    fn listed<'a>(&self, all: &'a [Shard]) -> impl std::iter::Iterator<Item = &'a Shard> {
        let open = if self.enabled { all.last() } else { None };
        all.iter()
            .filter(move |s| s.held.is_some() || open.is_some_and(|o| o.index == s.index))
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
/// of or has enabled now, by table then label. A deleted table's streams
/// stay until their records age out, as in DynamoDB, each read with the
/// definition it was written under.
async fn streams(ops: &RegionHandle, table: Option<&str>) -> ApiResult<Vec<Stream>> {
    let only = table.map(str::to_string);
    let found = ops
        .read(move |r| {
            let mut out: Vec<(String, u64, ViewType, bool, TableDef)> = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            let names = match &only {
                Some(t) => vec![t.clone()],
                None => {
                    let mut all = r.streamed_tables()?;
                    let mut after = String::new();
                    loop {
                        let page = r.list_tables(&after, 1000)?;
                        let full = page.len() == 1000;
                        if let Some(last) = page.last() {
                            after = last.clone();
                        }
                        all.extend(page);
                        if !full {
                            break;
                        }
                    }
                    all.sort();
                    all.dedup();
                    all
                }
            };
            for name in names {
                let live = r.table_def(&name)?.map(|(def, _)| def);
                let now = match live {
                    Some(_) => r.stream_on(&name)?,
                    None => None,
                };
                for (label, view) in r.streams_held(&name)? {
                    let Some(def) = r.stream_table(&name, label)?.or_else(|| live.clone()) else {
                        continue;
                    };
                    let enabled = now.is_some_and(|s| s.label == label);
                    seen.insert((name.clone(), label));
                    out.push((name.clone(), label, view, enabled, def));
                }
                if let (Some(s), Some(def)) = (now, &live)
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

/// A stream ARN as a client sends one back, taken apart:
/// `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`.
/// Anything not of that shape is refused by name (`field`); a well-formed
/// ARN of another region or account is left to the caller, which knows no
/// stream by it.
struct StreamName<'a> {
    /// The ARN up to `table/`: this endpoint's streams share one.
    prefix: &'a str,
    table: &'a str,
    label: &'a str,
}

fn parse_stream_arn<'a>(field: &str, arn: &'a str) -> ApiResult<StreamName<'a>> {
    let at = crate::req::lower_first(field);
    check_length(&at, arn, 37, 1024)?;
    let bad = || {
        ApiError::validation(format!(
            "Invalid {field}: {arn:?} is not a stream ARN (arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>)"
        ))
    };
    let (prefix_end, rest) = arn
        .match_indices(":table/")
        .next()
        .map(|(i, m)| (i + m.len(), &arn[i + m.len()..]))
        .ok_or_else(bad)?;
    let head: Vec<&str> = arn[..prefix_end - ":table/".len()].split(':').collect();
    let [scheme, _partition, service, region, account] = head.as_slice() else {
        return Err(bad());
    };
    if *scheme != "arn" || *service != "dynamodb" || region.is_empty() || account.is_empty() {
        return Err(bad());
    }
    let (table, label) = rest.split_once("/stream/").ok_or_else(bad)?;
    meridian_core::schema::validate_table_name(table).map_err(|_| bad())?;
    if label.is_empty() {
        return Err(bad());
    }
    Ok(StreamName {
        prefix: &arn[..prefix_end],
        table,
        label,
    })
}

/// DynamoDB's length constraint on a string member, at `at`.
fn check_length(at: &str, value: &str, min: usize, max: usize) -> ApiResult<()> {
    let n = value.chars().count();
    let bound = if n < min {
        format!("greater than or equal to {min}")
    } else if n > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(ApiError::constraint(format!(
        "Value '{value}' at '{at}' failed to satisfy constraint: Member must have length {bound}"
    )))
}

/// A shard id as a client sends one (28 to 65 characters), at `at`.
fn check_shard_id(at: &str, id: &str) -> ApiResult<()> {
    check_length(at, id, 28, 65)
}

/// The stream a `StreamArn` names, in this region.
pub(crate) async fn stream_of(ops: &RegionHandle, arn: &str) -> ApiResult<Stream> {
    let name = parse_stream_arn("StreamArn", arn)?;
    // Another region's stream is not one of this endpoint's.
    if name.prefix != table_arn(ops.region(), "") {
        return Err(not_found("Stream", arn));
    }
    streams(ops, Some(name.table))
        .await?
        .into_iter()
        .find(|s| stream_label(s.label) == name.label)
        .ok_or_else(|| not_found("Stream", arn))
}

fn limit(r: &Req<'_>, max: u64) -> ApiResult<usize> {
    Ok(r.limit("Limit", Some(max))?.unwrap_or(max) as usize)
}

pub async fn list_streams(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.opt_str("TableName")?;
    let max = limit(&r, 100)?;
    let start = r.opt_str("ExclusiveStartStreamArn")?;
    let all = streams(ops, table).await?;
    // A table that is gone is still named by the streams it left.
    if let Some(t) = table
        && all.is_empty()
    {
        ops.table(t).await?;
    }
    let region = ops.region();
    // Streams are in (table, label) order, so a start that names no
    // stream (it aged out) still says where to resume.
    let from = match start {
        Some(arn) => {
            let after = parse_stream_arn("ExclusiveStartStreamArn", arn)?;
            all.partition_point(|s| {
                (s.table.as_str(), stream_label(s.label).as_str()) <= (after.table, after.label)
            })
        }
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

/// `ShardFilter`: the one filter DynamoDB has, the children of a shard.
fn child_filter<'a>(r: &Req<'a>) -> ApiResult<Option<&'a str>> {
    let Some(f) = r.opt_obj("ShardFilter")? else {
        return Ok(None);
    };
    match f.get("Type").map(|t| t.as_str()) {
        Some(Some("CHILD_SHARDS")) => {}
        Some(t) => {
            return Err(ApiError::constraint(format!(
                "Value '{}' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]",
                t.unwrap_or_default()
            )));
        }
        None => return Err(crate::req::missing("ShardFilter.Type")),
    }
    let id = f
        .opt_str("ShardId")?
        .ok_or_else(|| crate::req::missing("ShardFilter.ShardId"))?;
    check_shard_id("shardFilter.shardId", id)?;
    Ok(Some(id))
}

/// Where a shard's records start, as DescribeStream shows it and
/// TRIM_HORIZON reads from: its first record held, or (for the open shard
/// before its first record) its first position past its own trim horizon
/// (`trims`, from `Reader::stream_trims`). Either
/// stays put between calls, and AT_SEQUENCE_NUMBER takes it.
fn shard_start(x: &Shard, trims: &Trims) -> u64 {
    x.held
        .map_or(x.first_seq.max(trimmed(x, trims) + 1), |(first, _)| first)
}

/// Each shard's trim horizon, by index: its last record that went with the
/// retention.
type Trims = std::collections::BTreeMap<u32, u64>;

/// Shard `x`'s trim horizon: 0 when it lost no record. Only the shard's
/// own records count: other tables' and streams' going says nothing about
/// what a consumer of this shard missed.
fn trimmed(x: &Shard, trims: &Trims) -> u64 {
    trims.get(&x.index).copied().unwrap_or(0)
}

pub async fn describe_stream(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let arn = r.str("StreamArn")?;
    let max = limit(&r, 100)?;
    let parent = child_filter(&r)?;
    let start_after = r.opt_str("ExclusiveStartShardId")?;
    if let Some(id) = start_after {
        check_shard_id("exclusiveStartShardId", id)?;
    }
    let s = stream_of(ops, arn).await?;
    let (table, label) = (s.table.clone(), s.label);
    let (all, trims) = ops
        .read(move |r| {
            Ok((
                r.stream_shards(&table, label)?,
                r.stream_trims(&table, label)?,
            ))
        })
        .await?;
    let mut listed: Vec<&Shard> = s.listed(&all).collect();
    if let Some(id) = parent {
        // A shard's one child is the next in line; an id that names no
        // shard has none.
        let child = all
            .iter()
            .find(|x| s.shard_id(x.index) == id)
            .map(|x| x.index + 1);
        listed.retain(|x| Some(x.index) == child);
    }
    // A start that names no listed shard (it aged out, or never was)
    // leaves nothing after it, as in DynamoDB.
    let from = match start_after {
        Some(id) => listed
            .iter()
            .position(|x| s.shard_id(x.index) == id)
            .map_or(listed.len(), |i| i + 1),
        None => 0,
    };
    let page = &listed[from..(from + max).min(listed.len())];
    let shards: Vec<Json> = page
        .iter()
        .map(|x| {
            let start = shard_start(x, &trims);
            let mut range = json!({"StartingSequenceNumber": seq_text(start)});
            if s.closed(x, &all) {
                range["EndingSequenceNumber"] =
                    json!(seq_text(x.held.map_or(start, |(_, last)| last)));
            }
            let mut j = json!({"ShardId": s.shard_id(x.index), "SequenceNumberRange": range});
            if x.index > 0 {
                j["ParentShardId"] = json!(s.shard_id(x.index - 1));
            }
            j
        })
        .collect();
    let ks = &s.def.key_schema;
    let mut key_schema = vec![json!({"AttributeName": ks.partition.name, "KeyType": "HASH"})];
    if let Some(sk) = &ks.sort {
        key_schema.push(json!({"AttributeName": sk.name, "KeyType": "RANGE"}));
    }
    let mut d = json!({
        "StreamArn": s.arn(ops.region()),
        "StreamLabel": stream_label(s.label),
        "StreamStatus": if s.enabled { "ENABLED" } else { "DISABLED" },
        "StreamViewType": s.view.as_str(),
        "CreationRequestDateTime": s.label as f64 / 1e6,
        "TableName": s.table,
        "KeySchema": key_schema,
        "Shards": shards,
    });
    if from + page.len() < listed.len()
        && let Some(last) = page.last()
    {
        d["LastEvaluatedShardId"] = json!(s.shard_id(last.index));
    }
    Ok(json!({"StreamDescription": d}))
}

const ITERATOR_TYPES: [&str; 4] = [
    "TRIM_HORIZON",
    "LATEST",
    "AT_SEQUENCE_NUMBER",
    "AFTER_SEQUENCE_NUMBER",
];

pub async fn get_shard_iterator(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let arn = r.str("StreamArn")?;
    let shard = r.str("ShardId")?;
    let kind = r.str("ShardIteratorType")?;
    if !ITERATOR_TYPES.contains(&kind) {
        return Err(ApiError::constraint(format!(
            "Value '{kind}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            ITERATOR_TYPES.join(", ")
        )));
    }
    let asked = r.opt_str("SequenceNumber")?;
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
    check_shard_id("shardId", shard)?;
    let s = stream_of(ops, arn).await?;
    let (table, label) = (s.table.clone(), s.label);
    let (all, next, record, trims) = ops
        .read(move |r| {
            Ok((
                r.stream_shards(&table, label)?,
                r.stream_next()?,
                at.map(|n| r.stream_record(n)).transpose()?.flatten(),
                r.stream_trims(&table, label)?,
            ))
        })
        .await?;
    let x = s
        .listed(&all)
        .find(|x| s.shard_id(x.index) == shard)
        .ok_or_else(|| not_found("Shard", shard))?;
    let closed = s.closed(x, &all);
    let start = shard_start(x, &trims);
    let after = match (kind, at) {
        ("TRIM_HORIZON", _) => start - 1,
        // A closed shard's latest position is past its last record.
        ("LATEST", _) if closed => x.held.map_or(start - 1, |(_, last)| last),
        ("LATEST", _) => next - 1,
        (_, Some(n)) => {
            // A record of this shard, or the shard's start as
            // DescribeStream shows it (a shard with no record yet has no
            // other number to give).
            let ours = n == start
                || record.as_ref().is_some_and(|rec| {
                    rec.table == s.table
                        && rec.label == s.label
                        && rec.seq >= x.first_seq
                        && x.end.is_none_or(|e| rec.seq < e)
                });
            if !ours {
                // A position of this shard's that went with the retention.
                if n >= x.first_seq && x.end.is_none_or(|e| n < e) && n <= trimmed(x, &trims) {
                    return Err(ApiError::new(
                        Kind::TrimmedDataAccess,
                        format!(
                            "The data you are trying to access has been trimmed: the sequence number {} is at or below the trim horizon of shard {shard}, its records older than the retention",
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
                n.saturating_sub(1)
            } else {
                n
            }
        }
        _ => unreachable!("the kind was checked"),
    };
    let it = Iterator {
        region: ops.region().to_string(),
        table: s.table,
        label: s.label,
        shard: x.index,
        after,
        issued_ms: ops.real_now_micros() / 1000,
    };
    Ok(json!({"ShardIterator": it.encode()}))
}

pub async fn get_records(front: &Front, req: &Request) -> ApiResult<Json> {
    let ops = &front.ops;
    let lifetime = front.config.iterator_lifetime;
    let r = req.body();
    let given = r.str("ShardIterator")?;
    let it = Iterator::decode(given)?;
    let max = limit(&r, MAX_RECORDS)?;
    // Another region's positions are not this region's: refused as any
    // iterator this endpoint did not hand out.
    if it.region != ops.region() {
        return Err(Iterator::invalid(given));
    }
    let now_ms = ops.real_now_micros() / 1000;
    if now_ms > it.issued_ms.saturating_add(lifetime.as_millis() as u64) {
        return Err(ApiError::new(
            Kind::ExpiredIterator,
            format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} (an iterator is good for {} seconds)",
                meridian_core::utc::format_millis(it.issued_ms * 1000),
                meridian_core::utc::format_millis(now_ms * 1000),
                lifetime.as_secs_f64()
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
    let (table, label, after, index) = (it.table.clone(), it.label, it.after, it.shard);
    let (all, records, trims) = ops
        .read(move |r| {
            let all = r.stream_shards(&table, label)?;
            let end = all.iter().find(|x| x.index == index).and_then(|x| x.end);
            Ok((
                all,
                r.stream_records(&table, label, after, end, max)?,
                r.stream_trims(&table, label)?,
            ))
        })
        .await?;
    // Records of this shard after the position may have gone with the
    // retention, or the whole shard with them (a shard goes once its
    // records all went and a child follows it).
    let trimmed_error = || {
        ApiError::new(
            Kind::TrimmedDataAccess,
            format!(
                "The data you are trying to access has been trimmed: records of shard {1} after the iterator's position ({0}) were older than the retention",
                seq_text(after),
                s.shard_id(index)
            ),
        )
    };
    let shard = all
        .iter()
        .find(|x| x.index == index)
        .ok_or_else(trimmed_error)?;
    if after < trimmed(shard, &trims) {
        return Err(trimmed_error());
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
    // A closed shard read to its last record has no next iterator: the
    // consumer goes on with its child (DescribeStream's ParentShardId).
    let done = s.closed(shard, &all) && shard.held.is_none_or(|(_, l)| last >= l);
    if !done {
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
    fn sequence_numbers_read_back_and_garbage_is_refused() {
        assert_eq!(parse_seq(&seq_text(17)).unwrap(), 17);
        assert_eq!(parse_seq("000").unwrap(), 0);
        for bad in ["", "12a", "-1", "99999999999999999999999"] {
            assert!(parse_seq(bad).is_err(), "{bad:?}");
        }
    }
}
