//! Golden scripts for strong mode's members (`testdata/*.txt`).
//!
//! Three members on a simulated network whose messages wait in one queue
//! until a script delivers them, each with a simulated disk (what its
//! `Persist` actions wrote) and, for full replicas, a store of key heads
//! that applies chosen entries as compare-and-sets.
//!
//! Commands: `members A B C [witness=C]`; `start A... [fresh=A]` (a
//! member on its disk; `fresh`: the disks of those started hold a new
//! STRONG table led by A); `write A key:expect:version...` (`-` for no head); `read A`;
//! `deliver` (every queued message, in order; what they cause waits),
//! `deliver A>B`, `settle` (until nothing is queued); `drop A>B`,
//! `hold A>B`, `release A>B`, `dup A>B`; `cut A` or `cut A>B`, `heal`;
//! `tick MS` (every running member, after MS more milliseconds);
//! `run MS` (MS of 10 ms steps, each a tick and the delivery of what was
//! queued; heartbeats and their answers left out of the output);
//! `slow-disk A` (A's acceptances reach its disk only at `sync A`; its
//! `Accept`s leave before them, and everything else waits for them),
//! `crash A`, `restart A`, `wipe A` (an empty disk and store),
//! `snapshot A` and `restore A` (a copy of its disk and store put back);
//! `writes A N key` (N writes of `key` from A, each chosen before the
//! next, output left out: enough to compact the log); `state`; `heads`.
//!
//! Broken variants, which show an invariant of the members firing:
//! `lose-acceptances A` (A's log loses the entries past its commit while
//! A still counts them its own: a state no input leads to, made through a
//! test-only hook), and `panics COMMAND...` (runs the command, which must
//! break an invariant, and shows the one that fired).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::golden::{Harness, check, check_listed, invariant, num};

use super::node::{Durable, Standing};
use super::types::{Action, Ballot, Body, Entry, Index, KeyWrite, MEMBERS, Member, Msg, Persist};
use super::world::{Effect, Packet, Store, World};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/strong/testdata")
}

