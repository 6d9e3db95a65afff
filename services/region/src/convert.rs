//! Conversions between protocol messages and core types, and error mapping.
//! Everything arriving here is untrusted: each conversion validates.

use meridian_core::{EncodedKey, Item, KeyAttr, KeyType, Timestamp, Version, decode_item};
use meridian_proto::v1 as pb;
use meridian_store::StoreError;
use tonic::Status;

use crate::bridge::BridgeError;

pub fn version_to_pb(v: &Version) -> pb::Version {
    pb::Version {
        physical_micros: v.hlc.physical,
        logical: v.hlc.logical,
        origin: v.origin.clone(),
    }
}

pub fn version_from_pb(v: &pb::Version, field: &str) -> Result<Version, Status> {
    meridian_core::schema::validate_region_name(&v.origin)
        .map_err(|e| Status::invalid_argument(format!("{field}: {e}")))?;
    Ok(Version::new(
        Timestamp::new(v.physical_micros, v.logical),
        v.origin.clone(),
    ))
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

pub fn status_from_op(e: crate::ops::OpError) -> Status {
    match e {
        crate::ops::OpError::TableNotFound(_) => Status::not_found(e.to_string()),
        crate::ops::OpError::Store(e) => status_from(e),
    }
}

pub fn status_from(e: BridgeError) -> Status {
    match e {
        BridgeError::Closed => Status::unavailable("the region is shutting down"),
        BridgeError::GroupFailed(m) => Status::internal(format!(
            "the write was not stored: group commit failed: {m}"
        )),
        BridgeError::Store(e) => match e {
            StoreError::Invalid(e) => Status::invalid_argument(e.to_string()),
            StoreError::TableNotFound(_) => Status::not_found(e.to_string()),
            StoreError::TableExists(_) => Status::already_exists(e.to_string()),
            StoreError::ConditionFailed(_)
            | StoreError::TransactionCanceled { .. }
            | StoreError::NotReplica { .. } => Status::failed_precondition(e.to_string()),
            StoreError::GroupAborted(_) => {
                Status::internal(format!("the write was not stored: {e}"))
            }
            StoreError::Clock(_)
            | StoreError::Sqlite(_)
            | StoreError::Corrupt(_)
            | StoreError::Open { .. } => {
                tracing::error!(error = %e, "store error");
                Status::internal(e.to_string())
            }
        },
    }
}
