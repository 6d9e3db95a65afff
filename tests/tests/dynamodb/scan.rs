//! Section 4: Scan: filters, pages and parallel segments.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_filter_page_and_split_into_segments() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "scan", ("pk", ScalarAttributeType::S), None).await;
    batch_put(
        &c,
        "scan",
        (0..40)
            .map(|i| item([("pk", s(&format!("k{i:02}"))), ("num", n(i))]))
            .collect(),
    )
    .await;
    let keys = |items: &[Item]| -> Vec<String> {
        items.iter().map(|i| str_of(i, "pk").to_string()).collect()
    };
    let all_keys: BTreeSet<String> = (0..40).map(|i| format!("k{i:02}")).collect();

    let mut cases = Cases::new();
    cases
        .run("a full scan", async {
            let full = c
                .scan()
                .table_name("scan")
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            assert_eq!(full.count(), 40);
            assert!(full.last_evaluated_key().is_none());
            let got: BTreeSet<String> = keys(full.items()).into_iter().collect();
            assert_eq!(got, all_keys);
        })
        .await;

    cases
        .run("a filtered scan", async {
            let out = c
                .scan()
                .table_name("scan")
                .filter_expression("num < :ten")
                .expression_attribute_values(":ten", n(10))
                .send()
                .await
                .unwrap();
            assert_eq!((out.count(), out.scanned_count()), (10, 40));
        })
        .await;

    // Pages, with and without a filter, optionally within a segment.
    let pages = |limit: i32, filter: bool, segment: Option<(i32, i32)>| {
        let c = c.clone();
        async move {
            let (mut got, mut scanned, mut start) = (Vec::new(), 0, None);
            for _ in 0..100 {
                let mut req = c
                    .scan()
                    .table_name("scan")
                    .limit(limit)
                    .set_exclusive_start_key(start.take());
                if filter {
                    req = req
                        .filter_expression("num >= :x")
                        .expression_attribute_values(":x", n(30));
                }
                if let Some((s, t)) = segment {
                    req = req.segment(s).total_segments(t);
                }
                let out = req.send().await.unwrap();
                assert!(out.scanned_count() <= limit, "{out:?}");
                scanned += out.scanned_count();
                got.extend(keys(out.items()));
                match out.last_evaluated_key() {
                    Some(k) => start = Some(k.clone()),
                    None => return (got, scanned),
                }
            }
            panic!("scan does not end");
        }
    };
    cases
        .run("pages of 7", async {
            let (got, scanned) = pages(7, false, None).await;
            assert_eq!(got.len(), 40, "no duplicates across pages");
            assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), all_keys);
            assert_eq!(scanned, 40);
        })
        .await;
    cases
        .run("filtered pages of 6", async {
            let (got, scanned) = pages(6, true, None).await;
            assert_eq!(
                got.iter().cloned().collect::<BTreeSet<_>>(),
                range_keys(30, 39)
            );
            assert_eq!(got.len(), 10);
            assert_eq!(scanned, 40);
        })
        .await;

    // Parallel scan: the segments partition the table.
    cases
        .run("the segments partition the table", async {
            let mut union = Vec::new();
            let mut nonempty = 0;
            for seg in 0..4 {
                let (got, _) = pages(5, false, Some((seg, 4))).await;
                nonempty += usize::from(!got.is_empty());
                union.extend(got);
            }
            assert_eq!(union.len(), 40, "no item in two segments");
            assert_eq!(union.into_iter().collect::<BTreeSet<_>>(), all_keys);
            assert!(nonempty >= 2, "40 keys spread over more than one segment");
        })
        .await;
    cases
        .run("Segment >= TotalSegments", async {
            expect_validation(
                c.scan()
                    .table_name("scan")
                    .segment(4)
                    .total_segments(4)
                    .send()
                    .await,
                "Segment",
                "Segment >= TotalSegments",
            );
        })
        .await;
    cases
        .run("Segment without TotalSegments", async {
            expect_validation(
                c.scan().table_name("scan").segment(0).send().await,
                "TotalSegments",
                "Segment without TotalSegments",
            );
        })
        .await;
    cases
        .run("TotalSegments 0", async {
            expect_validation(
                c.scan()
                    .table_name("scan")
                    .segment(0)
                    .total_segments(0)
                    .send()
                    .await,
                "totalSegments",
                "TotalSegments 0",
            );
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

fn range_keys(lo: u32, hi: u32) -> BTreeSet<String> {
    (lo..=hi).map(|i| format!("k{i:02}")).collect()
}
