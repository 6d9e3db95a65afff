//! Property tests for the hybrid logical clock (the causality and drift-guard
//! invariants, docs/architecture.md#invariants-and-where-they-are-held) and
//! for the order-preserving timestamp and version encodings
//! (docs/encoding.md#versions).
//!
//! Values are drawn with heavy weight at the edges (0, u32::MAX logical,
//! u64::MAX physical) and with physical times close to one another, so the
//! carry, exhaustion and drift-boundary branches are all exercised.

use std::sync::Arc;

use meridian_core::hlc::{self, DEFAULT_MAX_OFFSET_MICROS, ManualClock};
use meridian_core::{Hlc, HlcError, Timestamp, Version};
use proptest::prelude::*;

const END: Timestamp = Timestamp {
    physical: u64::MAX,
    logical: u32::MAX,
};

fn physical() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 0u64..8,
        2 => (u64::MAX - 8)..=u64::MAX,
        1 => 1_700_000_000_000_000u64..1_700_000_000_000_016,
        1 => any::<u64>(),
    ]
}

fn logical() -> impl Strategy<Value = u32> {
    prop_oneof![
        2 => 0u32..4,
        2 => (u32::MAX - 3)..=u32::MAX,
        1 => any::<u32>(),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (physical(), logical()).prop_map(|(p, l)| Timestamp::new(p, l))
}

/// A physical time near `base`: equal, a little before or a little after.
fn near(base: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (-3i64..=3).prop_map(move |d| base.saturating_add_signed(d)),
        1 => physical(),
    ]
}

/// `(last, now)` with `now` often equal or close to `last.physical`.
fn last_and_now() -> impl Strategy<Value = (Timestamp, u64)> {
    timestamp().prop_flat_map(|last| (Just(last), near(last.physical)))
}

fn max_offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        Just(DEFAULT_MAX_OFFSET_MICROS),
        Just(u64::MAX),
        (u64::MAX - 4)..=u64::MAX,
        0u64..1_000,
    ]
}

/// `(last, remote, now, max_offset)` with the remote physical time often just
/// either side of `now + max_offset`, the drift guard's boundary.
fn observe_inputs() -> impl Strategy<Value = (Timestamp, Timestamp, u64, u64)> {
    (physical(), max_offset()).prop_flat_map(|(now, off)| {
        let boundary = now.saturating_add(off);
        let remote_physical = prop_oneof![
            3 => near(boundary),
            1 => near(now),
            1 => physical(),
        ];
        (
            (near(now), logical()).prop_map(|(p, l)| Timestamp::new(p, l)),
            (remote_physical, logical()).prop_map(|(p, l)| Timestamp::new(p, l)),
            Just(now),
            Just(off),
        )
    })
}

fn drift_refused(remote: Timestamp, now: u64, max_offset: u64) -> bool {
    u128::from(remote.physical) > u128::from(now) + u128::from(max_offset)
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a-1", "b-2", "c-3", "a", "a-", "a-1-x", "z"])
            .prop_map(String::from),
        "[a-z0-9-]{1,12}",
    ]
}

fn version() -> impl Strategy<Value = Version> {
    (timestamp(), region()).prop_map(|(t, o)| Version::new(t, o))
}

