//! The bridge between async code and the synchronous SQLite store.
//!
//! SQLite calls block, so async tasks never make them directly. Instead:
//!
//! * **Writes** are jobs sent over a channel to the one writer loop. The loop
//!   takes the first job, drains whatever else is queued (up to
//!   [`MAX_GROUP`]), runs them all in one transaction, commits once and only
//!   then replies to each job. That is the group commit: while one group is
//!   being fsynced the next one queues up, so throughput scales with
//!   concurrency instead of being one fsync per item.
//! * **Reads** run a closure against a pooled [`Reader`] connection.
//! * **Shipping** reads the newest log entries from memory: after each
//!   commit the writer hands the group's log entries to the [`Tail`], and
//!   [`Storage::log_after`] serves from there whenever it reaches back far
//!   enough, reading the store only when it does not.
//!
//! * **Checkpoints** (live only) run on their own thread and connection,
//!   every [`CHECKPOINT_EVERY`], so commits never copy WAL pages into the
//!   database file themselves.
//!
//! Two modes drive the same code:
//!
//! * [`Mode::Threads`] (live): the writer loop owns a dedicated OS thread and
//!   reads run on tokio's blocking pool, so no async worker ever blocks.
//! * [`Mode::Inline`] (deterministic simulation): turmoil runs every host on
//!   one thread and `block_in_place` panics there, while work on other threads
//!   escapes its control. So the writer loop is an ordinary task and reads run
//!   in place. Blocking the simulation thread is harmless: time is virtual.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use meridian_core::{EncodedKey, Hlc, Mutation, PhysicalClock, Timestamp};
use meridian_store::pitr::Pitr;
use meridian_store::{ApplyOutcome, Reader, StoreError, WriteOp, WriteResult, Writer};
use tokio::sync::{mpsc, oneshot, watch};

use crate::metrics::{Metrics, SourceLabel};
use crate::tail::{TAIL_BYTES, Tail};
use crate::worker::{State, Worker, Workers};

/// Most jobs in one group commit.
pub const MAX_GROUP: usize = 1024;
/// Reader connections kept open.
const READERS: usize = 4;
/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(25);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Threads,
    Inline,
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the region's store is shutting down")]
    Closed,
    #[error("group commit failed, nothing in it was stored: {0}")]
    GroupFailed(String),
    /// The writer stopped for good (a panic, or a store it cannot trust);
    /// the region takes no writes until it is restarted.
    #[error("the region's writer has stopped and takes no writes: {0}")]
    WriterFailed(String),
}

enum Job {
    Write {
        ops: Vec<WriteOp>,
        reply: oneshot::Sender<Result<Vec<WriteResult>, BridgeError>>,
    },
    Apply {
        peer: String,
        log_id: String,
        entries: Vec<Mutation>,
        reply: oneshot::Sender<Result<ApplyOutcome, BridgeError>>,
    },
    Watermark {
        peer: String,
        acked: u64,
    },
    /// Heads a peer sent to repair this region (anti-entropy).
    Repair {
        entries: Vec<Mutation>,
        reply: oneshot::Sender<Result<ApplyOutcome, BridgeError>>,
    },
    /// Turns point-in-time recovery of a table on or off here.
    Pitr {
        table: String,
        period_days: Option<u32>,
        reply: oneshot::Sender<Result<Option<Pitr>, BridgeError>>,
    },
    /// Deletes what the retention lets go: see [`Storage::truncate`].
    Truncate {
        keep_from: u64,
        conflicts: (u64, u64),
        tombstones_below: Option<Timestamp>,
        /// Stream records older than this (µs) go.
        stream_before: u64,
        max_rows: u64,
        reply: oneshot::Sender<Result<Trimmed, BridgeError>>,
    },
    /// Deletes heads a peer's purge says were overwritten by a tombstone:
    /// see [`Storage::drop_superseded`].
    Superseded {
        table: String,
        heads: Vec<(EncodedKey, Vec<u8>)>,
        horizon: Timestamp,
        reply: oneshot::Sender<Result<u64, BridgeError>>,
    },
    /// Builds the next entries of an index being built here.
    BuildIndexes {
        max_rows: u64,
        reply: oneshot::Sender<Result<u64, BridgeError>>,
    },
    /// A new stream of `peer`'s log in epoch `log_id` resumes at `applied`.
    Inbound {
        peer: String,
        log_id: String,
        applied: u64,
        reply: oneshot::Sender<Result<(), BridgeError>>,
    },
    /// Makes the writer panic while it runs a group: a fault for drills and
    /// tests of the writer's supervision ([`Storage::inject_writer_panic`]).
    Panic,
    /// Ends the writer loop after the jobs queued before it; the store closes.
    Stop,
}

