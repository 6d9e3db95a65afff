//! What a drill runs against, whichever way it runs: the regions it
//! reaches ([`RegionTarget`]), the faults it can inject ([`Faults`]) and
//! which kind of run it is ([`Mode`]). Every other module of the drill
//! depends on these, and these on none of them.

use std::future::Future;
use std::path::PathBuf;

use meridian_scenario::scenario::Action;
use tonic::transport::Channel;

/// How to reach one region.
#[derive(Clone)]
pub struct RegionTarget {
    pub name: String,
    pub channel: Channel,
    /// Where it answers Admin calls: `channel` unless its cluster file
    /// gives admin an address of its own (a Swarm stack's does).
    pub admin: Channel,
    /// Its store, read after the drill to compare every replica's heads.
    pub data_dir: PathBuf,
    /// The cluster's admin token, sent with the Admin calls that change a
    /// region (skew, pause); `None` when the cluster has none (a cluster
    /// the drill starts).
    pub admin_token: Option<String>,
}

/// The index of region `name` among `regions`, or the error every event
/// naming a region the drill does not have reports.
pub(crate) fn index_of(regions: &[RegionTarget], name: &str) -> Result<usize, String> {
    regions
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| format!("no region {name}"))
}

/// Whether the regions run as OS processes in real time, or under turmoil
/// in virtual time. The report names it (`"live"` or `"sim"`), and a crash
/// means a different thing in each (see `disaster::power_loss`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    Simulated,
}

impl Mode {
    /// The name the report gives the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Simulated => "sim",
        }
    }
}

/// Why a fault was not applied. Either way the drill goes on and the
/// report's timeline says so; what differs is whether another run could
/// do better: a mode never applies what it does not support, while a
/// failure may not happen again.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// This mode cannot apply the fault (the message says where it can).
    #[error("{0}")]
    Unsupported(String),
    /// The fault was tried and failed.
    #[error("{0}")]
    Failed(String),
}

/// The refusal of `Faults::region_write` where a drill reaches regions only
/// over the network (`who`: "a live drill", "a drill against a stack").
pub(crate) fn no_region_write(who: &str, region: &str) -> FaultError {
    FaultError::Unsupported(format!(
        "{who} cannot write through {region}'s own operations (TTL is turned on by the DynamoDB endpoint's UpdateTimeToLive, which drills do not speak); run it with --sim"
    ))
}

/// Network and process faults; the two modes implement these differently.
/// Clock skew is not here: the driver sets it through the Admin API in both.
pub trait Faults {
    fn apply(&mut self, action: &Action) -> impl Future<Output = Result<(), FaultError>>;
    /// Ends every partition, isolation and flap and restarts every crashed
    /// region; latency, bandwidth and loss stay. Returns what it did, one
    /// line per change, for the report's markers.
    fn heal_all(&mut self) -> impl Future<Output = Result<Vec<String>, FaultError>>;
    /// Writes `ops` through `region`'s own operations, for what its gRPC
    /// API has no call for: turning TTL on (`CatalogChange::SetTtl`, which the
    /// DynamoDB endpoint's UpdateTimeToLive runs). Only a simulated drill
    /// reaches a region's operations; a live one says so.
    fn region_write(
        &mut self,
        region: &str,
        ops: Vec<meridian_store::CatalogChange>,
    ) -> impl Future<Output = Result<(), FaultError>>;
    /// Called once the regions have settled, before the checks read every
    /// region's store at its `data_dir`. Regions whose stores are not
    /// files here (a Swarm stack's) copy them there now.
    fn settled(&mut self) -> impl Future<Output = Result<(), FaultError>> {
        async { Ok(()) }
    }
    /// The record of the failover endpoint the cluster serves
    /// (`GET /meridian/failover`, docs/failover.md), or `None` where it
    /// serves none or it could not be read.
    fn failover_record(&mut self) -> impl Future<Output = Option<serde_json::Value>> {
        async { None }
    }
}
