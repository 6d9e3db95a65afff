//! Anti-entropy: regions compare their digest trees and pull what differs
//! (docs/repair.md).
//!
//! Replication through the log converges as long as every entry reaches
//! every replica. Repair covers what the log cannot: a region that lost its
//! disk (its own earlier writes live on only in peers' stores), a store
//! restored from a copy, a peer that missed what a log no longer holds.
//!
//! A round compares one peer's trees with this region's, top-down: roots,
//! then the children of differing nodes, then the heads of small differing
//! nodes, and fetches the heads the peer holds newer (or alone), which the
//! normal LWW apply takes or leaves ([`meridian_store::Group::repair`]).
//! Rounds only pull: every region runs them against every peer, so what
//! this region holds newer reaches the peer through the peer's own rounds.
//!
//! - [`plan`]: the decisions, pure.
//! - [`round`]: one round against one peer, and the per-peer worker that
//!   runs rounds on a period, after a link (re)connects, and on demand.
//! - [`server`]: the `Repair` service peers call; it keeps no state.

pub mod plan;
pub mod round;
pub mod server;

use meridian_core::digest::{NodeId, Summary};
use meridian_proto::v1 as pb;

pub use round::TableReport;
pub(crate) use round::run_repairer;
pub use server::RepairApi;

fn node_to_pb(n: NodeId) -> pb::Node {
    pb::Node {
        level: u32::from(n.level),
        index: n.index,
    }
}

/// A node a peer names, validated.
fn node_from_pb(n: &pb::Node, field: &str) -> Result<NodeId, String> {
    let level =
        u8::try_from(n.level).map_err(|_| format!("{field}.level: {} is too deep", n.level))?;
    NodeId::new(level, n.index).map_err(|e| format!("{field}: {e}"))
}

fn summary_to_pb(n: NodeId, s: Summary) -> pb::NodeSummary {
    pb::NodeSummary {
        node: Some(node_to_pb(n)),
        hash: s.hash.to_be_bytes().to_vec(),
        live: s.live,
        tombstones: s.tombstones,
    }
}

/// A node summary a peer sent, validated.
fn summary_from_pb(s: &pb::NodeSummary, field: &str) -> Result<(NodeId, Summary), String> {
    let node = s
        .node
        .as_ref()
        .ok_or_else(|| format!("{field}.node is missing"))?;
    let node = node_from_pb(node, &format!("{field}.node"))?;
    Ok((
        node,
        Summary {
            hash: hash_from(&s.hash, &format!("{field}.hash"))?,
            live: s.live,
            tombstones: s.tombstones,
        },
    ))
}

/// A 128-bit hash sent as 16 big-endian bytes.
fn hash_from(b: &[u8], field: &str) -> Result<u128, String> {
    let b: [u8; 16] = b
        .try_into()
        .map_err(|_| format!("{field} must be 16 bytes, got {}", b.len()))?;
    Ok(u128::from_be_bytes(b))
}
