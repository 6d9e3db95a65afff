//! `report.html`: one self-contained page for a [`Report`].
//!
//! No external CSS, script or font, so the file can be mailed, attached to a
//! ticket or opened from an archive years later and still render. Plots are
//! inline SVG drawn in [`plot`]; the tables are in [`tables`], written by
//! one builder ([`markup`]) that escapes every cell. Every string from the
//! report is escaped, because scenario names, region names, keys and item
//! images are user input. This module is the page itself: its head, the
//! verdict, the conflict examples and the style sheet.
//!
//! The renderer never trusts numbers either: a missing sample is a gap in a
//! line, a non-finite value is treated as missing, and every coordinate
//! written is finite, so an empty or odd report still yields a valid page.

use std::fmt::Write as _;

use crate::report::{EventMark, Report};

/// `write!` into a `String` cannot fail; this keeps the call sites short.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

mod capacity;
mod consistency;
mod failover;
mod judged;
mod markup;
mod order;
mod plot;
mod tables;
mod text;

use markup::esc;
use text::fmt_dur;

pub use plot::{Figure, Points};

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
    judged::judged_section(&mut out, report);
    consistency::comparison_section(&mut out, report);
    order::order_comparison_section(&mut out, report);
    consistency::consistency_section(&mut out, report);
    plot::plots(&mut out, report);
    tables::events_table(&mut out, &report.events);
    tables::links_table(&mut out, report);
    order::orders_section(&mut out, report);
    tables::heals_table(&mut out, report);
    tables::disasters_table(&mut out, report);
    failover::failover_section(&mut out, report);
    capacity::capacity_section(&mut out, report);
    tables::restores_table(&mut out, report);
    tables::joins_table(&mut out, report);
    tables::streams_table(&mut out, report);
    tables::indexes_table(&mut out, report);
    tables::convergence(&mut out, report);
    tables::conflicts_tables(&mut out, report);
    tables::drift_table(&mut out, report);
    tables::purge_table(&mut out, report);
    tables::workload_table(&mut out, report);
    examples(&mut out, report);
    out.push_str(
        "<footer>Metric definitions and how to read this page: <code>docs/drills.md</code>. \
         Raw data: <code>report.json</code> next to this file.</footer>\n",
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// A page of plots alone, in the report's drawing and style: a
/// benchmark's samples over time (`meridian bench soak`), with a numbered
/// marker for every event of `events`.
pub fn figures(title: &str, intro: &str, figures: &[Figure], events: &[EventMark]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n\
         <header>\n<h1>{}</h1>\n<p class=\"desc\">{}</p>\n</header>\n<section id=\"plots\">\n",
        esc(title),
        CSS,
        esc(title),
        esc(intro)
    );
    let x_max = figures
        .iter()
        .map(Figure::last_ms)
        .chain(events.iter().map(|e| e.at_ms))
        .max()
        .unwrap_or(0)
        .max(1000) as f64;
    for f in figures {
        plot::figure(&mut out, f, events, x_max);
    }
    out.push_str("</section>\n</main>\n</body>\n</html>\n");
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
    use super::plot::{Scale, nice_step, trim};
    use super::text::fmt_secs;
    use super::*;
    use crate::report::*;
    use std::collections::BTreeMap;

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

    #[test]
    fn a_page_of_figures_draws_each_with_its_gaps_and_escapes_its_text() {
        let fig = Figure {
            heading: "RSS <per region>".into(),
            explain: "memory".into(),
            y_label: "MiB".into(),
            lines: vec![
                (
                    "a".into(),
                    vec![
                        (0, Some(1.0)),
                        (1000, None),
                        (2000, Some(f64::NAN)),
                        (3000, Some(2.0)),
                    ],
                ),
                ("b".into(), vec![(0, Some(3.0)), (3000, Some(3.0))]),
            ],
            log_if_wide: false,
        };
        let events = [EventMark {
            at_ms: 1500,
            action: "crash".into(),
            label: "crash a".into(),
        }];
        let page = figures("soak & co", "intro", &[fig.clone(), fig], &events);
        assert_eq!(page.matches("<svg ").count(), 2);
        assert!(page.contains("soak &amp; co") && page.contains("RSS &lt;per region&gt;"));
        assert!(!page.contains("NaN"));
        assert!(page.contains("crash a"));
        // Line a's two samples around the gap are lone dots.
        assert!(page.matches("<circle cx=").count() >= 4, "{page}");
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
                    reordered: 41,
                    torn_units: 3,
                    left_to_origin: 0,
                    paused_skipped: 0,
                    coalesced: 17,
                    replicated_write_units: 40,
                    throttled_ms: 1500,
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
                ..WorkloadReport::default()
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
                trimmed: false,
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
            consistency: None,
            comparison: Vec::new(),
            orders: None,
            order_comparison: Vec::new(),
            failover: None,
            capacity: vec![crate::report::CapacityReport {
                region: "eu-west-1".into(),
                table: "drill".into(),
                units: vec![crate::report::UnitsChange {
                    t_ms: 250,
                    read_units: 50,
                    write_units: 100,
                }],
                consumed_read: 12.5,
                consumed_write: 300.0,
                peak_write_per_s: 140.0,
                throttled_requests: 7,
            }],
            alarms: Vec::new(),
            experiment: None,
            criteria: Vec::new(),
            invariants: Vec::new(),
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
            "capacity",
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
        let write = crate::report::FailoverWrite {
            table: evil.into(),
            key: evil.into(),
            version: evil.into(),
            state: evil.into(),
            reason: evil.into(),
            resolved_at_ms: None,
        };
        r.failover = Some(crate::report::FailoverReport {
            listen: evil.into(),
            home: evil.into(),
            active_at_start: evil.into(),
            active_at_end: evil.into(),
            moves: vec![crate::report::FailoverMove {
                from: evil.into(),
                to: evil.into(),
                why: evil.into(),
                writes: vec![write],
                ..Default::default()
            }],
            ..Default::default()
        });
        let html = render(&r);
        assert!(html.contains("<h2>Failover endpoint</h2>"));
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
