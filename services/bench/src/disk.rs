//! `bench disk`: a fixed set of keys overwritten many times, and the
//! store's size against its live data as peers apply the log.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::Cluster;
use super::load::{Via, item, load_keys};
use super::probe::dir_size;
use super::report::Report;
use super::status::wait_drained;

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
                let status = truncated(&cluster, half, retain, max).await?;
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

/// Region 0's status once its log is truncated to about `retain` entries
/// after `half`: truncation runs every second, so this waits until it
/// caught up.
async fn truncated(
    cluster: &Cluster,
    half: usize,
    retain: u64,
    max: Duration,
) -> Result<pb::StatusResponse> {
    let t = Instant::now();
    loop {
        let st = cluster
            .admin(0)
            .status(pb::StatusRequest {})
            .await?
            .into_inner();
        if st.log_head.saturating_sub(st.log_start) < retain + 1_000 {
            return Ok(st);
        }
        if t.elapsed() >= max {
            bail!(
                "half {half}: the log kept {} entries after {} s",
                st.log_head - st.log_start,
                max.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
