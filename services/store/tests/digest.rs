//! The anti-entropy digest: the tree each store keeps over its heads is
//! exact (it equals a tree recomputed from the items), is the same for
//! replicas with the same heads however the mutations reached them, and
//! leads from a differing root down to the one key that differs.

use std::collections::HashMap;
use std::sync::Arc;

use meridian_core::digest::{self, NodeId, Summary};
use meridian_core::hlc::ManualClock;
use meridian_core::{
    AttrValue, CATALOG_TABLE, EncodedKey, Hlc, Item, KeyAttr, KeySchema, KeyType, Mutation,
    PhysicalClock, TableDef,
};
use meridian_store::{
    CatalogChange, Durability, ItemWrite, Ops, PeerBatch, Reader, StoreError, Writer,
    differing_leaves,
};
use proptest::prelude::*;
use tempfile::TempDir;

const T0: u64 = 1_700_000_000_000_000;
const TABLE: &str = "tbl";
const REGIONS: [&str; 4] = ["r-a", "r-b", "r-c", "r-d"];

struct Node {
    region: String,
    dir: TempDir,
    writer: Writer,
    reader: Reader,
    clock: Arc<ManualClock>,
    hlc: Hlc,
    /// Per sender, its log position applied here.
    inbound: HashMap<String, u64>,
}

impl Node {
    fn new(region: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let writer = meridian_store::open(dir.path(), region, Durability::Simulated).unwrap();
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let hlc = Hlc::new(clock.clone() as Arc<dyn PhysicalClock>, 500_000);
        Node {
            region: region.to_string(),
            dir,
            writer,
            reader,
            clock,
            hlc,
            inbound: HashMap::new(),
        }
    }

    fn write<'r>(&mut self, ops: impl Into<Ops<'r>>) -> Result<(), StoreError> {
        self.clock.advance(10);
        let mut g = self.writer.group().unwrap();
        let r = g.write(&self.hlc, T0, ops);
        g.commit().unwrap();
        r.map(|_| ())
    }

    /// Applies what `from` logged after what this node has from it.
    fn receive(&mut self, from: &Node) {
        let refused = self.receive_until_held(from);
        assert_eq!(refused, None, "{} from {}", self.region, from.region);
    }

    /// Applies what `from` logged after what this node has from it, up to
    /// an entry it holds back, and returns why it held it.
    fn receive_until_held(&mut self, from: &Node) -> Option<String> {
        let after = self.inbound.get(&from.region).copied().unwrap_or(0);
        let entries: Vec<Mutation> = from.reader.log_after(after, 100_000, usize::MAX).unwrap();
        if entries.is_empty() {
            return None;
        }
        let mut g = self.writer.group().unwrap();
        let out = g
            .apply(
                &self.hlc,
                T0,
                &PeerBatch::new(&from.region, "log", entries.to_vec()),
            )
            .unwrap();
        g.commit().unwrap();
        self.inbound
            .insert(from.region.clone(), out.applied_through);
        out.refused.map(|r| r.to_string())
    }

    /// Closes the store and opens it again, as a restart would.
    fn reopen(self) -> (TempDir, Writer, Reader) {
        let Node {
            dir,
            writer,
            reader,
            region,
            ..
        } = self;
        drop((writer, reader));
        let writer = meridian_store::open(dir.path(), &region, Durability::Simulated).unwrap();
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        (dir, writer, reader)
    }

    fn root(&self, table: &str) -> Summary {
        self.reader.digest_node(table, NodeId::ROOT).unwrap()
    }

    /// The maintained tree equals one recomputed from the items.
    fn assert_exact(&self) {
        for t in [TABLE, CATALOG_TABLE] {
            assert_eq!(
                self.reader.verify_digest(t).unwrap(),
                Vec::<u32>::new(),
                "{} {t}",
                self.region
            );
        }
    }
}

fn table_def() -> TableDef {
    TableDef::new(
        TABLE,
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: None,
        },
        REGIONS.iter().map(|r| r.to_string()).collect(),
    )
    .unwrap()
}

fn key_attrs(k: u8) -> Item {
    Item::from([("id".to_string(), AttrValue::S(format!("k{k}")))])
}

fn encoded(k: u8) -> EncodedKey {
    table_def()
        .key_schema
        .key_from_attrs(&key_attrs(k))
        .unwrap()
}

fn put(k: u8, v: u32) -> ItemWrite {
    let mut item = key_attrs(k);
    item.insert("v".into(), AttrValue::S(v.to_string()));
    ItemWrite::Put {
        table: TABLE.into(),
        item,
        condition: None,
    }
}

