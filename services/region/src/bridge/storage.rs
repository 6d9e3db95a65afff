//! The bridge's async face: [`StoreBridge`], the handle every task holds.
//!
//! Writes are requests to the writer loop ([`StoreBridge::ask`]): each one
//! closure over the group that calls one method of the store's [`Group`],
//! named by its path (`Group::write`), so a request can be followed from
//! its async method into the store by name; it is answered after its
//! group commits. Reads run on
//! a pooled [`Reader`]; shipping reads the log's newest entries from the
//! [`Tail`] in memory when it reaches back far enough.

use std::sync::{Arc, Mutex};

use meridian_core::{EncodedKey, Hlc, Mutation, Timestamp};
use meridian_store::pitr::Pitr;
use meridian_store::{
    ApplyOutcome, Group, ItemWrite, PeerBatch, Reader, StoreError, StrongInstall, Trimmed,
    WriteRequest, WriteResult, Writer,
};
use tokio::sync::{mpsc, oneshot, watch};

use super::catalog::Catalog;
use super::job::{Ask, Bell, Job};
use super::readers::{READERS, Readers};
use super::write_loop::{Publish, WriterCtx, WriterTask, writer_task, writer_thread};
use super::{BridgeError, MAX_GROUP, Mode, lock};
use crate::metrics::Metrics;
use crate::metrics::SourceLabel;
use crate::tail::{TAIL_BYTES, Tail};
use crate::worker::Workers;

/// A store opened with everything start-up needs from it: blocking work,
/// done in one step so live regions can do it off the async workers.
pub struct Opened {
    pub writer: Writer,
    pub readers: Vec<Reader>,
    /// The highest version the store holds, to restore the HLC from.
    pub max_version: Option<meridian_core::Version>,
    pub log_head: u64,
    /// Live regions checkpoint off the writer's thread; simulations keep
    /// SQLite's automatic checkpoints, since a thread would escape them.
    pub checkpointer: Option<meridian_store::Checkpointer>,
}

impl Opened {
    pub fn open(
        data_dir: &std::path::Path,
        region: &str,
        durability: meridian_store::Durability,
        mode: Mode,
    ) -> Result<Self, StoreError> {
        let writer = meridian_store::open(data_dir, region, durability)?;
        let max_version = writer.max_version()?;
        let readers = (0..if mode == Mode::Threads { READERS } else { 1 })
            .map(|_| meridian_store::open_reader(data_dir))
            .collect::<Result<Vec<_>, _>>()?;
        let log_head = readers[0].log_head()?;
        let checkpointer = match mode {
            Mode::Threads => Some(meridian_store::open_checkpointer(&writer, durability)?),
            Mode::Inline => None,
        };
        Ok(Opened {
            writer,
            readers,
            max_version,
            log_head,
            checkpointer,
        })
    }
}

/// Cheap to clone; every clone talks to the same writer and reader pool.
#[derive(Clone)]
pub struct StoreBridge {
    jobs: mpsc::Sender<Job>,
    /// Ends the writer's wait for company when a job must not wait or its
    /// group's worth is queued.
    bell: Arc<Bell>,
    readers: Arc<Readers>,
    mode: Mode,
    log_head: watch::Receiver<u64>,
    tail: Arc<Mutex<Tail>>,
    floor: Arc<Mutex<(u64, Timestamp)>>,
    metrics: Arc<Metrics>,
    /// Why the writer stopped for good, once it has.
    failure: Arc<Mutex<Option<String>>>,
    /// True once the writer stopped for good and `failure` says why.
    stopped: watch::Receiver<bool>,
    catalog: Arc<Catalog>,
}

/// How long a request whose reply was dropped waits for the writer to say
/// why: the writer records a panic microseconds after the unwinding; the
/// bound only keeps a request from waiting on a writer that goes on.
const ANSWER_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

