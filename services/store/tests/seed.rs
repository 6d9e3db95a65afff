//! Seeding an empty store from a peer's snapshot: what is taken over, what
//! is dropped as the peer's own, and that a snapshot failing any check is
//! refused with nothing installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use meridian_core::hlc::ManualClock;
use meridian_core::{
    AttrValue, EncodedKey, Hlc, Item, KeyAttr, KeySchema, KeyType, PhysicalClock, TableDef,
};
use meridian_store::{CatalogChange, Durability, ItemWrite, Ops, Reader, Writer, adopt, db_path};
use rusqlite::Connection;
use tempfile::TempDir;

const T0: u64 = 1_700_000_000_000_000;
const PEER: &str = "r-a";
const ME: &str = "r-b";

fn def(name: &str, replicas: &[&str]) -> TableDef {
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

fn put(table: &str, k: u32) -> ItemWrite {
    ItemWrite::Put {
        table: table.into(),
        item: Item::from([
            ("id".to_string(), AttrValue::S(format!("k{k}"))),
            ("v".to_string(), AttrValue::S(format!("v{k}"))),
        ]),
        condition: None,
    }
}

fn key(k: u32) -> EncodedKey {
    def("shared", &[PEER])
        .key_schema
        .key_from_attrs(&Item::from([(
            "id".to_string(),
            AttrValue::S(format!("k{k}")),
        )]))
        .unwrap()
}

/// The peer: a store holding `shared` (replicated by both regions) and
/// `theirs` (only by the peer), with a log, a conflict-free history, and a
/// record of this region's old log.
struct Peer {
    dir: TempDir,
    writer: Writer,
    reader: Reader,
    hlc: Hlc,
    clock: Arc<ManualClock>,
}

impl Peer {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let writer = meridian_store::open(dir.path(), PEER, Durability::Simulated).unwrap();
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let hlc = Hlc::new(clock.clone() as Arc<dyn PhysicalClock>, 500_000);
        let mut p = Peer {
            dir,
            writer,
            reader,
            hlc,
            clock,
        };
        p.write(&[CatalogChange::CreateTable(def("shared", &[PEER, ME]))]);
        p.write(&[CatalogChange::CreateTable(def("theirs", &[PEER]))]);
        for k in 0..50 {
            p.write(&[put("shared", k), put("theirs", k)]);
        }
        p.write(&[ItemWrite::Delete {
            table: "shared".into(),
            key: Item::from([("id".to_string(), AttrValue::S("k7".into()))]),
            condition: None,
        }]);
        // The peer's record of this region's log, before it was lost.
        let mut g = p.writer.group().unwrap();
        g.set_inbound(ME, "old-log-of-me", 41).unwrap();
        // A setting of the peer's own replica, which is not this region's.
        g.change_replica_setting("shared", "policy/table", T0, |_, _| {
            Ok::<_, ()>(Some("1\n{}".into()))
        })
        .unwrap()
        .unwrap();
        g.commit().unwrap();
        p
    }

    fn write<'r>(&mut self, ops: impl Into<Ops<'r>>) {
        self.clock.advance(10);
        let mut g = self.writer.group().unwrap();
        g.write(&self.hlc, T0, ops).unwrap();
        g.commit().unwrap();
    }

    fn snapshot(&self, to: &Path) -> PathBuf {
        let file = to.join("snapshot.db");
        let bytes = self.reader.snapshot_to(&file).unwrap();
        assert_eq!(bytes, std::fs::metadata(&file).unwrap().len());
        file
    }
}

/// The drift guard's bound far enough ahead for every version written.
const MAX: u64 = T0 + 3_600_000_000;

