//! On-demand backups of one table: what the file holds (the live items of
//! that table alone, at one position, with the settings in force), paging
//! through it, and refusing a file that is not a backup of this build.

use std::sync::Arc;

use meridian_core::hlc::ManualClock;
use meridian_core::settings::{Billing, SettingsChange};
use meridian_core::{AttrValue, Hlc, Item, KeyAttr, KeySchema, KeyType, PhysicalClock, TableDef};
use meridian_store::backup::{self, BackupFile};
use meridian_store::{CatalogChange, Durability, ItemWrite, Ops, Reader, Writer};
use tempfile::TempDir;

const T0: u64 = 1_700_000_000_000_000;
const REGION: &str = "r-a";

fn def(name: &str) -> TableDef {
    TableDef::new(
        name,
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: Some(KeyAttr {
                name: "n".into(),
                ty: KeyType::N,
            }),
        },
        vec![REGION.into(), "r-b".into()],
    )
    .unwrap()
}

fn item(id: &str, n: u32, v: &str) -> Item {
    Item::from([
        ("id".to_string(), AttrValue::S(id.into())),
        (
            "n".to_string(),
            AttrValue::N(meridian_core::Number::parse(&n.to_string(), "n").unwrap()),
        ),
        ("v".to_string(), AttrValue::S(v.into())),
    ])
}

fn put(table: &str, it: Item) -> ItemWrite {
    ItemWrite::Put {
        table: table.into(),
        item: it,
        condition: None,
    }
}

fn take<'a>(table: &'a str, name: &'a str, now: u64) -> backup::Take<'a> {
    backup::Take {
        region: REGION,
        table,
        name,
        now_micros: now,
        as_of: None,
    }
}

struct Store {
    dir: TempDir,
    writer: Writer,
    reader: Reader,
    hlc: Hlc,
    clock: Arc<ManualClock>,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let writer = meridian_store::open(dir.path(), REGION, Durability::Simulated).unwrap();
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let hlc = Hlc::new(clock.clone() as Arc<dyn PhysicalClock>, 500_000);
        Store {
            dir,
            writer,
            reader,
            hlc,
            clock,
        }
    }

    fn write<'r>(&mut self, ops: impl Into<Ops<'r>>) {
        self.clock.advance(10);
        let mut g = self.writer.group().unwrap();
        g.write(&self.hlc, T0, ops).unwrap();
        g.commit().unwrap();
    }
}

#[test]
fn a_backup_holds_the_live_items_of_its_table_and_where_it_was_taken() {
    let mut s = Store::new();
    s.write(&[CatalogChange::CreateTable(def("tbl"))]);
    s.write(&[CatalogChange::CreateTable(def("other"))]);
    for k in 0..30 {
        s.write(&[
            put("tbl", item("a", k, &format!("v{k}"))),
            put("other", item("a", k, "x")),
        ]);
    }
    s.write(&[ItemWrite::Delete {
        table: "tbl".into(),
        key: Item::from([
            ("id".to_string(), AttrValue::S("a".into())),
            (
                "n".to_string(),
                AttrValue::N(meridian_core::Number::parse("3", "n").unwrap()),
            ),
        ]),
        condition: None,
    }]);
    s.write(&[CatalogChange::UpdateSettings {
        table: "tbl".into(),
        change: SettingsChange {
            mode: Some("PROVISIONED"),
            throughput: Some((7, 9)),
            stream: Some(Some("NEW_IMAGE".into())),
            indexes: Vec::new(),
            scaling: None,
            on_demand: None,
            index_on_demand: Vec::new(),
        },
    }]);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("b1.backup");
    let meta = backup::take(s.dir.path(), &take("tbl", "nightly", T0 + 5), &dest).unwrap();

    assert_eq!(
        meta.items, 29,
        "30 written, one deleted; the tombstone is not an item"
    );
    assert_eq!(meta.name, "nightly");
    assert_eq!(meta.region, REGION);
    assert_eq!(meta.created_micros, T0 + 5);
    assert_eq!(meta.def.key_schema, def("tbl").key_schema);
    assert_eq!(meta.def.replicas, def("tbl").replicas);
    assert_eq!(
        meta.def.billing,
        Billing::Provisioned { read: 7, write: 9 },
        "the billing in force, not the one the table was created with"
    );
    assert_eq!(
        meta.def.stream_view_type, None,
        "a restored table has no stream"
    );
    assert_eq!(meta.log_id, s.reader.log_id().unwrap());
    assert_eq!(meta.log_head, s.reader.log_head().unwrap());
    assert_eq!(meta.item_bytes, s.reader.table_bytes("tbl").unwrap());
    let (_, incarnation) = s.reader.table_def("tbl").unwrap().unwrap();
    assert_eq!(meta.incarnation, incarnation);
    assert!(
        !out.path().join("b1.backup.partial").exists(),
        "no scratch file is left"
    );

    // Written afterwards: not in the backup.
    s.write(&[put("tbl", item("a", 100, "later"))]);

    let file = BackupFile::open(&dest).unwrap();
    assert_eq!(file.meta, meta, "the file reads back what was written");
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = file.items_after(after.as_ref(), 7).unwrap();
        assert!(page.len() <= 7);
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        all.extend(page);
    }
    let want: Vec<Item> = (0..30)
        .filter(|k| *k != 3)
        .map(|k| item("a", k, &format!("v{k}")))
        .collect();
    let mut got: Vec<Item> = all.into_iter().map(|(_, i)| i).collect();
    got.sort_by_key(|i| match &i["n"] {
        AttrValue::N(n) => n.to_string().parse::<u32>().unwrap(),
        _ => unreachable!(),
    });
    assert_eq!(
        got, want,
        "every live item of t, in pages, and nothing else"
    );
}

