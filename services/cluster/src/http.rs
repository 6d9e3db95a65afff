//! The one HTTP/1.1 client of cluster control (hyper): the control API's
//! JSON requests, `meridian health`'s probe, and the tests' hand-made
//! DynamoDB requests (exact headers and bodies, malformed JSON included).
//! One request per connection;
//! every call has a deadline and a cap on the body it reads.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Url(String),
    #[error("connecting to {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("{authority} did not answer within {timeout:?}")]
    Timeout {
        authority: String,
        timeout: Duration,
    },
    #[error("{authority}: {message}")]
    Protocol { authority: String, message: String },
}

/// An answer: its status and its body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Where an `http://host[:port][/path]` URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, as dialled (port 80 when the URL gives none).
    pub authority: String,
    /// The `Host` header: the URL's host and port as written.
    pub host: String,
    pub path: String,
}

impl Target {
    /// `path` at `addr` (`host:port`), which is also the `Host` header.
    pub fn at(addr: &str, path: &str) -> Target {
        Target {
            authority: addr.to_string(),
            host: addr.to_string(),
            path: path.to_string(),
        }
    }

    /// Plain `http://` only: the endpoints here are on loopback or inside a
    /// container network.
    pub fn parse(url: &str) -> Result<Target, HttpError> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(HttpError::Url(format!(
                "only http:// URLs are supported, got {url:?}"
            )));
        };
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if hostport.is_empty() {
            return Err(HttpError::Url(format!("no host in {url:?}")));
        }
        // IPv6 literals are bracketed: the port, if any, follows the ']'.
        let after_host = match hostport.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map(|(_, rest)| rest).unwrap_or_default(),
            None => hostport,
        };
        let authority = if after_host.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        Ok(Target {
            authority,
            host: hostport.to_string(),
            path: path.to_string(),
        })
    }
}

/// One HTTP/1.1 connection kept open for many requests, one at a time:
/// what a benchmark's client holds, as an SDK keeps its connections alive.
pub struct Conn {
    target: Target,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    /// Connects to `target`, giving up after `timeout`.
    pub async fn open(target: &Target, timeout: Duration) -> Result<Conn, HttpError> {
        let authority = target.authority.as_str();
        let connect = async {
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|source| HttpError::Connect {
                    authority: authority.to_string(),
                    source,
                })?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| protocol(authority, &e))?;
            let driver = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Conn {
                target: target.clone(),
                sender,
                driver,
            })
        };
        within(authority, timeout, connect).await
    }

    /// One request on this connection with `headers` besides `Host`,
    /// `User-Agent` and the `Content-Length` of `body`, sent as given.
    /// Reads at most `limit` bytes of the answer and gives up after
    /// `timeout`.
    pub async fn send(
        &mut self,
        method: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        limit: usize,
        timeout: Duration,
    ) -> Result<Response, HttpError> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(&self.target.path)
            .header(hyper::header::HOST, &self.target.host)
            .header(hyper::header::USER_AGENT, "meridian");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| protocol(&self.target.authority, &e))?;
        let (head, body) = self.forward(req, limit, timeout).await?;
        Ok(Response {
            status: head.status.as_u16(),
            body: body.to_vec(),
        })
    }

    /// Sends `req` exactly as built (its `Host` and every other header as
    /// they are: the failover endpoint passes a client's signed request
    /// through) and returns the answer's head and body, at most `limit`
    /// bytes of it, giving up after `timeout`.
    pub async fn forward(
        &mut self,
        req: hyper::Request<Full<Bytes>>,
        limit: usize,
        timeout: Duration,
    ) -> Result<(hyper::http::response::Parts, Bytes), HttpError> {
        let authority = self.target.authority.clone();
        let exchange = async {
            self.sender
                .ready()
                .await
                .map_err(|e| protocol(&authority, &e))?;
            let res = self
                .sender
                .send_request(req)
                .await
                .map_err(|e| protocol(&authority, &e))?;
            let (head, body) = res.into_parts();
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| protocol(&authority, &*e))?
                .to_bytes();
            Ok((head, body))
        };
        within(&authority, timeout, exchange).await
    }

    /// Whether the server closed this connection: the next request needs a
    /// new one.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// `work`, or a timeout error naming `authority` once `timeout` passes.
async fn within<T>(
    authority: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| HttpError::Timeout {
            authority: authority.to_string(),
            timeout,
        })?
}

fn protocol(authority: &str, e: &dyn std::fmt::Display) -> HttpError {
    HttpError::Protocol {
        authority: authority.to_string(),
        message: e.to_string(),
    }
}

/// One request to `target` on a connection of its own (see
/// [`Conn::send`]); `timeout` covers the connect, request and response
/// together. The control API's JSON, or a DynamoDB request with its own
/// headers in the tests.
pub async fn request(
    target: &Target,
    method: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    limit: usize,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let start = tokio::time::Instant::now();
    let mut conn = Conn::open(target, timeout).await?;
    let left = timeout.saturating_sub(start.elapsed());
    conn.send(method, headers, body, limit, left).await
}

/// `GET url`.
pub async fn get(url: &str, limit: usize, timeout: Duration) -> Result<Response, HttpError> {
    request(&Target::parse(url)?, "GET", &[], Vec::new(), limit, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:9101/health").unwrap();
        assert_eq!(t.authority, "127.0.0.1:9101");
        assert_eq!(t.path, "/health");
        let t = Target::parse("http://region-a").unwrap();
        assert_eq!(t.authority, "region-a:80");
        assert_eq!(t.path, "/");
        let t = Target::parse("http://[::1]:9101/health").unwrap();
        assert_eq!(t.authority, "[::1]:9101");
        let t = Target::parse("http://[::1]/x").unwrap();
        assert_eq!(t.authority, "[::1]:80");
        assert!(Target::parse("https://x/health").is_err());
        assert!(Target::parse("http:///health").is_err());
    }

    /// A chunked answer and a plain one read the same; a body over the cap
    /// is an error, not a truncation.
    #[tokio::test]
    async fn chunked_and_plain_bodies_and_the_cap() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            for answer in [
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\ncontent-length: 7\r\n\r\n{\"a\":1}",
                "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"a\":1}",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = vec![0u8; 1024];
                let n = s.read(&mut req).await.unwrap();
                assert!(req[..n].starts_with(b"POST /x HTTP/1.1\r\n"));
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let t = Duration::from_secs(5);
        let x = Target::at(&addr, "/x");
        let post = |limit| request(&x, "POST", &[], b"{}".to_vec(), limit, t);
        let r = post(1024).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"a\":1}"[..]));
        let r = post(1024).await.unwrap();
        assert_eq!((r.status, r.ok()), (404, false));
        let e = post(3).await.unwrap_err();
        assert!(matches!(e, HttpError::Protocol { .. }), "{e}");
        server.await.unwrap();
        let e = request(&Target::at(&addr, "/"), "GET", &[], Vec::new(), 3, t)
            .await
            .unwrap_err();
        assert!(matches!(e, HttpError::Connect { .. }), "{e}");
    }
}
