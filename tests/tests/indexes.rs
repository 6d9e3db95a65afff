//! Secondary indexes (global and local) driven by the real AWS SDK for
//! Rust, written from DynamoDB's documented behaviour: CreateTable and
//! DescribeTable, Query and Scan with `IndexName` (key conditions, paging,
//! filters, projections, counts), the sparse rule as items change through
//! every write API, parallel scans, local indexes' strong reads and fetches,
//! DynamoDB's errors, multi-attribute keys, indexes added and dropped by
//! UpdateTable on a table holding data, and indexes across two regions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, CreateGlobalSecondaryIndexAction, Delete,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexDescription,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex,
    Projection, ProjectionType, ScalarAttributeType, Select, TableDescription, TransactWriteItem,
    Update, WriteRequest,
};
use meridian_tests::{TestCluster, poll_until};

mod sdk;
use sdk::*;

const ONE: [&str; 1] = ["us-east-1"];
const TWO: [&str; 2] = ["us-east-1", "eu-west-1"];

use ScalarAttributeType::{N as TN, S as TS};

// ---- helpers ---------------------------------------------------------------

async fn poll<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll_until(what, Duration::from_secs(30), f).await;
}

fn key_schema(hash: &[&str], range: &[&str]) -> Vec<KeySchemaElement> {
    hash.iter()
        .map(|a| (a, KeyType::Hash))
        .chain(range.iter().map(|a| (a, KeyType::Range)))
        .map(|(a, t)| {
            KeySchemaElement::builder()
                .attribute_name(*a)
                .key_type(t)
                .build()
                .unwrap()
        })
        .collect()
}

fn all() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

fn include(attrs: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(ProjectionType::Include);
    for a in attrs {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

fn gsi(name: &str, hash: &[&str], range: &[&str], p: Projection) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(key_schema(hash, range)))
        .projection(p)
        .build()
        .unwrap()
}

fn lsi(name: &str, hash: &str, range: &str, p: Projection) -> LocalSecondaryIndex {
    LocalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(key_schema(&[hash], &[range])))
        .projection(p)
        .build()
        .unwrap()
}

fn def(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

fn create_gsi(
    name: &str,
    hash: &[&str],
    range: &[&str],
    p: Projection,
) -> GlobalSecondaryIndexUpdate {
    GlobalSecondaryIndexUpdate::builder()
        .create(
            CreateGlobalSecondaryIndexAction::builder()
                .index_name(name)
                .set_key_schema(Some(key_schema(hash, range)))
                .projection(p)
                .build()
                .unwrap(),
        )
        .build()
}

fn delete_gsi(name: &str) -> GlobalSecondaryIndexUpdate {
    GlobalSecondaryIndexUpdate::builder()
        .delete(
            DeleteGlobalSecondaryIndexAction::builder()
                .index_name(name)
                .build()
                .unwrap(),
        )
        .build()
}

async fn describe(c: &Client, table: &str) -> TableDescription {
    c.describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("a table description")
}

fn gsi_of<'a>(t: &'a TableDescription, name: &str) -> Option<&'a GlobalSecondaryIndexDescription> {
    t.global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some(name))
}

fn str_of<'a>(i: &'a Item, attr: &str) -> &'a str {
    i.get(attr)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{attr} is not a string in {i:?}"))
}

fn num_of(i: &Item, attr: &str) -> f64 {
    i.get(attr)
        .and_then(|v| v.as_n().ok())
        .unwrap_or_else(|| panic!("{attr} is not a number in {i:?}"))
        .parse()
        .unwrap()
}

fn names(i: &Item) -> BTreeSet<String> {
    i.keys().cloned().collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn ids(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| str_of(i, "id").to_string()).collect()
}

async fn put(c: &Client, table: &str, it: Item) {
    c.put_item()
        .table_name(table)
        .set_item(Some(it))
        .send()
        .await
        .expect("put item");
}

/// Every page of a Query or Scan builder `$q`, following
/// `LastEvaluatedKey`; asserts each key handed back has exactly the
/// attributes `$lek`.
macro_rules! all_pages {
    ($q:expr, $lek:expr, $what:literal) => {{
        let mut pages = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            assert!(pages.len() < 10_000, "a {} that never ends", $what);
            let out = $q
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect($what);
            start = out.last_evaluated_key().cloned();
            if let Some(k) = &start {
                assert_eq!(&names(k), $lek, "LastEvaluatedKey attributes: {k:?}");
            }
            pages.push(out);
            if start.is_none() {
                break pages;
            }
        }
    }};
}

async fn query_pages(q: QueryFluentBuilder, lek_attrs: &BTreeSet<String>) -> Vec<QueryOutput> {
    all_pages!(q, lek_attrs, "query page")
}

/// The items of every page of `q`, in order.
async fn query_all(q: QueryFluentBuilder, lek_attrs: &BTreeSet<String>) -> Vec<Item> {
    query_pages(q, lek_attrs)
        .await
        .into_iter()
        .flat_map(|p| p.items.unwrap_or_default())
        .collect()
}

async fn scan_pages(q: ScanFluentBuilder, lek_attrs: &BTreeSet<String>) -> Vec<ScanOutput> {
    all_pages!(q, lek_attrs, "scan page")
}

async fn scan_all(q: ScanFluentBuilder, lek_attrs: &BTreeSet<String>) -> Vec<Item> {
    scan_pages(q, lek_attrs)
        .await
        .into_iter()
        .flat_map(|p| p.items.unwrap_or_default())
        .collect()
}

/// A Query of `index` of `table` with `expr`, `values` as `:v0`, `:v1`…
fn q(
    c: &Client,
    table: &str,
    index: &str,
    expr: &str,
    values: &[AttributeValue],
) -> QueryFluentBuilder {
    let mut b = c
        .query()
        .table_name(table)
        .index_name(index)
        .key_condition_expression(expr);
    for (i, v) in values.iter().enumerate() {
        b = b.expression_attribute_values(format!(":v{i}"), v.clone());
    }
    b
}

