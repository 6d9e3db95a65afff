//! Hybrid logical clocks.
//!
//! A timestamp is `(physical µs, logical)`. The clock algorithm is two pure
//! functions, [`tick`] and [`observe`], so their laws are property-tested
//! directly; [`Hlc`] only adds a mutex and a physical clock source.
//!
//! The physical clock is a trait object rather than a `fn` pointer so that
//! each region in one process (tests, the deterministic simulator) can read
//! its own skewed or virtual clock.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// Default bound on how far a remote timestamp may run ahead of local
/// physical time, as in CockroachDB.
pub const DEFAULT_MAX_OFFSET_MICROS: u64 = 500_000;

/// A hybrid-logical-clock reading. Ordered by `(physical, logical)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub physical: u64,
    pub logical: u32,
}

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp {
        physical: 0,
        logical: 0,
    };

    pub fn new(physical: u64, logical: u32) -> Self {
        Timestamp { physical, logical }
    }

    /// The next timestamp. When the logical counter is full it carries into
    /// the physical part (borrowing one microsecond from the future) instead
    /// of wrapping; `None` only at the very end of time.
    pub fn successor(self) -> Option<Timestamp> {
        match self.logical.checked_add(1) {
            Some(l) => Some(Timestamp::new(self.physical, l)),
            None => self.physical.checked_add(1).map(|p| Timestamp::new(p, 0)),
        }
    }

    /// 12 bytes, big-endian: bytewise order equals timestamp order.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.physical.to_be_bytes());
        b[8..].copy_from_slice(&self.logical.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; 12]) -> Self {
        let mut p = [0u8; 8];
        p.copy_from_slice(&b[..8]);
        let mut l = [0u8; 4];
        l.copy_from_slice(&b[8..]);
        Timestamp::new(u64::from_be_bytes(p), u32::from_be_bytes(l))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}+{}",
            self.physical / 1_000_000,
            self.physical % 1_000_000,
            self.logical
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HlcError {
    #[error(
        "clock drift guard: remote timestamp {remote} is {ahead_micros} µs ahead of local physical time, the limit is {max_offset_micros} µs"
    )]
    DriftRefused {
        remote: Timestamp,
        ahead_micros: u64,
        max_offset_micros: u64,
    },
    #[error("hybrid logical clock exhausted at {0}")]
    Exhausted(Timestamp),
}

/// The next local timestamp after `last`, given physical time `now`.
/// Strictly greater than `last`; equal to `(now, 0)` when physical time has moved on.
pub fn tick(last: Timestamp, now: u64) -> Result<Timestamp, HlcError> {
    if now > last.physical {
        Ok(Timestamp::new(now, 0))
    } else {
        last.successor().ok_or(HlcError::Exhausted(last))
    }
}

/// Merges a remote timestamp into the clock: the result is strictly greater
/// than both `last` and `remote`. A remote timestamp more than `max_offset`
/// ahead of `now` is refused and the clock is left as it was.
pub fn observe(
    last: Timestamp,
    remote: Timestamp,
    now: u64,
    max_offset: u64,
) -> Result<Timestamp, HlcError> {
    if remote.physical > now.saturating_add(max_offset) {
        return Err(HlcError::DriftRefused {
            remote,
            ahead_micros: remote.physical - now,
            max_offset_micros: max_offset,
        });
    }
    let high = last.max(remote);
    if now > high.physical {
        Ok(Timestamp::new(now, 0))
    } else {
        high.successor().ok_or(HlcError::Exhausted(high))
    }
}

/// A source of physical time in microseconds since the Unix epoch.
pub trait PhysicalClock: Send + Sync + 'static {
    fn now_micros(&self) -> u64;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl PhysicalClock for SystemClock {
    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    }
}

