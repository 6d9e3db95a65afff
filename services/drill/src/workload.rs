//! The operations a drill issues: which key, which kind, what item. All
//! choices come from a seeded generator per region, so a simulated drill
//! issues the same operations in the same order every time.

use meridian_core::index::{IndexDef, Kind, Projection};
use meridian_core::{AttrValue, Item, KeyAttr, KeyType, Number};
use meridian_scenario::scenario::{KeyDistribution, Workload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// The kinds in a scenario's mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// Unconditional put of a fresh item.
    Put,
    /// Read-modify-write: get, then put conditional on the version read.
    Update,
    Delete,
    Get,
    /// Several distinct keys put or deleted in one request (BatchWrite:
    /// the region's multi-item write, which TransactWriteItems also runs
    /// on), committed together and replicated as one unit.
    Transact,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
            OpKind::Get => "get",
            OpKind::Transact => "transact",
        }
    }
}

/// One operation to issue.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub kind: OpKind,
    /// The key's rank: 1 is the hottest key under zipf.
    pub key: u64,
    /// A transaction's other keys, distinct from `key` and each other,
    /// and whether each is deleted (else put); empty for other kinds.
    pub also: Vec<(u64, bool)>,
}

/// The partition-key attribute every drill table uses.
pub const KEY_ATTR: &str = "k";

/// The attribute that tags every item a drill writes when it keeps a
/// history (`[table] consistency = "strong"` or `"both"`): the number of
/// the operation that wrote it, unique per region and key, which is what a
/// read's answer is matched to.
pub const TAG_ATTR: &str = "w";

/// The attribute TTL is on when a drill turns it on (`workload.ttl`): an
/// item's expiry, epoch seconds.
pub const TTL_ATTR: &str = "exp";

/// A number attribute.
pub fn number(n: u64) -> AttrValue {
    AttrValue::N(Number::parse(&n.to_string(), "n").unwrap_or_else(|_| Number::zero()))
}

pub fn key_name(rank: u64) -> String {
    format!("key-{rank:08}")
}

/// The key of an item, as an item holding only the key attribute.
pub fn key_item(rank: u64) -> Item {
    let mut item = Item::new();
    item.insert(KEY_ATTR.into(), AttrValue::S(key_name(rank)));
    item
}

/// Generates the operations of one region.
pub struct Generator {
    rng: SmallRng,
    keys: KeyChooser,
    /// Cumulative weights: put, update, delete, get, transact.
    cumulative: [u64; 5],
}

enum KeyChooser {
    Uniform(u64),
    Zipf(Zipf<f64>),
}