fn del(k: u8) -> ItemWrite {
    ItemWrite::Delete {
        table: TABLE.into(),
        key: key_attrs(k),
        condition: None,
    }
}

#[derive(Clone, Debug)]
enum Step {
    Put {
        at: usize,
        key: u8,
        v: u32,
    },
    Delete {
        at: usize,
        key: u8,
    },
    /// TTL expiry of the key's live item, if it has one.
    Expire {
        at: usize,
        key: u8,
    },
    /// Enables or disables TTL (`exp`) on the table.
    Ttl {
        on: bool,
    },
    /// Deletes the table and creates it again: every item of the old
    /// incarnation goes, here and wherever the change arrives.
    Recreate,
    /// The two writers exchange what they have.
    Sync,
}

/// Writers are nodes 0 and 1; table changes happen at node 0.
fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..2usize, 0..12u8, any::<u32>()).prop_map(|(at, key, v)| Step::Put { at, key, v }),
        2 => (0..2usize, 0..12u8).prop_map(|(at, key)| Step::Delete { at, key }),
        1 => (0..2usize, 0..12u8).prop_map(|(at, key)| Step::Expire { at, key }),
        1 => any::<bool>().prop_map(|on| Step::Ttl { on }),
        1 => Just(Step::Recreate),
        2 => Just(Step::Sync),
    ]
}

fn sync(writers: &mut [Node]) {
    let (a, b) = writers.split_at_mut(1);
    b[0].receive(&a[0]);
    a[0].receive(&b[0]);
}

/// Runs the steps on two writers, then delivers both logs to two fresh
/// replicas in opposite orders. Returns all four nodes, converged.
fn play(steps: &[Step]) -> Vec<Node> {
    let mut w: Vec<Node> = REGIONS[..2].iter().map(|r| Node::new(r)).collect();
    w[0].write(&[CatalogChange::CreateTable(table_def())])
        .unwrap();
    sync(&mut w);
    for s in steps {
        // Refusals (TTL not enabled, a stale expiry) are part of the workload.
        match s {
            Step::Put { at, key, v } => {
                let _ = w[*at].write(&[put(*key, *v)]);
            }
            Step::Delete { at, key } => {
                let _ = w[*at].write(&[del(*key)]);
            }
            Step::Expire { at, key } => {
                let head = w[*at].reader.get(TABLE, &encoded(*key)).unwrap();
                if let Some(h) = head.filter(|h| h.image.is_some()) {
                    let _ = w[*at].write(&[ItemWrite::Expire {
                        table: TABLE.into(),
                        key: key_attrs(*key),
                        version: h.version,
                        attribute: "exp".into(),
                    }]);
                }
            }
            Step::Ttl { on } => {
                let _ = w[0].write(&[CatalogChange::SetTtl {
                    table: TABLE.into(),
                    attribute: on.then(|| "exp".to_string()),
                }]);
            }
            Step::Recreate => {
                w[0].write(&[CatalogChange::DeleteTable(TABLE.into())])
                    .unwrap();
                w[0].write(&[CatalogChange::CreateTable(table_def())])
                    .unwrap();
            }
            Step::Sync => sync(&mut w),
        }
    }
    sync(&mut w);
    sync(&mut w);
    let mut c = Node::new(REGIONS[2]);
    c.receive(&w[0]);
    c.receive(&w[1]);
    let mut d = Node::new(REGIONS[3]);
    // r-b relays r-a's table changes: one that deletes or replaces the
    // table d holds is left for r-a's own log, so r-b's items of a newer
    // incarnation wait for that definition; r-a's log brings both.
    if let Some(held) = d.receive_until_held(&w[1]) {
        assert!(
            held.contains("its definition has not arrived yet"),
            "{held}"
        );
    }
    d.receive(&w[0]);
    d.receive(&w[1]);
    w.push(c);
    w.push(d);
    w
}

