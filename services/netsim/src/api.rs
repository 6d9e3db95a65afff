//! The control API, compatible with Toxiproxy's (default port 8474):
//!
//! | method and path | does |
//! |---|---|
//! | `GET /version` | the server version |
//! | `GET /proxies` | every proxy, by name, with its toxics |
//! | `POST /proxies` | create `{name, listen, upstream, enabled}` |
//! | `POST /populate` | create or replace a list of proxies |
//! | `GET /proxies/{p}` | one proxy |
//! | `POST /proxies/{p}` | update `enabled` (and `listen`/`upstream`) |
//! | `DELETE /proxies/{p}` | delete |
//! | `POST /reset` | enable every proxy, remove every toxic |
//! | `GET /proxies/{p}/toxics` | the proxy's toxics |
//! | `POST /proxies/{p}/toxics` | add `{name, type, stream, toxicity, attributes}` |
//! | `GET /proxies/{p}/toxics/{t}` | one toxic |
//! | `POST /proxies/{p}/toxics/{t}` | update its attributes, toxicity or stream |
//! | `DELETE /proxies/{p}/toxics/{t}` | remove it |
//!
//! Errors are `{"error": "...", "status": N}`, as in Toxiproxy.
//!
//! Faults that heal themselves (a Meridian extension Toxiproxy clients may
//! ignore): `for_ms` beside a toxic's fields, on add or update, removes it
//! that many milliseconds later (`null` on update keeps it for good; absent,
//! the current end stands); `for_ms` beside `"enabled": false` on a proxy
//! enables it again then. The proxy's own timer does it, whether or not a
//! client is connected; a toxic shows `remaining_ms` and a proxy
//! `enable_in_ms` until then.
//!
//! Meridian's extensions, present only when a [`Supervisor`] is attached
//! ([`router_with`]; `meridian up` attaches one):
//!
//! | method and path | does |
//! |---|---|
//! | `GET /meridian/regions` | every region: name, grpc, pid, state (`running`, `crashed`, `exited`) |
//! | `POST /meridian/regions/{r}/crash` | SIGKILL of the region's process |
//! | `POST /meridian/regions/{r}/restart` | start it again on its data directory; 409 if it runs |
//!
//! Routes of what else the API's process serves (`meridian up`'s failover
//! endpoint: `/meridian/failover`, docs/failover.md) come in as one more
//! router ([`router_with`]'s `more`), served behind the same admin token
//! and load limit; this crate knows nothing of them.

use std::sync::Arc;
use std::time::Duration;

use axum::Json as AxumJson;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;

use crate::proxy::ProxyState;
use crate::supervisor::{RegionProcess, Supervisor, SupervisorError};
use crate::toxic::{Effect, Stream, Toxic};
use crate::{Proxy, ProxyError, Registry, RegistryError};

pub const VERSION: &str = "2.12.0-meridian";

/// Requests the API works on at once; one more is answered 503 at once,
/// so a flood of control calls cannot queue without bound.
pub const MAX_IN_FLIGHT: usize = 256;
/// Longest a request may take: a restart waits for the region's process
/// to start.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The Toxiproxy-compatible API alone.
pub fn router(registry: Registry) -> axum::Router {
    router_with(registry, None, None, None)
}

/// The API, plus the `/meridian/regions` routes when `supervisor` is given
/// and the routes of `more` (the caller's own, answering in the API's error
/// format). With `token` (the cluster's admin token), calls that change
/// anything take it, except from loopback ([`guard`]).
pub fn router_with(
    registry: Registry,
    supervisor: Option<Arc<dyn Supervisor>>,
    more: Option<axum::Router>,
    token: Option<Arc<str>>,
) -> axum::Router {
    let mut proxies = proxy_routes(registry);
    if let Some(more) = more {
        proxies = proxies.merge(more);
    }
    match supervisor {
        Some(s) => proxies.merge(
            axum::Router::new()
                .route("/meridian/regions", get(regions))
                .route("/meridian/regions/{region}/crash", post(crash))
                .route("/meridian/regions/{region}/restart", post(restart))
                .with_state(s),
        ),
        None => proxies,
    }
    .fallback(not_found)
    .layer(axum::middleware::from_fn(move |req, next| {
        guard(token.clone(), req, next)
    }))
    .layer(axum::middleware::from_fn({
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        move |req, next| limit_load(permits.clone(), req, next)
    }))
}

