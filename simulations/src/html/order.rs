//! Partition order's section: what other regions saw of the orders the
//! drill placed (`workload.orders`), and the side-by-side comparison of a
//! log-order and a partition-order run (`[replication] order = "both"`).

use super::markup::{Html, Table, number, text};
use super::text::{fmt_dur, fmt_ms};
use crate::report::{OrderSide, Report};

/// Per link: orders seen elsewhere, a line before its header, in part.
pub(super) fn orders_section(out: &mut String, r: &Report) {
    let Some(o) = &r.orders else {
        return;
    };
    out.push_str(&format!(
        "<section id=\"orders\">\n<h2>An application's invariant: every order line has its header</h2>\n\
         <p class=\"explain\">{} orders placed: a header, then, once it was acknowledged, its lines in \
         one request. A reader in every other region looked for each order's first line and, once \
         it showed, read the header and the other lines there. Broken: the line showed before its \
         header. Torn: some lines showed and not others. DynamoDB global tables allow both \
         (items replicate individually, partitions in parallel); log order never shows them on a \
         healthy link.</p>\n",
        o.placed
    ));
    let columns = [
        text("link"),
        number("seen"),
        number("not seen in 3 s"),
        number("broken"),
        number("torn"),
    ];
    let mut t = Table::new(out, &columns);
    for l in &o.links {
        t.row([
            format!("{} → {}", l.from, l.to).into(),
            l.checked.into(),
            l.unseen.into(),
            l.broken.into(),
            l.torn.into(),
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

/// The log-order and partition-order runs, a column each.
pub(super) fn order_comparison_section(out: &mut String, r: &Report) {
    if r.order_comparison.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"order-comparison\">\n<h2>Log order and partition order side by side</h2>\n\
         <p class=\"explain\">The same scenario, seed, workload and faults, run once with regions \
         applying each other's writes whole and in commit order (log) and once as DynamoDB does, \
         each partition on its own (partition). The rest of this page is the partition-order run's.</p>\n",
    );
    let sides: Vec<&OrderSide> = r.order_comparison.iter().collect();
    let mut rows: Vec<(String, Vec<Html>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&OrderSide) -> Html| {
        rows.push((label.to_string(), sides.iter().map(|s| f(s)).collect()));
    };
    row("checker", &|s| {
        if s.ok {
            "pass".into()
        } else {
            Html::bad("fail".into())
        }
    });
    row("writes acknowledged (requests)", &|s| s.acked.into());
    row("replication latency p50 / p99 (worst link)", &|s| {
        format!(
            "{} / {}",
            fmt_ms(s.latency.p50_ms),
            fmt_ms(s.latency.p99_ms)
        )
        .into()
    });
    row("writes applied out of order (all links)", &|s| {
        s.reordered.into()
    });
    row("requests applied in part (all links)", &|s| {
        s.torn_units.into()
    });
    row("orders seen elsewhere", &|s| s.orders_checked.into());
    row("orders with a line before its header", &|s| {
        s.orders_broken.into()
    });
    row("orders seen in part", &|s| s.orders_torn.into());
    row("lost updates", &|s| s.lost_updates.into());
    row(
        "converged after the workload",
        &|s| match s.convergence_ms {
            Some(ms) => fmt_dur(ms).into(),
            None => Html::bad("no".into()),
        },
    );
    Table::side_by_side(out, ["log order", "partition order"], rows);
    out.push_str("</section>\n");
}
