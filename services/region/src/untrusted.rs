//! The checks of untrusted mutations: a peer's batch, whether it comes
//! over a replication stream, in a repair round, or inside a strong-mode
//! message (`strong::wire::check_writes`).
//!
//! Nothing a peer sends is trusted: sizes, encodings, table names,
//! versions and images are all checked before anything reaches the store.
//! A leaf: replication and strong mode both call it, and it names neither.
//! Positions across batches are the replication receiver's concern
//! (`replication::receiver`).

use meridian_core::key::validate_region_name;
use meridian_core::key::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};
use meridian_core::replicas::authorize;
use meridian_core::schema::validate_table_name;
use meridian_core::schema::{TAGS_SORT_PREFIX, TTL_SORT_KEY};
use meridian_core::settings::{SETTINGS_SORT_KEY, TableSettings};
use meridian_core::{CATALOG_TABLE, Context, Item, Mutation, TableDef, Version, decode_item};
use meridian_core::{consistency, index, protection, replicas};
use meridian_proto::v1 as pb;

use crate::convert::mutation_from_pb;
use crate::replication::receiver::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES};

/// Whose writes a peer's batch may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origins {
    /// The peer's log: its own item writes, and catalog changes it relays.
    Sender,
    /// Heads the peer holds, sent to repair this region: any region of the
    /// cluster may have written them.
    AnyRegion,
}

/// Why a peer's batch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// An entry, or the batch's shape, broke a rule; what and where.
    #[error("{0}")]
    Malformed(String),
    /// The batch is over the byte budget ([`MAX_BATCH_BYTES`]). Told apart
    /// from a malformed batch so it counts under its own reason.
    #[error(
        "the batch holds {bytes} bytes of entries, over the replication budget of {limit} bytes per batch"
    )]
    OverBudget { bytes: usize, limit: usize },
}

/// A batch's size as the budget counts it: what `Mutation::size` will say
/// of its entries once decoded, computed from the undecoded bytes.
pub fn batch_bytes(batch: &pb::Batch) -> usize {
    batch
        .entries
        .iter()
        .map(|e| {
            48 + e.table.len()
                + e.partition_key.len()
                + e.sort_key.len()
                + e.version.len()
                + e.prev.len()
                + e.context.len()
                + e.image.len()
        })
        .sum()
}

/// Validates one batch from a peer. Nothing a peer sends is trusted: sizes,
/// encodings, table names, versions and images are all checked. The valid
/// entries' bytes then move into the records, uncopied.
///
/// The byte budget is checked first, before any entry is decoded: a batch
/// over it costs no more than counting its fields' lengths.
pub fn decode_batch(
    peer: &str,
    origins: Origins,
    regions: &[String],
    batch: pb::Batch,
) -> Result<Vec<Mutation>, BatchError> {
    let bytes = batch_bytes(&batch);
    if bytes > MAX_BATCH_BYTES {
        return Err(BatchError::OverBudget {
            bytes,
            limit: MAX_BATCH_BYTES,
        });
    }
    decode_entries(peer, origins, regions, batch).map_err(BatchError::Malformed)
}

/// [`decode_batch`]'s checks of each entry and of the units.
fn decode_entries(
    peer: &str,
    origins: Origins,
    regions: &[String],
    batch: pb::Batch,
) -> Result<Vec<Mutation>, String> {
    if batch.entries.len() > MAX_BATCH_ENTRIES {
        return Err(format!(
            "batch has {} entries, the limit is {MAX_BATCH_ENTRIES}",
            batch.entries.len()
        ));
    }
    let mut last_seq = 0u64;
    for (i, e) in batch.entries.iter().enumerate() {
        check_entry(peer, origins, regions, e, last_seq)
            .map_err(|m| format!("entries[{i}] (seq {}): {m}", e.seq))?;
        last_seq = e.seq;
    }
    let out: Vec<Mutation> = batch.entries.into_iter().map(mutation_from_pb).collect();
    check_units(&out).map_err(|m| format!("batch: {m}"))?;
    Ok(out)
}

/// One entry's checks, after the entry before it ended at `last_seq`: its
/// position, its history ([`check_history`]), its image and table version,
/// then what a catalog change or an item write must be.
fn check_entry(
    peer: &str,
    origins: Origins,
    regions: &[String],
    e: &pb::LogEntry,
    last_seq: u64,
) -> Result<(), String> {
    // Positions are stored as SQLite integers.
    if e.seq > i64::MAX as u64 {
        return Err(format!("sequence number above the limit of {}", i64::MAX));
    }
    if e.seq == 0 || e.seq <= last_seq {
        return Err("sequence numbers must be positive and strictly increasing".into());
    }
    let version = check_history(e, regions)?;
    if e.tombstone && !e.image.is_empty() {
        return Err("a tombstone carries no image".into());
    }
    let image = if e.tombstone {
        None
    } else {
        Some(decode_item(&e.image).map_err(|x| format!("image: {x}"))?)
    };
    let table_version = if e.table_version.is_empty() {
        None
    } else {
        Some(Version::from_bytes(&e.table_version).map_err(|x| format!("table_version: {x}"))?)
    };
    if e.table == CATALOG_TABLE {
        check_catalog_entry(e, &version, image.as_ref(), table_version.is_some())
    } else {
        check_item_entry(peer, origins, regions, e, &version, table_version.is_some())
    }
}

