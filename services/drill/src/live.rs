//! Live drills: every region is a real `meridian region` OS process with its
//! own SQLite file, and every region reaches every peer through its own
//! link proxy (in this process), where faults are injected. A crash is a
//! SIGKILL; a restart starts the process again on the same data directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use meridian_netsim::Registry;
use meridian_netsim::toxic::{Effect, Stream, Toxic};
use meridian_sim::scenario::{Action, PartitionKind, Scenario, directed};
use serde_json::{Map, Value as Json, json};
use tokio::process::{Child, Command};
use tonic::transport::Endpoint;

use crate::driver::{Faults, RegionTarget};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LiveError {
    let context = context.into();
    move |source| LiveError::Io { context, source }
}

/// A cluster of region processes behind link proxies, started for a drill.
pub struct LiveCluster {
    exe: PathBuf,
    cluster_file: PathBuf,
    logs: PathBuf,
    names: Vec<String>,
    grpc: Vec<SocketAddr>,
    data_dirs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
    registry: Registry,
    /// Base toxics per directed link, re-applied never removed by heals.
    base_latency: BTreeMap<(String, String), (Duration, Duration, &'static str)>,
}

/// Picks a free loopback port. Another process could take it before the
/// region binds it; the drill then fails at start with the bind error.
fn free_port() -> Result<u16, LiveError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("picking a free port"))?;
    Ok(l.local_addr().map_err(io("picking a free port"))?.port())
}

impl LiveCluster {
    /// Writes a cluster file under `dir`, starts the link proxies, then one
    /// region process per scenario region, and waits until all listen.
    pub async fn start(scenario: &Scenario, exe: &Path, dir: &Path) -> Result<Self, LiveError> {
        let data = dir.join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(io(format!("wiping {}", data.display())))?;
        }
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(io(format!("creating {}", logs.display())))?;
        let names = scenario.regions.clone();
        let mut grpc = Vec::new();
        for _ in &names {
            grpc.push(SocketAddr::from(([127, 0, 0, 1], free_port()?)));
        }
        // Proxy ports: the cluster file's [netsim] layout needs n² consecutive
        // ports; probe for a free run.
        let n = names.len();
        let first_port = find_port_run(n * n)?;
        let mut text = format!(
            "# Written by `meridian drill run` for scenario {:?}.\nname = {:?}\ndata_dir = {:?}\ndurability = \"full\"\nmax_clock_offset_ms = {}\n\n[netsim]\nfirst_port = {first_port}\n",
            scenario.name,
            format!("drill-{}", scenario.name),
            data.display().to_string(),
            scenario.max_clock_offset.as_millis().max(1),
        );
        for (name, addr) in names.iter().zip(&grpc) {
            text.push_str(&format!(
                "\n[[region]]\nname = {name:?}\ngrpc = \"{addr}\"\n"
            ));
        }
        let cluster_file = dir.join("cluster.toml");
        std::fs::write(&cluster_file, &text)
            .map_err(io(format!("writing {}", cluster_file.display())))?;
        let cluster = meridian_region::ClusterFile::load(&cluster_file)
            .map_err(|e| LiveError::Setup(e.to_string()))?;

