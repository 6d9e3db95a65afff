//! The writer loop: the one owner of the store's write connection.
//!
//! It takes the first job, drains whatever else is queued (up to
//! [`MAX_GROUP`]), runs them all in one transaction, commits once and only
//! then answers each. A panic or a fatal store error stops it for good
//! ([`GroupCommit::supervised`]); from then on every request is refused with the reason.
//! Live, it owns an OS thread with the checkpointer beside it; under the
//! simulation it is an ordinary task.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use meridian_core::{Hlc, Mutation, PhysicalClock, Timestamp};
use meridian_store::{StoreError, Writer};
use tokio::sync::{mpsc, watch};

use super::job::{AwaitingCommit, Job, refuse};
use super::{BridgeError, MAX_GROUP, lock};
use crate::metrics::Metrics;
use crate::tail::Tail;
use crate::worker::{State, Worker, Workers};

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(25);

/// What the writer loop needs besides the store.
pub struct WriterCtx {
    pub hlc: Arc<Hlc>,
    /// Unskewed time, recorded as each commit's real time.
    pub real_clock: Arc<dyn PhysicalClock>,
    pub metrics: Arc<Metrics>,
}

/// Where the writer announces what it committed to the log.
pub(super) struct Publish {
    pub(super) head: watch::Sender<u64>,
    pub(super) tail: Arc<Mutex<Tail>>,
    pub(super) floor: Arc<Mutex<(u64, Timestamp)>>,
    /// Set once when the writer stops for good: the region reports it and
    /// refuses writes with it.
    pub(super) failure: Arc<Mutex<Option<String>>>,
    /// Raised once `failure` is set, for requests whose replies the
    /// failed group dropped (`StoreBridge::answer`).
    pub(super) stopped: watch::Sender<bool>,
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

pub(super) fn writer_thread(
    writer: Writer,
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
    let mut group_commit = GroupCommit {
        writer,
        ctx,
        publish,
        worker: &worker,
    };
    while let Some(first) = rx.blocking_recv() {
        match group_commit.supervised(first, &mut rx) {
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

pub(super) async fn writer_task(
    writer: Writer,
    ctx: WriterCtx,
    mut rx: mpsc::Receiver<Job>,
    publish: Publish,
    worker: &Worker,
) {
    let mut group_commit = GroupCommit {
        writer,
        ctx,
        publish,
        worker,
    };
    while let Some(first) = rx.recv().await {
        match group_commit.supervised(first, &mut rx) {
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

/// What the writer loop runs groups with: the store's write connection,
/// what a group needs besides it, and where the loop reports.
struct GroupCommit<'w> {
    writer: Writer,
    ctx: WriterCtx,
    publish: Publish,
    worker: &'w Worker,
}

impl GroupCommit<'_> {
    /// [`GroupCommit::drain_and_run`], supervised: a panic in the group is caught (the
    /// group's transaction rolls back as it unwinds), and a panic or a fatal
    /// store error stops the writer for good with a reason the region reports.
    fn supervised(&mut self, first: Job, rx: &mut mpsc::Receiver<Job>) -> Ran {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.drain_and_run(first, rx)
        }));
        let (publish, worker) = (&self.publish, self.worker);
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

    /// Gathers a group behind `first` and commits it. Returns false at `Stop`.
    fn drain_and_run(&mut self, first: Job, rx: &mut mpsc::Receiver<Job>) -> bool {
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
            self.run_group(jobs);
        }
        if stop {
            rx.close();
        }
        !stop
    }

    /// One group commit: every job in one transaction, replies only after
    /// commit. If anything aborts the transaction, every request in the group,
    /// run or not, is answered with `GroupFailed`: none of it is acknowledged.
    fn run_group(&mut self, jobs: Vec<Job>) {
        let (writer, ctx, publish, worker) =
            (&mut self.writer, &self.ctx, &self.publish, self.worker);
        let real_now = ctx.real_clock.now_micros();
        let mut done: Vec<Box<dyn AwaitingCommit>> = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        let commit = (|| -> Result<Vec<Mutation>, StoreError> {
            let mut group = writer.group_at(real_now)?;
            for job in jobs.by_ref() {
                let d = match job {
                    Job::Ask(request) => request.run(&mut group, &ctx.hlc, real_now),
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
                    let writes = d.writes();
                    if writes > 0 {
                        ctx.metrics.committed_writes.inc_by(writes);
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
}

/// After the writer stopped: refuses `job` with the reason. True at `Stop`.
fn refused(job: Job, why: &str) -> bool {
    if matches!(job, Job::Stop) {
        return true;
    }
    refuse(job, &BridgeError::WriterFailed(why.to_string()));
    false
}