/// A clock under test control: reads whatever was last set.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    pub fn new(micros: u64) -> Self {
        ManualClock(std::sync::atomic::AtomicU64::new(micros))
    }
    pub fn set(&self, micros: u64) {
        self.0.store(micros, Ordering::SeqCst);
    }
    pub fn advance(&self, micros: u64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl PhysicalClock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Injected clock skew: `base + offset + (base - anchor) × drift_ppm / 10⁶`.
/// Settable at run time; the HLC reads this while latency measurements keep
/// reading the unskewed base, so reports never depend on injected skew.
pub struct SkewedClock {
    base: Arc<dyn PhysicalClock>,
    offset_micros: AtomicI64,
    drift_ppm: AtomicI64,
    anchor: AtomicI64,
}

impl SkewedClock {
    pub fn new(base: Arc<dyn PhysicalClock>) -> Self {
        SkewedClock {
            base,
            offset_micros: AtomicI64::new(0),
            drift_ppm: AtomicI64::new(0),
            anchor: AtomicI64::new(0),
        }
    }

    /// Sets the skew. Drift accumulates from this moment.
    pub fn set_skew(&self, offset_micros: i64, drift_ppm: i64) {
        self.anchor
            .store(self.base.now_micros() as i64, Ordering::SeqCst);
        self.offset_micros.store(offset_micros, Ordering::SeqCst);
        self.drift_ppm.store(drift_ppm, Ordering::SeqCst);
    }

    pub fn skew(&self) -> (i64, i64) {
        (
            self.offset_micros.load(Ordering::SeqCst),
            self.drift_ppm.load(Ordering::SeqCst),
        )
    }

    pub fn base(&self) -> &Arc<dyn PhysicalClock> {
        &self.base
    }
}

impl PhysicalClock for SkewedClock {
    fn now_micros(&self) -> u64 {
        let base = self.base.now_micros() as i128;
        let elapsed = base - i128::from(self.anchor.load(Ordering::SeqCst));
        let drift = elapsed * i128::from(self.drift_ppm.load(Ordering::SeqCst)) / 1_000_000;
        let skewed = base + i128::from(self.offset_micros.load(Ordering::SeqCst)) + drift;
        skewed.clamp(0, i128::from(u64::MAX)) as u64
    }
}

/// A region's clock: the last issued timestamp behind a mutex.
pub struct Hlc {
    clock: Arc<dyn PhysicalClock>,
    last: Mutex<Timestamp>,
    max_offset_micros: u64,
}

impl Hlc {
    pub fn new(clock: Arc<dyn PhysicalClock>, max_offset_micros: u64) -> Self {
        Hlc {
            clock,
            last: Mutex::new(Timestamp::ZERO),
            max_offset_micros,
        }
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // The guarded value is a Copy timestamp; a panic elsewhere cannot leave it torn.
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issues a timestamp for a local event.
    pub fn now(&self) -> Result<Timestamp, HlcError> {
        let mut last = self.last();
        *last = tick(*last, self.clock.now_micros())?;
        Ok(*last)
    }

    /// Takes in a remote timestamp, subject to the drift guard.
    pub fn observe(&self, remote: Timestamp) -> Result<Timestamp, HlcError> {
        let mut last = self.last();
        *last = observe(
            *last,
            remote,
            self.clock.now_micros(),
            self.max_offset_micros,
        )?;
        Ok(*last)
    }

    /// Raises the clock to at least `ts` without a drift check: used at start-up
    /// with the highest timestamp found in the durable log.
    pub fn restore(&self, ts: Timestamp) {
        let mut last = self.last();
        *last = (*last).max(ts);
    }

    /// The last timestamp issued or observed. Every later [`Hlc::now`] is
    /// strictly above it, whatever the physical clock does (a skew
    /// injected backwards included), which [`Hlc::peek`] cannot promise.
    pub fn issued(&self) -> Timestamp {
        *self.last()
    }

    /// The current reading without issuing one.
    pub fn peek(&self) -> Timestamp {
        let last = *self.last();
        last.max(Timestamp::new(self.clock.now_micros(), 0))
    }

    pub fn max_offset_micros(&self) -> u64 {
        self.max_offset_micros
    }
}
