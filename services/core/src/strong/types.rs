//! The values the strong-mode protocol trades in: ballots, generations,
//! log entries, the messages between members and the actions a member asks
//! its adapter to carry out.

use std::fmt;
use std::sync::Arc;

/// A member's place in its table's member list (the three regions, sorted
/// by name): 0, 1 or 2.
pub type Member = u8;

/// The number of members of a STRONG table, as in DynamoDB: three replicas,
/// or two replicas and a witness.
pub const MEMBERS: usize = 3;

/// A position in a table's consensus log. Positions run 1, 2, …; 0 is
/// "nothing".
pub type Index = u64;

/// A Paxos ballot: a round and the member that leads it. Ordered by round,
/// then member, so no two members ever own the same ballot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    pub round: u64,
    pub leader: Member,
}

impl Ballot {
    /// The ballot every member of a new STRONG table holds as promised: its
    /// first leader may skip phase one, since nothing was accepted anywhere
    /// before it.
    pub fn initial(leader: Member) -> Self {
        Ballot { round: 1, leader }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.leader)
    }
}

/// One life of a member's store: a counter raised at every start and a
/// random nonce. Peers record the newest they have seen of each member, so
/// a member that comes back from a wiped disk or an older copy of its store
/// (a smaller counter, or the same counter with another nonce) is caught
/// before it can vote with state it no longer has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Generation {
    pub counter: u64,
    pub nonce: u64,
}

/// How many of its own lives a member's store records: the starts a
/// member can make without any hello reaching a peer before that peer
/// takes it for a store that lost state (it then rejoins, which is safe).
pub const LIVES_KEPT: usize = 32;

/// Records `life` among a store's `lives`, dropping the oldest past
/// [`LIVES_KEPT`].
pub fn remember(lives: &mut Vec<Generation>, life: Generation) {
    if !lives.contains(&life) {
        lives.push(life);
    }
    if lives.len() > LIVES_KEPT {
        lives.drain(..lives.len() - LIVES_KEPT);
    }
}

impl Generation {
    /// Whether a member announcing `self` is an older life of the member
    /// last seen as `seen`: its store has lost what `seen` held.
    pub fn older_than(&self, seen: &Generation) -> bool {
        self.counter < seen.counter || (self.counter == seen.counter && self.nonce != seen.nonce)
    }

    /// The next life after `self` (a start) or after `seen` (a member that
    /// learns it was rolled back). The nonce is derived, so a simulated run
    /// stays a function of its seed.
    pub fn next_after(&self, seen: &Generation) -> Generation {
        let counter = self.counter.max(seen.counter) + 1;
        Generation {
            counter,
            nonce: self
                .nonce
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(counter | 1),
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.counter)
    }
}

/// Who proposed an entry: the member, the life it proposed in (its
/// generation's nonce, which a wiped store cannot repeat the way it can
/// repeat a counter) and its own count, so an entry proposed twice (a
/// resend) is recognised as one and never taken for another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProposalId {
    pub origin: Member,
    pub life: u64,
    pub seq: u64,
}

impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:x}:{}", self.origin, self.life & 0xFFFF, self.seq)
    }
}

/// One key a write entry changes: the head version the proposer read
/// (`None`: the key had no head) and the version it writes. Every replica
/// applies the entry only if each key's head is still `expect`, which makes
/// every STRONG write a compare-and-set on what its proposer read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWrite {
    pub key: Vec<u8>,
    pub expect: Option<Vec<u8>>,
    pub version: Vec<u8>,
}

/// What an entry does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A request's writes: the keys for the protocol, and the mutations
    /// themselves as the adapter encoded them (the protocol never reads
    /// them).
    Write {
        keys: Vec<KeyWrite>,
        payload: Vec<u8>,
    },
    /// A member whose store was rolled back asks to vote again; once this
    /// entry is chosen (by the two others) the member votes again.
    Rejoin { member: Member, nonce: u64 },
}

/// A log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: ProposalId,
    pub body: Body,
}

impl Entry {
    /// Approximate encoded size, for cutting messages by bytes.
    pub fn size(&self) -> usize {
        32 + match &self.body {
            Body::Write { keys, payload } => {
                payload.len()
                    + keys
                        .iter()
                        .map(|k| {
                            16 + k.key.len()
                                + k.version.len()
                                + k.expect.as_ref().map_or(0, Vec::len)
                        })
                        .sum::<usize>()
            }
            Body::Rejoin { .. } => 16,
        }
    }
}

/// An entry as an acceptor holds it: with the ballot it was accepted in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub ballot: Ballot,
    pub entry: Arc<Entry>,
}

