//! The client API over real gRPC: tables, conditions, queries, batches,
//! validation, untrusted peers and the drift guard.

use std::time::Duration;

use meridian_core::{AttrValue, Item, Version, encode_item, item_from_json, value::MAX_ITEM_BYTES};
use meridian_proto::v1 as pb;
use meridian_proto::v1::replication_client::ReplicationClient;
use meridian_tests::peer::{batch, hello, peer_entry, ship};
use meridian_tests::{TestCluster, poll_until, version_of};
use tonic::Code;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

fn item(json: serde_json::Value) -> Vec<u8> {
    encode_item(&item_from_json(&json).expect("valid test item"))
}

/// A table with key `id` created in region 0 and seen in every region; its
/// version, which a peer's entries for it must carry.
async fn replicated_table(c: &TestCluster, name: &str) -> Version {
    c.create_table(0, name, ("id", "S"), None).await;
    c.wait_table_everywhere(name).await;
    let d = c
        .client(0)
        .describe_table(pb::TableRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner();
    version_of(&d.version)
}

/// Whether region 0 holds item `id` of `table`.
async fn stored(c: &TestCluster, table: &str, id: &str) -> bool {
    c.client(0)
        .get_item(pb::GetItemRequest {
            table: table.into(),
            key: item(serde_json::json!({"id": {"S": id}})),
            consistent: false,
        })
        .await
        .unwrap()
        .into_inner()
        .item
        .is_some()
}

/// The last replication error region `i` reports for its first peer.
async fn peer_error(c: &TestCluster, i: usize) -> String {
    let s = c
        .admin(i)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    s.peers[0].last_error.clone()
}

async fn poll<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll_until(what, Duration::from_secs(20), f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_replicate_and_deletes_do_not_resurrect() {
    let c = TestCluster::start(&REGIONS).await;
    c.create_table(0, "users", ("id", "S"), None).await;
    c.wait_table_everywhere("users").await;
    let d0 = c
        .client(0)
        .describe_table(pb::TableRequest {
            name: "users".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let d2 = c
        .client(2)
        .describe_table(pb::TableRequest {
            name: "users".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        d0.version, d2.version,
        "one table, one catalog version everywhere"
    );
    assert_eq!(d2.replicas.len(), 3);
    let dup = c
        .client(1)
        .create_table(pb::CreateTableRequest {
            indexes: Vec::new(),
            name: "users".into(),
            partition_key: Some(pb::KeyAttr {
                name: "id".into(),
                r#type: "S".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    c.client(1)
        .put_item(pb::PutItemRequest {
            table: "users".into(),
            item: item(serde_json::json!({"id": {"S": "a"}})),
            condition: None,
        })
        .await
        .unwrap();
    c.client(2)
        .delete_table(pb::TableRequest {
            name: "users".into(),
        })
        .await
        .unwrap();
    for i in 0..3 {
        poll("the delete to reach every region", || async {
            c.client(i)
                .describe_table(pb::TableRequest {
                    name: "users".into(),
                })
                .await
                .map(|_| ())
                .err()
                .map(|e| e.code())
                == Some(Code::NotFound)
        })
        .await;
    }
    // Recreated under the same name, the table starts empty everywhere.
    c.create_table(0, "users", ("id", "S"), None).await;
    c.wait_table_everywhere("users").await;
    c.wait_quiescent("users", Duration::from_secs(20))
        .await
        .unwrap();
    for (i, region) in REGIONS.iter().enumerate() {
        let scan = c
            .client(i)
            .scan(pb::ScanRequest {
                index: String::new(),
                table: "users".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            scan.items.is_empty(),
            "{region}: an item of the deleted table came back"
        );
    }
    let list = c
        .client(1)
        .list_tables(pb::ListTablesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.names, vec!["users"]);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_give_optimistic_concurrency() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    c.create_table(0, "t01", ("id", "S"), None).await;
    let mut cl = c.client(0);
    let must_not_exist = Some(pb::Condition {
        kind: Some(pb::condition::Kind::MustNotExist(true)),
    });
    let put = |body: serde_json::Value, condition: Option<pb::Condition>| pb::PutItemRequest {
        table: "t01".into(),
        item: item(body),
        condition,
    };
    let first = cl
        .put_item(put(
            serde_json::json!({"id": {"S": "k"}, "v": {"N": "1"}}),
            must_not_exist.clone(),
        ))
        .await
        .unwrap()
        .into_inner();
    let again = cl
        .put_item(put(
            serde_json::json!({"id": {"S": "k"}, "v": {"N": "2"}}),
            must_not_exist,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let at_v1 = Some(pb::Condition {
        kind: Some(pb::condition::Kind::VersionEquals(
            first.version.clone().unwrap(),
        )),
    });
    let second = cl
        .put_item(put(
            serde_json::json!({"id": {"S": "k"}, "v": {"N": "3"}}),
            at_v1.clone(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.prev, first.version,
        "prev is the version the writer replaced"
    );
    assert!(version_of(&second.version) > version_of(&first.version));
    let stale = cl
        .put_item(put(
            serde_json::json!({"id": {"S": "k"}, "v": {"N": "4"}}),
            at_v1,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition);
    assert!(
        stale.message().contains("expected version"),
        "{}",
        stale.message()
    );
    let got = cl
        .get_item(pb::GetItemRequest {
            table: "t01".into(),
            key: item(serde_json::json!({"id": {"S": "k"}})),
            consistent: false,
        })
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert_eq!(
        got.version, second.version,
        "failed conditions changed nothing"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_orders_numbers_numerically_and_pages() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    c.create_table(0, "series", ("pk", "S"), Some(("sk", "N")))
        .await;
    let mut cl = c.client(0);
    let sks = ["-10", "-1.5", "0", "2", "10", "100", "1E+3"];
    for (i, sk) in sks.iter().enumerate() {
        for pk in ["a", "b"] {
            cl.put_item(pb::PutItemRequest {
                table: "series".into(),
                item: item(serde_json::json!({"pk": {"S": pk}, "sk": {"N": sk}, "i": {"N": i.to_string()}})),
                condition: None,
            })
            .await
            .unwrap();
        }
    }
    let sk_of = |s: &pb::StoredItem| match &meridian_core::decode_item(&s.item).unwrap()["sk"] {
        AttrValue::N(n) => n.to_string(),
        other => panic!("sk is {other:?}"),
    };
    let query = |sort: Option<pb::SortCondition>, reverse: bool, limit: u32, token: Vec<u8>| {
        pb::QueryRequest {
            index: String::new(),
            table: "series".into(),
            partition_key: item(serde_json::json!({"pk": {"S": "a"}})),
            sort,
            reverse,
            limit,
            page_token: token,
        }
    };
    // Page through with limit 2: every item once, in numeric order.
    let mut token = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let r = cl
            .query(query(None, false, 2, token))
            .await
            .unwrap()
            .into_inner();
        seen.extend(r.items.iter().map(sk_of));
        token = r.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, vec!["-10", "-1.5", "0", "2", "10", "100", "1000"]);
    let between = pb::SortCondition {
        op: pb::SortOp::Between as i32,
        value: item(serde_json::json!({"sk": {"N": "-1.5"}})),
        high: item(serde_json::json!({"sk": {"N": "10"}})),
    };
    let r = cl
        .query(query(Some(between), true, 0, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.items.iter().map(sk_of).collect::<Vec<_>>(),
        vec!["10", "2", "0", "-1.5"]
    );
    let gt = pb::SortCondition {
        op: pb::SortOp::Gt as i32,
        value: item(serde_json::json!({"sk": {"N": "2"}})),
        high: vec![],
    };
    let r = cl
        .query(query(Some(gt), false, 0, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.items.iter().map(sk_of).collect::<Vec<_>>(),
        vec!["10", "100", "1000"]
    );
    let begins = pb::SortCondition {
        op: pb::SortOp::BeginsWith as i32,
        value: item(serde_json::json!({"sk": {"N": "1"}})),
        high: vec![],
    };
    let e = cl
        .query(query(Some(begins), false, 0, vec![]))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("begins_with") && e.message().contains("number"),
        "{}",
        e.message()
    );
    let wrong_type = pb::SortCondition {
        op: pb::SortOp::Eq as i32,
        value: item(serde_json::json!({"sk": {"S": "1"}})),
        high: vec![],
    };
    let e = cl
        .query(query(Some(wrong_type), false, 0, vec![]))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "sk: key attribute must be of type N, got S");
    // Scan pages through both partitions.
    let mut token = Vec::new();
    let mut count = 0;
    for _ in 0..20 {
        let r = cl
            .scan(pb::ScanRequest {
                index: String::new(),
                table: "series".into(),
                limit: 3,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        count += r.items.len();
        token = r.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(count, 14);
    let bad = cl
        .scan(pb::ScanRequest {
            index: String::new(),
            table: "series".into(),
            limit: 3,
            page_token: vec![9, 9],
        })
        .await
        .unwrap_err();
    assert!(bad.message().starts_with("page_token"), "{}", bad.message());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_validation_name_the_field_and_the_limit() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    c.create_table(0, "t02", ("id", "S"), None).await;
    let mut cl = c.client(0);
    let op = |i: usize| pb::BatchWriteOp {
        op: Some(pb::batch_write_op::Op::Put(item(
            serde_json::json!({"id": {"S": format!("k{i}")}}),
        ))),
    };
    let too_many = cl
        .batch_write(pb::BatchWriteRequest {
            table: "t02".into(),
            ops: (0..26).map(op).collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    assert!(
        too_many.message().contains("ops") && too_many.message().contains("25"),
        "{}",
        too_many.message()
    );
    let dup = cl
        .batch_write(pb::BatchWriteRequest {
            table: "t02".into(),
            ops: vec![op(1), op(1)],
        })
        .await
        .unwrap_err();
    assert!(dup.message().contains("same key"), "{}", dup.message());
    let ok = cl
        .batch_write(pb::BatchWriteRequest {
            table: "t02".into(),
            ops: (0..25).map(op).collect(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.results.len(), 25);
    let keys: Vec<Vec<u8>> = (0..30)
        .map(|i| item(serde_json::json!({"id": {"S": format!("k{i}")}})))
        .collect();
    let got = cl
        .batch_get(pb::BatchGetRequest {
            table: "t02".into(),
            keys: keys.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.items.len(), 25, "only existing keys come back");
    let many: Vec<Vec<u8>> = (0..101)
        .map(|i| item(serde_json::json!({"id": {"S": format!("k{i}")}})))
        .collect();
    let e = cl
        .batch_get(pb::BatchGetRequest {
            table: "t02".into(),
            keys: many,
        })
        .await
        .unwrap_err();
    assert!(
        e.message().contains("keys") && e.message().contains("100"),
        "{}",
        e.message()
    );

    let put = |bytes: Vec<u8>| pb::PutItemRequest {
        table: "t02".into(),
        item: bytes,
        condition: None,
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            item(serde_json::json!({"other": {"S": "x"}})),
            "missing key attribute id",
        ),
        (
            item(serde_json::json!({"id": {"N": "1"}})),
            "id: key attribute must be of type S, got N",
        ),
        (
            item(serde_json::json!({"id": {"S": ""}})),
            "id: a key attribute cannot be an empty string",
        ),
        (
            item(serde_json::json!({"id": {"S": "k".repeat(2049)}})),
            "id: key attribute is 2049 bytes, the limit is 2048 bytes",
        ),
        // Bytes a careless client could send: an empty set, out-of-range number.
        (
            encode_item(&Item::from([
                ("id".into(), AttrValue::S("a".into())),
                ("tags".into(), AttrValue::Ss(vec![])),
            ])),
            "tags: a set must have at least one member",
        ),
        (
            raw_number_item("1E+126"),
            "magnitude is above the largest allowed",
        ),
        (
            raw_number_item("1.000000000000000000000000000000000000001"),
            "40 significant digits, the limit is 38",
        ),
        (
            encode_item(&Item::from([
                ("id".into(), AttrValue::S("a".into())),
                ("big".into(), AttrValue::S("x".repeat(MAX_ITEM_BYTES))),
            ])),
            "exceeds the limit of 409600 bytes",
        ),
    ];
    for (bytes, want) in cases {
        let e = cl.put_item(put(bytes)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{want}: {}", e.message());
        assert!(
            e.message().contains(want),
            "expected {want:?} in {:?}",
            e.message()
        );
    }
    let scan = cl
        .scan(pb::ScanRequest {
            index: String::new(),
            table: "t02".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(scan.items.len(), 25, "rejected writes stored nothing");
    c.shutdown().await;
}

/// An item whose number attribute is hand-encoded, bypassing client-side checks.
fn raw_number_item(n: &str) -> Vec<u8> {
    let mut b = vec![1u8, 2, 1, b'a', 1, 1, b'x', 1, b'n', 2, n.len() as u8];
    b.extend_from_slice(n.as_bytes());
    // {"a": S "x", "n": N n}: format 1, two attributes.
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_are_untrusted() {
    let c = TestCluster::start(&REGIONS[..2]).await;
    let tv = replicated_table(&c, "t03").await;
    let mut repl = ReplicationClient::connect(c.url(0)).await.unwrap();
    let e = repl
        .ship(futures::stream::iter(vec![hello("mallory-1", REGIONS[0])]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = repl
        .ship(futures::stream::iter(vec![hello(REGIONS[1], "nowhere-1")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);

    // A known peer sending an entry that claims another origin.
    let entry = peer_entry("t03", &tv, 1, 1, REGIONS[0], "x");
    let (_, rejected) = ship(&c, vec![hello(REGIONS[1], REGIONS[0]), batch(vec![entry])]).await;
    let e = rejected.expect("the forged batch is rejected");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("claims origin"), "{}", e.message());
    assert!(
        !stored(&c, "t03", "x").await,
        "nothing from the forged batch was stored"
    );
    c.shutdown().await;
}

/// Batches a peer sends back to back may be applied together; each is still
/// validated on its own, a replayed one changes nothing, and a malformed one
/// ends the stream without losing what came before it. In log order, where
/// each batch is applied as it arrives; partition order holds entries in
/// lanes, see the next test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_batches_apply_in_order_up_to_a_malformed_one() {
    let c = TestCluster::start_tuned(&REGIONS[..2], meridian_tests::log_order).await;
    let tv = replicated_table(&c, "t04").await;
    let entry =
        |seq: u64, origin: &str, id: &str| peer_entry("t04", &tv, seq, 1_000 + seq, origin, id);
    let peer = REGIONS[1];
    let messages = vec![
        hello(peer, REGIONS[0]),
        batch(vec![entry(1, peer, "a1"), entry(2, peer, "a2")]),
        batch(vec![entry(3, peer, "a3")]),
        // A replay of what was just sent: duplicates, no effect.
        batch(vec![entry(2, peer, "a2")]),
        batch(vec![entry(4, peer, "a4")]),
        // Claims another origin: the stream ends here.
        batch(vec![entry(5, REGIONS[0], "forged")]),
        batch(vec![entry(6, peer, "after")]),
    ];
    let (acks, rejected) = ship(&c, messages).await;
    assert!(acks.is_sorted(), "acks never go back: {acks:?}");
    let acked = acks.last().copied().unwrap_or(0);
    let e = rejected.expect("the forged batch ends the stream");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("claims origin"), "{}", e.message());
    assert_eq!(
        acked, 4,
        "everything before the forged batch is acknowledged"
    );
    for (id, present) in [
        ("a1", true),
        ("a2", true),
        ("a3", true),
        ("a4", true),
        ("forged", false),
        ("after", false),
    ] {
        assert_eq!(stored(&c, "t04", id).await, present, "item {id}");
    }
    c.shutdown().await;
}

/// In partition order (the default) the same forged batch ends the stream
/// at once: what its lanes still held is not applied (the sender sends it
/// again after it reconnects), nothing after the forgery ever is, and no
/// acknowledgement claims more than was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_batch_ends_a_partition_order_stream_claiming_nothing_unapplied() {
    let c = TestCluster::start(&REGIONS[..2]).await;
    let tv = replicated_table(&c, "t04").await;
    let entry =
        |seq: u64, origin: &str, id: &str| peer_entry("t04", &tv, seq, 1_000 + seq, origin, id);
    let peer = REGIONS[1];
    let messages = vec![
        hello(peer, REGIONS[0]),
        batch(vec![entry(1, peer, "a1"), entry(2, peer, "a2")]),
        batch(vec![entry(3, peer, "a3")]),
        batch(vec![entry(5 - 1, REGIONS[0], "forged")]),
        batch(vec![entry(5, peer, "after")]),
    ];
    let (acks, rejected) = ship(&c, messages).await;
    assert!(acks.is_sorted(), "acks never go back: {acks:?}");
    let e = rejected.expect("the forged batch ends the stream");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("claims origin"), "{}", e.message());
    let acked = acks.last().copied().unwrap_or(0);
    for i in 1..=acked {
        assert!(
            stored(&c, "t04", &format!("a{i}")).await,
            "a{i} was acknowledged"
        );
    }
    for id in ["forged", "after"] {
        assert!(!stored(&c, "t04", id).await, "item {id}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_guard_refuses_then_retries_and_never_drops() {
    let c = TestCluster::start(&REGIONS[..2]).await;
    c.create_table(0, "t04", ("id", "S"), None).await;
    c.wait_table_everywhere("t04").await;
    // Region 1's clock runs 30 s ahead, far beyond the 500 ms guard: its
    // write stays refused until region 0's clock agrees again.
    c.nodes[1].clocks.skewed.set_skew(30_000_000, 0);
    let w = c
        .client(1)
        .put_item(pb::PutItemRequest {
            table: "t04".into(),
            item: item(serde_json::json!({"id": {"S": "ahead"}})),
            condition: None,
        })
        .await
        .unwrap()
        .into_inner();
    poll("a drift refusal at region 0", || async {
        c.admin(0)
            .status(pb::StatusRequest {})
            .await
            .unwrap()
            .into_inner()
            .drift_refusals
            > 0
    })
    .await;
    let get = pb::GetItemRequest {
        table: "t04".into(),
        key: item(serde_json::json!({"id": {"S": "ahead"}})),
        consistent: false,
    };
    assert!(
        c.client(0)
            .get_item(get.clone())
            .await
            .unwrap()
            .into_inner()
            .item
            .is_none(),
        "refused, not adopted"
    );
    poll("the shipper to show why", || async {
        peer_error(&c, 1).await.contains("drift guard")
    })
    .await;
    // Region 0's status says how far ahead region 1's entry was: about 30 s.
    let ahead = |c: &TestCluster| {
        let mut admin = c.admin(0);
        async move {
            admin
                .status(pb::StatusRequest {})
                .await
                .unwrap()
                .into_inner()
                .peers
                .into_iter()
                .find(|p| p.peer == REGIONS[1])
                .expect("region 1 is a peer")
                .drift_ahead_micros
        }
    };
    let stalled = ahead(&c).await;
    assert!(
        (29_000_000..=31_000_000).contains(&stalled),
        "ahead {stalled} µs"
    );
    // Once region 0's clock is within the guard of the version, a retry succeeds.
    c.nodes[0].clocks.skewed.set_skew(30_000_000, 0);
    poll("the refused write to arrive", || async {
        c.client(0)
            .get_item(get.clone())
            .await
            .unwrap()
            .into_inner()
            .item
            .is_some_and(|i| i.version == w.version)
    })
    .await;
    let now = c
        .admin(0)
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .hlc_now;
    assert!(
        version_of(&now).hlc > version_of(&w.version).hlc,
        "causality: region 0's clock moved past it"
    );
    assert_eq!(ahead(&c).await, 0, "recovered: nothing waits");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_lost_its_disk_is_heard_again() {
    let mut c = TestCluster::start(&REGIONS[..2]).await;
    c.create_table(0, "t05", ("id", "S"), None).await;
    c.wait_table_everywhere("t05").await;
    let put = |id: &str| pb::PutItemRequest {
        table: "t05".into(),
        item: item(serde_json::json!({"id": {"S": id}})),
        condition: None,
    };
    for i in 0..20 {
        c.client(1).put_item(put(&format!("old{i}"))).await.unwrap();
    }
    c.wait_quiescent("t05", Duration::from_secs(20))
        .await
        .unwrap();
    // Region 1 loses its disk: its new log starts again at position 1,
    // below what region 0 remembers having applied from it.
    c.crash(1).await;
    std::fs::remove_dir_all(&c.nodes[1].config.data_dir).unwrap();
    c.restart(1).await;
    c.wait_table_everywhere("t05").await;
    c.client(1).put_item(put("new")).await.unwrap();
    poll(
        "region 1's first write after the loss to reach region 0",
        || stored(&c, "t05", "new"),
    )
    .await;
    c.shutdown().await;
}

/// A peer's batch must start no later than the entry after what this region
/// has applied from its log: one that would skip entries ends the stream
/// with an error, after what came before it was applied.
///
/// In log order, where the batch before the gap is applied before the next
/// is read; in partition order the gap ends the stream the same way, with
/// what the lanes held sent again after the reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_would_skip_entries_ends_the_stream() {
    let c = TestCluster::start_tuned(&REGIONS[..2], meridian_tests::log_order).await;
    let tv = replicated_table(&c, "t06").await;
    let peer = REGIONS[1];
    let entry = |seq: u64, id: &str| peer_entry("t06", &tv, seq, 1_000 + seq, peer, id);
    // A log this region has never heard of: it has applied nothing of it.
    let messages = vec![
        hello(peer, REGIONS[0]),
        batch(vec![entry(1, "g1")]),
        batch(vec![entry(3, "g3")]),
    ];
    let (acks, ended) = ship(&c, messages).await;
    let acked = acks.last().copied().unwrap_or(0);
    let e = ended.expect("the batch after the gap ends the stream");
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message().contains("entries 2 to 2 are missing"),
        "{}",
        e.message()
    );
    assert_eq!(acked, 1, "the batch before the gap is acknowledged");
    for (id, present) in [("g1", true), ("g3", false)] {
        assert_eq!(stored(&c, "t06", id).await, present, "item {id}");
    }
    c.shutdown().await;
}

/// A replication receiver that welcomes every stream from position 0 and
/// then acknowledges far more than it was sent.
struct OverclaimingPeer;

type ShipStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::ShipResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl meridian_proto::v1::replication_server::Replication for OverclaimingPeer {
    type ShipStream = ShipStream;

    async fn ship(
        &self,
        req: tonic::Request<tonic::Streaming<pb::ShipRequest>>,
    ) -> Result<tonic::Response<ShipStream>, tonic::Status> {
        let welcome = pb::ShipResponse {
            msg: Some(pb::ship_response::Msg::Welcome(pb::Welcome {
                applied_through: 0,
                high_water: None,
            })),
        };
        let acks = futures::stream::unfold(req.into_inner(), |mut inbound| async move {
            // Hello, then every batch, is answered with the same overclaim.
            loop {
                match inbound.message().await {
                    Ok(Some(pb::ShipRequest {
                        msg: Some(pb::ship_request::Msg::Batch(_)),
                    })) => {
                        let ack = pb::ShipResponse {
                            msg: Some(pb::ship_response::Msg::Ack(pb::Ack {
                                applied_through: 1_000_000,
                                refused: String::new(),
                            })),
                        };
                        return Some((Ok(ack), inbound));
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => return None,
                }
            }
        });
        let stream = futures::StreamExt::chain(futures::stream::iter([Ok(welcome)]), acks);
        Ok(tonic::Response::new(Box::pin(stream)))
    }
}

/// A peer that acknowledges a position this region never sent is not
/// believed: the session ends, and status says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_beyond_what_was_sent_ends_the_session() {
    let mut c = TestCluster::start(&REGIONS[..2]).await;
    c.crash(1).await;
    let addr = c.nodes[1].addr;
    let fake = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                meridian_proto::v1::replication_server::ReplicationServer::new(OverclaimingPeer),
            )
            .serve(addr),
    );
    // Something new in region 0's log to ship.
    c.create_table(0, "t07", ("id", "S"), None).await;
    poll("region 0's shipper to refuse the overclaim", || async {
        peer_error(&c, 0)
            .await
            .contains("acknowledged position 1000000, but nothing past")
    })
    .await;
    // The shipper is one of the region's workers: status shows it retrying,
    // with the error that keeps it from staying up.
    let shipper = format!("ship:{}", REGIONS[1]);
    poll(
        "the shipper's worker to show its restarts and error",
        || async {
            let s = c
                .admin(0)
                .status(pb::StatusRequest {})
                .await
                .unwrap()
                .into_inner();
            let names: Vec<&str> = s.workers.iter().map(|w| w.name.as_str()).collect();
            for expected in ["checkpoint", "grpc", "ttl", "writer", shipper.as_str()] {
                assert!(names.contains(&expected), "{expected} in {names:?}");
            }
            s.workers.iter().any(|w| {
                w.name == shipper
                    && w.restarts >= 2
                    && w.last_error.contains("acknowledged position 1000000")
            })
        },
    )
    .await;
    fake.abort();
    c.shutdown().await;
}
