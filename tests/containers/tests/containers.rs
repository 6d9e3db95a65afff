//! Regions as containers: three `meridian:local` containers, each a host of
//! its own, really cut off (`docker network disconnect`), killed (SIGKILL)
//! and stalled (`docker pause`), checked against the oracle of acknowledged
//! writes.
//!
//! Each test makes its own two networks, as regions/compose.yaml does:
//! - `mesh`, internal: regions replicate here, dialling each other by
//!   aliases that exist only on it;
//! - `edge`: no NAT and no traffic between containers; it only carries the
//!   ports published on 127.0.0.1 through which the test talks to regions.
//!
//! [`one_box`]: the image's other mode, a whole cluster in one container.
//!
//! The image is built by `regions/image/build.sh`; nothing is pulled. With
//! no Docker engine or no image, each test prints one `SKIP` line and
//! passes, unless `MERIDIAN_REQUIRE_DOCKER` is set (CI), which makes that a
//! failure.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_scenario::{AckedWrite, Oracle, Verdict, check_converged};
use meridian_tests::containers::{admin, client, conflicts, container_cluster_file, scan_heads};
use meridian_tests::{id_schema, marked_item, poll_until, put};
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    VolumeCreateRequest,
};
use testcontainers::bollard::query_parameters::{KillContainerOptions, RemoveVolumeOptions};
use testcontainers::core::{CmdWaitFor, ExecCommand, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

mod one_box;

/// The image under test, as `regions/image/build.sh` names it:
/// `MERIDIAN_IMAGE`, by default `meridian:local`.
fn image() -> (String, String) {
    let full = std::env::var("MERIDIAN_IMAGE").unwrap_or_else(|_| "meridian:local".into());
    match full.rsplit_once(':') {
        Some((name, tag)) => (name.to_string(), tag.to_string()),
        None => (full, "latest".to_string()),
    }
}
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const TABLE: &str = "items";
/// Every network, volume and container a test makes carries this label, so
/// leftovers of a test that was killed can be found (.ci/containers.sh).
const LABEL: &str = "meridian.test";

/// Says why a test cannot run, in one line, and returns `None`; or fails
/// when the environment demands Docker.
fn skip<T>(why: &str) -> Option<T> {
    // The harness names each test's thread after the test.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("container test");
    if std::env::var_os("MERIDIAN_REQUIRE_DOCKER").is_some() {
        panic!("{test}: {why} (MERIDIAN_REQUIRE_DOCKER is set, so this is a failure)");
    }
    // Straight to stderr: the harness captures println! of passing tests.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
    None
}

/// The engine, if one answers and holds the image.
async fn engine() -> Option<Docker> {
    let docker = match Docker::connect_with_defaults() {
        Ok(d) => d,
        Err(e) => return skip(&format!("no Docker engine configured ({e})")),
    };
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return skip(&format!("no Docker engine reachable ({e})")),
        Err(_) => return skip("no Docker engine reachable (no answer within 5 s)"),
    }
    let (name, tag) = image();
    match docker.inspect_image(&format!("{name}:{tag}")).await {
        Ok(_) => Some(docker),
        Err(e) => skip(&format!(
            "image {name}:{tag} is missing; build it with regions/image/build.sh ({e})"
        )),
    }
}

struct Region {
    name: String,
    container_name: String,
    /// The name peers dial, on the mesh network only.
    alias: String,
    volume: String,
    container: Option<ContainerAsync<GenericImage>>,
    /// `http://127.0.0.1:<published gRPC port>`.
    url: String,
}

/// A cluster of region containers and the two networks they live on.
struct Lab {
    docker: Docker,
    prefix: String,
    mesh: String,
    edge: String,
    cluster_file: String,
    regions: Vec<Region>,
}

