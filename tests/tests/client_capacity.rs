//! The client API (`meridian.v1.Meridian`) draws on a provisioned table's
//! units as the DynamoDB endpoint does (docs/dynamodb-compat.md,
//! *Throughput*): no client is a way past a replica's units. Its
//! CreateTable provisions a table, with auto scaling, and refuses what
//! DynamoDB refuses.

use std::time::Duration;

use meridian_core::{AttrValue, Item, encode_item};
use meridian_proto::v1 as pb;
use meridian_region::client_meter::THROTTLED;
use meridian_tests::TestCluster;

/// Buckets keep a second's units: DynamoDB's burst spent, as it may be.
async fn cluster(names: &[&str]) -> TestCluster {
    TestCluster::start_tuned(names, |cfg| cfg.burst_capacity = Duration::ZERO).await
}

fn request(name: &str, provisioned: pb::Provisioned) -> pb::CreateTableRequest {
    pb::CreateTableRequest {
        name: name.into(),
        partition_key: Some(pb::KeyAttr {
            name: "id".into(),
            r#type: "S".into(),
        }),
        provisioned: Some(provisioned),
        ..Default::default()
    }
}

fn units(read_units: u64, write_units: u64) -> pb::Provisioned {
    pb::Provisioned {
        read_units,
        write_units,
        ..Default::default()
    }
}

/// A put of an item of about 40 KB: 40 write units, and 5 read units
/// when read eventually consistent (ten started 4 KB, halved).
fn put(table: &str, id: &str) -> pb::PutItemRequest {
    let item = Item::from([
        ("id".to_string(), AttrValue::S(id.into())),
        ("v".to_string(), AttrValue::S("x".repeat(40 * 1024 - 8))),
    ]);
    pb::PutItemRequest {
        table: table.into(),
        item: encode_item(&item),
        condition: None,
    }
}

fn get(table: &str, id: &str) -> pb::GetItemRequest {
    pb::GetItemRequest {
        table: table.into(),
        key: encode_item(&Item::from([("id".to_string(), AttrValue::S(id.into()))])),
        consistent: false,
    }
}

