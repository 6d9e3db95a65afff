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
//! - **On demand**: the table's most (`OnDemandThroughput`) where one is
//!   set, `MaxOnDemandThroughputExceeded`; else the account's per-table
//!   quota, 40,000 units a second each way by default (*Service quotas*),
//!   `AccountLimitExceeded`. Both with no burst.
//! - **A partition**, in either mode: 1,000 write and 3,000 read units a
//!   second, `KeyRangeThroughputExceeded`.
//!
//! A bucket may go into debt: a request is admitted while its bucket holds
//! anything and charged what it consumed once done (its size is known only
//! then), so the next request waits for the debt to be paid back.
//! Everything here is pure; the DynamoDB endpoint keeps the buckets and
//! reads the clock.

use crate::Item;
use crate::schema::TableDef;
use crate::settings::{Billing, TableSettings};
use crate::value::item_size;

/// Seconds of unused provisioned capacity a bucket keeps by default, and
/// at most (a region's `burst_capacity_s` may keep fewer: DynamoDB "can
/// also consume burst capacity for background maintenance and other
/// tasks without prior notice", *Burst capacity*).
pub const BURST_SECONDS: u64 = 300;

/// An on-demand table's or global index's most units a second each way
/// where it sets none of its own: the account's per-table quota, "40,000
/// read request units and 40,000 write request units" by default (*Service,
/// account, and table quotas in Amazon DynamoDB*, *Throughput default
/// quotas*). AWS raises it on request; a cluster may too
/// (`table_quota_units`).
pub const TABLE_QUOTA_UNITS: u64 = 40_000;

/// What bounds a region's buckets besides each table's own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Seconds of unused provisioned units a bucket keeps.
    pub burst: u64,
    /// The account's per-table quota on demand, units a second each way.
    pub table_quota: u64,
    /// Whether each partition's ceiling holds ([`partition_rate`]), as on
    /// AWS; off only where a cluster file says so (`partition_ceilings`).
    pub partition_ceilings: bool,
}

impl Caps {
    /// DynamoDB's defaults.
    pub const AWS: Caps = Caps {
        burst: BURST_SECONDS,
        table_quota: TABLE_QUOTA_UNITS,
        partition_ceilings: true,
    };
}

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
/// indexes) under `settings`, keeping `caps.burst` seconds of unused
/// provisioned units (at least one second's, so every request fits);
/// `None` for an index that has no units of its own (a local one, or one
/// unknown). On demand, the table's most for `op` (`OnDemandThroughput`)
/// or else the account's per-table quota (`caps.table_quota`, each global
/// index too), a second, with no burst: "additional requests that would
/// exceed the limit receive quick throttle responses" (*On-demand maximum
/// throughput exceeded*). Which of them it is: [`limit`].
pub fn rate(
    def: &TableDef,
    settings: &TableSettings,
    index: Option<&str>,
    op: Op,
    caps: Caps,
) -> Option<Rate> {
    let pick = |(read, write): (u64, u64)| match op {
        Op::Read => read as f64,
        Op::Write => write as f64,
    };
    match settings.billing {
        Billing::PayPerRequest => {
            if index.is_some_and(|name| {
                !def.indexes
                    .iter()
                    .any(|i| i.name == name && i.kind == crate::index::Kind::Global)
            }) {
                return None;
            }
            let most = on_demand_most(settings, index, op).unwrap_or(caps.table_quota) as f64;
            Some(Rate {
                per_second: most,
                holds: most,
            })
        }
        Billing::Provisioned { read, write } => {
            let units = match index {
                None => pick((read, write)),
                Some(name) => pick(settings.index_units(def, name)?),
            };
            Some(Rate {
                per_second: units,
                holds: units * caps.burst.clamp(1, BURST_SECONDS) as f64,
            })
        }
    }
}

/// The most an on-demand table's `OnDemandThroughput` (`index`: a global
/// index's own) sets for `op`.
fn on_demand_most(settings: &TableSettings, index: Option<&str>, op: Op) -> Option<u64> {
    let max = match index {
        None => settings.on_demand_max,
        Some(name) => settings.index_on_demand.get(name).copied()?,
    };
    match op {
        Op::Read => max.read,
        Op::Write => max.write,
    }
}

/// Which limit bounds `op` on a table (`index`: one of its global indexes)
/// under `settings` ([`rate`]'s): its provisioned units, its on-demand
/// most, or the account's per-table quota.
pub fn limit(settings: &TableSettings, index: Option<&str>, op: Op) -> Limit {
    match settings.billing {
        Billing::Provisioned { .. } => Limit::Provisioned,
        Billing::PayPerRequest => match on_demand_most(settings, index, op) {
            Some(_) => Limit::MaxOnDemand,
            None => Limit::AccountLimit,
        },
    }
}

