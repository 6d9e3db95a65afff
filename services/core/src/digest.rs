//! The anti-entropy digest of a table: a fixed-shape hash tree over the
//! heads of its keys, so two replicas can find where they differ by
//! comparing a few node hashes instead of every item.
//!
//! Every key has a stable 64-bit **key hash** ([`key_hash`]) of its encoded
//! key. Its top bits place it in the tree: a node at level `l` covers the
//! keys whose hash starts with the `4 * l` bits of its index, so every
//! node has [`FANOUT`] (16) children and the tree goes as deep as the
//! hash (level [`MAX_LEVEL`]). The store keeps levels down to
//! [`LEAF_LEVEL`] (256 leaves); deeper nodes are summed from the heads of
//! one leaf when needed ([`children_of`]).
//!
//! A node's value is a [`Summary`]: the XOR of the 128-bit [`entry`] hash
//! of every head below it, and how many of them are live items and
//! tombstones. XOR makes it order-independent (two replicas with the same
//! heads have the same summaries, however they got there) and updatable in
//! place: replacing a head XORs out the old entry and XORs in the new one
//! ([`Summary::replace`]). A parent's summary is the combination of its
//! children's, so only the leaves need storing.
//!
//! The hashes are stable across builds and platforms (they are compared
//! between regions) and fast, not cryptographic: they compare replicas,
//! not adversaries.

use std::ops::Range;

use crate::error::Error;
use crate::key::EncodedKey;

/// Bits of the key hash per level.
pub const FANOUT_BITS: u32 = 4;
/// Children per node.
pub const FANOUT: u32 = 1 << FANOUT_BITS;
/// The level the store keeps: 16^2 = 256 leaves per table. Few enough that
/// a table's stored leaves fit in a few pages, so a group commit of writes
/// to random keys dirties few digest pages (see docs/repair.md).
pub const LEAF_LEVEL: u8 = 2;
/// Number of stored leaves per table.
pub const LEAVES: u32 = 1 << (FANOUT_BITS * LEAF_LEVEL as u32);
/// The deepest level: every bit of the 64-bit key hash used.
pub const MAX_LEVEL: u8 = (64 / FANOUT_BITS) as u8;

/// A node of the tree: `index` is the node's key-hash prefix, `4 * level` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const ROOT: NodeId = NodeId { level: 0, index: 0 };

    /// A node named by a peer: refused unless it exists in the tree.
    pub fn new(level: u8, index: u64) -> Result<NodeId, Error> {
        if level > MAX_LEVEL {
            return Err(Error::invalid(
                "level",
                format!("{level} is deeper than the deepest level, {MAX_LEVEL}"),
            ));
        }
        if level < MAX_LEVEL && index >> (FANOUT_BITS * level as u32) != 0 {
            return Err(Error::invalid(
                "index",
                format!(
                    "{index} is out of range for level {level}, which has {} nodes",
                    1u64 << (FANOUT_BITS * level as u32)
                ),
            ));
        }
        Ok(NodeId { level, index })
    }

    /// The stored leaf a key hash falls in.
    pub fn leaf_of(key_hash: u64) -> NodeId {
        NodeId::of(LEAF_LEVEL, key_hash)
    }

    /// The node of `level` a key hash falls in.
    pub fn of(level: u8, key_hash: u64) -> NodeId {
        let level = level.min(MAX_LEVEL);
        let index = if level == 0 {
            0
        } else {
            key_hash >> (64 - FANOUT_BITS * level as u32)
        };
        NodeId { level, index }
    }

    /// Whether a key with this hash is below (or at) this node.
    pub fn contains(&self, key_hash: u64) -> bool {
        NodeId::of(self.level, key_hash) == *self
    }

    /// The key hashes below this node: one contiguous range, since a
    /// node is a prefix of the hash.
    pub fn hash_range(&self) -> std::ops::RangeInclusive<u64> {
        if self.level == 0 {
            return 0..=u64::MAX;
        }
        let shift = 64 - FANOUT_BITS * u32::from(self.level);
        let low = self.index << shift;
        low..=low | ((1u64 << shift) - 1)
    }

    /// Its children, in index order; none below the deepest level.
    pub fn children(&self) -> impl Iterator<Item = NodeId> + use<> {
        let level = self.level + 1;
        let base = self.index << FANOUT_BITS;
        let n = if self.level < MAX_LEVEL { FANOUT } else { 0 };
        (0..n as u64).map(move |i| NodeId {
            level,
            index: base | i,
        })
    }

    /// The stored leaves it covers; for a node at or below the leaf level,
    /// the one leaf that holds it.
    pub fn leaves(&self) -> Range<u32> {
        if self.level >= LEAF_LEVEL {
            let leaf = (self.index >> (FANOUT_BITS * (self.level - LEAF_LEVEL) as u32)) as u32;
            leaf..leaf + 1
        } else {
            let span = 1u32 << (FANOUT_BITS * (LEAF_LEVEL - self.level) as u32);
            let first = self.index as u32 * span;
            first..first + span
        }
    }
}

