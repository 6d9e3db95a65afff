//! The shipper's protocol, as a pure state machine.
//!
//! [`Shipper`] decides everything about one outbound link: when to
//! connect, where to resume after the peer's `Welcome`, how many batches
//! may be in flight, when an acknowledged position is worth writing to the
//! store, what to do with a refusal, and how long to wait before the next
//! attempt. It does no I/O and reads no clock: the adapter
//! ([`super::outbound`]) feeds it [`Event`]s with the current time and carries
//! out the [`Action`]s it queues, over tonic on a real network or on
//! turmoil's simulated one alike. The golden scripts in `testdata/` drive
//! it directly.
//!
//! It never sees an entry: a batch is its last position and its length,
//! so the state machine copies nothing of what it ships: the entries go
//! from the store to the stream without passing through it.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use super::receiver::MAX_BATCH_FILL_BYTES;

/// How often an acknowledged position is written to the store at most.
/// Status reads the position from memory; the stored copy only serves a
/// restart, where a stale one costs nothing (the receiver's `Welcome` is
/// authoritative), so it is not written per ack.
pub const WATERMARK_EVERY: Duration = Duration::from_millis(200);
/// A safety net: with room in the window, the log is re-read this often
/// even if a wake-up from the writer was missed.
pub const REREAD_EVERY: Duration = Duration::from_millis(500);

/// Shipper knobs. The defaults suit loopback and simulated WAN links alike.
#[derive(Debug, Clone)]
pub struct ReplicationTuning {
    /// Most log entries per batch.
    pub batch_entries: usize,
    /// Batches stop growing past this many bytes.
    pub batch_bytes: usize,
    /// Unacknowledged batches in flight per peer. Large enough that a link
    /// with a long round trip and small batches (a low write rate) does not
    /// stall for an ack: at 1,000 writes/s every batch holds about one
    /// entry, and an 80 ms round trip needs some 80 of them in flight.
    pub window: usize,
    /// Unacknowledged entries in flight per peer: bounds the memory a
    /// backlog can hold in a link's send queue when batches are full.
    pub window_entries: usize,
    /// HTTP/2 pings: a partition can wedge a TCP connection silently, and
    /// pings are what notice it so the link reconnects after a heal.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    /// Caps the reconnect backoff: a restarted peer is found again within
    /// this, and a refused connection attempt costs next to nothing.
    pub backoff_max: Duration,
    /// How long to wait before retrying entries the peer refused (drift guard).
    pub refusal_retry: Duration,
    /// How a receiver makes this peer's entries visible: partition order
    /// (DynamoDB's, the default) or log order (docs/replication.md).
    pub order: super::ReplicationOrder,
    /// Partition order's lanes: partitions per table and lane delays.
    pub lanes: super::LaneModel,
    /// Ship an item's quick changes pending in one batch as its latest
    /// version (DynamoDB's way, the default), or every version
    /// (`replication_coalesce = false`, for comparison; [`super::coalesce`]).
    pub coalesce: bool,
}

impl Default for ReplicationTuning {
    fn default() -> Self {
        ReplicationTuning {
            batch_entries: 1000,
            batch_bytes: 1 << 20,
            window: 256,
            window_entries: 16_000,
            keepalive_interval: Duration::from_millis(1000),
            keepalive_timeout: Duration::from_millis(1000),
            // A dial (TCP, TLS, HTTP/2) and then Hello's answer each get
            // this long; a link retries within about a keepalive interval
            // of a heal.
            connect_timeout: Duration::from_millis(1000),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(1000),
            refusal_retry: Duration::from_millis(500),
            order: super::ReplicationOrder::default(),
            lanes: super::LaneModel::default(),
            coalesce: true,
        }
    }
}

/// What happened, as the adapter reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The peer answered `Hello`: it has applied our log through
    /// `applied_through`. `log_head` is our log's newest position, read
    /// before `Hello` was sent.
    Welcome { applied_through: u64, log_head: u64 },
    /// The batch a [`Action::ReadAndSend`] asked for went out.
    Sent { last: u64, entries: usize },
    /// A [`Action::ReadAndSend`] found nothing after the position.
    CaughtUp,
    /// The peer acknowledged our log through `applied_through`; a
    /// non-empty `refused` says why it stopped there.
    Ack {
        applied_through: u64,
        refused: String,
    },
    /// The log head moved, or [`REREAD_EVERY`] passed with room in the window.
    LogGrew,
    /// The session broke: no connection, no `Welcome`, a stream error, the
    /// peer hung up, or a store call failed.
    Failed(String),
    /// The region is stopping.
    Shutdown,
}

