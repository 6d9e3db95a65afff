//! A failover endpoint in a simulated drill (`[failover]`; docs/drills.md,
//! *A failover endpoint in a simulated drill*): the workload of its home
//! region is sent to the region it forwards to, and it moves as the
//! endpoint `meridian up` serves moves, by the same pure decision
//! ([`meridian_cluster::failover::decide::Router`]: Route 53's health
//! checks, failure threshold and TTL) on virtual time. A region answers
//! its health check unless it is crashed. What it forwarded and could not
//! forward is counted as the real endpoint's record counts it, so the
//! alarms on `FailoverFailedRequests` and `FailoverLatency`, and a stop
//! condition on them, judge a simulated drill as they judge a live one.

use std::collections::BTreeSet;

use meridian_cluster::failover::decide::{Decided, Router, Settings};
use meridian_scenario::scenario::Failover;

/// The failover endpoint's requests so far, from its record
/// (`GET /meridian/failover`, docs/failover.md).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct FailoverCounts {
    pub(crate) forwarded: u64,
    pub(crate) failed: u64,
    /// The time the forwarded requests took, summed, µs.
    pub(crate) latency_us: u64,
}

impl FailoverCounts {
    /// What was counted since `before`: nothing when there is no
    /// `before` (this read is where counting starts), and the whole of
    /// `self` where a count went back, the endpoint having started afresh.
    pub(crate) fn since(self, before: Option<FailoverCounts>) -> FailoverCounts {
        match before {
            None => FailoverCounts::default(),
            Some(b)
                if b.forwarded <= self.forwarded
                    && b.failed <= self.failed
                    && b.latency_us <= self.latency_us =>
            {
                FailoverCounts {
                    forwarded: self.forwarded - b.forwarded,
                    failed: self.failed - b.failed,
                    latency_us: self.latency_us - b.latency_us,
                }
            }
            _ => self,
        }
    }

    /// The counts of a record; `None` for one without them.
    pub(crate) fn of(record: &serde_json::Value) -> Option<FailoverCounts> {
        let r = &record["requests"];
        Some(FailoverCounts {
            forwarded: r["forwarded"].as_u64()?,
            failed: r["failed"].as_u64()?,
            latency_us: r["latency_us"].as_u64()?,
        })
    }
}

/// The endpoint's state in a simulated drill.
pub(crate) struct SimEndpoint {
    router: Router,
    interval_ms: u64,
    /// When the next round of health checks is due, ms into the drill.
    next_round_ms: u64,
    /// The end of a TTL already acted on, so a move owed with no healthy
    /// region to go to waits for the next round instead of being retried.
    ticked_ms: Option<u64>,
    /// The regions down at the last advance: a request the endpoint would
    /// forward to one fails at the endpoint, as a refused connection does.
    down: BTreeSet<String>,
    pub(crate) counts: FailoverCounts,
}

impl SimEndpoint {
    pub(crate) fn new(f: &Failover) -> SimEndpoint {
        let settings = Settings {
            interval_ms: f.interval_ms,
            failure_threshold: f.failure_threshold,
            ttl_ms: f.ttl_ms,
        };
        SimEndpoint {
            router: Router::new(f.regions.clone(), settings),
            interval_ms: f.interval_ms,
            next_round_ms: f.interval_ms,
            ticked_ms: None,
            down: BTreeSet::new(),
            counts: FailoverCounts::default(),
        }
    }

    /// The region whose workload goes through the endpoint.
    pub(crate) fn home(&self) -> &str {
        &self.router.regions[0]
    }

    /// Where it forwards now.
    pub(crate) fn active(&self) -> &str {
        &self.router.regions[self.router.active]
    }

    /// Whether the region it forwards to answers now.
    pub(crate) fn reachable(&self) -> bool {
        !self.down.contains(self.active())
    }

    /// A request it forwarded: answered by the region `took_us` after it
    /// was sent, or not answered (the region down, the request lost).
    pub(crate) fn count(&mut self, answered: bool, took_us: u64) {
        if answered {
            self.counts.forwarded += 1;
            self.counts.latency_us += took_us;
        } else {
            self.counts.failed += 1;
        }
    }

    /// The move owed whose TTL ends before the next round, if not yet
    /// acted on.
    fn owed_ms(&self) -> Option<u64> {
        self.router
            .wakeup_ms()
            .filter(|&at| at < self.next_round_ms && Some(at) != self.ticked_ms)
    }

    /// When the endpoint next has something to do, ms into the drill.
    pub(crate) fn wake_ms(&self) -> u64 {
        self.owed_ms().unwrap_or(self.next_round_ms)
    }

