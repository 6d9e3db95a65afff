//! The `[edge]` section of a cluster file (docs/edge.md): one address for
//! every region. `meridian up` serves a DynamoDB endpoint there that hands
//! each request, unchanged, to the region its SigV4 credential scope names,
//! as the AWS SDKs' one `AWS_ENDPOINT_URL` for every region expects
//! (LocalStack's convention: port 4566).
//!
//! Only the settings and their checks live here; the endpoint itself is
//! `meridian_cluster::edge`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Where the edge listens when the section gives no `listen`: LocalStack's
/// port, so setups written for it find Meridian where they look.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4566);

/// The edge's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSection {
    /// The edge's address, a DynamoDB endpoint for every region.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

impl Default for EdgeSection {
    fn default() -> Self {
        EdgeSection {
            listen: DEFAULT_LISTEN,
        }
    }
}

impl EdgeSection {
    /// Checks the section against the file's regions (`(name, dynamo
    /// address)` in file order) and the addresses the file's other
    /// listeners take: the edge forwards to every region, so each needs a
    /// DynamoDB endpoint, and its port must be its own.
    pub fn validate(
        &self,
        regions: &[(&str, Option<SocketAddr>)],
        taken: &[SocketAddr],
    ) -> Result<(), String> {
        if let Some((name, _)) = regions.iter().find(|r| r.1.is_none()) {
            return Err(format!(
                "an [edge] section forwards to every region, and region {name} has no dynamo address"
            ));
        }
        if let Some(clash) = taken.iter().find(|a| a.port() == self.listen.port()) {
            return Err(format!(
                "edge.listen {} takes the port of another listener of this file ({clash})",
                self.listen
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_region_without_dynamo_or_a_taken_port_is_refused() {
        let both = [("a", Some(addr(8101))), ("b", Some(addr(8102)))];
        let edge = EdgeSection::default();
        assert_eq!(edge.validate(&both, &[addr(8101)]), Ok(()));
        let err = edge
            .validate(&[("a", Some(addr(8101))), ("b", None)], &[])
            .unwrap_err();
        assert!(err.contains("region b has no dynamo address"), "{err}");
        let err = edge.validate(&both, &[addr(4566)]).unwrap_err();
        assert!(
            err.contains("edge.listen 127.0.0.1:4566 takes the port"),
            "{err}"
        );
    }
}
