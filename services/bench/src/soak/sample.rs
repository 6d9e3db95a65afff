//! `bench soak`'s samples: every region's resources and replication state
//! as it already exposes them. Its `/metrics` (the process's resident
//! memory and open file descriptors), its Admin Status (log rows kept,
//! conflicts recorded, what is pending per link, the latency histogram of
//! every inbound link), its store files on disk, and the table's heads read
//! from its store file (read-only, as the drill's checker reads them) for
//! the tombstones it holds. A region that is down gives what its files
//! give; the rest is missing, never zero.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use meridian_proto::v1 as pb;
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::phase::q_ms;
use crate::probe::dir_size;
use crate::report::finite;

/// Longest one region's Status or `/metrics` may take: one that does not
/// answer in time is counted as down for this sample.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest `/metrics` page read.
const METRICS_LIMIT: usize = 8 << 20;

/// One region at one instant.
#[derive(Clone, Debug, Default)]
pub(super) struct RegionSample {
    pub(super) rss_bytes: Option<u64>,
    pub(super) open_fds: Option<u64>,
    pub(super) store_bytes: u64,
    pub(super) wal_bytes: u64,
    /// Everything in the data directory.
    pub(super) disk_bytes: u64,
    pub(super) log_rows: Option<u64>,
    /// Of the table's heads, the tombstones and the live items.
    pub(super) tombstones: Option<u64>,
    pub(super) items: Option<u64>,
    /// Conflicts recorded and kept (none is dropped before its retention).
    pub(super) conflicts: Option<u64>,
    /// Per peer: mutations of this region's log it has not applied.
    pub(super) pending: BTreeMap<String, u64>,
    /// Per peer: the cumulative latency buckets of its mutations applied
    /// here.
    pub(super) buckets: BTreeMap<String, Vec<u64>>,
}

/// One figure of a region's sample, where it has one.
pub(super) type Reading = fn(&RegionSample) -> Option<u64>;

/// Every region at one instant, `t_ms` after the soak started.
#[derive(Clone, Debug, Default)]
pub(super) struct Sample {
    pub(super) t_ms: u64,
    pub(super) regions: Vec<RegionSample>,
}

/// The value of an unlabelled or labelled sample `name` in a Prometheus
/// text page: the first line of that metric.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
}

async fn scrape(addr: SocketAddr) -> Option<String> {
    let url = format!("http://{addr}/metrics");
    let res = meridian_cluster::http::get(&url, METRICS_LIMIT, ASK_TIMEOUT)
        .await
        .ok()?;
    res.ok()
        .then(|| String::from_utf8_lossy(&res.body).into_owned())
}

/// Tombstones and live items among `table`'s heads in the store under
/// `data_dir`; `None` when it cannot be read (no table yet).
fn heads_count(data_dir: &Path, table: &str) -> Option<(u64, u64)> {
    let heads = meridian_cluster::state::heads(data_dir, table).ok()?;
    let tombstones = heads.values().filter(|h| h.image.is_none()).count() as u64;
    Some((tombstones, heads.len() as u64 - tombstones))
}

/// Samples region `i` of `cluster`.
async fn sample_region(cluster: &Cluster, i: usize, table: &str) -> RegionSample {
    let data = cluster.data_dir(i);
    let db = meridian_store::db_path(&data);
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let mut s = RegionSample {
        store_bytes: len(&db),
        wal_bytes: len(Path::new(&wal)),
        disk_bytes: dir_size(&data).unwrap_or(0),
        ..RegionSample::default()
    };
    if let Some(addr) = cluster.file().regions[i].metrics
        && let Some(page) = scrape(addr).await
    {
        s.rss_bytes = metric(&page, "process_resident_memory_bytes").map(|v| v as u64);
        s.open_fds = metric(&page, "process_open_fds").map(|v| v as u64);
    }
    let status =
        tokio::time::timeout(ASK_TIMEOUT, cluster.admin(i).status(pb::StatusRequest {})).await;
    if let Ok(Ok(st)) = status {
        let st = st.into_inner();
        s.log_rows = Some(st.log_head.saturating_sub(st.log_start));
        s.conflicts = Some(st.conflicts);
        for p in st.peers {
            s.pending.insert(p.peer.clone(), p.pending);
            s.buckets.insert(p.peer, p.latency_buckets);
        }
    }
    let table = table.to_string();
    if let Ok(Some((t, n))) = tokio::task::spawn_blocking(move || heads_count(&data, &table)).await
    {
        s.tombstones = Some(t);
        s.items = Some(n);
    }
    s
}