/// What the adapter must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open a session: connect, send `Hello`, and report [`Event::Welcome`]
    /// or [`Event::Failed`].
    Connect,
    /// Record the peer's acknowledged position in the store.
    PersistWatermark(u64),
    /// The session is up and the peer has applied through `acked`.
    Connected { acked: u64 },
    /// The peer has applied more: `acked` is its new position.
    Acked(u64),
    /// Read the batch of the log after `after` (cut by `limit` entries and
    /// `max_bytes`) and send it; report [`Event::Sent`] or [`Event::CaughtUp`].
    ReadAndSend {
        after: u64,
        limit: usize,
        max_bytes: usize,
    },
    /// The session is over: drop it, wait `after`, then carry on with the
    /// next action (a [`Action::Connect`]).
    Reconnect { after: Duration, why: SessionEnd },
    /// Shut down; nothing follows.
    Stop,
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEnd {
    /// An I/O or store failure: retried with backoff.
    Failed(String),
    /// The peer refused entries (drift guard, unknown table): retried after
    /// `refusal_retry`, from what it acknowledged.
    Refused(String),
    /// The peer broke the protocol: retried with backoff, and counted.
    Violation(Violation),
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEnd::Failed(m) | SessionEnd::Refused(m) => f.write_str(m),
            SessionEnd::Violation(v) => v.fmt(f),
        }
    }
}

/// A peer's answer that cannot be true of our log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// `Welcome` names a position past the end of our log: resuming there
    /// would skip entries.
    #[error(
        "the peer reports position {welcome} in our log, which ends at {log_head}; refusing to skip entries"
    )]
    WelcomeBeyondLog { welcome: u64, log_head: u64 },
    /// An ack names a position this shipper never sent.
    #[error(
        "the peer acknowledged position {acked}, but nothing past {sent} was ever sent to it; ending the session"
    )]
    AckBeyondSent { acked: u64, sent: u64 },
}

impl Violation {
    /// The metric label of the violation.
    pub fn reason(&self) -> &'static str {
        match self {
            Violation::WelcomeBeyondLog { .. } => "welcome_beyond_log",
            Violation::AckBeyondSent { .. } => "ack_beyond_sent",
        }
    }
}

/// The unacknowledged batches of one session, oldest first.
#[derive(Default)]
struct Window {
    /// (last seq, entries) of each batch.
    batches: VecDeque<(u64, usize)>,
    entries: usize,
}

impl Window {
    /// Whether another batch may be sent under the tuning's limits.
    fn open(&self, t: &ReplicationTuning) -> bool {
        self.batches.len() < t.window && self.entries < t.window_entries
    }

    fn push(&mut self, last: u64, entries: usize) {
        self.batches.push_back((last, entries));
        self.entries += entries;
    }

    /// Forgets every batch the peer has applied through `acked`.
    fn ack(&mut self, acked: u64) {
        while let Some(&(last, n)) = self.batches.front() {
            if last > acked {
                break;
            }
            self.batches.pop_front();
            self.entries -= n;
        }
    }
}

/// One welcomed session.
struct Session {
    /// The newest position sent on this session, or skipped to.
    sent: u64,
    /// The newest position the peer has acknowledged.
    acked: u64,
    inflight: Window,
    /// When the watermark was last written, and the position written.
    persisted: Instant,
    persisted_at: u64,
    /// A [`Action::ReadAndSend`] is out and not yet reported.
    reading: bool,
}

/// Where the link is.
enum Phase {
    /// A [`Action::Connect`] is out.
    Connecting,
    Up(Session),
    /// Waiting out a [`Action::Reconnect`] (the `Connect` is queued).
    Down,
    Stopped,
}

/// The shipper of one link. See the module docs.
pub struct Shipper {
    tuning: ReplicationTuning,
    /// The next reconnect delay before jitter.
    backoff: Duration,
    /// Draws a jitter factor in `[0.5, 1.0)`; seeded in simulations.
    jitter: Box<dyn FnMut() -> f64 + Send>,
    /// The highest position the peer may have received from this region,
    /// across sessions: an older session's batches can still be applied
    /// after a reconnect, so an ack up to here is believable, and past it
    /// is not. It starts at the log head of the first session, since an
    /// earlier run of this region may have sent everything up to there.
    highest_sent: Option<u64>,
    phase: Phase,
    out: VecDeque<Action>,
}

impl Shipper {
    /// A shipper about to connect for the first time.
    pub fn new(tuning: ReplicationTuning, jitter: Box<dyn FnMut() -> f64 + Send>) -> Self {
        Shipper {
            backoff: tuning.backoff_min,
            tuning,
            jitter,
            highest_sent: None,
            phase: Phase::Connecting,
            out: VecDeque::from([Action::Connect]),
        }
    }

    /// The next thing to do, or `None` to wait for input.
    pub fn next_action(&mut self) -> Option<Action> {
        let action = self.out.pop_front();
        if matches!(action, Some(Action::Connect)) && matches!(self.phase, Phase::Down) {
            self.phase = Phase::Connecting;
        }
        action
    }

    /// Whether a growing log should wake the shipper: a session is up,
    /// nothing is being read and there is room in the window. The adapter
    /// watches the log head and the [`REREAD_EVERY`] timer only then.
    pub fn wants_log(&self) -> bool {
        match &self.phase {
            Phase::Up(s) => !s.reading && s.inflight.open(&self.tuning),
            _ => false,
        }
    }

