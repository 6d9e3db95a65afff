//! One member of one STRONG table: its state, what it does with each
//! input, and the proposer's side of local requests. The acceptor's side
//! is in [`super::acceptor`], the candidate's in [`super::election`], the
//! leader's in [`super::leader`], linearizable reads in [`super::reads`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::state::{Candidacy, Lead, Read};
use super::types::{
    Action, Ballot, Body, Entry, Failure, Generation, Index, MEMBERS, Member, Msg, Persist,
    ProposalId, Refusal, Slot, remember,
};

/// The protocol's clock, in milliseconds of the adapter's monotonic time
/// (virtual under simulation).
#[derive(Clone, Debug)]
pub struct Timing {
    /// The leader speaks to every member at least this often.
    pub heartbeat: u64,
    /// A follower that has not heard its leader this long stands for
    /// election; the leader that has heard no voter this long steps down.
    pub election: u64,
    /// Added per rank among the full replicas, so the two rarely stand at
    /// once.
    pub election_step: u64,
    /// Unanswered messages are sent again after this.
    pub resend: u64,
    /// A local write or read that is not done after this fails: the
    /// "bounded wait" of a member cut off from the others.
    pub request: u64,
    /// Most entries the leader keeps unchosen; more proposals are refused
    /// as busy.
    pub max_in_flight: u64,
    /// Most entries, and bytes of entries, in one message.
    pub msg_entries: usize,
    pub msg_bytes: usize,
    /// A part of a snapshot that is not acknowledged after this is sent
    /// again (parts are large: longer than `resend`).
    pub snapshot_resend: u64,
    /// Entries are dropped from the log in batches of at least this many.
    pub compact_every: u64,
}

/// At most this many doublings of a candidacy's wait
/// ([`Node::candidacy_timeout`]): 8 × 600 ms at the default timing.
const MAX_BACKOFF_DOUBLINGS: u32 = 3;

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: 50,
            election: 600,
            election_step: 300,
            resend: 150,
            request: 2_000,
            max_in_flight: 4_096,
            msg_entries: 512,
            msg_bytes: 4 << 20,
            snapshot_resend: 600,
            compact_every: 64,
        }
    }
}

/// What a member keeps on disk, as it loads it at start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durable {
    pub promised: Ballot,
    /// The entries above `compacted`, in order.
    pub slots: Vec<(Index, Slot)>,
    pub compacted: Index,
    pub commit: Index,
    /// Entries applied to the store (full replicas).
    pub applied: Index,
    pub generation: Generation,
    pub rejoining: bool,
    pub seen: [Option<Generation>; MEMBERS],
    /// This member's recent lives, oldest first ([`Msg::Hello`]); empty in
    /// a store that has recorded none (then `generation` alone).
    pub lives: Vec<Generation>,
}

impl Durable {
    /// The state of every member of a table that has just become STRONG:
    /// `leader` holds the initial ballot, which all have promised.
    pub fn fresh(leader: Member) -> Self {
        Durable {
            promised: Ballot::initial(leader),
            ..Default::default()
        }
    }
}

/// Whether a member's votes count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    Voter,
    /// Started; waiting for both peers to vouch for its generation.
    Unverified {
        vouched: [bool; MEMBERS],
    },
    /// Rolled back: learning, and waiting for its rejoin entry (the local
    /// proposal `seq`) to be chosen by the two others.
    Rejoining {
        seq: Option<u64>,
    },
}

/// What a member is doing in the protocol.
#[derive(Debug)]
pub enum Role {
    Follower {
        leader: Option<Member>,
        heard: u64,
    },
    Candidate(Candidacy),
    /// Boxed: what a leader keeps per member is most of a member's size.
    Leader(Box<Lead>),
}

