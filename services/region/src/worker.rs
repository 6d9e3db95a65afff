//! The region's background workers, one way: started, stopped and shown
//! alike.
//!
//! Every long-running loop of a region (the writer, the checkpointer, a
//! shipper per peer, a receiver per peer, the TTL reaper, the gRPC and
//! metrics servers) is registered in [`Workers`] and reports through its
//! [`Worker`] handle whether it is running, idle or erroring, with its
//! last error and how often it started over. `meridian status` shows that
//! list, and `/metrics` has it as `meridian_worker_state{worker, state}`
//! (1 for the current state) and `meridian_worker_restarts_total{worker}`.
//!
//! This module records what workers say; the periodic ones (TTL, truncation,
//! index builds, replica changes, grants, resuming, repair rounds) are
//! driven by the one loop in [`crate::runner`].
//!
//! Async workers start with [`Workers::spawn`] and stop when the region's
//! [`Stop`] signal is raised; threads start with [`Workers::spawn_thread`].
//! The writer is the one exception to the signal: it stops through its job
//! queue, so that everything queued before the stop still commits (as a
//! thread, or inline through [`Workers::spawn_task`]). A receiver is one
//! worker per peer whose stream from that peer is a session of it
//! ([`Workers::spawn_session`]).
//!
//! A client's own stream (a change watch, a pulse) is no worker: its task
//! belongs to the request, like any handler's, and ends when the response
//! is dropped (the client went, or the server stopped with the region).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::metrics::{Metrics, WorkerLabel, WorkerStateLabel};

/// What a worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Doing its work, or connected and ready for it.
    Running = 0,
    /// Waiting for work or for its next turn.
    Idle = 1,
    /// Its last attempt failed; it retries.
    Erroring = 2,
    /// Finished.
    Stopped = 3,
}

impl State {
    pub const ALL: [State; 4] = [State::Running, State::Idle, State::Erroring, State::Stopped];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Idle => "idle",
            State::Erroring => "erroring",
            State::Stopped => "stopped",
        }
    }

    fn from_u8(v: u8) -> State {
        State::ALL
            .into_iter()
            .find(|s| *s as u8 == v)
            .unwrap_or(State::Stopped)
    }
}

/// One worker as `meridian status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStatus {
    pub name: String,
    pub state: State,
    /// The last error, kept after recovery until the next one.
    pub last_error: String,
    /// How often the worker started over (a shipper's reconnects, a
    /// receiver's new streams).
    pub restarts: u64,
}

/// The region's stop signal, as every async worker waits for it.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn new(rx: watch::Receiver<bool>) -> Self {
        Stop(rx)
    }

    pub fn is_raised(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the region is stopping (at once if it already is).
    pub async fn raised(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }

    /// The underlying channel, for servers that take it as it is.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.0.clone()
    }
}

/// Every worker of one region.
pub struct Workers {
    list: Mutex<BTreeMap<String, Arc<Entry>>>,
    metrics: Arc<Metrics>,
}

struct Entry {
    /// The current [`State`], readable without the lock, so a worker
    /// reporting the state it is already in costs one atomic load.
    state: AtomicU8,
    detail: Mutex<Detail>,
}

#[derive(Default)]
struct Detail {
    last_error: String,
    /// Times started; every start after the first is a restart.
    starts: u64,
}

