//! A DynamoDB-compatible endpoint for one region.
//!
//! It speaks AWS JSON 1.0 (`POST /`, `X-Amz-Target: DynamoDB_20120810.<Op>`)
//! so the AWS CLI, boto3 and the AWS SDKs work with only the endpoint URL
//! changed. It is a front, not an engine: every request is translated into
//! the region's operations ([`meridian_region::ops::RegionHandle`]), the same ones the
//! gRPC API calls, and writes replicate like any other.
//!
//! Requests signed with SigV4 under any credentials are accepted, as
//! DynamoDB Local does, unless [`FrontConfig::keys`] names access keys: then
//! every request's signature is verified against them.

mod accounts;
mod arn;
mod auth;
mod autoscaling;
mod backups;
mod capacity;
mod description;
mod disassociate;
mod encoding;
mod error;
mod front;
mod global;
mod global_legacy;
mod indexes;
mod insights;
mod items;
mod keys;
mod kinesis;
mod legacy;
pub mod metered;
mod multi_account;
mod partiql;
mod policies;
mod reads;
mod replica;
mod req;
mod request;
mod settings;
mod shard_iterator;
mod streams;
mod tables;
mod tags;
mod throttle;
mod txn;
mod warm;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options, post};
use serde_json::Value as Json;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use auth::verify as verify_signature;
pub use error::{ApiError, Kind};
pub(crate) use front::fingerprint;
pub use front::{Front, FrontConfig, MAX_IN_FLIGHT, REQUEST_TIMEOUT};
use request::{Operation, Request};

/// Largest request body accepted, as sent and once decoded when it comes
/// compressed: a 25-item batch at 400 KB per item fits.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Largest TransactWriteItems or TransactGetItems request, as DynamoDB's
/// (its "transaction payload"): 4 MB, whatever the items it touches weigh.
pub const MAX_TRANSACTION_BYTES: usize = 4 << 20;
/// Largest request line (method, target, version) and largest total of the
/// request's headers, as DynamoDB's: 16 KB each.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

impl Front {
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .route("/", post(handle))
            .route("/", get(health))
            .route("/", options(preflight))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn(cors))
            .layer(axum::middleware::from_fn(limit_head))
            .layer(axum::middleware::from_fn({
                // Only what the check needs, cloned per request: the
                // endpoint's own state is cloned again for the handler.
                let budget = self.budget.clone();
                move |req, next| limit_load(budget.clone(), req, next)
            }))
            .layer(axum::middleware::from_fn(server_header))
            .layer(axum::middleware::from_fn({
                let metrics = self.ops.metrics();
                metered::register(&metrics);
                move |req, next| metered::meter(metrics.clone(), req, next)
            }))
            .with_state(self)
    }
}

/// Serves the endpoint until shutdown.
pub async fn serve(front: Front, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let result = axum::serve(listener, front.router())
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "DynamoDB endpoint failed");
    }
}

/// Refuses a request whose line or headers pass `MAX_HEAD_BYTES` with a
/// plain HTTP 400, as DynamoDB does, before any handler (or the 404 of an
/// unknown path) sees it. Each header counts as `name: value` and its line
/// end, the request line as sent.
async fn limit_head(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let line =
        req.method().as_str().len() + req.uri().to_string().len() + " HTTP/1.1\r\n".len() + 1;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let refuse = |what: &str, size: usize| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            format!("Bad Request: the {what} is {size} bytes; the limit is {MAX_HEAD_BYTES}\n"),
        )
            .into_response()
    };
    if line > MAX_HEAD_BYTES {
        return refuse("request line", line);
    }
    if headers > MAX_HEAD_BYTES {
        return refuse("total of the request headers", headers);
    }
    next.run(req).await
}

/// Sheds load and bounds time: a request past [`FrontConfig::max_in_flight`]
/// is answered `ThrottlingException` at once, before its body is read, and
/// one that takes longer than [`REQUEST_TIMEOUT`] (a client that never
/// finishes its body, an operation that does not end) is answered
/// `InternalServerError`, as DynamoDB answers a request it could not
/// finish: a write in it may or may not have taken effect. Both count in
/// `meridian_refused_requests_total{endpoint="dynamodb", reason}`.
async fn limit_load(
    budget: meridian_region::limits::Budget,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use meridian_region::limits::Refused;
    let refused = match budget.admit() {
        Ok(admitted) => match admitted.bound(next.run(req)).await {
            Ok(answer) => return answer,
            Err(r) => r,
        },
        Err(r) => r,
    };
    match refused {
        Refused::Overloaded { limit } => ApiError::new(
            Kind::Throttling,
            format!(
                "Rate of requests exceeds the allowed throughput: {limit} requests are already being worked on at this endpoint, the limit"
            ),
        ),
        Refused::Timeout { after } => ApiError::new(
            Kind::InternalServerError,
            format!(
                "The request did not finish within {} s; a write in it may or may not have taken effect",
                after.as_secs()
            ),
        ),
    }
    .into_response()
}

