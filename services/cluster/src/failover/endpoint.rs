//! The failover endpoint's state and its record: which region it forwards
//! to ([`Endpoint::active`]), the requests it forwarded and failed, the
//! health rounds ([`Endpoint::round`], which [`super::health`] runs) fed to
//! the pure decision ([`super::decide::Router`]), every move with its
//! failed requests and missing writes ([`super::rpo`]), the moves an
//! operator asks for ([`Endpoint::move_to`]), and the status document
//! [`super::routes`] serves (`GET /meridian/failover`, docs/failover.md).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use meridian_core::{EncodedKey, PhysicalClock, Version};
use meridian_layout::failover::FailoverSection;
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use super::decide::{Decided, Refusal, Router, Settings};
use super::rpo::{self, Gap, State};
use crate::http::{Target, request};

/// Missing writes looked up again per health round, across every move.
const RECHECK_PER_ROUND: usize = 1_000;
/// Missing writes a move lists in the status document; past that, counts.
pub const LISTED_PER_MOVE: usize = 1_000;

/// Missing writes of one move to look up again: the move, the writes'
/// places in its list, and each write's table, key and version.
type Ask = (usize, Vec<usize>, Vec<(String, EncodedKey, Version)>);

/// Why a move was refused.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// The request names no region of the endpoint's list.
    #[error("{0}")]
    Invalid(String),
    /// The region may not take the traffic now: unhealthy, or already
    /// active; or the endpoint has not started its health checks.
    #[error("{0}")]
    Refused(String),
}

/// A region the endpoint may forward to.
#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    /// `host:port` of its DynamoDB endpoint.
    pub dynamo: String,
    pub data_dir: PathBuf,
}

/// One move, as the status document shows it.
struct Move {
    decided: Decided,
    at_unix_ms: u64,
    /// Requests that failed from the old region's last answered health
    /// check to the move.
    failed_requests: u64,
    /// The comparison of the two stores: `None` while it runs.
    gap: Option<Result<Gap, String>>,
}

struct Inner {
    router: Router,
    /// Whether the home has answered a check: rounds count from then, so
    /// regions still starting are not failed over from.
    armed: bool,
    /// Per region: a log position at or before where the endpoint began
    /// sending there, and when it began (ms since the epoch).
    floor: Vec<u64>,
    routed_since_unix_ms: Vec<u64>,
    /// Each region's last check error.
    last_error: Vec<Option<String>>,
    /// `failed` when the active region last answered a check.
    failed_at_last_ok: u64,
    moves: Vec<Move>,
    /// Where the next pass of [`Endpoint::maintain`] takes up the missing
    /// writes it looks up again, in [`recheck_order`]: a pass looks up at
    /// most [`RECHECK_PER_ROUND`], so writes that never come back (a
    /// table the new region holds no replica of) must not keep the others
    /// from being looked at.
    recheck_from: usize,
}

/// Every write still missing, as (move, write) indices: the newest move's
/// first, as the one a client is most likely waiting on.
fn recheck_order(moves: &[Move]) -> Vec<(usize, usize)> {
    moves
        .iter()
        .enumerate()
        .rev()
        .filter_map(|(m, mv)| match &mv.gap {
            Some(Ok(gap)) => Some((m, gap)),
            _ => None,
        })
        .flat_map(|(m, gap)| {
            gap.missing
                .iter()
                .enumerate()
                .filter(|(_, w)| w.state == State::Missing)
                .map(move |(w, _)| (m, w))
        })
        .collect()
}

/// The next `budget` of `order`, from position `from` (wrapping round, each
/// at most once), and where the batch after takes up.
fn next_batch<T: Copy>(order: &[T], from: usize, budget: usize) -> (Vec<T>, usize) {
    if order.is_empty() {
        return (Vec::new(), 0);
    }
    let start = from % order.len();
    let take = order.len().min(budget);
    let batch = (0..take)
        .map(|k| order[(start + k) % order.len()])
        .collect();
    (batch, start + take)
}

/// The failover endpoint.
pub struct Endpoint {
    pub listen: std::net::SocketAddr,
    pub regions: Vec<Region>,
    pub section: FailoverSection,
    started: Instant,
    started_unix_ms: u64,
    forwarded: AtomicU64,
    failed: AtomicU64,
    /// The time the forwarded requests took, from being sent on to their
    /// answer, summed, µs: `FailoverLatency` is its mean per sample.
    latency_us: AtomicU64,
    /// A pass of [`Endpoint::maintain`] is running.
    maintaining: AtomicBool,
    inner: Mutex<Inner>,
}

