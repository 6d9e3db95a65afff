//! Account isolation at the DynamoDB endpoint, case by case from
//! botocore's model: for every operation of DynamoDB and DynamoDB Streams
//! and every member its model gives a resource's shape
//! (services/dynamo/src/request/model-members.txt, written by
//! `.ci/resource_members.py`), a request of account B naming account A's
//! resource there is refused as DynamoDB refuses a table it does not find
//! (or, for a table ARN in a name's place, as access denied), or, where the
//! member cannot reach another account's resource, sees nothing of A's;
//! and the same request of A naming its own is admitted.
//!
//! Each operation's request is [`template`]'s, with every resource member
//! B's own but the one under test. A member the endpoint's parser misses
//! (services/dynamo/src/request/members.rs) lets B's request through to
//! the operation, which answers otherwise, and this test fails.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use meridian_cluster::http;
use meridian_tests::{TestCluster, poll_until};
use serde_json::{Value as Json, json};

const MODEL: &str = include_str!("../../services/dynamo/src/request/model-members.txt");
/// Each operation's request, as [`template`] gives it.
const REQUESTS: &str = include_str!("isolation-requests.json");
const REGION: &str = "us-east-1";
const WAIT: Duration = Duration::from_secs(30);

/// Operations of the model this endpoint does not serve: refused by name,
/// whoever asks and whatever they name (docs/dynamodb-compat.md).
const UNSUPPORTED: [&str; 6] = [
    "DescribeExport",
    "DescribeImport",
    "ExportTableToPointInTime",
    "ImportTable",
    "ListExports",
    "ListImports",
];

/// Operations A's own request is served (HTTP 200) by; the others are
/// admitted and then refused by the operation for what the template asks
/// (a table already there, a change this endpoint does not make...).
const SERVED: [&str; 30] = [
    "BatchExecuteStatement",
    "BatchGetItem",
    "BatchWriteItem",
    "CreateBackup",
    "DeleteItem",
    "DescribeBackup",
    "DescribeContinuousBackups",
    "DescribeEndpoints",
    "DescribeLimits",
    "DescribeTable",
    "DescribeTableReplicaAutoScaling",
    "DescribeTimeToLive",
    "ExecuteStatement",
    "ExecuteTransaction",
    "GetItem",
    "ListBackups",
    "ListTables",
    "ListTagsOfResource",
    "PutItem",
    "Query",
    "Scan",
    "TagResource",
    "TransactGetItems",
    "TransactWriteItems",
    "UntagResource",
    "UpdateItem",
    "DescribeStream",
    "GetRecords",
    "GetShardIterator",
    "ListStreams",
];

/// An account and its resources: a table with an index, an item, a
/// stream and a backup.
struct Account {
    id: &'static str,
    table: String,
    index: String,
    backup: String,
    stream: String,
    shard: String,
    iterator: String,
}

impl Account {
    fn table_arn(&self) -> String {
        format!("arn:aws:dynamodb:{REGION}:{}:table/{}", self.id, self.table)
    }

    /// What a member of `shape` holds when it names this account's own;
    /// `arn` gives a table's name as its ARN.
    fn value(&self, shape: &str, arn: bool) -> String {
        match shape {
            "TableArn" if arn => self.table_arn(),
            "TableArn" | "TableName" => self.table.clone(),
            "IndexName" => self.index.clone(),
            "BackupArn" => self.backup.clone(),
            "StreamArn" => self.stream.clone(),
            "ShardIterator" => self.iterator.clone(),
            "ResourceArnString" => self.table_arn(),
            "PartiQLStatement" => format!("SELECT * FROM \"{}\" WHERE pk = 'k'", self.table),
            "ExportArn" => format!("{}/export/01700000000000-1a2b3c4d", self.table_arn()),
            "ImportArn" => format!("{}/import/01700000000000-1a2b3c4d", self.table_arn()),
            other => panic!("no value for shape {other}"),
        }
    }
}

/// One line of the model list.
#[derive(Clone, Copy)]
struct Member {
    service: &'static str,
    op: &'static str,
    path: &'static str,
    shape: &'static str,
}

