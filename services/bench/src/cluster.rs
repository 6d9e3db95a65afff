//! Region processes for a benchmark: `meridian region` children of this
//! process, each with its own data directory, optionally reaching each other
//! through in-process link proxies where latency is injected. Started,
//! faulted and stopped by `meridian_cluster`, as `meridian up` and live
//! drills are.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use meridian_cluster::local::loopback_file;
use meridian_cluster::{LocalCluster, Logs};
use meridian_proto::v1 as pb;
use meridian_scenario::scenario::Action;
use pb::admin_client::AdminClient;
use pb::meridian_client::MeridianClient;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

pub const NAMES: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
pub const TABLE: &str = "bench";

/// How long a region gets to start serving.
const START_WAIT: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub names: Vec<String>,
    grpc: Vec<SocketAddr>,
    /// One connection per region for Status polls, reused: a fresh
    /// connection per poll cost each region a TCP and HTTP/2 handshake ten
    /// times a second while it was being measured.
    admin: Vec<Channel>,
    /// The process id of each region's current process, for CPU and
    /// memory readings.
    pids: Vec<Option<u32>>,
    local: LocalCluster,
}

/// A lazily connecting gRPC channel to a loopback address.
pub fn channel(addr: SocketAddr) -> Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy())
}

impl Cluster {
    /// Starts `n` regions (data under `root`), with link proxies when
    /// `proxies`, and waits until every region serves.
    pub async fn start(n: usize, proxies: bool, root: &Path) -> Result<Self> {
        Self::start_with(n, proxies, root, |_| {}).await
    }

    /// [`Cluster::start`], with the cluster file changed by `tune` first.
    pub async fn start_with(
        n: usize,
        proxies: bool,
        root: &Path,
        tune: impl FnOnce(&mut meridian_region::ClusterFile),
    ) -> Result<Self> {
        let exe = std::env::current_exe().context("locating the meridian binary")?;
        let names: Vec<String> = NAMES[..n].iter().map(|s| s.to_string()).collect();
        let mut file = loopback_file("bench", &root.join("data"), &names, proxies)?;
        // The loads write one table far past a new table's partitions (a
        // pre-warmed table on AWS would take them) and past the account's
        // default per-table quota (which AWS raises on request): the engine
        // is measured, not AWS's ceilings (docs/limits.md).
        file.partition_ceilings = false;
        file.table_quota_units = 100_000_000;
        tune(&mut file);
        let grpc = file.regions.iter().map(|r| r.grpc).collect::<Vec<_>>();
        let path = root.join("cluster.toml");
        file.write(&path)?;
        let local = LocalCluster::network(
            &path,
            file,
            &exe,
            Logs::Dir(root.join("logs")),
            vec![("RUST_LOG".into(), "warn".into())],
        )
        .await?
        .start_regions()
        .await?;
        let admin = grpc.iter().map(|a| channel(*a)).collect::<Result<_>>()?;
        let mut me = Cluster {
            names,
            grpc,
            admin,
            pids: vec![None; n],
            local,
        };
        if let Err(e) = me.local.wait_serving(START_WAIT).await {
            me.local.stop().await;
            return Err(e.into());
        }
        me.read_pids().await;
        Ok(me)
    }

    async fn read_pids(&mut self) {
        for p in self.local.processes.list().await {
            if let Some(i) = self.names.iter().position(|n| *n == p.name) {
                self.pids[i] = p.pid;
            }
        }
    }

    pub fn client(&self, i: usize) -> Result<MeridianClient<Channel>> {
        Ok(MeridianClient::new(channel(self.grpc[i])?))
    }

    pub fn admin(&self, i: usize) -> AdminClient<Channel> {
        AdminClient::new(self.admin[i].clone())
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.pids.get(i).copied().flatten()
    }

    /// The cluster file the regions run from.
    pub fn file(&self) -> &meridian_region::ClusterFile {
        &self.local.file
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.local.file.data_dir.join(&self.names[i])
    }

    /// The region processes, for whoever restarts them.
    pub fn processes(&self) -> &meridian_cluster::Processes {
        &self.local.processes
    }

    /// What applies faults to this cluster, with link proxies.
    pub fn executor(&self) -> Option<meridian_cluster::Executor> {
        self.local.executor()
    }

    /// Every region as a drill reaches it: its API (Admin included) and
    /// its data directory.
    pub fn targets(&self) -> Vec<meridian_drill::RegionTarget> {
        (0..self.names.len())
            .map(|i| meridian_drill::RegionTarget {
                admin_token: None,
                name: self.names[i].clone(),
                channel: self.admin[i].clone(),
                admin: self.admin[i].clone(),
                data_dir: self.data_dir(i),
            })
            .collect()
    }

    /// Creates the benchmark table (string partition key `id`, every
    /// region a replica) at region 0 and waits until every region knows it.
    pub async fn create_table(&self) -> Result<()> {
        self.create_table_on(Vec::new()).await
    }

    /// [`Cluster::create_table`] with replicas in `replicas` only (every
    /// region when empty); every region still learns of the table.
    pub async fn create_table_on(&self, replicas: Vec<String>) -> Result<()> {
        self.create_table_with(replicas, Vec::new()).await
    }

    /// [`Cluster::create_table_on`], with secondary indexes.
    pub async fn create_table_with(
        &self,
        replicas: Vec<String>,
        indexes: Vec<pb::IndexSpec>,
    ) -> Result<()> {
        self.client(0)?
            .create_table(pb::CreateTableRequest {
                indexes,
                name: TABLE.into(),
                partition_key: Some(pb::KeyAttr {
                    name: "id".into(),
                    r#type: "S".into(),
                }),
                sort_key: None,
                replicas,
                stream_view_type: String::new(),
                consistency: String::new(),
                witness: String::new(),
                provisioned: None,
            })
            .await
            .context("CreateTable")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 0..self.names.len() {
            let mut c = self.client(i)?;
            loop {
                tick.tick().await;
                if c.describe_table(pb::TableRequest { name: TABLE.into() })
                    .await
                    .is_ok()
                {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("table did not reach {} within 30 s", self.names[i]);
                }
            }
        }
        Ok(())
    }

    /// Sets (or with 0 clears) one-way latency on every link: both streams
    /// of every proxy, so each message crosses one delay.
    pub async fn set_latency(&self, ms: u64) -> Result<()> {
        let Some(faults) = self.local.executor() else {
            bail!("this cluster has no link proxies");
        };
        let l = Duration::from_millis(ms);
        for (i, a) in self.names.iter().enumerate() {
            for b in &self.names[i + 1..] {
                faults
                    .apply(&Action::Latency {
                        from: a.clone(),
                        to: b.clone(),
                        both: true,
                        latency: Some(l),
                        jitter: Some(Duration::ZERO),
                        distribution: None,
                    })
                    .await
                    .map_err(|e| anyhow!("setting latency {a} ⇄ {b}: {e}"))?;
            }
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub async fn stop_region(&mut self, i: usize) -> Result<()> {
        self.local
            .processes
            .stop(&self.names[i])
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    }

    pub async fn restart_region(&mut self, i: usize) -> Result<()> {
        let name = self.names[i].clone();
        self.local
            .processes
            .start(&name)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        self.local.processes.wait_serving(&name, START_WAIT).await?;
        self.read_pids().await;
        Ok(())
    }

    pub async fn shutdown(mut self) {
        self.local.stop().await;
    }
}
