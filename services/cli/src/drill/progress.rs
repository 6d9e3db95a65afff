//! A drill's progress as it goes, in `progress.jsonl` beside its report:
//! one JSON document a line, appended and flushed as each is made, so that
//! whoever watches the drill (the dashboard) can draw its timeline and
//! plots while it runs. The lines carry the drill's own timeline entries
//! and series rows ([`meridian_drill::Progress`]), the ones its report will
//! hold; the report is made without reading this file.

use std::io::Write as _;
use std::path::Path;

use meridian_scenario::report::EventMark;
use std::sync::Mutex;

use meridian_drill::Progress;
use meridian_scenario::report::Report;
use meridian_scenario::scenario::Scenario;
use serde_json::{Value as Json, json};

/// The file's name in the drill's output directory.
pub const PROGRESS_FILE: &str = "progress.jsonl";

/// The first line: what the drill is.
pub fn start_line(scenario: &Scenario, mode: &str, seed: u64) -> Json {
    json!({ "start": {
        "scenario": scenario.name,
        "mode": mode,
        "seed": seed,
        "regions": scenario.regions,
        "duration_ms": scenario.duration.as_millis() as u64,
        "sample_interval_ms": scenario.sample_interval.as_millis() as u64,
    }})
}

/// The lines one progress adds: each new timeline entry and objective
/// failed (an `event` line, action `criterion`), then the new sample's
/// rows, if it brought one.
pub fn lines(p: &Progress) -> Vec<Json> {
    let mut out: Vec<Json> = p
        .events
        .iter()
        .chain(&p.judged)
        .map(|e| json!({ "event": serde_json::to_value(e).unwrap_or(Json::Null) }))
        .collect();
    if let Some(rows) = &p.rows {
        let links: Vec<Json> = rows
            .links
            .iter()
            .map(|(from, to, row)| {
                let mut l = serde_json::to_value(row).unwrap_or(Json::Null);
                l["from"] = json!(from);
                l["to"] = json!(to);
                l
            })
            .collect();
        out.push(json!({ "sample": {
            "t_ms": rows.conflicts.t_ms,
            "phase": p.phase,
            "acked": p.acked,
            "failed": p.failed,
            "pending": p.pending,
            "links": links,
            "conflicts": rows.conflicts.by_region,
        }}));
    }
    out
}

/// What the drill judges by the application, as it judges it: the alarms
/// that change state, the invariants violated, a stop condition's stop,
/// a simulated failover endpoint's moves and the objectives failed, each
/// said on a line of its own while the drill runs (the final report gives
/// them all again).
pub fn judged(p: &Progress) -> impl Iterator<Item = &EventMark> {
    p.events
        .iter()
        .filter(|e| {
            matches!(
                e.action.as_str(),
                "alarm" | "invariant" | "stop" | "failover"
            )
        })
        .chain(&p.judged)
}

/// The last line: the verdict and where the report is, or why there is none.
pub fn end_line(outcome: Result<&Report, &anyhow::Error>) -> Json {
    match outcome {
        Ok(r) => json!({ "end": {
            "ok": r.verdict.ok,
            "problems": r.verdict.problems,
            "report": "report.html",
        }}),
        Err(e) => json!({ "end": { "ok": false, "error": format!("{e:#}") } }),
    }
}

/// `progress.jsonl`, written a whole line per write. Writing it never
/// fails the drill: a write that fails is said once and the file is left.
#[derive(Default)]
pub struct ProgressLog {
    file: Mutex<Option<std::fs::File>>,
}

impl ProgressLog {
    /// Starts `dir`'s progress file afresh.
    pub fn create(dir: &Path) -> ProgressLog {
        let path = dir.join(PROGRESS_FILE);
        let file = std::fs::File::create(&path)
            .inspect_err(|e| tracing::warn!(path = %path.display(), error = %e, "no progress file"))
            .ok();
        ProgressLog {
            file: Mutex::new(file),
        }
    }

    pub fn write(&self, line: &Json) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut() {
            let mut text = line.to_string();
            text.push('\n');
            if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.flush()) {
                tracing::warn!(error = %e, "writing the progress file failed; it stops here");
                *file = None;
            }
        }
    }

    /// Writes the lines of one progress.
    pub fn progress(&self, p: &Progress) {
        for line in lines(p) {
            self.write(&line);
        }
    }
}
