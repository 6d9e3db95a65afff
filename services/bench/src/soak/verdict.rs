//! `bench soak`'s verdict, from the drill checker's report and the
//! samples: no acknowledged write lost, every region converged, every
//! fault applied; RSS, open file descriptors and disk each grown by less
//! than [`MAX_GROWTH`] over the second half; replication p99 in the last
//! period within [`MAX_P99_RATIO`] of the first (both carry no fault).
//! Pure: it reads what was gathered and decides.

use meridian_scenario::report::Report as DrillReport;
use serde_json::{Value as Json, json};

use super::sample::{Reading, RegionSample, Sample, link_windows};
use crate::phase::q_ms;
use crate::report::finite;

/// Largest growth over the second half that passes, as a fraction.
pub(super) const MAX_GROWTH: f64 = 0.10;
/// Largest last-period p99 that passes, as a multiple of the first's.
pub(super) const MAX_P99_RATIO: f64 = 1.5;

/// One check of the verdict.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Check {
    pub(super) what: String,
    /// `false`: reported, but too short a run to decide (`--smoke`).
    pub(super) judged: bool,
    pub(super) ok: bool,
    pub(super) detail: String,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Verdict {
    pub(super) checks: Vec<Check>,
}

impl Verdict {
    pub(super) fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok || !c.judged)
    }

    fn push(&mut self, what: &str, judged: bool, ok: bool, detail: String) {
        self.checks.push(Check {
            what: what.into(),
            judged,
            ok,
            detail,
        });
    }

    pub(super) fn to_json(&self) -> Json {
        json!({
            "passed": self.passed(),
            "checks": self.checks.iter().map(|c| json!({
                "what": c.what, "judged": c.judged, "ok": c.ok, "detail": c.detail,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A resource at the middle of the run and at its end, for one region:
/// the first sample at or past the middle where the region answered, and
/// the last where it did.
pub(super) fn growth(
    samples: &[Sample],
    region: usize,
    mid_ms: u64,
    get: impl Fn(&RegionSample) -> Option<u64>,
) -> Option<(u64, u64)> {
    let at = |s: &Sample| s.regions.get(region).and_then(&get);
    let mid = samples.iter().filter(|s| s.t_ms >= mid_ms).find_map(at)?;
    let end = samples.iter().rev().find_map(at)?;
    Some((mid, end))
}

/// Replication latency p99 over all links between samples `from` and
/// `to`, with how many mutations it covers.
pub(super) fn p99_between(names: &[String], from: &Sample, to: &Sample) -> (f64, u64) {
    let mut total = vec![0u64; meridian_core::lag::BUCKETS];
    for w in link_windows(names, from, to).values() {
        for (t, c) in total.iter_mut().zip(w) {
            *t += c;
        }
    }
    (q_ms(&total, 0.99), total.iter().sum())
}

/// Judges a soak: the drill checker's report, the samples (the first at
/// the start, one every `per_period`-th a period apart) and whether it was
/// a smoke run, too short to judge growth or latency.
pub(super) fn judge(
    names: &[String],
    drill: &DrillReport,
    samples: &[Sample],
    per_period: usize,
    duration_ms: u64,
    smoke: bool,
) -> (Verdict, Json) {
    let mut v = Verdict::default();
    drill_checks(&mut v, drill);
    let mut figures = serde_json::Map::new();
    resource_checks(&mut v, &mut figures, names, samples, duration_ms, smoke);
    latency_check(&mut v, &mut figures, names, samples, per_period, smoke);
    (v, Json::Object(figures))
}

/// What the drill checker found: no acknowledged write lost, convergence,
/// the conflict log, and every fault applied.
fn drill_checks(v: &mut Verdict, drill: &DrillReport) {
    let problems = |n: usize| {
        drill
            .verdict
            .problems
            .iter()
            .take(n)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    };
    v.push(
        "no acknowledged write lost (every region's final items against the drill checker's oracle)",
        true,
        drill.verdict.oracle_match,
        format!(
            "{} keys checked, {} writes acknowledged{}",
            drill.verdict.keys_checked,
            drill.workload.acked,
            if drill.verdict.oracle_match { String::new() } else { format!(": {}", problems(3)) }
        ),
    );
    v.push(
        "every region converged (equal digests and heads)",
        true,
        drill.verdict.converged,
        match drill.convergence.after_workload_ms {
            Some(ms) => format!("{ms} ms after the workload"),
            None => "not within the settle time".into(),
        },
    );
    v.push(
        "the conflict log accounts for every write overwritten unseen",
        true,
        drill.verdict.acked_writes_accounted,
        format!(
            "{} conflicts checked, {} lost updates recorded",
            drill.verdict.conflicts_checked, drill.verdict.lost_updates
        ),
    );
    let failed: Vec<&str> = drill
        .events
        .iter()
        .filter(|e| e.label.contains("(failed:"))
        .map(|e| e.label.as_str())
        .collect();
    v.push(
        "every fault applied",
        true,
        failed.is_empty(),
        if failed.is_empty() {
            format!("{} events", drill.events.len())
        } else {
            failed.join("; ")
        },
    );
}

/// RSS, descriptors and disk: each region's growth over the second half,
/// held below [`MAX_GROWTH`] (not in a smoke run).
fn resource_checks(
    v: &mut Verdict,
    figures: &mut serde_json::Map<String, Json>,
    names: &[String],
    samples: &[Sample],
    duration_ms: u64,
    smoke: bool,
) {
    let resources: [(&str, &str, Reading); 3] = [
        ("RSS", "rss", |r| r.rss_bytes),
        ("open file descriptors", "fds", |r| r.open_fds),
        ("disk (the data directory)", "disk", |r| Some(r.disk_bytes)),
    ];
    for (what, key, get) in resources {
        let mut worst: Option<f64> = None;
        let mut detail = Vec::new();
        let mut missing = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match growth(samples, i, duration_ms / 2, get) {
                Some((mid, end)) => {
                    let g = end as f64 / mid.max(1) as f64 - 1.0;
                    worst = Some(worst.map_or(g, |w: f64| w.max(g)));
                    detail.push(format!("{name} {mid} → {end} ({:+.1} %)", g * 100.0));
                    figures.insert(format!("{key} growth {name}"), json!(finite(g)));
                }
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            detail.push(format!("no reading from {}", missing.join(", ")));
        }
        let ok = missing.is_empty() && worst.is_some_and(|g| g < MAX_GROWTH);
        v.push(
            &format!(
                "{what} grows < {:.0} % over the second half",
                MAX_GROWTH * 100.0
            ),
            !smoke,
            ok,
            detail.join(", "),
        );
        figures.insert(format!("{key} growth max"), json!(worst.and_then(finite)));
    }
}

/// Replication p99 in the last period against the first healthy one's,
/// held within [`MAX_P99_RATIO`] (not in a smoke run).
fn latency_check(
    v: &mut Verdict,
    figures: &mut serde_json::Map<String, Json>,
    names: &[String],
    samples: &[Sample],
    per_period: usize,
    smoke: bool,
) {
    let last = samples.len().saturating_sub(1);
    let p99 = (samples.len() > per_period && per_period > 0).then(|| {
        (
            p99_between(names, &samples[0], &samples[per_period]),
            p99_between(names, &samples[last - per_period], &samples[last]),
        )
    });
    let (ok, detail) = match p99 {
        Some(((first, n0), (end, n1))) => {
            figures.insert("p99 first period ms".into(), json!(finite(first)));
            figures.insert("p99 last period ms".into(), json!(finite(end)));
            figures.insert("p99 last / first".into(), json!(finite(end / first)));
            (
                n0 > 0 && n1 > 0 && end <= MAX_P99_RATIO * first,
                format!(
                    "first {first:.2} ms over {n0} mutations, last {end:.2} ms over {n1} ({:.2}×)",
                    end / first
                ),
            )
        }
        None => (false, "too few samples for two periods".into()),
    };
    v.push(
        &format!(
            "replication p99 in the last period ≤ {MAX_P99_RATIO}× the first healthy period's"
        ),
        !smoke,
        ok,
        detail,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, rss: Option<u64>, lat_bucket: usize, n: u64) -> Sample {
        let mut counts = vec![0u64; meridian_core::lag::BUCKETS];
        counts[lat_bucket] = n;
        Sample {
            t_ms,
            regions: vec![
                RegionSample {
                    rss_bytes: rss,
                    open_fds: Some(50),
                    disk_bytes: 1000,
                    buckets: [("b".to_string(), counts)].into(),
                    ..Default::default()
                },
                RegionSample {
                    rss_bytes: Some(100),
                    open_fds: Some(50),
                    disk_bytes: 1000,
                    ..Default::default()
                },
            ],
        }
    }

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn healthy() -> DrillReport {
        let mut r = DrillReport::default();
        r.verdict.ok = true;
        r.verdict.oracle_match = true;
        r.verdict.converged = true;
        r.verdict.acked_writes_accounted = true;
        r
    }

    fn check<'a>(v: &'a Verdict, starts: &str) -> &'a Check {
        v.checks
            .iter()
            .find(|c| c.what.starts_with(starts))
            .unwrap()
    }

    #[test]
    fn growth_reads_the_middle_and_the_end_skipping_a_region_that_was_down() {
        let s = [
            sample(0, Some(10), 3, 0),
            sample(50, None, 3, 0),
            sample(60, Some(100), 3, 0),
            sample(100, Some(105), 3, 0),
            sample(110, None, 3, 0),
        ];
        assert_eq!(growth(&s, 0, 50, |r| r.rss_bytes), Some((100, 105)));
        assert_eq!(growth(&s, 0, 200, |r| r.rss_bytes), None);
    }

    #[test]
    fn a_flat_run_passes_and_growth_or_a_slower_end_fails() {
        // Four samples a period apart: p99 from bucket 10 at the start,
        // the same at the end.
        let flat = [
            sample(0, Some(100), 10, 0),
            sample(1000, Some(100), 10, 100),
            sample(2000, Some(104), 10, 200),
            sample(3000, Some(105), 10, 300),
        ];
        let (v, figures) = judge(&names(), &healthy(), &flat, 1, 3000, false);
        assert!(v.passed(), "{v:?}");
        assert!(figures["p99 last / first"].as_f64().is_some());

        let mut grown = flat.clone();
        grown[3].regions[0].rss_bytes = Some(120);
        let (v, _) = judge(&names(), &healthy(), &grown, 1, 3000, false);
        assert!(!v.passed());
        assert!(!check(&v, "RSS").ok);
        // Under --smoke the same growth is reported, not judged.
        let (v, _) = judge(&names(), &healthy(), &grown, 1, 3000, true);
        assert!(v.passed() && !check(&v, "RSS").ok && !check(&v, "RSS").judged);

        // The last period's mutations all in a bucket far above the first's.
        let mut slower = flat.clone();
        let b = slower[3].regions[0].buckets.get_mut("b").unwrap();
        b[10] = 200;
        b[40] = 100;
        let (v, _) = judge(&names(), &healthy(), &slower, 1, 3000, false);
        assert!(!check(&v, "replication p99").ok, "{v:?}");
    }

    #[test]
    fn a_lost_write_a_divergence_or_a_failed_fault_fails_even_a_smoke_run() {
        let s = [sample(0, Some(1), 3, 0), sample(1000, Some(1), 3, 1)];
        let mut lost = healthy();
        lost.verdict.oracle_match = false;
        lost.verdict.problems = vec!["us-east-1: k: an acknowledged write was lost".into()];
        let (v, _) = judge(&names(), &lost, &s, 1, 1000, true);
        assert!(!v.passed());
        assert!(
            check(&v, "no acknowledged write lost")
                .detail
                .contains("was lost")
        );

        let mut diverged = healthy();
        diverged.verdict.converged = false;
        assert!(!judge(&names(), &diverged, &s, 1, 1000, true).0.passed());

        let mut fault = healthy();
        fault.events.push(meridian_scenario::report::EventMark {
            at_ms: 10,
            action: "crash".into(),
            label: "crash a (failed: no such region)".into(),
        });
        assert!(!judge(&names(), &fault, &s, 1, 1000, true).0.passed());
    }
}
