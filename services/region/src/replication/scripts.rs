//! Golden scripts for the replication state machines.
//!
//! Each file in `testdata/` is a scenario: blocks of input lines, a `----`
//! line, and the actions the machine took, one per line, ending at a blank
//! line. `shipper_*.txt` drive a [`Shipper`] against a simulated log;
//! `receiver_*.txt` drive [`Receiver`] sessions against a simulated store.
//! Each script is a test of its own (`golden_scripts!` lists them, and a
//! script missing from the list fails), so a failure names its file. A
//! changed behaviour shows up as a line diff of the expectations; run with
//! `UPDATE_GOLDEN=1` to rewrite them, then review the diff.
//!
//! Shipper commands: `tuning key=value...` (for the next `start`),
//! `start` (a new shipper, as after a restart of this region),
//! `log head=N`, `append N` (the log grows; wakes the shipper if it
//! waits for the log), `tick` (the re-read timer fires, if armed),
//! `welcome N`, `ack N [refused=reason]`, `fail reason`, `time +DUR`,
//! `jitter F` (the next jitter factor), `shutdown`.
//!
//! Receiver commands: `open S` (a stream named S; its `Welcome` is the
//! store's position), `S: send M...` where each M is `A..B` (a batch of
//! those positions), `empty`, `malformed`, `unexpected` or `end`, all
//! arriving together; `store refuse N reason` (the store refuses the
//! entry at N from now on), `store accept`, `shutdown S`. For partition
//! order: `order partition` (streams opened from now on), `lane N L...`
//! (positions N... go in lane L; by default each its own), `catalog N`
//! (the entry at N is a catalog change, a barrier), `unit A..B` (those
//! positions are one request's writes), `delays D...` (the next lane
//! delays drawn, in turn; 0ms once they run out), `time +DUR` (the clock
//! moves; streams whose wait has come due go on).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use meridian_core::golden::{Harness, check, check_listed, num};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::lanes::{Entry, Lane, LaneModel};
use super::receiver::{self, Entries, Inbound, Receiver};
use super::shipper::{self, Shipper};
use crate::replication::ReplicationTuning;

/// Runs one script from `testdata/` and fails with a line diff if the
/// machine did something else; with `UPDATE_GOLDEN` set, rewrites it.
fn golden(file: &str) {
    if file.starts_with("shipper_") {
        check(&testdata(), file, &mut ShipperHarness::default());
    } else if file.starts_with("receiver_") {
        check(&testdata(), file, &mut ReceiverHarness::default());
    } else {
        panic!("{file}: scripts are named shipper_*.txt or receiver_*.txt");
    }
}

fn testdata() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/replication/testdata")
}

/// One test per script file, so a failure names its file and one changed
/// script does not hide another.
macro_rules! golden_scripts {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                golden($file);
            }
        )*

        const SCRIPTS: &[&str] = &[$($file),*];
    };
}

golden_scripts! {
    receiver_coalescing => "receiver_coalescing.txt",
    receiver_partition_barrier => "receiver_partition_barrier.txt",
    receiver_partition_lanes => "receiver_partition_lanes.txt",
    receiver_partition_refusal => "receiver_partition_refusal.txt",
    receiver_partition_torn => "receiver_partition_torn.txt",
    receiver_gap => "receiver_gap.txt",
    receiver_malformed => "receiver_malformed.txt",
    receiver_overlapping_sessions => "receiver_overlapping_sessions.txt",
    receiver_refusal => "receiver_refusal.txt",
    shipper_ack_beyond_sent => "shipper_ack_beyond_sent.txt",
    shipper_backoff => "shipper_backoff.txt",
    shipper_log_grows => "shipper_log_grows.txt",
    shipper_overlapping_sessions => "shipper_overlapping_sessions.txt",
    shipper_refusal_then_retry => "shipper_refusal_then_retry.txt",
    shipper_resume_after_restart => "shipper_resume_after_restart.txt",
    shipper_watermark_cadence => "shipper_watermark_cadence.txt",
    shipper_window_fills => "shipper_window_fills.txt",
}

/// A script added to `testdata/` without a test above would never run.
#[test]
fn every_script_has_a_test() {
    check_listed(&testdata(), SCRIPTS);
}

fn parse_duration(s: &str) -> Duration {
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("milliseconds"))
    } else if let Some(secs) = s.strip_suffix('s') {
        Duration::from_secs(secs.parse().expect("seconds"))
    } else {
        panic!("duration {s:?}: use 250ms or 2s")
    }
}

/// A shipper against a log of `head` entries, in batches of `batch_entries`.
struct ShipperHarness {
    tuning: ReplicationTuning,
    core: Option<Shipper>,
    head: u64,
    start: Instant,
    now: Duration,
    /// The next jitter factor, as f64 bits.
    jitter: Arc<AtomicU64>,
}

