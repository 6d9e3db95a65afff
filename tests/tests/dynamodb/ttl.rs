//! Section 9: TTL: expired items go in every region without conflicts.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expires_items_in_every_region_without_conflicts() {
    let mut cluster = TestCluster::start_global(&REGIONS).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "sessions", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("sessions").await;
    // The table's TTL status and attribute, as a region describes them.
    let ttl_in = |c: &Client| {
        let c = c.clone();
        async move {
            let out = c
                .describe_time_to_live()
                .table_name("sessions")
                .send()
                .await
                .unwrap();
            let d = out.time_to_live_description;
            (
                d.as_ref().and_then(|d| d.time_to_live_status.clone()),
                d.and_then(|d| d.attribute_name),
            )
        }
    };
    let mut cases = Cases::new();
    cases
        .run("TTL starts disabled", async {
            assert_eq!(ttl_in(&cs[0]).await.0, Some(TimeToLiveStatus::Disabled));
        })
        .await;
    let spec = |enabled: bool| {
        TimeToLiveSpecification::builder()
            .enabled(enabled)
            .attribute_name("expires_at")
            .build()
            .unwrap()
    };
    cases
        .run("UpdateTimeToLive answers with the specification", async {
            let out = cs[0]
                .update_time_to_live()
                .table_name("sessions")
                .time_to_live_specification(spec(true))
                .send()
                .await
                .unwrap();
            let echoed = out.time_to_live_specification().expect("the specification");
            assert!(echoed.enabled());
            assert_eq!(echoed.attribute_name(), "expires_at");
        })
        .await;
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("TTL enabled in region {i}"), async {
                poll(&format!("TTL enabled in region {i}"), || async {
                    ttl_in(c).await
                        == (
                            Some(TimeToLiveStatus::Enabled),
                            Some("expires_at".to_string()),
                        )
                })
                .await;
            })
            .await;
    }
    cases
        .run("enabling TTL twice", async {
            expect_validation(
                cs[1]
                    .update_time_to_live()
                    .table_name("sessions")
                    .time_to_live_specification(spec(true))
                    .send()
                    .await,
                "already enabled",
                "enabling TTL twice",
            );
        })
        .await;

    // Items that expire soon reach every region first; past ones may be
    // reaped where they were written before they ever replicate.
    let now = now_secs();
    let soon: Vec<String> = (0..10).map(|i| format!("soon-{i}")).collect();
    let past: Vec<String> = (0..5).map(|i| format!("past-{i}")).collect();
    let mut items: Vec<Item> = soon
        .iter()
        .map(|k| item([("pk", s(k)), ("expires_at", n(now + 3))]))
        .collect();
    items.extend(
        past.iter()
            .map(|k| item([("pk", s(k)), ("expires_at", n(now - 60))])),
    );
    items.push(item([("pk", s("future")), ("expires_at", n(now + 3600))]));
    items.push(item([("pk", s("text")), ("expires_at", s("yesterday"))]));
    items.push(item([("pk", s("none")), ("other", n(1))]));
    batch_put(&cs[0], "sessions", items).await;
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("every soon item in region {i}"), async {
                poll(&format!("every soon item in region {i}"), || async {
                    for k in &soon {
                        if !matches!(
                            try_get(c, "sessions", item([("pk", s(k))])).await,
                            Ok(Some(_))
                        ) {
                            return false;
                        }
                    }
                    true
                })
                .await;
            })
            .await;
    }
    let expiring: Vec<&String> = soon.iter().chain(&past).collect();
    let all_gone = |c: Client| {
        let expiring = expiring.clone();
        async move {
            for k in expiring {
                if try_get(&c, "sessions", item([("pk", s(k))])).await != Ok(None) {
                    return false;
                }
            }
            true
        }
    };
    // Make two regions expire the same items independently: region 1 is
    // down while 0 and 2 expire them, then alone (0 and 2 down) while it
    // expires its own copies. Its tombstones then meet theirs.
    cluster.crash(1).await;
    for i in [0, 2] {
        poll_until(
            &format!("expired items gone in region {i}"),
            Duration::from_secs(20),
            || all_gone(cs[i].clone()),
        )
        .await;
    }
    cluster.crash(0).await;
    cluster.crash(2).await;
    cluster.restart(1).await;
    poll_until(
        "region 1 expires its own copies",
        Duration::from_secs(20),
        || all_gone(client(cluster.dynamo_url(1))),
    )
    .await;
    cluster.restart(0).await;
    cluster.restart(2).await;
    let cs = clients(&cluster);
    cluster
        .wait_quiescent("sessions", Duration::from_secs(20))
        .await
        .expect("quiescent");
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("region {i} after the expiries"), async {
                for k in ["future", "text", "none"] {
                    assert!(
                        get(c, "sessions", item([("pk", s(k))])).await.is_some(),
                        "{k} must survive in region {i}"
                    );
                }
                let out = c
                    .scan()
                    .table_name("sessions")
                    .select(Select::Count)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(out.count(), 3, "region {i}");
                let conflicts = cluster.conflicts(i, "sessions").await;
                assert!(
                    conflicts.is_empty(),
                    "TTL expiry is not a conflict, region {i}: {conflicts:?}"
                );
            })
            .await;
    }
    // Each region's own log shows which expiries it made: every soon item
    // was expired both by region 1 and by region 0 or 2.
    let expired_by = |i: usize| -> BTreeSet<Vec<u8>> {
        let reader =
            meridian_store::open_reader(&cluster.nodes[i].config.data_dir).expect("open reader");
        reader
            .log_after(0, 1_000_000, usize::MAX)
            .expect("read log")
            .into_iter()
            .filter(|e| e.table == "sessions" && e.ttl && e.image.is_none())
            .map(|e| e.key.partition)
            .collect()
    };
    let (by0, by1, by2) = (expired_by(0), expired_by(1), expired_by(2));
    cases
        .run("every soon item expired in two regions", async {
            let twice = by1
                .iter()
                .filter(|k| by0.contains(*k) || by2.contains(*k))
                .count();
            assert!(
                twice >= soon.len(),
                "{twice} items expired in two regions; want every soon item ({})",
                soon.len()
            );
        })
        .await;

    // Disabling replicates too; an expired item then stays.
    cs[2]
        .update_time_to_live()
        .table_name("sessions")
        .time_to_live_specification(spec(false))
        .send()
        .await
        .unwrap();
    for (i, c) in cs.iter().enumerate() {
        cases
            .run(format!("TTL disabled in region {i}"), async {
                poll(&format!("TTL disabled in region {i}"), || async {
                    ttl_in(c).await.0 == Some(TimeToLiveStatus::Disabled)
                })
                .await;
            })
            .await;
    }
    cluster.shutdown().await;
    cases.finish();
}
