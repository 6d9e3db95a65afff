//! Truncation: a region deletes the oldest entries of its log once every
//! peer has applied them and they are past the retention, or once the log
//! outgrows its maximum (docs/repair.md, "Log truncation"), and the conflict
//! records past their retention (count and age), and purges the tombstones
//! that every replica holds (`crate::purge_claims`). What to keep of the log is
//! `meridian_core::epoch::keep_from`; this is the worker that reads the
//! watermarks and asks the writer to delete.

use std::sync::Arc;

use meridian_core::Timestamp;
use meridian_core::epoch::keep_from;

use crate::Shared;
use crate::bridge::BridgeError;
use crate::config::Retention;
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// The newest timestamp at least `age` old at `now` (microseconds).
fn aged(now: u64, age: std::time::Duration) -> Timestamp {
    Timestamp::new(now.saturating_sub(age.as_micros() as u64), u32::MAX)
}

/// The truncator: every `Retention::every` it works out what may go, then
/// deletes it a batch at a time (one step each, [`crate::runner`] drives
/// them) until the log keeps only what it must.
pub(crate) struct Truncator {
    shared: Arc<Shared>,
    retention: Retention,
    peers: Vec<String>,
    /// The pass under way, between its batches.
    pass: Option<Pass>,
}

/// What one pass deletes, worked out at its start.
#[derive(Clone, Copy)]
struct Pass {
    now: u64,
    horizon: Option<Timestamp>,
    keep: u64,
    start: u64,
    too_old: u64,
}

impl Truncator {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Truncator {
            retention: shared.config.retention.clone(),
            peers: shared.config.peers.iter().map(|p| p.name.clone()).collect(),
            shared,
            pass: None,
        }
    }

    /// Reads the watermarks and the log's ends, and works out the pass.
    async fn plan(&self, worker: &Worker) -> Result<Pass, BridgeError> {
        let (shared, retention) = (&self.shared, &self.retention);
        let now = shared.real_clock.now_micros();
        let horizon = shared
            .purge
            .horizon(&shared.config.name, &self.peers)
            .map(|h| h.min(aged(now, retention.tombstone_age)));
        let peers = self.peers.clone();
        let (head, start, acked) = shared
            .storage
            .read(move |r| {
                let marks = r.watermarks()?;
                let acked: Vec<u64> = peers
                    .iter()
                    .map(|p| marks.get(p).copied().unwrap_or(0))
                    .collect();
                Ok((r.log_head()?, r.log_start()?, acked))
            })
            .await?;
        let keep = keep_from(
            head,
            &acked,
            retention.retain_entries,
            retention.max_entries,
        );
        let too_old = now.saturating_sub(retention.conflict_age.as_micros() as u64);
        worker.running();
        Ok(Pass {
            now,
            horizon,
            keep,
            start,
            too_old,
        })
    }
}

impl Work for Truncator {
    type Error = BridgeError;

    async fn work(&mut self, worker: &Worker) -> Result<Next, BridgeError> {
        let p = match self.pass.take() {
            Some(p) => p,
            None => self.plan(worker).await?,
        };
        let (shared, retention) = (&self.shared, &self.retention);
        let conflicts = (retention.conflict_records, p.too_old);
        match shared
            .storage
            .truncate(
                p.keep.max(p.start),
                conflicts,
                p.horizon,
                p.now
                    .saturating_sub(retention.stream_age.as_micros() as u64),
                retention.batch,
            )
            .await
        {
            Ok(t) => {
                shared.metrics.log_truncated.inc_by(t.log);
                shared.metrics.tombstones_purged.inc_by(t.tombstones);
                tracing::debug!(
                    log = t.log,
                    records = t.conflicts,
                    tombstones = t.tombstones,
                    keep_from = p.keep,
                    horizon = ?p.horizon,
                    "truncated the log, the conflict records and the tombstones"
                );
                let most = [t.log, t.conflicts, t.tombstones, t.history, t.stream];
                if most.into_iter().max().unwrap_or(0) < retention.batch {
                    return Ok(Next::Idle);
                }
                self.pass = Some(p);
                Ok(Next::Again)
            }
            Err(e) => {
                tracing::warn!(error = %e, "truncation failed; retrying");
                Err(e)
            }
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.retention.every).await
    }
}
