//! A replica's provisioned throughput, one set of buckets per region,
//! drawn on by both of the replica's writers: its DynamoDB endpoint (the
//! requests of its own clients) and its replication receiver (the writes
//! of every other replica). The rules and their sources are
//! `meridian_core::throughput`'s; this module keeps the buckets and reads
//! the clock.
//!
//! Sharing the buckets is the point. AWS: a global table is provisioned
//! "measured in replicated write capacity units (rWCUs)" (*Best practices
//! and requirements for managing global tables*), and "the replica tables
//! will get a replicated write of that delete operation and will incur
//! replicated write unit costs" (*Throughput capacity planning for
//! DynamoDB global tables*). So a replica sized for its own writes is
//! short when the others write too: its clients are throttled, and the
//! others' writes wait for units (docs/replication.md, *Replicated write
//! units*).
//!
//! Time is tokio's: the simulator's virtual clock under a paused runtime,
//! the monotonic clock live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::index::Kind;
use meridian_core::key::KeyAttr;
use meridian_core::settings::{Billing, TableSettings};
use meridian_core::throughput::{
    Bucket, Caps, Limit, Op, Rate, limit, partition_of, partition_rate, partitions, rate,
    replicated_write_units,
};
use meridian_core::{CATALOG_TABLE, Mutation, TableDef, Version};
use tokio::time::Instant;

use crate::StoreBridge;
use crate::bridge::BridgeError;

/// Most buckets kept; past it, all start again full (a bound on memory
/// under table churn, never reached by a cluster's own tables).
const MAX_BUCKETS: usize = 10_000;

/// One bucket: a table, one of its global indexes (`None`: the table's
/// own), reads or writes; or one partition of a table
/// (`meridian_core::throughput::partitions`), whose ceiling holds in
/// either billing mode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    pub table: String,
    pub index: Option<String>,
    pub op: Op,
    pub partition: Option<u32>,
}

impl Resource {
    /// A table's or one of its global indexes' own bucket.
    pub fn of(table: impl Into<String>, index: Option<String>, op: Op) -> Self {
        Resource {
            table: table.into(),
            index,
            op,
            partition: None,
        }
    }
}

/// The buckets of one region, and what the catalog said of each table's
/// rates as of its last change.
pub(crate) struct Capacity {
    start: Instant,
    /// The burst a bucket keeps (`burst_capacity_s`) and the per-table
    /// quota on demand (`table_quota_units`).
    caps: Caps,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    epoch: u64,
    /// Shared, so a lookup per replicated entry copies a pointer.
    tables: HashMap<String, Option<Known>>,
    buckets: HashMap<Resource, Bucket>,
    /// Units charged so far to each table's own buckets, `[read, write]`:
    /// the consumption auto scaling measures (`crate::autoscaler`).
    consumed: HashMap<String, [f64; 2]>,
    /// The units auto scaling set this region's replica of each table to.
    scaled: HashMap<String, Scaled>,
}

/// Units auto scaling set a replica to, in this region only: "the actual
/// provisioned write capacity can float independently between Regions"
/// (*Throughput capacity planning for DynamoDB global tables*). They hold
/// while the table's settings give the units they were scaled from; a
/// change of those (UpdateTable's `ProvisionedThroughput`, a table made
/// anew) sets them aside, as a manual change replaces what auto scaling
/// set on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scaled {
    pub of: Version,
    /// `(read, write)` as the settings gave them.
    pub base: (u64, u64),
    /// `(read, write)` as scaled.
    pub units: (u64, u64),
    /// When the units last went up and down, µs since the epoch.
    pub last_increase: Option<u64>,
    pub last_decrease: Option<u64>,
}

impl Scaled {
    /// `settings` of the incarnation `of` with these units, if they were
    /// scaled from what `settings` gives.
    pub fn apply_to(&self, of: &Version, settings: &mut TableSettings) {
        if *of != self.of || settings.billing.units() != self.base {
            return;
        }
        if let Billing::Provisioned { .. } = settings.billing {
            let (read, write) = self.units;
            settings.billing = Billing::Provisioned { read, write };
            settings.last_increase = settings.last_increase.max(self.last_increase);
            settings.last_decrease = settings.last_decrease.max(self.last_decrease);
        }
    }
}

fn slot(op: Op) -> usize {
    match op {
        Op::Read => 0,
        Op::Write => 1,
    }
}

impl Capacity {
    /// Empty buckets' keeper under `caps`.
    pub(crate) fn new(caps: Caps) -> Self {
        Capacity {
            start: Instant::now(),
            caps,
            state: Mutex::default(),
        }
    }
}

/// A table's definition and settings as of the catalog's last change.
type Known = Arc<(TableDef, TableSettings)>;

