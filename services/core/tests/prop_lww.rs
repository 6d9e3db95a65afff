//! Property tests for the LWW merge and the conflict rule (the convergence,
//! deterministic-winner and idempotence invariants of
//! docs/architecture.md#invariants-and-where-they-are-held, and
//! docs/conflicts.md#the-rule).
//!
//! Versions are drawn from deliberately tiny ranges (a few physical and
//! logical values, three origins) so that ties on the timestamp, and whole
//! equal versions, are frequent: that is where a merge goes wrong.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use meridian_core::merge::Versioned;
use meridian_core::{
    CATALOG_TABLE, Context, Head, Resolution, Timestamp, Version, concurrent, merge, resolve,
};
use proptest::prelude::*;
use proptest::sample::select;

const ORIGINS: [&str; 3] = ["a-1", "b-2", "c-3"];

fn version() -> impl Strategy<Value = Version> {
    (0u64..4, 0u32..3, select(&ORIGINS[..]))
        .prop_map(|(p, l, o)| Version::new(Timestamp::new(p, l), o))
}

/// The versions a writer's history held, from which its context is built.
/// Contexts are only ever built by `after`, as the store builds them.
fn seeds() -> impl Strategy<Value = Vec<Version>> {
    prop::collection::vec(version(), 0..5)
}

fn ctx_of(seeds: &[Version]) -> Context {
    seeds.iter().fold(Context::empty(), |c, v| c.after(v))
}

/// A version and a context made from arbitrary seeds (not necessarily
/// including the version itself: `concurrent` must not rely on that).
fn versioned_ctx() -> impl Strategy<Value = (Version, Vec<Version>)> {
    (version(), seeds())
}

