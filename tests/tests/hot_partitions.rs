//! A hot key is throttled at its partition's ceiling wherever it is named
//! by its key (docs/dynamodb-compat.md, *Throughput*): each partition
//! serves at most 1,000 write and 3,000 read units a second ("Each
//! partition on the table can serve up to 3,000 read request units or
//! 1,000 write request units", AWS knowledge center, *My on-demand
//! DynamoDB table has throttling*), in a batch, a transaction, a Query and
//! a peer's replicated writes as in a request of one item. Every table
//! here is on demand, so nothing but a partition throttles.
//!
//! A partition refills a thousand write units a second, so the state
//! "spent" lasts only a moment: each check spends it, acts at once, and
//! tries again (a bounded number of times) when the units came back first.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Put, PutRequest, ScalarAttributeType, TransactWriteItem, WriteRequest,
};
use meridian_core::throughput::{ON_DEMAND_PARTITIONS, partition_of};
use meridian_tests::{TestCluster, every_region};

use crate::sdk::*;
use crate::throughput::put_sized;

/// Tries at most this many times to act while the hot partition is spent.
const TRIES: usize = 10;

/// A key beginning `tag` of another partition than `hot` in an on-demand
/// table (placed by its encoding: a string's bytes).
fn cold_of(hot: &str, tag: &str) -> String {
    let p = partition_of(hot.as_bytes(), ON_DEMAND_PARTITIONS);
    (0..)
        .map(|i| format!("{tag}{i}"))
        .find(|k| partition_of(k.as_bytes(), ON_DEMAND_PARTITIONS) != p)
        .unwrap()
}

/// Writes items of 390 write units to `key` until one is throttled: its
/// partition is then in debt.
async fn spend(db: &Client, table: &str, key: &str) {
    for _ in 0..20 {
        if put_sized(db, table, key, None, 390).await.is_err() {
            return;
        }
    }
    panic!("{table}'s partition of {key} was never spent");
}

