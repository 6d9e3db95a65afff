//! Limits that keep a scenario bounded, checked as it is read (and by
//! `meridian net` for the same faults).

use std::time::Duration;

/// Limits that keep a scenario bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
pub const MAX_RATE_PER_REGION: u32 = 50_000;
pub const MAX_KEYS: u64 = 10_000_000;
pub const MAX_ITEM_BYTES: usize = 64 * 1024;
pub const MAX_EVENTS: usize = 10_000;
pub const MAX_REGIONS: usize = 16;
/// Largest retransmission timeout of `loss`: Linux's maximum RTO.
pub const MAX_RTO: Duration = Duration::from_secs(120);
/// Largest drift rate a region accepts (Admin SetClock), ppm.
pub const MAX_DRIFT_PPM: i64 = 100_000;
/// A `pause-replication` event's longest duration (FIS's longest action)
/// and tail (AWS: replication may go on for up to five minutes after the
/// action begins).
pub const MAX_PAUSE: Duration = Duration::from_secs(12 * 3600);
pub const MAX_PAUSE_TAIL: Duration = Duration::from_secs(300);
