//! What DynamoDB keeps per replica and never replicates, driven by the
//! real AWS SDK for Rust: resource-based policies on a table and its
//! stream (revisions, `ExpectedRevisionId`, the 20 KB limit, JSON checks)
//! and contributor insights of a table and its global indexes. Each region
//! keeps its own: a write that replicated is the proof that the setting
//! would have too, had it been replicated.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, ContributorInsightsAction, ContributorInsightsStatus,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use meridian_tests::{TestCluster, poll_until};

use crate::sdk;
use sdk::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

const POLICY_1: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "dynamodb:GetItem", "Resource": "*"}]}"#;
const POLICY_2: &str = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*", "Action": "dynamodb:DeleteItem", "Resource": "*"}}"#;

/// A table in every region, keyed by `id`, with a global index on `v` and
/// its stream on.
async fn table(c: &Client, name: &str) {
    create_table_request(c, name, ("id", ScalarAttributeType::S), None)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("v")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("byv")
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("v")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
}

/// The table's ARN and its stream's, as `c`'s region describes them.
async fn arns(c: &Client, name: &str) -> (String, String) {
    let t = c
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    (
        t.table_arn().unwrap().to_string(),
        t.latest_stream_arn().unwrap().to_string(),
    )
}

/// `arn`'s policy in `c`'s region, with its revision; `None` when it has
/// none (PolicyNotFoundException, which names the ARN).
async fn policy(c: &Client, arn: &str) -> Option<(String, String)> {
    match c.get_resource_policy().resource_arn(arn).send().await {
        Ok(out) => Some((out.policy.unwrap(), out.revision_id.unwrap())),
        Err(e) => {
            let msg = expect_code(Err::<(), _>(e), "PolicyNotFoundException", "no policy");
            assert_eq!(
                msg,
                format!("Resource-based policy not found for the provided ResourceArn: {arn}")
            );
            None
        }
    }
}

