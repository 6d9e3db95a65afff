//! What this region knows for purging tombstones: its own claims on every
//! peer's writes, the claims its peers last reported, and whether its own
//! claims can be trusted yet (docs/repair.md, "Purging tombstones"). The
//! rules are `meridian_core::purge`; this keeps their inputs, in memory.
//!
//! A claim on an origin rests on that origin's log having been applied in
//! order. When a peer's log does not continue where this region applied it
//! (a restored or wiped peer, or a log truncated past this region), writes
//! of that peer may be held elsewhere and not here, so this region claims
//! nothing until it has completed a repair round with every peer since:
//! then it holds what they hold. A restart starts in the same state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use meridian_core::Timestamp;
use meridian_core::purge::{self, Claims};

#[derive(Default)]
struct State {
    /// How many discontinuities were seen; a round counts only if it
    /// started after the last one.
    breaks: u64,
    /// Per peer, `breaks` when its last complete round started.
    rounds: HashMap<String, u64>,
    claims: Claims,
    reported: BTreeMap<String, Claims>,
    /// Per peer, what it said of its log in its last few answers (log id,
    /// head, floor), oldest first: under steady writes this region has
    /// rarely applied a peer's log through the head it reports at that
    /// moment, but it soon has through an earlier one, and that earlier
    /// head's floor is as good a claim.
    pending: HashMap<String, VecDeque<(String, u64, Timestamp)>>,
}

/// How many of a peer's answers wait to become claims: with rounds every
/// 30 s, a claim lags the peer's writes by one to a few rounds.
const PENDING: usize = 8;

/// See the module docs.
#[derive(Default)]
pub(crate) struct Purge {
    state: Mutex<State>,
}

impl Purge {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A peer's log did not continue where this region had applied it.
    pub(crate) fn discontinuity(&self) {
        self.state().breaks += 1;
    }

    /// A round is starting; hand the token to [`Purge::round_completed`].
    pub(crate) fn round_starting(&self) -> u64 {
        self.state().breaks
    }

    /// A round with `peer` over every table completed without error.
    pub(crate) fn round_completed(&self, peer: &str, token: u64) {
        self.state().rounds.insert(peer.to_string(), token);
    }

    /// What `peer` said in its roots: its log (`log_id` ends at `log_head`,
    /// with `floor`) and its claims. `inbound` is how far this region has
    /// applied that peer's log, read before the peer answered.
    pub(crate) fn heard(
        &self,
        peer: &str,
        inbound: Option<(&str, u64)>,
        (log_id, log_head, floor): (&str, u64, Timestamp),
        claims: Claims,
    ) {
        let mut s = self.state();
        let mut claim = s.claims.get(peer).copied();
        let pending = s.pending.entry(peer.to_string()).or_default();
        pending.push_back((log_id.to_string(), log_head, floor));
        if pending.len() > PENDING {
            pending.pop_front();
        }
        for (id, head, floor) in pending.iter() {
            claim = purge::advance(claim, inbound, id, *head, *floor);
        }
        // What is claimed, or of an older log, can never become a claim.
        pending.retain(|(id, head, _)| {
            id == log_id && !inbound.is_some_and(|(i, applied)| i == id && applied >= *head)
        });
        if let Some(c) = claim {
            s.claims.insert(peer.to_string(), c);
        }
        s.reported.insert(peer.to_string(), claims);
    }

    /// Whether this region's claims hold: a complete round with every peer
    /// since the last discontinuity.
    fn sure(s: &State, peers: &[String]) -> bool {
        peers.iter().all(|p| s.rounds.get(p) == Some(&s.breaks))
    }

    /// The claims this region reports to its peers: none until it is sure.
    pub(crate) fn report(&self, peers: &[String]) -> Claims {
        let s = self.state();
        if Self::sure(&s, peers) {
            s.claims.clone()
        } else {
            Claims::new()
        }
    }