/// What one pass of [`Storage::truncate`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trimmed {
    pub log: u64,
    pub conflicts: u64,
    pub tombstones: u64,
    /// Point-in-time history rows past their table's period.
    pub history: u64,
    /// Change-stream records past the retention.
    pub stream: u64,
}

/// What the writer loop needs besides the store.
pub struct WriterCtx {
    pub hlc: Arc<Hlc>,
    /// Unskewed time, recorded as each commit's real time.
    pub real_clock: Arc<dyn PhysicalClock>,
    pub metrics: Arc<Metrics>,
}

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
pub struct Storage {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Reader>>>,
    data_dir: Arc<std::path::PathBuf>,
    mode: Mode,
    log_head: watch::Receiver<u64>,
    tail: Arc<Mutex<Tail>>,
    floor: Arc<Mutex<(u64, Timestamp)>>,
    metrics: Arc<Metrics>,
    /// Why the writer stopped for good, once it has.
    failure: Arc<Mutex<Option<String>>>,
    /// True once the writer stopped for good and `failure` says why.
    stopped: watch::Receiver<bool>,
}

/// Where the writer announces what it committed to the log.
struct Publish {
    head: watch::Sender<u64>,
    tail: Arc<Mutex<Tail>>,
    floor: Arc<Mutex<(u64, Timestamp)>>,
    /// Set once when the writer stops for good: the region reports it and
    /// refuses writes with it.
    failure: Arc<Mutex<Option<String>>>,
    /// Raised once `failure` is set, for requests whose replies the
    /// failed group dropped (`Storage::answer`).
    stopped: watch::Sender<bool>,
}

impl Publish {
    /// Hands a committed group's log entries to the tail, then moves the
    /// head, which wakes the shippers: a shipper woken by the head finds
    /// the entries already in the tail.
    fn committed(&self, logged: Vec<Mutation>) {
        let Some(last) = logged.last().map(|e| e.seq) else {
            return;
        };
        lock(&self.tail).push(logged);
        self.head.send_modify(|h| *h = (*h).max(last));
    }

    /// Records the log's head and floor after a commit: `issued` is a
    /// timestamp the clock issued after the commit, and the writer issues
    /// every version of this region's writes, so nothing logged after the
    /// head can be at or below it.
    fn floor(&self, issued: Timestamp) {
        let head = *self.head.borrow();
        *lock(&self.floor) = (head, issued);
    }
}