/// Calls that change links or regions take the cluster's admin token
/// (`Authorization: Bearer …`) from anywhere but loopback: Toxiproxy's
/// clients send no token, so on the API's own machine they work as they do
/// against Toxiproxy, while a container or host elsewhere that reaches the
/// port cannot cut links or crash regions without it. A token that is sent
/// must be right, from anywhere; reads (`GET`) stay open.
async fn guard(
    token: Option<Arc<str>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = token else {
        return next.run(req).await;
    };
    let sent = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_string());
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let call = format!("{} {}", req.method(), req.uri().path());
    let refuse = |why: String| {
        tracing::warn!(%call, peer = ?peer, reason = %why, "control API call refused");
        ApiError(StatusCode::UNAUTHORIZED, format!("{call}: {why}")).into_response()
    };
    match sent {
        Some(s) if !meridian_core::secret::same_secret(s.as_bytes(), token.as_bytes()) => {
            refuse("the admin token sent does not match the cluster's".into())
        }
        Some(_) => next.run(req).await,
        None if req.method() == axum::http::Method::GET
            || peer.is_some_and(|p| p.ip().is_loopback()) =>
        {
            next.run(req).await
        }
        None => refuse(format!(
            "calls that change links or regions from {} take the cluster's admin token (Authorization: Bearer <token>)",
            peer.map(|p| p.ip().to_string())
                .unwrap_or_else(|| "an unknown address".into())
        )),
    }
}

/// Sheds load past [`MAX_IN_FLIGHT`] (503) and bounds each request by
/// [`REQUEST_TIMEOUT`] (504), in the API's error format.
async fn limit_load(
    permits: Arc<tokio::sync::Semaphore>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(_permit) = permits.try_acquire_owned() else {
        return ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the control API is working on {MAX_IN_FLIGHT} requests, its limit; retry later"
            ),
        )
        .into_response();
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(answer) => answer,
        Err(_) => ApiError(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the request did not finish within {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Unknown routes answer in the API's error format. Without a supervisor the
/// region routes do not exist; say why, since clients reach for them.
async fn not_found(uri: axum::http::Uri) -> ApiError {
    if uri.path().starts_with("/meridian/regions") {
        ApiError(
            StatusCode::NOT_FOUND,
            "this control API does not supervise region processes (it is a bare `meridian netsim`); \
             crash and restart regions with docker kill / docker start, or run `meridian up`"
                .into(),
        )
    } else {
        ApiError(StatusCode::NOT_FOUND, format!("no route {}", uri.path()))
    }
}

fn proxy_routes(registry: Registry) -> axum::Router {
    axum::Router::new()
        .route("/version", get(|| async { VERSION }))
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route("/reset", post(reset))
        .route("/proxies/{proxy}", get(show).post(update).delete(delete))
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).post(update_toxic).delete(delete_toxic),
        )
        .with_state(registry)
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    registry: Registry,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(registry, None, None, None, listener, shutdown).await
}

