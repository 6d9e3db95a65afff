//! DescribeEndpoints and DescribeLimits answer in DynamoDB's shape.

use super::*;

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

/// Kinesis streaming destinations: none to describe, and a change refused
/// with a `ValidationException` that names the missing service, after the
/// table is found; a missing table is `ResourceNotFoundException`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_destinations_are_none_and_refused_by_name() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "events", ("pk", ScalarAttributeType::S), None).await;
    let d = c
        .describe_kinesis_streaming_destination()
        .table_name("events")
        .send()
        .await
        .unwrap();
    assert_eq!(d.table_name(), Some("events"));
    assert!(d.kinesis_data_stream_destinations().is_empty());
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/events";
    let e = c
        .enable_kinesis_streaming_destination()
        .table_name("events")
        .stream_arn(arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let message = e.message().unwrap_or_default();
    assert!(
        message.contains("EnableKinesisStreamingDestination") && message.contains("Kinesis"),
        "{message}"
    );
    let e = c
        .disable_kinesis_streaming_destination()
        .table_name("missing")
        .stream_arn(arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
}
