//! `meridian bench index`: what secondary indexes cost the write path, how
//! a query of a global index compares with one of the table, and how fast
//! an index added to a loaded table is built (docs/indexes.md).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hdrhistogram::Histogram;
use meridian_cluster::http::{Conn, Target};
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::{Load, dynamo_call, load};
use super::report::{Report, ms};

#[derive(Args, Debug)]
pub struct IndexArgs {
    #[command(flatten)]
    common: Common,
    /// Items written in each write phase (indexes off, on).
    #[arg(long, default_value_t = 100_000)]
    items: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Queries timed, each of the table and of the index.
    #[arg(long, default_value_t = 5_000)]
    queries: u64,
    /// Items in the table an index is then added to.
    #[arg(long, default_value_t = 1_000_000)]
    backfill_items: u64,
    /// Time limit for each phase, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

fn attr(name: &str) -> pb::KeyAttr {
    pb::KeyAttr {
        name: name.into(),
        r#type: "S".into(),
    }
}

/// The two global indexes the write phases measure: one projecting every
/// attribute, one only the keys. Every benchmark item (`id`, `payload`)
/// is in both.
fn two_indexes() -> Vec<pb::IndexSpec> {
    let spec = |name: &str, partition: &str, sort: Option<&str>, projection: &str| pb::IndexSpec {
        name: name.into(),
        global: true,
        partition: vec![attr(partition)],
        sort: sort.map(attr).into_iter().collect(),
        projection: projection.into(),
        non_key_attributes: Vec::new(),
        building: false,
    };
    vec![
        spec("by_payload", "payload", Some("id"), "ALL"),
        spec("by_id", "id", None, "KEYS_ONLY"),
    ]
}

/// Write rates (single PutItems, then BatchWrites of 25) into an empty
/// table of a fresh one-region cluster, with the two indexes or without;
/// with them, query latencies of the table and of `by_id` for the same
/// keys.
async fn write_phase(
    a: &IndexArgs,
    items: u64,
    queries: u64,
    indexed: bool,
) -> Result<(f64, f64, Option<(Histogram<u64>, Histogram<u64>)>)> {
    let max = Duration::from_secs(if a.common.smoke { 60 } else { a.max_secs });
    let dir = a.common.tempdir()?;
    let cluster = Cluster::start(1, false, dir.path()).await?;
    let result = async {
        let indexes = if indexed { two_indexes() } else { Vec::new() };
        cluster.create_table_with(Vec::new(), indexes).await?;
        let single = load(&cluster, 0, a.clients, items / 4, 1, None, max, "s-").await?;
        let batched = load(&cluster, 0, a.clients, items, 25, None, max, "b-").await?;
        if single.items < items / 4 || batched.items < items {
            bail!("the write phase did not finish within {max:?}");
        }
        let rate = |l: &Load| l.items as f64 / l.elapsed.as_secs_f64().max(1e-6);
        let rates = (rate(&single), rate(&batched));
        if !indexed {
            return Ok((rates.0, rates.1, None));
        }
        let mut client = cluster.client(0)?;
        let mut base = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut index = base.clone();
        for i in 0..queries {
            let id = format!("b-{}", (i * 7919) % items);
            let key = meridian_core::encode_item(&meridian_core::Item::from([(
                "id".to_string(),
                meridian_core::AttrValue::S(id.clone()),
            )]));
            // The table and the index, alternately, for the same key.
            for (on_index, h) in [(false, &mut base), (true, &mut index)] {
                let t = Instant::now();
                let page = client
                    .query(pb::QueryRequest {
                        table: TABLE.into(),
                        partition_key: key.clone(),
                        sort: None,
                        reverse: false,
                        limit: 10,
                        page_token: Vec::new(),
                        index: if on_index {
                            "by_id".into()
                        } else {
                            String::new()
                        },
                    })
                    .await
                    .context("Query")?
                    .into_inner();
                h.record(t.elapsed().as_micros().max(1) as u64)?;
                if page.items.len() != 1 {
                    bail!("a query of {id} found {} items", page.items.len());
                }
            }
        }
        anyhow::Ok((rates.0, rates.1, Some((base, index))))
    }
    .await;
    cluster.shutdown().await;
    result
}

/// What the backfill phase measured.
struct Backfill {
    items_per_sec: f64,
    writes_alone: f64,
    writes_during: f64,
}

/// A table of `items` items on a fresh one-region cluster gets a global
/// index by UpdateTable while clients keep writing; the build's rate, and
/// the write rate during it against the same clients' rate just before.
async fn backfill_phase(a: &IndexArgs, items: u64, writes: u64) -> Result<Backfill> {
    let max = Duration::from_secs(if a.common.smoke { 60 } else { a.max_secs });
    let dir = a.common.tempdir()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], meridian_cluster::ports::free_port()?));
    let cluster = Cluster::start_with(1, false, dir.path(), |f| {
        f.regions[0].dynamo = Some(addr);
    })
    .await?;
    let result = async {
        cluster.create_table().await?;
        let loaded = load(&cluster, 0, a.clients, items, 25, None, max, "t-").await?;
        if loaded.items < items {
            bail!("loaded {} of {items} items within {max:?}", loaded.items);
        }
        let alone = load(&cluster, 0, a.clients, writes, 1, None, max, "alone-").await?;
        let mut conn =
            Conn::open(&Target::at(&addr.to_string(), "/"), Duration::from_secs(5)).await?;
        let create = json!({
            "TableName": TABLE,
            "AttributeDefinitions": [{"AttributeName": "payload", "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": "by_payload",
                "KeySchema": [{"AttributeName": "payload", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }}],
        });
        let started = Instant::now();
        dynamo_call(&mut conn, "DynamoDB_20120810.UpdateTable", &create).await?;
        let during = {
            let writer = load(&cluster, 0, a.clients, writes, 1, None, max, "during-");
            let built = async {
                // A query of the index is refused until it is built: a
                // cheap probe, where a DescribeTable would count a million
                // rows each time and compete with the writes measured.
                let mut client = cluster.client(0)?;
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    let probe = client
                        .query(pb::QueryRequest {
                            table: TABLE.into(),
                            partition_key: meridian_core::encode_item(&meridian_core::Item::from(
                                [(
                                    "payload".to_string(),
                                    meridian_core::AttrValue::S("none".into()),
                                )],
                            )),
                            sort: None,
                            reverse: false,
                            limit: 1,
                            page_token: Vec::new(),
                            index: "by_payload".into(),
                        })
                        .await;
                    match probe {
                        Ok(_) => return anyhow::Ok(started.elapsed()),
                        Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
                        Err(s) => bail!("probing the index: {s}"),
                    }
                    if started.elapsed() > max {
                        bail!("the index was not built within {max:?}");
                    }
                }
            };
            let (w, b) = tokio::join!(writer, built);
            (w?, b?)
        };
        let (w, built) = during;
        let rate = |l: &Load| l.items as f64 / l.elapsed.as_secs_f64().max(1e-6);
        anyhow::Ok(Backfill {
            items_per_sec: (items + alone.items) as f64 / built.as_secs_f64().max(1e-6),
            writes_alone: rate(&alone),
            writes_during: rate(&w),
        })
    }
    .await;
    cluster.shutdown().await;
    result
}

