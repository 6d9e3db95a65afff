//! The consistency section (`[table] consistency = "strong"` or `"both"`)
//! and the side-by-side comparison of an EVENTUAL and a STRONG run.

use super::markup::{Html, Table, number, text};
use super::text::{fmt_dur, fmt_ms};
use crate::report::{ComparisonSide, ConsistencyReport, Report};

/// What clients saw of the table's consistency, per region.
pub(super) fn consistency_section(out: &mut String, r: &Report) {
    let Some(c) = &r.consistency else {
        return;
    };
    out.push_str(&format!(
        "<section id=\"consistency\">\n<h2>Consistency ({})</h2>\n\
         <p class=\"explain\">From every operation's invocation and completion as the drill's \
         clients saw them. Linearizability is checked per key on a STRONG table (a write of \
         unknown outcome may have taken effect or not); a stale read is a strongly consistent \
         read that returned less than a write acknowledged before it began. Writes while \
         partitioned are those a region began while one of its links was cut.</p>\n",
        super::markup::esc(&c.consistency)
    ));
    summary(out, c);
    regions_table(out, c);
    for (title, lines) in [
        ("Not linearizable", &c.violations),
        ("Undecided", &c.inconclusive),
        ("Stale strongly consistent reads", &c.stale_examples),
    ] {
        if lines.is_empty() {
            continue;
        }
        out.push_str(&format!("<h3>{title}</h3>\n<ul>\n"));
        for l in lines {
            out.push_str(&format!("<li>{}</li>\n", super::markup::esc(l)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn summary(out: &mut String, c: &ConsistencyReport) {
    let columns = [
        number("operations"),
        number("keys checked"),
        number("linearizable"),
        number("not linearizable"),
        number("undecided"),
        number("ReplicatedWriteConflict"),
        number("consistent reads"),
        number("stale"),
    ];
    let mut t = Table::new(out, &columns);
    let bad = |n: u64| -> Html { if n > 0 { Html::bad(n.into()) } else { n.into() } };
    t.row([
        c.operations.into(),
        c.keys_checked.into(),
        c.linearizable.into(),
        bad(c.violation_count),
        bad(c.inconclusive.len() as u64),
        c.conflicts.into(),
        c.consistent_reads.into(),
        if c.consistency == "STRONG" {
            bad(c.stale_reads)
        } else {
            c.stale_reads.into()
        },
    ]);
    t.finish();
}

fn regions_table(out: &mut String, c: &ConsistencyReport) {
    let columns = [
        text("region"),
        number("writes acked"),
        number("write p50"),
        number("write p99"),
        number("conflicts"),
        number("refused"),
        number("unknown"),
        number("condition failed"),
        number("partitioned: tried"),
        number("acked"),
        number("refused"),
        number("unknown"),
    ];
    let mut t = Table::new(out, &columns);
    for r in &c.regions {
        t.row([
            (&r.region).into(),
            r.writes_acked.into(),
            fmt_ms(r.write_p50_ms).into(),
            fmt_ms(r.write_p99_ms).into(),
            r.conflicts.into(),
            r.refused.into(),
            r.unknown.into(),
            r.condition_failed.into(),
            r.partitioned.attempted.into(),
            r.partitioned.acked.into(),
            r.partitioned.refused.into(),
            r.partitioned.unknown.into(),
        ]);
    }
    t.finish();
}

/// The two runs of a comparison, a column each.
pub(super) fn comparison_section(out: &mut String, r: &Report) {
    if r.comparison.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"comparison\">\n<h2>EVENTUAL and STRONG side by side</h2>\n\
         <p class=\"explain\">The same scenario, seed, workload and faults, run once against each \
         kind of table. The rest of this page is the STRONG run's.</p>\n",
    );
    let sides: Vec<&ComparisonSide> = r.comparison.iter().collect();
    let mut rows: Vec<(String, Vec<Html>)> = Vec::new();
    let mut row = |label: String, f: &dyn Fn(&ComparisonSide) -> Html| {
        rows.push((label, sides.iter().map(|s| f(s)).collect()));
    };
    row("checker".into(), &|s| {
        if s.ok {
            "pass".into()
        } else {
            Html::bad("fail".into())
        }
    });
    row("writes acknowledged (requests)".into(), &|s| s.acked.into());
    region_rows(&sides, &mut row);
    row("ReplicatedWriteConflictException".into(), &|s| {
        s.consistency.conflicts.into()
    });
    row(
        "lost updates (acked writes that lost a conflict)".into(),
        &|s| s.lost_updates.into(),
    );
    row("keys linearizable / checked".into(), &|s| {
        if s.consistency.keys_checked == 0 {
            "not checked".into()
        } else {
            format!(
                "{} / {}",
                s.consistency.linearizable, s.consistency.keys_checked
            )
            .into()
        }
    });
    row("stale strongly consistent reads / reads".into(), &|s| {
        format!(
            "{} / {}",
            s.consistency.stale_reads, s.consistency.consistent_reads
        )
        .into()
    });
    row("RPO: acknowledged writes lost".into(), &|s| {
        s.rpo_writes_lost.into()
    });
    row("RTO".into(), &|s| {
        if s.rto_ms.is_empty() {
            return "–".into();
        }
        Html::lines(
            s.rto_ms
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.map_or("never".to_string(), fmt_dur)).into()),
        )
    });
    row(
        "converged after the workload".into(),
        &|s| match s.convergence_ms {
            Some(ms) => fmt_dur(ms).into(),
            None => Html::bad("no".into()),
        },
    );
    Table::side_by_side(out, ["EVENTUAL", "STRONG"], rows);
    out.push_str("</section>\n");
}

/// Adds a row of the side-by-side table: its label, and how each side's
/// cell reads.
type AddRow<'a> = dyn FnMut(String, &dyn Fn(&ComparisonSide) -> Html) + 'a;

/// The rows of each region of the first side: its write latency, and its
/// writes while it was partitioned.
fn region_rows(sides: &[&ComparisonSide], row: &mut AddRow<'_>) {
    let regions: Vec<String> = sides
        .first()
        .map(|s| {
            s.consistency
                .regions
                .iter()
                .map(|r| r.region.clone())
                .collect()
        })
        .unwrap_or_default();
    for name in &regions {
        let of = |s: &ComparisonSide| {
            s.consistency
                .regions
                .iter()
                .find(|r| &r.region == name)
                .cloned()
        };
        row(
            format!("write latency p50 / p99, {name}"),
            &|s| match of(s) {
                Some(r) => {
                    format!("{} / {}", fmt_ms(r.write_p50_ms), fmt_ms(r.write_p99_ms)).into()
                }
                None => "–".into(),
            },
        );
        row(
            format!("writes while partitioned, {name}: acked / refused / unknown of tried"),
            &|s| match of(s) {
                Some(r) => format!(
                    "{} / {} / {} of {}",
                    r.partitioned.acked,
                    r.partitioned.refused,
                    r.partitioned.unknown,
                    r.partitioned.attempted
                )
                .into(),
                None => "–".into(),
            },
        );
    }
}
