//! One link: a TCP listener that forwards every connection to an upstream
//! address, passing each direction's bytes through that direction's toxics.
//!
//! Toxics are read again for every chunk, so adding, changing or removing a
//! toxic takes effect at once on open connections too. Delayed chunks keep
//! their order: a chunk is never delivered before the one read before it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::toxic::{Effect, Stream, Toxic, sample_delay};

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction before the reader waits (backpressure).
const QUEUE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("toxic {0} already exists")]
    ToxicExists(String),
    #[error("toxic {0} not found")]
    ToxicNotFound(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProxyState {
    pub enabled: bool,
    pub toxics: Vec<Toxic>,
}

/// A running proxy.
pub struct Proxy {
    pub name: String,
    /// The address as given (may be port 0).
    pub listen_spec: String,
    /// Where it actually listens.
    pub listen: SocketAddr,
    pub upstream: String,
    state: watch::Sender<ProxyState>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Bumped to close every open connection (on disable and delete).
    epoch: watch::Sender<u64>,
}

impl Proxy {
    /// Binds and starts a proxy.
    pub async fn start(
        name: &str,
        listen: &str,
        upstream: &str,
        enabled: bool,
    ) -> Result<Arc<Proxy>, ProxyError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Listen {
                addr: listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Listen {
            addr: listen.to_string(),
            source,
        })?;
        let proxy = Arc::new(Proxy {
            name: name.to_string(),
            listen_spec: listen.to_string(),
            listen: addr,
            upstream: upstream.to_string(),
            state: watch::channel(ProxyState {
                enabled,
                toxics: Vec::new(),
            })
            .0,
            accept: Mutex::new(None),
            epoch: watch::channel(0).0,
        });
        if enabled {
            proxy.run_accept(listener);
        }
        Ok(proxy)
    }

    pub fn state(&self) -> ProxyState {
        self.state.borrow().clone()
    }

    fn run_accept(self: &Arc<Self>, listener: TcpListener) {
        let this = self.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((client, _)) => {
                        let this = this.clone();
                        tokio::spawn(async move { this.serve(client).await });
                    }
                    Err(e) => {
                        tracing::warn!(proxy = %this.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        if let Some(old) = self
            .accept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Enables or disables the proxy. Disabled, it refuses connections and
    /// closes the open ones: a partition of the "refuse" kind.
    pub async fn set_enabled(self: &Arc<Self>, enabled: bool) -> Result<(), ProxyError> {
        let was = self.state.borrow().enabled;
        if was == enabled {
            return Ok(());
        }
        if enabled {
            let listener =
                TcpListener::bind(self.listen)
                    .await
                    .map_err(|source| ProxyError::Listen {
                        addr: self.listen.to_string(),
                        source,
                    })?;
            self.run_accept(listener);
        } else {
            if let Some(task) = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take() {
                task.abort();
            }
            self.epoch.send_modify(|e| *e += 1);
        }
        self.state.send_modify(|s| s.enabled = enabled);
        Ok(())
    }

    /// Stops listening and closes every connection.
    pub fn stop(&self) {
        if let Some(task) = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        self.epoch.send_modify(|e| *e += 1);
    }

    pub fn add_toxic(&self, toxic: Toxic) -> Result<Toxic, ProxyError> {
        let mut result = Ok(toxic.clone());
        self.state.send_modify(|s| {
            if s.toxics.iter().any(|t| t.name == toxic.name) {
                result = Err(ProxyError::ToxicExists(toxic.name.clone()));
            } else {
                s.toxics.push(toxic.clone());
            }
        });
        result
    }

    pub fn update_toxic(
        &self,
        name: &str,
        f: impl FnOnce(&mut Toxic),
    ) -> Result<Toxic, ProxyError> {
        let mut result = Err(ProxyError::ToxicNotFound(name.to_string()));
        self.state.send_modify(|s| {
            if let Some(t) = s.toxics.iter_mut().find(|t| t.name == name) {
                f(t);
                result = Ok(t.clone());
            }
        });
        result
    }

    pub fn remove_toxic(&self, name: &str) -> Result<(), ProxyError> {
        let mut found = false;
        self.state.send_modify(|s| {
            let before = s.toxics.len();
            s.toxics.retain(|t| t.name != name);
            found = s.toxics.len() != before;
        });
        if found {
            Ok(())
        } else {
            Err(ProxyError::ToxicNotFound(name.to_string()))
        }
    }

    pub fn clear_toxics(&self) {
        self.state.send_modify(|s| s.toxics.clear());
    }

    async fn serve(self: Arc<Self>, client: TcpStream) {
        let _ = client.set_nodelay(true);
        let mut epoch = self.epoch.subscribe();
        let server = tokio::select! {
            s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&self.upstream)) => s,
            _ = epoch.changed() => return,
        };
        let server = match server {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(proxy = %self.name, error = %e, "upstream refused");
                return;
            }
            Err(_) => return,
        };
        let _ = server.set_nodelay(true);
        let (client_r, client_w) = client.into_split();
        let (server_r, server_w) = server.into_split();
        // Whether each toxic applies to this connection is drawn once per toxic.
        let rolls = Arc::new(Mutex::new(Vec::<(String, bool)>::new()));
        let mut pipes = JoinSet::new();
        pipes.spawn(pipe(
            client_r,
            server_w,
            Stream::Upstream,
            self.state.subscribe(),
            rolls.clone(),
        ));
        pipes.spawn(pipe(
            server_r,
            client_w,
            Stream::Downstream,
            self.state.subscribe(),
            rolls,
        ));
        tokio::select! {
            // Either direction ending (EOF, reset, a toxic) ends the connection.
            _ = pipes.join_next() => {}
            _ = epoch.changed() => {}
        }
        pipes.abort_all();
    }
}