/// The `id`s of every item a query of `index` for `attr = value` returns,
/// all pages.
async fn ids_where(
    c: &Client,
    table: &str,
    index: &str,
    attr: &str,
    value: &str,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut start: Option<Item> = None;
    loop {
        let page = c
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("#a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", s(value))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("query index");
        for i in page.items() {
            assert!(out.insert(str_of(i, "id").to_string()), "{i:?} twice");
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

/// The `id`s of every item a Scan of `index` returns.
async fn ids_in_index(c: &Client, table: &str, index: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut start: Option<Item> = None;
    loop {
        let page = c
            .scan()
            .table_name(table)
            .index_name(index)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan index");
        for i in page.items() {
            assert!(out.insert(str_of(i, "id").to_string()), "{i:?} twice");
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

fn tx_delete(table: &str, key: Item) -> TransactWriteItem {
    TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key))
                .build()
                .unwrap(),
        )
        .build()
}

fn tx_update(
    table: &str,
    key: Item,
    expr: &str,
    values: &[(&str, AttributeValue)],
) -> TransactWriteItem {
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expr);
    for (k, v) in values {
        u = u.expression_attribute_values(*k, v.clone());
    }
    TransactWriteItem::builder()
        .update(u.build().unwrap())
        .build()
}

fn id_key(id: &str) -> Item {
    item([("id", s(id))])
}

// ---- 1. CreateTable and DescribeTable -------------------------------------

/// The `orders` table of the first tests: key (pk, sk); three global
/// indexes, one of each projection, and a local one.
async fn orders_table(c: &Client, table: &str) {
    create_table_request(c, table, ("pk", TS), Some(("sk", TS)))
        .attribute_definitions(def("status", TS))
        .attribute_definitions(def("at", TN))
        .attribute_definitions(def("owner", TS))
        .attribute_definitions(def("region", TS))
        .global_secondary_indexes(gsi("by_status", &["status"], &["at"], all()))
        .global_secondary_indexes(gsi("by_owner", &["owner"], &[], keys_only()))
        .global_secondary_indexes(gsi(
            "by_region",
            &["region"],
            &["at"],
            include(&["price", "note"]),
        ))
        .local_secondary_indexes(lsi("by_at", "pk", "at", keys_only()))
        .send()
        .await
        .expect("create table with indexes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_table_with_indexes_and_describe_them() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    orders_table(&c, "orders").await;

    let t = describe(&c, "orders").await;
    let arn = t.table_arn().expect("a table ARN").to_string();
    let defs: BTreeMap<String, String> = t
        .attribute_definitions()
        .iter()
        .map(|d| {
            (
                d.attribute_name().to_string(),
                d.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [
        ("pk", "S"),
        ("sk", "S"),
        ("status", "S"),
        ("at", "N"),
        ("owner", "S"),
        ("region", "S"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        defs,
        want,
        "AttributeDefinitions: {:?}",
        t.attribute_definitions()
    );

    let schema = |k: &[KeySchemaElement]| -> Vec<(String, String)> {
        k.iter()
            .map(|e| {
                (
                    e.attribute_name().to_string(),
                    e.key_type().as_str().to_string(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(t.global_secondary_indexes().len(), 3, "{t:?}");
    let cases = [
        (
            "by_status",
            pairs(&[("status", "HASH"), ("at", "RANGE")]),
            ProjectionType::All,
            vec![],
        ),
        (
            "by_owner",
            pairs(&[("owner", "HASH")]),
            ProjectionType::KeysOnly,
            vec![],
        ),
        (
            "by_region",
            pairs(&[("region", "HASH"), ("at", "RANGE")]),
            ProjectionType::Include,
            vec!["note".to_string(), "price".to_string()],
        ),
    ];
    for (name, ks, pt, nka) in &cases {
        let g = gsi_of(&t, name).unwrap_or_else(|| panic!("{name} in {t:?}"));
        assert_eq!(&schema(g.key_schema()), ks, "{name} KeySchema");
        let p = g.projection().expect("a projection");
        assert_eq!(p.projection_type(), Some(pt), "{name} ProjectionType");
        let mut got: Vec<String> = p.non_key_attributes().to_vec();
        got.sort();
        assert_eq!(&got, nka, "{name} NonKeyAttributes");
        assert_eq!(
            g.index_status(),
            Some(&IndexStatus::Active),
            "{name} IndexStatus"
        );
        assert_eq!(
            g.backfilling(),
            None,
            "{name}: an ACTIVE index shows no Backfilling"
        );
        assert_eq!(
            g.index_arn(),
            Some(format!("{arn}/index/{name}").as_str()),
            "{name} IndexArn"
        );
        assert_eq!(
            g.item_count(),
            Some(0),
            "{name} ItemCount of an empty table"
        );
    }
    let lsis = t.local_secondary_indexes();
    assert_eq!(lsis.len(), 1, "{t:?}");
    let l = &lsis[0];
    assert_eq!(l.index_name(), Some("by_at"));
    assert_eq!(
        schema(l.key_schema()),
        pairs(&[("pk", "HASH"), ("at", "RANGE")])
    );
    assert_eq!(
        l.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::KeysOnly)
    );
    assert_eq!(l.index_arn(), Some(format!("{arn}/index/by_at").as_str()));

    // ItemCount follows the writes, counting only the items each index holds.
    let mut items = Vec::new();
    for i in 0..30 {
        let mut it = item([
            ("pk", s(&format!("p{}", i % 3))),
            ("sk", s(&format!("s{i:02}"))),
            ("price", n(i)),
        ]);
        if i % 2 == 0 {
            it.insert("status".into(), s("open"));
        }
        if i % 3 == 0 {
            it.insert("owner".into(), s("ann"));
        }
        if i < 10 {
            it.insert("region".into(), s("eu"));
        }
        if i % 5 != 0 {
            it.insert("at".into(), n(i));
        }
        items.push(it);
    }
    put_many(&c, "orders", items.clone()).await;
    let holds = |need: &[&str]| {
        items
            .iter()
            .filter(|i| need.iter().all(|a| i.contains_key(*a)))
            .count() as i64
    };
    let want = [
        ("by_status", holds(&["status", "at"])),
        ("by_owner", holds(&["owner"])),
        ("by_region", holds(&["region", "at"])),
    ];
    let want_lsi = holds(&["at"]);
    poll("index ItemCounts to follow the writes", || async {
        let t = describe(&c, "orders").await;
        want.iter()
            .all(|(name, n)| gsi_of(&t, name).and_then(|g| g.item_count()) == Some(*n))
            && t.local_secondary_indexes()[0].item_count() == Some(want_lsi)
    })
    .await;
    // DeleteTable describes the table without its keys and indexes, which
    // DescribeTable gives.
    let gone = c
        .delete_table()
        .table_name("orders")
        .send()
        .await
        .expect("delete orders")
        .table_description
        .expect("a description");
    assert!(gone.key_schema().is_empty(), "{gone:?}");
    assert!(gone.attribute_definitions().is_empty(), "{gone:?}");
    assert!(gone.global_secondary_indexes().is_empty(), "{gone:?}");
    assert!(gone.local_secondary_indexes().is_empty(), "{gone:?}");
    cluster.shutdown().await;
}

// ---- 2. Query on a global index -------------------------------------------

/// `events`: key `id`; `by_user` (ALL) on user/ts, `by_user_keys`
/// (KEYS_ONLY) and `by_user_inc` (INCLUDE color) on the same key, and
/// `by_name` (ALL) on user/name.
async fn events_table(c: &Client) {
    create_table_request(c, "events", ("id", TS), None)
        .attribute_definitions(def("user", TS))
        .attribute_definitions(def("ts", TN))
        .attribute_definitions(def("name", TS))
        .global_secondary_indexes(gsi("by_user", &["user"], &["ts"], all()))
        .global_secondary_indexes(gsi("by_user_keys", &["user"], &["ts"], keys_only()))
        .global_secondary_indexes(gsi("by_user_inc", &["user"], &["ts"], include(&["color"])))
        .global_secondary_indexes(gsi("by_name", &["user"], &["name"], all()))
        .send()
        .await
        .expect("create events");
}

fn event(i: i64, user: &str, ts: i64) -> Item {
    item([
        ("id", s(&format!("e{i:03}"))),
        ("user", s(user)),
        ("ts", n(ts)),
        ("name", s(&format!("n{:02}", i % 100))),
        ("color", s(if i % 4 == 0 { "red" } else { "blue" })),
        ("size", n(i * 10)),
        ("note", s("x")),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_a_global_index_by_key_conditions_paging_filters_and_projections() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    events_table(&c).await;
    // u1: 40 items, ts -20..19 (numbers order as numbers, negatives first).
    // u2: 10 items. u3: 20 items sharing 5 ts values (ties in the index).
    // Some items have no user at all.
    let mut items: Vec<Item> = (0..40).map(|i| event(i, "u1", i - 20)).collect();
    items.extend((40..50).map(|i| event(i, "u2", i)));
    items.extend((50..70).map(|i| event(i, "u3", i % 5)));
    items.extend((70..75).map(|i| item([("id", s(&format!("e{i:03}"))), ("ts", n(1))])));
    put_many(&c, "events", items.clone()).await;
    let by_id: HashMap<String, Item> = items
        .iter()
        .map(|i| (str_of(i, "id").to_string(), i.clone()))
        .collect();
    let lek = set(&["user", "ts", "id"]);
    let u1 = |range: std::ops::Range<i64>| -> Vec<String> {
        range.map(|t| format!("e{:03}", t + 20)).collect()
    };

    // The partition alone: every u1 item, by ts ascending, whole items.
    let out = q(&c, "events", "by_user", "#u = :v0", &[s("u1")])
        .expression_attribute_names("#u", "user")
        .send()
        .await
        .expect("query");
    assert_eq!(out.count(), 40);
    assert_eq!(ids(out.items()), u1(-20..20));
    for i in out.items() {
        assert_eq!(
            norm_item(i),
            norm_item(&by_id[str_of(i, "id")]),
            "ALL projects whole items"
        );
    }
    assert!(out.last_evaluated_key().is_none());

    // Sort key conditions.
    let cases: Vec<(&str, Vec<AttributeValue>, Vec<String>)> = vec![
        ("#u = :v0 AND ts = :v1", vec![s("u1"), n(-3)], u1(-3..-2)),
        ("#u = :v0 AND ts < :v1", vec![s("u1"), n(-15)], u1(-20..-15)),
        (
            "#u = :v0 AND ts <= :v1",
            vec![s("u1"), n(-15)],
            u1(-20..-14),
        ),
        ("#u = :v0 AND ts > :v1", vec![s("u1"), n(15)], u1(16..20)),
        ("#u = :v0 AND ts >= :v1", vec![s("u1"), n(15)], u1(15..20)),
        (
            "#u = :v0 AND ts BETWEEN :v1 AND :v2",
            vec![s("u1"), n(-2), n(2)],
            u1(-2..3),
        ),
        (
            "ts BETWEEN :v1 AND :v2 AND #u = :v0",
            vec![s("u1"), n(-2.5), n(2.5)],
            u1(-2..3),
        ),
        ("#u = :v0 AND ts > :v1", vec![s("u1"), n(100)], vec![]),
        ("#u = :v0 AND ts = :v1", vec![s("u2"), n(-3)], vec![]),
        ("#u = :v0", vec![s("nobody")], vec![]),
    ];
    for (expr, values, want) in cases {
        let got = query_all(
            q(&c, "events", "by_user", expr, &values).expression_attribute_names("#u", "user"),
            &lek,
        )
        .await;
        assert_eq!(ids(&got), want, "{expr} {values:?}");
    }
    // begins_with on a string sort key.
    let got = query_all(
        q(
            &c,
            "events",
            "by_name",
            "#u = :v0 AND begins_with(#n, :v1)",
            &[s("u1"), s("n1")],
        )
        .expression_attribute_names("#u", "user")
        .expression_attribute_names("#n", "name"),
        &set(&["user", "name", "id"]),
    )
    .await;
    let want: Vec<String> = (10..20).map(|i| format!("e{i:03}")).collect();
    assert_eq!(ids(&got), want, "begins_with(name, n1)");

    // Backwards.
    let got = query_all(
        q(
            &c,
            "events",
            "by_user",
            "#u = :v0 AND ts >= :v1",
            &[s("u1"), n(10)],
        )
        .expression_attribute_names("#u", "user")
        .scan_index_forward(false),
        &lek,
    )
    .await;
    let mut want = u1(10..20);
    want.reverse();
    assert_eq!(ids(&got), want, "ScanIndexForward false");

    // Paging: Limit 7 over 40 items, forwards and backwards, each once.
    for forward in [true, false] {
        let pages = query_pages(
            q(&c, "events", "by_user", "#u = :v0", &[s("u1")])
                .expression_attribute_names("#u", "user")
                .scan_index_forward(forward)
                .limit(7),
            &lek,
        )
        .await;
        assert!(pages.len() >= 6, "{} pages", pages.len());
        for p in &pages[..pages.len() - 1] {
            assert_eq!(p.count(), 7);
            let lek = p.last_evaluated_key().unwrap();
            let last = p.items().last().unwrap();
            for a in ["user", "ts", "id"] {
                assert_eq!(
                    lek.get(a),
                    last.get(a),
                    "LastEvaluatedKey is the last item's keys"
                );
            }
        }
        let got: Vec<String> = pages.iter().flat_map(|p| ids(p.items())).collect();
        let mut want = u1(-20..20);
        if !forward {
            want.reverse();
        }
        assert_eq!(got, want, "paged forward={forward}");
    }
    // Paging through ties: 20 items on 5 index keys, Limit 3.
    for forward in [true, false] {
        let got = query_all(
            q(&c, "events", "by_user", "#u = :v0", &[s("u3")])
                .expression_attribute_names("#u", "user")
                .scan_index_forward(forward)
                .limit(3),
            &lek,
        )
        .await;
        let got_ids = ids(&got);
        let unique: BTreeSet<&String> = got_ids.iter().collect();
        assert_eq!(got_ids.len(), 20, "u3 paged forward={forward}: {got_ids:?}");
        assert_eq!(
            unique.len(),
            20,
            "u3 each item once, forward={forward}: {got_ids:?}"
        );
        let ts: Vec<f64> = got.iter().map(|i| num_of(i, "ts")).collect();
        let mut sorted = ts.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if !forward {
            sorted.reverse();
        }
        assert_eq!(ts, sorted, "u3 in index order, forward={forward}");
    }

    // A filter on a non-key attribute: Count after it, ScannedCount before.
    let out = q(&c, "events", "by_user", "#u = :v0", &[s("u1")])
        .expression_attribute_names("#u", "user")
        .filter_expression("color = :v1")
        .expression_attribute_values(":v1", s("red"))
        .send()
        .await
        .expect("filtered query");
    assert_eq!(out.count(), 10);
    assert_eq!(out.scanned_count(), 40);
    assert!(out.items().iter().all(|i| str_of(i, "color") == "red"));
    // With Limit, the limit counts items read before the filter.
    let out = q(&c, "events", "by_user", "#u = :v0", &[s("u1")])
        .expression_attribute_names("#u", "user")
        .filter_expression("color = :v1")
        .expression_attribute_values(":v1", s("red"))
        .limit(8)
        .send()
        .await
        .expect("filtered query with limit");
    assert_eq!(out.scanned_count(), 8);
    assert_eq!(out.count(), 2);
    assert!(out.last_evaluated_key().is_some());

    // Projections: KEYS_ONLY has the table's and the index's keys only;
    // INCLUDE adds its attributes; the default Select is
    // ALL_PROJECTED_ATTRIBUTES, and asking for it explicitly is the same.
    for select in [None, Some(Select::AllProjectedAttributes)] {
        let got = query_all(
            q(&c, "events", "by_user_keys", "#u = :v0", &[s("u1")])
                .expression_attribute_names("#u", "user")
                .set_select(select.clone()),
            &lek,
        )
        .await;
        assert_eq!(got.len(), 40);
        for i in &got {
            assert_eq!(
                names(i),
                set(&["id", "user", "ts"]),
                "KEYS_ONLY, Select {select:?}"
            );
            let whole = &by_id[str_of(i, "id")];
            assert_eq!(i.get("ts"), whole.get("ts"));
        }
        let got = query_all(
            q(&c, "events", "by_user_inc", "#u = :v0", &[s("u1")])
                .expression_attribute_names("#u", "user")
                .set_select(select.clone()),
            &lek,
        )
        .await;
        assert_eq!(got.len(), 40);
        for i in &got {
            assert_eq!(
                names(i),
                set(&["id", "user", "ts", "color"]),
                "INCLUDE, Select {select:?}"
            );
            assert_eq!(i.get("color"), by_id[str_of(i, "id")].get("color"));
        }
    }
    // An INCLUDE index's included attribute may be filtered on.
    let out = q(&c, "events", "by_user_inc", "#u = :v0", &[s("u1")])
        .expression_attribute_names("#u", "user")
        .filter_expression("color = :v1")
        .expression_attribute_values(":v1", s("red"))
        .send()
        .await
        .expect("filter on an included attribute");
    assert_eq!(out.count(), 10);
    // ProjectionExpression on projected attributes.
    let out = q(
        &c,
        "events",
        "by_user",
        "#u = :v0 AND ts = :v1",
        &[s("u1"), n(0)],
    )
    .expression_attribute_names("#u", "user")
    .projection_expression("id, #sz")
    .expression_attribute_names("#sz", "size")
    .send()
    .await
    .expect("projection expression");
    assert_eq!(out.items().len(), 1);
    assert_eq!(names(&out.items()[0]), set(&["id", "size"]));
    assert_eq!(out.items()[0].get("size"), Some(&n(200)));

    // Select COUNT: a count and no items.
    let out = q(
        &c,
        "events",
        "by_user_keys",
        "#u = :v0 AND ts >= :v1",
        &[s("u1"), n(0)],
    )
    .expression_attribute_names("#u", "user")
    .select(Select::Count)
    .send()
    .await
    .expect("count");
    assert_eq!(out.count(), 20);
    assert_eq!(out.scanned_count(), 20);
    assert!(out.items().is_empty(), "{out:?}");
    // ALL_ATTRIBUTES on an ALL global index is allowed.
    let out = q(
        &c,
        "events",
        "by_user",
        "#u = :v0 AND ts = :v1",
        &[s("u1"), n(0)],
    )
    .expression_attribute_names("#u", "user")
    .select(Select::AllAttributes)
    .send()
    .await
    .expect("ALL_ATTRIBUTES on an ALL index");
    assert_eq!(norm_item(&out.items()[0]), norm_item(&by_id["e020"]));
    cluster.shutdown().await;
}

// ---- 3. The sparse rule as items change -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_move_in_out_and_between_index_partitions_with_every_write() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "tasks";
    create_table_request(&c, t, ("id", TS), None)
        .attribute_definitions(def("state", TS))
        .global_secondary_indexes(gsi("by_state", &["state"], &[], all()))
        .send()
        .await
        .expect("create tasks");
    let ix = "by_state";
    let check =
        |open: &'static [&'static str], done: &'static [&'static str], what: &'static str| {
            let c = c.clone();
            async move {
                assert_eq!(
                    ids_where(&c, t, ix, "state", "open").await,
                    set(open),
                    "open after {what}"
                );
                assert_eq!(
                    ids_where(&c, t, ix, "state", "done").await,
                    set(done),
                    "done after {what}"
                );
                let mut every = set(open);
                every.extend(set(done));
                assert_eq!(ids_in_index(&c, t, ix).await, every, "scan after {what}");
            }
        };

    put(
        &c,
        t,
        item([("id", s("a1")), ("state", s("open")), ("v", n(1))]),
    )
    .await;
    put(&c, t, item([("id", s("a2")), ("v", n(2))])).await;
    put(&c, t, item([("id", s("a3")), ("state", s("done"))])).await;
    check(&["a1"], &["a3"], "puts").await;

    let update = |id: &str, expr: &str, vals: Vec<(&str, AttributeValue)>| {
        let mut u = c
            .update_item()
            .table_name(t)
            .set_key(Some(id_key(id)))
            .update_expression(expr);
        for (k, v) in vals {
            u = u.expression_attribute_values(k, v);
        }
        u
    };
    update("a1", "SET #s = :s", vec![(":s", s("done"))])
        .expression_attribute_names("#s", "state")
        .send()
        .await
        .expect("move a1");
    check(&[], &["a1", "a3"], "UpdateItem SET changes the key").await;
    update("a2", "SET #s = :s", vec![(":s", s("open"))])
        .expression_attribute_names("#s", "state")
        .send()
        .await
        .expect("add a2");
    check(&["a2"], &["a1", "a3"], "UpdateItem SET adds the key").await;
    update("a3", "REMOVE #s", vec![])
        .expression_attribute_names("#s", "state")
        .send()
        .await
        .expect("remove a3's key");
    check(&["a2"], &["a1"], "UpdateItem REMOVE").await;
    // A change of another attribute keeps the entry, and the index shows it.
    update("a2", "SET v = :v", vec![(":v", n(42))])
        .send()
        .await
        .expect("update v");
    let got = query_all(
        c.query()
            .table_name(t)
            .index_name(ix)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", "state")
            .expression_attribute_values(":s", s("open")),
        &set(&["state", "id"]),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].get("v"),
        Some(&n(42)),
        "the index shows the item's new value"
    );
    check(&["a2"], &["a1"], "a non-key update").await;
    // A put replacing an item without the key takes it out.
    put(&c, t, item([("id", s("a1")), ("v", n(3))])).await;
    check(&["a2"], &[], "PutItem replaces without the key").await;
    c.delete_item()
        .table_name(t)
        .set_key(Some(id_key("a2")))
        .send()
        .await
        .expect("delete a2");
    check(&[], &[], "DeleteItem").await;

    // BatchWriteItem: puts in, deletes out, a replacing put moves.
    put(&c, t, item([("id", s("b9")), ("state", s("open"))])).await;
    let mut writes: Vec<WriteRequest> = (1..=5)
        .map(|i| put_req(item([("id", s(&format!("b{i}"))), ("state", s("open"))])))
        .collect();
    writes.push(put_req(item([("id", s("a1")), ("state", s("done"))])));
    writes.push(put_req(item([("id", s("b9")), ("state", s("done"))])));
    writes.push(delete_req(id_key("a3")));
    let out = c
        .batch_write_item()
        .request_items(t, writes)
        .send()
        .await
        .expect("batch write");
    assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    check(
        &["b1", "b2", "b3", "b4", "b5"],
        &["a1", "b9"],
        "BatchWriteItem",
    )
    .await;
    let out = c
        .batch_write_item()
        .request_items(t, vec![delete_req(id_key("b9")), delete_req(id_key("b5"))])
        .send()
        .await
        .expect("batch delete");
    assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    check(&["b1", "b2", "b3", "b4"], &["a1"], "BatchWriteItem deletes").await;

    // TransactWriteItems: a put, an update moving an item, a delete, an
    // update removing the key. First one refused (a name placeholder not
    // defined): it changes nothing.
    let r = c
        .transact_write_items()
        .transact_items(tx_put(t, item([("id", s("b6")), ("state", s("open"))])))
        .transact_items(tx_update(
            t,
            id_key("b1"),
            "SET #s = :s",
            &[(":s", s("done"))],
        ))
        .transact_items(tx_delete(t, id_key("b2")))
        .send()
        .await;
    expect_code(r, "ValidationException", "an undefined #s");
    check(&["b1", "b2", "b3", "b4"], &["a1"], "a refused transaction").await;
    let named = |key: &str, expr: &str, v: Option<&str>| {
        let mut u = Update::builder()
            .table_name(t)
            .set_key(Some(id_key(key)))
            .update_expression(expr)
            .expression_attribute_names("#s", "state");
        if let Some(v) = v {
            u = u.expression_attribute_values(":s", s(v));
        }
        TransactWriteItem::builder()
            .update(u.build().unwrap())
            .build()
    };
    c.transact_write_items()
        .transact_items(tx_put(t, item([("id", s("b6")), ("state", s("open"))])))
        .transact_items(named("b1", "SET #s = :s", Some("done")))
        .transact_items(tx_delete(t, id_key("b2")))
        .transact_items(named("a1", "REMOVE #s", None))
        .transact_items(named("b7", "SET #s = :s", Some("done")))
        .send()
        .await
        .expect("transaction");
    check(&["b3", "b4", "b6"], &["b1", "b7"], "TransactWriteItems").await;
    cluster.shutdown().await;
}

// ---- 4. Scan of an index, parallel and paged --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_an_index_in_pages_and_in_parallel_segments() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "scans";
    create_table_request(&c, t, ("id", TS), Some(("v", TN)))
        .attribute_definitions(def("grp", TS))
        .attribute_definitions(def("n", TN))
        .global_secondary_indexes(gsi("by_grp", &["grp"], &["n"], all()))
        .global_secondary_indexes(gsi("by_grp_keys", &["grp"], &[], keys_only()))
        .send()
        .await
        .expect("create scans");
    let items: Vec<Item> = (0..200)
        .map(|i| {
            let mut it = item([
                ("id", s(&format!("k{:03}", i / 2))),
                ("v", n(i % 2)),
                ("extra", s("e")),
            ]);
            if i % 4 != 3 {
                it.insert("grp".into(), s(&format!("g{:02}", i % 13)));
                it.insert("n".into(), n(i % 7));
            }
            it
        })
        .collect();
    put_many(&c, t, items.clone()).await;
    let key_of = |i: &Item| (str_of(i, "id").to_string(), num_of(i, "v") as i64);
    let want: BTreeSet<(String, i64)> = items
        .iter()
        .filter(|i| i.contains_key("grp"))
        .map(key_of)
        .collect();
    assert_eq!(want.len(), 150);
    let lek = set(&["grp", "n", "id", "v"]);

    // One Scan, then pages of 13: every indexed item exactly once.
    let got = scan_all(c.scan().table_name(t).index_name("by_grp"), &lek).await;
    let keys: Vec<(String, i64)> = got.iter().map(key_of).collect();
    assert_eq!(keys.len(), 150);
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), want);
    let pages = scan_pages(c.scan().table_name(t).index_name("by_grp").limit(13), &lek).await;
    assert!(pages.len() >= 12, "{} pages", pages.len());
    let keys: Vec<(String, i64)> = pages
        .iter()
        .flat_map(|p| p.items().iter().map(key_of))
        .collect();
    assert_eq!(keys.len(), 150, "paged scan");
    assert_eq!(keys.iter().cloned().collect::<BTreeSet<_>>(), want);
    let count: i32 = pages.iter().map(|p| p.scanned_count()).sum();
    assert_eq!(count, 150);
    // A filtered, counted scan of the index.
    let out = c
        .scan()
        .table_name(t)
        .index_name("by_grp")
        .filter_expression("extra = :e")
        .expression_attribute_values(":e", s("e"))
        .select(Select::Count)
        .send()
        .await
        .expect("count scan");
    assert_eq!(out.count(), 150);

    // Parallel scan: 4 segments, each paged, together every item once.
    let mut seen: Vec<(String, i64)> = Vec::new();
    for seg in 0..4 {
        let got = scan_all(
            c.scan()
                .table_name(t)
                .index_name("by_grp")
                .segment(seg)
                .total_segments(4)
                .limit(9),
            &lek,
        )
        .await;
        seen.extend(got.iter().map(key_of));
    }
    assert_eq!(seen.len(), 150, "segments together");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), want);

    // A KEYS_ONLY index's scan returns keys only; its position keys too.
    let got = scan_all(
        c.scan().table_name(t).index_name("by_grp_keys").limit(20),
        &set(&["grp", "id", "v"]),
    )
    .await;
    assert_eq!(got.len(), 150);
    for i in &got {
        assert_eq!(names(i), set(&["grp", "id", "v"]), "{i:?}");
    }
    cluster.shutdown().await;
}

// ---- 5. Local indexes --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_indexes_read_consistently_and_fetch_unprojected_attributes() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "threads";
    create_table_request(&c, t, ("forum", TS), Some(("subject", TS)))
        .attribute_definitions(def("replies", TN))
        .local_secondary_indexes(lsi("by_replies", "forum", "replies", keys_only()))
        .send()
        .await
        .expect("create threads");
    let mut items = Vec::new();
    for i in 0..30 {
        let mut it = item([
            ("forum", s(if i < 20 { "rust" } else { "go" })),
            ("subject", s(&format!("s{i:02}"))),
            ("body", s(&format!("body {i}"))),
        ]);
        if i % 5 != 4 {
            it.insert("replies".into(), n(100 - i));
        }
        items.push(it);
    }
    put_many(&c, t, items.clone()).await;
    let whole: HashMap<String, Item> = items
        .iter()
        .map(|i| (str_of(i, "subject").to_string(), i.clone()))
        .collect();
    let lek = set(&["forum", "subject", "replies"]);
    let subjects = |v: &[Item]| -> Vec<String> {
        v.iter().map(|i| str_of(i, "subject").to_string()).collect()
    };

    // Strongly consistent, in replies order, keys only by default.
    let got = query_all(
        c.query()
            .table_name(t)
            .index_name("by_replies")
            .key_condition_expression("forum = :f AND replies > :r")
            .expression_attribute_values(":f", s("rust"))
            .expression_attribute_values(":r", n(85))
            .consistent_read(true)
            .limit(4),
        &lek,
    )
    .await;
    // rust: i in 0..20 with i % 5 != 4 and 100 - i > 85 → i < 15.
    let mut want: Vec<(i64, String)> = (0..15)
        .filter(|i| i % 5 != 4)
        .map(|i| (100 - i, format!("s{i:02}")))
        .collect();
    want.sort();
    assert_eq!(
        subjects(&got),
        want.iter().map(|w| w.1.clone()).collect::<Vec<_>>()
    );
    for i in &got {
        assert_eq!(names(i), lek, "KEYS_ONLY local index");
    }
    // ALL_ATTRIBUTES on a local index fetches the whole items.
    let got = query_all(
        c.query()
            .table_name(t)
            .index_name("by_replies")
            .key_condition_expression("forum = :f")
            .expression_attribute_values(":f", s("rust"))
            .select(Select::AllAttributes)
            .consistent_read(true),
        &lek,
    )
    .await;
    assert_eq!(got.len(), 16, "items without replies are not in the index");
    for i in &got {
        assert_eq!(
            norm_item(i),
            norm_item(&whole[str_of(i, "subject")]),
            "ALL_ATTRIBUTES"
        );
    }
    // So does a ProjectionExpression naming an unprojected attribute.
    let out = c
        .query()
        .table_name(t)
        .index_name("by_replies")
        .key_condition_expression("forum = :f AND replies = :r")
        .expression_attribute_values(":f", s("go"))
        .expression_attribute_values(":r", n(80))
        .projection_expression("subject, body")
        .send()
        .await
        .expect("projection of an unprojected attribute");
    assert_eq!(out.items().len(), 1);
    assert_eq!(
        out.items()[0],
        item([("subject", s("s20")), ("body", s("body 20"))])
    );
    // A consistent scan of a local index.
    let got = scan_all(
        c.scan()
            .table_name(t)
            .index_name("by_replies")
            .consistent_read(true)
            .limit(7),
        &lek,
    )
    .await;
    assert_eq!(got.len(), 24);
    cluster.shutdown().await;
}

// ---- 6. Errors ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_reads_refused_as_dynamodb_refuses_them() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    orders_table(&c, "orders").await;
    put(
        &c,
        "orders",
        item([
            ("pk", s("p")),
            ("sk", s("s")),
            ("status", s("open")),
            ("at", n(1)),
            ("owner", s("ann")),
        ]),
    )
    .await;

    let consistent = "Consistent reads are not supported on global secondary indexes";
    let r = c
        .query()
        .table_name("orders")
        .index_name("by_status")
        .key_condition_expression("#s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", s("open"))
        .consistent_read(true)
        .send()
        .await;
    expect_validation(r, consistent, "Query ConsistentRead on a GSI");
    let r = c
        .scan()
        .table_name("orders")
        .index_name("by_owner")
        .consistent_read(true)
        .send()
        .await;
    expect_validation(r, consistent, "Scan ConsistentRead on a GSI");

    let missing = "The table does not have the specified index: nope_index";
    let r = c
        .query()
        .table_name("orders")
        .index_name("nope_index")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "Query of an unknown index");
    assert_eq!(msg, missing);
    let r = c
        .scan()
        .table_name("orders")
        .index_name("nope_index")
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "Scan of an unknown index");
    assert_eq!(msg, missing);

    let r = c
        .query()
        .table_name("orders")
        .index_name("by_owner")
        .key_condition_expression("#o = :o")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":o", s("ann"))
        .select(Select::AllAttributes)
        .send()
        .await;
    let msg = expect_code(
        r,
        "ValidationException",
        "ALL_ATTRIBUTES on a KEYS_ONLY GSI",
    );
    assert_eq!(
        msg,
        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index by_owner because its projection type is not ALL"
    );
    let r = c
        .scan()
        .table_name("orders")
        .index_name("by_region")
        .select(Select::AllAttributes)
        .send()
        .await;
    expect_validation(
        r,
        "Select type ALL_ATTRIBUTES is not supported for global secondary index by_region because its projection type is not ALL",
        "Scan ALL_ATTRIBUTES on an INCLUDE GSI",
    );
    // A key condition without the index's partition key.
    let r = c
        .query()
        .table_name("orders")
        .index_name("by_status")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await;
    expect_validation(
        r,
        "Query condition missed key schema element: status",
        "wrong key",
    );
    // A filter on the queried index's key.
    let r = c
        .query()
        .table_name("orders")
        .index_name("by_status")
        .key_condition_expression("#s = :s")
        .filter_expression("#a > :a")
        .expression_attribute_names("#s", "status")
        .expression_attribute_names("#a", "at")
        .expression_attribute_values(":s", s("open"))
        .expression_attribute_values(":a", n(0))
        .send()
        .await;
    expect_validation(
        r,
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: at",
        "filter on an index key",
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_unfit_index_keys_are_refused_and_write_nothing() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    orders_table(&c, "orders").await;
    let t = "orders";
    let key = |sk: &str| item([("pk", s("p")), ("sk", s(sk))]);
    let mismatch = "One or more parameter values were invalid: Type mismatch for Index Key status Expected: S Actual: N IndexName: by_status";
    let empty_item = "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by_status, IndexKey: status";
    let empty_update = "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty string value.";

    // PutItem.
    let r = c
        .put_item()
        .table_name(t)
        .set_item(Some(item([
            ("pk", s("p")),
            ("sk", s("a")),
            ("status", n(1)),
        ])))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException", "put wrong type"),
        mismatch
    );
    let r = c
        .put_item()
        .table_name(t)
        .set_item(Some(item([
            ("pk", s("p")),
            ("sk", s("a")),
            ("status", s("")),
        ])))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException", "put empty"),
        empty_item
    );
    assert_eq!(
        get(&c, t, key("a")).await,
        None,
        "refused puts write nothing"
    );
    // An index key of the wrong type in an INCLUDE index's sort key.
    let r = c
        .put_item()
        .table_name(t)
        .set_item(Some(item([
            ("pk", s("p")),
            ("sk", s("a")),
            ("region", s("eu")),
            ("at", s("x")),
        ])))
        .send()
        .await;
    // DynamoDB names the alphabetically first index the value is unfit for.
    expect_validation(
        r,
        "One or more parameter values were invalid: Type mismatch for Index Key at Expected: N Actual: S IndexName: by_at",
        "put wrong at",
    );
    assert_eq!(get(&c, t, key("a")).await, None);

    // UpdateItem on an existing item leaves it as it was.
    let before = item([
        ("pk", s("p")),
        ("sk", s("b")),
        ("status", s("open")),
        ("at", n(1)),
    ]);
    put(&c, t, before.clone()).await;
    let update = |expr: &str, v: AttributeValue| {
        c.update_item()
            .table_name(t)
            .set_key(Some(key("b")))
            .update_expression(expr)
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":v", v)
            .send()
    };
    let r = update("SET #s = :v", n(5)).await;
    assert_eq!(
        expect_code(r, "ValidationException", "update wrong type"),
        mismatch
    );
    let r = update("SET #s = :v", s("")).await;
    assert_eq!(
        expect_code(r, "ValidationException", "update empty"),
        empty_update
    );
    assert_eq!(get(&c, t, key("b")).await, Some(before.clone()));
    let open = ids_of_status(&c, t, "open").await;
    assert_eq!(open, vec!["b".to_string()]);

    // BatchWriteItem: the whole batch is refused.
    let r = c
        .batch_write_item()
        .request_items(
            t,
            vec![
                put_req(item([
                    ("pk", s("p")),
                    ("sk", s("c")),
                    ("status", s("open")),
                    ("at", n(2)),
                ])),
                put_req(item([("pk", s("p")), ("sk", s("d")), ("status", n(3))])),
            ],
        )
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException", "batch wrong type"),
        mismatch
    );
    let r = c
        .batch_write_item()
        .request_items(
            t,
            vec![
                put_req(item([
                    ("pk", s("p")),
                    ("sk", s("c")),
                    ("status", s("open")),
                    ("at", n(2)),
                ])),
                put_req(item([("pk", s("p")), ("sk", s("d")), ("status", s(""))])),
            ],
        )
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException", "batch empty"),
        empty_item
    );
    assert_eq!(
        get(&c, t, key("c")).await,
        None,
        "nothing of a refused batch is written"
    );
    assert_eq!(get(&c, t, key("d")).await, None);

    // TransactWriteItems: a wrong type cancels the transaction with a
    // ValidationError reason; an empty value is a top-level error.
    let r = c
        .transact_write_items()
        .transact_items(tx_put(
            t,
            item([
                ("pk", s("p")),
                ("sk", s("c")),
                ("status", s("open")),
                ("at", n(2)),
            ]),
        ))
        .transact_items(tx_put(
            t,
            item([("pk", s("p")), ("sk", s("d")), ("status", n(3))]),
        ))
        .send()
        .await;
    match r.map_err(|e| e.into_service_error()) {
        Err(TransactWriteItemsError::TransactionCanceledException(e)) => {
            let reasons: Vec<(Option<&str>, Option<&str>)> = e
                .cancellation_reasons()
                .iter()
                .map(|r| (r.code(), r.message()))
                .collect();
            assert_eq!(reasons.len(), 2, "{reasons:?}");
            assert_eq!(reasons[0].0, Some("None"), "{reasons:?}");
            assert_eq!(
                reasons[1],
                (Some("ValidationError"), Some(mismatch)),
                "{reasons:?}"
            );
        }
        other => panic!("transaction with a wrong index key type: {other:?}"),
    }
    let r = c
        .transact_write_items()
        .transact_items(tx_put(
            t,
            item([
                ("pk", s("p")),
                ("sk", s("c")),
                ("status", s("open")),
                ("at", n(2)),
            ]),
        ))
        .transact_items(tx_put(
            t,
            item([("pk", s("p")), ("sk", s("d")), ("status", s(""))]),
        ))
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException", "transaction empty"),
        empty_item
    );
    let r = c
        .transact_write_items()
        .transact_items(tx_put(
            t,
            item([
                ("pk", s("p")),
                ("sk", s("c")),
                ("status", s("open")),
                ("at", n(2)),
            ]),
        ))
        .transact_items({
            let u = Update::builder()
                .table_name(t)
                .set_key(Some(key("b")))
                .update_expression("SET #s = :v")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":v", s(""))
                .build()
                .unwrap();
            TransactWriteItem::builder().update(u).build()
        })
        .send()
        .await;
    assert_eq!(
        expect_code(r, "ValidationException", "transaction update empty"),
        empty_update
    );
    assert_eq!(
        get(&c, t, key("c")).await,
        None,
        "nothing of a refused transaction"
    );
    assert_eq!(get(&c, t, key("d")).await, None);
    assert_eq!(get(&c, t, key("b")).await, Some(before));
    assert_eq!(ids_of_status(&c, t, "open").await, vec!["b".to_string()]);
    cluster.shutdown().await;
}

