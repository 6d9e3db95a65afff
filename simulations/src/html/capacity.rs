//! The provisioned table's section (`[table.capacity]`): each region's
//! replica, its units as auto scaling moved them, what it consumed, and
//! the drill's requests it throttled (docs/drills.md, *Capacity*).

use super::markup::{Html, Table, number, text};
use super::text::fmt_secs;
use crate::report::Report;

pub(super) fn capacity_section(out: &mut String, r: &Report) {
    if r.capacity.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"capacity\">\n<h2>Capacity</h2>\n\
         <p class=\"explain\">Each region's replica of the provisioned table: its units at the \
         first sample and at each change (auto scaling's), the units charged to it (its \
         clients' requests and the replicated writes it applied, which draw on the same write \
         units), the most write units it consumed a second, and the drill's requests it refused \
         for spent units. A replica short of write units holds its peers' writes back too: see \
         the links' <em>throttled</em> time.</p>\n",
    );
    let columns = [
        text("region"),
        text("units (read / write)"),
        number("read units consumed"),
        number("write units consumed"),
        number("peak write units/s"),
        number("throttled requests"),
    ];
    let mut t = Table::new(out, &columns);
    for c in &r.capacity {
        let units =
            Html::lines(c.units.iter().map(|u| {
                format!("{}: {} / {}", fmt_secs(u.t_ms), u.read_units, u.write_units).into()
            }));
        let throttled: Html = match c.throttled_requests {
            0 => 0u64.into(),
            n => Html::bad(n.into()),
        };
        t.row([
            (&c.region).into(),
            units,
            format!("{:.1}", c.consumed_read).into(),
            format!("{:.1}", c.consumed_write).into(),
            format!("{:.1}", c.peak_write_per_s).into(),
            throttled,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}
