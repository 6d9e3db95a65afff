//! The names this endpoint gives what it serves, as DynamoDB forms them:
//! the ARNs of tables, their indexes, streams and backups (all under one
//! account id, since there are no accounts here), a table's id and a
//! stream's label. Every handler that names or recognises a resource takes
//! the rule from here, so an ARN one operation answers is one another
//! operation accepts.

/// The account id in ARNs: there is no account here.
pub const ACCOUNT: &str = "000000000000";

/// A table's ARN in `region`, as DescribeTable reports it.
pub fn table_arn(region: &str, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}")
}

/// A global table's ARN (global tables version 2017.11.29), as DynamoDB
/// forms it: no region, since it names the table in every region.
pub fn global_table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb::{ACCOUNT}:global-table/{name}")
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
    use sha2::Digest;
    let h = sha2::Sha256::digest(incarnation.to_bytes());
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
