//! Regions as real OS processes, started the way the README says, one of
//! them killed with SIGKILL mid-traffic and restarted on its data directory.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meridian_cluster::local::loopback_file;
use meridian_core::{AttrValue, Item, KeyAttr, KeySchema, KeyType, encode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::{AckedWrite, Head, Heads, Oracle, Verdict, check_converged};
use meridian_tests::version_of;
use tonic::transport::{Channel, Endpoint};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const WAIT: Duration = Duration::from_secs(60);

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &std::path::Path, region: &str) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["region", "--config"])
            .arg(config)
            .args(["--region", region])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start meridian region"),
    )
}

fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

async fn poll<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    meridian_tests::poll_until(what, Duration::from_secs(60), f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_region_process_restarts_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    let file = loopback_file("proc-3", &dir.path().join("data"), &names, false).unwrap();
    let ports: Vec<u16> = file.regions.iter().map(|r| r.grpc.port()).collect();
    let config = dir.path().join("cluster.toml");
    file.write(&config).unwrap();
    let mut procs: Vec<Option<Proc>> = REGIONS.iter().map(|r| Some(spawn(&config, r))).collect();
    for r in &file.regions {
        meridian_cluster::wait::serving(r.grpc, WAIT, || async { None })
            .await
            .unwrap_or_else(|e| panic!("a region to listen: {e}"));
    }
    let schema = KeySchema {
        partition: KeyAttr {
            name: "id".into(),
            ty: KeyType::S,
        },
        sort: None,
    };
    MeridianClient::new(channel(ports[0]))
        .create_table(pb::CreateTableRequest {
            name: "kvs".into(),
            partition_key: Some(pb::KeyAttr {
                name: "id".into(),
                r#type: "S".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    for &p in &ports {
        poll("the table everywhere", || async move {
            MeridianClient::new(channel(p))
                .describe_table(pb::TableRequest { name: "kvs".into() })
                .await
                .is_ok()
        })
        .await;
    }
    let mut oracle = Oracle::new();
    let write = async |region: usize, n: u32, oracle: &mut Oracle| -> bool {
        let mut item = Item::new();
        item.insert("id".into(), AttrValue::S(format!("k{}", n % 25)));
        item.insert("n".into(), AttrValue::S(format!("{region}:{n}")));
        let r = MeridianClient::new(channel(ports[region]))
            .put_item(pb::PutItemRequest {
                table: "kvs".into(),
                item: encode_item(&item),
                condition: None,
            })
            .await;
        match r {
            Ok(r) => {
                let r = r.into_inner();
                oracle.record(AckedWrite {
                    table: "kvs".into(),
                    key: schema.key_of(&item).unwrap(),
                    version: version_of(&r.version),
                    prev: r.prev.as_ref().map(|_| version_of(&r.prev)),
                    image: Some(item),
                });
                true
            }
            Err(_) => false,
        }
    };
    for n in 0..60 {
        assert!(write(n as usize % 3, n, &mut oracle).await);
    }
    // SIGKILL: no shutdown path runs.
    drop(procs[2].take());
    for n in 60..120 {
        assert!(
            write(n as usize % 2, n, &mut oracle).await,
            "the surviving regions keep accepting writes"
        );
    }
    procs[2] = Some(spawn(&config, REGIONS[2]));
    meridian_cluster::wait::serving(file.regions[2].grpc, WAIT, || async { None })
        .await
        .unwrap_or_else(|e| panic!("the restarted region to accept writes: {e}"));
    for n in 120..150 {
        assert!(write(n as usize % 3, n, &mut oracle).await);
    }
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    meridian_cluster::wait::wait_quiescent(&urls, Some("kvs"), WAIT)
        .await
        .unwrap_or_else(|e| panic!("every link drained and equal digests: {e}"));
    let mut verdict = Verdict::default();
    let replicas: Vec<(String, Heads)> = REGIONS
        .iter()
        .map(|r| {
            let reader = meridian_store::open_reader(&dir.path().join("data").join(r)).unwrap();
            let heads = reader
                .heads("kvs")
                .unwrap()
                .into_iter()
                .map(|row| {
                    (
                        ("kvs".to_string(), row.key),
                        Head {
                            version: row.version,
                            image: row.image,
                        },
                    )
                })
                .collect();
            (r.to_string(), heads)
        })
        .collect();
    check_converged(&replicas, &mut verdict);
    for (r, heads) in &replicas {
        oracle.check_replica(r, heads, true, &mut verdict);
    }
    assert!(verdict.ok(), "{:#?}", verdict.problems);
    assert_eq!(verdict.keys_checked, 75);
}
