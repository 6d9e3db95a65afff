//! Section 7: Limits: item size, nesting, numbers, start keys, transactions and
//! HTTP limits as DynamoDB sets them.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_dynamodbs() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "lim", ("pk", ScalarAttributeType::S), None).await;
    create_table(
        &c,
        "lim2",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    let try_put = |it: Item| c.put_item().table_name("lim").set_item(Some(it)).send();

    let mut cases = Cases::new();
    // 400 KB = 409,600 bytes of attribute names and values.
    let max = 400 * 1024;
    let body = |len: usize| item([("pk", s("big")), ("data", s(&"x".repeat(len)))]);
    let fixed = "pk".len() + "big".len() + "data".len();
    cases
        .run("exactly 400 KB", async {
            try_put(body(max - fixed)).await.expect("exactly 400 KB");
        })
        .await;
    cases
        .run("400 KB + 1", async {
            expect_validation(
                try_put(body(max - fixed + 1)).await,
                "Item size has exceeded the maximum allowed size",
                "400 KB + 1",
            );
        })
        .await;
    cases
        .run("an update that grows an item past 400 KB", async {
            expect_validation(
                c.update_item()
                    .table_name("lim")
                    .key("pk", s("big"))
                    .update_expression("SET more = :x")
                    .expression_attribute_values(":x", s("grow"))
                    .send()
                    .await,
                "Item size has exceeded",
                "an update that grows an item past 400 KB",
            );
        })
        .await;

    // Keys: 2048 bytes of partition key, 1024 of sort key.
    cases
        .run("2048-byte partition key", async {
            try_put(item([("pk", s(&"p".repeat(2048)))]))
                .await
                .expect("2048-byte partition key");
        })
        .await;
    cases
        .run("2049-byte partition key", async {
            // DynamoDB's text exactly, with no space before 2048.
            assert_eq!(
                expect_code(
                    try_put(item([("pk", s(&"p".repeat(2049)))])).await,
                    "ValidationException",
                    "2049-byte partition key",
                ),
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
            );
        })
        .await;
    let put2 = |sk: String| {
        c.put_item()
            .table_name("lim2")
            .item("pk", s("a"))
            .item("sk", AttributeValue::S(sk))
            .send()
    };
    cases
        .run("1024-byte sort key", async {
            put2("s".repeat(1024)).await.expect("1024-byte sort key");
        })
        .await;
    cases
        .run("1025-byte sort key", async {
            assert_eq!(
                expect_code(
                    put2("s".repeat(1025)).await,
                    "ValidationException",
                    "1025-byte sort key",
                ),
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
            );
        })
        .await;
    cases
        .run("an empty key", async {
            expect_validation(
                try_put(item([("pk", s(""))])).await,
                "empty string",
                "an empty key",
            );
        })
        .await;
    cases
        .run("an empty non-key string is allowed", async {
            try_put(item([("pk", s("e")), ("blank", s(""))]))
                .await
                .expect("an empty non-key string is allowed");
        })
        .await;

    // 32 levels of nesting.
    let nested = |depth: usize| {
        let mut v = s("leaf");
        for i in 0..depth {
            v = if i % 2 == 0 {
                l(vec![v])
            } else {
                m([("k", v)])
            };
        }
        item([("pk", s("deep")), ("v", v)])
    };
    cases
        .run("32 levels", async {
            try_put(nested(32)).await.expect("32 levels");
        })
        .await;
    cases
        .run("33 levels", async {
            expect_validation(
                try_put(nested(33)).await,
                "Nesting Levels have exceeded supported limits",
                "33 levels",
            );
        })
        .await;

    // 4096 bytes of expression.
    let cond = |len: usize| {
        let base = "attribute_not_exists(pk)";
        format!("{base}{}", " ".repeat(len - base.len()))
    };
    cases
        .run("a 4096-byte expression", async {
            c.put_item()
                .table_name("lim")
                .item("pk", s("expr"))
                .condition_expression(cond(4096))
                .send()
                .await
                .expect("a 4096-byte expression");
        })
        .await;
    cases
        .run("a 4097-byte expression", async {
            expect_validation(
                c.put_item()
                    .table_name("lim")
                    .item("pk", s("expr2"))
                    .condition_expression(cond(4097))
                    .send()
                    .await,
                "Expression size has exceeded the maximum allowed size",
                "a 4097-byte expression",
            );
        })
        .await;

    // Sets are never empty and never hold duplicates.
    for (what, v, message) in [
        (
            "SS",
            AttributeValue::Ss(vec![]),
            "One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            "NS",
            AttributeValue::Ns(vec![]),
            "One or more parameter values were invalid: An number set  may not be empty",
        ),
        (
            "BS",
            AttributeValue::Bs(vec![]),
            "One or more parameter values were invalid: Binary sets should not be empty",
        ),
    ] {
        cases
            .run(what, async {
                expect_validation(
                    try_put(item([("pk", s("set")), ("v", v)])).await,
                    message,
                    what,
                );
            })
            .await;
    }
    cases
        .run("an empty set as an expression value", async {
            expect_validation(
                c.update_item()
                    .table_name("lim")
                    .key("pk", s("set"))
                    .update_expression("SET v = :e")
                    .expression_attribute_values(":e", AttributeValue::Ss(vec![]))
                    .send()
                    .await,
                "",
                "an empty set as an expression value",
            );
        })
        .await;
    cases
        .run("a set with duplicates", async {
            expect_validation(
                try_put(item([("pk", s("set")), ("v", ss(&["a", "a"]))])).await,
                "duplicates",
                "a set with duplicates",
            );
        })
        .await;

    // Numbers: 38 significant digits, magnitude 1E-130 to 9.99…E+125.
    let digits38 = "12345678901234567890123456789012345678";
    cases
        .run("38 digits", async {
            try_put(item([("pk", s("num")), ("v", n(digits38))]))
                .await
                .expect("38 digits");
        })
        .await;
    cases
        .run("39 digits", async {
            expect_validation(
                try_put(item([("pk", s("num")), ("v", n(format!("{digits38}9")))])).await,
                "Attempting to store more than 38 significant digits",
                "39 digits",
            );
        })
        .await;
    cases
        .run("trailing zeros are not significant digits", async {
            try_put(item([
                ("pk", s("num")),
                ("v", n(format!("1{}", "0".repeat(40)))),
            ]))
            .await
            .expect("trailing zeros are not significant digits");
        })
        .await;
    cases
        .run("9.9E+125", async {
            try_put(item([("pk", s("num")), ("v", n("9.9E+125"))]))
                .await
                .expect("9.9E+125");
        })
        .await;
    cases
        .run("1E+126", async {
            expect_validation(
                try_put(item([("pk", s("num")), ("v", n("1E+126"))])).await,
                "Number overflow",
                "1E+126",
            );
        })
        .await;
    cases
        .run("1E-131", async {
            expect_validation(
                try_put(item([("pk", s("num")), ("v", n("1E-131"))])).await,
                "Number underflow",
                "1E-131",
            );
        })
        .await;
    cases
        .run("not a number", async {
            expect_validation(
                try_put(item([("pk", s("num")), ("v", n("12abc"))])).await,
                "",
                "not a number",
            );
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// The cancellation reasons of a TransactWriteItems that must fail with
/// `TransactionCanceledException`: (code, has a message) per action.
fn reasons_of(
    r: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
    >,
    what: &str,
) -> Vec<(String, Option<String>)> {
    match r.map_err(|e| e.into_service_error()) {
        Err(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| {
                (
                    r.code().unwrap_or_default().to_string(),
                    r.message().map(str::to_string),
                )
            })
            .collect(),
        other => panic!("{what}: expected TransactionCanceledException, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_numbers_start_keys_transactions_and_http_limits_are_dynamodbs() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "hko", ("p", ScalarAttributeType::S), None).await;
    create_table(
        &c,
        "hsk",
        ("p", ScalarAttributeType::S),
        Some(("c", ScalarAttributeType::N)),
    )
    .await;
    put(&c, "hko", item([("p", s("k")), ("a", n(1)), ("b", n(2))])).await;

    let mut cases = Cases::new();
    // Parentheses nest as deep as 300 operators allow: 149 levels hold 299.
    let cond = |text: String| {
        c.update_item()
            .table_name("hko")
            .key("p", s("k"))
            .update_expression("SET z = :v")
            .expression_attribute_values(":v", n(1))
            .condition_expression(text)
            .send()
    };
    let nested = |depth: usize| format!("a<b {}{}", "or (a<b ".repeat(depth), ")".repeat(depth));
    cases
        .run("149 nested levels", async {
            cond(nested(149)).await.expect("149 nested levels");
        })
        .await;
    cases
        .run("150 levels, 301 operators", async {
            expect_validation(
                cond(nested(150)).await,
                "The expression contains too many operators; operator count: 301",
                "150 levels, 301 operators",
            );
        })
        .await;
    // Pathological nesting is refused, never a crash of the region.
    for (text, says) in [
        (
            format!("{}a<b{}", "(".repeat(2045), ")".repeat(2045)),
            "redundant parentheses",
        ),
        ("(".repeat(4096), "Syntax error; token: \"<EOF>\""),
        (
            "(".repeat(100_000),
            "Expression size has exceeded the maximum allowed size",
        ),
        (
            format!("a < {}b{}", "size(".repeat(680), ")".repeat(680)),
            "too many operators",
        ),
    ] {
        cases
            .run(says, async {
                expect_validation(cond(text).await, says, says);
            })
            .await;
    }
    cases
        .run("the region still answers", async {
            assert!(
                get(&c, "hko", item([("p", s("k"))])).await.is_some(),
                "the region still answers"
            );
        })
        .await;

    // Numbers come back in plain digits, whatever notation went in.
    for (input, plain) in [
        ("1e125", format!("1{}", "0".repeat(125))),
        ("-1.5E-3", "-0.0015".to_string()),
        ("+007.50", "7.5".to_string()),
    ] {
        cases
            .run(input, async {
                put(&c, "hko", item([("p", s(input)), ("x", n(input))])).await;
                let got = get(&c, "hko", item([("p", s(input))]))
                    .await
                    .expect("the item");
                assert_eq!(got["x"], n(&plain), "{input}");
            })
            .await;
    }

    // A parallel Scan's start key must lie in its segment.
    cases.run("a start key of segment 1 for segment 0", async {
        let mut outside = None;
        for i in 0..50 {
            let key = format!("seg{i}");
            let r = c
                .scan()
                .table_name("hko")
                .segment(0)
                .total_segments(2)
                .exclusive_start_key("p", s(&key))
                .send()
                .await;
            if r.is_err() {
                outside = Some((key, r));
                break;
            }
        }
        let (_, r) = outside.expect("some key of 50 hashes to segment 1");
        expect_validation(
            r,
            "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: 0",
            "a start key of segment 1 for segment 0",
        );
    }).await;

    // Query start keys: never on a hash-only table, whose pages never
    // offer one, so a paginator stops after its one item; in the queried
    // partition otherwise.
    cases
        .run(
            "a hash-only table's query page offers no start key",
            async {
                let page = c
                    .query()
                    .table_name("hko")
                    .key_condition_expression("p = :p")
                    .expression_attribute_values(":p", s("k"))
                    .limit(1)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.count, 1);
                assert_eq!(page.last_evaluated_key, None);
            },
        )
        .await;
    cases.run("a start key on a hash-only table", async {
        expect_validation(
            c.query()
                .table_name("hko")
                .key_condition_expression("p = :p")
                .expression_attribute_values(":p", s("k"))
                .exclusive_start_key("p", s("k"))
                .send()
                .await,
            "The provided exclusive start key is invalid: ExclusiveStartKey: {p=AttributeValue: {S:k}}",
            "a start key on a hash-only table",
        );
    }).await;
    cases.run("a start key in another partition", async {
        expect_validation(
            c.query()
                .table_name("hsk")
                .key_condition_expression("p = :p")
                .expression_attribute_values(":p", s("right"))
                .exclusive_start_key("p", s("wrong"))
                .exclusive_start_key("c", n(0))
                .send()
                .await,
            "The provided starting key is outside query boundaries based on provided conditions",
            "a start key in another partition",
        );
    }).await;

    // A transaction action's own invalid data cancels the transaction with
    // a ValidationError at its index; the others are None, unchecked.
    cases
        .run("a key of the wrong type", async {
            let reasons = reasons_of(
                c.transact_write_items()
                    .transact_items(tx_put("hko", item([("p", s("t0"))])))
                    .transact_items(tx_put("hko", item([("p", n(7))])))
                    .transact_items(tx_put("hko", item([("p", n(8))])))
                    .send()
                    .await,
                "a key of the wrong type",
            );
            let codes: Vec<&str> = reasons.iter().map(|(c, _)| c.as_str()).collect();
            assert_eq!(codes, ["None", "ValidationError", "None"]);
            assert!(
                reasons[1]
                    .1
                    .as_deref()
                    .is_some_and(|m| m.contains("Type mismatch for key p")),
                "{reasons:?}"
            );
            assert!(reasons[0].1.is_none() && reasons[2].1.is_none());
        })
        .await;
    put(&c, "hko", item([("p", s("str")), ("s", s("text"))])).await;
    let add_to_string = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name("hko")
                .key("p", s("str"))
                .update_expression("ADD s :one")
                .expression_attribute_values(":one", n(1))
                .build()
                .unwrap(),
        )
        .build();
    cases
        .run("ADD to a string at run time", async {
            let reasons = reasons_of(
                c.transact_write_items()
                    .transact_items(tx_put("hko", item([("p", s("t1"))])))
                    .transact_items(add_to_string.clone())
                    .send()
                    .await,
                "ADD to a string at run time",
            );
            let codes: Vec<&str> = reasons.iter().map(|(c, _)| c.as_str()).collect();
            assert_eq!(codes, ["None", "ValidationError"], "{reasons:?}");
            assert!(reasons[1].1.is_some());
            assert!(
                get(&c, "hko", item([("p", s("t1"))])).await.is_none(),
                "nothing written"
            );
        })
        .await;
    cases
        .run("one action", async {
            let reasons = reasons_of(
                c.transact_write_items()
                    .transact_items(add_to_string)
                    .send()
                    .await,
                "one action",
            );
            assert_eq!(reasons.len(), 1);
            assert_eq!(reasons[0].0, "ValidationError");
        })
        .await;

    // A transaction request is at most 4 MB; its items may weigh more.
    let big = |i: usize| {
        tx_put(
            "hko",
            item([("p", s(&format!("big{i}"))), ("x", s(&"x".repeat(100_000)))]),
        )
    };
    cases
        .run("5 MB", async {
            let mut five = c.transact_write_items();
            for i in 0..50 {
                five = five.transact_items(big(i));
            }
            expect_validation(
                five.send().await,
                "Transaction payload size cannot exceed 4 MB",
                "5 MB",
            );
        })
        .await;
    cases
        .run("3 MB of puts", async {
            let mut three = c.transact_write_items();
            for i in 0..30 {
                three = three.transact_items(big(i));
            }
            three.send().await.expect("3 MB of puts");
        })
        .await;

    // HTTP: a request line or headers past 16 KB answer a plain 400.
    let addr = cluster.nodes[0].dynamo_addr;
    let post = |path: String, extra: Vec<(&'static str, String)>| async move {
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
        ];
        headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        http::request(
            &http::Target::at(&addr.to_string(), &path),
            "POST",
            &headers,
            b"{}".to_vec(),
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        .expect("an answer within 10 s")
        .status
    };
    cases
        .run("8000 bytes of one header", async {
            assert_eq!(post("/".into(), vec![("x-a", "a".repeat(8000))]).await, 200);
        })
        .await;
    cases
        .run("16 KB of headers", async {
            assert_eq!(
                post(
                    "/".into(),
                    vec![("x-a", "a".repeat(8192)), ("x-b", "b".repeat(8192))]
                )
                .await,
                400
            );
        })
        .await;
    cases
        .run("a 17,000-byte request line", async {
            assert_eq!(post(format!("/{}", "x".repeat(17_000)), vec![]).await, 400);
        })
        .await;
    cases
        .run("an unknown path", async {
            assert_eq!(post("/garbage".into(), vec![]).await, 404);
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
