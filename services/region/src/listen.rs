//! The rules on the addresses of the endpoints a cluster file adds (the
//! failover endpoint's, the edge's): the port each must have to itself,
//! and where a listener is dialled. Apart from the file's type so the
//! sections, and what serves them, can use them.

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

pub use meridian_layout::dial;
