//! The live dashboard `meridian up` serves on loopback (docs/dashboard.md):
//! one small HTML page with its script and styles compiled into the binary,
//! a JSON snapshot of the cluster, its recent history, and server-sent
//! events that push a new sample every second and each region's counters
//! as they change.
//!
//! It adds no source of truth of its own. What it shows comes from what
//! the regions and the link proxy already expose, gathered exactly as
//! `meridian net show` gathers it ([`crate::net::show`]: admin Status of
//! every region and the control API's proxies and processes); what it
//! changes goes through `meridian net`'s own parser and executor
//! ([`crate::net::execute`]), so the page, the CLI and a drill always
//! agree on what a fault means and which input is refused.
//!
//! - [`board`]: the state every part reads (the cluster, the admin token,
//!   the samples, the drill started), a leaf below them all;
//! - [`sample`]: the sampler and the history the plots draw;
//! - [`pulse`]: the regions' counters pushed as they change, while a page
//!   is open;
//! - [`actions`]: the commands the page sends, checked by the admin token;
//! - [`read`]: what the page reads from the regions on demand (conflicts,
//!   tables);
//! - [`story`]: one key in every region, with its writes, shipments and
//!   conflicts;
//! - [`drills`]: scenario files run by `meridian drill run`, and their
//!   reports.

mod actions;
mod board;
mod drills;
mod pulse;
mod read;
mod sample;
mod story;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meridian_region::ClusterFile;

use board::{Board, error};

/// The page, its script and its styles: hand-written, no framework, so the
/// first paint needs only these three small files.
const INDEX_HTML: &str = include_str!("dashboard/assets/index.html");
const APP_JS: &str = include_str!("dashboard/assets/app.js");
const APP_CSS: &str = include_str!("dashboard/assets/app.css");

/// Where `meridian up` serves the dashboard unless told otherwise.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7180);

/// Where the dashboard may listen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reach {
    /// On loopback only, since the page shows the cluster to whoever can
    /// reach it (and acts on it where the cluster has no admin token).
    Loopback,
    /// Anywhere, in a container: it must listen on the container's own
    /// interface for Docker to forward a published port to it, and what
    /// reaches that interface is what the compose file publishes (on the
    /// host's 127.0.0.1) and the containers of its internal network.
    Container,
}

/// Binds the dashboard's listener at `addr` (given by `flag`), refusing an
/// address off loopback unless `reach` is [`Reach::Container`]. Without an
/// address it takes [`DEFAULT_ADDR`], or a free port when that one is taken
/// (another cluster's dashboard): the dashboard never keeps a cluster from
/// starting unless its address was asked for.
pub async fn bind(
    addr: Option<SocketAddr>,
    flag: &str,
    reach: Reach,
) -> Result<tokio::net::TcpListener> {
    let Some(addr) = addr else {
        return match tokio::net::TcpListener::bind(DEFAULT_ADDR).await {
            Ok(l) => Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let l = tokio::net::TcpListener::bind((DEFAULT_ADDR.ip(), 0))
                    .await
                    .with_context(|| format!("{flag}: binding a free loopback port"))?;
                eprintln!(
                    "the dashboard's port {} is taken; it serves on {} instead",
                    DEFAULT_ADDR.port(),
                    l.local_addr()?
                );
                Ok(l)
            }
            Err(e) => Err(e).with_context(|| format!("{flag}: binding {DEFAULT_ADDR}")),
        };
    };
    if reach == Reach::Loopback && !addr.ip().is_loopback() {
        bail!(
            "{flag}: {addr} is not a loopback address; the dashboard serves this machine only (e.g. {DEFAULT_ADDR})"
        );
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{flag}: binding {addr} (give another port)"))
}

