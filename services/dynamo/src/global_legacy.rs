//! The global tables API of version 2017.11.29: CreateGlobalTable,
//! DescribeGlobalTable, ListGlobalTables, UpdateGlobalTable,
//! DescribeGlobalTableSettings and UpdateGlobalTableSettings, answered as
//! DynamoDB answers them today.
//!
//! DynamoDB no longer creates a version 2017.11.29 global table:
//! CreateGlobalTable is refused with a `ValidationException` ("DynamoDB
//! global tables version 2017.11.29 is not supported"), and a version
//! 2019.11.21 global table (a table with replicas, Meridian's only kind,
//! docs/replicas.md) is not one the legacy calls know: "If you are using
//! global tables Version 2019.11.21 you can use DescribeTable instead"
//! (API_DescribeGlobalTable). So no table is a legacy global table here:
//! the describe, update and settings calls find none
//! (`GlobalTableNotFoundException`) and ListGlobalTables lists none. Each
//! request is still checked field by field first, so bad input is named
//! as DynamoDB names it, and nothing is ever written.

use meridian_core::settings::MAX_CAPACITY_UNITS;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;

/// DynamoDB's refusal of a new version 2017.11.29 global table, word for
/// word (a `ValidationException`; seen from AWS in 2026, quoted in
/// docs/dynamodb-compat.md).
pub const NOT_SUPPORTED: &str = "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is not supported. We recommend using DynamoDB global tables version 2019.11.21, instead of version 2017.11.29 (Legacy).";

/// `GlobalTableName`, checked as DynamoDB checks a table name.
fn name<'a>(r: &Req<'a>) -> ApiResult<&'a str> {
    let name = r.str("GlobalTableName")?;
    meridian_core::schema::validate_table_name(name).map_err(|e| {
        ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'globalTableName' failed to satisfy constraint: {}",
            e.to_string().trim_start_matches("TableName: ")
        ))
    })?;
    Ok(name)
}

fn not_global(name: &str) -> ApiError {
    ApiError::new(
        Kind::GlobalTableNotFound,
        format!("Global table not found: Global table with name: '{name}' does not exist."),
    )
}

/// A list member's `RegionName` (`ReplicationGroup[i]`,
/// `ReplicaUpdates[i].Create`), checked.
fn region_name<'a>(member: &Req<'a>, at: &str) -> ApiResult<&'a str> {
    let name = member.str("RegionName")?;
    meridian_core::key::validate_region_name(name).map_err(|_| {
        ApiError::validation(format!("{at}.RegionName: {name:?} is not a region name"))
    })?;
    Ok(name)
}

fn object<'a>(v: &'a Json, at: &str) -> ApiResult<Req<'a>> {
    v.as_object()
        .map(Req)
        .ok_or_else(|| ApiError::new(Kind::Serialization, format!("{at} must be an object")))
}

/// CreateGlobalTable: `GlobalTableName` and `ReplicationGroup` checked,
/// then refused as DynamoDB refuses every new version 2017.11.29 global
/// table ([`NOT_SUPPORTED`]). A table gets replicas with UpdateTable's
/// `ReplicaUpdates` (version 2019.11.21).
pub async fn create(_front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    name(&r)?;
    for (i, m) in r.arr("ReplicationGroup")?.iter().enumerate() {
        let at = format!("ReplicationGroup[{i}]");
        region_name(&object(m, &at)?, &at)?;
    }
    Err(ApiError::validation(NOT_SUPPORTED))
}

/// DescribeGlobalTable and DescribeGlobalTableSettings: no table is a
/// version 2017.11.29 global table.
pub async fn describe(_front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    Err(not_global(name(&r)?))
}

/// ListGlobalTables: its fields checked, and no global table of version
/// 2017.11.29 to list.
pub async fn list(_front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    r.limit("Limit", None)?;
    if let Some(start) = r.opt_str("ExclusiveStartGlobalTableName")? {
        meridian_core::schema::validate_table_name(start).map_err(|e| {
            ApiError::validation(format!(
                "1 validation error detected: Value '{start}' at 'exclusiveStartGlobalTableName' failed to satisfy constraint: {}",
                e.to_string().trim_start_matches("TableName: ")
            ))
        })?;
    }
    if let Some(name) = r.opt_str("RegionName")? {
        meridian_core::key::validate_region_name(name).map_err(|_| {
            ApiError::validation(format!("RegionName: {name:?} is not a region name"))
        })?;
    }
    Ok(json!({"GlobalTables": []}))
}

/// UpdateGlobalTable: `ReplicaUpdates` checked (at least one, each a
/// `Create` or a `Delete` of a `RegionName`), then no such global table.
pub async fn update(_front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    let name = name(&r)?;
    let updates = r.arr("ReplicaUpdates")?;
    if updates.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value '[]' at 'replicaUpdates' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    for (i, u) in updates.iter().enumerate() {
        let at = format!("ReplicaUpdates[{i}]");
        let u = object(u, &at)?;
        match (u.opt_obj("Create")?, u.opt_obj("Delete")?) {
            (Some(c), None) => region_name(&c, &format!("{at}.Create"))?,
            (None, Some(d)) => region_name(&d, &format!("{at}.Delete"))?,
            _ => {
                return Err(ApiError::validation(format!(
                    "{at} must contain exactly one of Create or Delete"
                )));
            }
        };
    }
    Err(not_global(name))
}

/// UpdateGlobalTableSettings: `GlobalTableBillingMode`, the write units
/// (1 to [`MAX_CAPACITY_UNITS`]) and each index update's shape checked,
/// then no such global table.
pub async fn update_settings(_front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    let name = name(&r)?;
    crate::settings::billing_mode(&r, "GlobalTableBillingMode")?;
    write_units(
        &r,
        "GlobalTableProvisionedWriteCapacityUnits",
        "globalTableProvisionedWriteCapacityUnits",
    )?;
    let field = "GlobalTableGlobalSecondaryIndexSettingsUpdate";
    for (i, u) in r
        .opt_arr(field)?
        .map_or(&[][..], |v| v.as_slice())
        .iter()
        .enumerate()
    {
        let u = object(u, &format!("{field}[{i}]"))?;
        u.str("IndexName")?;
        let at = format!(
            "globalTableGlobalSecondaryIndexSettingsUpdate.{}.member.provisionedWriteCapacityUnits",
            i + 1
        );
        write_units(&u, "ProvisionedWriteCapacityUnits", &at)?;
    }
    Err(not_global(name))
}

/// A write-units member `field` (`at` as DynamoDB names it in a
/// constraint), when given: 1 to [`MAX_CAPACITY_UNITS`].
fn write_units(r: &Req<'_>, field: &str, at: &str) -> ApiResult<()> {
    let Some(v) = r.get(field) else {
        return Ok(());
    };
    match v.as_i64() {
        Some(n) if (1..=MAX_CAPACITY_UNITS as i64).contains(&n) => Ok(()),
        Some(n) => Err(ApiError::constraint(format!(
            "Value '{n}' at '{at}' failed to satisfy constraint: Member must have value between 1 and {MAX_CAPACITY_UNITS}"
        ))),
        None => Err(ApiError::new(
            Kind::Serialization,
            format!("{field} must be a whole number, got {v}"),
        )),
    }
}
