//! The cluster's alarms as the control API serves them: `meridian up`
//! evaluates its cluster file's `[[alarm]]` tables
//! (`meridian_drill::cluster_alarms`) and publishes each new state on an
//! [`AlarmBoard`]; `GET /meridian/alarms` answers with the newest, for the
//! dashboard and `meridian alarms`. This crate only holds the document:
//! the evaluation is the drill's, one mechanism for both.
//!
//! Without alarms (none declared, or a process that evaluates none) the
//! route answers 404 saying so, as the failover routes do.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meridian_netsim::api::error;
use serde_json::Value as Json;

/// The document's path.
pub const ALARMS_PATH: &str = "/meridian/alarms";

/// The newest alarms document, shared by the evaluator that writes it and
/// the route that serves it; `None` while nothing evaluates alarms.
#[derive(Clone, Default)]
pub struct AlarmBoard(Arc<Mutex<Option<Json>>>);

impl AlarmBoard {
    pub fn publish(&self, doc: Json) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(doc);
    }

    pub fn latest(&self) -> Option<Json> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `GET /meridian/alarms` of `board`.
pub fn routes(board: AlarmBoard) -> axum::Router {
    axum::Router::new()
        .route(ALARMS_PATH, get(alarms))
        .with_state(board)
}

async fn alarms(State(board): State<AlarmBoard>) -> Response {
    match board.latest() {
        Some(doc) => axum::Json(doc).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "this control API serves no alarms: the cluster file declares no [[alarm]] table (docs/drills.md)",
        ),
    }
}
