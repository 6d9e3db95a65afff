//! Section 2: Expressions: condition expressions deciding writes, and update
//! expressions on nested paths.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condition_expressions_decide_writes() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "conds", ("pk", ScalarAttributeType::S), None).await;
    let it = item([
        ("pk", s("c")),
        ("num", n(10)),
        ("s", s("hello world")),
        ("tags", ss(&["x", "y"])),
        ("lst", l(vec![n(1), n(2), n(3)])),
        ("mp", m([("a", n(1)), ("deep", m([("b", s("z"))]))])),
        ("status", s("active")),
    ]);
    put(&c, "conds", it.clone()).await;

    let names: HashMap<&str, &str> = [("#st", "status"), ("#sz", "size")].into();
    let values: HashMap<&str, AttributeValue> = [
        (":one", n(1)),
        (":two", n(2)),
        (":three", n(3)),
        (":five", n(5)),
        (":ten", n(10)),
        (":eleven", n(11)),
        (":twenty", n(20)),
        (":hello", s("hello")),
        (":hw", s("hello world")),
        (":wor", s("wor")),
        (":world", s("world")),
        (":x", s("x")),
        (":zz", s("zz")),
        (":active", s("active")),
        (":tN", s("N")),
        (":tS", s("S")),
        (":tSS", s("SS")),
        (":tL", s("L")),
        (":tM", s("M")),
    ]
    .into();
    // A PutItem of the same image under `cond`, so the item never changes.
    let put_if = |cond: &str| {
        c.put_item()
            .table_name("conds")
            .set_item(Some(it.clone()))
            .condition_expression(cond)
    };
    let mut cases = Cases::new();
    // Each case: a condition and whether it holds for `it`. The write is a
    // PutItem of the same image, so the item never changes.
    let conditions: &[(&str, bool)] = &[
        ("num = :ten", true),
        ("num <> :ten", false),
        ("num < :eleven", true),
        ("num < :ten", false),
        ("num <= :ten", true),
        ("num > :ten", false),
        ("num > :five", true),
        ("num >= :ten", true),
        ("num BETWEEN :five AND :ten", true),
        ("num BETWEEN :eleven AND :twenty", false),
        ("num IN (:five, :ten)", true),
        ("num IN (:five, :eleven)", false),
        ("num = :ten AND s = :hello", false),
        ("num = :ten AND s = :hw", true),
        ("num = :five OR s = :hw", true),
        ("NOT num = :ten", false),
        ("NOT (num = :five)", true),
        // NOT binds tighter than AND, AND tighter than OR.
        ("num = :five OR num = :ten AND s = :hello", false),
        ("(num = :five OR num = :ten) AND s = :hw", true),
        ("NOT num = :five AND num = :ten", true),
        ("attribute_exists(s)", true),
        ("attribute_not_exists(s)", false),
        ("attribute_exists(nope)", false),
        ("attribute_not_exists(nope)", true),
        ("attribute_exists(mp.deep.b)", true),
        ("attribute_exists(mp.deep.c)", false),
        ("attribute_exists(lst[2])", true),
        ("attribute_exists(lst[3])", false),
        ("attribute_type(num, :tN)", true),
        ("attribute_type(num, :tS)", false),
        ("attribute_type(tags, :tSS)", true),
        ("attribute_type(lst, :tL)", true),
        ("attribute_type(mp, :tM)", true),
        ("begins_with(s, :hello)", true),
        ("begins_with(s, :world)", false),
        ("contains(s, :wor)", true),
        ("contains(s, :zz)", false),
        ("contains(tags, :x)", true),
        ("contains(tags, :zz)", false),
        ("contains(lst, :two)", true),
        ("contains(lst, :five)", false),
        ("size(s) = :eleven", true),
        ("size(s) > :eleven", false),
        ("size(tags) = :two", true),
        ("size(lst) = :three", true),
        ("size(mp) = :two", true),
        ("size(mp.deep) = :one", true),
        ("#st = :active", true),
        ("#sz = :one", false),
        ("attribute_not_exists(#sz)", true),
        // A missing attribute or a type mismatch makes a comparison false
        // (and <> true), never an error.
        ("nope < :ten", false),
        ("nope <> :ten", true),
        ("s < :ten", false),
        ("mp.a = :one", true),
        ("lst[0] < lst[1]", true),
        ("num > lst[2]", true),
    ];
    for (cond, want) in conditions {
        cases
            .run(cond, async {
                let mut req = put_if(cond);
                for k in placeholders(cond, '#') {
                    req = req.expression_attribute_names(&k, names[k.as_str()]);
                }
                for k in placeholders(cond, ':') {
                    req = req.expression_attribute_values(&k, values[k.as_str()].clone());
                }
                let held = match req.send().await {
                    Ok(_) => true,
                    Err(e) => {
                        let e = e.into_service_error();
                        assert!(e.is_conditional_check_failed_exception(), "{cond}: {e:?}");
                        false
                    }
                };
                assert_eq!(held, *want, "condition {cond}");
            })
            .await;
    }

    // attribute_not_exists as "create only"; ALL_OLD returns the item in
    // the ConditionalCheckFailedException, and only when asked.
    let fresh = item([("pk", s("new")), ("v", n(1))]);
    cases
        .run("create only, first time", async {
            c.put_item()
                .table_name("conds")
                .set_item(Some(fresh.clone()))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .expect("create only, first time");
        })
        .await;
    // The same create-only put again fails; its exception carries the item
    // only when asked.
    let create_again = c
        .put_item()
        .table_name("conds")
        .item("pk", s("new"))
        .condition_expression("attribute_not_exists(pk)");
    let failures = [
        (
            "PutItem ALL_OLD on failure",
            create_again
                .clone()
                .item("v", n(2))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                ),
            Some(&fresh),
        ),
        ("no item unless asked", create_again, None),
    ];
    for (name, request, want) in failures {
        cases
            .run(name, async {
                let err = request.send().await.unwrap_err().into_service_error();
                match &err {
                    PutItemError::ConditionalCheckFailedException(e) => match want {
                        Some(want) => assert_item(e.item(), want, "the item in the exception"),
                        None => assert!(e.item().is_none(), "no item unless asked: {e:?}"),
                    },
                    other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
                }
            })
            .await;
    }
    cases
        .run("a failed condition writes nothing", async {
            assert_item(
                get(&c, "conds", item([("pk", s("new"))])).await.as_ref(),
                &fresh,
                "a failed condition writes nothing",
            );
        })
        .await;
    cases
        .run("UpdateItem ALL_OLD on failure", async {
            let err = c
                .update_item()
                .table_name("conds")
                .key("pk", s("new"))
                .update_expression("SET v = :two")
                .condition_expression("v = :two")
                .expression_attribute_values(":two", n(2))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(err.is_conditional_check_failed_exception(), "{err:?}");
            assert!(
                format!("{err:?}").contains("\"v\""),
                "UpdateItem ALL_OLD on failure: {err:?}"
            );
        })
        .await;
    cases
        .run("a DeleteItem whose condition fails", async {
            let err = c
                .delete_item()
                .table_name("conds")
                .key("pk", s("missing"))
                .condition_expression("attribute_exists(pk)")
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(err.is_conditional_check_failed_exception(), "{err:?}");
        })
        .await;
    cases
        .run("a DeleteItem whose condition holds", async {
            c.delete_item()
                .table_name("conds")
                .key("pk", s("new"))
                .condition_expression("v = :one")
                .expression_attribute_values(":one", n(1))
                .send()
                .await
                .expect("a conditional delete that holds");
            assert!(get(&c, "conds", item([("pk", s("new"))])).await.is_none());
        })
        .await;

    // Mistakes in expressions are validation errors, not failed conditions.
    let bad: &[(&str, Names, Values, &str)] = &[
        (
            "status = :a",
            vec![],
            vec![(":a", s("x"))],
            "reserved keyword",
        ),
        ("num = :a", vec![], vec![], ":a"),
        ("#x = :a", vec![], vec![(":a", n(1))], "#x"),
        (
            "num = :a",
            vec![],
            vec![(":a", n(1)), (":unused", n(2))],
            "unused",
        ),
        ("num = :a", vec![("#u", "u")], vec![(":a", n(1))], "unused"),
        ("num = = :a", vec![], vec![(":a", n(1))], "Syntax error"),
        ("nofunc(num)", vec![], vec![], "Invalid function name"),
        ("num < :a", vec![], vec![(":a", l(vec![]))], ""),
    ];
    for (cond, ns_, vs, contains) in bad {
        cases
            .run(cond, async {
                let mut req = put_if(cond);
                for (k, v) in ns_ {
                    req = req.expression_attribute_names(*k, *v);
                }
                for (k, v) in vs {
                    req = req.expression_attribute_values(*k, v.clone());
                }
                expect_validation(req.send().await, contains, cond);
            })
            .await;
    }
    cluster.shutdown().await;
    cases.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_expressions_set_remove_add_and_delete_nested_paths() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "upd", ("pk", ScalarAttributeType::S), None).await;
    put(
        &c,
        "upd",
        item([
            ("pk", s("u")),
            ("num", n(5)),
            ("lst", l(vec![n(1), n(2)])),
            ("tags", ss(&["a", "b"])),
            (
                "mp",
                m([
                    ("nest", m([("count", n(1)), ("nums", ns(&["1", "2", "3"]))])),
                    ("name", s("x")),
                ]),
            ),
        ]),
    )
    .await;
    // Runs one update with its names and values; returns the attributes.
    let update = |expr: &'static str,
                  rv: ReturnValue,
                  vals: Vec<(&'static str, AttributeValue)>| {
        let mut req = c
            .update_item()
            .table_name("upd")
            .key("pk", s("u"))
            .update_expression(expr)
            .return_values(rv);
        let names: HashMap<&str, &str> = [("#c", "count"), ("#n", "name"), ("#sz", "size")].into();
        for k in placeholders(expr, '#') {
            req = req.expression_attribute_names(&k, names[k.as_str()]);
        }
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        async move { req.send().await.map(|o| o.attributes) }
    };

    let mut cases = Cases::new();
    // Each step: updates that only prepare (their answer unread), then the
    // update whose returned attributes are checked. Steps run in order, each
    // on what the ones before it left.
    struct Step {
        name: &'static str,
        first: Vec<(&'static str, Values)>,
        expr: &'static str,
        returns: ReturnValue,
        values: Values,
        want: Item,
    }
    let step = |name, expr, returns, values, want| Step {
        name,
        first: vec![],
        expr,
        returns,
        values,
        want,
    };
    let counter = "SET fresh = if_not_exists(fresh, :zero) + :one";
    let new = ReturnValue::UpdatedNew;
    let mut steps = vec![
        step(
            "SET +",
            "SET num = num + :one",
            new.clone(),
            vec![(":one", n(1))],
            item([("num", n(6))]),
        ),
        step(
            "SET - UPDATED_OLD",
            "SET num = num - :two",
            ReturnValue::UpdatedOld,
            vec![(":two", n(2))],
            item([("num", n(6))]),
        ),
    ];
    // The same counter twice: it starts from nothing, then counts on.
    let counted = ["if_not_exists counter 1", "if_not_exists counter 2"];
    steps.extend(counted.into_iter().zip(1..).map(|(name, want)| {
        step(
            name,
            counter,
            new.clone(),
            vec![(":zero", n(0)), (":one", n(1))],
            item([("fresh", n(want))]),
        )
    }));
    steps.extend([
        step(
            "if_not_exists keeps a value",
            "SET num = if_not_exists(num, :zero)",
            new.clone(),
            vec![(":zero", n(0))],
            item([("num", n(4))]),
        ),
        Step {
            first: vec![(
                "SET lst = list_append(lst, :tail)",
                vec![(":tail", l(vec![n(3)]))],
            )],
            ..step(
                "list_append both ways",
                "SET lst = list_append(:head, lst)",
                new.clone(),
                vec![(":head", l(vec![n(0)]))],
                item([("lst", l(vec![n(0), n(1), n(2), n(3)]))]),
            )
        },
        step(
            "ADD to a nested number",
            "ADD mp.nest.#c :five",
            new.clone(),
            vec![(":five", n(5))],
            item([("mp", m([("nest", m([("count", n(6))]))]))]),
        ),
        step(
            "DELETE from a nested set",
            "DELETE mp.nest.nums :two",
            new.clone(),
            vec![(":two", ns(&["2"]))],
            item([("mp", m([("nest", m([("nums", ns(&["1", "3"]))]))]))]),
        ),
        step(
            "ADD to a set",
            "ADD tags :c",
            new.clone(),
            vec![(":c", ss(&["c"]))],
            item([("tags", ss(&["a", "b", "c"]))]),
        ),
        step(
            "ADD creates a nested set",
            "ADD mp.nest.newset :s",
            new.clone(),
            vec![(":s", ss(&["q"]))],
            item([("mp", m([("nest", m([("newset", ss(&["q"]))]))]))]),
        ),
        Step {
            first: vec![
                ("DELETE tags :ab", vec![(":ab", ss(&["a", "b"]))]),
                ("DELETE tags :c", vec![(":c", ss(&["c"]))]),
            ],
            ..step(
                "REMOVE UPDATED_OLD",
                "REMOVE lst[0], mp.#n",
                ReturnValue::UpdatedOld,
                vec![],
                item([("lst", l(vec![n(0)])), ("mp", m([("name", s("x"))]))]),
            )
        },
    ]);
    for step in steps {
        cases
            .run(step.name, async {
                for (expr, values) in step.first {
                    update(expr, ReturnValue::None, values).await.unwrap();
                }
                let a = update(step.expr, step.returns, step.values).await.unwrap();
                assert_item(a.as_ref(), &step.want, step.name);
            })
            .await;
    }
    cases
        .run("every clause at once, and ALL_OLD of an update", async {
            let a = update(
        "SET lst[10] = :x, added = :x REMOVE fresh ADD hits :one DELETE mp.nest.nums :three",
        ReturnValue::AllNew,
        vec![(":x", s("end")), (":one", n(1)), (":three", ns(&["3"]))],
    )
    .await
    .unwrap();
            assert_item(
                a.as_ref(),
                &item([
                    ("pk", s("u")),
                    ("num", n(4)),
                    ("lst", l(vec![n(1), n(2), n(3), s("end")])),
                    ("added", s("end")),
                    ("hits", n(1)),
                    (
                        "mp",
                        m([(
                            "nest",
                            m([
                                ("count", n(6)),
                                ("nums", ns(&["1"])),
                                ("newset", ss(&["q"])),
                            ]),
                        )]),
                    ),
                ]),
                "every clause at once; the emptied set is gone; SET past the end appends",
            );
            let old = update("SET #sz = :x", ReturnValue::AllOld, vec![(":x", n(1))])
                .await
                .unwrap();
            assert_item(old.as_ref(), a.as_ref().unwrap(), "ALL_OLD of an update");
        })
        .await;

    // Mistakes are validation errors and change nothing.
    let before = get(&c, "upd", item([("pk", s("u"))])).await;
    let fails: Vec<(&'static str, Values, &str)> = vec![
        ("SET num = tags + :one", vec![(":one", n(1))], ""),
        ("SET a = :x REMOVE a", vec![(":x", n(1))], "overlap"),
        ("ADD lst :one", vec![(":one", n(1))], ""),
        ("DELETE num :s", vec![(":s", ss(&["a"]))], ""),
        ("SET num = :missing", vec![], ":missing"),
        ("SET num = :a SET added = :a", vec![(":a", n(1))], ""),
        ("SET count = :a", vec![(":a", n(1))], "reserved keyword"),
        ("SET num = num + :s", vec![(":s", s("x"))], ""),
    ];
    for (expr, vals, contains) in fails {
        cases
            .run(expr, async {
                expect_validation(update(expr, ReturnValue::None, vals).await, contains, expr);
            })
            .await;
    }
    cases
        .run("mistakes change nothing", async {
            assert_eq!(get(&c, "upd", item([("pk", s("u"))])).await, before);
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
