//! Provisioned global tables as AWS requires them, driven by the AWS SDK
//! for Rust (docs/dynamodb-compat.md, *Auto scaling*): a provisioned
//! table gets replicas only once its writes auto scale ("A global table
//! must be in on-demand mode or provisioned with auto scaling enabled",
//! *Throughput capacity planning for DynamoDB global tables*); the settings
//! are refused whole when wrong, synchronized for writes and per replica
//! for reads; and each replica's units really scale on the consumption its
//! region measures, apart from the other's.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AutoScalingPolicyUpdate, AutoScalingSettingsUpdate,
    AutoScalingTargetTrackingScalingPolicyConfigurationUpdate, ReplicaAutoScalingUpdate,
    ScalarAttributeType, TableAutoScalingDescription,
};
use meridian_tests::{TestCluster, every_region, poll_until};

use crate::sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// Auto scaling between `min` and `max` units at `target` percent.
fn scaling(min: i64, max: i64, target: f64) -> AutoScalingSettingsUpdate {
    AutoScalingSettingsUpdate::builder()
        .minimum_units(min)
        .maximum_units(max)
        .scaling_policy_update(
            AutoScalingPolicyUpdate::builder()
                .target_tracking_scaling_policy_configuration(
                    AutoScalingTargetTrackingScalingPolicyConfigurationUpdate::builder()
                        .target_value(target)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
}

async fn set_write_scaling(
    c: &Client,
    table: &str,
    s: AutoScalingSettingsUpdate,
) -> Result<TableAutoScalingDescription, String> {
    c.update_table_replica_auto_scaling()
        .table_name(table)
        .provisioned_write_capacity_auto_scaling_update(s)
        .send()
        .await
        .map(|o| o.table_auto_scaling_description().unwrap().clone())
        .map_err(|e| {
            let e = e.into_service_error();
            format!("{}: {}", e.code().unwrap_or("?"), e.message().unwrap_or(""))
        })
}

async fn described(c: &Client, table: &str) -> TableAutoScalingDescription {
    c.describe_table_replica_auto_scaling()
        .table_name(table)
        .send()
        .await
        .expect("describe auto scaling")
        .table_auto_scaling_description()
        .unwrap()
        .clone()
}

/// `(min, max, target)` of a replica's auto scaling settings.
type Settings = Option<(i64, i64, f64)>;

/// Each replica's write [`Settings`], by region.
fn write_settings(d: &TableAutoScalingDescription) -> Vec<(String, Settings)> {
    d.replicas()
        .iter()
        .map(|r| {
            let w = r
                .replica_provisioned_write_capacity_auto_scaling_settings()
                .map(|s| {
                    let t = s.scaling_policies()[0]
                        .target_tracking_scaling_policy_configuration()
                        .unwrap()
                        .target_value();
                    (s.minimum_units().unwrap(), s.maximum_units().unwrap(), t)
                });
            (r.region_name().unwrap().to_string(), w)
        })
        .collect()
}

/// `(read, write)` units DescribeTable gives in `c`'s region.
async fn units_of(c: &Client, table: &str) -> (i64, i64) {
    let t = table_of(c, table).await;
    let p = t.provisioned_throughput().unwrap();
    (
        p.read_capacity_units().unwrap(),
        p.write_capacity_units().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_table_gets_replicas_only_once_its_writes_auto_scale() {
    let c = TestCluster::start(&REGIONS).await;
    let east = client(c.dynamo_url(0));
    let west = client(c.dynamo_url(1));
    create_provisioned(&east, "global", units(5, 5)).await;
    create_table(&east, "ondemand", ("pk", ScalarAttributeType::S), None).await;

    // AWS's refusal, whole; the table stays single-Region.
    let add = || {
        east.update_table()
            .table_name("global")
            .replica_updates(replica_create(REGIONS[1]))
            .send()
    };
    let msg = expect_code(add().await, "ValidationException", "no write auto scaling");
    assert_eq!(
        msg,
        "Table write capacity should either be Pay-Per-Request or AutoScaled."
    );
    assert!(table_of(&east, "global").await.replicas().is_empty());

    // Bad settings are refused naming the member, and change nothing.
    for (s, named, what) in [
        (
            scaling(10, 5, 70.0),
            "ProvisionedWriteCapacityAutoScalingUpdate",
            "minimum above maximum",
        ),
        (scaling(1, 5, 95.0), "TargetValue", "target above 90"),
        (scaling(1, 5, 10.0), "TargetValue", "target below 20"),
        (scaling(0, 5, 70.0), "MinimumUnits", "no units"),
        (scaling(1, 40_001, 70.0), "MaximumUnits", "past the quota"),
    ] {
        let e = set_write_scaling(&east, "global", s).await.expect_err(what);
        assert!(e.starts_with("ValidationException"), "{what}: {e}");
        assert!(e.contains(named), "{what}: {e}");
    }
    let e = set_write_scaling(&east, "ondemand", scaling(1, 5, 70.0))
        .await
        .expect_err("an on-demand table");
    assert!(
        e.contains("ProvisionedWriteCapacityAutoScalingUpdate") && e.contains("PAY_PER_REQUEST"),
        "{e}"
    );
    assert_eq!(
        write_settings(&described(&east, "global").await),
        [(REGIONS[0].to_string(), None)],
        "nothing was set"
    );
    expect_code(
        add().await,
        "ValidationException",
        "still no write auto scaling",
    );

    // Set, in AWS's shapes, then the replica is taken.
    let d = set_write_scaling(&east, "global", scaling(5, 50, 70.0))
        .await
        .expect("write auto scaling");
    assert_eq!(
        write_settings(&d),
        [(REGIONS[0].to_string(), Some((5, 50, 70.0)))]
    );
    add().await.expect("a replica of an auto scaled table");
    poll_until(
        "eu-west-1 describes the write settings it shares",
        Duration::from_secs(30),
        || async {
            match west
                .describe_table_replica_auto_scaling()
                .table_name("global")
                .send()
                .await
            {
                Ok(o) => {
                    let d = o.table_auto_scaling_description().unwrap();
                    let w = write_settings(d);
                    w.len() == 2 && w.iter().all(|(_, s)| *s == Some((5, 50, 70.0)))
                }
                Err(_) => false,
            }
        },
    )
    .await;

    // Read settings are a replica's own, and bad ones are refused alike.
    let read = |region: &str, s| {
        east.update_table_replica_auto_scaling()
            .table_name("global")
            .replica_updates(
                ReplicaAutoScalingUpdate::builder()
                    .region_name(region)
                    .replica_provisioned_read_capacity_auto_scaling_update(s)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let msg = expect_code(
        read(REGIONS[1], scaling(9, 3, 50.0)).await,
        "ValidationException",
        "read minimum above maximum",
    );
    assert!(
        msg.contains("ReplicaUpdates[0].ReplicaProvisionedReadCapacityAutoScalingUpdate"),
        "{msg}"
    );
    let msg = expect_code(
        read("ap-southeast-1", scaling(1, 3, 50.0)).await,
        "ValidationException",
        "a region without a replica",
    );
    assert!(msg.contains("ReplicaUpdates[0].RegionName"), "{msg}");
    let d = read(REGIONS[1], scaling(1, 30, 50.0))
        .await
        .expect("eu-west-1's read settings")
        .table_auto_scaling_description()
        .unwrap()
        .clone();
    let reads: Vec<(String, Option<i64>)> = d
        .replicas()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap().to_string(),
                r.replica_provisioned_read_capacity_auto_scaling_settings()
                    .and_then(|s| s.maximum_units()),
            )
        })
        .collect();
    assert_eq!(
        reads,
        [
            (REGIONS[0].to_string(), None),
            (REGIONS[1].to_string(), Some(30))
        ]
    );
    c.shutdown().await;
}

/// Failed conditional writes of `table` through `c`: each consumes a
/// write unit where it is made and is never replicated, so they load one
/// replica's units alone (*DynamoDB read and write operations*).
async fn spend_writes(c: &Client, table: &str, n: usize) {
    for i in 0..n {
        let e = c
            .put_item()
            .table_name(table)
            .item("pk", s(&format!("absent{i}")))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .expect_err("the condition fails")
            .into_service_error();
        assert_eq!(e.code(), Some("ConditionalCheckFailedException"), "{e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_scales_its_own_units_out_and_back_in() {
    // Data points of 200 ms instead of a minute (`autoscaling_period_ms`):
    // out after two above the target, in after fifteen below it.
    let c = TestCluster::start_tuned(&REGIONS, |cfg| {
        every_region(cfg);
        cfg.autoscaling_period = Duration::from_millis(200);
    })
    .await;
    let east = client(c.dynamo_url(0));
    let west = client(c.dynamo_url(1));
    create_provisioned(&east, "float", units(5, 5)).await;
    c.wait_table_everywhere("float").await;
    set_write_scaling(&east, "float", scaling(5, 400, 50.0))
        .await
        .expect("write auto scaling");

    // A minimum above the units raises them at once, in the replica whose
    // read settings they are only.
    east.update_table_replica_auto_scaling()
        .table_name("float")
        .replica_updates(
            ReplicaAutoScalingUpdate::builder()
                .region_name(REGIONS[0])
                .replica_provisioned_read_capacity_auto_scaling_update(scaling(12, 20, 50.0))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("us-east-1's read settings");
    poll_until(
        "us-east-1's read units rise to their minimum",
        Duration::from_secs(20),
        || async { units_of(&east, "float").await.0 == 12 },
    )
    .await;
    assert_eq!(
        units_of(&west, "float").await,
        (5, 5),
        "eu-west-1 keeps its own"
    );

    // us-east-1's clients consume far above half its five write units:
    // its units go out; eu-west-1, which sees none of it, stays.
    poll_until(
        "us-east-1's write units scale out under load",
        Duration::from_secs(30),
        || async {
            spend_writes(&east, "float", 20).await;
            units_of(&east, "float").await.1 > 5
        },
    )
    .await;
    let out = table_of(&east, "float").await;
    assert!(
        out.provisioned_throughput()
            .unwrap()
            .last_increase_date_time()
            .is_some()
    );
    assert_eq!(
        units_of(&west, "float").await.1,
        5,
        "eu-west-1 floats apart"
    );

    // Quiet: fifteen points below the target and its units come back in,
    // to the minimum.
    poll_until(
        "us-east-1's write units scale back in once quiet",
        Duration::from_secs(30),
        || async { units_of(&east, "float").await.1 == 5 },
    )
    .await;
    c.shutdown().await;
}
