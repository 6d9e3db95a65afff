//! The global tables API of version 2017.11.29: CreateGlobalTable,
//! DescribeGlobalTable, ListGlobalTables, UpdateGlobalTable,
//! DescribeGlobalTableSettings and UpdateGlobalTableSettings.
//!
//! Meridian has one kind of global table, a table's replica set
//! (docs/replicas.md), so this API is a second view of it, not a second
//! mechanism: a global table is a table described with replicas in more
//! than one region, its `ReplicationGroup` is that replica set, and
//! creating or updating one adds and removes replicas through
//! [`RegionHandle::change_replicas`], as UpdateTable's `ReplicaUpdates`
//! does. Settings changes go through the table's own settings
//! (`WriteOp::UpdateSettings`), since every replica has the table's.

use meridian_core::replicas::{Change, Status};
use meridian_core::settings::{IndexUnits, MAX_CAPACITY_UNITS, SettingsChange};
use meridian_core::{TableDef, Version};
use meridian_region::ops::{OpError, RegionHandle};
use meridian_store::WriteOp;
use serde_json::{Value as Json, json};

use crate::arn::global_table_arn;
use crate::description::seconds;
use crate::error::{ApiError, ApiResult, Kind};
use crate::req::Req;

/// Global tables one ListGlobalTables page holds without a `Limit`, as
/// DynamoDB's default.
const DEFAULT_LIST: u64 = 100;

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

/// The regions that hold or are getting a replica, as DescribeTable
/// lists them, with their status.
fn members(def: &TableDef) -> Vec<(&str, Status)> {
    def.replica_states
        .iter()
        .filter(|(_, s)| s.status.described())
        .map(|(r, s)| (r.as_str(), s.status))
        .collect()
}

/// Whether the legacy API sees `def` as a global table: replicas in two
/// regions or more, or a STRONG table (which has three members).
fn is_global(def: &TableDef) -> bool {
    members(def).len() >= 2 || def.consistency.strong().is_some()
}

/// The table `name` as the catalog has it, wherever its replicas are, if
/// it is a global table.
async fn global(ops: &RegionHandle, name: &str) -> ApiResult<(TableDef, Version)> {
    match ops.catalog_table(name).await? {
        Some((def, version)) if is_global(&def) => Ok((def, version)),
        _ => Err(not_global(name)),
    }
}

/// When the table became global: when its second member joined (its
/// creation, for regions it was created in).
fn global_since(def: &TableDef, version: &Version) -> u64 {
    let created = version.hlc.physical;
    let mut times: Vec<u64> = def
        .replica_states
        .values()
        .filter(|s| s.status.described())
        .map(|s| if s.since == 0 { created } else { s.since })
        .collect();
    times.sort_unstable();
    times.get(1).copied().unwrap_or(created)
}

