//! `meridian region` (one region in the foreground) and `meridian up` (every
//! region of a cluster file as its own OS process, so a region can really be
//! killed).
//!
//! With a `[netsim]` section, `up` also runs the link proxy in-process: one
//! proxy per directed link, created before any region starts, and the
//! control API (Toxiproxy's routes plus `/meridian/regions`, through which
//! `meridian net crash`/`restart` kill and start region processes).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meridian_netsim::supervisor::BoxFuture;
use meridian_netsim::{ProcessState, RegionProcess, Registry, Supervisor, SupervisorError};
use meridian_region::{Clocks, ClusterFile, Mode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

use crate::load_cluster;

pub async fn run_region(
    config: &Path,
    region: Option<&str>,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    let cluster = load_cluster(config)?;
    let name = match region {
        Some(r) => r.to_string(),
        None if cluster.regions.len() == 1 => cluster.regions[0].name.clone(),
        None => bail!(
            "--region is required: {} lists {}",
            config.display(),
            cluster.region_names().join(", ")
        ),
    };
    let mut cfg = cluster.region_config(&name)?;
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    let (grpc, metrics) = meridian_region::bind(&cfg).await?;
    let dynamo = match cfg.dynamo_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the DynamoDB endpoint {addr}"))?,
        ),
        None => None,
    };
    let region = meridian_region::start(cfg, grpc, metrics, Clocks::system(), Mode::Threads)
        .await
        .with_context(|| format!("starting region {name}"))?;
    let (stop_front, front_stopped) = tokio::sync::watch::channel(false);
    let front = dynamo.map(|listener| {
        let config = meridian_dynamo::FrontConfig {
            keys: cluster.dynamodb_keys.clone(),
        };
        let front = meridian_dynamo::Front::new(region.ops(), config);
        tokio::spawn(meridian_dynamo::serve(front, listener, front_stopped))
    });
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!(region = %name, "shutting down");
    let _ = stop_front.send(true);
    if let Some(f) = front {
        let _ = f.await;
    }
    region.shutdown().await;
    Ok(())
}

/// Starts one region process, its log lines prefixed with its name.
fn spawn_region(exe: &Path, config: &Path, name: &str) -> Result<Child> {
    let mut child = Command::new(exe)
        .arg("region")
        .arg("--config")
        .arg(config)
        .arg("--region")
        .arg(name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting region {name}"))?;
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tag = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{tag}] {line}");
            }
        });
    }
    Ok(child)
}

/// Polls until the address accepts TCP connections, with a deadline.
async fn wait_listening(addr: std::net::SocketAddr, deadline: Duration) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// One region process under `up`.
struct Proc {
    name: String,
    grpc: std::net::SocketAddr,
    child: Option<Child>,
    pid: Option<u32>,
    state: ProcessState,
    exit: Option<String>,
}

impl Proc {
    fn view(&self) -> RegionProcess {
        RegionProcess {
            name: self.name.clone(),
            grpc: self.grpc.to_string(),
            pid: self.pid,
            state: self.state,
            exit: self.exit.clone(),
        }
    }

    /// Notices a process that ended by itself; true the first time.
    fn reap(&mut self) -> bool {
        if self.state != ProcessState::Running {
            return false;
        }
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                self.state = ProcessState::Exited;
                self.exit = Some(status.to_string());
                self.child = None;
                true
            }
            _ => false,
        }
    }
}

/// Every region process of the cluster. The control API crashes and
/// restarts them through this; `up` itself only reports and, at the end,
/// stops them. A region that crashes or exits is never a reason to stop
/// the others: surviving a lost region is what the cluster is for.
struct Regions {
    exe: PathBuf,
    config: PathBuf,
    procs: tokio::sync::Mutex<Vec<Proc>>,
}

