//! Partition lanes: how a receiver makes a sender's entries visible when
//! replication follows DynamoDB's partition-parallel order (the default).
//!
//! AWS documents that global tables replicate items individually and each
//! partition of a table in parallel with the others: a remote region may
//! apply writes to different items in another order than the source
//! committed them, and the items of one transaction become visible at
//! different times (the developer guide's *Best practices for global table
//! design* and *Using transactional APIs with global tables*). Meridian
//! reproduces that here, at the receiving end of each link, rather than in
//! the log or on the wire, so acknowledgements, watermarks, resume and
//! repair keep working on log positions, whatever order the lanes apply in:
//!
//! - Each entry falls into a **lane**: its table and the hash of its
//!   partition key modulo the table's partition count. Writes to one
//!   partition key share a lane and keep their order.
//! - Each entry is held for its own delay, drawn by the adapter (an
//!   exponential sample, seeded per link in simulation), on top of the
//!   link's. An entry is never released before an earlier one of its lane,
//!   so a slow entry holds back its lane, as a busy partition does.
//! - Catalog entries (table definitions, replicas, TTL, tags) are
//!   **barriers**: one is applied only after every earlier entry, and no
//!   later entry is applied before it, so a table still reaches a region
//!   before its items and a deleted table takes none of them along late.
//! - What the store has applied of the sender's log is the **prefix** below
//!   the lowest entry still held: the position the receiver acknowledges
//!   and the store records. Entries above it that were applied already
//!   come back after a reconnect and apply again as duplicates, which
//!   last-writer-wins makes harmless.
//!
//! [`Lanes`] also counts the anomalies it causes, as they become visible:
//! an entry made visible while an earlier entry of the same sender is
//! still held (a **reordering**), and a unit (one request's writes, such as
//! a transaction) made visible in part (a **torn** unit).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// How a receiver makes a peer's entries visible (`replication_order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationOrder {
    /// DynamoDB's partition-parallel order: per item in order, across
    /// items and within a transaction not (see the module docs).
    #[default]
    Partition,
    /// Whole units in commit order: stronger than DynamoDB, kept for
    /// comparison.
    Log,
}

impl ReplicationOrder {
    pub fn is_default(&self) -> bool {
        *self == ReplicationOrder::default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationOrder::Partition => "partition",
            ReplicationOrder::Log => "log",
        }
    }
}

/// Most partitions a table may be split into for replication.
pub const MAX_PARTITIONS: u32 = 1024;

/// The lane model of partition order: how many partitions each table has
/// and how long each entry is held.
#[derive(Clone, Debug, PartialEq)]
pub struct LaneModel {
    /// Partitions of a table not named in `per_table`.
    pub partitions: u32,
    /// Partitions of particular tables.
    pub per_table: BTreeMap<String, u32>,
    /// Mean of each entry's exponential lane delay.
    pub delay_mean: Duration,
    /// No lane delay is longer than this.
    pub delay_max: Duration,
}

impl Default for LaneModel {
    /// Eight partitions a table and a 2 ms mean delay (at most 20 ms):
    /// on loopback, writes a millisecond apart to different partitions
    /// arrive out of order about a third of the time, and a write still
    /// reaches its peers in a few milliseconds.
    fn default() -> Self {
        LaneModel {
            partitions: 8,
            per_table: BTreeMap::new(),
            delay_mean: Duration::from_millis(2),
            delay_max: Duration::from_millis(20),
        }
    }
}