impl Default for ShipperHarness {
    fn default() -> Self {
        ShipperHarness {
            tuning: ReplicationTuning::default(),
            core: None,
            head: 0,
            start: Instant::now(),
            now: Duration::ZERO,
            jitter: Arc::new(AtomicU64::new(0.75f64.to_bits())),
        }
    }
}

impl ShipperHarness {
    fn feed(&mut self, event: shipper::Event, out: &mut Vec<String>) {
        let now = self.start + self.now;
        let core = self.core.as_mut().expect("start comes first");
        core.handle(now, event);
        self.drain(out);
    }

    /// Carries out the queued actions, answering reads from the log.
    fn drain(&mut self, out: &mut Vec<String>) {
        let now = self.start + self.now;
        let core = self.core.as_mut().expect("start comes first");
        while let Some(action) = core.next_action() {
            match action {
                shipper::Action::Connect => out.push("connect".into()),
                shipper::Action::PersistWatermark(n) => out.push(format!("persist watermark {n}")),
                shipper::Action::Connected { acked } => {
                    out.push(format!("connected; the peer has applied through {acked}"))
                }
                shipper::Action::Acked(n) => out.push(format!("acked {n}")),
                shipper::Action::ReadAndSend { after, limit, .. } => {
                    let last = self.head.min(after + limit as u64);
                    if last > after {
                        out.push(format!("send {}..{last}", after + 1));
                        let entries = (last - after) as usize;
                        core.handle(now, shipper::Event::Sent { last, entries });
                    } else {
                        out.push(format!("read after {after}: caught up"));
                        core.handle(now, shipper::Event::CaughtUp);
                    }
                }
                shipper::Action::Reconnect { after, why } => {
                    let kind = match &why {
                        shipper::SessionEnd::Failed(_) => "failed".to_string(),
                        shipper::SessionEnd::Refused(_) => "refused".to_string(),
                        shipper::SessionEnd::Violation(v) => v.reason().to_string(),
                    };
                    out.push(format!(
                        "session over ({kind}: {why}); reconnect in {after:?}"
                    ));
                }
                shipper::Action::Stop => out.push("stop".into()),
            }
        }
    }
}

impl Harness for ShipperHarness {
    fn command(&mut self, line: &str, out: &mut Vec<String>) {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "tuning" => {
                for kv in rest.split_whitespace() {
                    let (k, v) = kv.split_once('=').expect("key=value");
                    let t = &mut self.tuning;
                    match k {
                        "window" => t.window = num(v) as usize,
                        "window_entries" => t.window_entries = num(v) as usize,
                        "batch_entries" => t.batch_entries = num(v) as usize,
                        "backoff_min" => t.backoff_min = parse_duration(v),
                        "backoff_max" => t.backoff_max = parse_duration(v),
                        "refusal_retry" => t.refusal_retry = parse_duration(v),
                        _ => panic!("unknown tuning {k}"),
                    }
                }
            }
            "start" => {
                let jitter = self.jitter.clone();
                self.core = Some(Shipper::new(
                    self.tuning.clone(),
                    Box::new(move || f64::from_bits(jitter.load(Ordering::Relaxed))),
                ));
                self.drain(out);
            }
            "log" => {
                self.head = num(rest.strip_prefix("head=").expect("log head=N"));
            }
            "append" => {
                self.head += num(rest);
                if self.core.as_ref().is_some_and(Shipper::wants_log) {
                    self.feed(shipper::Event::LogGrew, out);
                }
            }
            "tick" => {
                if self.core.as_ref().is_some_and(Shipper::wants_log) {
                    self.feed(shipper::Event::LogGrew, out);
                } else {
                    out.push("(no timer armed)".into());
                }
            }
            "welcome" => {
                let event = shipper::Event::Welcome {
                    applied_through: num(rest),
                    log_head: self.head,
                };
                self.feed(event, out);
            }
            "ack" => {
                let (n, refused) = match rest.split_once(" refused=") {
                    Some((n, r)) => (n, r.to_string()),
                    None => (rest, String::new()),
                };
                let event = shipper::Event::Ack {
                    applied_through: num(n),
                    refused,
                };
                self.feed(event, out);
            }
            "fail" => self.feed(shipper::Event::Failed(rest.into()), out),
            "time" => {
                self.now += parse_duration(rest.strip_prefix('+').expect("time +DUR"));
            }
            "jitter" => {
                let f: f64 = rest.parse().expect("a jitter factor");
                self.jitter.store(f.to_bits(), Ordering::Relaxed);
            }
            "shutdown" => self.feed(shipper::Event::Shutdown, out),
            _ => panic!("unknown shipper command {line:?}"),
        }
    }
}

/// One position, with what partition order needs to know of it.
#[derive(Clone, Debug, PartialEq)]
struct Pos {
    seq: u64,
    /// `None`: a catalog change.
    lane: Option<u64>,
    unit: (u64, u32),
}

