//! The application's verdict beside Meridian's: how the experiment ended
//! (completed, or stopped by a stop condition's alarm), every objective
//! met or not, and every alarm's states (docs/drills.md, *Judge the drill
//! by your application*).

use super::markup::{Html, Table, esc, number, number_cells, text};
use super::text::fmt_secs;
use crate::report::Report;

/// The application's section, left out when the drill had nothing of the
/// application's to judge it by.
pub(super) fn judged_section(out: &mut String, r: &Report) {
    if r.experiment.is_none()
        && r.criteria.is_empty()
        && r.alarms.is_empty()
        && r.invariants.is_empty()
    {
        return;
    }
    out.push_str("<section id=\"application\">\n<h2>Judged by the application</h2>\n");
    experiment(out, r);
    criteria(out, r);
    alarms(out, r);
    invariants(out, r);
    out.push_str("</section>\n");
}

/// How the experiment ended, and when if a stop condition stopped it.
fn experiment(out: &mut String, r: &Report) {
    if let Some(e) = &r.experiment {
        let when = e
            .stopped_at_ms
            .map(|t| format!(" at {}", fmt_secs(t)))
            .unwrap_or_default();
        out.push_str(&format!(
            "<p class=\"explain\">Experiment <strong>{}</strong>{}: {}.</p>\n",
            esc(&e.state),
            esc(&when),
            esc(&e.reason)
        ));
    }
}

/// Every objective, with what was measured and whether it was met.
fn criteria(out: &mut String, r: &Report) {
    if r.criteria.is_empty() {
        return;
    }
    let columns = [
        text("objective"),
        text("target"),
        text("measured"),
        number_cells("at"),
        text("met"),
    ];
    let mut t = Table::new(out, &columns);
    for c in &r.criteria {
        t.row([
            (&c.criterion).into(),
            (&c.target).into(),
            (&c.value).into(),
            c.at_ms.map_or("–".into(), |ms| fmt_secs(ms).into()),
            match c.met {
                true => "yes".into(),
                false => Html::bad("no".into()),
            },
        ]);
    }
    t.finish();
}

/// Every alarm, its state at the end (marked when in ALARM) and each change
/// of state, so a reader sees when it fired and recovered.
fn alarms(out: &mut String, r: &Report) {
    if r.alarms.is_empty() {
        return;
    }
    let columns = [
        text("alarm"),
        text("metric"),
        text("condition"),
        number("periods"),
        text("state at the end"),
        text("changes"),
    ];
    let mut t = Table::new(out, &columns);
    for a in &r.alarms {
        let state: Html = match a.state.as_str() {
            "ALARM" => Html::bad((&a.state).into()),
            _ => (&a.state).into(),
        };
        let changes = match a.transitions.is_empty() {
            true => "–".into(),
            false => Html::lines(a.transitions.iter().map(|x| {
                format!(
                    "{} {} → {}",
                    fmt_secs(x.at_ms),
                    x.from.as_str(),
                    x.to.as_str()
                )
                .into()
            })),
        };
        t.row([
            (&a.name).into(),
            (&a.metric).into(),
            a.condition().into(),
            a.periods.len().into(),
            state,
            changes,
        ]);
    }
    t.finish();
}

/// Every invariant, and its violations with their rows and the faults in
/// effect when each was seen.
fn invariants(out: &mut String, r: &Report) {
    if r.invariants.is_empty() {
        return;
    }
    let columns = [
        text("invariant"),
        text("query"),
        number("checks"),
        number("requests"),
        text("holds"),
        text("violations"),
    ];
    let mut t = Table::new(out, &columns);
    for i in &r.invariants {
        let violations = match i.violations.is_empty() {
            true => "–".into(),
            false => Html::lines(i.violations.iter().take(10).map(|v| {
                let faults = match v.faults.is_empty() {
                    true => "no fault".to_string(),
                    false => v.faults.join("; "),
                };
                format!(
                    "{} {} ({}, {faults}): {}; {}",
                    fmt_secs(v.at_ms),
                    v.region,
                    v.phase,
                    v.detail,
                    v.rows.first().map_or("", |r| r.as_str())
                )
                .into()
            })),
        };
        t.row([
            (&i.name).into(),
            (&i.query).into(),
            i.checks.into(),
            i.requests.into(),
            match i.holds {
                true => "yes".into(),
                false => Html::bad("no".into()),
            },
            violations,
        ]);
    }
    t.finish();
}
