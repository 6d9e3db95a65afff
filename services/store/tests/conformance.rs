//! Store conformance: the store's contract as the region relies on it,
//! checked against real SQLite files in temporary directories.
//!
//! Time is a `ManualClock` everywhere, so nothing here sleeps. Replication is
//! simulated by reading one store's shippable log (`Reader::log_after`),
//! whose `Mutation`s are exactly what a peer receives, and applying it to
//! another store with `Group::apply`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

/// Every simulated sender in these tests keeps one log.
const TEST_LOG: &str = "test-log";

use meridian_core::hlc::ManualClock;
use meridian_core::{
    AttrValue, CATALOG_TABLE, Context, EncodedKey, Hlc, Item, KeyAttr, KeySchema, KeyType,
    Mutation, Number, PhysicalClock, TableDef, Version, encode_item,
};
use meridian_store::{
    ApplyOutcome, CatalogChange, Condition, Durability, ItemWrite, Ops, PeerBatch, Reader,
    SortRange, StoreError, StoredRow, WriteResult, Writer,
};
use proptest::prelude::*;
use tempfile::TempDir;

/// An arbitrary but realistic epoch, in µs.
const T0: u64 = 1_700_000_000_000_000;
const MAX_OFFSET: u64 = 500_000;
const ALL: usize = 100_000;

// ---- fixtures ---------------------------------------------------------------

/// One region's store: its files, its writer and reader, and its clock.
struct Store {
    region: String,
    dir: TempDir,
    writer: Writer,
    reader: Reader,
    clock: Arc<ManualClock>,
    hlc: Hlc,
}

impl Store {
    fn new(region: &str) -> Self {
        Self::with_durability(region, Durability::Full)
    }

    fn with_durability(region: &str, durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let writer = meridian_store::open(dir.path(), region, durability).unwrap();
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let hlc = Hlc::new(clock.clone(), MAX_OFFSET);
        Store {
            region: region.to_string(),
            dir,
            writer,
            reader,
            clock,
            hlc,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_micros()
    }

    /// One request in its own committed group.
    fn write<'r>(&mut self, ops: impl Into<Ops<'r>>) -> Result<Vec<WriteResult>, StoreError> {
        let now = self.now();
        let before = self.log_head();
        let mut g = self.writer.group().unwrap();
        let r = g.write(&self.hlc, now, ops);
        commit_checked(&self.reader, before, g);
        r
    }

    /// Like `write`, with another HLC (a restarted region, a skewed clock).
    fn write_with<'r>(
        &mut self,
        hlc: &Hlc,
        ops: impl Into<Ops<'r>>,
    ) -> Result<Vec<WriteResult>, StoreError> {
        let now = self.now();
        let before = self.log_head();
        let mut g = self.writer.group().unwrap();
        let r = g.write(hlc, now, ops);
        commit_checked(&self.reader, before, g);
        r
    }

    fn write_one<O>(&mut self, op: O) -> Result<WriteResult, StoreError>
    where
        for<'a> &'a [O; 1]: Into<Ops<'a>>,
    {
        self.write(&[op]).map(|mut v| {
            assert_eq!(v.len(), 1);
            v.remove(0)
        })
    }

    fn put(&mut self, table: &str, item: Item) -> WriteResult {
        self.write_one(put(table, item)).unwrap()
    }

    fn delete(&mut self, table: &str, key: Item) -> WriteResult {
        self.write_one(del(table, key)).unwrap()
    }

    fn create(&mut self, def: &TableDef) -> WriteResult {
        self.write_one(CatalogChange::CreateTable(def.clone()))
            .unwrap()
    }

    fn apply(&mut self, peer: &str, entries: &[Mutation]) -> ApplyOutcome {
        let now = self.now();
        let before = self.log_head();
        let mut g = self.writer.group().unwrap();
        let out = g
            .apply(
                &self.hlc,
                now,
                &PeerBatch::new(peer, TEST_LOG, entries.to_vec()),
            )
            .unwrap();
        commit_checked(&self.reader, before, g);
        out
    }

    /// Everything this store ships, as a peer receives it.
    fn outbox(&self) -> Vec<Mutation> {
        self.outbox_after(0, ALL)
    }

    fn outbox_after(&self, after: u64, limit: usize) -> Vec<Mutation> {
        self.reader.log_after(after, limit, usize::MAX).unwrap()
    }

    fn get(&self, table: &str, id: &str) -> Option<StoredRow> {
        self.reader.get(table, &key(id)).unwrap()
    }

    fn log_head(&self) -> u64 {
        self.reader.log_head().unwrap()
    }

    fn conflicts(&self) -> u64 {
        self.reader.conflict_count().unwrap()
    }
}

/// Ships all of `from`'s log to `to`.
/// Commits `g` and checks that the entries it hands out are exactly what
/// the log now holds past `before`: shippers send those without reading
/// them back.
fn commit_checked(reader: &Reader, before: u64, g: meridian_store::Group<'_>) {
    let logged = g.commit().unwrap();
    assert_eq!(
        logged,
        reader.log_after(before, ALL, usize::MAX).unwrap(),
        "the entries a commit hands out must be the log past the old head"
    );
}

fn ship(from: &Store, to: &mut Store) -> ApplyOutcome {
    let entries = from.outbox();
    to.apply(&from.region, &entries)
}

fn s(v: &str) -> AttrValue {
    AttrValue::S(v.to_string())
}

fn num(v: &str) -> Number {
    Number::parse(v, "n").unwrap()
}

fn attr(name: &str, ty: KeyType) -> KeyAttr {
    KeyAttr {
        name: name.into(),
        ty,
    }
}

/// A table keyed by `id` (S) alone.
fn simple_def(name: &str, replicas: &[&str]) -> TableDef {
    TableDef::new(
        name,
        KeySchema {
            partition: attr("id", KeyType::S),
            sort: None,
        },
        replicas.iter().map(|r| r.to_string()).collect(),
    )
    .unwrap()
}

fn sorted_def(name: &str, sort: KeyType, replicas: &[&str]) -> TableDef {
    TableDef::new(
        name,
        KeySchema {
            partition: attr("p", KeyType::S),
            sort: Some(attr("s", sort)),
        },
        replicas.iter().map(|r| r.to_string()).collect(),
    )
    .unwrap()
}

fn item(id: &str, val: &str) -> Item {
    Item::from([("id".to_string(), s(id)), ("v".to_string(), s(val))])
}

fn key_item(id: &str) -> Item {
    Item::from([("id".to_string(), s(id))])
}

fn key(id: &str) -> EncodedKey {
    EncodedKey {
        partition: id.as_bytes().to_vec(),
        sort: Vec::new(),
    }
}

fn put(table: &str, item: Item) -> ItemWrite {
    ItemWrite::Put {
        table: table.into(),
        item,
        condition: None,
    }
}

fn put_if(table: &str, item: Item, c: Condition) -> ItemWrite {
    ItemWrite::Put {
        table: table.into(),
        item,
        condition: Some(c),
    }
}

fn del(table: &str, key: Item) -> ItemWrite {
    ItemWrite::Delete {
        table: table.into(),
        key,
        condition: None,
    }
}

fn del_if(table: &str, key: Item, c: Condition) -> ItemWrite {
    ItemWrite::Delete {
        table: table.into(),
        key,
        condition: Some(c),
    }
}

/// Two stores, `r-a` and `r-b`, both holding table `users` (created on A,
/// its catalog entry already applied on B).
fn pair() -> (Store, Store, WriteResult) {
    let mut a = Store::new("r-a");
    let mut b = Store::new("r-b");
    let created = a.create(&simple_def("users", &["r-a", "r-b"]));
    let out = ship(&a, &mut b);
    assert_eq!(out.applied, 1);
    assert!(b.reader.table_def("users").unwrap().is_some());
    (a, b, created)
}

fn log_keys(r: &Reader, after: u64) -> Vec<(String, Vec<u8>)> {
    r.log_after(after, ALL, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.table, e.key.partition))
        .collect()
}

// ---- 1. tables ----------------------------------------------------------------

#[test]
fn create_list_and_delete_tables() {
    let mut st = Store::new("r-a");
    let def = simple_def("users", &["r-b", "r-a"]);
    let created = st.create(&def);
    assert_eq!(created.version.origin, "r-a");
    assert_eq!(created.prev, None);
    let (got, ver) = st.reader.table_def("users").unwrap().unwrap();
    assert_eq!(got, def);
    assert_eq!(got.replicas, vec!["r-a", "r-b"]);
    assert_eq!(ver, created.version);

    // The catalog change is in the log, shippable, without a table version.
    let log = st.reader.log_after(0, ALL, usize::MAX).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].table, CATALOG_TABLE);
    assert_eq!(log[0].table_version, None);
    assert_eq!(log[0].key, TableDef::catalog_key("users"));
    assert_eq!(log[0].version, created.version.to_bytes());
    assert_eq!(log[0].image, Some(encode_item(&def.to_item())));

    match st.write(&[CatalogChange::CreateTable(simple_def("users", &["r-a"]))]) {
        Err(StoreError::TableExists(n)) => assert_eq!(n, "users"),
        other => panic!("expected TableExists, got {other:?}"),
    }
    // The failed create changed nothing.
    assert_eq!(
        st.reader.table_def("users").unwrap().unwrap(),
        (def, created.version.clone())
    );
    assert_eq!(st.log_head(), 1);

    st.put("users", item("u1", "x"));
    st.create(&simple_def("accounts", &["r-a"]));
    st.create(&simple_def("zeta", &["r-a"]));
    let lt = |after: &str, n: usize| st.reader.list_tables(after, n).unwrap();
    assert_eq!(lt("", 10), vec!["accounts", "users", "zeta"]);
    assert_eq!(lt("", 2), vec!["accounts", "users"]);
    assert_eq!(lt("accounts", 1), vec!["users"]);
    assert_eq!(lt("users", 10), vec!["zeta"]);
    assert!(lt("zeta", 10).is_empty());

    // A table that this region holds no replica of: known, but not writable.
    st.create(&simple_def("elsewhere", &["r-b", "r-c"]));
    for op in [
        put("elsewhere", item("e", "x")),
        del("elsewhere", key_item("e")),
    ] {
        match st.write(&[op]) {
            Err(StoreError::NotReplica {
                table,
                region,
                replicas,
            }) => {
                assert_eq!(table, "elsewhere");
                assert_eq!(region, "r-a");
                assert_eq!(replicas, vec!["r-b", "r-c"]);
            }
            other => panic!("expected NotReplica, got {other:?}"),
        }
    }
    assert!(st.reader.heads("elsewhere").unwrap().is_empty());

    for op in [put("nope", item("e", "x")), del("nope", key_item("e"))] {
        match st.write(&[op]) {
            Err(StoreError::TableNotFound(n)) => assert_eq!(n, "nope"),
            other => panic!("expected TableNotFound, got {other:?}"),
        }
    }

    let head = st.log_head();
    let deleted = st
        .write_one(CatalogChange::DeleteTable("users".into()))
        .unwrap();
    assert_eq!(deleted.prev, Some(created.version.clone()));
    assert!(deleted.version > created.version);
    assert_eq!(deleted.seq, head + 1);
    let log = st.reader.log_after(head, ALL, usize::MAX).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].table.as_str(), log[0].image.as_ref()),
        (CATALOG_TABLE, None)
    );
    assert_eq!(st.reader.table_def("users").unwrap(), None);
    assert_eq!(
        st.reader.list_tables("", 10).unwrap(),
        vec!["accounts", "elsewhere", "zeta"]
    );
    // The table's items went with it.
    assert!(st.reader.heads("users").unwrap().is_empty());
    assert!(matches!(
        st.write(&[put("users", item("u2", "x"))]),
        Err(StoreError::TableNotFound(_))
    ));
    assert!(matches!(
        st.write(&[CatalogChange::DeleteTable("users".into())]),
        Err(StoreError::TableNotFound(_))
    ));

    // Recreated: a new incarnation, empty, whose catalog prev is the deletion.
    let again = st.create(&simple_def("users", &["r-a"]));
    assert_eq!(again.prev, Some(deleted.version.clone()));
    assert_eq!(
        st.reader.table_def("users").unwrap().unwrap().1,
        again.version
    );
    assert_eq!(st.get("users", "u1"), None);
    assert_eq!(st.reader.item_count("users").unwrap(), 0);
    st.put("users", item("u2", "y"));
    assert_eq!(st.reader.item_count("users").unwrap(), 1);
}

