//! `meridian net` end to end: the real `meridian up` binary runs three
//! region processes behind its link proxy, and the real `meridian net`
//! binary cuts links, crashes and restarts regions and skews a clock.
//! Every wait polls with a deadline; nothing sleeps to wait for an outcome.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meridian_core::{AttrValue, Item, encode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_proto::v1::meridian_client::MeridianClient;
use serde_json::Value as Json;

use crate::common;
use crate::up;
use common::{channel, connected, create_kvs, create_table, poll};
use up::{Cluster, Daemon, REGIONS, cluster};

/// Runs `meridian net --config <c> <args>`; returns (success, stdout, stderr).
async fn net(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .arg("net")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("MERIDIAN_CONFIG")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run meridian net");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `meridian net …` that must succeed; its one line of output.
async fn net_ok(config: &Path, args: &[&str]) -> String {
    let (ok, out, err) = net(config, args).await;
    assert!(ok, "meridian net {args:?} failed: {err}{out}");
    out
}

/// `meridian net …` that must fail; its error.
async fn net_err(config: &Path, args: &[&str]) -> String {
    let (ok, out, err) = net(config, args).await;
    assert!(!ok, "meridian net {args:?} should have failed: {out}");
    err
}

/// The `net show` row of the directed link `a → b`.
fn row<'a>(show: &'a str, a: &str, b: &str) -> &'a str {
    let prefix = format!("{a} → {b} ");
    show.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row for {a} → {b} in:\n{show}"))
}

