//! Conversions between protocol messages and core types. Everything
//! arriving here is untrusted: each conversion validates, except
//! [`mutation_from_pb`], whose entries `untrusted::decode_batch` validates
//! as a batch before converting them. A leaf: the gRPC status of the
//! region's own errors is `status`'s.

use meridian_core::index::{IndexDef, IndexKey, Kind, Projection};
use meridian_core::{
    EncodedKey, Item, KeyAttr, KeyType, Mutation, Timestamp, Version, decode_item,
};
use meridian_proto::v1 as pb;
use meridian_store::IndexPos;
use tonic::Status;

pub fn version_to_pb(v: &Version) -> pb::Version {
    pb::Version {
        physical_micros: v.hlc.physical,
        logical: v.hlc.logical,
        origin: v.origin.clone(),
    }
}

pub fn version_from_pb(v: &pb::Version, field: &str) -> Result<Version, Status> {
    meridian_core::key::validate_region_name(&v.origin)
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))?;
    Ok(Version::new(
        Timestamp::new(v.physical_micros, v.logical),
        v.origin.clone(),
    ))
}

/// A mutation as it is shipped. The record already holds the canonical
/// bytes the wire carries, so they move over and nothing is encoded.
pub fn mutation_to_pb(m: Mutation) -> pb::LogEntry {
    pb::LogEntry {
        seq: m.seq,
        table: m.table,
        table_version: m.table_version.unwrap_or_default(),
        partition_key: m.key.partition,
        sort_key: m.key.sort,
        version: m.version,
        prev: m.prev.unwrap_or_default(),
        context: m.context,
        ttl: m.ttl,
        unit_pos: m.unit.0,
        unit_len: m.unit.1,
        tombstone: m.image.is_none(),
        image: m.image.unwrap_or_default(),
        commit_real_micros: m.commit_real,
    }
}

/// The inverse of [`mutation_to_pb`], for an entry `decode_batch` has
/// validated: its bytes move into the record. Empty `table_version` and
/// `prev` are absent, a tombstone has no image, and an entry that does not
/// say how long its unit is stands alone.
pub fn mutation_from_pb(e: pb::LogEntry) -> Mutation {
    Mutation {
        seq: e.seq,
        table: e.table,
        table_version: (!e.table_version.is_empty()).then_some(e.table_version),
        key: EncodedKey {
            partition: e.partition_key,
            sort: e.sort_key,
        },
        version: e.version,
        prev: (!e.prev.is_empty()).then_some(e.prev),
        context: e.context,
        image: (!e.tombstone).then_some(e.image),
        commit_real: e.commit_real_micros,
        ttl: e.ttl,
        unit: (e.unit_pos, e.unit_len.max(1)),
    }
}

/// A conflict record as the Admin API lists it, back in the core type: what
/// drills and tests check against their oracle. Treats the record as
/// untrusted input: every version and image is validated.
pub fn conflict_from_pb(c: pb::ConflictRecord) -> Result<meridian_core::Conflict, Status> {
    let version = |v: &Option<pb::Version>, field: &str| match v {
        Some(v) => version_from_pb(v, field),
        None => Err(Status::invalid_argument(format!("{field} is missing"))),
    };
    let image = |b: &[u8], tombstone: bool, field: &str| {
        (!tombstone).then(|| item_from_bytes(b, field)).transpose()
    };
    Ok(meridian_core::Conflict {
        key: EncodedKey {
            partition: c.partition_key,
            sort: c.sort_key,
        },
        winner: version(&c.winner, "winner")?,
        winner_image: image(&c.winner_image, c.winner_tombstone, "winner_image")?,
        loser: version(&c.loser, "loser")?,
        loser_image: image(&c.loser_image, c.loser_tombstone, "loser_image")?,
        table: c.table,
        detected_by: c.detected_by,
        detected_real_micros: c.detected_real_micros,
    })
}

pub fn item_from_bytes(bytes: &[u8], field: &str) -> Result<Item, Status> {
    if bytes.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: missing")));
    }
    decode_item(bytes).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

pub fn key_attr_to_pb(k: &KeyAttr) -> pb::KeyAttr {
    pb::KeyAttr {
        name: k.name.clone(),
        r#type: k.ty.as_str().to_string(),
    }
}

