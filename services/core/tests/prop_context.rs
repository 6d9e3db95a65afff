//! Property tests for causal contexts (`meridian_core::Context`): the
//! per-origin summary of a write's history that the conflict rule reads
//! (docs/conflicts.md#causal-contexts).
//!
//! Origins include names that are prefixes of one another ("a" and "a-1"),
//! so the origin order is exercised where byte order matters. Versions are
//! drawn from tiny ranges, so equal and near-equal versions are frequent.

use std::collections::BTreeMap;

use meridian_core::context::MAX_CONTEXT_ORIGINS;
use meridian_core::{Context, Timestamp, Version, concurrent};
use proptest::prelude::*;
use proptest::sample::select;

const ORIGINS: [&str; 5] = ["a", "a-1", "ab", "b-2", "c-3"];

fn version() -> impl Strategy<Value = Version> {
    let physical = prop_oneof![4 => 0u64..4, 1 => Just(u64::MAX)];
    let logical = prop_oneof![4 => 0u32..3, 1 => Just(u32::MAX)];
    (physical, logical, select(&ORIGINS[..]))
        .prop_map(|(p, l, o)| Version::new(Timestamp::new(p, l), o))
}

fn seeds() -> impl Strategy<Value = Vec<Version>> {
    prop::collection::vec(version(), 0..10)
}

fn ctx_of(seeds: &[Version]) -> Context {
    seeds.iter().fold(Context::empty(), |c, v| c.after(v))
}

/// The per-origin maximum of `seeds`, in origin byte order: what a context
/// built from them must hold, computed without `Context`.
fn reference(seeds: &[Version]) -> Vec<Version> {
    let mut max: BTreeMap<Vec<u8>, Version> = BTreeMap::new();
    for v in seeds {
        let slot = max
            .entry(v.origin.as_bytes().to_vec())
            .or_insert_with(|| v.clone());
        if *slot < *v {
            *slot = v.clone();
        }
    }
    max.into_values().collect()
}

fn reference_saw(seeds: &[Version], p: &Version) -> bool {
    seeds.iter().any(|s| s.origin == p.origin && s >= p)
}

/// Encodes entries in the given order, as `to_bytes` would if they were valid.
fn encode(entries: &[Version]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in entries {
        let b = v.to_bytes();
        out.push(u8::try_from(b.len()).unwrap());
        out.extend_from_slice(&b);
    }
    out
}