impl StoreBridge {
    /// Starts the writer loop. It ends at [`StoreBridge::close`].
    pub fn start(
        opened: Opened,
        ctx: WriterCtx,
        mode: Mode,
    ) -> Result<(StoreBridge, WriterTask), StoreError> {
        let workers = Workers::new(ctx.metrics.clone());
        Self::start_with(opened, ctx, mode, &workers)
    }

    /// [`StoreBridge::start`], with the writer and the checkpointer shown
    /// among the region's `workers`.
    pub fn start_with(
        opened: Opened,
        ctx: WriterCtx,
        mode: Mode,
        workers: &Arc<Workers>,
    ) -> Result<(StoreBridge, WriterTask), StoreError> {
        let Opened {
            writer,
            readers,
            log_head,
            checkpointer,
            ..
        } = opened;
        let (jobs, rx) = mpsc::channel(4 * MAX_GROUP);
        let (head, head_rx) = watch::channel(log_head);
        let tail = Arc::new(Mutex::new(Tail::new(TAIL_BYTES)));
        let metrics = ctx.metrics.clone();
        let floor = Arc::new(Mutex::new((log_head, ctx.hlc.issued())));
        let failure = Arc::new(Mutex::new(None));
        let (stopped_tx, stopped) = watch::channel(false);
        let catalog = Arc::new(Catalog::default());
        catalog.publish(writer.catalog_epoch());
        let bell = Arc::new(Bell::default());
        let publish = Publish {
            head,
            tail: tail.clone(),
            floor: floor.clone(),
            failure: failure.clone(),
            stopped: stopped_tx,
            catalog: catalog.clone(),
        };
        let task = match mode {
            Mode::Threads => {
                let all = workers.clone();
                let bell = bell.clone();
                WriterTask::Thread(
                    workers
                        .spawn_thread("writer", move |w| {
                            writer_thread(writer, checkpointer, ctx, rx, publish, w, &all, bell)
                        })
                        .map_err(|e| {
                            StoreError::Corrupt(format!("cannot start the writer thread: {e}"))
                        })?,
                )
            }
            Mode::Inline => WriterTask::Task(workers.spawn_task("writer", |w| async move {
                writer_task(writer, ctx, rx, publish, &w).await;
            })),
        };
        Ok((
            StoreBridge {
                jobs,
                bell,
                readers: Arc::new(Readers::new(readers)),
                mode,
                log_head: head_rx,
                tail,
                floor,
                metrics,
                failure,
                stopped,
                catalog,
            },
            task,
        ))
    }

    /// A live table definition and the catalog version that created it:
    /// from memory while the writer has changed no definition since it was
    /// read (`catalog.rs`), else from a reader.
    pub async fn table_def(
        &self,
        name: &str,
    ) -> Result<Option<(meridian_core::TableDef, meridian_core::Version)>, BridgeError> {
        let epoch = self.catalog.epoch();
        if let Some(hit) = self.catalog.get(name, epoch) {
            return Ok(Some(hit));
        }
        let owned = name.to_string();
        let found = self.read(move |r| r.table_def(&owned)).await?;
        if let Some(def) = &found {
            self.catalog.keep(name, epoch, def);
        }
        Ok(found)
    }

    /// The writer's count of catalog changes as of its last group
    /// (`catalog.rs`): whatever a look at the catalog found while the
    /// count had this value holds until it moves.
    pub fn catalog_epoch(&self) -> u64 {
        self.catalog.epoch()
    }

    /// Why the writer stopped for good, if it has: the region is then not
    /// ready, and refuses writes with this reason.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    /// The error of a request the writer did not answer: its failure, or
    /// the store closing.
    fn closed(&self) -> BridgeError {
        match self.failure() {
            Some(why) => BridgeError::WriterFailed(why),
            None => BridgeError::Closed,
        }
    }

