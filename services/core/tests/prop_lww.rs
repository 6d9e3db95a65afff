//! Property tests for the LWW merge and the conflict rule (ARCHITECTURE §2
//! invariants 1, 4 and 7, and §4).
//!
//! Versions are drawn from deliberately tiny ranges (a few physical and
//! logical values, three origins) so that ties on the timestamp, and whole
//! equal versions, are frequent: that is where a merge goes wrong.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use meridian_core::merge::Versioned;
use meridian_core::{Head, Resolution, Timestamp, Version, concurrent, merge, resolve};
use proptest::prelude::*;
use proptest::sample::select;

const ORIGINS: [&str; 3] = ["a-1", "b-2", "c-3"];

fn version() -> impl Strategy<Value = Version> {
    (0u64..4, 0u32..3, select(&ORIGINS[..]))
        .prop_map(|(p, l, o)| Version::new(Timestamp::new(p, l), o))
}

fn opt_version() -> impl Strategy<Value = Option<Version>> {
    prop::option::weighted(0.8, version())
}

/// The order the architecture prescribes, written out independently of `Ord`.
fn reference_cmp(a: &Version, b: &Version) -> Ordering {
    (a.hlc.physical, a.hlc.logical, a.origin.as_bytes()).cmp(&(
        b.hlc.physical,
        b.hlc.logical,
        b.origin.as_bytes(),
    ))
}

/// A value that carries a version plus a payload. Versions are unique per
/// write, so the payload is a function of the version: equal versions are the
/// same write.
#[derive(Clone, Debug, PartialEq)]
struct Write {
    version: Version,
    payload: String,
}

impl Write {
    fn of(version: Version) -> Self {
        let payload = format!("image-of-{version}");
        Write { version, payload }
    }
}

impl Versioned for Write {
    fn version(&self) -> &Version {
        &self.version
    }
}

fn write() -> impl Strategy<Value = Write> {
    version().prop_map(Write::of)
}

/// Folds a list of writes into an optional winner, as a replica holding
/// "nothing yet" would.
fn fold(writes: &[Write]) -> Option<Write> {
    writes.iter().cloned().fold(None, |acc, w| match acc {
        None => Some(w),
        Some(a) => Some(merge(a, w)),
    })
}

