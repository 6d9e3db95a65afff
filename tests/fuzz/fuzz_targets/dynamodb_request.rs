//! The DynamoDB endpoint: a JSON body from the input sent, as one of the
//! operations, through the real router to a real region holding a table
//! `fuzz` (key `id` S and `n` N, a global index on `g`, a stream). Anything
//! is answered; nothing panics, and no answer is a 500, which the endpoint
//! gives only when the store fails.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use meridian_tests::TestCluster;
use tower::ServiceExt;

const OPS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "DescribeTable",
    "ListTables",
    "CreateTable",
    "DeleteTable",
    "UpdateTable",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "DescribeContinuousBackups",
    "DescribeLimits",
    "DescribeEndpoints",
    "ListBackups",
    "Streams:ListStreams",
    "Streams:DescribeStream",
    "Streams:GetShardIterator",
    "Streams:GetRecords",
];

const CREATE: &str = r#"{"TableName":"fuzz","BillingMode":"PAY_PER_REQUEST",
"AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"},{"AttributeName":"n","AttributeType":"N"},{"AttributeName":"g","AttributeType":"S"}],
"KeySchema":[{"AttributeName":"id","KeyType":"HASH"},{"AttributeName":"n","KeyType":"RANGE"}],
"GlobalSecondaryIndexes":[{"IndexName":"byg","KeySchema":[{"AttributeName":"g","KeyType":"HASH"}],"Projection":{"ProjectionType":"ALL"}}],
"StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"}}"#;

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    _cluster: TestCluster,
}

async fn send(router: &axum::Router, op: &str, body: Vec<u8>) -> axum::http::StatusCode {
    let target = match op.strip_prefix("Streams:") {
        Some(op) => format!("DynamoDBStreams_20120810.{op}"),
        None => format!("DynamoDB_20120810.{op}"),
    };
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", target)
        .body(Body::from(body))
        .expect("a request");
    router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers")
        .status()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (cluster, router) = rt.block_on(async {
            let cluster = TestCluster::start(&["us-east-1"]).await;
            let ops = cluster.nodes[0].region.as_ref().expect("running").ops();
            let router =
                meridian_dynamo::Front::new(ops, meridian_dynamo::FrontConfig::default()).router();
            send(&router, "CreateTable", CREATE.into()).await;
            for i in 0..5 {
                let item = format!(
                    r#"{{"TableName":"fuzz","Item":{{"id":{{"S":"k{i}"}},"n":{{"N":"{i}"}},"g":{{"S":"g{}"}},"l":{{"L":[{{"N":"1"}},{{"M":{{"x":{{"S":"y"}}}}}}]}}}}}}"#,
                    i % 2
                );
                send(&router, "PutItem", item.into()).await;
            }
            (cluster, router)
        });
        Fixture {
            rt,
            router,
            _cluster: cluster,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, body)) = data.split_first() else {
        return;
    };
    let op = OPS[op as usize % OPS.len()];
    let f = fixture();
    f.rt.block_on(async {
        let status = send(&f.router, op, body.to_vec()).await;
        assert!(
            !status.is_server_error(),
            "{status} for {op} with {:?}",
            String::from_utf8_lossy(body)
        );
        if op == "DeleteTable" {
            // Keep the table the other inputs aim at.
            send(&f.router, "CreateTable", CREATE.into()).await;
        }
    });
});