/// A poisoned lock only means a panic elsewhere; what it guards stays usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps the writer alive; joining it waits until the store file is closed.
pub enum WriterTask {
    Thread(JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

impl WriterTask {
    /// Waits for the writer loop to finish its last group and close the store.
    pub async fn join(self) {
        match self {
            WriterTask::Thread(h) => {
                let _ = tokio::task::spawn_blocking(move || h.join()).await;
            }
            WriterTask::Task(h) => {
                let _ = h.await;
            }
        }
    }
}

impl Storage {
    /// Starts the writer loop. It ends at [`Storage::close`].
    pub fn start(
        opened: Opened,
        ctx: WriterCtx,
        mode: Mode,
    ) -> Result<(Storage, WriterTask), StoreError> {
        let workers = Workers::new(ctx.metrics.clone());
        Self::start_with(opened, ctx, mode, &workers)
    }

    /// [`Storage::start`], with the writer and the checkpointer shown
    /// among the region's `workers`.
    pub fn start_with(
        opened: Opened,
        ctx: WriterCtx,
        mode: Mode,
        workers: &Arc<Workers>,
    ) -> Result<(Storage, WriterTask), StoreError> {
        let Opened {
            writer,
            readers,
            log_head,
            checkpointer,
            ..
        } = opened;
        let data_dir = writer
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let (jobs, rx) = mpsc::channel(4 * MAX_GROUP);
        let (head, head_rx) = watch::channel(log_head);
        let tail = Arc::new(Mutex::new(Tail::new(TAIL_BYTES)));
        let metrics = ctx.metrics.clone();
        let floor = Arc::new(Mutex::new((log_head, ctx.hlc.issued())));
        let failure = Arc::new(Mutex::new(None));
        let (stopped_tx, stopped) = watch::channel(false);
        let publish = Publish {
            head,
            tail: tail.clone(),
            floor: floor.clone(),
            failure: failure.clone(),
            stopped: stopped_tx,
        };
        let task = match mode {
            Mode::Threads => {
                let all = workers.clone();
                WriterTask::Thread(
                    workers
                        .spawn_thread("writer", move |w| {
                            writer_thread(writer, checkpointer, ctx, rx, publish, w, &all)
                        })
                        .map_err(|e| {
                            StoreError::Corrupt(format!("cannot start the writer thread: {e}"))
                        })?,
                )
            }
            Mode::Inline => {
                let w = workers.worker("writer");
                w.started();
                WriterTask::Task(tokio::spawn(async move {
                    writer_task(writer, ctx, rx, publish, &w).await;
                    w.stopped();
                }))
            }
        };
        Ok((
            Storage {
                jobs,
                readers: Arc::new(Mutex::new(readers)),
                data_dir: Arc::new(data_dir),
                mode,
                log_head: head_rx,
                tail,
                floor,
                metrics,
                failure,
                stopped,
            },
            task,
        ))
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
        self.jobs.send(Job::Panic).await.map_err(|_| self.closed())
    }

    /// Commits one local request; resolves after its group is durable.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>, BridgeError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Write { ops, reply })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
    }

    /// Applies a batch from `peer`'s log `log_id`; resolves after its group is durable.
    pub async fn apply(
        &self,
        peer: &str,
        log_id: &str,
        entries: Vec<Mutation>,
    ) -> Result<ApplyOutcome, BridgeError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Apply {
                peer: peer.to_string(),
                log_id: log_id.to_string(),
                entries,
                reply,
            })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
    }

    /// Applies heads a peer sent to repair this region, by the normal LWW
    /// decision, outside any log; resolves after its group is durable.
    pub async fn repair(&self, entries: Vec<Mutation>) -> Result<ApplyOutcome, BridgeError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Repair { entries, reply })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
    }

    /// Deletes the log's entries before `keep_from`, and the conflict
    /// records beyond the newest `conflicts.0` or detected before
    /// `conflicts.1` (µs), at most `max_rows` of each; resolves with how
    /// many of each went, after the group is durable.
    ///
    /// With `tombstones_below`, a purge horizon every replica vouches for,
    /// it also raises the store's horizon there and purges tombstones at or
    /// below it, at most `max_rows` (`Group::purge_tombstones`). Stream
    /// records older than `stream_before` (µs) go too.
    pub async fn truncate(
        &self,
        keep_from: u64,
        conflicts: (u64, u64),
        tombstones_below: Option<Timestamp>,
        stream_before: u64,
        max_rows: u64,
    ) -> Result<Trimmed, BridgeError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Truncate {
                keep_from,
                conflicts,
                tombstones_below,
                stream_before,
                max_rows,
                reply,
            })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
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
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Superseded {
                table,
                heads,
                horizon,
                reply,
            })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
    }

    /// Builds the next `max_rows` entries of an index being built here
    /// (`Group::build_indexes`); resolves with how many items it read, 0
    /// when nothing is being built.
    pub async fn build_indexes(&self, max_rows: u64) -> Result<u64, BridgeError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::BuildIndexes { max_rows, reply })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
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
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Inbound {
                peer: peer.to_string(),
                log_id: log_id.to_string(),
                applied,
                reply,
            })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
    }

    /// Turns point-in-time recovery of `table` on (keeping `period_days`)
    /// or off (`None`) in this region; resolves after its group is durable.
    pub async fn set_pitr(
        &self,
        table: &str,
        period_days: Option<u32>,
    ) -> Result<Option<Pitr>, BridgeError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Pitr {
                table: table.to_string(),
                period_days,
                reply,
            })
            .await
            .map_err(|_| self.closed())?;
        self.answer(rx).await
    }

    /// Persists a peer's acknowledged position with the next group.
    pub async fn set_watermark(&self, peer: &str, acked: u64) -> Result<(), BridgeError> {
        self.jobs
            .send(Job::Watermark {
                peer: peer.to_string(),
                acked,
            })
            .await
            .map_err(|_| self.closed())
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
        let pooled = lock(&self.readers).pop();
        let reader = match pooled {
            Some(r) => r,
            None => meridian_store::open_reader(&self.data_dir)?,
        };
        let result = f(&reader);
        let mut pool = lock(&self.readers);
        // Extra connections opened under load are closed, not hoarded.
        if pool.len() < READERS {
            pool.push(reader);
        }
        Ok(result?)
    }

    /// Stops the writer once the jobs already queued are done. Later writes
    /// fail with [`BridgeError::Closed`].
    pub async fn close(&self) {
        let _ = self.jobs.send(Job::Stop).await;
    }

    /// The newest committed log position; changes wake the shippers.
    pub fn log_head(&self) -> watch::Receiver<u64> {
        self.log_head.clone()
    }
}

