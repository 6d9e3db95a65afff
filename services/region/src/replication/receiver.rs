//! The receiver's protocol, as a pure state machine.
//!
//! [`Receiver`] runs one inbound stream after its `Hello` was accepted
//! ([`check_hello`]) and `Welcome` named the position already applied. It
//! decides when to wait for a message and when to take only those already
//! there (coalescing), what goes into one apply, what to acknowledge, and
//! when the stream ends and why. The adapter ([`super::inbound`]) decodes
//! batches ([`super::decode_batch`]), applies them through the
//! storage bridge and moves messages; the golden scripts in `testdata/`
//! drive the machine directly.
//!
//! The machine holds batches without looking inside them beyond their
//! positions ([`Entries`]), so any payload type will do.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use meridian_core::epoch::{Epoch, MAX_EPOCHS};

use super::lanes::{Entry, LaneModel, Lanes, Release};

/// Most entries a receiver accepts in one batch.
pub const MAX_BATCH_ENTRIES: usize = 10_000;
/// Most bytes a shipper puts in a batch before it completes the unit it is
/// in (its `batch_bytes` tuning is capped here), so that an honest batch
/// always stays within [`MAX_BATCH_BYTES`].
pub const MAX_BATCH_FILL_BYTES: usize = 2 << 20;
/// The replication byte budget of one batch, as [`Entries::bytes`] counts
/// it (`Mutation::size`: each entry's keys, versions, context and image,
/// plus 48 bytes), checked before anything of the batch is decoded or
/// applied. An honest batch is at most [`MAX_BATCH_FILL_BYTES`] plus one
/// whole unit, whose items hold at most 16 MiB of item size
/// (`meridian_store::MAX_UNIT_BYTES`); the binary item encoding spends
/// under 3 bytes per byte of item size even on its worst shapes (lists of
/// empty strings, 2-byte attribute names over empty values), so 2 + 48 MiB
/// and the entries' headers fit with room to spare. A peer that sends more
/// is refused (`over_budget`) with the size and the limit, not left to the
/// transport's 64 MiB cap ([`super::MAX_MESSAGE_BYTES`]).
pub const MAX_BATCH_BYTES: usize = 56 << 20;
/// Most entries a receiver applies in one go when it coalesces batches
/// that arrived together: no more than one batch may hold.
pub const MAX_APPLY_ENTRIES: usize = MAX_BATCH_ENTRIES;
/// Most bytes ([`Entries::bytes`]) a receiver holds for one apply when it
/// coalesces: no more than one batch may carry ([`MAX_BATCH_BYTES`]).
/// Without it, batches that arrived together could pile up 10,000 entries
/// of up to 400 KB each in memory before one commit.
pub const MAX_APPLY_BYTES: usize = MAX_BATCH_BYTES;
/// The replication protocol this region speaks.
pub const PROTOCOL: u32 = 1;

/// A decoded batch, as the receiver sees it: positions and a length, and,
/// for partition order, its entries one by one.
pub trait Entries: Sized {
    /// One entry, as lanes see it.
    type Item: Entry;
    /// The entries, in order.
    fn into_items(self) -> Vec<Self::Item>;
    /// A batch of these entries, in order.
    fn from_items(items: Vec<Self::Item>) -> Self;
    /// How many entries.
    fn count(&self) -> usize;
    /// How many bytes they hold in memory, about.
    fn bytes(&self) -> usize;
    fn first_seq(&self) -> Option<u64>;
    fn last_seq(&self) -> Option<u64>;
    /// Appends `more`, whose positions all follow ours.
    fn append(&mut self, more: Self);
    /// Every position, in order.
    fn seqs(&self) -> Vec<u64>;
}

/// One message of a stream after `Hello`, as the adapter classified it.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound<B> {
    /// A batch that passed validation.
    Batch(B),
    /// A batch that did not, and why.
    Malformed(String),
    /// A batch over the byte budget ([`MAX_BATCH_BYTES`]): its size and the
    /// limit, measured before it was decoded.
    OverBudget { bytes: usize, limit: usize },
    /// Something other than a batch.
    Unexpected,
    /// The peer closed the stream, or it broke.
    End,
}