#[test]
fn a_missing_table_or_an_existing_file_leaves_no_backup() {
    let mut s = Store::new();
    s.write(&[CatalogChange::CreateTable(def("tbl"))]);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("b.backup");
    let e = backup::take(s.dir.path(), &take("nope", "n1", T0), &dest).unwrap_err();
    assert!(
        matches!(e, meridian_store::StoreError::TableNotFound(ref t) if t == "nope"),
        "{e}"
    );
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing left"
    );

    backup::take(s.dir.path(), &take("tbl", "n1", T0), &dest).unwrap();
    let e = backup::take(s.dir.path(), &take("tbl", "n2", T0), &dest).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(
        BackupFile::open(&dest).unwrap().meta.name,
        "n1",
        "untouched"
    );
}

#[test]
fn a_file_that_is_not_a_backup_of_this_build_is_refused() {
    let mut s = Store::new();
    s.write(&[CatalogChange::CreateTable(def("tbl"))]);
    s.write(&[put("tbl", item("a", 1, "v"))]);
    let out = tempfile::tempdir().unwrap();

    // The region's own store is a SQLite file, but not a backup.
    let e = BackupFile::open(&meridian_store::db_path(s.dir.path()))
        .err()
        .expect("a store is not a backup");
    assert!(e.to_string().contains("schema"), "{e}");

    // A backup with something added to its schema.
    let dest = out.path().join("b.backup");
    backup::take(s.dir.path(), &take("tbl", "n1", T0), &dest).unwrap();
    let conn = rusqlite::Connection::open(&dest).unwrap();
    conn.execute_batch("CREATE TRIGGER t AFTER INSERT ON backup_items BEGIN SELECT 1; END;")
        .unwrap();
    drop(conn);
    let e = BackupFile::open(&dest).err().expect("a changed schema");
    assert!(e.to_string().contains("schema"), "{e}");

    // A backup whose item does not decode: refused when read, naming it.
    let dest = out.path().join("c.backup");
    backup::take(s.dir.path(), &take("tbl", "n1", T0), &dest).unwrap();
    let conn = rusqlite::Connection::open(&dest).unwrap();
    conn.execute("UPDATE backup_items SET image = x'ff00'", [])
        .unwrap();
    drop(conn);
    let file = BackupFile::open(&dest).unwrap();
    let e = file.items_after(None, 10).unwrap_err();
    assert!(e.to_string().contains("does not decode"), "{e}");

    // Another format version.
    let dest = out.path().join("d.backup");
    backup::take(s.dir.path(), &take("tbl", "n1", T0), &dest).unwrap();
    let conn = rusqlite::Connection::open(&dest).unwrap();
    conn.execute(
        "UPDATE backup_meta SET v = CAST('99' AS BLOB) WHERE k = 'format'",
        [],
    )
    .unwrap();
    drop(conn);
    let e = BackupFile::open(&dest).err().expect("another format");
    assert!(e.to_string().contains("format"), "{e}");
    // The items decode as written.
    let good = out.path().join("e.backup");
    backup::take(s.dir.path(), &take("tbl", "n1", T0), &good).unwrap();
    let page = BackupFile::open(&good)
        .unwrap()
        .items_after(None, 10)
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].1, item("a", 1, "v"));
}

