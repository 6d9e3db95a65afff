//! A table's settings that UpdateTable changes: billing mode, provisioned
//! throughput and the change stream. They live in a catalog row of their
//! own beside the definition (like TTL and tags), so changing them never
//! changes the table's incarnation, and they replicate as one LWW row: two
//! regions that change them at once end with the later change everywhere.
//!
//! The rules of a change are DynamoDB's, with its messages: they depend on
//! the current settings, so the store applies them inside the write that
//! stores the result, and two changes in one region never race.

use std::collections::BTreeMap;

use crate::autoscaling::{AutoScaling, ScalingUpdate};
use crate::error::Error;
use crate::key::EncodedKey;
use crate::value::{AttrValue, Item};
use crate::version::Version;

mod table;

/// A refusal of UpdateTable with DynamoDB's message `m`, whole.
fn refuse<T>(m: String) -> Result<T, Error> {
    Err(Error::invalid(FIELD, m))
}

/// A refusal of UpdateTable for a parameter value, worded as DynamoDB's.
fn invalid<T>(m: impl std::fmt::Display) -> Result<T, Error> {
    refuse(format!("One or more parameter values were invalid: {m}"))
}

/// Sort key of a table's settings row in the catalog.
pub const SETTINGS_SORT_KEY: &[u8] = b"settings";

/// The field of a settings error: its message is DynamoDB's own, whole.
pub const FIELD: &str = "UpdateTable";

/// Stream view types DynamoDB accepts.
pub const VIEW_TYPES: [&str; 4] = ["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"];

pub use crate::units::MAX_CAPACITY_UNITS;

/// A capacity-unit count as a catalog row stores it: absent (`None`), or a
/// whole number from 1 to [`MAX_CAPACITY_UNITS`]. `Err(false)`: not a
/// number at all; `Err(true)`: a number out of that range. One rule for
/// the table's and its indexes' rows, so both decode the same.
pub fn stored_units(v: Option<&AttrValue>) -> Result<Option<u64>, bool> {
    match v {
        None => Ok(None),
        Some(AttrValue::N(n)) => n
            .to_string()
            .parse::<u64>()
            .ok()
            .filter(|u| (1..=MAX_CAPACITY_UNITS).contains(u))
            .map(Some)
            .ok_or(true),
        Some(_) => Err(false),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing {
    PayPerRequest,
    Provisioned { read: u64, write: u64 },
}

impl Billing {
    pub fn mode(&self) -> &'static str {
        match self {
            Billing::PayPerRequest => "PAY_PER_REQUEST",
            Billing::Provisioned { .. } => "PROVISIONED",
        }
    }

    /// `(read, write)` capacity units; zero for on-demand, as DynamoDB
    /// describes an on-demand table.
    pub fn units(&self) -> (u64, u64) {
        match self {
            Billing::PayPerRequest => (0, 0),
            Billing::Provisioned { read, write } => (*read, *write),
        }
    }
}

/// An enabled change stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    pub view_type: String,
    /// When it was enabled, µs since the epoch: DynamoDB gives a stream
    /// re-enabled later a new label, and so does this.
    pub since: u64,
}

/// A table's current settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSettings {
    pub billing: Billing,
    /// When the billing mode was last set, µs since the epoch.
    pub billing_since: u64,
    /// When provisioned throughput last went up and down, µs since the
    /// epoch (DescribeTable's `LastIncreaseDateTime`, `LastDecreaseDateTime`).
    pub last_increase: Option<u64>,
    pub last_decrease: Option<u64>,
    pub stream: Option<Stream>,
    /// Global indexes' own `(read, write)` units as UpdateTable's
    /// `GlobalSecondaryIndexUpdates` `Update` last set them, by index
    /// name, while the table is provisioned; an index not here has the
    /// units it was created with ([`TableSettings::index_units`]).
    pub indexes: BTreeMap<String, (u64, u64)>,
    /// Auto scaling of the units (UpdateTableReplicaAutoScaling): the
    /// write settings every replica shares and each replica's read
    /// settings, synchronized with the rest (`crate::autoscaling`).
    pub scaling: AutoScaling,
    /// An on-demand table's most read and write request units a second
    /// (`OnDemandThroughput`), synchronized with the rest; none while it
    /// is provisioned.
    pub on_demand_max: OnDemandMax,
    /// An on-demand table's global indexes' most (an index's
    /// `OnDemandThroughput`), by index name, synchronized with the rest;
    /// none while it is provisioned. An index not here has the account's
    /// per-table quota (`crate::throughput::limit`).
    pub index_on_demand: BTreeMap<String, OnDemandMax>,
}

