//! The global tables API of version 2017.11.29, driven by the real AWS SDK
//! for Rust: CreateGlobalTable makes a one-region table a global table
//! through the replica set (docs/replicas.md), DescribeGlobalTable and
//! ListGlobalTables report it from any region, UpdateGlobalTable adds and
//! removes replicas, the settings operations read and change the table's
//! settings, and every precondition is refused with DynamoDB's error.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BillingMode, CreateReplicaAction, DeleteReplicaAction, GlobalSecondaryIndex,
    GlobalTableGlobalSecondaryIndexSettingsUpdate, GlobalTableStatus, KeyType, Replica,
    ReplicaSettingsUpdate, ReplicaStatus, ReplicaUpdate, ScalarAttributeType, StreamSpecification,
    StreamViewType,
};
use meridian_tests::{TestCluster, poll_until};

mod sdk;
use sdk::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

fn group(regions: &[&str]) -> Vec<Replica> {
    regions
        .iter()
        .map(|r| Replica::builder().region_name(*r).build())
        .collect()
}

fn add(region: &str) -> ReplicaUpdate {
    ReplicaUpdate::builder()
        .create(
            CreateReplicaAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

fn remove(region: &str) -> ReplicaUpdate {
    ReplicaUpdate::builder()
        .delete(
            DeleteReplicaAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

/// A table in `c`'s region, keyed by `id`, with its stream on in `view`.
async fn streamed_table(c: &Client, name: &str, view: Option<StreamViewType>) {
    let mut req = create_table_request(c, name, ("id", ScalarAttributeType::S), None);
    if let Some(view) = view {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        );
    }
    req.send().await.expect("create table");
}

/// `c`'s view of the global table: its status and each region's replica
/// status, by region; `None` while `c`'s region does not know it as a
/// global table yet (the change replicates to it).
async fn described(
    c: &Client,
    name: &str,
) -> Option<(GlobalTableStatus, Vec<(String, ReplicaStatus)>)> {
    let d = match c
        .describe_global_table()
        .global_table_name(name)
        .send()
        .await
    {
        Ok(out) => out.global_table_description.unwrap(),
        Err(e) => {
            expect_code(Err::<(), _>(e), "GlobalTableNotFoundException", "not yet");
            return None;
        }
    };
    assert_eq!(d.global_table_name(), Some(name));
    assert_eq!(
        d.global_table_arn(),
        Some(format!("arn:aws:dynamodb::000000000000:global-table/{name}").as_str())
    );
    assert!(d.creation_date_time().is_some());
    let group = d
        .replication_group()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap().to_string(),
                r.replica_status().unwrap().clone(),
            )
        })
        .collect();
    Some((d.global_table_status().unwrap().clone(), group))
}