/// `healthy: <host>`, the address the client used, as DynamoDB answers
/// (`healthy: dynamodb.<region>.amazonaws.com` there);
/// `dynamodb.<region>.amazonaws.com` only when a request has no `Host`.
async fn health(State(front): State<Front>, headers: HeaderMap) -> impl IntoResponse {
    format!("healthy: {}\n", host_or_default(&front, host_of(&headers)))
}

/// The request's `Host`, or the region's DynamoDB host name without one.
fn host_or_default(front: &Front, host: Option<&str>) -> String {
    host.map_or_else(
        || format!("dynamodb.{}.amazonaws.com", front.ops.region()),
        str::to_string,
    )
}

/// The `Host` a request names, if it names one.
fn host_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
}

/// A CORS preflight (`OPTIONS /`): an empty 200; [`cors`] adds the headers.
async fn preflight() -> impl IntoResponse {
    axum::http::StatusCode::OK
}

/// Headers a browser script may read from an answer, as DynamoDB exposes them.
const CORS_EXPOSE: &str =
    "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";

/// DynamoDB names itself `Server: Server` on every answer, refusals
/// included; clients and proxies may look for it.
async fn server_header(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        axum::http::header::SERVER,
        axum::http::HeaderValue::from_static("Server"),
    );
    res
}

/// CORS, as DynamoDB answers it: a request with an `Origin` is allowed from
/// any origin (`Access-Control-Allow-Origin: *`, with the headers a script
/// may read), and a preflight (`OPTIONS`) is granted the method and headers
/// it asks for, for 48 hours. A request without `Origin` gets no CORS header.
async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, Method, header};
    if !req.headers().contains_key(header::ORIGIN) {
        return next.run(req).await;
    }
    let preflight = (req.method() == Method::OPTIONS).then(|| {
        let asked = |name| req.headers().get(name).cloned();
        (
            asked(header::ACCESS_CONTROL_REQUEST_METHOD),
            asked(header::ACCESS_CONTROL_REQUEST_HEADERS),
        )
    });
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(CORS_EXPOSE),
    );
    if let Some((methods, headers)) = preflight {
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("172800"),
        );
        if let Some(m) = methods {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        if let Some(v) = headers {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    res
}

/// A success. `Null` is an answer without a body (Content-Length 0), as
/// DynamoDB gives TagResource and UntagResource.
fn ok(body: Json) -> Response {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/x-amz-json-1.0",
        )],
        text,
    )
        .into_response()
}

async fn handle(State(front): State<Front>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = match dispatch(&front, &headers, &body).await {
        Ok(json) => ok(json),
        Err(e) => e.into_response(),
    };
    // Only the first Accept-Encoding header counts, as in DynamoDB.
    let packing = headers
        .get(axum::http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .and_then(encoding::accepted);
    match packing {
        Some(packing) => pack(answer, packing).await,
        None => answer,
    }
}

/// `answer` with its body in `packing`, when the body is larger than
/// [`encoding::COMPRESS_ABOVE`]; as it is otherwise.
async fn pack(answer: Response, packing: encoding::Packing) -> Response {
    use axum::http::{HeaderValue, header};
    let (mut parts, body) = answer.into_parts();
    // The body was built in memory just above; reading it back cannot fail.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if bytes.len() <= encoding::COMPRESS_ABOVE {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let packed = packing.pack(&bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(packing.name()),
    );
    Response::from_parts(parts, axum::body::Body::from(packed))
}

async fn dispatch(front: &Front, headers: &HeaderMap, body: &[u8]) -> Result<Json, ApiError> {
    if !front.config.keys.is_empty()
        && let Err(e) = auth::check(&front.config.keys, "/", headers, body)
    {
        tracing::debug!(reason = e.reason(), error = %e, "DynamoDB request refused");
        front.ops.count_unauthenticated("dynamodb", e.reason());
        return Err(auth::api_error(e));
    }
    if !front.config.keys.is_empty()
        && let Err(e) = auth::check_region(front.ops.region(), headers)
    {
        front
            .ops
            .count_unauthenticated("dynamodb", "invalid_signature");
        return Err(e);
    }
    // The signature covers the body as sent; the operation reads it decoded.
    let decoded = encoding::decode(headers, body, MAX_BODY_BYTES)?;
    let body: &[u8] = &decoded;
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::new(Kind::UnknownOperation, "Missing X-Amz-Target header"))?;
    let (api, name) = request::target(target)
        .ok_or_else(|| ApiError::new(Kind::UnknownOperation, format!("Unknown target {target}")))?;
    // DynamoDB names neither the fault nor its position.
    let json: Json =
        serde_json::from_slice(body).map_err(|_| ApiError::new(Kind::Serialization, ""))?;
    let Json::Object(map) = json else {
        return Err(ApiError::new(
            Kind::Serialization,
            "Request body must be a JSON object",
        ));
    };
    let op = Operation::of(api, name)?;
    if op.transaction() && body.len() > MAX_TRANSACTION_BYTES {
        return Err(ApiError::validation(format!(
            "Transaction payload size cannot exceed 4 MB: the request is {} bytes, the limit is {MAX_TRANSACTION_BYTES}",
            body.len()
        )));
    }
    let ops = &front.ops;
    tracing::debug!(op = op.name(), "dynamodb request");
    let host = host_of(headers).map(str::to_string);
    let mut req = Request::parse(ops.region(), accounts::caller(headers), host, op, map)?;
    front.owners.admit(ops, &req).await?;
    let metered = throttle::begin(ops, &mut req).await?;
    let mut answer = match operation(front, &req).await {
        Ok(answer) => answer,
        Err(e) => {
            if let (Some(m), Some(units)) = (metered, e.consumed) {
                throttle::charge_refused(ops, m, units).await?;
            }
            return Err(e);
        }
    };
    if let Some(m) = metered {
        answer = throttle::finish(ops, m, answer).await?;
    }
    req.key_as_given(&mut answer);
    front.owners.filter_listing(ops, &req, &mut answer).await?;
    Ok(answer)
}

