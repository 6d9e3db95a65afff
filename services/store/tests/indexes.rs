//! Secondary index entries in the store: kept in the transaction of every
//! change, local or applied from a peer, a conflict's winner replacing the
//! loser's entries; built in steps for an index added later; dropped with
//! the index or the table; item collection sizes for local indexes.

use std::collections::BTreeSet;

use meridian_core::index::{Change, IndexDef, Kind, Projection};
use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, TableDef};
use meridian_store::{CatalogChange, IndexPos, ItemWrite};

mod common;
use common::Node;

/// What the tests here ask of a node besides writing and shipping.
trait Indexed {
    fn build(&mut self, rows: u64) -> u64;
    fn entries(&self, table: &str, index: &str) -> (BTreeSet<IndexPos>, BTreeSet<IndexPos>);
}

impl Indexed for Node {
    fn build(&mut self, rows: u64) -> u64 {
        let mut g = self.writer.group().unwrap();
        let n = g.build_indexes(rows).unwrap();
        g.commit().unwrap();
        n
    }

    /// The entries of `index` as stored, and as the items give them.
    fn entries(&self, table: &str, index: &str) -> (BTreeSet<IndexPos>, BTreeSet<IndexPos>) {
        let stored = self.reader.index_entries(table, index).unwrap();
        let (def, _) = self.reader.table_def(table).unwrap().unwrap();
        let i = def.index(index).unwrap();
        let given = self
            .reader
            .heads(table)
            .unwrap()
            .into_iter()
            .filter_map(|r| {
                let item = r.image?;
                i.key_of(&item).map(|index| IndexPos { index, key: r.key })
            })
            .collect();
        (stored.into_iter().collect(), given)
    }
}

fn attr(name: &str, ty: KeyType) -> KeyAttr {
    KeyAttr {
        name: name.into(),
        ty,
    }
}

fn table(indexes: Vec<IndexDef>) -> TableDef {
    let mut def = TableDef::new(
        "tab",
        KeySchema {
            partition: attr("id", KeyType::S),
            sort: Some(attr("n", KeyType::N)),
        },
        vec!["a-1".into(), "b-1".into()],
    )
    .unwrap();
    def.indexes = indexes;
    def
}

fn by_status() -> IndexDef {
    IndexDef {
        name: "by_status".into(),
        kind: Kind::Global,
        partition: vec![attr("status", KeyType::S)],
        sort: vec![attr("n", KeyType::N)],
        projection: Projection::All,
        throughput: None,
    }
}

fn lsi() -> IndexDef {
    IndexDef {
        name: "by_at".into(),
        kind: Kind::Local,
        partition: vec![attr("id", KeyType::S)],
        sort: vec![attr("at", KeyType::N)],
        projection: Projection::KeysOnly,
        throughput: None,
    }
}

fn item(id: &str, n: u32, status: Option<&str>) -> Item {
    let mut i = Item::from([
        ("id".to_string(), AttrValue::S(id.into())),
        (
            "n".to_string(),
            AttrValue::N(meridian_core::Number::parse(&n.to_string(), "n").unwrap()),
        ),
        (
            "at".to_string(),
            AttrValue::N(meridian_core::Number::parse("7", "at").unwrap()),
        ),
    ]);
    if let Some(s) = status {
        i.insert("status".into(), AttrValue::S(s.into()));
    }
    i
}

fn put(i: Item) -> ItemWrite {
    ItemWrite::Put {
        table: "tab".into(),
        item: i,
        condition: None,
    }
}

#[test]
fn entries_follow_every_local_write() {
    let mut a = Node::new("a-1");
    a.write(&[CatalogChange::CreateTable(table(vec![by_status()]))])
        .unwrap();
    a.write(&[put(item("x", 1, Some("open"))), put(item("y", 1, None))])
        .unwrap();
    let (stored, given) = a.entries("tab", "by_status");
    assert_eq!(stored.len(), 1, "the item without status is not indexed");
    assert_eq!(stored, given);
    // Moved to another partition of the index, then out of it.
    a.write(&[put(item("x", 1, Some("done")))]).unwrap();
    assert_eq!(
        a.entries("tab", "by_status").0,
        a.entries("tab", "by_status").1
    );
    a.write(&[put(item("x", 1, None)), put(item("y", 1, Some("open")))])
        .unwrap();
    let (stored, given) = a.entries("tab", "by_status");
    assert_eq!(stored, given);
    assert_eq!(stored.len(), 1);
    a.write(&[ItemWrite::Delete {
        table: "tab".into(),
        key: item("y", 1, None)
            .into_iter()
            .filter(|(k, _)| k != "at")
            .collect(),
        condition: None,
    }])
    .unwrap();
    assert!(a.entries("tab", "by_status").0.is_empty());
    // A wrong-typed index key is refused, and nothing changes.
    let mut bad = item("z", 1, None);
    bad.insert(
        "status".into(),
        AttrValue::N(meridian_core::Number::parse("1", "s").unwrap()),
    );
    let e = a.write(&[put(bad)]).unwrap_err();
    assert!(
        e.to_string().contains("Type mismatch for Index Key status"),
        "{e}"
    );
    assert!(
        a.reader
            .heads("tab")
            .unwrap()
            .iter()
            .all(|r| r.key.partition != b"z")
    );
}

