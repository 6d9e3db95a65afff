//! The bookkeeping of a leader and of reads in progress, as data: the
//! node holds it, `leader.rs` and `reads.rs` act on it.

use std::collections::HashMap;

use super::types::{Ballot, Index, MEMBERS, Member, ProposalId};

/// The newest unchosen write of a key, for the conflict rule.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub(super) version: Vec<u8>,
    pub(super) origin: Member,
    pub(super) index: Index,
}

/// What the leader keeps about its ballot and every member.
#[derive(Debug)]
pub struct Lead {
    pub(super) ballot: Ballot,
    /// The next position to send each member.
    pub(super) next: [Index; MEMBERS],
    /// The highest position each member holds at this ballot, and when it
    /// last grew.
    pub(super) held: [Index; MEMBERS],
    pub(super) progress: [u64; MEMBERS],
    /// When each member was last sent anything.
    pub(super) sent: [u64; MEMBERS],
    /// When a voter last answered.
    pub(super) heard_voter: u64,
    pub(super) in_flight: HashMap<Vec<u8>, InFlight>,
    pub(super) ids: HashMap<ProposalId, Index>,
    pub(super) ping: u64,
    pub(super) pongs: [u64; MEMBERS],
    pub(super) remote_reads: Vec<RemoteRead>,
}

/// A local read waiting for where to read.
#[derive(Debug)]
pub(super) struct Read {
    pub(super) deadline: u64,
    pub(super) state: ReadState,
}

#[derive(Debug)]
pub(super) enum ReadState {
    /// Asking the leader (`sent`: when last asked).
    Ask { sent: Option<u64> },
    /// Leading: waiting for a voter to answer heartbeat `ping`.
    Ping { index: Index, ping: u64 },
    /// Waiting until `index` is chosen here.
    Wait { index: Index },
}

/// A member's read the leader vouches for once a voter answers `ping`.
#[derive(Debug)]
pub(super) struct RemoteRead {
    pub(super) to: Member,
    pub(super) rid: u64,
    pub(super) index: Index,
    pub(super) ping: u64,
}