/// A message between two members of one table.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// An unverified member (just started) asks a peer to vouch for its
    /// generation; `lives` are the lives its store recorded before this
    /// start (at most [`LIVES_KEPT`], oldest first). A peer vouches only
    /// if the life it saw last is among them: a store put back to an older
    /// copy, or wiped, lacks that life however many times it has started
    /// since, and whatever its counter has reached.
    Hello {
        lives: Vec<Generation>,
    },
    /// The peer found the sender's life `life` current: it vouches for
    /// that life only. A member counts a welcome only to its current life;
    /// one sent to a life before a restart (or a wipe) that arrives now
    /// vouches for nothing (the model check found a wiped store voting on
    /// such a welcome: docs/strong.md, *What it found*).
    Welcome {
        life: Generation,
    },
    /// The peer has seen a newer life of the sender: the sender's store
    /// was rolled back.
    Stale {
        seen: Generation,
    },
    /// Before phase one: would the receiver promise `ballot` now? It would
    /// not while it hears a live leader, so a member cut off from the
    /// others does not raise ballots that unseat the leader when it comes
    /// back (Raft's pre-vote, Ongaro §9.6).
    Probe {
        ballot: Ballot,
    },
    ProbeReply {
        ballot: Ballot,
        ok: bool,
    },
    /// Phase one: promise `ballot`, and send the entries after `after`.
    Prepare {
        ballot: Ballot,
        after: Index,
    },
    /// The promise, with the acceptor's commit and its entries after the
    /// candidate's `after` (at most a message's worth: `more` says there
    /// are others).
    Promise {
        ballot: Ballot,
        commit: Index,
        entries: Vec<(Index, Slot)>,
        more: bool,
    },
    /// The sender holds a higher ballot than the one it was asked for.
    Nack {
        promised: Ballot,
    },
    /// Phase two: accept `entries` at positions `start`, `start + 1`, …;
    /// the leader's commit and the position below which every member holds
    /// every entry (`safe`), and a heartbeat counter for reads (`ping`).
    /// `held`: the position through which the leader's own acceptances at
    /// `ballot` are durable. The leader sends entries before its own copy
    /// is on disk (Raft's parallel append), so a voter counts the leader's
    /// vote for no position past it.
    Accept {
        ballot: Ballot,
        start: Index,
        entries: Vec<Arc<Entry>>,
        commit: Index,
        safe: Index,
        ping: u64,
        held: Index,
    },
    /// The reply to `Accept`: the member holds every entry after its commit
    /// through `through` at `ballot`; a voter's counts towards a majority.
    /// `gap`: the `Accept` started past `through + 1` and was not taken.
    Accepted {
        ballot: Ballot,
        through: Index,
        voter: bool,
        ping: u64,
        gap: bool,
    },
    /// A member's request, for the leader of `ballot` to place in the log.
    /// A leader at another ballot (a copy the network delayed past a new
    /// election) does not place it: within one ballot its leader answers
    /// every copy the same way, so a refusal its proposer saw stays true.
    Propose {
        entry: Arc<Entry>,
        ballot: Ballot,
    },
    /// The leader did not place a proposal.
    Refused {
        id: ProposalId,
        reason: Refusal,
    },
    /// A member asks the leader where a linearizable read must read
    /// (`confirm`: the member cannot vouch for the leader itself).
    ReadIndex {
        rid: u64,
        confirm: bool,
    },
    /// The leader's answer: read once everything through `index` is applied.
    ReadAt {
        rid: u64,
        ballot: Ballot,
        index: Index,
    },
    /// Part `part` of the table as of position `through` (every entry
    /// through it applied), which the leader of `ballot` sends a member
    /// that needs entries every member has dropped. `data` is the
    /// adapter's (the items, for a full replica; nothing for a witness);
    /// `last`: the member installs the parts once it has them all, in
    /// order.
    Snapshot {
        ballot: Ballot,
        through: Index,
        part: u32,
        last: bool,
        data: Vec<u8>,
    },
    /// The member holds parts `0..next` of the snapshot at `through`: the
    /// leader sends part `next`.
    SnapshotAck {
        ballot: Ballot,
        through: Index,
        next: u32,
    },
    /// The leader's acceptances at `ballot` are on its disk through
    /// `held`, and its commit is `commit`: sent as soon as they are, to
    /// the members it sent entries past what it held before, so a voter
    /// among them counts those chosen without waiting for the next
    /// `Accept`. Not answered.
    Held {
        ballot: Ballot,
        held: Index,
        commit: Index,
    },
}

impl Msg {
    /// Whether the message may leave before the acceptances queued with it
    /// are on the sender's disk (Raft's parallel append): an `Accept` of
    /// the leader's own proposals, and a `Held`. A voter counts none of an
    /// early `Accept`'s entries chosen until the leader says they are
    /// durable (`held`, [`Msg::Held`]), and their proposer is the leader
    /// itself, so no member waits an extra message for its own write. An
    /// `Accept` carrying another member's proposal leaves after the
    /// leader's copy is durable, with a `held` that covers it: its proposer
    /// counts it chosen on arrival. A `Held` says only what is already
    /// durable and chosen, so it need not wait for the next write.
    pub fn leaves_early(&self, sender: Member) -> bool {
        match self {
            Msg::Accept { entries, .. } => entries.iter().all(|e| e.id.origin == sender),
            Msg::Held { .. } => true,
            _ => false,
        }
    }

