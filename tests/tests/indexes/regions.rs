//! Section 9: Two regions: indexes replicate and build in every region.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_replicate_and_build_in_every_region() {
    let cluster = TestCluster::start_global(&TWO).await;
    let east = client(cluster.dynamo_url(0));
    let west = client(cluster.dynamo_url(1));
    let t = "shared";
    create_table_request(&east, t, ("id", TS), None)
        .attribute_definitions(def("team", TS))
        .global_secondary_indexes(gsi("by_team", &["team"], &[], all()))
        .send()
        .await
        .expect("create shared");
    cluster.wait_table_everywhere(t).await;
    poll("west to know by_team", || async {
        west.describe_table()
            .table_name(t)
            .send()
            .await
            .ok()
            .and_then(|o| o.table)
            .is_some_and(|d| gsi_of(&d, "by_team").is_some())
    })
    .await;

    let member = |i: usize, by: &str| {
        item([
            ("id", s(&format!("{by}{i:03}"))),
            ("team", s(&format!("t{}", i % 3))),
            ("tag", s(&format!("x{}", i % 2))),
        ])
    };
    put_many(&east, t, (0..60).map(|i| member(i, "e"))).await;
    put_many(&west, t, (0..60).map(|i| member(i, "w"))).await;
    let want = |team: usize| -> BTreeSet<String> {
        (0..60)
            .filter(|i| i % 3 == team)
            .flat_map(|i| [format!("e{i:03}"), format!("w{i:03}")])
            .collect()
    };
    for (name, c) in [("east", &east), ("west", &west)] {
        poll(
            &format!("{name}'s index to hold both regions' items"),
            || async {
                for team in 0..3 {
                    if ids_where(c, t, "by_team", "team", &format!("t{team}")).await != want(team) {
                        return false;
                    }
                }
                true
            },
        )
        .await;
    }
    // A move made in one region shows in the other's index.
    put(&west, t, item([("id", s("e000")), ("team", s("t9"))])).await;
    poll("east to see e000 move", || async {
        ids_where(&east, t, "by_team", "team", "t9").await == set(&["e000"])
            && !ids_where(&east, t, "by_team", "team", "t0")
                .await
                .contains("e000")
    })
    .await;

    // An index created in the west builds in the east too.
    west.update_table()
        .table_name(t)
        .attribute_definitions(def("tag", TS))
        .global_secondary_index_updates(create_gsi("by_tag", &["tag"], &[], keys_only()))
        .send()
        .await
        .expect("create by_tag in the west");
    // Replication goes on: an item written in the west afterwards reaches
    // the east.
    put(&west, t, item([("id", s("after_w")), ("team", s("t5"))])).await;
    // (10 s: replication between two local regions takes well under one.)
    poll_until(
        "east to index an item written in the west after the UpdateTable",
        Duration::from_secs(10),
        || async { ids_where(&east, t, "by_team", "team", "t5").await == set(&["after_w"]) },
    )
    .await;
    for (name, c) in [("east", &east), ("west", &west)] {
        poll(&format!("by_tag to be ACTIVE in {name}"), || async {
            let d = describe(c, t).await;
            gsi_of(&d, "by_tag").and_then(|g| g.index_status().cloned())
                == Some(IndexStatus::Active)
        })
        .await;
    }
    // e000 was replaced without a tag.
    let mut x0: BTreeSet<String> = (0..60)
        .filter(|i| i % 2 == 0)
        .flat_map(|i| [format!("e{i:03}"), format!("w{i:03}")])
        .collect();
    x0.remove("e000");
    for c in [&east, &west] {
        assert_eq!(ids_where(c, t, "by_tag", "tag", "x0").await, x0);
        assert_eq!(ids_where(c, t, "by_tag", "tag", "x1").await.len(), 60);
    }
    // Items written after the build, in either region, reach both.
    put(&east, t, item([("id", s("late_e")), ("tag", s("x7"))])).await;
    put(&west, t, item([("id", s("late_w")), ("tag", s("x7"))])).await;
    for (name, c) in [("east", &east), ("west", &west)] {
        poll(&format!("{name} to index both late items"), || async {
            ids_where(c, t, "by_tag", "tag", "x7").await == set(&["late_e", "late_w"])
        })
        .await;
    }
    cluster.shutdown().await;
}
