//! Group commit, deterministically: on a current-thread runtime the writer
//! task cannot run until every client task has queued its write, so 200
//! concurrent writes must commit in one transaction, not 200.

use std::sync::Arc;

use meridian_core::hlc::ManualClock;
use meridian_core::{AttrValue, Hlc, Item, KeyAttr, KeySchema, KeyType, PhysicalClock, TableDef};
use meridian_region::bridge::{Mode, Opened, Storage, WriterCtx};
use meridian_region::metrics::Metrics;
use meridian_store::{Durability, WriteOp};

#[tokio::test(flavor = "current_thread")]
async fn concurrent_writes_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let opened = Opened::open(dir.path(), "us-east-1", Durability::Full, Mode::Inline).unwrap();
    let clock: Arc<dyn PhysicalClock> = Arc::new(ManualClock::new(1_000_000));
    let metrics = Arc::new(Metrics::new("us-east-1"));
    let ctx = WriterCtx {
        hlc: Arc::new(Hlc::new(clock.clone(), 500_000)),
        real_clock: clock,
        metrics: metrics.clone(),
    };
    let (storage, task) = Storage::start(opened, ctx, Mode::Inline).unwrap();
    let def = TableDef::new(
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
    .unwrap();
    storage
        .write(vec![WriteOp::CreateTable(def)])
        .await
        .unwrap();
    let groups_before = metrics.group_commits.get();

    let writes: Vec<_> = (0..200)
        .map(|i| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let item = Item::from([("id".to_string(), AttrValue::S(format!("k{i}")))]);
                storage
                    .write(vec![WriteOp::Put {
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
