//! Truncation: a region deletes the oldest entries of its log once every
//! peer has applied them and they are past the retention, or once the log
//! outgrows its maximum (docs/repair.md, "Log truncation"), and the conflict
//! records past their retention (count and age), and purges the tombstones
//! that every replica holds (`crate::purge`). What to keep of the log is
//! `meridian_core::epoch::keep_from`; this is the worker that reads the
//! watermarks and asks the writer to delete.

use std::sync::Arc;

use meridian_core::Timestamp;
use meridian_core::epoch::keep_from;

use crate::Shared;
use crate::worker::{Stop, Worker};

/// The newest timestamp at least `age` old at `now` (microseconds).
fn aged(now: u64, age: std::time::Duration) -> Timestamp {
    Timestamp::new(now.saturating_sub(age.as_micros() as u64), u32::MAX)
}

/// Truncates every `Retention::every` until the region stops, a batch
/// at a time until the log keeps only what it must.
pub(crate) async fn run_truncator(shared: Arc<Shared>, worker: Worker, mut stop: Stop) {
    let retention = shared.config.retention.clone();
    let peers: Vec<String> = shared.config.peers.iter().map(|p| p.name.clone()).collect();
    worker.idle();
    loop {
        tokio::select! {
            _ = stop.raised() => return,
            _ = tokio::time::sleep(retention.every) => {}
        }
        let now = shared.real_clock.now_micros();
        let horizon = shared
            .purge
            .horizon(&shared.config.name, &peers)
            .map(|h| h.min(aged(now, retention.tombstone_age)));
        let peers = peers.clone();
        // Durable watermarks only: an entry goes once every peer has it on disk.
        let read = shared
            .storage
            .read(move |r| {
                let marks = r.watermarks()?;
                let acked: Vec<u64> = peers
                    .iter()
                    .map(|p| marks.get(p).copied().unwrap_or(0))
                    .collect();
                Ok((r.log_head()?, r.log_start()?, acked))
            })
            .await;
        let (head, start, acked) = match read {
            Ok(x) => x,
            Err(e) => {
                worker.erroring(e);
                continue;
            }
        };
        let keep = keep_from(
            head,
            &acked,
            retention.retain_entries,
            retention.max_entries,
        );
        let too_old = now.saturating_sub(retention.conflict_age.as_micros() as u64);
        worker.running();
        // One batch per writer job, so writes go on between them, and
        // batch after batch until caught up: a log written faster than one
        // batch per pass still stays bounded.
        loop {
            let conflicts = (retention.conflict_records, too_old);
            match shared
                .storage
                .truncate(
                    keep.max(start),
                    conflicts,
                    horizon,
                    now.saturating_sub(retention.stream_age.as_micros() as u64),
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
                        keep_from = keep,
                        ?horizon,
                        "truncated the log, the conflict records and the tombstones"
                    );
                    let most = [t.log, t.conflicts, t.tombstones, t.history, t.stream];
                    if most.into_iter().max().unwrap_or(0) < retention.batch {
                        worker.idle();
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "truncation failed; retrying");
                    worker.erroring(e);
                    break;
                }
            }
            if stop.is_raised() {
                return;
            }
        }
    }
}
