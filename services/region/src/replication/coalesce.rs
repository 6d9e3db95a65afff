//! Coalescing: several changes of one item that are pending for a peer in
//! one batch are shipped as the latest of them, as DynamoDB global tables
//! may combine quick changes of an item into one replicated write (so a
//! replica's stream can hold fewer records for the item than the source's;
//! docs/replication.md, *Coalescing*). `replication_coalesce = false` ships
//! every version instead.
//!
//! Only what one read of the log holds for the peer is combined, never an
//! entry already sent, and only plain item versions: an entry that is
//! alone in its request, not a TTL expiry, of the same table incarnation
//! and key as a later such entry of the batch, with no entry of that key
//! and no catalog change between them. A transaction's entries, TTL
//! deletes and catalog changes always ship, whole and in order.
//!
//! The kept version takes over what the receiver judges conflicts by
//! (`meridian_core::resolve`): its causal context becomes the join of the
//! contexts of every version it stands for, and its `prev` the first one's.
//! A replica then records a conflict with its head exactly when none of
//! those versions had seen the head, which for a single writer is never
//! and for two concurrent writers is still once (the tests below).
//!
//! The first entry of a batch is never left out: a receiver refuses a
//! batch that does not start right after what it has applied (a gap), and
//! the shipper resumes right after the last entry it sent, which, being
//! the latest of its item in the batch, is never left out either.

use std::collections::HashMap;

use meridian_core::{CATALOG_TABLE, Context, Mutation};

/// A batch after coalescing: what to ship, and how many versions were
/// left out because a later one of the same item stands for them.
#[derive(Debug, Default, PartialEq)]
pub struct Coalesced {
    pub entries: Vec<Mutation>,
    pub left_out: usize,
}

/// An item entry that may be left out for a later version of its item, or
/// stand for earlier ones.
fn plain(e: &Mutation) -> bool {
    e.table != CATALOG_TABLE && e.table_version.is_some() && e.unit.1 <= 1 && !e.ttl
}

/// Which item an entry writes: its table, the table's incarnation (its
/// version bytes) and its key.
type ItemId<'a> = (&'a str, &'a [u8], &'a [u8], &'a [u8]);

/// The history a left-out version hands on to the next version of its item.
struct Carried {
    prev: Option<Vec<u8>>,
    context: Context,
}

/// Coalesces one batch read from the log, in log order. See the module docs.
pub fn coalesce(entries: Vec<Mutation>) -> Coalesced {
    let into = plan(&entries);
    let mut carried: HashMap<usize, Carried> = HashMap::new();
    let mut out = Coalesced {
        entries: Vec::with_capacity(entries.len()),
        left_out: 0,
    };
    for (i, mut e) in entries.into_iter().enumerate() {
        let history = carried.remove(&i);
        let Some(next) = into[i] else {
            if let Some(h) = history {
                take_over(&mut e, h);
            }
            out.entries.push(e);
            continue;
        };
        // The log is this region's own: a context that does not decode is
        // a broken store, and the entry ships as it is, left to the peer's
        // checks.
        let Ok(own) = Context::from_bytes(&e.context) else {
            if let Some(h) = history {
                take_over(&mut e, h);
            }
            out.entries.push(e);
            continue;
        };
        let handed = match history {
            Some(h) => Carried {
                prev: h.prev,
                context: join(&h.context, &own),
            },
            None => Carried {
                prev: e.prev,
                context: own,
            },
        };
        carried.insert(next, handed);
        out.left_out += 1;
    }
    out
}

/// For each entry, the later entry of the batch that stands for it, if it
/// is left out.
fn plan(entries: &[Mutation]) -> Vec<Option<usize>> {
    let mut into = vec![None; entries.len()];
    // The latest entry so far of each (table, incarnation, key).
    let mut latest: HashMap<ItemId<'_>, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.table == CATALOG_TABLE {
            // A catalog change may change how a peer takes the item
            // entries after it: nothing is combined across one.
            latest.clear();
            continue;
        }
        let key: ItemId<'_> = (
            e.table.as_str(),
            e.table_version.as_deref().unwrap_or_default(),
            e.key.partition.as_slice(),
            e.key.sort.as_slice(),
        );
        if let Some(j) = latest.insert(key, i)
            && j > 0
            && plain(&entries[j])
            && plain(e)
        {
            into[j] = Some(i);
        }
    }
    into
}

/// Gives `e` the history of the versions it stands for: the first one's
/// `prev`, and every one's context joined with its own.
fn take_over(e: &mut Mutation, h: Carried) {
    // A context that does not decode ships as it is (see `coalesce`).
    if let Ok(own) = Context::from_bytes(&e.context) {
        e.context = join(&h.context, &own).to_bytes();
        e.prev = h.prev;
    }
}

