//! Counts and times every call on a region's gRPC servers, by service,
//! method and status code (`meridian_grpc_requests_total`,
//! `meridian_grpc_request_duration_seconds`): a tower layer outside every
//! other, so calls refused for load or a signature count too.
//!
//! A call's status is in its response headers when it failed before any
//! message (a "trailers-only" answer), else in the trailers after the
//! last message: the layer then watches the body and records the call when
//! the trailers pass, so a stream is timed over its whole life. A body
//! dropped before its trailers (the client went away, the server stopped)
//! records `CANCELLED`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use tokio::time::Instant;
use tonic::codegen::http;

use super::Metrics;

/// The label for a path no service routes: the set of series stays
/// bounded whatever paths clients send.
const UNKNOWN: &str = "unknown";

/// The layer, applied to each of the region's gRPC servers.
#[derive(Clone)]
pub struct GrpcMetrics {
    metrics: Arc<Metrics>,
}

impl GrpcMetrics {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        GrpcMetrics { metrics }
    }
}

impl<S> tower::Layer<S> for GrpcMetrics {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// `/package.Service/Method` as one of the protos' methods, or
/// (`unknown`, `unknown`).
pub fn method_of(path: &str) -> (&'static str, &'static str) {
    let known = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .and_then(|(service, method)| {
            meridian_proto::methods::METHODS
                .iter()
                .find(|(s, m)| *s == service && *m == method)
        });
    match known {
        Some(&(service, method)) => (service, method),
        None => (UNKNOWN, UNKNOWN),
    }
}

/// The name of a `grpc-status` value, as gRPC spells its codes.
pub fn code_name(status: &[u8]) -> &'static str {
    let code = std::str::from_utf8(status)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .map(tonic::Code::from_i32);
    match code {
        Some(tonic::Code::Ok) => "OK",
        Some(tonic::Code::Cancelled) => "CANCELLED",
        Some(tonic::Code::InvalidArgument) => "INVALID_ARGUMENT",
        Some(tonic::Code::DeadlineExceeded) => "DEADLINE_EXCEEDED",
        Some(tonic::Code::NotFound) => "NOT_FOUND",
        Some(tonic::Code::AlreadyExists) => "ALREADY_EXISTS",
        Some(tonic::Code::PermissionDenied) => "PERMISSION_DENIED",
        Some(tonic::Code::ResourceExhausted) => "RESOURCE_EXHAUSTED",
        Some(tonic::Code::FailedPrecondition) => "FAILED_PRECONDITION",
        Some(tonic::Code::Aborted) => "ABORTED",
        Some(tonic::Code::OutOfRange) => "OUT_OF_RANGE",
        Some(tonic::Code::Unimplemented) => "UNIMPLEMENTED",
        Some(tonic::Code::Internal) => "INTERNAL",
        Some(tonic::Code::Unavailable) => "UNAVAILABLE",
        Some(tonic::Code::DataLoss) => "DATA_LOSS",
        Some(tonic::Code::Unauthenticated) => "UNAUTHENTICATED",
        // Unknown, and any value gRPC does not define.
        Some(tonic::Code::Unknown) | None => "UNKNOWN",
    }
}

/// One call in flight: recorded once, at its status or when dropped.
struct Call {
    metrics: Arc<Metrics>,
    service: &'static str,
    method: &'static str,
    started: Instant,
    recorded: bool,
}

impl Call {
    fn record(&mut self, code: &'static str) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        self.metrics
            .observe_grpc(self.service, self.method, code, secs);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record("CANCELLED");
    }
}

impl<S, B> tower::Service<http::Request<B>> for Metered<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    // The limits layer inside answers with a boxed future: polled in place
    // here, with no allocation of this layer's own.
    S::Future: Unpin,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method) = method_of(req.uri().path());
        let call = Call {
            metrics: self.metrics.clone(),
            service,
            method,
            started: Instant::now(),
            recorded: false,
        };
        MeteredFuture {
            answer: self.inner.call(req),
            call: Some(call),
        }
    }
}

/// A call's answer on its way: the status is recorded from its headers,
/// or its body is watched for the trailers.
pub struct MeteredFuture<F> {
    answer: F,
    call: Option<Call>,
}

