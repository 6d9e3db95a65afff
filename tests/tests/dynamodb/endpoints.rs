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
