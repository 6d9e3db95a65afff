//! `report.html`: one self-contained page for a [`Report`].
//!
//! No external CSS, script or font, so the file can be mailed, attached to a
//! ticket or opened from an archive years later and still render. Plots are
//! inline SVG drawn here. Every string from the report is escaped, because
//! scenario names, region names, keys and item images are user input.
//!
//! The renderer never trusts numbers either: a missing sample is a gap in a
//! line, a non-finite value is treated as missing, and every coordinate
//! written is finite, so an empty or odd report still yields a valid page.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::report::{EventMark, Report};

/// `write!` into a `String` cannot fail; this keeps the call sites short.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Series colours. Reds, greens and oranges are left out: event markers use them.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#393b79", "#bcbd22", "#7f7f7f",
    "#008080", "#a55194",
];

// Plot geometry, in SVG user units (the SVG scales to the page width).
const W: f64 = 960.0;
const H: f64 = 320.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
/// Room above the plot area for two rows of numbered event badges.
const TOP: f64 = 44.0;
const BOTTOM: f64 = 44.0;

/// Renders the whole report as one HTML page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let name = if report.scenario.is_empty() {
        "(unnamed scenario)"
    } else {
        &report.scenario
    };
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Meridian drill: {}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n",
        esc(name),
        CSS
    );
    header(&mut out, report, name);
    verdict(&mut out, report);
    plots(&mut out, report);
    events_table(&mut out, &report.events);
    links_table(&mut out, report);
    heals_table(&mut out, report);
    disasters_table(&mut out, report);
    restores_table(&mut out, report);
    joins_table(&mut out, report);
    streams_table(&mut out, report);
    indexes_table(&mut out, report);
    convergence(&mut out, report);
    conflicts_tables(&mut out, report);
    drift_table(&mut out, report);
    purge_table(&mut out, report);
    workload_table(&mut out, report);
    examples(&mut out, report);
    out.push_str(
        "<footer>Metric definitions and how to read this page: <code>docs/drills.md</code>. \
         Raw data: <code>report.json</code> next to this file.</footer>\n",
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

// ------------------------------------------------------------------ header

fn header(out: &mut String, r: &Report, name: &str) {
    w!(out, "<header>\n<h1>{}</h1>\n", esc(name));
    if !r.description.is_empty() {
        w!(out, "<p class=\"desc\">{}</p>\n", esc(&r.description));
    }
    let mode = match r.mode.as_str() {
        "sim" => "simulated (virtual time)",
        "live" => "live (real time)",
        "" => "unknown",
        other => other,
    };
    out.push_str("<dl class=\"meta\">\n");
    let mut item = |k: &str, v: String| w!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>\n");
    item("mode", esc(mode));
    item("seed", r.seed.to_string());
    item(
        "regions",
        if r.regions.is_empty() {
            "none".into()
        } else {
            r.regions
                .iter()
                .map(|x| esc(x))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    item("workload", fmt_dur(r.duration_ms));
    item("sample interval", fmt_dur(r.sample_interval_ms));
    item("fault events", r.events.len().to_string());
    out.push_str("</dl>\n</header>\n");
}

fn verdict(out: &mut String, r: &Report) {
    let v = &r.verdict;
    let (class, word) = if v.ok {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    w!(
        out,
        "<section class=\"verdict {class}\" id=\"verdict\">\n<div class=\"word\">{word}</div>\n<div>\n<h2>Checker verdict</h2>\n<ul class=\"checks\">\n"
    );
    let checks = [
        (
            v.converged,
            "Converged",
            "every region's digest was equal after quiescence",
        ),
        (
            v.acked_writes_accounted,
            "Acknowledged writes accounted for",
            "each is present, or was superseded by LWW with the conflict recorded",
        ),
        (
            v.oracle_match,
            "Versions match the oracle",
            "every region holds the versions the acknowledged writes imply",
        ),
    ];
    for (ok, what, why) in checks {
        let (c, mark) = if ok { ("ok", "✓") } else { ("bad", "✗") };
        w!(
            out,
            "<li class=\"{c}\"><span class=\"mark\">{mark}</span> <b>{what}</b>: {why}</li>\n"
        );
    }
    w!(
        out,
        "</ul>\n<p class=\"counts\">{} keys checked · {} conflict records checked · \
         {} lost updates recorded · {} expected from the acknowledged writes</p>\n",
        v.keys_checked,
        v.conflicts_checked,
        v.lost_updates,
        v.expected_lost_updates
    );
    if v.problems.is_empty() {
        out.push_str("<p class=\"muted\">No problems reported.</p>\n");
    } else {
        w!(
            out,
            "<h3>Problems ({})</h3>\n<ol class=\"problems\">\n",
            v.problems.len()
        );
        for p in &v.problems {
            w!(out, "<li><code>{}</code></li>\n", esc(p));
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</div>\n</section>\n");
}

// ------------------------------------------------------------------- plots

fn plots(out: &mut String, r: &Report) {
    let x_max = x_extent(r);
    out.push_str("<section id=\"plots\">\n");

    // (a) Replication latency: p99 solid, p50 dashed, one colour per link.
    let mut lat = Vec::new();
    let mut legend = Vec::new();
    for (i, l) in r.links.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let name = link_name(&l.from, &l.to);
        let p99 = l.samples.iter().map(|s| (s.t_ms, s.p99_ms)).collect();
        let p50 = l.samples.iter().map(|s| (s.t_ms, s.p50_ms)).collect();
        lat.push(Series {
            label: format!("{name} p99"),
            color,
            dashed: false,
            points: p99,
        });
        lat.push(Series {
            label: format!("{name} p50"),
            color,
            dashed: true,
            points: p50,
        });
        legend.push((name, color, false));
    }
    let lat_scale = Scale::fit(values(&lat), true, false);
    plot_section(
        out,
        "Replication latency per link",
        "Time from commit at the origin to apply at the receiver, both in real \
         (unskewed) time, over the mutations applied in each sample interval. \
         Solid: p99. Dashed: p50. A gap: nothing was applied in that interval.",
        &Plot {
            title: "Replication latency",
            y_label: "latency (ms)",
            scale: lat_scale,
            x_max,
            series: &lat,
            events: &r.events,
        },
        &legend,
        true,
    );

    // (b) Pending mutations per link.
    let mut pend = Vec::new();
    let mut legend = Vec::new();
    for (i, l) in r.links.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let name = link_name(&l.from, &l.to);
        pend.push(Series {
            label: name.clone(),
            color,
            dashed: false,
            points: l
                .samples
                .iter()
                .map(|s| (s.t_ms, s.pending.map(|p| p as f64)))
                .collect(),
        });
        legend.push((name, color, false));
    }
    let pend_scale = Scale::fit(values(&pend), false, true);
    plot_section(
        out,
        "Pending mutations per link",
        "Mutations in the origin's log that the receiver has not durably applied. \
         A gap: the origin could not be asked (it was down).",
        &Plot {
            title: "Pending mutations",
            y_label: "pending (mutations)",
            scale: pend_scale,
            x_max,
            series: &pend,
            events: &r.events,
        },
        &legend,
        false,
    );

    // (c) Conflicts over time, cumulative, per detecting region.
    let mut regions: Vec<String> = r.regions.clone();
    let known: BTreeSet<&String> = r.regions.iter().collect();
    let extra: BTreeSet<&String> = r
        .conflict_series
        .iter()
        .flat_map(|s| s.by_region.keys())
        .filter(|k| !known.contains(k))
        .collect();
    regions.extend(extra.into_iter().cloned());
    let mut conf = Vec::new();
    let mut legend = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        conf.push(Series {
            label: format!("detected by {region}"),
            color,
            dashed: false,
            points: r
                .conflict_series
                .iter()
                .map(|s| (s.t_ms, s.by_region.get(region).map(|c| *c as f64)))
                .collect(),
        });
        legend.push((region.clone(), color, false));
    }
    let conf_scale = Scale::fit(values(&conf), false, true);
    plot_section(
        out,
        "Conflicts over time",
        "Conflicts recorded so far, cumulative, per detecting region. The same \
         conflict is usually recorded by several regions, so these lines are not \
         additive; the conflict-pair table counts distinct pairs.",
        &Plot {
            title: "Conflicts (cumulative)",
            y_label: "conflicts recorded",
            scale: conf_scale,
            x_max,
            series: &conf,
            events: &r.events,
        },
        &legend,
        false,
    );
    out.push_str("</section>\n");
}

/// The time axis covers the workload, every sample and every event, so no
/// marker or point falls off the right edge.
fn x_extent(r: &Report) -> f64 {
    let mut t = r.duration_ms;
    for l in &r.links {
        for s in &l.samples {
            t = t.max(s.t_ms);
        }
    }
    for s in &r.conflict_series {
        t = t.max(s.t_ms);
    }
    for e in &r.events {
        t = t.max(e.at_ms);
    }
    (t as f64).max(1000.0)
}

struct Series<'a> {
    label: String,
    color: &'a str,
    dashed: bool,
    points: Vec<(u64, Option<f64>)>,
}

struct Plot<'a> {
    title: &'a str,
    y_label: &'a str,
    scale: Scale,
    /// Right edge of the time axis, ms.
    x_max: f64,
    series: &'a [Series<'a>],
    events: &'a [EventMark],
}

