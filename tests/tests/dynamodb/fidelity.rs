//! DynamoDB's wording and order of request checks, as recorded against
//! DynamoDB itself: which errors carry the `1 validation error detected: `
//! prefix, which check wins when a request breaks several, and which of a
//! transaction's faults refuse the request before any cancellation.

use super::*;
use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType};

/// A TransactWriteItems request of `actions`, sent.
async fn transact(
    c: &Client,
    actions: Vec<TransactWriteItem>,
) -> Result<
    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
    aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
> {
    c.transact_write_items()
        .set_transact_items(Some(actions))
        .send()
        .await
}

const UNUSED_COUNT: &str =
    "Value provided in ExpressionAttributeNames unused in expressions: keys: {#count}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_checks_are_worded_and_ordered_as_dynamodb_does() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "fid", ("pk", ScalarAttributeType::S), None).await;
    put(&c, "fid", item([("pk", s("pk1")), ("spec", m([]))])).await;
    let before = get(&c, "fid", item([("pk", s("pk1"))])).await;
    let mut cases = Cases::new();

    let update = |expr: &str| {
        c.update_item()
            .table_name("fid")
            .key("pk", s("pk1"))
            .update_expression(expr)
    };
    let detected = |m: &str| format!("1 validation error detected: {m}");
    let overlap_one = detected(
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [string_set], path two: [string_set]",
    );
    let overlap_nested = detected(
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [string_set, nested], path two: [string_set, nested]",
    );
    let two_adds = detected(
        "Invalid UpdateExpression: The \"ADD\" section can only be used once in an update expression;",
    );
    let unused_name = detected(UNUSED_COUNT);
    let unused_value = detected(
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:countChange}",
    );
    let empty_ns =
        detected("One or more parameter values were invalid: An number set  may not be empty");
    let empty_ss =
        detected("One or more parameter values were invalid: An string set  may not be empty");
    let empty_expr = detected("Invalid UpdateExpression: The expression can not be empty;");
    let empty_values = detected("ExpressionAttributeValues must not be empty");
    let refused: Vec<Refusal> = vec![
        // 1. The prefix: single-item writes word these as constraint
        // violations; reads and transactions do not.
        (
            "UpdateItem: one path twice, by a name",
            ask(update("SET #s = :h, #s = :h")
                .expression_attribute_names("#s", "string_set")
                .expression_attribute_values(":h", s("H"))
                .send()),
            Says::Is(&overlap_one),
        ),
        (
            "UpdateItem: one nested path twice",
            ask(update("SET string_set.nested = :h, string_set.nested = :h")
                .expression_attribute_values(":h", s("H"))
                .send()),
            Says::Is(&overlap_nested),
        ),
        (
            "UpdateItem: two ADD sections",
            ask(update("ADD x :one SET a = :a ADD y :one")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":a", s("lore ipsum"))
                .send()),
            Says::Is(&two_adds),
        ),
        (
            "UpdateItem: an unused name beside an unused value",
            ask(update("SET spec.#limit = :limit")
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#limit", "limit")
                .expression_attribute_values(":countChange", n(1))
                .expression_attribute_values(":limit", s("limit"))
                .send()),
            Says::Is(&unused_name),
        ),
        (
            "UpdateItem: an unused value",
            ask(update("SET spec.#limit = :limit")
                .expression_attribute_names("#limit", "limit")
                .expression_attribute_values(":countChange", n(1))
                .expression_attribute_values(":limit", s("limit"))
                .send()),
            Says::Is(&unused_value),
        ),
        (
            "UpdateItem: an empty number set",
            ask(update("SET x = :one")
                .expression_attribute_values(":one", ns(&[]))
                .send()),
            Says::Is(&empty_ns),
        ),
        (
            "UpdateItem: an empty expression",
            ask(update("").send()),
            Says::Is(&empty_expr),
        ),
        (
            "UpdateItem: empty ExpressionAttributeValues",
            ask(update("SET #d = :s")
                .expression_attribute_names("#d", "d")
                .set_expression_attribute_values(Some(HashMap::new()))
                .send()),
            Says::Is(&empty_values),
        ),
        (
            "PutItem: an unused name",
            ask(c
                .put_item()
                .table_name("fid")
                .item("pk", s("pk1"))
                .condition_expression("attribute_not_exists(body)")
                .expression_attribute_names("#count", "count")
                .send()),
            Says::Is(&unused_name),
        ),
        (
            "PutItem: an empty string set",
            ask(c
                .put_item()
                .table_name("fid")
                .item("pk", s("foo"))
                .item("stringSet", ss(&[]))
                .send()),
            Says::Is(&empty_ss),
        ),
        (
            "DeleteItem: an unused name",
            ask(c
                .delete_item()
                .table_name("fid")
                .key("pk", s("pk1"))
                .condition_expression("attribute_not_exists(body)")
                .expression_attribute_names("#count", "count")
                .send()),
            Says::Is(&unused_name),
        ),
        (
            "GetItem: an unused name, no prefix",
            ask(c
                .get_item()
                .table_name("fid")
                .key("pk", s("pk1"))
                .projection_expression("pk")
                .expression_attribute_names("#count", "count")
                .send()),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "GetItem: empty ExpressionAttributeNames, no prefix",
            ask(c
                .get_item()
                .table_name("fid")
                .key("pk", s("pk1"))
                .projection_expression("pk")
                .set_expression_attribute_names(Some(HashMap::new()))
                .send()),
            Says::Is("ExpressionAttributeNames must not be empty"),
        ),
        (
            "Scan: an unused name, no prefix",
            ask(c
                .scan()
                .table_name("fid")
                .filter_expression("#h = :h")
                .expression_attribute_names("#h", "pk")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":h", s("hash_value"))
                .send()),
            Says::Is(UNUSED_COUNT),
        ),
        // 2. Which check speaks first.
        (
            "Scan: TotalSegments alone names Segment",
            ask(c.scan().table_name("fid").total_segments(1).send()),
            Says::Is(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ),
        ),
        (
            "Scan: Segment alone names TotalSegments",
            ask(c.scan().table_name("fid").segment(1).send()),
            Says::Is(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ),
        ),
        (
            "GetItem: a sort key to a table without one",
            ask(c
                .get_item()
                .table_name("fid")
                .key("pk", s("pk"))
                .key("sk", s("sk"))
                .send()),
            Says::Is("The provided key element does not match the schema"),
        ),
        (
            "DeleteItem: a sort key to a table without one",
            ask(c
                .delete_item()
                .table_name("fid")
                .key("pk", s("pk"))
                .key("sk", s("sk"))
                .send()),
            Says::Is("The provided key element does not match the schema"),
        ),
        (
            "UpdateItem: a sort key to a table without one",
            ask(update("set body=:New")
                .key("ReceivedTime", s("12/9/2011 11:36:03 PM"))
                .expression_attribute_values(":New", s("hello"))
                .send()),
            Says::Is("The provided key element does not match the schema"),
        ),
        // 4. CreateTable: one attribute as both keys.
        (
            "CreateTable: HASH and RANGE of one name",
            ask(c
                .create_table()
                .table_name("same")
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("a")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(key_element("a", KeyType::Hash))
                .key_schema(key_element("a", KeyType::Range))
                .send()),
            Says::Is(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ),
        ),
        (
            "CreateTable: an index's HASH and RANGE of one name",
            ask(
                create_table_request(&c, "same", ("pk", ScalarAttributeType::S), None)
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name("a")
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .unwrap(),
                    )
                    .global_secondary_indexes(
                        GlobalSecondaryIndex::builder()
                            .index_name("gsi")
                            .key_schema(key_element("a", KeyType::Hash))
                            .key_schema(key_element("a", KeyType::Range))
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::All)
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .send(),
            ),
            Says::Is(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases
        .run("DeleteTable of a missing table names it", async {
            let msg = expect_code(
                c.delete_table().table_name("missing").send().await,
                "ResourceNotFoundException",
                "DeleteTable of a missing table",
            );
            assert_eq!(
                msg,
                "Requested resource not found: Table: missing not found"
            );
        })
        .await;
    cases
        .run("nothing refused changed the item", async {
            assert_eq!(get(&c, "fid", item([("pk", s("pk1"))])).await, before);
            assert!(get(&c, "fid", item([("pk", s("foo"))])).await.is_none());
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

fn key_element(name: &str, kt: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kt)
        .build()
        .unwrap()
}

/// 3. A transaction's request checks (unused names, an empty key, empty
/// `ExpressionAttributeValues`) refuse it whole, with no prefix, before a
/// key that does not fit its table cancels it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_refuse_request_faults_before_cancelling() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "tfid", ("pk", ScalarAttributeType::S), None).await;
    put(&c, "tfid", item([("pk", s("mark"))])).await;
    let mut cases = Cases::new();

    let unused_put = || {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name("tfid")
                    .item("pk", s("foo"))
                    .item("foo", s("bar"))
                    .condition_expression("#i <> foo")
                    .expression_attribute_names("#i", "pk")
                    .expression_attribute_names("#count", "count")
                    .build()
                    .unwrap(),
            )
            .build()
    };
    // Each keyed by `id`, which the table's key is not.
    let misfit_update = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name("tfid")
                .key("id", s("foo"))
                .update_expression("SET #e = test")
                .expression_attribute_names("#e", "email_address")
                .expression_attribute_names("#count", "count")
                .build()
                .unwrap(),
        )
        .build();
    let misfit_check = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name("tfid")
                .key("id", s("foo"))
                .condition_expression("attribute_exists(#e)")
                .expression_attribute_names("#e", "email_address")
                .expression_attribute_names("#count", "count")
                .build()
                .unwrap(),
        )
        .build();
    let misfit_delete = TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name("tfid")
                .key("pk", s("foo"))
                .key("foo", s("bar"))
                .condition_expression("#i <> foo")
                .expression_attribute_names("#i", "pk")
                .expression_attribute_names("#count", "count")
                .build()
                .unwrap(),
        )
        .build();
    let plain_misfit = tx_delete("tfid", item([("id", s("x"))]));
    let empty_key = tx_update(
        "tfid",
        item([("pk", s(""))]),
        "SET sth = :v",
        &[(":v", n(0))],
    );
    let empty_values = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name("tfid")
                .item("pk", s("tenant"))
                .condition_expression("attribute_not_exists(#n0)")
                .expression_attribute_names("#n0", "pk")
                .set_expression_attribute_values(Some(HashMap::new()))
                .build()
                .unwrap(),
        )
        .build();
    let refused: Vec<Refusal> = vec![
        (
            "Put: an unused name",
            ask(transact(&c, vec![unused_put()])),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "Update: an unused name beside a key that does not fit",
            ask(transact(&c, vec![misfit_update])),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "ConditionCheck: an unused name beside a key that does not fit",
            ask(transact(
                &c,
                vec![
                    misfit_check,
                    tx_put(
                        "tfid",
                        item([("pk", s("bar")), ("email_address", s("b@m"))]),
                    ),
                ],
            )),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "Delete: an unused name beside a key that does not fit",
            ask(transact(&c, vec![misfit_delete])),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "a key that does not fit, then an unused name in another action",
            ask(transact(&c, vec![plain_misfit.clone(), unused_put()])),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "Update: an empty key",
            ask(transact(&c, vec![empty_key])),
            Says::Is(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
            ),
        ),
        (
            "Put: empty ExpressionAttributeValues",
            ask(transact(&c, vec![empty_values])),
            Says::Is("ExpressionAttributeValues must not be empty"),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases
        .run("a key that does not fit alone still cancels", async {
            let msg = expect_code(
                transact(&c, vec![tx_put("tfid", item([("pk", s("ok"))])), plain_misfit]).await,
                "TransactionCanceledException",
                "a key that does not fit",
            );
            assert_eq!(
                msg,
                "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ValidationError]"
            );
        })
        .await;
    cases
        .run("nothing was written", async {
            for pk in ["foo", "bar", "tenant", "ok"] {
                assert!(
                    get(&c, "tfid", item([("pk", s(pk))])).await.is_none(),
                    "{pk}"
                );
            }
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// 5. A table's ARN serves wherever DynamoDB takes `TableName`: item and
/// table operations, batches (keyed by the ARN in the answer as in the
/// request) and transactions. An ARN of another region or account is
/// refused as DynamoDB refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_arn_names_the_table_everywhere() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    create_table(&c, "byarn", ("pk", ScalarAttributeType::S), None).await;
    let arn = c
        .describe_table()
        .table_name("byarn")
        .send()
        .await
        .unwrap()
        .table()
        .and_then(|t| t.table_arn())
        .expect("a table ARN")
        .to_string();
    let arn = arn.as_str();
    let mut cases = Cases::new();
    cases
        .run("items: put, update, get, query, scan, delete", async {
            c.put_item()
                .table_name(arn)
                .item("pk", s("a"))
                .send()
                .await
                .unwrap();
            c.update_item()
                .table_name(arn)
                .key("pk", s("a"))
                .update_expression("SET v = :v")
                .expression_attribute_values(":v", n(1))
                .send()
                .await
                .unwrap();
            let got = c
                .get_item()
                .table_name(arn)
                .key("pk", s("a"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                got.item().map(norm_item),
                Some(item([("pk", s("a")), ("v", n(1))]))
            );
            let q = c
                .query()
                .table_name(arn)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s("a"))
                .send()
                .await
                .unwrap();
            assert_eq!(q.count(), 1);
            assert_eq!(c.scan().table_name(arn).send().await.unwrap().count(), 1);
            c.delete_item()
                .table_name(arn)
                .key("pk", s("a"))
                .send()
                .await
                .unwrap();
            assert!(get(&c, "byarn", item([("pk", s("a"))])).await.is_none());
        })
        .await;
    cases
        .run("batches answer keyed by the ARN", async {
            let w = c
                .batch_write_item()
                .request_items(arn, vec![put_req(item([("pk", s("b"))]))])
                .send()
                .await
                .unwrap();
            assert!(w.unprocessed_items().is_none_or(HashMap::is_empty), "{w:?}");
            let keys = KeysAndAttributes::builder()
                .keys(item([("pk", s("b"))]))
                .build()
                .unwrap();
            let r = c
                .batch_get_item()
                .request_items(arn, keys)
                .send()
                .await
                .unwrap();
            let responses = r.responses().expect("responses");
            assert_eq!(responses.get(arn).map(Vec::len), Some(1), "{responses:?}");
            assert!(!responses.contains_key("byarn"), "{responses:?}");
        })
        .await;
    cases
        .run("transactions", async {
            transact(&c, vec![tx_put(arn, item([("pk", s("t"))]))])
                .await
                .unwrap();
            let r = c
                .transact_get_items()
                .transact_items(tx_get(arn, item([("pk", s("t"))])))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.responses()[0].item().map(norm_item),
                Some(item([("pk", s("t"))]))
            );
        })
        .await;
    cases
        .run("table operations", async {
            let d = c.describe_table().table_name(arn).send().await.unwrap();
            assert_eq!(d.table().and_then(|t| t.table_name()), Some("byarn"));
            update_ttl(&c, arn, "exp", true).send().await.unwrap();
            let ttl = c
                .describe_time_to_live()
                .table_name(arn)
                .send()
                .await
                .unwrap();
            assert_eq!(
                ttl.time_to_live_description()
                    .and_then(|t| t.attribute_name()),
                Some("exp")
            );
        })
        .await;
    let elsewhere = arn.replace("us-east-1", "eu-west-1");
    let other_account = arn.replace(":000000000000:", ":111122223333:");
    let invalid_region =
        format!("1 validation error detected: Invalid AWS region in '{elsewhere}'");
    let denied = format!(
        "User: arn:aws:iam::000000000000:root is not authorized to perform: dynamodb:GetItem on resource: {other_account} because no resource-based policy allows the dynamodb:GetItem action"
    );
    let key = || item([("pk", s("a"))]);
    let refused: Vec<Refusal> = vec![
        (
            "GetItem by an ARN of another region",
            ask(c
                .get_item()
                .table_name(&elsewhere)
                .set_key(Some(key()))
                .send()),
            Says::Is(&invalid_region),
        ),
        (
            "a transaction naming an ARN of another region",
            ask(transact(&c, vec![tx_put(&elsewhere, key())])),
            Says::Is(&invalid_region),
        ),
        (
            "a batch naming an ARN of another region",
            ask(c
                .batch_write_item()
                .request_items(&elsewhere, vec![put_req(key())])
                .send()),
            Says::Is(&invalid_region),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cases
        .refused(
            "AccessDeniedException",
            vec![(
                "GetItem by an ARN of another account",
                ask(c
                    .get_item()
                    .table_name(&other_account)
                    .set_key(Some(key()))
                    .send()),
                Says::Is(&denied),
            )],
        )
        .await;
    cases
        .run("DeleteTable by ARN", async {
            c.delete_table().table_name(arn).send().await.unwrap();
            let e = c.describe_table().table_name("byarn").send().await;
            expect_code(e, "ResourceNotFoundException", "the table is gone");
        })
        .await;
    cluster.shutdown().await;
    cases.finish();
}

/// 6. Deletion protection is set per replica (CreateTable, UpdateTable),
/// never synchronized, and DeleteTable honours it; `WarmThroughput` is
/// described as DynamoDB describes a table that never raised it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_protection_is_a_replicas_own_and_shapes_are_dynamodbs() {
    let cluster = TestCluster::start_global(&REGIONS[..2]).await;
    let (c, peer) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    let mut cases = Cases::new();
    let created = create_table_request(&c, "guarded", ("pk", ScalarAttributeType::S), None)
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    cluster.wait_table_everywhere("guarded").await;
    let protected = |c: &Client| {
        let c = c.clone();
        async move {
            c.describe_table()
                .table_name("guarded")
                .send()
                .await
                .unwrap()
                .table()
                .and_then(|t| t.deletion_protection_enabled())
        }
    };
    cases.check("CreateTable answers the protection", || {
        assert_eq!(
            created
                .table_description()
                .and_then(|t| t.deletion_protection_enabled()),
            Some(true)
        );
    });
    cases
        .run("the protection is the replica's own", async {
            assert_eq!(protected(&c).await, Some(true));
            assert_eq!(protected(&peer).await, Some(false));
        })
        .await;
    cases
        .run("DeleteTable of a protected replica is refused", async {
            let msg = expect_code(
                c.delete_table().table_name("guarded").send().await,
                "ValidationException",
                "DeleteTable of a protected table",
            );
            assert_eq!(
                msg,
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."
            );
            assert_eq!(protected(&c).await, Some(true), "the table is still there");
        })
        .await;
    cases
        .run(
            "WarmThroughput of an on-demand table and its index",
            async {
                let d = c
                    .describe_table()
                    .table_name("guarded")
                    .send()
                    .await
                    .unwrap();
                let warm = d
                    .table()
                    .and_then(|t| t.warm_throughput())
                    .expect("WarmThroughput");
                assert_eq!(
                    (warm.read_units_per_second(), warm.write_units_per_second()),
                    (Some(12_000), Some(4_000))
                );
                assert_eq!(warm.status().map(|s| s.as_str()), Some("ACTIVE"));
            },
        )
        .await;
    cases
        .run(
            "UpdateTable turns it off, alone, and DeleteTable then goes",
            async {
                let u = c
                    .update_table()
                    .table_name("guarded")
                    .deletion_protection_enabled(false)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    u.table_description()
                        .and_then(|t| t.deletion_protection_enabled()),
                    Some(false)
                );
                assert_eq!(protected(&c).await, Some(false));
                c.update_table()
                    .table_name("guarded")
                    .deletion_protection_enabled(true)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(protected(&c).await, Some(true));
                assert_eq!(protected(&peer).await, Some(false), "never synchronized");
                c.update_table()
                    .table_name("guarded")
                    .deletion_protection_enabled(false)
                    .send()
                    .await
                    .unwrap();
                c.delete_table().table_name("guarded").send().await.unwrap();
            },
        )
        .await;
    cases
        .run("a table created again starts unprotected", async {
            create_table(&c, "guarded", ("pk", ScalarAttributeType::S), None).await;
            assert_eq!(protected(&c).await, Some(false));
        })
        .await;
    cases
        .run(
            "WarmThroughput of a provisioned table is its units, described, not created or deleted",
            async {
                // As AWS answers: CreateTable and DeleteTable of a table
                // whose warm throughput was not asked for leave it out (of
                // the table and its indexes); DescribeTable gives it.
                let index = GlobalSecondaryIndex::builder()
                    .index_name("byg")
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name("g")
                            .key_type(KeyType::Hash)
                            .build()
                            .unwrap(),
                    )
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .provisioned_throughput(
                        ProvisionedThroughput::builder()
                            .read_capacity_units(1)
                            .write_capacity_units(1)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap();
                let created =
                    create_table_request(&c, "warm", ("pk", ScalarAttributeType::S), None)
                        .attribute_definitions(
                            AttributeDefinition::builder()
                                .attribute_name("g")
                                .attribute_type(ScalarAttributeType::S)
                                .build()
                                .unwrap(),
                        )
                        .global_secondary_indexes(index)
                        .billing_mode(BillingMode::Provisioned)
                        .provisioned_throughput(
                            ProvisionedThroughput::builder()
                                .read_capacity_units(3)
                                .write_capacity_units(5)
                                .build()
                                .unwrap(),
                        )
                        .send()
                        .await
                        .unwrap();
                let t = created.table_description().expect("TableDescription");
                assert!(t.warm_throughput().is_none(), "{t:?}");
                assert_eq!(t.global_secondary_indexes().len(), 1);
                assert!(
                    t.global_secondary_indexes()[0].warm_throughput().is_none(),
                    "{t:?}"
                );
                let d = c.describe_table().table_name("warm").send().await.unwrap();
                let warm = d
                    .table()
                    .and_then(|t| t.warm_throughput())
                    .expect("WarmThroughput");
                assert_eq!(
                    (warm.read_units_per_second(), warm.write_units_per_second()),
                    (Some(3), Some(5))
                );
                let deleted = c.delete_table().table_name("warm").send().await.unwrap();
                let t = deleted.table_description().expect("TableDescription");
                assert!(t.warm_throughput().is_none(), "{t:?}");
            },
        )
        .await;
    cases
        .run(
            "a WarmThroughput asked for at creation is kept and described",
            async {
                let warm = |read, write| {
                    aws_sdk_dynamodb::types::WarmThroughput::builder()
                        .read_units_per_second(read)
                        .write_units_per_second(write)
                        .build()
                };
                let units =
                    |t: Option<&aws_sdk_dynamodb::types::TableWarmThroughputDescription>| {
                        let t = t.expect("WarmThroughput");
                        (
                            t.read_units_per_second(),
                            t.write_units_per_second(),
                            t.status().map(|s| s.as_str().to_string()),
                        )
                    };
                let created =
                    create_table_request(&c, "warmed", ("pk", ScalarAttributeType::S), None)
                        .billing_mode(BillingMode::Provisioned)
                        .provisioned_throughput(
                            ProvisionedThroughput::builder()
                                .read_capacity_units(5)
                                .write_capacity_units(5)
                                .build()
                                .unwrap(),
                        )
                        .warm_throughput(warm(1000, 1200))
                        .send()
                        .await
                        .unwrap();
                // DynamoDB answers the creation with the warm throughput
                // being set, then describes it as it is.
                assert_eq!(
                    units(
                        created
                            .table_description()
                            .and_then(|t| t.warm_throughput())
                    ),
                    (Some(1000), Some(1200), Some("UPDATING".into()))
                );
                let d = c
                    .describe_table()
                    .table_name("warmed")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    units(d.table().and_then(|t| t.warm_throughput())),
                    (Some(1000), Some(1200), Some("ACTIVE".into()))
                );
                // Below an on-demand table's initial 12,000 and 4,000 it
                // changes nothing: warm throughput only grows.
                create_table_request(&c, "warm-od", ("pk", ScalarAttributeType::S), None)
                    .billing_mode(BillingMode::PayPerRequest)
                    .warm_throughput(warm(100, 5000))
                    .send()
                    .await
                    .unwrap();
                let d = c
                    .describe_table()
                    .table_name("warm-od")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    units(d.table().and_then(|t| t.warm_throughput())),
                    (Some(12_000), Some(5000), Some("ACTIVE".into()))
                );
            },
        )
        .await;
    cluster.shutdown().await;
    cases.finish();
}