/// Serves the API with an optional [`Supervisor`] and routes of the
/// caller's ([`router_with`]) until `shutdown` resolves.
pub async fn serve_with(
    registry: Registry,
    supervisor: Option<Arc<dyn Supervisor>>,
    more: Option<axum::Router>,
    token: Option<Arc<str>>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The caller's address decides whether a call needs the token.
    let app = router_with(registry, supervisor, more, token)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            AxumJson(json!({"error": self.1, "status": self.0.as_u16()})),
        )
            .into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let status = match &e {
            RegistryError::Exists | RegistryError::Proxy(ProxyError::ToxicExists(_)) => {
                StatusCode::CONFLICT
            }
            RegistryError::NotFound | RegistryError::Proxy(ProxyError::ToxicNotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            RegistryError::Proxy(ProxyError::Listen { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
            RegistryError::Invalid(_) | RegistryError::Toxic(_) => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.to_string())
    }
}

impl From<SupervisorError> for ApiError {
    fn from(e: SupervisorError) -> Self {
        let status = match &e {
            SupervisorError::Unknown { .. } => StatusCode::NOT_FOUND,
            SupervisorError::AlreadyRunning { .. } | SupervisorError::NotRunning { .. } => {
                StatusCode::CONFLICT
            }
            SupervisorError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// An answer in the API's error format (`{"error": ..., "status": N}`), for
/// the routes a caller merges in ([`router_with`]).
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError(status, message.into()).into_response()
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Longest a fault may be given to heal itself: one day.
pub const MAX_FOR_MS: u64 = 86_400_000;

/// Milliseconds from now until `at`, rounded up: never 0 while it lasts.
fn ms_until(at: Instant) -> u64 {
    let left = at.saturating_duration_since(Instant::now());
    left.as_millis() as u64 + u64::from(!left.subsec_nanos().is_multiple_of(1_000_000))
}

fn toxic_json(t: &Toxic, s: &ProxyState) -> Json {
    let mut j = json!({
        "name": t.name,
        "type": t.effect.kind(),
        "stream": t.stream,
        "toxicity": t.toxicity,
        "attributes": t.effect.attributes(),
    });
    if let Some(at) = s.expires.get(&t.name) {
        j["remaining_ms"] = json!(ms_until(*at));
    }
    j
}

fn proxy_json(p: &Proxy) -> Json {
    let s = p.state();
    let mut j = json!({
        "name": p.name,
        "listen": p.listen.to_string(),
        "upstream": p.upstream,
        "enabled": s.enabled,
        "toxics": s.toxics.iter().map(|t| toxic_json(t, &s)).collect::<Vec<_>>(),
    });
    if let Some(at) = s.enable_at {
        j["enable_in_ms"] = json!(ms_until(at));
    }
    j
}

/// `for_ms`: absent (`None`), `null` (`Some(None)`: for good), or when the
/// fault ends.
fn parse_for(m: &Map<String, Json>) -> ApiResult<Option<Option<Instant>>> {
    match m.get("for_ms") {
        None => Ok(None),
        Some(Json::Null) => Ok(Some(None)),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_FOR_MS).contains(n))
            .map(|n| Some(Some(Instant::now() + Duration::from_millis(n))))
            .ok_or_else(|| {
                bad(format!(
                    "for_ms must be a whole number of milliseconds from 1 to {MAX_FOR_MS} (one day), got {v}"
                ))
            }),
    }
}

fn body(j: Json) -> ApiResult<Map<String, Json>> {
    match j {
        Json::Object(m) => Ok(m),
        _ => Err(bad("request body must be a JSON object")),
    }
}

fn str_field<'a>(m: &'a Map<String, Json>, k: &str) -> ApiResult<Option<&'a str>> {
    match m.get(k) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{k} must be a string"))),
    }
}

async fn list(State(r): State<Registry>) -> AxumJson<Json> {
    AxumJson(Json::Object(
        r.list()
            .iter()
            .map(|p| (p.name.clone(), proxy_json(p)))
            .collect(),
    ))
}

async fn create_one(r: &Registry, m: &Map<String, Json>) -> ApiResult<Arc<Proxy>> {
    let name = str_field(m, "name")?.unwrap_or_default();
    let listen = str_field(m, "listen")?.unwrap_or("127.0.0.1:0");
    let upstream = str_field(m, "upstream")?.unwrap_or_default();
    let enabled = m.get("enabled").and_then(Json::as_bool).unwrap_or(true);
    Ok(r.create(name, listen, upstream, enabled).await?)
}

async fn create(
    State(r): State<Registry>,
    AxumJson(j): AxumJson<Json>,
) -> ApiResult<(StatusCode, AxumJson<Json>)> {
    let p = create_one(&r, &body(j)?).await?;
    Ok((StatusCode::CREATED, AxumJson(proxy_json(&p))))
}