impl Regions {
    /// Where the region called `name` is, or an error listing the known ones.
    fn index(name: &str, procs: &[Proc]) -> Result<usize, SupervisorError> {
        procs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Self::unknown(name, procs))
    }

    fn unknown(name: &str, procs: &[Proc]) -> SupervisorError {
        SupervisorError::Unknown {
            name: name.to_string(),
            known: procs
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    async fn do_crash(&self, name: &str) -> Result<RegionProcess, SupervisorError> {
        let mut procs = self.procs.lock().await;
        let i = Self::index(name, &procs)?;
        let p = &mut procs[i];
        p.reap();
        if p.state != ProcessState::Running {
            return Err(SupervisorError::NotRunning {
                name: name.to_string(),
                state: p.state,
            });
        }
        if let Some(mut child) = p.child.take() {
            // SIGKILL, then wait: once it is reaped its ports are free.
            child
                .kill()
                .await
                .map_err(|e| SupervisorError::Failed(format!("killing region {name}: {e}")))?;
        }
        p.state = ProcessState::Crashed;
        p.exit = Some("killed (SIGKILL) through the control API".into());
        eprintln!(
            "region {name} crashed (SIGKILL, pid {}) through the control API; the others keep running",
            p.pid.unwrap_or(0)
        );
        Ok(p.view())
    }

    async fn do_restart(&self, name: &str) -> Result<RegionProcess, SupervisorError> {
        let mut procs = self.procs.lock().await;
        let i = Self::index(name, &procs)?;
        let p = &mut procs[i];
        p.reap();
        if p.state == ProcessState::Running {
            return Err(SupervisorError::AlreadyRunning {
                name: name.to_string(),
                pid: p.pid.unwrap_or(0),
            });
        }
        let child = spawn_region(&self.exe, &self.config, name)
            .map_err(|e| SupervisorError::Failed(format!("{e:#}")))?;
        p.pid = child.id();
        p.child = Some(child);
        p.state = ProcessState::Running;
        p.exit = None;
        eprintln!(
            "region {name} restarted (pid {}) on its data directory",
            p.pid.unwrap_or(0)
        );
        Ok(p.view())
    }
}

impl Supervisor for Regions {
    fn regions(&self) -> BoxFuture<'_, Vec<RegionProcess>> {
        Box::pin(async move {
            let mut procs = self.procs.lock().await;
            procs
                .iter_mut()
                .map(|p| {
                    p.reap();
                    p.view()
                })
                .collect()
        })
    }

    fn crash<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>> {
        Box::pin(self.do_crash(name))
    }

    fn restart<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>> {
        Box::pin(self.do_restart(name))
    }
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
            .with_context(|| {
                format!(
                    "creating proxy {} on {} (is another `meridian up` or `meridian netsim` running?)",
                    link.name, link.listen
                )
            })?;
    }
    Ok(registry)
}

/// Binds the control API; a clear message when the port is taken.
pub async fn bind_api(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "binding the netsim control API on {addr} (is another `meridian up` or `meridian netsim` running?)"
        )
    })
}

/// The proxy table of the banner.
pub fn print_links(cluster: &ClusterFile) {
    let w = cluster
        .links()
        .iter()
        .map(|l| l.name.chars().count())
        .max()
        .unwrap_or(0);
    println!("  {:<w$}  {:<22} upstream", "proxy", "listen");
    for l in cluster.links() {
        println!(
            "  {:<w$}  {:<22} {}",
            l.name,
            l.listen.to_string(),
            l.upstream
        );
    }
    println!(
        "  (proxy A>B carries the connection A opens to B: A's mutations upstream, B's acks downstream)"
    );
}

