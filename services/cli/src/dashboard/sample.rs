//! The sampler: once a second, what `meridian net show` gathers (every
//! region's admin Status, the link proxy's proxies and processes), with
//! the rates and the windowed replication latency between two samples. The
//! newest sample is the snapshot; each one is pushed to the page as a
//! server-sent event; the last minutes of plot points are kept for a page
//! that opens later.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use meridian_proto::v1 as pb;
use serde_json::{Value as Json, json};
use tokio::sync::broadcast;

use super::board::{Board, Shared};
use crate::net::show::{gather, show_json, window_lag};

/// How often the cluster is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The Status answers of one sample, and when they were taken.
struct Previous {
    at: Instant,
    statuses: Vec<Option<pb::StatusResponse>>,
}

/// Samples the cluster every [`SAMPLE_EVERY`] until aborted.
pub async fn run(board: Arc<Board>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<Previous> = None;
    loop {
        tick.tick().await;
        let s = take(&board, &mut previous).await;
        board.samples.record(s);
    }
}

/// One sample: `net show --json`'s document, each region with its Status
/// (as `meridian status --json` prints it), data directory and rates, each
/// link with its latency over the last interval.
async fn take(board: &Board, previous: &mut Option<Previous>) -> Json {
    let began = Instant::now();
    let shown = gather(&board.cluster, &board.control_api(), None).await;
    let at = Instant::now();
    let statuses: Vec<Option<pb::StatusResponse>> = shown
        .statuses
        .iter()
        .map(|s| s.as_ref().map(|(s, _)| s.clone()))
        .collect();
    let mut doc = show_json(&shown);
    let names = board.cluster.region_names();
    if let Some(regions) = doc["regions"].as_array_mut() {
        for (i, r) in regions.iter_mut().enumerate() {
            r["data_dir"] = json!(board.cluster.data_dir.join(&names[i]).display().to_string());
            let Some(s) = &statuses[i] else { continue };
            r["status"] = crate::client::status_json(s);
            let before = previous
                .as_ref()
                .and_then(|p| Some((p.at, p.statuses.get(i)?.as_ref()?)));
            if let Some((then, b)) = before {
                let secs = at.duration_since(then).as_secs_f64();
                r["writes_per_s"] = json!(rate(b.log_head, s.log_head, secs));
                r["applies_per_s"] = json!(rate(applied(b), applied(s), secs));
            }
        }
    }
    if let Some(links) = doc["links"].as_array_mut() {
        for l in links.iter_mut() {
            let (from, to) = (
                l["from"].as_str().unwrap_or(""),
                l["to"].as_str().unwrap_or(""),
            );
            // Latency from → to is measured where it lands, at `to`.
            let Some(j) = names.iter().position(|n| n == to) else {
                continue;
            };
            let window = previous.as_ref().and_then(|p| {
                window_lag(p.statuses.get(j)?.as_ref()?, statuses[j].as_ref()?, from)
            });
            // Partition order's anomalies on this link, as `to` counts them
            // since it started (docs/replication.md, "Lanes").
            let inbound = statuses[j]
                .as_ref()
                .and_then(|s| s.peers.iter().find(|p| p.peer == from))
                .map(|p| {
                    (
                        p.reordered,
                        p.torn_units,
                        p.replicated_write_units,
                        p.throttled_micros,
                    )
                });
            // Coalescing on this link, as `from` counts it since it
            // started (docs/replication.md, "Coalescing").
            let outbound = names
                .iter()
                .position(|n| n == from)
                .and_then(|i| statuses[i].as_ref())
                .and_then(|s| s.peers.iter().find(|p| p.peer == to))
                .map(|p| (p.shipped, p.coalesced));
            l["shipped"] = json!(outbound.map(|c| c.0));
            l["coalesced"] = json!(outbound.map(|c| c.1));
            l["window_p50_ms"] = json!(window.map(|w| w.0));
            l["window_p99_ms"] = json!(window.map(|w| w.1));
            l["reordered"] = json!(inbound.map(|c| c.0));
            l["torn_units"] = json!(inbound.map(|c| c.1));
            // Replicated write units the receiver's provisioned tables paid
            // for `from`'s writes, and its wait for them
            // (docs/replication.md, "Replicated write units").
            l["replicated_write_units"] = json!(inbound.map(|c| c.2));
            l["throttled_ms"] = json!(inbound.map(|c| c.3 / 1000));
        }
    }
    // The failover endpoint, when the cluster file has one: its status as
    // the control API serves it (docs/failover.md).
    if board.cluster.failover.is_some() {
        doc["failover"] = or_null(board.control_api().failover().await);
    }
    // The cluster file's alarms, when it has some: their states as the
    // control API serves them (`meridian up` evaluates them).
    if !board.cluster.alarms.is_empty() {
        doc["alarms"] = or_null(board.control_api().alarms().await);
    }
    // The edge, when the cluster file has one: its counts as its own
    // listener serves them (docs/edge.md); null when it does not answer.
    if let Some(section) = &board.cluster.edge {
        doc["edge"] = meridian_cluster::edge::fetch_status(section)
            .await
            .unwrap_or(Json::Null);
    }
    doc["t_ms"] = json!(wall_ms());
    doc["sample_every_ms"] = json!(SAMPLE_EVERY.as_millis() as u64);
    // How long gathering took: every region's Status and the control API.
    doc["sample_ms"] = json!((at - began).as_secs_f64() * 1e3);
    doc["cluster"] = json!(board.cluster.name);
    doc["control_api"] = json!(board.api);
    *previous = Some(Previous { at, statuses });
    doc
}

