//! The failover endpoint's routes, served on the link proxy's control API
//! beside region crashes and restarts (`meridian up` merges them in,
//! [`meridian_netsim::api::router_with`]), behind its admin token:
//!
//! | method and path | does |
//! |---|---|
//! | `GET /meridian/failover` | the status document: active region, health, moves, missing writes (docs/failover.md) |
//! | `POST /meridian/failover/move` | `{"region": R}` moves it to R now, `{}` back home; 409 if R is unhealthy |
//!
//! Without a `[failover]` section both answer 404 saying so, since
//! clients reach for them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use meridian_netsim::api::error;
use serde_json::Value as Json;

use super::endpoint::{Endpoint, MoveError};

/// The status document's path.
pub const STATUS_PATH: &str = "/meridian/failover";
/// Where moves are asked for.
pub const MOVE_PATH: &str = "/meridian/failover/move";

/// The routes of `endpoint`, or the ones that say there is none.
pub fn routes(endpoint: Option<Arc<Endpoint>>) -> axum::Router {
    match endpoint {
        Some(e) => axum::Router::new()
            .route(STATUS_PATH, get(status))
            .route(MOVE_PATH, post(move_to))
            .with_state(e),
        None => axum::Router::new()
            .route(STATUS_PATH, any(absent))
            .route(MOVE_PATH, any(absent)),
    }
}

async fn absent() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this control API serves no failover endpoint: the cluster file has no [failover] section (docs/failover.md)",
    )
}

async fn status(State(e): State<Arc<Endpoint>>) -> axum::Json<Json> {
    axum::Json(e.status())
}

/// `{"region": R}` moves to R, `{}` (or no body) home.
async fn move_to(State(e): State<Arc<Endpoint>>, raw: axum::body::Bytes) -> Response {
    let region = match region_of(&raw) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    match e.move_to(region.as_deref()) {
        Ok(status) => {
            tracing::warn!(to = ?region, "failover endpoint moved through the control API");
            axum::Json(status).into_response()
        }
        Err(refused) => {
            let code = match refused {
                MoveError::Invalid(_) => StatusCode::BAD_REQUEST,
                MoveError::Refused(_) => StatusCode::CONFLICT,
            };
            error(code, refused.to_string())
        }
    }
}

/// The region a move's body names; `None` for home.
fn region_of(raw: &[u8]) -> Result<Option<String>, String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let body: Json = serde_json::from_slice(raw).map_err(|e| format!("request body: {e}"))?;
    let Json::Object(m) = body else {
        return Err("request body must be a JSON object".into());
    };
    match m.get("region") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err("region must be a string".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::http::Request;
    use meridian_layout::failover::FailoverSection;
    use tower::ServiceExt;

    use super::*;
    use crate::failover::endpoint::Region;

    /// A DynamoDB endpoint as a health check sees it: `GET /` answers 200.
    async fn answering() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = l.local_addr().unwrap().to_string();
        let app = axum::Router::new().route("/", get(|| async { "healthy: test" }));
        tokio::spawn(async move { axum::serve(l, app).await });
        at
    }

    /// An address nothing listens on: its checks fail at once.
    async fn silent() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    }

    async fn call(app: &axum::Router, method: &str, path: &str, body: &str) -> (u16, Json) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
    }

    #[tokio::test]
    async fn without_an_endpoint_both_routes_say_there_is_none() {
        let app = routes(None);
        for (method, path) in [("GET", STATUS_PATH), ("POST", MOVE_PATH)] {
            let (status, body) = call(&app, method, path, "").await;
            assert_eq!(status, 404, "{path}");
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("no [failover] section"),
                "{body}"
            );
        }
    }

    #[tokio::test]
    async fn moves_are_asked_for_and_refused_with_their_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["a", "b", "busy"];
        let dynamo = [answering().await, answering().await, silent().await];
        let regions = names
            .iter()
            .zip(dynamo)
            .map(|(n, d)| Region {
                name: n.to_string(),
                dynamo: d,
                data_dir: dir.path().join(n),
            })
            .collect();
        let listen: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut section = FailoverSection::new(listen, names.map(String::from).to_vec());
        section.failure_threshold = 1;
        let endpoint = Arc::new(Endpoint::new(listen, regions, section));
        let app = routes(Some(endpoint.clone()));
        // No move before the home has answered a health check.
        let (status, body) = call(&app, "POST", MOVE_PATH, r#"{"region": "b"}"#).await;
        assert_eq!(status, 409, "{body}");
        assert!(body["error"].as_str().unwrap().contains("has not started"));
        endpoint.round().await;
        let (status, body) = call(&app, "GET", STATUS_PATH, "").await;
        assert_eq!((status, body["active"].as_str()), (200, Some("a")));
        // Each move's body, and the status and active region (or the
        // error's words) it answers.
        let cases = [
            (r#"{"region": "b"}"#, 200, "b"),
            (r#"{"region": "b"}"#, 409, "already forwards to b"),
            ("", 200, "a"),
            (r#"{"region": "zz"}"#, 400, "not in failover.regions"),
            (r#"{"region": "busy"}"#, 409, "busy is not healthy yet"),
            (r#"{"region": 3}"#, 400, "region must be a string"),
            ("[1]", 400, "must be a JSON object"),
        ];
        for (sent, want, says) in cases {
            let (status, body) = call(&app, "POST", MOVE_PATH, sent).await;
            assert_eq!(status, want, "{sent}: {body}");
            let said = match status {
                200 => body["active"].as_str(),
                _ => body["error"].as_str(),
            };
            assert!(said.unwrap_or_default().contains(says), "{sent}: {body}");
        }
        assert_eq!(endpoint.status()["moves"].as_array().unwrap().len(), 2);
    }
}
