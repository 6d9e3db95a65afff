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

/// The second run is watched: watching changes nothing in the report, and
/// what the watcher was handed as the drill went is the report's timeline
/// and series, row for row.
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
    let mut events = Vec::new();
    let mut rows = Vec::new();
    let b = meridian_drill::sim::run_watched(&scenario, 7, &dir.path().join("b"), &mut |p| {
        events.extend(p.events.iter().cloned());
        rows.extend(p.rows.clone());
    })
    .unwrap();
    let json_b = serde_json::to_string_pretty(&b).unwrap();
    assert_eq!(json_a, json_b, "the same seed must give the same report");
    eprintln!("{json_a}");

    assert_eq!(events, b.events, "the timeline, entry for entry");
    assert!(events.iter().any(|e| e.action == "partition"), "{events:?}");
    assert_eq!(rows.len(), b.conflict_series.len(), "a row per sample");
    let conflicts: Vec<_> = rows.iter().map(|r| r.conflicts.clone()).collect();
    assert_eq!(conflicts, b.conflict_series);
    for (k, link) in b.links.iter().enumerate() {
        let live: Vec<_> = rows
            .iter()
            .map(|r| {
                let (from, to, row) = &r.links[k];
                assert_eq!((from, to), (&link.from, &link.to));
                row.clone()
            })
            .collect();
        assert_eq!(live, link.samples, "{} → {}", link.from, link.to);
    }
    assert!(
        rows.iter()
            .flat_map(|r| &r.links)
            .any(|(_, _, l)| l.pending > Some(0)),
        "the partition left something pending"
    );
}

/// Runs `text` simulated from `seed` twice, asserts the two reports are the
/// same byte for byte, and returns one.
fn replayed(text: &str, seed: u64) -> meridian_scenario::report::Report {
    let scenario = Scenario::parse(text, &BTreeMap::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = meridian_drill::sim::run(&scenario, seed, &dir.path().join("a")).unwrap();
    let b = meridian_drill::sim::run(&scenario, seed, &dir.path().join("b")).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap(),
        "the same seed must give the same report"
    );
    a
}

/// Steady writes and deletes while a region's directory is copied and later
/// put back, with tombstones purged 2 s after every region holds them.
/// Purging must keep up with steady writes (claims follow each peer's log
/// one round behind), and the restored copy's deleted items must stay
/// deleted: the checker fails on any that comes back.
const PURGING: &str = r#"
    name = "purging"
    duration = "24s"
    settle = "30s"
    tombstone_retain = "2s"
    repair_interval = "1s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 60
    keys = 300
    mix = { put = 4, update = 2, delete = 3, get = 1 }
    [[event]]
    at = "4s"
    action = "crash"
    region = "r1"
    [[event]]
    at = "4s"
    action = "snapshot"
    region = "r1"
    name = "old"
    [[event]]
    at = "5s"
    action = "restart"
    region = "r1"
    [[event]]
    at = "14s"
    action = "crash"
    region = "r1"
    [[event]]
    at = "14s"
    action = "restore"
    region = "r1"
    name = "old"
    [[event]]
    at = "16s"
    action = "restart"
    region = "r1"
"#;

