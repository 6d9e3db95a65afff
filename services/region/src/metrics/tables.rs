//! Last-writer-wins conflicts per table, `meridian_table_conflicts_total`:
//! the store's per-table counts (`meridian_store::Reader::table_conflict_counts`),
//! read at each scrape and exported as they stand. Table names come from
//! users, so the label set is bounded: the [`MAX_TABLE_SERIES`] tables with
//! the most conflicts each get a series, and the rest are summed under
//! [`OTHER_TABLES`], a name no table can have.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// Tables with a series of their own, at most: a scrape stays small and a
/// time-series database's label set bounded however many tables users make.
pub const MAX_TABLE_SERIES: usize = 100;

/// The series of the tables past [`MAX_TABLE_SERIES`]: parentheses are
/// not allowed in a table name, so it names no table.
pub const OTHER_TABLES: &str = "(other tables)";

/// The counts the last scrape read, shared with the registry's collector.
#[derive(Clone, Debug, Default)]
pub struct TableConflicts {
    latest: Arc<Mutex<Vec<(String, u64)>>>,
}

impl TableConflicts {
    /// Replaces the counts exported with `counts`, bounded as the module
    /// says.
    pub fn set(&self, counts: BTreeMap<String, u64>) {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = bounded(counts);
    }
}

/// The series to export: the busiest [`MAX_TABLE_SERIES`] tables, by name,
/// then the others' sum if there are any.
fn bounded(counts: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = counts.into_iter().collect();
    if all.len() <= MAX_TABLE_SERIES {
        return all;
    }
    // Most conflicts first; ties by name, so the cut is stable.
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = all[MAX_TABLE_SERIES..].iter().map(|t| t.1).sum();
    all.truncate(MAX_TABLE_SERIES);
    all.sort();
    all.push((OTHER_TABLES.to_string(), rest));
    all
}

impl Collector for TableConflicts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.is_empty() {
            return Ok(());
        }
        let mut m = encoder.encode_descriptor(
            "table_conflicts",
            "Last-writer-wins conflicts recorded here per table since the table was created (its current incarnation); the tables past the 100 busiest are summed under table=\"(other tables)\"",
            None,
            MetricType::Counter,
        )?;
        for (table, n) in latest.iter() {
            let labels = [("table", table.as_str())];
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_the_quietest_tables_are_summed() {
        let few: BTreeMap<String, u64> = [("b".into(), 2), ("a".into(), 1)].into();
        assert_eq!(bounded(few), [("a".into(), 1), ("b".into(), 2)]);
        let many: BTreeMap<String, u64> = (0..MAX_TABLE_SERIES as u64 + 5)
            .map(|i| (format!("t{i:03}"), i))
            .collect();
        let out = bounded(many);
        assert_eq!(out.len(), MAX_TABLE_SERIES + 1);
        // t000..t004 (0+1+2+3+4 conflicts) are the quietest five.
        assert_eq!(out.last().unwrap(), &(OTHER_TABLES.to_string(), 10));
        assert_eq!(out[0], ("t005".to_string(), 5));
    }
}
