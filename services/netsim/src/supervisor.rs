//! Region processes behind the control API: Meridian's extension routes
//! under `/meridian/`. `meridian up` starts every region as its own process
//! and lets the API crash and restart them; a bare `meridian netsim` (for
//! example the proxy in its own container) supervises nothing, and the
//! routes answer 404 with a message saying so.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A boxed future, so [`Supervisor`] can be a trait object without pulling
/// in an async-trait crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a region's process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    Running,
    /// Killed through the API (SIGKILL); `restart` brings it back.
    Crashed,
    /// Ended by itself (an error, or a signal from outside the API).
    Exited,
}

impl ProcessState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Crashed => "crashed",
            ProcessState::Exited => "exited",
        }
    }
}

/// One supervised region, as `GET /meridian/regions` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegionProcess {
    pub name: String,
    /// The region's gRPC address.
    pub grpc: String,
    /// The process id of the current (or last) process.
    pub pid: Option<u32>,
    pub state: ProcessState,
    /// How the last process ended, when it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("region {name:?} is not supervised here; known regions: {known}")]
    Unknown { name: String, known: String },
    #[error("region {name} is already running (pid {pid}); crash it first")]
    AlreadyRunning { name: String, pid: u32 },
    #[error("region {name} is not running (it is {state})", state = state.as_str())]
    NotRunning { name: String, state: ProcessState },
    #[error("{0}")]
    Failed(String),
}

/// Crashes and restarts region processes for the control API.
pub trait Supervisor: Send + Sync + 'static {
    /// Every region, in cluster-file order.
    fn regions(&self) -> BoxFuture<'_, Vec<RegionProcess>>;
    /// SIGKILL of the region's process; resolves once it is gone, so its
    /// ports are free for a restart.
    fn crash<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>>;
    /// Starts the region again on the same data directory. Resolves once the
    /// process is started, not once it listens.
    fn restart<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>>;
}
