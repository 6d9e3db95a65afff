//! Multi-account global tables, driven by the real AWS SDK for Rust as the
//! developer guide's *Tutorials: Creating multi-account global tables*
//! does it (docs/replicas.md): account 111122223333 owns MusicTable in
//! us-east-2; account 444455556666 makes its replica in us-east-1 with
//! CreateTable's `GlobalTableSourceArn`, once the source's resource-based
//! policy lets it; each account sees only its own replica; a policy that
//! takes the replication grant back makes the replica
//! `REPLICATION_NOT_AUTHORIZED` and stops replication both ways while both
//! sides take writes, and restoring it brings both sides together.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    GlobalTableSettingsReplicationMode, KeySchemaElement, KeyType, ReplicaStatus,
    ScalarAttributeType, TableStatus,
};
use meridian_proto::v1 as pb;
use meridian_tests::{TestCluster, poll_until};

use crate::cases;
use crate::sdk;
use cases::Cases;
use sdk::*;

const REGIONS: [&str; 3] = ["us-east-2", "us-east-1", "us-west-2"];
const A: &str = "111122223333";
const B: &str = "444455556666";
const WAIT: Duration = Duration::from_secs(30);
const SERVICE: &str = "replication.dynamodb.amazonaws.com";

fn arn(region: &str, account: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{account}:table/MusicTable")
}

/// The tutorial's policy of the replica in `region` of `account`: the
/// replication service may read, write and replicate settings for both
/// replicas; `joiner`, if any, may join.
fn policy(region: &str, account: &str, joiner: Option<&str>) -> String {
    let (source, dest) = (arn(REGIONS[0], A), arn(REGIONS[1], B));
    let me = arn(region, account);
    let join = joiner.map_or(String::new(), |j| {
        format!(
            r#",{{"Sid":"AllowTrustedAccountsToJoinThisGlobalTable","Effect":"Allow","Action":["dynamodb:AssociateTableReplica"],"Resource":"{me}","Principal":{{"AWS":["{j}"]}}}}"#
        )
    });
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DynamoDBActionsNeededForSteadyStateReplication","Effect":"Allow",
        "Action":["dynamodb:ReadDataForReplication","dynamodb:WriteDataForReplication","dynamodb:ReplicateSettings"],
        "Resource":"{me}","Principal":{{"Service":["{SERVICE}"]}},
        "Condition":{{"StringEquals":{{"aws:SourceAccount":["{B}","{A}"],"aws:SourceArn":["{dest}","{source}"]}}}}}}{join}]}}"#
    )
}

async fn status_of(c: &Client) -> Option<TableStatus> {
    c.describe_table()
        .table_name("MusicTable")
        .send()
        .await
        .ok()?
        .table?
        .table_status()
        .cloned()
}

async fn put_policy(c: &Client, region: &str, account: &str, document: &str) {
    c.put_resource_policy()
        .resource_arn(arn(region, account))
        .policy(document)
        .send()
        .await
        .expect("put the policy");
}

