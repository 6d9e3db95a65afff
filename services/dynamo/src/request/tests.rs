//! The parser held to botocore's model: every resource-naming member of
//! `model-members.txt` (`.ci/resource_members.py`), given a table there,
//! is found; one member taken from the parser makes the check report it.

use serde_json::{Map, Value as Json, json};

use super::operation::Api;
use super::*;

const MODEL: &str = include_str!("model-members.txt");
const REGION: &str = "us-east-1";
/// The table (and index) every planted member names.
const PLANTED: &str = "planted";

/// One line of `model-members.txt`.
struct ModelMember<'a> {
    service: &'a str,
    op: &'a str,
    path: &'a str,
    shape: &'a str,
}

fn model() -> Vec<ModelMember<'static>> {
    MODEL
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let [service, op, path, shape] = f.as_slice() else {
                panic!("a line of model-members.txt is `service op path shape`: {l}");
            };
            ModelMember {
                service,
                op,
                path,
                shape,
            }
        })
        .collect()
}

/// What a member of `shape` holds when it names [`PLANTED`]: a name, or
/// an ARN of the caller's own account under the table. `arn` says to give
/// a table's name as its ARN.
fn value(shape: &str, caller: Account, arn: bool) -> Json {
    let table = meridian_core::account::table_arn(REGION, caller, PLANTED);
    json!(match shape {
        "TableArn" if arn => table,
        "TableArn" | "TableName" | "IndexName" => PLANTED.to_string(),
        "BackupArn" => format!("{table}/backup/01700000000000-1a2b3c4d"),
        "ExportArn" => format!("{table}/export/01700000000000-1a2b3c4d"),
        "ImportArn" => format!("{table}/import/01700000000000-1a2b3c4d"),
        "ResourceArnString" => table,
        "StreamArn" => format!("{table}/stream/2026-01-01T00:00:00.000"),
        "PartiQLStatement" => format!("SELECT * FROM \"{PLANTED}\""),
        "ShardIterator" => crate::shard_iterator::sample_iterator(REGION, PLANTED),
        other => panic!("no planted value for shape {other}"),
    })
}

/// A request with `value` at `path` (a model path) and nothing else.
fn plant(path: &str, value: Json) -> Map<String, Json> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let inner = |v: Json| match rest {
        Some(rest) => Json::Object(plant(rest, v)),
        None => v,
    };
    let mut out = Map::new();
    if let Some(name) = head.strip_suffix("{key}") {
        let key = value.as_str().expect("a key is a string").to_string();
        out.insert(name.into(), json!({ key: {} }));
    } else if let Some(name) = head.strip_suffix("[]") {
        out.insert(name.into(), json!([inner(value)]));
    } else {
        out.insert(head.into(), inner(value));
    }
    out
}

type Parser<'a> = dyn Fn(Operation, Map<String, Json>) -> ApiResult<Request> + 'a;

/// The model's members `parse` does not find [`PLANTED`] in, each as
/// `service operation path`. An operation the endpoint does not serve is
/// refused before its request is read, so it names nothing.
fn missed(parse: &Parser<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for m in model().into_iter().filter(|m| m.path != "-") {
        let api = match m.service {
            "dynamodb" => Api::Dynamo,
            _ => Api::Streams,
        };
        let Ok(op) = Operation::of(api, m.op) else {
            continue;
        };
        // A member that takes a table's name takes its ARN too.
        let by_name = m.path.ends_with("TableName") || m.path.ends_with("{key}");
        let forms: &[bool] = match m.shape {
            "TableArn" if by_name => &[false, true],
            "TableArn" => &[true],
            _ => &[false],
        };
        for &arn in forms {
            let body = plant(m.path, value(m.shape, meridian_core::account::DEFAULT, arn));
            let found = parse(op, body).is_ok_and(|r| {
                r.names()
                    .iter()
                    .any(|n| n.table == PLANTED || n.index.as_deref() == Some(PLANTED))
            });
            if !found {
                let by = if arn { " (by ARN)" } else { "" };
                out.push(format!("{} {} {}{by}", m.service, m.op, m.path));
            }
        }
    }
    out
}