/// The value of a node: the XOR of its heads' [`entry`] hashes and how many
/// heads are live items and tombstones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub hash: u128,
    pub live: u64,
    pub tombstones: u64,
}

impl Summary {
    /// The summary of the union of two disjoint sets of heads.
    pub fn combine(self, other: Summary) -> Summary {
        Summary {
            hash: self.hash ^ other.hash,
            live: self.live + other.live,
            tombstones: self.tombstones + other.tombstones,
        }
    }

    /// The change to a node's summary when one of its heads goes from `old`
    /// (`None`: the key had no head) to `new`.
    pub fn replace(old: Option<&Summary>, new: &Summary) -> Delta {
        let old = old.copied().unwrap_or_default();
        Delta {
            hash: old.hash ^ new.hash,
            live: new.live as i64 - old.live as i64,
            tombstones: new.tombstones as i64 - old.tombstones as i64,
        }
    }

    /// The 32 hex digits of the hash, as the admin digest shows it.
    pub fn hash_hex(&self) -> String {
        format!("{:032x}", self.hash)
    }
}

/// A change to a [`Summary`]: XOR into the hash, add to the counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub hash: u128,
    pub live: i64,
    pub tombstones: i64,
}

impl Delta {
    /// The summary `s` changed by this delta.
    pub fn apply_to(self, s: Summary) -> Summary {
        Summary {
            hash: s.hash ^ self.hash,
            live: s.live.wrapping_add_signed(self.live),
            tombstones: s.tombstones.wrapping_add_signed(self.tombstones),
        }
    }
}

/// One head of a key as the digest sees it: its key hash and its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadDigest {
    pub key_hash: u64,
    pub entry: Summary,
}

impl HeadDigest {
    /// The digest of the head `(version, image)` of `key` (`image == None`:
    /// a tombstone). `version` is the `Version` bytes.
    pub fn of(key: &EncodedKey, version: &[u8], image: Option<&[u8]>) -> HeadDigest {
        HeadDigest {
            key_hash: key_hash(key),
            entry: entry(key, version, image),
        }
    }

    pub fn leaf(&self) -> NodeId {
        NodeId::leaf_of(self.key_hash)
    }
}

/// The stable 64-bit hash of an encoded key that places it in the tree.
pub fn key_hash(key: &EncodedKey) -> u64 {
    key_hash_of(&key.partition, &key.sort)
}

/// [`key_hash`] of a key given as its two encoded parts, for callers that
/// hold them borrowed (a row being read) and should not copy them to ask.
pub fn key_hash_of(partition: &[u8], sort: &[u8]) -> u64 {
    let mut h = Hasher::new(0x6b65_795f_6861_7368);
    h.field(partition);
    h.field(sort);
    h.finish().0
}

/// A head's contribution to its leaf: one live item or one tombstone, and a
/// 128-bit hash of its key, version and item bytes, so replicas whose heads
/// differ in any of them have different digests.
pub fn entry(key: &EncodedKey, version: &[u8], image: Option<&[u8]>) -> Summary {
    entry_of(&key.partition, &key.sort, version, image)
}