pub fn key_attr_from_pb(k: &pb::KeyAttr, field: &str) -> Result<KeyAttr, Status> {
    Ok(KeyAttr {
        name: k.name.clone(),
        ty: KeyType::parse(&k.r#type, field).map_err(invalid)?,
    })
}

pub fn index_to_pb(i: &IndexDef, building: bool) -> pb::IndexSpec {
    let non_key_attributes = match &i.projection {
        Projection::Include(names) => names.clone(),
        _ => Vec::new(),
    };
    pb::IndexSpec {
        name: i.name.clone(),
        global: i.kind == Kind::Global,
        partition: i.partition.iter().map(key_attr_to_pb).collect(),
        sort: i.sort.iter().map(key_attr_to_pb).collect(),
        projection: i.projection.type_name().to_string(),
        non_key_attributes,
        building,
    }
}

pub fn index_from_pb(i: &pb::IndexSpec, field: &str) -> Result<IndexDef, Status> {
    let attrs = |list: &[pb::KeyAttr], part: &str| {
        list.iter()
            .enumerate()
            .map(|(n, a)| key_attr_from_pb(a, &format!("{field}.{part}[{n}]")))
            .collect::<Result<Vec<_>, _>>()
    };
    let projection = match (i.projection.as_str(), i.non_key_attributes.is_empty()) {
        ("ALL", true) => Projection::All,
        ("KEYS_ONLY", true) => Projection::KeysOnly,
        ("INCLUDE", _) => Projection::Include(i.non_key_attributes.clone()),
        (p, _) => {
            return Err(Status::invalid_argument(format!(
                "{field}.projection: {p:?} must be ALL, KEYS_ONLY or INCLUDE; only INCLUDE takes non_key_attributes"
            )));
        }
    };
    Ok(IndexDef {
        name: i.name.clone(),
        kind: if i.global { Kind::Global } else { Kind::Local },
        partition: attrs(&i.partition, "partition")?,
        sort: attrs(&i.sort, "sort")?,
        projection,
        throughput: None,
    })
}

/// An index listing's page token: a tag byte, then the index key and the
/// table key, each part length-prefixed.
pub fn encode_index_token(pos: &IndexPos) -> Vec<u8> {
    let mut out = vec![2];
    for part in [
        &pos.index.partition,
        &pos.index.sort,
        &pos.key.partition,
        &pos.key.sort,
    ] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

pub fn decode_index_token(token: &[u8]) -> Result<Option<IndexPos>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Status::invalid_argument(
            "page_token: malformed; pass back the token a previous page of this index returned",
        )
    };
    let (&tag, mut rest) = token.split_first().ok_or_else(bad)?;
    if tag != 2 {
        return Err(bad());
    }
    let mut parts = Vec::with_capacity(4);
    for _ in 0..4 {
        let (len, r) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_be_bytes(*len) as usize;
        if len > r.len() {
            return Err(bad());
        }
        parts.push(r[..len].to_vec());
        rest = &r[len..];
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    let mut parts = parts.into_iter();
    let mut next = || parts.next().unwrap_or_default();
    Ok(Some(IndexPos {
        index: IndexKey {
            partition: next(),
            sort: next(),
        },
        key: EncodedKey {
            partition: next(),
            sort: next(),
        },
    }))
}

pub fn invalid(e: meridian_core::Error) -> Status {
    Status::invalid_argument(e.to_string())
}

/// Page tokens are opaque to clients: a tag byte and the last key returned.
pub fn encode_token(key: &EncodedKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + key.partition.len() + key.sort.len());
    out.push(1);
    out.extend_from_slice(&(key.partition.len() as u32).to_be_bytes());
    out.extend_from_slice(&key.partition);
    out.extend_from_slice(&key.sort);
    out
}

pub fn decode_token(token: &[u8]) -> Result<Option<EncodedKey>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Status::invalid_argument(
            "page_token: malformed; pass back the token a previous page returned",
        )
    };
    let (&tag, rest) = token.split_first().ok_or_else(bad)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
    let len = u32::from_be_bytes(*len) as usize;
    if tag != 1 || len > rest.len() {
        return Err(bad());
    }
    Ok(Some(EncodedKey {
        partition: rest[..len].to_vec(),
        sort: rest[len..].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(physical: u64, origin: &str) -> Vec<u8> {
        Version::new(Timestamp::new(physical, 0), origin).to_bytes()
    }

    /// A write of `us-east-1`, replacing one of `eu-west-1`.
    fn write() -> Mutation {
        Mutation {
            seq: 7,
            table: "users".into(),
            table_version: Some(version(1, "eu-west-1")),
            key: EncodedKey {
                partition: b"pk".to_vec(),
                sort: b"sk".to_vec(),
            },
            version: version(5, "us-east-1"),
            prev: Some(version(4, "eu-west-1")),
            context: vec![1, 2, 3],
            image: Some(vec![9, 8, 7]),
            commit_real: 42,
            ttl: false,
            unit: (1, 3),
        }
    }

    #[test]
    fn a_mutation_survives_the_wire_unchanged() {
        let expiry = Mutation {
            image: None,
            ttl: true,
            unit: (0, 1),
            ..write()
        };
        let catalog = Mutation {
            table: meridian_core::CATALOG_TABLE.into(),
            table_version: None,
            prev: None,
            ..write()
        };
        for m in [write(), expiry, catalog] {
            assert_eq!(mutation_from_pb(mutation_to_pb(m.clone())), m);
        }
    }

    #[test]
    fn the_wire_says_absent_with_empty_bytes() {
        let pb = mutation_to_pb(Mutation {
            table_version: None,
            prev: None,
            image: None,
            ..write()
        });
        assert!(pb.table_version.is_empty() && pb.prev.is_empty());
        assert!(pb.tombstone && pb.image.is_empty());
        // An entry that does not say how long its unit is stands alone.
        let alone = mutation_from_pb(pb::LogEntry {
            unit_pos: 0,
            unit_len: 0,
            ..pb
        });
        assert_eq!(alone.unit, (0, 1));
    }
}
