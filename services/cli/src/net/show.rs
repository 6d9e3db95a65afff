//! `meridian net show`: every directed link (its faults, connection,
//! pending mutations and lag) and every region (its process and clock),
//! gathered from the control API and the regions' Status, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use meridian_cluster::ControlApi;
use meridian_cluster::faults::halves;
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::ClusterFile;
use serde_json::{Value as Json, json};

use super::render::{show_dur, show_ms};

/// One directed link of `net show`; `None` where it is unknown.
struct LinkRow {
    from: String,
    to: String,
    connected: Option<bool>,
    pending: Option<u64>,
    /// Lag p50 and p99, ms, measured where the bytes land.
    lag: Option<(f64, f64)>,
    /// The link's faults in words ("-" for none); `None` when the control
    /// API did not answer.
    faults: Option<String>,
}

/// A region's process as the control API lists it.
enum Process {
    /// The control API did not answer.
    Unknown,
    /// The API supervises no processes (a bare `meridian netsim`).
    Unsupervised,
    Listed {
        state: String,
        pid: Option<u64>,
    },
}

/// One region of `net show`.
struct RegionRow {
    name: String,
    grpc: String,
    process: Process,
    /// `None` when the region did not answer: it is down.
    status: Option<RegionClock>,
}

struct RegionClock {
    hlc_ahead_ms: f64,
    conflicts: u64,
    refused: u64,
}

/// What `net show` found, before it is rendered as text or JSON.
pub(crate) struct Shown {
    /// Every region's Status in file order, with its HLC's lead over this
    /// machine's clock in ms; `None` for a region that did not answer.
    pub(crate) statuses: Vec<Option<(pb::StatusResponse, f64)>>,
    faults_error: Option<String>,
    lag_label: String,
    window: Option<Duration>,
    links: Vec<LinkRow>,
    regions: Vec<RegionRow>,
}

/// `meridian net show`: every directed link and every region.
pub(crate) async fn gather(
    cluster: &ClusterFile,
    api: &ControlApi,
    window: Option<Duration>,
) -> Shown {
    let names = cluster.region_names();
    let proxies = api.proxies().await;
    // Outer None: unknown (API unreachable); inner None: not supervised.
    let processes = match &proxies {
        Ok(_) => api.regions().await.ok(),
        Err(_) => None,
    };
    let statuses = fetch_statuses(cluster).await;
    let mut lag_label = "since start".to_string();
    let mut windowed: Option<Vec<Option<pb::StatusResponse>>> = None;
    if let Some(w) = window {
        tokio::time::sleep(w).await;
        windowed = Some(statuses_only(fetch_statuses(cluster).await));
        lag_label = format!("over {}", show_dur(w));
    }
    let faults_error = proxies.as_ref().err().map(|e| format!("{e:#}"));
    let empty = BTreeMap::new();
    let proxies = proxies.as_ref().unwrap_or(&empty);
    let mut links = Vec::new();
    for a in &names {
        for b in &names {
            if a == b {
                continue;
            }
            let faults = (!proxies.is_empty()).then(|| describe(proxies, a, b));
            let peer =
                status_of(&statuses, &names, a).and_then(|s| s.peers.iter().find(|p| p.peer == *b));
            // Lag a → b is measured where it lands, at b.
            let lag = match (&windowed, status_of(&statuses, &names, b)) {
                (Some(later), Some(s)) => {
                    let i = names.iter().position(|n| n == b).unwrap_or(0);
                    match later.get(i).and_then(Option::as_ref) {
                        Some(l) => window_lag(s, l, a),
                        None => None,
                    }
                }
                (None, Some(s)) => s
                    .peers
                    .iter()
                    .find(|p| p.peer == *a)
                    .and_then(|p| p.latency)
                    .filter(|l| l.count > 0)
                    .map(|l| (l.p50_ms, l.p99_ms)),
                _ => None,
            };
            links.push(LinkRow {
                from: a.clone(),
                to: b.clone(),
                connected: peer.map(|p| p.connected),
                pending: peer.map(|p| p.pending),
                lag,
                faults,
            });
        }
    }
    let regions = cluster
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| RegionRow {
            name: r.name.clone(),
            grpc: r.grpc.to_string(),
            process: match &processes {
                None => Process::Unknown,
                Some(None) => Process::Unsupervised,
                Some(Some(list)) => match list.iter().find(|p| p["name"] == r.name.as_str()) {
                    Some(p) => Process::Listed {
                        state: p["state"].as_str().unwrap_or("?").to_string(),
                        pid: p["pid"].as_u64(),
                    },
                    None => Process::Unknown,
                },
            },
            status: statuses
                .get(i)
                .and_then(|s| s.as_ref())
                .map(|(s, ahead)| RegionClock {
                    hlc_ahead_ms: *ahead,
                    conflicts: s.conflicts,
                    refused: s.drift_refusals,
                }),
        })
        .collect();
    Shown {
        statuses,
        faults_error,
        lag_label,
        window,
        links,
        regions,
    }
}

