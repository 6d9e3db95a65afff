//! Settings a region keeps for its own replica of a table and never ships
//! (resource policies, contributor insights): a change decides on the value
//! it replaces, a refused change writes nothing, nothing of it is logged,
//! and the settings go with the table's incarnation.

use meridian_core::{KeyAttr, KeySchema, KeyType, TableDef};
use meridian_store::{CatalogChange, Durability, Replaced};

mod common;
use common::{Node, T0};

fn def(name: &str) -> TableDef {
    TableDef::new(
        name,
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: None,
        },
        vec!["r-a".into(), "r-b".into()],
    )
    .unwrap()
}

/// Sets `name` of `table` to `value` unless it holds something other
/// than `expected`; answers the refusal's current value.
fn swap(
    n: &mut Node,
    table: &str,
    name: &str,
    expected: Option<&str>,
    value: Option<&str>,
) -> Result<Option<String>, Option<String>> {
    // The value now stored, or the refusal's.
    let (expected, value) = (expected.map(str::to_string), value.map(str::to_string));
    let mut g = n.writer.group().unwrap();
    let out = g
        .change_replica_setting(table, name, T0, move |current, _| {
            if current.map(str::to_string) != expected {
                return Err(current.map(str::to_string));
            }
            Ok(value)
        })
        .unwrap();
    g.commit().unwrap();
    out.map(|r| r.after)
}

#[test]
fn a_change_decides_on_the_value_it_replaces_and_nothing_is_shipped() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(def("tbl"))]).unwrap();
    let head = n.reader.log_after(0, 1000, usize::MAX).unwrap().len();
    assert_eq!(
        swap(&mut n, "tbl", "policy/table", None, Some("1\n{}")),
        Ok(Some("1\n{}".into()))
    );
    // Refused: the value is not the one expected; nothing changes.
    assert_eq!(
        swap(&mut n, "tbl", "policy/table", Some("0\n{}"), Some("2\n[]")),
        Err(Some("1\n{}".into()))
    );
    assert_eq!(
        n.reader
            .replica_setting("tbl", "policy/table")
            .unwrap()
            .as_deref(),
        Some("1\n{}")
    );
    // A change answers the value it replaced, too.
    let mut g = n.writer.group().unwrap();
    let replaced = g
        .change_replica_setting("tbl", "policy/table", T0, |_, _| {
            Ok::<_, ()>(Some("2\n{}".into()))
        })
        .unwrap()
        .unwrap();
    g.commit().unwrap();
    assert_eq!(
        replaced,
        Replaced {
            before: Some("1\n{}".into()),
            after: Some("2\n{}".into())
        }
    );
    assert_eq!(
        swap(&mut n, "tbl", "insights/", None, Some("ENABLED")),
        Ok(Some("ENABLED".into()))
    );
    assert_eq!(
        swap(&mut n, "tbl", "insights/byv", None, Some("ENABLED")),
        Ok(Some("ENABLED".into()))
    );
    let listed = n.reader.replica_settings("tbl", "insights/").unwrap();
    assert_eq!(
        listed,
        vec![
            ("insights/".to_string(), "ENABLED".to_string()),
            ("insights/byv".to_string(), "ENABLED".to_string())
        ]
    );
    // Removed with None.
    assert_eq!(
        swap(&mut n, "tbl", "insights/byv", Some("ENABLED"), None),
        Ok(None)
    );
    assert_eq!(
        n.reader.replica_settings("tbl", "insights/").unwrap().len(),
        1
    );
    // Nothing of it is in the log a peer reads.
    assert_eq!(n.reader.log_after(0, 1000, usize::MAX).unwrap().len(), head);
    // A table that does not exist has none to change.
    let mut g = n.writer.group().unwrap();
    let missing = g.change_replica_setting("nope", "policy/table", T0, |_, _| Ok::<_, ()>(None));
    assert!(missing.is_err(), "{missing:?}");
}

#[test]
fn settings_go_with_the_table() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(def("tbl"))]).unwrap();
    swap(&mut n, "tbl", "policy/table", None, Some("1\n{}")).unwrap();
    n.write(&[CatalogChange::DeleteTable("tbl".into())])
        .unwrap();
    assert_eq!(
        n.reader.replica_setting("tbl", "policy/table").unwrap(),
        None
    );
    // Deleted with the table, not only hidden by its incarnation.
    let conn = rusqlite::Connection::open(n.writer.path()).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM replica_settings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
    n.write(&[CatalogChange::CreateTable(def("tbl"))]).unwrap();
    assert_eq!(
        n.reader.replica_setting("tbl", "policy/table").unwrap(),
        None
    );
    assert!(n.reader.replica_settings("tbl", "").unwrap().is_empty());
}

#[test]
fn a_version_15_data_dir_gains_replica_settings() {
    let dir = tempfile::tempdir().unwrap();
    let writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    let conn = rusqlite::Connection::open(writer.path()).unwrap();
    drop(writer);
    conn.execute_batch(
        "DROP TABLE replica_settings; UPDATE meta SET v = '15' WHERE k = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let writer = meridian_store::open(dir.path(), "r-a", Durability::Full).unwrap();
    drop(writer);
    let reader = meridian_store::open_reader(dir.path()).unwrap();
    assert!(reader.replica_settings("tbl", "").unwrap().is_empty());
    assert_eq!(reader.replica_setting("tbl", "policy/table").unwrap(), None);
}

/// Deletion protection is a catalog row of the region's own
/// (`meridian_core::protection`), shipped to the other regions; one kept
/// by an earlier build as a per-replica setting is found for the region to
/// move.
#[test]
fn deletion_protection_is_a_shipped_catalog_row_and_a_legacy_one_is_found() {
    let mut n = Node::new("r-a");
    n.write(&[CatalogChange::CreateTable(def("tbl"))]).unwrap();
    assert_eq!(
        n.reader.protected_replicas("tbl").unwrap(),
        Vec::<String>::new()
    );
    let head = n.reader.log_after(0, 1000, usize::MAX).unwrap().len();
    let on = CatalogChange::Protect {
        table: "tbl".into(),
        on: true,
    };
    n.write(&[on]).unwrap();
    assert_eq!(n.reader.protected_replicas("tbl").unwrap(), vec!["r-a"]);
    assert_eq!(
        n.reader.log_after(0, 1000, usize::MAX).unwrap().len(),
        head + 1,
        "the row is shipped"
    );
    let off = CatalogChange::Protect {
        table: "tbl".into(),
        on: false,
    };
    n.write(&[off]).unwrap();
    assert_eq!(
        n.reader.protected_replicas("tbl").unwrap(),
        Vec::<String>::new()
    );

    assert_eq!(n.reader.legacy_protected().unwrap(), Vec::<String>::new());
    swap(
        &mut n,
        "tbl",
        meridian_store::LEGACY_DELETION_PROTECTION,
        None,
        Some("on"),
    )
    .unwrap();
    assert_eq!(n.reader.legacy_protected().unwrap(), vec!["tbl"]);
    // A table created again does not inherit either.
    n.write(&[CatalogChange::Protect {
        table: "tbl".into(),
        on: true,
    }])
    .unwrap();
    n.write(&[CatalogChange::DeleteTable("tbl".into())])
        .unwrap();
    n.write(&[CatalogChange::CreateTable(def("tbl"))]).unwrap();
    assert_eq!(
        n.reader.protected_replicas("tbl").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(n.reader.legacy_protected().unwrap(), Vec::<String>::new());
}
