//! Golden scripts for strong mode's members (`testdata/*.txt`).
//!
//! Three members on a simulated network whose messages wait in one queue
//! until a script delivers them, each with a simulated disk (what its
//! `Persist` actions wrote) and, for full replicas, a store of key heads
//! that applies chosen entries as compare-and-sets.
//!
//! Commands: `members A B C [witness=C]`; `start A... [fresh=A]` (a
//! member on its disk; `fresh`: every disk holds a new STRONG table led by
//! A); `write A key:expect:version...` (`-` for no head); `read A`;
//! `deliver` (every queued message, in order; what they cause waits),
//! `deliver A>B`, `settle` (until nothing is queued); `drop A>B`,
//! `hold A>B`, `release A>B`, `dup A>B`; `cut A` or `cut A>B`, `heal`;
//! `tick MS` (every running member, after MS more milliseconds);
//! `run MS` (MS of 10 ms steps, each a tick and the delivery of what was
//! queued; heartbeats and their answers left out of the output);
//! `crash A`, `restart A`, `wipe A` (an empty disk and store),
//! `snapshot A` and `restore A` (a copy of its disk and store put back);
//! `state`; `heads`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::golden::{Harness, check, check_listed, num};

use super::node::{Durable, Node, Standing, Timing};
use super::types::{
    Action, Body, Entry, Generation, Index, KeyWrite, MEMBERS, Member, Msg, Persist, Slot,
};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/strong/testdata")
}

macro_rules! golden_scripts {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                check(&testdata(), $file, &mut Sim::default());
            }
        )*

        #[test]
        fn every_script_has_a_test() {
            check_listed(&testdata(), &[$($file),*]);
        }
    };
}

golden_scripts! {
    uncontended_write => "uncontended_write.txt",
    two_region_race => "two_region_race.txt",
    crash_mid_round => "crash_mid_round.txt",
    old_round_messages => "old_round_messages.txt",
    witness_votes => "witness_votes.txt",
    isolated_and_healed => "isolated_and_healed.txt",
    rolled_back_store => "rolled_back_store.txt",
    linearizable_reads => "linearizable_reads.txt",
}

#[derive(Clone, Default)]
struct Store {
    heads: BTreeMap<Vec<u8>, Vec<u8>>,
    applied: Index,
}

#[derive(Default)]
struct Host {
    node: Option<Node>,
    disk: Durable,
    /// The disk's log, as persisted.
    slots: BTreeMap<Index, Slot>,
    store: Store,
    saved: Option<(Durable, BTreeMap<Index, Slot>, Store)>,
    starts: u64,
}

struct Packet {
    from: Member,
    to: Member,
    generation: Generation,
    msg: Msg,
}

#[derive(Default)]
struct Sim {
    names: Vec<String>,
    witness: Option<Member>,
    hosts: Vec<Host>,
    queue: VecDeque<Packet>,
    held: Vec<Packet>,
    cut: BTreeSet<(Member, Member)>,
    now: u64,
}

impl Sim {
    fn member(&self, name: &str) -> Member {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no member {name}")) as Member
    }

    fn link(&self, s: &str) -> (Member, Member) {
        let (a, b) = s.split_once('>').expect("a link is A>B");
        (self.member(a), self.member(b))
    }

    fn name(&self, m: Member) -> &str {
        &self.names[m as usize]
    }

    fn start(&mut self, m: Member, fresh: bool, out: &mut Vec<String>) {
        let host = &mut self.hosts[m as usize];
        host.starts += 1;
        let mut durable = host.disk.clone();
        durable.slots = host.slots.iter().map(|(i, s)| (*i, s.clone())).collect();
        durable.applied = host.store.applied;
        let nonce = 1000 * (m as u64 + 1) + host.starts;
        let node = Node::new(
            m,
            self.witness,
            Timing::default(),
            durable,
            nonce,
            fresh,
            self.now,
        );
        self.hosts[m as usize].node = Some(node);
        self.drain(m, out);
    }

