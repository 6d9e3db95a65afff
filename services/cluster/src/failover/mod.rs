//! The failover DynamoDB endpoint `meridian up` serves with a `[failover]`
//! section (docs/failover.md): it forwards every request to a home region
//! and, when that region stops answering its health check, to the next
//! region of its list once the TTL has passed, as a Route 53 failover
//! record or an application-level router does in front of DynamoDB global
//! tables; it moves back when an operator asks.
//!
//! - [`decide`]: when to move, from health rounds and the time alone
//!   (pure, tested in virtual time);
//! - [`rpo`]: which acknowledged writes the new region lacked at a move,
//!   and whether they came back, read from the stores;
//! - [`endpoint`]: the state, the health loop and the status document;
//! - [`proxy`]: the HTTP side: every request to the active region,
//!   through [`crate::passthrough`].

pub mod decide;
pub mod endpoint;
pub mod proxy;
pub mod rpo;

use std::sync::Arc;

use meridian_region::ClusterFile;

pub use endpoint::{Endpoint, Handle};

use crate::{ClusterError, Result};

/// A running failover endpoint: its listener served and its health loop,
/// until [`Running::stop`].
pub struct Running {
    pub endpoint: Arc<Endpoint>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the endpoint of `file`'s `[failover]` section, if it has one:
/// binds its address (a taken port fails here, naming it), serves it, and
/// starts its health checks.
pub async fn start(file: &ClusterFile) -> Result<Option<Running>> {
    let Some(section) = file.failover.clone() else {
        return Ok(None);
    };
    let mut regions = Vec::new();
    for name in &section.regions {
        let entry = file.entry(name)?;
        let Some(dynamo) = entry.dynamo else {
            return Err(ClusterError::Failed(format!(
                "failover.regions names {name}, which has no dynamo address"
            )));
        };
        // A region listening on every interface is dialled on loopback.
        let host = if dynamo.ip().is_unspecified() {
            std::net::SocketAddr::from(([127, 0, 0, 1], dynamo.port()))
        } else {
            dynamo
        };
        regions.push(endpoint::Region {
            name: name.clone(),
            dynamo: host.to_string(),
            data_dir: file.data_dir.join(name),
        });
    }
    let listener = tokio::net::TcpListener::bind(section.listen)
        .await
        .map_err(ClusterError::io(format!(
            "binding the failover endpoint on {} (failover.listen; is another `meridian up` running?)",
            section.listen
        )))?;
    let endpoint = Arc::new(Endpoint::new(section.listen, regions, section));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = vec![
        tokio::spawn(crate::passthrough::serve(
            endpoint.clone(),
            listener,
            stopped.clone(),
        )),
        tokio::spawn(endpoint.clone().run(stopped)),
    ];
    Ok(Some(Running {
        endpoint,
        stop,
        tasks,
    }))
}

impl Running {
    /// Stops serving and checking.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
