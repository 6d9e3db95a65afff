//! Replication progress as the regions report it in Status: what each
//! region has pending for each peer with its lag histogram, and waiting
//! until nothing is pending.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use meridian_proto::v1 as pb;
use tokio::time::Instant;

use super::cluster::Cluster;

/// One Status of every region: region → peer → (pending, buckets).
pub(super) type Snapshot = Vec<BTreeMap<String, (u64, Vec<u64>)>>;

pub(super) async fn snapshot(cluster: &Cluster, alive: &[usize]) -> Result<Snapshot> {
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

pub(super) fn max_pending(s: &Snapshot) -> u64 {
    s.iter()
        .flat_map(|m| m.values().map(|(p, _)| *p))
        .max()
        .unwrap_or(0)
}

/// Polls until no region has anything pending, or `max` passes. Regions not
/// in `alive` are down, so links to them count as connected here.
pub(super) async fn wait_drained(
    cluster: &Cluster,
    alive: &[usize],
    max: Duration,
) -> Result<Duration> {
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
