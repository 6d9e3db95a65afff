//! The failover endpoint's section: where it forwarded during a drill
//! against a cluster that serves one, each move it made, and what the
//! client lost at each (docs/failover.md).

use super::markup::{Html, Table, esc, number, number_cells, text};
use super::text::{fmt_dur, fmt_secs};
use crate::report::Report;

pub(super) fn failover_section(out: &mut String, r: &Report) {
    let Some(f) = &r.failover else {
        return;
    };
    out.push_str(&format!(
        "<section id=\"failover\">\n<h2>Failover endpoint</h2>\n\
         <p class=\"explain\">The endpoint at {} forwarded to {} when the drill began and to {} at \
         its end (home {}): {} requests forwarded, {} failed. A region that stops answering keeps \
         its clients at most {} (failure threshold × interval + TTL). Missing: writes the old \
         region had acknowledged that the new one lacked when the endpoint moved, the recovery \
         point as the client saw it; each came back, was overwritten by a later write \
         (superseded), or is still missing at the end.</p>\n",
        esc(&f.listen),
        esc(&f.active_at_start),
        esc(&f.active_at_end),
        esc(&f.home),
        f.forwarded,
        f.failed,
        fmt_dur(f.bound_ms)
    ));
    let columns = [
        number_cells("at"),
        text("move"),
        text("why"),
        number("after first failed check"),
        number("failed requests"),
        number("missing"),
        number("came back"),
        number("superseded"),
        number("still missing"),
        text("missing writes"),
    ];
    let mut t = Table::new(out, &columns);
    if f.moves.is_empty() {
        t.muted_row("it did not move");
    }
    for m in &f.moves {
        let still: Html = match m.still_missing {
            0 => 0u64.into(),
            n => Html::bad(n.into()),
        };
        let writes =
            match m.writes.is_empty() {
                true => "–".into(),
                false => Html::lines(m.writes.iter().take(20).map(|w| {
                    format!("{} {} at {}: {}", w.table, w.key, w.version, w.state).into()
                })),
            };
        t.row([
            fmt_secs(m.at_ms).into(),
            format!("{} → {}", m.from, m.to).into(),
            (&m.why).into(),
            match m.after_first_failed_ms {
                Some(ms) => fmt_dur(ms).into(),
                None => "–".into(),
            },
            m.failed_requests.into(),
            m.missing.into(),
            m.came_back.into(),
            m.superseded.into(),
            still,
            writes,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}
