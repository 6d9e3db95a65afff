//! Real TCP partitions through the link proxy. A blackhole swallows bytes
//! and leaves connections open but wedged; the regions must notice through
//! HTTP/2 keepalive, reconnect after the heal and converge, with nothing
//! restarted and nothing lost.

use std::time::Duration;

use meridian_netsim::Registry;
use meridian_proto::v1 as pb;
use meridian_scenario::scenario::{Action, PartitionKind};
use meridian_scenario::{Oracle, Verdict, check_converged};
use meridian_tests::{TestCluster, id_schema, marked_item, poll_until, put};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_region_rejoins_after_a_blackhole_heals() {
    let net = Registry::new();
    let cluster = TestCluster::start_through(&REGIONS, &net).await;
    cluster.create_table(0, "kv1", ("id", "S"), None).await;
    cluster.wait_table_everywhere("kv1").await;
    let mut oracle = Oracle::new();
    let schema = id_schema();
    // Traffic on every link first, so the connections that get wedged carry data.
    for (i, r) in REGIONS.iter().enumerate() {
        for n in 0..10 {
            oracle.record(
                put(
                    &mut cluster.client(i),
                    "kv1",
                    &schema,
                    marked_item(&format!("k{n}"), r, n),
                )
                .await
                .unwrap(),
            );
        }
    }
    cluster
        .wait_quiescent("kv1", Duration::from_secs(20))
        .await
        .unwrap();

    let faults = cluster.faults(&net).await;
    // Cuts every link into and out of the region, both ways.
    faults
        .apply(&Action::Isolate {
            region: REGIONS[2].into(),
            kind: PartitionKind::Blackhole,
        })
        .await
        .unwrap();
    // Both sides keep accepting writes to the same keys while cut off.
    for (i, r) in REGIONS.iter().enumerate() {
        for n in 10..40 {
            oracle.record(
                put(
                    &mut cluster.client(i),
                    "kv1",
                    &schema,
                    marked_item(&format!("k{}", n % 15), r, n),
                )
                .await
                .unwrap(),
            );
        }
    }
    poll_until(
        "the isolated region's links to be seen as down",
        Duration::from_secs(30),
        || async {
            let s = cluster
                .admin(0)
                .status(meridian_proto::v1::StatusRequest {})
                .await
                .unwrap()
                .into_inner();
            s.peers
                .iter()
                .any(|p| p.peer == REGIONS[2] && p.pending > 0)
        },
    )
    .await;

    net.reset().await.unwrap();
    let took = cluster
        .wait_quiescent("kv1", Duration::from_secs(60))
        .await
        .unwrap();
    println!("converged {took:?} after the heal");
    let mut v = Verdict::default();
    let replicas: Vec<_> = (0..REGIONS.len())
        .map(|i| (REGIONS[i].to_string(), cluster.heads(i, "kv1")))
        .collect();
    check_converged(&replicas, &mut v);
    for (name, heads) in &replicas {
        oracle.check_replica(name, heads, true, &mut v);
    }
    let mut conflicts = Vec::new();
    for i in 0..REGIONS.len() {
        conflicts.extend(cluster.conflicts(i, "kv1").await);
    }
    oracle.check_conflicts(&conflicts, true, &mut v);
    assert!(v.ok(), "{:#?}", v.problems);
    assert!(
        v.lost_updates > 0,
        "writes on both sides of a partition to the same keys must conflict"
    );
    // Admin Status counts each region's conflicts per table: as many as the
    // records it keeps of the table (none was purged), and, kv1 being the
    // only table written, all of the region's.
    let mut counted = 0;
    for (i, region) in REGIONS.iter().enumerate() {
        let s = cluster
            .admin(i)
            .status(pb::StatusRequest {})
            .await
            .unwrap()
            .into_inner();
        let kv1 = s
            .table_conflicts
            .iter()
            .find(|t| t.table == "kv1")
            .map_or(0, |t| t.count);
        let records = cluster.conflicts(i, "kv1").await.len() as u64;
        assert_eq!(kv1, records, "{region}: {:?}", s.table_conflicts);
        assert_eq!(kv1, s.conflicts, "{region}");
        counted += kv1;
    }
    assert!(counted > 0);
    // The pulse sends the same counters at once, then only on a change; an
    // interval out of range is refused, naming the field.
    let status = cluster
        .admin(0)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut pulse = cluster
        .admin(0)
        .pulse(pb::PulseRequest { every_ms: 0 })
        .await
        .unwrap()
        .into_inner();
    let first = pulse.message().await.unwrap().unwrap();
    assert_eq!(
        (first.conflicts, first.log_head),
        (status.conflicts, status.log_head)
    );
    assert_eq!(first.pending.len(), REGIONS.len() - 1);
    put(
        &mut cluster.client(0),
        "kv1",
        &schema,
        marked_item("after", REGIONS[0], 99),
    )
    .await
    .unwrap();
    let next = pulse.message().await.unwrap().unwrap();
    assert!(next.log_head > first.log_head, "{next:?}");
    // The inbound latency buckets, one set per peer: a write applied here
    // from a peer adds to that peer's.
    let applied_from = |m: &pb::PulseMessage, peer: &str| -> u64 {
        m.latency
            .iter()
            .find(|l| l.peer == peer)
            .map_or(0, |l| l.buckets.iter().sum())
    };
    assert_eq!(first.latency.len(), REGIONS.len() - 1, "{first:?}");
    let before = applied_from(&next, REGIONS[1]);
    put(
        &mut cluster.client(1),
        "kv1",
        &schema,
        marked_item("from-west", REGIONS[1], 100),
    )
    .await
    .unwrap();
    let arrived = async {
        loop {
            let m = pulse.message().await.unwrap().unwrap();
            if applied_from(&m, REGIONS[1]) > before {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), arrived)
        .await
        .expect("a pulse with the write applied from eu-west-1 within 30 s");
    let refused = cluster
        .admin(0)
        .pulse(pb::PulseRequest { every_ms: 5 })
        .await
        .unwrap_err();
    assert!(refused.message().starts_with("every_ms: "), "{refused:?}");
    drop(pulse);
    cluster.shutdown().await;
}