    /// The horizon this region may purge below, if every region (`me` and
    /// `peers`) has claimed every other.
    pub(crate) fn horizon(&self, me: &str, peers: &[String]) -> Option<Timestamp> {
        let s = self.state();
        if !Self::sure(&s, peers) {
            return None;
        }
        let mut regions = peers.to_vec();
        regions.push(me.to_string());
        purge::horizon(me, &regions, &s.claims, &s.reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> Vec<String> {
        vec!["b".into(), "c".into()]
    }

    fn ts(p: u64) -> Timestamp {
        Timestamp::new(p, 0)
    }

    fn hear_all(p: &Purge) {
        p.heard(
            "b",
            Some(("lb", 5)),
            ("lb", 5, ts(50)),
            Claims::from([("a".into(), ts(40)), ("c".into(), ts(45))]),
        );
        p.heard(
            "c",
            Some(("lc", 3)),
            ("lc", 3, ts(60)),
            Claims::from([("a".into(), ts(42)), ("b".into(), ts(44))]),
        );
    }

    #[test]
    fn nothing_is_claimed_before_a_round_with_every_peer() {
        let p = Purge::default();
        hear_all(&p);
        assert!(p.report(&peers()).is_empty());
        assert_eq!(p.horizon("a", &peers()), None);
        let t = p.round_starting();
        p.round_completed("b", t);
        assert_eq!(p.horizon("a", &peers()), None);
        p.round_completed("c", t);
        assert_eq!(
            p.report(&peers()),
            Claims::from([("b".into(), ts(50)), ("c".into(), ts(60))])
        );
        assert_eq!(p.horizon("a", &peers()), Some(ts(40)));
    }

    /// Under steady writes a region is always a little behind the head a
    /// peer reports; the claim follows one answer later, from the head it
    /// has since applied past, and never from a head it has not.
    #[test]
    fn a_claim_follows_once_the_log_is_applied_past_an_earlier_head() {
        let p = Purge::default();
        let t = p.round_starting();
        p.round_completed("b", t);
        p.round_completed("c", t);
        let none = Claims::new();
        p.heard("b", Some(("lb", 4)), ("lb", 10, ts(50)), none.clone());
        assert!(
            p.report(&peers()).is_empty(),
            "behind the head: no claim yet"
        );
        p.heard("b", Some(("lb", 12)), ("lb", 20, ts(70)), none.clone());
        assert_eq!(p.report(&peers()), Claims::from([("b".into(), ts(50))]));
        p.heard("b", Some(("lb", 19)), ("lb", 30, ts(90)), none.clone());
        assert_eq!(p.report(&peers()), Claims::from([("b".into(), ts(50))]));
        p.heard("b", Some(("lb", 30)), ("lb", 35, ts(95)), none.clone());
        assert_eq!(p.report(&peers()), Claims::from([("b".into(), ts(90))]));
        // A new log of the peer: the old one's heads count as far as this
        // region applied that log, and no further.
        p.heard("b", Some(("lb", 35)), ("lb2", 40, ts(99)), none.clone());
        assert_eq!(p.report(&peers()), Claims::from([("b".into(), ts(95))]));
        p.heard("b", Some(("lb2", 36)), ("lb2", 50, ts(120)), none.clone());
        assert_eq!(p.report(&peers()), Claims::from([("b".into(), ts(95))]));
        p.heard("b", Some(("lb2", 40)), ("lb2", 60, ts(130)), none);
        assert_eq!(p.report(&peers()), Claims::from([("b".into(), ts(99))]));
    }

    #[test]
    fn a_discontinuity_withdraws_the_claims_until_new_rounds() {
        let p = Purge::default();
        hear_all(&p);
        let t = p.round_starting();
        p.round_completed("b", t);
        p.round_completed("c", t);
        let during = p.round_starting();
        p.discontinuity();
        p.round_completed("b", during);
        p.round_completed("c", during);
        assert!(p.report(&peers()).is_empty());
        assert_eq!(p.horizon("a", &peers()), None);
        let after = p.round_starting();
        p.round_completed("b", after);
        p.round_completed("c", after);
        assert_eq!(p.horizon("a", &peers()), Some(ts(40)));
    }
}
