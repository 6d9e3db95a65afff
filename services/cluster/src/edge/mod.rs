//! The edge (docs/edge.md): one DynamoDB endpoint for every region, which
//! `meridian up` serves with an `[edge]` section. Each request goes,
//! unchanged, to the region its SigV4 credential scope names
//! ([`route`]), passed through by [`crate::passthrough`], so a program
//! configured as the AWS SDKs are with one `AWS_ENDPOINT_URL` reaches each
//! region from the client made for it.
//!
//! The edge answers two `GET`s itself (DynamoDB is `POST /`):
//! `/metrics`, its counters in Prometheus text, and `/meridian/edge`, the
//! same as a JSON document (`meridian status` and the dashboard read it).

pub mod route;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response};
use meridian_region::ClusterFile;
use meridian_region::listen::dial;
use meridian_region::worker::{Stop, Workers};
use serde_json::{Value as Json, json};

use route::REASONS;

use crate::passthrough::{self, Answer, Decision, Router, Upstream};
use crate::{ClusterError, Result};

/// The path of the edge's status document.
pub const STATUS_PATH: &str = "/meridian/edge";

/// The edge's regions and what it counted.
pub struct Edge {
    listen: SocketAddr,
    /// Each region's name and `host:port` of its DynamoDB endpoint, in
    /// file order.
    regions: Vec<(String, String)>,
    /// The names alone, as the routing decision takes them.
    names: Vec<String>,
    /// Per region: requests its answer came back for.
    forwarded: Vec<AtomicU64>,
    /// Per region: requests that could not reach it (answered 503).
    unreachable: Vec<AtomicU64>,
    /// Requests with no signature, sent to the first region.
    unsigned: AtomicU64,
    /// Per reason of [`REASONS`]: requests refused, forwarded nowhere.
    refused: [AtomicU64; 3],
}

impl Edge {
    /// The edge of `file`'s regions, listening on `listen`. A region
    /// listening on every interface is dialled on loopback.
    pub fn new(file: &ClusterFile, listen: SocketAddr) -> Result<Edge> {
        let mut regions = Vec::new();
        for r in &file.regions {
            let Some(dynamo) = r.dynamo else {
                return Err(ClusterError::Failed(format!(
                    "the edge forwards to every region, and region {} has no dynamo address",
                    r.name
                )));
            };
            regions.push((r.name.clone(), dial(dynamo).to_string()));
        }
        let counters = || regions.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(Edge {
            listen,
            forwarded: counters(),
            unreachable: counters(),
            names: regions.iter().map(|r| r.0.clone()).collect(),
            regions,
            unsigned: AtomicU64::new(0),
            refused: Default::default(),
        })
    }

    /// The status document: per region its address and counts, then the
    /// unsigned and refused requests.
    pub fn status(&self) -> Json {
        let regions: Vec<Json> = self
            .regions
            .iter()
            .enumerate()
            .map(|(i, (name, dynamo))| {
                json!({
                    "region": name,
                    "dynamo": dynamo,
                    "forwarded": self.forwarded[i].load(Ordering::Relaxed),
                    "unreachable": self.unreachable[i].load(Ordering::Relaxed),
                })
            })
            .collect();
        let refused: serde_json::Map<String, Json> = REASONS
            .iter()
            .zip(&self.refused)
            .map(|(r, n)| (r.to_string(), json!(n.load(Ordering::Relaxed))))
            .collect();
        json!({
            "listen": self.listen.to_string(),
            "unsigned_to": self.regions[0].0,
            "regions": regions,
            "unsigned": self.unsigned.load(Ordering::Relaxed),
            "refused": refused,
        })
    }

