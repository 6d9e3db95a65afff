//! `meridian region` (one region in the foreground) and `meridian up` (every
//! region of a cluster file as its own OS process, so a region can really be
//! killed).
//!
//! With a `[netsim]` section, `up` also runs the link proxy in-process: one
//! proxy per directed link, created before any region starts, and the
//! control API (Toxiproxy's routes plus `/meridian/regions`, through which
//! `meridian net crash`/`restart` kill and start region processes).
//! With a `[failover]` section it also serves the failover DynamoDB
//! endpoint, its status and moves under `/meridian/failover` on the same
//! API (docs/failover.md). With an `[edge]` section (and no `--no-edge`)
//! it serves one DynamoDB address for every region (docs/edge.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meridian_cluster::local::{bind_api, start_link_proxies};
use meridian_cluster::{LocalCluster, Logs};
use meridian_netsim::Registry;
use meridian_region::{Clocks, ClusterFile, Mode};
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
            ..Default::default()
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

/// `meridian certs`: issues what the cluster file's regions lack.
pub fn certs(config: &Path, dir: Option<&Path>) -> Result<()> {
    let cluster = load_cluster(config)?;
    let dir = match (dir, &cluster.tls) {
        (Some(d), _) => d.to_path_buf(),
        (None, Some(t)) => t.dir.clone(),
        (None, None) => bail!(
            "{} has no [tls] section: give --dir, or add [tls] with a dir (docs/security.md)",
            config.display()
        ),
    };
    issue_certs(&cluster, &dir)?;
    admin_token(&cluster)
}

/// Creates the cluster's admin token when its file names one and it is
/// missing, and says where it is.
fn admin_token(cluster: &ClusterFile) -> Result<()> {
    if let (Some(path), Some(_)) = (&cluster.admin_token_file, cluster.admin_token(true)?) {
        println!("mutating admin calls take the token in {}", path.display());
    }
    Ok(())
}

fn issue_certs(cluster: &ClusterFile, dir: &Path) -> Result<()> {
    let issued = meridian_region::tls::issue(dir, &cluster.certificate_names())
        .with_context(|| format!("issuing certificates in {}", dir.display()))?;
    if issued.new_ca {
        println!(
            "created the cluster's certificate authority in {}",
            dir.display()
        );
    }
    for r in &issued.issued {
        println!("issued {}/{r}.pem for region {r}", dir.display());
    }
    if !issued.kept.is_empty() {
        println!("kept the certificates of {}", issued.kept.join(", "));
    }
    Ok(())
}

/// How `meridian up` runs, beside its cluster file.
pub struct UpOptions {
    /// Delete the cluster's data directory first.
    pub wipe: bool,
    /// `None` for no dashboard, `Some(None)` for the default address.
    pub dashboard: Option<Option<SocketAddr>>,
    /// Whether the dashboard may listen off loopback (in a container).
    pub reach: crate::dashboard::Reach,
    /// Where to serve the whole cluster's `/health`, if anywhere.
    pub health: Option<SocketAddr>,
    /// False leaves the file's `[edge]` section unserved (`--no-edge`).
    pub edge: bool,
}

/// SIGTERM and SIGINT, listened for from the very start. In a container
/// `meridian up` is PID 1, which the kernel gives no default action for
/// either: a signal with no handler is dropped, and `docker stop` would
/// wait its 10 s and kill every region. A signal that arrives while the
/// regions start is kept, and stops them as soon as they are up.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    /// The name of the next stop signal.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// `meridian up`.
pub async fn up(config: &Path, options: UpOptions) -> Result<()> {
    let mut signals = StopSignals::new()?;
    let cluster = prepare(config, &options)?;
    let servers = bind_servers(&options, &cluster).await?;
    let exe = std::env::current_exe().context("locating the meridian binary")?;
    // The control API and the proxies are up before the regions, so a
    // failure to bind stops us early.
    let mut running =
        LocalCluster::network(config, cluster.clone(), &exe, Logs::Prefixed, Vec::new())
            .await?
            .start_regions()
            .await?;
    if !serving(&mut running, &cluster, &mut signals).await? {
        return Ok(());
    }
    // So `meridian status`, `net` and the item commands find this cluster
    // from any directory. Not being able to record it only costs that.
    let recorded = match meridian_cluster::current::record(config, &cluster.data_dir) {
        Ok(pointer) => pointer,
        Err(e) => {
            eprintln!("could not record the cluster file for other commands: {e}");
            None
        }
    };
    print_started(&cluster, recorded.as_deref());
    serve_until_stopped(&mut running, &cluster, servers, &mut signals).await
}

