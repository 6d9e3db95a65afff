//! A dashboard open against a benchmark's cluster, for `bench replicate
//! --dashboard`: served by the same code as `meridian up`'s, in this
//! process, with one client reading it as the page does: the page's first
//! reads (history, snapshot, tables, drills), its event stream (a sample a
//! second, each region's pulses) read to the end of every event, a region's
//! newest conflicts each time its count moves, and the tables and drills
//! every tenth sample. What the page then draws costs the browser, not the
//! cluster, and is left out.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use meridian_cluster::http::{Target, request};
use meridian_region::ClusterFile;
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Largest event the client holds while it is incomplete (a sample of three
/// regions is a few kB).
const MAX_EVENT: usize = 1 << 20;
/// Largest answer read for one of the page's fetches.
const MAX_FETCH: usize = 16 << 20;
/// How long one fetch may take.
const FETCH_WAIT: Duration = Duration::from_secs(10);

/// Serves the dashboard of a cluster on a listener until the shutdown
/// future resolves: the `meridian` binary's own dashboard, handed in by it,
/// since `bench replicate --dashboard` measures what `meridian up` serves
/// and the dashboard belongs to the binary, not to this crate.
pub type Dashboard = fn(
    ClusterFile,
    tokio::net::TcpListener,
    BoxFuture<'static, ()>,
) -> BoxFuture<'static, Result<()>>;

/// What the client read while the dashboard was open.
#[derive(Debug, Default, Clone, Copy)]
pub struct Read {
    pub samples: u64,
    pub pulses: u64,
    pub fetches: u64,
}

/// The dashboard and its one reader, until [`Viewer::close`].
pub struct Viewer {
    stop: watch::Sender<bool>,
    server: JoinHandle<Result<()>>,
    reader: JoinHandle<Result<Read>>,
}

impl Viewer {
    /// Serves the dashboard of `cluster` through `dashboard` on a free
    /// loopback port and opens the page's reads against it.
    pub async fn open(cluster: ClusterFile, dashboard: Dashboard) -> Result<Viewer> {
        let at = "127.0.0.1:0";
        let listener = tokio::net::TcpListener::bind(at)
            .await
            .with_context(|| format!("--dashboard: binding {at} (give another port)"))?;
        let addr = listener.local_addr()?.to_string();
        let regions = cluster.region_names();
        let (stop, stopped) = watch::channel(false);
        let mut on_stop = stopped.clone();
        let server = tokio::spawn(dashboard(
            cluster,
            listener,
            Box::pin(async move {
                let _ = on_stop.wait_for(|s| *s).await;
            }),
        ));
        let (seen, mut samples) = watch::channel(0u64);
        let reader = tokio::spawn(read(addr, regions, stopped, seen));
        let viewer = Viewer {
            stop,
            server,
            reader,
        };
        // Open, as a page is, once its first sample came.
        let first = tokio::time::timeout(FETCH_WAIT, samples.wait_for(|n| *n > 0)).await;
        if !matches!(first, Ok(Ok(_))) {
            let why = viewer.close().await.err();
            bail!(
                "the dashboard sent no sample within {FETCH_WAIT:?}{}",
                why.map(|e| format!(": {e:#}")).unwrap_or_default()
            );
        }
        Ok(viewer)
    }

    /// Closes the page and stops the dashboard; says what was read.
    pub async fn close(self) -> Result<Read> {
        let _ = self.stop.send(true);
        let read = self.reader.await.context("the dashboard's reader")??;
        self.server.await.context("the dashboard")??;
        if read.samples == 0 {
            bail!("the dashboard's reader saw no sample: the dashboard did not serve");
        }
        Ok(read)
    }
}

async fn fetch(addr: &str, path: &str, read: &mut Read) -> Result<Json> {
    let r = request(
        &Target::at(addr, path),
        "GET",
        &[],
        Vec::new(),
        MAX_FETCH,
        FETCH_WAIT,
    )
    .await
    .with_context(|| format!("GET {path}"))?;
    if !r.ok() {
        bail!("GET {path}: status {}", r.status);
    }
    read.fetches += 1;
    Ok(serde_json::from_slice(&r.body).unwrap_or(Json::Null))
}

/// The page's reads until `stopped`.
async fn read(
    addr: String,
    regions: Vec<String>,
    mut stopped: watch::Receiver<bool>,
    seen: watch::Sender<u64>,
) -> Result<Read> {
    let mut read = Read::default();
    for path in [
        "/api/history",
        "/api/snapshot",
        "/api/tables",
        "/api/drills",
    ] {
        fetch(&addr, path, &mut read).await?;
    }
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .with_context(|| format!("connecting to the dashboard at {addr}"))?;
    stream
        .write_all(
            // HTTP/1.0: the stream comes as it is, not in chunks.
            format!(
                "GET /api/events HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut conflicts: BTreeMap<String, u64> = BTreeMap::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = tokio::select! {
            n = stream.read(&mut chunk) => n?,
            _ = stopped.wait_for(|s| *s) => return Ok(read),
        };
        if n == 0 {
            // The stop also ends the server's streams: when both are ready
            // `select!` may take the end of the stream first.
            if *stopped.borrow() {
                return Ok(read);
            }
            bail!("the dashboard closed its event stream");
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = find(&buf, b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let (name, data) = parse(&event);
            let moved = match name.as_str() {
                "sample" => {
                    read.samples += 1;
                    seen.send_replace(read.samples);
                    if read.samples.is_multiple_of(10) {
                        fetch(&addr, "/api/tables", &mut read).await?;
                        fetch(&addr, "/api/drills", &mut read).await?;
                    }
                    let j: Json = serde_json::from_str(&data).unwrap_or(Json::Null);
                    j["regions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| {
                            Some((r["name"].as_str()?.to_string(), r["conflicts"].as_u64()?))
                        })
                        .collect::<Vec<_>>()
                }
                "pulse" => {
                    read.pulses += 1;
                    let j: Json = serde_json::from_str(&data).unwrap_or(Json::Null);
                    j["region"]
                        .as_str()
                        .zip(j["conflicts"].as_u64())
                        .map(|(r, c)| (r.to_string(), c))
                        .into_iter()
                        .collect()
                }
                _ => Vec::new(),
            };
            for (region, count) in moved {
                let before = conflicts.insert(region.clone(), count);
                if before.is_some_and(|b| count > b) && regions.contains(&region) {
                    fetch(&addr, &format!("/api/conflicts?region={region}"), &mut read).await?;
                }
            }
        }
        if buf.len() > MAX_EVENT {
            bail!("the dashboard sent an event of over {MAX_EVENT} bytes");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An event's name and data, as an `EventSource` reads them (the HTTP head
/// comes before the first one, and is neither).
fn parse(event: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(event);
    let mut name = String::new();
    let mut data = String::new();
    for line in text.split(['\n', '\r']) {
        if let Some(n) = line.strip_prefix("event:") {
            name = n.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    (name, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_read_as_a_page_reads_it() {
        let (n, d) = parse(b"HTTP/1.0 200 OK\r\n\r\nevent: pulse\ndata: {\"region\": \"a\"}\n\n");
        assert_eq!(n, "pulse");
        assert_eq!(d, "{\"region\": \"a\"}");
        assert_eq!(find(b"ab\n\ncd", b"\n\n"), Some(2));
    }
}
