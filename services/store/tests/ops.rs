//! Read-modify-write, transactions as replication units, TTL expiry.

use std::sync::Arc;

use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, Mutation, Number, TableDef};
use meridian_store::{CatalogChange, Condition, ItemWrite, PeerBatch, Skip, Skips, StoreError};

mod common;
use common::{Node, T0};

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

fn key(id: &str) -> Item {
    Item::from([("id".to_string(), AttrValue::S(id.into()))])
}

fn item(id: &str, n: &str) -> Item {
    let mut i = key(id);
    i.insert("n".into(), AttrValue::N(Number::parse(n, "n").unwrap()));
    i
}

fn put(t: &str, i: Item) -> ItemWrite {
    ItemWrite::Put {
        table: t.into(),
        item: i,
        condition: None,
    }
}

fn n_of(i: &Item) -> String {
    match &i["n"] {
        AttrValue::N(n) => n.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn update_is_an_atomic_read_modify_write_that_keeps_the_key() {
    let mut a = Node::new("r-a");
    a.write(&[CatalogChange::CreateTable(table("t01", &["r-a"]))])
        .unwrap();
    let incr = Arc::new(
        |cur: Option<&Item>| -> Result<Option<Item>, meridian_core::Error> {
            let mut next = cur.cloned().unwrap_or_default();
            let n = cur.map(|c| n_of(c).parse::<i64>().unwrap()).unwrap_or(0);
            next.insert(
                "n".into(),
                AttrValue::N(Number::parse(&(n + 1).to_string(), "n").unwrap()),
            );
            Ok(Some(next))
        },
    );
    let update = |change| ItemWrite::Update {
        table: "t01".into(),
        key: key("k"),
        change,
        condition: None,
    };
    let first = a.write(&[update(incr.clone())]).unwrap().remove(0);
    assert_eq!(first.old, None, "an update on a missing item creates it");
    assert_eq!(
        first.new,
        Some(item("k", "1")),
        "the key is merged into the new item"
    );
    let second = a.write(&[update(incr)]).unwrap().remove(0);
    assert_eq!(
        (second.old, second.new),
        (Some(item("k", "1")), Some(item("k", "2")))
    );
    let rekey = Arc::new(
        |_: Option<&Item>| -> Result<Option<Item>, meridian_core::Error> {
            Ok(Some(item("other", "1")))
        },
    );
    let e = a.write(&[update(rekey)]).unwrap_err();
    assert!(
        e.to_string().contains("cannot update a key attribute"),
        "{e}"
    );
    // An update that leaves no item writes nothing: no version, no log entry.
    let nothing =
        Arc::new(|_: Option<&Item>| -> Result<Option<Item>, meridian_core::Error> { Ok(None) });
    let missing = ItemWrite::Update {
        table: "t01".into(),
        key: key("absent"),
        change: nothing,
        condition: None,
    };
    let head = a.reader.log_head().unwrap();
    let w = a.write(&[missing]).unwrap().remove(0);
    assert_eq!((w.old, w.new), (None, None));
    assert_eq!(a.reader.log_head().unwrap(), head, "nothing was logged");
    let failing = Arc::new(
        |_: Option<&Item>| -> Result<Option<Item>, meridian_core::Error> {
            Err(meridian_core::Error::invalid(
                "n",
                "an operand has the wrong type",
            ))
        },
    );
    let e = a.write(&[update(failing)]).unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    let k = table("t01", &["r-a"]).key_schema.key_of(&key("k")).unwrap();
    let stored = a.reader.get("t01", &k).unwrap().unwrap();
    assert_eq!(
        stored.image,
        Some(item("k", "2")),
        "failed updates changed nothing"
    );
}

#[test]
fn a_transaction_reports_every_reason_and_ships_as_one_unit() {
    let mut a = Node::new("r-a");
    a.write(&[CatalogChange::CreateTable(table("t02", &["r-a", "r-b"]))])
        .unwrap();
    a.write(&[put("t02", item("x", "1"))]).unwrap();
    let never = Condition::Check(Arc::new(|_: Option<&Item>| false));
    let exists = Condition::Check(Arc::new(|cur: Option<&Item>| cur.is_some()));
    let e = a
        .write(&[
            put("t02", item("p", "1")),
            ItemWrite::ConditionCheck {
                table: "t02".into(),
                key: key("x"),
                condition: never,
            },
        ])
        .unwrap_err();
    match e {
        StoreError::TransactionCanceled { reasons } => {
            assert!(reasons[0].is_none());
            assert_eq!(reasons[1].as_ref().unwrap().current, Some(item("x", "1")));
        }
        other => panic!("{other:?}"),
    }
    let head = a.reader.log_head().unwrap();
    let r = a
        .write(&[
            put("t02", item("p", "1")),
            ItemWrite::ConditionCheck {
                table: "t02".into(),
                key: key("x"),
                condition: exists,
            },
            put("t02", item("q", "1")),
        ])
        .unwrap();
    assert_eq!(r[1].seq, 0, "a condition check writes nothing");
    // One unit of two writes; a batch limited to one entry still carries it whole.
    let batch = a.reader.log_after(head, 1, 1).unwrap();
    assert_eq!(
        batch.iter().map(|e| e.unit).collect::<Vec<_>>(),
        vec![(0, 2), (1, 2)]
    );
}

#[test]
fn a_unit_that_cannot_be_completed_is_not_applied_at_all() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    a.write(&[CatalogChange::CreateTable(table("t03", &["r-a", "r-b"]))])
        .unwrap();
    a.write(&[CatalogChange::CreateTable(table("t04", &["r-a", "r-b"]))])
        .unwrap();
    a.write(&[put("t03", item("k", "1")), put("t04", item("k", "1"))])
        .unwrap();
    // B has heard of t03 but not t04: the unit must wait, whole.
    let all: Vec<Mutation> = a.reader.log_after(0, 100, usize::MAX).unwrap();
    let without_t04: Vec<Mutation> = all.iter().filter(|e| e.seq != 2).cloned().collect();
    let mut g = b.writer.group().unwrap();
    let out = g
        .apply(&b.hlc, T0, &PeerBatch::new("r-a", "log", without_t04))
        .unwrap();
    g.commit().unwrap();
    assert!(
        out.refused.as_deref().unwrap_or("").contains("t04"),
        "{out:?}"
    );
    assert_eq!(out.applied_through, 1, "stops before the unit");
    let kschema = KeySchema {
        partition: KeyAttr {
            name: "id".into(),
            ty: KeyType::S,
        },
        sort: None,
    };
    let k = kschema.key_of(&key("k")).unwrap();
    assert_eq!(
        b.reader.get("t03", &k).unwrap(),
        None,
        "no half of the unit is visible"
    );
    let out = a.ship_to(&mut b, "r-a");
    assert_eq!(out.refused, None);
    assert!(
        b.reader.get("t03", &k).unwrap().is_some() && b.reader.get("t04", &k).unwrap().is_some()
    );
}

/// Partition order (docs/replication.md, "Lanes"): a receiver hands the
/// store entries its lanes released, one unit's entries apart and out of
/// log order, with the prefix they complete. Each applies on its own, the
/// sender's position is the prefix given (capped below a refused entry),
/// and an entry applied again above that prefix changes nothing.
#[test]
fn released_entries_apply_one_by_one_and_record_the_prefix_given() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    a.write(&[CatalogChange::CreateTable(table("t03", &["r-a", "r-b"]))])
        .unwrap();
    a.write(&[CatalogChange::CreateTable(table("t04", &["r-a", "r-b"]))])
        .unwrap();
    // One unit of two writes (3, 4), then a write of another key (5).
    a.write(&[put("t03", item("k", "1")), put("t04", item("k", "1"))])
        .unwrap();
    a.write(&[put("t03", item("j", "2"))]).unwrap();
    let all: Vec<Mutation> = a.reader.log_after(0, 100, usize::MAX).unwrap();
    let at = |seqs: &[u64]| -> Vec<Mutation> {
        all.iter()
            .filter(|e| seqs.contains(&e.seq))
            .cloned()
            .collect()
    };
    let apply = |b: &mut Node, seqs: &[u64], through: u64| {
        let mut g = b.writer.group().unwrap();
        let out = g
            .apply(
                &b.hlc,
                T0,
                &PeerBatch::new("r-a", "log", at(seqs)).released_through(through),
            )
            .unwrap();
        g.commit().unwrap();
        out
    };
    let kschema = KeySchema {
        partition: KeyAttr {
            name: "id".into(),
            ty: KeyType::S,
        },
        sort: None,
    };
    let k = kschema.key_of(&key("k")).unwrap();
    let j = kschema.key_of(&key("j")).unwrap();
    // The tables, then half of the unit and the later write: the prefix
    // stays below the unit whose entry 4 is held (lanes never end it inside
    // a unit).
    let out = apply(&mut b, &[1, 2, 3, 5], 2);
    assert_eq!((out.applied_through, out.refused.as_deref()), (2, None));
    assert!(
        b.reader.get("t03", &k).unwrap().is_some(),
        "a torn unit shows"
    );
    assert!(b.reader.get("t04", &k).unwrap().is_none());
    assert!(
        b.reader.get("t03", &j).unwrap().is_some(),
        "a later write went first"
    );
    // A reconnect resends from 3: 3 and 5 apply again as duplicates.
    let out = apply(&mut b, &[3, 4, 5], 5);
    assert_eq!(out.applied_through, 5);
    assert_eq!(out.duplicates, 2, "{out:?}");
    assert!(b.reader.get("t04", &k).unwrap().is_some());
    // Below the recorded prefix nothing is looked at again.
    let out = apply(&mut b, &[3], 5);
    assert_eq!((out.applied_through, out.duplicates), (5, 1));

    // A refused entry caps the prefix below it, whatever was given: a
    // write 2 s ahead of the receiver's clock meets the drift guard.
    a.clock.advance(2_000_000);
    a.write(&[put("t03", item("j", "3"))]).unwrap();
    let all: Vec<Mutation> = a.reader.log_after(0, 100, usize::MAX).unwrap();
    let mut c = Node::new("r-c");
    let mut g = c.writer.group().unwrap();
    let out = g
        .apply(
            &c.hlc,
            T0,
            &PeerBatch::new("r-a", "log", all.to_vec()).released_through(6),
        )
        .unwrap();
    g.commit().unwrap();
    assert!(out.refused.is_some(), "the drift guard: {out:?}");
    assert_eq!(out.applied_through, 5, "{out:?}");
}

