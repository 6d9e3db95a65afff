//! A small client of a Toxiproxy-compatible fault API (docs/netsim.md).
//!
//! Proxies are named per directed link, `A>B` carrying the connection
//! region A opens to region B, as `meridian up` and `meridian netsim` name
//! them; a plain Toxiproxy must be set up with the same names. A fault is a
//! blackhole (`timeout` toxic with timeout 0) on both streams of every
//! proxy it concerns. Every toxic also carries Meridian's `for_ms`, so the
//! proxy heals itself if this process dies mid-check (Toxiproxy ignores
//! the field); [`Faults::heal`] undoes each fault explicitly too.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use meridian_layout::link_ends;
use rustls_pki_types::ServerName;
use serde_json::{Value, json};

use crate::ConfError;
use crate::tls::Trust;

/// The toxic name prefix, so a heal removes only what this checker added.
const TOXIC_PREFIX: &str = "conformance.blackhole";

/// The fault API at `base` (`http://127.0.0.1:8474`, or `https://` through
/// the run's trust: crate::tls).
#[derive(Clone)]
pub struct Faults {
    host_port: String,
    base: String,
    /// For `https`: the client configuration and the name the server's
    /// certificate must carry.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

/// A fault that was put on: the toxics to remove again.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    toxics: Vec<(String, String)>,
}

