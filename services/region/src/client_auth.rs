//! SigV4 on the gRPC client API, with the DynamoDB endpoint's keys.
//!
//! With `dynamodb_keys` set, the DynamoDB endpoint refuses unsigned
//! requests; the gRPC client API reads and writes the same tables, so it
//! takes the same credentials or it would be a way around them. A gRPC call
//! is signed as the endpoint's requests are (`meridian_core::sigv4`): `POST`
//! to the call's path, `host` (HTTP/2's `:authority`) and `x-amz-date`
//! signed, and the SHA-256 of the body as sent, so neither the call nor its
//! message can be changed or replayed past 15 minutes. The body is read
//! whole before the check: the layer wraps only the client API, whose
//! messages tonic reads whole anyway, and never replication's streams.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use meridian_core::sigv4::{self, SigV4Error};
use tonic::codegen::http;
use tonic::server::NamedService;

use crate::limits::BoxFuture;
use crate::metrics::{EndpointReasonLabel, Metrics};

/// The gRPC client API behind a SigV4 check.
#[derive(Clone)]
pub struct Signed<S> {
    inner: S,
    keys: Arc<HashMap<String, String>>,
    /// The largest body read for the check (the API's message limit and
    /// gRPC's framing); a larger one is refused before it is held.
    max_body: usize,
    metrics: Arc<Metrics>,
}

impl<S> Signed<S> {
    pub fn new(
        inner: S,
        keys: HashMap<String, String>,
        max_body: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Signed {
            inner,
            keys: Arc::new(keys),
            max_body,
            metrics,
        }
    }
}

impl<S: NamedService> NamedService for Signed<S> {
    const NAME: &'static str = S::NAME;
}

/// A refusal as gRPC says it: `UNAUTHENTICATED`, with AWS's code and words.
fn refusal(e: &SigV4Error) -> http::Response<tonic::body::Body> {
    tonic::Status::unauthenticated(format!("{}: {e}", e.code())).into_http()
}

/// Checks a request whose body has been read.
fn check(
    keys: &HashMap<String, String>,
    parts: &http::request::Parts,
    body: &[u8],
    now: i64,
) -> Result<(), SigV4Error> {
    // HTTP/2 carries the host as `:authority`, which hyper puts in the URI.
    let authority = parts.uri.authority().map(|a| a.as_str());
    verify_http(keys, parts.uri.path(), &parts.headers, authority, body, now)
}

/// Checks an HTTP request's signature: its headers by name, with
/// `authority` standing for a missing `host` header. The DynamoDB endpoint
/// (HTTP/1.1, `host` sent) and the gRPC client API (HTTP/2) both call it.
pub fn verify_http(
    keys: &HashMap<String, String>,
    path: &str,
    headers: &http::HeaderMap,
    authority: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SigV4Error> {
    let hash = sigv4::body_hash(body);
    let request = sigv4::Request {
        path,
        header: |name: &str| {
            let values: Vec<&str> = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            match (name, authority) {
                ("host", Some(a)) if values.is_empty() => vec![a],
                _ => values,
            }
        },
        body_hash: &hash,
    };
    sigv4::verify(keys, &request, now)
}

/// Seconds since the epoch on the host's clock (never a skewed one: AWS
/// checks signatures against real time).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for Signed<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if self.keys.is_empty() {
            // No keys, no check: the call goes straight through, unread.
            return Box::pin(self.inner.call(req));
        }
        // The clone that was made ready serves this call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (keys, max_body, metrics) = (self.keys.clone(), self.max_body, self.metrics.clone());
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let refuse = |e: SigV4Error| {
                tracing::warn!(call = %parts.uri.path(), reason = e.reason(), error = %e, "gRPC client call refused");
                metrics
                    .unauthenticated
                    .get_or_create(&EndpointReasonLabel {
                        endpoint: "grpc",
                        reason: e.reason(),
                    })
                    .inc();
                Ok(refusal(&e))
            };
            let bytes = match http_body_util::Limited::new(body, max_body).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return refuse(SigV4Error::Invalid(format!(
                        "the request's body could not be read for its signature (at most {max_body} bytes): {e}"
                    )));
                }
            };
            if let Err(e) = check(&keys, &parts, &bytes, now_secs()) {
                return refuse(e);
            }
            let body = tonic::body::Body::new(http_body_util::Full::new(bytes));
            inner.call(http::Request::from_parts(parts, body)).await
        })
    }
}

/// A gRPC channel that signs every call with SigV4, for clients of a
/// cluster with `dynamodb_keys` (the CLI takes the cluster's first key, or
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`); without credentials
/// it sends calls as they are.
#[derive(Clone)]
pub struct Signing<S> {
    inner: S,
    credentials: Option<Arc<sigv4::Credentials>>,
    /// The `:authority` the channel sends: what `host` is signed as.
    host: String,
}

impl<S> Signing<S> {
    pub fn new(inner: S, credentials: Option<sigv4::Credentials>, host: String) -> Self {
        Signing {
            inner,
            credentials: credentials.map(Arc::new),
            host,
        }
    }
}

impl<S, B> tower::Service<http::Request<tonic::body::Body>> for Signing<S>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<B>;
    type Error = tonic::codegen::StdError;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let Some(credentials) = self.credentials.clone() else {
            let call = self.inner.call(req);
            return Box::pin(async move { call.await.map_err(Into::into) });
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let host = self.host.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            // A call's message is in memory already; reading it cannot fail.
            let bytes = body
                .collect()
                .await
                .map_err(|e| tonic::Status::internal(format!("reading the call to sign it: {e}")))?
                .to_bytes();
            for (name, value) in
                sigv4::sign(&credentials, &host, parts.uri.path(), &bytes, now_secs())
            {
                let value = http::HeaderValue::from_str(&value)
                    .map_err(|e| tonic::Status::internal(format!("a signature header: {e}")))?;
                parts.headers.insert(name, value);
            }
            let body = tonic::body::Body::new(http_body_util::Full::new(bytes));
            inner
                .call(http::Request::from_parts(parts, body))
                .await
                .map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, headers: &[(&str, String)]) -> http::request::Parts {
        let mut b = http::Request::builder()
            .method("POST")
            .uri(format!("http://127.0.0.1:7001{path}"));
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_authority_stands_for_host_and_the_body_is_signed() {
        let keys = HashMap::from([("AKID".to_string(), "s3cret".to_string())]);
        let creds = sigv4::Credentials {
            access_key: "AKID".into(),
            secret: "s3cret".into(),
            region: "us-east-1".into(),
        };
        let path = "/meridian.v1.Meridian/PutItem";
        let now = 1_795_224_600;
        let signed = sigv4::sign(&creds, "127.0.0.1:7001", path, b"message", now);
        let parts = request(path, &signed);
        check(&keys, &parts, b"message", now).unwrap();
        assert!(matches!(
            check(&keys, &parts, b"massage", now),
            Err(SigV4Error::Invalid(_))
        ));
        assert!(matches!(
            check(&keys, &request(path, &[]), b"message", now),
            Err(SigV4Error::Missing(_))
        ));
    }
}
