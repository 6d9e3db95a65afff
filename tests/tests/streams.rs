//! Change streams through the real AWS SDK for Rust's DynamoDB Streams
//! client (`aws-sdk-dynamodbstreams`), unmodified: ListStreams,
//! DescribeStream, GetShardIterator and GetRecords in every region, records
//! as DynamoDB writes them, a stream disabled and enabled again, TTL
//! deletes, and DynamoDB's errors for bad input (docs/streams.md).

use std::time::Duration;

use aws_sdk_dynamodb::types::{ScalarAttributeType, StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as SAv, OperationType, Record, ShardIteratorType,
};
use meridian_tests::{TestCluster, every_region, every_version, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

pub(crate) fn streams_client(url: String) -> StreamsClient {
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            "AKID", "secret", None, None, "test",
        ))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    StreamsClient::from_conf(config)
}

/// An iterator of shard `shard` of stream `arn`, from `from`.
async fn iterator(c: &StreamsClient, arn: &str, shard: &str, from: ShardIteratorType) -> String {
    c.get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(from)
        .send()
        .await
        .expect("iterator")
        .shard_iterator
        .expect("an iterator")
}

/// Every record of shard `shard` from `from` on (two records per answer),
/// and the last answer's next iterator.
async fn read_shard(
    c: &StreamsClient,
    arn: &str,
    shard: &str,
    from: ShardIteratorType,
) -> (Vec<Record>, Option<String>) {
    let mut it = Some(iterator(c, arn, shard, from).await);
    let mut records = Vec::new();
    // A bounded walk: each answer holds at most 2 records here.
    for _ in 0..1000 {
        let Some(i) = it.clone() else { break };
        let page = c
            .get_records()
            .shard_iterator(i)
            .limit(2)
            .send()
            .await
            .expect("get records");
        let empty = page.records().is_empty();
        records.extend(page.records().iter().cloned());
        it = page.next_shard_iterator;
        if empty {
            break;
        }
    }
    (records, it)
}

/// DescribeStream of `arn`, the whole first page.
async fn describe(
    c: &StreamsClient,
    arn: &str,
) -> aws_sdk_dynamodbstreams::types::StreamDescription {
    c.describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .expect("describe stream")
        .stream_description
        .expect("a stream description")
}

/// Every record of the stream from its start, shard after shard as
/// DescribeStream lists them (each the parent of the next), with the first
/// shard's id and the last shard's next iterator.
pub(crate) async fn read_all(
    c: &StreamsClient,
    arn: &str,
) -> (String, Vec<Record>, Option<String>) {
    let d = c
        .describe_stream()
        .stream_arn(arn)
        .send()
        .await
        .expect("describe stream")
        .stream_description
        .unwrap();
    let mut records = Vec::new();
    let mut next = None;
    for shard in d.shards() {
        let id = shard.shard_id().unwrap();
        let (rs, it) = read_shard(c, arn, id, ShardIteratorType::TrimHorizon).await;
        records.extend(rs);
        next = it;
    }
    let first = d.shards()[0].shard_id().unwrap().to_string();
    (first, records, next)
}

/// Creates `table` (key `id`, a string) with a stream of view type `view`.
pub(crate) async fn table_with_stream(
    c: &aws_sdk_dynamodb::Client,
    table: &str,
    view: StreamViewType,
) {
    create_table_request(c, table, ("id", ScalarAttributeType::S), None)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a table with a stream");
}

/// The ARN of `table`'s latest stream, from DescribeTable.
pub(crate) async fn stream_arn(c: &aws_sdk_dynamodb::Client, table: &str) -> String {
    c.describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table")
        .table
        .expect("a table")
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_string()
}

/// Puts item `id` with attribute `v` into `table`.
pub(crate) async fn put_v(c: &aws_sdk_dynamodb::Client, table: &str, id: &str, v: &str) {
    c.put_item()
        .table_name(table)
        .set_item(Some(item([("id", s(id)), ("v", s(v))])))
        .send()
        .await
        .expect("put");
}

/// The ARNs ListStreams gives for `table`, in order.
async fn listed_arns(c: &StreamsClient, table: &str) -> Vec<String> {
    c.list_streams()
        .table_name(table)
        .send()
        .await
        .expect("list streams")
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn().map(str::to_string))
        .collect()
}

fn events(records: &[Record]) -> Vec<OperationType> {
    records
        .iter()
        .map(|r| r.event_name().unwrap().clone())
        .collect()
}

/// Each item's events, by its `id`, in stream order.
pub(crate) fn events_by_key(
    records: &[Record],
) -> std::collections::BTreeMap<String, Vec<OperationType>> {
    let mut out: std::collections::BTreeMap<String, Vec<OperationType>> = Default::default();
    for r in records {
        let id = match r
            .dynamodb()
            .and_then(|d| d.keys())
            .and_then(|k| k.get("id"))
        {
            Some(SAv::S(id)) => id.clone(),
            other => panic!("a record without a string id: {other:?}"),
        };
        out.entry(id)
            .or_default()
            .push(r.event_name().unwrap().clone());
    }
    out
}