fn model() -> Vec<Member> {
    MODEL
        .lines()
        .map(|l| {
            let f: Vec<&'static str> = l.split(' ').collect();
            Member {
                service: f[0],
                op: f[1],
                path: f[2],
                shape: f[3],
            }
        })
        .collect()
}

/// What B must get naming A's resource in `m`.
#[derive(Debug, PartialEq)]
enum Expect {
    /// The refusal of a table the caller's account does not have.
    Refused,
    /// Anything that shows nothing of A's: the member names an index of
    /// the request's own table, where a listing starts, a table the
    /// operation would make (in use, whoever's), a version 2017.11.29
    /// global table (none is one here), or the source a multi-account
    /// replica joins (another account's by design, the join checks its
    /// policy).
    Nothing,
}

fn expect(m: &Member) -> Expect {
    let last = m.path.rsplit('.').next().unwrap_or(m.path);
    let made = last == "TargetTableName"
        || (m.op == "CreateTable" && last == "TableName")
        || m.path == "TableCreationParameters.TableName";
    if m.shape == "IndexName"
        || last.starts_with("ExclusiveStart")
        || last == "GlobalTableName"
        || last == "GlobalTableSourceArn"
        || made
    {
        Expect::Nothing
    } else {
        Expect::Refused
    }
}

/// Whether a table-shaped member is tried by name and by ARN: a member
/// that takes a table's name (DynamoDB also takes its ARN there).
fn forms(m: &Member) -> &'static [bool] {
    let by_name = m.path.ends_with("TableName") || m.path.ends_with("{key}");
    match m.shape {
        "TableArn" if by_name => &[false, true],
        "TableArn" => &[true],
        _ => &[false],
    }
}

/// Each operation's request, every resource member a `$path` placeholder
/// (a value, or a map's key); `$ShardId` is A's stream's shard. The
/// requests are data, one per operation of the model, in
/// `isolation-requests.json`.
fn template(op: &str) -> Json {
    static ALL: LazyLock<serde_json::Map<String, Json>> = LazyLock::new(|| {
        serde_json::from_str(REQUESTS).expect("isolation-requests.json is a JSON object")
    });
    ALL.get(op)
        .cloned()
        .unwrap_or_else(|| panic!("no request template for {op}: a new operation of the model"))
}

/// `template` with each placeholder's value from `values` (by path).
fn fill(template: &Json, values: &BTreeMap<&str, String>) -> Json {
    let put = |s: &str| match s.strip_prefix('$') {
        Some(path) => values
            .get(path)
            .unwrap_or_else(|| panic!("no value for ${path}"))
            .clone(),
        None => s.to_string(),
    };
    match template {
        Json::String(s) => Json::String(put(s)),
        Json::Array(a) => Json::Array(a.iter().map(|v| fill(v, values)).collect()),
        Json::Object(o) => Json::Object(o.iter().map(|(k, v)| (put(k), fill(v, values))).collect()),
        other => other.clone(),
    }
}

/// Every `$placeholder` of a template.
fn placeholders(template: &Json, out: &mut Vec<String>) {
    let take = |s: &str| s.strip_prefix('$').map(str::to_string);
    match template {
        Json::String(s) => out.extend(take(s)),
        Json::Array(a) => a.iter().for_each(|v| placeholders(v, out)),
        Json::Object(o) => {
            for (k, v) in o {
                out.extend(take(k));
                placeholders(v, out);
            }
        }
        _ => {}
    }
}

/// The endpoint, as one account.
struct Endpoint {
    addr: String,
}

/// An answer: status, error type (after `#`, empty for a success), message
/// and the whole body.
struct Answer {
    status: u16,
    kind: String,
    message: String,
    body: String,
}

