//! Provisioned throughput as DynamoDB enforces it, driven by the real AWS
//! SDK for Rust (docs/dynamodb-compat.md, *Throughput*): a provisioned
//! table or global index spends its five minutes of burst, then is refused
//! `ProvisionedThroughputExceededException` with the `ThrottlingReasons`
//! AWS added in 2025; a batch gives a throttled table's requests back
//! unprocessed; on-demand tables go on; raised units refill at their new
//! rate.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndex, KeyType, PutRequest, ReturnConsumedCapacity,
    ScalarAttributeType, WriteRequest,
};
use meridian_tests::{TestCluster, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 1] = ["us-east-1"];
/// Makes `table` provisioned at `table_units`, with a global index `by_g`
/// on `g` of one read and one write unit a second.
async fn provisioned_with_index(
    db: &Client,
    table: &str,
    table_units: aws_sdk_dynamodb::types::ProvisionedThroughput,
) {
    create_table_request(db, table, ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(table_units)
        .attribute_definitions(string_attribute("g"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(key_element("g", KeyType::Hash))
                .projection(project_all())
                .provisioned_throughput(units(1, 1))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("a provisioned table");
}

/// Writes items of about 10 KB (ten write units, two and a half read
/// units a copy) to `table`, each in index `g`'s `all`, until one is
/// throttled (at most `most`); how many were taken, and the refusal.
async fn write_until_throttled(c: &Client, table: &str, most: usize) -> (usize, PutItemError) {
    for i in 0..most {
        if let Err(e) = put_sized(c, table, &format!("k{i}"), Some("all"), 10).await {
            return (i, e);
        }
    }
    panic!("{table} took {most} writes of ten units and never throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_table_spends_its_burst_then_throttles_with_its_reasons() {
    let c = TestCluster::start(&REGIONS).await;
    let db = no_retry(c.dynamo_url(0));
    // One write and one read unit a second: 300 of each in its burst; its
    // index the same.
    provisioned_with_index(&db, "slow", units(1, 1)).await;
    create_table(&db, "fast", ("pk", ScalarAttributeType::S), None).await;

    // What a write consumed is left out unless ReturnConsumedCapacity asks for it.
    let quiet = db
        .put_item()
        .table_name("fast")
        .item("pk", s("q"))
        .send()
        .await
        .unwrap();
    assert!(quiet.consumed_capacity().is_none());
    let told = db
        .put_item()
        .table_name("fast")
        .item("pk", s("t"))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(
        told.consumed_capacity().unwrap().capacity_units(),
        Some(1.0)
    );

    // 300 units of burst at ten a write: the 31st or a little later (the
    // bucket refills one unit a second meanwhile) is throttled.
    let (taken, e) = write_until_throttled(&db, "slow", 60).await;
    assert!(
        (30..=40).contains(&taken),
        "{taken} writes before the throttle"
    );
    assert_eq!(
        e.code(),
        Some("ProvisionedThroughputExceededException"),
        "{e:?}"
    );
    let PutItemError::ProvisionedThroughputExceededException(p) = &e else {
        panic!("{e:?}")
    };
    // Every item is in the index (`g`), whose write units are spent with
    // the table's: both are named, the table first.
    let reasons: Vec<_> = p
        .throttling_reasons()
        .iter()
        .map(|r| (r.reason().unwrap(), r.resource().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "TableWriteProvisionedThroughputExceeded",
                "arn:aws:dynamodb:us-east-1:000000000000:table/slow"
            ),
            (
                "IndexWriteProvisionedThroughputExceeded",
                "arn:aws:dynamodb:us-east-1:000000000000:table/slow/index/by_g"
            )
        ]
    );
    // Reads have a bucket of their own.
    get(&db, "slow", item([("pk", s("k0"))]))
        .await
        .expect("a read while writes are throttled");

    // A batch gives the throttled table's requests back and writes the rest.
    let req = |pk: &str| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().item("pk", s(pk)).build().unwrap())
            .build()
    };
    let batch = db
        .batch_write_item()
        .request_items("slow", vec![req("b1")])
        .request_items("fast", vec![req("b2")])
        .send()
        .await
        .expect("a batch with one table throttled");
    let unprocessed = batch.unprocessed_items().unwrap();
    assert_eq!(unprocessed.keys().collect::<Vec<_>>(), ["slow"]);
    assert!(get(&db, "fast", item([("pk", s("b2"))])).await.is_some());
    let all = db
        .batch_write_item()
        .request_items("slow", vec![req("b3")])
        .send()
        .await;
    assert_eq!(
        all.unwrap_err().into_service_error().code(),
        Some("ProvisionedThroughputExceededException")
    );

    // A global index spends its own read units: each Query reads every
    // item through it.
    let mut throttled = None;
    for _ in 0..60 {
        match db
            .query()
            .table_name("slow")
            .index_name("by_g")
            .key_condition_expression("g = :g")
            .expression_attribute_values(":g", s("all"))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) => {
                throttled = Some(e.into_service_error());
                break;
            }
        }
    }
    let q = throttled.expect("the index never throttled its reads");
    assert_eq!(
        q.code(),
        Some("ProvisionedThroughputExceededException"),
        "{q:?}"
    );
    let aws_sdk_dynamodb::operation::query::QueryError::ProvisionedThroughputExceededException(p) =
        &q
    else {
        panic!("{q:?}")
    };
    assert_eq!(
        p.throttling_reasons()[0].reason(),
        Some("IndexReadProvisionedThroughputExceeded")
    );
    assert_eq!(
        p.throttling_reasons()[0].resource(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/slow/index/by_g")
    );

    // Raised units refill at their new rate.
    db.update_table()
        .table_name("slow")
        .provisioned_throughput(units(1, 2000))
        .send()
        .await
        .expect("raise the write units");
    poll_until(
        "a write at the raised rate",
        Duration::from_secs(10),
        || async {
            db.put_item()
                .table_name("slow")
                .item("pk", s("after"))
                .send()
                .await
                .is_ok()
        },
    )
    .await;
    c.shutdown().await;
}

