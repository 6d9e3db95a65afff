//! Legacy parameters (AttributesToGet, KeyConditions, Expected, ...) read
//! and write through the expression engine; Select is checked as DynamoDB
//! checks it.

use super::*;

fn legacy_cond(op: ComparisonOperator, values: Vec<AttributeValue>) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .set_attribute_value_list(Some(values))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_parameters_read_and_write_through_the_expression_engine() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "legacy",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    batch_put(
        &c,
        "legacy",
        (0..10)
            .map(|i| {
                item([
                    ("pk", s("p")),
                    ("sk", n(i)),
                    ("num", n(i % 3)),
                    ("tag", s(&format!("t{i}"))),
                ])
            })
            .collect(),
    )
    .await;
    let key = |i: u32| item([("pk", s("p")), ("sk", n(i))]);

    let mut cases = Cases::new();
    // Expected: Exists/Value, then ComparisonOperator with ConditionalOperator.
    let exp_value = |v: AttributeValue| ExpectedAttributeValue::builder().value(v).build();
    cases
        .run("Expected num = 2 on num 1", async {
            let failed = c
                .put_item()
                .table_name("legacy")
                .set_item(Some(item([("pk", s("p")), ("sk", n(1)), ("num", n(100))])))
                .expected("num", exp_value(n(2)))
                .send()
                .await;
            expect_code(
                failed,
                "ConditionalCheckFailedException",
                "Expected num = 2 on num 1",
            );
        })
        .await;
    cases
        .run("Expected that holds", async {
            c.put_item()
                .table_name("legacy")
                .set_item(Some(item([("pk", s("p")), ("sk", n(1)), ("num", n(100))])))
                .expected("num", exp_value(n(1)))
                .expected(
                    "gone",
                    ExpectedAttributeValue::builder().exists(false).build(),
                )
                .send()
                .await
                .expect("Expected num = 1 and gone missing");
            assert_eq!(get(&c, "legacy", key(1)).await.unwrap()["num"], n(100));
        })
        .await;
    let cmp = |op: ComparisonOperator, v: Vec<AttributeValue>| {
        ExpectedAttributeValue::builder()
            .comparison_operator(op)
            .set_attribute_value_list(Some(v))
            .build()
    };
    cases
        .run("AND of two false", async {
            let failed = c
                .delete_item()
                .table_name("legacy")
                .set_key(Some(key(2)))
                .expected("num", cmp(ComparisonOperator::Gt, vec![n(5)]))
                .expected("tag", cmp(ComparisonOperator::BeginsWith, vec![s("x")]))
                .send()
                .await;
            expect_code(
                failed,
                "ConditionalCheckFailedException",
                "AND of two false",
            );
        })
        .await;
    cases
        .run("a DeleteItem whose Expected holds", async {
            c.delete_item()
                .table_name("legacy")
                .set_key(Some(key(2)))
                .expected("num", cmp(ComparisonOperator::Gt, vec![n(5)]))
                .expected("tag", cmp(ComparisonOperator::BeginsWith, vec![s("t")]))
                .conditional_operator(ConditionalOperator::Or)
                .send()
                .await
                .expect("OR with one true");
            assert_eq!(get(&c, "legacy", key(2)).await, None);
        })
        .await;

    // AttributeUpdates: PUT, ADD to a number, a set and a list, DELETE.
    let upd = |action: AttributeAction, v: Option<AttributeValue>| {
        AttributeValueUpdate::builder()
            .action(action)
            .set_value(v)
            .build()
    };
    cases
        .run("ALL_NEW after AttributeUpdates", async {
            let out = c
                .update_item()
                .table_name("legacy")
                .set_key(Some(key(3)))
                .attribute_updates("num", upd(AttributeAction::Add, Some(n(10))))
                .attribute_updates("tags", upd(AttributeAction::Add, Some(ss(&["a", "b"]))))
                .attribute_updates("log", upd(AttributeAction::Add, Some(l(vec![s("one")]))))
                .attribute_updates("tag", upd(AttributeAction::Delete, None))
                .attribute_updates("note", upd(AttributeAction::Put, Some(s("hi"))))
                .expected("num", exp_value(n(0)))
                .return_values(ReturnValue::AllNew)
                .send()
                .await
                .expect("legacy update");
            let want = item([
                ("pk", s("p")),
                ("sk", n(3)),
                ("num", n(10)),
                ("tags", ss(&["a", "b"])),
                ("log", l(vec![s("one")])),
                ("note", s("hi")),
            ]);
            assert_item(out.attributes(), &want, "ALL_NEW after AttributeUpdates");
        })
        .await;
    cases
        .run("DELETE from a set and ADD to a list", async {
            c.update_item()
                .table_name("legacy")
                .set_key(Some(key(3)))
                .attribute_updates("tags", upd(AttributeAction::Delete, Some(ss(&["a"]))))
                .attribute_updates("log", upd(AttributeAction::Add, Some(l(vec![s("two")]))))
                .send()
                .await
                .expect("DELETE set member, append to list");
            let got = get(&c, "legacy", key(3)).await.unwrap();
            assert_eq!(norm(&got["tags"]), ss(&["b"]));
            assert_eq!(got["log"], l(vec![s("one"), s("two")]));
        })
        .await;
    cases.run("ADD of a string", async {
        expect_validation(
            c.update_item()
                .table_name("legacy")
                .set_key(Some(key(3)))
                .attribute_updates("note", upd(AttributeAction::Add, Some(s("x"))))
                .send()
                .await,
            "One or more parameter values were invalid: ADD action is not supported for the type S",
            "ADD of a string",
        );
    }).await;
    cases
        .run("PUT of a key attribute", async {
            expect_validation(
                c.update_item()
                    .table_name("legacy")
                    .set_key(Some(key(3)))
                    .attribute_updates("sk", upd(AttributeAction::Put, Some(n(9))))
                    .send()
                    .await,
                "Cannot update attribute sk. This attribute is part of the key",
                "PUT of a key attribute",
            );
        })
        .await;

    // KeyConditions, QueryFilter, AttributesToGet.
    cases
        .run("KeyConditions, QueryFilter, AttributesToGet", async {
            let q = c
                .query()
                .table_name("legacy")
                .key_conditions("pk", legacy_cond(ComparisonOperator::Eq, vec![s("p")]))
                .key_conditions(
                    "sk",
                    legacy_cond(ComparisonOperator::Between, vec![n(4), n(9)]),
                )
                .query_filter("num", legacy_cond(ComparisonOperator::In, vec![n(0), n(2)]))
                .attributes_to_get("sk")
                .send()
                .await
                .expect("legacy query");
            let sks: Vec<&str> = q
                .items()
                .iter()
                .map(|i| i["sk"].as_n().unwrap().as_str())
                .collect();
            assert_eq!(sks, ["5", "6", "8", "9"]);
            assert!(q.items().iter().all(|i| i.len() == 1), "{q:?}");
        })
        .await;
    cases.run("QueryFilter on a key", async {
        expect_validation(
            c.query()
                .table_name("legacy")
                .key_conditions("pk", legacy_cond(ComparisonOperator::Eq, vec![s("p")]))
                .query_filter("sk", legacy_cond(ComparisonOperator::NotNull, vec![]))
                .send()
                .await,
            "QueryFilter can only contain non-primary key attributes: Primary key attribute: sk",
            "QueryFilter on a key",
        );
    }).await;

    // ScanFilter with OR, GetItem and BatchGetItem with AttributesToGet.
    cases
        .run("ScanFilter with OR", async {
            let sc = c
                .scan()
                .table_name("legacy")
                .scan_filter("num", legacy_cond(ComparisonOperator::Eq, vec![n(100)]))
                .scan_filter(
                    "tag",
                    legacy_cond(ComparisonOperator::Contains, vec![s("9")]),
                )
                .conditional_operator(ConditionalOperator::Or)
                .send()
                .await
                .expect("legacy scan");
            let mut sks: Vec<&str> = sc
                .items()
                .iter()
                .map(|i| i["sk"].as_n().unwrap().as_str())
                .collect();
            sks.sort();
            assert_eq!(sks, ["1", "9"]);
        })
        .await;
    cases
        .run("GetItem AttributesToGet", async {
            let got = c
                .get_item()
                .table_name("legacy")
                .set_key(Some(key(4)))
                .attributes_to_get("tag")
                .attributes_to_get("missing")
                .send()
                .await
                .unwrap();
            assert_item(
                got.item(),
                &item([("tag", s("t4"))]),
                "GetItem AttributesToGet",
            );
        })
        .await;
    cases
        .run("BatchGetItem AttributesToGet", async {
            let batch = c
                .batch_get_item()
                .request_items(
                    "legacy",
                    KeysAndAttributes::builder()
                        .keys(key(4))
                        .attributes_to_get("num")
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(
                batch.responses().unwrap()["legacy"],
                vec![item([("num", n(1))])]
            );
        })
        .await;

    // The two forms may not meet in one request; argument rules are DynamoDB's.
    cases.run("mixed GetItem", async {
        let msg = expect_code(
            c.get_item()
                .table_name("legacy")
                .set_key(Some(key(4)))
                .attributes_to_get("tag")
                .projection_expression("tag")
                .send()
                .await,
            "ValidationException",
            "mixed GetItem",
        );
        assert_eq!(
            msg,
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"
        );
    }).await;
    cases.run("mixed PutItem", async {
        expect_validation(
            c.put_item()
                .table_name("legacy")
                .set_item(Some(key(4)))
                .expected("num", exp_value(n(1)))
                .condition_expression("attribute_exists(pk)")
                .send()
                .await,
            "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
            "mixed PutItem",
        );
    }).await;
    cases.run("BETWEEN with one argument", async {
        expect_validation(
            c.scan()
                .table_name("legacy")
                .scan_filter("num", legacy_cond(ComparisonOperator::Between, vec![n(1)]))
                .send()
                .await,
            "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator",
            "BETWEEN with one argument",
        );
    }).await;
    cases.run("LT with a set", async {
        expect_validation(
            c.scan()
                .table_name("legacy")
                .scan_filter("num", legacy_cond(ComparisonOperator::Lt, vec![ns(&["1"])]))
                .send()
                .await,
            "One or more parameter values were invalid: ComparisonOperator LT is not valid for NS AttributeValue type",
            "LT with a set",
        );
    }).await;
    cases.run("Exists without Value", async {
        expect_validation(
            c.put_item()
                .table_name("legacy")
                .set_item(Some(key(4)))
                .expected(
                    "num",
                    ExpectedAttributeValue::builder().exists(true).build(),
                )
                .send()
                .await,
            "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: num",
            "Exists without Value",
        );
    }).await;
    cases.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_is_checked_as_dynamodb_checks_it() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "sel", ("pk", ScalarAttributeType::S), None).await;
    put(&c, "sel", item([("pk", s("a")), ("x", n(1))])).await;
    let q = || {
        c.query()
            .table_name("sel")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("a"))
    };
    let mut cases = Cases::new();
    cases
        .run("Select COUNT", async {
            let counted = c
                .scan()
                .table_name("sel")
                .select(Select::Count)
                .send()
                .await
                .unwrap();
            assert_eq!(counted.count(), 1);
            assert!(counted.items.is_none());
        })
        .await;
    cases
        .run("SPECIFIC_ATTRIBUTES", async {
            let specific = q()
                .select(Select::SpecificAttributes)
                .projection_expression("x")
                .send()
                .await
                .unwrap();
            assert_eq!(specific.items(), [item([("x", n(1))])]);
        })
        .await;
    cases
        .run("ALL_ATTRIBUTES", async {
            let all = q().select(Select::AllAttributes).send().await.unwrap();
            assert_eq!(all.items()[0].len(), 2);
        })
        .await;
    // (Select, ProjectionExpression, the message).
    let selects = [
        (
            Select::SpecificAttributes,
            None,
            "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        ),
        (
            Select::AllProjectedAttributes,
            None,
            "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ),
        (
            Select::Count,
            Some("x"),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get only the Count",
        ),
        (
            Select::AllAttributes,
            Some("x"),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES",
        ),
        (
            Select::AllProjectedAttributes,
            Some("x"),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES",
        ),
    ];
    for (select, projection, want) in selects {
        cases
            .run(want, async {
                let r = q()
                    .select(select)
                    .set_projection_expression(projection.map(String::from))
                    .send()
                    .await;
                assert_eq!(expect_code(r, "ValidationException", want), want);
            })
            .await;
    }
    // (Select, AttributesToGet, the message).
    let scan_cases = [
        (
            Select::SpecificAttributes,
            None,
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        ),
        (
            Select::AllProjectedAttributes,
            None,
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ),
        (
            Select::Count,
            Some("x"),
            "Cannot specify the AttributesToGet when choosing to get only the Count",
        ),
    ];
    for (select, attributes, want) in scan_cases {
        cases
            .run(want, async {
                let r = c
                    .scan()
                    .table_name("sel")
                    .select(select)
                    .set_attributes_to_get(attributes.map(|a: &str| vec![a.to_string()]))
                    .send()
                    .await;
                assert_eq!(expect_code(r, "ValidationException", want), want);
            })
            .await;
    }
    cases.finish();
}
