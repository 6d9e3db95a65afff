//! `bench fill`: a new replica filling from a loaded table, against a raw
//! copy of the first region's store files.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::load_table;
use super::probe::raw_copy;
use super::report::Report;

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
                    witness: String::new(),
                    consistency: String::new(),
                })
                .await?;
            let filled = wait_filled(&cluster, max).await?;
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

/// Region 1's fill of the table, once it reports one done.
async fn wait_filled(cluster: &Cluster, max: Duration) -> Result<pb::ReplicaFill> {
    meridian_cluster::wait::poll(
        "the new replica did not fill",
        max,
        Duration::from_millis(20),
        || async {
            match cluster.admin(1).status(pb::StatusRequest {}).await {
                Ok(s) => match s.into_inner().fills.into_iter().find(|f| f.table == TABLE) {
                    Some(f) => meridian_cluster::wait::Step::Done(f),
                    None => meridian_cluster::wait::Step::NotYet("still CREATING".into()),
                },
                Err(e) => meridian_cluster::wait::Step::NotYet(e.message().to_string()),
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