/// Walks down from the root of `table` to the stored leaves where `a` and
/// `b` differ, asking each only for the children of nodes that differed.
fn differing_leaves_top_down(a: &Reader, b: &Reader, table: &str) -> Vec<u32> {
    let mut frontier = vec![NodeId::ROOT];
    if a.digest_node(table, NodeId::ROOT).unwrap() == b.digest_node(table, NodeId::ROOT).unwrap() {
        return Vec::new();
    }
    while frontier[0].level < digest::LEAF_LEVEL {
        let mut next = Vec::new();
        for node in frontier {
            let ca = a.digest_children(table, node).unwrap();
            let cb = b.digest_children(table, node).unwrap();
            assert_eq!(ca.len(), 16);
            next.extend(
                ca.iter()
                    .zip(&cb)
                    .filter(|(x, y)| x.1 != y.1)
                    .map(|(x, _)| x.0),
            );
        }
        frontier = next;
    }
    frontier.iter().map(|n| n.index as u32).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replicas_with_the_same_heads_have_the_same_tree(
        steps in proptest::collection::vec(step(), 1..40),
        missing_key in 0..12u8,
    ) {
        let mut nodes = play(&steps);
        for n in &nodes {
            n.assert_exact();
        }
        for t in [TABLE, CATALOG_TABLE] {
            let leaves = nodes[0].reader.digest_leaves(t).unwrap();
            let heads = nodes[0].reader.heads(t).unwrap();
            for n in &nodes[1..] {
                prop_assert_eq!(&n.reader.heads(t).unwrap(), &heads, "{} {}", n.region, t);
                prop_assert_eq!(n.root(t), nodes[0].root(t), "{} {}", n.region, t);
                prop_assert_eq!(&n.reader.digest_leaves(t).unwrap(), &leaves);
                prop_assert_eq!(n.reader.digest(t).unwrap(), nodes[0].reader.digest(t).unwrap());
            }
            let root = nodes[0].root(t);
            let live = heads.iter().filter(|h| h.image.is_some()).count() as u64;
            prop_assert_eq!((root.live, root.tombstones), (live, heads.len() as u64 - live));
        }

        // One more write reaches node 2 but not node 3: their roots differ,
        // and walking down finds the one leaf, then the one key.
        let op = if steps.len() % 2 == 0 { put(missing_key, 7) } else { del(missing_key) };
        nodes[0].write(&[op]).unwrap();
        let (src, rest) = nodes.split_at_mut(1);
        rest[1].receive(&src[0]);
        let (c, d) = (&nodes[2], &nodes[3]);
        c.assert_exact();
        prop_assert_ne!(c.root(TABLE), d.root(TABLE));
        prop_assert_eq!(c.root(CATALOG_TABLE), d.root(CATALOG_TABLE));
        let k = encoded(missing_key);
        let leaf = NodeId::leaf_of(digest::key_hash(&k)).index as u32;
        let found = differing_leaves_top_down(&c.reader, &d.reader, TABLE);
        prop_assert_eq!(&found, &vec![leaf]);
        prop_assert_eq!(
            differing_leaves(
                &c.reader.digest_leaves(TABLE).unwrap(),
                &d.reader.digest_leaves(TABLE).unwrap()
            ),
            vec![leaf]
        );
        // Below the stored leaves, the leaf's heads lead to the key.
        let hc: Vec<_> = c.reader.leaf_heads(TABLE, &found).unwrap().iter().map(|h| h.digest).collect();
        let hd: Vec<_> = d.reader.leaf_heads(TABLE, &found).unwrap().iter().map(|h| h.digest).collect();
        let mut node = NodeId { level: digest::LEAF_LEVEL, index: u64::from(leaf) };
        while node.level < digest::MAX_LEVEL {
            let diff: Vec<NodeId> = digest::children_of(node, &hc)
                .iter()
                .zip(digest::children_of(node, &hd))
                .filter(|(x, y)| x.1 != y.1)
                .map(|(x, _)| x.0)
                .collect();
            prop_assert_eq!(diff.len(), 1);
            node = diff[0];
        }
        prop_assert_eq!(node.index, digest::key_hash(&k));

        // Shipping the differing heads repairs node 3.
        let entries = c.reader.entries(TABLE, std::slice::from_ref(&k)).unwrap();
        prop_assert_eq!(entries.len(), 1);
        let d = &mut nodes[3];
        let mut g = d.writer.group().unwrap();
        let out = g.repair(&d.hlc, T0, &entries).unwrap();
        g.commit().unwrap();
        prop_assert_eq!(out.applied, 1);
        prop_assert_eq!(nodes[3].root(TABLE), nodes[2].root(TABLE));
        nodes[3].assert_exact();
    }
}

