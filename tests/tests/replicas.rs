//! Replica sets that change (docs/replicas.md), driven by the real AWS SDK
//! for Rust: UpdateTable's `ReplicaUpdates` adds a replica in a region that
//! held none while writes go on, and removes one; DescribeTable shows
//! `ReplicaStatus` in every region; bad requests get DynamoDB's errors and
//! change nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    DeleteReplicationGroupMemberAction, ReplicaStatus, ReplicationGroupUpdate,
};
use meridian_proto::v1 as pb;
use meridian_tests::{TestCluster, id_table, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// A table held by `replicas` only, made through the admin gRPC API
/// (DynamoDB's CreateTable makes a replica in every region).
async fn table_on(c: &TestCluster, name: &str, replicas: &[&str]) {
    c.client(0)
        .create_table(id_table(name, replicas, "", None))
        .await
        .expect("create table");
}

/// [`table_on`] the first two regions, known everywhere.
async fn two_replica_table(c: &TestCluster, name: &str) {
    table_on(c, name, &REGIONS[..2]).await;
    c.wait_table_everywhere(name).await;
}

/// `region`'s view of the table's replicas: region to status.
async fn replicas(c: &Client, table: &str) -> BTreeMap<String, ReplicaStatus> {
    let t = c
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe")
        .table
        .unwrap();
    t.replicas()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap().to_string(),
                r.replica_status().unwrap().clone(),
            )
        })
        .collect()
}

/// Polls `c`'s DescribeTable until `region`'s replica of `table` is ACTIVE.
async fn wait_active(c: &Client, table: &str, region: &str) {
    poll_until(
        &format!("{region}'s replica of {table} to be ACTIVE"),
        Duration::from_secs(30),
        || async { replicas(c, table).await.get(region) == Some(&ReplicaStatus::Active) },
    )
    .await;
}

