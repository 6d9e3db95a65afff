//! `bench memory`: a region's RSS and database size after a load.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use super::Common;
use super::cluster::Cluster;
use super::load::{item, load};
use super::probe::{dir_size, rss};
use super::report::Report;

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
