//! `meridian bench <name> --smoke` through the real binary: each benchmark
//! still runs end to end and writes its JSON. No timed assertions: the
//! figures themselves are not checked, only that they were produced.

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;

fn smoke(name: &str, expected_metrics: &[&str]) -> Json {
    smoke_with(name, &[], expected_metrics)
}

/// [`smoke`] with more arguments for the benchmark.
fn smoke_with(name: &str, args: &[&str], expected_metrics: &[&str]) -> Json {
    let out = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["bench", name])
        .args(args)
        .args(["--smoke", "--out"])
        .arg(out.path())
        .arg("--dir")
        .arg(work.path())
        .status()
        .unwrap();
    assert!(status.success(), "meridian bench {name} --smoke: {status}");
    let json = only_json(out.path(), name);
    assert_eq!(json["name"], name);
    assert_eq!(json["smoke"], true);
    assert_eq!(json["reps"], 1);
    assert!(json["unix_time"].as_u64().unwrap() > 0);
    assert!(json["config"].is_object());
    let metrics = json["metrics"].as_object().unwrap();
    for m in expected_metrics {
        let metric = metrics
            .get(*m)
            .unwrap_or_else(|| panic!("{name}: no metric {m:?} in {metrics:?}"));
        for field in ["unit", "median", "min", "max", "values"] {
            assert!(metric.get(field).is_some(), "{name}: {m} has no {field}");
        }
        assert_eq!(metric["values"].as_array().unwrap().len(), 1);
    }
    let targets = json["targets"].as_array().unwrap();
    assert!(!targets.is_empty(), "{name}: no targets");
    for t in targets {
        assert!(t["what"].is_string() && t.get("met").is_some());
    }
    assert_eq!(json["runs"].as_array().unwrap().len().min(1), 1);
    for probe in ["fsync_4k_ms_median", "cpu_ns_per_step_best"] {
        let v = json["machine"][probe].as_f64();
        assert!(
            v.is_some_and(|v| v > 0.0),
            "{name}: machine.{probe} is {v:?}"
        );
    }
    json
}

fn only_json(dir: &Path, name: &str) -> Json {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
                && p.extension().is_some_and(|e| e == "json")
        })
        .collect();
    assert_eq!(
        files.len(),
        1,
        "expected one {name}-<time>.json in {files:?}"
    );
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

#[test]
fn bench_write_smoke_writes_json() {
    smoke(
        "write",
        &[
            "baseline raw rusqlite",
            "single PutItem",
            "single p99",
            "batched BatchWrite",
            "batched / baseline",
        ],
    );
}

#[test]
fn bench_replicate_smoke_writes_json() {
    let json = smoke(
        "replicate",
        &[
            "L=0ms p99",
            "L=40ms p99",
            "L=40ms max pending",
            "L=40ms p99 / (L+10ms)",
            "L=0ms region CPU/write",
            "L=0ms bench CPU/write",
            "L=0ms CPU busy",
            "L=0ms region wake-ups/write",
            "idle region CPU",
            "idle region wake-ups",
            "one region region CPU/write",
            "one region region wake-ups/write",
            "log order L=0ms region CPU/write",
            "log order L=0ms p99",
            "partition / log order region CPU/write L=0ms",
            "partition - log order p99 L=0ms",
        ],
    );
    // Three regions replicating 200 writes each cannot have cost nothing,
    // and neither can one region taking them alone.
    for name in [
        "L=0ms region CPU/write",
        "one region region CPU/write",
        "log order L=0ms region CPU/write",
    ] {
        let cpu = json["metrics"][name]["median"].as_f64();
        assert!(cpu.is_some_and(|c| c > 0.0), "{name} is {cpu:?}");
    }
    // A write wakes at least the writer at its origin and at each peer.
    let woke = json["metrics"]["L=0ms region wake-ups/write"]["median"].as_f64();
    assert!(woke.is_some_and(|w| w >= 1.0), "wake-ups/write is {woke:?}");
    // Idle is measured, and a cluster doing nothing is nowhere near a core.
    let idle = json["metrics"]["idle region CPU"]["median"].as_f64();
    assert!(
        idle.is_some_and(|c| (0.0..50.0).contains(&c)),
        "idle region CPU is {idle:?} % of a core"
    );
}

