//! A STRONG member whose disk is lost after the others dropped the log's
//! first entries (docs/strong.md, *Catching up past the compacted log*):
//! it comes back empty, rejoins, is sent a snapshot of the table by the
//! leader, installs it, and reads consistently the latest items; it votes
//! again, and the table goes on with it.

use std::time::Duration;

use meridian_core::{AttrValue, decode_item};
use meridian_proto::v1 as pb;
use meridian_tests::peer::metric;
use meridian_tests::{TestCluster, counter_item as item, id_key as key, id_table, poll_until};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const TABLE: &str = "ledger";
const SNAPSHOTS: &str = "meridian_strong_snapshots_total";
/// Writes enough for the log to drop its first batch (64 entries) in every
/// member.
const WRITES: u64 = 100;

async fn put(c: &TestCluster, i: usize, id: &str, n: u64) {
    c.client(i)
        .put_item(pb::PutItemRequest {
            table: TABLE.into(),
            item: meridian_core::encode_item(&item(id, n)),
            condition: None,
        })
        .await
        .unwrap_or_else(|e| panic!("write {id}={n} in {}: {e}", REGIONS[i]));
}

/// A strongly consistent read of `id` in region `i`: its `n`, or `None`
/// when the read is refused or finds nothing.
async fn read(c: &TestCluster, i: usize, id: &str) -> Option<u64> {
    let r = c
        .client(i)
        .get_item(pb::GetItemRequest {
            table: TABLE.into(),
            key: key(id),
            consistent: true,
        })
        .await
        .ok()?
        .into_inner();
    r.item
        .map(|s| match &decode_item(&s.item).expect("an item")["n"] {
            AttrValue::N(n) => n.to_string().parse().expect("a count"),
            other => panic!("{other:?}"),
        })
}

async fn status(c: &TestCluster, i: usize) -> Option<pb::StrongTableStatus> {
    c.admin(i)
        .status(pb::StatusRequest {})
        .await
        .ok()?
        .into_inner()
        .strong
        .into_iter()
        .find(|t| t.table == TABLE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_wiped_after_compaction_catches_up_from_a_snapshot() {
    // Not seeded from a peer's store: the region comes back with nothing,
    // so only a snapshot of the table can bring it what was dropped.
    let mut c = TestCluster::start_tuned(&REGIONS, |cfg| cfg.seed_from_peers = false).await;
    c.client(0)
        .create_table(id_table(TABLE, &REGIONS, "STRONG", None))
        .await
        .expect("create a STRONG table");
    c.wait_strong(TABLE).await;
    for n in 1..=WRITES {
        put(&c, 0, &format!("k{}", n % 40), n).await;
    }
    poll_until(
        "every member to drop the log's first entries",
        Duration::from_secs(30),
        || async {
            let mut all = true;
            for i in 0..REGIONS.len() {
                all &= status(&c, i).await.is_some_and(|s| s.compacted >= 64);
            }
            if !all {
                // Each answer carries the positions every member holds.
                put(&c, 0, "tick", 0).await;
            }
            all
        },
    )
    .await;

    let lost = 2;
    c.crash(lost).await;
    c.wipe(lost);
    // The table goes on without it meanwhile.
    put(&c, 1, "k1", 1_001).await;
    c.restart(lost).await;
    put(&c, 0, "k2", 1_002).await;

    poll_until(
        "the wiped region to read the latest items consistently",
        Duration::from_secs(60),
        || async {
            read(&c, lost, "k1").await == Some(1_001)
                && read(&c, lost, "k2").await == Some(1_002)
                && read(&c, lost, "k39").await == Some(79)
        },
    )
    .await;
    assert!(
        metric(&c, lost, SNAPSHOTS, &[("direction", "installed")]) >= 1.0,
        "the wiped region installed a snapshot"
    );
    let sent: f64 = (0..REGIONS.len())
        .filter(|i| *i != lost)
        .map(|i| metric(&c, i, SNAPSHOTS, &[("direction", "sent")]))
        .sum();
    assert!(sent >= 1.0, "a member sent a snapshot");

    // It votes again once its rejoin is chosen, and takes writes.
    poll_until(
        "the wiped region to vote again",
        Duration::from_secs(30),
        || async {
            status(&c, lost)
                .await
                .is_some_and(|s| s.standing == "voter")
        },
    )
    .await;
    put(&c, lost, "k3", 1_003).await;
    for (i, region) in REGIONS.iter().enumerate() {
        assert_eq!(read(&c, i, "k3").await, Some(1_003), "{region}");
        assert_eq!(read(&c, i, "k5").await, Some(85), "{region}");
    }
    c.shutdown().await;
}
