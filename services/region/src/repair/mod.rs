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

use meridian_core::digest::{FANOUT, NodeId, Summary};
use meridian_proto::v1 as pb;

pub(crate) use round::Repairer;
pub use round::TableReport;
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

/// The non-empty children of one node, packed for a `Children` answer.
fn children_to_pb(children: &[(NodeId, Summary)]) -> pb::ChildSummaries {
    let mut out = pb::ChildSummaries::default();
    for (n, s) in children.iter().filter(|(_, s)| s.live + s.tombstones > 0) {
        out.present |= 1u32 << (n.index % u64::from(FANOUT));
        out.hashes.extend_from_slice(&s.hash.to_be_bytes());
        out.counts.extend([s.live, s.tombstones]);
    }
    out
}

/// The children of `parent` as a peer packed them, validated: every field
/// must agree with `present`.
fn children_from_pb(
    parent: NodeId,
    c: &pb::ChildSummaries,
    field: &str,
) -> Result<Vec<(NodeId, Summary)>, String> {
    if c.present >> FANOUT != 0 {
        return Err(format!(
            "{field}.present: {:#x} names a child past the {FANOUT} a node has",
            c.present
        ));
    }
    let n = c.present.count_ones() as usize;
    if c.hashes.len() != 16 * n {
        return Err(format!(
            "{field}.hashes: {} bytes for {n} children, 16 each",
            c.hashes.len()
        ));
    }
    if c.counts.len() != 2 * n {
        return Err(format!(
            "{field}.counts: {} numbers for {n} children, 2 each",
            c.counts.len()
        ));
    }
    let children = parent.children();
    let mut out = Vec::with_capacity(n);
    let mut k = 0;
    for (i, child) in children.enumerate() {
        if c.present & (1 << i) == 0 {
            continue;
        }
        out.push((
            child,
            Summary {
                hash: hash_from(&c.hashes[16 * k..16 * (k + 1)], &format!("{field}.hashes"))?,
                live: c.counts[2 * k],
                tombstones: c.counts[2 * k + 1],
            },
        ));
        k += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_children_round_trip_and_malformed_ones_name_the_field() {
        let parent = NodeId::new(3, 0x7a1).unwrap();
        let children: Vec<(NodeId, Summary)> = parent
            .children()
            .enumerate()
            .map(|(i, c)| {
                let n = if i % 3 == 0 { 0 } else { i as u64 };
                (
                    c,
                    Summary {
                        hash: u128::from(n) << 70 | 5,
                        live: n,
                        tombstones: n / 2,
                    },
                )
            })
            .collect();
        let packed = children_to_pb(&children);
        let back = children_from_pb(parent, &packed, "nodes[0]").unwrap();
        let non_empty: Vec<_> = children
            .into_iter()
            .filter(|(_, s)| s.live + s.tombstones > 0)
            .collect();
        assert_eq!(back, non_empty);

        let mut bad = packed.clone();
        bad.present |= 1 << 16;
        let e = children_from_pb(parent, &bad, "nodes[2]").unwrap_err();
        assert!(e.starts_with("nodes[2].present"), "{e}");
        let mut bad = packed.clone();
        bad.hashes.pop();
        let e = children_from_pb(parent, &bad, "nodes[0]").unwrap_err();
        assert!(
            e.starts_with("nodes[0].hashes") && e.contains("16 each"),
            "{e}"
        );
        let mut bad = packed;
        bad.counts.push(1);
        let e = children_from_pb(parent, &bad, "nodes[0]").unwrap_err();
        assert!(e.starts_with("nodes[0].counts"), "{e}");
    }
}
