//! The storage bridge, deterministically, on a current-thread runtime.
//!
//! Group commit: the writer task cannot run until every client task has
//! queued its write, so 200 concurrent writes must commit in one
//! transaction, not 200.

use std::sync::Arc;

use meridian_core::hlc::ManualClock;
use meridian_core::{AttrValue, Hlc, Item, KeyAttr, KeySchema, KeyType, PhysicalClock, TableDef};
use meridian_region::bridge::{Mode, Opened, StoreBridge, WriterCtx, WriterTask};
use meridian_region::metrics::{Metrics, SourceLabel};
use meridian_store::{CatalogChange, Durability, ItemWrite};

/// A region's storage over `dir`, inline, on a manual clock.
fn start(dir: &std::path::Path) -> (StoreBridge, WriterTask, Arc<Metrics>) {
    let opened = Opened::open(dir, "us-east-1", Durability::Full, Mode::Inline).unwrap();
    let clock: Arc<dyn PhysicalClock> = Arc::new(ManualClock::new(1_000_000));
    let metrics = Arc::new(Metrics::new("us-east-1"));
    let ctx = WriterCtx {
        hlc: Arc::new(Hlc::new(clock.clone(), 500_000)),
        real_clock: clock,
        metrics: metrics.clone(),
    };
    let (storage, task) = StoreBridge::start(opened, ctx, Mode::Inline).unwrap();
    (storage, task, metrics)
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_writes_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, task, metrics) = start(dir.path());
    storage
        .write(vec![CatalogChange::CreateTable(items_table())])
        .await
        .unwrap();
    let groups_before = metrics.group_commits.get();

    let writes: Vec<_> = (0..200)
        .map(|i| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let item = Item::from([("id".to_string(), AttrValue::S(format!("k{i}")))]);
                storage
                    .write(vec![ItemWrite::Put {
                        table: "items".into(),
                        item,
                        condition: None,
                    }])
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for w in writes {
        seqs.push(w.await.unwrap().unwrap()[0].seq);
    }
    assert_eq!(
        metrics.group_commits.get() - groups_before,
        1,
        "200 queued writes, one transaction"
    );
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 200, "each write has its own log entry");
    let head = storage.read(|r| r.log_head()).await.unwrap();
    assert_eq!(head, 201, "200 items and the table definition");
    storage.close().await;
    task.join().await;
}

/// Shippers take the newest log entries from the tail the writer hands
/// over, cut exactly as a read of the store would cut them; after a restart
/// the tail is empty and the same batches come from the store.
#[tokio::test(flavor = "current_thread")]
async fn shippers_read_what_the_store_holds_from_memory_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let reads = |m: &Metrics, source: &'static str| {
        m.log_reads.get_or_create(&SourceLabel { source }).get()
    };
    let put = |i: u32| ItemWrite::Put {
        table: "items".into(),
        item: Item::from([("id".to_string(), AttrValue::S(format!("k{i}")))]),
        condition: None,
    };
    let (storage, task, metrics) = start(dir.path());
    storage
        .write(vec![CatalogChange::CreateTable(items_table())])
        .await
        .unwrap();
    for i in 0..20 {
        storage.write(vec![put(i)]).await.unwrap();
    }
    // A unit of five, which no batch may split.
    storage
        .write((20..25).map(put).collect::<Vec<_>>())
        .await
        .unwrap();
    let head = *storage.log_head().borrow();
    assert_eq!(head, 26);
    for after in 0..=head + 1 {
        for (limit, bytes) in [(1000, 1 << 20), (3, 1 << 20), (1000, 1)] {
            let fast = storage.log_after(after, limit, bytes).await.unwrap();
            let stored = storage
                .read(move |r| r.log_after(after, limit, bytes))
                .await
                .unwrap();
            assert_eq!(fast, stored, "after {after}, limit {limit}, {bytes} bytes");
        }
    }
    assert_eq!(reads(&metrics, "memory"), 3 * (head + 2));
    assert_eq!(reads(&metrics, "store"), 0);
    storage.close().await;
    task.join().await;

    let (storage, task, metrics) = start(dir.path());
    let batch = storage.log_after(20, 1000, 1 << 20).await.unwrap();
    let seqs: Vec<u64> = batch.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [21, 22, 23, 24, 25, 26]);
    assert_eq!(reads(&metrics, "store"), 1);
    assert_eq!(reads(&metrics, "memory"), 0);
    storage.close().await;
    task.join().await;
}

fn items_table() -> TableDef {
    TableDef::new(
        "items",
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: None,
        },
        vec!["us-east-1".into()],
    )
    .unwrap()
}

/// Definitions are kept in memory between requests, and a change of the
/// catalog is seen by the first read after the change is answered: a
/// replica added, the table deleted, a table created again under the name.
#[tokio::test(flavor = "current_thread")]
async fn a_kept_definition_gives_way_to_the_catalog_change_answered_before() {
    use meridian_core::replicas::Status;
    let dir = tempfile::tempdir().unwrap();
    let (storage, task, _) = start(dir.path());
    let write = |op: CatalogChange| {
        let storage = storage.clone();
        async move { storage.write(vec![op]).await.unwrap() }
    };
    assert!(storage.table_def("items").await.unwrap().is_none());
    write(CatalogChange::CreateTable(items_table())).await;
    let (first, created) = storage.table_def("items").await.unwrap().unwrap();
    assert_eq!(first.replicas, ["us-east-1"]);
    // Kept: asked again, the same definition.
    assert_eq!(storage.table_def("items").await.unwrap().unwrap().0, first);

    write(CatalogChange::SetReplica {
        table: "items".into(),
        region: "eu-west-1".into(),
        status: Status::Active,
        kms_key: None,
    })
    .await;
    let (added, _) = storage.table_def("items").await.unwrap().unwrap();
    assert!(
        added.replicas.iter().any(|r| r == "eu-west-1"),
        "the replica added is seen at once: {:?}",
        added.replicas
    );

    write(CatalogChange::DeleteTable("items".into())).await;
    assert!(storage.table_def("items").await.unwrap().is_none());

    let mut again = items_table();
    again.key_schema.partition.name = "other".into();
    write(CatalogChange::CreateTable(again)).await;
    let (recreated, incarnation) = storage.table_def("items").await.unwrap().unwrap();
    assert_eq!(recreated.key_schema.partition.name, "other");
    assert_ne!(incarnation, created, "a new incarnation");
    storage.close().await;
    task.join().await;
}
