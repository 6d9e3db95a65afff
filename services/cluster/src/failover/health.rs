//! The failover endpoint's health loop as a worker
//! ([`meridian_region::runner`]): each step makes a move whose TTL has
//! passed, runs a round of health checks when one is due, and says how
//! long to sleep until the next of the two.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use meridian_region::runner::{Next, Work};
use meridian_region::worker::Worker;
use tokio::time::Instant;

use super::endpoint::Endpoint;

/// The health checks of one endpoint: a round every interval, and a wake
/// at the end of a move's TTL between rounds.
pub struct Health {
    endpoint: Arc<Endpoint>,
    next_round: Instant,
}

impl Health {
    pub fn new(endpoint: Arc<Endpoint>) -> Self {
        Health {
            endpoint,
            next_round: Instant::now(),
        }
    }
}

impl Work for Health {
    type Error = Infallible;

    const AT_START: bool = true;

    async fn work(&mut self, _: &Worker) -> Result<Next, Infallible> {
        let e = &self.endpoint;
        // A move owed whose time passed during a round is made now; one
        // with no healthy region to take it waits for the next round
        // rather than waking at once, again and again.
        if e.owed().is_some_and(|w| w <= Instant::now())
            && let Some(d) = e.tick()
        {
            e.moved(d);
            return Ok(Next::Again);
        }
        if Instant::now() >= self.next_round {
            e.round().await;
            let interval = Duration::from_millis(e.section.interval_ms);
            self.next_round += interval;
            if self.next_round < Instant::now() {
                self.next_round = Instant::now() + interval;
            }
        }
        let now = Instant::now();
        let wake = e
            .owed()
            .filter(|w| *w > now)
            .map_or(self.next_round, |w| w.min(self.next_round));
        Ok(Next::After(wake.saturating_duration_since(now)))
    }

    /// Never idle: every step says when the next is due.
    async fn wait(&mut self) {
        std::future::pending().await
    }
}
