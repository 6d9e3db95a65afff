//! Section 3: Query: key conditions, filters, order, pages and the one-megabyte
//! page.

use super::*;

fn sks(out: &QueryOutput) -> Vec<String> {
    out.items()
        .iter()
        .map(|i| str_of(i, "sk").to_string())
        .collect()
}

fn range(lo: u32, hi: u32) -> Vec<String> {
    (lo..=hi).map(|i| format!("s{i:02}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_conditions_filters_order_and_pages() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "events",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    let mut items = Vec::new();
    for i in 1..=20u32 {
        items.push(item([
            ("pk", s("p")),
            ("sk", s(&format!("s{i:02}"))),
            ("count", n(i)),
            ("kind", s(if i % 2 == 0 { "even" } else { "odd" })),
            ("payload", s("x")),
        ]));
    }
    for i in 1..=3u32 {
        items.push(item([("pk", s("q")), ("sk", s(&format!("s{i:02}")))]));
    }
    batch_put(&c, "events", items).await;

    let q = |kce: &'static str, vals: Vec<(&'static str, AttributeValue)>| {
        let mut req = c
            .query()
            .table_name("events")
            .key_condition_expression(kce)
            .expression_attribute_values(":p", s("p"))
            .consistent_read(true);
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        req
    };
    let mut cases = Cases::new();
    let conditions: Vec<(&str, Values, Vec<String>)> = vec![
        ("pk = :p", vec![], range(1, 20)),
        ("pk = :p AND sk = :v", vec![(":v", s("s05"))], range(5, 5)),
        ("pk = :p AND sk < :v", vec![(":v", s("s05"))], range(1, 4)),
        ("pk = :p AND sk <= :v", vec![(":v", s("s05"))], range(1, 5)),
        ("pk = :p AND sk > :v", vec![(":v", s("s15"))], range(16, 20)),
        (
            "pk = :p AND sk >= :v",
            vec![(":v", s("s15"))],
            range(15, 20),
        ),
        (
            "pk = :p AND sk BETWEEN :a AND :b",
            vec![(":a", s("s03")), (":b", s("s07"))],
            range(3, 7),
        ),
        (
            "pk = :p AND begins_with(sk, :v)",
            vec![(":v", s("s1"))],
            range(10, 19),
        ),
        (
            "sk >= :v AND pk = :p",
            vec![(":v", s("s19"))],
            range(19, 20),
        ),
        ("pk = :p AND sk > :v", vec![(":v", s("s99"))], vec![]),
    ];
    for (kce, vals, want) in conditions {
        cases
            .run(kce, async {
                let out = q(kce, vals).send().await.unwrap();
                assert_eq!(sks(&out), want, "{kce}");
                assert_eq!(out.count() as usize, want.len(), "{kce}");
                assert!(out.last_evaluated_key().is_none(), "{kce}");
            })
            .await;
    }
    cases
        .run("another partition", async {
            let other = c
                .query()
                .table_name("events")
                .key_condition_expression("pk = :q")
                .expression_attribute_values(":q", s("q"))
                .send()
                .await
                .unwrap();
            assert_eq!(sks(&other), range(1, 3), "another partition");
        })
        .await;

    // FilterExpression runs after the read: Count vs ScannedCount.
    cases
        .run("FilterExpression runs after the read", async {
            let out = q("pk = :p", vec![(":even", s("even")), (":ten", n(10))])
                .filter_expression("kind = :even AND #c > :ten")
                .expression_attribute_names("#c", "count")
                .send()
                .await
                .unwrap();
            assert_eq!(sks(&out), ["s12", "s14", "s16", "s18", "s20"]);
            assert_eq!((out.count(), out.scanned_count()), (5, 20));
        })
        .await;

    // ProjectionExpression.
    cases
        .run("ProjectionExpression", async {
            let out = q("pk = :p AND sk = :v", vec![(":v", s("s07"))])
                .projection_expression("sk, #c")
                .expression_attribute_names("#c", "count")
                .send()
                .await
                .unwrap();
            assert_eq!(out.items(), [item([("sk", s("s07")), ("count", n(7))])]);
        })
        .await;

    // Backwards.
    cases
        .run("backwards", async {
            let out = q("pk = :p AND sk <= :v", vec![(":v", s("s05"))])
                .scan_index_forward(false)
                .send()
                .await
                .unwrap();
            assert_eq!(sks(&out), ["s05", "s04", "s03", "s02", "s01"]);
        })
        .await;

    // Limit pages with LastEvaluatedKey/ExclusiveStartKey, both directions.
    for forward in [true, false] {
        cases
            .run(format!("pages, forward {forward}"), async {
                let mut got = Vec::new();
                let mut sizes = Vec::new();
                let mut start = None;
                for _ in 0..10 {
                    let out = q("pk = :p", vec![])
                        .scan_index_forward(forward)
                        .limit(7)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .unwrap();
                    sizes.push(out.items().len());
                    got.extend(sks(&out));
                    if let Some(k) = out.last_evaluated_key() {
                        assert_eq!(
                            k,
                            &item([("pk", s("p")), ("sk", s(got.last().unwrap()))]),
                            "LastEvaluatedKey is the last item's key"
                        );
                        start = Some(k.clone());
                    } else {
                        break;
                    }
                }
                let mut want = range(1, 20);
                if !forward {
                    want.reverse();
                }
                assert_eq!(got, want, "forward {forward}");
                assert_eq!(sizes, [7, 7, 6], "forward {forward}");
            })
            .await;
    }

    // Limit counts items read, before the filter.
    cases
        .run("Limit counts items read, before the filter", async {
            let out = q("pk = :p", vec![(":even", s("even"))])
                .filter_expression("kind = :even")
                .limit(4)
                .send()
                .await
                .unwrap();
            assert_eq!(sks(&out), ["s02", "s04"]);
            assert_eq!(out.scanned_count(), 4);
            assert_eq!(
                out.last_evaluated_key(),
                Some(&item([("pk", s("p")), ("sk", s("s04"))]))
            );
        })
        .await;

    // Select COUNT: a count and no items, with or without a filter.
    cases
        .run("Select COUNT", async {
            let out = q("pk = :p", vec![])
                .select(Select::Count)
                .send()
                .await
                .unwrap();
            assert_eq!((out.count(), out.scanned_count()), (20, 20));
            assert!(out.items.is_none(), "COUNT returns no Items: {out:?}");
        })
        .await;
    cases
        .run("Select COUNT with a filter", async {
            let out = q("pk = :p", vec![(":odd", s("odd"))])
                .filter_expression("kind = :odd")
                .select(Select::Count)
                .send()
                .await
                .unwrap();
            assert_eq!((out.count(), out.scanned_count()), (10, 20));
        })
        .await;
    cases
        .run("COUNT with a projection", async {
            expect_validation(
                q("pk = :p", vec![])
                    .select(Select::Count)
                    .projection_expression("sk")
                    .send()
                    .await,
                "",
                "COUNT with a projection",
            );
        })
        .await;

    // Numbers sort numerically.
    create_table(
        &c,
        "nums",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let sorted = ["-5", "1", "2", "2.5", "10", "100"];
    batch_put(
        &c,
        "nums",
        ["100", "2.5", "-5", "10", "1", "2"]
            .iter()
            .map(|v| item([("pk", s("a")), ("sk", n(v))]))
            .collect(),
    )
    .await;
    let numq = |kce: &'static str| {
        c.query()
            .table_name("nums")
            .key_condition_expression(kce)
            .expression_attribute_values(":a", s("a"))
    };
    let nums = |out: &QueryOutput| -> Vec<String> {
        out.items()
            .iter()
            .map(|i| i["sk"].as_n().unwrap().clone())
            .collect()
    };
    cases
        .run("numbers sort numerically", async {
            assert_eq!(nums(&numq("pk = :a").send().await.unwrap()), sorted);
        })
        .await;
    cases
        .run("numbers backwards", async {
            let out = numq("pk = :a")
                .scan_index_forward(false)
                .send()
                .await
                .unwrap();
            assert_eq!(nums(&out), sorted.iter().rev().copied().collect::<Vec<_>>());
        })
        .await;
    cases
        .run("numbers below ten", async {
            let out = numq("pk = :a AND sk < :ten")
                .expression_attribute_values(":ten", n(10))
                .send()
                .await
                .unwrap();
            assert_eq!(nums(&out), ["-5", "1", "2", "2.5"]);
        })
        .await;

    // Bad queries are validation errors.
    let bad = [
        (
            numq("pk = :a AND begins_with(sk, :one)").expression_attribute_values(":one", n(1)),
            "begins_with",
        ),
        (
            numq("pk = :a AND sk > :x").expression_attribute_values(":x", s("x")),
            "",
        ),
        (
            numq("pk = :a AND other = :x").expression_attribute_values(":x", n(1)),
            "",
        ),
        (
            numq("pk = :a AND sk BETWEEN :hi AND :lo")
                .expression_attribute_values(":hi", n(10))
                .expression_attribute_values(":lo", n(1)),
            "BETWEEN",
        ),
        (numq("pk = :a OR pk = :a"), ""),
        (
            numq("pk = :a")
                .exclusive_start_key("pk", s("b"))
                .exclusive_start_key("sk", n(1)),
            "",
        ),
        (numq("pk = :a").limit(0), "limit"),
    ];
    for (req, contains) in bad {
        cases
            .run(format!("{:?}", req.as_input()), async {
                let what = format!("{:?}", req.as_input());
                expect_validation(req.send().await, contains, &what);
            })
            .await;
    }
    cases
        .run("Query without a key condition", async {
            expect_validation(
                c.query().table_name("nums").send().await,
                "KeyConditionExpression",
                "Query without a key condition",
            );
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_page_stops_at_one_megabyte() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "big",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let payload = "x".repeat(100 * 1024);
    batch_put(
        &c,
        "big",
        (0..15)
            .map(|i| item([("pk", s("b")), ("sk", n(i)), ("payload", s(&payload))]))
            .collect(),
    )
    .await;
    let q = || {
        c.query()
            .table_name("big")
            .key_condition_expression("pk = :b")
            .expression_attribute_values(":b", s("b"))
    };
    let first = q().send().await.unwrap();
    let n1 = first.items().len();
    // 10 items are just under 1 MB (1,048,576 bytes); the 11th crosses it.
    assert!(
        (10..=11).contains(&n1),
        "a page holds about 1 MB of 100 KB items, got {n1}"
    );
    let lek = first
        .last_evaluated_key()
        .expect("a page cut at 1 MB has a LastEvaluatedKey")
        .clone();
    assert_eq!(lek, item([("pk", s("b")), ("sk", n(n1 - 1))]));
    let second = q().set_exclusive_start_key(Some(lek)).send().await.unwrap();
    assert_eq!(second.items().len(), 15 - n1);
    assert!(second.last_evaluated_key().is_none());
    let all: BTreeSet<String> = first
        .items()
        .iter()
        .chain(second.items())
        .map(|i| i["sk"].as_n().unwrap().clone())
        .collect();
    assert_eq!(all.len(), 15);
    // A smaller Limit wins; COUNT and Scan obey the same 1 MB page.
    let limited = q().limit(3).send().await.unwrap();
    assert_eq!(limited.items().len(), 3);
    let counted = q().select(Select::Count).send().await.unwrap();
    assert_eq!(counted.count() as usize, n1);
    assert!(counted.last_evaluated_key().is_some());
    let scanned = c.scan().table_name("big").send().await.unwrap();
    assert_eq!(scanned.items().len(), n1);
    assert!(scanned.last_evaluated_key().is_some());
    cluster.shutdown().await;
}
