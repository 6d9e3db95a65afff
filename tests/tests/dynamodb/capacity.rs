//! Consumed capacity follows DynamoDB's rounding rules; DescribeTable
//! counts items and their bytes.

use super::*;

/// An item in `cap` of about 2 KB: two write units, one read unit.
fn cap_item(sk: u32) -> Item {
    item([("pk", s("a")), ("sk", n(sk)), ("big", s(&"x".repeat(2000)))])
}

fn cap_key(sk: u32) -> Item {
    item([("pk", s("a")), ("sk", n(sk))])
}

/// One region holding the empty table `cap` (pk S, sk N) of the capacity
/// and size tests, and a client of it.
async fn cap_table() -> (TestCluster, Client) {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "cap",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    (cluster, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumed_capacity_follows_dynamodbs_rounding_rules() {
    use aws_sdk_dynamodb::types::{ReturnConsumedCapacity as Rcc, ReturnItemCollectionMetrics};
    let (_cluster, c) = cap_table().await;
    let t = "cap";

    let mut cases = Cases::new();
    // Writes: one unit per started KB; TOTAL has no per-table part, INDEXES has.
    cases
        .run("PutItem with TOTAL", async {
            let p = c
                .put_item()
                .table_name(t)
                .set_item(Some(cap_item(1)))
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            let cc = p
                .consumed_capacity()
                .expect("TOTAL returns ConsumedCapacity");
            assert_eq!((cc.table_name(), cc.capacity_units()), (Some(t), Some(2.0)));
            assert!(cc.table().is_none(), "TOTAL has no Table part: {cc:?}");
        })
        .await;
    cases
        .run("PutItem with INDEXES", async {
            let p = c
                .put_item()
                .table_name(t)
                .set_item(Some(cap_item(2)))
                .return_consumed_capacity(Rcc::Indexes)
                .send()
                .await
                .unwrap();
            let cc = p.consumed_capacity().unwrap();
            assert_eq!(cc.capacity_units(), Some(2.0));
            assert_eq!(cc.table().and_then(|t| t.capacity_units()), Some(2.0));
        })
        .await;
    for rcc in [None, Some(Rcc::None)] {
        cases
            .run(format!("PutItem with {rcc:?}"), async {
                let p = c
                    .put_item()
                    .table_name(t)
                    .set_item(Some(cap_item(3)))
                    .set_return_consumed_capacity(rcc.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(p.consumed_capacity().is_none(), "{rcc:?}: {p:?}");
            })
            .await;
    }
    // An update pays for the larger image: shrinking a 2 KB item costs 2.
    cases
        .run("UpdateItem that shrinks a 2 KB item", async {
            let u = c
                .update_item()
                .table_name(t)
                .set_key(Some(cap_key(3)))
                .update_expression("REMOVE big")
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            assert_eq!(u.consumed_capacity().unwrap().capacity_units(), Some(2.0));
        })
        .await;
    cases
        .run("UpdateItem of a small item", async {
            let u = c
                .update_item()
                .table_name(t)
                .set_key(Some(cap_key(3)))
                .update_expression("SET small = :v")
                .expression_attribute_values(":v", n(1))
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            assert_eq!(u.consumed_capacity().unwrap().capacity_units(), Some(1.0));
        })
        .await;
    cases
        .run("DeleteItem of a small item", async {
            let d = c
                .delete_item()
                .table_name(t)
                .set_key(Some(cap_key(3)))
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            assert_eq!(d.consumed_capacity().unwrap().capacity_units(), Some(1.0));
        })
        .await;
    put(&c, t, cap_item(3)).await;

    // Reads: one unit per started 4 KB, half when eventually consistent,
    // and a missing item still costs the minimum.
    for (key, consistent, want) in [
        (cap_key(1), true, 1.0),
        (cap_key(1), false, 0.5),
        (cap_key(9), false, 0.5),
    ] {
        cases
            .run(format!("GetItem {key:?}, consistent {consistent}"), async {
                let g = c
                    .get_item()
                    .table_name(t)
                    .set_key(Some(key))
                    .consistent_read(consistent)
                    .return_consumed_capacity(Rcc::Total)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    g.consumed_capacity().unwrap().capacity_units(),
                    Some(want),
                    "consistent {consistent}: {g:?}"
                );
            })
            .await;
    }

    // Query and Scan add up what they read, filtered out or not, and round
    // once: three 2 KB items are 2 units, not 3.
    cases
        .run("Query with a filter", async {
            let q = c
                .query()
                .table_name(t)
                .key_condition_expression("pk = :p")
                .filter_expression("attribute_exists(nothing)")
                .expression_attribute_values(":p", s("a"))
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            assert_eq!((q.count(), q.scanned_count()), (0, 3));
            assert_eq!(q.consumed_capacity().unwrap().capacity_units(), Some(1.0));
        })
        .await;
    cases
        .run("Scan", async {
            let sc = c
                .scan()
                .table_name(t)
                .consistent_read(true)
                .return_consumed_capacity(Rcc::Indexes)
                .send()
                .await
                .unwrap();
            let cc = sc.consumed_capacity().unwrap();
            assert_eq!(cc.capacity_units(), Some(2.0));
            assert_eq!(cc.table().and_then(|t| t.capacity_units()), Some(2.0));
        })
        .await;

    // Batches: one entry per table, each item rounded on its own.
    cases
        .run("BatchGetItem", async {
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(vec![cap_key(1), cap_key(2), cap_key(3)]))
                .build()
                .unwrap();
            let bg = c
                .batch_get_item()
                .request_items(t, keys)
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            let list = bg.consumed_capacity();
            assert_eq!(list.len(), 1, "{list:?}");
            assert_eq!(
                (list[0].table_name(), list[0].capacity_units()),
                (Some(t), Some(1.5))
            );
        })
        .await;
    cases
        .run("BatchWriteItem", async {
            let bw = c
                .batch_write_item()
                .request_items(t, vec![put_req(cap_item(4)), put_req(cap_item(5))])
                .return_consumed_capacity(Rcc::Total)
                .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
                .send()
                .await
                .unwrap();
            assert_eq!(bw.consumed_capacity()[0].capacity_units(), Some(4.0));
        })
        .await;

    // Transactions cost twice, and say whether the units were reads or writes.
    cases
        .run("TransactWriteItems", async {
            let tw = c
                .transact_write_items()
                .transact_items(tx_put(t, cap_item(6)))
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            let cc = &tw.consumed_capacity()[0];
            assert_eq!(
                (cc.capacity_units(), cc.write_capacity_units()),
                (Some(4.0), Some(4.0))
            );
        })
        .await;
    cases
        .run("TransactGetItems", async {
            let tg = c
                .transact_get_items()
                .transact_items(tx_get(t, cap_key(1)))
                .transact_items(tx_get(t, cap_key(2)))
                .return_consumed_capacity(Rcc::Total)
                .send()
                .await
                .unwrap();
            let cc = &tg.consumed_capacity()[0];
            assert_eq!(
                (cc.capacity_units(), cc.read_capacity_units()),
                (Some(4.0), Some(4.0))
            );
        })
        .await;

    // A table without local secondary indexes has no item collection
    // metrics to return, so SIZE returns none; other values are refused.
    cases
        .run("ReturnItemCollectionMetrics SIZE", async {
            let p = c
                .put_item()
                .table_name(t)
                .set_item(Some(cap_item(7)))
                .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
                .send()
                .await
                .unwrap();
            assert!(p.item_collection_metrics().is_none(), "{p:?}");
        })
        .await;
    cases.run("bad ReturnItemCollectionMetrics", async {
        expect_validation(
            c.put_item()
                .table_name(t)
                .set_item(Some(cap_item(7)))
                .return_item_collection_metrics(ReturnItemCollectionMetrics::from("ALL"))
                .send()
                .await,
            "Value 'ALL' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]",
            "bad ReturnItemCollectionMetrics",
        );
    }).await;
    cases.run("bad ReturnConsumedCapacity", async {
        expect_validation(
            c.get_item()
                .table_name(t)
                .set_key(Some(cap_key(1)))
                .return_consumed_capacity(Rcc::from("ALL"))
                .send()
                .await,
            "Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
            "bad ReturnConsumedCapacity",
        );
    }).await;
    cases.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_table_counts_items_and_their_bytes() {
    let (_cluster, c) = cap_table().await;
    let t = "cap";
    let size = || async {
        let d = c.describe_table().table_name(t).send().await.unwrap();
        let d = d.table().unwrap();
        (d.item_count(), d.table_size_bytes())
    };
    assert_eq!(size().await, (Some(0), Some(0)));
    batch_put(&c, t, (1..=3).map(cap_item).collect()).await;
    // Each item is 2,010 bytes by DynamoDB's count; stored, a little more.
    let (count, bytes) = size().await;
    assert_eq!(count, Some(3));
    let bytes = bytes.unwrap();
    assert!(
        (3 * 2010..3 * (2010 + 64)).contains(&bytes),
        "TableSizeBytes {bytes}"
    );
    c.delete_item()
        .table_name(t)
        .set_key(Some(cap_key(1)))
        .send()
        .await
        .unwrap();
    let (count, left) = size().await;
    assert_eq!(count, Some(2));
    assert_eq!(
        left.unwrap() * 3,
        bytes * 2,
        "two of three equal items left"
    );
}
