//! SigV4 verification on the DynamoDB endpoint, checked with the real AWS
//! SDK as an independent signer: its signatures with the configured key
//! pass, and a wrong secret or an unknown key is refused.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use meridian_cluster::http;
use meridian_tests::TestCluster;
use tokio::net::TcpListener;

fn client(url: &str, key: &str, secret: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(url)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_are_verified_when_keys_are_configured() {
    let cluster = TestCluster::start(&["us-east-1"]).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let keys = HashMap::from([("AKIDTEST".to_string(), "s3cret".to_string())]);
    let front = meridian_dynamo::Front::new(
        cluster.nodes[0].region.as_ref().unwrap().ops(),
        meridian_dynamo::FrontConfig {
            keys,
            ..Default::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(meridian_dynamo::serve(front, listener, stopped));

    let ok = client(&url, "AKIDTEST", "s3cret")
        .list_tables()
        .send()
        .await;
    assert!(ok.is_ok(), "a correctly signed request passes: {ok:?}");

    let wrong = client(&url, "AKIDTEST", "not-the-secret")
        .list_tables()
        .send()
        .await
        .unwrap_err();
    let raw = wrong.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 403);
    let body = std::str::from_utf8(raw.body().bytes().unwrap_or_default()).unwrap_or_default();
    assert!(body.contains("InvalidSignatureException"), "{body}");

    let unknown = client(&url, "NOBODY", "s3cret")
        .list_tables()
        .send()
        .await
        .unwrap_err();
    let body = std::str::from_utf8(
        unknown
            .raw_response()
            .unwrap()
            .body()
            .bytes()
            .unwrap_or_default(),
    )
    .unwrap_or_default()
    .to_string();
    assert!(body.contains("UnrecognizedClientException"), "{body}");

    // A captured request replayed later is refused, whatever its signature,
    // and so is one dated too far ahead; the date is checked before the key,
    // and the Authorization components may be separated by spaces alone.
    let signed_at = |date: &'static str, authorization: &'static str| {
        let url = url.clone();
        async move {
            let r = http::request(
                &http::Target::parse(&format!("{url}/")).unwrap(),
                "POST",
                &[
                    ("x-amz-target", "DynamoDB_20120810.ListTables"),
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amz-date", date),
                    ("authorization", authorization),
                ],
                b"{}".to_vec(),
                1 << 20,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        }
    };
    let (status, answer) = signed_at(
        "20200101T000000Z",
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20200101/us-east-1/dynamodb/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00",
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("InvalidSignatureException"), "{answer}");
    assert!(
        answer.contains("Signature expired: 20200101T000000Z is now earlier than "),
        "{answer}"
    );
    assert!(answer.contains(" - 15 min.)"), "{answer}");
    let (status, answer) = signed_at(
        "30200101T010101Z",
        "AWS4-HMAC-SHA256 Credential=NOBODY/2/3/4/aws4_request SignedHeaders=x-amz-date;host Signature=123",
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("InvalidSignatureException"), "{answer}");
    assert!(
        answer.contains("Signature not yet current: 30200101T010101Z is still later than "),
        "{answer}"
    );
    assert!(answer.contains(" + 15 min.)"), "{answer}");

    // The cluster's own endpoint has no keys: any credentials pass there.
    let open = client(&cluster.dynamo_url(0), "anyone", "anything")
        .list_tables()
        .send()
        .await;
    assert!(open.is_ok(), "{open:?}");

    let _ = stop.send(true);
    let _ = server.await;
    cluster.shutdown().await;
}
