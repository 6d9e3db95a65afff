//! The gRPC status of the region's errors: the one mapping of the gRPC
//! front, apart from the conversions of messages (`convert`) so that those
//! stay a leaf that knows nothing of operations or the bridge.

use meridian_store::StoreError;
use tonic::Status;

use crate::bridge::BridgeError;

/// The gRPC status of an operation's error: the one mapping of the gRPC
/// front, matched on [`OpError`](crate::ops::OpError)'s variants.
pub fn status_from_op(e: crate::ops::OpError) -> Status {
    use crate::ops::{Internal, OpError};
    match e {
        OpError::TableNotFound(_) => Status::not_found(e.to_string()),
        OpError::Invalid(e) => Status::invalid_argument(e.to_string()),
        OpError::TableExists(_) => Status::already_exists(e.to_string()),
        OpError::ConditionFailed(_)
        | OpError::TransactionCanceled { .. }
        | OpError::NotReplica { .. }
        | OpError::PitrDisabled(_) => Status::failed_precondition(e.to_string()),
        OpError::RestoreTime { .. } => Status::out_of_range(e.to_string()),
        OpError::PolicyChanged(_) => Status::aborted(e.to_string()),
        OpError::Strong(e) => {
            use crate::strong::StrongError;
            match e {
                // Retry-safe, as the SDKs mark DynamoDB's exception.
                StrongError::Conflict => Status::aborted(e.to_string()),
                StrongError::Busy(_) => Status::resource_exhausted(e.to_string()),
                StrongError::NotMember(_) => Status::not_found(e.to_string()),
                StrongError::Unavailable { .. } | StrongError::Stale(_) => {
                    Status::unavailable(e.to_string())
                }
            }
        }
        // A stopping region, or one whose writer stopped, is unavailable:
        // a client may retry elsewhere. A write that was not stored says so.
        OpError::Internal(Internal(e)) => match e {
            BridgeError::Closed => Status::unavailable("the region is shutting down"),
            BridgeError::WriterFailed(_) => Status::unavailable(e.to_string()),
            BridgeError::GroupFailed(m) => Status::internal(format!(
                "the write was not stored: group commit failed: {m}"
            )),
            BridgeError::Store(e @ StoreError::GroupAborted(_)) => {
                Status::internal(format!("the write was not stored: {e}"))
            }
            BridgeError::Store(e) => {
                tracing::error!(error = %e, "store error");
                Status::internal(e.to_string())
            }
        },
    }
}

/// The gRPC status of an error of the bridge, for the region's own calls
/// of it: as an operation's ([`status_from_op`]).
pub fn status_from(e: BridgeError) -> Status {
    status_from_op(e.into())
}
