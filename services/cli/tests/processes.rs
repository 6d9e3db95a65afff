//! Regions as real OS processes, started the way the README says, one of
//! them killed with SIGKILL mid-traffic and restarted on its data directory.

use std::process::{Child, Command, Stdio};

use meridian_cluster::local::loopback_file;
use meridian_core::{AttrValue, Item, encode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::{AckedWrite, Heads, Oracle, Verdict, check_converged};
use meridian_tests::version_of;

use crate::common;
use common::{WAIT, channel, create_kvs};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

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
        meridian_cluster::wait::serving(r.grpc, WAIT, None, || async { None })
            .await
            .unwrap_or_else(|e| panic!("a region to listen: {e}"));
    }
    let schema = meridian_tests::id_schema();
    create_kvs(&ports).await;
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
                    seen_through: None,
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
    meridian_cluster::wait::serving(file.regions[2].grpc, WAIT, None, || async { None })
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
            let heads =
                meridian_cluster::state::heads(&dir.path().join("data").join(r), "kvs").unwrap();
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

/// A CLI whose reader has already gone (`meridian … | head` after head
/// quit) ends quietly with SIGPIPE's status, not a panic, and not by the
/// signal itself: SIGPIPE's default action would also kill a drill whose
/// HTTP/2 socket to a crashed region raises it.
#[test]
fn a_cli_printing_into_a_closed_pipe_ends_quietly() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe(2)");
    // SAFETY: both descriptors were just made by pipe(2) and are owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../regions/local-3.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["metrics", "scrape-config", "--config", config])
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run meridian metrics scrape-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "killed by a signal; stderr: {stderr}"
    );
    assert_eq!(out.status.code(), Some(141), "stderr: {stderr}");
    assert!(stderr.is_empty(), "nothing on stderr, got: {stderr}");
}