fn writer_thread(
    mut writer: Writer,
    checkpointer: Option<meridian_store::Checkpointer>,
    ctx: WriterCtx,
    mut rx: mpsc::Receiver<Job>,
    publish: Publish,
    worker: Worker,
    workers: &Arc<Workers>,
) {
    // The checkpointer lives exactly as long as the writer loop: dropping
    // `stop` ends it, and it is joined before the store counts as closed.
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let checkpoints = checkpointer.and_then(|c| {
        workers
            .spawn_thread("checkpoint", move |w| checkpoint_loop(c, stopped, &w))
            .map_err(|e| tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints by itself"))
            .ok()
    });
    while let Some(first) = rx.blocking_recv() {
        match supervised(&mut writer, &ctx, first, &mut rx, &publish, &worker) {
            Ran::Next => {}
            Ran::Stopped => break,
            Ran::Failed(why) => {
                while let Some(job) = rx.blocking_recv() {
                    if refused(job, &why) {
                        break;
                    }
                }
                break;
            }
        }
    }
    drop(stop);
    if let Some(t) = checkpoints {
        let _ = t.join();
    }
    tracing::debug!("writer loop finished; store closed");
}

/// Checkpoints every [`CHECKPOINT_EVERY`] until `stopped` disconnects.
fn checkpoint_loop(
    c: meridian_store::Checkpointer,
    stopped: std::sync::mpsc::Receiver<()>,
    worker: &Worker,
) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        stopped.recv_timeout(CHECKPOINT_EVERY)
    {
        match c.run() {
            Ok(_) => recovered(worker),
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint failed; retrying");
                worker.erroring(e);
            }
        }
    }
}

/// Shows a worker that had failed as running again. Costs one atomic load
/// when nothing failed, so the writer can call it after every commit.
fn recovered(worker: &Worker) {
    if worker.state() == State::Erroring {
        worker.running();
    }
}

async fn writer_task(
    mut writer: Writer,
    ctx: WriterCtx,
    mut rx: mpsc::Receiver<Job>,
    publish: Publish,
    worker: &Worker,
) {
    while let Some(first) = rx.recv().await {
        match supervised(&mut writer, &ctx, first, &mut rx, &publish, worker) {
            Ran::Next => {}
            Ran::Stopped => return,
            Ran::Failed(why) => {
                while let Some(job) = rx.recv().await {
                    if refused(job, &why) {
                        return;
                    }
                }
                return;
            }
        }
    }
}

/// What became of a group the writer loop ran.
enum Ran {
    Next,
    Stopped,
    /// The writer stopped for good, for this reason.
    Failed(String),
}

/// How long a request whose reply was dropped waits for the writer to say
/// why: the writer records a panic microseconds after the unwinding; the
/// bound only keeps a request from waiting on a writer that goes on.
const ANSWER_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// [`drain_and_run`], supervised: a panic in the group is caught (the
/// group's transaction rolls back as it unwinds), and a panic or a fatal
/// store error stops the writer for good with a reason the region reports.
fn supervised(
    writer: &mut Writer,
    ctx: &WriterCtx,
    first: Job,
    rx: &mut mpsc::Receiver<Job>,
    publish: &Publish,
    worker: &Worker,
) -> Ran {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drain_and_run(writer, ctx, first, rx, publish, worker)
    }));
    let why = match ran {
        Ok(true) => match lock(&publish.failure).clone() {
            None => return Ran::Next,
            Some(why) => why,
        },
        Ok(false) => return Ran::Stopped,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            lock(&publish.failure)
                .get_or_insert(format!("the writer panicked: {what}"))
                .clone()
        }
    };
    tracing::error!(reason = %why, "the writer stopped; the region takes no writes and reports not ready");
    worker.erroring(&why);
    let _ = publish.stopped.send(true);
    Ran::Failed(why)
}