fn small(pk: &str) -> aws_sdk_dynamodb::types::PutRequest {
    PutRequest::builder()
        .set_item(Some(item([("pk", s(pk)), ("v", s("small"))])))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_in_a_batch_comes_back_unprocessed_while_other_keys_are_written() {
    let c = TestCluster::start(&["us-east-1"]).await;
    let db = no_retry(c.dynamo_url(0));
    create_table(&db, "hot", ("pk", ScalarAttributeType::S), None).await;
    let mut seen = false;
    for n in 0..TRIES {
        spend(&db, "hot", "hot").await;
        // A new cold key each try, so its write is seen afresh.
        let cold_key = cold_of("hot", &format!("cold{n}-"));
        let out = db
            .batch_write_item()
            .request_items(
                "hot",
                vec![
                    WriteRequest::builder().put_request(small("hot")).build(),
                    WriteRequest::builder()
                        .put_request(small(&cold_key))
                        .build(),
                ],
            )
            .send()
            .await
            .expect("one partition has units: the batch is not refused whole");
        let unprocessed = out.unprocessed_items().and_then(|u| u.get("hot"));
        // The cold key is written whatever became of the hot one.
        assert!(
            get(&db, "hot", item([("pk", s(&cold_key))]))
                .await
                .is_some(),
            "the cold key was not written"
        );
        let Some(held) = unprocessed else {
            continue; // the hot partition refilled first
        };
        assert_eq!(held.len(), 1, "{held:?}");
        let put = held[0].put_request().expect("the held put, as sent");
        assert_eq!(put.item().get("pk"), Some(&s("hot")));
        assert_eq!(put.item().get("v"), Some(&s("small")));
        seen = true;
        break;
    }
    assert!(
        seen,
        "a batch never met the hot partition spent in {TRIES} tries"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_with_a_hot_key_is_cancelled_with_its_reason() {
    let c = TestCluster::start(&["us-east-1"]).await;
    let db = no_retry(c.dynamo_url(0));
    create_table(&db, "hot", ("pk", ScalarAttributeType::S), None).await;
    let cold = cold_of("hot", "cold");
    let put = |pk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("hot")
                    .set_item(Some(item([("pk", s(pk)), ("v", s("small"))])))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let mut seen = false;
    for _ in 0..TRIES {
        spend(&db, "hot", "hot").await;
        let answer = db
            .transact_write_items()
            .transact_items(put(&cold))
            .transact_items(put("hot"))
            .send()
            .await;
        let Err(e) = answer else {
            continue; // the hot partition refilled first
        };
        let e = e.into_service_error();
        let TransactWriteItemsError::TransactionCanceledException(t) = &e else {
            panic!("not a cancelled transaction: {e:?}");
        };
        let codes: Vec<_> = t
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or_default().to_string())
            .collect();
        assert_eq!(codes, ["None", "ThrottlingError"], "{e:?}");
        assert!(
            t.cancellation_reasons()[1]
                .message()
                .unwrap_or_default()
                .contains("hot key"),
            "{e:?}"
        );
        assert_eq!(
            e.message(),
            Some(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ThrottlingError]"
            )
        );
        // Nothing of a cancelled transaction is written.
        assert!(get(&db, "hot", item([("pk", s(&cold))])).await.is_none());
        seen = true;
        break;
    }
    assert!(
        seen,
        "a transaction never met the hot partition spent in {TRIES} tries"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_of_a_hot_key_is_throttled_at_its_partition_while_other_keys_go_on() {
    let c = TestCluster::start(&["us-east-1"]).await;
    let db = no_retry(c.dynamo_url(0));
    create_table(&db, "hot", ("pk", ScalarAttributeType::S), None).await;
    let cold = cold_of("hot", "cold");
    for key in ["hot", cold.as_str()] {
        put_sized(&db, "hot", key, None, 390)
            .await
            .expect("an item");
    }
    let query = |key: &str| {
        db.query()
            .table_name("hot")
            .key_condition_expression("pk = :k")
            .expression_attribute_values(":k", s(key))
            .consistent_read(true)
            .send()
    };
    // A consistent read of 390 KB is 98 read units: the partition's 3,000
    // a second are spent within about thirty of them, sent eight at a time
    // so a slow machine reaches that rate too.
    let mut refused = None;
    for _ in 0..25 {
        let round = futures::future::join_all((0..8).map(|_| query("hot"))).await;
        if let Some(e) = round.into_iter().find_map(Result::err) {
            refused = Some(e.into_service_error());
            break;
        }
    }
    let e = refused.expect("a hot key's Query was never throttled");
    assert_eq!(e.code(), Some("ThrottlingException"), "{e:?}");
    let aws_sdk_dynamodb::operation::query::QueryError::ThrottlingException(t) = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        t.throttling_reasons()[0].reason(),
        Some("TableReadKeyRangeThroughputExceeded")
    );
    query(&cold)
        .await
        .expect("another partition has its own units");
    c.shutdown().await;
}

/// A peer's replicated writes of a hot key wait for the key's partition
/// in the replica that applies them, as its own clients' writes do: on an
/// on-demand table, whose units are otherwise unbounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_writes_of_a_hot_key_wait_for_its_partition() {
    let regions = ["us-east-1", "eu-west-1"];
    let c = TestCluster::start_tuned(&regions, |cfg| {
        every_region(cfg);
        cfg.repair_interval = Duration::from_secs(3600);
    })
    .await;
    let east = no_retry(c.dynamo_url(0));
    let west = no_retry(c.dynamo_url(1));
    create_table(&east, "hot", ("pk", ScalarAttributeType::S), None).await;
    c.wait_table_everywhere("hot").await;
    // eu-west-1's clients keep its hot partition spent with failed
    // conditional writes (charged, never replicated) while us-east-1
    // writes the key; eu-west-1's stream from us-east-1 waits.
    let waited = || async { c.peer_status(1, regions[0]).await.throttled_micros };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while waited().await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "eu-west-1's stream never waited for the hot partition ({n} writes)"
        );
        for _ in 0..3 {
            let _ = west
                .put_item()
                .table_name("hot")
                .item("pk", s("hot"))
                .item("blob", s(&"x".repeat(390_000)))
                .condition_expression("attribute_exists(nothing)")
                .send()
                .await;
        }
        // us-east-1's own partition refills between its writes.
        let _ = put_sized(&east, "hot", "hot", None, 390).await;
        n += 1;
    }
    c.shutdown().await;
}
