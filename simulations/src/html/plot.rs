//! The report's plots, drawn as inline SVG: replication latency, pending
//! mutations and conflicts over time, one series per link or region, with
//! a numbered marker for every event. A missing sample is a gap in a line,
//! a non-finite value is treated as missing, and every coordinate written
//! is finite, so an empty or odd report still draws.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::markup::esc;
use super::text::{fmt_secs, link_name};
use crate::report::{EventMark, Report};

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

pub(super) fn plots(out: &mut String, r: &Report) {
    let x_max = x_extent(r);
    out.push_str("<section id=\"plots\">\n");
    latency_plot(out, r, x_max);
    pending_plot(out, r, x_max);
    conflicts_plot(out, r, x_max);
    out.push_str("</section>\n");
}

/// Replication latency: p99 solid, p50 dashed, one colour per link.
fn latency_plot(out: &mut String, r: &Report, x_max: f64) {
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
}

/// Pending mutations per link.
fn pending_plot(out: &mut String, r: &Report, x_max: f64) {
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
}

/// Conflicts over time, cumulative, per detecting region.
fn conflicts_plot(out: &mut String, r: &Report, x_max: f64) {
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
}

/// A line's points: ms since the start, and the value (`None`: a gap).
pub type Points = Vec<(u64, Option<f64>)>;

/// One plot of a page of plots alone ([`super::figures`]): a benchmark's
/// samples over time, drawn as the report's plots are.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    pub heading: String,
    pub explain: String,
    pub y_label: String,
    /// One line each: its label, and its points (ms since the start, value;
    /// `None` is a gap).
    pub lines: Vec<(String, Points)>,
    /// A log axis when the values span more than a factor of 20 (latency).
    pub log_if_wide: bool,
}

impl Figure {
    /// The last instant of any point, ms.
    pub(super) fn last_ms(&self) -> u64 {
        self.lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|(t, _)| *t))
            .max()
            .unwrap_or(0)
    }
}

/// Draws one [`Figure`], its time axis running to `x_max` ms.
pub(super) fn figure(out: &mut String, f: &Figure, events: &[EventMark], x_max: f64) {
    let series: Vec<Series> = f
        .lines
        .iter()
        .enumerate()
        .map(|(i, (label, points))| Series {
            label: label.clone(),
            color: PALETTE[i % PALETTE.len()],
            dashed: false,
            points: points.clone(),
        })
        .collect();
    let legend: Vec<(String, &str, bool)> = series
        .iter()
        .map(|s| (s.label.clone(), s.color, false))
        .collect();
    let scale = Scale::fit(values(&series), f.log_if_wide, false);
    plot_section(
        out,
        &f.heading,
        &f.explain,
        &Plot {
            title: &f.heading,
            y_label: &f.y_label,
            scale,
            x_max,
            series: &series,
            events,
        },
        &legend,
        false,
    );
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

pub(super) struct Series<'a> {
    label: String,
    color: &'a str,
    dashed: bool,
    points: Vec<(u64, Option<f64>)>,
}

pub(super) struct Plot<'a> {
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

pub(super) fn svg(out: &mut String, p: &Plot) {
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
    event_markers(out, p, &xs, y1);
    let drawn = series_lines(out, p, &xs, &ys);
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

/// Event markers, under the data, down to the plot's bottom `y1`.
fn event_markers(out: &mut String, p: &Plot, xs: &impl Fn(f64) -> f64, y1: f64) {
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
}

/// Each series' lines, as runs of consecutive present samples; whether
/// any was drawn.
fn series_lines(
    out: &mut String,
    p: &Plot,
    xs: &impl Fn(f64) -> f64,
    ys: &impl Fn(f64) -> f64,
) -> bool {
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
    drawn
}

/// Marker colour by what the event does to the system.
pub(super) fn event_class(action: &str) -> &'static str {
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
pub(super) enum Scale {
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
    pub(super) fn fit(
        values: impl Iterator<Item = f64>,
        log_if_wide: bool,
        integer: bool,
    ) -> Scale {
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
    pub(super) fn frac(&self, v: f64) -> f64 {
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

    pub(super) fn ticks(&self) -> Vec<(f64, String)> {
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
pub(super) fn nice_step(raw: f64) -> f64 {
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

/// A coordinate that is always safe to write into SVG.
fn fin(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A number with at most three decimals and no trailing zeros.
pub(super) fn trim(v: f64) -> String {
    let v = fin(v);
    if v.abs() >= 1e6 {
        return format!("{:.0}", v);
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}
