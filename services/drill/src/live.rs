//! Live drills: every region is a real `meridian region` OS process with its
//! own SQLite file, and every region reaches every peer through its own
//! link proxy (in this process), where faults are injected. A crash is a
//! SIGKILL; a restart starts the process again on the same data directory.
//!
//! The cluster is a [`meridian_cluster::LocalCluster`], as under `meridian
//! up`: its control API runs too, so `meridian net show --config
//! <out>/cluster.toml` watches a drill, and every fault is applied by
//! [`meridian_cluster::Executor`] through that API, exactly as `meridian
//! net` applies it.

use std::path::Path;
use std::time::Duration;

use meridian_cluster::local::loopback_file;
use meridian_cluster::{ClusterError, Executor, LocalCluster, Logs};
use meridian_scenario::scenario::{Action, Scenario};
use tonic::transport::Endpoint;

use crate::target::{FaultError, Faults, RegionTarget};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    Setup(String),
}

/// How long a region gets to serve at start and after a restart.
const START_WAIT: Duration = Duration::from_secs(30);

/// A cluster of region processes behind link proxies, started for a drill.
pub struct LiveCluster {
    local: LocalCluster,
    faults: Executor,
}

impl LiveCluster {
    /// Writes a cluster file under `dir`, starts the link proxies and their
    /// control API, then one region process per scenario region, sets the
    /// scenario's base latencies, and waits until every region serves.
    pub async fn start(scenario: &Scenario, exe: &Path, dir: &Path) -> Result<Self, LiveError> {
        let data = dir.join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(|source| ClusterError::Io {
                context: format!("wiping {}", data.display()),
                source,
            })?;
        }
        let mut file = loopback_file(
            &format!("drill-{}", scenario.name),
            &data,
            &scenario.regions,
            true,
        )?;
        // Under "normal" a live crash is still a kill -9, which loses
        // nothing: the operating system keeps what the region wrote.
        file.durability = scenario.durability.as_str().into();
        file.max_clock_offset_ms = (scenario.max_clock_offset.as_millis() as u64).max(1);
        file.tombstone_retain_secs = scenario.tombstone_retain.as_secs();
        file.repair_interval_ms = scenario.repair_interval.as_millis() as u64;
        let (period, burst) = crate::capacity::region_settings(scenario);
        file.autoscaling_period_ms = period.as_millis() as u64;
        file.burst_capacity_s = burst.as_secs();
        let lanes = crate::table::lane_model(scenario);
        file.replication_order = crate::table::replication_order(scenario);
        file.replication_partitions = lanes.partitions;
        file.replication_lane_delay_ms = lanes.delay_mean.as_secs_f64() * 1e3;
        file.replication_lane_delay_max_ms = lanes.delay_max.as_secs_f64() * 1e3;
        let path = dir.join("cluster.toml");
        file.write(&path).map_err(ClusterError::from)?;
        let local =
            LocalCluster::network(&path, file, exe, Logs::Dir(dir.join("logs")), Vec::new())
                .await?;
        let faults = local
            .executor()
            .ok_or_else(|| LiveError::Setup("the drill's cluster file has no [netsim]".into()))?;
        let mut me = LiveCluster { local, faults };
        if let Err(e) = me.set_up(scenario).await {
            me.local.stop().await;
            return Err(e);
        }
        Ok(me)
    }

    /// The scenario's base latencies, then the regions.
    async fn set_up(&mut self, scenario: &Scenario) -> Result<(), LiveError> {
        base_latencies(&self.faults, scenario).await?;
        self.faults.restart_wait = START_WAIT;
        self.local.processes.start_all().await?;
        self.local.wait_serving(START_WAIT).await?;
        Ok(())
    }

    /// The cluster file, for `meridian status --config` during a drill.
    pub fn cluster_file(&self) -> &Path {
        &self.local.path
    }

    pub fn targets(&self) -> Result<Vec<RegionTarget>, LiveError> {
        let file = &self.local.file;
        file.regions
            .iter()
            .map(|r| {
                let channel = Endpoint::from_shared(format!("http://{}", r.grpc))
                    .map_err(|e| LiveError::Setup(e.to_string()))?
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .connect_lazy();
                Ok(RegionTarget {
                    admin_token: None,
                    name: r.name.clone(),
                    admin: channel.clone(),
                    channel,
                    data_dir: file.data_dir.join(&r.name),
                })
            })
            .collect()
    }

    /// Stops every region (SIGTERM, then SIGKILL after 10 s) and the proxies.
    pub async fn stop(mut self) {
        self.local.stop().await;
    }
}

/// Puts the scenario's latency and jitter on every link `faults` drives:
/// the network every live drill starts from, its own cluster's or a
/// running one's.
pub(crate) async fn base_latencies(
    faults: &Executor,
    scenario: &Scenario,
) -> Result<(), ClusterError> {
    for ((a, b), l) in &scenario.latency {
        faults
            .apply(&Action::Latency {
                from: a.clone(),
                to: b.clone(),
                both: false,
                latency: Some(*l),
                jitter: Some(scenario.jitter),
                distribution: Some(scenario.distribution),
            })
            .await?;
    }
    Ok(())
}

/// Ends every partition, isolation and flap on the proxies `faults`
/// drives, if any is on: the first step of `heal_all` for every cluster a
/// live drill runs against. Returns whether there was one.
pub(crate) async fn heal_cut_links(faults: &Executor) -> Result<bool, FaultError> {
    let failed = |e: ClusterError| FaultError::Failed(e.to_string());
    if !faults.cut().await.map_err(failed)? {
        return Ok(false);
    }
    faults
        .apply(&Action::Heal {
            link: None,
            region: None,
        })
        .await
        .map_err(failed)?;
    Ok(true)
}

/// [`Faults::heal_all`] for regions that run as processes of this one:
/// every cut link healed, then every region whose process is not running
/// restarted. A live drill's cluster and `meridian bench soak`'s both heal
/// this way.
pub async fn heal_local(
    faults: &Executor,
    processes: &meridian_cluster::Processes,
) -> Result<Vec<String>, FaultError> {
    let mut done = Vec::new();
    if heal_cut_links(faults).await? {
        done.push("heal all".to_string());
    }
    for p in processes.list().await {
        if p.state != meridian_netsim::ProcessState::Running {
            faults
                .apply(&Action::Restart {
                    region: p.name.clone(),
                })
                .await
                .map_err(|e| FaultError::Failed(e.to_string()))?;
            done.push(format!("restart {}", p.name));
        }
    }
    Ok(done)
}

impl Faults for LiveCluster {
    async fn apply(&mut self, action: &Action) -> Result<(), FaultError> {
        if let Action::Skew { .. } = action {
            return Err(FaultError::Unsupported(
                "skew is applied through the Admin API".into(),
            ));
        }
        self.faults
            .apply(action)
            .await
            .map(|_| ())
            .map_err(|e| FaultError::Failed(e.to_string()))
    }

    async fn heal_all(&mut self) -> Result<Vec<String>, FaultError> {
        heal_local(&self.faults, &self.local.processes).await
    }

    async fn region_write(
        &mut self,
        region: &str,
        _ops: Vec<meridian_store::CatalogChange>,
    ) -> Result<(), FaultError> {
        Err(crate::target::no_region_write("a live drill", region))
    }
}
