//! Strong mode: one table's writes decided by a majority of its three
//! members, as DynamoDB's multi-Region strong consistency (MRSC).
//!
//! The protocol is Multi-Paxos with a stable leader per table (Lamport,
//! "Paxos Made Simple", §3), with three refinements for three members
//! across regions (docs/strong.md gives the argument):
//!
//! - **One round trip from any member.** The leader accepts an entry
//!   durably before it sends it, and a member that accepts it at the
//!   leader's ballot knows that two of three (a majority) hold it: it is
//!   chosen. A write taken by a follower costs the hop to the leader and
//!   the leader's `Accept` back; one taken by the leader, the round trip to
//!   the nearest other member.
//! - **Every write is a compare-and-set.** The region that takes a write
//!   evaluates it against its own copy and proposes the resulting
//!   mutations with the head version each key had ([`KeyWrite::expect`]).
//!   Every replica applies a chosen entry only if those versions still
//!   hold, so a write evaluated against a stale copy can never take effect;
//!   the leader refuses one that races an entry still in flight from
//!   another region (DynamoDB's `ReplicatedWriteConflictException`).
//! - **A store that lost state does not vote.** A member's life
//!   ([`Generation`]) is raised at every start and recorded by its peers.
//!   A started member votes only once both peers have vouched for it; one
//!   that a peer has seen in a newer life (a wiped disk, an older copy of
//!   its store) rejoins through a log entry the two others choose, as in
//!   "Paxos Made Live" (Chandra et al., §5.1).
//!
//! [`Node`] is the pure state machine: messages and ticks in, [`Action`]s
//! out, no clock, no I/O. The region's adapter persists, sends and applies;
//! the golden scripts in `testdata/` drive it directly.

mod acceptor;
pub mod codec;
mod election;
mod leader;
mod node;
mod reads;
mod snapshot;
mod state;
mod types;

#[cfg(test)]
mod chaos;
#[cfg(test)]
mod scripts;
#[cfg(test)]
mod world;

pub use node::{Durable, Node, Role, Standing, Timing};
pub use types::{
    Action, Ballot, Body, Entry, Failure, Generation, Index, KeyWrite, LIVES_KEPT, MEMBERS, Member,
    Msg, Persist, ProposalId, Refusal, Slot,
};