impl LaneModel {
    /// The model a cluster file's settings describe, or what is wrong with
    /// them, naming the setting and its limits.
    pub fn from_settings(
        partitions: u32,
        per_table: &BTreeMap<String, u32>,
        delay_ms: f64,
        delay_max_ms: f64,
    ) -> Result<LaneModel, String> {
        let count = |name: &str, n: u32| {
            if (1..=MAX_PARTITIONS).contains(&n) {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be between 1 and {MAX_PARTITIONS}, got {n}"
                ))
            }
        };
        count("replication_partitions", partitions)?;
        for (table, n) in per_table {
            count(&format!("replication_table_partitions.{table}"), *n)?;
        }
        let ms = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=60_000.0).contains(&v) {
                Ok(Duration::from_secs_f64(v / 1e3))
            } else {
                Err(format!("{name} must be between 0 and 60000 (ms), got {v}"))
            }
        };
        let delay_mean = ms("replication_lane_delay_ms", delay_ms)?;
        let delay_max = ms("replication_lane_delay_max_ms", delay_max_ms)?;
        if delay_max < delay_mean {
            return Err(format!(
                "replication_lane_delay_max_ms ({delay_max_ms}) must be at least replication_lane_delay_ms ({delay_ms})"
            ));
        }
        Ok(LaneModel {
            partitions,
            per_table: per_table.clone(),
            delay_mean,
            delay_max,
        })
    }

    /// The partition count of `table`.
    pub fn partitions_of(&self, table: &str) -> u32 {
        self.per_table
            .get(table)
            .copied()
            .unwrap_or(self.partitions)
            .max(1)
    }

    /// The lane of an item entry of `table` with partition key bytes
    /// `partition`: FNV-1a of the key, so every region and every run puts
    /// a key in the same lane.
    pub fn lane(&self, table: &str, partition: &[u8]) -> Lane {
        let n = u64::from(self.partitions_of(table));
        let index = fnv(partition.iter().copied()) % n;
        Lane::Part(fnv(table.bytes()), index as u32)
    }

    /// A lane delay from a uniform draw `u` in [0, 1): exponential with the
    /// model's mean, capped at its maximum.
    pub fn delay(&self, u: f64) -> Duration {
        let mean = self.delay_mean.as_secs_f64();
        if mean <= 0.0 {
            return Duration::ZERO;
        }
        let u = u.clamp(0.0, 1.0 - f64::EPSILON);
        let d = -mean * (1.0 - u).ln();
        Duration::from_secs_f64(d).min(self.delay_max)
    }
}

fn fnv(bytes: impl Iterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Where an entry waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// A catalog entry: waits for everything before it, holds back
    /// everything after it.
    Barrier,
    /// One partition of one table: (hash of the table's name, index).
    Part(u64, u32),
}

/// One entry of a sender's log, as lanes see it.
pub trait Entry {
    fn seq(&self) -> u64;
    fn lane(&self, model: &LaneModel) -> Lane;
    /// The first position of the unit it belongs to, and the unit's length.
    fn unit(&self) -> (u64, u32);
    /// Bytes held in memory, about.
    fn bytes(&self) -> usize;
}

struct Held<E> {
    release: Instant,
    barrier: bool,
    unit: (u64, u32),
    bytes: usize,
    entry: E,
}

/// Entries released together: one apply.
#[derive(Debug, PartialEq)]
pub struct Release<E> {
    pub entries: Vec<E>,
    /// The sender's log is applied through here once these are: every
    /// entry at or below it has been released, and it ends no unit halfway.
    pub through: u64,
    /// Entries made visible while an earlier entry was still held.
    pub reordered: usize,
    /// Units made visible in part.
    pub torn: usize,
}

/// The entries one stream holds back, by lane. See the module docs.
pub struct Lanes<E> {
    model: LaneModel,
    /// Held entries by position.
    held: BTreeMap<u64, Held<E>>,
    /// (release, position) of every held entry.
    by_release: BTreeSet<(Instant, u64)>,
    /// Positions of held barriers.
    barriers: BTreeSet<u64>,
    /// When each lane's last entry is released: a later entry of the lane
    /// never goes before it.
    lane_free_at: HashMap<Lane, Instant>,
    /// Units shown in part whose rest is still held.
    open_torn: HashSet<u64>,
    /// The highest position taken in.
    received: u64,
    bytes: usize,
}