/// What happened, as the adapter reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<B> {
    Message(Inbound<B>),
    /// [`Action::Poll`] found no message waiting.
    NothingYet,
    /// An [`Action::Apply`] committed: the store has applied the sender's
    /// log through `applied_through`, and refused what follows if `refused`.
    Applied {
        applied_through: u64,
        refused: Option<String>,
    },
    /// A [`Action::Wait`] reached its time.
    Due,
    /// The region is stopping.
    Shutdown,
}

/// What the adapter must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action<B> {
    /// Wait for the next message.
    Receive,
    /// Take a message that has already arrived, without waiting; report
    /// [`Event::NothingYet`] if there is none.
    Poll,
    /// Apply these entries in one transaction; report [`Event::Applied`].
    Apply(B),
    /// Partition order: apply these entries, each on its own, in one
    /// transaction, and record the sender's log as applied `through` (the
    /// prefix below what is still held, capped at a refused entry); report
    /// [`Event::Applied`]. `reordered` and `torn` count the anomalies this
    /// apply makes visible (see [`super::lanes`]).
    ApplyReleased {
        entries: B,
        through: u64,
        reordered: usize,
        torn: usize,
    },
    /// Partition order: wait until `until`, taking the next message if one
    /// comes first when `take` (else leaving it to flow control: the
    /// entries held are at their limit); report [`Event::Due`] at `until`.
    Wait { until: Instant, take: bool },
    /// Tell the peer what is durably applied, and what was refused.
    Ack {
        applied_through: u64,
        refused: String,
    },
    /// End the stream: cleanly, or with an error for the peer.
    End(Option<StreamError>),
}

/// Why a stream ends with an error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A batch failed validation.
    #[error("{0}")]
    Malformed(String),
    #[error("expected a Batch after Hello")]
    Unexpected,
    /// A batch does not start right after what is applied: entries would be
    /// skipped.
    #[error(
        "batch starts at seq {first}, but this region has applied the log only through {applied}; entries {} to {} are missing",
        applied + 1,
        first - 1
    )]
    Gap { applied: u64, first: u64 },
    /// A batch over the replication byte budget: refused whole, before any
    /// of it is decoded or applied.
    #[error(
        "the batch holds {bytes} bytes of entries, over the replication budget of {limit} bytes per batch"
    )]
    OverBudget { bytes: usize, limit: usize },
}

impl StreamError {
    /// The metric label of the error.
    pub fn reason(&self) -> &'static str {
        match self {
            StreamError::Malformed(_) => "malformed_batch",
            StreamError::Unexpected => "unexpected_message",
            StreamError::Gap { .. } => "batch_gap",
            StreamError::OverBudget { .. } => "over_budget",
        }
    }
}

/// Partition order's part of a receiver: the held entries and the source
/// of their lane delays.
struct Partitioned<E> {
    lanes: Lanes<E>,
    delay: Box<dyn FnMut() -> Duration + Send>,
}

/// The receiving end of one stream. See the module docs.
pub struct Receiver<B: Entries> {
    /// The sender position known to be applied: from `Welcome`, then from
    /// each apply. Another stream from the same peer may have applied more
    /// in the meantime; the store's check inside the transaction covers that.
    applied: u64,
    /// Batches gathered for the next apply.
    group: Option<B>,
    /// A message taken while gathering that could not join the apply.
    carried: Option<Inbound<B>>,
    out: VecDeque<Action<B>>,
    ended: bool,
    /// `Some` in partition order: entries are held in lanes and released
    /// out of log order; `None` in log order: each group is applied whole.
    partitioned: Option<Partitioned<B::Item>>,
    /// The peer closed the stream while entries were held: they are
    /// released and applied as their lanes let them, then the stream ends.
    closing: bool,
}

impl<B: Entries> Receiver<B> {
    /// A stream in log order whose `Welcome` named `applied`.
    pub fn new(applied: u64) -> Self {
        Receiver {
            applied,
            group: None,
            carried: None,
            out: VecDeque::from([Action::Receive]),
            ended: false,
            partitioned: None,
            closing: false,
        }
    }