impl Endpoint {
    async fn call(&self, account: &str, service: &str, op: &str, body: &Json) -> Answer {
        let target = match service {
            "dynamodb" => format!("DynamoDB_20120810.{op}"),
            _ => format!("DynamoDBStreams_20120810.{op}"),
        };
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={account}/20260101/{REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature={}",
            "0".repeat(64)
        );
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target.as_str()),
            ("authorization", auth.as_str()),
        ];
        let r = http::request(
            &http::Target::at(&self.addr, "/"),
            "POST",
            &headers,
            body.to_string().into_bytes(),
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        .expect("an answer within 10 s");
        let text = String::from_utf8_lossy(&r.body).into_owned();
        let json: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
        Answer {
            status: r.status,
            kind: json["__type"]
                .as_str()
                .and_then(|t| t.rsplit('#').next())
                .unwrap_or_default()
                .to_string(),
            message: json["message"].as_str().unwrap_or_default().to_string(),
            body: text,
        }
    }

    /// `op` as `account`, which must succeed.
    async fn ok(&self, account: &str, service: &str, op: &str, body: Json) -> Json {
        let a = self.call(account, service, op, &body).await;
        assert_eq!(a.status, 200, "{op} as {account}: {}", a.body);
        serde_json::from_str(&a.body).unwrap_or(Json::Null)
    }

    /// Account `id`'s table `name` with an index, an item, a stream and a
    /// backup.
    async fn account(&self, id: &'static str, name: &str) -> Account {
        let (table, index) = (format!("{name}_table"), format!("{name}_index"));
        self.ok(id, "dynamodb", "CreateTable", json!({
            "TableName": table,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "gk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "GlobalSecondaryIndexes": [{"IndexName": index, "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"}}],
        }))
        .await;
        poll_until(&format!("{table} ACTIVE"), WAIT, || async {
            let d = self
                .call(
                    id,
                    "dynamodb",
                    "DescribeTable",
                    &json!({"TableName": table}),
                )
                .await;
            d.body.contains("\"TableStatus\":\"ACTIVE\"")
        })
        .await;
        let item =
            json!({"pk": {"S": "k"}, "gk": {"S": "g"}, "secret": {"S": format!("{name}-secret")}});
        self.ok(
            id,
            "dynamodb",
            "PutItem",
            json!({"TableName": table, "Item": item}),
        )
        .await;
        let protect = json!({"TableName": table, "DeletionProtectionEnabled": true});
        self.ok(id, "dynamodb", "UpdateTable", protect).await;
        let backup = self
            .ok(
                id,
                "dynamodb",
                "CreateBackup",
                json!({"TableName": table, "BackupName": "isolation"}),
            )
            .await["BackupDetails"]["BackupArn"]
            .as_str()
            .expect("a backup ARN")
            .to_string();
        let described = self
            .ok(id, "dynamodb", "DescribeTable", json!({"TableName": table}))
            .await;
        let stream = described["Table"]["LatestStreamArn"]
            .as_str()
            .expect("a stream")
            .to_string();
        let shards = self
            .ok(
                id,
                "dynamodbstreams",
                "DescribeStream",
                json!({"StreamArn": stream}),
            )
            .await;
        let shard = shards["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .expect("a shard")
            .to_string();
        let iterator = self
            .ok(
                id,
                "dynamodbstreams",
                "GetShardIterator",
                json!({
                    "StreamArn": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"
                }),
            )
            .await["ShardIterator"]
            .as_str()
            .expect("an iterator")
            .to_string();
        Account {
            id,
            table,
            index,
            backup,
            stream,
            shard,
            iterator,
        }
    }
}

