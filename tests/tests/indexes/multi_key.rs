//! Section 7: Multi-attribute global index keys.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_attribute_global_index_keys() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "games";
    create_table_request(&c, t, ("id", TS), None)
        .attribute_definitions(def("tournament", TS))
        .attribute_definitions(def("zone", TS))
        .attribute_definitions(def("round", TN))
        .attribute_definitions(def("score", TN))
        .global_secondary_indexes(gsi(
            "by_match",
            &["tournament", "zone"],
            &["round", "score"],
            all(),
        ))
        .send()
        .await
        .expect("create games with a multi-attribute GSI");
    let d = describe(&c, t).await;
    let g = gsi_of(&d, "by_match").expect("by_match");
    let ks: Vec<(&str, &str)> = g
        .key_schema()
        .iter()
        .map(|e| (e.attribute_name(), e.key_type().as_str()))
        .collect();
    assert_eq!(
        ks,
        [
            ("tournament", "HASH"),
            ("zone", "HASH"),
            ("round", "RANGE"),
            ("score", "RANGE")
        ],
        "KeySchema in submitted order"
    );

    // T1/EU: rounds 1, 2, 3, 10 × scores 5, 40, 70 (12 items).
    let mut items = Vec::new();
    let mut k = 0;
    let mut game = |tour: &str, zone: Option<&str>, round: i64, score: Option<i64>| {
        k += 1;
        let mut it = item([
            ("id", s(&format!("g{k:03}"))),
            ("tournament", s(tour)),
            ("round", n(round)),
        ]);
        if let Some(z) = zone {
            it.insert("zone".into(), s(z));
        }
        if let Some(sc) = score {
            it.insert("score".into(), n(sc));
        }
        it
    };
    for round in [10, 2, 1, 3] {
        for score in [70, 5, 40] {
            items.push(game("T1", Some("EU"), round, Some(score)));
        }
    }
    for round in [1, 2] {
        items.push(game("T1", Some("US"), round, Some(1)));
        items.push(game("T2", Some("EU"), round, Some(1)));
        // Sparse: missing one component, not in the index.
        items.push(game("T1", None, round, Some(1)));
        items.push(game("T1", Some("EU"), round, None));
    }
    put_many(&c, t, items.clone()).await;
    let lek = set(&["tournament", "zone", "round", "score", "id"]);
    let rs = |v: &[Item]| -> Vec<(i64, i64)> {
        v.iter()
            .map(|i| (num_of(i, "round") as i64, num_of(i, "score") as i64))
            .collect()
    };
    let grid = |rounds: &[i64], scores: &[i64]| -> Vec<(i64, i64)> {
        rounds
            .iter()
            .flat_map(|r| scores.iter().map(move |s| (*r, *s)))
            .collect()
    };
    let base = "tournament = :v0 AND #z = :v1";
    // (key condition, its extra values, the (round, score) pairs it finds)
    type Case = (String, Vec<AttributeValue>, Vec<(i64, i64)>);
    let conditions: Vec<Case> = vec![
        (base.into(), vec![], grid(&[1, 2, 3, 10], &[5, 40, 70])),
        (
            format!("{base} AND round = :v2"),
            vec![n(2)],
            grid(&[2], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round > :v2"),
            vec![n(2)],
            grid(&[3, 10], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round <= :v2"),
            vec![n(2)],
            grid(&[1, 2], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round BETWEEN :v2 AND :v3"),
            vec![n(2), n(3)],
            grid(&[2, 3], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round = :v2 AND score > :v3"),
            vec![n(3), n(5)],
            grid(&[3], &[40, 70]),
        ),
        (
            format!("{base} AND round = :v2 AND score < :v3"),
            vec![n(3), n(40)],
            grid(&[3], &[5]),
        ),
        (
            format!("{base} AND round = :v2 AND score >= :v3"),
            vec![n(10), n(40)],
            grid(&[10], &[40, 70]),
        ),
        (
            format!("{base} AND round = :v2 AND score BETWEEN :v3 AND :v4"),
            vec![n(1), n(5), n(40)],
            grid(&[1], &[5, 40]),
        ),
        (
            format!("{base} AND round = :v2 AND score = :v3"),
            vec![n(1), n(40)],
            grid(&[1], &[40]),
        ),
        // Clause order does not matter.
        (
            "score = :v3 AND round = :v2 AND #z = :v1 AND tournament = :v0".to_string(),
            vec![n(1), n(40)],
            grid(&[1], &[40]),
        ),
    ];
    let mut cases = Cases::new();
    for (expr, extra, want) in conditions {
        cases
            .run(expr.clone(), async {
                let mut values = vec![s("T1"), s("EU")];
                values.extend(extra);
                let got = query_all(
                    q(&c, t, "by_match", &expr, &values).expression_attribute_names("#z", "zone"),
                    &lek,
                )
                .await;
                assert_eq!(rs(&got), want, "{expr}");
                // Backwards too.
                let got = query_all(
                    q(&c, t, "by_match", &expr, &values)
                        .expression_attribute_names("#z", "zone")
                        .scan_index_forward(false),
                    &lek,
                )
                .await;
                let mut back = want.clone();
                back.reverse();
                assert_eq!(rs(&got), back, "{expr} backwards");
            })
            .await;
    }
    // Another partition tuple.
    cases
        .run("another partition tuple", async {
            let got = query_all(
                q(&c, t, "by_match", base, &[s("T1"), s("US")])
                    .expression_attribute_names("#z", "zone"),
                &lek,
            )
            .await;
            assert_eq!(rs(&got), vec![(1, 1), (2, 1)]);
        })
        .await;

    // Paging with LastEvaluatedKey carrying every component.
    cases
        .run("paging with every component in LastEvaluatedKey", async {
            let pages = query_pages(
                q(&c, t, "by_match", base, &[s("T1"), s("EU")])
                    .expression_attribute_names("#z", "zone")
                    .limit(5),
                &lek,
            )
            .await;
            assert_eq!(pages.len(), 3);
            let got: Vec<Item> = pages.iter().flat_map(|p| p.items().to_vec()).collect();
            assert_eq!(rs(&got), grid(&[1, 2, 3, 10], &[5, 40, 70]));
        })
        .await;

    // Refused: a condition on the second sort attribute without the first,
    // a range on the first with one on the second, one partition attribute only.
    let refused = [
        (
            format!("{base} AND score > :v2"),
            vec![s("T1"), s("EU"), n(5)],
            "RANGE",
        ),
        (
            format!("{base} AND round > :v2 AND score > :v3"),
            vec![s("T1"), s("EU"), n(1), n(5)],
            "RANGE",
        ),
        ("tournament = :v0".to_string(), vec![s("T1")], "HASH"),
        (
            "tournament = :v0 AND round = :v1".to_string(),
            vec![s("T1"), n(1)],
            "HASH",
        ),
    ];
    for (expr, values, word) in refused {
        cases
            .run(expr.clone(), async {
                let mut b = q(&c, t, "by_match", &expr, &values);
                if expr.contains("#z") {
                    b = b.expression_attribute_names("#z", "zone");
                }
                let msg = expect_code(b.send().await, "ValidationException", &expr);
                assert!(msg.contains(word), "{expr}: {msg:?} should name {word}");
            })
            .await;
    }
    // A write of the wrong type in any component is refused.
    cases.run("wrong type in a component", async {
        let r = c
            .put_item()
            .table_name(t)
            .set_item(Some(item([
                ("id", s("bad")),
                ("tournament", s("T1")),
                ("zone", s("EU")),
                ("round", n(1)),
                ("score", s("high")),
            ])))
            .send()
            .await;
        expect_validation(
            r,
            "One or more parameter values were invalid: Type mismatch for Index Key score Expected: N Actual: S IndexName: by_match",
            "wrong type in a component",
        );
    }).await;
    cluster.shutdown().await;
    cases.finish();
}
