//! The bookkeeping of a leader and of reads in progress, as data: the
//! node holds it, `leader.rs` and `reads.rs` act on it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::types::{Ballot, Index, MEMBERS, Member, ProposalId, Refusal, Slot};

/// How many refusals a leader remembers: far more than can be in flight
/// within a request's deadline at the most writes a table lets wait.
pub(super) const REFUSALS_KEPT: usize = 16_384;

/// The newest unchosen write of a key, for the conflict rule.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub(super) version: Vec<u8>,
    pub(super) origin: Member,
    pub(super) index: Index,
}

impl Lead {
    /// Records that `id` was refused for `reason`.
    pub(super) fn refuse(&mut self, id: ProposalId, reason: Refusal) -> Refusal {
        if self.refused.insert(id, reason.clone()).is_none() {
            self.refused_order.push_back(id);
            while self.refused_order.len() > REFUSALS_KEPT {
                if let Some(old) = self.refused_order.pop_front() {
                    self.refused.remove(&old);
                }
            }
        }
        reason
    }
}

/// What the leader keeps about its ballot and every member.
#[derive(Debug)]
pub struct Lead {
    pub(super) ballot: Ballot,
    /// The next position to send each member.
    pub(super) next: [Index; MEMBERS],
    /// The highest position each member holds at this ballot, and when it
    /// last grew. The leader's own is what its disk holds: it sends entries
    /// before they are durable here, and learns when they are from
    /// [`Node::persisted`](super::node::Node::persisted).
    pub(super) held: [Index; MEMBERS],
    /// The highest position each voter has said it holds at this ballot:
    /// with the leader's own durable copy, a majority.
    pub(super) voted: [Index; MEMBERS],
    /// The furthest each member was told the leader's copy is durable.
    pub(super) told: [Index; MEMBERS],
    pub(super) progress: [u64; MEMBERS],
    /// The highest position each member has said it knows chosen (a
    /// voter's acceptance at this ballot, which it makes its commit before
    /// it answers). Entries are dropped only below every member's: one
    /// that holds an entry without knowing it chosen (a member that was
    /// not voting then) and restarts must be sent it again, by whichever
    /// leader it meets.
    pub(super) kept: [Index; MEMBERS],
    /// When each member was last sent anything.
    pub(super) sent: [u64; MEMBERS],
    /// When a voter last answered.
    pub(super) heard_voter: u64,
    pub(super) in_flight: HashMap<Vec<u8>, InFlight>,
    pub(super) ids: HashMap<ProposalId, Index>,
    /// Proposals this leader refused, and why, oldest first (at most
    /// [`REFUSALS_KEPT`]): a copy of one that arrives later (a resend that
    /// crossed the refusal, or a message the network delayed) is refused
    /// the same way, never placed, since its proposer may already have
    /// told its client that nothing was applied.
    pub(super) refused: HashMap<ProposalId, Refusal>,
    pub(super) refused_order: VecDeque<ProposalId>,
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

/// A member standing for election: its ballot, and what each other
/// member promised it.
#[derive(Debug)]
pub struct Candidacy {
    pub(super) ballot: Ballot,
    /// Still asking whether the others would promise (nothing promised).
    pub(super) probing: bool,
    pub(super) started: u64,
    /// Candidacies in a row before this one that won no majority: each
    /// waits twice as long as the one before ([`super::node::Node::candidacy_timeout`]).
    pub(super) attempt: u32,
    pub(super) asked: [u64; MEMBERS],
    pub(super) promises: [Option<Promised>; MEMBERS],
}

#[derive(Debug, Default)]
pub(super) struct Promised {
    pub(super) commit: Index,
    pub(super) entries: BTreeMap<Index, Slot>,
    pub(super) complete: bool,
}

/// A snapshot the leader is sending one member: the part it sent last,
/// and when.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sending {
    /// The snapshot's position, once the member named it.
    pub(super) through: Option<Index>,
    pub(super) part: u32,
    pub(super) sent: u64,
}

/// A snapshot a member is receiving: the leader's ballot, its position
/// and the next part it needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Incoming {
    pub(super) ballot: Ballot,
    pub(super) through: Index,
    pub(super) next: u32,
}
