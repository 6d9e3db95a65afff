//! Finding the cluster from any directory, `--json` and exit statuses,
//! against the real `meridian` binary. Nothing listens on the cluster's
//! ports here, so every region is down: that is what `status` must report.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use meridian_cluster::local::loopback_file;
use serde_json::Value as Json;

/// Runs `meridian <args>` in `cwd` with no MERIDIAN_CONFIG and the
/// per-user record under `runtime` (XDG_RUNTIME_DIR).
fn meridian(cwd: &Path, runtime: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(args)
        .current_dir(cwd)
        .env_remove("MERIDIAN_CONFIG")
        .env("XDG_RUNTIME_DIR", runtime)
        .stdin(Stdio::null())
        .output()
        .expect("run meridian")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn status_and_net_find_the_recorded_cluster_and_exit_3_when_regions_are_down() {
    let cwd = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let pointer = runtime.path().join("meridian").join("current");

    // Nothing given, nothing here, nothing recorded: exit 1, saying where it looked.
    let out = meridian(cwd.path(), runtime.path(), &["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("regions/local-3.toml") && err.contains(&pointer.display().to_string()),
        "{err}"
    );

    // A cluster file elsewhere, recorded the way `meridian up` records it.
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let file = loopback_file("disc", &cwd.path().join("data"), &names, true).unwrap();
    let config = runtime.path().join("cluster.toml");
    file.write(&config).unwrap();
    std::fs::create_dir_all(pointer.parent().unwrap()).unwrap();
    std::fs::write(&pointer, format!("{}\n", config.display())).unwrap();

    let out = meridian(cwd.path(), runtime.path(), &["status"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for n in &names {
        assert!(stdout.contains(&format!("{n}  DOWN")), "{stdout}");
    }
    assert!(
        text(&out.stderr).contains("3 region(s) down"),
        "{}",
        text(&out.stderr)
    );

    let out = meridian(cwd.path(), runtime.path(), &["status", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let doc: Json = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(doc["cluster"], "disc");
    let regions = doc["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 3);
    assert!(
        regions
            .iter()
            .all(|r| r["up"] == false && r["error"].is_string()),
        "{doc}"
    );

    // `net show` finds it too; the control API is not running, so the
    // faults are unknown, and every region is down.
    let out = meridian(cwd.path(), runtime.path(), &["net", "show", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Json = serde_json::from_slice(&out.stdout).expect("net show --json is JSON");
    assert!(
        doc["faults_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{doc}"
    );
    assert_eq!(doc["links"].as_array().unwrap().len(), 6);
    assert!(
        doc["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["faults"].is_null())
    );
    let regions = doc["regions"].as_array().unwrap();
    assert!(regions.iter().all(|r| r["up"] == false), "{doc}");

    // An explicit --config wins over the record.
    let out = meridian(
        cwd.path(),
        runtime.path(),
        &["status", "--config", "nowhere.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("nowhere.toml"),
        "{}",
        text(&out.stderr)
    );

    // Bad usage is 2.
    let out = meridian(cwd.path(), runtime.path(), &["status", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}
