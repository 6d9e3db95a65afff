//! Section 1, items: item CRUD with its return values, and the item
//! requests DynamoDB refuses or leaves alone (updates that would name an
//! attribute "", removals from a missing item, filters on a query's key).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_put_read_updated_and_deleted_with_return_values() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "users", ("id", ScalarAttributeType::S), None).await;

    let ann = item([
        ("id", s("ann")),
        ("name", s("Ann")),
        ("age", n(30)),
        ("active", AttributeValue::Bool(true)),
        ("nothing", AttributeValue::Null(true)),
        ("blob", AttributeValue::B(Blob::new(vec![0u8, 1, 2, 255]))),
        ("tags", ss(&["a", "b"])),
        ("scores", ns(&["1.5", "2", "-3"])),
        (
            "bins",
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
        ),
        (
            "profile",
            m([("city", s("Paris")), ("langs", l(vec![s("en"), s("fr")]))]),
        ),
        ("empty", s("")),
    ]);
    let put_user = |it: &Item, returns: ReturnValue| {
        c.put_item()
            .table_name("users")
            .set_item(Some(it.clone()))
            .return_values(returns)
            .send()
    };
    let mut cases = Cases::new();
    cases
        .run("every attribute type round-trips", async {
            let out = put_user(&ann, ReturnValue::AllOld).await.unwrap();
            assert!(out.attributes().is_none(), "a new item has no old image");
            let got = c
                .get_item()
                .table_name("users")
                .key("id", s("ann"))
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            assert_item(got.item(), &ann, "every attribute type round-trips");
        })
        .await;

    // ProjectionExpression with a reserved word, nested paths and an index.
    cases
        .run(
            "ProjectionExpression with a reserved word, nested paths and an index",
            async {
                let got = c
                    .get_item()
                    .table_name("users")
                    .key("id", s("ann"))
                    .projection_expression("#n, profile.city, profile.langs[1]")
                    .expression_attribute_names("#n", "name")
                    .send()
                    .await
                    .unwrap();
                assert_item(
                    got.item(),
                    &item([
                        ("name", s("Ann")),
                        (
                            "profile",
                            m([("city", s("Paris")), ("langs", l(vec![s("fr")]))]),
                        ),
                    ]),
                    "projection",
                );
            },
        )
        .await;
    // A missing item is no Item; a wrong key is a validation error, as is a
    // bare reserved word.
    cases
        .run("a missing item is no Item", async {
            let none = c
                .get_item()
                .table_name("users")
                .key("id", s("nobody"))
                .send()
                .await
                .unwrap();
            assert!(none.item().is_none());
        })
        .await;
    let get_ann = || c.get_item().table_name("users");
    let wrong_key = Says::Has("The provided key element does not match the schema");
    let refused: [Refusal; 4] = [
        (
            "a bare reserved word",
            ask(get_ann()
                .key("id", s("ann"))
                .projection_expression("name")
                .send()),
            Says::Has("reserved keyword"),
        ),
        (
            "GetItem with the wrong key attribute",
            ask(get_ann().key("uid", s("ann")).send()),
            wrong_key,
        ),
        (
            "GetItem with a key of the wrong type",
            ask(get_ann().key("id", n(1)).send()),
            wrong_key,
        ),
        (
            "GetItem with an extra key attribute",
            ask(get_ann().key("id", s("ann")).key("age", n(30)).send()),
            wrong_key,
        ),
    ];
    cases.refused("ValidationException", refused).await;

    // PutItem replacing returns the old image with ALL_OLD; ALL_NEW is refused.
    let bob = item([("id", s("ann")), ("name", s("Bob"))]);
    cases
        .run("PutItem ALL_OLD", async {
            let out = put_user(&bob, ReturnValue::AllOld).await.unwrap();
            assert_item(out.attributes(), &ann, "PutItem ALL_OLD");
            assert_item(
                get(&c, "users", item([("id", s("ann"))])).await.as_ref(),
                &bob,
                "replaced",
            );
        })
        .await;
    cases
        .run("PutItem ALL_NEW", async {
            expect_validation(
                put_user(&bob, ReturnValue::AllNew).await,
                "ReturnValues",
                "PutItem ALL_NEW",
            );
        })
        .await;

    // UpdateItem upserts, and each ReturnValues answers its own way.
    let key = item([("id", s("cat"))]);
    cases
        .run("UpdateItem upsert ALL_NEW", async {
            let out = c
                .update_item()
                .table_name("users")
                .set_key(Some(key.clone()))
                .update_expression("SET lives = :nine, #n = :name")
                .expression_attribute_names("#n", "name")
                .expression_attribute_values(":nine", n(9))
                .expression_attribute_values(":name", s("Tom"))
                .return_values(ReturnValue::AllNew)
                .send()
                .await
                .unwrap();
            let tom = item([("id", s("cat")), ("lives", n(9)), ("name", s("Tom"))]);
            assert_item(out.attributes(), &tom, "UpdateItem upsert ALL_NEW");
        })
        .await;
    let rv = |r: ReturnValue| {
        c.update_item()
            .table_name("users")
            .set_key(Some(key.clone()))
            .update_expression("SET lives = lives - :one")
            .expression_attribute_values(":one", n(1))
            .return_values(r)
            .send()
    };
    // Each update takes a life; what it returns, by ReturnValues.
    let tom = |lives: i64| item([("id", s("cat")), ("lives", n(lives)), ("name", s("Tom"))]);
    let returns = [
        ("NONE", ReturnValue::None, None),
        ("ALL_OLD", ReturnValue::AllOld, Some(tom(8))),
        (
            "UPDATED_OLD",
            ReturnValue::UpdatedOld,
            Some(item([("lives", n(7))])),
        ),
        (
            "UPDATED_NEW",
            ReturnValue::UpdatedNew,
            Some(item([("lives", n(5))])),
        ),
        ("ALL_NEW", ReturnValue::AllNew, Some(tom(4))),
    ];
    for (name, r, want) in returns {
        cases
            .run(name, async {
                let out = rv(r).await.unwrap();
                match want {
                    None => assert!(out.attributes().is_none(), "{name}: {out:?}"),
                    Some(want) => assert_item(out.attributes(), &want, name),
                }
            })
            .await;
    }
    cases
        .run("updating a key attribute", async {
            expect_validation(
                c.update_item()
                    .table_name("users")
                    .set_key(Some(key.clone()))
                    .update_expression("SET id = :x")
                    .expression_attribute_values(":x", s("dog"))
                    .send()
                    .await,
                "This attribute is part of the key",
                "updating a key attribute",
            );
        })
        .await;

    // DeleteItem with ALL_OLD, then a second delete finds nothing.
    let delete_cat = || {
        c.delete_item()
            .table_name("users")
            .set_key(Some(key.clone()))
            .return_values(ReturnValue::AllOld)
            .send()
    };
    cases
        .run("DeleteItem ALL_OLD", async {
            let out = delete_cat().await.unwrap();
            assert_item(out.attributes(), &tom(4), "DeleteItem ALL_OLD");
        })
        .await;
    cases
        .run("a second delete finds nothing", async {
            let again = delete_cat().await.unwrap();
            assert!(again.attributes().is_none(), "{again:?}");
            assert!(get(&c, "users", key.clone()).await.is_none());
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// An update that would leave an attribute with an empty name is refused,
/// whichever way it names it: stored, such an item could be neither read
/// back nor shipped, and its region's replication would stop there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_cannot_create_an_attribute_with_an_empty_name() {
    let cluster = TestCluster::start_global(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "names", ("pk", ScalarAttributeType::S), None).await;
    put(&cs[0], "names", item([("pk", s("a")), ("v", n(1))])).await;
    expect_validation(
        cs[0]
            .update_item()
            .table_name("names")
            .key("pk", s("a"))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", "")
            .expression_attribute_values(":v", n(2))
            .send()
            .await,
        "ExpressionAttributeNames contains invalid value: Empty attribute name provided for key #n",
        "an empty name by expression",
    );
    expect_validation(
        cs[0]
            .update_item()
            .table_name("names")
            .key("pk", s("b"))
            .attribute_updates(
                "",
                AttributeValueUpdate::builder()
                    .action(AttributeAction::Put)
                    .value(n(2))
                    .build(),
            )
            .send()
            .await,
        "One or more parameter values were invalid: Empty attribute name",
        "an empty name by AttributeUpdates",
    );
    // Nothing was stored, and the region still reads and replicates.
    assert_item(
        get(&cs[0], "names", item([("pk", s("a"))])).await.as_ref(),
        &item([("pk", s("a")), ("v", n(1))]),
        "the item after the refusals",
    );
    assert_eq!(get(&cs[0], "names", item([("pk", s("b"))])).await, None);
    put(&cs[0], "names", item([("pk", s("c"))])).await;
    poll("the next write in eu-west-1", || async {
        try_get(&cs[1], "names", item([("pk", s("c"))]))
            .await
            .is_ok_and(|i| i.is_some())
    })
    .await;
}

/// What DynamoDB refuses or leaves alone, found by an independent
/// compatibility suite: an update that only takes attributes away creates
/// no item; a Query may not filter on its key; `ConditionalOperator` needs
/// conditions to join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_create_nothing_and_queries_do_not_filter_on_the_key() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "rules",
        ("p", ScalarAttributeType::S),
        Some(("c", ScalarAttributeType::N)),
    )
    .await;
    let key = || item([("p", s("gone")), ("c", n(1))]);
    let nothing_created = |what: String| {
        let c = c.clone();
        async move {
            assert_eq!(
                get(&c, "rules", key()).await,
                None,
                "{what} created an item"
            );
        }
    };
    // REMOVE, nested or not, and DELETE on a missing item: no item, no error.
    let mut cases = Cases::new();
    for expr in ["REMOVE a", "REMOVE a.b[1]", "DELETE s :v REMOVE t"] {
        cases
            .run(expr, async {
                let mut u = c
                    .update_item()
                    .table_name("rules")
                    .set_key(Some(key()))
                    .update_expression(expr)
                    .return_values(ReturnValue::AllNew);
                if expr.contains(":v") {
                    u = u.expression_attribute_values(":v", ss(&["x"]));
                }
                let out = u.send().await.unwrap_or_else(|e| panic!("{expr}: {e:?}"));
                assert_eq!(out.attributes(), None, "{expr}: nothing to return");
                nothing_created(expr.to_string()).await;
            })
            .await;
    }
    cases
        .run("a legacy DELETE on a missing item", async {
            c.update_item()
                .table_name("rules")
                .set_key(Some(key()))
                .attribute_updates(
                    "a",
                    AttributeValueUpdate::builder()
                        .action(AttributeAction::Delete)
                        .build(),
                )
                .send()
                .await
                .expect("a legacy DELETE on a missing item");
            nothing_created("a legacy DELETE".to_string()).await;
        })
        .await;
    // SET still creates it, and so does an update with no action at all.
    cases
        .run("SET creates the item", async {
            c.update_item()
                .table_name("rules")
                .set_key(Some(key()))
                .update_expression("SET a = :v REMOVE b")
                .expression_attribute_values(":v", n(1))
                .send()
                .await
                .unwrap();
            assert!(get(&c, "rules", key()).await.is_some());
        })
        .await;
    cases
        .run("a bare update", async {
            let bare = item([("p", s("bare")), ("c", n(1))]);
            c.update_item()
                .table_name("rules")
                .set_key(Some(bare.clone()))
                .send()
                .await
                .unwrap();
            assert_item(
                get(&c, "rules", bare.clone()).await.as_ref(),
                &bare,
                "a bare update",
            );
        })
        .await;

    // A Query's filter may not name a key attribute, in either form.
    for (filter, attr) in [("p = :p", "p"), ("c > :c", "c"), ("a = c", "c")] {
        cases.run(filter, async {
            let mut q = c
                .query()
                .table_name("rules")
                .key_condition_expression("p = :p")
                .filter_expression(filter)
                .expression_attribute_values(":p", s("gone"));
            if filter.contains(":c") {
                q = q.expression_attribute_values(":c", n(0));
            }
            expect_validation(
                q.send().await,
                &format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {attr}"
                ),
                filter,
            );
        }).await;
    }
    // A Scan may.
    cases
        .run("a Scan may filter on a key", async {
            c.scan()
                .table_name("rules")
                .filter_expression("p = :p")
                .expression_attribute_values(":p", s("gone"))
                .send()
                .await
                .expect("a scan filtering on the key");
        })
        .await;

    // ConditionalOperator with nothing to join.
    let refused: [Refusal; 2] = [
        (
            "ConditionalOperator without Expected",
            ask(c
                .put_item()
                .table_name("rules")
                .set_item(Some(key()))
                .conditional_operator(ConditionalOperator::Or)
                .send()),
            Says::Has(
                "ConditionalOperator can only be used when Filter or Expected has two or more elements",
            ),
        ),
        (
            "ConditionalOperator without ScanFilter",
            ask(c
                .scan()
                .table_name("rules")
                .conditional_operator(ConditionalOperator::And)
                .send()),
            Says::Has("ConditionalOperator can only be used"),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases.finish();
}