/// One DynamoDB operation on its request, tables named by name.
async fn operation(front: &Front, req: &Request) -> Result<Json, ApiError> {
    use Operation::*;
    match req.op {
        CreateTable => tables::create(front, req).await,
        DescribeTable => tables::describe(front, req).await,
        ListTables => tables::list(front, req).await,
        DeleteTable => tables::delete(front, req).await,
        UpdateTable => tables::update(front, req).await,
        UpdateTableReplicaAutoScaling => autoscaling::update(front, req).await,
        DescribeTableReplicaAutoScaling => autoscaling::describe(front, req).await,
        TagResource => tags::tag(front, req).await,
        UntagResource => tags::untag(front, req).await,
        ListTagsOfResource => tags::list(front, req).await,
        UpdateTimeToLive => tables::update_ttl(front, req).await,
        DescribeTimeToLive => tables::describe_ttl(front, req).await,
        DescribeKinesisStreamingDestination => kinesis::describe(front, req).await,
        EnableKinesisStreamingDestination
        | DisableKinesisStreamingDestination
        | UpdateKinesisStreamingDestination => kinesis::refuse(front, req).await,
        DescribeContinuousBackups => backups::describe_continuous(front, req).await,
        UpdateContinuousBackups => backups::update_continuous(front, req).await,
        RestoreTableToPointInTime => backups::restore_to_time(front, req).await,
        CreateBackup => backups::create(front, req).await,
        DescribeBackup => backups::describe(front, req).await,
        ListBackups => backups::list(front, req).await,
        DeleteBackup => backups::delete(front, req).await,
        RestoreTableFromBackup => backups::restore(front, req).await,
        CreateGlobalTable => global_legacy::create(front, req).await,
        DescribeGlobalTable => global_legacy::describe(front, req).await,
        DescribeGlobalTableSettings => global_legacy::describe(front, req).await,
        ListGlobalTables => global_legacy::list(front, req).await,
        UpdateGlobalTable => global_legacy::update(front, req).await,
        UpdateGlobalTableSettings => global_legacy::update_settings(front, req).await,
        PutResourcePolicy => policies::put(front, req).await,
        GetResourcePolicy => policies::get(front, req).await,
        DeleteResourcePolicy => policies::delete(front, req).await,
        UpdateContributorInsights => insights::update(front, req).await,
        DescribeContributorInsights => insights::describe(front, req).await,
        ListContributorInsights => insights::list(front, req).await,
        PutItem => items::put(front, req).await,
        GetItem => items::get(front, req).await,
        DeleteItem => items::delete(front, req).await,
        UpdateItem => items::update(front, req).await,
        Query => reads::query(front, req).await,
        Scan => reads::scan(front, req).await,
        BatchGetItem => reads::batch_get(front, req).await,
        BatchWriteItem => txn::batch_write(front, req).await,
        TransactWriteItems => txn::transact_write(front, req).await,
        TransactGetItems => reads::transact_get(front, req).await,
        ExecuteStatement => partiql::execute_statement(front, req).await,
        BatchExecuteStatement => partiql::batch_execute_statement(front, req).await,
        ExecuteTransaction => partiql::execute_transaction(front, req).await,
        DescribeEndpoints => describe_endpoints(front, req).await,
        DescribeLimits => describe_limits(front, req).await,
        ListStreams => streams::list_streams(front, req).await,
        DescribeStream => streams::describe_stream(front, req).await,
        GetShardIterator => streams::get_shard_iterator(front, req).await,
        GetRecords => streams::get_records(front, req).await,
    }
}

/// DescribeEndpoints: the address the client reached this endpoint by, so
/// an SDK that discovers endpoints keeps talking to this region, never to
/// AWS.
async fn describe_endpoints(front: &Front, req: &Request) -> Result<Json, ApiError> {
    Ok(serde_json::json!({
        "Endpoints": [{
            "Address": host_or_default(front, req.host.as_deref()),
            "CachePeriodInMinutes": 1440
        }]
    }))
}

/// DescribeLimits: DynamoDB's default quotas; provisioned units are
/// enforced per table and index (`crate::throttle`), the account's total
/// is not.
async fn describe_limits(_front: &Front, _req: &Request) -> Result<Json, ApiError> {
    Ok(serde_json::json!({
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }))
}
