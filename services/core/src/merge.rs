//! The last-writer-wins merge and the conflict rule (docs/conflicts.md#the-rule).
//!
//! Both are pure functions of versions. Every replica decides with the same
//! two functions, which is what makes them converge.

use crate::context::Context;
use crate::key::EncodedKey;
use crate::schema::CATALOG_TABLE;
use crate::value::Item;
use crate::version::Version;

/// Anything that carries a version: a stored item, a mutation.
pub trait Versioned {
    fn version(&self) -> &Version;
}

impl Versioned for Version {
    fn version(&self) -> &Version {
        self
    }
}

/// The LWW merge: the operand with the greater version.
///
/// Laws (property-tested): commutative, associative and idempotent. Versions
/// are unique per write, so equal versions mean the same write and returning
/// either operand is the same answer.
pub fn merge<T: Versioned>(a: T, b: T) -> T {
    if b.version() > a.version() { b } else { a }
}

/// Two writes are concurrent when neither writer had seen the other: `a`'s
/// causal context does not cover `b`, and `b`'s does not cover `a`.
pub fn concurrent(
    a_version: &Version,
    a_ctx: &Context,
    b_version: &Version,
    b_ctx: &Context,
) -> bool {
    a_version != b_version && !a_ctx.saw(b_version) && !b_ctx.saw(a_version)
}

/// The head of a key on one replica, or an incoming write to it: its
/// version, its causal context, and whether it is a TTL expiry's tombstone.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    pub version: &'a Version,
    pub context: &'a Context,
    /// A tombstone written by TTL expiry.
    pub expiry: bool,
}

impl Versioned for Head<'_> {
    fn version(&self) -> &Version {
        self.version
    }
}

/// What a replica does with an incoming mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The incoming mutation replaces the current head.
    pub apply: bool,
    /// The same version is already the head: delivery was duplicated.
    pub duplicate: bool,
    /// The two writes were concurrent and the loser is a lost update: the
    /// replica records a conflict.
    pub conflict: bool,
}

/// Decides an incoming mutation to a key of `table` against the key's
/// current head, if any: whether it wins (the LWW merge) and whether the
/// pair is a conflict to record.
///
/// Two kinds of concurrent pairs resolve by the same merge but are not
/// recorded as conflicts:
/// - writes to the catalog (two regions creating the same table at once):
///   conflicts are tracked per item, not per table (docs/limits.md);
/// - two TTL expiries of the same item: both regions deleted it because it
///   expired, which is agreement, not a lost update.
///
/// Neither exception changes which write wins, so the merge laws hold for
/// every kind of write.
pub fn resolve(table: &str, current: Option<Head<'_>>, incoming: Head<'_>) -> Resolution {
    let Some(current) = current else {
        return Resolution {
            apply: true,
            duplicate: false,
            conflict: false,
        };
    };
    if current.version == incoming.version {
        return Resolution {
            apply: false,
            duplicate: true,
            conflict: false,
        };
    }
    let winner = merge(current, incoming);
    let exempt = table == CATALOG_TABLE || (current.expiry && incoming.expiry);
    Resolution {
        apply: winner.version == incoming.version,
        duplicate: false,
        conflict: !exempt
            && concurrent(
                current.version,
                current.context,
                incoming.version,
                incoming.context,
            ),
    }
}

/// Why the winner of a conflict won, in the order the comparison decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WinReason {
    LaterPhysicalTime,
    HigherLogicalCounter,
    OriginTieBreak,
}

impl WinReason {
    pub fn of(winner: &Version, loser: &Version) -> Self {
        if winner.hlc.physical != loser.hlc.physical {
            WinReason::LaterPhysicalTime
        } else if winner.hlc.logical != loser.hlc.logical {
            WinReason::HigherLogicalCounter
        } else {
            WinReason::OriginTieBreak
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WinReason::LaterPhysicalTime => "later physical time",
            WinReason::HigherLogicalCounter => "same physical time, higher logical counter",
            WinReason::OriginTieBreak => "same timestamp, origin region breaks the tie",
        }
    }
}

/// A detected conflict: which write lost, to which, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    pub table: String,
    pub key: EncodedKey,
    pub winner: Version,
    pub winner_image: Option<Item>,
    pub loser: Version,
    pub loser_image: Option<Item>,
    /// The region that observed the two writes meet.
    pub detected_by: String,
    /// Real (unskewed) time of detection, µs since the epoch.
    pub detected_real_micros: u64,
}

impl Conflict {
    pub fn reason(&self) -> WinReason {
        WinReason::of(&self.winner, &self.loser)
    }
}
