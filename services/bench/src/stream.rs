//! `meridian bench stream`: what a change stream costs the write path, and
//! how soon a change can be read from it (docs/streams.md).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hdrhistogram::Histogram;
use meridian_cluster::http::{Conn, Target};
use meridian_proto::v1 as pb;
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::{dynamo_call, item, load};
use super::report::{Report, ms};

#[derive(Args, Debug)]
pub struct StreamArgs {
    #[command(flatten)]
    common: Common,
    /// Items written in each phase (stream off, stream on), BatchWrite of 25.
    #[arg(long, default_value_t = 200_000)]
    items: u64,
    /// Concurrent BatchWrite clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Single writes whose records are waited for, one at a time, for the
    /// latency figures.
    #[arg(long, default_value_t = 300)]
    probes: u64,
    /// Time limit for each phase, in seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

/// One DynamoDB (or DynamoDB Streams) request to a region's endpoint.
async fn call(conn: &mut Conn, target: &str, body: Json) -> Result<Json> {
    dynamo_call(conn, target, &body).await
}

async fn conn(addr: SocketAddr) -> Result<Conn> {
    Ok(Conn::open(&Target::at(&addr.to_string(), "/"), Duration::from_secs(5)).await?)
}

/// Turns the table's stream on (`NEW_AND_OLD_IMAGES`) or off.
async fn set_stream(conn: &mut Conn, on: bool) -> Result<()> {
    let spec = if on {
        json!({"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    } else {
        json!({"StreamEnabled": false})
    };
    call(
        conn,
        "DynamoDB_20120810.UpdateTable",
        json!({"TableName": TABLE, "StreamSpecification": spec}),
    )
    .await?;
    Ok(())
}

/// A LATEST iterator on the table's stream at `conn`'s region.
async fn latest(conn: &mut Conn) -> Result<String> {
    let d = call(
        conn,
        "DynamoDB_20120810.DescribeTable",
        json!({"TableName": TABLE}),
    )
    .await?;
    let arn = d["Table"]["LatestStreamArn"]
        .as_str()
        .context("no LatestStreamArn")?
        .to_string();
    let s = call(
        conn,
        "DynamoDBStreams_20120810.DescribeStream",
        json!({"StreamArn": arn}),
    )
    .await?;
    let shard = s["StreamDescription"]["Shards"][0]["ShardId"]
        .as_str()
        .context("no shard")?
        .to_string();
    let it = call(
        conn,
        "DynamoDBStreams_20120810.GetShardIterator",
        json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "LATEST"}),
    )
    .await?;
    Ok(it["ShardIterator"]
        .as_str()
        .context("no iterator")?
        .to_string())
}

/// Reads from `it` until a record of `id` shows; returns the next
/// iterator and when it showed.
async fn wait_for(conn: &mut Conn, mut it: String, id: &str, max: Duration) -> Result<String> {
    let deadline = Instant::now() + max;
    loop {
        let page = call(
            conn,
            "DynamoDBStreams_20120810.GetRecords",
            json!({"ShardIterator": it}),
        )
        .await?;
        it = page["NextShardIterator"]
            .as_str()
            .context("the shard closed")?
            .to_string();
        let seen = page["Records"].as_array().is_some_and(|rs| {
            rs.iter()
                .any(|r| r["dynamodb"]["Keys"]["id"]["S"].as_str() == Some(id))
        });
        if seen {
            return Ok(it);
        }
        if Instant::now() >= deadline {
            bail!("the record of {id} did not show within {max:?}");
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Latency histograms: in the writing region's stream, and in the peer's.
type Latencies = (Histogram<u64>, Histogram<u64>);

/// One phase on a cluster of its own, so that both phases write into an
/// empty table: two regions with DynamoDB endpoints; `items` written to
/// region 0 with the table's stream `on` or not; then, stream on, single
/// writes whose records are waited for in region 0's stream and in region
/// 1's. Returns the write rate, and the latencies when `on`.
async fn phase(
    a: &StreamArgs,
    items: u64,
    probes: u64,
    on: bool,
) -> Result<(f64, Option<Latencies>)> {
    let max = Duration::from_secs(if a.common.smoke { 60 } else { a.max_secs });
    let dir = a.common.tempdir()?;
    let addrs: Vec<SocketAddr> = (0..2)
        .map(|_| {
            meridian_cluster::ports::free_port().map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        })
        .collect::<Result<_, _>>()?;
    let cluster = Cluster::start_with(2, false, dir.path(), |f| {
        for (region, addr) in f.regions.iter_mut().zip(&addrs) {
            region.dynamo = Some(*addr);
        }
    })
    .await?;
    let result = async {
        cluster.create_table().await?;
        let mut local = conn(addrs[0]).await?;
        if on {
            set_stream(&mut local, true).await?;
        }
        let l = load(&cluster, 0, a.clients, items, 25, None, max, "w-").await?;
        if l.items < items {
            bail!("wrote {} of {items} items within {max:?}", l.items);
        }
        let rate = l.items as f64 / l.elapsed.as_secs_f64().max(1e-6);
        if !on {
            return Ok((rate, None));
        }
        // Latency: each probe waits for its own record.
        let mut peer = conn(addrs[1]).await?;
        let mut here = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut there = here.clone();
        let mut its = (latest(&mut local).await?, latest(&mut peer).await?);
        let mut client = cluster.client(0)?;
        for i in 0..probes {
            let id = format!("probe-{i}");
            client
                .put_item(pb::PutItemRequest {
                    table: TABLE.into(),
                    item: item(&id),
                    condition: None,
                })
                .await
                .context("PutItem")?;
            let t = Instant::now();
            its.0 = wait_for(&mut local, its.0, &id, max).await?;
            here.record(t.elapsed().as_micros().max(1) as u64)?;
            its.1 = wait_for(&mut peer, its.1, &id, max).await?;
            there.record(t.elapsed().as_micros().max(1) as u64)?;
        }
        anyhow::Ok((rate, Some((here, there))))
    }
    .await;
    cluster.shutdown().await;
    result
}

/// Writes with the table's stream off (the baseline) and on
/// (`NEW_AND_OLD_IMAGES`), each on a fresh cluster into an empty table, in
/// alternating order; and how soon a change's record is readable.
pub async fn stream(a: StreamArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let items = if smoke { 2_000 } else { a.items };
    let probes = if smoke { 20 } else { a.probes };
    let mut r = Report::new(
        "stream",
        smoke,
        reps,
        json!({"items": items, "clients": a.clients, "batch": 25, "probes": probes, "view": "NEW_AND_OLD_IMAGES"}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let mut rates = [0.0f64; 2];
        let mut latencies = None;
        let order = if rep % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for on in order {
            let (rate, l) = phase(&a, items, probes, on).await?;
            rates[usize::from(on)] = rate;
            latencies = latencies.or(l);
        }
        let [off, on] = rates;
        let (here, there) = latencies.context("the stream phase measured no latency")?;
        let at = |h: &Histogram<u64>, q: f64| ms(h.value_at_quantile(q));
        r.add("writes, stream off (baseline)", "items/s", off);
        r.add("writes, NEW_AND_OLD_IMAGES stream on", "items/s", on);
        r.add("stream on / off", "ratio", on / off);
        r.add("record readable, same region p50", "ms", at(&here, 0.5));
        r.add("record readable, same region p99", "ms", at(&here, 0.99));
        r.add("record readable, peer region p50", "ms", at(&there, 0.5));
        r.add("record readable, peer region p99", "ms", at(&there, 0.99));
        r.runs
            .push(json!({"rep": rep, "off": off, "on": on, "stream_first": order[0]}));
    }
    r.target(
        "≥ 0.8 (write throughput with the stream on, against off)",
        "stream on / off",
        true,
        0.8,
    );
    r.notes.push("each phase runs on a fresh cluster and writes into an empty table, the two in alternating order; latency: from the PutItem's answer (the write committed) until GetRecords returns its record, polled every 0.2 ms; the peer's figure includes replication".into());
    r.finish(&a.common.out)?;
    Ok(())
}
