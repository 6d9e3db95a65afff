//! Catching a member up past the compacted log: a snapshot of the table.
//!
//! Entries are dropped once every member holds them, but a member whose
//! store lost state (a wiped disk, an older copy put back, a power loss)
//! comes back needing entries every member has dropped. The leader then
//! sends it the table as of a position P at or past the dropped ones: the
//! items its own store has applied through P (a full replica), or
//! positions only (a witness, which holds no items). The member installs
//! it in one transaction, so its items, log, commit, applied position and
//! compaction point all move to P at once, and takes the log from P + 1 as
//! usual.
//!
//! The parts go one at a time: the member acknowledges each part it keeps
//! ([`Msg::SnapshotAck`]) and the leader sends the next, or sends a part
//! again after [`super::Timing::snapshot_resend`]; a member that gets a
//! part out of order asks for the one it needs, and one that restarts
//! mid-way (its kept parts gone) starts over from part 0.
//!
//! Safety (docs/strong.md): a snapshot holds only chosen entries' effects
//! (a store applies nothing unchosen), so installing one never decides
//! anything; one at or below what the member knows chosen is ignored, so a
//! member never goes back; and it changes no member's standing: one that
//! must rejoin still votes only once its rejoin entry is chosen. A member
//! that dropped entries a candidate lacks cannot tell it what they were,
//! so it does not promise that candidate ([`Node::cannot_promise`]).

use super::node::{Node, Role};
use super::state::{Incoming, Sending};
use super::types::{Action, Ballot, Body, Failure, Index, Member, Msg};

impl Node {
    // ---- the leader ------------------------------------------------------

    /// Member `m` needs entries every member has dropped: a snapshot goes
    /// in their place, unless one is on its way.
    pub(super) fn offer_snapshot(&mut self, m: Member) {
        let now = self.now;
        if self.lead().is_none() || self.sending[m as usize].is_some() {
            return;
        }
        self.sending[m as usize] = Some(Sending {
            through: None,
            part: 0,
            sent: now,
        });
        self.send_part(m);
    }

    /// Sends member `m` the part of its snapshot it needs now.
    fn send_part(&mut self, m: Member) {
        let compacted = self.compacted;
        let Some(lead) = self.lead() else {
            return;
        };
        let ballot = lead.ballot;
        let Some(s) = self.sending[m as usize] else {
            return;
        };
        if self.full(m) {
            self.actions.push(Action::SendSnapshot {
                to: m,
                ballot,
                through: s.through,
                part: s.part,
                at_least: compacted,
            });
            return;
        }
        // A witness holds no items: the snapshot is a position, one part.
        // Past what the third member knows chosen it would leave that
        // member unable to win the witness's promise, so it stops there
        // (never below the compaction point, which every member knows
        // chosen).
        let mut through = self.commit;
        for o in self.others().filter(|o| *o != m) {
            through = through.min(lead.kept[o as usize]);
        }
        let through = through.max(compacted);
        self.send(
            m,
            Msg::Snapshot {
                ballot,
                through,
                part: 0,
                last: true,
                data: Vec::new(),
            },
        );
    }

    /// Parts not acknowledged in time are sent again.
    pub(super) fn snapshot_tick(&mut self) {
        let now = self.now;
        let wait = self.timing.snapshot_resend;
        for m in self.others() {
            if self.lead().is_none() {
                return;
            }
            if let Some(s) = &mut self.sending[m as usize]
                && now >= s.sent + wait
            {
                s.sent = now;
                self.send_part(m);
            }
        }
    }

    pub(super) fn on_snapshot_ack(
        &mut self,
        from: Member,
        ballot: Ballot,
        through: Index,
        next: u32,
    ) {
        let now = self.now;
        if self.lead().is_none_or(|l| l.ballot != ballot) {
            return;
        }
        let Some(s) = &mut self.sending[from as usize] else {
            return;
        };
        if s.through == Some(through) && s.part == next {
            // That part is on its way, or lost: the timer sends it again.
            return;
        }
        s.through = Some(through);
        s.part = next;
        s.sent = now;
        self.send_part(from);
    }

