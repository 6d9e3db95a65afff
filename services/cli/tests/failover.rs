//! The failover endpoint end to end (docs/failover.md): the real
//! `meridian up` serves it in front of three region processes; writes go
//! through it, the home region is cut off and crashed, the endpoint moves
//! within threshold × interval + TTL, writes go to the next region, the
//! home comes back and the endpoint is asked back; the move's record
//! (failed requests, missing writes) is checked against the stores.
//! Every wait polls with a deadline; nothing sleeps to wait for an outcome.

use std::path::Path;
use std::time::{Duration, Instant};

use meridian_cluster::ControlApi;
use meridian_cluster::http::{Target, request};
use meridian_region::{ClusterFile, FailoverSection};
use serde_json::Value as Json;

use crate::common;
use crate::up;
use common::{create_kvs, poll};
use up::{Cluster, Daemon, REGIONS, cluster, head, with_dynamo_ports};

const INTERVAL_MS: u64 = 300;
const THRESHOLD: u32 = 3;
const TTL_MS: u64 = 1_000;
/// What a loaded two-core machine may add to the bound: a health round's
/// own time and the scheduler.
const SLACK: Duration = Duration::from_secs(3);

/// DynamoDB PutItem of `{"id": id}` into `kvs` through `endpoint`
/// (`host:port`): the HTTP status and the body.
pub(crate) async fn put(endpoint: &str, id: &str) -> (u16, Json) {
    let body = format!(r#"{{"TableName": "kvs", "Item": {{"id": {{"S": "{id}"}}}}}}"#);
    let r = request(
        &Target::at(endpoint, "/"),
        "POST",
        &[
            ("x-amz-target", "DynamoDB_20120810.PutItem"),
            ("content-type", "application/x-amz-json-1.0"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=k/20261128/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            ),
        ],
        body.into_bytes(),
        1 << 20,
        Duration::from_secs(15),
    )
    .await
    .expect("the failover endpoint answers");
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Json::Null),
    )
}

