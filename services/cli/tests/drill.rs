//! `meridian drill run` against real region processes: a short scenario with
//! a partition, a crash and a restart must end with a passing checker and a
//! report on disk, whether the drill starts its regions or drives those
//! `meridian up` runs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::up;

/// Writes `scenario` to `<dir>/<file>` and runs `meridian drill run <args>
/// --out <dir>/out` on it: the exit status, stdout, stderr and the out
/// directory.
fn drill_run(
    dir: &Path,
    file: &str,
    scenario: &str,
    args: &[&str],
) -> (ExitStatus, String, String, PathBuf) {
    let path = dir.join(file);
    std::fs::write(&path, scenario).unwrap();
    let out = dir.join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["drill", "run"])
        .args(args)
        .arg("--out")
        .arg(&out)
        .arg(&path)
        .output()
        .unwrap();
    (
        run.status,
        String::from_utf8_lossy(&run.stdout).into_owned(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
        out,
    )
}

/// The three regions of the cluster files these tests run, with the round
/// trips between them, as scenario text.
macro_rules! three_regions {
    () => {
        r#"
sample_interval = "250ms"
[regions]
names = ["us-east-1", "eu-west-1", "ap-southeast-1"]
rtt_ms = { us-east-1 = { eu-west-1 = 20, ap-southeast-1 = 40 }, eu-west-1 = { ap-southeast-1 = 30 } }
"#
    };
}

const SCENARIO: &str = concat!(
    r#"
name = "ci-live"
description = "A short live drill: partition, heal, crash, restart"
duration = "5s"
settle = "60s""#,
    three_regions!(),
    r#"[workload]
rate_per_region = 40
keys = 30
mix = { put = 4, update = 3, delete = 1, get = 2 }
[[event]]
at = "1s"
action = "partition"
from = "us-east-1"
to = "eu-west-1"
both = true
kind = "refuse"
[[event]]
at = "2s"
action = "heal"
[[event]]
at = "2500ms"
action = "crash"
region = "ap-southeast-1"
[[event]]
at = "3500ms"
action = "restart"
region = "ap-southeast-1"
"#
);

