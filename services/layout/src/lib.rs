//! A cluster's layout, as its cluster file gives it: the regions and where
//! each listens ([`RegionEntry`]), the link proxy's section
//! ([`NetsimSection`]), and the one naming scheme of the proxy's directed
//! links (`A>B`, [`link_name`], [`links`]).
//!
//! The region's cluster file (`meridian_region::ClusterFile`) is made of
//! these types, `meridian up` and the fault vocabulary name links with
//! them, and a tool that only reaches a cluster (the conformance checker)
//! reads a cluster file through [`Layout`] without the region's code.

pub mod failover;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How often each region expires items when the file does not say
/// (`ttl_interval_ms`; docs/operations.md).
pub const DEFAULT_TTL_INTERVAL_MS: u64 = 5_000;

/// One region of the cluster and where it listens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionEntry {
    pub name: String,
    /// gRPC listen address; peers connect here too unless `advertise` says
    /// otherwise.
    pub grpc: SocketAddr,
    /// `host:port` peers and proxies dial to reach this region's gRPC
    /// endpoint, when it differs from `grpc` (in a container network, the
    /// container's name and port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    /// Prometheus `/metrics` and `/health` listen address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// DynamoDB-compatible HTTP endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamo: Option<SocketAddr>,
    /// Where replication and repair listen, apart from the client API on
    /// `grpc`; peers dial this port (at `advertise`'s host when set).
    /// Required with `[tls]`, which applies to this listener only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<SocketAddr>,
    /// Where admin (status, conflicts, clocks, repair, backups, replica
    /// changes) listens, apart from the client API on `grpc`; without it,
    /// admin is served on `grpc` (docs/security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<SocketAddr>,
}

impl RegionEntry {
    /// Where this region answers admin calls: `admin`, else `grpc`.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.unwrap_or(self.grpc)
    }

    /// `host:port` a client dials for the client API: `advertise` when
    /// set (where peers and proxies reach it too), else `grpc`.
    pub fn grpc_dial(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.grpc.to_string())
    }

    /// `host:port` a client dials for admin calls: [`Self::admin_addr`],
    /// but at the `advertise` host when admin listens on every interface
    /// (in a container network, where `0.0.0.0` would reach the client's
    /// own container, not the region's). An admin listener on one address
    /// (loopback, say) is dialled there.
    pub fn admin_dial(&self) -> String {
        let addr = self.admin_addr();
        match &self.advertise {
            Some(a) if addr.ip().is_unspecified() => {
                let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                format!("{host}:{}", addr.port())
            }
            _ => addr.to_string(),
        }
    }

    /// `host:port` where peers reach this region: its replication listener
    /// when it has one, else its gRPC endpoint; at the `advertise` host
    /// when set.
    pub fn peer_dial(&self) -> String {
        match (self.replication, &self.advertise) {
            (None, Some(a)) => a.clone(),
            (None, None) => self.grpc.to_string(),
            (Some(l), None) => l.to_string(),
            (Some(l), Some(a)) => {
                let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                format!("{host}:{}", l.port())
            }
        }
    }
}

/// Where the link proxy runs. Region `i` reaches region `j` (positions in
/// the file, from 0) through the proxy named `"<i name>><j name>"`, listening
/// on port `first_port + i × n + j` where `n` is the number of regions.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetsimSection {
    /// The control API (Toxiproxy-compatible, plus Meridian's extensions).
    #[serde(default = "default_netsim_api")]
    pub api: SocketAddr,
    /// Address the proxies bind to.
    #[serde(default = "default_listen_host")]
    pub listen_host: std::net::IpAddr,
    /// Host name regions dial to reach the proxies (default: `listen_host`);
    /// in a container network, the proxy container's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub first_port: u16,
}

fn default_netsim_api() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8474))
}

fn default_listen_host() -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, 1])
}

impl NetsimSection {
    /// A section with the defaults a file without them is read with.
    pub fn new(api: SocketAddr, first_port: u16) -> Self {
        NetsimSection {
            api,
            listen_host: default_listen_host(),
            host: None,
            first_port,
        }
    }

    /// Checks that the link ports of a cluster of `regions` regions fit
    /// below 65536, as [`links`] needs.
    pub fn check_ports(&self, regions: usize) -> Result<(), String> {
        let last = u64::from(self.first_port) + (regions as u64).pow(2) - 1;
        if self.first_port == 0 || last > u64::from(u16::MAX) {
            return Err(format!(
                "netsim.first_port must leave room for {} link ports below 65536, got {}",
                regions.pow(2),
                self.first_port
            ));
        }
        Ok(())
    }

    /// `host:port` a client dials for the control API: `api`, but at
    /// `host` when the API listens on every interface (the proxy in its own
    /// container, reached by its name from another one), else on loopback.
    pub fn api_dial(&self) -> String {
        match &self.host {
            Some(h) if self.api.ip().is_unspecified() => format!("{h}:{}", self.api.port()),
            _ => dial(self.api).to_string(),
        }
    }
}

/// One directed link through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: String,
    pub to: String,
    /// The proxy's name: [`link_name`].
    pub name: String,
    /// Where the proxy listens.
    pub listen: SocketAddr,
    /// `host:port` the `from` region dials.
    pub dial: String,
    /// `host:port` the proxy forwards to: the `to` region's peer address.
    pub upstream: String,
}

/// The proxy name of the directed link `from` → `to`: `"<from>><to>"`.
pub fn link_name(from: &str, to: &str) -> String {
    format!("{from}>{to}")
}

