//! The seeded sweep: random fault timelines under simulation, each checked.
//! A failing seed prints the command that replays it.

const SEEDS: u64 = 50;

#[test]
fn fifty_random_fault_timelines_all_pass_the_checker() {
    let dir = tempfile::tempdir().unwrap();
    let summary = meridian_drill::sweep::sweep(1..SEEDS + 1, 2, dir.path(), &|_| {});
    assert_eq!(summary.runs.len() as u64, SEEDS);
    // The sweep must exercise conflict detection, not only quiet runs.
    assert!(
        summary.with_conflicts() >= 10,
        "only {} seeds produced conflicts",
        summary.with_conflicts()
    );
    // One seed in four is STRONG: those must check real histories.
    let (strong_seeds, strong) = summary.strong();
    assert!(strong_seeds >= 10, "only {strong_seeds} STRONG seeds");
    assert!(
        strong.keys_checked > 0 && strong.reads > 0,
        "STRONG seeds checked {} keys and {} reads",
        strong.keys_checked,
        strong.reads
    );
    let failures: Vec<String> = summary
        .failed()
        .map(|r| {
            format!(
                "seed {}: acked {}, {}\n  replay: {}",
                r.seed,
                r.acked,
                r.problems.join("; "),
                r.replay()
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {SEEDS} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
