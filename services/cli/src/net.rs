//! `meridian net`: inject network, clock and process faults into a running
//! cluster (`meridian up`) through the link proxy's control API.
//!
//! A directed link `A → B` is every byte travelling from region A to region
//! B. Regions talk over one TCP connection per ordered pair: A's connection
//! to B runs through proxy `A>B` (A's mutations go upstream, B's acks come
//! back downstream), and B's connection to A through proxy `B>A`. So the
//! bytes from A to B are the **upstream of `A>B`** (A's mutations) plus the
//! **downstream of `B>A`** (A's acks to B), and every link fault here puts
//! one toxic on each of those two streams, under a stable name
//! (`meridian.<fault>.<stream>`) so a repeated command replaces, never stacks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::ClusterFile;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{DEFAULT_CLUSTER, load_cluster};

/// Longest latency or jitter `net` injects: an hour is already absurd.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// Highest bandwidth limit, KB/s (10 GB/s: no limit on loopback).
const MAX_RATE_KB: u64 = 10_000_000;
/// Largest clock offset a region accepts (Admin SetClock): one day.
const MAX_SKEW: Duration = Duration::from_secs(86_400);
/// Largest drift a region accepts (Admin SetClock), ppm.
const MAX_DRIFT_PPM: i64 = 100_000;
/// Largest control-API response read.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// Toxic types that cut a link; `heal` removes these and nothing else.
const CUTTING: [&str; 3] = ["timeout", "reset_peer", "flap"];

/// `meridian net --help`: what a link is, before any command.
pub const LONG_ABOUT: &str = "\
Inject faults into a running cluster: latency, loss, partitions, skew, crashes.

A directed link A → B is every byte travelling from region A to region B:
the upstream of proxy A>B (the connection A opens to B, carrying A's
mutations) plus the downstream of proxy B>A (A's acks on the connection B
opens to A). --both applies the same to B → A. Repeating a command replaces
the fault; it never stacks. `heal` ends partitions, isolation and flapping
and keeps latency, bandwidth and loss; `clear` removes everything.

Region names, gRPC addresses and the control API come from the cluster file
(--config). The cluster must run under `meridian up` with a [netsim]
section (crash and restart need it), or behind `meridian netsim --config`.
See docs/netsim.md for the exact mapping onto proxies and toxics.";

#[derive(Args)]
pub struct NetArgs {
    /// Cluster file: region names, their gRPC addresses, the control API.
    #[arg(long, global = true, default_value = DEFAULT_CLUSTER, env = "MERIDIAN_CONFIG")]
    pub config: PathBuf,
    /// Control API address (host:port) [default: netsim.api of the cluster file].
    #[arg(long, global = true)]
    pub api: Option<String>,
    #[command(subcommand)]
    pub command: NetCommand,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Dist {
    Uniform,
    Normal,
    Pareto,
}

impl Dist {
    fn as_str(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Normal => "normal",
            Dist::Pareto => "pareto",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Bytes are accepted and never forwarded (a `timeout` toxic of 0 on
    /// both streams of the link). Connections stay open, silently.
    Blackhole,
    /// Connections are refused and open ones reset: for A → B, proxy A>B
    /// gets a `reset_peer` toxic (open connections get an RST) and is then
    /// disabled (new connections are refused). Acts on the connection A
    /// opens to B; the one B opens to A stays up.
    Refuse,
}

#[derive(Args)]
pub struct Pair {
    /// Region the bytes leave (a name from the cluster file).
    pub from: String,
    /// Region the bytes reach.
    pub to: String,
    /// Apply the same to TO → FROM.
    #[arg(long)]
    pub both: bool,
}

#[derive(Subcommand)]
pub enum NetCommand {
    /// Every directed link with its faults, connection, pending mutations and
    /// replication lag; every region's process and clock.
    Show {
        /// Lag over a window of this length (e.g. 5s) instead of since start.
        #[arg(long)]
        window: Option<String>,
    },
    /// One-way latency on FROM → TO, e.g. `lag us-east-1 eu-west-1 40ms`.
    /// Keeps the jitter already set unless --jitter is given; `0` with no
    /// jitter removes the latency.
    Lag {
        #[command(flatten)]
        pair: Pair,
        /// Delay added to every chunk: 40ms, 1.5s, 0.
        latency: String,
        /// Jitter: ± this (uniform), σ (normal), or the median extra delay
        /// (pareto).
        #[arg(long)]
        jitter: Option<String>,
        #[arg(long, value_enum)]
        distribution: Option<Dist>,
    },
    /// Jitter on FROM → TO, keeping the latency already set.
    Jitter {
        #[command(flatten)]
        pair: Pair,
        /// e.g. 5ms; 0 removes it.
        jitter: String,
        #[arg(long, value_enum)]
        distribution: Option<Dist>,
    },
    /// Bandwidth limit on FROM → TO in KB/s, e.g. `bandwidth A B 100`; `off`
    /// removes it.
    Bandwidth {
        #[command(flatten)]
        pair: Pair,
        /// KB/s (1 to 10000000), or `off`.
        rate: String,
    },
    /// Packet loss on FROM → TO, e.g. `loss A B 2%`: each chunk, with that
    /// probability, waits one TCP retransmission timeout and the chunks
    /// behind it wait too. `0%` removes it.
    Loss {
        #[command(flatten)]
        pair: Pair,
        /// 0 to 100, with or without %.
        percent: String,
        /// Retransmission timeout a lost chunk costs.
        #[arg(long, default_value = "200ms")]
        rto: String,
    },
    /// Cut FROM → TO (one way unless --both).
    Partition {
        #[command(flatten)]
        pair: Pair,
        #[arg(long, value_enum, default_value = "blackhole")]
        kind: Kind,
    },
    /// End partitions, isolation and flapping: of link A ⇄ B, of every link
    /// of --region, or (no arguments) everywhere. Latency, bandwidth and
    /// loss stay; `meridian net clear` removes those too.
    Heal {
        from: Option<String>,
        to: Option<String>,
        #[arg(long, conflicts_with_all = ["from", "to"])]
        region: Option<String>,
    },
    /// Remove every fault (every toxic, of any client) and enable the
    /// proxies: of link A ⇄ B, of every link of --region, or everywhere.
    Clear {
        from: Option<String>,
        to: Option<String>,
        #[arg(long, conflicts_with_all = ["from", "to"])]
        region: Option<String>,
    },
    /// Cut every link of REGION, both ways.
    Isolate {
        region: String,
        #[arg(long, value_enum, default_value = "blackhole")]
        kind: Kind,
    },
    /// Blackhole FROM → TO for --down out of every --period, until healed.
    Flap {
        #[command(flatten)]
        pair: Pair,
        /// e.g. 2s (at least 100ms).
        #[arg(long)]
        period: String,
        /// e.g. 500ms (more than 0, less than --period).
        #[arg(long)]
        down: String,
    },
    /// Skew REGION's clock (the one its HLC reads): `skew R +300ms`,
    /// `skew R -1s --drift-ppm 50`, `skew R 0` to undo. Sets the offset and
    /// the drift together (through Admin SetClock, not the proxy).
    Skew {
        region: String,
        /// Offset from real time: +300ms, -1.5s, 0 (within ±1 day).
        #[arg(allow_hyphen_values = true)]
        offset: String,
        /// Drift rate, parts per million (within ±100000).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        drift_ppm: i64,
    },
    /// Kill REGION's process with SIGKILL (needs `meridian up`).
    Crash { region: String },
    /// Start REGION again on its data directory and wait until it serves.
    Restart {
        region: String,
        /// How long to wait for it to serve.
        #[arg(long, default_value = "30s")]
        wait: String,
    },
}

pub async fn run(args: NetArgs) -> Result<()> {
    let cluster = load_cluster(&args.config)?;
    let api = match &args.api {
        Some(a) => a.clone(),
        None => match &cluster.netsim {
            Some(n) => n.api.to_string(),
            None => bail!(
                "{} has no [netsim] section, so its regions do not talk through the link proxy; \
                 add one (see regions/local-3.toml) and restart `meridian up`, or pass --api",
                args.config.display()
            ),
        },
    };
    let net = Net {
        cluster,
        api: Api { addr: api },
    };
    let line = net.apply(args.command).await?;
    // Not println!: a closed pipe (`meridian net show | head`) is not an error.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Parsing. Every error names the argument and the limit.

/// Parses `250ms`, `1.5s`, `2m`, `0` into a duration of whole milliseconds
/// (the proxy's resolution).
pub fn parse_ms(arg: &str, text: &str, max: Duration) -> Result<u64> {
    let d = parse_duration(text).map_err(|e| anyhow!("{arg}: {e}"))?;
    if d > max {
        bail!("{arg}: {text} is more than the limit of {}", show_dur(max));
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        bail!("{arg}: {text} is finer than the proxy's resolution of 1 ms");
    }
    Ok(d.as_millis() as u64)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s or m (e.g. 40ms)"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 40ms, 1.5s or 2m"))?;
    let scale = match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s or m"
            ));
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("{text:?} is out of range"));
    }
    // Round to whole microseconds so "0.1s" is exactly 100 ms.
    Ok(Duration::from_micros((secs * 1e6).round() as u64))
}