/// The two ends of a link named by [`link_name`]; `None` for a name that
/// is no link's (region names never hold `>`).
pub fn link_ends(name: &str) -> Option<(&str, &str)> {
    name.split_once('>')
        .filter(|(from, to)| !from.is_empty() && !to.is_empty() && !to.contains('>'))
}

/// Every directed link through the proxy of `netsim`, in file order;
/// empty without one.
pub fn links(regions: &[RegionEntry], netsim: Option<&NetsimSection>) -> Vec<Link> {
    let Some(n) = netsim else {
        return Vec::new();
    };
    let count = regions.len();
    let host = n.host.clone().unwrap_or_else(|| n.listen_host.to_string());
    let mut links = Vec::new();
    for (i, from) in regions.iter().enumerate() {
        for (j, to) in regions.iter().enumerate() {
            if i == j {
                continue;
            }
            // Every reader of a file checks the ports fit first
            // (`NetsimSection::check_ports`).
            let port = n.first_port + (i * count + j) as u16;
            links.push(Link {
                from: from.name.clone(),
                to: to.name.clone(),
                name: link_name(&from.name, &to.name),
                listen: SocketAddr::new(n.listen_host, port),
                dial: format!("{host}:{port}"),
                upstream: to.peer_dial(),
            });
        }
    }
    links
}

/// Where to dial a listener at `addr`: one listening on every interface
/// (`0.0.0.0`, `[::]`) is dialled on loopback, which it also serves, since
/// an unspecified address cannot be connected to.
pub fn dial(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Why a cluster file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
}

/// The layout of a cluster file, read alone: its regions, its `[netsim]`
/// section and when its regions expire items. Every other key is
/// ignored, so a file with sections this reader does not know (a newer
/// Meridian's) still gives what a client needs to reach the cluster.
#[derive(Debug, Clone, Deserialize)]
pub struct Layout {
    #[serde(rename = "region", default)]
    pub regions: Vec<RegionEntry>,
    pub netsim: Option<NetsimSection>,
    /// How often each region looks for items whose TTL has passed.
    #[serde(default = "default_ttl_interval_ms")]
    pub ttl_interval_ms: u64,
}

fn default_ttl_interval_ms() -> u64 {
    DEFAULT_TTL_INTERVAL_MS
}

impl Layout {
    /// The layout of the cluster file at `path`.
    pub fn read(path: &Path) -> Result<Layout, LayoutError> {
        let text = std::fs::read_to_string(path).map_err(|source| LayoutError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Layout::parse(&text).map_err(|e| LayoutError::Parse(format!("{}: {e}", path.display())))
    }

    /// The layout of a cluster file's text.
    pub fn parse(text: &str) -> Result<Layout, LayoutError> {
        let layout: Layout = toml::from_str(text).map_err(|e| LayoutError::Parse(e.to_string()))?;
        if let Some(n) = &layout.netsim {
            n.check_ports(layout.regions.len())
                .map_err(LayoutError::Parse)?;
        }
        Ok(layout)
    }

    /// Every directed link through the link proxy; empty without one.
    pub fn links(&self) -> Vec<Link> {
        links(&self.regions, self.netsim.as_ref())
    }
}

/// Refuses `listen`, the setting `field`, when another listener of the
/// cluster file (`taken`) has its port: on one machine the two could not
/// both bind.
pub fn own_port(
    field: &str,
    listen: std::net::SocketAddr,
    taken: &[std::net::SocketAddr],
) -> Result<(), String> {
    match taken.iter().find(|a| a.port() == listen.port()) {
        Some(clash) => Err(format!(
            "{field} {listen} takes the port of another listener of this file ({clash})"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
        name = "t"
        data_dir = "/tmp/t"
        some_newer_key = 3
        [newer_section]
        x = 1
        [[region]]
        name = "a"
        grpc = "127.0.0.1:7101"
        dynamo = "0.0.0.0:8101"
        [[region]]
        name = "b"
        grpc = "0.0.0.0:7102"
        advertise = "b.internal:7102"
        [netsim]
        api = "0.0.0.0:8474"
        first_port = 7201
    "#;

    #[test]
    fn a_layout_reads_past_keys_it_does_not_know() {
        let l = Layout::parse(TWO).unwrap();
        assert_eq!(l.regions.len(), 2);
        assert_eq!(l.ttl_interval_ms, DEFAULT_TTL_INTERVAL_MS);
        // A wildcard listener is dialled on loopback.
        assert_eq!(
            dial(l.regions[0].dynamo.unwrap()).to_string(),
            "127.0.0.1:8101"
        );
        assert_eq!(l.netsim.as_ref().unwrap().api_dial(), "127.0.0.1:8474");
        let names: Vec<_> = l.links().into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["a>b", "b>a"]);
        let ab = &l.links()[0];
        assert_eq!(
            (ab.listen.port(), ab.upstream.as_str()),
            (7202, "b.internal:7102")
        );
        // A region's own keys are checked: a misspelt one is refused.
        let bad = TWO.replace("dynamo =", "dynamodb =");
        assert!(Layout::parse(&bad).is_err());
        let past = TWO.replace("first_port = 7201", "first_port = 65534");
        let err = Layout::parse(&past).unwrap_err().to_string();
        assert!(
            err.contains("netsim.first_port must leave room for 4"),
            "{err}"
        );
    }

    #[test]
    fn link_names_part_into_their_ends() {
        assert_eq!(
            link_ends(&link_name("us-east-1", "eu-west-1")),
            Some(("us-east-1", "eu-west-1"))
        );
        for bad in ["ab", ">b", "a>", "a>b>c"] {
            assert_eq!(link_ends(bad), None, "{bad}");
        }
    }
}