impl Entry for Pos {
    fn seq(&self) -> u64 {
        self.seq
    }

    fn lane(&self, _: &LaneModel) -> Lane {
        self.lane.map_or(Lane::Barrier, |l| Lane::Part(l, 0))
    }

    fn unit(&self) -> (u64, u32) {
        self.unit
    }

    fn bytes(&self) -> usize {
        // Scripts exercise positions; the byte budget has its unit test.
        0
    }
}

/// Log positions, for the receiver.
#[derive(Clone, Debug, PartialEq)]
struct Seqs(Vec<Pos>);

impl Entries for Seqs {
    type Item = Pos;

    fn into_items(self) -> Vec<Pos> {
        self.0
    }

    fn from_items(items: Vec<Pos>) -> Self {
        Seqs(items)
    }

    fn seqs(&self) -> Vec<u64> {
        self.0.iter().map(|p| p.seq).collect()
    }

    fn count(&self) -> usize {
        self.0.len()
    }

    fn bytes(&self) -> usize {
        0
    }

    fn first_seq(&self) -> Option<u64> {
        self.0.first().map(|p| p.seq)
    }

    fn last_seq(&self) -> Option<u64> {
        self.0.last().map(|p| p.seq)
    }

    fn append(&mut self, more: Self) {
        self.0.extend(more.0);
    }
}

struct Stream {
    core: Receiver<Seqs>,
    inbox: VecDeque<Inbound<Seqs>>,
    /// A `receive` (or a `wait` that takes messages) is out and nothing
    /// has arrived yet.
    waiting: bool,
    /// A `wait` is out until this time.
    due: Option<Instant>,
}

/// Receiver streams from one peer, over a store that applies like the
/// real one: entries at or below its position are duplicates.
struct ReceiverHarness {
    streams: BTreeMap<String, Stream>,
    /// The store's applied position of the peer's log.
    applied: u64,
    refuse: Option<(u64, String)>,
    partition: bool,
    lanes: BTreeMap<u64, Option<u64>>,
    units: BTreeMap<u64, (u64, u32)>,
    delays: Arc<std::sync::Mutex<VecDeque<Duration>>>,
    start: Instant,
    now: Duration,
}

impl Default for ReceiverHarness {
    fn default() -> Self {
        ReceiverHarness {
            streams: BTreeMap::new(),
            applied: 0,
            refuse: None,
            partition: false,
            lanes: BTreeMap::new(),
            units: BTreeMap::new(),
            delays: Default::default(),
            start: Instant::now(),
            now: Duration::ZERO,
        }
    }
}

impl ReceiverHarness {
    fn at(&self) -> Instant {
        self.start + self.now
    }

    fn pos(&self, seq: u64) -> Pos {
        Pos {
            seq,
            lane: self.lanes.get(&seq).copied().unwrap_or(Some(seq)),
            unit: self.units.get(&seq).copied().unwrap_or((seq, 1)),
        }
    }

    /// The store's apply, as `Group::apply` does it (single-entry units):
    /// in log order through the last entry applied; for released entries
    /// through `released`, capped below a refused entry.
    fn apply(&mut self, entries: &Seqs, released: Option<u64>) -> (u64, Option<String>, usize) {
        let start = self.applied;
        let mut duplicates = 0;
        let mut last = start;
        let mut refused = None;
        for seq in entries.seqs() {
            if seq <= start || (released.is_none() && seq <= last) {
                duplicates += 1;
                continue;
            }
            if let Some((at, why)) = &self.refuse
                && *at == seq
            {
                refused = Some((seq, why.clone()));
                break;
            }
            last = seq;
        }
        self.applied = match released {
            Some(through) => {
                let through = refused
                    .as_ref()
                    .map_or(through, |(r, _)| through.min(r - 1));
                start.max(through)
            }
            None => last,
        };
        (self.applied, refused.map(|(_, why)| why), duplicates)
    }

