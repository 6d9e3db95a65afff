//! What the DynamoDB test files share: an SDK client for a region's
//! endpoint, attribute-value shorthands, error assertions and table set-up.
//! Each test file uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::operation::update_time_to_live::builders::UpdateTimeToLiveFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType,
    ProvisionedThroughput, Put, PutRequest, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};

mod refusals;
pub use refusals::*;

pub type Item = HashMap<String, AttributeValue>;

/// A `ReplicaUpdates` member that adds a replica in `region`.
pub fn replica_create(region: &str) -> aws_sdk_dynamodb::types::ReplicationGroupUpdate {
    aws_sdk_dynamodb::types::ReplicationGroupUpdate::builder()
        .create(
            aws_sdk_dynamodb::types::CreateReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .unwrap(),
        )
        .build()
}

/// An SDK client for one region's endpoint: plain HTTP, dummy credentials.
pub fn client(url: String) -> Client {
    client_as(url, "AKID")
}

/// [`client`] signing with access key id `key`: a twelve-digit key is
/// that account's (`meridian_core::account`).
pub fn client_as(url: String, key: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, "secret", None, None, "test"))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// `c`'s DescribeTable of `table`; any error fails the test.
pub async fn table_of(c: &Client, table: &str) -> aws_sdk_dynamodb::types::TableDescription {
    c.describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("a described table")
}

/// [`client`] that retries a refusal up to ten attempts with the SDK's
/// exponential backoff: for a test's setup that writes faster than a
/// partition takes (1,000 write units a second), where the default three
/// attempts can all fall within the second one large put spends. The
/// throttle is DynamoDB's ("Reduce the frequency of requests and use
/// exponential backoff", *Error retries and exponential backoff*,
/// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html#Programming.Errors.RetryAndBackoff);
/// the test waits it out instead of the endpoint being kinder.
pub fn patient(url: String) -> Client {
    let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(10);
    let conf = client(url)
        .config()
        .to_builder()
        .retry_config(retry)
        .build();
    Client::from_conf(conf)
}

/// [`client`] that does not retry, so a refusal the SDK would retry
/// (`ReplicatedWriteConflictException`, a throttle) reaches the test.
pub fn no_retry(url: String) -> Client {
    let conf = client(url)
        .config()
        .to_builder()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn item<const N: usize>(attrs: [(&str, AttributeValue); N]) -> Item {
    attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Sets are unordered: sort members so items compare by value.
pub fn norm(v: &AttributeValue) -> AttributeValue {
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v
    };
    match v {
        AttributeValue::Ss(x) => AttributeValue::Ss(sorted(x)),
        AttributeValue::Ns(x) => AttributeValue::Ns(sorted(x)),
        AttributeValue::M(x) => AttributeValue::M(norm_item(x)),
        AttributeValue::L(x) => AttributeValue::L(x.iter().map(norm).collect()),
        other => other.clone(),
    }
}

pub fn norm_item(i: &Item) -> Item {
    i.iter().map(|(k, v)| (k.clone(), norm(v))).collect()
}

/// Asserts a request failed with the service error `code`; returns the message.
#[track_caller]
pub fn expect_code<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(
    r: Result<T, SdkError<E, R>>,
    code: &str,
    what: &str,
) -> String {
    expect_refused(outcome(r), code, what)
}

#[track_caller]
pub fn expect_validation<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(
    r: Result<T, SdkError<E, R>>,
    contains: &str,
    what: &str,
) {
    let msg = expect_code(r, "ValidationException", what);
    Says::Has(contains).check(&msg, what);
}

/// A CreateTable request for `name`, on demand, keyed by `pk` (and `sk`),
/// for a test to add to or send.
pub fn create_table_request(
    c: &Client,
    name: &str,
    pk: (&str, ScalarAttributeType),
    sk: Option<(&str, ScalarAttributeType)>,
) -> CreateTableFluentBuilder {
    let mut req = c
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, ty, kt) in
        std::iter::once((pk.0, pk.1, KeyType::Hash)).chain(sk.map(|(a, t)| (a, t, KeyType::Range)))
    {
        req = req
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(kt)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ty)
                    .build()
                    .unwrap(),
            );
    }
    req
}

