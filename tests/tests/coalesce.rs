//! Quick changes of one item coalesce on their way to a peer
//! (docs/replication.md, *Coalescing*): a backlog of an item's versions
//! reaches the replica as fewer stream records than the source's, with
//! the same item in the end, no conflict for a single writer and still a
//! conflict for two; `replication_coalesce = false` ships every version.
//!
//! The backlog is made by cutting the link from us-east-1 to eu-west-1
//! only, one way: eu-west-1's own link stays up, so nothing but the
//! resumed stream brings it us-east-1's writes (no reconnection of its
//! own wakes a repair round, and the periodic ones are set far off).

use std::time::Duration;

use aws_sdk_dynamodb::types::StreamViewType;
use aws_sdk_dynamodbstreams::types::{AttributeValue as SAv, Record};
use meridian_core::{AttrValue, Item};
use meridian_netsim::Registry;
use meridian_scenario::scenario::{Action, PartitionKind};
use meridian_tests::{TestCluster, every_region, every_version, poll_until};

use crate::sdk::*;
use crate::streams::{put_v, read_all, stream_arn, streams_client, table_with_stream};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// Versions of the hot item written while the link is cut.
const VERSIONS: usize = 40;

/// A cluster of two regions through link proxies, whose peers' writes
/// reach each other by the log alone; `coalesce` as the cluster file's
/// `replication_coalesce`.
async fn cluster(net: &Registry, coalesce: bool) -> TestCluster {
    TestCluster::start_through_tuned(&REGIONS, net, move |cfg| {
        every_region(cfg);
        if !coalesce {
            every_version(cfg);
        }
        cfg.repair_interval = Duration::from_secs(3600);
    })
    .await
}

/// The records of item `id`, in stream order.
fn of_item(records: Vec<Record>, id: &str) -> Vec<Record> {
    records
        .into_iter()
        .filter(|r| {
            r.dynamodb()
                .and_then(|d| d.keys())
                .and_then(|k| k.get("id"))
                == Some(&SAv::S(id.into()))
        })
        .collect()
}

fn new_v(r: &Record) -> Option<String> {
    r.dynamodb()
        .and_then(|d| d.new_image())
        .and_then(|i| i.get("v"))
        .and_then(|v| v.as_s().ok().cloned())
}

/// Region `i`'s stream records of item `id` in `table`.
async fn records(c: &TestCluster, i: usize, table: &str, id: &str) -> Vec<Record> {
    let arn = stream_arn(&client(c.dynamo_url(i)), table).await;
    of_item(read_all(&streams_client(c.dynamo_url(i)), &arn).await.1, id)
}

/// us-east-1's outbound counts of its link to eu-west-1: (shipped, coalesced).
async fn shipped_to_west(c: &TestCluster) -> (u64, u64) {
    let p = c.peer_status(0, REGIONS[1]).await;
    (p.shipped, p.coalesced)
}

/// Makes a table with a stream, cuts us-east-1 → eu-west-1, and writes
/// there item `first` once and then item `hot` [`VERSIONS`] times
/// (`v` 0, 1, …): the backlog eu-west-1 gets in one batch at the heal,
/// `first` in front so that the hot item's first version may go too.
async fn backlog(c: &TestCluster, net: &Registry, table: &str) -> meridian_cluster::Executor {
    let east = client(c.dynamo_url(0));
    table_with_stream(&east, table, StreamViewType::NewAndOldImages).await;
    c.wait_table_everywhere(table).await;
    // A first repair round of eu-west-1's, late, would bring the hot item
    // around the cut.
    c.wait_first_repairs().await;
    let faults = c.faults(net).await;
    faults
        .apply(&Action::Partition {
            from: REGIONS[0].into(),
            to: REGIONS[1].into(),
            both: false,
            kind: PartitionKind::Blackhole,
        })
        .await
        .unwrap();
    put_v(&east, table, "first", "once").await;
    for n in 0..VERSIONS {
        put_v(&east, table, "hot", &n.to_string()).await;
    }
    faults
}