/// The dashboard's cost: the same load without and with a dashboard open,
/// in one run; the page's reader must have read what a page reads.
#[test]
fn bench_replicate_dashboard_smoke_writes_both_and_the_ratio() {
    let json = smoke_with(
        "replicate",
        &["--dashboard"],
        &[
            "dashboard off achieved rate/region",
            "dashboard on achieved rate/region",
            "dashboard on / off achieved rate",
            "dashboard on / off CPU/write",
            "dashboard on region CPU/write",
            "dashboard on: samples read",
        ],
    );
    let m = &json["metrics"];
    let samples = m["dashboard on: samples read"]["median"].as_f64();
    assert!(
        samples.is_some_and(|n| n >= 1.0),
        "samples read: {samples:?}"
    );
    let ratio = m["dashboard on / off achieved rate"]["median"].as_f64();
    assert!(ratio.is_some_and(|r| r > 0.0), "ratio: {ratio:?}");
    assert!(
        json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["metric"] == "dashboard on / off achieved rate"),
        "{}",
        json["targets"]
    );
}

/// Coalescing's figures: the hot-keys load with coalescing on and off,
/// and behind a backlog fewer entries shipped than written when on.
#[test]
fn bench_replicate_hot_keys_smoke_ships_fewer_entries_than_written() {
    let json = smoke_with(
        "replicate",
        &["--hot-keys", "100"],
        &[
            "hot keys on: entries shipped / replicated write",
            "hot keys off: entries shipped / replicated write",
            "hot keys on backlog: entries shipped / written",
            "hot keys off backlog: entries shipped / written",
            "hot keys on / off backlog entries shipped",
            "hot keys on region CPU/write",
        ],
    );
    let m = &json["metrics"];
    let figure = |name: &str| m[name]["median"].as_f64().unwrap_or(f64::NAN);
    // 400 writes over 200 items while the third region is down: the two
    // senders' backlogs ship as about an entry per item.
    let on = figure("hot keys on backlog: entries shipped / written");
    assert!(on < 1.0, "on: {on}");
    // Every version with coalescing off.
    let off = figure("hot keys off backlog: entries shipped / written");
    assert!(off >= 1.0, "off: {off}");
}

#[test]
fn bench_tls_smoke_writes_json() {
    smoke(
        "tls",
        &[
            "plaintext p99",
            "TLS p99",
            "TLS p99 / plaintext p99",
            "TLS / plaintext region CPU/write",
            "TLS region CPU/write",
            "plaintext region CPU/write",
        ],
    );
}

#[test]
fn bench_catchup_smoke_writes_json() {
    smoke(
        "catchup",
        &[
            "backlog write rate (baseline)",
            "drain time (restart → 0 pending)",
            "drain rate per link (min)",
        ],
    );
}

#[test]
fn bench_memory_smoke_writes_json() {
    smoke(
        "memory",
        &["idle RSS (baseline)", "RSS after load", "database size"],
    );
}

#[test]
fn bench_repair_smoke_writes_json() {
    let json = smoke(
        "repair",
        &[
            "raw copy of the store (baseline)",
            "rebuild of the wiped region",
            "rebuild / raw copy",
            "seed: snapshot copied from the peer",
        ],
    );
    // The wiped region got its items back by copying its peer's store.
    let got = json["metrics"]["seed: snapshot copied from the peer"]["median"].as_f64();
    assert!(
        got.is_some_and(|b| b > 0.0),
        "seed: snapshot copied from the peer: {got:?}"
    );
}

#[test]
fn bench_backup_smoke_writes_json() {
    let json = smoke(
        "backup",
        &[
            "plain copy of the store's files (baseline)",
            "backup of the table",
            "writes while backups run / alone",
            "restore to a point in time: rate",
        ],
    );
    let during = json["metrics"]["backups taken during the writes"]["median"].as_f64();
    assert!(
        during.is_some_and(|n| n >= 1.0),
        "backups during the writes: {during:?}"
    );
}

#[test]
fn bench_disk_smoke_writes_json() {
    smoke(
        "disk",
        &[
            "live data (baseline)",
            "store on disk, all files",
            "store / live data",
            "log entries kept",
        ],
    );
}

#[test]
fn bench_fill_smoke_writes_json() {
    let json = smoke(
        "fill",
        &[
            "raw copy of the store's files (baseline)",
            "fill of the new replica",
            "fill / raw copy",
        ],
    );
    // Every item of the table reached the new replica through the fill.
    let moved = json["metrics"]["items moved"]["median"].as_f64();
    assert_eq!(moved, Some(2000.0), "items moved");
}

