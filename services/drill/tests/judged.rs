//! A simulated drill judged by the application: alarms evaluated in
//! virtual time, a stop condition that stops the experiment as FIS stops
//! one, objectives that fail the verdict, and what a simulated drill
//! cannot watch refused by name before any fault.

use std::collections::BTreeMap;

use meridian_scenario::report::Report;
use meridian_scenario::scenario::Scenario;

/// r2 crashes at 1 s and would restart at 3 s; `errors` is the drill's
/// failed requests, Sum over 500 ms greater than 2.
const CRASH: &str = r#"
    name = "judged"
    duration = "5s"
    settle = "30s"
    sample_interval = "100ms"
    STOP
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 60
    keys = 50
    mix = { put = 4, update = 3, delete = 1, get = 2 }
    [[event]]
    at = "1s"
    action = "crash"
    region = "r2"
    [[event]]
    at = "3s"
    action = "restart"
    region = "r2"
    [[alarm]]
    name = "errors"
    metric = "FailedRequests"
    statistic = "Sum"
    period = "500ms"
    threshold = 2
    comparison = "GreaterThanThreshold"
    EXTRA
"#;

fn scenario(stop: &str, extra: &str) -> Scenario {
    let text = CRASH.replace("STOP", stop).replace("EXTRA", extra);
    Scenario::parse(&text, &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario, seed: u64) -> Report {
    let dir = tempfile::tempdir().unwrap();
    meridian_drill::sim::run(s, seed, dir.path()).unwrap_or_else(|e| panic!("{e}"))
}

/// The alarm goes to ALARM at the end of the first period whose failed
/// requests crossed the threshold, and the drill stops at the sample that
/// closed that period: within one period of the crossing. The restart is
/// not applied (the wind-down restarts r2), the report says why and when,
/// and the same seed stops at the same virtual millisecond.
#[test]
fn a_stop_condition_stops_the_drill_within_one_period_of_its_alarm() {
    let s = scenario("stop_conditions = [\"errors\"]", "");
    let report = run(&s, 3);
    let e = report.experiment.as_ref().expect("an experiment");
    assert_eq!(e.state, "stopped", "{e:?}");
    assert_eq!(e.alarm.as_deref(), Some("errors"));
    assert_eq!(e.events_skipped, 1, "the restart at 3 s");
    assert!(
        e.reason
            .starts_with("Stop condition errors went to ALARM: Threshold Crossed"),
        "{}",
        e.reason
    );
    let errors = &report.alarms[0];
    let (end, _) = *errors
        .periods
        .iter()
        .find(|(_, v)| v.is_some_and(|v| v > errors.threshold))
        .expect("a period crossed the threshold");
    assert_eq!(
        e.alarm_at_ms,
        Some(end),
        "ALARM at the end of the first breaching period"
    );
    assert!(end > 1_000, "no failure before the crash: {end}");
    let stopped = e.stopped_at_ms.unwrap();
    assert!(
        stopped >= end && stopped - end < report.sample_interval_ms,
        "stopped at {stopped} ms, the period ended at {end} ms"
    );
    assert!(stopped < 3_000, "before the restart the timeline had");
    let labels: Vec<&str> = report.events.iter().map(|m| m.label.as_str()).collect();
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("experiment stopped: stop condition errors")),
        "{labels:?}"
    );
    assert!(
        labels.contains(&"restart r2 (end of workload)"),
        "{labels:?}"
    );
    assert!(!labels.contains(&"restart r2"), "{labels:?}");
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
    let again = run(&s, 3);
    assert_eq!(
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

/// Without the stop condition the same alarm fires and the timeline runs
/// through; the experiment is `completed` only when it has stop
/// conditions to watch, so here the report has none.
#[test]
fn an_alarm_that_is_no_stop_condition_lets_the_timeline_run() {
    let report = run(&scenario("", ""), 3);
    assert!(report.experiment.is_none());
    assert!(
        report.alarms[0]
            .transitions
            .iter()
            .any(|t| t.to.as_str() == "ALARM")
    );
    let labels: Vec<&str> = report.events.iter().map(|m| m.label.as_str()).collect();
    assert!(labels.contains(&"restart r2"), "{labels:?}");
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
}

/// An objective not met fails the verdict, saying which, when and with
/// what value; an alarm that must recover and does is met.
#[test]
fn an_objective_not_met_fails_the_verdict_by_name() {
    let extra =
        "[objectives]\nmax_failed_requests = 0\nrecover = [\"errors\"]\nrecover_within = \"3s\"";
    let report = run(&scenario("", extra), 3);
    assert!(!report.verdict.ok);
    let failed = &report.criteria[0];
    assert_eq!(failed.criterion, "failed_requests");
    assert!(!failed.met);
    assert_eq!(failed.value, report.workload.failed.to_string());
    assert!(
        report
            .verdict
            .problems
            .iter()
            .any(|p| p.starts_with("objective failed_requests not met: ")),
        "{:?}",
        report.verdict.problems
    );
    let recovered = &report.criteria[1];
    assert_eq!(recovered.criterion, "recover errors");
    assert!(recovered.met, "{recovered:?}");
}

/// A simulated drill has no failover endpoint and its regions serve no
/// DynamoDB endpoint: an alarm on their metrics is refused naming the
/// field, before any fault is applied.
#[test]
fn an_alarm_a_simulated_drill_cannot_watch_is_refused_by_name() {
    for (metric, why) in [
        ("FailoverFailedRequests", "is the failover endpoint's"),
        ("FailoverLatency", "is the failover endpoint's"),
        (
            "UserErrors",
            "counts the answers of the regions' DynamoDB endpoints",
        ),
        (
            "SystemErrors",
            "counts the answers of the regions' DynamoDB endpoints",
        ),
    ] {
        let extra = format!(
            "[[alarm]]\nname = \"endpoint\"\nmetric = \"{metric}\"\nstatistic = \"Sum\"\nperiod = \"1s\"\nthreshold = 1\ncomparison = \"GreaterThanThreshold\""
        );
        let dir = tempfile::tempdir().unwrap();
        let err = meridian_drill::sim::run(&scenario("", &extra), 3, dir.path())
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&format!("alarm[1].metric: {metric} {why}")),
            "{err}"
        );
    }
}

