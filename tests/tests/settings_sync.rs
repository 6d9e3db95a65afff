//! Which settings DynamoDB synchronizes between the replicas of a global
//! table and which stay a replica's own, and the table shapes DescribeTable
//! gives them, driven by the real AWS SDK for Rust. Synchronized: billing
//! mode, provisioned throughput, TTL, the stream, global indexes (with
//! their own throughput). Per replica: table class, encryption, deletion
//! protection. A synchronized change made later from the same region, once
//! seen elsewhere, is the proof that a per-replica change before it would
//! have been seen too, had it been replicated (a region's log is applied
//! in order).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    GlobalTableSettingsReplicationMode, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, SseStatus, SseType, StreamSpecification, StreamViewType,
    TableClass, TableDescription, TimeToLiveStatus, UpdateGlobalSecondaryIndexAction,
};
use meridian_netsim::Registry;
use meridian_scenario::scenario::{Action, PartitionKind};
use meridian_tests::{TestCluster, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

async fn describe(c: &Client, table: &str) -> TableDescription {
    c.describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("a table")
}

/// The table's provisioned `(read, write)` units as `c`'s region describes them.
async fn throughput(c: &Client, table: &str) -> (i64, i64) {
    let d = describe(c, table).await;
    let tp = d.provisioned_throughput().expect("ProvisionedThroughput");
    (
        tp.read_capacity_units().unwrap(),
        tp.write_capacity_units().unwrap(),
    )
}

async fn set_throughput(c: &Client, table: &str, read: i64, write: i64) {
    c.update_table()
        .table_name(table)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(read, write))
        .send()
        .await
        .expect("update throughput");
}

