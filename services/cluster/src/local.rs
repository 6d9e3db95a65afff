//! A running cluster on this machine: the link proxies and their control
//! API in this process (with a `[netsim]` section), and every region as its
//! own process. `meridian up` runs one from a cluster file; live drills and
//! benchmarks write a cluster file on free loopback ports first
//! ([`loopback_file`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meridian_netsim::{Registry, Supervisor};
use meridian_region::ClusterFile;
use meridian_region::worker::{Stop, WorkerStatus, Workers};

use crate::alarms::AlarmBoard;
use crate::api::ControlApi;
use crate::faults::Executor;
use crate::ports::{free_port, free_port_run};
use crate::process::Processes;
use crate::{ClusterError, Result};

pub use crate::process::Logs;

/// A cluster file for `names` on free loopback ports, with data under
/// `data_dir`, and with `proxies` a `[netsim]` section whose control API
/// and link proxies are on free ports too.
pub fn loopback_file(
    name: &str,
    data_dir: &Path,
    names: &[String],
    proxies: bool,
) -> Result<ClusterFile> {
    // Nothing is bound until the cluster starts, so every port is drawn
    // apart from those already drawn for the same file.
    let mut taken = Vec::new();
    let proxy_ports = if proxies {
        let first = free_port_run(names.len().pow(2))?;
        taken.extend((0..names.len().pow(2) as u16).map(|k| first + k));
        Some((free_port_apart(&mut taken)?, first))
    } else {
        None
    };
    let mut regions = Vec::new();
    for n in names {
        let port = free_port_apart(&mut taken)?;
        regions.push((n.clone(), SocketAddr::from(([127, 0, 0, 1], port))));
    }
    let mut file = ClusterFile::new(name, data_dir, &regions);
    if let Some((api, first)) = proxy_ports {
        file.netsim = Some(ClusterFile::netsim_section(
            SocketAddr::from(([127, 0, 0, 1], api)),
            first,
        ));
    }
    Ok(file)
}

/// A free port not in `taken`, which it joins: a link proxy given a port
/// that is also its upstream's would dial itself until the process runs
/// out of descriptors, and two listeners given one port fail to start.
fn free_port_apart(taken: &mut Vec<u16>) -> Result<u16> {
    for _ in 0..100 {
        let port = free_port()?;
        if !taken.contains(&port) {
            taken.push(port);
            return Ok(port);
        }
    }
    Err(ClusterError::Failed(
        "found no free loopback port apart from the cluster's others".into(),
    ))
}

