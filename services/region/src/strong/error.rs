//! Why a write or a linearizable read of a STRONG table did not succeed
//! ([`StrongError`]), and the words its answers carry. A leaf: the
//! region's operation errors (`crate::error`) and their gRPC statuses
//! (`crate::convert`) name it without reaching the strong-mode runtime.

use meridian_core::strong::Index;

/// What an [`StrongError::Unavailable`] answer says when the write may
/// still take effect: a client that sees it must treat the write's outcome
/// as unknown (the drill's checker does), one that does not can count the
/// write as refused.
pub const MAY_TAKE_EFFECT: &str = "; the write may still take effect";

/// What every [`StrongError::Unavailable`] answer says.
pub const NO_MAJORITY: &str = "could not reach a majority of the table's three Regions";

/// Why a write or a linearizable read of a STRONG table did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrongError {
    /// DynamoDB's `ReplicatedWriteConflictException`.
    #[error(
        "The request was rejected because one or more items in the request are being modified by a request in another Region."
    )]
    Conflict,
    /// No majority of the table's regions answered in time.
    #[error(
        "Table {table}: this Region could not reach a majority of the table's three Regions within {millis} ms (MultiRegionConsistency STRONG){}",
        if *.unknown { MAY_TAKE_EFFECT } else { "" }
    )]
    Unavailable {
        table: String,
        millis: u64,
        unknown: bool,
    },
    #[error("Too many writes to table {0} are waiting for a majority; retry the request")]
    Busy(String),
    #[error("Table {0} has no STRONG replica in this Region")]
    NotMember(String),
    /// A key had a newer write of this region in flight: the write is
    /// evaluated again once position `0` is applied here.
    #[error("evaluated before position {0} was applied")]
    Stale(Index),
}
