//! The error of the region's operations, apart from them so that the
//! write paths under them (strong mode's among them) can name it.

use crate::bridge::BridgeError;

/// A region operation failed: the table is missing, or the store said no.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("table {0} not found")]
    TableNotFound(String),
    #[error(transparent)]
    Store(#[from] BridgeError),
    /// A write or linearizable read of a STRONG table (docs/strong.md).
    #[error(transparent)]
    Strong(#[from] crate::strong::StrongError),
}
