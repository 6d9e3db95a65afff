//! The members this region runs, one per STRONG table it belongs to: the
//! one task that feeds them requests, peers' messages and ticks, and hands
//! their actions, in order, to each table's effects task.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use meridian_core::consistency::StrongSet;
use meridian_core::strong::{Durable, Node, Standing, Timing};
use meridian_core::{TableDef, Version};
use meridian_proto::v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::effects::{self, Work};
use super::{Input, Known, StrongError, wire};
use crate::Shared;
use crate::bridge::CatalogLook;
use crate::metrics::{DirectionKindLabel, PeerReasonLabel};
use crate::worker::{Stop, Worker};

/// How often members' timers run: the protocol's timings are tens of
/// milliseconds and up.
const TICK: Duration = Duration::from_millis(10);
/// How often the catalog is looked at for tables that became STRONG or
/// went; it is read only when it changed since the last look.
const DISCOVER: Duration = Duration::from_millis(250);

struct Member {
    node: Node,
    incarnation: Vec<u8>,
    set: StrongSet,
    def: TableDef,
    effects: mpsc::UnboundedSender<Work>,
    applied: watch::Receiver<u64>,
}

struct Runtime {
    shared: Arc<Shared>,
    /// By table name: ticks visit them in one order every run.
    members: BTreeMap<String, Member>,
    start: Instant,
    inputs: mpsc::UnboundedSender<Input>,
    /// What the catalog was when every member it names was last running.
    look: CatalogLook,
}