async fn put_policy(c: &Client, arn: &str, doc: &str, expected: Option<&str>) -> String {
    c.put_resource_policy()
        .resource_arn(arn)
        .policy(doc)
        .set_expected_revision_id(expected.map(str::to_string))
        .send()
        .await
        .expect("put resource policy")
        .revision_id
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_policies_are_kept_per_replica_with_revisions() {
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    table(&east, "tbl").await;
    cluster.wait_table_everywhere("tbl").await;
    let (arn, stream) = arns(&east, "tbl").await;
    assert_eq!(policy(&east, &arn).await, None);

    let rev1 = put_policy(&east, &arn, POLICY_1, None).await;
    assert_eq!(
        policy(&east, &arn).await,
        Some((POLICY_1.into(), rev1.clone()))
    );
    // The same document again keeps its revision, as DynamoDB's does.
    assert_eq!(put_policy(&east, &arn, POLICY_1, None).await, rev1);

    // ExpectedRevisionId: another revision, or none expected.
    let wrong = east
        .put_resource_policy()
        .resource_arn(&arn)
        .policy(POLICY_2)
        .expected_revision_id("12345")
        .send()
        .await;
    let msg = expect_code(wrong, "PolicyNotFoundException", "another revision");
    assert_eq!(
        msg,
        format!(
            "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id 12345, but the policy associated to target table tbl has revision id {rev1}."
        )
    );
    let none = east
        .put_resource_policy()
        .resource_arn(&arn)
        .policy(POLICY_2)
        .expected_revision_id("NO_POLICY")
        .send()
        .await;
    let msg = expect_code(none, "PolicyNotFoundException", "NO_POLICY with a policy");
    assert!(
        msg.contains("expecting none to be present for table tbl"),
        "{msg}"
    );
    assert_eq!(
        policy(&east, &arn).await,
        Some((POLICY_1.into(), rev1.clone()))
    );
    let rev2 = put_policy(&east, &arn, POLICY_2, Some(&rev1)).await;
    assert_ne!(rev2, rev1);
    assert_eq!(
        policy(&east, &arn).await,
        Some((POLICY_2.into(), rev2.clone()))
    );

    // The stream has a policy of its own.
    assert_eq!(policy(&east, &stream).await, None);
    let srev = put_policy(&east, &stream, POLICY_1, Some("NO_POLICY")).await;
    assert_eq!(policy(&east, &stream).await, Some((POLICY_1.into(), srev)));
    assert_eq!(
        policy(&east, &arn).await,
        Some((POLICY_2.into(), rev2.clone()))
    );

    // Never replicated: a write made after the policy reaches eu-west-1,
    // whose replica still has no policy.
    put(&east, "tbl", item([("id", s("after")), ("v", s("x"))])).await;
    poll_until(
        "the write in eu-west-1",
        Duration::from_secs(20),
        || async {
            get(&west, "tbl", item([("id", s("after"))]))
                .await
                .is_some()
        },
    )
    .await;
    let (west_arn, _) = arns(&west, "tbl").await;
    assert_eq!(policy(&west, &west_arn).await, None);
    // An ARN of another region names no resource of this endpoint.
    expect_code(
        west.get_resource_policy().resource_arn(&arn).send().await,
        "ResourceNotFoundException",
        "us-east-1's ARN at eu-west-1",
    );

    // DeleteResourcePolicy, with and without the right revision.
    let msg = expect_code(
        east.delete_resource_policy()
            .resource_arn(&arn)
            .expected_revision_id(&rev1)
            .send()
            .await,
        "PolicyNotFoundException",
        "delete an old revision",
    );
    assert!(msg.contains(&format!("has revision id {rev2}")), "{msg}");
    let deleted = east
        .delete_resource_policy()
        .resource_arn(&arn)
        .expected_revision_id(&rev2)
        .send()
        .await
        .expect("delete the policy");
    assert_eq!(deleted.revision_id(), Some(rev2.as_str()));
    assert_eq!(policy(&east, &arn).await, None);
    expect_code(
        east.delete_resource_policy()
            .resource_arn(&arn)
            .send()
            .await,
        "PolicyNotFoundException",
        "delete with no policy",
    );

    // A table deleted and created again starts without a policy.
    put_policy(&east, &arn, POLICY_1, None).await;
    east.delete_table().table_name("tbl").send().await.unwrap();
    table(&east, "tbl").await;
    let (arn, _) = arns(&east, "tbl").await;
    assert_eq!(policy(&east, &arn).await, None);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policies_and_resources_are_refused_by_name() {
    let cluster = TestCluster::start(&REGIONS[..1]).await;
    let c = client(cluster.dynamo_url(0));
    table(&c, "tbl").await;
    let (arn, stream) = arns(&c, "tbl").await;
    let put = |arn: &str, doc: String| c.put_resource_policy().resource_arn(arn).policy(doc).send();
    // 20 KB, whitespace included: exactly the limit passes, a byte more
    // does not.
    let sized = |n: usize| format!("{POLICY_1}{}", " ".repeat(n - POLICY_1.len()));
    put(&arn, sized(20 * 1024)).await.expect("a 20 KB policy");
    expect_validation(
        put(&arn, sized(20 * 1024 + 1)).await,
        "Policy size 20481 bytes exceeds the limit of 20480 bytes",
        "a policy past 20 KB",
    );
    expect_validation(
        put(&arn, "{\"Statement\": [".into()).await,
        "Policy is not valid JSON",
        "a policy that is not JSON",
    );
    expect_validation(
        put(&arn, "[1, 2]".into()).await,
        "Policy must be a JSON object",
        "a policy that is no object",
    );
    expect_validation(
        put(&arn, "{\"Version\": \"2012-10-17\"}".into()).await,
        "Policy must have a Statement",
        "a policy without a statement",
    );
    let backup = format!("{arn}/backup/01234567890123-abcdef01");
    expect_validation(
        put(&backup, POLICY_1.into()).await,
        &format!("Provided Arn is not a DynamoDB resource arn: {backup}"),
        "a backup ARN",
    );
    let missing = arn.replace("table/tbl", "table/nope");
    let msg = expect_code(
        put(&missing, POLICY_1.into()).await,
        "ResourceNotFoundException",
        "a table that does not exist",
    );
    assert_eq!(msg, "Requested resource not found: Table: nope not found");
    let old_stream = stream.replace("/stream/", "/stream/1999-");
    expect_code(
        put(&old_stream, POLICY_1.into()).await,
        "ResourceNotFoundException",
        "a stream the table never had",
    );

    // CreateTable's ResourcePolicy: checked as PutResourcePolicy's before
    // anything is made, then attached with a first revision.
    let create = |name: &'static str, doc: &str| {
        create_table_request(&c, name, ("id", ScalarAttributeType::S), None)
            .resource_policy(doc)
            .send()
    };
    expect_validation(
        create("bad", "[1, 2]").await,
        "Policy must be a JSON object",
        "CreateTable with a policy that is no object",
    );
    expect_code(
        c.describe_table().table_name("bad").send().await,
        "ResourceNotFoundException",
        "no table made by the refused CreateTable",
    );
    create("withpolicy", POLICY_1)
        .await
        .expect("CreateTable with a policy");
    let arn = c
        .describe_table()
        .table_name("withpolicy")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn()
        .unwrap()
        .to_string();
    let (doc, revision) = policy(&c, &arn).await.expect("the policy CreateTable gave");
    assert_eq!(doc, POLICY_1);
    assert!(revision.parse::<u64>().is_ok(), "{revision}");
    cluster.shutdown().await;
}

async fn insights(c: &Client, table: &str, index: Option<&str>) -> ContributorInsightsStatus {
    let out = c
        .describe_contributor_insights()
        .table_name(table)
        .set_index_name(index.map(str::to_string))
        .send()
        .await
        .expect("describe contributor insights");
    assert_eq!(out.table_name(), Some(table));
    assert_eq!(out.index_name(), index);
    let status = out.contributor_insights_status().unwrap().clone();
    if status == ContributorInsightsStatus::Enabled {
        assert!(out.last_update_date_time().is_some(), "{out:?}");
        // No CloudWatch behind it: no rule is made.
        assert!(out.contributor_insights_rule_list().is_empty(), "{out:?}");
    }
    status
}

async fn set_insights(
    c: &Client,
    table: &str,
    index: Option<&str>,
    action: ContributorInsightsAction,
) -> ContributorInsightsStatus {
    c.update_contributor_insights()
        .table_name(table)
        .set_index_name(index.map(str::to_string))
        .contributor_insights_action(action)
        .send()
        .await
        .expect("update contributor insights")
        .contributor_insights_status
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contributor_insights_are_kept_per_replica_for_a_table_and_its_indexes() {
    use ContributorInsightsAction::{Disable, Enable};
    use ContributorInsightsStatus::{Disabled, Disabling, Enabled, Enabling};
    let cluster = TestCluster::start_global(&REGIONS).await;
    let (east, west) = (client(cluster.dynamo_url(0)), client(cluster.dynamo_url(1)));
    table(&east, "aaa").await;
    table(&east, "bbb").await;
    cluster.wait_table_everywhere("bbb").await;
    assert_eq!(insights(&east, "aaa", None).await, Disabled);
    assert_eq!(set_insights(&east, "aaa", None, Enable).await, Enabling);
    assert_eq!(insights(&east, "aaa", None).await, Enabled);
    assert_eq!(insights(&east, "aaa", Some("byv")).await, Disabled);
    assert_eq!(
        set_insights(&east, "aaa", Some("byv"), Enable).await,
        Enabling
    );
    assert_eq!(set_insights(&east, "bbb", None, Enable).await, Enabling);
    assert_eq!(insights(&east, "aaa", Some("byv")).await, Enabled);

    // Listed by table, then index; one page at a time.
    let list = |c: &Client, table: Option<&str>, max: Option<i32>, token: Option<String>| {
        let (c, table) = (c.clone(), table.map(str::to_string));
        async move {
            let out = c
                .list_contributor_insights()
                .set_table_name(table)
                .set_max_results(max)
                .set_next_token(token)
                .send()
                .await
                .expect("list contributor insights");
            let got: Vec<(String, Option<String>, ContributorInsightsStatus)> = out
                .contributor_insights_summaries()
                .iter()
                .map(|s| {
                    (
                        s.table_name().unwrap().to_string(),
                        s.index_name().map(str::to_string),
                        s.contributor_insights_status().unwrap().clone(),
                    )
                })
                .collect();
            (got, out.next_token().map(str::to_string))
        }
    };
    let row = |t: &str, i: Option<&str>, s: ContributorInsightsStatus| {
        (t.to_string(), i.map(str::to_string), s)
    };
    let all = vec![
        row("aaa", None, Enabled),
        row("aaa", Some("byv"), Enabled),
        row("bbb", None, Enabled),
    ];
    assert_eq!(list(&east, None, None, None).await, (all.clone(), None));
    assert_eq!(
        list(&east, Some("bbb"), None, None).await,
        (all[2..].to_vec(), None)
    );
    let mut paged = Vec::new();
    let mut token = None;
    for _ in 0..4 {
        let (page, next) = list(&east, None, Some(1), token).await;
        assert!(page.len() <= 1, "{page:?}");
        paged.extend(page);
        token = next;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(paged, all);

    // Each replica keeps its own: eu-west-1's are off, even once a later
    // write has replicated.
    put(&east, "aaa", item([("id", s("after")), ("v", s("x"))])).await;
    poll_until(
        "the write in eu-west-1",
        Duration::from_secs(20),
        || async {
            get(&west, "aaa", item([("id", s("after"))]))
                .await
                .is_some()
        },
    )
    .await;
    assert_eq!(insights(&west, "aaa", None).await, Disabled);
    assert_eq!(list(&west, None, None, None).await, (vec![], None));

    assert_eq!(set_insights(&east, "aaa", None, Disable).await, Disabling);
    assert_eq!(insights(&east, "aaa", None).await, Disabled);
    assert_eq!(
        list(&east, Some("aaa"), None, None).await.0[0],
        row("aaa", None, Disabled)
    );

    expect_code(
        east.describe_contributor_insights()
            .table_name("aaa")
            .index_name("nope")
            .send()
            .await,
        "ResourceNotFoundException",
        "an index the table lacks",
    );
    expect_code(
        east.describe_contributor_insights()
            .table_name("nope")
            .send()
            .await,
        "ResourceNotFoundException",
        "a table that does not exist",
    );
    expect_validation(
        east.update_contributor_insights()
            .table_name("aaa")
            .contributor_insights_action(ContributorInsightsAction::from("PAUSE"))
            .send()
            .await,
        "Member must satisfy enum value set: [ENABLE, DISABLE]",
        "an unknown action",
    );
    cluster.shutdown().await;
}
