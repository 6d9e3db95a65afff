//! An FIS experiment stopped by the failover endpoint's alarm, against
//! `meridian up` (docs/drills.md, *Judge the drill by your application*):
//! a template pauses the table's replication for two minutes with a stop
//! condition on an alarm of the endpoint's failed requests; the
//! application writes through the endpoint; its home region crashes; the
//! failed requests cross the threshold and the experiment stops at the
//! end of that period, the pause ended, minutes before the template's own
//! end. The stop is read from the report's own periods, as the simulated
//! test (`services/drill/tests/judged.rs`) reads them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::common::poll;
use crate::failover::{put, up_with_failover_endpoint};
use crate::up::{REGIONS, cluster};

/// The template: replication of `kvs` paused at eu-west-1 for two
/// minutes, stopped by the alarm `endpoint-failures`.
const TEMPLATE: &str = r#"{
  "description": "Pause kvs at eu-west-1; stop if the application's requests fail",
  "targets": {"Kvs": {"resourceType": "aws:dynamodb:global-table",
                      "resourceArns": ["arn:aws:dynamodb:eu-west-1:123456789012:table/kvs"],
                      "selectionMode": "ALL"}},
  "actions": {"Pause": {"actionId": "aws:dynamodb:global-table-pause-replication",
                        "parameters": {"duration": "PT2M"}, "targets": {"Tables": "Kvs"}}},
  "stopConditions": [{"source": "aws:cloudwatch:alarm",
                      "value": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:endpoint-failures"}],
  "roleArn": "arn:aws:iam::123456789012:role/fis"
}"#;

/// More than no failed request in a second of the endpoint's record.
const ALARMS: &str = r#"
[[alarm]]
name = "endpoint-failures"
metric = "FailoverFailedRequests"
statistic = "Sum"
period = "1s"
threshold = 0
comparison = "GreaterThanThreshold"
evaluation_periods = 1
"#;

/// The lines of the drill's `progress.jsonl` so far.
fn progress(out: &Path) -> Vec<Json> {
    std::fs::read_to_string(out.join("progress.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The latest sample's time in `lines`, ms into the drill.
fn last_sample_ms(lines: &[Json]) -> Option<u64> {
    lines
        .iter()
        .rev()
        .find_map(|l| l["sample"]["t_ms"].as_u64())
}

/// Whether `lines` hold a timeline entry whose label starts with `prefix`.
fn has_event(lines: &[Json], prefix: &str) -> bool {
    lines.iter().any(|l| {
        l["event"]["label"]
            .as_str()
            .is_some_and(|s| s.starts_with(prefix))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fis_experiment_stops_within_one_period_of_the_failover_endpoints_alarm() {
    let c = cluster(false);
    let (_, endpoint, api, _up) = up_with_failover_endpoint(&c).await;
    let [home, ..] = REGIONS;

    let dir = c.dir.path();
    std::fs::write(dir.join("template.json"), TEMPLATE).unwrap();
    std::fs::write(dir.join("alarms.toml"), ALARMS).unwrap();
    let out = dir.join("out");
    let mut drill = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["drill", "run", "--quiet", "--cluster"])
        .arg(&c.config)
        .arg("--alarms")
        .arg(dir.join("alarms.toml"))
        .arg("--out")
        .arg(&out)
        .arg(dir.join("template.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The application: a write through the endpoint every 20 ms, at most
    // 3,000 of them, until the drill is over.
    let done = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let app = tokio::spawn({
        let (done, failed, endpoint) = (done.clone(), failed.clone(), endpoint.clone());
        async move {
            for i in 0..3_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let (code, _) = put(&endpoint, &format!("app-{i}")).await;
                if code != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    // The pause is on and the alarm has judged a period of no failure.
    poll(
        "the experiment's pause and the alarm's first OK",
        || async {
            let lines = progress(&out);
            has_event(&lines, "pause replication of kvs")
                && has_event(&lines, "alarm endpoint-failures")
        },
    )
    .await;
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no failure before the crash"
    );
    let before_crash_ms = last_sample_ms(&progress(&out)).expect("a sample");
    api.process(home, "crash").await.unwrap();
    // A sample written by now may have been taken before the crash; the
    // one after it was taken after: the crash fell between the two.
    let seen = last_sample_ms(&progress(&out)).expect("a sample");
    let mut after_crash_ms = seen;
    poll("a sample after the crash", || {
        let t = last_sample_ms(&progress(&out));
        after_crash_ms = t.unwrap_or(0);
        async move { t.is_some_and(|t| t > seen) }
    })
    .await;

    poll("the stop condition to stop the experiment", || async {
        has_event(&progress(&out), "experiment stopped")
    })
    .await;
    // The application stops writing, so the regions can settle; the drill
    // ended the pause when it stopped, and restarts the region it finds
    // crashed as it winds down, as after any drill.
    done.store(true, Ordering::Relaxed);
    app.await.unwrap();
    let began = Instant::now();
    let finished = loop {
        if let Some(status) = drill.try_wait().unwrap() {
            break status;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "the drill did not end after its stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = drill.wait_with_output().unwrap();
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(finished.success(), "{said}");
    assert!(
        failed.load(Ordering::Relaxed) > 0,
        "the crash failed no request"
    );

    let report: Json =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    stopped_at_the_first_breaching_period(&report, (before_crash_ms, after_crash_ms));
}

/// The experiment stopped on `endpoint-failures`: every period before the
/// crash (which fell between the samples `crash_ms`) held no failure, the
/// first that did put the alarm in ALARM at its end, which came at most a
/// period after the crash, and the stop came at the sample that closed it,
/// well inside the template's two minutes.
fn stopped_at_the_first_breaching_period(report: &Json, crash_ms: (u64, u64)) {
    let (before_crash_ms, after_crash_ms) = crash_ms;
    let e = &report["experiment"];
    assert_eq!(e["state"], "stopped", "{e:#}");
    assert_eq!(e["alarm"], "endpoint-failures", "{e:#}");
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .starts_with("Stop condition endpoint-failures went to ALARM: Threshold Crossed"),
        "{e:#}"
    );
    let alarm = report["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "endpoint-failures")
        .expect("the alarm's report");
    let period = alarm["period_ms"].as_u64().unwrap();
    let periods: Vec<(u64, Option<f64>)> =
        serde_json::from_value(alarm["periods"].clone()).unwrap();
    let (end, value) = *periods
        .iter()
        .find(|(_, v)| v.is_some_and(|v| v > 0.0))
        .expect("a period crossed the threshold");
    assert!(
        end > before_crash_ms,
        "a failure before the crash: {value:?} in the period ending at {end} ms"
    );
    // Requests failed from the crash on, a write every 20 ms: the first
    // breaching period is the one the crash fell in, so it ended at most a
    // period after the sample that followed the crash.
    assert!(
        end <= after_crash_ms + period,
        "first breach at {end} ms, the crash between {before_crash_ms} and {after_crash_ms} ms: {periods:?}"
    );
    assert_eq!(e["alarm_at_ms"].as_u64(), Some(end), "{e:#}");
    let stopped = e["stopped_at_ms"].as_u64().unwrap();
    assert!(
        stopped >= end && stopped - end <= period,
        "stopped at {stopped} ms, the breaching period ended at {end} ms"
    );
    assert!(stopped < 60_000, "stopped at {stopped} ms");
    eprintln!(
        "crash between {before_crash_ms} and {after_crash_ms} ms; first breaching period ended at {end} ms ({value:?} failed); stopped at {stopped} ms"
    );
    let labels: Vec<&str> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["label"].as_str())
        .collect();
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("experiment stopped: stop condition endpoint-failures")),
        "{labels:?}"
    );
}
