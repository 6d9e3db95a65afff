//! The comparison drill (`[table] consistency = "both"`): the same scenario
//! and seed run once against an EVENTUAL table and once against a STRONG
//! one, same workload and same faults, and one report with the two side by
//! side. Each run is a whole drill with its own regions; the combined
//! report is the STRONG run's, with [`Report::comparison`] holding both
//! sides, and its verdict fails when either run's checker does.

use std::collections::BTreeMap;

use meridian_scenario::report::{ComparisonSide, Report};
use meridian_scenario::scenario::{Consistency, Scenario};

/// The EVENTUAL and STRONG runs of a comparison scenario, in that order;
/// `None` for any other scenario.
pub fn sides(scenario: &Scenario) -> Option<[Scenario; 2]> {
    if scenario.table.consistency != Consistency::Both {
        return None;
    }
    let side = |c: Consistency| {
        let mut s = scenario.clone();
        s.table = scenario.table.run_as(c);
        s
    };
    Some([side(Consistency::Eventual), side(Consistency::Strong)])
}

/// One run as its side of the comparison.
fn side(r: &Report) -> ComparisonSide {
    ComparisonSide {
        consistency: r.consistency.clone().unwrap_or_default(),
        ok: r.verdict.ok,
        problems: r.verdict.problems.clone(),
        acked: r.workload.acked,
        lost_updates: r.verdict.lost_updates,
        rpo_writes_lost: r.disasters.iter().map(|d| d.lost.len() as u64).sum(),
        rto_ms: r
            .consistency
            .iter()
            .flat_map(|c| &c.outages)
            .map(|o| (format!("{} at {} ms", o.region, o.at_ms), o.back_ms))
            .collect::<BTreeMap<_, _>>(),
        convergence_ms: r.convergence.after_workload_ms,
    }
}

/// The report of a comparison: the STRONG run's, with both sides, and a
/// verdict that holds only if both runs' checkers passed.
pub fn combine(eventual: Report, strong: Report) -> Report {
    let sides = vec![side(&eventual), side(&strong)];
    let mut report = strong;
    let mut problems: Vec<String> = eventual
        .verdict
        .problems
        .iter()
        .map(|p| format!("EVENTUAL run: {p}"))
        .collect();
    problems.extend(
        report
            .verdict
            .problems
            .iter()
            .map(|p| format!("STRONG run: {p}")),
    );
    report.verdict.ok = eventual.verdict.ok && report.verdict.ok;
    report.verdict.problems = problems;
    report.comparison = sides;
    report
}
