//! When the failover endpoint moves, decided from health-check results and
//! the time alone: no clock, no I/O, so the rules are tested in virtual
//! milliseconds ([`Router`]).
//!
//! The rules are Route 53's (docs/failover.md): a region is healthy until
//! `failure_threshold` consecutive checks fail, and healthy again after as
//! many consecutive answered ones. When the active region is declared
//! unhealthy, the DNS answer changes at once, but a client holding the old
//! answer keeps sending there until its TTL passes; so the endpoint moves
//! `ttl_ms` after the declaration, to the first healthy region after the
//! active one in the list's order (wrapping round), or stays if none is
//! healthy then. If the active region is healthy again by then, the client
//! re-resolves to it and stays. It never moves back by itself: an operator
//! asks ([`Router::ask`]).

/// The settings the decision takes (the `[failover]` section's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub interval_ms: u64,
    pub failure_threshold: u32,
    pub ttl_ms: u64,
}

impl Settings {
    /// The longest a region can go unanswering before the endpoint moves:
    /// the outage begins at most one interval before the first failed
    /// check, `failure_threshold` checks declare it, then the TTL runs.
    pub fn bound_ms(&self) -> u64 {
        u64::from(self.failure_threshold) * self.interval_ms + self.ttl_ms
    }
}

/// One region's health as the checks have found it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    /// Consecutive failed checks, and consecutive answered ones.
    pub failures: u32,
    pub successes: u32,
    /// The last check: when, and whether the region answered.
    pub last_check_ms: Option<u64>,
    pub last_ok: Option<bool>,
    /// The first failed check of the current run of failures.
    pub first_failed_ms: Option<u64>,
}

/// A move the endpoint owes once the TTL has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub from: usize,
    pub first_failed_ms: u64,
    /// When the active region was declared unhealthy.
    pub declared_ms: u64,
    /// When clients move: `declared_ms + ttl_ms`.
    pub moves_at_ms: u64,
}

/// Why the endpoint moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The active region failed its health checks and the TTL passed.
    Health,
    /// An operator asked.
    Asked,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Health => "health",
            Why::Asked => "asked",
        }
    }
}

/// A move, as decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub from: usize,
    pub to: usize,
    pub at_ms: u64,
    pub why: Why,
    /// For a move on health: the first failed check and the declaration.
    pub first_failed_ms: Option<u64>,
    pub declared_ms: Option<u64>,
}

/// Why an asked-for move was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No region of the list by that name.
    Unknown(String),
    /// Already the active region, or not healthy.
    NotNow(String),
}

/// The decision's state: which region is active, each region's health and
/// the move owed.
#[derive(Clone, Debug)]
pub struct Router {
    pub regions: Vec<String>,
    pub settings: Settings,
    pub active: usize,
    pub health: Vec<Health>,
    pub pending: Option<Pending>,
}

impl Router {
    /// Active on the home (the first region). Every region starts healthy,
    /// as Route 53 takes a new health check until it has data.
    pub fn new(regions: Vec<String>, settings: Settings) -> Self {
        let health = regions
            .iter()
            .map(|_| Health {
                healthy: true,
                ..Health::default()
            })
            .collect();
        Router {
            regions,
            settings,
            active: 0,
            health,
            pending: None,
        }
    }