macro_rules! golden_scripts {
    ($($(#[$attr:meta])* $name:ident => $file:literal,)*) => {
        $(
            $(#[$attr])*
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
    restarted_before_it_hears => "restarted_before_it_hears.txt",
    wiped_after_compaction => "wiped_after_compaction.txt",
    leader_crashes_before_its_disk => "leader_crashes_before_its_disk.txt",
    late_peer => "late_peer.txt",
    // The invariants are debug assertions: a release build checks none.
    #[cfg(debug_assertions)]
    lost_acceptances => "lost_acceptances.txt",
}

#[derive(Default)]
struct Sim {
    names: Vec<String>,
    world: World,
    held: Vec<Packet>,
    /// Members whose acceptances wait for `sync`.
    slow: std::collections::BTreeSet<Member>,
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

    /// Carries out member `m`'s actions until it has none, saying each.
    fn drain(&mut self, m: Member, out: &mut Vec<String>) {
        loop {
            let actions = self.world.take_actions(m);
            if actions.is_empty() {
                // What it accepted reaches its disk once its actions are
                // carried out (its `Accept`s left first).
                if self.slow.contains(&m) || !self.sync(m, out) {
                    return;
                }
                continue;
            }
            for a in actions {
                let text = self.action_text(m, &a);
                match self.world.carry_out(m, &a) {
                    Effect::None => out.extend(text),
                    Effect::Lost => out.extend(text.map(|t| format!("{t} (lost: cut)"))),
                    Effect::Applied(applied) if applied.is_empty() => {}
                    Effect::Applied(applied) => {
                        let a: Vec<String> =
                            applied.iter().map(|(i, _, o)| format!("{i} {o}")).collect();
                        out.push(format!("{}: apply {}", self.name(m), a.join(", ")));
                    }
                    Effect::SentSnapshot {
                        to,
                        through,
                        part,
                        last,
                        lost,
                    } => out.push(format!(
                        "{} -> {}: snapshot through {through} part {part}{}{}",
                        self.name(m),
                        self.name(to),
                        if last { " last" } else { "" },
                        if lost { " (lost: cut)" } else { "" }
                    )),
                    Effect::Installed(through, heads) => {
                        let h: Vec<String> = heads
                            .iter()
                            .map(|(k, v)| {
                                format!(
                                    "{}={}",
                                    String::from_utf8_lossy(k),
                                    String::from_utf8_lossy(v)
                                )
                            })
                            .collect();
                        out.push(format!(
                            "{}: install snapshot through {through} ({})",
                            self.name(m),
                            if h.is_empty() {
                                "no items".to_string()
                            } else {
                                h.join(" ")
                            }
                        ));
                    }
                }
            }
        }
    }

    /// Puts `m`'s unsynced acceptances on its disk, saying so; false if it
    /// had none.
    fn sync(&mut self, m: Member, out: &mut Vec<String>) -> bool {
        let unsynced = &self.world.hosts[m as usize].unsynced;
        let Some(through) = unsynced.iter().map(|(i, _)| *i).max() else {
            return false;
        };
        out.push(format!("{}: synced through {through}", self.name(m)));
        self.world.sync(m);
        true
    }

    fn action_text(&self, m: Member, action: &Action) -> Option<String> {
        let who = self.name(m);
        Some(match action {
            Action::Persist(p) => format!("{who}: persist {}", self.persist_text(p)),
            Action::Send { to, msg } => {
                format!("{who} -> {}: {}", self.name(*to), self.msg_text(msg))
            }
            Action::Apply { .. } => return None,
            Action::Chosen { seq, index } => format!("{who}: chosen #{seq} at {index}"),
            Action::Failed { seq, failure } => format!("{who}: failed #{seq}: {failure}"),
            Action::ReadReady { rid, index } => {
                let store = &self.world.hosts[m as usize].store;
                format!(
                    "{who}: read r{} at {index} (applied {}: {})",
                    short(*rid),
                    store.applied,
                    heads_text(store)
                )
            }
            Action::ReadFailed { rid, failure } => {
                format!("{who}: read r{} failed: {failure}", short(*rid))
            }
            Action::SendSnapshot { .. } | Action::InstallSnapshot { .. } => return None,
            Action::StageSnapshot { through, part, .. } => {
                format!("{who}: stage snapshot through {through} part {part}")
            }
        })
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
                ..
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
        match msg {
            Msg::Hello { lives } => {
                let lives: Vec<String> = lives.iter().map(|g| g.to_string()).collect();
                if lives.is_empty() {
                    "hello, its first life".to_string()
                } else {
                    format!("hello after {}", lives.join(" "))
                }
            }
            Msg::Welcome { .. } => msg.kind().to_string(),
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
                entries,
                commit,
                ping,
                held,
                ..
            } => self.accept_text(*ballot, *start, entries, (*commit, *held), *ping),
            Msg::Accepted {
                ballot,
                through,
                voter,
                ping,
                gap,
            } => format!(
                "accepted {ballot} through {through}{}{}{}",
                if *voter { "" } else { " (learner)" },
                ping_text(*ping),
                if *gap { " gap" } else { "" }
            ),
            Msg::Propose { entry, ballot } => {
                format!("propose {} to {ballot}", self.entry_text(entry))
            }
            Msg::Refused { id, reason } => format!("refused #{} {reason}", id.seq),
            Msg::ReadIndex { rid, confirm } => format!(
                "read-index r{}{}",
                short(*rid),
                if *confirm { " confirm" } else { "" }
            ),
            Msg::ReadAt { rid, ballot, index } => {
                format!("read-at r{} {ballot} {index}", short(*rid))
            }
            Msg::Snapshot {
                ballot,
                through,
                part,
                last,
                ..
            } => format!(
                "snapshot {ballot} through {through} part {part}{}",
                if *last { " last" } else { "" }
            ),
            Msg::SnapshotAck {
                ballot,
                through,
                next,
            } => format!("snapshot-ack {ballot} through {through} next {next}"),
            Msg::Held {
                ballot,
                held,
                commit,
            } => format!("held {ballot} through {held} commit {commit}"),
        }
    }

    /// An `Accept`: its entries, or `heartbeat` when it carries none;
    /// `held` is shown only where it differs from `commit`.
    fn accept_text(
        &self,
        ballot: Ballot,
        start: Index,
        entries: &[Arc<Entry>],
        (commit, held): (Index, Index),
        ping: u64,
    ) -> String {
        let held = if held != commit {
            format!(" held {held}")
        } else {
            String::new()
        };
        let body = if entries.is_empty() {
            "heartbeat".to_string()
        } else {
            let es: Vec<String> = entries.iter().map(|e| self.entry_text(e)).collect();
            format!("{start}: {}", es.join(" "))
        };
        format!(
            "accept {ballot} {body} commit {commit}{held}{}",
            ping_text(ping)
        )
    }

    fn deliver(&mut self, packets: Vec<Packet>, out: &mut Vec<String>) {
        for p in packets {
            let (from, to, kind) = (p.from, p.to, p.msg.kind());
            if self.world.deliver(p) {
                self.drain(to, out);
            } else {
                out.push(format!(
                    "{} -> {}: {kind} (lost: down)",
                    self.name(from),
                    self.name(to)
                ));
            }
        }
    }
}

/// A ping's number, when the message carries one.
fn ping_text(ping: u64) -> String {
    if ping > 0 {
        format!(" ping {ping}")
    } else {
        String::new()
    }
}

/// A read's number within its member's life.
fn short(rid: u64) -> u64 {
    rid & 0xFFFF_FFFF
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
            "members" => self.members(args),
            "start" => self.start(args, out),
            "write" => self.write(args, out),
            "writes" => self.writes(args, out),
            "read" => self.read(args, out),
            "deliver" | "settle" | "drop" | "hold" | "release" | "dup" | "cut" | "heal" => {
                self.network(words[0], args, out)
            }
            "tick" => self.tick(args, out),
            "run" => self.run(args, out),
            "slow-disk" | "sync" | "crash" | "restart" | "wipe" | "snapshot" | "restore"
            | "lose-acceptances" => self.lifecycle(words[0], args, out),
            "state" => self.state(out),
            "heads" => self.heads(out),
            "panics" => self.panics(&words[1..].join(" "), out),
            other => panic!("unknown command {other:?}"),
        }
    }
}

/// The script's commands, one method per command or kind of command, so
/// that the list of commands in [`Harness::command`] reads as the module
/// doc's.
impl Sim {
    /// `members A B C [witness=C]`.
    fn members(&mut self, args: &[&str]) {
        for a in args {
            if let Some(w) = a.strip_prefix("witness=") {
                self.world.witness = Some(self.member(w));
            } else {
                self.names.push(a.to_string());
            }
        }
        assert_eq!(self.names.len(), MEMBERS, "three members");
        self.world = World::new(self.world.witness);
    }

    /// `start A... [fresh=A]`.
    fn start(&mut self, args: &[&str], out: &mut Vec<String>) {
        let fresh = args
            .iter()
            .find_map(|a| a.strip_prefix("fresh="))
            .map(|l| self.member(l));
        for a in args.iter().filter(|a| !a.contains('=')) {
            let m = self.member(a);
            if let Some(leader) = fresh {
                self.world.hosts[m as usize].disk = Durable::fresh(leader);
            }
            self.world.start(m, fresh.is_some());
            self.drain(m, out);
        }
    }

    /// `write A key:expect:version...`.
    fn write(&mut self, args: &[&str], out: &mut Vec<String>) {
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
        let now = self.world.now;
        let node = self.world.hosts[m as usize].node.as_mut().expect("running");
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

    /// `writes A N key`: each write chosen before the next, and only their
    /// count shown.
    fn writes(&mut self, args: &[&str], out: &mut Vec<String>) {
        let m = self.member(args[0]);
        let n = num(args[1]);
        let key = args[2].as_bytes().to_vec();
        let mut quiet = Vec::new();
        for _ in 0..n {
            let store = &self.world.hosts[m as usize].store;
            let expect = store.heads.get(&key).cloned();
            let version = format!("w{}", store.applied + 1).into_bytes();
            let now = self.world.now;
            let node = self.world.hosts[m as usize].node.as_mut().expect("running");
            node.propose(
                Body::Write {
                    keys: vec![KeyWrite {
                        key: key.clone(),
                        expect,
                        version,
                    }],
                    payload: Vec::new(),
                },
                now,
            );
            self.drain(m, &mut quiet);
            for _ in 0..100 {
                if self.world.queue.is_empty() {
                    break;
                }
                let packets = std::mem::take(&mut self.world.queue).into();
                self.deliver(packets, &mut quiet);
            }
        }
        out.push(format!("{}: {n} writes", args[0]));
    }

    /// `read A`.
    fn read(&mut self, args: &[&str], out: &mut Vec<String>) {
        let m = self.member(args[0]);
        let now = self.world.now;
        let node = self.world.hosts[m as usize].node.as_mut().expect("running");
        let rid = node.read(now);
        out.push(format!("{}: read r{}", args[0], short(rid)));
        self.drain(m, out);
    }

    /// What the network does to queued messages: `deliver [A>B]`,
    /// `settle`, `drop A>B`, `hold A>B`, `release A>B`, `dup A>B`,
    /// `cut A` or `cut A>B`, `heal`.
    fn network(&mut self, command: &str, args: &[&str], out: &mut Vec<String>) {
        match command {
            "deliver" => {
                let packets = match args.first() {
                    Some(l) => {
                        let link = self.link(l);
                        self.world.take_link(link)
                    }
                    None => std::mem::take(&mut self.world.queue).into(),
                };
                self.deliver(packets, out);
            }
            "settle" => {
                for _ in 0..100 {
                    if self.world.queue.is_empty() {
                        return;
                    }
                    let packets = std::mem::take(&mut self.world.queue).into();
                    self.deliver(packets, out);
                }
                panic!("settle: still busy after 100 rounds");
            }
            "drop" => {
                let link = self.link(args[0]);
                for p in self.world.take_link(link) {
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
                let taken = self.world.take_link(link);
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
                self.world.queue.extend(back);
            }
            "dup" => {
                let link = self.link(args[0]);
                let copies: Vec<Packet> = self
                    .world
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
                self.world.queue.extend(copies);
            }
            "cut" => {
                if args[0].contains('>') {
                    self.world.cut.insert(self.link(args[0]));
                } else {
                    let m = self.member(args[0]);
                    for o in 0..MEMBERS as Member {
                        if o != m {
                            self.world.cut.insert((m, o));
                            self.world.cut.insert((o, m));
                        }
                    }
                }
            }
            "heal" => self.world.cut.clear(),
            other => unreachable!("{other:?} is not a network command"),
        }
    }

    /// `tick MS`: every running member, after MS more milliseconds.
    fn tick(&mut self, args: &[&str], out: &mut Vec<String>) {
        self.world.now += num(args[0].trim_end_matches("ms"));
        for m in 0..MEMBERS as Member {
            let now = self.world.now;
            if let Some(node) = self.world.hosts[m as usize].node.as_mut() {
                node.tick(now);
                self.drain(m, out);
            }
        }
    }

    /// `run MS`: time passes in 10 ms steps, every queued message arriving
    /// within a step; heartbeats and their answers are not shown.
    fn run(&mut self, args: &[&str], out: &mut Vec<String>) {
        let until = self.world.now + num(args[0].trim_end_matches("ms"));
        let mut all = Vec::new();
        while self.world.now < until {
            self.world.now += 10;
            for m in 0..MEMBERS as Member {
                let now = self.world.now;
                if let Some(node) = self.world.hosts[m as usize].node.as_mut() {
                    node.tick(now);
                    self.drain(m, &mut all);
                }
            }
            let packets = std::mem::take(&mut self.world.queue).into();
            self.deliver(packets, &mut all);
        }
        out.extend(all.into_iter().filter(|l| {
            !(l.contains("heartbeat") || l.contains(": accepted ") && !l.contains("gap"))
        }));
    }

    /// What befalls a member and its disk: `slow-disk A`, `sync A`,
    /// `crash A`, `restart A`, `wipe A`, `snapshot A`, `restore A`,
    /// `lose-acceptances A`.
    fn lifecycle(&mut self, command: &str, args: &[&str], out: &mut Vec<String>) {
        let m = self.member(args[0]);
        match command {
            "slow-disk" => {
                self.slow.insert(m);
            }
            "sync" => {
                self.slow.remove(&m);
                self.drain(m, out);
            }
            "crash" => {
                // What it sent is on the wire already and still arrives;
                // what it had not synced is lost.
                self.slow.remove(&m);
                self.world.crash(m);
            }
            "restart" => {
                self.world.start(m, false);
                self.drain(m, out);
            }
            "wipe" => self.world.wipe(m),
            "snapshot" => self.world.snapshot(m),
            "restore" => self.world.restore(m),
            "lose-acceptances" => self.world.hosts[m as usize]
                .node
                .as_mut()
                .expect("running")
                .lose_acceptances(),
            other => unreachable!("{other:?} is not a member's lifecycle command"),
        }
    }

    /// `panics COMMAND...`: runs the command, which must break one of the
    /// members' invariants, and shows what it did up to the invariant that
    /// fired.
    fn panics(&mut self, command: &str, out: &mut Vec<String>) {
        let fired = invariant(|| {
            self.command(command, out);
            Ok(())
        });
        out.push(fired.err().unwrap_or_else(|| "no invariant fired".into()));
    }

    /// `state`: each member's role, promise, positions, standing and life.
    fn state(&self, out: &mut Vec<String>) {
        for m in 0..MEMBERS as Member {
            let name = self.name(m);
            let Some(n) = &self.world.hosts[m as usize].node else {
                out.push(format!("{name}: down"));
                continue;
            };
            let standing = match n.standing() {
                Standing::Voter => "voter",
                Standing::Unverified { .. } => "unverified",
                Standing::Rejoining { .. } => "rejoining",
            };
            let compacted = match n.compacted() {
                0 => String::new(),
                c => format!(" compacted {c}"),
            };
            out.push(format!(
                "{name}: {} promised {} commit {} last {} {standing} {}{compacted}",
                n.role_name(),
                n.promised(),
                n.commit(),
                n.last(),
                n.generation()
            ));
        }
    }

    /// `heads`: each full replica's store.
    fn heads(&self, out: &mut Vec<String>) {
        for m in 0..MEMBERS as Member {
            if Some(m) == self.world.witness {
                continue;
            }
            let store = &self.world.hosts[m as usize].store;
            out.push(format!(
                "{}: applied {}: {}",
                self.name(m),
                store.applied,
                heads_text(store)
            ));
        }
    }
}
