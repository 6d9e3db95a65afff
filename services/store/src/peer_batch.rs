//! A batch of a peer's log as the receiver hands it to the store
//! ([`Group::apply`](crate::Group::apply)): its entries, where they sit in
//! the peer's log, and the tables whose entries are skipped, each with the
//! reason it is skipped.

use std::collections::BTreeMap;

use meridian_core::Mutation;

/// Why a table's entries from a peer are skipped rather than applied.
/// Whatever the reason, a skipped entry counts as applied through, so the
/// link goes on with the other tables; when the reason ends, repair
/// rounds bring the table's latest versions back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    /// The table's replication between this region and the peer is paused
    /// (docs/netsim.md, *Pausing a table's replication*).
    Paused,
    /// The replicas' resource-based policies do not grant the table's
    /// replication between this region and the peer
    /// (docs/replicas.md, *Multi-account global tables*).
    Withheld,
}

impl Skip {
    /// Every reason, in the order [`Skipped`] counts them.
    pub const ALL: [Skip; 2] = [Skip::Paused, Skip::Withheld];

    /// The reason's metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::Paused => "paused",
            Skip::Withheld => "withheld",
        }
    }
}

/// The tables whose entries a batch skips, each with one reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skips(BTreeMap<String, Skip>);

impl Skips {
    /// Skips `table`'s entries for `why`, unless they are skipped already:
    /// the first reason given is the one counted.
    pub fn add(&mut self, table: impl Into<String>, why: Skip) {
        self.0.entry(table.into()).or_insert(why);
    }

    /// Why `table`'s entries are skipped, if they are.
    pub fn why(&self, table: &str) -> Option<Skip> {
        self.0.get(table).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Into<String>> FromIterator<(T, Skip)> for Skips {
    fn from_iter<I: IntoIterator<Item = (T, Skip)>>(iter: I) -> Self {
        let mut skips = Skips::default();
        for (table, why) in iter {
            skips.add(table, why);
        }
        skips
    }
}

/// How many entries a batch skipped, per reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped([usize; Skip::ALL.len()]);

impl Skipped {
    pub(crate) fn count(&mut self, why: Skip) {
        self.0[why as usize] += 1;
    }

    /// The entries skipped for `why`.
    pub fn of(&self, why: Skip) -> usize {
        self.0[why as usize]
    }

    /// Each reason with the entries skipped for it.
    pub fn iter(&self) -> impl Iterator<Item = (Skip, usize)> + '_ {
        Skip::ALL.into_iter().map(|why| (why, self.of(why)))
    }
}

/// One batch of `peer`'s log `log_id`, in log order.
#[derive(Clone, Debug)]
pub struct PeerBatch {
    pub peer: String,
    pub log_id: String,
    pub entries: Vec<Mutation>,
    /// Partition order's release (docs/replication.md, *Lanes*):
    /// `Some(through)` applies each entry on its own, not by units, since
    /// a receiver releases a unit's entries apart, and records the
    /// sender's log as applied through `through` (the prefix below what
    /// the receiver still holds), or up to the entry before a refused one;
    /// the entries need not follow on from each other. `None` applies
    /// whole units in log order, through the last entry applied.
    pub released: Option<u64>,
    /// The tables whose entries are skipped, and why. Catalog changes are
    /// never skipped.
    pub skips: Skips,
}

impl PeerBatch {
    /// A batch of whole units, nothing skipped.
    pub fn new(peer: impl Into<String>, log_id: impl Into<String>, entries: Vec<Mutation>) -> Self {
        PeerBatch {
            peer: peer.into(),
            log_id: log_id.into(),
            entries,
            released: None,
            skips: Skips::default(),
        }
    }

    /// The batch as partition order released it, completing the log
    /// through `through` (see the field `released`).
    pub fn released_through(mut self, through: u64) -> Self {
        self.released = Some(through);
        self
    }

    /// The batch skipping `skips`.
    pub fn skipping(mut self, skips: Skips) -> Self {
        self.skips = skips;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_skipped_for_the_first_reason_given_and_counted_under_it() {
        let skips: Skips = [
            ("t", Skip::Paused),
            ("t", Skip::Withheld),
            ("u", Skip::Withheld),
        ]
        .into_iter()
        .collect();
        assert_eq!(skips.why("t"), Some(Skip::Paused));
        assert_eq!(skips.why("u"), Some(Skip::Withheld));
        assert_eq!(skips.why("v"), None);
        let mut n = Skipped::default();
        n.count(Skip::Withheld);
        n.count(Skip::Withheld);
        n.count(Skip::Paused);
        assert_eq!(
            n.iter().collect::<Vec<_>>(),
            vec![(Skip::Paused, 1), (Skip::Withheld, 2)]
        );
    }
}
