//! The comparison drills. `[table] consistency = "both"`: the same scenario
//! and seed run once against an EVENTUAL table and once against a STRONG
//! one, same workload and same faults, and one report with the two side by
//! side. `[replication] order = "both"`: the same, once in log order and
//! once in partition order. Each run is a whole drill with its own regions;
//! the combined report is the second run's, with both sides beside it
//! ([`Report::comparison`], [`Report::order_comparison`]), and its verdict
//! fails when either run's checker does.

use std::collections::BTreeMap;

use meridian_scenario::report::{ComparisonSide, LatencySummary, OrderSide, Report};
use meridian_scenario::scenario::{Consistency, Order, Scenario};

/// The two runs of a comparison scenario, in the order [`combine`] takes
/// them: EVENTUAL and STRONG, or log order and partition order; `None`
/// for any other scenario.
pub fn sides(scenario: &Scenario) -> Option<[Scenario; 2]> {
    if scenario.replication.order == Order::Both {
        let side = |o: Order| {
            let mut s = scenario.clone();
            s.replication = scenario.replication.run_as(o);
            s
        };
        return Some([side(Order::Log), side(Order::Partition)]);
    }
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

/// The names of a comparison's two runs, in [`sides`]' order: the
/// directories their output goes to.
pub fn side_names(scenario: &Scenario) -> [&'static str; 2] {
    if scenario.replication.order == Order::Both {
        ["log", "partition"]
    } else {
        ["eventual", "strong"]
    }
}

/// One run of an order comparison as its side.
fn order_side(order: &str, r: &Report) -> OrderSide {
    let mut latency = LatencySummary::default();
    for l in &r.links {
        latency.count += l.latency.count;
        latency.p50_ms = max(latency.p50_ms, l.latency.p50_ms);
        latency.p99_ms = max(latency.p99_ms, l.latency.p99_ms);
        latency.max_ms = max(latency.max_ms, l.latency.max_ms);
    }
    let (checked, broken, torn) = r.orders.as_ref().map_or((0, 0, 0), |o| o.totals());
    OrderSide {
        order: order.into(),
        ok: r.verdict.ok,
        problems: r.verdict.problems.clone(),
        acked: r.workload.acked,
        reordered: r.links.iter().map(|l| l.reordered).sum(),
        torn_units: r.links.iter().map(|l| l.torn_units).sum(),
        latency,
        orders_checked: checked,
        orders_broken: broken,
        orders_torn: torn,
        lost_updates: r.verdict.lost_updates,
        convergence_ms: r.convergence.after_workload_ms,
    }
}

/// The larger of two figures, either of which may be missing.
fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The two runs of a comparison as one report: the second run's, with
/// both sides beside it and a verdict that holds only if both passed.
pub fn combine(scenario: &Scenario, first: Report, second: Report) -> Report {
    if scenario.replication.order == Order::Both {
        let sides = vec![order_side("log", &first), order_side("partition", &second)];
        let mut report = both_verdicts(&first, "log-order", second, "partition-order");
        report.order_comparison = sides;
        return report;
    }
    let sides = vec![side(&first), side(&second)];
    let mut report = both_verdicts(&first, "EVENTUAL", second, "STRONG");
    report.comparison = sides;
    report
}

/// `second` with the verdict of both runs: passed only if both passed,
/// each problem labelled with its run.
fn both_verdicts(first: &Report, first_run: &str, mut second: Report, second_run: &str) -> Report {
    let label = |run: &str, r: &Report| -> Vec<String> {
        r.verdict
            .problems
            .iter()
            .map(|p| format!("{run} run: {p}"))
            .collect()
    };
    let mut problems = label(first_run, first);
    problems.extend(label(second_run, &second));
    second.verdict.ok = first.verdict.ok && second.verdict.ok;
    second.verdict.problems = problems;
    second
}

/// One run as its side of a consistency comparison.
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
