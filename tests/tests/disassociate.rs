//! Disassociating a replica from its global table, driven by the real AWS
//! SDK for Rust (the developer guide's *Disassociating a global table
//! replica*, docs/dynamodb-compat.md): protection is on until turned off,
//! each request is alone, the replica keeps every item it held and stops
//! replicating both ways, and with two replicas left both become
//! single-Region tables.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    DisassociateReplicationGroupMemberAction, DisassociationMode, ReplicationGroupUpdate,
    ScalarAttributeType, StreamSpecification, TableStatus,
};
use meridian_tests::{TestCluster, poll_until};

use crate::cases;
use crate::sdk;
use cases::Cases;
use sdk::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const WAIT: Duration = Duration::from_secs(30);

fn disassociate(region: &str, mode: DisassociationMode) -> ReplicationGroupUpdate {
    ReplicationGroupUpdate::builder()
        .disassociate(
            DisassociateReplicationGroupMemberAction::builder()
                .region_name(region)
                .disassociation_mode(mode)
                .build()
                .unwrap(),
        )
        .build()
}

/// `c`'s status of `table` and the regions it lists as replicas.
async fn described(c: &Client, table: &str) -> (TableStatus, Vec<String>) {
    let t = table_of(c, table).await;
    let replicas = t
        .replicas()
        .iter()
        .map(|r| r.region_name().unwrap().to_string())
        .collect();
    (t.table_status().unwrap().clone(), replicas)
}

/// Polls until `c` describes `table` `ACTIVE` with exactly `replicas`.
async fn until_described(c: &Client, table: &str, replicas: &[&str], what: &str) {
    poll_until(what, WAIT, || async {
        let (status, listed) = described(c, table).await;
        status == TableStatus::Active && listed == replicas
    })
    .await;
}

/// Polls until every link is connected with nothing pending: what one
/// region wrote has reached every region that would take it.
async fn drained(c: &TestCluster) {
    let urls: Vec<String> = (0..REGIONS.len()).map(|i| c.url(i)).collect();
    meridian_cluster::wait::wait_quiescent(&urls, None, WAIT)
        .await
        .expect("every link drained");
}

