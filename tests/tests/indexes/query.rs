//! Section 2: Query on a global index: key conditions, paging, filters and
//! projections.

use super::*;

/// `events`: key `id`; `by_user` (ALL) on user/ts, `by_user_keys`
/// (KEYS_ONLY) and `by_user_inc` (INCLUDE color) on the same key, and
/// `by_name` (ALL) on user/name.
async fn events_table(c: &Client) {
    create_table_request(c, "events", ("id", TS), None)
        .attribute_definitions(def("user", TS))
        .attribute_definitions(def("ts", TN))
        .attribute_definitions(def("name", TS))
        .global_secondary_indexes(gsi("by_user", &["user"], &["ts"], all()))
        .global_secondary_indexes(gsi("by_user_keys", &["user"], &["ts"], keys_only()))
        .global_secondary_indexes(gsi("by_user_inc", &["user"], &["ts"], include(&["color"])))
        .global_secondary_indexes(gsi("by_name", &["user"], &["name"], all()))
        .send()
        .await
        .expect("create events");
}

fn event(i: i64, user: &str, ts: i64) -> Item {
    item([
        ("id", s(&format!("e{i:03}"))),
        ("user", s(user)),
        ("ts", n(ts)),
        ("name", s(&format!("n{:02}", i % 100))),
        ("color", s(if i % 4 == 0 { "red" } else { "blue" })),
        ("size", n(i * 10)),
        ("note", s("x")),
    ])
}

