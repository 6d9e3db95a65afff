//! Every shipped scenario file loads with the real parser and means what its
//! name says. A scenario that fails here would fail at the start of a drill,
//! or worse, run and measure something other than what its comments promise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meridian_scenario::scenario::{Action, KeyDistribution, Scenario};

/// The scenarios issue 3 asks for; more may exist.
const REQUIRED: [&str; 9] = [
    "steady-state",
    "capacity-failover",
    "add-region",
    "restore-from-backup",
    "partition-heal",
    "outage-recovery",
    "clock-skew",
    "flapping-link",
    "hot-key",
];

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read simulations/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && !p.ends_with("Cargo.toml"))
        .collect();
    files.sort();
    files
}

fn load_all() -> Vec<(String, Scenario)> {
    scenario_files()
        .into_iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let s = Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (stem, s)
        })
        .collect()
}

fn get<'a>(all: &'a [(String, Scenario)], name: &str) -> &'a Scenario {
    &all.iter()
        .find(|(stem, _)| stem == name)
        .unwrap_or_else(|| panic!("simulations/{name}.toml is missing"))
        .1
}

#[test]
fn every_scenario_file_parses_and_the_required_ones_exist() {
    let all = load_all();
    for name in REQUIRED {
        get(&all, name);
    }
    for (stem, s) in &all {
        assert_eq!(&s.name, stem, "a scenario's name is its file name");
        assert!(!s.description.is_empty(), "{stem}: needs a description");
    }
}

/// The parser silently takes 0 ms for a pair no table lists, so a typo in a
/// region name or a catalogue gap would run a drill on a loopback-fast link.
#[test]
fn every_link_gets_a_catalogue_latency() {
    for (stem, s) in load_all() {
        for a in &s.regions {
            for b in &s.regions {
                if a == b {
                    continue;
                }
                let l = s.latency[&(a.clone(), b.clone())];
                assert!(
                    l >= Duration::from_millis(5),
                    "{stem}: {a} → {b} has {l:?}; is the pair in the catalogue?"
                );
            }
        }
    }
}

/// Sized for a 2-core laptop and a coffee break.
#[test]
fn scenarios_are_modest() {
    for (stem, s) in load_all() {
        assert!(
            (Duration::from_secs(30)..=Duration::from_secs(90)).contains(&s.duration),
            "{stem}: duration {:?}",
            s.duration
        );
        assert!(
            (20..=300).contains(&s.workload.rate_per_region),
            "{stem}: rate {}",
            s.workload.rate_per_region
        );
        // Three regions hold the table at the start; one more may join.
        assert_eq!(s.workload.replicas.len(), 3, "{stem}");
        assert!(s.regions.len() <= 4, "{stem}: {} regions", s.regions.len());
        let m = s.workload.mix;
        assert!(
            m.put + m.update + m.delete > 0
                && [m.put, m.update, m.delete, m.get]
                    .iter()
                    .filter(|w| **w > 0)
                    .count()
                    >= 3,
            "{stem}: the mix should be mixed, with writes"
        );
    }
}