/// The cluster file as `options` run it, with what it needs on disk
/// first: its data wiped when asked, its certificates and admin token.
fn prepare(config: &Path, options: &UpOptions) -> Result<ClusterFile> {
    let mut cluster = load_cluster(config)?;
    if !options.edge {
        cluster.edge = None;
    }
    if options.wipe && cluster.data_dir.exists() {
        std::fs::remove_dir_all(&cluster.data_dir)
            .with_context(|| format!("wiping {}", cluster.data_dir.display()))?;
        println!("wiped {}", cluster.data_dir.display());
    }
    // Regions of a TLS cluster need certificates: a fresh clone gets them
    // here, so the default cluster runs TLS with nothing to do first.
    if let Some(tls) = &cluster.tls {
        issue_certs(&cluster, &tls.dir)?;
    }
    admin_token(&cluster)?;
    Ok(cluster)
}

/// The dashboard's and the cluster health's listeners, bound before any
/// region starts, so a taken port stops us early.
async fn bind_servers(options: &UpOptions, cluster: &ClusterFile) -> Result<Servers> {
    let dashboard = match options.dashboard {
        Some(addr) => Some(
            crate::dashboard::bind(addr, "--dashboard", options.reach)
                .await
                .context("the dashboard cannot start (--no-dashboard runs without it)")?,
        ),
        None => None,
    };
    let health = match options.health {
        Some(addr) => Some((
            crate::cluster_health::region_urls(cluster)?,
            crate::cluster_health::bind(addr).await?,
        )),
        None => None,
    };
    Ok(Servers {
        dashboard,
        reach: options.reach,
        health,
    })
}

/// Waits until every region serves and the profile's latencies are set:
/// `true` then; `false` when a stop was asked for meanwhile, a clean stop
/// made. A failure stops the cluster first.
async fn serving(
    running: &mut LocalCluster,
    cluster: &ClusterFile,
    signals: &mut StopSignals,
) -> Result<bool> {
    let serving = tokio::select! {
        r = running.wait_serving(Duration::from_secs(20)) => r.map(|()| None),
        s = signals.recv() => Ok(Some(s)),
    };
    match serving {
        Err(e) => {
            println!("stopping {} regions", running.stop().await);
            bail!("{e}");
        }
        Ok(Some(s)) => {
            println!("{s} while the regions were starting: stopping");
            println!("stopping {} regions", running.stop().await);
            println!("all regions stopped");
            return Ok(false);
        }
        Ok(None) => {}
    }
    if let Err(e) = profile_latencies(running, cluster).await {
        println!("stopping {} regions", running.stop().await);
        bail!("{e:#}");
    }
    Ok(true)
}

/// What `meridian up` serves beside the regions, bound before they start.
struct Servers {
    dashboard: Option<tokio::net::TcpListener>,
    reach: crate::dashboard::Reach,
    health: Option<(Vec<(String, String)>, tokio::net::TcpListener)>,
}