/// `OnDemandThroughput`: an on-demand table's most request units a second,
/// each direction's `None` when not set ("DynamoDB maximum throughput for
/// on-demand tables": "throughput requests that exceed the maximum amount
/// specified will be throttled").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnDemandMax {
    pub read: Option<u64>,
    pub write: Option<u64>,
}

impl OnDemandMax {
    pub fn is_empty(&self) -> bool {
        self.read.is_none() && self.write.is_none()
    }

    /// This most after `asked`: `-1` removes a direction's, a number of 1
    /// or more sets it, `None` leaves it.
    pub fn updated(self, (read, write): OnDemandUpdate) -> Self {
        let set = |old: Option<u64>, asked: Option<i64>| match asked {
            None => old,
            Some(n) => u64::try_from(n).ok().filter(|n| *n >= 1),
        };
        OnDemandMax {
            read: set(self.read, read),
            write: set(self.write, write),
        }
    }
}

/// What an `OnDemandThroughput` asks of each direction: `Some(-1)` removes
/// the most, `Some(n)` (n ≥ 1) sets it, `None` leaves it.
pub type OnDemandUpdate = (Option<i64>, Option<i64>);

/// What one UpdateTable asks for. `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// `BillingMode`, when given.
    pub mode: Option<&'static str>,
    /// `ProvisionedThroughput` (read, write), when given.
    pub throughput: Option<(u64, u64)>,
    /// `StreamSpecification`: `Some(Some(view))` enables, `Some(None)` disables.
    pub stream: Option<Option<String>>,
    /// `GlobalSecondaryIndexUpdates` `Update`: an index's new `(read,
    /// write)` units; `None` forgets what an earlier Update set, for an
    /// index of that name created anew.
    pub indexes: Vec<IndexUnits>,
    /// UpdateTableReplicaAutoScaling's settings, which go alone.
    pub scaling: Option<ScalingUpdate>,
    /// `OnDemandThroughput`, when given.
    pub on_demand: Option<OnDemandUpdate>,
    /// A global index's `OnDemandThroughput` (an `Update`'s, or a new
    /// index's), by index name.
    pub index_on_demand: Vec<(String, OnDemandUpdate)>,
}

/// An index's new `(read, write)` units by name ([`SettingsChange::indexes`]).
pub type IndexUnits = (String, Option<(u64, u64)>);