/// `GlobalTableDescription`. `status` overrides the status the replicas
/// give (CreateGlobalTable answers `CREATING`, as DynamoDB's does).
fn description(def: &TableDef, version: &Version, status: Option<&str>) -> Json {
    let members = members(def);
    let settling = members
        .iter()
        .any(|(_, s)| matches!(s, Status::Creating | Status::Deleting));
    let status = status.unwrap_or(if settling { "UPDATING" } else { "ACTIVE" });
    let group: Vec<Json> = members
        .iter()
        .map(|(r, s)| json!({"RegionName": r, "ReplicaStatus": s.as_str()}))
        .collect();
    json!({
        "GlobalTableName": def.name,
        "GlobalTableArn": global_table_arn(&def.name),
        "GlobalTableStatus": status,
        "CreationDateTime": seconds(global_since(def, version)),
        "ReplicationGroup": group,
    })
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

/// CreateGlobalTable: makes the table `GlobalTableName`, which this region
/// holds alone, a global table of the regions of `ReplicationGroup`.
///
/// DynamoDB's preconditions, mapped onto a table whose name is one across
/// the cluster: the table exists here (in DynamoDB, in every region named;
/// here the other regions' replicas are created, empty, and filled from
/// this one), it is not global already, it is empty, and its stream is on
/// with `NEW_AND_OLD_IMAGES`. The group names this region and at least one
/// other: a global table of one region is the table itself here.
pub async fn create(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let name = name(&r)?;
    let group = r.arr("ReplicationGroup")?;
    let mut regions: Vec<&str> = Vec::with_capacity(group.len());
    for (i, m) in group.iter().enumerate() {
        let at = format!("ReplicationGroup[{i}]");
        let region = region_name(&object(m, &at)?, &at)?;
        if regions.contains(&region) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: ReplicationGroup names {region} twice"
            )));
        }
        regions.push(region);
    }
    let info = match ops.describe(name).await {
        Err(OpError::TableNotFound(_)) => {
            return Err(ApiError::new(
                Kind::TableNotFound,
                format!(
                    "Table not found: {name} does not exist in region {}",
                    ops.region()
                ),
            ));
        }
        other => other?,
    };
    if is_global(&info.def) {
        return Err(ApiError::new(
            Kind::GlobalTableAlreadyExists,
            "Global table with this name already exists",
        ));
    }
    let here = ops.region();
    if !regions.contains(&here) {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: ReplicationGroup must name {here}, the region the request is sent to, which holds table {name}"
        )));
    }
    if regions.len() < 2 {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: ReplicationGroup must name at least 2 regions, {here} and the regions to replicate to; it names 1"
        )));
    }
    match &info.settings.stream {
        Some(s) if s.view_type == "NEW_AND_OLD_IMAGES" => {}
        other => {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: Table {name} must have DynamoDB Streams enabled with StreamViewType NEW_AND_OLD_IMAGES to become a global table; its stream is {}",
                other.as_ref().map_or("disabled", |s| s.view_type.as_str())
            )));
        }
    }
    if info.item_count > 0 {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Table {name} must be empty to become a global table; it holds {} items",
            info.item_count
        )));
    }
    let change = Change {
        create: regions
            .iter()
            .filter(|r| **r != here)
            .map(|r| r.to_string())
            .collect(),
        delete: Vec::new(),
    };
    let after = ops.change_replicas(name, &change).await?;
    Ok(json!({
        "GlobalTableDescription": description(&after.def, &after.version, Some("CREATING"))
    }))
}

pub async fn describe(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let name = name(&r)?;
    let (def, version) = global(ops, name).await?;
    Ok(json!({"GlobalTableDescription": description(&def, &version, None)}))
}

/// ListGlobalTables: the global tables in name order, those with a replica
/// in `RegionName` when it is given.
pub async fn list(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let limit = r.limit("Limit", None)?.unwrap_or(DEFAULT_LIST) as usize;
    let after = r
        .opt_str("ExclusiveStartGlobalTableName")?
        .unwrap_or("")
        .to_string();
    let region = match r.opt_str("RegionName")? {
        Some(name) => {
            meridian_core::key::validate_region_name(name).map_err(|_| {
                ApiError::validation(format!("RegionName: {name:?} is not a region name"))
            })?;
            Some(name.to_string())
        }
        None => None,
    };
    // One more than the page, to know whether a next page exists.
    let found = ops
        .read(move |rd| {
            let mut out = Vec::new();
            let mut from = after;
            loop {
                let page = rd.list_tables(&from, 100)?;
                let done = page.len() < 100;
                for name in page {
                    if let Some((def, _)) = rd.table_def(&name)?
                        && is_global(&def)
                        && region.as_deref().is_none_or(|r| def.has_replica(r))
                        && out.len() <= limit
                    {
                        out.push(def);
                    }
                    from = name;
                }
                if done || out.len() > limit {
                    return Ok(out);
                }
            }
        })
        .await?;
    let more = found.len() > limit;
    let tables: Vec<Json> = found
        .iter()
        .take(limit)
        .map(|def| {
            let group: Vec<Json> = members(def)
                .iter()
                .map(|(r, _)| json!({"RegionName": r}))
                .collect();
            json!({"GlobalTableName": def.name, "ReplicationGroup": group})
        })
        .collect();
    let mut out = json!({"GlobalTables": tables});
    if more && let Some(last) = found.get(limit - 1) {
        out["LastEvaluatedGlobalTableName"] = json!(last.name);
    }
    Ok(out)
}