/// An entry's version, previous version and context: each decodes, `prev`
/// is older, and the context names the write itself as the newest of its
/// origin, covers `prev`, and names only regions of the cluster. Returns
/// the version.
fn check_history(e: &pb::LogEntry, regions: &[String]) -> Result<Version, String> {
    let version = Version::from_bytes(&e.version).map_err(|x| format!("version: {x}"))?;
    let prev = if e.prev.is_empty() {
        None
    } else {
        Some(Version::from_bytes(&e.prev).map_err(|x| format!("prev: {x}"))?)
    };
    if prev.as_ref().is_some_and(|p| *p >= version) {
        return Err("prev must be older than version".into());
    }
    let context = Context::from_bytes(&e.context).map_err(|x| format!("context: {x}"))?;
    // A write's context names the write itself as the newest of its
    // origin, and covers what it replaced.
    if !context.entries().contains(&version) || context.entries().iter().any(|c| *c > version) {
        return Err("context must hold the entry's own version as its newest".into());
    }
    // Only regions of this cluster can have written anything, and a
    // padded context would outgrow the limit at the next local write.
    if let Some(stranger) = context
        .entries()
        .iter()
        .find(|c| !regions.contains(&c.origin))
    {
        return Err(format!(
            "context names {}, which is not a region of this cluster",
            stranger.origin
        ));
    }
    if prev.as_ref().is_some_and(|p| !context.saw(p)) {
        return Err("context must cover prev".into());
    }
    Ok(version)
}

/// A catalog change: keyed by a valid table name, standing alone, and its
/// row ([`check_catalog_row`]) one the catalog knows.
fn check_catalog_entry(
    e: &pb::LogEntry,
    version: &Version,
    image: Option<&Item>,
    has_table_version: bool,
) -> Result<(), String> {
    let name = std::str::from_utf8(&e.partition_key)
        .map_err(|_| "catalog key is not UTF-8".to_string())?;
    validate_table_name(name).map_err(|x| x.to_string())?;
    if has_table_version || e.ttl || e.unit_len > 1 {
        return Err("catalog entries stand alone and have no table version".into());
    }
    check_catalog_row(name, e.sort_key.as_slice(), image, version)
}

/// A catalog row of table `name` under sort key `sk`, by its kind: an image
/// that decodes as that kind of row, for a key that names what it says
/// (the table, a region, an index); or a removal of a kind that can be
/// removed.
fn check_catalog_row(
    name: &str,
    sk: &[u8],
    image: Option<&Item>,
    version: &Version,
) -> Result<(), String> {
    match (sk, image) {
        (b"", Some(item)) => {
            let def = TableDef::from_item(item).map_err(|x| format!("catalog image: {x}"))?;
            if def.name != name {
                return Err(format!(
                    "catalog image is for table {}, key is {name}",
                    def.name
                ));
            }
        }
        (TTL_SORT_KEY, Some(item)) => {
            TableDef::ttl_attribute(item).map_err(|x| format!("catalog TTL row: {x}"))?;
        }
        (sk, Some(item)) if sk.starts_with(TAGS_SORT_PREFIX) => {
            TableDef::tags(item).map_err(|x| format!("catalog tags row: {x}"))?;
        }
        (SETTINGS_SORT_KEY, Some(item)) => {
            TableSettings::from_item(item).map_err(|x| x.to_string())?;
        }
        (consistency::SORT_KEY, Some(item)) => {
            consistency::from_item(item).map_err(|x| format!("catalog consistency row: {x}"))?;
        }
        (sk, Some(item)) if sk.starts_with(replicas::SORT_PREFIX) => {
            let region = replicas::region_of(sk)
                .ok_or_else(|| "catalog replica row: the region is not UTF-8".to_string())?;
            validate_region_name(&region).map_err(|x| format!("catalog replica row: {x}"))?;
            replicas::from_item(item).map_err(|x| format!("catalog replica row: {x}"))?;
        }
        (sk, Some(item)) if sk.starts_with(protection::SORT_PREFIX) => {
            let region = protection::region_of(sk)
                .ok_or_else(|| "catalog protection row: the region is not UTF-8".to_string())?;
            validate_region_name(&region).map_err(|x| format!("catalog protection row: {x}"))?;
            protection::from_item(item).map_err(|x| format!("catalog protection row: {x}"))?;
        }
        (sk, Some(item)) if sk.starts_with(authorize::SORT_PREFIX) => {
            let region = authorize::region_of(sk)
                .ok_or_else(|| "catalog policy row: the region is not UTF-8".to_string())?;
            validate_region_name(&region).map_err(|x| format!("catalog policy row: {x}"))?;
            // Each region writes its own replica's policy alone.
            if version.origin != region {
                return Err(format!(
                    "catalog policy row of {region} written by {}",
                    version.origin
                ));
            }
            let (stored, _) =
                authorize::from_item(item).map_err(|x| format!("catalog policy row: {x}"))?;
            if stored.document.len() > authorize::MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "catalog policy row: a document of {} bytes, over the limit of {}",
                    stored.document.len(),
                    authorize::MAX_DOCUMENT_BYTES
                ));
            }
        }
        (sk, Some(item)) if sk.starts_with(index::SORT_PREFIX) => {
            let name = index::name_of(sk)
                .ok_or_else(|| "catalog index row: the name is not UTF-8".to_string())?;
            let (def, _) = index::from_item(item).map_err(|x| format!("catalog index row: {x}"))?;
            if def.is_some_and(|d| d.name != name) {
                return Err(format!("catalog index row {name} defines another index"));
            }
        }
        (b"", None) | (TTL_SORT_KEY, None) | (SETTINGS_SORT_KEY, None) => {}
        (sk, None)
            if sk.starts_with(TAGS_SORT_PREFIX)
                || sk.starts_with(protection::SORT_PREFIX)
                || sk.starts_with(authorize::SORT_PREFIX) => {}
        _ => return Err("unknown catalog row".into()),
    }
    Ok(())
}