    /// A stream in partition order whose `Welcome` named `applied`; `delay`
    /// draws each item entry's lane delay.
    pub fn partitioned(
        applied: u64,
        model: LaneModel,
        delay: Box<dyn FnMut() -> Duration + Send>,
    ) -> Self {
        Receiver {
            partitioned: Some(Partitioned {
                lanes: Lanes::new(model, applied),
                delay,
            }),
            ..Receiver::new(applied)
        }
    }

    /// The position a new batch must follow on: what is applied, or in
    /// partition order what was taken in (applied or held).
    fn position(&self) -> u64 {
        match &self.partitioned {
            Some(p) => p.lanes.received().max(self.applied),
            None => self.applied,
        }
    }

    /// The next thing to do; `None` once the stream has ended.
    pub fn next_action(&mut self) -> Option<Action<B>> {
        self.out.pop_front()
    }

    /// Takes in what happened at `now` (read only in partition order).
    pub fn handle(&mut self, now: Instant, event: Event<B>) {
        if self.ended {
            return;
        }
        match event {
            Event::Shutdown => self.end(None),
            Event::Message(m) => match self.group.take() {
                None => self.start(now, m),
                Some(group) => self.offer(now, group, m),
            },
            Event::NothingYet => {
                if let Some(group) = self.group.take() {
                    self.apply(now, group);
                }
            }
            Event::Due => self.next(now),
            Event::Applied {
                applied_through,
                refused,
            } => {
                self.applied = self.applied.max(applied_through);
                let refused = refused.unwrap_or_default();
                let done = !refused.is_empty();
                self.out.push_back(Action::Ack {
                    applied_through,
                    refused,
                });
                if done {
                    // The sender retries from the ack, on a new stream.
                    return self.end(None);
                }
                match self.carried.take() {
                    Some(m) => self.start(now, m),
                    None => self.next(now),
                }
            }
        }
    }

    /// A gathered group is complete: applied whole in log order, taken
    /// into the lanes in partition order.
    fn apply(&mut self, now: Instant, group: B) {
        match self.partitioned.as_mut() {
            None => self.out.push_back(Action::Apply(group)),
            Some(p) => {
                let count = group.count();
                let duplicates = p.lanes.admit(now, group.into_items(), &mut p.delay);
                if count > 0 && duplicates == count {
                    // Only redelivered entries: say what is applied, as the
                    // log order's apply of duplicates does.
                    self.out.push_back(Action::Ack {
                        applied_through: self.applied,
                        refused: String::new(),
                    });
                }
                // A message that came after the group is taken in next, in
                // order, before anything else is read.
                match self.carried.take() {
                    Some(m) => self.start(now, m),
                    None => self.next(now),
                }
            }
        }
    }

    /// What to do when nothing is being gathered or applied: in log order,
    /// receive; in partition order, apply what the lanes release now, or
    /// wait for the next release or message.
    fn next(&mut self, now: Instant) {
        let Some(p) = self.partitioned.as_mut() else {
            self.out.push_back(Action::Receive);
            return;
        };
        if let Some(Release {
            entries,
            through,
            reordered,
            torn,
        }) = p.lanes.release(now, MAX_APPLY_ENTRIES, MAX_APPLY_BYTES)
        {
            self.out.push_back(Action::ApplyReleased {
                entries: B::from_items(entries),
                through,
                reordered,
                torn,
            });
            return;
        }
        let (held, bytes) = p.lanes.held();
        // Past one apply's worth, the stream is left unread so that flow
        // control holds the sender back, as the log order's apply does; a
        // closed stream has nothing more to read.
        let take = !self.closing && held < MAX_APPLY_ENTRIES && bytes < MAX_APPLY_BYTES;
        match p.lanes.next_release() {
            Some(until) => self.out.push_back(Action::Wait { until, take }),
            None if self.closing => self.end(None),
            None => self.out.push_back(Action::Receive),
        }
    }

