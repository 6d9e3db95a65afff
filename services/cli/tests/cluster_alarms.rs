//! A cluster file's alarm on what the regions' DynamoDB endpoints answer
//! (docs/drills.md, *Alarms of a running cluster*): `meridian up`
//! evaluates `UserErrors` of us-east-1 from its status, which counts each
//! answer as CloudWatch does; an application's bad requests put the alarm
//! in ALARM, and it is OK again once they stop. Every wait polls with a
//! deadline.

use std::time::Duration;

use meridian_cluster::ControlApi;
use meridian_cluster::http::{Target, request};
use serde_json::Value as Json;

use crate::common::poll;
use crate::up::{Daemon, cluster, with_dynamo_ports};

/// More than no user error in a second of us-east-1's answers.
const ALARM: &str = r#"
[[alarm]]
name = "app-errors"
metric = "UserErrors"
region = "us-east-1"
statistic = "Sum"
period = "1s"
threshold = 0
comparison = "GreaterThanThreshold"
"#;

/// DescribeTable of a table that does not exist, at `endpoint`: an HTTP
/// 400 `ResourceNotFoundException`, a user error.
async fn describe_missing(endpoint: &str) -> u16 {
    request(
        &Target::at(endpoint, "/"),
        "POST",
        &[
            ("x-amz-target", "DynamoDB_20120810.DescribeTable"),
            ("content-type", "application/x-amz-json-1.0"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=k/20261129/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            ),
        ],
        br#"{"TableName": "missing"}"#.to_vec(),
        1 << 20,
        Duration::from_secs(15),
    )
    .await
    .expect("the region's DynamoDB endpoint answers")
    .status
}

/// The state `meridian up` gives alarm 0, and its newest value.
async fn state(api: &ControlApi) -> (String, Json) {
    let doc = api.alarms().await.ok().flatten().unwrap_or(Json::Null);
    let a = &doc["alarms"][0];
    (
        a["state"].as_str().unwrap_or_default().to_string(),
        a["value"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_alarm_on_a_regions_user_errors_goes_to_alarm_and_back() {
    let c = cluster(false);
    let (file, _) = with_dynamo_ports(&c);
    file.write(&c.config).unwrap();
    let text = std::fs::read_to_string(&c.config).unwrap() + ALARM;
    std::fs::write(&c.config, text).unwrap();
    let endpoint = file.regions[0].dynamo.unwrap().to_string();
    let api = ControlApi::new(format!("127.0.0.1:{}", c.api));
    let _up = Daemon::start(
        &["up", "--no-dashboard"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    poll("the alarm's first period without errors", || async {
        state(&api).await.0 == "OK"
    })
    .await;

    // The application errs: a bad request every 50 ms, at most 1,200.
    let mut alarmed = None;
    for _ in 0..1_200 {
        assert_eq!(describe_missing(&endpoint).await, 400);
        let (s, value) = state(&api).await;
        if s == "ALARM" {
            alarmed = Some(value);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let value = alarmed.expect("the alarm went to ALARM");
    assert!(value.as_f64().is_some_and(|v| v >= 1.0), "{value}");

    // No more errors: the next period's Sum is 0.
    poll("the alarm back to OK", || async {
        state(&api).await.0 == "OK"
    })
    .await;
}
