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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// The parts of an `http://host[:port][/path]` URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `host:port`, as dialled.
    authority: String,
    /// The `Host` header.
    host: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Target> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("only http:// URLs are supported, got {url:?}");
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if hostport.is_empty() {
        bail!("no host in {url:?}");
    }
    // IPv6 literals are bracketed: the port, if any, follows the ']'.
    let after_host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(_, rest)| rest).unwrap_or_default(),
        None => hostport,
    };
    let has_port = after_host.contains(':');
    let authority = if has_port {
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

/// The status code of an HTTP/1.x status line.
fn status_code(head: &[u8]) -> Result<u16> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse()
            .with_context(|| format!("bad status line {:?}", line.trim_end())),
        _ => bail!("not an HTTP/1.x response: {:?}", line.trim_end()),
    }
}

async fn get(target: &Target) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("connecting to {}", target.authority))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: meridian-health\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    stream.write_all(request.as_bytes()).await?;
    // A health answer is tiny; read at most 64 KiB of it.
    let mut buf = Vec::with_capacity(1024);
    (&mut stream).take(64 * 1024).read_to_end(&mut buf).await?;
    let code = status_code(&buf)?;
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| String::from_utf8_lossy(&buf[i + 4..]).trim().to_string())
        .unwrap_or_default();
    Ok((code, body))
}

pub async fn run(args: HealthArgs) -> Result<()> {
    let target = parse_url(&args.url)?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let (code, body) = tokio::time::timeout(timeout, get(&target))
        .await
        .map_err(|_| anyhow::anyhow!("{} did not answer within {timeout:?}", args.url))?
        .with_context(|| format!("GET {}", args.url))?;
    if !(200..300).contains(&code) {
        bail!("{} answered {code}: {body}", args.url);
    }
    println!("{} {code} {body}", args.url);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:9101/health").unwrap();
        assert_eq!(t.authority, "127.0.0.1:9101");
        assert_eq!(t.path, "/health");
        let t = parse_url("http://region-a").unwrap();
        assert_eq!(t.authority, "region-a:80");
        assert_eq!(t.path, "/");
        let t = parse_url("http://[::1]:9101/health").unwrap();
        assert_eq!(t.authority, "[::1]:9101");
        let t = parse_url("http://[::1]/x").unwrap();
        assert_eq!(t.authority, "[::1]:80");
        assert!(parse_url("https://x/health").is_err());
        assert!(parse_url("http:///health").is_err());
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n\r\nok").unwrap(), 200);
        assert_eq!(status_code(b"HTTP/1.0 503 Busy\r\n").unwrap(), 503);
        assert!(status_code(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status_code(b"").is_err());
    }

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