fn delete(region: &str) -> ReplicationGroupUpdate {
    ReplicationGroupUpdate::builder()
        .delete(
            DeleteReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

fn row(id: usize, by: &str) -> Item {
    item([("id", s(&format!("k{id:05}"))), ("by", s(by))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_while_writes_go_on_fills_and_becomes_active_everywhere() {
    let c = TestCluster::start(&REGIONS).await;
    let table = "orders";
    two_replica_table(&c, table).await;
    let east = client(c.dynamo_url(0));
    let west = client(c.dynamo_url(1));
    let asia = client(c.dynamo_url(2));
    put_many(&east, table, (0..300).map(|i| row(i, "east"))).await;
    put_many(&west, table, (300..600).map(|i| row(i, "west"))).await;

    // The third region holds no replica: it refuses the table's writes.
    let refused = asia
        .put_item()
        .table_name(table)
        .set_item(Some(row(9, "asia")))
        .send()
        .await;
    expect_code(
        refused,
        "ResourceNotFoundException",
        "a write where the table has no replica",
    );

    // Add it from a region of the table, and keep writing in both others
    // while it fills.
    let out = west
        .update_table()
        .table_name(table)
        .replica_updates(replica_create(REGIONS[2]))
        .send()
        .await
        .expect("add a replica");
    let described = out.table_description.unwrap();
    let statuses: BTreeMap<_, _> = described
        .replicas()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap(),
                r.replica_status().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses.get(REGIONS[2]),
        Some(&ReplicaStatus::Creating),
        "{statuses:?}"
    );
    let writers = async {
        for round in 0..6 {
            let base = 1000 + round * 100;
            put_many(&east, table, (base..base + 50).map(|i| row(i, "east"))).await;
            put_many(
                &west,
                table,
                (base + 50..base + 100).map(|i| row(i, "west")),
            )
            .await;
        }
    };
    writers.await;

    // ACTIVE in the other regions' descriptions once the new replica
    // filled (a region's own description lists the others, as DynamoDB's).
    for i in 0..2 {
        wait_active(&client(c.dynamo_url(i)), table, REGIONS[2]).await;
    }
    let own = replicas(&asia, table).await;
    assert_eq!(
        own.keys().map(String::as_str).collect::<Vec<_>>(),
        [REGIONS[1], REGIONS[0]],
        "ap-southeast-1 lists the others"
    );
    // It holds every write acknowledged anywhere, before and during the fill.
    c.wait_quiescent(table, Duration::from_secs(30))
        .await
        .expect("the three replicas agree");
    assert_eq!(c.heads(2, table).len(), 1200);
    // And it takes writes of its own, which reach the others.
    asia.put_item()
        .table_name(table)
        .set_item(Some(row(7, "asia")))
        .send()
        .await
        .expect("write at the new replica");
    poll_until(
        "the new replica's write to reach us-east-1",
        Duration::from_secs(20),
        || async {
            get(&east, table, item([("id", s("k00007"))]))
                .await
                .is_some_and(|i| i["by"] == s("asia"))
        },
    )
    .await;
    let status = c
        .admin(2)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let fill = status
        .fills
        .iter()
        .find(|f| f.table == table)
        .expect("the fill is reported");
    assert!(fill.items >= 600, "{fill:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_replica_refuses_writes_deletes_its_copy_and_the_others_go_on() {
    // CreateTable makes the table in every region at once here.
    let c = TestCluster::start_global(&REGIONS).await;
    let table = "carts";
    let east = client(c.dynamo_url(0));
    let west = client(c.dynamo_url(1));
    create_table(
        &east,
        table,
        ("id", aws_sdk_dynamodb::types::ScalarAttributeType::S),
        None,
    )
    .await;
    c.wait_table_everywhere(table).await;
    put_many(&west, table, (0..200).map(|i| row(i, "west"))).await;

    east.update_table()
        .table_name(table)
        .replica_updates(delete(REGIONS[1]))
        .send()
        .await
        .expect("remove a replica");
    for i in [0, 2] {
        let who = client(c.dynamo_url(i));
        poll_until(
            "the removed replica to be gone from the description",
            Duration::from_secs(30),
            || async { !replicas(&who, table).await.contains_key(REGIONS[1]) },
        )
        .await;
    }
    poll_until(
        "eu-west-1 to delete its copy",
        Duration::from_secs(30),
        || async { c.heads(1, table).is_empty() },
    )
    .await;
    let refused = west
        .put_item()
        .table_name(table)
        .set_item(Some(row(1, "west")))
        .send()
        .await;
    expect_code(
        refused,
        "ResourceNotFoundException",
        "a write where the table has no replica",
    );
    let status = c
        .admin(1)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        status.removals.iter().any(|r| r.table == table),
        "{:?}",
        status.removals
    );

    // The remaining replicas keep every write and keep replicating.
    east.put_item()
        .table_name(table)
        .set_item(Some(row(500, "east")))
        .send()
        .await
        .unwrap();
    let urls = vec![c.url(0), c.url(2)];
    meridian_cluster::wait::wait_quiescent(&urls, Some(table), Duration::from_secs(30))
        .await
        .expect("the two replicas left agree");
    assert_eq!(c.heads(2, table).len(), 201);
    assert!(
        c.heads(1, table).is_empty(),
        "a removed replica takes no writes"
    );

    // Added again, it fills once more.
    east.update_table()
        .table_name(table)
        .replica_updates(replica_create(REGIONS[1]))
        .send()
        .await
        .expect("add it back");
    wait_active(&east, table, REGIONS[1]).await;
    c.wait_quiescent(table, Duration::from_secs(30))
        .await
        .expect("all three agree");
    assert_eq!(c.heads(1, table).len(), 201);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_replica_updates_get_dynamodbs_errors_and_change_nothing() {
    let c = TestCluster::start(&REGIONS).await;
    let table = "bad";
    two_replica_table(&c, table).await;
    let east = client(c.dynamo_url(0));
    let before = replicas(&east, table).await;
    let update = |u: ReplicationGroupUpdate| {
        east.update_table()
            .table_name(table)
            .replica_updates(u)
            .send()
    };
    expect_validation(
        update(replica_create(REGIONS[0])).await,
        "Cannot add, delete, or update the local region through ReplicaUpdates",
        "the local region",
    );
    expect_validation(
        update(replica_create(REGIONS[1])).await,
        "one or more replicas already existed as tables",
        "a replica that exists",
    );
    expect_validation(
        update(replica_create("sa-east-1")).await,
        "Region sa-east-1 is not a region of this cluster; its regions are",
        "an unknown region",
    );
    // DynamoDB's whole message, no parameter-error prefix (docs/replicas.md).
    Says::Is(
        "Update global table operation failed because one or more replicas were not part of the global table. Please retry the request without these replicas: [ap-southeast-1].",
    )
    .check(
        &expect_code(
            update(delete(REGIONS[2])).await,
            "ValidationException",
            "a replica that does not exist",
        ),
        "a replica that does not exist",
    );
    let both = east
        .update_table()
        .table_name(table)
        .replica_updates(replica_create(REGIONS[2]))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await;
    expect_validation(
        both,
        "cannot be combined with BillingMode",
        "two kinds of change",
    );
    assert_eq!(replicas(&east, table).await, before, "nothing changed");

    // The last replica: where the table has no replica it does not
    // exist, as in DynamoDB; in its own region it is the local one.
    table_on(&c, "lonely", &[REGIONS[0]]).await;
    c.wait_table_everywhere("lonely").await;
    let asia = client(c.dynamo_url(2));
    let last = asia
        .update_table()
        .table_name("lonely")
        .replica_updates(delete(REGIONS[0]))
        .send()
        .await;
    expect_code(
        last,
        "ResourceNotFoundException",
        "the last replica, from a region without one",
    );
    let local = east
        .update_table()
        .table_name("lonely")
        .replica_updates(delete(REGIONS[0]))
        .send()
        .await;
    expect_validation(
        local,
        "Cannot add, delete, or update the local region",
        "the last replica, from its region",
    );
    assert!(
        replicas(&east, "lonely").await.is_empty(),
        "a table held by its region alone lists no replicas"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_started_after_the_others_joins_a_live_table() {
    let mut c = TestCluster::start(&REGIONS).await;
    // ap-southeast-1 has never run: no data directory at all.
    c.crash(2).await;
    c.wipe(2);
    let table = "late";
    table_on(&c, table, &REGIONS[..2]).await;
    let east = client(c.dynamo_url(0));
    put_many(&east, table, (0..400).map(|i| row(i, "east"))).await;
    east.update_table()
        .table_name(table)
        .replica_updates(replica_create(REGIONS[2]))
        .send()
        .await
        .expect("add a replica in a region that is not running");
    // It stays CREATING while the region is down.
    assert_eq!(
        replicas(&east, table).await.get(REGIONS[2]),
        Some(&ReplicaStatus::Creating)
    );
    c.restart(2).await;
    put_many(&east, table, (400..500).map(|i| row(i, "east"))).await;
    wait_active(&east, table, REGIONS[2]).await;
    c.wait_quiescent(table, Duration::from_secs(30))
        .await
        .expect("the three replicas agree");
    assert_eq!(c.heads(2, table).len(), 500);
    c.shutdown().await;
}