/// `net show` as a table.
pub(super) fn show_text(s: &Shown) -> String {
    let mut out = String::new();
    if let Some(e) = &s.faults_error {
        let _ = writeln!(out, "faults unknown: {e}\n");
    }
    let w = s
        .regions
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        * 2
        + 3;
    let _ = writeln!(
        out,
        "{:<w$}  {:<4} {:>8} {:>9} {:>9}  faults (every byte from → to)",
        "link", "conn", "pending", "lag p50", "lag p99"
    );
    for l in &s.links {
        let conn = match l.connected {
            Some(true) => "up",
            Some(false) => "down",
            None => "?",
        };
        let pending = l.pending.map(|p| p.to_string()).unwrap_or("?".into());
        let (p50, p99) = match l.lag {
            Some((p50, p99)) => (format!("{p50:.1}ms"), format!("{p99:.1}ms")),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<w$}  {:<4} {:>8} {:>9} {:>9}  {}",
            format!("{} → {}", l.from, l.to),
            conn,
            pending,
            p50,
            p99,
            l.faults.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(
        out,
        "\npending: mutations `from` has committed that `to` has not applied. lag ({}): real time from commit in `from` to apply in `to`.",
        s.lag_label
    );
    let rw = w.saturating_sub(3) / 2;
    let _ = writeln!(
        out,
        "\n{:<rw$}  {:<21} {:<22} {:>10} {:>9} {:>7}",
        "region", "grpc", "process", "hlc−wall", "conflicts", "refused",
    );
    for r in &s.regions {
        let process = match &r.process {
            Process::Unknown => "?".into(),
            Process::Unsupervised => "not supervised".into(),
            Process::Listed { state, pid } => format!(
                "{state} (pid {})",
                pid.map(|p| p.to_string()).unwrap_or("-".into())
            ),
        };
        let (skew, conflicts, refused) = match &r.status {
            Some(c) => (
                format!("{:+.1}ms", c.hlc_ahead_ms),
                c.conflicts.to_string(),
                c.refused.to_string(),
            ),
            None => ("down".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<rw$}  {:<21} {:<22} {:>10} {:>9} {:>7}",
            r.name, r.grpc, process, skew, conflicts, refused,
        );
    }
    let _ = write!(
        out,
        "\nhlc−wall: how far the region's HLC reads ahead of this machine's clock: its injected skew \
         (meridian net skew), or the newest version it has seen from a skewed peer. \
         refused: remote versions refused by the drift guard."
    );
    out
}

/// `net show --json`: the same, one JSON document; `null` where unknown.
pub(crate) fn show_json(s: &Shown) -> Json {
    let links: Vec<Json> = s
        .links
        .iter()
        .map(|l| {
            json!({
                "from": l.from,
                "to": l.to,
                "connected": l.connected,
                "pending": l.pending,
                "lag_p50_ms": l.lag.map(|(p50, _)| p50),
                "lag_p99_ms": l.lag.map(|(_, p99)| p99),
                "faults": l.faults,
            })
        })
        .collect();
    let regions: Vec<Json> = s
        .regions
        .iter()
        .map(|r| {
            let (state, pid) = match &r.process {
                Process::Unknown => (Json::Null, Json::Null),
                Process::Unsupervised => (json!("not supervised"), Json::Null),
                Process::Listed { state, pid } => (json!(state), json!(pid)),
            };
            json!({
                "name": r.name,
                "grpc": r.grpc,
                "process": state,
                "pid": pid,
                "up": r.status.is_some(),
                "hlc_ahead_ms": r.status.as_ref().map(|c| c.hlc_ahead_ms),
                "conflicts": r.status.as_ref().map(|c| c.conflicts),
                "drift_refusals": r.status.as_ref().map(|c| c.refused),
            })
        })
        .collect();
    json!({
        "faults_error": s.faults_error,
        "lag_window_ms": s.window.map(|w| w.as_millis() as u64),
        "links": links,
        "regions": regions,
    })
}

/// Status of every region in file order, each with its HLC's lead over this
/// machine's clock in ms.
async fn fetch_statuses(cluster: &ClusterFile) -> Vec<Option<(pb::StatusResponse, f64)>> {
    let mut tasks = Vec::new();
    for r in &cluster.regions {
        let url = format!("http://{}", r.admin_dial());
        tasks.push(tokio::spawn(async move {
            let call = async {
                let ch = crate::client::connect::channel(&url).await.ok()?;
                let before = wall_micros();
                let s = AdminClient::new(ch)
                    .status(pb::StatusRequest {})
                    .await
                    .ok()?
                    .into_inner();
                // Measured from when the request left: the region reads its
                // HLC on arrival of the request, and the answer may then be
                // held back (Nagle) for tens of ms, which would make a
                // midpoint read the HLC as behind.
                let ahead = s
                    .hlc_now
                    .as_ref()
                    .map(|v| (v.physical_micros as i128 - before as i128) as f64 / 1e3)
                    .unwrap_or(0.0);
                tracing::debug!(region = %s.region, rtt_ms = (wall_micros() - before) as f64 / 1e3, "status");
                Some((s, ahead))
            };
            tokio::time::timeout(Duration::from_secs(5), call)
                .await
                .ok()
                .flatten()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.ok().flatten());
    }
    out
}

fn statuses_only(v: Vec<Option<(pb::StatusResponse, f64)>>) -> Vec<Option<pb::StatusResponse>> {
    v.into_iter().map(|s| s.map(|(s, _)| s)).collect()
}

fn status_of<'a>(
    statuses: &'a [Option<(pb::StatusResponse, f64)>],
    names: &[String],
    region: &str,
) -> Option<&'a pb::StatusResponse> {
    let i = names.iter().position(|n| n == region)?;
    statuses.get(i)?.as_ref().map(|(s, _)| s)
}

/// p50 and p99 (ms) of lag from `peer`, between two samples of a region.
pub(crate) fn window_lag(
    earlier: &pb::StatusResponse,
    later: &pb::StatusResponse,
    peer: &str,
) -> Option<(f64, f64)> {
    let buckets = |s: &pb::StatusResponse| {
        s.peers
            .iter()
            .find(|p| p.peer == peer)
            .map(|p| p.latency_buckets.clone())
    };
    window_quantiles(&buckets(earlier)?, &buckets(later)?)
}

/// The latency p50 and p99, ms, of what was applied between two readings
/// of one peer's cumulative latency buckets; `None` when nothing was, or
/// the counts went back (the region restarted in between).
pub(crate) fn window_quantiles(earlier: &[u64], later: &[u64]) -> Option<(f64, f64)> {
    let w = meridian_core::lag::window(earlier, later)?;
    let p50 = meridian_core::lag::quantile_micros(&w, 0.5)?;
    let p99 = meridian_core::lag::quantile_micros(&w, 0.99)?;
    Some((p50 as f64 / 1e3, p99 as f64 / 1e3))
}

fn wall_micros() -> u64 {
    use meridian_core::PhysicalClock;
    meridian_core::SystemClock.now_micros()
}

/// One toxic in words.
fn toxic_words(t: &Json) -> String {
    let a = &t["attributes"];
    let n = |k: &str| a[k].as_u64().unwrap_or(0);
    let mut w = match t["type"].as_str().unwrap_or("?") {
        "latency" => {
            let mut s = format!("latency {}", show_ms(n("latency")));
            if n("jitter") > 0 {
                let _ = write!(
                    s,
                    " ± {} {}",
                    show_ms(n("jitter")),
                    a["distribution"].as_str().unwrap_or("uniform")
                );
            }
            s
        }
        "bandwidth" => format!("bandwidth {} KB/s", n("rate")),
        "loss" => format!(
            "loss {} % (rto {})",
            a["percent"].as_f64().unwrap_or(0.0),
            show_ms(n("rto_ms"))
        ),
        "timeout" if n("timeout") == 0 => "blackhole".into(),
        "timeout" => format!("stall, closed after {}", show_ms(n("timeout"))),
        "reset_peer" => format!("reset after {}", show_ms(n("timeout"))),
        "flap" => format!(
            "flapping: down {} of every {}",
            show_ms(n("down_ms")),
            show_ms(n("period_ms"))
        ),
        "slow_close" => format!("slow close {}", show_ms(n("delay"))),
        "limit_data" => format!("closes after {} bytes", n("bytes")),
        other => other.to_string(),
    };
    if let Some(x) = t["toxicity"].as_f64()
        && x < 1.0
    {
        let _ = write!(w, " (on {:.0} % of connections)", x * 100.0);
    }
    w
}

/// The faults of the directed link `a → b` in words: the toxics on the
/// upstream of `a>b` and the downstream of `b>a`, and whether `a>b` refuses.
fn describe(proxies: &BTreeMap<String, Json>, a: &str, b: &str) -> String {
    // Each fault in words, the proxies it is on, and the time it has left.
    let mut words: Vec<(String, Vec<String>, Option<u64>)> = Vec::new();
    let mut refused = false;
    let mut refused_left = None;
    for (proxy, stream) in halves(a, b) {
        let Some(p) = proxies.get(&proxy) else {
            words.push((format!("no proxy {proxy}"), vec![proxy.clone()], None));
            continue;
        };
        let disabled = p["enabled"] == json!(false);
        if stream == "upstream" && disabled {
            refused = true;
            refused_left = p["enable_in_ms"].as_u64();
        }
        for t in p["toxics"].as_array().into_iter().flatten() {
            if t["stream"] != stream {
                continue;
            }
            // A disabled proxy carries nothing; its reset toxic is moot.
            if disabled && t["type"] == "reset_peer" {
                continue;
            }
            let w = toxic_words(t);
            let left = t["remaining_ms"].as_u64();
            match words.iter_mut().find(|(x, _, _)| *x == w) {
                Some((_, on, l)) => {
                    on.push(proxy.clone());
                    *l = (*l).max(left);
                }
                None => words.push((w, vec![proxy.clone()], left)),
            }
        }
    }
    let mut parts: Vec<String> = Vec::new();
    let ends = |left: Option<u64>| match left {
        // Whole seconds, rounded up, once there is a second or more.
        Some(ms) if ms >= 1_000 => format!(" (ends in {})", show_ms(ms.div_ceil(1_000) * 1_000)),
        Some(ms) => format!(" (ends in {})", show_ms(ms)),
        None => String::new(),
    };
    if refused {
        parts.push(format!(
            "refused ({} disabled){}",
            meridian_region::config::link_name(a, b),
            ends(refused_left)
        ));
    }
    for (w, on, left) in words {
        if on.len() == 2 {
            parts.push(format!("{w}{}", ends(left)));
        } else {
            parts.push(format!("{w}{} [via {} only]", ends(left), on.join("")));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directed_link_is_the_upstream_of_its_proxy_and_the_downstream_of_the_reverse() {
        assert_eq!(
            halves("a", "b"),
            [
                ("a>b".to_string(), "upstream"),
                ("b>a".to_string(), "downstream")
            ]
        );
    }

    #[test]
    fn faults_are_described_per_directed_link() {
        let lat = json!({"name": "meridian.latency.upstream", "type": "latency", "stream": "upstream",
            "toxicity": 1.0, "attributes": {"latency": 40, "jitter": 5, "distribution": "normal"}});
        let lat_down = json!({"name": "meridian.latency.downstream", "type": "latency", "stream": "downstream",
            "toxicity": 1.0, "attributes": {"latency": 40, "jitter": 5, "distribution": "normal"}});
        let hole = json!({"name": "x", "type": "timeout", "stream": "upstream",
            "toxicity": 1.0, "attributes": {"timeout": 0}});
        let mut proxies = BTreeMap::new();
        proxies.insert(
            "a>b".to_string(),
            json!({"enabled": true, "toxics": [lat, hole]}),
        );
        proxies.insert(
            "b>a".to_string(),
            json!({"enabled": false, "toxics": [lat_down]}),
        );
        assert_eq!(
            describe(&proxies, "a", "b"),
            "latency 40 ms ± 5 ms normal, blackhole [via a>b only]"
        );
        // b → a: upstream of b>a (disabled, so refused), downstream of a>b (nothing).
        assert_eq!(describe(&proxies, "b", "a"), "refused (b>a disabled)");
        proxies.insert("b>a".to_string(), json!({"enabled": true, "toxics": []}));
        assert_eq!(describe(&proxies, "b", "a"), "-");
    }

    #[test]
    fn a_fault_that_ends_by_itself_shows_the_longer_time_left_of_its_halves() {
        let hole = |stream: &str, left: u64| {
            json!({"name": "x", "type": "timeout", "stream": stream, "toxicity": 1.0,
                "attributes": {"timeout": 0}, "remaining_ms": left})
        };
        let mut proxies = BTreeMap::new();
        proxies.insert(
            "a>b".to_string(),
            json!({"enabled": true, "toxics": [hole("upstream", 2_999)]}),
        );
        proxies.insert(
            "b>a".to_string(),
            json!({"enabled": false, "enable_in_ms": 1_500, "toxics": [hole("downstream", 3_000)]}),
        );
        assert_eq!(describe(&proxies, "a", "b"), "blackhole (ends in 3 s)");
        assert_eq!(
            describe(&proxies, "b", "a"),
            "refused (b>a disabled) (ends in 2 s)"
        );
    }
}