/// A local proposal waiting for its outcome.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) entry: Arc<Entry>,
    pub(super) deadline: u64,
    pub(super) sent: Option<u64>,
    /// Every (leader, ballot) it was sent to. A leader that received it
    /// may have placed it and had it chosen after this member stopped
    /// hearing, so one that times out after leaving has an unknown
    /// outcome, not a refusal; and a leader's refusal is final only when
    /// no other leader, or ballot, was offered it.
    pub(super) offered: Vec<(Member, Ballot)>,
    pub(super) index: Option<Index>,
}

/// One member of one STRONG table.
#[derive(Debug)]
pub struct Node {
    pub(super) me: Member,
    pub(super) witness: Option<Member>,
    pub(super) timing: Timing,
    pub(super) now: u64,
    pub(super) promised: Ballot,
    pub(super) log: BTreeMap<Index, Slot>,
    pub(super) compacted: Index,
    pub(super) commit: Index,
    pub(super) applied: Index,
    pub(super) generation: Generation,
    /// The lives the store recorded before this start ([`Msg::Hello`]).
    prev: Vec<Generation>,
    /// Those and this one, as persisted.
    lives: Vec<Generation>,
    seen: [Option<Generation>; MEMBERS],
    pub(super) standing: Standing,
    pub(super) role: Role,
    /// The run of entries accepted at one ballot since the commit: every
    /// position through `run.1` holds that ballot's leader's entry.
    pub(super) run: (Ballot, Index),
    /// The furthest the leader of this ballot said its own acceptances
    /// are durable (`Msg::Held`, `Msg::Accept`'s `held`): kept, since a
    /// `Held` may overtake the `Accept` it vouches for.
    pub(super) leader_held: (Ballot, Index),
    pub(super) pending: BTreeMap<u64, Pending>,
    pub(super) reads: BTreeMap<u64, Read>,
    next_seq: u64,
    pub(super) next_rid: u64,
    hello_sent: u64,
    /// The snapshot being received, if any ([`super::snapshot`]).
    pub(super) incoming: Option<super::state::Incoming>,
    /// While leading: the snapshot each member is being sent, if any.
    pub(super) sending: [Option<super::state::Sending>; MEMBERS],
    pub(super) actions: Vec<Action>,
}

impl Node {
    /// A member starting on what its store holds, in a new life whose
    /// nonce the adapter draws. It votes once both peers vouch for it.
    /// `fresh`: the table has just become STRONG, and the member that
    /// holds the initial ballot leads it without a first phase.
    pub fn new(
        me: Member,
        witness: Option<Member>,
        timing: Timing,
        durable: Durable,
        nonce: u64,
        fresh: bool,
        now: u64,
    ) -> Self {
        let generation = Generation {
            counter: durable.generation.counter + 1,
            nonce,
        };
        let standing = if durable.rejoining {
            Standing::Rejoining { seq: None }
        } else {
            Standing::Unverified {
                vouched: std::array::from_fn(|m| m == me as usize),
            }
        };
        let leader = fresh.then_some(durable.promised.leader);
        let mut prev = durable.lives;
        if prev.is_empty() && durable.generation != Generation::default() {
            prev.push(durable.generation);
        }
        let mut lives = prev.clone();
        remember(&mut lives, generation);
        let mut node = Node {
            me,
            witness,
            timing,
            now,
            promised: durable.promised,
            log: durable.slots.into_iter().collect(),
            compacted: durable.compacted,
            commit: durable.commit,
            applied: durable.applied,
            generation,
            prev,
            lives,
            seen: durable.seen,
            standing,
            role: Role::Follower { leader, heard: now },
            run: (Ballot::default(), durable.commit),
            leader_held: (Ballot::default(), 0),
            pending: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_seq: 1,
            next_rid: 1,
            hello_sent: 0,
            incoming: None,
            sending: Default::default(),
            actions: Vec::new(),
        };
        node.behind_its_log();
        // The run it accepted before it stopped is still on its disk: the
        // entries above its commit, in order, at one ballot, from that
        // ballot's leader. Without it, a leader that counted them held and
        // dropped them from its log could never send this member what
        // follows.
        if let Some(first) = node.log.get(&(node.commit + 1)) {
            let ballot = first.ballot;
            let mut through = node.commit + 1;
            while node
                .log
                .get(&(through + 1))
                .is_some_and(|s| s.ballot == ballot)
            {
                through += 1;
            }
            node.run = (ballot, through);
        }
        node.persist(Persist::Life {
            generation,
            rejoining: durable.rejoining,
            lives: node.lives.clone(),
        });
        if node.full(me) && node.applied < node.commit {
            node.actions.push(Action::Apply {
                through: node.commit,
            });
        }
        node.say_hello();
        node
    }