/// [`entry`] of a key given as its two encoded parts ([`key_hash_of`]).
pub fn entry_of(partition: &[u8], sort: &[u8], version: &[u8], image: Option<&[u8]>) -> Summary {
    let mut h = Hasher::new(0x656e_7472_795f_6831);
    h.field(partition);
    h.field(sort);
    h.field(version);
    match image {
        Some(image) => {
            h.field(&[1]);
            h.field(image);
        }
        None => h.field(&[0]),
    }
    let (a, b) = h.finish();
    Summary {
        hash: (u128::from(a) << 64) | u128::from(b),
        live: u64::from(image.is_some()),
        tombstones: u64::from(image.is_none()),
    }
}

/// The summaries of the children of `parent`, from heads that include at
/// least every head below it (others are ignored): how nodes deeper than the
/// stored leaves are computed, from the heads of the leaf that holds them.
pub fn children_of(parent: NodeId, heads: &[HeadDigest]) -> Vec<(NodeId, Summary)> {
    let mut out: Vec<(NodeId, Summary)> =
        parent.children().map(|c| (c, Summary::default())).collect();
    if out.is_empty() {
        return out;
    }
    let level = parent.level + 1;
    for h in heads.iter().filter(|h| parent.contains(h.key_hash)) {
        let child = NodeId::of(level, h.key_hash);
        let slot = (child.index & u64::from(FANOUT - 1)) as usize;
        out[slot].1 = out[slot].1.combine(h.entry);
    }
    out
}

/// The key-hash ranges that `nodes` cover, in order and disjoint: what
/// [`covers`] searches. Two nodes either nest or share nothing, so a node
/// inside another adds nothing.
pub fn ranges(nodes: &[NodeId]) -> Vec<std::ops::RangeInclusive<u64>> {
    let mut all: Vec<_> = nodes.iter().map(NodeId::hash_range).collect();
    all.sort_by_key(|r| (*r.start(), std::cmp::Reverse(*r.end())));
    let mut out: Vec<std::ops::RangeInclusive<u64>> = Vec::with_capacity(all.len());
    for r in all {
        if out.last().is_some_and(|l| r.end() <= l.end()) {
            continue;
        }
        out.push(r);
    }
    out
}

/// Whether a key hash lies below any node of `ranges` (from [`ranges`]):
/// a binary search, where testing every node would cost a pass per node.
pub fn covers(ranges: &[std::ops::RangeInclusive<u64>], key_hash: u64) -> bool {
    let i = ranges.partition_point(|r| *r.start() <= key_hash);
    i > 0 && key_hash <= *ranges[i - 1].end()
}

/// The children of `parent`, from heads sorted by key hash that include
/// every head below it: it sums only its own slice of the heads, found by
/// binary search, so many parents cost one pass over the heads, not one each.
pub fn children_of_sorted(parent: NodeId, sorted: &[HeadDigest]) -> Vec<(NodeId, Summary)> {
    let r = parent.hash_range();
    let from = sorted.partition_point(|h| h.key_hash < *r.start());
    let to = sorted.partition_point(|h| h.key_hash <= *r.end());
    children_of(parent, &sorted[from..to])
}

/// The summary of every stored leaf, recomputed from a table's heads: what
/// the maintained leaves must equal. Returns (leaf, summary) for every
/// non-empty leaf, in leaf order.
pub fn leaves_of(heads: impl IntoIterator<Item = HeadDigest>) -> Vec<(u32, Summary)> {
    let mut leaves = std::collections::BTreeMap::<u32, Summary>::new();
    for h in heads {
        let leaf = h.leaf().index as u32;
        let s = leaves.entry(leaf).or_default();
        *s = s.combine(h.entry);
    }
    leaves.into_iter().collect()
}

/// A node's summary from the stored leaves under it, given as (leaf, summary).
pub fn node_from_leaves(node: NodeId, leaves: &[(u32, Summary)]) -> Summary {
    let range = node.leaves();
    leaves
        .iter()
        .filter(|(l, _)| range.contains(l))
        .fold(Summary::default(), |acc, (_, s)| acc.combine(*s))
}

