//! A Meridian region: a full replica that accepts reads and writes, ships its
//! own writes to every peer and applies theirs with last-writer-wins.
//!
//! [`start`] opens the store, restores the clock, and runs the gRPC server
//! (client API, replication receiver, admin), one shipper per peer and the
//! metrics endpoint. The returned [`Region`] stops it all gracefully
//! ([`Region::shutdown`]) or abruptly ([`Region::crash`]).

pub mod admin;
mod autoscaler;
pub mod backups;
pub mod bridge;
pub mod capacity;
pub mod changes;
pub mod client_auth;
pub mod client_meter;
mod cluster_alarms;
pub mod config;
pub mod convert;
pub mod edge;
mod endpoints;
mod error;
mod grants;
mod grants_refresh;
mod indexes;
pub mod limits;
pub mod listen;
pub mod membership;
pub mod metrics;
pub mod ops;
pub mod pause;
pub mod profile;
mod purge_claims;
pub mod repair;
pub mod replication;
mod resume;
pub mod runner;
pub mod seed;
pub mod service;
mod shared;
mod status;
pub mod strong;
pub mod tail;
pub mod tls;
pub mod transport;
mod truncate;
pub mod ttl;
mod untrusted;
pub mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use meridian_core::{Hlc, PhysicalClock, SkewedClock, SystemClock};
use meridian_proto::v1::admin_server::AdminServer;
use meridian_proto::v1::consensus_server::ConsensusServer;
use meridian_proto::v1::meridian_server::MeridianServer;
use meridian_proto::v1::repair_server::RepairServer;
use meridian_proto::v1::replication_server::ReplicationServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

/// HTTP/2 stream window of the region's server, in bytes: 4 MiB lets a
/// shipper keep about 13,000 entries of 300 bytes in flight per link, so an
/// 80 ms round trip still carries 150,000 entries/s.
const REPLICATION_STREAM_WINDOW: u32 = 4 << 20;

pub use bridge::{Mode, StoreBridge};
pub use cluster_alarms::ALARM_SAMPLE_INTERVAL;
pub use config::{
    ClusterFile, ConfigError, CreateTableRegions, LogFormat, PeerConfig, RegionConfig, RegionEntry,
    Retention,
};
pub use edge::EdgeSection;
pub use meridian_layout::failover::FailoverSection;
pub use replication::ReplicationTuning;
pub use shared::PeerState;
pub(crate) use shared::Shared;

#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error(transparent)]
    Store(#[from] meridian_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("moving deletion protection kept by an earlier build into the catalog: {0}")]
    LegacyProtection(String),
}

/// How a region reads time. Live regions use the system clock; the
/// simulator supplies virtual time. Skew is applied only to the HLC's view.
#[derive(Clone)]
pub struct Clocks {
    /// Unskewed time: commit timestamps for latency, never affected by skew.
    pub real: Arc<dyn PhysicalClock>,
    /// What the HLC reads: `real` plus any injected skew.
    pub skewed: Arc<SkewedClock>,
}

impl Clocks {
    pub fn system() -> Self {
        Self::from_real(Arc::new(SystemClock))
    }

    pub fn from_real(real: Arc<dyn PhysicalClock>) -> Self {
        Clocks {
            skewed: Arc::new(SkewedClock::new(real.clone())),
            real,
        }
    }
}

/// A running region.
pub struct Region {
    pub name: String,
    pub grpc_addr: SocketAddr,
    /// Replication and repair's own listener, when the config gives one.
    pub replication_addr: Option<SocketAddr>,
    /// Where admin listens apart from the client API, if it does.
    pub admin_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub clocks: Clocks,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    writer: bridge::WriterTask,
    shared: Arc<Shared>,
}

/// Binds the listeners named in the config.
pub async fn bind(
    config: &RegionConfig,
) -> Result<(TcpListener, Option<TcpListener>), RegionError> {
    let grpc = TcpListener::bind(config.grpc_listen)
        .await
        .map_err(|source| RegionError::Listen {
            addr: config.grpc_listen,
            source,
        })?;
    let metrics = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| RegionError::Listen { addr, source })?,
        ),
        None => None,
    };
    Ok((grpc, metrics))
}