impl<E: Entry> Lanes<E> {
    /// Lanes of a stream whose `Welcome` named `applied`.
    pub fn new(model: LaneModel, applied: u64) -> Self {
        Lanes {
            model,
            held: BTreeMap::new(),
            by_release: BTreeSet::new(),
            barriers: BTreeSet::new(),
            lane_free_at: HashMap::new(),
            open_torn: HashSet::new(),
            received: applied,
            bytes: 0,
        }
    }

    /// The highest position taken in.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Entries held, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held.len(), self.bytes)
    }

    /// Takes in entries that arrived `now`, in log order; `delay` draws
    /// each item entry's lane delay. Positions at or below what was taken
    /// in before are duplicates and dropped; their count is returned.
    pub fn admit(
        &mut self,
        now: Instant,
        entries: Vec<E>,
        delay: &mut dyn FnMut() -> Duration,
    ) -> usize {
        let mut duplicates = 0;
        if self.lane_free_at.len() > 4096 {
            self.lane_free_at.retain(|_, t| *t > now);
        }
        for entry in entries {
            let seq = entry.seq();
            if seq <= self.received {
                duplicates += 1;
                continue;
            }
            self.received = seq;
            let lane = entry.lane(&self.model);
            let release = match lane {
                Lane::Barrier => now,
                Lane::Part(..) => {
                    let mut at = now + delay();
                    if let Some(free) = self.lane_free_at.get(&lane) {
                        at = at.max(*free);
                    }
                    self.lane_free_at.insert(lane, at);
                    at
                }
            };
            let barrier = lane == Lane::Barrier;
            if barrier {
                self.barriers.insert(seq);
            }
            let bytes = entry.bytes();
            self.bytes += bytes;
            self.by_release.insert((release, seq));
            self.held.insert(
                seq,
                Held {
                    release,
                    barrier,
                    unit: entry.unit(),
                    bytes,
                    entry,
                },
            );
        }
        duplicates
    }

    /// Entries after this position wait for a barrier; `None`: none do.
    fn blocked_from(&self) -> Option<u64> {
        let first = *self.barriers.first()?;
        // A barrier that is the lowest held entry may go, with what
        // follows it up to the next barrier.
        if self.held.first_key_value().map(|(s, _)| *s) == Some(first) {
            self.barriers.iter().nth(1).copied()
        } else {
            Some(first)
        }
    }

    fn may_go(&self, seq: u64, blocked: Option<u64>) -> bool {
        match blocked {
            None => true,
            Some(b) => {
                seq < b
                    && (!self.held.get(&seq).is_some_and(|h| h.barrier)
                        || self.held.first_key_value().map(|(s, _)| *s) == Some(seq))
            }
        }
    }

    /// When the next held entry may go; `None` when nothing is held.
    pub fn next_release(&self) -> Option<Instant> {
        let blocked = self.blocked_from();
        self.by_release
            .iter()
            .find(|(_, seq)| self.may_go(*seq, blocked))
            .map(|(t, _)| *t)
    }

    /// Releases every entry whose time has come and that no barrier holds
    /// back, in log order, at most `max_entries` of them and about
    /// `max_bytes`; `None` if there is none.
    pub fn release(
        &mut self,
        now: Instant,
        max_entries: usize,
        max_bytes: usize,
    ) -> Option<Release<E>> {
        let blocked = self.blocked_from();
        let mut seqs: Vec<u64> = Vec::new();
        let mut bytes = 0usize;
        for &(t, seq) in &self.by_release {
            if t > now || seqs.len() >= max_entries {
                break;
            }
            if !self.may_go(seq, blocked) {
                continue;
            }
            let b = self.held.get(&seq).map_or(0, |h| h.bytes);
            if !seqs.is_empty() && bytes + b > max_bytes {
                break;
            }
            bytes += b;
            seqs.push(seq);
        }
        if seqs.is_empty() {
            return None;
        }
        seqs.sort_unstable();
        let mut out = Vec::with_capacity(seqs.len());
        for seq in &seqs {
            if let Some(h) = self.held.remove(seq) {
                self.by_release.remove(&(h.release, *seq));
                self.barriers.remove(seq);
                self.bytes -= h.bytes;
                out.push(h);
            }
        }
        let lowest_held = self.held.first_key_value().map(|(s, _)| *s);
        // The prefix never ends inside a unit: a sender resumes right after
        // what is acknowledged, and a batch must start at a unit's first
        // entry. What was applied of the unit comes back as duplicates.
        let through = match self.held.first_key_value() {
            Some((&low, h)) => h.unit.0.min(low).saturating_sub(1),
            None => self.received,
        };
        let mut reordered = 0;
        let mut torn = 0;
        for h in &out {
            if h.barrier {
                continue;
            }
            let seq = h.entry.seq();
            if lowest_held.is_some_and(|low| low < seq) {
                reordered += 1;
            }
            let (first, len) = h.unit;
            if len > 1 {
                let rest_held = self
                    .held
                    .range(first..first.saturating_add(u64::from(len)))
                    .next()
                    .is_some();
                if rest_held {
                    if self.open_torn.insert(first) {
                        torn += 1;
                    }
                } else {
                    self.open_torn.remove(&first);
                }
            }
        }
        Some(Release {
            entries: out.into_iter().map(|h| h.entry).collect(),
            through,
            reordered,
            torn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (seq, lane index or None for a barrier, unit first, unit len)
    #[derive(Debug, PartialEq)]
    struct E(u64, Option<u32>, u64, u32);

    impl Entry for E {
        fn seq(&self) -> u64 {
            self.0
        }
        fn lane(&self, _: &LaneModel) -> Lane {
            self.1.map_or(Lane::Barrier, |i| Lane::Part(0, i))
        }
        fn unit(&self) -> (u64, u32) {
            (self.2, self.3)
        }
        fn bytes(&self) -> usize {
            10
        }
    }

    fn single(seq: u64, lane: u32) -> E {
        E(seq, Some(lane), seq, 1)
    }

    fn delays(ms: &[u64]) -> impl FnMut() -> Duration + '_ {
        let mut it = ms.iter();
        move || Duration::from_millis(*it.next().expect("a delay"))
    }

    fn seqs(r: &Release<E>) -> Vec<u64> {
        r.entries.iter().map(|e| e.0).collect()
    }

    #[test]
    fn a_later_write_of_another_lane_goes_first_and_is_counted() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Lanes::new(LaneModel::default(), 0);
        l.admit(t0, vec![single(1, 0), single(2, 1)], &mut delays(&[5, 1]));
        assert_eq!(l.next_release(), Some(t0 + ms(1)));
        assert!(l.release(t0, 100, 1 << 20).is_none());
        let r = l.release(t0 + ms(1), 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through, r.reordered), (vec![2], 0, 1));
        let r = l.release(t0 + ms(5), 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through, r.reordered), (vec![1], 2, 0));
        assert!(l.next_release().is_none());
    }

    #[test]
    fn one_lane_keeps_its_order_whatever_the_delays() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Lanes::new(LaneModel::default(), 0);
        l.admit(t0, vec![single(1, 3), single(2, 3)], &mut delays(&[9, 1]));
        // The second is drawn 1 ms but waits for the first.
        assert_eq!(l.next_release(), Some(t0 + ms(9)));
        let r = l.release(t0 + ms(9), 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through, r.reordered), (vec![1, 2], 2, 0));
    }

    #[test]
    fn a_barrier_waits_for_what_precedes_it_and_holds_back_what_follows() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Lanes::new(LaneModel::default(), 0);
        let batch = vec![single(1, 0), E(2, None, 2, 1), single(3, 1)];
        l.admit(t0, batch, &mut delays(&[4, 0]));
        // 3 is due at once but waits behind the barrier, which waits for 1.
        assert!(l.release(t0, 100, 1 << 20).is_none());
        assert_eq!(l.next_release(), Some(t0 + ms(4)));
        let r = l.release(t0 + ms(4), 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through), (vec![1], 1));
        // Now the barrier is lowest: it goes, with what follows it.
        let r = l.release(t0 + ms(4), 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through, r.reordered), (vec![2, 3], 3, 0));
    }

    #[test]
    fn a_unit_shown_in_part_counts_as_torn_once() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Lanes::new(LaneModel::default(), 0);
        let unit = vec![
            E(1, Some(0), 1, 3),
            E(2, Some(1), 1, 3),
            E(3, Some(2), 1, 3),
        ];
        l.admit(t0, unit, &mut delays(&[1, 2, 3]));
        let torn: Vec<usize> = (1..=3)
            .map(|i| l.release(t0 + ms(i), 100, 1 << 20).unwrap().torn)
            .collect();
        assert_eq!(torn, vec![1, 0, 0]);
        // All at once: whole, not torn.
        let mut l = Lanes::new(LaneModel::default(), 0);
        let unit = vec![E(1, Some(0), 1, 2), E(2, Some(1), 1, 2)];
        l.admit(t0, unit, &mut delays(&[1, 1]));
        assert_eq!(l.release(t0 + ms(1), 100, 1 << 20).unwrap().torn, 0);
    }

    #[test]
    fn the_prefix_never_ends_inside_a_unit() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = Lanes::new(LaneModel::default(), 0);
        // A lone write, then a unit of three whose middle entry is slow.
        let batch = vec![
            single(1, 0),
            E(2, Some(1), 2, 3),
            E(3, Some(2), 2, 3),
            E(4, Some(3), 2, 3),
        ];
        l.admit(t0, batch, &mut delays(&[0, 0, 5, 0]));
        let r = l.release(t0, 100, 1 << 20).unwrap();
        // 1, 2 and 4 are out, 3 held: the prefix is 1, not 2.
        assert_eq!((seqs(&r), r.through, r.torn), (vec![1, 2, 4], 1, 1));
        let r = l.release(t0 + ms(5), 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through), (vec![3], 4));
    }

    #[test]
    fn duplicates_are_dropped_and_limits_bound_a_release() {
        let t0 = Instant::now();
        let mut l = Lanes::new(LaneModel::default(), 2);
        let n = l.admit(
            t0,
            vec![single(2, 0), single(3, 0), single(4, 1)],
            &mut delays(&[0, 0]),
        );
        assert_eq!(n, 1);
        assert_eq!(l.held(), (2, 20));
        let r = l.release(t0, 1, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through), (vec![3], 3));
        let r = l.release(t0, 100, 1 << 20).unwrap();
        assert_eq!((seqs(&r), r.through), (vec![4], 4));
    }

    #[test]
    fn the_delay_is_exponential_with_the_mean_and_capped() {
        let m = LaneModel::default();
        assert_eq!(m.delay(0.0), Duration::ZERO);
        let median = m.delay(0.5).as_secs_f64() * 1e3;
        assert!((median - 2.0 * std::f64::consts::LN_2).abs() < 1e-6);
        assert_eq!(m.delay(0.999_999_9), m.delay_max);
        let off = LaneModel {
            delay_mean: Duration::ZERO,
            ..LaneModel::default()
        };
        assert_eq!(off.delay(0.7), Duration::ZERO);
    }

    #[test]
    fn one_key_always_falls_in_one_lane_of_its_table() {
        let m = LaneModel {
            per_table: BTreeMap::from([("small".to_string(), 1)]),
            ..LaneModel::default()
        };
        assert_eq!(m.lane("t", b"k1"), m.lane("t", b"k1"));
        assert_ne!(m.lane("t", b"k1"), m.lane("u", b"k1"));
        assert_eq!(m.lane("small", b"a"), m.lane("small", b"b"));
        let lanes: HashSet<Lane> = (0..200u32).map(|i| m.lane("t", &i.to_be_bytes())).collect();
        assert_eq!(lanes.len(), 8);
    }
}
