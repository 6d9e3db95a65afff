//! Replica-set changes that concern this region
//! (`meridian_core::replicas`, docs/replicas.md).
//!
//! A region finds out that it was added to or removed from a table the way
//! it finds out about any catalog change: the replica row reaches its
//! store. From the moment the row is there, its gates follow it: a new
//! replica applies its peers' writes to the table, a removed one refuses
//! local writes and drops its peers'. This worker does the rest:
//!
//! - **Fill.** A replica `CREATING` here runs an anti-entropy round for the
//!   table against every other replica (the digest-driven transfer of
//!   `crate::repair`), which copies what each holds that this region does
//!   not. A write that reached this region before its row did was dropped
//!   here, but its origin holds it, and the origin is one of the peers the
//!   fill pulls from, after the gate opened. Only when every round
//!   succeeded does this region write `ACTIVE`. A round that fails (a peer
//!   down) is tried again on the next pass.
//! - **Removal.** A replica `DELETING` here counts the table's writes in
//!   this region's log that some peer has not applied yet (they are still
//!   shipped: the peers' copies accept them), then writes `DELETED`, which
//!   deletes the local copy in the same transaction.
//!
//! This file keeps what admin `Status` reads ([`Membership`], held in the
//! region's shared state); the worker, which runs with that shared state,
//! is [`changes`], below it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

mod changes;

pub(crate) use changes::Changes;

/// How often the worker looks for replica changes that concern this region.
pub const POLL: Duration = Duration::from_millis(200);

/// One finished fill of a new replica in this region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    pub table: String,
    /// The peers it pulled from.
    pub peers: Vec<String>,
    /// Heads copied into this region.
    pub items: u64,
    /// Bytes received from the peers.
    pub bytes: u64,
    /// From the fill's start to `ACTIVE`.
    pub micros: u64,
    /// When the replica became `ACTIVE` here, µs since the epoch.
    pub active_at: u64,
}

/// One removal of this region's replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub table: String,
    /// Per peer, the table's writes of this region's log it had not
    /// applied when the local copy was deleted: still shipped, not lost.
    pub pending: Vec<(String, u64)>,
    /// When the local copy was deleted, µs since the epoch.
    pub deleted_at: u64,
}

/// A fill of a new replica in this region under way, as admin Status
/// shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillProgress {
    pub table: String,
    /// The replicas it pulls from.
    pub peers: Vec<String>,
    /// Those it has pulled everything from.
    pub done: Vec<String>,
    /// Heads copied and bytes received so far.
    pub items: u64,
    pub bytes: u64,
    /// When the fill started (its duration is read when asked).
    pub started: tokio::time::Instant,
    /// Why the last attempt stopped (a peer down), if it did.
    pub last_error: Option<String>,
}

/// The replica changes of this region under way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub filling: Vec<FillProgress>,
    /// Tables whose replica here is `DELETING`, its copy not yet deleted.
    pub removing: Vec<String>,
}

/// What this region's replica changes did since it started, and what they
/// are doing now.
#[derive(Default)]
pub struct Membership {
    fills: Mutex<Vec<Fill>>,
    removals: Mutex<Vec<Removal>>,
    progress: Mutex<Progress>,
}

impl Membership {
    pub fn fills(&self) -> Vec<Fill> {
        self.fills.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn removals(&self) -> Vec<Removal> {
        self.removals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The fills and removals under way, as the worker last published them.
    pub fn progress(&self) -> Progress {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish(&self, filling: &BTreeMap<String, Filling>, removing: &[String]) {
        let now = Progress {
            filling: filling.iter().map(|(t, f)| f.progress(t)).collect(),
            removing: removing.to_vec(),
        };
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    /// Publishes one fill's progress between two of its rounds.
    fn update_fill(&self, table: &str, f: &Filling) {
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(x) = p.filling.iter_mut().find(|x| x.table == table) {
            *x = f.progress(table);
        }
    }
}

/// A fill under way: it survives failed attempts, so a peer already
/// pulled from is not pulled from again (what it sends later arrives
/// through the log, the gate being open) and the report covers the whole
/// fill.
struct Filling {
    started: tokio::time::Instant,
    peers: Vec<String>,
    done: BTreeSet<String>,
    items: u64,
    bytes: u64,
    last_error: Option<String>,
}

impl Filling {
    fn progress(&self, table: &str) -> FillProgress {
        FillProgress {
            table: table.to_string(),
            peers: self.peers.clone(),
            done: self.done.iter().cloned().collect(),
            items: self.items,
            bytes: self.bytes,
            started: self.started,
            last_error: self.last_error.clone(),
        }
    }
}
