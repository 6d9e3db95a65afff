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
    AttributeDefinition, AttributeValue, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexDescription,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, LocalSecondaryIndex,
    Projection, ProjectionType, ScalarAttributeType, Select, TableDescription, TransactWriteItem,
    Update, WriteRequest,
};
use meridian_tests::{TestCluster, poll_until};

use crate::cases;
use crate::sdk;
use cases::Cases;
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

fn id_key(id: &str) -> Item {
    item([("id", s(id))])
}

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

mod create;
mod errors;
mod local;
mod multi_key;
mod query;
mod regions;
mod scan;
mod sparse;
mod throughput;
mod update_table;
