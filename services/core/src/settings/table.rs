//! A table's settings as its definition gives them: those it was created
//! with, and those in force once its settings row is read. The one part of
//! the settings that needs the whole definition, kept apart from the
//! settings types below it, which the definition itself holds.

use super::{Billing, SettingsChange, Stream, TableSettings, invalid, refuse};
use crate::error::Error;
use crate::schema::TableDef;
use crate::value::Item;
use crate::version::Version;

/// The stream view DynamoDB turns on for a table that becomes global.
pub const GLOBAL_STREAM_VIEW: &str = "NEW_AND_OLD_IMAGES";

/// Whether `def` replicates through its stream, so no region may turn the
/// stream off: an eventually consistent table with replicas in two regions
/// or more. DynamoDB refuses that with "Disabling Stream is not allowed for
/// a Global Table replica"; a STRONG table's stream can be changed.
fn replicates_by_stream(def: &TableDef) -> bool {
    def.replicas.len() >= 2 && def.consistency.strong().is_none()
}

/// `next`, the settings of a table now on demand, with its indexes'
/// on-demand most updated as `c` asks. An on-demand table's indexes keep
/// no units of their own, so `updates` of units are refused, and auto
/// scaling's settings go, as on demand scales itself.
fn on_demand_indexes(
    mut next: TableSettings,
    c: &SettingsChange,
    updates: &[(&String, (u64, u64))],
) -> Result<TableSettings, Error> {
    if let Some((name, _)) = updates.first() {
        return invalid(format!(
            "The only Updates for index: {name} when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
        ));
    }
    for (name, asked) in &c.index_on_demand {
        let most = next.index_on_demand.get(name).copied().unwrap_or_default();
        match most.updated(*asked) {
            m if m.is_empty() => next.index_on_demand.remove(name),
            m => next.index_on_demand.insert(name.clone(), m),
        };
    }
    next.indexes.clear();
    // On demand scales itself: auto scaling's settings go.
    next.scaling = Default::default();
    Ok(next)
}

impl TableSettings {
    /// The settings a table was created with, before any UpdateTable.
    pub fn initial(def: &TableDef, incarnation: &Version) -> Self {
        let created = incarnation.hlc.physical;
        TableSettings {
            billing: def.billing,
            billing_since: created,
            last_increase: None,
            last_decrease: None,
            stream: def.stream_view_type.as_ref().map(|v| Stream {
                view_type: v.clone(),
                since: created,
            }),
            indexes: Default::default(),
            scaling: Default::default(),
            on_demand_max: Default::default(),
            index_on_demand: Default::default(),
        }
    }

    /// A global index's own `(read, write)` units while the table is
    /// provisioned: as the last `Update` set them, else as the index was
    /// created, else (an index defined before indexes kept their own) the
    /// table's. `None` on demand, and for an index `def` does not have.
    pub fn index_units(&self, def: &TableDef, name: &str) -> Option<(u64, u64)> {
        let index = def.index(name)?;
        match self.billing {
            Billing::PayPerRequest => None,
            Billing::Provisioned { read, write } => Some(
                self.indexes
                    .get(name)
                    .copied()
                    .or(index.throughput)
                    .unwrap_or((read, write)),
            ),
        }
    }

    /// The settings after UpdateTable's change `c` made at `now` (µs) to
    /// table `def`: its billing, throughput and stream ([`Self::change`]),
    /// then its global indexes' own throughput, by DynamoDB's rules and
    /// with its messages: an index `Update` only on a provisioned table and
    /// never to the units it has; a table made provisioned gives every
    /// global index its units in the same request; on demand, indexes keep
    /// no units of their own.
    pub fn apply(&self, def: &TableDef, c: &SettingsChange, now: u64) -> Result<Self, Error> {
        if let Some(u) = &c.scaling {
            let provisioned = matches!(self.billing, Billing::Provisioned { .. });
            let mut next = self.clone();
            next.scaling = u.apply(&self.scaling, &def.name, provisioned, &def.replicas)?;
            return Ok(next);
        }
        if c.stream == Some(None) && self.stream.is_some() && replicates_by_stream(def) {
            return invalid("Disabling Stream is not allowed for a Global Table replica.");
        }
        let forget = c.indexes.iter().filter(|(_, u)| u.is_none());
        let updates: Vec<(&String, (u64, u64))> = c
            .indexes
            .iter()
            .filter_map(|(n, u)| u.map(|u| (n, u)))
            .collect();
        let table_level = c.mode.is_some()
            || c.throughput.is_some()
            || c.stream.is_some()
            || c.on_demand.is_some();
        let mut next = if table_level || (c.indexes.is_empty() && c.index_on_demand.is_empty()) {
            self.change(&def.name, c, now)?
        } else {
            self.clone()
        };
        for (name, _) in forget {
            next.indexes.remove(name);
            next.index_on_demand.remove(name);
        }
        if next.billing == Billing::PayPerRequest {
            return on_demand_indexes(next, c, &updates);
        }
        self.provisioned_indexes(def, c, next, &updates)
    }

    /// `next`, the settings of a table now provisioned, with its indexes'
    /// units `updates` set. An index's units that would not change are
    /// refused, unless the table has just left on demand, when every
    /// global index must be given its units in the same request.
    fn provisioned_indexes(
        &self,
        def: &TableDef,
        c: &SettingsChange,
        mut next: Self,
        updates: &[(&String, (u64, u64))],
    ) -> Result<Self, Error> {
        if !c.index_on_demand.is_empty() {
            return invalid(
                "OnDemandThroughput can be specified only when BillingMode is PAY_PER_REQUEST",
            );
        }
        let switched = self.billing == Billing::PayPerRequest;
        for (name, units) in updates {
            if !switched && self.index_units(def, name) == Some(*units) {
                let (read, write) = units;
                return refuse(format!(
                    "The provisioned throughput for the index {name} will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for index {name}: {read}. Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for index {name}: {write}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
                ));
            }
            next.indexes.insert(name.to_string(), *units);
        }
        if switched {
            let global = def
                .indexes
                .iter()
                .filter(|i| i.kind == crate::index::Kind::Global);
            for i in global {
                if !updates.iter().any(|(n, _)| **n == i.name) {
                    return invalid(format!(
                        "ProvisionedThroughput must be specified for index: {}",
                        i.name
                    ));
                }
            }
        }
        Ok(next)
    }

    /// The change a table needs when replicas are added to it: DynamoDB
    /// turns a `NEW_AND_OLD_IMAGES` stream on for an eventually consistent
    /// global table that has none, and leaves a stream already on as it is
    /// (the developer guide's *How global tables work*, Streams). A STRONG
    /// table needs none (AWS::DynamoDB::GlobalTable StreamSpecification:
    /// "For Multi-Region Strong Consistency (MRSC), Streams are not
    /// required").
    pub fn stream_for_replicas(&self, def: &TableDef) -> Option<SettingsChange> {
        (self.stream.is_none() && def.consistency.strong().is_none()).then(|| SettingsChange {
            stream: Some(Some(GLOBAL_STREAM_VIEW.to_string())),
            ..SettingsChange::default()
        })
    }

    /// The settings in force: the settings row when it belongs to this
    /// incarnation of the table (a recreated table starts afresh), else
    /// the definition's.
    pub fn current(
        def: &TableDef,
        incarnation: &Version,
        row: Option<&Item>,
    ) -> Result<Self, Error> {
        if let Some(row) = row {
            let (settings, of) = Self::from_item(row)?;
            if of == *incarnation {
                return Ok(settings);
            }
        }
        Ok(Self::initial(def, incarnation))
    }
}