/// The conflict rule's notion of "had seen" (docs/conflicts.md#the-rule),
/// written against the raw history rather than against `Context`: some
/// write of the same origin at or above `v`.
fn reference_saw(seeds: &[Version], v: &Version) -> bool {
    seeds
        .iter()
        .any(|s| s.origin == v.origin && reference_cmp(s, v) != Ordering::Less)
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

/// An item table: the kind of key every test but the catalog's writes to.
const ITEMS: &str = "users";

fn head<'a>(version: &'a Version, context: &'a Context) -> Head<'a> {
    Head {
        version,
        context,
        expiry: false,
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
    fn merge_laws_hold_for_heads((av, aseeds) in versioned_ctx(), (bv, bseeds) in versioned_ctx()) {
        let (ac, bc) = (ctx_of(&aseeds), ctx_of(&bseeds));
        let (a, b) = (head(&av, &ac), head(&bv, &bc));
        prop_assert_eq!(merge(a, b).version, merge(b, a).version);
        prop_assert_eq!(merge(a, a).version, a.version);
        prop_assert_eq!(merge(a, b).version, std::cmp::max(&av, &bv));
        // The merge looks at versions only: contexts never decide a winner.
        let empty = Context::empty();
        prop_assert_eq!(merge(a, b).version, merge(head(&av, &empty), head(&bv, &empty)).version);
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
    fn concurrent_is_symmetric((av, aseeds) in versioned_ctx(), (bv, bseeds) in versioned_ctx()) {
        let (ac, bc) = (ctx_of(&aseeds), ctx_of(&bseeds));
        prop_assert_eq!(concurrent(&av, &ac, &bv, &bc), concurrent(&bv, &bc, &av, &ac));
    }

    /// The conflict rule (docs/conflicts.md#the-rule) spelled out:
    /// concurrent iff distinct writes and neither writer's history holds a
    /// write of the other's origin at or above the other's version. The
    /// reference reads the raw history, not the `Context`.
    #[test]
    fn concurrent_matches_the_definition(
        (av, aseeds) in versioned_ctx(), (bv, bseeds) in versioned_ctx(),
    ) {
        let (ac, bc) = (ctx_of(&aseeds), ctx_of(&bseeds));
        let expected = av != bv && !reference_saw(&aseeds, &bv) && !reference_saw(&bseeds, &av);
        prop_assert_eq!(concurrent(&av, &ac, &bv, &bc), expected);
        // A write is never concurrent with itself.
        prop_assert!(!concurrent(&av, &ac, &av, &ac));
        prop_assert!(!concurrent(&av, &ac, &av, &bc));
        // A writer whose context covers the other write is not concurrent with it...
        prop_assert!(!concurrent(&av, &ac, &bv, &bc.after(&av)));
        prop_assert!(!concurrent(&av, &ac.after(&bv), &bv, &bc));
        // ...nor with any earlier write of the same origin.
        if let Some(earlier) = av.hlc.physical.checked_sub(1) {
            let low = Version::new(Timestamp::new(earlier, 0), av.origin.clone());
            prop_assert!(!concurrent(&low, &ac, &bv, &bc.after(&av)));
        }
        // Empty contexts: every pair of distinct writes is concurrent.
        let empty = Context::empty();
        prop_assert_eq!(concurrent(&av, &empty, &bv, &empty), av != bv);
    }

    #[test]
    fn resolve_is_consistent_with_merge(
        (cv, cseeds) in versioned_ctx(), (iv, iseeds) in versioned_ctx(),
    ) {
        let (cc, ic) = (ctx_of(&cseeds), ctx_of(&iseeds));
        let current = head(&cv, &cc);
        let incoming = head(&iv, &ic);
        let r = resolve(ITEMS, Some(current), incoming);
        // Apply iff the incoming version is strictly greater.
        prop_assert_eq!(r.apply, iv > cv);
        prop_assert_eq!(r.apply, cv != iv && merge(current, incoming).version == &iv);
        // A duplicate is exactly an equal version, and never applied nor a conflict.
        prop_assert_eq!(r.duplicate, cv == iv);
        if r.duplicate {
            prop_assert!(!r.apply && !r.conflict);
        }
        prop_assert_eq!(r.conflict, concurrent(&cv, &cc, &iv, &ic));
        // Whoever receives whom, the pair is a conflict or it is not.
        let back = resolve(ITEMS, Some(incoming), current);
        prop_assert_eq!(r.conflict, back.conflict);
        prop_assert_eq!(r.duplicate, back.duplicate);
        prop_assert!(!(r.apply && back.apply));
        prop_assert_eq!(r.apply || back.apply, cv != iv);
    }

    /// A write made over the head it replaced (greater version, context
    /// extended from the head's) replaces it without a conflict.
    #[test]
    fn a_write_over_the_head_is_applied_without_conflict(
        (cv, cseeds) in versioned_ctx(),
        (later, origin) in (0u64..3, select(&ORIGINS[..])),
    ) {
        // Invariant 3: the writer's version exceeds the head it replaced.
        let iv = Version::new(Timestamp::new(cv.hlc.physical + later, cv.hlc.logical + 1), origin);
        prop_assert!(iv > cv);
        let cc = ctx_of(&cseeds).after(&cv);
        let ic = cc.after(&iv);
        let r = resolve(ITEMS, Some(head(&cv, &cc)), head(&iv, &ic));
        prop_assert_eq!(r, Resolution { apply: true, duplicate: false, conflict: false });
        // The older write arriving late is no conflict either.
        let late = resolve(ITEMS, Some(head(&iv, &ic)), head(&cv, &cc));
        prop_assert_eq!(late, Resolution { apply: false, duplicate: false, conflict: false });
    }

    #[test]
    fn resolve_on_an_empty_key_always_applies((iv, iseeds) in versioned_ctx()) {
        let ic = ctx_of(&iseeds);
        let r = resolve(ITEMS, None, head(&iv, &ic));
        prop_assert_eq!(r, Resolution { apply: true, duplicate: false, conflict: false });
    }
}

// ---- convergence and lost updates, by simulation ----------------------------
//
// Three regions, one key. A region writes over its own head, so a write's
// `prev` is the head it replaced and its context is that head's context
// extended with the write (`ctx(head).after(version)`), exactly as the store
// computes it. Regions receive one another's writes in any order, so a
// region often writes over a remote write it applied: histories branch and
// join as they do in a real cluster.

/// One write to the key, as its writer made it.
#[derive(Clone, Debug, PartialEq)]
struct Mutation {
    version: Version,
    /// The head the writer replaced, if any.
    prev: Option<Version>,
    context: Context,
}

impl Mutation {
    fn head(&self) -> Head<'_> {
        head(&self.version, &self.context)
    }
}

/// One replica's state for one key: the head mutation, as its writer made it.
type Replica = Option<Mutation>;

fn deliver(replica: &mut Replica, m: &Mutation) -> Resolution {
    let r = resolve(ITEMS, replica.as_ref().map(Mutation::head), m.head());
    if r.apply {
        *replica = Some(m.clone());
    }
    r
}

#[derive(Clone, Debug)]
enum Op {
    /// Region `at` writes over its head. Its clock moves `bump` µs, or by
    /// one logical tick when `bump` is 0.
    Write { at: usize, bump: u64 },
    /// Region `at` receives a write made so far (never one of its own).
    Receive {
        at: usize,
        which: prop::sample::Index,
    },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0..ORIGINS.len(), 0u64..3).prop_map(|(at, bump)| Op::Write { at, bump }),
        3 => (0..ORIGINS.len(), any::<prop::sample::Index>())
            .prop_map(|(at, which)| Op::Receive { at, which }),
    ];
    // Start with a write, so every history has one.
    (
        (0..ORIGINS.len(), 0u64..3),
        prop::collection::vec(op, 0..16),
    )
        .prop_map(|((at, bump), rest)| {
            let mut all = vec![Op::Write { at, bump }];
            all.extend(rest);
            all
        })
}