/// The wall clock, ms since the epoch: the times the record gives.
fn unix_ms() -> u64 {
    meridian_core::SystemClock.now_micros() / 1_000
}

impl Endpoint {
    /// The endpoint of `section`, on the home region, before any check.
    pub fn new(
        listen: std::net::SocketAddr,
        regions: Vec<Region>,
        section: FailoverSection,
    ) -> Self {
        let settings = Settings {
            interval_ms: section.interval_ms,
            failure_threshold: section.failure_threshold,
            ttl_ms: section.ttl_ms,
        };
        let names = regions.iter().map(|r| r.name.clone()).collect();
        let now = unix_ms();
        // Log positions read before any request is forwarded: a floor
        // for every write made through the endpoint.
        let floor = regions.iter().map(|r| rpo::log_head(&r.data_dir)).collect();
        let n = regions.len();
        Endpoint {
            listen,
            regions,
            section,
            started: Instant::now(),
            started_unix_ms: now,
            forwarded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
            maintaining: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                router: Router::new(names, settings),
                armed: false,
                floor,
                routed_since_unix_ms: vec![now; n],
                last_error: vec![None; n],
                failed_at_last_ok: 0,
                moves: Vec::new(),
                recheck_from: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The region requests go to now.
    pub fn active(&self) -> (usize, &Region) {
        let i = self.lock().router.active;
        (i, &self.regions[i])
    }

    /// Counts a request forwarded and answered `took` after it was sent
    /// on, or one that failed.
    pub fn count(&self, answered: bool, took: Duration) {
        if answered {
            // The sum before the count, released with it: a reader that
            // acquires the count sees its time too, so a mean never counts
            // a request whose time was not yet added.
            self.latency_us
                .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
            self.forwarded.fetch_add(1, Ordering::Release);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One health check: `GET /` on the region's DynamoDB endpoint, which
    /// answers `healthy: <host>` as DynamoDB's does; healthy on a 2xx or
    /// 3xx within the timeout, as a Route 53 HTTP health check judges.
    async fn check(&self, r: &Region) -> Result<(), String> {
        let timeout = Duration::from_millis(self.section.timeout_ms);
        match request(
            &Target::at(&r.dynamo, "/"),
            "GET",
            &[],
            Vec::new(),
            4096,
            timeout,
        )
        .await
        {
            Ok(res) if (200..400).contains(&res.status) => Ok(()),
            Ok(res) => Err(format!("answered HTTP {}", res.status)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// When a move decided but not yet made is owed, by its TTL.
    pub(super) fn owed(&self) -> Option<Instant> {
        self.lock()
            .router
            .wakeup_ms()
            .map(|ms| self.started + Duration::from_millis(ms))
    }

    /// The move owed by now, if a healthy region can take it.
    pub(super) fn tick(&self) -> Option<Decided> {
        self.lock().router.tick(self.now_ms())
    }

    /// One round: every region checked at once, the results fed to the
    /// decision, floors of the regions not active read again, and missing
    /// writes looked up again.
    pub(super) async fn round(self: &Arc<Self>) {
        let mut checks = tokio::task::JoinSet::new();
        for i in 0..self.regions.len() {
            let me = self.clone();
            checks.spawn(async move { (i, me.check(&me.regions[i]).await) });
        }
        let mut results = vec![Err("not checked".to_string()); self.regions.len()];
        while let Some(done) = checks.join_next().await {
            if let Ok((i, r)) = done {
                results[i] = r;
            }
        }
        let answered: Vec<bool> = results.iter().map(Result::is_ok).collect();
        let decided = {
            let mut inner = self.lock();
            for (e, r) in inner.last_error.iter_mut().zip(&results) {
                *e = r.as_ref().err().cloned();
            }
            if !inner.armed && !answered[0] {
                return;
            }
            inner.armed = true;
            if answered[inner.router.active] {
                inner.failed_at_last_ok = self.failed.load(Ordering::Relaxed);
            }
            inner.router.round(self.now_ms(), &answered)
        };
        if let Some(d) = decided {
            self.moved(d);
        }
        // Store reads run beside the loop, one pass at a time, so a slow
        // disk never delays a check or a move.
        if !self.maintaining.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            tokio::task::spawn_blocking(move || {
                me.maintain();
                me.maintaining.store(false, Ordering::Release);
            });
        }
    }

    /// Store reads between rounds: floors of the regions not active (so a
    /// move there scans from a recent position), and missing writes that
    /// may have come back.
    fn maintain(&self) {
        let active = self.lock().router.active;
        for (i, r) in self.regions.iter().enumerate() {
            if i != active {
                let head = rpo::log_head(&r.data_dir);
                let mut inner = self.lock();
                // A move there since the read keeps the floor it had.
                if inner.router.active != i {
                    inner.floor[i] = head;
                }
            }
        }
        let mut asks: Vec<Ask> = Vec::new();
        {
            let mut inner = self.lock();
            let order = recheck_order(&inner.moves);
            let (mut picked, next) = next_batch(&order, inner.recheck_from, RECHECK_PER_ROUND);
            inner.recheck_from = next;
            picked.sort_unstable();
            for (m, w) in picked {
                let Some(Ok(gap)) = &inner.moves[m].gap else {
                    continue;
                };
                let write = &gap.missing[w];
                let key = (
                    write.table.clone(),
                    write.key.clone(),
                    write.version.clone(),
                );
                match asks.last_mut() {
                    Some((last, idx, writes)) if *last == m => {
                        idx.push(w);
                        writes.push(key);
                    }
                    _ => asks.push((m, vec![w], vec![key])),
                }
            }
        }
        for (m, idx, writes) in asks {
            let to = self.lock().moves[m].decided.to;
            let Ok(found) = rpo::recheck(&self.regions[to].data_dir, &writes) else {
                continue;
            };
            let (now, now_unix) = (self.now_ms(), unix_ms());
            let mut inner = self.lock();
            let Some(Ok(gap)) = &mut inner.moves[m].gap else {
                continue;
            };
            for (w, f) in idx.into_iter().zip(found) {
                if let Some((state, head)) = f {
                    let write = &mut gap.missing[w];
                    write.state = state;
                    write.resolved_ms = Some(now);
                    write.resolved_unix_ms = Some(now_unix);
                    write.resolved_by = Some(head);
                }
            }
        }
    }

    /// Records a move decided just now and starts the comparison of the
    /// two stores beside it.
    pub(super) fn moved(self: &Arc<Self>, d: Decided) {
        let at_unix_ms = unix_ms();
        let (from, to) = (d.from, d.to);
        let (index, floor, since) = {
            let mut inner = self.lock();
            let failed = self.failed.load(Ordering::Relaxed);
            let failed_requests = failed.saturating_sub(inner.failed_at_last_ok);
            inner.failed_at_last_ok = failed;
            let floor = inner.floor[from];
            let since = inner.routed_since_unix_ms[from];
            inner.routed_since_unix_ms[to] = at_unix_ms;
            inner.moves.push(Move {
                decided: d,
                at_unix_ms,
                failed_requests,
                gap: None,
            });
            (inner.moves.len() - 1, floor, since)
        };
        tracing::warn!(
            from = %self.regions[from].name,
            to = %self.regions[to].name,
            "the failover endpoint moved"
        );
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let (old, new) = (&me.regions[from], &me.regions[to]);
            let gap = rpo::compare(
                (&old.name, &old.data_dir),
                (&new.name, &new.data_dir),
                floor,
                since * 1_000,
            )
            .map_err(|e| e.to_string());
            me.lock().moves[index].gap = Some(gap);
        });
    }

    /// Moves the endpoint to `region` now, or to its home with `None`, as
    /// an operator asks; answers the status after the move.
    pub fn move_to(self: &Arc<Self>, region: Option<&str>) -> Result<Json, MoveError> {
        let decided = {
            let mut inner = self.lock();
            if !inner.armed {
                return Err(MoveError::Refused(format!(
                    "the failover endpoint has not started its health checks: its home {} has not answered one yet",
                    self.regions[0].name
                )));
            }
            inner
                .router
                .ask(region, self.now_ms())
                .map_err(|r| match r {
                    Refusal::Unknown(m) => MoveError::Invalid(m),
                    Refusal::NotNow(m) => MoveError::Refused(m),
                })?
        };
        self.moved(decided);
        Ok(self.status())
    }

    /// The status document of `GET /meridian/failover` (docs/failover.md).
    pub fn status(&self) -> Json {
        let inner = self.lock();
        let r = &inner.router;
        let name = |i: usize| self.regions[i].name.clone();
        let health: Vec<Json> = r
            .health
            .iter()
            .enumerate()
            .map(|(i, h)| {
                json!({
                    "region": name(i),
                    "dynamo": self.regions[i].dynamo,
                    "healthy": h.healthy,
                    "consecutive_failures": h.failures,
                    "consecutive_successes": h.successes,
                    "last_check_ms": h.last_check_ms,
                    "last_ok": h.last_ok,
                    "last_error": inner.last_error[i],
                })
            })
            .collect();
        let moves: Vec<Json> = inner.moves.iter().map(|m| self.move_json(m)).collect();
        json!({
            "listen": self.listen.to_string(),
            "regions": self.regions.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            "home": name(0),
            "active": name(r.active),
            "armed": inner.armed,
            "settings": {
                "interval_ms": self.section.interval_ms,
                "failure_threshold": self.section.failure_threshold,
                "ttl_ms": self.section.ttl_ms,
                "timeout_ms": self.section.timeout_ms,
                "bound_ms": r.settings.bound_ms(),
                "recheck_per_round": RECHECK_PER_ROUND,
            },
            "started_unix_ms": self.started_unix_ms,
            "now_ms": self.now_ms(),
            "requests": {
                "forwarded": self.forwarded.load(Ordering::Acquire),
                "failed": self.failed.load(Ordering::Relaxed),
                "latency_us": self.latency_us.load(Ordering::Relaxed),
            },
            "health": health,
            "pending": r.pending.as_ref().map(|p| json!({
                "from": name(p.from),
                "first_failed_check_ms": p.first_failed_ms,
                "declared_ms": p.declared_ms,
                "moves_at_ms": p.moves_at_ms,
            })),
            "moves": moves,
        })
    }

    fn move_json(&self, m: &Move) -> Json {
        let d = &m.decided;
        let (gap, error) = match &m.gap {
            None => (None, None),
            Some(Ok(g)) => (Some(g), None),
            Some(Err(e)) => (None, Some(e.clone())),
        };
        let count = |s: State| gap.map(|g| g.missing.iter().filter(|w| w.state == s).count());
        json!({
            "at_ms": d.at_ms,
            "at_unix_ms": m.at_unix_ms,
            "from": self.regions[d.from].name,
            "to": self.regions[d.to].name,
            "why": d.why.as_str(),
            "first_failed_check_ms": d.first_failed_ms,
            "declared_ms": d.declared_ms,
            "failed_requests": m.failed_requests,
            "missing": {
                "compared": gap.is_some(),
                "error": error,
                "scanned": gap.map(|g| g.scanned),
                "keys_written": gap.map(|g| g.keys_written),
                "partial": gap.map(|g| g.partial),
                "count": gap.map(|g| g.missing.len()),
                "still_missing": count(State::Missing),
                "came_back": count(State::CameBack),
                "superseded": count(State::Superseded),
                "writes": gap.map(|g| g.missing.iter().take(LISTED_PER_MOVE).map(|w| w.json()).collect::<Vec<_>>()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::next_batch;

    /// Missing writes are looked up again in turn: a batch smaller than
    /// the list takes up where the last one stopped, so writes that never
    /// come back keep no other from being looked at (the smoke run's first
    /// move listed 1,621 of them, and a later move's 48 were never looked
    /// at again).
    #[test]
    fn missing_writes_are_looked_up_again_in_turn() {
        let order: Vec<u32> = (0..5).collect();
        let (a, next) = next_batch(&order, 0, 3);
        assert_eq!(a, [0, 1, 2]);
        let (b, next) = next_batch(&order, next, 3);
        assert_eq!(b, [3, 4, 0]);
        let (c, _) = next_batch(&order, next, 3);
        assert_eq!(c, [1, 2, 3]);
        // A budget past the list takes each once.
        assert_eq!(next_batch(&order, 7, 10).0, [2, 3, 4, 0, 1]);
        assert_eq!(next_batch::<u32>(&[], 4, 3), (vec![], 0));
    }
}
