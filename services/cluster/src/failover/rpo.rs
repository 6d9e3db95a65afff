//! The recovery point as the failover endpoint's client saw it: which
//! writes the region it moved away from had acknowledged (since the
//! endpoint began sending there) that the region it moved to did not hold
//! when it moved, and later whether each came back. Read from the two
//! regions' store files, read-only, so either may be running or crashed.
//!
//! A write is *missing* when the new region's head of its key is older than
//! the write's version (or there is none); it *came back* once the head is
//! the write's version, and was *superseded* once the head is a newer
//! version (last writer wins: the write's effect is gone for good). Only
//! the old region's own writes (`Mutation::origin`) count, and of each key
//! only its last one.

use std::collections::BTreeMap;
use std::path::Path;

use meridian_core::{EncodedKey, Version};
use meridian_store::StoreError;
use serde_json::{Value as Json, json};

/// Log entries read per page.
const PAGE: usize = 1_000;
/// Log entries read at most for one move; past that the comparison says it
/// is partial (docs/limits.md).
pub const MAX_SCANNED: u64 = 200_000;

/// Where a missing write stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Missing,
    CameBack,
    Superseded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::CameBack => "came_back",
            State::Superseded => "superseded",
        }
    }
}

/// One acknowledged write of the old region the new one lacked at the move.
#[derive(Clone, Debug)]
pub struct MissingWrite {
    pub table: String,
    pub key: EncodedKey,
    /// The key's attributes, DynamoDB JSON (`null` when the old region no
    /// longer holds the table's definition).
    pub key_json: Json,
    pub version: Version,
    /// When the old region committed it (µs since the epoch).
    pub acked_unix_us: u64,
    pub state: State,
    /// Why it was missing at the move.
    pub reason: String,
    /// When it was found back (or superseded): ms since the endpoint
    /// started, and since the epoch, with the head found then.
    pub resolved_ms: Option<u64>,
    pub resolved_unix_ms: Option<u64>,
    pub resolved_by: Option<Version>,
}

impl MissingWrite {
    pub fn json(&self) -> Json {
        json!({
            "table": self.table,
            "key": self.key_json,
            "version": self.version.to_string(),
            "acked_unix_ms": self.acked_unix_us / 1_000,
            "state": self.state.as_str(),
            "reason": self.reason,
            "resolved_ms": self.resolved_ms,
            "resolved_unix_ms": self.resolved_unix_ms,
            "resolved_by": self.resolved_by.as_ref().map(Version::to_string),
        })
    }
}

/// The comparison made at one move.
#[derive(Clone, Debug, Default)]
pub struct Gap {
    /// Log entries of the old region read, and distinct keys it wrote.
    pub scanned: u64,
    pub keys_written: u64,
    /// The scan stopped at [`MAX_SCANNED`]: later writes were not compared.
    pub partial: bool,
    pub missing: Vec<MissingWrite>,
}

/// The newest log position of the store under `data_dir`; 0 when there is
/// no store yet.
pub fn log_head(data_dir: &Path) -> u64 {
    meridian_store::open_reader(data_dir)
        .and_then(|r| r.log_head())
        .unwrap_or(0)
}

/// Compares what region `old` (store under `old_dir`) committed itself
/// after log position `floor` and at or after `since_unix_us` with what
/// region `new` (under `new_dir`) holds now.
pub fn compare(
    old: (&str, &Path),
    new: (&str, &Path),
    floor: u64,
    since_unix_us: u64,
) -> Result<Gap, StoreError> {
    let reader = meridian_store::open_reader(old.1)?;
    let mut last: BTreeMap<(String, EncodedKey), (Version, u64)> = BTreeMap::new();
    let mut gap = Gap::default();
    let mut after = floor;
    loop {
        let page = reader.log_after(after, PAGE, 4 << 20)?;
        let Some(end) = page.last().map(|m| m.seq) else {
            break;
        };
        after = end;
        for m in page {
            gap.scanned += 1;
            // Catalog entries carry no table version; a peer's writes no
            // acknowledgement of the old region's.
            if m.table_version.is_none()
                || m.origin() != Some(old.0)
                || m.commit_real < since_unix_us
            {
                continue;
            }
            let Ok(v) = Version::from_bytes(&m.version) else {
                continue;
            };
            last.insert((m.table, m.key), (v, m.commit_real));
        }
        if gap.scanned >= MAX_SCANNED {
            gap.partial = reader.log_head()? > after;
            break;
        }
    }
    gap.keys_written = last.len() as u64;
    let held = meridian_store::open_reader(new.1)?;
    let mut schemas = BTreeMap::new();
    for ((table, key), (version, acked)) in last {
        let head = held.get(&table, &key)?;
        if head.as_ref().is_some_and(|h| h.version >= version) {
            continue;
        }
        let reason = match (&head, held.table_def(&table)?) {
            (_, None) => format!("{} holds no replica of table {table}", new.0),
            (None, _) => format!(
                "not replicated from {} to {} before the move: {} had no write of this key",
                old.0, new.0, new.0
            ),
            (Some(h), _) => format!(
                "not replicated from {} to {} before the move: {} held the older {}",
                old.0, new.0, new.0, h.version
            ),
        };
        if !schemas.contains_key(&table) {
            let schema = reader.table_def(&table)?.map(|(d, _)| d.key_schema);
            schemas.insert(table.clone(), schema);
        }
        let key_json = schemas[&table]
            .as_ref()
            .and_then(|s| s.key_attrs(&key).ok())
            .map(|k| Json::Object(meridian_core::item_to_json(&k)))
            .unwrap_or(Json::Null);
        gap.missing.push(MissingWrite {
            table,
            key,
            key_json,
            version,
            acked_unix_us: acked,
            state: State::Missing,
            reason,
            resolved_ms: None,
            resolved_unix_ms: None,
            resolved_by: None,
        });
    }
    Ok(gap)
}

/// Each write of `writes` (table, key, version) against the heads of the
/// store under `data_dir` now: `Some((state, head))` once the head is at
/// the write's version or newer.
pub fn recheck(
    data_dir: &Path,
    writes: &[(String, EncodedKey, Version)],
) -> Result<Vec<Option<(State, Version)>>, StoreError> {
    let reader = meridian_store::open_reader(data_dir)?;
    writes
        .iter()
        .map(|(table, key, version)| {
            Ok(reader.get(table, key)?.and_then(|h| {
                if h.version == *version {
                    Some((State::CameBack, h.version))
                } else if h.version > *version {
                    Some((State::Superseded, h.version))
                } else {
                    None
                }
            }))
        })
        .collect()
}