/// The request of `m.op` with A's resource (`arn`: a table by its ARN) at
/// `m` and `mine`'s everywhere else.
fn request(m: &Member, a: &Account, mine: &Account, arn: bool, ops: &[Member]) -> Json {
    let mut values: BTreeMap<&str, String> = ops
        .iter()
        .filter(|o| o.path != "-")
        .map(|o| (o.path, mine.value(o.shape, forms(o)[0])))
        .collect();
    values.insert("ShardId", a.shard.clone());
    if m.path != "-" {
        values.insert(m.path, a.value(m.shape, arn));
    }
    let t = template(m.op);
    fill(&t, &values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_resource_is_found_in_no_member_of_any_operation() {
    let c = TestCluster::start(&[REGION]).await;
    let url = c.dynamo_url(0);
    let e = Endpoint {
        addr: url.trim_start_matches("http://").to_string(),
    };
    let a = e.account("111122223333", "alpha").await;
    let b = e.account("444455556666", "beta").await;
    let model = model();
    let mut failures = Vec::new();
    let mut covered = 0;
    // A's own DeleteBackup runs last: it takes the backup away. Its table
    // has deletion protection, so DeleteTable is admitted and refused.
    let mut last = Vec::new();
    for m in &model {
        let of_op: Vec<Member> = model
            .iter()
            .filter(|o| o.op == m.op && o.service == m.service)
            .copied()
            .collect();
        let mut held = Vec::new();
        placeholders(&template(m.op), &mut held);
        for o in of_op.iter().filter(|o| o.path != "-") {
            assert!(
                held.iter().any(|h| h == o.path),
                "{}'s template has no ${}",
                m.op,
                o.path
            );
        }
        for &arn in forms(m) {
            let case = format!(
                "{} {} {}{}",
                m.service,
                m.op,
                m.path,
                if arn { " (ARN)" } else { "" }
            );
            let of_b = request(m, &a, &b, arn, &of_op);
            let of_a = request(m, &a, &a, arn, &of_op);
            let unsupported = UNSUPPORTED.contains(&m.op);
            if m.path != "-" {
                let got = e.call(b.id, m.service, m.op, &of_b).await;
                if let Err(why) = check_b(m, &a, &b, arn, unsupported, &of_b, &got) {
                    failures.push(format!("{case}: B {why}: {}", got.body));
                }
                covered += 1;
            }
            if m.op == "DeleteBackup" {
                last.push((case, m.service, m.op, of_a, unsupported));
                continue;
            }
            let got = e.call(a.id, m.service, m.op, &of_a).await;
            if let Err(why) = check_a(m.op, &a, unsupported, &got) {
                failures.push(format!("{case}: A {why}: {}", got.body));
            }
        }
    }
    for (case, service, op, of_a, unsupported) in last {
        let got = e.call(a.id, service, op, &of_a).await;
        if let Err(why) = check_a(op, &a, unsupported, &got) {
            failures.push(format!("{case}: A {why}: {}", got.body));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {covered} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(covered >= model.iter().filter(|m| m.path != "-").count());
}

/// B's answer to a request naming A's resource at `m`.
fn check_b(
    m: &Member,
    a: &Account,
    b: &Account,
    arn: bool,
    unsupported: bool,
    sent: &Json,
    got: &Answer,
) -> Result<(), String> {
    if unsupported {
        return match got.kind.as_str() {
            "UnknownOperationException" => Ok(()),
            _ => Err("is not refused as an unknown operation".into()),
        };
    }
    let sent = sent.to_string();
    // A's names B did not give, A's item, A's account: none in the answer.
    let a_arn = a.table_arn();
    let leaks = [
        a.table.as_str(),
        a.index.as_str(),
        "alpha-secret",
        a.id,
        a_arn.as_str(),
    ];
    if let Some(leak) = leaks
        .iter()
        .find(|l| got.body.contains(*l) && !sent.contains(*l))
    {
        return Err(format!("sees {leak}"));
    }
    if expect(m) == Expect::Nothing {
        return Ok(());
    }
    let denied = format!(
        "User: arn:aws:iam::{}:root is not authorized to perform: dynamodb:{op} on resource: {a_arn} because no resource-based policy allows the dynamodb:{op} action",
        b.id,
        op = m.op
    );
    let by_name = m.path.ends_with("TableName") || m.path.ends_with("{key}");
    let refusal = if arn && by_name {
        ("AccessDeniedException", denied)
    } else {
        (
            "ResourceNotFoundException",
            format!("Requested resource not found: Table: {} not found", a.table),
        )
    };
    if got.status == 400 && got.kind == refusal.0 && got.message == refusal.1 {
        Ok(())
    } else {
        Err(format!("is not refused with {} {:?}", refusal.0, refusal.1))
    }
}

/// A's answer to its own request.
fn check_a(op: &str, a: &Account, unsupported: bool, got: &Answer) -> Result<(), String> {
    if unsupported {
        return match got.kind.as_str() {
            "UnknownOperationException" => Ok(()),
            _ => Err("is not refused as an unknown operation".into()),
        };
    }
    let refused = got.kind == "AccessDeniedException"
        || (got.kind == "ResourceNotFoundException"
            && got.message
                == format!("Requested resource not found: Table: {} not found", a.table));
    if refused {
        return Err("is refused its own".into());
    }
    if SERVED.contains(&op) && got.status != 200 {
        return Err("is not served".into());
    }
    Ok(())
}