/// One region of the model.
#[derive(Clone, Debug, Default)]
struct Region {
    /// Its HLC: every version it issues exceeds every version it has seen.
    clock: Timestamp,
    head: Replica,
    /// `(winner, loser)` of each conflict it recorded.
    conflicts: Vec<(Version, Version)>,
}

impl Region {
    fn write(&mut self, origin: &str, bump: u64) -> Mutation {
        self.clock = if bump == 0 {
            Timestamp::new(self.clock.physical, self.clock.logical + 1)
        } else {
            Timestamp::new(self.clock.physical + bump, 0)
        };
        let version = Version::new(self.clock, origin);
        let m = Mutation {
            prev: self.head.as_ref().map(|h| h.version.clone()),
            context: self
                .head
                .as_ref()
                .map_or_else(Context::empty, |h| h.context.clone())
                .after(&version),
            version,
        };
        let r = deliver(&mut self.head, &m);
        assert_eq!(
            r,
            Resolution {
                apply: true,
                duplicate: false,
                conflict: false
            }
        );
        m
    }

    fn receive(&mut self, origin: &str, m: &Mutation) {
        if m.version.origin == origin {
            return;
        }
        self.clock = self.clock.max(m.version.hlc);
        let current = self.head.clone();
        let r = deliver(&mut self.head, m);
        if r.conflict {
            let current = current.expect("a conflict needs a current head").version;
            self.conflicts.push(if r.apply {
                (m.version.clone(), current)
            } else {
                (current, m.version.clone())
            });
        }
    }
}

/// Runs `ops` on one region per origin: every write made, in order, and the regions.
fn play(ops: &[Op]) -> (Vec<Mutation>, Vec<Region>) {
    let mut regions = vec![Region::default(); ORIGINS.len()];
    let mut history: Vec<Mutation> = Vec::new();
    for op in ops {
        match op {
            Op::Write { at, bump } => history.push(regions[*at].write(ORIGINS[*at], *bump)),
            Op::Receive { at, which } => {
                let m = which.get(&history).clone();
                regions[*at].receive(ORIGINS[*at], &m);
            }
        }
    }
    (history, regions)
}

