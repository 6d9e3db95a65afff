//! STRONG tables across real regions (docs/strong.md): a write chosen by a
//! majority is read by a strongly consistent read in any region; racing
//! read-modify-writes from every region lose no update; a witness votes
//! but holds no items; a region cut off from both others refuses in a
//! bounded time while the others go on, and catches up when healed.

use std::time::Duration;

use meridian_core::{AttrValue, Item, Number, decode_item};
use meridian_proto::v1 as pb;
use meridian_tests::{TestCluster, counter_item as item, id_key as key, id_table, poll_until};
use tonic::Code;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// A STRONG table made through region 0: `replicas` (region 0 among them)
/// and `witness`; waits until every member votes.
async fn strong_table(c: &TestCluster, name: &str, replicas: &[usize], witness: Option<usize>) {
    c.client(0)
        .create_table(id_table(
            name,
            &replicas.iter().map(|i| REGIONS[*i]).collect::<Vec<_>>(),
            "STRONG",
            witness.map(|i| REGIONS[i]),
        ))
        .await
        .expect("create a STRONG table");
    c.wait_strong(name).await;
}

/// A strongly consistent read of `id` in region `i`: its `n` and version.
async fn read(c: &TestCluster, i: usize, table: &str, id: &str) -> Option<(u64, pb::Version)> {
    let r = c
        .client(i)
        .get_item(pb::GetItemRequest {
            table: table.into(),
            key: key(id),
            consistent: true,
        })
        .await
        .expect("a consistent read")
        .into_inner();
    r.item.map(|s| {
        let item = decode_item(&s.item).expect("an item");
        let n = match &item["n"] {
            AttrValue::N(n) => n.to_string().parse().expect("a count"),
            other => panic!("{other:?}"),
        };
        (n, s.version.expect("a version"))
    })
}

async fn put(
    c: &TestCluster,
    i: usize,
    table: &str,
    it: Item,
    if_version: Option<pb::Version>,
) -> Result<(), tonic::Status> {
    c.client(i)
        .put_item(pb::PutItemRequest {
            table: table.into(),
            item: meridian_core::encode_item(&it),
            condition: if_version.map(|v| pb::Condition {
                kind: Some(pb::condition::Kind::VersionEquals(v)),
            }),
        })
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_chosen_in_one_region_is_read_consistently_in_every_other() {
    let c = TestCluster::start(&REGIONS).await;
    strong_table(&c, "accounts", &[0, 1, 2], None).await;
    for round in 1..=5u64 {
        let writer = (round % 3) as usize;
        put(&c, writer, "accounts", item("a", round), None)
            .await
            .expect("a STRONG write");
        // No waiting: the read in another region sees the write at once.
        for (i, region) in REGIONS.iter().enumerate() {
            let (n, _) = read(&c, i, "accounts", "a").await.expect("the item");
            assert_eq!(n, round, "{region} read round {round}");
        }
    }
    let d = c
        .client(1)
        .describe_table(pb::TableRequest {
            name: "accounts".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.consistency, "STRONG");
    c.shutdown().await;
}

/// Every region increments one counter by read-modify-write at once: each
/// increment is a conditional put on the version it read. On a STRONG
/// table the count at the end is exactly the number of increments that
/// succeeded: none was lost to a concurrent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_read_modify_writes_from_every_region_lose_no_update() {
    let c = TestCluster::start(&REGIONS).await;
    strong_table(&c, "counter", &[0, 1, 2], None).await;
    put(&c, 0, "counter", item("c", 0), None).await.unwrap();
    let per_region = 15;
    let mut tasks = Vec::new();
    let c = std::sync::Arc::new(c);
    for i in 0..3 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let (mut done, mut tries) = (0, 0);
            while done < per_region {
                tries += 1;
                assert!(tries < 2_000, "region {i} made no progress");
                let (n, v) = read(&c, i, "counter", "c").await.expect("the counter");
                match put(&c, i, "counter", item("c", n + 1), Some(v)).await {
                    Ok(()) => done += 1,
                    // A racing increment from another region was chosen
                    // first: this one is refused, never lost.
                    Err(s) if matches!(s.code(), Code::Aborted | Code::FailedPrecondition) => {}
                    Err(s) => panic!("region {i}: {s}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (i, region) in REGIONS.iter().enumerate() {
        let (n, _) = read(&c, i, "counter", "c").await.unwrap();
        assert_eq!(n, 3 * per_region, "{region}: no increment lost");
    }
    if let Ok(c) = std::sync::Arc::try_unwrap(c) {
        c.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_witness_votes_without_items_and_the_replicas_go_on_while_it_is_down() {
    let mut c = TestCluster::start(&REGIONS).await;
    strong_table(&c, "orders", &[0, 1], Some(2)).await;
    put(&c, 1, "orders", item("o", 1), None).await.unwrap();
    assert_eq!(read(&c, 0, "orders", "o").await.unwrap().0, 1);
    // The witness holds no replica: reads and writes there are refused.
    let refused = c
        .client(2)
        .get_item(pb::GetItemRequest {
            table: "orders".into(),
            key: key("o"),
            consistent: true,
        })
        .await;
    assert!(refused.is_err(), "a witness serves no reads");
    assert!(put(&c, 2, "orders", item("o", 9), None).await.is_err());
    let status = c
        .admin(2)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        status
            .strong
            .iter()
            .any(|t| t.table == "orders" && t.member == "witness")
    );
    // With the witness down, each write needs both replicas, and gets them.
    c.crash(2).await;
    for n in 2..=4 {
        put(&c, (n % 2) as usize, "orders", item("o", n), None)
            .await
            .expect("a write with the witness down");
    }
    assert_eq!(read(&c, 1, "orders", "o").await.unwrap().0, 4);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_cut_off_refuses_in_bounded_time_and_catches_up_when_healed() {
    let net = meridian_netsim::Registry::default();
    let c = TestCluster::start_through(&REGIONS, &net).await;
    strong_table(&c, "ledger", &[0, 1, 2], None).await;
    put(&c, 2, "ledger", item("l", 1), None).await.unwrap();
    let faults = c.faults(&net).await;
    faults
        .apply(&meridian_scenario::scenario::Action::Isolate {
            region: REGIONS[2].into(),
            kind: meridian_scenario::scenario::PartitionKind::Blackhole,
        })
        .await
        .expect("isolate");
    let started = std::time::Instant::now();
    let refused = put(&c, 2, "ledger", item("l", 99), None).await;
    let took = started.elapsed();
    assert_eq!(
        refused.as_ref().map_err(|s| s.code()),
        Err(Code::Unavailable),
        "{refused:?}"
    );
    assert!(took < Duration::from_secs(15), "refused after {took:?}");
    // The two others go on.
    for n in 2..=4 {
        put(&c, (n % 2) as usize, "ledger", item("l", n), None)
            .await
            .expect("a write between the two connected regions");
    }
    faults
        .apply(&meridian_scenario::scenario::Action::Heal {
            link: None,
            region: None,
        })
        .await
        .expect("heal");
    poll_until(
        "the healed region to read the latest write",
        Duration::from_secs(30),
        || async {
            c.client(2)
                .get_item(pb::GetItemRequest {
                    table: "ledger".into(),
                    key: key("l"),
                    consistent: true,
                })
                .await
                .ok()
                .and_then(|r| r.into_inner().item)
                .is_some_and(|s| {
                    decode_item(&s.item).unwrap()["n"]
                        == AttrValue::N(Number::parse("4", "n").unwrap())
                })
        },
    )
    .await;
    c.shutdown().await;
}
