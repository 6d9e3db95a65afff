//! When a tombstone may be purged, and what a region that purged must
//! refuse afterwards (docs/repair.md, "Purging tombstones").
//!
//! A region *claims* an origin region through a timestamp `t` when it has
//! applied every write of that origin with a timestamp at or below `t`
//! (so at each such write's key it holds that write or something newer).
//! A claim comes from the origin's log applied in order: the origin says
//! "my log ends at position `p`, and every write I issue after it is
//! above `t`" (its *floor*), and a region that has applied that log
//! through `p` claims the origin through `t`.
//!
//! A tombstone at or below the *horizon*, the lowest claim of every
//! region about every other region, is held (or overwritten) everywhere,
//! so it may go. A region that purged below `h` has applied everything at
//! or below `h` from every origin; if a write at or below `h` reaches it
//! later for a key it holds nothing for, that write was overwritten by a
//! tombstone since purged, and applying it would bring a deleted item
//! back. It is dropped instead ([`covers`]).

use std::collections::BTreeMap;

use crate::hlc::Timestamp;
use crate::version::Version;

/// One region's claims: per origin region, the timestamp through which it
/// holds every write of that origin.
pub type Claims = BTreeMap<String, Timestamp>;

/// The purge horizon seen from region `me`: the lowest claim that any
/// region of `regions` makes about any other region, with `me`'s own
/// claims in `own` and every other region's last report in `reported`.
/// `None` while any region has not claimed every other: a region that
/// says nothing might hold anything.
pub fn horizon(
    me: &str,
    regions: &[String],
    own: &Claims,
    reported: &BTreeMap<String, Claims>,
) -> Option<Timestamp> {
    let mut h: Option<Timestamp> = None;
    for holder in regions {
        let claims = if holder == me {
            own
        } else {
            reported.get(holder)?
        };
        for origin in regions.iter().filter(|o| *o != holder) {
            let t = *claims.get(origin)?;
            h = Some(h.map_or(t, |h| h.min(t)));
        }
    }
    h
}

/// A region's new claim on an origin after hearing from it that its log
/// `log_id` ends at `log_head` with floor `floor`: raised to the floor
/// when this region has applied that very log through `log_head`
/// (`inbound`: the epoch and position it recorded), unchanged otherwise.
pub fn advance(
    claim: Option<Timestamp>,
    inbound: Option<(&str, u64)>,
    log_id: &str,
    log_head: u64,
    floor: Timestamp,
) -> Option<Timestamp> {
    match inbound {
        Some((id, applied)) if id == log_id && applied >= log_head => {
            Some(claim.map_or(floor, |c| c.max(floor)))
        }
        _ => claim,
    }
}

/// Whether `version` is at or below the horizon `h`.
pub fn covers(h: Timestamp, version: &Version) -> bool {
    h != Timestamp::ZERO && version.hlc <= h
}

/// An upper bound in version bytes: every [`Version::to_bytes`] with a
/// timestamp at or below `h` sorts below it, every one above does not.
/// Origins are region names, which never hold the byte `0xFF`.
pub fn bytes_above(h: Timestamp) -> Vec<u8> {
    let mut b = h.to_bytes().to_vec();
    b.push(0xFF);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(p: u64) -> Timestamp {
        Timestamp::new(p, 0)
    }

    fn regions() -> Vec<String> {
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    }

    fn claims(pairs: &[(&str, u64)]) -> Claims {
        pairs.iter().map(|(o, t)| (o.to_string(), ts(*t))).collect()
    }

    #[test]
    fn the_horizon_is_the_lowest_claim_of_anyone_about_anyone_else() {
        let own = claims(&[("b", 50), ("c", 40)]);
        let reported = BTreeMap::from([
            ("b".to_string(), claims(&[("a", 30), ("c", 60)])),
            ("c".to_string(), claims(&[("a", 70), ("b", 80)])),
        ]);
        assert_eq!(horizon("a", &regions(), &own, &reported), Some(ts(30)));
    }

    #[test]
    fn no_horizon_while_a_region_has_not_claimed_every_other() {
        let own = claims(&[("b", 50), ("c", 40)]);
        let silent = BTreeMap::from([("b".to_string(), claims(&[("a", 30), ("c", 60)]))]);
        assert_eq!(horizon("a", &regions(), &own, &silent), None);
        let partial = BTreeMap::from([
            ("b".to_string(), claims(&[("a", 30)])),
            ("c".to_string(), claims(&[("a", 70), ("b", 80)])),
        ]);
        assert_eq!(horizon("a", &regions(), &own, &partial), None);
        let reported = BTreeMap::from([
            ("b".to_string(), claims(&[("a", 30), ("c", 60)])),
            ("c".to_string(), claims(&[("a", 70), ("b", 80)])),
        ]);
        assert_eq!(
            horizon("a", &regions(), &claims(&[("b", 5)]), &reported),
            None
        );
    }

    #[test]
    fn a_claim_rises_only_on_the_same_log_applied_through_its_head() {
        let floor = ts(90);
        assert_eq!(
            advance(None, Some(("e1", 10)), "e1", 10, floor),
            Some(floor)
        );
        assert_eq!(
            advance(Some(ts(95)), Some(("e1", 10)), "e1", 10, floor),
            Some(ts(95))
        );
        assert_eq!(
            advance(Some(ts(5)), Some(("e1", 9)), "e1", 10, floor),
            Some(ts(5))
        );
        assert_eq!(
            advance(Some(ts(5)), Some(("e0", 10)), "e1", 10, floor),
            Some(ts(5))
        );
        assert_eq!(advance(None, None, "e1", 0, floor), None);
    }

    #[test]
    fn the_byte_bound_splits_versions_at_the_horizon() {
        let h = Timestamp::new(1_000, 7);
        let bound = bytes_above(h);
        for (t, below) in [
            (Timestamp::new(1_000, 7), true),
            (Timestamp::new(1_000, 6), true),
            (Timestamp::new(999, u32::MAX), true),
            (Timestamp::new(1_000, 8), false),
            (Timestamp::new(1_001, 0), false),
        ] {
            for origin in ["a", "zz-top-9", "us-east-1"] {
                let v = Version::new(t, origin);
                assert_eq!(v.to_bytes() < bound, below, "{v}");
                assert_eq!(covers(h, &v), below, "{v}");
            }
        }
        assert!(!covers(
            Timestamp::ZERO,
            &Version::new(Timestamp::ZERO, "a")
        ));
    }
}