impl TableSettings {
    /// The settings after `change` made at `now` (µs) to table `table`, by
    /// DynamoDB's rules; the error message is DynamoDB's.
    pub fn change(&self, table: &str, c: &SettingsChange, now: u64) -> Result<Self, Error> {
        if c.mode.is_none() && c.throughput.is_none() && c.stream.is_none() && c.on_demand.is_none()
        {
            return refuse(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required".into(),
            );
        }
        let mut next = self.clone();
        let mode = c.mode.unwrap_or(self.billing.mode());
        match (mode, c.throughput) {
            ("PAY_PER_REQUEST", Some(_)) => {
                return invalid(
                    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                );
            }
            ("PAY_PER_REQUEST", None) => {
                if self.billing != Billing::PayPerRequest {
                    next.billing = Billing::PayPerRequest;
                    next.billing_since = now;
                }
            }
            (_, None) => {
                if self.billing == Billing::PayPerRequest {
                    return invalid(
                        "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                    );
                }
            }
            (_, Some((read, write))) => {
                let (old_read, old_write) = self.billing.units();
                if matches!(self.billing, Billing::Provisioned { .. })
                    && (read, write) == (old_read, old_write)
                    && c.stream.is_none()
                {
                    return refuse(format!(
                        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {old_read}. Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for the table: {old_write}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
                    ));
                }
                if self.billing == Billing::PayPerRequest {
                    next.billing_since = now;
                } else {
                    if read > old_read || write > old_write {
                        next.last_increase = Some(now);
                    }
                    if read < old_read || write < old_write {
                        next.last_decrease = Some(now);
                    }
                }
                next.billing = Billing::Provisioned { read, write };
            }
        }
        match (&c.stream, &self.stream) {
            (None, _) => {}
            (Some(Some(_)), Some(_)) => {
                return refuse(format!(
                    "Table already has an enabled stream: TableName: {table}"
                ));
            }
            (Some(None), None) => {
                return refuse(format!(
                    "Table has no stream to disable: TableName: {table}"
                ));
            }
            (Some(Some(view)), None) => {
                next.stream = Some(Stream {
                    view_type: view.clone(),
                    since: now,
                });
            }
            (Some(None), Some(_)) => next.stream = None,
        }
        match (next.billing, c.on_demand) {
            (Billing::PayPerRequest, Some(asked)) => {
                next.on_demand_max = next.on_demand_max.updated(asked);
            }
            (Billing::Provisioned { .. }, Some(_)) => {
                return invalid(
                    "OnDemandThroughput can be specified only when BillingMode is PAY_PER_REQUEST",
                );
            }
            // A provisioned table keeps no most: a switch to it drops it,
            // and a switch back does not bring it back (as AWS does).
            (Billing::Provisioned { .. }, None) => {
                next.on_demand_max = OnDemandMax::default();
                next.index_on_demand.clear();
            }
            (Billing::PayPerRequest, None) => {}
        }
        Ok(next)
    }

    /// The catalog key of a table's settings row.
    pub fn key(table: &str) -> EncodedKey {
        EncodedKey {
            partition: table.as_bytes().to_vec(),
            sort: SETTINGS_SORT_KEY.to_vec(),
        }
    }

    /// The catalog row holding these settings for the incarnation of the
    /// table created at `incarnation`.
    pub fn to_item(&self, incarnation: &Version) -> Item {
        let n = |v: u64| {
            AttrValue::N(crate::Number::parse(&v.to_string(), "settings").expect("an integer"))
        };
        let mut item = Item::new();
        item.insert("billing".into(), AttrValue::S(self.billing.mode().into()));
        if let Billing::Provisioned { read, write } = self.billing {
            item.insert("rcu".into(), n(read));
            item.insert("wcu".into(), n(write));
        }
        item.insert("billing_since".into(), n(self.billing_since));
        if let Some(t) = self.last_increase {
            item.insert("last_increase".into(), n(t));
        }
        if let Some(t) = self.last_decrease {
            item.insert("last_decrease".into(), n(t));
        }
        if let Some(s) = &self.stream {
            item.insert("stream".into(), AttrValue::S(s.view_type.clone()));
            item.insert("stream_since".into(), n(s.since));
        }
        // Only when set, so rows without index units stay as they were.
        if !self.indexes.is_empty() {
            let units = |(read, write): (u64, u64)| {
                AttrValue::M(Item::from([
                    ("rcu".into(), n(read)),
                    ("wcu".into(), n(write)),
                ]))
            };
            let map = self
                .indexes
                .iter()
                .map(|(name, u)| (name.clone(), units(*u)))
                .collect();
            item.insert("gsi".into(), AttrValue::M(map));
        }
        // Only when set, so rows without auto scaling stay as they were.
        if !self.scaling.is_empty() {
            item.insert("scaling".into(), AttrValue::S(self.scaling.to_text()));
        }
        if let Some(r) = self.on_demand_max.read {
            item.insert("od_read".into(), n(r));
        }
        if let Some(w) = self.on_demand_max.write {
            item.insert("od_write".into(), n(w));
        }
        // Only when set, so rows without an index's most stay as they were.
        if !self.index_on_demand.is_empty() {
            let most = |m: &OnDemandMax| {
                let mut o = Item::new();
                if let Some(r) = m.read {
                    o.insert("od_read".into(), n(r));
                }
                if let Some(w) = m.write {
                    o.insert("od_write".into(), n(w));
                }
                AttrValue::M(o)
            };
            let map = self
                .index_on_demand
                .iter()
                .map(|(name, m)| (name.clone(), most(m)))
                .collect();
            item.insert("gsi_od".into(), AttrValue::M(map));
        }
        item.insert("table_version".into(), AttrValue::B(incarnation.to_bytes()));
        item
    }

    /// The settings and table incarnation of a settings row; a peer's row
    /// is untrusted, so every field is checked. The fields are checked in
    /// a fixed order, so a row with several faults always names the same one.
    pub fn from_item(item: &Item) -> Result<(Self, Version), Error> {
        let billing = row_billing(item)?;
        let stream = row_stream(item)?;
        let indexes = row_index_units(item, billing)?;
        let scaling = row_scaling(item, billing)?;
        let on_demand_max = row_on_demand_max(item, billing)?;
        let index_on_demand = row_index_on_demand(item, billing)?;
        let of = match item.get("table_version") {
            Some(AttrValue::B(v)) => Version::from_bytes(v)?,
            _ => return Err(bad_row("table_version missing")),
        };
        refuse_unknown_fields(item)?;
        let settings = TableSettings {
            billing,
            billing_since: row_number(item, "billing_since")?
                .ok_or_else(|| bad_row("billing_since missing"))?,
            last_increase: row_number(item, "last_increase")?,
            last_decrease: row_number(item, "last_decrease")?,
            stream,
            indexes,
            scaling,
            on_demand_max,
            index_on_demand,
        };
        Ok((settings, of))
    }
}

/// The error of a settings row that does not decode, saying which part is
/// wrong, so a bad row from a peer can be told apart from other rows.
fn bad_row(what: &str) -> Error {
    Error::Decode(format!("catalog settings row: {what}"))
}

/// The whole number a settings row holds at `k`, or `None` when absent;
/// anything else is an error naming the field.
fn row_number(item: &Item, k: &str) -> Result<Option<u64>, Error> {
    match item.get(k) {
        None => Ok(None),
        Some(AttrValue::N(n)) => n
            .to_string()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| bad_row(&format!("{k} is not a whole number"))),
        Some(_) => Err(bad_row(&format!("{k} is not a number"))),
    }
}

