//! Section 10: a global index's own provisioned throughput, changed by
//! UpdateTable's `GlobalSecondaryIndexUpdates` `Update` with DynamoDB's
//! rules and messages, and synchronized to every replica as the table's
//! throughput is.

use aws_sdk_dynamodb::types::{
    BillingMode, ProvisionedThroughput, ProvisionedThroughputDescription,
    UpdateGlobalSecondaryIndexAction,
};

use super::*;

fn update_gsi(name: &str, tp: Option<ProvisionedThroughput>) -> GlobalSecondaryIndexUpdate {
    GlobalSecondaryIndexUpdate::builder()
        .update(
            UpdateGlobalSecondaryIndexAction::builder()
                .index_name(name)
                .set_provisioned_throughput(tp)
                .build()
                .unwrap(),
        )
        .build()
}

/// The index's described `(read, write)` units in `c`.
async fn index_units(c: &Client, table: &str, index: &str) -> Option<(i64, i64)> {
    let d = describe(c, table).await;
    gsi_of(&d, index)
        .and_then(|i| i.provisioned_throughput())
        .map(|p: &ProvisionedThroughputDescription| {
            (
                p.read_capacity_units().unwrap_or(-1),
                p.write_capacity_units().unwrap_or(-1),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_update_changes_its_own_throughput_in_every_region() {
    let cluster = TestCluster::start_global(&TWO).await;
    let east = client(cluster.dynamo_url(0));
    let west = client(cluster.dynamo_url(1));
    let mut cases = Cases::new();
    let t = "metered";
    let mut by_team = gsi("by_team", &["team"], &[], all());
    by_team.provisioned_throughput = Some(units(2, 2));
    create_table_request(&east, t, ("id", TS), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units(5, 5))
        .attribute_definitions(def("team", TS))
        .global_secondary_indexes(by_team)
        .send()
        .await
        .expect("create metered");
    cluster.wait_table_everywhere(t).await;

    cases
        .run("Update sets the index's units, not the table's", async {
            east.update_table()
                .table_name(t)
                .global_secondary_index_updates(update_gsi("by_team", Some(units(3, 4))))
                .send()
                .await
                .expect("index update");
            assert_eq!(index_units(&east, t, "by_team").await, Some((3, 4)));
            let d = describe(&east, t).await;
            let table = d.provisioned_throughput().expect("the table's");
            assert_eq!(
                (table.read_capacity_units(), table.write_capacity_units()),
                (Some(5), Some(5))
            );
        })
        .await;
    cases
        .run("the change reaches the other replica", async {
            poll("west to describe 3/4", || async {
                index_units(&west, t, "by_team").await == Some((3, 4))
            })
            .await;
        })
        .await;
    cases
        .run("the same units again are refused", async {
            let msg = expect_code(
                east.update_table()
                    .table_name(t)
                    .global_secondary_index_updates(update_gsi("by_team", Some(units(3, 4))))
                    .send()
                    .await,
                "ValidationException",
                "unchanged index units",
            );
            assert_eq!(
                msg,
                "The provisioned throughput for the index by_team will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for index by_team: 3. Requested ReadCapacityUnits: 3. Current WriteCapacityUnits provisioned for index by_team: 4. Requested WriteCapacityUnits: 4. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
            );
        })
        .await;
    cases
        .run("an Update without throughput is refused", async {
            let msg = expect_code(
                east.update_table()
                    .table_name(t)
                    .global_secondary_index_updates(update_gsi("by_team", None))
                    .send()
                    .await,
                "ValidationException",
                "an Update without units",
            );
            assert_eq!(
                msg,
                "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: by_team"
            );
        })
        .await;
    cases
        .run("an unknown index is not found", async {
            expect_code(
                east.update_table()
                    .table_name(t)
                    .global_secondary_index_updates(update_gsi("nope", Some(units(1, 1))))
                    .send()
                    .await,
                "ResourceNotFoundException",
                "an unknown index",
            );
        })
        .await;
    cases
        .run("on demand, an index has no units to update", async {
            east.update_table()
                .table_name(t)
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .expect("to on demand");
            assert_eq!(index_units(&east, t, "by_team").await, Some((0, 0)));
            let msg = expect_code(
                east.update_table()
                    .table_name(t)
                    .global_secondary_index_updates(update_gsi("by_team", Some(units(1, 1))))
                    .send()
                    .await,
                "ValidationException",
                "an index Update on demand",
            );
            assert_eq!(
                msg,
                "One or more parameter values were invalid: The only Updates for index: by_team when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
            );
        })
        .await;
    cases
        .run("back to provisioned, every index is given units", async {
            let msg = expect_code(
                east.update_table()
                    .table_name(t)
                    .billing_mode(BillingMode::Provisioned)
                    .provisioned_throughput(units(5, 5))
                    .send()
                    .await,
                "ValidationException",
                "provisioned without the index's units",
            );
            assert_eq!(
                msg,
                "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: by_team"
            );
            east.update_table()
                .table_name(t)
                .billing_mode(BillingMode::Provisioned)
                .provisioned_throughput(units(5, 5))
                .global_secondary_index_updates(update_gsi("by_team", Some(units(7, 6))))
                .send()
                .await
                .expect("provisioned with the index's units");
            assert_eq!(index_units(&east, t, "by_team").await, Some((7, 6)));
            poll("west to describe 7/6", || async {
                index_units(&west, t, "by_team").await == Some((7, 6))
            })
            .await;
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// UpdateTable's `Create` on an on-demand table takes `ProvisionedThroughput`
/// and the index is on demand like its table, as recorded against DynamoDB
/// (CreateTable refuses units for an on-demand table's index).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_created_on_an_on_demand_table_may_name_units() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "ondemand";
    create_table(&c, t, ("id", TS), None).await;
    let mut create = create_gsi("by_team", &["team"], &[], all());
    if let Some(action) = create.create.as_mut() {
        action.provisioned_throughput = Some(units(5, 5));
    }
    c.update_table()
        .table_name(t)
        .attribute_definitions(def("team", TS))
        .global_secondary_index_updates(create)
        .send()
        .await
        .expect("an index with units on an on-demand table");
    assert_eq!(index_units(&c, t, "by_team").await, Some((0, 0)));
    cluster.shutdown().await;
}