/// Binds a listener the config may name, with the address it got.
async fn bind_optional(
    addr: Option<SocketAddr>,
) -> Result<Option<(TcpListener, SocketAddr)>, RegionError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listen = |source| RegionError::Listen { addr, source };
    let l = TcpListener::bind(addr).await.map_err(listen)?;
    let local = l.local_addr().map_err(listen)?;
    Ok(Some((l, local)))
}

/// Starts a region on already-bound listeners (tests bind port 0 first).
///
/// In phases, in the order their effects must happen: an empty store is
/// seeded from a peer ([`seed_store`]) before the peer-facing listeners
/// are bound; the store is opened ([`open_store`]) and what the services
/// share is built on it ([`assemble`]); the catalog is settled before
/// anything is served ([`settle_catalog`]); then the gRPC servers
/// ([`serve_grpc`]), the tasks that talk to peers ([`spawn_peer_tasks`]) and
/// the region's own loops ([`spawn_loops`]) start, and restores a previous
/// run left part-way go on.
pub async fn start(
    config: RegionConfig,
    grpc: impl Into<transport::Listener>,
    metrics_listener: Option<TcpListener>,
    clocks: Clocks,
    mode: Mode,
) -> Result<Region, RegionError> {
    let grpc = grpc.into();
    let grpc_addr = grpc.local_addr().map_err(|source| RegionError::Listen {
        addr: config.grpc_listen,
        source,
    })?;
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(files) = &config.tls {
        // Unreadable certificates fail the start, not the first connection.
        tls::server_config(files)?;
    }
    let seeded = seed_store(&config, &clocks, mode).await;
    // Bound only now: a peer seeding at the same time finds the port
    // closed and moves on, where a bound port that nobody serves yet would
    // hold its TLS handshake.
    if config.tls.is_none() {
        tracing::warn!(region = %config.name, "replication is plaintext and peers are trusted by the names they give (plaintext = true, or no TLS files): add a [tls] section to the cluster file (docs/security.md)");
    }
    let replication_listener = bind_optional(config.replication_listen).await?;
    // Admin binds here too, so status answers once the region serves.
    let admin_listener = bind_optional(config.admin_listen).await?;
    let opened = open_store(&config, mode).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let stop = worker::Stop::new(shutdown_rx);
    let Assembled {
        shared,
        writer,
        strong_inputs,
        strong_links,
    } = assemble(config, opened, &clocks, mode, seeded, stop.clone())?;
    settle_catalog(&shared).await?;
    let mut tasks = Vec::new();
    let (admin_addr, replication_addr) = serve_grpc(
        &shared,
        &stop,
        grpc,
        admin_listener,
        replication_listener,
        &mut tasks,
    )?;
    spawn_peer_tasks(&shared, &stop, strong_inputs, strong_links, &mut tasks);
    spawn_loops(&shared, &stop, metrics_listener, &mut tasks);
    // Restores a previous run left part-way go on from here.
    handle(&shared).resume_restores().await;
    tracing::info!(region = %shared.config.name, grpc = %grpc_addr, replication = ?replication_addr, admin = ?admin_addr, tls = shared.config.tls.is_some(), metrics = ?metrics_addr, "region started");
    Ok(Region {
        name: shared.config.name.clone(),
        grpc_addr,
        replication_addr,
        admin_addr,
        metrics_addr,
        clocks,
        shutdown,
        tasks,
        writer,
        shared,
    })
}

/// The region's operations as every front and loop calls them.
fn handle(shared: &Arc<Shared>) -> ops::RegionHandle {
    ops::RegionHandle {
        shared: shared.clone(),
        view: ops::View::Catalog,
    }
}

/// An empty data directory is first seeded from a peer's store, if one
/// gives it; versions in it may not pass what the drift guard accepts.
async fn seed_store(
    config: &RegionConfig,
    clocks: &Clocks,
    mode: Mode,
) -> Option<seed::SeedReport> {
    let max_physical = clocks
        .skewed
        .now_micros()
        .saturating_add(config.max_clock_offset.as_micros() as u64);
    seed::from_peers(config, max_physical, mode).await
}

