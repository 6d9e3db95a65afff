//! What travels from the async side to the writer loop, and how each
//! request's answer comes back.
//!
//! A request is one closure over the group ([`StoreBridge::ask`](super::StoreBridge)
//! builds it), so a new kind of write is spelled once, where its async
//! method is: the writer runs every [`Job::Ask`] alike, holds its result
//! until the group commits ([`AwaitingCommit`]), and answers it then, with its own
//! result or with the group's failure. What a request does is the one
//! `Group` method its closure names (`Group::write`, `Group::apply`,
//! ...): read it there, in the store, not here.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::Thread;

use meridian_core::Hlc;
use meridian_store::{Group, StoreError};
use tokio::sync::oneshot;

use super::BridgeError;

/// What the writer does inside a group: with the region's clock and the
/// group's real time (µs), as the store's group methods take them.
pub(super) type Work<T> =
    Box<dyn FnOnce(&mut Group<'_>, &Hlc, u64) -> Result<T, StoreError> + Send>;

/// One item of the writer loop's queue.
pub(super) enum Job {
    /// A request run in the next group and answered once it commits.
    Ask(Box<dyn Request>),
    /// Persists a peer's acknowledged position with the next group; nobody
    /// waits for it.
    Watermark { peer: String, acked: u64 },
    /// Makes the writer panic while it runs a group: a fault for drills and
    /// tests of the writer's supervision ([`StoreBridge::inject_writer_panic`](super::StoreBridge)).
    Panic,
    /// Ends the writer loop after the jobs queued before it; the store closes.
    Stop,
}

impl Job {
    /// Whether the writer may hold this job back to gather a larger group
    /// ([`super::pace`]): writes, applies and watermarks may wait, anything
    /// else goes at once.
    pub(super) fn may_wait(&self) -> bool {
        match self {
            Job::Ask(request) => request.may_wait(),
            Job::Watermark { .. } => true,
            Job::Panic | Job::Stop => false,
        }
    }
}

/// Ends the live writer's wait for company early ([`super::pace`]). The
/// writer parks for the whole of a wait rather than looking at its queue
/// every few hundred µs: each look was a thread wake-up, several per
/// group at everyday rates, and a region's wake-ups cost more CPU than
/// anything but its fsyncs. Requests that may wait leave it parked until
/// the queue holds as many as its group still wants; a job that must not
/// wait rings at once.
///
/// A sender that reads what the writer wants just before the writer
/// records it does not ring; the writer then goes at the end of its wait,
/// never more than the wait's bound late, and nothing else depends on it.
pub(super) struct Bell {
    writer: OnceLock<Thread>,
    /// How many more jobs the parked writer's group wants; `usize::MAX`
    /// while it is not waiting for company.
    wants: AtomicUsize,
}

impl Default for Bell {
    fn default() -> Self {
        Bell {
            writer: OnceLock::new(),
            wants: AtomicUsize::new(usize::MAX),
        }
    }
}

impl Bell {
    /// Names the thread to wake: the live writer's, as it starts.
    pub(super) fn hang(&self) {
        let _ = self.writer.set(std::thread::current());
    }

    /// The writer is about to park for a group that wants `more` jobs
    /// (`None`: it has stopped waiting).
    pub(super) fn wants(&self, more: Option<usize>) {
        self.wants
            .store(more.unwrap_or(usize::MAX), Ordering::SeqCst);
    }

    /// After a job is queued: wakes the writer if the job must not wait
    /// (`urgent`) or the `queued` jobs fill what its group wants. A wake
    /// while it is not parked makes its next park return at once. Before
    /// [`Bell::hang`] (and under the simulation, where the writer is a
    /// task and never parks) it does nothing.
    pub(super) fn ring(&self, urgent: bool, queued: usize) {
        if !urgent && queued < self.wants.load(Ordering::SeqCst) {
            return;
        }
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }
}

/// A request before it runs.
pub(super) trait Request: Send {
    /// Whether it may wait for company before its group runs.
    fn may_wait(&self) -> bool;

    /// Runs the request in `group`; its answer waits for the commit.
    fn run(
        self: Box<Self>,
        group: &mut Group<'_>,
        hlc: &Hlc,
        real_now: u64,
    ) -> Box<dyn AwaitingCommit>;

    /// Answers the request without running it.
    fn refuse(self: Box<Self>, err: BridgeError);
}

/// A request that ran, its answer held until the group commits or fails.
pub(super) trait AwaitingCommit: Send {
    /// Whether the request aborted the group's transaction.
    fn aborted(&self) -> bool;

    /// The local writes it commits, for `committed_writes`.
    fn writes(&self) -> u64;

    /// Answers the request: with its own result once the group committed,
    /// or with the group's failure.
    fn answer(self: Box<Self>, failed: Option<&str>);
}

/// A request with its work and where its answer goes.
pub(super) struct Ask<T> {
    pub work: Work<T>,
    pub reply: oneshot::Sender<Result<T, BridgeError>>,
    /// The local writes a result commits.
    pub writes: fn(&T) -> u64,
    /// Whether it may wait for company ([`Job::may_wait`]).
    pub may_wait: bool,
}

impl<T: Send + 'static> Request for Ask<T> {
    fn may_wait(&self) -> bool {
        self.may_wait
    }

    fn run(
        self: Box<Self>,
        group: &mut Group<'_>,
        hlc: &Hlc,
        real_now: u64,
    ) -> Box<dyn AwaitingCommit> {
        let Ask {
            work,
            reply,
            writes,
            ..
        } = *self;
        Box::new(Ran {
            result: work(group, hlc, real_now),
            reply,
            writes,
        })
    }

    fn refuse(self: Box<Self>, err: BridgeError) {
        let _ = self.reply.send(Err(err));
    }
}

