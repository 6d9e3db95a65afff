//! Log truncation: a region deletes the oldest entries of its log once
//! every peer has applied them and they are past the retention, or once the
//! log outgrows its maximum (docs/repair.md, "Log truncation"). What to
//! keep is `meridian_core::epoch::keep_from`; this is the worker that reads
//! the watermarks and asks the writer to delete.

use std::sync::Arc;

use meridian_core::epoch::keep_from;

use crate::Shared;
use crate::worker::{Stop, Worker};

/// Truncates every `LogRetention::every` until the region stops, a batch
/// at a time until the log keeps only what it must.
pub(crate) async fn run_truncator(shared: Arc<Shared>, worker: Worker, mut stop: Stop) {
    let retention = shared.config.log_retention.clone();
    let peers: Vec<String> = shared.config.peers.iter().map(|p| p.name.clone()).collect();
    worker.idle();
    loop {
        tokio::select! {
            _ = stop.raised() => return,
            _ = tokio::time::sleep(retention.every) => {}
        }
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
        if keep <= start {
            worker.idle();
            continue;
        }
        worker.running();
        // One batch per writer job, so writes go on between them, and
        // batch after batch until caught up: a log written faster than one
        // batch per pass still stays bounded.
        loop {
            match shared.storage.truncate_log(keep, retention.batch).await {
                Ok(n) => {
                    shared.metrics.log_truncated.inc_by(n);
                    tracing::debug!(deleted = n, keep_from = keep, "truncated the log");
                    if n < retention.batch {
                        worker.idle();
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "log truncation failed; retrying");
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
