//! Section 4: Scan of an index, in pages and in parallel segments.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_an_index_in_pages_and_in_parallel_segments() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "scans";
    create_table_request(&c, t, ("id", TS), Some(("v", TN)))
        .attribute_definitions(def("grp", TS))
        .attribute_definitions(def("n", TN))
        .global_secondary_indexes(gsi("by_grp", &["grp"], &["n"], all()))
        .global_secondary_indexes(gsi("by_grp_keys", &["grp"], &[], keys_only()))
        .send()
        .await
        .expect("create scans");
    let items: Vec<Item> = (0..200)
        .map(|i| {
            let mut it = item([
                ("id", s(&format!("k{:03}", i / 2))),
                ("v", n(i % 2)),
                ("extra", s("e")),
            ]);
            if i % 4 != 3 {
                it.insert("grp".into(), s(&format!("g{:02}", i % 13)));
                it.insert("n".into(), n(i % 7));
            }
            it
        })
        .collect();
    put_many(&c, t, items.clone()).await;
    let key_of = |i: &Item| (str_of(i, "id").to_string(), num_of(i, "v") as i64);
    let want: BTreeSet<(String, i64)> = items
        .iter()
        .filter(|i| i.contains_key("grp"))
        .map(key_of)
        .collect();
    assert_eq!(want.len(), 150);
    let lek = set(&["grp", "n", "id", "v"]);

    // One Scan, then pages of 13: every indexed item exactly once.
    let got = scan_all(c.scan().table_name(t).index_name("by_grp"), &lek).await;
    let keys: Vec<(String, i64)> = got.iter().map(key_of).collect();
    assert_eq!(keys.len(), 150);
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), want);
    let pages = scan_pages(c.scan().table_name(t).index_name("by_grp").limit(13), &lek).await;
    assert!(pages.len() >= 12, "{} pages", pages.len());
    let keys: Vec<(String, i64)> = pages
        .iter()
        .flat_map(|p| p.items().iter().map(key_of))
        .collect();
    assert_eq!(keys.len(), 150, "paged scan");
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), want);
    let count: i32 = pages.iter().map(|p| p.scanned_count()).sum();
    assert_eq!(count, 150);
    // A filtered, counted scan of the index.
    let out = c
        .scan()
        .table_name(t)
        .index_name("by_grp")
        .filter_expression("extra = :e")
        .expression_attribute_values(":e", s("e"))
        .select(Select::Count)
        .send()
        .await
        .expect("count scan");
    assert_eq!(out.count(), 150);

    // Parallel scan: 4 segments, each paged, together every item once.
    let mut seen: Vec<(String, i64)> = Vec::new();
    for seg in 0..4 {
        let got = scan_all(
            c.scan()
                .table_name(t)
                .index_name("by_grp")
                .segment(seg)
                .total_segments(4)
                .limit(9),
            &lek,
        )
        .await;
        seen.extend(got.iter().map(key_of));
    }
    assert_eq!(seen.len(), 150, "segments together");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), want);

    // A KEYS_ONLY index's scan returns keys only; its position keys too.
    let got = scan_all(
        c.scan().table_name(t).index_name("by_grp_keys").limit(20),
        &set(&["grp", "id", "v"]),
    )
    .await;
    assert_eq!(got.len(), 150);
    for i in &got {
        assert_eq!(names(i), set(&["grp", "id", "v"]), "{i:?}");
    }
    cluster.shutdown().await;
}
