//! Query and Scan checks as recorded against DynamoDB: conditions on a
//! multi-attribute index key (legacy `KeyConditions` as well as the
//! expression), the keys of `ExpressionAttributeNames` and
//! `ExpressionAttributeValues` checked before anything else, unused names
//! before the key condition's shape, and PartiQL's words for an index the
//! table lacks.

use super::*;
use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType};

fn key_element(name: &str, kt: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kt)
        .build()
        .unwrap()
}

fn def(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

fn cond(op: ComparisonOperator, v: AttributeValue) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .attribute_value_list(v)
        .build()
        .unwrap()
}

const SKIPPED: &str = "RANGE key attributes gsi_sk must have equality conditions specified in the query because a condition is present on key attribute gsi_sk2";
const MULTIPLE: &str =
    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition";
const UNUSED_COUNT: &str =
    "Value provided in ExpressionAttributeNames unused in expressions: keys: {#count}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_checks_follow_dynamodb() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    // One HASH and two RANGE attributes in the index's key.
    create_table_request(&c, "multi", ("pk", ScalarAttributeType::S), None)
        .attribute_definitions(def("gsi_pk", ScalarAttributeType::S))
        .attribute_definitions(def("gsi_sk", ScalarAttributeType::S))
        .attribute_definitions(def("gsi_sk2", ScalarAttributeType::N))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("test_gsi")
                .key_schema(key_element("gsi_pk", KeyType::Hash))
                .key_schema(key_element("gsi_sk", KeyType::Range))
                .key_schema(key_element("gsi_sk2", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a table with a multi-attribute index");
    create_table(&c, "plain", ("pk", ScalarAttributeType::S), None).await;
    for (pk, gpk, gsk, gsk2) in [
        ("i1", "a", "x", 1),
        ("i2", "a", "x", 2),
        ("i3", "a", "x", 3),
        ("i4", "a", "y", 5),
        ("i5", "b", "x", 9),
    ] {
        put(
            &c,
            "multi",
            item([
                ("pk", s(pk)),
                ("gsi_pk", s(gpk)),
                ("gsi_sk", s(gsk)),
                ("gsi_sk2", n(gsk2)),
            ]),
        )
        .await;
    }
    let mut cases = Cases::new();
    let pks = |items: &[Item]| -> Vec<String> {
        items.iter().map(|i| str_of(i, "pk").to_string()).collect()
    };

    cases
        .run(
            "KeyConditions on every attribute of the index's key",
            async {
                let out = c
                    .query()
                    .table_name("multi")
                    .index_name("test_gsi")
                    .key_conditions("gsi_pk", cond(ComparisonOperator::Eq, s("a")))
                    .key_conditions("gsi_sk", cond(ComparisonOperator::Eq, s("x")))
                    .key_conditions("gsi_sk2", cond(ComparisonOperator::Gt, n(1)))
                    .send()
                    .await
                    .expect("three KeyConditions on a three-attribute key");
                assert_eq!(out.count(), 2);
                assert_eq!(pks(out.items()), ["i2", "i3"]);
            },
        )
        .await;
    cases
        .run("the same by KeyConditionExpression", async {
            let out = c
                .query()
                .table_name("multi")
                .index_name("test_gsi")
                .key_condition_expression("gsi_pk = :pk AND gsi_sk = :sk AND gsi_sk2 > :sk2")
                .expression_attribute_values(":pk", s("a"))
                .expression_attribute_values(":sk", s("x"))
                .expression_attribute_values(":sk2", n(1))
                .send()
                .await
                .expect("three conditions on a three-attribute key");
            assert_eq!(pks(out.items()), ["i2", "i3"]);
        })
        .await;

    let legacy_query = |name: &str| {
        c.query()
            .table_name(name)
            .key_conditions("pk", cond(ComparisonOperator::Eq, s("i1")))
    };
    let refused: Vec<Refusal> = vec![
        (
            "KeyConditionExpression skipping a RANGE attribute",
            ask(c
                .query()
                .table_name("multi")
                .index_name("test_gsi")
                .key_condition_expression("gsi_pk = :pk AND gsi_sk2 > :sk2")
                .expression_attribute_values(":pk", s("a"))
                .expression_attribute_values(":sk2", n(1))
                .send()),
            Says::Is(SKIPPED),
        ),
        (
            "KeyConditions skipping a RANGE attribute",
            ask(c
                .query()
                .table_name("multi")
                .index_name("test_gsi")
                .key_conditions("gsi_pk", cond(ComparisonOperator::Eq, s("a")))
                .key_conditions("gsi_sk2", cond(ComparisonOperator::Gt, n(1)))
                .send()),
            Says::Is(SKIPPED),
        ),
        (
            "a RANGE attribute before the last by other than equality",
            ask(c
                .query()
                .table_name("multi")
                .index_name("test_gsi")
                .key_condition_expression("gsi_pk = :pk AND gsi_sk > :sk AND gsi_sk2 = :sk2")
                .expression_attribute_values(":pk", s("a"))
                .expression_attribute_values(":sk", s("x"))
                .expression_attribute_values(":sk2", n(1))
                .send()),
            Says::Is(SKIPPED),
        ),
        (
            "three KeyConditions on a table's key of one attribute",
            ask(legacy_query("plain")
                .key_conditions("a", cond(ComparisonOperator::Eq, s("x")))
                .key_conditions("b", cond(ComparisonOperator::Eq, s("y")))
                .send()),
            Says::Is("Conditions can be of length 1 or 2 only"),
        ),
        (
            "Scan: a value key without ':' before the unused values",
            ask(c
                .scan()
                .table_name("plain")
                .filter_expression("attr = loc")
                .expression_attribute_values("loc", s("sth"))
                .send()),
            Says::Is(r#"ExpressionAttributeValues contains invalid key: Syntax error; key: "loc""#),
        ),
        (
            "Query: a value key without ':' before the key condition",
            ask(c
                .query()
                .table_name("plain")
                .key_condition_expression("attr = loc")
                .expression_attribute_values("loc", s("sth"))
                .send()),
            Says::Is(r#"ExpressionAttributeValues contains invalid key: Syntax error; key: "loc""#),
        ),
        (
            "Scan: a name key without '#'",
            ask(c
                .scan()
                .table_name("plain")
                .projection_expression("pk")
                .expression_attribute_names("a", "a")
                .send()),
            Says::Is(r#"ExpressionAttributeNames contains invalid key: Syntax error; key: "a""#),
        ),
        (
            "Query: an unused name before two attribute names in one condition",
            ask(c
                .query()
                .table_name("plain")
                .key_condition_expression("(#0 = x) AND (begins_with(#1, a))")
                .expression_attribute_names("#0", "pk")
                .expression_attribute_names("#1", "sk")
                .expression_attribute_names("#count", "count")
                .send()),
            Says::Is(UNUSED_COUNT),
        ),
        (
            "Query: two attribute names in one condition",
            ask(c
                .query()
                .table_name("plain")
                .key_condition_expression("#part_key=some_value")
                .expression_attribute_names("#part_key", "pk")
                .send()),
            Says::Is(MULTIPLE),
        ),
        (
            "Query: begins_with of two attribute names",
            ask(c
                .query()
                .table_name("plain")
                .key_condition_expression("pk = :p AND begins_with(a, b)")
                .expression_attribute_values(":p", s("i1"))
                .send()),
            Says::Is(MULTIPLE),
        ),
        (
            "PartiQL: an index the table lacks, not named",
            ask(c
                .execute_statement()
                .statement(r#"SELECT * FROM "plain"."test_gsi""#)
                .send()),
            Says::Is("The table does not have the specified index"),
        ),
        (
            "Query: an index the table lacks, named",
            ask(c
                .query()
                .table_name("plain")
                .index_name("test_gsi")
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s("i1"))
                .send()),
            Says::Is("The table does not have the specified index: test_gsi"),
        ),
    ];
    cases.refused("ValidationException", refused).await;
    cluster.shutdown().await;
    cases.finish();
}