/// An invariant's command judges the data in a simulated drill too (on a
/// runtime of its own, the simulation waiting): its exit status and what
/// it wrote to its standard error make the violation.
#[test]
fn an_invariant_command_that_fails_is_a_violation_in_simulation() {
    let s = scenario(
        "",
        r#"
    [[invariant]]
    name = "app-check"
    filter = "attribute_exists(nope)"
    expect = "empty"
    command = ["sh", "-c", "cat > /dev/null; echo stock negative >&2; exit 3"]
    "#,
    );
    let r = run(&s, 7);
    let inv = &r.invariants[0];
    assert!(!inv.holds, "{inv:?}");
    let v = &inv.violations[0];
    assert!(
        v.detail
            .contains("sh exited with exit status: 3: stock negative"),
        "{v:?}"
    );
    assert!(r.verdict.problems.iter().any(|p| p.contains("app-check")));
}

/// r2's workload goes through a simulated failover endpoint (home r2, then
/// r1; checks every 200 ms, 2 failures declare, a 500 ms TTL); `endpoint`
/// is its failed requests, Sum over 500 ms greater than 0.
const ENDPOINT: &str = r#"
    [[alarm]]
    name = "endpoint"
    metric = "FailoverFailedRequests"
    statistic = "Sum"
    period = "500ms"
    threshold = 0
    comparison = "GreaterThanThreshold"
    [failover]
    regions = ["r2", "r1"]
    interval_ms = 200
    failure_threshold = 2
    ttl_ms = 500
"#;

/// A stop condition on the failover endpoint's failed requests, simulated:
/// none fails before the crash at 1 s; the first period with one puts the
/// alarm in ALARM at its end, and the drill stops at that sample, within
/// one period of the crossing; the same seed stops at the same virtual
/// millisecond.
#[test]
fn a_stop_condition_on_the_failover_endpoints_alarm_stops_a_simulated_drill() {
    let s = scenario("stop_conditions = [\"endpoint\"]", ENDPOINT);
    let report = run(&s, 5);
    let e = report.experiment.as_ref().expect("an experiment");
    assert_eq!(e.state, "stopped", "{e:?}");
    assert_eq!(e.alarm.as_deref(), Some("endpoint"));
    let endpoint = report.alarms.iter().find(|a| a.name == "endpoint").unwrap();
    let (end, _) = *endpoint
        .periods
        .iter()
        .find(|(_, v)| v.is_some_and(|v| v > 0.0))
        .expect("a period with a failed request");
    assert!(
        (1_000..=1_500).contains(&end),
        "the first failures come in the period of the crash at 1 s: {end}"
    );
    assert_eq!(e.alarm_at_ms, Some(end));
    let stopped = e.stopped_at_ms.unwrap();
    assert!(
        stopped >= end && stopped - end < report.sample_interval_ms,
        "stopped at {stopped} ms, the period ended at {end} ms"
    );
    let again = run(&s, 5);
    assert_eq!(
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

/// Without the stop condition, the endpoint moves r2's workload to r1
/// within threshold × interval + TTL of the crash; the requests it could
/// not forward meanwhile fail at once, as the real endpoint's 503s do,
/// and stop with the move; its alarm goes back to OK.
#[test]
fn a_simulated_failover_endpoint_moves_the_workload_and_the_failures_stop() {
    let report = run(&scenario("", ENDPOINT), 5);
    let moved = report
        .events
        .iter()
        .find(|m| m.action == "failover")
        .expect("the endpoint moved");
    assert!(
        moved
            .label
            .starts_with("failover endpoint moved r2 → r1 (health: first failed check at 1200 ms"),
        "{}",
        moved.label
    );
    // The crash at 1 s comes with a round of checks, which sees r2 as it
    // was before it; the checks at 1.2 and 1.4 s fail, declaring r2
    // unhealthy; the TTL ends at 1.9 s.
    assert_eq!(moved.at_ms, 1_900, "{moved:?}");
    let endpoint = report.alarms.iter().find(|a| a.name == "endpoint").unwrap();
    // r2's workload, 60 requests a second, failed at the endpoint from
    // the crash to the move (0.9 s), and not after.
    let failed: f64 = endpoint.periods.iter().filter_map(|(_, v)| *v).sum();
    assert!((52.0..=56.0).contains(&failed), "{:?}", endpoint.periods);
    assert!(
        endpoint
            .periods
            .iter()
            .filter(|(end, _)| *end > 2_000)
            .all(|(_, v)| *v == Some(0.0)),
        "{:?}",
        endpoint.periods
    );
    let states: Vec<&str> = endpoint.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(states, ["OK", "ALARM", "OK"], "{:?}", endpoint.transitions);
    // r1 served its own workload and, from the move, r2's.
    let served = &report.workload.by_region;
    assert!(served["r1"] > served["r3"] + 100, "{served:?}");
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
}
