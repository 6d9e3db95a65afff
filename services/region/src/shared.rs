//! What every service of one region shares ([`Shared`]), and the per-peer
//! shipper state it keeps for the status API. A leaf: it names the parts
//! it holds, none of which names it back, so the services (`ops`,
//! `replication`, `strong`, `admin`, ...) reach it without a loop through
//! `lib.rs`, which starts them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use meridian_core::{Hlc, PhysicalClock, SkewedClock};

use crate::{RegionConfig, StoreBridge};
use crate::{backups, grants, membership, metrics, pause, purge, seed, strong, worker};

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

/// Everything the services of one region share.
pub(crate) struct Shared {
    pub config: RegionConfig,
    pub storage: StoreBridge,
    pub hlc: Arc<Hlc>,
    pub metrics: Arc<metrics::Metrics>,
    pub peers: HashMap<String, Mutex<PeerState>>,
    /// Unskewed time, for TTL expiry and latency.
    pub real_clock: Arc<dyn PhysicalClock>,
    /// The clock the HLC reads; the admin API injects skew here.
    pub skewed_clock: Arc<SkewedClock>,
    /// Every background loop, for status and metrics.
    pub workers: Arc<worker::Workers>,
    /// One anti-entropy round per peer at a time.
    pub repair_locks: HashMap<String, tokio::sync::Mutex<()>>,
    /// Wakes a peer's repair worker: its link (re)connected.
    pub repair_wake: HashMap<String, Arc<tokio::sync::Notify>>,
    /// What purging tombstones needs to know (`purge::Purge`).
    pub purge: purge::Purge,
    /// The peer this run's store was copied from, if it was.
    pub seeded: Option<seed::SeedReport>,
    /// This region's on-demand backups and the restores it ran.
    pub backups: backups::Backups,
    /// The fills and removals of this region's replicas since it started.
    pub membership: membership::Membership,
    /// Strong mode: the STRONG tables this region is a member of.
    pub strong: strong::Strong,
    /// Tables whose replication is paused at a replica (`pause`): the
    /// receiver, strong mode's links and the resume loop read it, the admin
    /// API writes it; a plain mutex, held for a lookup and never across an
    /// await.
    pub pauses: Mutex<pause::Pauses>,
    /// Tables whose replication with a peer the replicas' resource-based
    /// policies withhold (`grants`): the resume loop works it out, the
    /// receiver and repair rounds read it; a plain mutex, as `pauses`.
    pub withheld: Mutex<grants::Withheld>,
}