impl Faults {
    /// `trust` is needed (and used) only for an `https` base.
    pub fn new(base: &str, trust: Option<&Trust>) -> Result<Faults, ConfError> {
        let (rest, https) = match (base.strip_prefix("http://"), base.strip_prefix("https://")) {
            (Some(r), _) => (r, false),
            (_, Some(r)) => (r, true),
            _ => {
                return Err(ConfError::Arg(format!(
                    "--toxiproxy {base:?}: expected http://host:port or https://host:port"
                )));
            }
        };
        let host_port = rest.trim_end_matches('/').to_string();
        if host_port.is_empty() || host_port.contains('/') || !host_port.contains(':') {
            return Err(ConfError::Arg(format!(
                "--toxiproxy {base:?}: expected http://host:port or https://host:port"
            )));
        }
        let tls = if https {
            let trust = trust
                .ok_or_else(|| ConfError::Arg(format!("--toxiproxy {base:?}: no TLS trust")))?;
            let host = match host_port.rsplit_once(':') {
                Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
                None => host_port.as_str(),
            };
            let name = ServerName::try_from(host.to_string()).map_err(|e| {
                ConfError::Arg(format!(
                    "--toxiproxy {base:?}: {host:?} is not a TLS server name: {e}"
                ))
            })?;
            Some((trust.rustls_config(), name))
        } else {
            None
        };
        Ok(Faults {
            host_port,
            base: base.trim_end_matches('/').into(),
            tls,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), ConfError> {
        let fail = |e: String| ConfError::Fault(format!("{method} {}{path}: {e}", self.base));
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&self.host_port),
        )
        .await
        .map_err(|_| fail("connect timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("host", &self.host_port)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| fail(e.to_string()))?;
        let (status, body) = match &self.tls {
            None => exchange(stream, req).await,
            Some((config, name)) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let stream = tokio::time::timeout(
                    Duration::from_secs(5),
                    connector.connect(name.clone(), stream),
                )
                .await
                .map_err(|_| fail("TLS handshake timed out".into()))?
                .map_err(|e| fail(format!("TLS: {e}")))?;
                exchange(stream, req).await
            }
        }
        .map_err(fail)?;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    /// Names of every proxy.
    pub async fn proxies(&self) -> Result<Vec<String>, ConfError> {
        let (status, v) = self.call(Method::GET, "/proxies", None).await?;
        if status != 200 {
            return Err(ConfError::Fault(format!("GET /proxies answered {status}")));
        }
        Ok(v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Blackholes both streams of each named proxy for at most `for_ms`.
    /// On any error, what was already put on is taken off again.
    pub async fn blackhole(&self, proxies: &[String], for_ms: u64) -> Result<Applied, ConfError> {
        let mut applied = Applied::default();
        for p in proxies {
            for stream in ["upstream", "downstream"] {
                let name = format!("{TOXIC_PREFIX}.{stream}");
                let body = json!({
                    "name": name, "type": "timeout", "stream": stream, "toxicity": 1.0,
                    "attributes": {"timeout": 0}, "for_ms": for_ms.clamp(1, 86_400_000),
                });
                let path = format!("/proxies/{}/toxics", encode(p));
                let res = self.call(Method::POST, &path, Some(body)).await;
                match res {
                    Ok((200 | 201, _)) => applied.toxics.push((p.clone(), name)),
                    Ok((409, _)) => {
                        // Left from an earlier run: replace it.
                        let path = format!("/proxies/{}/toxics/{}", encode(p), name);
                        let _ = self.call(Method::DELETE, &path, None).await;
                        self.heal(&applied).await;
                        return Err(ConfError::Fault(format!(
                            "{p}: a toxic {name} was already there (removed); run again"
                        )));
                    }
                    Ok((s, v)) => {
                        self.heal(&applied).await;
                        return Err(ConfError::Fault(format!("adding a toxic to {p}: {s} {v}")));
                    }
                    Err(e) => {
                        self.heal(&applied).await;
                        return Err(e);
                    }
                }
            }
        }
        Ok(applied)
    }

    /// Removes what [`Faults::blackhole`] put on; errors are ignored (the
    /// toxics' `for_ms` and the run's final reset are the fallbacks).
    pub async fn heal(&self, applied: &Applied) {
        for (p, t) in &applied.toxics {
            let path = format!("/proxies/{}/toxics/{}", encode(p), t);
            let _ = self.call(Method::DELETE, &path, None).await;
        }
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Result<(), ConfError> {
        let (status, v) = self.call(Method::POST, "/reset", Some(json!({}))).await?;
        if status / 100 != 2 {
            return Err(ConfError::Fault(format!(
                "POST /reset answered {status} {v}"
            )));
        }
        Ok(())
    }
}

/// One HTTP/1.1 request on its own connection, plain or TLS.
async fn exchange<S>(stream: S, req: Request<Full<Bytes>>) -> Result<(u16, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let resp = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    driver.abort();
    Ok((status, body))
}

/// The proxies among `all` that carry anything to or from `region`.
pub fn proxies_touching(all: &[String], region: &str) -> Vec<String> {
    all.iter()
        .filter(|p| link_ends(p).is_some_and(|(a, b)| a == region || b == region))
        .cloned()
        .collect()
}

/// The proxies among `all` that carry bytes from any region into `region`:
/// every proxy touching it. (A→B's bytes ride the upstream of `A>B` and the
/// downstream of `B>A`; blackholing both streams of both cuts them, and
/// with them B's own traffic to A, which a one-way cut would also stall
/// through TCP's acknowledgements: docs/netsim.md.)
pub fn proxies_into(all: &[String], region: &str) -> Vec<String> {
    proxies_touching(all, region)
}

/// Percent-encodes a proxy name for a path (`>` is `%3E`).
pub fn encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_names_are_encoded_and_selected() {
        assert_eq!(encode("us-east-1>eu-west-1"), "us-east-1%3Eeu-west-1");
        let all: Vec<String> = ["a>b", "b>a", "a>c", "c>a", "b>c", "c>b", "other"]
            .map(String::from)
            .to_vec();
        assert_eq!(proxies_touching(&all, "b"), ["a>b", "b>a", "b>c", "c>b"]);
        assert!(proxies_touching(&all, "z").is_empty());
    }

    #[test]
    fn fault_apis_are_http_or_https_with_a_trust() {
        assert!(Faults::new("http://127.0.0.1:8474", None).is_ok());
        assert!(Faults::new("http://127.0.0.1:8474/", None).is_ok());
        assert!(
            Faults::new("https://x:1", None).is_err(),
            "https needs the run's trust"
        );
        assert!(Faults::new("127.0.0.1:8474", None).is_err());
        assert!(
            Faults::new("http://127.0.0.1", None).is_err(),
            "a port is needed"
        );
        assert!(Faults::new("http://127.0.0.1:8474/api", None).is_err());
    }
}
