//! The push path of the plots: while a page is open, one admin `Pulse`
//! stream per region (its pending per peer, conflicts and log head, sent by
//! the region when they change, at most every [`PULSE_EVERY_MS`]), each
//! message passed on to the open pages as a `pulse` event. The once-a-second
//! samples still carry everything else; a pulse is the same counters the
//! next sample will show, read earlier, so the page needs no second source
//! of truth. With no page open, no pulse is open either.

use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use serde_json::json;

use super::Board;
use crate::client::channel;

/// How often a region may send: a change reaches the page within this plus
/// the trip, well inside the tenth of a second a live plot wants.
pub const PULSE_EVERY_MS: u32 = 50;
/// How long to wait before opening a region's pulse again after it failed
/// or ended (the region down or restarting).
const RETRY: Duration = Duration::from_millis(500);

/// Follows every region's pulse while a page is open, until aborted.
pub async fn run(board: Arc<Board>) {
    let follows = board
        .cluster
        .region_names()
        .into_iter()
        .map(|name| follow(board.clone(), name));
    futures::future::join_all(follows).await;
}

async fn follow(board: Arc<Board>, name: String) {
    let Ok(entry) = board.cluster.entry(&name) else {
        return;
    };
    let url = format!("http://{}", entry.admin_dial());
    let mut viewers = board.samples.viewers();
    loop {
        if viewers.wait_for(|n| *n > 0).await.is_err() {
            return;
        }
        let opened = async {
            let mut admin = AdminClient::new(channel(&url).await?);
            let stream = admin
                .pulse(pb::PulseRequest {
                    every_ms: PULSE_EVERY_MS,
                })
                .await?
                .into_inner();
            anyhow::Ok(stream)
        };
        if let Ok(mut stream) = opened.await {
            loop {
                let next = tokio::select! {
                    m = stream.message() => m,
                    _ = viewers.wait_for(|n| *n == 0) => break,
                };
                match next {
                    Ok(Some(m)) => board.samples.pulse(event(&name, &m)),
                    _ => break,
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// A pulse as the page reads it: `pending` per link from this region.
fn event(region: &str, m: &pb::PulseMessage) -> serde_json::Value {
    let pending: serde_json::Map<String, serde_json::Value> = m
        .pending
        .iter()
        .map(|p| (p.peer.clone(), json!(p.count)))
        .collect();
    json!({
        "region": region,
        "t_ms": super::sample::wall_ms(),
        "read_at_ms": m.read_at_micros / 1000,
        "log_head": m.log_head,
        "conflicts": m.conflicts,
        "pending": pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pulse_event_names_its_region_and_pending_per_peer() {
        let m = pb::PulseMessage {
            log_head: 9,
            pending: vec![pb::PeerCount {
                peer: "b".into(),
                count: 4,
            }],
            conflicts: 2,
            read_at_micros: 7_000,
        };
        let e = event("a", &m);
        assert_eq!(e["region"], "a");
        assert_eq!(e["pending"], json!({"b": 4}));
        assert_eq!(
            (e["conflicts"].as_u64(), e["log_head"].as_u64()),
            (Some(2), Some(9))
        );
        assert_eq!(e["read_at_ms"], 7);
    }
}
