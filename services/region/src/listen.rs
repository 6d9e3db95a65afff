//! The one rule on the port of an endpoint a cluster file adds (the
//! failover endpoint's, the edge's), apart from the file's type so the
//! sections can use it.

use std::net::SocketAddr;

/// Refuses `listen`, the setting `field`, when another listener of the
/// file (`taken`) has its port: on one machine the two could not both bind.
pub(crate) fn own_port(
    field: &str,
    listen: SocketAddr,
    taken: &[SocketAddr],
) -> Result<(), String> {
    match taken.iter().find(|a| a.port() == listen.port()) {
        Some(clash) => Err(format!(
            "{field} {listen} takes the port of another listener of this file ({clash})"
        )),
        None => Ok(()),
    }
}
