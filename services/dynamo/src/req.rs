//! Reading request members with DynamoDB's validation messages.

use meridian_core::expr::{Names, Values};
use meridian_core::{AttrValue, EncodedKey, Item, TableDef, item_from_json};
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, ApiResult};

/// A JSON request object.
#[derive(Clone, Copy)]
pub struct Req<'a>(pub &'a Map<String, Json>);

pub(crate) fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// DynamoDB's wording for a missing required member.
pub fn missing(name: &str) -> ApiError {
    ApiError::constraint(format!(
        "Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(name)
    ))
}

fn wrong_type(name: &str, want: &str) -> ApiError {
    ApiError::new(
        crate::error::Kind::Serialization,
        format!("{name} must be {want}"),
    )
}

impl<'a> Req<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Json> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> ApiResult<&'a str> {
        self.opt_str(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_str(&self, name: &str) -> ApiResult<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    pub fn opt_bool(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(name, "a boolean")),
        }
    }

    pub fn opt_u64(&self, name: &str) -> ApiResult<Option<u64>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "a non-negative integer")),
        }
    }

    /// A page size or count member (`Limit`): at least 1 and at most `max`
    /// when there is one, each bound refused with DynamoDB's wording. It is
    /// read as a signed number so that `-1` is refused as too small, not as
    /// the wrong type.
    pub fn limit(&self, name: &str, max: Option<u64>) -> ApiResult<Option<u64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let at = lower_first(name);
        match v.as_i64() {
            Some(n) if n < 1 => Err(ApiError::constraint(format!(
                "Value '{n}' at '{at}' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ))),
            Some(n) => match max {
                Some(m) if n as u64 > m => Err(ApiError::constraint(format!(
                    "Value '{n}' at '{at}' failed to satisfy constraint: Member must have value less than or equal to {m}"
                ))),
                _ => Ok(Some(n as u64)),
            },
            None => Err(wrong_type(name, "a whole number")),
        }
    }

    pub fn obj(&self, name: &str) -> ApiResult<Req<'a>> {
        self.opt_obj(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_obj(&self, name: &str) -> ApiResult<Option<Req<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Object(m)) => Ok(Some(Req(m))),
            Some(_) => Err(wrong_type(name, "an object")),
        }
    }

    pub fn arr(&self, name: &str) -> ApiResult<&'a Vec<Json>> {
        self.opt_arr(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_arr(&self, name: &str) -> ApiResult<Option<&'a Vec<Json>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Array(a)) => Ok(Some(a)),
            Some(_) => Err(wrong_type(name, "a list")),
        }
    }

    /// `TableName`, checked as DynamoDB checks it.
    pub fn table_name(&self) -> ApiResult<&'a str> {
        let name = self.str("TableName")?;
        meridian_core::schema::validate_table_name(name).map_err(|e| {
            ApiError::constraint(format!(
                "Value '{name}' at 'tableName' failed to satisfy constraint: {}",
                e.to_string().trim_start_matches("TableName: ")
            ))
        })?;
        Ok(name)
    }

    /// A DynamoDB JSON item member (`Item`, `Key`, `ExclusiveStartKey`).
    pub fn item(&self, name: &str) -> ApiResult<Item> {
        self.opt_item(name)?.ok_or_else(|| missing(name))
    }

    pub fn opt_item(&self, name: &str) -> ApiResult<Option<Item>> {
        self.item_as(name, false)
    }

    /// PutItem's `Item`, whose empty sets DynamoDB reports as constraint
    /// violations.
    pub fn written_item(&self, name: &str) -> ApiResult<Item> {
        self.item_as(name, true)?.ok_or_else(|| missing(name))
    }

    fn item_as(&self, name: &str, write: bool) -> ApiResult<Option<Item>> {
        match self.get(name) {
            None => Ok(None),
            Some(v @ Json::Object(_)) => item_from_json(v).map(Some).map_err(|e| match e {
                meridian_core::Error::EmptySet { .. } if write => ApiError::from(e).detected(),
                e => e.into(),
            }),
            Some(_) => Err(wrong_type(name, "a map of attribute values")),
        }
    }

    /// `ExpressionAttributeNames`. `write` says the request is a
    /// PutItem, UpdateItem or DeleteItem, which word an empty map as a
    /// constraint violation.
    pub fn names(&self, write: bool) -> ApiResult<Names> {
        let mut out = Names::new();
        if let Some(m) = self.opt_obj("ExpressionAttributeNames")? {
            not_empty("ExpressionAttributeNames", m, write)?;
            for (k, v) in m.0 {
                meridian_core::expr::check_placeholder_key("ExpressionAttributeNames", '#', k)?;
                let v = v
                    .as_str()
                    .ok_or_else(|| wrong_type("ExpressionAttributeNames", "a map of strings"))?;
                if v.is_empty() {
                    return Err(ApiError::validation(format!(
                        "ExpressionAttributeNames contains invalid value: Empty attribute name provided for key {k}"
                    )));
                }
                if v.len() > meridian_core::value::MAX_ATTRIBUTE_NAME_BYTES {
                    return Err(ApiError::validation(format!(
                        "ExpressionAttributeNames contains invalid value: Attribute name is too large, must be less than {} bytes for key {k}",
                        meridian_core::value::MAX_ATTRIBUTE_NAME_BYTES + 1
                    )));
                }
                out.insert(k.clone(), v.to_string());
            }
        }
        Ok(out)
    }

    /// `ExpressionAttributeValues`; `write` as for [`Req::names`], whose
    /// empty sets are also constraint violations, named as in an item.
    pub fn values(&self, write: bool) -> ApiResult<Values> {
        let mut out = Values::new();
        if let Some(m) = self.opt_obj("ExpressionAttributeValues")? {
            not_empty("ExpressionAttributeValues", m, write)?;
            for (k, v) in m.0 {
                meridian_core::expr::check_placeholder_key("ExpressionAttributeValues", ':', k)?;
                let value = AttrValue::from_json(v, k).map_err(|e| match e {
                    // A value that is not even well-formed JSON for its type.
                    meridian_core::Error::Malformed { .. } => ApiError::from(e),
                    meridian_core::Error::EmptySet { .. } if write => ApiError::from(e).detected(),
                    // The key is named once, at the end.
                    meridian_core::Error::Invalid { reason, .. } => ApiError::validation(format!(
                        "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: {reason} for key {k}"
                    )),
                    e => ApiError::validation(format!(
                        "ExpressionAttributeValues contains invalid value: {} for key {k}",
                        ApiError::from(e).message
                    )),
                })?;
                out.insert(k.clone(), value);
            }
        }
        Ok(out)
    }
}

