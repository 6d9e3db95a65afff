//! One link: a TCP listener that forwards every connection to an upstream
//! address, passing each direction's bytes through that direction's toxics.
//!
//! Toxics are read again for every chunk, so adding, changing or removing a
//! toxic takes effect at once on open connections too. Delayed chunks keep
//! their order: a chunk is never delivered before the one read before it.

use std::collections::BTreeMap;
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

use crate::toxic::{Effect, Stream, Toxic, flap_is_down, sample_delay};

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
    /// When each toxic given a duration is removed, by name: a fault that
    /// heals itself.
    pub expires: BTreeMap<String, Instant>,
    /// When a proxy disabled for a duration is enabled again.
    pub enable_at: Option<Instant>,
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
                expires: BTreeMap::new(),
                enable_at: None,
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
            // Set again without a time, it stays so.
            self.state
                .send_if_modified(|s| s.enable_at.take().is_some());
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
        self.state.send_modify(|s| {
            s.enabled = enabled;
            s.enable_at = None;
        });
        Ok(())
    }

    /// Disables the proxy until `at`, when it enables itself again.
    pub async fn disable_until(self: &Arc<Self>, at: Instant) -> Result<(), ProxyError> {
        self.set_enabled(false).await?;
        self.state.send_modify(|s| s.enable_at = Some(at));
        self.wake_at(at);
        Ok(())
    }

    /// Removes toxic `name` at `at`, or (`None`) keeps it until it is
    /// removed. Another call replaces the time.
    pub fn expire_toxic(
        self: &Arc<Self>,
        name: &str,
        at: Option<Instant>,
    ) -> Result<(), ProxyError> {
        let mut found = false;
        self.state.send_modify(|s| {
            found = s.toxics.iter().any(|t| t.name == name);
            match at {
                Some(at) if found => {
                    s.expires.insert(name.to_string(), at);
                }
                _ => {
                    s.expires.remove(name);
                }
            }
        });
        if !found {
            return Err(ProxyError::ToxicNotFound(name.to_string()));
        }
        if let Some(at) = at {
            self.wake_at(at);
        }
        Ok(())
    }

    /// Ends the faults whose time is up at `at`, on the proxy's own timer:
    /// they end whether or not any client is connected. The task holds no
    /// strong reference, so a deleted proxy is not kept alive by it.
    fn wake_at(self: &Arc<Self>, at: Instant) {
        let proxy = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(p) = proxy.upgrade() {
                p.end_due().await;
            }
        });
    }

    /// Removes every toxic whose time is up and enables the proxy if its
    /// time disabled is. A fault replaced with a later end, or with none,
    /// is not due, so a timer left from an earlier setting changes nothing.
    async fn end_due(self: &Arc<Self>) {
        let now = Instant::now();
        let state = self.state();
        for (name, at) in &state.expires {
            if *at <= now && self.remove_toxic(name).is_ok() {
                tracing::info!(proxy = %self.name, toxic = %name, "fault ended: its time was up");
            }
        }
        if state.enable_at.is_some_and(|at| at <= now) {
            match self.set_enabled(true).await {
                Ok(()) => {
                    tracing::info!(proxy = %self.name, "enabled again: its time disabled was up")
                }
                Err(e) => tracing::warn!(proxy = %self.name, error = %e, "could not enable again"),
            }
        }
    }

    /// Stops listening and closes every connection; nothing is scheduled
    /// to change it any more.
    pub fn stop(&self) {
        if let Some(task) = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        self.state.send_modify(|s| {
            s.expires.clear();
            s.enable_at = None;
        });
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
            s.expires.remove(name);
            found = s.toxics.len() != before;
        });
        if found {
            Ok(())
        } else {
            Err(ProxyError::ToxicNotFound(name.to_string()))
        }
    }

    pub fn clear_toxics(&self) {
        self.state.send_modify(|s| {
            s.toxics.clear();
            s.expires.clear();
        });
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
    to: OwnedWriteHalf,
    stream: Stream,
    mut state: watch::Receiver<ProxyState>,
    rolls: Arc<Mutex<Vec<(String, bool)>>>,
) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let writer_state = state.clone();
    let writer_rolls = rolls.clone();
    let writer = tokio::spawn(deliver(rx, to, stream, writer_state, writer_rolls));
    let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
    let mut last = Instant::now();
    let mut sent: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    // Once a blackhole has swallowed bytes of this stream, nothing more is
    // ever forwarded on it, even after the fault is gone: forwarding later
    // bytes would hand the receiver a stream with a hole in it, which no
    // real network does. The connection stays wedged, as TCP's does once
    // retransmission gives up, until the endpoints' keepalives notice and
    // reconnect. (turmoil's simulated TCP behaves the same way, so live and
    // simulated drills agree.)
    let mut wedged = false;
    loop {
        if wedged {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
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
                    r = from.read(&mut buf) => match r {
                        Ok(0) | Err(_) => break,
                        Ok(_) => { wedged = true; continue }
                    },
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
        // A flapping link in its down phase is a blackhole: what arrives
        // now is accepted and dropped, and the stream is wedged from here on.
        let now = Instant::now();
        if flapping_down(&effects, now) {
            wedged = true;
            continue;
        }
        let mut chunk = &buf[..n];
        if let Some(limit) = effects.iter().find_map(|e| match e {
            Effect::LimitData { bytes } => Some(*bytes),
            _ => None,
        }) {
            let room = limit.saturating_sub(sent) as usize;
            chunk = &chunk[..chunk.len().min(room)];
        }
        let mut at = delivery(&effects, &mut rng, now);
        // Nothing overtakes a delayed chunk: TCP delivers in order, so the
        // chunks behind a lost one wait for its retransmission.
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

/// The writer's half of [`pipe`]: each chunk written at its delivery time,
/// paced for bandwidth; a slow close waits before the write side shuts.
async fn deliver(
    mut rx: mpsc::Receiver<(Instant, Vec<u8>)>,
    mut to: OwnedWriteHalf,
    stream: Stream,
    writer_state: watch::Receiver<ProxyState>,
    writer_rolls: Arc<Mutex<Vec<(String, bool)>>>,
) {
    let mut slow_close = None;
    while let Some((at, bytes)) = rx.recv().await {
        // Only a delayed chunk waits, and on the precise clock: tokio's
        // timer rounds up to the next millisecond, so even a sleep until
        // "now" would add up to 1 ms per chunk and direction.
        if at > Instant::now() {
            crate::delay::until(at).await;
        }
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
}

/// Whether a flapping link is in its down phase `now`.
fn flapping_down(effects: &[Effect], now: Instant) -> bool {
    effects.iter().any(|e| match e {
        Effect::Flap {
            period_ms,
            down_ms,
            since,
        } => flap_is_down(*period_ms, *down_ms, *since, now),
        _ => false,
    })
}

/// When a chunk read `now` is due at the other end: after the link's
/// latency, and one retransmission timeout late if it is lost.
fn delivery(effects: &[Effect], rng: &mut rand::rngs::StdRng, now: Instant) -> Instant {
    let mut at = now;
    for e in effects {
        match e {
            Effect::Latency {
                latency_ms,
                jitter_ms,
                distribution,
            } => at += sample_delay(rng, *latency_ms, *jitter_ms, *distribution),
            // A lost segment arrives one retransmission timeout late.
            Effect::Loss { percent, rto_ms }
                if rng.random_bool((percent / 100.0).clamp(0.0, 1.0)) =>
            {
                at += Duration::from_millis(*rto_ms)
            }
            _ => {}
        }
    }
    at
}

/// The `loss` and `flap` toxics against a real echo server on loopback, in
/// virtual time: the injected stalls are skipped exactly, so the asserted
/// figures are the model's, not the machine's.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn echo_server() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Duration {
        let start = Instant::now();
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, msg, "bytes come back in order and unchanged");
        start.elapsed()
    }

    fn toxic(name: &str, effect: Effect) -> Toxic {
        Toxic {
            name: name.into(),
            stream: Stream::Upstream,
            toxicity: 1.0,
            effect,
        }
    }

    async fn proxy() -> (Registry, Arc<Proxy>) {
        let upstream = echo_server().await;
        let reg = Registry::new();
        let p = reg
            .create("a>b", "127.0.0.1:0", &upstream, true)
            .await
            .unwrap();
        (reg, p)
    }

    /// Without toxics no chunk waits on a timer: tokio rounds timers up to
    /// the next millisecond, so one would cost up to 1 ms per chunk and
    /// direction. Virtual time cannot see that rounding, so this runs in
    /// real time, and judges the median so a loaded machine cannot fail it.
    #[tokio::test]
    async fn without_toxics_a_round_trip_waits_on_no_timer() {
        let (_reg, p) = proxy().await;
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        s.set_nodelay(true).unwrap();
        round_trip(&mut s, b"warm").await;
        let mut times: Vec<Duration> = Vec::new();
        for i in 0..200u8 {
            times.push(round_trip(&mut s, &[i; 32]).await);
        }
        times.sort();
        let median = times[times.len() / 2];
        assert!(
            median < Duration::from_micros(600),
            "a timer tick per hop shows as a median of 1 ms or more: {median:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_chunk_arrives_one_rto_late_and_the_next_waits_behind_it() {
        let (_reg, p) = proxy().await;
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        p.add_toxic(toxic(
            "loss",
            Effect::Loss {
                percent: 100.0,
                rto_ms: 200,
            },
        ))
        .unwrap();
        let lost = round_trip(&mut s, b"a").await;
        assert!(
            lost >= Duration::from_millis(200) && lost < Duration::from_millis(201),
            "a lost chunk costs one RTO: {lost:?}"
        );

        // "b" is lost; "c", sent 10 ms later, is not, yet it waits for "b".
        let start = Instant::now();
        s.write_all(b"b").await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        p.update_toxic("loss", |t| {
            t.effect = Effect::Loss {
                percent: 0.0,
                rto_ms: 200,
            }
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        s.write_all(b"c").await.unwrap();
        let mut one = [0u8; 1];
        s.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"b");
        s.read_exact(&mut one).await.unwrap();
        let c_at = start.elapsed();
        assert_eq!(&one, b"c", "order is kept");
        assert!(
            c_at >= Duration::from_millis(200) && c_at < Duration::from_millis(201),
            "the chunk behind a lost one is held until the retransmission: {c_at:?}"
        );

        // With 0 % nothing is held.
        let clear = round_trip(&mut s, b"d").await;
        assert!(clear < Duration::from_millis(1), "{clear:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn loss_holds_about_its_share_of_chunks() {
        let (_reg, p) = proxy().await;
        p.add_toxic(toxic(
            "loss",
            Effect::Loss {
                percent: 30.0,
                rto_ms: 150,
            },
        ))
        .unwrap();
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        let n = 400;
        let mut held = 0;
        for i in 0..n {
            // One chunk per round trip, so each is lost or not on its own.
            let t = round_trip(&mut s, format!("{:03}", i % 1000).as_bytes()).await;
            if t >= Duration::from_millis(150) {
                assert!(t < Duration::from_millis(151), "one RTO, not more: {t:?}");
                held += 1;
            } else {
                assert!(t < Duration::from_millis(1), "{t:?}");
            }
        }
        // Binomial(400, 0.3): mean 120, σ ≈ 9.2; ±5σ.
        assert!((74..=166).contains(&held), "{held} of {n} held");
    }

    #[tokio::test(start_paused = true)]
    async fn a_flap_blackholes_the_first_down_ms_of_every_period() {
        let (_reg, p) = proxy().await;
        let mut s = TcpStream::connect(p.listen).await.unwrap();
        assert!(round_trip(&mut s, b"0").await < Duration::from_millis(1));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        p.add_toxic(toxic(
            "flap",
            Effect::Flap {
                period_ms: 1000,
                down_ms: 300,
                since: t0,
            },
        ))
        .unwrap();
        let mut one = [0u8; 1];

        // Down (0–300 ms): accepted, never forwarded.
        s.write_all(b"x").await.unwrap();
        let r = tokio::time::timeout(Duration::from_millis(200), s.read(&mut one)).await;
        assert!(r.is_err(), "nothing crosses while down: {r:?}");

        // Up (300–1000 ms): the connection that lost bytes stays wedged (a
        // stream with a hole in it is no stream), a new one passes at once.
        tokio::time::sleep_until(at(400)).await;
        s.write_all(b"y").await.unwrap();
        let r = tokio::time::timeout(Duration::from_millis(100), s.read(&mut one)).await;
        assert!(r.is_err(), "a wedged connection stays wedged: {r:?}");
        let mut fresh = TcpStream::connect(p.listen).await.unwrap();
        assert!(round_trip(&mut fresh, b"y").await < Duration::from_millis(1));

        // Down again in the next period (1000–1300 ms).
        tokio::time::sleep_until(at(1100)).await;
        fresh.write_all(b"z").await.unwrap();
        let r = tokio::time::timeout(Duration::from_millis(150), fresh.read(&mut one)).await;
        assert!(r.is_err(), "down again in the second period: {r:?}");

        tokio::time::sleep_until(at(1350)).await;
        let mut third = TcpStream::connect(p.listen).await.unwrap();
        assert!(round_trip(&mut third, b"w").await < Duration::from_millis(1));

        // Removing it ends the flapping, even in what would be a down phase.
        p.remove_toxic("flap").unwrap();
        tokio::time::sleep_until(at(2100)).await;
        assert!(round_trip(&mut third, b"v").await < Duration::from_millis(1));
    }
}
