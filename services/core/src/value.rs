//! DynamoDB typed attributes and the one canonical binary encoding of an item.
//!
//! The same bytes are stored in SQLite, carried in gRPC messages and hashed
//! for digests, so equal items always have equal bytes: map entries are
//! sorted by name and set members are sorted (DynamoDB sets are unordered).
//! Every constructor that admits outside input (`from_json`, `decode_item`)
//! validates, so an `Item` in memory is always a legal DynamoDB item.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json};

use crate::error::Error;
use crate::number::Number;

/// Most nested levels of M and L, as in DynamoDB.
pub const MAX_DEPTH: usize = 32;
/// Longest attribute name outside the key, as in DynamoDB (64 KB minus one).
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65535;
/// DynamoDB's item size limit, 400 KB.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// One attribute value. Sets keep their members sorted and unique.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttrValue>),
    L(Vec<AttrValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item: attribute name to value.
pub type Item = BTreeMap<String, AttrValue>;

impl AttrValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "S",
            AttrValue::N(_) => "N",
            AttrValue::B(_) => "B",
            AttrValue::Bool(_) => "BOOL",
            AttrValue::Null => "NULL",
            AttrValue::M(_) => "M",
            AttrValue::L(_) => "L",
            AttrValue::Ss(_) => "SS",
            AttrValue::Ns(_) => "NS",
            AttrValue::Bs(_) => "BS",
        }
    }

    /// Builds a string set, rejecting empty sets and duplicates.
    pub fn string_set(members: Vec<String>, field: &str) -> Result<Self, Error> {
        Ok(AttrValue::Ss(sorted_set(members, field, "string", |s| {
            s.clone()
        })?))
    }

    pub fn number_set(members: Vec<Number>, field: &str) -> Result<Self, Error> {
        Ok(AttrValue::Ns(sorted_set(members, field, "number", |n| {
            n.to_string()
        })?))
    }

    pub fn binary_set(members: Vec<Vec<u8>>, field: &str) -> Result<Self, Error> {
        Ok(AttrValue::Bs(sorted_set(members, field, "binary", |b| {
            B64.encode(b)
        })?))
    }

    /// Size as DynamoDB counts it toward the 400 KB item limit.
    pub fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => n.size(),
            AttrValue::B(b) => b.len(),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttrValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttrValue::Ss(s) => s.iter().map(String::len).sum(),
            AttrValue::Ns(s) => s.iter().map(Number::size).sum(),
            AttrValue::Bs(s) => s.iter().map(Vec::len).sum(),
        }
    }

    /// DynamoDB JSON (`{"S": "x"}`, `{"N": "1"}`, …). `field` is the path for errors.
    pub fn from_json(json: &Json, field: &str) -> Result<Self, Error> {
        Self::from_json_depth(json, field, 0)
    }

    fn from_json_depth(json: &Json, field: &str, depth: usize) -> Result<Self, Error> {
        let (ty, v) = type_and_value(json, field)?;
        Ok(match ty {
            "S" => AttrValue::S(json_string(v, field, "S")?),
            "N" => AttrValue::N(Number::parse(&json_string(v, field, "N")?, field)?),
            "B" => AttrValue::B(json_bytes(v, field, "B")?),
            "BOOL" => AttrValue::Bool(match v {
                Json::Bool(b) => *b,
                Json::Null => return Err(Error::invalid(field, "BOOL must be true or false")),
                Json::String(_) => {
                    return Err(Error::malformed(
                        field,
                        "Unexpected token received from parser",
                    ));
                }
                other => return Err(Error::malformed(field, not_a(other, "java.lang.Boolean"))),
            }),
            "NULL" => {
                if v.as_bool() != Some(true) {
                    return Err(Error::invalid(field, "NULL must be true"));
                }
                AttrValue::Null
            }
            "M" => {
                check_depth(depth, field)?;
                let m = match v {
                    Json::Object(m) => m,
                    Json::Null => return Err(Error::invalid(field, "M must be a JSON object")),
                    Json::Array(_) => {
                        return Err(Error::malformed(
                            field,
                            "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>",
                        ));
                    }
                    _ => return Err(Error::malformed(field, "Unexpected field type")),
                };
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let path = format!("{field}.{k}");
                    out.insert(k.clone(), Self::from_json_depth(v, &path, depth + 1)?);
                }
                AttrValue::M(out)
            }
            "L" => {
                check_depth(depth, field)?;
                let mut out = Vec::new();
                for (i, v) in json_array(v, field, ty)?.iter().enumerate() {
                    out.push(Self::from_json_depth(
                        v,
                        &format!("{field}[{i}]"),
                        depth + 1,
                    )?);
                }
                AttrValue::L(out)
            }
            "SS" => {
                let members = json_array(v, field, ty)?
                    .iter()
                    .map(|m| json_string(m, field, "SS member"))
                    .collect::<Result<_, _>>()?;
                Self::string_set(members, field)?
            }
            "NS" => {
                let members = json_array(v, field, ty)?
                    .iter()
                    .map(|m| Number::parse(&json_string(m, field, "NS member")?, field))
                    .collect::<Result<_, _>>()?;
                Self::number_set(members, field)?
            }
            "BS" => {
                let members = json_array(v, field, ty)?
                    .iter()
                    .map(|m| json_bytes(m, field, "BS member"))
                    .collect::<Result<_, _>>()?;
                Self::binary_set(members, field)?
            }
            other => {
                return Err(Error::invalid(
                    field,
                    format!(
                        "unknown attribute type {other:?}; expected one of S, N, B, BOOL, NULL, M, L, SS, NS, BS"
                    ),
                ));
            }
        })
    }

    pub fn to_json(&self) -> Json {
        let (ty, v) = match self {
            AttrValue::S(s) => ("S", Json::String(s.clone())),
            AttrValue::N(n) => ("N", Json::String(n.to_string())),
            AttrValue::B(b) => ("B", Json::String(B64.encode(b))),
            AttrValue::Bool(b) => ("BOOL", Json::Bool(*b)),
            AttrValue::Null => ("NULL", Json::Bool(true)),
            AttrValue::M(m) => ("M", Json::Object(item_to_json(m))),
            AttrValue::L(l) => ("L", Json::Array(l.iter().map(Self::to_json).collect())),
            AttrValue::Ss(s) => (
                "SS",
                Json::Array(s.iter().cloned().map(Json::String).collect()),
            ),
            AttrValue::Ns(s) => (
                "NS",
                Json::Array(s.iter().map(|n| Json::String(n.to_string())).collect()),
            ),
            AttrValue::Bs(s) => (
                "BS",
                Json::Array(s.iter().map(|b| Json::String(B64.encode(b))).collect()),
            ),
        };
        let mut m = Map::new();
        m.insert(ty.to_string(), v);
        Json::Object(m)
    }
}

