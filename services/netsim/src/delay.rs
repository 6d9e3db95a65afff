//! Waits that end when they are due, not at tokio's next timer tick.
//!
//! tokio's timer counts whole milliseconds: a deadline is rounded up to
//! the next tick, and the driver sleeps from the tick it is in, so a wait
//! ends 0 to 2 ms late (about 1 ms on average). A link proxy that adds
//! latency L to each hop would then add its own millisecond or so to every
//! hop besides: a round trip at L = 40 ms measured 84 ms, not 80. A strong
//! write's latency target is stated against 2L, so the proxy must add L and
//! nothing else.
//!
//! [`until`] therefore races tokio's sleep against one precise clock
//! thread per process, which sleeps on the kernel's high-resolution timer
//! (to within its timer slack, 50 µs by default) and wakes each waiter when
//! it is due. Under tokio's paused clock (the proxy's virtual-time tests)
//! tokio's sleep ends first, at exactly the deadline, since virtual time
//! jumps to it; on a live clock the precise thread ends it first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Instant as StdInstant;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// A wait for the clock thread: when, and whom to wake.
type Wait = (StdInstant, oneshot::Sender<()>);

/// Ends at `at`: on a live clock within tens of microseconds after it,
/// never before.
pub async fn until(at: Instant) {
    if at <= Instant::now() {
        return;
    }
    let (tx, rx) = oneshot::channel();
    if clock().send((at.into_std(), tx)).is_ok() {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => return,
            _ = rx => {}
        }
    }
    // The clock thread said it is time (or there is no thread). tokio's
    // clock must agree: a paused clock runs behind the real one, and its
    // waits end on its own time.
    if Instant::now() < at {
        tokio::time::sleep_until(at).await;
    }
}

/// The clock thread's inbox, started on first use.
fn clock() -> mpsc::Sender<Wait> {
    static CLOCK: OnceLock<mpsc::Sender<Wait>> = OnceLock::new();
    CLOCK
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            if let Err(e) = std::thread::Builder::new()
                .name("netsim-clock".into())
                .spawn(move || run(rx))
            {
                tracing::warn!(error = %e, "no precise clock thread; delays end on tokio's millisecond ticks");
            }
            tx
        })
        .clone()
}

/// Wakes every waiter when it is due, earliest first. Waiters whose task
/// went away (a connection closed) are dropped when due, unnoticed.
fn run(rx: mpsc::Receiver<Wait>) {
    let mut due: BinaryHeap<Reverse<(StdInstant, u64)>> = BinaryHeap::new();
    let mut waiters = std::collections::HashMap::<u64, oneshot::Sender<()>>::new();
    let mut next_id = 0u64;
    loop {
        let got = match due.peek() {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(Reverse((at, _))) => {
                rx.recv_timeout(at.saturating_duration_since(StdInstant::now()))
            }
        };
        match got {
            Ok((at, tx)) => {
                due.push(Reverse((at, next_id)));
                waiters.insert(next_id, tx);
                next_id += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = StdInstant::now();
        while let Some(Reverse((at, id))) = due.peek().copied() {
            if at > now {
                break;
            }
            due.pop();
            if let Some(tx) = waiters.remove(&id) {
                let _ = tx.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Under the paused clock a wait ends on that clock's time, never
    /// the real one's: the proxy's virtual-time tests measure injected
    /// delays exactly, however far the real clock has run ahead (here by
    /// a real 30 ms of waiting, while virtual time stands still).
    #[tokio::test(start_paused = true)]
    async fn under_the_paused_clock_a_wait_ends_on_its_time() {
        std::thread::sleep(Duration::from_millis(30));
        for ms in [1, 2, 20, 40] {
            let at = Instant::now() + Duration::from_millis(ms);
            until(at).await;
            assert_eq!(Instant::now(), at, "a wait of {ms} ms");
        }
    }

    /// On the live clock a wait never ends early, for many waits at once
    /// and out of order (the thread keeps them by deadline).
    #[tokio::test]
    async fn on_the_live_clock_a_wait_never_ends_early() {
        let start = Instant::now();
        let waits: Vec<_> = [7u64, 3, 5, 1, 9, 2]
            .into_iter()
            .map(|ms| {
                let at = start + Duration::from_millis(ms);
                tokio::spawn(async move {
                    until(at).await;
                    (at, Instant::now())
                })
            })
            .collect();
        for w in waits {
            let (at, ended) = w.await.unwrap();
            assert!(ended >= at, "ended {:?} before it was due", at - ended);
        }
    }
}