async fn populate(
    State(r): State<Registry>,
    AxumJson(j): AxumJson<Json>,
) -> ApiResult<(StatusCode, AxumJson<Json>)> {
    let list = match j {
        Json::Array(a) => a,
        Json::Object(mut m) => match m.remove("proxies") {
            Some(Json::Array(a)) => a,
            _ => return Err(bad("populate takes a list of proxies")),
        },
        _ => return Err(bad("populate takes a list of proxies")),
    };
    let mut out = Vec::new();
    for p in list {
        let m = body(p)?;
        if let Some(name) = str_field(&m, "name")?
            && r.get(name).is_ok()
        {
            r.delete(name)?;
        }
        out.push(proxy_json(&*create_one(&r, &m).await?));
    }
    Ok((StatusCode::CREATED, AxumJson(json!({"proxies": out}))))
}

async fn reset(State(r): State<Registry>) -> ApiResult<StatusCode> {
    r.reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn show(State(r): State<Registry>, Path(name): Path<String>) -> ApiResult<AxumJson<Json>> {
    Ok(AxumJson(proxy_json(&*r.get(&name)?)))
}

async fn update(
    State(r): State<Registry>,
    Path(name): Path<String>,
    AxumJson(j): AxumJson<Json>,
) -> ApiResult<AxumJson<Json>> {
    let m = body(j)?;
    let enabled = m.get("enabled").and_then(Json::as_bool);
    let ends = parse_for(&m)?;
    if matches!(ends, Some(Some(_))) && enabled != Some(false) {
        return Err(bad(
            "for_ms goes with \"enabled\": false: the proxy is enabled again when it ends",
        ));
    }
    let mut proxy = r.get(&name)?;
    let listen = str_field(&m, "listen")?
        .filter(|l| *l != proxy.listen_spec && *l != proxy.listen.to_string());
    let upstream = str_field(&m, "upstream")?.filter(|u| *u != proxy.upstream);
    if listen.is_some() || upstream.is_some() {
        // A new address is a new proxy under the same name, toxics kept.
        let state = proxy.state();
        let listen = listen
            .map(str::to_string)
            .unwrap_or_else(|| proxy.listen.to_string());
        let upstream = upstream
            .map(str::to_string)
            .unwrap_or_else(|| proxy.upstream.clone());
        r.delete(&name)?;
        proxy = r.create(&name, &listen, &upstream, state.enabled).await?;
        for t in state.toxics {
            proxy.add_toxic(t).map_err(RegistryError::from)?;
        }
        for (t, at) in state.expires {
            proxy
                .expire_toxic(&t, Some(at))
                .map_err(RegistryError::from)?;
        }
    }
    match (enabled, ends) {
        (Some(false), Some(Some(at))) => proxy.disable_until(at).await,
        (Some(enabled), _) => proxy.set_enabled(enabled).await,
        (None, _) => Ok(()),
    }
    .map_err(RegistryError::from)?;
    Ok(AxumJson(proxy_json(&proxy)))
}

async fn delete(State(r): State<Registry>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    r.delete(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn toxics(State(r): State<Registry>, Path(name): Path<String>) -> ApiResult<AxumJson<Json>> {
    let p = r.get(&name)?;
    Ok(AxumJson(Json::Array({
        let s = p.state();
        s.toxics.iter().map(|t| toxic_json(t, &s)).collect()
    })))
}

fn parse_stream(m: &Map<String, Json>) -> ApiResult<Option<Stream>> {
    match str_field(m, "stream")? {
        None => Ok(None),
        Some("upstream") => Ok(Some(Stream::Upstream)),
        Some("downstream") => Ok(Some(Stream::Downstream)),
        Some(other) => Err(bad(format!(
            "stream must be upstream or downstream, got {other:?}"
        ))),
    }
}

fn parse_toxicity(m: &Map<String, Json>) -> ApiResult<Option<f64>> {
    match m.get("toxicity") {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|t| (0.0..=1.0).contains(t))
            .map(Some)
            .ok_or_else(|| bad(format!("toxicity must be a number from 0 to 1, got {v}"))),
    }
}

fn attributes(m: &Map<String, Json>) -> ApiResult<Map<String, Json>> {
    match m.get("attributes") {
        None | Some(Json::Null) => Ok(Map::new()),
        Some(Json::Object(a)) => Ok(a.clone()),
        Some(_) => Err(bad("attributes must be an object")),
    }
}

async fn add_toxic(
    State(r): State<Registry>,
    Path(name): Path<String>,
    AxumJson(j): AxumJson<Json>,
) -> ApiResult<AxumJson<Json>> {
    let m = body(j)?;
    let p = r.get(&name)?;
    let kind = str_field(&m, "type")?.ok_or_else(|| bad("missing required field: type"))?;
    let stream = parse_stream(&m)?.unwrap_or(Stream::Downstream);
    let effect = Effect::parse(kind, &attributes(&m)?).map_err(RegistryError::from)?;
    let toxic_name = str_field(&m, "name")?
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{kind}_{}",
                if stream == Stream::Upstream {
                    "upstream"
                } else {
                    "downstream"
                }
            )
        });
    let toxic = Toxic {
        name: toxic_name,
        stream,
        toxicity: parse_toxicity(&m)?.unwrap_or(1.0),
        effect,
    };
    let ends = parse_for(&m)?.flatten();
    let t = p.add_toxic(toxic).map_err(RegistryError::from)?;
    if ends.is_some() {
        p.expire_toxic(&t.name, ends).map_err(RegistryError::from)?;
    }
    Ok(AxumJson(toxic_json(&t, &p.state())))
}

