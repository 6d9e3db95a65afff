//! The last-writer-wins merge and the conflict rule (ARCHITECTURE §4).
//!
//! Both are pure functions of versions. Every replica decides with the same
//! two functions, which is what makes them converge.

use crate::context::Context;
use crate::schema::EncodedKey;
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

/// The head of a key on one replica: its version and its causal context.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    pub version: &'a Version,
    pub context: &'a Context,
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
    /// The two writes were concurrent: one of them is a lost update.
    pub conflict: bool,
}

/// Decides an incoming mutation against the current head, if any.
pub fn resolve(current: Option<Head<'_>>, incoming: Head<'_>) -> Resolution {
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
    Resolution {
        apply: winner.version == incoming.version,
        duplicate: false,
        conflict: concurrent(
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

/// One replicated change: the whole item after the write, or a tombstone.
/// Item-level LWW: applying it never depends on what was there before.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    pub table: String,
    /// The catalog version of the table when written, so a mutation that
    /// outlives a DeleteTable never lands in a recreated table of that name.
    pub table_version: Option<Version>,
    pub key: EncodedKey,
    pub version: Version,
    pub prev: Option<Version>,
    /// The writes this one descends from; includes `version` itself.
    pub context: Context,
    /// `None` is a tombstone.
    pub image: Option<Item>,
}

impl Mutation {
    pub fn head(&self) -> Head<'_> {
        Head {
            version: &self.version,
            context: &self.context,
        }
    }
}

impl Versioned for Mutation {
    fn version(&self) -> &Version {
        &self.version
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