fn history() -> impl Strategy<Value = Vec<Mutation>> {
    ops().prop_map(|ops| play(&ops).0)
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

/// `hist(w) = {w} ∪ hist(prev(w))`: the writes `w`'s writer had seen, exactly.
fn hist(prevs: &BTreeMap<Version, Option<Version>>, w: &Version) -> Vec<Version> {
    let mut out = vec![w.clone()];
    while let Some(Some(p)) = prevs.get(out.last().unwrap()) {
        out.push(p.clone());
    }
    out
}

fn prevs_of(history: &[Mutation]) -> BTreeMap<Version, Option<Version>> {
    history
        .iter()
        .map(|m| (m.version.clone(), m.prev.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The model respects what docs/architecture.md#words says of versions:
    /// versions are unique per write, and a write's version exceeds the head
    /// it replaced (the causality invariant).
    #[test]
    fn model_histories_are_well_formed(history in history()) {
        let prevs = prevs_of(&history);
        prop_assert_eq!(prevs.len(), history.len());
        for m in &history {
            if let Some(p) = &m.prev {
                prop_assert!(*p < m.version);
                prop_assert!(prevs.contains_key(p));
            }
        }
    }

    /// A context is exactly the per-origin maximum of the write's history:
    /// it covers every write the writer had seen, and names nothing else.
    #[test]
    fn contexts_summarise_the_history_per_origin(history in history()) {
        let prevs = prevs_of(&history);
        for m in &history {
            let mut want: BTreeMap<Vec<u8>, Version> = BTreeMap::new();
            for h in hist(&prevs, &m.version) {
                let slot = want.entry(h.origin.as_bytes().to_vec()).or_insert_with(|| h.clone());
                if *slot < h {
                    *slot = h.clone();
                }
            }
            let want: Vec<Version> = want.into_values().collect();
            prop_assert_eq!(m.context.entries(), &want[..], "{}", m.version);
            prop_assert!(m.context.saw(&m.version));
            prop_assert!(m.context.entries().iter().all(|e| *e <= m.version));
        }
    }

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
        // The head is the greatest write of the history, with its own prev and context.
        let winner = history.iter().max_by(|x, y| x.version.cmp(&y.version)).cloned();
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
        prop_assert_eq!(r.duplicate, before.as_ref().map(|h| &h.version) == Some(&m.version));
        prop_assert_eq!(replica, before);
    }

    /// After a full exchange (in any order), the regions converge; every lost
    /// update (a write that is not the final head and that no write replaced
    /// while holding it) is recorded as a loser at its origin region; and
    /// every recorded conflict is a pair of writes neither of which had seen
    /// the other, by their exact histories.
    #[test]
    fn lost_updates_are_recorded_at_their_origin_and_conflicts_are_real(
        (ops, order) in ops().prop_flat_map(|ops| {
            let n = play(&ops).0.len();
            (Just(ops), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        })
    ) {
        let (history, mut regions) = play(&ops);
        for (at, region) in regions.iter_mut().enumerate() {
            for &i in &order {
                region.receive(ORIGINS[at], &history[i]);
            }
        }
        let last = history.iter().max_by(|x, y| x.version.cmp(&y.version)).unwrap();
        for r in &regions {
            prop_assert_eq!(r.head.as_ref(), Some(last));
        }

        let prevs = prevs_of(&history);
        for m in &history {
            let replaced = history.iter().any(|x| x.prev.as_ref() == Some(&m.version));
            if m.version == last.version || replaced {
                continue;
            }
            let origin = ORIGINS.iter().position(|o| *o == m.version.origin).unwrap();
            prop_assert!(
                regions[origin].conflicts.iter().any(|(_, l)| *l == m.version),
                "lost update {} not recorded at {}: {:?}",
                m.version,
                m.version.origin,
                regions[origin].conflicts
            );
        }
        for (at, r) in regions.iter().enumerate() {
            for (w, l) in &r.conflicts {
                prop_assert!(w > l);
                prop_assert!(!hist(&prevs, w).contains(l), "{} saw {} ({})", w, l, ORIGINS[at]);
                prop_assert!(!hist(&prevs, l).contains(w), "{} saw {} ({})", l, w, ORIGINS[at]);
            }
        }
    }
}

/// A lost write hidden behind a descendant of a concurrent one: A writes `w`; B writes
/// `z`, concurrent with `w` and greater, then `m` over `z`; `m` reaches A
/// before `z` does. `m`'s context does not cover `w`, so A records `w` lost.
#[test]
fn a_loser_beaten_by_a_descendant_of_a_concurrent_write_is_recorded() {
    let mut a = Region::default();
    let mut b = Region::default();
    let w = a.write("a-1", 1);
    let z = b.write("b-2", 2);
    let m = b.write("b-2", 0);
    assert!(z.version > w.version && m.prev.as_ref() == Some(&z.version));
    a.receive("a-1", &m);
    a.receive("a-1", &z);
    assert_eq!(a.head, Some(m.clone()));
    assert_eq!(a.conflicts, vec![(m.version.clone(), w.version.clone())]);
    // B hears of w after both of its writes: w loses to m there too.
    b.receive("b-2", &w);
    assert_eq!(b.conflicts, vec![(m.version, w.version)]);
}

// ---- writes that are not conflicts --------------------------------------------
//
// Two kinds of concurrent pairs resolve by the same merge without being
// recorded: writes to the catalog, and two TTL expiries of one item.

/// The table a key belongs to: an item table or the catalog.
fn table_kind() -> impl Strategy<Value = &'static str> {
    select(&[ITEMS, CATALOG_TABLE][..])
}

fn head_of<'a>(version: &'a Version, context: &'a Context, expiry: bool) -> Head<'a> {
    Head {
        version,
        context,
        expiry,
    }
}

/// Replays `list` into one replica of a key of `table`, where the writes
/// `expired` picks are TTL expiries. Returns the head and the conflicts recorded.
fn replay_as(
    table: &str,
    expired: impl Fn(&Version) -> bool,
    list: &[Mutation],
) -> (Replica, usize) {
    let mut replica: Replica = None;
    let mut conflicts = 0;
    for m in list {
        let current = replica
            .as_ref()
            .map(|h| head_of(&h.version, &h.context, expired(&h.version)));
        let r = resolve(
            table,
            current,
            head_of(&m.version, &m.context, expired(&m.version)),
        );
        conflicts += usize::from(r.conflict);
        if r.apply {
            replica = Some(m.clone());
        }
    }
    (replica, conflicts)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The exceptions only ever remove a conflict: which write wins, and
    /// what is a duplicate, never depend on the table or on expiries.
    #[test]
    fn the_kind_of_write_never_changes_the_winner(
        (cv, cseeds) in versioned_ctx(), (iv, iseeds) in versioned_ctx(),
        table in table_kind(), c_expiry in any::<bool>(), i_expiry in any::<bool>(),
    ) {
        let (cc, ic) = (ctx_of(&cseeds), ctx_of(&iseeds));
        let plain = resolve(ITEMS, Some(head(&cv, &cc)), head(&iv, &ic));
        let r = resolve(table, Some(head_of(&cv, &cc, c_expiry)), head_of(&iv, &ic, i_expiry));
        prop_assert_eq!(r.apply, plain.apply);
        prop_assert_eq!(r.duplicate, plain.duplicate);
        prop_assert_eq!(r.apply, iv > cv);
        let exempt = table == CATALOG_TABLE || (c_expiry && i_expiry);
        prop_assert_eq!(r.conflict, plain.conflict && !exempt);
        prop_assert!(!r.conflict || concurrent(&cv, &cc, &iv, &ic));
        // Whoever receives whom, the pair is a conflict or it is not.
        let back = resolve(table, Some(head_of(&iv, &ic, i_expiry)), head_of(&cv, &cc, c_expiry));
        prop_assert_eq!(r.conflict, back.conflict);
        prop_assert!(!(r.apply && back.apply));
        prop_assert_eq!(r.apply || back.apply, cv != iv);
        // A new key takes any write, and records nothing.
        let first = resolve(table, None, head_of(&iv, &ic, i_expiry));
        prop_assert_eq!(first, Resolution { apply: true, duplicate: false, conflict: false });
    }

    /// Catalog writes never produce a conflict record, not even two that
    /// neither writer had seen (empty contexts: every distinct pair is
    /// concurrent).
    #[test]
    fn catalog_writes_are_never_conflicts(
        cv in version(), iv in version(), c_expiry in any::<bool>(), i_expiry in any::<bool>(),
    ) {
        let empty = Context::empty();
        prop_assert_eq!(concurrent(&cv, &empty, &iv, &empty), cv != iv);
        let r = resolve(CATALOG_TABLE, Some(head_of(&cv, &empty, c_expiry)), head_of(&iv, &empty, i_expiry));
        prop_assert!(!r.conflict);
        prop_assert_eq!(r.apply, iv > cv);
    }

    /// Two TTL expiries of one item are never a conflict; an expiry racing
    /// a write that is not one is, exactly when the two are concurrent.
    #[test]
    fn two_expiries_of_an_item_are_never_a_conflict(
        (cv, cseeds) in versioned_ctx(), (iv, iseeds) in versioned_ctx(), expiry_first in any::<bool>(),
    ) {
        let (cc, ic) = (ctx_of(&cseeds), ctx_of(&iseeds));
        let both = resolve(ITEMS, Some(head_of(&cv, &cc, true)), head_of(&iv, &ic, true));
        prop_assert!(!both.conflict);
        prop_assert_eq!(both.apply, iv > cv);
        let one = resolve(
            ITEMS,
            Some(head_of(&cv, &cc, expiry_first)),
            head_of(&iv, &ic, !expiry_first),
        );
        prop_assert_eq!(one.conflict, concurrent(&cv, &cc, &iv, &ic));
        let empty = Context::empty();
        let racing = resolve(ITEMS, Some(head_of(&cv, &empty, true)), head_of(&iv, &empty, false));
        prop_assert_eq!(racing.conflict, cv != iv);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Replicas of a catalog key, and of an item whose writes are all
    /// expiries, converge under any delivery order like any other key, and
    /// never record a conflict; with some writes expiries and some not,
    /// they still converge.
    #[test]
    fn catalog_keys_and_expiries_converge_without_conflicts(
        (history, a, b) in deliveries().prop_flat_map(|(h, all)| (
            Just(h),
            Just(all.clone()).prop_shuffle(),
            Just(all).prop_shuffle(),
        )),
        expiry_parity in 0u64..2,
    ) {
        let winner = history.iter().max_by(|x, y| x.version.cmp(&y.version)).cloned();
        let all_expired = |_: &Version| true;
        let some_expired = |v: &Version| v.hlc.physical % 2 == expiry_parity;
        for list in [&a, &b] {
            let (head, conflicts) = replay_as(CATALOG_TABLE, |_| false, list);
            prop_assert_eq!(&head, &winner);
            prop_assert_eq!(conflicts, 0);
            let (head, conflicts) = replay_as(ITEMS, all_expired, list);
            prop_assert_eq!(&head, &winner);
            prop_assert_eq!(conflicts, 0);
            let (head, _) = replay_as(ITEMS, some_expired, list);
            prop_assert_eq!(&head, &winner);
        }
    }
}