/// An expression map that is given must hold something.
fn not_empty(field: &str, m: Req<'_>, write: bool) -> ApiResult<()> {
    if !m.0.is_empty() {
        return Ok(());
    }
    let e = ApiError::validation(format!("{field} must not be empty"));
    Err(if write { e.detected() } else { e })
}

/// A key given on its own must be exactly the table's key. DynamoDB's
/// text, exactly: it names neither the attribute nor what is wrong with it
/// (a sort key given to a table without one, a missing or mistyped one).
pub fn key_of(def: &TableDef, key: &Item) -> ApiResult<EncodedKey> {
    def.key_schema.key_from_attrs(key).map_err(key_error)
}

/// Why a key given on its own does not fit its table, in DynamoDB's words.
pub fn key_error(e: meridian_core::Error) -> ApiError {
    match e {
        meridian_core::Error::MissingKey { .. }
        | meridian_core::Error::KeyType { .. }
        | meridian_core::Error::UnexpectedKeyAttribute { .. } => {
            ApiError::validation("The provided key element does not match the schema")
        }
        other => other.into(),
    }
}

/// An `ExclusiveStartKey`: a key of the table and nothing more, refused in
/// DynamoDB's words.
pub fn start_key_of(def: &TableDef, key: &Item) -> ApiResult<EncodedKey> {
    def.key_schema.key_from_attrs(key).map_err(|e| match e {
        meridian_core::Error::MissingKey { .. }
        | meridian_core::Error::KeyType { .. }
        | meridian_core::Error::UnexpectedKeyAttribute { .. } => ApiError::validation(
            "The provided starting key is invalid: The provided key element does not match the schema",
        ),
        other => other.into(),
    })
}
