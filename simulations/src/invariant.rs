//! Invariants over the application's data (docs/drills.md, *Judge the
//! drill by your application*): a Scan of a table with a DynamoDB
//! `FilterExpression`, and what its rows must be in each region: none, a
//! count, the same in every region, or each naming an item the region
//! holds. Judging rows is pure: the drill scans, this says whether they
//! hold and which rows break them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use meridian_core::expr::{ConditionExpr, Names, Values, parse_condition};
use meridian_core::{AttrValue, Item};
use serde::{Deserialize, Serialize};

/// Most rows a violation lists.
pub const ROWS_SHOWN: usize = 10;

/// What an invariant's rows must be.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// No row: the filter selects what must never be.
    Empty,
    /// Exactly this many rows.
    Count(u64),
    /// The same rows in every region: judged once the regions have
    /// settled, as replication lag makes regions differ while it runs.
    Equal,
    /// Every row's attribute `.0` holds the key (of the table's key
    /// attribute `.1`) of an item the region holds: "every order line
    /// has its header".
    Referenced(String, String),
}

/// One invariant, checked (`[[invariant]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Invariant {
    pub name: String,
    pub table: String,
    /// The filter as written, and parsed; `None` selects every item.
    pub filter_text: Option<String>,
    pub filter: Option<ConditionExpr>,
    pub expect: Expect,
    /// An executable and its arguments, given the rows on its standard
    /// input; a non-zero exit status is a violation.
    pub command: Option<Vec<String>>,
    /// How often it is checked while the drill runs (`None`: only once
    /// the regions have settled).
    pub every: Option<Duration>,
}

/// Parses `text` as DynamoDB parses a Scan's `FilterExpression`, with its
/// names and values; the error is DynamoDB's message.
pub fn parse_filter(text: &str, names: &Names, values: &Values) -> Result<ConditionExpr, String> {
    parse_condition("FilterExpression", text, names, values)
        .map(|(c, _)| c)
        .map_err(|e| e.to_string())
}

impl Invariant {
    /// The rows of `items` the filter selects.
    pub fn select<'a>(&self, items: &'a [Item]) -> Vec<&'a Item> {
        items
            .iter()
            .filter(|i| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| f.eval(Some(i)).unwrap_or(false))
            })
            .collect()
    }

    /// Whether one region's items hold the invariant (`Equal` is judged
    /// across regions, by [`unequal`]): `None` if they do, else what
    /// breaks it and the rows that do.
    pub fn judge<'a>(&self, items: &'a [Item]) -> Option<(String, Vec<&'a Item>)> {
        let rows = self.select(items);
        match &self.expect {
            Expect::Empty if !rows.is_empty() => {
                Some((format!("{} rows, where none must be", rows.len()), rows))
            }
            Expect::Count(n) if rows.len() as u64 != *n => {
                Some((format!("{} rows, where {n} must be", rows.len()), rows))
            }
            Expect::Referenced(attr, key) => {
                let keys: BTreeSet<String> = items
                    .iter()
                    .filter_map(|i| i.get(key))
                    .map(value_text)
                    .collect();
                let orphans: Vec<&Item> = rows
                    .into_iter()
                    .filter(|r| r.get(attr).is_none_or(|v| !keys.contains(&value_text(v))))
                    .collect();
                (!orphans.is_empty()).then(|| {
                    (
                        format!(
                            "{} rows whose {attr} names no item the region holds",
                            orphans.len()
                        ),
                        orphans,
                    )
                })
            }
            _ => None,
        }
    }
}

/// With [`Expect::Equal`]: the regions whose selected rows differ from the
/// first region's, each with the rows only one side has.
pub fn unequal<'a>(
    inv: &Invariant,
    per_region: &'a BTreeMap<String, Vec<Item>>,
) -> Vec<(String, String, Vec<&'a Item>)> {
    let mut sets = per_region.iter().map(|(r, items)| {
        let rows: BTreeSet<String> = inv.select(items).iter().map(|i| show(i)).collect();
        (r, items, rows)
    });
    let Some((first, _, base)) = sets.next() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (region, items, rows) in sets {
        if rows == base {
            continue;
        }
        let differ: Vec<&Item> = inv
            .select(items)
            .into_iter()
            .filter(|i| !base.contains(&show(i)))
            .collect();
        let missing = base.difference(&rows).count();
        out.push((
            region.clone(),
            format!(
                "{} rows, {} of them not in {first}, and {missing} of {first}'s missing",
                rows.len(),
                differ.len()
            ),
            differ,
        ));
    }
    out
}

