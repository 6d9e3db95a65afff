//! The candidate's side: standing for election when no leader is heard,
//! asking first whether the others would promise (pre-vote, so a member
//! cut off and healed does not depose a working leader), then phase one
//! of Paxos, and taking the lead with the log a majority's promises give.

use std::collections::{BTreeMap, HashMap};

use super::node::{Node, Role};
use super::state::{Candidacy, Promised};
use super::types::{Ballot, Index, MEMBERS, Member, Msg, Slot};

impl Node {
    /// Stands for election with a ballot above every one this member
    /// knows: first asks whether the others would promise it.
    pub(super) fn stand(&mut self) {
        let ballot = Ballot {
            round: self.promised.round + 1,
            leader: self.me,
        };
        let attempt = match &self.role {
            Role::Candidate(c) => c.attempt.saturating_add(1),
            _ => 0,
        };
        self.role = Role::Candidate(Candidacy {
            ballot,
            probing: true,
            started: self.now,
            attempt,
            asked: [self.now; MEMBERS],
            promises: Default::default(),
        });
        for m in self.others() {
            self.send(m, Msg::Probe { ballot });
        }
    }

    /// Whether this member hears a leader that is alive (or leads).
    pub(super) fn hears_leader(&self) -> bool {
        match &self.role {
            Role::Follower {
                leader: Some(_),
                heard,
            } => self.now < heard + self.timing.election,
            Role::Leader(_) => true,
            _ => false,
        }
    }

    pub(super) fn on_probe(&mut self, from: Member, ballot: Ballot) {
        if !self.voter() {
            return;
        }
        let ok = ballot > self.promised && !self.hears_leader();
        self.send(from, Msg::ProbeReply { ballot, ok });
    }

    /// Another voter would promise: phase one begins, with this member's
    /// own promise first.
    pub(super) fn on_probe_reply(&mut self, ballot: Ballot, ok: bool) {
        let now = self.now;
        let Role::Candidate(c) = &mut self.role else {
            return;
        };
        if !ok || !c.probing || c.ballot != ballot || ballot <= self.promised {
            return;
        }
        c.probing = false;
        c.asked = [now; MEMBERS];
        self.promise(ballot);
        let after = self.commit;
        for m in self.others() {
            self.send(m, Msg::Prepare { ballot, after });
        }
    }

    pub(super) fn ask_again(&mut self) {
        let now = self.now;
        let resend = self.timing.resend;
        let Role::Candidate(c) = &mut self.role else {
            return;
        };
        let ballot = c.ballot;
        let probing = c.probing;
        let mut asks = Vec::new();
        for m in 0..MEMBERS as Member {
            if m == self.me || c.promises[m as usize].is_some() {
                continue;
            }
            if now >= c.asked[m as usize] + resend {
                c.asked[m as usize] = now;
                asks.push(m);
            }
        }
        let after = self.commit;
        for m in asks {
            let msg = if probing {
                Msg::Probe { ballot }
            } else {
                Msg::Prepare { ballot, after }
            };
            self.send(m, msg);
        }
    }

    pub(super) fn on_promise(
        &mut self,
        from: Member,
        ballot: Ballot,
        commit: Index,
        entries: Vec<(Index, Slot)>,
        more: bool,
    ) {
        let now = self.now;
        let Role::Candidate(c) = &mut self.role else {
            return;
        };
        if c.ballot != ballot || c.probing {
            return;
        }
        let p = c.promises[from as usize].get_or_insert_with(Promised::default);
        p.commit = p.commit.max(commit);
        let last = entries.last().map(|(i, _)| *i);
        p.entries.extend(entries);
        p.complete = !more;
        if more {
            c.asked[from as usize] = now;
            let after = last.unwrap_or(self.commit);
            self.send(from, Msg::Prepare { ballot, after });
            return;
        }
        self.won(from);
    }

    /// A majority (this member and `from`) promised: the log this ballot
    /// proposes is, at each position above the commit, the chosen entry
    /// where either knows one, else the one accepted at the highest ballot.
    pub(super) fn won(&mut self, from: Member) {
        let Role::Candidate(c) = &mut self.role else {
            return;
        };
        let ballot = c.ballot;
        let Some(p) = c.promises[from as usize].take() else {
            return;
        };
        let mut merged: BTreeMap<Index, Slot> = self
            .log
            .range(self.commit + 1..)
            .map(|(i, s)| (*i, s.clone()))
            .collect();
        for (i, s) in p.entries {
            if i <= self.commit {
                continue;
            }
            let theirs_chosen = i <= p.commit;
            match merged.get(&i) {
                Some(mine) if !theirs_chosen && mine.ballot >= s.ballot => {}
                _ => {
                    merged.insert(i, s);
                }
            }
        }
        // Positions the promiser knows chosen are chosen.
        let chosen = p.commit.min(merged.last_key_value().map_or(0, |(i, _)| *i));
        let mut next = [self.commit + 1; MEMBERS];
        next[from as usize] = p.commit.min(self.commit) + 1;
        self.take_lead(ballot, merged, HashMap::from([(from, next[from as usize])]));
        if chosen > self.commit {
            self.set_commit(chosen);
        }
    }
}
