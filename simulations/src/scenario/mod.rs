//! Scenario files (`simulations/*.toml`): regions and their latencies, a
//! workload, a duration and a timeline of fault events. The same file drives
//! a live drill and a simulated one.
//!
//! Durations are written `"250ms"`, `"10s"` or `"2m"`. Latencies in a
//! scenario are one-way; a catalogue lists round-trip times, halved here.
//!
//! [`Action`] is the one fault vocabulary: scenario events parse into it,
//! and so do the arguments of `meridian net`, and the live executor
//! (`meridian_cluster::faults`) applies it to a running cluster.
//!
//! - [`model`]: what a scenario is, once checked;
//! - [`action`]: the fault vocabulary and the links an event covers;
//! - `file`: the TOML file as written, before any check;
//! - `load`: reading a file and checking it into a [`Scenario`];
//! - `events`: each event parsed, and the timeline checked as a whole;
//! - `capacity`: `[table.capacity]`, a provisioned drill table, checked;
//! - [`criteria`]: alarms, stop conditions and objectives;
//! - [`units`]: durations and clock offsets as written;
//! - [`limits`]: the bounds a scenario is held to.

pub mod action;
mod capacity;
pub mod criteria;
mod events;
mod file;
pub mod limits;
mod load;
pub mod model;
pub mod units;

