//! Section 5: Local indexes: strong reads and fetches of unprojected attributes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_indexes_read_consistently_and_fetch_unprojected_attributes() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "threads";
    create_table_request(&c, t, ("forum", TS), Some(("subject", TS)))
        .attribute_definitions(def("replies", TN))
        .local_secondary_indexes(lsi("by_replies", "forum", "replies", keys_only()))
        .send()
        .await
        .expect("create threads");
    let mut items = Vec::new();
    for i in 0..30 {
        let mut it = item([
            ("forum", s(if i < 20 { "rust" } else { "go" })),
            ("subject", s(&format!("s{i:02}"))),
            ("body", s(&format!("body {i}"))),
        ]);
        if i % 5 != 4 {
            it.insert("replies".into(), n(100 - i));
        }
        items.push(it);
    }
    put_many(&c, t, items.clone()).await;
    let whole: HashMap<String, Item> = items
        .iter()
        .map(|i| (str_of(i, "subject").to_string(), i.clone()))
        .collect();
    let lek = set(&["forum", "subject", "replies"]);
    let subjects = |v: &[Item]| -> Vec<String> {
        v.iter().map(|i| str_of(i, "subject").to_string()).collect()
    };

    // A Query of `by_replies` by `expr`, `:f` standing for `forum`.
    let by_replies = |expr: &str, forum: &str| {
        c.query()
            .table_name(t)
            .index_name("by_replies")
            .key_condition_expression(expr)
            .expression_attribute_values(":f", s(forum))
    };

    // Strongly consistent, in replies order, keys only by default.
    let mut cases = Cases::new();
    cases
        .run(
            "strongly consistent, in replies order, keys only by default",
            async {
                let got = query_all(
                    by_replies("forum = :f AND replies > :r", "rust")
                        .expression_attribute_values(":r", n(85))
                        .consistent_read(true)
                        .limit(4),
                    &lek,
                )
                .await;
                // rust: i in 0..20 with i % 5 != 4 and 100 - i > 85 → i < 15.
                let mut want: Vec<(i64, String)> = (0..15)
                    .filter(|i| i % 5 != 4)
                    .map(|i| (100 - i, format!("s{i:02}")))
                    .collect();
                want.sort();
                assert_eq!(
                    subjects(&got),
                    want.iter().map(|w| w.1.clone()).collect::<Vec<_>>()
                );
                for i in &got {
                    assert_eq!(names(i), lek, "KEYS_ONLY local index");
                }
            },
        )
        .await;
    // ALL_ATTRIBUTES on a local index fetches the whole items.
    cases
        .run("ALL_ATTRIBUTES fetches the whole items", async {
            let got = query_all(
                by_replies("forum = :f", "rust")
                    .select(Select::AllAttributes)
                    .consistent_read(true),
                &lek,
            )
            .await;
            assert_eq!(got.len(), 16, "items without replies are not in the index");
            for i in &got {
                assert_eq!(
                    norm_item(i),
                    norm_item(&whole[str_of(i, "subject")]),
                    "ALL_ATTRIBUTES"
                );
            }
        })
        .await;
    // So does a ProjectionExpression naming an unprojected attribute.
    cases
        .run(
            "a ProjectionExpression naming an unprojected attribute",
            async {
                let out = by_replies("forum = :f AND replies = :r", "go")
                    .expression_attribute_values(":r", n(80))
                    .projection_expression("subject, body")
                    .send()
                    .await
                    .expect("projection of an unprojected attribute");
                assert_eq!(out.items().len(), 1);
                assert_eq!(
                    out.items()[0],
                    item([("subject", s("s20")), ("body", s("body 20"))])
                );
            },
        )
        .await;
    // A consistent scan of a local index.
    cases
        .run("a consistent scan of a local index", async {
            let got = scan_all(
                c.scan()
                    .table_name(t)
                    .index_name("by_replies")
                    .consistent_read(true)
                    .limit(7),
                &lek,
            )
            .await;
            assert_eq!(got.len(), 24);
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
