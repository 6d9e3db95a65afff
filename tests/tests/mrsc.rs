//! Multi-Region strong consistency through the DynamoDB API, driven by the
//! real AWS SDK for Rust, following AWS's own flow (docs/strong.md): a
//! table made by CreateTable lives in its region alone, UpdateTable with
//! `ReplicaUpdates`, `GlobalTableWitnessUpdates` and
//! `MultiRegionConsistency: STRONG` makes it a STRONG global table, every
//! rule DynamoDB states is refused with its exception and changes nothing,
//! strongly consistent reads anywhere see the latest write, and two regions
//! racing on one key meet `ReplicatedWriteConflictException`.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    CreateGlobalTableWitnessGroupMemberAction, DeleteGlobalTableWitnessGroupMemberAction,
    DeleteReplicationGroupMemberAction, GlobalTableWitnessGroupUpdate, MultiRegionConsistency,
    ReplicationGroupUpdate, ScalarAttributeType, TransactWriteItem, WitnessStatus,
};
use meridian_cluster::http;
use meridian_tests::{TestCluster, poll_until};

use crate::cases;
use crate::sdk;
use cases::Cases;
use sdk::*;

/// AWS's own example's Regions, one Region set (US), as DynamoDB's
/// endpoint requires of a STRONG table's members.
const REGIONS: [&str; 3] = ["us-east-1", "us-east-2", "us-west-2"];