/// Which limit a throttled request met: `ThrottlingReason`'s `LimitType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The table's or index's provisioned units.
    Provisioned,
    /// One partition's most, whatever the table's units or mode.
    KeyRange,
    /// An on-demand table's most (`OnDemandThroughput`).
    MaxOnDemand,
    /// The account's per-table quota, on demand ([`TABLE_QUOTA_UNITS`]).
    AccountLimit,
}

/// DynamoDB's `ThrottlingReason.reason` for `op` on a table or an index
/// past `limit`: `TableReadProvisionedThroughputExceeded`,
/// `TableWriteKeyRangeThroughputExceeded`, and so on
/// (`ResourceType+OperationType+LimitType`, *ThrottlingReason* in the API
/// reference).
pub fn reason(index: bool, op: Op, limit: Limit) -> String {
    let resource = if index { "Index" } else { "Table" };
    let op = match op {
        Op::Read => "Read",
        Op::Write => "Write",
    };
    let limit = match limit {
        Limit::Provisioned => "ProvisionedThroughputExceeded",
        Limit::KeyRange => "KeyRangeThroughputExceeded",
        Limit::MaxOnDemand => "MaxOnDemandThroughputExceeded",
        Limit::AccountLimit => "AccountLimitExceeded",
    };
    format!("{resource}{op}{limit}")
}

/// Read units one partition serves a second, in either mode: "Each
/// partition on the table can serve up to 3,000 read request units or
/// 1,000 write request units" (AWS knowledge center, *My on-demand
/// DynamoDB table has throttling*).
pub const PARTITION_READ_UNITS: u64 = 3_000;
/// Write units one partition serves a second.
pub const PARTITION_WRITE_UNITS: u64 = 1_000;
/// Partitions of a new on-demand table: what serves its documented start,
/// "up to 4,000 write request units or 12,000 read request units" a
/// second (the same page).
pub const ON_DEMAND_PARTITIONS: u32 = 4;

/// How many partitions hold a table of this billing: as many as its units
/// need at each partition's most, at least one; an on-demand table's
/// first four. Tables on one machine stay far below the 10 GB a partition
/// holds, so size never adds one (docs/limits.md).
pub fn partitions(billing: Billing) -> u32 {
    match billing {
        Billing::PayPerRequest => ON_DEMAND_PARTITIONS,
        Billing::Provisioned { read, write } => {
            let need = read as f64 / PARTITION_READ_UNITS as f64
                + write as f64 / PARTITION_WRITE_UNITS as f64;
            (need.ceil() as u32).max(1)
        }
    }
}

/// The partition among `n` that holds partition key value `key`, given as
/// its order-preserving encoding (`crate::key::EncodedKey::partition`), so
/// a client's request and a peer's replicated write of one item land in
/// the same partition, and `1` and `1.0` are one number: FNV-1a, so every
/// region and run agrees.
pub fn partition_of(key: &[u8], n: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(n.max(1))) as u32
}

/// A partition's rate for `op`: its most a second, and no more than one
/// second of it held (no burst beyond the partition's ceiling).
pub fn partition_rate(op: Op) -> Rate {
    let units = match op {
        Op::Read => PARTITION_READ_UNITS,
        Op::Write => PARTITION_WRITE_UNITS,
    } as f64;
    Rate {
        per_second: units,
        holds: units,
    }
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

    /// Seconds until the bucket admits again at `rate`: none while it
    /// holds anything, else the time its debt takes to be paid back (the
    /// bucket is refilled to the moment asked first).
    pub fn wait(&self, rate: &Rate) -> f64 {
        if self.admits() {
            0.0
        } else if rate.per_second > 0.0 {
            // Paid back to zero is not yet "holds anything": a hair more.
            -self.units / rate.per_second + 1e-3
        } else {
            f64::INFINITY
        }
    }
}

/// Write units one replicated write draws on the replica that applies it,
/// from the size of the item it carries (`image_bytes`, `None` for a
/// delete): one per started KB, at least one, as a local write
/// ("replicated write capacity units", *Best practices and requirements
/// for managing global tables*). A delete, a TTL one among them, costs one
/// unit however large the item was: the replica does not know the deleted
/// item's size before it applies the delete.
pub fn replicated_write_units(image_bytes: Option<usize>) -> f64 {
    image_bytes.unwrap_or(0).div_ceil(WRITE_UNIT_BYTES).max(1) as f64
}

/// Bytes one write unit covers.
pub const WRITE_UNIT_BYTES: usize = 1024;
/// Bytes one read unit covers.
pub const READ_UNIT_BYTES: usize = 4096;

/// Read units for `bytes` read at once (one item, or a Query/Scan page).
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// Write units for a write that turned `old` into `new`.
pub fn write_units(old: Option<&Item>, new: Option<&Item>) -> f64 {
    let size = |i: Option<&Item>| i.map_or(0, item_size);
    sized_write_units(size(old).max(size(new)))
}