/// A row's billing mode: on demand has no capacity units, provisioned has
/// both in range; any other mix is refused rather than guessed at.
fn row_billing(item: &Item) -> Result<Billing, Error> {
    let billing = match (
        item.get("billing"),
        row_number(item, "rcu")?,
        row_number(item, "wcu")?,
    ) {
        (Some(AttrValue::S(m)), None, None) if m == "PAY_PER_REQUEST" => Billing::PayPerRequest,
        (Some(AttrValue::S(m)), Some(read), Some(write))
            if m == "PROVISIONED"
                && (1..=MAX_CAPACITY_UNITS).contains(&read)
                && (1..=MAX_CAPACITY_UNITS).contains(&write) =>
        {
            Billing::Provisioned { read, write }
        }
        _ => return Err(bad_row("billing mode and capacity units disagree")),
    };
    Ok(billing)
}

/// A row's stream: none, or a known view type together with its label;
/// one without the other is refused.
fn row_stream(item: &Item) -> Result<Option<Stream>, Error> {
    match (item.get("stream"), row_number(item, "stream_since")?) {
        (None, None) => Ok(None),
        (Some(AttrValue::S(v)), Some(since)) if VIEW_TYPES.contains(&v.as_str()) => {
            Ok(Some(Stream {
                view_type: v.clone(),
                since,
            }))
        }
        _ => Err(bad_row("stream view type and label disagree")),
    }
}