fn head<'a>(v: &'a Version, p: &'a Option<Version>) -> Head<'a> {
    Head {
        version: v,
        prev: p.as_ref(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn version_order_is_the_prescribed_total_order(a in version(), b in version()) {
        prop_assert_eq!(a.cmp(&b), reference_cmp(&a, &b));
        prop_assert_eq!(a.partial_cmp(&b), Some(reference_cmp(&a, &b)));
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
    }

    #[test]
    fn merge_picks_the_greater_operand(a in version(), b in version()) {
        let m = merge(a.clone(), b.clone());
        prop_assert!(m == a || m == b);
        prop_assert!(m >= a && m >= b);
        prop_assert_eq!(&m, std::cmp::max(&a, &b));
    }

    #[test]
    fn merge_is_commutative(a in version(), b in version()) {
        prop_assert_eq!(merge(a.clone(), b.clone()), merge(b, a));
    }

    #[test]
    fn merge_is_associative(a in version(), b in version(), c in version()) {
        let left = merge(merge(a.clone(), b.clone()), c.clone());
        let right = merge(a, merge(b, c));
        prop_assert_eq!(left, right);
    }

    #[test]
    fn merge_is_idempotent(a in version(), b in version()) {
        prop_assert_eq!(merge(a.clone(), a.clone()), a.clone());
        // Merging a result again with either operand changes nothing.
        let m = merge(a.clone(), b.clone());
        prop_assert_eq!(merge(m.clone(), a), m.clone());
        prop_assert_eq!(merge(m.clone(), b), m);
    }

    #[test]
    fn merge_laws_hold_for_versioned_payloads(a in write(), b in write(), c in write()) {
        prop_assert_eq!(merge(a.clone(), b.clone()), merge(b.clone(), a.clone()));
        prop_assert_eq!(
            merge(merge(a.clone(), b.clone()), c.clone()),
            merge(a.clone(), merge(b.clone(), c.clone()))
        );
        prop_assert_eq!(merge(a.clone(), a.clone()), a);
    }

    #[test]
    fn merge_laws_hold_for_heads(
        (av, ap) in (version(), opt_version()),
        (bv, bp) in (version(), opt_version()),
    ) {
        let (a, b) = (head(&av, &ap), head(&bv, &bp));
        prop_assert_eq!(merge(a, b).version, merge(b, a).version);
        prop_assert_eq!(merge(a, a).version, a.version);
        prop_assert_eq!(merge(a, b).version, std::cmp::max(&av, &bv));
    }

    /// Folding from "no value" is order independent: the Option-shaped use of
    /// merge that a replica makes.
    #[test]
    fn folding_writes_is_order_independent(
        (writes, shuffled) in prop::collection::vec(write(), 0..12)
            .prop_flat_map(|w| (Just(w.clone()), Just(w).prop_shuffle()))
    ) {
        let a = fold(&writes);
        let b = fold(&shuffled);
        prop_assert_eq!(&a, &b);
        let max = writes.iter().map(|w| &w.version).max();
        prop_assert_eq!(a.as_ref().map(|w| &w.version), max);
    }

    #[test]
    fn concurrent_is_symmetric(
        av in version(), ap in opt_version(), bv in version(), bp in opt_version(),
    ) {
        prop_assert_eq!(
            concurrent(&av, ap.as_ref(), &bv, bp.as_ref()),
            concurrent(&bv, bp.as_ref(), &av, ap.as_ref())
        );
    }

    /// §4 spelled out: concurrent iff distinct writes and each writer's `prev`
    /// is below the other's version, a missing `prev` being the smallest.
    #[test]
    fn concurrent_matches_the_definition(
        av in version(), ap in opt_version(), bv in version(), bp in opt_version(),
    ) {
        let saw = |prev: &Option<Version>, other: &Version| match prev {
            None => false,
            Some(p) => reference_cmp(p, other) != Ordering::Less,
        };
        let expected = av != bv && !saw(&ap, &bv) && !saw(&bp, &av);
        prop_assert_eq!(concurrent(&av, ap.as_ref(), &bv, bp.as_ref()), expected);
        // A write is never concurrent with itself.
        prop_assert!(!concurrent(&av, ap.as_ref(), &av, ap.as_ref()));
        // A writer that had seen the other write is not concurrent with it.
        prop_assert!(!concurrent(&av, ap.as_ref(), &bv, Some(&av)));
        prop_assert!(!concurrent(&av, Some(&bv), &bv, bp.as_ref()));
    }

    #[test]
    fn resolve_is_consistent_with_merge(
        cv in version(), cp in opt_version(), iv in version(), ip in opt_version(),
    ) {
        let current = head(&cv, &cp);
        let incoming = head(&iv, &ip);
        let r = resolve(Some(current), incoming);
        // Apply iff the incoming version is strictly greater.
        prop_assert_eq!(r.apply, iv > cv);
        prop_assert_eq!(r.apply, cv != iv && merge(current, incoming).version == &iv);
        // A duplicate is exactly an equal version, and never applied nor a conflict.
        prop_assert_eq!(r.duplicate, cv == iv);
        if r.duplicate {
            prop_assert!(!r.apply && !r.conflict);
        }
        prop_assert_eq!(r.conflict, concurrent(&cv, cp.as_ref(), &iv, ip.as_ref()));
        // Whoever receives whom, the pair is a conflict or it is not.
        let back = resolve(Some(incoming), current);
        prop_assert_eq!(r.conflict, back.conflict);
        prop_assert_eq!(r.duplicate, back.duplicate);
        prop_assert!(!(r.apply && back.apply));
        prop_assert_eq!(r.apply || back.apply, cv != iv);
    }

    #[test]
    fn resolve_on_an_empty_key_always_applies(iv in version(), ip in opt_version()) {
        let r = resolve(None, head(&iv, &ip));
        prop_assert_eq!(r, Resolution { apply: true, duplicate: false, conflict: false });
    }
}

// ---- convergence by simulation ---------------------------------------------

type Mutation = (Version, Option<Version>);
/// One replica's state for one key: the head version and the `prev` its writer held.
type Replica = Option<Mutation>;

fn deliver(replica: &mut Replica, m: &Mutation) -> Resolution {
    let current = replica.as_ref().map(|(v, p)| head(v, p));
    let r = resolve(current, head(&m.0, &m.1));
    if r.apply {
        *replica = Some(m.clone());
    }
    r
}

/// A history of writes to one key: unique versions (ARCHITECTURE §1), each
/// with a `prev` that is either nothing or a smaller version.
fn history() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec((version(), opt_version()), 1..10).prop_map(|raw| {
        let mut unique: BTreeMap<Version, Option<Version>> = BTreeMap::new();
        for (v, p) in raw {
            let p = p.filter(|p| *p < v);
            unique.entry(v).or_insert(p);
        }
        unique.into_iter().collect()
    })
}

/// The history with some mutations delivered more than once.
fn deliveries() -> impl Strategy<Value = (Vec<Mutation>, Vec<Mutation>)> {
    history().prop_flat_map(|h| {
        let n = h.len();
        (
            Just(h.clone()),
            prop::collection::vec(0..n, 0..2 * n + 1).prop_map(move |dups| {
                let mut all = h.clone();
                all.extend(dups.into_iter().map(|i| h[i].clone()));
                all
            }),
        )
    })
}

fn replay(list: &[Mutation]) -> (Replica, usize) {
    let mut replica = None;
    let mut applied = 0;
    for m in list {
        let r = deliver(&mut replica, m);
        assert!(!(r.apply && r.duplicate), "{r:?}");
        applied += usize::from(r.apply);
    }
    (replica, applied)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Invariant 1: order and duplication of delivery do not matter.
    #[test]
    fn replicas_converge_under_any_delivery_order(
        (history, a, b, c) in deliveries().prop_flat_map(|(h, all)| (
            Just(h),
            Just(all.clone()).prop_shuffle(),
            Just(all.clone()).prop_shuffle(),
            Just(all).prop_shuffle(),
        ))
    ) {
        let (ha, applied_a) = replay(&a);
        let (hb, _) = replay(&b);
        let (hc, _) = replay(&c);
        prop_assert_eq!(&ha, &hb);
        prop_assert_eq!(&ha, &hc);
        // The head is the greatest write of the history, with its own prev.
        let winner = history.iter().max_by(|x, y| x.0.cmp(&y.0)).cloned();
        prop_assert_eq!(&ha, &winner);
        // Each apply raises the head, so no replica applies more writes than exist.
        prop_assert!(applied_a >= 1 && applied_a <= history.len());
    }

    /// Invariant 7: delivering the same mutation again changes nothing.
    #[test]
    fn redelivery_is_idempotent(
        (history, order) in history().prop_flat_map(|h| (Just(h.clone()), Just(h).prop_shuffle())),
        again in any::<prop::sample::Index>(),
    ) {
        let (mut replica, _) = replay(&order);
        let before = replica.clone();
        let m = again.get(&history).clone();
        let r = deliver(&mut replica, &m);
        prop_assert!(!r.apply);
        prop_assert!(!r.conflict || !r.duplicate);
        prop_assert_eq!(r.duplicate, before.as_ref().map(|h| &h.0) == Some(&m.0));
        prop_assert_eq!(replica, before);
    }
}