/// Write units replicated writes draw, per resource.
pub(crate) type Demand = Vec<(Resource, f64)>;

/// Adds `units` to `r`'s line of `out`, so each resource appears once
/// however many entries draw on it.
fn add_demand(out: &mut Demand, r: Resource, units: f64) {
    match out.iter_mut().find(|(o, _)| *o == r) {
        Some((_, u)) => *u += units,
        None => out.push((r, units)),
    }
}

impl Capacity {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `table`'s definition and settings as of the catalog's last change,
    /// `None` when it has none here.
    async fn known(
        &self,
        storage: &StoreBridge,
        table: &str,
    ) -> Result<Option<Known>, BridgeError> {
        let epoch = storage.catalog_epoch();
        {
            let mut s = self.lock();
            if s.epoch != epoch {
                s.epoch = epoch;
                s.tables.clear();
            }
            if let Some(k) = s.tables.get(table) {
                return Ok(k.clone());
            }
        }
        let found = match storage.table_def(table).await? {
            Some((def, of)) => {
                let n = table.to_string();
                storage
                    .read(move |r| r.settings(&n))
                    .await?
                    .map(|settings| (def, of, settings))
            }
            None => None,
        };
        // Under the lock, so units scaled meanwhile are not missed.
        let mut s = self.lock();
        let known = found.map(|(def, of, mut settings)| {
            if let Some(scaled) = s.scaled.get(table) {
                scaled.apply_to(&of, &mut settings);
            }
            Arc::new((def, settings))
        });
        s.tables.insert(table.to_string(), known.clone());
        Ok(known)
    }

    /// `r`'s rate now; `None` for an unknown table and for an index
    /// without units of its own. A partition has its ceiling in either
    /// mode.
    async fn rate(&self, storage: &StoreBridge, r: &Resource) -> Result<Option<Rate>, BridgeError> {
        let known = self.known(storage, &r.table).await?;
        Ok(known.and_then(|k| match r.partition {
            Some(_) => Some(partition_rate(r.op)),
            None => rate(&k.0, &k.1, r.index.as_deref(), r.op, self.caps),
        }))
    }

    /// The partitions of `table` that hold the items whose partition keys
    /// `keys_of` gives, each as its encoding (`EncodedKey::partition`),
    /// asked with the key attribute; `None` for an unknown table. A key it
    /// cannot give (a request without it, a value of the wrong type) is
    /// `None` in its place: the operation refuses it.
    pub(crate) async fn partitions(
        &self,
        storage: &StoreBridge,
        table: &str,
        keys_of: impl FnOnce(&KeyAttr) -> Vec<Option<Vec<u8>>>,
    ) -> Result<Option<Vec<Option<u32>>>, BridgeError> {
        if !self.caps.partition_ceilings {
            return Ok(None);
        }
        let Some(k) = self.known(storage, table).await? else {
            return Ok(None);
        };
        let (def, settings) = &*k;
        let n = partitions(settings.billing);
        Ok(Some(
            keys_of(&def.key_schema.partition)
                .into_iter()
                .map(|key| key.map(|key| partition_of(&key, n)))
                .collect(),
        ))
    }

    /// `table`'s global indexes that have write units of their own here
    /// (on demand, the per-table quota), each with its key attributes'
    /// names.
    pub(crate) async fn write_indexes(
        &self,
        storage: &StoreBridge,
        table: &str,
    ) -> Result<Vec<(String, Vec<String>)>, BridgeError> {
        let Some(k) = self.known(storage, table).await? else {
            return Ok(Vec::new());
        };
        let (def, settings) = &*k;
        Ok(def
            .indexes
            .iter()
            .filter(|i| i.kind == Kind::Global)
            .filter(|i| rate(def, settings, Some(&i.name), Op::Write, self.caps).is_some())
            .map(|i| {
                (
                    i.name.clone(),
                    i.key_attrs().map(|a| a.name.clone()).collect(),
                )
            })
            .collect())
    }

    /// Whether `r`'s table is on demand here (its throttles are then not
    /// provisioned throughput's), and which limit `r`'s bucket is
    /// (`meridian_core::throughput::limit`, a partition's ceiling for a
    /// partition); `None` for a table unknown here.
    pub(crate) async fn limit(
        &self,
        storage: &StoreBridge,
        r: &Resource,
    ) -> Result<Option<(bool, Limit)>, BridgeError> {
        Ok(self.known(storage, &r.table).await?.map(|k| {
            let on_demand = k.1.billing == Billing::PayPerRequest;
            match r.partition {
                Some(_) => (on_demand, Limit::KeyRange),
                None => (on_demand, limit(&k.1, r.index.as_deref(), r.op)),
            }
        }))
    }

