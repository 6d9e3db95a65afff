//! Section 6: Errors: index reads, writes with unfit index keys and bad index
//! definitions refused as DynamoDB refuses them.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_reads_refused_as_dynamodb_refuses_them() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    orders_table(&c, "orders").await;
    put(
        &c,
        "orders",
        item([
            ("pk", s("p")),
            ("sk", s("s")),
            ("status", s("open")),
            ("at", n(1)),
            ("owner", s("ann")),
        ]),
    )
    .await;

    let mut cases = Cases::new();
    let consistent = "Consistent reads are not supported on global secondary indexes";
    let missing = "The table does not have the specified index: nope_index";
    let query = |index: &str| c.query().table_name("orders").index_name(index);
    let scan = |index: &str| c.scan().table_name("orders").index_name(index);
    let refused: Vec<Refusal> = vec![
        (
            "Query ConsistentRead on a GSI",
            ask(query("by_status")
                .key_condition_expression("#s = :s")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", s("open"))
                .consistent_read(true)
                .send()),
            Says::Has(consistent),
        ),
        (
            "Scan ConsistentRead on a GSI",
            ask(scan("by_owner").consistent_read(true).send()),
            Says::Has(consistent),
        ),
        (
            "Query of an unknown index",
            ask(query("nope_index")
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s("p"))
                .send()),
            Says::Is(missing),
        ),
        (
            "Scan of an unknown index",
            ask(scan("nope_index").send()),
            Says::Is(missing),
        ),
        (
            "ALL_ATTRIBUTES on a KEYS_ONLY GSI",
            ask(query("by_owner")
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":o", s("ann"))
                .select(Select::AllAttributes)
                .send()),
            Says::Is(
                "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index by_owner because its projection type is not ALL",
            ),
        ),
        (
            "Scan ALL_ATTRIBUTES on an INCLUDE GSI",
            ask(scan("by_region").select(Select::AllAttributes).send()),
            Says::Has(
                "Select type ALL_ATTRIBUTES is not supported for global secondary index by_region because its projection type is not ALL",
            ),
        ),
        // A key condition without the index's partition key.
        (
            "wrong key",
            ask(query("by_status")
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s("p"))
                .send()),
            Says::Has("Query condition missed key schema element: status"),
        ),
        // A filter on the queried index's key.
        (
            "filter on an index key",
            ask(query("by_status")
                .key_condition_expression("#s = :s")
                .filter_expression("#a > :a")
                .expression_attribute_names("#s", "status")
                .expression_attribute_names("#a", "at")
                .expression_attribute_values(":s", s("open"))
                .expression_attribute_values(":a", n(0))
                .send()),
            Says::Has(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: at",
            ),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cluster.shutdown().await;
    cases.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_unfit_index_keys_are_refused_and_write_nothing() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    orders_table(&c, "orders").await;
    let t = "orders";
    let key = |sk: &str| item([("pk", s("p")), ("sk", s(sk))]);
    let mismatch = "One or more parameter values were invalid: Type mismatch for Index Key status Expected: S Actual: N IndexName: by_status";
    let empty_item = "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_status, IndexKey: status";
    let empty_update = "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty string value.";
    let code = "ValidationException";

    let mut cases = Cases::new();
    // PutItem.
    let put_a = |status: AttributeValue| {
        c.put_item()
            .table_name(t)
            .set_item(Some(item([
                ("pk", s("p")),
                ("sk", s("a")),
                ("status", status),
            ])))
            .send()
    };
    let refused: [Refusal; 2] = [
        ("put wrong type", ask(put_a(n(1))), Says::Is(mismatch)),
        ("put empty", ask(put_a(s(""))), Says::Is(empty_item)),
    ];
    cases.refused(code, refused).await;
    cases
        .run("refused puts write nothing", async {
            assert_eq!(
                get(&c, t, key("a")).await,
                None,
                "refused puts write nothing"
            );
        })
        .await;
    // An index key of the wrong type in an INCLUDE index's sort key.
    cases.run("put wrong at", async {
        let r = c
            .put_item()
            .table_name(t)
            .set_item(Some(item([
                ("pk", s("p")),
                ("sk", s("a")),
                ("region", s("eu")),
                ("at", s("x")),
            ])))
            .send()
            .await;
        // DynamoDB names the alphabetically first index the value is unfit for.
        expect_validation(
            r,
            "One or more parameter values were invalid: Type mismatch for Index Key at Expected: N Actual: S IndexName: by_at",
            "put wrong at",
        );
        assert_eq!(get(&c, t, key("a")).await, None);
    }).await;

    // UpdateItem on an existing item leaves it as it was.
    let before = item([
        ("pk", s("p")),
        ("sk", s("b")),
        ("status", s("open")),
        ("at", n(1)),
    ]);
    put(&c, t, before.clone()).await;
    let update = |expr: &str, v: AttributeValue| {
        c.update_item()
            .table_name(t)
            .set_key(Some(key("b")))
            .update_expression(expr)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":v", v)
            .send()
    };
    let refused: [Refusal; 2] = [
        (
            "update wrong type",
            ask(update("SET #s = :v", n(5))),
            Says::Is(mismatch),
        ),
        (
            "update empty",
            ask(update("SET #s = :v", s(""))),
            Says::Is(empty_update),
        ),
    ];
    cases.refused(code, refused).await;
    cases
        .run("a refused update leaves the item as it was", async {
            assert_eq!(get(&c, t, key("b")).await, Some(before.clone()));
            let open = ids_of_status(&c, t, "open").await;
            assert_eq!(open, vec!["b".to_string()]);
        })
        .await;

    // BatchWriteItem: the whole batch is refused. Each write below puts a
    // good item c first, then the unfit one.
    let good = || {
        item([
            ("pk", s("p")),
            ("sk", s("c")),
            ("status", s("open")),
            ("at", n(2)),
        ])
    };
    let unfit = |status: AttributeValue| item([("pk", s("p")), ("sk", s("d")), ("status", status)]);
    let batch = |status: AttributeValue| {
        c.batch_write_item()
            .request_items(t, vec![put_req(good()), put_req(unfit(status))])
            .send()
    };
    let refused: [Refusal; 2] = [
        ("batch wrong type", ask(batch(n(3))), Says::Is(mismatch)),
        ("batch empty", ask(batch(s(""))), Says::Is(empty_item)),
    ];
    cases.refused(code, refused).await;
    cases
        .run("nothing of a refused batch is written", async {
            assert_eq!(
                get(&c, t, key("c")).await,
                None,
                "nothing of a refused batch is written"
            );
            assert_eq!(get(&c, t, key("d")).await, None);
        })
        .await;

    // TransactWriteItems: a wrong type cancels the transaction with a
    // ValidationError reason; an empty value is a top-level error.
    let transaction = |second: TransactWriteItem| {
        c.transact_write_items()
            .transact_items(tx_put(t, good()))
            .transact_items(second)
            .send()
    };
    cases
        .run("transaction with a wrong index key type", async {
            let r = transaction(tx_put(t, unfit(n(3)))).await;
            match r.map_err(|e| e.into_service_error()) {
                Err(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    let reasons: Vec<(Option<&str>, Option<&str>)> = e
                        .cancellation_reasons()
                        .iter()
                        .map(|r| (r.code(), r.message()))
                        .collect();
                    assert_eq!(reasons.len(), 2, "{reasons:?}");
                    assert_eq!(reasons[0].0, Some("None"), "{reasons:?}");
                    assert_eq!(
                        reasons[1],
                        (Some("ValidationError"), Some(mismatch)),
                        "{reasons:?}"
                    );
                }
                other => panic!("transaction with a wrong index key type: {other:?}"),
            }
        })
        .await;
    let empty_update_of_b = Update::builder()
        .table_name(t)
        .set_key(Some(key("b")))
        .update_expression("SET #s = :v")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":v", s(""))
        .build()
        .unwrap();
    let refused: [Refusal; 2] = [
        (
            "transaction empty",
            ask(transaction(tx_put(t, unfit(s(""))))),
            Says::Is(empty_item),
        ),
        (
            "transaction update empty",
            ask(transaction(
                TransactWriteItem::builder()
                    .update(empty_update_of_b)
                    .build(),
            )),
            Says::Is(empty_update),
        ),
    ];
    cases.refused(code, refused).await;
    cases
        .run("nothing of a refused transaction", async {
            assert_eq!(
                get(&c, t, key("c")).await,
                None,
                "nothing of a refused transaction"
            );
            assert_eq!(get(&c, t, key("d")).await, None);
            assert_eq!(get(&c, t, key("b")).await, Some(before));
            assert_eq!(ids_of_status(&c, t, "open").await, vec!["b".to_string()]);
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// The sort keys of `orders` items in `by_status` under `status`.
async fn ids_of_status(c: &Client, t: &str, status: &str) -> Vec<String> {
    let got = query_all(
        c.query()
            .table_name(t)
            .index_name("by_status")
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(status)),
        &set(&["status", "at", "pk", "sk"]),
    )
    .await;
    got.iter().map(|i| str_of(i, "sk").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_index_definitions_are_refused_and_create_no_table() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let base = |name: &str| create_table_request(&c, name, ("pk", TS), Some(("sk", TS)));
    let bad = vec![
        (
            "dup_names",
            base("dup_names")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("b", TS))
                .global_secondary_indexes(gsi("same", &["a"], &[], all()))
                .global_secondary_indexes(gsi("same", &["b"], &[], all())),
            "One or more parameter values were invalid: Duplicate index name: same",
        ),
        (
            "dup_gsi_lsi",
            base("dup_gsi_lsi")
                .attribute_definitions(def("a", TS))
                .global_secondary_indexes(gsi("same", &["a"], &[], all()))
                .local_secondary_indexes(lsi("same", "pk", "a", all())),
            "One or more parameter values were invalid: Duplicate index name: same",
        ),
        (
            "undefined",
            base("undefined").global_secondary_indexes(gsi("g_q", &["q"], &[], all())),
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [q], AttributeDefinitions: [",
        ),
        (
            "include_bare",
            base("include_bare")
                .attribute_definitions(def("a", TS))
                .global_secondary_indexes(gsi(
                    "g_a",
                    &["a"],
                    &[],
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .build(),
                )),
            "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        ),
        (
            "lsi_other_hash",
            base("lsi_other_hash")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("b", TS))
                .local_secondary_indexes(lsi("l-a", "a", "b", all())),
            "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: l-a. index hash key: a, table hash key: pk",
        ),
        (
            "unused_def",
            base("unused_def")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("c", TS))
                .global_secondary_indexes(gsi("g_a", &["a"], &[], all())),
            "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [",
        ),
        (
            // The name's length is refused before the definitions and the
            // index keys are compared.
            "long_index_key",
            base("long_index_key")
                .attribute_definitions(def("short", TS))
                .global_secondary_indexes(gsi("g", &[&"k".repeat(256)], &[], all())),
            "1 validation error detected: Value 'kkk",
        ),
        (
            "lsi_no_sort",
            create_table_request(&c, "lsi_no_sort", ("pk", TS), None)
                .attribute_definitions(def("a", TS))
                .local_secondary_indexes(lsi("l-a", "pk", "a", all())),
            "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        ),
    ];
    let mut many = base("too_many").attribute_definitions(def("a", TS));
    for i in 0..21 {
        many = many.global_secondary_indexes(gsi(&format!("g{i:02}"), &["a"], &[], keys_only()));
    }
    let mut bad = bad;
    bad.push((
        "too_many",
        many,
        "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20",
    ));
    let mut cases = Cases::new();
    for (table, req, want) in bad {
        cases
            .run(table, async {
                let r = req.send().await;
                let msg = expect_code(r, "ValidationException", table);
                Says::Starts(want).check(&msg, table);
                let r = c.describe_table().table_name(table).send().await;
                expect_code(
                    r,
                    "ResourceNotFoundException",
                    &format!("{table} after a refused create"),
                );
            })
            .await;
    }
    // The unused-definitions message names every definition, c included.
    cases
        .run("unused2", async {
            let r = base("unused2")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("c", TS))
                .global_secondary_indexes(gsi("g_a", &["a"], &[], all()))
                .send()
                .await;
            let msg = expect_code(r, "ValidationException", "unused2");
            assert!(msg.contains("keys used: ["), "{msg:?}");
            let listed = msg
                .split("AttributeDefinitions: [")
                .nth(1)
                .unwrap()
                .split(']')
                .next()
                .unwrap();
            let listed: BTreeSet<String> = listed.split(", ").map(str::to_string).collect();
            assert_eq!(listed, set(&["pk", "sk", "a", "c"]), "{msg:?}");
        })
        .await;
    cases.run("long_index_key2", async {
        let r = base("long_index_key2")
            .attribute_definitions(def("short", TS))
            .global_secondary_indexes(gsi("g", &[&"k".repeat(256)], &[], all()))
            .send()
            .await;
        let msg = expect_code(r, "ValidationException", "long_index_key2");
        assert!(
            msg.contains("at 'globalSecondaryIndexes.1.member.keySchema.1.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"),
            "{msg:?}"
        );
    }).await;
    cases
        .run("no table was created", async {
            let list = c.list_tables().send().await.expect("list tables");
            assert!(list.table_names().is_empty(), "{list:?}");
        })
        .await;
    // The undefined-attribute message lists the attributes that are defined.
    cases
        .run("undefined2", async {
            let r = base("undefined2")
                .global_secondary_indexes(gsi("g_q", &["q"], &[], all()))
                .send()
                .await;
            let msg = expect_code(r, "ValidationException", "undefined2");
            let defined = msg
                .split("AttributeDefinitions: ")
                .nth(1)
                .unwrap_or_default();
            assert!(
                defined.contains("pk") && defined.contains("sk"),
                "the message lists the defined attributes: {msg:?}"
            );
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
