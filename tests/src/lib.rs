//! Test harness: a cluster of real regions in one process, each on its own
//! port-0 listener and temporary data directory, talking real gRPC.
//!
//! Nothing here sleeps to wait for an outcome: [`TestCluster::wait_quiescent`]
//! polls a condition until a deadline.

pub mod containers;
pub mod peer;

use std::net::SocketAddr;
use std::time::Duration;

use meridian_core::Conflict;
use meridian_core::{
    AttrValue, Item, KeyAttr, KeySchema, KeyType, Timestamp, Version, encode_item,
};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::convert::conflict_from_pb;
use meridian_region::{Clocks, Mode, PeerConfig, Region, RegionConfig, ReplicationTuning};
use meridian_scenario::{AckedWrite, Heads};
use meridian_store::Durability;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint};

pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    pub config: RegionConfig,
    pub region: Option<Region>,
    pub clocks: Clocks,
    /// The region's DynamoDB-compatible endpoint.
    pub dynamo_addr: SocketAddr,
    dynamo: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// Serves the DynamoDB front of `region` on `listener` until stopped.
fn serve_dynamo(
    region: &Region,
    listener: TcpListener,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let front = meridian_dynamo::Front::new(region.ops(), meridian_dynamo::FrontConfig::default());
    (
        stop,
        tokio::spawn(meridian_dynamo::serve(front, listener, stopped)),
    )
}

