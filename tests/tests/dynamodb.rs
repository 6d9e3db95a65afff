//! The DynamoDB-compatible endpoint driven by the real AWS SDK for Rust:
//! tables, items, expressions, queries, scans, batches, transactions, TTL,
//! limits, every error type, and what only a multi-region store adds —
//! replication, atomic transactions in peers, and converging conflicts.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeDefinition, AttributeValue, AttributeValueUpdate, BillingMode,
    ComparisonOperator, Condition, ConditionCheck, ConditionalOperator,
    CreateReplicationGroupMemberAction, Delete, ExpectedAttributeValue, Get, KeySchemaElement,
    KeyType, KeysAndAttributes, ProvisionedThroughput, Put, ReplicaStatus, ReplicationGroupUpdate,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, Select,
    StreamSpecification, StreamViewType, TableStatus, Tag, TimeToLiveSpecification,
    TimeToLiveStatus, TransactGetItem, TransactWriteItem, Update, WriteRequest,
};
use meridian_cluster::http;
use meridian_core::AttrValue;
use meridian_tests::{TestCluster, poll_until};

mod sdk;
use sdk::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

/// `ExpressionAttributeNames` and `ExpressionAttributeValues` of a case.
type Names = Vec<(&'static str, &'static str)>;
type Values = Vec<(&'static str, AttributeValue)>;

// ---- helpers ---------------------------------------------------------------

fn clients(c: &TestCluster) -> Vec<Client> {
    (0..c.nodes.len())
        .map(|i| client(c.dynamo_url(i)))
        .collect()
}

async fn poll<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll_until(what, Duration::from_secs(20), f).await;
}

fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

fn ns(v: &[&str]) -> AttributeValue {
    AttributeValue::Ns(v.iter().map(|x| x.to_string()).collect())
}

fn l(v: Vec<AttributeValue>) -> AttributeValue {
    AttributeValue::L(v)
}

fn m<const N: usize>(attrs: [(&str, AttributeValue); N]) -> AttributeValue {
    AttributeValue::M(item(attrs))
}

#[track_caller]
fn assert_item(got: Option<&Item>, want: &Item, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no item, want {want:?}"));
    assert_eq!(norm_item(got), norm_item(want), "{what}");
}

fn str_of<'a>(i: &'a Item, attr: &str) -> &'a str {
    i.get(attr)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{attr} is not a string in {i:?}"))
}

async fn put(c: &Client, table: &str, it: Item) {
    c.put_item()
        .table_name(table)
        .set_item(Some(it))
        .send()
        .await
        .expect("put item");
}

/// Like [`get`], but an error (a region restarting) reads as "not yet".
async fn try_get(c: &Client, table: &str, key: Item) -> Result<Option<Item>, String> {
    c.get_item()
        .table_name(table)
        .set_key(Some(key))
        .send()
        .await
        .map(|o| o.item)
        .map_err(|e| format!("{e:?}"))
}

async fn batch_put(c: &Client, table: &str, items: Vec<Item>) {
    for chunk in items.chunks(25) {
        let out = c
            .batch_write_item()
            .request_items(table, chunk.iter().cloned().map(put_req).collect())
            .send()
            .await
            .expect("batch write");
        assert!(
            out.unprocessed_items().is_none_or(HashMap::is_empty),
            "unprocessed: {out:?}"
        );
    }
}

fn tx_get(table: &str, key: Item) -> TransactGetItem {
    TransactGetItem::builder()
        .get(
            Get::builder()
                .table_name(table)
                .set_key(Some(key))
                .build()
                .unwrap(),
        )
        .build()
}

/// `:names` and `#names` an expression mentions, so each request sends only
/// what it uses (DynamoDB refuses unused ones).
fn placeholders(expr: &str, sigil: char) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == sigil {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.insert(expr[i..end].to_string());
        }
    }
    out
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A hand-made POST: these exact headers and body, whatever the SDK would
/// send; returns the status code and the body.
async fn raw_post(addr: SocketAddr, target: Option<&str>, body: &str) -> (u16, String) {
    raw_post_bytes(addr, target, &[], body.as_bytes().to_vec()).await
}