    /// Whether `index` is one of `table`'s global indexes: a local index
    /// draws on its table's capacity, as in DynamoDB.
    pub(crate) async fn is_global_index(
        &self,
        storage: &StoreBridge,
        table: &str,
        index: &str,
    ) -> Result<bool, BridgeError> {
        Ok(self
            .known(storage, table)
            .await?
            .is_some_and(|k| k.0.index(index).is_some_and(|i| i.kind == Kind::Global)))
    }

    /// Runs `f` on `r`'s bucket refilled to now, if `r` has a rate.
    async fn with_bucket<T>(
        &self,
        storage: &StoreBridge,
        r: &Resource,
        f: impl FnOnce(&mut Bucket, &Rate) -> T,
    ) -> Result<Option<T>, BridgeError> {
        let Some(rate) = self.rate(storage, r).await? else {
            return Ok(None);
        };
        let now = self.now();
        let mut s = self.lock();
        if s.buckets.len() >= MAX_BUCKETS && !s.buckets.contains_key(r) {
            s.buckets.clear();
        }
        let b = s
            .buckets
            .entry(r.clone())
            .or_insert_with(|| Bucket::full(&rate, now));
        b.refill(&rate, now);
        Ok(Some(f(b, &rate)))
    }

    /// Whether `r`'s bucket admits a request now; a resource without a
    /// provisioned rate always does.
    pub(crate) async fn admits(
        &self,
        storage: &StoreBridge,
        r: &Resource,
    ) -> Result<bool, BridgeError> {
        Ok(self
            .with_bucket(storage, r, |b, _| b.admits())
            .await?
            .unwrap_or(true))
    }

    /// Charges `units` to `r`'s bucket, into debt if need be.
    pub(crate) async fn charge(
        &self,
        storage: &StoreBridge,
        r: &Resource,
        units: f64,
    ) -> Result<(), BridgeError> {
        if r.index.is_none() && r.partition.is_none() {
            let mut s = self.lock();
            match s.consumed.get_mut(&r.table) {
                Some(c) => c[slot(r.op)] += units,
                None => {
                    let mut c = [0.0; 2];
                    c[slot(r.op)] = units;
                    s.consumed.insert(r.table.clone(), c);
                }
            }
        }
        self.with_bucket(storage, r, |b, _| b.charge(units)).await?;
        Ok(())
    }

    /// This region's replica of each provisioned table charged since the
    /// region started, by name: its `(read, write)` units now (as auto
    /// scaling set them) and the `[read, write]` units charged so far.
    pub(crate) async fn units(
        &self,
        storage: &StoreBridge,
    ) -> Result<Vec<(String, (u64, u64), [f64; 2])>, BridgeError> {
        let mut charged: Vec<(String, [f64; 2])> = self
            .lock()
            .consumed
            .iter()
            .map(|(t, c)| (t.clone(), *c))
            .collect();
        charged.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::new();
        for (table, consumed) in charged {
            if let Some(k) = self.known(storage, &table).await?
                && let Billing::Provisioned { read, write } = k.1.billing
            {
                out.push((table, (read, write), consumed));
            }
        }
        Ok(out)
    }

    /// Units charged so far to `table`'s own `op` bucket here.
    pub(crate) fn consumed(&self, table: &str, op: Op) -> f64 {
        self.lock().consumed.get(table).map_or(0.0, |c| c[slot(op)])
    }

    /// The units auto scaling set `table`'s replica here to, if any.
    pub(crate) fn scaled(&self, table: &str) -> Option<Scaled> {
        self.lock().scaled.get(table).cloned()
    }

    /// Sets `table`'s replica here to `scaled`'s units (`None`: the
    /// settings' own again); its buckets take the new rate at once.
    pub(crate) fn set_scaled(&self, table: &str, scaled: Option<Scaled>) {
        let mut s = self.lock();
        match scaled {
            Some(x) => s.scaled.insert(table.to_string(), x),
            None => s.scaled.remove(table),
        };
        s.tables.remove(table);
    }

