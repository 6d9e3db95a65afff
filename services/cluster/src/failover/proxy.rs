//! The failover endpoint's HTTP side: every request passes unchanged (its
//! `Host`, signature and body as the client sent them) to the active
//! region's DynamoDB endpoint, and its answer comes back unchanged. A
//! request that cannot reach the region (refused, reset, no answer in
//! time) is answered HTTP 503 `ServiceUnavailable` in DynamoDB's error
//! shape, which the SDKs retry, and counted as failed.
//!
//! Each client connection keeps one connection to the region it last
//! forwarded to, as an SDK keeps its connections alive; after a move the
//! next request opens one to the new region.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::endpoint::Endpoint;
use crate::http::{Conn, Target};

/// Largest request body taken: DynamoDB's request limit is 16 MB.
const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Largest answer read from a region (a Scan or BatchGetItem page is at
/// most 16 MB).
const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// How long a region may take to answer one request before it counts as
/// failed.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers of one hop only, which a proxy does not pass on.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
];

/// Serves the endpoint on `listener` until `stop` is set.
pub async fn serve(
    endpoint: Arc<Endpoint>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "the failover endpoint could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let endpoint = endpoint.clone();
        connections.spawn(async move {
            let upstream = Arc::new(tokio::sync::Mutex::new(None));
            let service = hyper::service::service_fn(move |req| {
                let (endpoint, upstream) = (endpoint.clone(), upstream.clone());
                async move {
                    let mut upstream = upstream.lock().await;
                    Ok::<_, Infallible>(forward(&endpoint, &mut upstream, req).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

/// Forwards one request to the active region, on `upstream` when it is a
/// live connection to that region.
async fn forward(
    endpoint: &Endpoint,
    upstream: &mut Option<(usize, Conn)>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (mut head, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                format!("could not read the request body: {e}"),
            );
        }
    };
    for h in HOP_BY_HOP {
        head.headers.remove(h);
    }
    let (i, region) = endpoint.active();
    if upstream
        .as_ref()
        .is_some_and(|(at, c)| *at != i || c.is_closed())
    {
        *upstream = None;
    }
    let target = Target::at(&region.dynamo, "/");
    let result = async {
        if upstream.is_none() {
            *upstream = Some((i, Conn::open(&target, FORWARD_TIMEOUT).await?));
        }
        let (_, conn) = upstream.as_mut().expect("opened above");
        conn.forward(
            Request::from_parts(head, Full::new(body)),
            MAX_RESPONSE_BYTES,
            FORWARD_TIMEOUT,
        )
        .await
    }
    .await;
    match result {
        Ok((mut head, body)) => {
            endpoint.count(true);
            for h in HOP_BY_HOP {
                head.headers.remove(h);
            }
            Response::from_parts(head, Full::new(body))
        }
        Err(e) => {
            *upstream = None;
            endpoint.count(false);
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!(
                    "the failover endpoint could not reach {} ({}): {e}",
                    region.name, region.dynamo
                ),
            )
        }
    }
}

/// An answer in DynamoDB's error shape: `__type` and `message`.
fn error(status: StatusCode, kind: &str, message: String) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    res
}
