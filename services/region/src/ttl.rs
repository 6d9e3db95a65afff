//! TTL expiry. Every region runs a reaper: it walks each TTL-enabled table a
//! page at a time and expires items whose TTL attribute (a number of epoch
//! seconds) is in the past. An expiry is a tombstone through the normal write
//! path, conditional on the version the reaper saw, so an item updated in the
//! meantime in this region is left alone, and so is one whose table turned
//! TTL off. It replicates like any delete, flagged as a TTL delete in the
//! log; two regions expiring the same item is not a conflict. An expiry that
//! races an update made in another region resolves by last-writer-wins like
//! any concurrent delete, and is recorded as a conflict.

use std::collections::HashMap;
use std::time::Duration;

use meridian_core::{AttrValue, EncodedKey, Number};
use meridian_store::ItemWrite;

use crate::ops::{OpError, RegionHandle};
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// Items examined per table per pass.
const PAGE: usize = 1000;

/// How far in the past an expiry time may be and still count: DynamoDB's
/// TTL ignores values more than five years old, which are taken for
/// something else than an expiry (a date kept in milliseconds would be in
/// the future; one of long ago, say a birth date, should not delete).
pub const IGNORED_PAST_SECS: u64 = 5 * 365 * 86_400;

/// The expiry times that delete an item at one moment: at or before now,
/// and no more than [`IGNORED_PAST_SECS`] before it.
#[derive(Clone, Debug)]
pub struct Expiry {
    now: Number,
    oldest: Number,
}

impl Expiry {
    pub fn at(now_secs: u64) -> Self {
        let number =
            |s: u64| Number::parse(&s.to_string(), "now").unwrap_or_else(|_| Number::zero());
        Expiry {
            now: number(now_secs),
            oldest: number(now_secs.saturating_sub(IGNORED_PAST_SECS)),
        }
    }

    /// Whether a TTL attribute value says the item has expired. Anything
    /// but a number never expires, as in DynamoDB.
    pub fn expired(&self, value: Option<&AttrValue>) -> bool {
        matches!(value, Some(AttrValue::N(at)) if *at <= self.now && *at >= self.oldest)
    }
}

/// The reaper: a [`pass`] every interval ([`crate::runner`] drives it),
/// each table's scan resuming where the previous pass stopped.
pub(crate) struct Reaper {
    ops: RegionHandle,
    interval: Duration,
    cursors: HashMap<String, EncodedKey>,
}

impl Reaper {
    pub(crate) fn new(ops: RegionHandle, interval: Duration) -> Self {
        Reaper {
            ops,
            interval,
            cursors: HashMap::new(),
        }
    }
}

impl Work for Reaper {
    type Error = OpError;

    async fn work(&mut self, _: &Worker) -> Result<Next, OpError> {
        match pass(&self.ops, &mut self.cursors).await {
            Ok(()) => Ok(Next::Idle),
            Err(e) => {
                tracing::warn!(error = %e, "TTL pass failed; retrying next interval");
                Err(e)
            }
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.interval).await
    }
}

async fn pass(
    ops: &RegionHandle,
    cursors: &mut HashMap<String, EncodedKey>,
) -> Result<(), OpError> {
    let mut tables = Vec::new();
    loop {
        let page = ops
            .list_tables(tables.last().map_or("", String::as_str), 100)
            .await?;
        let done = page.len() < 100;
        tables.extend(page);
        if done {
            break;
        }
    }
    let expiry = Expiry::at(ops.real_now_micros() / 1_000_000);
    for table in tables {
        // Only what the pass needs: no item count, no full scan of the table.
        let (def, attr) = match ops.ttl_setting(&table).await {
            Ok(Some(setting)) => setting,
            Ok(None) | Err(OpError::TableNotFound(_)) => {
                cursors.remove(&table);
                continue;
            }
            Err(e) => return Err(e),
        };
        let rows = ops.scan(&table, cursors.remove(&table), PAGE).await?;
        if rows.len() == PAGE
            && let Some(last) = rows.last()
        {
            cursors.insert(table.clone(), last.key.clone());
        }
        for row in rows {
            let Some(item) = &row.image else { continue };
            if !expiry.expired(item.get(&attr)) {
                continue;
            }
            let Ok(key) = def.key_schema.key_attrs(&row.key) else {
                continue;
            };
            let op = ItemWrite::Expire {
                table: table.clone(),
                key,
                version: row.version.clone(),
                attribute: attr.clone(),
            };
            match ops.write(vec![op]).await {
                Ok(_) => {
                    ops.shared.metrics.ttl_expired.inc();
                }
                // Updated, deleted or TTL turned off since we looked: leave it.
                Err(OpError::ConditionFailed(_)) => {}
                Err(OpError::TableNotFound(_)) => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u64) -> AttrValue {
        AttrValue::N(Number::parse(&v.to_string(), "v").unwrap())
    }

    #[test]
    fn only_numbers_at_or_before_now_and_within_five_years_expire() {
        let now = 1_800_000_000;
        let e = Expiry::at(now);
        assert!(e.expired(Some(&n(now))));
        assert!(e.expired(Some(&n(now - 1))));
        assert!(!e.expired(Some(&n(now + 1))));
        assert!(e.expired(Some(&n(now - IGNORED_PAST_SECS))));
        assert!(!e.expired(Some(&n(now - IGNORED_PAST_SECS - 1))));
        assert!(!e.expired(Some(&n(0))));
        assert!(!e.expired(Some(&AttrValue::S(now.to_string()))));
        assert!(!e.expired(None));
    }
}