#[test]
fn table_bytes_sums_the_live_items_as_stored() {
    let mut st = Store::new("r-a");
    st.create(&simple_def("users", &["r-a"]));
    assert_eq!(st.reader.table_bytes("users").unwrap(), 0);
    let (small, big) = (item("u1", "y"), item("u2", &"x".repeat(5000)));
    let stored = |i: &Item| encode_item(i).len() as u64;
    st.put("users", small.clone());
    st.put("users", big.clone());
    assert_eq!(
        st.reader.table_bytes("users").unwrap(),
        stored(&small) + stored(&big)
    );
    // A deleted item's tombstone holds no bytes.
    st.delete("users", key_item("u2"));
    assert_eq!(st.reader.table_bytes("users").unwrap(), stored(&small));
}

// ---- 2. put, get, delete ---------------------------------------------------------

#[test]
fn put_get_delete_issue_versions_and_log_rows() {
    let mut st = Store::new("r-a");
    let created = st.create(&simple_def("users", &["r-a"]));
    st.clock.advance(10);

    let head0 = st.log_head();
    let one = item("u1", "one");
    let w1 = st.put("users", one.clone());
    assert_eq!(w1.version.origin, "r-a");
    assert_eq!(w1.version.hlc.physical, T0 + 10);
    assert_eq!(w1.prev, None);
    assert_eq!(w1.seq, head0 + 1);
    assert_eq!(st.log_head(), w1.seq);
    let log = st.reader.log_after(head0, ALL, usize::MAX).unwrap();
    assert_eq!(
        log,
        vec![Mutation {
            seq: w1.seq,
            table: "users".into(),
            table_version: Some(created.version.to_bytes()),
            key: key("u1"),
            version: w1.version.to_bytes(),
            prev: None,
            context: Context::empty().after(&w1.version).to_bytes(),
            image: Some(encode_item(&one)),
            commit_real: T0 + 10,
            ttl: false,
            unit: (0, 1),
        }]
    );
    assert_eq!(
        st.get("users", "u1"),
        Some(StoredRow {
            key: key("u1"),
            version: w1.version.clone(),
            prev: None,
            context: Context::empty().after(&w1.version),
            image: Some(one),
        })
    );

    st.clock.advance(10);
    let two = item("u1", "two");
    let w2 = st.put("users", two.clone());
    assert_eq!(w2.prev, Some(w1.version.clone()));
    assert!(w2.version > w1.version);
    assert_eq!(w2.seq, w1.seq + 1);
    let row = st.get("users", "u1").unwrap();
    // The context keeps one entry per origin: w2 supersedes w1 in it.
    assert_eq!(row.context.entries(), std::slice::from_ref(&w2.version));
    assert!(row.context.saw(&w1.version));
    assert_eq!(
        (row.version, row.prev, row.image),
        (w2.version.clone(), Some(w1.version.clone()), Some(two))
    );

    st.clock.advance(10);
    let w3 = st.delete("users", key_item("u1"));
    assert_eq!(w3.prev, Some(w2.version.clone()));
    assert!(w3.version > w2.version);
    assert_eq!(w3.seq, w2.seq + 1);
    assert_eq!(st.log_head(), w3.seq);
    // A tombstone: the head remains, without an image.
    assert_eq!(
        st.get("users", "u1"),
        Some(StoredRow {
            key: key("u1"),
            version: w3.version.clone(),
            prev: Some(w2.version.clone()),
            context: Context::empty().after(&w3.version),
            image: None,
        })
    );
    assert_eq!(st.reader.item_count("users").unwrap(), 0);
    assert!(st.reader.scan("users", None, 10).unwrap().is_empty());
    assert_eq!(st.reader.heads("users").unwrap().len(), 1);
    let log = st.reader.log_after(w2.seq, ALL, usize::MAX).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].version, w3.version.to_bytes());
    assert_eq!(log[0].prev, Some(w2.version.to_bytes()));
    assert_eq!(
        log[0].context,
        Context::empty().after(&w3.version).to_bytes()
    );
    assert_eq!(log[0].image, None);
    // A missing key reads as nothing at all.
    assert_eq!(st.get("users", "never"), None);
    // Batches are cut by bytes, but never below one entry.
    assert_eq!(st.reader.log_after(0, ALL, 1).unwrap().len(), 1);
    assert_eq!(st.reader.log_after(0, 2, usize::MAX).unwrap().len(), 2);
    assert_eq!(
        st.reader.log_after(w3.seq, ALL, usize::MAX).unwrap(),
        vec![]
    );
}

#[test]
fn invalid_items_and_keys_are_rejected_without_side_effects() {
    let mut st = Store::new("r-a");
    st.create(&simple_def("users", &["r-a"]));
    let head = st.log_head();
    let no_key = Item::from([("v".to_string(), s("x"))]);
    let wrong_type = Item::from([("id".to_string(), AttrValue::N(num("1")))]);
    let extra = item("k", "x"); // a delete key may hold only key attributes
    for op in [
        put("users", no_key),
        put("users", wrong_type.clone()),
        del("users", wrong_type),
        del("users", extra),
        put("users", item("", "empty key")),
    ] {
        let r = st.write(&[put("users", item("ok", "1")), op]);
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
    assert_eq!(st.log_head(), head);
    assert_eq!(st.get("users", "ok"), None);
}

#[test]
fn versions_increase_when_the_clock_goes_backwards() {
    let mut st = Store::new("r-a");
    st.create(&simple_def("users", &["r-a"]));
    st.clock.set(T0 + 1_000_000);
    let w1 = st.put("users", item("k", "1"));
    assert_eq!(w1.version.hlc.physical, T0 + 1_000_000);

    st.clock.set(T0);
    let w2 = st.put("users", item("k", "2"));
    assert!(w2.version > w1.version, "{} !> {}", w2.version, w1.version);

    // A restarted region whose HLC starts from zero and whose clock is a
    // second behind: the store still issues a version above the one it replaces.
    let fresh = Hlc::new(st.clock.clone(), MAX_OFFSET);
    let w3 = st
        .write_with(&fresh, &[put("users", item("k", "3"))])
        .unwrap()
        .remove(0);
    assert!(w3.version > w2.version, "{} !> {}", w3.version, w2.version);
    assert_eq!(w3.prev, Some(w2.version.clone()));
    let fresh = Hlc::new(st.clock.clone(), MAX_OFFSET);
    let w4 = st
        .write_with(&fresh, &[del("users", key_item("k"))])
        .unwrap()
        .remove(0);
    assert!(w4.version > w3.version, "{} !> {}", w4.version, w3.version);
    assert_eq!(st.get("users", "k").unwrap().version, w4.version);
    assert_eq!(st.writer.max_version().unwrap(), Some(w4.version));
}

#[test]
fn conditions_succeed_and_fail_without_side_effects() {
    let mut st = Store::new("r-a");
    st.create(&simple_def("users", &["r-a"]));

    let must_fail = |st: &mut Store, op: ItemWrite| {
        let id = match &op {
            ItemWrite::Put { item, .. } | ItemWrite::Delete { key: item, .. } => {
                match &item["id"] {
                    AttrValue::S(s) => s.clone(),
                    _ => unreachable!(),
                }
            }
            _ => unreachable!(),
        };
        let before = st.get("users", &id);
        let head = st.log_head();
        let digest = st.reader.digest("users").unwrap();
        match st.write(&[op]) {
            Err(StoreError::ConditionFailed(_)) => {}
            other => panic!("expected ConditionFailed, got {other:?}"),
        }
        assert_eq!(st.get("users", &id), before);
        assert_eq!(st.log_head(), head);
        assert_eq!(st.reader.digest("users").unwrap(), digest);
    };

    // MustNotExist: passes on a missing key, fails on a live one.
    let a = st
        .write_one(put_if("users", item("k", "a"), Condition::MustNotExist))
        .unwrap();
    assert_eq!(a.prev, None);
    must_fail(
        &mut st,
        put_if("users", item("k", "b"), Condition::MustNotExist),
    );
    must_fail(
        &mut st,
        del_if("users", key_item("k"), Condition::MustNotExist),
    );

    // VersionEquals: passes on the current version only.
    let b = st
        .write_one(put_if(
            "users",
            item("k", "b"),
            Condition::VersionEquals(a.version.clone()),
        ))
        .unwrap();
    assert_eq!(b.prev, Some(a.version.clone()));
    must_fail(
        &mut st,
        put_if(
            "users",
            item("k", "c"),
            Condition::VersionEquals(a.version.clone()),
        ),
    );
    must_fail(
        &mut st,
        del_if(
            "users",
            key_item("k"),
            Condition::VersionEquals(a.version.clone()),
        ),
    );
    // ...and never on a key that does not exist.
    must_fail(
        &mut st,
        put_if(
            "users",
            item("other", "x"),
            Condition::VersionEquals(b.version.clone()),
        ),
    );
    assert_eq!(st.get("users", "other"), None);

    let c = st
        .write_one(del_if(
            "users",
            key_item("k"),
            Condition::VersionEquals(b.version.clone()),
        ))
        .unwrap();
    assert_eq!(st.get("users", "k").unwrap().image, None);
    // A tombstone does not exist for MustNotExist...
    let d = st
        .write_one(put_if("users", item("k", "d"), Condition::MustNotExist))
        .unwrap();
    assert_eq!(d.prev, Some(c.version.clone()));
    assert_eq!(st.get("users", "k").unwrap().image, Some(item("k", "d")));
    assert_eq!(st.reader.log_after(0, ALL, usize::MAX).unwrap().len(), 5);
}

// ---- 3. group commit ----------------------------------------------------------------

#[test]
fn group_requests_are_isolated_and_all_or_nothing() {
    let mut st = Store::new("r-a");
    st.create(&simple_def("users", &["r-a"]));
    let pre = st.put("users", item("pre", "0"));
    st.put("users", item("pre2", "0"));
    let head0 = st.log_head();
    let now = st.now();

    let mut g = st.writer.group().unwrap();
    let r1 = g
        .write(&st.hlc, now, &[put("users", item("a", "1"))])
        .unwrap();
    let r2 = g.write(
        &st.hlc,
        now,
        &[put_if("users", item("pre", "x"), Condition::MustNotExist)],
    );
    assert!(matches!(r2, Err(StoreError::ConditionFailed(_))), "{r2:?}");
    // The same key twice in one request.
    let r3 = g.write(
        &st.hlc,
        now,
        &[put("users", item("b", "1")), put("users", item("b", "2"))],
    );
    assert!(matches!(r3, Err(StoreError::Invalid(_))), "{r3:?}");
    let r3b = g.write(
        &st.hlc,
        now,
        &[put("users", item("b", "1")), del("users", key_item("b"))],
    );
    assert!(matches!(r3b, Err(StoreError::Invalid(_))), "{r3b:?}");
    let r4 = g
        .write(
            &st.hlc,
            now,
            &[put("users", item("c", "1")), put("users", item("d", "1"))],
        )
        .unwrap();
    // A multi-op request whose last op fails leaves nothing of its first.
    let r5 = g.write(
        &st.hlc,
        now,
        &[
            put("users", item("e", "1")),
            put_if(
                "users",
                item("pre", "x"),
                Condition::VersionEquals(r1[0].version.clone()),
            ),
        ],
    );
    // Several ops fail as a transaction: one reason per op.
    match &r5 {
        Err(StoreError::TransactionCanceled { reasons }) => {
            assert_eq!(reasons.len(), 2);
            assert!(reasons[0].is_none(), "{r5:?}");
            assert_eq!(reasons[1].as_ref().unwrap().current, Some(item("pre", "0")));
        }
        other => panic!("expected TransactionCanceled, got {other:?}"),
    }
    let r6 = g.write(
        &st.hlc,
        now,
        &[put("users", item("f", "1")), put("missing", item("f", "1"))],
    );
    assert!(matches!(r6, Err(StoreError::TableNotFound(_))), "{r6:?}");
    let r7 = g
        .write(&st.hlc, now, &[del("users", key_item("pre2"))])
        .unwrap();

    // Nothing is visible before the commit.
    assert_eq!(st.reader.get("users", &key("a")).unwrap(), None);
    assert_eq!(st.reader.log_head().unwrap(), head0);
    g.commit().unwrap();

    let seqs: Vec<u64> = [&r1[..], &r4[..], &r7[..]]
        .concat()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (head0 + 1..=head0 + 4).collect::<Vec<_>>());
    assert_eq!(st.log_head(), head0 + 4);
    let logged: Vec<Vec<u8>> = log_keys(&st.reader, head0)
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    assert_eq!(
        logged,
        vec![
            b"a".to_vec(),
            b"c".to_vec(),
            b"d".to_vec(),
            b"pre2".to_vec()
        ]
    );
    for id in ["a", "c", "d"] {
        assert_eq!(st.get("users", id).unwrap().image, Some(item(id, "1")));
    }
    for id in ["b", "e", "f"] {
        assert_eq!(st.get("users", id), None, "{id}");
    }
    let pre_row = st.get("users", "pre").unwrap();
    assert_eq!(
        (pre_row.version, pre_row.image),
        (pre.version, Some(item("pre", "0")))
    );
    assert_eq!(st.get("users", "pre2").unwrap().image, None);
    // Versions within a group are distinct and increasing.
    assert!(r1[0].version < r4[0].version && r4[0].version < r4[1].version);
    assert!(r4[1].version < r7[0].version);
}

