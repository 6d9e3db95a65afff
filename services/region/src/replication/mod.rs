//! Replication: per-peer shippers and the receiver.
//!
//! A shipper streams this region's log (its own writes and relayed catalog
//! changes; docs/store.md) to one peer over a long-lived bidirectional
//! gRPC stream, keeping up to `window` batches in flight. The receiver
//! applies each batch through the storage bridge and acknowledges the
//! sender position it has durably applied; the shipper records that as the
//! peer's watermark. On reconnect the receiver's `Welcome` names its durable
//! position, so nothing is lost and redelivered entries have no effect.
//!
//! By default the receiver makes entries visible in DynamoDB's
//! partition-parallel order ([`lanes`]): per item in order, across items
//! and within a transaction not; `replication_order = "log"` applies whole
//! units in commit order instead, for comparison.
//!
//! When the receiver refuses an entry (drift guard, or a table it does not
//! know yet), it acknowledges the prefix it applied and ends the stream; the
//! shipper waits and resumes from that position. In log order nothing after
//! a refused entry is ever applied ahead of it; in partition order nothing
//! of its lane is.
//!
//! The protocol lives in two pure state machines, [`shipper::Shipper`] and
//! [`receiver::Receiver`]: events in, actions out, no network, store or
//! clock. Each runs over tonic in a file named for its direction:
//! [`outbound`] ships this region's log to a peer, [`inbound`] receives a
//! peer's; tonic serves live regions and the turmoil simulation alike (only
//! the transport differs; see [`crate::transport`]). What a peer sends is
//! checked by [`crate::untrusted`], which strong mode's messages share.
//! Golden scripts in `testdata/` pin the machines' behaviour.

pub mod coalesce;
pub mod inbound;
pub mod lanes;
pub mod outbound;
pub mod receiver;
pub mod shipper;

#[cfg(test)]
mod scripts;

pub use crate::untrusted::{BatchError, Origins, batch_bytes, decode_batch};
pub use inbound::ReplicationApi;
pub use lanes::{LaneModel, MAX_PARTITIONS, ReplicationOrder};
pub(crate) use outbound::{raise_clock, run_shipper};
pub use receiver::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, PROTOCOL};
pub use shipper::ReplicationTuning;

/// gRPC message size limit for replication streams: above the batch
/// budget ([`MAX_BATCH_BYTES`]), so that a batch over it reaches the
/// receiver's own check and is refused as `over_budget`, with its size;
/// only what is far beyond any batch is cut off by the transport from its
/// length prefix.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// A random source for one link and one use (`between` tells the uses
/// apart): seeded from the config's seed when it carries one, so
/// simulations replay; else from the OS.
pub(crate) fn link_rng(
    config: &crate::RegionConfig,
    peer: &str,
    between: &str,
) -> rand::rngs::SmallRng {
    use rand::SeedableRng;
    match config.seed {
        Some(seed) => {
            // FNV-1a over the link's names: stable across runs and builds.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
            for b in config
                .name
                .bytes()
                .chain(between.bytes())
                .chain(peer.bytes())
            {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            rand::rngs::SmallRng::seed_from_u64(h)
        }
        None => rand::rngs::SmallRng::from_os_rng(),
    }
}