impl Workers {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Workers {
            list: Mutex::new(BTreeMap::new()),
            metrics,
        })
    }

    /// The worker of that name, registered as stopped if it is new.
    /// Call [`Worker::started`] when it starts.
    pub fn worker(self: &Arc<Self>, name: &str) -> Worker {
        let entry = lock(&self.list)
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Entry {
                    state: AtomicU8::new(State::Stopped as u8),
                    detail: Mutex::new(Detail::default()),
                })
            })
            .clone();
        Worker {
            name: Arc::from(name),
            entry,
            workers: self.clone(),
        }
    }

    /// Starts an async worker; it gets its handle and the stop signal, and
    /// shows as stopped once it returns.
    pub fn spawn<F, Fut>(
        self: &Arc<Self>,
        name: &str,
        stop: &Stop,
        f: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce(Worker, Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = stop.clone();
        self.launch(name, move |w| f(w, stop), |w, _| w.stopped())
    }

    /// Starts an async worker that stops by its own means instead of the
    /// region's signal: the inline writer, which stops through its job
    /// queue so that everything queued before the stop still commits. It
    /// shows as stopped once it returns.
    pub fn spawn_task<F, Fut>(self: &Arc<Self>, name: &str, f: F) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce(Worker) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.launch(name, f, |w, _| w.stopped())
    }

    /// Starts one session of a worker that outlives it: a receiver's
    /// stream from its peer, whose next stream starts the worker again
    /// (a restart). When the session ends the worker is left idle, waiting
    /// for that stream, unless the session said it is erroring or a later
    /// session has started (a peer's new stream may open before its old one
    /// notices its end).
    pub fn spawn_session<F, Fut>(
        self: &Arc<Self>,
        name: &str,
        stop: &Stop,
        f: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce(Worker, Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = stop.clone();
        self.launch(name, move |w| f(w, stop), Worker::session_ended)
    }

    /// The one way an async worker's task starts: (re)started, run, and
    /// `ended` says what it is once its future returns, given the count of
    /// starts this task began as.
    fn launch<F, Fut>(
        self: &Arc<Self>,
        name: &str,
        f: F,
        ended: fn(&Worker, u64),
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnOnce(Worker) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let worker = self.worker(name);
        let start = worker.started();
        let fut = f(worker.clone());
        tokio::spawn(async move {
            fut.await;
            ended(&worker, start);
        })
    }

    /// Starts a worker on its own OS thread; it shows as stopped once it returns.
    pub fn spawn_thread<F>(
        self: &Arc<Self>,
        name: &str,
        f: F,
    ) -> std::io::Result<std::thread::JoinHandle<()>>
    where
        F: FnOnce(Worker) + Send + 'static,
    {
        let worker = self.worker(name);
        worker.started();
        std::thread::Builder::new()
            .name(format!("meridian-{name}"))
            .spawn(move || {
                f(worker.clone());
                worker.stopped();
            })
    }

    /// Every worker, by name.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        lock(&self.list)
            .iter()
            .map(|(name, e)| {
                let d = lock(&e.detail);
                WorkerStatus {
                    name: name.clone(),
                    state: State::from_u8(e.state.load(Ordering::Relaxed)),
                    last_error: d.last_error.clone(),
                    restarts: d.starts.saturating_sub(1),
                }
            })
            .collect()
    }
}

/// A worker's way to say what it is doing. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    name: Arc<str>,
    entry: Arc<Entry>,
    workers: Arc<Workers>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Worker({})", self.name)
    }
}

impl Worker {
    /// The worker (re)starts: a task begins, a session or stream opens.
    /// Every start after the first counts as a restart. Returns the count
    /// of starts, this one included.
    pub fn started(&self) -> u64 {
        let starts = {
            let mut d = lock(&self.entry.detail);
            d.starts += 1;
            d.starts
        };
        let again = starts > 1;
        if again {
            self.workers
                .metrics
                .worker_restarts
                .get_or_create(&WorkerLabel {
                    worker: self.name.to_string(),
                })
                .inc();
        }
        self.set(State::Running);
        starts
    }

    pub fn running(&self) {
        self.set(State::Running);
    }

    pub fn idle(&self) {
        self.set(State::Idle);
    }

    /// The last attempt failed with `error`; the worker retries.
    pub fn erroring(&self, error: impl fmt::Display) {
        lock(&self.entry.detail).last_error = error.to_string();
        self.set(State::Erroring);
    }

    pub fn stopped(&self) {
        self.set(State::Stopped);
    }

    /// The session that began as start `start` ended
    /// ([`Workers::spawn_session`]): idle, unless it ended erroring or a
    /// later session has started. The check and the change hold the lock a
    /// start takes, so a session starting meanwhile is never shown idle.
    fn session_ended(&self, start: u64) {
        let d = lock(&self.entry.detail);
        if d.starts == start && self.state() != State::Erroring {
            self.idle();
        }
        drop(d);
    }

    pub fn state(&self) -> State {
        State::from_u8(self.entry.state.load(Ordering::Relaxed))
    }

