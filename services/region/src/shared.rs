//! What every service of one region shares ([`Shared`]), and the per-peer
//! shipper state it keeps for the status API. A leaf: it names the parts
//! it holds, none of which names it back, so the services (`ops`,
//! `replication`, `strong`, `admin`, ...) reach it without a loop through
//! `lib.rs`, which starts them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use meridian_core::{Hlc, PhysicalClock, SkewedClock};

use crate::{RegionConfig, StoreBridge};
use crate::{
    backups, capacity, grants, membership, metrics, pause, purge_claims, seed, strong, worker,
};

/// Shipper state per peer, for the status API.
#[derive(Clone, Debug, Default)]
pub struct PeerState {
    pub connected: bool,
    pub acked: u64,
    /// `acked` was set by a session of this process and is newer than the
    /// stored watermark, which is written only now and then.
    pub acked_live: bool,
    pub last_error: String,
}

/// Everything the services of one region share, behind one `Arc` that each
/// service and task holds for the region's life.
///
/// Each field says why it is the primitive it is. The rule of thumb: what
/// never changes after start is a plain value; what changes is behind the
/// narrowest lock that fits, a `std` mutex when it is held for a lookup and
/// never across an `.await`, a tokio one only when it must be held across
/// one; what another task or thread also holds is an `Arc`.
pub(crate) struct Shared {
    /// The cluster file's view of this region: fixed at start, so read
    /// without a lock.
    pub config: RegionConfig,
    /// The store: a cheap handle (`Clone`) onto the writer thread's job
    /// queue and the reader pool, which do their own locking.
    pub storage: StoreBridge,
    /// The hybrid logical clock: an `Arc` because the writer thread holds
    /// it too (it issues the versions of local writes); it locks inside.
    pub hlc: Arc<Hlc>,
    /// The Prometheus registry and its series: an `Arc` because the
    /// writer, the workers and the gRPC layers count into it as well; each
    /// series is atomic.
    pub metrics: Arc<metrics::Metrics>,
    /// Each peer's shipper state, for the status API. The set of peers is
    /// fixed at start, so the map needs no lock; each entry is a `std`
    /// mutex the shipper updates and status reads, never held across an
    /// `.await`.
    pub peers: HashMap<String, Mutex<PeerState>>,
    /// Unskewed time, for TTL expiry and latency: a shared trait object,
    /// the system clock live and virtual time in the simulator, which the
    /// writer reads too.
    pub real_clock: Arc<dyn PhysicalClock>,
    /// The clock the HLC reads; the admin API injects skew here. Shared
    /// with the HLC, which reads it through its own `Arc`.
    pub skewed_clock: Arc<SkewedClock>,
    /// Every background loop, for status and metrics: an `Arc` because
    /// each worker's handle reports into it from its own task.
    pub workers: Arc<worker::Workers>,
    /// The region's stop signal, for the workers started on demand (a
    /// restore's loader, a strong member's effects).
    pub stop: worker::Stop,
    /// One anti-entropy round per peer at a time: a tokio mutex, since a
    /// round holds it across its calls to the peer; the map is fixed at
    /// start.
    pub repair_locks: HashMap<String, tokio::sync::Mutex<()>>,
    /// Wakes a peer's repair worker: its link (re)connected, or its log was
    /// truncated past what this region applied. An `Arc` because the
    /// repair worker keeps its own handle to wait on; a `Notify` keeps one
    /// wake-up for a worker that is not waiting yet.
    pub repair_wake: HashMap<String, Arc<tokio::sync::Notify>>,
    /// What purging tombstones needs to know (`purge_claims::Purge`): it locks
    /// inside, for counters updated in passing.
    pub purge: purge_claims::Purge,
    /// The peer this run's store was copied from, if it was: set once at
    /// start, read-only after.
    pub seeded: Option<seed::SeedReport>,
    /// This region's on-demand backups and the restores it ran: it locks
    /// inside (a tokio mutex for the one backup taken at a time, `std`
    /// ones for its index).
    pub backups: backups::Backups,
    /// The fills and removals of this region's replicas since it started:
    /// `std` mutexes inside, each held for a copy.
    pub membership: membership::Membership,
    /// Strong mode: the STRONG tables this region is a member of. A handle
    /// onto strong mode's runtime task (a channel) and the state its
    /// callers read, which it locks inside.
    pub strong: strong::Strong,
    /// Tables whose replication is paused at a replica (`pause`): the
    /// receiver, strong mode's links and the resume worker read it, the admin
    /// API writes it; a plain mutex, held for a lookup and never across an
    /// await.
    pub pauses: Mutex<pause::Pauses>,
    /// Tables whose replication with a peer the replicas' resource-based
    /// policies withhold (`grants`): the grants worker (`grants_refresh`)
    /// works it out, the receiver and repair rounds read it, the resume
    /// worker takes the pairs granted again; a plain mutex, as `pauses`.
    pub withheld: Mutex<grants::Withheld>,
    /// This region's provisioned throughput (`capacity`), drawn on by its
    /// DynamoDB endpoint and its replication receivers alike: it locks
    /// inside, a `std` mutex held for a lookup.
    pub capacity: capacity::Capacity,
}