/// A row's global indexes' provisioned units by index name; an on-demand
/// table has none, so units on one are refused.
fn row_index_units(item: &Item, billing: Billing) -> Result<BTreeMap<String, (u64, u64)>, Error> {
    let mut indexes = BTreeMap::new();
    match item.get("gsi") {
        None => {}
        Some(AttrValue::M(m)) if !m.is_empty() => {
            for (name, u) in m {
                let units = match u {
                    AttrValue::M(u) if u.len() == 2 => {
                        (stored_units(u.get("rcu")), stored_units(u.get("wcu")))
                    }
                    _ => (Err(false), Err(false)),
                };
                match units {
                    (Ok(Some(read)), Ok(Some(write))) if !name.is_empty() && name.len() <= 255 => {
                        indexes.insert(name.clone(), (read, write));
                    }
                    _ => return Err(bad_row(&format!("units of index {name:?}"))),
                }
            }
        }
        Some(_) => return Err(bad_row("gsi is not a map of index units")),
    }
    if !indexes.is_empty() && billing == Billing::PayPerRequest {
        return Err(bad_row("index units on an on-demand table"));
    }
    Ok(indexes)
}

/// A row's auto scaling settings; they go with provisioned billing only,
/// and a row holds them only when some are set.
fn row_scaling(item: &Item, billing: Billing) -> Result<AutoScaling, Error> {
    match item.get("scaling") {
        None => Ok(AutoScaling::default()),
        Some(AttrValue::S(text)) => AutoScaling::from_text(text)
            .filter(|s| !s.is_empty() && billing != Billing::PayPerRequest)
            .ok_or_else(|| bad_row("auto scaling settings")),
        Some(_) => Err(bad_row("scaling is not a string")),
    }
}

/// A row's table-wide on-demand most; it goes with on-demand billing only,
/// and a most of 0 is never stored.
fn row_on_demand_max(item: &Item, billing: Billing) -> Result<OnDemandMax, Error> {
    let on_demand_max = OnDemandMax {
        read: row_number(item, "od_read")?,
        write: row_number(item, "od_write")?,
    };
    if !on_demand_max.is_empty()
        && (billing != Billing::PayPerRequest
            || on_demand_max.read == Some(0)
            || on_demand_max.write == Some(0))
    {
        return Err(bad_row(
            "OnDemandThroughput on a provisioned table, or of 0",
        ));
    }
    Ok(on_demand_max)
}

/// A row's global indexes' on-demand most by index name; they go with
/// on-demand billing only, and a row holds the map only when it has some.
fn row_index_on_demand(
    item: &Item,
    billing: Billing,
) -> Result<BTreeMap<String, OnDemandMax>, Error> {
    let mut index_on_demand = BTreeMap::new();
    match item.get("gsi_od") {
        None => {}
        Some(AttrValue::M(m)) if !m.is_empty() && billing == Billing::PayPerRequest => {
            for (name, most) in m {
                match index_most(most) {
                    Some(m) if !m.is_empty() && !name.is_empty() && name.len() <= 255 => {
                        index_on_demand.insert(name.clone(), m);
                    }
                    _ => return Err(bad_row(&format!("OnDemandThroughput of index {name:?}"))),
                }
            }
        }
        Some(_) => return Err(bad_row("gsi_od is not a map of on-demand indexes' most")),
    }
    Ok(index_on_demand)
}

