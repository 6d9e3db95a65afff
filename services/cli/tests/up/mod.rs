//! What the tests that run `meridian up` share: a three-region cluster
//! file with a `[netsim]` section on free loopback ports, and the
//! long-running `meridian` process, stopped (and its log shown on a
//! failure) however the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meridian_cluster::local::loopback_file;

pub const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// A cluster file with a `[netsim]` section on free loopback ports.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub grpc: Vec<u16>,
    pub api: u16,
    /// The first link proxy's port (net.rs checks the proxies' ports).
    #[allow(dead_code)]
    pub first_port: u16,
}

/// With `admin_token`, the file names a token file, which `meridian up`
/// creates, as the default cluster's does.
pub fn cluster(admin_token: bool) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    let mut file = loopback_file("net-3", &dir.path().join("data"), &names, true).unwrap();
    file.durability = "normal".into();
    if admin_token {
        file.admin_token_file = Some(dir.path().join("admin.token"));
    }
    let netsim = file.netsim.clone().unwrap();
    let config = dir.path().join("cluster.toml");
    file.write(&config).unwrap();
    Cluster {
        config,
        grpc: file.regions.iter().map(|r| r.grpc.port()).collect(),
        api: netsim.api.port(),
        first_port: netsim.first_port,
        dir,
    }
}

/// A long-running `meridian` process (`up` or `netsim`): stopped with
/// SIGTERM so `up` stops its regions too, SIGKILL if it hangs. On a failed
/// test its log is printed.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub fn start(args: &[&str], config: &Path, log: PathBuf) -> Daemon {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(args)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            // Where `meridian up` records its cluster: this test's own.
            .env("XDG_RUNTIME_DIR", config.parent().unwrap())
            // And where what it writes by relative path goes (drill-out/).
            .current_dir(config.parent().unwrap())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start meridian");
        Daemon { child, log }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then waits (bounded) for the exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        meridian_cluster::process::stop_blocking(&mut self.child, Duration::from_secs(30))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.running() {
            self.stop();
        }
        if std::thread::panicking() {
            eprintln!("---- {} ----\n{}", self.log.display(), self.log());
        }
    }
}

/// `meridian up` on `c`, once it has said its regions are up and each
/// region's gRPC port answers (60 s at most).
#[allow(dead_code)]
pub fn up_serving(c: &Cluster) -> Daemon {
    let mut daemon = Daemon::start(&["up"], &c.config, c.dir.path().join("up.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let serving = |d: &Daemon| {
        d.log().contains("regions up")
            && c.grpc
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
    };
    while !serving(&daemon) {
        assert!(daemon.running(), "meridian up stopped");
        assert!(
            std::time::Instant::now() < deadline,
            "meridian up did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon
}

/// The cluster file of `c` with a DynamoDB endpoint per region, each on a
/// free port, and one more free port for an endpoint `meridian up` serves
/// in front of them (the failover endpoint, the edge): the file, not yet
/// written back, and that address.
#[allow(dead_code)]
pub fn with_dynamo_ports(c: &Cluster) -> (meridian_region::ClusterFile, std::net::SocketAddr) {
    let mut file = meridian_region::ClusterFile::load(&c.config).unwrap();
    let mut taken = Vec::new();
    for r in &mut file.regions {
        let port = meridian_cluster::ports::free_port().unwrap();
        taken.push(port);
        r.dynamo = Some(([127, 0, 0, 1], port).into());
    }
    let front = loop {
        let port = meridian_cluster::ports::free_port().unwrap();
        if !taken.contains(&port) {
            break std::net::SocketAddr::from(([127, 0, 0, 1], port));
        }
    };
    (file, front)
}

/// The head version of item `id` of `kvs` in the store under `dir`.
#[allow(dead_code)]
pub fn head(dir: &Path, id: &str) -> Option<meridian_core::Version> {
    use meridian_core::{AttrValue, Item};
    let reader = meridian_store::open_reader(dir).ok()?;
    let (def, _) = reader.table_def("kvs").ok()??;
    let mut key = Item::new();
    key.insert("id".into(), AttrValue::S(id.into()));
    let key = def.key_schema.key_from_attrs(&key).ok()?;
    Some(reader.get("kvs", &key).ok()??.version)
}