/// A request runs without a savepoint, so one that fails after its first
/// write must take its group down: nothing of the group may commit.
#[test]
fn a_request_that_fails_half_written_aborts_its_group() {
    let mut a = Store::new("r-a");
    a.create(&simple_def("users", &["r-a", "r-b"]));
    a.put("users", item("kept", "1"));
    // The log insert of key "boom" fails after its item row was written.
    let conn = rusqlite::Connection::open(a.writer.path()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON log WHEN NEW.pk = X'626f6f6d'
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    drop(conn);
    let head = a.log_head();
    let now = a.now();
    let mut g = a.writer.group().unwrap();
    g.write(&a.hlc, now, &[put("users", item("other", "1"))])
        .expect("an ordinary request in the same group");
    let r = g.write(&a.hlc, now, &[put("users", item("boom", "1"))]);
    assert!(matches!(r, Err(StoreError::GroupAborted(_))), "{r:?}");
    assert!(matches!(g.commit(), Err(StoreError::GroupAborted(_))));
    assert_eq!(a.get("users", "boom"), None, "no half of the request");
    assert_eq!(a.get("users", "other"), None, "nothing of its group");
    assert!(a.get("users", "kept").is_some(), "earlier groups stay");
    assert_eq!(a.log_head(), head);
}

#[test]
fn a_dropped_group_leaves_no_trace() {
    let mut st = Store::new("r-a");
    st.create(&simple_def("users", &["r-a"]));
    st.put("users", item("keep", "1"));
    let head0 = st.log_head();
    let digest0 = st.reader.digest("users").unwrap();
    let now = st.now();
    {
        let mut g = st.writer.group().unwrap();
        g.write(&st.hlc, now, &[put("users", item("x", "1"))])
            .unwrap();
        g.write(
            &st.hlc,
            now,
            &[CatalogChange::CreateTable(simple_def("newtable", &["r-a"]))],
        )
        .unwrap();
        g.write(&st.hlc, now, &[put("newtable", item("n", "1"))])
            .unwrap();
        g.write(&st.hlc, now, &[CatalogChange::DeleteTable("users".into())])
            .unwrap();
        g.set_watermark("r-b", 7).unwrap();
        // Dropped here without a commit.
    }
    assert_eq!(st.get("users", "x"), None);
    assert_eq!(st.log_head(), head0);
    assert_eq!(st.reader.digest("users").unwrap(), digest0);
    assert_eq!(st.reader.table_def("newtable").unwrap(), None);
    assert!(st.reader.table_def("users").unwrap().is_some());
    assert_eq!(st.reader.list_tables("", 10).unwrap(), vec!["users"]);
    assert!(st.reader.watermarks().unwrap().is_empty());
    assert_eq!(
        st.get("users", "keep").unwrap().image,
        Some(item("keep", "1"))
    );

    // The writer still works, and its view of the catalog is the committed one.
    assert!(matches!(
        st.write(&[put("newtable", item("n", "1"))]),
        Err(StoreError::TableNotFound(_))
    ));
    let w = st.put("users", item("y", "1"));
    assert_eq!(w.seq, head0 + 1);
    assert_eq!(
        st.get("users", "keep").unwrap().image,
        Some(item("keep", "1"))
    );
}

#[test]
fn a_failed_request_undoes_its_catalog_changes() {
    let mut st = Store::new("r-a");
    // Items written after a create carry the table's catalog version.
    let r = st
        .write(&[CatalogChange::CreateTable(simple_def("t-one", &["r-a"]))])
        .unwrap();
    st.write(&[put("t-one", item("k", "1"))]).unwrap();
    let log = st.reader.log_after(r[0].seq, ALL, usize::MAX).unwrap();
    assert_eq!(log[0].table_version, Some(r[0].version.to_bytes()));
    // Table and item operations do not mix in one request: no request
    // holds both (`meridian_store::Ops`, whose compile_fail example checks
    // that such a request does not compile).

    // Several table operations in one request are refused whole: catalog
    // changes replicate one by one.
    let head = st.log_head();
    let err = st.write(&[
        CatalogChange::CreateTable(simple_def("t-two", &["r-a"])),
        CatalogChange::CreateTable(simple_def("t-three", &["r-a"])),
    ]);
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    assert_eq!(st.log_head(), head);
    assert_eq!(st.reader.table_def("t-two").unwrap(), None);
    assert!(matches!(
        st.write(&[put("t-two", item("k", "1"))]),
        Err(StoreError::TableNotFound(_))
    ));
    // A failed table operation leaves the catalog, and the writer's cache, as they were.
    let err = st.write(&[CatalogChange::CreateTable(simple_def("t-one", &["r-a"]))]);
    assert!(
        matches!(err, Err(StoreError::TableExists(ref n)) if n == "t-one"),
        "{err:?}"
    );
    let err = st.write(&[CatalogChange::DeleteTable("missing".into())]);
    assert!(matches!(err, Err(StoreError::TableNotFound(_))), "{err:?}");
    assert_eq!(st.log_head(), head);
    assert_eq!(st.get("t-one", "k").unwrap().image, Some(item("k", "1")));
    st.put("t-one", item("k2", "1"));

    // Inside one group: a created table survives a later failed request.
    let now = st.now();
    let mut g = st.writer.group().unwrap();
    g.write(
        &st.hlc,
        now,
        &[CatalogChange::CreateTable(simple_def("t-three", &["r-a"]))],
    )
    .unwrap();
    assert!(
        g.write(
            &st.hlc,
            now,
            &[
                put("t-three", item("a", "1")),
                put("t-three", item("a", "2"))
            ]
        )
        .is_err()
    );
    g.write(&st.hlc, now, &[put("t-three", item("b", "1"))])
        .unwrap();
    g.commit().unwrap();
    assert!(st.reader.table_def("t-three").unwrap().is_some());
    assert_eq!(st.get("t-three", "a"), None);
    assert_eq!(st.get("t-three", "b").unwrap().image, Some(item("b", "1")));
}

// ---- 4. durability ---------------------------------------------------------------

#[test]
fn committed_state_survives_reopen_and_region_is_checked() {
    let mut a = Store::new("r-a");
    let mut b = Store::new("r-b");
    let created = a.create(&simple_def("users", &["r-a", "r-b"]));
    a.put("users", item("x", "1"));
    a.put("users", item("y", "1"));
    a.delete("users", key_item("y"));
    {
        let mut g = a.writer.group().unwrap();
        g.set_watermark("r-b", 3).unwrap();
        g.set_watermark("r-b", 2).unwrap(); // the peer's word is authoritative
        g.set_watermark("r-c", 9).unwrap();
        g.commit().unwrap();
    }
    let shipped = ship(&a, &mut b);
    assert_eq!(shipped.applied, 4);
    let b_head = b.log_head();
    b.put("users", item("z", "b"));
    // Uncommitted work at the moment of the "crash".
    {
        let now = a.now();
        let mut g = a.writer.group().unwrap();
        g.write(&a.hlc, now, &[put("users", item("lost", "1"))])
            .unwrap();
        g.commit().unwrap();
        let mut g = a.writer.group().unwrap();
        g.write(&a.hlc, now, &[put("users", item("never", "1"))])
            .unwrap();
        // dropped: not committed
    }

    let a_log = a.reader.log_after(0, ALL, usize::MAX).unwrap();
    let a_heads = a.reader.heads("users").unwrap();
    let a_max = a.writer.max_version().unwrap().unwrap();
    let b_heads = b.reader.heads("users").unwrap();
    let b_log = b.reader.log_after(0, ALL, usize::MAX).unwrap();

    let reopen = |st: Store| -> (TempDir, Writer, Reader) {
        let Store {
            dir,
            writer,
            reader,
            region,
            ..
        } = st;
        drop(reader);
        drop(writer);
        let w = meridian_store::open(dir.path(), &region, Durability::Full).unwrap();
        let r = meridian_store::open_reader(dir.path()).unwrap();
        (dir, w, r)
    };
    let (a_dir, a_writer, a_reader) = reopen(a);
    assert_eq!(a_reader.log_after(0, ALL, usize::MAX).unwrap(), a_log);
    assert_eq!(a_reader.heads("users").unwrap(), a_heads);
    assert!(a_heads.iter().any(|h| h.key == key("lost")));
    assert!(!a_heads.iter().any(|h| h.key == key("never")));
    assert_eq!(
        a_reader.get("users", &key("y")).unwrap().map(|r| r.image),
        Some(None)
    );
    assert_eq!(
        a_reader.table_def("users").unwrap().unwrap().1,
        created.version
    );
    assert_eq!(
        a_reader.watermarks().unwrap(),
        HashMap::from([("r-b".to_string(), 2), ("r-c".to_string(), 9)])
    );
    assert_eq!(a_writer.max_version().unwrap(), Some(a_max.clone()));
    assert_eq!(a_writer.region(), "r-a");

    // A restarted region restores its HLC from its high-water marks: even with the clock
    // far behind, new versions on any key exceed everything it holds.
    let clock = Arc::new(ManualClock::new(T0 - 60_000_000));
    let hlc = Hlc::new(clock, MAX_OFFSET);
    hlc.restore(a_max.hlc);
    let mut a_writer = a_writer;
    let mut g = a_writer.group().unwrap();
    let w = g
        .write(&hlc, T0, &[put("users", item("fresh", "1"))])
        .unwrap();
    g.commit().unwrap();
    assert!(w[0].version > a_max);

    // B: the inbound position persisted with the items, so a redelivery after
    // a restart is recognised.
    let (b_dir, mut b_writer, b_reader) = reopen(b);
    assert_eq!(b_reader.heads("users").unwrap(), b_heads);
    assert_eq!(b_reader.log_after(0, ALL, usize::MAX).unwrap(), b_log);
    assert_eq!(
        b_reader.inbound("r-a", TEST_LOG).unwrap(),
        shipped.applied_through
    );
    let redelivered: Vec<Mutation> = a_log.iter().take(4).cloned().collect();
    let hlc_b = Hlc::new(Arc::new(ManualClock::new(T0)), MAX_OFFSET);
    let mut g = b_writer.group().unwrap();
    let out = g
        .apply(
            &hlc_b,
            T0,
            &PeerBatch::new("r-a", TEST_LOG, redelivered.to_vec()),
        )
        .unwrap();
    g.commit().unwrap();
    assert_eq!((out.applied, out.duplicates), (0, 4));
    assert_eq!(b_reader.log_head().unwrap(), b_head + 1);

    // A data directory belongs to one region.
    drop(a_reader);
    drop(a_writer);
    match meridian_store::open(a_dir.path(), "r-z", Durability::Full) {
        Err(StoreError::Open { path, reason }) => {
            assert_eq!(path, meridian_store::db_path(a_dir.path()));
            assert!(reason.contains("region"), "{reason}");
        }
        Err(e) => panic!("expected StoreError::Open, got {e:?}"),
        Ok(_) => panic!("a store of r-a opened as r-z"),
    }
    // The refusal did not rename the store.
    let w = meridian_store::open(a_dir.path(), "r-a", Durability::Normal).unwrap();
    assert_eq!(w.region(), "r-a");
    drop(b_dir);
}

#[test]
fn reopen_of_a_fresh_dir_with_another_region_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = dir.path();
    drop(meridian_store::open(path, "r-a", Durability::Full).unwrap());
    assert!(matches!(
        meridian_store::open(path, "r-b", Durability::Normal),
        Err(StoreError::Open { .. })
    ));
    assert!(meridian_store::open(path, "r-a", Durability::Full).is_ok());
}

