//! `meridian health --url http://127.0.0.1:9101/health`: one HTTP GET with a
//! deadline, for container health checks. A `FROM scratch` image has no
//! shell and no curl, so the image's HEALTHCHECK runs the binary itself.
//!
//! Exit status: 0 when the endpoint answered 2xx within the timeout, 1
//! otherwise (refused, timed out, malformed, or a non-2xx status), which is
//! what Docker and Kubernetes exec probes expect. The reason goes to stderr.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args)]
pub struct HealthArgs {
    /// The URL to GET: plain http only, e.g. http://127.0.0.1:9101/health.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9101/health",
        env = "MERIDIAN_HEALTH_URL"
    )]
    pub url: String,
    /// Give up after this many milliseconds (connect, request and response).
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// A health answer is tiny; read at most 64 KiB of it.
const MAX_BODY: usize = 64 * 1024;

async fn get(url: &str, timeout: Duration) -> Result<(u16, String)> {
    use meridian_cluster::http::{self, HttpError};
    match http::get(url, MAX_BODY, timeout).await {
        Ok(r) => Ok((
            r.status,
            String::from_utf8_lossy(&r.body).trim().to_string(),
        )),
        Err(HttpError::Timeout { .. }) => bail!("{url} did not answer within {timeout:?}"),
        Err(e) => Err(e).with_context(|| format!("GET {url}")),
    }
}

pub async fn run(args: HealthArgs) -> Result<()> {
    let timeout = Duration::from_millis(args.timeout_ms);
    let (code, body) = get(&args.url, timeout).await?;
    if !(200..300).contains(&code) {
        bail!("{} answered {code}: {body}", args.url);
    }
    println!("{} {code} {body}", args.url);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn healthy_unhealthy_and_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for answer in [
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n",
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\n\r\nbusy\n",
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = vec![0u8; 1024];
                let n = s.read(&mut req).await.unwrap();
                assert!(req[..n].starts_with(b"GET /health HTTP/1.1\r\n"));
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let args = |timeout_ms| HealthArgs {
            url: format!("http://{addr}/health"),
            timeout_ms,
        };
        run(args(2000)).await.unwrap();
        let err = run(args(2000)).await.unwrap_err().to_string();
        assert!(err.contains("503"), "{err}");
        server.await.unwrap();
        // Nothing listens there any more.
        assert!(run(args(2000)).await.is_err());
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let err = run(HealthArgs {
            url: format!("http://{addr}/health"),
            timeout_ms: 200,
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("did not answer"), "{err}");
    }
}
