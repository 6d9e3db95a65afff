//! One STRONG table's effects, carried out in the order its member asked
//! for them: state changes made durable in one writer group before any
//! message after them leaves (a promise or an acceptance is worth nothing
//! if it can be forgotten), chosen entries applied to the store, and local
//! requests answered once their outcome is applied here.
//!
//! One exception, Raft's parallel append: a leader's `Accept`s of its own
//! proposals leave while its acceptances are written, when the group
//! changes nothing else but the commit (`Msg::leaves_early`). Nothing
//! counts the leader's copy until it is durable: the member learns that
//! from [`Input::Persisted`], and each `Accept` says how far it was
//! (`held`), so a voter counts the leader's vote for no position past it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use meridian_core::consistency::StrongSet;
use meridian_core::strong::{Action, Failure, Generation, Index, Persist, Refusal};
use tokio::sync::{mpsc, watch};

use super::snapshot::{self, PartToSend, Snapshots};
use super::{Input, Reply, StrongError, wire};
use crate::Shared;
use crate::bridge::StrongInstall;
use crate::metrics::{DirectionKindLabel, DirectionLabel};

/// How soon an apply that failed (the table's replica row has not reached
/// this region yet) is tried again.
const RETRY: Duration = Duration::from_millis(100);
/// Outcomes kept for local proposals whose `Chosen` comes after the apply.
const RECENT: usize = 4_096;

pub(crate) enum Work {
    Actions(Vec<Action>, Generation),
    /// A local proposal's caller, waiting for its outcome.
    Wait(u64, Reply<(Index, bool)>),
    /// A local linearizable read's caller.
    Read(u64, Reply<()>),
}

pub(crate) struct Effects {
    pub shared: Arc<Shared>,
    pub table: String,
    pub incarnation: Vec<u8>,
    pub set: StrongSet,
    /// This region's place among the set's members.
    pub me: meridian_core::strong::Member,
    /// This region is the table's witness: it holds no items.
    pub witness: bool,
    pub applied: watch::Sender<u64>,
    pub back: mpsc::UnboundedSender<Input>,
}

#[derive(Default)]
struct Waiting {
    writes: HashMap<u64, Reply<(Index, bool)>>,
    /// Chosen local proposals waiting for their position to be applied.
    chosen: HashMap<Index, u64>,
    /// Whether each recently applied position took effect.
    recent: BTreeMap<Index, bool>,
    reads: HashMap<u64, Reply<()>>,
    /// Reads that may go on once their position is applied.
    read_at: Vec<(Index, Reply<()>)>,
    /// The position to apply through.
    want: Index,
    /// A state change could not be made durable: nothing more is sent.
    broken: bool,
    snaps: Snapshots,
}

/// Most work items taken as one group (one durable write, one apply).
const GROUP: usize = 1_024;

/// A group's callers start waiting; what is left are its members' actions,
/// in order, each batch with the generation it was made in.
fn take_waiters(group: Vec<Work>, w: &mut Waiting) -> Vec<(Vec<Action>, Generation)> {
    let mut batches = Vec::new();
    for work in group {
        match work {
            Work::Wait(seq, reply) => {
                w.writes.insert(seq, reply);
            }
            Work::Read(rid, reply) => {
                w.reads.insert(rid, reply);
            }
            Work::Actions(actions, generation) => batches.push((actions, generation)),
        }
    }
    batches
}

impl Effects {
    pub(crate) async fn run(self, mut rx: mpsc::UnboundedReceiver<Work>) {
        let mut w = Waiting {
            want: *self.applied.borrow(),
            ..Default::default()
        };
        loop {
            match tokio::time::timeout(RETRY, rx.recv()).await {
                Ok(None) => break,
                Ok(Some(first)) => {
                    // Whatever queued behind it while the last group was
                    // made durable goes with it: under load many writes
                    // share one fsync instead of paying one each.
                    let mut group = vec![first];
                    while group.len() < GROUP {
                        match rx.try_recv() {
                            Ok(work) => group.push(work),
                            Err(_) => break,
                        }
                    }
                    self.group(group, &mut w).await;
                }
                Err(_) => {}
            }
            if w.want > *self.applied.borrow() {
                self.apply(&mut w).await;
            }
        }
    }

