//! One replication phase, shared by `bench replicate` and `bench tls`:
//! every region writes at a fixed rate; the phase yields the replication
//! latency per region pair, the peak backlog and the CPU it cost.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use meridian_core::lag;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::load::{Via, load_keys};
use super::probe::{Used, used_now};
use super::report::{Report, ms};
use super::status::{Snapshot, max_pending, snapshot, wait_drained};

pub(super) struct Phase {
    pub(super) achieved: f64,
    pub(super) pairs: BTreeMap<String, Vec<u64>>,
    pub(super) all: Vec<u64>,
    pub(super) max_pending: u64,
    pub(super) cpu: PhaseCpu,
    /// Writes accepted, over every region.
    pub(super) writes: u64,
    /// Entries shipped and versions coalesced over every link during the
    /// phase ([`LinkCounts`]).
    pub(super) shipped: u64,
    pub(super) coalesced: u64,
}

/// The CPU a phase cost, from its first write until everything replicated.
/// The cost per write is not a constant: with CPU to spare, groups and
/// batches are smaller and the same writes take more commits and wake-ups,
/// so it falls as the rate rises. CPU busy near 100 % marks saturation.
pub(super) struct PhaseCpu {
    /// Regions' CPU (user + system) per write accepted, in µs.
    pub(super) region_per_write_us: f64,
    /// This process's CPU per write: the clients and the link proxies.
    pub(super) bench_per_write_us: f64,
    /// Share of all cores busy with regions and this process, in %.
    pub(super) busy_percent: f64,
    /// The regions' threads' context switches per write accepted: the
    /// wake-ups a write costs across the cluster.
    pub(super) region_switches_per_write: f64,
}

/// Measures [`PhaseCpu`]: the regions' and this process's CPU time from
/// `start` to `finish`.
pub(super) struct CpuMeter {
    all: Vec<usize>,
    before: Used,
    started: Instant,
}

impl CpuMeter {
    pub(super) fn start(cluster: &Cluster) -> Result<CpuMeter> {
        let all: Vec<usize> = (0..cluster.names.len()).collect();
        let before = used_now(cluster, &all)?;
        Ok(CpuMeter {
            all,
            before,
            started: Instant::now(),
        })
    }

    /// The CPU spent since `start`, per one of `writes`.
    pub(super) fn finish(self, cluster: &Cluster, writes: u64) -> Result<PhaseCpu> {
        let after = used_now(cluster, &self.all)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let writes = writes.max(1) as f64;
        let (region, bench) = (
            after.regions - self.before.regions,
            after.bench - self.before.bench,
        );
        let switches = after
            .region_switches
            .saturating_sub(self.before.region_switches);
        Ok(PhaseCpu {
            region_per_write_us: region * 1e6 / writes,
            bench_per_write_us: bench * 1e6 / writes,
            busy_percent: 100.0 * (region + bench) / (self.started.elapsed().as_secs_f64() * cores),
            region_switches_per_write: switches as f64 / writes,
        })
    }
}

/// What the regions cost with nothing to do: the timers, polls and
/// keep-alives of a cluster left running between drills.
pub(super) struct Idle {
    /// CPU per region, in % of one core.
    pub(super) cpu_percent: f64,
    /// Context switches per second per region: wake-ups that found no work.
    pub(super) switches_per_sec: f64,
}

/// Measures [`Idle`] over `secs` seconds of the cluster taking no requests.
pub(super) async fn idle(cluster: &Cluster, secs: u64) -> Result<Idle> {
    let all: Vec<usize> = (0..cluster.names.len()).collect();
    let before = used_now(cluster, &all)?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = used_now(cluster, &all)?;
    let per_region_sec = started.elapsed().as_secs_f64() * all.len().max(1) as f64;
    Ok(Idle {
        cpu_percent: 100.0 * (after.regions - before.regions) / per_region_sec,
        switches_per_sec: after.region_switches.saturating_sub(before.region_switches) as f64
            / per_region_sec,
    })
}

pub(super) fn hi_bucket_ms(counts: &[u64]) -> f64 {
    counts
        .iter()
        .rposition(|c| *c > 0)
        .map_or(f64::NAN, |b| ms(lag::bucket_upper_micros(b)))
}