/// A batch's skips: each skipped table's entries are counted under their
/// reason and as applied through, so the link goes on; the other tables'
/// and the catalog's entries apply.
#[test]
fn skipped_tables_are_counted_per_reason_and_applied_through() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    for t in ["t07", "t08", "t09"] {
        a.write(&[CatalogChange::CreateTable(table(t, &["r-a", "r-b"]))])
            .unwrap();
    }
    a.write(&[put("t07", item("k", "1"))]).unwrap();
    a.write(&[put("t08", item("k", "1"))]).unwrap();
    a.write(&[put("t08", item("j", "1"))]).unwrap();
    a.write(&[put("t09", item("k", "1"))]).unwrap();
    let all: Vec<Mutation> = a.reader.log_after(0, 100, usize::MAX).unwrap();
    let skips: Skips = [("t07", Skip::Paused), ("t08", Skip::Withheld)]
        .into_iter()
        .collect();
    let mut g = b.writer.group().unwrap();
    let out = g
        .apply(
            &b.hlc,
            T0,
            &PeerBatch::new("r-a", "log", all).skipping(skips),
        )
        .unwrap();
    g.commit().unwrap();
    assert_eq!(out.skipped.of(Skip::Paused), 1, "{out:?}");
    assert_eq!(out.skipped.of(Skip::Withheld), 2, "{out:?}");
    assert_eq!(out.applied_through, 7, "skipped entries count as applied");
    assert_eq!(out.applied, 4, "three tables and t09's item: {out:?}");
    let k = table("t07", &["r-a"]).key_schema.key_of(&key("k")).unwrap();
    assert!(b.reader.get("t07", &k).unwrap().is_none());
    assert!(b.reader.get("t08", &k).unwrap().is_none());
    assert!(b.reader.get("t09", &k).unwrap().is_some());
}

