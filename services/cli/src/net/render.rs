//! The one line `meridian net` prints for a fault it applied, and the
//! durations and scopes that line is worded with.

use std::fmt::Write as _;
use std::time::Duration;

use meridian_cluster::faults::Outcome;
use meridian_region::ClusterFile;
use meridian_scenario::scenario::{self, Action, PartitionKind, arrow};
use serde_json::Value as Json;

pub(super) fn show_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 && (ms / 1000.0).fract() == 0.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

pub(super) fn show_ms(ms: u64) -> String {
    show_dur(Duration::from_millis(ms))
}

/// What the scope of a heal or clear is called.
fn scope_words(link: &Option<(String, String)>, region: &Option<String>) -> String {
    match (link, region) {
        (Some((a, b)), _) => format!("{a} ⇄ {b}"),
        (None, Some(r)) => format!("every link of {r}"),
        (None, None) => "every link".into(),
    }
}

/// The one line `meridian net` prints for an applied fault.
pub(super) fn render(cluster: &ClusterFile, action: &Action, out: &Outcome) -> String {
    match action {
        Action::Latency { from, to, both, .. } => latency_line(from, to, *both, out),
        Action::Bandwidth {
            from,
            to,
            both,
            kbps,
        } => bandwidth_line(from, to, *both, *kbps, out),
        Action::Loss {
            from,
            to,
            both,
            percent,
            rto,
        } => loss_line(from, to, *both, *percent, *rto, out),
        Action::Partition {
            from: a,
            to: b,
            both,
            kind,
        } => partition_line(a, b, *both, *kind),
        Action::Isolate { region, kind } => isolate_line(cluster, region, *kind),
        Action::Flap {
            from,
            to,
            both,
            period,
            down,
        } => flap_line(from, to, *both, *period, *down),
        Action::Heal { link, region } => heal_line(link, region, out),
        Action::Clear { link, region } => clear_line(link, region, out),
        Action::Skew { region, .. } => skew_line(region, out),
        Action::Crash { region } => format!(
            "crashed {region} (SIGKILL, pid {}); `meridian net restart {region}` starts it again",
            pid(out)
        ),
        Action::Restart { region } => format!(
            "restarted {region} (pid {}) on its data directory; serving after {:.1} s",
            pid(out),
            out.serving_after.unwrap_or_default().as_secs_f64()
        ),
        Action::Wipe { region } => format!(
            "wiped {region}'s data directory ({}); `meridian net restart {region}` starts it empty",
            cluster.data_dir.join(region).display()
        ),
        Action::PauseReplication {
            table,
            region,
            duration,
            tail,
            ..
        } => pause_line(table, region, *duration, *tail),
        Action::Snapshot { .. }
        | Action::Restore { .. }
        | Action::Recovery { .. }
        | Action::Mark { .. }
        | Action::RestoreToTime { .. }
        | Action::AddReplica { .. }
        | Action::Recreate { .. }
        | Action::MoveTraffic { .. } => action.label(),
    }
}

/// A bandwidth limit set on a link, or its removal (which says whether
/// there was one to remove).
fn bandwidth_line(from: &str, to: &str, both: bool, kbps: Option<u64>, out: &Outcome) -> String {
    let head = format!("bandwidth {from} {} {to}", arrow(both));
    match kbps {
        Some(r) => format!("{head}: {r} KB/s"),
        None if out.removed == 0 => format!("{head}: no limit was set"),
        None => format!("{head}: limit removed"),
    }
}

/// An isolated region, naming the peers it is cut from and how to end it.
fn isolate_line(cluster: &ClusterFile, region: &str, kind: PartitionKind) -> String {
    let peers: Vec<String> = cluster
        .region_names()
        .into_iter()
        .filter(|r| r != region)
        .collect();
    format!(
        "isolated {region} ({}): cut both ways from {}; `meridian net heal --region {region}` ends it",
        kind.as_str(),
        peers.join(", ")
    )
}

/// A flapping link: how long it is down in each period, and how to end it.
fn flap_line(from: &str, to: &str, both: bool, period: Duration, down: Duration) -> String {
    format!(
        "flapping {from} {} {to}: blackholed for the first {} of every {}; `meridian net heal` ends it",
        arrow(both),
        show_dur(down),
        show_dur(period)
    )
}

/// A heal: what it removed and enabled, and that the slower faults stay,
/// since a heal ends only cuts.
fn heal_line(link: &Option<(String, String)>, region: &Option<String>, out: &Outcome) -> String {
    format!(
        "healed {}: removed {} partition/flap toxics, enabled {} proxies; \
         latency, bandwidth and loss stay (`meridian net clear` removes them)",
        scope_words(link, region),
        out.removed,
        out.enabled
    )
}

