//! The bridge between async code and the synchronous SQLite store.
//!
//! SQLite calls block, so async tasks never make them directly. Instead:
//!
//! * **Writes** are jobs sent over a channel to the one writer loop. The loop
//!   takes the first job, drains whatever else is queued (up to
//!   [`MAX_GROUP`]), runs them all in one transaction, commits once and only
//!   then replies to each job. That is the group commit: while one group is
//!   being fsynced the next one queues up, so throughput scales with
//!   concurrency instead of being one fsync per item. Live, when writes and
//!   applies arrive fast enough to fill a larger group within 1.5 ms, it
//!   waits for them first ([`pace`]): fewer, larger commits at everyday
//!   rates.
//! * **Reads** run a closure against one of a fixed set of
//!   [`Reader`](meridian_store::Reader) connections, waiting for one when all
//!   are busy ([`readers`]).
//! * **Shipping** reads the newest log entries from memory: after each
//!   commit the writer hands the group's log entries to the [`Tail`](crate::tail::Tail), and
//!   [`StoreBridge::log_after`] serves from there whenever it reaches back far
//!   enough, reading the store only when it does not.
//!
//! * **Checkpoints** (live only) run on their own thread and connection,
//!   every `CHECKPOINT_EVERY` (25 ms), so commits never copy WAL pages into the
//!   database file themselves.
//!
//! Two modes drive the same code:
//!
//! * [`Mode::Threads`] (live): the writer loop owns a dedicated OS thread and
//!   reads run on tokio's blocking pool, so no async worker ever blocks.
//! * [`Mode::Inline`] (deterministic simulation): turmoil runs every host on
//!   one thread and `block_in_place` panics there, while work on other threads
//!   escapes its control. So the writer loop is an ordinary task and reads run
//!   in place. Blocking the simulation thread is harmless: time is virtual.
//!
//! * **Table definitions** stay in memory between requests ([`catalog`]),
//!   good until the writer says a definition may have changed; workers that
//!   poll the catalog skip their look while it has not
//!   ([`CatalogLook`]).
//!
//! The parts: [`storage`] is the async handle ([`StoreBridge`]), [`job`] what
//! goes to the writer loop and how answers come back, [`pace`] how long the
//! live loop waits to gather a group, [`write_loop`] the loop with its group
//! commit, supervision and checkpoints.

use std::sync::Mutex;

use meridian_store::StoreError;

mod catalog;
mod job;
mod pace;
mod readers;
mod storage;
mod write_loop;

pub use catalog::CatalogLook;
pub use meridian_store::{StrongInstall, Trimmed};
pub use storage::{Opened, StoreBridge};
pub use write_loop::{WriterCtx, WriterTask};

/// Most jobs in one group commit.
pub const MAX_GROUP: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Threads,
    Inline,
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the region's store is shutting down")]
    Closed,
    #[error("group commit failed, nothing in it was stored: {0}")]
    GroupFailed(String),
    /// The writer stopped for good (a panic, or a store it cannot trust);
    /// the region takes no writes until it is restarted.
    #[error("the region's writer has stopped and takes no writes: {0}")]
    WriterFailed(String),
}

/// A poisoned lock only means a panic elsewhere; what it guards stays usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
