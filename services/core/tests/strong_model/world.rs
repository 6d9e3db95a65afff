//! The bounded world the model check explores: three members driven
//! through the public `Node` API, each with a disk (what its `Persist`
//! actions wrote and synced), acceptances written but not yet synced, a
//! store of key heads, and a network that is a multiset of messages in
//! flight. Every state also carries the checker's own record of history
//! (what was told chosen, applied, refused), since the properties are
//! about histories.
//!
//! `Node` is neither `Clone` nor `Hash`, and its source is not ours to
//! change, so a state keeps, for each running member, how it started and
//! every input it has had since (a shared list, so states share their
//! common past); a member is rebuilt by replaying them (`Node` is a pure
//! function of its inputs), and identified by a canonical form of its
//! `Debug` output (the entries of every `{…}` sorted, so the order of its
//! `HashMap`s does not split one state into several).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::canon::{canonical, hash128};
use meridian_core::strong::{
    Action, Ballot, Body, Durable, Failure, Generation, Index, KeyWrite, MEMBERS, Member, Msg,
    Node, Persist, ProposalId, Slot, Standing, Timing,
};

/// How the adapter around `Node` behaves: the region's, or deliberately
/// broken so the check must find a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// As `services/region/src/strong/` and the core's own test world:
    /// acceptances are written at once but synced later; an `Accept` of
    /// the leader's own proposals and a `Held` may leave before that
    /// sync, every other action waits for it; `Node::persisted` is told
    /// only once the sync is done.
    Faithful,
    /// Tells the node its acceptances are durable as soon as it asks to
    /// write them, before they are synced: a leader counts its own vote,
    /// and says `held`, for a copy a crash can still lose.
    AcksBeforeDurable,
    /// A wiped store keeps the rows of the member's lives (generation,
    /// lives, peers seen) while its log and promise go: peers vouch for
    /// it, and it votes without rejoining.
    KeepsLivesOnWipe,
}

/// The bounds of one check.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub witness: Option<Member>,
    /// Writes to propose, each at most once: (member, key).
    pub proposals: Vec<(Member, &'static str)>,
    /// Linearizable reads to start, each at most once: the member.
    pub reads: Vec<Member>,
    /// Time steps (each ticks every running member).
    pub ticks: u32,
    pub drops: u32,
    pub dups: u32,
    pub crashes: u32,
    /// The members that may crash or lose their store.
    pub faulty: Vec<Member>,
    /// Stores lost (wiped, or put back to a copy taken while the member
    /// was down): at most one in all.
    pub wipes: u32,
    pub rollbacks: u32,
    /// Messages in flight at most; a send past it is lost.
    pub net_cap: usize,
    /// Whether a member may count an entry chosen that fewer than two
    /// disks hold at that moment, once a store was lost (Paxos's sense of
    /// chosen is checked either way). docs/strong.md, *The model check*.
    pub strict: bool,
    /// The protocol's timers, in ticks.
    pub timing: Timing,
    /// Whether a member that crashed may also lose its store: with both,
    /// the check stops at the bug of
    /// `a_welcome_to_an_earlier_life_vouches_for_a_wiped_store`.
    pub crash_then_wipe: bool,
}

/// The protocol's timers, in ticks: a resend and a rejoin fit in the
/// bounds; no compaction, so no snapshot.
pub fn timing() -> Timing {
    Timing {
        heartbeat: 2,
        election: 3,
        election_step: 1,
        resend: 2,
        request: 8,
        max_in_flight: 8,
        msg_entries: 8,
        msg_bytes: 1 << 20,
        snapshot_resend: 4,
        compact_every: 1 << 40,
    }
}

#[derive(Clone, Debug)]
pub enum Input {
    Receive(Member, Generation, Msg),
    Tick,
    Propose(Body),
    Read,
    Applied(Index),
    Persisted(Ballot, Index),
}

struct Cons {
    now: u64,
    input: Input,
    prev: Option<Arc<Cons>>,
}

/// One life of a running member: how it started and its inputs since.
#[derive(Clone)]
pub struct Life {
    durable: Durable,
    nonce: u64,
    fresh: bool,
    start: u64,
    inputs: Option<Arc<Cons>>,
    fp: u128,
}

#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// Everything but the log, which is `slots`.
    pub meta: Durable,
    pub slots: BTreeMap<Index, Slot>,
}

