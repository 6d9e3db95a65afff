//! Kinesis Data Streams destinations (`EnableKinesisStreamingDestination`
//! and the rest). There is no Kinesis service behind Meridian to stream a
//! table's changes to, so a change is refused with a `ValidationException`
//! that says so, after the checks DynamoDB makes first (the parameters, the
//! table); a description lists no destination. A table's changes are read
//! through DynamoDB Streams instead (docs/streams.md).

use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult};
use crate::front::Front;
use crate::request::Request;

/// `DescribeKinesisStreamingDestination`: an existing table, with no
/// destination.
pub async fn describe(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    ops.describe(table).await?;
    Ok(json!({"TableName": table, "KinesisDataStreamDestinations": []}))
}

/// `Enable`, `Disable` and `UpdateKinesisStreamingDestination` (`op`).
pub async fn refuse(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let op = req.op.name();
    let table = r.table_name()?;
    let stream = r.str("StreamArn")?;
    ops.describe(table).await?;
    Err(ApiError::validation(format!(
        "{op} is not available: this endpoint has no Kinesis Data Streams service to stream table {table} to {stream}; read its changes through DynamoDB Streams"
    )))
}
