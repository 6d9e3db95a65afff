//! Region processes for a benchmark: `meridian region` children of this
//! process, each with its own data directory, optionally reaching each other
//! through in-process link proxies where latency is injected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use meridian_netsim::{Effect, Registry, Stream, Toxic};
use meridian_proto::v1 as pb;
use pb::admin_client::AdminClient;
use pb::meridian_client::MeridianClient;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

pub const NAMES: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
pub const TABLE: &str = "bench";

pub struct Cluster {
    exe: PathBuf,
    root: PathBuf,
    cluster_file: PathBuf,
    pub names: Vec<String>,
    grpc: Vec<SocketAddr>,
    /// One connection per region for Status polls, reused: a fresh
    /// connection per poll cost each region a TCP and HTTP/2 handshake ten
    /// times a second while it was being measured.
    admin: Vec<Channel>,
    children: Vec<Option<Child>>,
    registry: Option<Registry>,
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("picking a free port")?;
    Ok(l.local_addr()?.port())
}

fn find_port_run(count: usize) -> Result<u16> {
    for _ in 0..50 {
        let start = free_port()?;
        if usize::from(start) + count >= 65_000 {
            continue;
        }
        if (0..count as u16).all(|k| std::net::TcpListener::bind(("127.0.0.1", start + k)).is_ok())
        {
            return Ok(start);
        }
    }
    bail!("found no run of {count} free loopback ports for the link proxies")
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
    /// `proxies`, and waits until every region listens.
    pub async fn start(n: usize, proxies: bool, root: &Path) -> Result<Self> {
        let exe = std::env::current_exe().context("locating the meridian binary")?;
        let names: Vec<String> = NAMES[..n].iter().map(|s| s.to_string()).collect();
        let mut grpc = Vec::new();
        for _ in 0..n {
            grpc.push(SocketAddr::from(([127, 0, 0, 1], free_port()?)));
        }
        let data = root.join("data");
        std::fs::create_dir_all(root.join("logs"))?;
        let mut text = format!(
            "# Written by `meridian bench`.\nname = \"bench\"\ndata_dir = {:?}\ndurability = \"full\"\nmax_clock_offset_ms = 500\n",
            data.display().to_string()
        );
        if proxies {
            let first = find_port_run(n * n)?;
            text.push_str(&format!(
                "\n[netsim]\napi = \"127.0.0.1:{}\"\nfirst_port = {first}\n",
                free_port()?
            ));
        }
        for (name, addr) in names.iter().zip(&grpc) {
            text.push_str(&format!(
                "\n[[region]]\nname = {name:?}\ngrpc = \"{addr}\"\n"
            ));
        }
        let cluster_file = root.join("cluster.toml");
        std::fs::write(&cluster_file, &text)?;
        let registry = if proxies {
            let cluster = crate::load_cluster(&cluster_file)?;
            let registry = Registry::new();
            for link in cluster.links() {
                registry
                    .create(&link.name, &link.listen.to_string(), &link.upstream, true)
                    .await
                    .map_err(|e| anyhow!("starting proxy {}: {e}", link.name))?;
            }
            Some(registry)
        } else {
            None
        };
        let admin = grpc.iter().map(|a| channel(*a)).collect::<Result<_>>()?;
        let mut me = Cluster {
            exe,
            root: root.to_path_buf(),
            cluster_file,
            names,
            grpc,
            admin,
            children: Vec::new(),
            registry,
        };
        for i in 0..n {
            let c = me.spawn(i)?;
            me.children.push(Some(c));
        }
        for i in 0..n {
            me.wait_listening(i).await?;
        }
        Ok(me)
    }

    fn spawn(&self, i: usize) -> Result<Child> {
        let log_path = self
            .root
            .join("logs")
            .join(format!("{}.log", self.names[i]));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let err = log.try_clone()?;
        Command::new(&self.exe)
            .arg("region")
            .arg("--config")
            .arg(&self.cluster_file)
            .arg("--region")
            .arg(&self.names[i])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting region {}", self.names[i]))
    }

    async fn wait_listening(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if tokio::net::TcpStream::connect(self.grpc[i]).await.is_ok() {
                return Ok(());
            }
            if let Some(Some(c)) = self.children.get_mut(i)
                && let Ok(Some(status)) = c.try_wait()
            {
                bail!(
                    "region {} exited at start ({status}); see {}",
                    self.names[i],
                    self.root.join("logs").display()
                );
            }
            if Instant::now() >= deadline {
                bail!("region {} did not listen within 30 s", self.names[i]);
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
        self.children.get(i)?.as_ref()?.id()
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.root.join("data").join(&self.names[i])
    }

    /// Creates the benchmark table (string partition key `id`, every
    /// region a replica) at region 0 and waits until every region knows it.
    pub async fn create_table(&self) -> Result<()> {
        self.client(0)?
            .create_table(pb::CreateTableRequest {
                name: TABLE.into(),
                partition_key: Some(pb::KeyAttr {
                    name: "id".into(),
                    r#type: "S".into(),
                }),
                sort_key: None,
                replicas: Vec::new(),
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
    pub fn set_latency(&self, ms: u64) -> Result<()> {
        let Some(reg) = &self.registry else {
            bail!("this cluster has no link proxies");
        };
        let attrs = serde_json::json!({ "latency": ms, "jitter": 0 });
        let effect = Effect::parse("latency", attrs.as_object().expect("object"))
            .map_err(|e| anyhow!("{e}"))?;
        for p in reg.list() {
            for (stream, name) in [
                (Stream::Upstream, "bench.latency.up"),
                (Stream::Downstream, "bench.latency.down"),
            ] {
                let _ = p.remove_toxic(name);
                if ms > 0 {
                    p.add_toxic(Toxic {
                        name: name.into(),
                        stream,
                        toxicity: 1.0,
                        effect: effect.clone(),
                    })
                    .map_err(|e| anyhow!("{e}"))?;
                }
            }
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub async fn stop_region(&mut self, i: usize) -> Result<()> {
        let Some(mut c) = self.children[i].take() else {
            bail!("{} is not running", self.names[i]);
        };
        if let Some(pid) = c.id() {
            // SAFETY: kill(2) on a child this process started and has not
            // reaped yet.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(10), c.wait())
            .await
            .is_err()
        {
            c.kill().await?;
        }
        Ok(())
    }

    pub async fn restart_region(&mut self, i: usize) -> Result<()> {
        let c = self.spawn(i)?;
        self.children[i] = Some(c);
        self.wait_listening(i).await
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.children.len() {
            if self.children[i].is_some() {
                let _ = self.stop_region(i).await;
            }
        }
        if let Some(reg) = &self.registry {
            for p in reg.list() {
                p.stop();
            }
        }
    }
}