/// An item write: a valid table name and a table version, an origin the
/// batch may carry ([`Origins`]), and keys within their limits.
fn check_item_entry(
    peer: &str,
    origins: Origins,
    regions: &[String],
    e: &pb::LogEntry,
    version: &Version,
    has_table_version: bool,
) -> Result<(), String> {
    validate_table_name(&e.table).map_err(|x| x.to_string())?;
    if !has_table_version {
        return Err("item entries need a table version".into());
    }
    match origins {
        // Only relayed catalog changes may come from another origin.
        Origins::Sender if version.origin != peer => {
            return Err(format!(
                "item entry from {peer} claims origin {}",
                version.origin
            ));
        }
        Origins::AnyRegion if !regions.contains(&version.origin) => {
            return Err(format!(
                "item entry from {peer} claims origin {}, which is not a region of this cluster",
                version.origin
            ));
        }
        _ => {}
    }
    // Encoded keys: the attribute limit plus room for a number's tag bytes.
    let (pk_limit, sk_limit) = (MAX_PARTITION_KEY_BYTES + 8, MAX_SORT_KEY_BYTES + 8);
    if e.partition_key.is_empty() || e.partition_key.len() > pk_limit {
        return Err(format!(
            "encoded partition key is {} bytes; it must be 1 to {pk_limit}",
            e.partition_key.len()
        ));
    }
    if e.sort_key.len() > sk_limit {
        return Err(format!(
            "encoded sort key is {} bytes, the limit is {sk_limit}",
            e.sort_key.len()
        ));
    }
    Ok(())
}

/// Units must arrive whole: positions 0..len in order, one origin, and only
/// item writes with a tombstone flag that fits.
fn check_units(entries: &[Mutation]) -> Result<(), String> {
    let mut i = 0;
    while i < entries.len() {
        let (pos, len) = entries[i].unit;
        if pos != 0 {
            return Err(format!(
                "entry seq {} starts in the middle of a unit",
                entries[i].seq
            ));
        }
        let len = len as usize;
        if len > entries.len() - i {
            return Err(format!(
                "the unit starting at seq {} is cut off",
                entries[i].seq
            ));
        }
        for (k, e) in entries[i..i + len].iter().enumerate() {
            if e.unit != (k as u32, len as u32) || e.origin() != entries[i].origin() {
                return Err(format!(
                    "entry seq {} breaks the unit starting at seq {}",
                    e.seq, entries[i].seq
                ));
            }
        }
        i += len;
    }
    for e in entries {
        if e.ttl && e.image.is_some() {
            return Err(format!(
                "entry seq {}: only a tombstone can be a TTL expiry",
                e.seq
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(image: usize) -> pb::Batch {
        pb::Batch {
            entries: vec![pb::LogEntry {
                seq: 1,
                table: "t".into(),
                image: vec![0; image],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_batch_over_the_byte_budget_is_refused_before_it_is_decoded() {
        let header = batch_bytes(&sized(0));
        let regions = vec!["a".to_string(), "b".to_string()];
        // At the budget: decoded, and refused for its garbage image.
        let at = decode_batch(
            "b",
            Origins::Sender,
            &regions,
            sized(MAX_BATCH_BYTES - header),
        );
        assert!(matches!(at, Err(BatchError::Malformed(_))), "{at:?}");
        // One byte over: refused for its size, naming it and the limit.
        let over = sized(MAX_BATCH_BYTES - header + 1);
        assert_eq!(batch_bytes(&over), MAX_BATCH_BYTES + 1);
        let err = decode_batch("b", Origins::Sender, &regions, over).unwrap_err();
        assert_eq!(
            err,
            BatchError::OverBudget {
                bytes: MAX_BATCH_BYTES + 1,
                limit: MAX_BATCH_BYTES
            }
        );
        let says = err.to_string();
        assert!(says.contains(&format!("{}", MAX_BATCH_BYTES + 1)), "{says}");
        assert!(says.contains(&format!("{MAX_BATCH_BYTES}")), "{says}");
    }
}
