//! Passing DynamoDB requests through, unchanged, to a region's DynamoDB
//! endpoint: the one mechanism of the endpoints `meridian up` serves in
//! front of the regions, the failover endpoint ([`crate::failover`]) and
//! the edge ([`crate::edge`]). Each decides where a request goes
//! ([`Router::route`]); this passes it on with its `Host`, signature and
//! body as the client sent them, so the region's own checks (signature,
//! account, throttling) still apply, and brings the answer back unchanged.
//! A request that cannot reach the region (refused, reset, no answer in
//! time) is answered HTTP 503 `ServiceUnavailable` in DynamoDB's error
//! shape, which the SDKs retry.
//!
//! Each client connection keeps one connection to the region it last
//! forwarded to, as an SDK keeps its connections alive; a request for
//! another region opens one there.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::http::{Conn, Target};

/// Largest request body taken: DynamoDB's request limit is 16 MB.
const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Largest answer read from a region (a Scan or BatchGetItem page is at
/// most 16 MB).
const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// How long a region may take to answer one request before it counts as
/// failed: longer than the region's own limit (60 s,
/// `meridian_dynamo::REQUEST_TIMEOUT`), so a slow request gets the
/// region's own answer, as at its URL, and never a 503 that an SDK would
/// retry while the region may still apply the first try.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(65);

/// How long a client may take to send a request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers of one hop only, which a proxy does not pass on. `expect` was
/// answered here (hyper sends `100 Continue` as the body is read), and a
/// body read whole has no trailers left to announce.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// An answer made here rather than by a region.
pub type Answer = Response<Full<Bytes>>;

/// The region a request goes to.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Its place among the endpoint's regions.
    pub index: usize,
    pub name: String,
    /// `host:port` of its DynamoDB endpoint.
    pub dynamo: String,
}

/// What an endpoint does with a request: pass it to a region, or answer
/// it itself (a refusal, its own metrics).
pub enum Decision {
    Forward(Upstream),
    Answer(Answer),
}

/// An endpoint in front of the regions: where each request goes, and what
/// it counts.
pub trait Router: Send + Sync + 'static {
    /// How errors and logs name the endpoint ("the edge").
    fn what(&self) -> &'static str;
    /// Where a request with this head goes.
    fn route(&self, head: &Parts) -> Decision;
    /// A forwarded request was answered by the region (`ok`) or not,
    /// `took` after it was sent on.
    fn forwarded(&self, to: &Upstream, ok: bool, took: std::time::Duration);
}

/// Serves `router`'s endpoint on `listener` until `stop` is set.
pub async fn serve<R: Router>(
    router: Arc<R>,
    listener: tokio::net::TcpListener,
    mut stop: meridian_region::worker::Stop,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.raised() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "{} could not accept a connection", router.what());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        connections.spawn(async move {
            let upstream = Arc::new(tokio::sync::Mutex::new(None));
            let service = hyper::service::service_fn(move |req| {
                let (router, upstream) = (router.clone(), upstream.clone());
                async move {
                    let mut upstream = upstream.lock().await;
                    Ok::<_, Infallible>(forward(&*router, &mut upstream, req).await)
                }
            });
            // A client that opens a connection and never finishes a
            // request's head does not hold it for ever.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

/// Reads one request, asks `router` where it goes, and forwards it there,
/// on `upstream` when that is a live connection to the same region.
async fn forward<R: Router>(
    router: &R,
    upstream: &mut Option<(usize, Conn)>,
    req: Request<Incoming>,
) -> Answer {
    let (mut head, body) = req.into_parts();
    // Read whole before any answer, so a refused request leaves the
    // connection ready for the next one.
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    let to = match router.route(&head) {
        Decision::Forward(to) => to,
        Decision::Answer(answer) => return answer,
    };
    for h in HOP_BY_HOP {
        head.headers.remove(h);
    }
    if upstream
        .as_ref()
        .is_some_and(|(at, c)| *at != to.index || c.is_closed())
    {
        *upstream = None;
    }
    let target = Target::at(&to.dynamo, "/");
    let sent = std::time::Instant::now();
    let result = async {
        if upstream.is_none() {
            *upstream = Some((to.index, Conn::open(&target, FORWARD_TIMEOUT).await?));
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
            router.forwarded(&to, true, sent.elapsed());
            for h in HOP_BY_HOP {
                head.headers.remove(h);
            }
            Response::from_parts(head, Full::new(body))
        }
        Err(e) => {
            *upstream = None;
            router.forwarded(&to, false, sent.elapsed());
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!(
                    "{} could not reach {} ({}): {e}",
                    router.what(),
                    to.name,
                    to.dynamo
                ),
            )
        }
    }
}

/// A request's body, read whole up to DynamoDB's request limit; or the
/// answer to a body past it (the region's own answer to such a body) or
/// one that could not be read.
async fn read_body(body: Incoming) -> Result<Bytes, Answer> {
    match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        // Past the limit, the region's own answer to such a body.
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let mut res = Response::new(Full::new(Bytes::from_static(
                b"Failed to buffer the request body: length limit exceeded",
            )));
            *res.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            Err(res)
        }
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            format!("could not read the request body: {e}"),
        )),
    }
}

/// An answer in DynamoDB's error shape: `__type` and `message`.
pub fn error(status: StatusCode, kind: &str, message: String) -> Answer {
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
