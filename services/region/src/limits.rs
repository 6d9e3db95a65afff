//! Load shedding and a time bound for the region's gRPC server: a tower
//! layer around every service on it.
//!
//! A region that queued every request it was sent would grow its memory
//! and its latency without bound under a flood; past
//! [`MAX_GRPC_IN_FLIGHT`] requests being worked on, one more is refused at
//! once with `RESOURCE_EXHAUSTED`, which gRPC clients treat as retryable.
//! A handler that has not answered within [`GRPC_HANDLER_TIMEOUT`] is
//! dropped with `DEADLINE_EXCEEDED`. Streams (replication, `Watch`,
//! snapshots) hold their slot only until their answer starts. Both count in
//! `meridian_refused_requests{endpoint="grpc"}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Semaphore;
use tonic::codegen::http;

use crate::metrics::{EndpointReasonLabel, Metrics};

/// Requests the gRPC server works on at once, over all connections.
pub const MAX_GRPC_IN_FLIGHT: usize = 2048;
/// Longest a handler may take to answer: long enough for the slowest admin
/// call at this scale (a repair round, a backup of a large table).
pub const GRPC_HANDLER_TIMEOUT: Duration = Duration::from_secs(300);

/// The layer: one shared budget of permits.
#[derive(Clone)]
pub struct Limits {
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Limits {
    pub fn new(in_flight: usize, metrics: Arc<Metrics>) -> Self {
        Limits {
            permits: Arc::new(Semaphore::new(in_flight)),
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for Limits {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            limits: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Limited<S> {
    inner: S,
    limits: Limits,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Limited<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let metrics = self.limits.metrics.clone();
        let refuse = move |reason: &'static str, status: tonic::Status| {
            metrics
                .refused_requests
                .get_or_create(&EndpointReasonLabel {
                    endpoint: "grpc",
                    reason,
                })
                .inc();
            status.into_http()
        };
        let Ok(permit) = self.limits.permits.clone().try_acquire_owned() else {
            let answer = refuse(
                "overloaded",
                tonic::Status::resource_exhausted(format!(
                    "this region is working on {MAX_GRPC_IN_FLIGHT} requests, its limit; retry later"
                )),
            );
            return Box::pin(async move { Ok(answer) });
        };
        let answer = self.inner.call(req);
        Box::pin(async move {
            let out = match tokio::time::timeout(GRPC_HANDLER_TIMEOUT, answer).await {
                Ok(out) => out,
                Err(_) => Ok(refuse(
                    "timeout",
                    tonic::Status::deadline_exceeded(format!(
                        "the request did not finish within {} s; a write in it may or may not have taken effect",
                        GRPC_HANDLER_TIMEOUT.as_secs()
                    )),
                )),
            };
            drop(permit);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    type Req = http::Request<()>;
    type Resp = http::Response<tonic::body::Body>;

    /// A handler that answers when `go` is raised, never before.
    fn handler(
        go: Arc<tokio::sync::Notify>,
    ) -> impl Service<Req, Response = Resp, Error = std::convert::Infallible, Future: Send> + Clone
    {
        tower::service_fn(move |_req: Req| {
            let go = go.clone();
            async move {
                go.notified().await;
                Ok(http::Response::new(tonic::body::Body::empty()))
            }
        })
    }

    fn grpc_status(r: &Resp) -> Option<&str> {
        r.headers().get("grpc-status").and_then(|v| v.to_str().ok())
    }

    fn refused(m: &Metrics, reason: &'static str) -> u64 {
        m.refused_requests
            .get_or_create(&EndpointReasonLabel {
                endpoint: "grpc",
                reason,
            })
            .get()
    }

    #[tokio::test]
    async fn past_the_limit_a_request_is_refused_at_once_and_counted() {
        let metrics = Arc::new(Metrics::new("us-east-1"));
        let go = Arc::new(tokio::sync::Notify::new());
        let mut svc = Limits::new(1, metrics.clone()).layer(handler(go.clone()));
        let first = svc.ready().await.unwrap().call(Req::default());
        let first = tokio::spawn(first);
        let second = svc
            .ready()
            .await
            .unwrap()
            .call(Req::default())
            .await
            .unwrap();
        assert_eq!(grpc_status(&second), Some("8"), "RESOURCE_EXHAUSTED");
        assert_eq!(refused(&metrics, "overloaded"), 1);
        // The first is answered, and its slot is free again.
        go.notify_one();
        let first = first.await.unwrap().unwrap();
        assert_eq!(grpc_status(&first), None);
        let third = svc.ready().await.unwrap().call(Req::default());
        go.notify_one();
        assert_eq!(grpc_status(&third.await.unwrap()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_that_does_not_answer_in_time_is_dropped() {
        let metrics = Arc::new(Metrics::new("us-east-1"));
        let never = Arc::new(tokio::sync::Notify::new());
        let mut svc = Limits::new(1, metrics.clone()).layer(handler(never));
        // Virtual time: the timeout passes at once.
        let answer = svc
            .ready()
            .await
            .unwrap()
            .call(Req::default())
            .await
            .unwrap();
        assert_eq!(grpc_status(&answer), Some("4"), "DEADLINE_EXCEEDED");
        assert_eq!(refused(&metrics, "timeout"), 1);
        // Its slot was given back.
        assert_eq!(
            grpc_status(
                &svc.ready()
                    .await
                    .unwrap()
                    .call(Req::default())
                    .await
                    .unwrap()
            ),
            Some("4")
        );
    }
}