fn values<'a>(series: &'a [Series<'a>]) -> impl Iterator<Item = f64> + 'a {
    series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.1))
        .filter(|v| v.is_finite())
}

fn plot_section(
    out: &mut String,
    heading: &str,
    explain: &str,
    plot: &Plot,
    legend: &[(String, &str, bool)],
    latency_key: bool,
) {
    w!(
        out,
        "<div class=\"plot\">\n<h2>{}</h2>\n<p class=\"explain\">{}</p>\n",
        esc(heading),
        esc(explain)
    );
    svg(out, plot);
    out.push_str("<ul class=\"legend\">\n");
    if latency_key {
        out.push_str(
            "<li class=\"key\"><span class=\"sw\" style=\"border-top:2.5px solid #444\"></span>p99</li>\n\
             <li class=\"key\"><span class=\"sw\" style=\"border-top:2.5px dashed #444\"></span>p50</li>\n",
        );
    }
    for (name, color, dashed) in legend {
        let style = if *dashed { "dashed" } else { "solid" };
        w!(
            out,
            "<li><span class=\"sw\" style=\"border-top:3px {style} {color}\"></span>{}</li>\n",
            esc(name)
        );
    }
    if legend.is_empty() {
        out.push_str("<li class=\"muted\">no series</li>\n");
    }
    out.push_str("</ul>\n</div>\n");
}

fn svg(out: &mut String, p: &Plot) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let xs = |t_ms: f64| fin(x0 + (t_ms / p.x_max).clamp(0.0, 1.0) * (x1 - x0));
    let ys = |v: f64| fin(y1 - p.scale.frac(v) * (y1 - y0));
    w!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\">\n\
         <rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" class=\"area\"/>\n",
        esc(p.title),
        fin(x1 - x0),
        fin(y1 - y0)
    );
    // Y grid and tick labels.
    for (v, label) in p.scale.ticks() {
        let y = ys(v);
        w!(
            out,
            "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>\n",
            x0 - 6.0,
            y + 4.0,
            esc(&label)
        );
    }
    // X ticks, in seconds.
    let x_max_s = p.x_max / 1000.0;
    let step = nice_step(x_max_s / 10.0);
    let mut k = 0u32;
    loop {
        let t = f64::from(k) * step;
        if t > x_max_s + step * 1e-9 || k > 1000 {
            break;
        }
        let x = xs(t * 1000.0);
        w!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y1}\" y2=\"{:.1}\" class=\"axis\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>\n",
            y1 + 5.0,
            y1 + 18.0,
            trim(t)
        );
        k += 1;
    }
    // Axes and their titles.
    w!(
        out,
        "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y1}\" y2=\"{y1}\" class=\"axis\"/>\
         <line x1=\"{x0}\" x2=\"{x0}\" y1=\"{y0}\" y2=\"{y1}\" class=\"axis\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\">time since start (s)</text>\n\
         <text x=\"14\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}{}</text>\n",
        fin((x0 + x1) / 2.0),
        H - 8.0,
        fin((y0 + y1) / 2.0),
        fin((y0 + y1) / 2.0),
        esc(p.y_label),
        if matches!(p.scale, Scale::Log { .. }) {
            ", log scale"
        } else {
            ""
        }
    );
    // Event markers, under the data. Badges share two rows above the plot so
    // that events close in time stay readable.
    let mut last_in_row = [f64::NEG_INFINITY; 2];
    for (i, e) in p.events.iter().enumerate() {
        let x = xs(e.at_ms as f64);
        let row = if x - last_in_row[0] >= 18.0 {
            0
        } else if x - last_in_row[1] >= 18.0 {
            1
        } else {
            0
        };
        last_in_row[row] = x;
        let by = 14.0 + row as f64 * 16.0;
        let class = event_class(&e.action);
        w!(
            out,
            "<g class=\"event {class}\"><title>#{} at {}: {}</title>\
             <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{y1}\" class=\"hit\"/>\
             <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{y1}\" class=\"marker\"/>\
             <circle cx=\"{x:.1}\" cy=\"{by:.1}\" r=\"7\" class=\"badge\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"badge-text\">{}</text></g>\n",
            i + 1,
            fmt_secs(e.at_ms),
            esc(&e.label),
            by + 7.0,
            by + 7.0,
            by + 3.5,
            i + 1
        );
    }
    // Data, as runs of consecutive present samples.
    let mut drawn = false;
    for s in p.series {
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (t, v) in &s.points {
            match v {
                Some(v) if v.is_finite() => runs
                    .last_mut()
                    .expect("never empty")
                    .push((xs(*t as f64), ys(*v))),
                _ => {
                    if !runs.last().expect("never empty").is_empty() {
                        runs.push(Vec::new());
                    }
                }
            }
        }
        runs.retain(|r| !r.is_empty());
        if runs.is_empty() {
            continue;
        }
        drawn = true;
        let dash = if s.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        w!(
            out,
            "<g class=\"series\" stroke=\"{}\" fill=\"{}\"{dash}><title>{}</title>\n",
            s.color,
            s.color,
            esc(&s.label)
        );
        for run in &runs {
            if let [(x, y)] = run.as_slice() {
                // A lone sample between gaps: a dot, or it would be invisible.
                w!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\"/>\n");
            } else {
                out.push_str("<path fill=\"none\" d=\"");
                for (i, (x, y)) in run.iter().enumerate() {
                    w!(out, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { " L" });
                }
                out.push_str("\"/>\n");
            }
        }
        out.push_str("</g>\n");
    }
    if !drawn {
        w!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"nodata\">no data</text>\n",
            fin((x0 + x1) / 2.0),
            fin((y0 + y1) / 2.0)
        );
    }
    out.push_str("</svg>\n");
}