/// Opens the store with the retention the config gives. Opening scans the
/// log; in live mode that runs off the async workers.
async fn open_store(config: &RegionConfig, mode: Mode) -> Result<bridge::Opened, RegionError> {
    let mut opened = match mode {
        Mode::Threads => {
            let (dir, name, durability) = (
                config.data_dir.clone(),
                config.name.clone(),
                config.durability,
            );
            tokio::task::spawn_blocking(move || bridge::Opened::open(&dir, &name, durability, mode))
                .await
                .map_err(|e| {
                    meridian_store::StoreError::Corrupt(format!("opening the store panicked: {e}"))
                })??
        }
        Mode::Inline => {
            bridge::Opened::open(&config.data_dir, &config.name, config.durability, mode)?
        }
    };
    opened
        .writer
        .set_stream_shard_age(config.retention.stream_shard_age);
    Ok(opened)
}

/// What [`assemble`] builds: the state every service shares, and what one
/// task alone takes over.
struct Assembled {
    shared: Arc<Shared>,
    /// The store's writer, joined when the region stops.
    writer: bridge::WriterTask,
    /// Strong mode's inputs, for its runtime task.
    strong_inputs: tokio::sync::mpsc::UnboundedReceiver<strong::Input>,
    /// Strong mode's outgoing queue of each peer, for its link task.
    strong_links: strong::LinkQueues,
}

/// Builds [`Shared`] on the opened store: the clock restored from it, the
/// metrics, the workers, the storage bridge with its writer, strong mode,
/// and the per-peer state of shippers and repair.
fn assemble(
    config: RegionConfig,
    opened: bridge::Opened,
    clocks: &Clocks,
    mode: Mode,
    seeded: Option<seed::SeedReport>,
    stop: worker::Stop,
) -> Result<Assembled, RegionError> {
    let hlc = Arc::new(Hlc::new(
        clocks.skewed.clone() as Arc<dyn PhysicalClock>,
        config.max_clock_offset.as_micros() as u64,
    ));
    // Causality across restarts: never issue a version below one the store
    // holds. Peers raise it further as they answer (docs/repair.md).
    if let Some(v) = &opened.max_version {
        hlc.restore(v.hlc);
    }
    let metrics = Arc::new(metrics::Metrics::new(&config.name));
    let workers = worker::Workers::new(metrics.clone());
    let (storage, writer) = StoreBridge::start_with(
        opened,
        bridge::WriterCtx {
            hlc: hlc.clone(),
            real_clock: clocks.real.clone(),
            metrics: metrics.clone(),
        },
        mode,
        &workers,
    )?;
    let repair_locks = config
        .peers
        .iter()
        .map(|p| (p.name.clone(), tokio::sync::Mutex::new(())))
        .collect();
    let repair_wake = config
        .peers
        .iter()
        .map(|p| (p.name.clone(), Arc::new(tokio::sync::Notify::new())))
        .collect();
    let config_backup_dir = config.backup_dir.clone();
    let peer_names: Vec<String> = config.peers.iter().map(|p| p.name.clone()).collect();
    let (strong, strong_inputs, strong_links) = strong::Strong::new(&peer_names, metrics.clone());
    let capacity = capacity::Capacity::new(meridian_core::throughput::Caps {
        burst: config.burst_capacity.as_secs(),
        table_quota: config.table_quota_units,
        partition_ceilings: config.partition_ceilings,
    });
    let shared = Arc::new(Shared {
        peers: config
            .peers
            .iter()
            .map(|p| (p.name.clone(), Mutex::new(PeerState::default())))
            .collect(),
        config,
        storage,
        hlc,
        metrics,
        real_clock: clocks.real.clone(),
        skewed_clock: clocks.skewed.clone(),
        workers,
        stop,
        repair_locks,
        repair_wake,
        purge: purge_claims::Purge::default(),
        seeded,
        backups: backups::Backups::load(&config_backup_dir),
        membership: Default::default(),
        strong,
        pauses: Default::default(),
        withheld: Default::default(),
        capacity,
    });
    Ok(Assembled {
        shared,
        writer,
        strong_inputs,
        strong_links,
    })
}

/// Before anything is served: deletion protection an earlier build kept as
/// this replica's own setting becomes the catalog row every region reads
/// (`meridian_core::protection`), and what the replicas' policies withhold
/// is known before the first entry arrives (`grants`; the grants worker,
/// `grants_refresh`, keeps it current).
async fn settle_catalog(shared: &Arc<Shared>) -> Result<(), RegionError> {
    handle(shared)
        .move_legacy_protection()
        .await
        .map_err(|e| RegionError::LegacyProtection(e.to_string()))?;
    if let Err(e) = grants_refresh::refresh(shared).await {
        tracing::warn!(error = %e, "working out the replicas' policies at start failed");
    }
    Ok(())
}

