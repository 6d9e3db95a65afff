//! A table's warm throughput as DynamoDB describes it, in one place: the
//! table's description ([`crate::description`]) and each global index's
//! ([`crate::indexes`]) both take it from here.

use meridian_core::settings::Billing;
use serde_json::{Value as Json, json};

/// `WarmThroughput`, as DynamoDB describes a table (and each global
/// index): an on-demand table's initial 12,000 reads and 4,000 writes a
/// second, a provisioned one's units, or what CreateTable asked for
/// (`asked`) where that is more, since warm throughput only grows.
/// Nothing here is metered, so nothing else raises it.
pub(crate) fn described(billing: Billing, asked: Option<(u64, u64)>) -> Json {
    let (read, write) = match billing {
        Billing::PayPerRequest => (12_000, 4_000),
        Billing::Provisioned { read, write } => (read, write),
    };
    let (read, write) = asked.map_or((read, write), |(r, w)| (read.max(r), write.max(w)));
    json!({"ReadUnitsPerSecond": read, "WriteUnitsPerSecond": write, "Status": "ACTIVE"})
}
