//! Table definitions kept in memory between requests.
//!
//! Reads, the DynamoDB endpoint's reads, updates, deletes and transactions,
//! and the TTL reaper start from their table's definition, which the store
//! works out from several catalog rows
//! (`meridian_store::Reader::table_def`): read each time, that was a trip
//! to the blocking pool and four queries per request. The writer counts
//! every time a definition may have changed
//! (`meridian_store::Writer::catalog_epoch`) and publishes the count here
//! after each group, before it answers any request in it; a definition
//! read while the count had some value stays good for as long as it keeps
//! it. The count is read before the definition, so a change that commits
//! during the read leaves the entry under the old count, and it is read
//! again at the next look.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use meridian_core::{TableDef, Version};

use super::lock;

/// A table's definition and the catalog version that created it.
type Def = (TableDef, Version);

/// What the writer publishes and the definitions read under it.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    epoch: AtomicU64,
    /// The definitions read while the count was the first field. Only
    /// tables that exist are kept: names asked for that do not exist
    /// would otherwise grow it without bound.
    defs: Mutex<(u64, HashMap<String, Def>)>,
}

impl Catalog {
    /// The writer's count, as of its last group.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Called by the writer after each group, before it answers.
    pub(super) fn publish(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Release);
    }

    /// `name`'s definition, if one read under `epoch` is kept.
    pub(super) fn get(&self, name: &str, epoch: u64) -> Option<Def> {
        let defs = lock(&self.defs);
        (defs.0 == epoch)
            .then(|| defs.1.get(name).cloned())
            .flatten()
    }

    /// Keeps `def`, read under `epoch`, unless the definitions kept are
    /// newer; older ones are dropped.
    pub(super) fn keep(&self, name: &str, epoch: u64, def: &Def) {
        let mut defs = lock(&self.defs);
        if defs.0 < epoch {
            *defs = (epoch, HashMap::new());
        }
        if defs.0 == epoch {
            defs.1.insert(name.to_string(), def.clone());
        }
    }
}

/// A periodic look at the catalog that is skipped while nothing in it
/// has changed: workers that poll the catalog for what concerns them (a
/// replica to fill, an index to build, a STRONG table to join) would
/// otherwise read it several times a second on an idle region, and in
/// every simulated region.
///
/// A look is taken under the count as read before it ([`CatalogLook::due`]);
/// a look that found nothing left to do records that count
/// ([`CatalogLook::settled`]), and is due again only once the writer has
/// published another. A change committed during the look moves the count
/// after it, so it is never missed.
#[derive(Debug, Default)]
pub struct CatalogLook {
    settled: Option<u64>,
}

impl CatalogLook {
    /// `epoch`, the writer's count now
    /// ([`StoreBridge::catalog_epoch`](super::StoreBridge::catalog_epoch)),
    /// when a look is due under it; `None` when the last look that settled
    /// was taken under that same count.
    pub fn due(&self, epoch: u64) -> Option<u64> {
        (self.settled != Some(epoch)).then_some(epoch)
    }

    /// Records that a look taken under `epoch` left nothing to do.
    pub fn settled(&mut self, epoch: u64) {
        self.settled = Some(epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::{KeyAttr, KeySchema, KeyType, Timestamp};

    fn def(name: &str) -> Def {
        let partition = KeyAttr {
            name: "pk".into(),
            ty: KeyType::S,
        };
        let ks = KeySchema {
            partition,
            sort: None,
        };
        let def = TableDef::new(name, ks, vec!["us-east-1".into()]).unwrap();
        (def, Version::new(Timestamp::new(1, 0), "us-east-1"))
    }

    #[test]
    fn a_definition_holds_until_the_count_moves() {
        let c = Catalog::default();
        c.keep("tbl", c.epoch(), &def("tbl"));
        assert!(c.get("tbl", c.epoch()).is_some());
        c.publish(1);
        assert!(c.get("tbl", c.epoch()).is_none(), "the writer dropped one");
        c.keep("tbl", 1, &def("tbl"));
        assert!(c.get("tbl", 1).is_some());
    }

    #[test]
    fn a_look_is_due_until_one_settles_and_again_once_the_count_moves() {
        let mut look = CatalogLook::default();
        assert_eq!(look.due(0), Some(0), "the first look is always due");
        // A look that found work to do does not settle: due again.
        assert_eq!(look.due(0), Some(0));
        look.settled(0);
        assert_eq!(look.due(0), None);
        assert_eq!(look.due(1), Some(1), "the catalog changed");
        look.settled(1);
        assert_eq!(look.due(1), None);
        assert_eq!(look.due(0), Some(0), "any other count, even a lower one");
    }

    #[test]
    fn a_definition_read_before_a_change_is_not_kept_after_it() {
        let c = Catalog::default();
        // Read under count 0; the writer moved to 1 before it was kept.
        c.keep("tbl-a", 1, &def("tbl-a"));
        c.keep("tbl-b", 0, &def("tbl-b"));
        assert!(c.get("tbl-b", 0).is_none());
        assert!(c.get("tbl-b", 1).is_none());
        assert!(c.get("tbl-a", 1).is_some());
    }
}