/// Polls until `c` reads `key` of MusicTable.
async fn until_found(c: &Client, key: &str, what: &str) {
    poll_until(what, WAIT, || async {
        get(c, "MusicTable", item([("Artist", s(key))]))
            .await
            .is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_another_account_joins_by_policy_and_stops_when_its_policy_says_so() {
    let c = TestCluster::start(&REGIONS).await;
    let a = client_as(c.dynamo_url(0), A);
    let b = client_as(c.dynamo_url(1), B);
    create_table(&a, "MusicTable", ("Artist", ScalarAttributeType::S), None).await;
    for i in 0..5 {
        put(&a, "MusicTable", item([("Artist", s(&format!("a{i}")))])).await;
    }
    // Every region knows the table (a catalog row, replicated as any)
    // before another region is asked to join it.
    let urls: Vec<String> = (0..REGIONS.len()).map(|i| c.url(i)).collect();
    let drained = || async {
        meridian_cluster::wait::wait_quiescent(&urls, None, WAIT)
            .await
            .expect("every link drained")
    };
    drained().await;
    let join = || {
        b.create_table()
            .table_name("MusicTable")
            .global_table_source_arn(arn(REGIONS[0], A))
            .global_table_settings_replication_mode(GlobalTableSettingsReplicationMode::Enabled)
            .resource_policy(policy(REGIONS[1], B, None))
    };

    // Refused before the source lets the account in, and for bad input.
    let mut cases = Cases::new();
    let key = KeySchemaElement::builder()
        .attribute_name("Artist")
        .key_type(KeyType::Hash)
        .build()
        .unwrap();
    let refused = [
        (
            "the source's policy does not let B join",
            join(),
            "AccessDeniedException",
        ),
        (
            "no settings mode",
            b.create_table()
                .table_name("MusicTable")
                .global_table_source_arn(arn(REGIONS[0], A)),
            "ValidationException",
        ),
        (
            "mode DISABLED",
            join().global_table_settings_replication_mode(
                GlobalTableSettingsReplicationMode::Disabled,
            ),
            "ValidationException",
        ),
        (
            "a key schema",
            join().key_schema(key),
            "ValidationException",
        ),
        (
            "a source of another account",
            join().global_table_source_arn(arn(REGIONS[0], B)),
            "ResourceNotFoundException",
        ),
        (
            "another name",
            join().table_name("OtherTable"),
            "ValidationException",
        ),
    ];
    for (what, request, code) in refused {
        let got = request.send().await;
        cases.check(what, || {
            expect_code(got, code, what);
        });
    }
    // B does not see A's table, and A's table is not in B's list.
    let b_there = client_as(c.dynamo_url(0), B);
    let hidden = b_there
        .describe_table()
        .table_name("MusicTable")
        .send()
        .await;
    cases.check("B describes A's table in us-east-2", || {
        expect_code(hidden, "ResourceNotFoundException", "B's DescribeTable");
    });
    let listed = b_there.list_tables().send().await.unwrap();
    cases.check("B lists A's table", || {
        assert_eq!(listed.table_names(), Vec::<String>::new());
    });
    cases.finish();
    assert_eq!(status_of(&b).await, None, "a refused join leaves nothing");

    // The source lets B in, once its policy has reached us-east-1 (a
    // catalog row, replicated as any); B's replica fills and turns ACTIVE.
    put_policy(&a, REGIONS[0], A, &policy(REGIONS[0], A, Some(B))).await;
    drained().await;
    let made = join()
        .send()
        .await
        .expect("join")
        .table_description
        .unwrap();
    assert_eq!(made.table_status(), Some(&TableStatus::Creating));
    assert_eq!(made.table_arn(), Some(arn(REGIONS[1], B).as_str()));
    poll_until("B's replica ACTIVE", WAIT, || async {
        status_of(&b).await == Some(TableStatus::Active)
    })
    .await;
    for i in 0..5 {
        until_found(&b, &format!("a{i}"), "the fill in us-east-1").await;
    }
    let seen = table_of(&a, "MusicTable").await;
    let replica = &seen.replicas()[0];
    assert_eq!(replica.region_name(), Some(REGIONS[1]));
    assert_eq!(replica.replica_arn(), Some(arn(REGIONS[1], B).as_str()));
    assert_eq!(replica.replica_status(), Some(&ReplicaStatus::Active));
    assert_eq!(
        seen.global_table_settings_replication_mode(),
        Some(&GlobalTableSettingsReplicationMode::Enabled)
    );
    let a_in_b = client_as(c.dynamo_url(1), A);
    let hidden = a_in_b
        .get_item()
        .table_name("MusicTable")
        .key("Artist", s("a0"))
        .send()
        .await;
    expect_code(
        hidden,
        "ResourceNotFoundException",
        "A's GetItem of B's replica",
    );
    let b_tables = b.list_tables().send().await.unwrap();
    assert_eq!(b_tables.table_names(), ["MusicTable"]);
    // B's replica is B's resource: tagged by its own ARN.
    let tag = aws_sdk_dynamodb::types::Tag::builder()
        .key("team")
        .value("b")
        .build()
        .unwrap();
    b.tag_resource()
        .resource_arn(arn(REGIONS[1], B))
        .tags(tag)
        .send()
        .await
        .expect("tag B's replica by its ARN");
    put(&b, "MusicTable", item([("Artist", s("b0"))])).await;
    until_found(&a, "b0", "B's write in us-east-2").await;
    // Each account adds and removes its own replica: not ReplicaUpdates.
    let more = a
        .update_table()
        .table_name("MusicTable")
        .replica_updates(replica_create(REGIONS[2]))
        .send()
        .await;
    expect_validation(
        more,
        "multi-account",
        "ReplicaUpdates on a multi-account table",
    );

    // B takes the grant back: its replica is not authorized, both sides
    // take writes, and nothing crosses.
    put_policy(
        &b,
        REGIONS[1],
        B,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"dynamodb:GetItem","Resource":"*"}]}"#,
    )
    .await;
    poll_until("B's replica not authorized", WAIT, || async {
        let mine = status_of(&b).await == Some(TableStatus::ReplicationNotAuthorized);
        let theirs = table_of(&a, "MusicTable").await.replicas()[0].replica_status()
            == Some(&ReplicaStatus::ReplicationNotAuthorized);
        mine && theirs
    })
    .await;
    // Each region works the grants out once it reads the change, B at once
    // and A when B's policy row reaches it: probe both ways until neither
    // side's write reaches the other once every link is drained.
    let deadline = tokio::time::Instant::now() + WAIT;
    for probe in 0.. {
        let (from_a, from_b) = (format!("probe-a{probe}"), format!("probe-b{probe}"));
        put(&a, "MusicTable", item([("Artist", s(&from_a))])).await;
        put(&b, "MusicTable", item([("Artist", s(&from_b))])).await;
        drained().await;
        let crossed_to_b = get(&b, "MusicTable", item([("Artist", s(&from_a))]))
            .await
            .is_some();
        let crossed_to_a = get(&a, "MusicTable", item([("Artist", s(&from_b))]))
            .await
            .is_some();
        if !crossed_to_b && !crossed_to_a {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replication never stopped"
        );
    }
    put(&a, "MusicTable", item([("Artist", s("during-a"))])).await;
    put(&b, "MusicTable", item([("Artist", s("during-b"))])).await;
    drained().await;
    assert!(
        get(&b, "MusicTable", item([("Artist", s("during-a"))]))
            .await
            .is_none()
    );
    assert!(
        get(&a, "MusicTable", item([("Artist", s("during-b"))]))
            .await
            .is_none()
    );
    // Each side counts the other's entries it skipped under their reason:
    // withheld, not paused.
    for (i, peer) in [(0, REGIONS[1]), (1, REGIONS[0])] {
        let status = c
            .admin(i)
            .status(pb::StatusRequest {})
            .await
            .expect("status")
            .into_inner();
        let p = status.peers.iter().find(|p| p.peer == peer).expect("peer");
        assert!(
            p.withheld_skipped > 0 && p.paused_skipped == 0,
            "{}: {p:?}",
            REGIONS[i]
        );
    }

    // The grant comes back: both writes cross, and the replica is ACTIVE.
    put_policy(&b, REGIONS[1], B, &policy(REGIONS[1], B, None)).await;
    until_found(&b, "during-a", "A's write, once granted").await;
    until_found(&a, "during-b", "B's write, once granted").await;
    poll_until("B's replica ACTIVE again", WAIT, || async {
        status_of(&b).await == Some(TableStatus::Active)
    })
    .await;
}
