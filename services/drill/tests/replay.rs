//! Every shipped scenario, simulated twice from one seed, gives the same
//! report byte for byte, JSON and HTML: a simulated drill is a pure function
//! of its scenario and seed, so every figure in it must come from virtual
//! time. One test per scenario file, so a failure names its file; a file
//! added to `simulations/` without a test here fails
//! `every_shipped_scenario_has_a_replay_test`.

use std::path::{Path, PathBuf};

use meridian_scenario::report::Report;
use meridian_scenario::scenario::Scenario;

/// The seed every replay uses; any seed must replay, this one is fixed so
/// the suite is the same on every run.
const SEED: u64 = 7;

fn simulations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../simulations")
}

/// Simulates `file` twice from [`SEED`] and asserts the two reports, as
/// JSON and as rendered HTML, are identical; returns the report.
fn replays(file: &str) -> Report {
    let path = simulations().join(file);
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let report = meridian_drill::sim::run(&scenario, SEED, &dir.path().join(name))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let json = serde_json::to_string_pretty(&report).unwrap();
        let html = meridian_scenario::html::render(&report);
        (json, html, report)
    };
    let (json_a, html_a, report) = run("a");
    let (json_b, html_b, _) = run("b");
    if json_a != json_b {
        let first = json_a
            .lines()
            .zip(json_b.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}: {a} / {b}", i + 1))
            .unwrap_or_else(|| "one report is longer".into());
        panic!("{file} seed {SEED}: the two reports differ at {first}");
    }
    assert!(
        html_a == html_b,
        "{file} seed {SEED}: the two HTML reports differ"
    );
    report
}

/// The comparison drill shows what each mode promises: the STRONG run
/// loses no update, reads nothing stale and is linearizable on every key;
/// the EVENTUAL run, under the same faults, loses updates and reads stale.
fn compares_the_modes(report: &Report) {
    let [eventual, strong] = &report.comparison[..] else {
        panic!("two sides: {:?}", report.comparison.len());
    };
    assert_eq!(eventual.consistency.consistency, "EVENTUAL");
    assert_eq!(strong.consistency.consistency, "STRONG");
    assert!(eventual.ok && strong.ok, "{:?}", report.verdict.problems);
    let s = &strong.consistency;
    assert_eq!((strong.lost_updates, s.stale_reads), (0, 0));
    assert!(
        s.keys_checked > 0 && s.linearizable == s.keys_checked,
        "{s:?}"
    );
    assert!(s.conflicts > 0, "the hot keys raced: {s:?}");
    let e = &eventual.consistency;
    assert!(eventual.lost_updates > 0 && e.stale_reads > 0, "{e:?}");
}

/// The order comparison shows what each order promises: in log order no
/// reader saw an order line before its header, nothing was applied out of
/// order and no request in part; in partition order, on the same healthy
/// links, all three happen. Both runs pass their checker.
fn compares_the_orders(report: &Report) {
    let [log, partition] = &report.order_comparison[..] else {
        panic!("two sides: {:?}", report.order_comparison.len());
    };
    assert_eq!(
        (log.order.as_str(), partition.order.as_str()),
        ("log", "partition")
    );
    assert!(log.ok && partition.ok, "{:?}", report.verdict.problems);
    assert!(log.orders_checked > 0 && partition.orders_checked > 0);
    assert_eq!(
        (
            log.orders_broken,
            log.orders_torn,
            log.reordered,
            log.torn_units
        ),
        (0, 0, 0, 0),
        "{log:?}"
    );
    assert!(
        partition.orders_broken > 0 && partition.reordered > 0 && partition.torn_units > 0,
        "{partition:?}"
    );
}

/// The pause skipped the table's entries on every link into and out of
/// eu-west-1 and on none between the two others, and the run passes: the
/// pause's end brought both sides back together.
fn pauses_one_replica(report: &Report) {
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
    for l in &report.links {
        let touches = l.from == "eu-west-1" || l.to == "eu-west-1";
        assert_eq!(
            l.paused_skipped > 0,
            touches,
            "{} → {}: {} skipped",
            l.from,
            l.to,
            l.paused_skipped
        );
    }
}