pub(super) fn q_ms(counts: &[u64], q: f64) -> f64 {
    lag::quantile_micros(counts, q).map_or(f64::NAN, ms)
}

pub(super) async fn phase(
    cluster: &Cluster,
    rate: u64,
    secs: u64,
    clients: usize,
    tag: &str,
) -> Result<Phase> {
    phase_over(cluster, rate, secs, clients, 0, tag).await
}

/// [`phase`], every region's writes going to `keys` items of its own
/// (`keys` = 0: each write a new item).
pub(super) async fn phase_over(
    cluster: &Cluster,
    rate: u64,
    secs: u64,
    clients: usize,
    keys: u64,
    tag: &str,
) -> Result<Phase> {
    let all: Vec<usize> = (0..cluster.names.len()).collect();
    let before = snapshot(cluster, &all).await?;
    let links_before = link_counts_to(cluster, &all, None).await?;
    let meter = CpuMeter::start(cluster)?;
    let count = rate * secs;
    let max = Duration::from_secs(secs + 5);
    let rate_f = Some(rate as f64);
    let prefixes: Vec<String> = all.iter().map(|i| format!("{tag}-{i}-")).collect();
    let loads = async {
        futures::future::join_all(all.iter().zip(&prefixes).map(|(i, p)| {
            load_keys(
                cluster,
                *i,
                Via::Grpc,
                clients,
                count,
                keys,
                1,
                rate_f,
                max,
                p,
            )
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()
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
    let writes = loads.iter().map(|l| l.items).sum();
    let cpu = meter.finish(cluster, writes)?;
    let after = snapshot(cluster, &all).await?;
    let links_after = link_counts_to(cluster, &all, None).await?;
    let (pairs, total) = lag_windows(cluster, &all, &before, &after);
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
        writes,
        shipped: links_after.shipped - links_before.shipped,
        coalesced: links_after.coalesced - links_before.coalesced,
    })
}

/// The replication latency each link saw between `before` and `after`
/// (the growth of its buckets), keyed `peer→region`, and the sum over every
/// link: what a phase reports of its lag.
fn lag_windows(
    cluster: &Cluster,
    all: &[usize],
    before: &Snapshot,
    after: &Snapshot,
) -> (BTreeMap<String, Vec<u64>>, Vec<u64>) {
    let mut pairs = BTreeMap::new();
    let mut total = vec![0u64; lag::BUCKETS];
    for i in all {
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
    (pairs, total)
}

/// What the regions shipped to their peers, summed over every link.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LinkCounts {
    /// Log entries shipped.
    pub(super) shipped: u64,
    /// Versions left out, a later version of the item standing for them.
    pub(super) coalesced: u64,
}

/// The regions in `alive`'s outbound counts, over every link (to `to`
/// alone when given).
pub(super) async fn link_counts_to(
    cluster: &Cluster,
    alive: &[usize],
    to: Option<&str>,
) -> Result<LinkCounts> {
    let mut out = LinkCounts::default();
    for &i in alive {
        let s = cluster
            .admin(i)
            .status(meridian_proto::v1::StatusRequest {})
            .await?
            .into_inner();
        for p in s.peers.iter().filter(|p| to.is_none_or(|t| p.peer == t)) {
            out.shipped += p.shipped;
            out.coalesced += p.coalesced;
        }
    }
    Ok(out)
}

/// A phase's achieved rate, lag p99 and CPU figures, each row named
/// after `tag`.
pub(super) fn add_rate_p99_cpu(r: &mut Report, tag: &str, p: &Phase) {
    r.add(
        &format!("{tag} achieved rate/region"),
        "writes/s",
        p.achieved,
    );
    r.add(&format!("{tag} p99"), "ms", q_ms(&p.all, 0.99));
    add_cpu(r, tag, &p.cpu);
}

/// A phase's CPU figures: what a write cost, and how busy the machine was.
pub(super) fn add_cpu(r: &mut Report, tag: &str, cpu: &PhaseCpu) {
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
    r.add(
        &format!("{tag} region wake-ups/write"),
        "switches",
        cpu.region_switches_per_write,
    );
}