#[test]
fn a_data_dir_of_another_schema_version_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let conn = rusqlite::Connection::open(writer.path()).unwrap();
    drop(writer);
    conn.execute("UPDATE meta SET v = '4' WHERE k = 'schema_version'", [])
        .unwrap();
    drop(conn);
    let err = meridian_store::open(dir.path(), "r-a", Durability::Full)
        .err()
        .expect("an older schema version is refused");
    let msg = err.to_string();
    assert!(
        msg.contains(r#"schema_version is "4""#) && msg.contains("--wipe"),
        "{msg}"
    );
}

#[test]
fn a_store_that_fails_its_integrity_check_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let path = writer.path().to_path_buf();
    let hlc = Hlc::new(Arc::new(ManualClock::new(T0)), MAX_OFFSET);
    let mut g = writer.group().unwrap();
    g.write(
        &hlc,
        T0,
        &[CatalogChange::CreateTable(simple_def("users", &["r-a"]))],
    )
    .unwrap();
    for i in 0..300 {
        let it = item(&format!("k{i:03}"), &"x".repeat(200));
        g.write(&hlc, T0, &[put("users", it)]).unwrap();
    }
    g.commit().unwrap();
    // Closed cleanly: the WAL is folded into the file. A healthy store opens.
    drop(writer);
    drop(meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap());
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 16 * 4096, "{len} bytes");
    // Garbage over a page in the middle (not the header page).
    let mut bytes = std::fs::read(&path).unwrap();
    let page = (len / 4096 / 2) as usize * 4096;
    bytes[page..page + 4096].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();
    let err = meridian_store::open(dir.path(), "r-a", Durability::Full)
        .err()
        .expect("a corrupt store is refused");
    let msg = err.to_string();
    assert!(msg.contains("integrity check"), "{msg}");
}

#[test]
fn a_version_7_data_dir_is_brought_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let conn = rusqlite::Connection::open(writer.path()).unwrap();
    drop(writer);
    // What version 7 lacked: the purge horizon and the tombstone index,
    // and what version 8 lacked too.
    conn.execute_batch(
        "DROP TABLE purge_horizon; DROP INDEX tombstones;
         DROP INDEX history_at; DROP TABLE history; DROP TABLE pitr;
         UPDATE meta SET v = '7' WHERE k = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let mut writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let mut g = writer.group().unwrap();
    g.purge_tombstones(meridian_core::Timestamp::new(5, 0), 10)
        .unwrap();
    g.commit().unwrap();
    let reader = meridian_store::open_reader(dir.path()).unwrap();
    assert_eq!(
        reader.purge_horizon().unwrap(),
        meridian_core::Timestamp::new(5, 0)
    );
}

#[test]
fn a_version_8_data_dir_gains_point_in_time_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let conn = rusqlite::Connection::open(writer.path()).unwrap();
    drop(writer);
    // What version 8 lacked: the point-in-time recovery tables.
    conn.execute_batch(
        "DROP INDEX history_at; DROP TABLE history; DROP TABLE pitr;
         UPDATE meta SET v = '8' WHERE k = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let mut writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let hlc = Hlc::new(Arc::new(ManualClock::new(T0)), MAX_OFFSET);
    let mut g = writer.group().unwrap();
    g.write(
        &hlc,
        T0,
        &[CatalogChange::CreateTable(simple_def("users", &["r-a"]))],
    )
    .unwrap();
    g.set_pitr("users", Some(1)).unwrap();
    g.write(&hlc, T0, &[put("users", item("k", "1"))]).unwrap();
    g.commit().unwrap();
    let reader = meridian_store::open_reader(dir.path()).unwrap();
    assert_eq!(
        reader.pitr("users").unwrap().map(|p| p.period_days),
        Some(1)
    );
    assert_eq!(reader.history_rows("users").unwrap(), 1);
}

// ---- 5. remote apply ----------------------------------------------------------------

#[test]
fn apply_is_lww_and_idempotent() {
    let (mut a, mut b, created) = pair();
    let b_head0 = b.log_head();
    // The relayed catalog entry is B's only shippable entry.
    let b_out = b.reader.log_after(0, ALL, usize::MAX).unwrap();
    assert_eq!(b_out.len(), 1);
    assert_eq!(b_out[0].version, created.version.to_bytes());

    a.clock.advance(100);
    let v1 = a.put("users", item("k", "1"));
    a.put("users", item("other", "1"));
    b.clock.advance(250);
    let out = ship(&a, &mut b);
    assert_eq!((out.applied, out.duplicates, out.conflicts), (2, 1, 0));
    assert_eq!(out.applied_through, a.log_head());
    assert_eq!(out.refused, None);
    assert_eq!(out.latencies_micros, vec![150, 150]);
    assert_eq!(b.reader.inbound("r-a", TEST_LOG).unwrap(), a.log_head());
    let row = b.get("users", "k").unwrap();
    assert_eq!(
        (row.version, row.image),
        (v1.version.clone(), Some(item("k", "1")))
    );
    // Applied item entries stay out of B's log: they are A's to ship.
    assert_eq!(b.log_head(), b_head0);
    assert_eq!(b.reader.log_after(0, ALL, usize::MAX).unwrap(), b_out);
    assert_eq!(b.reader.pending(0).unwrap(), 1);
    // A watermark past the head (a confused peer) leaves nothing pending.
    assert_eq!(b.reader.pending(b.log_head() + 5).unwrap(), 0);

    // A newer write replaces; the older one, delivered late, does not.
    a.clock.advance(100);
    let v2 = a.put("users", item("k", "2"));
    let out = ship(&a, &mut b);
    assert_eq!(out.applied, 1);
    assert_eq!(b.get("users", "k").unwrap().version, v2.version);

    let head = b.log_head();

    // Redelivery of the whole log: nothing changes.
    let digest = b.reader.digest("users").unwrap();
    let heads = b.reader.heads("users").unwrap();
    let inbound = b.reader.inbound("r-a", TEST_LOG).unwrap();
    let batch = a.outbox();
    for _ in 0..2 {
        let out = b.apply("r-a", &batch);
        assert_eq!(
            (out.applied, out.duplicates, out.conflicts),
            (0, batch.len(), 0)
        );
        assert_eq!(out.applied_through, inbound);
        assert_eq!(b.reader.inbound("r-a", TEST_LOG).unwrap(), inbound);
        assert_eq!(b.log_head(), head);
        assert_eq!(b.reader.digest("users").unwrap(), digest);
        assert_eq!(b.reader.heads("users").unwrap(), heads);
        assert_eq!(b.conflicts(), 0);
    }
    // The same batch, arriving in two overlapping halves.
    a.put("users", item("m", "1"));
    a.put("users", item("n", "1"));
    let batch = a.outbox();
    let cut = batch.len() - 1;
    let first = b.apply("r-a", &batch[..cut]);
    let second = b.apply("r-a", &batch[cut - 1..]);
    assert_eq!(
        (first.applied, second.applied, second.duplicates),
        (1, 1, 1)
    );
    assert_eq!(b.log_head(), head);
}

