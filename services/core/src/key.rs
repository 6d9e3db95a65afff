//! Keys: key schemas, the order-preserving key encoding, and the region
//! names that versions and catalog keys carry. Keys sort as DynamoDB sorts
//! them: strings and binary bytewise, numbers numerically. SQLite compares
//! BLOBs with `memcmp`, so encoded keys can be range-scanned directly.
//!
//! This is the floor the table definition ([`crate::schema`]), indexes,
//! replicas, settings and versions build on; it names none of them.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::number::Number;
use crate::value::{AttrValue, Item};

pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The type of a key attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }

    pub fn parse(s: &str, field: &str) -> Result<Self, Error> {
        match s {
            "S" => Ok(KeyType::S),
            "N" => Ok(KeyType::N),
            "B" => Ok(KeyType::B),
            other => Err(Error::invalid(
                field,
                format!("key type must be S, N or B, got {other:?}"),
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttr {
    pub name: String,
    pub ty: KeyType,
}

/// A partition key and an optional sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchema {
    pub partition: KeyAttr,
    pub sort: Option<KeyAttr>,
}

/// An item's primary key, encoded so that bytewise order is DynamoDB order.
/// `sort` is empty for tables without a sort key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EncodedKey {
    pub partition: Vec<u8>,
    pub sort: Vec<u8>,
}

/// Encodes one key value of a known type; `field` names it in errors.
pub fn encode_key_value(value: &AttrValue, attr: &KeyAttr, limit: usize) -> Result<Vec<u8>, Error> {
    let field = &attr.name;
    let (bytes, size) = match (attr.ty, value) {
        (KeyType::S, AttrValue::S(s)) => {
            if s.is_empty() {
                return Err(Error::EmptyKey {
                    field: field.clone(),
                    kind: "string",
                });
            }
            (s.as_bytes().to_vec(), s.len())
        }
        (KeyType::B, AttrValue::B(b)) => {
            if b.is_empty() {
                return Err(Error::EmptyKey {
                    field: field.clone(),
                    kind: "binary value",
                });
            }
            (b.clone(), b.len())
        }
        (KeyType::N, AttrValue::N(n)) => (n.key_bytes(), n.size()),
        (expected, found) => {
            return Err(Error::KeyType {
                field: field.clone(),
                expected: expected.as_str(),
                found: found.type_name(),
            });
        }
    };
    if size > limit {
        return Err(Error::KeyTooLarge {
            field: field.clone(),
            size,
            limit,
        });
    }
    Ok(bytes)
}

/// Decodes a key component back to its value (for pagination keys and tools).
pub fn decode_key_value(bytes: &[u8], ty: KeyType) -> Result<AttrValue, Error> {
    match ty {
        KeyType::S => String::from_utf8(bytes.to_vec())
            .map(AttrValue::S)
            .map_err(|_| Error::Decode("string key is not UTF-8".into())),
        KeyType::B => Ok(AttrValue::B(bytes.to_vec())),
        KeyType::N => Number::from_key_bytes(bytes).map(AttrValue::N),
    }
}

impl KeySchema {
    /// Extracts and validates the primary key of a full item.
    pub fn key_of(&self, item: &Item) -> Result<EncodedKey, Error> {
        let part = item
            .get(&self.partition.name)
            .ok_or_else(|| Error::MissingKey {
                field: self.partition.name.clone(),
            })?;
        let partition = encode_key_value(part, &self.partition, MAX_PARTITION_KEY_BYTES)?;
        let sort = match &self.sort {
            None => Vec::new(),
            Some(attr) => {
                let v = item.get(&attr.name).ok_or_else(|| Error::MissingKey {
                    field: attr.name.clone(),
                })?;
                encode_key_value(v, attr, MAX_SORT_KEY_BYTES)?
            }
        };
        Ok(EncodedKey { partition, sort })
    }

    /// Validates a key given on its own (GetItem, DeleteItem): exactly the key
    /// attributes, nothing else.
    pub fn key_from_attrs(&self, key: &Item) -> Result<EncodedKey, Error> {
        let expected = 1 + usize::from(self.sort.is_some());
        if let Some(extra) = key
            .keys()
            .find(|k| **k != self.partition.name && Some(*k) != self.sort.as_ref().map(|s| &s.name))
        {
            return Err(Error::UnexpectedKeyAttribute {
                field: extra.clone(),
                schema: self.describe(),
            });
        }
        let k = self.key_of(key)?;
        debug_assert_eq!(key.len(), expected);
        Ok(k)
    }

    /// Rebuilds the key attributes from an encoded key.
    pub fn key_attrs(&self, key: &EncodedKey) -> Result<Item, Error> {
        let mut item = BTreeMap::new();
        item.insert(
            self.partition.name.clone(),
            decode_key_value(&key.partition, self.partition.ty)?,
        );
        if let Some(s) = &self.sort {
            item.insert(s.name.clone(), decode_key_value(&key.sort, s.ty)?);
        }
        Ok(item)
    }

    pub fn describe(&self) -> String {
        match &self.sort {
            None => format!("{} ({})", self.partition.name, self.partition.ty.as_str()),
            Some(s) => format!(
                "{} ({}), {} ({})",
                self.partition.name,
                self.partition.ty.as_str(),
                s.name,
                s.ty.as_str()
            ),
        }
    }
}

/// Checks a region name: it is part of every version and of catalog keys,
/// so it keeps to a small alphabet.
pub fn validate_region_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(Error::invalid(
            "region",
            format!("{name:?} must be 1 to 64 characters of a-z, 0-9 and '-'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::value::item_from_json;
    use serde_json::json;

    /// A key schema of a string partition key and a number sort key.
    pub(crate) fn schema() -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                ty: KeyType::S,
            },
            sort: Some(KeyAttr {
                name: "sk".into(),
                ty: KeyType::N,
            }),
        }
    }

    #[test]
    fn key_errors_name_the_field() {
        let s = schema();
        let e = s
            .key_of(&item_from_json(&json!({"sk": {"N": "1"}})).unwrap())
            .unwrap_err();
        assert_eq!(e.to_string(), "missing key attribute pk");
        let e = s
            .key_of(&item_from_json(&json!({"pk": {"N": "1"}, "sk": {"N": "1"}})).unwrap())
            .unwrap_err();
        assert_eq!(e.to_string(), "pk: key attribute must be of type S, got N");
        let e = s
            .key_of(&item_from_json(&json!({"pk": {"S": ""}, "sk": {"N": "1"}})).unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pk: a key attribute cannot be an empty string"
        );
        let long = "k".repeat(2049);
        let e = s
            .key_of(&item_from_json(&json!({"pk": {"S": long}, "sk": {"N": "1"}})).unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pk: key attribute is 2049 bytes, the limit is 2048 bytes"
        );
        let e = s
            .key_from_attrs(
                &item_from_json(&json!({"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "y"}}))
                    .unwrap(),
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("x: unexpected attribute"), "{e}");
    }
}