/// Serves the dashboard and the cluster's health, and reaps regions that
/// exit, until SIGTERM or SIGINT; then stops everything, regions last.
async fn serve_until_stopped(
    running: &mut LocalCluster,
    cluster: &ClusterFile,
    servers: Servers,
    signals: &mut StopSignals,
) -> Result<()> {
    let (stop_servers, servers_stopped) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopped = servers_stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let dashboard = match servers.dashboard {
        Some(listener) => Some(spawn_dashboard(
            cluster,
            listener,
            servers.reach,
            stopped(),
        )?),
        None => None,
    };
    let health = servers.health.map(|(urls, listener)| {
        if let Ok(addr) = listener.local_addr() {
            println!("Cluster health: http://{addr}/health");
        }
        tokio::spawn(crate::cluster_health::serve(urls, listener, stopped()))
    });
    let alarms = (!cluster.alarms.is_empty()).then(|| spawn_alarms(running, cluster, stopped()));
    println!("Ctrl-C stops every region.\n");

    reap_until_stopped(running, signals).await;
    let _ = stop_servers.send(true);
    join_servers(alarms, health, dashboard).await;
    println!("stopping {} regions", running.stop().await);
    println!("all regions stopped");
    Ok(())
}

/// Says where the dashboard is (a URL on loopback; the port to publish in
/// a container, whose own address means nothing outside it) and serves it
/// until `stopped`.
fn spawn_dashboard(
    cluster: &ClusterFile,
    listener: tokio::net::TcpListener,
    reach: crate::dashboard::Reach,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let addr = listener.local_addr()?;
    let token = cluster.client_admin_token()?;
    match reach {
        crate::dashboard::Reach::Loopback => println!(
            "\nDashboard: {}",
            crate::dashboard::url(addr, token.as_deref())
        ),
        // Its own address means nothing outside the container.
        crate::dashboard::Reach::Container => println!(
            "\nDashboard listening on {addr} in this container: open the host port published for {}",
            addr.port()
        ),
    }
    Ok(tokio::spawn(crate::dashboard::serve(
        cluster.clone(),
        listener,
        stopped,
    )))
}

/// The cluster file's alarms, evaluated here until `stopped` and served on
/// the control API for the dashboard and `meridian alarms`.
fn spawn_alarms(
    running: &LocalCluster,
    cluster: &ClusterFile,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    println!(
        "Alarms: {} evaluated every {} ms; `meridian alarms` shows their states",
        cluster.alarms.len(),
        meridian_region::ALARM_SAMPLE_INTERVAL.as_millis()
    );
    tokio::spawn(meridian_drill::cluster_alarms::run(
        cluster.clone(),
        running.alarm_board(),
        stopped,
    ))
}

/// Reaps regions that exit, saying so (the others keep running), until
/// SIGTERM or SIGINT.
async fn reap_until_stopped(running: &mut LocalCluster, signals: &mut StopSignals) {
    loop {
        tokio::select! {
            s = signals.recv() => {
                println!("{s}: stopping");
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                for (name, exit) in running.processes.reap().await {
                    eprintln!("region {name} exited ({exit}); the others keep running");
                }
            }
        }
    }
}

/// Waits, for a bounded time each, for the servers beside the regions to
/// finish once told to stop, so the regions are stopped last; a dashboard
/// that fails or will not close is reported, not waited on for ever.
async fn join_servers(
    alarms: Option<tokio::task::JoinHandle<()>>,
    health: Option<tokio::task::JoinHandle<Result<()>>>,
    dashboard: Option<tokio::task::JoinHandle<Result<()>>>,
) {
    if let Some(a) = alarms {
        let _ = tokio::time::timeout(Duration::from_secs(2), a).await;
    }
    if let Some(h) = health {
        let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
    }
    if let Some(d) = dashboard {
        match tokio::time::timeout(Duration::from_secs(5), d).await {
            Ok(Ok(Err(e))) => eprintln!("dashboard: {e:#}"),
            Ok(Err(e)) => eprintln!("dashboard: {e}"),
            Err(_) => eprintln!("dashboard: still closing connections after 5 s; left behind"),
            Ok(Ok(Ok(()))) => {}
        }
    }
}

