//! Counts and times every DynamoDB API request by operation and outcome
//! (`meridian_dynamodb_requests_total{operation, outcome}`,
//! `meridian_dynamodb_request_duration_seconds{operation}`), as the outermost
//! layer of the endpoint, so requests refused for load, size or signature
//! count too.
//!
//! The operation is the `X-Amz-Target` name when it is one this endpoint
//! serves, else `unknown`: a client sending made-up names cannot grow the
//! set of series. The outcome is `ok`, the DynamoDB error type of the
//! answer (which [`crate::ApiError`] leaves in the response's extensions),
//! or `http_4xx` / `http_5xx` for the few answers that are plain HTTP (a
//! request line or headers past their limit, a body past its limit).

use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use meridian_region::metrics::Metrics;
use tokio::time::Instant;

use crate::error::ErrorType;

/// Every operation `dispatch` answers under `DynamoDB_20120810.`.
pub const DYNAMODB_OPERATIONS: &[&str] = &[
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "DeleteTable",
    "UpdateTable",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "DescribeKinesisStreamingDestination",
    "EnableKinesisStreamingDestination",
    "DisableKinesisStreamingDestination",
    "UpdateKinesisStreamingDestination",
    "DescribeContinuousBackups",
    "UpdateContinuousBackups",
    "RestoreTableToPointInTime",
    "CreateBackup",
    "DescribeBackup",
    "ListBackups",
    "DeleteBackup",
    "RestoreTableFromBackup",
    "PutItem",
    "GetItem",
    "DeleteItem",
    "UpdateItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "DescribeEndpoints",
    "DescribeLimits",
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
    "UpdateContributorInsights",
    "DescribeContributorInsights",
    "ListContributorInsights",
    "CreateGlobalTable",
    "DescribeGlobalTable",
    "ListGlobalTables",
    "UpdateGlobalTable",
    "DescribeGlobalTableSettings",
    "UpdateGlobalTableSettings",
];

/// Every operation `streams::dispatch` answers under
/// `DynamoDBStreams_20120810.`.
pub const STREAMS_OPERATIONS: &[&str] = &[
    "ListStreams",
    "DescribeStream",
    "GetShardIterator",
    "GetRecords",
];

/// The operation label of a request's `X-Amz-Target`.
pub fn operation(target: Option<&str>) -> &'static str {
    let known = |list: &[&'static str], op: &str| list.iter().copied().find(|&o| o == op);
    let target = target.unwrap_or_default();
    let found = match target.strip_prefix("DynamoDB_20120810.") {
        Some(op) => known(DYNAMODB_OPERATIONS, op),
        None => target
            .strip_prefix(crate::streams::TARGET_PREFIX)
            .and_then(|op| known(STREAMS_OPERATIONS, op)),
    };
    found.unwrap_or("unknown")
}

/// The outcome label of an answer.
pub fn outcome(answer: &Response) -> &'static str {
    match answer.extensions().get::<ErrorType>() {
        Some(ErrorType(name)) => name,
        None if answer.status().is_success() => "ok",
        None if answer.status().is_server_error() => "http_5xx",
        None => "http_4xx",
    }
}

/// Makes every operation's series exist from the start.
pub fn register(metrics: &Metrics) {
    metrics.register_dynamodb_operations(DYNAMODB_OPERATIONS);
    metrics.register_dynamodb_operations(STREAMS_OPERATIONS);
}

/// The middleware: API calls are `POST`s; the health check (`GET /`) and
/// CORS preflights (`OPTIONS`) are not counted.
pub async fn meter(
    metrics: Arc<Metrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let op = operation(
        req.headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok()),
    );
    let started = Instant::now();
    let answer = next.run(req).await;
    metrics.observe_dynamodb(op, outcome(&answer), started.elapsed().as_secs_f64());
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn targets_map_to_served_operations_or_unknown() {
        assert_eq!(operation(Some("DynamoDB_20120810.PutItem")), "PutItem");
        assert_eq!(
            operation(Some("DynamoDBStreams_20120810.GetRecords")),
            "GetRecords"
        );
        for t in [
            "DynamoDB_20120810.GetRecords",
            "DynamoDBStreams_20120810.PutItem",
            "DynamoDB_20120810.Made-Up",
            "PutItem",
            "",
        ] {
            assert_eq!(operation(Some(t)), "unknown", "{t}");
        }
        assert_eq!(operation(None), "unknown");
    }

    #[test]
    fn answers_map_to_ok_their_error_type_or_the_http_class() {
        use crate::{ApiError, Kind};
        let failed = ApiError::condition_failed(None, false).into_response();
        assert_eq!(outcome(&failed), "ConditionalCheckFailedException");
        let internal = ApiError::new(Kind::InternalServerError, "x").into_response();
        assert_eq!(outcome(&internal), "InternalServerError");
        assert_eq!(outcome(&"{}".into_response()), "ok");
        let plain = (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "too big").into_response();
        assert_eq!(outcome(&plain), "http_4xx");
        let plain = (axum::http::StatusCode::BAD_GATEWAY, "").into_response();
        assert_eq!(outcome(&plain), "http_5xx");
    }

    /// The quoted names of a `match op {` block's arms, as written in the
    /// source (`"Name" =>` and `| "Name"`), not the strings in its bodies.
    fn arms(source: &str, after: &str) -> Vec<String> {
        let from = source.find(after).expect("the dispatch function");
        let block = &source[from..];
        let block = &block[block.find("match op {").expect("its match")..];
        let block = &block[..block.find("other =>").expect("its fallback arm")];
        block
            .lines()
            .filter_map(|l| {
                let l = l.trim().trim_start_matches("| ");
                let name = l.strip_prefix('"')?;
                let (name, rest) = name.split_once('"')?;
                (rest.is_empty() || rest.starts_with(" =>")).then(|| name.to_string())
            })
            .collect()
    }

    /// The lists are the dispatchers' arms exactly: an operation added to
    /// the endpoint and not here would count as `unknown`.
    #[test]
    fn the_lists_are_what_the_dispatchers_answer() {
        let mut dispatched = arms(include_str!("lib.rs"), "async fn dispatch(");
        let mut listed: Vec<String> = DYNAMODB_OPERATIONS.iter().map(|s| s.to_string()).collect();
        dispatched.sort();
        listed.sort();
        assert_eq!(dispatched, listed);
        let mut dispatched = arms(include_str!("streams.rs"), "pub async fn dispatch(");
        let mut listed: Vec<String> = STREAMS_OPERATIONS.iter().map(|s| s.to_string()).collect();
        dispatched.sort();
        listed.sort();
        assert_eq!(dispatched, listed);
    }
}
