//! Three regions, concurrent random puts and deletes on overlapping keys
//! from every region; after quiescence every region must hold exactly what
//! the acknowledged writes say, and the conflict log must obey the conflict
//! rule (docs/conflicts.md#the-rule).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, Number};
use meridian_scenario::{Oracle, Verdict, check_converged};
use meridian_tests::{TestCluster, delete, put};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const TABLE: &str = "orders";

fn schema() -> KeySchema {
    KeySchema {
        partition: KeyAttr {
            name: "pk".into(),
            ty: KeyType::S,
        },
        sort: Some(KeyAttr {
            name: "sk".into(),
            ty: KeyType::N,
        }),
    }
}

fn key(k: u32) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), AttrValue::S(format!("p{}", k % 5)));
    item.insert(
        "sk".into(),
        AttrValue::N(Number::parse(&(k / 5).to_string(), "sk").expect("number")),
    );
    item
}

fn item(k: u32, region: &str, i: u32) -> Item {
    let mut it = key(k);
    it.insert("region".into(), AttrValue::S(region.into()));
    it.insert(
        "n".into(),
        AttrValue::N(Number::parse(&i.to_string(), "n").expect("number")),
    );
    it
}

/// One client per region: `ops` random puts (70%) and deletes over `keys` keys.
/// Errors (a crashed region) are counted, never recorded as acknowledged.
async fn writer(
    cluster: Shared<TestCluster>,
    i: usize,
    ops: u32,
    keys: u32,
    seed: u64,
    oracle: Arc<Mutex<Oracle>>,
) -> u32 {
    let mut rng = StdRng::seed_from_u64(seed);
    let region = REGIONS[i];
    let mut errors = 0;
    let schema = schema();
    for n in 0..ops {
        let k = rng.random_range(0..keys);
        let mut client = cluster.read().await.client(i);
        let result = if rng.random_bool(0.7) {
            put(&mut client, TABLE, &schema, item(k, region, n)).await
        } else {
            delete(&mut client, TABLE, &schema, key(k)).await
        };
        match result {
            Ok(w) => oracle.lock().unwrap().record(w),
            Err(_) => {
                errors += 1;
                // Pace retries against a region that is down.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    errors
}

async fn verdict(cluster: &TestCluster, oracle: &Oracle, strict: bool) -> Verdict {
    let mut v = Verdict::default();
    let replicas: Vec<_> = (0..REGIONS.len())
        .map(|i| (REGIONS[i].to_string(), cluster.heads(i, TABLE)))
        .collect();
    check_converged(&replicas, &mut v);
    for (name, heads) in &replicas {
        oracle.check_replica(name, heads, strict, &mut v);
    }
    let mut conflicts = Vec::new();
    for i in 0..REGIONS.len() {
        conflicts.extend(cluster.conflicts(i, TABLE).await);
    }
    oracle.check_conflicts(&conflicts, strict, &mut v);
    v
}

type Shared<T> = Arc<tokio::sync::RwLock<T>>;

/// Three regions, one table, and one random writer per region.
async fn start_traffic(
    ops: u32,
    keys: u32,
) -> (
    u64,
    Shared<TestCluster>,
    Arc<Mutex<Oracle>>,
    Vec<tokio::task::JoinHandle<u32>>,
) {
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let cluster = TestCluster::start(&REGIONS).await;
    cluster
        .create_table(0, TABLE, ("pk", "S"), Some(("sk", "N")))
        .await;
    cluster.wait_table_everywhere(TABLE).await;
    let cluster = Arc::new(tokio::sync::RwLock::new(cluster));
    let oracle = Arc::new(Mutex::new(Oracle::new()));
    let writers = (0..REGIONS.len())
        .map(|i| {
            tokio::spawn(writer(
                cluster.clone(),
                i,
                ops,
                keys,
                seed.wrapping_add(i as u64),
                oracle.clone(),
            ))
        })
        .collect();
    (seed, cluster, oracle, writers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_from_every_region_converge_to_the_oracle() {
    let (seed, cluster, oracle, writers) = start_traffic(400, 30).await;
    for w in writers {
        assert_eq!(
            w.await.unwrap(),
            0,
            "no write may fail while every region is up"
        );
    }
    let cluster = Arc::try_unwrap(cluster)
        .ok()
        .expect("writers done")
        .into_inner();
    let took = cluster
        .wait_quiescent(TABLE, Duration::from_secs(60))
        .await
        .unwrap();
    println!("quiescent {took:?} after the last write");
    let oracle = oracle.lock().unwrap().clone();
    assert_eq!(oracle.len(), 1200);
    let v = verdict(&cluster, &oracle, true).await;
    println!(
        "checked {} keys, {} conflict records, {} lost updates recorded ({} by the oracle)",
        v.keys_checked, v.conflicts_checked, v.lost_updates, v.expected_lost_updates
    );
    assert!(v.ok(), "seed {seed}: {:#?}", v.problems);
    assert!(
        v.conflicts_checked > 0,
        "seed {seed}: 1200 overlapping writes on 30 keys must conflict"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_restarted_mid_traffic_loses_nothing_and_catches_up() {
    let (seed, cluster, oracle, writers) = start_traffic(600, 40).await;
    // Crash the third region once some traffic has gone by, keep the others
    // writing, then bring it back on the same data directory.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while oracle.lock().unwrap().len() < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "traffic never reached 300 writes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before_crash = oracle.lock().unwrap().len();
    cluster.write().await.crash(2).await;
    while oracle.lock().unwrap().len() < before_crash + 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the surviving regions stopped accepting writes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.write().await.restart(2).await;
    let mut errors = 0;
    for w in writers {
        errors += w.await.unwrap();
    }
    let cluster = Arc::try_unwrap(cluster)
        .ok()
        .expect("writers done")
        .into_inner();
    println!("{errors} writes failed while the region was down");
    // The restarted region takes writes again, and they replicate.
    let w = put(
        &mut cluster.client(2),
        TABLE,
        &schema(),
        item(1_000, REGIONS[2], 0),
    )
    .await
    .expect("the restarted region accepts writes");
    oracle.lock().unwrap().record(w);
    let took = cluster
        .wait_quiescent(TABLE, Duration::from_secs(60))
        .await
        .unwrap();
    println!("caught up {took:?} after the last write");
    let oracle = oracle.lock().unwrap().clone();
    // Writes in flight at the crash may have committed without an ack, so the
    // check is: converged, and no acknowledged write lost.
    let v = verdict(&cluster, &oracle, false).await;
    assert!(v.ok(), "seed {seed}: {:#?}", v.problems);
    assert!(
        oracle.len() >= 1200,
        "the surviving regions took their writes"
    );
    cluster.shutdown().await;
}
