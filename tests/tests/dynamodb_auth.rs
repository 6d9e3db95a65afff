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
    client_in(url, "us-east-1", key, secret)
}

/// A client that signs for `region`, whatever the endpoint's.
fn client_in(url: &str, region: &str, key: &str, secret: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
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

fn creds(key: &str, secret: &str) -> meridian_core::sigv4::Credentials {
    meridian_core::sigv4::Credentials {
        access_key: key.into(),
        secret: secret.into(),
        region: "us-east-1".into(),
    }
}

/// The unauthenticated-request counter of region `i` for `endpoint` and
/// `reason`.
fn unauthenticated(cluster: &TestCluster, i: usize, endpoint: &str, reason: &str) -> f64 {
    meridian_tests::peer::metric(
        cluster,
        i,
        "meridian_unauthenticated_requests_total",
        &[("endpoint", endpoint), ("reason", reason)],
    )
}

/// With `dynamodb_keys`, the gRPC client API takes the same credentials as
/// the DynamoDB endpoint: an unsigned or wrongly signed call is refused and
/// counted, a signed one passes, replication between the regions needs no
/// signature, and admin reads stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_client_api_takes_the_endpoints_keys() {
    use meridian_core::{AttrValue, decode_item, encode_item};
    use meridian_proto::v1 as pb;

    let keys = HashMap::from([("AKIDTEST".to_string(), "s3cret".to_string())]);
    let cluster = TestCluster::start_tuned(&["us-east-1", "eu-west-1"], |c| {
        c.client_keys = keys.clone();
    })
    .await;
    let create = |c| pb::CreateTableRequest {
        indexes: Vec::new(),
        name: c,
        partition_key: Some(pb::KeyAttr {
            name: "id".into(),
            r#type: "S".into(),
        }),
        sort_key: None,
        replicas: vec![],
        stream_view_type: String::new(),
        consistency: String::new(),
        witness: String::new(),
        provisioned: None,
    };

    // Unsigned: refused with DynamoDB's code, nothing created, counted.
    let refused = cluster
        .client(0)
        .create_table(create("open".into()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().starts_with(
            "MissingAuthenticationTokenException: Request is missing Authentication Token"
        ),
        "{refused:?}"
    );
    assert_eq!(unauthenticated(&cluster, 0, "grpc", "missing"), 1.0);

    // A wrong secret, an unknown key: refused, each by its own reason.
    let wrong = cluster
        .signed_client(0, Some(creds("AKIDTEST", "not-the-secret")))
        .create_table(create("open".into()))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    assert!(
        wrong.message().starts_with("InvalidSignatureException: "),
        "{wrong:?}"
    );
    let nobody = cluster
        .signed_client(0, Some(creds("NOBODY", "s3cret")))
        .list_tables(pb::ListTablesRequest::default())
        .await
        .unwrap_err();
    assert!(
        nobody
            .message()
            .starts_with("UnrecognizedClientException: "),
        "{nobody:?}"
    );
    assert_eq!(
        unauthenticated(&cluster, 0, "grpc", "invalid_signature"),
        1.0
    );
    assert_eq!(unauthenticated(&cluster, 0, "grpc", "unknown_key"), 1.0);

    // Signed: the table and an item are written in us-east-1, replicate
    // (peers sign nothing), and read back signed in eu-west-1.
    let mut east = cluster.signed_client(0, Some(creds("AKIDTEST", "s3cret")));
    east.create_table(pb::CreateTableRequest {
        stream_view_type: "NEW_AND_OLD_IMAGES".into(),
        ..create("signed".into())
    })
    .await
    .unwrap();
    let names = east
        .list_tables(pb::ListTablesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(format!("{names:?}").contains("signed"), "{names:?}");
    assert!(!format!("{names:?}").contains("\"open\""), "{names:?}");
    let mut item = meridian_core::Item::new();
    item.insert("id".into(), AttrValue::S("k".into()));
    item.insert("v".into(), AttrValue::S("one".into()));
    east.put_item(pb::PutItemRequest {
        table: "signed".into(),
        item: encode_item(&item),
        condition: None,
    })
    .await
    .unwrap();
    let mut key = meridian_core::Item::new();
    key.insert("id".into(), AttrValue::S("k".into()));
    let mut west = cluster.signed_client(1, Some(creds("AKIDTEST", "s3cret")));
    meridian_tests::poll_until("the item in eu-west-1", Duration::from_secs(20), || {
        let mut west = west.clone();
        let key = key.clone();
        async move {
            west.get_item(pb::GetItemRequest {
                table: "signed".into(),
                key: encode_item(&key),
                consistent: false,
            })
            .await
            .map(|r| r.into_inner().item.is_some())
            .unwrap_or(false)
        }
    })
    .await;
    let got = west
        .get_item(pb::GetItemRequest {
            table: "signed".into(),
            key: encode_item(&key),
            consistent: false,
        })
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert_eq!(decode_item(&got.item).unwrap(), item);

    // A server-streaming call is signed the same way: the table's stream
    // replays the write; unsigned, the call is refused.
    let mut watch = west
        .watch(pb::WatchRequest {
            table: "signed".into(),
            from_start: true,
        })
        .await
        .expect("a signed watch")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(20), watch.message())
        .await
        .expect("a change within 20 s")
        .expect("the stream answers")
        .expect("one change");
    assert!(format!("{first:?}").contains("INSERT"), "{first:?}");
    // An open watch would hold the region's shutdown.
    drop(watch);
    let unsigned = cluster
        .client(1)
        .watch(pb::WatchRequest {
            table: "signed".into(),
            from_start: true,
        })
        .await
        .unwrap_err();
    assert_eq!(unsigned.code(), tonic::Code::Unauthenticated);

    // Admin reads are not the client API: open, unsigned.
    cluster
        .admin(0)
        .status(pb::StatusRequest::default())
        .await
        .expect("status needs no signature");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_for_another_region_is_refused_only_when_keys_are_configured() {
    let cluster = TestCluster::start(&["eu-west-1"]).await;
    // Without keys, any credential scope is accepted, as DynamoDB Local does.
    let open = cluster.dynamo_url(0);
    for region in ["us-east-1", "eu-west-1", "mars-north-9"] {
        let ok = client_in(&open, region, "x", "x")
            .list_tables()
            .send()
            .await;
        assert!(ok.is_ok(), "signed for {region} without keys: {ok:?}");
    }
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
    let ok = client_in(&url, "eu-west-1", "AKIDTEST", "s3cret")
        .list_tables()
        .send()
        .await;
    assert!(ok.is_ok(), "signed for the endpoint's region: {ok:?}");
    for region in ["us-east-1", "mars-north-9"] {
        let refused = client_in(&url, region, "AKIDTEST", "s3cret")
            .list_tables()
            .send()
            .await
            .unwrap_err();
        let raw = refused.raw_response().expect("an HTTP answer");
        assert_eq!(raw.status().as_u16(), 403);
        let body: serde_json::Value =
            serde_json::from_slice(raw.body().bytes().unwrap_or_default()).unwrap();
        assert_eq!(
            body["__type"], "com.amazonaws.dynamodb.v20120810#InvalidSignatureException",
            "signed for {region}: {body}"
        );
        assert_eq!(
            body["message"],
            format!("Credential should be scoped to a valid region, not '{region}'. "),
            "signed for {region}: {body}"
        );
    }
    // An unknown key is still told so before its region is looked at.
    let unknown = client_in(&url, "us-east-1", "NOBODY", "s3cret")
        .list_tables()
        .send()
        .await
        .unwrap_err();
    let raw = unknown.raw_response().unwrap();
    let body = std::str::from_utf8(raw.body().bytes().unwrap_or_default()).unwrap_or_default();
    assert!(body.contains("UnrecognizedClientException"), "{body}");
    stop.send(true).unwrap();
    server.await.unwrap();
    cluster.shutdown().await;
}
