//! Free loopback ports for clusters made on the fly (drills, benchmarks,
//! tests). Another process could take a port between the probe and the
//! bind; the bind then fails with its own error, naming the address.

use crate::{ClusterError, Result};

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(ClusterError::io("picking a free port"))?;
    Ok(l.local_addr()
        .map_err(ClusterError::io("picking a free port"))?
        .port())
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
    fn a_run_of_ports_is_free_as_a_whole() {
        let start = free_port_run(9).unwrap();
        let held: Vec<_> = (start..start + 9)
            .map(|p| std::net::TcpListener::bind(("127.0.0.1", p)))
            .collect();
        assert!(held.iter().all(|l| l.is_ok()));
    }
}
