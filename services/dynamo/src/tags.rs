//! TagResource, UntagResource and ListTagsOfResource, and `Tags` on
//! CreateTable.
//!
//! The resource is a table ARN of this region (`arn:aws:dynamodb:<region>:
//! 000000000000:table/<name>`, as DescribeTable reports it). Tags belong to
//! the table's replica in this region: DynamoDB does not synchronize tags
//! between the replicas of a global table. They are stored in the catalog
//! (`meridian_core::schema::TableDef::tags_key`) and merged inside the
//! write's transaction, so concurrent TagResource calls never lose a tag.

use std::collections::HashSet;

use meridian_core::schema::{MAX_TAGS, Tags};
use meridian_region::ops::RegionHandle;
use meridian_store::CatalogChange;
use serde_json::{Value as Json, json};

use crate::arn::ACCOUNT;
use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;

/// Longest tag key and value, in characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

fn too_many() -> ApiError {
    ApiError::validation("Number of Tags exceed the current limit for the provided ResourceArn")
}

/// Letters and digits of any script, spaces, and `_ . : / = + - @`.
fn allowed(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

fn check_key(key: &str) -> ApiResult<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_TAG_KEY_CHARS || !allowed(key) {
        return Err(ApiError::validation(format!(
            "The Tag Key provided is invalid, Key: {key}"
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::validation(format!(
            "Tag Key cannot be prefixed with aws:, Key: {key}"
        )));
    }
    Ok(())
}

/// A `Tags` member (TagResource, CreateTable), checked as DynamoDB checks it.
pub fn parse_tags(list: &[Json]) -> ApiResult<Tags> {
    if list.is_empty() {
        return Err(ApiError::validation(
            "Atleast one Tag needs to be provided as Input.",
        ));
    }
    if list.len() > MAX_TAGS {
        return Err(too_many());
    }
    let mut tags = Tags::new();
    for t in list {
        let Json::Object(t) = t else {
            return Err(ApiError::new(
                Kind::Serialization,
                "Tags must be a list of Tag structures",
            ));
        };
        let t = Req(t);
        let key = t
            .opt_str("Key")?
            .ok_or_else(|| ApiError::validation("The Tag Key provided is invalid, Key: null"))?;
        check_key(key)?;
        let value = t.opt_str("Value")?.ok_or_else(|| {
            ApiError::validation("The Tag Value provided is invalid, Value: null")
        })?;
        if value.chars().count() > MAX_TAG_VALUE_CHARS || !allowed(value) {
            return Err(ApiError::validation(format!(
                "The Tag Value provided is invalid, Value: {value}"
            )));
        }
        if tags.insert(key.to_string(), value.to_string()).is_some() {
            return Err(ApiError::validation(format!(
                "Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}"
            )));
        }
    }
    Ok(tags)
}

/// The `ResourceArn` of a tag operation `op`, once authorized. DynamoDB
/// authorizes the caller on the resource before it reads the request: a
/// string IAM cannot read as an ARN with a resource type (six `:` parts,
/// a `/` in the last) is `AccessDeniedException` on that resource (`*`
/// when empty), whatever else the request holds.
fn resource_arn<'a>(r: Req<'a>, op: &str) -> ApiResult<&'a str> {
    let arn = r
        .opt_str("ResourceArn")?
        .ok_or_else(|| ApiError::validation("Invalid TableArn"))?;
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[5].contains('/') {
        return Ok(arn);
    }
    let resource = if arn.is_empty() { "*" } else { arn };
    Err(ApiError::new(
        Kind::AccessDenied,
        format!(
            "User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: dynamodb:{op} on resource: {resource}"
        ),
    ))
}

/// The table an authorized `arn` names, if it is a table of this region
/// and of the account its replica here belongs to.
async fn table_of<'a>(ops: &RegionHandle, arn: &'a str) -> ApiResult<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let name = match parts.as_slice() {
        ["arn", "aws", "dynamodb", _, _, resource] => resource
            .strip_prefix("table/")
            .filter(|n| meridian_core::schema::validate_table_name(n).is_ok()),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        ))
    })?;
    let owner = match ops.table(name).await {
        Ok((def, _)) => meridian_core::replicas::authorize::account_of(&def, ops.region()),
        Err(_) => meridian_core::account::DEFAULT,
    };
    if parts[3] != ops.region() || meridian_core::account::Account::parse(parts[4]) != Some(owner) {
        return Err(not_found(arn));
    }
    Ok(name)
}

pub fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        Kind::ResourceNotFound,
        format!("Requested resource not found: ResourcArn: {arn} not found"),
    )
}

/// Writes a tag change; a missing table answers `missing`.
pub async fn write(
    ops: &RegionHandle,
    table: &str,
    add: Tags,
    remove: Vec<String>,
    missing: ApiError,
) -> ApiResult<()> {
    ops.write(vec![CatalogChange::Tag {
        table: table.to_string(),
        add,
        remove,
    }])
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError {
            kind: Kind::ResourceNotFound,
            ..
        } => missing,
        other => other,
    })?;
    Ok(())
}

pub async fn tag(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let arn = resource_arn(r, "TagResource")?;
    let list = r.arr("Tags")?;
    let table = table_of(ops, arn).await?;
    let tags = parse_tags(list)?;
    // DynamoDB names the ARN when TagResource finds no table, and not
    // when UntagResource does.
    write(ops, table, tags, Vec::new(), not_found(arn)).await?;
    // DynamoDB answers TagResource and UntagResource with an empty body.
    Ok(Json::Null)
}

pub async fn untag(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let arn = resource_arn(r, "UntagResource")?;
    let keys = r.arr("TagKeys")?;
    let table = table_of(ops, arn).await?;
    if keys.is_empty() {
        return Err(ApiError::validation(
            "Atleast one Tag Key needs to be provided as Input.",
        ));
    }
    if keys.len() > MAX_TAGS {
        return Err(too_many());
    }
    let mut remove = Vec::with_capacity(keys.len());
    let mut seen = HashSet::new();
    for k in keys {
        let k = k.as_str().ok_or_else(|| {
            ApiError::new(Kind::Serialization, "TagKeys must be a list of strings")
        })?;
        check_key(k)?;
        if seen.insert(k) {
            remove.push(k.to_string());
        }
    }
    write(ops, table, Tags::new(), remove, ApiError::not_found()).await?;
    // DynamoDB answers TagResource and UntagResource with an empty body.
    Ok(Json::Null)
}

pub async fn list(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let arn = resource_arn(r, "ListTagsOfResource")?;
    let table = table_of(ops, arn).await?;
    let tags = ops.tags(table).await.map_err(|e| match ApiError::from(e) {
        ApiError {
            kind: Kind::ResourceNotFound,
            ..
        } => not_found(arn),
        other => other,
    })?;
    let list: Vec<Json> = tags
        .into_iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({ "Tags": list }))
}