/// The summaries of the children of a node above the leaf level, from the
/// stored leaves under it, given as (leaf, summary). (Children below the
/// leaf level come from heads: [`children_of`].)
pub fn children_from_leaves(parent: NodeId, leaves: &[(u32, Summary)]) -> Vec<(NodeId, Summary)> {
    parent
        .children()
        .map(|c| (c, node_from_leaves(c, leaves)))
        .collect()
}

/// Two 64-bit multiply-rotate lanes over 8-byte words, each field prefixed
/// by its length, finished with the MurmurHash3 mixer. Stable and
/// dependency-free; about a byte per cycle per lane.
struct Hasher {
    a: u64,
    b: u64,
}

const P1: u64 = 0x9e37_79b9_7f4a_7c15;
const P2: u64 = 0xc2b2_ae3d_27d4_eb4f;

impl Hasher {
    fn new(seed: u64) -> Self {
        Hasher {
            a: seed ^ P1,
            b: seed.rotate_left(32) ^ P2,
        }
    }

    fn word(&mut self, w: u64) {
        self.a = (self.a ^ w).wrapping_mul(P1).rotate_left(31);
        self.b = (self.b ^ w.rotate_left(23))
            .wrapping_mul(P2)
            .rotate_left(27);
    }

    fn field(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(last));
        }
    }

    fn finish(&self) -> (u64, u64) {
        let a = fmix(self.a ^ self.b.rotate_left(13));
        let b = fmix(self.b ^ a);
        (a, b)
    }
}

