//! Mutating admin calls take the cluster's admin token when a region has
//! one; reads stay open. A refusal says why and counts by call.

use meridian_proto::v1 as pb;
use meridian_region::admin::authorized;
use meridian_tests::TestCluster;
use meridian_tests::peer::metric;
use tonic::Code;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn refused(c: &TestCluster, call: &str) -> f64 {
    metric(c, 0, "meridian_admin_refused_total", &[("call", call)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_admin_calls_take_only_the_admin_token() {
    let c = TestCluster::start_tuned(&["us-east-1", "eu-west-1"], |cfg| {
        cfg.admin_token = Some(TOKEN.into());
    })
    .await;
    let skew = || pb::SetClockRequest {
        offset_micros: 1_000,
        drift_ppm: 0,
    };

    let err = c.admin(0).set_clock(skew()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("SetClock") && err.message().contains("no admin token"));
    assert_eq!(refused(&c, "SetClock"), 1.0);

    let wrong = "0123456789abcdef0123456789abcdeX";
    let err = c
        .admin(0)
        .set_clock(authorized(skew(), Some(wrong)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("does not match"), "{err:?}");
    let err = c
        .admin(0)
        .repair(authorized(pb::RepairRequest::default(), Some("short")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(refused(&c, "SetClock"), 2.0);
    assert_eq!(refused(&c, "Repair"), 1.0);

    // The right token is taken.
    let clock = c
        .admin(0)
        .set_clock(authorized(skew(), Some(TOKEN)))
        .await
        .expect("the admin token is taken")
        .into_inner();
    assert_eq!(clock.offset_micros, 1_000);
    // Reads stay open.
    c.admin(0)
        .list_backups(pb::ListBackupsRequest::default())
        .await
        .expect("listing backups needs no token");
    c.shutdown().await;
}

/// With an `admin` address, admin is served there and only there, and the
/// client API only on `grpc`: each port answers `UNIMPLEMENTED` for the
/// other's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listens_apart_from_the_client_api_when_given_an_address() {
    let c = TestCluster::start_tuned(&["us-east-1"], |cfg| {
        cfg.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let region = c.nodes[0].region.as_ref().unwrap();
    let admin_addr = region.admin_addr.expect("an admin listener");
    assert_ne!(admin_addr, region.grpc_addr);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{admin_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let status = pb::admin_client::AdminClient::new(channel.clone())
        .status(pb::StatusRequest {})
        .await
        .expect("status on the admin listener")
        .into_inner();
    assert_eq!(status.region, "us-east-1");
    let on_grpc = c.admin(0).status(pb::StatusRequest {}).await.unwrap_err();
    assert_eq!(on_grpc.code(), Code::Unimplemented, "{on_grpc:?}");

    let on_admin = pb::meridian_client::MeridianClient::new(channel)
        .list_tables(pb::ListTablesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(on_admin.code(), Code::Unimplemented, "{on_admin:?}");
    c.client(0)
        .list_tables(pb::ListTablesRequest::default())
        .await
        .expect("the client API on grpc");
    c.shutdown().await;
}