/// A document the control API serves, null where it does not answer or
/// serves none.
fn or_null(served: meridian_cluster::Result<Option<Json>>) -> Json {
    served.ok().flatten().unwrap_or(Json::Null)
}

/// Remote writes a region has applied since it started: its inbound
/// latency buckets count one per write of a peer applied here.
fn applied(s: &pb::StatusResponse) -> u64 {
    s.peers.iter().flat_map(|p| &p.latency_buckets).sum()
}

/// Per second between two counter readings; `None` when the counter went
/// back (the region restarted in between).
fn rate(before: u64, after: u64, secs: f64) -> Option<f64> {
    (after >= before && secs > 0.0).then(|| ((after - before) as f64 / secs * 10.0).round() / 10.0)
}

pub(super) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn json_text(text: String) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

/// `GET /api/snapshot`: the newest sample (`null` before the first).
pub async fn snapshot(State(board): Shared) -> Response {
    let latest = board.samples.latest.lock().expect("latest").clone();
    json_text(
        latest
            .map(|t| t.to_string())
            .unwrap_or_else(|| "null".into()),
    )
}

/// `GET /api/history`: the plot points of the last minutes, oldest first.
pub async fn history(State(board): Shared) -> Response {
    let points: Vec<Json> = board
        .samples
        .points
        .lock()
        .expect("points")
        .iter()
        .cloned()
        .collect();
    json_text(Json::Array(points).to_string())
}

/// One open page, counted in [`super::board::Samples::viewers`] while its stream lives.
struct Viewer(Arc<Board>);

impl Viewer {
    fn new(board: Arc<Board>) -> Self {
        board.samples.viewers.send_modify(|n| *n += 1);
        Viewer(board)
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0
            .samples
            .viewers
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// `GET /api/events`: every new sample as a `sample` event, and each
/// region's pulse as a `pulse` event.
pub async fn events(
    State(board): Shared,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let rx = board.samples.events.subscribe();
    let closing = board.samples.closing.subscribe();
    let viewer = Viewer::new(board.clone());
    let state = (rx, closing, viewer);
    let stream = futures::stream::unfold(state, |(mut rx, mut closing, viewer)| async move {
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = closing.wait_for(|c| *c) => return None,
            };
            match next {
                Ok((name, text)) => {
                    let event = Event::default().event(name).data(&*text);
                    return Some((Ok(event), (rx, closing, viewer)));
                }
                // A slow page skips events; the next sample is complete.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_per_second_and_unknown_across_a_restart() {
        assert_eq!(rate(100, 150, 0.5), Some(100.0));
        assert_eq!(rate(100, 100, 1.0), Some(0.0));
        assert_eq!(rate(150, 3, 1.0), None);
        assert_eq!(rate(1, 2, 0.0), None);
    }
}