/// An UpdateTimeToLive request for `table`, TTL on `attribute` turned on
/// or off, for a test to send.
pub fn update_ttl(
    c: &Client,
    table: &str,
    attribute: &str,
    enabled: bool,
) -> UpdateTimeToLiveFluentBuilder {
    c.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(enabled)
                .build()
                .unwrap(),
        )
}

/// Table `name` keyed on `pk` (a string), provisioned at `units`.
pub async fn create_provisioned(c: &Client, name: &str, units: ProvisionedThroughput) {
    create_table_request(c, name, ("pk", ScalarAttributeType::S), None)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(units)
        .send()
        .await
        .expect("a provisioned table");
}

pub async fn create_table(
    c: &Client,
    name: &str,
    pk: (&str, ScalarAttributeType),
    sk: Option<(&str, ScalarAttributeType)>,
) {
    create_table_request(c, name, pk, sk)
        .send()
        .await
        .expect("create table");
}

/// Puts `it` into `table`; any error fails the test.
pub async fn put(c: &Client, table: &str, it: Item) {
    c.put_item()
        .table_name(table)
        .set_item(Some(it))
        .send()
        .await
        .expect("put item");
}

/// The string attribute `attr` of `i`; anything else fails the test.
pub fn str_of<'a>(i: &'a Item, attr: &str) -> &'a str {
    i.get(attr)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{attr} is not a string in {i:?}"))
}

pub async fn get(c: &Client, table: &str, key: Item) -> Option<Item> {
    c.get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .expect("get item")
        .item
}

/// Writes `items` to `table` with BatchWriteItem, 25 at a time, sending
/// the requests a batch gives back (`UnprocessedItems`: a spent
/// partition's, as AWS gives them back too) again after a backoff, as
/// AWS's BatchWriteItem reference asks of a client; every one must be
/// processed within 60 s.
pub async fn put_many(c: &Client, table: &str, items: impl IntoIterator<Item = Item>) {
    let items: Vec<Item> = items.into_iter().collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    for chunk in items.chunks(25) {
        let mut writes: Vec<WriteRequest> = chunk.iter().map(|i| put_req(i.clone())).collect();
        let mut backoff = std::time::Duration::from_millis(5);
        while !writes.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{table}: {} writes still unprocessed after 60 s",
                writes.len()
            );
            let out = c
                .batch_write_item()
                .request_items(table, writes)
                .send()
                .await
                .expect("batch write");
            writes = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if !writes.is_empty() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_millis(500));
            }
        }
    }
}

/// A BatchWriteItem put of `it`.
pub fn put_req(it: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(it)).build().unwrap())
        .build()
}

/// A BatchWriteItem delete of `key`.
pub fn delete_req(key: Item) -> WriteRequest {
    WriteRequest::builder()
        .delete_request(
            aws_sdk_dynamodb::types::DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .unwrap(),
        )
        .build()
}

/// A TransactWriteItems put of `it` into `table`.
pub fn tx_put(table: &str, it: Item) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(it))
                .build()
                .unwrap(),
        )
        .build()
}

/// A TransactWriteItems delete of `key` from `table`.
pub fn tx_delete(table: &str, key: Item) -> TransactWriteItem {
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

/// A TransactWriteItems update of `key` in `table` by `expr`, with `values`.
pub fn tx_update(
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

/// Provisioned `(read, write)` capacity units.
pub fn units(read: i64, write: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .unwrap()
}

/// One element of a key schema: `name` as `ty` (HASH or RANGE).
pub fn key_element(name: &str, ty: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(ty)
        .build()
        .unwrap()
}

/// A string attribute's definition.
pub fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

/// An index projection of every attribute.
pub fn project_all() -> aws_sdk_dynamodb::types::Projection {
    aws_sdk_dynamodb::types::Projection::builder()
        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
        .build()
}