/// A store's key heads.
pub type Heads = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Default)]
pub struct Host {
    pub life: Option<Life>,
    pub disk: Disk,
    pub unsynced: Vec<(Index, Slot)>,
    pub heads: BTreeMap<Vec<u8>, Vec<u8>>,
    pub applied: Index,
    /// A copy of the disk and store, taken while the member was down.
    pub saved: Option<(Disk, Heads, Index)>,
    pub starts: u64,
}

#[derive(Clone, Debug)]
pub struct Packet {
    pub from: Member,
    pub to: Member,
    pub generation: Generation,
    pub msg: Msg,
}

/// The checker's record of history, and the budgets spent.
#[derive(Clone, Debug, Default)]
pub struct Ghost {
    /// Local proposals waiting for an outcome, and reads.
    pub proposals: BTreeMap<(Member, u64), ProposalId>,
    pub reads: BTreeMap<(Member, u64), Index>,
    /// Reads answered (`ReadReady`).
    pub reads_done: u32,
    /// Reported failed with a known outcome (refused, or never left).
    pub refused: BTreeSet<ProposalId>,
    /// What each position was applied as, and the heads it gave.
    pub applied: BTreeMap<Index, ProposalId>,
    pub heads_at: BTreeMap<Index, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Told chosen to a proposer (`Chosen`), or committed by a member.
    pub told: BTreeMap<Index, ProposalId>,
    pub told_max: Index,
    /// Every acceptance that reached a member's disk, ever: (position,
    /// ballot, entry, member).
    pub accepted: BTreeSet<(Index, Ballot, ProposalId, Member)>,
    /// Chosen in Paxos's sense: durably accepted by two members at one
    /// ballot, ever.
    pub chosen: BTreeMap<Index, ProposalId>,
    /// A member that lost its store, and whether a rejoin entry of its
    /// has been chosen since.
    pub lost: Option<(Member, bool)>,
    pub proposed: BTreeSet<usize>,
    /// The members that crashed.
    pub crashed: BTreeSet<Member>,
    pub read: BTreeSet<usize>,
    pub ticks: u32,
    pub drops: u32,
    pub dups: u32,
    pub crashes: u32,
    pub wipes: u32,
    pub rollbacks: u32,
    pub copies: u32,
    pub versions: u64,
}

/// One step of the world.
#[derive(Clone, Debug)]
pub enum Event {
    Deliver(usize),
    Drop(usize),
    Dup(usize),
    Tick,
    Propose(usize),
    Read(usize),
    Sync(Member),
    Crash(Member),
    Restart(Member),
    Copy(Member),
    Rollback(Member),
    Wipe(Member),
}

pub struct Trace {
    pub event: Event,
    pub prev: Option<Arc<Trace>>,
}

#[derive(Clone)]
pub struct State {
    pub adapter: Adapter,
    pub witness: Option<Member>,
    pub timing: Timing,
    pub now: u64,
    pub hosts: Vec<Host>,
    /// In flight, in a canonical order (by `Debug` form).
    pub net: Vec<Packet>,
    pub ghost: Ghost,
    /// Messages in flight at most ([`Bounds::net_cap`]).
    pub cap: usize,
    /// [`Bounds::strict`].
    pub strict: bool,
    pub trace: Option<Arc<Trace>>,
}

fn node_fp(node: &Node) -> u128 {
    hash128(&canonical(&format!("{node:?}")))
}

fn feed(node: &mut Node, now: u64, input: &Input) -> u64 {
    match input {
        Input::Receive(from, generation, msg) => {
            node.receive(*from, *generation, msg.clone(), now);
            0
        }
        Input::Tick => {
            node.tick(now);
            0
        }
        Input::Propose(body) => node.propose(body.clone(), now),
        Input::Read => node.read(now),
        Input::Applied(i) => {
            node.applied(*i);
            0
        }
        Input::Persisted(b, i) => {
            node.persisted(*b, *i);
            0
        }
    }
}

fn rebuild(me: Member, witness: Option<Member>, timing: &Timing, life: &Life) -> Node {
    let mut node = Node::new(
        me,
        witness,
        timing.clone(),
        life.durable.clone(),
        life.nonce,
        life.fresh,
        life.start,
    );
    let mut inputs = Vec::new();
    let mut at = life.inputs.as_deref();
    while let Some(c) = at {
        inputs.push(c);
        at = c.prev.as_deref();
    }
    for c in inputs.iter().rev() {
        feed(&mut node, c.now, &c.input);
    }
    node.take_actions();
    node
}

