//! `bench write`: one region, N concurrent clients, single-item PutItem
//! and then BatchWrite, against raw rusqlite inserts of the same rows
//! (optionally also through the DynamoDB endpoint).

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::{Load, Via, item, key_bytes, load, load_keys};
use super::report::{Report, ms};

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
    conn.execute_batch(include_str!("../../store/src/schema.sql"))?;
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

/// Per repetition: the raw baseline, then single-item and batched loads
/// through gRPC, and with `--api dynamodb` through the DynamoDB endpoint,
/// alternating which goes first.
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
        figures(&mut r, rep, baseline, &single, &multi, over_http.as_ref());
    }
    targets(&mut r, a.api);
    r.finish(&a.common.out)?;
    Ok(())
}

/// One repetition's rows: the raw baseline, the gRPC loads against it,
/// and with `--api dynamodb` the same loads through the DynamoDB endpoint
/// (`over_http`) against the gRPC ones.
fn figures(
    r: &mut Report,
    rep: usize,
    baseline: f64,
    single: &Load,
    multi: &Load,
    over_http: Option<&(Load, Load)>,
) {
    let s_rate = single.items as f64 / single.elapsed.as_secs_f64();
    let b_rate = multi.items as f64 / multi.elapsed.as_secs_f64();
    if let Some((hs, hb)) = over_http {
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

/// The targets the rows are held to; the DynamoDB endpoint's only with
/// `--api dynamodb`.
fn targets(r: &mut Report, api: Api) {
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
    if api == Api::Dynamodb {
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
}