#[test]
fn verify_finds_a_leaf_changed_behind_the_store() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    for k in 0..50 {
        n.write(&[put(k, u32::from(k))]).unwrap();
    }
    n.write(&[del(3)]).unwrap();
    n.assert_exact();
    let d = n.reader.digest(TABLE).unwrap();
    assert_eq!((d.live, d.tombstones), (49, 1));
    // An item row changed without its digest: verify names its leaf.
    let conn = rusqlite::Connection::open(meridian_store::db_path(n.dir.path())).unwrap();
    conn.execute(
        "UPDATE items SET image = NULL WHERE tbl = ?1 AND pk = ?2",
        rusqlite::params![TABLE, encoded(7).partition],
    )
    .unwrap();
    let leaf = NodeId::leaf_of(digest::key_hash(&encoded(7))).index as u32;
    assert_eq!(n.reader.verify_digest(TABLE).unwrap(), vec![leaf]);
}

#[test]
fn a_deleted_table_leaves_no_digest_and_a_recreated_one_starts_empty() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    let empty = n.root(TABLE);
    assert_eq!(empty, Summary::default());
    assert_eq!(n.reader.digest(TABLE).unwrap().hash, "0".repeat(32));
    for k in 0..20 {
        n.write(&[put(k, 1)]).unwrap();
    }
    assert_eq!(n.root(TABLE).live, 20);
    n.write(&[CatalogChange::DeleteTable(TABLE.into())])
        .unwrap();
    assert_eq!(n.reader.digest_leaves(TABLE).unwrap(), vec![]);
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    assert_eq!(n.root(TABLE), empty);
    n.write(&[put(1, 1)]).unwrap();
    assert_eq!(n.root(TABLE).live, 1);
    n.assert_exact();
}

#[test]
fn a_failed_request_leaves_the_digest_as_it_was() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    n.write(&[put(1, 1)]).unwrap();
    let before = n.reader.digest_leaves(TABLE).unwrap();
    // A peer batch that fails part-way (its first item applied, its last
    // malformed) rolls back with its savepoint, digest included.
    let mut other = Node::new("r-b");
    other.receive(&n);
    other.write(&[put(2, 2)]).unwrap();
    other.write(&[put(3, 3)]).unwrap();
    let mut bad = other.reader.log_after(0, 100, usize::MAX).unwrap();
    bad.last_mut().unwrap().context = vec![0xff];
    let mut g = n.writer.group().unwrap();
    assert!(
        g.apply(&n.hlc, T0, &PeerBatch::new("r-b", "log", bad.to_vec()))
            .is_err()
    );
    g.commit().unwrap();
    assert_eq!(n.reader.digest_leaves(TABLE).unwrap(), before);
    n.assert_exact();
    // The same in a group with writes before and after it: theirs stay.
    let mut g = n.writer.group().unwrap();
    g.write(&n.hlc, T0, &[put(4, 4)]).unwrap();
    assert!(
        g.apply(&n.hlc, T0, &PeerBatch::new("r-b", "log", bad.to_vec()))
            .is_err()
    );
    g.write(&n.hlc, T0, &[put(5, 5)]).unwrap();
    g.commit().unwrap();
    assert!(n.reader.get(TABLE, &encoded(2)).unwrap().is_none());
    assert_eq!(n.root(TABLE).live, 3);
    n.assert_exact();
}

#[test]
fn one_group_that_writes_deletes_and_recreates_a_table_keeps_the_tree_exact() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    for k in 0..30 {
        n.write(&[put(k, 1)]).unwrap();
    }
    let mut g = n.writer.group().unwrap();
    for k in 0..40 {
        g.write(&n.hlc, T0, &[put(k, 2)]).unwrap();
    }
    g.write(&n.hlc, T0, &[del(3)]).unwrap();
    g.write(&n.hlc, T0, &[CatalogChange::DeleteTable(TABLE.into())])
        .unwrap();
    g.write(&n.hlc, T0, &[CatalogChange::CreateTable(table_def())])
        .unwrap();
    g.write(&n.hlc, T0, &[put(1, 3), put(2, 3)]).unwrap();
    g.write(&n.hlc, T0, &[del(2)]).unwrap();
    g.commit().unwrap();
    let root = n.root(TABLE);
    assert_eq!((root.live, root.tombstones), (1, 1));
    n.assert_exact();
}

#[test]
fn digest_requests_outside_the_tree_are_refused_naming_the_field() {
    let n = Node::new("r-a");
    let deep = NodeId::of(digest::LEAF_LEVEL + 1, 0);
    let e = n.reader.digest_node(TABLE, deep).unwrap_err().to_string();
    assert!(e.contains("level"), "{e}");
    let leaf = NodeId::of(digest::LEAF_LEVEL, 0);
    let e = n
        .reader
        .digest_children(TABLE, leaf)
        .unwrap_err()
        .to_string();
    assert!(e.contains("level"), "{e}");
    let e = n
        .reader
        .leaf_heads(TABLE, &[1, digest::LEAVES])
        .unwrap_err()
        .to_string();
    assert!(e.contains("leaves[1]"), "{e}");
}