/// The toxics of `stream` that apply to this connection.
fn active(state: &ProxyState, stream: Stream, rolls: &Mutex<Vec<(String, bool)>>) -> Vec<Effect> {
    let mut rolls = rolls.lock().unwrap_or_else(|p| p.into_inner());
    state
        .toxics
        .iter()
        .filter(|t| t.stream == stream)
        .filter(|t| match rolls.iter().find(|(n, _)| *n == t.name) {
            Some((_, on)) => *on,
            None => {
                let on = t.toxicity >= 1.0 || rand::rng().random_bool(t.toxicity.clamp(0.0, 1.0));
                rolls.push((t.name.clone(), on));
                on
            }
        })
        .map(|t| t.effect.clone())
        .collect()
}

/// Moves bytes one way. The reader applies stalls, limits and latency
/// (stamping each chunk with its delivery time); the writer waits for that
/// time and paces for bandwidth.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    stream: Stream,
    mut state: watch::Receiver<ProxyState>,
    rolls: Arc<Mutex<Vec<(String, bool)>>>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let writer_state = state.clone();
    let writer_rolls = rolls.clone();
    let writer = tokio::spawn(async move {
        let mut slow_close = None;
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let effects = active(&writer_state.borrow(), stream, &writer_rolls);
            for e in &effects {
                // A chunk is through a slow link only once it has had time to cross it.
                if let Effect::Bandwidth { rate_kb } = e {
                    let secs = bytes.len() as f64 / (*rate_kb as f64 * 1024.0);
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
                if let Effect::SlowClose { delay_ms } = e {
                    slow_close = Some(Duration::from_millis(*delay_ms));
                }
            }
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        if let Some(d) = slow_close {
            tokio::time::sleep(d).await;
        }
        let _ = to.shutdown().await;
    });
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    let mut last = Instant::now();
    let mut sent: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let effects = active(&state.borrow(), stream, &rolls);
        // A stalled link reads nothing until the stall changes or times out.
        if let Some(timeout_ms) = effects.iter().find_map(|e| match e {
            Effect::Timeout { timeout_ms } => Some(*timeout_ms),
            _ => None,
        }) {
            let changed = state.changed();
            if timeout_ms == 0 {
                // Blackhole: bytes are accepted and never forwarded.
                tokio::select! {
                    r = from.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(_) => continue },
                    c = changed => if c.is_err() { break } else { continue },
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(timeout_ms)) => break,
                c = changed => if c.is_err() { break } else { continue },
            }
        }
        if let Some(timeout_ms) = effects.iter().find_map(|e| match e {
            Effect::ResetPeer { timeout_ms } => Some(*timeout_ms),
            _ => None,
        }) {
            tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
            // Linger 0: closing sends RST, not FIN.
            #[allow(deprecated)]
            let _ = from.as_ref().set_linger(Some(Duration::ZERO));
            writer.abort();
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            c = state.changed() => if c.is_err() { break } else { continue },
        };
        let mut chunk = &buf[..n];
        if let Some(limit) = effects.iter().find_map(|e| match e {
            Effect::LimitData { bytes } => Some(*bytes),
            _ => None,
        }) {
            let room = limit.saturating_sub(sent) as usize;
            chunk = &chunk[..chunk.len().min(room)];
        }
        let mut at = Instant::now();
        for e in &effects {
            if let Effect::Latency {
                latency_ms,
                jitter_ms,
                distribution,
            } = e
            {
                at += sample_delay(&mut rng, *latency_ms, *jitter_ms, *distribution);
            }
        }
        at = at.max(last);
        last = at;
        sent += chunk.len() as u64;
        if !chunk.is_empty() && tx.send((at, chunk.to_vec())).await.is_err() {
            break;
        }
        if chunk.len() < n {
            break; // limit_data reached
        }
    }
    drop(tx);
    let _ = writer.await;
}