/// After the writer stopped: refuses `job` with the reason. True at `Stop`.
fn refused(job: Job, why: &str) -> bool {
    if matches!(job, Job::Stop) {
        return true;
    }
    refuse(job, &BridgeError::WriterFailed(why.to_string()));
    false
}

/// Answers `job` with `err`, written or not.
fn refuse(job: Job, err: &BridgeError) {
    let e = || match err {
        BridgeError::WriterFailed(w) => BridgeError::WriterFailed(w.clone()),
        BridgeError::GroupFailed(w) => BridgeError::GroupFailed(w.clone()),
        _ => BridgeError::Closed,
    };
    match job {
        Job::Write { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Apply { reply, .. } | Job::Repair { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Inbound { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Truncate { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Superseded { reply, .. } | Job::BuildIndexes { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Pitr { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Watermark { .. } | Job::Panic | Job::Stop => {}
    }
}

/// Gathers a group behind `first` and commits it. Returns false at `Stop`.
fn drain_and_run(
    writer: &mut Writer,
    ctx: &WriterCtx,
    first: Job,
    rx: &mut mpsc::Receiver<Job>,
    publish: &Publish,
    worker: &Worker,
) -> bool {
    let mut jobs = Vec::new();
    let mut next = Some(first);
    let mut stop = false;
    while let Some(job) = next.take() {
        if matches!(job, Job::Stop) {
            stop = true;
            break;
        }
        jobs.push(job);
        if jobs.len() < MAX_GROUP {
            next = rx.try_recv().ok();
        }
    }
    if !jobs.is_empty() {
        run_group(writer, ctx, jobs, publish, worker);
    }
    if stop {
        rx.close();
    }
    !stop
}

enum Done {
    Write(
        oneshot::Sender<Result<Vec<WriteResult>, BridgeError>>,
        Result<Vec<WriteResult>, StoreError>,
    ),
    Apply(
        oneshot::Sender<Result<ApplyOutcome, BridgeError>>,
        Result<ApplyOutcome, StoreError>,
    ),
    Inbound(
        oneshot::Sender<Result<(), BridgeError>>,
        Result<(), StoreError>,
    ),
    Truncate(
        oneshot::Sender<Result<Trimmed, BridgeError>>,
        Result<Trimmed, StoreError>,
    ),
    Count(
        oneshot::Sender<Result<u64, BridgeError>>,
        Result<u64, StoreError>,
    ),
    Pitr(
        oneshot::Sender<Result<Option<Pitr>, BridgeError>>,
        Result<Option<Pitr>, StoreError>,
    ),
}

impl Done {
    /// Whether the job's request aborted the group's transaction.
    fn aborted(&self) -> bool {
        let aborted = |e: Option<&StoreError>| matches!(e, Some(StoreError::GroupAborted(_)));
        match self {
            Done::Write(_, r) => aborted(r.as_ref().err()),
            Done::Apply(_, r) => aborted(r.as_ref().err()),
            Done::Inbound(_, r) => aborted(r.as_ref().err()),
            Done::Truncate(_, r) => aborted(r.as_ref().err()),
            Done::Count(_, r) => aborted(r.as_ref().err()),
            Done::Pitr(_, r) => aborted(r.as_ref().err()),
        }
    }

    /// Answers the job: with its own result once the group committed, or
    /// with the group's failure.
    fn answer(self, failed: Option<&str>) {
        let err = |why: &str| BridgeError::GroupFailed(why.to_string());
        match (self, failed) {
            (Done::Write(reply, r), None) => {
                let _ = reply.send(r.map_err(BridgeError::from));
            }
            (Done::Apply(reply, r), None) => {
                let _ = reply.send(r.map_err(BridgeError::from));
            }
            (Done::Inbound(reply, r), None) => {
                let _ = reply.send(r.map_err(BridgeError::from));
            }
            (Done::Truncate(reply, r), None) => {
                let _ = reply.send(r.map_err(BridgeError::from));
            }
            (Done::Truncate(reply, _), Some(why)) => {
                let _ = reply.send(Err(err(why)));
            }
            (Done::Count(reply, r), None) => {
                let _ = reply.send(r.map_err(BridgeError::from));
            }
            (Done::Count(reply, _), Some(why)) => {
                let _ = reply.send(Err(err(why)));
            }
            (Done::Write(reply, _), Some(why)) => {
                let _ = reply.send(Err(err(why)));
            }
            (Done::Apply(reply, _), Some(why)) => {
                let _ = reply.send(Err(err(why)));
            }
            (Done::Inbound(reply, _), Some(why)) => {
                let _ = reply.send(Err(err(why)));
            }
            (Done::Pitr(reply, r), None) => {
                let _ = reply.send(r.map_err(BridgeError::from));
            }
            (Done::Pitr(reply, _), Some(why)) => {
                let _ = reply.send(Err(err(why)));
            }
        }
    }
}

/// One group commit: every job in one transaction, replies only after
/// commit. If anything aborts the transaction, every request in the group,
/// run or not, is answered with `GroupFailed`: none of it is acknowledged.
fn run_group(
    writer: &mut Writer,
    ctx: &WriterCtx,
    jobs: Vec<Job>,
    publish: &Publish,
    worker: &Worker,
) {
    let real_now = ctx.real_clock.now_micros();
    let mut done = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    let commit = (|| -> Result<Vec<Mutation>, StoreError> {
        let mut group = writer.group_at(real_now)?;
        for job in jobs.by_ref() {
            let d = match job {
                Job::Write { ops, reply } => {
                    Done::Write(reply, group.write(&ctx.hlc, real_now, &ops))
                }
                Job::Apply {
                    peer,
                    log_id,
                    entries,
                    reply,
                } => Done::Apply(
                    reply,
                    group.apply(&ctx.hlc, real_now, &peer, &log_id, &entries),
                ),
                Job::Repair { entries, reply } => {
                    Done::Apply(reply, group.repair(&ctx.hlc, real_now, &entries))
                }
                Job::Truncate {
                    keep_from,
                    conflicts: (keep, before),
                    tombstones_below,
                    stream_before,
                    max_rows,
                    reply,
                } => {
                    let r = (|| {
                        Ok(Trimmed {
                            log: group.truncate_log(keep_from, max_rows)?,
                            conflicts: group.purge_conflicts(keep, before, max_rows)?,
                            tombstones: match tombstones_below {
                                Some(h) => group.purge_tombstones(h, max_rows)?,
                                None => 0,
                            },
                            history: group.truncate_history(real_now, max_rows)?,
                            stream: group.truncate_stream(stream_before, max_rows)?,
                        })
                    })();
                    Done::Truncate(reply, r)
                }
                Job::Superseded {
                    table,
                    heads,
                    horizon,
                    reply,
                } => Done::Count(reply, group.drop_superseded(&table, &heads, horizon)),
                Job::BuildIndexes { max_rows, reply } => {
                    Done::Count(reply, group.build_indexes(max_rows))
                }
                Job::Inbound {
                    peer,
                    log_id,
                    applied,
                    reply,
                } => Done::Inbound(reply, group.set_inbound(&peer, &log_id, applied)),
                Job::Pitr {
                    table,
                    period_days,
                    reply,
                } => Done::Pitr(reply, group.set_pitr(&table, period_days)),
                Job::Watermark { peer, acked } => {
                    group.set_watermark(&peer, acked)?;
                    continue;
                }
                Job::Panic => panic!("injected by Storage::inject_writer_panic"),
                Job::Stop => unreachable!("drain_and_run never puts Stop in a group"),
            };
            let fatal = d.aborted();
            done.push(d);
            if fatal {
                return Err(StoreError::GroupAborted(
                    "a request aborted the transaction".into(),
                ));
            }
        }
        group.commit()
    })();
    ctx.metrics.group_commits.inc();
    match commit {
        Ok(logged) => {
            for d in done {
                if let Done::Write(_, Ok(results)) = &d {
                    ctx.metrics.committed_writes.inc_by(results.len() as u64);
                }
                d.answer(None);
            }
            // Only what was logged wakes the shippers.
            publish.committed(logged);
            // A fresh timestamp rather than the last one issued: an idle
            // region's floor then follows its clock (the truncator's
            // passes commit too), and the purge horizon moves on.
            publish.floor(ctx.hlc.now().unwrap_or_else(|_| ctx.hlc.issued()));
            recovered(worker);
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed; every request in it fails");
            worker.erroring(&e);
            let why = e.to_string();
            for d in done {
                d.answer(Some(&why));
            }
            if e.is_fatal() {
                lock(&publish.failure).get_or_insert_with(|| format!("the store failed: {e}"));
            }
            let err = BridgeError::GroupFailed(why.clone());
            for job in jobs {
                refuse(job, &err);
            }
        }
    }
}