const STRUCTURE_NOT_EXPECTED: &str = "Start of structure or map found where not expected";

/// DynamoDB's text for a JSON scalar or list where a `class` belongs.
fn not_a(v: &Json, class: &str) -> String {
    let simple = class.rsplit('.').next().unwrap_or(class);
    match v {
        Json::Bool(true) => format!("TRUE_VALUE cannot be converted to {simple}"),
        Json::Bool(false) => format!("FALSE_VALUE cannot be converted to {simple}"),
        Json::Number(n) if n.is_f64() => format!("DECIMAL_VALUE cannot be converted to {simple}"),
        Json::Number(_) => format!("NUMBER_VALUE cannot be converted to {simple}"),
        Json::Array(_) => format!("Unrecognized collection type class {class}"),
        Json::Object(_) => STRUCTURE_NOT_EXPECTED.to_string(),
        Json::String(_) | Json::Null => "Unexpected value type in payload".to_string(),
    }
}

/// Standard base64 with padding, refused in DynamoDB's words (its own
/// misspelling "dectected" included).
fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::DecodeError as D;
    if !s.len().is_multiple_of(4) {
        return Err(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {}",
            s.len()
        ));
    }
    B64.decode(s).map_err(|e| match e {
        D::InvalidByte(_, b) => format!("Invalid Base64 character: '{}'", char::from(b)),
        D::InvalidPadding => "Invalid Base64 character: '='".to_string(),
        D::InvalidLastSymbol(..) => "Invalid last non-pad Base64 character dectected".to_string(),
        D::InvalidLength(n) => {
            format!("Base64 encoded length is expected a multiple of 4 bytes but found: {n}")
        }
    })
}

