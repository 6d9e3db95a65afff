//! What the writer keeps between groups about the catalog: the table
//! definitions it has worked out, and what a change of each table
//! records besides its head. A group works with both and clears them
//! whenever what it undoes may have changed them.

use std::collections::HashMap;

use meridian_core::{TableDef, Version};

use crate::stream::StreamOn;

/// The live table definitions the writer has worked out, by name (`None`:
/// no such table), and a count of the times any was dropped. Every change
/// of a catalog row that a definition is worked out from drops the
/// table's entry first, so the count moves whenever a definition may
/// have changed.
#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    defs: HashMap<String, Option<(TableDef, Version)>>,
    epoch: u64,
}

impl CatalogCache {
    /// How many times an entry was dropped.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Option<(TableDef, Version)>> {
        self.defs.get(name)
    }

    pub(crate) fn insert(&mut self, name: String, def: Option<(TableDef, Version)>) {
        self.defs.insert(name, def);
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.defs.remove(name);
        self.epoch += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.defs.clear();
        self.epoch += 1;
    }
}

/// What a change of a table records besides its head, cached per table
/// in the writer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Records {
    pub history: bool,
    pub stream: Option<StreamOn>,
    /// The secondary indexes whose entries a change keeps.
    pub indexes: Option<std::sync::Arc<[meridian_core::index::IndexDef]>>,
    /// The stream's last shard and when it opened (µs); `None` before its
    /// first record.
    pub shard: Option<(u32, u64)>,
}
