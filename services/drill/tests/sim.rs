//! Deterministic simulation: the checker passes, and a seed replays exactly.

use std::collections::BTreeMap;

use meridian_scenario::scenario::Scenario;

const SMALL: &str = r#"
    name = "small"
    duration = "4s"
    settle = "30s"
    sample_interval = "250ms"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [network]
    jitter = "2ms"
    [workload]
    rate_per_region = 50
    keys = 20
    mix = { put = 4, update = 3, delete = 1, get = 2 }
    [[event]]
    at = "1s"
    action = "partition"
    from = "r1"
    to = "r2"
    both = true
    [[event]]
    at = "2500ms"
    action = "heal"
"#;

#[test]
fn a_small_simulated_drill_passes_the_checker_and_replays_byte_for_byte() {
    let scenario = Scenario::parse(SMALL, &BTreeMap::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let a = meridian_drill::sim::run(&scenario, 7, &dir.path().join("a")).unwrap();
    eprintln!("first run took {:?}", started.elapsed());
    let json_a = serde_json::to_string_pretty(&a).unwrap();
    assert!(a.verdict.ok, "{:#?}", a.verdict);
    assert!(a.workload.acked > 100, "{:?}", a.workload);
    let b = meridian_drill::sim::run(&scenario, 7, &dir.path().join("b")).unwrap();
    let json_b = serde_json::to_string_pretty(&b).unwrap();
    assert_eq!(json_a, json_b, "the same seed must give the same report");
    eprintln!("{json_a}");
}
