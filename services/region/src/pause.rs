//! Paused replication of one table at one replica, as AWS Fault Injection
//! Service's `aws:dynamodb:global-table-pause-replication` pauses it
//! (docs/netsim.md, *Pausing a table's replication*): the replica keeps
//! serving its own reads and writes, nothing of the table crosses between
//! it and any peer, and the other tables go on. Every region keeps the
//! same pauses (the command that installs one tells every region), so the
//! replica skips the table's entries from its peers and each peer skips
//! the replica's; at the end each side pulls what it skipped by repair.
//!
//! A pure core: times come in, decisions go out. A pause lives in the
//! region's memory: a restart forgets it, as a fault injected into a
//! process would be.

use std::time::Duration;

use tokio::time::Instant;

/// The longest pause: FIS's longest action duration.
pub const MAX_DURATION: Duration = Duration::from_secs(12 * 3600);
/// The longest tail: AWS says replication may go on for up to five minutes
/// after the action starts.
pub const MAX_TAIL: Duration = Duration::from_secs(300);

/// One table's replication paused at one replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    pub table: String,
    /// The replica whose replication of `table` stops.
    pub region: String,
    /// When entries begin to be skipped: the request's time plus its tail,
    /// during which replication goes on.
    pub from: Instant,
    /// When the pause ends and the skipped entries are pulled back.
    pub until: Instant,
}

impl Pause {
    /// Whether entries of the pause's table between `me` and `peer` are
    /// skipped at `now`.
    fn cuts(&self, me: &str, peer: &str, now: Instant) -> bool {
        (self.region == me || self.region == peer) && self.from <= now && now < self.until
    }
}

/// The pauses a region knows.
#[derive(Debug, Default)]
pub struct Pauses(Vec<Pause>);

impl Pauses {
    /// Adds `p`, replacing a pause of the same table at the same replica
    /// (repeating the command restarts it rather than stacking).
    pub fn install(&mut self, p: Pause) {
        self.0
            .retain(|q| !(q.table == p.table && q.region == p.region));
        self.0.push(p);
    }

    /// The tables whose entries this region (`me`) skips from `peer` at
    /// `now`.
    pub fn skipped(&self, me: &str, peer: &str, now: Instant) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter(|p| p.cuts(me, peer, now))
            .map(|p| p.table.clone())
            .collect();
        out.dedup();
        out
    }

    /// Whether a message of `table` between `me` and `peer` is dropped at
    /// `now` (strong mode's messages of a paused STRONG table).
    pub fn blocks(&self, me: &str, peer: &str, table: &str, now: Instant) -> bool {
        self.0
            .iter()
            .any(|p| p.table == table && p.cuts(me, peer, now))
    }

    /// Whether a pause of `table`, at any replica, is under way at `now`:
    /// from the request (its tail included) until it ends. AWS refuses a
    /// global table's settings changes for as long as an FIS experiment
    /// pauses its replication, MREC and MRSC alike.
    pub fn under_way(&self, table: &str, now: Instant) -> bool {
        self.0.iter().any(|p| p.table == table && now < p.until)
    }

    /// Removes and returns the pauses over at `now`.
    pub fn ended(&mut self, now: Instant) -> Vec<Pause> {
        let (over, on): (Vec<Pause>, Vec<Pause>) = self.0.drain(..).partition(|p| p.until <= now);
        self.0 = on;
        over
    }

    /// The pauses not over at `now`, for the status API.
    pub fn current(&self, now: Instant) -> Vec<Pause> {
        self.0.iter().filter(|p| now < p.until).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(table: &str, region: &str, from: Instant, secs: u64) -> Pause {
        Pause {
            table: table.into(),
            region: region.into(),
            from,
            until: from + Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_pause_cuts_its_table_both_ways_at_its_replica_only_while_it_lasts() {
        let t0 = Instant::now();
        let mut p = Pauses::default();
        p.install(pause("t", "eu", t0 + Duration::from_secs(1), 10));
        // During the tail, nothing is skipped.
        assert!(p.skipped("eu", "us", t0).is_empty());
        let during = t0 + Duration::from_secs(2);
        // At the replica, from every peer; at a peer, from the replica only.
        assert_eq!(p.skipped("eu", "us", during), vec!["t".to_string()]);
        assert_eq!(p.skipped("eu", "ap", during), vec!["t".to_string()]);
        assert_eq!(p.skipped("us", "eu", during), vec!["t".to_string()]);
        assert!(p.skipped("us", "ap", during).is_empty());
        assert!(p.blocks("ap", "eu", "t", during));
        assert!(!p.blocks("ap", "eu", "other", during));
        // Over at its end: ended once, then gone.
        let after = t0 + Duration::from_secs(11);
        assert!(p.skipped("eu", "us", after).is_empty());
        assert_eq!(p.ended(after).len(), 1);
        assert!(p.ended(after).is_empty());
        assert!(p.current(after).is_empty());
    }

    #[test]
    fn repeating_a_pause_replaces_it() {
        let t0 = Instant::now();
        let mut p = Pauses::default();
        p.install(pause("t", "eu", t0, 10));
        p.install(pause("t", "eu", t0, 2));
        p.install(pause("t", "us", t0, 5));
        assert_eq!(p.current(t0).len(), 2);
        let ended = p.ended(t0 + Duration::from_secs(3));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].region, "eu");
    }
}
