//! Section 5: Batches: BatchWriteItem's 25 writes and BatchGetItem's 100 reads,
//! without duplicates.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_hold_25_writes_and_100_reads_without_duplicates() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "bat1", ("pk", ScalarAttributeType::S), None).await;
    create_table(&c, "bat2", ("pk", ScalarAttributeType::S), None).await;
    let it = |i: usize| item([("pk", s(&format!("k{i:03}"))), ("v", n(i))]);
    let key = |i: usize| item([("pk", s(&format!("k{i:03}")))]);

    let mut cases = Cases::new();
    cases
        .run("25 writes", async {
            let out = c
                .batch_write_item()
                .request_items("bat1", (0..25).map(|i| put_req(it(i))).collect())
                .send()
                .await
                .expect("25 writes");
            assert!(out.unprocessed_items().is_none_or(HashMap::is_empty));
        })
        .await;
    cases.run("26 writes", async {
        expect_validation(
            c.batch_write_item()
                .request_items("bat1", (100..126).map(|i| put_req(it(i))).collect())
                .send()
                .await,
            "at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
            "26 writes",
        );
    }).await;
    cases
        .run("26 writes over two tables", async {
            expect_validation(
                c.batch_write_item()
                    .request_items("bat1", (100..113).map(|i| put_req(it(i))).collect())
                    .request_items("bat2", (100..113).map(|i| put_req(it(i))).collect())
                    .send()
                    .await,
                "Too many items requested for the BatchWriteItem call",
                "26 writes over two tables",
            );
        })
        .await;
    cases
        .run("two puts of one key", async {
            expect_validation(
                c.batch_write_item()
                    .request_items("bat1", vec![put_req(it(200)), put_req(it(200))])
                    .send()
                    .await,
                "duplicates",
                "two puts of one key",
            );
        })
        .await;
    cases
        .run("a put and a delete of one key", async {
            expect_validation(
                c.batch_write_item()
                    .request_items("bat1", vec![put_req(it(201)), delete_req(key(201))])
                    .send()
                    .await,
                "duplicates",
                "a put and a delete of one key",
            );
        })
        .await;
    // A put whose key is missing or of another type: DynamoDB's batch
    // text, not PutItem's (as recorded against DynamoDB).
    for (what, bad) in [
        ("a put without its key", item([("v", n(1))])),
        ("a put with a number key", item([("pk", n(1))])),
    ] {
        cases
            .run(what, async {
                assert_eq!(
                    expect_code(
                        c.batch_write_item()
                            .request_items("bat1", vec![put_req(bad)])
                            .send()
                            .await,
                        "ValidationException",
                        what,
                    ),
                    "The provided key element does not match the schema"
                );
            })
            .await;
    }
    cases
        .run("a refused batch writes nothing", async {
            assert!(
                get(&c, "bat1", key(200)).await.is_none(),
                "a refused batch writes nothing"
            );
            assert!(get(&c, "bat1", key(201)).await.is_none());
        })
        .await;
    cases
        .run("batch write to a missing table", async {
            expect_code(
                c.batch_write_item()
                    .request_items("nope", vec![put_req(it(1))])
                    .send()
                    .await,
                "ResourceNotFoundException",
                "batch write to a missing table",
            );
        })
        .await;

    // Puts and deletes over two tables in one batch.
    cases
        .run("puts and deletes over two tables in one batch", async {
            c.batch_write_item()
                .request_items("bat1", (0..5).map(|i| delete_req(key(i))).collect())
                .request_items("bat2", (0..3).map(|i| put_req(it(i))).collect())
                .send()
                .await
                .unwrap();
            assert!(get(&c, "bat1", key(0)).await.is_none());
            assert!(get(&c, "bat1", key(5)).await.is_some());
            assert!(get(&c, "bat2", key(2)).await.is_some());
        })
        .await;

    // BatchGetItem: 100 keys (missing ones are just absent), projections.
    cases
        .run("BatchGetItem of 100 keys", async {
            let out = c
                .batch_get_item()
                .request_items(
                    "bat1",
                    KeysAndAttributes::builder()
                        .set_keys(Some((0..97).map(key).collect()))
                        .projection_expression("pk")
                        .consistent_read(true)
                        .build()
                        .unwrap(),
                )
                .request_items(
                    "bat2",
                    KeysAndAttributes::builder()
                        .set_keys(Some((0..3).map(key).collect()))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("100 keys");
            let responses = out.responses().expect("responses");
            let mut b1: Vec<String> = responses["bat1"]
                .iter()
                .map(|i| str_of(i, "pk").to_string())
                .collect();
            b1.sort();
            assert_eq!(b1, (5..25).map(|i| format!("k{i:03}")).collect::<Vec<_>>());
            assert!(
                responses["bat1"].iter().all(|i| i.len() == 1),
                "projected to pk"
            );
            let mut b2 = responses["bat2"].clone();
            b2.sort_by(|a, b| str_of(a, "pk").cmp(str_of(b, "pk")));
            assert_eq!(b2, (0..3).map(it).collect::<Vec<_>>());
            assert!(out.unprocessed_keys().is_none_or(HashMap::is_empty));
        })
        .await;
    cases
        .run("101 keys", async {
            expect_validation(
                c.batch_get_item()
                    .request_items(
                        "bat1",
                        KeysAndAttributes::builder()
                            .set_keys(Some((0..101).map(key).collect()))
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await,
                "BatchGetItem",
                "101 keys",
            );
        })
        .await;
    cases
        .run("a key twice", async {
            expect_validation(
                c.batch_get_item()
                    .request_items(
                        "bat1",
                        KeysAndAttributes::builder()
                            .set_keys(Some(vec![key(7), key(7)]))
                            .build()
                            .unwrap(),
                    )
                    .send()
                    .await,
                "duplicates",
                "a key twice",
            );
        })
        .await;

    // One BatchGetItem answers at most 16 MB; the rest is UnprocessedKeys,
    // which a retry loop then reads. The 45 puts of 400 write units each
    // spend their partitions' 1,000 a second and are throttled: a patient
    // client waits them out.
    create_table(&c, "huge", ("pk", ScalarAttributeType::S), None).await;
    let big = "x".repeat(399 * 1024);
    let hkey = |i: usize| item([("pk", s(&format!("h{i:02}")))]);
    let writer = patient(cluster.dynamo_url(0));
    for i in 0..45 {
        let mut it = hkey(i);
        it.insert("d".into(), s(&big));
        put(&writer, "huge", it).await;
    }
    cases
        .run("a 16 MB answer leaves UnprocessedKeys", async {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some((0..45).map(hkey).collect()))
                    .projection_expression("pk, d")
                    .build()
                    .unwrap(),
            );
            let (mut got, mut calls) = (BTreeSet::new(), 0);
            while let Some(keys) = pending.take() {
                calls += 1;
                assert!(calls <= 10, "UnprocessedKeys never drains");
                let out = c
                    .batch_get_item()
                    .request_items("huge", keys)
                    .send()
                    .await
                    .unwrap();
                let page = &out.responses().expect("responses")["huge"];
                let bytes: usize = page.iter().map(|i| i["d"].as_s().unwrap().len()).sum();
                assert!(
                    bytes <= (16 << 20) + big.len(),
                    "{bytes} bytes in one answer"
                );
                got.extend(page.iter().map(|i| str_of(i, "pk").to_string()));
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get("huge"))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
            assert!(
                calls >= 2,
                "45 items of 399 KB do not fit in one 16 MB answer"
            );
            assert_eq!(got.len(), 45);
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
