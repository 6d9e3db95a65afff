//! What `meridian`'s commands share: the default cluster file, how a
//! command finds and loads the cluster file and names the region it talks
//! to ([`Target`]), the stop signal of a server, and the refusals that set
//! the exit status. A leaf, so every command reaches it without a loop
//! through `main.rs` or the command line (`args`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

/// The cluster file used when none is given: three regions on loopback.
pub const DEFAULT_CLUSTER: &str = meridian_cluster::current::DEFAULT_CLUSTER;

/// How commands that talk to a running cluster find its file, for their
/// `--config` help.
pub(crate) const DISCOVERY: &str = "Cluster file [default: regions/local-3.toml if it exists here, else the \
    one the last `meridian up` recorded (see docs/operations.md)]";

/// The region a command talks to: by name from the cluster file, or by
/// its endpoint.
#[derive(Args, Clone)]
pub struct Target {
    #[arg(long, env = "MERIDIAN_CONFIG", help = DISCOVERY)]
    pub config: Option<PathBuf>,
    /// Region to talk to (a name from the cluster file).
    #[arg(long)]
    pub region: Option<String>,
    /// gRPC endpoint to talk to instead, e.g. http://127.0.0.1:7101.
    #[arg(long)]
    pub endpoint: Option<String>,
}

/// A command that ran and answered "no": scripts can tell each answer from a
/// failure to run (exit 1) and from bad usage (exit 2, from the argument
/// parser). docs/operations.md lists the codes.
#[derive(Debug)]
pub enum Refusal {
    /// `meridian status` found regions down or not answering (exit 3).
    RegionsDown(Vec<String>),
    /// A drill ran to the end and its checker failed (exit 4).
    CheckerFailed(String),
}

impl Refusal {
    /// The process exit status for this answer.
    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::RegionsDown(_) => 3,
            Refusal::CheckerFailed(_) => 4,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::RegionsDown(down) => write!(
                f,
                "{} region(s) down or not answering: {}",
                down.len(),
                down.join(", ")
            ),
            Refusal::CheckerFailed(first) => write!(f, "the checker failed: {first}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// The cluster file of a command that talks to a running cluster: the one
/// given, else the default here, else the one `meridian up` recorded.
pub fn cluster_path(given: Option<&std::path::Path>) -> Result<PathBuf> {
    Ok(meridian_cluster::current::resolve(given)?)
}

/// Resolves on Ctrl-C or SIGTERM: how a server of ours (the link proxy,
/// the dashboard alone) is told to stop.
pub async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Reads a cluster file with a message that says which file.
pub fn load_cluster(path: &std::path::Path) -> Result<meridian_region::ClusterFile> {
    meridian_region::ClusterFile::load(path)
        .with_context(|| format!("loading cluster file {} (set --config)", path.display()))
}