/// UpdateGlobalTable: `ReplicaUpdates`, each a `Create` or a `Delete` of a
/// `RegionName`, checked against the replica set with DynamoDB's errors
/// (`ReplicaAlreadyExistsException`, `ReplicaNotFoundException`), then
/// made by the replica rules every change goes through. A new replica is
/// made empty by Meridian and filled from the others, so DynamoDB's
/// "the replica to add must be empty" always holds.
pub async fn update(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let name = name(&r)?;
    let updates = r.arr("ReplicaUpdates")?;
    if updates.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value '[]' at 'replicaUpdates' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let (def, _) = global(ops, name).await?;
    let holds = |region: &str| {
        def.replica_states
            .get(region)
            .is_some_and(|s| s.status.holds_data())
    };
    let mut change = Change::default();
    for (i, u) in updates.iter().enumerate() {
        let at = format!("ReplicaUpdates[{i}]");
        let u = object(u, &at)?;
        match (u.opt_obj("Create")?, u.opt_obj("Delete")?) {
            (Some(c), None) => {
                let region = region_name(&c, &format!("{at}.Create"))?;
                if holds(region) {
                    return Err(ApiError::new(
                        Kind::ReplicaAlreadyExists,
                        format!(
                            "Replica already exists in region {region} for global table {name}"
                        ),
                    ));
                }
                change.create.push(region.to_string());
            }
            (None, Some(d)) => {
                let region = region_name(&d, &format!("{at}.Delete"))?;
                if !holds(region) {
                    return Err(ApiError::new(
                        Kind::ReplicaNotFound,
                        format!("Replica not found in region {region} for global table {name}"),
                    ));
                }
                change.delete.push(region.to_string());
            }
            _ => {
                return Err(ApiError::validation(format!(
                    "{at} must contain exactly one of Create or Delete"
                )));
            }
        }
    }
    ops.change_replicas(name, &change).await?;
    let (def, version) = global(ops, name).await?;
    Ok(json!({"GlobalTableDescription": description(&def, &version, None)}))
}

/// The settings of every replica: the table's own, since each replica of
/// a Meridian table has the table's billing, throughput and indexes.
async fn settings_of(ops: &RegionHandle, name: &str) -> ApiResult<Json> {
    let (def, _) = global(ops, name).await?;
    let owned = name.to_string();
    let settings = ops
        .read(move |r| r.settings(&owned))
        .await?
        .ok_or_else(|| not_global(name))?;
    let (read, write) = settings.billing.units();
    let indexes: Vec<Json> = def
        .indexes
        .iter()
        .filter(|i| i.kind == meridian_core::index::Kind::Global)
        .map(|i| {
            // Each index its own units, as DescribeTable describes them.
            let (read, write) = settings.index_units(&def, &i.name).unwrap_or((read, write));
            json!({
                "IndexName": i.name,
                "IndexStatus": "ACTIVE",
                "ProvisionedReadCapacityUnits": read,
                "ProvisionedWriteCapacityUnits": write,
            })
        })
        .collect();
    let replicas: Vec<Json> = members(&def)
        .iter()
        .map(|(region, status)| {
            json!({
                "RegionName": region,
                "ReplicaStatus": status.as_str(),
                "ReplicaBillingModeSummary": {"BillingMode": settings.billing.mode()},
                "ReplicaProvisionedReadCapacityUnits": read,
                "ReplicaProvisionedWriteCapacityUnits": write,
                "ReplicaGlobalSecondaryIndexSettings": indexes,
            })
        })
        .collect();
    Ok(json!({"GlobalTableName": name, "ReplicaSettings": replicas}))
}

pub async fn describe_settings(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let name = name(&r)?;
    settings_of(ops, name).await
}