/// [`raw_post`] with `extra` headers and a body of any bytes.
async fn raw_post_bytes(
    addr: SocketAddr,
    target: Option<&str>,
    extra: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut headers = vec![("content-type", "application/x-amz-json-1.0")];
    headers.extend(target.map(|t| ("x-amz-target", t)));
    headers.extend_from_slice(extra);
    let r = http::request(
        &http::Target::at(&addr.to_string(), "/"),
        "POST",
        &headers,
        body,
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .expect("an answer within 10 s");
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

// ---- 1. tables and item CRUD -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_created_described_listed_and_deleted_in_every_region() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs = clients(&cluster);
    let created = cs[0]
        .create_table()
        .table_name("orders")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("customer")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("placed")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("customer")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("placed")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
    let d = created.table_description().expect("a table description");
    assert_eq!(d.table_name(), Some("orders"));
    // CreateTable answers CREATING, as DynamoDB does; DescribeTable ACTIVE.
    assert_eq!(d.table_status(), Some(&TableStatus::Creating));

    // The table replicates: every region describes the same table.
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("orders in region {i}"), || async {
            c.describe_table().table_name("orders").send().await.is_ok()
        })
        .await;
        let out = c
            .describe_table()
            .table_name("orders")
            .send()
            .await
            .unwrap();
        let t = out.table().expect("a table");
        assert_eq!(t.table_status(), Some(&TableStatus::Active));
        let keys: Vec<(&str, &KeyType)> = t
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        assert_eq!(
            keys,
            vec![("customer", &KeyType::Hash), ("placed", &KeyType::Range)]
        );
        let defs: Vec<(&str, &ScalarAttributeType)> = t
            .attribute_definitions()
            .iter()
            .map(|a| (a.attribute_name(), a.attribute_type()))
            .collect();
        assert!(
            defs.contains(&("placed", &ScalarAttributeType::N)),
            "{defs:?}"
        );
        assert_eq!(t.item_count(), Some(0));
        assert_eq!(t.global_table_version(), Some("2019.11.21"));
        assert_eq!(
            t.billing_mode_summary().and_then(|b| b.billing_mode()),
            Some(&BillingMode::PayPerRequest)
        );
        let stream = t.stream_specification().expect("stream specification");
        assert!(stream.stream_enabled());
        assert_eq!(
            stream.stream_view_type(),
            Some(&StreamViewType::NewAndOldImages)
        );
        let replicas: BTreeSet<&str> = t
            .replicas()
            .iter()
            .filter_map(|r| r.region_name())
            .collect();
        assert_eq!(replicas, REGIONS.into_iter().collect::<BTreeSet<_>>());
        assert!(
            t.replicas()
                .iter()
                .all(|r| r.replica_status() == Some(&ReplicaStatus::Active)),
            "{:?}",
            t.replicas()
        );
    }

    // ItemCount counts live items, and follows replication.
    for p in 1..=3 {
        put(
            &cs[0],
            "orders",
            item([("customer", s("ann")), ("placed", n(p))]),
        )
        .await;
    }
    cs[0]
        .delete_item()
        .table_name("orders")
        .key("customer", s("ann"))
        .key("placed", n(2))
        .send()
        .await
        .unwrap();
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("ItemCount 2 in region {i}"), || async {
            let out = c
                .describe_table()
                .table_name("orders")
                .send()
                .await
                .unwrap();
            out.table().and_then(|t| t.item_count()) == Some(2)
        })
        .await;
    }

    // A table without a stream says so.
    create_table(&cs[1], "plain", ("id", ScalarAttributeType::S), None).await;
    let out = cs[1]
        .describe_table()
        .table_name("plain")
        .send()
        .await
        .unwrap();
    let t = out.table().unwrap();
    assert!(
        t.stream_specification().is_none_or(|s| !s.stream_enabled()),
        "{t:?}"
    );
    assert_eq!(t.key_schema().len(), 1);

    // ListTables pages with Limit and ExclusiveStartTableName.
    for name in ["t-a", "t-b", "t-c", "t-d", "t-e"] {
        create_table(&cs[0], name, ("id", ScalarAttributeType::S), None).await;
    }
    let mut want: Vec<String> = ["orders", "plain", "t-a", "t-b", "t-c", "t-d", "t-e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.sort();
    let mut listed = Vec::new();
    let mut start: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "ListTables does not end: {listed:?}");
        let out = cs[0]
            .list_tables()
            .limit(2)
            .set_exclusive_start_table_name(start.clone())
            .send()
            .await
            .unwrap();
        assert!(out.table_names().len() <= 2, "{out:?}");
        listed.extend(out.table_names().iter().cloned());
        match out.last_evaluated_table_name() {
            Some(last) => {
                assert_eq!(Some(last), out.table_names().last().map(String::as_str));
                start = Some(last.to_string());
            }
            None => break,
        }
    }
    assert_eq!(listed, want, "pages of ListTables");
    assert!(
        pages >= 4,
        "7 tables in pages of 2 take 4 pages, took {pages}"
    );
    let all = cs[0].list_tables().send().await.unwrap();
    assert_eq!(all.table_names(), want.as_slice());
    assert!(all.last_evaluated_table_name().is_none());
    expect_validation(
        cs[0].list_tables().limit(101).send().await,
        "limit",
        "ListTables Limit 101",
    );

    // DeleteTable answers DELETING, and the table goes away everywhere.
    let deleted = cs[2].delete_table().table_name("t-c").send().await.unwrap();
    let d = deleted.table_description().expect("a TableDescription");
    assert_eq!(d.table_status(), Some(&TableStatus::Deleting));
    // As DynamoDB's: the table's name, id, ARN, size and billing, but not
    // its creation time or key definitions.
    assert_eq!(d.table_name(), Some("t-c"));
    assert!(d.table_id().is_some_and(|id| id.len() == 36));
    assert!(d.table_arn().is_some_and(|a| a.starts_with("arn:")));
    assert!(d.item_count().is_some() && d.table_size_bytes().is_some());
    assert!(d.billing_mode_summary().is_some() && d.provisioned_throughput().is_some());
    assert!(d.creation_date_time().is_none());
    assert!(d.key_schema().is_empty() && d.attribute_definitions().is_empty());
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("t-c gone in region {i}"), || async {
            match c.describe_table().table_name("t-c").send().await {
                Ok(_) => false,
                Err(e) => e.into_service_error().is_resource_not_found_exception(),
            }
        })
        .await;
    }
    let after = cs[0].list_tables().send().await.unwrap();
    assert!(!after.table_names().contains(&"t-c".to_string()));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_put_read_updated_and_deleted_with_return_values() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "users", ("id", ScalarAttributeType::S), None).await;

    let ann = item([
        ("id", s("ann")),
        ("name", s("Ann")),
        ("age", n(30)),
        ("active", AttributeValue::Bool(true)),
        ("nothing", AttributeValue::Null(true)),
        ("blob", AttributeValue::B(Blob::new(vec![0u8, 1, 2, 255]))),
        ("tags", ss(&["a", "b"])),
        ("scores", ns(&["1.5", "2", "-3"])),
        (
            "bins",
            AttributeValue::Bs(vec![Blob::new(vec![1u8]), Blob::new(vec![2u8])]),
        ),
        (
            "profile",
            m([("city", s("Paris")), ("langs", l(vec![s("en"), s("fr")]))]),
        ),
        ("empty", s("")),
    ]);
    let out = c
        .put_item()
        .table_name("users")
        .set_item(Some(ann.clone()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert!(out.attributes().is_none(), "a new item has no old image");
    let got = c
        .get_item()
        .table_name("users")
        .key("id", s("ann"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_item(got.item(), &ann, "every attribute type round-trips");

    // ProjectionExpression with a reserved word, nested paths and an index.
    let got = c
        .get_item()
        .table_name("users")
        .key("id", s("ann"))
        .projection_expression("#n, profile.city, profile.langs[1]")
        .expression_attribute_names("#n", "name")
        .send()
        .await
        .unwrap();
    assert_item(
        got.item(),
        &item([
            ("name", s("Ann")),
            (
                "profile",
                m([("city", s("Paris")), ("langs", l(vec![s("fr")]))]),
            ),
        ]),
        "projection",
    );
    expect_validation(
        c.get_item()
            .table_name("users")
            .key("id", s("ann"))
            .projection_expression("name")
            .send()
            .await,
        "reserved keyword",
        "a bare reserved word",
    );

    // A missing item is no Item; a wrong key is a validation error.
    let none = c
        .get_item()
        .table_name("users")
        .key("id", s("nobody"))
        .send()
        .await
        .unwrap();
    assert!(none.item().is_none());
    expect_validation(
        c.get_item()
            .table_name("users")
            .key("uid", s("ann"))
            .send()
            .await,
        "The provided key element does not match the schema",
        "GetItem with the wrong key attribute",
    );
    expect_validation(
        c.get_item()
            .table_name("users")
            .key("id", n(1))
            .send()
            .await,
        "The provided key element does not match the schema",
        "GetItem with a key of the wrong type",
    );
    expect_validation(
        c.get_item()
            .table_name("users")
            .key("id", s("ann"))
            .key("age", n(30))
            .send()
            .await,
        "The provided key element does not match the schema",
        "GetItem with an extra key attribute",
    );

    // PutItem replacing returns the old image with ALL_OLD; ALL_NEW is refused.
    let bob = item([("id", s("ann")), ("name", s("Bob"))]);
    let out = c
        .put_item()
        .table_name("users")
        .set_item(Some(bob.clone()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_item(out.attributes(), &ann, "PutItem ALL_OLD");
    assert_item(
        get(&c, "users", item([("id", s("ann"))])).await.as_ref(),
        &bob,
        "replaced",
    );
    expect_validation(
        c.put_item()
            .table_name("users")
            .set_item(Some(bob.clone()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await,
        "ReturnValues",
        "PutItem ALL_NEW",
    );

    // UpdateItem upserts, and each ReturnValues answers its own way.
    let key = item([("id", s("cat"))]);
    let out = c
        .update_item()
        .table_name("users")
        .set_key(Some(key.clone()))
        .update_expression("SET lives = :nine, #n = :name")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":nine", n(9))
        .expression_attribute_values(":name", s("Tom"))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let tom = item([("id", s("cat")), ("lives", n(9)), ("name", s("Tom"))]);
    assert_item(out.attributes(), &tom, "UpdateItem upsert ALL_NEW");
    let rv = |r: ReturnValue| {
        c.update_item()
            .table_name("users")
            .set_key(Some(key.clone()))
            .update_expression("SET lives = lives - :one")
            .expression_attribute_values(":one", n(1))
            .return_values(r)
            .send()
    };
    let none = rv(ReturnValue::None).await.unwrap();
    assert!(none.attributes().is_none(), "NONE: {none:?}");
    let old = rv(ReturnValue::AllOld).await.unwrap();
    assert_item(
        old.attributes(),
        &item([("id", s("cat")), ("lives", n(8)), ("name", s("Tom"))]),
        "ALL_OLD",
    );
    let uold = rv(ReturnValue::UpdatedOld).await.unwrap();
    assert_item(uold.attributes(), &item([("lives", n(7))]), "UPDATED_OLD");
    let unew = rv(ReturnValue::UpdatedNew).await.unwrap();
    assert_item(unew.attributes(), &item([("lives", n(5))]), "UPDATED_NEW");
    let all_new = rv(ReturnValue::AllNew).await.unwrap();
    assert_item(
        all_new.attributes(),
        &item([("id", s("cat")), ("lives", n(4)), ("name", s("Tom"))]),
        "ALL_NEW",
    );
    expect_validation(
        c.update_item()
            .table_name("users")
            .set_key(Some(key.clone()))
            .update_expression("SET id = :x")
            .expression_attribute_values(":x", s("dog"))
            .send()
            .await,
        "This attribute is part of the key",
        "updating a key attribute",
    );

    // DeleteItem with ALL_OLD, then a second delete finds nothing.
    let out = c
        .delete_item()
        .table_name("users")
        .set_key(Some(key.clone()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert_item(
        out.attributes(),
        &item([("id", s("cat")), ("lives", n(4)), ("name", s("Tom"))]),
        "DeleteItem ALL_OLD",
    );
    let again = c
        .delete_item()
        .table_name("users")
        .set_key(Some(key.clone()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert!(again.attributes().is_none(), "{again:?}");
    assert!(get(&c, "users", key).await.is_none());
    cluster.shutdown().await;
}

/// UpdateTable as DynamoDB documents it: billing mode, provisioned
/// throughput and the stream change, replicate to every region, and each
/// refusal carries DynamoDB's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_table_changes_billing_throughput_and_stream_everywhere() {
    let cluster = TestCluster::start(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    let created = create_table_request(&cs[0], "metered", ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(6)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a provisioned table");
    let d = created.table_description().unwrap();
    let tp = d.provisioned_throughput().unwrap();
    assert_eq!(
        (tp.read_capacity_units(), tp.write_capacity_units()),
        (Some(5), Some(6))
    );
    // A table with no throughput under PROVISIONED, or with one on demand, is refused.
    expect_validation(
        create_table_request(&cs[0], "bad1", ("pk", ScalarAttributeType::S), None)
            .billing_mode(BillingMode::Provisioned)
            .send()
            .await,
        "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        "provisioned without throughput",
    );
    expect_validation(
        create_table_request(&cs[0], "bad2", ("pk", ScalarAttributeType::S), None)
            .provisioned_throughput(
                ProvisionedThroughput::builder()
                    .read_capacity_units(1)
                    .write_capacity_units(1)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        "on demand with throughput",
    );
    expect_validation(
        create_table_request(&cs[0], "bad4", ("pk", ScalarAttributeType::S), None)
            .set_billing_mode(None)
            .send()
            .await,
        "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        "no billing mode, so provisioned, without throughput",
    );
    expect_validation(
        create_table_request(&cs[0], "bad3", ("pk", ScalarAttributeType::S), None)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "Table is being created with a stream enabled, UpdateViewType is required",
        "a stream without a view type",
    );

    let describe = |c: &Client| {
        let c = c.clone();
        async move {
            c.describe_table()
                .table_name("metered")
                .send()
                .await
                .expect("describe")
                .table
                .expect("a table")
        }
    };
    let update = || cs[0].update_table().table_name("metered");
    let throughput = |r: i64, w: i64| {
        ProvisionedThroughput::builder()
            .read_capacity_units(r)
            .write_capacity_units(w)
            .build()
            .unwrap()
    };

    // Raising throughput replicates, with the time of the increase.
    let out = update()
        .provisioned_throughput(throughput(10, 6))
        .send()
        .await
        .expect("raise");
    assert_eq!(
        out.table_description().and_then(|d| d.table_status()),
        Some(&TableStatus::Updating)
    );
    poll("the new throughput in eu-west-1", || async {
        describe(&cs[1])
            .await
            .provisioned_throughput()
            .and_then(|t| t.read_capacity_units())
            == Some(10)
    })
    .await;
    let t = describe(&cs[1]).await;
    assert_eq!(t.table_status(), Some(&TableStatus::Active));
    // One table, one id: a UUID, the same in every region.
    let id = t.table_id().expect("a table id");
    assert_eq!(describe(&cs[0]).await.table_id(), Some(id));
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    let tp = t.provisioned_throughput().unwrap();
    assert!(tp.last_increase_date_time().is_some(), "{tp:?}");
    assert!(tp.last_decrease_date_time().is_none(), "{tp:?}");
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::Provisioned)
    );
    // The same throughput again is refused, naming both figures.
    expect_validation(
        update()
            .provisioned_throughput(throughput(10, 6))
            .send()
            .await,
        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: 10. Requested ReadCapacityUnits: 10.",
        "unchanged throughput",
    );
    expect_validation(
        update()
            .provisioned_throughput(throughput(0, 6))
            .send()
            .await,
        "Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: Member must have value greater than or equal to 1",
        "zero read units",
    );
    expect_validation(
        update().send().await,
        "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled",
        "an update that changes nothing",
    );

    // On demand: the units read 0 and the switch is dated.
    update()
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("switch to on demand");
    let t = describe(&cs[0]).await;
    let b = t.billing_mode_summary().unwrap();
    assert_eq!(b.billing_mode(), Some(&BillingMode::PayPerRequest));
    assert!(b.last_update_to_pay_per_request_date_time().is_some());
    assert_eq!(
        t.provisioned_throughput()
            .and_then(|t| t.read_capacity_units()),
        Some(0)
    );
    expect_validation(
        update()
            .provisioned_throughput(throughput(3, 3))
            .send()
            .await,
        "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        "throughput on an on-demand table",
    );
    expect_validation(
        update().billing_mode(BillingMode::Provisioned).send().await,
        "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
        "provisioned without throughput",
    );

    // The stream: enabled once, refused twice, and a new one gets a new label.
    let keys_only = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::KeysOnly)
        .build()
        .unwrap();
    let off = StreamSpecification::builder()
        .stream_enabled(false)
        .build()
        .unwrap();
    expect_validation(
        update().stream_specification(off.clone()).send().await,
        "Table has no stream to disable: TableName: metered",
        "disabling no stream",
    );
    update()
        .stream_specification(keys_only.clone())
        .send()
        .await
        .expect("enable");
    poll("the stream in eu-west-1", || async {
        describe(&cs[1])
            .await
            .stream_specification()
            .map(|s| s.stream_enabled())
            == Some(true)
    })
    .await;
    let first = describe(&cs[1]).await;
    assert_eq!(
        first
            .stream_specification()
            .and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::KeysOnly)
    );
    let first_label = first
        .latest_stream_label()
        .expect("a stream label")
        .to_string();
    assert!(
        first
            .latest_stream_arn()
            .is_some_and(|a| a.ends_with(&format!("/stream/{first_label}"))),
        "{first:?}"
    );
    expect_validation(
        update()
            .stream_specification(keys_only.clone())
            .send()
            .await,
        "Table already has an enabled stream: TableName: metered",
        "enabling a stream twice",
    );
    update()
        .stream_specification(off)
        .send()
        .await
        .expect("disable");
    assert!(describe(&cs[0]).await.stream_specification().is_none());
    // Labels are to the millisecond: let the clock pass one.
    let before = std::time::Instant::now();
    poll("a millisecond", || async {
        before.elapsed() >= Duration::from_millis(2)
    })
    .await;
    update()
        .stream_specification(keys_only)
        .send()
        .await
        .expect("re-enable");
    let second = describe(&cs[0]).await;
    let second_label = second.latest_stream_label().expect("a new label");
    assert_ne!(
        second_label, first_label,
        "a re-enabled stream is a new stream"
    );

    // What is not built yet is refused by name; a missing table is not found.
    expect_validation(
        update()
            .replica_updates(
                ReplicationGroupUpdate::builder()
                    .create(
                        CreateReplicationGroupMemberAction::builder()
                            .region_name("ap-southeast-1")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await,
        "ReplicaUpdates",
        "replica updates",
    );
    expect_code(
        cs[0]
            .update_table()
            .table_name("nothing-here")
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await,
        "ResourceNotFoundException",
        "a missing table",
    );
}

/// An update that would leave an attribute with an empty name is refused,
/// whichever way it names it: stored, such an item could be neither read
/// back nor shipped, and its region's replication would stop there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_cannot_create_an_attribute_with_an_empty_name() {
    let cluster = TestCluster::start(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "names", ("pk", ScalarAttributeType::S), None).await;
    put(&cs[0], "names", item([("pk", s("a")), ("v", n(1))])).await;
    expect_validation(
        cs[0]
            .update_item()
            .table_name("names")
            .key("pk", s("a"))
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", "")
            .expression_attribute_values(":v", n(2))
            .send()
            .await,
        "ExpressionAttributeNames contains invalid value: Empty attribute name provided for key #n",
        "an empty name by expression",
    );
    expect_validation(
        cs[0]
            .update_item()
            .table_name("names")
            .key("pk", s("b"))
            .attribute_updates(
                "",
                AttributeValueUpdate::builder()
                    .action(AttributeAction::Put)
                    .value(n(2))
                    .build(),
            )
            .send()
            .await,
        "One or more parameter values were invalid: Empty attribute name",
        "an empty name by AttributeUpdates",
    );
    // Nothing was stored, and the region still reads and replicates.
    assert_item(
        get(&cs[0], "names", item([("pk", s("a"))])).await.as_ref(),
        &item([("pk", s("a")), ("v", n(1))]),
        "the item after the refusals",
    );
    assert_eq!(get(&cs[0], "names", item([("pk", s("b"))])).await, None);
    put(&cs[0], "names", item([("pk", s("c"))])).await;
    poll("the next write in eu-west-1", || async {
        try_get(&cs[1], "names", item([("pk", s("c"))]))
            .await
            .is_ok_and(|i| i.is_some())
    })
    .await;
}

/// What DynamoDB refuses or leaves alone, found by an independent
/// compatibility suite: an update that only takes attributes away creates
/// no item; a Query may not filter on its key; `ConditionalOperator` needs
/// conditions to join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removals_create_nothing_and_queries_do_not_filter_on_the_key() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "rules",
        ("p", ScalarAttributeType::S),
        Some(("c", ScalarAttributeType::N)),
    )
    .await;
    let key = || item([("p", s("gone")), ("c", n(1))]);
    // REMOVE, nested or not, and DELETE on a missing item: no item, no error.
    for expr in ["REMOVE a", "REMOVE a.b[1]", "DELETE s :v REMOVE t"] {
        let mut u = c
            .update_item()
            .table_name("rules")
            .set_key(Some(key()))
            .update_expression(expr)
            .return_values(ReturnValue::AllNew);
        if expr.contains(":v") {
            u = u.expression_attribute_values(":v", ss(&["x"]));
        }
        let out = u.send().await.unwrap_or_else(|e| panic!("{expr}: {e:?}"));
        assert_eq!(out.attributes(), None, "{expr}: nothing to return");
        assert_eq!(
            get(&c, "rules", key()).await,
            None,
            "{expr} created an item"
        );
    }
    c.update_item()
        .table_name("rules")
        .set_key(Some(key()))
        .attribute_updates(
            "a",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Delete)
                .build(),
        )
        .send()
        .await
        .expect("a legacy DELETE on a missing item");
    assert_eq!(
        get(&c, "rules", key()).await,
        None,
        "a legacy DELETE created an item"
    );
    // SET still creates it, and so does an update with no action at all.
    c.update_item()
        .table_name("rules")
        .set_key(Some(key()))
        .update_expression("SET a = :v REMOVE b")
        .expression_attribute_values(":v", n(1))
        .send()
        .await
        .unwrap();
    assert!(get(&c, "rules", key()).await.is_some());
    let bare = item([("p", s("bare")), ("c", n(1))]);
    c.update_item()
        .table_name("rules")
        .set_key(Some(bare.clone()))
        .send()
        .await
        .unwrap();
    assert_item(
        get(&c, "rules", bare.clone()).await.as_ref(),
        &bare,
        "a bare update",
    );

    // A Query's filter may not name a key attribute, in either form.
    for (filter, attr) in [("p = :p", "p"), ("c > :c", "c"), ("a = c", "c")] {
        let mut q = c
            .query()
            .table_name("rules")
            .key_condition_expression("p = :p")
            .filter_expression(filter)
            .expression_attribute_values(":p", s("gone"));
        if filter.contains(":c") {
            q = q.expression_attribute_values(":c", n(0));
        }
        expect_validation(
            q.send().await,
            &format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {attr}"
            ),
            filter,
        );
    }
    // A Scan may.
    c.scan()
        .table_name("rules")
        .filter_expression("p = :p")
        .expression_attribute_values(":p", s("gone"))
        .send()
        .await
        .expect("a scan filtering on the key");

    // ConditionalOperator with nothing to join.
    expect_validation(
        c.put_item()
            .table_name("rules")
            .set_item(Some(key()))
            .conditional_operator(ConditionalOperator::Or)
            .send()
            .await,
        "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        "ConditionalOperator without Expected",
    );
    expect_validation(
        c.scan()
            .table_name("rules")
            .conditional_operator(ConditionalOperator::And)
            .send()
            .await,
        "ConditionalOperator can only be used",
        "ConditionalOperator without ScanFilter",
    );
}

// ---- 2. expressions --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condition_expressions_decide_writes() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "conds", ("pk", ScalarAttributeType::S), None).await;
    let it = item([
        ("pk", s("c")),
        ("num", n(10)),
        ("s", s("hello world")),
        ("tags", ss(&["x", "y"])),
        ("lst", l(vec![n(1), n(2), n(3)])),
        ("mp", m([("a", n(1)), ("deep", m([("b", s("z"))]))])),
        ("status", s("active")),
    ]);
    put(&c, "conds", it.clone()).await;

    let names: HashMap<&str, &str> = [("#st", "status"), ("#sz", "size")].into();
    let values: HashMap<&str, AttributeValue> = [
        (":one", n(1)),
        (":two", n(2)),
        (":three", n(3)),
        (":five", n(5)),
        (":ten", n(10)),
        (":eleven", n(11)),
        (":twenty", n(20)),
        (":hello", s("hello")),
        (":hw", s("hello world")),
        (":wor", s("wor")),
        (":world", s("world")),
        (":x", s("x")),
        (":zz", s("zz")),
        (":active", s("active")),
        (":tN", s("N")),
        (":tS", s("S")),
        (":tSS", s("SS")),
        (":tL", s("L")),
        (":tM", s("M")),
    ]
    .into();
    // Each case: a condition and whether it holds for `it`. The write is a
    // PutItem of the same image, so the item never changes.
    let cases: &[(&str, bool)] = &[
        ("num = :ten", true),
        ("num <> :ten", false),
        ("num < :eleven", true),
        ("num < :ten", false),
        ("num <= :ten", true),
        ("num > :ten", false),
        ("num > :five", true),
        ("num >= :ten", true),
        ("num BETWEEN :five AND :ten", true),
        ("num BETWEEN :eleven AND :twenty", false),
        ("num IN (:five, :ten)", true),
        ("num IN (:five, :eleven)", false),
        ("num = :ten AND s = :hello", false),
        ("num = :ten AND s = :hw", true),
        ("num = :five OR s = :hw", true),
        ("NOT num = :ten", false),
        ("NOT (num = :five)", true),
        // NOT binds tighter than AND, AND tighter than OR.
        ("num = :five OR num = :ten AND s = :hello", false),
        ("(num = :five OR num = :ten) AND s = :hw", true),
        ("NOT num = :five AND num = :ten", true),
        ("attribute_exists(s)", true),
        ("attribute_not_exists(s)", false),
        ("attribute_exists(nope)", false),
        ("attribute_not_exists(nope)", true),
        ("attribute_exists(mp.deep.b)", true),
        ("attribute_exists(mp.deep.c)", false),
        ("attribute_exists(lst[2])", true),
        ("attribute_exists(lst[3])", false),
        ("attribute_type(num, :tN)", true),
        ("attribute_type(num, :tS)", false),
        ("attribute_type(tags, :tSS)", true),
        ("attribute_type(lst, :tL)", true),
        ("attribute_type(mp, :tM)", true),
        ("begins_with(s, :hello)", true),
        ("begins_with(s, :world)", false),
        ("contains(s, :wor)", true),
        ("contains(s, :zz)", false),
        ("contains(tags, :x)", true),
        ("contains(tags, :zz)", false),
        ("contains(lst, :two)", true),
        ("contains(lst, :five)", false),
        ("size(s) = :eleven", true),
        ("size(s) > :eleven", false),
        ("size(tags) = :two", true),
        ("size(lst) = :three", true),
        ("size(mp) = :two", true),
        ("size(mp.deep) = :one", true),
        ("#st = :active", true),
        ("#sz = :one", false),
        ("attribute_not_exists(#sz)", true),
        // A missing attribute or a type mismatch makes a comparison false
        // (and <> true), never an error.
        ("nope < :ten", false),
        ("nope <> :ten", true),
        ("s < :ten", false),
        ("mp.a = :one", true),
        ("lst[0] < lst[1]", true),
        ("num > lst[2]", true),
    ];
    for (cond, want) in cases {
        let mut req = c
            .put_item()
            .table_name("conds")
            .set_item(Some(it.clone()))
            .condition_expression(*cond);
        for k in placeholders(cond, '#') {
            req = req.expression_attribute_names(&k, names[k.as_str()]);
        }
        for k in placeholders(cond, ':') {
            req = req.expression_attribute_values(&k, values[k.as_str()].clone());
        }
        let held = match req.send().await {
            Ok(_) => true,
            Err(e) => {
                let e = e.into_service_error();
                assert!(e.is_conditional_check_failed_exception(), "{cond}: {e:?}");
                false
            }
        };
        assert_eq!(held, *want, "condition {cond}");
    }

    // attribute_not_exists as "create only"; ALL_OLD returns the item in
    // the ConditionalCheckFailedException, and only when asked.
    let fresh = item([("pk", s("new")), ("v", n(1))]);
    c.put_item()
        .table_name("conds")
        .set_item(Some(fresh.clone()))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("create only, first time");
    let err = c
        .put_item()
        .table_name("conds")
        .item("pk", s("new"))
        .item("v", n(2))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match &err {
        PutItemError::ConditionalCheckFailedException(e) => {
            assert_item(e.item(), &fresh, "the item in the exception");
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    let err = c
        .put_item()
        .table_name("conds")
        .item("pk", s("new"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match &err {
        PutItemError::ConditionalCheckFailedException(e) => {
            assert!(e.item().is_none(), "no item unless asked: {e:?}");
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    assert_item(
        get(&c, "conds", item([("pk", s("new"))])).await.as_ref(),
        &fresh,
        "a failed condition writes nothing",
    );
    let err = c
        .update_item()
        .table_name("conds")
        .key("pk", s("new"))
        .update_expression("SET v = :two")
        .condition_expression("v = :two")
        .expression_attribute_values(":two", n(2))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");
    assert!(
        format!("{err:?}").contains("\"v\""),
        "UpdateItem ALL_OLD on failure: {err:?}"
    );
    let err = c
        .delete_item()
        .table_name("conds")
        .key("pk", s("missing"))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");
    c.delete_item()
        .table_name("conds")
        .key("pk", s("new"))
        .condition_expression("v = :one")
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .expect("a conditional delete that holds");
    assert!(get(&c, "conds", item([("pk", s("new"))])).await.is_none());

    // Mistakes in expressions are validation errors, not failed conditions.
    let bad: &[(&str, Names, Values, &str)] = &[
        (
            "status = :a",
            vec![],
            vec![(":a", s("x"))],
            "reserved keyword",
        ),
        ("num = :a", vec![], vec![], ":a"),
        ("#x = :a", vec![], vec![(":a", n(1))], "#x"),
        (
            "num = :a",
            vec![],
            vec![(":a", n(1)), (":unused", n(2))],
            "unused",
        ),
        ("num = :a", vec![("#u", "u")], vec![(":a", n(1))], "unused"),
        ("num = = :a", vec![], vec![(":a", n(1))], "Syntax error"),
        ("nofunc(num)", vec![], vec![], "Invalid function name"),
        ("num < :a", vec![], vec![(":a", l(vec![]))], ""),
    ];
    for (cond, ns_, vs, contains) in bad {
        let mut req = c
            .put_item()
            .table_name("conds")
            .set_item(Some(it.clone()))
            .condition_expression(*cond);
        for (k, v) in ns_ {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in vs {
            req = req.expression_attribute_values(*k, v.clone());
        }
        expect_validation(req.send().await, contains, cond);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_expressions_set_remove_add_and_delete_nested_paths() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "upd", ("pk", ScalarAttributeType::S), None).await;
    put(
        &c,
        "upd",
        item([
            ("pk", s("u")),
            ("num", n(5)),
            ("lst", l(vec![n(1), n(2)])),
            ("tags", ss(&["a", "b"])),
            (
                "mp",
                m([
                    ("nest", m([("count", n(1)), ("nums", ns(&["1", "2", "3"]))])),
                    ("name", s("x")),
                ]),
            ),
        ]),
    )
    .await;
    // Runs one update with its names and values; returns the attributes.
    let update = |expr: &'static str,
                  rv: ReturnValue,
                  vals: Vec<(&'static str, AttributeValue)>| {
        let mut req = c
            .update_item()
            .table_name("upd")
            .key("pk", s("u"))
            .update_expression(expr)
            .return_values(rv);
        let names: HashMap<&str, &str> = [("#c", "count"), ("#n", "name"), ("#sz", "size")].into();
        for k in placeholders(expr, '#') {
            req = req.expression_attribute_names(&k, names[k.as_str()]);
        }
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        async move { req.send().await.map(|o| o.attributes) }
    };

    let a = update(
        "SET num = num + :one",
        ReturnValue::UpdatedNew,
        vec![(":one", n(1))],
    )
    .await
    .unwrap();
    assert_item(a.as_ref(), &item([("num", n(6))]), "SET +");
    let a = update(
        "SET num = num - :two",
        ReturnValue::UpdatedOld,
        vec![(":two", n(2))],
    )
    .await
    .unwrap();
    assert_item(a.as_ref(), &item([("num", n(6))]), "SET - UPDATED_OLD");
    for want in [1, 2] {
        let a = update(
            "SET fresh = if_not_exists(fresh, :zero) + :one",
            ReturnValue::UpdatedNew,
            vec![(":zero", n(0)), (":one", n(1))],
        )
        .await
        .unwrap();
        assert_item(
            a.as_ref(),
            &item([("fresh", n(want))]),
            "if_not_exists counter",
        );
    }
    let a = update(
        "SET num = if_not_exists(num, :zero)",
        ReturnValue::UpdatedNew,
        vec![(":zero", n(0))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([("num", n(4))]),
        "if_not_exists keeps a value",
    );
    update(
        "SET lst = list_append(lst, :tail)",
        ReturnValue::None,
        vec![(":tail", l(vec![n(3)]))],
    )
    .await
    .unwrap();
    let a = update(
        "SET lst = list_append(:head, lst)",
        ReturnValue::UpdatedNew,
        vec![(":head", l(vec![n(0)]))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([("lst", l(vec![n(0), n(1), n(2), n(3)]))]),
        "list_append both ways",
    );
    let a = update(
        "ADD mp.nest.#c :five",
        ReturnValue::UpdatedNew,
        vec![(":five", n(5))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([("mp", m([("nest", m([("count", n(6))]))]))]),
        "ADD to a nested number",
    );
    let a = update(
        "DELETE mp.nest.nums :two",
        ReturnValue::UpdatedNew,
        vec![(":two", ns(&["2"]))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([("mp", m([("nest", m([("nums", ns(&["1", "3"]))]))]))]),
        "DELETE from a nested set",
    );
    let a = update(
        "ADD tags :c",
        ReturnValue::UpdatedNew,
        vec![(":c", ss(&["c"]))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([("tags", ss(&["a", "b", "c"]))]),
        "ADD to a set",
    );
    let a = update(
        "ADD mp.nest.newset :s",
        ReturnValue::UpdatedNew,
        vec![(":s", ss(&["q"]))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([("mp", m([("nest", m([("newset", ss(&["q"]))]))]))]),
        "ADD creates a nested set",
    );
    update(
        "DELETE tags :ab",
        ReturnValue::None,
        vec![(":ab", ss(&["a", "b"]))],
    )
    .await
    .unwrap();
    update(
        "DELETE tags :c",
        ReturnValue::None,
        vec![(":c", ss(&["c"]))],
    )
    .await
    .unwrap();
    let a = update("REMOVE lst[0], mp.#n", ReturnValue::UpdatedOld, vec![])
        .await
        .unwrap();
    assert_item(
        a.as_ref(),
        &item([("lst", l(vec![n(0)])), ("mp", m([("name", s("x"))]))]),
        "REMOVE UPDATED_OLD",
    );
    let a = update(
        "SET lst[10] = :x, added = :x REMOVE fresh ADD hits :one DELETE mp.nest.nums :three",
        ReturnValue::AllNew,
        vec![(":x", s("end")), (":one", n(1)), (":three", ns(&["3"]))],
    )
    .await
    .unwrap();
    assert_item(
        a.as_ref(),
        &item([
            ("pk", s("u")),
            ("num", n(4)),
            ("lst", l(vec![n(1), n(2), n(3), s("end")])),
            ("added", s("end")),
            ("hits", n(1)),
            (
                "mp",
                m([(
                    "nest",
                    m([
                        ("count", n(6)),
                        ("nums", ns(&["1"])),
                        ("newset", ss(&["q"])),
                    ]),
                )]),
            ),
        ]),
        "every clause at once; the emptied set is gone; SET past the end appends",
    );
    let old = update("SET #sz = :x", ReturnValue::AllOld, vec![(":x", n(1))])
        .await
        .unwrap();
    assert_item(old.as_ref(), a.as_ref().unwrap(), "ALL_OLD of an update");

    // Mistakes are validation errors and change nothing.
    let before = get(&c, "upd", item([("pk", s("u"))])).await;
    let fails: Vec<(&'static str, Values, &str)> = vec![
        ("SET num = tags + :one", vec![(":one", n(1))], ""),
        ("SET a = :x REMOVE a", vec![(":x", n(1))], "overlap"),
        ("ADD lst :one", vec![(":one", n(1))], ""),
        ("DELETE num :s", vec![(":s", ss(&["a"]))], ""),
        ("SET num = :missing", vec![], ":missing"),
        ("SET num = :a SET added = :a", vec![(":a", n(1))], ""),
        ("SET count = :a", vec![(":a", n(1))], "reserved keyword"),
        ("SET num = num + :s", vec![(":s", s("x"))], ""),
    ];
    for (expr, vals, contains) in fails {
        expect_validation(update(expr, ReturnValue::None, vals).await, contains, expr);
    }
    assert_eq!(get(&c, "upd", item([("pk", s("u"))])).await, before);
    cluster.shutdown().await;
}

// ---- 3. Query --------------------------------------------------------------

fn sks(out: &QueryOutput) -> Vec<String> {
    out.items()
        .iter()
        .map(|i| str_of(i, "sk").to_string())
        .collect()
}

fn range(lo: u32, hi: u32) -> Vec<String> {
    (lo..=hi).map(|i| format!("s{i:02}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_conditions_filters_order_and_pages() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "events",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    let mut items = Vec::new();
    for i in 1..=20u32 {
        items.push(item([
            ("pk", s("p")),
            ("sk", s(&format!("s{i:02}"))),
            ("count", n(i)),
            ("kind", s(if i % 2 == 0 { "even" } else { "odd" })),
            ("payload", s("x")),
        ]));
    }
    for i in 1..=3u32 {
        items.push(item([("pk", s("q")), ("sk", s(&format!("s{i:02}")))]));
    }
    batch_put(&c, "events", items).await;

    let q = |kce: &'static str, vals: Vec<(&'static str, AttributeValue)>| {
        let mut req = c
            .query()
            .table_name("events")
            .key_condition_expression(kce)
            .expression_attribute_values(":p", s("p"))
            .consistent_read(true);
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        req
    };
    let cases: Vec<(&str, Values, Vec<String>)> = vec![
        ("pk = :p", vec![], range(1, 20)),
        ("pk = :p AND sk = :v", vec![(":v", s("s05"))], range(5, 5)),
        ("pk = :p AND sk < :v", vec![(":v", s("s05"))], range(1, 4)),
        ("pk = :p AND sk <= :v", vec![(":v", s("s05"))], range(1, 5)),
        ("pk = :p AND sk > :v", vec![(":v", s("s15"))], range(16, 20)),
        (
            "pk = :p AND sk >= :v",
            vec![(":v", s("s15"))],
            range(15, 20),
        ),
        (
            "pk = :p AND sk BETWEEN :a AND :b",
            vec![(":a", s("s03")), (":b", s("s07"))],
            range(3, 7),
        ),
        (
            "pk = :p AND begins_with(sk, :v)",
            vec![(":v", s("s1"))],
            range(10, 19),
        ),
        (
            "sk >= :v AND pk = :p",
            vec![(":v", s("s19"))],
            range(19, 20),
        ),
        ("pk = :p AND sk > :v", vec![(":v", s("s99"))], vec![]),
    ];
    for (kce, vals, want) in cases {
        let out = q(kce, vals).send().await.unwrap();
        assert_eq!(sks(&out), want, "{kce}");
        assert_eq!(out.count() as usize, want.len(), "{kce}");
        assert!(out.last_evaluated_key().is_none(), "{kce}");
    }
    let other = c
        .query()
        .table_name("events")
        .key_condition_expression("pk = :q")
        .expression_attribute_values(":q", s("q"))
        .send()
        .await
        .unwrap();
    assert_eq!(sks(&other), range(1, 3), "another partition");

    // FilterExpression runs after the read: Count vs ScannedCount.
    let out = q("pk = :p", vec![(":even", s("even")), (":ten", n(10))])
        .filter_expression("kind = :even AND #c > :ten")
        .expression_attribute_names("#c", "count")
        .send()
        .await
        .unwrap();
    assert_eq!(sks(&out), ["s12", "s14", "s16", "s18", "s20"]);
    assert_eq!((out.count(), out.scanned_count()), (5, 20));

    // ProjectionExpression.
    let out = q("pk = :p AND sk = :v", vec![(":v", s("s07"))])
        .projection_expression("sk, #c")
        .expression_attribute_names("#c", "count")
        .send()
        .await
        .unwrap();
    assert_eq!(out.items(), [item([("sk", s("s07")), ("count", n(7))])]);

    // Backwards.
    let out = q("pk = :p AND sk <= :v", vec![(":v", s("s05"))])
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    assert_eq!(sks(&out), ["s05", "s04", "s03", "s02", "s01"]);

    // Limit pages with LastEvaluatedKey/ExclusiveStartKey, both directions.
    for forward in [true, false] {
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        let mut start = None;
        for _ in 0..10 {
            let out = q("pk = :p", vec![])
                .scan_index_forward(forward)
                .limit(7)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap();
            sizes.push(out.items().len());
            got.extend(sks(&out));
            if let Some(k) = out.last_evaluated_key() {
                assert_eq!(
                    k,
                    &item([("pk", s("p")), ("sk", s(got.last().unwrap()))]),
                    "LastEvaluatedKey is the last item's key"
                );
                start = Some(k.clone());
            } else {
                break;
            }
        }
        let mut want = range(1, 20);
        if !forward {
            want.reverse();
        }
        assert_eq!(got, want, "forward {forward}");
        assert_eq!(sizes, [7, 7, 6], "forward {forward}");
    }

    // Limit counts items read, before the filter.
    let out = q("pk = :p", vec![(":even", s("even"))])
        .filter_expression("kind = :even")
        .limit(4)
        .send()
        .await
        .unwrap();
    assert_eq!(sks(&out), ["s02", "s04"]);
    assert_eq!(out.scanned_count(), 4);
    assert_eq!(
        out.last_evaluated_key(),
        Some(&item([("pk", s("p")), ("sk", s("s04"))]))
    );

    // Select COUNT: a count and no items, with or without a filter.
    let out = q("pk = :p", vec![])
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!((out.count(), out.scanned_count()), (20, 20));
    assert!(out.items.is_none(), "COUNT returns no Items: {out:?}");
    let out = q("pk = :p", vec![(":odd", s("odd"))])
        .filter_expression("kind = :odd")
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!((out.count(), out.scanned_count()), (10, 20));
    expect_validation(
        q("pk = :p", vec![])
            .select(Select::Count)
            .projection_expression("sk")
            .send()
            .await,
        "",
        "COUNT with a projection",
    );

    // Numbers sort numerically.
    create_table(
        &c,
        "nums",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let sorted = ["-5", "1", "2", "2.5", "10", "100"];
    batch_put(
        &c,
        "nums",
        ["100", "2.5", "-5", "10", "1", "2"]
            .iter()
            .map(|v| item([("pk", s("a")), ("sk", n(v))]))
            .collect(),
    )
    .await;
    let numq = |kce: &'static str| {
        c.query()
            .table_name("nums")
            .key_condition_expression(kce)
            .expression_attribute_values(":a", s("a"))
    };
    let nums = |out: &QueryOutput| -> Vec<String> {
        out.items()
            .iter()
            .map(|i| i["sk"].as_n().unwrap().clone())
            .collect()
    };
    assert_eq!(nums(&numq("pk = :a").send().await.unwrap()), sorted);
    let out = numq("pk = :a")
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    assert_eq!(nums(&out), sorted.iter().rev().copied().collect::<Vec<_>>());
    let out = numq("pk = :a AND sk < :ten")
        .expression_attribute_values(":ten", n(10))
        .send()
        .await
        .unwrap();
    assert_eq!(nums(&out), ["-5", "1", "2", "2.5"]);

    // Bad queries are validation errors.
    let bad = [
        (
            numq("pk = :a AND begins_with(sk, :one)").expression_attribute_values(":one", n(1)),
            "begins_with",
        ),
        (
            numq("pk = :a AND sk > :x").expression_attribute_values(":x", s("x")),
            "",
        ),
        (
            numq("pk = :a AND other = :x").expression_attribute_values(":x", n(1)),
            "",
        ),
        (
            numq("pk = :a AND sk BETWEEN :hi AND :lo")
                .expression_attribute_values(":hi", n(10))
                .expression_attribute_values(":lo", n(1)),
            "BETWEEN",
        ),
        (numq("pk = :a OR pk = :a"), ""),
        (
            numq("pk = :a")
                .exclusive_start_key("pk", s("b"))
                .exclusive_start_key("sk", n(1)),
            "",
        ),
        (numq("pk = :a").limit(0), "limit"),
    ];
    for (req, contains) in bad {
        let what = format!("{:?}", req.as_input());
        expect_validation(req.send().await, contains, &what);
    }
    expect_validation(
        c.query().table_name("nums").send().await,
        "KeyConditionExpression",
        "Query without a key condition",
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_page_stops_at_one_megabyte() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "big",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let payload = "x".repeat(100 * 1024);
    batch_put(
        &c,
        "big",
        (0..15)
            .map(|i| item([("pk", s("b")), ("sk", n(i)), ("payload", s(&payload))]))
            .collect(),
    )
    .await;
    let q = || {
        c.query()
            .table_name("big")
            .key_condition_expression("pk = :b")
            .expression_attribute_values(":b", s("b"))
    };
    let first = q().send().await.unwrap();
    let n1 = first.items().len();
    // 10 items are just under 1 MB (1,048,576 bytes); the 11th crosses it.
    assert!(
        (10..=11).contains(&n1),
        "a page holds about 1 MB of 100 KB items, got {n1}"
    );
    let lek = first
        .last_evaluated_key()
        .expect("a page cut at 1 MB has a LastEvaluatedKey")
        .clone();
    assert_eq!(lek, item([("pk", s("b")), ("sk", n(n1 - 1))]));
    let second = q().set_exclusive_start_key(Some(lek)).send().await.unwrap();
    assert_eq!(second.items().len(), 15 - n1);
    assert!(second.last_evaluated_key().is_none());
    let all: BTreeSet<String> = first
        .items()
        .iter()
        .chain(second.items())
        .map(|i| i["sk"].as_n().unwrap().clone())
        .collect();
    assert_eq!(all.len(), 15);
    // A smaller Limit wins; COUNT and Scan obey the same 1 MB page.
    let limited = q().limit(3).send().await.unwrap();
    assert_eq!(limited.items().len(), 3);
    let counted = q().select(Select::Count).send().await.unwrap();
    assert_eq!(counted.count() as usize, n1);
    assert!(counted.last_evaluated_key().is_some());
    let scanned = c.scan().table_name("big").send().await.unwrap();
    assert_eq!(scanned.items().len(), n1);
    assert!(scanned.last_evaluated_key().is_some());
    cluster.shutdown().await;
}

// ---- 4. Scan ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_filter_page_and_split_into_segments() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "scan", ("pk", ScalarAttributeType::S), None).await;
    batch_put(
        &c,
        "scan",
        (0..40)
            .map(|i| item([("pk", s(&format!("k{i:02}"))), ("num", n(i))]))
            .collect(),
    )
    .await;
    let keys = |items: &[Item]| -> Vec<String> {
        items.iter().map(|i| str_of(i, "pk").to_string()).collect()
    };
    let all_keys: BTreeSet<String> = (0..40).map(|i| format!("k{i:02}")).collect();

    let full = c
        .scan()
        .table_name("scan")
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(full.count(), 40);
    assert!(full.last_evaluated_key().is_none());
    let got: BTreeSet<String> = keys(full.items()).into_iter().collect();
    assert_eq!(got, all_keys);

    let out = c
        .scan()
        .table_name("scan")
        .filter_expression("num < :ten")
        .expression_attribute_values(":ten", n(10))
        .send()
        .await
        .unwrap();
    assert_eq!((out.count(), out.scanned_count()), (10, 40));

    // Pages, with and without a filter, optionally within a segment.
    let pages = |limit: i32, filter: bool, segment: Option<(i32, i32)>| {
        let c = c.clone();
        async move {
            let (mut got, mut scanned, mut start) = (Vec::new(), 0, None);
            for _ in 0..100 {
                let mut req = c
                    .scan()
                    .table_name("scan")
                    .limit(limit)
                    .set_exclusive_start_key(start.take());
                if filter {
                    req = req
                        .filter_expression("num >= :x")
                        .expression_attribute_values(":x", n(30));
                }
                if let Some((s, t)) = segment {
                    req = req.segment(s).total_segments(t);
                }
                let out = req.send().await.unwrap();
                assert!(out.scanned_count() <= limit, "{out:?}");
                scanned += out.scanned_count();
                got.extend(keys(out.items()));
                match out.last_evaluated_key() {
                    Some(k) => start = Some(k.clone()),
                    None => return (got, scanned),
                }
            }
            panic!("scan does not end");
        }
    };
    let (got, scanned) = pages(7, false, None).await;
    assert_eq!(got.len(), 40, "no duplicates across pages");
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), all_keys);
    assert_eq!(scanned, 40);
    let (got, scanned) = pages(6, true, None).await;
    assert_eq!(
        got.iter().cloned().collect::<BTreeSet<_>>(),
        range_keys(30, 39)
    );
    assert_eq!(got.len(), 10);
    assert_eq!(scanned, 40);

    // Parallel scan: the segments partition the table.
    let mut union = Vec::new();
    let mut nonempty = 0;
    for seg in 0..4 {
        let (got, _) = pages(5, false, Some((seg, 4))).await;
        nonempty += usize::from(!got.is_empty());
        union.extend(got);
    }
    assert_eq!(union.len(), 40, "no item in two segments");
    assert_eq!(union.into_iter().collect::<BTreeSet<_>>(), all_keys);
    assert!(nonempty >= 2, "40 keys spread over more than one segment");
    expect_validation(
        c.scan()
            .table_name("scan")
            .segment(4)
            .total_segments(4)
            .send()
            .await,
        "Segment",
        "Segment >= TotalSegments",
    );
    expect_validation(
        c.scan().table_name("scan").segment(0).send().await,
        "TotalSegments",
        "Segment without TotalSegments",
    );
    expect_validation(
        c.scan()
            .table_name("scan")
            .segment(0)
            .total_segments(0)
            .send()
            .await,
        "totalSegments",
        "TotalSegments 0",
    );
    cluster.shutdown().await;
}

fn range_keys(lo: u32, hi: u32) -> BTreeSet<String> {
    (lo..=hi).map(|i| format!("k{i:02}")).collect()
}

// ---- 5. batches ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_hold_25_writes_and_100_reads_without_duplicates() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "bat1", ("pk", ScalarAttributeType::S), None).await;
    create_table(&c, "bat2", ("pk", ScalarAttributeType::S), None).await;
    let it = |i: usize| item([("pk", s(&format!("k{i:03}"))), ("v", n(i))]);
    let key = |i: usize| item([("pk", s(&format!("k{i:03}")))]);

    let out = c
        .batch_write_item()
        .request_items("bat1", (0..25).map(|i| put_req(it(i))).collect())
        .send()
        .await
        .expect("25 writes");
    assert!(out.unprocessed_items().is_none_or(HashMap::is_empty));
    expect_validation(
        c.batch_write_item()
            .request_items("bat1", (100..126).map(|i| put_req(it(i))).collect())
            .send()
            .await,
        "at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        "26 writes",
    );
    expect_validation(
        c.batch_write_item()
            .request_items("bat1", (100..113).map(|i| put_req(it(i))).collect())
            .request_items("bat2", (100..113).map(|i| put_req(it(i))).collect())
            .send()
            .await,
        "Too many items requested for the BatchWriteItem call",
        "26 writes over two tables",
    );
    expect_validation(
        c.batch_write_item()
            .request_items("bat1", vec![put_req(it(200)), put_req(it(200))])
            .send()
            .await,
        "duplicates",
        "two puts of one key",
    );
    expect_validation(
        c.batch_write_item()
            .request_items("bat1", vec![put_req(it(201)), delete_req(key(201))])
            .send()
            .await,
        "duplicates",
        "a put and a delete of one key",
    );
    assert!(
        get(&c, "bat1", key(200)).await.is_none(),
        "a refused batch writes nothing"
    );
    assert!(get(&c, "bat1", key(201)).await.is_none());
    expect_code(
        c.batch_write_item()
            .request_items("nope", vec![put_req(it(1))])
            .send()
            .await,
        "ResourceNotFoundException",
        "batch write to a missing table",
    );

    // Puts and deletes over two tables in one batch.
    c.batch_write_item()
        .request_items("bat1", (0..5).map(|i| delete_req(key(i))).collect())
        .request_items("bat2", (0..3).map(|i| put_req(it(i))).collect())
        .send()
        .await
        .unwrap();
    assert!(get(&c, "bat1", key(0)).await.is_none());
    assert!(get(&c, "bat1", key(5)).await.is_some());
    assert!(get(&c, "bat2", key(2)).await.is_some());

    // BatchGetItem: 100 keys (missing ones are just absent), projections.
    let out = c
        .batch_get_item()
        .request_items(
            "bat1",
            KeysAndAttributes::builder()
                .set_keys(Some((0..97).map(key).collect()))
                .projection_expression("pk")
                .consistent_read(true)
                .build()
                .unwrap(),
        )
        .request_items(
            "bat2",
            KeysAndAttributes::builder()
                .set_keys(Some((0..3).map(key).collect()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("100 keys");
    let responses = out.responses().expect("responses");
    let mut b1: Vec<String> = responses["bat1"]
        .iter()
        .map(|i| str_of(i, "pk").to_string())
        .collect();
    b1.sort();
    assert_eq!(b1, (5..25).map(|i| format!("k{i:03}")).collect::<Vec<_>>());
    assert!(
        responses["bat1"].iter().all(|i| i.len() == 1),
        "projected to pk"
    );
    let mut b2 = responses["bat2"].clone();
    b2.sort_by(|a, b| str_of(a, "pk").cmp(str_of(b, "pk")));
    assert_eq!(b2, (0..3).map(it).collect::<Vec<_>>());
    assert!(out.unprocessed_keys().is_none_or(HashMap::is_empty));
    expect_validation(
        c.batch_get_item()
            .request_items(
                "bat1",
                KeysAndAttributes::builder()
                    .set_keys(Some((0..101).map(key).collect()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "BatchGetItem",
        "101 keys",
    );
    expect_validation(
        c.batch_get_item()
            .request_items(
                "bat1",
                KeysAndAttributes::builder()
                    .set_keys(Some(vec![key(7), key(7)]))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "duplicates",
        "a key twice",
    );

    // One BatchGetItem answers at most 16 MB; the rest is UnprocessedKeys,
    // which a retry loop then reads.
    create_table(&c, "huge", ("pk", ScalarAttributeType::S), None).await;
    let big = "x".repeat(399 * 1024);
    let hkey = |i: usize| item([("pk", s(&format!("h{i:02}")))]);
    for i in 0..45 {
        let mut it = hkey(i);
        it.insert("d".into(), s(&big));
        put(&c, "huge", it).await;
    }
    let mut pending = Some(
        KeysAndAttributes::builder()
            .set_keys(Some((0..45).map(hkey).collect()))
            .projection_expression("pk, d")
            .build()
            .unwrap(),
    );
    let (mut got, mut calls) = (BTreeSet::new(), 0);
    while let Some(keys) = pending.take() {
        calls += 1;
        assert!(calls <= 10, "UnprocessedKeys never drains");
        let out = c
            .batch_get_item()
            .request_items("huge", keys)
            .send()
            .await
            .unwrap();
        let page = &out.responses().expect("responses")["huge"];
        let bytes: usize = page.iter().map(|i| i["d"].as_s().unwrap().len()).sum();
        assert!(
            bytes <= (16 << 20) + big.len(),
            "{bytes} bytes in one answer"
        );
        got.extend(page.iter().map(|i| str_of(i, "pk").to_string()));
        pending = out
            .unprocessed_keys()
            .and_then(|u| u.get("huge"))
            .filter(|k| !k.keys().is_empty())
            .cloned();
    }
    assert!(
        calls >= 2,
        "45 items of 399 KB do not fit in one 16 MB answer"
    );
    assert_eq!(got.len(), 45);
    cluster.shutdown().await;
}

// ---- 6. every error type ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_type_reaches_the_sdk_typed() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "errs", ("pk", ScalarAttributeType::S), None).await;

    // ResourceInUseException.
    let err = create_table_request(&c, "errs", ("pk", ScalarAttributeType::S), None)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");

    // ResourceNotFoundException from every kind of request.
    let e = c
        .describe_table()
        .table_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .delete_table()
        .table_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .get_item()
        .table_name("missing")
        .key("pk", s("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .put_item()
        .table_name("missing")
        .item("pk", s("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .update_item()
        .table_name("missing")
        .key("pk", s("a"))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", n(1))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .query()
        .table_name("missing")
        .key_condition_expression("pk = :a")
        .expression_attribute_values(":a", s("a"))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c.scan().table_name("missing").send().await.unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .transact_write_items()
        .transact_items(tx_put("missing", item([("pk", s("a"))])))
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    let e = c
        .describe_time_to_live()
        .table_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    // The backup operations name a missing table their own way.
    let e = c
        .describe_continuous_backups()
        .table_name("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.message(), Some("Table not found: missing"));
    assert!(e.into_service_error().is_table_not_found_exception());
    // On-demand backups are always on, as in DynamoDB; point-in-time
    // recovery is off until asked for.
    let d = c
        .describe_continuous_backups()
        .table_name("errs")
        .send()
        .await
        .unwrap()
        .continuous_backups_description
        .unwrap();
    assert_eq!(
        d.continuous_backups_status,
        aws_sdk_dynamodb::types::ContinuousBackupsStatus::Enabled
    );
    assert_eq!(
        d.point_in_time_recovery_description
            .and_then(|p| p.point_in_time_recovery_status),
        Some(aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Disabled)
    );

    // ConditionalCheckFailedException.
    let e = c
        .put_item()
        .table_name("errs")
        .item("pk", s("a"))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await
        .unwrap_err();
    let msg = e.message().unwrap_or_default().to_string();
    assert!(
        e.into_service_error()
            .is_conditional_check_failed_exception()
    );
    assert_eq!(msg, "The conditional request failed");

    // TransactionCanceledException with one reason per action, in order.
    put(&c, "errs", item([("pk", s("x")), ("v", n(1))])).await;
    let err = c
        .transact_write_items()
        .transact_items(tx_put("errs", item([("pk", s("y"))])))
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("errs")
                        .key("pk", s("x"))
                        .condition_expression("v = :two")
                        .expression_attribute_values(":two", n(2))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match &err {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            let codes: Vec<Option<&str>> =
                e.cancellation_reasons().iter().map(|r| r.code()).collect();
            assert_eq!(codes, [Some("None"), Some("ConditionalCheckFailed")]);
        }
        other => panic!("expected TransactionCanceledException, got {other:?}"),
    }

    // IdempotentParameterMismatchException.
    c.transact_write_items()
        .client_request_token("token-errs")
        .transact_items(tx_put("errs", item([("pk", s("t1"))])))
        .send()
        .await
        .unwrap();
    let err = c
        .transact_write_items()
        .client_request_token("token-errs")
        .transact_items(tx_put("errs", item([("pk", s("t2"))])))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_idempotent_parameter_mismatch_exception(), "{err:?}");

    // ValidationException (not modelled by the SDK: checked by code).
    expect_validation(
        c.put_item()
            .table_name("errs")
            .item("nokey", s("a"))
            .send()
            .await,
        "Missing the key pk",
        "an item without its key",
    );
    expect_validation(
        c.describe_table().table_name("a").send().await,
        "tableName",
        "a table name too short",
    );
    expect_validation(
        c.create_table()
            .table_name("badschema")
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await,
        "attributeDefinitions",
        "a key without an attribute definition",
    );

    // SerializationException: malformed JSON, over raw HTTP.
    let addr = cluster.nodes[0].dynamo_addr;
    let (status, body) = raw_post(addr, Some("DynamoDB_20120810.ListTables"), "{\"Limit\": ").await;
    assert_eq!(status, 400, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
    assert_eq!(
        json["__type"], "com.amazonaws.dynamodb.v20120810#SerializationException",
        "{body}"
    );
    // As DynamoDB's: no message at all, so no parser position to leak.
    assert!(json.get("message").is_none(), "{body}");
    let (status, body) = raw_post(addr, Some("DynamoDB_20120810.ListTables"), "[1, 2]").await;
    assert_eq!(status, 400);
    assert!(body.contains("#SerializationException"), "{body}");
    let (status, body) = raw_post(
        addr,
        Some("DynamoDB_20120810.DescribeTable"),
        "{\"TableName\": 42}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("#SerializationException"), "{body}");
    // And the rest of the protocol: a good raw request, unknown operations.
    let (status, body) = raw_post(addr, Some("DynamoDB_20120810.ListTables"), "{}").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"errs\""), "{body}");
    let (status, body) = raw_post(
        addr,
        Some("DynamoDB_20120810.ExportTableToPointInTime"),
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("#UnknownOperationException"), "{body}");
    let (status, body) = raw_post(addr, None, "{}").await;
    assert_eq!(status, 400);
    assert!(body.contains("#UnknownOperationException"), "{body}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_requests_are_decoded_and_bad_ones_are_internal_errors() {
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;
    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "packed", ("pk", ScalarAttributeType::S), None).await;
    let addr = cluster.nodes[0].dynamo_addr;
    let put = |pk: &str| {
        format!(
            r#"{{"TableName": "packed", "Item": {{"pk": {{"S": "{pk}"}}, "v": {{"S": "{}"}}}}}}"#,
            "x".repeat(5000)
        )
    };
    let post = |encoding: &'static str, body: Vec<u8>| async move {
        raw_post_bytes(
            addr,
            Some("DynamoDB_20120810.PutItem"),
            &[("content-encoding", encoding)],
            body,
        )
        .await
    };
    let stored = |pk: &'static str| {
        let c = c.clone();
        async move { get(&c, "packed", item([("pk", s(pk))])).await }
    };
    // Decoded: gzip, gzip members concatenated (the gzip format allows it),
    // deflate (a zlib stream), and identity.
    let body = put("gz");
    let (status, text) = post("gzip", gzip(body.as_bytes())).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        stored("gz").await.expect("stored")["v"],
        s(&"x".repeat(5000))
    );
    let body = put("gz2");
    let (head, tail) = body.as_bytes().split_at(10);
    let (status, text) = post("gzip", [gzip(head), gzip(tail)].concat()).await;
    assert_eq!(status, 200, "{text}");
    assert!(stored("gz2").await.is_some());
    let (status, text) = post("deflate", zlib(put("zl").as_bytes())).await;
    assert_eq!(status, 200, "{text}");
    assert!(stored("zl").await.is_some());
    let (status, text) = post("identity", put("id").into_bytes()).await;
    assert_eq!(status, 200, "{text}");
    assert!(stored("id").await.is_some());

    // Refused as DynamoDB refuses them: HTTP 500, InternalServerError, and
    // nothing written.
    let body = put("bad");
    let oversized = {
        let mut b = body.clone();
        b.insert_str(b.len() - 1, &" ".repeat(17 << 20));
        gzip(b.as_bytes())
    };
    let bad: Vec<(&str, &'static str, Vec<u8>)> = vec![
        ("an unknown encoding", "garbage", body.clone().into_bytes()),
        (
            "a plain body called gzip",
            "gzip",
            body.clone().into_bytes(),
        ),
        (
            "a plain body called deflate",
            "deflate",
            body.clone().into_bytes(),
        ),
        ("an empty gzip body", "gzip", Vec::new()),
        ("an empty deflate body", "deflate", Vec::new()),
        ("a gzip body cut short", "gzip", {
            let mut g = gzip(body.as_bytes());
            g.pop();
            g
        }),
        ("gzip followed by junk", "gzip", {
            let mut g = gzip(body.as_bytes());
            g.extend_from_slice(b"junk");
            g
        }),
        ("two zlib streams", "deflate", {
            let (head, tail) = body.as_bytes().split_at(10);
            [zlib(head), zlib(tail)].concat()
        }),
        ("a gzip body that decodes past 16 MB", "gzip", oversized),
    ];
    for (what, encoding, bytes) in bad {
        let (status, text) = post(encoding, bytes).await;
        assert_eq!(status, 500, "{what}: {text}");
        assert!(text.contains("#InternalServerError"), "{what}: {text}");
        assert!(stored("bad").await.is_none(), "{what} wrote the item");
    }
    cluster.shutdown().await;
}

/// One request written by hand on its own connection (`Connection: close`);
/// returns the whole answer, status line and headers included, lowercased.
async fn raw_exchange(addr: SocketAddr, method: &str, headers: &[(&str, &str)]) -> String {
    let (head, body) = raw_exchange_body(addr, method, headers, b"").await;
    head + &String::from_utf8_lossy(&body).to_lowercase()
}

/// [`raw_exchange`] with a request body; returns the answer's status line
/// and headers (lowercased, ending in the blank line) and its body as sent.
async fn raw_exchange_body(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut req = format!("{method} / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(req.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head")
        + 4;
    let body = answer.split_off(end);
    (String::from_utf8_lossy(&answer).to_lowercase(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_past_4_kb_are_compressed_as_accept_encoding_asks() {
    use std::io::Read;
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "squeezed", ("pk", ScalarAttributeType::S), None).await;
    let big = "x".repeat(5000);
    for (pk, v) in [("big", big.as_str()), ("small", "tiny")] {
        c.put_item()
            .table_name("squeezed")
            .item("pk", s(pk))
            .item("v", s(v))
            .send()
            .await
            .expect("put");
    }
    let addr = cluster.nodes[0].dynamo_addr;
    let get = |pk: &'static str, accept: Option<&'static str>| async move {
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ];
        headers.extend(accept.map(|a| ("accept-encoding", a)));
        let body = format!(r#"{{"TableName": "squeezed", "Key": {{"pk": {{"S": "{pk}"}}}}}}"#);
        raw_exchange_body(addr, "POST", &headers, body.as_bytes()).await
    };
    let item_of = |body: &[u8]| -> serde_json::Value {
        let json: serde_json::Value = serde_json::from_slice(body).expect("a JSON answer");
        json["Item"]["v"]["S"].clone()
    };
    // Asked for, and past 4 KB: compressed in the coding DynamoDB would pick.
    for (accept, coding) in [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("br, deflate;q=0.5, gzip;q=0.2", "deflate"),
        ("*", "gzip"),
    ] {
        let (head, body) = get("big", Some(accept)).await;
        assert!(head.starts_with("http/1.1 200"), "{accept}: {head}");
        assert!(
            head.contains(&format!("\r\ncontent-encoding: {coding}\r\n")),
            "{accept}: {head}"
        );
        assert!(body.len() < 1000, "{accept}: {} bytes", body.len());
        let mut plain = Vec::new();
        match coding {
            "gzip" => flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain),
            _ => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut plain),
        }
        .expect("decodes");
        assert_eq!(item_of(&plain), serde_json::json!(big), "{accept}");
    }
    // Not asked for, refused, or small: sent as it is.
    for (pk, accept) in [
        ("big", None),
        ("big", Some("identity")),
        ("big", Some("gzip;q=0")),
        ("big", Some("br")),
        ("small", Some("gzip")),
    ] {
        let (head, body) = get(pk, accept).await;
        assert!(head.starts_with("http/1.1 200"), "{pk} {accept:?}: {head}");
        assert!(
            !head.contains("content-encoding"),
            "{pk} {accept:?}: {head}"
        );
        let want = if pk == "big" { big.as_str() } else { "tiny" };
        assert_eq!(item_of(&body), serde_json::json!(want), "{pk} {accept:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_the_host_and_cors_is_answered_as_dynamodb_does() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let addr = cluster.nodes[0].dynamo_addr;
    // The health check names the address the client used.
    let health = http::get(&format!("http://{addr}/"), 1 << 10, Duration::from_secs(10))
        .await
        .expect("health");
    assert_eq!(health.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&health.body).trim(),
        format!("healthy: {addr}")
    );
    // Without an Origin there is no CORS header, whatever the method; every
    // answer names its server as DynamoDB's do.
    for method in ["OPTIONS", "GET", "POST"] {
        let answer = raw_exchange(addr, method, &[]).await;
        assert!(!answer.contains("access-control-"), "{method}: {answer}");
        assert!(
            answer.contains("\r\nserver: server\r\n"),
            "{method}: {answer}"
        );
    }
    // With one, any origin is allowed; only a preflight gets a max age and
    // the method and headers it asked for.
    let asked = [
        ("origin", "http://example.com/"),
        ("access-control-request-method", "dog"),
        ("access-control-request-headers", "cat, meerkat, mouse"),
    ];
    for method in ["OPTIONS", "GET", "POST"] {
        let answer = raw_exchange(addr, method, &asked).await;
        assert!(
            answer.contains("\r\naccess-control-allow-origin: *\r\n"),
            "{method}: {answer}"
        );
        assert!(
            answer.contains("\r\naccess-control-expose-headers: "),
            "{method}: {answer}"
        );
        let preflight = [
            "\r\naccess-control-max-age: ",
            "\r\naccess-control-allow-methods: dog\r\n",
            "\r\naccess-control-allow-headers: cat, meerkat, mouse\r\n",
        ];
        for h in preflight {
            assert_eq!(
                answer.contains(h),
                method == "OPTIONS",
                "{method} {h:?}: {answer}"
            );
        }
        if method == "OPTIONS" {
            assert!(answer.starts_with("http/1.1 200"), "{answer}");
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_json_shapes_are_serialization_errors_and_messages_are_dynamodbs() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "shapes", ("pk", ScalarAttributeType::S), None).await;
    let addr = cluster.nodes[0].dynamo_addr;
    let post = |op: &str, body: String| {
        let target = format!("DynamoDB_20120810.{op}");
        async move { raw_post(addr, Some(&target), &body).await }
    };
    // A value of the wrong JSON type, on every path, is a
    // SerializationException in DynamoDB's words.
    let serialization = [
        (
            "PutItem",
            r#"{"TableName": "shapes", "Item": {"pk": {"S": "a"}, "v": {"B": "YWJjZGVmZ2g"}}}"#,
            "Base64 encoded length is expected a multiple of 4 bytes but found: 11",
        ),
        (
            "PutItem",
            r#"{"TableName": "shapes", "Item": {"pk": {"S": "a"}, "v": {"BS": ["YWJj??!!"]}}}"#,
            "Invalid Base64 character: '?'",
        ),
        (
            "GetItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"N": 123}}}"#,
            "NUMBER_VALUE cannot be converted to String",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": 123}}}"#,
            "NUMBER_VALUE cannot be converted to String",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"B": "fakebase64"}}}"#,
            "Base64 encoded length is expected a multiple of 4 bytes but found: 10",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"S": "a"}}, "AttributeUpdates": {"v": {"Action": "PUT", "Value": {"SS": [true]}}}}"#,
            "TRUE_VALUE cannot be converted to String",
        ),
    ];
    for (op, body, message) in serialization {
        let (status, text) = post(op, body.to_string()).await;
        assert_eq!(status, 400, "{body}: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).expect("a JSON error body");
        assert_eq!(
            json["__type"], "com.amazonaws.dynamodb.v20120810#SerializationException",
            "{body}: {text}"
        );
        assert_eq!(json["message"], message, "{body}");
    }
    // Nothing of those was stored.
    assert!(get(&c, "shapes", item([("pk", s("a"))])).await.is_none());

    // Values that parse but break a rule stay ValidationExceptions, with
    // DynamoDB's text and the key named once.
    let eav = |v: AttributeValue| {
        c.update_item()
            .table_name("shapes")
            .key("pk", s("a"))
            .update_expression("SET v = :val")
            .expression_attribute_values(":val", v)
    };
    let msg = expect_code(
        eav(n("1E+126")).send().await,
        "ValidationException",
        "1E+126",
    );
    assert_eq!(
        msg,
        "ExpressionAttributeValues contains invalid value: Number overflow. Attempting to store a number with magnitude larger than supported range for key :val"
    );
    let msg = expect_code(eav(n("NaN")).send().await, "ValidationException", "NaN");
    assert_eq!(
        msg,
        "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: NaN for key :val"
    );
    let msg = expect_code(
        eav(AttributeValue::Ss(vec![])).send().await,
        "ValidationException",
        "an empty string set",
    );
    assert_eq!(
        msg,
        "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :val"
    );
    let msg = expect_code(
        c.put_item()
            .table_name("shapes")
            .item("pk", s("a"))
            .item("v", AttributeValue::Ns(vec![]))
            .send()
            .await,
        "ValidationException",
        "an empty number set",
    );
    assert_eq!(
        msg,
        "One or more parameter values were invalid: An number set  may not be empty"
    );
    // A duplicate set member: the collection as sent.
    let msg = expect_code(
        c.put_item()
            .table_name("shapes")
            .item("pk", s("a"))
            .item(
                "v",
                AttributeValue::Ss(vec!["b".into(), "a".into(), "b".into()]),
            )
            .send()
            .await,
        "ValidationException",
        "a string set with a duplicate",
    );
    assert_eq!(
        msg,
        "One or more parameter values were invalid: Input collection [b, a, b] contains duplicates."
    );
    // Attribute names: empty or over 65535 bytes.
    expect_validation(
        c.put_item()
            .table_name("shapes")
            .item("pk", s("a"))
            .item("x".repeat(65536), n(1))
            .send()
            .await,
        "Attribute name is too large, must be less than 65536 bytes",
        "a 64 KB attribute name",
    );
    c.put_item()
        .table_name("shapes")
        .item("pk", s("a"))
        .item("x".repeat(65535), n(1))
        .send()
        .await
        .expect("a 65535-byte name fits");
    expect_validation(
        c.get_item()
            .table_name("shapes")
            .key("pk", s("a"))
            .attributes_to_get("")
            .send()
            .await,
        "Empty attribute name",
        "AttributesToGet with an empty name",
    );
    // Legacy ADD on another type.
    put(&c, "shapes", item([("pk", s("b")), ("v", s("text"))])).await;
    let msg = expect_code(
        c.update_item()
            .table_name("shapes")
            .key("pk", s("b"))
            .attribute_updates(
                "v",
                AttributeValueUpdate::builder()
                    .action(AttributeAction::Add)
                    .value(n(1))
                    .build(),
            )
            .send()
            .await,
        "ValidationException",
        "ADD of a number to a string",
    );
    assert_eq!(msg, "Type mismatch for attribute to update");
    // An ExclusiveStartKey that is not just the key.
    let msg = expect_code(
        c.scan()
            .table_name("shapes")
            .exclusive_start_key("pk", s("a"))
            .exclusive_start_key("x", n(3))
            .send()
            .await,
        "ValidationException",
        "a spurious start key column",
    );
    assert_eq!(
        msg,
        "The provided starting key is invalid: The provided key element does not match the schema"
    );
    // BatchWriteItem: more than 25 requests for one table.
    let many: Vec<WriteRequest> = (0..26)
        .map(|i| put_req(item([("pk", s(&i.to_string()))])))
        .collect();
    expect_validation(
        c.batch_write_item()
            .request_items("shapes", many)
            .send()
            .await,
        "failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        "26 writes for one table",
    );
    // TTL: the attribute in use, and the name's length.
    let ttl = |name: &str, enabled: bool| {
        c.update_time_to_live()
            .table_name("shapes")
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(name)
                    .enabled(enabled)
                    .build()
                    .unwrap(),
            )
    };
    ttl("expires", true).send().await.unwrap();
    let msg = expect_code(
        ttl("dog", false).send().await,
        "ValidationException",
        "TTL on another name",
    );
    assert_eq!(
        msg,
        "TimeToLive is active on a different AttributeName: current AttributeName is expires"
    );
    let long = "x".repeat(256);
    let msg = expect_code(
        ttl(&long, true).send().await,
        "ValidationException",
        "a long TTL name",
    );
    assert_eq!(
        msg,
        format!(
            "1 validation error detected: Value '{long}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"
        )
    );
    // CreateTable: definitions checked member by member, then for duplicates.
    let def = |name: Option<&str>, ty: ScalarAttributeType| {
        let mut d = AttributeDefinition::builder().attribute_type(ty);
        if let Some(n) = name {
            d = d.attribute_name(n);
        }
        d.build()
    };
    let key = KeySchemaElement::builder()
        .attribute_name("xyz")
        .key_type(KeyType::Hash)
        .build()
        .unwrap();
    let create = |defs: Vec<AttributeDefinition>| {
        c.create_table()
            .table_name("badtable")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key.clone())
            .set_attribute_definitions(Some(defs))
    };
    let unnamed = AttributeDefinition::builder()
        .attribute_type(ScalarAttributeType::S)
        .attribute_name("")
        .build()
        .unwrap();
    let msg = expect_code(
        create(vec![unnamed]).send().await,
        "ValidationException",
        "an empty name",
    );
    assert!(
        msg.contains("'attributeDefinitions.1.member.attributeName'"),
        "{msg}"
    );
    let msg = expect_code(
        create(vec![
            def(Some("xyz"), ScalarAttributeType::S).unwrap(),
            def(Some("xyz"), ScalarAttributeType::N).unwrap(),
        ])
        .send()
        .await,
        "ValidationException",
        "a duplicate definition",
    );
    assert_eq!(msg, "Attribute Name is duplicated: xyz");
    // Tags: an ARN that is no ARN; Tag/UntagResource answer no body.
    let msg = expect_code(
        c.tag_resource()
            .resource_arn("I_do_not_exist")
            .tags(Tag::builder().key("k").value("v").build().unwrap())
            .send()
            .await,
        "ValidationException",
        "a name for an ARN",
    );
    assert_eq!(
        msg,
        "One or more parameter values were invalid: ARNs must start with 'arn:': I_do_not_exist"
    );
    let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/shapes";
    let (status, body) = post(
        "TagResource",
        format!(r#"{{"ResourceArn": "{arn}", "Tags": [{{"Key": "k", "Value": "v"}}]}}"#),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = post(
        "UntagResource",
        format!(r#"{{"ResourceArn": "{arn}", "TagKeys": ["k"]}}"#),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    cluster.shutdown().await;
}

// ---- 7. limits -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_dynamodbs() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "lim", ("pk", ScalarAttributeType::S), None).await;
    create_table(
        &c,
        "lim2",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    let try_put = |it: Item| c.put_item().table_name("lim").set_item(Some(it)).send();

    // 400 KB = 409,600 bytes of attribute names and values.
    let max = 400 * 1024;
    let body = |len: usize| item([("pk", s("big")), ("data", s(&"x".repeat(len)))]);
    let fixed = "pk".len() + "big".len() + "data".len();
    try_put(body(max - fixed)).await.expect("exactly 400 KB");
    expect_validation(
        try_put(body(max - fixed + 1)).await,
        "Item size has exceeded the maximum allowed size",
        "400 KB + 1",
    );
    expect_validation(
        c.update_item()
            .table_name("lim")
            .key("pk", s("big"))
            .update_expression("SET more = :x")
            .expression_attribute_values(":x", s("grow"))
            .send()
            .await,
        "Item size has exceeded",
        "an update that grows an item past 400 KB",
    );

    // Keys: 2048 bytes of partition key, 1024 of sort key.
    try_put(item([("pk", s(&"p".repeat(2048)))]))
        .await
        .expect("2048-byte partition key");
    expect_validation(
        try_put(item([("pk", s(&"p".repeat(2049)))])).await,
        "Size of hashkey has exceeded the maximum size limit of 2048 bytes",
        "2049-byte partition key",
    );
    let put2 = |sk: String| {
        c.put_item()
            .table_name("lim2")
            .item("pk", s("a"))
            .item("sk", AttributeValue::S(sk))
            .send()
    };
    put2("s".repeat(1024)).await.expect("1024-byte sort key");
    expect_validation(
        put2("s".repeat(1025)).await,
        "range key",
        "1025-byte sort key",
    );
    expect_validation(
        try_put(item([("pk", s(""))])).await,
        "empty string",
        "an empty key",
    );
    try_put(item([("pk", s("e")), ("blank", s(""))]))
        .await
        .expect("an empty non-key string is allowed");

    // 32 levels of nesting.
    let nested = |depth: usize| {
        let mut v = s("leaf");
        for i in 0..depth {
            v = if i % 2 == 0 {
                l(vec![v])
            } else {
                m([("k", v)])
            };
        }
        item([("pk", s("deep")), ("v", v)])
    };
    try_put(nested(32)).await.expect("32 levels");
    expect_validation(
        try_put(nested(33)).await,
        "Nesting Levels have exceeded supported limits",
        "33 levels",
    );

    // 4096 bytes of expression.
    let cond = |len: usize| {
        let base = "attribute_not_exists(pk)";
        format!("{base}{}", " ".repeat(len - base.len()))
    };
    c.put_item()
        .table_name("lim")
        .item("pk", s("expr"))
        .condition_expression(cond(4096))
        .send()
        .await
        .expect("a 4096-byte expression");
    expect_validation(
        c.put_item()
            .table_name("lim")
            .item("pk", s("expr2"))
            .condition_expression(cond(4097))
            .send()
            .await,
        "Expression size has exceeded the maximum allowed size",
        "a 4097-byte expression",
    );

    // Sets are never empty and never hold duplicates.
    for (what, v, message) in [
        (
            "SS",
            AttributeValue::Ss(vec![]),
            "One or more parameter values were invalid: An string set  may not be empty",
        ),
        (
            "NS",
            AttributeValue::Ns(vec![]),
            "One or more parameter values were invalid: An number set  may not be empty",
        ),
        (
            "BS",
            AttributeValue::Bs(vec![]),
            "One or more parameter values were invalid: Binary sets should not be empty",
        ),
    ] {
        expect_validation(
            try_put(item([("pk", s("set")), ("v", v)])).await,
            message,
            what,
        );
    }
    expect_validation(
        c.update_item()
            .table_name("lim")
            .key("pk", s("set"))
            .update_expression("SET v = :e")
            .expression_attribute_values(":e", AttributeValue::Ss(vec![]))
            .send()
            .await,
        "",
        "an empty set as an expression value",
    );
    expect_validation(
        try_put(item([("pk", s("set")), ("v", ss(&["a", "a"]))])).await,
        "duplicates",
        "a set with duplicates",
    );

    // Numbers: 38 significant digits, magnitude 1E-130 to 9.99…E+125.
    let digits38 = "12345678901234567890123456789012345678";
    try_put(item([("pk", s("num")), ("v", n(digits38))]))
        .await
        .expect("38 digits");
    expect_validation(
        try_put(item([("pk", s("num")), ("v", n(format!("{digits38}9")))])).await,
        "Attempting to store more than 38 significant digits",
        "39 digits",
    );
    try_put(item([
        ("pk", s("num")),
        ("v", n(format!("1{}", "0".repeat(40)))),
    ]))
    .await
    .expect("trailing zeros are not significant digits");
    try_put(item([("pk", s("num")), ("v", n("9.9E+125"))]))
        .await
        .expect("9.9E+125");
    expect_validation(
        try_put(item([("pk", s("num")), ("v", n("1E+126"))])).await,
        "Number overflow",
        "1E+126",
    );
    expect_validation(
        try_put(item([("pk", s("num")), ("v", n("1E-131"))])).await,
        "Number underflow",
        "1E-131",
    );
    expect_validation(
        try_put(item([("pk", s("num")), ("v", n("12abc"))])).await,
        "",
        "not a number",
    );
    cluster.shutdown().await;
}

/// The cancellation reasons of a TransactWriteItems that must fail with
/// `TransactionCanceledException`: (code, has a message) per action.
fn reasons_of(
    r: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
    >,
    what: &str,
) -> Vec<(String, Option<String>)> {
    match r.map_err(|e| e.into_service_error()) {
        Err(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| {
                (
                    r.code().unwrap_or_default().to_string(),
                    r.message().map(str::to_string),
                )
            })
            .collect(),
        other => panic!("{what}: expected TransactionCanceledException, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_numbers_start_keys_transactions_and_http_limits_are_dynamodbs() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "hko", ("p", ScalarAttributeType::S), None).await;
    create_table(
        &c,
        "hsk",
        ("p", ScalarAttributeType::S),
        Some(("c", ScalarAttributeType::N)),
    )
    .await;
    put(&c, "hko", item([("p", s("k")), ("a", n(1)), ("b", n(2))])).await;

    // Parentheses nest as deep as 300 operators allow: 149 levels hold 299.
    let cond = |text: String| {
        c.update_item()
            .table_name("hko")
            .key("p", s("k"))
            .update_expression("SET z = :v")
            .expression_attribute_values(":v", n(1))
            .condition_expression(text)
            .send()
    };
    let nested = |depth: usize| format!("a<b {}{}", "or (a<b ".repeat(depth), ")".repeat(depth));
    cond(nested(149)).await.expect("149 nested levels");
    expect_validation(
        cond(nested(150)).await,
        "The expression contains too many operators; operator count: 301",
        "150 levels, 301 operators",
    );
    // Pathological nesting is refused, never a crash of the region.
    for (text, says) in [
        (
            format!("{}a<b{}", "(".repeat(2045), ")".repeat(2045)),
            "redundant parentheses",
        ),
        ("(".repeat(4096), "Syntax error; token: \"<EOF>\""),
        (
            "(".repeat(100_000),
            "Expression size has exceeded the maximum allowed size",
        ),
        (
            format!("a < {}b{}", "size(".repeat(680), ")".repeat(680)),
            "too many operators",
        ),
    ] {
        expect_validation(cond(text).await, says, says);
    }
    assert!(
        get(&c, "hko", item([("p", s("k"))])).await.is_some(),
        "the region still answers"
    );

    // Numbers come back in plain digits, whatever notation went in.
    for (input, plain) in [
        ("1e125", format!("1{}", "0".repeat(125))),
        ("-1.5E-3", "-0.0015".to_string()),
        ("+007.50", "7.5".to_string()),
    ] {
        put(&c, "hko", item([("p", s(input)), ("x", n(input))])).await;
        let got = get(&c, "hko", item([("p", s(input))]))
            .await
            .expect("the item");
        assert_eq!(got["x"], n(&plain), "{input}");
    }

    // A parallel Scan's start key must lie in its segment.
    let mut outside = None;
    for i in 0..50 {
        let key = format!("seg{i}");
        let r = c
            .scan()
            .table_name("hko")
            .segment(0)
            .total_segments(2)
            .exclusive_start_key("p", s(&key))
            .send()
            .await;
        if r.is_err() {
            outside = Some((key, r));
            break;
        }
    }
    let (_, r) = outside.expect("some key of 50 hashes to segment 1");
    expect_validation(
        r,
        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: 0",
        "a start key of segment 1 for segment 0",
    );

    // Query start keys: never on a hash-only table, whose pages never
    // offer one, so a paginator stops after its one item; in the queried
    // partition otherwise.
    let page = c
        .query()
        .table_name("hko")
        .key_condition_expression("p = :p")
        .expression_attribute_values(":p", s("k"))
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.count, 1);
    assert_eq!(page.last_evaluated_key, None);
    expect_validation(
        c.query()
            .table_name("hko")
            .key_condition_expression("p = :p")
            .expression_attribute_values(":p", s("k"))
            .exclusive_start_key("p", s("k"))
            .send()
            .await,
        "The provided exclusive start key is invalid: ExclusiveStartKey: {p=AttributeValue: {S:k}}",
        "a start key on a hash-only table",
    );
    expect_validation(
        c.query()
            .table_name("hsk")
            .key_condition_expression("p = :p")
            .expression_attribute_values(":p", s("right"))
            .exclusive_start_key("p", s("wrong"))
            .exclusive_start_key("c", n(0))
            .send()
            .await,
        "The provided starting key is outside query boundaries based on provided conditions",
        "a start key in another partition",
    );

    // A transaction action's own invalid data cancels the transaction with
    // a ValidationError at its index; the others are None, unchecked.
    let reasons = reasons_of(
        c.transact_write_items()
            .transact_items(tx_put("hko", item([("p", s("t0"))])))
            .transact_items(tx_put("hko", item([("p", n(7))])))
            .transact_items(tx_put("hko", item([("p", n(8))])))
            .send()
            .await,
        "a key of the wrong type",
    );
    let codes: Vec<&str> = reasons.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["None", "ValidationError", "None"]);
    assert!(
        reasons[1]
            .1
            .as_deref()
            .is_some_and(|m| m.contains("Type mismatch for key p")),
        "{reasons:?}"
    );
    assert!(reasons[0].1.is_none() && reasons[2].1.is_none());
    put(&c, "hko", item([("p", s("str")), ("s", s("text"))])).await;
    let add_to_string = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name("hko")
                .key("p", s("str"))
                .update_expression("ADD s :one")
                .expression_attribute_values(":one", n(1))
                .build()
                .unwrap(),
        )
        .build();
    let reasons = reasons_of(
        c.transact_write_items()
            .transact_items(tx_put("hko", item([("p", s("t1"))])))
            .transact_items(add_to_string.clone())
            .send()
            .await,
        "ADD to a string at run time",
    );
    let codes: Vec<&str> = reasons.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["None", "ValidationError"], "{reasons:?}");
    assert!(reasons[1].1.is_some());
    assert!(
        get(&c, "hko", item([("p", s("t1"))])).await.is_none(),
        "nothing written"
    );
    let reasons = reasons_of(
        c.transact_write_items()
            .transact_items(add_to_string)
            .send()
            .await,
        "one action",
    );
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].0, "ValidationError");

    // A transaction request is at most 4 MB; its items may weigh more.
    let big = |i: usize| {
        tx_put(
            "hko",
            item([("p", s(&format!("big{i}"))), ("x", s(&"x".repeat(100_000)))]),
        )
    };
    let mut five = c.transact_write_items();
    for i in 0..50 {
        five = five.transact_items(big(i));
    }
    expect_validation(
        five.send().await,
        "Transaction payload size cannot exceed 4 MB",
        "5 MB",
    );
    let mut three = c.transact_write_items();
    for i in 0..30 {
        three = three.transact_items(big(i));
    }
    three.send().await.expect("3 MB of puts");

    // HTTP: a request line or headers past 16 KB answer a plain 400.
    let addr = cluster.nodes[0].dynamo_addr;
    let post = |path: String, extra: Vec<(&'static str, String)>| async move {
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
        ];
        headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        http::request(
            &http::Target::at(&addr.to_string(), &path),
            "POST",
            &headers,
            b"{}".to_vec(),
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        .expect("an answer within 10 s")
        .status
    };
    assert_eq!(post("/".into(), vec![("x-a", "a".repeat(8000))]).await, 200);
    assert_eq!(
        post(
            "/".into(),
            vec![("x-a", "a".repeat(8192)), ("x-b", "b".repeat(8192))]
        )
        .await,
        400
    );
    assert_eq!(post(format!("/{}", "x".repeat(17_000)), vec![]).await, 400);
    assert_eq!(post("/garbage".into(), vec![]).await, 404);
    cluster.shutdown().await;
}

// ---- 8. transactions -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_all_or_nothing_once_per_token() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "acct", ("pk", ScalarAttributeType::S), None).await;
    create_table(&c, "audit", ("pk", ScalarAttributeType::S), None).await;
    batch_put(
        &c,
        "acct",
        vec![
            item([("pk", s("a")), ("bal", n(100))]),
            item([("pk", s("b")), ("bal", n(0))]),
            item([("pk", s("gone")), ("bal", n(1))]),
            item([("pk", s("lock")), ("open", AttributeValue::Bool(true))]),
        ],
    )
    .await;
    let key = |k: &str| item([("pk", s(k))]);
    let transfer = |amount: i64, token: Option<&str>| {
        c.transact_write_items()
            .set_client_request_token(token.map(str::to_string))
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("acct")
                            .key("pk", s("a"))
                            .update_expression("SET bal = bal - :amt")
                            .condition_expression("bal >= :amt")
                            .expression_attribute_values(":amt", n(amount))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("acct")
                            .key("pk", s("b"))
                            .update_expression("ADD bal :amt")
                            .expression_attribute_values(":amt", n(amount))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name("acct")
                            .key("pk", s("lock"))
                            .condition_expression("#o = :t")
                            .expression_attribute_names("#o", "open")
                            .expression_attribute_values(":t", AttributeValue::Bool(true))
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::AllOld,
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
    };
    let bal = |k: &'static str| {
        let c = c.clone();
        async move {
            get(&c, "acct", item([("pk", s(k))]))
                .await
                .and_then(|i| i.get("bal").cloned())
        }
    };

    // Put, Update, Delete and ConditionCheck over two tables, together.
    c.transact_write_items()
        .transact_items(tx_put(
            "audit",
            item([("pk", s("t1")), ("what", s("open"))]),
        ))
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("acct")
                        .key("pk", s("gone"))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("acct")
                        .item("pk", s("c"))
                        .item("bal", n(5))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("a mixed transaction");
    assert!(get(&c, "acct", key("gone")).await.is_none());
    assert_eq!(bal("c").await, Some(n(5)));
    assert!(get(&c, "audit", key("t1")).await.is_some());
    transfer(30, None).await.expect("a transfer");
    assert_eq!((bal("a").await, bal("b").await), (Some(n(70)), Some(n(30))));

    // A failing condition cancels everything; reasons come in order.
    let err = transfer(500, None).await.unwrap_err().into_service_error();
    match &err {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            let codes: Vec<Option<&str>> =
                e.cancellation_reasons().iter().map(|r| r.code()).collect();
            assert_eq!(
                codes,
                [Some("ConditionalCheckFailed"), Some("None"), Some("None")],
                "{e:?}"
            );
            assert!(
                e.cancellation_reasons()[0].item().is_none(),
                "not asked for"
            );
        }
        other => panic!("expected TransactionCanceledException, got {other:?}"),
    }
    assert_eq!((bal("a").await, bal("b").await), (Some(n(70)), Some(n(30))));
    put(
        &c,
        "acct",
        item([("pk", s("lock")), ("open", AttributeValue::Bool(false))]),
    )
    .await;
    let err = transfer(10, None).await.unwrap_err().into_service_error();
    match &err {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            let r = e.cancellation_reasons();
            let codes: Vec<Option<&str>> = r.iter().map(|r| r.code()).collect();
            assert_eq!(
                codes,
                [Some("None"), Some("None"), Some("ConditionalCheckFailed")]
            );
            assert_item(
                r[2].item(),
                &item([("pk", s("lock")), ("open", AttributeValue::Bool(false))]),
                "ALL_OLD in the cancellation reason",
            );
        }
        other => panic!("expected TransactionCanceledException, got {other:?}"),
    }
    assert_eq!((bal("a").await, bal("b").await), (Some(n(70)), Some(n(30))));
    put(
        &c,
        "acct",
        item([("pk", s("lock")), ("open", AttributeValue::Bool(true))]),
    )
    .await;

    // ClientRequestToken: the same request twice applies once; another
    // request with the token is refused.
    transfer(1, Some("tok-1"))
        .await
        .expect("first use of a token");
    transfer(1, Some("tok-1"))
        .await
        .expect("the same request again");
    assert_eq!((bal("a").await, bal("b").await), (Some(n(69)), Some(n(31))));
    let err = transfer(2, Some("tok-1"))
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_idempotent_parameter_mismatch_exception(), "{err:?}");
    assert_eq!((bal("a").await, bal("b").await), (Some(n(69)), Some(n(31))));
    transfer(1, Some("tok-2")).await.expect("a new token");
    assert_eq!((bal("a").await, bal("b").await), (Some(n(68)), Some(n(32))));

    // 100 actions at most; one item once per transaction.
    let many = |count: usize| {
        let mut req = c.transact_write_items();
        for i in 0..count {
            req = req.transact_items(tx_put("audit", item([("pk", s(&format!("m{i:03}")))])));
        }
        req.send()
    };
    many(100).await.expect("100 actions");
    assert!(get(&c, "audit", key("m099")).await.is_some());
    expect_validation(many(101).await, "transactItems", "101 actions");
    expect_validation(
        c.transact_write_items()
            .transact_items(tx_put("acct", item([("pk", s("a"))])))
            .transact_items(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name("acct")
                            .key("pk", s("a"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await,
        "multiple operations on one item",
        "one item twice",
    );
    assert_eq!(bal("a").await, Some(n(68)));

    // TransactGetItems: in order, missing items empty, projections apply.
    let out = c
        .transact_get_items()
        .transact_items(tx_get("acct", key("a")))
        .transact_items(tx_get("acct", key("nobody")))
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name("audit")
                        .key("pk", s("t1"))
                        .projection_expression("#w")
                        .expression_attribute_names("#w", "what")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = out.responses();
    assert_eq!(r.len(), 3);
    assert_item(
        r[0].item(),
        &item([("pk", s("a")), ("bal", n(68))]),
        "first get",
    );
    assert!(r[1].item().is_none(), "a missing item: {:?}", r[1]);
    assert_item(r[2].item(), &item([("what", s("open"))]), "projected get");
    let mut too_many = c.transact_get_items();
    for i in 0..101 {
        too_many = too_many.transact_items(tx_get("audit", key(&format!("m{i:03}"))));
    }
    expect_validation(too_many.send().await, "transactItems", "101 gets");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_applies_atomically_in_every_peer() {
    let cluster = TestCluster::start(&REGIONS).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "pairs", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("pairs").await;
    const ROUNDS: u32 = 30;
    let writing = Arc::new(AtomicBool::new(true));

    // Region 1 reads both items together, as fast as it can, until it has
    // seen the last round or its bounds run out.
    let reader = {
        let c = cs[1].clone();
        let writing = writing.clone();
        tokio::spawn(async move {
            let (mut pairs, mut torn) = (0u32, Vec::new());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            for _ in 0..50_000 {
                if tokio::time::Instant::now() > deadline {
                    break;
                }
                let still_writing = writing.load(Ordering::SeqCst);
                let out = c
                    .transact_get_items()
                    .transact_items(tx_get("pairs", item([("pk", s("a"))])))
                    .transact_items(tx_get("pairs", item([("pk", s("b"))])))
                    .send()
                    .await
                    .expect("TransactGetItems in region 1");
                let v = |i: usize| out.responses()[i].item().map(|it| it["v"].clone());
                match (v(0), v(1)) {
                    (None, None) => {}
                    (Some(a), Some(b)) => {
                        pairs += 1;
                        if a != b {
                            torn.push((Some(a), Some(b)));
                        } else if a == n(ROUNDS) && !still_writing {
                            break;
                        }
                    }
                    // Both were created by the first transaction.
                    (a, b) => torn.push((a, b)),
                }
            }
            (pairs, torn)
        })
    };
    for round in 1..=ROUNDS {
        cs[0]
            .transact_write_items()
            .transact_items(tx_put("pairs", item([("pk", s("a")), ("v", n(round))])))
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("pairs")
                            .key("pk", s("b"))
                            .update_expression("SET v = :v")
                            .expression_attribute_values(":v", n(round))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("a transaction in region 0");
    }
    writing.store(false, Ordering::SeqCst);
    let (pairs, torn) = reader.await.expect("reader");
    assert!(
        torn.is_empty(),
        "region 1 saw a transaction half applied: {torn:?}"
    );
    assert!(pairs > 0, "region 1 never saw the pair");
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("the last round in region {i}"), || async {
            let a = try_get(c, "pairs", item([("pk", s("a"))])).await;
            let b = try_get(c, "pairs", item([("pk", s("b"))])).await;
            let last = Some(item([("pk", s("a")), ("v", n(ROUNDS))]));
            a == Ok(last) && b == Ok(Some(item([("pk", s("b")), ("v", n(ROUNDS))])))
        })
        .await;
    }
    cluster.shutdown().await;
}

// ---- 9. TTL ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expires_items_in_every_region_without_conflicts() {
    let mut cluster = TestCluster::start(&REGIONS).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "sessions", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("sessions").await;
    let ttl = cs[0]
        .describe_time_to_live()
        .table_name("sessions")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.time_to_live_status()),
        Some(&TimeToLiveStatus::Disabled)
    );
    let spec = |enabled: bool| {
        TimeToLiveSpecification::builder()
            .enabled(enabled)
            .attribute_name("expires_at")
            .build()
            .unwrap()
    };
    let out = cs[0]
        .update_time_to_live()
        .table_name("sessions")
        .time_to_live_specification(spec(true))
        .send()
        .await
        .unwrap();
    let echoed = out.time_to_live_specification().expect("the specification");
    assert!(echoed.enabled());
    assert_eq!(echoed.attribute_name(), "expires_at");
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("TTL enabled in region {i}"), || async {
            let out = c
                .describe_time_to_live()
                .table_name("sessions")
                .send()
                .await
                .unwrap();
            let d = out.time_to_live_description();
            d.and_then(|d| d.time_to_live_status()) == Some(&TimeToLiveStatus::Enabled)
                && d.and_then(|d| d.attribute_name()) == Some("expires_at")
        })
        .await;
    }
    expect_validation(
        cs[1]
            .update_time_to_live()
            .table_name("sessions")
            .time_to_live_specification(spec(true))
            .send()
            .await,
        "already enabled",
        "enabling TTL twice",
    );

    // Items that expire soon reach every region first; past ones may be
    // reaped where they were written before they ever replicate.
    let now = now_secs();
    let soon: Vec<String> = (0..10).map(|i| format!("soon-{i}")).collect();
    let past: Vec<String> = (0..5).map(|i| format!("past-{i}")).collect();
    let mut items: Vec<Item> = soon
        .iter()
        .map(|k| item([("pk", s(k)), ("expires_at", n(now + 3))]))
        .collect();
    items.extend(
        past.iter()
            .map(|k| item([("pk", s(k)), ("expires_at", n(now - 60))])),
    );
    items.push(item([("pk", s("future")), ("expires_at", n(now + 3600))]));
    items.push(item([("pk", s("text")), ("expires_at", s("yesterday"))]));
    items.push(item([("pk", s("none")), ("other", n(1))]));
    batch_put(&cs[0], "sessions", items).await;
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("every soon item in region {i}"), || async {
            for k in &soon {
                if !matches!(
                    try_get(c, "sessions", item([("pk", s(k))])).await,
                    Ok(Some(_))
                ) {
                    return false;
                }
            }
            true
        })
        .await;
    }
    let expiring: Vec<&String> = soon.iter().chain(&past).collect();
    let all_gone = |c: Client| {
        let expiring = expiring.clone();
        async move {
            for k in expiring {
                if try_get(&c, "sessions", item([("pk", s(k))])).await != Ok(None) {
                    return false;
                }
            }
            true
        }
    };
    // Make two regions expire the same items independently: region 1 is
    // down while 0 and 2 expire them, then alone (0 and 2 down) while it
    // expires its own copies. Its tombstones then meet theirs.
    cluster.crash(1).await;
    for i in [0, 2] {
        poll_until(
            &format!("expired items gone in region {i}"),
            Duration::from_secs(20),
            || all_gone(cs[i].clone()),
        )
        .await;
    }
    cluster.crash(0).await;
    cluster.crash(2).await;
    cluster.restart(1).await;
    poll_until(
        "region 1 expires its own copies",
        Duration::from_secs(20),
        || all_gone(client(cluster.dynamo_url(1))),
    )
    .await;
    cluster.restart(0).await;
    cluster.restart(2).await;
    let cs = clients(&cluster);
    cluster
        .wait_quiescent("sessions", Duration::from_secs(20))
        .await
        .expect("quiescent");
    for (i, c) in cs.iter().enumerate() {
        for k in ["future", "text", "none"] {
            assert!(
                get(c, "sessions", item([("pk", s(k))])).await.is_some(),
                "{k} must survive in region {i}"
            );
        }
        let out = c
            .scan()
            .table_name("sessions")
            .select(Select::Count)
            .send()
            .await
            .unwrap();
        assert_eq!(out.count(), 3, "region {i}");
        let conflicts = cluster.conflicts(i, "sessions").await;
        assert!(
            conflicts.is_empty(),
            "TTL expiry is not a conflict, region {i}: {conflicts:?}"
        );
    }
    // Each region's own log shows which expiries it made: every soon item
    // was expired both by region 1 and by region 0 or 2.
    let expired_by = |i: usize| -> BTreeSet<Vec<u8>> {
        let reader =
            meridian_store::open_reader(&cluster.nodes[i].config.data_dir).expect("open reader");
        reader
            .log_after(0, 1_000_000, usize::MAX)
            .expect("read log")
            .into_iter()
            .filter(|e| e.table == "sessions" && e.ttl && e.image.is_none())
            .map(|e| e.key.partition)
            .collect()
    };
    let (by0, by1, by2) = (expired_by(0), expired_by(1), expired_by(2));
    let twice = by1
        .iter()
        .filter(|k| by0.contains(*k) || by2.contains(*k))
        .count();
    assert!(
        twice >= soon.len(),
        "{twice} items expired in two regions; want every soon item ({})",
        soon.len()
    );

    // Disabling replicates too; an expired item then stays.
    cs[2]
        .update_time_to_live()
        .table_name("sessions")
        .time_to_live_specification(spec(false))
        .send()
        .await
        .unwrap();
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("TTL disabled in region {i}"), || async {
            let out = c
                .describe_time_to_live()
                .table_name("sessions")
                .send()
                .await
                .unwrap();
            out.time_to_live_description()
                .and_then(|d| d.time_to_live_status())
                == Some(&TimeToLiveStatus::Disabled)
        })
        .await;
    }
    cluster.shutdown().await;
}

// ---- 10. cross-region ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_replicate_and_conflicts_converge_to_the_greater_version() {
    let mut cluster = TestCluster::start(&REGIONS).await;
    let cs = clients(&cluster);
    create_table(&cs[0], "geo", ("pk", ScalarAttributeType::S), None).await;
    cluster.wait_table_everywhere("geo").await;
    let key = |k: &str| item([("pk", s(k))]);

    // Written in one region, read in the others.
    let doc = item([("pk", s("doc")), ("body", s("hello")), ("rev", n(1))]);
    put(&cs[0], "geo", doc.clone()).await;
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("doc in region {i}"), || async {
            try_get(c, "geo", key("doc")).await == Ok(Some(doc.clone()))
        })
        .await;
    }
    cs[2]
        .update_item()
        .table_name("geo")
        .key("pk", s("doc"))
        .update_expression("SET rev = rev + :one")
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .unwrap();
    poll("the update from region 2 in region 0", || async {
        try_get(&cs[0], "geo", key("doc"))
            .await
            .ok()
            .flatten()
            .map(|i| i["rev"].clone())
            == Some(n(2))
    })
    .await;
    cs[1]
        .delete_item()
        .table_name("geo")
        .key("pk", s("doc"))
        .send()
        .await
        .unwrap();
    for (i, c) in cs.iter().enumerate() {
        poll(&format!("the delete in region {i}"), || async {
            try_get(c, "geo", key("doc")).await == Ok(None)
        })
        .await;
    }

    // A region that was down catches up through the SDK endpoint too.
    cluster.crash(2).await;
    let missed = item([("pk", s("missed")), ("v", n(1))]);
    put(&cs[0], "geo", missed.clone()).await;
    cluster.restart(2).await;
    let c2 = client(cluster.dynamo_url(2));
    poll("region 2 catches up after a restart", || async {
        try_get(&c2, "geo", key("missed")).await == Ok(Some(missed.clone()))
    })
    .await;

    // Concurrent writes to one key in two regions until they conflict.
    let mut found = Vec::new();
    let mut rounds = 0;
    let started = tokio::time::Instant::now();
    while found.is_empty() && rounds < 40 && started.elapsed() < Duration::from_secs(30) {
        rounds += 1;
        let w = |i: usize| {
            cs[i]
                .put_item()
                .table_name("geo")
                .item("pk", s("hot"))
                .item("from", s(REGIONS[i]))
                .item("round", n(rounds))
                .send()
        };
        let (a, b) = tokio::join!(w(0), w(1));
        a.expect("write in region 0");
        b.expect("write in region 1");
        cluster
            .wait_quiescent("geo", Duration::from_secs(20))
            .await
            .expect("quiescent");
        for i in 0..REGIONS.len() {
            found.extend(cluster.conflicts(i, "geo").await);
        }
    }
    assert!(
        !found.is_empty(),
        "no conflict recorded after {rounds} rounds of concurrent writes"
    );
    let pk_of = |img: &Option<meridian_core::Item>| match img.as_ref().and_then(|i| i.get("pk")) {
        Some(AttrValue::S(k)) => k.clone(),
        other => panic!("conflict image without a string pk: {other:?}"),
    };
    let from_of = |img: &Option<meridian_core::Item>| match img.as_ref().and_then(|i| i.get("from"))
    {
        Some(AttrValue::S(r)) => r.clone(),
        other => panic!("conflict image without a region: {other:?}"),
    };
    // Every region holds the same item: the winner of the conflict.
    let finals: Vec<Option<Item>> = {
        let mut v = Vec::new();
        for c in [&cs[0], &cs[1], &c2] {
            v.push(get(c, "geo", key("hot")).await);
        }
        v
    };
    assert!(
        finals.windows(2).all(|w| w[0] == w[1]),
        "regions differ: {finals:?}"
    );
    let last = finals[0].clone().expect("the hot item exists");
    assert_eq!(last["round"], n(rounds));
    for conflict in &found {
        assert_eq!(conflict.table, "geo");
        assert_eq!(pk_of(&conflict.winner_image), "hot");
        assert_eq!(pk_of(&conflict.loser_image), "hot");
        assert!(
            conflict.winner > conflict.loser,
            "the winner has the greater version: {conflict:?}"
        );
        assert_ne!(
            from_of(&conflict.winner_image),
            from_of(&conflict.loser_image),
            "the two writes came from two regions"
        );
        assert_eq!(
            from_of(&conflict.winner_image),
            str_of(&last, "from"),
            "every region kept the winner: {conflict:?}"
        );
        assert_eq!(conflict.winner.origin, str_of(&last, "from"));
    }
    for i in 0..REGIONS.len() {
        let heads = cluster.heads(i, "geo");
        let hot = heads
            .values()
            .find(|h| {
                h.image
                    .as_ref()
                    .is_some_and(|img| img.get("pk") == Some(&AttrValue::S("hot".into())))
            })
            .expect("the hot head");
        assert_eq!(
            hot.version, found[0].winner,
            "region {i} keeps the greater version"
        );
    }
    cluster.shutdown().await;
}