async fn show_toxic(
    State(r): State<Registry>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult<AxumJson<Json>> {
    let p = r.get(&name)?;
    let state = p.state();
    let t = state
        .toxics
        .iter()
        .find(|t| t.name == toxic)
        .ok_or_else(|| {
            ApiError::from(RegistryError::Proxy(ProxyError::ToxicNotFound(
                toxic.clone(),
            )))
        })?;
    Ok(AxumJson(toxic_json(t, &state)))
}

async fn update_toxic(
    State(r): State<Registry>,
    Path((name, toxic)): Path<(String, String)>,
    AxumJson(j): AxumJson<Json>,
) -> ApiResult<AxumJson<Json>> {
    let m = body(j)?;
    let p = r.get(&name)?;
    let current = p
        .state()
        .toxics
        .into_iter()
        .find(|t| t.name == toxic)
        .ok_or_else(|| {
            ApiError::from(RegistryError::Proxy(ProxyError::ToxicNotFound(
                toxic.clone(),
            )))
        })?;
    // Attributes not given keep their values.
    let mut attrs = match current.effect.attributes() {
        Json::Object(a) => a,
        _ => Map::new(),
    };
    attrs.extend(attributes(&m)?);
    let mut effect = Effect::parse(current.effect.kind(), &attrs).map_err(RegistryError::from)?;
    // A flap's phase counts from when the toxic was added, not updated.
    if let (Effect::Flap { since: was, .. }, Effect::Flap { since, .. }) =
        (&current.effect, &mut effect)
    {
        *since = *was;
    }
    let stream = parse_stream(&m)?;
    let toxicity = parse_toxicity(&m)?;
    let ends = parse_for(&m)?;
    let t = p
        .update_toxic(&toxic, |t| {
            t.effect = effect;
            if let Some(s) = stream {
                t.stream = s;
            }
            if let Some(x) = toxicity {
                t.toxicity = x;
            }
        })
        .map_err(RegistryError::from)?;
    if let Some(ends) = ends {
        p.expire_toxic(&t.name, ends).map_err(RegistryError::from)?;
    }
    Ok(AxumJson(toxic_json(&t, &p.state())))
}

async fn delete_toxic(
    State(r): State<Registry>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    r.get(&name)?
        .remove_toxic(&toxic)
        .map_err(RegistryError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

type Sup = Arc<dyn Supervisor>;

#[derive(serde::Serialize)]
struct Regions {
    regions: Vec<RegionProcess>,
}

async fn regions(State(s): State<Sup>) -> AxumJson<Regions> {
    AxumJson(Regions {
        regions: s.regions().await,
    })
}

async fn crash(
    State(s): State<Sup>,
    Path(region): Path<String>,
) -> ApiResult<AxumJson<RegionProcess>> {
    let p = s.crash(&region).await?;
    tracing::warn!(region = %region, pid = ?p.pid, "region crashed through the control API");
    Ok(AxumJson(p))
}

async fn restart(
    State(s): State<Sup>,
    Path(region): Path<String>,
) -> ApiResult<AxumJson<RegionProcess>> {
    let p = s.restart(&region).await?;
    tracing::info!(region = %region, pid = ?p.pid, "region restarted through the control API");
    Ok(AxumJson(p))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::supervisor::{BoxFuture, ProcessState};

    /// Regions in memory: crash and restart only flip states.
    struct Fake(Mutex<Vec<RegionProcess>>);

    impl Fake {
        fn with(
            &self,
            name: &str,
            f: impl FnOnce(&mut RegionProcess) -> Result<(), SupervisorError>,
        ) -> Result<RegionProcess, SupervisorError> {
            let mut all = self.0.lock().unwrap();
            let known = all
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
                .join(", ");
            let r = all
                .iter_mut()
                .find(|r| r.name == name)
                .ok_or(SupervisorError::Unknown {
                    name: name.into(),
                    known,
                })?;
            f(r)?;
            Ok(r.clone())
        }
    }

    impl Supervisor for Fake {
        fn regions(&self) -> BoxFuture<'_, Vec<RegionProcess>> {
            Box::pin(async move { self.0.lock().unwrap().clone() })
        }
        fn crash<'a>(
            &'a self,
            name: &'a str,
        ) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>> {
            Box::pin(async move {
                self.with(name, |r| match r.state {
                    ProcessState::Running => {
                        r.state = ProcessState::Crashed;
                        Ok(())
                    }
                    state => Err(SupervisorError::NotRunning {
                        name: r.name.clone(),
                        state,
                    }),
                })
            })
        }
        fn restart<'a>(
            &'a self,
            name: &'a str,
        ) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>> {
            Box::pin(async move {
                self.with(name, |r| match r.state {
                    ProcessState::Running => Err(SupervisorError::AlreadyRunning {
                        name: r.name.clone(),
                        pid: r.pid.unwrap_or(0),
                    }),
                    _ => {
                        r.state = ProcessState::Running;
                        r.pid = r.pid.map(|p| p + 1);
                        Ok(())
                    }
                })
            })
        }
    }

    async fn start(supervisor: Option<Arc<dyn Supervisor>>) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve_with(
            Registry::new(),
            supervisor,
            None,
            None,
            l,
            std::future::pending(),
        ));
        addr
    }

    /// One HTTP/1.1 request; returns the status and the JSON body (Null if none).
    async fn call(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Json) {
        use meridian_cluster::http::{Target, request};
        let r = request(
            &Target::at(&addr.to_string(), path),
            method,
            &[("content-type", "application/json")],
            body.as_bytes().to_vec(),
            1 << 20,
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Json::Null),
        )
    }

    #[tokio::test]
    async fn region_routes_exist_only_with_a_supervisor() {
        let bare = start(None).await;
        let (status, body) = call(bare, "POST", "/meridian/regions/a/crash", "").await;
        assert_eq!(status, 404);
        assert_eq!(body["status"], 404);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("does not supervise region processes"),
            "{body}"
        );
        let (status, body) = call(bare, "GET", "/nope", "").await;
        assert_eq!((status, body["status"].as_u64()), (404, Some(404)));

        let fake = Fake(Mutex::new(vec![RegionProcess {
            name: "a".into(),
            grpc: "127.0.0.1:1".into(),
            pid: Some(10),
            state: ProcessState::Running,
            exit: None,
        }]));
        let api = start(Some(Arc::new(fake))).await;
        let (status, body) = call(api, "GET", "/meridian/regions", "").await;
        assert_eq!(status, 200);
        assert_eq!(body["regions"][0]["state"], "running");
        assert_eq!(body["regions"][0]["pid"], 10);
        let (status, body) = call(api, "POST", "/meridian/regions/a/restart", "").await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("already running"),
            "{body}"
        );
        let (status, body) = call(api, "POST", "/meridian/regions/a/crash", "").await;
        assert_eq!(
            (status, body["state"].as_str()),
            (200, Some("crashed")),
            "{body}"
        );
        let (status, body) = call(api, "POST", "/meridian/regions/a/crash", "").await;
        assert_eq!(status, 409, "{body}");
        let (status, body) = call(api, "POST", "/meridian/regions/a/restart", "").await;
        assert_eq!((status, body["pid"].as_u64()), (200, Some(11)), "{body}");
        let (status, body) = call(api, "POST", "/meridian/regions/zz/crash", "").await;
        assert_eq!((status, body["status"].as_u64()), (404, Some(404)));
        assert!(
            body["error"].as_str().unwrap().contains("known regions: a"),
            "{body}"
        );
        // The Toxiproxy routes are still there.
        let (status, _) = call(api, "GET", "/proxies", "").await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn loss_and_flap_are_added_and_validated_through_the_api() {
        let api = start(None).await;
        let (status, _) = call(
            api,
            "POST",
            "/proxies",
            r#"{"name": "a>b", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}"#,
        )
        .await;
        assert_eq!(status, 201);
        let (status, body) = call(
            api,
            "POST",
            "/proxies/a%3Eb/toxics",
            r#"{"type": "loss", "stream": "upstream", "attributes": {"percent": 101}}"#,
        )
        .await;
        assert_eq!(status, 400);
        let e = body["error"].as_str().unwrap();
        assert!(
            e.contains("percent") && e.contains("between 0 and 100"),
            "{e}"
        );
        let (status, body) = call(
            api,
            "POST",
            "/proxies/a%3Eb/toxics",
            r#"{"type": "loss", "attributes": {"percent": 2}}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["name"], "loss_downstream");
        assert_eq!(body["attributes"]["rto_ms"], 200);
        let (status, body) = call(
            api,
            "POST",
            "/proxies/a%3Eb/toxics",
            r#"{"name": "f", "type": "flap", "attributes": {"period_ms": 2000, "down_ms": 500}}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["attributes"]["period_ms"], 2000);
        let (status, body) = call(
            api,
            "POST",
            "/proxies/a%3Eb/toxics/f",
            r#"{"attributes": {"down_ms": 2500}}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body["error"].as_str().unwrap().contains("down_ms"),
            "{body}"
        );
    }

    /// One request through the router as a caller at `from` would make it,
    /// with an optional bearer token; returns the status.
    async fn guarded(
        token: Option<&str>,
        from: &str,
        method: &str,
        path: &str,
        bearer: Option<&str>,
    ) -> u16 {
        use tower::ServiceExt;
        let app = router_with(Registry::new(), None, None, token.map(Into::into));
        let mut req = axum::http::Request::builder().method(method).uri(path);
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        let mut req = req.body(axum::body::Body::empty()).unwrap();
        let from: std::net::SocketAddr = from.parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(from));
        app.oneshot(req).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn changes_from_off_the_machine_take_the_admin_token() {
        let t = Some("s3cret");
        // No token configured: open to all, as Toxiproxy is.
        assert_eq!(
            guarded(None, "10.1.2.3:5000", "POST", "/reset", None).await,
            204
        );
        // Loopback: Toxiproxy clients send nothing and pass.
        assert_eq!(
            guarded(t, "127.0.0.1:5000", "POST", "/reset", None).await,
            204
        );
        // Elsewhere: reads pass, changes need the token.
        assert_eq!(
            guarded(t, "10.1.2.3:5000", "GET", "/proxies", None).await,
            200
        );
        assert_eq!(
            guarded(t, "10.1.2.3:5000", "POST", "/reset", None).await,
            401
        );
        assert_eq!(
            guarded(t, "10.1.2.3:5000", "POST", "/reset", Some("s3cret")).await,
            204
        );
        // A wrong token is refused from anywhere, reads included.
        assert_eq!(
            guarded(t, "127.0.0.1:5000", "GET", "/proxies", Some("nope")).await,
            401
        );
    }
}