/// Samples every region at `start`, one interval after, ... until `end`
/// (inclusive): the count is bounded by the plan, and each sample's asks by
/// [`ASK_TIMEOUT`].
pub(super) async fn sample_until(
    cluster: &Cluster,
    table: &str,
    start: Instant,
    every: Duration,
    count: u64,
) -> Vec<Sample> {
    let mut out = Vec::new();
    for k in 0..count {
        tokio::time::sleep_until(start + every * k as u32).await;
        let t_ms = Instant::now().duration_since(start).as_millis() as u64;
        let regions = futures::future::join_all(
            (0..cluster.names.len()).map(|i| sample_region(cluster, i, table)),
        )
        .await;
        out.push(Sample { t_ms, regions });
    }
    out
}

/// Per directed link `from → to`, the latency buckets of the mutations
/// applied over `earlier` → `later` (none across a restart of the
/// receiver, whose counts start over).
pub(super) fn link_windows(
    names: &[String],
    earlier: &Sample,
    later: &Sample,
) -> BTreeMap<String, Vec<u64>> {
    let mut out = BTreeMap::new();
    for (i, (a, b)) in earlier.regions.iter().zip(&later.regions).enumerate() {
        for (peer, counts) in &b.buckets {
            let before = a.buckets.get(peer).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(w) = meridian_core::lag::window(before, counts) {
                out.insert(format!("{peer} → {}", names[i]), w);
            }
        }
    }
    out
}

/// The samples as the JSON holds them: per sample and region the figures,
/// with the pending and the p99 (over the interval before) of every link.
pub(super) fn to_json(names: &[String], samples: &[Sample]) -> Json {
    let rows: Vec<Json> = samples
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let windows = match k {
                0 => BTreeMap::new(),
                _ => link_windows(names, &samples[k - 1], s),
            };
            let regions: serde_json::Map<String, Json> = s
                .regions
                .iter()
                .zip(names)
                .map(|(r, name)| {
                    let pending: serde_json::Map<String, Json> = r
                        .pending
                        .iter()
                        .map(|(peer, p)| (format!("{name} → {peer}"), json!(p)))
                        .collect();
                    (
                        name.clone(),
                        json!({
                            "rss_bytes": r.rss_bytes,
                            "open_fds": r.open_fds,
                            "store_bytes": r.store_bytes,
                            "wal_bytes": r.wal_bytes,
                            "disk_bytes": r.disk_bytes,
                            "log_rows": r.log_rows,
                            "tombstones": r.tombstones,
                            "items": r.items,
                            "conflicts": r.conflicts,
                            "pending": pending,
                        }),
                    )
                })
                .collect();
            let p99: serde_json::Map<String, Json> = windows
                .iter()
                .map(|(link, w)| (link.clone(), json!(finite(q_ms(w, 0.99)))))
                .collect();
            json!({"t_ms": s.t_ms, "regions": regions, "p99_ms": p99})
        })
        .collect();
    Json::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_is_read_with_or_without_labels_and_never_from_a_longer_name() {
        let page = "# HELP process_open_fds Open\n\
                    process_open_fds_total 99\n\
                    process_open_fds{region=\"a\"} 17\n\
                    process_resident_memory_bytes 1.5e8\n";
        assert_eq!(metric(page, "process_open_fds"), Some(17.0));
        assert_eq!(metric(page, "process_resident_memory_bytes"), Some(1.5e8));
        assert_eq!(metric(page, "process_max_fds"), None);
    }

    #[test]
    fn a_link_window_is_left_out_across_a_restart() {
        let names: Vec<String> = vec!["a".into(), "b".into()];
        let at = |n: u64| {
            let mut counts = vec![0u64; meridian_core::lag::BUCKETS];
            counts[3] = n;
            Sample {
                t_ms: 0,
                regions: vec![
                    RegionSample {
                        buckets: [("b".to_string(), counts)].into(),
                        ..Default::default()
                    },
                    RegionSample::default(),
                ],
            }
        };
        let w = link_windows(&names, &at(10), &at(25));
        assert_eq!(w["b → a"][3], 15);
        assert!(link_windows(&names, &at(25), &at(10)).is_empty());
    }
}