#[test]
fn ttl_rows_expiry_and_no_conflict_between_two_expiries() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    a.write(&[CatalogChange::CreateTable(table("t05", &["r-a", "r-b"]))])
        .unwrap();
    a.write(&[CatalogChange::SetTtl {
        table: "t05".into(),
        attribute: Some("exp".into()),
    }])
    .unwrap();
    assert_eq!(a.reader.ttl_attribute("t05").unwrap(), Some("exp".into()));
    assert_eq!(
        a.reader.list_tables("", 10).unwrap(),
        vec!["t05"],
        "the TTL row is not a table"
    );
    let w = a.write(&[put("t05", item("k", "1"))]).unwrap().remove(0);
    a.ship_to(&mut b, "r-a");
    assert_eq!(
        b.reader.ttl_attribute("t05").unwrap(),
        Some("exp".into()),
        "TTL settings replicate"
    );
    // Both regions expire the same item independently.
    let expire = || ItemWrite::Expire {
        table: "t05".into(),
        key: key("k"),
        version: w.version.clone(),
        attribute: "exp".into(),
    };
    a.write(&[expire()]).unwrap();
    b.write(&[expire()]).unwrap();
    // An expiry of a version that has changed since is refused.
    let stale = a.write(&[expire()]).unwrap_err();
    assert!(matches!(stale, StoreError::ConditionFailed(_)), "{stale:?}");
    let from_a = a.reader.log_after(0, 100, usize::MAX).unwrap();
    assert!(
        from_a.last().unwrap().ttl && from_a.last().unwrap().image.is_none(),
        "marked as a TTL delete in the log"
    );
    let b_entries: Vec<Mutation> = b.reader.log_after(0, 100, usize::MAX).unwrap();
    let mut g = a.writer.group().unwrap();
    g.apply(&a.hlc, T0, &PeerBatch::new("r-b", "log", b_entries))
        .unwrap();
    g.commit().unwrap();
    a.ship_to(&mut b, "r-a");
    assert_eq!(a.reader.conflict_count().unwrap(), 0);
    assert_eq!(b.reader.conflict_count().unwrap(), 0);
    assert_eq!(
        a.reader.digest("t05").unwrap(),
        b.reader.digest("t05").unwrap()
    );
}

