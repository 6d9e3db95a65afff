//! Builds the secondary indexes added to tables that hold data
//! (`meridian_store`'s index builds, docs/indexes.md).
//!
//! An index created by UpdateTable reaches every region as a catalog row.
//! From that moment the region keeps its entries for every item change; this
//! worker walks the items that were there before, a step at a time through
//! the writer, so writes keep flowing between steps. When the walk reaches
//! the end the index is `ACTIVE` here.

use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use crate::worker::{Stop, Worker};

/// Items one step reads: a step is one group commit's worth of work, so
/// writes queued behind it wait for at most this many, and then get as
/// long again to themselves (see [`run`]).
pub const STEP_ROWS: u64 = 500;

/// How often the worker looks for an index to build when none is.
pub const POLL: Duration = Duration::from_millis(100);

pub(crate) async fn run(shared: Arc<Shared>, worker: Worker, mut stop: Stop) {
    worker.idle();
    loop {
        let started = tokio::time::Instant::now();
        match shared.storage.build_indexes(STEP_ROWS).await {
            Ok(0) => worker.idle(),
            Ok(_) => {
                worker.running();
                // More to build. The writer gets as long again for the
                // writes queued meanwhile: a build takes at most half of
                // its time, so a build slows writes down, never stops them.
                tokio::select! {
                    _ = stop.raised() => return,
                    _ = tokio::time::sleep(started.elapsed()) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "index build step failed; trying again");
                worker.erroring(&e);
            }
        }
        tokio::select! {
            _ = stop.raised() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
