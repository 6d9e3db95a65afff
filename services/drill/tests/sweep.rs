//! The seeded sweep: random fault timelines under simulation, each checked.
//! A failing seed prints the command that replays it.

const SEEDS: u64 = 50;

#[test]
fn fifty_random_fault_timelines_all_pass_the_checker() {
    let dir = tempfile::tempdir().unwrap();
    // Two threads: every simulation is single-threaded and independent.
    let run = |seeds: Vec<u64>| {
        let base = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            let mut with_conflicts = 0;
            for seed in seeds {
                let scenario = meridian_drill::random::scenario(seed);
                let outcome =
                    meridian_drill::sim::run(&scenario, seed, &base.join(seed.to_string()));
                let _ = std::fs::remove_dir_all(base.join(seed.to_string()));
                match outcome {
                    // A run with nothing acknowledged would check nothing.
                    Ok(r) if r.verdict.ok && r.workload.acked > 100 => {
                        if r.verdict.conflicts_checked > 0 {
                            with_conflicts += 1;
                        }
                    }
                    Ok(r) => failures.push(format!(
                        "seed {seed}: acked {}, {}\n  replay: cargo run -p meridian -- drill random --seed {seed}",
                        r.workload.acked,
                        r.verdict.problems.join("; ")
                    )),
                    Err(e) => failures.push(format!(
                        "seed {seed}: {e}\n  replay: cargo run -p meridian -- drill random --seed {seed}"
                    )),
                }
            }
            (failures, with_conflicts)
        })
    };
    let odd = run((1..=SEEDS).filter(|s| s % 2 == 1).collect());
    let even = run((1..=SEEDS).filter(|s| s % 2 == 0).collect());
    let (mut failures, a) = odd.join().unwrap();
    let (more, b) = even.join().unwrap();
    failures.extend(more);
    // The sweep must exercise conflict detection, not only quiet runs.
    assert!(a + b >= 10, "only {} seeds produced conflicts", a + b);
    assert!(
        failures.is_empty(),
        "{} of {SEEDS} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