#[test]
fn bench_stream_smoke_writes_json() {
    smoke(
        "stream",
        &[
            "writes, stream off (baseline)",
            "writes, NEW_AND_OLD_IMAGES stream on",
            "stream on / off",
            "record readable, same region p99",
            "record readable, peer region p99",
        ],
    );
}

#[test]
fn bench_index_smoke_writes_json() {
    smoke(
        "index",
        &[
            "single writes, no index (baseline)",
            "single writes, indexes / none",
            "batched writes, indexes / none",
            "query of a global index p99",
            "index build",
            "writes during / before the build",
        ],
    );
}

#[test]
fn bench_strong_smoke_writes_json() {
    smoke(
        "strong",
        &[
            "L=0ms STRONG write from region 1 p99",
            "L=40ms EVENTUAL write from region 0 p50",
            "L=40ms STRONG consistent read in region 2 p99",
            "L=0ms STRONG / EVENTUAL writes/s",
            "race on 10 hot keys: writes refused (ReplicatedWriteConflict)",
        ],
    );
}

#[test]
fn bench_soak_smoke_writes_samples_and_a_verdict() {
    // `smoke` asserts the command succeeded: the run's correctness checks
    // (no acknowledged write lost, convergence, every fault applied) passed.
    let json = smoke(
        "soak",
        &[
            "writes acknowledged",
            "RSS growth over the second half (worst region)",
            "disk growth over the second half (worst region)",
            "replication p99, last / first period",
            "conflicts kept at the end (most)",
        ],
    );
    let acked = json["metrics"]["writes acknowledged"]["median"].as_f64();
    assert!(
        acked.is_some_and(|n| n > 0.0),
        "writes acknowledged: {acked:?}"
    );
    let run = &json["runs"][0];
    // 12 s sampled every second, from the start to the end inclusive.
    let samples = run["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 13, "{samples:?}");
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-1"];
    for s in samples {
        for r in regions {
            let region = &s["regions"][r];
            for field in ["store_bytes", "wal_bytes", "disk_bytes"] {
                assert!(region[field].is_u64(), "{r}.{field} in {s}");
            }
            for field in [
                "rss_bytes",
                "open_fds",
                "log_rows",
                "tombstones",
                "conflicts",
            ] {
                assert!(region.get(field).is_some(), "{r} has no {field} in {s}");
            }
        }
    }
    // The last period carries no fault: every region answered, with its
    // process's figures, its table and both of its outbound links.
    let last = samples.last().unwrap();
    for r in regions {
        let region = &last["regions"][r];
        for field in ["rss_bytes", "open_fds", "disk_bytes"] {
            let v = region[field].as_u64();
            assert!(v.is_some_and(|v| v > 0), "{r}.{field} at the end: {v:?}");
        }
        assert!(
            region["tombstones"].is_u64() && region["items"].is_u64(),
            "{region}"
        );
        assert_eq!(region["pending"].as_object().unwrap().len(), 2, "{region}");
    }
    // Replication p99 of every one of the six links in some interval.
    let links = samples
        .iter()
        .map(|s| {
            s["p99_ms"]
                .as_object()
                .unwrap()
                .values()
                .filter(|v| v.is_f64())
                .count()
        })
        .max();
    assert_eq!(links, Some(6), "p99 per link: {samples:?}");
    let verdict = &run["verdict"];
    assert_eq!(verdict["passed"], true, "{verdict}");
    let checks = verdict["checks"].as_array().unwrap();
    let judged = |starts: &str| {
        let c = checks
            .iter()
            .find(|c| c["what"].as_str().unwrap().starts_with(starts))
            .unwrap_or_else(|| panic!("no check {starts:?} in {checks:?}"));
        (c["judged"].as_bool().unwrap(), c["ok"].as_bool().unwrap())
    };
    assert_eq!(judged("no acknowledged write lost"), (true, true));
    assert_eq!(judged("every region converged"), (true, true));
    assert_eq!(judged("every fault applied"), (true, true));
    // Too short to judge growth or latency: reported only.
    assert!(!judged("RSS grows").0 && !judged("replication p99").0);
    // The drill saw every fault of the cycle.
    let events: Vec<&str> = run["drill"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for kind in ["latency", "partition", "crash", "restart", "skew"] {
        assert!(events.contains(&kind), "no {kind} in {events:?}");
    }
}
