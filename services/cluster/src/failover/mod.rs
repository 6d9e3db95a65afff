//! The failover DynamoDB endpoint `meridian up` serves with a `[failover]`
//! section (docs/failover.md): it forwards every request to a home region
//! and, when that region stops answering its health check, to the next
//! region of its list once the TTL has passed, as a Route 53 failover
//! record or an application-level router does in front of DynamoDB global
//! tables; it moves back when an operator asks.
//!
//! One module holds it all but the section's settings, which are the
//! cluster file's (`meridian_layout::failover::FailoverSection`, read by every
//! program that reads the file):
//!
//! - [`decide`]: when to move, from health rounds and the time alone
//!   (pure, tested in virtual time);
//! - [`rpo`]: which acknowledged writes the new region lacked at a move,
//!   and whether they came back, read from the stores;
//! - [`endpoint`]: the state and the record: moves, failed requests,
//!   missing writes, and the status document;
//! - [`health`]: the health checks, a worker run by
//!   [`meridian_region::runner`] like every other loop;
//! - [`routes`]: its status and moves on the control API;
//! - [`proxy`]: the HTTP side: every request to the active region,
//!   through [`crate::passthrough`].

pub mod decide;
pub mod endpoint;
pub mod health;
pub mod proxy;
pub mod routes;
pub mod rpo;

use std::sync::Arc;

use meridian_region::ClusterFile;
use meridian_region::worker::{Stop, Workers};
use tokio::task::JoinHandle;

pub use endpoint::{Endpoint, MoveError};

use crate::{ClusterError, Result};

/// Starts the endpoint of `file`'s `[failover]` section, if it has one:
/// binds its address (a taken port fails here, naming it), then serves it
/// (worker `failover`) and checks its regions (worker `failover-health`)
/// until `stop`; their tasks join `tasks`.
pub async fn start(
    file: &ClusterFile,
    workers: &Arc<Workers>,
    stop: &Stop,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Option<Arc<Endpoint>>> {
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
        regions.push(endpoint::Region {
            name: name.clone(),
            dynamo: meridian_region::listen::dial(dynamo).to_string(),
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
    let served = endpoint.clone();
    tasks.push(workers.spawn("failover", stop, |w, stop| async move {
        w.running();
        crate::passthrough::serve(served, listener, stop).await
    }));
    let checked = endpoint.clone();
    tasks.push(workers.spawn("failover-health", stop, |w, stop| {
        meridian_region::runner::run(health::Health::new(checked), w, stop)
    }));
    Ok(Some(endpoint))
}