fn value_text(v: &AttrValue) -> String {
    v.to_json().to_string()
}

/// An item as DynamoDB JSON, as the report lists rows.
pub fn show(item: &Item) -> String {
    serde_json::Value::Object(meridian_core::item_to_json(item)).to_string()
}

/// One violation of an invariant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub region: String,
    /// When it was seen, ms into the drill.
    pub at_ms: u64,
    /// `running` or `settled`.
    pub phase: String,
    pub detail: String,
    /// The first rows that break it, as DynamoDB JSON.
    pub rows: Vec<String>,
    /// The faults in effect when it was seen, as the timeline labels them.
    pub faults: Vec<String>,
}

/// An invariant as the report shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InvariantReport {
    pub name: String,
    pub table: String,
    /// What it checks, as written: the filter and the expectation.
    pub query: String,
    /// Checks made, each of every region.
    pub checks: u64,
    /// Requests it sent to the regions (Scan pages): its cost.
    pub requests: u64,
    pub holds: bool,
    /// Every violation, at most [`MAX_VIOLATIONS`].
    pub violations: Vec<Violation>,
    /// Violations past those listed.
    #[serde(default)]
    pub more: u64,
}

/// Most violations an invariant's report lists.
pub const MAX_VIOLATIONS: usize = 50;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), AttrValue::S(v.to_string())))
            .collect()
    }

    fn invariant(filter: Option<&str>, expect: Expect) -> Invariant {
        let values: Values = HashMap::from([(":line".to_string(), AttrValue::S("line".into()))]);
        Invariant {
            name: "i".into(),
            table: "t".into(),
            filter_text: filter.map(String::from),
            filter: filter.map(|f| parse_filter(f, &HashMap::new(), &values).unwrap()),
            expect,
            command: None,
            every: None,
        }
    }

    fn orders() -> Vec<Item> {
        vec![
            item(&[("k", "o1"), ("kind", "header")]),
            item(&[("k", "o1:l1"), ("kind", "line"), ("order", "o1")]),
            item(&[("k", "o2:l1"), ("kind", "line"), ("order", "o2")]),
        ]
    }

    #[test]
    fn a_line_without_its_header_breaks_the_reference() {
        let inv = invariant(
            Some("kind = :line"),
            Expect::Referenced("order".into(), "k".into()),
        );
        let all = orders();
        let (detail, rows) = inv.judge(&all).expect("o2's line is an orphan");
        assert_eq!(detail, "1 rows whose order names no item the region holds");
        assert_eq!(
            show(rows[0]),
            r#"{"k":{"S":"o2:l1"},"kind":{"S":"line"},"order":{"S":"o2"}}"#
        );
        assert!(inv.judge(&orders()[..2]).is_none());
    }

    #[test]
    fn empty_count_and_equal() {
        let lines = invariant(Some("kind = :line"), Expect::Empty);
        assert_eq!(lines.judge(&orders()).unwrap().1.len(), 2);
        assert!(lines.judge(&orders()[..1]).is_none());
        let all = invariant(None, Expect::Count(3));
        assert!(all.judge(&orders()).is_none());
        assert!(
            all.judge(&orders()[..2])
                .unwrap()
                .0
                .contains("2 rows, where 3")
        );
        let eq = invariant(Some("kind = :line"), Expect::Equal);
        let regions = BTreeMap::from([
            ("a".to_string(), orders()),
            ("b".to_string(), orders()[..2].to_vec()),
            ("c".to_string(), orders()),
        ]);
        let bad = unequal(&eq, &regions);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, "b");
        assert_eq!(bad[0].1, "1 rows, 0 of them not in a, and 1 of a's missing");
    }

    #[test]
    fn a_filter_that_does_not_parse_says_dynamodbs_message() {
        let err = parse_filter("kind = = :x", &HashMap::new(), &HashMap::new()).unwrap_err();
        assert!(err.contains("Invalid FilterExpression"), "{err}");
    }
}