/// An [`Ask`] that ran.
struct Ran<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, BridgeError>>,
    writes: fn(&T) -> u64,
}

impl<T: Send> AwaitingCommit for Ran<T> {
    fn aborted(&self) -> bool {
        matches!(self.result, Err(StoreError::GroupAborted(_)))
    }

    fn writes(&self) -> u64 {
        self.result.as_ref().map_or(0, self.writes)
    }

    fn answer(self: Box<Self>, failed: Option<&str>) {
        let answer = match failed {
            None => self.result.map_err(BridgeError::from),
            Some(why) => Err(BridgeError::GroupFailed(why.to_string())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Answers `job` with `err`, written or not.
pub(super) fn refuse(job: Job, err: &BridgeError) {
    let again = match err {
        BridgeError::WriterFailed(w) => BridgeError::WriterFailed(w.clone()),
        BridgeError::GroupFailed(w) => BridgeError::GroupFailed(w.clone()),
        _ => BridgeError::Closed,
    };
    match job {
        Job::Ask(request) => request.refuse(again),
        Job::Watermark { .. } | Job::Panic | Job::Stop => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::Bell;

    #[test]
    fn the_bell_wakes_a_writer_parked_for_a_long_wait() {
        let bell = Arc::new(Bell::default());
        // Before any writer hangs it, ringing is harmless.
        bell.ring(true, 0);
        let (hung, hung_rx) = std::sync::mpsc::channel();
        let writer = {
            let bell = bell.clone();
            std::thread::spawn(move || {
                bell.hang();
                hung.send(()).unwrap();
                let start = Instant::now();
                // Rung before this park, the bell makes it return at once.
                std::thread::park_timeout(Duration::from_secs(60));
                start.elapsed()
            })
        };
        hung_rx.recv().unwrap();
        // The group wants four: the queue reaching them rings (three alone
        // would not; a park may also end early by itself, so that half is
        // not something this test can see).
        bell.wants(Some(4));
        bell.ring(false, 3);
        bell.ring(false, 4);
        let waited = writer.join().unwrap();
        assert!(waited < Duration::from_secs(30), "{waited:?}");
    }
}