/// One index's on-demand most as its row entry holds it: a map of only
/// `od_read` and `od_write`, each a whole number of 1 or more when there.
/// `None` when the entry is anything else.
fn index_most(most: &AttrValue) -> Option<OnDemandMax> {
    match most {
        AttrValue::M(o) if o.keys().all(|k| k == "od_read" || k == "od_write") => {
            let get = |k: &str| match o.get(k) {
                None => Ok(None),
                Some(AttrValue::N(v)) => v
                    .to_string()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v >= 1)
                    .map(Some)
                    .ok_or(()),
                Some(_) => Err(()),
            };
            match (get("od_read"), get("od_write")) {
                (Ok(read), Ok(write)) => Some(OnDemandMax { read, write }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Refuses a row with a field not listed here, so no field of a peer's
/// row goes unchecked.
fn refuse_unknown_fields(item: &Item) -> Result<(), Error> {
    let known = [
        "billing",
        "rcu",
        "wcu",
        "billing_since",
        "last_increase",
        "last_decrease",
        "stream",
        "stream_since",
        "gsi",
        "scaling",
        "od_read",
        "od_write",
        "gsi_od",
        "table_version",
    ];
    if let Some(k) = item.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad_row(&format!("unknown field {k}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::Timestamp;
    use crate::schema::TableDef;

    fn def() -> TableDef {
        crate::schema::test_table("orders", &["us-east-1"])
    }

    fn version(physical: u64) -> Version {
        Version {
            hlc: Timestamp {
                physical,
                logical: 0,
            },
            origin: "us-east-1".into(),
        }
    }

    fn message(e: Error) -> String {
        match e {
            Error::Invalid { field, reason } if field == FIELD => reason,
            other => panic!("not a settings error: {other:?}"),
        }
    }

    fn change(
        mode: Option<&'static str>,
        tp: Option<(u64, u64)>,
        stream: Option<Option<&str>>,
    ) -> SettingsChange {
        SettingsChange {
            mode,
            throughput: tp,
            stream: stream.map(|s| s.map(str::to_string)),
            indexes: Vec::new(),
            scaling: None,
            on_demand: None,
            index_on_demand: Vec::new(),
        }
    }

    #[test]
    fn billing_moves_between_modes_by_dynamodbs_rules() {
        let s = TableSettings::initial(&def(), &version(10));
        assert_eq!(s.billing, Billing::PayPerRequest);
        let e = s
            .change("orders", &change(Some("PROVISIONED"), None, None), 20)
            .unwrap_err();
        assert_eq!(
            message(e),
            "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED"
        );
        let e = s
            .change("orders", &change(None, Some((5, 5)), None), 20)
            .unwrap_err();
        assert!(message(e).contains("when BillingMode is PAY_PER_REQUEST"));
        let p = s
            .change(
                "orders",
                &change(Some("PROVISIONED"), Some((5, 6)), None),
                20,
            )
            .unwrap();
        assert_eq!(p.billing, Billing::Provisioned { read: 5, write: 6 });
        assert_eq!(p.billing_since, 20);
        // Unchanged throughput is refused with both figures named.
        let e = p
            .change("orders", &change(None, Some((5, 6)), None), 30)
            .unwrap_err();
        assert!(message(e).contains("Current ReadCapacityUnits provisioned for the table: 5. Requested ReadCapacityUnits: 5."));
        let up = p
            .change("orders", &change(None, Some((7, 6)), None), 30)
            .unwrap();
        assert_eq!((up.last_increase, up.last_decrease), (Some(30), None));
        let down = up
            .change("orders", &change(None, Some((7, 1)), None), 40)
            .unwrap();
        assert_eq!(
            (down.last_increase, down.last_decrease),
            (Some(30), Some(40))
        );
        let back = down
            .change("orders", &change(Some("PAY_PER_REQUEST"), None, None), 50)
            .unwrap();
        assert_eq!(
            (back.billing, back.billing_since),
            (Billing::PayPerRequest, 50)
        );
        let e = s
            .change("orders", &SettingsChange::default(), 1)
            .unwrap_err();
        assert!(message(e).starts_with("At least one of ProvisionedThroughput"));
    }

    #[test]
    fn an_indexs_most_is_set_kept_in_the_row_removed_and_refused_when_provisioned() {
        use crate::index::{IndexDef, Kind, Projection};
        use crate::key::{KeyAttr, KeyType};
        let mut def = def();
        def.indexes.push(IndexDef {
            name: "by_g".into(),
            kind: Kind::Global,
            partition: vec![KeyAttr {
                name: "g".into(),
                ty: KeyType::S,
            }],
            sort: Vec::new(),
            projection: Projection::All,
            throughput: None,
        });
        let s = TableSettings::initial(&def, &version(10));
        let most = |read, write| SettingsChange {
            index_on_demand: vec![("by_g".into(), (read, write))],
            ..SettingsChange::default()
        };
        let capped = s.apply(&def, &most(None, Some(5)), 20).unwrap();
        let want = OnDemandMax {
            read: None,
            write: Some(5),
        };
        assert_eq!(capped.index_on_demand.get("by_g"), Some(&want));
        assert!(
            capped.on_demand_max.is_empty(),
            "the table's own stays unset"
        );
        let (back, _) = TableSettings::from_item(&capped.to_item(&version(10))).unwrap();
        assert_eq!(back, capped);
        // -1 of its only direction removes it.
        let gone = capped.apply(&def, &most(None, Some(-1)), 30).unwrap();
        assert!(gone.index_on_demand.is_empty());
        // Provisioned: refused, and a switch drops it.
        let p = capped
            .apply(
                &def,
                &SettingsChange {
                    mode: Some("PROVISIONED"),
                    throughput: Some((5, 5)),
                    indexes: vec![("by_g".into(), Some((1, 1)))],
                    ..SettingsChange::default()
                },
                40,
            )
            .unwrap();
        assert!(p.index_on_demand.is_empty());
        let e = p.apply(&def, &most(Some(3), None), 50).unwrap_err();
        assert!(message(e).contains("only when BillingMode is PAY_PER_REQUEST"));
        // A peer's row with an index's most of 0 is refused.
        let mut row = capped.to_item(&version(10));
        row.insert(
            "gsi_od".into(),
            AttrValue::M(Item::from([(
                "by_g".into(),
                AttrValue::M(Item::from([(
                    "od_write".into(),
                    AttrValue::N(crate::number::Number::zero()),
                )])),
            )])),
        );
        assert!(TableSettings::from_item(&row).is_err());
    }

    #[test]
    fn an_on_demand_most_is_set_removed_kept_in_the_row_and_dropped_when_provisioned() {
        let s = TableSettings::initial(&def(), &version(10));
        let most = |read, write| SettingsChange {
            on_demand: Some((read, write)),
            ..SettingsChange::default()
        };
        let capped = s.change("orders", &most(None, Some(5)), 20).unwrap();
        assert_eq!(
            capped.on_demand_max,
            OnDemandMax {
                read: None,
                write: Some(5)
            }
        );
        // Kept in the settings row, and read back as it was.
        let (back, _) = TableSettings::from_item(&capped.to_item(&version(10))).unwrap();
        assert_eq!(back, capped);
        // -1 removes one direction; the other stays.
        let both = capped.change("orders", &most(Some(7), None), 30).unwrap();
        let read_only = both.change("orders", &most(None, Some(-1)), 40).unwrap();
        assert_eq!(
            read_only.on_demand_max,
            OnDemandMax {
                read: Some(7),
                write: None
            }
        );
        // Provisioned: refused, and a switch drops it for good.
        let p = both
            .change(
                "orders",
                &change(Some("PROVISIONED"), Some((5, 5)), None),
                50,
            )
            .unwrap();
        assert!(p.on_demand_max.is_empty());
        let e = p.change("orders", &most(Some(3), None), 60).unwrap_err();
        assert!(message(e).contains("only when BillingMode is PAY_PER_REQUEST"));
        let again = p
            .change("orders", &change(Some("PAY_PER_REQUEST"), None, None), 70)
            .unwrap();
        assert!(again.on_demand_max.is_empty());
        // A peer's row with a most on a provisioned table is refused.
        let mut row = p.to_item(&version(10));
        row.insert(
            "od_read".into(),
            AttrValue::N(crate::Number::parse("3", "t").unwrap()),
        );
        assert!(TableSettings::from_item(&row).is_err());
    }

    #[test]
    fn a_stream_is_enabled_once_and_a_new_one_gets_a_new_label() {
        let s = TableSettings::initial(&def(), &version(10));
        let e = s
            .change("orders", &change(None, None, Some(None)), 20)
            .unwrap_err();
        assert_eq!(
            message(e),
            "Table has no stream to disable: TableName: orders"
        );
        let on = s
            .change("orders", &change(None, None, Some(Some("KEYS_ONLY"))), 20)
            .unwrap();
        assert_eq!(on.stream.as_ref().map(|s| s.since), Some(20));
        let e = on
            .change("orders", &change(None, None, Some(Some("NEW_IMAGE"))), 30)
            .unwrap_err();
        assert_eq!(
            message(e),
            "Table already has an enabled stream: TableName: orders"
        );
        let off = on
            .change("orders", &change(None, None, Some(None)), 30)
            .unwrap();
        assert_eq!(off.stream, None);
        let again = off
            .change("orders", &change(None, None, Some(Some("NEW_IMAGE"))), 40)
            .unwrap();
        assert_eq!(
            again.stream,
            Some(Stream {
                view_type: "NEW_IMAGE".into(),
                since: 40
            })
        );
    }

    #[test]
    fn the_row_round_trips_and_belongs_to_one_incarnation() {
        let d = def();
        let s = TableSettings::initial(&d, &version(10))
            .change(
                "orders",
                &change(Some("PROVISIONED"), Some((3, 4)), Some(Some("OLD_IMAGE"))),
                20,
            )
            .unwrap();
        let row = s.to_item(&version(10));
        assert_eq!(
            TableSettings::from_item(&row).unwrap(),
            (s.clone(), version(10))
        );
        assert_eq!(
            TableSettings::current(&d, &version(10), Some(&row)).unwrap(),
            s
        );
        // A recreated table does not inherit the old incarnation's settings.
        assert_eq!(
            TableSettings::current(&d, &version(99), Some(&row)).unwrap(),
            TableSettings::initial(&d, &version(99))
        );
        // A peer's malformed row is refused, field by field.
        let mut bad = row.clone();
        bad.insert(
            "rcu".into(),
            AttrValue::N(crate::Number::parse("0", "rcu").unwrap()),
        );
        assert!(TableSettings::from_item(&bad).is_err());
        let mut bad = row.clone();
        bad.insert("stream".into(), AttrValue::S("ALL".into()));
        assert!(TableSettings::from_item(&bad).is_err());
        let mut bad = row;
        bad.insert("extra".into(), AttrValue::Bool(true));
        assert!(TableSettings::from_item(&bad).is_err());
    }

    #[test]
    fn auto_scaling_rides_in_the_row_and_goes_with_on_demand() {
        use crate::autoscaling::{PolicyUpdate, ScalingUpdate, TargetUpdate};
        let d = def();
        let p = TableSettings::initial(&d, &version(10))
            .change(
                "orders",
                &change(Some("PROVISIONED"), Some((3, 4)), None),
                20,
            )
            .unwrap();
        let write = PolicyUpdate {
            field: "ProvisionedWriteCapacityAutoScalingUpdate".into(),
            min: Some(4),
            max: Some(40),
            disabled: false,
            policy: Some(TargetUpdate {
                target: 70.0,
                ..Default::default()
            }),
        };
        let scaled = p
            .apply(
                &d,
                &SettingsChange {
                    scaling: Some(ScalingUpdate {
                        write: Some(write.clone()),
                        read: Vec::new(),
                    }),
                    ..Default::default()
                },
                30,
            )
            .unwrap();
        assert_eq!(scaled.scaling.write.as_ref().map(|w| w.max), Some(40));
        assert_eq!(
            scaled.billing, p.billing,
            "the units are the region's to scale"
        );
        let row = scaled.to_item(&version(10));
        assert_eq!(TableSettings::from_item(&row).unwrap().0, scaled);
        let od = scaled
            .apply(&d, &change(Some("PAY_PER_REQUEST"), None, None), 40)
            .unwrap();
        assert!(od.scaling.is_empty(), "on demand drops auto scaling");
        // Auto scaling of an on-demand table is refused.
        let e = od
            .apply(
                &d,
                &SettingsChange {
                    scaling: Some(ScalingUpdate {
                        write: Some(write),
                        read: Vec::new(),
                    }),
                    ..Default::default()
                },
                50,
            )
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid { field, .. } if field == "ProvisionedWriteCapacityAutoScalingUpdate")
        );
    }
}