    /// Takes one round of checks made at `now_ms`, `answered[i]` for
    /// region `i`, and returns the move when the endpoint moves now.
    pub fn round(&mut self, now_ms: u64, answered: &[bool]) -> Option<Decided> {
        let threshold = self.settings.failure_threshold;
        for (h, &ok) in self.health.iter_mut().zip(answered) {
            h.last_check_ms = Some(now_ms);
            h.last_ok = Some(ok);
            if ok {
                h.successes += 1;
                h.failures = 0;
                h.first_failed_ms = None;
                if !h.healthy && h.successes >= threshold {
                    h.healthy = true;
                }
            } else {
                h.failures += 1;
                h.successes = 0;
                h.first_failed_ms.get_or_insert(now_ms);
                if h.healthy && h.failures >= threshold {
                    h.healthy = false;
                }
            }
        }
        let active = &self.health[self.active];
        if !active.healthy && self.pending.is_none() {
            self.pending = Some(Pending {
                from: self.active,
                first_failed_ms: active.first_failed_ms.unwrap_or(now_ms),
                declared_ms: now_ms,
                moves_at_ms: now_ms + self.settings.ttl_ms,
            });
        }
        self.tick(now_ms)
    }

    /// When the endpoint next has something to decide without a check:
    /// the end of the TTL of a move owed.
    pub fn wakeup_ms(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.moves_at_ms)
    }

    /// Moves if a move is owed and its TTL has passed at `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Option<Decided> {
        let p = self.pending.clone()?;
        if now_ms < p.moves_at_ms {
            return None;
        }
        if self.health[self.active].healthy {
            // Healthy again before clients re-resolved: they stay.
            self.pending = None;
            return None;
        }
        let n = self.regions.len();
        let to = (1..n)
            .map(|k| (self.active + k) % n)
            .find(|&i| self.health[i].healthy)?;
        self.pending = None;
        self.active = to;
        Some(Decided {
            from: p.from,
            to,
            at_ms: now_ms,
            why: Why::Health,
            first_failed_ms: Some(p.first_failed_ms),
            declared_ms: Some(p.declared_ms),
        })
    }

    /// An operator's move to `to`, or home with `None`, now: only to a
    /// region of the list that is healthy and not already active.
    pub fn ask(&mut self, to: Option<&str>, now_ms: u64) -> Result<Decided, Refusal> {
        let to = match to {
            None => 0,
            Some(name) => self.regions.iter().position(|r| r == name).ok_or_else(|| {
                Refusal::Unknown(format!(
                    "{name:?} is not in failover.regions ({})",
                    self.regions.join(", ")
                ))
            })?,
        };
        let name = &self.regions[to];
        if to == self.active {
            return Err(Refusal::NotNow(format!(
                "the failover endpoint already forwards to {name}"
            )));
        }
        let h = &self.health[to];
        if !h.healthy {
            return Err(Refusal::NotNow(format!(
                "{name} is not healthy yet: it has answered {} of the {} consecutive health checks (every {} ms) that make it healthy; ask again then",
                h.successes, self.settings.failure_threshold, self.settings.interval_ms
            )));
        }
        let from = self.active;
        self.active = to;
        self.pending = None;
        Ok(Decided {
            from,
            to,
            at_ms: now_ms,
            why: Why::Asked,
            first_failed_ms: None,
            declared_ms: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(
            vec!["a".into(), "b".into(), "c".into()],
            Settings {
                interval_ms: 1_000,
                failure_threshold: 3,
                ttl_ms: 5_000,
            },
        )
    }

    /// Rounds every second from `from` to `to` (inclusive) with `answered`,
    /// ticking every 100 ms between them as the endpoint's loop wakes; the
    /// first move made.
    fn run(r: &mut Router, from: u64, to: u64, answered: [bool; 3]) -> Option<Decided> {
        let mut t = from;
        while t <= to {
            let m = if t.is_multiple_of(1_000) {
                r.round(t, &answered)
            } else {
                r.tick(t)
            };
            if m.is_some() {
                return m;
            }
            t += 100;
        }
        None
    }

    #[test]
    fn moves_after_the_threshold_then_the_ttl_to_the_next_healthy_region() {
        let mut r = router();
        assert_eq!(run(&mut r, 0, 3_000, [true; 3]), None);
        // a stops answering after the check at 3 s: it fails at 4, 5, 6 s,
        // is declared at 6 s, and clients move at 11 s.
        assert_eq!(run(&mut r, 4_000, 5_900, [false, true, true]), None);
        assert!(r.health[0].healthy);
        assert_eq!(run(&mut r, 6_000, 6_000, [false, true, true]), None);
        assert_eq!(r.pending.as_ref().map(|p| p.moves_at_ms), Some(11_000));
        assert_eq!(r.wakeup_ms(), Some(11_000));
        let m = run(&mut r, 6_100, 20_000, [false, true, true]).unwrap();
        assert_eq!(
            m,
            Decided {
                from: 0,
                to: 1,
                at_ms: 11_000,
                why: Why::Health,
                first_failed_ms: Some(4_000),
                declared_ms: Some(6_000),
            }
        );
        // Within threshold × interval + TTL of the last answered check.
        assert!(m.at_ms - 3_000 <= r.settings.bound_ms());
        assert_eq!(r.active, 1);
        // It does not come back by itself once a is healthy again.
        assert_eq!(run(&mut r, 21_000, 40_000, [true; 3]), None);
        assert_eq!(r.active, 1);
    }

    #[test]
    fn a_region_healthy_again_before_the_ttl_keeps_its_clients() {
        let mut r = router();
        assert_eq!(run(&mut r, 0, 3_000, [false, true, true]), None);
        assert!(r.pending.is_some());
        // Answering again from 4 s: three answers make it healthy at 6 s,
        // before the move owed at 7 s.
        assert_eq!(run(&mut r, 4_000, 20_000, [true; 3]), None);
        assert_eq!((r.active, r.pending.is_none()), (0, true));
    }

    #[test]
    fn skips_unhealthy_regions_and_wraps_round_and_waits_when_none_is_healthy() {
        let mut r = router();
        r.active = 1;
        // b and c fail together: from b the next healthy one wraps to a.
        let m = run(&mut r, 0, 20_000, [true, false, false]).unwrap();
        assert_eq!((m.from, m.to), (1, 0));
        // Everything down: the endpoint stays where it is.
        assert_eq!(run(&mut r, 21_000, 40_000, [false; 3]), None);
        assert_eq!(r.active, 0);
        // c comes back: after three answers it is healthy and takes over.
        let m = run(&mut r, 41_000, 60_000, [false, false, true]).unwrap();
        assert_eq!((m.from, m.to, m.at_ms), (0, 2, 43_000));
    }

    #[test]
    fn a_threshold_of_one_and_no_ttl_move_at_the_first_failed_check() {
        let mut r = router();
        r.settings.failure_threshold = 1;
        r.settings.ttl_ms = 0;
        let m = r.round(1_000, &[false, true, true]).unwrap();
        assert_eq!((m.to, m.at_ms, m.declared_ms), (1, 1_000, Some(1_000)));
    }

    #[test]
    fn an_operator_moves_it_back_home_only_to_a_healthy_listed_region() {
        let mut r = router();
        run(&mut r, 0, 20_000, [false, true, true]).unwrap();
        assert_eq!(r.active, 1);
        assert!(
            matches!(r.ask(Some("zz"), 21_000), Err(Refusal::Unknown(e)) if e.contains("not in failover.regions (a, b, c)"))
        );
        assert!(
            matches!(r.ask(Some("b"), 21_000), Err(Refusal::NotNow(e)) if e.contains("already forwards to b"))
        );
        // a answers again, but two answers are not three.
        run(&mut r, 21_000, 22_000, [true; 3]);
        let e = r.ask(None, 22_500).unwrap_err();
        assert!(
            matches!(&e, Refusal::NotNow(e) if e.contains("answered 2 of the 3")),
            "{e:?}"
        );
        run(&mut r, 23_000, 23_000, [true; 3]);
        let m = r.ask(None, 23_100).unwrap();
        assert_eq!((m.from, m.to, m.why, m.at_ms), (1, 0, Why::Asked, 23_100));
        assert_eq!(r.active, 0);
    }
}
