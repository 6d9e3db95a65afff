//! Section 10: Cross-region: writes replicate, conflicts converge to the greater
//! version, and a client token applies once across racing requests.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_replicate_and_conflicts_converge_to_the_greater_version() {
    let mut cluster = TestCluster::start_global(&REGIONS).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "geo", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("geo").await;
    let key = |k: &str| item([("pk", s(k))]);

    // Written in one region, read in the others.
    let doc = item([("pk", s("doc")), ("body", s("hello")), ("rev", n(1))]);
    put(&cs[0], "geo", doc.clone()).await;
    let mut cases = Cases::new();
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("doc in region {i}"), async {
                poll(&format!("doc in region {i}"), || async {
                    try_get(c, "geo", key("doc")).await == Ok(Some(doc.clone()))
                })
                .await;
            })
            .await;
    }
    cases
        .run("an update from region 2 reaches region 0", async {
            cs[2]
                .update_item()
                .table_name("geo")
                .key("pk", s("doc"))
                .update_expression("SET rev = rev + :one")
                .expression_attribute_values(":one", n(1))
                .send()
                .await
                .unwrap();
            // In region 1 too, which deletes the item next: a delete
            // there before the update arrived would be a true conflict.
            for i in [0, 1] {
                poll(
                    &format!("the update from region 2 in region {i}"),
                    || async {
                        try_get(&cs[i], "geo", key("doc"))
                            .await
                            .ok()
                            .flatten()
                            .map(|i| i["rev"].clone())
                            == Some(n(2))
                    },
                )
                .await;
            }
        })
        .await;
    cs[1]
        .delete_item()
        .table_name("geo")
        .key("pk", s("doc"))
        .send()
        .await
        .unwrap();
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("the delete in region {i}"), async {
                poll(&format!("the delete in region {i}"), || async {
                    try_get(c, "geo", key("doc")).await == Ok(None)
                })
                .await;
            })
            .await;
    }

    // A region that was down catches up through the SDK endpoint too.
    cluster.crash(2).await;
    let missed = item([("pk", s("missed")), ("v", n(1))]);
    put(&cs[0], "geo", missed.clone()).await;
    cluster.restart(2).await;
    let c2 = client(cluster.dynamo_url(2));
    cases
        .run("region 2 catches up after a restart", async {
            poll("region 2 catches up after a restart", || async {
                try_get(&c2, "geo", key("missed")).await == Ok(Some(missed.clone()))
            })
            .await;
        })
        .await;

    // Concurrent writes to one key in two regions until they conflict.
    let mut found = Vec::new();
    let mut rounds = 0;
    let started = tokio::time::Instant::now();
    while found.is_empty() && rounds < 40 && started.elapsed() < Duration::from_secs(30) {
        rounds += 1;
        let w = |i: usize| {
            cs[i]
                .put_item()
                .table_name("geo")
                .item("pk", s("hot"))
                .item("from", s(REGIONS[i]))
                .item("round", n(rounds))
                .send()
        };
        let (a, b) = tokio::join!(w(0), w(1));
        a.expect("write in region 0");
        b.expect("write in region 1");
        cluster
            .wait_quiescent("geo", Duration::from_secs(20))
            .await
            .expect("quiescent");
        for i in 0..REGIONS.len() {
            found.extend(cluster.conflicts(i, "geo").await);
        }
    }
    cases
        .run("a conflict is recorded", async {
            assert!(
                !found.is_empty(),
                "no conflict recorded after {rounds} rounds of concurrent writes"
            );
        })
        .await;
    let pk_of = |img: &Option<meridian_core::Item>| match img.as_ref().and_then(|i| i.get("pk")) {
        Some(AttrValue::S(k)) => k.clone(),
        other => panic!("conflict image without a string pk: {other:?}"),
    };
    let from_of = |img: &Option<meridian_core::Item>| match img.as_ref().and_then(|i| i.get("from"))
    {
        Some(AttrValue::S(r)) => r.clone(),
        other => panic!("conflict image without a region: {other:?}"),
    };
    // Every region holds the same item: the winner of the conflict.
    let finals: Vec<Option<Item>> = {
        let mut v = Vec::new();
        for c in [&cs[0], &cs[1], &c2] {
            v.push(get(c, "geo", key("hot")).await);
        }
        v
    };
    cases
        .run("every region holds the same item", async {
            assert!(
                finals.windows(2).all(|w| w[0] == w[1]),
                "regions differ: {finals:?}"
            );
        })
        .await;
    let last = finals[0].clone().expect("the hot item exists");
    cases
        .run("the item is the last round's", async {
            assert_eq!(last["round"], n(rounds));
        })
        .await;
    for (k, conflict) in found.iter().enumerate() {
        cases
            .run(format!("conflict {k}"), async {
                assert_eq!(conflict.table, "geo");
                assert_eq!(pk_of(&conflict.winner_image), "hot");
                assert_eq!(pk_of(&conflict.loser_image), "hot");
                assert!(
                    conflict.winner > conflict.loser,
                    "the winner has the greater version: {conflict:?}"
                );
                assert_ne!(
                    from_of(&conflict.winner_image),
                    from_of(&conflict.loser_image),
                    "the two writes came from two regions"
                );
                assert_eq!(
                    from_of(&conflict.winner_image),
                    str_of(&last, "from"),
                    "every region kept the winner: {conflict:?}"
                );
                assert_eq!(conflict.winner.origin, str_of(&last, "from"));
            })
            .await;
    }
    for i in 0..REGIONS.len() {
        cases
            .run(format!("heads in region {i}"), async {
                let heads = cluster.heads(i, "geo");
                let hot = heads
                    .values()
                    .find(|h| {
                        h.image
                            .as_ref()
                            .is_some_and(|img| img.get("pk") == Some(&AttrValue::S("hot".into())))
                    })
                    .expect("the hot head");
                assert_eq!(
                    hot.version, found[0].winner,
                    "region {i} keeps the greater version"
                );
            })
            .await;
    }
    cluster.shutdown().await;
    cases.finish();
}

/// Two identical transactions sent at once with one ClientRequestToken (an
/// SDK retry racing its first attempt) apply exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_request_token_applies_once_even_when_requests_race() {
    let cluster = TestCluster::start(&["us-east-1"]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "race", ("pk", ScalarAttributeType::S), None).await;
    for round in 0..20 {
        let send = || {
            let c = c.clone();
            async move {
                c.transact_write_items()
                    .client_request_token(format!("race-{round}"))
                    .transact_items(
                        TransactWriteItem::builder()
                            .update(
                                aws_sdk_dynamodb::types::Update::builder()
                                    .table_name("race")
                                    .key("pk", s("k"))
                                    .update_expression("ADD n :one")
                                    .expression_attribute_values(":one", n(1))
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send()
                    .await
            }
        };
        let (a, b) = tokio::join!(send(), send());
        for r in [&a, &b] {
            if let Err(e) = r {
                let code = e
                    .as_service_error()
                    .and_then(|s| s.meta().code())
                    .unwrap_or_default();
                assert_eq!(
                    code, "TransactionInProgressException",
                    "round {round}: {e:?}"
                );
            }
        }
        assert!(
            a.is_ok() || b.is_ok(),
            "round {round}: one of the two must succeed"
        );
        let got = get(&c, "race", item([("pk", s("k"))]))
            .await
            .expect("the item exists");
        assert_eq!(
            got.get("n"),
            Some(&n(round + 1)),
            "round {round}: applied exactly once"
        );
    }
    cluster.shutdown().await;
}
