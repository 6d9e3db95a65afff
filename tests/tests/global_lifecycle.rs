//! A global table's life as DynamoDB runs it in 2026, driven by the real
//! AWS SDK for Rust (docs/dynamodb-compat.md, *Global tables*): the
//! version 2017.11.29 API creates nothing and knows no table, a replica
//! added turns the table's stream on and keeps it on, and a replica still
//! being created answers as a table that is not `ACTIVE` yet.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    CreateReplicaAction, Replica, ReplicaUpdate, ReplicationGroupUpdate, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus,
};
use meridian_tests::{TestCluster, id_table, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// DynamoDB's refusal of a new version 2017.11.29 global table.
const NOT_SUPPORTED: &str = "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is not supported. We recommend using DynamoDB global tables version 2019.11.21, instead of version 2017.11.29 (Legacy).";

fn group(regions: &[&str]) -> Vec<Replica> {
    regions
        .iter()
        .map(|r| Replica::builder().region_name(*r).build())
        .collect()
}

fn remove(region: &str) -> ReplicationGroupUpdate {
    ReplicationGroupUpdate::builder()
        .delete(
            aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

/// [`table_of`]: its status, its stream (view type when on) and the
/// regions it lists as replicas.
async fn described(c: &Client, table: &str) -> (TableStatus, Option<StreamViewType>, Vec<String>) {
    let t = table_of(c, table).await;
    let stream = t
        .stream_specification()
        .filter(|s| s.stream_enabled())
        .and_then(|s| s.stream_view_type().cloned());
    let replicas = t
        .replicas()
        .iter()
        .map(|r| r.region_name().unwrap().to_string())
        .collect();
    (t.table_status().unwrap().clone(), stream, replicas)
}

/// Adds a replica of `table` in `region` through `c`'s UpdateTable.
async fn add_replica(c: &Client, table: &str, region: &str) {
    c.update_table()
        .table_name(table)
        .replica_updates(replica_create(region))
        .send()
        .await
        .expect("add a replica");
}

fn stream(enabled: bool, view: Option<StreamViewType>) -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(enabled)
        .set_stream_view_type(view)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2017_api_creates_no_global_table_and_finds_none() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    let east = &cs[0];
    create_table(east, "solo", ("id", ScalarAttributeType::S), None).await;
    // A global table of version 2019.11.21: a table with two replicas.
    create_table(east, "world", ("id", ScalarAttributeType::S), None).await;
    add_replica(east, "world", REGIONS[1]).await;
    poll_until(
        "world's eu-west-1 replica",
        Duration::from_secs(30),
        || async {
            cs[1]
                .describe_table()
                .table_name("world")
                .send()
                .await
                .is_ok()
        },
    )
    .await;

    let create = |c: &Client, table: &str, regions: &[&str]| {
        c.create_global_table()
            .global_table_name(table)
            .set_replication_group(Some(group(regions)))
            .send()
    };
    for (c, table) in [(east, "solo"), (east, "world"), (&cs[2], "missing")] {
        let msg = expect_code(
            create(c, table, &REGIONS[..2]).await,
            "ValidationException",
            table,
        );
        assert_eq!(msg, NOT_SUPPORTED, "{table}");
    }
    // Bad input is named before the refusal.
    expect_validation(
        create(east, "ab", &REGIONS[..2]).await,
        "at 'globalTableName' failed to satisfy constraint",
        "a name too short",
    );
    expect_validation(
        create(east, "solo", &["us-east-1", "not a region"]).await,
        "ReplicationGroup[1].RegionName: \"not a region\" is not a region name",
        "a region name that is none",
    );

    // No table is a version 2017.11.29 global table.
    for t in ["solo", "world", "missing"] {
        let msg = expect_code(
            east.describe_global_table()
                .global_table_name(t)
                .send()
                .await,
            "GlobalTableNotFoundException",
            t,
        );
        assert_eq!(
            msg,
            format!("Global table not found: Global table with name: '{t}' does not exist.")
        );
        expect_code(
            east.describe_global_table_settings()
                .global_table_name(t)
                .send()
                .await,
            "GlobalTableNotFoundException",
            t,
        );
    }
    let listed = east.list_global_tables().send().await.unwrap();
    assert!(listed.global_tables().is_empty(), "{listed:?}");
    let listed = cs[1]
        .list_global_tables()
        .region_name(REGIONS[1])
        .send()
        .await
        .unwrap();
    assert!(listed.global_tables().is_empty(), "{listed:?}");
    expect_validation(
        east.list_global_tables().limit(0).send().await,
        "limit",
        "a limit of 0",
    );
    let add = ReplicaUpdate::builder()
        .create(
            CreateReplicaAction::builder()
                .region_name(REGIONS[2])
                .build()
                .unwrap(),
        )
        .build();
    expect_code(
        east.update_global_table()
            .global_table_name("world")
            .replica_updates(add)
            .send()
            .await,
        "GlobalTableNotFoundException",
        "UpdateGlobalTable",
    );
    expect_validation(
        east.update_global_table()
            .global_table_name("world")
            .set_replica_updates(Some(Vec::new()))
            .send()
            .await,
        "at 'replicaUpdates' failed to satisfy constraint",
        "no replica update",
    );
    expect_validation(
        east.update_global_table_settings()
            .global_table_name("world")
            .global_table_provisioned_write_capacity_units(0)
            .send()
            .await,
        "Value '0' at 'globalTableProvisionedWriteCapacityUnits' failed to satisfy constraint",
        "0 write units",
    );
    expect_code(
        east.update_global_table_settings()
            .global_table_name("world")
            .global_table_provisioned_write_capacity_units(5)
            .send()
            .await,
        "GlobalTableNotFoundException",
        "UpdateGlobalTableSettings",
    );

    // Nothing changed: world has its two replicas, solo none.
    let (_, _, replicas) = described(east, "world").await;
    assert_eq!(replicas, [REGIONS[1]], "us-east-1 lists the others");
    let (_, _, replicas) = described(east, "solo").await;
    assert!(replicas.is_empty(), "{replicas:?}");
    for c in &cs[1..] {
        expect_code(
            c.describe_table().table_name("solo").send().await,
            "ResourceNotFoundException",
            "solo elsewhere",
        );
    }
    expect_code(
        cs[2].describe_table().table_name("world").send().await,
        "ResourceNotFoundException",
        "world in ap-southeast-1",
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_turns_the_stream_on_and_it_stays_on_while_the_table_is_global() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    let east = &cs[0];
    create_table(east, "plain", ("id", ScalarAttributeType::S), None).await;
    create_table_request(east, "keys", ("id", ScalarAttributeType::S), None)
        .stream_specification(stream(true, Some(StreamViewType::KeysOnly)))
        .send()
        .await
        .expect("create keys");
    assert_eq!(described(east, "plain").await.1, None);

    add_replica(east, "plain", REGIONS[1]).await;
    add_replica(east, "keys", REGIONS[1]).await;
    // No stream: one with both images; a stream already on keeps its view.
    assert_eq!(
        described(east, "plain").await.1,
        Some(StreamViewType::NewAndOldImages)
    );
    assert_eq!(
        described(east, "keys").await.1,
        Some(StreamViewType::KeysOnly)
    );
    let t = table_of(east, "plain").await;
    assert!(t.latest_stream_arn().is_some(), "{t:?}");
    poll_until("plain's stream in eu-west-1", Duration::from_secs(30), || async {
        matches!(
            cs[1].describe_table().table_name("plain").send().await,
            Ok(d) if d.table.as_ref().and_then(|t| t.stream_specification()).is_some_and(|s| s.stream_enabled())
        )
    })
    .await;

    // No region may turn it off while the table has replicas elsewhere.
    for c in &cs[..2] {
        let msg = expect_code(
            c.update_table()
                .table_name("plain")
                .stream_specification(stream(false, None))
                .send()
                .await,
            "ValidationException",
            "disabling a global table's stream",
        );
        assert_eq!(
            msg,
            "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica."
        );
    }
    assert_eq!(
        described(east, "plain").await.1,
        Some(StreamViewType::NewAndOldImages)
    );

    // Back to one region, the table's stream is its own to turn off.
    east.update_table()
        .table_name("plain")
        .replica_updates(remove(REGIONS[1]))
        .send()
        .await
        .expect("remove the replica");
    poll_until(
        "plain back to one region",
        Duration::from_secs(30),
        || async { described(east, "plain").await.2.is_empty() },
    )
    .await;
    east.update_table()
        .table_name("plain")
        .stream_specification(stream(false, None))
        .send()
        .await
        .expect("a regional table's stream turns off");
    assert_eq!(described(east, "plain").await.1, None);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_being_created_answers_as_a_table_not_yet_active() {
    let mut cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    cluster
        .client(0)
        .create_table(id_table("orders", &REGIONS[..2], "", None))
        .await
        .expect("create table");
    cluster.wait_table_everywhere("orders").await;
    put(&cs[0], "orders", item([("id", s("a"))])).await;
    // eu-west-1 down: the new replica cannot fill from every replica, so
    // it stays CREATING.
    cluster.crash(1).await;
    add_replica(&cs[0], "orders", REGIONS[2]).await;
    let asia = &cs[2];
    poll_until(
        "ap-southeast-1 to describe its replica CREATING",
        Duration::from_secs(30),
        || async {
            matches!(
                asia.describe_table().table_name("orders").send().await,
                Ok(d) if d.table.as_ref().and_then(|t| t.table_status()) == Some(&TableStatus::Creating)
            )
        },
    )
    .await;
    // As DynamoDB answers for a table that is not ACTIVE: not found.
    let key = || item([("id", s("a"))]);
    let what = "an item request to a replica being created";
    expect_code(
        asia.get_item()
            .table_name("orders")
            .set_key(Some(key()))
            .send()
            .await,
        "ResourceNotFoundException",
        what,
    );
    expect_code(
        asia.put_item()
            .table_name("orders")
            .set_item(Some(item([("id", s("b"))])))
            .send()
            .await,
        "ResourceNotFoundException",
        what,
    );
    expect_code(
        asia.scan().table_name("orders").send().await,
        "ResourceNotFoundException",
        what,
    );
    expect_code(
        asia.query()
            .table_name("orders")
            .key_condition_expression("id = :a")
            .expression_attribute_values(":a", s("a"))
            .send()
            .await,
        "ResourceNotFoundException",
        what,
    );
    expect_code(
        asia.execute_statement()
            .statement("SELECT * FROM orders")
            .send()
            .await,
        "ResourceNotFoundException",
        what,
    );
    // Once it has filled it is ACTIVE and serves.
    cluster.restart(1).await;
    poll_until(
        "ap-southeast-1's replica ACTIVE",
        Duration::from_secs(30),
        || async { described(asia, "orders").await.0 == TableStatus::Active },
    )
    .await;
    assert!(get(asia, "orders", key()).await.is_some());
    cluster.shutdown().await;
}

/// Pauses table `paused`'s replication at `REGIONS[1]` for `duration_ms`
/// after `tail_ms`, as `meridian net pause-replication` installs it: in
/// every region of the two-region cluster.
async fn pause_everywhere(cluster: &TestCluster, duration_ms: u64, tail_ms: u64) {
    for i in 0..2 {
        cluster
            .admin(i)
            .pause_replication(meridian_proto::v1::PauseReplicationRequest {
                table: "paused".into(),
                region: REGIONS[1].into(),
                duration_ms,
                tail_ms,
            })
            .await
            .expect("pause");
    }
}

/// While replication of a global table is paused, as an FIS experiment
/// pauses it, no region takes a change of the table's settings (AWS's
/// core concepts page, *Fault injection testing*: not during an MRSC
/// experiment, "similar to MREC"); once the pause is over, they take it
/// again. Another table's settings change meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_table_takes_no_settings_change_until_the_pause_ends() {
    use aws_sdk_dynamodb::types::BillingMode;
    let cluster = TestCluster::start(&REGIONS[..2]).await;
    let cs: Vec<Client> = (0..2).map(|i| client(cluster.dynamo_url(i))).collect();
    for table in ["paused", "other"] {
        create_table(&cs[0], table, ("id", ScalarAttributeType::S), None).await;
        add_replica(&cs[0], table, REGIONS[1]).await;
    }
    pause_everywhere(&cluster, 3_000, 500).await;
    let to_provisioned = |c: &Client, table: &str| {
        c.update_table()
            .table_name(table)
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(
                aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                    .read_capacity_units(5)
                    .write_capacity_units(5)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    // In its tail too: the experiment is under way.
    for c in &cs {
        let msg = expect_code(
            to_provisioned(c, "paused").await,
            "ResourceInUseException",
            "a settings change while the table's replication is paused",
        );
        assert!(
            msg.contains("replication of table paused is paused"),
            "{msg}"
        );
    }
    to_provisioned(&cs[0], "other")
        .await
        .expect("another table's settings change");
    poll_until(
        "the paused table's settings change once the pause ends",
        Duration::from_secs(30),
        || async { to_provisioned(&cs[0], "paused").await.is_ok() },
    )
    .await;
}

/// A repair round moves nothing of a paused table between its replica and
/// a peer (AWS FIS's pause stops the table's replication to the replica,
/// whatever the path): a round run on demand, as the periodic ones and
/// those after a reconnect are, leaves the paused replica without the
/// peer's write, while another table's write crosses; once the pause
/// ends, the write arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_round_moves_nothing_of_a_paused_table_until_the_pause_ends() {
    use meridian_proto::v1 as pb;
    let cluster = TestCluster::start(&REGIONS[..2]).await;
    let cs: Vec<Client> = (0..2).map(|i| client(cluster.dynamo_url(i))).collect();
    // Whether region 1 holds item `id` of `table` yet; a replica still
    // being made there answers ResourceNotFoundException, which is "not yet".
    let held = async |table: &str, id: &str| {
        cs[1]
            .get_item()
            .table_name(table)
            .set_key(Some(item([("id", s(id))])))
            .consistent_read(true)
            .send()
            .await
            .is_ok_and(|o| o.item.is_some())
    };
    // Both tables replicate to region 1 before the pause.
    for table in ["paused", "other"] {
        create_table(&cs[0], table, ("id", ScalarAttributeType::S), None).await;
        add_replica(&cs[0], table, REGIONS[1]).await;
        put(&cs[0], table, item([("id", s("before"))])).await;
        poll_until(
            "a write before the pause in region 1",
            Duration::from_secs(10),
            || held(table, "before"),
        )
        .await;
    }
    pause_everywhere(&cluster, 4_000, 0).await;
    for table in ["paused", "other"] {
        put(&cs[0], table, item([("id", s("during"))])).await;
    }
    poll_until(
        "the other table's write in the paused replica's region",
        Duration::from_secs(10),
        || held("other", "during"),
    )
    .await;
    let reports = cluster
        .admin(1)
        .repair(pb::RepairRequest::default())
        .await
        .expect("repair")
        .into_inner();
    assert!(
        reports.tables.iter().all(|t| t.table != "paused"),
        "a round compared the paused table: {reports:?}"
    );
    assert!(
        reports.tables.iter().any(|t| t.table == "other"),
        "the round left the other table out: {reports:?}"
    );
    assert!(
        !held("paused", "during").await,
        "a repair round moved the paused table's write"
    );
    poll_until(
        "the paused table's write once the pause ends",
        Duration::from_secs(30),
        || held("paused", "during"),
    )
    .await;
}

/// Adds a replica of `table` in `region` through `c`'s UpdateTable,
/// naming its KMS key `key`.
async fn add_keyed_replica(c: &Client, table: &str, region: &str, key: &str) {
    let create = aws_sdk_dynamodb::types::CreateReplicationGroupMemberAction::builder()
        .region_name(region)
        .kms_master_key_id(key)
        .build()
        .unwrap();
    c.update_table()
        .table_name(table)
        .replica_updates(ReplicationGroupUpdate::builder().create(create).build())
        .send()
        .await
        .expect("add a replica with its KMS key");
}

/// Each region's `Replicas`, by region, with the `KMSMasterKeyId` each
/// describes (`None`: none), once every region lists both others.
async fn replica_keys(cs: &[Client], table: &str) -> Vec<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for (i, c) in cs.iter().enumerate() {
        let listed = |t: &aws_sdk_dynamodb::types::TableDescription| {
            t.replicas()
                .iter()
                .map(|r| {
                    (
                        r.region_name().unwrap().to_string(),
                        r.kms_master_key_id().map(str::to_string),
                    )
                })
                .collect::<Vec<_>>()
        };
        poll_until(
            &format!("{} to list both other replicas", REGIONS[i]),
            Duration::from_secs(30),
            || async {
                match c.describe_table().table_name(table).send().await {
                    Ok(d) => d.table.is_some_and(|t| listed(&t).len() == 2),
                    Err(_) => false,
                }
            },
        )
        .await;
        out.push(listed(&table_of(c, table).await));
    }
    out
}

/// LocalStack's `test_global_tables_version_2019`: replicas added with
/// their own `KMSMasterKeyId` are described with it (ReplicaDescription)
/// in every region, the one added without a key with none, also after a
/// region restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicas_kms_key_is_described_in_every_region() {
    let mut cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    let asia = &cs[2];
    create_table(asia, "keyed", ("id", ScalarAttributeType::S), None).await;
    add_keyed_replica(asia, "keyed", REGIONS[0], "foo").await;
    add_keyed_replica(asia, "keyed", REGIONS[1], "bar").await;
    let key = |k: &str| Some(k.to_string());
    let expected = vec![
        // us-east-1 lists eu-west-1 and ap-southeast-1 (made with the
        // table: no key named, none described), and so on.
        vec![
            (REGIONS[1].to_string(), key("bar")),
            (REGIONS[2].to_string(), None),
        ],
        vec![
            (REGIONS[2].to_string(), None),
            (REGIONS[0].to_string(), key("foo")),
        ],
        vec![
            (REGIONS[1].to_string(), key("bar")),
            (REGIONS[0].to_string(), key("foo")),
        ],
    ];
    let sorted = |mut v: Vec<Vec<(String, Option<String>)>>| {
        v.iter_mut().for_each(|r| r.sort());
        v
    };
    let want = sorted(expected);
    assert_eq!(sorted(replica_keys(&cs, "keyed").await), want);

    // Kept in the replica rows: a restarted region describes the same.
    cluster.crash(1).await;
    cluster.restart(1).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    assert_eq!(sorted(replica_keys(&cs, "keyed").await), want);
}