/// A clear: what it removed and enabled, worded without counts when it
/// covered every link.
fn clear_line(link: &Option<(String, String)>, region: &Option<String>, out: &Outcome) -> String {
    if link.is_none() && region.is_none() {
        return "cleared every link: every toxic removed, every proxy enabled".into();
    }
    format!(
        "cleared {}: removed {} toxics, enabled {} proxies",
        scope_words(link, region),
        out.removed,
        out.enabled
    )
}

/// A latency change: the figures the link now holds, or its removal.
fn latency_line(from: &str, to: &str, both: bool, out: &Outcome) -> String {
    let head = format!("latency {from} {} {to}", arrow(both));
    let a = out
        .toxics
        .first()
        .map(|t| t["attributes"].clone())
        .unwrap_or(Json::Null);
    let (l, j) = (
        a["latency"].as_u64().unwrap_or(0),
        a["jitter"].as_u64().unwrap_or(0),
    );
    if l == 0 && j == 0 {
        return format!("{head}: removed");
    }
    let mut line = format!("{head}: {}", show_ms(l));
    if j > 0 {
        let _ = write!(
            line,
            " ± {} ({})",
            show_ms(j),
            a["distribution"].as_str().unwrap_or("uniform")
        );
    }
    line.push_str(" one way");
    line
}

/// Packet loss set on a link, and the retransmission timeout each lost
/// chunk is held for; or its removal.
fn loss_line(
    from: &str,
    to: &str,
    both: bool,
    percent: f64,
    rto: Option<Duration>,
    out: &Outcome,
) -> String {
    let head = format!("loss {from} {} {to}", arrow(both));
    if percent == 0.0 {
        return if out.removed == 0 {
            format!("{head}: no loss was set")
        } else {
            format!("{head}: removed")
        };
    }
    let rto = rto
        .map(|r| r.as_millis() as u64)
        .unwrap_or(meridian_netsim::toxic::DEFAULT_RTO_MS);
    format!(
        "{head}: {percent} % of chunks held one retransmission timeout ({}), and what follows them waits",
        show_ms(rto)
    )
}

/// A cut link, and what its kind does to the connections on it.
fn partition_line(a: &str, b: &str, both: bool, kind: PartitionKind) -> String {
    match kind {
        PartitionKind::Blackhole => format!(
            "partitioned {a} {} {b} (blackhole): every byte from {a} to {b}{} is dropped; connections stay open",
            arrow(both),
            if both { " and back" } else { "" }
        ),
        PartitionKind::Refuse => format!(
            "partitioned {a} {} {b} (refuse): {}; proxy {} disabled",
            arrow(both),
            if both {
                format!("connections between {a} and {b} are reset and refused")
            } else {
                format!(
                    "connections {a} opens to {b} are reset and refused, those {b} opens to {a} stay up"
                )
            },
            scenario::directed(a, b, both)
                .iter()
                .map(|(x, y)| meridian_region::config::link_name(x, y))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// A skewed clock: its offset and drift, and how far the region's HLC
/// now reads from real time.
fn skew_line(region: &str, out: &Outcome) -> String {
    let Some(c) = &out.clock else {
        return format!("skewed {region}'s clock");
    };
    let hlc_ahead_ms = c
        .hlc_now
        .as_ref()
        .map(|v| (v.physical_micros as i128 - c.real_micros as i128) as f64 / 1e3)
        .unwrap_or(0.0);
    format!(
        "skewed {region}'s clock: {:+} ms offset, {:+} ppm drift; its HLC now reads {hlc_ahead_ms:+.1} ms from real time ({})",
        c.offset_micros as f64 / 1e3,
        c.drift_ppm,
        crate::client::json::version_text(&c.hlc_now)
    )
}

fn pid(out: &Outcome) -> Json {
    out.process
        .as_ref()
        .map(|p| p["pid"].clone())
        .unwrap_or(Json::Null)
}

/// A pause of a table's replication at a region, or its end (a pause of
/// no length).
fn pause_line(table: &str, region: &str, duration: Duration, tail: Duration) -> String {
    if duration.is_zero() {
        return format!(
            "ended the pause of {table}'s replication at {region} in every region; each side now pulls what it missed"
        );
    }
    let starts = match tail.as_millis() {
        0 => "now".to_string(),
        ms => format!("after a tail of {}", show_ms(ms as u64)),
    };
    format!(
        "paused replication of {table} into and out of {region} for {}, starting {starts}, in every region; {region} keeps serving it, other tables go on, and at the end each side pulls what it missed",
        show_ms(duration.as_millis() as u64)
    )
}