async fn status(api: &ControlApi) -> Json {
    api.failover().await.unwrap().expect("a failover endpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failover_endpoint_moves_on_a_crash_accounts_for_writes_and_comes_back_when_asked() {
    let c = cluster(false);
    let (file, endpoint, api, _up) = up_with_failover_endpoint(&c).await;
    let dirs: Vec<_> = REGIONS.iter().map(|r| file.data_dir.join(r)).collect();
    let [home, next, _] = REGIONS;

    // Writes through the endpoint land in the home region.
    for i in 0..5 {
        let (status, body) = put(&endpoint, &format!("before-{i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let v = head(&dirs[0], "before-0").expect("the write in the home region");
    assert_eq!(v.origin, home);
    for i in 0..5 {
        let id = format!("before-{i}");
        poll("the home's writes to reach the next region", || {
            let (dir, id) = (dirs[1].clone(), id.clone());
            async move { head(&dir, &id).is_some() }
        })
        .await;
    }

    // The home is cut off from its peers: what it acknowledges now stays
    // there, and is what the next region lacks when the endpoint moves.
    cut_off(&api, home).await;
    let stranded: Vec<String> = (0..3).map(|i| format!("stranded-{i}")).collect();
    for id in &stranded {
        let (status, body) = put(&endpoint, id).await;
        assert_eq!(status, 200, "{body}");
    }

    api.process(home, "crash").await.unwrap();
    let (moved, failed, during_acked) = until_moved(&api, &endpoint, home).await;
    moved_within_the_bound(&api, moved, failed).await;

    // Writes go to the next region now.
    let (code, body) = put(&endpoint, "after").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        head(&dirs[1], "after").map(|v| v.origin),
        Some(next.to_string())
    );

    // The missing writes are exactly the stranded ones, with the versions
    // the home acknowledged.
    missing_are_the_stranded(&api, &stranded, &dirs[0]).await;
    // Every write acknowledged before the cut is in the next region.
    for i in 0..5 {
        assert!(head(&dirs[1], &format!("before-{i}")).is_some());
    }

    refusals_name_the_fault(&api, home).await;
    back_home_when_asked(&api, &endpoint, stranded.len(), &dirs[0]).await;

    // Every acknowledged write is in every region in the end.
    let acked: Vec<String> = (0..5)
        .map(|i| format!("before-{i}"))
        .chain(stranded.iter().cloned())
        .chain(["after".to_string(), "home-again".to_string()])
        .chain(during_acked.then(|| "during".to_string()))
        .collect();
    for dir in &dirs {
        for id in &acked {
            poll("every acknowledged write everywhere", || {
                let (dir, id) = (dir.clone(), id.clone());
                async move { head(&dir, &id).is_some() }
            })
            .await;
        }
    }
}

/// `meridian up` of `c` with a failover endpoint, once its health checks
/// have begun and table `kvs` is in every region: the cluster file, the
/// endpoint's address, the control API and the running daemon.
pub(crate) async fn up_with_failover_endpoint(
    c: &Cluster,
) -> (ClusterFile, String, ControlApi, Daemon) {
    let (file, listen) = with_failover_endpoint(c);
    let api = ControlApi::new(format!("127.0.0.1:{}", c.api));
    let up = Daemon::start(
        &["up", "--no-dashboard"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    poll("the failover endpoint's health checks to start", || async {
        api.failover()
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s["armed"] == true)
    })
    .await;
    create_kvs(&c.grpc).await;
    (file, listen.to_string(), api, up)
}

/// The cluster file of `c` with a DynamoDB endpoint per region and a
/// failover endpoint over them on a port of its own, written back; and
/// where the failover endpoint listens.
fn with_failover_endpoint(c: &Cluster) -> (ClusterFile, std::net::SocketAddr) {
    let (mut file, listen) = with_dynamo_ports(c);
    let mut section = FailoverSection::new(listen, REGIONS.iter().map(|r| r.to_string()).collect());
    section.interval_ms = INTERVAL_MS;
    section.failure_threshold = THRESHOLD;
    section.ttl_ms = TTL_MS;
    section.timeout_ms = INTERVAL_MS;
    file.failover = Some(section);
    file.write(&c.config).unwrap();
    (file, listen)
}

/// The home is cut off from its peers both ways: what it acknowledges
/// now stays there, and is what the next region lacks when the endpoint
/// moves.
async fn cut_off(api: &ControlApi, home: &str) {
    for peer in &REGIONS[1..] {
        for (a, b) in [(home, *peer), (*peer, home)] {
            api.put_toxic(
                &format!("{a}>{b}"),
                "test.cut",
                "timeout",
                "upstream",
                serde_json::json!({"timeout": 0}),
                serde_json::json!({"timeout": 0}),
                None,
            )
            .await
            .unwrap();
        }
    }
}

/// Writes through the endpoint after the home crashed, until it moves:
/// how long after the crash, how many failed (503 ServiceUnavailable),
/// and whether one went through to the next region when the endpoint
/// moved between a status read and the write.
async fn until_moved(api: &ControlApi, endpoint: &str, home: &str) -> (Duration, u64, bool) {
    let crashed = Instant::now();
    let mut failed = 0u64;
    // A write the next region took when the endpoint moved between a
    // status read and the write.
    let mut during_acked = false;
    let moved = loop {
        let s = status(api).await;
        if s["active"] != home {
            break crashed.elapsed();
        }
        assert!(
            crashed.elapsed() < Duration::from_secs(60),
            "never moved: {s:#}"
        );
        let (code, body) = put(endpoint, "during").await;
        if code == 200 {
            during_acked = true;
            break crashed.elapsed();
        }
        assert_eq!(code, 503, "{body}");
        assert_eq!(
            body["__type"], "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
            "{body}"
        );
        failed += 1;
    };
    (moved, failed, during_acked)
}

/// The move came within the threshold's intervals and the TTL of the
/// crash, to the next region for its health, counting the requests that
/// failed meanwhile (`failed` as the client saw them).
async fn moved_within_the_bound(api: &ControlApi, moved: Duration, failed: u64) {
    let [home, next, _] = REGIONS;
    let bound = Duration::from_millis(u64::from(THRESHOLD) * INTERVAL_MS + TTL_MS);
    assert!(
        moved <= bound + SLACK,
        "moved {moved:?} after the crash; the bound is {bound:?} (+{SLACK:?})"
    );
    let s = status(api).await;
    assert_eq!(s["active"], next);
    let m = &s["moves"][0];
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str(), m["why"].as_str()),
        (Some(home), Some(next), Some("health")),
        "{m:#}"
    );
    // From the first failed check: threshold − 1 more intervals, then the TTL.
    let detect = m["at_ms"].as_u64().unwrap() - m["first_failed_check_ms"].as_u64().unwrap();
    assert!(
        detect >= TTL_MS && detect <= bound.as_millis() as u64 + SLACK.as_millis() as u64,
        "{m:#}"
    );
    eprintln!(
        "moved {moved:?} after the crash, {detect} ms after the first failed check; the bound is {bound:?}"
    );
    let counted = m["failed_requests"].as_u64().unwrap();
    assert!(
        counted <= failed && counted + 1 >= failed,
        "the endpoint counted {counted} failed requests, the client saw {failed}"
    );
    assert_eq!(s["requests"]["failed"].as_u64(), Some(failed));
}

/// The writes the move found missing are exactly the `stranded` ones,
/// with the versions the home (its store in `home_dir`) acknowledged.
async fn missing_are_the_stranded(api: &ControlApi, stranded: &[String], home_dir: &Path) {
    poll("the move's comparison of the stores", || async {
        status(api).await["moves"][0]["missing"]["compared"] == true
    })
    .await;
    let s = status(api).await;
    let missing = &s["moves"][0]["missing"];
    assert_eq!(missing["error"], Json::Null, "{missing:#}");
    let listed: Vec<(String, String)> = missing["writes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_eq!(w["table"], "kvs");
            assert_eq!(w["state"], "missing", "{w:#}");
            (
                w["key"]["id"]["S"].as_str().unwrap().to_string(),
                w["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = stranded
        .iter()
        .map(|id| (id.clone(), head(home_dir, id).unwrap().to_string()))
        .collect();
    let mut got = listed.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{missing:#}");
}

/// A move to a region the endpoint does not have, and one back home
/// while the home is not healthy, are refused naming why.
async fn refusals_name_the_fault(api: &ControlApi, home: &str) {
    let e = api.failover_move(Some("zz")).await.unwrap_err().to_string();
    assert!(
        e.contains("not in failover.regions") && e.contains("(400)"),
        "{e}"
    );
    let e = api.failover_move(None).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("{home} is not healthy yet")) && e.contains("(409)"),
        "{e}"
    );
}

/// The home comes back: the `stranded` writes arrive in the next region,
/// and the endpoint goes home when asked, once the home (its store in
/// `home_dir`) is healthy; writes land there again.
async fn back_home_when_asked(api: &ControlApi, endpoint: &str, stranded: usize, home_dir: &Path) {
    let [home, next, _] = REGIONS;
    api.reset().await.unwrap();
    api.process(home, "restart").await.unwrap();
    poll("the stranded writes to come back", || async {
        status(api).await["moves"][0]["missing"]["came_back"].as_u64() == Some(stranded as u64)
    })
    .await;
    poll("the endpoint to move back home when asked", || async {
        api.failover_move(None).await.is_ok()
    })
    .await;
    let s = status(api).await;
    assert_eq!(s["active"], home);
    let back = &s["moves"][1];
    assert_eq!(
        (
            back["from"].as_str(),
            back["to"].as_str(),
            back["why"].as_str()
        ),
        (Some(next), Some(home), Some("asked")),
        "{back:#}"
    );
    let (code, body) = put(endpoint, "home-again").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        head(home_dir, "home-again").map(|v| v.origin),
        Some(home.to_string())
    );
}