    /// Queues `job` for the writer, and rings its bell when the job must
    /// not wait or the queue holds what its group wants ([`Bell`]).
    async fn send(&self, job: Job) -> Result<(), BridgeError> {
        let urgent = !job.may_wait();
        self.jobs.send(job).await.map_err(|_| self.closed())?;
        self.bell
            .ring(urgent, self.jobs.max_capacity() - self.jobs.capacity());
        Ok(())
    }

    /// The writer's answer to a request: its own, or, when the reply was
    /// dropped unanswered, why. A reply drops unanswered when its group
    /// panicked, and the writer records the panic only once the unwinding
    /// has dropped it, so this waits (a bounded time) for the writer to
    /// say it stopped before reading the reason.
    async fn answer<T>(
        &self,
        rx: oneshot::Receiver<Result<T, BridgeError>>,
    ) -> Result<T, BridgeError> {
        match rx.await {
            Ok(answer) => answer,
            Err(_) => {
                let mut stopped = self.stopped.clone();
                let settled = stopped.wait_for(|s| *s);
                // Err: the writer ended (its sender is gone); elapsed: it
                // is still running, so the store is closing.
                let _ = tokio::time::timeout(ANSWER_SETTLE, settled).await;
                Err(self.closed())
            }
        }
    }

    /// Makes the writer panic in its next group, as a bug would: for drills
    /// and tests of its supervision. The group's requests fail, the store
    /// is left as its last commit left it, and the region stops taking
    /// writes and reports not ready.
    pub async fn inject_writer_panic(&self) -> Result<(), BridgeError> {
        self.send(Job::Panic).await
    }

