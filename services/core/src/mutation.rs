//! The mutation record: one replicated change, as it is logged, shipped and
//! applied.

use crate::key::EncodedKey;
use crate::version::Version;

/// One replicated change: the whole item after the write, or a tombstone
/// (item-level LWW: applying it never depends on what was there before).
///
/// The record a region appends to its log, hands to its shippers, sends
/// (`meridian.v1.LogEntry`) and applies when a peer sends it. Versions,
/// the context and the image are kept in their canonical bytes, exactly as
/// the log row and the wire carry them: a caught-up shipper sends what the
/// writer logged without encoding anything, and the receiver applies what
/// it validated without encoding anything either. Whoever needs a version
/// or the context decodes it (`Version::from_bytes`, `Context::from_bytes`).
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// Position in the log that holds it: this region's log for what it
    /// logged, the sender's log for what a peer sent. Positions run 1, 2, …
    pub seq: u64,
    pub table: String,
    /// The catalog version of the table when written (`Version` bytes), so a
    /// mutation that outlives a DeleteTable never lands in a recreated table
    /// of that name. `None` for catalog entries.
    pub table_version: Option<Vec<u8>>,
    pub key: EncodedKey,
    /// `Version` bytes.
    pub version: Vec<u8>,
    /// The version the writer replaced, if any (`Version` bytes).
    pub prev: Option<Vec<u8>>,
    /// The writes this one descends from, itself included (`Context` bytes).
    pub context: Vec<u8>,
    /// Canonical item bytes; `None` is a tombstone.
    pub image: Option<Vec<u8>>,
    /// Real (unskewed) time of the origin's commit, µs since the epoch.
    pub commit_real: u64,
    /// A tombstone written by TTL expiry.
    pub ttl: bool,
    /// Position and length of the unit (the origin request's writes) it
    /// belongs to: `(0, 1)` when alone.
    pub unit: (u32, u32),
}

impl Mutation {
    /// Approximate wire size, for batching by bytes.
    pub fn size(&self) -> usize {
        48 + self.table.len()
            + self.key.partition.len()
            + self.key.sort.len()
            + self.version.len()
            + self.prev.as_ref().map_or(0, Vec::len)
            + self.context.len()
            + self.image.as_ref().map_or(0, Vec::len)
    }

    /// The region that wrote it, read from the version bytes without
    /// decoding them; `None` if they are malformed.
    pub fn origin(&self) -> Option<&str> {
        Version::origin_of(&self.version)
    }
}
