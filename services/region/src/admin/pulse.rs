//! `Pulse`: this region's cheap counters pushed as they change, for the
//! dashboard's plots (docs/dashboard.md). Each open pulse reads them once
//! per interval (the log head, the peers' acknowledged positions and the
//! count of conflicts: a few rows, never a scan) and sends them only when
//! one moved, so an idle cluster sends nothing and a busy one at most one
//! message per interval. A region serves at most [`MAX_PULSES`] at once.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use meridian_proto::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::Shared;
use crate::status::status_from;
use crate::worker::Stop;

pub type PulseStream = Pin<Box<dyn Stream<Item = Result<pb::PulseMessage, Status>> + Send>>;

/// Pulses one region serves at once: a dashboard opens one per region.
pub const MAX_PULSES: usize = 16;
/// The interval a request may ask for, and the one it gets without asking.
pub const EVERY_MS: std::ops::RangeInclusive<u32> = 20..=1000;
pub const DEFAULT_EVERY_MS: u32 = 50;

/// Checks the request's interval: `every_ms` named with its range.
pub fn interval(every_ms: u32) -> Result<Duration, Status> {
    match every_ms {
        0 => Ok(Duration::from_millis(DEFAULT_EVERY_MS.into())),
        n if EVERY_MS.contains(&n) => Ok(Duration::from_millis(n.into())),
        n => Err(Status::invalid_argument(format!(
            "every_ms: {n} is outside {} to {} (0 for {DEFAULT_EVERY_MS})",
            EVERY_MS.start(),
            EVERY_MS.end()
        ))),
    }
}

/// Starts a pulse: ends when the client goes or the region stops.
pub fn start(
    shared: Arc<Shared>,
    slots: &Arc<tokio::sync::Semaphore>,
    mut stop: Stop,
    every: Duration,
) -> Result<PulseStream, Status> {
    let permit = slots.clone().try_acquire_owned().map_err(|_| {
        Status::resource_exhausted(format!(
            "Pulse: {MAX_PULSES} are open on this region already, the most it serves at once"
        ))
    })?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let _permit = permit;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sent: Option<pb::PulseMessage> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tx.closed() => return,
                _ = stop.raised() => return,
            }
            let now = match read(&shared).await {
                Ok(m) => m,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if sent.as_ref().is_some_and(|s| same(s, &now)) {
                continue;
            }
            sent = Some(now.clone());
            if tx.send(Ok(now)).await.is_err() {
                return;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// Whether two readings hold the same counters (when they were read aside).
fn same(a: &pb::PulseMessage, b: &pb::PulseMessage) -> bool {
    a.log_head == b.log_head
        && a.pending == b.pending
        && a.conflicts == b.conflicts
        && a.latency == b.latency
}

/// The counters now: pending per peer as Status computes it
/// (`super::pending::refresh_pending`), the log head, the conflicts recorded and
/// the inbound latency buckets per peer (in memory, as Status reads them).
async fn read(shared: &Shared) -> Result<pb::PulseMessage, Status> {
    let rows = super::pending::refresh_pending(shared).await?;
    let (log_head, conflicts) = shared
        .storage
        .read(|r| Ok((r.log_head()?, r.conflict_count()?)))
        .await
        .map_err(status_from)?;
    let latency = rows
        .iter()
        .map(|(peer, ..)| pb::PeerBuckets {
            peer: peer.clone(),
            buckets: shared.metrics.latency_buckets(peer),
        })
        .collect();
    Ok(pb::PulseMessage {
        log_head,
        pending: rows
            .into_iter()
            .map(|(peer, _, count)| pb::PeerCount { peer, count })
            .collect(),
        conflicts,
        read_at_micros: shared.real_clock.now_micros(),
        latency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_checked_and_named() {
        assert_eq!(interval(0).unwrap(), Duration::from_millis(50));
        assert_eq!(interval(20).unwrap(), Duration::from_millis(20));
        assert_eq!(interval(1000).unwrap(), Duration::from_millis(1000));
        for n in [1, 19, 1001] {
            let e = interval(n).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().starts_with("every_ms: "), "{}", e.message());
        }
    }
}
