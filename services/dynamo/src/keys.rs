//! `KeySchema` and `AttributeDefinitions` on the wire, for a table and
//! for its indexes: DynamoDB's member checks on them (names, types,
//! duplicates), with its messages, and the type each key attribute is
//! defined with. CreateTable, UpdateTable's index creations and the index
//! definitions all read keys through these, so they word errors alike.

use meridian_core::KeyType;
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult};
use crate::req::Req;

/// The type `defs` (`AttributeDefinitions`) gives the key attribute `name`,
/// which must be defined there.
pub fn key_type(name: &str, defs: &[Json]) -> ApiResult<KeyType> {
    let def = defs
        .iter()
        .find(|d| d.get("AttributeName").and_then(Json::as_str) == Some(name))
        .ok_or_else(|| {
            let defined: Vec<&str> = defs
                .iter()
                .filter_map(|d| d.get("AttributeName").and_then(Json::as_str))
                .collect();
            ApiError::validation(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{name}], AttributeDefinitions: [{}]",
                defined.join(", ")
            ))
        })?;
    let ty = def
        .get("AttributeType")
        .and_then(Json::as_str)
        .unwrap_or("");
    KeyType::parse(ty, name).map_err(|_| {
        ApiError::constraint(format!(
            "Value '{ty}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
        ))
    })
}

/// A key schema element's type member: its path name, its member and the
/// values it may take.
pub const KEY_TYPE: (&str, &str, &[&str]) = ("keyType", "KeyType", &["HASH", "RANGE"]);
/// An attribute definition's type member, likewise.
pub const ATTRIBUTE_TYPE: (&str, &str, &[&str]) =
    ("attributeType", "AttributeType", &["B", "N", "S"]);

/// The member errors of one list of key schema elements or attribute
/// definitions at `list` (`keySchema`, `attributeDefinitions.…`): a name
/// missing or not 1 to 255 long, a type (`ty`: [`KEY_TYPE`] or
/// [`ATTRIBUTE_TYPE`]) missing or outside its values, each at its position
/// as DynamoDB reports it.
pub fn key_member_errors(
    list: &str,
    members: &[Json],
    ty: (&str, &str, &[&str]),
    errors: &mut Vec<String>,
) {
    let (ty_at, ty, values) = ty;
    for (i, m) in members.iter().enumerate() {
        let at = format!("{list}.{}.member", i + 1);
        match m.get("AttributeName").and_then(Json::as_str) {
            None => errors.push(format!(
                "Value null at '{at}.attributeName' failed to satisfy constraint: Member must not be null"
            )),
            Some(n) if n.is_empty() || n.len() > 255 => errors.push(format!(
                "Value '{n}' at '{at}.attributeName' failed to satisfy constraint: Member must have length {}",
                if n.is_empty() {
                    "greater than or equal to 1"
                } else {
                    "less than or equal to 255"
                }
            )),
            Some(_) => {}
        }
        match m.get(ty) {
            None | Some(Json::Null) => errors.push(format!(
                "Value null at '{at}.{ty_at}' failed to satisfy constraint: Member must not be null"
            )),
            Some(Json::String(v)) if !values.contains(&v.as_str()) => errors.push(format!(
                "Value '{v}' at '{at}.{ty_at}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                values.join(", ")
            )),
            Some(_) => {}
        }
    }
}

/// DynamoDB's member checks on `KeySchema` and `AttributeDefinitions`, and
/// on the key schemas of the indexes a request names, made before it
/// compares them: names present and 1 to 255 long, types present, no
/// attribute defined twice.
pub fn check_key_members(r: &Req<'_>, schema: &[Json], defs: &[Json]) -> ApiResult<()> {
    let mut errors = Vec::new();
    key_member_errors("keySchema", schema, KEY_TYPE, &mut errors);
    key_member_errors("attributeDefinitions", defs, ATTRIBUTE_TYPE, &mut errors);
    for (field, at) in [
        ("GlobalSecondaryIndexes", "globalSecondaryIndexes"),
        ("LocalSecondaryIndexes", "localSecondaryIndexes"),
    ] {
        let Some(Json::Array(indexes)) = r.get(field) else {
            continue;
        };
        for (i, index) in indexes.iter().enumerate() {
            if let Some(Json::Array(keys)) = index.get("KeySchema") {
                let at = format!("{at}.{}.member.keySchema", i + 1);
                key_member_errors(&at, keys, KEY_TYPE, &mut errors);
            }
        }
    }
    ApiError::constraints(errors)?;
    let mut seen = std::collections::BTreeSet::new();
    for name in defs
        .iter()
        .filter_map(|d| d.get("AttributeName").and_then(Json::as_str))
    {
        if !seen.insert(name) {
            return Err(ApiError::validation(format!(
                "Attribute Name is duplicated: {name}"
            )));
        }
    }
    Ok(())
}

/// DynamoDB's text for a key schema whose one partition and one sort key
/// attribute are the same, a table's or an index's.
pub fn same_name() -> ApiError {
    ApiError::validation(
        "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    )
}
