//! Section 1: Tables: CreateTable, DescribeTable, ListTables, UpdateTable
//! and DeleteTable in every region.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_created_described_listed_and_deleted_in_every_region() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let cs = clients(&cluster);
    let created = cs[0]
        .create_table()
        .table_name("orders")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("customer")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("placed")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("customer")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("placed")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
    let mut cases = Cases::new();
    cases
        .run("CreateTable answers CREATING", async {
            let d = created.table_description().expect("a table description");
            assert_eq!(d.table_name(), Some("orders"));
            // CreateTable answers CREATING, as DynamoDB does; DescribeTable ACTIVE.
            assert_eq!(d.table_status(), Some(&TableStatus::Creating));
        })
        .await;

    // The table replicates: every region describes the same table.
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("orders in region {i}"), async {
                poll(&format!("orders in region {i}"), || async {
                    c.describe_table().table_name("orders").send().await.is_ok()
                })
                .await;
                let out = c
                    .describe_table()
                    .table_name("orders")
                    .send()
                    .await
                    .unwrap();
                let t = out.table().expect("a table");
                assert_eq!(t.table_status(), Some(&TableStatus::Active));
                let keys: Vec<(&str, &KeyType)> = t
                    .key_schema()
                    .iter()
                    .map(|k| (k.attribute_name(), k.key_type()))
                    .collect();
                assert_eq!(
                    keys,
                    vec![("customer", &KeyType::Hash), ("placed", &KeyType::Range)]
                );
                let defs: Vec<(&str, &ScalarAttributeType)> = t
                    .attribute_definitions()
                    .iter()
                    .map(|a| (a.attribute_name(), a.attribute_type()))
                    .collect();
                assert!(
                    defs.contains(&("placed", &ScalarAttributeType::N)),
                    "{defs:?}"
                );
                assert_eq!(t.item_count(), Some(0));
                assert_eq!(t.global_table_version(), Some("2019.11.21"));
                assert_eq!(
                    t.billing_mode_summary().and_then(|b| b.billing_mode()),
                    Some(&BillingMode::PayPerRequest)
                );
                let stream = t.stream_specification().expect("stream specification");
                assert!(stream.stream_enabled());
                assert_eq!(
                    stream.stream_view_type(),
                    Some(&StreamViewType::NewAndOldImages)
                );
                let replicas: BTreeSet<&str> = t
                    .replicas()
                    .iter()
                    .filter_map(|r| r.region_name())
                    .collect();
                // DynamoDB lists the other regions' replicas, not the one asked.
                let others: BTreeSet<&str> =
                    REGIONS.into_iter().filter(|r| *r != REGIONS[i]).collect();
                assert_eq!(replicas, others);
                assert!(
                    t.replicas()
                        .iter()
                        .all(|r| r.replica_status() == Some(&ReplicaStatus::Active)),
                    "{:?}",
                    t.replicas()
                );
            })
            .await;
    }

    // ItemCount counts live items, and follows replication.
    for p in 1..=3 {
        put(
            &cs[0],
            "orders",
            item([("customer", s("ann")), ("placed", n(p))]),
        )
        .await;
    }
    cs[0]
        .delete_item()
        .table_name("orders")
        .key("customer", s("ann"))
        .key("placed", n(2))
        .send()
        .await
        .unwrap();
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("ItemCount 2 in region {i}"), async {
                poll(&format!("ItemCount 2 in region {i}"), || async {
                    let out = c
                        .describe_table()
                        .table_name("orders")
                        .send()
                        .await
                        .unwrap();
                    out.table().and_then(|t| t.item_count()) == Some(2)
                })
                .await;
            })
            .await;
    }

    // A table without a stream says so.
    cases
        .run("a table without a stream says so", async {
            create_table(&cs[1], "plain", ("id", ScalarAttributeType::S), None).await;
            let out = cs[1]
                .describe_table()
                .table_name("plain")
                .send()
                .await
                .unwrap();
            let t = out.table().unwrap();
            assert!(
                t.stream_specification().is_none_or(|s| !s.stream_enabled()),
                "{t:?}"
            );
            assert_eq!(t.key_schema().len(), 1);
        })
        .await;

    // ListTables pages with Limit and ExclusiveStartTableName.
    for name in ["t-a", "t-b", "t-c", "t-d", "t-e"] {
        create_table(&cs[0], name, ("id", ScalarAttributeType::S), None).await;
    }
    cases
        .run("pages of ListTables", async {
            let mut want: Vec<String> = ["orders", "plain", "t-a", "t-b", "t-c", "t-d", "t-e"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            want.sort();
            let mut listed = Vec::new();
            let mut start: Option<String> = None;
            let mut pages = 0;
            loop {
                pages += 1;
                assert!(pages <= 10, "ListTables does not end: {listed:?}");
                let out = cs[0]
                    .list_tables()
                    .limit(2)
                    .set_exclusive_start_table_name(start.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(out.table_names().len() <= 2, "{out:?}");
                listed.extend(out.table_names().iter().cloned());
                match out.last_evaluated_table_name() {
                    Some(last) => {
                        assert_eq!(Some(last), out.table_names().last().map(String::as_str));
                        start = Some(last.to_string());
                    }
                    None => break,
                }
            }
            assert_eq!(listed, want, "pages of ListTables");
            assert!(
                pages >= 4,
                "7 tables in pages of 2 take 4 pages, took {pages}"
            );
            let all = cs[0].list_tables().send().await.unwrap();
            assert_eq!(all.table_names(), want.as_slice());
            assert!(all.last_evaluated_table_name().is_none());
            // A page that ends at the last table says nothing more follows.
            let exact = cs[0]
                .list_tables()
                .limit(want.len() as i32)
                .send()
                .await
                .unwrap();
            assert_eq!(exact.table_names(), want.as_slice());
            assert!(
                exact.last_evaluated_table_name().is_none(),
                "a page ending at the last table: {exact:?}"
            );
        })
        .await;
    cases
        .run("ListTables Limit 101", async {
            expect_validation(
                cs[0].list_tables().limit(101).send().await,
                "limit",
                "ListTables Limit 101",
            );
        })
        .await;

    // DeleteTable answers DELETING, and the table goes away everywhere.
    cases
        .run("DeleteTable answers DELETING", async {
            let deleted = cs[2].delete_table().table_name("t-c").send().await.unwrap();
            let d = deleted.table_description().expect("a TableDescription");
            assert_eq!(d.table_status(), Some(&TableStatus::Deleting));
            // As DynamoDB's: the table's name, id, ARN, size and billing, but not
            // its creation time or key definitions.
            assert_eq!(d.table_name(), Some("t-c"));
            assert!(d.table_id().is_some_and(|id| id.len() == 36));
            assert!(d.table_arn().is_some_and(|a| a.starts_with("arn:")));
            assert!(d.item_count().is_some() && d.table_size_bytes().is_some());
            assert!(d.billing_mode_summary().is_some() && d.provisioned_throughput().is_some());
            assert!(d.creation_date_time().is_none());
            assert!(d.key_schema().is_empty() && d.attribute_definitions().is_empty());
        })
        .await;
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("t-c gone in region {i}"), async {
                poll(&format!("t-c gone in region {i}"), || async {
                    match c.describe_table().table_name("t-c").send().await {
                        Ok(_) => false,
                        Err(e) => e.into_service_error().is_resource_not_found_exception(),
                    }
                })
                .await;
            })
            .await;
    }
    cases
        .run("t-c is listed no more", async {
            let after = cs[0].list_tables().send().await.unwrap();
            assert!(!after.table_names().contains(&"t-c".to_string()));
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// UpdateTable as DynamoDB documents it: billing mode, provisioned
/// throughput and the stream change, replicate to every region, and each
/// refusal carries DynamoDB's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_table_changes_billing_throughput_and_stream_everywhere() {
    let cluster = TestCluster::start_global(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    let created = create_table_request(&cs[0], "metered", ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(6)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a provisioned table");
    let mut cases = Cases::new();
    cases
        .run("CreateTable with throughput", async {
            let d = created.table_description().unwrap();
            let tp = d.provisioned_throughput().unwrap();
            assert_eq!(
                (tp.read_capacity_units(), tp.write_capacity_units()),
                (Some(5), Some(6))
            );
        })
        .await;
    // A table with no throughput under PROVISIONED, or with one on demand, is refused.
    let create =
        |name: &str| create_table_request(&cs[0], name, ("pk", ScalarAttributeType::S), None);
    let no_throughput = Says::Has(
        "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
    );
    let refused: [Refusal; 4] = [
        (
            "provisioned without throughput",
            ask(create("bad1").billing_mode(BillingMode::Provisioned).send()),
            no_throughput,
        ),
        (
            "on demand with throughput",
            ask(create("bad2")
                .provisioned_throughput(
                    ProvisionedThroughput::builder()
                        .read_capacity_units(1)
                        .write_capacity_units(1)
                        .build()
                        .unwrap(),
                )
                .send()),
            Says::Has(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ),
        ),
        (
            "no billing mode, so provisioned, without throughput",
            ask(create("bad4").set_billing_mode(None).send()),
            no_throughput,
        ),
        (
            "a stream without a view type",
            ask(create("bad3")
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .build()
                        .unwrap(),
                )
                .send()),
            Says::Has("Table is being created with a stream enabled, UpdateViewType is required"),
        ),
    ];
    cases.refused("ValidationException", refused).await;

    let describe = |c: &Client| {
        let c = c.clone();
        async move {
            c.describe_table()
                .table_name("metered")
                .send()
                .await
                .expect("describe")
                .table
                .expect("a table")
        }
    };
    let update = || cs[0].update_table().table_name("metered");
    // An UpdateTable refused with a message containing `has`.
    let update_refusal =
        |(name, request, has): (&'static str, UpdateTableFluentBuilder, &'static str)| {
            (name, ask(request.send()), Says::Has(has))
        };
    let throughput = |r: i64, w: i64| {
        ProvisionedThroughput::builder()
            .read_capacity_units(r)
            .write_capacity_units(w)
            .build()
            .unwrap()
    };

    // Raising throughput replicates, with the time of the increase.
    cases
        .run(
            "raising throughput replicates, with the time of the increase",
            async {
                let out = update()
                    .provisioned_throughput(throughput(10, 6))
                    .send()
                    .await
                    .expect("raise");
                assert_eq!(
                    out.table_description().and_then(|d| d.table_status()),
                    Some(&TableStatus::Updating)
                );
                poll("the new throughput in eu-west-1", || async {
                    describe(&cs[1])
                        .await
                        .provisioned_throughput()
                        .and_then(|t| t.read_capacity_units())
                        == Some(10)
                })
                .await;
                let t = describe(&cs[1]).await;
                assert_eq!(t.table_status(), Some(&TableStatus::Active));
                // One table, one id: a UUID, the same in every region.
                let id = t.table_id().expect("a table id");
                assert_eq!(describe(&cs[0]).await.table_id(), Some(id));
                let groups: Vec<usize> = id.split('-').map(str::len).collect();
                assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
                let tp = t.provisioned_throughput().unwrap();
                assert!(tp.last_increase_date_time().is_some(), "{tp:?}");
                assert!(tp.last_decrease_date_time().is_none(), "{tp:?}");
                // Never on demand: no summary, though CreateTable named
                // PROVISIONED (DynamoDB's recorded DescribeTable in
                // LocalStack's test_gsi_with_billing_mode[PROVISIONED]).
                assert!(t.billing_mode_summary().is_none(), "{t:?}");
            },
        )
        .await;
    // The same throughput again is refused, naming both figures.
    let refused = [
        (
            "unchanged throughput",
            update().provisioned_throughput(throughput(10, 6)),
            "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: 10. Requested ReadCapacityUnits: 10.",
        ),
        (
            "zero read units",
            update().provisioned_throughput(throughput(0, 6)),
            "Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            "an update that changes nothing",
            update(),
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled",
        ),
    ];
    cases
        .refused("ValidationException", refused.map(update_refusal))
        .await;

    // On demand: the units read 0 and the switch is dated.
    cases
        .run(
            "on demand: the units read 0 and the switch is dated",
            async {
                update()
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await
                    .expect("switch to on demand");
                let t = describe(&cs[0]).await;
                let b = t.billing_mode_summary().unwrap();
                assert_eq!(b.billing_mode(), Some(&BillingMode::PayPerRequest));
                assert!(b.last_update_to_pay_per_request_date_time().is_some());
                assert_eq!(
                    t.provisioned_throughput()
                        .and_then(|t| t.read_capacity_units()),
                    Some(0)
                );
            },
        )
        .await;
    let refused = [
        (
            "throughput on an on-demand table",
            update().provisioned_throughput(throughput(3, 3)),
            "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ),
        (
            "provisioned without throughput, by UpdateTable",
            update().billing_mode(BillingMode::Provisioned),
            "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
        ),
    ];
    cases
        .refused("ValidationException", refused.map(update_refusal))
        .await;

    // The stream: enabled once, then refused twice while the table is global.
    let keys_only = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::KeysOnly)
        .build()
        .unwrap();
    let off = StreamSpecification::builder()
        .stream_enabled(false)
        .build()
        .unwrap();
    cases
        .run("disabling no stream", async {
            expect_validation(
                update().stream_specification(off.clone()).send().await,
                "Table has no stream to disable: TableName: metered",
                "disabling no stream",
            );
        })
        .await;
    cases
        .run(
            "a stream enabled everywhere, then neither enabled twice nor disabled while the table is global",
            async {
                update()
                    .stream_specification(keys_only.clone())
                    .send()
                    .await
                    .expect("enable");
                poll("the stream in eu-west-1", || async {
                    describe(&cs[1])
                        .await
                        .stream_specification()
                        .map(|s| s.stream_enabled())
                        == Some(true)
                })
                .await;
                let first = describe(&cs[1]).await;
                assert_eq!(
                    first
                        .stream_specification()
                        .and_then(|s| s.stream_view_type()),
                    Some(&StreamViewType::KeysOnly)
                );
                let first_label = first
                    .latest_stream_label()
                    .expect("a stream label")
                    .to_string();
                assert!(
                    first
                        .latest_stream_arn()
                        .is_some_and(|a| a.ends_with(&format!("/stream/{first_label}"))),
                    "{first:?}"
                );
                expect_validation(
                    update()
                        .stream_specification(keys_only.clone())
                        .send()
                        .await,
                    "Table already has an enabled stream: TableName: metered",
                    "enabling a stream twice",
                );
                // The table has a replica in each region: its stream is
                // how it replicates, and no region may turn it off (a new
                // stream's new label: tests/tests/streams.rs).
                expect_validation(
                    update().stream_specification(off).send().await,
                    "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica.",
                    "disabling a global table's stream",
                );
                assert_eq!(
                    describe(&cs[0])
                        .await
                        .latest_stream_label(),
                    Some(first_label.as_str()),
                    "the stream is still on"
                );
            },
        )
        .await;

    // What is not built yet is refused by name; a missing table is not found.
    cases
        .run("replica updates", async {
            expect_validation(
                update()
                    .replica_updates(
                        ReplicationGroupUpdate::builder()
                            .create(
                                CreateReplicationGroupMemberAction::builder()
                                    .region_name("ap-southeast-1")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send()
                    .await,
                "ReplicaUpdates",
                "replica updates",
            );
        })
        .await;
    cases
        .run("a missing table", async {
            expect_code(
                cs[0]
                    .update_table()
                    .table_name("nothing-here")
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await,
                "ResourceNotFoundException",
                "a missing table",
            );
        })
        .await;
    cases.finish();
}