/// Parses `+300ms`, `-1.5s`, `300ms` or `0` into signed microseconds.
pub fn parse_offset(arg: &str, text: &str) -> Result<i64> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = parse_duration(rest).map_err(|e| anyhow!("{arg}: {e}"))?;
    if d > MAX_SKEW {
        bail!(
            "{arg}: {text} is beyond the limit of ±{} (one day)",
            show_dur(MAX_SKEW)
        );
    }
    Ok(sign * d.as_micros() as i64)
}

pub fn parse_percent(arg: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    let p: f64 = n
        .parse()
        .map_err(|_| anyhow!("{arg}: {text:?} is not a percentage like 2% or 0.5"))?;
    if !(0.0..=100.0).contains(&p) {
        bail!("{arg}: must be between 0 and 100 %, got {text}");
    }
    Ok(p)
}

/// KB/s, with an optional `KB/s` suffix; `None` for `off`.
pub fn parse_rate(arg: &str, text: &str) -> Result<Option<u64>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let n = t
        .strip_suffix("KB/s")
        .or_else(|| t.strip_suffix("kb/s"))
        .unwrap_or(t)
        .trim();
    let rate: u64 = n
        .parse()
        .map_err(|_| anyhow!("{arg}: {text:?} is not a whole number of KB/s like 100, or off"))?;
    if rate == 0 {
        bail!(
            "{arg}: must be at least 1 KB/s; `off` removes the limit and `meridian net partition` stops traffic"
        );
    }
    if rate > MAX_RATE_KB {
        bail!("{arg}: must be at most {MAX_RATE_KB} KB/s, got {rate}");
    }
    Ok(Some(rate))
}

fn show_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 && (ms / 1000.0).fract() == 0.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

fn show_ms(ms: u64) -> String {
    show_dur(Duration::from_millis(ms))
}

fn arrow(both: bool) -> &'static str {
    if both { "⇄" } else { "→" }
}

// ---------------------------------------------------------------------------
// The control API over plain HTTP/1.1: the proxy's API is tiny, and this
// keeps the CLI free of an HTTP client dependency.

struct Api {
    addr: String,
}

/// A control-API answer.
struct Reply {
    status: u16,
    body: Json,
}

