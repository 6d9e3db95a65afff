//! Catalog changes relayed by a region that did not make them: what
//! destroys a table here is left for its origin to bring, without holding
//! up the relaying link; the rest passes at once.

use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, TableDef};
use meridian_store::{CatalogChange, ItemWrite};

mod common;
use common::Node;

fn table(name: &str, replicas: &[&str]) -> TableDef {
    TableDef::new(
        name,
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: None,
        },
        replicas.iter().map(|r| r.to_string()).collect(),
    )
    .unwrap()
}

fn put(t: &str, id: &str) -> ItemWrite {
    ItemWrite::Put {
        table: t.into(),
        item: Item::from([("id".to_string(), AttrValue::S(id.into()))]),
        condition: None,
    }
}

fn holds(n: &Node, t: &str) -> bool {
    n.reader.table_def(t).unwrap().is_some()
}

#[test]
fn a_relayed_deletion_is_left_to_its_origin_and_a_relayed_creation_is_not() {
    let regions = ["r-a", "r-b", "r-c"];
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    let mut c = Node::new("r-c");
    let mut d = Node::new("r-d");
    a.write(&[CatalogChange::CreateTable(table("t01", &regions))])
        .unwrap();
    a.write(&[put("t01", "k")]).unwrap();
    a.ship_to(&mut b, "r-a");
    // A table new here passes from whoever relays it.
    let out = b.ship_to(&mut d, "r-b");
    assert_eq!(out.refused, None);
    assert!(holds(&d, "t01"), "d learned t from b's relay");
    a.ship_to(&mut c, "r-a");
    a.write(&[CatalogChange::DeleteTable("t01".into())])
        .unwrap();
    a.ship_to(&mut b, "r-a");
    assert!(!holds(&b, "t01"), "b took the deletion from its origin");

    // b's log now holds a's creation and deletion, relayed. At c the
    // creation is a duplicate; the deletion is passed over, left for a to
    // send, and b's link goes on past it.
    let out = b.ship_to(&mut c, "r-b");
    assert_eq!(out.refused, None, "{out:?}");
    assert!(out.left_to_origin >= 1, "{out:?}");
    assert_eq!(out.applied_through, 2, "past the deletion");
    assert!(holds(&c, "t01"), "c still holds t");
    assert!(c.reader.get("t01", &key("k")).unwrap().is_some());
    // Nothing of it is relayed on from c.
    assert!(!out.relayed, "{out:?}");

    // From its origin it applies; b's relayed copy is a duplicate by then.
    let out = a.ship_to(&mut c, "r-a");
    assert_eq!(out.refused, None);
    assert_eq!(out.left_to_origin, 0);
    assert!(!holds(&c, "t01"));
    let out = b.ship_to(&mut c, "r-b");
    assert_eq!(out.refused, None, "{out:?}");
    assert_eq!(out.applied_through, 2);

    // A repair round is the other way in: it brings the deletion from
    // any peer, for when the origin cannot be reached.
    let heads: Vec<_> = b.reader.log_after(0, 100, usize::MAX).unwrap();
    let mut g = d.writer.group().unwrap();
    let out = g.repair(&d.hlc, common::T0, &heads).unwrap();
    g.commit().unwrap();
    assert_eq!(out.refused, None, "{out:?}");
    assert!(!holds(&d, "t01"));
}

#[test]
fn a_relayed_replacement_of_a_live_table_is_left_to_its_origin() {
    let regions = ["r-a", "r-b", "r-c"];
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    let mut c = Node::new("r-c");
    a.write(&[CatalogChange::CreateTable(table("t01", &regions))])
        .unwrap();
    a.ship_to(&mut b, "r-a");
    a.ship_to(&mut c, "r-a");
    // b deletes and recreates t: a new incarnation. a learns both from b
    // and relays them; at c, a's relayed deletion waits for b.
    b.write(&[CatalogChange::DeleteTable("t01".into())])
        .unwrap();
    b.write(&[CatalogChange::CreateTable(table("t01", &regions))])
        .unwrap();
    let before = c.reader.table_def("t01").unwrap().unwrap().1;
    b.ship_to(&mut a, "r-b");
    let out = a.ship_to(&mut c, "r-a");
    assert_eq!(out.refused, None, "{out:?}");
    assert!(
        out.left_to_origin >= 2,
        "the deletion and the new incarnation: {out:?}"
    );
    assert_eq!(c.reader.table_def("t01").unwrap().unwrap().1, before);
    // b's own stream: the deletion and the new incarnation apply.
    let out = b.ship_to(&mut c, "r-b");
    assert_eq!(out.refused, None, "{out:?}");
    let now = c.reader.table_def("t01").unwrap().unwrap().1;
    assert_ne!(now, before);
    assert_eq!(now, b.reader.table_def("t01").unwrap().unwrap().1);
    assert_eq!(a.ship_to(&mut c, "r-a").refused, None);
}

fn key(id: &str) -> meridian_core::EncodedKey {
    let item = Item::from([("id".to_string(), AttrValue::S(id.into()))]);
    table("t01", &["r-a"]).key_schema.key_of(&item).unwrap()
}