#[test]
fn the_reads_a_repair_round_makes_agree_with_the_tree() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    for k in 0..200 {
        n.write(&[put(k, u32::from(k))]).unwrap();
    }
    n.write(&[del(9)]).unwrap();
    let roots = n.reader.digest_roots().unwrap();
    let tables: Vec<&str> = roots.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tables, [CATALOG_TABLE, TABLE]);
    assert_eq!(roots[1].1, n.root(TABLE));

    // Children of nodes above, at and below the stored leaves, from one
    // call, equal the children summed from the heads.
    let heads: Vec<_> = n
        .reader
        .leaf_heads(TABLE, &(0..digest::LEAVES).collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .map(|h| h.digest)
        .collect();
    let k = digest::key_hash(&encoded(42));
    let parents = [
        NodeId::ROOT,
        NodeId::of(1, k),
        NodeId::of(digest::LEAF_LEVEL, k),
        NodeId::of(digest::LEAF_LEVEL + 2, k),
    ];
    let children = n.reader.digest_children_of(TABLE, &parents).unwrap();
    for (p, got) in parents.iter().zip(&children) {
        assert_eq!(*got, digest::children_of(*p, &heads), "{p:?}");
    }

    // The heads under a node, bounded.
    let under = n
        .reader
        .heads_under(TABLE, &[NodeId::of(1, k)], 1_000)
        .unwrap();
    assert!(
        under
            .iter()
            .all(|h| NodeId::of(1, k).contains(h.digest.key_hash))
    );
    assert_eq!(
        under.len() as u64,
        children[0][NodeId::of(1, k).index as usize].1.live
            + children[0][NodeId::of(1, k).index as usize].1.tombstones
    );
    let e = n
        .reader
        .heads_under(TABLE, &[NodeId::ROOT], 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("limit of 10"), "{e}");

    // Every head under the root, paged in key order, equals the heads of
    // every key, tombstone included.
    let mut paged = Vec::new();
    let mut after: Option<EncodedKey> = None;
    loop {
        let (page, more) = n
            .reader
            .entries_under(TABLE, &[NodeId::ROOT], after.as_ref(), (70, 2_000))
            .unwrap();
        assert!(!page.is_empty() && page.len() <= 70);
        after = page.last().map(|m| m.key.clone());
        paged.extend(page);
        if !more {
            break;
        }
    }
    // By count as well as by bytes.
    let (page, more) = n
        .reader
        .entries_under(TABLE, &[NodeId::ROOT], None, (7, 1 << 20))
        .unwrap();
    assert_eq!((page.len(), more), (7, true));
    let mut keys: Vec<EncodedKey> = (0..200).map(encoded).collect();
    keys.sort();
    assert_eq!(paged, n.reader.entries(TABLE, &keys).unwrap());
    assert_eq!(paged.iter().filter(|m| m.image.is_none()).count(), 1);
}

#[test]
fn every_opening_starts_an_epoch_and_the_clock_restarts_above_the_marks() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    n.write(&[put(1, 1), put(2, 2)]).unwrap();
    let newest = n.reader.get(TABLE, &encoded(2)).unwrap().unwrap().version;
    assert_eq!(n.reader.high_water("r-a").unwrap(), Some(newest.clone()));
    assert_eq!(n.reader.high_water("r-b").unwrap(), None);
    let first = n.reader.epochs().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].start, 1);

    let head = n.reader.log_head().unwrap();
    let (_dir, writer, reader) = n.reopen();
    let epochs = reader.epochs().unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!(epochs[0], first[0]);
    assert_eq!(epochs[1].start, head + 1);
    assert_ne!(epochs[1].id, epochs[0].id);
    assert_eq!(reader.log_id().unwrap(), epochs[1].id);
    assert_eq!(writer.max_version().unwrap(), Some(newest));
}

