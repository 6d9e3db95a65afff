//! Waiting for a cluster, always with a deadline: until a region serves,
//! until every link is drained and every replica agrees. Polls a condition;
//! never sleeps a fixed time in the hope that something happened.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use tonic::transport::{Channel, Endpoint};

/// Why a wait ended without its condition: the caller decides whether
/// another try may help (a deadline passed) or not (the condition said it
/// never will hold, or there is nothing to ask).
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed: `what` did not happen, and the last look said
    /// why.
    #[error("{what} after {within:?}: {last}")]
    TimedOut {
        what: String,
        within: Duration,
        last: String,
    },
    /// The condition will never hold ([`Step::Fail`]).
    #[error("{0}")]
    Failed(String),
    /// The address to ask is not a URL.
    #[error("{url}: {message}")]
    BadUrl { url: String, message: String },
}

/// One look at a condition.
pub enum Step<T> {
    /// It holds.
    Done(T),
    /// Not yet, and why (reported if the deadline passes).
    NotYet(String),
    /// It never will: stop now.
    Fail(String),
}

/// Polls `check` every `every` until it is done, fails, or `within` passes;
/// a timeout reads `"<what> after <within>: <last reason>"`, so `what` says
/// what did not happen ("not quiescent").
pub async fn poll<T, F, Fut>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Step<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match check().await {
            Step::Done(v) => return Ok(v),
            Step::Fail(e) => return Err(WaitError::Failed(e)),
            Step::NotYet(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(WaitError::TimedOut {
                what: what.to_string(),
                within,
                last,
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// A lazily connecting gRPC channel to `url` (`http://host:port`), with
/// short connect and request timeouts, as the control paths want.
pub fn channel(url: &str) -> Result<Channel, WaitError> {
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|e| WaitError::BadUrl {
            url: url.to_string(),
            message: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .connect_lazy())
}

/// Waits until the region whose admin is at `grpc` answers Admin Status. `gone` is asked
/// between attempts whether the region's process has ended (with how), so a
/// region that dies at start fails the wait at once instead of at the
/// deadline. With `pid`, only that process's answer counts: a port picked
/// free can be taken by another cluster's region before ours binds it, and
/// that region would answer for ours. Returns how long it took.
pub async fn serving<G, GF>(
    grpc: SocketAddr,
    within: Duration,
    pid: Option<u32>,
    mut gone: G,
) -> Result<Duration, WaitError>
where
    G: FnMut() -> GF,
    GF: Future<Output = Option<String>>,
{
    let start = tokio::time::Instant::now();
    let url = format!("http://{grpc}");
    let ch = channel(&url)?;
    poll(
        &format!("not serving on {grpc}"),
        within,
        Duration::from_millis(50),
        || {
            let ch = ch.clone();
            let gone = gone();
            async move {
                let answer = tokio::time::timeout(
                    Duration::from_secs(2),
                    AdminClient::new(ch).status(pb::StatusRequest {}),
                )
                .await;
                let why = match answer {
                    Ok(Ok(s)) => match pid {
                        Some(p) if s.get_ref().pid != p => format!(
                            "another process (pid {}, region {}) answers there",
                            s.get_ref().pid,
                            s.get_ref().region
                        ),
                        _ => return Step::Done(()),
                    },
                    Ok(Err(e)) => e.message().to_string(),
                    Err(_) => return Step::NotYet("no answer within 2 s".into()),
                };
                match gone.await {
                    Some(exit) => Step::Fail(format!("the process ended ({exit}); {why}")),
                    None => Step::NotYet(why),
                }
            }
        },
    )
    .await?;
    Ok(start.elapsed())
}

/// Whether a region's links are all drained: connected, nothing pending;
/// if not, why not (a reason to look again, not a failure).
pub fn drained(s: &pb::StatusResponse) -> Result<(), String> {
    for p in &s.peers {
        if p.pending > 0 || !p.connected {
            return Err(format!(
                "{} -> {}: {} pending, connected {}",
                s.region, p.peer, p.pending, p.connected
            ));
        }
    }
    Ok(())
}

/// One look: every region drained, and (with a table) every region's digest
/// of it the same; if not, why not (a reason to look again).
pub async fn quiescent(urls: &[String], table: Option<&str>) -> Result<(), String> {
    let mut digests = Vec::new();
    for url in urls {
        let mut admin = AdminClient::new(channel(url).map_err(|e| e.to_string())?);
        let s = admin
            .status(pb::StatusRequest {})
            .await
            .map_err(|e| format!("status at {url}: {e}"))?
            .into_inner();
        drained(&s)?;
        if let Some(table) = table {
            let d = admin
                .digest(pb::DigestRequest {
                    table: table.into(),
                })
                .await
                .map_err(|e| format!("digest at {url}: {e}"))?
                .into_inner();
            digests.push((s.region, d.digest));
        }
    }
    if digests.windows(2).all(|w| w[0].1 == w[1].1) {
        Ok(())
    } else {
        Err(format!("digests differ: {digests:?}"))
    }
}

/// Polls [`quiescent`] until it holds or `within` runs out; returns how long
/// it took, or the last reason it did not hold.
pub async fn wait_quiescent(
    urls: &[String],
    table: Option<&str>,
    within: Duration,
) -> Result<Duration, WaitError> {
    let start = tokio::time::Instant::now();
    poll(
        "not quiescent",
        within,
        Duration::from_millis(25),
        || async {
            match quiescent(urls, table).await {
                Ok(()) => Step::Done(()),
                Err(e) => Step::NotYet(e),
            }
        },
    )
    .await?;
    Ok(start.elapsed())
}
