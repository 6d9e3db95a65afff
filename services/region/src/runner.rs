//! The one loop of the region's periodic workers (the TTL reaper, the
//! truncator, the index builder, the replica-change worker, the grants
//! refresh, the resume worker and each peer's repair rounds).
//!
//! A worker is the [`Work`] it does, one step at a time; [`run`] owns
//! everything around the steps: waiting for the next turn (a period, a
//! wake-up), the region's shutdown, waiting again after an error, and the
//! state `meridian status` shows (idle after a step that left nothing to
//! do, running while more is due, erroring after a failed step, until the
//! next one succeeds). A step logs what it did itself, so every worker's
//! log lines stay its own.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use crate::worker::{Stop, Worker};

/// What a step leaves to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: the next step waits for [`Work::wait`].
    Idle,
    /// More, at once (the region's shutdown is still looked at first).
    Again,
    /// More, after this pause.
    After(Duration),
}

/// One periodic worker's job.
pub trait Work: Send {
    type Error: Display + Send;

    /// Whether the first step runs at start, rather than after a wait.
    const AT_START: bool = false;

    /// Does one step. `worker` is there for a step that shows itself
    /// running only once it finds work.
    fn work(&mut self, worker: &Worker) -> impl Future<Output = Result<Next, Self::Error>> + Send;

    /// Resolves when the next step is due after an idle or failed one.
    fn wait(&mut self) -> impl Future<Output = ()> + Send;
}

/// Drives `work` until the region stops: shows the worker idle, then
/// runs a step whenever one is due.
pub async fn run<W: Work>(mut work: W, worker: Worker, mut stop: Stop) {
    worker.idle();
    let mut next = if W::AT_START { Next::Again } else { Next::Idle };
    loop {
        match next {
            Next::Idle => tokio::select! {
                _ = stop.raised() => return,
                _ = work.wait() => {}
            },
            Next::Again => {
                if stop.is_raised() {
                    return;
                }
            }
            Next::After(pause) => tokio::select! {
                _ = stop.raised() => return,
                _ = tokio::time::sleep(pause) => {}
            },
        }
        next = match work.work(&worker).await {
            Ok(Next::Idle) => {
                worker.idle();
                Next::Idle
            }
            Ok(more) => {
                worker.running();
                more
            }
            Err(e) => {
                worker.erroring(e);
                Next::Idle
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::watch;

    use super::*;
    use crate::metrics::Metrics;
    use crate::worker::{State, Workers};

    /// Fails its first step, then has two more steps to do, then none.
    struct Script {
        steps: u32,
    }

    impl Work for Script {
        type Error = String;

        async fn work(&mut self, _: &Worker) -> Result<Next, String> {
            self.steps += 1;
            match self.steps {
                1 => Err("first step fails".into()),
                2 => Ok(Next::Again),
                3 => Ok(Next::After(Duration::from_secs(1))),
                _ => Ok(Next::Idle),
            }
        }

        async fn wait(&mut self) {
            tokio::time::sleep(Duration::from_secs(10)).await
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn steps_run_when_due_and_the_state_follows_them() {
        let workers = Workers::new(Arc::new(Metrics::new("r1")));
        let (raise, rx) = watch::channel(false);
        let task = workers.spawn("script", &Stop::new(rx), |w, stop| {
            run(Script { steps: 0 }, w, stop)
        });
        let state = || workers.statuses()[0].clone();
        tokio::task::yield_now().await;
        assert_eq!(state().state, State::Idle);
        // The first step is due after a wait, and fails.
        tokio::time::sleep(Duration::from_secs(10)).await;
        tokio::task::yield_now().await;
        assert_eq!(state().state, State::Erroring);
        assert_eq!(state().last_error, "first step fails");
        // After the next wait: a step with more at once, then one with more
        // after a second.
        tokio::time::sleep(Duration::from_secs(10)).await;
        tokio::task::yield_now().await;
        assert_eq!(state().state, State::Running);
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
        assert_eq!(state().state, State::Idle);
        raise.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(state().state, State::Stopped);
    }
}