/// What `meridian up` prints once every region serves: each region's
/// addresses, the failover endpoint and link proxy if any, commands to try,
/// and where the cluster file was `recorded` for other commands.
fn print_started(cluster: &ClusterFile, recorded: Option<&Path>) {
    println!(
        "\nMeridian cluster {:?}: {} regions up",
        cluster.name,
        cluster.regions.len()
    );
    println!(
        "  {:<16} {:<18} {:<18} {:<24} {:<32} data",
        "region", "grpc", "admin", "dynamodb", "metrics"
    );
    for r in &cluster.regions {
        println!(
            "  {:<16} {:<18} {:<18} {:<24} {:<32} {}",
            r.name,
            r.grpc.to_string(),
            r.admin_addr().to_string(),
            r.dynamo.map(|d| format!("http://{d}")).unwrap_or_default(),
            r.metrics
                .map(|m| format!("http://{m}/metrics"))
                .unwrap_or_default(),
            cluster.data_dir.join(&r.name).display()
        );
    }
    if let Some(f) = &cluster.failover {
        println!(
            "\nFailover DynamoDB endpoint: http://{} forwards to {} and fails over to {} \
             (health check every {} ms, {} failures, TTL {} ms; docs/failover.md). \
             `meridian net failover` shows it.",
            f.listen,
            f.regions[0],
            f.regions[1..].join(", then "),
            f.interval_ms,
            f.failure_threshold,
            f.ttl_ms
        );
    }
    if let Some(e) = &cluster.edge {
        println!(
            "\nEdge: http://{} serves every region, each request in the region its signature names \
             (unsigned ones in {}; docs/edge.md). For the AWS SDKs and CLI:\n  export AWS_ENDPOINT_URL=http://{}",
            e.listen,
            cluster.regions[0].name,
            meridian_region::listen::dial(e.listen)
        );
    }
    if let Some(netsim) = &cluster.netsim {
        println!(
            "\nPeers reach each other through the link proxy. Control API (Toxiproxy-compatible, plus /meridian/regions): http://{}",
            netsim.api
        );
        print_links(cluster);
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
    if let Some(p) = recorded {
        println!(
            "Recorded in {}: other meridian commands find this cluster from any directory.",
            p.display()
        );
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
    let shutdown = crate::stop_signal();
    // Calls that change links take the cluster's admin token from anywhere
    // but loopback, when the cluster file names one.
    let token = match &cluster {
        Some(c) => c.admin_token(false)?.map(Into::into),
        None => None,
    };
    meridian_netsim::api::serve_with(registry, None, None, token, listener, shutdown).await?;
    Ok(())
}

/// Puts the cluster file's profile latencies (`profile = "FILE"`, measured
/// by `meridian conformance --measure`) on the link proxy, one directed
/// link each, as `meridian net latency` would.
async fn profile_latencies(running: &LocalCluster, cluster: &ClusterFile) -> Result<()> {
    if cluster.link_latency_ms.is_empty() {
        return Ok(());
    }
    let Some(faults) = running.executor() else {
        bail!(
            "the profile {} sets link latencies, which need the link proxy: add a [netsim] section",
            cluster
                .profile
                .as_deref()
                .unwrap_or(Path::new(""))
                .display()
        );
    };
    for (from, to, ms) in &cluster.link_latency_ms {
        let action = meridian_scenario::scenario::Action::Latency {
            from: from.clone(),
            to: to.clone(),
            both: false,
            latency: Some(Duration::from_secs_f64(ms / 1e3)),
            jitter: None,
            distribution: None,
        };
        faults
            .apply(&action)
            .await
            .with_context(|| format!("setting the profile's latency on {from} → {to}"))?;
    }
    println!(
        "profile {}: {} link latencies set on the link proxy, lanes {} ms mean ({} partitions a table, {} order)",
        cluster
            .profile
            .as_deref()
            .unwrap_or(Path::new(""))
            .display(),
        cluster.link_latency_ms.len(),
        cluster.replication_lane_delay_ms,
        cluster.replication_partitions,
        cluster.replication_order.as_str()
    );
    Ok(())
}