#[test]
fn ttl_belongs_to_one_incarnation_and_expiry_rechecks_it() {
    let mut a = Node::new("r-a");
    a.write(&[CatalogChange::CreateTable(table("t06", &["r-a"]))])
        .unwrap();
    a.write(&[CatalogChange::SetTtl {
        table: "t06".into(),
        attribute: Some("exp".into()),
    }])
    .unwrap();
    let w = a.write(&[put("t06", item("k", "1"))]).unwrap().remove(0);
    // TTL turned off between the reaper's look and its write: no expiry.
    a.write(&[CatalogChange::SetTtl {
        table: "t06".into(),
        attribute: None,
    }])
    .unwrap();
    let late = a
        .write(&[ItemWrite::Expire {
            table: "t06".into(),
            key: key("k"),
            version: w.version,
            attribute: "exp".into(),
        }])
        .unwrap_err();
    assert!(late.to_string().contains("no longer enabled"), "{late}");
    // A recreated table starts without the old table's TTL.
    a.write(&[CatalogChange::SetTtl {
        table: "t06".into(),
        attribute: Some("exp".into()),
    }])
    .unwrap();
    a.write(&[CatalogChange::DeleteTable("t06".into())])
        .unwrap();
    a.write(&[CatalogChange::CreateTable(table("t06", &["r-a"]))])
        .unwrap();
    assert_eq!(a.reader.ttl_attribute("t06").unwrap(), None);
}