pub type Check = Result<(), String>;

/// The members rebuilt for one step, taken back into the state after it.
pub struct Live(pub [Option<Node>; MEMBERS]);

impl State {
    /// Three members of a table that has just become STRONG (member 1
    /// leads ballot 1.1), started, their hellos answered and everything
    /// synced: every member votes.
    pub fn initial(adapter: Adapter, bounds: &Bounds) -> Result<State, String> {
        let witness = bounds.witness;
        let mut s = State {
            adapter,
            witness,
            timing: bounds.timing.clone(),
            now: 0,
            hosts: (0..MEMBERS).map(|_| Host::default()).collect(),
            net: Vec::new(),
            ghost: Ghost::default(),
            cap: usize::MAX,
            strict: false,
            trace: None,
        };
        let mut live = Live(Default::default());
        for m in 0..MEMBERS as Member {
            s.hosts[m as usize].disk.meta = Durable::fresh(1);
            s.start(&mut live, m, true)?;
        }
        // Hellos, their welcomes, the hellos repeated on a peer's hello
        // (`Node::hello_again`), and their welcomes: bounded, never endless.
        let budget = s.net.len() * 8;
        for _ in 0..budget {
            if s.net.is_empty() {
                break;
            }
            let p = s.net.remove(0);
            s.deliver(&mut live, p)?;
        }
        for m in 0..MEMBERS as Member {
            s.sync(&mut live, m)?;
        }
        s.settle(live)?;
        for m in 0..MEMBERS as Member {
            let life = s.hosts[m as usize].life.as_ref().expect("up");
            let node = rebuild(m, witness, &s.timing, life);
            if *node.standing() != Standing::Voter || !s.net.is_empty() {
                return Err(format!("setup: member {m} is {:?}", node.standing()));
            }
        }
        Ok(s)
    }

    pub fn full(&self, m: Member) -> bool {
        self.witness != Some(m)
    }

    pub fn running(&self, m: Member) -> bool {
        self.hosts[m as usize].life.is_some()
    }