    /// A message that begins the next apply.
    fn start(&mut self, now: Instant, m: Inbound<B>) {
        match m {
            Inbound::Batch(b) => {
                let applied = self.position();
                if let Some(first) = b.first_seq()
                    && first > applied.saturating_add(1)
                {
                    let gap = StreamError::Gap { applied, first };
                    return self.end(Some(gap));
                }
                self.gather(now, b);
            }
            Inbound::Malformed(m) => self.end(Some(StreamError::Malformed(m))),
            Inbound::OverBudget { bytes, limit } => {
                self.end(Some(StreamError::OverBudget { bytes, limit }))
            }
            Inbound::Unexpected => self.end(Some(StreamError::Unexpected)),
            // What the lanes hold was delivered whole: it is applied as
            // they release it, and acknowledged, before the stream ends.
            Inbound::End
                if self
                    .partitioned
                    .as_ref()
                    .is_some_and(|p| p.lanes.held().0 > 0) =>
            {
                self.closing = true;
                self.next(now);
            }
            Inbound::End => self.end(None),
        }
    }

    /// Coalesces: batches that arrived while the previous apply was being
    /// committed join this one, so a busy link costs one group commit per
    /// round instead of one per batch. Only messages already received are
    /// taken; nothing waits.
    fn gather(&mut self, now: Instant, group: B) {
        if group.count() < MAX_APPLY_ENTRIES && group.bytes() < MAX_APPLY_BYTES {
            self.group = Some(group);
            self.out.push_back(Action::Poll);
        } else {
            self.apply(now, group);
        }
    }

    /// A message taken while gathering: it joins the group if it is a
    /// batch that fits and follows on; anything else waits for the next
    /// round (a malformed batch or a gap ends the stream after the group
    /// is applied and acknowledged).
    fn offer(&mut self, now: Instant, mut group: B, m: Inbound<B>) {
        let applied = self.position();
        let joins = match &m {
            Inbound::Batch(b) => {
                let last = group.last_seq().unwrap_or(0);
                let follows =
                    |first: u64| first > last && first <= applied.max(last).saturating_add(1);
                group.count() + b.count() <= MAX_APPLY_ENTRIES
                    && group.bytes() + b.bytes() <= MAX_APPLY_BYTES
                    && b.first_seq().is_none_or(follows)
            }
            _ => false,
        };
        match m {
            Inbound::Batch(b) if joins => {
                group.append(b);
                self.gather(now, group);
            }
            other => {
                self.carried = Some(other);
                self.apply(now, group);
            }
        }
    }

    fn end(&mut self, error: Option<StreamError>) {
        self.ended = true;
        self.group = None;
        self.carried = None;
        self.out.push_back(Action::End(error));
    }
}

/// Why a `Hello` is turned away.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("protocol {0} is not supported; this region speaks {PROTOCOL}")]
    Protocol(u32),
    #[error("this is region {this}, not {to}")]
    WrongRegion { this: String, to: String },
    #[error("log_id: must be 1 to 64 characters, got {0}")]
    LogId(usize),
    #[error("{0:?} is not a peer of this region")]
    NotAPeer(String),
    #[error("epochs: {0}")]
    Epochs(String),
}

impl HelloError {
    /// The metric label of the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            HelloError::Protocol(_) => "hello_protocol",
            HelloError::WrongRegion { .. } => "hello_wrong_region",
            HelloError::LogId(_) => "hello_log_id",
            HelloError::NotAPeer(_) => "hello_not_a_peer",
            HelloError::Epochs(_) => "hello_epochs",
        }
    }
}

/// Checks a `Hello`'s chain of log epochs, oldest first: at most
/// [`MAX_EPOCHS`], identities like `log_id`, starts that never decrease,
/// and the current epoch (`log_id`) last. An empty chain (a sender that
/// names only its current epoch) is accepted.
pub fn check_epochs(log_id: &str, epochs: &[Epoch]) -> Result<(), HelloError> {
    if epochs.len() > MAX_EPOCHS {
        return Err(HelloError::Epochs(format!(
            "{} epochs, the limit is {MAX_EPOCHS}",
            epochs.len()
        )));
    }
    for (i, e) in epochs.iter().enumerate() {
        if e.id.is_empty() || e.id.len() > 64 {
            return Err(HelloError::Epochs(format!(
                "epochs[{i}].log_id must be 1 to 64 characters, got {}",
                e.id.len()
            )));
        }
        if i > 0 && e.start < epochs[i - 1].start {
            return Err(HelloError::Epochs(format!(
                "epochs[{i}].start {} is before the start of the epoch before it, {}",
                e.start,
                epochs[i - 1].start
            )));
        }
    }
    match epochs.last() {
        Some(last) if last.id != log_id => Err(HelloError::Epochs(format!(
            "the last epoch is {:?}, but log_id is {log_id:?}",
            last.id
        ))),
        _ => Ok(()),
    }
}

