//! A watch of a change stream: its records and the conflict marks kept
//! with them, merged into the order the region made them, so every
//! conflict a region resolves shows in its watch, in the region whose
//! write lost as in the one whose write won (docs/streams.md).

use meridian_core::settings::SettingsChange;
use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, Number, TableDef, Version};
use meridian_store::stream::{Event, WatchCursor, WatchItem};
use meridian_store::{CatalogChange, ItemWrite};

mod common;
use common::Node;

fn table() -> TableDef {
    TableDef::new(
        "tbl",
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: None,
        },
        vec!["a-1".into(), "b-1".into()],
    )
    .unwrap()
}

fn put(id: &str, n: &str) -> ItemWrite {
    let mut item = Item::from([("id".to_string(), AttrValue::S(id.into()))]);
    item.insert("n".into(), AttrValue::N(Number::parse(n, "n").unwrap()));
    ItemWrite::Put {
        table: "tbl".into(),
        item,
        condition: None,
    }
}

/// Everything a watch of `node`'s stream from its start hands out, read
/// `limit` records and `limit` marks at a time.
fn watch_all(node: &Node, limit: usize) -> Vec<WatchItem> {
    let on = node.reader.stream_on("tbl").unwrap().expect("a stream");
    let mut cursor: WatchCursor = node.reader.watch_start("tbl", on.label, true).unwrap();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = node
            .reader
            .watch_page("tbl", on.label, &cursor, limit)
            .unwrap();
        let empty = page.records.is_empty() && page.marks.is_empty();
        out.extend(cursor.merge(page));
        if empty && cursor.pending() == 0 {
            return out;
        }
    }
    panic!("the watch did not reach the stream's end");
}

/// One line per item: what it is, its key's id, and the versions.
fn describe(items: &[WatchItem]) -> Vec<String> {
    let v = |b: &[u8]| Version::from_bytes(b).unwrap().to_string();
    items
        .iter()
        .map(|i| match i {
            WatchItem::Record(r, mark) => format!(
                "{} {} overwrote {:?}",
                r.event.as_str(),
                v(&r.version),
                mark.as_ref().map(|m| v(&m.discarded))
            ),
            WatchItem::Discarded(m) => {
                format!("DISCARDED {} kept {}", v(&m.discarded), v(&m.kept))
            }
        })
        .collect()
}

/// Regions a-1 and b-1, both holding table `tbl` with a stream of `view`.
fn two_regions_with_a_stream(view: &str) -> (Node, Node) {
    let mut a = Node::new("a-1");
    let mut b = Node::new("b-1");
    a.write(&[CatalogChange::CreateTable(table())]).unwrap();
    a.write(&[CatalogChange::UpdateSettings {
        table: "tbl".into(),
        change: SettingsChange {
            stream: Some(Some(view.into())),
            indexes: Vec::new(),
            ..Default::default()
        },
    }])
    .unwrap();
    a.ship_to(&mut b, "a-1");
    (a, b)
}