async fn heal(c: &TestCluster, net: &Registry, table: &str) {
    net.reset().await.unwrap();
    c.wait_quiescent(table, Duration::from_secs(60))
        .await
        .expect("both regions agree after the heal");
}

/// What the backlog of one writer makes at each end: us-east-1's and
/// eu-west-1's records of the hot item, and the link's counts.
async fn one_writer(coalesce: bool) -> (Vec<Record>, Vec<Record>, (u64, u64)) {
    let net = Registry::new();
    let c = cluster(&net, coalesce).await;
    let table = "hot";
    backlog(&c, &net, table).await;
    heal(&c, &net, table).await;
    let east = records(&c, 0, table, "hot").await;
    let west = records(&c, 1, table, "hot").await;
    for (i, region) in REGIONS.iter().enumerate() {
        assert_eq!(
            c.conflicts(i, table).await,
            Vec::new(),
            "{region}: a single writer's versions never conflict"
        );
    }
    let counts = shipped_to_west(&c).await;
    c.shutdown().await;
    (east, west, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_items_quick_changes_reach_a_replica_as_fewer_records() {
    let (east, west, (shipped, coalesced)) = one_writer(true).await;
    let last = (VERSIONS - 1).to_string();
    assert_eq!(east.len(), VERSIONS, "the source streams every change");
    assert!(
        west.len() < east.len(),
        "eu-west-1 holds {} records of the item, us-east-1 {}",
        west.len(),
        east.len()
    );
    // The same item in the end, in order: the latest version last.
    assert_eq!(west.last().and_then(new_v), Some(last));
    // Counted on the link: at least the versions eu-west-1 never got (a
    // session wedged by the cut may have read and left out some too).
    assert!(
        coalesced >= (VERSIONS - west.len()) as u64,
        "coalesced {coalesced}"
    );
    assert!(shipped > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_coalescing_off_a_replica_streams_every_version() {
    let (east, west, (_, coalesced)) = one_writer(false).await;
    assert_eq!(east.len(), VERSIONS);
    assert_eq!(west.len(), VERSIONS, "every version reaches eu-west-1");
    let values: Vec<Option<String>> = west.iter().map(new_v).collect();
    let written: Vec<Option<String>> = (0..VERSIONS).map(|n| Some(n.to_string())).collect();
    assert_eq!(values, written);
    assert_eq!(coalesced, 0);
}

/// eu-west-1 writes the hot item after us-east-1's backlog of it, without
/// having seen any of it: concurrent with every version. The versions
/// reach eu-west-1 coalesced and still meet its write as a conflict,
/// recorded there as at us-east-1, and both end with the same item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_of_a_coalesced_item_still_conflict() {
    let net = Registry::new();
    let c = cluster(&net, true).await;
    let table = "contested";
    backlog(&c, &net, table).await;
    put_v(&client(c.dynamo_url(1)), table, "hot", "west").await;
    heal(&c, &net, table).await;
    let (_, coalesced) = shipped_to_west(&c).await;
    assert!(coalesced > 0, "coalesced {coalesced}");
    let hot = meridian_tests::id_schema()
        .key_of(&Item::from([(
            "id".to_string(),
            AttrValue::S("hot".into()),
        )]))
        .expect("a key");
    for (i, region) in REGIONS.iter().enumerate() {
        let on_hot = c
            .conflicts(i, table)
            .await
            .into_iter()
            .filter(|x| x.key == hot)
            .count();
        assert!(on_hot >= 1, "{region} recorded no conflict on the item");
    }
    poll_until(
        "the same item in both streams",
        Duration::from_secs(20),
        || async {
            let east = records(&c, 0, table, "hot").await;
            let west = records(&c, 1, table, "hot").await;
            east.last().and_then(new_v).is_some()
                && east.last().and_then(new_v) == west.last().and_then(new_v)
        },
    )
    .await;
    c.shutdown().await;
}