#[test]
fn concurrent_writes_record_one_conflict_on_each_side() {
    let (mut a, mut b, _) = pair();
    a.clock.advance(100);
    b.clock.advance(200);
    let va = a.put("users", item("k", "from-a"));
    let vb = b.put("users", item("k", "from-b"));
    assert!(vb.version > va.version);
    // A tombstone against a put, the other way round.
    a.clock.advance(300);
    let da = a.delete("users", key_item("t"));
    let pb = b.put("users", item("t", "from-b"));
    assert!(da.version > pb.version);

    let to_b = ship(&a, &mut b);
    let to_a = ship(&b, &mut a);
    assert_eq!(to_b.conflicts, 2);
    assert_eq!(to_a.conflicts, 2);
    // B keeps its own k and takes A's tombstone; A the reverse.
    assert_eq!((to_b.applied, to_a.applied), (1, 1));

    for (st, me) in [(&a, "r-a"), (&b, "r-b")] {
        assert_eq!(st.conflicts(), 2, "{me}");
        let rows = st.reader.conflicts("users", 10).unwrap();
        assert_eq!(rows.len(), 2);
        let k = rows.iter().find(|c| c.key == key("k")).unwrap();
        assert_eq!(k.table, "users");
        assert_eq!(k.winner, vb.version);
        assert_eq!(k.winner_image, Some(item("k", "from-b")));
        assert_eq!(k.loser, va.version);
        assert_eq!(k.loser_image, Some(item("k", "from-a")));
        assert_eq!(k.detected_by, me);
        let t = rows.iter().find(|c| c.key == key("t")).unwrap();
        assert_eq!(
            (t.winner.clone(), t.winner_image.clone()),
            (da.version.clone(), None)
        );
        assert_eq!(t.loser, pb.version);
        assert_eq!(t.loser_image, Some(item("t", "from-b")));
        assert_eq!(st.get("users", "k").unwrap().version, vb.version);
        assert_eq!(st.get("users", "t").unwrap().image, None);
        assert!(st.reader.conflicts("elsewhere", 10).unwrap().is_empty());
        assert_eq!(st.reader.conflicts("", 10).unwrap().len(), 2);
        // Pages: by count, and by bytes (at least one record a page), then
        // from where the last one stopped, with no more to come.
        for (limit, bytes) in [(1, usize::MAX), (10, 1)] {
            let (first, next) = st.reader.conflicts_page("users", 0, limit, bytes).unwrap();
            assert_eq!(first.len(), 1);
            let next = next.expect("a second page");
            let (second, end) = st
                .reader
                .conflicts_page("users", next, limit, bytes)
                .unwrap();
            assert_eq!(second.len(), 1);
            assert_ne!(first[0].key, second[0].key);
            assert_eq!(end, None, "the last page");
        }
        let (all, end) = st.reader.conflicts_page("users", 0, 2, usize::MAX).unwrap();
        assert_eq!((all.len(), end), (2, None));
        // Each record counts its overhead, however small its key and
        // images: a budget of one overhead holds one record.
        let (one, next) = st
            .reader
            .conflicts_page("users", 0, 10, meridian_store::CONFLICT_RECORD_OVERHEAD)
            .unwrap();
        assert_eq!((one.len(), next.is_some()), (1, true));
    }
    assert_eq!(
        a.reader.digest("users").unwrap(),
        b.reader.digest("users").unwrap()
    );

    // Exchanging again records nothing more.
    ship(&a, &mut b);
    ship(&b, &mut a);
    assert_eq!((a.conflicts(), b.conflicts()), (2, 2));
}

#[test]
fn causal_overwrites_are_not_conflicts() {
    let mut a = Store::new("r-a");
    let mut b = Store::new("r-b");
    let mut c = Store::new("r-c");
    a.create(&simple_def("users", &["r-a", "r-b", "r-c"]));
    ship(&a, &mut b);
    ship(&a, &mut c);

    let v1 = a.put("users", item("k", "1"));
    ship(&a, &mut b);
    // B saw v1 and overwrites it, even with a clock behind A's.
    b.clock.set(T0 - 1_000);
    let v2 = b.put("users", item("k", "2"));
    assert_eq!(v2.prev, Some(v1.version.clone()));
    assert!(v2.version > v1.version);
    // B's write carries what it replaced: A's v1, and itself.
    let v2_ctx = Context::empty().after(&v1.version).after(&v2.version);
    assert_eq!(b.get("users", "k").unwrap().context, v2_ctx);
    ship(&b, &mut a);
    let at_a = a.get("users", "k").unwrap();
    assert_eq!((&at_a.version, &at_a.context), (&v2.version, &v2_ctx));

    // C hears B's overwrite before A's original: the original loses, no conflict.
    ship(&b, &mut c);
    let head = c.log_head();
    let late = ship(&a, &mut c);
    assert_eq!((late.applied, late.conflicts), (0, 0));
    assert_eq!(c.log_head(), head);
    assert_eq!(c.get("users", "k").unwrap().version, v2.version);
    // And A's next write, having seen v2, is no conflict anywhere.
    a.clock.advance(10);
    let v3 = a.put("users", item("k", "3"));
    assert_eq!(v3.prev, Some(v2.version.clone()));
    assert_eq!(
        a.get("users", "k").unwrap().context.entries(),
        &[v3.version.clone(), v2.version.clone()]
    );
    ship(&a, &mut b);
    ship(&a, &mut c);
    for st in [&a, &b, &c] {
        assert_eq!(st.conflicts(), 0, "{}", st.region);
        assert_eq!(st.get("users", "k").unwrap().version, v3.version);
    }

    // Catalog entries relayed by B arrive at D a second time from A: a
    // duplicate by version, not a second application. (D holds no replica
    // of the table, so B's item entry is dropped there.)
    let mut d = Store::new("r-d");
    let via_b = ship(&b, &mut d);
    assert_eq!((via_b.applied, via_b.dropped), (1, 1));
    assert!(d.reader.table_def("users").unwrap().is_some());
    let head = d.log_head();
    let direct = d.apply("r-a", &a.outbox_after(0, 1));
    assert_eq!((direct.applied, direct.duplicates), (0, 1));
    assert_eq!(d.log_head(), head);
}

#[test]
fn drift_guard_refuses_far_future_versions_until_the_clock_catches_up() {
    let (mut a, mut b, _) = pair();
    b.clock.set(T0 + 10);
    a.clock.set(T0 + 5);
    let k1 = a.put("users", item("k1", "1"));
    // A second HLC on A whose clock is 1 µs beyond B's drift limit.
    let fast_clock = Arc::new(ManualClock::new(T0 + 10 + MAX_OFFSET + 1));
    let fast = Hlc::new(fast_clock, MAX_OFFSET);
    let k2 = a
        .write_with(&fast, &[put("users", item("k2", "1"))])
        .unwrap()
        .remove(0);
    assert_eq!(k2.version.hlc.physical, T0 + 10 + MAX_OFFSET + 1);
    // After it, an entry B would accept on its own.
    let k3 = a.put("users", item("k3", "1"));
    assert!(k3.version < k2.version);

    let head = b.log_head();
    let out = ship(&a, &mut b);
    assert_eq!(out.applied, 1);
    // B's clock reads T0 + 10: k2 is the offset and 1 µs ahead of it.
    assert_eq!(out.drift_ahead_micros, Some(MAX_OFFSET + 1));
    let reason = out.refused.expect("refused");
    assert!(reason.contains("drift"), "{reason}");
    assert_eq!(out.applied_through, k1.seq);
    assert_eq!(b.reader.inbound("r-a", TEST_LOG).unwrap(), k1.seq);
    assert!(b.get("users", "k1").is_some());
    assert_eq!(b.get("users", "k2"), None);
    assert_eq!(b.get("users", "k3"), None);
    assert_eq!(b.log_head(), head);
    // The refused timestamp was not adopted by B's clock.
    let local = b.put("users", item("local", "1"));
    assert!(
        local.version.hlc < k2.version.hlc,
        "{} adopted",
        local.version
    );

    // Retried later, once B's clock has caught up to within the offset.
    b.clock.advance(1);
    let out = ship(&a, &mut b);
    assert_eq!(out.drift_ahead_micros, None);
    assert_eq!(out.refused, None);
    assert_eq!(out.applied, 2);
    assert_eq!(out.applied_through, k3.seq);
    assert_eq!(b.get("users", "k2").unwrap().version, k2.version);
    assert_eq!(b.get("users", "k3").unwrap().version, k3.version);
    // Having observed k2, B's next version exceeds it.
    let after = b.put("users", item("local", "2"));
    assert!(after.version > k2.version);
}

#[test]
fn mutations_of_a_deleted_table_are_dropped_not_resurrected() {
    let (mut a, mut b, created) = pair();
    let k = a.put("users", item("k", "1"));
    // B deletes the table before A's write arrives.
    b.clock.advance(1_000);
    let gone = b
        .write_one(CatalogChange::DeleteTable("users".into()))
        .unwrap();
    assert!(gone.version > created.version);
    let head = b.log_head();
    let out = ship(&a, &mut b);
    assert_eq!(
        (out.applied, out.dropped, out.refused.as_deref()),
        (0, 1, None)
    );
    assert_eq!(out.applied_through, k.seq);
    assert_eq!(b.get("users", "k"), None);
    assert_eq!(b.reader.table_def("users").unwrap(), None);
    assert_eq!(b.log_head(), head);

    // The deletion reaches A and purges its copy.
    let out = ship(&b, &mut a);
    assert_eq!(out.applied, 1);
    assert_eq!(a.reader.table_def("users").unwrap(), None);
    assert!(a.reader.heads("users").unwrap().is_empty());
    assert!(matches!(
        a.write(&[put("users", item("k", "2"))]),
        Err(StoreError::TableNotFound(_))
    ));

    // A table deleted and recreated on B: A's old-incarnation write must not
    // land in the new table.
    let (mut a, mut b, _) = pair();
    let old = a.put("users", item("old", "1"));
    b.clock.advance(1_000);
    b.write_one(CatalogChange::DeleteTable("users".into()))
        .unwrap();
    let again = b.create(&simple_def("users", &["r-a", "r-b"]));
    let out = ship(&a, &mut b);
    assert_eq!((out.applied, out.dropped), (0, 1));
    assert_eq!(out.applied_through, old.seq);
    assert_eq!(b.get("users", "old"), None);
    assert_eq!(
        b.reader.table_def("users").unwrap().unwrap().1,
        again.version
    );
    // A takes the new incarnation, which purges the old write there too.
    ship(&b, &mut a);
    assert_eq!(
        a.reader.table_def("users").unwrap().unwrap().1,
        again.version
    );
    assert_eq!(a.get("users", "old"), None);
    assert_eq!(
        a.reader.digest("users").unwrap(),
        b.reader.digest("users").unwrap()
    );
}