/// The services peers call: replication, repair and strong mode's
/// consensus, each with replication's message limit.
fn peer_services(
    shared: &Arc<Shared>,
    stop: &worker::Stop,
) -> (
    ReplicationServer<replication::ReplicationApi>,
    RepairServer<repair::RepairApi>,
    ConsensusServer<strong::ConsensusApi>,
) {
    let replication_api = ReplicationServer::new(replication::ReplicationApi {
        shared: shared.clone(),
        stop: stop.clone(),
    })
    .max_decoding_message_size(replication::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(replication::MAX_MESSAGE_BYTES);
    let repair_api = RepairServer::new(repair::RepairApi {
        shared: shared.clone(),
        snapshots: Arc::new(tokio::sync::Semaphore::new(1)),
    })
    .max_decoding_message_size(replication::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(replication::MAX_MESSAGE_BYTES);
    let consensus_api = ConsensusServer::new(strong::ConsensusApi {
        shared: shared.clone(),
        stop: stop.clone(),
    })
    .max_decoding_message_size(replication::MAX_MESSAGE_BYTES)
    .max_encoding_message_size(replication::MAX_MESSAGE_BYTES);
    (replication_api, repair_api, consensus_api)
}

/// Serves the client API, admin and the peers' services on the listeners
/// the config gives: admin on a listener of its own when it names one,
/// else with the client API; the peers' services on their own (over TLS
/// when the config has it) or, as the simulator and tests run, with the
/// client API. Returns where admin and the peers' services listen apart.
fn serve_grpc(
    shared: &Arc<Shared>,
    stop: &worker::Stop,
    grpc: transport::Listener,
    admin_listener: Option<(TcpListener, SocketAddr)>,
    replication_listener: Option<(TcpListener, SocketAddr)>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<(Option<SocketAddr>, Option<SocketAddr>), RegionError> {
    let workers = &shared.workers;
    // One load budget for both listeners (`limits`).
    let limits = limits::Limits::new(limits::MAX_GRPC_IN_FLIGHT, shared.metrics.clone());
    let client_api = client_auth::Signed::new(
        MeridianServer::new(service::ClientApi {
            ops: handle(shared),
        })
        .max_decoding_message_size(service::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(service::MAX_MESSAGE_BYTES),
        shared.config.client_keys.clone(),
        // A message and its gRPC frame header.
        service::MAX_MESSAGE_BYTES + 5,
        shared.metrics.clone(),
    );
    let admin_api = AdminServer::new(admin::AdminApi::new(shared.clone(), stop.clone()));
    let (replication_api, repair_api, consensus_api) = peer_services(shared, stop);
    let name = shared.config.name.clone();
    let (client, admin_addr) = match admin_listener {
        None => (
            server_builder(shared, limits.clone())
                .add_service(client_api)
                .add_service(admin_api),
            None,
        ),
        Some((listener, addr)) => {
            let admin = server_builder(shared, limits.clone()).add_service(admin_api);
            let n = name.clone();
            tasks.push(workers.spawn("grpc-admin", stop, move |w, stop| {
                serve(admin, listener.into(), n, w, stop)
            }));
            (
                server_builder(shared, limits.clone()).add_service(client_api),
                Some(addr),
            )
        }
    };
    let replication_addr = match replication_listener {
        None => {
            let server = client
                .add_service(replication_api)
                .add_service(repair_api)
                .add_service(consensus_api);
            tasks.push(workers.spawn("grpc", stop, move |w, stop| {
                serve(server, grpc, name, w, stop)
            }));
            None
        }
        Some((listener, addr)) => {
            let mut peers = server_builder(shared, limits);
            if let Some(files) = &shared.config.tls {
                let tls = tls::server_config(files)?;
                peers = peers.tls_config(tls).map_err(|e| {
                    RegionError::Tls(tls::TlsError::Invalid {
                        path: files.cert.clone(),
                        message: e.to_string(),
                    })
                })?;
            }
            let peers = peers
                .add_service(replication_api)
                .add_service(repair_api)
                .add_service(consensus_api);
            let n = name.clone();
            tasks.push(workers.spawn("grpc", stop, move |w, stop| serve(client, grpc, n, w, stop)));
            tasks.push(workers.spawn("grpc-peers", stop, move |w, stop| {
                serve(peers, listener.into(), name, w, stop)
            }));
            Some(addr)
        }
    };
    Ok((admin_addr, replication_addr))
}

/// Starts the tasks that talk to peers: a shipper and a repairer per
/// peer, strong mode's runtime, and its link to each peer it has a queue
/// for.
fn spawn_peer_tasks(
    shared: &Arc<Shared>,
    stop: &worker::Stop,
    strong_inputs: tokio::sync::mpsc::UnboundedReceiver<strong::Input>,
    strong_links: strong::LinkQueues,
    tasks: &mut Vec<JoinHandle<()>>,
) {
    let workers = &shared.workers;
    for peer in shared.config.peers.clone() {
        let shared = shared.clone();
        let name = format!("ship:{}", peer.name);
        tasks.push(workers.spawn(&name, stop, |w, stop| {
            replication::run_shipper(shared, peer, w, stop)
        }));
    }
    for peer in shared.config.peers.clone() {
        let shared = shared.clone();
        let name = format!("repair:{}", peer.name);
        tasks.push(workers.spawn(&name, stop, |w, stop| async move {
            if let Some(work) = repair::Repairer::new(shared, peer) {
                runner::run(work, w, stop).await;
            }
        }));
    }
    let runtime = shared.clone();
    let back = shared.strong.input();
    tasks.push(workers.spawn("strong", stop, |w, stop| {
        strong::run(runtime, strong_inputs, back, w, stop)
    }));
    for (peer, rx) in strong_links {
        let Some(config) = shared.config.peers.iter().find(|p| p.name == peer).cloned() else {
            continue;
        };
        let shared = shared.clone();
        let name = format!("strong:{peer}");
        tasks.push(workers.spawn(&name, stop, |w, stop| {
            strong::run_link(shared, config, rx, w, stop)
        }));
    }
}

/// Starts the region's own loops: replica changes, index builds, the
/// replicas' grants, auto scaling of provisioned units, pulling back what a pause or a withheld grant
/// skipped, log truncation, TTL expiry, and the metrics endpoint when it
/// has a listener.
fn spawn_loops(
    shared: &Arc<Shared>,
    stop: &worker::Stop,
    metrics_listener: Option<TcpListener>,
    tasks: &mut Vec<JoinHandle<()>>,
) {
    let workers = &shared.workers;
    let members = shared.clone();
    tasks.push(workers.spawn("replicas", stop, |w, stop| {
        runner::run(membership::Changes::new(members), w, stop)
    }));
    let builder = shared.clone();
    tasks.push(workers.spawn("indexes", stop, |w, stop| {
        runner::run(indexes::Builder::new(builder), w, stop)
    }));
    let granter = shared.clone();
    tasks.push(workers.spawn("grants", stop, |w, stop| {
        runner::run(grants_refresh::Grants::new(granter), w, stop)
    }));
    let scaler = shared.clone();
    tasks.push(workers.spawn("autoscaler", stop, |w, stop| {
        runner::run(autoscaler::Autoscaler::new(scaler), w, stop)
    }));
    let resumer = shared.clone();
    tasks.push(workers.spawn("resume", stop, |w, stop| {
        runner::run(resume::Resume::new(resumer), w, stop)
    }));
    let truncator = shared.clone();
    tasks.push(workers.spawn("truncate", stop, |w, stop| {
        runner::run(truncate::Truncator::new(truncator), w, stop)
    }));
    let ops = handle(shared);
    let interval = shared.config.ttl_interval;
    tasks.push(workers.spawn("ttl", stop, |w, stop| {
        runner::run(ttl::Reaper::new(ops, interval), w, stop)
    }));
    if let Some(l) = metrics_listener {
        let shared = shared.clone();
        tasks.push(workers.spawn("metrics-http", stop, |w, stop| {
            admin::serve_http(shared, l, w, stop)
        }));
    }
}

/// The layers around every service of a region's gRPC servers: metrics
/// outermost, so calls the load limits refuse are counted too.
type ServerLayers = tower::layer::util::Stack<
    limits::Limits,
    tower::layer::util::Stack<metrics::grpc::GrpcMetrics, tower::layer::util::Identity>,
>;

/// The region's gRPC server settings, for each of its listeners.
fn server_builder(
    shared: &Shared,
    limits: limits::Limits,
) -> tonic::transport::Server<ServerLayers> {
    tonic::transport::Server::builder()
        .layer(metrics::grpc::GrpcMetrics::new(shared.metrics.clone()))
        .layer(limits)
        .http2_keepalive_interval(Some(shared.config.replication.keepalive_interval))
        .http2_keepalive_timeout(Some(shared.config.replication.keepalive_timeout))
        .tcp_nodelay(true)
        // Flow-control windows sized for replication over long links: a
        // peer may have this much in flight per stream before it must wait
        // for the receiver to grant more, whatever the round trip.
        .initial_stream_window_size(Some(REPLICATION_STREAM_WINDOW))
        .initial_connection_window_size(Some(2 * REPLICATION_STREAM_WINDOW))
}

/// Serves `router` on `listener` until the region stops.
async fn serve<L>(
    router: tonic::transport::server::Router<L>,
    listener: transport::Listener,
    region: String,
    w: worker::Worker,
    mut stop: worker::Stop,
) where
    L: tower::Layer<tonic::service::Routes> + Clone,
    L::Service: tower::Service<
            tonic::codegen::http::Request<tonic::body::Body>,
            Response = tonic::codegen::http::Response<tonic::body::Body>,
        > + Clone
        + Send
        + 'static,
    <L::Service as tower::Service<tonic::codegen::http::Request<tonic::body::Body>>>::Future:
        Send + 'static,
    <L::Service as tower::Service<tonic::codegen::http::Request<tonic::body::Body>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let signal = async move { stop.raised().await };
    let served = match listener {
        transport::Listener::Tcp(l) => {
            // The builder's tcp_nodelay applies only to listeners tonic
            // binds itself; without it, small replies (acks, status)
            // wait on Nagle and delayed ACKs for tens of milliseconds.
            let incoming = TcpListenerStream::new(l).map(|conn| {
                conn.inspect(|s| {
                    let _ = s.set_nodelay(true);
                })
            });
            router.serve_with_incoming_shutdown(incoming, signal).await
        }
        transport::Listener::Custom { incoming, .. } => {
            router.serve_with_incoming_shutdown(incoming, signal).await
        }
    };
    if let Err(e) = served {
        tracing::error!(%region, error = %e, "gRPC server failed");
        w.erroring(e);
    }
}

impl Region {
    /// Makes the writer panic in its next group, as a bug would
    /// (`StoreBridge::inject_writer_panic`): for fault drills and tests of the
    /// writer's supervision.
    pub async fn inject_writer_panic(&self) -> Result<(), bridge::BridgeError> {
        self.shared.storage.inject_writer_panic().await
    }

    /// Why the writer stopped for good, if it has.
    pub fn writer_failure(&self) -> Option<String> {
        self.shared.storage.failure()
    }

    /// Stops accepting work, lets in-flight requests finish, closes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.shared.storage.close().await;
        drop(self.shared);
        self.writer.join().await;
    }

    /// Stops at once, like a killed process: tasks are aborted mid-flight.
    /// Whatever was committed stays; whatever was not is gone. Returns after
    /// the store file is closed, so the region can be restarted on it.
    pub async fn crash(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        // Connection tasks spawned by the server may outlive the abort and
        // still hold the storage; they get `Closed` from here on.
        let _ = self.shutdown.send(true);
        self.shared.storage.close().await;
        drop(self.shared);
        self.writer.join().await;
    }

    /// The region's operations, for fronts other than gRPC.
    pub fn ops(&self) -> ops::RegionHandle {
        handle(&self.shared)
    }

    /// The region's metrics in the text format `/metrics` serves.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Every background worker's state, as `meridian status` shows it.
    pub fn workers(&self) -> Vec<worker::WorkerStatus> {
        self.shared.workers.statuses()
    }

    /// Status of each peer link, as `meridian status` shows it.
    pub fn peer_states(&self) -> HashMap<String, PeerState> {
        self.shared
            .peers
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                )
            })
            .collect()
    }
}
