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
//! Each answer is also counted as CloudWatch counts it (`UserErrors`,
//! `SystemErrors`, `ThrottledRequests`: [`Answer`]) for a region's status
//! and the alarms that read it.

use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use meridian_region::metrics::Metrics;
use meridian_region::metrics::answers::Answer;
use tokio::time::Instant;

use crate::error::ErrorType;
use crate::request::Operation;

/// The operation label of a request's `X-Amz-Target`.
pub fn operation(target: Option<&str>) -> &'static str {
    Operation::of_target(target.unwrap_or_default()).map_or("unknown", Operation::name)
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
    let names: Vec<&'static str> = Operation::ALL.iter().map(|o| o.name()).collect();
    metrics.register_dynamodb_operations(&names);
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
    let error_type = answer.extensions().get::<ErrorType>().map(|t| t.0);
    metrics
        .dynamodb_answers
        .count(Answer::of(answer.status().as_u16(), error_type));
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
}