    // ---- what the adapter asks -------------------------------------------

    /// The actions queued since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// A local request's writes: proposes them and returns the number its
    /// outcome will carry ([`Action::Chosen`] or [`Action::Failed`]).
    pub fn propose(&mut self, body: Body, now: u64) -> u64 {
        self.now = now;
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Arc::new(Entry {
            id: ProposalId {
                origin: self.me,
                life: self.generation.nonce,
                seq,
            },
            body,
        });
        self.pending.insert(
            seq,
            Pending {
                entry,
                deadline: now + self.timing.request,
                sent: None,
                offered: Vec::new(),
                index: None,
            },
        );
        self.submit(seq);
        seq
    }

    /// Everything through `index` is applied to the store.
    pub fn applied(&mut self, index: Index) {
        self.applied = self.applied.max(index);
        self.compact(self.safe_hint());
    }

    /// Time passed: elections, resends, heartbeats and deadlines.
    pub fn tick(&mut self, now: u64) {
        self.now = now;
        if matches!(self.standing, Standing::Unverified { .. })
            && now >= self.hello_sent + self.timing.resend
        {
            self.say_hello();
        }
        if let Standing::Rejoining { seq: None } = self.standing {
            let seq = self.propose(
                Body::Rejoin {
                    member: self.me,
                    nonce: self.generation.nonce,
                },
                now,
            );
            self.standing = Standing::Rejoining { seq: Some(seq) };
        }
        match &self.role {
            Role::Follower { heard, .. } => {
                if self.can_lead() && now >= heard + self.election_timeout() {
                    self.stand();
                }
            }
            Role::Candidate(c) => {
                if now >= c.started + self.candidacy_timeout(c.attempt) {
                    self.stand();
                } else {
                    self.ask_again();
                }
            }
            Role::Leader(_) => self.lead_tick(),
        }
        self.retry_pending();
        self.tick_reads();
    }

    /// A message from member `from` in its life `generation`.
    pub fn receive(&mut self, from: Member, generation: Generation, msg: Msg, now: u64) {
        self.now = now;
        if from as usize >= MEMBERS || from == self.me {
            return;
        }
        if !self.admit(from, generation, &msg) {
            return;
        }
        match msg {
            Msg::Hello { .. } => {
                self.send(from, Msg::Welcome { life: generation });
                self.hello_again(from);
            }
            // A welcome to another life (one before a restart or a wipe of
            // this member's store) vouches for nothing.
            Msg::Welcome { life } => {
                if life == self.generation {
                    self.vouched(from);
                }
            }
            Msg::Stale { seen } => self.rolled_back(seen),
            Msg::Probe { ballot } => self.on_probe(from, ballot),
            Msg::ProbeReply { ballot, ok } => self.on_probe_reply(ballot, ok),
            Msg::Prepare { ballot, after } => self.on_prepare(from, ballot, after),
            Msg::Promise {
                ballot,
                commit,
                entries,
                more,
            } => self.on_promise(from, ballot, commit, entries, more),
            Msg::Nack { promised } => self.on_nack(promised),
            Msg::Accept {
                ballot,
                start,
                entries,
                commit,
                safe,
                ping,
                held,
            } => self.on_accept(from, ballot, start, entries, (commit, held), safe, ping),
            Msg::Accepted {
                ballot,
                through,
                voter,
                ping,
                gap,
            } => self.on_accepted(from, ballot, through, voter, ping, gap),
            Msg::Held {
                ballot,
                held,
                commit,
            } => self.on_held(from, ballot, held, commit),
            Msg::Propose { entry, ballot } => self.on_propose(from, entry, ballot),
            Msg::Refused { id, reason } => self.on_refused(from, id, reason),
            Msg::ReadIndex { rid, confirm } => self.on_read_index(from, rid, confirm),
            Msg::ReadAt { rid, ballot, index } => self.on_read_at(rid, ballot, index),
            Msg::Snapshot {
                ballot,
                through,
                part,
                last,
                data,
            } => self.on_snapshot(from, ballot, through, part, last, data),
            Msg::SnapshotAck {
                ballot,
                through,
                next,
            } => self.on_snapshot_ack(from, ballot, through, next),
        }
    }

