//! A simulated network and disks for strong mode's tests: members whose
//! messages wait in one queue, each with a disk (what its `Persist`
//! actions wrote) and, for full replicas, a store of key heads that applies
//! chosen entries as compare-and-sets. The golden scripts print what
//! happens in it; the chaos test checks it against the safety properties.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::node::{Durable, Node, Timing};
use super::types::{Action, Body, Entry, Generation, Index, MEMBERS, Member, Msg, Persist, Slot};

#[derive(Clone, Default)]
pub(super) struct Store {
    pub(super) heads: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(super) applied: Index,
}

#[derive(Default)]
pub(super) struct Host {
    pub(super) node: Option<Node>,
    pub(super) disk: Durable,
    /// The disk's log, as persisted.
    pub(super) slots: BTreeMap<Index, Slot>,
    /// Acceptances written but not yet synced: as the region's effects
    /// task does, `Accept`s leave before them (a leader's parallel append),
    /// and any other action waits until they are on the disk. A crash
    /// loses them.
    pub(super) unsynced: Vec<(Index, Slot)>,
    pub(super) store: Store,
    pub(super) saved: Option<(Durable, BTreeMap<Index, Slot>, Store)>,
    pub(super) starts: u64,
    /// The parts of a snapshot being received, in memory: a restart loses
    /// them, and the member starts the snapshot over.
    pub(super) staged: Vec<Vec<u8>>,
    /// The snapshots being sent, by member: position and parts.
    pub(super) sending: BTreeMap<Member, (Index, Vec<Vec<u8>>)>,
}

/// Keys per part of a snapshot: small, so a snapshot of the few keys the
/// scripts and chaos runs write still comes in several parts.
const KEYS_PER_PART: usize = 2;

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// A part of a snapshot: key and head pairs.
fn encode_part(heads: &[(&Vec<u8>, &Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in heads {
        put(&mut out, k);
        put(&mut out, v);
    }
    out
}

pub(super) fn decode_part(mut b: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let take = |b: &mut &[u8]| {
        let n = u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as usize;
        let v = b[4..4 + n].to_vec();
        *b = &b[4 + n..];
        v
    };
    let mut out = Vec::new();
    while !b.is_empty() {
        let k = take(&mut b);
        let v = take(&mut b);
        out.push((k, v));
    }
    out
}

pub(super) struct Packet {
    pub(super) from: Member,
    pub(super) to: Member,
    pub(super) generation: Generation,
    pub(super) msg: Msg,
}

/// What applying one chosen entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    Ok,
    Stale,
    Rejoin,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Applied::Ok => "ok",
            Applied::Stale => "stale (not applied)",
            Applied::Rejoin => "rejoin",
        })
    }
}

/// What carrying out an action did, beyond the action itself.
pub(super) enum Effect {
    None,
    /// A message lost because its link is cut.
    Lost,
    /// The entries applied, each with its outcome.
    Applied(Vec<(Index, std::sync::Arc<Entry>, Applied)>),
    /// A part of a snapshot sent (lost when its link is cut).
    SentSnapshot {
        to: Member,
        through: Index,
        part: u32,
        last: bool,
        lost: bool,
    },
    /// A snapshot installed: its position and the heads it holds.
    Installed(Index, BTreeMap<Vec<u8>, Vec<u8>>),
}

#[derive(Default)]
pub(super) struct World {
    pub(super) witness: Option<Member>,
    pub(super) hosts: Vec<Host>,
    pub(super) queue: VecDeque<Packet>,
    pub(super) cut: BTreeSet<(Member, Member)>,
    pub(super) now: u64,
    pub(super) timing: Timing,
}

impl World {
    pub(super) fn new(witness: Option<Member>) -> Self {
        World {
            witness,
            hosts: (0..MEMBERS).map(|_| Host::default()).collect(),
            ..Default::default()
        }
    }

    /// Starts member `m` on what its disk holds.
    pub(super) fn start(&mut self, m: Member, fresh: bool) {
        let host = &mut self.hosts[m as usize];
        host.starts += 1;
        host.staged.clear();
        host.sending.clear();
        let mut durable = host.disk.clone();
        durable.slots = host.slots.iter().map(|(i, s)| (*i, s.clone())).collect();
        durable.applied = host.store.applied;
        let nonce = 1000 * (m as u64 + 1) + host.starts;
        host.node = Some(Node::new(
            m,
            self.witness,
            self.timing.clone(),
            durable,
            nonce,
            fresh,
            self.now,
        ));
    }