    /// Carries out member `m`'s actions until it has none.
    fn drain(&mut self, m: Member, out: &mut Vec<String>) {
        loop {
            let Some(node) = self.hosts[m as usize].node.as_mut() else {
                return;
            };
            let actions = node.take_actions();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.carry_out(m, a, out);
            }
        }
    }

    fn carry_out(&mut self, m: Member, action: Action, out: &mut Vec<String>) {
        let who = self.name(m).to_string();
        match action {
            Action::Persist(p) => {
                out.push(format!("{who}: persist {}", self.persist_text(&p)));
                let host = &mut self.hosts[m as usize];
                match p {
                    Persist::Promised(b) => host.disk.promised = b,
                    Persist::Accepted(slots) => host.slots.extend(slots),
                    Persist::Commit(c) => host.disk.commit = c,
                    Persist::Compacted(c) => {
                        host.disk.compacted = c;
                        host.slots = host.slots.split_off(&(c + 1));
                    }
                    Persist::Life {
                        generation,
                        rejoining,
                    } => {
                        host.disk.generation = generation;
                        host.disk.rejoining = rejoining;
                    }
                    Persist::PeerSeen { member, generation } => {
                        host.disk.seen[member as usize] = Some(generation)
                    }
                }
            }
            Action::Send { to, msg } => {
                let text = format!("{who} -> {}: {}", self.name(to), self.msg_text(&msg));
                if self.cut.contains(&(m, to)) {
                    out.push(format!("{text} (lost: cut)"));
                    return;
                }
                out.push(text);
                let generation = self.hosts[m as usize]
                    .node
                    .as_ref()
                    .expect("running")
                    .generation();
                self.queue.push_back(Packet {
                    from: m,
                    to,
                    generation,
                    msg,
                });
            }
            Action::Apply { through } => {
                let host = &mut self.hosts[m as usize];
                let mut applied = Vec::new();
                for i in host.store.applied + 1..=through {
                    let slot = host.slots.get(&i).expect("a chosen entry is on disk");
                    let outcome = apply(&mut host.store, &slot.entry);
                    applied.push(format!("{i} {outcome}"));
                    host.store.applied = i;
                }
                out.push(format!("{who}: apply {}", applied.join(", ")));
                if let Some(node) = host.node.as_mut() {
                    node.applied(through);
                }
            }
            Action::Chosen { seq, index } => out.push(format!("{who}: chosen #{seq} at {index}")),
            Action::Failed { seq, failure } => out.push(format!("{who}: failed #{seq}: {failure}")),
            Action::ReadReady { rid, index } => {
                let host = &self.hosts[m as usize];
                let heads = heads_text(&host.store);
                out.push(format!(
                    "{who}: read r{rid} at {index} (applied {}: {heads})",
                    host.store.applied
                ))
            }
            Action::ReadFailed { rid, failure } => {
                out.push(format!("{who}: read r{rid} failed: {failure}"))
            }
        }
    }

    fn persist_text(&self, p: &Persist) -> String {
        match p {
            Persist::Promised(b) => format!("promised {b}"),
            Persist::Accepted(slots) => {
                let s: Vec<String> = slots
                    .iter()
                    .map(|(i, s)| format!("{i}={}@{}", self.entry_text(&s.entry), s.ballot))
                    .collect();
                format!("accepted {}", s.join(" "))
            }
            Persist::Commit(c) => format!("commit {c}"),
            Persist::Compacted(c) => format!("compacted {c}"),
            Persist::Life {
                generation,
                rejoining,
            } => format!(
                "life {generation}{}",
                if *rejoining { " rejoining" } else { "" }
            ),
            Persist::PeerSeen { member, generation } => {
                format!("seen {} {generation}", self.name(*member))
            }
        }
    }

    fn entry_text(&self, e: &Entry) -> String {
        let origin = self.name(e.id.origin);
        match &e.body {
            Body::Write { keys, .. } => {
                let k: Vec<&str> = keys
                    .iter()
                    .map(|k| std::str::from_utf8(&k.version).unwrap_or("?"))
                    .collect();
                format!("{origin}#{}({})", e.id.seq, k.join(","))
            }
            Body::Rejoin { member, .. } => {
                format!("{origin}#{}(rejoin {})", e.id.seq, self.name(*member))
            }
        }
    }

    fn msg_text(&self, msg: &Msg) -> String {
        let entries = |es: &[Arc<Entry>]| -> String {
            es.iter()
                .map(|e| self.entry_text(e))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match msg {
            Msg::Hello | Msg::Welcome => msg.kind().to_string(),
            Msg::Stale { seen } => format!("stale (seen {seen})"),
            Msg::Probe { ballot } => format!("probe {ballot}"),
            Msg::ProbeReply { ballot, ok } => {
                format!("probe-reply {ballot} {}", if *ok { "yes" } else { "no" })
            }
            Msg::Prepare { ballot, after } => format!("prepare {ballot} after {after}"),
            Msg::Promise {
                ballot,
                commit,
                entries,
                more,
            } => {
                let e: Vec<String> = entries
                    .iter()
                    .map(|(i, s)| format!("{i}={}@{}", self.entry_text(&s.entry), s.ballot))
                    .collect();
                format!(
                    "promise {ballot} commit {commit} [{}]{}",
                    e.join(" "),
                    if *more { " more" } else { "" }
                )
            }
            Msg::Nack { promised } => format!("nack (promised {promised})"),
            Msg::Accept {
                ballot,
                start,
                entries: es,
                commit,
                ping,
                ..
            } => {
                let body = if es.is_empty() {
                    "heartbeat".to_string()
                } else {
                    format!("{start}: {}", entries(es))
                };
                let ping = if *ping > 0 {
                    format!(" ping {ping}")
                } else {
                    String::new()
                };
                format!("accept {ballot} {body} commit {commit}{ping}")
            }
            Msg::Accepted {
                ballot,
                through,
                voter,
                ping,
                gap,
            } => format!(
                "accepted {ballot} through {through}{}{}{}",
                if *voter { "" } else { " (learner)" },
                if *ping > 0 {
                    format!(" ping {ping}")
                } else {
                    String::new()
                },
                if *gap { " gap" } else { "" }
            ),
            Msg::Propose { entry } => format!("propose {}", self.entry_text(entry)),
            Msg::Refused { id, reason } => format!("refused #{} {reason}", id.seq),
            Msg::ReadIndex { rid, confirm } => format!(
                "read-index r{rid}{}",
                if *confirm { " confirm" } else { "" }
            ),
            Msg::ReadAt { rid, ballot, index } => format!("read-at r{rid} {ballot} {index}"),
        }
    }

    fn deliver(&mut self, packets: Vec<Packet>, out: &mut Vec<String>) {
        for p in packets {
            if self.hosts[p.to as usize].node.is_none() {
                out.push(format!(
                    "{} -> {}: {} (lost: down)",
                    self.name(p.from),
                    self.name(p.to),
                    p.msg.kind()
                ));
                continue;
            }
            if self.cut.contains(&(p.from, p.to)) {
                continue;
            }
            let now = self.now;
            let node = self.hosts[p.to as usize].node.as_mut().expect("running");
            node.receive(p.from, p.generation, p.msg, now);
            self.drain(p.to, out);
        }
    }

    fn take_link(&mut self, link: (Member, Member)) -> Vec<Packet> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|p| (p.from, p.to) == link);
        self.queue = kept.into();
        taken
    }
}

