//! The failover endpoint behind the control API: Meridian's
//! `/meridian/failover` routes ([`crate::api`]). `meridian up` serves a
//! failover DynamoDB endpoint when the cluster file has a `[failover]`
//! section (docs/failover.md) and attaches it here, so its status and its
//! moves are read and asked for where region crashes are.

use serde_json::Value as Json;

use crate::supervisor::BoxFuture;

/// Why a move was refused.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// The request names no region of the endpoint's list (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The region may not take the traffic now: unhealthy, or already
    /// active (HTTP 409).
    #[error("{0}")]
    Refused(String),
}

/// The failover endpoint, as the control API reads and moves it.
pub trait Failover: Send + Sync + 'static {
    /// `GET /meridian/failover`: the endpoint's status and every move
    /// (docs/failover.md shows the document).
    fn status(&self) -> BoxFuture<'_, Json>;
    /// Moves the endpoint to `region` now, or to its home with `None`, as
    /// an operator asks; resolves to the status after the move.
    fn move_to<'a>(&'a self, region: Option<&'a str>)
    -> BoxFuture<'a, Result<Json, FailoverError>>;
}