    /// The health rounds and moves due by `now_ms`, each region answering
    /// unless it is in `down`; returns each move made, as its time and its
    /// timeline label.
    pub(crate) fn advance(&mut self, now_ms: u64, down: &BTreeSet<String>) -> Vec<(u64, String)> {
        self.down.clone_from(down);
        let mut moves = Vec::new();
        loop {
            let (at, decided) = match self.owed_ms() {
                Some(at) if at <= now_ms => {
                    self.ticked_ms = Some(at);
                    (at, self.router.tick(at))
                }
                Some(_) => break,
                None if self.next_round_ms <= now_ms => {
                    let at = self.next_round_ms;
                    self.next_round_ms += self.interval_ms;
                    let answered: Vec<bool> = self
                        .router
                        .regions
                        .iter()
                        .map(|r| !down.contains(r))
                        .collect();
                    (at, self.router.round(at, &answered))
                }
                None => break,
            };
            if let Some(d) = decided {
                moves.push((at, self.label(&d)));
            }
        }
        moves
    }

    fn label(&self, d: &Decided) -> String {
        let name = |i: usize| self.router.regions[i].as_str();
        let detail = match (d.first_failed_ms, d.declared_ms) {
            (Some(first), Some(declared)) => format!(
                ": first failed check at {first} ms, declared unhealthy at {declared} ms, {} ms after the first",
                d.at_ms - first
            ),
            _ => String::new(),
        };
        format!(
            "failover endpoint moved {} → {} ({}{detail})",
            name(d.from),
            name(d.to),
            d.why.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> SimEndpoint {
        SimEndpoint::new(&Failover {
            regions: vec!["a".into(), "b".into(), "c".into()],
            interval_ms: 1_000,
            failure_threshold: 3,
            ttl_ms: 5_000,
        })
    }

    /// The home crashed at 1.5 s: its checks fail at 2, 3 and 4 s, it is
    /// declared at 4 s and the endpoint moves when the TTL ends at 9 s,
    /// to the next healthy region, skipping a crashed one.
    #[test]
    fn it_moves_after_the_threshold_and_the_ttl_to_the_next_healthy_region() {
        let mut e = endpoint();
        let none = BTreeSet::new();
        assert!(e.advance(1_400, &none).is_empty());
        let down: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        assert!(e.advance(8_999, &down).is_empty());
        assert_eq!(e.active(), "a");
        assert_eq!(e.wake_ms(), 9_000, "the round at 9 s, as the TTL ends");
        let moves = e.advance(9_000, &down);
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[0].0, 9_000);
        assert!(
            moves[0].1.starts_with(
                "failover endpoint moved a → c (health: first failed check at 2000 ms"
            ),
            "{moves:?}"
        );
        assert_eq!(e.active(), "c");
        assert_eq!(e.home(), "a");
    }

    /// With no healthy region to go to, a move owed waits: the loop does
    /// not spin on it, and the next round (here with b back) moves.
    #[test]
    fn a_move_with_nowhere_to_go_waits_for_a_region_to_be_healthy() {
        let mut e = endpoint();
        let all: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert!(e.advance(9_500, &all).is_empty());
        assert_eq!(e.active(), "a");
        assert_eq!(e.wake_ms(), 10_000);
        let b_back: BTreeSet<String> = ["a", "c"].iter().map(|s| s.to_string()).collect();
        // b needs three answered checks (10, 11, 12 s) to be healthy again.
        let moves = e.advance(12_000, &b_back);
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!((moves[0].0, e.active()), (12_000, "b"));
    }

    #[test]
    fn counts_since_a_read_start_there_and_again_after_a_restart() {
        let c = |forwarded, failed, latency_us| FailoverCounts {
            forwarded,
            failed,
            latency_us,
        };
        assert_eq!(c(5, 2, 100).since(None), c(0, 0, 0));
        assert_eq!(c(5, 2, 100).since(Some(c(3, 1, 40))), c(2, 1, 60));
        // Counts that went back: the endpoint started afresh.
        assert_eq!(c(1, 4, 10).since(Some(c(3, 1, 40))), c(1, 4, 10));
    }

    #[test]
    fn it_counts_as_the_endpoints_record_counts() {
        let mut e = endpoint();
        e.count(true, 2_000);
        e.count(true, 4_000);
        e.count(false, 0);
        assert_eq!(
            e.counts,
            FailoverCounts {
                forwarded: 2,
                failed: 1,
                latency_us: 6_000,
            }
        );
    }
}
