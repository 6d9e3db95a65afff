//! Tags belong to each region's replica, with DynamoDB's limits.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_belong_to_each_regions_replica_with_dynamodbs_limits() {
    let cluster = TestCluster::start_global(&REGIONS[..2]).await;
    let cs = clients(&cluster);
    let c = &cs[0];
    create_table_request(c, "tagged", ("pk", ScalarAttributeType::S), None)
        .tags(Tag::builder().key("team").value("core").build().unwrap())
        .send()
        .await
        .expect("create with tags");
    let arn = c
        .describe_table()
        .table_name("tagged")
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .table_arn()
        .unwrap()
        .to_string();
    let list = |c: &Client, arn: &str| {
        let (c, arn) = (c.clone(), arn.to_string());
        async move {
            let out = c
                .list_tags_of_resource()
                .resource_arn(arn)
                .send()
                .await
                .unwrap();
            out.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect::<Vec<_>>()
        }
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let mut cases = Cases::new();
    cases
        .run("the tags a table was created with", async {
            assert_eq!(list(c, &arn).await, vec![pair("team", "core")]);
        })
        .await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    cases
        .run("TagResource adds and replaces", async {
            c.tag_resource()
                .resource_arn(&arn)
                .tags(tag("env", "prod"))
                .tags(tag("team", "edge"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                list(c, &arn).await,
                vec![pair("env", "prod"), pair("team", "edge")]
            );
        })
        .await;
    cases
        .run("UntagResource removes", async {
            c.untag_resource()
                .resource_arn(&arn)
                .tag_keys("team")
                .tag_keys("absent")
                .send()
                .await
                .unwrap();
            assert_eq!(list(c, &arn).await, vec![pair("env", "prod")]);
        })
        .await;

    // The other region's replica has its own ARN and, as in DynamoDB, its own tags.
    let other = &cs[1];
    let other_arn = arn.replace(REGIONS[0], REGIONS[1]);
    poll("the table in the second region", || async {
        other
            .describe_table()
            .table_name("tagged")
            .send()
            .await
            .is_ok()
    })
    .await;
    // The stream carried the tag rows past the peer's checks: a later write arrives.
    put(c, "tagged", item([("pk", s("after-tags"))])).await;
    poll(
        "a write made after tagging reaches the second region",
        || async {
            try_get(other, "tagged", item([("pk", s("after-tags"))]))
                .await
                .is_ok_and(|i| i.is_some())
        },
    )
    .await;
    cases
        .run(
            "the other region's replica has its own, empty, tags",
            async {
                assert!(list(other, &other_arn).await.is_empty());
            },
        )
        .await;
    cases
        .run("another region's ARN", async {
            let msg = expect_code(
                other
                    .list_tags_of_resource()
                    .resource_arn(&arn)
                    .send()
                    .await,
                "ResourceNotFoundException",
                "another region's ARN",
            );
            assert_eq!(
                msg,
                format!("Requested resource not found: ResourcArn: {arn} not found")
            );
        })
        .await;

    // DynamoDB's limits and messages.
    let tag_err = |tags: Vec<Tag>| {
        let c = c.clone();
        let arn = arn.clone();
        async move {
            let r = c
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await;
            expect_code(r, "ValidationException", "bad tags")
        }
    };
    let long_key = "k".repeat(129);
    let limits = [
        (
            vec![tag(&long_key, "v")],
            format!("The Tag Key provided is invalid, Key: {long_key}"),
        ),
        (
            vec![tag("a", &"v".repeat(257))],
            format!(
                "The Tag Value provided is invalid, Value: {}",
                "v".repeat(257)
            ),
        ),
        (
            vec![tag("aws:owner", "v")],
            "Tag Key cannot be prefixed with aws:, Key: aws:owner".to_string(),
        ),
        (
            vec![tag("a", "1"), tag("a", "2")],
            "Duplicate Tag Keys provided as input: Duplicate Tag Key found a".to_string(),
        ),
        (
            vec![tag("a%", "1")],
            "The Tag Key provided is invalid, Key: a%".to_string(),
        ),
        (
            vec![],
            "Atleast one Tag needs to be provided as Input.".to_string(),
        ),
        (
            (0..50).map(|i| tag(&format!("k{i}"), "v")).collect(),
            "Number of Tags exceed the current limit for the provided ResourceArn".to_string(),
        ),
    ];
    for (tags, want) in limits {
        cases
            .run(want.clone(), async {
                assert_eq!(tag_err(tags).await, want);
            })
            .await;
    }
    cases
        .run("failed requests change nothing", async {
            assert_eq!(
                list(c, &arn).await,
                vec![pair("env", "prod")],
                "failed requests change nothing"
            );
        })
        .await;
    cases
        .run("50 tags", async {
            c.tag_resource()
                .resource_arn(&arn)
                .set_tags(Some((0..49).map(|i| tag(&format!("k{i}"), "")).collect()))
                .send()
                .await
                .expect("50 tags in all");
            assert_eq!(list(c, &arn).await.len(), 50);
        })
        .await;
    cases.run("short table name", async {
        let msg = expect_code(
            c.tag_resource()
                .resource_arn("arn:aws:dynamodb:us-east-1:000000000000:table/x")
                .tags(tag("a", "b"))
                .send()
                .await,
            "ValidationException",
            "short table name",
        );
        assert_eq!(
            msg,
            "Invalid TableArn: Invalid ResourceArn provided as input arn:aws:dynamodb:us-east-1:000000000000:table/x"
        );
    }).await;
    let missing = arn.replace("tagged", "missing");
    cases
        .run("missing table", async {
            let msg = expect_code(
                c.tag_resource()
                    .resource_arn(&missing)
                    .tags(tag("a", "b"))
                    .send()
                    .await,
                "ResourceNotFoundException",
                "missing table",
            );
            assert_eq!(
                msg,
                format!("Requested resource not found: ResourcArn: {missing} not found")
            );
        })
        .await;
    cases
        .run("no keys", async {
            expect_validation(
                c.untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(vec![]))
                    .send()
                    .await,
                "Atleast one Tag Key needs to be provided as Input.",
                "no keys",
            );
        })
        .await;

    // A recreated table starts untagged.
    cases
        .run("a recreated table starts untagged", async {
            c.delete_table().table_name("tagged").send().await.unwrap();
            create_table(c, "tagged", ("pk", ScalarAttributeType::S), None).await;
            assert!(list(c, &arn).await.is_empty());
        })
        .await;
    cases.finish();
}