/// Within one batch, a table deletion changes how the entries after it are
/// gated, even an entry for the very table version just seen before it.
#[test]
fn a_deletion_inside_a_batch_gates_the_entries_after_it() {
    let (mut a, mut b, _) = pair();
    a.put("users", item("k", "1"));
    a.write_one(CatalogChange::DeleteTable("users".into()))
        .unwrap();
    let mut entries = a.outbox();
    let put = entries
        .iter()
        .find(|e| e.table == "users")
        .cloned()
        .expect("the put is in the outbox");
    // The same write once more, after the deletion, as a peer might replay it.
    let mut replay = put;
    replay.seq = entries.last().unwrap().seq + 1;
    entries.push(replay);
    let out = b.apply("r-a", &entries);
    assert_eq!(out.refused, None);
    assert_eq!(out.dropped, 1, "{out:?}");
    assert_eq!(
        b.get("users", "k"),
        None,
        "nothing lands in a deleted table"
    );
    assert_eq!(b.reader.table_def("users").unwrap(), None);
}

#[test]
fn catalog_entries_create_tables_and_gate_items() {
    let mut a = Store::new("r-a");
    let mut b = Store::new("r-b");
    let def = simple_def("shared", &["r-a", "r-b"]);
    let created = a.create(&def);
    let k = a.put("shared", item("k", "1"));

    // Items before their table is known are refused, for a later retry.
    let items_only = a.outbox_after(created.seq, ALL);
    let out = b.apply("r-a", &items_only);
    assert_eq!(
        (out.applied, out.applied_through, out.drift_ahead_micros),
        (0, 0, None)
    );
    assert!(out.refused.is_some());
    assert_eq!(b.get("shared", "k"), None);
    assert_eq!(b.log_head(), 0);

    let out = ship(&a, &mut b);
    assert_eq!((out.applied, out.applied_through), (2, k.seq));
    assert_eq!(
        b.reader.table_def("shared").unwrap(),
        Some((def, created.version))
    );
    assert_eq!(b.reader.list_tables("", 10).unwrap(), vec!["shared"]);
    assert_eq!(b.get("shared", "k").unwrap().version, k.version);
    let w = b.put("shared", item("k", "b"));
    assert_eq!(w.version.origin, "r-b");
    assert_eq!(w.prev, Some(k.version));

    // A table without a replica on B: known there, its items dropped.
    a.create(&simple_def("a-only", &["r-a"]));
    a.put("a-only", item("x", "1"));
    let out = ship(&a, &mut b);
    assert_eq!((out.applied, out.dropped), (1, 1));
    assert!(b.reader.table_def("a-only").unwrap().is_some());
    assert!(b.reader.heads("a-only").unwrap().is_empty());
    assert!(matches!(
        b.write(&[put("a-only", item("y", "1"))]),
        Err(StoreError::NotReplica { .. })
    ));
}

#[test]
fn an_invalid_remote_entry_fails_the_batch_as_a_whole() {
    let (mut a, mut b, _) = pair();
    a.put("users", item("k1", "1"));
    let k2 = a.put("users", item("k2", "1"));
    let mut batch = a.outbox();
    // Entry k2 carries an image whose key is not the key it is filed under.
    let last = batch.last_mut().unwrap();
    assert_eq!(last.seq, k2.seq);
    last.image = Some(encode_item(&item("other", "1")));
    let head = b.log_head();
    let now = b.now();
    let mut g = b.writer.group().unwrap();
    let r = g.apply(
        &b.hlc,
        now,
        &PeerBatch::new("r-a", TEST_LOG, batch.to_vec()),
    );
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    // The group survives it, and commits the rest of its work.
    g.write(&b.hlc, now, &[put("users", item("local", "1"))])
        .unwrap();
    g.commit().unwrap();
    assert_eq!(b.get("users", "k1"), None);
    assert_eq!(b.get("users", "other"), None);
    assert_eq!(b.reader.inbound("r-a", TEST_LOG).unwrap(), 1);
    assert_eq!(b.log_head(), head + 1);
    assert!(b.get("users", "local").is_some());
}

/// The store decodes what it applies: an entry whose version, context or
/// table version does not decode fails the batch with an error naming the
/// field, and nothing of the batch is applied.
#[test]
fn a_remote_entry_that_does_not_decode_is_refused_by_field() {
    let (mut a, mut b, _) = pair();
    a.put("users", item("k1", "1"));
    let k2 = a.put("users", item("k2", "1"));
    let good = a.outbox_after(k2.seq - 2, ALL);
    assert_eq!(good.len(), 2);
    type Spoil = fn(&mut Mutation);
    let cases: [(&str, Spoil); 3] = [
        ("version", |m| m.version.truncate(5)),
        ("context", |m| m.context.push(200)),
        ("table_version", |m| m.table_version = Some(vec![1, 2])),
    ];
    for (field, spoil) in cases {
        let mut batch = good.clone();
        spoil(batch.last_mut().unwrap());
        let now = b.now();
        let mut g = b.writer.group().unwrap();
        match g.apply(
            &b.hlc,
            now,
            &PeerBatch::new("r-a", TEST_LOG, batch.to_vec()),
        ) {
            Err(StoreError::Invalid(e)) => {
                let e = e.to_string();
                assert!(e.starts_with(&format!("{field}: entry {}", k2.seq)), "{e}");
            }
            other => panic!("{field}: {other:?}"),
        }
        g.commit().unwrap();
        assert_eq!(b.get("users", "k1"), None, "{field}");
        assert_eq!(b.reader.inbound("r-a", TEST_LOG).unwrap(), 1, "{field}");
    }
    assert_eq!(b.apply("r-a", &good).applied, 2);
}

#[test]
fn a_group_hands_out_only_what_it_kept_in_the_log() {
    let mut a = Store::new("r-a");
    let mut b = Store::new("r-b");
    b.create(&simple_def("local", &["r-b"]));
    a.create(&simple_def("users", &["r-a", "r-b"]));
    a.put("users", item("k1", "1"));
    // The catalog entry, then an item whose image has another key.
    let mut bad = a.outbox();
    assert_eq!(bad.len(), 2);
    bad[1].image = Some(encode_item(&item("other", "1")));
    let before = b.log_head();
    let now = b.now();
    let mut g = b.writer.group().unwrap();
    g.write(&b.hlc, now, &[put("local", item("l1", "1"))])
        .unwrap();
    // Refused as a whole: the relayed catalog entry it logged is undone.
    let r = g.apply(&b.hlc, now, &PeerBatch::new("r-a", TEST_LOG, bad.to_vec()));
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    let out = g
        .apply(
            &b.hlc,
            now,
            &PeerBatch::new("r-a", TEST_LOG, bad[..1].to_vec()),
        )
        .unwrap();
    assert!(out.relayed);
    g.write(&b.hlc, now, &[put("local", item("l2", "1"))])
        .unwrap();
    let logged = g.commit().unwrap();
    let tables: Vec<&str> = logged.iter().map(|e| e.table.as_str()).collect();
    assert_eq!(tables, ["local", CATALOG_TABLE, "local"]);
    let seqs: Vec<u64> = logged.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [before + 1, before + 2, before + 3]);
    assert_eq!(logged, b.reader.log_after(before, ALL, usize::MAX).unwrap());
    // A group that does not commit hands out nothing and logs nothing.
    let mut g = b.writer.group().unwrap();
    g.write(&b.hlc, now, &[put("local", item("l3", "1"))])
        .unwrap();
    drop(g);
    assert_eq!(b.log_head(), before + 3);
}

/// The case a single `prev` could not see (c1's `prev` is b1 > a1, so c1
/// looked as if it had seen a1): a1 is acknowledged on A, then overwritten
/// everywhere by c1, whose writer never saw it. c1's context names b1 and
/// c1 but nothing of A, so A records a1 as lost when c1 replaces it.
#[test]
fn every_lost_update_is_recorded_somewhere() {
    let mut a = Store::new("r-a");
    let mut b = Store::new("r-b");
    let mut c = Store::new("r-c");
    a.create(&simple_def("users", &["r-a", "r-b", "r-c"]));
    ship(&a, &mut b);
    ship(&a, &mut c);
    a.clock.set(T0 + 100);
    b.clock.set(T0 + 200);
    c.clock.set(T0 + 300);
    let a1 = a.put("users", item("k", "a1")); // acknowledged to A's client
    b.put("users", item("k", "b1")); // concurrent with a1, greater
    ship(&b, &mut c);
    let c1 = c.put("users", item("k", "c1")); // saw b1, never a1
    ship(&c, &mut a);
    ship(&b, &mut a);
    ship(&c, &mut b);
    ship(&a, &mut b);
    ship(&a, &mut c);
    for st in [&a, &b, &c] {
        assert_eq!(st.get("users", "k").unwrap().version, c1.version);
    }
    let recorded = [&a, &b, &c].iter().any(|st| {
        st.reader
            .conflicts("users", ALL)
            .unwrap()
            .iter()
            .any(|x| x.loser == a1.version)
    });
    assert!(recorded, "a1 was lost, and no region recorded it");
    // At its origin, at least: A saw c1 replace its own write.
    let at_a = a.reader.conflicts("users", ALL).unwrap();
    assert_eq!(
        at_a.iter()
            .map(|x| (&x.winner, &x.loser))
            .collect::<Vec<_>>(),
        vec![(&c1.version, &a1.version)]
    );
}

// ---- 6. convergence -----------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Put {
        at: usize,
        key: u8,
        val: u8,
    },
    Delete {
        at: usize,
        key: u8,
    },
    /// Ship up to `limit` entries of `from`'s log to `to`, starting `back`
    /// entries before what `to` already has (redelivery).
    Ship {
        from: usize,
        to: usize,
        back: u64,
        limit: usize,
    },
    /// Move a store's clock, possibly backwards.
    Clock {
        at: usize,
        delta: i64,
    },
}