        let registry = Registry::new();
        for link in cluster.links() {
            registry
                .create(&link.name, &link.listen.to_string(), &link.upstream, true)
                .await
                .map_err(|e| LiveError::Setup(format!("starting proxy {}: {e}", link.name)))?;
        }
        let mut base_latency = BTreeMap::new();
        for ((a, b), l) in &scenario.latency {
            base_latency.insert(
                (a.clone(), b.clone()),
                (*l, scenario.jitter, scenario.distribution.as_str()),
            );
        }
        let mut me = LiveCluster {
            exe: exe.to_path_buf(),
            cluster_file,
            logs,
            data_dirs: names.iter().map(|r| data.join(r)).collect(),
            names,
            grpc,
            children: Vec::new(),
            registry,
            base_latency,
        };
        for ((a, b), (l, j, d)) in me.base_latency.clone() {
            me.set_latency(&a, &b, l, j, d)?;
        }
        for i in 0..me.names.len() {
            let child = me.spawn(i)?;
            me.children.push(Some(child));
        }
        for i in 0..me.names.len() {
            me.wait_listening(i).await?;
        }
        Ok(me)
    }

    /// The cluster file, for `meridian status --config` during a drill.
    pub fn cluster_file(&self) -> &Path {
        &self.cluster_file
    }

    pub fn targets(&self) -> Result<Vec<RegionTarget>, LiveError> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let channel = Endpoint::from_shared(format!("http://{}", self.grpc[i]))
                    .map_err(|e| LiveError::Setup(e.to_string()))?
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .connect_lazy();
                Ok(RegionTarget {
                    name: name.clone(),
                    channel,
                    data_dir: self.data_dirs[i].clone(),
                })
            })
            .collect()
    }

    fn spawn(&self, i: usize) -> Result<Child, LiveError> {
        let log_path = self.logs.join(format!("{}.log", self.names[i]));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(format!("opening {}", log_path.display())))?;
        let err = log
            .try_clone()
            .map_err(io(format!("opening {}", log_path.display())))?;
        Command::new(&self.exe)
            .arg("region")
            .arg("--config")
            .arg(&self.cluster_file)
            .arg("--region")
            .arg(&self.names[i])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!(
                "starting region {} with {}",
                self.names[i],
                self.exe.display()
            )))
    }

    async fn wait_listening(&mut self, i: usize) -> Result<(), LiveError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(self.grpc[i]).await.is_ok() {
                return Ok(());
            }
            if let Some(Some(c)) = self.children.get_mut(i)
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(LiveError::Setup(format!(
                    "region {} exited at start ({status}); see {}",
                    self.names[i],
                    self.logs.join(format!("{}.log", self.names[i])).display()
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LiveError::Setup(format!(
                    "region {} did not listen on {} within 30 s",
                    self.names[i], self.grpc[i]
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn index(&self, name: &str) -> Result<usize, String> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("no region {name}"))
    }

    /// Both halves of the directed link `from → to`: the streams that carry
    /// bytes from `from` to `to`.
    fn halves(&self, from: &str, to: &str) -> [(String, Stream); 2] {
        [
            (
                meridian_region::config::link_name(from, to),
                Stream::Upstream,
            ),
            (
                meridian_region::config::link_name(to, from),
                Stream::Downstream,
            ),
        ]
    }

    fn put_toxic(
        &self,
        from: &str,
        to: &str,
        name: &str,
        kind: &str,
        attrs: Json,
    ) -> Result<(), String> {
        let attrs: Map<String, Json> = attrs.as_object().cloned().unwrap_or_default();
        let effect = Effect::parse(kind, &attrs).map_err(|e| e.to_string())?;
        for (proxy, stream) in self.halves(from, to) {
            let p = self.registry.get(&proxy).map_err(|e| e.to_string())?;
            let toxic_name = format!("{name}.{}", stream_name(stream));
            let _ = p.remove_toxic(&toxic_name);
            p.add_toxic(Toxic {
                name: toxic_name,
                stream,
                toxicity: 1.0,
                effect: effect.clone(),
            })
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn remove_toxic(&self, from: &str, to: &str, name: &str) {
        for (proxy, stream) in self.halves(from, to) {
            if let Ok(p) = self.registry.get(&proxy) {
                let _ = p.remove_toxic(&format!("{name}.{}", stream_name(stream)));
            }
        }
    }

    fn set_latency(
        &self,
        from: &str,
        to: &str,
        latency: Duration,
        jitter: Duration,
        distribution: &str,
    ) -> Result<(), LiveError> {
        self.put_toxic(
            from,
            to,
            "drill.latency",
            "latency",
            json!({
                "latency": latency.as_millis() as u64,
                "jitter": jitter.as_millis() as u64,
                "distribution": distribution,
            }),
        )
        .map_err(LiveError::Setup)
    }

    async fn partition(&self, from: &str, to: &str, kind: PartitionKind) -> Result<(), String> {
        match kind {
            PartitionKind::Blackhole => self.put_toxic(
                from,
                to,
                "drill.partition",
                "timeout",
                json!({"timeout": 0}),
            ),
            // Refusing acts on the connection `from` opens to `to`, as
            // `meridian net` does: open ones are reset, new ones refused.
            // Connections `to` opens stay up.
            PartitionKind::Refuse => {
                let p = self
                    .registry
                    .get(&meridian_region::config::link_name(from, to))
                    .map_err(|e| e.to_string())?;
                let _ = p.remove_toxic("drill.refuse.up");
                p.add_toxic(Toxic {
                    name: "drill.refuse.up".into(),
                    stream: Stream::Upstream,
                    toxicity: 1.0,
                    effect: Effect::ResetPeer { timeout_ms: 0 },
                })
                .map_err(|e| e.to_string())?;
                let p = self
                    .registry
                    .get(&meridian_region::config::link_name(from, to))
                    .map_err(|e| e.to_string())?;
                p.set_enabled(false).await.map_err(|e| e.to_string())
            }
        }
    }

    async fn heal_link(&self, from: &str, to: &str) -> Result<(), String> {
        for (a, b) in directed(from, to, true) {
            self.remove_toxic(&a, &b, "drill.partition");
            self.remove_toxic(&a, &b, "drill.flap");
            self.remove_toxic(&a, &b, "drill.refuse");
            let p = self
                .registry
                .get(&meridian_region::config::link_name(&a, &b))
                .map_err(|e| e.to_string())?;
            p.set_enabled(true).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn pairs_of(&self, region: &str) -> Vec<(String, String)> {
        self.names
            .iter()
            .filter(|n| n.as_str() != region)
            .map(|n| (region.to_string(), n.clone()))
            .collect()
    }

    async fn crash(&mut self, region: &str) -> Result<(), String> {
        let i = self.index(region)?;
        let Some(mut child) = self.children[i].take() else {
            return Err(format!("{region} is not running"));
        };
        child.start_kill().map_err(|e| e.to_string())?;
        tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .map_err(|_| format!("{region} did not die within 10 s of SIGKILL"))?
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn restart(&mut self, region: &str) -> Result<(), String> {
        let i = self.index(region)?;
        if self.children[i].is_some() {
            return Err(format!("{region} is already running"));
        }
        let child = self.spawn(i).map_err(|e| e.to_string())?;
        self.children[i] = Some(child);
        self.wait_listening(i).await.map_err(|e| e.to_string())
    }

    /// Stops every region (SIGTERM, then SIGKILL after 10 s) and the proxies.
    pub async fn stop(mut self) {
        for c in self.children.iter().flatten() {
            if let Some(pid) = c.id() {
                // SAFETY: kill(2) on a child this process started and has not
                // reaped yet.
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
        }
        for c in self.children.iter_mut().flatten() {
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
        for p in self.registry.list() {
            p.stop();
        }
    }
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Upstream => "up",
        Stream::Downstream => "down",
    }
}

/// Finds `count` consecutive free loopback ports.
fn find_port_run(count: usize) -> Result<u16, LiveError> {
    for _ in 0..50 {
        let start = free_port()?;
        if usize::from(start) + count >= 65_000 {
            continue;
        }
        let all_free = (0..count as u16)
            .all(|k| std::net::TcpListener::bind(("127.0.0.1", start + k)).is_ok());
        if all_free {
            return Ok(start);
        }
    }
    Err(LiveError::Setup(format!(
        "found no run of {count} free loopback ports for the link proxies"
    )))
}

impl Faults for LiveCluster {
    async fn apply(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Latency {
                from,
                to,
                both,
                latency,
                jitter,
                distribution,
            } => {
                for (a, b) in directed(from, to, *both) {
                    self.set_latency(&a, &b, *latency, *jitter, distribution.as_str())
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Action::Bandwidth {
                from,
                to,
                both,
                kbps,
            } => {
                for (a, b) in directed(from, to, *both) {
                    self.put_toxic(
                        &a,
                        &b,
                        "drill.bandwidth",
                        "bandwidth",
                        json!({"rate": kbps}),
                    )?;
                }
                Ok(())
            }
            Action::Loss {
                from,
                to,
                both,
                percent,
            } => {
                for (a, b) in directed(from, to, *both) {
                    self.put_toxic(&a, &b, "drill.loss", "loss", json!({"percent": percent}))?;
                }
                Ok(())
            }
            Action::Partition {
                from,
                to,
                both,
                kind,
            } => {
                for (a, b) in directed(from, to, *both) {
                    self.partition(&a, &b, *kind).await?;
                }
                Ok(())
            }
            Action::Isolate { region, kind } => {
                for (a, b) in self.pairs_of(region) {
                    self.partition(&a, &b, *kind).await?;
                    self.partition(&b, &a, *kind).await?;
                }
                Ok(())
            }
            Action::Flap {
                from,
                to,
                both,
                period,
                down,
            } => {
                for (a, b) in directed(from, to, *both) {
                    self.put_toxic(
                        &a,
                        &b,
                        "drill.flap",
                        "flap",
                        json!({"period_ms": period.as_millis() as u64, "down_ms": down.as_millis() as u64}),
                    )?;
                }
                Ok(())
            }
            Action::Heal { link, region } => {
                let pairs = match (link, region) {
                    (Some((a, b)), _) => vec![(a.clone(), b.clone())],
                    (None, Some(r)) => self.pairs_of(r),
                    (None, None) => self
                        .names
                        .iter()
                        .enumerate()
                        .flat_map(|(i, a)| {
                            self.names[i + 1..]
                                .iter()
                                .map(move |b| (a.clone(), b.clone()))
                        })
                        .collect(),
                };
                for (a, b) in pairs {
                    self.heal_link(&a, &b).await?;
                }
                Ok(())
            }
            Action::Crash { region } => self.crash(region).await,
            Action::Restart { region } => self.restart(region).await,
            Action::Skew { .. } => Err("skew is applied through the Admin API".into()),
        }
    }

    async fn heal_all(&mut self) -> Result<Vec<String>, String> {
        let mut done = Vec::new();
        let faulted = self.registry.list().iter().any(|p| {
            let s = p.state();
            !s.enabled
                || s.toxics.iter().any(|t| {
                    t.name.starts_with("drill.partition") || t.name.starts_with("drill.flap")
                })
        });
        if faulted {
            self.apply(&Action::Heal {
                link: None,
                region: None,
            })
            .await?;
            done.push("heal all".to_string());
        }
        for i in 0..self.names.len() {
            if self.children[i].is_none() {
                let name = self.names[i].clone();
                self.restart(&name).await?;
                done.push(format!("restart {name}"));
            }
        }
        Ok(done)
    }
}