/// Turns on mutual TLS between the regions of a loopback cluster file: a
/// replication listener for each on a free port, and the cluster's
/// certificates issued into `certs` (docs/security.md).
pub fn enable_tls(file: &mut ClusterFile, certs: &Path) -> Result<()> {
    let mut taken: Vec<u16> = file
        .regions
        .iter()
        .flat_map(|r| [Some(r.grpc), r.metrics, r.dynamo, r.admin])
        .flatten()
        .map(|a| a.port())
        .collect();
    taken.extend(file.links().iter().map(|l| l.listen.port()));
    taken.extend(file.netsim.as_ref().map(|n| n.api.port()));
    for i in 0..file.regions.len() {
        let port = free_port_apart(&mut taken)?;
        file.regions[i].replication = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    file.tls = Some(meridian_region::config::TlsSection {
        dir: certs.to_path_buf(),
    });
    file.plaintext = false;
    meridian_region::tls::issue(certs, &file.certificate_names())
        .map_err(|e| ClusterError::Failed(format!("issuing certificates: {e}")))?;
    Ok(())
}

/// Creates one proxy per directed link of the cluster (its `[netsim]`
/// section), so that regions find their peers' proxies listening when they
/// start.
pub async fn start_link_proxies(cluster: &ClusterFile) -> Result<Registry> {
    let registry = Registry::new();
    for link in cluster.links() {
        registry
            .create(&link.name, &link.listen.to_string(), &link.upstream, true)
            .await
            .map_err(|e| {
                ClusterError::Failed(format!(
                    "creating proxy {} on {}: {e} (is another `meridian up` or `meridian netsim` running?)",
                    link.name, link.listen
                ))
            })?;
    }
    Ok(registry)
}

/// Binds the control API; a clear message when the port is taken.
pub async fn bind_api(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(ClusterError::io(format!(
            "binding the netsim control API on {addr} (is another `meridian up` or `meridian netsim` running?)"
        )))
}

/// A cluster running on this machine.
pub struct LocalCluster {
    pub file: ClusterFile,
    /// The cluster file the regions read.
    pub path: PathBuf,
    pub processes: Arc<Processes>,
    registry: Option<Registry>,
    /// This process's loops, as a region's are: the control API
    /// (`control-api`), the edge (`edge`) and the failover endpoint
    /// (`failover`, `failover-health`), all stopping on `shutdown`.
    workers: Arc<Workers>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// What the control API serves at `/meridian/alarms`: the states of
    /// the alarms `meridian up` evaluates ([`crate::alarms`]).
    alarms: AlarmBoard,
}

impl LocalCluster {
    /// Starts the network of the cluster of the file at `path` (already
    /// loaded as `file`): the control API and the link proxies, so a failure
    /// to bind stops us early, and faults (a drill's base latency) can be set
    /// before any region dials a peer. No region runs yet:
    /// [`LocalCluster::start_regions`] starts them (`exe region ...`).
    pub async fn network(
        path: &Path,
        file: ClusterFile,
        exe: &Path,
        logs: Logs,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        if let Logs::Dir(dir) = &logs {
            std::fs::create_dir_all(dir)
                .map_err(ClusterError::io(format!("creating {}", dir.display())))?;
        }
        let processes = Arc::new(Processes::new(exe, path, &file, logs, env));
        let (shutdown, stopped) = tokio::sync::watch::channel(false);
        let stop = Stop::new(stopped);
        let metrics = Arc::new(meridian_region::metrics::Metrics::new(&file.name));
        let mut me = LocalCluster {
            file,
            path: path.to_path_buf(),
            processes,
            registry: None,
            workers: Workers::new(metrics),
            shutdown,
            tasks: Vec::new(),
            alarms: AlarmBoard::default(),
        };
        let started = me.start_endpoints(&stop).await;
        if let Err(e) = started {
            me.stop().await;
            return Err(e);
        }
        Ok(me)
    }

    /// The edge, and with a `[netsim]` section the control API, the link
    /// proxies and the failover endpoint whose routes it serves.
    async fn start_endpoints(&mut self, stop: &Stop) -> Result<()> {
        let (workers, tasks) = (&self.workers, &mut self.tasks);
        crate::edge::start(&self.file, workers, stop, tasks).await?;
        let Some(netsim) = &self.file.netsim else {
            return Ok(());
        };
        let listener = bind_api(netsim.api).await?;
        let registry = start_link_proxies(&self.file).await?;
        self.registry = Some(registry.clone());
        let failover = crate::failover::start(&self.file, workers, stop, tasks).await?;
        let routes = crate::failover::routes::routes(failover)
            .merge(crate::alarms::routes(self.alarms.clone()));
        let supervisor: Arc<dyn Supervisor> = self.processes.clone();
        let token = self.file.admin_token(false)?.map(Into::into);
        tasks.push(
            workers.spawn("control-api", stop, |w, mut stop| async move {
                w.running();
                let shutdown = async move { stop.raised().await };
                if let Err(e) = meridian_netsim::api::serve_with(
                    registry,
                    Some(supervisor),
                    Some(routes),
                    token,
                    listener,
                    shutdown,
                )
                .await
                {
                    w.erroring(&e);
                    tracing::error!(error = %e, "netsim control API failed");
                }
            }),
        );
        Ok(())
    }

    /// What this process's own loops are doing (the control API, the edge,
    /// the failover endpoint), as `meridian status` shows a region's.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.workers.statuses()
    }

    /// Starts every region process; on a failure stops what was started,
    /// the control API and the proxies included. Does not wait for the
    /// regions to serve: see [`LocalCluster::wait_serving`].
    pub async fn start_regions(mut self) -> Result<Self> {
        if let Err(e) = self.processes.start_all().await {
            self.stop().await;
            return Err(e);
        }
        Ok(self)
    }

    /// Waits until every region serves (each within `within`); the first
    /// that does not, or whose process ends, fails the wait.
    pub async fn wait_serving(&self, within: Duration) -> Result<()> {
        for name in self.file.region_names() {
            self.processes.wait_serving(&name, within).await?;
        }
        Ok(())
    }

    /// Where the alarms' states go for the control API to serve them.
    pub fn alarm_board(&self) -> AlarmBoard {
        self.alarms.clone()
    }

    /// The control API's client, with a `[netsim]` section.
    pub fn api(&self) -> Option<ControlApi> {
        self.file.netsim.as_ref().map(|n| {
            ControlApi::new(n.api.to_string())
                .with_token(self.file.client_admin_token().ok().flatten())
        })
    }

    /// Applies faults to this cluster, with a `[netsim]` section.
    pub fn executor(&self) -> Option<Executor> {
        self.api().map(|api| Executor::new(self.file.clone(), api))
    }

    /// `http://<grpc>` of every region, in file order.
    pub fn urls(&self) -> Vec<String> {
        self.file
            .regions
            .iter()
            .map(|r| format!("http://{}", r.grpc))
            .collect()
    }

    /// Stops every region (SIGTERM, then SIGKILL after 10 s), then this
    /// process's loops and the proxies. Returns how many regions were
    /// running.
    pub async fn stop(&mut self) -> usize {
        let n = self.processes.stop_all().await;
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("a loop of the cluster's process did not stop within 5 s");
            }
        }
        if let Some(registry) = self.registry.take() {
            for p in registry.list() {
                p.stop();
            }
        }
        n
    }
}
