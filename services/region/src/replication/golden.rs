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
//! entry at N from now on), `store accept`, `shutdown S`.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use meridian_core::golden::{Harness, check, check_listed, num};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// Log positions, for the receiver.
#[derive(Clone, Debug, PartialEq)]
struct Seqs(Vec<u64>);

impl Entries for Seqs {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn bytes(&self) -> usize {
        // Scripts exercise positions; the byte budget has its unit test.
        0
    }

    fn first_seq(&self) -> Option<u64> {
        self.0.first().copied()
    }

    fn last_seq(&self) -> Option<u64> {
        self.0.last().copied()
    }

    fn append(&mut self, more: Self) {
        self.0.extend(more.0);
    }
}

struct Stream {
    core: Receiver<Seqs>,
    inbox: VecDeque<Inbound<Seqs>>,
    /// A `receive` is out and nothing has arrived yet.
    waiting: bool,
}

/// Receiver streams from one peer, over a store that applies like the
/// real one: entries at or below its position are duplicates.
#[derive(Default)]
struct ReceiverHarness {
    streams: BTreeMap<String, Stream>,
    /// The store's applied position of the peer's log.
    applied: u64,
    refuse: Option<(u64, String)>,
}

impl ReceiverHarness {
    /// The store's apply, as `Writer::apply` does it (single-entry units).
    fn apply(&mut self, entries: &Seqs) -> (u64, Option<String>, usize) {
        let mut duplicates = 0;
        for &seq in &entries.0 {
            if seq <= self.applied {
                duplicates += 1;
                continue;
            }
            if let Some((at, why)) = &self.refuse
                && *at == seq
            {
                return (self.applied, Some(why.clone()), duplicates);
            }
            self.applied = seq;
        }
        (self.applied, None, duplicates)
    }

    /// Runs stream `name` until it waits for a message or ends.
    fn drive(&mut self, name: &str, out: &mut Vec<String>) {
        loop {
            let s = self.streams.get_mut(name).expect("open the stream first");
            if s.waiting {
                let Some(m) = s.inbox.pop_front() else {
                    return;
                };
                s.waiting = false;
                s.core.handle(receiver::Event::Message(m));
                continue;
            }
            let Some(action) = s.core.next_action() else {
                return;
            };
            out.push(format!("{name}: {action}"));
            match action {
                receiver::Action::Receive => s.waiting = true,
                receiver::Action::Poll => {
                    let event = match s.inbox.pop_front() {
                        Some(m) => receiver::Event::Message(m),
                        None => receiver::Event::NothingYet,
                    };
                    s.core.handle(event);
                }
                receiver::Action::Apply(entries) => {
                    let (applied_through, refused, duplicates) = self.apply(&entries);
                    if duplicates > 0 {
                        out.push(format!("{name}:   ({duplicates} already applied)"));
                    }
                    let s = self.streams.get_mut(name).expect("still open");
                    s.core.handle(receiver::Event::Applied {
                        applied_through,
                        refused,
                    });
                }
                receiver::Action::Ack { .. } => {}
                receiver::Action::End(_) => {
                    self.streams.remove(name);
                    return;
                }
            }
        }
    }
}

impl Harness for ReceiverHarness {
    fn command(&mut self, line: &str, out: &mut Vec<String>) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["open", name] => {
                let stream = Stream {
                    core: Receiver::new(self.applied),
                    inbox: VecDeque::new(),
                    waiting: false,
                };
                self.streams.insert(name.to_string(), stream);
                out.push(format!("{name}: welcome {}", self.applied));
                self.drive(name, out);
            }
            ["store", "refuse", at, reason @ ..] => {
                self.refuse = Some((num(at), reason.join(" ")));
            }
            ["store", "accept"] => self.refuse = None,
            ["shutdown", name] => {
                let s = self.streams.get_mut(*name).expect("an open stream");
                s.waiting = false;
                s.core.handle(receiver::Event::Shutdown);
                self.drive(name, out);
            }
            [target, "send", messages @ ..] => {
                let name = target.strip_suffix(':').expect("S: send ...");
                let s = self
                    .streams
                    .get_mut(name)
                    .unwrap_or_else(|| panic!("stream {name} is not open"));
                for m in messages {
                    let message = match *m {
                        "empty" => Inbound::Batch(Seqs(Vec::new())),
                        "malformed" => Inbound::Malformed("entries[0] (seq 0): a test".into()),
                        "unexpected" => Inbound::Unexpected,
                        "end" => Inbound::End,
                        range => {
                            let (a, b) = range.split_once("..").expect("A..B");
                            Inbound::Batch(Seqs((num(a)..=num(b)).collect()))
                        }
                    };
                    s.inbox.push_back(message);
                }
                self.drive(name, out);
            }
            _ => panic!("unknown receiver command {line:?}"),
        }
    }
}
