//! What can go wrong in the store ([`StoreError`], with the
//! [`ConditionFailure`] a refused condition carries), and the decoding of a
//! stored version, whose failure is one. A leaf: every part of the store
//! (the group writer, the readers, the catalog, the log, the digest)
//! returns these, and none of them is needed to say what went wrong.

use std::path::PathBuf;

use meridian_core::{HlcError, Item, Version};
use thiserror::Error;

/// Why a condition did not hold, with the item it was checked against.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionFailure {
    pub message: String,
    pub current: Option<Item>,
}

impl std::fmt::Display for ConditionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("corrupt store row: {0}")]
    Corrupt(String),
    #[error("table {0} not found")]
    TableNotFound(String),
    #[error("table {0} already exists")]
    TableExists(String),
    #[error("table {table} has no replica in region {region}; its replicas are {replicas:?}")]
    NotReplica {
        table: String,
        region: String,
        replicas: Vec<String>,
    },
    #[error("condition failed: {0}")]
    ConditionFailed(ConditionFailure),
    /// A transaction's conditions failed; one reason per operation, in order
    /// (`None` for the operations whose conditions held).
    #[error("transaction cancelled: {}", reasons.iter().map(|r| r.as_ref().map_or("None", |_| "ConditionalCheckFailed")).collect::<Vec<_>>().join(", "))]
    TransactionCanceled {
        reasons: Vec<Option<ConditionFailure>>,
    },
    /// SQLite abandoned the group's transaction (for example on a full disk
    /// or an I/O error). Nothing in the group may be acknowledged.
    #[error("the group's transaction was aborted: {0}")]
    GroupAborted(String),
    /// A restore to a point in time of a table whose recovery is off here.
    /// A policy change found another revision than the one it was
    /// decided on: a concurrent change came first.
    #[error("the policy of table {table} changed meanwhile: revision {found:?}, not {expected:?}")]
    PolicyChanged {
        table: String,
        expected: Option<String>,
        found: Option<String>,
    },
    #[error("point-in-time recovery is not enabled for table {0}")]
    PitrDisabled(String),
    /// A restore time outside the window recovery keeps (µs since the epoch).
    #[error(
        "restore time {asked} is outside the restorable window {earliest}..={latest} (µs since the epoch)"
    )]
    RestoreTime {
        asked: u64,
        earliest: u64,
        latest: u64,
    },
    #[error(transparent)]
    Invalid(#[from] meridian_core::Error),
    #[error(transparent)]
    Clock(#[from] HlcError),
}

impl StoreError {
    /// Whether the error means the store cannot be trusted any more (a
    /// corrupt file, an I/O error, a row that does not decode): the writer
    /// then stops for good. A full disk or a busy lock fails only the group
    /// it hit.
    pub fn is_fatal(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Corrupt(_) => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(DatabaseCorrupt | NotADatabase | SystemIoFailure | CannotOpen)
            ),
            _ => false,
        }
    }
}

/// A stored version column, decoded; a blob that does not decode is a
/// corrupt row.
pub(crate) fn version_from(blob: Option<Vec<u8>>) -> Result<Option<Version>, StoreError> {
    blob.map(|b| Version::from_bytes(&b).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}