    pub(super) fn node(&mut self, m: Member) -> Option<&mut Node> {
        self.hosts[m as usize].node.as_mut()
    }

    pub(super) fn take_actions(&mut self, m: Member) -> Vec<Action> {
        self.node(m).map(Node::take_actions).unwrap_or_default()
    }

    /// Puts member `m`'s unsynced acceptances on its disk, and tells its
    /// member so.
    pub(super) fn sync(&mut self, m: Member) {
        let host = &mut self.hosts[m as usize];
        let synced = std::mem::take(&mut host.unsynced);
        let newest = synced.iter().map(|(i, s)| (s.ballot, *i)).max();
        host.slots.extend(synced);
        if let (Some((ballot, through)), Some(node)) = (newest, host.node.as_mut()) {
            node.persisted(ballot, through);
        }
    }

    /// Member `m` stops: what it had not synced is lost.
    pub(super) fn crash(&mut self, m: Member) {
        let host = &mut self.hosts[m as usize];
        host.node = None;
        host.unsynced.clear();
    }

    pub(super) fn carry_out(&mut self, m: Member, action: &Action) -> Effect {
        let early = match action {
            Action::Persist(Persist::Accepted(_)) => true,
            Action::Send { msg, .. } => msg.leaves_early(m),
            _ => false,
        };
        if !early {
            self.sync(m);
        }
        match action {
            Action::Persist(p) => {
                self.persist(m, p);
                Effect::None
            }
            Action::Send { to, msg } => {
                if self.cut.contains(&(m, *to)) {
                    return Effect::Lost;
                }
                let generation = self.hosts[m as usize]
                    .node
                    .as_ref()
                    .expect("running")
                    .generation();
                self.queue.push_back(Packet {
                    from: m,
                    to: *to,
                    generation,
                    msg: msg.clone(),
                });
                Effect::None
            }
            Action::Apply { through } => {
                let host = &mut self.hosts[m as usize];
                let mut applied = Vec::new();
                for i in host.store.applied + 1..=*through {
                    let slot = host.slots.get(&i).expect("a chosen entry is on disk");
                    let outcome = apply(&mut host.store, &slot.entry);
                    applied.push((i, slot.entry.clone(), outcome));
                    host.store.applied = i;
                }
                if let Some(node) = host.node.as_mut() {
                    node.applied(*through);
                }
                Effect::Applied(applied)
            }
            Action::SendSnapshot {
                to,
                ballot,
                through,
                part,
                at_least,
            } => self.send_snapshot(m, *to, *ballot, *through, *part, *at_least),
            Action::StageSnapshot { part, data, .. } => {
                let host = &mut self.hosts[m as usize];
                if *part == 0 {
                    host.staged.clear();
                }
                host.staged.push(data.clone());
                Effect::None
            }
            Action::InstallSnapshot { through } => self.install_snapshot(m, *through),
            _ => Effect::None,
        }
    }

    /// Writes what member `m` asked to persist on its disk; acceptances
    /// wait among its unsynced ones for [`World::sync`].
    fn persist(&mut self, m: Member, p: &Persist) {
        let host = &mut self.hosts[m as usize];
        match p {
            Persist::Promised(b) => host.disk.promised = *b,
            Persist::Accepted(slots) => host.unsynced.extend(slots.iter().cloned()),
            Persist::Commit(c) => host.disk.commit = *c,
            Persist::Compacted(c) => {
                host.disk.compacted = *c;
                host.slots = host.slots.split_off(&(c + 1));
            }
            Persist::Life {
                generation,
                rejoining,
                lives,
            } => {
                host.disk.generation = *generation;
                host.disk.rejoining = *rejoining;
                host.disk.lives = lives.clone();
            }
            Persist::PeerSeen { member, generation } => {
                host.disk.seen[*member as usize] = Some(*generation)
            }
        }
    }