/// A pseudo-random sequence, so the test replays the same history.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn key_item(k: u64) -> Item {
    Item::from([
        ("id".to_string(), AttrValue::S(format!("k{k}"))),
        (
            "n".to_string(),
            AttrValue::N(meridian_core::Number::parse("1", "n").unwrap()),
        ),
    ])
}

/// The items of a backup, by `id`, with their `v`.
fn contents(file: &BackupFile) -> std::collections::BTreeMap<String, String> {
    file.items_after(None, 100_000)
        .unwrap()
        .into_iter()
        .map(|(_, i)| match (&i["id"], &i["v"]) {
            (AttrValue::S(id), AttrValue::S(v)) => (id.clone(), v.clone()),
            other => panic!("unexpected item {other:?}"),
        })
        .collect()
}

#[test]
fn a_table_is_rebuilt_as_it_was_at_any_instant_of_its_history() {
    let mut s = Store::new();
    let mut at = T0;
    fn group<'r>(s: &mut Store, at: u64, ops: impl Into<Ops<'r>>) {
        s.clock.advance(10);
        let mut g = s.writer.group_at(at).unwrap();
        g.write(&s.hlc, at, ops).unwrap();
        g.commit().unwrap();
    }
    group(&mut s, at, &[CatalogChange::CreateTable(def("tbl"))]);
    // Written before recovery was on: part of every state, never undone.
    group(&mut s, at, &[put("tbl", item("k0", 1, "before"))]);
    at += 10;
    let since = at;
    {
        let mut g = s.writer.group_at(at).unwrap();
        let p = g.set_pitr("tbl", Some(7)).unwrap().unwrap();
        assert_eq!(p.since, since);
        assert_eq!(p.period_days, 7);
        g.commit().unwrap();
    }
    // The model: every change with its time; the state at T is the last
    // change at or before T of each key.
    let mut changes: Vec<(u64, String, Option<String>)> =
        vec![(0, "k0".into(), Some("before".into()))];
    let mut rng = Lcg(7);
    for step in 0..400 {
        // Several changes may share a time (one group), or a group holds several.
        at += rng.next(3);
        let k = rng.next(12);
        let id = format!("k{k}");
        let op = if rng.next(4) == 0 {
            changes.push((at, id.clone(), None));
            ItemWrite::Delete {
                table: "tbl".into(),
                key: key_item(k),
                condition: None,
            }
        } else {
            let v = format!("v{step}");
            changes.push((at, id.clone(), Some(v.clone())));
            put("tbl", item(&id, 1, &v))
        };
        group(&mut s, at, &[op]);
    }
    let now = at + 5;
    let state_at = |t: u64| -> std::collections::BTreeMap<String, String> {
        let mut m = std::collections::BTreeMap::new();
        for (when, id, v) in &changes {
            if *when <= t {
                match v {
                    Some(v) => m.insert(id.clone(), v.clone()),
                    None => m.remove(id),
                };
            }
        }
        m
    };
    let out = tempfile::tempdir().unwrap();
    for (i, t) in (since..=now)
        .step_by(37)
        .chain([since, now, at])
        .enumerate()
    {
        let dest = out.path().join(format!("{i}.pitr"));
        let what = backup::Take {
            as_of: Some(t),
            ..take("tbl", "pitr", now)
        };
        let meta = backup::take(s.dir.path(), &what, &dest).unwrap();
        let want = state_at(t);
        assert_eq!(meta.created_micros, t);
        assert_eq!(meta.items, want.len() as u64, "at {t}");
        assert_eq!(contents(&BackupFile::open(&dest).unwrap()), want, "at {t}");
    }

    // Outside the window, or with recovery off: refused, nothing written.
    let dest = out.path().join("early.pitr");
    let what = backup::Take {
        as_of: Some(since - 1),
        ..take("tbl", "pitr", now)
    };
    let e = backup::take(s.dir.path(), &what, &dest).unwrap_err();
    assert!(
        matches!(e, meridian_store::StoreError::RestoreTime { asked, earliest, latest }
            if asked == since - 1 && earliest == since && latest == now),
        "{e}"
    );
    assert!(!dest.exists());
    let what = backup::Take {
        as_of: Some(now + 1),
        ..take("tbl", "pitr", now)
    };
    assert!(matches!(
        backup::take(s.dir.path(), &what, &dest),
        Err(meridian_store::StoreError::RestoreTime { .. })
    ));
    assert!(s.reader.history_rows("tbl").unwrap() > 0);
    {
        let mut g = s.writer.group_at(now).unwrap();
        assert_eq!(g.set_pitr("tbl", None).unwrap(), None);
        g.commit().unwrap();
    }
    assert_eq!(s.reader.pitr("tbl").unwrap(), None);
    assert_eq!(
        s.reader.history_rows("tbl").unwrap(),
        0,
        "turning it off drops the history"
    );
    let what = backup::Take {
        as_of: Some(now),
        ..take("tbl", "pitr", now)
    };
    assert!(matches!(
        backup::take(s.dir.path(), &what, &dest),
        Err(meridian_store::StoreError::PitrDisabled(ref t)) if t == "tbl"
    ));
}

