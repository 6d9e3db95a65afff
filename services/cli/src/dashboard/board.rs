//! The dashboard's state ([`Board`]): the cluster it shows, the token its
//! actions carry, the samples taken ([`Samples`]) and the drill started
//! from the page ([`Drills`]), with the handlers' shared state and refusal.
//! A leaf below [`super`], which serves it, and below the handlers
//! (`sample`, `drills`, `read`, ...), which all read it: they reach it
//! without a loop through the router.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meridian_cluster::ControlApi;
use meridian_region::ClusterFile;
use serde_json::{Value as Json, json};
use tokio::sync::broadcast;

/// A refusal as the page shows it: `{"error": ...}`.
pub(super) fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// The dashboard's state: the cluster it shows, where its control API is,
/// the token actions must carry, the samples taken and the drill started.
pub struct Board {
    pub(super) cluster: ClusterFile,
    /// The control API (`netsim.api`), `None` for a cluster file without a
    /// `[netsim]` section.
    pub(super) api: Option<String>,
    /// The cluster's admin token, which every action must carry.
    pub(super) token: Option<String>,
    pub(super) samples: Samples,
    pub(super) drills: Drills,
}

impl Board {
    pub fn new(cluster: ClusterFile) -> Result<Arc<Board>> {
        let token = cluster.client_admin_token()?;
        let api = cluster.netsim.as_ref().map(|n| n.api_dial());
        Ok(Arc::new(Board {
            cluster,
            api,
            token,
            samples: Default::default(),
            drills: Default::default(),
        }))
    }

    pub(super) fn control_api(&self) -> ControlApi {
        // Without a [netsim] section the calls fail with the API's own
        // "cannot reach the control API" message, which the page shows.
        ControlApi::new(
            self.api
                .clone()
                .unwrap_or_else(|| "no [netsim] section".into()),
        )
        .with_token(self.token.clone())
    }

    /// Whether a request carries the cluster's admin token (when it has
    /// one), as every action must.
    pub(super) fn authorized(&self, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        match given {
            Some(g) if meridian_core::secret::same_secret(g.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err((
                StatusCode::FORBIDDEN,
                "the admin token given is not the cluster's; open the URL `meridian up` printed".into(),
            )),
            None => Err((
                StatusCode::UNAUTHORIZED,
                "this action changes the cluster, so it takes the cluster's admin token: open the URL `meridian up` printed (it carries the token)".into(),
            )),
        }
    }
}

/// Shared state of the handlers.
pub(super) type Shared = State<Arc<Board>>;

/// The samples taken: the newest, the plot points kept, and the stream of
/// new ones (and of the regions' pulses, [`super::pulse`]) to the open
/// pages.
pub struct Samples {
    pub(super) latest: Mutex<Option<Arc<str>>>,
    pub(super) points: Mutex<VecDeque<Json>>,
    /// Each event's name (`sample` or `pulse`) and data.
    pub(super) events: broadcast::Sender<(&'static str, Arc<str>)>,
    /// How many pages have the event stream open: pulses are followed only
    /// while one is.
    pub(super) viewers: tokio::sync::watch::Sender<usize>,
    /// Set when the server stops: open event streams end then, so a
    /// graceful shutdown does not wait on a page that never leaves.
    pub(super) closing: tokio::sync::watch::Sender<bool>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            latest: Mutex::new(None),
            points: Mutex::new(VecDeque::new()),
            events: broadcast::channel(64).0,
            viewers: tokio::sync::watch::channel(0).0,
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Samples {
    /// The number of pages open, as it changes.
    pub fn viewers(&self) -> tokio::sync::watch::Receiver<usize> {
        self.viewers.subscribe()
    }

    /// Passes a region's pulse on to the open pages.
    pub fn pulse(&self, event: Json) {
        let _ = self.events.send(("pulse", event.to_string().into()));
    }

    /// Ends every open event stream.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub(super) fn record(&self, sample: Json) {
        let point = point(&sample);
        let text: Arc<str> = sample.to_string().into();
        *self.latest.lock().expect("latest") = Some(text.clone());
        {
            let mut points = self.points.lock().expect("points");
            points.push_back(point);
            while points.len() > HISTORY {
                points.pop_front();
            }
        }
        // No receiver is not an error: no page is open.
        let _ = self.events.send(("sample", text));
    }
}

/// Plot points kept: five minutes at one a second.
const HISTORY: usize = 300;

/// What the plots draw of a sample: pending and latency per link,
/// conflicts per region.
fn point(sample: &Json) -> Json {
    let links: Vec<Json> = sample["links"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            json!({"from": l["from"], "to": l["to"], "pending": l["pending"],
                "p50": l["window_p50_ms"], "p99": l["window_p99_ms"]})
        })
        .collect();
    let regions: Vec<Json> = sample["regions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| json!({"name": r["name"], "conflicts": r["conflicts"]}))
        .collect();
    json!({"t_ms": sample["t_ms"], "links": links, "regions": regions})
}

/// The drill started from the page, running or ended.
#[derive(Default)]
pub struct Drills {
    pub(super) current: Mutex<Option<Run>>,
    /// Drills started so far: the next one's number.
    pub(super) started: std::sync::atomic::AtomicU64,
}

pub(super) struct Run {
    /// Which drill since the server started, so a page knows a new one.
    pub(super) id: u64,
    pub(super) scenario: String,
    /// Its progress file, made afresh by the drill.
    pub(super) progress: PathBuf,
    pub(super) path: String,
    pub(super) sim: bool,
    /// Its process group: the drill and the regions it starts.
    pub(super) pgid: Option<i32>,
    pub(super) lines: VecDeque<String>,
    /// Set when it ended: its exit and the summary it printed.
    pub(super) ended: Option<(String, Json)>,
}

impl Run {
    pub(super) fn json(&self) -> Json {
        json!({
            "id": self.id,
            "live": "/api/drills/live",
            "scenario": self.scenario,
            "path": self.path,
            "sim": self.sim,
            "running": self.ended.is_none(),
            "lines": self.lines,
            "exit": self.ended.as_ref().map(|e| &e.0),
            "summary": self.ended.as_ref().map(|e| &e.1),
            "report": format!("/api/drills/report/{}", self.scenario),
        })
    }
}

impl Drills {
    /// Ends a running drill with everything it started.
    pub fn stop(&self) {
        if let Some(run) = self.current.lock().expect("drills").as_ref()
            && run.ended.is_none()
            && let Some(pgid) = run.pgid
        {
            // SAFETY: signals the process group made for the drill at spawn.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plot_point_keeps_pending_latency_and_conflicts() {
        let sample = json!({
            "t_ms": 7,
            "links": [{"from": "a", "to": "b", "pending": 4, "window_p50_ms": 1.5,
                "window_p99_ms": 9.0, "faults": "-"}],
            "regions": [{"name": "a", "conflicts": 2, "status": {}}],
        });
        assert_eq!(
            point(&sample),
            json!({"t_ms": 7,
                "links": [{"from": "a", "to": "b", "pending": 4, "p50": 1.5, "p99": 9.0}],
                "regions": [{"name": "a", "conflicts": 2}]})
        );
    }
}
