//! The acceptor's side of a member: promising a candidate, following a
//! leader, accepting its entries, and learning from its `Accept`s and
//! `Held`s how far the log is chosen.

use std::sync::Arc;

use super::node::{Node, Role};
use super::types::{Ballot, Entry, Index, Member, Msg, Persist, Slot};

impl Node {
    /// The leader of `ballot`, at or above this member's promise, spoke:
    /// the member promises it and follows it.
    pub(super) fn follow(&mut self, from: Member, ballot: Ballot) {
        if ballot > self.promised {
            self.promise(ballot);
        }
        match &mut self.role {
            Role::Follower { leader, heard } => {
                *leader = Some(from);
                *heard = self.now;
            }
            _ => self.step_down(Some(from)),
        }
    }

    pub(super) fn on_prepare(&mut self, from: Member, ballot: Ballot, after: Index) {
        if !self.voter() {
            return;
        }
        let again = ballot == self.promised && ballot.leader == from;
        if ballot <= self.promised && !again {
            self.nack(from);
            return;
        }
        if after < self.compacted {
            self.cannot_promise(from, ballot);
            return;
        }
        if !again {
            self.promise(ballot);
            self.step_down(None);
        }
        let (mut n, mut bytes) = (0, 0);
        let mut entries = Vec::new();
        let mut more = false;
        for (i, s) in self.log.range(after + 1..) {
            if n >= self.timing.msg_entries || (n > 0 && bytes >= self.timing.msg_bytes) {
                more = true;
                break;
            }
            n += 1;
            bytes += s.entry.size();
            entries.push((*i, s.clone()));
        }
        let commit = self.commit;
        self.send(
            from,
            Msg::Promise {
                ballot,
                commit,
                entries,
                more,
            },
        );
    }

    pub(super) fn on_nack(&mut self, promised: Ballot) {
        let mine = match &self.role {
            Role::Candidate(c) => c.ballot,
            Role::Leader(l) => l.ballot,
            Role::Follower { .. } => return,
        };
        if promised > mine {
            self.step_down(None);
        }
    }

    /// The leader of the ballot this member follows says how far its own
    /// acceptances are durable: the positions of this member's run both
    /// hold are chosen, as in [`Node::on_accept`].
    pub(super) fn on_held(&mut self, from: Member, ballot: Ballot, held: Index, commit: Index) {
        if ballot.leader != from || ballot != self.promised {
            return;
        }
        let held = self.leader_held(ballot, held);
        if self.run.0 == ballot {
            self.set_commit(self.chosen_in_run(commit, held));
        }
    }

    /// Records how far the leader of `ballot` says its own acceptances are
    /// durable, and returns the furthest it has said.
    fn leader_held(&mut self, ballot: Ballot, held: Index) -> Index {
        if self.leader_held.0 != ballot {
            self.leader_held = (ballot, 0);
        }
        self.leader_held.1 = self.leader_held.1.max(held);
        self.leader_held.1
    }

    /// How far this member's run is chosen, given the leader's commit and
    /// how far the leader's own copy is durable: a voter's acceptance and
    /// the leader's durable one are a majority; a learner knows only the
    /// commit.
    fn chosen_in_run(&self, commit: Index, held: Index) -> Index {
        let vouched = if self.voter() {
            commit.max(held)
        } else {
            commit
        };
        vouched.min(self.run.1)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_accept(
        &mut self,
        from: Member,
        ballot: Ballot,
        start: Index,
        entries: Vec<Arc<Entry>>,
        (commit, held): (Index, Index),
        safe: Index,
        ping: u64,
    ) {
        if !self.heed_leader(from, ballot) {
            return;
        }
        if self.run.0 != ballot {
            self.run = (ballot, self.commit);
        }
        let held = self.leader_held(ballot, held);
        let voter = self.voter();
        if start > self.run.1 + 1 {
            self.answer_accept(from, ballot, voter, ping, true);
            return;
        }
        let mut wrote = Vec::new();
        let mut placed = Vec::new();
        for (k, entry) in entries.into_iter().enumerate() {
            let index = start + k as Index;
            if index <= self.run.1 || index <= self.compacted {
                continue;
            }
            placed.push((index, entry.id));
            let slot = Slot { ballot, entry };
            self.log.insert(index, slot.clone());
            wrote.push((index, slot));
            self.run.1 = index;
        }
        if !wrote.is_empty() {
            self.persist(Persist::Accepted(wrote));
        }
        self.own_entries_placed(&placed);
        self.set_commit(self.chosen_in_run(commit, held));
        self.answer_accept(from, ballot, voter, ping, false);
        self.compact(safe);
    }
    /// A leader's message (an `Accept`, a snapshot part) is taken only
    /// from the leader of a ballot at or above this member's promise; any
    /// other sender is answered `Nack`. Taken, the member follows it.
    pub(super) fn heed_leader(&mut self, from: Member, ballot: Ballot) -> bool {
        if ballot < self.promised || ballot.leader != from {
            self.nack(from);
            return false;
        }
        self.follow(from, ballot);
        true
    }

    /// Tells `to` the ballot this member has promised, above its own.
    pub(super) fn nack(&mut self, to: Member) {
        self.send(
            to,
            Msg::Nack {
                promised: self.promised,
            },
        );
    }

    /// Answers the leader (its `Accept`, or a snapshot's last part): how
    /// far this member's run goes, and whether the `Accept` started past it
    /// (`gap`).
    pub(super) fn answer_accept(
        &mut self,
        to: Member,
        ballot: Ballot,
        voter: bool,
        ping: u64,
        gap: bool,
    ) {
        self.send(
            to,
            Msg::Accepted {
                ballot,
                through: self.run.1,
                voter,
                ping,
                gap,
            },
        );
    }
}
