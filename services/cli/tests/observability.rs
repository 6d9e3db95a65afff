//! Two region processes as monitoring sees them: `/metrics` after a few
//! DynamoDB and gRPC calls (request counters and latencies by operation
//! and outcome, the build, the process), every metric the shipped Grafana
//! dashboard queries present, and logs one JSON object per line when the
//! cluster file asks for them.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meridian_cluster::http::{Target, request};
use meridian_cluster::local::loopback_file;
use meridian_cluster::ports::free_port;
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::LogFormat;

use crate::common;
use common::{WAIT, create_kvs, poll};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &Path, region: &str, log: &Path, extra: &[&str]) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["region", "--config"])
            .arg(config)
            .args(["--region", region])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("MERIDIAN_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start meridian region"),
    )
}

/// A DynamoDB API call; the answer's status and body.
async fn dynamodb(addr: &str, op: &str, body: serde_json::Value) -> (u16, String) {
    let target = format!("DynamoDB_20120810.{op}");
    let r = request(
        &Target::at(addr, "/"),
        "POST",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", &target),
        ],
        body.to_string().into_bytes(),
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

async fn scrape(addr: &str) -> String {
    let r = meridian_cluster::http::get(
        &format!("http://{addr}/metrics"),
        16 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

/// The sample names of a scrape.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// The value of the sample `series` (name and labels as printed).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

/// The metric names a Grafana dashboard's queries and variables use.
fn dashboard_metrics(dashboard: &serde_json::Value) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Some(q)) = (k == "expr" || k == "definition", v.as_str()) {
                        out.extend(
                            q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                                .filter(|t| t.starts_with("meridian_") || t.starts_with("process_"))
                                .map(str::to_string),
                        );
                    }
                    walk(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(dashboard, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_exports_what_the_dashboard_queries_and_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    let mut file = loopback_file("obs-2", &dir.path().join("data"), &names, false).unwrap();
    for r in &mut file.regions {
        r.metrics = Some(([127, 0, 0, 1], free_port().unwrap()).into());
        r.dynamo = Some(([127, 0, 0, 1], free_port().unwrap()).into());
    }
    file.log_format = LogFormat::Json;
    let config = dir.path().join("cluster.toml");
    file.write(&config).unwrap();
    let logs = [dir.path().join("a.log"), dir.path().join("b.log")];
    // The first takes the file's format; the flag overrides it for the second.
    let procs = [
        spawn(&config, REGIONS[0], &logs[0], &[]),
        spawn(&config, REGIONS[1], &logs[1], &["--log-format", "text"]),
    ];
    for r in &file.regions {
        meridian_cluster::wait::serving(r.grpc, WAIT, None, || async { None })
            .await
            .unwrap_or_else(|e| panic!("a region to listen: {e}"));
    }
    let ports: Vec<u16> = file.regions.iter().map(|r| r.grpc.port()).collect();
    create_kvs(&ports).await;
    // A gRPC error answers in its headers (trailers-only): counted under
    // its code.
    let missing = MeridianClient::new(common::channel(ports[0]))
        .describe_table(pb::TableRequest {
            name: "missing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let dynamo = file.regions[0].dynamo.unwrap().to_string();
    let item = serde_json::json!({"TableName": "kvs", "Item": {"id": {"S": "a"}}});
    assert_eq!(dynamodb(&dynamo, "PutItem", item.clone()).await.0, 200);
    let mut again = item.clone();
    again["ConditionExpression"] = "attribute_not_exists(id)".into();
    let (status, body) = dynamodb(&dynamo, "PutItem", again).await;
    assert_eq!(status, 400);
    assert!(body.contains("ConditionalCheckFailedException"), "{body}");
    let (_, body) = dynamodb(&dynamo, "NoSuchOperation", item).await;
    assert!(body.contains("UnknownOperationException"), "{body}");
    let metrics: Vec<String> = file
        .regions
        .iter()
        .map(|r| r.metrics.unwrap().to_string())
        .collect();
    // The write reaches the other region, whose lag histogram then has it.
    poll("the write applied in eu-west-1", || {
        let m = metrics[1].clone();
        async move {
            value(
                &scrape(&m).await,
                r#"meridian_replication_latency_seconds_count{region="eu-west-1",peer="us-east-1"}"#,
            )
            .is_some_and(|n| n >= 1.0)
        }
    })
    .await;
    let a = scrape(&metrics[0]).await;
    let b = scrape(&metrics[1]).await;
    request_metrics(&a);
    let mut exported = sample_names(&a);
    exported.extend(sample_names(&b));
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_virtual_memory_max_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(exported.contains(name), "{name} missing from\n{a}");
    }
    dashboard_queries_exported(&exported);

    drop(procs);
    logs_in_their_formats(&logs);
}

/// us-east-1's request counters, by operation and outcome (an unknown
/// operation under `unknown`), and its build's version and commit.
fn request_metrics(a: &str) {
    for line in [
        r#"meridian_dynamodb_requests_total{region="us-east-1",operation="PutItem",outcome="ok"} 1"#,
        r#"meridian_dynamodb_requests_total{region="us-east-1",operation="PutItem",outcome="ConditionalCheckFailedException"} 1"#,
        r#"meridian_dynamodb_requests_total{region="us-east-1",operation="unknown",outcome="UnknownOperationException"} 1"#,
        r#"meridian_dynamodb_request_duration_seconds_count{region="us-east-1",operation="PutItem"} 2"#,
        // Registered before any request: rate() sees the first one.
        r#"meridian_dynamodb_requests_total{region="us-east-1",operation="GetRecords",outcome="ok"} 0"#,
        r#"meridian_grpc_requests_total{region="us-east-1",service="meridian.v1.Meridian",method="CreateTable",code="OK"} 1"#,
        r#"meridian_grpc_request_duration_seconds_count{region="us-east-1",service="meridian.v1.Meridian",method="CreateTable"} 1"#,
        r#"meridian_grpc_requests_total{region="us-east-1",service="meridian.v1.Meridian",method="DescribeTable",code="NOT_FOUND"} 1"#,
    ] {
        assert!(a.contains(line), "{line} missing from\n{a}");
    }
    assert!(!a.contains("NoSuchOperation"), "{a}");
    let version = format!(
        r#"meridian_build_info{{region="us-east-1",version="{}""#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(a.contains(&version), "{version} missing from\n{a}");
    let head = Command::new("git").args(["rev-parse", "HEAD"]).output();
    if let Some(head) = head.ok().filter(|o| o.status.success()) {
        let commit = String::from_utf8(head.stdout).unwrap();
        let label = format!(r#"git_commit="{}""#, commit.trim());
        assert!(a.contains(&label), "{label} missing from\n{a}");
    }
}

/// Every metric the Grafana dashboard queries is one a region exports.
fn dashboard_queries_exported(exported: &BTreeSet<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("regions/grafana/meridian.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() > 10));
    let queried = dashboard_metrics(&dashboard);
    assert!(queried.len() > 10, "{queried:?}");
    let missing: Vec<&String> = queried.difference(exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no region exports: {missing:?}"
    );
}

/// The first region logged JSON, one event an object with its fields; the
/// second, told `--log-format text`, logged text.
fn logs_in_their_formats(logs: &[std::path::PathBuf; 2]) {
    let json = std::fs::read_to_string(&logs[0]).unwrap();
    let lines: Vec<&str> = json.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "target"] {
            assert!(event.get(key).is_some(), "no {key}: {line}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""message":"region started""#)),
        "{json}"
    );
    let text = std::fs::read_to_string(&logs[1]).unwrap();
    assert!(text.contains("region started"), "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap()).is_err());
}