#[test]
fn requests_stay_within_what_one_replication_message_carries() {
    let mut a = Node::new("r-a");
    a.write(&[CatalogChange::CreateTable(table("t07", &["r-a"]))])
        .unwrap();
    let big = |id: &str| {
        let mut i = key(id);
        i.insert("blob".into(), AttrValue::B(vec![0; 399 * 1024]));
        i
    };
    let ops: Vec<ItemWrite> = (0..45).map(|n| put("t07", big(&format!("k{n}")))).collect();
    let e = a.write(&ops).unwrap_err();
    assert!(
        e.to_string()
            .contains("the limit for one request is 16777216 bytes"),
        "{e}"
    );
    assert_eq!(a.reader.item_count("t07").unwrap(), 0);
    let two_tables = a
        .write(&[
            CatalogChange::CreateTable(table("t08", &["r-a"])),
            CatalogChange::CreateTable(table("t09", &["r-a"])),
        ])
        .unwrap_err();
    assert!(
        two_tables.to_string().contains("a request of its own"),
        "{two_tables}"
    );
    assert_eq!(a.reader.table_def("t08").unwrap(), None);
}

#[test]
fn tags_are_per_region_merge_atomically_and_belong_to_one_incarnation() {
    let mut a = Node::new("r-a");
    let mut b = Node::new("r-b");
    a.write(&[CatalogChange::CreateTable(table("t08", &["r-a", "r-b"]))])
        .unwrap();
    let tags = |pairs: &[(&str, &str)]| -> meridian_core::schema::Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let tag = |add: &[(&str, &str)], remove: &[&str]| CatalogChange::Tag {
        table: "t08".into(),
        add: tags(add),
        remove: remove.iter().map(|k| k.to_string()).collect(),
    };
    a.write(&[tag(&[("team", "x"), ("env", "dev")], &[])])
        .unwrap();
    a.write(&[tag(&[("env", "prod")], &["team"])]).unwrap();
    assert_eq!(
        a.reader.tags("t08", "r-a").unwrap(),
        tags(&[("env", "prod")])
    );
    assert_eq!(
        a.reader.list_tables("", 10).unwrap(),
        vec!["t08"],
        "a tags row is not a table"
    );
    // The row replicates with the catalog, but each replica has its own tags.
    a.ship_to(&mut b, "r-a");
    assert!(b.reader.tags("t08", "r-b").unwrap().is_empty());
    // More than 50 in all is refused, and nothing of the request is kept.
    let many: Vec<(String, String)> = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let err = a.write(&[tag(&many, &[])]).unwrap_err();
    assert!(err.to_string().contains("Number of Tags exceed"), "{err}");
    assert_eq!(
        a.reader.tags("t08", "r-a").unwrap(),
        tags(&[("env", "prod")])
    );
    // A recreated table starts untagged.
    a.write(&[CatalogChange::DeleteTable("t08".into())])
        .unwrap();
    a.write(&[CatalogChange::CreateTable(table("t08", &["r-a", "r-b"]))])
        .unwrap();
    assert!(a.reader.tags("t08", "r-a").unwrap().is_empty());
    let gone = a.write(&[CatalogChange::Tag {
        table: "missing".into(),
        add: tags(&[("a", "b")]),
        remove: vec![],
    }]);
    assert!(
        matches!(gone, Err(StoreError::TableNotFound(_))),
        "{gone:?}"
    );
}

