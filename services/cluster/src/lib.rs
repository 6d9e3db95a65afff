//! Cluster control: everything that starts, finds, faults and stops a
//! cluster of region processes, in one place, for `meridian up`,
//! `meridian net`, live drills, benchmarks and the tests.
//!
//! - [`ports`]: free loopback ports for clusters made on the fly;
//! - [`local`]: a running cluster: its link proxies, their control API and
//!   its region processes ([`process`]), written as a cluster file first;
//! - [`http`]: the one small HTTP/1.1 client (hyper), and [`api`] on top of
//!   it, the control API's client;
//! - [`failover`]: the failover DynamoDB endpoint `meridian up` serves
//!   with a `[failover]` section, moving to the next region when the
//!   active one fails its health checks;
//! - [`edge`]: the DynamoDB endpoint for every region `meridian up` serves
//!   with an `[edge]` section, sending each request to the region its
//!   signature names;
//! - [`passthrough`]: how both pass requests to a region unchanged;
//! - [`faults`]: the fault vocabulary of scenario files
//!   ([`meridian_scenario::scenario::Action`]) applied to a running cluster
//!   through the control API, with the one naming scheme for proxies and
//!   toxics;
//! - [`state`]: a region's heads, read from its store file, as the
//!   convergence checker takes them;
//! - [`wait`]: waiting, with a deadline, until a region listens or serves
//!   and until a cluster is quiescent;
//! - [`alarms`]: the cluster's alarms `meridian up` evaluates, as its
//!   control API serves them;
//! - [`current`]: where the running cluster's file is, for commands run
//!   from any directory.

pub mod alarms;
pub mod api;
pub mod current;
pub mod edge;
pub mod failover;
pub mod faults;
pub mod http;
pub mod local;
pub mod passthrough;
pub mod ports;
pub mod process;
pub mod state;
pub mod wait;

pub use api::ControlApi;
pub use faults::{Executor, Outcome};
pub use local::{LocalCluster, Logs};
pub use process::Processes;

/// Errors of cluster control. Each names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] meridian_region::ConfigError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    Wait(#[from] wait::WaitError),
    #[error(transparent)]
    Data(#[from] state::DataError),
    #[error("{0}")]
    Failed(String),
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
        let context = context.into();
        move |source| ClusterError::Io { context, source }
    }
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
