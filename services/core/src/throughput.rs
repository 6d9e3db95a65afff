//! A replica's throughput, as DynamoDB enforces it on its API: each table
//! and global secondary index has a read and a write rate, and a request
//! that finds its rate spent is throttled with the reason AWS gives
//! (`ThrottlingReason`, `ResourceType+OperationType+LimitType`).
//!
//! - **Provisioned**: the units set (`ProvisionedThroughput`, an index's
//!   own), with DynamoDB's burst: "DynamoDB currently retains up to five
//!   minutes (300 seconds) of unused read and write capacity" (the
//!   developer guide's *Burst capacity*; AWS's knowledge center on spiky
//!   workloads). `ProvisionedThroughputExceeded`.
//! - **On demand**: nothing is enforced. DynamoDB's per-table quota,
//!   40,000 units a second each way (*Service quotas*), is above what a
//!   region on one machine serves; docs/limits.md says so.
//!
//! A bucket may go into debt: a request is admitted while its bucket holds
//! anything and charged what it consumed once done (its size is known only
//! then), so the next request waits for the debt to be paid back.
//! Everything here is pure; the DynamoDB endpoint keeps the buckets and
//! reads the clock.

use crate::schema::TableDef;
use crate::settings::{Billing, TableSettings};

/// Seconds of unused provisioned capacity a bucket keeps.
pub const BURST_SECONDS: f64 = 300.0;

/// Reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Read,
    Write,
}

/// One resource's provisioned rate: units a second, and how many it may
/// hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub holds: f64,
}

/// The rate of `op` on `table` (`index`: one of its global secondary
/// indexes) under `settings`; `None` on demand, and for an index that has
/// no units of its own (a local one, or one unknown).
pub fn rate(def: &TableDef, settings: &TableSettings, index: Option<&str>, op: Op) -> Option<Rate> {
    let pick = |(read, write): (u64, u64)| match op {
        Op::Read => read as f64,
        Op::Write => write as f64,
    };
    match settings.billing {
        Billing::PayPerRequest => None,
        Billing::Provisioned { read, write } => {
            let units = match index {
                None => pick((read, write)),
                Some(name) => pick(settings.index_units(def, name)?),
            };
            Some(Rate {
                per_second: units,
                holds: units * BURST_SECONDS,
            })
        }
    }
}

/// DynamoDB's `ThrottlingReason.reason` for `op` on a table or an index
/// past its provisioned rate: `TableReadProvisionedThroughputExceeded`,
/// `IndexWriteProvisionedThroughputExceeded`, and so on.
pub fn reason(index: bool, op: Op) -> String {
    let resource = if index { "Index" } else { "Table" };
    let op = match op {
        Op::Read => "Read",
        Op::Write => "Write",
    };
    format!("{resource}{op}ProvisionedThroughputExceeded")
}

/// Units a resource holds, refilled at its rate up to what it may hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub units: f64,
    /// When it was last refilled, seconds on the caller's clock.
    pub at: f64,
}

impl Bucket {
    /// A bucket that starts full at `now`: a new table has its burst.
    pub fn full(rate: &Rate, now: f64) -> Self {
        Bucket {
            units: rate.holds,
            at: now,
        }
    }

    /// Refills to `now` at `rate`, never past what it may hold (a bucket
    /// in debt pays it back first).
    pub fn refill(&mut self, rate: &Rate, now: f64) {
        let elapsed = (now - self.at).max(0.0);
        self.units = (self.units + elapsed * rate.per_second).min(rate.holds);
        self.at = now;
    }

    /// Whether a request may start: anything left.
    pub fn admits(&self) -> bool {
        self.units > 0.0
    }

    /// Charges what a request consumed, into debt if need be.
    pub fn charge(&mut self, units: f64) {
        self.units -= units;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;

    fn def() -> TableDef {
        crate::schema::test_table("slow", &["a"])
    }

    fn settings(billing: Billing) -> TableSettings {
        let mut def = def();
        def.billing = billing;
        TableSettings::initial(&def, &Version::new(crate::Timestamp::new(1, 0), "a"))
    }

    #[test]
    fn provisioned_units_hold_five_minutes_and_on_demand_has_no_bucket() {
        let p = settings(Billing::Provisioned { read: 4, write: 2 });
        let w = rate(&def(), &p, None, Op::Write).unwrap();
        assert_eq!((w.per_second, w.holds), (2.0, 600.0));
        assert_eq!(rate(&def(), &p, None, Op::Read).unwrap().per_second, 4.0);
        assert_eq!(rate(&def(), &p, Some("nope"), Op::Read), None);
        assert_eq!(
            rate(&def(), &settings(Billing::PayPerRequest), None, Op::Read),
            None
        );
    }

    #[test]
    fn a_bucket_spends_into_debt_and_refills_at_its_rate() {
        let r = Rate {
            per_second: 2.0,
            holds: 600.0,
        };
        let mut b = Bucket::full(&r, 0.0);
        b.charge(599.0);
        assert!(b.admits());
        b.charge(10.0);
        assert!(!b.admits(), "9 units in debt");
        b.refill(&r, 4.0);
        assert!(!b.admits(), "paid back 8 of 9");
        b.refill(&r, 5.0);
        assert!(b.admits());
        b.refill(&r, 10_000.0);
        assert_eq!(b.units, 600.0, "never past five minutes");
    }

    #[test]
    fn reasons_read_as_dynamodbs() {
        assert_eq!(
            reason(false, Op::Read),
            "TableReadProvisionedThroughputExceeded"
        );
        assert_eq!(
            reason(true, Op::Write),
            "IndexWriteProvisionedThroughputExceeded"
        );
    }
}
