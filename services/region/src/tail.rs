//! The newest stretch of the region's log, kept in memory for the shippers.
//!
//! Without it a caught-up shipper would read every new entry back from
//! SQLite, on the blocking pool, once per peer, moments after the writer
//! had held that very entry, and each such read would begin a fresh read
//! transaction, which in WAL mode throws away the reader connection's page
//! cache whenever the log has grown. So the writer hands each committed
//! group's log entries to the tail, and a shipper whose position falls
//! inside it takes its next batch from memory. A shipper further behind
//! (after a restart or a partition, or more than the tail holds) reads the
//! store.
//!
//! The tail is a cache of the log and nothing more: the log in SQLite stays
//! the record, every entry in the tail is committed, and a miss only costs a
//! read.

use std::collections::VecDeque;
use std::sync::Arc;

use meridian_core::Mutation;
use meridian_store::BatchFill;

/// How many bytes of log entries (by [`Mutation::size`]) the tail keeps:
/// seconds of writes at thousands per second, and a few MiB of memory.
pub const TAIL_BYTES: usize = 4 << 20;

/// Consecutive committed log entries, oldest first.
pub struct Tail {
    entries: VecDeque<Arc<Mutation>>,
    bytes: usize,
    max_bytes: usize,
}

impl Tail {
    pub fn new(max_bytes: usize) -> Self {
        Tail {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Appends a committed group's entries, in log order, and forgets the
    /// oldest beyond the byte bound. An entry that does not follow the
    /// newest one starts the tail over, so what it holds is always one run
    /// of consecutive log positions.
    pub fn push(&mut self, committed: Vec<Mutation>) {
        for e in committed {
            if self.entries.back().is_some_and(|b| b.seq + 1 != e.seq) {
                self.entries.clear();
                self.bytes = 0;
            }
            self.bytes += e.size();
            self.entries.push_back(Arc::new(e));
        }
        while self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.size(),
                None => break,
            }
        }
    }

    /// The batch after log position `after`, cut exactly as
    /// `Reader::log_after` cuts it, or `None` when the tail does not reach
    /// back to `after + 1` and the store must be read. An empty batch means
    /// nothing after `after` has been handed over yet; the next commit
    /// changes the log head only after its entries are here.
    pub fn after(&self, after: u64, limit: usize, max_bytes: usize) -> Option<Vec<Arc<Mutation>>> {
        let first = self.entries.front()?.seq;
        if after.checked_add(1)? < first {
            return None;
        }
        let len = self.entries.len();
        let skip = usize::try_from(after + 1 - first).map_or(len, |s| s.min(len));
        let mut out: Vec<Arc<Mutation>> = Vec::new();
        let mut fill = BatchFill::new(limit, max_bytes);
        for e in self.entries.range(skip..) {
            if fill.full() {
                break;
            }
            fill.add(e);
            out.push(e.clone());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use meridian_core::EncodedKey;

    use super::*;

    /// Entry `seq`, at `pos` of a unit of `len`, with an image of `image` bytes.
    fn entry(seq: u64, pos: u32, len: u32, image: usize) -> Mutation {
        Mutation {
            seq,
            table: "t".into(),
            table_version: Some(vec![1]),
            key: EncodedKey {
                partition: seq.to_be_bytes().to_vec(),
                sort: Vec::new(),
            },
            version: vec![2],
            prev: None,
            context: vec![3],
            image: Some(vec![0; image]),
            commit_real: seq,
            ttl: false,
            unit: (pos, len),
        }
    }

    fn singles(seqs: std::ops::RangeInclusive<u64>) -> Vec<Mutation> {
        seqs.map(|s| entry(s, 0, 1, 10)).collect()
    }

    fn seqs(batch: Option<Vec<Arc<Mutation>>>) -> Option<Vec<u64>> {
        batch.map(|b| b.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn a_position_inside_the_tail_is_served_and_one_before_it_is_not() {
        let mut t = Tail::new(1 << 20);
        assert_eq!(seqs(t.after(0, 10, 1 << 20)), None, "empty: read the store");
        t.push(singles(5..=9));
        assert_eq!(seqs(t.after(3, 10, 1 << 20)), None, "6 is not here");
        assert_eq!(seqs(t.after(4, 10, 1 << 20)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(seqs(t.after(7, 10, 1 << 20)), Some(vec![8, 9]));
        assert_eq!(seqs(t.after(9, 10, 1 << 20)), Some(vec![]), "caught up");
        assert_eq!(seqs(t.after(50, 10, 1 << 20)), Some(vec![]));
        assert_eq!(seqs(t.after(u64::MAX, 10, 1 << 20)), None);
        assert_eq!(
            seqs(t.after(4, 2, 1 << 20)),
            Some(vec![5, 6]),
            "entry limit"
        );
    }

    #[test]
    fn batches_are_cut_by_bytes_but_never_inside_a_unit() {
        let mut t = Tail::new(1 << 20);
        let unit: Vec<Mutation> = (0..3).map(|p| entry(2 + u64::from(p), p, 3, 10)).collect();
        t.push(vec![entry(1, 0, 1, 10)]);
        t.push(unit);
        t.push(vec![entry(5, 0, 1, 10)]);
        // One entry fills the byte budget, but the unit goes whole.
        assert_eq!(seqs(t.after(1, 10, 1)), Some(vec![2, 3, 4]));
        assert_eq!(seqs(t.after(0, 2, 1 << 20)), Some(vec![1, 2, 3, 4]));
        assert_eq!(seqs(t.after(0, 1, 1 << 20)), Some(vec![1]));
    }

    #[test]
    fn the_oldest_entries_go_past_the_byte_bound() {
        let size = entry(1, 0, 1, 100).size();
        let mut t = Tail::new(3 * size);
        t.push((1..=5).map(|s| entry(s, 0, 1, 100)).collect());
        assert_eq!(seqs(t.after(1, 10, 1 << 20)), None, "2 is gone");
        assert_eq!(seqs(t.after(2, 10, 1 << 20)), Some(vec![3, 4, 5]));
        assert_eq!(t.bytes, 3 * size);
    }

    #[test]
    fn a_gap_starts_the_tail_over() {
        let mut t = Tail::new(1 << 20);
        t.push(singles(1..=3));
        t.push(singles(7..=8));
        assert_eq!(
            seqs(t.after(2, 10, 1 << 20)),
            None,
            "4 to 6 were never here"
        );
        assert_eq!(seqs(t.after(6, 10, 1 << 20)), Some(vec![7, 8]));
        assert_eq!(t.bytes, 2 * entry(7, 0, 1, 10).size());
    }
}