#[test]
fn replica_rows_open_and_close_the_gates_and_a_removal_deletes_the_copy() {
    use meridian_core::replicas::Status;
    let set = |table: &str, region: &str, status| CatalogChange::SetReplica {
        table: table.into(),
        region: region.into(),
        status,
        kms_key: None,
    };
    let mut a = Node::new("a-1");
    let mut c = Node::new("c-1");
    a.write(&[CatalogChange::CreateTable(table("tbl", &["a-1"]))])
        .unwrap();
    a.write(&[put("tbl", item("k1", "1"))]).unwrap();
    // c-1 holds no replica: it drops a-1's writes, and refuses its own.
    a.ship_to(&mut c, "a-1");
    assert!(c.reader.get("tbl", &key_of("k1")).unwrap().is_none());
    assert!(matches!(
        c.write(&[put("tbl", item("k2", "2"))]),
        Err(StoreError::NotReplica { .. })
    ));

    // Added: the row opens both gates.
    a.write(&[set("tbl", "c-1", Status::Creating)]).unwrap();
    a.write(&[put("tbl", item("k3", "3"))]).unwrap();
    a.ship_to(&mut c, "a-1");
    let (def, _) = c.reader.table_def("tbl").unwrap().unwrap();
    assert_eq!(def.replicas, vec!["a-1", "c-1"]);
    assert_eq!(def.replica_states["c-1"].status, Status::Creating);
    assert!(c.reader.get("tbl", &key_of("k3")).unwrap().is_some());
    c.write(&[put("tbl", item("k4", "4"))]).unwrap();

    // Removed: c-1 stops taking writes, and DELETED deletes its copy.
    a.write(&[set("tbl", "c-1", Status::Deleting)]).unwrap();
    a.ship_to(&mut c, "a-1");
    assert!(matches!(
        c.write(&[put("tbl", item("k5", "5"))]),
        Err(StoreError::NotReplica { .. })
    ));
    assert!(c.reader.get("tbl", &key_of("k4")).unwrap().is_some());
    c.write(&[set("tbl", "c-1", Status::Deleted)]).unwrap();
    assert!(c.reader.get("tbl", &key_of("k4")).unwrap().is_none());
    assert!(c.reader.get("tbl", &key_of("k3")).unwrap().is_none());
    // a-1 keeps its copy, and the definition (one incarnation) survives.
    assert!(a.reader.get("tbl", &key_of("k3")).unwrap().is_some());
    let (def, _) = a.reader.table_def("tbl").unwrap().unwrap();
    assert_eq!(def.replicas, vec!["a-1"]);
}

fn key_of(id: &str) -> meridian_core::EncodedKey {
    table("tbl", &["a-1"]).key_schema.key_of(&key(id)).unwrap()
}

#[test]
fn a_stream_records_each_change_of_an_item_once_in_order() {
    use meridian_core::settings::SettingsChange;
    use meridian_store::stream::{Event, ViewType};
    let mut a = Node::new("a-1");
    let mut b = Node::new("b-1");
    a.write(&[CatalogChange::CreateTable(table("tbl", &["a-1", "b-1"]))])
        .unwrap();
    // Before the stream: nothing recorded.
    a.write(&[put("tbl", item("k0", "0"))]).unwrap();
    a.write(&[CatalogChange::UpdateSettings {
        table: "tbl".into(),
        change: SettingsChange {
            stream: Some(Some("NEW_AND_OLD_IMAGES".into())),
            indexes: Vec::new(),
            ..Default::default()
        },
    }])
    .unwrap();
    let on = a.reader.stream_on("tbl").unwrap().expect("enabled");
    assert_eq!(on.view, ViewType::NewAndOldImages);
    a.write(&[put("tbl", item("k1", "1"))]).unwrap();
    a.write(&[put("tbl", item("k1", "2"))]).unwrap();
    // The same item again changes nothing visible: no record.
    a.write(&[put("tbl", item("k1", "2"))]).unwrap();
    a.write(&[ItemWrite::Delete {
        table: "tbl".into(),
        key: key("k1"),
        condition: None,
    }])
    .unwrap();
    // Deleting what is not there: none either.
    a.write(&[ItemWrite::Delete {
        table: "tbl".into(),
        key: key("k9"),
        condition: None,
    }])
    .unwrap();
    let records = a
        .reader
        .stream_records("tbl", on.label, 0, None, 100)
        .unwrap();
    let events: Vec<Event> = records.iter().map(|r| r.event).collect();
    assert_eq!(events, vec![Event::Insert, Event::Modify, Event::Remove]);
    assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(records[0].old.is_none() && records[0].new.is_some());
    assert!(records[1].old.is_some() && records[1].new.is_some());
    assert!(records[2].old.is_some() && records[2].new.is_none());
    let (first, last) = a.reader.stream_span("tbl", on.label).unwrap().unwrap();
    assert_eq!((first, last), (records[0].seq, records[2].seq));
    assert_eq!(a.reader.stream_next().unwrap(), last + 1);

    // A peer's stream records what it applies: the settings row travels
    // with the catalog, the changes with the log.
    a.ship_to(&mut b, "a-1");
    let on_b = b
        .reader
        .stream_on("tbl")
        .unwrap()
        .expect("enabled at b-1 too");
    let at_b = b
        .reader
        .stream_records("tbl", on_b.label, 0, None, 100)
        .unwrap();
    // b-1 applies in a-1's log order: k0 before the stream was on there,
    // so only k1's changes are records.
    let events: Vec<Event> = at_b.iter().map(|r| r.event).collect();
    assert_eq!(events, vec![Event::Insert, Event::Modify, Event::Remove]);
    assert_eq!(on_b, on, "the same stream, with the same label");

    // Retention: records older than the cut go, the newest stay.
    let mut g = a.writer.group().unwrap();
    let gone = g.truncate_stream(u64::MAX, 2).unwrap();
    g.commit().unwrap();
    assert_eq!(gone, 2);
    let left = a
        .reader
        .stream_records("tbl", on.label, 0, None, 100)
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event, Event::Remove);
}