    /// Member `m` installs the snapshot it staged, taken at `through`:
    /// a full replica's store becomes its heads, and the log up to it
    /// goes.
    fn install_snapshot(&mut self, m: Member, through: Index) -> Effect {
        let full = self.witness != Some(m);
        let host = &mut self.hosts[m as usize];
        let heads: BTreeMap<Vec<u8>, Vec<u8>> = std::mem::take(&mut host.staged)
            .iter()
            .flat_map(|p| decode_part(p))
            .collect();
        if full {
            host.store = Store {
                heads: heads.clone(),
                applied: through,
            };
        }
        host.disk.commit = host.disk.commit.max(through);
        host.disk.compacted = host.disk.compacted.max(through);
        host.slots = host.slots.split_off(&(through + 1));
        Effect::Installed(through, heads)
    }

    /// Sends part `part` of member `m`'s snapshot for `to`: the one it
    /// holds at `through`, or a new one of its store as it stands (then
    /// from part 0).
    fn send_snapshot(
        &mut self,
        m: Member,
        to: Member,
        ballot: super::types::Ballot,
        through: Option<Index>,
        part: u32,
        at_least: Index,
    ) -> Effect {
        let host = &mut self.hosts[m as usize];
        let cached = host
            .sending
            .get(&to)
            .filter(|(t, parts)| Some(*t) == through && (part as usize) < parts.len());
        let (through, part) = match cached {
            Some((t, _)) => (*t, part),
            None => {
                let store = &host.store;
                assert!(store.applied >= at_least, "a snapshot behind the log");
                let heads: Vec<(&Vec<u8>, &Vec<u8>)> = store.heads.iter().collect();
                let mut parts: Vec<Vec<u8>> =
                    heads.chunks(KEYS_PER_PART).map(encode_part).collect();
                if parts.is_empty() {
                    parts.push(Vec::new());
                }
                host.sending.insert(to, (store.applied, parts));
                (store.applied, 0)
            }
        };
        let (_, parts) = &host.sending[&to];
        let last = part as usize + 1 == parts.len();
        let msg = Msg::Snapshot {
            ballot,
            through,
            part,
            last,
            data: parts[part as usize].clone(),
        };
        let lost = matches!(self.carry_out(m, &Action::Send { to, msg }), Effect::Lost);
        Effect::SentSnapshot {
            to,
            through,
            part,
            last,
            lost,
        }
    }

    /// Delivers one message; false if its receiver is down.
    pub(super) fn deliver(&mut self, p: Packet) -> bool {
        if self.cut.contains(&(p.from, p.to)) {
            return true;
        }
        let now = self.now;
        match self.node(p.to) {
            Some(node) => {
                node.receive(p.from, p.generation, p.msg, now);
                true
            }
            None => false,
        }
    }

    pub(super) fn take_link(&mut self, link: (Member, Member)) -> Vec<Packet> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|p| (p.from, p.to) == link);
        self.queue = kept.into();
        taken
    }

    pub(super) fn wipe(&mut self, m: Member) {
        let host = &mut self.hosts[m as usize];
        host.disk = Durable::default();
        host.slots.clear();
        host.store = Store::default();
    }

    pub(super) fn snapshot(&mut self, m: Member) {
        let h = &mut self.hosts[m as usize];
        h.saved = Some((h.disk.clone(), h.slots.clone(), h.store.clone()));
    }

    pub(super) fn restore(&mut self, m: Member) {
        let h = &mut self.hosts[m as usize];
        if let Some((disk, slots, store)) = h.saved.clone() {
            h.disk = disk;
            h.slots = slots;
            h.store = store;
        }
    }
}

/// Applies a chosen entry as every full replica does: a compare-and-set on
/// each key's head.
pub(super) fn apply(store: &mut Store, entry: &Entry) -> Applied {
    match &entry.body {
        Body::Write { keys, .. } => {
            if keys
                .iter()
                .all(|k| store.heads.get(&k.key) == k.expect.as_ref())
            {
                for k in keys {
                    store.heads.insert(k.key.clone(), k.version.clone());
                }
                Applied::Ok
            } else {
                Applied::Stale
            }
        }
        Body::Rejoin { .. } => Applied::Rejoin,
    }
}