async fn set_protection(c: &Client, table: &str, on: bool) {
    c.update_table()
        .table_name(table)
        .disassociation_protection_enabled(on)
        .send()
        .await
        .expect("set disassociation protection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disassociated_replica_keeps_its_items_and_stops_replicating_both_ways() {
    let c = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(c.dynamo_url(i))).collect();
    let (us, eu, ap) = (&cs[0], &cs[1], &cs[2]);
    create_table(us, "orders", ("pk", ScalarAttributeType::S), None).await;
    for region in [REGIONS[1], REGIONS[2]] {
        us.update_table()
            .table_name("orders")
            .replica_updates(replica_create(region))
            .send()
            .await
            .expect("add a replica");
        let there = &cs[REGIONS.iter().position(|r| *r == region).unwrap()];
        poll_until(&format!("{region}'s replica ACTIVE"), WAIT, || async {
            let active = there
                .describe_table()
                .table_name("orders")
                .send()
                .await
                .ok()
                .and_then(|d| d.table)
                .is_some_and(|t| t.table_status() == Some(&TableStatus::Active));
            active && described(us, "orders").await.1.iter().any(|r| r == region)
        })
        .await;
    }
    for i in 0..10 {
        let writer = if i < 5 { us } else { eu };
        put(writer, "orders", item([("pk", s(&format!("k{i}")))])).await;
    }
    drained(&c).await;

    // Protection is on until turned off, and every request stands alone.
    let t = eu
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.table().unwrap().disassociation_protection_enabled(),
        Some(true)
    );
    let split = || {
        eu.update_table()
            .table_name("orders")
            .replica_updates(disassociate(
                REGIONS[1],
                DisassociationMode::WaitForReplication,
            ))
    };
    let mut cases = Cases::new();
    let refused: Vec<Refusal> = vec![
        (
            "with protection on",
            ask(split().send()),
            Says::Has("Disassociation protection is enabled"),
        ),
        (
            "another region's replica",
            ask(eu
                .update_table()
                .table_name("orders")
                .replica_updates(disassociate(
                    REGIONS[0],
                    DisassociationMode::WaitForReplication,
                ))
                .send()),
            Says::Has("its RegionName must be eu-west-1"),
        ),
        (
            "a mode DynamoDB does not have",
            ask(eu
                .update_table()
                .table_name("orders")
                .replica_updates(disassociate(
                    REGIONS[1],
                    DisassociationMode::from("RIGHT_NOW"),
                ))
                .send()),
            Says::Has("Member must satisfy enum value set: [WAIT_FOR_REPLICATION]"),
        ),
        (
            "with another replica update",
            ask(split().replica_updates(replica_create("us-east-2")).send()),
            Says::Has("must be the only replica update"),
        ),
        (
            "with another change",
            ask(split().deletion_protection_enabled(true).send()),
            Says::Has("must be the only change"),
        ),
        (
            "protection with another change",
            ask(eu
                .update_table()
                .table_name("orders")
                .disassociation_protection_enabled(false)
                .deletion_protection_enabled(true)
                .send()),
            Says::Has("must be the only change"),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases.finish();
    until_described(us, "orders", &[REGIONS[2], REGIONS[1]], "nothing changed").await;

    set_protection(eu, "orders", false).await;
    let t = eu
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.table().unwrap().disassociation_protection_enabled(),
        Some(false)
    );
    split()
        .send()
        .await
        .expect("disassociate eu-west-1's replica");
    until_described(eu, "orders", &[], "eu-west-1 a single-Region table").await;
    until_described(
        us,
        "orders",
        &[REGIONS[2]],
        "us-east-1 to list ap-southeast-1 alone",
    )
    .await;

    // It keeps every item it held, and from now on each side keeps its own.
    let held = eu.scan().table_name("orders").send().await.unwrap();
    assert_eq!(held.count(), 10, "{:?}", held.items());
    put(eu, "orders", item([("pk", s("eu-after"))])).await;
    put(us, "orders", item([("pk", s("us-after"))])).await;
    drained(&c).await;
    let has = |cl: &Client, k: &'static str| {
        let cl = cl.clone();
        async move { get(&cl, "orders", item([("pk", s(k))])).await.is_some() }
    };
    assert!(has(eu, "eu-after").await && !has(us, "eu-after").await && !has(ap, "eu-after").await);
    assert!(has(us, "us-after").await && has(ap, "us-after").await && !has(eu, "us-after").await);

    // What both sides share does not change while they are apart.
    let shared = eu
        .update_table()
        .table_name("orders")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await;
    expect_validation(shared, "one definition per table name", "a shared setting");
    let ttl = update_ttl(us, "orders", "exp", true).send().await;
    expect_validation(ttl, "one definition per table name", "TTL");

    // With two replicas left, both become single-Region tables.
    set_protection(ap, "orders", false).await;
    ap.update_table()
        .table_name("orders")
        .replica_updates(disassociate(
            REGIONS[2],
            DisassociationMode::WaitForReplication,
        ))
        .send()
        .await
        .expect("disassociate ap-southeast-1's replica");
    until_described(ap, "orders", &[], "ap-southeast-1 a single-Region table").await;
    until_described(us, "orders", &[], "us-east-1 a single-Region table").await;

    // Deleting one of them deletes it alone.
    eu.delete_table()
        .table_name("orders")
        .send()
        .await
        .expect("DeleteTable of eu-west-1's table");
    poll_until("eu-west-1's table gone", WAIT, || async {
        eu.describe_table()
            .table_name("orders")
            .send()
            .await
            .is_err()
    })
    .await;
    assert!(has(us, "us-after").await && has(ap, "k0").await);
    c.shutdown().await;
}