/// Convergence is measured once every fault is over, so every scenario must
/// end with the network whole, every clock true and every region up.
#[test]
fn every_fault_ends_before_the_workload_does() {
    for (stem, s) in load_all() {
        let mut cut: BTreeSet<(String, String)> = BTreeSet::new();
        let mut skewed: BTreeSet<String> = BTreeSet::new();
        let mut down: BTreeSet<String> = BTreeSet::new();
        for e in &s.events {
            assert!(e.at <= s.duration, "{stem}: event at {:?}", e.at);
            match &e.action {
                Action::Partition { from, to, both, .. } | Action::Flap { from, to, both, .. } => {
                    cut.insert((from.clone(), to.clone()));
                    if *both {
                        cut.insert((to.clone(), from.clone()));
                    }
                }
                Action::Isolate { region, .. } => {
                    for other in s.regions.iter().filter(|r| *r != region) {
                        cut.insert((region.clone(), other.clone()));
                        cut.insert((other.clone(), region.clone()));
                    }
                }
                Action::Heal { link, region } | Action::Clear { link, region } => {
                    match (link, region) {
                        (Some((a, b)), _) => {
                            cut.retain(|(x, y)| !((x == a && y == b) || (x == b && y == a)))
                        }
                        (None, Some(r)) => cut.retain(|(x, y)| x != r && y != r),
                        (None, None) => cut.clear(),
                    }
                }
                Action::Skew {
                    region,
                    offset_micros,
                    drift_ppm,
                } => {
                    if *offset_micros == 0 && *drift_ppm == 0 {
                        skewed.remove(region);
                    } else {
                        skewed.insert(region.clone());
                    }
                }
                Action::Crash { region } => {
                    down.insert(region.clone());
                }
                Action::Restart { region } => {
                    down.remove(region);
                }
                // A pause ends by itself: it must end within the workload.
                Action::PauseReplication {
                    duration,
                    tail,
                    tail_max,
                    ..
                } => {
                    let tail = (*tail).max(tail_max.unwrap_or_default().min(*duration));
                    assert!(
                        e.at + tail + *duration <= s.duration,
                        "{stem}: a pause at {:?} outlasts the workload",
                        e.at
                    );
                }
                Action::Latency { .. }
                | Action::Bandwidth { .. }
                | Action::Loss { .. }
                | Action::Wipe { .. }
                | Action::Snapshot { .. }
                | Action::Restore { .. }
                | Action::Recovery { .. }
                | Action::Mark { .. }
                | Action::RestoreToTime { .. }
                | Action::AddReplica { .. }
                | Action::Recreate { .. }
                | Action::MoveTraffic { .. } => {}
            }
        }
        assert!(
            cut.is_empty(),
            "{stem}: links still cut at the end: {cut:?}"
        );
        assert!(skewed.is_empty(), "{stem}: clocks still skewed: {skewed:?}");
        assert!(down.is_empty(), "{stem}: regions still down: {down:?}");
    }
}

