//! Results of one benchmark: metrics over repetitions (median, min, max),
//! targets checked against medians, a readable table and a JSON file.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{Value as Json, json};

pub struct Metric {
    pub name: String,
    pub unit: &'static str,
    pub values: Vec<f64>,
}

impl Metric {
    pub fn median(&self) -> f64 {
        median(&self.values)
    }
    fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

pub struct Target {
    pub what: String,
    pub metric: String,
    /// `true`: the median must be at least `bound`; `false`: at most.
    pub at_least: bool,
    pub bound: f64,
}

pub struct Report {
    pub name: &'static str,
    pub smoke: bool,
    pub reps: usize,
    pub config: Json,
    pub metrics: Vec<Metric>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
    pub runs: Vec<Json>,
    /// [`super::probe::probe_machine`]'s figures, taken before the first repetition.
    pub machine: Json,
}

impl Report {
    pub fn new(name: &'static str, smoke: bool, reps: usize, config: Json) -> Self {
        Report {
            name,
            smoke,
            reps,
            config,
            metrics: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
            runs: Vec::new(),
            machine: Json::Null,
        }
    }

    /// Adds one repetition's value of a metric.
    pub fn add(&mut self, name: &str, unit: &'static str, value: f64) {
        match self.metrics.iter_mut().find(|m| m.name == name) {
            Some(m) => m.values.push(value),
            None => self.metrics.push(Metric {
                name: name.to_string(),
                unit,
                values: vec![value],
            }),
        }
    }

    pub fn target(&mut self, what: &str, metric: &str, at_least: bool, bound: f64) {
        self.targets.push(Target {
            what: what.into(),
            metric: metric.into(),
            at_least,
            bound,
        });
    }

    fn median_of(&self, metric: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == metric)
            .map(Metric::median)
    }

    /// Prints the heading and a row per metric; each metric's figures for
    /// the JSON.
    fn print_metrics(&self) -> serde_json::Map<String, Json> {
        let width = self
            .metrics
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "\nmeridian bench {}{} — {} repetition(s), median [min … max]",
            self.name,
            if self.smoke { " --smoke" } else { "" },
            self.reps
        );
        println!(
            "{:<width$}  {:>14}  {:>14}  {:>14}  unit",
            "metric", "median", "min", "max"
        );
        let mut metrics = serde_json::Map::new();
        for m in &self.metrics {
            println!(
                "{:<width$}  {:>14}  {:>14}  {:>14}  {}",
                m.name,
                fmt(m.median()),
                fmt(m.min()),
                fmt(m.max()),
                m.unit
            );
            metrics.insert(
                m.name.clone(),
                json!({
                    "unit": m.unit,
                    "median": finite(m.median()),
                    "min": finite(m.min()),
                    "max": finite(m.max()),
                    "values": m.values.iter().map(|v| finite(*v)).collect::<Vec<_>>(),
                }),
            );
        }
        metrics
    }

    /// Checks and prints each target on its metric's median; each one's
    /// outcome for the JSON.
    fn check_targets(&self) -> Vec<Json> {
        let mut targets = Vec::new();
        if !self.targets.is_empty() {
            println!("\ntargets (checked on the median):");
        }
        for t in &self.targets {
            let value = self.median_of(&t.metric);
            let met = value.map(|v| {
                if t.at_least {
                    v >= t.bound
                } else {
                    v <= t.bound
                }
            });
            let verdict = match met {
                Some(true) => "MET",
                Some(false) => "MISSED",
                None => "NO DATA",
            };
            println!(
                "  {:<7} {} (median {})",
                verdict,
                t.what,
                value.map_or("-".to_string(), fmt)
            );
            targets.push(json!({
                "what": t.what,
                "metric": t.metric,
                "bound": t.bound,
                "at_least": t.at_least,
                "median": value.and_then(finite),
                "met": met,
            }));
        }
        targets
    }

    /// Prints the table and writes `<out>/<name>-<unix time>.json`.
    pub fn finish(self, out: &Path) -> Result<PathBuf> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let metrics = self.print_metrics();
        let targets = self.check_targets();
        for n in &self.notes {
            println!("note: {n}");
        }
        if let (Some(sync), Some(cpu)) = (
            self.machine["fsync_4k_ms_median"].as_f64(),
            self.machine["cpu_ns_per_step_best"].as_f64(),
        ) {
            println!(
                "machine: a 4 KiB write + fdatasync took {sync:.3} ms (median), the CPU reference {cpu:.3} ns/step (best of 5)"
            );
        }
        let doc = json!({
            "name": self.name,
            "unix_time": now,
            "smoke": self.smoke,
            "reps": self.reps,
            "config": self.config,
            "metrics": metrics,
            "targets": targets,
            "notes": self.notes,
            "runs": self.runs,
            "machine": self.machine,
        });
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let path = out.join(format!("{}-{now}.json", self.name));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
        Ok(path)
    }
}

/// The median of `values`; NaN when there are none.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(super) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Microseconds (the unit of latency histograms) as the milliseconds
/// reports show.
pub(super) fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
