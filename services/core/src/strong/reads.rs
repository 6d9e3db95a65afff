//! Linearizable reads (`ConsistentRead`): where a read must read so that it
//! sees every write chosen before it began.
//!
//! The leader's log end, taken after the read arrived, covers every write
//! chosen before; the read waits until that position is applied locally.
//! That end is only good if the leader still led when it took it, which a
//! majority must vouch for after the read began: the leader and one voter
//! at its ballot. A voter asking for itself vouches by still holding the
//! ballot when the answer comes (one round trip to the leader); the leader
//! reading for itself, or for a member that does not vote, sends a
//! heartbeat and waits for one voter's answer.

use super::node::Node;
use super::state::{Read, ReadState, RemoteRead};
use super::types::{Action, Failure, Index, Member, Msg};

impl Node {
    /// A local linearizable read: returns its number, which
    /// [`Action::ReadReady`] or [`Action::ReadFailed`] carries.
    pub fn read(&mut self, now: u64) -> u64 {
        self.now = now;
        // Numbered within this life and never reused, so a late answer to
        // an earlier read is never taken for another's.
        let rid = ((self.generation.nonce & 0xFFFF_FFFF) << 32) | self.next_rid;
        self.next_rid += 1;
        self.reads.insert(
            rid,
            Read {
                deadline: now + self.timing.request,
                state: ReadState::Ask { sent: None },
            },
        );
        self.advance_read(rid);
        rid
    }

    fn advance_read(&mut self, rid: u64) {
        let now = self.now;
        let resend = self.timing.resend;
        let Some(Read {
            state: ReadState::Ask { sent },
            ..
        }) = self.reads.get(&rid)
        else {
            return;
        };
        let sent = *sent;
        match self.leader() {
            Some(l) if l == self.me => {
                let index = self.last();
                let ping = self.new_ping();
                if let Some(r) = self.reads.get_mut(&rid) {
                    r.state = ReadState::Ping { index, ping };
                }
            }
            Some(l) if sent.is_none_or(|s| now >= s + resend) => {
                if let Some(r) = self.reads.get_mut(&rid) {
                    r.state = ReadState::Ask { sent: Some(now) };
                }
                let confirm = !self.voter();
                self.send(l, Msg::ReadIndex { rid, confirm });
            }
            _ => {}
        }
    }

    pub(super) fn tick_reads(&mut self) {
        let now = self.now;
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| now >= r.deadline)
            .map(|(rid, _)| *rid)
            .collect();
        for rid in expired {
            self.reads.remove(&rid);
            self.actions.push(Action::ReadFailed {
                rid,
                failure: Failure::Unavailable { unknown: false },
            });
        }
        let asking: Vec<u64> = self.reads.keys().copied().collect();
        for rid in asking {
            self.advance_read(rid);
        }
    }

    /// A heartbeat to every member that a read waits on.
    fn new_ping(&mut self) -> u64 {
        let Some(lead) = self.lead_mut() else {
            return 0;
        };
        lead.ping += 1;
        let ping = lead.ping;
        for m in self.others() {
            self.send_accepts(m, ping);
        }
        ping
    }

    pub(super) fn on_read_index(&mut self, from: Member, rid: u64, confirm: bool) {
        let index = self.last();
        let Some(ballot) = self.lead().map(|l| l.ballot) else {
            return;
        };
        if !confirm {
            self.send(from, Msg::ReadAt { rid, ballot, index });
            return;
        }
        let ping = self.new_ping();
        if let Some(lead) = self.lead_mut() {
            lead.remote_reads.push(RemoteRead {
                to: from,
                rid,
                index,
                ping,
            });
        }
    }

    /// A voter answered a heartbeat: the reads that waited on it go on.
    pub(super) fn pong_reads(&mut self) {
        let Some(lead) = self.lead_mut() else {
            return;
        };
        let confirmed = lead.pongs.iter().copied().max().unwrap_or(0);
        let ballot = lead.ballot;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut lead.remote_reads)
            .into_iter()
            .partition(|r| r.ping <= confirmed);
        lead.remote_reads = waiting;
        for r in ready {
            self.send(
                r.to,
                Msg::ReadAt {
                    rid: r.rid,
                    ballot,
                    index: r.index,
                },
            );
        }
        for r in self.reads.values_mut() {
            if let ReadState::Ping { index, ping } = r.state
                && ping <= confirmed
            {
                r.state = ReadState::Wait { index };
            }
        }
        self.settle_reads();
    }

    pub(super) fn on_read_at(&mut self, rid: u64, ballot: super::types::Ballot, index: Index) {
        let vouched = !self.voter() || self.promised == ballot;
        let Some(r) = self.reads.get_mut(&rid) else {
            return;
        };
        if !matches!(r.state, ReadState::Ask { .. }) {
            return;
        }
        r.state = if vouched {
            ReadState::Wait { index }
        } else {
            ReadState::Ask { sent: None }
        };
        self.settle_reads();
    }

    /// Reads whose position is chosen here may read once it is applied.
    pub(super) fn settle_reads(&mut self) {
        let commit = self.commit;
        let ready: Vec<(u64, Index)> = self
            .reads
            .iter()
            .filter_map(|(rid, r)| match r.state {
                ReadState::Wait { index } if index <= commit => Some((*rid, index)),
                _ => None,
            })
            .collect();
        for (rid, index) in ready {
            self.reads.remove(&rid);
            self.actions.push(Action::ReadReady { rid, index });
        }
    }

    /// The leader stepped down: its reads ask the next leader.
    pub(super) fn abandon_leader_reads(&mut self) {
        for r in self.reads.values_mut() {
            if let ReadState::Ping { .. } = r.state {
                r.state = ReadState::Ask { sent: None };
            }
        }
    }
}
