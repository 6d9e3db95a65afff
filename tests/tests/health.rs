//! The writer's supervision and honest health: a panic in the writer is
//! caught, the group in flight is rolled back, the region refuses writes
//! with the reason, reports not ready (status and the readiness probe),
//! keeps serving reads, and loses nothing it had acknowledged.

use meridian_proto::v1 as pb;
use meridian_tests::{TestCluster, id_schema, marked_item, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_panic_stops_writes_with_the_reason_and_makes_the_region_not_ready() {
    let c = TestCluster::start(&["us-east-1"]).await;
    c.create_table(0, "tab", ("id", "S"), None).await;
    let mut client = c.client(0);
    put(
        &mut client,
        "tab",
        &id_schema(),
        marked_item("a", "us-east-1", 1),
    )
    .await
    .expect("a write before the fault");
    let region = c.nodes[0].region.as_ref().expect("running");
    assert_eq!(region.writer_failure(), None);
    let (code, _) = meridian_region::admin::readiness(region.writer_failure());
    assert_eq!(code, 200);

    region
        .inject_writer_panic()
        .await
        .expect("the fault is queued");
    // The next write is refused with the reason, whichever group it lands in.
    let e = put(
        &mut client,
        "tab",
        &id_schema(),
        marked_item("b", "us-east-1", 1),
    )
    .await
    .expect_err("the writer has stopped");
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(
        e.message().contains("the writer panicked"),
        "{}",
        e.message()
    );

    let why = region.writer_failure().expect("a reason");
    assert!(
        why.contains("injected by Storage::inject_writer_panic"),
        "{why}"
    );
    let (code, body) = meridian_region::admin::readiness(Some(why.clone()));
    assert_eq!(code, 503);
    assert!(body.contains(&why), "{body}");
    let status = c
        .admin(0)
        .status(pb::StatusRequest {})
        .await
        .expect("status still answers")
        .into_inner();
    assert_eq!(status.writer_failure, why);

    // Reads go on, and what was acknowledged is there.
    let got = client
        .get_item(pb::GetItemRequest {
            table: "tab".into(),
            key: meridian_core::encode_item(&meridian_core::Item::from([(
                "id".to_string(),
                meridian_core::AttrValue::S("a".into()),
            )])),
            consistent: false,
        })
        .await
        .expect("a read after the fault")
        .into_inner();
    assert!(got.item.is_some(), "the acknowledged write is there");
    c.shutdown().await;
}