    /// Whether a message from member `from` in its life `generation` is
    /// taken: a life older than the one this member saw last is answered
    /// `Stale`, and a new life is recorded (and persisted) only as its
    /// hello allows.
    fn admit(&mut self, from: Member, generation: Generation, msg: &Msg) -> bool {
        match self.seen[from as usize] {
            Some(seen) if generation == seen => {}
            Some(seen) if generation.older_than(&seen) => {
                if !matches!(msg, Msg::Stale { .. }) {
                    self.send(from, Msg::Stale { seen });
                }
                return false;
            }
            seen => match msg {
                // A new life is recorded only from its hello, which names
                // the lives its store recorded: one whose store lacks the
                // life this member saw last lost what that life held, and
                // is stale whatever its counter.
                Msg::Hello { lives } => {
                    if let Some(seen) = seen
                        && !lives.contains(&seen)
                    {
                        self.send(from, Msg::Stale { seen });
                        return false;
                    }
                    self.seen[from as usize] = Some(generation);
                    self.persist(Persist::PeerSeen {
                        member: from,
                        generation,
                    });
                }
                // Anything else from a life not yet vouched for is taken
                // as from a member that does not vote (it does not, until
                // both peers answer its hello), and the life is not
                // recorded, so its hello is still checked.
                _ => {
                    if seen.is_none() {
                        self.seen[from as usize] = Some(generation);
                        self.persist(Persist::PeerSeen {
                            member: from,
                            generation,
                        });
                    }
                }
            },
        }
        true
    }

    // ---- what status shows -----------------------------------------------

    pub fn generation(&self) -> Generation {
        self.generation
    }

    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    pub fn promised(&self) -> Ballot {
        self.promised
    }

    pub fn commit(&self) -> Index {
        self.commit
    }

    /// The position through which this member has dropped its log.
    pub fn compacted(&self) -> Index {
        self.compacted
    }

    /// The newest position this member holds.
    pub fn last(&self) -> Index {
        self.log
            .last_key_value()
            .map_or(self.compacted.max(self.commit), |(i, _)| *i)
    }

    /// The leader this member follows, or itself when it leads.
    pub fn leader(&self) -> Option<Member> {
        match &self.role {
            Role::Follower { leader, .. } => *leader,
            Role::Candidate(_) => None,
            Role::Leader(_) => Some(self.me),
        }
    }