#[test]
fn tombstones_are_purged_under_steady_writes_and_a_restored_copy_brings_none_back() {
    let scenario = Scenario::parse(PURGING, &BTreeMap::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = meridian_drill::sim::run(&scenario, 11, dir.path()).unwrap();
    assert!(r.verdict.ok, "{:#?}", r.verdict);
    let purged: u64 = r.purges.values().map(|p| p.tombstones_purged).sum();
    let kept_out: u64 = r.purges.values().map(|p| p.superseded).sum();
    assert!(purged > 0, "no tombstone was purged: {:?}", r.purges);
    assert!(
        kept_out > 0,
        "the restored copy offered no deleted item back: {:?}",
        r.purges
    );
}

/// A region loses its disk while tombstones are being purged, and restarts
/// empty: it copies a peer's store (purge horizon included), then catches
/// up by the log and repair. The checker fails on any write lost that a
/// peer held, and on any deleted item that comes back.
const WIPED: &str = r#"
    name = "wiped"
    duration = "16s"
    settle = "30s"
    tombstone_retain = "2s"
    repair_interval = "1s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 60
    keys = 300
    mix = { put = 4, update = 2, delete = 3, get = 1 }
    [[event]]
    at = "6s"
    action = "crash"
    region = "r1"
    [[event]]
    at = "6s"
    action = "wipe"
    region = "r1"
    [[event]]
    at = "8s"
    action = "restart"
    region = "r1"
"#;

#[test]
fn a_wiped_region_is_seeded_from_a_peer_and_loses_nothing_a_peer_held() {
    let scenario = Scenario::parse(WIPED, &BTreeMap::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = meridian_drill::sim::run(&scenario, 5, dir.path()).unwrap();
    assert!(r.verdict.ok, "{:#?}", r.verdict);
    let [d] = r.disasters.as_slice() else {
        panic!("one disaster expected: {:#?}", r.disasters);
    };
    let seeded = d.seeded.as_ref().expect("the wiped region copied a peer");
    assert!(seeded.items > 0, "{seeded:?}");
    assert!(d.rto_ms.is_some(), "{d:#?}");
}

/// Point-in-time recovery in a drill: a mark pauses the workload until the
/// regions agree and keeps the table; the writes after it (deletes
/// included, some across a partition) are the mistake; the restore to the
/// mark must give the kept table back in every region, key by key, and the
/// same seed the same report.
const RESTORED: &str = r#"
    name = "restored"
    duration = "12s"
    settle = "30s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 60
    keys = 200
    mix = { put = 4, update = 3, delete = 2, get = 1 }
    [[event]]
    at = "0s"
    action = "recovery"
    region = "r1"
    [[event]]
    at = "4s"
    action = "mark"
    region = "r1"
    name = "before"
    [[event]]
    at = "5s"
    action = "partition"
    from = "r1"
    to = "r2"
    both = true
    [[event]]
    at = "7s"
    action = "heal"
    [[event]]
    at = "9s"
    action = "restore-to-time"
    region = "r1"
    name = "before"
"#;

#[test]
fn a_table_restored_to_a_mark_is_the_table_at_the_mark_in_every_region() {
    let a = replayed(RESTORED, 3);
    assert!(a.verdict.ok, "{:#?}", a.verdict);
    let [x] = a.restores.as_slice() else {
        panic!("one restore expected: {:#?}", a.restores);
    };
    assert!(x.error.is_none(), "{x:#?}");
    assert!(
        x.items_expected > 0 && x.items_restored == x.items_expected,
        "{x:#?}"
    );
    assert_eq!(
        x.keys_checked,
        3 * x.items_expected,
        "every region's copy compared"
    );
    assert!(x.mismatches.is_empty(), "{x:#?}");
}

/// A region joins a busy table: the table starts on r1 and r2, r3 is added
/// while both write (and while the r1 ⇄ r3 link is cut for a while, so the
/// fill has to wait for it). The new replica must fill, turn ACTIVE, and
/// then hold every acknowledged write; the same seed, the same report.
const JOINED: &str = r#"
    name = "joined"
    duration = "10s"
    settle = "30s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 80
    keys = 400
    mix = { put = 4, update = 3, delete = 1, get = 1 }
    replicas = ["r1", "r2"]
    [[event]]
    at = "3s"
    action = "partition"
    from = "r1"
    to = "r3"
    both = true
    [[event]]
    at = "4s"
    action = "add-replica"
    region = "r3"
    from = "r2"
    [[event]]
    at = "6s"
    action = "heal"
"#;

#[test]
fn a_region_that_joins_a_busy_table_fills_turns_active_and_loses_nothing() {
    // How many heads the fill's rounds copy, rather than the peers' logs
    // deliver first, is a race with two modes over seeds (about 90 or
    // about 240 here, seeds 1 to 5); this seed is in the upper one, where
    // the check below says the rounds carried a busy table.
    let a = replayed(JOINED, 2);
    assert!(a.verdict.ok, "{:#?}", a.verdict);
    let [j] = a.joins.as_slice() else {
        panic!("one join expected: {:#?}", a.joins);
    };
    assert!(j.error.is_none(), "{j:#?}");
    let active = j.active_ms.expect("the replica became ACTIVE");
    // Not before the cut to r1 healed: the fill needs every replica.
    assert!(active >= 6_000, "{j:#?}");
    assert!(j.items > 100, "{j:#?}");
    assert_eq!(j.peers, vec!["r1", "r2"]);
    assert!(
        a.events.iter().any(|e| e.action == "replica-active"),
        "on the timeline: {:#?}",
        a.events
    );
    assert_eq!(a.workload.by_region.get("r3").copied().unwrap_or(0), 0);
}

/// With a change stream on the drill's table, every region's stream,
/// replayed from its start, gives exactly its final items: local and
/// replicated writes, deletes, and the concurrent writes a partition makes;
/// and its REMOVEs are exactly the tombstones it applied to live items.
const STREAMED: &str = r#"
    name = "streamed"
    duration = "6s"
    settle = "30s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 60
    keys = 50
    mix = { put = 4, update = 3, delete = 2, get = 1 }
    stream = "NEW_AND_OLD_IMAGES"
    [[event]]
    at = "1s"
    action = "partition"
    from = "r1"
    to = "r3"
    both = true
    [[event]]
    at = "3s"
    action = "heal"
"#;

#[test]
fn every_regions_stream_replays_to_its_final_items() {
    let a = replayed(STREAMED, 5);
    assert!(a.verdict.ok, "{:#?}", a.verdict);
    assert_eq!(a.streams.len(), 3, "{:#?}", a.streams);
    for c in &a.streams {
        assert!(c.error.is_none() && c.mismatches.is_empty(), "{c:#?}");
        assert!(c.records > 100 && c.removes > 0, "{c:#?}");
        assert_eq!(c.keys_checked, c.items, "no key only in the replay: {c:#?}");
        // Every tombstone the region applied to a live item, local or
        // replicated, is one REMOVE, and nothing else is.
        assert_eq!(c.removes, c.tombstones_applied, "{c:#?}");
    }
    // Conflicts happened, and each region's stream still replays exactly.
    let conflicts: u64 = a.conflict_pairs.iter().map(|p| p.conflicts).sum();
    assert!(conflicts > 0, "the partition made concurrent writes");
}

const INDEXED: &str = r#"
    name = "indexed"
    duration = "5s"
    settle = "30s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 60
    keys = 50
    mix = { put = 4, update = 3, delete = 2, get = 1 }
    indexes = true
    [[event]]
    at = "1s"
    action = "partition"
    from = "r1"
    to = "r3"
    both = true
    [[event]]
    at = "3s"
    action = "heal"
"#;

#[test]
fn every_regions_indexes_equal_its_items_and_agree() {
    let a = replayed(INDEXED, 5);
    assert!(a.verdict.ok, "{:#?}", a.verdict);
    // Three indexes in each of three regions.
    assert_eq!(a.indexes.len(), 9, "{:#?}", a.indexes);
    for c in &a.indexes {
        assert!(
            c.error.is_none() && c.mismatches.is_empty() && c.agrees,
            "{c:#?}"
        );
        assert!(c.items > 0 && c.entries > 0, "{c:#?}");
        if c.index == "by_tag" {
            assert!(c.entries < c.items, "by_tag is sparse: {c:#?}");
        } else {
            assert_eq!(c.entries, c.items, "every item has grp and n: {c:#?}");
        }
    }
    let conflicts: u64 = a.conflict_pairs.iter().map(|p| p.conflicts).sum();
    assert!(conflicts > 0, "the partition made concurrent writes");
}

/// r1 is cut off from 1.5 s, so what it writes reaches no peer; at 3.7 s
/// it loses power under `durability = "normal"` and comes back with its
/// store as of its last sync point, 3 s or a little less.
const POWER_LOSS: &str = r#"
    name = "power-loss"
    duration = "6s"
    settle = "30s"
    durability = "normal"
    sync_interval = "1s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 40, r3 = 60 }, r2 = { r3 = 50 } }
    [workload]
    rate_per_region = 50
    keys = 300
    mix = { put = 4, update = 2, delete = 1, get = 1, transact = 2 }
    [[event]]
    at = "1500ms"
    action = "isolate"
    region = "r1"
    [[event]]
    at = "3700ms"
    action = "crash"
    region = "r1"
    [[event]]
    at = "4500ms"
    action = "heal"
    region = "r1"
    [[event]]
    at = "4500ms"
    action = "restart"
    region = "r1"
"#;

#[test]
fn a_power_loss_takes_only_unreplicated_commits_and_the_regions_converge() {
    let report = replayed(POWER_LOSS, 3);
    assert!(report.verdict.ok, "{:#?}", report.verdict);
    assert!(
        report.workload.by_op.get("transact").copied().unwrap_or(0) > 20,
        "{:?}",
        report.workload.by_op
    );
    assert_eq!(report.disasters.len(), 1, "{:#?}", report.disasters);
    let d = &report.disasters[0];
    assert!(d.label.contains("power loss"), "{}", d.label);
    // Its writes of the isolation that it had not synced are gone for
    // good, and reported; those it had synced came back with its files
    // and reached its peers once it returned.
    assert!(!d.lost.is_empty(), "{d:#?}");
    assert!((d.lost.len() as u64) < d.at_risk, "{d:#?}");
    assert!(d.rto_ms.is_some(), "{d:#?}");
}

#[test]
fn under_full_durability_a_crash_loses_nothing() {
    let full = POWER_LOSS.replace("durability = \"normal\"", "durability = \"full\"");
    let report = replayed(&full, 3);
    assert!(report.verdict.ok, "{:#?}", report.verdict);
    assert!(report.disasters.is_empty(), "{:#?}", report.disasters);
}

/// TTL on, with expiring puts: the regions' reapers delete them during the
/// run, by writes no client saw acknowledged, across a partition.
const EXPIRING: &str = r#"
    name = "expiring"
    duration = "6s"
    settle = "30s"
    [regions]
    names = ["r1", "r2", "r3"]
    rtt_ms = { r1 = { r2 = 60, r3 = 120 }, r2 = { r3 = 80 } }
    [workload]
    rate_per_region = 40
    keys = 200
    mix = { put = 6, update = 2, delete = 1, get = 1 }
    stream = "NEW_IMAGE"
    ttl = true
    [[event]]
    at = "1s"
    action = "partition"
    from = "r1"
    to = "r3"
    both = true
    [[event]]
    at = "2500ms"
    action = "heal"
"#;

#[test]
fn expired_items_are_reaped_in_every_region_and_the_checker_accepts_their_absence() {
    let scenario = Scenario::parse(EXPIRING, &BTreeMap::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = meridian_drill::sim::run(&scenario, 11, dir.path()).unwrap();
    assert!(a.verdict.ok, "{:#?}", a.verdict);
    assert!(a.workload.acked > 300, "{:?}", a.workload);
    // TTL deletes are in every region's stream (a REMOVE marked as the
    // service's), and the stream's REMOVEs are still every tombstone the
    // region applied.
    for c in &a.streams {
        assert_eq!(c.removes, c.tombstones_applied, "{c:#?}");
        let reader = meridian_store::open_reader(&dir.path().join(&c.region)).unwrap();
        let label = reader.latest_stream_label("drill").unwrap().unwrap();
        let expired = reader
            .stream_records("drill", label, 0, None, 100_000)
            .unwrap()
            .into_iter()
            .filter(|r| r.ttl)
            .count();
        assert!(expired > 10, "{}: {expired} TTL deletes", c.region);
    }
}

/// Seed 38's timeline: r2 deletes and creates the table again, then a
/// power loss takes r1 back to before the recreate. Requests sent to r1
/// while it was down reach it as it restarts, still holding the old
/// incarnation, and are acknowledged there; the new incarnation's arrival
/// purges them. The driver counts those answers as unknown, and every
/// write acknowledged in the new table (r1's before the power loss
/// included) is in every region at the end.
#[test]
fn a_power_loss_past_a_recreate_loses_no_write_of_the_new_table() {
    let scenario = meridian_drill::random::scenario(38);
    let has = |name: &str| scenario.events.iter().any(|e| e.action.name() == name);
    assert!(has("recreate") && has("crash"), "{scenario:?}");
    assert_eq!(
        scenario.durability,
        meridian_scenario::scenario::Durability::Normal
    );
    let dir = tempfile::tempdir().unwrap();
    let report = meridian_drill::sim::run(&scenario, 38, dir.path()).unwrap();
    assert!(report.verdict.ok, "{:#?}", report.verdict);
    assert!(
        report.disasters.iter().all(|d| d.lost.is_empty()),
        "{:#?}",
        report.disasters
    );
}

/// Seeds of the sweep whose STRONG table once went wrong: a region whose
/// purge horizon covered a chosen write's version dropped it as a write a
/// purged tombstone had deleted (last-writer-wins' rule), while the others
/// applied it, so its strongly consistent reads went stale (seed 311) or
/// the regions never agreed (seeds 127 and 255); and a put evaluated where
/// its key held nothing took effect after a delete chosen since, its
/// version older than the delete's (seed 11).
#[test]
fn a_chosen_write_is_decided_alike_in_every_region() {
    for seed in [11, 127, 255, 311] {
        assert!(meridian_drill::random::strong_draw(seed), "seed {seed}");
        let dir = tempfile::tempdir().unwrap();
        let run = meridian_drill::sweep::run_seed(seed, dir.path());
        assert!(run.passed(), "seed {seed}: {:?}", run.problems);
        let strong = run.strong.expect("a STRONG seed");
        assert!(strong.keys_checked > 0 && strong.reads > 0, "seed {seed}");
    }
}

/// Seeds of the sweep whose STRONG member lost its store (a power loss, a
/// copy put back) once the sweep drew those for STRONG tables: the
/// snapshot's heads, of several origins, were refused as one forged unit
/// of writes, so the member never caught up (seeds 3 and 7); and the
/// witness's loss was followed as a disaster whose region had to serve
/// items it never holds (seed 75); and a member whose power loss took
/// acceptances it had sent, in the life its store still named, voted again
/// at once, and the regions diverged (seed 111: it now rejoins at every
/// start under `durability = "normal"`). Each now catches up.
#[test]
fn a_strong_member_that_lost_its_store_catches_up_from_a_snapshot() {
    for seed in [3, 7, 75, 111, 543] {
        assert!(meridian_drill::random::strong_draw(seed), "seed {seed}");
        let scenario = meridian_drill::random::scenario(seed);
        let lost = scenario.events.iter().any(|e| {
            matches!(e.action.name(), "wipe" | "restore")
                || (e.action.name() == "crash"
                    && scenario.durability == meridian_scenario::scenario::Durability::Normal)
        });
        assert!(lost, "seed {seed} loses a store: {:?}", scenario.events);
        let dir = tempfile::tempdir().unwrap();
        let run = meridian_drill::sweep::run_seed(seed, dir.path());
        assert!(run.passed(), "seed {seed}: {:?}", run.problems);
        let strong = run.strong.expect("a STRONG seed");
        assert!(
            strong.keys_checked > 0 && strong.violations == 0,
            "seed {seed}"
        );
    }
}

/// Seeds of the sweep that never drained once replication followed
/// partition order: a transaction's writes released apart left the
/// acknowledged prefix inside the unit, the sender resumed there, and the
/// receiver refused every batch that started inside a unit, for ever (a
/// skew past the drift guard or a cut link had ended the stream then).
/// The prefix now stops before a unit until all of it is applied.
#[test]
fn a_prefix_inside_a_transaction_never_stalls_a_link() {
    for seed in [130, 164] {
        let scenario = meridian_drill::random::scenario(seed);
        assert!(
            scenario.workload.mix.transact > 0,
            "seed {seed} writes units"
        );
        let dir = tempfile::tempdir().unwrap();
        let run = meridian_drill::sweep::run_seed(seed, dir.path());
        assert!(run.passed(), "seed {seed}: {:?}", run.problems);
    }
}

/// Seed 880044 of the sweep: r1 loses power with a delete that no peer had
/// received (the peers held nothing for its key, the table having just
/// been created again), then again after a restart, and is put back from a
/// copy. The checker counted the delete as held by the peers at the first
/// loss and as lost at the second; it is at risk at the first, and lost
/// there, since r2's older write won in the end.
#[test]
fn a_delete_lost_with_the_power_is_counted_once_as_lost() {
    let seed = 880044;
    let r = passing_seed(seed);
    let lost: Vec<Vec<&str>> = r
        .disasters
        .iter()
        .map(|d| d.lost.iter().map(|w| w.key.as_str()).collect())
        .collect();
    let delete = "drill/6b65792d3030303030303034/";
    assert!(lost[0].contains(&delete), "{lost:?}");
    assert!(
        lost[1..].iter().all(|l| !l.contains(&delete)),
        "counted once: {lost:?}"
    );
}

/// Table churn through a relay, as the seeded sweep meets it (about one
/// seed in seven: a region deletes and creates the table again while the
/// others relay the change): the region a relayed deletion reaches passes
/// it over for its origin to bring, counted on the link, and the seed
/// drains and passes. Such an entry once ended the relaying stream until
/// the origin's copy came (`relayed_catalog`, docs/replication.md).
#[test]
fn a_relayed_table_change_is_left_to_its_origin_and_the_seed_passes() {
    let seed = 12;
    let r = passing_seed(seed);
    let left: u64 = r.links.iter().map(|l| l.left_to_origin).sum();
    assert!(left > 0, "seed {seed} relays a table change: {:?}", r.links);
}

/// Seed 3001327 of the sweep, on a STRONG table: r2 loses its store and
/// rejoins (it does not vote until its rejoin is chosen), and r1 ⇄ r3 keep
/// 198 ms of latency each way. A candidacy needs two round trips (the
/// probe, then phase one), about 800 ms here, and the election timeout is
/// 600 ms: every candidacy was restarted before its promises arrived, for
/// ever, and r3 never caught up. A candidacy that wins no majority now
/// doubles the next one's wait.
#[test]
fn a_candidacy_slower_than_the_election_timeout_still_elects_a_leader() {
    let seed = 3001327;
    let r = passing_seed(seed);
    let strong = r.consistency.as_ref().expect("a STRONG seed");
    assert_eq!(strong.consistency, "STRONG");
}

/// Seed 3003393 of the sweep: r3, its clock 764 ms ahead (so the drift
/// guard held its writes back from the others), committed a write just
/// before its data directory was wiped, and the answer reached the client
/// only after the drill had read what was at risk. The write was then
/// neither at risk nor held anywhere: "an acknowledged write was lost". A
/// write answered across a loss is at risk from it, and lost here.
#[test]
fn a_write_answered_across_a_wipe_is_at_risk_from_it() {
    let seed = 3003393;
    let r = passing_seed(seed);
    let wipe = r
        .disasters
        .iter()
        .find(|d| d.label.starts_with("wipe"))
        .expect("the wipe");
    let late = "drill/6b65792d3030303030303736/";
    assert!(wipe.lost.iter().any(|w| w.key == late), "{:?}", wipe.lost);
}

/// Seeds 3003867, 3003275 and 3004847 of the sweep, on STRONG tables: a
/// region whose data directory was wiped learned the table again from its
/// peers before its strong-mode runtime had found it, and answered a
/// strongly consistent read from its half-filled copy: "returned nothing"
/// after a write had completed. Whether a table is STRONG is now the
/// catalog's to say, so the read waits for the member's barrier.
#[test]
fn a_region_that_lost_its_store_serves_no_stale_consistent_read() {
    for seed in [3003867, 3003275, 3004847] {
        let r = passing_seed(seed);
        let strong = r.consistency.as_ref().expect("a STRONG seed");
        assert_eq!(strong.stale_reads, 0, "seed {seed}");
    }
}

/// Seed 3005062 of the sweep: a write r3 had to serve again after losing
/// its data lost to a TTL delete (the reaper of another region deleted the
/// expired item it replaced, later by the clock), whose tombstone was then
/// purged everywhere. The checker learned of that loss from the conflict
/// logs only at the end, after it had judged r3 never to have recovered.
/// What a region lacked at each sample is kept, and its RTO is found again
/// once the writes lost to TTL deletes are known.
#[test]
fn a_write_lost_to_a_ttl_delete_is_not_needed_to_recover() {
    let seed = 3005062;
    let r = passing_seed(seed);
    assert!(
        r.disasters.iter().all(|d| d.rto_ms.is_some()),
        "{:?}",
        r.disasters
    );
}

/// Seed 3008448 of the sweep: r3 lost power and was restarted after the
/// workload; it drained between the last sample's read of its store and
/// the digests that found every region agreeing, so no sample saw it
/// recovered. The regions' agreement is the last chance to see it.
#[test]
fn a_region_restarted_after_the_workload_recovers_by_the_end() {
    let seed = 3008448;
    let r = passing_seed(seed);
    assert!(
        r.disasters.iter().all(|d| d.rto_ms.is_some()),
        "{:?}",
        r.disasters
    );
}

/// Seed 3008067 of the sweep, a STRONG table: r3 down from 1.5 s to the
/// end of the workload while partitions kept r1 and r2 apart for most of
/// the rest, so the table had no majority and acknowledged 89 writes, too
/// few to check anything. The generator lengthens the workload of such a
/// draw (`random::majority_time`), and the run then checks enough.
#[test]
fn a_strong_draw_without_a_majority_for_most_of_its_faults_still_checks_enough() {
    let seed = 3008067;
    let r = passing_seed(seed);
    assert!(
        r.workload.acked >= meridian_drill::sweep::MIN_ACKED,
        "{} acknowledged",
        r.workload.acked
    );
}

/// [`sweep_seed`], whose checker must pass.
fn passing_seed(seed: u64) -> meridian_scenario::report::Report {
    let r = sweep_seed(seed);
    assert!(r.verdict.ok, "seed {seed}: {:?}", r.verdict.problems);
    r
}

/// The report of the sweep's `seed`, simulated as `meridian drill random`
/// runs it: the seeds the sweep found failing are tests through this.
fn sweep_seed(seed: u64) -> meridian_scenario::report::Report {
    let scenario = meridian_drill::random::scenario(seed);
    let dir = tempfile::tempdir().unwrap();
    meridian_drill::sim::run(&scenario, seed, dir.path()).unwrap()
}
