//! The four benchmarks.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hdrhistogram::Histogram;
use meridian_core::lag;
use meridian_core::value::{AttrValue, Item, encode_item};
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::report::Report;

const PAYLOAD: &str = "meridian-bench-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklm";

/// An item of about 200 encoded bytes with partition key `id`.
pub(super) fn item(id: &str) -> Vec<u8> {
    let mut it = Item::new();
    it.insert("id".into(), AttrValue::S(id.to_string()));
    it.insert("payload".into(), AttrValue::S(PAYLOAD.into()));
    encode_item(&it)
}

fn key_bytes(id: &str) -> Vec<u8> {
    let mut it = Item::new();
    it.insert("id".into(), AttrValue::S(id.to_string()));
    encode_item(&it)
}

// ------------------------------------------------------------------ load

pub(super) struct Load {
    pub(super) items: u64,
    pub(super) elapsed: Duration,
    hist: Histogram<u64>,
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
async fn load_table(
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
enum Via {
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
async fn load_keys(
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

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

// ------------------------------------------------------------------ write

#[derive(Args, Debug)]
pub struct WriteArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent gRPC clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Items written by single-item PutItem per repetition.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Items written by BatchWrite per repetition.
    #[arg(long, default_value_t = 500_000)]
    batched_count: u64,
    /// Items per BatchWrite.
    #[arg(long, default_value_t = 25)]
    batch: usize,
    /// Rows per transaction in the raw rusqlite baseline.
    #[arg(long, default_value_t = 1000)]
    baseline_txn: usize,
    /// Time limit of each load, in seconds.
    #[arg(long, default_value_t = 30)]
    max_secs: u64,
    /// `dynamodb` also runs both loads through the region's DynamoDB
    /// endpoint (one kept-alive HTTP connection per client) and compares
    /// them with the gRPC loads of the same repetition.
    #[arg(long, value_enum, default_value_t = Api::Grpc)]
    api: Api,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Grpc,
    Dynamodb,
}

/// Raw rusqlite: the same item row and log row per item as the store (not
/// its digest leaves), `txn` items per transaction, WAL and
/// synchronous=FULL. Items/s.
fn raw_baseline(dir: &Path, count: u64, txn: usize) -> Result<f64> {
    let path = dir.join("baseline.db");
    let conn = rusqlite::Connection::open(&path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("baseline: could not enable WAL");
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA cache_size=-16000; PRAGMA temp_store=MEMORY;",
    )?;
    conn.execute_batch(include_str!("../../../store/src/schema.sql"))?;
    let version = vec![7u8; 16];
    let ctx = vec![3u8; 24];
    let start = std::time::Instant::now();
    let mut done = 0u64;
    while done < count {
        let n = (txn as u64).min(count - done);
        let tx = conn.unchecked_transaction()?;
        {
            let mut ins_item = tx.prepare_cached(
                "INSERT INTO items (tbl, pk, sk, version, prev, ctx, image, ttl) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)
                 ON CONFLICT (tbl, pk, sk) DO UPDATE SET version = excluded.version,
                 prev = excluded.prev, ctx = excluded.ctx, image = excluded.image, ttl = excluded.ttl",
            )?;
            let mut ins_log = tx.prepare_cached(
                "INSERT INTO log (tbl, table_version, pk, sk, version, prev, ctx, image, origin, commit_real, ttl, txn_pos, txn_len)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, 'us-east-1', ?8, 0, 0, 1)",
            )?;
            for k in done..done + n {
                let id = format!("raw-{k}");
                let pk = key_bytes(&id);
                let image = item(&id);
                let sk: &[u8] = &[];
                ins_item.execute(rusqlite::params![
                    TABLE,
                    pk,
                    sk,
                    version,
                    Option::<Vec<u8>>::None,
                    ctx,
                    image
                ])?;
                ins_log.execute(rusqlite::params![
                    TABLE, version, pk, sk, version, ctx, image, k as i64
                ])?;
            }
        }
        tx.commit()?;
        done += n;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

pub async fn write(a: WriteArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let (count, batched, base_n) = if smoke {
        (300, 1_000, 1_000)
    } else {
        (a.count, a.batched_count, a.batched_count)
    };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "write",
        smoke,
        reps,
        json!({
            "clients": a.clients, "count": count, "batched_count": batched,
            "batch": a.batch, "baseline_txn": a.baseline_txn, "baseline_items": base_n,
            "item_bytes": item("k0").len(), "durability": "full", "max_secs": max.as_secs(),
            "api": format!("{:?}", a.api).to_lowercase(),
        }),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let bdir = dir.path().to_path_buf();
        let txn = a.baseline_txn;
        let baseline =
            tokio::task::spawn_blocking(move || raw_baseline(&bdir, base_n, txn)).await??;
        let dynamo = match a.api {
            Api::Grpc => None,
            Api::Dynamodb => Some(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                meridian_cluster::ports::free_port()?,
            ))),
        };
        let cluster =
            Cluster::start_with(1, false, dir.path(), |f| f.regions[0].dynamo = dynamo).await?;
        let result = async {
            cluster.create_table().await?;
            let (c, b) = (a.clients, a.batch);
            let grpc = async {
                let single = load(&cluster, 0, c, count, 1, None, max, "s-").await?;
                let multi = load(&cluster, 0, c, batched, b, None, max, "b-").await?;
                anyhow::Ok((single, multi))
            };
            let Some(addr) = dynamo else {
                let (single, multi) = grpc.await?;
                return anyhow::Ok((single, multi, None));
            };
            let http = async {
                let via = Via::Dynamo(addr);
                let single = load_keys(&cluster, 0, via, c, count, 0, 1, None, max, "ds-").await?;
                let multi = load_keys(&cluster, 0, via, c, batched, 0, b, None, max, "db-").await?;
                anyhow::Ok((single, multi))
            };
            // Alternate which front goes first: the table grows under the second.
            let ((single, multi), over_http) = if rep % 2 == 0 {
                let g = grpc.await?;
                (g, http.await?)
            } else {
                let h = http.await?;
                (grpc.await?, h)
            };
            anyhow::Ok((single, multi, Some(over_http)))
        }
        .await;
        cluster.shutdown().await;
        let (single, multi, over_http) = result?;
        let s_rate = single.items as f64 / single.elapsed.as_secs_f64();
        let b_rate = multi.items as f64 / multi.elapsed.as_secs_f64();
        if let Some((hs, hb)) = &over_http {
            let hs_rate = hs.items as f64 / hs.elapsed.as_secs_f64();
            let hb_rate = hb.items as f64 / hb.elapsed.as_secs_f64();
            r.add("DynamoDB PutItem", "items/s", hs_rate);
            r.add(
                "DynamoDB PutItem p99",
                "ms",
                ms(hs.hist.value_at_quantile(0.99)),
            );
            r.add("DynamoDB BatchWriteItem", "items/s", hb_rate);
            r.add(
                "DynamoDB BatchWriteItem p99 (request)",
                "ms",
                ms(hb.hist.value_at_quantile(0.99)),
            );
            r.add("DynamoDB / gRPC PutItem", "ratio", hs_rate / s_rate);
            r.add("DynamoDB / gRPC BatchWrite", "ratio", hb_rate / b_rate);
        }
        r.add("baseline raw rusqlite", "items/s", baseline);
        r.add("single PutItem", "items/s", s_rate);
        r.add("single p50", "ms", ms(single.hist.value_at_quantile(0.5)));
        r.add("single p99", "ms", ms(single.hist.value_at_quantile(0.99)));
        r.add("single max", "ms", ms(single.hist.max()));
        r.add("batched BatchWrite", "items/s", b_rate);
        r.add(
            "batched p50 (request)",
            "ms",
            ms(multi.hist.value_at_quantile(0.5)),
        );
        r.add(
            "batched p99 (request)",
            "ms",
            ms(multi.hist.value_at_quantile(0.99)),
        );
        r.add("batched max (request)", "ms", ms(multi.hist.max()));
        r.add("single / baseline", "ratio", s_rate / baseline);
        r.add("batched / baseline", "ratio", b_rate / baseline);
        r.runs.push(json!({
            "rep": rep, "baseline_items_per_s": baseline,
            "single": {"items": single.items, "secs": single.elapsed.as_secs_f64()},
            "batched": {"items": multi.items, "secs": multi.elapsed.as_secs_f64()},
        }));
    }
    r.target(
        "single-item writes ≥ 20,000/s",
        "single PutItem",
        true,
        20_000.0,
    );
    r.target(
        "batched writes ≥ 100,000 items/s",
        "batched BatchWrite",
        true,
        100_000.0,
    );
    r.target(
        "batched ≥ 0.5× raw baseline",
        "batched / baseline",
        true,
        0.5,
    );
    if a.api == Api::Dynamodb {
        r.target(
            "DynamoDB PutItem ≥ 0.7× gRPC",
            "DynamoDB / gRPC PutItem",
            true,
            0.7,
        );
        r.target(
            "DynamoDB BatchWriteItem ≥ 0.7× gRPC",
            "DynamoDB / gRPC BatchWrite",
            true,
            0.7,
        );
        r.notes.push("the DynamoDB loads send unsigned requests (the endpoint has no dynamodb_keys), so SigV4 costs neither side".into());
    }
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ status

/// One Status of every region: region → peer → (pending, buckets).
type Snapshot = Vec<BTreeMap<String, (u64, Vec<u64>)>>;

async fn snapshot(cluster: &Cluster, alive: &[usize]) -> Result<Snapshot> {
    let mut out = vec![BTreeMap::new(); cluster.names.len()];
    for &i in alive {
        let s = cluster
            .admin(i)
            .status(pb::StatusRequest {})
            .await
            .context("Status")?
            .into_inner();
        for p in s.peers {
            out[i].insert(p.peer, (p.pending, p.latency_buckets));
        }
    }
    Ok(out)
}

fn max_pending(s: &Snapshot) -> u64 {
    s.iter()
        .flat_map(|m| m.values().map(|(p, _)| *p))
        .max()
        .unwrap_or(0)
}

/// Polls until no region has anything pending, or `max` passes. Regions not
/// in `alive` are down, so links to them count as connected here.
async fn wait_drained(cluster: &Cluster, alive: &[usize], max: Duration) -> Result<Duration> {
    use meridian_cluster::wait::{Step, poll};
    let start = Instant::now();
    poll(
        "replication did not drain",
        max,
        Duration::from_millis(50),
        || async {
            match snapshot(cluster, alive).await {
                Ok(s) if max_pending(&s) == 0 => Step::Done(()),
                Ok(s) => Step::NotYet(format!("{} pending", max_pending(&s))),
                Err(e) => Step::Fail(format!("{e:#}")),
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    Ok(start.elapsed())
}

// ------------------------------------------------------------------ replicate

#[derive(Args, Debug)]
pub struct ReplicateArgs {
    #[command(flatten)]
    common: Common,
    /// Writes per second per region (single-item PutItem).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of writing per phase.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Injected one-way latency L in ms for the second phase.
    #[arg(long, default_value_t = 40)]
    latency_ms: u64,
    /// Also run 1k, 5k, 10k and 20k writes/s per region at 0 latency.
    #[arg(long)]
    sweep: bool,
    /// Concurrent clients per region.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// The regions' `repair_interval_ms`: how often each runs an
    /// anti-entropy round against every peer while the writes go on
    /// (0: only after reconnects).
    #[arg(long, default_value_t = 30_000)]
    repair_interval_ms: u64,
    /// The regions' `log_retain_entries` (default: the cluster default).
    #[arg(long)]
    log_retain_entries: Option<u64>,
}

#[derive(Args)]
pub struct TlsArgs {
    #[command(flatten)]
    common: Common,
    /// Writes per second per region (single-item PutItem).
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of writing per phase.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Concurrent clients per region.
    #[arg(long, default_value_t = 32)]
    clients: usize,
}

/// `bench tls`: the same writes replicated in plaintext and over mutual
/// TLS, by two clusters started side by side (both through link proxies
/// with no faults), one loaded at a time, in alternating phases.
pub async fn tls(a: TlsArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let (rate, secs) = if smoke { (200, 1) } else { (a.rate, a.secs) };
    let mut r = Report::new(
        "tls",
        smoke,
        reps,
        json!({"rate_per_region": rate, "secs": secs, "clients": a.clients}),
    );
    r.machine = a.common.machine()?;
    let dir = a.common.tempdir()?;
    let (plain_dir, tls_dir) = (dir.path().join("plain"), dir.path().join("tls"));
    for d in [&plain_dir, &tls_dir] {
        std::fs::create_dir_all(d)?;
    }
    let plain = Cluster::start(3, true, &plain_dir).await?;
    let certs = dir.path().join("certs");
    let mut issued = Ok(());
    let tls = match Cluster::start_with(3, true, &tls_dir, |f| {
        issued = meridian_cluster::local::enable_tls(f, &certs);
    })
    .await
    {
        Ok(c) => c,
        Err(e) => {
            plain.shutdown().await;
            issued?;
            return Err(e);
        }
    };
    let result = async {
        for c in [&plain, &tls] {
            c.create_table().await?;
        }
        for rep in 0..reps {
            let (mut p99, mut cpu) = ([0.0; 2], [0.0; 2]);
            for (i, (tag, c)) in [("plaintext", &plain), ("TLS", &tls)]
                .into_iter()
                .enumerate()
            {
                let p = phase(c, rate, secs, a.clients, &format!("{tag}{rep}")).await?;
                r.add(
                    &format!("{tag} achieved rate/region"),
                    "writes/s",
                    p.achieved,
                );
                r.add(&format!("{tag} p50"), "ms", q_ms(&p.all, 0.5));
                r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
                add_cpu(&mut r, tag, &p.cpu);
                p99[i] = q_ms(&p.all, 0.99);
                cpu[i] = p.cpu.region_per_write_us;
                r.runs.push(json!({
                    "rep": rep, "tls": i == 1, "achieved": p.achieved,
                    "p50_ms": q_ms(&p.all, 0.5), "p99_ms": p99[i],
                    "region_cpu_per_write_us": p.cpu.region_per_write_us,
                }));
            }
            r.add(
                "TLS p99 / plaintext p99",
                "ratio",
                p99[1] / p99[0].max(1e-3),
            );
            r.add(
                "TLS / plaintext region CPU/write",
                "ratio",
                cpu[1] / cpu[0].max(1e-3),
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    plain.shutdown().await;
    tls.shutdown().await;
    result?;
    r.target(
        "TLS costs the regions at most a quarter more CPU per write",
        "TLS / plaintext region CPU/write",
        false,
        1.25,
    );
    r.target(
        "TLS adds at most half to replication p99",
        "TLS p99 / plaintext p99",
        false,
        1.5,
    );
    r.notes.push(
        "two clusters side by side, one loaded at a time: plaintext first in each repetition, then TLS, at the same rate; ratios per repetition".into(),
    );
    r.finish(&a.common.out)?;
    Ok(())
}

struct Phase {
    achieved: f64,
    pairs: BTreeMap<String, Vec<u64>>,
    all: Vec<u64>,
    max_pending: u64,
    cpu: PhaseCpu,
}

/// The CPU a phase cost, from its first write until everything replicated.
/// The cost per write is not a constant: with CPU to spare, groups and
/// batches are smaller and the same writes take more commits and wake-ups,
/// so it falls as the rate rises. CPU busy near 100 % marks saturation.
struct PhaseCpu {
    /// Regions' CPU (user + system) per write accepted, in µs.
    region_per_write_us: f64,
    /// This process's CPU per write: the clients and the link proxies.
    bench_per_write_us: f64,
    /// Share of all cores busy with regions and this process, in %.
    busy_percent: f64,
}

/// CPU time (user + system) process `pid` has used so far, in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which may itself hold spaces: state is
    // the first, utime the 12th and stime the 13th.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("no CPU time in /proc/{pid}/stat"))
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11)? + ticks(12)?) as f64 / hz)
}

/// CPU seconds used so far by the regions in `alive`, and by this process.
fn cpu_now(cluster: &Cluster, alive: &[usize]) -> Result<(f64, f64)> {
    let mut regions = 0.0;
    for &i in alive {
        if let Some(pid) = cluster.pid(i) {
            regions += cpu_secs(pid)?;
        }
    }
    Ok((regions, cpu_secs(std::process::id())?))
}

fn hi_bucket_ms(counts: &[u64]) -> f64 {
    counts
        .iter()
        .rposition(|c| *c > 0)
        .map_or(f64::NAN, |b| ms(lag::bucket_upper_micros(b)))
}

fn q_ms(counts: &[u64], q: f64) -> f64 {
    lag::quantile_micros(counts, q).map_or(f64::NAN, ms)
}

async fn phase(
    cluster: &Cluster,
    rate: u64,
    secs: u64,
    clients: usize,
    tag: &str,
) -> Result<Phase> {
    let all: Vec<usize> = (0..cluster.names.len()).collect();
    let before = snapshot(cluster, &all).await?;
    let cpu_before = cpu_now(cluster, &all)?;
    let started = Instant::now();
    let count = rate * secs;
    let max = Duration::from_secs(secs + 5);
    let rate_f = Some(rate as f64);
    let (p0, p1, p2) = (
        format!("{tag}-0-"),
        format!("{tag}-1-"),
        format!("{tag}-2-"),
    );
    let loads = async {
        let (a, b, c) = tokio::join!(
            load(cluster, 0, clients, count, 1, rate_f, max, &p0),
            load(cluster, 1, clients, count, 1, rate_f, max, &p1),
            load(cluster, 2, clients, count, 1, rate_f, max, &p2),
        );
        anyhow::Ok(vec![a?, b?, c?])
    };
    tokio::pin!(loads);
    let mut peak = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let loads = loop {
        tokio::select! {
            l = &mut loads => break l?,
            _ = tick.tick() => peak = peak.max(max_pending(&snapshot(cluster, &all).await?)),
        }
    };
    wait_drained(cluster, &all, Duration::from_secs(120)).await?;
    let cpu_after = cpu_now(cluster, &all)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let writes = loads.iter().map(|l| l.items).sum::<u64>().max(1) as f64;
    let (region_cpu, bench_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let cpu = PhaseCpu {
        region_per_write_us: region_cpu * 1e6 / writes,
        bench_per_write_us: bench_cpu * 1e6 / writes,
        busy_percent: 100.0 * (region_cpu + bench_cpu) / (started.elapsed().as_secs_f64() * cores),
    };
    let after = snapshot(cluster, &all).await?;
    let mut pairs = BTreeMap::new();
    let mut total = vec![0u64; lag::BUCKETS];
    for i in &all {
        for (peer, (_, b)) in &after[*i] {
            let earlier = before[*i]
                .get(peer)
                .map(|x| x.1.clone())
                .unwrap_or_default();
            let Some(w) = lag::window(&earlier, b) else {
                continue;
            };
            for (t, c) in total.iter_mut().zip(&w) {
                *t += c;
            }
            pairs.insert(format!("{peer}→{}", cluster.names[*i]), w);
        }
    }
    let achieved = loads
        .iter()
        .map(|l| l.items as f64 / l.elapsed.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    Ok(Phase {
        achieved,
        pairs,
        all: total,
        max_pending: peak,
        cpu,
    })
}

/// A phase's CPU figures: what a write cost, and how busy the machine was.
fn add_cpu(r: &mut Report, tag: &str, cpu: &PhaseCpu) {
    r.add(
        &format!("{tag} region CPU/write"),
        "µs",
        cpu.region_per_write_us,
    );
    r.add(
        &format!("{tag} bench CPU/write"),
        "µs",
        cpu.bench_per_write_us,
    );
    r.add(&format!("{tag} CPU busy"), "%", cpu.busy_percent);
}

pub async fn replicate(a: ReplicateArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let (rate, secs) = if smoke { (200, 1) } else { (a.rate, a.secs) };
    let lat = a.latency_ms;
    let mut r = Report::new(
        "replicate",
        smoke,
        reps,
        json!({"rate_per_region": rate, "secs": secs, "latency_ms": lat, "clients": a.clients, "sweep": a.sweep, "repair_interval_ms": a.repair_interval_ms}),
    );
    r.machine = a.common.machine()?;
    let dir = a.common.tempdir()?;
    let repair = a.repair_interval_ms;
    let retain = a.log_retain_entries;
    let cluster = Cluster::start_with(3, true, dir.path(), |f| {
        f.repair_interval_ms = repair;
        if let Some(n) = retain {
            f.log_retain_entries = n;
        }
    })
    .await?;
    let result = async {
        cluster.create_table().await?;
        let mut n = 0;
        for rep in 0..reps {
            for l in [0, lat] {
                cluster.set_latency(l).await?;
                n += 1;
                let p = phase(&cluster, rate, secs, a.clients, &format!("p{n}")).await?;
                let tag = format!("L={l}ms");
                r.add(
                    &format!("{tag} achieved rate/region"),
                    "writes/s",
                    p.achieved,
                );
                add_cpu(&mut r, &tag, &p.cpu);
                r.add(&format!("{tag} p50"), "ms", q_ms(&p.all, 0.5));
                r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
                r.add(&format!("{tag} max"), "ms", hi_bucket_ms(&p.all));
                r.add(
                    &format!("{tag} max pending"),
                    "mutations",
                    p.max_pending as f64,
                );
                for (pair, w) in &p.pairs {
                    r.add(&format!("{tag} p99 {pair}"), "ms", q_ms(w, 0.99));
                }
                let bound = (l + 10) as f64;
                r.add(
                    &format!("{tag} p99 / (L+10ms)"),
                    "ratio",
                    q_ms(&p.all, 0.99) / bound,
                );
                r.runs.push(json!({
                    "rep": rep, "latency_ms": l, "rate": rate, "achieved": p.achieved,
                    "max_pending": p.max_pending,
                    "pairs": p.pairs.iter().map(|(k, w)| (k.clone(), json!({
                        "p50_ms": q_ms(w, 0.5), "p99_ms": q_ms(w, 0.99), "max_ms": hi_bucket_ms(w),
                        "count": w.iter().sum::<u64>(),
                    }))).collect::<serde_json::Map<_, _>>(),
                }));
            }
        }
        if a.sweep && !smoke {
            cluster.set_latency(0).await?;
            for rep in 0..reps {
                for s_rate in [1_000u64, 5_000, 10_000, 20_000] {
                    n += 1;
                    let p = phase(&cluster, s_rate, secs, a.clients, &format!("p{n}")).await?;
                    let tag = format!("sweep {}k/s", s_rate / 1000);
                    r.add(
                        &format!("{tag} achieved rate/region"),
                        "writes/s",
                        p.achieved,
                    );
                    r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
                    add_cpu(&mut r, &tag, &p.cpu);
                    r.add(
                        &format!("{tag} max pending"),
                        "mutations",
                        p.max_pending as f64,
                    );
                    r.runs.push(
                        json!({"rep": rep, "sweep_rate": s_rate, "achieved": p.achieved,
                        "p99_ms": q_ms(&p.all, 0.99), "max_pending": p.max_pending}),
                    );
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    cluster.shutdown().await;
    result?;
    r.target(
        "p99 ≤ 10 ms at 0 injected latency",
        "L=0ms p99",
        false,
        10.0,
    );
    r.target(
        &format!("p99 ≤ L + 10 ms = {} ms with L = {lat} ms", lat + 10),
        &format!("L={lat}ms p99"),
        false,
        (lat + 10) as f64,
    );
    r.notes.push(
        "latency percentiles come from the regions' bucketed histograms (bucket upper bounds, ≤ 9 % wide)".into(),
    );
    r.notes.push(
        "CPU/write: user + system CPU of the regions, and of this process (clients and link proxies), from a phase's first write until nothing is pending, per write accepted; CPU busy: their share of all cores. CPU/write falls as the rate rises (larger groups and batches), so CPU busy near 100 % is the sign of saturation".into(),
    );
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ catchup

#[derive(Args, Debug)]
pub struct CatchupArgs {
    #[command(flatten)]
    common: Common,
    /// Mutations written while one region is down (split over the others).
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Concurrent BatchWrite clients per writing region.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time limit for writing the backlog and for draining it, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

pub async fn catchup(a: CatchupArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let backlog = if smoke { 2_000 } else { a.backlog };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "catchup",
        smoke,
        reps,
        json!({"backlog": backlog, "clients": a.clients, "batch": 25, "max_secs": max.as_secs()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let mut cluster = Cluster::start(3, false, dir.path()).await?;
        let result = async {
            cluster.create_table().await?;
            wait_drained(&cluster, &[0, 1, 2], Duration::from_secs(30)).await?;
            cluster.stop_region(2).await?;
            let victim = cluster.names[2].clone();
            let t = Instant::now();
            let half = backlog / 2;
            let (l0, l1) = tokio::join!(
                load(&cluster, 0, a.clients, half, 25, None, max, "c0-"),
                load(&cluster, 1, a.clients, backlog - half, 25, None, max, "c1-"),
            );
            let written = l0?.items + l1?.items;
            let write_rate = written as f64 / t.elapsed().as_secs_f64();
            let at_heal = snapshot(&cluster, &[0, 1]).await?;
            let pend: Vec<u64> = (0..2)
                .map(|i| at_heal[i].get(&victim).map_or(0, |x| x.0))
                .collect();
            cluster.restart_region(2).await?;
            let healed = Instant::now();
            let mut first: [Option<Duration>; 2] = [None, None];
            let mut done: [Option<Duration>; 2] = [None, None];
            let mut tick = tokio::time::interval(Duration::from_millis(25));
            while done.iter().any(Option::is_none) {
                tick.tick().await;
                if healed.elapsed() >= max {
                    bail!("backlog did not drain within {} s", max.as_secs());
                }
                let s = snapshot(&cluster, &[0, 1]).await?;
                for i in 0..2 {
                    let p = s[i].get(&victim).map_or(0, |x| x.0);
                    if first[i].is_none() && p < pend[i] {
                        first[i] = Some(healed.elapsed());
                    }
                    if done[i].is_none() && p == 0 {
                        done[i] = Some(healed.elapsed());
                        first[i].get_or_insert(healed.elapsed());
                    }
                }
            }
            anyhow::Ok((written, write_rate, pend, first, done))
        }
        .await;
        cluster.shutdown().await;
        let (written, write_rate, pend, first, done) = result?;
        let done: Vec<Duration> = done.iter().map(|d| d.expect("drained")).collect();
        let first: Vec<Duration> = first.iter().map(|d| d.expect("drained")).collect();
        let drain = done.iter().max().copied().unwrap_or_default();
        let total: u64 = pend.iter().sum();
        let link_rates: Vec<f64> = (0..2)
            .map(|i| pend[i] as f64 / done[i].as_secs_f64().max(1e-6))
            .collect();
        let link_rates_flowing: Vec<f64> = (0..2)
            .map(|i| {
                // When one poll saw the whole drain, no flowing window exists.
                let flowing = done[i] - first[i];
                let span = if flowing.is_zero() { done[i] } else { flowing };
                pend[i] as f64 / span.as_secs_f64().max(1e-6)
            })
            .collect();
        r.add("backlog write rate (baseline)", "mutations/s", write_rate);
        r.add("drain time (restart → 0 pending)", "s", drain.as_secs_f64());
        r.add(
            "drain rate, all links",
            "mutations/s",
            total as f64 / drain.as_secs_f64().max(1e-6),
        );
        r.add(
            "drain rate per link (min)",
            "mutations/s",
            link_rates.iter().copied().fold(f64::INFINITY, f64::min),
        );
        r.add(
            "drain rate per link, from first progress (min)",
            "mutations/s",
            link_rates_flowing
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min),
        );
        r.add(
            "time to first progress (max)",
            "s",
            first
                .iter()
                .max()
                .copied()
                .unwrap_or_default()
                .as_secs_f64(),
        );
        r.add(
            "drain / write rate",
            "ratio",
            total as f64 / drain.as_secs_f64().max(1e-6) / write_rate,
        );
        r.runs.push(json!({
            "rep": rep, "written": written, "pending_at_heal": pend,
            "first_progress_s": first.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "drained_s": done.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
        }));
    }
    r.target(
        "≥ 100,000 mutations/s per link",
        "drain rate per link (min)",
        true,
        100_000.0,
    );
    r.notes.push("drain time runs from the restarted region listening to both senders reporting 0 pending; it includes the senders' reconnect".into());
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ memory

#[derive(Args, Debug)]
pub struct MemoryArgs {
    #[command(flatten)]
    common: Common,
    /// Items loaded (BatchWrite of 25).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Concurrent BatchWrite clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time limit of the load, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

/// (VmRSS, VmHWM) of a process in bytes.
fn rss(pid: u32) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn dir_size(p: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

const MIB: f64 = 1024.0 * 1024.0;

pub async fn memory(a: MemoryArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(1);
    let items = if smoke { 5_000 } else { a.items };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "memory",
        smoke,
        reps,
        json!({"items": items, "clients": a.clients, "batch": 25, "item_bytes": item("k0").len()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let cluster = Cluster::start(1, false, dir.path()).await?;
        let result = async {
            cluster.create_table().await?;
            let pid = cluster.pid(0).context("region pid")?;
            let (idle, _) = rss(pid)?;
            let l = load(&cluster, 0, a.clients, items, 25, None, max, "m-").await?;
            let (loaded, peak) = rss(pid)?;
            let db = dir_size(&cluster.data_dir(0))?;
            anyhow::Ok((idle, l, loaded, peak, db))
        }
        .await;
        cluster.shutdown().await;
        let (idle, l, loaded, peak, db) = result?;
        r.add("idle RSS (baseline)", "MiB", idle as f64 / MIB);
        r.add("RSS after load", "MiB", loaded as f64 / MIB);
        r.add("peak RSS (VmHWM)", "MiB", peak as f64 / MIB);
        r.add(
            "RSS after load / idle",
            "ratio",
            loaded as f64 / idle as f64,
        );
        r.add("database size", "MiB", db as f64 / MIB);
        r.add(
            "database bytes per item",
            "bytes",
            db as f64 / l.items.max(1) as f64,
        );
        r.add(
            "load rate",
            "items/s",
            l.items as f64 / l.elapsed.as_secs_f64(),
        );
        r.runs.push(json!({"rep": rep, "items": l.items, "idle_rss": idle, "rss": loaded, "hwm": peak, "db_bytes": db}));
    }
    r.target("RSS ≤ 100 MiB after load", "RSS after load", false, 100.0);
    r.target("peak RSS ≤ 100 MiB", "peak RSS (VmHWM)", false, 100.0);
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ repair

#[derive(Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    common: Common,
    /// Items the wiped region held (loaded with BatchWrite of 25).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Concurrent BatchWrite clients for the load.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time limit for the load and for the rebuild, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
    /// Keys that differ between the two regions in the digest-sync phase.
    #[arg(long, default_value_t = 1_000)]
    differ: u64,
}

/// The most log entries the repair benchmark's regions keep, so that what
/// a stopped region missed is gone from its peer's log and only a digest
/// comparison can find it.
const SYNC_LOG_MAX: u64 = 100;

/// Region `i`'s digest of the benchmark table, and its live items.
async fn table_digest(cluster: &Cluster, i: usize) -> Result<(String, u64)> {
    let d = cluster
        .admin(i)
        .digest(pb::DigestRequest {
            table: TABLE.into(),
        })
        .await?
        .into_inner();
    Ok((d.digest, d.live_items))
}

/// Region `i`'s repair figures against peer `peer`, from its status.
async fn repair_status(cluster: &Cluster, i: usize, peer: usize) -> Result<pb::PeerStatus> {
    let status = cluster
        .admin(i)
        .status(pb::StatusRequest {})
        .await?
        .into_inner();
    status
        .peers
        .into_iter()
        .find(|p| p.peer == cluster.names[peer])
        .context("a region's status lacks its peer")
}

/// Copies every file of `from` into a new directory `to` and fsyncs the
/// copies: the raw baseline of a rebuild. Returns the bytes copied.
fn raw_copy(from: &Path, to: &Path) -> Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        bytes += std::fs::copy(entry.path(), &dest)?;
        std::fs::File::open(&dest)?.sync_all()?;
    }
    Ok(bytes)
}

/// Two regions; region 0 writes `items`, region 1 receives them through
/// the log. Region 0 is stopped, its data directory copied (the baseline)
/// and deleted, and restarted empty: everything it held was its own
/// writes, which region 1's log does not hold, so only anti-entropy can
/// bring them back. Timed from the restart until both digests are equal.
pub async fn repair(a: RepairArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(3);
    let items = if smoke { 2_000 } else { a.items };
    let differ = if smoke { 200 } else { a.differ.min(items) };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "repair",
        smoke,
        reps,
        json!({"items": items, "differ": differ, "log_max_entries": SYNC_LOG_MAX, "clients": a.clients, "batch": 25, "max_secs": max.as_secs()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let mut cluster = Cluster::start_with(2, false, dir.path(), |f| {
            f.log_retain_entries = 0;
            f.log_max_entries = SYNC_LOG_MAX;
        })
        .await?;
        let result = async {
            cluster.create_table().await?;
            load_table(&cluster, a.clients, items, max, "r-").await?;
            wait_drained(&cluster, &[0, 1], max).await?;
            cluster.stop_region(0).await?;
            let data = cluster.data_dir(0);
            let copy = dir.path().join("raw-copy");
            let t = Instant::now();
            let raw_bytes = raw_copy(&data, &copy)?;
            let raw = t.elapsed();
            std::fs::remove_dir_all(&copy)?;
            std::fs::remove_dir_all(&data)?;
            let t = Instant::now();
            cluster.restart_region(0).await?;
            let want = table_digest(&cluster, 1).await?;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                // The table itself arrives by the log; until then it has no digest.
                if let Ok(got) = table_digest(&cluster, 0).await
                    && got == want
                {
                    break;
                }
                if t.elapsed() >= max {
                    bail!(
                        "the wiped region was not rebuilt within {} s",
                        max.as_secs()
                    );
                }
            }
            let rebuilt = t.elapsed();
            let peer = repair_status(&cluster, 0, 1).await?;
            let seeded = cluster
                .admin(0)
                .status(pb::StatusRequest {})
                .await?
                .into_inner()
                .seeded
                .unwrap_or_default();

            // Digest sync: region 1 misses `differ` updates that its peer's
            // log no longer holds; its round after the restart finds them.
            cluster.stop_region(1).await?;
            load(&cluster, 0, a.clients, differ, 25, None, max, "r-").await?;
            let t = Instant::now();
            loop {
                let st = cluster
                    .admin(0)
                    .status(pb::StatusRequest {})
                    .await?
                    .into_inner();
                if st.log_head - st.log_start < SYNC_LOG_MAX {
                    break;
                }
                if t.elapsed() >= max {
                    bail!(
                        "region 0's log was not truncated within {} s",
                        max.as_secs()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let t = Instant::now();
            cluster.restart_region(1).await?;
            loop {
                if table_digest(&cluster, 1).await? == table_digest(&cluster, 0).await? {
                    break;
                }
                if t.elapsed() >= max {
                    bail!("the regions did not agree within {} s", max.as_secs());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let synced = t.elapsed();
            let sync = repair_status(&cluster, 1, 0).await?;
            anyhow::Ok((
                raw,
                raw_bytes,
                rebuilt,
                (peer, seeded),
                want.1,
                synced,
                sync,
            ))
        }
        .await;
        cluster.shutdown().await;
        let (raw, raw_bytes, rebuilt, (peer, seeded), live, synced, sync) = result?;
        let item_bytes = item(&format!("r-{}", differ.saturating_sub(1))).len() as u64;
        let differing_bytes = sync.repair_keys * item_bytes;
        let exchanged = sync.repair_bytes_sent + sync.repair_bytes_received;
        // The bound: twice the differing items plus the tree nodes
        // on their paths; the tree is every byte that is not a fetched head.
        let fetched = sync.repair_item_bytes_received;
        let tree = exchanged - fetched;
        r.add("sync: keys repaired", "keys", sync.repair_keys as f64);
        r.add(
            "sync: differing items' bytes",
            "KiB",
            differing_bytes as f64 / 1024.0,
        );
        r.add("sync: bytes exchanged", "KiB", exchanged as f64 / 1024.0);
        r.add(
            "sync: exchanged / differing items",
            "ratio",
            exchanged as f64 / differing_bytes.max(1) as f64,
        );
        r.add(
            "sync: of which tree nodes and head lists",
            "KiB",
            tree as f64 / 1024.0,
        );
        r.add(
            "sync: of which fetched heads",
            "KiB",
            fetched as f64 / 1024.0,
        );
        r.add(
            "sync: (exchanged − tree) / differing items",
            "ratio",
            fetched as f64 / differing_bytes.max(1) as f64,
        );
        r.add("sync: restart → digests equal", "s", synced.as_secs_f64());
        let rate = live as f64 / rebuilt.as_secs_f64().max(1e-6);
        let raw_rate = live as f64 / raw.as_secs_f64().max(1e-6);
        r.add("raw copy of the store (baseline)", "items/s", raw_rate);
        r.add("rebuild of the wiped region", "items/s", rate);
        r.add("rebuild / raw copy", "ratio", rate / raw_rate);
        r.add(
            "rebuild time (restart → digests equal)",
            "s",
            rebuilt.as_secs_f64(),
        );
        r.add("raw copy bytes", "MiB", raw_bytes as f64 / 1048576.0);
        r.add(
            "seed: snapshot copied from the peer",
            "MiB",
            seeded.bytes as f64 / 1048576.0,
        );
        r.add(
            "seed: fetch and checks, of the rebuild",
            "s",
            seeded.micros as f64 / 1e6,
        );
        r.add(
            "repair bytes received",
            "MiB",
            peer.repair_bytes_received as f64 / 1048576.0,
        );
        r.add(
            "repair bytes sent",
            "MiB",
            peer.repair_bytes_sent as f64 / 1048576.0,
        );
        r.runs.push(json!({
            "rep": rep, "items": live, "raw_copy_s": raw.as_secs_f64(), "raw_bytes": raw_bytes,
            "sync_keys": sync.repair_keys, "sync_bytes_sent": sync.repair_bytes_sent,
            "sync_bytes_received": sync.repair_bytes_received, "sync_item_bytes_received": fetched, "sync_s": synced.as_secs_f64(),
            "rebuilt_s": rebuilt.as_secs_f64(), "repair_rounds": peer.repair_rounds,
            "repair_keys": peer.repair_keys, "repair_bytes_sent": peer.repair_bytes_sent,
            "repair_bytes_received": peer.repair_bytes_received,
            "seeded_from": seeded.peer, "seed_bytes": seeded.bytes, "seed_s": seeded.micros as f64 / 1e6,
        }));
    }
    r.target(
        "≥ 100,000 items/s",
        "rebuild of the wiped region",
        true,
        100_000.0,
    );
    r.target(
        "sync: at most twice the differing items, tree nodes included",
        "sync: exchanged / differing items",
        false,
        2.0,
    );
    r.target(
        "sync: at most twice the differing items plus the tree nodes on their paths",
        "sync: (exchanged − tree) / differing items",
        false,
        2.0,
    );
    r.target("≥ 0.3 × a raw copy", "rebuild / raw copy", true, 0.3);
    r.notes.push("rebuild time runs from the restart of the wiped region (its start-up included) until its digest equals its peer's: the region copies its peer's store (seeding), then repair finds nothing left to move; the raw copy copies and fsyncs the stopped store's files".into());
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ disk

#[derive(Args, Debug)]
pub struct DiskArgs {
    #[command(flatten)]
    common: Common,
    /// Overwrites (BatchWrite of 25).
    #[arg(long, default_value_t = 1_000_000)]
    writes: u64,
    /// Distinct keys the overwrites go to.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// `log_retain_entries` of the cluster: log entries kept once peers have them.
    #[arg(long, default_value_t = 10_000)]
    retain: u64,
    /// Concurrent BatchWrite clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time limit of the load and of the truncation, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

/// Two regions; region 0 overwrites `keys` keys `writes` times in all, in
/// two halves, and region 1 applies them. After each half, once region 1
/// has applied everything and region 0 has truncated its log to the
/// retention, region 0's data directory is measured: against its live data
/// (the items' encoded bytes), and the second half against the first,
/// which a bounded store does not outgrow.
pub async fn disk(a: DiskArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(1);
    let (writes, keys) = if smoke {
        (4_000, 200)
    } else {
        (a.writes, a.keys)
    };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "disk",
        smoke,
        reps,
        json!({"writes": writes, "keys": keys, "retain": a.retain, "clients": a.clients, "batch": 25}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let retain = a.retain;
        let cluster = Cluster::start_with(2, false, dir.path(), |f| {
            f.log_retain_entries = retain;
        })
        .await?;
        let result = async {
            cluster.create_table().await?;
            // Two halves: the store must not grow in the second.
            let mut sizes = Vec::new();
            let mut loaded = Vec::new();
            for half in 0..2 {
                let l = load_keys(
                    &cluster,
                    0,
                    Via::Grpc,
                    a.clients,
                    writes / 2,
                    keys,
                    25,
                    None,
                    max,
                    "d-",
                )
                .await?;
                loaded.push(l);
                wait_drained(&cluster, &[0, 1], max).await?;
                // Truncation runs every second; wait until it caught up.
                let t = Instant::now();
                let status = loop {
                    let st = cluster
                        .admin(0)
                        .status(pb::StatusRequest {})
                        .await?
                        .into_inner();
                    if st.log_head.saturating_sub(st.log_start) < retain + 1_000 {
                        break st;
                    }
                    if t.elapsed() >= max {
                        bail!(
                            "half {half}: the log kept {} entries after {} s",
                            st.log_head - st.log_start,
                            max.as_secs()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                let data = cluster.data_dir(0);
                let wal = std::fs::metadata(data.join("meridian.db-wal")).map_or(0, |m| m.len());
                sizes.push((
                    dir_size(&data)?,
                    wal,
                    status.log_head - status.log_start + 1,
                ));
            }
            anyhow::Ok((loaded, sizes))
        }
        .await;
        cluster.shutdown().await;
        let (loaded, sizes) = result?;
        let (half, (store, wal, kept)) = (sizes[0].0, sizes[1]);
        let live = keys * item(&format!("d-{}", keys - 1)).len() as u64;
        let written: u64 = loaded.iter().map(|l| l.items).sum();
        let took: f64 = loaded.iter().map(|l| l.elapsed.as_secs_f64()).sum();
        r.add("overwrite rate", "items/s", written as f64 / took);
        r.add("store after the first half", "MiB", half as f64 / 1048576.0);
        r.add(
            "growth in the second half",
            "ratio",
            store as f64 / half as f64,
        );
        r.add("live data (baseline)", "MiB", live as f64 / 1048576.0);
        r.add("store on disk, all files", "MiB", store as f64 / 1048576.0);
        r.add("of which the WAL", "MiB", wal as f64 / 1048576.0);
        r.add("store / live data", "ratio", store as f64 / live as f64);
        r.add("log entries kept", "entries", kept as f64);
        r.runs.push(json!({
            "rep": rep, "written": written, "store_bytes_half": half, "store_bytes": store, "wal_bytes": wal, "live_bytes": live,
            "log_kept": kept,
        }));
    }
    r.target(
        "bounded: the second half of the writes grows the store by at most 10 %",
        "growth in the second half",
        false,
        1.1,
    );
    r.notes.push("live data: the keys' items as encoded; the store: every file of the region's data directory (database, WAL, shared memory), after the log was truncated to the retention".into());
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ backup

#[derive(Args, Debug)]
pub struct BackupArgs {
    #[command(flatten)]
    common: Common,
    /// Items in the table (loaded with BatchWrite of 25).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Concurrent BatchWrite clients for the loads.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of writes measured without, then with, backups running.
    #[arg(long, default_value_t = 5)]
    write_secs: u64,
    /// Time limit for each load and for the restore, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

/// Waits until region `i`'s restore of `table` has loaded every item, and
/// returns how many it loaded.
async fn restore_done(cluster: &Cluster, i: usize, table: &str, max: Duration) -> Result<u64> {
    use meridian_cluster::wait::{Step, poll};
    poll(
        "the restore did not finish",
        max,
        Duration::from_millis(50),
        || async {
            let list = cluster
                .admin(i)
                .list_backups(pb::ListBackupsRequest::default())
                .await;
            match list.map(|l| l.into_inner().restores) {
                Ok(restores) => match restores.into_iter().find(|r| r.table == table) {
                    Some(r) if !r.error.is_empty() => Step::Fail(r.error),
                    Some(r) if !r.in_progress => Step::Done(r.loaded),
                    Some(r) => Step::NotYet(format!("{} of {} loaded", r.loaded, r.total)),
                    None => Step::Fail(format!("no restore of {table}")),
                },
                Err(e) => Step::Fail(e.to_string()),
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

/// A table of `items` items in one region: a backup of it against a plain
/// copy of the store's files; write throughput while backups run, against
/// the same load without them; and a restore to the point in time before
/// `items` overwrites, which the history must undo one by one.
pub async fn backup(a: BackupArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(1);
    let items = if smoke { 2_000 } else { a.items };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let write_for = Duration::from_secs(if smoke { 1 } else { a.write_secs });
    let mut r = Report::new(
        "backup",
        smoke,
        reps,
        json!({"items": items, "clients": a.clients, "batch": 25, "write_secs": write_for.as_secs(), "max_secs": max.as_secs()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let cluster = Cluster::start_with(1, false, dir.path(), |_| {}).await?;
        let result = async {
            cluster.create_table().await?;
            load_table(&cluster, a.clients, items, max, "b-").await?;
            let copy = dir.path().join("raw-copy");
            let t = Instant::now();
            let raw_bytes = raw_copy(&cluster.data_dir(0), &copy)?;
            let raw = t.elapsed();
            std::fs::remove_dir_all(&copy)?;
            let t = Instant::now();
            let taken = cluster
                .admin(0)
                .create_backup(pb::CreateBackupRequest {
                    table: TABLE.into(),
                    name: "bench".into(),
                })
                .await?
                .into_inner();
            let took = t.elapsed();

            // The same overwriting load, alone and then beside backups
            // taken back to back.
            let overwrite = |count| {
                load_keys(
                    &cluster,
                    0,
                    Via::Grpc,
                    a.clients,
                    count,
                    items,
                    25,
                    None,
                    write_for,
                    "b-",
                )
            };
            let alone = overwrite(u64::MAX).await?;
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut admin = cluster.admin(0);
            let backups = tokio::spawn({
                let stop = stop.clone();
                async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        admin
                            .create_backup(pb::CreateBackupRequest {
                                table: TABLE.into(),
                                name: format!("during-{n}"),
                            })
                            .await?;
                        n += 1;
                    }
                    anyhow::Ok(n)
                }
            });
            let beside = overwrite(u64::MAX).await;
            stop.store(true, Ordering::Relaxed);
            let during = backups.await??;
            let beside = beside?;

            // Point in time: recovery on, then every item overwritten once
            // (one history row each), then the table restored to before.
            cluster
                .admin(0)
                .set_recovery(pb::SetRecoveryRequest {
                    table: TABLE.into(),
                    period_days: 1,
                })
                .await?;
            let before = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_micros() as u64;
            let changed = load_keys(
                &cluster,
                0,
                Via::Grpc,
                a.clients,
                items,
                items,
                25,
                None,
                max,
                "b-",
            )
            .await?;
            let t = Instant::now();
            let status = cluster
                .admin(0)
                .restore_to_time(pb::RestoreToTimeRequest {
                    table: TABLE.into(),
                    target_table: "restored".into(),
                    at_micros: before,
                    replicas: Vec::new(),
                })
                .await?
                .into_inner();
            let rebuilt = t.elapsed();
            let restored = restore_done(&cluster, 0, "restored", max).await?;
            let restore = t.elapsed();
            if restored != status.total || status.total != items {
                bail!(
                    "restored {restored} of {} items ({items} in the table)",
                    status.total
                );
            }
            anyhow::Ok((
                raw,
                raw_bytes,
                took,
                taken,
                alone,
                beside,
                during,
                changed.items,
                rebuilt,
                restore,
            ))
        }
        .await;
        cluster.shutdown().await;
        let (raw, raw_bytes, took, taken, alone, beside, during, changed, rebuilt, restore) =
            result?;
        let mib = |bytes: u64| bytes as f64 / 1048576.0;
        let raw_rate = mib(raw_bytes) / raw.as_secs_f64().max(1e-6);
        let backup_rate = mib(taken.size_bytes) / took.as_secs_f64().max(1e-6);
        r.add(
            "plain copy of the store's files (baseline)",
            "MiB/s",
            raw_rate,
        );
        r.add("backup of the table", "MiB/s", backup_rate);
        r.add("backup / plain copy", "ratio", backup_rate / raw_rate);
        r.add("backup time", "s", took.as_secs_f64());
        r.add("backup file", "MiB", mib(taken.size_bytes));
        r.add("store files copied", "MiB", mib(raw_bytes));
        let rate = |l: &Load| l.items as f64 / l.elapsed.as_secs_f64().max(1e-6);
        r.add("writes alone (baseline)", "items/s", rate(&alone));
        r.add("writes while backups run", "items/s", rate(&beside));
        r.add(
            "writes while backups run / alone",
            "ratio",
            rate(&beside) / rate(&alone),
        );
        r.add("backups taken during the writes", "backups", during as f64);
        r.add(
            "restore to a point in time: rate",
            "items/s",
            items as f64 / restore.as_secs_f64().max(1e-6),
        );
        r.add(
            "restore to a point in time: time",
            "s",
            restore.as_secs_f64(),
        );
        r.add(
            "of which the table at the instant, rebuilt",
            "s",
            rebuilt.as_secs_f64(),
        );
        r.add(
            "history rows undone (overwrites after the instant)",
            "rows",
            changed as f64,
        );
        r.runs.push(json!({
            "rep": rep, "raw_s": raw.as_secs_f64(), "raw_bytes": raw_bytes,
            "backup_s": took.as_secs_f64(), "backup_bytes": taken.size_bytes, "backup_items": taken.items,
            "alone_items": alone.items, "alone_s": alone.elapsed.as_secs_f64(),
            "beside_items": beside.items, "beside_s": beside.elapsed.as_secs_f64(), "backups_during": during,
            "history_rows": changed, "restore_rebuild_s": rebuilt.as_secs_f64(), "restore_s": restore.as_secs_f64(),
        }));
    }
    // A backup is taken online: writes must go on beside it. The restore's
    // time and rate are reported without a target; the 100,000 items/s
    // asked of a new replica is `bench fill`'s (a restore writes through
    // the write path, so its items reach every replica through the log).
    r.target(
        "≥ 0.5: writes go on while backups are taken back to back (a backup is online)",
        "writes while backups run / alone",
        true,
        0.5,
    );
    r.finish(&a.common.out)?;
    Ok(())
}

// ------------------------------------------------------------------ fill

#[derive(Args, Debug)]
pub struct FillArgs {
    #[command(flatten)]
    common: Common,
    /// Items in the table before the new replica is added (loaded with
    /// BatchWrite of 25).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Concurrent BatchWrite clients for the load.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Time limit for the load and for the fill, in seconds.
    #[arg(long, default_value_t = 900)]
    max_secs: u64,
}

/// Two regions; the table is created in region 0 only and loaded with
/// `items` items there. The baseline is a plain copy of region 0's store
/// files. Then region 0 is asked to add a replica in region 1, which fills
/// from it (docs/replicas.md); timed from the request until region 1
/// reports the fill done and the replica `ACTIVE`.
pub async fn fill(a: FillArgs) -> Result<()> {
    let smoke = a.common.smoke;
    let reps = a.common.reps(1);
    let items = if smoke { 2_000 } else { a.items };
    let max = Duration::from_secs(if smoke { 60 } else { a.max_secs });
    let mut r = Report::new(
        "fill",
        smoke,
        reps,
        json!({"items": items, "clients": a.clients, "batch": 25, "max_secs": max.as_secs()}),
    );
    r.machine = a.common.machine()?;
    for rep in 0..reps {
        let dir = a.common.tempdir()?;
        let cluster = Cluster::start(2, false, dir.path()).await?;
        let result = async {
            cluster
                .create_table_on(vec![cluster.names[0].clone()])
                .await?;
            load_table(&cluster, a.clients, items, max, "f-").await?;
            let copy = dir.path().join("raw-copy");
            let t = Instant::now();
            let raw_bytes = raw_copy(&cluster.data_dir(0), &copy)?;
            let raw = t.elapsed();
            std::fs::remove_dir_all(&copy)?;
            let t = Instant::now();
            cluster
                .admin(0)
                .update_replicas(pb::UpdateReplicasRequest {
                    table: TABLE.into(),
                    create: vec![cluster.names[1].clone()],
                    delete: Vec::new(),
                })
                .await?;
            let filled = meridian_cluster::wait::poll(
                "the new replica did not fill",
                max,
                Duration::from_millis(20),
                || async {
                    match cluster.admin(1).status(pb::StatusRequest {}).await {
                        Ok(s) => {
                            match s.into_inner().fills.into_iter().find(|f| f.table == TABLE) {
                                Some(f) => meridian_cluster::wait::Step::Done(f),
                                None => {
                                    meridian_cluster::wait::Step::NotYet("still CREATING".into())
                                }
                            }
                        }
                        Err(e) => meridian_cluster::wait::Step::NotYet(e.message().to_string()),
                    }
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            let took = t.elapsed();
            if filled.items != items {
                bail!(
                    "the fill copied {} items, the table holds {items}",
                    filled.items
                );
            }
            anyhow::Ok((raw, raw_bytes, took, filled))
        }
        .await;
        cluster.shutdown().await;
        let (raw, raw_bytes, took, filled) = result?;
        let per_s = |d: Duration| items as f64 / d.as_secs_f64().max(1e-6);
        r.add(
            "raw copy of the store's files (baseline)",
            "items/s",
            per_s(raw),
        );
        r.add("fill of the new replica", "items/s", per_s(took));
        r.add(
            "fill / raw copy",
            "ratio",
            raw.as_secs_f64() / took.as_secs_f64().max(1e-6),
        );
        r.add("fill time (request → ACTIVE)", "s", took.as_secs_f64());
        r.add("items moved", "items", filled.items as f64);
        r.add(
            "bytes received by the new replica",
            "MiB",
            filled.bytes as f64 / 1048576.0,
        );
        r.add("store files copied", "MiB", raw_bytes as f64 / 1048576.0);
        r.runs.push(json!({
            "rep": rep, "raw_s": raw.as_secs_f64(), "raw_bytes": raw_bytes,
            "fill_s": took.as_secs_f64(), "fill_region_s": filled.micros as f64 / 1e6,
            "items": filled.items, "bytes": filled.bytes,
        }));
    }
    r.target(
        "≥ 100,000 items/s (issue: fill rate of a new replica)",
        "fill of the new replica",
        true,
        100_000.0,
    );
    r.finish(&a.common.out)?;
    Ok(())
}
