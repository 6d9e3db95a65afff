//! The names this endpoint gives what it serves, as DynamoDB forms them:
//! the ARNs of tables, their indexes, streams and backups (all under one
//! account id, since there are no accounts here), a table's id and a
//! stream's label. Every handler that names or recognises a resource takes
//! the rule from here, so an ARN one operation answers is one another
//! operation accepts.

use crate::error::{ApiError, ApiResult, Kind};
use meridian_core::account::Account;

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

/// The table an ARN is of: a table's, or of what is under it (an index,
/// a stream, a backup, an export, an import); `None` for an ARN of
/// anything else. Region and account are the caller's checks to make.
pub fn table_of(arn: &str) -> Option<&str> {
    let rest = arn.splitn(6, ':').nth(5)?.strip_prefix("table/")?;
    rest.split('/').next()
}