pub use action::{Action, Distribution, PartitionKind, arrow, directed, isolating};
pub use criteria::Objectives;
pub use limits::*;
pub use load::ScenarioError;
pub use model::{
    Capacity, Consistency, Durability, Event, Failover, KeyDistribution, Mix, Order, Replication,
    Scaling, Scenario, Table, Workload,
};
pub use units::{MAX_SKEW, parse_duration, parse_offset};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    const BASE: &str = r#"
        name = "t"
        duration = "10s"
        [regions]
        names = ["a", "b", "c"]
        rtt_ms = { a = { b = 80, c = 20 }, b = { c = 0 } }
        [workload]
        rate_per_region = 100
        keys = 50
        mix = { put = 1 }
    "#;

    fn parse(extra: &str) -> Result<Scenario, String> {
        Scenario::parse(&format!("{BASE}\n{extra}"), &BTreeMap::new())
    }

    #[test]
    fn durability_sync_interval_and_transactions() {
        let top = |lines: &str| {
            Scenario::parse(
                &BASE.replacen("[regions]", &format!("{lines}\n[regions]"), 1),
                &BTreeMap::new(),
            )
        };
        let s = parse("").unwrap();
        assert_eq!(s.durability, Durability::Full);
        assert_eq!(s.sync_interval, Duration::from_secs(1));
        assert_eq!(s.workload.mix.transact, 0);
        let s = top("durability = \"normal\"\nsync_interval = \"250ms\"").unwrap();
        assert_eq!(s.durability, Durability::Normal);
        assert_eq!(s.sync_interval, Duration::from_millis(250));
        assert!(top("durability = \"off\"").is_err());
        assert!(
            top("sync_interval = \"1ms\"")
                .unwrap_err()
                .contains("sync_interval")
        );
        let only = Scenario::parse(
            &BASE.replace("mix = { put = 1 }", "mix = { transact = 1 }"),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(only.workload.mix.transact, 1);
    }

    /// Alarms, stop conditions and objectives are read into the scenario,
    /// and bad ones are refused naming the field, before any drill starts.
    #[test]
    fn alarms_stop_conditions_and_objectives_are_checked_by_field() {
        const ALARM: &str = "[[alarm]]\nname = \"lag\"\nmetric = \"ReplicationLatency\"\nregion = \"a\"\nreceiving_region = \"b\"\nstatistic = \"Maximum\"\nperiod = \"1s\"\nthreshold = 500\ncomparison = \"GreaterThanThreshold\"\nevaluation_periods = 3\n";
        let top = |lines: &str, extra: &str| {
            Scenario::parse(
                &format!(
                    "{}\n{extra}",
                    BASE.replacen("[regions]", &format!("{lines}\n[regions]"), 1)
                ),
                &BTreeMap::new(),
            )
        };
        let s = top(
            "stop_conditions = [\"lag\"]",
            &format!(
                "{ALARM}[objectives]\nrto = \"20s\"\nrecover = [\"lag\"]\nrecover_within = \"5s\""
            ),
        )
        .unwrap();
        let a = &s.alarms[0];
        assert_eq!(a.metric, crate::alarm::MetricName::ReplicationLatency);
        assert_eq!((a.evaluation_periods, a.datapoints_to_alarm), (3, 3));
        assert_eq!(a.receiving_region.as_deref(), Some("b"));
        assert_eq!(s.stop_conditions, vec!["lag".to_string()]);
        assert_eq!(s.objectives.rto, Some(Duration::from_secs(20)));
        assert_eq!(s.objectives.recover_within, Duration::from_secs(5));
        for (lines, extra, names) in [
            (
                "",
                ALARM.replace("ReplicationLatency", "Nope"),
                "alarm[0].metric: \"Nope\" is not a metric",
            ),
            ("", ALARM.replace("Maximum", "p99"), "alarm[0].statistic"),
            (
                "",
                ALARM.replace("GreaterThanThreshold", "Above"),
                "alarm[0].comparison",
            ),
            ("", ALARM.replace("\"1s\"", "\"100ms\""), "alarm[0].period"),
            (
                "",
                ALARM.replace("region = \"a\"", "region = \"zz\""),
                "alarm[0].region",
            ),
            (
                "",
                ALARM.replace("= 3\n", "= 3\ndatapoints_to_alarm = 4\n"),
                "alarm[0].datapoints_to_alarm",
            ),
            (
                "",
                format!("{ALARM}{ALARM}"),
                "alarm[1].name: \"lag\" names two alarms",
            ),
            (
                "stop_conditions = [\"nope\"]",
                ALARM.to_string(),
                "stop_conditions[0]: no alarm named \"nope\"",
            ),
            (
                "",
                format!("{ALARM}[objectives]\nrto = \"-5s\""),
                "objectives.rto",
            ),
            (
                "",
                format!("{ALARM}[objectives]\nrpo = \"-1ms\""),
                "objectives.rpo",
            ),
            (
                "",
                format!("{ALARM}[objectives]\nrecover = [\"lag\"]"),
                "objectives.recover_within is required",
            ),
            (
                "",
                format!("{ALARM}[objectives]\nrecover = [\"x\"]\nrecover_within = \"1s\""),
                "objectives.recover[0]",
            ),
        ] {
            let err = top(lines, &extra).unwrap_err();
            assert!(err.contains(names), "{names}: {err}");
        }
        let external = BASE.replace(
            "rate_per_region = 100\n        keys = 50\n        mix = { put = 1 }",
            "external = true",
        );
        // With the application's load, the request metrics are what the
        // regions answered it (services/drill/src/alarms.rs), so taken.
        let s = Scenario::parse(
            &format!(
                "{external}\n{}",
                ALARM
                    .replace("ReplicationLatency", "ErrorRate")
                    .replace("receiving_region = \"b\"\n", "")
            ),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(s.alarms[0].metric, crate::alarm::MetricName::ErrorRate);
    }

    #[test]
    fn recreate_names_a_region_of_the_table() {
        let s = parse("[[event]]\nat = \"2s\"\naction = \"recreate\"\nregion = \"b\"").unwrap();
        assert_eq!(s.events[0].action, Action::Recreate { region: "b".into() });
        assert_eq!(s.events[0].action.name(), "recreate");
        assert!(parse("[[event]]\nat = \"2s\"\naction = \"recreate\"").is_err());
        assert!(parse("[[event]]\nat = \"2s\"\naction = \"recreate\"\nregion = \"zz\"").is_err());
    }

    #[test]
    fn pause_replication_pauses_the_drill_table_within_aws_bounds() {
        let event = |fields: &str| {
            parse(&format!(
                "[[event]]\nat = \"2s\"\naction = \"pause-replication\"\n{fields}"
            ))
        };
        let s = event("region = \"b\"\nduration = \"5s\"\ntail = \"1s\"").unwrap();
        assert_eq!(
            s.events[0].action,
            Action::PauseReplication {
                table: "drill".into(),
                region: "b".into(),
                duration: Duration::from_secs(5),
                tail: Duration::from_secs(1),
                tail_max: None,
            }
        );
        assert_eq!(s.events[0].action.name(), "pause-replication");
        for (fields, names) in [
            ("region = \"b\"", "event[0].duration is required"),
            ("region = \"b\"\nduration = \"0\"", "event[0].duration"),
            ("region = \"b\"\nduration = \"13h\"", "event[0].duration"),
            (
                "region = \"b\"\nduration = \"5s\"\ntail = \"6m\"",
                "event[0].tail",
            ),
            ("region = \"zz\"\nduration = \"5s\"", "event[0].region"),
            (
                "region = \"b\"\nduration = \"5s\"\ntail_max = \"301s\"",
                "event[0].tail_max must be at most 5m",
            ),
            (
                "region = \"b\"\nduration = \"5s\"\ntail = \"1s\"\ntail_max = \"2s\"",
                "event[0].tail_max is only for tail = \"seeded\"",
            ),
        ] {
            let err = event(fields).unwrap_err();
            assert!(err.contains(names), "{fields}: {err}");
        }
    }

    /// A tail the file does not fix is drawn from the seed when the drill
    /// begins: up to `tail_max` (5 minutes unless set) and never past the
    /// pause's end, the same for the same seed, and not the same for
    /// every seed.
    #[test]
    fn a_pause_tail_left_to_the_seed_is_drawn_within_its_bounds() {
        let s = parse(
            "[[event]]\nat = \"1s\"\naction = \"pause-replication\"\nregion = \"b\"\nduration = \"4s\"\ntail_max = \"3s\"\n\
             [[event]]\nat = \"2s\"\naction = \"pause-replication\"\nregion = \"c\"\nduration = \"2s\"",
        )
        .unwrap();
        let tails = |seed: u64| -> Vec<Duration> {
            s.with_seeded_tails(seed)
                .events
                .iter()
                .map(|e| match &e.action {
                    Action::PauseReplication { tail, tail_max, .. } => {
                        assert_eq!(*tail_max, None, "drawn");
                        *tail
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let t = tails(seed);
            assert!(t[0] <= Duration::from_secs(3), "{t:?}");
            // Its default bound, 5 minutes, is cut to the pause's 2 s.
            assert!(t[1] <= Duration::from_secs(2), "{t:?}");
            assert_eq!(t, tails(seed));
            seen.insert(t[0]);
        }
        assert!(seen.len() > 100, "{} distinct tails", seen.len());
        assert!(
            s.events[0]
                .action
                .label()
                .contains("up to 3000 ms drawn from the seed")
        );
    }

    #[test]
    fn a_strong_table_has_three_members_and_no_ttl() {
        let s = parse("").unwrap();
        assert_eq!(s.table, Table::default());
        let s = parse("[table]\nconsistency = \"strong\"").unwrap();
        assert_eq!(s.table.consistency, Consistency::Strong);
        let two = BASE.replace(
            "mix = { put = 1 }",
            "mix = { put = 1 }\nreplicas = [\"a\", \"b\"]",
        );
        let with = |extra: &str| Scenario::parse(&format!("{two}\n{extra}"), &BTreeMap::new());
        let s = with("[table]\nconsistency = \"both\"\nwitness = \"c\"").unwrap();
        assert_eq!(s.table.witness.as_deref(), Some("c"));
        let err = with("[table]\nconsistency = \"strong\"").unwrap_err();
        assert!(err.contains("exactly three members"), "{err}");
        let err = parse("[table]\nconsistency = \"strong\"\nwitness = \"c\"").unwrap_err();
        assert!(err.contains("witness holds no items"), "{err}");
        let err = with("[table]\nwitness = \"c\"").unwrap_err();
        assert!(err.contains("table.witness is only for"), "{err}");
        let err = parse("[table]\nconsistency = \"strongish\"").unwrap_err();
        assert!(err.contains("strongish"), "{err}");
        let ttl = BASE.replace("mix = { put = 1 }", "mix = { put = 1 }\nttl = true");
        let err = Scenario::parse(
            &format!("{ttl}\n[table]\nconsistency = \"strong\""),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.contains("TTL"), "{err}");
        let err = parse("[table]\nconsistency = \"strong\"\n[[event]]\nat = \"2s\"\naction = \"recreate\"\nregion = \"b\"")
            .unwrap_err();
        assert!(err.contains("EVENTUAL tables only"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").unwrap_err().contains("unit"));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        // What `meridian net` accepted too: microseconds, and exact tenths.
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("10 s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_offset("+300ms"), Ok(300_000));
        assert_eq!(parse_offset("-1.5s"), Ok(-1_500_000));
        assert!(parse_offset("-1500m").unwrap_err().contains("one day"));
    }

    #[test]
    fn rtt_is_halved_and_symmetric() {
        let s = parse("").unwrap();
        let l = |a: &str, b: &str| s.latency[&(a.to_string(), b.to_string())];
        assert_eq!(l("a", "b"), Duration::from_millis(40));
        assert_eq!(l("b", "a"), Duration::from_millis(40));
        assert_eq!(l("c", "a"), Duration::from_millis(10));
        assert_eq!(l("b", "c"), Duration::ZERO);
        let err =
            Scenario::parse(&BASE.replace(", b = { c = 0 }", ""), &BTreeMap::new()).unwrap_err();
        assert!(err.contains("b ⇄ c"), "{err}");
        let err = Scenario::parse(
            &BASE.replace("name = \"t\"", "name = \"../x\""),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.starts_with("name must be"), "{err}");
    }

    #[test]
    fn events_are_sorted_and_validated() {
        let s = parse(
            r#"
            [[event]]
            at = "5s"
            action = "heal"
            [[event]]
            at = "1s"
            action = "partition"
            from = "a"
            to = "b"
            both = true
            "#,
        )
        .unwrap();
        assert_eq!(s.events[0].action.name(), "partition");
        assert_eq!(s.events[0].action.label(), "partition a ⇄ b (blackhole)");
        let err = parse("[[event]]\nat = \"1s\"\naction = \"crash\"\nregion = \"zz\"").unwrap_err();
        assert!(
            err.contains("event[0].region") && err.contains("zz"),
            "{err}"
        );
        let err = parse("[[event]]\nat = \"11s\"\naction = \"heal\"").unwrap_err();
        assert!(err.contains("after the end"), "{err}");
        let err =
            parse("[[event]]\nat = \"1s\"\naction = \"restart\"\nregion = \"a\"").unwrap_err();
        assert!(err.contains("without a crash"), "{err}");
        let err = parse(
            "[[event]]\nat = \"1s\"\naction = \"flap\"\nfrom = \"a\"\nto = \"b\"\nperiod = \"1s\"\ndown = \"2s\"",
        )
        .unwrap_err();
        assert!(err.contains("down < period"), "{err}");
    }

    #[test]
    fn repair_settings_default_to_the_regions_and_are_bounded() {
        let s = parse("").unwrap();
        assert_eq!(s.repair_interval, Duration::from_secs(30));
        assert_eq!(s.tombstone_retain, Duration::from_secs(3600));
        let with = |extra: &str| {
            Scenario::parse(
                &BASE.replace(
                    "duration = \"10s\"",
                    &format!("duration = \"10s\"\n{extra}"),
                ),
                &BTreeMap::new(),
            )
        };
        let s = with("tombstone_retain = \"5s\"\nrepair_interval = \"2s\"").unwrap();
        assert_eq!(s.tombstone_retain, Duration::from_secs(5));
        assert_eq!(s.repair_interval, Duration::from_secs(2));
        let err = with("tombstone_retain = \"1500ms\"").unwrap_err();
        assert!(
            err.contains("tombstone_retain") && err.contains("whole seconds"),
            "{err}"
        );
        let err = with("tombstone_retain = \"10081m\"").unwrap_err();
        assert!(err.contains("7 days"), "{err}");
        let err = with("repair_interval = \"50ms\"").unwrap_err();
        assert!(
            err.contains("repair_interval") && err.contains("100ms"),
            "{err}"
        );
    }

    #[test]
    fn workload_limits_name_the_field() {
        let err = Scenario::parse(
            &BASE.replace("rate_per_region = 100", "rate_per_region = 0"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.contains("workload.rate_per_region"), "{err}");
        let err = Scenario::parse(
            &BASE.replace(
                "mix = { put = 1 }",
                "mix = { put = 1 }\ndistribution = \"zipf\"",
            ),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.contains("zipf_s"), "{err}");
    }

    /// `workload.external`: the table and its replicas, no load of the
    /// drill's own; a field that shapes one is refused by name, and so is
    /// an event that needs the drill's own writes or would delete the
    /// application's table. Without it, the load's fields are required.
    #[test]
    fn an_external_workload_takes_only_what_the_application_does_not_decide() {
        let external = BASE.replace(
            "rate_per_region = 100\n        keys = 50\n        mix = { put = 1 }",
            "table = \"orders\"\n        external = true\n        replicas = [\"b\", \"a\", \"c\"]",
        );
        let s = Scenario::parse(&external, &BTreeMap::new()).unwrap();
        assert!(s.workload.external);
        assert_eq!(s.workload.table, "orders");
        assert_eq!(s.workload.replicas, ["b", "a", "c"]);
        assert!(!s.table.history);
        let err = Scenario::parse(
            &external.replace("external = true", "external = true\nkeys = 10"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(
            err.contains("workload.keys") && err.contains("external"),
            "{err}"
        );
        let everywhere = external.replace("\n        replicas = [\"b\", \"a\", \"c\"]", "");
        let recreate = format!(
            "{everywhere}\n[[event]]\nat = \"1s\"\naction = \"recreate\"\nregion = \"a\"\n"
        );
        let err = Scenario::parse(&recreate, &BTreeMap::new()).unwrap_err();
        assert!(
            err.contains("\"recreate\"") && err.contains("external"),
            "{err}"
        );
        let err = Scenario::parse(&BASE.replace("keys = 50\n", ""), &BTreeMap::new()).unwrap_err();
        assert!(err.contains("workload.keys is required"), "{err}");
    }

    #[test]
    fn a_failover_endpoint_takes_a_cluster_files_settings_and_limits() {
        let f = parse("[failover]\nregions = [\"b\", \"a\"]\n").unwrap();
        assert_eq!(
            f.failover,
            Some(Failover {
                regions: vec!["b".into(), "a".into()],
                interval_ms: 1_000,
                failure_threshold: 3,
                ttl_ms: 5_000,
            })
        );
        for (section, wanted) in [
            (
                "regions = [\"a\"]",
                "failover.regions needs at least 2 regions",
            ),
            (
                "regions = [\"a\", \"z\"]",
                "failover.regions names \"z\", which is no region here",
            ),
            (
                "regions = [\"a\", \"b\"]\ninterval_ms = 50",
                "failover.interval_ms must be between 100 and 60000",
            ),
            (
                "regions = [\"a\", \"b\"]\nfailure_threshold = 0",
                "failover.failure_threshold must be between 1 and 10",
            ),
            (
                "regions = [\"a\", \"b\"]\nlisten = \"x\"",
                "unknown field `listen`",
            ),
        ] {
            let err = parse(&format!("[failover]\n{section}\n")).unwrap_err();
            assert!(err.contains(wanted), "wanted {wanted:?} in: {err}");
        }
        let external = BASE.replace(
            "rate_per_region = 100\n        keys = 50\n        mix = { put = 1 }",
            "table = \"orders\"\n        external = true",
        );
        let err = Scenario::parse(
            &format!("{external}\n[failover]\nregions = [\"a\", \"b\"]\n"),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(
            err.starts_with("failover: ") && err.contains("external"),
            "{err}"
        );
        let moved = "[failover]\nregions = [\"a\", \"b\"]\n[[event]]\nat = \"1s\"\naction = \"move-traffic\"\nfrom = \"a\"\nto = \"c\"\n";
        let err = parse(moved).unwrap_err();
        assert!(
            err.contains("event[0]: move-traffic from a, whose workload goes through [failover]"),
            "{err}"
        );
    }
}