#[test]
fn truncating_the_log_keeps_its_head_and_its_positions() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    for k in 0..40 {
        n.write(&[put(k, u32::from(k))]).unwrap();
    }
    let head = n.reader.log_head().unwrap();
    assert_eq!((n.reader.log_start().unwrap(), head), (1, 41));
    let truncate = |n: &mut Node, keep_from, max_rows| {
        let mut g = n.writer.group().unwrap();
        let gone = g.truncate_log(keep_from, max_rows).unwrap();
        g.commit().unwrap();
        gone
    };
    // At most max_rows at a time, from the oldest.
    assert_eq!(truncate(&mut n, 30, 10), 10);
    assert_eq!(n.reader.log_start().unwrap(), 11);
    assert_eq!(truncate(&mut n, 30, 1_000), 19);
    assert_eq!(n.reader.log_start().unwrap(), 30);
    let left = n.reader.log_after(0, 1_000, usize::MAX).unwrap();
    assert_eq!(left.first().map(|m| m.seq), Some(30));
    // Never the head, however far it is asked to go.
    assert_eq!(truncate(&mut n, 1_000, 1_000), 11);
    assert_eq!(n.reader.log_start().unwrap(), head);
    assert_eq!(truncate(&mut n, 1_000, 1_000), 0);
    // New writes continue after it, and the items are all there.
    n.write(&[put(99, 1)]).unwrap();
    assert_eq!(n.reader.log_head().unwrap(), head + 1);
    assert_eq!(n.reader.digest(TABLE).unwrap().live, 41);
    // A restart's epoch starts after the head, not after what was deleted.
    let (_dir, _w, r) = n.reopen();
    assert_eq!(r.epochs().unwrap().last().unwrap().start, head + 2);
}

#[test]
fn conflict_records_are_purged_by_their_retention_and_the_count_never_drops() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    a.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    b.receive(&a);
    // Ten keys written concurrently in both regions: ten conflicts at a.
    for k in 0..10 {
        a.write(&[put(k, 1)]).unwrap();
        b.write(&[put(k, 2)]).unwrap();
    }
    a.receive(&b);
    assert_eq!(a.reader.conflict_count().unwrap(), 10);
    let purge = |n: &mut Node, keep, older_than, max| {
        let mut g = n.writer.group().unwrap();
        let gone = g.purge_conflicts(keep, older_than, max).unwrap();
        g.commit().unwrap();
        gone
    };
    // The newest 3 stay, at most 4 rows at a time.
    assert_eq!(purge(&mut a, 3, 0, 4), 4);
    assert_eq!(purge(&mut a, 3, 0, 100), 3);
    assert_eq!(a.reader.conflict_records().unwrap(), 3);
    let kept = a.reader.conflicts("", 100).unwrap();
    assert_eq!(kept.len(), 3);
    assert_eq!(a.reader.conflict_count().unwrap(), 10);
    // By age: every record is older than a time after them all.
    assert_eq!(purge(&mut a, 1_000, u64::MAX, 100), 3);
    assert_eq!(a.reader.conflict_records().unwrap(), 0);
    assert_eq!(a.reader.conflict_count().unwrap(), 10);
    assert_eq!(a.reader.table_conflict_counts().unwrap()[TABLE], 10);
    // A new conflict is the eleventh, not the first again.
    a.write(&[put(50, 1)]).unwrap();
    b.write(&[put(50, 2)]).unwrap();
    a.receive(&b);
    assert_eq!(a.reader.conflict_count().unwrap(), 11);
    assert_eq!(a.reader.conflict_records().unwrap(), 1);
}

#[test]
fn conflicts_are_counted_per_table_in_the_transaction_that_records_them() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    let mut other = table_def();
    other.name = "other".into();
    let put_other = |k: u8, v: u32| match put(k, v) {
        ItemWrite::Put {
            item, condition, ..
        } => ItemWrite::Put {
            table: "other".into(),
            item,
            condition,
        },
        _ => unreachable!(),
    };
    a.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    a.write(&[CatalogChange::CreateTable(other.clone())])
        .unwrap();
    b.receive(&a);
    assert!(a.reader.table_conflict_counts().unwrap().is_empty());
    // Three keys of `tbl` and two of `other` written in both regions.
    for k in 0..3 {
        a.write(&[put(k, 1)]).unwrap();
        b.write(&[put(k, 2)]).unwrap();
    }
    for k in 0..2 {
        a.write(&[put_other(k, 1)]).unwrap();
        b.write(&[put_other(k, 2)]).unwrap();
    }
    a.receive(&b);
    let counts = a.reader.table_conflict_counts().unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("other".to_string(), 2), (TABLE.to_string(), 3)]
    );
    assert_eq!(a.reader.conflict_count().unwrap(), 5);
    // Purging every record by its retention lowers no count.
    let mut g = a.writer.group().unwrap();
    assert_eq!(g.purge_conflicts(0, u64::MAX, 100).unwrap(), 5);
    g.commit().unwrap();
    assert_eq!(a.reader.conflict_records().unwrap(), 0);
    assert_eq!(a.reader.table_conflict_counts().unwrap()[TABLE], 3);
    // Deleting `other` ends its incarnation, and its count with it; a new
    // `other` counts from zero.
    a.write(&[CatalogChange::DeleteTable("other".into())])
        .unwrap();
    assert!(
        !a.reader
            .table_conflict_counts()
            .unwrap()
            .contains_key("other")
    );
    a.write(&[CatalogChange::CreateTable(other)]).unwrap();
    b.receive(&a);
    a.write(&[put_other(9, 1)]).unwrap();
    b.write(&[put_other(9, 2)]).unwrap();
    a.receive(&b);
    let counts = a.reader.table_conflict_counts().unwrap();
    assert_eq!((counts["other"], counts[TABLE]), (1, 3));
    // The region's total still counts every conflict ever recorded.
    assert_eq!(a.reader.conflict_count().unwrap(), 6);
}