/// The sort keys of `orders` items in `by_status` under `status`.
async fn ids_of_status(c: &Client, t: &str, status: &str) -> Vec<String> {
    let got = query_all(
        c.query()
            .table_name(t)
            .index_name("by_status")
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(status)),
        &set(&["status", "at", "pk", "sk"]),
    )
    .await;
    got.iter().map(|i| str_of(i, "sk").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_index_definitions_are_refused_and_create_no_table() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let base = |name: &str| create_table_request(&c, name, ("pk", TS), Some(("sk", TS)));
    let cases = vec![
        (
            "dup_names",
            base("dup_names")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("b", TS))
                .global_secondary_indexes(gsi("same", &["a"], &[], all()))
                .global_secondary_indexes(gsi("same", &["b"], &[], all())),
            "One or more parameter values were invalid: Duplicate index name: same",
        ),
        (
            "dup_gsi_lsi",
            base("dup_gsi_lsi")
                .attribute_definitions(def("a", TS))
                .global_secondary_indexes(gsi("same", &["a"], &[], all()))
                .local_secondary_indexes(lsi("same", "pk", "a", all())),
            "One or more parameter values were invalid: Duplicate index name: same",
        ),
        (
            "undefined",
            base("undefined").global_secondary_indexes(gsi("g_q", &["q"], &[], all())),
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [q], AttributeDefinitions: [",
        ),
        (
            "include_bare",
            base("include_bare")
                .attribute_definitions(def("a", TS))
                .global_secondary_indexes(gsi(
                    "g_a",
                    &["a"],
                    &[],
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .build(),
                )),
            "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        ),
        (
            "lsi_other_hash",
            base("lsi_other_hash")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("b", TS))
                .local_secondary_indexes(lsi("l-a", "a", "b", all())),
            "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: l-a. index hash key: a, table hash key: pk",
        ),
        (
            "unused_def",
            base("unused_def")
                .attribute_definitions(def("a", TS))
                .attribute_definitions(def("c", TS))
                .global_secondary_indexes(gsi("g_a", &["a"], &[], all())),
            "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [",
        ),
        (
            // The name's length is refused before the definitions and the
            // index keys are compared.
            "long_index_key",
            base("long_index_key")
                .attribute_definitions(def("short", TS))
                .global_secondary_indexes(gsi("g", &[&"k".repeat(256)], &[], all())),
            "1 validation error detected: Value 'kkk",
        ),
        (
            "lsi_no_sort",
            create_table_request(&c, "lsi_no_sort", ("pk", TS), None)
                .attribute_definitions(def("a", TS))
                .local_secondary_indexes(lsi("l-a", "pk", "a", all())),
            "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        ),
    ];
    let mut many = base("too_many").attribute_definitions(def("a", TS));
    for i in 0..21 {
        many = many.global_secondary_indexes(gsi(&format!("g{i:02}"), &["a"], &[], keys_only()));
    }
    let mut cases = cases;
    cases.push((
        "too_many",
        many,
        "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20",
    ));
    for (table, req, want) in cases {
        let r = req.send().await;
        let msg = expect_code(r, "ValidationException", table);
        assert!(
            msg.starts_with(want),
            "{table}: {msg:?} should start with {want:?}"
        );
        let r = c.describe_table().table_name(table).send().await;
        expect_code(
            r,
            "ResourceNotFoundException",
            &format!("{table} after a refused create"),
        );
    }
    // The unused-definitions message names every definition, c included.
    let r = base("unused2")
        .attribute_definitions(def("a", TS))
        .attribute_definitions(def("c", TS))
        .global_secondary_indexes(gsi("g_a", &["a"], &[], all()))
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "unused2");
    assert!(msg.contains("keys used: ["), "{msg:?}");
    let listed = msg
        .split("AttributeDefinitions: [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    let listed: BTreeSet<String> = listed.split(", ").map(str::to_string).collect();
    assert_eq!(listed, set(&["pk", "sk", "a", "c"]), "{msg:?}");
    let r = base("long_index_key2")
        .attribute_definitions(def("short", TS))
        .global_secondary_indexes(gsi("g", &[&"k".repeat(256)], &[], all()))
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "long_index_key2");
    assert!(
        msg.contains("at 'globalSecondaryIndexes.1.member.keySchema.1.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"),
        "{msg:?}"
    );
    let list = c.list_tables().send().await.expect("list tables");
    assert!(list.table_names().is_empty(), "{list:?}");
    // The undefined-attribute message lists the attributes that are defined.
    let r = base("undefined2")
        .global_secondary_indexes(gsi("g_q", &["q"], &[], all()))
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "undefined2");
    let defined = msg
        .split("AttributeDefinitions: ")
        .nth(1)
        .unwrap_or_default();
    assert!(
        defined.contains("pk") && defined.contains("sk"),
        "the message lists the defined attributes: {msg:?}"
    );
    cluster.shutdown().await;
}

