//! Section 8: Transactions: all or nothing, once per client token, atomically in
//! every peer.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_all_or_nothing_once_per_token() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "acct", ("pk", ScalarAttributeType::S), None).await;
    create_table(&c, "audit", ("pk", ScalarAttributeType::S), None).await;
    batch_put(
        &c,
        "acct",
        vec![
            item([("pk", s("a")), ("bal", n(100))]),
            item([("pk", s("b")), ("bal", n(0))]),
            item([("pk", s("gone")), ("bal", n(1))]),
            item([("pk", s("lock")), ("open", AttributeValue::Bool(true))]),
        ],
    )
    .await;
    let key = |k: &str| item([("pk", s(k))]);
    let transfer = |amount: i64, token: Option<&str>| {
        c.transact_write_items()
            .set_client_request_token(token.map(str::to_string))
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("acct")
                            .key("pk", s("a"))
                            .update_expression("SET bal = bal - :amt")
                            .condition_expression("bal >= :amt")
                            .expression_attribute_values(":amt", n(amount))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(tx_update(
                "acct",
                key("b"),
                "ADD bal :amt",
                &[(":amt", n(amount))],
            ))
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name("acct")
                            .key("pk", s("lock"))
                            .condition_expression("#o = :t")
                            .expression_attribute_names("#o", "open")
                            .expression_attribute_values(":t", AttributeValue::Bool(true))
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
    };
    let bal = |k: &'static str| {
        let c = c.clone();
        async move {
            get(&c, "acct", item([("pk", s(k))]))
                .await
                .and_then(|i| i.get("bal").cloned())
        }
    };

    // Put, Update, Delete and ConditionCheck over two tables, together.
    let mut cases = Cases::new();
    cases
        .run(
            "Put, Update, Delete and ConditionCheck together, then a transfer",
            async {
                c.transact_write_items()
                    .transact_items(tx_put(
                        "audit",
                        item([("pk", s("t1")), ("what", s("open"))]),
                    ))
                    .transact_items(
                        TransactWriteItem::builder()
                            .delete(
                                Delete::builder()
                                    .table_name("acct")
                                    .key("pk", s("gone"))
                                    .condition_expression("attribute_exists(pk)")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .transact_items(
                        TransactWriteItem::builder()
                            .put(
                                Put::builder()
                                    .table_name("acct")
                                    .item("pk", s("c"))
                                    .item("bal", n(5))
                                    .condition_expression("attribute_not_exists(pk)")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send()
                    .await
                    .expect("a mixed transaction");
                assert!(get(&c, "acct", key("gone")).await.is_none());
                assert_eq!(bal("c").await, Some(n(5)));
                assert!(get(&c, "audit", key("t1")).await.is_some());
                transfer(30, None).await.expect("a transfer");
                assert_eq!((bal("a").await, bal("b").await), (Some(n(70)), Some(n(30))));
            },
        )
        .await;

    // A failing condition cancels everything; reasons come in order, and a
    // reason carries the item only when its action asked for ALL_OLD (the
    // lock's check does). Each row: the amount, the lock stored before it,
    // the reasons' codes, and which reason carries what item.
    let closed = item([("pk", s("lock")), ("open", AttributeValue::Bool(false))]);
    let failed = Some("ConditionalCheckFailed");
    let cancelled = [
        (
            "a failing condition cancels everything, reasons in order",
            500,
            None,
            [failed, Some("None"), Some("None")],
            0,
            None,
        ),
        (
            "a closed lock cancels the transfer",
            10,
            Some(closed.clone()),
            [Some("None"), Some("None"), failed],
            2,
            Some(closed),
        ),
    ];
    for (name, amount, lock, codes, at, want) in cancelled {
        cases
            .run(name, async {
                if let Some(lock) = lock {
                    put(&c, "acct", lock).await;
                }
                let err = transfer(amount, None)
                    .await
                    .unwrap_err()
                    .into_service_error();
                match &err {
                    TransactWriteItemsError::TransactionCanceledException(e) => {
                        let r = e.cancellation_reasons();
                        let got: Vec<Option<&str>> = r.iter().map(|r| r.code()).collect();
                        assert_eq!(got, codes, "{e:?}");
                        match &want {
                            None => assert!(r[at].item().is_none(), "not asked for"),
                            Some(want) => assert_item(
                                r[at].item(),
                                want,
                                "ALL_OLD in the cancellation reason",
                            ),
                        }
                    }
                    other => panic!("expected TransactionCanceledException, got {other:?}"),
                }
                assert_eq!((bal("a").await, bal("b").await), (Some(n(70)), Some(n(30))));
            })
            .await;
    }
    put(
        &c,
        "acct",
        item([("pk", s("lock")), ("open", AttributeValue::Bool(true))]),
    )
    .await;

    // ClientRequestToken: the same request twice applies once; another
    // request with the token is refused.
    cases
        .run("the same request twice applies once", async {
            transfer(1, Some("tok-1"))
                .await
                .expect("first use of a token");
            transfer(1, Some("tok-1"))
                .await
                .expect("the same request again");
            assert_eq!((bal("a").await, bal("b").await), (Some(n(69)), Some(n(31))));
        })
        .await;
    cases
        .run("another request with the token is refused", async {
            let err = transfer(2, Some("tok-1"))
                .await
                .unwrap_err()
                .into_service_error();
            assert!(err.is_idempotent_parameter_mismatch_exception(), "{err:?}");
            assert_eq!((bal("a").await, bal("b").await), (Some(n(69)), Some(n(31))));
        })
        .await;
    cases
        .run("a new token", async {
            transfer(1, Some("tok-2")).await.expect("a new token");
            assert_eq!((bal("a").await, bal("b").await), (Some(n(68)), Some(n(32))));
        })
        .await;

    // 100 actions at most; one item once per transaction.
    let many = |count: usize| {
        let mut req = c.transact_write_items();
        for i in 0..count {
            req = req.transact_items(tx_put("audit", item([("pk", s(&format!("m{i:03}")))])));
        }
        req.send()
    };
    cases
        .run("100 actions", async {
            many(100).await.expect("100 actions");
            assert!(get(&c, "audit", key("m099")).await.is_some());
        })
        .await;
    let refused: [Refusal; 2] = [
        ("101 actions", ask(many(101)), Says::Has("transactItems")),
        (
            "one item twice",
            ask(c
                .transact_write_items()
                .transact_items(tx_put("acct", item([("pk", s("a"))])))
                .transact_items(tx_delete("acct", key("a")))
                .send()),
            Says::Has("multiple operations on one item"),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases
        .run("refused transactions change no balance", async {
            assert_eq!(bal("a").await, Some(n(68)));
        })
        .await;

    // TransactGetItems: in order, missing items empty, projections apply.
    cases
        .run(
            "TransactGetItems: in order, missing items empty, projections apply",
            async {
                let out = c
                    .transact_get_items()
                    .transact_items(tx_get("acct", key("a")))
                    .transact_items(tx_get("acct", key("nobody")))
                    .transact_items(
                        TransactGetItem::builder()
                            .get(
                                Get::builder()
                                    .table_name("audit")
                                    .key("pk", s("t1"))
                                    .projection_expression("#w")
                                    .expression_attribute_names("#w", "what")
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send()
                    .await
                    .unwrap();
                let r = out.responses();
                assert_eq!(r.len(), 3);
                assert_item(
                    r[0].item(),
                    &item([("pk", s("a")), ("bal", n(68))]),
                    "first get",
                );
                assert!(r[1].item().is_none(), "a missing item: {:?}", r[1]);
                assert_item(r[2].item(), &item([("what", s("open"))]), "projected get");
            },
        )
        .await;
    cases
        .run("101 gets", async {
            let mut too_many = c.transact_get_items();
            for i in 0..101 {
                too_many = too_many.transact_items(tx_get("audit", key(&format!("m{i:03}"))));
            }
            expect_validation(too_many.send().await, "transactItems", "101 gets");
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// In log order (`replication_order = "log"`, kinder than DynamoDB, for
/// comparison) every peer applies a transaction whole: a reader there never
/// sees part of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_log_order_a_transaction_applies_atomically_in_every_peer() {
    let cluster = TestCluster::start_tuned(&REGIONS, |c| {
        meridian_tests::every_region(c);
        meridian_tests::log_order(c);
    })
    .await;
    let cs = clients(&cluster);
    create_table(&cs[0], "pairs", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("pairs").await;
    const ROUNDS: u32 = 30;
    let writing = Arc::new(AtomicBool::new(true));

    // Region 1 reads both items together, as fast as it can, until it has
    // seen the last round or its bounds run out.
    let reader = {
        let c = cs[1].clone();
        let writing = writing.clone();
        tokio::spawn(async move {
            let (mut pairs, mut torn) = (0u32, Vec::new());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            for _ in 0..50_000 {
                if tokio::time::Instant::now() > deadline {
                    break;
                }
                let still_writing = writing.load(Ordering::SeqCst);
                let out = c
                    .transact_get_items()
                    .transact_items(tx_get("pairs", item([("pk", s("a"))])))
                    .transact_items(tx_get("pairs", item([("pk", s("b"))])))
                    .send()
                    .await
                    .expect("TransactGetItems in region 1");
                let v = |i: usize| out.responses()[i].item().map(|it| it["v"].clone());
                match (v(0), v(1)) {
                    (None, None) => {}
                    (Some(a), Some(b)) => {
                        pairs += 1;
                        if a != b {
                            torn.push((Some(a), Some(b)));
                        } else if a == n(ROUNDS) && !still_writing {
                            break;
                        }
                    }
                    // Both were created by the first transaction.
                    (a, b) => torn.push((a, b)),
                }
            }
            (pairs, torn)
        })
    };
    for round in 1..=ROUNDS {
        cs[0]
            .transact_write_items()
            .transact_items(tx_put("pairs", item([("pk", s("a")), ("v", n(round))])))
            .transact_items(tx_update(
                "pairs",
                item([("pk", s("b"))]),
                "SET v = :v",
                &[(":v", n(round))],
            ))
            .send()
            .await
            .expect("a transaction in region 0");
    }
    writing.store(false, Ordering::SeqCst);
    let (pairs, torn) = reader.await.expect("reader");
    assert!(
        torn.is_empty(),
        "region 1 saw a transaction half applied: {torn:?}"
    );
    assert!(pairs > 0, "region 1 never saw the pair");
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("the last round in region {i}"), || async {
            let a = try_get(c, "pairs", item([("pk", s("a"))])).await;
            let b = try_get(c, "pairs", item([("pk", s("b"))])).await;
            let last = Some(item([("pk", s("a")), ("v", n(ROUNDS))]));
            a == Ok(last) && b == Ok(Some(item([("pk", s("b")), ("v", n(ROUNDS))])))
        })
        .await;
    }
    cluster.shutdown().await;
}

/// In partition order, the default, a peer applies a transaction's items
/// as their partitions' lanes release them, as DynamoDB replicates
/// ("Using transactional APIs with global tables"): the region counts the
/// transactions it showed in part, and every replica still ends with the
/// last one whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_partition_order_a_peer_shows_transactions_in_part_and_ends_whole() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "pairs", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("pairs").await;
    // Two keys in different partitions of the table (8 by default).
    let schema = meridian_core::KeySchema {
        partition: meridian_core::KeyAttr {
            name: "pk".into(),
            ty: meridian_core::KeyType::S,
        },
        sort: None,
    };
    let lanes = meridian_region::replication::LaneModel::default();
    let lane = |k: &str| {
        let mut key = meridian_core::Item::new();
        key.insert("pk".into(), meridian_core::AttrValue::S(k.into()));
        lanes.lane("pairs", &schema.key_of(&key).unwrap().partition)
    };
    let first = "a".to_string();
    let second = (0..64)
        .map(|i| format!("b{i}"))
        .find(|k| lane(k) != lane(&first))
        .expect("a key in another partition");
    const ROUNDS: u32 = 30;
    for round in 1..=ROUNDS {
        cs[0]
            .transact_write_items()
            .transact_items(tx_put("pairs", item([("pk", s(&first)), ("v", n(round))])))
            .transact_items(tx_put("pairs", item([("pk", s(&second)), ("v", n(round))])))
            .send()
            .await
            .expect("a transaction in region 0");
    }
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("the last round in region {i}"), || async {
            let a = try_get(c, "pairs", item([("pk", s(&first))])).await;
            let b = try_get(c, "pairs", item([("pk", s(&second))])).await;
            a == Ok(Some(item([("pk", s(&first)), ("v", n(ROUNDS))])))
                && b == Ok(Some(item([("pk", s(&second)), ("v", n(ROUNDS))])))
        })
        .await;
    }
    let status = cluster
        .admin(1)
        .status(meridian_proto::v1::StatusRequest {})
        .await
        .expect("status of region 1")
        .into_inner();
    let from0 = status
        .peers
        .iter()
        .find(|p| p.peer == REGIONS[0])
        .expect("region 0 is a peer");
    assert!(
        from0.torn_units > 0,
        "30 transactions over two partitions, none shown in part: {from0:?}"
    );
    cluster.shutdown().await;
}