#[test]
fn a_stream_rolls_its_shard_at_the_first_change_past_the_shard_age() {
    use meridian_core::settings::SettingsChange;
    const SECOND: u64 = 1_000_000;
    let mut a = Node::new("a-1");
    a.writer
        .set_stream_shard_age(std::time::Duration::from_secs(10));
    a.write(&[CatalogChange::CreateTable(table("tbl", &["a-1"]))])
        .unwrap();
    a.write(&[CatalogChange::UpdateSettings {
        table: "tbl".into(),
        change: SettingsChange {
            stream: Some(Some("KEYS_ONLY".into())),
            indexes: Vec::new(),
            ..Default::default()
        },
    }])
    .unwrap();
    let on = a.reader.stream_on("tbl").unwrap().expect("enabled");
    // Before any record: one shard, holding nothing.
    let shards = a.reader.stream_shards("tbl", on.label).unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!((shards[0].index, shards[0].held), (0, None));

    // Groups at chosen times, well after the system clock's: the group's
    // time never goes back.
    let start = 4_000_000_000 * SECOND;
    let mut write_at = |at: u64, id: &str| {
        a.clock.advance(10);
        let mut g = a.writer.group_at(at).unwrap();
        g.write(&a.hlc, T0, &[put("tbl", item(id, "1"))]).unwrap();
        g.commit().unwrap();
    };
    write_at(start, "k1"); // opens shard 0
    write_at(start + 9 * SECOND, "k2"); // still shard 0
    write_at(start + 10 * SECOND, "k3"); // 10 s after shard 0 opened: shard 1
    write_at(start + 15 * SECOND, "k4");
    write_at(start + 25 * SECOND, "k5"); // shard 2, 10 s after shard 1 opened
    let records = a
        .reader
        .stream_records("tbl", on.label, 0, None, 100)
        .unwrap();
    let seq: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seq.len(), 5);
    let shards = a.reader.stream_shards("tbl", on.label).unwrap();
    use meridian_store::stream::Shard;
    let shard = |index, first_seq, held, end| Shard {
        index,
        first_seq,
        end,
        held,
    };
    assert_eq!(
        shards,
        vec![
            shard(0, 0, Some((seq[0], seq[1])), Some(seq[2])),
            shard(1, seq[2], Some((seq[2], seq[3])), Some(seq[4])),
            shard(2, seq[4], Some((seq[4], seq[4])), None),
        ]
    );
    // A shard's records stop at its end.
    let in_shard_1 = a
        .reader
        .stream_records("tbl", on.label, seq[1], shards[1].end, 100)
        .unwrap();
    assert_eq!(
        in_shard_1.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![seq[2], seq[3]]
    );

    // The writer picks its shard up again after a restart: a change 5 s
    // after shard 2 opened stays in it.
    let dir = a.writer.path().parent().unwrap().to_path_buf();
    a.writer = meridian_store::open(&dir, "a-1", meridian_store::Durability::Normal).unwrap();
    a.writer
        .set_stream_shard_age(std::time::Duration::from_secs(10));
    let mut g = a.writer.group_at(start + 30 * SECOND).unwrap();
    g.write(&a.hlc, T0, &[put("tbl", item("k6", "1"))]).unwrap();
    g.commit().unwrap();
    let shards = a.reader.stream_shards("tbl", on.label).unwrap();
    assert_eq!(shards.len(), 3);
    assert_eq!(shards[2].held.map(|h| h.1), Some(seq[4] + 1));

    // Retention: shard 0's records all go and so does shard 0 (its
    // records, none left); shard 1 keeps its row while it holds one.
    let mut g = a.writer.group_at(start + 31 * SECOND).unwrap();
    assert_eq!(g.truncate_stream(start + 12 * SECOND, 100).unwrap(), 3);
    g.commit().unwrap();
    let shards = a.reader.stream_shards("tbl", on.label).unwrap();
    let held: Vec<(u32, Option<(u64, u64)>)> = shards.iter().map(|s| (s.index, s.held)).collect();
    assert_eq!(
        held,
        vec![
            (0, None),
            (1, Some((seq[3], seq[3]))),
            (2, Some((seq[4], seq[4] + 1)))
        ]
    );
    let mut g = a.writer.group_at(start + 32 * SECOND).unwrap();
    assert_eq!(g.truncate_stream(start + 20 * SECOND, 100).unwrap(), 1);
    g.commit().unwrap();
    let shards = a.reader.stream_shards("tbl", on.label).unwrap();
    let indexes: Vec<u32> = shards.iter().map(|s| s.index).collect();
    // Shard 1's row went; the implicit shard 0 (nothing held) and shard 2.
    assert_eq!(indexes, vec![0, 2]);
    assert_eq!(shards[0].held, None);
}