/// The capacity drill shows what a provisioned replica does at failover:
/// eu-west-1, serving us-east-1's clients too, throttled some of the
/// drill's requests and auto scaling raised its read units; us-east-1,
/// back to a backlog, held its peers' writes back for want of write units
/// (throttled time on the links into it) and scaled its write units up;
/// ap-southeast-1, whose load never changed, throttled nothing; and
/// nothing acknowledged was lost.
fn throttles_then_scales(report: &Report) {
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
    let region = |name: &str| {
        report
            .capacity
            .iter()
            .find(|c| c.region == name)
            .unwrap_or_else(|| panic!("{name} in the capacity section: {:?}", report.capacity))
    };
    let (east, west, south) = (
        region("us-east-1"),
        region("eu-west-1"),
        region("ap-southeast-1"),
    );
    assert!(west.throttled_requests > 0, "{west:?}");
    assert_eq!(south.throttled_requests, 0, "{south:?}");
    let first = |c: &meridian_scenario::report::CapacityReport| c.units[0].clone();
    let last = |c: &meridian_scenario::report::CapacityReport| c.units.last().cloned().unwrap();
    assert!(last(west).read_units > first(west).read_units, "{west:?}");
    assert!(last(east).write_units > first(east).write_units, "{east:?}");
    // The alarm on eu-west-1's ThrottledRequests went to ALARM after the
    // move and back to OK once its units were raised.
    let alarm = report
        .alarms
        .iter()
        .find(|a| a.name == "eu-west-1-throttled")
        .expect("the throttling alarm");
    use meridian_scenario::alarm::AlarmState;
    let alarmed = alarm
        .transitions
        .iter()
        .find(|t| t.to == AlarmState::Alarm)
        .map(|t| t.at_ms);
    let ok = alarm.transitions.last().map(|t| t.at_ms);
    assert!(alarmed.is_some_and(|t| t > 20_000), "{alarm:?}");
    assert_eq!(alarm.state, "OK", "{alarm:?}");
    assert!(ok > alarmed, "{alarm:?}");
    for l in &report.links {
        let into_east = l.to == "us-east-1";
        assert_eq!(
            l.throttled_ms > 0,
            into_east,
            "{} → {}: throttled {} ms",
            l.from,
            l.to,
            l.throttled_ms
        );
    }
}

/// The hot-partition drill: the hot key's partition is spent in every
/// replica, so every region throttles some of the drill's writes, every
/// link's stream waits for the partition (throttled time), and nothing
/// acknowledged is lost.
fn throttles_the_hot_partition(report: &Report) {
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
    let throttled = &report.workload.throttled_by_region;
    for region in ["us-east-1", "eu-west-1", "ap-southeast-1"] {
        assert!(
            throttled.get(region).is_some_and(|n| *n > 0),
            "{region} throttled nothing: {throttled:?}"
        );
    }
    assert!(
        report.links.iter().any(|l| l.throttled_ms > 0),
        "no stream waited for the hot partition"
    );
}

/// The simulated failover endpoint moved us-east-1's clients within its
/// bound (3 checks × 1 s + 5 s TTL) of the crash at 10 s; its alarm went
/// to ALARM and back to OK in time; the stop condition on a stuck endpoint
/// never fired.
fn moves_within_its_bound(report: &Report) {
    let moved = report
        .events
        .iter()
        .find(|m| m.action == "failover")
        .expect("the endpoint moved");
    assert!(
        moved
            .label
            .starts_with("failover endpoint moved us-east-1 → eu-west-1 (health"),
        "{}",
        moved.label
    );
    assert!(
        (10_000..=18_000).contains(&moved.at_ms),
        "moved at {} ms",
        moved.at_ms
    );
    let e = report.experiment.as_ref().expect("an experiment");
    assert_eq!(e.state, "completed", "{e:?}");
    let errors = report
        .alarms
        .iter()
        .find(|a| a.name == "endpoint-errors")
        .unwrap();
    let states: Vec<&str> = errors.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(states, ["OK", "ALARM", "OK"], "{:?}", errors.transitions);
    assert!(
        report.criteria.iter().all(|c| c.met),
        "{:?}",
        report.criteria
    );
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
}

/// The failed-request alarm went to ALARM at the end of the first period
/// whose failures crossed its threshold, and the experiment stopped at the
/// sample that closed it, before the timeline's restart; the wind-down
/// restarted eu-west-1, and every objective and check passed.
fn stops_on_its_alarm(report: &Report) {
    let e = report.experiment.as_ref().expect("an experiment");
    assert_eq!(
        (e.state.as_str(), e.alarm.as_deref()),
        ("stopped", Some("errors")),
        "{e:?}"
    );
    let errors = &report.alarms[0];
    let (end, _) = *errors
        .periods
        .iter()
        .find(|(_, v)| v.is_some_and(|v| v > errors.threshold))
        .expect("a period crossed the threshold");
    assert_eq!(e.alarm_at_ms, Some(end));
    let stopped = e.stopped_at_ms.unwrap();
    assert!(
        stopped >= end && stopped - end < report.sample_interval_ms,
        "{stopped} / {end}"
    );
    assert_eq!(e.events_skipped, 1);
    assert!(
        report
            .events
            .iter()
            .any(|m| m.label == "restart eu-west-1 (end of workload)")
    );
    assert!(
        report.criteria.iter().all(|c| c.met),
        "{:?}",
        report.criteria
    );
    assert!(report.verdict.ok, "{:?}", report.verdict.problems);
}

