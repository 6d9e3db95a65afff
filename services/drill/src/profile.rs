//! A scenario's replication profile (`[replication] profile`): what
//! `meridian conformance --measure` saw of a set of regions, applied to the
//! drill before it starts, so it rehearses against those regions' lanes
//! and link latencies (the format: `meridian_region::profile`).

use std::time::Duration;

use meridian_region::profile::Profile;
use meridian_region::replication::{LaneModel, ReplicationOrder};
use meridian_scenario::scenario::{Order, Scenario};

/// `scenario` with its profile applied: the profile's order (unless the
/// scenario compares both), partitions and lane delays, and one-way
/// latencies on the links it names. A scenario without one is unchanged.
pub fn apply(mut scenario: Scenario) -> Result<Scenario, String> {
    let Some(path) = scenario.replication.profile.clone() else {
        return Ok(scenario);
    };
    let p = Profile::load(&path, &scenario.regions).map_err(|e| e.to_string())?;
    let r = &mut scenario.replication;
    let base = LaneModel {
        partitions: r.partitions,
        delay_mean: r.lane_delay,
        delay_max: r.lane_delay_max,
        ..LaneModel::default()
    };
    let lanes = p
        .lanes(&base)
        .map_err(|e| format!("the profile {}: {e}", path.display()))?;
    r.partitions = lanes.partitions;
    r.lane_delay = lanes.delay_mean;
    r.lane_delay_max = lanes.delay_max;
    if r.order != Order::Both {
        match p.replication_order {
            Some(ReplicationOrder::Log) => r.order = Order::Log,
            Some(ReplicationOrder::Partition) => r.order = Order::Partition,
            None => {}
        }
    }
    for (from, to, ms) in p.latencies() {
        scenario
            .latency
            .insert((from, to), Duration::from_secs_f64(ms / 1e3));
    }
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
name = "p"
duration = "5s"
[regions]
names = ["a-1", "b-1"]
rtt_ms = { a-1 = { b-1 = 20 } }
[workload]
rate_per_region = 10
keys = 10
mix = { put = 1 }
"#;

    #[test]
    fn a_profile_sets_the_lanes_and_the_latency_of_the_links_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.toml");
        std::fs::write(
            &path,
            "replication_order = \"log\"\nreplication_lane_delay_ms = 40\n\
             replication_lane_delay_max_ms = 500\n[profile]\nlatency_ms = { \"a-1>b-1\" = 75 }\n",
        )
        .unwrap();
        let mut s = Scenario::parse(SCENARIO, &Default::default()).unwrap();
        s.replication.profile = Some(path.clone());
        let s = apply(s).unwrap();
        let r = &s.replication;
        assert_eq!(r.order, Order::Log);
        assert_eq!(r.lane_delay, Duration::from_millis(40));
        assert_eq!(r.lane_delay_max, Duration::from_millis(500));
        let lat = |a: &str, b: &str| s.latency[&(a.to_string(), b.to_string())];
        assert_eq!(lat("a-1", "b-1"), Duration::from_millis(75));
        assert_eq!(
            lat("b-1", "a-1"),
            Duration::from_millis(10),
            "unnamed: as before"
        );

        std::fs::write(&path, "[profile]\nlatency_ms = { \"a-1>z-9\" = 75 }\n").unwrap();
        let mut s = Scenario::parse(SCENARIO, &Default::default()).unwrap();
        s.replication.profile = Some(path);
        let err = apply(s).unwrap_err();
        assert!(err.contains("\"z-9\" is not a region"), "{err}");
    }
}
