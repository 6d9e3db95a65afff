//! How long the live writer keeps gathering a group before it runs it.
//!
//! A commit costs much the same whether it carries one request or sixteen:
//! the WAL frames of pages every write touches (the log's last page, the
//! digest's upper levels), the fsync, and downstream of it one wake-up per
//! shipper and one replication message per peer. At everyday rates (a few
//! thousand writes and applies a second in a region) the writer is idle
//! between requests, so without waiting each group holds one to three of
//! them and the region pays that fixed work per write: at 1,000 writes/s
//! per region, a region made about 1,000 commits a second.
//!
//! So when requests are arriving fast enough that more are due within
//! [`MAX_WAIT`], the writer waits for them, up to [`TARGET`] requests or
//! [`MAX_WAIT`], whichever comes first. It never waits when the region is
//! idle (fewer than one more request expected within [`MAX_WAIT`]: waiting
//! would only add latency), when the queue already holds a full group
//! (under load the groups fill by themselves), when recent groups took
//! [`MAX_WAIT`] or more to run (their work dwarfs the commit's fixed cost,
//! and a writer that is the bottleneck, as in a catch-up of large batches
//! from a few links, would only lose time), or for a request that must
//! not wait ([`Pace`] is asked only about writes and applies; a STRONG
//! step, a repair or a truncation pass goes at once and takes the group
//! with it). Durability is unchanged: every request is still answered
//! only after its group's commit, fsync included.
//!
//! The rule is pure: it reads no clock, and the writer feeds it the times.

use std::time::Duration;

/// The longest a request waits for company. Well under the 10 ms a
/// replicated write is allowed at zero injected latency, and enough to
/// gather a useful group at 1,000 writes/s per region (3,000 writes and
/// applies a second in each region of three). Measured at that rate
/// (docs/performance.md, *The writer waits for company*): 1 ms took a
/// tenth to a fifth off a write's CPU, 1.5 ms about a quarter, and 2 ms
/// no more than 1.5 with more latency.
pub const MAX_WAIT: Duration = Duration::from_micros(1500);

/// A group this large is worth committing at once.
pub const TARGET: usize = 16;

/// How much of an estimate one group's observation moves.
const SMOOTHING: f64 = 0.2;

/// The arrival rate the writer has seen, how long its groups take, and the
/// waits they imply.
#[derive(Debug, Default)]
pub struct Pace {
    /// Requests per second, smoothed over recent groups.
    rate: f64,
    /// How long a group takes to run and commit, in µs, smoothed.
    run_us: f64,
    /// When the last group started gathering, in µs of the writer's clock.
    last_start: Option<u64>,
}

impl Pace {
    /// Records that a group of `jobs` requests started gathering at
    /// `start_us`: every request it took arrived since the previous group
    /// started, so `jobs` over that interval is the arrival rate then.
    pub fn started(&mut self, start_us: u64, jobs: usize) {
        if let Some(last) = self.last_start {
            let secs = start_us.saturating_sub(last).max(1) as f64 / 1e6;
            let sample = jobs as f64 / secs;
            self.rate += SMOOTHING * (sample - self.rate);
        }
        self.last_start = Some(start_us);
    }

    /// Records that a group took `run_us` to run and commit.
    pub fn ran(&mut self, run_us: u64) {
        self.run_us += SMOOTHING * (run_us as f64 - self.run_us);
    }

    /// How long a group that holds `queued` requests, every one of which may
    /// wait, should keep gathering from when it started.
    pub fn wait(&self, queued: usize) -> Duration {
        if queued >= TARGET
            || self.rate * MAX_WAIT.as_secs_f64() < 1.0
            || self.run_us >= MAX_WAIT.as_micros() as f64
        {
            return Duration::ZERO;
        }
        let fill = (TARGET - queued) as f64 / self.rate;
        MAX_WAIT.min(Duration::from_secs_f64(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups of `jobs` requests, one every `every_us`, from time zero.
    fn steady(jobs: usize, every_us: u64, groups: u64) -> Pace {
        let mut pace = Pace::default();
        for i in 0..groups {
            pace.started(i * every_us, jobs);
        }
        pace
    }

    #[test]
    fn an_idle_region_never_waits() {
        // One request every 10 ms: fewer than one more due within MAX_WAIT.
        let pace = steady(1, 10_000, 50);
        assert_eq!(pace.wait(1), Duration::ZERO);
        // Nothing seen yet: no estimate, no wait.
        assert_eq!(Pace::default().wait(1), Duration::ZERO);
    }

    #[test]
    fn everyday_rates_wait_at_most_the_bound() {
        // 3,000 requests a second, three per group of a millisecond: 15
        // more would take 5 ms.
        let pace = steady(3, 1_000, 50);
        assert_eq!(pace.wait(1), MAX_WAIT);
    }

    #[test]
    fn high_rates_wait_only_until_the_group_is_due_to_fill() {
        // 20,000 requests a second: 15 more arrive in 0.75 ms.
        let pace = steady(20, 1_000, 100);
        let wait = pace.wait(1);
        assert!(
            wait > Duration::from_micros(700) && wait < Duration::from_micros(800),
            "{wait:?}"
        );
        // A queue that already holds a group goes at once.
        assert_eq!(pace.wait(TARGET), Duration::ZERO);
    }

    #[test]
    fn groups_that_take_long_to_run_go_without_waiting() {
        // 3,000 requests a second, in groups that take 4 ms to run (a
        // writer that is the bottleneck).
        let mut pace = steady(3, 1_000, 50);
        for _ in 0..50 {
            pace.ran(4_000);
        }
        assert_eq!(pace.wait(1), Duration::ZERO);
        // The same rate in groups that are quick to run does wait.
        for _ in 0..50 {
            pace.ran(300);
        }
        assert!(pace.wait(1) > Duration::ZERO);
    }

    #[test]
    fn the_estimate_follows_a_rate_that_drops() {
        let mut pace = steady(3, 1_000, 50);
        assert_eq!(pace.wait(1), MAX_WAIT);
        // Then one request every 50 ms.
        for i in 1..=30 {
            pace.started(49_000 + i * 50_000, 1);
        }
        assert_eq!(pace.wait(1), Duration::ZERO);
    }
}