    /// Runs stream `name` until it waits for a message or ends.
    fn drive(&mut self, name: &str, out: &mut Vec<String>) {
        let now = self.at();
        loop {
            let s = self.streams.get_mut(name).expect("open the stream first");
            if s.waiting || s.due.is_some() {
                let m = if s.waiting { s.inbox.pop_front() } else { None };
                let event = match (m, s.due) {
                    (Some(m), _) => receiver::Event::Message(m),
                    (None, Some(due)) if due <= now => receiver::Event::Due,
                    _ => return,
                };
                s.waiting = false;
                s.due = None;
                s.core.handle(now, event);
                continue;
            }
            let Some(action) = s.core.next_action() else {
                return;
            };
            match &action {
                receiver::Action::Wait { until, take } => out.push(format!(
                    "{name}: wait until +{}ms{}",
                    until.duration_since(self.start).as_millis(),
                    if *take { "" } else { ", stream left unread" }
                )),
                a => out.push(format!("{name}: {a}")),
            }
            match action {
                receiver::Action::Receive => s.waiting = true,
                receiver::Action::Wait { until, take } => {
                    s.waiting = take;
                    s.due = Some(until);
                }
                receiver::Action::Poll => {
                    let event = match s.inbox.pop_front() {
                        Some(m) => receiver::Event::Message(m),
                        None => receiver::Event::NothingYet,
                    };
                    s.core.handle(now, event);
                }
                receiver::Action::Apply(entries) => self.applied(name, &entries, None, out),
                receiver::Action::ApplyReleased {
                    entries, through, ..
                } => self.applied(name, &entries, Some(through), out),
                receiver::Action::Ack { .. } => {}
                receiver::Action::End(_) => {
                    self.streams.remove(name);
                    return;
                }
            }
        }
    }

    fn applied(
        &mut self,
        name: &str,
        entries: &Seqs,
        released: Option<u64>,
        out: &mut Vec<String>,
    ) {
        let (applied_through, refused, duplicates) = self.apply(entries, released);
        if duplicates > 0 {
            out.push(format!("{name}:   ({duplicates} already applied)"));
        }
        let now = self.at();
        let s = self.streams.get_mut(name).expect("still open");
        s.core.handle(
            now,
            receiver::Event::Applied {
                applied_through,
                refused,
            },
        );
    }
}

fn range(r: &str) -> std::ops::RangeInclusive<u64> {
    match r.split_once("..") {
        Some((a, b)) => num(a)..=num(b),
        None => num(r)..=num(r),
    }
}

impl Harness for ReceiverHarness {
    fn command(&mut self, line: &str, out: &mut Vec<String>) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["open", name] => {
                let core = if self.partition {
                    let delays = self.delays.clone();
                    let delay = Box::new(move || {
                        delays
                            .lock()
                            .expect("delays")
                            .pop_front()
                            .unwrap_or(Duration::ZERO)
                    });
                    Receiver::partitioned(self.applied, LaneModel::default(), delay)
                } else {
                    Receiver::new(self.applied)
                };
                let stream = Stream {
                    core,
                    inbox: VecDeque::new(),
                    waiting: false,
                    due: None,
                };
                self.streams.insert(name.to_string(), stream);
                out.push(format!("{name}: welcome {}", self.applied));
                self.drive(name, out);
            }
            ["order", "partition"] => self.partition = true,
            ["lane", seqs @ .., lane] => {
                for r in seqs {
                    for seq in range(r) {
                        self.lanes.insert(seq, Some(num(lane)));
                    }
                }
            }
            ["catalog", seqs @ ..] => {
                for r in seqs {
                    for seq in range(r) {
                        self.lanes.insert(seq, None);
                    }
                }
            }
            ["unit", r] => {
                let r = range(r);
                let len = (r.end() - r.start() + 1) as u32;
                for seq in r.clone() {
                    self.units.insert(seq, (*r.start(), len));
                }
            }
            ["delays", ds @ ..] => {
                let mut q = self.delays.lock().expect("delays");
                q.extend(ds.iter().map(|d| parse_duration(d)));
            }
            ["time", d] => {
                self.now += parse_duration(d.strip_prefix('+').expect("time +DUR"));
                let names: Vec<String> = self.streams.keys().cloned().collect();
                for name in names {
                    self.drive(&name, out);
                }
            }
            ["store", "refuse", at, reason @ ..] => {
                self.refuse = Some((num(at), reason.join(" ")));
            }
            ["store", "accept"] => self.refuse = None,
            ["shutdown", name] => {
                let now = self.at();
                let s = self.streams.get_mut(*name).expect("an open stream");
                s.waiting = false;
                s.due = None;
                s.core.handle(now, receiver::Event::Shutdown);
                self.drive(name, out);
            }
            [target, "send", messages @ ..] => {
                let name = target.strip_suffix(':').expect("S: send ...");
                let mut batch = Vec::new();
                for m in messages {
                    let message = match *m {
                        "empty" => Inbound::Batch(Seqs(Vec::new())),
                        "malformed" => Inbound::Malformed("entries[0] (seq 0): a test".into()),
                        "unexpected" => Inbound::Unexpected,
                        "end" => Inbound::End,
                        r => {
                            assert!(r.contains(".."), "A..B");
                            Inbound::Batch(Seqs(range(r).map(|seq| self.pos(seq)).collect()))
                        }
                    };
                    batch.push(message);
                }
                let s = self
                    .streams
                    .get_mut(name)
                    .unwrap_or_else(|| panic!("stream {name} is not open"));
                s.inbox.extend(batch);
                self.drive(name, out);
            }
            _ => panic!("unknown receiver command {line:?}"),
        }
    }
}