/// Write units for a write of `bytes`, the larger of the item before and
/// after it: also what a failed conditional write consumes, from the
/// item it found and the one it would have written (AWS: *DynamoDB read
/// and write operations*, capacity unit consumption for write operations).
pub fn sized_write_units(bytes: usize) -> f64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1) as f64
}

/// Read units for one item (or none found).
pub fn item_read_units(item: Option<&Item>, consistent: bool) -> f64 {
    read_units(item.map_or(0, item_size), consistent)
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
    fn provisioned_units_hold_five_minutes_and_on_demand_has_the_account_quota() {
        let p = settings(Billing::Provisioned { read: 4, write: 2 });
        let w = rate(&def(), &p, None, Op::Write, Caps::AWS).unwrap();
        assert_eq!((w.per_second, w.holds), (2.0, 600.0));
        let r = rate(&def(), &p, None, Op::Read, Caps::AWS).unwrap();
        assert_eq!(r.per_second, 4.0);
        assert_eq!(rate(&def(), &p, Some("nope"), Op::Read, Caps::AWS), None);
        // On demand, the account's per-table quota, with no burst.
        let od = settings(Billing::PayPerRequest);
        let q = rate(&def(), &od, None, Op::Read, Caps::AWS).unwrap();
        assert_eq!((q.per_second, q.holds), (40_000.0, 40_000.0));
        assert_eq!(limit(&od, None, Op::Read), Limit::AccountLimit);
        assert_eq!(limit(&p, None, Op::Read), Limit::Provisioned);
        assert_eq!(
            reason(false, Op::Write, Limit::AccountLimit),
            "TableWriteAccountLimitExceeded"
        );
    }

    #[test]
    fn a_shorter_burst_holds_less_but_never_under_a_second_nor_over_five_minutes() {
        let p = settings(Billing::Provisioned { read: 4, write: 2 });
        let holds = |burst| {
            let caps = Caps { burst, ..Caps::AWS };
            rate(&def(), &p, None, Op::Write, caps).unwrap().holds
        };
        assert_eq!(holds(10), 20.0);
        assert_eq!(holds(0), 2.0, "one second's units");
        assert_eq!(holds(100_000), 600.0, "DynamoDB's 300 s at most");
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
    fn a_bucket_in_debt_waits_for_it_to_be_paid_back() {
        let r = Rate {
            per_second: 4.0,
            holds: 1200.0,
        };
        let mut b = Bucket::full(&r, 0.0);
        assert_eq!(b.wait(&r), 0.0);
        b.charge(1208.0);
        let w = b.wait(&r);
        assert!((2.0..2.01).contains(&w), "{w}");
        b.refill(&r, w);
        assert!(b.admits());
        let none = Rate {
            per_second: 0.0,
            holds: 0.0,
        };
        assert!(
            b.wait(&none) == 0.0
                && Bucket {
                    units: -1.0,
                    at: 0.0
                }
                .wait(&none)
                .is_infinite()
        );
    }

    #[test]
    fn a_replicated_write_costs_a_unit_per_started_kb_and_a_delete_one() {
        assert_eq!(replicated_write_units(None), 1.0);
        assert_eq!(replicated_write_units(Some(0)), 1.0);
        assert_eq!(replicated_write_units(Some(1024)), 1.0);
        assert_eq!(replicated_write_units(Some(1025)), 2.0);
        assert_eq!(replicated_write_units(Some(10_000)), 10.0);
    }

    #[test]
    fn reasons_read_as_dynamodbs() {
        assert_eq!(
            reason(false, Op::Read, Limit::Provisioned),
            "TableReadProvisionedThroughputExceeded"
        );
        assert_eq!(
            reason(true, Op::Write, Limit::Provisioned),
            "IndexWriteProvisionedThroughputExceeded"
        );
        assert_eq!(
            reason(false, Op::Write, Limit::KeyRange),
            "TableWriteKeyRangeThroughputExceeded"
        );
    }

    #[test]
    fn partitions_follow_the_units_and_keys_stay_in_theirs() {
        assert_eq!(partitions(Billing::PayPerRequest), 4);
        assert_eq!(partitions(Billing::Provisioned { read: 1, write: 1 }), 1);
        assert_eq!(
            partitions(Billing::Provisioned {
                read: 3_000,
                write: 1_000
            }),
            2
        );
        assert_eq!(
            partitions(Billing::Provisioned {
                read: 100,
                write: 2_500
            }),
            3
        );
        let p = partition_of(b"hot", 4);
        assert!(p < 4);
        assert_eq!(partition_of(b"hot", 4), p, "stable");
        assert_eq!(partition_of(b"anything", 1), 0);
        let spread: std::collections::BTreeSet<u32> = (0..64)
            .map(|i| partition_of(format!("k{i}").as_bytes(), 4))
            .collect();
        assert_eq!(spread.len(), 4, "keys spread over every partition");
        let w = partition_rate(Op::Write);
        assert_eq!((w.per_second, w.holds), (1_000.0, 1_000.0));
    }
}