/// An attribute value's one type key and what it holds. The shape is
/// checked before the type: a JSON null is an absent member (a validation
/// matter), and a JSON array or scalar where an object belongs cannot be
/// deserialized (DynamoDB answers SerializationException with these
/// texts).
fn type_and_value<'a>(json: &'a Json, field: &str) -> Result<(&'a str, &'a Json), Error> {
    let obj = match json {
        Json::Object(obj) => obj,
        Json::Null => {
            return Err(Error::invalid(
                field,
                "expected an attribute value such as {\"S\": \"text\"}",
            ));
        }
        Json::Array(_) => {
            return Err(Error::malformed(
                field,
                "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue",
            ));
        }
        _ => return Err(Error::malformed(field, "Unexpected value type in payload")),
    };
    if obj.len() != 1 {
        return Err(Error::invalid(
            field,
            format!(
                "an attribute value must have exactly one type key, found {}",
                obj.len()
            ),
        ));
    }
    let (ty, v) = obj.iter().next().expect("one entry");
    Ok((ty.as_str(), v))
}

// The members of an attribute value, read from JSON. A JSON null is an
// absent member (a validation matter); any other JSON type where another
// belongs cannot be deserialized, and DynamoDB answers
// SerializationException with these texts.

/// A JSON string: `what` names it in the error (`S`, `SS member`).
fn json_string(v: &Json, field: &str, what: &str) -> Result<String, Error> {
    match v {
        Json::String(s) => Ok(s.clone()),
        Json::Null => Err(Error::invalid(
            field,
            format!("{what} must be a JSON string"),
        )),
        other => Err(Error::malformed(field, not_a(other, "java.lang.String"))),
    }
}

/// A JSON array: `ty` names it in the error (`L`, `SS`).
fn json_array<'a>(v: &'a Json, field: &str, ty: &str) -> Result<&'a [Json], Error> {
    match v {
        Json::Array(a) => Ok(a),
        Json::Null => Err(Error::invalid(field, format!("{ty} must be a JSON array"))),
        Json::Object(_) => Err(Error::malformed(field, STRUCTURE_NOT_EXPECTED)),
        _ => Err(Error::malformed(field, "Unexpected field type")),
    }
}

/// Base-64 bytes in a JSON string: `what` names it in the error (`B`,
/// `BS member`).
fn json_bytes(v: &Json, field: &str, what: &str) -> Result<Vec<u8>, Error> {
    match v {
        Json::String(s) => decode_base64(s).map_err(|reason| Error::malformed(field, reason)),
        Json::Null => Err(Error::invalid(
            field,
            format!("{what} must be a JSON string"),
        )),
        Json::Array(_) => Err(Error::malformed(
            field,
            "Unrecognized collection type class java.nio.ByteBuffer",
        )),
        Json::Object(_) => Err(Error::malformed(field, STRUCTURE_NOT_EXPECTED)),
        _ => Err(Error::malformed(
            field,
            "only base-64-encoded strings are convertible to bytes",
        )),
    }
}

fn check_depth(depth: usize, field: &str) -> Result<(), Error> {
    if depth >= MAX_DEPTH {
        return Err(Error::NestingTooDeep {
            field: field.to_string(),
            limit: MAX_DEPTH,
        });
    }
    Ok(())
}

fn sorted_set<T: Ord>(
    mut members: Vec<T>,
    field: &str,
    kind: &'static str,
    show: impl Fn(&T) -> String,
) -> Result<Vec<T>, Error> {
    if members.is_empty() {
        return Err(Error::EmptySet {
            field: field.to_string(),
            kind,
        });
    }
    // Duplicates are found in sorted order, but named as sent, the way
    // DynamoDB lists the whole collection.
    let mut sorted: Vec<&T> = members.iter().collect();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::DuplicateSetMember {
            field: field.to_string(),
            kind,
            members: members.iter().map(show).collect::<Vec<_>>().join(", "),
        });
    }
    members.sort();
    Ok(members)
}