fn step_list(n: usize, keys: u8) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0..n, 0..keys, any::<u8>()).prop_map(|(at, key, val)| Step::Put { at, key, val }),
        2 => (0..n, 0..keys).prop_map(|(at, key)| Step::Delete { at, key }),
        3 => (0..n, 0..n, 0..3u64, 1..6usize)
            .prop_map(|(from, to, back, limit)| Step::Ship { from, to, back, limit }),
        2 => (0..n, -300i64..300).prop_map(|(at, delta)| Step::Clock { at, delta }),
    ];
    proptest::collection::vec(step, 1..50)
}

fn ship_some(stores: &mut [Store], from: usize, to: usize, back: u64, limit: usize) {
    if from == to {
        return;
    }
    let had = stores[to]
        .reader
        .inbound(&stores[from].region, TEST_LOG)
        .unwrap();
    let entries = stores[from].outbox_after(had.saturating_sub(back), limit);
    let peer = stores[from].region.clone();
    let out = stores[to].apply(&peer, &entries);
    assert_eq!(out.refused, None);
    let fresh = entries.iter().filter(|e| e.seq > had).count();
    assert!(out.duplicates >= entries.len() - fresh);
    assert!(out.applied <= fresh);
    let through = entries.last().map_or(had, |e| e.seq.max(had));
    assert_eq!(out.applied_through, through);
    assert_eq!(stores[to].reader.inbound(&peer, TEST_LOG).unwrap(), through);
}

fn key_id(k: u8) -> String {
    format!("k{k}")
}

/// One acknowledged write: the ground truth the checks compare against.
#[derive(Clone, Debug)]
struct Written {
    key: u8,
    version: Version,
    /// The head its writer replaced: what the writer had seen of the key.
    prev: Option<Version>,
    image: Option<Item>,
}

/// Runs `steps` on `n` stores sharing table `conv`, then exchanges
/// everything. Returns the stores and every acknowledged write, in order.
fn play(n: usize, steps: Vec<Step>) -> (Vec<Store>, Vec<Written>) {
    let regions = ["r-a", "r-b", "r-c"];
    let mut stores: Vec<Store> = regions[..n]
        .iter()
        .map(|r| Store::with_durability(r, Durability::Normal))
        .collect();
    stores[0].create(&simple_def("conv", &regions[..n]));
    for i in 1..n {
        ship_some(&mut stores, 0, i, 0, ALL);
    }
    let mut written = Vec::new();
    for step in steps {
        match step {
            Step::Put { at, key, val } => {
                let it = item(&key_id(key), &val.to_string());
                let w = stores[at].put("conv", it.clone());
                written.push(Written {
                    key,
                    version: w.version,
                    prev: w.prev,
                    image: Some(it),
                });
            }
            Step::Delete { at, key } => {
                let w = stores[at].delete("conv", key_item(&key_id(key)));
                written.push(Written {
                    key,
                    version: w.version,
                    prev: w.prev,
                    image: None,
                });
            }
            Step::Ship {
                from,
                to,
                back,
                limit,
            } => ship_some(&mut stores, from, to, back, limit),
            Step::Clock { at, delta } => {
                let c = &stores[at].clock;
                c.set(c.now_micros().saturating_add_signed(delta));
            }
        }
    }
    // Each store ships only its own writes, so one round delivers everything.
    for from in 0..n {
        for to in 0..n {
            ship_some(&mut stores, from, to, 0, ALL);
        }
    }
    (stores, written)
}

fn run_convergence(n: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (stores, all) = play(n, steps);
    // Every write ever acknowledged, by key: the oracle for LWW.
    let mut written: HashMap<u8, Vec<(Version, Option<Item>)>> = HashMap::new();
    for w in all {
        written.entry(w.key).or_default().push((w.version, w.image));
    }

    let digest0 = stores[0].reader.digest("conv").unwrap();
    let heads0 = stores[0].reader.heads("conv").unwrap();
    for st in &stores[1..] {
        prop_assert_eq!(
            &st.reader.digest("conv").unwrap(),
            &digest0,
            "{}",
            st.region
        );
        prop_assert_eq!(&st.reader.heads("conv").unwrap(), &heads0, "{}", st.region);
    }
    // Each key holds the greatest version ever written to it.
    prop_assert_eq!(heads0.len(), written.len());
    for (k, writes) in &written {
        let (v, image) = writes.iter().max_by(|x, y| x.0.cmp(&y.0)).unwrap();
        let head = heads0.iter().find(|h| h.key == key(&key_id(*k))).unwrap();
        prop_assert_eq!(&head.version, v);
        prop_assert_eq!(&head.image, image);
    }
    prop_assert_eq!(digest0.live + digest0.tombstones, written.len() as u64);
    // Every recorded conflict names the greater version as its winner.
    for st in &stores {
        for c in st.reader.conflicts("conv", ALL).unwrap() {
            prop_assert!(c.winner > c.loser);
            prop_assert_eq!(&c.detected_by, &st.region);
        }
    }
    Ok(())
}

/// `hist(w) = {w} ∪ hist(prev(w))`: exactly the writes `w`'s writer had seen.
fn hist(prevs: &BTreeMap<Version, Option<Version>>, w: &Version) -> BTreeSet<Version> {
    let mut out = BTreeSet::new();
    let mut at = Some(w.clone());
    while let Some(v) = at {
        at = prevs.get(&v).cloned().flatten();
        out.insert(v);
    }
    out
}

/// Conflict detection, checked against the exact history:
/// - complete: every lost update (a write that is not the final head of
///   its key, and that no write replaced while holding it) is recorded as a
///   loser, at least by its origin region;
/// - sound: every recorded pair is two writes to that key neither of which
///   had seen the other, with their images;
/// - every logged context is the per-origin maximum of its write's history.
fn run_completeness(n: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let (stores, written) = play(n, steps);
    let prevs: BTreeMap<Version, Option<Version>> = written
        .iter()
        .map(|w| (w.version.clone(), w.prev.clone()))
        .collect();
    prop_assert_eq!(prevs.len(), written.len(), "versions are unique");
    let by_version: BTreeMap<&Version, &Written> =
        written.iter().map(|w| (&w.version, w)).collect();
    let replaced: BTreeSet<&Version> = written.iter().filter_map(|w| w.prev.as_ref()).collect();
    let heads: HashMap<Vec<u8>, Version> = stores[0]
        .reader
        .heads("conv")
        .unwrap()
        .into_iter()
        .map(|h| (h.key.partition, h.version))
        .collect();
    let conflicts: Vec<_> = stores
        .iter()
        .map(|st| st.reader.conflicts("", ALL).unwrap())
        .collect();

    for w in &written {
        let final_head = &heads[key_id(w.key).as_bytes()];
        if *final_head == w.version || replaced.contains(&w.version) {
            continue;
        }
        let origin = stores
            .iter()
            .position(|st| st.region == w.version.origin)
            .unwrap();
        prop_assert!(
            conflicts[origin]
                .iter()
                .any(|c| c.loser == w.version && c.key == key(&key_id(w.key))),
            "lost update {} on {} (final head {}) not recorded at its origin; \
             recorded: {:?}",
            w.version,
            key_id(w.key),
            final_head,
            conflicts
                .iter()
                .flatten()
                .map(|c| format!("{}>{}@{}", c.winner, c.loser, c.detected_by))
                .collect::<Vec<_>>()
        );
    }

    for (st, rows) in stores.iter().zip(&conflicts) {
        for c in rows {
            prop_assert_eq!(&c.table, "conv");
            prop_assert_eq!(&c.detected_by, &st.region);
            let (w, l) = (by_version[&c.winner], by_version[&c.loser]);
            prop_assert_eq!(&key(&key_id(w.key)), &c.key);
            prop_assert_eq!(&key(&key_id(l.key)), &c.key);
            prop_assert_eq!(&c.winner_image, &w.image);
            prop_assert_eq!(&c.loser_image, &l.image);
            prop_assert!(c.winner > c.loser);
            prop_assert!(
                !hist(&prevs, &c.winner).contains(&c.loser),
                "{} had seen {}, yet {} recorded a conflict",
                c.winner,
                c.loser,
                st.region
            );
            prop_assert!(!hist(&prevs, &c.loser).contains(&c.winner));
        }
    }

    for st in &stores {
        for e in st.reader.log_after(0, ALL, usize::MAX).unwrap() {
            if e.table != "conv" {
                continue;
            }
            let v = Version::from_bytes(&e.version).unwrap();
            let mut want: BTreeMap<Vec<u8>, Version> = BTreeMap::new();
            for h in hist(&prevs, &v) {
                let slot = want
                    .entry(h.origin.as_bytes().to_vec())
                    .or_insert(h.clone());
                if *slot < h {
                    *slot = h;
                }
            }
            let got = Context::from_bytes(&e.context).unwrap();
            prop_assert_eq!(got.entries(), &want.into_values().collect::<Vec<_>>()[..]);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge(
        (n, steps) in (2usize..=3).prop_flat_map(|n| (Just(n), step_list(n, 4)))
    ) {
        run_convergence(n, steps)?;
    }

    /// Few keys, so writes collide and lost updates are common.
    #[test]
    fn every_lost_update_is_recorded_and_every_conflict_is_real(
        (n, steps) in (2usize..=3, 2u8..=3)
            .prop_flat_map(|(n, keys)| (Just(n), step_list(n, keys)))
    ) {
        run_completeness(n, steps)?;
    }
}

// ---- 7. query and scan --------------------------------------------------------------

fn sitem(p: &str, s: AttrValue) -> Item {
    Item::from([
        ("p".to_string(), AttrValue::S(p.into())),
        ("s".to_string(), s),
    ])
}

fn sort_values(rows: &[StoredRow]) -> Vec<AttrValue> {
    rows.iter()
        .map(|r| r.image.as_ref().unwrap()["s"].clone())
        .collect()
}

fn nums(v: &[&str]) -> Vec<AttrValue> {
    v.iter().map(|x| AttrValue::N(num(x))).collect()
}

#[test]
fn query_orders_numbers_numerically_with_ranges_and_pages() {
    let mut st = Store::new("r-a");
    st.create(&sorted_def("nums", KeyType::N, &["r-a"]));
    let ordered = [
        "-100", "-10", "-1.5", "-0.55", "-0.5", "0", "0.001", "2", "10", "99.9", "100",
    ];
    // Inserted out of order, next to another partition and a deleted key.
    let mut shuffled = ordered.to_vec();
    shuffled.reverse();
    shuffled.swap(0, 5);
    shuffled.swap(2, 8);
    for x in shuffled {
        st.put("nums", sitem("p1", AttrValue::N(num(x))));
    }
    st.put("nums", sitem("p0", AttrValue::N(num("5"))));
    st.put("nums", sitem("p2", AttrValue::N(num("5"))));
    st.put("nums", sitem("p1", AttrValue::N(num("7"))));
    st.write_one(del(
        "nums",
        Item::from([
            ("p".to_string(), s("p1")),
            ("s".to_string(), AttrValue::N(num("7"))),
        ]),
    ))
    .unwrap();
    let nk = |x: &str| num(x).key_bytes();
    let q = |range: &SortRange, reverse: bool, after: Option<&[u8]>, limit: usize| {
        st.reader
            .query("nums", b"p1", range, reverse, after, limit)
            .unwrap()
    };

    let all = q(&SortRange::all(), false, None, 100);
    assert_eq!(sort_values(&all), nums(&ordered));
    assert!(all.iter().all(|r| r.key.partition == b"p1"));
    let mut rev = ordered.to_vec();
    rev.reverse();
    assert_eq!(
        sort_values(&q(&SortRange::all(), true, None, 100)),
        nums(&rev)
    );
    assert_eq!(
        sort_values(&q(&SortRange::all(), false, None, 3)),
        nums(&ordered[..3])
    );

    let range = |lower, upper| SortRange { lower, upper };
    let r = range(Bound::Included(nk("-1.5")), Bound::Excluded(nk("10")));
    assert_eq!(
        sort_values(&q(&r, false, None, 100)),
        nums(&["-1.5", "-0.55", "-0.5", "0", "0.001", "2"])
    );
    assert_eq!(sort_values(&q(&r, true, None, 2)), nums(&["2", "0.001"]));
    let r = range(Bound::Excluded(nk("0")), Bound::Included(nk("100")));
    assert_eq!(
        sort_values(&q(&r, false, None, 100)),
        nums(&["0.001", "2", "10", "99.9", "100"])
    );
    let r = range(Bound::Unbounded, Bound::Excluded(nk("0")));
    assert_eq!(sort_values(&q(&r, false, None, 100)), nums(&ordered[..5]));
    let r = range(Bound::Included(nk("3")), Bound::Included(nk("9")));
    assert!(q(&r, false, None, 100).is_empty());

    // Pagination, both directions: pages join up to the whole, no repeats.
    for reverse in [false, true] {
        let mut pages = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = q(&SortRange::all(), reverse, after.as_deref(), 3);
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 3);
            after = Some(page.last().unwrap().key.sort.clone());
            pages.extend(page);
        }
        let want: Vec<&str> = if reverse {
            rev.clone()
        } else {
            ordered.to_vec()
        };
        assert_eq!(sort_values(&pages), nums(&want), "reverse={reverse}");
    }
    // `after` combines with a range.
    let r = range(Bound::Included(nk("-10")), Bound::Included(nk("10")));
    let after = nk("0");
    assert_eq!(
        sort_values(&q(&r, false, Some(&after), 100)),
        nums(&["0.001", "2", "10"])
    );
    assert_eq!(
        sort_values(&q(&r, true, Some(&after), 100)),
        nums(&["-0.5", "-0.55", "-1.5", "-10"])
    );
}

