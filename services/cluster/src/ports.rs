//! Free loopback ports for clusters made on the fly (drills, benchmarks,
//! tests). Another process could still take a port between the probe and
//! the bind; the bind then fails with its own error, naming the address,
//! and a launcher waiting for the region checks that the process answering
//! there is the one it started (`wait::serving`).

use crate::{ClusterError, Result};

/// The lowest port [`free_port`] picks from.
const FLOOR: u16 = 10_000;

/// A port that was free on 127.0.0.1 a moment ago. It is taken at random
/// below the kernel's ephemeral range when there is room there: a port of
/// that range can be handed to any outgoing connection (and every region
/// dials its peers) between this probe and the region's bind, and two
/// clusters started at once would both be offered the ports the kernel
/// hands out next.
pub fn free_port() -> Result<u16> {
    let below = ephemeral_start().saturating_sub(FLOOR);
    if below >= 1_000 {
        for _ in 0..100 {
            let port = FLOOR + (random() % u64::from(below)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(ClusterError::io("picking a free port"))?;
    Ok(l.local_addr()
        .map_err(ClusterError::io("picking a free port"))?
        .port())
}

/// The first port of the kernel's ephemeral range (Linux's default when it
/// cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// 64 random bits: the standard library seeds every `RandomState` from the
/// operating system, so processes started together still pick apart.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// The first of `count` consecutive free loopback ports: a cluster file's
/// `[netsim]` section lays the link proxies out on n² consecutive ports.
pub fn free_port_run(count: usize) -> Result<u16> {
    for _ in 0..200 {
        let start = free_port()?;
        if usize::from(start) + count >= 65_000 {
            continue;
        }
        // Held together, so the run is free as a whole, not port by port.
        let held: Vec<_> = (0..count as u16)
            .map_while(|k| std::net::TcpListener::bind(("127.0.0.1", start + k)).ok())
            .collect();
        if held.len() == count {
            return Ok(start);
        }
    }
    Err(ClusterError::Failed(format!(
        "found no run of {count} free loopback ports in 200 tries"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_picked_below_the_ephemeral_range() {
        let start = ephemeral_start();
        for _ in 0..20 {
            let p = free_port().unwrap();
            if start >= FLOOR + 1_000 {
                assert!((FLOOR..start).contains(&p), "{p} not in {FLOOR}..{start}");
            }
        }
    }

    #[test]
    fn a_run_of_ports_is_free_as_a_whole() {
        let start = free_port_run(9).unwrap();
        let held: Vec<_> = (start..start + 9)
            .map(|p| std::net::TcpListener::bind(("127.0.0.1", p)))
            .collect();
        assert!(held.iter().all(|l| l.is_ok()));
    }
}