#[test]
fn both_regions_watches_show_a_conflict_and_getrecords_does_not() {
    let (mut a, mut b) = two_regions_with_a_stream("NEW_AND_OLD_IMAGES");
    // Both regions write k before either sees the other's write, and one
    // more key each afterwards, so marks fall between records.
    a.write(&[put("k", "1")]).unwrap();
    b.write(&[put("k", "2")]).unwrap();
    b.write(&[put("other-b", "0")]).unwrap();
    b.ship_to(&mut a, "b-1");
    a.ship_to(&mut b, "a-1");
    a.write(&[put("after-a", "0")]).unwrap();
    b.write(&[put("after-b", "0")]).unwrap();

    let version_of = |n: &Node| {
        n.reader
            .stream_records(
                "tbl",
                n.reader.stream_on("tbl").unwrap().unwrap().label,
                0,
                None,
                100,
            )
            .unwrap()
            .into_iter()
            .find(|r| {
                r.key
                    == table()
                        .key_schema
                        .key_of(&Item::from([("id".to_string(), AttrValue::S("k".into()))]))
                        .unwrap()
            })
            .map(|r| Version::from_bytes(&r.version).unwrap())
            .unwrap()
    };
    // Each region's first record of k is its own write.
    let (va, vb) = (version_of(&a), version_of(&b));
    assert_ne!(va, vb);
    let a_won = va > vb;
    let (winner, loser) = if a_won { (va, vb) } else { (vb, va) };
    let (won_at, lost_at) = if a_won { (&a, &b) } else { (&b, &a) };

    // Where the loser was written, the winner arrived second and
    // overwrote it: its record carries the mark.
    let lost = describe(&watch_all(lost_at, 100));
    assert!(
        lost.contains(&format!("MODIFY {winner} overwrote Some(\"{loser}\")")),
        "{lost:#?}"
    );
    assert!(
        !lost.iter().any(|l| l.starts_with("DISCARDED")),
        "{lost:#?}"
    );
    // Where the winner was written, the loser arrived and was discarded:
    // no record of it, a DISCARDED item in its place, after the region's
    // own write and before the next record.
    let won_items = watch_all(won_at, 100);
    let won = describe(&won_items);
    let discarded = format!("DISCARDED {loser} kept {winner}");
    let at = won
        .iter()
        .position(|l| *l == discarded)
        .unwrap_or_else(|| panic!("{won:#?}"));
    let own = won
        .iter()
        .position(|l| *l == format!("INSERT {winner} overwrote None"))
        .unwrap();
    assert!(own < at, "{won:#?}");
    assert!(at + 1 < won.len(), "a record follows it: {won:#?}");
    let WatchItem::Discarded(mark) = &won_items[at] else {
        unreachable!()
    };
    assert!(mark.discarded_image.is_some() && mark.kept_image.is_some());

    // GetRecords' source is unchanged: only applied changes, no record of
    // the discarded write.
    let on = won_at.reader.stream_on("tbl").unwrap().unwrap();
    let records = won_at
        .reader
        .stream_records("tbl", on.label, 0, None, 100)
        .unwrap();
    assert_eq!(
        records.len(),
        won.iter().filter(|l| !l.starts_with("DISCARDED")).count()
    );
    assert!(records.iter().all(|r| r.event == Event::Insert));

    // The merge does not depend on how the pages fall.
    for limit in 1..=4 {
        assert_eq!(describe(&watch_all(won_at, limit)), won, "pages of {limit}");
        assert_eq!(
            describe(&watch_all(lost_at, limit)),
            lost,
            "pages of {limit}"
        );
    }
}

#[test]
fn a_watch_from_now_shows_only_later_conflicts_and_marks_go_with_the_retention() {
    let (mut a, mut b) = two_regions_with_a_stream("KEYS_ONLY");
    let on = a.reader.stream_on("tbl").unwrap().unwrap();
    // A conflict before the watch starts ...
    a.write(&[put("k1", "1")]).unwrap();
    b.write(&[put("k1", "2")]).unwrap();
    b.ship_to(&mut a, "b-1");
    let mut cursor = a.reader.watch_start("tbl", on.label, false).unwrap();
    // ... and one after, on a key whose write from a-1 is newer.
    b.write(&[put("k2", "2")]).unwrap();
    a.clock.advance(1_000_000);
    a.write(&[put("k2", "1")]).unwrap();
    b.ship_to(&mut a, "b-1");
    let page = a.reader.watch_page("tbl", on.label, &cursor, 100).unwrap();
    let items = cursor.merge(page);
    let kinds: Vec<String> = items
        .iter()
        .map(|i| match i {
            WatchItem::Record(r, m) => format!("{} {}", r.event.as_str(), m.is_some()),
            WatchItem::Discarded(m) => {
                // KEYS_ONLY keeps no item, in marks as in records.
                assert!(m.kept_image.is_none() && m.discarded_image.is_none());
                "DISCARDED".into()
            }
        })
        .collect();
    assert_eq!(kinds, ["INSERT false", "DISCARDED"], "{items:#?}");

    // Marks go with the stream's retention, not the conflicts' log.
    assert_eq!(a.reader.conflicts("tbl", 100).unwrap().len(), 2);
    let mut g = a.writer.group().unwrap();
    g.truncate_stream(u64::MAX, 1_000).unwrap();
    g.commit().unwrap();
    let mut fresh = a.reader.watch_start("tbl", on.label, true).unwrap();
    let page = a.reader.watch_page("tbl", on.label, &fresh, 100).unwrap();
    assert!(page.records.is_empty() && page.marks.is_empty());
    assert!(fresh.merge(page).is_empty());
    assert_eq!(a.reader.conflicts("tbl", 100).unwrap().len(), 2);
}