    /// The message's name, for metrics and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Hello { .. } => "hello",
            Msg::Welcome { .. } => "welcome",
            Msg::Stale { .. } => "stale",
            Msg::Probe { .. } => "probe",
            Msg::ProbeReply { .. } => "probe-reply",
            Msg::Prepare { .. } => "prepare",
            Msg::Promise { .. } => "promise",
            Msg::Nack { .. } => "nack",
            Msg::Accept { .. } => "accept",
            Msg::Accepted { .. } => "accepted",
            Msg::Propose { .. } => "propose",
            Msg::Refused { .. } => "refused",
            Msg::ReadIndex { .. } => "read-index",
            Msg::ReadAt { .. } => "read-at",
            Msg::Snapshot { .. } => "snapshot",
            Msg::SnapshotAck { .. } => "snapshot-ack",
            Msg::Held { .. } => "held",
        }
    }
}

/// Why the leader did not place a proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A key of it is being written by a request from another region
    /// (DynamoDB's `ReplicatedWriteConflictException`).
    Conflict,
    /// A key of it has a newer write from the same region in flight: the
    /// proposer read too early and must read again once `index` is applied.
    Stale { index: Index },
    /// Too many entries are waiting to be chosen.
    Busy,
    /// The receiver does not lead this table.
    NotLeader,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Conflict => f.write_str("conflict"),
            Refusal::Stale { index } => write!(f, "stale until {index}"),
            Refusal::Busy => f.write_str("busy"),
            Refusal::NotLeader => f.write_str("not leader"),
        }
    }
}

/// A state change that must be durable before any later action is carried
/// out (a promise or an acceptance is worth nothing if it can be forgotten).
#[derive(Clone, Debug, PartialEq)]
pub enum Persist {
    Promised(Ballot),
    /// Slots written at these positions (replacing what was there).
    Accepted(Vec<(Index, Slot)>),
    Commit(Index),
    /// Entries at and below this position are dropped.
    Compacted(Index),
    /// This member's new life, whether it must rejoin before voting, and
    /// the lives its store records ([`Msg::Hello`]).
    Life {
        generation: Generation,
        rejoining: bool,
        lives: Vec<Generation>,
    },
    /// The newest life seen of a peer.
    PeerSeen {
        member: Member,
        generation: Generation,
    },
}

/// Why a local request did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Refused by the leader before it entered the log.
    Refused(Refusal),
    /// No majority answered in time. `unknown`: the proposal is in this
    /// member's log, or went to a leader that may have placed it, so it may
    /// still be chosen; otherwise it never left this member and never will.
    Unavailable { unknown: bool },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(r) => write!(f, "refused: {r}"),
            Failure::Unavailable { unknown: true } => {
                f.write_str("no majority answered in time; the write may still take effect")
            }
            Failure::Unavailable { unknown: false } => f.write_str("no majority answered in time"),
        }
    }
}

/// What the adapter must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Persist(Persist),
    Send {
        to: Member,
        msg: Msg,
    },
    /// Apply the committed entries through this position to the store
    /// (full replicas only), then report [`super::Node::applied`].
    Apply {
        through: Index,
    },
    /// A local proposal was chosen at `index`; its outcome is known once
    /// `index` is applied (the compare-and-set may find a key moved on).
    Chosen {
        seq: u64,
        index: Index,
    },
    /// A local proposal did not succeed.
    Failed {
        seq: u64,
        failure: Failure,
    },
    /// A local linearizable read may read once `index` is applied.
    ReadReady {
        rid: u64,
        index: Index,
    },
    ReadFailed {
        rid: u64,
        failure: Failure,
    },
    /// Send member `to` part `part` of a snapshot of the table
    /// ([`Msg::Snapshot`] at `ballot`): the items as of the position the
    /// store has applied, read in one transaction. `through`: the snapshot
    /// the member is receiving (`None`: none yet); the adapter sends that
    /// one's part if it still holds it, else reads a new snapshot, at or
    /// past `at_least`, and sends its part 0.
    SendSnapshot {
        to: Member,
        ballot: Ballot,
        through: Option<Index>,
        part: u32,
        at_least: Index,
    },
    /// Keep part `part` of the snapshot at `through` until it is
    /// installed; part 0 starts a snapshot, and what was kept of any
    /// other goes.
    StageSnapshot {
        through: Index,
        part: u32,
        data: Vec<u8>,
    },
    /// Install the parts kept of the snapshot at `through`, in one
    /// transaction: the table's items replaced by them (full replicas), the
    /// log dropped through `through`, and the commit, the compaction point
    /// and the applied position moved to it. Durable before any later
    /// action, like a [`Persist`].
    InstallSnapshot {
        through: Index,
    },
}