async fn eventually(what: &str, f: impl AsyncFn() -> bool) {
    poll_until(what, Duration::from_secs(30), || f()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronized_settings_reach_every_replica_and_per_replica_ones_stay() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    let created = create_table_request(&east, "sync", ("pk", ScalarAttributeType::S), None)
        .table_class(TableClass::StandardInfrequentAccess)
        .sse_specification(
            SseSpecification::builder()
                .enabled(true)
                .kms_master_key_id("k-1")
                .build(),
        )
        .deletion_protection_enabled(true)
        .send()
        .await
        .expect("create table")
        .table_description
        .unwrap();
    let class = created.table_class_summary().expect("TableClassSummary");
    assert_eq!(
        class.table_class(),
        Some(&TableClass::StandardInfrequentAccess)
    );
    assert!(class.last_update_date_time().is_none());
    cluster.wait_table_everywhere("sync").await;

    // This replica's own: class, encryption and protection, with the
    // global table's settings mode on the table and each replica.
    let d = describe(&east, "sync").await;
    assert_eq!(
        d.table_class_summary().and_then(|c| c.table_class()),
        Some(&TableClass::StandardInfrequentAccess)
    );
    let sse = d.sse_description().expect("SSEDescription");
    assert_eq!(sse.status(), Some(&SseStatus::Enabled));
    assert_eq!(sse.sse_type(), Some(&SseType::Kms));
    assert_eq!(
        sse.kms_master_key_arn(),
        Some("arn:aws:kms:us-east-1:000000000000:key/k-1")
    );
    assert_eq!(d.deletion_protection_enabled(), Some(true));
    assert_eq!(
        d.global_table_settings_replication_mode(),
        Some(&GlobalTableSettingsReplicationMode::EnabledWithOverrides)
    );
    assert_eq!(
        d.replicas()[0].global_table_settings_replication_mode(),
        Some(&GlobalTableSettingsReplicationMode::EnabledWithOverrides)
    );
    // The other replica has none of them.
    let w = describe(&west, "sync").await;
    assert!(w.table_class_summary().is_none(), "{w:?}");
    assert!(w.sse_description().is_none(), "{w:?}");
    assert_eq!(w.deletion_protection_enabled(), Some(false));

    // Synchronized: billing and throughput, TTL and the stream, from
    // either side.
    set_throughput(&east, "sync", 5, 6).await;
    eventually("the throughput in eu-west-1", async || {
        throughput(&west, "sync").await == (5, 6)
    })
    .await;
    update_ttl(&east, "sync", "expires", true)
        .send()
        .await
        .expect("TTL on");
    eventually("TTL in eu-west-1", async || {
        let ttl = west
            .describe_time_to_live()
            .table_name("sync")
            .send()
            .await
            .unwrap();
        ttl.time_to_live_description()
            .and_then(|t| t.time_to_live_status())
            == Some(&TimeToLiveStatus::Enabled)
    })
    .await;
    west.update_table()
        .table_name("sync")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::KeysOnly)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("stream on");
    eventually("the stream in us-east-1", async || {
        describe(&east, "sync")
            .await
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            == Some(&StreamViewType::KeysOnly)
    })
    .await;

    // Per replica: a class changed in eu-west-1, then a synchronized
    // change after it; once that arrives, us-east-1's class is its own.
    let changed = west
        .update_table()
        .table_name("sync")
        .table_class(TableClass::Standard)
        .send()
        .await
        .expect("class change")
        .table_description
        .unwrap();
    let class = changed.table_class_summary().expect("TableClassSummary");
    assert_eq!(class.table_class(), Some(&TableClass::Standard));
    assert!(class.last_update_date_time().is_some());
    set_throughput(&west, "sync", 7, 8).await;
    eventually("the later throughput in us-east-1", async || {
        throughput(&east, "sync").await == (7, 8)
    })
    .await;
    assert_eq!(
        describe(&east, "sync")
            .await
            .table_class_summary()
            .and_then(|c| c.table_class()),
        Some(&TableClass::StandardInfrequentAccess)
    );

    // KMS with no key named: DynamoDB's AWS managed key, as a key ARN of
    // the replica's region, the same each time.
    east.update_table()
        .table_name("sync")
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .send()
        .await
        .expect("encryption by the AWS managed key");
    let d = describe(&east, "sync").await;
    let sse = d.sse_description().expect("SSEDescription");
    assert_eq!(sse.sse_type(), Some(&SseType::Kms));
    let arn = sse.kms_master_key_arn().unwrap();
    assert!(
        arn.starts_with("arn:aws:kms:us-east-1:000000000000:key/") && arn.len() == 75,
        "{arn}"
    );

    // Back to DynamoDB's default, an AWS owned key: no description.
    east.update_table()
        .table_name("sync")
        .sse_specification(SseSpecification::builder().enabled(false).build())
        .send()
        .await
        .expect("encryption by an AWS owned key");
    assert!(describe(&east, "sync").await.sse_description().is_none());

    // Bad values are refused by name.
    expect_validation(
        east.update_table()
            .table_name("sync")
            .table_class(TableClass::from("COLD"))
            .send()
            .await,
        "Value 'COLD' at 'tableClass' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]",
        "an unknown table class",
    );
    expect_validation(
        create_table_request(&east, "sse-bad", ("pk", ScalarAttributeType::S), None)
            .sse_specification(
                SseSpecification::builder()
                    .sse_type(SseType::from("DES"))
                    .build(),
            )
            .send()
            .await,
        "Value 'DES' at 'sSESpecification.sSEType' failed to satisfy constraint",
        "an unknown SSE type",
    );
    expect_validation(
        create_table_request(&east, "sse-bad", ("pk", ScalarAttributeType::S), None)
            .sse_specification(
                SseSpecification::builder()
                    .sse_type(SseType::Aes256)
                    .build(),
            )
            .send()
            .await,
        "One or more parameter values were invalid: SSEType AES256 is not supported",
        "AES256",
    );
    cluster.shutdown().await;
}

