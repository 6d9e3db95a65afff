//! `bench repair`: a wiped region rebuilt by anti-entropy, against a raw
//! copy of the same store's files; and a digest sync of a few differing
//! keys.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use meridian_proto::v1 as pb;
use serde_json::json;
use tokio::time::Instant;

use super::Common;
use super::cluster::{Cluster, TABLE};
use super::load::{item, load, load_table};
use super::probe::raw_copy;
use super::report::Report;
use super::status::wait_drained;

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
            let rebuild = rebuild_wiped(&mut cluster, dir.path(), max).await?;
            let sync = digest_sync(&mut cluster, a.clients, differ, max).await?;
            anyhow::Ok((rebuild, sync))
        }
        .await;
        cluster.shutdown().await;
        let (rebuild, sync) = result?;
        let item_bytes = item(&format!("r-{}", differ.saturating_sub(1))).len() as u64;
        sync_figures(&mut r, &sync, item_bytes);
        rebuild_figures(&mut r, &rebuild);
        let (
            Rebuild {
                raw,
                raw_bytes,
                rebuilt,
                peer,
                seeded,
                live,
            },
            Sync {
                synced,
                status: sync,
            },
        ) = (rebuild, sync);
        r.runs.push(json!({
            "rep": rep, "items": live, "raw_copy_s": raw.as_secs_f64(), "raw_bytes": raw_bytes,
            "sync_keys": sync.repair_keys, "sync_bytes_sent": sync.repair_bytes_sent,
            "sync_bytes_received": sync.repair_bytes_received, "sync_item_bytes_received": sync.repair_item_bytes_received, "sync_s": synced.as_secs_f64(),
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

/// What the rebuild of the wiped region measured.
struct Rebuild {
    /// How long the raw copy of the stopped store took, and its bytes.
    raw: Duration,
    raw_bytes: u64,
    /// From the restart until the digests were equal.
    rebuilt: Duration,
    /// Region 0's repair figures against its peer.
    peer: pb::PeerStatus,
    /// How region 0 was seeded from its peer.
    seeded: pb::SeedStatus,
    /// The live items of the table.
    live: u64,
}

/// Region 0 stopped, its store copied raw (the baseline), deleted and
/// restarted empty; timed until its digest equals region 1's.
async fn rebuild_wiped(cluster: &mut Cluster, dir: &Path, max: Duration) -> Result<Rebuild> {
    cluster.stop_region(0).await?;
    let data = cluster.data_dir(0);
    let copy = dir.join("raw-copy");
    let t = Instant::now();
    let raw_bytes = raw_copy(&data, &copy)?;
    let raw = t.elapsed();
    std::fs::remove_dir_all(&copy)?;
    std::fs::remove_dir_all(&data)?;
    let t = Instant::now();
    cluster.restart_region(0).await?;
    let want = table_digest(cluster, 1).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        // The table itself arrives by the log; until then it has no digest.
        if let Ok(got) = table_digest(cluster, 0).await
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
    let peer = repair_status(cluster, 0, 1).await?;
    let seeded = cluster
        .admin(0)
        .status(pb::StatusRequest {})
        .await?
        .into_inner()
        .seeded
        .unwrap_or_default();
    Ok(Rebuild {
        raw,
        raw_bytes,
        rebuilt,
        peer,
        seeded,
        live: want.1,
    })
}

/// What the digest sync measured: how long, and region 1's repair figures.
struct Sync {
    synced: Duration,
    status: pb::PeerStatus,
}

/// Digest sync: region 1 misses `differ` updates that its peer's log no
/// longer holds; its round after the restart finds them.
async fn digest_sync(
    cluster: &mut Cluster,
    clients: usize,
    differ: u64,
    max: Duration,
) -> Result<Sync> {
    cluster.stop_region(1).await?;
    load(cluster, 0, clients, differ, 25, None, max, "r-").await?;
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
        if table_digest(cluster, 1).await? == table_digest(cluster, 0).await? {
            break;
        }
        if t.elapsed() >= max {
            bail!("the regions did not agree within {} s", max.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let synced = t.elapsed();
    let status = repair_status(cluster, 1, 0).await?;
    Ok(Sync { synced, status })
}

/// The digest sync's bytes against those of the differing items
/// (`item_bytes` each).
fn sync_figures(r: &mut Report, sync: &Sync, item_bytes: u64) {
    let Sync {
        synced,
        status: sync,
    } = sync;
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
}

/// The rebuild's rate against the raw copy's, and what seeding and
/// repair moved.
fn rebuild_figures(r: &mut Report, b: &Rebuild) {
    let rate = b.live as f64 / b.rebuilt.as_secs_f64().max(1e-6);
    let raw_rate = b.live as f64 / b.raw.as_secs_f64().max(1e-6);
    r.add("raw copy of the store (baseline)", "items/s", raw_rate);
    r.add("rebuild of the wiped region", "items/s", rate);
    r.add("rebuild / raw copy", "ratio", rate / raw_rate);
    r.add(
        "rebuild time (restart → digests equal)",
        "s",
        b.rebuilt.as_secs_f64(),
    );
    r.add("raw copy bytes", "MiB", b.raw_bytes as f64 / 1048576.0);
    r.add(
        "seed: snapshot copied from the peer",
        "MiB",
        b.seeded.bytes as f64 / 1048576.0,
    );
    r.add(
        "seed: fetch and checks, of the rebuild",
        "s",
        b.seeded.micros as f64 / 1e6,
    );
    r.add(
        "repair bytes received",
        "MiB",
        b.peer.repair_bytes_received as f64 / 1048576.0,
    );
    r.add(
        "repair bytes sent",
        "MiB",
        b.peer.repair_bytes_sent as f64 / 1048576.0,
    );
}