    /// The write units `entries` of a peer draw here: each replicated
    /// write on its partition's ceiling, in either billing mode, as a
    /// client's write of the item does; on its table, and on each global
    /// index it touches (one whose key attributes the new image has, and
    /// every one for a delete, whose old image is not known before it
    /// applies): provisioned units, or on demand the table's most or the
    /// account's per-table quota. `skip` names tables whose entries are
    /// not applied.
    pub(crate) async fn demand(
        &self,
        storage: &StoreBridge,
        entries: &[Mutation],
        skip: impl Fn(&str) -> bool,
    ) -> Result<Demand, BridgeError> {
        let mut out: Demand = Vec::new();
        let mut last: Option<(String, Option<Known>)> = None;
        for e in entries {
            if e.table == CATALOG_TABLE || skip(&e.table) {
                continue;
            }
            // Entries of one table come in runs: look it up once a run.
            let k = match &last {
                Some((t, k)) if *t == e.table => k.clone(),
                _ => {
                    let k = self.known(storage, &e.table).await?;
                    last = Some((e.table.clone(), k.clone()));
                    k
                }
            };
            let Some(k) = k else {
                continue;
            };
            let (def, settings) = &*k;
            self.entry_demand(e, def, settings, &mut out);
        }
        Ok(out)
    }

    /// Adds to `out` what one entry `e` of table `def` draws: its
    /// partition's ceiling, when those are kept; then, when the table has
    /// a write rate here, the table and each global index the entry
    /// touches.
    fn entry_demand(
        &self,
        e: &Mutation,
        def: &TableDef,
        settings: &TableSettings,
        out: &mut Demand,
    ) {
        let units = replicated_write_units(e.image.as_ref().map(Vec::len));
        if self.caps.partition_ceilings {
            let partition = partition_of(&e.key.partition, partitions(settings.billing));
            add_demand(
                out,
                Resource {
                    partition: Some(partition),
                    ..Resource::of(e.table.clone(), None, Op::Write)
                },
                units,
            );
        }
        if rate(def, settings, None, Op::Write, self.caps).is_none() {
            return;
        }
        add_demand(out, Resource::of(e.table.clone(), None, Op::Write), units);
        let globals: Vec<_> = def
            .indexes
            .iter()
            .filter(|i| i.kind == Kind::Global)
            .collect();
        if globals.is_empty() {
            return;
        }
        // Decoded only for a provisioned table with global indexes: a
        // malformed image is the store's to refuse, and costs the
        // table's units only here.
        let item = e
            .image
            .as_deref()
            .map(meridian_core::value::decode_item)
            .transpose()
            .ok();
        for i in globals {
            let touched = match &item {
                Some(Some(item)) => i.key_of(item).is_some(),
                Some(None) => true,
                None => false,
            };
            if touched {
                add_demand(
                    out,
                    Resource::of(e.table.clone(), Some(i.name.clone()), Op::Write),
                    units,
                );
            }
        }
    }

    /// How long before `demand` may be applied: the longest time any of
    /// its buckets takes to pay back its debt; zero when all admit.
    pub(crate) async fn wait(
        &self,
        storage: &StoreBridge,
        demand: &Demand,
    ) -> Result<Duration, BridgeError> {
        let mut longest = 0.0f64;
        for (r, _) in demand {
            if let Some(w) = self.with_bucket(storage, r, |b, rate| b.wait(rate)).await? {
                longest = longest.max(w);
            }
        }
        Ok(Duration::try_from_secs_f64(longest).unwrap_or(Duration::MAX))
    }

    /// Charges what `demand` drew, once applied.
    pub(crate) async fn charge_all(
        &self,
        storage: &StoreBridge,
        demand: &Demand,
    ) -> Result<(), BridgeError> {
        for (r, units) in demand {
            self.charge(storage, r, *units).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use meridian_core::Timestamp;

    use super::*;

    fn settings(read: u64, write: u64) -> TableSettings {
        TableSettings {
            billing: Billing::Provisioned { read, write },
            billing_since: 1,
            last_increase: None,
            last_decrease: None,
            stream: None,
            indexes: Default::default(),
            scaling: Default::default(),
            on_demand_max: Default::default(),
            index_on_demand: Default::default(),
        }
    }

    #[test]
    fn scaled_units_hold_only_over_the_units_they_were_scaled_from() {
        let of = Version::new(Timestamp::new(1, 0), "a");
        let scaled = Scaled {
            of: of.clone(),
            base: (5, 5),
            units: (5, 40),
            last_increase: Some(9),
            last_decrease: None,
        };
        let mut s = settings(5, 5);
        scaled.apply_to(&of, &mut s);
        assert_eq!(s.billing, Billing::Provisioned { read: 5, write: 40 });
        assert_eq!(s.last_increase, Some(9));
        // UpdateTable set other units: they are the replica's again.
        let mut changed = settings(5, 7);
        scaled.apply_to(&of, &mut changed);
        assert_eq!(changed.billing, Billing::Provisioned { read: 5, write: 7 });
        // A table made anew under the name starts from its own units.
        let mut anew = settings(5, 5);
        scaled.apply_to(&Version::new(Timestamp::new(2, 0), "a"), &mut anew);
        assert_eq!(anew.billing, Billing::Provisioned { read: 5, write: 5 });
    }
}
