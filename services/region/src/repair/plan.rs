//! The comparison's decisions, pure: which nodes differ, whether to
//! descend into a differing node, list its heads or fetch all of it, and
//! which keys to fetch once heads are listed. The round ([`super::round`])
//! does the reading and the calls.

use std::collections::{BTreeMap, BTreeSet};

use meridian_core::EncodedKey;
use meridian_core::Timestamp;
use meridian_core::digest::{MAX_LEVEL, NodeId, Summary};
use meridian_core::purge::bytes_above;

/// Most nodes one `Children`, `Heads` or `Fetch` request may name.
pub const MAX_NODES: usize = 4096;
/// Most heads one `Heads` answer may hold: a caller that meets the limit
/// asks for children instead.
pub const MAX_HEADS: usize = 100_000;
/// Most keys one `Fetch` request may name, and most entries one `Fetch`
/// answer holds: what one replication batch may hold, since fetched heads
/// are validated as a batch.
pub const MAX_KEYS: usize = crate::replication::MAX_BATCH_ENTRIES;
/// About how many bytes of entries one `Fetch` answer carries.
pub const FETCH_BYTES: usize = 4 << 20;
/// A differing node holding at most this many heads on either side is
/// compared head by head. A listed head costs about 60 bytes (its key,
/// version and hash); another level costs 16 packed child summaries of
/// about 20 bytes, after which a differing child usually holds one or two
/// heads: past six heads, descending is cheaper.
pub const LIST_AT_MOST: u64 = 6;

/// What to do about a node whose summaries differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Compare its children.
    Descend,
    /// Compare its heads, key by key.
    List,
    /// This region holds nothing below it: fetch everything the peer holds there.
    FetchAll,
}

/// The step for `node`, given its summary here and at the peer; `None`
/// when they are equal, or when the peer holds nothing there: a pull has
/// nothing to take, and the peer pulls from us in its own rounds. Unless
/// the peer `purged` tombstones: then what only this region holds may be
/// what they deleted, and is listed to be checked (`diff_heads`).
pub fn step(node: NodeId, local: Summary, remote: Summary, purged: bool) -> Option<Step> {
    let count = |s: Summary| s.live + s.tombstones;
    if local == remote || (count(remote) == 0 && !purged) {
        return None;
    }
    Some(if count(local) == 0 {
        Step::FetchAll
    } else if count(local).max(count(remote)) <= LIST_AT_MOST || node.level >= MAX_LEVEL {
        Step::List
    } else {
        Step::Descend
    })
}

/// The children of one compared level that differ: each with its summary
/// here and at the peer. `local` holds every child of the parents compared
/// (empty ones too); `remote` the peer's non-empty ones.
pub fn differing(
    local: &[(NodeId, Summary)],
    remote: &[(NodeId, Summary)],
) -> Vec<(NodeId, Summary, Summary)> {
    let remote: BTreeMap<NodeId, Summary> = remote.iter().copied().collect();
    local
        .iter()
        .filter_map(|(n, l)| {
            let r = remote.get(n).copied().unwrap_or_default();
            (*l != r).then_some((*n, *l, r))
        })
        .collect()
}

/// One head as a comparison sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadRef {
    pub key: EncodedKey,
    /// `Version` bytes: their byte order is the versions' order.
    pub version: Vec<u8>,
    /// The head's entry hash (key, version and item).
    pub entry: u128,
}

/// What comparing the heads of some nodes found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadDiff {
    /// Keys whose heads differ in any way.
    pub differing: usize,
    /// Keys the peer holds a newer head of, or alone holds: to fetch.
    pub fetch: Vec<EncodedKey>,
    /// Keys whose heads carry the same version but differ: no version
    /// order can settle them. It means one version was issued twice, which
    /// log epochs exist to prevent; they are reported, never guessed at.
    pub same_version: Vec<EncodedKey>,
    /// Heads (key, version) only this region holds, at or below the
    /// peer's purge horizon: a tombstone the peer purged deleted them.
    pub superseded: Vec<(EncodedKey, Vec<u8>)>,
}

