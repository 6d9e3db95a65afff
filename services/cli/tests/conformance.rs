//! `meridian conformance --measure` round trip: a cluster whose lanes and
//! link latencies are known (lane delays exponential with a 10 ms mean, 20
//! ms one way on every link) is measured from outside, and the profile it
//! writes gives those parameters back within the tolerance docs/
//! conformance.md states: each link's latency between 20 ms and 20 ms plus
//! 15 ms (what is not the exponential part includes the regions' own
//! commit, ship and apply), the lane delay between 0.6 and 1.6 times its
//! mean. The profile then loads into a cluster file as its `profile`.

use std::path::Path;
use std::process::Stdio;

use meridian_cluster::ports::free_port;
use meridian_region::ClusterFile;

// Shared with the other tests that run `meridian up`; this one needs only
// part of each.
#[allow(dead_code)]
use crate::common;
#[allow(dead_code)]
use crate::up;
use common::connected;
use up::{Daemon, REGIONS, cluster};

const LANE_MS: f64 = 10.0;
const LINK_MS: f64 = 20.0;

async fn meridian(config: &Path, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(args)
        .arg(if args[0] == "net" {
            "--config"
        } else {
            "--cluster"
        })
        .arg(config)
        .env_remove("MERIDIAN_CONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run meridian");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measured_profile_gives_back_the_lanes_and_latencies_of_the_cluster() {
    let c = cluster(false);
    let mut file = ClusterFile::load(&c.config).unwrap();
    // The checker talks to each region's DynamoDB endpoint.
    for r in &mut file.regions {
        r.dynamo = Some(([127, 0, 0, 1], free_port().unwrap()).into());
    }
    file.replication_lane_delay_ms = LANE_MS;
    file.replication_lane_delay_max_ms = 200.0;
    file.write(&c.config).unwrap();
    let _up = Daemon::start(
        &["up", "--no-dashboard"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    connected(&c.grpc).await;
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let (ok, said) = meridian(
            &c.config,
            &["net", "lag", REGIONS[a], REGIONS[b], "20ms", "--both"],
        )
        .await;
        assert!(ok, "{said}");
    }
    let profile = c.dir.path().join("profile.toml");
    let (ok, said) = meridian(
        &c.config,
        &[
            "conformance",
            "--only",
            "replication",
            "--samples",
            "300",
            "--measure",
            profile.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{said}");

    // The profile as the cluster file loads it.
    let mut with = ClusterFile::load(&c.config).unwrap();
    with.profile = Some(profile.clone());
    with.replication_lane_delay_ms = 2.0;
    let path = c.dir.path().join("profiled.toml");
    with.write(&path).unwrap();
    let loaded = ClusterFile::load(&path).unwrap();
    let text = std::fs::read_to_string(&profile).unwrap();
    let m = loaded.replication_lane_delay_ms;
    assert!(
        (0.6 * LANE_MS..=1.6 * LANE_MS).contains(&m),
        "lane delay {m} ms for {LANE_MS}:\n{said}\n{text}"
    );
    assert_eq!(loaded.link_latency_ms.len(), 6, "{text}");
    for (from, to, ms) in &loaded.link_latency_ms {
        assert!(
            (LINK_MS - 1.0..=LINK_MS + 15.0).contains(ms),
            "{from} → {to}: {ms} ms for {LINK_MS}:\n{text}"
        );
    }
}