/// `meridian dashboard`: the dashboard of a cluster that runs already
/// (under `meridian up` elsewhere, or compose), served by the same code as
/// `meridian up`'s until Ctrl-C or SIGTERM.
pub async fn standalone(
    config: &std::path::Path,
    listen: Option<SocketAddr>,
    reach: Reach,
) -> Result<()> {
    let cluster = crate::load_cluster(config)?;
    let listener = bind(listen, "--listen", reach).await?;
    let addr = listener.local_addr()?;
    let token = cluster.client_admin_token()?;
    match reach {
        Reach::Loopback => println!("Dashboard: {}", url(addr, token.as_deref())),
        // Its own address means nothing outside the container: the page is
        // where the port is published (127.0.0.1:7180 with compose.yaml).
        Reach::Container => println!(
            "Dashboard of cluster {:?} listening on {addr} in this container; open the address its port is published on{}",
            cluster.name,
            if token.is_some() {
                ", with #token=<the cluster's admin token>"
            } else {
                ""
            }
        ),
    }
    serve(cluster, listener, crate::stop_signal()).await
}

/// The URL to open: with the admin token in its fragment, which the page
/// keeps and sends with every action, and which never reaches a server log.
pub fn url(addr: SocketAddr, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("http://{addr}/#token={t}"),
        None => format!("http://{addr}/"),
    }
}

/// Serves the dashboard of `cluster` on `listener` until `shutdown`.
pub async fn serve(
    cluster: ClusterFile,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let board = Board::new(cluster)?;
    let sampler = tokio::spawn(sample::run(board.clone()));
    let pulses = tokio::spawn(pulse::run(board.clone()));
    let app = router(board.clone());
    let closed = board.clone();
    let closing = async move {
        shutdown.await;
        closed.samples.close();
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(closing)
        .await;
    sampler.abort();
    pulses.abort();
    board.drills.stop();
    served.context("serving the dashboard")
}

fn router(board: Arc<Board>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { page("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { page("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/api/snapshot", get(sample::snapshot))
        .route("/api/history", get(sample::history))
        .route("/api/events", get(sample::events))
        .route("/api/conflicts", get(read::conflicts))
        .route("/api/key", get(story::key))
        .route("/api/tables", get(read::tables))
        .route("/api/drills", get(drills::list).post(drills::start))
        .route("/api/drills/live", get(drills::live))
        .route("/api/drills/report/{name}", get(drills::report))
        .route("/api/net", post(actions::net))
        .with_state(board)
        .layer(axum::middleware::from_fn(same_host))
}

fn page(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// Answers only requests addressed to a loopback name: a page elsewhere
/// that has a DNS name resolve to 127.0.0.1 (DNS rebinding) gets nothing.
async fn same_host(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
        return error(
            StatusCode::FORBIDDEN,
            format!("Host {host:?}: the dashboard answers only to 127.0.0.1, localhost or [::1]"),
        );
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_is_served() {
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let e = bind(Some(any), "--dashboard", Reach::Loopback)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not a loopback address"), "{e:#}");
        assert!(e.to_string().starts_with("--dashboard: "), "{e:#}");
        // In a container, where Docker forwards to the container's own
        // interface, any address is taken.
        let l = bind(Some(any), "--listen", Reach::Container).await.unwrap();
        assert!(l.local_addr().unwrap().ip().is_unspecified());
        let l = bind(
            Some("127.0.0.1:0".parse().unwrap()),
            "--listen",
            Reach::Loopback,
        )
        .await
        .unwrap();
        let addr = l.local_addr().unwrap();
        // Asked for and taken: refused, naming the address.
        let e = bind(Some(addr), "--listen", Reach::Loopback)
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains(&addr.to_string()), "{e:#}");
    }

    #[test]
    fn the_url_carries_the_token_in_its_fragment() {
        let a: SocketAddr = "127.0.0.1:7180".parse().unwrap();
        assert_eq!(url(a, Some("t0k")), "http://127.0.0.1:7180/#token=t0k");
        assert_eq!(url(a, None), "http://127.0.0.1:7180/");
    }
}
