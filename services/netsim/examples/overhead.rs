//! What the proxy itself costs: round trips of small messages to an echo
//! server on loopback, directly and through a proxy with no toxics, in the
//! same run and interleaved in batches so both see the same machine.
//!
//! ```sh
//! cargo run --release -p meridian-netsim --example overhead [-- --count 20000 --size 64]
//! cargo run --release -p meridian-netsim --example overhead -- --latency-ms 40 --count 300
//! ```
//!
//! Prints p50/p99/max of both and what the proxy adds; exits 1 if it adds
//! 1 ms or more at p99 (the budget docs/netsim.md states). With
//! `--latency-ms L` the proxy delays one direction by L, and what it adds
//! is counted beyond L: a delayed chunk must leave when it is due, not at
//! a timer's next tick.

use std::time::{Duration, Instant};

use meridian_netsim::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Round trips per path, at most.
const DEFAULT_COUNT: usize = 20_000;
const MAX_COUNT: usize = 1_000_000;
/// Round trips per path that are not measured (connection and allocator warm-up).
const WARMUP: usize = 500;
/// Alternate between the paths every this many round trips.
const BATCH: usize = 100;
/// Stop measuring after this long, whatever the count.
const TIME_BUDGET: Duration = Duration::from_secs(60);
/// The overhead budget at p99.
const BUDGET: Duration = Duration::from_millis(1);

async fn echo_server() -> std::io::Result<String> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
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
    Ok(addr)
}

async fn round_trip(s: &mut TcpStream, msg: &[u8], got: &mut [u8]) -> std::io::Result<Duration> {
    let start = Instant::now();
    s.write_all(msg).await?;
    s.read_exact(got).await?;
    Ok(start.elapsed())
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} takes a whole number")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let count = arg(&args, "--count", DEFAULT_COUNT)?.clamp(1, MAX_COUNT);
    let size = arg(&args, "--size", 64)?.clamp(1, 64 * 1024);
    let latency = Duration::from_millis(arg(&args, "--latency-ms", 0)?.min(1_000) as u64);
    // Delayed round trips are slow: fewer of them warm up.
    let warmup = if latency.is_zero() { WARMUP } else { 5 };

    let upstream = echo_server().await?;
    let registry = Registry::new();
    let proxy = registry
        .create("overhead", "127.0.0.1:0", &upstream, true)
        .await?;
    let mut direct = TcpStream::connect(&upstream).await?;
    let mut proxied = TcpStream::connect(proxy.listen).await?;
    direct.set_nodelay(true)?;
    proxied.set_nodelay(true)?;

    let msg = vec![0x5au8; size];
    let mut got = vec![0u8; size];
    if !latency.is_zero() {
        proxy.add_toxic(meridian_netsim::Toxic {
            name: "latency".into(),
            stream: meridian_netsim::Stream::Upstream,
            toxicity: 1.0,
            effect: meridian_netsim::Effect::Latency {
                latency_ms: latency.as_millis() as u64,
                jitter_ms: 0,
                distribution: meridian_netsim::Distribution::Uniform,
            },
        })?;
    }
    for _ in 0..warmup {
        round_trip(&mut direct, &msg, &mut got).await?;
        round_trip(&mut proxied, &msg, &mut got).await?;
    }
    let mut d = Vec::with_capacity(count);
    let mut p = Vec::with_capacity(count);
    let start = Instant::now();
    while d.len() < count && start.elapsed() < TIME_BUDGET {
        let n = BATCH.min(count - d.len());
        for _ in 0..n {
            d.push(round_trip(&mut direct, &msg, &mut got).await?);
        }
        for _ in 0..n {
            p.push(round_trip(&mut proxied, &msg, &mut got).await?);
        }
    }
    d.sort();
    p.sort();
    println!(
        "{} round trips of {size} B per path over loopback ({:.1} s), the proxy delaying one way by {latency:?}",
        d.len(),
        start.elapsed().as_secs_f64()
    );
    // What the proxy adds is counted beyond the latency it was set to add.
    for x in &mut p {
        *x = x.saturating_sub(latency);
    }
    println!("{:<18} {:>12} {:>12} {:>12}", "path", "p50", "p99", "max");
    for (name, v) in [("direct", &d), ("through proxy − L", &p)] {
        println!(
            "{name:<18} {:>12} {:>12} {:>12}",
            us(percentile(v, 0.50)),
            us(percentile(v, 0.99)),
            us(*v.last().unwrap_or(&Duration::ZERO))
        );
    }
    let added50 = percentile(&p, 0.50).saturating_sub(percentile(&d, 0.50));
    let added99 = percentile(&p, 0.99).saturating_sub(percentile(&d, 0.99));
    println!(
        "added by the proxy: p50 {}, p99 {}",
        us(added50),
        us(added99)
    );
    let ok = added99 < BUDGET;
    println!(
        "{}: the proxy adds {} at p99 (budget: under {})",
        if ok { "ok" } else { "OVER BUDGET" },
        us(added99),
        us(BUDGET)
    );
    Ok(ok)
}