/// UpdateGlobalTableSettings: `GlobalTableBillingMode`,
/// `GlobalTableProvisionedWriteCapacityUnits` and each global index's
/// write units (`GlobalTableGlobalSecondaryIndexSettingsUpdate`) change
/// the table's settings, which every replica has, by UpdateTable's rules
/// (an index's as its `GlobalSecondaryIndexUpdates` `Update`). Per-replica
/// settings and auto scaling are refused by name: a replica here has no
/// settings of its own, and nothing scales.
pub async fn update_settings(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let name = name(&r)?;
    let refused = [
        "GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate",
        "ReplicaSettingsUpdate",
    ];
    if let Some(field) = refused.iter().find(|f| r.get(f).is_some()) {
        return Err(ApiError::validation(format!(
            "{field} is not supported: every replica has the table's own settings, and nothing is scaled; set GlobalTableBillingMode, GlobalTableProvisionedWriteCapacityUnits or GlobalTableGlobalSecondaryIndexSettingsUpdate"
        )));
    }
    let mode = crate::settings::billing_mode(&r, "GlobalTableBillingMode")?;
    let write = write_units(
        &r,
        "GlobalTableProvisionedWriteCapacityUnits",
        "globalTableProvisionedWriteCapacityUnits",
    )?;
    let (def, _) = global(ops, name).await?;
    let owned = name.to_string();
    let current = ops
        .read(move |r| r.settings(&owned))
        .await?
        .ok_or_else(|| not_global(name))?;
    // Only the write units are named; the read units stay as they are (1
    // when the table is on demand now, the least a provisioned table has).
    let throughput = write.map(|w| (current.billing.units().0.max(1), w));
    let change = SettingsChange {
        mode,
        throughput,
        stream: None,
        indexes: index_updates(&r, &def, &current)?,
    };
    ops.write(vec![WriteOp::UpdateSettings {
        table: name.to_string(),
        change,
    }])
    .await?;
    settings_of(ops, name).await
}

/// A write-units member `field` (`at` as DynamoDB names it in a
/// constraint), when given: 1 to [`MAX_CAPACITY_UNITS`].
fn write_units(r: &Req<'_>, field: &str, at: &str) -> ApiResult<Option<u64>> {
    let Some(v) = r.get(field) else {
        return Ok(None);
    };
    match v.as_i64() {
        Some(n) if (1..=MAX_CAPACITY_UNITS as i64).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(ApiError::constraint(format!(
            "Value '{n}' at '{at}' failed to satisfy constraint: Member must have value between 1 and {MAX_CAPACITY_UNITS}"
        ))),
        None => Err(ApiError::new(
            Kind::Serialization,
            format!("{field} must be a whole number, got {v}"),
        )),
    }
}

/// `GlobalTableGlobalSecondaryIndexSettingsUpdate`: each named global
/// index's new write units, its read units kept (1 when the table is on
/// demand now), as an index `Update` of UpdateTable, whose rules
/// (`TableSettings::apply`) then judge it. An index the table does not
/// have is named as UpdateTable names it; auto scaling is refused.
fn index_updates(
    r: &Req<'_>,
    def: &TableDef,
    current: &meridian_core::settings::TableSettings,
) -> ApiResult<Vec<IndexUnits>> {
    let field = "GlobalTableGlobalSecondaryIndexSettingsUpdate";
    let Some(list) = r.opt_arr(field)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<IndexUnits> = Vec::new();
    for (i, u) in list.iter().enumerate() {
        let Some(u) = u.as_object().map(Req) else {
            return Err(ApiError::new(
                Kind::Serialization,
                format!("{field}[{i}] must be an object"),
            ));
        };
        if u.get("ProvisionedWriteCapacityAutoScalingSettingsUpdate")
            .is_some()
        {
            return Err(ApiError::validation(format!(
                "{field}[{i}].ProvisionedWriteCapacityAutoScalingSettingsUpdate is not supported: nothing is scaled"
            )));
        }
        let index = u.str("IndexName")?;
        let at = format!(
            "globalTableGlobalSecondaryIndexSettingsUpdate.{}.member.provisionedWriteCapacityUnits",
            i + 1
        );
        let Some(write) = write_units(&u, "ProvisionedWriteCapacityUnits", &at)? else {
            continue;
        };
        match def.index(index) {
            Some(d) if d.kind == meridian_core::index::Kind::Global => {}
            _ => {
                return Err(ApiError::new(
                    Kind::ResourceNotFound,
                    format!(
                        "Requested resource not found: Index {index} for table {}",
                        def.name
                    ),
                ));
            }
        }
        if out.iter().any(|(n, _)| n == index) {
            return Err(ApiError::validation(format!(
                "One or more parameter values were invalid: {field} names index {index} twice"
            )));
        }
        let read = current.index_units(def, index).map_or(1, |(read, _)| read);
        out.push((index.to_string(), Some((read, write))));
    }
    Ok(out)
}
