//! On-demand backups through the DynamoDB endpoint, driven by the real AWS
//! SDK for Rust: CreateBackup, DescribeBackup, ListBackups, DeleteBackup and
//! RestoreTableFromBackup, with DynamoDB's shapes and errors. A backup is the
//! table at one moment, taken while writes go on; a restore creates a new
//! table that every replica receives; backups outlive a lost disk. Then
//! point-in-time recovery: UpdateContinuousBackups,
//! DescribeContinuousBackups and RestoreTableToPointInTime.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    BackupStatus, BackupTypeFilter, BillingMode, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, ScalarAttributeType, TableStatus, TransactWriteItem, Update,
};
use meridian_tests::{TestCluster, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// Every item of `table` in `c`'s region, by `id`.
async fn scan_all(c: &Client, table: &str) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for it in page.items() {
            let id = it["id"].as_s().expect("id is a string").clone();
            out.insert(id, norm_item(it));
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// Takes a backup of `table` named `name` and returns its ARN.
async fn backup_arn(c: &Client, table: &str, name: &str) -> String {
    c.create_backup()
        .table_name(table)
        .backup_name(name)
        .send()
        .await
        .expect("create backup")
        .backup_details
        .expect("backup details")
        .backup_arn()
        .to_string()
}

fn row(id: usize, v: &str) -> Item {
    item([("id", s(&format!("k{id:04}"))), ("v", s(v)), ("n", n(id))])
}

/// Waits until `region`'s DescribeTable says the restore of `table` is
/// done, and returns that description's summary.
async fn wait_restored(c: &Client, table: &str) {
    poll_until("the restore to finish", Duration::from_secs(30), || async {
        let t = c
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe the restored table")
            .table
            .unwrap();
        let summary = t.restore_summary().expect("a restored table says so");
        let done = !summary.restore_in_progress();
        assert_eq!(
            t.table_status(),
            Some(if done {
                &TableStatus::Active
            } else {
                &TableStatus::Creating
            }),
            "CREATING while it loads, then ACTIVE"
        );
        done
    })
    .await;
}

#[tokio::test]
async fn a_backup_is_the_table_at_one_moment_and_restores_into_a_new_table_everywhere() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    create_table(&east, "orders", ("id", ScalarAttributeType::S), None).await;
    let before: Vec<Item> = (0..300).map(|i| row(i, "before")).collect();
    put_many(&east, "orders", before.clone()).await;

    let created = east
        .create_backup()
        .table_name("orders")
        .backup_name("before-the-mistake")
        .send()
        .await
        .expect("create backup")
        .backup_details
        .unwrap();
    assert_eq!(created.backup_status(), &BackupStatus::Available);
    assert_eq!(created.backup_name(), "before-the-mistake");
    let arn = created.backup_arn().to_string();
    let prefix = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/backup/";
    let id = arn.strip_prefix(prefix).unwrap_or_else(|| panic!("{arn}"));
    let (millis, hex) = id.split_once('-').expect("<ms>-<hex>");
    assert!(
        millis.len() == 14 && millis.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert!(
        hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(created.backup_size_bytes().unwrap_or(0) > 0);

    // The mistake: overwrites, deletes and new items after the backup.
    put_many(&east, "orders", (0..50).map(|i| row(i, "garbage"))).await;
    for i in 50..100 {
        east.delete_item()
            .table_name("orders")
            .key("id", s(&format!("k{i:04}")))
            .send()
            .await
            .expect("delete");
    }
    put_many(&east, "orders", (300..320).map(|i| row(i, "new"))).await;

    let described = east
        .describe_backup()
        .backup_arn(&arn)
        .send()
        .await
        .expect("describe backup")
        .backup_description
        .unwrap();
    let source = described.source_table_details().unwrap();
    assert_eq!(source.table_name(), "orders");
    assert_eq!(source.item_count(), Some(300));
    assert_eq!(source.key_schema()[0].attribute_name(), "id");
    assert_eq!(source.billing_mode(), Some(&BillingMode::PayPerRequest));
    let table_id = east
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_id
        .unwrap();
    assert_eq!(source.table_id(), table_id);

    let listed = east
        .list_backups()
        .table_name("orders")
        .send()
        .await
        .expect("list backups");
    let summaries = listed.backup_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].backup_arn(), Some(arn.as_str()));
    assert_eq!(summaries[0].table_name(), Some("orders"));
    assert!(listed.last_evaluated_backup_arn().is_none());

    let restored = east
        .restore_table_from_backup()
        .target_table_name("orders-restored")
        .backup_arn(&arn)
        .send()
        .await
        .expect("restore")
        .table_description
        .unwrap();
    let summary = restored.restore_summary().unwrap();
    assert_eq!(summary.source_backup_arn(), Some(arn.as_str()));
    assert_eq!(
        summary.source_table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/orders")
    );
    assert_eq!(restored.table_name(), Some("orders-restored"));
    wait_restored(&east, "orders-restored").await;

    // The restored table is the table as it was at the backup, in both
    // regions: the restore's writes replicate like any other.
    let want: BTreeMap<String, Item> = before
        .iter()
        .map(|i| (i["id"].as_s().unwrap().clone(), norm_item(i)))
        .collect();
    assert_eq!(scan_all(&east, "orders-restored").await, want);
    poll_until(
        "the restored table to reach eu-west-1",
        Duration::from_secs(20),
        || async { scan_all(&west, "orders-restored").await == want },
    )
    .await;
    // The source table keeps what happened after the backup.
    let now = scan_all(&east, "orders").await;
    assert_eq!(now.len(), 270);
    assert_eq!(now["k0000"]["v"], s("garbage"));
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_backup_taken_during_transactions_holds_none_of_them_in_part() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "pairs", ("id", ScalarAttributeType::S), None).await;
    put_many(
        &c,
        "pairs",
        (0..20).flat_map(|p| {
            [
                item([("id", s(&format!("a{p}"))), ("n", n(0))]),
                item([("id", s(&format!("b{p}"))), ("n", n(0))]),
            ]
        }),
    )
    .await;
    // A writer raises both items of a pair in one transaction, round after
    // round, while backups are taken.
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            for round in 1..=150u32 {
                let p = round % 20;
                let raise = |id: String| {
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name("pairs")
                                .key("id", s(&id))
                                .update_expression("SET n = n + :one")
                                .expression_attribute_values(":one", n(1))
                                .build()
                                .unwrap(),
                        )
                        .build()
                };
                c.transact_write_items()
                    .transact_items(raise(format!("a{p}")))
                    .transact_items(raise(format!("b{p}")))
                    .send()
                    .await
                    .expect("transaction");
            }
        })
    };
    let mut arns = Vec::new();
    for i in 0..4 {
        arns.push(backup_arn(&c, "pairs", &format!("during-{i}")).await);
    }
    writer.await.unwrap();
    for (i, arn) in arns.iter().enumerate() {
        let target = format!("pairs-{i}");
        c.restore_table_from_backup()
            .target_table_name(&target)
            .backup_arn(arn)
            .send()
            .await
            .expect("restore");
        wait_restored(&c, &target).await;
        let items = scan_all(&c, &target).await;
        assert_eq!(items.len(), 40);
        for p in 0..20 {
            assert_eq!(
                items[&format!("a{p}")]["n"],
                items[&format!("b{p}")]["n"],
                "backup {i}: pair {p} was caught half-written"
            );
        }
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn backup_requests_fail_as_dynamodb_fails_them() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    create_table(&east, "tbl", ("id", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("tbl").await;

    let msg = expect_code(
        east.create_backup()
            .table_name("nope")
            .backup_name("abc")
            .send()
            .await,
        "TableNotFoundException",
        "a backup of a missing table",
    );
    assert_eq!(msg, "Table not found: nope");
    expect_validation(
        east.create_backup()
            .table_name("tbl")
            .backup_name("ab")
            .send()
            .await,
        "Value 'ab' at 'backupName' failed to satisfy constraint: Member must have length greater than or equal to 3",
        "a short name",
    );
    expect_validation(
        east.create_backup()
            .table_name("tbl")
            .backup_name("two words")
            .send()
            .await,
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        "a name with a space",
    );

    let mut arns = Vec::new();
    for name in ["b-1", "b-2", "b-3"] {
        arns.push(backup_arn(&east, "tbl", name).await);
    }

    // Backups belong to their region.
    let msg = expect_code(
        west.describe_backup().backup_arn(&arns[0]).send().await,
        "BackupNotFoundException",
        "another region's backup",
    );
    assert_eq!(msg, format!("Backup not found: {}", arns[0]));
    assert!(
        west.list_backups()
            .send()
            .await
            .unwrap()
            .backup_summaries()
            .is_empty()
    );
    let unknown =
        "arn:aws:dynamodb:us-east-1:000000000000:table/tbl/backup/01700000000000-00000000";
    expect_code(
        east.describe_backup().backup_arn(unknown).send().await,
        "BackupNotFoundException",
        "a backup never taken",
    );

    // Pages of ListBackups, oldest first.
    let first = east.list_backups().limit(2).send().await.unwrap();
    let got: Vec<&str> = first
        .backup_summaries()
        .iter()
        .filter_map(|b| b.backup_arn())
        .collect();
    assert_eq!(got, [arns[0].as_str(), arns[1].as_str()]);
    let next = east
        .list_backups()
        .limit(2)
        .exclusive_start_backup_arn(first.last_evaluated_backup_arn().expect("more"))
        .send()
        .await
        .unwrap();
    assert_eq!(next.backup_summaries().len(), 1);
    assert_eq!(
        next.backup_summaries()[0].backup_arn(),
        Some(arns[2].as_str())
    );
    assert!(next.last_evaluated_backup_arn().is_none());
    assert!(
        east.list_backups()
            .backup_type(BackupTypeFilter::System)
            .send()
            .await
            .unwrap()
            .backup_summaries()
            .is_empty(),
        "no system backups here"
    );
    expect_validation(
        east.list_backups().limit(0).send().await,
        "at 'limit' failed to satisfy constraint",
        "a limit of 0",
    );

    let msg = expect_code(
        east.restore_table_from_backup()
            .target_table_name("tbl")
            .backup_arn(&arns[0])
            .send()
            .await,
        "TableAlreadyExistsException",
        "restoring over a table",
    );
    assert_eq!(msg, "Table already exists: tbl");
    expect_validation(
        east.restore_table_from_backup()
            .target_table_name("tbl2")
            .backup_arn(&arns[0])
            .billing_mode_override(BillingMode::Provisioned)
            .send()
            .await,
        "ReadCapacityUnits and WriteCapacityUnits must both be specified",
        "provisioned without units",
    );
    assert!(
        east.describe_table()
            .table_name("tbl2")
            .send()
            .await
            .is_err(),
        "nothing created"
    );

    let deleted = east
        .delete_backup()
        .backup_arn(&arns[1])
        .send()
        .await
        .expect("delete")
        .backup_description
        .unwrap();
    assert_eq!(
        deleted.backup_details().unwrap().backup_status(),
        &BackupStatus::Deleted
    );
    expect_code(
        east.delete_backup().backup_arn(&arns[1]).send().await,
        "BackupNotFoundException",
        "deleting twice",
    );
    let left: Vec<String> = east
        .list_backups()
        .send()
        .await
        .unwrap()
        .backup_summaries()
        .iter()
        .filter_map(|b| b.backup_arn().map(str::to_string))
        .collect();
    assert_eq!(left, [arns[0].clone(), arns[2].clone()]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn backups_outlive_a_restart_and_a_lost_data_directory() {
    let mut cluster = TestCluster::start_global(&REGIONS).await;
    let east = client(cluster.dynamo_url(0));
    create_table(&east, "tbl", ("id", ScalarAttributeType::S), None).await;
    put_many(&east, "tbl", (0..40).map(|i| row(i, "kept"))).await;
    let arn = backup_arn(&east, "tbl", "kept").await;

    cluster.crash(0).await;
    cluster.wipe(0);
    cluster.restart(0).await;
    let east = client(cluster.dynamo_url(0));
    let listed = east
        .list_backups()
        .send()
        .await
        .expect("list after the loss");
    assert_eq!(listed.backup_summaries().len(), 1);
    assert_eq!(
        listed.backup_summaries()[0].backup_arn(),
        Some(arn.as_str())
    );
    east.restore_table_from_backup()
        .target_table_name("tbl-back")
        .backup_arn(&arn)
        .send()
        .await
        .expect("restore after the loss");
    wait_restored(&east, "tbl-back").await;
    assert_eq!(scan_all(&east, "tbl-back").await.len(), 40);
    cluster.shutdown().await;
}

/// Seconds since the epoch, as the SDK takes a `RestoreDateTime`.
fn now_secs() -> aws_sdk_dynamodb::primitives::DateTime {
    aws_sdk_dynamodb::primitives::DateTime::from(std::time::SystemTime::now())
}

/// The time once the clock has passed `t` by more than a millisecond.
async fn after_a_while(
    t: aws_sdk_dynamodb::primitives::DateTime,
) -> aws_sdk_dynamodb::primitives::DateTime {
    let millis = |t: aws_sdk_dynamodb::primitives::DateTime| t.to_millis().unwrap();
    poll_until("the clock to move on", Duration::from_secs(5), || async {
        millis(now_secs()) > millis(t) + 1
    })
    .await;
    now_secs()
}

async fn enable_pitr(c: &Client, table: &str, days: Option<i32>) {
    let d = c
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .set_recovery_period_in_days(days)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable point-in-time recovery")
        .continuous_backups_description
        .unwrap();
    let p = d.point_in_time_recovery_description.unwrap();
    assert_eq!(
        p.point_in_time_recovery_status,
        Some(PointInTimeRecoveryStatus::Enabled)
    );
    assert_eq!(p.recovery_period_in_days, Some(days.unwrap_or(35)));
}

#[tokio::test]
async fn a_table_is_restored_to_the_moment_before_a_mistake_with_its_peers_writes() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    create_table(&east, "ledger", ("id", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("ledger").await;
    put_many(&east, "ledger", (0..10).map(|i| row(i, "before recovery"))).await;
    enable_pitr(&east, "ledger", None).await;
    let described = east
        .describe_continuous_backups()
        .table_name("ledger")
        .send()
        .await
        .unwrap()
        .continuous_backups_description
        .unwrap()
        .point_in_time_recovery_description
        .unwrap();
    let earliest = described.earliest_restorable_date_time.expect("earliest");
    let latest = described.latest_restorable_date_time.expect("latest");
    assert!(earliest <= latest);

    // Good writes in both regions; eu-west-1's reach us-east-1 by replication.
    put_many(&east, "ledger", (10..100).map(|i| row(i, "good"))).await;
    put_many(
        &west,
        "ledger",
        (100..120).map(|i| row(i, "good from west")),
    )
    .await;
    poll_until(
        "west's writes to reach east",
        Duration::from_secs(20),
        || async { scan_all(&east, "ledger").await.len() == 120 },
    )
    .await;
    let good = scan_all(&east, "ledger").await;
    // The instant to restore to lies clearly between the good writes and
    // the mistake, whatever precision the SDK sends it with.
    let before_mistake = after_a_while(now_secs()).await;
    after_a_while(before_mistake).await;

    // The mistake, in both regions: overwrites, deletes, new items.
    put_many(&east, "ledger", (0..30).map(|i| row(i, "garbage"))).await;
    for i in 30..50 {
        east.delete_item()
            .table_name("ledger")
            .key("id", s(&format!("k{i:04}")))
            .send()
            .await
            .unwrap();
    }
    put_many(
        &west,
        "ledger",
        (100..110).map(|i| row(i, "garbage from west")),
    )
    .await;
    put_many(&west, "ledger", (200..210).map(|i| row(i, "new from west"))).await;
    poll_until(
        "the mistake to reach east",
        Duration::from_secs(20),
        || async {
            let now = scan_all(&east, "ledger").await;
            now.len() == 110 && now["k0105"]["v"] == s("garbage from west")
        },
    )
    .await;

    let restored = east
        .restore_table_to_point_in_time()
        .source_table_name("ledger")
        .target_table_name("ledger-before")
        .restore_date_time(before_mistake)
        .send()
        .await
        .expect("restore to a point in time")
        .table_description
        .unwrap();
    let summary = restored.restore_summary().unwrap();
    assert_eq!(
        summary.source_table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/ledger")
    );
    assert!(summary.source_backup_arn().is_none());
    wait_restored(&east, "ledger-before").await;
    assert_eq!(
        scan_all(&east, "ledger-before").await,
        good,
        "the table as us-east-1 held it before the mistake, west's writes included"
    );
    poll_until(
        "the restored table in eu-west-1",
        Duration::from_secs(20),
        || async { scan_all(&west, "ledger-before").await == good },
    )
    .await;

    // The latest restorable time is now: the table as it stands.
    east.restore_table_to_point_in_time()
        .source_table_name("ledger")
        .target_table_name("ledger-now")
        .use_latest_restorable_time(true)
        .send()
        .await
        .expect("restore to the latest time");
    wait_restored(&east, "ledger-now").await;
    assert_eq!(
        scan_all(&east, "ledger-now").await,
        scan_all(&east, "ledger").await
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn point_in_time_requests_fail_as_dynamodb_fails_them() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    create_table(&east, "plain", ("id", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("plain").await;

    let msg = expect_code(
        east.restore_table_to_point_in_time()
            .source_table_name("plain")
            .target_table_name("plain-2")
            .use_latest_restorable_time(true)
            .send()
            .await,
        "PointInTimeRecoveryUnavailableException",
        "recovery off",
    );
    assert!(msg.contains("plain"), "{msg}");
    expect_code(
        east.restore_table_to_point_in_time()
            .source_table_name("nope")
            .target_table_name("plain-2")
            .use_latest_restorable_time(true)
            .send()
            .await,
        "TableNotFoundException",
        "a missing source",
    );
    expect_validation(
        east.update_continuous_backups()
            .table_name("plain")
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .recovery_period_in_days(36)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "recoveryPeriodInDays",
        "a period past 35 days",
    );

    enable_pitr(&east, "plain", Some(3)).await;
    // Recovery is set per replica, as in DynamoDB's global tables.
    let west_status = west
        .describe_continuous_backups()
        .table_name("plain")
        .send()
        .await
        .unwrap()
        .continuous_backups_description
        .unwrap()
        .point_in_time_recovery_description
        .unwrap()
        .point_in_time_recovery_status;
    assert_eq!(west_status, Some(PointInTimeRecoveryStatus::Disabled));

    let long_ago = aws_sdk_dynamodb::primitives::DateTime::from_secs(1_000_000_000);
    let msg = expect_code(
        east.restore_table_to_point_in_time()
            .source_table_name("plain")
            .target_table_name("plain-2")
            .restore_date_time(long_ago)
            .send()
            .await,
        "InvalidRestoreTimeException",
        "a time before recovery was on",
    );
    assert!(msg.contains("earliest restorable time"), "{msg}");
    expect_validation(
        east.restore_table_to_point_in_time()
            .source_table_name("plain")
            .target_table_name("plain-2")
            .restore_date_time(now_secs())
            .use_latest_restorable_time(true)
            .send()
            .await,
        "cannot be given when UseLatestRestorableTime is true",
        "both a time and the latest",
    );
    expect_code(
        east.restore_table_to_point_in_time()
            .source_table_name("plain")
            .target_table_name("plain")
            .use_latest_restorable_time(true)
            .send()
            .await,
        "TableAlreadyExistsException",
        "restoring over a table",
    );
    assert!(
        east.describe_table()
            .table_name("plain-2")
            .send()
            .await
            .is_err(),
        "nothing was created by a refused restore"
    );

    // Off again: the window is gone.
    let d = east
        .update_continuous_backups()
        .table_name("plain")
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .continuous_backups_description
        .unwrap();
    assert_eq!(
        d.point_in_time_recovery_description
            .unwrap()
            .point_in_time_recovery_status,
        Some(PointInTimeRecoveryStatus::Disabled)
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_restore_cut_short_by_a_crash_goes_on_when_the_region_restarts() {
    let mut cluster = TestCluster::start_global(&REGIONS).await;
    let east = client(cluster.dynamo_url(0));
    create_table(&east, "big", ("id", ScalarAttributeType::S), None).await;
    let items = 30_000;
    put_many(&east, "big", (0..items).map(|i| row(i, "kept"))).await;
    let arn = backup_arn(&east, "big", "before-crash").await;
    east.restore_table_from_backup()
        .target_table_name("big-back")
        .backup_arn(&arn)
        .send()
        .await
        .expect("restore");
    // Loading 30,000 items takes a while; the region dies during it.
    let loading = east
        .describe_table()
        .table_name("big-back")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(loading.table_status(), Some(&TableStatus::Creating));
    cluster.crash(0).await;
    cluster.restart(0).await;
    let east = client(cluster.dynamo_url(0));
    // Only a restore resumed by this run has a summary here: the first
    // run's memory went with the crash.
    wait_restored(&east, "big-back").await;
    let restored = scan_all(&east, "big-back").await;
    assert_eq!(restored.len(), items);
    assert!(restored.values().all(|i| i["v"] == s("kept")));
    cluster.shutdown().await;
}