#[test]
fn history_is_kept_for_its_period_and_goes_with_its_table() {
    const DAY: u64 = 86_400_000_000;
    let mut s = Store::new();
    let run = |s: &mut Store, at: u64, f: &dyn Fn(&mut meridian_store::Group<'_>)| {
        let mut g = s.writer.group_at(at).unwrap();
        f(&mut g);
        g.commit().unwrap();
    };
    run(&mut s, T0, &|g| {
        g.write(
            &Hlc::new(Arc::new(ManualClock::new(T0)), 500_000),
            T0,
            &[CatalogChange::CreateTable(def("tbl"))],
        )
        .unwrap();
    });
    let hlc = Hlc::new(Arc::new(ManualClock::new(T0 + 1)), u64::MAX);
    run(&mut s, T0, &|g| {
        assert!(g.set_pitr("tbl", Some(0)).is_err(), "a period of 0 days");
        assert!(g.set_pitr("tbl", Some(36)).is_err(), "more than 35 days");
        assert!(g.set_pitr("nope", Some(1)).is_err(), "a missing table");
        g.set_pitr("tbl", Some(2)).unwrap();
    });
    for day in 0..4 {
        let at = T0 + day * DAY;
        run(&mut s, at, &|g| {
            g.write(&hlc, at, &[put("tbl", item("a", day as u32, "x"))])
                .unwrap();
        });
    }
    assert_eq!(s.reader.history_rows("tbl").unwrap(), 4);
    let p = s.reader.pitr("tbl").unwrap().unwrap();
    assert_eq!(p.earliest(T0 + 3 * DAY), T0 + DAY, "two days back");
    assert_eq!(p.earliest(T0 + DAY), T0, "not before it was turned on");
    // Rows older than the period go; a longer period keeps the start.
    run(&mut s, T0 + 3 * DAY, &|g| {
        assert_eq!(g.truncate_history(T0 + 3 * DAY, 100).unwrap(), 1);
        let p = g.set_pitr("tbl", Some(30)).unwrap().unwrap();
        assert_eq!(p.since, T0, "changing the period keeps the history");
    });
    assert_eq!(s.reader.history_rows("tbl").unwrap(), 3);
    // A table dropped and created again starts without recovery.
    run(&mut s, T0 + 3 * DAY, &|g| {
        g.write(
            &hlc,
            T0 + 3 * DAY,
            &[CatalogChange::DeleteTable("tbl".into())],
        )
        .unwrap();
    });
    run(&mut s, T0 + 3 * DAY, &|g| {
        g.write(
            &hlc,
            T0 + 3 * DAY,
            &[CatalogChange::CreateTable(def("tbl"))],
        )
        .unwrap();
    });
    assert_eq!(s.reader.pitr("tbl").unwrap(), None);
    assert_eq!(s.reader.history_rows("tbl").unwrap(), 0);
    run(&mut s, T0 + 4 * DAY, &|g| {
        g.write(&hlc, T0 + 4 * DAY, &[put("tbl", item("a", 9, "y"))])
            .unwrap();
    });
    assert_eq!(
        s.reader.history_rows("tbl").unwrap(),
        0,
        "nothing recorded while off"
    );
}
