//! Load shedding and a time bound for every server of a region: the gRPC
//! server (a tower layer around every service on it), the DynamoDB
//! endpoint and the metrics endpoint (middlewares), each with a
//! [`Budget`] of its own.
//!
//! A region that queued every request it was sent would grow its memory
//! and its latency without bound under a flood; past its budget of
//! requests being worked on, one more is refused at once (gRPC:
//! `RESOURCE_EXHAUSTED`, which gRPC clients treat as retryable; DynamoDB:
//! `ThrottlingException`, which the SDKs retry; metrics: 503). A handler
//! that has not answered in time is dropped. Streams (replication,
//! `Watch`, snapshots) hold their slot only until their answer starts.
//! Both refusals count in `meridian_refused_requests{endpoint, reason}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http;

use crate::metrics::{EndpointReasonLabel, Metrics};

/// Requests the gRPC server works on at once, over all connections.
pub const MAX_GRPC_IN_FLIGHT: usize = 2048;
/// Longest a handler may take to answer: long enough for the slowest admin
/// call at this scale (a repair round, a backup of a large table).
pub const GRPC_HANDLER_TIMEOUT: Duration = Duration::from_secs(300);
/// Requests the metrics endpoint (`/metrics`, `/health/*`) works on at
/// once: scrapers and probes come a few at a time.
pub const MAX_METRICS_IN_FLIGHT: usize = 64;
/// Longest a metrics or health request may take: a scrape reads the
/// peers' pending counts from the store.
pub const METRICS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The budget's requests were all being worked on.
    Overloaded { limit: usize },
    /// The handler did not answer within this time.
    Timeout { after: Duration },
}

/// One server's budget: how many requests it works on at once, and for
/// how long each at most. Clones share the budget.
#[derive(Clone)]
pub struct Budget {
    endpoint: &'static str,
    permits: Arc<Semaphore>,
    limit: usize,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

/// A request admitted within a [`Budget`]: it holds its slot until
/// dropped.
pub struct Admitted {
    budget: Budget,
    _permit: OwnedSemaphorePermit,
}

impl Budget {
    /// A budget counted in the metrics as `endpoint`, whose refusal
    /// series exist from the start (at 0), so `rate()` sees the first.
    pub fn new(
        endpoint: &'static str,
        limit: usize,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        for reason in ["overloaded", "timeout"] {
            let _ = metrics
                .refused_requests
                .get_or_create(&EndpointReasonLabel { endpoint, reason });
        }
        Budget {
            endpoint,
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            timeout,
            metrics,
        }
    }

    /// A slot for one request, or [`Refused::Overloaded`] at once.
    pub fn admit(&self) -> Result<Admitted, Refused> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(Admitted {
                budget: self.clone(),
                _permit: permit,
            }),
            Err(_) => {
                self.count("overloaded");
                Err(Refused::Overloaded { limit: self.limit })
            }
        }
    }

    fn count(&self, reason: &'static str) {
        self.metrics
            .refused_requests
            .get_or_create(&EndpointReasonLabel {
                endpoint: self.endpoint,
                reason,
            })
            .inc();
    }
}

impl Admitted {
    /// Runs the request's handler within the budget's time, then frees the
    /// slot.
    pub async fn bound<F: Future>(self, handler: F) -> Result<F::Output, Refused> {
        let after = self.budget.timeout;
        match tokio::time::timeout(after, handler).await {
            Ok(out) => Ok(out),
            Err(_) => {
                self.budget.count("timeout");
                Err(Refused::Timeout { after })
            }
        }
    }
}

/// The gRPC layer: one [`Budget`] for every service on the server.
#[derive(Clone)]
pub struct Limits {
    budget: Budget,
}

impl Limits {
    pub fn new(in_flight: usize, metrics: Arc<Metrics>) -> Self {
        Limits {
            budget: Budget::new("grpc", in_flight, GRPC_HANDLER_TIMEOUT, metrics),
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

/// The future of a gRPC layer's call (this one and `client_auth`'s).
pub(crate) type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// A refusal as gRPC says it.
fn grpc_refusal(r: Refused) -> http::Response<tonic::body::Body> {
    match r {
        Refused::Overloaded { limit } => tonic::Status::resource_exhausted(format!(
            "this region is working on {limit} requests, its limit; retry later"
        )),
        Refused::Timeout { after } => tonic::Status::deadline_exceeded(format!(
            "the request did not finish within {} s; a write in it may or may not have taken effect",
            after.as_secs()
        )),
    }
    .into_http()
}

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
        let admitted = match self.limits.budget.admit() {
            Ok(a) => a,
            Err(r) => return Box::pin(std::future::ready(Ok(grpc_refusal(r)))),
        };
        let answer = self.inner.call(req);
        Box::pin(async move {
            match admitted.bound(answer).await {
                Ok(out) => out,
                Err(r) => Ok(grpc_refusal(r)),
            }
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

    fn refused_at(m: &Metrics, endpoint: &'static str, reason: &'static str) -> u64 {
        m.refused_requests
            .get_or_create(&EndpointReasonLabel { endpoint, reason })
            .get()
    }

    /// The budget every server uses: a slot per request until it is
    /// dropped, refusals counted under the budget's own endpoint.
    #[tokio::test(start_paused = true)]
    async fn a_budget_admits_up_to_its_limit_and_bounds_each_in_time() {
        let metrics = Arc::new(Metrics::new("us-east-1"));
        let budget = Budget::new("metrics", 2, Duration::from_secs(10), metrics.clone());
        let (a, b) = (budget.admit().unwrap(), budget.admit().unwrap());
        assert_eq!(budget.admit().err(), Some(Refused::Overloaded { limit: 2 }));
        assert_eq!(refused_at(&metrics, "metrics", "overloaded"), 1);
        assert_eq!(refused_at(&metrics, "grpc", "overloaded"), 0);
        // A handler that answers in time gives its answer and its slot back.
        assert_eq!(a.bound(async { 7 }).await, Ok(7));
        let c = budget.admit().expect("a's slot is free again");
        // One that never answers is dropped at the time bound (virtual
        // time: it passes at once), and frees its slot too.
        assert_eq!(
            b.bound(std::future::pending::<()>()).await,
            Err(Refused::Timeout {
                after: Duration::from_secs(10)
            })
        );
        assert_eq!(refused_at(&metrics, "metrics", "timeout"), 1);
        let _d = budget.admit().expect("b's slot is free again");
        drop(c);
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