/// Two identical transactions sent at once with one ClientRequestToken (an
/// SDK retry racing its first attempt) apply exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_request_token_applies_once_even_when_requests_race() {
    let cluster = TestCluster::start(&["us-east-1"]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "race", ("pk", ScalarAttributeType::S), None).await;
    for round in 0..20 {
        let send = || {
            let c = c.clone();
            async move {
                c.transact_write_items()
                    .client_request_token(format!("race-{round}"))
                    .transact_items(
                        TransactWriteItem::builder()
                            .update(
                                aws_sdk_dynamodb::types::Update::builder()
                                    .table_name("race")
                                    .key("pk", s("k"))
                                    .update_expression("ADD n :one")
                                    .expression_attribute_values(":one", n(1))
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send()
                    .await
            }
        };
        let (a, b) = tokio::join!(send(), send());
        for r in [&a, &b] {
            if let Err(e) = r {
                let code = e
                    .as_service_error()
                    .and_then(|s| s.meta().code())
                    .unwrap_or_default();
                assert_eq!(
                    code, "TransactionInProgressException",
                    "round {round}: {e:?}"
                );
            }
        }
        assert!(
            a.is_ok() || b.is_ok(),
            "round {round}: one of the two must succeed"
        );
        let got = get(&c, "race", item([("pk", s("k"))]))
            .await
            .expect("the item exists");
        assert_eq!(
            got.get("n"),
            Some(&n(round + 1)),
            "round {round}: applied exactly once"
        );
    }
    cluster.shutdown().await;
}

// ---- legacy parameters, Select, limits -------------------------------------

fn legacy_cond(op: ComparisonOperator, values: Vec<AttributeValue>) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .set_attribute_value_list(Some(values))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_parameters_read_and_write_through_the_expression_engine() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "legacy",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    batch_put(
        &c,
        "legacy",
        (0..10)
            .map(|i| {
                item([
                    ("pk", s("p")),
                    ("sk", n(i)),
                    ("num", n(i % 3)),
                    ("tag", s(&format!("t{i}"))),
                ])
            })
            .collect(),
    )
    .await;
    let key = |i: u32| item([("pk", s("p")), ("sk", n(i))]);

    // Expected: Exists/Value, then ComparisonOperator with ConditionalOperator.
    let exp_value = |v: AttributeValue| ExpectedAttributeValue::builder().value(v).build();
    let failed = c
        .put_item()
        .table_name("legacy")
        .set_item(Some(item([("pk", s("p")), ("sk", n(1)), ("num", n(100))])))
        .expected("num", exp_value(n(2)))
        .send()
        .await;
    expect_code(
        failed,
        "ConditionalCheckFailedException",
        "Expected num = 2 on num 1",
    );
    c.put_item()
        .table_name("legacy")
        .set_item(Some(item([("pk", s("p")), ("sk", n(1)), ("num", n(100))])))
        .expected("num", exp_value(n(1)))
        .expected(
            "gone",
            ExpectedAttributeValue::builder().exists(false).build(),
        )
        .send()
        .await
        .expect("Expected num = 1 and gone missing");
    assert_eq!(get(&c, "legacy", key(1)).await.unwrap()["num"], n(100));
    let cmp = |op: ComparisonOperator, v: Vec<AttributeValue>| {
        ExpectedAttributeValue::builder()
            .comparison_operator(op)
            .set_attribute_value_list(Some(v))
            .build()
    };
    let failed = c
        .delete_item()
        .table_name("legacy")
        .set_key(Some(key(2)))
        .expected("num", cmp(ComparisonOperator::Gt, vec![n(5)]))
        .expected("tag", cmp(ComparisonOperator::BeginsWith, vec![s("x")]))
        .send()
        .await;
    expect_code(
        failed,
        "ConditionalCheckFailedException",
        "AND of two false",
    );
    c.delete_item()
        .table_name("legacy")
        .set_key(Some(key(2)))
        .expected("num", cmp(ComparisonOperator::Gt, vec![n(5)]))
        .expected("tag", cmp(ComparisonOperator::BeginsWith, vec![s("t")]))
        .conditional_operator(ConditionalOperator::Or)
        .send()
        .await
        .expect("OR with one true");
    assert_eq!(get(&c, "legacy", key(2)).await, None);

    // AttributeUpdates: PUT, ADD to a number, a set and a list, DELETE.
    let upd = |action: AttributeAction, v: Option<AttributeValue>| {
        AttributeValueUpdate::builder()
            .action(action)
            .set_value(v)
            .build()
    };
    let out = c
        .update_item()
        .table_name("legacy")
        .set_key(Some(key(3)))
        .attribute_updates("num", upd(AttributeAction::Add, Some(n(10))))
        .attribute_updates("tags", upd(AttributeAction::Add, Some(ss(&["a", "b"]))))
        .attribute_updates("log", upd(AttributeAction::Add, Some(l(vec![s("one")]))))
        .attribute_updates("tag", upd(AttributeAction::Delete, None))
        .attribute_updates("note", upd(AttributeAction::Put, Some(s("hi"))))
        .expected("num", exp_value(n(0)))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("legacy update");
    let want = item([
        ("pk", s("p")),
        ("sk", n(3)),
        ("num", n(10)),
        ("tags", ss(&["a", "b"])),
        ("log", l(vec![s("one")])),
        ("note", s("hi")),
    ]);
    assert_item(out.attributes(), &want, "ALL_NEW after AttributeUpdates");
    c.update_item()
        .table_name("legacy")
        .set_key(Some(key(3)))
        .attribute_updates("tags", upd(AttributeAction::Delete, Some(ss(&["a"]))))
        .attribute_updates("log", upd(AttributeAction::Add, Some(l(vec![s("two")]))))
        .send()
        .await
        .expect("DELETE set member, append to list");
    let got = get(&c, "legacy", key(3)).await.unwrap();
    assert_eq!(norm(&got["tags"]), ss(&["b"]));
    assert_eq!(got["log"], l(vec![s("one"), s("two")]));
    expect_validation(
        c.update_item()
            .table_name("legacy")
            .set_key(Some(key(3)))
            .attribute_updates("note", upd(AttributeAction::Add, Some(s("x"))))
            .send()
            .await,
        "One or more parameter values were invalid: ADD action is not supported for the type S",
        "ADD of a string",
    );
    expect_validation(
        c.update_item()
            .table_name("legacy")
            .set_key(Some(key(3)))
            .attribute_updates("sk", upd(AttributeAction::Put, Some(n(9))))
            .send()
            .await,
        "Cannot update attribute sk. This attribute is part of the key",
        "PUT of a key attribute",
    );

    // KeyConditions, QueryFilter, AttributesToGet.
    let q = c
        .query()
        .table_name("legacy")
        .key_conditions("pk", legacy_cond(ComparisonOperator::Eq, vec![s("p")]))
        .key_conditions(
            "sk",
            legacy_cond(ComparisonOperator::Between, vec![n(4), n(9)]),
        )
        .query_filter("num", legacy_cond(ComparisonOperator::In, vec![n(0), n(2)]))
        .attributes_to_get("sk")
        .send()
        .await
        .expect("legacy query");
    let sks: Vec<&str> = q
        .items()
        .iter()
        .map(|i| i["sk"].as_n().unwrap().as_str())
        .collect();
    assert_eq!(sks, ["5", "6", "8", "9"]);
    assert!(q.items().iter().all(|i| i.len() == 1), "{q:?}");
    expect_validation(
        c.query()
            .table_name("legacy")
            .key_conditions("pk", legacy_cond(ComparisonOperator::Eq, vec![s("p")]))
            .query_filter("sk", legacy_cond(ComparisonOperator::NotNull, vec![]))
            .send()
            .await,
        "QueryFilter can only contain non-primary key attributes: Primary key attribute: sk",
        "QueryFilter on a key",
    );

    // ScanFilter with OR, GetItem and BatchGetItem with AttributesToGet.
    let sc = c
        .scan()
        .table_name("legacy")
        .scan_filter("num", legacy_cond(ComparisonOperator::Eq, vec![n(100)]))
        .scan_filter(
            "tag",
            legacy_cond(ComparisonOperator::Contains, vec![s("9")]),
        )
        .conditional_operator(ConditionalOperator::Or)
        .send()
        .await
        .expect("legacy scan");
    let mut sks: Vec<&str> = sc
        .items()
        .iter()
        .map(|i| i["sk"].as_n().unwrap().as_str())
        .collect();
    sks.sort();
    assert_eq!(sks, ["1", "9"]);
    let got = c
        .get_item()
        .table_name("legacy")
        .set_key(Some(key(4)))
        .attributes_to_get("tag")
        .attributes_to_get("missing")
        .send()
        .await
        .unwrap();
    assert_item(
        got.item(),
        &item([("tag", s("t4"))]),
        "GetItem AttributesToGet",
    );
    let batch = c
        .batch_get_item()
        .request_items(
            "legacy",
            KeysAndAttributes::builder()
                .keys(key(4))
                .attributes_to_get("num")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        batch.responses().unwrap()["legacy"],
        vec![item([("num", n(1))])]
    );

    // The two forms may not meet in one request; argument rules are DynamoDB's.
    let msg = expect_code(
        c.get_item()
            .table_name("legacy")
            .set_key(Some(key(4)))
            .attributes_to_get("tag")
            .projection_expression("tag")
            .send()
            .await,
        "ValidationException",
        "mixed GetItem",
    );
    assert_eq!(
        msg,
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"
    );
    expect_validation(
        c.put_item()
            .table_name("legacy")
            .set_item(Some(key(4)))
            .expected("num", exp_value(n(1)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await,
        "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        "mixed PutItem",
    );
    expect_validation(
        c.scan()
            .table_name("legacy")
            .scan_filter("num", legacy_cond(ComparisonOperator::Between, vec![n(1)]))
            .send()
            .await,
        "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator",
        "BETWEEN with one argument",
    );
    expect_validation(
        c.scan()
            .table_name("legacy")
            .scan_filter("num", legacy_cond(ComparisonOperator::Lt, vec![ns(&["1"])]))
            .send()
            .await,
        "One or more parameter values were invalid: ComparisonOperator LT is not valid for NS AttributeValue type",
        "LT with a set",
    );
    expect_validation(
        c.put_item()
            .table_name("legacy")
            .set_item(Some(key(4)))
            .expected(
                "num",
                ExpectedAttributeValue::builder().exists(true).build(),
            )
            .send()
            .await,
        "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: num",
        "Exists without Value",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_is_checked_as_dynamodb_checks_it() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "sel", ("pk", ScalarAttributeType::S), None).await;
    put(&c, "sel", item([("pk", s("a")), ("x", n(1))])).await;
    let q = || {
        c.query()
            .table_name("sel")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("a"))
    };
    let counted = c
        .scan()
        .table_name("sel")
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!(counted.count(), 1);
    assert!(counted.items.is_none());
    let specific = q()
        .select(Select::SpecificAttributes)
        .projection_expression("x")
        .send()
        .await
        .unwrap();
    assert_eq!(specific.items(), [item([("x", n(1))])]);
    let all = q().select(Select::AllAttributes).send().await.unwrap();
    assert_eq!(all.items()[0].len(), 2);
    // (Select, ProjectionExpression, the message).
    let cases = [
        (
            Select::SpecificAttributes,
            None,
            "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        ),
        (
            Select::AllProjectedAttributes,
            None,
            "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ),
        (
            Select::Count,
            Some("x"),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get only the Count",
        ),
        (
            Select::AllAttributes,
            Some("x"),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES",
        ),
        (
            Select::AllProjectedAttributes,
            Some("x"),
            "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get ALL_PROJECTED_ATTRIBUTES",
        ),
    ];
    for (select, projection, want) in cases {
        let r = q()
            .select(select)
            .set_projection_expression(projection.map(String::from))
            .send()
            .await;
        assert_eq!(expect_code(r, "ValidationException", want), want);
    }
    // (Select, AttributesToGet, the message).
    let scan_cases = [
        (
            Select::SpecificAttributes,
            None,
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES",
        ),
        (
            Select::AllProjectedAttributes,
            None,
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        ),
        (
            Select::Count,
            Some("x"),
            "Cannot specify the AttributesToGet when choosing to get only the Count",
        ),
    ];
    for (select, attributes, want) in scan_cases {
        let r = c
            .scan()
            .table_name("sel")
            .select(select)
            .set_attributes_to_get(attributes.map(|a: &str| vec![a.to_string()]))
            .send()
            .await;
        assert_eq!(expect_code(r, "ValidationException", want), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_endpoints_and_limits_answer_in_dynamodbs_shape() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    let e = c.describe_endpoints().send().await.unwrap();
    assert_eq!(e.endpoints().len(), 1);
    // The address the client used, so discovery keeps it on this region.
    let url = cluster.dynamo_url(0);
    assert_eq!(
        e.endpoints()[0].address(),
        url.strip_prefix("http://").unwrap().trim_end_matches('/')
    );
    assert_eq!(e.endpoints()[0].cache_period_in_minutes(), 1440);
    let l = c.describe_limits().send().await.unwrap();
    assert_eq!(l.account_max_read_capacity_units(), Some(80000));
    assert_eq!(l.account_max_write_capacity_units(), Some(80000));
    assert_eq!(l.table_max_read_capacity_units(), Some(40000));
    assert_eq!(l.table_max_write_capacity_units(), Some(40000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_belong_to_each_regions_replica_with_dynamodbs_limits() {
    let cluster = TestCluster::start(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    let c = &cs[0];
    create_table_request(c, "tagged", ("pk", ScalarAttributeType::S), None)
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .send()
        .await
        .expect("create with tags");
    let arn = c
        .describe_table()
        .table_name("tagged")
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .table_arn()
        .unwrap()
        .to_string();
    let list = |c: &Client, arn: &str| {
        let (c, arn) = (c.clone(), arn.to_string());
        async move {
            let out = c
                .list_tags_of_resource()
                .resource_arn(arn)
                .send()
                .await
                .unwrap();
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<Vec<_>>()
        }
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(list(c, &arn).await, vec![pair("team", "core")]);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "prod"))
        .tags(tag("team", "edge"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        list(c, &arn).await,
        vec![pair("env", "prod"), pair("team", "edge")]
    );
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .tag_keys("absent")
        .send()
        .await
        .unwrap();
    assert_eq!(list(c, &arn).await, vec![pair("env", "prod")]);

    // The other region's replica has its own ARN and, as in DynamoDB, its own tags.
    let other = &cs[1];
    let other_arn = arn.replace(REGIONS[0], REGIONS[1]);
    poll("the table in the second region", || async {
        other
            .describe_table()
            .table_name("tagged")
            .send()
            .await
            .is_ok()
    })
    .await;
    // The stream carried the tag rows past the peer's checks: a later write arrives.
    put(c, "tagged", item([("pk", s("after-tags"))])).await;
    poll(
        "a write made after tagging reaches the second region",
        || async {
            try_get(other, "tagged", item([("pk", s("after-tags"))]))
                .await
                .is_ok_and(|i| i.is_some())
        },
    )
    .await;
    assert!(list(other, &other_arn).await.is_empty());
    let msg = expect_code(
        other
            .list_tags_of_resource()
            .resource_arn(&arn)
            .send()
            .await,
        "ResourceNotFoundException",
        "another region's ARN",
    );
    assert_eq!(
        msg,
        format!("Requested resource not found: ResourcArn: {arn} not found")
    );

    // DynamoDB's limits and messages.
    let tag_err = |tags: Vec<Tag>| {
        let c = c.clone();
        let arn = arn.clone();
        async move {
            let r = c
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await;
            expect_code(r, "ValidationException", "bad tags")
        }
    };
    let long_key = "k".repeat(129);
    let cases = [
        (
            vec![tag(&long_key, "v")],
            format!("The Tag Key provided is invalid, Key: {long_key}"),
        ),
        (
            vec![tag("a", &"v".repeat(257))],
            format!(
                "The Tag Value provided is invalid, Value: {}",
                "v".repeat(257)
            ),
        ),
        (
            vec![tag("aws:owner", "v")],
            "Tag Key cannot be prefixed with aws:, Key: aws:owner".to_string(),
        ),
        (
            vec![tag("a", "1"), tag("a", "2")],
            "Duplicate Tag Keys provided as input: Duplicate Tag Key found a".to_string(),
        ),
        (
            vec![tag("a%", "1")],
            "The Tag Key provided is invalid, Key: a%".to_string(),
        ),
        (
            vec![],
            "Atleast one Tag needs to be provided as Input.".to_string(),
        ),
        (
            (0..50).map(|i| tag(&format!("k{i}"), "v")).collect(),
            "Number of Tags exceed the current limit for the provided ResourceArn".to_string(),
        ),
    ];
    for (tags, want) in cases {
        assert_eq!(tag_err(tags).await, want);
    }
    assert_eq!(
        list(c, &arn).await,
        vec![pair("env", "prod")],
        "failed requests change nothing"
    );
    c.tag_resource()
        .resource_arn(&arn)
        .set_tags(Some((0..49).map(|i| tag(&format!("k{i}"), "")).collect()))
        .send()
        .await
        .expect("50 tags in all");
    assert_eq!(list(c, &arn).await.len(), 50);
    let msg = expect_code(
        c.tag_resource()
            .resource_arn("arn:aws:dynamodb:us-east-1:000000000000:table/x")
            .tags(tag("a", "b"))
            .send()
            .await,
        "ValidationException",
        "short table name",
    );
    assert_eq!(
        msg,
        "Invalid TableArn: Invalid ResourceArn provided as input arn:aws:dynamodb:us-east-1:000000000000:table/x"
    );
    let missing = arn.replace("tagged", "missing");
    let msg = expect_code(
        c.tag_resource()
            .resource_arn(&missing)
            .tags(tag("a", "b"))
            .send()
            .await,
        "ResourceNotFoundException",
        "missing table",
    );
    assert_eq!(
        msg,
        format!("Requested resource not found: ResourcArn: {missing} not found")
    );
    expect_validation(
        c.untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(vec![]))
            .send()
            .await,
        "Atleast one Tag Key needs to be provided as Input.",
        "no keys",
    );

    // A recreated table starts untagged.
    c.delete_table().table_name("tagged").send().await.unwrap();
    create_table(c, "tagged", ("pk", ScalarAttributeType::S), None).await;
    assert!(list(c, &arn).await.is_empty());
}

// ---- consumed capacity -------------------------------------------------------

/// An item in `cap` of about 2 KB: two write units, one read unit.
fn cap_item(sk: u32) -> Item {
    item([("pk", s("a")), ("sk", n(sk)), ("big", s(&"x".repeat(2000)))])
}

fn cap_key(sk: u32) -> Item {
    item([("pk", s("a")), ("sk", n(sk))])
}

/// One region holding the empty table `cap` (pk S, sk N) of the capacity
/// and size tests, and a client of it.
async fn cap_table() -> (TestCluster, Client) {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(
        &c,
        "cap",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    (cluster, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumed_capacity_follows_dynamodbs_rounding_rules() {
    use aws_sdk_dynamodb::types::{ReturnConsumedCapacity as Rcc, ReturnItemCollectionMetrics};
    let (_cluster, c) = cap_table().await;
    let t = "cap";

    // Writes: one unit per started KB; TOTAL has no per-table part, INDEXES has.
    let p = c
        .put_item()
        .table_name(t)
        .set_item(Some(cap_item(1)))
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    let cc = p
        .consumed_capacity()
        .expect("TOTAL returns ConsumedCapacity");
    assert_eq!((cc.table_name(), cc.capacity_units()), (Some(t), Some(2.0)));
    assert!(cc.table().is_none(), "TOTAL has no Table part: {cc:?}");
    let p = c
        .put_item()
        .table_name(t)
        .set_item(Some(cap_item(2)))
        .return_consumed_capacity(Rcc::Indexes)
        .send()
        .await
        .unwrap();
    let cc = p.consumed_capacity().unwrap();
    assert_eq!(cc.capacity_units(), Some(2.0));
    assert_eq!(cc.table().and_then(|t| t.capacity_units()), Some(2.0));
    for rcc in [None, Some(Rcc::None)] {
        let p = c
            .put_item()
            .table_name(t)
            .set_item(Some(cap_item(3)))
            .set_return_consumed_capacity(rcc.clone())
            .send()
            .await
            .unwrap();
        assert!(p.consumed_capacity().is_none(), "{rcc:?}: {p:?}");
    }
    // An update pays for the larger image: shrinking a 2 KB item costs 2.
    let u = c
        .update_item()
        .table_name(t)
        .set_key(Some(cap_key(3)))
        .update_expression("REMOVE big")
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(u.consumed_capacity().unwrap().capacity_units(), Some(2.0));
    let u = c
        .update_item()
        .table_name(t)
        .set_key(Some(cap_key(3)))
        .update_expression("SET small = :v")
        .expression_attribute_values(":v", n(1))
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(u.consumed_capacity().unwrap().capacity_units(), Some(1.0));
    let d = c
        .delete_item()
        .table_name(t)
        .set_key(Some(cap_key(3)))
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    assert_eq!(d.consumed_capacity().unwrap().capacity_units(), Some(1.0));
    put(&c, t, cap_item(3)).await;

    // Reads: one unit per started 4 KB, half when eventually consistent,
    // and a missing item still costs the minimum.
    for (key, consistent, want) in [
        (cap_key(1), true, 1.0),
        (cap_key(1), false, 0.5),
        (cap_key(9), false, 0.5),
    ] {
        let g = c
            .get_item()
            .table_name(t)
            .set_key(Some(key))
            .consistent_read(consistent)
            .return_consumed_capacity(Rcc::Total)
            .send()
            .await
            .unwrap();
        assert_eq!(
            g.consumed_capacity().unwrap().capacity_units(),
            Some(want),
            "consistent {consistent}: {g:?}"
        );
    }

    // Query and Scan add up what they read, filtered out or not, and round
    // once: three 2 KB items are 2 units, not 3.
    let q = c
        .query()
        .table_name(t)
        .key_condition_expression("pk = :p")
        .filter_expression("attribute_exists(nothing)")
        .expression_attribute_values(":p", s("a"))
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    assert_eq!((q.count(), q.scanned_count()), (0, 3));
    assert_eq!(q.consumed_capacity().unwrap().capacity_units(), Some(1.0));
    let sc = c
        .scan()
        .table_name(t)
        .consistent_read(true)
        .return_consumed_capacity(Rcc::Indexes)
        .send()
        .await
        .unwrap();
    let cc = sc.consumed_capacity().unwrap();
    assert_eq!(cc.capacity_units(), Some(2.0));
    assert_eq!(cc.table().and_then(|t| t.capacity_units()), Some(2.0));

    // Batches: one entry per table, each item rounded on its own.
    let keys = KeysAndAttributes::builder()
        .set_keys(Some(vec![cap_key(1), cap_key(2), cap_key(3)]))
        .build()
        .unwrap();
    let bg = c
        .batch_get_item()
        .request_items(t, keys)
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    let list = bg.consumed_capacity();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].table_name(), list[0].capacity_units()),
        (Some(t), Some(1.5))
    );
    let bw = c
        .batch_write_item()
        .request_items(t, vec![put_req(cap_item(4)), put_req(cap_item(5))])
        .return_consumed_capacity(Rcc::Total)
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .unwrap();
    assert_eq!(bw.consumed_capacity()[0].capacity_units(), Some(4.0));

    // Transactions cost twice, and say whether the units were reads or writes.
    let tw = c
        .transact_write_items()
        .transact_items(tx_put(t, cap_item(6)))
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    let cc = &tw.consumed_capacity()[0];
    assert_eq!(
        (cc.capacity_units(), cc.write_capacity_units()),
        (Some(4.0), Some(4.0))
    );
    let tg = c
        .transact_get_items()
        .transact_items(tx_get(t, cap_key(1)))
        .transact_items(tx_get(t, cap_key(2)))
        .return_consumed_capacity(Rcc::Total)
        .send()
        .await
        .unwrap();
    let cc = &tg.consumed_capacity()[0];
    assert_eq!(
        (cc.capacity_units(), cc.read_capacity_units()),
        (Some(4.0), Some(4.0))
    );

    // A table without local secondary indexes has no item collection
    // metrics to return, so SIZE returns none; other values are refused.
    let p = c
        .put_item()
        .table_name(t)
        .set_item(Some(cap_item(7)))
        .return_item_collection_metrics(ReturnItemCollectionMetrics::Size)
        .send()
        .await
        .unwrap();
    assert!(p.item_collection_metrics().is_none(), "{p:?}");
    expect_validation(
        c.put_item()
            .table_name(t)
            .set_item(Some(cap_item(7)))
            .return_item_collection_metrics(ReturnItemCollectionMetrics::from("ALL"))
            .send()
            .await,
        "Value 'ALL' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]",
        "bad ReturnItemCollectionMetrics",
    );
    expect_validation(
        c.get_item()
            .table_name(t)
            .set_key(Some(cap_key(1)))
            .return_consumed_capacity(Rcc::from("ALL"))
            .send()
            .await,
        "Value 'ALL' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
        "bad ReturnConsumedCapacity",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_table_counts_items_and_their_bytes() {
    let (_cluster, c) = cap_table().await;
    let t = "cap";
    let size = || async {
        let d = c.describe_table().table_name(t).send().await.unwrap();
        let d = d.table().unwrap();
        (d.item_count(), d.table_size_bytes())
    };
    assert_eq!(size().await, (Some(0), Some(0)));
    batch_put(&c, t, (1..=3).map(cap_item).collect()).await;
    // Each item is 2,010 bytes by DynamoDB's count; stored, a little more.
    let (count, bytes) = size().await;
    assert_eq!(count, Some(3));
    let bytes = bytes.unwrap();
    assert!(
        (3 * 2010..3 * (2010 + 64)).contains(&bytes),
        "TableSizeBytes {bytes}"
    );
    c.delete_item()
        .table_name(t)
        .set_key(Some(cap_key(1)))
        .send()
        .await
        .unwrap();
    let (count, left) = size().await;
    assert_eq!(count, Some(2));
    assert_eq!(
        left.unwrap() * 3,
        bytes * 2,
        "two of three equal items left"
    );
}
