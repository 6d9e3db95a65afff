//! Mutual TLS between regions: replication and repair run on a listener of
//! their own, take only callers with a certificate of the cluster's
//! authority, and take a region's name only from that region's certificate.
//!
//! Three regions start; the third is then stopped, and its certificate is
//! what a member of the cluster gone rogue holds: valid, but only for its
//! own name.

use std::path::Path;
use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::repair_client::RepairClient;
use meridian_proto::v1::replication_client::ReplicationClient;
use meridian_region::tls::{TlsFiles, issue};
use meridian_tests::peer::{hello, metric};
use meridian_tests::{TestCluster, id_schema, marked_item, poll_until, put};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
const ROGUE: &str = REGIONS[2];

fn hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}

/// A TLS channel to `url`, checking the server's certificate for `server`
/// against `ca`, and showing `me`'s certificate when given.
async fn channel(
    url: &str,
    ca: &Path,
    server: &str,
    me: Option<&TlsFiles>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .domain_name(server)
        .ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some(me) = me {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&me.cert).unwrap(),
            std::fs::read(&me.key).unwrap(),
        ));
    }
    Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .tls_config(tls)?
        .connect()
        .await
}

/// Opens a replication stream on `ch` saying only `Hello` from `from`.
async fn say_hello(ch: Channel, from: &str) -> Result<(), tonic::Status> {
    let mut repl = ReplicationClient::new(ch);
    let mut answers = repl
        .ship(futures::stream::iter(vec![hello(from, REGIONS[0])]))
        .await?
        .into_inner();
    while answers.message().await?.is_some() {}
    Ok(())
}

fn refused(c: &TestCluster, peer: &str) -> f64 {
    metric(
        c,
        0,
        "meridian_replication_protocol_errors_total",
        &[("peer", peer), ("reason", "hello_certificate")],
    )
}

async fn replicates(c: &TestCluster, from: usize, to: usize, id: &str) {
    put(
        &mut c.client(from),
        "tls",
        &id_schema(),
        marked_item(id, "tls", 1),
    )
    .await
    .expect("a write");
    poll_until(
        &format!("{id} to replicate"),
        Duration::from_secs(20),
        || async {
            c.client(to)
                .get_item(pb::GetItemRequest {
                    table: "tls".into(),
                    key: meridian_core::encode_item(&meridian_core::Item::from([(
                        "id".to_string(),
                        meridian_core::AttrValue::S(id.into()),
                    )])),
                    consistent: false,
                })
                .await
                .is_ok_and(|r| r.into_inner().item.is_some())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_replicate_over_mutual_tls_and_speak_only_under_their_own_names() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let all: Vec<(String, Vec<String>)> =
        REGIONS.iter().map(|r| (r.to_string(), hosts())).collect();
    issue(&certs, &all).unwrap();
    // Another cluster's authority, issuing the same names.
    let other = dir.path().join("other");
    issue(&other, &all).unwrap();

    let mut c = TestCluster::start_tls(&REGIONS, &certs).await;
    c.create_table(0, "tls", ("id", "S"), None).await;
    c.wait_table_everywhere("tls").await;
    replicates(&c, 0, 1, "one").await;
    replicates(&c, 1, 0, "two").await;
    replicates(&c, 2, 0, "from-the-third").await;
    c.crash(2).await;

    let region0 = c.nodes[0].region.as_ref().unwrap();
    let url = format!("https://{}", region0.replication_addr.unwrap());
    let ca = certs.join("ca.pem");
    let rogue = TlsFiles::in_dir(&certs, ROGUE);

    // The client API does not serve replication any more.
    let err = say_hello(
        Endpoint::from_shared(c.url(0))
            .unwrap()
            .connect()
            .await
            .unwrap(),
        REGIONS[1],
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err:?}");

    // A member of the cluster speaking as another: refused and counted.
    let before = refused(&c, REGIONS[1]);
    let ch = channel(&url, &ca, REGIONS[0], Some(&rogue)).await.unwrap();
    let err = say_hello(ch.clone(), REGIONS[1]).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("\"eu-west-1\""), "{err:?}");
    assert_eq!(refused(&c, REGIONS[1]), before + 1.0);
    // ... and in repair, where a claimed name decides what is answered.
    let err = RepairClient::new(ch.clone())
        .roots(pb::RootsRequest {
            from_region: REGIONS[1].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Under its own name, its certificate is good.
    say_hello(ch, ROGUE)
        .await
        .expect("a region's own name is taken");

    // No certificate, another authority's certificate, or no TLS at all:
    // nothing gets past the handshake.
    let no_cert = match channel(&url, &ca, REGIONS[0], None).await {
        Err(_) => true,
        Ok(ch) => say_hello(ch, REGIONS[1]).await.is_err(),
    };
    assert!(no_cert, "a caller without a certificate was served");
    let stranger = TlsFiles::in_dir(&other, REGIONS[1]);
    let foreign = match channel(&url, &ca, REGIONS[0], Some(&stranger)).await {
        Err(_) => true,
        Ok(ch) => say_hello(ch, REGIONS[1]).await.is_err(),
    };
    assert!(foreign, "a certificate of another authority was taken");
    let plain = format!("http://{}", region0.replication_addr.unwrap());
    let plaintext = match Endpoint::from_shared(plain).unwrap().connect().await {
        Err(_) => true,
        Ok(ch) => say_hello(ch, REGIONS[1]).await.is_err(),
    };
    assert!(plaintext, "a plaintext caller was served");
    // A region that shows the wrong name as a server is not dialled.
    assert!(
        channel(&url, &ca, REGIONS[1], Some(&rogue)).await.is_err(),
        "us-east-1's certificate was taken for eu-west-1"
    );

    // The honest link never stopped.
    replicates(&c, 1, 0, "three").await;
    c.shutdown().await;
}