/// Writes with two global indexes against the same writes without, a
/// global index's query latency against the table's, and the build of an
/// index added to a loaded table.
pub async fn index(a: IndexArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let items = if smoke { 2_000 } else { a.items };
    let queries = if smoke { 100 } else { a.queries };
    let backfill = if smoke { 5_000 } else { a.backfill_items };
    let during_writes = if smoke { 500 } else { 20_000 };
    let mut r = Report::new(
        "index",
        smoke,
        reps,
        json!({
            "items": items, "clients": a.clients, "queries": queries,
            "backfill_items": backfill, "writes_during_backfill": during_writes,
            "indexes": "by_payload (payload, id; ALL), by_id (id; KEYS_ONLY)",
        }),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let order = if rep % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut rates = [(0.0, 0.0); 2];
        let mut latencies = None;
        for indexed in order {
            let (single, batched, l) = write_phase(&a, items, queries, indexed).await?;
            rates[usize::from(indexed)] = (single, batched);
            latencies = latencies.or(l);
        }
        let [(s_off, b_off), (s_on, b_on)] = rates;
        r.add("single writes, no index (baseline)", "items/s", s_off);
        r.add("single writes, two global indexes", "items/s", s_on);
        r.add("single writes, indexes / none", "ratio", s_on / s_off);
        r.add("batched writes, no index (baseline)", "items/s", b_off);
        r.add("batched writes, two global indexes", "items/s", b_on);
        r.add("batched writes, indexes / none", "ratio", b_on / b_off);
        let (base, index) = latencies.context("no query latencies")?;
        let at = |h: &Histogram<u64>, q: f64| ms(h.value_at_quantile(q));
        r.add("query of the table p50 (baseline)", "ms", at(&base, 0.5));
        r.add("query of the table p99 (baseline)", "ms", at(&base, 0.99));
        r.add("query of a global index p50", "ms", at(&index, 0.5));
        r.add("query of a global index p99", "ms", at(&index, 0.99));
        let b = backfill_phase(&a, backfill, during_writes).await?;
        r.add("index build", "items/s", b.items_per_sec);
        r.add(
            "writes before the build (baseline)",
            "items/s",
            b.writes_alone,
        );
        r.add("writes during the build", "items/s", b.writes_during);
        r.add(
            "writes during / before the build",
            "ratio",
            b.writes_during / b.writes_alone,
        );
        r.runs.push(json!({"rep": rep, "indexed_first": order[0]}));
    }
    r.target(
        "≥ 0.6 (single writes with two global indexes, against none)",
        "single writes, indexes / none",
        true,
        0.6,
    );
    r.target(
        "≥ 0.6 (batched writes with two global indexes, against none)",
        "batched writes, indexes / none",
        true,
        0.6,
    );
    r.notes.push("write phases run on fresh one-region clusters into an empty table, with and without the indexes in alternating order; queries are single-key Querys over gRPC, the table's and the by_id index's for the same keys, alternating; the build: UpdateTable adds a KEYS_ONLY index to a loaded table while single PutItems from the same clients go on, and its rate counts every item there when it started".into());
    r.finish(&a.common.out)?;
    Ok(())
}
