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
use aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder;
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
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use meridian_cluster::http;
use meridian_core::AttrValue;
use meridian_tests::{TestCluster, poll_until};

use crate::cases;
use crate::sdk;
use cases::Cases;
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

mod answers;
mod batches;
mod capacity;
mod cross_region;
mod endpoints;
mod errors;
mod expressions;
mod fidelity;
mod items;
mod legacy;
mod limits;
mod query;
mod query_checks;
mod replica_deletion;
mod scan;
mod tables;
mod tags;
mod transactions;
mod ttl;