impl Reply {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn error(&self) -> String {
        match &self.body {
            Json::Object(m) => m
                .get("error")
                .and_then(Json::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| self.body.to_string()),
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Percent-encodes one path segment (proxy names contain `>`).
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn decode_chunked(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // Each chunk is at least 5 bytes ("0\r\n\r\n"), so this bounds the loop.
    for _ in 0..=body.len() {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("malformed chunked body"))?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("malformed chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            bail!("truncated chunked body");
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
    bail!("malformed chunked body")
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Json>) -> Result<Reply> {
        let unreachable = || {
            format!(
                "cannot reach the control API at {}: is `meridian up` running with a [netsim] section? (set --api)",
                self.addr
            )
        };
        let exchange = async {
            let mut s = tokio::net::TcpStream::connect(&self.addr).await?;
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                self.addr,
                body.len()
            );
            s.write_all(req.as_bytes()).await?;
            let mut raw = Vec::new();
            s.take(MAX_RESPONSE_BYTES).read_to_end(&mut raw).await?;
            Ok::<_, std::io::Error>(raw)
        };
        let raw = tokio::time::timeout(Duration::from_secs(15), exchange)
            .await
            .map_err(|_| anyhow!("{}: no answer within 15 s", unreachable()))?
            .with_context(unreachable)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| anyhow!("the control API at {} sent a malformed answer", self.addr))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut body = raw[split + 4..].to_vec();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("the control API at {} sent no status", self.addr))?;
        if head.lines().any(|l| {
            l.to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
        }) {
            body = decode_chunked(&body)?;
        }
        let body = if body.is_empty() {
            Json::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&body).into_owned()))
        };
        Ok(Reply { status, body })
    }

    /// Calls and fails on a non-2xx answer, with the API's own message.
    async fn must(&self, method: &str, path: &str, body: Option<Json>) -> Result<Json> {
        let r = self.call(method, path, body).await?;
        if !r.ok() {
            bail!("control API {method} {path}: {} ({})", r.error(), r.status);
        }
        Ok(r.body)
    }

    async fn proxies(&self) -> Result<BTreeMap<String, Json>> {
        match self.must("GET", "/proxies", None).await? {
            Json::Object(m) => Ok(m.into_iter().collect()),
            other => bail!("GET /proxies: expected an object, got {other}"),
        }
    }

    async fn proxy(&self, name: &str) -> Result<Json> {
        let r = self
            .call("GET", &format!("/proxies/{}", seg(name)), None)
            .await?;
        if r.status == 404 {
            bail!(
                "the control API at {} has no proxy {name}; was it started from this cluster file?",
                self.addr
            );
        }
        if !r.ok() {
            bail!("GET proxy {name}: {} ({})", r.error(), r.status);
        }
        Ok(r.body)
    }

    /// Adds the toxic, or updates the one of that name: `create` holds every
    /// attribute for a new toxic, `update` only those to change.
    async fn put_toxic(
        &self,
        proxy: &str,
        name: &str,
        kind: &str,
        stream: &str,
        create: Json,
        update: Json,
    ) -> Result<Json> {
        let base = format!("/proxies/{}/toxics", seg(proxy));
        let r = self
            .call(
                "POST",
                &base,
                Some(json!({"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": create})),
            )
            .await?;
        match r.status {
            200..=299 => Ok(r.body),
            409 => {
                self.must(
                    "POST",
                    &format!("{base}/{}", seg(name)),
                    Some(json!({"attributes": update, "stream": stream, "toxicity": 1.0})),
                )
                .await
            }
            404 => bail!(
                "the control API at {} has no proxy {proxy}; was it started from this cluster file?",
                self.addr
            ),
            _ => bail!("adding {kind} to {proxy}: {} ({})", r.error(), r.status),
        }
    }

    /// Removes a toxic; true if it was there.
    async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<bool> {
        let r = self
            .call(
                "DELETE",
                &format!("/proxies/{}/toxics/{}", seg(proxy), seg(name)),
                None,
            )
            .await?;
        match r.status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => bail!("removing {name} from {proxy}: {} ({})", r.error(), r.status),
        }
    }

    async fn set_enabled(&self, proxy: &str, enabled: bool) -> Result<()> {
        self.must(
            "POST",
            &format!("/proxies/{}", seg(proxy)),
            Some(json!({"enabled": enabled})),
        )
        .await
        .map(|_| ())
    }

    /// The supervised region processes, or `None` when this API supervises
    /// none (a bare `meridian netsim`, or Toxiproxy itself).
    async fn regions(&self) -> Result<Option<Vec<Json>>> {
        let r = self.call("GET", "/meridian/regions", None).await?;
        if r.status == 404 {
            return Ok(None);
        }
        if !r.ok() {
            bail!("GET /meridian/regions: {} ({})", r.error(), r.status);
        }
        Ok(Some(
            r.body["regions"].as_array().cloned().unwrap_or_default(),
        ))
    }

    fn unsupervised(&self) -> anyhow::Error {
        anyhow!(
            "the control API at {} does not supervise region processes (it is a bare \
             `meridian netsim`, or Toxiproxy); crash and restart regions another way, \
             e.g. docker kill / docker start, or run the cluster with `meridian up`",
            self.addr
        )
    }
}

/// A stable toxic name: one per fault and stream, so commands replace.
fn toxic_name(fault: &str, stream: &str) -> String {
    format!("meridian.{fault}.{stream}")
}

// ---------------------------------------------------------------------------
// The commands.

struct Net {
    cluster: ClusterFile,
    api: Api,
}