/// Marker colour by what the event does to the system.
fn event_class(action: &str) -> &'static str {
    match action {
        "heal" | "restart" => "recover",
        "wipe" | "restore" => "fault",
        "skew" => "clock",
        "partition" | "isolate" | "flap" | "crash" | "latency" | "bandwidth" | "loss" => "fault",
        _ => "other",
    }
}

/// The value axis of one plot.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scale {
    /// From 0 to `top`, ticks every `step`.
    Linear { top: f64, step: f64 },
    /// From 10^lo to 10^hi.
    Log { lo: i32, hi: i32 },
}

impl Scale {
    /// `log_if_wide`: latency spans two or three orders of magnitude when a
    /// partition heals, and a linear axis would flatten the steady state to
    /// the floor; a log axis keeps both readable. `integer`: counts never get
    /// fractional ticks.
    fn fit(values: impl Iterator<Item = f64>, log_if_wide: bool, integer: bool) -> Scale {
        let mut max = 0.0f64;
        let mut min_pos = f64::INFINITY;
        for v in values.filter(|v| v.is_finite()) {
            max = max.max(v);
            if v > 0.0 {
                min_pos = min_pos.min(v);
            }
        }
        if log_if_wide && min_pos.is_finite() && max / min_pos > 20.0 {
            let lo = (min_pos.log10().floor() as i32).clamp(-3, 12);
            let hi = (max.log10().ceil() as i32).clamp(lo + 1, 13);
            return Scale::Log { lo, hi };
        }
        if max <= 0.0 {
            max = 1.0;
        }
        let mut step = nice_step(max / 5.0);
        if integer {
            step = step.max(1.0);
        }
        let top = ((max / step).ceil() * step).max(step);
        Scale::Linear { top, step }
    }

    /// Where `v` sits between the bottom (0) and the top (1) of the axis.
    fn frac(&self, v: f64) -> f64 {
        let f = match *self {
            Scale::Linear { top, .. } => v / top,
            Scale::Log { lo, hi } => {
                let v = v.max(10f64.powi(lo));
                (v.log10() - f64::from(lo)) / f64::from(hi - lo)
            }
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match *self {
            Scale::Linear { top, step } => {
                let n = ((top / step).round() as u32).min(100);
                (0..=n)
                    .map(|k| {
                        let v = f64::from(k) * step;
                        (v, trim(v))
                    })
                    .collect()
            }
            Scale::Log { lo, hi } => {
                let mut t = Vec::new();
                for e in lo..=hi {
                    let base = 10f64.powi(e);
                    t.push((base, trim(base)));
                    if hi - lo <= 2 && e < hi {
                        t.push((2.0 * base, trim(2.0 * base)));
                        t.push((5.0 * base, trim(5.0 * base)));
                    }
                }
                t
            }
        }
    }
}

/// The 1, 2 or 5 × 10^k at or above `raw`: tick steps people can read.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * p
}

// ------------------------------------------------------------------ tables