pub struct TestCluster {
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

/// Faster reconnects than production so tests spend little time in backoff.
pub fn test_tuning() -> ReplicationTuning {
    ReplicationTuning {
        backoff_max: Duration::from_millis(300),
        refusal_retry: Duration::from_millis(100),
        ..ReplicationTuning::default()
    }
}

/// Polls `f` until it holds, panicking with `what` at the deadline. Tests
/// wait for outcomes this way, never by sleeping a fixed time.
pub async fn poll_until<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    use meridian_cluster::wait::{Step, poll};
    poll(what, within, Duration::from_millis(20), || {
        let holds = f();
        async move {
            if holds.await {
                Step::Done(())
            } else {
                Step::NotYet(String::new())
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out after {within:?} waiting for {what}"));
}

/// The key of the tests' `id` tables: partition key `id`, a string.
pub fn id_schema() -> KeySchema {
    KeySchema {
        partition: KeyAttr {
            name: "id".into(),
            ty: KeyType::S,
        },
        sort: None,
    }
}

/// A gRPC CreateTable of an `id` table held by `replicas` (every region
/// when empty), `consistency` `""` (EVENTUAL) or `"STRONG"`, with `witness`.
pub fn id_table(
    name: &str,
    replicas: &[&str],
    consistency: &str,
    witness: Option<&str>,
) -> pb::CreateTableRequest {
    pb::CreateTableRequest {
        name: name.into(),
        partition_key: Some(pb::KeyAttr {
            name: "id".into(),
            r#type: "S".into(),
        }),
        replicas: replicas.iter().map(|r| r.to_string()).collect(),
        consistency: consistency.into(),
        witness: witness.unwrap_or_default().into(),
        ..Default::default()
    }
}

/// An item of an `id` table that says who wrote it, and which of their
/// writes it was (`by = "<by>:<n>"`), so every write is told apart.
pub fn marked_item(id: &str, by: &str, n: u32) -> Item {
    Item::from([
        ("id".to_string(), AttrValue::S(id.into())),
        ("by".to_string(), AttrValue::S(format!("{by}:{n}"))),
    ])
}

pub fn version_of(v: &Option<pb::Version>) -> Version {
    let v = v.as_ref().expect("a write response carries a version");
    Version::new(
        Timestamp::new(v.physical_micros, v.logical),
        v.origin.clone(),
    )
}

/// Makes the region apply its peers' writes in log order (whole requests,
/// in commit order), kinder than DynamoDB's partition order, the default:
/// for tests of what log order promises (docs/replication.md, *Lanes*).
pub fn log_order(config: &mut RegionConfig) {
    config.replication.order = meridian_region::replication::ReplicationOrder::Log;
}

/// Makes the region ship every version of an item to its peers
/// (`replication_coalesce = false`), kinder than DynamoDB, which may
/// combine an item's quick changes (the default): for tests that count a
/// replica's records of each change (docs/replication.md, *Coalescing*).
pub fn every_version(config: &mut RegionConfig) {
    config.replication.coalesce = false;
}

/// Makes DynamoDB's CreateTable make each table in every region.
pub fn every_region(config: &mut RegionConfig) {
    config.dynamodb_create_table = meridian_region::CreateTableRegions::EveryRegion;
}

impl TestCluster {
    /// Starts one region per name, all peers of each other.
    pub async fn start(names: &[&str]) -> Self {
        Self::start_with(names, None, None, |_| {}).await
    }

    /// Starts one region per name whose DynamoDB CreateTable makes each
    /// table a replica in every region at once (`dynamodb_create_table =
    /// "every-region"`): for tests of what tables made through the
    /// DynamoDB API do across regions, not of how a table becomes global.
    pub async fn start_global(names: &[&str]) -> Self {
        Self::start_with(names, None, None, every_region).await
    }

    /// [`Self::start_through`] with [`Self::start_global`]'s CreateTable.
    pub async fn start_through_global(names: &[&str], net: &meridian_netsim::Registry) -> Self {
        Self::start_with(names, Some(net), None, every_region).await
    }

    /// [`Self::start_through`], each config changed by `tune` first.
    pub async fn start_through_tuned(
        names: &[&str],
        net: &meridian_netsim::Registry,
        tune: impl Fn(&mut RegionConfig),
    ) -> Self {
        Self::start_with(names, Some(net), None, tune).await
    }

    /// Starts one region per name whose replication and repair run on a
    /// listener of their own, over mutual TLS with the certificates in
    /// `certs` (`meridian_region::tls::issue` makes them).
    pub async fn start_tls(names: &[&str], certs: &std::path::Path) -> Self {
        Self::start_with(names, None, Some(certs), |_| {}).await
    }

    /// Starts one region per name, each config changed by `tune` first.
    pub async fn start_tuned(names: &[&str], tune: impl Fn(&mut RegionConfig)) -> Self {
        Self::start_with(names, None, None, tune).await
    }

    /// Starts a cluster whose every link `a -> b` runs through a netsim
    /// proxy named `a>b` in `net`, so tests can cut and heal real TCP links.
    pub async fn start_through(names: &[&str], net: &meridian_netsim::Registry) -> Self {
        Self::start_with(names, Some(net), None, |_| {}).await
    }

    async fn start_with(
        names: &[&str],
        net: Option<&meridian_netsim::Registry>,
        certs: Option<&std::path::Path>,
        tune: impl Fn(&mut RegionConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut listeners = Vec::new();
        for _ in names {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
            listeners.push(l);
        }
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr"))
            .collect();
        // With TLS, peers dial each region's replication listener: a port
        // picked here and bound again by the region.
        let mut peer_addrs = addrs.clone();
        if certs.is_some() {
            for a in &mut peer_addrs {
                let l = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
                *a = l.local_addr().expect("addr");
            }
        }
        let scheme = if certs.is_some() { "https" } else { "http" };
        // Where each region reaches each peer: directly, or through its proxy.
        let mut routes = std::collections::HashMap::new();
        for (from, _) in names.iter().zip(&peer_addrs) {
            for (to, to_addr) in names.iter().zip(&peer_addrs) {
                if from == to {
                    continue;
                }
                let via = match net {
                    None => *to_addr,
                    Some(net) => {
                        net.create(
                            &meridian_region::config::link_name(from, to),
                            "127.0.0.1:0",
                            &to_addr.to_string(),
                            true,
                        )
                        .await
                        .expect("proxy starts")
                        .listen
                    }
                };
                routes.insert((from.to_string(), to.to_string()), via);
            }
        }
        let mut nodes = Vec::new();
        for (i, (name, listener)) in names.iter().zip(listeners).enumerate() {
            let mut config = RegionConfig {
                replication_listen: certs.map(|_| peer_addrs[i]),
                tls: certs.map(|d| meridian_region::tls::TlsFiles::in_dir(d, name)),
                peers: names
                    .iter()
                    .filter(|n| *n != name)
                    .map(|n| PeerConfig {
                        name: n.to_string(),
                        url: format!("{scheme}://{}", routes[&(name.to_string(), n.to_string())]),
                    })
                    .collect(),
                durability: Durability::Normal,
                ttl_interval: Duration::from_millis(200),
                replication: test_tuning(),
                ..RegionConfig::new(name, dir.path(), addrs[i])
            };
            tune(&mut config);
            let clocks = Clocks::system();
            let region = meridian_region::start(
                config.clone(),
                listener,
                None,
                clocks.clone(),
                Mode::Threads,
            )
            .await
            .expect("region starts");
            let dl = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
            let dynamo_addr = dl.local_addr().expect("addr");
            let dynamo = Some(serve_dynamo(&region, dl));
            nodes.push(Node {
                name: name.to_string(),
                addr: addrs[i],
                config,
                region: Some(region),
                clocks,
                dynamo_addr,
                dynamo,
            });
        }
        TestCluster { nodes, _dir: dir }
    }

    /// The DynamoDB endpoint URL of region `i`, for `endpoint_url`.
    pub fn dynamo_url(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].dynamo_addr)
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].addr)
    }

    fn channel(&self, i: usize) -> Channel {
        Endpoint::from_shared(self.url(i))
            .expect("url")
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy()
    }

    pub fn client(&self, i: usize) -> MeridianClient<Channel> {
        let limit = meridian_region::service::MAX_MESSAGE_BYTES;
        MeridianClient::new(self.channel(i))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    /// The client API of region `i`, each call signed with `credentials`
    /// (none: sent unsigned), as the CLI signs them.
    pub fn signed_client(
        &self,
        i: usize,
        credentials: Option<meridian_core::sigv4::Credentials>,
    ) -> MeridianClient<meridian_region::client_auth::Signing<Channel>> {
        let limit = meridian_region::service::MAX_MESSAGE_BYTES;
        let signing = meridian_region::client_auth::Signing::new(
            self.channel(i),
            credentials,
            self.nodes[i].addr.to_string(),
        );
        MeridianClient::new(signing)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    pub fn admin(&self, i: usize) -> AdminClient<Channel> {
        AdminClient::new(self.channel(i))
    }

    /// Region `i`'s status, as its admin API gives it.
    pub async fn status(&self, i: usize) -> pb::StatusResponse {
        self.admin(i)
            .status(pb::StatusRequest {})
            .await
            .expect("status")
            .into_inner()
    }

    /// Region `i`'s status of its link with `peer` (what it shipped there
    /// and what it received from there).
    pub async fn peer_status(&self, i: usize, peer: &str) -> pb::PeerStatus {
        self.status(i)
            .await
            .peers
            .into_iter()
            .find(|p| p.peer == peer)
            .unwrap_or_else(|| panic!("{peer} is not a peer of region {i}"))
    }

    /// Kills a region abruptly, like `kill -9`: uncommitted work is lost.
    pub async fn crash(&mut self, i: usize) {
        if let Some((stop, task)) = self.nodes[i].dynamo.take() {
            let _ = stop.send(true);
            task.abort();
            let _ = task.await;
        }
        if let Some(r) = self.nodes[i].region.take() {
            r.crash().await;
        }
    }

    /// Restarts a crashed region on the same address and data directory.
    pub async fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.region.is_none(), "restart needs a stopped region");
        let listener = TcpListener::bind(node.addr)
            .await
            .expect("rebind the region's port");
        let region = meridian_region::start(
            node.config.clone(),
            listener,
            None,
            node.clocks.clone(),
            Mode::Threads,
        )
        .await
        .expect("region restarts");
        let dl = TcpListener::bind(node.dynamo_addr)
            .await
            .expect("rebind the DynamoDB port");
        node.dynamo = Some(serve_dynamo(&region, dl));
        node.region = Some(region);
    }

    /// Deletes a crashed region's data directory, as a lost disk would.
    pub fn wipe(&self, i: usize) {
        assert!(
            self.nodes[i].region.is_none(),
            "wipe needs a stopped region"
        );
        std::fs::remove_dir_all(&self.nodes[i].config.data_dir).expect("delete the data directory");
    }

    /// Copies a stopped region's data directory to `to`.
    pub fn copy_data(&self, i: usize, to: &std::path::Path) {
        assert!(
            self.nodes[i].region.is_none(),
            "a copy needs a stopped region"
        );
        meridian_cluster::state::copy_files(&self.nodes[i].config.data_dir, to)
            .expect("copy the data directory");
    }

    /// Replaces a stopped region's data directory with the copy at `from`.
    pub fn restore_data(&self, i: usize, from: &std::path::Path) {
        self.wipe(i);
        meridian_cluster::state::copy_files(from, &self.nodes[i].config.data_dir)
            .expect("restore the data directory");
    }

    pub async fn shutdown(mut self) {
        for n in &mut self.nodes {
            if let Some((stop, task)) = n.dynamo.take() {
                let _ = stop.send(true);
                let _ = task.await;
            }
            if let Some(r) = n.region.take() {
                r.shutdown().await;
            }
        }
    }

    pub async fn create_table(
        &self,
        i: usize,
        name: &str,
        pk: (&str, &str),
        sk: Option<(&str, &str)>,
    ) {
        let attr = |(n, t): (&str, &str)| pb::KeyAttr {
            name: n.into(),
            r#type: t.into(),
        };
        self.client(i)
            .create_table(pb::CreateTableRequest {
                indexes: Vec::new(),
                name: name.into(),
                partition_key: Some(attr(pk)),
                sort_key: sk.map(attr),
                replicas: vec![],
                stream_view_type: String::new(),
                consistency: String::new(),
                witness: String::new(),
                provisioned: None,
            })
            .await
            .expect("create table");
    }

    /// Faults for a cluster started [`TestCluster::start_through`] `net`,
    /// applied as `meridian net` and live drills apply them: through a
    /// control API serving `net`.
    pub async fn faults(&self, net: &meridian_netsim::Registry) -> meridian_cluster::Executor {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap().to_string();
        tokio::spawn(meridian_netsim::api::serve(
            net.clone(),
            listener,
            std::future::pending(),
        ));
        let regions: Vec<_> = self
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.addr))
            .collect();
        let file =
            meridian_region::ClusterFile::new("faults", std::path::Path::new("unused"), &regions);
        meridian_cluster::Executor::new(file, meridian_cluster::ControlApi::new(api))
    }

    /// Polls until every region knows the table, or panics at the deadline.
    pub async fn wait_table_everywhere(&self, name: &str) {
        for i in 0..self.nodes.len() {
            let what = format!("table {name} to reach {}", self.nodes[i].name);
            poll_until(&what, Duration::from_secs(20), || async {
                let req = pb::TableRequest { name: name.into() };
                self.client(i).describe_table(req).await.is_ok()
            })
            .await;
        }
    }

    /// Polls until every region has finished the repair round its first
    /// connection to each peer starts (docs/repair.md), and none is
    /// running. A link's first connection can come late on a loaded
    /// machine; a test that cuts links and counts what the log alone
    /// brings waits here first, so a late round does not bring the items
    /// around the cut.
    pub async fn wait_first_repairs(&self) {
        for i in 0..self.nodes.len() {
            let what = format!("{}'s first repair round with each peer", self.nodes[i].name);
            poll_until(&what, Duration::from_secs(30), || async {
                let s = self.status(i).await;
                s.peers.iter().all(|p| {
                    let worker = format!("repair:{}", p.peer);
                    p.repair_rounds >= 1
                        && s.workers
                            .iter()
                            .any(|w| w.name == worker && w.state == "idle")
                })
            })
            .await;
        }
    }

    /// Polls until every region votes on the STRONG table `name` and knows
    /// its leader (docs/strong.md): its first writes then need no election.
    pub async fn wait_strong(&self, name: &str) {
        for i in 0..self.nodes.len() {
            let what = format!("{} to vote on {name}", self.nodes[i].name);
            poll_until(&what, Duration::from_secs(20), || async {
                self.status(i)
                    .await
                    .strong
                    .iter()
                    .any(|t| t.table == name && t.standing == "voter" && !t.leader.is_empty())
            })
            .await;
        }
    }

    /// Polls until every link is connected with nothing pending and every
    /// region reports the same digest for `table`. Returns the time it took.
    pub async fn wait_quiescent(&self, table: &str, within: Duration) -> Result<Duration, String> {
        let urls: Vec<String> = (0..self.nodes.len()).map(|i| self.url(i)).collect();
        meridian_cluster::wait::wait_quiescent(&urls, Some(table), within)
            .await
            .map_err(|e| e.to_string())
    }

    /// Every head of `table` (tombstones included), read from the region's store file.
    pub fn heads(&self, i: usize, table: &str) -> Heads {
        meridian_cluster::state::heads(&self.nodes[i].config.data_dir, table).expect("read heads")
    }

    pub async fn conflicts(&self, i: usize, table: &str) -> Vec<Conflict> {
        meridian_cluster::state::conflicts(&mut self.admin(i), table, usize::MAX)
            .await
            .expect("conflicts")
            .into_iter()
            .map(|c| conflict_from_pb(c).expect("a region lists valid conflict records"))
            .collect()
    }
}

