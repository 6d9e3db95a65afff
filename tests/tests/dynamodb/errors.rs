//! Section 6: Every error type reaches the SDK typed, with DynamoDB's messages;
//! compression, health and CORS as DynamoDB answers them.

use super::*;
use aws_sdk_dynamodb::types::{
    GlobalSecondaryIndex, LocalSecondaryIndex, Projection, ProjectionType,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_type_reaches_the_sdk_typed() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "errs", ("pk", ScalarAttributeType::S), None).await;

    let mut cases = Cases::new();
    // ResourceInUseException.
    cases
        .run("ResourceInUseException", async {
            let err = create_table_request(&c, "errs", ("pk", ScalarAttributeType::S), None)
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(err.is_resource_in_use_exception(), "{err:?}");
        })
        .await;

    // ResourceNotFoundException from every kind of request, typed.
    macro_rules! not_found {
        ($request:expr) => {
            async {
                let e = $request.send().await.unwrap_err();
                assert!(e.into_service_error().is_resource_not_found_exception());
            }
            .boxed_local()
        };
    }
    let missing: [(&str, LocalBoxFuture<'_, ()>); 9] = [
        (
            "DescribeTable of a missing table",
            not_found!(c.describe_table().table_name("missing")),
        ),
        (
            "DeleteTable of a missing table",
            async {
                let e = c
                    .delete_table()
                    .table_name("missing")
                    .send()
                    .await
                    .unwrap_err()
                    .into_service_error();
                assert!(e.is_resource_not_found_exception(), "{e:?}");
                // DynamoDB's text names the table here.
                assert_eq!(
                    e.meta().message(),
                    Some("Requested resource not found: Table: missing not found")
                );
            }
            .boxed_local(),
        ),
        (
            "GetItem on a missing table",
            not_found!(c.get_item().table_name("missing").key("pk", s("a"))),
        ),
        (
            "PutItem on a missing table",
            not_found!(c.put_item().table_name("missing").item("pk", s("a"))),
        ),
        (
            "UpdateItem on a missing table",
            not_found!(
                c.update_item()
                    .table_name("missing")
                    .key("pk", s("a"))
                    .update_expression("SET v = :v")
                    .expression_attribute_values(":v", n(1))
            ),
        ),
        (
            "Query of a missing table",
            not_found!(
                c.query()
                    .table_name("missing")
                    .key_condition_expression("pk = :a")
                    .expression_attribute_values(":a", s("a"))
            ),
        ),
        (
            "Scan of a missing table",
            not_found!(c.scan().table_name("missing")),
        ),
        (
            "TransactWriteItems on a missing table",
            not_found!(
                c.transact_write_items()
                    .transact_items(tx_put("missing", item([("pk", s("a"))])))
            ),
        ),
        (
            "DescribeTimeToLive of a missing table",
            not_found!(c.describe_time_to_live().table_name("missing")),
        ),
    ];
    for (name, case) in missing {
        cases.run(name, case).await;
    }
    // The backup operations name a missing table their own way.
    cases
        .run("DescribeContinuousBackups of a missing table", async {
            let e = c
                .describe_continuous_backups()
                .table_name("missing")
                .send()
                .await
                .unwrap_err();
            assert_eq!(e.message(), Some("Table not found: missing"));
            assert!(e.into_service_error().is_table_not_found_exception());
        })
        .await;
    // On-demand backups are always on, as in DynamoDB; point-in-time
    // recovery is off until asked for.
    cases
        .run("on-demand backups on, point-in-time recovery off", async {
            let d = c
                .describe_continuous_backups()
                .table_name("errs")
                .send()
                .await
                .unwrap()
                .continuous_backups_description
                .unwrap();
            assert_eq!(
                d.continuous_backups_status,
                aws_sdk_dynamodb::types::ContinuousBackupsStatus::Enabled
            );
            assert_eq!(
                d.point_in_time_recovery_description
                    .and_then(|p| p.point_in_time_recovery_status),
                Some(aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Disabled)
            );
        })
        .await;

    // ConditionalCheckFailedException.
    cases
        .run("ConditionalCheckFailedException", async {
            let e = c
                .put_item()
                .table_name("errs")
                .item("pk", s("a"))
                .condition_expression("attribute_exists(pk)")
                .send()
                .await
                .unwrap_err();
            let msg = e.message().unwrap_or_default().to_string();
            assert!(
                e.into_service_error()
                    .is_conditional_check_failed_exception()
            );
            assert_eq!(msg, "The conditional request failed");
        })
        .await;

    // TransactionCanceledException with one reason per action, in order.
    cases
        .run("TransactionCanceledException", async {
            put(&c, "errs", item([("pk", s("x")), ("v", n(1))])).await;
            let err = c
                .transact_write_items()
                .transact_items(tx_put("errs", item([("pk", s("y"))])))
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name("errs")
                                .key("pk", s("x"))
                                .condition_expression("v = :two")
                                .expression_attribute_values(":two", n(2))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            match &err {
                TransactWriteItemsError::TransactionCanceledException(e) => {
                    let codes: Vec<Option<&str>> =
                        e.cancellation_reasons().iter().map(|r| r.code()).collect();
                    assert_eq!(codes, [Some("None"), Some("ConditionalCheckFailed")]);
                }
                other => panic!("expected TransactionCanceledException, got {other:?}"),
            }
        })
        .await;

    // IdempotentParameterMismatchException.
    cases
        .run("IdempotentParameterMismatchException", async {
            c.transact_write_items()
                .client_request_token("token-errs")
                .transact_items(tx_put("errs", item([("pk", s("t1"))])))
                .send()
                .await
                .unwrap();
            let err = c
                .transact_write_items()
                .client_request_token("token-errs")
                .transact_items(tx_put("errs", item([("pk", s("t2"))])))
                .send()
                .await
                .unwrap_err()
                .into_service_error();
            assert!(err.is_idempotent_parameter_mismatch_exception(), "{err:?}");
        })
        .await;

    // ValidationException (not modelled by the SDK: checked by code).
    let bad_schema = c
        .create_table()
        .table_name("badschema")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest);
    let refused: [Refusal; 3] = [
        (
            "an item without its key",
            ask(c.put_item().table_name("errs").item("nokey", s("a")).send()),
            Says::Has("Missing the key pk"),
        ),
        (
            "a table name too short",
            ask(c.describe_table().table_name("a").send()),
            Says::Has("tableName"),
        ),
        (
            "a key without an attribute definition",
            ask(bad_schema.send()),
            Says::Has("attributeDefinitions"),
        ),
    ];
    cases.refused("ValidationException", refused).await;

    // SerializationException: malformed JSON, over raw HTTP.
    let addr = cluster.nodes[0].dynamo_addr;
    cases
        .run("malformed JSON", async {
            let (status, body) =
                raw_post(addr, Some("DynamoDB_20120810.ListTables"), "{\"Limit\": ").await;
            assert_eq!(status, 400, "{body}");
            let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
            assert_eq!(
                json["__type"], "com.amazonaws.dynamodb.v20120810#SerializationException",
                "{body}"
            );
            // As DynamoDB's: no message at all, so no parser position to leak.
            assert!(json.get("message").is_none(), "{body}");
        })
        .await;
    // And the rest of the protocol: a good raw request, unknown operations.
    let raw = [
        (
            "a JSON array",
            Some("DynamoDB_20120810.ListTables"),
            "[1, 2]",
            400,
            "#SerializationException",
        ),
        (
            "a number for a table name",
            Some("DynamoDB_20120810.DescribeTable"),
            "{\"TableName\": 42}",
            400,
            "#SerializationException",
        ),
        (
            "a good raw request",
            Some("DynamoDB_20120810.ListTables"),
            "{}",
            200,
            "\"errs\"",
        ),
        (
            "an unknown operation",
            Some("DynamoDB_20120810.ExportTableToPointInTime"),
            "{}",
            400,
            "#UnknownOperationException",
        ),
        ("no target", None, "{}", 400, "#UnknownOperationException"),
    ];
    for (name, target, request, status, has) in raw {
        cases
            .run(name, async {
                let (got, body) = raw_post(addr, target, request).await;
                assert_eq!(got, status, "{body}");
                assert!(body.contains(has), "{body}");
            })
            .await;
    }
    cluster.shutdown().await;
    cases.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_requests_are_decoded_and_bad_ones_are_internal_errors() {
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;
    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "packed", ("pk", ScalarAttributeType::S), None).await;
    let addr = cluster.nodes[0].dynamo_addr;
    let put = |pk: &str| {
        format!(
            r#"{{"TableName": "packed", "Item": {{"pk": {{"S": "{pk}"}}, "v": {{"S": "{}"}}}}}}"#,
            "x".repeat(5000)
        )
    };
    let post = |encoding: &'static str, body: Vec<u8>| async move {
        raw_post_bytes(
            addr,
            Some("DynamoDB_20120810.PutItem"),
            &[("content-encoding", encoding)],
            body,
        )
        .await
    };
    let stored = |pk: &'static str| {
        let c = c.clone();
        async move { get(&c, "packed", item([("pk", s(pk))])).await }
    };
    // Decoded: gzip, gzip members concatenated (the gzip format allows it),
    // deflate (a zlib stream), and identity.
    let mut cases = Cases::new();
    cases
        .run("gzip", async {
            let body = put("gz");
            let (status, text) = post("gzip", gzip(body.as_bytes())).await;
            assert_eq!(status, 200, "{text}");
            assert_eq!(
                stored("gz").await.expect("stored")["v"],
                s(&"x".repeat(5000))
            );
        })
        .await;
    cases
        .run("gzip members concatenated", async {
            let body = put("gz2");
            let (head, tail) = body.as_bytes().split_at(10);
            let (status, text) = post("gzip", [gzip(head), gzip(tail)].concat()).await;
            assert_eq!(status, 200, "{text}");
            assert!(stored("gz2").await.is_some());
        })
        .await;
    cases
        .run("deflate", async {
            let (status, text) = post("deflate", zlib(put("zl").as_bytes())).await;
            assert_eq!(status, 200, "{text}");
            assert!(stored("zl").await.is_some());
        })
        .await;
    cases
        .run("identity", async {
            let (status, text) = post("identity", put("id").into_bytes()).await;
            assert_eq!(status, 200, "{text}");
            assert!(stored("id").await.is_some());
        })
        .await;

    // Refused as DynamoDB refuses them: HTTP 500, InternalServerError, and
    // nothing written.
    let body = put("bad");
    let oversized = {
        let mut b = body.clone();
        b.insert_str(b.len() - 1, &" ".repeat(17 << 20));
        gzip(b.as_bytes())
    };
    let bad: Vec<(&str, &'static str, Vec<u8>)> = vec![
        ("an unknown encoding", "garbage", body.clone().into_bytes()),
        (
            "a plain body called gzip",
            "gzip",
            body.clone().into_bytes(),
        ),
        (
            "a plain body called deflate",
            "deflate",
            body.clone().into_bytes(),
        ),
        ("an empty gzip body", "gzip", Vec::new()),
        ("an empty deflate body", "deflate", Vec::new()),
        ("a gzip body cut short", "gzip", {
            let mut g = gzip(body.as_bytes());
            g.pop();
            g
        }),
        ("gzip followed by junk", "gzip", {
            let mut g = gzip(body.as_bytes());
            g.extend_from_slice(b"junk");
            g
        }),
        ("two zlib streams", "deflate", {
            let (head, tail) = body.as_bytes().split_at(10);
            [zlib(head), zlib(tail)].concat()
        }),
        ("a gzip body that decodes past 16 MB", "gzip", oversized),
    ];
    for (what, encoding, bytes) in bad {
        cases
            .run(what, async {
                let (status, text) = post(encoding, bytes).await;
                assert_eq!(status, 500, "{what}: {text}");
                assert!(text.contains("#InternalServerError"), "{what}: {text}");
                assert!(stored("bad").await.is_none(), "{what} wrote the item");
            })
            .await;
    }
    cluster.shutdown().await;
    cases.finish();
}

