//! `ReturnConsumedCapacity` and `ReturnItemCollectionMetrics`: what a request
//! consumed, by DynamoDB's documented rules: what clients and tools that
//! read them (capacity planners, SDK logging) see in DynamoDB, and what
//! [`crate::throttle`] charges to a provisioned table's buckets.
//!
//! The rules, in one place:
//! - a write costs one unit per started KB of the larger of the item before
//!   and after it (at least one unit);
//! - a read costs one unit per started 4 KB, half that when eventually
//!   consistent (`ConsistentRead` false, the default);
//! - Query and Scan add up the sizes of every item they read (filtered out
//!   or not) and round once;
//! - a transaction costs twice as much, reads and writes alike.

use serde_json::{Map, Value as Json, json};

use crate::error::{ApiError, ApiResult};
use crate::req::Req;

/// The per-item rules live in the core, where the region's client API and
/// its replication receivers charge by them too.
pub use meridian_core::throughput::{item_read_units, read_units, sized_write_units, write_units};
/// Transactions cost twice: DynamoDB prepares and commits every item.
const TRANSACTION_FACTOR: f64 = 2.0;

/// How much a response tells about capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    None,
    Total,
    Indexes,
}

impl Report {
    /// `ReturnConsumedCapacity`, checked as DynamoDB checks it.
    pub fn of(r: Req<'_>) -> ApiResult<Self> {
        match r.opt_str("ReturnConsumedCapacity")? {
            None | Some("NONE") => Ok(Report::None),
            Some("TOTAL") => Ok(Report::Total),
            Some("INDEXES") => Ok(Report::Indexes),
            Some(other) => Err(ApiError::constraint(format!(
                "Value '{other}' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
            ))),
        }
    }
}

/// `ReturnItemCollectionMetrics`, checked as DynamoDB checks it. DynamoDB
/// returns item collection metrics only for tables with local secondary
/// indexes; tables here have none, so `SIZE` returns nothing, as DynamoDB
/// does for such a table.
pub fn check_collection_metrics(r: Req<'_>) -> ApiResult<()> {
    match r.opt_str("ReturnItemCollectionMetrics")? {
        None | Some("NONE") | Some("SIZE") => Ok(()),
        Some(other) => Err(ApiError::constraint(format!(
            "Value '{other}' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]"
        ))),
    }
}

/// The units one table consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl Units {
    pub fn read(units: f64) -> Self {
        Units {
            read: units,
            write: 0.0,
        }
    }

    pub fn write(units: f64) -> Self {
        Units {
            read: 0.0,
            write: units,
        }
    }
}

/// Units per table, in the order the tables were first met.
#[derive(Debug, Default)]
pub struct Tally(Vec<(String, Units)>);

impl Tally {
    pub fn add(&mut self, table: &str, units: Units) {
        match self.0.iter_mut().find(|(t, _)| t == table) {
            Some((_, u)) => {
                u.read += units.read;
                u.write += units.write;
            }
            None => self.0.push((table.to_string(), units)),
        }
    }

    /// `ConsumedCapacity` as a list, one per table (batches and
    /// transactions), or `None` when not asked for.
    pub fn render(&self, report: Report, transactional: bool) -> Option<Json> {
        let list: Vec<Json> = self
            .0
            .iter()
            .filter_map(|(t, u)| render(report, t, *u, transactional))
            .collect();
        (report != Report::None).then_some(Json::Array(list))
    }
}

/// One table's `ConsumedCapacity`, or `None` when not asked for. `TOTAL`
/// gives the aggregate; `INDEXES` adds the table's own share under `Table`
/// (index reads and writes are counted to the table, not per index). Transactions also split the
/// total into read and write units, as DynamoDB does.
pub fn render(report: Report, table: &str, units: Units, transactional: bool) -> Option<Json> {
    if report == Report::None {
        return None;
    }
    let factor = if transactional {
        TRANSACTION_FACTOR
    } else {
        1.0
    };
    let (read, write) = (units.read * factor, units.write * factor);
    let mut share = Map::new();
    share.insert("CapacityUnits".into(), json!(read + write));
    if transactional {
        if read > 0.0 {
            share.insert("ReadCapacityUnits".into(), json!(read));
        }
        if write > 0.0 {
            share.insert("WriteCapacityUnits".into(), json!(write));
        }
    }
    let mut out = Map::new();
    out.insert("TableName".into(), json!(table));
    out.extend(share.clone());
    if report == Report::Indexes {
        out.insert("Table".into(), Json::Object(share));
    }
    Some(Json::Object(out))
}

/// Adds `ConsumedCapacity` for one table to a response, when asked for.
pub fn attach(out: &mut Json, report: Report, table: &str, units: Units) {
    if let Some(c) = render(report, table, units, false) {
        out["ConsumedCapacity"] = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::value::item_size;
    use meridian_core::{AttrValue, Item};

    /// An item of exactly `bytes` bytes: a one-letter name and a string.
    fn sized(bytes: usize) -> Item {
        let mut i = Item::new();
        i.insert("a".into(), AttrValue::S("x".repeat(bytes - 1)));
        assert_eq!(item_size(&i), bytes);
        i
    }

    #[test]
    fn reads_round_up_per_4_kb_and_halve_when_eventually_consistent() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(0, false), 0.5);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(read_units(3 * 4096 + 1, false), 2.0);
        assert_eq!(item_read_units(Some(&sized(5000)), true), 2.0);
        assert_eq!(item_read_units(None, true), 1.0);
    }

    #[test]
    fn writes_round_up_per_kb_of_the_larger_image() {
        assert_eq!(write_units(None, None), 1.0);
        assert_eq!(write_units(None, Some(&sized(1024))), 1.0);
        assert_eq!(write_units(None, Some(&sized(1025))), 2.0);
        // An update or delete pays for the larger of before and after.
        assert_eq!(write_units(Some(&sized(3000)), Some(&sized(10))), 3.0);
        assert_eq!(write_units(Some(&sized(10)), Some(&sized(2100))), 3.0);
        assert_eq!(write_units(Some(&sized(2049)), None), 3.0);
    }

    #[test]
    fn total_and_indexes_render_as_dynamodb_does() {
        let u = Units::write(2.0);
        assert_eq!(render(Report::None, "t", u, false), None);
        assert_eq!(
            render(Report::Total, "t", u, false),
            Some(json!({"TableName": "t", "CapacityUnits": 2.0}))
        );
        assert_eq!(
            render(Report::Indexes, "t", u, false),
            Some(json!({"TableName": "t", "CapacityUnits": 2.0, "Table": {"CapacityUnits": 2.0}}))
        );
    }

    #[test]
    fn transactions_cost_twice_and_split_reads_from_writes() {
        assert_eq!(
            render(Report::Total, "t", Units::write(3.0), true),
            Some(json!({"TableName": "t", "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0}))
        );
        assert_eq!(
            render(Report::Indexes, "t", Units::read(1.0), true),
            Some(json!({
                "TableName": "t", "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0,
                "Table": {"CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}
            }))
        );
    }

    #[test]
    fn a_tally_lists_each_table_once_in_first_seen_order() {
        let mut t = Tally::default();
        t.add("b", Units::write(1.0));
        t.add("a", Units::write(2.0));
        t.add("b", Units::write(3.0));
        assert_eq!(t.render(Report::None, false), None);
        assert_eq!(
            t.render(Report::Total, false),
            Some(json!([
                {"TableName": "b", "CapacityUnits": 4.0},
                {"TableName": "a", "CapacityUnits": 2.0},
            ]))
        );
    }
}