#[test]
fn a_snapshot_becomes_this_regions_store_without_what_was_the_peers_own() {
    let peer = Peer::new();
    let scratch = tempfile::tempdir().unwrap();
    let file = peer.snapshot(scratch.path());
    let mine = tempfile::tempdir().unwrap();
    let seeded = adopt(&file, mine.path(), ME, PEER, MAX).unwrap();
    assert_eq!(seeded.dropped_tables, vec!["theirs".to_string()]);
    let (peer_log, peer_head) = (
        peer.reader.log_id().unwrap(),
        peer.reader.log_head().unwrap(),
    );
    assert_eq!(seeded.peer_log, Some((peer_log.clone(), peer_head)));
    assert!(!file.exists(), "the checked file is moved into place");

    let writer = meridian_store::open(mine.path(), ME, Durability::Simulated).unwrap();
    let reader = meridian_store::open_reader(mine.path()).unwrap();
    // The replicated table is the peer's, head for head.
    assert_eq!(
        reader.digest("shared").unwrap(),
        peer.reader.digest("shared").unwrap()
    );
    assert!(reader.verify_digest("shared").unwrap().is_empty());
    assert_eq!(reader.get("shared", &key(3)).unwrap().unwrap().image, {
        peer.reader.get("shared", &key(3)).unwrap().unwrap().image
    });
    assert!(
        reader
            .get("shared", &key(7))
            .unwrap()
            .unwrap()
            .image
            .is_none()
    );
    // The table this region holds no replica of brought no items.
    assert!(reader.get("theirs", &key(3)).unwrap().is_none());
    assert_eq!(reader.digest("theirs").unwrap().live, 0);
    // The peer's log is its own; this region's starts empty, in a new epoch.
    assert_eq!(reader.log_head().unwrap(), 0);
    assert_ne!(reader.log_id().unwrap(), peer_log);
    // The peer's log is applied through its head; this region's old log is
    // forgotten.
    assert_eq!(
        reader.inbound_record(PEER).unwrap(),
        Some((peer_log, peer_head))
    );
    assert_eq!(reader.inbound_record(ME).unwrap(), None);
    // The peer's replica settings are the peer's: none came along.
    assert!(
        peer.reader
            .replica_setting("shared", "policy/table")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        reader.replica_setting("shared", "policy/table").unwrap(),
        None
    );
    drop((writer, reader));
}

/// Makes a snapshot, lets `spoil` change it, and requires `adopt` to refuse
/// it with a message containing `why`, installing nothing.
fn refused(spoil: impl FnOnce(&Connection), why: &str) {
    let peer = Peer::new();
    let scratch = tempfile::tempdir().unwrap();
    let file = peer.snapshot(scratch.path());
    spoil(&Connection::open(&file).unwrap());
    let mine = tempfile::tempdir().unwrap();
    let err = adopt(&file, mine.path(), ME, PEER, MAX)
        .unwrap_err()
        .to_string();
    assert!(err.contains(why), "{err}");
    assert!(!db_path(mine.path()).exists());
}

#[test]
fn a_snapshot_whose_digest_lies_is_refused() {
    refused(
        |c| {
            c.execute(
                "UPDATE digest SET leaves = zeroblob(length(leaves)) WHERE tbl = 'shared'",
                [],
            )
            .unwrap();
        },
        "stored digest differs",
    );
}

#[test]
fn a_snapshot_with_an_object_of_the_peers_making_is_refused() {
    refused(
        |c| {
            c.execute_batch(
                "CREATE TRIGGER wipe AFTER INSERT ON items BEGIN DELETE FROM items; END;",
            )
            .unwrap()
        },
        "schema is not this store's",
    );
}

#[test]
fn a_snapshot_with_an_undecodable_item_is_refused() {
    refused(
        |c| {
            c.execute(
                "UPDATE items SET image = x'01ff' WHERE tbl = 'shared' AND image IS NOT NULL AND pk = (SELECT MIN(pk) FROM items WHERE tbl = 'shared' AND image IS NOT NULL)",
                [],
            )
            .unwrap();
        },
        "a head's item",
    );
}

#[test]
fn a_snapshot_of_another_region_or_past_the_drift_guard_is_refused() {
    let peer = Peer::new();
    let scratch = tempfile::tempdir().unwrap();
    let mine = tempfile::tempdir().unwrap();
    let file = peer.snapshot(scratch.path());
    let err = adopt(&file, mine.path(), ME, "r-c", MAX)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not of r-c"), "{err}");
    let err = adopt(&file, mine.path(), ME, PEER, T0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("drift guard"), "{err}");
    assert!(!db_path(mine.path()).exists());
    std::fs::write(scratch.path().join("junk.db"), b"not a database at all").unwrap();
    assert!(adopt(&scratch.path().join("junk.db"), mine.path(), ME, PEER, MAX).is_err());
    assert!(!db_path(mine.path()).exists());
}

#[test]
fn a_store_that_exists_is_never_replaced() {
    let peer = Peer::new();
    let scratch = tempfile::tempdir().unwrap();
    let file = peer.snapshot(scratch.path());
    let mine = tempfile::tempdir().unwrap();
    drop(meridian_store::open(mine.path(), ME, Durability::Simulated).unwrap());
    let err = adopt(&file, mine.path(), ME, PEER, MAX)
        .unwrap_err()
        .to_string();
    assert!(err.contains("already holds a store"), "{err}");
    let _ = peer.dir;
}
