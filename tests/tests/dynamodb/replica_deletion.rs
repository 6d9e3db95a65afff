//! DeleteTable and deletion protection on a global table, as DynamoDB's
//! documentation has them: DeleteTable sent to a region deletes that
//! region's replica only ("You can delete a replica table the same way you
//! would delete any other table"), a replica's deletion protection is its
//! own, and a removal of a protected replica from another region is
//! refused as the replica's region refuses deleting it.

use aws_sdk_dynamodb::types::DeleteReplicationGroupMemberAction;

use super::*;

const PROTECTED_HERE: &str = "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.";

fn replica_delete(region: &str) -> ReplicationGroupUpdate {
    ReplicationGroupUpdate::builder()
        .delete(
            DeleteReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

fn protected_there(table: &str, region: &str) -> String {
    format!(
        "Cannot delete table {table} in region {region} because it has deletion protection enabled. Disable deletion protection first."
    )
}

async fn protect(c: &Client, table: &str, on: bool) {
    c.update_table()
        .table_name(table)
        .deletion_protection_enabled(on)
        .send()
        .await
        .unwrap();
}

/// The regions DescribeTable in `c` lists as replicas of `table`, with
/// their status; `None` when the table is not found there.
async fn replicas(c: &Client, table: &str) -> Option<Vec<(String, String)>> {
    match c.describe_table().table_name(table).send().await {
        Ok(d) => Some(
            d.table()
                .map(|t| t.replicas())
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    (
                        r.region_name().unwrap_or_default().to_string(),
                        r.replica_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("DescribeTable {table}: {e:?}"),
    }
}

async fn gone(c: &Client, table: &str, what: &str) {
    poll(what, || async { replicas(c, table).await.is_none() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletetable_deletes_one_replica_and_protected_replicas_stay() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs = clients(&cluster);
    let mut cases = Cases::new();
    let t = "globe";
    create_table(&cs[0], t, ("pk", ScalarAttributeType::S), None).await;
    put(&cs[0], t, item([("pk", s("a")), ("v", n(1))])).await;
    cs[0]
        .update_table()
        .table_name(t)
        .replica_updates(replica_create(REGIONS[1]))
        .replica_updates(replica_create(REGIONS[2]))
        .send()
        .await
        .unwrap();
    poll("both new replicas ACTIVE", || async {
        replicas(&cs[0], t)
            .await
            .is_some_and(|r| r.len() == 2 && r.iter().all(|(_, s)| s == "ACTIVE"))
    })
    .await;
    // eu-west-1 protects its replica; the row reaches every region.
    protect(&cs[1], t, true).await;
    cluster
        .wait_quiescent(t, Duration::from_secs(20))
        .await
        .unwrap();

    cases
        .run(
            "ReplicaUpdates Delete of a protected replica is refused",
            async {
                let msg = expect_code(
                    cs[0]
                        .update_table()
                        .table_name(t)
                        .replica_updates(replica_delete(REGIONS[1]))
                        .send()
                        .await,
                    "ValidationException",
                    "removing a protected replica",
                );
                assert_eq!(msg, protected_there(t, REGIONS[1]));
                let r = replicas(&cs[0], t).await.expect("the table");
                assert!(
                    r.contains(&(REGIONS[1].to_string(), "ACTIVE".to_string())),
                    "the replica stays: {r:?}"
                );
            },
        )
        .await;
    cases
        .run("DeleteTable of the protected replica is refused", async {
            let msg = expect_code(
                cs[1].delete_table().table_name(t).send().await,
                "ValidationException",
                "DeleteTable of a protected replica",
            );
            assert_eq!(msg, PROTECTED_HERE);
        })
        .await;
    cases
        .run(
            "DeleteTable deletes the receiving region's replica only",
            async {
                let d = cs[0].delete_table().table_name(t).send().await.unwrap();
                assert_eq!(
                    d.table_description().and_then(|d| d.table_status()),
                    Some(&TableStatus::Deleting)
                );
                gone(&cs[0], t, "globe gone from us-east-1").await;
                poll("us-east-1 no longer a replica elsewhere", || async {
                    replicas(&cs[1], t)
                        .await
                        .is_some_and(|r| r.iter().all(|(region, _)| region != REGIONS[0]))
                })
                .await;
                // The other replicas keep the table and its items.
                let got = get(&cs[2], t, item([("pk", s("a"))])).await;
                assert_eq!(
                    got.map(|i| norm_item(&i)),
                    Some(item([("pk", s("a")), ("v", n(1))]))
                );
                assert!(
                    !cs[0]
                        .list_tables()
                        .send()
                        .await
                        .unwrap()
                        .table_names()
                        .contains(&t.to_string())
                );
            },
        )
        .await;
    cases
        .run(
            "an unprotected replica goes beside a protected one",
            async {
                cs[2].delete_table().table_name(t).send().await.unwrap();
                gone(&cs[2], t, "globe gone from ap-southeast-1").await;
                assert!(replicas(&cs[1], t).await.is_some(), "eu-west-1 keeps it");
            },
        )
        .await;
    cases
        .run(
            "the last replica goes with the table once unprotected",
            async {
                // Only its own replica removals may have been pending: the row
                // of ap-southeast-1's removal must be final first.
                poll("eu-west-1 the only replica", || async {
                    replicas(&cs[1], t).await.is_some_and(|r| r.is_empty())
                })
                .await;
                let msg = expect_code(
                    cs[1].delete_table().table_name(t).send().await,
                    "ValidationException",
                    "DeleteTable of the protected last replica",
                );
                assert_eq!(msg, PROTECTED_HERE);
                protect(&cs[1], t, false).await;
                cs[1].delete_table().table_name(t).send().await.unwrap();
                gone(&cs[1], t, "globe gone everywhere").await;
            },
        )
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// Where DynamoDB's CreateTable makes a table in every region at once
/// (`dynamodb_create_table = "every-region"`), DeleteTable deletes it from
/// every region, so another region's protected replica refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_deleted_everywhere_is_refused_for_a_protected_replica_elsewhere() {
    let cluster = TestCluster::start_global(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    let mut cases = Cases::new();
    let t = "everywhere";
    create_table(&cs[0], t, ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere(t).await;
    protect(&cs[1], t, true).await;
    cluster
        .wait_quiescent(t, Duration::from_secs(20))
        .await
        .unwrap();
    cases
        .run("refused, naming the protected region", async {
            let msg = expect_code(
                cs[0].delete_table().table_name(t).send().await,
                "ValidationException",
                "DeleteTable with a protected replica elsewhere",
            );
            assert_eq!(msg, protected_there(t, REGIONS[1]));
            assert!(replicas(&cs[0], t).await.is_some(), "still here");
            assert!(replicas(&cs[1], t).await.is_some(), "still there");
        })
        .await;
    cases
        .run("unprotected, it goes from every region", async {
            protect(&cs[1], t, false).await;
            cluster
                .wait_quiescent(t, Duration::from_secs(20))
                .await
                .unwrap();
            cs[0].delete_table().table_name(t).send().await.unwrap();
            gone(&cs[0], t, "gone here").await;
            gone(&cs[1], t, "gone there").await;
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