/// A request is admitted while its bucket holds anything and charged
/// once done, so one large request spends a small bucket into debt and
/// the next is refused: two write units a second against a put of 40,
/// one read unit against a read of 5, each kept for a second (the
/// cluster's burst), so the debt takes seconds to pay back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_tables_writes_and_reads_through_the_client_api_are_throttled() {
    let c = cluster(&["us-east-1"]).await;
    let mut api = c.client(0);
    api.create_table(request("small", units(1, 2)))
        .await
        .expect("a provisioned table of one region needs no auto scaling");
    api.put_item(put("small", "a"))
        .await
        .expect("the first put is admitted");
    let e = api
        .put_item(put("small", "b"))
        .await
        .expect_err("the second put meets a bucket 38 units in debt");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().starts_with(THROTTLED), "{}", e.message());
    assert!(
        e.message().contains("table small, write units"),
        "{}",
        e.message()
    );
    api.get_item(get("small", "a"))
        .await
        .expect("the first read is admitted");
    let e = api
        .get_item(get("small", "a"))
        .await
        .expect_err("the second read meets a bucket 4 units in debt");
    assert!(e.message().contains("table small, read units"), "{e:?}");
    // The region's status shows the replica's units and what was charged.
    let status = c.status(0).await;
    let u = status
        .units
        .iter()
        .find(|u| u.table == "small")
        .expect("the provisioned table in the status");
    assert_eq!((u.read_units, u.write_units), (1, 2));
    assert_eq!((u.consumed_read, u.consumed_write), (5.0, 40.0));
    // An on-demand table beside it is never throttled.
    api.create_table(pb::CreateTableRequest {
        provisioned: None,
        ..request("free", units(1, 1))
    })
    .await
    .unwrap();
    for i in 0..5 {
        api.put_item(put("free", &format!("k{i}")))
            .await
            .expect("on demand");
    }
    assert!(
        !c.status(0).await.units.iter().any(|u| u.table == "free"),
        "an on-demand table has no units to show"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_is_checked_as_dynamodb_checks_it_and_changes_nothing() {
    let c = cluster(&["us-east-1", "eu-west-1"]).await;
    let mut api = c.client(0);
    let scaling = |min, max, target| pb::AutoScalingSpec { min, max, target };
    let cases = [
        (
            units(0, 5),
            "provisioned.read_units: 0 is not within 1 to 40000",
        ),
        (
            units(5, 40_001),
            "provisioned.write_units: 40001 is not within 1 to 40000",
        ),
        // A global table needs write auto scaling, as on AWS.
        (
            units(5, 5),
            "provisioned.write_scaling: Table write capacity should either be Pay-Per-Request or AutoScaled.",
        ),
        (
            pb::Provisioned {
                write_scaling: Some(scaling(5, 10, 95.0)),
                ..units(5, 5)
            },
            "provisioned.write_scaling",
        ),
        (
            pb::Provisioned {
                write_scaling: Some(scaling(20, 10, 70.0)),
                ..units(5, 5)
            },
            "provisioned.write_scaling",
        ),
    ];
    for (i, (p, want)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}");
        let e = api
            .create_table(request(&name, p))
            .await
            .expect_err("refused");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{name}: {e:?}");
        assert!(e.message().contains(want), "{name}: {}", e.message());
        // Refused before anything was made.
        let gone = api
            .describe_table(pb::TableRequest { name: name.clone() })
            .await;
        assert_eq!(gone.map(|_| ()).unwrap_err().code(), tonic::Code::NotFound);
    }
    api.create_table(request(
        "scaled",
        pb::Provisioned {
            write_scaling: Some(scaling(5, 100, 70.0)),
            read_scaling: Some(scaling(5, 100, 70.0)),
            ..units(5, 5)
        },
    ))
    .await
    .expect("a provisioned global table with write auto scaling");
    c.shutdown().await;
}

/// A hot key through the client API meets its partition's ceiling (1,000
/// write units a second), on an on-demand table as on the DynamoDB
/// endpoint, and another key's partition goes on: a drill's traffic,
/// which is the client API's, is no kinder to a hot key than AWS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_key_through_the_client_api_meets_its_partitions_ceiling() {
    use meridian_core::throughput::{ON_DEMAND_PARTITIONS, partition_of};
    let c = TestCluster::start(&["us-east-1"]).await;
    let mut api = c.client(0);
    api.create_table(pb::CreateTableRequest {
        name: "hot".into(),
        partition_key: Some(pb::KeyAttr {
            name: "id".into(),
            r#type: "S".into(),
        }),
        ..Default::default()
    })
    .await
    .expect("an on-demand table");
    // Puts of about 390 units to one key: the partition's thousand are
    // spent by the third, however slowly they come (it refills 1,000 a
    // second, a few units between two puts).
    let big = |id: &str| pb::PutItemRequest {
        table: "hot".into(),
        item: encode_item(&Item::from([
            ("id".to_string(), AttrValue::S(id.into())),
            ("v".to_string(), AttrValue::S("x".repeat(390 * 1024 - 8))),
        ])),
        condition: None,
    };
    let mut refused = None;
    for i in 0..20 {
        if let Err(e) = api.put_item(big("hot")).await {
            refused = Some((i, e));
            break;
        }
    }
    let (taken, e) = refused.expect("a hot key was never throttled");
    assert!((2..=4).contains(&taken), "{taken} puts before the throttle");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().starts_with(THROTTLED), "{e:?}");
    assert!(e.message().contains("partition"), "{e:?}");
    let hot = partition_of(b"hot", ON_DEMAND_PARTITIONS);
    let cold = (0..)
        .map(|i| format!("cold{i}"))
        .find(|k| partition_of(k.as_bytes(), ON_DEMAND_PARTITIONS) != hot)
        .unwrap();
    api.put_item(put("hot", &cold))
        .await
        .expect("another partition has its own units");
    c.shutdown().await;
}