/// Runs every member of this region until it stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    back: mpsc::UnboundedSender<Input>,
    w: Worker,
    mut stop: Stop,
) {
    let mut rt = Runtime {
        shared,
        members: BTreeMap::new(),
        start: Instant::now(),
        inputs: back,
        look: CatalogLook::default(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut discover = tokio::time::interval(DISCOVER);
    discover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    w.running();
    loop {
        tokio::select! {
            _ = stop.raised() => break,
            _ = discover.tick() => {
                if let Err(e) = rt.discover().await {
                    w.erroring(&e);
                } else {
                    w.running();
                }
            }
            // Members' timers only: with none, the tick would wake the
            // region a hundred times a second for nothing.
            _ = tick.tick(), if !rt.members.is_empty() => rt.tick(),
            input = inputs.recv() => match input {
                None => break,
                Some(input) => rt.handle(input).await,
            },
        }
    }
}

impl Runtime {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn tick(&mut self) {
        let now = self.now();
        for m in self.members.values_mut() {
            m.node.tick(now);
            flush(m);
        }
        self.publish();
    }

    async fn handle(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Propose {
                table,
                writes,
                reply,
            } => {
                let Some(m) = self.member(&table).await else {
                    let _ = reply.send(Err(StrongError::NotMember(table)));
                    return;
                };
                let seq = m.node.propose(writes.into_body(), now);
                let _ = m.effects.send(Work::Wait(seq, reply));
                flush(m);
            }
            Input::Read { table, reply } => {
                let Some(m) = self.member(&table).await else {
                    let _ = reply.send(Err(StrongError::NotMember(table)));
                    return;
                };
                let rid = m.node.read(now);
                let _ = m.effects.send(Work::Read(rid, reply));
                flush(m);
            }
            Input::Message(env) => self.receive(*env, now),
            Input::Applied {
                table,
                incarnation,
                through,
            } => {
                if let Some(m) = self.members.get_mut(&table)
                    && m.incarnation == incarnation
                {
                    m.node.applied(through);
                    flush(m);
                }
            }
            Input::Persisted {
                table,
                incarnation,
                ballot,
                through,
            } => {
                if let Some(m) = self.members.get_mut(&table)
                    && m.incarnation == incarnation
                {
                    m.node.persisted(ballot, through);
                    flush(m);
                }
            }
            Input::Refresh(done) => {
                let _ = self.discover().await;
                let _ = done.send(());
            }
        }
    }

    /// A member of `table`, looked for in the catalog if not known yet.
    async fn member(&mut self, table: &str) -> Option<&mut Member> {
        if !self.members.contains_key(table) {
            let _ = self.discover().await;
        }
        self.members.get_mut(table)
    }

    fn refuse(&self, peer: &str, reason: &'static str, detail: &str) {
        let peer = if self.shared.config.peers.iter().any(|p| p.name == peer) {
            peer.to_string()
        } else {
            "unknown".to_string()
        };
        tracing::warn!(%peer, reason, detail, "refused a strong-mode message");
        self.shared
            .metrics
            .strong_refused
            .get_or_create(&PeerReasonLabel { peer, reason })
            .inc();
    }

    fn receive(&mut self, env: wire::Envelope, now: u64) {
        let kind = env.msg.kind();
        self.shared
            .metrics
            .strong_messages
            .get_or_create(&DirectionKindLabel {
                direction: "in",
                kind,
            })
            .inc();
        // A paused table's messages between this region and the paused
        // replica are dropped here, at whichever end receives them (every
        // region holds the pause): the member there falls behind as if cut
        // off, and catches up from the log once the pause is over.
        if self
            .shared
            .pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocks(
                &self.shared.config.name,
                &env.from,
                &env.table,
                tokio::time::Instant::now(),
            )
        {
            self.shared
                .metrics
                .strong_refused
                .get_or_create(&PeerReasonLabel {
                    // A label only for a configured peer: the name is the
                    // sender's word.
                    peer: if self.shared.config.peers.iter().any(|p| p.name == env.from) {
                        env.from.clone()
                    } else {
                        "unknown".to_string()
                    },
                    reason: "replication_paused",
                })
                .inc();
            return;
        }
        let Some(m) = self.members.get(&env.table) else {
            // A table this region has not learned yet, or not a member of:
            // the sender tries again.
            return;
        };
        if m.incarnation != env.incarnation {
            return;
        }
        let Some(from) = m.set.member(&env.from) else {
            self.refuse(&env.from, "not_member", &env.table);
            return;
        };
        if m.set.member(&self.shared.config.name) == Some(from) {
            self.refuse(
                &env.from,
                "not_member",
                "a message in this region's own name",
            );
            return;
        }
        let regions = self.shared.config.all_regions();
        if let Err(e) = wire::check_writes(&env.from, &m.def, &m.incarnation, &regions, &env.writes)
        {
            self.refuse(&env.from, e.reason, &e.detail);
            return;
        }
        let Some(m) = self.members.get_mut(&env.table) else {
            return;
        };
        m.node.receive(from, env.generation, env.msg, now);
        flush(m);
    }

    /// Starts a member for every STRONG table of the catalog this region
    /// belongs to, and stops those of tables deleted or recreated.
    async fn discover(&mut self) -> Result<(), crate::bridge::BridgeError> {
        let Some(epoch) = self.look.due(self.shared.storage.catalog_epoch()) else {
            return Ok(());
        };
        let found = self.shared.storage.read(|r| r.strong_catalog()).await?;
        let me = self.shared.config.name.clone();
        let mut live = HashMap::new();
        for (def, incarnation) in found {
            let Some(set) = def.consistency.strong().cloned() else {
                continue;
            };
            if set.member(&me).is_none() {
                continue;
            }
            live.insert(def.name.clone(), incarnation.to_bytes());
            let current = self
                .members
                .get(&def.name)
                .is_some_and(|m| m.incarnation == incarnation.to_bytes());
            if !current {
                self.start_member(def, incarnation, set).await?;
            }
        }
        self.members
            .retain(|name, m| live.get(name) == Some(&m.incarnation));
        let mut tables = self
            .shared
            .strong
            .tables
            .write()
            .unwrap_or_else(|p| p.into_inner());
        tables.retain(|name, _| live.contains_key(name));
        drop(tables);
        // Status drops a table whose member stopped even when no member is
        // left to tick.
        self.publish();
        self.look.settled(epoch);
        Ok(())
    }

    async fn start_member(
        &mut self,
        def: TableDef,
        incarnation: Version,
        set: StrongSet,
    ) -> Result<(), crate::bridge::BridgeError> {
        let inc = incarnation.to_bytes();
        let name = def.name.clone();
        let me = set
            .member(&self.shared.config.name)
            .expect("a member of the set");
        let stored = {
            let n = name.clone();
            self.shared
                .storage
                .read(move |r| r.strong_durable(&n))
                .await?
        };
        // A state of this incarnation goes on; none (or an older
        // incarnation's) starts fresh, the state of every member of a table
        // that has just become STRONG. A store that lost a state it had is
        // told so by its peers (it does not vote until it rejoins).
        let (durable, fresh) = match stored {
            // Under `durability = "normal"` a commit is on disk for good
            // only at the next sync point: a crash may have taken promises
            // and acceptances this member sent in the life its store still
            // names, which its peers cannot tell from a clean stop. So it
            // never trusts them: it rejoins at every start (docs/strong.md).
            Some((i, mut d)) if i == inc => {
                if self.shared.config.crash_loses_commits {
                    d.rejoining = true;
                }
                (d, false)
            }
            _ => {
                let d = Durable::fresh(set.leader_member());
                self.shared
                    .storage
                    .strong_init(&name, inc.clone(), d.clone())
                    .await?;
                (d, true)
            }
        };
        let applied = durable.applied;
        let nonce: u64 = rand::random();
        let node = Node::new(
            me,
            set.witness_member(),
            Timing::default(),
            durable,
            nonce,
            fresh,
            self.now(),
        );
        let (applied_tx, applied_rx) = watch::channel(applied);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = effects::Effects {
            shared: self.shared.clone(),
            table: name.clone(),
            incarnation: inc.clone(),
            set: set.clone(),
            me,
            witness: set.is_witness(&self.shared.config.name),
            applied: applied_tx,
            back: self.inputs.clone(),
        };
        // A worker of its own, shown by `meridian status`; it ends when the
        // member is dropped (its queue closes), which the region's stop does.
        self.shared.workers.spawn(
            &format!("strong-effects:{name}"),
            &self.shared.stop,
            |w, _| async move {
                w.running();
                task.run(rx).await
            },
        );
        tracing::info!(region = %self.shared.config.name, table = %name, member = me, fresh, "strong-mode member started");
        self.shared
            .strong
            .tables
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                name.clone(),
                Known {
                    applied: applied_rx.clone(),
                },
            );
        let mut member = Member {
            node,
            incarnation: inc,
            set,
            def,
            effects: tx,
            applied: applied_rx,
        };
        flush(&mut member);
        self.members.insert(name, member);
        Ok(())
    }

    /// What Admin `Status` shows of every member.
    fn publish(&self) {
        let mut out: Vec<pb::StrongTableStatus> = self
            .members
            .iter()
            .map(|(name, m)| {
                let n = &m.node;
                pb::StrongTableStatus {
                    table: name.clone(),
                    member: if m.set.is_witness(&self.shared.config.name) {
                        "witness".into()
                    } else {
                        "replica".into()
                    },
                    role: n.role_name().into(),
                    leader: n
                        .leader()
                        .map(|l| m.set.members[l as usize].clone())
                        .unwrap_or_default(),
                    standing: match n.standing() {
                        Standing::Voter => "voter",
                        Standing::Unverified { .. } => "unverified",
                        Standing::Rejoining { .. } => "rejoining",
                    }
                    .into(),
                    promised_round: n.promised().round,
                    commit: n.commit(),
                    applied: *m.applied.borrow(),
                    last: n.last(),
                    compacted: n.compacted(),
                    generation: n.generation().counter,
                    // Counted by the writes themselves; see Strong::status.
                    write_conflicts: 0,
                }
            })
            .collect();
        out.sort_by(|a, b| a.table.cmp(&b.table));
        *self
            .shared
            .strong
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = out;
    }
}

/// Hands a member's actions to its effects task, with the life they were
/// taken in (messages carry it).
fn flush(m: &mut Member) {
    let actions = m.node.take_actions();
    if !actions.is_empty() {
        let _ = m.effects.send(Work::Actions(actions, m.node.generation()));
    }
}