#[test]
fn a_conflicts_winner_replaces_the_losers_entries_in_both_regions() {
    let mut a = Node::new("a-1");
    let mut b = Node::new("b-1");
    a.write(&[CatalogChange::CreateTable(table(vec![by_status()]))])
        .unwrap();
    a.ship_to(&mut b, "a-1");
    // Concurrent writes of one key put it in different partitions.
    a.write(&[put(item("k", 1, Some("from-a")))]).unwrap();
    b.clock.advance(1_000);
    b.write(&[put(item("k", 1, Some("from-b")))]).unwrap();
    a.ship_to(&mut b, "a-1");
    b.ship_to(&mut a, "b-1");
    for node in [&a, &b] {
        let (stored, given) = node.entries("tab", "by_status");
        assert_eq!(stored, given);
        assert_eq!(stored.len(), 1);
    }
    assert_eq!(
        a.entries("tab", "by_status").0,
        b.entries("tab", "by_status").0
    );
}

#[test]
fn an_index_added_later_is_built_in_steps_and_dropped_whole() {
    let mut a = Node::new("a-1");
    a.write(&[CatalogChange::CreateTable(table(Vec::new()))])
        .unwrap();
    for n in 0..25 {
        let status = (n % 3 != 0).then_some(if n % 2 == 0 { "open" } else { "done" });
        a.write(&[put(item(&format!("i{n:02}"), n, status))])
            .unwrap();
    }
    a.write(&[CatalogChange::UpdateIndex {
        table: "tab".into(),
        change: Change::Create(by_status()),
    }])
    .unwrap();
    assert_eq!(a.reader.indexes_building("tab").unwrap(), vec!["by_status"]);
    // A write during the build is indexed at once.
    a.write(&[put(item("i00", 0, Some("open")))]).unwrap();
    let mut steps = 0;
    while a.build(10) > 0 {
        steps += 1;
        assert!(steps < 10, "the build never ends");
    }
    assert_eq!(steps, 3, "25 items in steps of 10, the last one finishing");
    assert!(a.reader.indexes_building("tab").unwrap().is_empty());
    let (stored, given) = a.entries("tab", "by_status");
    assert_eq!(stored, given);
    assert_eq!(stored.len(), 17);
    // Created twice: refused with DynamoDB's words.
    let e = a
        .write(&[CatalogChange::UpdateIndex {
            table: "tab".into(),
            change: Change::Create(by_status()),
        }])
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    a.write(&[CatalogChange::UpdateIndex {
        table: "tab".into(),
        change: Change::Delete("by_status".into()),
    }])
    .unwrap();
    assert!(
        a.reader
            .index_entries("tab", "by_status")
            .unwrap()
            .is_empty()
    );
    assert!(
        a.reader
            .table_def("tab")
            .unwrap()
            .unwrap()
            .0
            .indexes
            .is_empty()
    );
}

#[test]
fn item_collections_are_sized_for_tables_with_local_indexes() {
    let mut a = Node::new("a-1");
    a.write(&[CatalogChange::CreateTable(table(vec![lsi()]))])
        .unwrap();
    for n in 0..4 {
        a.write(&[put(item("p", n, Some("s")))]).unwrap();
    }
    let stored: u64 = a
        .reader
        .heads("tab")
        .unwrap()
        .iter()
        .filter_map(|r| r.image.as_ref())
        .map(|i| meridian_core::encode_item(i).len() as u64)
        .sum();
    assert_eq!(a.reader.collection_bytes("tab", b"p").unwrap(), stored);
    assert_eq!(a.reader.index_entries("tab", "by_at").unwrap().len(), 4);
    a.write(&[CatalogChange::DeleteTable("tab".into())])
        .unwrap();
    assert_eq!(a.reader.collection_bytes("tab", b"p").unwrap(), 0);
    assert!(a.reader.index_entries("tab", "by_at").unwrap().is_empty());
}

#[test]
fn an_index_row_of_an_older_incarnation_leaves_the_current_index_alone() {
    let mut a = Node::new("a-1");
    let mut b = Node::new("b-1");
    a.write(&[CatalogChange::CreateTable(table(Vec::new()))])
        .unwrap();
    a.write(&[CatalogChange::UpdateIndex {
        table: "tab".into(),
        change: Change::Create(by_status()),
    }])
    .unwrap();
    a.ship_to(&mut b, "a-1");
    // b drops the table and creates it again with the index, then writes.
    b.write(&[CatalogChange::DeleteTable("tab".into())])
        .unwrap();
    b.write(&[CatalogChange::CreateTable(table(vec![by_status()]))])
        .unwrap();
    b.write(&[
        put(item("x", 1, Some("open"))),
        put(item("y", 2, Some("done"))),
    ])
    .unwrap();
    // Meanwhile a, which still has the first table, deletes its index: the
    // row reaches b, where it belongs to a table that is gone.
    a.clock.advance(5_000);
    a.write(&[CatalogChange::UpdateIndex {
        table: "tab".into(),
        change: Change::Delete("by_status".into()),
    }])
    .unwrap();
    a.ship_to(&mut b, "a-1");
    let (stored, given) = b.entries("tab", "by_status");
    assert_eq!(stored.len(), 2, "the current table's entries stand");
    assert_eq!(stored, given);
    assert!(b.reader.indexes_building("tab").unwrap().is_empty());
}

#[test]
fn a_restore_loads_items_an_index_would_refuse_and_leaves_them_out_of_it() {
    let mut a = Node::new("a-1");
    a.write(&[CatalogChange::CreateTable(table(vec![by_status()]))])
        .unwrap();
    let mut odd = item("z", 1, None);
    odd.insert(
        "status".into(),
        AttrValue::N(meridian_core::Number::parse("1", "s").unwrap()),
    );
    a.write(&[ItemWrite::Load {
        table: "tab".into(),
        item: odd,
    }])
    .unwrap();
    assert_eq!(
        a.reader.heads("tab").unwrap().len(),
        1,
        "the item is stored"
    );
    assert!(
        a.entries("tab", "by_status").0.is_empty(),
        "and not indexed"
    );
}