/// The two halves of the directed link `from → to`: (proxy, stream).
fn halves(from: &str, to: &str) -> [(String, &'static str); 2] {
    [
        (meridian_region::config::link_name(from, to), "upstream"),
        (meridian_region::config::link_name(to, from), "downstream"),
    ]
}

impl Net {
    fn region(&self, arg: &str, name: &str) -> Result<()> {
        self.cluster
            .entry(name)
            .map(|_| ())
            .map_err(|e| anyhow!("{arg}: {e}"))
    }

    /// Checks a pair and returns the directed links it names.
    fn links(&self, pair: &Pair) -> Result<Vec<(String, String)>> {
        self.region("FROM", &pair.from)?;
        self.region("TO", &pair.to)?;
        if pair.from == pair.to {
            bail!(
                "FROM and TO are both {}; a link joins two different regions",
                pair.from
            );
        }
        let mut v = vec![(pair.from.clone(), pair.to.clone())];
        if pair.both {
            v.push((pair.to.clone(), pair.from.clone()));
        }
        Ok(v)
    }

    /// Puts the same toxic on both halves of each directed link.
    async fn put(
        &self,
        links: &[(String, String)],
        fault: &str,
        kind: &str,
        create: Json,
        update: Json,
    ) -> Result<Vec<Json>> {
        let mut out = Vec::new();
        for (a, b) in links {
            for (proxy, stream) in halves(a, b) {
                out.push(
                    self.api
                        .put_toxic(
                            &proxy,
                            &toxic_name(fault, stream),
                            kind,
                            stream,
                            create.clone(),
                            update.clone(),
                        )
                        .await?,
                );
            }
        }
        Ok(out)
    }

    async fn remove(&self, links: &[(String, String)], fault: &str) -> Result<usize> {
        let mut n = 0;
        for (a, b) in links {
            for (proxy, stream) in halves(a, b) {
                n += usize::from(
                    self.api
                        .remove_toxic(&proxy, &toxic_name(fault, stream))
                        .await?,
                );
            }
        }
        Ok(n)
    }

    async fn partition(&self, from: &str, to: &str, kind: Kind) -> Result<()> {
        let links = [(from.to_string(), to.to_string())];
        let proxy = meridian_region::config::link_name(from, to);
        match kind {
            Kind::Blackhole => {
                // One kind at a time: switching kinds replaces.
                self.api
                    .remove_toxic(&proxy, &toxic_name("refuse", "upstream"))
                    .await?;
                self.api.set_enabled(&proxy, true).await?;
                self.put(
                    &links,
                    "partition",
                    "timeout",
                    json!({"timeout": 0}),
                    json!({"timeout": 0}),
                )
                .await?;
            }
            Kind::Refuse => {
                self.remove(&links, "partition").await?;
                // The RST first, while connections are open, then the refusal.
                self.api
                    .put_toxic(
                        &proxy,
                        &toxic_name("refuse", "upstream"),
                        "reset_peer",
                        "upstream",
                        json!({"timeout": 0}),
                        json!({"timeout": 0}),
                    )
                    .await?;
                self.api.set_enabled(&proxy, false).await?;
            }
        }
        Ok(())
    }

    /// The proxies a heal or clear touches.
    async fn scope(
        &self,
        from: Option<String>,
        to: Option<String>,
        region: Option<String>,
    ) -> Result<(Option<Vec<String>>, String)> {
        match (from, to, region) {
            (Some(a), Some(b), None) => {
                let pair = Pair {
                    from: a.clone(),
                    to: b.clone(),
                    both: true,
                };
                self.links(&pair)?;
                Ok((
                    Some(vec![
                        meridian_region::config::link_name(&a, &b),
                        meridian_region::config::link_name(&b, &a),
                    ]),
                    format!("{a} ⇄ {b}"),
                ))
            }
            (None, None, Some(r)) => {
                self.region("--region", &r)?;
                let proxies = self
                    .cluster
                    .links()
                    .into_iter()
                    .filter(|l| l.from == r || l.to == r)
                    .map(|l| l.name)
                    .collect();
                Ok((Some(proxies), format!("every link of {r}")))
            }
            (None, None, None) => Ok((None, "every link".into())),
            (Some(_), None, _) => bail!("TO is missing: give two regions, --region, or nothing"),
            _ => bail!("give two regions, --region R, or nothing (everywhere)"),
        }
    }

    async fn heal(&self, proxies: Option<Vec<String>>, all_faults: bool) -> Result<(usize, usize)> {
        let all = self.api.proxies().await?;
        let names = proxies.unwrap_or_else(|| all.keys().cloned().collect());
        let (mut removed, mut enabled) = (0, 0);
        for name in names {
            let p = match all.get(&name) {
                Some(p) => p.clone(),
                None => self.api.proxy(&name).await?,
            };
            for t in p["toxics"].as_array().into_iter().flatten() {
                let kind = t["type"].as_str().unwrap_or_default();
                if all_faults || CUTTING.contains(&kind) {
                    let tname = t["name"].as_str().unwrap_or_default();
                    removed += usize::from(self.api.remove_toxic(&name, tname).await?);
                }
            }
            if p["enabled"] == json!(false) {
                self.api.set_enabled(&name, true).await?;
                enabled += 1;
            }
        }
        Ok((removed, enabled))
    }

    async fn apply(&self, command: NetCommand) -> Result<String> {
        match command {
            NetCommand::Show { window } => {
                let window = window
                    .map(|w| parse_ms("--window", &w, Duration::from_secs(600)))
                    .transpose()?
                    .map(Duration::from_millis);
                self.show(window).await
            }
            NetCommand::Lag {
                pair,
                latency,
                jitter,
                distribution,
            } => {
                let links = self.links(&pair)?;
                let latency = parse_ms("LATENCY", &latency, MAX_DELAY)?;
                let jitter = jitter
                    .map(|j| parse_ms("--jitter", &j, MAX_DELAY))
                    .transpose()?;
                let mut update = json!({"latency": latency});
                if let Some(j) = jitter {
                    update["jitter"] = json!(j);
                }
                if let Some(d) = distribution {
                    update["distribution"] = json!(d.as_str());
                }
                let create = json!({
                    "latency": latency,
                    "jitter": jitter.unwrap_or(0),
                    "distribution": distribution.unwrap_or(Dist::Uniform).as_str(),
                });
                self.latency(&links, &pair, create, update).await
            }
            NetCommand::Jitter {
                pair,
                jitter,
                distribution,
            } => {
                let links = self.links(&pair)?;
                let jitter = parse_ms("JITTER", &jitter, MAX_DELAY)?;
                let mut update = json!({"jitter": jitter});
                if let Some(d) = distribution {
                    update["distribution"] = json!(d.as_str());
                }
                let create = json!({
                    "latency": 0,
                    "jitter": jitter,
                    "distribution": distribution.unwrap_or(Dist::Uniform).as_str(),
                });
                self.latency(&links, &pair, create, update).await
            }
            NetCommand::Bandwidth { pair, rate } => {
                let links = self.links(&pair)?;
                let head = format!("bandwidth {} {} {}", pair.from, arrow(pair.both), pair.to);
                match parse_rate("RATE", &rate)? {
                    None => {
                        let n = self.remove(&links, "bandwidth").await?;
                        Ok(if n == 0 {
                            format!("{head}: no limit was set")
                        } else {
                            format!("{head}: limit removed")
                        })
                    }
                    Some(r) => {
                        self.put(
                            &links,
                            "bandwidth",
                            "bandwidth",
                            json!({"rate": r}),
                            json!({"rate": r}),
                        )
                        .await?;
                        Ok(format!("{head}: {r} KB/s"))
                    }
                }
            }
            NetCommand::Loss { pair, percent, rto } => {
                let links = self.links(&pair)?;
                let percent = parse_percent("PERCENT", &percent)?;
                let rto = parse_ms(
                    "--rto",
                    &rto,
                    Duration::from_millis(meridian_netsim::toxic::MAX_RTO_MS),
                )?;
                if rto == 0 {
                    bail!("--rto: must be at least 1 ms");
                }
                let head = format!("loss {} {} {}", pair.from, arrow(pair.both), pair.to);
                if percent == 0.0 {
                    let n = self.remove(&links, "loss").await?;
                    return Ok(if n == 0 {
                        format!("{head}: no loss was set")
                    } else {
                        format!("{head}: removed")
                    });
                }
                let attrs = json!({"percent": percent, "rto_ms": rto});
                self.put(&links, "loss", "loss", attrs.clone(), attrs)
                    .await?;
                Ok(format!(
                    "{head}: {percent} % of chunks held one retransmission timeout ({}), and what follows them waits",
                    show_ms(rto)
                ))
            }
            NetCommand::Partition { pair, kind } => {
                let links = self.links(&pair)?;
                for (a, b) in &links {
                    self.partition(a, b, kind).await?;
                }
                let (a, b) = (&pair.from, &pair.to);
                Ok(match kind {
                    Kind::Blackhole => format!(
                        "partitioned {a} {} {b} (blackhole): every byte from {a} to {b}{} is dropped; connections stay open",
                        arrow(pair.both),
                        if pair.both { " and back" } else { "" }
                    ),
                    Kind::Refuse => format!(
                        "partitioned {a} {} {b} (refuse): {}; proxy {} disabled",
                        arrow(pair.both),
                        if pair.both {
                            format!("connections between {a} and {b} are reset and refused")
                        } else {
                            format!(
                                "connections {a} opens to {b} are reset and refused, those {b} opens to {a} stay up"
                            )
                        },
                        links
                            .iter()
                            .map(|(x, y)| meridian_region::config::link_name(x, y))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                })
            }
            NetCommand::Isolate { region, kind } => {
                self.region("REGION", &region)?;
                let peers: Vec<String> = self
                    .cluster
                    .region_names()
                    .into_iter()
                    .filter(|r| *r != region)
                    .collect();
                for p in &peers {
                    self.partition(&region, p, kind).await?;
                    self.partition(p, &region, kind).await?;
                }
                Ok(format!(
                    "isolated {region} ({}): cut both ways from {}; `meridian net heal --region {region}` ends it",
                    match kind {
                        Kind::Blackhole => "blackhole",
                        Kind::Refuse => "refuse",
                    },
                    peers.join(", ")
                ))
            }
            NetCommand::Flap { pair, period, down } => {
                let links = self.links(&pair)?;
                let period = parse_ms(
                    "--period",
                    &period,
                    Duration::from_millis(meridian_netsim::toxic::MAX_FLAP_PERIOD_MS),
                )?;
                let down = parse_ms("--down", &down, MAX_DELAY * 24)?;
                let min = meridian_netsim::toxic::MIN_FLAP_PERIOD_MS;
                if period < min {
                    bail!(
                        "--period: must be at least {min} ms, got {}",
                        show_ms(period)
                    );
                }
                if down == 0 || down >= period {
                    bail!(
                        "--down: must be more than 0 and less than --period ({}), got {}",
                        show_ms(period),
                        show_ms(down)
                    );
                }
                let attrs = json!({"period_ms": period, "down_ms": down});
                self.put(&links, "flap", "flap", attrs.clone(), attrs)
                    .await?;
                Ok(format!(
                    "flapping {} {} {}: blackholed for the first {} of every {}; `meridian net heal` ends it",
                    pair.from,
                    arrow(pair.both),
                    pair.to,
                    show_ms(down),
                    show_ms(period)
                ))
            }
            NetCommand::Heal { from, to, region } => {
                let (proxies, what) = self.scope(from, to, region).await?;
                let (removed, enabled) = self.heal(proxies, false).await?;
                Ok(format!(
                    "healed {what}: removed {removed} partition/flap toxics, enabled {enabled} proxies; \
                     latency, bandwidth and loss stay (`meridian net clear` removes them)"
                ))
            }
            NetCommand::Clear { from, to, region } => {
                let (proxies, what) = self.scope(from, to, region).await?;
                if proxies.is_none() {
                    self.api.must("POST", "/reset", None).await?;
                    return Ok(
                        "cleared every link: every toxic removed, every proxy enabled".into(),
                    );
                }
                let (removed, enabled) = self.heal(proxies, true).await?;
                Ok(format!(
                    "cleared {what}: removed {removed} toxics, enabled {enabled} proxies"
                ))
            }
            NetCommand::Skew {
                region,
                offset,
                drift_ppm,
            } => {
                self.region("REGION", &region)?;
                let offset_micros = parse_offset("OFFSET", &offset)?;
                if drift_ppm.abs() > MAX_DRIFT_PPM {
                    bail!("--drift-ppm: must be within ±{MAX_DRIFT_PPM}, got {drift_ppm}");
                }
                let url = format!("http://{}", self.cluster.entry(&region)?.grpc);
                let c = AdminClient::new(crate::client::channel(&url).await?)
                    .set_clock(pb::SetClockRequest {
                        offset_micros,
                        drift_ppm,
                    })
                    .await?
                    .into_inner();
                let hlc_ahead_ms = c
                    .hlc_now
                    .as_ref()
                    .map(|v| (v.physical_micros as i128 - c.real_micros as i128) as f64 / 1e3)
                    .unwrap_or(0.0);
                Ok(format!(
                    "skewed {region}'s clock: {:+} ms offset, {:+} ppm drift; its HLC now reads {hlc_ahead_ms:+.1} ms from real time ({})",
                    c.offset_micros as f64 / 1e3,
                    c.drift_ppm,
                    crate::client::version_text(&c.hlc_now)
                ))
            }
            NetCommand::Crash { region } => {
                self.region("REGION", &region)?;
                let r = self
                    .api
                    .call(
                        "POST",
                        &format!("/meridian/regions/{}/crash", seg(&region)),
                        None,
                    )
                    .await?;
                if r.status == 404 && !r.error().contains("known regions") {
                    return Err(self.api.unsupervised());
                }
                if !r.ok() {
                    bail!("crash {region}: {} ({})", r.error(), r.status);
                }
                Ok(format!(
                    "crashed {region} (SIGKILL, pid {}); `meridian net restart {region}` starts it again",
                    r.body["pid"]
                ))
            }
            NetCommand::Restart { region, wait } => {
                self.region("REGION", &region)?;
                let wait =
                    Duration::from_millis(parse_ms("--wait", &wait, Duration::from_secs(600))?);
                let r = self
                    .api
                    .call(
                        "POST",
                        &format!("/meridian/regions/{}/restart", seg(&region)),
                        None,
                    )
                    .await?;
                if r.status == 404 && !r.error().contains("known regions") {
                    return Err(self.api.unsupervised());
                }
                if !r.ok() {
                    bail!("restart {region}: {} ({})", r.error(), r.status);
                }
                let pid = r.body["pid"].clone();
                let took = self.wait_serving(&region, wait).await?;
                Ok(format!(
                    "restarted {region} (pid {pid}) on its data directory; serving after {:.1} s",
                    took.as_secs_f64()
                ))
            }
        }
    }

    async fn latency(
        &self,
        links: &[(String, String)],
        pair: &Pair,
        create: Json,
        update: Json,
    ) -> Result<String> {
        let toxics = self
            .put(links, "latency", "latency", create, update)
            .await?;
        let head = format!("latency {} {} {}", pair.from, arrow(pair.both), pair.to);
        // Every half now holds the same figures; read them back from one.
        let a = &toxics[0]["attributes"];
        let (l, j) = (
            a["latency"].as_u64().unwrap_or(0),
            a["jitter"].as_u64().unwrap_or(0),
        );
        if l == 0 && j == 0 {
            self.remove(links, "latency").await?;
            return Ok(format!("{head}: removed"));
        }
        let mut line = format!("{head}: {}", show_ms(l));
        if j > 0 {
            let _ = write!(
                line,
                " ± {} ({})",
                show_ms(j),
                a["distribution"].as_str().unwrap_or("uniform")
            );
        }
        line.push_str(" one way");
        Ok(line)
    }

    /// Waits until a restarted region answers Admin Status, and fails early
    /// if its process exits.
    async fn wait_serving(&self, region: &str, within: Duration) -> Result<Duration> {
        let start = tokio::time::Instant::now();
        let url = format!("http://{}", self.cluster.entry(region)?.grpc);
        let mut tick = 0u32;
        while start.elapsed() < within {
            if let Ok(Ok(ch)) =
                tokio::time::timeout(Duration::from_secs(2), crate::client::channel(&url)).await
                && let Ok(Ok(_)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    AdminClient::new(ch).status(pb::StatusRequest {}),
                )
                .await
            {
                return Ok(start.elapsed());
            }
            tick += 1;
            if tick.is_multiple_of(5)
                && let Some(regions) = self.api.regions().await?
                && let Some(p) = regions.iter().find(|p| p["name"] == region)
                && p["state"] != "running"
            {
                bail!(
                    "{region} stopped again right after the restart ({}); see `meridian up`'s output",
                    p["exit"].as_str().unwrap_or("no exit status")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{region} was restarted but does not serve on {url} after {}",
            show_dur(within)
        )
    }

    async fn show(&self, window: Option<Duration>) -> Result<String> {
        let names = self.cluster.region_names();
        let proxies = self.api.proxies().await;
        // Outer None: unknown (API unreachable); inner None: not supervised.
        let processes = match &proxies {
            Ok(_) => self.api.regions().await.ok(),
            Err(_) => None,
        };
        let statuses = fetch_statuses(&self.cluster).await;
        let mut lag_label = "since start".to_string();
        let mut windowed: Option<Vec<Option<pb::StatusResponse>>> = None;
        if let Some(w) = window {
            tokio::time::sleep(w).await;
            windowed = Some(statuses_only(fetch_statuses(&self.cluster).await));
            lag_label = format!("over {}", show_dur(w));
        }
        let mut out = String::new();
        match &proxies {
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(out, "faults unknown: {e:#}\n");
            }
        }
        let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) * 2 + 3;
        let _ = writeln!(
            out,
            "{:<w$}  {:<4} {:>8} {:>9} {:>9}  faults (every byte from → to)",
            "link", "conn", "pending", "lag p50", "lag p99"
        );
        let empty = BTreeMap::new();
        let proxies = proxies.as_ref().unwrap_or(&empty);
        for a in &names {
            for b in &names {
                if a == b {
                    continue;
                }
                let faults = if proxies.is_empty() {
                    "?".to_string()
                } else {
                    describe(proxies, a, b)
                };
                let (conn, pending) = match status_of(&statuses, &names, a) {
                    Some(s) => match s.peers.iter().find(|p| p.peer == *b) {
                        Some(p) => (
                            if p.connected { "up" } else { "down" }.to_string(),
                            p.pending.to_string(),
                        ),
                        None => ("?".into(), "?".into()),
                    },
                    None => ("?".into(), "?".into()),
                };
                // Lag a → b is measured where it lands, at b.
                let lag = match (&windowed, status_of(&statuses, &names, b)) {
                    (Some(later), Some(s)) => {
                        let i = names.iter().position(|n| n == b).unwrap_or(0);
                        match later.get(i).and_then(Option::as_ref) {
                            Some(l) => window_lag(s, l, a),
                            None => None,
                        }
                    }
                    (None, Some(s)) => s
                        .peers
                        .iter()
                        .find(|p| p.peer == *a)
                        .and_then(|p| p.latency)
                        .filter(|l| l.count > 0)
                        .map(|l| (l.p50_ms, l.p99_ms)),
                    _ => None,
                };
                let (p50, p99) = match lag {
                    Some((p50, p99)) => (format!("{p50:.1}ms"), format!("{p99:.1}ms")),
                    None => ("-".into(), "-".into()),
                };
                let _ = writeln!(
                    out,
                    "{:<w$}  {:<4} {:>8} {:>9} {:>9}  {faults}",
                    format!("{a} → {b}"),
                    conn,
                    pending,
                    p50,
                    p99
                );
            }
        }
        let _ = writeln!(
            out,
            "\npending: mutations `from` has committed that `to` has not applied. lag ({lag_label}): real time from commit in `from` to apply in `to`."
        );
        let _ = writeln!(
            out,
            "\n{:<rw$}  {:<21} {:<22} {:>10} {:>9} {:>7}",
            "region",
            "grpc",
            "process",
            "hlc−wall",
            "conflicts",
            "refused",
            rw = w.saturating_sub(3) / 2
        );
        for (i, r) in self.cluster.regions.iter().enumerate() {
            let process = match &processes {
                None => "?".into(),
                Some(None) => "not supervised".into(),
                Some(Some(list)) => match list.iter().find(|p| p["name"] == r.name.as_str()) {
                    Some(p) => format!(
                        "{} (pid {})",
                        p["state"].as_str().unwrap_or("?"),
                        p["pid"]
                            .as_u64()
                            .map(|p| p.to_string())
                            .unwrap_or("-".into())
                    ),
                    None => "?".into(),
                },
            };
            let (skew, conflicts, refused) = match statuses.get(i).and_then(|s| s.as_ref()) {
                Some((s, ahead)) => (
                    format!("{:+.1}ms", ahead),
                    s.conflicts.to_string(),
                    s.drift_refusals.to_string(),
                ),
                None => ("down".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "{:<rw$}  {:<21} {:<22} {:>10} {:>9} {:>7}",
                r.name,
                r.grpc.to_string(),
                process,
                skew,
                conflicts,
                refused,
                rw = w.saturating_sub(3) / 2
            );
        }
        let _ = write!(
            out,
            "\nhlc−wall: how far the region's HLC reads ahead of this machine's clock: its injected skew \
             (meridian net skew), or the newest version it has seen from a skewed peer. \
             refused: remote versions refused by the drift guard."
        );
        Ok(out)
    }
}

/// Status of every region in file order, each with its HLC's lead over this
/// machine's clock in ms.
async fn fetch_statuses(cluster: &ClusterFile) -> Vec<Option<(pb::StatusResponse, f64)>> {
    let mut tasks = Vec::new();
    for r in &cluster.regions {
        let url = format!("http://{}", r.grpc);
        tasks.push(tokio::spawn(async move {
            let call = async {
                let ch = crate::client::channel(&url).await.ok()?;
                let before = wall_micros();
                let s = AdminClient::new(ch)
                    .status(pb::StatusRequest {})
                    .await
                    .ok()?
                    .into_inner();
                // Measured from when the request left: the region reads its
                // HLC on arrival of the request, and the answer may then be
                // held back (Nagle) for tens of ms, which would make a
                // midpoint read the HLC as behind.
                let ahead = s
                    .hlc_now
                    .as_ref()
                    .map(|v| (v.physical_micros as i128 - before as i128) as f64 / 1e3)
                    .unwrap_or(0.0);
                tracing::debug!(region = %s.region, rtt_ms = (wall_micros() - before) as f64 / 1e3, "status");
                Some((s, ahead))
            };
            tokio::time::timeout(Duration::from_secs(5), call)
                .await
                .ok()
                .flatten()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.ok().flatten());
    }
    out
}

fn statuses_only(v: Vec<Option<(pb::StatusResponse, f64)>>) -> Vec<Option<pb::StatusResponse>> {
    v.into_iter().map(|s| s.map(|(s, _)| s)).collect()
}

fn status_of<'a>(
    statuses: &'a [Option<(pb::StatusResponse, f64)>],
    names: &[String],
    region: &str,
) -> Option<&'a pb::StatusResponse> {
    let i = names.iter().position(|n| n == region)?;
    statuses.get(i)?.as_ref().map(|(s, _)| s)
}

/// p50 and p99 (ms) of lag from `peer`, between two samples of a region.
fn window_lag(
    earlier: &pb::StatusResponse,
    later: &pb::StatusResponse,
    peer: &str,
) -> Option<(f64, f64)> {
    let buckets = |s: &pb::StatusResponse| {
        s.peers
            .iter()
            .find(|p| p.peer == peer)
            .map(|p| p.latency_buckets.clone())
    };
    let w = meridian_core::lag::window(&buckets(earlier)?, &buckets(later)?)?;
    let p50 = meridian_core::lag::quantile_micros(&w, 0.5)?;
    let p99 = meridian_core::lag::quantile_micros(&w, 0.99)?;
    Some((p50 as f64 / 1e3, p99 as f64 / 1e3))
}

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One toxic in words.
fn toxic_words(t: &Json) -> String {
    let a = &t["attributes"];
    let n = |k: &str| a[k].as_u64().unwrap_or(0);
    let mut w = match t["type"].as_str().unwrap_or("?") {
        "latency" => {
            let mut s = format!("latency {}", show_ms(n("latency")));
            if n("jitter") > 0 {
                let _ = write!(
                    s,
                    " ± {} {}",
                    show_ms(n("jitter")),
                    a["distribution"].as_str().unwrap_or("uniform")
                );
            }
            s
        }
        "bandwidth" => format!("bandwidth {} KB/s", n("rate")),
        "loss" => format!(
            "loss {} % (rto {})",
            a["percent"].as_f64().unwrap_or(0.0),
            show_ms(n("rto_ms"))
        ),
        "timeout" if n("timeout") == 0 => "blackhole".into(),
        "timeout" => format!("stall, closed after {}", show_ms(n("timeout"))),
        "reset_peer" => format!("reset after {}", show_ms(n("timeout"))),
        "flap" => format!(
            "flapping: down {} of every {}",
            show_ms(n("down_ms")),
            show_ms(n("period_ms"))
        ),
        "slow_close" => format!("slow close {}", show_ms(n("delay"))),
        "limit_data" => format!("closes after {} bytes", n("bytes")),
        other => other.to_string(),
    };
    if let Some(x) = t["toxicity"].as_f64()
        && x < 1.0
    {
        let _ = write!(w, " (on {:.0} % of connections)", x * 100.0);
    }
    w
}

/// The faults of the directed link `a → b` in words: the toxics on the
/// upstream of `a>b` and the downstream of `b>a`, and whether `a>b` refuses.
fn describe(proxies: &BTreeMap<String, Json>, a: &str, b: &str) -> String {
    let mut words: Vec<(String, Vec<String>)> = Vec::new();
    let mut refused = false;
    for (proxy, stream) in halves(a, b) {
        let Some(p) = proxies.get(&proxy) else {
            words.push((format!("no proxy {proxy}"), vec![proxy.clone()]));
            continue;
        };
        let disabled = p["enabled"] == json!(false);
        if stream == "upstream" && disabled {
            refused = true;
        }
        for t in p["toxics"].as_array().into_iter().flatten() {
            if t["stream"] != stream {
                continue;
            }
            // A disabled proxy carries nothing; its reset toxic is moot.
            if disabled && t["type"] == "reset_peer" {
                continue;
            }
            let w = toxic_words(t);
            match words.iter_mut().find(|(x, _)| *x == w) {
                Some((_, on)) => on.push(proxy.clone()),
                None => words.push((w, vec![proxy.clone()])),
            }
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if refused {
        parts.push(format!(
            "refused ({} disabled)",
            meridian_region::config::link_name(a, b)
        ));
    }
    for (w, on) in words {
        if on.len() == 2 {
            parts.push(w);
        } else {
            parts.push(format!("{w} [via {} only]", on.join("")));
        }
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_percentages_and_rates_name_the_argument_and_the_limit() {
        assert_eq!(parse_ms("L", "40ms", MAX_DELAY).unwrap(), 40);
        assert_eq!(parse_ms("L", "1.5s", MAX_DELAY).unwrap(), 1500);
        assert_eq!(parse_ms("L", "0.1s", MAX_DELAY).unwrap(), 100);
        assert_eq!(parse_ms("L", "0", MAX_DELAY).unwrap(), 0);
        let e = parse_ms("--jitter", "40", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--jitter") && e.contains("unit"), "{e}");
        let e = parse_ms("LATENCY", "2h", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATENCY") && e.contains("unknown unit"), "{e}");
        let e = parse_ms("LATENCY", "2m", Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("LATENCY") && e.contains("60 s"), "{e}");
        let e = parse_ms("LATENCY", "0.5ms", MAX_DELAY)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 ms"), "{e}");

        assert_eq!(parse_percent("P", "2%").unwrap(), 2.0);
        assert_eq!(parse_percent("P", "0.5").unwrap(), 0.5);
        let e = parse_percent("PERCENT", "150%").unwrap_err().to_string();
        assert!(
            e.contains("PERCENT") && e.contains("between 0 and 100"),
            "{e}"
        );
        assert!(parse_percent("P", "-1%").is_err());
        assert!(parse_percent("P", "lots").is_err());

        assert_eq!(parse_rate("R", "100").unwrap(), Some(100));
        assert_eq!(parse_rate("R", "100KB/s").unwrap(), Some(100));
        assert_eq!(parse_rate("R", "off").unwrap(), None);
        let e = parse_rate("RATE", "0").unwrap_err().to_string();
        assert!(e.contains("RATE") && e.contains("at least 1"), "{e}");
        let e = parse_rate("RATE", "99999999999").unwrap_err().to_string();
        assert!(e.contains("at most"), "{e}");

        assert_eq!(parse_offset("O", "+300ms").unwrap(), 300_000);
        assert_eq!(parse_offset("O", "-1.5s").unwrap(), -1_500_000);
        assert_eq!(parse_offset("O", "250us").unwrap(), 250);
        assert_eq!(parse_offset("O", "0").unwrap(), 0);
        let e = parse_offset("OFFSET", "+2d").unwrap_err().to_string();
        assert!(e.contains("OFFSET"), "{e}");
        let e = parse_offset("OFFSET", "-25h").unwrap_err().to_string();
        assert!(e.contains("OFFSET") && e.contains("unknown unit"), "{e}");
        let e = parse_offset("OFFSET", "-1500m").unwrap_err().to_string();
        assert!(e.contains("one day"), "{e}");
    }

    #[test]
    fn a_directed_link_is_the_upstream_of_its_proxy_and_the_downstream_of_the_reverse() {
        assert_eq!(
            halves("a", "b"),
            [
                ("a>b".to_string(), "upstream"),
                ("b>a".to_string(), "downstream")
            ]
        );
        assert_eq!(seg("a>b"), "a%3Eb");
        assert_eq!(
            seg("meridian.latency.upstream"),
            "meridian.latency.upstream"
        );
    }

    #[test]
    fn faults_are_described_per_directed_link() {
        let lat = json!({"name": "meridian.latency.upstream", "type": "latency", "stream": "upstream",
            "toxicity": 1.0, "attributes": {"latency": 40, "jitter": 5, "distribution": "normal"}});
        let lat_down = json!({"name": "meridian.latency.downstream", "type": "latency", "stream": "downstream",
            "toxicity": 1.0, "attributes": {"latency": 40, "jitter": 5, "distribution": "normal"}});
        let hole = json!({"name": "x", "type": "timeout", "stream": "upstream",
            "toxicity": 1.0, "attributes": {"timeout": 0}});
        let mut proxies = BTreeMap::new();
        proxies.insert(
            "a>b".to_string(),
            json!({"enabled": true, "toxics": [lat, hole]}),
        );
        proxies.insert(
            "b>a".to_string(),
            json!({"enabled": false, "toxics": [lat_down]}),
        );
        assert_eq!(
            describe(&proxies, "a", "b"),
            "latency 40 ms ± 5 ms normal, blackhole [via a>b only]"
        );
        // b → a: upstream of b>a (disabled, so refused), downstream of a>b (nothing).
        assert_eq!(describe(&proxies, "b", "a"), "refused (b>a disabled)");
        proxies.insert("b>a".to_string(), json!({"enabled": true, "toxics": []}));
        assert_eq!(describe(&proxies, "b", "a"), "-");
    }

    #[test]
    fn chunked_bodies_decode() {
        assert_eq!(
            decode_chunked(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n").unwrap(),
            b"{\"a\":1}"
        );
        assert!(decode_chunked(b"zz\r\n").is_err());
        assert!(decode_chunked(b"9\r\nab").is_err());
    }
}