#[test]
fn removes_applied_counts_live_items_turned_into_tombstones_here_and_at_peers() {
    let mut a = Node::new("a-1");
    let mut b = Node::new("b-1");
    a.write(&[CatalogChange::CreateTable(table("tbl", &["a-1", "b-1"]))])
        .unwrap();
    let delete = |id: &str| ItemWrite::Delete {
        table: "tbl".into(),
        key: key(id),
        condition: None,
    };
    a.write(&[put("tbl", item("k1", "1"))]).unwrap();
    a.write(&[put("tbl", item("k2", "1"))]).unwrap();
    a.write(&[delete("k1")]).unwrap();
    // Deleting what is not there, or a tombstone again, removes nothing.
    a.write(&[delete("k9")]).unwrap();
    a.write(&[delete("k1")]).unwrap();
    // A delete in a multi-item write counts as one.
    a.write(&[put("tbl", item("k3", "1")), delete("k2")])
        .unwrap();
    assert_eq!(a.reader.removes_applied("tbl").unwrap(), 2);
    // A peer counts what it applies by its own heads: k1's put and delete
    // arrive in order, so both removes are applied there too.
    a.ship_to(&mut b, "a-1");
    assert_eq!(b.reader.removes_applied("tbl").unwrap(), 2);
    // The count goes with the table: a table created again starts at 0.
    a.write(&[CatalogChange::DeleteTable("tbl".into())])
        .unwrap();
    a.write(&[CatalogChange::CreateTable(table("tbl", &["a-1", "b-1"]))])
        .unwrap();
    assert_eq!(a.reader.removes_applied("tbl").unwrap(), 0);
}