pub async fn up(config: &Path, wipe: bool) -> Result<()> {
    let cluster = load_cluster(config)?;
    if wipe && cluster.data_dir.exists() {
        std::fs::remove_dir_all(&cluster.data_dir)
            .with_context(|| format!("wiping {}", cluster.data_dir.display()))?;
        println!("wiped {}", cluster.data_dir.display());
    }
    // The proxies listen before any region dials them, and the control API
    // is up before the regions, so a failure to bind stops us early.
    let (stop_api, api_stopped) = tokio::sync::watch::channel(false);
    let mut api_task = None;
    let regions = Arc::new(Regions {
        exe: std::env::current_exe().context("locating the meridian binary")?,
        config: config.to_path_buf(),
        procs: tokio::sync::Mutex::new(Vec::new()),
    });
    if let Some(netsim) = &cluster.netsim {
        let listener = bind_api(netsim.api).await?;
        let registry = start_link_proxies(&cluster).await?;
        let supervisor: Arc<dyn Supervisor> = regions.clone();
        let mut stopped = api_stopped.clone();
        api_task = Some(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) =
                meridian_netsim::api::serve_with(registry, Some(supervisor), listener, shutdown)
                    .await
            {
                tracing::error!(error = %e, "netsim control API failed");
            }
        }));
    }
    {
        let mut procs = regions.procs.lock().await;
        for r in &cluster.regions {
            let child = spawn_region(&regions.exe, config, &r.name)?;
            procs.push(Proc {
                name: r.name.clone(),
                grpc: r.grpc,
                pid: child.id(),
                child: Some(child),
                state: ProcessState::Running,
                exit: None,
            });
        }
    }
    for r in &cluster.regions {
        if !wait_listening(r.grpc, Duration::from_secs(20)).await {
            stop_all(&regions).await;
            bail!(
                "region {} did not start listening on {} within 20 s",
                r.name,
                r.grpc
            );
        }
    }
    println!(
        "\nMeridian cluster {:?}: {} regions up",
        cluster.name,
        cluster.regions.len()
    );
    println!(
        "  {:<16} {:<18} {:<24} {:<32} data",
        "region", "grpc", "dynamodb", "metrics"
    );
    for r in &cluster.regions {
        println!(
            "  {:<16} {:<18} {:<24} {:<32} {}",
            r.name,
            r.grpc.to_string(),
            r.dynamo.map(|d| format!("http://{d}")).unwrap_or_default(),
            r.metrics
                .map(|m| format!("http://{m}/metrics"))
                .unwrap_or_default(),
            cluster.data_dir.join(&r.name).display()
        );
    }
    if let Some(netsim) = &cluster.netsim {
        println!(
            "\nPeers reach each other through the link proxy. Control API (Toxiproxy-compatible, plus /meridian/regions): http://{}",
            netsim.api
        );
        print_links(&cluster);
    }
    println!(
        "\nTry:  meridian table create --region {} --name demo --partition-key id:S",
        cluster.regions[0].name
    );
    println!("      meridian status");
    if cluster.netsim.is_some() && cluster.regions.len() > 1 {
        let (a, b) = (&cluster.regions[0].name, &cluster.regions[1].name);
        println!("      meridian net lag {a} {b} 40ms --jitter 5ms --both");
        println!("      meridian net partition {a} {b}        # then: meridian net heal");
        println!("      meridian net show");
    }
    println!("Ctrl-C stops every region.\n");

    let mut term = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                for p in regions.procs.lock().await.iter_mut() {
                    if p.reap() {
                        eprintln!(
                            "region {} exited ({}); the others keep running",
                            p.name,
                            p.exit.as_deref().unwrap_or("?")
                        );
                    }
                }
            }
        }
    }
    stop_all(&regions).await;
    let _ = stop_api.send(true);
    if let Some(t) = api_task
        && tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
    {
        eprintln!("the control API did not stop within 5 s");
    }
    println!("all regions stopped");
    Ok(())
}

/// SIGTERM to every running region, then waits (SIGKILL after 10 s).
async fn stop_all(regions: &Regions) {
    let mut procs = regions.procs.lock().await;
    let running: Vec<_> = procs
        .iter_mut()
        .filter(|p| p.state == ProcessState::Running)
        .collect();
    println!("stopping {} regions", running.len());
    let mut waiting = Vec::new();
    for p in running {
        let Some(child) = p.child.as_mut() else {
            continue;
        };
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) on a child we started and have not reaped, so
            // the pid still names it.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        waiting.push(p);
    }
    for p in waiting {
        let Some(child) = p.child.as_mut() else {
            continue;
        };
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            eprintln!("region {} did not stop within 10 s; killing it", p.name);
            let _ = child.kill().await;
        }
        p.state = ProcessState::Exited;
        p.exit = Some("stopped".into());
        p.child = None;
    }
}

/// `meridian netsim`: the link proxy alone, with the cluster's link proxies
/// when given a cluster file. It supervises no region processes.
pub async fn netsim(api: Option<std::net::SocketAddr>, config: Option<&Path>) -> Result<()> {
    let cluster = match config {
        Some(path) => {
            let cluster = load_cluster(path)?;
            if cluster.netsim.is_none() {
                bail!(
                    "{} has no [netsim] section, so it names no link proxies",
                    path.display()
                );
            }
            Some(cluster)
        }
        None => None,
    };
    let api = api
        .or_else(|| {
            cluster
                .as_ref()
                .and_then(|c| c.netsim.as_ref())
                .map(|n| n.api)
        })
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8474)));
    let listener = bind_api(api).await?;
    let registry = match &cluster {
        Some(c) => start_link_proxies(c).await?,
        None => Registry::new(),
    };
    println!("netsim: Toxiproxy-compatible API on http://{api}");
    if let Some(c) = &cluster {
        println!(
            "netsim: {} link proxies of cluster {:?}",
            c.links().len(),
            c.name
        );
        print_links(c);
    }
    let shutdown = async {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    meridian_netsim::api::serve(registry, listener, shutdown).await?;
    Ok(())
}