    fn node<'a>(&self, live: &'a mut Live, m: Member) -> &'a mut Node {
        let slot = &mut live.0[m as usize];
        if slot.is_none() {
            let life = self.hosts[m as usize].life.as_ref().expect("running");
            *slot = Some(rebuild(m, self.witness, &self.timing, life));
        }
        slot.as_mut().expect("built")
    }

    /// Gives member `m` one input, records it, and carries out what it
    /// asks.
    fn input(&mut self, live: &mut Live, m: Member, input: Input) -> Result<u64, String> {
        let out = self.record(live, m, input);
        self.drain(live, m)?;
        Ok(out)
    }

    /// Gives member `m` one input and records it, without carrying out
    /// what it asks yet.
    fn record(&mut self, live: &mut Live, m: Member, input: Input) -> u64 {
        let now = self.now;
        let out = feed(self.node(live, m), now, &input);
        let life = self.hosts[m as usize].life.as_mut().expect("running");
        life.inputs = Some(Arc::new(Cons {
            now,
            input,
            prev: life.inputs.take(),
        }));
        out
    }

    fn drain(&mut self, live: &mut Live, m: Member) -> Check {
        loop {
            let actions = self.node(live, m).take_actions();
            if actions.is_empty() {
                return Ok(());
            }
            for a in actions {
                self.carry_out(live, m, a)?;
            }
        }
    }

    /// Puts member `m`'s unsynced acceptances on its disk, and tells it.
    fn sync(&mut self, live: &mut Live, m: Member) -> Check {
        let host = &mut self.hosts[m as usize];
        let synced = std::mem::take(&mut host.unsynced);
        let newest = synced.iter().map(|(i, s)| (s.ballot, *i)).max();
        host.disk.slots.extend(synced);
        if let (Some((ballot, through)), true) = (newest, host.life.is_some()) {
            self.input(live, m, Input::Persisted(ballot, through))?;
        }
        Ok(())
    }

    fn carry_out(&mut self, live: &mut Live, m: Member, action: Action) -> Check {
        let early = match &action {
            Action::Persist(Persist::Accepted(_)) => true,
            Action::Send { msg, .. } => msg.leaves_early(m),
            _ => false,
        };
        if !early {
            self.sync(live, m)?;
        }
        self.observe(m, &action)?;
        match action {
            Action::Persist(p) => self.persist(live, m, p)?,
            Action::Send { to, msg } => {
                if self.net.len() < self.cap {
                    let generation = self.node(live, m).generation();
                    self.net.push(Packet {
                        from: m,
                        to,
                        generation,
                        msg,
                    });
                }
            }
            Action::Apply { through } => {
                for i in self.hosts[m as usize].applied + 1..=through {
                    let Some(slot) = self.hosts[m as usize].disk.slots.get(&i).cloned() else {
                        return Err(format!("member {m} applies {i}, which is not on its disk"));
                    };
                    self.apply(m, i, &slot)?;
                }
                self.input(live, m, Input::Applied(through))?;
            }
            Action::Chosen { .. }
            | Action::Failed { .. }
            | Action::ReadReady { .. }
            | Action::ReadFailed { .. } => {}
            a => return Err(format!("outside the model: {a:?}")),
        }
        Ok(())
    }

    fn persist(&mut self, live: &mut Live, m: Member, p: Persist) -> Check {
        let disk = &mut self.hosts[m as usize].disk;
        match p {
            Persist::Promised(b) => disk.meta.promised = b,
            Persist::Accepted(slots) => {
                let newest = slots.iter().map(|(i, s)| (s.ballot, *i)).max();
                self.hosts[m as usize].unsynced.extend(slots);
                if self.adapter == Adapter::AcksBeforeDurable
                    && let Some((b, i)) = newest
                {
                    self.input(live, m, Input::Persisted(b, i))?;
                }
            }
            Persist::Commit(c) => disk.meta.commit = c,
            Persist::Compacted(c) => {
                disk.meta.compacted = c;
                disk.slots = disk.slots.split_off(&(c + 1));
            }
            Persist::Life {
                generation,
                rejoining,
                lives,
            } => {
                disk.meta.generation = generation;
                disk.meta.rejoining = rejoining;
                disk.meta.lives = lives;
            }
            Persist::PeerSeen { member, generation } => {
                disk.meta.seen[member as usize] = Some(generation)
            }
        }
        Ok(())
    }

    /// How many members' disks hold `id` at `index`.
    fn holders(&self, index: Index, id: ProposalId) -> usize {
        self.hosts
            .iter()
            .filter(|h| h.disk.slots.get(&index).is_some_and(|s| s.entry.id == id))
            .count()
    }

    /// The checks made on each action as it is carried out.
    fn observe(&mut self, m: Member, action: &Action) -> Check {
        match action {
            Action::Chosen { seq, index } => {
                let id = self
                    .ghost
                    .proposals
                    .remove(&(m, *seq))
                    .ok_or("chosen: an unknown proposal")?;
                self.told(m, *index, id, "its own write is chosen")?;
            }
            Action::Persist(Persist::Commit(c)) => {
                for i in self.hosts[m as usize].disk.meta.commit + 1..=*c {
                    let Some(slot) = self.hosts[m as usize].disk.slots.get(&i) else {
                        return Err(format!(
                            "durability: member {m} commits {i}, which is not on its disk"
                        ));
                    };
                    let id = slot.entry.id;
                    self.told(m, i, id, "commits")?;
                }
            }
            Action::Failed { seq, failure } => {
                let id = self.ghost.proposals.remove(&(m, *seq));
                let known = !matches!(failure, Failure::Unavailable { unknown: true });
                if let Some(id) = id.filter(|_| known) {
                    if self.ghost.applied.values().any(|a| *a == id) {
                        return Err(format!(
                            "refusal: {id} reported failed ({failure}) and is applied"
                        ));
                    }
                    self.ghost.refused.insert(id);
                }
            }
            Action::ReadReady { rid, index } => {
                let began = self
                    .ghost
                    .reads
                    .remove(&(m, *rid))
                    .ok_or("an unknown read")?;
                if *index < began {
                    return Err(format!(
                        "linearizability: a read that began after {began} was told chosen reads at {index}"
                    ));
                }
                self.ghost.reads_done += 1;
            }
            Action::ReadFailed { rid, .. } => {
                self.ghost.reads.remove(&(m, *rid));
            }
            Action::Send { msg, .. } => {
                let vote = matches!(msg, Msg::Accepted { voter: true, .. } | Msg::Promise { .. });
                if vote && self.lost_unrejoined(m) {
                    return Err(format!(
                        "rejoin: member {m} lost its store and votes ({}) before its rejoin is chosen",
                        msg.kind()
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn lost_unrejoined(&self, m: Member) -> bool {
        self.ghost.lost == Some((m, false))
    }

    /// Member `m` counts `id` chosen at `index`: it must be chosen in
    /// Paxos's sense (two members' disks accepted it at one ballot), and
    /// while no store was lost, two disks must hold it now; no other entry
    /// may be chosen or told chosen there.
    fn told(&mut self, m: Member, index: Index, id: ProposalId, how: &str) -> Check {
        self.paxos_chosen()?;
        let holders = self.holders(index, id);
        if self.ghost.chosen.get(&index) != Some(&id)
            || (holders < 2 && (self.ghost.lost.is_none() || self.strict))
        {
            return Err(format!(
                "durability: member {m} counts {id} chosen at {index} ({how}), held by {holders} disk(s){}",
                if self.ghost.chosen.get(&index) == Some(&id) {
                    ""
                } else {
                    ", never by two at one ballot"
                }
            ));
        }
        for (what, map) in [
            ("told chosen", &self.ghost.told),
            ("chosen", &self.ghost.chosen),
        ] {
            if let Some(other) = map.get(&index)
                && *other != id
            {
                return Err(format!(
                    "agreement: member {m} counts {id} chosen at {index}, where {other} was {what}"
                ));
            }
        }
        if let Some(a) = self.ghost.applied.get(&index)
            && *a != id
        {
            return Err(format!(
                "agreement: {id} counted chosen at {index}, where {a} is applied"
            ));
        }
        self.ghost.told.insert(index, id);
        self.ghost.told_max = self.ghost.told_max.max(index);
        Ok(())
    }

    fn apply(&mut self, m: Member, index: Index, slot: &Slot) -> Check {
        let id = slot.entry.id;
        if self.ghost.refused.contains(&id) {
            return Err(format!(
                "refusal: {id} reported failed, and member {m} applies it at {index}"
            ));
        }
        match self.ghost.applied.get(&index) {
            Some(a) if *a != id => {
                return Err(format!(
                    "agreement: member {m} applies {id} at {index}, where {a} was applied"
                ));
            }
            _ => {
                self.ghost.applied.insert(index, id);
            }
        }
        let host = &mut self.hosts[m as usize];
        if let Body::Write { keys, .. } = &slot.entry.body
            && keys
                .iter()
                .all(|k| host.heads.get(&k.key) == k.expect.as_ref())
        {
            for k in keys {
                host.heads.insert(k.key.clone(), k.version.clone());
            }
        }
        host.applied = index;
        match self.ghost.heads_at.get(&index) {
            Some(h) if *h != host.heads => Err(format!(
                "applied state: member {m} holds {:?} after {index}, another held {h:?}",
                host.heads
            )),
            Some(_) => Ok(()),
            None => {
                self.ghost.heads_at.insert(index, host.heads.clone());
                Ok(())
            }
        }
    }

    fn start(&mut self, live: &mut Live, m: Member, fresh: bool) -> Check {
        let host = &mut self.hosts[m as usize];
        host.starts += 1;
        let mut durable = host.disk.meta.clone();
        durable.slots = host
            .disk
            .slots
            .iter()
            .map(|(i, s)| (*i, s.clone()))
            .collect();
        durable.applied = host.applied;
        let nonce = 1000 * (m as u64 + 1) + host.starts;
        let node = Node::new(
            m,
            self.witness,
            self.timing.clone(),
            durable.clone(),
            nonce,
            fresh,
            self.now,
        );
        host.life = Some(Life {
            durable,
            nonce,
            fresh,
            start: self.now,
            inputs: None,
            fp: 0,
        });
        live.0[m as usize] = Some(node);
        self.drain(live, m)
    }

    fn crash(&mut self, live: &mut Live, m: Member) {
        let host = &mut self.hosts[m as usize];
        host.life = None;
        host.unsynced.clear();
        live.0[m as usize] = None;
        self.ghost.proposals.retain(|(o, _), _| *o != m);
        self.ghost.reads.retain(|(o, _), _| *o != m);
    }

    fn deliver(&mut self, live: &mut Live, p: Packet) -> Check {
        if self.running(p.to) {
            self.input(live, p.to, Input::Receive(p.from, p.generation, p.msg))?;
        }
        Ok(())
    }

    /// After a step: the rebuilt members' fingerprints, the network in
    /// canonical order, and the checks on the whole state.
    fn settle(&mut self, live: Live) -> Check {
        for (m, node) in live.0.into_iter().enumerate() {
            if let (Some(node), Some(life)) = (node, self.hosts[m].life.as_mut()) {
                life.fp = node_fp(&node);
                if self
                    .ghost
                    .lost
                    .as_ref()
                    .is_some_and(|(l, _)| *l as usize == m)
                    && *node.standing() == Standing::Voter
                    && self.lost_unrejoined(m as Member)
                {
                    return Err(format!(
                        "rejoin: member {m} lost its store and is a voter before its rejoin is chosen"
                    ));
                }
            }
        }
        self.net.sort_by_cached_key(|p| format!("{p:?}"));
        self.paxos_chosen()
    }

    /// Records every acceptance that reached a disk, and what is chosen
    /// in Paxos's sense: two members durably accepted one entry at one
    /// ballot (a store lost since does not unchoose it). Fails if a
    /// position ever has two.
    fn paxos_chosen(&mut self) -> Check {
        for (m, h) in self.hosts.iter().enumerate() {
            for (i, s) in &h.disk.slots {
                self.ghost
                    .accepted
                    .insert((*i, s.ballot, s.entry.id, m as Member));
            }
        }
        let mut votes: BTreeMap<(Index, Ballot, ProposalId), usize> = BTreeMap::new();
        for (i, b, id, _) in &self.ghost.accepted {
            *votes.entry((*i, *b, *id)).or_default() += 1;
        }
        for ((i, b, id), n) in votes {
            if n < 2 {
                continue;
            }
            match self.ghost.chosen.get(&i) {
                Some(other) if *other != id => {
                    return Err(format!(
                        "agreement: {other} and {id} both chosen at {i} (the latter at ballot {b})"
                    ));
                }
                Some(_) => {}
                None => {
                    self.ghost.chosen.insert(i, id);
                    let rejoin = self.hosts.iter().find_map(|h| {
                        h.disk.slots.get(&i).and_then(|s| match s.entry.body {
                            Body::Rejoin { member, .. } if s.entry.id == id => Some(member),
                            _ => None,
                        })
                    });
                    if let Some(member) = rejoin
                        && self.ghost.lost == Some((member, false))
                    {
                        self.ghost.lost = Some((member, true));
                    }
                }
            }
        }
        Ok(())
    }

    /// The state's identity: everything but the members' input lists,
    /// which their fingerprints stand for, and the trace.
    pub fn fingerprint(&self) -> u128 {
        let hosts: Vec<_> = self
            .hosts
            .iter()
            .map(|h| {
                (
                    h.life.as_ref().map(|l| l.fp),
                    &h.disk,
                    &h.unsynced,
                    &h.heads,
                    h.applied,
                    &h.saved,
                    h.starts,
                )
            })
            .collect();
        hash128(&format!("{:?}", (self.now, hosts, &self.net, &self.ghost)))
    }

    /// Every step possible from this state within `bounds`.
    pub fn events(&self, bounds: &Bounds) -> Vec<Event> {
        let g = &self.ghost;
        let mut out = Vec::new();
        let mut last: Option<String> = None;
        for (i, p) in self.net.iter().enumerate() {
            let form = format!("{p:?}");
            if last.as_ref() == Some(&form) {
                continue;
            }
            last = Some(form);
            out.push(Event::Deliver(i));
            if g.drops < bounds.drops {
                out.push(Event::Drop(i));
            }
            if g.dups < bounds.dups && self.net.len() < bounds.net_cap {
                out.push(Event::Dup(i));
            }
        }
        if g.ticks < bounds.ticks {
            out.push(Event::Tick);
        }
        for (j, (m, _)) in bounds.proposals.iter().enumerate() {
            if !g.proposed.contains(&j) && self.running(*m) && self.full(*m) {
                out.push(Event::Propose(j));
            }
        }
        for (j, m) in bounds.reads.iter().enumerate() {
            if !g.read.contains(&j) && self.running(*m) && self.full(*m) {
                out.push(Event::Read(j));
            }
        }
        let lost_any = g.wipes + g.rollbacks > 0;
        for m in 0..MEMBERS as Member {
            let h = &self.hosts[m as usize];
            if !h.unsynced.is_empty() {
                out.push(Event::Sync(m));
            }
            if !bounds.faulty.contains(&m) {
                continue;
            }
            if self.running(m) {
                if g.crashes < bounds.crashes {
                    out.push(Event::Crash(m));
                }
            } else {
                if h.saved.is_none() && g.copies == 0 && bounds.rollbacks > 0 {
                    out.push(Event::Copy(m));
                } else {
                    out.push(Event::Restart(m));
                }
            }
            if h.saved.is_some() && !lost_any && g.rollbacks < bounds.rollbacks {
                out.push(Event::Rollback(m));
            }
            let crashed = self.ghost.crashed.contains(&m);
            if !lost_any && g.wipes < bounds.wipes && (bounds.crash_then_wipe || !crashed) {
                out.push(Event::Wipe(m));
            }
        }
        out
    }

    /// The state after `event`, or the property it violates.
    pub fn step(&self, event: &Event, bounds: &Bounds) -> Result<State, String> {
        let mut s = self.clone();
        s.cap = bounds.net_cap;
        s.strict = bounds.strict;
        let mut live = Live(Default::default());
        s.trace = Some(Arc::new(Trace {
            event: event.clone(),
            prev: self.trace.clone(),
        }));
        match *event {
            Event::Deliver(i) => {
                let p = s.net.remove(i);
                s.deliver(&mut live, p)?;
            }
            Event::Drop(i) => {
                s.net.remove(i);
                s.ghost.drops += 1;
            }
            Event::Dup(i) => {
                s.net.push(s.net[i].clone());
                s.ghost.dups += 1;
            }
            Event::Tick => {
                s.now += 1;
                s.ghost.ticks += 1;
                for m in 0..MEMBERS as Member {
                    if s.running(m) {
                        s.input(&mut live, m, Input::Tick)?;
                    }
                }
            }
            Event::Propose(j) => {
                let (m, key) = bounds.proposals[j];
                s.ghost.proposed.insert(j);
                s.ghost.versions += 1;
                let key = key.as_bytes().to_vec();
                let expect = s.hosts[m as usize].heads.get(&key).cloned();
                let version = format!("v{j}").into_bytes();
                let life = s.node(&mut live, m).generation().nonce;
                let body = Body::Write {
                    keys: vec![KeyWrite {
                        key,
                        expect,
                        version,
                    }],
                    payload: Vec::new(),
                };
                // The proposal is known before the node acts on it.
                let seq = s.record(&mut live, m, Input::Propose(body));
                s.ghost.proposals.insert(
                    (m, seq),
                    ProposalId {
                        origin: m,
                        life,
                        seq,
                    },
                );
                s.drain(&mut live, m)?;
            }
            Event::Read(j) => {
                let m = bounds.reads[j];
                s.ghost.read.insert(j);
                let began = s.ghost.told_max;
                let rid = s.record(&mut live, m, Input::Read);
                s.ghost.reads.insert((m, rid), began);
                s.drain(&mut live, m)?;
            }
            Event::Sync(m) => s.sync(&mut live, m)?,
            Event::Crash(m) => {
                s.ghost.crashes += 1;
                s.ghost.crashed.insert(m);
                s.crash(&mut live, m);
                if !(bounds.rollbacks > 0 && s.ghost.copies == 0) {
                    s.start(&mut live, m, false)?;
                }
            }
            Event::Restart(m) => s.start(&mut live, m, false)?,
            Event::Copy(m) => {
                s.ghost.copies += 1;
                let h = &mut s.hosts[m as usize];
                h.saved = Some((h.disk.clone(), h.heads.clone(), h.applied));
            }
            Event::Rollback(m) => {
                s.ghost.rollbacks += 1;
                s.crash(&mut live, m);
                let h = &mut s.hosts[m as usize];
                let (disk, heads, applied) = h.saved.clone().expect("a copy");
                h.disk = disk;
                h.heads = heads;
                h.applied = applied;
                s.ghost.lost = Some((m, false));
                s.start(&mut live, m, false)?;
            }
            Event::Wipe(m) => {
                s.ghost.wipes += 1;
                s.crash(&mut live, m);
                let h = &mut s.hosts[m as usize];
                let old = std::mem::take(&mut h.disk);
                h.heads.clear();
                h.applied = 0;
                if s.adapter == Adapter::KeepsLivesOnWipe {
                    h.disk.meta.generation = old.meta.generation;
                    h.disk.meta.lives = old.meta.lives;
                    h.disk.meta.seen = old.meta.seen;
                }
                s.ghost.lost = Some((m, false));
                s.start(&mut live, m, false)?;
            }
        }
        s.settle(live)?;
        Ok(s)
    }
}
