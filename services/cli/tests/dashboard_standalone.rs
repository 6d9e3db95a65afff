//! `meridian dashboard`: the dashboard of a cluster that runs already,
//! served apart from `meridian up` (as compose's `dashboard` container
//! does). No browser: the page's own JSON routes answer for it. Every wait
//! polls with a deadline.

use std::process::Command;
use std::time::Duration;

use meridian_cluster::http::{Response, Target, request};
use serde_json::{Value as Json, json};

use crate::common;
use crate::up;
use common::poll;
use up::{Cluster, Daemon, REGIONS, cluster};

/// The first line of `log` that starts with `prefix`, without it.
fn line_after(log: &str, prefix: &str) -> Option<String> {
    log.lines()
        .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
}

async fn call(target: &Target, method: &str, headers: &[(&str, &str)], body: Json) -> Response {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    request(
        target,
        method,
        headers,
        body,
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap()
}

/// The regions the dashboard at `addr` sees up in its newest sample.
async fn regions_up(addr: &str) -> Vec<String> {
    let r = call(&Target::at(addr, "/api/snapshot"), "GET", &[], Json::Null).await;
    let s: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
    s["regions"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["up"] == json!(true))
                .filter_map(|r| r["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn every_region() -> Vec<String> {
    REGIONS.iter().map(|r| r.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_dashboard_shows_and_changes_a_running_cluster() {
    // As the default cluster, it has an admin token, which `up` creates.
    let c = cluster(true);
    let mut up = Daemon::start(
        &["up", "--no-dashboard"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    poll("`meridian up` to start its regions", || {
        let started = up.log().contains("regions up");
        async move { started }
    })
    .await;
    assert!(!up.log().contains("Dashboard:"), "{}", up.log());

    // Off loopback, outside a container: refused, naming the flag and the
    // address, before anything is served.
    let refused = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["dashboard", "--listen", "0.0.0.0:0", "--config"])
        .arg(&c.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        err.contains("--listen: 0.0.0.0:0 is not a loopback address"),
        "{err}"
    );

    let dash = Daemon::start(
        &["dashboard", "--listen", "127.0.0.1:0"],
        &c.config,
        c.dir.path().join("dashboard.log"),
    );
    poll("`meridian dashboard` to print its URL", || {
        let found = line_after(&dash.log(), "Dashboard: ").is_some();
        async move { found }
    })
    .await;
    // The URL carries the token `up` made, as `up`'s own would.
    let url = line_after(&dash.log(), "Dashboard: ").unwrap();
    let token = std::fs::read_to_string(c.dir.path().join("admin.token")).unwrap();
    let token = token.trim();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with(&format!("/#token={token}")),
        "{url}"
    );
    let addr = url["http://".len()..]
        .split('/')
        .next()
        .unwrap()
        .to_string();

    poll("the dashboard to see three regions up", || {
        let addr = addr.clone();
        async move { regions_up(&addr).await == every_region() }
    })
    .await;
    let r = call(&Target::at(&addr, "/api/snapshot"), "GET", &[], Json::Null).await;
    let s: Json = serde_json::from_slice(&r.body).unwrap();
    // This cluster's control API, as its file gives it.
    assert_eq!(
        s["control_api"],
        json!(format!("127.0.0.1:{}", c.api)),
        "{s}"
    );
    strong_table_counted(&addr, c.grpc[0]).await;
    tables_view(&addr, &c.grpc).await;
    let page = call(&Target::at(&addr, "/"), "GET", &[], Json::Null).await;
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<script"));

    actions_take_the_token(&addr, token).await;
    drop(dash);

    served_in_a_container(&c).await;
    up.stop();
}

/// A STRONG table: every region's sample carries its count of writes
/// answered with ReplicatedWriteConflictException, which the Tables view
/// shows beside it (tests/tests/mrsc.rs checks the count itself). The
/// table is created through the region at `grpc`.
async fn strong_table_counted(addr: &str, grpc: u16) {
    meridian_proto::v1::meridian_client::MeridianClient::new(common::channel(grpc))
        .create_table(meridian_proto::v1::CreateTableRequest {
            name: "strict".into(),
            partition_key: Some(meridian_proto::v1::KeyAttr {
                name: "id".into(),
                r#type: "S".into(),
            }),
            replicas: every_region(),
            consistency: "STRONG".into(),
            ..Default::default()
        })
        .await
        .expect("create a STRONG table");
    poll(
        "every region's sample to count the STRONG table's write conflicts",
        || {
            let addr = addr.to_string();
            async move {
                let r = call(&Target::at(&addr, "/api/snapshot"), "GET", &[], Json::Null).await;
                let s: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
                s["regions"].as_array().is_some_and(|rs| {
                    rs.len() == REGIONS.len()
                        && rs.iter().all(|r| {
                            r["status"]["strong"].as_array().is_some_and(|ts| {
                                ts.iter().any(|t| {
                                    t["table"] == json!("strict")
                                        && t["write_conflicts"] == json!(0)
                                })
                            })
                        })
                })
            }
        },
    )
    .await;
}

/// The Tables view's data: each table's mode, as every region says.
async fn tables_view(addr: &str, grpc: &[u16]) {
    common::create_kvs(grpc).await;
    let r = call(&Target::at(addr, "/api/tables"), "GET", &[], Json::Null).await;
    let tables: Json = serde_json::from_slice(&r.body).unwrap();
    for region in tables["regions"].as_array().unwrap() {
        let modes: Vec<(String, String)> = region["tables"]
            .as_array()
            .unwrap_or_else(|| panic!("{region}"))
            .iter()
            .map(|t| {
                let field = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                (field("name"), field("consistency"))
            })
            .collect();
        let want: Vec<(String, String)> = vec![
            ("kvs".into(), "EVENTUAL".into()),
            ("strict".into(), "STRONG".into()),
        ];
        assert_eq!(modes, want, "{region}");
    }
}

/// Actions take the cluster's `token` here too.
async fn actions_take_the_token(addr: &str, token: &str) {
    let net = Target::at(addr, "/api/net");
    let lag = json!({"args": ["lag", REGIONS[0], REGIONS[1], "40ms"]});
    let json_type = ("content-type", "application/json");
    let r = call(&net, "POST", &[json_type], lag.clone()).await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());
    let r = call(&net, "POST", &[json_type, auth], lag).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    poll("the lag to show on its link", || {
        let addr = addr.to_string();
        async move {
            let r = call(&Target::at(&addr, "/api/snapshot"), "GET", &[], Json::Null).await;
            let s: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
            s["links"].as_array().is_some_and(|ls| {
                ls.iter().any(|l| {
                    l["from"] == json!(REGIONS[0])
                        && l["to"] == json!(REGIONS[1])
                        && l["faults"].to_string().contains("latency 40 ms")
                })
            })
        }
    })
    .await;
    let r = call(&net, "POST", &[json_type, auth], json!({"args": ["heal"]})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// In a container it listens on every interface, and still answers only
/// requests addressed to loopback: compose publishes it on
/// 127.0.0.1:7180, whatever port it has inside.
async fn served_in_a_container(c: &Cluster) {
    let boxed = Daemon::start(
        &["dashboard", "--in-container", "--listen", "0.0.0.0:0"],
        &c.config,
        c.dir.path().join("container.log"),
    );
    let listening = "listening on 0.0.0.0:";
    poll("the container's dashboard to say where it listens", || {
        let found = boxed.log().contains(listening);
        async move { found }
    })
    .await;
    let log = boxed.log();
    let port: u16 = log[log.find(listening).unwrap() + listening.len()..]
        .split(|ch: char| !ch.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let inside = format!("127.0.0.1:{port}");
    poll("the container's dashboard to see three regions up", || {
        let inside = inside.clone();
        async move { regions_up(&inside).await == every_region() }
    })
    .await;
    let published = Target {
        authority: inside.clone(),
        host: "127.0.0.1:7180".into(),
        path: "/api/snapshot".into(),
    };
    let r = call(&published, "GET", &[], Json::Null).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let elsewhere = Target {
        host: "dashboard.example:7180".into(),
        ..published
    };
    let r = call(&elsewhere, "GET", &[], Json::Null).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    drop(boxed);
}