#[test]
fn a_live_drill_with_a_partition_and_a_crash_passes_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stdout, stderr, out) = drill_run(
        dir.path(),
        "ci-live.toml",
        SCENARIO,
        &["--quiet", "--seed", "9"],
    );
    assert!(status.success(), "drill failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["mode"], "live");
    assert_eq!(report["verdict"]["ok"], true, "{stdout}");
    assert!(
        report["workload"]["acked"].as_u64().unwrap() > 200,
        "{stdout}"
    );
    let actions: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["partition", "heal", "crash", "restart"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // The restart's backlog drained, and the report measured it.
    let heals = report["heals"].as_array().unwrap();
    assert!(
        heals
            .iter()
            .any(|h| h["label"] == "restart ap-southeast-1" && h["drain_ms"].is_u64()),
        "{heals:?}"
    );
    let links = report["links"].as_array().unwrap();
    assert_eq!(links.len(), 6);
    assert!(
        links
            .iter()
            .all(|l| l["latency"]["count"].as_u64().unwrap() > 0)
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three plots");
}

/// Links with a 900 ms round trip, partitioned for the whole workload, and a
/// settle time of 1 s: when the drill heals everything at the end of the
/// workload, the backlog cannot cross a link in time, so the regions cannot
/// converge and the checker must fail.
const TOO_SHORT_TO_SETTLE: &str = r#"
name = "ci-too-short-to-settle"
description = "A partitioned workload with no time to settle"
duration = "2s"
settle = "1s"
sample_interval = "250ms"
[regions]
names = ["us-east-1", "eu-west-1"]
rtt_ms = { us-east-1 = { eu-west-1 = 900 } }
[workload]
rate_per_region = 20
keys = 10
mix = { put = 1 }
[[event]]
at = "100ms"
action = "partition"
from = "us-east-1"
to = "eu-west-1"
both = true
"#;

#[test]
fn a_failed_checker_and_a_drill_that_cannot_run_exit_differently() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stdout, stderr, out) = drill_run(
        dir.path(),
        "too-short-to-settle.toml",
        TOO_SHORT_TO_SETTLE,
        &["--sim", "--seed", "3", "--json"],
    );
    assert_eq!(status.code(), Some(4), "{stdout}\n{stderr}");
    // stdout is exactly one JSON document; the notes went to stderr.
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["verdict"]["ok"], false);
    assert_eq!(summary["verdict"]["converged"], false);
    assert!(summary["converged_after_ms"].is_null(), "{summary}");
    assert_eq!(summary["scenario"], "ci-too-short-to-settle");
    assert!(stderr.contains("the checker failed"), "{stderr}");
    assert!(out.join("report.json").exists());

    let missing = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["drill", "run", "--sim", "--json"])
        .arg(dir.path().join("no-such-scenario.toml"))
        .output()
        .unwrap();
    assert_eq!(
        missing.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// `drill sweep`: a few seeds on two threads give a JSON summary that counts
/// every seed, and bad numbers are refused naming the flag and the limit.
#[test]
fn a_sweep_checks_every_seed_and_refuses_bad_numbers() {
    let sweep = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["drill", "sweep"])
            .args(args)
            .output()
            .unwrap()
    };
    let run = sweep(&["--seeds", "3", "--first", "7", "--jobs", "2", "--json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["first"], 7);
    assert_eq!(summary["seeds"], 3);
    assert_eq!(summary["passed"], 3, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert!(stderr.contains("3/3 seeds done"), "{stderr}");

    for (args, named) in [
        (&["--seeds", "0"][..], "--seeds 0"),
        (&["--seeds", "2000000"][..], "--seeds 2000000"),
        (&["--jobs", "0"][..], "--jobs 0"),
        (
            &["--first", "18446744073709551615", "--seeds", "2"][..],
            "--first 18446744073709551615",
        ),
    ] {
        let run = sweep(args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

/// A cluster file with the scenario's regions and no link proxy.
const NO_PROXY: &str = r#"
name = "no-proxy"
data_dir = "data"
plaintext = true
[[region]]
name = "us-east-1"
grpc = "127.0.0.1:17101"
[[region]]
name = "eu-west-1"
grpc = "127.0.0.1:17102"
[[region]]
name = "ap-southeast-1"
grpc = "127.0.0.1:17103"
"#;

/// `drill run --cluster` (a drill against a running Swarm stack) refuses,
/// before it asks Docker or any region anything, what it cannot run: a
/// cluster with no link proxy for its faults, a comparison scenario (two
/// clusters), and a stack named without a cluster file.
#[test]
fn a_drill_against_a_stack_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("no-proxy.toml");
    std::fs::write(&cluster, NO_PROXY).unwrap();
    let (status, _, stderr, _) = drill_run(
        dir.path(),
        "live.toml",
        SCENARIO,
        &["--cluster", cluster.to_str().unwrap()],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no [netsim] section"), "{stderr}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let comparison = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["drill", "run", "--cluster"])
        .arg(root.join("regions/local-3.toml"))
        .arg("--out")
        .arg(dir.path().join("comparison"))
        .arg(root.join("simulations/strong-vs-eventual.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&comparison.stderr);
    assert_eq!(comparison.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("compares two runs"), "{stderr}");

    let (status, _, stderr, _) =
        drill_run(dir.path(), "live.toml", SCENARIO, &["--stack", "meridian"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--cluster"), "{stderr}");
}

/// `drill run --cluster` against regions `meridian up` runs: the scenario's
/// partition goes through the cluster's link proxy and its crash and
/// restart through its control API, the report is a live drill's with
/// every figure, and the cluster runs on afterwards: every region up and
/// no link fault left. A second drill refuses the table the first left, so
/// it never judges another run's items.
#[test]
fn a_drill_against_meridian_up_drives_its_regions_through_the_control_api() {
    let c = up::cluster(false);
    let mut daemon = up::up_serving(&c);
    let cluster = c.config.to_str().unwrap();
    let args = ["--quiet", "--seed", "9", "--cluster", cluster];
    let (status, stdout, stderr, out) = drill_run(c.dir.path(), "ci-live.toml", SCENARIO, &args);
    assert!(status.success(), "drill failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("meridian up ready"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["mode"], "live");
    assert_eq!(report["verdict"]["ok"], true, "{stdout}");
    assert!(
        report["workload"]["acked"].as_u64().unwrap() > 200,
        "{stdout}"
    );
    let heals = report["heals"].as_array().unwrap();
    assert!(
        heals
            .iter()
            .any(|h| h["label"] == "restart ap-southeast-1" && h["drain_ms"].is_u64()),
        "{heals:?}"
    );
    assert_eq!(report["links"].as_array().unwrap().len(), 6);

    // What the control API says afterwards, through the client `meridian
    // net` uses.
    let api = meridian_cluster::ControlApi::new(format!("127.0.0.1:{}", c.api));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let regions = rt
        .block_on(api.regions())
        .unwrap()
        .expect("meridian up supervises");
    assert_eq!(regions.len(), 3, "{regions:?}");
    assert!(
        regions.iter().all(|r| r["state"] == "running"),
        "{regions:?}"
    );
    let proxies = rt.block_on(api.proxies()).unwrap();
    let toxics: usize = proxies
        .values()
        .map(|p| p["toxics"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(toxics, 0, "{proxies:?}");
    assert!(daemon.running());

    let (status, _, stderr, _) = drill_run(c.dir.path(), "again.toml", SCENARIO, &args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already has a table"), "{stderr}");
}

/// AWS's DynamoDB Region Impairment scenario as an FIS template: replication
/// paused for 12 minutes and, from 10 s in, the application denied access
/// to the table for 10 minutes by an SSM automation document. Meridian
/// honours the first and not the second.
const REGION_IMPAIRMENT: &str = r#"{
  "description": "DynamoDB Region Impairment",
  "targets": {
    "Tables": {"resourceType": "aws:dynamodb:global-table",
               "resourceArns": ["arn:aws:dynamodb:eu-west-1:123456789012:table/orders"],
               "selectionMode": "ALL"}
  },
  "actions": {
    "PauseReplication": {"actionId": "aws:dynamodb:global-table-pause-replication",
                         "parameters": {"duration": "PT12M"}, "targets": {"Tables": "Tables"}},
    "Delay": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT10S"}},
    "BlockAccess": {"actionId": "aws:ssm:start-automation-execution",
                    "parameters": {"documentArn": "arn:aws:ssm:eu-west-1:123456789012:document/block-dynamodb-access",
                                   "maxDuration": "PT10M"},
                    "startAfter": ["Delay"]}
  },
  "stopConditions": [{"source": "none"}],
  "roleArn": "arn:aws:iam::123456789012:role/fis"
}"#;

/// `drill run TEMPLATE.json` runs an AWS FIS experiment template: the
/// shipped one's 12-minute pause, at --time-scale 60, pauses the template's
/// table at its eu-west-1 replica for 12 s of a simulated drill, which
/// passes its checker; what the template became is written beside the
/// report. An action Meridian cannot honour (the Region Impairment
/// template's SSM automation) is refused by name before anything runs, and
/// --time-scale is refused for a scenario file.
#[test]
fn an_fis_template_runs_as_a_drill_and_what_it_cannot_honour_is_refused_by_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fis");
    let run = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args([
            "drill",
            "run",
            "--sim",
            "--seed",
            "1",
            "--quiet",
            "--time-scale",
            "60",
            "--out",
        ])
        .arg(&out)
        .arg(root.join("simulations/fis/pause-replication.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"]["ok"], true);
    let events = report["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["action"] == "pause-replication"
            && e["label"]
                .as_str()
                .unwrap_or("")
                .contains("orders at eu-west-1 for 12000 ms")),
        "{events:?}"
    );
    let skipped: u64 = report["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["from"] == "eu-west-1" || l["to"] == "eu-west-1")
        .map(|l| l["paused_skipped"].as_u64().unwrap())
        .sum();
    assert!(skipped > 0, "nothing was skipped");
    let written = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(written.contains("table = \"orders\""), "{written}");

    let (status, _, stderr, out) = drill_run(
        dir.path(),
        "impairment.json",
        REGION_IMPAIRMENT,
        &["--sim", "--time-scale", "60"],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("actions.BlockAccess.actionId: aws:ssm:start-automation-execution is not an action Meridian can honour"),
        "{stderr}"
    );
    assert!(!out.exists(), "a refused template ran");

    let (status, _, stderr, _) = drill_run(
        dir.path(),
        "live.toml",
        SCENARIO,
        &["--sim", "--time-scale", "60"],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--time-scale"), "{stderr}");
}

/// A drill of the user's own application: the fault timeline, and no load
/// of the drill's own. eu-west-1 is cut off, crashed and wiped while it
/// holds writes no peer has.
const OWN_APP: &str = concat!(
    r#"
name = "own-app"
description = "Your application's load; eu-west-1 cut off, then its disk lost"
duration = "6s"
settle = "60s""#,
    three_regions!(),
    r#"[workload]
table = "app"
external = true
[[event]]
at = "1s"
action = "isolate"
region = "eu-west-1"
[[event]]
at = "3s"
action = "crash"
region = "eu-west-1"
[[event]]
at = "3200ms"
action = "wipe"
region = "eu-west-1"
[[event]]
at = "3400ms"
action = "restart"
region = "eu-west-1"
[[event]]
at = "4s"
action = "heal"
"#
);

/// What the stand-in application saw: writes acknowledged per region.
#[derive(Default)]
struct AppTally {
    acked: std::collections::BTreeMap<String, u64>,
}

/// A stand-in for the user's application: in each region, puts to keys of
/// its own and to five keys every region writes, about 40 a second, until
/// `stop`; each request bounded by the client's timeout.
fn application(
    grpc: &[u16],
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<AppTally> {
    let urls: Vec<(String, String)> = up::REGIONS
        .iter()
        .zip(grpc)
        .map(|(r, p)| (r.to_string(), format!("http://127.0.0.1:{p}")))
        .collect();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let mut clients: Vec<_> = urls
                .iter()
                .map(|(region, url)| (region.clone(), meridian_tests::containers::client(url)))
                .collect();
            let mut tally = AppTally::default();
            let mut n = 0u32;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && tokio::time::Instant::now() < deadline
            {
                n += 1;
                for (region, client) in &mut clients {
                    let key = if n.is_multiple_of(3) {
                        format!("shared-{}", n % 5)
                    } else {
                        format!("{region}-{n}")
                    };
                    let item = meridian_tests::marked_item(&key, region, n);
                    let put = client.put_item(meridian_proto::v1::PutItemRequest {
                        table: "app".into(),
                        item: meridian_core::encode_item(&item),
                        condition: None,
                    });
                    if let Ok(Ok(_)) =
                        tokio::time::timeout(std::time::Duration::from_millis(500), put).await
                    {
                        *tally.acked.entry(region.clone()).or_default() += 1;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            tally
        })
    })
}

/// `drill run --cluster` of a scenario whose load is the application's
/// (`workload.external`): the drill writes nothing, reads the writes the
/// regions committed from their logs, and judges them with the checker of
/// every drill. Each write the application saw acknowledged is among them;
/// the writes eu-west-1 took while cut off are lost with its disk and
/// listed as that disaster's RPO, all of them eu-west-1's; the regions
/// converge on what survived and the verdict passes. Without --cluster the
/// scenario is refused, and so is a table the cluster lacks.
#[test]
fn a_drill_of_your_own_application_judges_what_the_regions_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, stderr, _) = drill_run(dir.path(), "own.toml", OWN_APP, &["--sim"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("add --cluster"), "{stderr}");

    let c = up::cluster(false);
    let _daemon = up::up_serving(&c);
    let cluster = c.config.to_str().unwrap();
    let args = ["--quiet", "--cluster", cluster];
    let (status, _, stderr, _) = drill_run(c.dir.path(), "own.toml", OWN_APP, &args);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no table app"), "{stderr}");

    create_app_table(&c);
    let drill = std::thread::spawn({
        let dir = c.dir.path().to_path_buf();
        let cluster = cluster.to_string();
        move || {
            drill_run(
                &dir,
                "own.toml",
                OWN_APP,
                &["--quiet", "--cluster", &cluster],
            )
        }
    });
    // The application starts once the drill samples (it reads the logs
    // from where they were before that), and stops when the timeline is
    // over.
    let progress = c.dir.path().join("out/progress.jsonl");
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !std::fs::read_to_string(&progress).is_ok_and(|p| p.contains(what)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the drill's progress never showed {what}"
            );
            assert!(!drill.is_finished(), "the drill ended before {what}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for("\"sample\"");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = application(&c.grpc, stop.clone());
    wait_for("\"settling\"");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = app.join().unwrap();
    let (status, stdout, stderr, out) = drill.join().unwrap();
    assert!(status.success(), "drill failed:\n{stdout}\n{stderr}");
    judged_as_recorded(&out, &stdout, &seen);
}

/// The application's table, created in us-east-1 and waited for until
/// every region's store holds it, before the application starts.
fn create_app_table(c: &up::Cluster) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("http://127.0.0.1:{}", c.grpc[0]);
        meridian_tests::containers::client(&url)
            .create_table(meridian_tests::id_table("app", &[], "", None))
            .await
            .unwrap();
    });
    // Every region holds the table before the application starts.
    let stores: Vec<_> = up::REGIONS
        .iter()
        .map(|r| c.dir.path().join("data").join(r))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !stores.iter().all(|d| {
        meridian_store::open_reader(d)
            .and_then(|r| r.table_def("app"))
            .is_ok_and(|t| t.is_some())
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the table did not reach every region"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The report of the drill in `out`: the verdict passes; every region
/// recorded at least the writes the application saw acknowledged (`seen`);
/// the one disaster lost only eu-west-1's writes, and it recovered; the
/// regions converged.
fn judged_as_recorded(out: &std::path::Path, stdout: &str, seen: &AppTally) {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["verdict"]["ok"], true, "{stdout}");
    let workload = &report["workload"];
    assert_eq!(workload["external"], true, "{workload}");
    for region in up::REGIONS {
        let recorded = workload["by_region"][region].as_u64().unwrap_or(0);
        let acked = seen.acked.get(region).copied().unwrap_or(0);
        assert!(
            acked > 20,
            "{region}: the application got {acked} writes through"
        );
        // The region recorded every write it answered, and maybe some
        // whose answer came too late for the application.
        assert!(
            recorded >= acked,
            "{region}: {recorded} recorded, {acked} acknowledged"
        );
    }
    let disasters = report["disasters"].as_array().unwrap();
    assert_eq!(disasters.len(), 1, "{disasters:?}");
    let lost = disasters[0]["lost"].as_array().unwrap();
    assert!(
        !lost.is_empty(),
        "the writes eu-west-1 took while cut off: none lost"
    );
    assert!(
        lost.iter()
            .all(|w| w["version"].as_str().unwrap().contains("eu-west-1")),
        "{lost:?}"
    );
    assert!(disasters[0]["rto_ms"].is_u64(), "{disasters:?}");
    assert_eq!(report["links"].as_array().unwrap().len(), 6);
    assert!(report["convergence"]["after_workload_ms"].is_u64());
}

/// While a drill runs, each alarm that changes state, invariant violated
/// and objective failed is said on stderr as it is judged, and written to
/// its progress file, not only in the final report.
#[test]
fn a_drill_says_its_alarms_invariants_and_objectives_as_it_judges_them() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = concat!(
        r#"
name = "judged-live"
duration = "4s"
settle = "30s""#,
        three_regions!(),
        r#"[workload]
rate_per_region = 60
keys = 30
mix = { put = 4, update = 3, delete = 1, get = 2 }
[objectives]
max_failed_requests = 0
[[event]]
at = "1s"
action = "crash"
region = "ap-southeast-1"
[[event]]
at = "2500ms"
action = "restart"
region = "ap-southeast-1"
[[alarm]]
name = "errors"
metric = "FailedRequests"
statistic = "Sum"
period = "500ms"
threshold = 0
comparison = "GreaterThanThreshold"
[[invariant]]
name = "app-check"
filter = "attribute_exists(nope)"
expect = "empty"
command = ["sh", "-c", "cat > /dev/null; echo stock negative >&2; exit 3"]
"#
    );
    let (status, stdout, stderr, out) = drill_run(
        dir.path(),
        "judged-live.toml",
        scenario,
        &["--sim", "--seed", "3"],
    );
    assert_eq!(status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("alarm errors: ") && l.contains(" → ALARM (Threshold Crossed")),
        "{stderr}"
    );
    for said in [
        "alarm errors: INSUFFICIENT_DATA → OK",
        "invariant app-check violated in us-east-1 (running)",
        "objective failed_requests not met at",
    ] {
        assert!(stderr.contains(said), "{said:?} not in:\n{stderr}");
    }
    let progress = std::fs::read_to_string(out.join("progress.jsonl")).unwrap();
    let actions: Vec<String> = progress
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|l| l["event"]["action"].as_str().map(String::from))
        .collect();
    for a in ["alarm", "invariant", "criterion"] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
}