async fn status(port: u16) -> Option<pb::StatusResponse> {
    AdminClient::new(channel(port))
        .status(pb::StatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

fn key(id: &str) -> Item {
    let mut item = Item::new();
    item.insert("id".into(), AttrValue::S(id.into()));
    item
}

async fn put(port: u16, id: &str) -> Result<(), tonic::Status> {
    put_in(port, "kvs", id).await
}

async fn put_in(port: u16, table: &str, id: &str) -> Result<(), tonic::Status> {
    MeridianClient::new(channel(port))
        .put_item(pb::PutItemRequest {
            table: table.into(),
            item: encode_item(&key(id)),
            condition: None,
        })
        .await
        .map(|_| ())
}

async fn has(port: u16, id: &str) -> bool {
    has_in(port, "kvs", id).await
}

async fn has_in(port: u16, table: &str, id: &str) -> bool {
    matches!(
        MeridianClient::new(channel(port))
            .get_item(pb::GetItemRequest {
                table: table.into(),
                key: encode_item(&key(id)),
                consistent: false,
            })
            .await,
        Ok(r) if r.get_ref().item.is_some()
    )
}

/// How far a region's HLC reads ahead of this machine's clock, in ms.
async fn hlc_ahead_ms(port: u16) -> f64 {
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i128;
    let s = status(port).await.expect("status");
    (s.hlc_now.unwrap().physical_micros as i128 - before) as f64 / 1e3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_cuts_heals_crashes_restarts_and_skews_a_running_cluster() {
    let c = cluster(false);
    let mut up = Daemon::start(&["up"], &c.config, c.dir.path().join("up.log"));
    let rc = REGIONS[2];
    connected(&c.grpc).await;
    let api_url = format!("http://127.0.0.1:{}", c.api);
    poll("the banner to name the control API", || {
        let log = up.log();
        let api_url = api_url.clone();
        async move { log.contains(&api_url) }
    })
    .await;
    create_kvs(&c.grpc).await;

    // `up` recorded its cluster: `status` finds it from another directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = status_json(&c, elsewhere.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["cluster"], "net-3");
    assert!(
        doc["regions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["up"] == true),
        "{doc}"
    );

    // Only a crashed region's data directory is wiped.
    let e = net_err(&c.config, &["wipe", rc]).await;
    assert!(e.contains(&format!("REGION: {rc} is running")), "{e}");

    partition_then_heal(&c).await;
    crash_and_restart(&c, &mut up, elsewhere.path()).await;
    skew_a_clock(&c).await;

    let status = up.stop().expect("`meridian up` stops on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(up.log().contains("all regions stopped"), "{}", up.log());
}

/// `meridian status --json` run from `elsewhere`, a directory that holds
/// no cluster file: it finds the cluster `up` recorded.
fn status_json(c: &Cluster, elsewhere: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["status", "--json"])
        .current_dir(elsewhere)
        .env_remove("MERIDIAN_CONFIG")
        .env("XDG_RUNTIME_DIR", c.dir.path())
        .output()
        .expect("run meridian status")
}

/// A one-way partition holds a write back from one region only, and the
/// heal lets it through.
async fn partition_then_heal(c: &Cluster) {
    let (a, b, r3) = (c.grpc[0], c.grpc[1], c.grpc[2]);
    let [ra, rb, rc] = REGIONS;
    // One-way partition us-east-1 → eu-west-1.
    let line = net_ok(&c.config, &["partition", ra, rb]).await;
    assert!(
        line.contains(&format!("partitioned {ra} → {rb} (blackhole)")),
        "{line}"
    );
    let show = net_ok(&c.config, &["show"]).await;
    assert!(row(&show, ra, rb).contains("blackhole"), "{show}");
    assert!(!row(&show, rb, ra).contains("blackhole"), "{show}");
    assert!(!row(&show, ra, rc).contains("blackhole"), "{show}");

    put(a, "p1").await.unwrap();
    poll("p1 to reach ap-southeast-1", || has(r3, "p1")).await;
    poll("us-east-1 to count p1 pending for eu-west-1", || async {
        status(a)
            .await
            .is_some_and(|s| s.peers.iter().any(|p| p.peer == rb && p.pending >= 1))
    })
    .await;
    // Absence needs time to show: watch eu-west-1 for 3 s (bounded).
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < watch_until {
        assert!(!has(b, "p1").await, "p1 crossed the partition to eu-west-1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let line = net_ok(&c.config, &["heal"]).await;
    assert!(line.starts_with("healed every link"), "{line}");
    assert!(line.contains("latency, bandwidth and loss stay"), "{line}");
    poll("p1 to reach eu-west-1 after the heal", || has(b, "p1")).await;
    let show = net_ok(&c.config, &["show"]).await;
    assert!(!row(&show, ra, rb).contains("blackhole"), "{show}");
}

/// A crashed region stops answering while the others take writes and
/// `up` keeps running; a restart brings it back to catch up.
async fn crash_and_restart(c: &Cluster, up: &mut Daemon, elsewhere: &Path) {
    let (a, b, r3) = (c.grpc[0], c.grpc[1], c.grpc[2]);
    let [ra, _, rc] = REGIONS;
    // Crash ap-southeast-1; the others keep taking writes.
    let line = net_ok(&c.config, &["crash", rc]).await;
    assert!(
        line.starts_with(&format!("crashed {rc} (SIGKILL")),
        "{line}"
    );
    let show = net_ok(&c.config, &["show"]).await;
    let region_row = show
        .lines()
        .find(|l| l.starts_with(rc) && !l.contains('→'))
        .unwrap_or_else(|| panic!("no region row for {rc}:\n{show}"));
    assert!(region_row.contains("crashed"), "{show}");
    assert!(
        status(r3).await.is_none(),
        "a crashed region does not answer"
    );
    assert!(up.running(), "`meridian up` keeps running after a crash");
    let out = status_json(c, elsewhere);
    assert_eq!(
        out.status.code(),
        Some(3),
        "status exits 3 with a region down"
    );
    for i in 0..10 {
        let (port, id) = if i % 2 == 0 { (a, "c") } else { (b, "d") };
        put(port, &format!("{id}{i}"))
            .await
            .expect("the surviving regions keep accepting writes");
    }
    poll("the survivors to exchange their writes", || async {
        has(b, "c8").await && has(a, "d9").await
    })
    .await;
    let err = net_err(&c.config, &["crash", rc]).await;
    assert!(err.contains("not running"), "{err}");
    let err = net_err(&c.config, &["restart", ra]).await;
    assert!(err.contains("already running"), "{err}");

    let line = net_ok(&c.config, &["restart", rc]).await;
    assert!(line.starts_with(&format!("restarted {rc} (pid ")), "{line}");
    poll("the restarted region to catch up", || async {
        for i in 0..10 {
            let id = format!("{}{i}", if i % 2 == 0 { "c" } else { "d" });
            if !has(r3, &id).await {
                return false;
            }
        }
        true
    })
    .await;
}

/// A skewed clock moves the region's HLC, and `show` reports the lead.
async fn skew_a_clock(c: &Cluster) {
    let b = c.grpc[1];
    let rb = REGIONS[1];
    // Skew eu-west-1's clock 2 s ahead: its HLC follows.
    let before = hlc_ahead_ms(b).await;
    assert!(before.abs() < 500.0, "no skew yet: {before} ms");
    let line = net_ok(&c.config, &["skew", rb, "+2s"]).await;
    assert!(
        line.starts_with(&format!("skewed {rb}'s clock: +2000 ms offset")),
        "{line}"
    );
    let after = hlc_ahead_ms(b).await;
    assert!(
        (1900.0..2500.0).contains(&after),
        "the HLC reads about 2 s ahead: {after} ms"
    );
    let show = net_ok(&c.config, &["show"]).await;
    let skew_row = show
        .lines()
        .find(|l| l.starts_with(rb) && !l.contains('→'))
        .unwrap();
    assert!(skew_row.contains("+2"), "show reports the lead: {skew_row}");
    net_ok(&c.config, &["skew", rb, "0"]).await;
}

/// Bad input is refused before anything is sent: no control API runs here,
/// so an error about reaching it would mean the input got through.
#[tokio::test]
async fn net_refuses_bad_input_naming_the_argument_and_the_limit() {
    let c = cluster(false);
    let [ra, rb, _] = REGIONS;
    for (args, wants) in [
        (
            vec!["loss", ra, rb, "150%"],
            vec!["PERCENT", "between 0 and 100"],
        ),
        (
            vec!["lag", ra, "nowhere", "40ms"],
            vec!["TO", "\"nowhere\"", ra],
        ),
        (vec!["lag", ra, rb, "40"], vec!["LATENCY", "unit"]),
        (
            vec!["lag", ra, rb, "40ms", "--jitter", "fast"],
            vec!["--jitter"],
        ),
        (vec!["lag", ra, ra, "40ms"], vec!["FROM and TO"]),
        (
            vec!["bandwidth", ra, rb, "0"],
            vec!["RATE", "at least 1 KB/s"],
        ),
        (
            vec!["flap", ra, rb, "--period", "2s", "--down", "3s"],
            vec!["--down", "less than --period"],
        ),
        (
            vec!["flap", ra, rb, "--period", "50ms", "--down", "10ms"],
            vec!["--period", "at least 100 ms"],
        ),
        (vec!["skew", ra, "+25h"], vec!["OFFSET", "unknown unit"]),
        (vec!["skew", ra, "+1500m"], vec!["OFFSET", "one day"]),
        (
            vec!["skew", ra, "1s", "--drift-ppm", "200000"],
            vec!["--drift-ppm", "100000"],
        ),
        (vec!["crash", "nowhere"], vec!["REGION", "\"nowhere\""]),
        (vec!["heal", ra], vec!["TO is missing"]),
    ] {
        let err = net_err(&c.config, &args).await;
        for w in wants {
            assert!(
                err.contains(w),
                "meridian net {args:?}: {err:?} lacks {w:?}"
            );
        }
        assert!(!err.contains("cannot reach"), "{args:?} got through: {err}");
    }
}

/// One GET of the control API, as JSON.
async fn get_json(port: u16, path: &str) -> Option<Json> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let r = meridian_cluster::http::get(&url, 16 << 20, Duration::from_secs(15))
        .await
        .ok()?;
    serde_json::from_slice(&r.body).ok()
}

/// The toxics of one proxy as (name, type, stream).
fn toxics(proxies: &Json, proxy: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = proxies[proxy]["toxics"]
        .as_array()
        .unwrap_or_else(|| panic!("no proxy {proxy} in {proxies}"))
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["type"].as_str().unwrap().to_string(),
                t["stream"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn t(name: &str, kind: &str, stream: &str) -> (String, String, String) {
    (name.into(), kind.into(), stream.into())
}

/// `meridian netsim --config` creates every link's proxy and supervises no
/// process; `meridian net` maps each command onto exactly the proxies and
/// streams docs/netsim.md lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_maps_commands_onto_the_proxies_of_a_bare_netsim() {
    let c = cluster(false);
    let _netsim = Daemon::start(&["netsim"], &c.config, c.dir.path().join("netsim.log"));
    let [ra, rb, rc] = REGIONS;
    let ab = format!("{ra}>{rb}");
    let ba = format!("{rb}>{ra}");
    let bc = format!("{rb}>{rc}");
    poll("the control API", || async {
        get_json(c.api, "/proxies").await.is_some()
    })
    .await;
    let proxies = get_json(c.api, "/proxies").await.unwrap();
    assert_eq!(proxies.as_object().unwrap().len(), 6, "{proxies}");
    // Region i reaches region j on first_port + 3i + j.
    assert_eq!(
        proxies[&ab]["listen"],
        format!("127.0.0.1:{}", c.first_port + 1)
    );
    assert_eq!(proxies[&ab]["upstream"], format!("127.0.0.1:{}", c.grpc[1]));

    let err = net_err(&c.config, &["crash", ra]).await;
    assert!(err.contains("does not supervise region processes"), "{err}");
    let err = net_err(&c.config, &["restart", ra]).await;
    assert!(err.contains("does not supervise region processes"), "{err}");

    // A → B is the upstream of A>B and the downstream of B>A.
    net_ok(&c.config, &["partition", ra, rb]).await;
    net_ok(
        &c.config,
        &[
            "lag",
            ra,
            rb,
            "40ms",
            "--jitter",
            "5ms",
            "--distribution",
            "normal",
            "--both",
        ],
    )
    .await;
    // Repeating replaces.
    net_ok(&c.config, &["lag", ra, rb, "50ms", "--both"]).await;
    net_ok(&c.config, &["partition", rb, rc, "--kind", "refuse"]).await;
    let p = get_json(c.api, "/proxies").await.unwrap();
    assert_eq!(
        toxics(&p, &ab),
        [
            t("meridian.latency.downstream", "latency", "downstream"),
            t("meridian.latency.upstream", "latency", "upstream"),
            t("meridian.partition.upstream", "timeout", "upstream"),
        ]
    );
    assert_eq!(
        toxics(&p, &ba),
        [
            t("meridian.latency.downstream", "latency", "downstream"),
            t("meridian.latency.upstream", "latency", "upstream"),
            t("meridian.partition.downstream", "timeout", "downstream"),
        ]
    );
    let lat = p[&ab]["toxics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "meridian.latency.upstream")
        .unwrap()
        .clone();
    assert_eq!(lat["attributes"]["latency"], 50);
    assert_eq!(lat["attributes"]["jitter"], 5, "lag keeps the jitter");
    assert_eq!(lat["attributes"]["distribution"], "normal");
    // Refuse: B>C gets an RST toxic and is disabled; C>B is untouched.
    assert_eq!(
        toxics(&p, &bc),
        [t("meridian.refuse.upstream", "reset_peer", "upstream")]
    );
    assert_eq!(p[&bc]["enabled"], false);
    assert_eq!(p[&format!("{rc}>{rb}")]["enabled"], true);
    assert!(toxics(&p, &format!("{rc}>{rb}")).is_empty());
    // Switching a link's partition kind replaces the other kind.
    net_ok(&c.config, &["partition", rb, rc]).await;
    let p = get_json(c.api, "/proxies").await.unwrap();
    assert_eq!(p[&bc]["enabled"], true);
    assert_eq!(
        toxics(&p, &bc),
        [t("meridian.partition.upstream", "timeout", "upstream")]
    );

    isolate_heal_and_clear(&c).await;
}

/// Loss, flapping and an isolation on the bare netsim; a heal enables
/// every proxy and keeps latency and loss, and a clear removes the rest,
/// of one link and then of all.
async fn isolate_heal_and_clear(c: &Cluster) {
    let [ra, rb, rc] = REGIONS;
    let ab = format!("{ra}>{rb}");
    let ba = format!("{rb}>{ra}");
    let bc = format!("{rb}>{rc}");
    net_ok(&c.config, &["loss", rc, ra, "2%"]).await;
    net_ok(
        &c.config,
        &["flap", rc, ra, "--period", "2s", "--down", "500ms"],
    )
    .await;
    net_ok(&c.config, &["isolate", rc, "--kind", "refuse"]).await;
    let p = get_json(c.api, "/proxies").await.unwrap();
    for proxy in [
        format!("{rc}>{ra}"),
        format!("{ra}>{rc}"),
        bc.clone(),
        format!("{rc}>{rb}"),
    ] {
        assert_eq!(p[&proxy]["enabled"], false, "{proxy} refused by isolate");
    }

    let line = net_ok(&c.config, &["heal"]).await;
    assert!(line.contains("enabled 4 proxies"), "{line}");
    let p = get_json(c.api, "/proxies").await.unwrap();
    for (name, proxy) in p.as_object().unwrap() {
        assert_eq!(proxy["enabled"], true, "{name}");
        for (tn, kind, _) in toxics(&p, name) {
            assert!(
                ["latency", "loss"].contains(&kind.as_str()),
                "heal left {tn} ({kind}) on {name}"
            );
        }
    }
    assert_eq!(toxics(&p, &format!("{rc}>{ra}")).len(), 1, "loss stays");
    assert_eq!(toxics(&p, &ab).len(), 2, "latency stays");

    net_ok(&c.config, &["clear", ra, rb]).await;
    let p = get_json(c.api, "/proxies").await.unwrap();
    assert!(toxics(&p, &ab).is_empty() && toxics(&p, &ba).is_empty());
    assert_eq!(
        toxics(&p, &format!("{rc}>{ra}")).len(),
        1,
        "other links keep theirs"
    );
    net_ok(&c.config, &["clear"]).await;
    let p = get_json(c.api, "/proxies").await.unwrap();
    for name in p.as_object().unwrap().keys() {
        assert!(toxics(&p, name).is_empty(), "{name}");
    }
}

/// `meridian net pause-replication` pauses one table at one replica, as
/// AWS FIS's pause-replication does: every region keeps serving the table,
/// nothing of it crosses between the replica and its peers (the receivers
/// count what they skip) while another table on the same links goes on,
/// and the pause's end brings both sides together. Bad input is refused,
/// naming the argument, before anything is paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_pauses_one_tables_replication_at_one_replica() {
    let c = cluster(false);
    let _up = Daemon::start(&["up"], &c.config, c.dir.path().join("up.log"));
    let (a, b, r3) = (c.grpc[0], c.grpc[1], c.grpc[2]);
    let [ra, rb, _] = REGIONS;
    connected(&c.grpc).await;
    create_kvs(&c.grpc).await;
    create_table(&c.grpc, "other").await;

    for (args, names) in [
        (vec!["nope", rb, "5s"], "holds no replica of table"),
        (vec!["kvs", "mars-1", "5s"], "REGION"),
        (vec!["kvs", rb, "13h"], "DURATION"),
        (vec!["kvs", rb, "5s", "--tail", "6m"], "--tail"),
    ] {
        let mut full = vec!["pause-replication"];
        full.extend(args);
        let err = net_err(&c.config, &full).await;
        assert!(err.contains(names), "{full:?}: {err}");
    }
    for &p in &c.grpc {
        assert!(
            status(p).await.unwrap().pauses.is_empty(),
            "a refused pause was kept"
        );
    }

    let out = net_ok(&c.config, &["pause-replication", "kvs", rb, "60s"]).await;
    assert!(out.contains("paused replication of kvs"), "{out}");
    for &p in &c.grpc {
        let pauses = status(p).await.unwrap().pauses;
        assert_eq!(pauses.len(), 1, "{pauses:?}");
        assert_eq!(
            (pauses[0].table.as_str(), pauses[0].region.as_str()),
            ("kvs", rb)
        );
    }
    put_in(a, "kvs", "from-us").await.unwrap();
    put_in(b, "kvs", "from-eu").await.unwrap();
    put_in(a, "other", "other-us").await.unwrap();
    put_in(b, "other", "other-eu").await.unwrap();
    poll("the other table to cross both ways", || async {
        has_in(b, "other", "other-us").await && has_in(a, "other", "other-eu").await
    })
    .await;
    let skipped = |s: &pb::StatusResponse, peer: &str| {
        s.peers
            .iter()
            .find(|p| p.peer == peer)
            .map_or(0, |p| p.paused_skipped)
    };
    poll("each end to skip the other's write of kvs", || async {
        let (sa, sb) = (status(a).await.unwrap(), status(b).await.unwrap());
        skipped(&sb, ra) > 0 && skipped(&sa, rb) > 0
    })
    .await;
    assert!(
        !has_in(b, "kvs", "from-us").await,
        "crossed into the paused replica"
    );
    assert!(
        !has_in(a, "kvs", "from-eu").await,
        "crossed out of the paused replica"
    );
    assert!(
        has_in(b, "kvs", "from-eu").await,
        "the paused replica serves its own"
    );
    // Between the two others, nothing is paused.
    assert_eq!(skipped(&status(r3).await.unwrap(), ra), 0);
    let left = status(b).await.unwrap().pauses;
    assert!(
        left.first().is_some_and(|p| p.ends_in_ms > 0),
        "the pause ended before the checks above (a very slow machine): {left:?}"
    );

    // Ended early, as stopping an FIS experiment ends its action.
    let out = net_ok(&c.config, &["pause-replication", "kvs", rb, "0"]).await;
    assert!(out.contains("ended the pause of kvs"), "{out}");
    poll("the pause's end to bring both sides together", || async {
        has_in(b, "kvs", "from-us").await
            && has_in(a, "kvs", "from-eu").await
            && has_in(r3, "kvs", "from-eu").await
    })
    .await;
    for &p in &c.grpc {
        assert!(status(p).await.unwrap().pauses.is_empty());
    }
}
