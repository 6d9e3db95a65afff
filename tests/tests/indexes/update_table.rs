//! Section 8: UpdateTable creates a global index over existing items and deletes
//! it.

use super::*;

fn row(i: usize) -> Item {
    let mut it = item([("id", s(&format!("r{i:05}"))), ("payload", s("p"))]);
    if i % 10 != 7 {
        it.insert("bucket".into(), s(&format!("b{}", i % 8)));
        it.insert("n".into(), n(i));
    }
    it
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_table_builds_an_index_over_existing_items_and_drops_it() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "rows";
    create_table(&c, t, ("id", TS), None).await;
    let mut model: BTreeMap<usize, Item> = (0..3000).map(|i| (i, row(i))).collect();
    put_many(&c, t, model.values().cloned()).await;

    let out = c
        .update_table()
        .table_name(t)
        .attribute_definitions(def("bucket", TS))
        .attribute_definitions(def("n", TN))
        .global_secondary_index_updates(create_gsi("by_bucket", &["bucket"], &["n"], all()))
        .send()
        .await
        .expect("create an index");
    let mut cases = Cases::new();
    cases
        .run("the new index is CREATING", async {
            let d = out.table_description.expect("a description");
            let g = gsi_of(&d, "by_bucket").unwrap_or_else(|| panic!("the new index in {d:?}"));
            assert_eq!(g.index_status(), Some(&IndexStatus::Creating), "{g:?}");
            assert!(
                d.attribute_definitions()
                    .iter()
                    .any(|a| a.attribute_name() == "bucket"),
                "{d:?}"
            );
        })
        .await;

    // Writes while it builds: new items, moves, deletions.
    for i in 3000..3100 {
        model.insert(i, row(i));
    }
    put_many(&c, t, (3000..3100).map(row)).await;
    for i in (0..3000).step_by(97) {
        let mut it = row(i);
        it.insert("bucket".into(), s("moved"));
        it.insert("n".into(), n(i));
        put(&c, t, it.clone()).await;
        model.insert(i, it);
    }
    for i in (1..3000).step_by(101) {
        c.delete_item()
            .table_name(t)
            .set_key(Some(id_key(&format!("r{i:05}"))))
            .send()
            .await
            .expect("delete");
        model.remove(&i);
    }

    // Another Create or Delete while it builds is over DynamoDB's limit.
    cases
        .run("a second build while one runs", async {
            let r = c
                .update_table()
                .table_name(t)
                .attribute_definitions(def("payload", TS))
                .global_secondary_index_updates(create_gsi(
                    "by_payload",
                    &["payload"],
                    &[],
                    keys_only(),
                ))
                .send()
                .await;
            // The build may already be over; only while it runs is this refused.
            if r.is_err() {
                let msg = expect_code(r, "LimitExceededException", "second build");
                assert!(
                    msg.contains("Only 1 online index can be created or deleted simultaneously"),
                    "{msg}"
                );
            } else {
                c.update_table()
                    .table_name(t)
                    .global_secondary_index_updates(delete_gsi("by_payload"))
                    .send()
                    .await
                    .expect("drop by_payload again");
                poll("by_payload to go", || async {
                    gsi_of(&describe(&c, t).await, "by_payload").is_none()
                })
                .await;
            }
        })
        .await;

    poll("by_bucket to be ACTIVE", || async {
        let d = describe(&c, t).await;
        gsi_of(&d, "by_bucket").and_then(|g| g.index_status().cloned()) == Some(IndexStatus::Active)
    })
    .await;
    let d = describe(&c, t).await;
    let g = gsi_of(&d, "by_bucket").unwrap();
    assert_eq!(g.backfilling(), None, "{g:?}");
    let indexed: Vec<&Item> = model
        .values()
        .filter(|i| i.contains_key("bucket"))
        .collect();
    assert_eq!(g.item_count(), Some(indexed.len() as i64));

    let mut buckets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in &indexed {
        buckets
            .entry(str_of(i, "bucket").to_string())
            .or_default()
            .push(str_of(i, "id").to_string());
    }
    assert_eq!(buckets.len(), 9);
    for (b, want) in &buckets {
        cases
            .run(b, async {
                let got = ids_where(&c, t, "by_bucket", "bucket", b).await;
                assert_eq!(
                    got,
                    want.iter().cloned().collect::<BTreeSet<_>>(),
                    "bucket {b}"
                );
            })
            .await;
    }
    // In n order within a bucket.
    cases
        .run("in n order within a bucket", async {
            let got = query_all(
                q(&c, t, "by_bucket", "#b = :v0", &[s("b3")])
                    .expression_attribute_names("#b", "bucket")
                    .limit(100),
                &set(&["bucket", "n", "id"]),
            )
            .await;
            let ns: Vec<f64> = got.iter().map(|i| num_of(i, "n")).collect();
            let mut sorted = ns.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            assert_eq!(ns, sorted);
            assert_eq!(ids_in_index(&c, t, "by_bucket").await.len(), indexed.len());
        })
        .await;

    // DynamoDB's errors for a name that exists and one that does not.
    cases
        .run("create an existing index", async {
            let r = c
                .update_table()
                .table_name(t)
                .attribute_definitions(def("bucket", TS))
                .global_secondary_index_updates(create_gsi("by_bucket", &["bucket"], &[], all()))
                .send()
                .await;
            let msg = expect_code(r, "ValidationException", "create an existing index");
            assert_eq!(msg, "Attempting to create an index which already exists");
        })
        .await;
    cases
        .run("delete a missing index", async {
            let r = c
                .update_table()
                .table_name(t)
                .global_secondary_index_updates(delete_gsi("no_such_index"))
                .send()
                .await;
            let msg = expect_code(r, "ResourceNotFoundException", "delete a missing index");
            assert_eq!(
                msg,
                format!("Requested resource not found: Index no_such_index for table {t}")
            );
        })
        .await;
    // Two drops in one request are over the limit before either index is
    // looked up.
    cases
        .run("two drops", async {
            let r = c
                .update_table()
                .table_name(t)
                .global_secondary_index_updates(delete_gsi("no_such_index"))
                .global_secondary_index_updates(delete_gsi("nor_this_one"))
                .send()
                .await;
            let msg = expect_code(r, "LimitExceededException", "two drops");
            assert!(
                msg.contains("Only 1 online index can be created or deleted simultaneously"),
                "{msg}"
            );
        })
        .await;
    // A name past 255 characters is refused for its length before the
    // definitions and the index's keys are compared.
    cases.run("a long definition", async {
        let long = "k".repeat(256);
        let r = c
            .update_table()
            .table_name(t)
            .attribute_definitions(def(&long, TS))
            .global_secondary_index_updates(create_gsi("by_short", &["short"], &[], all()))
            .send()
            .await;
        let msg = expect_code(r, "ValidationException", "a long definition");
        assert!(
            msg.contains("at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"),
            "{msg}"
        );
    }).await;

    // Delete: gone from DescribeTable, and queries of it refused.
    c.update_table()
        .table_name(t)
        .global_secondary_index_updates(delete_gsi("by_bucket"))
        .send()
        .await
        .expect("delete the index");
    poll("by_bucket to disappear", || async {
        describe(&c, t).await.global_secondary_indexes().is_empty()
    })
    .await;
    cases
        .run("query a deleted index", async {
            let r = q(&c, t, "by_bucket", "#b = :v0", &[s("b1")])
                .expression_attribute_names("#b", "bucket")
                .send()
                .await;
            let msg = expect_code(r, "ValidationException", "query a deleted index");
            assert_eq!(
                msg,
                "The table does not have the specified index: by_bucket"
            );
        })
        .await;
    cases
        .run("scan a deleted index", async {
            let r = c.scan().table_name(t).index_name("by_bucket").send().await;
            expect_code(r, "ValidationException", "scan a deleted index");
        })
        .await;
    // Writes still work, and a new index of the same name builds afresh.
    cases
        .run(
            "writes still work, and a new index of the same name builds afresh",
            async {
                put(&c, t, item([("id", s("late")), ("bucket", n(1))])).await;
                c.update_table()
                    .table_name(t)
                    .attribute_definitions(def("payload", TS))
                    .global_secondary_index_updates(create_gsi(
                        "by_bucket",
                        &["payload"],
                        &[],
                        keys_only(),
                    ))
                    .send()
                    .await
                    .expect("recreate by_bucket on another key");
                poll("the new by_bucket to be ACTIVE", || async {
                    let d = describe(&c, t).await;
                    gsi_of(&d, "by_bucket").and_then(|g| g.index_status().cloned())
                        == Some(IndexStatus::Active)
                })
                .await;
                let got = ids_where(&c, t, "by_bucket", "payload", "p").await;
                assert_eq!(got.len(), model.len(), "every item with a payload");
            },
        )
        .await;
    cluster.shutdown().await;
    cases.finish();
}