/// CreateTable's shapes as DynamoDB records them: `BillingModeSummary`
/// only for a table that is or was on demand (the API reference: "You may
/// need to switch to on-demand mode at least once in order to return a
/// BillingModeSummary response"; AWS's recording of a table created with
/// `BillingMode: PROVISIONED` named has none: LocalStack's
/// test_gsi_with_billing_mode[PROVISIONED], recorded 2025-10-08), and a
/// provisioned global index's own
/// throughput, kept and described as given and synchronized with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_summary_and_index_throughput_are_described_as_given() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    let key = |name: &str, ty| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(ty)
            .build()
            .unwrap()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    // No BillingMode: provisioned, and no summary.
    east.create_table()
        .table_name("implicit")
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("g"))
        .provisioned_throughput(units(5, 5))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byg")
                .key_schema(key("g", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .provisioned_throughput(units(2, 3))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create without a billing mode");
    cluster.wait_table_everywhere("implicit").await;
    for (region, c) in [("us-east-1", &east), ("eu-west-1", &west)] {
        let d = describe(c, "implicit").await;
        assert!(d.billing_mode_summary().is_none(), "{region}: {d:?}");
        let tp = d.global_secondary_indexes()[0]
            .provisioned_throughput()
            .unwrap();
        assert_eq!(
            (tp.read_capacity_units(), tp.write_capacity_units()),
            (Some(2), Some(3)),
            "{region}: the index's own units"
        );
        assert_eq!(throughput(c, "implicit").await, (5, 5), "{region}");
    }
    // A change of mode names one.
    east.update_table()
        .table_name("implicit")
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("to on demand");
    eventually("on demand in eu-west-1", async || {
        let d = describe(&west, "implicit").await;
        d.billing_mode_summary().and_then(|b| b.billing_mode()) == Some(&BillingMode::PayPerRequest)
            && d.global_secondary_indexes()[0]
                .provisioned_throughput()
                .and_then(|t| t.read_capacity_units())
                == Some(0)
    })
    .await;
    // Back to provisioned: on demand once, so still described, as provisioned.
    east.update_table()
        .table_name("implicit")
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(4, 4))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .update(
                    UpdateGlobalSecondaryIndexAction::builder()
                        .index_name("byg")
                        .provisioned_throughput(units(2, 2))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("back to provisioned");
    eventually("provisioned again in eu-west-1", async || {
        describe(&west, "implicit")
            .await
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            == Some(&BillingMode::Provisioned)
    })
    .await;
    // PROVISIONED named at creation: still no summary, as AWS records.
    create_table_request(&east, "explicit", ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(1, 1))
        .send()
        .await
        .expect("create with a billing mode");
    let d = describe(&east, "explicit").await;
    assert!(d.billing_mode_summary().is_none(), "{d:?}");
    assert!(
        d.global_table_settings_replication_mode().is_some(),
        "a global table"
    );
    cluster.shutdown().await;
}

/// Two regions change one synchronized setting while cut off from each
/// other: once the link heals both hold the later change. The settings
/// are one last-writer-wins row of the catalog, so the change with the
/// greater version (its hybrid clock time, then its region's name) wins
/// everywhere, as a later item write would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_a_synchronized_setting_converge_on_the_later() {
    let net = Registry::new();
    let cluster = TestCluster::start_through_global(&REGIONS, &net).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    create_table_request(&east, "race", ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(1, 1))
        .send()
        .await
        .expect("create table");
    cluster.wait_table_everywhere("race").await;
    let faults = cluster.faults(&net).await;
    faults
        .apply(&Action::Isolate {
            region: REGIONS[1].into(),
            kind: PartitionKind::Blackhole,
        })
        .await
        .unwrap();
    set_throughput(&east, "race", 2, 2).await;
    set_throughput(&west, "race", 3, 3).await;
    // Cut off, each holds its own.
    assert_eq!(throughput(&east, "race").await, (2, 2));
    assert_eq!(throughput(&west, "race").await, (3, 3));
    net.reset().await.unwrap();
    poll_until(
        "both regions on the later change",
        Duration::from_secs(90),
        || async {
            throughput(&east, "race").await == (3, 3) && throughput(&west, "race").await == (3, 3)
        },
    )
    .await;
    cluster.shutdown().await;
}