/// Puts an item and returns the acknowledged write, or the error.
pub async fn put(
    client: &mut MeridianClient<Channel>,
    table: &str,
    schema: &KeySchema,
    item: Item,
) -> Result<AckedWrite, tonic::Status> {
    let r = client
        .put_item(pb::PutItemRequest {
            table: table.into(),
            item: encode_item(&item),
            condition: None,
        })
        .await?
        .into_inner();
    Ok(AckedWrite {
        table: table.into(),
        key: schema.key_of(&item).expect("valid key"),
        version: version_of(&r.version),
        prev: r.prev.as_ref().map(|_| version_of(&r.prev)),
        image: Some(item),
        seen_through: r
            .seen_through
            .as_ref()
            .map(|_| version_of(&r.seen_through).hlc),
    })
}

/// Deletes by key and returns the acknowledged write, or the error.
pub async fn delete(
    client: &mut MeridianClient<Channel>,
    table: &str,
    schema: &KeySchema,
    key: Item,
) -> Result<AckedWrite, tonic::Status> {
    let r = client
        .delete_item(pb::DeleteItemRequest {
            table: table.into(),
            key: encode_item(&key),
            condition: None,
        })
        .await?
        .into_inner();
    Ok(AckedWrite {
        table: table.into(),
        key: schema.key_of(&key).expect("valid key"),
        version: version_of(&r.version),
        prev: r.prev.as_ref().map(|_| version_of(&r.prev)),
        image: None,
        seen_through: r
            .seen_through
            .as_ref()
            .map(|_| version_of(&r.seen_through).hlc),
    })
}

/// An item `{id: S, n: N}`: the counter the STRONG-table tests write.
pub fn counter_item(id: &str, n: u64) -> Item {
    Item::from([
        ("id".to_string(), AttrValue::S(id.into())),
        (
            "n".to_string(),
            AttrValue::N(meridian_core::Number::parse(&n.to_string(), "n").expect("a number")),
        ),
    ])
}

/// The encoded key `{id: S}` of an [`id_table`] item.
pub fn id_key(id: &str) -> Vec<u8> {
    encode_item(&Item::from([("id".to_string(), AttrValue::S(id.into()))]))
}