/// The highest version per origin of both contexts.
fn join(a: &Context, b: &Context) -> Context {
    b.entries().iter().fold(a.clone(), |c, v| c.after(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::key::EncodedKey;
    use meridian_core::{Head, Timestamp, Version, resolve};

    fn v(physical: u64, origin: &str) -> Version {
        Version::new(Timestamp::new(physical, 0), origin)
    }

    /// A plain write of item `pk` at `version` over `prev`, with `context`.
    fn write(
        seq: u64,
        pk: &str,
        version: &Version,
        prev: Option<&Version>,
        ctx: &Context,
    ) -> Mutation {
        Mutation {
            seq,
            table: "t".into(),
            table_version: Some(v(1, "a").to_bytes()),
            key: EncodedKey {
                partition: pk.as_bytes().to_vec(),
                sort: Vec::new(),
            },
            version: version.to_bytes(),
            prev: prev.map(Version::to_bytes),
            context: ctx.to_bytes(),
            image: Some(vec![1]),
            commit_real: 0,
            ttl: false,
            unit: (0, 1),
        }
    }

    /// Writes `a` makes at `times`, one after the other over its own
    /// (single writer), after the head `base` (whose context is `base_ctx`).
    fn chain(
        first_seq: u64,
        pk: &str,
        times: &[u64],
        base: Option<(&Version, &Context)>,
    ) -> Vec<Mutation> {
        let mut ctx = base.map_or_else(Context::empty, |(_, c)| c.clone());
        let mut prev = base.map(|(b, _)| b.clone());
        let mut out = Vec::new();
        for (n, t) in times.iter().enumerate() {
            let version = v(*t, "a");
            ctx = ctx.after(&version);
            out.push(write(
                first_seq + n as u64,
                pk,
                &version,
                prev.as_ref(),
                &ctx,
            ));
            prev = Some(version);
        }
        out
    }

    fn seqs(c: &Coalesced) -> Vec<u64> {
        c.entries.iter().map(|e| e.seq).collect()
    }

    /// What a replica whose head of item `k` is (`version`, `ctx`) records
    /// applying the entries of `k` in order: (conflicts, the head it ends
    /// with).
    fn apply(head: (Version, Context), entries: &[Mutation]) -> (usize, Version) {
        let (mut version, mut ctx) = head;
        let mut conflicts = 0;
        for e in entries.iter().filter(|e| e.key.partition == b"k") {
            let ev = Version::from_bytes(&e.version).unwrap();
            let ec = Context::from_bytes(&e.context).unwrap();
            let r = resolve(
                "t",
                Some(Head {
                    version: &version,
                    context: &ctx,
                    expiry: false,
                }),
                Head {
                    version: &ev,
                    context: &ec,
                    expiry: false,
                },
            );
            conflicts += usize::from(r.conflict);
            if r.apply {
                (version, ctx) = (ev, ec);
            }
        }
        (conflicts, version)
    }

    #[test]
    fn an_items_quick_changes_ship_as_its_latest_and_the_first_entry_stays() {
        // k: 1, 2, 3; j: 4; k: 5.
        let mut batch = chain(1, "k", &[10, 20, 30], None);
        batch.extend(chain(4, "j", &[40], None));
        batch.push(chain(5, "k", &[50], None).remove(0));
        let c = coalesce(batch.clone());
        // The batch's first entry ships though 2 and 5 supersede it.
        assert_eq!(seqs(&c), vec![1, 4, 5]);
        assert_eq!(c.left_out, 2);
        // Nothing to combine: the batch as it was.
        let alone = chain(1, "k", &[10], None);
        assert_eq!(coalesce(alone.clone()).entries, alone);
    }

    #[test]
    fn a_kept_version_carries_the_first_ones_prev_and_every_context() {
        let base = v(5, "b");
        let base_ctx = Context::empty().after(&base);
        let batch = {
            let mut b = chain(1, "x", &[1], None);
            b.extend(chain(2, "k", &[10, 20, 30], Some((&base, &base_ctx))));
            b
        };
        let c = coalesce(batch.clone());
        assert_eq!(seqs(&c), vec![1, 4]);
        let kept = &c.entries[1];
        assert_eq!(kept.prev, Some(base.to_bytes()), "the prev of seq 2");
        let ctx = Context::from_bytes(&kept.context).unwrap();
        assert_eq!(ctx.entries(), &[v(30, "a"), base.clone()]);
        assert_eq!(kept.version, batch[3].version);
        assert_eq!(kept.image, batch[3].image);
    }

    #[test]
    fn a_single_writer_never_makes_a_false_conflict() {
        // The replica holds b's write, which a's chain was made over.
        let base = v(5, "b");
        let base_ctx = Context::empty().after(&base);
        let mut batch = chain(1, "x", &[1], None);
        batch.extend(chain(2, "k", &[10, 20, 30], Some((&base, &base_ctx))));
        let every = apply((base.clone(), base_ctx.clone()), &batch);
        let c = coalesce(batch);
        assert_eq!(c.left_out, 2);
        assert_eq!(apply((base, base_ctx), &c.entries), every);
        assert_eq!(every, (0, v(30, "a")));
    }

    #[test]
    fn a_kept_version_whose_own_context_forgot_the_head_is_no_false_conflict() {
        // a wrote 10 over b's 5, then c's 15 (which had not seen 10, but
        // had seen 5) replaced it at a, and a wrote 20 over c's: 20's
        // context names a and c only. A replica holding b's 5 sees 10
        // descend from it and 20 from 10.
        let b5 = v(5, "b");
        let b_ctx = Context::empty().after(&b5);
        let a10 = v(10, "a");
        let a10_ctx = b_ctx.after(&a10);
        let c15_ctx = Context::empty().after(&v(15, "c"));
        let a20 = v(20, "a");
        let a20_ctx = c15_ctx.after(&a20);
        let batch = vec![
            chain(1, "x", &[1], None).remove(0),
            write(2, "k", &a10, Some(&b5), &a10_ctx),
            write(3, "k", &a20, Some(&v(15, "c")), &a20_ctx),
        ];
        let every = apply((b5.clone(), b_ctx.clone()), &batch);
        assert_eq!(every.0, 0);
        // 20 alone, with its own context, would be a conflict with b's 5.
        assert_eq!(apply((b5.clone(), b_ctx.clone()), &batch[2..]).0, 1);
        let c = coalesce(batch);
        assert_eq!(seqs(&c), vec![1, 3]);
        assert_eq!(apply((b5, b_ctx), &c.entries), every);
    }

    #[test]
    fn two_concurrent_writers_still_make_a_conflict() {
        // b wrote 25 knowing nothing of a's 10, 20, 30: concurrent.
        let b25 = v(25, "b");
        let b_ctx = Context::empty().after(&b25);
        let mut batch = chain(1, "x", &[1], None);
        batch.extend(chain(2, "k", &[10, 20, 30], None));
        let every = apply((b25.clone(), b_ctx.clone()), &batch);
        let c = coalesce(batch);
        let once = apply((b25, b_ctx), &c.entries);
        // Every version: 10 and 20 lose to 25, then 30 beats it, each a
        // conflict; coalesced, 30 meets 25 once. The same winner.
        assert_eq!(every, (3, v(30, "a")));
        assert_eq!(once, (1, v(30, "a")));
    }

    #[test]
    fn units_ttl_deletes_catalog_changes_and_other_incarnations_stay() {
        let k = |seq: u64, t: u64| chain(seq, "k", &[t], None).remove(0);
        let first = chain(1, "x", &[1], None).remove(0);
        // A transaction's entry of k between two plain ones.
        let mut unit = k(3, 20);
        unit.unit = (0, 2);
        let mut unit_rest = chain(4, "y", &[21], None).remove(0);
        unit_rest.unit = (1, 2);
        let batch = vec![first.clone(), k(2, 10), unit, unit_rest, k(5, 30)];
        assert_eq!(coalesce(batch).left_out, 0);
        // A TTL delete.
        let mut expiry = k(3, 20);
        (expiry.ttl, expiry.image) = (true, None);
        let batch = vec![first.clone(), k(2, 10), expiry, k(4, 30)];
        assert_eq!(coalesce(batch).left_out, 0);
        // A catalog change between two versions.
        let mut catalog = chain(3, "t", &[15], None).remove(0);
        (catalog.table, catalog.table_version) = (CATALOG_TABLE.into(), None);
        let batch = vec![first.clone(), k(2, 10), catalog, k(4, 30)];
        assert_eq!(coalesce(batch).left_out, 0);
        // Another incarnation of the table.
        let mut later = k(3, 30);
        later.table_version = Some(v(2, "a").to_bytes());
        let batch = vec![first.clone(), k(2, 10), later];
        assert_eq!(coalesce(batch).left_out, 0);
        // Deletes are plain versions: a put then a delete ship as the delete.
        let mut delete = k(3, 30);
        delete.image = None;
        let c = coalesce(vec![first, k(2, 10), delete]);
        assert_eq!((seqs(&c), c.left_out), (vec![1, 3], 1));
        assert_eq!(c.entries[1].image, None);
    }
}