#[test]
fn steady_state_has_no_faults() {
    let all = load_all();
    let s = get(&all, "steady-state");
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn partition_heal_cuts_then_heals() {
    let all = load_all();
    let s = get(&all, "partition-heal");
    let first_cut = s
        .events
        .iter()
        .position(|e| matches!(e.action, Action::Partition { .. }))
        .expect("a partition");
    assert!(
        s.events[first_cut..]
            .iter()
            .any(|e| matches!(e.action, Action::Heal { .. })),
        "a heal after the partition"
    );
}

#[test]
fn outage_crashes_then_restarts_the_same_region() {
    let all = load_all();
    let s = get(&all, "outage-recovery");
    let crash = s
        .events
        .iter()
        .find_map(|e| match &e.action {
            Action::Crash { region } => Some((e.at, region.clone())),
            _ => None,
        })
        .expect("a crash");
    let restart = s
        .events
        .iter()
        .find_map(|e| match &e.action {
            Action::Restart { region } => Some((e.at, region.clone())),
            _ => None,
        })
        .expect("a restart");
    assert_eq!(crash.1, restart.1);
    assert!(
        restart.0 >= crash.0 + Duration::from_secs(10),
        "long enough down for a backlog"
    );
    assert!(
        restart.0 + Duration::from_secs(10) <= s.duration,
        "the others keep writing after the restart, so catch-up is measured under load"
    );
}

/// The capacity drill (issue 67): a provisioned table with auto scaling,
/// its home region lost while its traffic moves to a survivor, and the
/// home region back before the workload ends, so its backlog is paid for
/// under load.
#[test]
fn capacity_failover_moves_the_lost_regions_traffic_to_a_provisioned_survivor() {
    let all = load_all();
    let s = get(&all, "capacity-failover");
    let c = s.table.capacity.as_ref().expect("[table.capacity]");
    assert!(c.write_scaling.is_some() && c.read_scaling.is_some());
    assert!(
        c.autoscaling_period.is_some_and(|p| p < s.duration / 4),
        "auto scaling acts within the drill"
    );
    let at = |want: &str| {
        s.events
            .iter()
            .find(|e| e.action.name() == want)
            .map(|e| (e.at, e.action.clone()))
            .unwrap_or_else(|| panic!("a {want} event"))
    };
    let (crashed, crash) = at("crash");
    let (moved, traffic) = at("move-traffic");
    let (restarted, _) = at("restart");
    let (Action::Crash { region }, Action::MoveTraffic { from, to }) = (crash, traffic) else {
        unreachable!("found by name");
    };
    assert_eq!(
        (&from, moved),
        (&region, crashed),
        "the lost region's traffic moves as it fails"
    );
    assert_ne!(to, region);
    assert!(
        restarted + Duration::from_secs(20) <= s.duration,
        "the backlog is paid under load"
    );
}

#[test]
fn clock_skew_goes_within_then_past_the_drift_guard() {
    let all = load_all();
    let s = get(&all, "clock-skew");
    let guard = i64::try_from(s.max_clock_offset.as_millis()).unwrap();
    let offsets: Vec<i64> = s
        .events
        .iter()
        .filter_map(|e| match &e.action {
            Action::Skew { offset_micros, .. } => Some(*offset_micros / 1000),
            _ => None,
        })
        .collect();
    assert_eq!(guard, 500, "the drill documents the default guard");
    assert_eq!(
        offsets.first(),
        Some(&300),
        "first +300 ms, within the guard"
    );
    assert!(
        offsets.iter().any(|o| o.abs() > guard),
        "then past the guard: {offsets:?}"
    );
    assert_eq!(offsets.last(), Some(&0), "then back");
}

#[test]
fn flapping_link_flaps_and_heals() {
    let all = load_all();
    let s = get(&all, "flapping-link");
    let (at, period) = s
        .events
        .iter()
        .find_map(|e| match &e.action {
            Action::Flap { period, .. } => Some((e.at, *period)),
            _ => None,
        })
        .expect("a flap");
    let healed = s
        .events
        .iter()
        .find(|e| matches!(e.action, Action::Heal { .. }))
        .expect("a heal")
        .at;
    assert!(healed >= at + period * 3, "several cycles before the heal");
}

#[test]
fn hot_key_contends_on_few_keys() {
    let all = load_all();
    let s = get(&all, "hot-key");
    assert!(matches!(s.workload.keys_dist, KeyDistribution::Zipf(z) if z >= 1.0));
    assert!(s.workload.keys <= 100, "few keys: {}", s.workload.keys);
    assert!(s.workload.mix.update > 0 && s.workload.mix.put > 0);
}

#[test]
fn the_disk_scenarios_lose_data_while_the_others_write() {
    let all = load_all();
    for (stem, action) in [("disk-loss", "wipe"), ("restore-from-copy", "restore")] {
        let s = get(&all, stem);
        let loss = s
            .events
            .iter()
            .find(|e| e.action.name() == action)
            .unwrap_or_else(|| panic!("{stem}: a {action} event"));
        let region = loss.action.data_loss().expect("a data loss").to_string();
        let restart = s
            .events
            .iter()
            .find(|e| {
                e.at >= loss.at
                    && e.action
                        == Action::Restart {
                            region: region.clone(),
                        }
            })
            .unwrap_or_else(|| panic!("{stem}: a restart after the {action}"));
        assert!(
            restart.at + Duration::from_secs(10) <= s.duration,
            "{stem}: the others keep writing after the restart"
        );
    }
    let s = get(&all, "long-outage");
    let crash = s
        .events
        .iter()
        .find(|e| matches!(e.action, Action::Crash { .. }))
        .expect("a crash");
    let restart = s
        .events
        .iter()
        .find(|e| matches!(e.action, Action::Restart { .. }))
        .expect("a restart");
    assert!(
        restart.at >= crash.at + Duration::from_secs(40),
        "a long outage"
    );
}