    fn set(&self, state: State) {
        let old = self.entry.state.swap(state as u8, Ordering::Relaxed);
        if old == state as u8 {
            return;
        }
        let m = &self.workers.metrics;
        for s in State::ALL {
            let label = WorkerStateLabel {
                worker: self.name.to_string(),
                state: s.as_str(),
            };
            m.worker_state
                .get_or_create(&label)
                .set(i64::from(s == state));
        }
    }
}

/// A poisoned lock only means a panic elsewhere; what it guards stays usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_errors_and_restarts_show_in_status_and_metrics() {
        let metrics = Arc::new(Metrics::new("r1"));
        let workers = Workers::new(metrics.clone());
        let w = workers.worker("ship:r2");
        w.started();
        let ttl = workers.worker("ttl");
        ttl.started();
        ttl.idle();
        w.erroring("connect: refused");
        w.started();
        w.erroring("connect: refused again");
        w.started();
        let s = workers.statuses();
        assert_eq!(
            s,
            vec![
                WorkerStatus {
                    name: "ship:r2".into(),
                    state: State::Running,
                    last_error: "connect: refused again".into(),
                    restarts: 2,
                },
                WorkerStatus {
                    name: "ttl".into(),
                    state: State::Idle,
                    last_error: String::new(),
                    restarts: 0,
                },
            ]
        );
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"meridian_worker_state{region="r1",worker="ship:r2",state="running"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"meridian_worker_state{region="r1",worker="ship:r2",state="erroring"} 0"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"meridian_worker_restarts_total{region="r1",worker="ship:r2"} 2"#),
            "{text}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_spawned_worker_stops_on_the_signal_and_shows_stopped() {
        let workers = Workers::new(Arc::new(Metrics::new("r1")));
        let (raise, rx) = watch::channel(false);
        let task = workers.spawn("loop", &Stop::new(rx), |w, mut stop| async move {
            w.idle();
            stop.raised().await;
        });
        tokio::task::yield_now().await;
        assert_eq!(workers.statuses()[0].state, State::Idle);
        raise.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(workers.statuses()[0].state, State::Stopped);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_session_leaves_its_worker_idle_or_erroring_and_the_next_one_is_a_restart() {
        let workers = Workers::new(Arc::new(Metrics::new("r1")));
        let (_raise, rx) = watch::channel(false);
        let stop = Stop::new(rx);
        let status = || workers.statuses()[0].clone();
        // A stream that ends cleanly, or because the peer went (nothing
        // said), leaves the receiver waiting for the next.
        let s = workers.spawn_session("receive:r2", &stop, |w, _| async move {
            w.running();
        });
        s.await.unwrap();
        assert_eq!((status().state, status().restarts), (State::Idle, 0));
        let s = workers.spawn_session("receive:r2", &stop, |w, _| async move {
            w.erroring("decode: bad frame");
        });
        s.await.unwrap();
        let st = status();
        assert_eq!((st.state, st.restarts), (State::Erroring, 1));
        assert_eq!(st.last_error, "decode: bad frame");
        // A task that stops by its own means shows stopped.
        let t = workers.spawn_task("writer", |w| async move { w.idle() });
        t.await.unwrap();
        let writer = workers.statuses().into_iter().find(|w| w.name == "writer");
        assert_eq!(writer.map(|w| w.state), Some(State::Stopped));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_old_session_ending_leaves_a_newer_one_running() {
        let workers = Workers::new(Arc::new(Metrics::new("r1")));
        let (_raise, rx) = watch::channel(false);
        let stop = Stop::new(rx);
        let (end_old, old_ends) = tokio::sync::oneshot::channel::<()>();
        let (end_new, new_ends) = tokio::sync::oneshot::channel::<()>();
        let old = workers.spawn_session("receive:r2", &stop, |_, _| async move {
            let _ = old_ends.await;
        });
        let new = workers.spawn_session("receive:r2", &stop, |_, _| async move {
            let _ = new_ends.await;
        });
        end_old.send(()).unwrap();
        old.await.unwrap();
        assert_eq!(workers.statuses()[0].state, State::Running);
        end_new.send(()).unwrap();
        new.await.unwrap();
        assert_eq!(workers.statuses()[0].state, State::Idle);
    }
}