fn events_table(out: &mut String, events: &[EventMark]) {
    out.push_str("<section id=\"events\">\n<h2>Fault timeline</h2>\n");
    if events.is_empty() {
        out.push_str("<p class=\"muted\">No fault events: a steady-state run.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table>\n<thead><tr><th>#</th><th>at</th><th>action</th><th>event</th></tr></thead>\n<tbody>\n",
    );
    for (i, e) in events.iter().enumerate() {
        w!(
            out,
            "<tr><td><span class=\"num {}\">{}</span></td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>\n",
            event_class(&e.action),
            i + 1,
            fmt_secs(e.at_ms),
            esc(&e.action),
            esc(&e.label)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn links_table(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"links\">\n<h2>Replication latency per link</h2>\n\
         <p class=\"explain\">Over the whole drill, from the receiving region's latency \
         buckets (each figure is a bucket's upper bound, at most about 9% above the true value).</p>\n",
    );
    if r.links.is_empty() {
        out.push_str("<p class=\"muted\">No links.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table>\n<thead><tr><th>link</th><th class=\"n\">applied</th><th class=\"n\">p50</th>\
         <th class=\"n\">p99</th><th class=\"n\">max</th><th class=\"n\">max pending</th></tr></thead>\n<tbody>\n",
    );
    for l in &r.links {
        w!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            esc(&link_name(&l.from, &l.to)),
            l.latency.count,
            fmt_ms(l.latency.p50_ms),
            fmt_ms(l.latency.p99_ms),
            fmt_ms(l.latency.max_ms),
            l.max_pending
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn heals_table(out: &mut String, r: &Report) {
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
    out.push_str(
        "<table>\n<thead><tr><th>at</th><th>event</th><th>links</th><th class=\"n\">backlog</th>\
         <th class=\"n\">drain time</th></tr></thead>\n<tbody>\n",
    );
    for h in &r.heals {
        let links = if h.links.is_empty() {
            "–".to_string()
        } else {
            h.links
                .iter()
                .map(|l| esc(l))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let drain = match h.drain_ms {
            Some(ms) => fmt_dur(ms),
            None => "<span class=\"bad\">not drained before the end</span>".into(),
        };
        w!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{links}</td><td class=\"n\">{}</td><td class=\"n\">{drain}</td></tr>\n",
            fmt_secs(h.at_ms),
            esc(&h.label),
            h.backlog
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn disasters_table(out: &mut String, r: &Report) {
    if r.disasters.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"disasters\">\n<h2>Data loss: RPO and RTO</h2>\n\
         <p class=\"explain\">At risk: writes the region had acknowledged that no peer held when \
         it lost its data. RPO: the acknowledged writes lost for good, held by no region at the end; \
         every other write must survive, or the checker fails. RTO: from the loss until the \
         region, up again, served reads that include every write that survived it. A region that \
         restarts empty first copies a peer's store (seeded from).</p>\n\
         <table>\n<thead><tr><th>at</th><th>event</th><th class=\"n\">at risk</th>\
         <th class=\"n\">RPO (lost)</th><th class=\"n\">RTO</th><th>seeded from</th><th>lost writes</th></tr></thead>\n<tbody>\n",
    );
    for d in &r.disasters {
        let rto = match d.rto_ms {
            Some(ms) => fmt_dur(ms),
            None => "<span class=\"bad\">never</span>".into(),
        };
        let lost = if d.lost.is_empty() {
            "–".to_string()
        } else {
            d.lost
                .iter()
                .take(20)
                .map(|w| format!("{} at {}", esc(&w.key), esc(&w.version)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let seeded = match &d.seeded {
            Some(s) => format!(
                "{} ({} items, {:.1} MiB, {})",
                esc(&s.peer),
                s.items,
                s.bytes as f64 / 1048576.0,
                fmt_dur(s.ms)
            ),
            None => "–".to_string(),
        };
        w!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{rto}</td><td>{seeded}</td><td>{lost}</td></tr>\n",
            fmt_secs(d.at_ms),
            esc(&d.label),
            d.at_risk,
            d.lost.len()
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn restores_table(out: &mut String, r: &Report) {
    if r.restores.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"restores\">\n<h2>Restores to a point in time</h2>\n\
         <p class=\"explain\">A mark paused the workload until every region agreed, and kept the \
         table as its region held it then, checked against every write acknowledged before it. \
         The restore rebuilt the table as of that instant from the region's point-in-time \
         history, into a new table, after the writes that followed; every region's copy of it \
         is compared with the kept table, key by key.</p>\n\
         <table>\n<thead><tr><th>region</th><th>mark</th><th class=\"n\">restored at</th>\
         <th>new table</th><th class=\"n\">items at the mark</th><th class=\"n\">loaded</th>\
         <th class=\"n\">took</th><th class=\"n\">keys compared</th><th>differences</th></tr></thead>\n<tbody>\n",
    );
    for x in &r.restores {
        let took = match (x.restore_ms, &x.error) {
            (_, Some(e)) => format!("<span class=\"bad\">failed: {}</span>", esc(e)),
            (Some(ms), None) => fmt_dur(ms),
            (None, None) => "–".into(),
        };
        let diffs = if x.mismatches.is_empty() {
            "none".to_string()
        } else {
            let first: Vec<String> = x.mismatches.iter().take(10).map(|m| esc(m)).collect();
            format!(
                "<span class=\"bad\">{}</span><br>{}",
                x.mismatches.len(),
                first.join("<br>")
            )
        };
        w!(
            out,
            "<tr><td>{}</td><td>{} ({})</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{took}</td><td class=\"n\">{}</td><td>{diffs}</td></tr>\n",
            esc(&x.region),
            esc(&x.mark),
            fmt_secs(x.mark_ms),
            fmt_secs(x.at_ms),
            esc(&x.table),
            x.items_expected,
            x.items_restored,
            x.keys_checked
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn joins_table(out: &mut String, r: &Report) {
    if r.joins.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"joins\">\n<h2>Replicas added</h2>\n\
         <p class=\"explain\">A region that held no replica of the table was added while the \
         workload went on. It was CREATING while it copied, by anti-entropy rounds, what every \
         other replica held, then ACTIVE; the checker then holds it to every acknowledged write \
         like the others.</p>\n\
         <table>\n<thead><tr><th>region</th><th>asked of</th><th class=\"n\">asked at</th>\
         <th class=\"n\">ACTIVE at</th><th class=\"n\">items filled</th><th class=\"n\">bytes</th>\
         <th class=\"n\">fill time</th><th class=\"n\">rate</th><th>from</th></tr></thead>\n<tbody>\n",
    );
    for j in &r.joins {
        let active = match (j.active_ms, &j.error) {
            (_, Some(e)) => format!("<span class=\"bad\">failed: {}</span>", esc(e)),
            (Some(ms), None) => fmt_secs(ms),
            (None, None) => "<span class=\"bad\">never</span>".into(),
        };
        w!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{active}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0} items/s</td><td>{}</td></tr>\n",
            esc(&j.region),
            esc(&j.asked),
            fmt_secs(j.at_ms),
            j.items,
            j.bytes,
            fmt_dur(j.fill_ms),
            j.rate(),
            esc(&j.peers.join(", "))
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn streams_table(out: &mut String, r: &Report) {
    if r.streams.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"streams\">\n<h2>Change streams replayed</h2>\n\
         <p class=\"explain\">Each region's change stream of the table, read from its start and \
         replayed (the new image of each INSERT and MODIFY, a delete for each REMOVE), compared \
         with the region's final items key by key; and its REMOVE records counted against the live \
         items the region turned into tombstones (deletes local and replicated, TTL expiries), \
         which its store counts apart from the stream.</p>\n\
         <table>\n<thead><tr><th>region</th><th class=\"n\">records</th><th class=\"n\">REMOVE</th>\
         <th class=\"n\">tombstones applied</th><th class=\"n\">items</th><th class=\"n\">keys compared</th><th>differences</th></tr></thead>\n<tbody>\n",
    );
    for c in &r.streams {
        let tombstones = if c.error.is_none() && c.removes != c.tombstones_applied {
            format!("<span class=\"bad\">{}</span>", c.tombstones_applied)
        } else {
            c.tombstones_applied.to_string()
        };
        let diffs = match &c.error {
            Some(e) => format!("<span class=\"bad\">unreadable: {}</span>", esc(e)),
            None if c.mismatches.is_empty() => "none".into(),
            None => format!(
                "<span class=\"bad\">{}</span><br>{}",
                c.mismatches.len(),
                c.mismatches
                    .iter()
                    .map(|m| esc(m))
                    .collect::<Vec<_>>()
                    .join("<br>")
            ),
        };
        w!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{tombstones}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{diffs}</td></tr>\n",
            esc(&c.region),
            c.records,
            c.removes,
            c.items,
            c.keys_checked
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn indexes_table(out: &mut String, r: &Report) {
    if r.indexes.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"indexes\">\n<h2>Secondary indexes checked</h2>\n\
         <p class=\"explain\">Each region's index entries as stored, compared with the entries its \
         final items give (an item is in an index when it has every key attribute of it), and \
         with the first region's entries.</p>\n\
         <table>\n<thead><tr><th>region</th><th>index</th><th class=\"n\">entries</th>\
         <th class=\"n\">items</th><th>differences</th><th>same as first region</th></tr></thead>\n<tbody>\n",
    );
    for c in &r.indexes {
        let diffs = match &c.error {
            Some(e) => format!("<span class=\"bad\">{}</span>", esc(e)),
            None if c.mismatches.is_empty() => "none".into(),
            None => format!(
                "<span class=\"bad\">{}</span><br>{}",
                c.mismatches.len(),
                c.mismatches
                    .iter()
                    .map(|m| esc(m))
                    .collect::<Vec<_>>()
                    .join("<br>")
            ),
        };
        let agrees = if c.agrees {
            "yes".to_string()
        } else {
            "<span class=\"bad\">no</span>".to_string()
        };
        w!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{diffs}</td><td>{agrees}</td></tr>\n",
            esc(&c.region),
            esc(&c.index),
            c.entries,
            c.items
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn convergence(out: &mut String, r: &Report) {
    let c = &r.convergence;
    out.push_str("<section id=\"convergence\">\n<h2>Convergence</h2>\n");
    match c.after_workload_ms {
        Some(ms) => w!(
            out,
            "<p class=\"big\">{} <span class=\"muted\">from the end of the workload until every \
             link showed zero pending and every digest was equal</span></p>\n",
            fmt_dur(ms)
        ),
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
        w!(
            out,
            "<p>Digests at the end: {note}</p>\n<table>\n<thead><tr><th>region</th><th>digest</th></tr></thead>\n<tbody>\n"
        );
        for (region, d) in &c.digests {
            w!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td></tr>\n",
                esc(region),
                esc(d)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}

fn conflicts_tables(out: &mut String, r: &Report) {
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
    out.push_str(
        "<table>\n<thead><tr><th>winner origin</th><th>loser origin</th><th class=\"n\">conflicts</th>\
         <th class=\"n\">lost updates</th></tr></thead>\n<tbody>\n",
    );
    // Each distinct version pair falls in exactly one (winner origin, loser
    // origin) group, so conflicts add up. Lost updates do not: one write can
    // lose to writes from two regions and count in both groups, so the total
    // is the checker's count of distinct losers.
    let mut total = 0u64;
    for p in &r.conflict_pairs {
        total = total.saturating_add(p.conflicts);
        w!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            esc(&p.winner),
            esc(&p.loser),
            p.conflicts,
            p.lost_updates
        );
    }
    w!(
        out,
        "</tbody>\n<tfoot><tr><td colspan=\"2\">total (lost updates: distinct writes)</td>\
         <td class=\"n\">{total}</td><td class=\"n\">{}</td></tr></tfoot>\n</table>\n\
         <p class=\"explain\">A write recorded as a loser at one region may still have been seen and \
         replaced at another, so recorded lost updates are an upper bound; the checker expected {} \
         from the acknowledged writes alone. The origin region's own records are exact.</p>\n</section>\n",
        r.verdict.lost_updates,
        r.verdict.expected_lost_updates
    );
}

fn drift_table(out: &mut String, r: &Report) {
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
    out.push_str(
        "<table>\n<thead><tr><th>refused by</th><th class=\"n\">refusals</th></tr></thead>\n<tbody>\n",
    );
    for (region, n) in rows {
        w!(
            out,
            "<tr><td>{}</td><td class=\"n\">{n}</td></tr>\n",
            esc(region)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn purge_table(out: &mut String, r: &Report) {
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
         deleted items back), since the region last started.</p>\n\
         <table>\n<thead><tr><th>region</th><th class=\"n\">purged</th>\
         <th class=\"n\">deleted items kept out</th></tr></thead>\n<tbody>\n",
    );
    for (region, p) in &r.purges {
        w!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            esc(region),
            p.tombstones_purged,
            p.superseded
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn workload_table(out: &mut String, r: &Report) {
    let wl = &r.workload;
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
        "<p class=\"explain\">Failed requests (region down, timeout) are not in the oracle: \
         the checker only holds the system to what clients saw acknowledged.</p>\n<div class=\"pair\">\n",
    );
    for (title, map) in [
        ("acknowledged by operation", &wl.by_op),
        ("acknowledged by region", &wl.by_region),
    ] {
        w!(
            out,
            "<table>\n<thead><tr><th>{title}</th><th class=\"n\">count</th></tr></thead>\n<tbody>\n"
        );
        if map.is_empty() {
            out.push_str("<tr><td colspan=\"2\" class=\"muted\">none</td></tr>\n");
        }
        for (k, v) in map {
            w!(
                out,
                "<tr><td>{}</td><td class=\"n\">{v}</td></tr>\n",
                esc(k)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</div>\n</section>\n");
}

fn examples(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"examples\">\n<h2>Conflict examples</h2>\n\
         <p class=\"explain\">Which write lost, to which, and why. Versions read \
         <code>seconds.micros+logical@origin</code>. The greater version always wins: a later \
         physical time, then a higher logical counter, then the origin region's name.</p>\n",
    );
    if r.conflict_examples.is_empty() {
        out.push_str("<p class=\"muted\">No conflicts to show.</p>\n</section>\n");
        return;
    }
    for (i, c) in r.conflict_examples.iter().enumerate() {
        let why = match c.reason.as_str() {
            "higher-hlc" => "the winner's HLC timestamp is later".to_string(),
            "tie-broken-by-origin" => {
                "same HLC timestamp; the origin region's name broke the tie".to_string()
            }
            other => esc(other),
        };
        w!(
            out,
            "<div class=\"example\">\n<h3>{}. <code>{}</code> key <code>{}</code></h3>\n\
             <p><b>{}</b> beat <b>{}</b>: {why}. Detected by {}.</p>\n<div class=\"pair\">\n",
            i + 1,
            esc(&c.table),
            esc(&c.key),
            esc(&c.winner),
            esc(&c.loser),
            esc(&c.detected_by)
        );
        for (label, img) in [("winner", &c.winner_image), ("loser", &c.loser_image)] {
            let body = match img {
                Some(s) => esc(s),
                None => "(tombstone: a delete)".into(),
            };
            w!(
                out,
                "<div><div class=\"muted\">{label} image</div><pre>{body}</pre></div>\n"
            );
        }
        out.push_str("</div>\n</div>\n");
    }
    out.push_str("</section>\n");
}

// ----------------------------------------------------------------- helpers

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn link_name(from: &str, to: &str) -> String {
    format!("{from} → {to}")
}

/// A coordinate that is always safe to write into SVG.
fn fin(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A number with at most three decimals and no trailing zeros.
fn trim(v: f64) -> String {
    let v = fin(v);
    if v.abs() >= 1e6 {
        return format!("{:.0}", v);
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// Milliseconds with a precision that suits their size; "–" when unknown.
fn fmt_ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if v < 10.0 {
                format!("{v:.2} ms")
            } else if v < 1000.0 {
                format!("{v:.1} ms")
            } else {
                format!("{:.2} s", v / 1000.0)
            }
        }
        _ => "–".into(),
    }
}

fn fmt_dur(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

fn fmt_secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

const CSS: &str = r#"
:root{--fg:#1d2330;--muted:#667085;--line:#d0d5dd;--bg:#fff;--panel:#f7f8fa;--good:#1e7d45;--bad:#b42318;--fault:#c0392b;--recover:#27ae60;--clock:#e67e22}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 6px}
h3{font-size:15px;margin:12px 0 4px}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px;white-space:pre-wrap;word-break:break-all;margin:2px 0}
.desc{color:var(--muted);margin:0 0 12px}
.meta{display:flex;flex-wrap:wrap;gap:8px 28px;margin:8px 0}
.meta dt{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.meta dd{margin:0;font-weight:600}
.verdict{display:flex;gap:24px;align-items:flex-start;border:2px solid;border-radius:10px;padding:16px 20px;margin:20px 0}
.verdict h2{margin:0 0 6px}
.verdict.pass{border-color:var(--good);background:#ecfdf3}
.verdict.fail{border-color:var(--bad);background:#fef3f2}
.verdict .word{font-size:40px;font-weight:800;letter-spacing:.05em;min-width:130px}
.verdict.pass .word{color:var(--good)}
.verdict.fail .word{color:var(--bad)}
.checks{list-style:none;padding:0;margin:0}
.checks .mark{display:inline-block;width:1.2em;font-weight:800}
.checks .ok .mark,.good{color:var(--good)}
.checks .bad .mark,.bad{color:var(--bad)}
.problems{margin:4px 0;padding-left:22px}
.counts,.muted,.explain{color:var(--muted)}
.explain{margin:0 0 8px;font-size:14px}
.plot svg{width:100%;height:auto;display:block}
svg .area{fill:var(--panel)}
svg .grid{stroke:#e4e7ec;stroke-width:1}
svg .axis{stroke:#98a2b3;stroke-width:1}
svg .tick{font-size:11px;fill:var(--muted)}
svg .label{font-size:12px;fill:var(--fg)}
svg .nodata{font-size:16px;fill:var(--muted)}
svg .series path{stroke-width:1.8;stroke-linejoin:round}
svg .series circle{stroke:none}
svg .event .marker{stroke-width:1.2;stroke-dasharray:3 3}
svg .event .hit{stroke:transparent;stroke-width:10}
svg .event .badge-text{font-size:10px;font-weight:700;fill:#fff}
svg .fault .marker,svg .fault .badge{stroke:var(--fault);fill:var(--fault)}
svg .recover .marker,svg .recover .badge{stroke:var(--recover);fill:var(--recover)}
svg .clock .marker,svg .clock .badge{stroke:var(--clock);fill:var(--clock)}
svg .other .marker,svg .other .badge{stroke:#667085;fill:#667085}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 18px;padding:0;margin:6px 0 0 70px;font-size:13px}
.legend .sw{display:inline-block;width:26px;height:0;vertical-align:middle;margin-right:6px}
.legend .key{color:var(--muted)}
table{border-collapse:collapse;margin:6px 0;font-size:14px;min-width:50%}
th,td{border-bottom:1px solid var(--line);padding:5px 12px 5px 0;text-align:left;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
.n{text-align:right;font-variant-numeric:tabular-nums}
tfoot td{font-weight:700}
.num{display:inline-block;min-width:22px;text-align:center;border-radius:11px;color:#fff;font-size:12px;font-weight:700}
.num.fault{background:var(--fault)}.num.recover{background:var(--recover)}.num.clock{background:var(--clock)}.num.other{background:#667085}
.big{font-size:20px;font-weight:700}
.big .muted{font-size:14px;font-weight:400}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px 24px}
.example{border-top:1px solid var(--line);padding-top:4px}
footer{margin-top:40px;color:var(--muted);font-size:13px}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::*;

    fn sample(t_ms: u64, p50: Option<f64>, p99: Option<f64>, pending: Option<u64>) -> LinkSample {
        LinkSample {
            t_ms,
            p50_ms: p50,
            p99_ms: p99,
            max_ms: p99,
            applied: 10,
            pending,
        }
    }

    fn synthetic() -> Report {
        let regions: Vec<String> = ["us-east-1", "eu-west-1", "ap-southeast-1"]
            .map(String::from)
            .to_vec();
        let mut links = Vec::new();
        for a in &regions {
            for b in &regions {
                if a == b {
                    continue;
                }
                let samples = (0..40u64)
                    .map(|i| {
                        let t = i * 250;
                        // A partition between 3 s and 5 s: no applies, growing backlog.
                        if (12..20).contains(&i) {
                            sample(t, None, None, Some(i * 30))
                        } else if i == 20 {
                            sample(t, Some(2000.0), Some(2100.0), Some(600))
                        } else {
                            sample(t, Some(35.0), Some(48.5), Some(5))
                        }
                    })
                    .collect();
                links.push(LinkReport {
                    from: a.clone(),
                    to: b.clone(),
                    latency: LatencySummary {
                        count: 1200,
                        p50_ms: Some(35.1),
                        p99_ms: Some(2100.0),
                        max_ms: Some(2300.0),
                    },
                    samples,
                    max_pending: 600,
                });
            }
        }
        Report {
            scenario: "partition-heal".into(),
            description: "A partition and a heal".into(),
            mode: "sim".into(),
            seed: 42,
            regions: regions.clone(),
            duration_ms: 10_000,
            sample_interval_ms: 250,
            events: vec![
                EventMark {
                    at_ms: 3000,
                    action: "partition".into(),
                    label: "partition us-east-1 ⇄ eu-west-1 (blackhole)".into(),
                },
                EventMark {
                    at_ms: 5000,
                    action: "heal".into(),
                    label: "heal us-east-1 ⇄ eu-west-1".into(),
                },
                EventMark {
                    at_ms: 5100,
                    action: "skew".into(),
                    label: "skew ap-southeast-1 +300 ms, drift +0 ppm".into(),
                },
            ],
            links,
            conflict_series: (0..40u64)
                .map(|i| ConflictSample {
                    t_ms: i * 250,
                    by_region: regions.iter().map(|r| (r.clone(), i / 4)).collect(),
                })
                .collect(),
            heals: vec![HealReport {
                at_ms: 5000,
                label: "heal us-east-1 ⇄ eu-west-1".into(),
                links: vec![
                    "us-east-1 → eu-west-1".into(),
                    "eu-west-1 → us-east-1".into(),
                ],
                backlog: 600,
                drain_ms: Some(1340),
            }],
            convergence: Convergence {
                after_workload_ms: Some(420),
                digests: regions.iter().map(|r| (r.clone(), "ab12".into())).collect(),
            },
            workload: WorkloadReport {
                attempted: 3000,
                acked: 2990,
                failed: 10,
                by_op: [("put".to_string(), 1500), ("get".to_string(), 1490)]
                    .into_iter()
                    .collect(),
                by_region: regions.iter().map(|r| (r.clone(), 996)).collect(),
            },
            conflict_pairs: vec![
                ConflictPair {
                    winner: "eu-west-1".into(),
                    loser: "us-east-1".into(),
                    conflicts: 7,
                    lost_updates: 5,
                },
                ConflictPair {
                    winner: "ap-southeast-1".into(),
                    loser: "us-east-1".into(),
                    conflicts: 3,
                    lost_updates: 2,
                },
            ],
            conflict_examples: vec![ConflictExample {
                table: "drill".into(),
                key: r#"{"pk": {"S": "k1"}}"#.into(),
                winner: "1763683200.123456+0@eu-west-1".into(),
                loser: "1763683200.100000+0@us-east-1".into(),
                reason: "higher-hlc".into(),
                detected_by: "us-east-1".into(),
                winner_image: Some(r#"{"v": {"S": "eu"}}"#.into()),
                loser_image: None,
            }],
            drift_refusals: [("us-east-1".to_string(), 12)].into_iter().collect(),
            purges: [(
                "eu-west-1".to_string(),
                PurgeCounts {
                    tombstones_purged: 40,
                    superseded: 3,
                },
            )]
            .into_iter()
            .collect(),
            disasters: vec![DisasterReport {
                region: "eu-west-1".into(),
                at_ms: 4_000,
                label: "wipe eu-west-1's data directory".into(),
                at_risk: 2,
                lost: vec![LostWrite {
                    key: "drill/6b31/".into(),
                    version: "1700000004.000000+0@eu-west-1".into(),
                }],
                rto_ms: Some(2_750),
                seeded: Some(crate::report::SeedReport {
                    peer: "us-east-1".into(),
                    items: 1_999,
                    bytes: 1 << 20,
                    ms: 120,
                }),
            }],
            streams: vec![crate::report::StreamCheck {
                region: "eu-west-1".into(),
                records: 4_321,
                removes: 123,
                tombstones_applied: 123,
                items: 1_999,
                keys_checked: 1_999,
                mismatches: Vec::new(),
                error: None,
            }],
            indexes: vec![crate::report::IndexCheck {
                region: "eu-west-1".into(),
                index: "by_group".into(),
                entries: 1_999,
                items: 1_999,
                mismatches: Vec::new(),
                agrees: true,
                error: None,
            }],
            joins: vec![crate::report::JoinReport {
                region: "sa-east-1".into(),
                asked: "us-east-1".into(),
                at_ms: 10_000,
                active_ms: Some(14_000),
                items: 1_500,
                bytes: 400_000,
                fill_ms: 3_000,
                peers: vec!["us-east-1".into(), "eu-west-1".into()],
                error: None,
            }],
            restores: vec![crate::report::RestoreReport {
                region: "us-east-1".into(),
                mark: "before-mistake".into(),
                table: "drill-before-mistake".into(),
                mark_ms: 3_000,
                at_ms: 5_000,
                restore_ms: Some(800),
                items_expected: 1_200,
                items_restored: 1_200,
                keys_checked: 2_400,
                mismatches: Vec::new(),
                error: None,
            }],
            verdict: VerdictReport {
                ok: false,
                converged: true,
                acked_writes_accounted: false,
                oracle_match: true,
                keys_checked: 2000,
                conflicts_checked: 21,
                // One of the two writes that lost to ap-southeast-1 also lost
                // to eu-west-1: 6 distinct, not 5 + 2.
                lost_updates: 6,
                expected_lost_updates: 6,
                problems: vec!["lost update 1.0+0@us-east-1 was recorded by no region".into()],
            },
        }
    }

    /// The numbers written into SVG attributes, all of which must be finite.
    fn svg_numbers(html: &str) -> Vec<String> {
        let mut nums = Vec::new();
        for part in html.split("<svg").skip(1) {
            let svg = part.split("</svg>").next().unwrap();
            for attr in [
                " x=\"", " y=\"", " x1=\"", " x2=\"", " y1=\"", " y2=\"", " cx=\"", " cy=\"",
                " d=\"",
            ] {
                for piece in svg.split(attr).skip(1) {
                    nums.push(piece.split('"').next().unwrap().to_string());
                }
            }
        }
        nums
    }

    fn assert_clean(html: &str) {
        assert!(!html.contains("NaN"), "NaN in the page");
        for n in svg_numbers(html) {
            assert!(
                !n.contains("inf") && !n.contains("NaN"),
                "non-finite coordinate {n:?}"
            );
        }
    }

    #[test]
    fn synthetic_report_renders_three_plots_and_every_table() {
        let html = render(&synthetic());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("</svg>").count(), 3);
        for id in [
            "verdict",
            "plots",
            "events",
            "links",
            "heals",
            "disasters",
            "restores",
            "joins",
            "streams",
            "indexes",
            "convergence",
            "conflicts",
            "drift",
            "purges",
            "workload",
            "examples",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "section {id}");
        }
        // The join: its fill and its rate.
        assert!(html.contains("<td class=\"n\">1500</td>"), "items filled");
        assert!(html.contains("500 items/s"), "the fill's rate");
        // The data loss: its RPO names the lost write, its RTO the time.
        assert!(html.contains("drill/6b31/ at 1700000004.000000+0@eu-west-1"));
        assert!(html.contains("2.75 s"), "RTO");
        assert!(
            html.contains("us-east-1 (1999 items, 1.0 MiB, 120 ms)"),
            "the peer the wiped region was seeded from"
        );
        // The verdict is a failure, with the failing check and the problem.
        assert!(html.contains("class=\"verdict fail\""));
        assert!(html.contains("<li class=\"bad\"><span class=\"mark\">✗</span> <b>Acknowledged writes accounted for</b>"));
        assert!(html.contains("was recorded by no region"));
        // Summary figures.
        assert!(html.contains("1.34 s"), "drain time");
        assert!(html.contains("420 ms"), "convergence time");
        assert!(html.contains("2.10 s"), "p99 of a link");
        assert!(html.contains("all equal"));
        assert!(
            html.contains("<td class=\"n\">10</td><td class=\"n\">6</td></tr></tfoot>"),
            "conflicts add up across pairs; lost updates are the distinct count"
        );
        assert!(html.contains("the winner's HLC timestamp is later"));
        assert!(html.contains("(tombstone: a delete)"));
        // Six links, two lines each, plus pending and conflict series.
        assert_eq!(html.matches("<g class=\"series\"").count(), 6 * 2 + 6 + 3);
        // Dashed p50 lines.
        assert_eq!(html.matches("stroke-dasharray=\"6 4\"").count(), 6);
        // The latency spike after the heal needs a log axis.
        assert!(html.contains("latency (ms), log scale"));
        assert_clean(&html);
    }

    #[test]
    fn gaps_split_lines_instead_of_joining_across_them() {
        let html = render(&synthetic());
        // Each latency line has a run before the partition and one after it:
        // two subpaths, not one line drawn straight across the gap. (Sample 20
        // joins the run after it.)
        let lat = html.split("<svg").nth(1).unwrap();
        let first = lat
            .split("<g class=\"series\"")
            .nth(1)
            .unwrap()
            .split("</g>")
            .next()
            .unwrap();
        assert_eq!(first.matches("<path").count(), 2, "{first}");
    }

    #[test]
    fn every_event_has_a_marker_on_every_plot() {
        let r = synthetic();
        let html = render(&r);
        assert_eq!(
            html.matches("<g class=\"event ").count(),
            3 * r.events.len()
        );
        for (i, e) in r.events.iter().enumerate() {
            let title = format!(
                "<title>#{} at {}: {}</title>",
                i + 1,
                fmt_secs(e.at_ms),
                esc(&e.label)
            );
            assert_eq!(html.matches(&title).count(), 3, "{title}");
        }
        assert!(html.contains("<g class=\"event fault\">"));
        assert!(html.contains("<g class=\"event recover\">"));
        assert!(html.contains("<g class=\"event clock\">"));
    }

    #[test]
    fn user_strings_are_escaped() {
        let mut r = synthetic();
        let evil = "<script>alert('x')</script>&\"";
        r.scenario = evil.into();
        r.description = evil.into();
        r.regions.push(evil.into());
        r.events[0].label = evil.into();
        r.events[0].action = evil.into();
        r.links[0].from = evil.into();
        r.conflict_examples[0].key = evil.into();
        r.conflict_examples[0].winner_image = Some(evil.into());
        r.conflict_examples[0].reason = evil.into();
        r.verdict.problems.push(evil.into());
        r.drift_refusals.insert(evil.into(), 1);
        r.workload.by_op.insert(evil.into(), 1);
        r.convergence.digests.insert(evil.into(), evil.into());
        r.heals[0].links.push(evil.into());
        r.conflict_series[0].by_region.insert(evil.into(), 1);
        let html = render(&r);
        assert!(!html.contains("<script"), "unescaped script tag");
        assert!(!html.contains("alert('x')"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    }

    #[test]
    fn an_empty_report_renders_without_nan() {
        let html = render(&Report::default());
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("no data").count(), 3);
        assert!(html.contains("(unnamed scenario)"));
        assert!(html.contains("Did not converge"));
        assert_clean(&html);
    }

    #[test]
    fn single_samples_and_non_finite_values_are_safe() {
        let mut r = synthetic();
        r.duration_ms = 0;
        for l in &mut r.links {
            l.samples = vec![sample(0, Some(f64::NAN), Some(f64::INFINITY), None)];
            l.latency.p50_ms = Some(f64::NAN);
        }
        r.links[0].samples = vec![sample(0, Some(5.0), Some(7.0), Some(3))];
        r.conflict_series = vec![ConflictSample {
            t_ms: 0,
            by_region: BTreeMap::new(),
        }];
        let html = render(&r);
        assert_clean(&html);
        // The one real sample shows as dots (p50, p99 and pending), not as
        // an invisible zero-length path.
        assert_eq!(html.matches("r=\"2.5\"").count(), 3);
        assert!(
            !html.contains("<path fill=\"none\" d=\"M"),
            "nothing to join"
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&synthetic());
        for banned in ["<link", "<script", "src=", "@import", "url(", "href="] {
            assert!(!html.contains(banned), "{banned}");
        }
    }

    #[test]
    fn axes_use_readable_steps() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(230.0), 500.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
        let s = Scale::fit([0.0, 3.0].into_iter(), false, true);
        assert_eq!(
            s,
            Scale::Linear {
                top: 3.0,
                step: 1.0
            },
            "counts tick by whole numbers"
        );
        let s = Scale::fit([30.0, 40.0].into_iter(), true, false);
        assert!(
            matches!(s, Scale::Linear { .. }),
            "narrow latency stays linear"
        );
        let s = Scale::fit([30.0, 20_000.0].into_iter(), true, false);
        assert_eq!(s, Scale::Log { lo: 1, hi: 5 });
        assert_eq!(s.frac(10.0), 0.0);
        assert_eq!(s.frac(100_000.0), 1.0);
        assert_eq!(s.frac(-1.0), 0.0);
        assert_eq!(trim(2.5), "2.5");
        assert_eq!(trim(100.0), "100");
    }
}