/// In partition order a line was seen in eu-west-1 without its header,
/// with the slowed link among the faults in effect, and the verdict fails
/// on it; the same scenario and seed in log order holds it, and passes.
/// The invariant no fault can break holds in both.
fn breaks_in_partition_order_only(report: &Report) {
    let [line, converged] = &report.invariants[..] else {
        panic!("two invariants: {:?}", report.invariants);
    };
    assert!(!line.holds, "{line:?}");
    let v = &line.violations[0];
    assert_eq!(v.phase, "running");
    assert!(
        !v.rows.is_empty() && v.detail.contains("whose order names no item"),
        "{v:?}"
    );
    assert!(report.events.iter().any(|m| m.action == "invariant"));
    assert!(converged.holds, "{converged:?}");
    assert!(!report.verdict.ok);
    // What checking cost the regions, against the drill's own requests
    // (its workload, and two writes an order): docs/performance.md.
    let checks: u64 = report.invariants.iter().map(|i| i.requests).sum();
    let placed = report.orders.as_ref().map_or(0, |o| o.placed);
    let drill = report.workload.attempted + 2 * placed;
    eprintln!(
        "invariant requests {checks}, drill requests {drill}: {:.1} %",
        checks as f64 * 100.0 / drill as f64
    );
    // Issue's budget: checking costs the regions at most 5 % of the
    // drill's requests.
    assert!(
        checks * 20 <= drill,
        "invariant requests {checks}, drill requests {drill}"
    );
    let mut log = Scenario::load(&simulations().join("orders-invariant.toml")).unwrap();
    log.replication.order = meridian_scenario::scenario::Order::Log;
    let dir = tempfile::tempdir().unwrap();
    let in_log = meridian_drill::sim::run(&log, SEED, dir.path()).unwrap();
    assert!(
        in_log.invariants.iter().all(|i| i.holds),
        "{:?}",
        in_log.invariants
    );
    assert!(
        in_log.invariants[0].checks > 15,
        "{:?}",
        in_log.invariants[0]
    );
    assert!(in_log.verdict.ok, "{:?}", in_log.verdict.problems);
}

macro_rules! replay_tests {
    ($($name:ident => $file:literal $(then $check:ident)?,)*) => {
        $(
            #[test]
            fn $name() {
                let _report = replays($file);
                $($check(&_report);)?
            }
        )*

        const FILES: &[&str] = &[$($file),*];
    };
}

replay_tests! {
    add_region => "add-region.toml",
    capacity_failover => "capacity-failover.toml" then throttles_then_scales,
    clock_skew => "clock-skew.toml",
    disk_loss => "disk-loss.toml",
    failover_endpoint => "failover-endpoint.toml" then moves_within_its_bound,
    flapping_link => "flapping-link.toml",
    hot_key => "hot-key.toml",
    hot_partition => "hot-partition.toml" then throttles_the_hot_partition,
    index_churn => "index-churn.toml",
    long_outage => "long-outage.toml",
    orders_invariant => "orders-invariant.toml" then breaks_in_partition_order_only,
    outage_recovery => "outage-recovery.toml",
    partition_heal => "partition-heal.toml",
    partition_vs_log => "partition-vs-log.toml" then compares_the_orders,
    pause_replication => "pause-replication.toml" then pauses_one_replica,
    restore_from_backup => "restore-from-backup.toml",
    restore_from_copy => "restore-from-copy.toml",
    steady_state => "steady-state.toml",
    stop_condition => "stop-condition.toml" then stops_on_its_alarm,
    strong_vs_eventual => "strong-vs-eventual.toml" then compares_the_modes,
}

#[test]
fn every_shipped_scenario_has_a_replay_test() {
    let mut shipped: Vec<String> = std::fs::read_dir(simulations())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml") && n != "Cargo.toml")
        .collect();
    shipped.sort();
    let mut tested: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    tested.sort();
    assert_eq!(
        shipped, tested,
        "simulations/ and the replay tests list different scenarios"
    );
}

/// The shipped game day of an application's own load
/// (`simulations/own-app/`) is not simulated from a seed: it runs against
/// a cluster and its application (`.ci/smoke-up.sh` runs it). It loads,
/// with the application's table and no load of its own.
#[test]
fn the_game_day_of_your_own_application_loads_as_external() {
    let path = simulations().join("own-app/game-day.toml");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(scenario.workload.external);
    assert_eq!(scenario.workload.table, "orders");
    assert_eq!(scenario.workload.rate_per_region, 0);
    assert_eq!(scenario.events.len(), 3);
    assert_eq!(scenario.stop_conditions, vec!["backlog".to_string()]);
    // Its ErrorRate is what the regions answered the application.
    let alarms: Vec<&str> = scenario.alarms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(alarms, ["backlog", "app-errors"]);
    let names: Vec<&str> = scenario
        .invariants
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["stock-never-negative", "converged"]);
}