/// Compares the heads of the same nodes here and at the peer, whose purge
/// horizon is `horizon` (zero: it purged nothing).
pub fn diff_heads(local: &[HeadRef], remote: &[HeadRef], horizon: Timestamp) -> HeadDiff {
    let mut out = HeadDiff::default();
    if horizon != Timestamp::ZERO {
        let remote: BTreeSet<&EncodedKey> = remote.iter().map(|h| &h.key).collect();
        let bound = bytes_above(horizon);
        out.superseded = local
            .iter()
            .filter(|l| !remote.contains(&l.key) && l.version < bound)
            .map(|l| (l.key.clone(), l.version.clone()))
            .collect();
    }
    let local: BTreeMap<&EncodedKey, &HeadRef> = local.iter().map(|h| (&h.key, h)).collect();
    let mut seen = 0;
    for r in remote {
        match local.get(&r.key) {
            None => {
                out.differing += 1;
                out.fetch.push(r.key.clone());
            }
            Some(l) => {
                seen += 1;
                if l.entry == r.entry && l.version == r.version {
                    continue;
                }
                out.differing += 1;
                if r.version > l.version {
                    out.fetch.push(r.key.clone());
                } else if r.version == l.version {
                    out.same_version.push(r.key.clone());
                }
            }
        }
    }
    // Keys only this region holds differ too; the peer fetches them.
    out.differing += local.len() - seen;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::digest;

    fn key(k: &str) -> EncodedKey {
        EncodedKey {
            partition: k.as_bytes().to_vec(),
            sort: Vec::new(),
        }
    }

    fn head(k: &str, version: u8, item: &[u8]) -> HeadRef {
        let key = key(k);
        let v = vec![version];
        HeadRef {
            entry: digest::entry(&key, &v, Some(item)).hash,
            key,
            version: v,
        }
    }

    fn sum(n: u64) -> Summary {
        Summary {
            hash: u128::from(n) * 7919,
            live: n,
            tombstones: 0,
        }
    }

    #[test]
    fn steps_follow_the_counts() {
        let n = NodeId::new(3, 5).unwrap();
        assert_eq!(step(n, sum(4), sum(4), false), None);
        assert_eq!(step(n, sum(4), Summary::default(), false), None);
        assert_eq!(
            step(n, Summary::default(), sum(500), false),
            Some(Step::FetchAll)
        );
        assert_eq!(step(n, sum(3), sum(LIST_AT_MOST), false), Some(Step::List));
        assert_eq!(
            step(n, sum(3), sum(LIST_AT_MOST + 1), false),
            Some(Step::Descend)
        );
        let deepest = NodeId::new(MAX_LEVEL, 9).unwrap();
        assert_eq!(step(deepest, sum(30), sum(40), false), Some(Step::List));
    }

    #[test]
    fn a_peer_that_purged_is_checked_even_where_it_holds_nothing() {
        let n = NodeId::new(3, 5).unwrap();
        assert_eq!(step(n, sum(4), Summary::default(), true), Some(Step::List));
        assert_eq!(
            step(n, sum(400), Summary::default(), true),
            Some(Step::Descend)
        );
        assert_eq!(step(n, Summary::default(), Summary::default(), true), None);
    }

    #[test]
    fn differing_children_include_those_only_one_side_holds() {
        let p = NodeId::ROOT;
        let kids: Vec<NodeId> = p.children().collect();
        let local: Vec<(NodeId, Summary)> = kids
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    *k,
                    if i < 3 {
                        sum(i as u64 + 1)
                    } else {
                        Summary::default()
                    },
                )
            })
            .collect();
        // The peer: child 0 equal, child 1 different, child 2 missing, child 9 extra.
        let remote = vec![(kids[0], sum(1)), (kids[1], sum(9)), (kids[9], sum(4))];
        let d = differing(&local, &remote);
        let nodes: Vec<NodeId> = d.iter().map(|(n, ..)| *n).collect();
        assert_eq!(nodes, vec![kids[1], kids[2], kids[9]]);
        assert_eq!(d[1].2, Summary::default());
    }

    #[test]
    fn heads_are_fetched_only_where_the_peer_is_newer_or_alone() {
        let local = vec![
            head("same", 5, b"x"),
            head("older-here", 3, b"a"),
            head("newer-here", 8, b"b"),
            head("only-here", 2, b"c"),
            head("twice", 6, b"mine"),
        ];
        let remote = vec![
            head("same", 5, b"x"),
            head("older-here", 4, b"a2"),
            head("newer-here", 7, b"b0"),
            head("only-there", 1, b"d"),
            head("twice", 6, b"theirs"),
        ];
        let d = diff_heads(&local, &remote, Timestamp::ZERO);
        assert!(d.superseded.is_empty());
        assert_eq!(d.fetch, vec![key("older-here"), key("only-there")]);
        assert_eq!(d.same_version, vec![key("twice")]);
        // older-here, newer-here, only-there, twice, only-here.
        assert_eq!(d.differing, 5);
    }

    #[test]
    fn heads_only_here_at_or_below_the_peers_horizon_are_superseded() {
        let at = |k: &str, p: u64| {
            let key = key(k);
            let v = meridian_core::Version::new(Timestamp::new(p, 0), "us-east-1").to_bytes();
            HeadRef {
                entry: digest::entry(&key, &v, None).hash,
                key,
                version: v,
            }
        };
        let local = vec![
            at("old-only-here", 10),
            at("new-only-here", 30),
            at("both", 5),
        ];
        let remote = vec![at("both", 5)];
        let d = diff_heads(&local, &remote, Timestamp::new(20, 0));
        assert_eq!(d.superseded.len(), 1);
        assert_eq!(d.superseded[0].0, key("old-only-here"));
        // Nothing is superseded by a peer that purged nothing.
        assert!(
            diff_heads(&local, &remote, Timestamp::ZERO)
                .superseded
                .is_empty()
        );
    }
}
