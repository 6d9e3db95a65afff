//! The report's tables, one section each: what happened (the fault
//! timeline, heals, disasters, restores, replicas added), what was measured
//! (latency per link, conflicts, drift refusals, purges, the workload) and
//! what was checked (streams, indexes, digests). Each is a heading, an
//! explanation, and a [`Table`] of escaped cells.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::markup::{Html, Table, number, number_cells, text};
use super::plot::event_class;
use super::text::{fmt_dur, fmt_ms, fmt_secs, link_name};
use crate::report::{EventMark, Report};

pub(super) fn events_table(out: &mut String, events: &[EventMark]) {
    out.push_str("<section id=\"events\">\n<h2>Fault timeline</h2>\n");
    if events.is_empty() {
        out.push_str("<p class=\"muted\">No fault events: a steady-state run.</p>\n</section>\n");
        return;
    }
    let columns = [text("#"), number_cells("at"), text("action"), text("event")];
    let mut t = Table::new(out, &columns);
    for (i, e) in events.iter().enumerate() {
        t.row([
            Html::span(&format!("num {}", event_class(&e.action)), (i + 1).into()),
            fmt_secs(e.at_ms).into(),
            (&e.action).into(),
            (&e.label).into(),
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn links_table(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"links\">\n<h2>Replication latency per link</h2>\n\
         <p class=\"explain\">Over the whole drill, from the receiving region's latency \
         buckets (each figure is a bucket's upper bound, at most about 9% above the true value). \
         Reordered: writes the receiver applied while an earlier write of the sender was still \
         held in its partition's lane; torn: requests (transactions, batches) it applied in part. \
         DynamoDB allows both; log order never shows them. Coalesced: versions of an item the \
         sender left out, a later version of the item in the same batch standing for them \
         (as DynamoDB may combine quick changes of an item). Replicated units: write units the \
         sender's writes drew on the receiver's provisioned tables; throttled: how long the \
         receiver waited for them, its backlog growing.</p>\n",
    );
    if r.links.is_empty() {
        out.push_str("<p class=\"muted\">No links.</p>\n</section>\n");
        return;
    }
    let columns = [
        text("link"),
        number("applied"),
        number("p50"),
        number("p99"),
        number("max"),
        number("max pending"),
        number("reordered"),
        number("torn"),
        number("coalesced"),
        number("replicated units"),
        number("throttled ms"),
    ];
    let mut t = Table::new(out, &columns);
    for l in &r.links {
        t.row([
            link_name(&l.from, &l.to).into(),
            l.latency.count.into(),
            fmt_ms(l.latency.p50_ms).into(),
            fmt_ms(l.latency.p99_ms).into(),
            fmt_ms(l.latency.max_ms).into(),
            l.max_pending.into(),
            l.reordered.into(),
            l.torn_units.into(),
            l.coalesced.into(),
            l.replicated_write_units.into(),
            l.throttled_ms.into(),
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn heals_table(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"heals\">\n<h2>Backlog drain after each heal</h2>\n\
         <p class=\"explain\">Backlog: pending on the restored links at the heal. Drain time: \
         from the heal until every one of those links first showed zero pending in the same \
         sample. While the workload keeps writing, pending seldom reads exactly zero, so compare \
         with the pending plot.</p>\n",
    );
    if r.heals.is_empty() {
        out.push_str("<p class=\"muted\">No heals or restarts in this drill.</p>\n</section>\n");
        return;
    }
    let columns = [
        number_cells("at"),
        text("event"),
        text("links"),
        number("backlog"),
        number("drain time"),
    ];
    let mut t = Table::new(out, &columns);
    for h in &r.heals {
        let links = if h.links.is_empty() {
            "–".into()
        } else {
            Html::lines(h.links.iter().map(Html::from))
        };
        let drain = match h.drain_ms {
            Some(ms) => fmt_dur(ms).into(),
            None => Html::bad("not drained before the end".into()),
        };
        t.row([
            fmt_secs(h.at_ms).into(),
            (&h.label).into(),
            links,
            h.backlog.into(),
            drain,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn disasters_table(out: &mut String, r: &Report) {
    if r.disasters.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"disasters\">\n<h2>Data loss: RPO and RTO</h2>\n\
         <p class=\"explain\">At risk: writes the region had acknowledged that no peer held when \
         it lost its data. RPO: the acknowledged writes lost for good, held by no region at the end; \
         every other write must survive, or the checker fails. RTO: from the loss until the \
         region, up again, served reads that include every write that survived it. A region that \
         restarts empty first copies a peer's store (seeded from).</p>\n",
    );
    let columns = [
        number_cells("at"),
        text("event"),
        number("at risk"),
        number("RPO (lost)"),
        number("RTO"),
        text("seeded from"),
        text("lost writes"),
    ];
    let mut t = Table::new(out, &columns);
    for d in &r.disasters {
        let rto = match d.rto_ms {
            Some(ms) => fmt_dur(ms).into(),
            None => Html::bad("never".into()),
        };
        let lost = if d.lost.is_empty() {
            "–".into()
        } else {
            Html::lines(
                d.lost
                    .iter()
                    .take(20)
                    .map(|w| format!("{} at {}", w.key, w.version).into()),
            )
        };
        let seeded = match &d.seeded {
            Some(s) => format!(
                "{} ({} items, {:.1} MiB, {})",
                s.peer,
                s.items,
                s.bytes as f64 / 1048576.0,
                fmt_dur(s.ms)
            )
            .into(),
            None => "–".into(),
        };
        t.row([
            fmt_secs(d.at_ms).into(),
            (&d.label).into(),
            d.at_risk.into(),
            d.lost.len().into(),
            rto,
            seeded,
            lost,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

/// What a failed step says in its cell.
fn failed(e: &str) -> Html {
    Html::bad(format!("failed: {e}").into())
}

pub(super) fn restores_table(out: &mut String, r: &Report) {
    if r.restores.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"restores\">\n<h2>Restores to a point in time</h2>\n\
         <p class=\"explain\">A mark paused the workload until every region agreed, and kept the \
         table as its region held it then, checked against every write acknowledged before it. \
         The restore rebuilt the table as of that instant from the region's point-in-time \
         history, into a new table, after the writes that followed; every region's copy of it \
         is compared with the kept table, key by key.</p>\n",
    );
    let columns = [
        text("region"),
        text("mark"),
        number("restored at"),
        text("new table"),
        number("items at the mark"),
        number("loaded"),
        number("took"),
        number("keys compared"),
        text("differences"),
    ];
    let mut t = Table::new(out, &columns);
    for x in &r.restores {
        let took = match (x.restore_ms, &x.error) {
            (_, Some(e)) => failed(e),
            (Some(ms), None) => fmt_dur(ms).into(),
            (None, None) => "–".into(),
        };
        let diffs = if x.mismatches.is_empty() {
            "none".into()
        } else {
            Html::bad_count_then(
                x.mismatches.len(),
                x.mismatches.iter().take(10).map(Html::from),
            )
        };
        t.row([
            (&x.region).into(),
            format!("{} ({})", x.mark, fmt_secs(x.mark_ms)).into(),
            fmt_secs(x.at_ms).into(),
            (&x.table).into(),
            x.items_expected.into(),
            x.items_restored.into(),
            took,
            x.keys_checked.into(),
            diffs,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn joins_table(out: &mut String, r: &Report) {
    if r.joins.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"joins\">\n<h2>Replicas added</h2>\n\
         <p class=\"explain\">A region that held no replica of the table was added while the \
         workload went on. It was CREATING while it copied, by anti-entropy rounds, what every \
         other replica held, then ACTIVE; the checker then holds it to every acknowledged write \
         like the others.</p>\n",
    );
    let columns = [
        text("region"),
        text("asked of"),
        number("asked at"),
        number("ACTIVE at"),
        number("items filled"),
        number("bytes"),
        number("fill time"),
        number("rate"),
        text("from"),
    ];
    let mut t = Table::new(out, &columns);
    for j in &r.joins {
        let active = match (j.active_ms, &j.error) {
            (_, Some(e)) => failed(e),
            (Some(ms), None) => fmt_secs(ms).into(),
            (None, None) => Html::bad("never".into()),
        };
        t.row([
            (&j.region).into(),
            (&j.asked).into(),
            fmt_secs(j.at_ms).into(),
            active,
            j.items.into(),
            j.bytes.into(),
            fmt_dur(j.fill_ms).into(),
            format!("{:.0} items/s", j.rate()).into(),
            j.peers.join(", ").into(),
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

/// A check's differences: none, or how many and each.
fn differences(mismatches: &[String]) -> Html {
    if mismatches.is_empty() {
        "none".into()
    } else {
        Html::bad_count_then(mismatches.len(), mismatches.iter().map(Html::from))
    }
}

pub(super) fn streams_table(out: &mut String, r: &Report) {
    if r.streams.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"streams\">\n<h2>Change streams replayed</h2>\n\
         <p class=\"explain\">Each region's change stream of the table, read from its start and \
         replayed (the new image of each INSERT and MODIFY, a delete for each REMOVE), compared \
         with the region's final items key by key; and its REMOVE records counted against the live \
         items the region turned into tombstones (deletes local and replicated, TTL expiries), \
         which its store counts apart from the stream.</p>\n",
    );
    let columns = [
        text("region"),
        number("records"),
        number("REMOVE"),
        number("tombstones applied"),
        number("items"),
        number("keys compared"),
        text("differences"),
    ];
    let mut t = Table::new(out, &columns);
    for c in &r.streams {
        let tombstones = if c.error.is_none() && c.removes != c.tombstones_applied {
            Html::bad(c.tombstones_applied.into())
        } else {
            c.tombstones_applied.into()
        };
        let diffs = match &c.error {
            Some(e) => Html::bad(format!("unreadable: {e}").into()),
            None => differences(&c.mismatches),
        };
        t.row([
            (&c.region).into(),
            c.records.into(),
            c.removes.into(),
            tombstones,
            c.items.into(),
            c.keys_checked.into(),
            diffs,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn indexes_table(out: &mut String, r: &Report) {
    if r.indexes.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"indexes\">\n<h2>Secondary indexes checked</h2>\n\
         <p class=\"explain\">Each region's index entries as stored, compared with the entries its \
         final items give (an item is in an index when it has every key attribute of it), and \
         with the first region's entries.</p>\n",
    );
    let columns = [
        text("region"),
        text("index"),
        number("entries"),
        number("items"),
        text("differences"),
        text("same as first region"),
    ];
    let mut t = Table::new(out, &columns);
    for c in &r.indexes {
        let diffs = match &c.error {
            Some(e) => Html::bad(e.into()),
            None => differences(&c.mismatches),
        };
        let agrees = if c.agrees {
            "yes".into()
        } else {
            Html::bad("no".into())
        };
        t.row([
            (&c.region).into(),
            (&c.index).into(),
            c.entries.into(),
            c.items.into(),
            diffs,
            agrees,
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn convergence(out: &mut String, r: &Report) {
    let c = &r.convergence;
    out.push_str("<section id=\"convergence\">\n<h2>Convergence</h2>\n");
    match c.after_workload_ms {
        Some(ms) => {
            w!(
                out,
                "<p class=\"big\">{} <span class=\"muted\">from the end of the workload until every \
                 link showed zero pending and every digest was equal</span></p>\n",
                fmt_dur(ms)
            );
        }
        None => {
            out.push_str("<p class=\"big bad\">Did not converge within the settle deadline.</p>\n")
        }
    }
    if !c.digests.is_empty() {
        let distinct: BTreeSet<&String> = c.digests.values().collect();
        let note = if distinct.len() == 1 {
            "<span class=\"good\">all equal</span>"
        } else {
            "<span class=\"bad\">differ</span>"
        };
        w!(out, "<p>Digests at the end: {note}</p>\n");
        let columns = [text("region"), text("digest")];
        let mut t = Table::new(out, &columns);
        for (region, d) in &c.digests {
            t.row([region.into(), Html::code(d)]);
        }
        t.finish();
    }
    out.push_str("</section>\n");
}

pub(super) fn conflicts_tables(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"conflicts\">\n<h2>Conflicts and lost updates per region pair</h2>\n\
         <p class=\"explain\">By origin of the winning and of the losing write. Conflicts: distinct \
         (winner, loser) version pairs, however many regions recorded each. Lost updates: distinct \
         acknowledged writes that lost a conflict.</p>\n",
    );
    if r.conflict_pairs.is_empty() {
        out.push_str("<p class=\"muted\">No conflicts recorded.</p>\n</section>\n");
        return;
    }
    let columns = [
        text("winner origin"),
        text("loser origin"),
        number("conflicts"),
        number("lost updates"),
    ];
    let mut t = Table::new(out, &columns);
    // Each distinct version pair falls in exactly one (winner origin, loser
    // origin) group, so conflicts add up. Lost updates do not: one write can
    // lose to writes from two regions and count in both groups, so the total
    // is the checker's count of distinct losers.
    let mut total = 0u64;
    for p in &r.conflict_pairs {
        total = total.saturating_add(p.conflicts);
        t.row([
            (&p.winner).into(),
            (&p.loser).into(),
            p.conflicts.into(),
            p.lost_updates.into(),
        ]);
    }
    t.finish_with_total(
        "total (lost updates: distinct writes)",
        2,
        &[total.into(), r.verdict.lost_updates.into()],
    );
    w!(
        out,
        "<p class=\"explain\">A write recorded as a loser at one region may still have been seen and \
         replaced at another, so recorded lost updates are an upper bound; the checker expected {} \
         from the acknowledged writes alone. The origin region's own records are exact.</p>\n</section>\n",
        r.verdict.expected_lost_updates
    );
}

pub(super) fn drift_table(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"drift\">\n<h2>Drift-guard refusals</h2>\n\
         <p class=\"explain\">How many times each region refused its peers' entries as too far \
         ahead of its own clock, summed over peers since the region started. A refused entry is \
         retried until real time catches up, so one entry can count more than once; it is never \
         dropped.</p>\n",
    );
    let mut rows: BTreeMap<&str, u64> = r.regions.iter().map(|x| (x.as_str(), 0)).collect();
    for (k, v) in &r.drift_refusals {
        rows.insert(k, *v);
    }
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">No regions.</p>\n</section>\n");
        return;
    }
    let columns = [text("refused by"), number("refusals")];
    let mut t = Table::new(out, &columns);
    for (region, n) in rows {
        t.row([region.into(), n.into()]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn purge_table(out: &mut String, r: &Report) {
    if r.purges
        .values()
        .all(|p| p.tombstones_purged + p.superseded == 0)
    {
        return;
    }
    out.push_str(
        "<section id=\"purges\">\n<h2>Tombstones purged</h2>\n\
         <p class=\"explain\">Tombstones each region purged once every region held them, and the \
         writes it dropped because a purged tombstone had deleted them (a restored copy offering \
         deleted items back), since the region last started.</p>\n",
    );
    let columns = [
        text("region"),
        number("purged"),
        number("deleted items kept out"),
    ];
    let mut t = Table::new(out, &columns);
    for (region, p) in &r.purges {
        t.row([
            region.into(),
            p.tombstones_purged.into(),
            p.superseded.into(),
        ]);
    }
    t.finish();
    out.push_str("</section>\n");
}

pub(super) fn workload_table(out: &mut String, r: &Report) {
    let wl = &r.workload;
    if wl.external {
        w!(
            out,
            "<section id=\"workload\">\n<h2>Workload: your application's</h2>\n<dl class=\"meta\">\n\
             <div><dt>writes the regions committed</dt><dd>{}</dd></div>\n\
             <div><dt>log entries unread</dt><dd>{}</dd></div>\n</dl>\n\
             <p class=\"explain\">The drill made no request: these are the writes the regions' \
             logs recorded for the table during the drill, judged as acknowledged (a region \
             answers a write only once it has committed it).</p>\n<div class=\"pair\">\n",
            wl.acked,
            wl.unread
        );
    } else {
        workload_requests(out, wl);
    }
    for (title, map) in [
        ("acknowledged by operation", &wl.by_op),
        ("acknowledged by region", &wl.by_region),
    ] {
        let columns = [text(title), number("count")];
        let mut t = Table::new(out, &columns);
        if map.is_empty() {
            t.muted_row("none");
        }
        for (k, v) in map {
            t.row([k.into(), (*v).into()]);
        }
        t.finish();
    }
    out.push_str("</div>\n</section>\n");
}

/// The requests of the drill's own workload, and what failing means.
fn workload_requests(out: &mut String, wl: &crate::report::WorkloadReport) {
    w!(
        out,
        "<section id=\"workload\">\n<h2>Workload</h2>\n<dl class=\"meta\">\n\
         <div><dt>attempted</dt><dd>{}</dd></div>\n<div><dt>acknowledged</dt><dd>{}</dd></div>\n\
         <div><dt>failed</dt><dd>{}</dd></div>\n</dl>\n",
        wl.attempted,
        wl.acked,
        wl.failed
    );
    out.push_str(
        "<p class=\"explain\">Failed requests (region down, timeout, throttled) are not in the oracle: \
         the checker only holds the system to what clients saw acknowledged.</p>\n<div class=\"pair\">\n",
    );
}