#[test]
fn a_version_16_store_counts_conflicts_per_table_from_the_records_it_kept() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    a.write(&[CatalogChange::CreateTable(table_def())]).unwrap();
    b.receive(&a);
    for k in 0..4 {
        a.write(&[put(k, 1)]).unwrap();
        b.write(&[put(k, 2)]).unwrap();
    }
    a.receive(&b);
    // One record purged by its retention before the upgrade.
    let mut g = a.writer.group().unwrap();
    assert_eq!(g.purge_conflicts(3, 0, 100).unwrap(), 1);
    g.commit().unwrap();
    let (dir, writer, reader) = a.reopen();
    let path = writer.path().to_path_buf();
    drop((writer, reader));
    // What version 16 lacked: the counts.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TABLE conflict_counts; UPDATE meta SET v = '16' WHERE k = 'schema_version';",
        )
        .unwrap();
    let _writer = meridian_store::open(dir.path(), "r-a", Durability::Simulated).unwrap();
    let reader = meridian_store::open_reader(dir.path()).unwrap();
    assert_eq!(reader.table_conflict_counts().unwrap()[TABLE], 3);
    assert_eq!(reader.conflict_count().unwrap(), 4);
}

// ------------------------------------------------------------------ repair

/// One more disaster a replica can meet, beside the steps above.
#[derive(Clone, Debug)]
enum Disaster {
    /// The node's log loses everything but its newest entry.
    Truncate { at: usize },
    /// The node's store is lost; it starts empty, with a new log.
    Wipe { at: usize },
}

fn disaster() -> impl Strategy<Value = Disaster> {
    prop_oneof![
        (0..2usize).prop_map(|at| Disaster::Truncate { at }),
        (0..2usize).prop_map(|at| Disaster::Wipe { at }),
    ]
}

impl Node {
    /// Takes what `from`'s log holds after what this node applied of it,
    /// resuming as a region does (`meridian_core::epoch::resume`): a new
    /// epoch starts over, and a log truncated past this node's position
    /// is jumped over and the rest pulled by repair.
    fn catch_up(&mut self, from: &Node) {
        let chain = from.reader.epochs().unwrap();
        let id = chain.last().unwrap().id.clone();
        let stored = self.reader.inbound_record(&from.region).unwrap();
        let (at, truncated) = meridian_core::epoch::resume(
            &chain,
            stored.as_ref().map(|(i, a)| (i.as_str(), *a)),
            from.reader.log_start().unwrap(),
        );
        if truncated || stored.as_ref().map(|(i, _)| i) != Some(&id) {
            let mut g = self.writer.group().unwrap();
            g.set_inbound(&from.region, &id, at).unwrap();
            g.commit().unwrap();
        }
        if truncated {
            self.repair_from(from);
        }
        let entries = from.reader.log_after(at, 100_000, usize::MAX).unwrap();
        if entries.is_empty() {
            return;
        }
        let mut g = self.writer.group().unwrap();
        let out = g
            .apply(
                &self.hlc,
                T0,
                &PeerBatch::new(&from.region, &id, entries.to_vec()),
            )
            .unwrap();
        g.commit().unwrap();
        assert_eq!(out.refused, None, "{} from {}", self.region, from.region);
    }