/// Applies a chosen entry as every full replica does: a compare-and-set on
/// each key's head.
fn apply(store: &mut Store, entry: &Entry) -> String {
    match &entry.body {
        Body::Write { keys, .. } => {
            if keys
                .iter()
                .all(|k| store.heads.get(&k.key) == k.expect.as_ref())
            {
                for k in keys {
                    store.heads.insert(k.key.clone(), k.version.clone());
                }
                "ok".into()
            } else {
                "stale (not applied)".into()
            }
        }
        Body::Rejoin { .. } => "rejoin".into(),
    }
}

fn heads_text(store: &Store) -> String {
    let h: Vec<String> = store
        .heads
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    if h.is_empty() {
        "empty".into()
    } else {
        h.join(" ")
    }
}

impl Harness for Sim {
    fn command(&mut self, line: &str, out: &mut Vec<String>) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let args = &words[1..];
        match words[0] {
            "members" => {
                for a in args {
                    if let Some(w) = a.strip_prefix("witness=") {
                        self.witness = Some(self.member(w));
                    } else {
                        self.names.push(a.to_string());
                        self.hosts.push(Host::default());
                    }
                }
                assert_eq!(self.names.len(), MEMBERS, "three members");
            }
            "start" => {
                let fresh = args
                    .iter()
                    .find_map(|a| a.strip_prefix("fresh="))
                    .map(|l| self.member(l));
                if let Some(leader) = fresh {
                    for h in &mut self.hosts {
                        h.disk = Durable::fresh(leader);
                    }
                }
                for a in args.iter().filter(|a| !a.contains('=')) {
                    let m = self.member(a);
                    self.start(m, fresh.is_some(), out);
                }
            }
            "write" => {
                let m = self.member(args[0]);
                let keys = args[1..]
                    .iter()
                    .map(|w| {
                        let p: Vec<&str> = w.split(':').collect();
                        KeyWrite {
                            key: p[0].as_bytes().to_vec(),
                            expect: (p[1] != "-").then(|| p[1].as_bytes().to_vec()),
                            version: p[2].as_bytes().to_vec(),
                        }
                    })
                    .collect();
                let now = self.now;
                let node = self.hosts[m as usize].node.as_mut().expect("running");
                let seq = node.propose(
                    Body::Write {
                        keys,
                        payload: Vec::new(),
                    },
                    now,
                );
                out.push(format!("{}: write #{seq}", args[0]));
                self.drain(m, out);
            }
            "read" => {
                let m = self.member(args[0]);
                let now = self.now;
                let node = self.hosts[m as usize].node.as_mut().expect("running");
                let rid = node.read(now);
                out.push(format!("{}: read r{rid}", args[0]));
                self.drain(m, out);
            }
            "deliver" => {
                let packets = match args.first() {
                    Some(l) => {
                        let link = self.link(l);
                        self.take_link(link)
                    }
                    None => std::mem::take(&mut self.queue).into(),
                };
                self.deliver(packets, out);
            }
            "settle" => {
                for _ in 0..100 {
                    if self.queue.is_empty() {
                        return;
                    }
                    let packets = std::mem::take(&mut self.queue).into();
                    self.deliver(packets, out);
                }
                panic!("settle: still busy after 100 rounds");
            }
            "drop" => {
                let link = self.link(args[0]);
                for p in self.take_link(link) {
                    out.push(format!(
                        "dropped {} -> {}: {}",
                        self.name(p.from),
                        self.name(p.to),
                        p.msg.kind()
                    ));
                }
            }
            "hold" => {
                let link = self.link(args[0]);
                let taken = self.take_link(link);
                out.push(format!("holding {} messages", taken.len()));
                self.held.extend(taken);
            }
            "release" => {
                let link = self.link(args[0]);
                let (back, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                    .into_iter()
                    .partition(|p| (p.from, p.to) == link);
                self.held = kept;
                out.push(format!("released {} messages", back.len()));
                self.queue.extend(back);
            }
            "dup" => {
                let link = self.link(args[0]);
                let copies: Vec<Packet> = self
                    .queue
                    .iter()
                    .filter(|p| (p.from, p.to) == link)
                    .map(|p| Packet {
                        from: p.from,
                        to: p.to,
                        generation: p.generation,
                        msg: p.msg.clone(),
                    })
                    .collect();
                out.push(format!("duplicated {} messages", copies.len()));
                self.queue.extend(copies);
            }
            "cut" => {
                if args[0].contains('>') {
                    self.cut.insert(self.link(args[0]));
                } else {
                    let m = self.member(args[0]);
                    for o in 0..MEMBERS as Member {
                        if o != m {
                            self.cut.insert((m, o));
                            self.cut.insert((o, m));
                        }
                    }
                }
            }
            "heal" => self.cut.clear(),
            "tick" => {
                self.now += num(args[0].trim_end_matches("ms"));
                for m in 0..MEMBERS as Member {
                    let now = self.now;
                    if let Some(node) = self.hosts[m as usize].node.as_mut() {
                        node.tick(now);
                        self.drain(m, out);
                    }
                }
            }
            "run" => {
                // Time passes in 10 ms steps, every queued message arriving
                // within a step; heartbeats and their answers are not shown.
                let until = self.now + num(args[0].trim_end_matches("ms"));
                let mut all = Vec::new();
                while self.now < until {
                    self.now += 10;
                    for m in 0..MEMBERS as Member {
                        let now = self.now;
                        if let Some(node) = self.hosts[m as usize].node.as_mut() {
                            node.tick(now);
                            self.drain(m, &mut all);
                        }
                    }
                    let packets = std::mem::take(&mut self.queue).into();
                    self.deliver(packets, &mut all);
                }
                out.extend(all.into_iter().filter(|l| {
                    !(l.contains("heartbeat") || l.contains(": accepted ") && !l.contains("gap"))
                }));
            }
            "crash" => {
                let m = self.member(args[0]);
                // What it sent is on the wire already and still arrives.
                self.hosts[m as usize].node = None;
            }
            "restart" => {
                let m = self.member(args[0]);
                self.start(m, false, out);
            }
            "wipe" => {
                let m = self.member(args[0]);
                let host = &mut self.hosts[m as usize];
                host.disk = Durable::default();
                host.slots.clear();
                host.store = Store::default();
            }
            "snapshot" => {
                let m = self.member(args[0]) as usize;
                let h = &mut self.hosts[m];
                h.saved = Some((h.disk.clone(), h.slots.clone(), h.store.clone()));
            }
            "restore" => {
                let m = self.member(args[0]) as usize;
                let h = &mut self.hosts[m];
                let (disk, slots, store) = h.saved.clone().expect("a snapshot first");
                h.disk = disk;
                h.slots = slots;
                h.store = store;
            }
            "state" => {
                for m in 0..MEMBERS as Member {
                    let name = self.name(m);
                    let Some(n) = &self.hosts[m as usize].node else {
                        out.push(format!("{name}: down"));
                        continue;
                    };
                    let standing = match n.standing() {
                        Standing::Voter => "voter",
                        Standing::Unverified { .. } => "unverified",
                        Standing::Rejoining { .. } => "rejoining",
                    };
                    out.push(format!(
                        "{name}: {} promised {} commit {} last {} {standing} {}",
                        n.role_name(),
                        n.promised(),
                        n.commit(),
                        n.last(),
                        n.generation()
                    ));
                }
            }
            "heads" => {
                for m in 0..MEMBERS as Member {
                    if Some(m) == self.witness {
                        continue;
                    }
                    let store = &self.hosts[m as usize].store;
                    out.push(format!(
                        "{}: applied {}: {}",
                        self.name(m),
                        store.applied,
                        heads_text(store)
                    ));
                }
            }
            other => panic!("unknown command {other:?}"),
        }
    }
}