    /// Runs `work` in the writer's next group at once; resolves with its
    /// result once the group is durable, or with why it is not. `work`
    /// calls one [`Group`] method, named by its path.
    async fn ask<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Group<'_>, &Hlc, u64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, BridgeError> {
        self.ask_with(work, |_| 0, false).await
    }

    /// [`StoreBridge::ask`] for the everyday traffic, local writes and
    /// applies: `writes` counts what a result commits (the
    /// `committed_writes` metric), and the writer may hold the request
    /// back a little to gather a larger group when `may_wait` (`pace.rs`).
    async fn ask_with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Group<'_>, &Hlc, u64) -> Result<T, StoreError> + Send + 'static,
        writes: fn(&T) -> u64,
        may_wait: bool,
    ) -> Result<T, BridgeError> {
        let (reply, rx) = oneshot::channel();
        let ask = Ask {
            work: Box::new(work),
            reply,
            writes,
            may_wait,
        };
        self.send(Job::Ask(Box::new(ask))).await?;
        self.answer(rx).await
    }

    /// Commits one local request; resolves after its group is durable.
    pub async fn write(
        &self,
        request: impl Into<WriteRequest>,
    ) -> Result<Vec<WriteResult>, BridgeError> {
        let request = request.into();
        self.ask_with(
            move |group, hlc, now| Group::write(group, hlc, now, &request),
            |results| results.len() as u64,
            true,
        )
        .await
    }

    /// Applies a batch of a peer's log (`Group::apply`); resolves after its
    /// group is durable.
    pub async fn apply(&self, batch: PeerBatch) -> Result<ApplyOutcome, BridgeError> {
        self.ask_with(
            move |group, hlc, now| Group::apply(group, hlc, now, &batch),
            |_| 0,
            true,
        )
        .await
    }

    /// Creates a STRONG table's consensus state here unless it has one
    /// (docs/strong.md).
    pub async fn strong_init(
        &self,
        table: &str,
        incarnation: Vec<u8>,
        durable: meridian_core::strong::Durable,
    ) -> Result<(), BridgeError> {
        let table = table.to_string();
        self.ask(move |group, _, _| Group::strong_init(group, &table, &incarnation, &durable))
            .await
    }

    /// Makes a member's state changes durable and, in the same group
    /// commit, applies the table's chosen entries through `through` (one
    /// fsync for both); resolves once they are durable. An apply that fails
    /// (a table whose replica row has not reached this region yet) is
    /// undone alone and reported as `Some(Err)`: the changes stay made.
    ///
    /// `install`, between the two, installs a snapshot (docs/strong.md): an
    /// install that fails fails the whole call, since the member has moved
    /// to the snapshot's position already (`Group::strong_step`).
    pub async fn strong_persist(
        &self,
        table: &str,
        changes: Vec<meridian_core::strong::Persist>,
        install: Option<StrongInstall>,
        through: Option<u64>,
    ) -> Result<Option<Result<Vec<meridian_store::StrongApplied>, String>>, BridgeError> {
        let table = table.to_string();
        self.ask(move |group, hlc, _| {
            Group::strong_step(group, hlc, &table, &changes, install.as_ref(), through)
        })
        .await
    }

    /// A STRONG table's heads and the position they are at, read in one
    /// transaction, to be sent to a member as a snapshot.
    pub async fn strong_snapshot(
        &self,
        table: &str,
    ) -> Result<Option<meridian_store::StrongSnapshot>, BridgeError> {
        let table = table.to_string();
        self.read(move |r| r.strong_snapshot(&table)).await
    }

    /// Works out a write to a STRONG table without writing it.
    pub async fn strong_evaluate(
        &self,
        ops: Vec<ItemWrite>,
    ) -> Result<meridian_store::StrongEvaluated, BridgeError> {
        self.ask(move |group, hlc, now| Group::strong_evaluate(group, hlc, now, &ops))
            .await
    }

    /// Applies heads a peer sent to repair this region, by the normal LWW
    /// decision, outside any log; resolves after its group is durable.
    pub async fn repair(&self, entries: Vec<Mutation>) -> Result<ApplyOutcome, BridgeError> {
        self.ask(move |group, hlc, now| Group::repair(group, hlc, now, &entries))
            .await
    }

    /// Deletes the log's entries before `keep_from`, and the conflict
    /// records beyond the newest `conflicts.0` or detected before
    /// `conflicts.1` (µs), at most `max_rows` of each; resolves with how
    /// many of each went, after the group is durable.
    ///
    /// With `tombstones_below`, a purge horizon every replica vouches for,
    /// it also raises the store's horizon there and purges tombstones at or
    /// below it, at most `max_rows` (`Group::purge_tombstones`). Stream
    /// records older than `stream_before` (µs) go too (`Group::trim`).
    pub async fn truncate(
        &self,
        keep_from: u64,
        (keep, before): (u64, u64),
        tombstones_below: Option<Timestamp>,
        stream_before: u64,
        max_rows: u64,
    ) -> Result<Trimmed, BridgeError> {
        self.ask(move |group, _, now| {
            let conflicts = (keep, before);
            Group::trim(
                group,
                now,
                keep_from,
                conflicts,
                tombstones_below,
                stream_before,
                max_rows,
            )
        })
        .await
    }

    /// Deletes the heads of `table` in `heads` (key, version bytes) that
    /// are still heads and at or below `horizon`, a peer's purge horizon
    /// (`Group::drop_superseded`); resolves with how many went.
    pub async fn drop_superseded(
        &self,
        table: String,
        heads: Vec<(EncodedKey, Vec<u8>)>,
        horizon: Timestamp,
    ) -> Result<u64, BridgeError> {
        self.ask(move |group, _, _| Group::drop_superseded(group, &table, &heads, horizon))
            .await
    }

    /// Builds the next `max_rows` entries of an index being built here
    /// (`Group::build_indexes`); resolves with how many items it read, 0
    /// when nothing is being built.
    pub async fn build_indexes(&self, max_rows: u64) -> Result<u64, BridgeError> {
        self.ask(move |group, _, _| Group::build_indexes(group, max_rows))
            .await
    }

    /// This region's log head and floor after the last commit: every
    /// write of this region logged after the head has a version above the
    /// floor (meridian_core::purge).
    pub fn floor(&self) -> (u64, Timestamp) {
        *lock(&self.floor)
    }

    /// Records where a new stream of `peer`'s log epoch `log_id` resumes;
    /// resolves after its group is durable.
    pub async fn set_inbound(
        &self,
        peer: &str,
        log_id: &str,
        applied: u64,
    ) -> Result<(), BridgeError> {
        let (peer, log_id) = (peer.to_string(), log_id.to_string());
        self.ask(move |group, _, _| Group::set_inbound(group, &peer, &log_id, applied))
            .await
    }

    /// Turns point-in-time recovery of `table` on (keeping `period_days`)
    /// or off (`None`) in this region; resolves after its group is durable.
    pub async fn set_pitr(
        &self,
        table: &str,
        period_days: Option<u32>,
    ) -> Result<Option<Pitr>, BridgeError> {
        let table = table.to_string();
        self.ask(move |group, _, _| Group::set_pitr(group, &table, period_days))
            .await
    }

    /// Changes setting `name` of this region's replica of `table`
    /// (`Group::change_replica_setting`), at the group's time.
    pub async fn change_replica_setting<E: Send + 'static>(
        &self,
        table: &str,
        name: &str,
        change: impl FnOnce(Option<&str>, u64) -> Result<Option<String>, E> + Send + 'static,
    ) -> Result<Result<meridian_store::Replaced, E>, BridgeError> {
        let (table, name) = (table.to_string(), name.to_string());
        self.ask(move |group, _, now| {
            Group::change_replica_setting(group, &table, &name, now, change)
        })
        .await
    }

    /// Persists a peer's acknowledged position with the next group.
    pub async fn set_watermark(&self, peer: &str, acked: u64) -> Result<(), BridgeError> {
        self.send(Job::Watermark {
            peer: peer.to_string(),
            acked,
        })
        .await
    }

    /// Runs `f` on a reader connection.
    pub async fn read<T, F>(&self, f: F) -> Result<T, BridgeError>
    where
        F: FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        self.blocking(move || this.read_now(f)).await
    }

    /// Runs blocking store work `f` off the async workers in live regions
    /// (tokio's blocking pool), and in place under the simulation, where
    /// another thread would escape its control.
    pub async fn blocking<T, E, F>(&self, f: F) -> Result<T, BridgeError>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<BridgeError> + Send + 'static,
    {
        match self.mode {
            Mode::Inline => f().map_err(Into::into),
            Mode::Threads => tokio::task::spawn_blocking(move || f().map_err(Into::into))
                .await
                .map_err(|_| self.closed())?,
        }
    }

    /// The batch of this region's log after position `after`, cut by
    /// `limit` entries and `max_bytes` (never inside a unit): from the tail
    /// in memory when it reaches back that far, else from the store.
    pub async fn log_after(
        &self,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Mutation>, BridgeError> {
        let hit = lock(&self.tail).after(after, limit, max_bytes);
        let source = if hit.is_some() { "memory" } else { "store" };
        self.metrics
            .log_reads
            .get_or_create(&SourceLabel { source })
            .inc();
        match hit {
            Some(batch) => Ok(batch.into_iter().map(Arc::unwrap_or_clone).collect()),
            None => {
                self.read(move |r| r.log_after(after, limit, max_bytes))
                    .await
            }
        }
    }

    fn read_now<T>(
        &self,
        f: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, BridgeError> {
        Ok(self.readers.with(f)?)
    }

    /// Stops the writer once the jobs already queued are done. Later writes
    /// fail with [`BridgeError::Closed`].
    pub async fn close(&self) {
        let _ = self.send(Job::Stop).await;
    }

    /// The newest committed log position; changes wake the shippers.
    pub fn log_head(&self) -> watch::Receiver<u64> {
        self.log_head.clone()
    }
}