/// A put of about `kb` KB (`kb` write units) to `table`, item `pk`, with
/// index key `g` when given.
pub(crate) async fn put_sized(
    c: &Client,
    table: &str,
    pk: &str,
    g: Option<&str>,
    kb: usize,
) -> Result<(), PutItemError> {
    let mut put = c
        .put_item()
        .table_name(table)
        .item("pk", s(pk))
        .item("blob", s(&"x".repeat(kb * 1000)));
    if let Some(g) = g {
        put = put.item("g", s(g));
    }
    put.send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error())
}

/// The reasons of a throttled put, as (reason, resource) pairs.
fn reasons_of(e: &PutItemError) -> Vec<(String, String)> {
    let reasons = match e {
        PutItemError::ProvisionedThroughputExceededException(p) => p.throttling_reasons(),
        PutItemError::ThrottlingException(t) => t.throttling_reasons(),
        PutItemError::RequestLimitExceeded(r) => r.throttling_reasons(),
        other => panic!("not a throttle: {other:?}"),
    };
    reasons
        .iter()
        .map(|r| {
            (
                r.reason().unwrap().to_string(),
                r.resource().unwrap().to_string(),
            )
        })
        .collect()
}

/// Asserts a put was throttled with exception `code` and the one reason
/// `reason` for `resource`, a table (or `table/index/name`) of us-east-1.
fn throttled_by(e: &PutItemError, code: &str, reason: &str, resource: &str) {
    assert_eq!(e.code(), Some(code), "{e:?}");
    assert_eq!(
        reasons_of(e),
        [(
            reason.to_string(),
            format!("arn:aws:dynamodb:us-east-1:000000000000:table/{resource}")
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_index_short_of_write_units_throttles_the_tables_writes_to_it() {
    let c = TestCluster::start(&REGIONS).await;
    let db = no_retry(c.dynamo_url(0));
    // The table has units to spare; its index one write unit a second.
    provisioned_with_index(&db, "indexed", units(1, 1000)).await;
    let (taken, e) = write_until_throttled(&db, "indexed", 60).await;
    assert!(
        (30..=40).contains(&taken),
        "{taken} writes before the throttle"
    );
    throttled_by(
        &e,
        "ProvisionedThroughputExceededException",
        "IndexWriteProvisionedThroughputExceeded",
        "indexed/index/by_g",
    );
    // An item the index does not hold is written: the index is not touched.
    put_sized(&db, "indexed", "unindexed", None, 10)
        .await
        .expect("a put outside the index");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_partition_key_is_throttled_on_demand_while_other_partitions_go_on() {
    use meridian_core::throughput::{ON_DEMAND_PARTITIONS, partition_of};
    let c = TestCluster::start(&REGIONS).await;
    let db = no_retry(c.dynamo_url(0));
    create_table(&db, "hot", ("pk", ScalarAttributeType::S), None).await;
    // A partition serves 1,000 write units a second: writes of 390 units
    // to one key spend it within a few requests.
    let mut refused = None;
    for i in 0..20 {
        if let Err(e) = put_sized(&db, "hot", "hot", None, 390).await {
            refused = Some((i, e));
            break;
        }
    }
    let (taken, e) = refused.expect("a hot key was never throttled");
    assert!(
        (2..=5).contains(&taken),
        "{taken} writes before the throttle"
    );
    throttled_by(
        &e,
        "ThrottlingException",
        "TableWriteKeyRangeThroughputExceeded",
        "hot",
    );
    assert!(e.message().unwrap_or_default().contains("hot key"), "{e:?}");
    // A key of another partition (placed by its key's encoding, as the
    // endpoint places it: a string's bytes) is written.
    let hot = partition_of(b"hot", ON_DEMAND_PARTITIONS);
    let cold = (0..)
        .map(|i| format!("cold{i}"))
        .find(|k| partition_of(k.as_bytes(), ON_DEMAND_PARTITIONS) != hot)
        .unwrap();
    put_sized(&db, "hot", &cold, None, 390)
        .await
        .expect("another partition has its own units");
    // The hot partition's units come back within a second or so.
    poll_until(
        "the hot key written again",
        Duration::from_secs(10),
        || async { put_sized(&db, "hot", "hot", None, 1).await.is_ok() },
    )
    .await;
    c.shutdown().await;
}

/// `OnDemandThroughput` (*DynamoDB maximum throughput for on-demand
/// tables*): an on-demand table's most is described as set, throttles
/// past it with `ThrottlingException` and the reason
/// `TableWriteMaxOnDemandThroughputExceeded`, goes with `-1`, and is
/// refused on a provisioned table, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_tables_most_throttles_past_it_and_goes_when_removed() {
    use aws_sdk_dynamodb::types::OnDemandThroughput;
    let c = TestCluster::start(&REGIONS).await;
    let db = no_retry(c.dynamo_url(0));
    let most = |read: Option<i64>, write: Option<i64>| {
        OnDemandThroughput::builder()
            .set_max_read_request_units(read)
            .set_max_write_request_units(write)
            .build()
    };
    create_table_request(&db, "capped", ("pk", ScalarAttributeType::S), None)
        .on_demand_throughput(most(None, Some(5)))
        .send()
        .await
        .expect("an on-demand table with a most");
    let described = |db: Client| async move {
        db.describe_table()
            .table_name("capped")
            .send()
            .await
            .unwrap()
            .table
            .unwrap()
            .on_demand_throughput
    };
    let d = described(db.clone()).await.expect("OnDemandThroughput");
    assert_eq!(
        (d.max_read_request_units(), d.max_write_request_units()),
        (None, Some(5))
    );
    // Five write units a second, with no burst: a put of fifty is
    // admitted, the next meets a bucket 45 in debt (nine seconds of it).
    put_sized(&db, "capped", "a", None, 50)
        .await
        .expect("the first put");
    let e = put_sized(&db, "capped", "b", None, 10)
        .await
        .expect_err("past the most");
    throttled_by(
        &e,
        "ThrottlingException",
        "TableWriteMaxOnDemandThroughputExceeded",
        "capped",
    );
    // Removed with -1: described no more, and the puts go on.
    db.update_table()
        .table_name("capped")
        .on_demand_throughput(most(None, Some(-1)))
        .send()
        .await
        .expect("remove the most");
    assert_eq!(described(db.clone()).await, None);
    for i in 0..5 {
        put_sized(&db, "capped", &format!("k{i}"), None, 10)
            .await
            .expect("no most");
    }
    // Refused on a provisioned table, and a most of 0, naming the member.
    let e = create_table_request(&db, "prov", ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(5, 5))
        .on_demand_throughput(most(Some(10), None))
        .send()
        .await
        .expect_err("a most on a provisioned table")
        .into_service_error();
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("OnDemandThroughput"),
        "{e:?}"
    );
    assert!(db.describe_table().table_name("prov").send().await.is_err());
    let e = db
        .update_table()
        .table_name("capped")
        .on_demand_throughput(most(Some(0), None))
        .send()
        .await
        .expect_err("a most of 0")
        .into_service_error();
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("MaxReadRequestUnits"),
        "{e:?}"
    );
    c.shutdown().await;
}

/// The account's per-table quota on demand (*Service, account, and table
/// quotas in Amazon DynamoDB*: 40,000 units a second each way by default),
/// lowered in the cluster file (`table_quota_units`) to a rate a test
/// reaches: past it an on-demand table is refused `RequestLimitExceeded`
/// with the reason `TableWriteAccountLimitExceeded`, and a table with its
/// own `OnDemandThroughput` is held to that instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_table_past_the_accounts_per_table_quota_is_refused_request_limit_exceeded() {
    let c = TestCluster::start_tuned(&REGIONS, |cfg| cfg.table_quota_units = 50).await;
    let db = no_retry(c.dynamo_url(0));
    create_table(&db, "quota", ("pk", ScalarAttributeType::S), None).await;
    // Fifty write units a second with no burst: a put of 300 is admitted
    // (the bucket was full), the next meets it five seconds in debt.
    put_sized(&db, "quota", "a", None, 300)
        .await
        .expect("the first put");
    let e = put_sized(&db, "quota", "b", None, 1)
        .await
        .expect_err("past the quota");
    throttled_by(
        &e,
        "RequestLimitExceeded",
        "TableWriteAccountLimitExceeded",
        "quota",
    );
    assert!(e.message().unwrap_or_default().contains("quota"), "{e:?}");
    // Reads have their own quota.
    get(&db, "quota", item([("pk", s("a"))]))
        .await
        .expect("a read while writes are past the quota");
    c.shutdown().await;
}

/// A global index's own `OnDemandThroughput` (*DynamoDB maximum throughput
/// for on-demand tables*: "for tables and global secondary indexes"):
/// given at CreateTable and described on the index, it throttles the
/// table's writes to the index with `ThrottlingException` and the reason
/// `IndexWriteMaxOnDemandThroughputExceeded`, a write the index does not
/// hold goes on, an index `Update` of `-1` removes it, and on a
/// provisioned table it is refused, making nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_indexs_own_most_throttles_the_writes_it_holds_and_goes_when_removed() {
    use aws_sdk_dynamodb::types::{
        GlobalSecondaryIndexUpdate, OnDemandThroughput, UpdateGlobalSecondaryIndexAction,
    };
    let c = TestCluster::start(&REGIONS).await;
    let db = no_retry(c.dynamo_url(0));
    let most = |write: i64| {
        OnDemandThroughput::builder()
            .max_write_request_units(write)
            .build()
    };
    let gsi = |most: OnDemandThroughput| {
        GlobalSecondaryIndex::builder()
            .index_name("by_g")
            .key_schema(key_element("g", KeyType::Hash))
            .projection(project_all())
            .on_demand_throughput(most)
            .build()
            .unwrap()
    };
    create_table_request(&db, "capped_index", ("pk", ScalarAttributeType::S), None)
        .attribute_definitions(string_attribute("g"))
        .global_secondary_indexes(gsi(most(5)))
        .send()
        .await
        .expect("an on-demand table whose index has a most");
    let described = |db: Client| async move {
        let t = db
            .describe_table()
            .table_name("capped_index")
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert!(t.on_demand_throughput().is_none(), "the table has none");
        t.global_secondary_indexes()[0]
            .on_demand_throughput()
            .map(|m| (m.max_read_request_units(), m.max_write_request_units()))
    };
    assert_eq!(described(db.clone()).await, Some((None, Some(5))));
    // Five write units a second, no burst: a put of fifty into the index is
    // admitted, the next meets it in debt; a put the index does not hold
    // goes on.
    put_sized(&db, "capped_index", "a", Some("x"), 50)
        .await
        .expect("the first put");
    let e = put_sized(&db, "capped_index", "b", Some("x"), 1)
        .await
        .expect_err("past the index's most");
    throttled_by(
        &e,
        "ThrottlingException",
        "IndexWriteMaxOnDemandThroughputExceeded",
        "capped_index/index/by_g",
    );
    put_sized(&db, "capped_index", "c", None, 50)
        .await
        .expect("a put outside the index");
    // Removed with an index Update of -1: described no more, and the puts
    // go on.
    db.update_table()
        .table_name("capped_index")
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .update(
                    UpdateGlobalSecondaryIndexAction::builder()
                        .index_name("by_g")
                        .on_demand_throughput(most(-1))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("remove the index's most");
    assert_eq!(described(db.clone()).await, None);
    for i in 0..3 {
        put_sized(&db, "capped_index", &format!("k{i}"), Some("x"), 10)
            .await
            .expect("no most on the index");
    }
    // Refused on a provisioned table (its index given its units, as there
    // it must be), naming the member; nothing is made.
    let mut provisioned = gsi(most(5));
    provisioned.provisioned_throughput = Some(units(1, 1));
    let e = create_table_request(&db, "prov_index", ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(5, 5))
        .attribute_definitions(string_attribute("g"))
        .global_secondary_indexes(provisioned)
        .send()
        .await
        .expect_err("an index's most on a provisioned table")
        .into_service_error();
    assert!(
        e.message()
            .unwrap_or_default()
            .contains("OnDemandThroughput"),
        "{e:?}"
    );
    assert!(
        db.describe_table()
            .table_name("prov_index")
            .send()
            .await
            .is_err()
    );
    c.shutdown().await;
}
