//! The client of the link proxy's control API: Toxiproxy's routes plus
//! Meridian's `/meridian/regions`. `meridian net` and live drills both reach
//! the proxies through it, so a fault means the same whoever applies it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::http::{self, HttpError};
use crate::{ClusterError, Result};

/// Largest control-API answer read.
const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A control API at `addr` (`host:port`).
#[derive(Clone, Debug)]
pub struct ControlApi {
    pub addr: String,
    /// The cluster's admin token, sent with every call: a control API
    /// reached from off its machine takes changes only with it.
    pub token: Option<String>,
}

/// A control-API answer.
pub struct Reply {
    pub status: u16,
    pub body: Json,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The API's own message for a failure.
    pub fn error(&self) -> String {
        match &self.body {
            Json::Object(m) => m
                .get("error")
                .and_then(Json::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| self.body.to_string()),
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Percent-encodes one path segment (proxy names contain `>`).
pub fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn failed(message: String) -> ClusterError {
    ClusterError::Failed(message)
}

impl ControlApi {
    pub fn new(addr: impl Into<String>) -> Self {
        ControlApi {
            addr: addr.into(),
            token: None,
        }
    }

    /// The same API, with calls carrying `token` when there is one.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// One call; any status is an answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Json>) -> Result<Reply> {
        let unreachable = || {
            format!(
                "cannot reach the control API at {}: is `meridian up` running with a [netsim] section? (set --api)",
                self.addr
            )
        };
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        if let Some(b) = &bearer {
            headers.push(("authorization", b));
        }
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let r = http::request(
            &http::Target::at(&self.addr, path),
            method,
            &headers,
            body,
            MAX_RESPONSE_BYTES,
            CALL_TIMEOUT,
        )
        .await
        .map_err(|e| match e {
            HttpError::Timeout { timeout, .. } => {
                failed(format!("{}: no answer within {timeout:?}", unreachable()))
            }
            HttpError::Connect { source, .. } => failed(format!("{}: {source}", unreachable())),
            other => failed(format!(
                "the control API at {} answered badly: {other}",
                self.addr
            )),
        })?;
        let body = if r.body.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&r.body)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&r.body).into_owned()))
        };
        Ok(Reply {
            status: r.status,
            body,
        })
    }

    /// Calls and fails on a non-2xx answer, with the API's own message.
    pub async fn must(&self, method: &str, path: &str, body: Option<Json>) -> Result<Json> {
        let r = self.call(method, path, body).await?;
        if !r.ok() {
            return Err(failed(format!(
                "control API {method} {path}: {} ({})",
                r.error(),
                r.status
            )));
        }
        Ok(r.body)
    }

    /// Every proxy by name.
    pub async fn proxies(&self) -> Result<BTreeMap<String, Json>> {
        match self.must("GET", "/proxies", None).await? {
            Json::Object(m) => Ok(m.into_iter().collect()),
            other => Err(failed(format!(
                "GET /proxies: expected an object, got {other}"
            ))),
        }
    }

    fn no_proxy(&self, name: &str) -> ClusterError {
        failed(format!(
            "the control API at {} has no proxy {name}; was it started from this cluster file?",
            self.addr
        ))
    }

    pub async fn proxy(&self, name: &str) -> Result<Json> {
        let r = self
            .call("GET", &format!("/proxies/{}", seg(name)), None)
            .await?;
        if r.status == 404 {
            return Err(self.no_proxy(name));
        }
        if !r.ok() {
            return Err(failed(format!(
                "GET proxy {name}: {} ({})",
                r.error(),
                r.status
            )));
        }
        Ok(r.body)
    }

    /// Adds the toxic, or updates the one of that name: `create` holds every
    /// attribute for a new toxic, `update` only those to change. With
    /// `for_ms` the proxy removes it that much later; without, it stays
    /// until removed (an earlier end is dropped: a repeated fault replaces).
    #[allow(clippy::too_many_arguments)]
    pub async fn put_toxic(
        &self,
        proxy: &str,
        name: &str,
        kind: &str,
        stream: &str,
        create: Json,
        update: Json,
        for_ms: Option<u64>,
    ) -> Result<Json> {
        let base = format!("/proxies/{}/toxics", seg(proxy));
        let r = self
            .call(
                "POST",
                &base,
                Some(json!({"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": create, "for_ms": for_ms})),
            )
            .await?;
        match r.status {
            200..=299 => Ok(r.body),
            409 => {
                self.must(
                    "POST",
                    &format!("{base}/{}", seg(name)),
                    Some(json!({"attributes": update, "stream": stream, "toxicity": 1.0, "for_ms": for_ms})),
                )
                .await
            }
            404 => Err(self.no_proxy(proxy)),
            _ => Err(failed(format!(
                "adding {kind} to {proxy}: {} ({})",
                r.error(),
                r.status
            ))),
        }
    }

    /// Removes a toxic; true if it was there.
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<bool> {
        let r = self
            .call(
                "DELETE",
                &format!("/proxies/{}/toxics/{}", seg(proxy), seg(name)),
                None,
            )
            .await?;
        match r.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(failed(format!(
                "removing {name} from {proxy}: {} ({})",
                r.error(),
                r.status
            ))),
        }
    }

    pub async fn set_enabled(&self, proxy: &str, enabled: bool) -> Result<()> {
        self.must(
            "POST",
            &format!("/proxies/{}", seg(proxy)),
            Some(json!({"enabled": enabled})),
        )
        .await
        .map(|_| ())
    }

    /// Disables the proxy for `for_ms`, after which it enables itself.
    pub async fn disable_for(&self, proxy: &str, for_ms: u64) -> Result<()> {
        self.must(
            "POST",
            &format!("/proxies/{}", seg(proxy)),
            Some(json!({"enabled": false, "for_ms": for_ms})),
        )
        .await
        .map(|_| ())
    }

    /// Removes every toxic of every proxy and enables them all.
    pub async fn reset(&self) -> Result<()> {
        self.must("POST", "/reset", None).await.map(|_| ())
    }

    /// The supervised region processes, or `None` when this API supervises
    /// none (a bare `meridian netsim`, or Toxiproxy itself).
    pub async fn regions(&self) -> Result<Option<Vec<Json>>> {
        Ok(self
            .extension("/meridian/regions")
            .await?
            .map(|b| b["regions"].as_array().cloned().unwrap_or_default()))
    }

    /// `GET path` of one of Meridian's extensions, or `None` when this API
    /// has none there (404).
    async fn extension(&self, path: &str) -> Result<Option<Json>> {
        let r = self.call("GET", path, None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        if !r.ok() {
            return Err(failed(format!("GET {path}: {} ({})", r.error(), r.status)));
        }
        Ok(Some(r.body))
    }

    /// How a region's process ended, or `None` while it runs (or when this
    /// API cannot say).
    pub async fn ended(&self, region: &str) -> Option<String> {
        let regions = self.regions().await.ok()??;
        let p = regions.iter().find(|p| p["name"] == region)?;
        (p["state"] != "running")
            .then(|| p["exit"].as_str().unwrap_or("no exit status").to_string())
    }

    /// `POST /meridian/regions/<region>/<verb>` (crash or restart): the
    /// process as the supervisor lists it.
    pub async fn process(&self, region: &str, verb: &str) -> Result<Json> {
        let r = self
            .call(
                "POST",
                &format!("/meridian/regions/{}/{verb}", seg(region)),
                None,
            )
            .await?;
        if r.status == 404 && !r.error().contains("known regions") {
            return Err(self.unsupervised());
        }
        if !r.ok() {
            return Err(failed(format!(
                "{verb} {region}: {} ({})",
                r.error(),
                r.status
            )));
        }
        Ok(r.body)
    }

    /// The failover endpoint's status (`GET /meridian/failover`,
    /// docs/failover.md), or `None` when the cluster serves none.
    pub async fn failover(&self) -> Result<Option<Json>> {
        self.extension("/meridian/failover").await
    }

    /// The states of the cluster's alarms (`GET /meridian/alarms`, as
    /// [`crate::alarms`] serves them), or `None` when it evaluates none.
    pub async fn alarms(&self) -> Result<Option<Json>> {
        self.extension(crate::alarms::ALARMS_PATH).await
    }

    /// Moves the failover endpoint to `region` now, or home with `None`;
    /// the status after the move.
    pub async fn failover_move(&self, region: Option<&str>) -> Result<Json> {
        let body = match region {
            Some(r) => json!({ "region": r }),
            None => json!({}),
        };
        self.must("POST", "/meridian/failover/move", Some(body))
            .await
    }

    fn unsupervised(&self) -> ClusterError {
        failed(format!(
            "the control API at {} does not supervise region processes (it is a bare \
             `meridian netsim`, or Toxiproxy); crash and restart regions another way, \
             e.g. docker kill / docker start, or run the cluster with `meridian up`",
            self.addr
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("a>b"), "a%3Eb");
        assert_eq!(
            seg("meridian.latency.upstream"),
            "meridian.latency.upstream"
        );
    }
}
