//! Repair end to end (docs/repair.md): a region that lost its disk gets
//! its own earlier writes back from its peers, a data directory restored
//! from a copy does not diverge, and `Repair` reports what it moved.

use std::time::Duration;

use meridian_core::{AttrValue, Item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::repair_client::RepairClient;
use meridian_scenario::{Oracle, Verdict, check_converged};
use meridian_tests::{TestCluster, delete, id_schema, marked_item, poll_until, put};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const TABLE: &str = "orders";

async fn start() -> TestCluster {
    let cluster = TestCluster::start(&REGIONS).await;
    cluster.create_table(0, TABLE, ("id", "S"), None).await;
    cluster.wait_table_everywhere(TABLE).await;
    cluster
}

/// Writes `n` items `<prefix>-<i>` in region `i`, each acknowledged, into `oracle`.
async fn write(cluster: &TestCluster, region: usize, prefix: &str, n: u32, oracle: &mut Oracle) {
    let mut client = cluster.client(region);
    for i in 0..n {
        let item = marked_item(&format!("{prefix}-{i}"), REGIONS[region], i);
        let w = put(&mut client, TABLE, &id_schema(), item)
            .await
            .unwrap_or_else(|e| panic!("put {prefix}-{i} in {}: {e}", REGIONS[region]));
        oracle.record(w);
    }
}

/// Every region holds every acknowledged write, exactly, and all agree.
fn verdict(cluster: &TestCluster, oracle: &Oracle) -> Verdict {
    let mut v = Verdict::default();
    let replicas: Vec<_> = (0..REGIONS.len())
        .map(|i| (REGIONS[i].to_string(), cluster.heads(i, TABLE)))
        .collect();
    for (name, heads) in &replicas {
        oracle.check_replica(name, heads, true, &mut v);
    }
    check_converged(&replicas, &mut v);
    v
}

async fn status(cluster: &TestCluster, i: usize) -> pb::StatusResponse {
    cluster
        .admin(i)
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner()
}

/// Polls until the verdict holds; at the deadline, fails with its problems.
async fn converge(cluster: &TestCluster, oracle: &Oracle, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = verdict(cluster, oracle);
        if v.ok() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let shown: Vec<_> = v.problems.iter().take(10).collect();
            panic!(
                "timed out waiting for {what}: {} problems, first {shown:#?}",
                v.problems.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes in two regions, crashes us-east-1, deletes its data directory
/// while the third writes, and restarts it empty. Returns once it is back.
async fn lose_the_disk_of_us_east(cluster: &mut TestCluster, oracle: &mut Oracle) {
    write(cluster, 0, "east", 120, oracle).await;
    write(cluster, 1, "west", 80, oracle).await;
    converge(cluster, oracle, "the first writes to reach every region").await;
    cluster.crash(0).await;
    cluster.wipe(0);
    // The others keep writing while it is gone.
    write(cluster, 2, "south", 40, oracle).await;
    poll_until(
        "eu-west-1 to hold every write",
        Duration::from_secs(30),
        || async { cluster.heads(1, TABLE).len() == 240 },
    )
    .await;
    cluster.restart(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_lost_its_disk_is_seeded_from_a_peer_and_keeps_up() {
    let mut cluster = start().await;
    let mut oracle = Oracle::new();
    lose_the_disk_of_us_east(&mut cluster, &mut oracle).await;
    // Its store is a copy of its first peer's: every item from the first
    // moment, but a log of its own that starts empty (a new store).
    let st = status(&cluster, 0).await;
    let seeded = st.seeded.expect("the region says it was seeded");
    assert_eq!(seeded.peer, REGIONS[1]);
    // The table's 240 items and its definition in the catalog.
    assert_eq!(seeded.items, 241);
    assert_eq!(st.log_head, 0);
    converge(&cluster, &oracle, "us-east-1 to hold every write again").await;

    // Every peer's log goes on from where the copy left it: new writes in
    // both, and in the region itself, reach everyone.
    write(&cluster, 1, "west-again", 30, &mut oracle).await;
    write(&cluster, 2, "south-again", 30, &mut oracle).await;
    write(&cluster, 0, "east-again", 30, &mut oracle).await;
    converge(&cluster, &oracle, "the new writes to reach every region").await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_lost_its_disk_gets_its_own_writes_back_by_repair_alone() {
    let mut cluster = TestCluster::start_tuned(&REGIONS, |c| c.seed_from_peers = false).await;
    cluster.create_table(0, TABLE, ("id", "S"), None).await;
    cluster.wait_table_everywhere(TABLE).await;
    let mut oracle = Oracle::new();
    lose_the_disk_of_us_east(&mut cluster, &mut oracle).await;
    assert_eq!(status(&cluster, 0).await.seeded, None);
    assert!(
        cluster.heads(0, TABLE).len() < 240,
        "the region restarted with its items: the disk was not lost"
    );
    converge(
        &cluster,
        &oracle,
        "us-east-1 to hold its own earlier writes again, from its peers",
    )
    .await;

    // It takes new writes, and they replicate under its new log epoch.
    write(&cluster, 0, "east-again", 30, &mut oracle).await;
    converge(&cluster, &oracle, "the new writes to reach every region").await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_restored_from_a_copy_does_not_diverge() {
    let mut cluster = start().await;
    let mut oracle = Oracle::new();
    write(&cluster, 0, "before-copy", 20, &mut oracle).await;
    converge(&cluster, &oracle, "the first writes to reach every region").await;

    let copy = tempfile::tempdir().unwrap();
    cluster.crash(0).await;
    cluster.copy_data(0, copy.path());
    cluster.restart(0).await;
    // 100 writes that only the peers will remember.
    write(&cluster, 0, "after-copy", 100, &mut oracle).await;
    converge(&cluster, &oracle, "the 100 writes to reach every region").await;

    cluster.crash(0).await;
    cluster.restore_data(0, copy.path());
    cluster.restart(0).await;
    // 50 new writes on the restored store: positions its old log already
    // used, which peers must not take for duplicates.
    write(&cluster, 0, "after-restore", 50, &mut oracle).await;
    converge(
        &cluster,
        &oracle,
        "the 50 new writes to reach every region and the 100 to come back",
    )
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_reports_what_it_compared_and_moved() {
    let mut cluster = start().await;
    let mut oracle = Oracle::new();
    write(&cluster, 1, "west", 60, &mut oracle).await;
    converge(&cluster, &oracle, "the writes to reach every region").await;

    // Nothing differs: a round compares the roots and moves nothing.
    let report = cluster
        .admin(0)
        .repair(pb::RepairRequest::default())
        .await
        .unwrap()
        .into_inner();
    let tables: Vec<_> = report.tables.iter().filter(|t| t.table == TABLE).collect();
    assert_eq!(tables.len(), 2, "one report per peer: {report:?}");
    for t in &tables {
        assert_eq!(t.error, "");
        assert_eq!((t.keys_differing, t.keys_pulled), (0, 0), "{t:?}");
        assert_eq!(t.nodes_compared, 1);
    }

    // A lost disk, repaired on demand from one peer: the report names the
    // keys it pulled. Region 0's own round after the reconnect may have
    // run first; between them they pulled every item exactly once or more.
    cluster.crash(0).await;
    cluster.wipe(0);
    cluster.restart(0).await;
    poll_until(
        "us-east-1 to know the table again",
        Duration::from_secs(20),
        || async {
            cluster
                .client(0)
                .describe_table(pb::TableRequest { name: TABLE.into() })
                .await
                .is_ok()
        },
    )
    .await;
    let report = cluster
        .admin(0)
        .repair(pb::RepairRequest {
            peer: REGIONS[1].into(),
            table: TABLE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.tables.len(), 1, "{report:?}");
    let t = &report.tables[0];
    assert_eq!(
        (t.peer.as_str(), t.table.as_str(), t.error.as_str()),
        (REGIONS[1], TABLE, "")
    );
    assert!(
        t.keys_pulled <= 60 && t.keys_applied <= t.keys_pulled,
        "{t:?}"
    );
    assert!(
        t.bytes_sent > 0 && t.bytes_received > 0,
        "the roots at least: {t:?}"
    );
    converge(&cluster, &oracle, "us-east-1 to be whole again").await;

    // A peer's malformed request is refused with the field named.
    let mut repair = RepairClient::new(
        tonic::transport::Endpoint::from_shared(cluster.url(0))
            .unwrap()
            .connect_lazy(),
    );
    let err = repair
        .children(pb::ChildrenRequest {
            table: TABLE.into(),
            nodes: vec![pb::Node {
                level: 1,
                index: 16,
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("nodes[0]"), "{}", err.message());
    let err = repair
        .heads(pb::HeadsRequest {
            table: TABLE.into(),
            nodes: vec![pb::Node { level: 0, index: 0 }; 4097],
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("4096"), "{}", err.message());
    let err = repair
        .roots(pb::RootsRequest {
            from_region: "mars-1".into(),
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("from_region"), "{}", err.message());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_past_the_log_kept_is_repaired_instead() {
    // A log that keeps at most 20 entries, truncated every 50 ms.
    let mut cluster = TestCluster::start_tuned(&REGIONS, |c| {
        c.retention = meridian_region::Retention {
            retain_entries: 5,
            max_entries: 20,
            every: Duration::from_millis(50),
            batch: 1_000,
            ..Default::default()
        };
    })
    .await;
    cluster.create_table(0, TABLE, ("id", "S"), None).await;
    cluster.wait_table_everywhere(TABLE).await;
    let mut oracle = Oracle::new();
    write(&cluster, 0, "before", 10, &mut oracle).await;
    converge(&cluster, &oracle, "the first writes to reach every region").await;

    cluster.crash(2).await;
    write(&cluster, 0, "while-down", 150, &mut oracle).await;
    // The log no longer holds what the crashed region lacks.
    poll_until(
        "us-east-1's log to be truncated",
        Duration::from_secs(20),
        || async {
            let st = status(&cluster, 0).await;
            st.log_head > 150 && st.log_start > 20
        },
    )
    .await;
    // A restart empties the shippers' in-memory tail, which would still
    // hold the truncated entries: now only the store's log is left.
    cluster.crash(0).await;
    cluster.restart(0).await;
    cluster.restart(2).await;
    converge(
        &cluster,
        &oracle,
        "ap-southeast-1 to get what the log no longer holds, by anti-entropy",
    )
    .await;
    // And the log flows again past the gap: ap-southeast-1 acknowledges
    // us-east-1's newest entries through replication itself.
    write(&cluster, 0, "after", 10, &mut oracle).await;
    poll_until(
        "ap-southeast-1 to acknowledge us-east-1's whole log",
        Duration::from_secs(20),
        || async {
            let st = status(&cluster, 0).await;
            st.peers
                .iter()
                .any(|p| p.peer == REGIONS[2] && p.acked_seq == st.log_head)
        },
    )
    .await;
    converge(&cluster, &oracle, "the last writes to reach every region").await;
    cluster.shutdown().await;
}

/// How many tombstones region `i` holds in the test table.
fn tombstones(cluster: &TestCluster, i: usize) -> usize {
    cluster
        .heads(i, TABLE)
        .values()
        .filter(|h| h.image.is_none())
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_deletes_stay_deleted_when_a_stale_copy_comes_back() {
    // Tombstones may go as soon as every region holds them, log entries as
    // soon as every peer has them; rounds and truncation run often.
    let mut cluster = TestCluster::start_tuned(&REGIONS, |c| {
        c.repair_interval = Duration::from_millis(200);
        c.retention = meridian_region::Retention {
            tombstone_age: Duration::ZERO,
            retain_entries: 0,
            every: Duration::from_millis(50),
            ..Default::default()
        };
    })
    .await;
    cluster.create_table(0, TABLE, ("id", "S"), None).await;
    cluster.wait_table_everywhere(TABLE).await;
    let mut oracle = Oracle::new();
    write(&cluster, 0, "kept", 10, &mut oracle).await;
    write(&cluster, 0, "gone", 10, &mut oracle).await;
    converge(&cluster, &oracle, "the first writes to reach every region").await;

    // eu-west-1's data directory as it is now, with every "gone" item live.
    let copy = tempfile::tempdir().unwrap();
    cluster.crash(1).await;
    cluster.copy_data(1, copy.path());
    cluster.restart(1).await;

    let mut client = cluster.client(0);
    for i in 0..10 {
        let key = Item::from([("id".to_string(), AttrValue::S(format!("gone-{i}")))]);
        let w = delete(&mut client, TABLE, &id_schema(), key)
            .await
            .expect("delete");
        oracle.record(w);
    }
    converge(&cluster, &oracle, "the deletes to reach every region").await;
    let deleted_at = status(&cluster, 0).await.log_head;
    // Writes after the deletes, so the log can drop the deletes themselves.
    write(&cluster, 0, "later", 3, &mut oracle).await;
    poll_until(
        "every region to purge the tombstones, and the log the deletes",
        Duration::from_secs(60),
        || async {
            (0..REGIONS.len()).all(|i| tombstones(&cluster, i) == 0)
                && status(&cluster, 0).await.log_start > deleted_at
        },
    )
    .await;

    // The stale copy comes back: it holds the deleted items, live, and
    // nothing anywhere says they were deleted any more.
    cluster.crash(1).await;
    cluster.restore_data(1, copy.path());
    let stale = cluster.heads(1, TABLE);
    assert_eq!(
        stale.values().filter(|h| h.image.is_some()).count(),
        20,
        "the copy holds every item live"
    );
    cluster.restart(1).await;
    // Rounds both ways: the others drop what the copy offers them, and the
    // copy drops what the others' purge horizon says was deleted.
    for i in 0..REGIONS.len() {
        let r = cluster
            .admin(i)
            .repair(pb::RepairRequest::default())
            .await
            .expect("repair")
            .into_inner();
        assert!(
            r.tables.iter().all(|t| t.error.is_empty()),
            "{:?}",
            r.tables
        );
    }
    converge(
        &cluster,
        &oracle,
        "the deleted items to stay deleted everywhere, the copy included",
    )
    .await;
    write(&cluster, 1, "after", 5, &mut oracle).await;
    converge(
        &cluster,
        &oracle,
        "new writes on the restored region to reach every region",
    )
    .await;
    cluster.shutdown().await;
}