/// One request written by hand on its own connection (`Connection: close`);
/// returns the whole answer, status line and headers included, lowercased.
async fn raw_exchange(addr: SocketAddr, method: &str, headers: &[(&str, &str)]) -> String {
    let (head, body) = raw_exchange_body(addr, method, headers, b"").await;
    head + &String::from_utf8_lossy(&body).to_lowercase()
}

/// [`raw_exchange`] with a request body; returns the answer's status line
/// and headers (lowercased, ending in the blank line) and its body as sent.
async fn raw_exchange_body(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut req = format!("{method} / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(req.as_bytes()).await.expect("send");
    stream.write_all(body).await.expect("send body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head")
        + 4;
    let body = answer.split_off(end);
    (String::from_utf8_lossy(&answer).to_lowercase(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_past_4_kb_are_compressed_as_accept_encoding_asks() {
    use std::io::Read;
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "squeezed", ("pk", ScalarAttributeType::S), None).await;
    let big = "x".repeat(5000);
    for (pk, v) in [("big", big.as_str()), ("small", "tiny")] {
        c.put_item()
            .table_name("squeezed")
            .item("pk", s(pk))
            .item("v", s(v))
            .send()
            .await
            .expect("put");
    }
    let addr = cluster.nodes[0].dynamo_addr;
    let get = |pk: &'static str, accept: Option<&'static str>| async move {
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ];
        headers.extend(accept.map(|a| ("accept-encoding", a)));
        let body = format!(r#"{{"TableName": "squeezed", "Key": {{"pk": {{"S": "{pk}"}}}}}}"#);
        raw_exchange_body(addr, "POST", &headers, body.as_bytes()).await
    };
    let item_of = |body: &[u8]| -> serde_json::Value {
        let json: serde_json::Value = serde_json::from_slice(body).expect("a JSON answer");
        json["Item"]["v"]["S"].clone()
    };
    // Asked for, and past 4 KB: compressed in the coding DynamoDB would pick.
    for (accept, coding) in [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("br, deflate;q=0.5, gzip;q=0.2", "deflate"),
        ("*", "gzip"),
    ] {
        let (head, body) = get("big", Some(accept)).await;
        assert!(head.starts_with("http/1.1 200"), "{accept}: {head}");
        assert!(
            head.contains(&format!("\r\ncontent-encoding: {coding}\r\n")),
            "{accept}: {head}"
        );
        assert!(body.len() < 1000, "{accept}: {} bytes", body.len());
        let mut plain = Vec::new();
        match coding {
            "gzip" => flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain),
            _ => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut plain),
        }
        .expect("decodes");
        assert_eq!(item_of(&plain), serde_json::json!(big), "{accept}");
    }
    // Not asked for, refused, or small: sent as it is.
    for (pk, accept) in [
        ("big", None),
        ("big", Some("identity")),
        ("big", Some("gzip;q=0")),
        ("big", Some("br")),
        ("small", Some("gzip")),
    ] {
        let (head, body) = get(pk, accept).await;
        assert!(head.starts_with("http/1.1 200"), "{pk} {accept:?}: {head}");
        assert!(
            !head.contains("content-encoding"),
            "{pk} {accept:?}: {head}"
        );
        let want = if pk == "big" { big.as_str() } else { "tiny" };
        assert_eq!(item_of(&body), serde_json::json!(want), "{pk} {accept:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_the_host_and_cors_is_answered_as_dynamodb_does() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let addr = cluster.nodes[0].dynamo_addr;
    // The health check names the address the client used.
    let health = http::get(&format!("http://{addr}/"), 1 << 10, Duration::from_secs(10))
        .await
        .expect("health");
    assert_eq!(health.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&health.body).trim(),
        format!("healthy: {addr}")
    );
    // Without an Origin there is no CORS header, whatever the method; every
    // answer names its server as DynamoDB's do.
    for method in ["OPTIONS", "GET", "POST"] {
        let answer = raw_exchange(addr, method, &[]).await;
        assert!(!answer.contains("access-control-"), "{method}: {answer}");
        assert!(
            answer.contains("\r\nserver: server\r\n"),
            "{method}: {answer}"
        );
    }
    // With one, any origin is allowed; only a preflight gets a max age and
    // the method and headers it asked for.
    let asked = [
        ("origin", "http://example.com/"),
        ("access-control-request-method", "dog"),
        ("access-control-request-headers", "cat, meerkat, mouse"),
    ];
    for method in ["OPTIONS", "GET", "POST"] {
        let answer = raw_exchange(addr, method, &asked).await;
        assert!(
            answer.contains("\r\naccess-control-allow-origin: *\r\n"),
            "{method}: {answer}"
        );
        assert!(
            answer.contains("\r\naccess-control-expose-headers: "),
            "{method}: {answer}"
        );
        let preflight = [
            "\r\naccess-control-max-age: ",
            "\r\naccess-control-allow-methods: dog\r\n",
            "\r\naccess-control-allow-headers: cat, meerkat, mouse\r\n",
        ];
        for h in preflight {
            assert_eq!(
                answer.contains(h),
                method == "OPTIONS",
                "{method} {h:?}: {answer}"
            );
        }
        if method == "OPTIONS" {
            assert!(answer.starts_with("http/1.1 200"), "{answer}");
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_json_shapes_are_serialization_errors_and_messages_are_dynamodbs() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "shapes", ("pk", ScalarAttributeType::S), None).await;
    let addr = cluster.nodes[0].dynamo_addr;
    let post = |op: &str, body: String| {
        let target = format!("DynamoDB_20120810.{op}");
        async move { raw_post(addr, Some(&target), &body).await }
    };
    let mut cases = Cases::new();
    // A value of the wrong JSON type, on every path, is a
    // SerializationException in DynamoDB's words.
    let serialization = [
        (
            "PutItem",
            r#"{"TableName": "shapes", "Item": {"pk": {"S": "a"}, "v": {"B": "YWJjZGVmZ2g"}}}"#,
            "Base64 encoded length is expected a multiple of 4 bytes but found: 11",
        ),
        (
            "PutItem",
            r#"{"TableName": "shapes", "Item": {"pk": {"S": "a"}, "v": {"BS": ["YWJj??!!"]}}}"#,
            "Invalid Base64 character: '?'",
        ),
        (
            "GetItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"N": 123}}}"#,
            "NUMBER_VALUE cannot be converted to String",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"N": 123}}}"#,
            "NUMBER_VALUE cannot be converted to String",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"B": "fakebase64"}}}"#,
            "Base64 encoded length is expected a multiple of 4 bytes but found: 10",
        ),
        (
            "UpdateItem",
            r#"{"TableName": "shapes", "Key": {"pk": {"S": "a"}}, "AttributeUpdates": {"v": {"Action": "PUT", "Value": {"SS": [true]}}}}"#,
            "TRUE_VALUE cannot be converted to String",
        ),
    ];
    for (op, body, message) in serialization {
        cases
            .run(format!("{op} {body}"), async {
                let (status, text) = post(op, body.to_string()).await;
                assert_eq!(status, 400, "{body}: {text}");
                let json: serde_json::Value =
                    serde_json::from_str(&text).expect("a JSON error body");
                assert_eq!(
                    json["__type"], "com.amazonaws.dynamodb.v20120810#SerializationException",
                    "{body}: {text}"
                );
                assert_eq!(json["message"], message, "{body}");
            })
            .await;
    }
    // Nothing of those was stored.
    cases
        .run("nothing of the serialization errors was stored", async {
            assert!(get(&c, "shapes", item([("pk", s("a"))])).await.is_none());
        })
        .await;

    // Values that parse but break a rule stay ValidationExceptions, with
    // DynamoDB's text and the key named once.
    let eav = |v: AttributeValue| {
        c.update_item()
            .table_name("shapes")
            .key("pk", s("a"))
            .update_expression("SET v = :val")
            .expression_attribute_values(":val", v)
            .send()
    };
    let put_v = |v: AttributeValue| {
        c.put_item()
            .table_name("shapes")
            .item("pk", s("a"))
            .item("v", v)
    };
    // TTL: the attribute in use, and the name's length.
    let ttl = |name: &str, enabled: bool| update_ttl(&c, "shapes", name, enabled);
    let long = "x".repeat(256);
    let long_ttl = format!(
        "1 validation error detected: Value '{long}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length less than or equal to 255"
    );
    // CreateTable: definitions checked member by member, then for duplicates.
    let def = |name: &str, ty: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_type(ty)
            .attribute_name(name)
            .build()
            .unwrap()
    };
    let key = KeySchemaElement::builder()
        .attribute_name("xyz")
        .key_type(KeyType::Hash)
        .build()
        .unwrap();
    let create = |defs: Vec<AttributeDefinition>| {
        c.create_table()
            .table_name("badtable")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key.clone())
            .set_attribute_definitions(Some(defs))
            .send()
    };
    // A key type outside HASH and RANGE, in the table's key schema or an
    // index's: DynamoDB's enum text at the member's position (as recorded
    // against DynamoDB, which trips over it before undefined attributes).
    let element = |name: &str, ty: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::from(ty))
            .build()
            .unwrap()
    };
    let sorted = |index: Option<&str>| {
        let mut req = c
            .create_table()
            .table_name("badtable")
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .attribute_definitions(def("sk", ScalarAttributeType::S))
            .key_schema(element("pk", "HASH"));
        let odd = vec![element("n/a", "HASH"), element("sth", "SORT")];
        let all = Projection::builder()
            .projection_type(ProjectionType::All)
            .build();
        req = match index {
            None => req.key_schema(element("sk", "SORT")),
            Some("global") => req
                .key_schema(element("sk", "RANGE"))
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name("gsi")
                        .set_key_schema(Some(odd))
                        .projection(all)
                        .build()
                        .unwrap(),
                ),
            Some(_) => req
                .key_schema(element("sk", "RANGE"))
                .local_secondary_indexes(
                    LocalSecondaryIndex::builder()
                        .index_name("lsi")
                        .set_key_schema(Some(odd))
                        .projection(all)
                        .build()
                        .unwrap(),
                ),
        };
        req.send()
    };
    let sort_at = |at: &str| {
        format!(
            "1 validation error detected: Value 'SORT' at '{at}keySchema.2.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"
        )
    };
    let (sort_table, sort_global, sort_local) = (
        sort_at(""),
        sort_at("globalSecondaryIndexes.1.member."),
        sort_at("localSecondaryIndexes.1.member."),
    );
    // BatchWriteItem: more than 25 requests for one table.
    let many: Vec<WriteRequest> = (0..26)
        .map(|i| put_req(item([("pk", s(&i.to_string()))])))
        .collect();
    let refused: Vec<Refusal> = vec![
        (
            "1E+126",
            ask(eav(n("1E+126"))),
            Says::Is(
                "ExpressionAttributeValues contains invalid value: Number overflow. Attempting to store a number with magnitude larger than supported range for key :val",
            ),
        ),
        (
            "NaN",
            ask(eav(n("NaN"))),
            Says::Is(
                "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: NaN for key :val",
            ),
        ),
        (
            "an empty string set",
            ask(eav(AttributeValue::Ss(vec![]))),
            // As recorded against DynamoDB: an UpdateItem's empty set is a
            // constraint violation, named as in an item.
            Says::Is(
                "1 validation error detected: One or more parameter values were invalid: An string set  may not be empty",
            ),
        ),
        (
            "an empty number set",
            ask(put_v(AttributeValue::Ns(vec![])).send()),
            Says::Is(
                "1 validation error detected: One or more parameter values were invalid: An number set  may not be empty",
            ),
        ),
        // A duplicate set member: the collection as sent.
        (
            "a string set with a duplicate",
            ask(put_v(AttributeValue::Ss(vec!["b".into(), "a".into(), "b".into()])).send()),
            Says::Is(
                "One or more parameter values were invalid: Input collection [b, a, b] contains duplicates.",
            ),
        ),
        // Attribute names: empty or over 65535 bytes.
        (
            "a 64 KB attribute name",
            ask(c
                .put_item()
                .table_name("shapes")
                .item("pk", s("a"))
                .item("x".repeat(65536), n(1))
                .send()),
            Says::Has("Attribute name is too large, must be less than 65536 bytes"),
        ),
        (
            "AttributesToGet with an empty name",
            ask(c
                .get_item()
                .table_name("shapes")
                .key("pk", s("a"))
                .attributes_to_get("")
                .send()),
            Says::Has("Empty attribute name"),
        ),
        // Legacy ADD on another type.
        (
            "ADD of a number to a string",
            ask(async {
                put(&c, "shapes", item([("pk", s("b")), ("v", s("text"))])).await;
                c.update_item()
                    .table_name("shapes")
                    .key("pk", s("b"))
                    .attribute_updates(
                        "v",
                        AttributeValueUpdate::builder()
                            .action(AttributeAction::Add)
                            .value(n(1))
                            .build(),
                    )
                    .send()
                    .await
            }),
            Says::Is("Type mismatch for attribute to update"),
        ),
        // An ExclusiveStartKey that is not just the key.
        (
            "a spurious start key column",
            ask(c
                .scan()
                .table_name("shapes")
                .exclusive_start_key("pk", s("a"))
                .exclusive_start_key("x", n(3))
                .send()),
            Says::Is(
                "The provided starting key is invalid: The provided key element does not match the schema",
            ),
        ),
        (
            "26 writes for one table",
            ask(c.batch_write_item().request_items("shapes", many).send()),
            Says::Has(
                "failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
            ),
        ),
        (
            "TTL on another name",
            ask(async {
                ttl("expires", true).send().await.unwrap();
                ttl("dog", false).send().await
            }),
            Says::Is(
                "TimeToLive is active on a different AttributeName: current AttributeName is expires",
            ),
        ),
        (
            "a long TTL name",
            ask(ttl(&long, true).send()),
            Says::Is(&long_ttl),
        ),
        ("a SORT key", ask(sorted(None)), Says::Is(&sort_table)),
        (
            "a SORT key in a global index",
            ask(sorted(Some("global"))),
            Says::Is(&sort_global),
        ),
        (
            "a SORT key in a local index",
            ask(sorted(Some("local"))),
            Says::Is(&sort_local),
        ),
        (
            "an empty name",
            ask(create(vec![def("", ScalarAttributeType::S)])),
            Says::Has("'attributeDefinitions.1.member.attributeName'"),
        ),
        (
            "a duplicate definition",
            ask(create(vec![
                def("xyz", ScalarAttributeType::S),
                def("xyz", ScalarAttributeType::N),
            ])),
            Says::Is("Attribute Name is duplicated: xyz"),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases
        .run("a 65535-byte name fits", async {
            c.put_item()
                .table_name("shapes")
                .item("pk", s("a"))
                .item("x".repeat(65535), n(1))
                .send()
                .await
                .expect("a 65535-byte name fits");
        })
        .await;
    // Tag/UntagResource answer no body.
    cases
        .run("TagResource and UntagResource answer no body", async {
            let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/shapes";
            let (status, body) = post(
                "TagResource",
                format!(r#"{{"ResourceArn": "{arn}", "Tags": [{{"Key": "k", "Value": "v"}}]}}"#),
            )
            .await;
            assert_eq!((status, body.as_str()), (200, ""));
            let (status, body) = post(
                "UntagResource",
                format!(r#"{{"ResourceArn": "{arn}", "TagKeys": ["k"]}}"#),
            )
            .await;
            assert_eq!((status, body.as_str()), (200, ""));
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}
