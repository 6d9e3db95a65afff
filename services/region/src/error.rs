//! The error of the region's operations, apart from them so that the
//! write paths under them (strong mode's among them) can name it.
//!
//! Every front (the DynamoDB API, the gRPC service) matches [`OpError`] at
//! one level: its variants are what a caller decides on. How an error of
//! the store, reached through the bridge to its writer thread, becomes one
//! is the one rule here (`From<StoreError>`, `From<BridgeError>`), so no
//! front sees the bridge.

use meridian_store::{ConditionFailure, StoreError};

use crate::bridge::BridgeError;

/// A region operation failed: what the caller is told, and answers by.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The table is not here, or not yet to this caller (a replica still
    /// being created): fronts answer "not found".
    #[error("table {0} not found")]
    TableNotFound(String),
    /// A create or restore names a table that exists: DynamoDB answers a
    /// create in use, a restore already exists.
    #[error("table {0} already exists")]
    TableExists(String),
    /// A write's condition did not hold; the failure holds the item as it
    /// stands, which a front may return with it.
    #[error("condition failed: {0}")]
    ConditionFailed(ConditionFailure),
    /// A transaction's conditions failed; one reason per operation, in order
    /// (`None` for the operations whose conditions held), for the front's
    /// cancellation reasons.
    #[error("transaction cancelled: {}", reasons.iter().map(|r| r.as_ref().map_or("None", |_| "ConditionalCheckFailed")).collect::<Vec<_>>().join(", "))]
    TransactionCanceled {
        reasons: Vec<Option<ConditionFailure>>,
    },
    /// The request breaks a rule of the core; its error has the field and
    /// the wording a front answers with.
    #[error(transparent)]
    Invalid(meridian_core::Error),
    /// The table exists, but has no replica in this region: DynamoDB's
    /// answer is that the table is not found here, naming its replicas.
    #[error("table {table} has no replica in region {region}; its replicas are {replicas:?}")]
    NotReplica {
        table: String,
        region: String,
        replicas: Vec<String>,
    },
    /// A policy change decided on a revision another change replaced
    /// meanwhile: the caller decides again on the new one.
    #[error("the policy of table {0} changed meanwhile")]
    PolicyChanged(String),
    /// A restore to a point in time of a table whose recovery is off here.
    #[error("point-in-time recovery is not enabled for table {0}")]
    PitrDisabled(String),
    /// A restore time outside the window recovery keeps (µs since the
    /// epoch), given with the window so the caller can pick again.
    #[error(
        "restore time {asked} is outside the restorable window {earliest}..={latest} (µs since the epoch)"
    )]
    RestoreTime {
        asked: u64,
        earliest: u64,
        latest: u64,
    },
    /// A write or linearizable read of a STRONG table (docs/strong.md).
    #[error(transparent)]
    Strong(#[from] crate::strong::StrongError),
    /// Nothing the request can change: the store failed, or the region is
    /// stopping or its writer has stopped. Fronts answer a server error.
    #[error(transparent)]
    Internal(Internal),
}

/// The cause of [`OpError::Internal`], kept whole for the region's own
/// answers (the gRPC front tells a stopping region, which a client may
/// retry elsewhere, from a failed store) and for its message.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Internal(pub(crate) BridgeError);

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TableNotFound(t) => OpError::TableNotFound(t),
            StoreError::TableExists(t) => OpError::TableExists(t),
            StoreError::ConditionFailed(f) => OpError::ConditionFailed(f),
            StoreError::TransactionCanceled { reasons } => OpError::TransactionCanceled { reasons },
            StoreError::Invalid(e) => OpError::Invalid(e),
            StoreError::NotReplica {
                table,
                region,
                replicas,
            } => OpError::NotReplica {
                table,
                region,
                replicas,
            },
            StoreError::PitrDisabled(t) => OpError::PitrDisabled(t),
            StoreError::PolicyChanged { table, .. } => OpError::PolicyChanged(table),
            StoreError::RestoreTime {
                asked,
                earliest,
                latest,
            } => OpError::RestoreTime {
                asked,
                earliest,
                latest,
            },
            e @ (StoreError::Sqlite(_)
            | StoreError::Open { .. }
            | StoreError::Corrupt(_)
            | StoreError::GroupAborted(_)
            | StoreError::Clock(_)) => OpError::Internal(Internal(BridgeError::Store(e))),
        }
    }
}

impl From<BridgeError> for OpError {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::Store(e) => e.into(),
            e @ (BridgeError::Closed
            | BridgeError::GroupFailed(_)
            | BridgeError::WriterFailed(_)) => OpError::Internal(Internal(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One store error of each kind.
    fn store_errors() -> Vec<StoreError> {
        let failure = || ConditionFailure {
            message: "The conditional request failed".into(),
            current: None,
        };
        vec![
            StoreError::Corrupt("row".into()),
            StoreError::TableNotFound("t".into()),
            StoreError::TableExists("t".into()),
            StoreError::NotReplica {
                table: "t".into(),
                region: "eu-west-1".into(),
                replicas: vec!["us-east-1".into()],
            },
            StoreError::ConditionFailed(failure()),
            StoreError::TransactionCanceled {
                reasons: vec![None, Some(failure())],
            },
            StoreError::GroupAborted("disk full".into()),
            StoreError::PitrDisabled("t".into()),
            StoreError::RestoreTime {
                asked: 1,
                earliest: 2,
                latest: 3,
            },
            StoreError::Invalid(meridian_core::Error::invalid("Key", "bad")),
        ]
    }

    /// The variants repeat the store's wording: a front's message is the
    /// one it gave before the bridge's error was hidden.
    #[test]
    fn an_error_keeps_its_message_through_the_conversion() {
        for (store, again) in store_errors().into_iter().zip(store_errors()) {
            assert_eq!(OpError::from(store).to_string(), again.to_string());
        }
        for bridge in [
            BridgeError::Closed,
            BridgeError::GroupFailed("busy".into()),
            BridgeError::WriterFailed("panicked".into()),
        ] {
            let message = bridge.to_string();
            assert!(
                matches!(OpError::from(bridge), OpError::Internal(ref e) if e.to_string() == message)
            );
        }
    }
}