    // ---- the member ------------------------------------------------------

    pub(super) fn on_snapshot(
        &mut self,
        from: Member,
        ballot: Ballot,
        through: Index,
        part: u32,
        last: bool,
        data: Vec<u8>,
    ) {
        if !self.heed_leader(from, ballot) {
            return;
        }
        if through <= self.commit {
            // It knows that much chosen already (a copy the network
            // delayed, or entries that reached it meanwhile): it says
            // where it is, and never goes back.
            self.incoming = None;
            self.answer_leader(from, ballot);
            return;
        }
        let ours = self
            .incoming
            .filter(|i| i.ballot == ballot && i.through == through);
        let expected = ours.map_or(0, |i| i.next);
        if part != 0 && part != expected {
            self.send(
                from,
                Msg::SnapshotAck {
                    ballot,
                    through,
                    next: expected,
                },
            );
            return;
        }
        self.actions.push(Action::StageSnapshot {
            through,
            part,
            data,
        });
        if !last {
            self.incoming = Some(Incoming {
                ballot,
                through,
                next: part + 1,
            });
            self.send(
                from,
                Msg::SnapshotAck {
                    ballot,
                    through,
                    next: part + 1,
                },
            );
            return;
        }
        self.incoming = None;
        self.install(ballot, through);
        self.answer_leader(from, ballot);
    }

    /// Moves this member to the snapshot at `through`, which its adapter
    /// installs before any later action.
    fn install(&mut self, ballot: Ballot, through: Index) {
        // Local proposals placed at or below it: their entries go with the
        // log, so whether they were chosen there is not known here. A
        // write's outcome is unknown; a rejoin is proposed again (it must
        // be seen chosen before this member votes).
        let gone: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.index.is_some_and(|i| i <= through))
            .map(|(s, _)| *s)
            .collect();
        for seq in gone {
            let rejoin = self
                .pending
                .get(&seq)
                .is_some_and(|p| matches!(p.entry.body, Body::Rejoin { .. }));
            if rejoin {
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.index = None;
                    p.sent = None;
                }
            } else {
                self.failed(seq, Failure::Unavailable { unknown: true });
            }
        }
        self.actions.push(Action::InstallSnapshot { through });
        self.log = self.log.split_off(&(through + 1));
        self.compacted = self.compacted.max(through);
        if self.full(self.me) {
            self.applied = self.applied.max(through);
        }
        if self.run.0 != ballot || self.run.1 < through {
            self.run = (ballot, through);
        }
        self.set_commit(through);
    }

    /// Tells the leader of `ballot` how far this member holds its log.
    fn answer_leader(&mut self, to: Member, ballot: Ballot) {
        if self.run.0 != ballot {
            self.run = (ballot, self.commit);
        }
        let voter = self.voter();
        self.answer_accept(to, ballot, voter, 0, false);
    }

    /// A candidate asked for entries this member has dropped (a snapshot
    /// took it past them while the candidate's commit was lower): without
    /// them the candidate could not learn what was chosen there, so this
    /// member does not promise. It takes the ballot all the same, so its
    /// own candidacy, or the leader's, outbids it.
    pub(super) fn cannot_promise(&mut self, from: Member, ballot: Ballot) {
        if ballot > self.promised {
            self.promise(ballot);
            if !matches!(self.role, Role::Follower { .. }) {
                self.step_down(None);
            }
        }
        self.nack(from);
    }

    /// A full replica whose items are behind the start of its log (a store
    /// seeded from the witness's, which holds no items) knows only what
    /// its items hold: it starts from them, with no log, and the leader
    /// sends it a snapshot or the entries it lacks.
    pub(super) fn behind_its_log(&mut self) {
        if self.full(self.me) && self.applied < self.compacted {
            self.log.clear();
            self.compacted = self.applied;
            self.commit = self.applied;
            self.run = (Ballot::default(), self.commit);
        }
    }
}
