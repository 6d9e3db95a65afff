//! The DynamoDB endpoint's answers counted as CloudWatch counts them
//! (`UserErrors`, `SystemErrors`, `ThrottledRequests`; *DynamoDB metrics
//! and dimensions*), as the region's status carries them for alarms: a
//! validation error is a user error, a failed condition is not, a success
//! is neither.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regions_status_counts_its_answers_as_cloudwatch_does() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "answers", ("pk", ScalarAttributeType::S), None).await;
    let before = cluster.status(0).await.requests.unwrap_or_default();

    c.put_item()
        .table_name("answers")
        .item("pk", s("a"))
        .send()
        .await
        .unwrap();
    // ConditionalCheckFailedException: HTTP 400, left out of UserErrors.
    let e = c
        .put_item()
        .table_name("answers")
        .item("pk", s("a"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_conditional_check_failed_exception(), "{e:?}");
    // ValidationException (no key attribute): a user error.
    let e = c
        .put_item()
        .table_name("answers")
        .item("other", s("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");

    let after = cluster
        .status(0)
        .await
        .requests
        .expect("the region's counts");
    assert_eq!(
        after.requests - before.requests,
        3,
        "{before:?} → {after:?}"
    );
    assert_eq!(after.user_errors - before.user_errors, 1, "{after:?}");
    assert_eq!(after.system_errors, 0, "{after:?}");
    assert_eq!(after.throttled, 0, "{after:?}");
}
