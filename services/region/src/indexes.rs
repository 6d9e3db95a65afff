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
use crate::bridge::{BridgeError, CatalogLook};
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// Items one step reads: a step is one group commit's worth of work, so
/// writes queued behind it wait for at most this many, and then get as
/// long again to themselves (see [`Builder`]).
pub const STEP_ROWS: u64 = 500;

/// How often the worker looks for an index to build when none is.
pub const POLL: Duration = Duration::from_millis(100);

/// The index builder: a step of [`STEP_ROWS`] items at a time while an
/// index is being built, a look every [`POLL`] while none is, once the
/// catalog has changed since a look found none ([`crate::runner`] drives
/// it). An index to build is always a catalog change: its row arriving.
pub(crate) struct Builder {
    shared: Arc<Shared>,
    look: CatalogLook,
}

impl Builder {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Builder {
            shared,
            look: CatalogLook::default(),
        }
    }
}

impl Work for Builder {
    type Error = BridgeError;
    const AT_START: bool = true;

    async fn work(&mut self, _: &Worker) -> Result<Next, BridgeError> {
        let Some(epoch) = self.look.due(self.shared.storage.catalog_epoch()) else {
            return Ok(Next::Idle);
        };
        let started = tokio::time::Instant::now();
        match self.shared.storage.build_indexes(STEP_ROWS).await {
            Ok(0) => {
                self.look.settled(epoch);
                Ok(Next::Idle)
            }
            // More to build. The writer gets as long again for the
            // writes queued meanwhile: a build takes at most half of
            // its time, so a build slows writes down, never stops them.
            Ok(_) => Ok(Next::After(started.elapsed())),
            Err(e) => {
                tracing::warn!(error = %e, "index build step failed; trying again");
                Err(e)
            }
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(POLL).await
    }
}
