//! Capacity-unit bounds every provisioned setting is held to: a table's
//! and an index's units (`crate::settings`) and auto scaling's minimum and
//! maximum (`crate::autoscaling`). A leaf of its own, so both use one
//! figure without depending on each other.

/// Most read or write capacity units one table may be given (DynamoDB's
/// default per-table quota; `crate::throughput` enforces what is set).
pub const MAX_CAPACITY_UNITS: u64 = 40_000;
