//! The writer loop: the one owner of the store's write connection.
//!
//! It takes the first job, drains whatever else is queued (up to
//! [`MAX_GROUP`]), live waits a little for more when requests arrive fast
//! enough to fill a larger group ([`super::pace`]), runs them all in one
//! transaction, commits once and only then answers each. A panic or a
//! fatal store error stops it for good ([`GroupCommit::supervised`]); from
//! then on every request is refused with the reason.
//! Live, it owns an OS thread with the checkpointer beside it; under the
//! simulation it is an ordinary task.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use meridian_core::{Hlc, Mutation, PhysicalClock, Timestamp};
use meridian_store::{StoreError, Writer};
use tokio::sync::{mpsc, watch};

use super::catalog::Catalog;
use super::job::{AwaitingCommit, Bell, Job, refuse};
use super::pace::{Pace, TARGET};
use super::{BridgeError, MAX_GROUP, lock};
use crate::metrics::Metrics;
use crate::tail::Tail;
use crate::worker::{State, Worker, Workers};

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);

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
    /// Told after each group whether table definitions kept in memory
    /// still hold.
    pub(super) catalog: Arc<Catalog>,
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

#[allow(clippy::too_many_arguments)]
pub(super) fn writer_thread(
    writer: Writer,
    checkpointer: Option<meridian_store::Checkpointer>,
    ctx: WriterCtx,
    mut rx: mpsc::Receiver<Job>,
    publish: Publish,
    worker: Worker,
    workers: &Arc<Workers>,
    bell: Arc<Bell>,
) {
    bell.hang();
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
    let mut paced = Paced {
        pace: Pace::default(),
        epoch: Instant::now(),
        gathered: Duration::ZERO,
        bell,
    };
    while let Some(first) = rx.blocking_recv() {
        match group_commit.supervised(first, &mut rx, Some(&mut paced)) {
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
    // Under the simulation nothing waits for company: a wait would be
    // virtual time, and drills keep the groups they have always had.
    while let Some(first) = rx.recv().await {
        match group_commit.supervised(first, &mut rx, None) {
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
    fn supervised(
        &mut self,
        first: Job,
        rx: &mut mpsc::Receiver<Job>,
        paced: Option<&mut Paced>,
    ) -> Ran {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.drain_and_run(first, rx, paced)
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
    fn drain_and_run(
        &mut self,
        first: Job,
        rx: &mut mpsc::Receiver<Job>,
        mut paced: Option<&mut Paced>,
    ) -> bool {
        let mut gathering = Gathering::default();
        gathering.take(first);
        gathering.drain(rx);
        if let Some(paced) = paced.as_deref_mut() {
            paced.gather(&mut gathering, rx);
        }
        let Gathering { jobs, stop, .. } = gathering;
        if !jobs.is_empty() {
            self.run_group(jobs);
            if let Some(paced) = paced {
                paced.ran();
            }
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
        // Before any answer: a client told its table changed must not be
        // handed the old definition next.
        publish.catalog.publish(writer.catalog_epoch());
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

/// A group being gathered: its jobs, whether `Stop` ended it, and whether
/// it holds a job that must not wait.
#[derive(Default)]
struct Gathering {
    jobs: Vec<Job>,
    stop: bool,
    prompt: bool,
}

impl Gathering {
    fn take(&mut self, job: Job) {
        if matches!(job, Job::Stop) {
            self.stop = true;
            return;
        }
        self.prompt |= !job.may_wait();
        self.jobs.push(job);
    }

    /// Takes what is queued, until `Stop` or a full group.
    fn drain(&mut self, rx: &mut mpsc::Receiver<Job>) {
        while !self.stop && self.jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => self.take(job),
                Err(_) => break,
            }
        }
    }

    /// Whether the group may keep gathering.
    fn may_wait(&self) -> bool {
        !self.stop && !self.prompt && self.jobs.len() < TARGET
    }
}

/// The live writer's pacing: the rule ([`Pace`]) and the clock it is fed.
struct Paced {
    pace: Pace,
    epoch: Instant,
    /// When the group being run stopped gathering.
    gathered: Duration,
    /// What wakes it from a wait ([`Bell`]).
    bell: Arc<Bell>,
}

impl Paced {
    /// Waits for the group to fill, as long as the rule says and the group
    /// may wait; then records the group. The thread parks for the whole
    /// wait: a job that must not wait, or a queue that holds what the
    /// group still wants, unparks it ([`Bell`]); any other wake-up only
    /// has it look at its queue and park again for what is left.
    fn gather(&mut self, gathering: &mut Gathering, rx: &mut mpsc::Receiver<Job>) {
        let start = self.epoch.elapsed();
        let until = start
            + if gathering.may_wait() {
                self.pace.wait(gathering.jobs.len())
            } else {
                Duration::ZERO
            };
        while gathering.may_wait() {
            let now = self.epoch.elapsed();
            if now >= until {
                break;
            }
            self.bell
                .wants(Some(TARGET.saturating_sub(gathering.jobs.len())));
            // What came before the bell could hear it.
            gathering.drain(rx);
            if gathering.may_wait() {
                std::thread::park_timeout(until - now);
                gathering.drain(rx);
            }
        }
        self.bell.wants(None);
        self.pace.started(micros(start), gathering.jobs.len());
        self.gathered = self.epoch.elapsed();
    }

    /// Records how long the group took from the end of its gathering.
    fn ran(&mut self) {
        self.pace.ran(micros(self.epoch.elapsed() - self.gathered));
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// After the writer stopped: refuses `job` with the reason. True at `Stop`.
fn refused(job: Job, why: &str) -> bool {
    if matches!(job, Job::Stop) {
        return true;
    }
    refuse(job, &BridgeError::WriterFailed(why.to_string()));
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watermark(acked: u64) -> Job {
        Job::Watermark {
            peer: "eu-west-1".into(),
            acked,
        }
    }

    #[test]
    fn a_group_gathers_until_stop_and_leaves_what_follows_queued() {
        let (tx, mut rx) = mpsc::channel(8);
        for job in [watermark(2), Job::Stop, watermark(3)] {
            tx.try_send(job).unwrap();
        }
        let mut gathering = Gathering::default();
        gathering.take(watermark(1));
        gathering.drain(&mut rx);
        assert_eq!(gathering.jobs.len(), 2);
        assert!(gathering.stop && !gathering.may_wait());
        assert!(matches!(rx.try_recv(), Ok(Job::Watermark { acked: 3, .. })));
    }

    #[test]
    fn a_job_that_must_not_wait_ends_the_wait_and_a_full_group_too() {
        let mut gathering = Gathering::default();
        gathering.take(watermark(1));
        assert!(gathering.may_wait());
        gathering.take(Job::Panic);
        assert!(!gathering.may_wait(), "a prompt job goes at once");

        let mut full = Gathering::default();
        for i in 0..TARGET as u64 {
            assert!(full.may_wait());
            full.take(watermark(i));
        }
        assert!(!full.may_wait(), "a group of TARGET jobs goes at once");
    }

    #[test]
    fn a_prompt_job_never_waits_whatever_the_rate() {
        let (tx, mut rx) = mpsc::channel::<Job>(8);
        let mut paced = Paced {
            pace: Pace::default(),
            epoch: Instant::now(),
            gathered: Duration::ZERO,
            bell: Arc::default(),
        };
        // Teach the rule a rate at which it would wait the whole bound.
        for i in 0..50 {
            paced.pace.started(i * 1_000, 3);
        }
        assert!(paced.pace.wait(1) > Duration::ZERO);
        let mut gathering = Gathering::default();
        gathering.take(Job::Panic);
        // Queued after the group was drained: a group that waited would
        // take it on its next look at the queue.
        tx.try_send(watermark(1)).unwrap();
        paced.gather(&mut gathering, &mut rx);
        assert_eq!(gathering.jobs.len(), 1);
        assert!(
            rx.try_recv().is_ok(),
            "still queued: the group did not wait"
        );
    }
}