    /// The counters in Prometheus's text format.
    pub fn metrics(&self) -> String {
        let mut out = String::from(
            "# HELP meridian_edge_requests_total Requests the edge passed to a region: answered by it (forwarded) or not reaching it (unreachable, answered 503).\n\
             # TYPE meridian_edge_requests_total counter\n",
        );
        for (i, (name, _)) in self.regions.iter().enumerate() {
            for (outcome, n) in [
                ("forwarded", &self.forwarded[i]),
                ("unreachable", &self.unreachable[i]),
            ] {
                out.push_str(&format!(
                    "meridian_edge_requests_total{{region=\"{name}\",outcome=\"{outcome}\"}} {}\n",
                    n.load(Ordering::Relaxed)
                ));
            }
        }
        out.push_str(&format!(
            "# HELP meridian_edge_unsigned_total Requests without a signature, sent to the first region ({}).\n\
             # TYPE meridian_edge_unsigned_total counter\n\
             meridian_edge_unsigned_total {}\n",
            self.regions[0].0,
            self.unsigned.load(Ordering::Relaxed)
        ));
        out.push_str(
            "# HELP meridian_edge_refused_total Requests refused and forwarded nowhere, by reason.\n\
             # TYPE meridian_edge_refused_total counter\n",
        );
        for (reason, n) in REASONS.iter().zip(&self.refused) {
            out.push_str(&format!(
                "meridian_edge_refused_total{{reason=\"{reason}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        out
    }

    /// `GET /metrics` and `GET /meridian/edge`, answered here.
    fn own(&self, head: &Parts) -> Option<Answer> {
        if head.method != Method::GET {
            return None;
        }
        let (body, kind) = match head.uri.path() {
            "/metrics" => (self.metrics(), "text/plain; version=0.0.4"),
            STATUS_PATH => (self.status().to_string(), "application/json"),
            _ => return None,
        };
        let mut res = Response::new(Full::new(Bytes::from(body)));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        Some(res)
    }
}

impl Router for Edge {
    fn what(&self) -> &'static str {
        "the edge"
    }

    fn route(&self, head: &Parts) -> Decision {
        if let Some(answer) = self.own(head) {
            return Decision::Answer(answer);
        }
        let authorization = head
            .headers
            .get(header::AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{fffd}"));
        match route::decide(authorization, head.uri.query(), &self.names) {
            Ok(to) => {
                if !to.signed {
                    self.unsigned.fetch_add(1, Ordering::Relaxed);
                }
                let (name, dynamo) = &self.regions[to.index];
                Decision::Forward(Upstream {
                    index: to.index,
                    name: name.clone(),
                    dynamo: dynamo.clone(),
                })
            }
            Err(refusal) => {
                self.refused[refusal.index()].fetch_add(1, Ordering::Relaxed);
                let (status, kind, message) = refusal.answer();
                Decision::Answer(passthrough::error(status, kind, message))
            }
        }
    }

    fn forwarded(&self, to: &Upstream, ok: bool, _: std::time::Duration) {
        let c = if ok {
            &self.forwarded
        } else {
            &self.unreachable
        };
        c[to.index].fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the edge of `file`'s `[edge]` section, if it has one: binds its
/// address (a taken port fails here, naming it) and serves it (worker
/// `edge`) until `stop`; its task joins `tasks`.
pub async fn start(
    file: &ClusterFile,
    workers: &Arc<Workers>,
    stop: &Stop,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<Option<Arc<Edge>>> {
    let Some(section) = &file.edge else {
        return Ok(None);
    };
    let edge = Arc::new(Edge::new(file, section.listen)?);
    let listener = tokio::net::TcpListener::bind(section.listen)
        .await
        .map_err(ClusterError::io(format!(
            "binding the edge on {} (edge.listen; is another `meridian up` or LocalStack running? \
             `meridian up --no-edge` runs without it)",
            section.listen
        )))?;
    let served = edge.clone();
    tasks.push(workers.spawn("edge", stop, |w, stop| async move {
        w.running();
        passthrough::serve(served, listener, stop).await
    }));
    Ok(Some(edge))
}

/// The status document of the edge of `section`, as its own listener
/// serves it (`meridian status` and the dashboard read it so).
pub async fn fetch_status(section: &meridian_region::EdgeSection) -> Result<Json> {
    let at = dial(section.listen);
    let r = crate::http::get(
        &format!("http://{at}{STATUS_PATH}"),
        1 << 20,
        std::time::Duration::from_secs(2),
    )
    .await?;
    if !r.ok() {
        return Err(ClusterError::Failed(format!(
            "the edge on {at} answered HTTP {}",
            r.status
        )));
    }
    serde_json::from_slice(&r.body)
        .map_err(|e| ClusterError::Failed(format!("the edge on {at} answered no JSON: {e}")))
}

/// One line on the edge's status document, for `meridian status`.
pub fn status_line(doc: &Json) -> String {
    let regions: Vec<String> = doc["regions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| format!("{} {}", r["region"].as_str().unwrap_or("?"), r["forwarded"]))
        .collect();
    let unreachable: u64 = doc["regions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["unreachable"].as_u64())
        .sum();
    let refused: Vec<String> = REASONS
        .iter()
        .map(|r| format!("{} {}", r.replace('_', " "), doc["refused"][r]))
        .collect();
    format!(
        "edge http://{}  forwarded: {} ({} unsigned, to {})  unreachable {}  refused: {}",
        doc["listen"].as_str().unwrap_or("?"),
        regions.join(", "),
        doc["unsigned"],
        doc["unsigned_to"].as_str().unwrap_or("?"),
        unreachable,
        refused.join(", ")
    )
}