/// Size of a whole item: attribute names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// The rules every stored item obeys, on every path that makes one (a
/// client's item, an update's result, a peer's image): no empty attribute
/// name, at most 400 KB. An item that broke them could be stored but never
/// read back or shipped.
pub fn check_item(item: &Item) -> Result<(), Error> {
    if item.contains_key("") {
        return Err(attribute_name_error(""));
    }
    if let Some(name) = item.keys().find(|k| k.len() > MAX_ATTRIBUTE_NAME_BYTES) {
        return Err(attribute_name_error(name));
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(Error::ItemTooLarge {
            size,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(())
}

/// The error for an attribute name that is empty or too long, if `name` is.
pub fn check_attribute_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(attribute_name_error(name));
    }
    Ok(())
}

fn attribute_name_error(name: &str) -> Error {
    Error::AttributeName {
        reason: if name.is_empty() {
            "Empty attribute name".into()
        } else {
            format!(
                "Attribute name is too large, must be less than {} bytes",
                MAX_ATTRIBUTE_NAME_BYTES + 1
            )
        },
    }
}

/// Parses a DynamoDB JSON item (`{"id": {"S": "a"}, …}`).
pub fn item_from_json(json: &Json) -> Result<Item, Error> {
    let obj = json
        .as_object()
        .ok_or_else(|| Error::invalid("item", "expected a JSON object of attributes"))?;
    let mut item = Item::new();
    for (k, v) in obj {
        item.insert(k.clone(), AttrValue::from_json(v, k)?);
    }
    check_item(&item)?;
    Ok(item)
}

pub fn item_to_json(item: &Item) -> Map<String, Json> {
    item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
}

// ---- canonical binary encoding -------------------------------------------

const FORMAT_V1: u8 = 1;
const T_S: u8 = 1;
const T_N: u8 = 2;
const T_B: u8 = 3;
const T_FALSE: u8 = 4;
const T_TRUE: u8 = 5;
const T_NULL: u8 = 6;
const T_M: u8 = 7;
const T_L: u8 = 8;
const T_SS: u8 = 9;
const T_NS: u8 = 10;
const T_BS: u8 = 11;

/// Encodes an item canonically: a format byte, then sorted `(name, value)` pairs.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + item_size(item));
    out.push(FORMAT_V1);
    put_map(&mut out, item);
    out
}

/// Decodes and fully validates an item; input may come from an untrusted peer.
/// Depth and size are checked as it goes, so a hostile blob (64 MiB of
/// one-byte values) is refused after about 400 KB of it, before memory is
/// spent on the rest.
pub fn decode_item(bytes: &[u8]) -> Result<Item, Error> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        counted: 0,
    };
    match r.byte()? {
        FORMAT_V1 => {}
        f => return Err(Error::Decode(format!("unknown item format {f}"))),
    }
    let item = r.map(0, "item")?;
    if r.pos != bytes.len() {
        return Err(Error::Decode("trailing bytes after item".into()));
    }
    // A peer must not smuggle in an item that no client could have written.
    check_item(&item)?;
    // One item, one byte string: a peer that sends an equal item in another
    // layout (unsorted sets, "1.50" for 1.5) would otherwise split digests.
    if encode_item(&item) != bytes {
        return Err(Error::Decode("item is not in canonical form".into()));
    }
    Ok(item)
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

fn put_map(out: &mut Vec<u8>, m: &BTreeMap<String, AttrValue>) {
    put_len(out, m.len());
    for (k, v) in m {
        put_bytes(out, k.as_bytes());
        put_value(out, v);
    }
}

