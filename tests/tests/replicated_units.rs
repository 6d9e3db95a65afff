//! Replicated writes draw on the write units of the replica that applies
//! them, as on AWS ("replicated write capacity units", *Best practices and
//! requirements for managing global tables*; docs/replication.md,
//! *Replicated write units*): a provisioned replica short of units makes
//! its peers' writes wait (its backlog grows, nothing is lost or
//! reordered) and throttles its own clients, while a replica with units
//! to spare goes on; both recover once units are raised.
//!
//! The two replicas of a global table have the same write units, so one
//! is made poorer the one way AWS allows: its clients' failed conditional
//! writes, which consume write units where they are made and are never
//! replicated (*DynamoDB read and write operations*).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;

use meridian_tests::{TestCluster, every_region, poll_until};

use crate::sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// About 10 KB: ten write units a copy.
const BLOB: usize = 10_000;
/// Items us-east-1 writes at least: 100 write units at eu-west-1.
const ITEMS: usize = 10;

async fn put_big(c: &Client, key: &str) -> Result<(), PutItemError> {
    c.put_item()
        .table_name("units")
        .item("pk", s(key))
        .item("blob", s(&"x".repeat(BLOB)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error())
}

/// eu-west-1's inbound counts of us-east-1: (replicated write units,
/// µs its stream waited for them).
async fn west_paid(c: &TestCluster) -> (u64, u64) {
    let p = c.peer_status(1, REGIONS[0]).await;
    (p.replicated_write_units, p.throttled_micros)
}

/// How many of us-east-1's first `written` items eu-west-1 holds.
async fn west_holds(west: &Client, written: usize) -> usize {
    let mut n = 0;
    for i in 0..written {
        if get(west, "units", item([("pk", s(&format!("k{i}")))]))
            .await
            .is_some()
        {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_short_of_write_units_makes_replication_wait_and_throttles_its_clients() {
    // Every write reaches eu-west-1 by the stream alone: no repair round
    // in the test's time.
    let c = TestCluster::start_tuned(&REGIONS, |cfg| {
        every_region(cfg);
        cfg.repair_interval = Duration::from_secs(3600);
    })
    .await;
    let east = no_retry(c.dynamo_url(0));
    let west = no_retry(c.dynamo_url(1));
    // One write unit a second: 300 in each replica's burst; reads to
    // spare, for the polls below (ten items of three units every 20 ms).
    create_provisioned(&east, "units", units(10_000, 1)).await;
    c.wait_table_everywhere("units").await;

    // eu-west-1's clients spend 280 of its units on failed conditional
    // writes of ten units each; us-east-1's units are untouched.
    for i in 0..28 {
        let e = west
            .put_item()
            .table_name("units")
            .item("pk", s(&format!("absent{i}")))
            .item("blob", s(&"x".repeat(BLOB)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .expect_err("the condition fails")
            .into_service_error();
        assert_eq!(e.code(), Some("ConditionalCheckFailedException"), "{e:?}");
    }

    // us-east-1 writes 100 units, well within its own burst: eu-west-1
    // has units for two of them. A batch is applied once its buckets hold
    // anything and may run them into debt, as a client's request may
    // (docs/replication.md, *Replicated write units*), so the writes may
    // go in one batch; the batch after one in debt waits. us-east-1 writes
    // on until eu-west-1's stream is seen waiting.
    let mut written = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while written < ITEMS || west_paid(&c).await.1 == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "eu-west-1's stream from us-east-1 never waited for write units ({written} written)"
        );
        put_big(&east, &format!("k{written}"))
            .await
            .expect("us-east-1 has units to spare");
        written += 1;
        if written >= ITEMS {
            // Time for the written ones to reach eu-west-1.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert!(
        west_holds(&west, written).await < written,
        "eu-west-1 applied every write though it had no units for them"
    );

    // eu-west-1's clients are throttled; us-east-1's are not.
    let e = put_big(&west, "west-own")
        .await
        .expect_err("eu-west-1 is out of write units");
    assert_eq!(
        e.code(),
        Some("ProvisionedThroughputExceededException"),
        "{e:?}"
    );
    let PutItemError::ProvisionedThroughputExceededException(p) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        p.throttling_reasons()[0].reason(),
        Some("TableWriteProvisionedThroughputExceeded")
    );
    put_big(&east, "east-own")
        .await
        .expect("us-east-1 still has units");

    // Units raised where they are short (a change made elsewhere would
    // reach eu-west-1 behind the writes it holds back): the backlog
    // drains, every write arrives, each paid.
    west.update_table()
        .table_name("units")
        .provisioned_throughput(units(10_000, 5000))
        .send()
        .await
        .expect("raise the write units");
    poll_until(
        "eu-west-1 holds every write of us-east-1",
        Duration::from_secs(60),
        || async { west_holds(&west, written).await == written },
    )
    .await;
    let (paid, waited) = west_paid(&c).await;
    assert!(
        paid >= (written as u64) * 10,
        "{paid} replicated write units for {written} writes of ten"
    );
    assert!(waited > 0);
    c.shutdown().await;
}