fn fmix(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str, s: &str) -> EncodedKey {
        EncodedKey {
            partition: p.as_bytes().to_vec(),
            sort: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn hashes_are_stable_across_builds() {
        // Regions compare these values: a change to the hash would make
        // every region of a mixed-version cluster look divergent.
        // Values computed when the hash was introduced; they must never change.
        assert_eq!(key_hash(&key("user#1", "")), 0x8a5c_3556_43c6_b1ea);
        assert_eq!(
            entry(&key("user#1", "s"), b"v", Some(b"img")).hash,
            0xc464_e64d_c0af_8ed7_0b23_6bd0_f236_815b
        );
        assert_ne!(key_hash(&key("ab", "")), key_hash(&key("a", "b")));
        assert_ne!(key_hash(&key("", "")), key_hash(&key("\0", "")));
    }

    #[test]
    fn entries_differ_in_every_field() {
        let base = entry(&key("k", "s"), b"v1", Some(b"img"));
        for other in [
            entry(&key("k2", "s"), b"v1", Some(b"img")),
            entry(&key("k", "s2"), b"v1", Some(b"img")),
            entry(&key("k", "s"), b"v2", Some(b"img")),
            entry(&key("k", "s"), b"v1", Some(b"img2")),
            entry(&key("k", "s"), b"v1", None),
            entry(&key("k", "s"), b"v1", Some(b"")),
        ] {
            assert_ne!(base.hash, other.hash);
        }
        assert_eq!((base.live, base.tombstones), (1, 0));
        let t = entry(&key("k", "s"), b"v1", None);
        assert_eq!((t.live, t.tombstones), (0, 1));
    }

    #[test]
    fn replacing_a_head_in_place_equals_recomputing() {
        let k = key("k", "");
        let a = entry(&k, b"v1", Some(b"x"));
        let b = entry(&k, b"v2", None);
        let other = entry(&key("o", ""), b"v1", Some(b"y"));
        let leaf = Summary::default().combine(other).combine(a);
        let after = Summary::replace(Some(&a), &b).apply_to(leaf);
        assert_eq!(after, other.combine(b));
        let inserted = Summary::replace(None, &a).apply_to(Summary::default());
        assert_eq!(inserted, a);
    }

    #[test]
    fn nodes_partition_the_key_hash_space() {
        let h = 0xabcd_ef01_2345_6789u64;
        assert_eq!(NodeId::of(0, h), NodeId::ROOT);
        assert_eq!(NodeId::of(1, h).index, 0xa);
        assert_eq!(NodeId::leaf_of(h).index, 0xab);
        assert_eq!(NodeId::of(MAX_LEVEL, h).index, h);
        assert_eq!(NodeId::ROOT.leaves(), 0..LEAVES);
        let l1 = NodeId::new(1, 0xa).unwrap();
        assert_eq!(l1.leaves(), 0xa0..0xb0);
        assert!(l1.contains(h));
        assert_eq!(NodeId::of(5, h).leaves(), 0xab..0xac);
        assert_eq!(NodeId::of(2, h).leaves(), 0xab..0xac);
        let kids: Vec<_> = l1.children().collect();
        assert_eq!(kids.len(), 16);
        assert!(kids.iter().all(|k| k.level == 2 && k.index >> 4 == 0xa));
        assert_eq!(NodeId::of(MAX_LEVEL, h).children().count(), 0);
    }

    #[test]
    fn a_peer_cannot_name_a_node_outside_the_tree() {
        assert!(NodeId::new(0, 0).is_ok());
        assert!(NodeId::new(MAX_LEVEL, u64::MAX).is_ok());
        let e = NodeId::new(0, 1).unwrap_err().to_string();
        assert!(e.contains("index"), "{e}");
        assert!(NodeId::new(2, 256).is_err());
        let e = NodeId::new(MAX_LEVEL + 1, 0).unwrap_err().to_string();
        assert!(e.contains("level"), "{e}");
    }

    #[test]
    fn deeper_nodes_from_heads_agree_with_stored_leaves() {
        let heads: Vec<HeadDigest> = (0..2000)
            .map(|i| HeadDigest::of(&key(&format!("k{i}"), ""), b"v", Some(b"x")))
            .collect();
        let leaves = leaves_of(heads.iter().copied());
        let root = node_from_leaves(NodeId::ROOT, &leaves);
        assert_eq!(root.live, 2000);
        // Each level's children combine to their parent, stored or computed.
        let mut node = NodeId::ROOT;
        while node.level < MAX_LEVEL {
            let kids = if node.level < LEAF_LEVEL {
                children_from_leaves(node, &leaves)
            } else {
                children_of(node, &heads)
            };
            assert_eq!(kids, children_of(node, &heads));
            let sum = kids
                .iter()
                .fold(Summary::default(), |a, (_, s)| a.combine(*s));
            let own = if node.level <= LEAF_LEVEL {
                node_from_leaves(node, &leaves)
            } else {
                heads
                    .iter()
                    .filter(|h| node.contains(h.key_hash))
                    .fold(Summary::default(), |a, h| a.combine(h.entry))
            };
            assert_eq!(sum, own);
            // Descend into the first non-empty child.
            node = kids
                .iter()
                .find(|(_, s)| s.live > 0)
                .expect("a non-empty child")
                .0;
        }
    }

    #[test]
    fn ranges_and_sorted_children_agree_with_contains() {
        let nodes = [
            NodeId::new(3, 0x123).unwrap(),
            NodeId::new(1, 0x1).unwrap(),
            NodeId::new(5, 0xabcde).unwrap(),
            NodeId::new(16, 0xdead_beef_0000_0001).unwrap(),
        ];
        let r = ranges(&nodes);
        let mut hashes: Vec<u64> = (0..5000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        hashes.extend(
            nodes
                .iter()
                .flat_map(|n| [*n.hash_range().start(), *n.hash_range().end()]),
        );
        hashes.extend([0xdead_beef_0000_0000, 0xdead_beef_0000_0002, 0, u64::MAX]);
        for &h in &hashes {
            assert_eq!(covers(&r, h), nodes.iter().any(|n| n.contains(h)), "{h:#x}");
        }
        let mut heads: Vec<HeadDigest> = hashes
            .iter()
            .map(|&h| HeadDigest {
                key_hash: h,
                entry: entry(
                    &crate::EncodedKey {
                        partition: h.to_be_bytes().to_vec(),
                        sort: vec![],
                    },
                    b"v",
                    None,
                ),
            })
            .collect();
        heads.sort_by_key(|h| h.key_hash);
        for p in &nodes {
            assert_eq!(children_of_sorted(*p, &heads), children_of(*p, &heads));
        }
    }
}
