//! The names this endpoint gives what it serves, as DynamoDB forms them:
//! the ARNs of tables, their indexes, streams and backups (all under one
//! account id, since there are no accounts here), a table's id and a
//! stream's label. Every handler that names or recognises a resource takes
//! the rule from here, so an ARN one operation answers is one another
//! operation accepts.

use meridian_core::account::Account;
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, ApiResult, Kind};

/// The account id in ARNs: there is no account here.
pub const ACCOUNT: &str = "000000000000";

/// A table's ARN in `region`, of the default account: what names a
/// replica of another account is `authorize::replica_arn`.
pub fn table_arn(region: &str, name: &str) -> String {
    meridian_core::account::table_arn(region, meridian_core::account::DEFAULT, name)
}

/// An index's ARN: its table's ARN (`table_arn`), then `/index/<name>`.
pub fn index_arn(table_arn: &str, name: &str) -> String {
    format!("{table_arn}/index/{name}")
}

/// The ARN of the stream of `table` enabled at `since` (µs): the table's
/// ARN, then `/stream/<label>`.
pub fn stream_arn(region: &str, table: &str, since: u64) -> String {
    format!(
        "{}/stream/{}",
        table_arn(region, table),
        stream_label(since)
    )
}

/// A backup's ARN, as DynamoDB forms it: the table's ARN, then
/// `/backup/<id>`.
pub fn backup_arn(region: &str, table: &str, id: &str) -> String {
    format!("{}/backup/{id}", table_arn(region, table))
}

/// The backup id in `arn`, if it is a backup ARN of this region; anything
/// else is a backup this region does not hold.
pub fn backup_id<'a>(region: &str, arn: &'a str) -> Option<&'a str> {
    let prefix = table_arn(region, "");
    let (_, id) = arn.strip_prefix(&prefix)?.split_once("/backup/")?;
    Some(id)
}

/// A table's id, in DynamoDB's UUID form: derived from the catalog
/// version that created this incarnation, so every region gives the same
/// table the same id and a recreated table a new one.
pub fn table_id(incarnation: &meridian_core::Version) -> String {
    uuid_of(&incarnation.to_bytes())
}

/// The ARN of the AWS managed key `alias/aws/dynamodb` in `region`, which
/// DynamoDB describes for a table encrypted with KMS and no key named: a
/// key id of its own per region and account, here derived from the
/// region's name so that it stays the same across restarts.
pub fn managed_key_arn(region: &str) -> String {
    let id = uuid_of(format!("alias/aws/dynamodb in {region}").as_bytes());
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

/// A version-4-shaped UUID derived from `bytes`.
fn uuid_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(bytes);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    // A version-4-shaped UUID (RFC 9562 layout), as DynamoDB's ids are.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A stream label as DynamoDB writes one: the UTC time the stream was
/// enabled, to the millisecond (`2015-05-11T21:21:33.291`).
pub fn stream_label(micros: u64) -> String {
    meridian_core::utc::format_millis(micros)
}

/// The table a `TableName` member names, which DynamoDB also takes as the
/// table's ARN: the name itself, or the table of an ARN of this region
/// and the caller's account. An ARN of another region is DynamoDB's
/// invalid region; of another account, access denied, as for a table no
/// resource-based policy shares. Anything else is left for the name checks
/// to refuse.
pub fn table_name_of<'a>(
    region: &str,
    caller: Account,
    op: &str,
    given: &'a str,
) -> ApiResult<&'a str> {
    let parts: Vec<&str> = given.splitn(6, ':').collect();
    let ["arn", "aws", "dynamodb", in_region, account, resource] = parts.as_slice() else {
        return Ok(given);
    };
    let Some(name) = resource.strip_prefix("table/").filter(|n| !n.contains('/')) else {
        return Ok(given);
    };
    if *in_region != region {
        return Err(ApiError::constraint(format!(
            "Invalid AWS region in '{given}'"
        )));
    }
    if Account::parse(account) != Some(caller) {
        return Err(ApiError::new(
            Kind::AccessDenied,
            format!(
                "User: arn:aws:iam::{caller}:root is not authorized to perform: dynamodb:{op} on resource: {given} because no resource-based policy allows the dynamodb:{op} action"
            ),
        ));
    }
    Ok(name)
}

/// Every table a request names by ARN, named by its name instead (the
/// request's `TableName`, each action's of a transaction, the keys of a
/// batch's `RequestItems`), so every operation reads names alone. Returns
/// the batch keys it renamed, name and ARN as given, for the answer to be
/// keyed as the request was.
pub fn resolve_tables(
    region: &str,
    caller: Account,
    op: &str,
    request: &mut Map<String, Json>,
) -> ApiResult<Vec<(String, String)>> {
    let resolve = |member: &mut Json| -> ApiResult<()> {
        if let Json::String(given) = member {
            let name = table_name_of(region, caller, op, given)?;
            if name != given {
                *member = Json::String(name.to_string());
            }
        }
        Ok(())
    };
    if let Some(t) = request.get_mut("TableName") {
        resolve(t)?;
    }
    if let Some(Json::Array(actions)) = request.get_mut("TransactItems") {
        for action in actions.iter_mut().filter_map(Json::as_object_mut) {
            for body in action.values_mut().filter_map(Json::as_object_mut) {
                if let Some(t) = body.get_mut("TableName") {
                    resolve(t)?;
                }
            }
        }
    }
    let mut renamed = Vec::new();
    if let Some(Json::Object(items)) = request.get_mut("RequestItems") {
        for given in items.keys().cloned().collect::<Vec<_>>() {
            let name = table_name_of(region, caller, op, &given)?;
            if name != given {
                let name = name.to_string();
                if items.contains_key(&name) {
                    // The table twice, by name and by ARN: DynamoDB's
                    // answer for a table named twice.
                    return Err(ApiError::validation(
                        "Provided list of item keys contains duplicates",
                    ));
                }
                let v = items.remove(&given).expect("a key of the map");
                items.insert(name.clone(), v);
                renamed.push((name, given));
            }
        }
    }
    Ok(renamed)
}

/// A batch's answer keyed by the tables as its request named them:
/// `renamed` is what [`resolve_tables`] returned.
pub fn key_as_given(answer: &mut Json, renamed: &[(String, String)]) {
    for member in [
        "Responses",
        "UnprocessedKeys",
        "UnprocessedItems",
        "ItemCollectionMetrics",
    ] {
        if let Some(Json::Object(m)) = answer.get_mut(member) {
            for (name, given) in renamed {
                if let Some(v) = m.remove(name) {
                    m.insert(given.clone(), v);
                }
            }
        }
    }
}