/// Checks the first message of a stream, in the order the checks have
/// always run.
pub fn check_hello(
    this: &str,
    is_peer: impl Fn(&str) -> bool,
    from: &str,
    to: &str,
    protocol: u32,
    log_id: &str,
) -> Result<(), HelloError> {
    if protocol != PROTOCOL {
        return Err(HelloError::Protocol(protocol));
    }
    if to != this {
        return Err(HelloError::WrongRegion {
            this: this.into(),
            to: to.into(),
        });
    }
    if log_id.is_empty() || log_id.len() > 64 {
        return Err(HelloError::LogId(log_id.len()));
    }
    if !is_peer(from) {
        return Err(HelloError::NotAPeer(from.into()));
    }
    Ok(())
}

impl<B> fmt::Display for Action<B>
where
    B: Entries,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Receive => f.write_str("receive"),
            Action::Poll => f.write_str("poll"),
            Action::Apply(b) => match (b.first_seq(), b.last_seq()) {
                (Some(first), Some(last)) => {
                    write!(f, "apply {first}..{last} ({} entries)", b.count())
                }
                _ => f.write_str("apply nothing"),
            },
            Action::ApplyReleased {
                entries,
                through,
                reordered,
                torn,
            } => {
                let seqs: Vec<String> = entries.seqs().iter().map(u64::to_string).collect();
                write!(f, "apply {} through {through}", seqs.join(","))?;
                if *reordered > 0 {
                    write!(f, ", {reordered} reordered")?;
                }
                if *torn > 0 {
                    write!(f, ", {torn} torn")?;
                }
                Ok(())
            }
            Action::Wait { until: _, take } if *take => f.write_str("wait"),
            Action::Wait { .. } => f.write_str("wait, stream left unread"),
            Action::Ack {
                applied_through,
                refused,
            } if refused.is_empty() => write!(f, "ack {applied_through}"),
            Action::Ack {
                applied_through,
                refused,
            } => write!(f, "ack {applied_through} refused {refused:?}"),
            Action::End(None) => f.write_str("end"),
            Action::End(Some(e)) => write!(f, "end with {}: {e}", e.reason()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions and a byte count.
    #[derive(Clone, Debug, PartialEq)]
    struct Sized(Vec<u64>, usize);

    impl Entries for Sized {
        type Item = (u64, usize);
        fn into_items(self) -> Vec<(u64, usize)> {
            let each = self.1 / self.0.len().max(1);
            self.0.into_iter().map(|s| (s, each)).collect()
        }
        fn from_items(items: Vec<(u64, usize)>) -> Self {
            let bytes = items.iter().map(|i| i.1).sum();
            Sized(items.into_iter().map(|i| i.0).collect(), bytes)
        }
        fn seqs(&self) -> Vec<u64> {
            self.0.clone()
        }
        fn count(&self) -> usize {
            self.0.len()
        }
        fn bytes(&self) -> usize {
            self.1
        }
        fn first_seq(&self) -> Option<u64> {
            self.0.first().copied()
        }
        fn last_seq(&self) -> Option<u64> {
            self.0.last().copied()
        }
        fn append(&mut self, more: Self) {
            self.0.extend(more.0);
            self.1 += more.1;
        }
    }

    impl Entry for (u64, usize) {
        fn seq(&self) -> u64 {
            self.0
        }
        fn lane(&self, _: &LaneModel) -> super::super::lanes::Lane {
            super::super::lanes::Lane::Part(0, (self.0 % 2) as u32)
        }
        fn unit(&self) -> (u64, u32) {
            (self.0, 1)
        }
        fn bytes(&self) -> usize {
            self.1
        }
    }

    #[test]
    fn coalescing_stops_at_the_apply_byte_budget() {
        let now = Instant::now();
        let third = MAX_APPLY_BYTES / 3;
        let mut r = Receiver::new(0);
        assert_eq!(r.next_action(), Some(Action::Receive));
        r.handle(now, Event::Message(Inbound::Batch(Sized(vec![1], third))));
        assert_eq!(r.next_action(), Some(Action::Poll));
        r.handle(now, Event::Message(Inbound::Batch(Sized(vec![2], third))));
        assert_eq!(r.next_action(), Some(Action::Poll));
        // A third batch that would take the apply past the budget waits.
        let over = MAX_APPLY_BYTES - 2 * third + 1;
        r.handle(now, Event::Message(Inbound::Batch(Sized(vec![3], over))));
        assert_eq!(
            r.next_action(),
            Some(Action::Apply(Sized(vec![1, 2], 2 * third)))
        );
        r.handle(
            now,
            Event::Applied {
                applied_through: 2,
                refused: None,
            },
        );
        assert!(matches!(r.next_action(), Some(Action::Ack { .. })));
        // It starts the next apply.
        assert_eq!(r.next_action(), Some(Action::Poll));
        // A batch of the whole budget is applied alone, at once.
        let mut r = Receiver::new(0);
        r.next_action();
        r.handle(
            now,
            Event::Message(Inbound::Batch(Sized(vec![1], MAX_APPLY_BYTES))),
        );
        assert_eq!(
            r.next_action(),
            Some(Action::Apply(Sized(vec![1], MAX_APPLY_BYTES)))
        );
    }

    #[test]
    fn partition_order_releases_lanes_apart_and_acks_the_prefix() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // Odd positions in one lane, even in the other; delays in turn.
        let mut draws = [5u64, 1, 5, 1].into_iter();
        let delay = Box::new(move || ms(draws.next().unwrap_or(0)));
        let mut r = Receiver::partitioned(0, LaneModel::default(), delay);
        assert_eq!(r.next_action(), Some(Action::Receive));
        r.handle(
            t0,
            Event::Message(Inbound::Batch(Sized(vec![1, 2, 3, 4], 40))),
        );
        assert_eq!(r.next_action(), Some(Action::Poll));
        r.handle(t0, Event::NothingYet);
        assert_eq!(
            r.next_action(),
            Some(Action::Wait {
                until: t0 + ms(1),
                take: true
            })
        );
        r.handle(t0 + ms(1), Event::Due);
        // 2 and 4 go ahead of 1 and 3: two reorderings, prefix still 0.
        assert_eq!(
            r.next_action().map(|a| a.to_string()),
            Some("apply 2,4 through 0, 2 reordered".into())
        );
        r.handle(
            t0 + ms(1),
            Event::Applied {
                applied_through: 0,
                refused: None,
            },
        );
        assert_eq!(r.next_action().map(|a| a.to_string()), Some("ack 0".into()));
        assert_eq!(r.next_action().map(|a| a.to_string()), Some("wait".into()));
        // A batch may follow on from what was taken in, not only applied.
        r.handle(
            t0 + ms(2),
            Event::Message(Inbound::Batch(Sized(vec![5], 10))),
        );
        assert_eq!(r.next_action(), Some(Action::Poll));
        r.handle(t0 + ms(2), Event::NothingYet);
        assert!(matches!(r.next_action(), Some(Action::Wait { .. })));
        r.handle(t0 + ms(9), Event::Due);
        assert_eq!(
            r.next_action().map(|a| a.to_string()),
            Some("apply 1,3,5 through 5".into())
        );
    }

    #[test]
    fn a_chain_ends_with_the_current_epoch_and_never_goes_back() {
        let e = Epoch::new;
        assert_eq!(check_epochs("b", &[e("a", 1), e("b", 7)]), Ok(()));
        assert_eq!(check_epochs("b", &[]), Ok(()));
        let too_many: Vec<Epoch> = (0..MAX_EPOCHS)
            .map(|i| Epoch::new(format!("e{i}"), 1))
            .chain([e("b", 1)])
            .collect();
        let bad = [
            (vec![e("a", 1), e("c", 7)], "the last epoch"),
            (vec![e("a", 9), e("b", 7)], "epochs[1].start 7"),
            (vec![e("", 1), e("b", 7)], "epochs[0].log_id"),
            (too_many, "the limit is 64"),
        ];
        for (epochs, says) in bad {
            let err = check_epochs("b", &epochs).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