/// Tag operations check their request in DynamoDB's order (as recorded
/// against DynamoDB): the caller is authorized on the resource first, so a
/// string that is no ARN with a resource type is `AccessDeniedException`
/// on it (`*` when empty); then a missing `Tags` or `TagKeys`; then the
/// table ARN; then an empty list; then the table. UntagResource's missing
/// table names no ARN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_requests_are_checked_in_dynamodbs_order() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let addr = cluster.nodes[0].dynamo_addr;
    let ask = |op: &'static str, body: String| async move {
        let (status, body) = raw_post(addr, Some(&format!("DynamoDB_20120810.{op}")), &body).await;
        assert_eq!(status, 400, "{op}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
        let kind = json["__type"].as_str().unwrap_or_default();
        (
            kind.rsplit('#').next().unwrap_or_default().to_string(),
            json["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    let denied = |op: &str, resource: &str| {
        format!(
            "User: arn:aws:iam::000000000000:root is not authorized to perform: dynamodb:{op} on resource: {resource}"
        )
    };
    let mut cases = Cases::new();
    for op in ["TagResource", "UntagResource", "ListTagsOfResource"] {
        for (arn, resource) in [
            ("", "*"),
            ("abcd", "abcd"),
            ("a:b:c:d:e:f", "a:b:c:d:e:f"),
            ("a:b:c:d:e/f", "a:b:c:d:e/f"),
        ] {
            cases
                .run(format!("{op} on {arn:?}"), async {
                    let body =
                        format!("{{\"ResourceArn\": \"{arn}\", \"Tags\": [], \"TagKeys\": []}}");
                    assert_eq!(
                        ask(op, body).await,
                        ("AccessDeniedException".to_string(), denied(op, resource))
                    );
                })
                .await;
        }
        cases
            .run(format!("{op} without ResourceArn"), async {
                assert_eq!(
                    ask(op, "{}".into()).await,
                    (
                        "ValidationException".to_string(),
                        "Invalid TableArn".to_string()
                    )
                );
            })
            .await;
    }
    let odd = "a:b:c:d:e:f/g";
    let checks = [
        (
            "TagResource",
            format!("{{\"ResourceArn\": \"{odd}\"}}"),
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null".to_string(),
        ),
        (
            "UntagResource",
            format!("{{\"ResourceArn\": \"{odd}\"}}"),
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null".to_string(),
        ),
        (
            "TagResource",
            format!("{{\"ResourceArn\": \"{odd}\", \"Tags\": []}}"),
            format!("Invalid TableArn: Invalid ResourceArn provided as input {odd}"),
        ),
        (
            "ListTagsOfResource",
            format!("{{\"ResourceArn\": \"{odd}\"}}"),
            format!("Invalid TableArn: Invalid ResourceArn provided as input {odd}"),
        ),
    ];
    for (op, body, want) in checks {
        cases
            .run(format!("{op} {body}"), async {
                assert_eq!(
                    ask(op, body).await,
                    ("ValidationException".to_string(), want)
                );
            })
            .await;
    }
    let missing = "arn:aws:dynamodb:us-east-1:000000000000:table/missing";
    cases
        .run("UntagResource of a missing table names no ARN", async {
            let body = format!("{{\"ResourceArn\": \"{missing}\", \"TagKeys\": [\"a\"]}}");
            assert_eq!(
                ask("UntagResource", body).await,
                (
                    "ResourceNotFoundException".to_string(),
                    "Requested resource not found".to_string()
                )
            );
        })
        .await;
    cases.finish();
}