fn witness(region: &str) -> GlobalTableWitnessGroupUpdate {
    GlobalTableWitnessGroupUpdate::builder()
        .create(
            CreateGlobalTableWitnessGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

/// A hand-made DynamoDB POST: its status and body.
async fn raw_post(addr: std::net::SocketAddr, target: &str, body: &str) -> (u16, String) {
    let r = http::request(
        &http::Target::at(&addr.to_string(), "/"),
        "POST",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target),
        ],
        body.as_bytes().to_vec(),
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .expect("an answer within 10 s");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// Makes `name` through `east` (us-east-1's endpoint) and turns it STRONG
/// with a replica in us-east-2 and a witness in us-west-2, as AWS's
/// example does.
async fn make_strong(east: &Client, name: &str) {
    create_table(east, name, ("pk", ScalarAttributeType::S), None).await;
    east.update_table()
        .table_name(name)
        .replica_updates(replica_create(REGIONS[1]))
        .global_table_witness_updates(witness(REGIONS[2]))
        .multi_region_consistency(MultiRegionConsistency::Strong)
        .send()
        .await
        .expect("make the table STRONG");
}

/// [`make_strong`], then waits until every member votes.
async fn strong_table(c: &TestCluster, name: &str) {
    make_strong(&client(c.dynamo_url(0)), name).await;
    c.wait_strong(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_flow_makes_a_strong_table_whose_consistent_reads_see_the_latest_write_anywhere() {
    let c = TestCluster::start(&REGIONS).await;
    let (east, west, witness_region) = (
        client(c.dynamo_url(0)),
        client(c.dynamo_url(1)),
        client(c.dynamo_url(2)),
    );

    // Before UpdateTable the table lives in us-east-1 alone.
    create_table(&east, "music", ("pk", ScalarAttributeType::S), None).await;
    let t = east
        .describe_table()
        .table_name("music")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(t.replicas.is_none(), "a one-region table lists no replicas");
    assert!(t.global_table_version.is_none());
    for other in [&west, &witness_region] {
        expect_code(
            other.describe_table().table_name("music").send().await,
            "ResourceNotFoundException",
            "DescribeTable where the table has no replica",
        );
        expect_code(
            other
                .get_item()
                .table_name("music")
                .key("pk", s("a"))
                .send()
                .await,
            "ResourceNotFoundException",
            "GetItem where the table has no replica",
        );
    }
    let listed = west.list_tables().send().await.unwrap();
    assert!(
        !listed.table_names().contains(&"music".to_string()),
        "ListTables in a region without a replica: {listed:?}"
    );

    east.update_table()
        .table_name("music")
        .replica_updates(replica_create(REGIONS[1]))
        .global_table_witness_updates(witness(REGIONS[2]))
        .multi_region_consistency(MultiRegionConsistency::Strong)
        .send()
        .await
        .expect("make the table STRONG");
    let t = east
        .describe_table()
        .table_name("music")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        t.multi_region_consistency(),
        Some(&MultiRegionConsistency::Strong)
    );
    assert_eq!(t.global_table_version(), Some("2019.11.21"));
    let regions: Vec<&str> = t
        .replicas()
        .iter()
        .filter_map(|r| r.region_name())
        .collect();
    assert_eq!(regions, [REGIONS[1]], "the other replicas, not this region");
    let w = t.global_table_witnesses();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].region_name(), Some(REGIONS[2]));
    assert_eq!(w[0].witness_status(), Some(&WitnessStatus::Active));

    // The replica learns the table and its mode; the witness never holds it.
    poll_until(
        "us-east-2 to describe music",
        Duration::from_secs(20),
        || async {
            west.describe_table()
                .table_name("music")
                .send()
                .await
                .ok()
                .and_then(|d| d.table)
                .is_some_and(|t| {
                    t.multi_region_consistency() == Some(&MultiRegionConsistency::Strong)
                        && t.replicas()
                            .iter()
                            .any(|r| r.region_name() == Some(REGIONS[0]))
                })
        },
    )
    .await;
    expect_code(
        witness_region
            .get_item()
            .table_name("music")
            .key("pk", s("a"))
            .send()
            .await,
        "ResourceNotFoundException",
        "a witness is never read",
    );

    // Wait for the members to settle, then: a write in one region is read
    // at once by a strongly consistent read in the other, with no polling.
    c.wait_strong("music").await;
    for n in 0..5 {
        put(&east, "music", item([("pk", s("song")), ("n", self::n(n))])).await;
        let got = west
            .get_item()
            .table_name("music")
            .key("pk", s("song"))
            .consistent_read(true)
            .send()
            .await
            .expect("consistent read")
            .item
            .expect("the item, at once");
        assert_eq!(got.get("n"), Some(&self::n(n)), "write {n}");
    }
    // A condition is checked against the latest write, never a stale copy.
    expect_code(
        west.put_item()
            .table_name("music")
            .item("pk", s("song"))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await,
        "ConditionalCheckFailedException",
        "a conditional write against an item written in another region",
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mrsc_rules_are_refused_with_dynamodbs_errors_and_change_nothing() {
    let c = TestCluster::start(&REGIONS).await;
    let east = client(c.dynamo_url(0));
    create_table(&east, "rules", ("pk", ScalarAttributeType::S), None).await;
    let make = || {
        east.update_table()
            .table_name("rules")
            .multi_region_consistency(MultiRegionConsistency::Strong)
    };
    // The request AWS's example sends: a replica in us-east-2, a witness in
    // us-west-2.
    let aws_example = || {
        make()
            .replica_updates(replica_create(REGIONS[1]))
            .global_table_witness_updates(witness(REGIONS[2]))
    };
    let mut cases = Cases::new();
    let rules: Vec<Refusal> = vec![
        (
            "two members",
            ask(make().replica_updates(replica_create(REGIONS[1])).send()),
            Says::Has("exactly three Regions"),
        ),
        (
            "two witness updates",
            ask(aws_example()
                .global_table_witness_updates(witness(REGIONS[1]))
                .send()),
            Says::Has("only one witness per UpdateTable"),
        ),
        (
            "a witness that is also a replica",
            ask(make()
                .replica_updates(replica_create(REGIONS[1]))
                .global_table_witness_updates(witness(REGIONS[1]))
                .send()),
            Says::Has("other than the table's replicas"),
        ),
        (
            "a region in no Region set",
            ask(make()
                .replica_updates(replica_create("sa-east-1"))
                .global_table_witness_updates(witness(REGIONS[2]))
                .send()),
            Says::Has("sa-east-1 is in no Region set"),
        ),
        (
            "members across Region sets",
            ask(make()
                .replica_updates(replica_create("eu-west-1"))
                .global_table_witness_updates(witness(REGIONS[2]))
                .send()),
            Says::Has("us-east-1 is not in the EU Region set of eu-west-1"),
        ),
        (
            "MultiRegionConsistency alone",
            ask(east
                .update_table()
                .table_name("rules")
                .multi_region_consistency(MultiRegionConsistency::Strong)
                .send()),
            Says::Has("only when ReplicaUpdates"),
        ),
        (
            "a witness on an EVENTUAL global table",
            ask(east
                .update_table()
                .table_name("rules")
                .replica_updates(replica_create(REGIONS[1]))
                .global_table_witness_updates(witness(REGIONS[2]))
                .send()),
            Says::Has("witness belongs only"),
        ),
    ];
    cases.refused("ValidationException", rules).await;
    // A table with items, then one with TTL on, cannot become STRONG.
    put(&east, "rules", item([("pk", s("x"))])).await;
    expect_validation(
        aws_example().send().await,
        "must be empty",
        "a table with items",
    );
    east.delete_item()
        .table_name("rules")
        .key("pk", s("x"))
        .send()
        .await
        .unwrap();
    update_ttl(&east, "rules", "exp", true)
        .send()
        .await
        .unwrap();
    expect_validation(
        aws_example().send().await,
        "Time to Live",
        "a table with TTL on",
    );
    // Nothing changed: still a table of us-east-1 alone.
    let t = east
        .describe_table()
        .table_name("rules")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert!(t.replicas.is_none() && t.multi_region_consistency.is_none());
    let (status, body) = raw_post(
        c.nodes[0].dynamo_addr,
        "DynamoDB_20120810.UpdateTable",
        r#"{"TableName":"rules","ReplicaUpdates":[{"Create":{"RegionName":"us-east-2"}}],"MultiRegionConsistency":"SOMETIMES"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("ValidationException")
            && body.contains("Member must satisfy enum value set: [EVENTUAL, STRONG]"),
        "an unknown mode: {body}"
    );

    // A STRONG table's members go two at a time, never one alone; its
    // features stay as they are.
    strong_table(&c, "fixed").await;
    let remove = |r: &str| {
        east.update_table().table_name("fixed").replica_updates(
            ReplicationGroupUpdate::builder()
                .delete(
                    DeleteReplicationGroupMemberAction::builder()
                        .region_name(r)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
    };
    let witness_delete = |r: &str| {
        GlobalTableWitnessGroupUpdate::builder()
            .delete(
                DeleteGlobalTableWitnessGroupMemberAction::builder()
                    .region_name(r)
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let put_req = aws_sdk_dynamodb::types::Put::builder()
        .table_name("fixed")
        .item("pk", s("t"))
        .build()
        .unwrap();
    let second = client(c.dynamo_url(1));
    let unchanged: Vec<Refusal> = vec![
        (
            "removing one replica alone",
            ask(remove(REGIONS[1]).send()),
            Says::Has("two at a time"),
        ),
        (
            "removing the witness alone",
            ask(east
                .update_table()
                .table_name("fixed")
                .global_table_witness_updates(witness_delete(REGIONS[2]))
                .send()),
            Says::Has("cannot delete a single witness"),
        ),
        (
            "removing a region that is not the witness as the witness",
            ask(remove(REGIONS[1])
                .global_table_witness_updates(witness_delete(REGIONS[1]))
                .send()),
            Says::Has("not the witness"),
        ),
        (
            "removing the witness as a replica",
            ask(remove(REGIONS[2]).send()),
            Says::Has("is the witness"),
        ),
        (
            "adding a replica",
            ask(east
                .update_table()
                .table_name("fixed")
                .replica_updates(replica_create("us-east-2"))
                .send()),
            Says::Has("No replica can be added"),
        ),
        (
            "DeleteTable of one replica",
            ask(east.delete_table().table_name("fixed").send()),
            Says::Has("alone"),
        ),
        (
            "DeleteTable of the other replica",
            ask(second.delete_table().table_name("fixed").send()),
            Says::Has("alone"),
        ),
        (
            "TTL on a STRONG table",
            ask(update_ttl(&east, "fixed", "exp", true).send()),
            Says::Has("Time to Live"),
        ),
        (
            "a transaction on a STRONG table",
            ask(east
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put_req).build())
                .send()),
            Says::Has("Transactions are not supported"),
        ),
    ];
    cases.refused("ValidationException", unchanged).await;
    let t = east
        .describe_table()
        .table_name("fixed")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.replicas().len(), 1);
    assert_eq!(t.global_table_witnesses().len(), 1);
    cases.finish();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_racing_on_a_key_meet_replicated_write_conflicts_and_lose_no_update() {
    let c = TestCluster::start(&REGIONS).await;
    strong_table(&c, "race").await;
    let (east, west) = (no_retry(c.dynamo_url(0)), no_retry(c.dynamo_url(1)));
    put(&east, "race", item([("pk", s("hot")), ("n", n(0))])).await;

    // Each region adds 1 to the counter `ROUNDS` times, both at once,
    // retrying each add until it is taken: the total is every add, and
    // some adds met a conflict on the way.
    const ROUNDS: u32 = 20;
    let adds = |c: Client| async move {
        let mut conflicts = 0u32;
        for _ in 0..ROUNDS {
            let mut tries = 0;
            loop {
                tries += 1;
                assert!(tries <= 200, "an add never taken");
                let r = c
                    .update_item()
                    .table_name("race")
                    .key("pk", s("hot"))
                    .update_expression("ADD n :one")
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await;
                match r {
                    Ok(_) => break,
                    Err(e) if e.code() == Some("ReplicatedWriteConflictException") => {
                        conflicts += 1;
                    }
                    Err(e) if e.code() == Some("ThrottlingException") => {}
                    Err(e) => panic!("add: {e:?}"),
                }
            }
        }
        conflicts
    };
    let (a, b) = tokio::join!(adds(east.clone()), adds(west.clone()));
    let got = east
        .get_item()
        .table_name("race")
        .key("pk", s("hot"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(got.get("n"), Some(&n(2 * ROUNDS)), "no add lost");
    assert!(
        a + b > 0,
        "two regions adding to one key at once met no ReplicatedWriteConflictException"
    );
    // Each region counts, per table, the conflicts it answered (admin
    // Status, which the dashboard's Tables view shows).
    for (i, seen) in [(0, a), (1, b)] {
        let status = c
            .admin(i)
            .status(meridian_proto::v1::StatusRequest {})
            .await
            .unwrap()
            .into_inner();
        let race = status.strong.iter().find(|t| t.table == "race").unwrap();
        assert_eq!(race.write_conflicts, u64::from(seen), "{}", REGIONS[i]);
    }
    c.shutdown().await;
}

/// Every write path of the DynamoDB API goes through a STRONG table's log
/// (BatchWriteItem's puts and deletes, PartiQL's INSERT, UPDATE and DELETE
/// from either replica), each seen at once by a strongly consistent read
/// in the other replica; and the tables DynamoDB never makes STRONG (one
/// with a local secondary index, one that has replicas already) are
/// refused with its words, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_goes_through_the_log_and_what_cannot_be_strong_is_refused() {
    use aws_sdk_dynamodb::types::{KeyType, LocalSecondaryIndex};
    let c = TestCluster::start(&REGIONS).await;
    strong_table(&c, "paths").await;
    let (east, west) = (client(c.dynamo_url(0)), client(c.dynamo_url(1)));
    let consistent = |c: &Client, key: &str| {
        let (c, key) = (c.clone(), key.to_string());
        async move {
            c.get_item()
                .table_name("paths")
                .key("pk", s(&key))
                .consistent_read(true)
                .send()
                .await
                .expect("a strongly consistent read")
                .item
                .and_then(|i| i.get("v").cloned())
        }
    };

    put(&east, "paths", item([("pk", s("gone")), ("v", n(0))])).await;
    let batch = east
        .batch_write_item()
        .request_items(
            "paths",
            vec![
                put_req(item([("pk", s("b1")), ("v", n(1))])),
                put_req(item([("pk", s("b2")), ("v", n(2))])),
                delete_req(item([("pk", s("gone"))])),
            ],
        )
        .send()
        .await
        .expect("BatchWriteItem on a STRONG table");
    assert!(
        batch.unprocessed_items().is_none_or(|u| u.is_empty()),
        "{batch:?}"
    );
    assert_eq!(consistent(&west, "b1").await, Some(n(1)));
    assert_eq!(consistent(&west, "b2").await, Some(n(2)));
    assert_eq!(consistent(&west, "gone").await, None);

    let statement = |c: &Client, text: &str| {
        let (c, text) = (c.clone(), text.to_string());
        async move {
            c.execute_statement()
                .statement(&text)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{text}: {e:?}"));
        }
    };
    statement(&east, r#"INSERT INTO "paths" VALUE {'pk': 'q', 'v': 1}"#).await;
    assert_eq!(consistent(&west, "q").await, Some(n(1)));
    statement(&west, r#"UPDATE "paths" SET v = 2 WHERE pk = 'q'"#).await;
    assert_eq!(consistent(&east, "q").await, Some(n(2)));
    statement(&east, r#"DELETE FROM "paths" WHERE pk = 'q'"#).await;
    assert_eq!(consistent(&west, "q").await, None);

    // A table with a local secondary index cannot become STRONG.
    create_table_request(
        &east,
        "withlsi",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .attribute_definitions(string_attribute("alt"))
    .local_secondary_indexes(
        LocalSecondaryIndex::builder()
            .index_name("by_alt")
            .key_schema(key_element("pk", KeyType::Hash))
            .key_schema(key_element("alt", KeyType::Range))
            .projection(project_all())
            .build()
            .unwrap(),
    )
    .send()
    .await
    .expect("a table with a local secondary index");
    let make_strong = |table: &str, create: &str| {
        east.update_table()
            .table_name(table)
            .replica_updates(replica_create(create))
            .global_table_witness_updates(witness(REGIONS[2]))
            .multi_region_consistency(MultiRegionConsistency::Strong)
            .send()
    };
    expect_validation(
        make_strong("withlsi", REGIONS[1]).await,
        "Local secondary indexes are not supported on multi-Region strongly consistent global tables",
        "a table with a local secondary index",
    );

    // Nor can a table that is an EVENTUAL global table already.
    create_table(&east, "already", ("pk", ScalarAttributeType::S), None).await;
    east.update_table()
        .table_name("already")
        .replica_updates(replica_create(REGIONS[1]))
        .send()
        .await
        .expect("an EVENTUAL replica in us-east-2");
    expect_validation(
        east.update_table()
            .table_name("already")
            .replica_updates(replica_create(REGIONS[2]))
            .multi_region_consistency(MultiRegionConsistency::Strong)
            .send()
            .await,
        "this table already has replicas in other Regions",
        "a table with replicas already",
    );
    for table in ["withlsi", "already"] {
        let t = east
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        assert_ne!(
            t.multi_region_consistency(),
            Some(&MultiRegionConsistency::Strong),
            "{table} stays as it was"
        );
        assert!(t.global_table_witnesses().is_empty(), "{table}");
    }
    c.shutdown().await;
}

/// A STRONG table takes writes as soon as it is described `ACTIVE`, in the
/// region that made it and in its other replica once that describes it:
/// its members' first election is the region's to wait for, within a
/// request's bounded wait, not the client's to see as `InternalServerError`
/// (3 of 9 fresh tables refused their first write so, for up to 2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strong_table_takes_its_first_writes_as_soon_as_it_is_active() {
    let c = TestCluster::start(&REGIONS).await;
    let (east, west) = (no_retry(c.dynamo_url(0)), no_retry(c.dynamo_url(1)));
    for t in 0..6 {
        let name = format!("fresh{t}");
        make_strong(&east, &name).await;
        let described = east
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(
            described.table.unwrap().table_status(),
            Some(&aws_sdk_dynamodb::types::TableStatus::Active)
        );
        let t0 = std::time::Instant::now();
        east.put_item()
            .table_name(&name)
            .item("pk", s("east"))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{name}'s first write in us-east-1 after {:?}: {e:?}",
                    t0.elapsed()
                )
            });
        poll_until(
            &format!("us-east-2 to describe {name} ACTIVE"),
            Duration::from_secs(20),
            || async {
                west.describe_table()
                    .table_name(&name)
                    .send()
                    .await
                    .ok()
                    .and_then(|d| d.table)
                    .is_some_and(|t| {
                        t.table_status() == Some(&aws_sdk_dynamodb::types::TableStatus::Active)
                    })
            },
        )
        .await;
        west.put_item()
            .table_name(&name)
            .item("pk", s("west"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}'s first write in us-east-2: {e:?}"));
    }
    c.shutdown().await;
}

/// AWS's tutorial *Deleting an MRSC global table*: UpdateTable sent to the
/// replica that stays removes the other replica and the witness in one
/// request, which leaves a single-Region table holding every write any
/// region acknowledged; it then takes writes alone, and DeleteTable takes
/// it as any table's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_two_members_leaves_a_single_region_table_with_every_write() {
    let c = TestCluster::start(&REGIONS).await;
    strong_table(&c, "music").await;
    let (east, stays) = (client(c.dynamo_url(0)), client(c.dynamo_url(1)));
    for i in 0..10 {
        let (writer, origin) = if i % 2 == 0 {
            (&east, "east")
        } else {
            (&stays, "stays")
        };
        put(
            writer,
            "music",
            item([("pk", s(&format!("k{i}"))), ("by", s(origin))]),
        )
        .await;
    }
    let t = stays
        .update_table()
        .table_name("music")
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .delete(
                    DeleteReplicationGroupMemberAction::builder()
                        .region_name(REGIONS[0])
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .global_table_witness_updates(
            GlobalTableWitnessGroupUpdate::builder()
                .delete(
                    DeleteGlobalTableWitnessGroupMemberAction::builder()
                        .region_name(REGIONS[2])
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("remove a replica and the witness together")
        .table_description
        .unwrap();
    assert!(t.global_table_witnesses().is_empty(), "{t:?}");
    // Every write acknowledged before the removal is in the table that stays.
    let scanned = stays
        .scan()
        .table_name("music")
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count(), 10, "{:?}", scanned.items());
    // The removed replica goes; the one that stays lists no replica and is
    // no longer STRONG.
    poll_until(
        "us-east-1 to drop its replica",
        Duration::from_secs(20),
        || async {
            east.describe_table()
                .table_name("music")
                .send()
                .await
                .is_err_and(|e| e.code() == Some("ResourceNotFoundException"))
        },
    )
    .await;
    poll_until(
        "us-east-2 to describe a single-Region table",
        Duration::from_secs(20),
        || async {
            let t = stays
                .describe_table()
                .table_name("music")
                .send()
                .await
                .unwrap()
                .table
                .unwrap();
            t.replicas.is_none() && t.multi_region_consistency.is_none()
        },
    )
    .await;
    // It takes writes alone, and is deleted as any single-Region table.
    put(
        &stays,
        "music",
        item([("pk", s("after")), ("by", s("stays"))]),
    )
    .await;
    assert!(
        get(&stays, "music", item([("pk", s("after"))]))
            .await
            .is_some()
    );
    stays
        .delete_table()
        .table_name("music")
        .send()
        .await
        .expect("DeleteTable of the single-Region table left");
    c.shutdown().await;
}
