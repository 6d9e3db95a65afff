//! One container, a whole cluster: `meridian:local up` with the image's own
//! cluster file, regions/image/one-box.toml (docs/containers.md).
//! .ci/one-box.sh drives it from the host with boto3 (time to serving,
//! replication, SIGTERM, a restart on the volume); here: the file itself,
//! and the health check, which must fail while any one region is down.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use testcontainers::bollard::models::VolumeCreateRequest;
use testcontainers::bollard::query_parameters::{
    InspectContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use testcontainers::core::{CmdWaitFor, ExecCommand, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{LABEL, REGIONS, engine, image};

fn regions_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../regions")
}

fn loopback(addr: SocketAddr, what: &str) {
    assert!(
        addr.ip().is_loopback(),
        "{what} {addr} should stay on loopback"
    );
}

fn everywhere(addr: SocketAddr, what: &str) {
    assert!(
        addr.ip().is_unspecified(),
        "{what} {addr} should listen on 0.0.0.0"
    );
}

/// Without Docker: the image's cluster file listens on the container's
/// interfaces for what the user reaches (the edge on 4566 among them) and on loopback for the rest, keeps
/// its data and certificates on the volume, and leaves 127.0.0.1:9101 to
/// the whole cluster's health, where the Dockerfile points both modes.
#[test]
fn the_one_box_file_serves_the_host_and_keeps_the_rest_on_loopback() {
    let dir = regions_dir();
    let file = meridian_region::ClusterFile::load(&dir.join("image/one-box.toml")).unwrap();
    assert_eq!(file.region_names(), REGIONS);
    assert!(file.data_dir.starts_with("/data"), "{:?}", file.data_dir);
    let tls = file.tls.as_ref().expect("[tls] in one-box.toml");
    assert!(tls.dir.starts_with("/data"), "{:?}", tls.dir);
    let dockerfile = std::fs::read_to_string(dir.join("image/Dockerfile")).unwrap();
    assert!(dockerfile.contains("MERIDIAN_UP_HEALTH=127.0.0.1:9101"));
    assert!(dockerfile.contains("MERIDIAN_HEALTH_URL=http://127.0.0.1:9101/health"));
    assert!(dockerfile.contains("MERIDIAN_UP_DASHBOARD=0.0.0.0:7180"));
    assert!(dockerfile.contains("COPY one-box.toml /etc/meridian/cluster.toml"));
    for (i, r) in file.regions.iter().enumerate() {
        everywhere(r.dynamo.expect("a DynamoDB endpoint"), "dynamo");
        assert_eq!(r.dynamo.unwrap().port(), 8101 + i as u16);
        loopback(r.grpc, "grpc");
        loopback(r.admin_addr(), "admin");
        loopback(
            r.replication.expect("a replication listener"),
            "replication",
        );
        let metrics = r
            .metrics
            .expect("metrics, where the cluster's health reads");
        loopback(metrics, "metrics");
        assert_ne!(metrics.port(), 9101, "9101 is the whole cluster's health");
    }
    let netsim = file.netsim.as_ref().expect("[netsim]");
    everywhere(netsim.api, "the control API");
    assert!(
        netsim.listen_host.is_loopback(),
        "the link proxies stay on loopback"
    );
    let edge = file.edge.as_ref().expect("[edge]");
    everywhere(edge.listen, "the edge");
    assert_eq!(edge.listen.port(), 4566);
    let failover = file.failover.as_ref().expect("[failover]");
    everywhere(failover.listen, "the failover endpoint");
    // compose-app.yaml publishes what the file serves.
    let app = std::fs::read_to_string(dir.join("compose-app.yaml")).unwrap();
    for mapping in [
        "127.0.0.1:4566:4566",
        "127.0.0.1:7180:7180",
        "127.0.0.1:8100-8103:8100-8103",
        "127.0.0.1:8474:8474",
    ] {
        assert!(app.contains(mapping), "compose-app.yaml lacks {mapping}");
    }
    assert_eq!(failover.listen.port(), 8100);
    assert_eq!(netsim.api.port(), 8474);
}

/// Runs `/meridian ARGS` in the container; its exit code and output.
async fn exec(c: &ContainerAsync<GenericImage>, args: &[&str]) -> (i64, String) {
    let mut cmd = vec!["/meridian"];
    cmd.extend_from_slice(args);
    let mut r = c
        .exec(ExecCommand::new(cmd).with_cmd_ready_condition(CmdWaitFor::exit()))
        .await
        .unwrap_or_else(|e| panic!("exec {args:?}: {e}"));
    let out = String::from_utf8_lossy(&r.stdout_to_vec().await.unwrap()).to_string();
    let err = String::from_utf8_lossy(&r.stderr_to_vec().await.unwrap()).to_string();
    let code = r.exit_code().await.unwrap().unwrap_or(-1);
    (code, format!("{out}{err}"))
}

/// `exec` until `want` holds of its answer, or panics after `within`.
async fn exec_until(
    c: &ContainerAsync<GenericImage>,
    args: &[&str],
    within: Duration,
    want: impl Fn(i64, &str) -> bool,
) -> String {
    let end = tokio::time::Instant::now() + within;
    loop {
        let (code, out) = exec(c, args).await;
        if want(code, &out) {
            return out;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "{args:?} never gave the answer wanted within {within:?}; last: {code} {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The container and its volume, removed when the test ends, also when it
/// fails.
struct OneBox {
    docker: testcontainers::bollard::Docker,
    container: Option<ContainerAsync<GenericImage>>,
    volume: String,
}

impl OneBox {
    async fn cleanup(&mut self) {
        if let Some(c) = self.container.take() {
            let _ = c.rm().await;
        }
        let _ = self
            .docker
            .remove_volume(&self.volume, Some(RemoveVolumeOptions { force: true }))
            .await;
    }
}

impl Drop for OneBox {
    fn drop(&mut self) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            tokio::task::block_in_place(|| handle.block_on(self.cleanup()));
        }
    }
}

/// `up` as the container's PID 1: Docker's health check passes once every
/// region serves; with one region crashed, `meridian health` fails and names
/// it; after the restart it passes again; `docker stop` (SIGTERM) ends the
/// container with exit code 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_box_container_is_healthy_only_while_every_region_is() {
    let Some(docker) = engine().await else {
        return;
    };
    let tag = format!("mt-{}-one-box-health", std::process::id());
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(tag.clone()),
            labels: Some([(LABEL.to_string(), tag.clone())].into()),
            ..Default::default()
        })
        .await
        .expect("create the volume");
    let mut lab = OneBox {
        docker: docker.clone(),
        container: None,
        volume: tag.clone(),
    };
    let started = tokio::time::Instant::now();
    let (name, image_tag) = image();
    let container = GenericImage::new(name, image_tag)
        .with_wait_for(WaitFor::healthcheck())
        .with_cmd(["up"])
        .with_mount(Mount::volume_mount(&tag, "/data"))
        .with_label(LABEL, &tag)
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await
        .expect("start meridian:local up");
    println!("meridian:local up healthy after {:?}", started.elapsed());
    let id = container.id().to_string();
    let container = lab.container.insert(container);
    let (code, out) = exec(container, &["health"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 regions healthy"), "{out}");

    let (code, out) = exec(container, &["net", "crash", "eu-west-1"]).await;
    assert_eq!(code, 0, "{out}");
    let out = exec_until(container, &["health"], Duration::from_secs(10), |c, _| {
        c != 0
    })
    .await;
    assert!(out.contains("eu-west-1"), "{out}");
    assert!(
        !out.contains("us-east-1 ("),
        "only the crashed region is named: {out}"
    );

    let (code, out) = exec(container, &["net", "restart", "eu-west-1"]).await;
    assert_eq!(code, 0, "{out}");
    exec_until(container, &["health"], Duration::from_secs(20), |c, _| {
        c == 0
    })
    .await;

    docker
        .stop_container(
            &id,
            Some(StopContainerOptions {
                t: Some(10),
                ..Default::default()
            }),
        )
        .await
        .expect("docker stop");
    let state = docker
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .expect("inspect")
        .state
        .expect("a state");
    assert_eq!(state.exit_code, Some(0), "{state:?}");
}
