//! Log identities: where a receiver may resume a sender's log.
//!
//! A region's log is a sequence of positions 1, 2, … Its store starts a new
//! **epoch** (a random identity and the position it starts at) every time
//! it opens: the store cannot tell a clean restart from a data directory
//! that was restored from a copy, or rolled back by a power loss, so it
//! never claims to be the continuation of anything it cannot prove. A
//! sender's `Hello` carries its chain of epochs, oldest first. Positions
//! below an epoch's start belong to every later epoch too: they are the
//! same log entries. Positions from an epoch's start on are that epoch's
//! own; another branch (a restored copy that went on elsewhere) may hold
//! different entries at the same positions.
//!
//! So a receiver that last applied position `applied` in epoch `id`
//! resumes at `applied` only as far as the sender's chain still vouches
//! for it: up to just before the next epoch's start. An epoch the chain
//! does not name (the sender lost its disk, or was restored from a copy
//! older than that epoch) vouches for nothing: the receiver starts over,
//! and anti-entropy (docs/repair.md) repairs what the log no longer holds.

/// One identity of a log and the first position written under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    pub id: String,
    pub start: u64,
}

impl Epoch {
    pub fn new(id: impl Into<String>, start: u64) -> Self {
        Epoch {
            id: id.into(),
            start,
        }
    }
}

/// Most epochs a store keeps and a `Hello` carries: a receiver whose epoch
/// is older than all of them starts over, which is safe, only slower.
pub const MAX_EPOCHS: usize = 64;

/// Where a receiver resumes the sender's log: the position through which
/// it has applied what the sender's `chain` (oldest first) still holds.
/// `stored` is the receiver's record for this sender: the epoch it was
/// applying and the position it reached.
pub fn resume_at(chain: &[Epoch], stored: Option<(&str, u64)>) -> u64 {
    let Some((id, applied)) = stored else {
        return 0;
    };
    match chain.iter().position(|e| e.id == id) {
        None => 0,
        Some(k) => match chain.get(k + 1) {
            None => applied,
            // Starts never decrease along a chain: the next one bounds all later ones.
            Some(next) => applied.min(next.start.saturating_sub(1)),
        },
    }
}

/// Where a receiver resumes, given also the first position the sender's
/// log still holds (`log_start`; positions below it were truncated). A
/// receiver whose resume position falls below that can no longer get the
/// entries in between from the log: it resumes just before `log_start`,
/// and the second value says that anti-entropy must bring it what the log
/// no longer holds.
pub fn resume(chain: &[Epoch], stored: Option<(&str, u64)>, log_start: u64) -> (u64, bool) {
    let at = resume_at(chain, stored);
    if at.saturating_add(1) < log_start {
        (log_start - 1, true)
    } else {
        (at, false)
    }
}

/// The first log position to keep: entries before it may be deleted.
///
/// An entry goes once every peer has durably applied it (`acked`, one
/// position per peer, 0 for a peer never heard from) and it is older than
/// the newest `retain` entries, which stay for whoever needs the recent
/// past. Past `max` entries the oldest go even if a peer has not applied
/// them: that peer is brought back by anti-entropy instead of holding the
/// disk hostage. The newest entry always stays, so positions keep counting
/// from it.
pub fn keep_from(head: u64, acked: &[u64], retain: u64, max: u64) -> u64 {
    let acked_by_all = acked.iter().copied().min().unwrap_or(head).min(head);
    let by_ack = (acked_by_all + 1).min(head.saturating_sub(retain) + 1);
    let by_max = head.saturating_sub(max.max(1)) + 1;
    by_ack.max(by_max).clamp(1, head.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(epochs: &[(&str, u64)]) -> Vec<Epoch> {
        epochs
            .iter()
            .map(|(id, start)| Epoch::new(*id, *start))
            .collect()
    }

    #[test]
    fn a_restart_resumes_where_the_receiver_was() {
        let c = chain(&[("a", 1), ("b", 101)]);
        assert_eq!(resume_at(&c, Some(("a", 100))), 100);
        assert_eq!(resume_at(&c, Some(("a", 40))), 40);
        assert_eq!(resume_at(&c, Some(("b", 130))), 130);
        // Restarts that wrote nothing start at the same position.
        let c = chain(&[("a", 1), ("b", 101), ("c", 101)]);
        assert_eq!(resume_at(&c, Some(("b", 100))), 100);
    }

    #[test]
    fn a_restored_copy_is_resumed_only_up_to_where_it_branched() {
        // The original went on to 200 in epoch "a"; the copy, taken at 100,
        // starts epoch "r" at 101 and writes new entries there.
        let c = chain(&[("a", 1), ("r", 101)]);
        assert_eq!(resume_at(&c, Some(("a", 200))), 100);
    }

    #[test]
    fn a_receiver_behind_the_truncated_log_resumes_at_its_start_and_is_repaired() {
        let c = chain(&[("a", 1)]);
        assert_eq!(resume(&c, Some(("a", 40)), 30), (40, false));
        assert_eq!(resume(&c, Some(("a", 29)), 30), (29, false));
        assert_eq!(resume(&c, Some(("a", 10)), 30), (29, true));
        assert_eq!(resume(&c, None, 1), (0, false));
        assert_eq!(resume(&c, None, 0), (0, false));
        assert_eq!(resume(&c, None, 500), (499, true));
    }

    #[test]
    fn the_log_keeps_what_a_peer_lacks_and_the_retention_unless_past_the_maximum() {
        // Every peer has applied 900 of 1,000: keep the newest 50 and what
        // the peers lack, whichever reaches further back.
        assert_eq!(keep_from(1_000, &[900, 950], 50, 10_000), 901);
        assert_eq!(keep_from(1_000, &[990, 995], 50, 10_000), 951);
        // A peer never heard from keeps everything, up to the maximum.
        assert_eq!(keep_from(1_000, &[0, 995], 50, 10_000), 1);
        assert_eq!(keep_from(1_000, &[0, 995], 50, 300), 701);
        // No peers: only the retention.
        assert_eq!(keep_from(1_000, &[], 50, 10_000), 951);
        // The newest entry always stays; an empty log keeps from 1.
        assert_eq!(keep_from(1_000, &[1_000], 0, 0), 1_000);
        assert_eq!(keep_from(0, &[], 0, 0), 1);
        // An ack past the head (a peer's word) changes nothing.
        assert_eq!(keep_from(100, &[5_000], 10, 1_000), 91);
    }

    #[test]
    fn an_epoch_the_chain_does_not_name_starts_over() {
        let c = chain(&[("a", 1), ("r", 101)]);
        assert_eq!(resume_at(&c, Some(("b", 250))), 0);
        assert_eq!(resume_at(&c, None), 0);
        assert_eq!(resume_at(&[], Some(("a", 3))), 0);
    }
}