/// Polls `c` until the global table is ACTIVE with every region of
/// `regions` ACTIVE, and no other.
async fn wait_group(c: &Client, name: &str, regions: &[&str]) {
    // The group is listed by region name.
    let mut want: Vec<(String, ReplicaStatus)> = regions
        .iter()
        .map(|r| (r.to_string(), ReplicaStatus::Active))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    poll_until(
        &format!("global table {name} ACTIVE in {regions:?}"),
        Duration::from_secs(30),
        || async { described(c, name).await == Some((GlobalTableStatus::Active, want.clone())) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_becomes_global_and_changes_replicas_through_the_2017_api() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    let (east, west, asia) = (&cs[0], &cs[1], &cs[2]);
    let name = "music";
    streamed_table(east, name, Some(StreamViewType::NewAndOldImages)).await;

    // Not global yet: a table of one region.
    expect_code(
        west.describe_global_table()
            .global_table_name(name)
            .send()
            .await,
        "GlobalTableNotFoundException",
        "a one-region table is no global table",
    );
    let made = east
        .create_global_table()
        .global_table_name(name)
        .set_replication_group(Some(group(&REGIONS[..2])))
        .send()
        .await
        .expect("create global table")
        .global_table_description
        .unwrap();
    assert_eq!(
        made.global_table_status(),
        Some(&GlobalTableStatus::Creating)
    );
    let regions: Vec<&str> = made
        .replication_group()
        .iter()
        .filter_map(|r| r.region_name())
        .collect();
    assert_eq!(regions, vec!["eu-west-1", "us-east-1"]);
    // Every region describes it, the one without a replica included.
    wait_group(west, name, &REGIONS[..2]).await;
    wait_group(asia, name, &REGIONS[..2]).await;

    // It is a global table like any other: writes replicate.
    put(east, name, item([("id", s("a")), ("v", n(1))])).await;
    poll_until(
        "the write in eu-west-1",
        Duration::from_secs(20),
        || async { get(west, name, item([("id", s("a"))])).await.is_some() },
    )
    .await;
    expect_code(
        east.create_global_table()
            .global_table_name(name)
            .set_replication_group(Some(group(&REGIONS[..2])))
            .send()
            .await,
        "GlobalTableAlreadyExistsException",
        "the table is global already",
    );

    // ListGlobalTables, whole and by region.
    let listed = |c: &Client, region: Option<&str>| {
        let (c, region) = (c.clone(), region.map(str::to_string));
        async move {
            c.list_global_tables()
                .set_region_name(region)
                .send()
                .await
                .expect("list global tables")
                .global_tables()
                .iter()
                .map(|g| {
                    let regions: Vec<String> = g
                        .replication_group()
                        .iter()
                        .filter_map(|r| r.region_name().map(str::to_string))
                        .collect();
                    (g.global_table_name().unwrap().to_string(), regions)
                })
                .collect::<Vec<_>>()
        }
    };
    let both = vec!["eu-west-1".to_string(), "us-east-1".to_string()];
    assert_eq!(
        listed(asia, None).await,
        vec![(name.to_string(), both.clone())]
    );
    assert_eq!(
        listed(east, Some("eu-west-1")).await,
        vec![(name.to_string(), both)]
    );
    assert_eq!(listed(east, Some("ap-southeast-1")).await, vec![]);

    // UpdateGlobalTable: replicas that exist, and ones that do not.
    expect_code(
        west.update_global_table()
            .global_table_name(name)
            .replica_updates(add("eu-west-1"))
            .send()
            .await,
        "ReplicaAlreadyExistsException",
        "a region that holds a replica",
    );
    expect_code(
        west.update_global_table()
            .global_table_name(name)
            .replica_updates(remove("ap-southeast-1"))
            .send()
            .await,
        "ReplicaNotFoundException",
        "a region without a replica",
    );
    expect_code(
        west.update_global_table()
            .global_table_name("nothing")
            .replica_updates(add("ap-southeast-1"))
            .send()
            .await,
        "GlobalTableNotFoundException",
        "an unknown global table",
    );
    west.update_global_table()
        .global_table_name(name)
        .replica_updates(add("ap-southeast-1"))
        .send()
        .await
        .expect("add a replica");
    wait_group(east, name, &REGIONS).await;
    // The new replica was filled from the others.
    assert!(get(asia, name, item([("id", s("a"))])).await.is_some());
    east.update_global_table()
        .global_table_name(name)
        .replica_updates(remove("ap-southeast-1"))
        .send()
        .await
        .expect("remove a replica");
    wait_group(west, name, &REGIONS[..2]).await;
    wait_group(east, name, &REGIONS[..2]).await;

    // Settings: the table's, in every replica; changing them changes the
    // table's.
    let settings = |c: &Client| {
        let c = c.clone();
        async move {
            c.describe_global_table_settings()
                .global_table_name(name)
                .send()
                .await
                .expect("describe settings")
                .replica_settings()
                .iter()
                .map(|r| {
                    (
                        r.region_name().to_string(),
                        r.replica_billing_mode_summary()
                            .and_then(|b| b.billing_mode().cloned()),
                        r.replica_provisioned_read_capacity_units(),
                        r.replica_provisioned_write_capacity_units(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let on_demand = |r: &str| {
        (
            r.to_string(),
            Some(BillingMode::PayPerRequest),
            Some(0),
            Some(0),
        )
    };
    assert_eq!(
        settings(east).await,
        vec![on_demand("eu-west-1"), on_demand("us-east-1")]
    );
    expect_validation(
        east.update_global_table_settings()
            .global_table_name(name)
            .replica_settings_update(
                ReplicaSettingsUpdate::builder()
                    .region_name("eu-west-1")
                    .replica_provisioned_read_capacity_units(5)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "ReplicaSettingsUpdate is not supported",
        "a replica's own settings",
    );
    east.update_global_table_settings()
        .global_table_name(name)
        .global_table_billing_mode(BillingMode::Provisioned)
        .global_table_provisioned_write_capacity_units(7)
        .send()
        .await
        .expect("update settings");
    let provisioned = |r: &str| {
        (
            r.to_string(),
            Some(BillingMode::Provisioned),
            Some(1),
            Some(7),
        )
    };
    assert_eq!(
        settings(east).await,
        vec![provisioned("eu-west-1"), provisioned("us-east-1")]
    );
    poll_until(
        "the settings change in eu-west-1",
        Duration::from_secs(20),
        || async {
            let t = west
                .describe_table()
                .table_name(name)
                .send()
                .await
                .unwrap()
                .table
                .unwrap();
            t.provisioned_throughput()
                .and_then(|p| p.write_capacity_units())
                == Some(7)
        },
    )
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_global_table_refuses_what_dynamodb_refuses_and_changes_nothing() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..3).map(|i| client(cluster.dynamo_url(i))).collect();
    let east = &cs[0];
    streamed_table(east, "plain", None).await;
    streamed_table(east, "keys", Some(StreamViewType::KeysOnly)).await;
    streamed_table(east, "full", Some(StreamViewType::NewAndOldImages)).await;
    put(east, "full", item([("id", s("x"))])).await;
    streamed_table(east, "empty", Some(StreamViewType::NewAndOldImages)).await;
    let create = |c: &Client, table: &str, regions: &[&str]| {
        c.create_global_table()
            .global_table_name(table)
            .set_replication_group(Some(group(regions)))
            .send()
    };
    expect_validation(
        create(east, "plain", &REGIONS[..2]).await,
        "must have DynamoDB Streams enabled with StreamViewType NEW_AND_OLD_IMAGES",
        "a table without a stream",
    );
    expect_validation(
        create(east, "keys", &REGIONS[..2]).await,
        "its stream is KEYS_ONLY",
        "a stream of another view type",
    );
    expect_validation(
        create(east, "full", &REGIONS[..2]).await,
        "must be empty to become a global table; it holds 1 items",
        "a table with items",
    );
    expect_validation(
        create(east, "empty", &REGIONS[1..]).await,
        "ReplicationGroup must name us-east-1",
        "a group without the region asked",
    );
    expect_validation(
        create(east, "empty", &REGIONS[..1]).await,
        "at least 2 regions",
        "a group of one region",
    );
    expect_validation(
        create(east, "empty", &["us-east-1", "eu-west-1", "us-east-1"]).await,
        "ReplicationGroup names us-east-1 twice",
        "a region named twice",
    );
    expect_code(
        create(&cs[1], "empty", &REGIONS[..2]).await,
        "TableNotFoundException",
        "a region that does not hold the table",
    );
    expect_code(
        create(east, "missing", &REGIONS[..2]).await,
        "TableNotFoundException",
        "a table that does not exist",
    );
    let nothing = create(east, "empty", &["us-east-1", "mars-north-9"]).await;
    let msg = expect_code(
        nothing,
        "ValidationException",
        "a region outside the cluster",
    );
    assert!(
        msg.contains("mars-north-9 is not a region of this cluster"),
        "{msg}"
    );
    // Nothing of these became global.
    for t in ["plain", "keys", "full", "empty"] {
        expect_code(
            east.describe_global_table()
                .global_table_name(t)
                .send()
                .await,
            "GlobalTableNotFoundException",
            t,
        );
    }
    let listed = east.list_global_tables().send().await.unwrap();
    assert!(listed.global_tables().is_empty(), "{listed:?}");
    cluster.shutdown().await;
}

/// A global index keeps its own units in the 2017.11.29 settings API, as
/// DescribeTable describes them: DescribeGlobalTableSettings reports them
/// per index, UpdateGlobalTableSettings changes an index's write units (by
/// UpdateTable's rules, its read units kept) in every replica, and an
/// index the table does not have, an unchanged value and auto scaling are
/// refused with nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_index_keeps_its_own_units_through_the_2017_settings_api() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs: Vec<Client> = (0..2).map(|i| client(cluster.dynamo_url(i))).collect();
    let (east, west) = (&cs[0], &cs[1]);
    let name = "indexed";
    create_table_request(east, name, ("id", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(3, 4))
        .attribute_definitions(string_attribute("g"))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_g")
                .key_schema(key_element("g", KeyType::Hash))
                .projection(project_all())
                .provisioned_throughput(units(5, 6))
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a provisioned table with a global index");
    east.create_global_table()
        .global_table_name(name)
        .set_replication_group(Some(group(&REGIONS[..2])))
        .send()
        .await
        .expect("create the global table");
    wait_group(east, name, &REGIONS[..2]).await;

    // (region, index, read, write) of every replica's index settings.
    let index_settings = || async {
        east.describe_global_table_settings()
            .global_table_name(name)
            .send()
            .await
            .expect("describe settings")
            .replica_settings()
            .iter()
            .flat_map(|r| {
                r.replica_global_secondary_index_settings()
                    .iter()
                    .map(|i| {
                        (
                            r.region_name().to_string(),
                            i.index_name().to_string(),
                            i.provisioned_read_capacity_units(),
                            i.provisioned_write_capacity_units(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let each = |read: i64, write: i64| {
        ["eu-west-1", "us-east-1"]
            .map(|r| (r.to_string(), "by_g".to_string(), Some(read), Some(write)))
            .to_vec()
    };
    assert_eq!(index_settings().await, each(5, 6), "the index's own units");

    let update = |index: &str, write: i64| {
        east.update_global_table_settings()
            .global_table_name(name)
            .global_table_global_secondary_index_settings_update(
                GlobalTableGlobalSecondaryIndexSettingsUpdate::builder()
                    .index_name(index)
                    .provisioned_write_capacity_units(write)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    expect_code(
        update("by_h", 9).await,
        "ResourceNotFoundException",
        "an index the table does not have",
    );
    expect_validation(
        update("by_g", 6).await,
        "will not change",
        "the units the index has",
    );
    expect_validation(
        east.update_global_table_settings()
            .global_table_name(name)
            .global_table_global_secondary_index_settings_update(
                GlobalTableGlobalSecondaryIndexSettingsUpdate::builder()
                    .index_name("by_g")
                    .provisioned_write_capacity_auto_scaling_settings_update(
                        aws_sdk_dynamodb::types::AutoScalingSettingsUpdate::builder()
                            .minimum_units(1)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "nothing is scaled",
        "auto scaling",
    );
    assert_eq!(
        index_settings().await,
        each(5, 6),
        "refusals change nothing"
    );

    update("by_g", 9).await.expect("the index's write units");
    assert_eq!(index_settings().await, each(5, 9));
    poll_until(
        "the index's new units in eu-west-1",
        Duration::from_secs(20),
        || async {
            let t = west
                .describe_table()
                .table_name(name)
                .send()
                .await
                .unwrap()
                .table
                .unwrap();
            let index = t.global_secondary_indexes().first().cloned().unwrap();
            let p = index.provisioned_throughput().unwrap();
            (p.read_capacity_units(), p.write_capacity_units()) == (Some(5), Some(9))
        },
    )
    .await;
    // The table's own units are untouched.
    let t = west
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let p = t.provisioned_throughput().unwrap();
    assert_eq!(
        (p.read_capacity_units(), p.write_capacity_units()),
        (Some(3), Some(4))
    );
    cluster.shutdown().await;
}