/// A Query of `index` of `events` (see [`q`]), `#u` naming `user`.
fn events_q(c: &Client, index: &str, expr: &str, values: &[AttributeValue]) -> QueryFluentBuilder {
    q(c, "events", index, expr, values).expression_attribute_names("#u", "user")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_a_global_index_by_key_conditions_paging_filters_and_projections() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    events_table(&c).await;
    // u1: 40 items, ts -20..19 (numbers order as numbers, negatives first).
    // u2: 10 items. u3: 20 items sharing 5 ts values (ties in the index).
    // Some items have no user at all.
    let mut items: Vec<Item> = (0..40).map(|i| event(i, "u1", i - 20)).collect();
    items.extend((40..50).map(|i| event(i, "u2", i)));
    items.extend((50..70).map(|i| event(i, "u3", i % 5)));
    items.extend((70..75).map(|i| item([("id", s(&format!("e{i:03}"))), ("ts", n(1))])));
    put_many(&c, "events", items.clone()).await;
    let by_id: HashMap<String, Item> = items
        .iter()
        .map(|i| (str_of(i, "id").to_string(), i.clone()))
        .collect();
    let lek = set(&["user", "ts", "id"]);
    let u1 = |range: std::ops::Range<i64>| -> Vec<String> {
        range.map(|t| format!("e{:03}", t + 20)).collect()
    };

    let mut cases = Cases::new();
    // The partition alone: every u1 item, by ts ascending, whole items.
    cases
        .run("the partition alone", async {
            let out = events_q(&c, "by_user", "#u = :v0", &[s("u1")])
                .send()
                .await
                .expect("query");
            assert_eq!(out.count(), 40);
            assert_eq!(ids(out.items()), u1(-20..20));
            for i in out.items() {
                assert_eq!(
                    norm_item(i),
                    norm_item(&by_id[str_of(i, "id")]),
                    "ALL projects whole items"
                );
            }
            assert!(out.last_evaluated_key().is_none());
        })
        .await;

    // Sort key conditions.
    let conditions: Vec<(&str, Vec<AttributeValue>, Vec<String>)> = vec![
        ("#u = :v0 AND ts = :v1", vec![s("u1"), n(-3)], u1(-3..-2)),
        ("#u = :v0 AND ts < :v1", vec![s("u1"), n(-15)], u1(-20..-15)),
        (
            "#u = :v0 AND ts <= :v1",
            vec![s("u1"), n(-15)],
            u1(-20..-14),
        ),
        ("#u = :v0 AND ts > :v1", vec![s("u1"), n(15)], u1(16..20)),
        ("#u = :v0 AND ts >= :v1", vec![s("u1"), n(15)], u1(15..20)),
        (
            "#u = :v0 AND ts BETWEEN :v1 AND :v2",
            vec![s("u1"), n(-2), n(2)],
            u1(-2..3),
        ),
        (
            "ts BETWEEN :v1 AND :v2 AND #u = :v0",
            vec![s("u1"), n(-2.5), n(2.5)],
            u1(-2..3),
        ),
        ("#u = :v0 AND ts > :v1", vec![s("u1"), n(100)], vec![]),
        ("#u = :v0 AND ts = :v1", vec![s("u2"), n(-3)], vec![]),
        ("#u = :v0", vec![s("nobody")], vec![]),
    ];
    for (expr, values, want) in conditions {
        cases
            .run(format!("{expr} {values:?}"), async {
                let got = query_all(events_q(&c, "by_user", expr, &values), &lek).await;
                assert_eq!(ids(&got), want, "{expr} {values:?}");
            })
            .await;
    }
    // begins_with on a string sort key.
    cases
        .run("begins_with(name, n1)", async {
            let got = query_all(
                events_q(
                    &c,
                    "by_name",
                    "#u = :v0 AND begins_with(#n, :v1)",
                    &[s("u1"), s("n1")],
                )
                .expression_attribute_names("#n", "name"),
                &set(&["user", "name", "id"]),
            )
            .await;
            let want: Vec<String> = (10..20).map(|i| format!("e{i:03}")).collect();
            assert_eq!(ids(&got), want, "begins_with(name, n1)");
        })
        .await;

    // Backwards.
    cases
        .run("ScanIndexForward false", async {
            let got = query_all(
                events_q(&c, "by_user", "#u = :v0 AND ts >= :v1", &[s("u1"), n(10)])
                    .scan_index_forward(false),
                &lek,
            )
            .await;
            let mut want = u1(10..20);
            want.reverse();
            assert_eq!(ids(&got), want, "ScanIndexForward false");
        })
        .await;

    // Paging: Limit 7 over 40 items, forwards and backwards, each once.
    for forward in [true, false] {
        cases
            .run(format!("paged forward={forward}"), async {
                let pages = query_pages(
                    events_q(&c, "by_user", "#u = :v0", &[s("u1")])
                        .scan_index_forward(forward)
                        .limit(7),
                    &lek,
                )
                .await;
                assert!(pages.len() >= 6, "{} pages", pages.len());
                for p in &pages[..pages.len() - 1] {
                    assert_eq!(p.count(), 7);
                    let lek = p.last_evaluated_key().unwrap();
                    let last = p.items().last().unwrap();
                    for a in ["user", "ts", "id"] {
                        assert_eq!(
                            lek.get(a),
                            last.get(a),
                            "LastEvaluatedKey is the last item's keys"
                        );
                    }
                }
                let got: Vec<String> = pages.iter().flat_map(|p| ids(p.items())).collect();
                let mut want = u1(-20..20);
                if !forward {
                    want.reverse();
                }
                assert_eq!(got, want, "paged forward={forward}");
            })
            .await;
    }
    // Paging through ties: 20 items on 5 index keys, Limit 3.
    for forward in [true, false] {
        cases
            .run(format!("u3 paged forward={forward}"), async {
                let got = query_all(
                    events_q(&c, "by_user", "#u = :v0", &[s("u3")])
                        .scan_index_forward(forward)
                        .limit(3),
                    &lek,
                )
                .await;
                let got_ids = ids(&got);
                let unique: BTreeSet<&String> = got_ids.iter().collect();
                assert_eq!(got_ids.len(), 20, "u3 paged forward={forward}: {got_ids:?}");
                assert_eq!(
                    unique.len(),
                    20,
                    "u3 each item once, forward={forward}: {got_ids:?}"
                );
                let ts: Vec<f64> = got.iter().map(|i| num_of(i, "ts")).collect();
                let mut sorted = ts.clone();
                sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
                if !forward {
                    sorted.reverse();
                }
                assert_eq!(ts, sorted, "u3 in index order, forward={forward}");
            })
            .await;
    }

    // The red items of u1 in `index`, at most `limit` read.
    let red = |index: &str, limit: Option<i32>| {
        events_q(&c, index, "#u = :v0", &[s("u1")])
            .filter_expression("color = :v1")
            .expression_attribute_values(":v1", s("red"))
            .set_limit(limit)
            .send()
    };
    // A filter on a non-key attribute: Count after it, ScannedCount before.
    cases
        .run("a filter on a non-key attribute", async {
            let out = red("by_user", None).await.expect("filtered query");
            assert_eq!(out.count(), 10);
            assert_eq!(out.scanned_count(), 40);
            assert!(out.items().iter().all(|i| str_of(i, "color") == "red"));
        })
        .await;
    // With Limit, the limit counts items read before the filter.
    cases
        .run("a filter with Limit", async {
            let out = red("by_user", Some(8))
                .await
                .expect("filtered query with limit");
            assert_eq!(out.scanned_count(), 8);
            assert_eq!(out.count(), 2);
            assert!(out.last_evaluated_key().is_some());
        })
        .await;

    // Projections: KEYS_ONLY has the table's and the index's keys only;
    // INCLUDE adds its attributes; the default Select is
    // ALL_PROJECTED_ATTRIBUTES, and asking for it explicitly is the same.
    // Each index: its projection's name, what it projects, and the one
    // attribute compared with the whole item.
    let projected: [(&str, &str, &[&str], &str); 2] = [
        ("by_user_keys", "KEYS_ONLY", &["id", "user", "ts"], "ts"),
        (
            "by_user_inc",
            "INCLUDE",
            &["id", "user", "ts", "color"],
            "color",
        ),
    ];
    for select in [None, Some(Select::AllProjectedAttributes)] {
        cases
            .run(format!("projections, Select {select:?}"), async {
                for (index, kind, attrs, copied) in projected {
                    let got = query_all(
                        events_q(&c, index, "#u = :v0", &[s("u1")]).set_select(select.clone()),
                        &lek,
                    )
                    .await;
                    assert_eq!(got.len(), 40);
                    for i in &got {
                        assert_eq!(names(i), set(attrs), "{kind}, Select {select:?}");
                        assert_eq!(i.get(copied), by_id[str_of(i, "id")].get(copied));
                    }
                }
            })
            .await;
    }
    // An INCLUDE index's included attribute may be filtered on.
    cases
        .run("a filter on an INCLUDE index's attribute", async {
            let out = red("by_user_inc", None)
                .await
                .expect("filter on an included attribute");
            assert_eq!(out.count(), 10);
        })
        .await;
    // ProjectionExpression on projected attributes.
    cases
        .run("ProjectionExpression on projected attributes", async {
            let out = events_q(&c, "by_user", "#u = :v0 AND ts = :v1", &[s("u1"), n(0)])
                .projection_expression("id, #sz")
                .expression_attribute_names("#sz", "size")
                .send()
                .await
                .expect("projection expression");
            assert_eq!(out.items().len(), 1);
            assert_eq!(names(&out.items()[0]), set(&["id", "size"]));
            assert_eq!(out.items()[0].get("size"), Some(&n(200)));
        })
        .await;

    // Select COUNT: a count and no items.
    cases
        .run("Select COUNT", async {
            let out = events_q(
                &c,
                "by_user_keys",
                "#u = :v0 AND ts >= :v1",
                &[s("u1"), n(0)],
            )
            .select(Select::Count)
            .send()
            .await
            .expect("count");
            assert_eq!(out.count(), 20);
            assert_eq!(out.scanned_count(), 20);
            assert!(out.items().is_empty(), "{out:?}");
        })
        .await;
    // ALL_ATTRIBUTES on an ALL global index is allowed.
    cases
        .run("ALL_ATTRIBUTES on an ALL global index", async {
            let out = events_q(&c, "by_user", "#u = :v0 AND ts = :v1", &[s("u1"), n(0)])
                .select(Select::AllAttributes)
                .send()
                .await
                .expect("ALL_ATTRIBUTES on an ALL index");
            assert_eq!(norm_item(&out.items()[0]), norm_item(&by_id["e020"]));
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