impl Generator {
    /// `seed` and `region` together pick the stream, so regions differ and
    /// runs with the same seed agree.
    pub fn new(workload: &Workload, seed: u64, region: usize) -> Self {
        let stream = seed ^ (region as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let keys = match workload.keys_dist {
            KeyDistribution::Uniform => KeyChooser::Uniform(workload.keys),
            // The scenario parser keeps keys ≥ 1 and s in (0, 10], which
            // Zipf accepts; fall back to uniform rather than panic if not.
            KeyDistribution::Zipf(s) => match Zipf::new(workload.keys as f64, s) {
                Ok(z) => KeyChooser::Zipf(z),
                Err(_) => KeyChooser::Uniform(workload.keys),
            },
        };
        let m = workload.mix;
        let mut cumulative = [0u64; 5];
        let mut total = 0u64;
        for (i, w) in [m.put, m.update, m.delete, m.get, m.transact]
            .into_iter()
            .enumerate()
        {
            total += u64::from(w);
            cumulative[i] = total;
        }
        Generator {
            rng: SmallRng::seed_from_u64(stream),
            keys,
            cumulative,
        }
    }

    /// The next operation. A mix without transactions draws exactly what
    /// it drew before they existed, so older runs replay the same.
    pub fn next_op(&mut self) -> Op {
        let total = self.cumulative[4].max(1);
        let pick = self.rng.random_range(0..total);
        let kind = match self.cumulative.iter().position(|&c| pick < c) {
            Some(0) => OpKind::Put,
            Some(1) => OpKind::Update,
            Some(2) => OpKind::Delete,
            Some(4) => OpKind::Transact,
            _ => OpKind::Get,
        };
        let key = self.key();
        let mut also = Vec::new();
        if kind == OpKind::Transact {
            let want = self.rng.random_range(1..=3usize);
            // Few keys or a steep zipf may not give that many distinct
            // ones quickly; a smaller transaction is still one.
            for _ in 0..want * 8 {
                if also.len() == want {
                    break;
                }
                let k = self.key();
                if k != key && also.iter().all(|&(o, _)| o != k) {
                    also.push((k, self.rng.random_bool(0.25)));
                }
            }
        }
        Op { kind, key, also }
    }

    fn key(&mut self) -> u64 {
        match &self.keys {
            KeyChooser::Uniform(n) => self.rng.random_range(1..=*n),
            KeyChooser::Zipf(z) => (z.sample(&mut self.rng) as u64).max(1),
        }
    }
}

/// How many partitions the `grp` attribute spreads items over.
pub const GROUPS: u64 = 5;

/// The secondary indexes a drill with `workload.indexes` gives its table.
/// Every write changes `n`, and with it `grp` and whether `tag` is there,
/// so items move between index partitions, in and out of the sparse
/// `by_tag`, and concurrent writes in two regions disagree on where.
pub fn indexes() -> Vec<IndexDef> {
    let attr = |name: &str, ty: KeyType| KeyAttr {
        name: name.into(),
        ty,
    };
    vec![
        IndexDef {
            name: "by_group".into(),
            kind: Kind::Global,
            partition: vec![attr("grp", KeyType::S)],
            sort: vec![attr("n", KeyType::N)],
            projection: Projection::All,
            throughput: None,
        },
        IndexDef {
            name: "by_tag".into(),
            kind: Kind::Global,
            partition: vec![attr("tag", KeyType::S)],
            sort: Vec::new(),
            projection: Projection::KeysOnly,
            throughput: None,
        },
        IndexDef {
            name: "by_origin_group".into(),
            kind: Kind::Global,
            partition: vec![attr("origin", KeyType::S), attr("grp", KeyType::S)],
            sort: vec![attr("n", KeyType::N)],
            projection: Projection::Include(vec!["tag".into()]),
            throughput: None,
        },
    ]
}

/// The item a write stores: the key, who wrote it, a counter, the index
/// attributes it gives ([`indexes`]) and padding up to roughly
/// `item_bytes`.
pub fn item(rank: u64, region: &str, counter: u64, item_bytes: usize) -> Item {
    let mut item = key_item(rank);
    item.insert("grp".into(), AttrValue::S(format!("g{}", counter % GROUPS)));
    if counter.is_multiple_of(3) {
        item.insert("tag".into(), AttrValue::S(region.to_string()));
    }
    item.insert("origin".into(), AttrValue::S(region.to_string()));
    item.insert(
        "n".into(),
        AttrValue::N(Number::parse(&counter.to_string(), "n").unwrap_or_else(|_| Number::zero())),
    );
    let used = KEY_ATTR.len() + 12 + "origin".len() + region.len() + 1 + 20 + 3 + 6;
    let pad = item_bytes.saturating_sub(used).max(1);
    item.insert("pad".into(), AttrValue::S("x".repeat(pad)));
    item
}

/// The counter an item holds, 0 when absent.
pub fn counter_of(item: &Item) -> u64 {
    match item.get("n") {
        Some(AttrValue::N(n)) => n.to_string().parse().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_scenario::scenario::Mix;

    fn workload(dist: KeyDistribution, mix: Mix) -> Workload {
        Workload {
            table: "t".into(),
            external: false,
            rate_per_region: 10,
            keys: 100,
            keys_dist: dist,
            mix,
            item_bytes: 200,
            concurrency: 4,
            replicas: vec!["a-1".into()],
            stream: None,
            indexes: false,
            ttl: false,
            orders: 0,
        }
    }

    #[test]
    fn same_seed_same_ops_and_regions_differ() {
        let w = workload(
            KeyDistribution::Uniform,
            Mix {
                put: 1,
                update: 1,
                delete: 1,
                get: 1,
                transact: 1,
            },
        );
        let ops = |seed, region| {
            let mut g = Generator::new(&w, seed, region);
            (0..200).map(|_| g.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(ops(7, 0), ops(7, 0));
        assert_ne!(ops(7, 0), ops(7, 1));
        assert_ne!(ops(7, 0), ops(8, 0));
        let all = ops(7, 0);
        for kind in [
            OpKind::Put,
            OpKind::Update,
            OpKind::Delete,
            OpKind::Get,
            OpKind::Transact,
        ] {
            assert!(all.iter().any(|o| o.kind == kind), "{kind:?} never drawn");
        }
        assert!(all.iter().all(|o| (1..=100).contains(&o.key)));
        for o in &all {
            // A transaction names each key once; other kinds name one.
            let mut keys: Vec<u64> = o.also.iter().map(|&(k, _)| k).collect();
            keys.push(o.key);
            let n = keys.len();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), n, "{o:?}");
            assert_eq!(o.kind == OpKind::Transact, !o.also.is_empty(), "{o:?}");
        }
    }

    #[test]
    fn mix_weights_are_respected() {
        let w = workload(
            KeyDistribution::Uniform,
            Mix {
                put: 3,
                update: 0,
                delete: 0,
                get: 1,
                transact: 0,
            },
        );
        let mut g = Generator::new(&w, 1, 0);
        let puts = (0..4000)
            .filter(|_| g.next_op().kind == OpKind::Put)
            .count();
        assert!((2800..3200).contains(&puts), "{puts} puts of 4000");
    }

    #[test]
    fn zipf_concentrates_on_the_hottest_keys() {
        let w = workload(
            KeyDistribution::Zipf(1.2),
            Mix {
                put: 1,
                update: 0,
                delete: 0,
                get: 0,
                transact: 0,
            },
        );
        let mut g = Generator::new(&w, 3, 0);
        let hot = (0..4000).filter(|_| g.next_op().key == 1).count();
        // P(rank 1) = 1 / H(100, 1.2) ≈ 0.25.
        assert!(hot > 700, "key 1 drawn {hot} times of 4000");
    }

    #[test]
    fn items_are_about_the_requested_size() {
        let i = item(5, "us-east-1", 42, 200);
        let size = meridian_core::encode_item(&i).len();
        assert!((150..260).contains(&size), "{size} bytes");
        assert_eq!(counter_of(&i), 42);
    }
}
