//! What the tests that run region processes share: a channel to a region
//! on a loopback port, polling with one deadline, and the table they write.

use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use tonic::transport::Channel;

/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(60);

/// A lazily connecting channel to the region serving gRPC on `port`, the
/// way cluster control talks to regions.
pub fn channel(port: u16) -> Channel {
    meridian_cluster::wait::channel(&format!("http://127.0.0.1:{port}")).unwrap()
}

/// Polls `f` until it holds, panicking with `what` after [`WAIT`].
pub async fn poll<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    meridian_tests::poll_until(what, WAIT, f).await;
}

/// Creates table `kvs` (partition key `id`, a string) in the region on
/// `ports[0]`, then waits until every region knows it.
pub async fn create_kvs(ports: &[u16]) {
    create_table(ports, "kvs").await;
}

/// Creates table `name` (partition key `id`, a string) in the region on
/// `ports[0]`, then waits until every region knows it.
pub async fn create_table(ports: &[u16], name: &str) {
    MeridianClient::new(channel(ports[0]))
        .create_table(pb::CreateTableRequest {
            indexes: Vec::new(),
            name: name.into(),
            partition_key: Some(pb::KeyAttr {
                name: "id".into(),
                r#type: "S".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    for &p in ports {
        poll("the table everywhere", || async move {
            MeridianClient::new(channel(p))
                .describe_table(pb::TableRequest { name: name.into() })
                .await
                .is_ok()
        })
        .await;
    }
}

/// Waits until every region on `ports` serves and is connected to every
/// one of its peers.
#[allow(dead_code)]
pub async fn connected(ports: &[u16]) {
    poll("every region serving, every link connected", || async {
        for &p in ports {
            let s = meridian_proto::v1::admin_client::AdminClient::new(channel(p))
                .status(pb::StatusRequest {})
                .await
                .map(|r| r.into_inner());
            match s {
                Ok(s)
                    if s.peers.len() + 1 == ports.len() && s.peers.iter().all(|p| p.connected) => {}
                _ => return false,
            }
        }
        true
    })
    .await;
}