#[test]
fn query_prefixes_on_strings_and_binary() {
    let mut st = Store::new("r-a");
    st.create(&sorted_def("strs", KeyType::S, &["r-a"]));
    st.create(&sorted_def("bins", KeyType::B, &["r-a"]));
    for x in ["b", "abd", "a", "ac", "abc", "ab", "aa\u{ff}"] {
        st.put("strs", sitem("p", s(x)));
    }
    let sq = |prefix: &str| {
        sort_values(
            &st.reader
                .query(
                    "strs",
                    b"p",
                    &SortRange::prefix(prefix.as_bytes()),
                    false,
                    None,
                    100,
                )
                .unwrap(),
        )
    };
    let strs = |v: &[&str]| v.iter().map(|x| s(x)).collect::<Vec<_>>();
    assert_eq!(sq("ab"), strs(&["ab", "abc", "abd"]));
    assert_eq!(sq("a"), strs(&["a", "aa\u{ff}", "ab", "abc", "abd", "ac"]));
    assert_eq!(sq("abc"), strs(&["abc"]));
    assert_eq!(sq("abz"), strs(&[]));
    assert_eq!(
        sq(""),
        strs(&["a", "aa\u{ff}", "ab", "abc", "abd", "ac", "b"])
    );

    let blobs: Vec<Vec<u8>> = vec![
        vec![0x01],
        vec![0x01, 0xFF],
        vec![0x01, 0xFF, 0x00],
        vec![0x01, 0xFF, 0xFF],
        vec![0x02],
        vec![0x02, 0x00],
        vec![0xFE, 0xFF],
        vec![0xFF],
        vec![0xFF, 0x01],
        vec![0xFF, 0xFF],
        vec![0xFF, 0xFF, 0xFF],
    ];
    for b in blobs.iter().rev() {
        st.put("bins", sitem("p", AttrValue::B(b.clone())));
    }
    let bq = |prefix: &[u8], reverse: bool| -> Vec<Vec<u8>> {
        st.reader
            .query("bins", b"p", &SortRange::prefix(prefix), reverse, None, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.key.sort)
            .collect()
    };
    assert_eq!(bq(&[], false), blobs);
    assert_eq!(bq(&[0x01, 0xFF], false), blobs[1..4].to_vec());
    assert_eq!(bq(&[0x01], false), blobs[..4].to_vec());
    assert_eq!(bq(&[0xFE], false), vec![vec![0xFE, 0xFF]]);
    assert_eq!(bq(&[0xFF], false), blobs[7..].to_vec());
    assert_eq!(bq(&[0xFF, 0xFF], false), blobs[9..].to_vec());
    let mut rev = blobs[7..].to_vec();
    rev.reverse();
    assert_eq!(bq(&[0xFF], true), rev);
    assert_eq!(bq(&[0x03], false), Vec::<Vec<u8>>::new());
}

#[test]
fn scan_pages_through_every_live_item_in_key_order() {
    let mut st = Store::new("r-a");
    st.create(&sorted_def("grid", KeyType::N, &["r-a"]));
    st.create(&sorted_def("grid2", KeyType::N, &["r-a"]));
    let mut want = Vec::new();
    for p in ["b", "a", "c", "ab"] {
        for x in ["3", "-1", "20"] {
            st.put("grid", sitem(p, AttrValue::N(num(x))));
        }
    }
    st.put("grid2", sitem("a", AttrValue::N(num("0"))));
    st.write_one(del(
        "grid",
        Item::from([
            ("p".to_string(), s("ab")),
            ("s".to_string(), AttrValue::N(num("3"))),
        ]),
    ))
    .unwrap();
    for p in ["a", "ab", "b", "c"] {
        for x in ["-1", "3", "20"] {
            if (p, x) != ("ab", "3") {
                want.push(EncodedKey {
                    partition: p.as_bytes().to_vec(),
                    sort: num(x).key_bytes(),
                });
            }
        }
    }
    let all: Vec<EncodedKey> = st
        .reader
        .scan("grid", None, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(all, want);
    for limit in [1, 2, 4, 11, 12] {
        let mut got = Vec::new();
        let mut after: Option<EncodedKey> = None;
        loop {
            let page = st.reader.scan("grid", after.as_ref(), limit).unwrap();
            assert!(page.len() <= limit);
            if page.is_empty() {
                break;
            }
            after = Some(page.last().unwrap().key.clone());
            got.extend(page.into_iter().map(|r| r.key));
        }
        assert_eq!(got, want, "limit {limit}");
    }
    assert_eq!(st.reader.item_count("grid").unwrap(), 11);
    assert_eq!(st.reader.heads("grid").unwrap().len(), 12);
}

// ---- purging tombstones --------------------------------------------------------

#[test]
fn purged_tombstones_go_and_the_writes_they_deleted_stay_out() {
    let (mut a, mut b, _) = pair();
    a.put("users", item("old", "1"));
    a.put("users", item("kept", "1"));
    let old_put = a.outbox();
    a.delete("users", key_item("old"));
    ship(&a, &mut b);
    assert_eq!(b.reader.tombstone_count().unwrap(), 1);

    // Everything so far is held everywhere: purge below now.
    a.clock.advance(10);
    let h = a.hlc.now().unwrap();
    let mut g = b.writer.group().unwrap();
    assert_eq!(g.purge_tombstones(h, 100).unwrap(), 1);
    g.commit().unwrap();
    assert_eq!(b.reader.tombstone_count().unwrap(), 0);
    assert_eq!(b.reader.purge_horizon().unwrap(), h);
    assert!(b.get("users", "old").is_none());
    // The table's own catalog entry is never purged.
    assert!(b.reader.table_def("users").unwrap().is_some());

    // The deleted put arrives again, from a stale peer by repair: dropped.
    let now = b.now();
    let mut g = b.writer.group().unwrap();
    let out = g.repair(&b.hlc, now, &old_put).unwrap();
    g.commit().unwrap();
    assert_eq!(out.superseded, 1, "{out:?}");
    assert!(b.get("users", "old").is_none());
    assert!(b.get("users", "kept").is_some());
    // A write above the horizon for the same key is a new item.
    a.clock.advance(10);
    a.put("users", item("old", "2"));
    ship(&a, &mut b);
    assert_eq!(b.get("users", "old").map(|r| r.image.is_some()), Some(true));
    // The horizon never moves back.
    let mut g = b.writer.group().unwrap();
    g.purge_tombstones(meridian_core::Timestamp::new(1, 0), 100)
        .unwrap();
    g.commit().unwrap();
    assert_eq!(b.reader.purge_horizon().unwrap(), h);
}

#[test]
fn heads_a_peer_purged_are_dropped_only_when_still_at_or_below_its_horizon() {
    let (mut a, _, _) = pair();
    let stale = a.put("users", item("stale", "1"));
    a.put("users", item("gone", "1"));
    let gone = a.delete("users", key_item("gone"));
    a.clock.advance(10);
    let h = a.hlc.now().unwrap();
    a.clock.advance(10);
    let newer = a.put("users", item("newer", "1"));
    let heads = |r: &WriteResult, id: &str| (key(id), r.version.to_bytes());
    let mut g = a.writer.group().unwrap();
    let n = g
        .drop_superseded(
            "users",
            &[
                heads(&stale, "stale"),
                heads(&newer, "newer"),
                heads(&gone, "gone"),
            ],
            h,
        )
        .unwrap();
    g.commit().unwrap();
    assert_eq!(n, 1);
    assert!(a.get("users", "stale").is_none());
    assert!(a.get("users", "newer").is_some());
    // A tombstone stays for this region's own purge, so that a write over
    // it still sees it.
    assert!(a.get("users", "gone").is_some_and(|r| r.image.is_none()));
    // Catalog entries are never dropped this way.
    let mut g = a.writer.group().unwrap();
    assert_eq!(
        g.drop_superseded(CATALOG_TABLE, &[heads(&stale, "users")], h)
            .unwrap(),
        0
    );
    g.commit().unwrap();
}
