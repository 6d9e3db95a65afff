//! Strong mode in the store: a STRONG table's items change only through
//! its consensus log; a write is evaluated without being written; chosen
//! entries apply as compare-and-sets in log order, the same decision in
//! every replica; the consensus state survives a reopen.

use std::sync::Arc;

use meridian_core::consistency::StrongSet;
use meridian_core::strong::codec;
use meridian_core::strong::{Ballot, Durable, Entry, Generation, Persist, ProposalId, Slot};
use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, Number, TableDef};
use meridian_store::{CatalogChange, ItemWrite, StoreError};

mod common;
use common::{Node, T0};

const REGIONS: [&str; 3] = ["r-a", "r-b", "r-c"];

fn table() -> TableDef {
    TableDef::new(
        "accounts",
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

fn item(id: &str, n: &str) -> Item {
    Item::from([
        ("id".to_string(), AttrValue::S(id.into())),
        (
            "n".to_string(),
            AttrValue::N(Number::parse(n, "n").unwrap()),
        ),
    ])
}

fn put(id: &str, n: &str) -> ItemWrite {
    ItemWrite::Put {
        table: "accounts".into(),
        item: item(id, n),
        condition: None,
    }
}

/// Three replicas of a STRONG table, its state initialised in each.
fn cluster() -> Vec<Node> {
    let mut nodes: Vec<Node> = REGIONS.iter().map(|r| Node::new(r)).collect();
    nodes[0]
        .write(&[CatalogChange::CreateTable(table())])
        .unwrap();
    make_strong(&mut nodes);
    nodes
}

/// Makes r-a's table STRONG, ships it to the others and starts each
/// member's state.
fn make_strong(nodes: &mut [Node]) {
    let set = StrongSet::new(REGIONS.iter().map(|r| r.to_string()).collect(), None, "r-a").unwrap();
    nodes[0]
        .write(&[CatalogChange::SetConsistency {
            table: "accounts".into(),
            mode: meridian_core::consistency::Consistency::Strong(set),
        }])
        .unwrap();
    let (first, rest) = nodes.split_at_mut(1);
    for n in rest {
        first[0].ship_to(n, "r-a");
    }
    for n in nodes.iter_mut() {
        let (_, v) = n.reader.table_def("accounts").unwrap().unwrap();
        let mut g = n.writer.group().unwrap();
        g.strong_init("accounts", &v.to_bytes(), &Durable::fresh(0))
            .unwrap();
        g.commit().unwrap();
    }
}

/// Evaluates `ops` at `n` and returns the entry that proposes them.
fn propose(n: &mut Node, seq: u64, ops: &[ItemWrite]) -> Entry {
    let mut g = n.writer.group().unwrap();
    let e = g.strong_evaluate(&n.hlc, T0, ops).unwrap();
    g.commit().unwrap();
    Entry {
        id: ProposalId {
            origin: 0,
            life: 1,
            seq,
        },
        body: e.writes.into_body(),
    }
}

/// Persists `entry` at `idx` in every node and applies through it.
fn choose(nodes: &mut [Node], idx: u64, entry: &Entry) -> Vec<bool> {
    nodes
        .iter_mut()
        .map(|n| {
            let mut g = n.writer.group().unwrap();
            let slot = Slot {
                ballot: Ballot::initial(0),
                entry: Arc::new(entry.clone()),
            };
            g.strong_persist("accounts", &[Persist::Accepted(vec![(idx, slot)])])
                .unwrap();
            let out = g.strong_apply(&n.hlc, "accounts", idx).unwrap();
            g.commit().unwrap();
            assert_eq!(out.len(), 1);
            out[0].written
        })
        .collect()
}

fn n_of(node: &Node, id: &str) -> Option<String> {
    let key = table()
        .key_schema
        .key_from_attrs(&Item::from([("id".to_string(), AttrValue::S(id.into()))]))
        .unwrap();
    node.reader
        .get("accounts", &key)
        .unwrap()
        .and_then(|r| r.image)
        .map(|i| match &i["n"] {
            AttrValue::N(n) => n.to_string(),
            other => panic!("{other:?}"),
        })
}

#[test]
fn a_strong_tables_items_change_only_through_its_log() {
    let mut nodes = cluster();
    let def = nodes[1].reader.table_def("accounts").unwrap().unwrap().0;
    assert!(def.consistency.strong().is_some(), "the mode reached r-b");
    let refused = nodes[0].write(&[put("x", "1")]).unwrap_err();
    assert!(
        matches!(&refused, StoreError::Invalid(e) if e.to_string().contains("STRONG")),
        "{refused:?}"
    );
    // Evaluating writes nothing.
    let e = propose(&mut nodes[0], 1, &[put("x", "1")]);
    assert_eq!(n_of(&nodes[0], "x"), None);
    assert_eq!(choose(&mut nodes, 1, &e), [true, true, true]);
    for n in &nodes {
        assert_eq!(n_of(n, "x").as_deref(), Some("1"));
    }
}

#[test]
fn a_write_evaluated_against_a_stale_copy_takes_effect_nowhere() {
    let mut nodes = cluster();
    let first = propose(&mut nodes[1], 1, &[put("x", "1")]);
    // r-c evaluates before it has applied the first write.
    let stale = propose(&mut nodes[2], 2, &[put("x", "2")]);
    assert_eq!(choose(&mut nodes, 1, &first), [true, true, true]);
    assert_eq!(choose(&mut nodes, 2, &stale), [false, false, false]);
    // Evaluated again against the new head, it goes through.
    let again = propose(&mut nodes[2], 3, &[put("x", "2")]);
    assert_eq!(choose(&mut nodes, 3, &again), [true, true, true]);
    for n in &nodes {
        assert_eq!(n_of(n, "x").as_deref(), Some("2"));
    }
}

fn delete(id: &str) -> ItemWrite {
    ItemWrite::Delete {
        table: "accounts".into(),
        key: Item::from([("id".to_string(), AttrValue::S(id.into()))]),
        condition: None,
    }
}

fn version_of(e: &Entry) -> meridian_core::Version {
    let writes = codec::decode(&codec::encode(e))
        .unwrap()
        .1
        .expect("a write");
    meridian_core::Version::from_bytes(&writes.mutations[0].version).unwrap()
}

/// A STRONG table's writes are ordered by its log, and each is a
/// compare-and-set on its key's head: no region purges a STRONG table's
/// tombstones (the horizon speaks for replication, which does not carry
/// these writes), so every member's heads stay the same, and a write
/// chosen later takes effect in every one. Last-writer-wins once dropped
/// such a write where a region had purged the key's tombstone, while the
/// others applied it: the seeded sweep found the replicas diverged.
#[test]
fn a_strong_tables_tombstones_stay_and_every_member_applies_alike() {
    let mut nodes = cluster();
    let first = propose(&mut nodes[0], 1, &[put("x", "1")]);
    assert_eq!(choose(&mut nodes, 1, &first), [true, true, true]);
    let gone = propose(&mut nodes[0], 2, &[delete("x")]);
    assert_eq!(choose(&mut nodes, 2, &gone), [true, true, true]);
    let mut g = nodes[0].writer.group().unwrap();
    let horizon = meridian_core::Timestamp::new(T0 + 10_000_000, 0);
    assert_eq!(g.purge_tombstones(horizon, 100).unwrap(), 0);
    g.commit().unwrap();
    let again = propose(&mut nodes[1], 3, &[put("x", "3")]);
    assert_eq!(choose(&mut nodes, 3, &again), [true, true, true]);
    for (n, region) in nodes.iter().zip(REGIONS) {
        assert_eq!(n_of(n, "x").as_deref(), Some("3"), "{region}");
    }
}

/// A write evaluated where its key held nothing, chosen after a delete of
/// that key, does not take effect: its version is older than the delete's,
/// and following it would run versions backwards along the log. Evaluated
/// again, it does.
#[test]
fn a_write_evaluated_before_a_delete_does_not_follow_it() {
    let mut nodes = cluster();
    // r-c evaluates on its copy, where x holds nothing yet.
    let early = propose(&mut nodes[2], 1, &[put("x", "3")]);
    let first = propose(&mut nodes[0], 2, &[put("x", "1")]);
    assert_eq!(choose(&mut nodes, 1, &first), [true, true, true]);
    let gone = propose(&mut nodes[0], 3, &[delete("x")]);
    assert_eq!(choose(&mut nodes, 2, &gone), [true, true, true]);
    assert!(version_of(&early) < version_of(&gone));
    assert_eq!(choose(&mut nodes, 3, &early), [false, false, false]);
    for n in &nodes {
        assert_eq!(n_of(n, "x"), None);
    }
    let again = propose(&mut nodes[2], 4, &[put("x", "3")]);
    assert!(version_of(&again) > version_of(&gone));
    assert_eq!(choose(&mut nodes, 4, &again), [true, true, true]);
    for n in &nodes {
        assert_eq!(n_of(n, "x").as_deref(), Some("3"));
    }
}

#[test]
fn the_consensus_state_is_what_was_persisted() {
    let mut nodes = cluster();
    let e = propose(&mut nodes[0], 1, &[put("x", "1")]);
    let n = &mut nodes[0];
    let mut g = n.writer.group().unwrap();
    let slot = Slot {
        ballot: Ballot {
            round: 3,
            leader: 1,
        },
        entry: Arc::new(e.clone()),
    };
    let seen = Generation {
        counter: 4,
        nonce: 99,
    };
    g.strong_persist(
        "accounts",
        &[
            Persist::Promised(Ballot {
                round: 3,
                leader: 1,
            }),
            Persist::Accepted(vec![(1, slot.clone())]),
            Persist::Commit(1),
            Persist::Life {
                generation: Generation {
                    counter: 2,
                    nonce: 7,
                },
                rejoining: true,
                lives: vec![
                    Generation {
                        counter: 1,
                        nonce: 5,
                    },
                    Generation {
                        counter: 2,
                        nonce: 7,
                    },
                ],
            },
            Persist::PeerSeen {
                member: 2,
                generation: seen,
            },
        ],
    )
    .unwrap();
    g.commit().unwrap();
    let (_, d) = n.reader.strong_durable("accounts").unwrap().unwrap();
    assert_eq!(
        d.promised,
        Ballot {
            round: 3,
            leader: 1
        }
    );
    assert_eq!(d.slots, vec![(1, slot)]);
    assert_eq!((d.commit, d.applied, d.rejoining), (1, 0, true));
    assert_eq!(d.seen[2], Some(seen));
    assert_eq!(d.generation.counter, 2);
    assert_eq!(
        d.lives.iter().map(|g| g.nonce).collect::<Vec<_>>(),
        [5, 7],
        "the lives a hello names"
    );
    assert_eq!(
        codec::decode(&codec::encode(&e)).unwrap().0,
        e,
        "the log holds the entry's bytes"
    );
    // Compaction drops the log below the point.
    let mut g = n.writer.group().unwrap();
    g.strong_persist("accounts", &[Persist::Compacted(1)])
        .unwrap();
    g.commit().unwrap();
    let (_, d) = n.reader.strong_durable("accounts").unwrap().unwrap();
    assert!(d.slots.is_empty() && d.compacted == 1);
}

#[test]
fn making_a_table_strong_needs_it_empty() {
    let mut n = Node::new("r-a");
    let def = TableDef::new("accounts", table().key_schema, vec!["r-a".into()]).unwrap();
    n.write(&[CatalogChange::CreateTable(def)]).unwrap();
    n.write(&[put("x", "1")]).unwrap();
    let set = StrongSet::new(REGIONS.iter().map(|r| r.to_string()).collect(), None, "r-a").unwrap();
    let refused = n
        .write(&[CatalogChange::SetConsistency {
            table: "accounts".into(),
            mode: meridian_core::consistency::Consistency::Strong(set),
        }])
        .unwrap_err();
    assert!(refused.to_string().contains("must be empty"), "{refused}");
}

/// A table emptied by deletes may become STRONG, with its regions holding
/// different tombstones (some purged them, some not yet); each region's go
/// when its member starts, so every member starts from no heads, and a
/// write evaluated in one takes effect in all.
#[test]
fn a_table_made_strong_starts_without_the_tombstones_it_had() {
    let mut nodes: Vec<Node> = REGIONS.iter().map(|r| Node::new(r)).collect();
    nodes[0]
        .write(&[CatalogChange::CreateTable(table())])
        .unwrap();
    nodes[0].write(&[put("x", "1")]).unwrap();
    nodes[0].write(&[delete("x")]).unwrap();
    let (first, rest) = nodes.split_at_mut(1);
    for n in rest.iter_mut() {
        first[0].ship_to(n, "r-a");
        // The others purge the tombstone; r-a keeps it.
        let mut g = n.writer.group().unwrap();
        let horizon = meridian_core::Timestamp::new(T0 + 10_000_000, 0);
        assert_eq!(g.purge_tombstones(horizon, 100).unwrap(), 1);
        g.commit().unwrap();
    }
    make_strong(&mut nodes);
    let e = propose(&mut nodes[1], 1, &[put("x", "2")]);
    assert_eq!(choose(&mut nodes, 1, &e), [true, true, true]);
    for (n, region) in nodes.iter().zip(REGIONS) {
        assert_eq!(n_of(n, "x").as_deref(), Some("2"), "{region}");
    }
}

/// The heads of `node`'s table, as its digest sums them up.
fn root(node: &Node) -> Option<meridian_core::digest::Summary> {
    node.reader
        .digest_roots()
        .unwrap()
        .into_iter()
        .find(|(t, _)| t == "accounts")
        .map(|(_, s)| s)
}

/// A member whose store lost entries every member has dropped installs a
/// snapshot of the table read on another: its heads become the snapshot's
/// (tombstones included, so the next chosen write decides alike there), its
/// log through the snapshot's position goes, and its commit, compaction
/// point and applied position move to it, in one group; one at or below
/// what it applied changes nothing, and one holding a head of another
/// table is refused whole.
#[test]
fn a_snapshot_replaces_a_members_heads_and_moves_its_state_at_once() {
    let mut nodes = cluster();
    let (ab, c) = nodes.split_at_mut(2);
    let e1 = propose(&mut ab[0], 1, &[put("x", "1")]);
    assert_eq!(choose(ab, 1, &e1), [true, true]);
    let e2 = propose(&mut ab[0], 2, &[put("y", "2")]);
    assert_eq!(choose(ab, 2, &e2), [true, true]);
    let e3 = propose(&mut ab[0], 3, &[delete("x")]);
    assert_eq!(choose(ab, 3, &e3), [true, true]);
    // r-c's store holds another past: a head the others never had.
    let other = propose(&mut c[0], 9, &[put("z", "9")]);
    assert_eq!(choose(c, 1, &other), [true]);

    let snap = nodes[0]
        .reader
        .strong_snapshot("accounts")
        .unwrap()
        .expect("r-a keeps the table's state");
    assert_eq!(snap.through, 3);
    assert_eq!(snap.heads.len(), 2, "y, and x's tombstone");
    assert_eq!(snap.heads.iter().filter(|h| h.image.is_none()).count(), 1);

    // A head of another table: the install is refused, nothing changes.
    let mut forged = snap.heads.clone();
    forged[0].table = "other".into();
    let n = &mut nodes[2];
    let mut g = n.writer.group().unwrap();
    let refused = g.strong_install(&n.hlc, "accounts", &snap.incarnation, 3, Some(&forged));
    assert!(
        matches!(refused, Err(StoreError::Corrupt(_))),
        "{refused:?}"
    );
    g.commit().unwrap();
    assert_eq!(n_of(&nodes[2], "z").as_deref(), Some("9"));

    let n = &mut nodes[2];
    let mut g = n.writer.group().unwrap();
    let c_hlc = &n.hlc;
    assert!(
        g.strong_install(c_hlc, "accounts", &snap.incarnation, 3, Some(&snap.heads))
            .unwrap()
    );
    // Never back: the same position, or an older one, changes nothing.
    assert!(
        !g.strong_install(c_hlc, "accounts", &snap.incarnation, 3, Some(&[]))
            .unwrap()
    );
    assert!(
        !g.strong_install(c_hlc, "accounts", &snap.incarnation, 2, Some(&[]))
            .unwrap()
    );
    g.commit().unwrap();
    assert_eq!(n_of(&nodes[2], "z"), None);
    assert_eq!(n_of(&nodes[2], "x"), None);
    assert_eq!(n_of(&nodes[2], "y").as_deref(), Some("2"));
    assert_eq!(
        root(&nodes[2]),
        root(&nodes[0]),
        "the digest follows the heads"
    );
    let (_, state) = nodes[2].reader.strong_durable("accounts").unwrap().unwrap();
    assert_eq!((state.commit, state.compacted, state.applied), (3, 3, 3));
    assert!(state.slots.is_empty(), "{:?}", state.slots);

    // The next chosen write, evaluated on r-a against x's tombstone,
    // takes effect in every member alike.
    let e4 = propose(&mut nodes[0], 4, &[put("x", "4")]);
    assert_eq!(choose(&mut nodes, 4, &e4), [true, true, true]);
    for n in &nodes {
        assert_eq!(n_of(n, "x").as_deref(), Some("4"));
    }
}

/// On the witness a snapshot is positions only: no heads, and the commit
/// and compaction point move, never back.
#[test]
fn a_witness_installs_a_snapshot_as_positions_only() {
    let mut nodes = cluster();
    let (_, v) = nodes[1].reader.table_def("accounts").unwrap().unwrap();
    let inc = v.to_bytes();
    let n = &mut nodes[1];
    let mut g = n.writer.group().unwrap();
    let hlc = &n.hlc;
    assert!(g.strong_install(hlc, "accounts", &inc, 5, None).unwrap());
    assert!(!g.strong_install(hlc, "accounts", &inc, 4, None).unwrap());
    assert!(
        !g.strong_install(hlc, "accounts", b"another", 9, None)
            .unwrap()
    );
    g.commit().unwrap();
    let (_, state) = nodes[1].reader.strong_durable("accounts").unwrap().unwrap();
    assert_eq!((state.commit, state.compacted, state.applied), (5, 5, 0));
}
