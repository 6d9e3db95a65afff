//! What a run saw, one line per check, and the same as JSON.
//!
//! The text form is meant for people and CI logs alike: the verdict first
//! (so `grep ^FAIL` works), then the check's name, then what it saw in
//! plain words, then the AWS page whose documented behaviour the check
//! compares against. The JSON form carries the same fields plus each
//! check's raw figures, for dashboards and for diffing two runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// What the endpoints did agrees with what AWS documents.
    Pass,
    /// The endpoints did something AWS documents they do not (or, where a
    /// flag such as `--expect-reordering` asks for more, did not do it).
    Fail,
    /// The check could not run honestly here (no fault API, too few
    /// endpoints, an expiry that did not arrive on real AWS in time); never
    /// a pass in disguise.
    Skip,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub outcome: Outcome,
    /// What it saw, in one line.
    pub saw: String,
    /// The AWS documentation page the expectation comes from.
    pub source: String,
    pub elapsed_ms: u64,
    /// The check's own figures (counts, lags), for machines.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

/// Everything one run saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `name=url` of every endpoint, in the order given.
    pub endpoints: Vec<String>,
    /// The fault API used, if any.
    pub fault_api: Option<String>,
    pub results: Vec<CheckResult>,
    /// Where `--measure` wrote its profile, if it was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_file: Option<String>,
}

impl Report {
    /// True when any check failed: the caller exits nonzero then.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.outcome == Outcome::Fail)
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }

    /// The whole report as pretty JSON (`--json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// One line per check and a summary line (the default output).
    pub fn to_text(&self) -> String {
        let width = self.results.iter().map(|r| r.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for r in &self.results {
            out.push_str(&format_line(r, width));
            out.push('\n');
        }
        out.push_str(&format!(
            "{} passed, {} failed, {} skipped",
            self.count(Outcome::Pass),
            self.count(Outcome::Fail),
            self.count(Outcome::Skip)
        ));
        if let Some(p) = &self.profile_file {
            out.push_str(&format!("; profile written to {p}"));
        }
        out.push('\n');
        out
    }

    /// Prints the report as `--json` asks and says whether the run failed,
    /// so a caller's `main` is `std::process::exit(report.print(json) as i32)`.
    pub fn print(&self, json: bool) -> bool {
        if json {
            println!("{}", self.to_json());
        } else {
            print!("{}", self.to_text());
        }
        self.failed()
    }
}

/// `PASS  name  what it saw  (source: URL)`, the name padded to `width`.
pub fn format_line(r: &CheckResult, width: usize) -> String {
    // One line per check: newlines inside what a check saw (an SDK error's
    // text) would break `grep` and line-oriented CI logs.
    let saw = r.saw.replace(['\n', '\r'], " ");
    format!(
        "{}  {:<width$}  {}  (source: {})",
        r.outcome, r.name, saw, r.source
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, outcome: Outcome, saw: &str) -> CheckResult {
        CheckResult {
            name: name.into(),
            outcome,
            saw: saw.into(),
            source: "https://docs.aws.amazon.com/x.html".into(),
            elapsed_ms: 12,
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_line_has_verdict_name_saw_and_source() {
        let line = format_line(
            &result("replication", Outcome::Pass, "seen\nin 2 regions"),
            14,
        );
        assert_eq!(
            line,
            "PASS  replication     seen in 2 regions  (source: https://docs.aws.amazon.com/x.html)"
        );
    }

    #[test]
    fn any_fail_fails_the_run_and_skips_do_not() {
        let mut r = Report {
            results: vec![
                result("a", Outcome::Pass, "ok"),
                result("b", Outcome::Skip, "no fault API"),
            ],
            ..Report::default()
        };
        assert!(!r.failed());
        assert!(r.to_text().ends_with("1 passed, 0 failed, 1 skipped\n"));
        r.results.push(result("c", Outcome::Fail, "went back"));
        assert!(r.failed());
        assert!(r.to_text().lines().any(|l| l.starts_with("FAIL  c ")));
    }

    #[test]
    fn json_round_trips_with_uppercase_verdicts() {
        let r = Report {
            endpoints: vec!["us-east-1=http://127.0.0.1:8101".into()],
            fault_api: None,
            results: vec![result("a", Outcome::Fail, "x")],
            profile_file: None,
        };
        let json = r.to_json();
        assert!(json.contains("\"outcome\": \"FAIL\""));
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