    /// A group of work items, in order. Every state change of the group is
    /// made durable in one transaction before any of its messages leaves.
    /// That is as safe as one by one: each message was made from a state
    /// that is now durable, and the transaction keeps the changes in their
    /// order, so a crash leaves all of them or none, and then nothing was
    /// sent. What is chosen is applied once, after the group's messages.
    async fn group(&self, group: Vec<Work>, w: &mut Waiting) {
        let mut batches = take_waiters(group, w);
        if !w.broken {
            self.send_early(&mut batches);
        }
        let persists: Vec<Persist> = batches
            .iter()
            .flat_map(|(actions, _)| actions)
            .filter_map(|a| match a {
                Action::Persist(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        let through = batches
            .iter()
            .flat_map(|(actions, _)| actions)
            .filter_map(|a| match a {
                Action::Apply { through } => Some(*through),
                _ => None,
            })
            .fold(w.want, u64::max);
        let apply = (through > *self.applied.borrow()).then_some(through);
        let install = self.stage_snapshots(&batches, w);
        let installed = install.as_ref().map(|i| i.through);
        let accepted = persists
            .iter()
            .filter_map(|p| match p {
                Persist::Accepted(slots) => slots.iter().map(|(i, s)| (s.ballot, *i)).max(),
                _ => None,
            })
            .max();
        let mut applied = None;
        if !w.broken && (!persists.is_empty() || apply.is_some() || install.is_some()) {
            match self
                .shared
                .storage
                .strong_persist(&self.table, persists, install, apply)
                .await
            {
                Ok(outcome) => applied = outcome,
                Err(e) => {
                    tracing::error!(table = %self.table, error = %e, "a strong-mode state change could not be made durable; this member sends nothing more");
                    w.broken = true;
                }
            }
        }
        if w.broken {
            return;
        }
        if let Some((ballot, through)) = accepted {
            let _ = self.back.send(Input::Persisted {
                table: self.table.clone(),
                incarnation: self.incarnation.clone(),
                ballot,
                through,
            });
        }
        if let Some(through) = installed {
            self.installed(through, w);
        }
        for (actions, generation) in batches {
            self.actions(actions, generation, w);
        }
        if !w.snaps.to_send.is_empty() {
            let mut snaps = std::mem::take(&mut w.snaps);
            self.send_parts(&mut snaps).await;
            w.snaps = snaps;
        }
        w.want = w.want.max(through);
        match applied {
            Some(Ok(outcomes)) => self.settle(outcomes, through, w),
            Some(Err(e)) => {
                tracing::debug!(table = %self.table, error = %e, "chosen entries wait to be applied")
            }
            None => {}
        }
    }

    /// Raft's parallel append: when the group's only state changes are
    /// acceptances and the commit, its `Accept`s of this member's own
    /// proposals go now, taken out of `batches`.
    fn send_early(&self, batches: &mut [(Vec<Action>, Generation)]) {
        let early = batches
            .iter()
            .flat_map(|(actions, _)| actions)
            .all(|a| match a {
                Action::Persist(p) => matches!(p, Persist::Accepted(_) | Persist::Commit(_)),
                Action::StageSnapshot { .. } | Action::InstallSnapshot { .. } => false,
                _ => true,
            });
        if !early {
            return;
        }
        // An `Accept` that waits holds back the later ones to its
        // peer: a member takes a ballot's entries in order.
        let mut waits = [false; meridian_core::strong::MEMBERS];
        for (actions, generation) in batches {
            actions.retain(|a| match a {
                Action::Send { to, msg } => {
                    let Some(w) = waits.get_mut(*to as usize) else {
                        return true;
                    };
                    if *w || !msg.leaves_early(self.me) {
                        *w |= matches!(msg, meridian_core::strong::Msg::Accept { .. });
                        return true;
                    }
                    self.send(*to, msg, *generation);
                    false
                }
                _ => true,
            });
        }
    }

    /// Snapshot parts are kept as they come, and the last installs them
    /// with the group's state changes: what to install, if a part was the
    /// last. Parts that do not decode break this member.
    fn stage_snapshots(
        &self,
        batches: &[(Vec<Action>, Generation)],
        w: &mut Waiting,
    ) -> Option<StrongInstall> {
        let mut install = None;
        for a in batches.iter().flat_map(|(actions, _)| actions) {
            match a {
                Action::StageSnapshot { part, data, .. } => w.snaps.stage(*part, data.clone()),
                Action::InstallSnapshot { through } => {
                    match w.snaps.install(&self.incarnation, *through, self.witness) {
                        Ok(i) => install = Some(i),
                        Err(e) => {
                            tracing::error!(table = %self.table, error = %e, "a snapshot's kept parts do not decode; this member sends nothing more");
                            w.broken = true;
                        }
                    }
                }
                _ => {}
            }
        }
        install
    }

    fn actions(&self, actions: Vec<Action>, generation: Generation, w: &mut Waiting) {
        for action in actions {
            match action {
                Action::Persist(_) => {}
                Action::Send { to, msg } => self.send(to, &msg, generation),
                Action::Apply { through } => w.want = w.want.max(through),
                Action::Chosen { seq, index } => match w.recent.get(&index) {
                    Some(written) => reply(w.writes.remove(&seq), Ok((index, *written))),
                    // Applied here without its outcome known: through a
                    // snapshot, or long enough ago to be forgotten.
                    None if index <= *self.applied.borrow() => reply(
                        w.writes.remove(&seq),
                        Err(self.error(Failure::Unavailable { unknown: true })),
                    ),
                    None => {
                        w.chosen.insert(index, seq);
                    }
                },
                Action::Failed { seq, failure } => {
                    reply(w.writes.remove(&seq), Err(self.error(failure)))
                }
                Action::ReadReady { rid, index } => {
                    if let Some(r) = w.reads.remove(&rid) {
                        if index <= *self.applied.borrow() {
                            let _ = r.send(Ok(()));
                        } else {
                            w.read_at.push((index, r));
                        }
                    }
                }
                Action::ReadFailed { rid, failure } => {
                    reply(w.reads.remove(&rid), Err(self.error(failure)))
                }
                Action::SendSnapshot {
                    to,
                    ballot,
                    through,
                    part,
                    at_least,
                } => w.snaps.to_send.push(PartToSend {
                    to,
                    ballot,
                    through,
                    part,
                    at_least,
                    generation,
                }),
                // Carried out with the group's state changes.
                Action::StageSnapshot { .. } | Action::InstallSnapshot { .. } => {}
            }
        }
    }

    fn send(&self, to: u8, msg: &meridian_core::strong::Msg, generation: Generation) {
        let Some(peer) = self.set.members.get(to as usize) else {
            return;
        };
        self.shared
            .metrics
            .strong_messages
            .get_or_create(&DirectionKindLabel {
                direction: "out",
                kind: msg.kind(),
            })
            .inc();
        let env = wire::encode(
            &self.shared.config.name,
            &self.table,
            &self.incarnation,
            generation,
            msg,
        );
        self.shared.strong.links.send(peer, env);
    }

    /// Applies what is chosen through `w.want`, and answers what waited
    /// for it.
    async fn apply(&self, w: &mut Waiting) {
        let through = w.want;
        if through <= *self.applied.borrow() {
            return;
        }
        let applied = self
            .shared
            .storage
            .strong_persist(&self.table, Vec::new(), None, Some(through))
            .await;
        match applied {
            Ok(Some(Ok(outcomes))) => self.settle(outcomes, through, w),
            Ok(Some(Err(e))) => {
                tracing::debug!(table = %self.table, error = %e, "chosen entries wait to be applied");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(table = %self.table, error = %e, "chosen entries wait to be applied");
            }
        }
    }

    /// Sends the parts asked for: of the snapshot the member is receiving
    /// while it is still held, else of a new one read now (from its part 0).
    async fn send_parts(&self, snaps: &mut Snapshots) {
        for p in std::mem::take(&mut snaps.to_send) {
            let part = if snaps.holds(p.to, p.through, p.part) {
                p.part
            } else {
                match self.shared.storage.strong_snapshot(&self.table).await {
                    Ok(Some(s)) if s.incarnation == self.incarnation && s.through >= p.at_least => {
                        self.shared
                            .metrics
                            .strong_snapshots
                            .get_or_create(&DirectionLabel { direction: "sent" })
                            .inc();
                        tracing::info!(table = %self.table, member = p.to, through = s.through, heads = s.heads.len(), "sending a snapshot of a STRONG table");
                        snaps.sending(p.to, s.through, snapshot::cut(s.heads));
                        0
                    }
                    Ok(_) => {
                        tracing::debug!(table = %self.table, "no snapshot of this table to send yet");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(table = %self.table, error = %e, "could not read a snapshot of a STRONG table");
                        continue;
                    }
                }
            };
            let Some((through, last, data)) = snaps.part(p.to, part) else {
                continue;
            };
            let msg = meridian_core::strong::Msg::Snapshot {
                ballot: p.ballot,
                through,
                part,
                last,
                data,
            };
            self.send(p.to, &msg, p.generation);
        }
    }

    /// A snapshot at `through` is installed: the table is applied through
    /// it. Local writes chosen at or below it and not applied here yet are
    /// answered as of unknown outcome (the snapshot holds their effect, or
    /// not), and reads that waited for it go on.
    fn installed(&self, through: Index, w: &mut Waiting) {
        self.shared
            .metrics
            .strong_snapshots
            .get_or_create(&DirectionLabel {
                direction: "installed",
            })
            .inc();
        tracing::info!(table = %self.table, through, "installed a snapshot of a STRONG table");
        let gone: Vec<Index> = w.chosen.keys().copied().filter(|i| *i <= through).collect();
        for index in gone {
            if let Some(seq) = w.chosen.remove(&index) {
                reply(
                    w.writes.remove(&seq),
                    Err(self.error(Failure::Unavailable { unknown: true })),
                );
            }
        }
        w.want = w.want.max(through);
        if through > *self.applied.borrow() {
            let _ = self.applied.send(through);
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut w.read_at)
            .into_iter()
            .partition(|(i, _)| *i <= through);
        w.read_at = waiting;
        for (_, r) in ready {
            let _ = r.send(Ok(()));
        }
    }

    /// What was applied through `through`: the local writes and reads that
    /// waited for it are answered.
    fn settle(
        &self,
        outcomes: Vec<meridian_store::StrongApplied>,
        through: Index,
        w: &mut Waiting,
    ) {
        for o in outcomes {
            w.recent.insert(o.index, o.written);
            if let Some(seq) = w.chosen.remove(&o.index) {
                reply(w.writes.remove(&seq), Ok((o.index, o.written)));
            }
        }
        while w.recent.len() > RECENT {
            w.recent.pop_first();
        }
        let _ = self.applied.send(through);
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut w.read_at)
            .into_iter()
            .partition(|(i, _)| *i <= through);
        w.read_at = waiting;
        for (_, r) in ready {
            let _ = r.send(Ok(()));
        }
        let _ = self.back.send(Input::Applied {
            table: self.table.clone(),
            incarnation: self.incarnation.clone(),
            through,
        });
    }

    fn error(&self, failure: Failure) -> StrongError {
        let unavailable = |unknown| StrongError::Unavailable {
            table: self.table.clone(),
            millis: meridian_core::strong::Timing::default().request,
            unknown,
        };
        match failure {
            Failure::Refused(Refusal::Conflict) => StrongError::Conflict,
            Failure::Refused(Refusal::Stale { index }) => StrongError::Stale(index),
            Failure::Refused(Refusal::Busy) => StrongError::Busy(self.table.clone()),
            Failure::Refused(Refusal::NotLeader) => unavailable(false),
            Failure::Unavailable { unknown } => unavailable(unknown),
        }
    }
}

fn reply<T>(to: Option<Reply<T>>, result: Result<T, StrongError>) {
    if let Some(r) = to {
        let _ = r.send(result);
    }
}
