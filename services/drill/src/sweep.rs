//! The seeded sweep: the random fault timelines of a range of seeds
//! ([`crate::random::scenario`]), each simulated and checked, spread over
//! threads. `meridian drill sweep` and the test suite both run it; a
//! failing seed is replayed alone with `meridian drill random --seed N`.

use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Fewer acknowledged writes than this and a run checked too little to
/// count as a pass: the workload must have run.
pub const MIN_ACKED: u64 = 100;

/// One seed's run.
#[derive(Clone, Debug)]
pub struct SeedRun {
    pub seed: u64,
    /// Acknowledged writes the checker judged.
    pub acked: u64,
    /// Conflicts the checker matched against the regions' records.
    pub conflicts_checked: u64,
    /// Acknowledged writes recorded as losing a conflict.
    pub lost_updates: u64,
    /// Relayed catalog changes passed over for their origin, on every link
    /// (`LinkReport::left_to_origin`): how often the sweep met table churn
    /// through a relay, which must never hold a link up.
    pub left_to_origin: u64,
    /// On a STRONG table ([`crate::random::strong_draw`]): the keys whose
    /// history was checked for linearizability, and those found not
    /// linearizable or left undecided.
    pub strong: Option<StrongRun>,
    /// Empty when the seed passed.
    pub problems: Vec<String>,
    /// Real time the simulation took.
    pub wall: Duration,
}

impl SeedRun {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The command that replays this seed alone, with its report.
    pub fn replay(&self) -> String {
        format!("meridian drill random --seed {}", self.seed)
    }
}

/// What a seed on a STRONG table checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct StrongRun {
    pub keys_checked: u64,
    pub violations: u64,
    pub undecided: u64,
    /// Strongly consistent reads checked, and those found stale.
    pub reads: u64,
    pub stale_reads: u64,
    pub conflicts: u64,
}

/// Every seed's run, by seed, and the real time the sweep took.
#[derive(Debug)]
pub struct Summary {
    pub runs: Vec<SeedRun>,
    pub wall: Duration,
}

impl Summary {
    pub fn failed(&self) -> impl Iterator<Item = &SeedRun> {
        self.runs.iter().filter(|r| !r.passed())
    }

    /// Seeds whose checker matched at least one conflict: a sweep of
    /// quiet runs would not test conflict detection at all.
    pub fn with_conflicts(&self) -> usize {
        self.runs.iter().filter(|r| r.conflicts_checked > 0).count()
    }

    /// Seeds that passed over a relayed catalog change, and how many
    /// changes in all.
    pub fn left_to_origin(&self) -> (usize, u64) {
        let seeds = self.runs.iter().filter(|r| r.left_to_origin > 0).count();
        (seeds, self.runs.iter().map(|r| r.left_to_origin).sum())
    }

    /// The runs on STRONG tables, summed.
    pub fn strong(&self) -> (usize, StrongRun) {
        let runs: Vec<&StrongRun> = self.runs.iter().filter_map(|r| r.strong.as_ref()).collect();
        let mut sum = StrongRun::default();
        for s in &runs {
            sum.keys_checked += s.keys_checked;
            sum.violations += s.violations;
            sum.undecided += s.undecided;
            sum.reads += s.reads;
            sum.stale_reads += s.stale_reads;
            sum.conflicts += s.conflicts;
        }
        (runs.len(), sum)
    }
}

/// Simulates and checks every seed of `seeds` on `jobs` threads (each
/// simulation is single-threaded and independent), data under `dir`, each
/// seed's removed once checked. `each` hears of every seed as it ends, from
/// the thread that ran it.
pub fn sweep(
    seeds: Range<u64>,
    jobs: usize,
    dir: &Path,
    each: &(dyn Fn(&SeedRun) + Sync),
) -> Summary {
    let started = Instant::now();
    let next = AtomicU64::new(seeds.start);
    let runs = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let run = run_seed(seed, &dir.join(seed.to_string()));
                    each(&run);
                    runs.lock().unwrap_or_else(|p| p.into_inner()).push(run);
                }
            });
        }
    });
    let mut runs = runs.into_inner().unwrap_or_else(|p| p.into_inner());
    runs.sort_by_key(|r| r.seed);
    Summary {
        runs,
        wall: started.elapsed(),
    }
}

/// One seed, simulated in `dir` and checked; `dir` is gone afterwards.
pub fn run_seed(seed: u64, dir: &Path) -> SeedRun {
    let started = Instant::now();
    let scenario = crate::random::scenario(seed);
    let outcome = crate::sim::run(&scenario, seed, dir);
    let _ = std::fs::remove_dir_all(dir);
    let wall = started.elapsed();
    match outcome {
        Ok(r) => {
            let mut problems = r.verdict.problems.clone();
            if !r.verdict.ok && problems.is_empty() {
                problems.push("the checker failed".into());
            }
            if r.workload.acked < MIN_ACKED {
                problems.push(format!(
                    "only {} writes were acknowledged (at least {MIN_ACKED} make a run that checks something)",
                    r.workload.acked
                ));
            }
            SeedRun {
                seed,
                acked: r.workload.acked,
                conflicts_checked: r.verdict.conflicts_checked,
                lost_updates: r.verdict.lost_updates,
                left_to_origin: r.links.iter().map(|l| l.left_to_origin).sum(),
                strong: r
                    .consistency
                    .as_ref()
                    .filter(|c| c.consistency == "STRONG")
                    .map(|c| StrongRun {
                        keys_checked: c.keys_checked,
                        violations: c.violation_count,
                        undecided: c.inconclusive.len() as u64,
                        reads: c.consistent_reads,
                        stale_reads: c.stale_reads,
                        conflicts: c.conflicts,
                    }),
                problems,
                wall,
            }
        }
        Err(e) => SeedRun {
            seed,
            acked: 0,
            conflicts_checked: 0,
            lost_updates: 0,
            left_to_origin: 0,
            strong: None,
            problems: vec![format!("the simulation failed: {e}")],
            wall,
        },
    }
}
