//! `meridian up --health ADDR`: one HTTP endpoint, `GET /health`, that
//! answers 200 only while every region of the cluster answers its own
//! `/health`, and 503 naming those that do not.
//!
//! Why: a container running `meridian up` holds a whole cluster, and its
//! HEALTHCHECK (`meridian health`, one URL) must not call it healthy while
//! one region is still starting or has crashed. The image points both of
//! its modes at the same URL, 127.0.0.1:9101/health: a lone region serves
//! it itself, `meridian up` serves it here for all of them.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::http::StatusCode;
use meridian_region::ClusterFile;

/// How long one region's own health check may take.
const REGION_TIMEOUT: Duration = Duration::from_millis(1000);

/// A region's health answer is tiny; read at most this much of it.
const MAX_BODY: usize = 4096;

/// Every region's `/health` URL, in file order; refused when a region has
/// no metrics address, since its health then cannot be read.
pub fn region_urls(cluster: &ClusterFile) -> Result<Vec<(String, String)>> {
    cluster
        .regions
        .iter()
        .map(|r| match r.metrics {
            Some(m) => Ok((r.name.clone(), format!("http://{m}/health"))),
            None => bail!(
                "--health: region {} has no metrics address, where its own /health is served; \
                 give it `metrics = \"127.0.0.1:PORT\"` in the cluster file",
                r.name
            ),
        })
        .collect()
}

/// Binds `addr` before any region starts, so a taken port stops `up` early.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--health: binding {addr}"))
}

/// The answer for the regions at `urls`: 200 when all are healthy, else
/// 503 with each failing region and why.
pub async fn check(urls: &[(String, String)]) -> (StatusCode, String) {
    let answers = futures::future::join_all(urls.iter().map(|(name, url)| async move {
        match meridian_cluster::http::get(url, MAX_BODY, REGION_TIMEOUT).await {
            Ok(r) if r.ok() => None,
            Ok(r) => Some(format!("{name} (answered {})", r.status)),
            Err(e) => Some(format!("{name} ({e})")),
        }
    }))
    .await;
    let failing: Vec<String> = answers.into_iter().flatten().collect();
    if failing.is_empty() {
        let names: Vec<&str> = urls.iter().map(|(n, _)| n.as_str()).collect();
        (
            StatusCode::OK,
            format!(
                "ok: {} regions healthy ({})\n",
                names.len(),
                names.join(", ")
            ),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not healthy: {}\n", failing.join("; ")),
        )
    }
}

/// Serves `GET /health` on `listener` until `shutdown`.
pub async fn serve(
    urls: Vec<(String, String)>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let urls = std::sync::Arc::new(urls);
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let urls = urls.clone();
            async move { check(&urls).await }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving the cluster's /health")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stand-in region health endpoint answering `status` to every GET.
    async fn region(status: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn healthy_only_when_every_region_is() {
        let a = region("200 OK").await;
        let b = region("200 OK").await;
        let sick = region("503 Service Unavailable").await;
        // A port nothing listens on: a region that is down.
        let gone = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let urls = |list: &[(&str, SocketAddr)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, a)| (n.to_string(), format!("http://{a}/health")))
                .collect()
        };
        let (code, body) = check(&urls(&[("us-east-1", a), ("eu-west-1", b)])).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert!(body.contains("2 regions healthy"), "{body}");

        let (code, body) = check(&urls(&[("us-east-1", a), ("eu-west-1", sick)])).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("eu-west-1 (answered 503)"), "{body}");
        assert!(!body.contains("us-east-1"), "{body}");

        let (code, body) = check(&urls(&[("us-east-1", a), ("ap-southeast-1", gone)])).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("ap-southeast-1"), "{body}");
    }

    #[test]
    fn a_region_without_metrics_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "name = \"t\"\ndata_dir = \"d\"\nplaintext = true\n\
             [[region]]\nname = \"us-east-1\"\ngrpc = \"127.0.0.1:7101\"\nmetrics = \"127.0.0.1:9111\"\n\
             [[region]]\nname = \"eu-west-1\"\ngrpc = \"127.0.0.1:7102\"\n",
        )
        .unwrap();
        let cluster = ClusterFile::load(&path).unwrap();
        let err = region_urls(&cluster).unwrap_err().to_string();
        assert!(err.contains("eu-west-1 has no metrics address"), "{err}");
    }
}
