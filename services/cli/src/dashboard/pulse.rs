//! The push path of the plots: while a page is open, one admin `Pulse`
//! stream per region (its pending per peer, conflicts, log head and
//! inbound latency buckets, sent by the region when they change, at most
//! every [`PULSE_EVERY_MS`]), each message passed on to the open pages as a
//! `pulse` event, with the latency of what each link delivered since the
//! region's previous message. The once-a-second
//! samples still carry everything else; a pulse is the same counters the
//! next sample will show, read earlier, so the page needs no second source
//! of truth. With no page open, no pulse is open either.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use serde_json::json;

use super::board::Board;
use crate::client::channel;
use crate::net::show::window_quantiles;

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
            // Each peer's buckets at the previous message: a message's
            // latency is that of what arrived since (none for the first).
            let mut before: HashMap<String, Vec<u64>> = HashMap::new();
            loop {
                let next = tokio::select! {
                    m = stream.message() => m,
                    _ = viewers.wait_for(|n| *n == 0) => break,
                };
                match next {
                    Ok(Some(m)) => {
                        board.samples.pulse(event(&name, &m, &before));
                        let latency = m.latency.into_iter();
                        before = latency.map(|l| (l.peer, l.buckets)).collect();
                    }
                    _ => break,
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// A pulse as the page reads it: `pending` per link from this region, and
/// `lag` per link into it: the p50 and p99 (ms) of what it applied from
/// that peer since its previous message (`since`, the buckets then),
/// absent where nothing was.
fn event(
    region: &str,
    m: &pb::PulseMessage,
    since: &HashMap<String, Vec<u64>>,
) -> serde_json::Value {
    let pending: serde_json::Map<String, serde_json::Value> = m
        .pending
        .iter()
        .map(|p| (p.peer.clone(), json!(p.count)))
        .collect();
    let lag: serde_json::Map<String, serde_json::Value> = m
        .latency
        .iter()
        .filter_map(|l| {
            let (p50, p99) = window_quantiles(since.get(&l.peer)?, &l.buckets)?;
            Some((l.peer.clone(), json!({"p50": p50, "p99": p99})))
        })
        .collect();
    json!({
        "region": region,
        "t_ms": super::sample::wall_ms(),
        "read_at_ms": m.read_at_micros / 1000,
        "log_head": m.log_head,
        "conflicts": m.conflicts,
        "pending": pending,
        "lag": lag,
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
            latency: Vec::new(),
        };
        let e = event("a", &m, &HashMap::new());
        assert_eq!(e["region"], "a");
        assert_eq!(e["pending"], json!({"b": 4}));
        assert_eq!(
            (e["conflicts"].as_u64(), e["log_head"].as_u64()),
            (Some(2), Some(9))
        );
        assert_eq!(e["read_at_ms"], 7);
        assert_eq!(e["lag"], json!({}));
    }

    /// The latency a pulse shows per link is that of what arrived since
    /// the previous message: its buckets less those; a link with nothing
    /// new, or whose counts went back (a restart), shows none.
    #[test]
    fn a_pulse_shows_the_latency_of_what_arrived_since_the_sample() {
        use meridian_core::lag::{BUCKETS, bucket_of};
        let with = |at: &[(u64, u64)]| {
            let mut b = vec![0; BUCKETS];
            for &(micros, n) in at {
                b[bucket_of(micros)] += n;
            }
            b
        };
        let since = HashMap::from([
            ("b".to_string(), with(&[(1_000, 500)])),
            ("c".to_string(), with(&[(1_000, 7)])),
            ("d".to_string(), with(&[(1_000, 9)])),
        ]);
        let peer = |p: &str, buckets| pb::PeerBuckets {
            peer: p.into(),
            buckets,
        };
        let m = pb::PulseMessage {
            latency: vec![
                // 100 new applies at 40 ms on top of the sample's 500 at 1 ms.
                peer("b", with(&[(1_000, 500), (40_000, 100)])),
                peer("c", with(&[(1_000, 7)])),
                peer("d", with(&[(1_000, 2)])),
            ],
            ..Default::default()
        };
        let e = event("a", &m, &since);
        let lag = e["lag"].as_object().unwrap();
        assert_eq!(lag.keys().collect::<Vec<_>>(), ["b"], "{e}");
        let p99 = lag["b"]["p99"].as_f64().unwrap();
        assert!((40.0..45.0).contains(&p99), "{e}");
    }
}
