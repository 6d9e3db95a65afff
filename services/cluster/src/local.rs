//! A running cluster on this machine: the link proxies and their control
//! API in this process (with a `[netsim]` section), and every region as its
//! own process. `meridian up` runs one from a cluster file; live drills and
//! benchmarks write a cluster file on free loopback ports first
//! ([`loopback_file`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meridian_netsim::{Failover, Registry, Supervisor};
use meridian_region::ClusterFile;

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
    api: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    /// The failover endpoint, with a `[failover]` section.
    failover: Option<crate::failover::Running>,
    /// The edge, with an `[edge]` section.
    edge: Option<crate::edge::Running>,
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
        let mut me = LocalCluster {
            file,
            path: path.to_path_buf(),
            processes,
            registry: None,
            api: None,
            failover: None,
            edge: None,
        };
        me.edge = crate::edge::start(&me.file).await?;
        if let Some(netsim) = &me.file.netsim {
            let listener = bind_api(netsim.api).await?;
            let registry = start_link_proxies(&me.file).await?;
            me.failover = crate::failover::start(&me.file).await?;
            let failover = me.failover.as_ref().map(|f| {
                Arc::new(crate::failover::Handle(f.endpoint.clone())) as Arc<dyn Failover>
            });
            let supervisor: Arc<dyn Supervisor> = me.processes.clone();
            let token = me.file.admin_token(false)?.map(Into::into);
            let (stop, mut stopped) = tokio::sync::watch::channel(false);
            let served = registry.clone();
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = meridian_netsim::api::serve_with(
                    served,
                    Some(supervisor),
                    failover,
                    token,
                    listener,
                    shutdown,
                )
                .await
                {
                    tracing::error!(error = %e, "netsim control API failed");
                }
            });
            me.registry = Some(registry);
            me.api = Some((stop, task));
        }
        Ok(me)
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

    /// Stops every region (SIGTERM, then SIGKILL after 10 s), then the
    /// control API and the proxies. Returns how many regions were running.
    pub async fn stop(&mut self) -> usize {
        let n = self.processes.stop_all().await;
        if let Some((stop, task)) = self.api.take() {
            let _ = stop.send(true);
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("the control API did not stop within 5 s");
            }
        }
        if let Some(registry) = self.registry.take() {
            for p in registry.list() {
                p.stop();
            }
        }
        if let Some(f) = self.failover.take() {
            f.stop().await;
        }
        if let Some(e) = self.edge.take() {
            e.stop().await;
        }
        n
    }
}