impl Lab {
    /// Starts one container per region name; `None` when the test must skip.
    /// `tag` names the test's networks, volumes and containers.
    async fn start(tag: &str, names: &[&str]) -> Option<Lab> {
        let docker = engine().await?;
        let prefix = format!("mt-{}-{tag}", std::process::id());
        let labels = || Some([(LABEL.to_string(), prefix.clone())].into());
        let mesh = format!("{prefix}-mesh");
        let edge = format!("{prefix}-edge");
        docker
            .create_network(NetworkCreateRequest {
                name: mesh.clone(),
                driver: Some("bridge".into()),
                internal: Some(true),
                labels: labels(),
                ..Default::default()
            })
            .await
            .expect("create the mesh network");
        docker
            .create_network(NetworkCreateRequest {
                name: edge.clone(),
                driver: Some("bridge".into()),
                options: Some(
                    [
                        ("com.docker.network.bridge.enable_ip_masquerade", "false"),
                        ("com.docker.network.bridge.enable_icc", "false"),
                        ("com.docker.network.bridge.host_binding_ipv4", "127.0.0.1"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ),
                labels: labels(),
                ..Default::default()
            })
            .await
            .expect("create the edge network");
        let regions: Vec<Region> = names
            .iter()
            .map(|n| Region {
                name: n.to_string(),
                container_name: format!("{prefix}-{n}"),
                alias: format!("mesh-{prefix}-{n}"),
                volume: format!("{prefix}-{n}-data"),
                container: None,
                url: String::new(),
            })
            .collect();
        for r in &regions {
            docker
                .create_volume(VolumeCreateRequest {
                    name: Some(r.volume.clone()),
                    labels: labels(),
                    ..Default::default()
                })
                .await
                .expect("create the region's volume");
        }
        let advertised: Vec<(String, String)> = regions
            .iter()
            .map(|r| (r.name.clone(), r.alias.clone()))
            .collect();
        let mut lab = Lab {
            docker,
            cluster_file: container_cluster_file(&prefix, &advertised),
            prefix,
            mesh,
            edge,
            regions,
        };
        let started = tokio::time::Instant::now();
        let all =
            futures::future::join_all((0..lab.regions.len()).map(|i| lab.run_region(i))).await;
        for (i, (container, url)) in all.into_iter().enumerate() {
            lab.regions[i].container = Some(container);
            lab.regions[i].url = url;
        }
        println!(
            "{} region containers healthy in {:?}",
            lab.regions.len(),
            started.elapsed()
        );
        Some(lab)
    }

    /// Creates and starts region `i`'s container on its volume, waits for
    /// the image's health check, and joins it to the mesh under its alias.
    async fn run_region(&self, i: usize) -> (ContainerAsync<GenericImage>, String) {
        let r = &self.regions[i];
        let (name, tag) = image();
        let container = GenericImage::new(name, tag)
            .with_wait_for(WaitFor::healthcheck())
            .with_container_name(&r.container_name)
            .with_network(&self.edge)
            .with_env_var("MERIDIAN_REGION", &r.name)
            .with_copy_to(
                "/etc/meridian/cluster.toml",
                self.cluster_file.clone().into_bytes(),
            )
            .with_mount(Mount::volume_mount(&r.volume, "/data"))
            .with_label(LABEL, &self.prefix)
            .with_startup_timeout(Duration::from_secs(60))
            .start()
            .await
            .unwrap_or_else(|e| panic!("start the {} container: {e}", r.name));
        self.join_mesh(container.id(), &r.alias).await;
        let port = container
            .get_host_port_ipv4(7101)
            .await
            .expect("gRPC port published");
        (container, format!("http://127.0.0.1:{port}"))
    }

    async fn join_mesh(&self, container: &str, alias: &str) {
        self.docker
            .connect_network(
                &self.mesh,
                NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(vec![alias.to_string()]),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect("join the mesh network");
    }

    fn id(&self, i: usize) -> String {
        self.regions[i]
            .container
            .as_ref()
            .expect("region is running")
            .id()
            .to_string()
    }

    fn urls(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.url.clone()).collect()
    }

    async fn create_table(&self) {
        let attr = |n: &str| pb::KeyAttr {
            name: n.into(),
            r#type: "S".into(),
        };
        client(&self.regions[0].url)
            .create_table(pb::CreateTableRequest {
                indexes: Vec::new(),
                name: TABLE.into(),
                partition_key: Some(attr("id")),
                sort_key: None,
                replicas: vec![],
                stream_view_type: String::new(),
                consistency: String::new(),
                witness: String::new(),
                provisioned: None,
            })
            .await
            .expect("create table");
        for r in &self.regions {
            poll_until(
                &format!("table {TABLE} to reach {}", r.name),
                Duration::from_secs(30),
                || async {
                    client(&r.url)
                        .describe_table(pb::TableRequest { name: TABLE.into() })
                        .await
                        .is_ok()
                },
            )
            .await;
        }
    }

    /// Writes keys `k<n % keys>` for every `n` in `ns` in each listed region,
    /// recording every acknowledgement. Every write must be acknowledged.
    async fn write(
        &self,
        oracle: &mut Oracle,
        regions: &[usize],
        ns: std::ops::Range<u32>,
        keys: u32,
    ) {
        let schema = id_schema();
        let mut clients: Vec<_> = regions
            .iter()
            .map(|&i| client(&self.regions[i].url))
            .collect();
        for n in ns {
            for (c, &i) in clients.iter_mut().zip(regions) {
                let r = &self.regions[i];
                let w = tokio::time::timeout(
                    Duration::from_secs(10),
                    put(
                        c,
                        TABLE,
                        &schema,
                        marked_item(&format!("k{}", n % keys), &r.name, n),
                    ),
                )
                .await
                .unwrap_or_else(|_| panic!("a write to {} took over 10 s", r.name))
                .unwrap_or_else(|e| panic!("a write to {} failed: {e}", r.name));
                oracle.record(w);
            }
        }
    }

    async fn peer_status(&self, at: usize, peer: usize) -> Option<pb::PeerStatus> {
        let s = admin(&self.regions[at].url)
            .status(pb::StatusRequest {})
            .await
            .ok()?
            .into_inner();
        s.peers
            .into_iter()
            .find(|p| p.peer == self.regions[peer].name)
    }

    async fn wait_quiescent(&self, within: Duration) -> Duration {
        meridian_cluster::wait::wait_quiescent(&self.urls(), Some(TABLE), within)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every replica against the oracle and each other, and every recorded
    /// conflict against the acknowledged writes.
    async fn verify(&self, oracle: &Oracle, strict: bool) -> Verdict {
        let schema = id_schema();
        let mut v = Verdict::default();
        let mut replicas = Vec::new();
        for r in &self.regions {
            let heads = scan_heads(&r.url, TABLE, &schema)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            oracle.check_replica(&r.name, &heads, strict, &mut v);
            replicas.push((r.name.clone(), heads));
        }
        check_converged(&replicas, &mut v);
        let mut all = Vec::new();
        for r in &self.regions {
            all.extend(
                conflicts(&r.url, TABLE)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        oracle.check_conflicts(&all, strict, &mut v);
        assert!(v.ok(), "{:#?}", v.problems);
        assert!(
            v.keys_checked > 0,
            "the check must have looked at something"
        );
        v
    }

    /// Removes the containers, then the networks and volumes.
    async fn cleanup(&mut self) {
        for r in &mut self.regions {
            if let Some(c) = r.container.take() {
                let _ = c.rm().await;
            }
        }
        for net in [&self.mesh, &self.edge] {
            let _ = self.docker.remove_network(net).await;
        }
        for r in &self.regions {
            let _ = self
                .docker
                .remove_volume(&r.volume, Some(RemoveVolumeOptions { force: true }))
                .await;
        }
    }
}

impl Drop for Lab {
    /// Also on a failed assertion: nothing of a test outlives it.
    fn drop(&mut self) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            tokio::task::block_in_place(|| handle.block_on(self.cleanup()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_cut_off_by_network_disconnect_converges_after_reconnect() {
    let test = "disconnect";
    let Some(lab) = Lab::start(test, &REGIONS).await else {
        return;
    };
    lab.create_table().await;
    let mut oracle = Oracle::new();
    lab.write(&mut oracle, &[0, 1, 2], 0..10, 15).await;
    lab.wait_quiescent(Duration::from_secs(60)).await;

    // Cut ap-southeast-1 off the mesh. The test still reaches it through
    // its published port, so both sides keep taking writes, to the same keys.
    lab.docker
        .disconnect_network(
            &lab.mesh,
            NetworkDisconnectRequest {
                container: lab.id(2),
                force: Some(false),
            },
        )
        .await
        .expect("docker network disconnect");
    lab.write(&mut oracle, &[0, 1, 2], 10..40, 15).await;
    poll_until(
        "both sides to see their links across the cut go down",
        Duration::from_secs(30),
        || async {
            let there = lab.peer_status(0, 2).await.is_some_and(|p| !p.connected);
            let back = lab.peer_status(2, 0).await.is_some_and(|p| !p.connected);
            there && back
        },
    )
    .await;
    let pending = lab.peer_status(0, 2).await.map(|p| p.pending).unwrap_or(0);
    assert!(
        pending > 0,
        "writes made across the cut cannot have been delivered"
    );

    lab.join_mesh(&lab.id(2), &lab.regions[2].alias).await;
    let took = lab.wait_quiescent(Duration::from_secs(90)).await;
    println!("converged {took:?} after the reconnect");
    let v = lab.verify(&oracle, true).await;
    assert!(
        v.lost_updates > 0,
        "writes on both sides of the cut to the same keys must conflict"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_region_restarts_on_its_volume_and_loses_nothing_acknowledged() {
    let test = "sigkill";
    let Some(mut lab) = Lab::start(test, &REGIONS).await else {
        return;
    };
    lab.create_table().await;
    let mut oracle = Oracle::new();
    lab.write(&mut oracle, &[0, 1, 2], 0..10, 10).await;

    // A writer keeps eu-west-1 busy with fresh keys; it is killed mid-stream,
    // so its last acknowledged writes have had no time to replicate.
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = {
        let url = lab.regions[1].url.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            let schema = id_schema();
            let mut c = client(&url);
            let mut done: Vec<AckedWrite> = Vec::new();
            for n in 0..100_000u32 {
                let it = marked_item(&format!("w{n}"), "eu-west-1", n);
                match put(&mut c, TABLE, &schema, it).await {
                    Ok(w) => {
                        done.push(w);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => break,
                }
            }
            done
        })
    };
    poll_until(
        "the writer to get 50 acknowledgements",
        Duration::from_secs(30),
        || async { acked.load(Ordering::SeqCst) >= 50 },
    )
    .await;
    lab.docker
        .kill_container(
            &lab.id(1),
            Some(KillContainerOptions {
                signal: "SIGKILL".into(),
            }),
        )
        .await
        .expect("docker kill -s KILL");
    let written = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the writer stops once its region is dead")
        .expect("writer task");
    println!(
        "{} writes acknowledged by eu-west-1 before SIGKILL",
        written.len()
    );
    for w in written {
        oracle.record(w);
    }
    let killed = lab.regions[1].container.as_ref().unwrap();
    poll_until(
        "the killed container to stop",
        Duration::from_secs(30),
        || async { killed.is_running().await.is_ok_and(|running| !running) },
    )
    .await;

    // The others keep taking writes while it is gone.
    lab.write(&mut oracle, &[0, 2], 10..30, 10).await;

    // A new container, same name, same volume: the store is all it keeps.
    if let Some(c) = lab.regions[1].container.take() {
        c.rm().await.expect("remove the killed container");
    }
    let (container, url) = lab.run_region(1).await;
    lab.regions[1].container = Some(container);
    lab.regions[1].url = url;
    lab.write(&mut oracle, &[0, 1, 2], 30..40, 10).await;
    let took = lab.wait_quiescent(Duration::from_secs(90)).await;
    println!("converged {took:?} after the restart");
    // Not strict: a write in flight at the kill may have committed without
    // its acknowledgement reaching the client. Nothing acknowledged may be lost.
    lab.verify(&oracle, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_region_catches_up_after_unpause() {
    let test = "pause";
    let Some(lab) = Lab::start(test, &REGIONS).await else {
        return;
    };
    lab.create_table().await;
    let mut oracle = Oracle::new();
    lab.write(&mut oracle, &[0, 1, 2], 0..10, 20).await;
    lab.wait_quiescent(Duration::from_secs(60)).await;

    let paused = lab.regions[2].container.as_ref().unwrap();
    paused.pause().await.expect("docker pause");
    // A paused region answers nothing.
    let answer = admin(&lab.regions[2].url)
        .status(pb::StatusRequest {})
        .await;
    assert!(answer.is_err(), "a paused region must not answer");
    // The others keep accepting writes, each within `write`'s deadline.
    let started = tokio::time::Instant::now();
    lab.write(&mut oracle, &[0, 1], 10..60, 20).await;
    println!("100 writes while paused in {:?}", started.elapsed());
    let pending = lab.peer_status(0, 2).await.map(|p| p.pending).unwrap_or(0);
    assert!(pending > 0, "a paused region cannot have applied anything");

    paused.unpause().await.expect("docker unpause");
    let took = lab.wait_quiescent(Duration::from_secs(90)).await;
    println!("caught up {took:?} after unpause");
    lab.verify(&oracle, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_containers_reach_each_other_and_nothing_outside() {
    let test = "egress";
    let Some(lab) = Lab::start(test, &REGIONS[..1]).await else {
        return;
    };
    let container = lab.regions[0].container.as_ref().unwrap();
    // Runs `meridian health` inside the region's own container (no shell
    // needed), which sits on both networks; returns exit code and stderr.
    let probe = |url: String| async move {
        let mut r = container
            .exec(
                ExecCommand::new([
                    "/meridian",
                    "health",
                    "--timeout-ms",
                    "3000",
                    "--url",
                    url.as_str(),
                ])
                .with_cmd_ready_condition(CmdWaitFor::exit()),
            )
            .await
            .expect("docker exec");
        let code = r.exit_code().await.expect("exit code");
        let err =
            String::from_utf8_lossy(&r.stderr_to_vec().await.unwrap_or_default()).into_owned();
        (code, err)
    };
    // Control: the probe works, over the mesh alias.
    let (code, err) = probe(format!("http://{}:9101/health", lab.regions[0].alias)).await;
    assert_eq!(
        code,
        Some(0),
        "the health probe over the mesh must pass: {err}"
    );

    // Somewhere the host itself can reach, or there is nothing to compare.
    let outside = match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host("deb.debian.org:80"),
    )
    .await
    {
        Ok(Ok(mut addrs)) => addrs.find(|a| a.is_ipv4()),
        _ => None,
    };
    let reachable = match outside {
        Some(a) => tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(a))
            .await
            .is_ok_and(|c| c.is_ok()),
        None => false,
    };
    let Some(addr) = outside.filter(|_| reachable) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test} (outside part): the host cannot reach deb.debian.org:80 itself"
        );
        return;
    };
    let (code, err) = probe(format!("http://{addr}/")).await;
    assert_eq!(code, Some(1), "{addr} must be out of reach: {err}");
    assert!(
        !err.contains("answered"),
        "a region container reached {addr}, which is outside its networks: {err}"
    );
}

/// Without Docker: regions/compose-3.toml routes every link through the
/// proxy container by mesh aliases, and compose.yaml publishes on 127.0.0.1
/// exactly the ports regions/local-3.toml names, so host-side commands work
/// unchanged against the containers.
#[test]
fn the_compose_files_agree_with_local_3() {
    let regions_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../regions");
    let compose = meridian_region::ClusterFile::load(&regions_dir.join("compose-3.toml")).unwrap();
    let local = meridian_region::ClusterFile::load(&regions_dir.join("local-3.toml")).unwrap();
    let yaml = std::fs::read_to_string(regions_dir.join("compose.yaml")).unwrap();
    assert_eq!(compose.region_names(), local.region_names());
    let links = compose.links();
    assert_eq!(links.len(), 6);
    for l in &links {
        assert!(l.dial.starts_with("mesh-netsim:"), "{l:?}");
        assert_eq!(l.upstream, format!("mesh-{}:7111", l.to), "{l:?}");
    }
    for (c, h) in compose.regions.iter().zip(&local.regions) {
        assert_eq!(c.grpc.port(), 7101);
        assert!(
            yaml.contains(&format!("aliases: [mesh-{}]", c.name)),
            "{}",
            c.name
        );
        for (host, inside) in [(Some(h.grpc), 7101), (h.dynamo, 8101), (h.metrics, 9101)] {
            let host = host.expect("local-3 names every port");
            let mapping = format!("\"127.0.0.1:{}:{inside}\"", host.port());
            assert!(yaml.contains(&mapping), "compose.yaml lacks {mapping}");
        }
    }
    let first = compose
        .netsim
        .as_ref()
        .expect("[netsim] in compose-3")
        .first_port;
    if let Some(n) = &local.netsim {
        assert_eq!(n.first_port, first, "proxy ports differ between the files");
        assert!(yaml.contains(&format!("\"127.0.0.1:{0}:{0}\"", n.api.port())));
    }
    let last = first as usize + compose.regions.len().pow(2) - 1;
    assert!(yaml.contains(&format!("\"127.0.0.1:{first}-{last}:{first}-{last}\"")));
    // The dashboard's container reaches admin and the control API by the
    // aliases on mesh, and is published where `meridian up` serves it.
    for c in &compose.regions {
        assert_eq!(c.admin_dial(), format!("mesh-{}:7121", c.name));
        assert_eq!(c.grpc_dial(), format!("mesh-{}:7101", c.name));
    }
    let netsim = compose.netsim.as_ref().unwrap();
    assert_eq!(netsim.api_dial(), "mesh-netsim:8474");
    assert!(yaml.contains("\"127.0.0.1:7180:7180\""));
}

/// Without Docker: the cluster file in regions/k8s/configmap.yaml loads, each
/// region's peers dial the other regions' Services, and every region's
/// StatefulSet runs the region its file is named after.
#[test]
fn the_k8s_config_map_is_a_valid_cluster_file() {
    let k8s = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../regions/k8s");
    let yaml = std::fs::read_to_string(k8s.join("configmap.yaml")).unwrap();
    // The block scalar under `cluster.toml: |`, indented by four spaces.
    let toml: String = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("cluster.toml: |"))
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.toml");
    std::fs::write(&path, toml).unwrap();
    let file = meridian_region::ClusterFile::load(&path).unwrap();
    assert_eq!(file.region_names(), REGIONS);
    for name in REGIONS {
        let cfg = file.region_config(name).unwrap();
        for p in &cfg.peers {
            assert_eq!(
                p.url,
                format!("https://{}.meridian.svc.cluster.local:7111", p.name)
            );
        }
        let manifest = std::fs::read_to_string(k8s.join(format!("{name}.yaml"))).unwrap();
        assert!(manifest.contains(&format!("value: {name}\n")), "{name}");
        assert!(manifest.contains(&format!("name: {name}\n")), "{name}");
        assert!(manifest.contains("secretName: meridian-certs"), "{name}");
    }
}