    /// Feeds one event at time `now`; read the actions with [`Self::next_action`].
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            Event::Shutdown => {
                self.out.clear();
                self.out.push_back(Action::Stop);
                self.phase = Phase::Stopped;
            }
            Event::Failed(e) => self.end(SessionEnd::Failed(e)),
            Event::Welcome {
                applied_through,
                log_head,
            } => self.welcome(now, applied_through, log_head),
            Event::Sent { last, entries } => {
                if let Phase::Up(s) = &mut self.phase {
                    s.reading = false;
                    s.inflight.push(last, entries);
                    s.sent = last;
                    let highest = self.highest_sent.get_or_insert(last);
                    *highest = (*highest).max(last);
                    self.fill();
                }
            }
            Event::CaughtUp => {
                if let Phase::Up(s) = &mut self.phase {
                    s.reading = false;
                }
            }
            Event::Ack {
                applied_through,
                refused,
            } => self.ack(now, applied_through, refused),
            Event::LogGrew => {
                // Also the idle tick: the last acks of a burst get stored
                // here, so the log behind them can be truncated.
                self.persist_if_due(now);
                self.fill();
            }
        }
    }

    /// Stores the acknowledged position if it moved, at most once per
    /// [`WATERMARK_EVERY`].
    fn persist_if_due(&mut self, now: Instant) {
        if let Phase::Up(s) = &mut self.phase
            && s.acked > s.persisted_at
            && now.saturating_duration_since(s.persisted) >= WATERMARK_EVERY
        {
            self.out.push_back(Action::PersistWatermark(s.acked));
            s.persisted = now;
            s.persisted_at = s.acked;
        }
    }

    fn welcome(&mut self, now: Instant, acked: u64, log_head: u64) {
        if !matches!(self.phase, Phase::Connecting) {
            return;
        }
        if acked > log_head {
            let v = Violation::WelcomeBeyondLog {
                welcome: acked,
                log_head,
            };
            return self.end(SessionEnd::Violation(v));
        }
        let highest = self.highest_sent.get_or_insert(log_head);
        *highest = (*highest).max(acked);
        self.phase = Phase::Up(Session {
            sent: acked,
            acked,
            inflight: Window::default(),
            persisted: now,
            persisted_at: acked,
            reading: false,
        });
        // The receiver's position is authoritative, even if it moved
        // backwards (a peer restored from an older copy needs those
        // entries again).
        self.out.push_back(Action::PersistWatermark(acked));
        self.out.push_back(Action::Connected { acked });
        self.fill();
    }

    fn ack(&mut self, now: Instant, applied_through: u64, refused: String) {
        let Phase::Up(s) = &mut self.phase else {
            return;
        };
        let highest = self.highest_sent.unwrap_or(0).max(s.sent);
        if applied_through > highest {
            let v = Violation::AckBeyondSent {
                acked: applied_through,
                sent: highest,
            };
            return self.end(SessionEnd::Violation(v));
        }
        // Another stream of ours (an older session still draining) may
        // have moved the peer past what this one sent: skip ahead.
        s.sent = s.sent.max(applied_through);
        if applied_through > s.acked {
            s.acked = applied_through;
            self.out.push_back(Action::Acked(s.acked));
        }
        self.persist_if_due(now);
        let Phase::Up(s) = &mut self.phase else {
            return;
        };
        s.inflight.ack(s.acked);
        if !refused.is_empty() {
            return self.end(SessionEnd::Refused(refused));
        }
        self.fill();
    }

    /// Asks for the next batch if the window has room and no read is out.
    fn fill(&mut self) {
        if let Phase::Up(s) = &mut self.phase
            && !s.reading
            && s.inflight.open(&self.tuning)
        {
            s.reading = true;
            self.out.push_back(Action::ReadAndSend {
                after: s.sent,
                limit: self.tuning.batch_entries,
                // Capped, so an honest batch stays within the receiver's
                // byte budget whatever the tuning says.
                max_bytes: self.tuning.batch_bytes.min(MAX_BATCH_FILL_BYTES),
            });
        }
    }

    /// Ends the session (or the attempt to open one) and schedules the next.
    fn end(&mut self, why: SessionEnd) {
        let was_up = match self.phase {
            Phase::Up(_) => true,
            Phase::Connecting => false,
            // Nothing is open: a late report of a session already over.
            Phase::Down | Phase::Stopped => return,
        };
        // Whatever the session still had queued is moot now.
        self.out.clear();
        if was_up {
            // The link worked; a fresh failure starts the backoff over.
            self.backoff = self.tuning.backoff_min;
        }
        let after = match &why {
            SessionEnd::Refused(_) => {
                self.backoff = self.tuning.backoff_min;
                self.tuning.refusal_retry
            }
            SessionEnd::Failed(_) | SessionEnd::Violation(_) => {
                let jitter = (self.jitter)().clamp(0.5, 1.0);
                let wait = self.backoff.mul_f64(jitter);
                self.backoff = (self.backoff * 2).min(self.tuning.backoff_max);
                wait
            }
        };
        self.phase = Phase::Down;
        self.out.push_back(Action::Reconnect { after, why });
        self.out.push_back(Action::Connect);
    }
}
