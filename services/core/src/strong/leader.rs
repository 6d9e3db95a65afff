//! The leader's side: placing proposals in the log (and refusing those that
//! race an entry in flight), keeping every member's copy of the log
//! filled, and counting acceptances into the commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::node::{Node, Role};
use super::state::{InFlight, Lead};
use super::types::{Ballot, Body, Entry, Index, MEMBERS, Member, Msg, Persist, Refusal, Slot};

impl Lead {
    /// The position below which every member holds every entry and knows
    /// it chosen, bounded by the commit: what members may drop.
    pub(super) fn safe(&self, node: &Node) -> Index {
        let mut safe = node.commit;
        for m in node.others() {
            safe = safe.min(self.kept[m as usize]);
        }
        safe
    }

    /// Keys whose newest write is chosen are no longer in flight.
    pub(super) fn forget_chosen(&mut self, commit: Index) {
        self.in_flight.retain(|_, f| f.index > commit);
    }
}

impl Node {
    /// Takes the lead at `ballot` with `log` above the commit (from the
    /// first phase, or empty for a fresh table's first leader), which it
    /// proposes again at its own ballot. `next` overrides where members
    /// start.
    pub(super) fn take_lead(
        &mut self,
        ballot: Ballot,
        log: BTreeMap<Index, Slot>,
        next: HashMap<Member, Index>,
    ) {
        let mut rewritten = Vec::new();
        for (i, s) in log {
            let slot = Slot {
                ballot,
                entry: s.entry,
            };
            self.log.insert(i, slot.clone());
            rewritten.push((i, slot));
        }
        if !rewritten.is_empty() {
            self.persist(Persist::Accepted(rewritten));
        }
        self.run = (ballot, self.last());
        let mut lead = Lead {
            ballot,
            next: [self.commit + 1; MEMBERS],
            held: [0; MEMBERS],
            voted: [0; MEMBERS],
            told: [0; MEMBERS],
            progress: [self.now; MEMBERS],
            kept: [0; MEMBERS],
            sent: [0; MEMBERS],
            heard_voter: self.now,
            in_flight: HashMap::new(),
            ids: HashMap::new(),
            refused: HashMap::new(),
            refused_order: std::collections::VecDeque::new(),
            ping: 0,
            pongs: [0; MEMBERS],
            remote_reads: Vec::new(),
        };
        for (m, n) in next {
            lead.next[m as usize] = n;
        }
        // What it rewrote above the commit counts once its disk holds it.
        lead.held[self.me as usize] = self.commit;
        for (i, s) in self.log.range(self.compacted + 1..) {
            lead.ids.insert(s.entry.id, *i);
            if *i > self.commit {
                track(&mut lead.in_flight, &s.entry, *i);
            }
        }
        self.sending = Default::default();
        self.role = Role::Leader(Box::new(lead));
        for m in self.others() {
            self.send_accepts(m, 0);
        }
        // Local proposals waiting for a leader are placed now.
        let waiting: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.index.is_none())
            .map(|(s, _)| *s)
            .collect();
        for seq in waiting {
            if let Some(p) = self.pending.get_mut(&seq) {
                p.sent = None;
            }
        }
    }

    /// Places an entry at the end of the log, or says why not: a key with
    /// an unchosen write from another region is a conflict; one from the
    /// same region means the proposer read before that write was applied.
    pub(super) fn place(&mut self, entry: Arc<Entry>) -> Result<Index, Refusal> {
        let last = self.last();
        let commit = self.commit;
        let Role::Leader(lead) = &mut self.role else {
            return Err(Refusal::NotLeader);
        };
        if let Some(index) = lead.ids.get(&entry.id) {
            return Ok(*index);
        }
        if let Some(reason) = lead.refused.get(&entry.id) {
            return Err(reason.clone());
        }
        if last - commit >= self.timing.max_in_flight {
            return Err(lead.refuse(entry.id, Refusal::Busy));
        }
        if let Body::Write { keys, .. } = &entry.body {
            for k in keys {
                if let Some(f) = lead.in_flight.get(&k.key)
                    && k.expect.as_ref() != Some(&f.version)
                {
                    let reason = if f.origin != entry.id.origin {
                        Refusal::Conflict
                    } else {
                        Refusal::Stale { index: f.index }
                    };
                    return Err(lead.refuse(entry.id, reason));
                }
            }
        }
        let index = last + 1;
        lead.ids.insert(entry.id, index);
        track(&mut lead.in_flight, &entry, index);
        let slot = Slot {
            ballot: lead.ballot,
            entry,
        };
        self.log.insert(index, slot.clone());
        self.run.1 = index;
        self.persist(Persist::Accepted(vec![(index, slot)]));
        for m in self.others() {
            if self.lead().is_some_and(|l| l.next[m as usize] == index) {
                self.send_accepts(m, 0);
            }
        }
        Ok(index)
    }

    pub(super) fn lead(&self) -> Option<&Lead> {
        match &self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    pub(super) fn lead_mut(&mut self) -> Option<&mut Lead> {
        match &mut self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    /// Sends member `m` the entries from its next position (as many as a
    /// message holds), or a heartbeat when it has them all.
    pub(super) fn send_accepts(&mut self, m: Member, ping: u64) {
        let last = self.last();
        let commit = self.commit;
        let now = self.now;
        let (max_n, max_bytes) = (self.timing.msg_entries, self.timing.msg_bytes);
        let compacted = self.compacted;
        let Some(lead) = self.lead() else {
            return;
        };
        let ballot = lead.ballot;
        let safe = lead.safe(self);
        let held = lead.held[self.me as usize];
        let start = lead.next[m as usize];
        if start <= compacted {
            // The member needs entries every member has dropped: it gets
            // a snapshot of the table in their place.
            self.offer_snapshot(m);
            return;
        }
        let mut entries = Vec::new();
        let mut bytes = 0;
        for (_, s) in self.log.range(start..).take_while(|(i, _)| **i <= last) {
            if entries.len() >= max_n || (!entries.is_empty() && bytes >= max_bytes) {
                break;
            }
            bytes += s.entry.size();
            entries.push(s.entry.clone());
        }
        let n = entries.len() as Index;
        let mut msg = Msg::Accept {
            ballot,
            start,
            entries,
            commit,
            safe,
            ping,
            held,
        };
        // A message that waits for the acceptances queued before it leaves
        // when all of them are durable: every entry of the log so far.
        let told = if msg.leaves_early(self.me) {
            held
        } else {
            last
        };
        if let Msg::Accept { held, .. } = &mut msg {
            *held = told;
        }
        if let Some(lead) = self.lead_mut() {
            lead.next[m as usize] = start + n;
            lead.sent[m as usize] = now;
            lead.told[m as usize] = lead.told[m as usize].max(told);
        }
        self.send(m, msg);
    }

    /// The leader's acceptances at `ballot` through `through` are on its
    /// disk. What a voter also holds is chosen. Every member sent one of
    /// those entries hears at once, so it counts them chosen (and its own
    /// write answered) within one round trip, as when the leader wrote
    /// before sending.
    pub fn persisted(&mut self, ballot: Ballot, through: Index) {
        let me = self.me as usize;
        let last = self.last();
        let Some(lead) = self.lead_mut() else {
            return;
        };
        let before = lead.held[me];
        let through = through.min(last);
        if lead.ballot != ballot || through <= before {
            return;
        }
        lead.held[me] = through;
        self.count_votes();
        let commit = self.commit;
        for m in self.others() {
            let Some(lead) = self.lead_mut() else {
                return;
            };
            let i = m as usize;
            // Only a member sent entries it was not told are durable.
            if lead.told[i] >= through.min(lead.next[i].saturating_sub(1)) {
                continue;
            }
            lead.told[i] = through;
            self.send(
                m,
                Msg::Held {
                    ballot,
                    held: through,
                    commit,
                },
            );
        }
    }

    /// The commit a majority of three makes: the leader's durable
    /// acceptances and the furthest any voter holds.
    fn count_votes(&mut self) {
        let last = self.last();
        let Some(lead) = self.lead() else {
            return;
        };
        let other = self
            .others()
            .map(|m| lead.voted[m as usize])
            .max()
            .unwrap_or(0);
        let chosen = lead.held[self.me as usize].min(other).min(last);
        self.set_commit(chosen);
    }

    /// The leader's timers: step down when no voter answers, resend to a
    /// member that stopped making progress, heartbeat the others.
    pub(super) fn lead_tick(&mut self) {
        let now = self.now;
        let Some(lead) = self.lead() else {
            return;
        };
        if now >= lead.heard_voter + self.timing.election {
            self.step_down(None);
            return;
        }
        self.snapshot_tick();
        let last = self.last();
        for m in self.others() {
            let Some(lead) = self.lead() else {
                return;
            };
            let i = m as usize;
            let stalled = lead.held[i] < last && now >= lead.progress[i] + self.timing.resend;
            let quiet = now >= lead.sent[i] + self.timing.heartbeat;
            if stalled && now >= lead.sent[i] + self.timing.resend {
                let held = lead.held[i];
                if let Some(lead) = self.lead_mut() {
                    lead.next[i] = held + 1;
                    lead.progress[i] = now;
                }
                self.send_accepts(m, 0);
            } else if quiet {
                self.send_accepts(m, 0);
            }
        }
    }

    pub(super) fn on_accepted(
        &mut self,
        from: Member,
        ballot: Ballot,
        through: Index,
        voter: bool,
        ping: u64,
        gap: bool,
    ) {
        let now = self.now;
        let compacted = self.compacted;
        let Some(lead) = self.lead_mut() else {
            return;
        };
        if ballot != lead.ballot {
            return;
        }
        let i = from as usize;
        if through > lead.held[i] {
            lead.held[i] = through;
            lead.progress[i] = now;
        }
        if voter {
            lead.voted[i] = lead.voted[i].max(through);
            lead.heard_voter = now;
            lead.pongs[i] = lead.pongs[i].max(ping);
            if !gap {
                lead.kept[i] = lead.kept[i].max(through);
            }
        }
        // The member missed entries (a lost message, or it fell behind):
        // send from where it is.
        let mut resend = gap && lead.next[i] > through + 1;
        if resend {
            lead.next[i] = through + 1;
        }
        // A member that was sent a snapshot holds what it needed.
        if self.sending[i].is_some() && through >= compacted {
            self.sending[i] = None;
            let Some(lead) = self.lead_mut() else {
                return;
            };
            if lead.next[i] <= through {
                lead.next[i] = through + 1;
                resend = true;
            }
        }
        if voter {
            self.count_votes();
        }
        if resend {
            self.send_accepts(from, 0);
        }
        self.pong_reads();
        let safe = self.lead().map_or(0, |l| l.safe(self));
        self.compact(safe);
    }

    pub(super) fn on_propose(&mut self, from: Member, entry: Arc<Entry>, ballot: Ballot) {
        let id = entry.id;
        if id.origin != from {
            return;
        }
        if self.lead().is_none_or(|l| l.ballot != ballot) {
            self.send(
                from,
                Msg::Refused {
                    id,
                    reason: Refusal::NotLeader,
                },
            );
            return;
        }
        if let Err(reason) = self.place(entry) {
            self.send(from, Msg::Refused { id, reason });
        }
    }
}

fn track(in_flight: &mut HashMap<Vec<u8>, InFlight>, entry: &Entry, index: Index) {
    if let Body::Write { keys, .. } = &entry.body {
        for k in keys {
            in_flight.insert(
                k.key.clone(),
                InFlight {
                    version: k.version.clone(),
                    origin: entry.id.origin,
                    index,
                },
            );
        }
    }
}