fn hlc_at(now: u64, max_offset: u64, last: Timestamp) -> (Arc<ManualClock>, Hlc) {
    let clock = Arc::new(ManualClock::new(now));
    let hlc = Hlc::new(clock.clone(), max_offset);
    hlc.restore(last);
    (clock, hlc)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn tick_is_strictly_monotonic_and_never_overflows((last, now) in last_and_now()) {
        match hlc::tick(last, now) {
            Ok(t) => {
                prop_assert!(t > last, "tick({last:?}, {now}) = {t:?}");
                // Never behind physical time.
                prop_assert!(t >= Timestamp::new(now, 0));
                if now > last.physical {
                    prop_assert_eq!(t, Timestamp::new(now, 0));
                }
            }
            Err(e) => {
                // Only at the absolute end of time, and it says where.
                prop_assert_eq!(last, END);
                prop_assert_eq!(e, HlcError::Exhausted(END));
            }
        }
        if last == END {
            prop_assert!(hlc::tick(last, now).is_err());
        }
    }

    #[test]
    fn observe_is_monotonic_and_guards_drift((last, remote, now, off) in observe_inputs()) {
        let got = hlc::observe(last, remote, now, off);
        if drift_refused(remote, now, off) {
            prop_assert_eq!(
                got,
                Err(HlcError::DriftRefused {
                    remote,
                    ahead_micros: remote.physical - now,
                    max_offset_micros: off,
                })
            );
        } else {
            match got {
                Ok(t) => {
                    prop_assert!(t > last, "observe not above last: {t:?} <= {last:?}");
                    prop_assert!(t > remote, "observe not above remote: {t:?} <= {remote:?}");
                    prop_assert!(t >= Timestamp::new(now, 0));
                }
                Err(e) => {
                    prop_assert_eq!(last.max(remote), END);
                    prop_assert_eq!(e, HlcError::Exhausted(END));
                }
            }
        }
    }

    /// Invariant 3: an event after seeing `remote` is ordered after it, however
    /// the physical clock moves in between (even backwards).
    #[test]
    fn tick_after_observe_is_after_remote(
        (last, remote, now, off) in observe_inputs(),
        later in physical(),
    ) {
        if let Ok(seen) = hlc::observe(last, remote, now, off) {
            match hlc::tick(seen, later) {
                Ok(t) => prop_assert!(t > remote && t > seen),
                Err(e) => prop_assert_eq!(e, HlcError::Exhausted(END)),
            }
        }
    }

    /// The drift guard on the stateful clock: a refused observe leaves no
    /// trace, so `peek` and the next `now` are what they would have been.
    #[test]
    fn refused_observe_leaves_the_clock_unchanged(
        (last, remote, now, off) in observe_inputs(),
    ) {
        let (_c1, hlc) = hlc_at(now, off, last);
        let (_c2, twin) = hlc_at(now, off, last);
        let before = hlc.peek();
        let got = hlc.observe(remote);
        prop_assert_eq!(got.clone(), hlc::observe(last, remote, now, off));
        if drift_refused(remote, now, off) {
            prop_assert!(matches!(got, Err(HlcError::DriftRefused { .. })), "{got:?}");
            prop_assert_eq!(hlc.peek(), before);
            prop_assert_eq!(hlc.peek(), twin.peek());
            prop_assert_eq!(hlc.now(), twin.now());
            prop_assert_eq!(hlc.peek(), twin.peek());
        } else if let Ok(t) = got {
            prop_assert!(t > remote && t > last);
            prop_assert_eq!(hlc.peek(), t.max(Timestamp::new(now, 0)));
            match hlc.now() {
                Ok(n) => prop_assert!(n > t && n > remote),
                Err(e) => prop_assert_eq!(e, HlcError::Exhausted(END)),
            }
        }
    }

    #[test]
    fn timestamp_bytes_sort_like_timestamps(a in timestamp(), b in timestamp()) {
        prop_assert_eq!(a.to_bytes().cmp(&b.to_bytes()), a.cmp(&b));
        prop_assert_eq!(a.cmp(&b), (a.physical, a.logical).cmp(&(b.physical, b.logical)));
        prop_assert_eq!(Timestamp::from_bytes(&a.to_bytes()), a);
    }

    #[test]
    fn successor_is_the_next_timestamp(a in timestamp()) {
        match a.successor() {
            Some(s) => {
                prop_assert!(s > a);
                // Nothing lies strictly between a and its successor.
                let expected = if a.logical == u32::MAX {
                    Timestamp::new(a.physical + 1, 0)
                } else {
                    Timestamp::new(a.physical, a.logical + 1)
                };
                prop_assert_eq!(s, expected);
            }
            None => prop_assert_eq!(a, END),
        }
    }

    #[test]
    fn version_bytes_sort_like_versions(a in version(), b in version()) {
        prop_assert_eq!(a.to_bytes().cmp(&b.to_bytes()), a.cmp(&b));
        prop_assert_eq!(Version::from_bytes(&a.to_bytes()).unwrap(), a.clone());
        prop_assert_eq!(a.to_bytes() == b.to_bytes(), a == b);
    }

    #[test]
    fn version_display_parses_back(v in version()) {
        let text = v.to_string();
        prop_assert_eq!(text.parse::<Version>(), Ok(v), "{}", text);
    }

    #[test]
    fn version_from_bytes_rejects_what_to_bytes_cannot_produce(
        bytes in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        if let Ok(v) = Version::from_bytes(&bytes) {
            prop_assert_eq!(v.to_bytes(), bytes);
        }
    }
}