impl<F, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<http::Response<tonic::body::Body>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let answer = std::task::ready!(Pin::new(&mut self.answer).poll(cx));
        let Some(mut call) = self.call.take() else {
            // Polled again after it finished: the answer was given already.
            return Poll::Pending;
        };
        let response = match answer {
            Ok(r) => r,
            Err(e) => {
                call.record("UNKNOWN");
                return Poll::Ready(Err(e));
            }
        };
        if let Some(status) = response.headers().get("grpc-status") {
            call.record(code_name(status.as_bytes()));
            return Poll::Ready(Ok(response));
        }
        Poll::Ready(Ok(response.map(|body| {
            tonic::body::Body::new(body.map_frame(move |frame| {
                if let Some(status) = frame.trailers_ref().and_then(|t| t.get("grpc-status")) {
                    call.record(code_name(status.as_bytes()));
                }
                frame
            }))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MethodCodeLabel;
    use tower::{Layer, Service, ServiceExt};

    type Req = http::Request<()>;
    type Resp = http::Response<tonic::body::Body>;

    fn count(m: &Metrics, service: &'static str, method: &'static str, code: &'static str) -> u64 {
        m.grpc_requests
            .get_or_create(&MethodCodeLabel {
                service,
                method,
                code,
            })
            .get()
    }

    fn req(path: &str) -> Req {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    #[test]
    fn paths_map_to_the_protos_methods_or_unknown() {
        assert_eq!(
            method_of("/meridian.v1.Meridian/PutItem"),
            ("meridian.v1.Meridian", "PutItem")
        );
        assert_eq!(
            method_of("/meridian.v1.Replication/Ship"),
            ("meridian.v1.Replication", "Ship")
        );
        for path in [
            "/meridian.v1.Meridian/Nope",
            "/x/y",
            "/",
            "",
            "/meridian.v1.Meridian",
        ] {
            assert_eq!(method_of(path), (UNKNOWN, UNKNOWN), "{path}");
        }
        assert_eq!(code_name(b"0"), "OK");
        assert_eq!(code_name(b"5"), "NOT_FOUND");
        assert_eq!(code_name(b"16"), "UNAUTHENTICATED");
        assert_eq!(code_name(b"99"), "UNKNOWN");
        assert_eq!(code_name(b"x"), "UNKNOWN");
    }

    /// A status in the headers is recorded at once; one in the trailers
    /// when the body reaches them; a body dropped first counts as
    /// cancelled. Each call once.
    #[tokio::test]
    async fn each_call_counts_once_under_its_status() {
        let metrics = Arc::new(Metrics::new("us-east-1"));
        let mut svc = GrpcMetrics::new(metrics.clone()).layer(tower::service_fn(|r: Req| {
            Box::pin(async move {
                let answer: Resp = match r.uri().path() {
                    "/meridian.v1.Meridian/GetItem" => {
                        tonic::Status::not_found("no table").into_http()
                    }
                    _ => {
                        // A unary success: a message, then trailers saying OK.
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let body =
                            http_body_util::Full::new(tonic::codegen::Bytes::from_static(b"msg"))
                                .with_trailers(async { Some(Ok(trailers)) });
                        http::Response::new(tonic::body::Body::new(body))
                    }
                };
                Ok::<_, std::convert::Infallible>(answer)
            })
        }));
        let a = svc
            .ready()
            .await
            .unwrap()
            .call(req("/meridian.v1.Meridian/GetItem"))
            .await
            .unwrap();
        drop(a);
        assert_eq!(
            count(&metrics, "meridian.v1.Meridian", "GetItem", "NOT_FOUND"),
            1
        );
        assert_eq!(
            count(&metrics, "meridian.v1.Meridian", "GetItem", "CANCELLED"),
            0
        );

        let b = svc
            .ready()
            .await
            .unwrap()
            .call(req("/meridian.v1.Meridian/PutItem"))
            .await
            .unwrap();
        assert_eq!(
            count(&metrics, "meridian.v1.Meridian", "PutItem", "OK"),
            0,
            "not before its trailers"
        );
        let collected = b.into_body().collect().await.unwrap();
        assert!(collected.trailers().is_some());
        assert_eq!(count(&metrics, "meridian.v1.Meridian", "PutItem", "OK"), 1);
        assert_eq!(
            count(&metrics, "meridian.v1.Meridian", "PutItem", "CANCELLED"),
            0
        );

        let c = svc
            .ready()
            .await
            .unwrap()
            .call(req("/meridian.v1.Admin/Status"))
            .await
            .unwrap();
        drop(c);
        assert_eq!(
            count(&metrics, "meridian.v1.Admin", "Status", "CANCELLED"),
            1
        );
        assert_eq!(count(&metrics, "meridian.v1.Admin", "Status", "OK"), 0);

        let d = svc
            .ready()
            .await
            .unwrap()
            .call(req("/evil/path"))
            .await
            .unwrap();
        drop(d);
        assert_eq!(count(&metrics, UNKNOWN, UNKNOWN, "CANCELLED"), 1);
        let text = metrics.encode();
        assert!(!text.contains("evil"), "{text}");
        assert!(
            text.contains(r#"meridian_grpc_request_duration_seconds_count{region="us-east-1",service="meridian.v1.Meridian",method="PutItem"} 1"#),
            "{text}"
        );
    }
}
