//! The load every benchmark writes with: the benchmark's ~200-byte item,
//! and concurrent clients sending it to one region, through the gRPC API or
//! the DynamoDB endpoint, paced to a rate or flat out, each request's
//! latency recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use meridian_core::value::{AttrValue, Item, encode_item};
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::cluster::{Cluster, TABLE};

const PAYLOAD: &str = "meridian-bench-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklm";

/// An item of about 200 encoded bytes with partition key `id`.
pub(super) fn item(id: &str) -> Vec<u8> {
    let mut it = Item::new();
    it.insert("id".into(), AttrValue::S(id.to_string()));
    it.insert("payload".into(), AttrValue::S(PAYLOAD.into()));
    encode_item(&it)
}

pub(super) fn key_bytes(id: &str) -> Vec<u8> {
    let mut it = Item::new();
    it.insert("id".into(), AttrValue::S(id.to_string()));
    encode_item(&it)
}

// ------------------------------------------------------------------ load

pub(super) struct Load {
    pub(super) items: u64,
    pub(super) elapsed: Duration,
    pub(super) hist: Histogram<u64>,
}

/// `clients` concurrent clients send `count` items (in requests of `batch`
/// items, PutItem when 1, BatchWrite otherwise) to one region, each request
/// paced to start no earlier than its slot when `rate` (items/s) is given.
/// Stops at `count` or at `max`, whichever comes first. Item `i` has the id
/// `<prefix><i>`, or `<prefix><i mod keys>` when `keys` is not 0, so a load
/// can overwrite a fixed set of keys.
#[allow(clippy::too_many_arguments)]
pub(super) async fn load(
    cluster: &Cluster,
    region: usize,
    clients: usize,
    count: u64,
    batch: usize,
    rate: Option<f64>,
    max: Duration,
    prefix: &str,
) -> Result<Load> {
    let via = Via::Grpc;
    load_keys(
        cluster, region, via, clients, count, 0, batch, rate, max, prefix,
    )
    .await
}

/// Loads `items` items into region 0 in BatchWrites of 25 from `clients`
/// clients, ids `<prefix><i>`; an error when fewer got in within `max`.
pub(super) async fn load_table(
    cluster: &Cluster,
    clients: usize,
    items: u64,
    max: Duration,
    prefix: &str,
) -> Result<Load> {
    let loaded = load(cluster, 0, clients, items, 25, None, max, prefix).await?;
    if loaded.items < items {
        bail!(
            "loaded {} of {items} items within {} s",
            loaded.items,
            max.as_secs()
        );
    }
    Ok(loaded)
}

/// The front a load writes through.
#[derive(Clone, Copy, Debug)]
pub(super) enum Via {
    Grpc,
    /// The region's DynamoDB endpoint at this address: one kept-alive
    /// HTTP/1.1 connection per client, as an SDK holds them.
    Dynamo(std::net::SocketAddr),
}

/// One load client's connection.
enum Writer {
    Grpc(pb::meridian_client::MeridianClient<tonic::transport::Channel>),
    Dynamo(meridian_cluster::http::Conn),
}

impl Writer {
    async fn open(cluster: &Cluster, region: usize, via: Via) -> Result<Writer> {
        Ok(match via {
            Via::Grpc => Writer::Grpc(cluster.client(region)?),
            Via::Dynamo(addr) => {
                let target = meridian_cluster::http::Target::at(&addr.to_string(), "/");
                Writer::Dynamo(
                    meridian_cluster::http::Conn::open(&target, Duration::from_secs(5)).await?,
                )
            }
        })
    }

    /// Writes the items `ids` in one request: PutItem for one, a batch
    /// write for more.
    async fn write(&mut self, ids: &[String]) -> Result<()> {
        match self {
            Writer::Grpc(c) if ids.len() == 1 => {
                c.put_item(pb::PutItemRequest {
                    table: TABLE.into(),
                    item: item(&ids[0]),
                    condition: None,
                })
                .await
                .context("PutItem")?;
            }
            Writer::Grpc(c) => {
                let ops = ids
                    .iter()
                    .map(|id| pb::BatchWriteOp {
                        op: Some(pb::batch_write_op::Op::Put(item(id))),
                    })
                    .collect();
                c.batch_write(pb::BatchWriteRequest {
                    table: TABLE.into(),
                    ops,
                })
                .await
                .context("BatchWrite")?;
            }
            Writer::Dynamo(conn) => {
                let json_item = |id: &str| json!({"id": {"S": id}, "payload": {"S": PAYLOAD}});
                let (op, body) = if ids.len() == 1 {
                    (
                        "PutItem",
                        json!({"TableName": TABLE, "Item": json_item(&ids[0])}),
                    )
                } else {
                    let puts: Vec<_> = ids
                        .iter()
                        .map(|id| json!({"PutRequest": {"Item": json_item(id)}}))
                        .collect();
                    ("BatchWriteItem", json!({"RequestItems": {TABLE: puts}}))
                };
                let answer = dynamo_call(conn, &format!("DynamoDB_20120810.{op}"), &body).await?;
                if op == "BatchWriteItem"
                    && answer["UnprocessedItems"]
                        .as_object()
                        .is_some_and(|u| !u.is_empty())
                {
                    bail!("BatchWriteItem left items unprocessed: {answer}");
                }
            }
        }
        Ok(())
    }
}

/// One request to a region's DynamoDB endpoint (`target` names the
/// operation: `DynamoDB_20120810.PutItem`, `DynamoDBStreams_20120810.…`);
/// its answer, or an error with the HTTP status and body.
pub(super) async fn dynamo_call(
    conn: &mut meridian_cluster::http::Conn,
    target: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    let headers = [
        ("x-amz-target", target),
        ("content-type", "application/x-amz-json-1.0"),
    ];
    let res = conn
        .send(
            "POST",
            &headers,
            serde_json::to_vec(body)?,
            8 << 20,
            Duration::from_secs(30),
        )
        .await
        .with_context(|| target.to_string())?;
    if !res.ok() {
        bail!(
            "{target}: HTTP {}: {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        );
    }
    Ok(serde_json::from_slice(&res.body)?)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn load_keys(
    cluster: &Cluster,
    region: usize,
    via: Via,
    clients: usize,
    count: u64,
    keys: u64,
    batch: usize,
    rate: Option<f64>,
    max: Duration,
    prefix: &str,
) -> Result<Load> {
    let id = move |i: u64| if keys == 0 { i } else { i % keys };
    let batch = batch.max(1) as u64;
    let requests = count.div_ceil(batch);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + max;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let mut c = Writer::open(cluster, region, via).await?;
        let next = next.clone();
        let prefix = prefix.to_string();
        tasks.spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut items = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests || Instant::now() >= deadline {
                    break;
                }
                if let Some(rate) = rate {
                    let slot = start + Duration::from_secs_f64((i * batch) as f64 / rate);
                    if slot >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(slot).await;
                }
                let lo = i * batch;
                let hi = (lo + batch).min(count);
                let ids: Vec<String> = (lo..hi).map(|k| format!("{prefix}{}", id(k))).collect();
                let t = Instant::now();
                c.write(&ids).await?;
                hist.saturating_record(t.elapsed().as_micros() as u64);
                items += hi - lo;
            }
            anyhow::Ok((items, hist))
        });
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut items = 0;
    while let Some(r) = tasks.join_next().await {
        let (n, h) = r??;
        items += n;
        hist.add(&h)?;
    }
    Ok(Load {
        items,
        elapsed: start.elapsed(),
        hist,
    })
}