    /// Pulls every head `from` holds, the catalog first, as a repair round
    /// that finds this node's tree empty would.
    fn repair_from(&mut self, from: &Node) {
        let mut tables: Vec<String> = from
            .reader
            .digest_roots()
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        tables.sort_by_key(|t| t != CATALOG_TABLE);
        for t in tables {
            let mut after: Option<EncodedKey> = None;
            loop {
                let (page, more) = from
                    .reader
                    .entries_under(&t, &[NodeId::ROOT], after.as_ref(), (64, 1 << 20))
                    .unwrap();
                after = page.last().map(|m| m.key.clone());
                let mut g = self.writer.group().unwrap();
                let out = g.repair(&self.hlc, T0, &page).unwrap();
                g.commit().unwrap();
                assert_eq!(
                    out.refused, None,
                    "{} repairing {t} from {}",
                    self.region, from.region
                );
                if !more {
                    break;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Writes, deletes, expiries, TTL changes and table recreations at two
    /// writers, interleaved with log truncations and lost stores, in random
    /// orders: once every log is delivered and every node has repaired from
    /// the other, both hold the same heads and the same tree.
    #[test]
    fn truncations_and_wipes_still_converge_by_repair(
        steps in proptest::collection::vec(
            prop_oneof![4 => step().prop_map(Ok), 1 => disaster().prop_map(Err)],
            1..50,
        ),
    ) {
        let mut w: Vec<Node> = REGIONS[..2].iter().map(|r| Node::new(r)).collect();
        w[0].write(&[CatalogChange::CreateTable(table_def())]).unwrap();
        let exchange = |w: &mut Vec<Node>| {
            let (a, b) = w.split_at_mut(1);
            b[0].catch_up(&a[0]);
            a[0].catch_up(&b[0]);
        };
        exchange(&mut w);
        for s in &steps {
            match s {
                Ok(Step::Sync) => exchange(&mut w),
                Ok(Step::Recreate) => {
                    // Only where the table is known, as a client would see it.
                    if w[0].reader.table_def(TABLE).unwrap().is_some() {
                        w[0].write(&[CatalogChange::DeleteTable(TABLE.into())]).unwrap();
                        w[0].write(&[CatalogChange::CreateTable(table_def())]).unwrap();
                    }
                }
                Ok(Step::Put { at, key, v }) => {
                    let _ = w[*at].write(&[put(*key, *v)]);
                }
                Ok(Step::Delete { at, key }) => {
                    let _ = w[*at].write(&[del(*key)]);
                }
                Ok(Step::Expire { at, key }) => {
                    let head = w[*at].reader.get(TABLE, &encoded(*key)).unwrap();
                    if let Some(h) = head.filter(|h| h.image.is_some()) {
                        let _ = w[*at].write(&[ItemWrite::Expire {
                            table: TABLE.into(),
                            key: key_attrs(*key),
                            version: h.version,
                            attribute: "exp".into(),
                        }]);
                    }
                }
                Ok(Step::Ttl { on }) => {
                    let _ = w[0].write(&[CatalogChange::SetTtl {
                        table: TABLE.into(),
                        attribute: on.then(|| "exp".to_string()),
                    }]);
                }
                Err(Disaster::Truncate { at }) => {
                    let n = &mut w[*at];
                    let head = n.reader.log_head().unwrap();
                    let mut g = n.writer.group().unwrap();
                    g.truncate_log(head, u64::MAX).unwrap();
                    g.commit().unwrap();
                }
                Err(Disaster::Wipe { at }) => {
                    let region = w[*at].region.clone();
                    let fresh = Node::new(&region);
                    // What a peer answers (`Welcome`, `Roots`): the clock
                    // starts above every version of ours it holds.
                    let other = &w[1 - *at];
                    if let Some(v) = other.reader.high_water(&region).unwrap() {
                        fresh.hlc.restore(v.hlc);
                    }
                    fresh.clock.set(other.clock.now_micros());
                    w[*at] = fresh;
                    if *at == 0 {
                        // The table changes happen at node 0: it must know the table again.
                        let (a, b) = w.split_at_mut(1);
                        a[0].repair_from(&b[0]);
                    }
                }
            }
        }
        exchange(&mut w);
        exchange(&mut w);
        let (a, b) = w.split_at_mut(1);
        a[0].repair_from(&b[0]);
        b[0].repair_from(&a[0]);
        for t in [TABLE, CATALOG_TABLE] {
            prop_assert_eq!(w[0].reader.heads(t).unwrap(), w[1].reader.heads(t).unwrap(), "{}", t);
            prop_assert_eq!(w[0].reader.digest(t).unwrap(), w[1].reader.digest(t).unwrap());
        }
        for n in &w {
            n.assert_exact();
        }
    }
}