fn parser(members: &[Member]) -> impl Fn(Operation, Map<String, Json>) -> ApiResult<Request> + '_ {
    move |op, body| {
        Request::parse_with(
            members,
            REGION,
            meridian_core::account::DEFAULT,
            None,
            op,
            body,
        )
    }
}

/// `body` parsed as a request of `op` by the endpoint's parser.
fn parsed(op: Operation, body: Json) -> ApiResult<Request> {
    parser(MEMBERS)(op, body.as_object().expect("an object").clone())
}

#[test]
fn every_member_the_model_says_names_a_resource_is_found() {
    assert_eq!(missed(&parser(MEMBERS)), Vec::<String>::new());
}

#[test]
fn a_parser_that_forgets_any_one_member_is_caught() {
    for (i, forgotten) in MEMBERS.iter().enumerate() {
        let mut fewer = MEMBERS.to_vec();
        fewer.remove(i);
        let missed = missed(&parser(&fewer));
        let op = forgotten.op.name();
        assert!(
            !missed.is_empty() && missed.iter().all(|m| m.contains(&format!(" {op} "))),
            "forgetting {op} {} went unnoticed or blamed another operation: {missed:?}",
            forgotten.path
        );
    }
}

#[test]
fn every_operation_served_is_one_of_the_model() {
    let model = model();
    for &op in Operation::ALL {
        let known = model.iter().any(|m| m.op == op.name());
        assert!(
            known,
            "{} is not an operation of botocore's model",
            op.name()
        );
    }
}

/// Rewrites nothing: checks `model-members.txt` against the botocore
/// installed, when one is (`pip install boto3`).
#[test]
fn the_model_list_matches_botocore_when_it_is_installed() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/resource_members.py");
    let Ok(out) = std::process::Command::new("python3")
        .args([script, "--check"])
        .output()
    else {
        eprintln!("no python3: model-members.txt not checked against botocore");
        return;
    };
    match out.status.code() {
        Some(0) => {}
        Some(2) => eprintln!("no botocore: model-members.txt not checked against it"),
        _ => panic!("{}", String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn a_table_arn_in_a_name_is_read_as_the_name_and_a_batch_keyed_back_as_given() {
    let caller = meridian_core::account::DEFAULT;
    let arn = meridian_core::account::table_arn(REGION, caller, "t");
    let body = json!({"RequestItems": {arn.clone(): {"Keys": []}, "u": {"Keys": []}}});
    let r = parsed(Operation::BatchGetItem, body).unwrap();
    assert_eq!(r.owned_tables(), ["t", "u"]);
    let items = r.body().get("RequestItems").unwrap().as_object().unwrap();
    assert!(items.contains_key("t") && !items.contains_key(&arn));
    let mut answer = json!({"Responses": {"t": [], "u": []}});
    r.key_as_given(&mut answer);
    assert!(answer["Responses"].get(&arn).is_some() && answer["Responses"].get("u").is_some());
    let twice = json!({"RequestItems": {arn: {}, "t": {}}});
    let e = parsed(Operation::BatchGetItem, twice);
    assert!(e.is_err());
}

#[test]
fn a_query_draws_on_its_index_and_a_statement_on_its_own() {
    let r = parsed(
        Operation::Query,
        json!({"TableName": "t", "IndexName": "g"}),
    )
    .unwrap();
    assert_eq!(
        r.touches().unwrap(),
        [("t".to_string(), Some("g".to_string()), Access::Read)]
    );
    let r = parsed(
        Operation::BatchExecuteStatement,
        json!({"Statements": [
            {"Statement": "SELECT * FROM \"t\".\"g\""},
            {"Statement": "DELETE FROM u WHERE k = 1"},
        ]}),
    )
    .unwrap();
    assert_eq!(
        r.touches().unwrap(),
        [
            ("t".to_string(), Some("g".to_string()), Access::Read),
            ("u".to_string(), None, Access::Write)
        ]
    );
    let control = parser(MEMBERS)(Operation::DescribeTable, Map::new()).unwrap();
    assert!(control.touches().is_none());
}