fn strictly_sorted(c: &Context) -> bool {
    c.entries()
        .windows(2)
        .all(|w| w[0].origin.as_bytes() < w[1].origin.as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `after` keeps one entry per origin, the highest, sorted by origin:
    /// the per-origin maximum of everything folded in, in any order.
    #[test]
    fn after_keeps_the_per_origin_maximum(
        (seeds, shuffled) in seeds().prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle()))
    ) {
        let c = ctx_of(&seeds);
        prop_assert_eq!(c.entries(), &reference(&seeds)[..]);
        prop_assert!(strictly_sorted(&c));
        prop_assert!(c.entries().len() <= ORIGINS.len());
        prop_assert_eq!(&ctx_of(&shuffled), &c);
        prop_assert_eq!(seeds.is_empty(), c == Context::empty());
    }

    /// `after` is monotone: the result saw everything the input saw, plus
    /// the new version, and nothing else.
    #[test]
    fn after_is_monotone(seeds in seeds(), v in version(), probes in prop::collection::vec(version(), 1..8)) {
        let c = ctx_of(&seeds);
        let d = c.after(&v);
        prop_assert!(strictly_sorted(&d));
        prop_assert!(d.saw(&v));
        for e in c.entries() {
            prop_assert!(d.saw(e), "lost {}", e);
        }
        for p in probes.iter().chain(seeds.iter()).chain(std::iter::once(&v)) {
            let expected = c.saw(p) || (p.origin == v.origin && *p <= v);
            prop_assert_eq!(d.saw(p), expected, "probe {}", p);
        }
        // One entry per origin: the new origin adds one, a known one none.
        let known = c.entries().iter().any(|e| e.origin == v.origin);
        prop_assert_eq!(d.entries().len(), c.entries().len() + usize::from(!known));
        // Idempotent, and a no-op on anything already seen.
        prop_assert_eq!(&d.after(&v), &d);
        if c.saw(&v) {
            prop_assert_eq!(&d, &c);
        }
        // Other origins' entries are untouched.
        for e in d.entries().iter().filter(|e| e.origin != v.origin) {
            prop_assert!(c.entries().contains(e));
        }
    }

    /// `saw` is "some write of that origin in the history, at or above".
    #[test]
    fn saw_matches_the_history(seeds in seeds(), probes in prop::collection::vec(version(), 1..8)) {
        let c = ctx_of(&seeds);
        for p in probes.iter().chain(seeds.iter()) {
            prop_assert_eq!(c.saw(p), reference_saw(&seeds, p), "probe {}", p);
            prop_assert!(!Context::empty().saw(p));
        }
    }

    #[test]
    fn bytes_round_trip(seeds in seeds()) {
        let c = ctx_of(&seeds);
        let b = c.to_bytes();
        prop_assert_eq!(&b, &encode(c.entries()));
        prop_assert_eq!(Context::from_bytes(&b).unwrap(), c);
    }

    /// Every prefix of an encoding parses iff it ends between entries, and
    /// then holds exactly the entries before the cut.
    #[test]
    fn truncated_bytes_are_rejected(seeds in seeds()) {
        let c = ctx_of(&seeds);
        let b = c.to_bytes();
        let mut boundaries = vec![0];
        for e in c.entries() {
            boundaries.push(boundaries.last().unwrap() + 1 + e.to_bytes().len());
        }
        for cut in 0..=b.len() {
            let r = Context::from_bytes(&b[..cut]);
            match boundaries.iter().position(|&x| x == cut) {
                Some(k) => prop_assert_eq!(r.unwrap().entries().to_vec(), c.entries()[..k].to_vec()),
                None => prop_assert!(r.is_err(), "prefix of {} bytes parsed", cut),
            }
        }
    }

    /// Untrusted bytes never panic the decoder, and what it accepts is
    /// canonical: strictly sorted origins, and the very bytes it was given.
    #[test]
    fn from_bytes_never_panics_and_accepts_only_canonical_contexts(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Ok(c) = Context::from_bytes(&bytes) {
            prop_assert!(strictly_sorted(&c));
            prop_assert!(c.entries().len() <= MAX_CONTEXT_ORIGINS);
            prop_assert_eq!(c.to_bytes(), bytes);
        }
    }

    /// The same, from valid encodings with one byte changed, inserted or
    /// removed: near misses reach deeper into the decoder than noise does.
    #[test]
    fn damaged_encodings_never_panic(
        seeds in prop::collection::vec(version(), 1..10),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        how in 0u8..3,
    ) {
        let mut b = ctx_of(&seeds).to_bytes();
        let i = at.index(b.len());
        match how {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            _ => {
                b.remove(i);
            }
        }
        if let Ok(c) = Context::from_bytes(&b) {
            prop_assert!(strictly_sorted(&c));
            prop_assert_eq!(c.to_bytes(), b);
        }
    }

    /// Entries out of origin order, or two entries for one origin, are refused.
    #[test]
    fn from_bytes_rejects_unsorted_or_duplicate_origins(
        seeds in prop::collection::vec(version(), 1..10),
        other in version(),
        at in any::<prop::sample::Index>(),
        perm in any::<prop::sample::Index>(),
    ) {
        let c = ctx_of(&seeds);
        let entries = c.entries().to_vec();
        let n = entries.len();
        // A second entry for an origin already present, next to it or not.
        let dup_of = at.get(&entries).clone();
        let twin = Version::new(other.hlc, dup_of.origin.clone());
        for pos in 0..=n {
            let mut dup = entries.clone();
            dup.insert(pos, twin.clone());
            prop_assert!(Context::from_bytes(&encode(&dup)).is_err(), "{:?}", dup);
        }
        // Any two entries swapped.
        if n >= 2 {
            let i = at.index(n);
            let j = (i + 1 + perm.index(n - 1)) % n;
            let mut swapped = entries.clone();
            swapped.swap(i, j);
            prop_assert!(Context::from_bytes(&encode(&swapped)).is_err(), "{:?}", swapped);
            let mut reversed = entries;
            reversed.reverse();
            prop_assert!(Context::from_bytes(&encode(&reversed)).is_err());
        }
    }

    /// `concurrent` is symmetric, and false whenever either context covers
    /// the other write.
    #[test]
    fn concurrent_is_symmetric_and_respects_coverage(
        av in version(), aseeds in seeds(), bv in version(), bseeds in seeds(),
    ) {
        let (ac, bc) = (ctx_of(&aseeds), ctx_of(&bseeds));
        let c = concurrent(&av, &ac, &bv, &bc);
        prop_assert_eq!(c, concurrent(&bv, &bc, &av, &ac));
        if ac.saw(&bv) || bc.saw(&av) || av == bv {
            prop_assert!(!c);
        } else {
            prop_assert!(c);
        }
        prop_assert!(!concurrent(&av, &ac, &bv, &bc.after(&av)));
        prop_assert!(!concurrent(&av, &ac.after(&bv), &bv, &bc));
    }
}

#[test]
fn from_bytes_caps_the_number_of_origins() {
    let origins: Vec<String> = (0..=MAX_CONTEXT_ORIGINS)
        .map(|i| format!("r-{i:03}"))
        .collect();
    let entries: Vec<Version> = origins
        .iter()
        .map(|o| Version::new(Timestamp::new(1, 0), o.clone()))
        .collect();
    let at_cap = Context::from_bytes(&encode(&entries[..MAX_CONTEXT_ORIGINS])).unwrap();
    assert_eq!(at_cap.entries(), &entries[..MAX_CONTEXT_ORIGINS]);
    assert!(Context::from_bytes(&encode(&entries)).is_err());
}

#[test]
fn from_bytes_rejects_entries_that_are_not_versions() {
    let good = Version::new(Timestamp::new(7, 1), "a-1").to_bytes();
    for bad in [
        vec![0u8],                                    // an empty entry
        vec![12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // a timestamp without origin
        {
            let mut b = good.clone();
            b[12] = b'A'; // an invalid region name
            let mut out = vec![b.len() as u8];
            out.extend(b);
            out
        },
        {
            let mut b = good.clone();
            b.push(0xFF); // not UTF-8
            let mut out = vec![b.len() as u8];
            out.extend(b);
            out
        },
    ] {
        assert!(Context::from_bytes(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(Context::from_bytes(&[]).unwrap(), Context::empty());
}