fn put_value(out: &mut Vec<u8>, v: &AttrValue) {
    match v {
        AttrValue::S(s) => {
            out.push(T_S);
            put_bytes(out, s.as_bytes());
        }
        AttrValue::N(n) => {
            out.push(T_N);
            put_bytes(out, n.to_stored_string().as_bytes());
        }
        AttrValue::B(b) => {
            out.push(T_B);
            put_bytes(out, b);
        }
        AttrValue::Bool(false) => out.push(T_FALSE),
        AttrValue::Bool(true) => out.push(T_TRUE),
        AttrValue::Null => out.push(T_NULL),
        AttrValue::M(m) => {
            out.push(T_M);
            put_map(out, m);
        }
        AttrValue::L(l) => {
            out.push(T_L);
            put_len(out, l.len());
            l.iter().for_each(|v| put_value(out, v));
        }
        AttrValue::Ss(s) => {
            out.push(T_SS);
            put_len(out, s.len());
            s.iter().for_each(|m| put_bytes(out, m.as_bytes()));
        }
        AttrValue::Ns(s) => {
            out.push(T_NS);
            put_len(out, s.len());
            s.iter()
                .for_each(|m| put_bytes(out, m.to_stored_string().as_bytes()));
        }
        AttrValue::Bs(s) => {
            out.push(T_BS);
            put_len(out, s.len());
            s.iter().for_each(|m| put_bytes(out, m));
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// What the values read so far add to the item's size ([`item_size`]),
    /// never more than they do: past [`MAX_ITEM_BYTES`] the whole item is.
    counted: usize,
}

impl<'a> Reader<'a> {
    /// Counts `n` bytes of the item's size, refusing the item once they
    /// pass the limit.
    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.counted = self.counted.saturating_add(n);
        if self.counted > MAX_ITEM_BYTES {
            return Err(Error::ItemTooLarge {
                size: self.counted,
                limit: MAX_ITEM_BYTES,
            });
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| Error::Decode("truncated".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, Error> {
        let mut n: usize = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                // A length can never exceed what is left; checking here keeps
                // a hostile count from reserving memory.
                if n > self.buf.len() - self.pos {
                    return Err(Error::Decode(format!("length {n} runs past the end")));
                }
                return Ok(n);
            }
        }
        Err(Error::Decode("length varint too long".into()))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.len()?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, Error> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| Error::Decode("string is not UTF-8".into()))
    }

    fn number(&mut self, field: &str) -> Result<Number, Error> {
        Number::parse(&self.string()?, field)
    }

    fn map(&mut self, depth: usize, field: &str) -> Result<BTreeMap<String, AttrValue>, Error> {
        let count = self.len()?;
        let mut m = BTreeMap::new();
        let mut last: Option<String> = None;
        for _ in 0..count {
            let k = self.string()?;
            // A nested entry costs its name and a byte; a top-level one its name.
            self.count(k.len() + usize::from(depth > 0))?;
            if last.as_ref().is_some_and(|l| *l >= k) {
                return Err(Error::Decode(format!(
                    "{field}: map keys not strictly sorted"
                )));
            }
            let path = if depth == 0 {
                k.clone()
            } else {
                format!("{field}.{k}")
            };
            let v = self.value(depth, &path)?;
            last = Some(k.clone());
            m.insert(k, v);
        }
        Ok(m)
    }

    /// A counted string or binary: its bytes are its size.
    fn counted_bytes(&mut self) -> Result<&'a [u8], Error> {
        let b = self.bytes()?;
        self.count(b.len())?;
        Ok(b)
    }

    fn counted_string(&mut self) -> Result<String, Error> {
        String::from_utf8(self.counted_bytes()?.to_vec())
            .map_err(|_| Error::Decode("string is not UTF-8".into()))
    }

    /// A counted number: at least one byte of size.
    fn counted_number(&mut self, field: &str) -> Result<Number, Error> {
        self.count(1)?;
        self.number(field)
    }

    fn value(&mut self, depth: usize, field: &str) -> Result<AttrValue, Error> {
        Ok(match self.byte()? {
            T_S => AttrValue::S(self.counted_string()?),
            T_N => AttrValue::N(self.counted_number(field)?),
            T_B => AttrValue::B(self.counted_bytes()?.to_vec()),
            T_FALSE => {
                self.count(1)?;
                AttrValue::Bool(false)
            }
            T_TRUE => {
                self.count(1)?;
                AttrValue::Bool(true)
            }
            T_NULL => {
                self.count(1)?;
                AttrValue::Null
            }
            T_M => {
                check_depth(depth, field)?;
                self.count(3)?;
                AttrValue::M(self.map(depth + 1, field)?)
            }
            T_L => {
                check_depth(depth, field)?;
                self.count(3)?;
                let n = self.len()?;
                let mut l = Vec::new();
                for i in 0..n {
                    self.count(1)?;
                    l.push(self.value(depth + 1, &format!("{field}[{i}]"))?);
                }
                AttrValue::L(l)
            }
            T_SS => {
                let n = self.len()?;
                let members = (0..n)
                    .map(|_| self.counted_string())
                    .collect::<Result<Vec<_>, _>>()?;
                AttrValue::string_set(members, field)?
            }
            T_NS => {
                let n = self.len()?;
                let members = (0..n)
                    .map(|_| self.counted_number(field))
                    .collect::<Result<Vec<_>, _>>()?;
                AttrValue::number_set(members, field)?
            }
            T_BS => {
                let n = self.len()?;
                let members = (0..n)
                    .map(|_| self.counted_bytes().map(<[u8]>::to_vec))
                    .collect::<Result<Vec<_>, _>>()?;
                AttrValue::binary_set(members, field)?
            }
            t => return Err(Error::Decode(format!("{field}: unknown type tag {t}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_and_canonical_bytes() {
        let j = json!({
            "id": {"S": "a"},
            "n": {"N": "1.50"},
            "tags": {"SS": ["z", "a"]},
            "nested": {"M": {"l": {"L": [{"NULL": true}, {"BOOL": false}, {"B": "AQI="}]}}},
            "nums": {"NS": ["2", "10", "-1"]},
            "bins": {"BS": ["AQ==", "AA=="]}
        });
        let item = item_from_json(&j).unwrap();
        let bytes = encode_item(&item);
        assert_eq!(decode_item(&bytes).unwrap(), item);
        let back = Json::Object(item_to_json(&item));
        assert_eq!(back["n"], json!({"N": "1.5"}));
        assert_eq!(back["tags"], json!({"SS": ["a", "z"]}));
        // Same item written differently gives the same bytes.
        let j2 = json!({"tags": {"SS": ["a", "z"]}, "id": {"S": "a"}, "n": {"N": "15E-1"},
            "nested": {"M": {"l": {"L": [{"NULL": true}, {"BOOL": false}, {"B": "AQI="}]}}},
            "nums": {"NS": ["-1", "10", "2"]}, "bins": {"BS": ["AA==", "AQ=="]}});
        assert_eq!(encode_item(&item_from_json(&j2).unwrap()), bytes);
    }

    #[test]
    fn rejects_bad_sets_with_field_names() {
        let e = item_from_json(&json!({"tags": {"SS": []}})).unwrap_err();
        assert_eq!(e.to_string(), "tags: a set must have at least one member");
        let e = item_from_json(&json!({"m": {"M": {"s": {"NS": ["1", "1.0"]}}}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.s: the number set [1, 1] contains duplicates"
        );
    }

    #[test]
    fn rejects_oversized_items_and_deep_nesting() {
        let big = "x".repeat(MAX_ITEM_BYTES);
        let e = item_from_json(&json!({"id": {"S": big}})).unwrap_err();
        assert!(
            matches!(
                e,
                Error::ItemTooLarge {
                    limit: MAX_ITEM_BYTES,
                    ..
                }
            ),
            "{e}"
        );
        let mut v = json!({"S": "leaf"});
        for _ in 0..=MAX_DEPTH {
            v = json!({"L": [v]});
        }
        let e = item_from_json(&json!({"deep": v})).unwrap_err();
        assert!(matches!(e, Error::NestingTooDeep { limit: 32, .. }), "{e}");
    }

    #[test]
    fn a_huge_item_of_one_byte_values_is_refused_early() {
        // 64 MiB: one attribute, a list of 64 Mi NULLs (one byte each).
        let n = 64 << 20;
        let mut blob = vec![FORMAT_V1];
        put_len(&mut blob, 1);
        put_bytes(&mut blob, b"l");
        blob.push(T_L);
        put_len(&mut blob, n);
        blob.resize(blob.len() + n, T_NULL);
        match decode_item(&blob) {
            // Refused as soon as the count passed the limit: about 200 Ki
            // elements were read (two bytes of size each), not 64 Mi.
            Err(Error::ItemTooLarge { size, limit }) => {
                assert_eq!(limit, MAX_ITEM_BYTES);
                assert!(size <= MAX_ITEM_BYTES + 2, "{size}");
            }
            other => panic!("{other:?}"),
        }
        // The same for a map of many attributes, and a number set.
        let mut blob = vec![FORMAT_V1];
        let names: Vec<String> = (0..200_000).map(|i| format!("a{i:07}")).collect();
        put_len(&mut blob, names.len());
        for name in &names {
            put_bytes(&mut blob, name.as_bytes());
            blob.push(T_NULL);
        }
        assert!(matches!(
            decode_item(&blob),
            Err(Error::ItemTooLarge { size, .. }) if size <= MAX_ITEM_BYTES + 9
        ));
    }

    #[test]
    fn decode_never_panics_on_garbage() {
        let item = item_from_json(&json!({"a": {"L": [{"S": "x"}, {"N": "3"}]}})).unwrap();
        let bytes = encode_item(&item);
        for cut in 0..bytes.len() {
            let _ = decode_item(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = decode_item(&b);
        }
        assert!(decode_item(&[FORMAT_V1, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