    pub fn role_name(&self) -> &'static str {
        match &self.role {
            Role::Follower { .. } => "follower",
            Role::Candidate(_) => "candidate",
            Role::Leader(_) => "leader",
        }
    }

    /// The entry at `index`, while the log still holds it.
    pub fn entry(&self, index: Index) -> Option<&Arc<Entry>> {
        self.log.get(&index).map(|s| &s.entry)
    }

    // ---- helpers ---------------------------------------------------------

    pub(super) fn full(&self, m: Member) -> bool {
        self.witness != Some(m)
    }

    pub(super) fn voter(&self) -> bool {
        self.standing == Standing::Voter
    }

    fn can_lead(&self) -> bool {
        self.voter() && self.full(self.me)
    }

    pub(super) fn others(&self) -> impl Iterator<Item = Member> + use<> {
        let me = self.me;
        (0..MEMBERS as Member).filter(move |m| *m != me)
    }

    pub(super) fn send(&mut self, to: Member, msg: Msg) {
        self.actions.push(Action::Send { to, msg });
    }

    pub(super) fn persist(&mut self, p: Persist) {
        self.actions.push(Action::Persist(p));
    }

    fn election_timeout(&self) -> u64 {
        let rank = (0..self.me).filter(|m| self.full(*m)).count() as u64;
        self.timing.election + rank * self.timing.election_step
    }

    /// How long candidacy number `attempt` in a row (0 for the first)
    /// waits for a majority before standing again: the election timeout,
    /// doubled for each candidacy before it that won none, at most eight
    /// times over. A candidacy needs two round trips (the probe, then phase
    /// one); on a link slower than that allows, a fixed timeout restarts
    /// every candidacy before its promises arrive, for ever (198 ms each
    /// way is enough, with a third member rejoining and not voting).
    pub(super) fn candidacy_timeout(&self, attempt: u32) -> u64 {
        self.election_timeout() << attempt.min(MAX_BACKOFF_DOUBLINGS)
    }

    fn say_hello(&mut self) {
        self.hello_sent = self.now;
        for m in self.others() {
            self.hello_again(m);
        }
    }

    /// A peer's hello shows its member for the table is running now: one
    /// started after this member's last hello to it dropped that hello (a
    /// region drops messages for a table it has not started yet), so the
    /// hello is repeated at once rather than at the next resend. Without
    /// it a member started a moment before a peer waits a resend interval
    /// to vote, and a region cut off in that window leaves the other two
    /// without a majority for as long as the cut lasts (a witness created
    /// just before the conformance check isolated the other replica).
    fn hello_again(&mut self, to: Member) {
        if let Standing::Unverified { vouched } = self.standing
            && !vouched[to as usize]
        {
            let lives = self.prev.clone();
            self.send(to, Msg::Hello { lives });
        }
    }

    fn vouched(&mut self, from: Member) {
        if let Standing::Unverified { vouched } = &mut self.standing {
            vouched[from as usize] = true;
            if vouched.iter().all(|v| *v) {
                self.standing = Standing::Voter;
                self.become_voter();
            }
        }
    }

    /// A member that votes again: a fresh table's first leader takes its
    /// initial ballot.
    fn become_voter(&mut self) {
        if let Role::Follower {
            leader: Some(l), ..
        } = self.role
            && l == self.me
            && self.promised == Ballot::initial(self.me)
            && self.log.is_empty()
            && self.commit == 0
        {
            self.take_lead(self.promised, BTreeMap::new(), HashMap::new());
        }
    }

    /// A peer has seen a newer life of this member: its store lost state.
    /// It stops voting and rejoins.
    ///
    /// Before its peers vouch for it, a member is also stale when the peer
    /// saw a life its store never recorded, other than this one: its
    /// counter may be higher than that life's, but its store is older.
    ///
    /// The life the peer saw is recorded among this member's lives, with
    /// the new one: once it has rejoined, its next start's hello names the
    /// life that peer last saw of it.
    fn rolled_back(&mut self, seen: Generation) {
        let unverified = matches!(self.standing, Standing::Unverified { .. });
        let newer_life = self.generation.older_than(&seen);
        let older_store = unverified && seen != self.generation && !self.prev.contains(&seen);
        if !(newer_life || older_store) {
            return;
        }
        self.generation = self.generation.next_after(&seen);
        remember(&mut self.lives, seen);
        remember(&mut self.lives, self.generation);
        self.standing = Standing::Rejoining { seq: None };
        self.persist(Persist::Life {
            generation: self.generation,
            rejoining: true,
            lives: self.lives.clone(),
        });
        self.step_down(None);
    }

    pub(super) fn step_down(&mut self, leader: Option<Member>) {
        if let Role::Leader(_) = self.role {
            self.abandon_leader_reads();
        }
        self.role = Role::Follower {
            leader,
            heard: self.now,
        };
    }

    /// Positions the leader said every member holds, bounded by what this
    /// member has applied (or, on a witness, knows chosen).
    fn safe_hint(&self) -> Index {
        match &self.role {
            Role::Leader(l) => l.safe(self),
            _ => self.compacted,
        }
    }

    pub(super) fn compact(&mut self, safe: Index) {
        let done = if self.full(self.me) {
            self.applied
        } else {
            self.commit
        };
        let to = safe.min(done);
        // Dropping entries is batched: each drop is a write.
        if to >= self.compacted + self.timing.compact_every {
            self.log = self.log.split_off(&(to + 1));
            self.compacted = to;
            self.persist(Persist::Compacted(to));
        }
    }

    /// Promises `ballot` and persists the promise. A promise never goes
    /// back: every caller has checked that `ballot` is at least the one
    /// promised, since a member that promised a lower ballot again could
    /// accept an old leader's entry over one a newer leader had chosen.
    pub(super) fn promise(&mut self, ballot: Ballot) {
        debug_assert!(
            ballot >= self.promised,
            "invariant broken: member {} promised {} would go back to {ballot}",
            self.me,
            self.promised
        );
        self.promised = ballot;
        self.persist(Persist::Promised(ballot));
    }

    /// Drops the entries past the commit from this member's log and nothing
    /// else, as a disk that lost acceptances without the member knowing
    /// would: a state no input leads to, for the golden script that shows
    /// an invariant firing (`lose-acceptances`).
    #[cfg(test)]
    pub(super) fn lose_acceptances(&mut self) {
        let _lost = self.log.split_off(&(self.commit + 1));
    }

    /// Advances the commit; applies, and settles what waited for it.
    ///
    /// Nothing is counted chosen past what this member holds (its log, or
    /// what it dropped from it): every caller bounds the commit by the
    /// positions it has, since an entry it never held cannot be applied.
    pub(super) fn set_commit(&mut self, commit: Index) {
        if commit <= self.commit {
            return;
        }
        debug_assert!(
            commit <= self.last(),
            "invariant broken: member {} would count {commit} chosen, past the {} it holds",
            self.me,
            self.last()
        );
        self.commit = commit;
        self.persist(Persist::Commit(commit));
        if self.full(self.me) {
            self.actions.push(Action::Apply { through: commit });
        }
        if let Role::Leader(l) = &mut self.role {
            l.forget_chosen(commit);
        }
        let chosen: Vec<(u64, Index)> = self
            .pending
            .iter()
            .filter_map(|(s, p)| p.index.filter(|i| *i <= commit).map(|i| (*s, i)))
            .collect();
        for (seq, index) in chosen {
            // A proposal this member placed while it led may have been
            // replaced at its position by a later leader that never saw
            // it: what is chosen there is another entry. It is proposed
            // again (the leader's ids and every replica's compare-and-set
            // keep a second placement from applying twice).
            let here = self.log.get(&index).map(|s| s.entry.id);
            let mine = self.pending.get(&seq).map(|p| p.entry.id);
            if here.is_some() && here != mine {
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.index = None;
                    p.sent = None;
                }
                continue;
            }
            self.chosen(seq, index);
        }
        self.settle_reads();
    }

    /// A local proposal is chosen. A rejoin entry is the protocol's own:
    /// the one of this life makes the member a voter again.
    pub(super) fn chosen(&mut self, seq: u64, index: Index) {
        let Some(p) = self.pending.remove(&seq) else {
            return;
        };
        if let Body::Rejoin { nonce, .. } = p.entry.body {
            if nonce == self.generation.nonce && matches!(self.standing, Standing::Rejoining { .. })
            {
                self.standing = Standing::Voter;
                self.persist(Persist::Life {
                    generation: self.generation,
                    rejoining: false,
                    lives: self.lives.clone(),
                });
            }
            return;
        }
        self.actions.push(Action::Chosen { seq, index });
    }

    pub(super) fn failed(&mut self, seq: u64, failure: Failure) {
        let Some(p) = self.pending.remove(&seq) else {
            return;
        };
        if let Body::Rejoin { .. } = p.entry.body {
            if self.standing == (Standing::Rejoining { seq: Some(seq) }) {
                self.standing = Standing::Rejoining { seq: None };
            }
            return;
        }
        self.actions.push(Action::Failed { seq, failure });
    }

    // ---- proposals from this member ---------------------------------------

    /// Sends a local proposal to the leader, or places it when leading.
    fn submit(&mut self, seq: u64) {
        let Some(p) = self.pending.get(&seq) else {
            return;
        };
        if p.index.is_some() {
            return;
        }
        let entry = p.entry.clone();
        match self.leader() {
            Some(l) if l == self.me => match self.place(entry) {
                Ok(index) => {
                    let ballot = self.promised;
                    if let Some(p) = self.pending.get_mut(&seq) {
                        p.index = Some(index);
                        // Placed here: a later leader may choose it, so a
                        // refusal from another is not final.
                        if !p.offered.contains(&(l, ballot)) {
                            p.offered.push((l, ballot));
                        }
                    }
                }
                Err(reason) => {
                    // Offered to another leader before, which may have
                    // placed it: this refusal is not final, and it waits
                    // for its deadline (an unknown outcome) or a choice.
                    let elsewhere = self
                        .pending
                        .get(&seq)
                        .is_some_and(|p| p.offered.iter().any(|o| o.0 != self.me));
                    if elsewhere {
                        if let Some(p) = self.pending.get_mut(&seq) {
                            p.sent = Some(self.now);
                        }
                    } else {
                        self.failed(seq, Failure::Refused(reason));
                    }
                }
            },
            Some(l) => {
                let ballot = self.promised;
                if let Some(p) = self.pending.get_mut(&seq) {
                    p.sent = Some(self.now);
                    if !p.offered.contains(&(l, ballot)) {
                        p.offered.push((l, ballot));
                    }
                }
                self.send(l, Msg::Propose { entry, ballot });
            }
            None => {}
        }
    }

    fn retry_pending(&mut self) {
        let now = self.now;
        let expired: Vec<(u64, bool)> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(s, p)| (*s, p.index.is_some() || !p.offered.is_empty()))
            .collect();
        for (seq, unknown) in expired {
            self.failed(seq, Failure::Unavailable { unknown });
        }
        let resend: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.index.is_none() && p.sent.is_none_or(|s| now >= s + self.timing.resend)
            })
            .map(|(s, _)| *s)
            .collect();
        for seq in resend {
            self.submit(seq);
        }
    }

    fn on_refused(&mut self, from: Member, id: ProposalId, reason: Refusal) {
        let Some(p) = self.pending.get(&id.seq).filter(|p| p.entry.id == id) else {
            return;
        };
        // Refused by one leader, but offered to another or at another
        // ballot, where it may yet be placed: not final. It waits for its
        // deadline (an unknown outcome) unless a leader places it.
        let only_here = p
            .offered
            .first()
            .is_some_and(|f| f.0 == from && p.offered.iter().all(|o| o == f));
        if reason != Refusal::NotLeader && !only_here {
            return;
        }
        match reason {
            Refusal::NotLeader => {
                if let Role::Follower { leader, .. } = &mut self.role {
                    *leader = None;
                }
                if let Some(p) = self.pending.get_mut(&id.seq) {
                    p.sent = None;
                }
            }
            reason => self.failed(id.seq, Failure::Refused(reason)),
        }
    }

    /// Entries accepted from the leader at positions `from..`: settles the
    /// local proposals among them. A voter's acceptance at the leader's
    /// ballot makes two of three: the entry is chosen.
    pub(super) fn own_entries_placed(&mut self, placed: &[(Index, ProposalId)]) {
        for (index, id) in placed {
            if let Some(p) = self.pending.get_mut(&id.seq)
                && p.entry.id == *id
            {
                p.index = Some(*index);
            }
        }
    }
}