// ---- 7. Multi-attribute keys --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_attribute_global_index_keys() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "games";
    create_table_request(&c, t, ("id", TS), None)
        .attribute_definitions(def("tournament", TS))
        .attribute_definitions(def("zone", TS))
        .attribute_definitions(def("round", TN))
        .attribute_definitions(def("score", TN))
        .global_secondary_indexes(gsi(
            "by_match",
            &["tournament", "zone"],
            &["round", "score"],
            all(),
        ))
        .send()
        .await
        .expect("create games with a multi-attribute GSI");
    let d = describe(&c, t).await;
    let g = gsi_of(&d, "by_match").expect("by_match");
    let ks: Vec<(&str, &str)> = g
        .key_schema()
        .iter()
        .map(|e| (e.attribute_name(), e.key_type().as_str()))
        .collect();
    assert_eq!(
        ks,
        [
            ("tournament", "HASH"),
            ("zone", "HASH"),
            ("round", "RANGE"),
            ("score", "RANGE")
        ],
        "KeySchema in submitted order"
    );

    // T1/EU: rounds 1, 2, 3, 10 × scores 5, 40, 70 (12 items).
    let mut items = Vec::new();
    let mut k = 0;
    let mut game = |tour: &str, zone: Option<&str>, round: i64, score: Option<i64>| {
        k += 1;
        let mut it = item([
            ("id", s(&format!("g{k:03}"))),
            ("tournament", s(tour)),
            ("round", n(round)),
        ]);
        if let Some(z) = zone {
            it.insert("zone".into(), s(z));
        }
        if let Some(sc) = score {
            it.insert("score".into(), n(sc));
        }
        it
    };
    for round in [10, 2, 1, 3] {
        for score in [70, 5, 40] {
            items.push(game("T1", Some("EU"), round, Some(score)));
        }
    }
    for round in [1, 2] {
        items.push(game("T1", Some("US"), round, Some(1)));
        items.push(game("T2", Some("EU"), round, Some(1)));
        // Sparse: missing one component, not in the index.
        items.push(game("T1", None, round, Some(1)));
        items.push(game("T1", Some("EU"), round, None));
    }
    put_many(&c, t, items.clone()).await;
    let lek = set(&["tournament", "zone", "round", "score", "id"]);
    let rs = |v: &[Item]| -> Vec<(i64, i64)> {
        v.iter()
            .map(|i| (num_of(i, "round") as i64, num_of(i, "score") as i64))
            .collect()
    };
    let grid = |rounds: &[i64], scores: &[i64]| -> Vec<(i64, i64)> {
        rounds
            .iter()
            .flat_map(|r| scores.iter().map(move |s| (*r, *s)))
            .collect()
    };
    let base = "tournament = :v0 AND #z = :v1";
    // (key condition, its extra values, the (round, score) pairs it finds)
    type Case = (String, Vec<AttributeValue>, Vec<(i64, i64)>);
    let cases: Vec<Case> = vec![
        (base.into(), vec![], grid(&[1, 2, 3, 10], &[5, 40, 70])),
        (
            format!("{base} AND round = :v2"),
            vec![n(2)],
            grid(&[2], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round > :v2"),
            vec![n(2)],
            grid(&[3, 10], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round <= :v2"),
            vec![n(2)],
            grid(&[1, 2], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round BETWEEN :v2 AND :v3"),
            vec![n(2), n(3)],
            grid(&[2, 3], &[5, 40, 70]),
        ),
        (
            format!("{base} AND round = :v2 AND score > :v3"),
            vec![n(3), n(5)],
            grid(&[3], &[40, 70]),
        ),
        (
            format!("{base} AND round = :v2 AND score < :v3"),
            vec![n(3), n(40)],
            grid(&[3], &[5]),
        ),
        (
            format!("{base} AND round = :v2 AND score >= :v3"),
            vec![n(10), n(40)],
            grid(&[10], &[40, 70]),
        ),
        (
            format!("{base} AND round = :v2 AND score BETWEEN :v3 AND :v4"),
            vec![n(1), n(5), n(40)],
            grid(&[1], &[5, 40]),
        ),
        (
            format!("{base} AND round = :v2 AND score = :v3"),
            vec![n(1), n(40)],
            grid(&[1], &[40]),
        ),
        // Clause order does not matter.
        (
            "score = :v3 AND round = :v2 AND #z = :v1 AND tournament = :v0".to_string(),
            vec![n(1), n(40)],
            grid(&[1], &[40]),
        ),
    ];
    for (expr, extra, want) in cases {
        let mut values = vec![s("T1"), s("EU")];
        values.extend(extra);
        let got = query_all(
            q(&c, t, "by_match", &expr, &values).expression_attribute_names("#z", "zone"),
            &lek,
        )
        .await;
        assert_eq!(rs(&got), want, "{expr}");
        // Backwards too.
        let got = query_all(
            q(&c, t, "by_match", &expr, &values)
                .expression_attribute_names("#z", "zone")
                .scan_index_forward(false),
            &lek,
        )
        .await;
        let mut back = want.clone();
        back.reverse();
        assert_eq!(rs(&got), back, "{expr} backwards");
    }
    // Another partition tuple.
    let got = query_all(
        q(&c, t, "by_match", base, &[s("T1"), s("US")]).expression_attribute_names("#z", "zone"),
        &lek,
    )
    .await;
    assert_eq!(rs(&got), vec![(1, 1), (2, 1)]);

    // Paging with LastEvaluatedKey carrying every component.
    let pages = query_pages(
        q(&c, t, "by_match", base, &[s("T1"), s("EU")])
            .expression_attribute_names("#z", "zone")
            .limit(5),
        &lek,
    )
    .await;
    assert_eq!(pages.len(), 3);
    let got: Vec<Item> = pages.iter().flat_map(|p| p.items().to_vec()).collect();
    assert_eq!(rs(&got), grid(&[1, 2, 3, 10], &[5, 40, 70]));

    // Refused: a condition on the second sort attribute without the first,
    // a range on the first with one on the second, one partition attribute only.
    let refused = [
        (
            format!("{base} AND score > :v2"),
            vec![s("T1"), s("EU"), n(5)],
            "RANGE",
        ),
        (
            format!("{base} AND round > :v2 AND score > :v3"),
            vec![s("T1"), s("EU"), n(1), n(5)],
            "RANGE",
        ),
        ("tournament = :v0".to_string(), vec![s("T1")], "HASH"),
        (
            "tournament = :v0 AND round = :v1".to_string(),
            vec![s("T1"), n(1)],
            "HASH",
        ),
    ];
    for (expr, values, word) in refused {
        let mut b = q(&c, t, "by_match", &expr, &values);
        if expr.contains("#z") {
            b = b.expression_attribute_names("#z", "zone");
        }
        let msg = expect_code(b.send().await, "ValidationException", &expr);
        assert!(msg.contains(word), "{expr}: {msg:?} should name {word}");
    }
    // A write of the wrong type in any component is refused.
    let r = c
        .put_item()
        .table_name(t)
        .set_item(Some(item([
            ("id", s("bad")),
            ("tournament", s("T1")),
            ("zone", s("EU")),
            ("round", n(1)),
            ("score", s("high")),
        ])))
        .send()
        .await;
    expect_validation(
        r,
        "One or more parameter values were invalid: Type mismatch for Index Key score Expected: N Actual: S IndexName: by_match",
        "wrong type in a component",
    );
    cluster.shutdown().await;
}

// ---- 8. UpdateTable creates and deletes global indexes -----------------------

fn row(i: usize) -> Item {
    let mut it = item([("id", s(&format!("r{i:05}"))), ("payload", s("p"))]);
    if i % 10 != 7 {
        it.insert("bucket".into(), s(&format!("b{}", i % 8)));
        it.insert("n".into(), n(i));
    }
    it
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_table_builds_an_index_over_existing_items_and_drops_it() {
    let cluster = TestCluster::start(&ONE).await;
    let c = client(cluster.dynamo_url(0));
    let t = "rows";
    create_table(&c, t, ("id", TS), None).await;
    let mut model: BTreeMap<usize, Item> = (0..3000).map(|i| (i, row(i))).collect();
    put_many(&c, t, model.values().cloned()).await;

    let out = c
        .update_table()
        .table_name(t)
        .attribute_definitions(def("bucket", TS))
        .attribute_definitions(def("n", TN))
        .global_secondary_index_updates(create_gsi("by_bucket", &["bucket"], &["n"], all()))
        .send()
        .await
        .expect("create an index");
    let d = out.table_description.expect("a description");
    let g = gsi_of(&d, "by_bucket").unwrap_or_else(|| panic!("the new index in {d:?}"));
    assert_eq!(g.index_status(), Some(&IndexStatus::Creating), "{g:?}");
    assert!(
        d.attribute_definitions()
            .iter()
            .any(|a| a.attribute_name() == "bucket"),
        "{d:?}"
    );

    // Writes while it builds: new items, moves, deletions.
    for i in 3000..3100 {
        model.insert(i, row(i));
    }
    put_many(&c, t, (3000..3100).map(row)).await;
    for i in (0..3000).step_by(97) {
        let mut it = row(i);
        it.insert("bucket".into(), s("moved"));
        it.insert("n".into(), n(i));
        put(&c, t, it.clone()).await;
        model.insert(i, it);
    }
    for i in (1..3000).step_by(101) {
        c.delete_item()
            .table_name(t)
            .set_key(Some(id_key(&format!("r{i:05}"))))
            .send()
            .await
            .expect("delete");
        model.remove(&i);
    }

    // Another Create or Delete while it builds is over DynamoDB's limit.
    let r = c
        .update_table()
        .table_name(t)
        .attribute_definitions(def("payload", TS))
        .global_secondary_index_updates(create_gsi("by_payload", &["payload"], &[], keys_only()))
        .send()
        .await;
    // The build may already be over; only while it runs is this refused.
    if r.is_err() {
        let msg = expect_code(r, "LimitExceededException", "second build");
        assert!(
            msg.contains("Only 1 online index can be created or deleted simultaneously"),
            "{msg}"
        );
    } else {
        c.update_table()
            .table_name(t)
            .global_secondary_index_updates(delete_gsi("by_payload"))
            .send()
            .await
            .expect("drop by_payload again");
        poll("by_payload to go", || async {
            gsi_of(&describe(&c, t).await, "by_payload").is_none()
        })
        .await;
    }

    poll("by_bucket to be ACTIVE", || async {
        let d = describe(&c, t).await;
        gsi_of(&d, "by_bucket").and_then(|g| g.index_status().cloned()) == Some(IndexStatus::Active)
    })
    .await;
    let d = describe(&c, t).await;
    let g = gsi_of(&d, "by_bucket").unwrap();
    assert_eq!(g.backfilling(), None, "{g:?}");
    let indexed: Vec<&Item> = model
        .values()
        .filter(|i| i.contains_key("bucket"))
        .collect();
    assert_eq!(g.item_count(), Some(indexed.len() as i64));

    let mut buckets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in &indexed {
        buckets
            .entry(str_of(i, "bucket").to_string())
            .or_default()
            .push(str_of(i, "id").to_string());
    }
    assert_eq!(buckets.len(), 9);
    for (b, want) in &buckets {
        let got = ids_where(&c, t, "by_bucket", "bucket", b).await;
        assert_eq!(
            got,
            want.iter().cloned().collect::<BTreeSet<_>>(),
            "bucket {b}"
        );
    }
    // In n order within a bucket.
    let got = query_all(
        q(&c, t, "by_bucket", "#b = :v0", &[s("b3")])
            .expression_attribute_names("#b", "bucket")
            .limit(100),
        &set(&["bucket", "n", "id"]),
    )
    .await;
    let ns: Vec<f64> = got.iter().map(|i| num_of(i, "n")).collect();
    let mut sorted = ns.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(ns, sorted);
    assert_eq!(ids_in_index(&c, t, "by_bucket").await.len(), indexed.len());

    // DynamoDB's errors for a name that exists and one that does not.
    let r = c
        .update_table()
        .table_name(t)
        .attribute_definitions(def("bucket", TS))
        .global_secondary_index_updates(create_gsi("by_bucket", &["bucket"], &[], all()))
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "create an existing index");
    assert_eq!(msg, "Attempting to create an index which already exists");
    let r = c
        .update_table()
        .table_name(t)
        .global_secondary_index_updates(delete_gsi("no_such_index"))
        .send()
        .await;
    let msg = expect_code(r, "ResourceNotFoundException", "delete a missing index");
    assert_eq!(
        msg,
        format!("Requested resource not found: Index no_such_index for table {t}")
    );
    // Two drops in one request are over the limit before either index is
    // looked up.
    let r = c
        .update_table()
        .table_name(t)
        .global_secondary_index_updates(delete_gsi("no_such_index"))
        .global_secondary_index_updates(delete_gsi("nor_this_one"))
        .send()
        .await;
    let msg = expect_code(r, "LimitExceededException", "two drops");
    assert!(
        msg.contains("Only 1 online index can be created or deleted simultaneously"),
        "{msg}"
    );
    // A name past 255 characters is refused for its length before the
    // definitions and the index's keys are compared.
    let long = "k".repeat(256);
    let r = c
        .update_table()
        .table_name(t)
        .attribute_definitions(def(&long, TS))
        .global_secondary_index_updates(create_gsi("by_short", &["short"], &[], all()))
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "a long definition");
    assert!(
        msg.contains("at 'attributeDefinitions.1.member.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"),
        "{msg}"
    );

    // Delete: gone from DescribeTable, and queries of it refused.
    c.update_table()
        .table_name(t)
        .global_secondary_index_updates(delete_gsi("by_bucket"))
        .send()
        .await
        .expect("delete the index");
    poll("by_bucket to disappear", || async {
        describe(&c, t).await.global_secondary_indexes().is_empty()
    })
    .await;
    let r = q(&c, t, "by_bucket", "#b = :v0", &[s("b1")])
        .expression_attribute_names("#b", "bucket")
        .send()
        .await;
    let msg = expect_code(r, "ValidationException", "query a deleted index");
    assert_eq!(
        msg,
        "The table does not have the specified index: by_bucket"
    );
    let r = c.scan().table_name(t).index_name("by_bucket").send().await;
    expect_code(r, "ValidationException", "scan a deleted index");
    // Writes still work, and a new index of the same name builds afresh.
    put(&c, t, item([("id", s("late")), ("bucket", n(1))])).await;
    c.update_table()
        .table_name(t)
        .attribute_definitions(def("payload", TS))
        .global_secondary_index_updates(create_gsi("by_bucket", &["payload"], &[], keys_only()))
        .send()
        .await
        .expect("recreate by_bucket on another key");
    poll("the new by_bucket to be ACTIVE", || async {
        let d = describe(&c, t).await;
        gsi_of(&d, "by_bucket").and_then(|g| g.index_status().cloned()) == Some(IndexStatus::Active)
    })
    .await;
    let got = ids_where(&c, t, "by_bucket", "payload", "p").await;
    assert_eq!(got.len(), model.len(), "every item with a payload");
    cluster.shutdown().await;
}

// ---- 9. Two regions -------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_replicate_and_build_in_every_region() {
    let cluster = TestCluster::start(&TWO).await;
    let east = client(cluster.dynamo_url(0));
    let west = client(cluster.dynamo_url(1));
    let t = "shared";
    create_table_request(&east, t, ("id", TS), None)
        .attribute_definitions(def("team", TS))
        .global_secondary_indexes(gsi("by_team", &["team"], &[], all()))
        .send()
        .await
        .expect("create shared");
    cluster.wait_table_everywhere(t).await;
    poll("west to know by_team", || async {
        west.describe_table()
            .table_name(t)
            .send()
            .await
            .ok()
            .and_then(|o| o.table)
            .is_some_and(|d| gsi_of(&d, "by_team").is_some())
    })
    .await;

    let member = |i: usize, by: &str| {
        item([
            ("id", s(&format!("{by}{i:03}"))),
            ("team", s(&format!("t{}", i % 3))),
            ("tag", s(&format!("x{}", i % 2))),
        ])
    };
    put_many(&east, t, (0..60).map(|i| member(i, "e"))).await;
    put_many(&west, t, (0..60).map(|i| member(i, "w"))).await;
    let want = |team: usize| -> BTreeSet<String> {
        (0..60)
            .filter(|i| i % 3 == team)
            .flat_map(|i| [format!("e{i:03}"), format!("w{i:03}")])
            .collect()
    };
    for (name, c) in [("east", &east), ("west", &west)] {
        poll(
            &format!("{name}'s index to hold both regions' items"),
            || async {
                for team in 0..3 {
                    if ids_where(c, t, "by_team", "team", &format!("t{team}")).await != want(team) {
                        return false;
                    }
                }
                true
            },
        )
        .await;
    }
    // A move made in one region shows in the other's index.
    put(&west, t, item([("id", s("e000")), ("team", s("t9"))])).await;
    poll("east to see e000 move", || async {
        ids_where(&east, t, "by_team", "team", "t9").await == set(&["e000"])
            && !ids_where(&east, t, "by_team", "team", "t0")
                .await
                .contains("e000")
    })
    .await;

    // An index created in the west builds in the east too.
    west.update_table()
        .table_name(t)
        .attribute_definitions(def("tag", TS))
        .global_secondary_index_updates(create_gsi("by_tag", &["tag"], &[], keys_only()))
        .send()
        .await
        .expect("create by_tag in the west");
    // Replication goes on: an item written in the west afterwards reaches
    // the east.
    put(&west, t, item([("id", s("after_w")), ("team", s("t5"))])).await;
    // (10 s: replication between two local regions takes well under one.)
    poll_until(
        "east to index an item written in the west after the UpdateTable",
        Duration::from_secs(10),
        || async { ids_where(&east, t, "by_team", "team", "t5").await == set(&["after_w"]) },
    )
    .await;
    for (name, c) in [("east", &east), ("west", &west)] {
        poll(&format!("by_tag to be ACTIVE in {name}"), || async {
            let d = describe(c, t).await;
            gsi_of(&d, "by_tag").and_then(|g| g.index_status().cloned())
                == Some(IndexStatus::Active)
        })
        .await;
    }
    // e000 was replaced without a tag.
    let mut x0: BTreeSet<String> = (0..60)
        .filter(|i| i % 2 == 0)
        .flat_map(|i| [format!("e{i:03}"), format!("w{i:03}")])
        .collect();
    x0.remove("e000");
    for c in [&east, &west] {
        assert_eq!(ids_where(c, t, "by_tag", "tag", "x0").await, x0);
        assert_eq!(ids_where(c, t, "by_tag", "tag", "x1").await.len(), 60);
    }
    // Items written after the build, in either region, reach both.
    put(&east, t, item([("id", s("late_e")), ("tag", s("x7"))])).await;
    put(&west, t, item([("id", s("late_w")), ("tag", s("x7"))])).await;
    for (name, c) in [("east", &east), ("west", &west)] {
        poll(&format!("{name} to index both late items"), || async {
            ids_where(c, t, "by_tag", "tag", "x7").await == set(&["late_e", "late_w"])
        })
        .await;
    }
    cluster.shutdown().await;
}