// ---- the stateful clock over a run of events -------------------------------

#[derive(Clone, Debug)]
enum Event {
    /// Move the physical clock (any direction) and issue a local timestamp.
    Local(u64),
    /// Move the physical clock and take in a remote timestamp.
    Remote(u64, Timestamp),
}

fn events(start: u64) -> impl Strategy<Value = Vec<Event>> {
    let step = prop_oneof![
        (near(start), Just(())).prop_map(|(n, ())| Event::Local(n)),
        (near(start), near(start), logical())
            .prop_map(|(n, p, l)| Event::Remote(n, Timestamp::new(p, l))),
        (near(start), timestamp()).prop_map(|(n, t)| Event::Remote(n, t)),
    ];
    prop::collection::vec(step, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every issued timestamp is above every earlier one and above every
    /// accepted remote; refused remotes change nothing.
    #[test]
    fn hlc_issues_strictly_increasing_timestamps(
        (start, off, evs) in (physical(), max_offset())
            .prop_flat_map(|(s, o)| (Just(s), Just(o), events(s)))
    ) {
        let clock = Arc::new(ManualClock::new(start));
        let hlc = Hlc::new(clock.clone(), off);
        let mut high = Timestamp::ZERO; // greatest timestamp issued so far
        let mut issued = Vec::new();
        for ev in evs {
            match ev {
                Event::Local(now) => {
                    clock.set(now);
                    match hlc.now() {
                        Ok(t) => {
                            prop_assert!(t > high, "{t:?} not above {high:?}");
                            high = high.max(t);
                            issued.push(t);
                        }
                        Err(e) => prop_assert_eq!(e, HlcError::Exhausted(END)),
                    }
                }
                Event::Remote(now, remote) => {
                    clock.set(now);
                    let peek = hlc.peek();
                    match hlc.observe(remote) {
                        Ok(t) => {
                            prop_assert!(t > remote && t > high, "{t:?} vs {remote:?}, {high:?}");
                            high = high.max(t);
                            issued.push(t);
                        }
                        Err(HlcError::DriftRefused { .. }) => {
                            prop_assert!(drift_refused(remote, now, off));
                            prop_assert_eq!(hlc.peek(), peek);
                        }
                        Err(e) => prop_assert_eq!(e, HlcError::Exhausted(END)),
                    }
                }
            }
            // The clock never reads below what it has issued.
            prop_assert!(hlc.peek() >= high);
        }
        prop_assert!(issued.windows(2).all(|w| w[0] < w[1]), "{issued:?}");
    }

    /// A region's clock never runs further ahead of physical time than the
    /// drift guard lets it accept from a peer: whatever it takes in, its
    /// physical part stays within `max_offset` of the highest reading its
    /// physical clock has given, and one microsecond more when a logical
    /// counter runs out (a peer's version at the guard's edge with its
    /// counter at the top carries into the next microsecond; a second
    /// carry would take 2^32 timestamps within that microsecond). So
    /// versions it issues are ones its peers, with clocks like its own,
    /// take in at once, give or take that microsecond. (A clock stepped
    /// backwards is measured from its highest reading: the clock cannot go
    /// back below what it issued.)
    #[test]
    fn hlc_never_runs_ahead_of_physical_time_past_the_guard(
        (start, off, evs) in (physical(), max_offset())
            .prop_flat_map(|(s, o)| (Just(s), Just(o), events(s)))
    ) {
        let clock = Arc::new(ManualClock::new(start));
        let hlc = Hlc::new(clock.clone(), off);
        let mut highest = start;
        for ev in evs {
            let now = match ev {
                Event::Local(now) => {
                    clock.set(now);
                    let _ = hlc.now();
                    now
                }
                Event::Remote(now, remote) => {
                    clock.set(now);
                    let _ = hlc.observe(remote);
                    now
                }
            };
            highest = highest.max(now);
            let ahead = hlc.issued().physical.saturating_sub(highest);
            prop_assert!(ahead <= off.saturating_add(1), "{ahead} µs ahead, the guard is {off} µs");
        }
    }
}