pub(crate) fn image_v(img: Option<&std::collections::HashMap<String, SAv>>) -> Option<String> {
    img.and_then(|i| i.get("v")).map(|v| match v {
        SAv::S(s) => s.clone(),
        other => format!("{other:?}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_region_streams_the_changes_it_applies_as_dynamodb_writes_them() {
    // Every version, so that the peer's stream holds each change: by
    // default quick changes of one item may reach it as one (the tests
    // in `coalesce`).
    let c = TestCluster::start_tuned(&REGIONS, |cfg| {
        every_region(cfg);
        every_version(cfg);
    })
    .await;
    let east = client(c.dynamo_url(0));
    let table = "events";
    table_with_stream(&east, table, StreamViewType::NewAndOldImages).await;
    c.wait_table_everywhere(table).await;
    let t = east
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let arn = t.latest_stream_arn().expect("LatestStreamArn").to_string();
    let label = t.latest_stream_label().unwrap().to_string();

    let put = |id: &str, v: &str| {
        east.put_item()
            .table_name(table)
            .set_item(Some(item([("id", s(id)), ("v", s(v))])))
            .send()
    };
    put("k1", "a").await.unwrap();
    put("k1", "b").await.unwrap();
    // The same item again changes nothing: no record.
    put("k1", "b").await.unwrap();
    east.delete_item()
        .table_name(table)
        .set_key(Some(item([("id", s("k1"))])))
        .send()
        .await
        .unwrap();
    put("k2", "c").await.unwrap();

    let streams = streams_client(c.dynamo_url(0));
    let listed = streams
        .list_streams()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let [only] = listed.streams() else {
        panic!("one stream: {listed:?}")
    };
    assert_eq!(only.stream_arn(), Some(arn.as_str()));
    assert_eq!(only.stream_label(), Some(label.as_str()));
    let d = describe(&streams, &arn).await;
    assert_eq!(d.stream_status().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(
        d.stream_view_type().map(|s| s.as_str()),
        Some("NEW_AND_OLD_IMAGES")
    );
    assert_eq!(d.table_name(), Some(table));
    assert_eq!(d.key_schema().len(), 1);

    let (shard, records, next) = read_all(&streams, &arn).await;
    assert_eq!(
        events(&records),
        vec![
            OperationType::Insert,
            OperationType::Modify,
            OperationType::Remove,
            OperationType::Insert
        ]
    );
    assert!(next.is_some(), "an enabled stream's shard stays open");
    let r = |i: usize| records[i].dynamodb().unwrap();
    assert_eq!(image_v(r(0).new_image()), Some("a".into()));
    assert_eq!(image_v(r(0).old_image()), None);
    assert_eq!(image_v(r(1).old_image()), Some("a".into()));
    assert_eq!(image_v(r(1).new_image()), Some("b".into()));
    assert_eq!(image_v(r(2).old_image()), Some("b".into()));
    assert_eq!(image_v(r(2).new_image()), None);
    assert_eq!(r(2).keys().unwrap()["id"], SAv::S("k1".into()));
    assert!(
        records
            .iter()
            .all(|x| x.event_source() == Some("aws:dynamodb")
                && x.aws_region() == Some("us-east-1")
                && x.event_version() == Some("1.1")
                && x.user_identity().is_none())
    );
    let seqs: Vec<u128> = records
        .iter()
        .map(|x| {
            x.dynamodb()
                .unwrap()
                .sequence_number()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(r(0).size_bytes().unwrap() > 0);

    // AT and AFTER a sequence number.
    let at = |kind: ShardIteratorType, n: &str| {
        streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(kind)
            .sequence_number(n)
            .send()
    };
    let second = r(1).sequence_number().unwrap().to_string();
    for (kind, want) in [
        (ShardIteratorType::AtSequenceNumber, OperationType::Modify),
        (
            ShardIteratorType::AfterSequenceNumber,
            OperationType::Remove,
        ),
    ] {
        let it = at(kind, &second).await.unwrap().shard_iterator.unwrap();
        let page = streams
            .get_records()
            .shard_iterator(it)
            .limit(1)
            .send()
            .await
            .unwrap();
        assert_eq!(events(page.records()), vec![want]);
    }

    // LATEST sees only what comes after it.
    let latest = iterator(&streams, &arn, &shard, ShardIteratorType::Latest).await;
    put("k3", "d").await.unwrap();
    let page = streams
        .get_records()
        .shard_iterator(latest)
        .send()
        .await
        .unwrap();
    assert_eq!(events(page.records()), vec![OperationType::Insert]);
    assert_eq!(
        image_v(page.records()[0].dynamodb().unwrap().new_image()),
        Some("d".into())
    );

    // The peer region's stream records the same changes, as it applied them.
    let west = streams_client(c.dynamo_url(1));
    let west_arn = arn.replace("us-east-1", "eu-west-1");
    poll_until(
        "eu-west-1's stream to hold the five changes",
        Duration::from_secs(20),
        || async {
            let (_, rs, _) = read_all(&west, &west_arn).await;
            rs.len() == 5
        },
    )
    .await;
    let (_, at_west, _) = read_all(&west, &west_arn).await;
    // Each item's changes in the order they were made; items apart may
    // come in another order, replicated partition by partition as DynamoDB
    // replicates them (docs/replication.md, Lanes).
    assert_eq!(
        events_by_key(&at_west),
        std::collections::BTreeMap::from([
            (
                "k1".to_string(),
                vec![
                    OperationType::Insert,
                    OperationType::Modify,
                    OperationType::Remove
                ]
            ),
            ("k2".to_string(), vec![OperationType::Insert]),
            ("k3".to_string(), vec![OperationType::Insert]),
        ])
    );
    assert!(at_west.iter().all(|x| x.aws_region() == Some("eu-west-1")));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_stream_closes_its_shard_and_a_new_one_gets_a_new_label() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    let east = client(c.dynamo_url(0));
    let table = "toggled";
    table_with_stream(&east, table, StreamViewType::KeysOnly).await;
    let first_arn = stream_arn(&east, table).await;
    put_v(&east, table, "a", "1").await;
    east.update_table()
        .table_name(table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // As in DynamoDB, the table still names its latest stream once it is
    // disabled; only StreamSpecification goes.
    let first_label = first_arn.rsplit('/').next().unwrap().to_string();
    assert_latest_stream(&east, table, &first_arn, &first_label).await;
    let streams = streams_client(c.dynamo_url(0));
    let d = streams
        .describe_stream()
        .stream_arn(&first_arn)
        .send()
        .await
        .unwrap();
    let d = d.stream_description.unwrap();
    assert_eq!(d.stream_status().map(|s| s.as_str()), Some("DISABLED"));
    let range = d.shards()[0].sequence_number_range().unwrap();
    assert!(range.ending_sequence_number().is_some(), "{range:?}");
    let (_, records, next) = read_all(&streams, &first_arn).await;
    assert_eq!(events(&records), vec![OperationType::Insert]);
    // KEYS_ONLY: keys, no images.
    let dd = records[0].dynamodb().unwrap();
    assert!(dd.keys().is_some() && dd.new_image().is_none() && dd.old_image().is_none());
    assert!(
        next.is_none(),
        "a closed shard read to its end has no next iterator"
    );

    // Enabled again: a new stream, with a new label; both are listed.
    east.update_table()
        .table_name(table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let second_arn = stream_arn(&east, table).await;
    assert_ne!(second_arn, first_arn);
    assert_eq!(
        listed_arns(&streams, table).await,
        vec![first_arn.clone(), second_arn.clone()]
    );

    // Disabled again before any write: the table names the second stream,
    // which holds no record, in UpdateTable's answer and DescribeTable's.
    let second_label = second_arn.rsplit('/').next().unwrap().to_string();
    let answer = east
        .update_table()
        .table_name(table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .table_description
        .unwrap();
    assert_eq!(answer.latest_stream_arn(), Some(second_arn.as_str()));
    assert_eq!(answer.latest_stream_label(), Some(second_label.as_str()));
    assert_latest_stream(&east, table, &second_arn, &second_label).await;

    // A table that never had a stream names none.
    create_table_request(&east, "plain", ("id", ScalarAttributeType::S), None)
        .send()
        .await
        .unwrap();
    let t = east
        .describe_table()
        .table_name("plain")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.latest_stream_arn(), None);
    assert_eq!(t.latest_stream_label(), None);
    c.shutdown().await;
}

/// DescribeTable of `table`, whose stream is disabled, names `arn` and
/// `label` as its latest stream and has no StreamSpecification.
async fn assert_latest_stream(c: &aws_sdk_dynamodb::Client, table: &str, arn: &str, label: &str) {
    let t = c
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.latest_stream_arn(), Some(arn), "{t:?}");
    assert_eq!(t.latest_stream_label(), Some(label), "{t:?}");
    assert_eq!(t.stream_specification(), None, "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_delete_is_a_remove_made_by_the_service() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    let east = client(c.dynamo_url(0));
    let table = "expiring";
    table_with_stream(&east, table, StreamViewType::OldImage).await;
    update_ttl(&east, table, "exp", true).send().await.unwrap();
    // A minute ago: expired, and recent enough to count (DynamoDB ignores
    // expiry times more than five years old).
    let expired = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60;
    east.put_item()
        .table_name(table)
        .set_item(Some(item([("id", s("gone")), ("exp", n(expired))])))
        .send()
        .await
        .unwrap();
    let arn = stream_arn(&east, table).await;
    let streams = streams_client(c.dynamo_url(0));
    poll_until(
        "the TTL delete's record",
        Duration::from_secs(20),
        || async { read_all(&streams, &arn).await.1.len() == 2 },
    )
    .await;
    let (_, records, _) = read_all(&streams, &arn).await;
    assert_eq!(
        events(&records),
        vec![OperationType::Insert, OperationType::Remove]
    );
    let who = records[1]
        .user_identity()
        .expect("a TTL delete names the service");
    assert_eq!(who.principal_id(), Some("dynamodb.amazonaws.com"));
    assert_eq!(who.r#type(), Some("Service"));
    assert!(records[0].user_identity().is_none());
    // OLD_IMAGE: the removed item is in the record.
    assert!(records[1].dynamodb().unwrap().old_image().is_some());
    c.shutdown().await;
}

/// A shard iterator has the shape DynamoDB Streams' GetShardIterator
/// documents (`arn:aws:dynamodb:…:table/<name>/stream/<label>|1|…`): the
/// stream's ARN, a digit between bars, then the position; GetRecords'
/// `NextShardIterator` has it too, and one whose ARN is not the position's
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_iterator_starts_with_its_streams_arn_as_dynamodb_documents() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    let east = client(c.dynamo_url(0));
    table_with_stream(&east, "shape", StreamViewType::NewImage).await;
    table_with_stream(&east, "other", StreamViewType::NewImage).await;
    let arn = stream_arn(&east, "shape").await;
    let streams = streams_client(c.dynamo_url(0));
    let d = describe(&streams, &arn).await;
    let shard = d.shards()[0].shard_id().unwrap().to_string();
    let documented = |it: &str| {
        let rest = it
            .strip_prefix(&format!("{arn}|"))
            .unwrap_or_else(|| panic!("{it:?} does not start with {arn}|"));
        let (digit, position) = rest.split_once('|').expect("|<digit>|");
        assert!(
            digit.len() == 1 && digit.bytes().all(|b| b.is_ascii_digit()),
            "{it:?}"
        );
        assert!(!position.is_empty(), "{it:?}");
    };
    let it = iterator(&streams, &arn, &shard, ShardIteratorType::TrimHorizon).await;
    documented(&it);
    let page = streams
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap();
    assert!(page.records().is_empty());
    documented(page.next_shard_iterator().expect("an open shard goes on"));
    // The same position behind another stream's ARN is not an iterator.
    let other = stream_arn(&east, "other").await;
    let forged = it.replacen(&arn, &other, 1);
    assert_ne!(forged, it);
    let e = streams
        .get_records()
        .shard_iterator(forged)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stream_requests_get_dynamodbs_errors() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    let east = client(c.dynamo_url(0));
    for (table, view) in [
        ("one", StreamViewType::NewImage),
        ("two", StreamViewType::NewImage),
    ] {
        table_with_stream(&east, table, view).await;
        east.put_item()
            .table_name(table)
            .set_item(Some(item([("id", s("x"))])))
            .send()
            .await
            .unwrap();
    }
    let (one, two) = (
        stream_arn(&east, "one").await,
        stream_arn(&east, "two").await,
    );
    let streams = streams_client(c.dynamo_url(0));
    let code = |e: &dyn ProvideErrorMetadata| e.code().unwrap_or_default().to_string();

    // A malformed iterator.
    let e = streams
        .get_records()
        .shard_iterator("not-an-iterator")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    // A shard that is not the stream's.
    let e = streams
        .get_shard_iterator()
        .stream_arn(&one)
        .shard_id("shardId-00000000000000000000-00000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "{e:?}");
    // A stream ARN of a table that does not exist.
    let e = streams
        .describe_stream()
        .stream_arn(one.replace("table/one/", "table/nothere/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ResourceNotFoundException", "{e:?}");
    // A sequence number of another stream.
    let (_, of_two, _) = read_all(&streams, &two).await;
    let theirs = of_two[0]
        .dynamodb()
        .unwrap()
        .sequence_number()
        .unwrap()
        .to_string();
    let (shard, _, _) = read_all(&streams, &one).await;
    let e = streams
        .get_shard_iterator()
        .stream_arn(&one)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&theirs)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    assert!(e.message().unwrap_or_default().contains(&theirs), "{e:?}");
    // Nothing else was affected: stream one still reads its record.
    let (_, of_one, _) = read_all(&streams, &one).await;
    assert_eq!(of_one.len(), 1);

    // Not a stream ARN at all: refused as malformed, not as unknown.
    let garbage = "sdfadfsdfnlfkajakfgjalksfgklasjklasdjfklasdfasdfgasf";
    let e = streams
        .describe_stream()
        .stream_arn(garbage)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    let e = streams
        .get_shard_iterator()
        .stream_arn(garbage)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    let e = streams
        .list_streams()
        .exclusive_start_stream_arn(garbage)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    assert!(
        e.message().unwrap().contains("ExclusiveStartStreamArn"),
        "{e:?}"
    );
    // A shard id shorter than any shard id can be.
    let e = streams
        .get_shard_iterator()
        .stream_arn(&one)
        .shard_id("shardId-1")
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    assert!(e.message().unwrap().contains("'shardId'"), "{e:?}");
    // A page size below one.
    let e = streams.list_streams().limit(-1).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    assert!(
        e.message()
            .unwrap()
            .contains("Value '-1' at 'limit' failed to satisfy constraint"),
        "{e:?}"
    );
    // A well-formed start naming no stream resumes where it would sort:
    // a later label of table one comes before table two.
    let later = format!(
        "{}/stream/9999-12-31T23:59:59.999",
        one.split_once("/stream/").unwrap().0
    );
    let listed = streams
        .list_streams()
        .exclusive_start_stream_arn(&later)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn())
        .collect();
    assert_eq!(arns, [two.as_str()]);

    // A stream with no record yet: its shard's start stays put while other
    // streams take positions, and reads from it.
    table_with_stream(&east, "quiet", StreamViewType::NewImage).await;
    let quiet = stream_arn(&east, "quiet").await;
    let start_of = |d: aws_sdk_dynamodbstreams::types::StreamDescription| {
        let shard = d.shards()[0].clone();
        (
            shard.shard_id().unwrap().to_string(),
            shard
                .sequence_number_range()
                .unwrap()
                .starting_sequence_number()
                .unwrap()
                .to_string(),
        )
    };
    let (quiet_shard, before) = start_of(describe(&streams, &quiet).await);
    put_v(&east, "one", "y", "1").await;
    let (_, after) = start_of(describe(&streams, &quiet).await);
    assert_eq!(before, after, "the start of an empty shard moved");
    for kind in [
        ShardIteratorType::AtSequenceNumber,
        ShardIteratorType::AfterSequenceNumber,
    ] {
        streams
            .get_shard_iterator()
            .stream_arn(&quiet)
            .shard_id(&quiet_shard)
            .shard_iterator_type(kind)
            .sequence_number(&before)
            .send()
            .await
            .unwrap();
    }
    put_v(&east, "quiet", "z", "1").await;
    let (records, _) = read_shard(
        &streams,
        &quiet,
        &quiet_shard,
        ShardIteratorType::TrimHorizon,
    )
    .await;
    assert_eq!(records.len(), 1);
    c.shutdown().await;
}

/// How a watch event shows a conflict: (the version kept, the version
/// discarded), both with their origins; `None` for a change that did not
/// overwrite or discard a concurrent write.
fn conflict_of(
    e: &meridian_proto::v1::ChangeEvent,
) -> Option<(meridian_proto::v1::Version, meridian_proto::v1::Version)> {
    match e.event.as_str() {
        "DISCARDED" => Some((e.kept.clone()?, e.version.clone()?)),
        _ => Some((e.version.clone()?, e.overwrote.clone()?)),
    }
}

/// Reads `w` until an event shows a conflict (within the deadline), and
/// returns the events read.
async fn until_conflict(
    w: &mut tonic::Streaming<meridian_proto::v1::ChangeEvent>,
    region: &str,
) -> Vec<meridian_proto::v1::ChangeEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    while !events.iter().any(|e| conflict_of(e).is_some()) {
        match tokio::time::timeout_at(deadline, w.message()).await {
            Ok(Ok(Some(e))) => events.push(e),
            other => panic!("{region}'s watch showed no conflict: {other:?} after {events:#?}"),
        }
    }
    events
}

/// `Watch` over gRPC (what `meridian watch` prints): two regions cut off
/// from each other write the same key; after the heal, BOTH regions'
/// watches show the conflict with both versions and their origins, live
/// and from the start. Where the winner arrived second, its change is
/// marked with the version it overwrote; where the loser arrived second,
/// it was never applied, and a DISCARDED event shows it with the version
/// kept. GetRecords shows no record of the discarded write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_regions_watch_shows_a_conflict_it_resolved() {
    use meridian_proto::v1 as pb;
    use meridian_scenario::scenario::{Action, PartitionKind};
    let net = meridian_netsim::Registry::new();
    let c = TestCluster::start_through_global(&REGIONS, &net).await;
    let east = client(c.dynamo_url(0));
    let table = "watched";
    table_with_stream(&east, table, StreamViewType::NewImage).await;
    c.wait_table_everywhere(table).await;
    // Watching from now on, before the writes.
    let mut live = Vec::new();
    for i in 0..2 {
        let w = c
            .client(i)
            .watch(pb::WatchRequest {
                table: table.into(),
                from_start: false,
            })
            .await
            .unwrap()
            .into_inner();
        live.push(w);
    }
    let faults = c.faults(&net).await;
    faults
        .apply(&Action::Partition {
            from: REGIONS[0].into(),
            to: REGIONS[1].into(),
            both: true,
            kind: PartitionKind::Blackhole,
        })
        .await
        .unwrap();
    for (i, by) in REGIONS.iter().enumerate() {
        client(c.dynamo_url(i))
            .put_item()
            .table_name(table)
            .set_item(Some(item([("id", s("k")), ("by", s(by))])))
            .send()
            .await
            .unwrap();
    }
    faults
        .apply(&Action::Heal {
            link: None,
            region: None,
        })
        .await
        .unwrap();
    c.wait_quiescent(table, Duration::from_secs(30))
        .await
        .unwrap();

    let mut seen = Vec::new();
    for (i, w) in live.iter_mut().enumerate() {
        let events = until_conflict(w, REGIONS[i]).await;
        // Before the conflict, the region's own write, and nothing else.
        assert_eq!(events.len(), 2, "{}: {events:#?}", REGIONS[i]);
        assert_eq!(events[0].event, "INSERT");
        assert_eq!(events[0].version.as_ref().unwrap().origin, REGIONS[i]);
        seen.push(events);
    }
    let conflicts: Vec<_> = seen.iter().map(|e| conflict_of(&e[1]).unwrap()).collect();
    assert_eq!(
        conflicts[0], conflicts[1],
        "both regions show the same pair"
    );
    let (kept, discarded) = conflicts[0].clone();
    assert_ne!(kept.origin, discarded.origin, "{kept:?} {discarded:?}");
    assert!(REGIONS.contains(&kept.origin.as_str()));
    assert!(REGIONS.contains(&discarded.origin.as_str()));
    let winner = REGIONS.iter().position(|r| *r == kept.origin).unwrap();
    let loser = 1 - winner;
    // Where the winner arrived second, it overwrote the region's write ...
    let modify = &seen[loser][1];
    assert_eq!(modify.event, "MODIFY", "{modify:?}");
    assert_eq!(modify.overwrote, seen[loser][0].version);
    assert!(
        modify.new_image_json.contains(REGIONS[winner]),
        "{modify:?}"
    );
    // ... and where it was written, the loser arrived and was discarded.
    let dropped = &seen[winner][1];
    assert_eq!(dropped.event, "DISCARDED", "{dropped:?}");
    assert_eq!(dropped.kept, seen[winner][0].version);
    assert!(
        dropped.new_image_json.contains(REGIONS[loser]),
        "{dropped:?}"
    );
    assert!(
        dropped.kept_image_json.contains(REGIONS[winner]),
        "{dropped:?}"
    );
    assert_eq!(
        dropped.sequence, seen[winner][0].sequence,
        "it came after the own write"
    );

    // From the start, each region's watch shows the same: the marks are
    // kept with the stream's records.
    for i in 0..2 {
        let mut w = c
            .client(i)
            .watch(pb::WatchRequest {
                table: table.into(),
                from_start: true,
            })
            .await
            .unwrap()
            .into_inner();
        let events = until_conflict(&mut w, REGIONS[i]).await;
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.event.clone(), conflict_of(e)))
            .collect();
        let want: Vec<_> = seen[i]
            .iter()
            .map(|e| (e.event.clone(), conflict_of(e)))
            .collect();
        assert_eq!(got, want, "{}", REGIONS[i]);
    }

    // GetRecords holds only applied changes: the winner's region has one
    // record of the key, its own write.
    let streams = streams_client(c.dynamo_url(winner));
    let arn = stream_arn(&client(c.dynamo_url(winner)), table).await;
    let d = describe(&streams, &arn).await;
    let shard = d.shards()[0].shard_id().unwrap().to_string();
    let (records, _) = read_shard(&streams, &arn, &shard, ShardIteratorType::TrimHorizon).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].event_name(), Some(&OperationType::Insert));

    // A table without a stream cannot be watched, and says why.
    c.create_table(0, "plain", ("id", "S"), None).await;
    let e = c
        .client(0)
        .watch(pb::WatchRequest {
            table: "plain".into(),
            from_start: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("no stream enabled"), "{e:?}");
    // The regions wait for open calls as they stop: the watches end first.
    drop(live);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_rolls_into_a_child_that_names_it_as_parent() {
    // Shards roll after a second here, instead of DynamoDB's four hours.
    let c = TestCluster::start_tuned(&REGIONS[..1], |cfg| {
        cfg.retention.stream_shard_age = Duration::from_secs(1);
    })
    .await;
    let east = client(c.dynamo_url(0));
    let table = "rolling";
    table_with_stream(&east, table, StreamViewType::NewImage).await;
    let arn = stream_arn(&east, table).await;
    let streams = streams_client(c.dynamo_url(0));
    // One write per look until a second shard opens: a change more than a
    // second after the first shard opened.
    let mut written = 0u32;
    poll_until("a second shard", Duration::from_secs(30), || {
        written += 1;
        let (east, streams, arn, n) = (&east, &streams, &arn, written);
        async move {
            east.put_item()
                .table_name(table)
                .set_item(Some(item([("id", s(&format!("k{n}"))), ("v", s("1"))])))
                .send()
                .await
                .unwrap();
            let d = streams
                .describe_stream()
                .stream_arn(arn)
                .send()
                .await
                .unwrap();
            d.stream_description.unwrap().shards().len() >= 2
        }
    })
    .await;
    let d = describe(&streams, &arn).await;
    let shards = d.shards();
    let (parent, child) = (&shards[0], &shards[1]);
    assert_eq!(parent.parent_shard_id(), None);
    assert_eq!(child.parent_shard_id(), parent.shard_id());
    let range =
        |s: &aws_sdk_dynamodbstreams::types::Shard| s.sequence_number_range().unwrap().clone();
    assert!(
        range(parent).ending_sequence_number().is_some(),
        "the parent is closed"
    );
    assert!(
        range(child).ending_sequence_number().is_none(),
        "the child is open"
    );
    assert!(
        range(parent).ending_sequence_number().unwrap()
            < range(child).starting_sequence_number().unwrap()
    );

    // The parent read to its end has no next iterator; the child goes on.
    let (in_parent, next) = read_shard(
        &streams,
        &arn,
        parent.shard_id().unwrap(),
        ShardIteratorType::TrimHorizon,
    )
    .await;
    assert!(
        next.is_none(),
        "a closed shard read to its end has no next iterator"
    );
    let (in_child, next) = read_shard(
        &streams,
        &arn,
        child.shard_id().unwrap(),
        ShardIteratorType::TrimHorizon,
    )
    .await;
    assert!(next.is_some(), "the open shard keeps a next iterator");
    // Together, every write once, in order.
    let ids: Vec<String> = in_parent
        .iter()
        .chain(&in_child)
        .map(|r| match &r.dynamodb().unwrap().keys().unwrap()["id"] {
            SAv::S(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<String> = (1..=written).map(|n| format!("k{n}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        in_parent
            .last()
            .unwrap()
            .dynamodb()
            .unwrap()
            .sequence_number(),
        range(parent).ending_sequence_number()
    );

    // LATEST in a closed shard: nothing to read, and no next iterator.
    let (none, next) = read_shard(
        &streams,
        &arn,
        parent.shard_id().unwrap(),
        ShardIteratorType::Latest,
    )
    .await;
    assert!(none.is_empty() && next.is_none());
    // A sequence number of the parent asked of the child is refused.
    let e = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(child.shard_id().unwrap())
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(range(parent).starting_sequence_number().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(
        e.message().unwrap().contains(child.shard_id().unwrap()),
        "{:?}",
        e.message()
    );
    // DescribeStream pages shards: one per page, then the next.
    let first = streams
        .describe_stream()
        .stream_arn(&arn)
        .limit(1)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(first.shards().len(), 1);
    assert_eq!(first.last_evaluated_shard_id(), parent.shard_id());
    let second = streams
        .describe_stream()
        .stream_arn(&arn)
        .limit(1)
        .exclusive_start_shard_id(parent.shard_id().unwrap())
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(second.shards()[0].shard_id(), child.shard_id());
    // A start that names no shard leaves nothing after it.
    let none = streams
        .describe_stream()
        .stream_arn(&arn)
        .exclusive_start_shard_id("shardId-99999999999999999999-zzzzzzzz")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert!(none.shards().is_empty(), "{none:?}");

    // ShardFilter CHILD_SHARDS: the parent's child, the open shard's none,
    // and an unknown shard's none.
    use aws_sdk_dynamodbstreams::types::{ShardFilter, ShardFilterType};
    let children = |id: &str| {
        streams
            .describe_stream()
            .stream_arn(&arn)
            .shard_filter(
                ShardFilter::builder()
                    .r#type(ShardFilterType::ChildShards)
                    .shard_id(id)
                    .build(),
            )
            .send()
    };
    let of_parent = children(parent.shard_id().unwrap()).await.unwrap();
    let ids: Vec<_> = of_parent
        .stream_description
        .unwrap()
        .shards()
        .iter()
        .map(|x| x.shard_id().unwrap().to_string())
        .collect();
    assert_eq!(ids, [child.shard_id().unwrap()]);
    for id in [
        child.shard_id().unwrap(),
        "shardId-99999999999999999999-zzzzzzzz",
    ] {
        let d = children(id).await.unwrap().stream_description.unwrap();
        assert!(d.shards().is_empty(), "{id}: {d:?}");
    }
    let e = children("short").await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(
        e.message().unwrap().contains("'shardFilter.shardId'"),
        "{:?}",
        e.message()
    );
    let e = streams
        .describe_stream()
        .stream_arn(&arn)
        .shard_filter(
            ShardFilter::builder()
                .r#type(ShardFilterType::from("PARENT_SHARDS"))
                .shard_id(parent.shard_id().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(
        e.message().unwrap().contains("'shardFilter.type'"),
        "{:?}",
        e.message()
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tables_stream_stays_readable_until_it_ages_out() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    let east = client(c.dynamo_url(0));
    let table = "dropped";
    table_with_stream(&east, table, StreamViewType::NewAndOldImages).await;
    let arn = stream_arn(&east, table).await;
    for v in ["1", "2"] {
        put_v(&east, table, "a", v).await;
    }
    east.delete_table().table_name(table).send().await.unwrap();

    // As in DynamoDB: the stream is still there, disabled, its shard closed
    // and readable to its end.
    let streams = streams_client(c.dynamo_url(0));
    let d = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("a deleted table's stream is described")
        .stream_description
        .unwrap();
    assert_eq!(d.stream_status().map(|s| s.as_str()), Some("DISABLED"));
    assert_eq!(d.table_name(), Some(table));
    assert_eq!(d.key_schema().len(), 1, "the key it was written under");
    let (_, records, next) = read_all(&streams, &arn).await;
    assert_eq!(
        events(&records),
        vec![OperationType::Insert, OperationType::Modify]
    );
    assert_eq!(
        image_v(records[1].dynamodb().unwrap().new_image()),
        Some("2".into())
    );
    assert!(next.is_none(), "closed and read to its end");
    assert_eq!(listed_arns(&streams, table).await, vec![arn.clone()]);

    // Created again under the name: a stream of its own; the old one is
    // still listed, and holds nothing of the new table.
    table_with_stream(&east, table, StreamViewType::NewImage).await;
    let new_arn = stream_arn(&east, table).await;
    assert_ne!(new_arn, arn);
    put_v(&east, table, "b", "3").await;
    let (_, old, _) = read_all(&streams, &arn).await;
    assert_eq!(old.len(), 2);
    let (_, new, _) = read_all(&streams, &new_arn).await;
    assert_eq!(events(&new), vec![OperationType::Insert]);
    assert_eq!(listed_arns(&streams, table).await, vec![arn, new_arn]);
    // A name that never had a table or a stream is still not found.
    let e = streams
        .list_streams()
        .table_name("never-here")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"));
    c.shutdown().await;
}

/// Serves region `i`'s DynamoDB endpoint again with `config`, on a port of
/// its own, until the returned sender says stop.
async fn serve_front(
    c: &TestCluster,
    i: usize,
    config: meridian_dynamo::FrontConfig,
) -> (String, tokio::sync::watch::Sender<bool>) {
    let region = c.nodes[i].region.as_ref().expect("a running region");
    let front = meridian_dynamo::Front::new(region.ops(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(meridian_dynamo::serve(front, listener, stopped));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iterator_is_good_only_in_its_region_and_for_its_lifetime() {
    let c = TestCluster::start_global(&REGIONS).await;
    let east = client(c.dynamo_url(0));
    let table = "wandering";
    table_with_stream(&east, table, StreamViewType::NewImage).await;
    c.wait_table_everywhere(table).await;
    put_v(&east, table, "a", "1").await;
    let (east_s, west_s) = (
        streams_client(c.dynamo_url(0)),
        streams_client(c.dynamo_url(1)),
    );
    let east_arn = stream_arn(&east, table).await;
    let west_arn = stream_arn(&client(c.dynamo_url(1)), table).await;
    poll_until(
        "the write in eu-west-1's stream",
        Duration::from_secs(20),
        || {
            let (west_s, west_arn) = (&west_s, &west_arn);
            async move { read_all(west_s, west_arn).await.1.len() == 1 }
        },
    )
    .await;
    let iterator = |s: &StreamsClient, arn: &str, shard: String| {
        let (s, arn) = (s.clone(), arn.to_string());
        async move {
            s.get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator
                .unwrap()
        }
    };
    let east_shard = read_all(&east_s, &east_arn).await.0;
    let from_east = iterator(&east_s, &east_arn, east_shard).await;
    // Sequence numbers are per region: us-east-1's iterator is refused in
    // eu-west-1, as any iterator that endpoint did not hand out.
    let e = west_s
        .get_records()
        .shard_iterator(&from_east)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let m = e.message().unwrap_or_default();
    assert!(
        m.starts_with("Invalid ShardIterator") && m.contains(&from_east),
        "{m}"
    );
    // Each region reads its own with its own iterator.
    for (s, it) in [
        (&east_s, from_east),
        (
            &west_s,
            iterator(&west_s, &west_arn, read_all(&west_s, &west_arn).await.0).await,
        ),
    ] {
        let page = s.get_records().shard_iterator(it).send().await.unwrap();
        assert_eq!(events(page.records()), vec![OperationType::Insert]);
    }

    // An iterator past its lifetime (two seconds here, fifteen minutes by
    // default) is ExpiredIteratorException; the one GetRecords gives back
    // is as young as the answer.
    let (url, stop) = serve_front(
        &c,
        0,
        meridian_dynamo::FrontConfig {
            iterator_lifetime: Duration::from_secs(2),
            ..Default::default()
        },
    )
    .await;
    let short = streams_client(url);
    let shard = read_all(&short, &east_arn).await.0;
    let old = iterator(&short, &east_arn, shard).await;
    let first = short
        .get_records()
        .shard_iterator(&old)
        .send()
        .await
        .expect("a fresh iterator reads");
    assert_eq!(first.records().len(), 1);
    let expired = std::sync::Mutex::new(None);
    poll_until("the iterator to expire", Duration::from_secs(20), || {
        let (short, old, expired) = (&short, &old, &expired);
        async move {
            match short.get_records().shard_iterator(old).send().await {
                Ok(_) => false,
                Err(e) => {
                    *expired.lock().unwrap() = Some(e);
                    true
                }
            }
        }
    })
    .await;
    let e = expired.into_inner().unwrap().unwrap();
    assert_eq!(e.code(), Some("ExpiredIteratorException"), "{e:?}");
    assert!(
        e.message()
            .unwrap_or_default()
            .starts_with("Iterator expired"),
        "{e:?}"
    );
    // A new iterator reads again.
    let shard = read_all(&short, &east_arn).await.0;
    let fresh = iterator(&short, &east_arn, shard).await;
    short
        .get_records()
        .shard_iterator(fresh)
        .send()
        .await
        .unwrap();
    let _ = stop.send(true);
    c.shutdown().await;
}

/// The error of a GetRecords or GetShardIterator call, code and message.
fn code_and_message(e: &dyn ProvideErrorMetadata) -> (String, String) {
    (
        e.code().unwrap_or_default().to_string(),
        e.message().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_trims_each_shard_on_its_own() {
    // Records go after three seconds here, instead of 24 hours, and the
    // truncator looks every 100 ms.
    let c = TestCluster::start_tuned(&REGIONS[..1], |cfg| {
        cfg.retention.stream_age = Duration::from_secs(3);
        cfg.retention.every = Duration::from_millis(100);
    })
    .await;
    let east = client(c.dynamo_url(0));
    let streams = streams_client(c.dynamo_url(0));
    for t in ["quiet", "busy"] {
        table_with_stream(&east, t, StreamViewType::NewImage).await;
    }
    let (quiet, busy) = (
        stream_arn(&east, "quiet").await,
        stream_arn(&east, "busy").await,
    );
    // A consumer of the quiet stream reads its one record and waits at it.
    put_v(&east, "quiet", "q", "1").await;
    let quiet_shard = describe(&streams, &quiet).await.shards()[0]
        .shard_id()
        .unwrap()
        .to_string();
    let (read, waiting) = read_shard(
        &streams,
        &quiet,
        &quiet_shard,
        ShardIteratorType::TrimHorizon,
    )
    .await;
    assert_eq!(read.len(), 1);
    let waiting = waiting.expect("an open shard gives a next iterator");
    // The busy table goes on writing; a consumer of it takes an iterator
    // at its start and does not use it yet.
    put_v(&east, "busy", "b", "1").await;
    let busy_shard = describe(&streams, &busy).await.shards()[0]
        .shard_id()
        .unwrap()
        .to_string();
    let (first, _) = read_shard(&streams, &busy, &busy_shard, ShardIteratorType::TrimHorizon).await;
    let first_seq = first[0]
        .dynamodb()
        .unwrap()
        .sequence_number()
        .unwrap()
        .to_string();
    let unread = streams
        .get_shard_iterator()
        .stream_arn(&busy)
        .shard_id(&busy_shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    // Until the busy table's record went: AT_SEQUENCE_NUMBER of it is
    // then TrimmedDataAccessException, as DynamoDB documents for a
    // sequence number older than the trim point.
    let at_trimmed = std::sync::Mutex::new(None);
    poll_until(
        "the busy table's record to be trimmed",
        Duration::from_secs(30),
        || {
            let (east, streams, busy, busy_shard, first_seq, at_trimmed) =
                (&east, &streams, &busy, &busy_shard, &first_seq, &at_trimmed);
            async move {
                // Other tables' traffic goes on meanwhile.
                put_v(east, "busy", "later", "x").await;
                match streams
                    .get_shard_iterator()
                    .stream_arn(busy)
                    .shard_id(busy_shard)
                    .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                    .sequence_number(first_seq)
                    .send()
                    .await
                {
                    Ok(_) => false,
                    Err(e) => {
                        *at_trimmed.lock().unwrap() = Some(code_and_message(&e));
                        true
                    }
                }
            }
        },
    )
    .await;
    let (code, message) = at_trimmed.into_inner().unwrap().unwrap();
    assert_eq!(code, "TrimmedDataAccessException", "{message}");
    assert!(message.contains(&first_seq), "{message}");
    // AFTER_SEQUENCE_NUMBER of it too; TRIM_HORIZON is fine, and starts
    // past what went.
    let e = streams
        .get_shard_iterator()
        .stream_arn(&busy)
        .shard_id(&busy_shard)
        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
        .sequence_number(&first_seq)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("TrimmedDataAccessException"), "{e:?}");
    let (left, _) = read_shard(&streams, &busy, &busy_shard, ShardIteratorType::TrimHorizon).await;
    assert!(
        left.iter()
            .all(|r| r.dynamodb().unwrap().sequence_number().unwrap() > first_seq.as_str()),
        "{left:?}"
    );
    // The iterator taken before the record went: its records were
    // trimmed before it was used.
    let e = streams
        .get_records()
        .shard_iterator(&unread)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("TrimmedDataAccessException"), "{e:?}");
    assert!(e.message().unwrap().contains(&busy_shard), "{e:?}");

    // The quiet stream's consumer missed nothing, however much of the
    // busy stream went past its position: it reads on, and gets the next
    // change.
    let page = streams
        .get_records()
        .shard_iterator(&waiting)
        .send()
        .await
        .expect("a consumer at its last record missed nothing");
    assert!(page.records().is_empty());
    put_v(&east, "quiet", "q", "2").await;
    let page = streams
        .get_records()
        .shard_iterator(page.next_shard_iterator().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(events(page.records()), vec![OperationType::Modify]);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_and_pages_are_as_dynamodb_gives_them() {
    let c = TestCluster::start(&REGIONS[..1]).await;
    let east = client(c.dynamo_url(0));
    let streams = streams_client(c.dynamo_url(0));
    let table = "big";
    table_with_stream(&east, table, StreamViewType::NewImage).await;
    let arn = stream_arn(&east, table).await;

    // Five items of 300,000 bytes and more: GetRecords gives at most 1 MB
    // of records per answer (DynamoDB: 1 MB or 1,000 records, whichever
    // comes first), and the next answers the rest, in order.
    let payload = "x".repeat(300_000);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for n in 0..5 {
        put_v(&east, table, &format!("p{n}"), &payload).await;
    }
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let shard = describe(&streams, &arn).await.shards()[0]
        .shard_id()
        .unwrap()
        .to_string();
    let mut it = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator;
    let mut pages = Vec::new();
    while let Some(i) = it.take() {
        let page = streams
            .get_records()
            .shard_iterator(i)
            .send()
            .await
            .unwrap();
        if page.records().is_empty() {
            break;
        }
        it = page.next_shard_iterator.clone();
        pages.push(page.records().to_vec());
        assert!(pages.len() <= 5, "more pages than records");
    }
    let sizes: Vec<Vec<i64>> = pages
        .iter()
        .map(|p| {
            p.iter()
                .map(|r| r.dynamodb().unwrap().size_bytes().unwrap())
                .collect()
        })
        .collect();
    // 3 records of about 300 kB fit in 1 MB, a fourth does not.
    assert_eq!(
        sizes.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 2],
        "{sizes:?}"
    );
    for page in &sizes {
        assert!(page.iter().sum::<i64>() <= 1 << 20, "{sizes:?}");
    }
    let records: Vec<&Record> = pages.iter().flatten().collect();
    for (n, r) in records.iter().enumerate() {
        let d = r.dynamodb().unwrap();
        assert_eq!(d.keys().unwrap()["id"], SAv::S(format!("p{n}")));
        // SizeBytes: the keys and the new image, each attribute's name
        // and value ("id"+"pN" twice, "v"+the payload).
        let size = d.size_bytes().unwrap();
        assert!(
            (300_001 + 8..=300_001 + 8 + 16).contains(&size),
            "SizeBytes {size}"
        );
        // ApproximateCreationDateTime: the write's time, rounded down to
        // the second, as DynamoDB documents.
        let at = d.approximate_creation_date_time().unwrap().as_secs_f64();
        assert_eq!(at.fract(), 0.0, "{at}");
        assert!(
            at >= before.floor() && at <= after,
            "{at} outside {before}..{after}"
        );
    }

    // A stream ARN of one table with the shard id of another's stream.
    table_with_stream(&east, "other", StreamViewType::KeysOnly).await;
    put_v(&east, "other", "o", "1").await;
    let other_arn = stream_arn(&east, "other").await;
    let other_shard = describe(&streams, &other_arn).await.shards()[0]
        .shard_id()
        .unwrap()
        .to_string();
    assert_ne!(other_shard, shard);
    let e = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&other_shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
    assert!(e.message().unwrap().contains(&other_shard), "{e:?}");

    // Enabling a stream of another view type while one is on: DynamoDB's
    // ValidationException, and the stream stays as it was.
    let e = east
        .update_table()
        .table_name(table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let e = e.into_service_error();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e),
        Some("ValidationException"),
        "{e:?}"
    );
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&e),
        Some("Table already has an enabled stream: TableName: big")
    );
    let t = east
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.latest_stream_arn(), Some(arn.as_str()));
    assert_eq!(
        t.stream_specification().unwrap().stream_view_type(),
        Some(&StreamViewType::NewImage)
    );
    c.shutdown().await;
}
