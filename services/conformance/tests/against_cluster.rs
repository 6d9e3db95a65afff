//! The whole checker against a running cluster.
//!
//! Skips (with a message) unless `MERIDIAN_CONFORMANCE_CLUSTER` names a
//! cluster file whose regions are up; CI starts `meridian up` and sets it.
//! `MERIDIAN_CONFORMANCE_EXPECT_REORDERING=1` adds `--expect-reordering`
//! (for a cluster replicating in partition order), and
//! `MERIDIAN_CONFORMANCE_ONLY=a,b` runs a subset.

use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_or_skips_against_the_cluster() {
    let Ok(file) = std::env::var("MERIDIAN_CONFORMANCE_CLUSTER") else {
        eprintln!(
            "skipped: set MERIDIAN_CONFORMANCE_CLUSTER to a running cluster's file to run this test"
        );
        return;
    };
    let only = std::env::var("MERIDIAN_CONFORMANCE_ONLY")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let args = meridian_conformance::Args {
        endpoints: vec![],
        cluster: Some(PathBuf::from(file)),
        toxiproxy: None,
        json: false,
        only,
        samples: 60,
        measure: None,
        timeout_secs: 120,
        expect_reordering: std::env::var("MERIDIAN_CONFORMANCE_EXPECT_REORDERING")
            .is_ok_and(|v| v == "1"),
        ttl_deadline_secs: 40,
    };
    let report = meridian_conformance::run(args)
        .await
        .expect("the run starts");
    print!("{}", report.to_text());
    assert!(!report.results.is_empty());
    assert!(!report.failed(), "a check failed:\n{}", report.to_text());
}
