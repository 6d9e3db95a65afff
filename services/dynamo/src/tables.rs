//! The table operations: CreateTable, DescribeTable, UpdateTable,
//! ListTables, DeleteTable and the TTL settings. Each reads its request
//! through [`crate::keys`], [`crate::settings`] and [`crate::indexes`],
//! writes through the region's operations, and answers with the table's
//! description ([`crate::description`]).

use meridian_core::settings::{Billing, SettingsChange, TableSettings};
use meridian_core::{KeyAttr, KeySchema, TableDef};
use meridian_region::ops::{OpError, RegionHandle, TableInfo};
use meridian_store::CatalogChange;
use serde_json::{Value as Json, json};

use crate::description::{self, keep_latest_stream};
use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::indexes::IndexUpdates;
use crate::keys::{ATTRIBUTE_TYPE, KEY_TYPE, check_key_members, key_member_errors, key_type};
use crate::replica::ReplicaChange;
use crate::req::Req;
use crate::request::Request;
use crate::settings::{
    billing, billing_mode, on_demand_throughput, provisioned_needs_units, stream_spec, throughput,
};

/// CreateTable of `caller`'s account: a table of its own, or with
/// `GlobalTableSourceArn` its replica of another account's table
/// (`crate::multi_account`).
pub async fn create(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, caller, r) = (&front.ops, req.caller, req.body());
    if r.get("GlobalTableSourceArn").is_some() {
        return crate::multi_account::join(ops, caller, &r).await;
    }
    let name = r.table_name()?;
    // Kept by no table: a single-Region table's mode matters only to a
    // multi-account join, which does not read it (docs/limits.md).
    crate::multi_account::mode(&r)?;
    // BillingMode defaults to PROVISIONED, which needs its units.
    let billing =
        billing(&r, "BillingMode", "ProvisionedThroughput")?.ok_or_else(provisioned_needs_units)?;
    let stream = stream_spec(&r, true)?;
    let on_demand = on_demand_throughput(&r)?;
    if on_demand.is_some() && billing != Billing::PayPerRequest {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: OnDemandThroughput can be specified only when BillingMode is PAY_PER_REQUEST",
        ));
    }
    let protect = r.opt_bool("DeletionProtectionEnabled")?.unwrap_or(false);
    let replica = ReplicaChange::parse(&r)?;
    let schema = r.arr("KeySchema")?;
    let defs = r.arr("AttributeDefinitions")?;
    check_key_members(&r, schema, defs)?;
    let key_schema = table_key_schema(&r, schema, defs)?;
    let mut def = TableDef::new(name, key_schema, ops.create_table_regions())?;
    def.indexes = crate::indexes::parse_create(&r, defs, &def.key_schema, billing)?;
    let settings_after = SettingsChange {
        on_demand,
        index_on_demand: index_on_demand(&r, &def, billing)?,
        ..Default::default()
    };
    def.stream_view_type = stream.flatten();
    def.billing = billing;
    def.owner = caller;
    def.warm = warm_throughput(&r)?;
    let tags = r
        .opt_arr("Tags")?
        .filter(|t| !t.is_empty())
        .map(|t| crate::tags::parse_tags(t))
        .transpose()?;
    let policy = crate::policies::at_creation(&r)?;
    let written = match ops
        .write(vec![CatalogChange::CreateTable(def.clone())])
        .await
    {
        Err(OpError::TableExists(_)) => {
            return Err(exists_elsewhere(ops, name).await);
        }
        other => other?,
    };
    let mosts = settings_after.on_demand.is_some() || !settings_after.index_on_demand.is_empty();
    let settings = mosts.then_some(&settings_after);
    write_after_creation(ops, caller, name, settings, tags, policy).await?;
    protect_replica(ops, name, Some(protect).filter(|on| *on)).await?;
    let (table_class, sse) = replica.write(ops, name, true).await?;
    let version = written[0].version.clone();
    let mut info = created_info(def, version, protect, table_class, sse);
    if mosts {
        info.settings =
            info.settings
                .apply(&info.def, &settings_after, info.settings.billing_since)?;
    }
    // DynamoDB answers CREATING and SDK waiters poll DescribeTable until
    // ACTIVE. Here the table takes writes as soon as it is created, so it
    // is ACTIVE from the first DescribeTable on.
    Ok(json!({"TableDescription": description::created(ops.region(), &info)}))
}

/// The on-demand maximums CreateTable's global secondary indexes ask
/// for, by index name: they are settings, written after the table itself.
fn index_on_demand(
    r: &Req<'_>,
    def: &TableDef,
    billing: Billing,
) -> ApiResult<Vec<(String, meridian_core::settings::OnDemandUpdate)>> {
    let mut index_on_demand = Vec::new();
    let globals = def
        .indexes
        .iter()
        .filter(|i| i.kind == meridian_core::index::Kind::Global);
    for (i, gsi) in globals.enumerate() {
        let given = r.opt_arr("GlobalSecondaryIndexes")?.and_then(|l| l.get(i));
        if let Some(Json::Object(o)) = given
            && let Some(most) = crate::indexes::index_most(&Req(o), billing)?
        {
            index_on_demand.push((gsi.name.clone(), most));
        }
    }
    Ok(index_on_demand)
}

/// Writes what CreateTable asked for besides the table: its on-demand
/// settings, tags and resource policy. A catalog change stands alone, so
/// each follows the creation as a write of its own.
async fn write_after_creation(
    ops: &RegionHandle,
    caller: meridian_core::account::Account,
    name: &str,
    settings: Option<&SettingsChange>,
    tags: Option<meridian_core::schema::Tags>,
    policy: Option<String>,
) -> ApiResult<()> {
    if let Some(settings) = settings {
        ops.write(vec![CatalogChange::UpdateSettings {
            table: name.to_string(),
            change: settings.clone(),
        }])
        .await?;
    }
    if let Some(tags) = tags {
        let arn = meridian_core::account::table_arn(ops.region(), caller, name);
        crate::tags::write(ops, name, tags, Vec::new(), crate::tags::not_found(&arn)).await?;
    }
    if let Some(policy) = policy {
        crate::policies::attach(ops, name, policy).await?;
    }
    Ok(())
}

/// CreateTable's `KeySchema`: one HASH and at most one RANGE element,
/// each defined in `defs`. DynamoDB checks the elements, then that
/// `AttributeDefinitions` defines nothing no key names, then the types.
fn table_key_schema(r: &Req<'_>, schema: &[Json], defs: &[Json]) -> ApiResult<KeySchema> {
    let (mut hash, mut range) = (None, None);
    for k in schema {
        let attr = k
            .get("AttributeName")
            .and_then(Json::as_str)
            .ok_or_else(|| crate::req::missing("AttributeName"))?;
        match k.get("KeyType").and_then(Json::as_str) {
            Some("HASH") if hash.is_none() => hash = Some(attr),
            Some("RANGE") if range.is_none() => range = Some(attr),
            _ => {
                return Err(ApiError::validation(
                    "Invalid KeySchema: Some index key schema element is not valid; a key schema has one HASH and at most one RANGE element",
                ));
            }
        }
    }
    let hash = hash.ok_or_else(|| {
        ApiError::validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    })?;
    if range == Some(hash) {
        return Err(crate::keys::same_name());
    }
    crate::indexes::check_definitions_used(r, defs, &[hash, range.unwrap_or(hash)])?;
    let partition = KeyAttr {
        name: hash.into(),
        ty: key_type(hash, defs)?,
    };
    let sort = range
        .map(|n| {
            Ok::<_, ApiError>(KeyAttr {
                name: n.into(),
                ty: key_type(n, defs)?,
            })
        })
        .transpose()?;
    Ok(KeySchema { partition, sort })
}

/// CreateTable's `WarmThroughput`: the `(read, write)` units per second
/// the table is described with (0 for one not given).
fn warm_throughput(r: &Req<'_>) -> ApiResult<Option<Box<(u64, u64)>>> {
    Ok(r.opt_obj("WarmThroughput")?
        .map(|w| {
            Ok::<_, ApiError>((
                w.opt_u64("ReadUnitsPerSecond")?.unwrap_or(0),
                w.opt_u64("WriteUnitsPerSecond")?.unwrap_or(0),
            ))
        })
        .transpose()?
        .map(Box::new))
}

/// A table just created at `version`, as CreateTable describes it: empty,
/// its indexes built (there is nothing to build them from).
fn created_info(
    def: TableDef,
    version: meridian_core::Version,
    protect: bool,
    table_class: Option<String>,
    sse: Option<String>,
) -> TableInfo {
    let indexes = def
        .indexes
        .iter()
        .map(|i| meridian_region::ops::IndexState {
            def: i.clone(),
            building: false,
            stats: Default::default(),
        })
        .collect();
    TableInfo {
        settings: TableSettings::initial(&def, &version),
        def,
        version,
        item_count: 0,
        size_bytes: 0,
        ttl_attribute: None,
        indexes,
        deletion_protected: protect,
        table_class,
        sse,
        disassociation_protected: true,
        not_authorized: Vec::new(),
    }
}

/// CreateTable of a name the cluster already has. A table's name is one
/// across the cluster (a region that is not a replica cannot hold another
/// table of that name), so where the table has no replica here the answer
/// says where it is and how to bring it here.
async fn exists_elsewhere(ops: &RegionHandle, name: &str) -> ApiError {
    let exists = ApiError::new(Kind::ResourceInUse, format!("Table already exists: {name}"));
    match ops.catalog_table(name).await {
        Ok(Some((def, _))) if !def.has_replica(ops.region()) => ApiError::new(
            Kind::ResourceInUse,
            format!(
                "Table already exists: {name} (its replicas are in {}; a table name is one across the cluster, so add {} as a replica with UpdateTable ReplicaUpdates there)",
                def.replicas.join(", "),
                ops.region()
            ),
        ),
        _ => exists,
    }
}

/// DescribeTable: ACTIVE, or CREATING while this region loads the table
/// from a backup (with its `RestoreSummary`).
pub async fn describe(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    let mut d = description::current(ops, table, None).await?;
    keep_latest_stream(ops, table, &mut d).await?;
    Ok(json!({"Table": d}))
}

/// UpdateTable: billing mode, provisioned throughput and the stream, or
/// the replica set (`ReplicaUpdates`). Secondary indexes are refused by
/// name.
pub async fn update(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    refuse_while_paused(ops, table)?;
    if let Some(answer) = crate::disassociate::update(ops, &r, table).await? {
        return Ok(answer);
    }
    check_shared_change(ops, &r, table).await?;
    let protect = r.opt_bool("DeletionProtectionEnabled")?;
    let replica = ReplicaChange::parse(&r)?;
    // `GlobalSecondaryIndexUpdates` `Update`s: indexes' own throughput,
    // a synchronized setting like the table's.
    let (mut index_units, mut index_on_demand) = (Vec::new(), Vec::new());
    if let Some(updates) = r.opt_arr("GlobalSecondaryIndexUpdates")? {
        let (asked, other, settings) = index_updates(ops, &r, table, updates).await?;
        index_units = asked.units;
        index_on_demand = asked.on_demand;
        match (asked.changes.into_iter().next(), other) {
            (Some(_), Some("BillingMode" | "ProvisionedThroughput")) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: You cannot create or delete index while updating table IOPS",
                ));
            }
            (Some(_), Some("StreamSpecification")) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: You cannot create or delete index while changing stream status",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::validation(
                    "GlobalSecondaryIndexUpdates cannot create or delete an index in the request that changes ReplicaUpdates; send them separately",
                ));
            }
            (Some(change), None) => {
                // An index created anew under a deleted one's name has the
                // units it is created with, not those an Update gave the
                // old one.
                let name = change.name();
                if matches!(change, meridian_core::index::Change::Create(_))
                    && (settings.indexes.contains_key(name)
                        || settings.index_on_demand.contains_key(name))
                {
                    ops.write(vec![CatalogChange::UpdateSettings {
                        table: table.to_string(),
                        change: SettingsChange {
                            indexes: vec![(change.name().to_string(), None)],
                            ..Default::default()
                        },
                    }])
                    .await?;
                }
                ops.write(vec![CatalogChange::UpdateIndex {
                    table: table.to_string(),
                    change,
                }])
                .await?;
            }
            // Only index `Update`s, which go with the settings below.
            (None, _) => {}
        }
        if other.is_none() && index_units.is_empty() && index_on_demand.is_empty() {
            per_replica(ops, table, protect, &replica).await?;
            let info = ops.describe(table).await?;
            return Ok(
                json!({"TableDescription": description::table(ops.region(), &info, "UPDATING")}),
            );
        }
    }
    if let Some(mut info) = crate::global::update(ops, &r, table).await? {
        per_replica(ops, table, protect, &replica).await?;
        info.deletion_protected = protect.unwrap_or(info.deletion_protected);
        return Ok(
            json!({"TableDescription": description::table(ops.region(), &info, "UPDATING")}),
        );
    }
    let change = settings_change(&r, index_units, index_on_demand)?;
    // Deletion protection, the table class and encryption alone are a
    // change of this replica only.
    let settings = change.mode.is_some()
        || change.throughput.is_some()
        || change.stream.is_some()
        || !change.indexes.is_empty()
        || !change.index_on_demand.is_empty();
    if settings || (protect.is_none() && replica.is_empty()) {
        ops.write(vec![CatalogChange::UpdateSettings {
            table: table.to_string(),
            change,
        }])
        .await?;
    } else {
        ops.table(table).await?;
    }
    per_replica(ops, table, protect, &replica).await?;
    let info = ops.describe(table).await?;
    let mut d = description::table(ops.region(), &info, "UPDATING");
    keep_latest_stream(ops, table, &mut d).await?;
    Ok(json!({"TableDescription": d}))
}

/// While an FIS experiment pauses a global table's replication, AWS
/// supports no change of its settings, MREC or MRSC (the developer
/// guide's global tables core concepts, *Fault injection testing*).
pub(crate) fn refuse_while_paused(ops: &RegionHandle, table: &str) -> ApiResult<()> {
    if ops.replication_paused(table) {
        return Err(ApiError::new(
            Kind::ResourceInUse,
            format!(
                "Attempt to change a resource which is still in use: replication of table {table} is paused by a fault injection experiment, and its settings cannot be updated until the pause ends"
            ),
        ));
    }
    Ok(())
}

/// Refuses a change of the synchronized settings both sides of a
/// disassociated replica's split share; the replica set is
/// `meridian_core::replicas::plan`'s to refuse.
async fn check_shared_change(ops: &RegionHandle, r: &Req<'_>, table: &str) -> ApiResult<()> {
    let shared = [
        "BillingMode",
        "ProvisionedThroughput",
        "StreamSpecification",
        "GlobalSecondaryIndexUpdates",
    ];
    if let Some(field) = shared.iter().find(|f| r.get(f).is_some()) {
        let (def, _) = ops.table(table).await?;
        meridian_core::replicas::disassociate::check_shared_change(&def, field)?;
    }
    Ok(())
}

/// UpdateTable's `GlobalSecondaryIndexUpdates`, checked before anything is
/// written: the members' own constraints, then each update against the
/// table's indexes (`crate::indexes::parse_updates`), then an index
/// `Update` alongside `ReplicaUpdates`. Also gives the other change the
/// request makes, if any (an index build or drop goes alone), and the
/// table's settings.
async fn index_updates(
    ops: &RegionHandle,
    r: &Req<'_>,
    table: &str,
    updates: &[Json],
) -> ApiResult<(IndexUpdates, Option<&'static str>, TableSettings)> {
    // What the rules need, without DescribeTable's count of the items.
    let (def, _) = ops.table(table).await?;
    let name = table.to_string();
    let (building, settings) = ops
        .read(move |r| Ok((r.indexes_building(&name)?, r.settings(&name)?)))
        .await?;
    let settings = settings.ok_or_else(ApiError::not_found)?;
    let billing = settings.billing;
    let defs = r.opt_arr("AttributeDefinitions")?.map(Vec::as_slice);
    let mut errors = Vec::new();
    if let Some(defs) = defs {
        key_member_errors("attributeDefinitions", defs, ATTRIBUTE_TYPE, &mut errors);
    }
    for (i, u) in updates.iter().enumerate() {
        if let Some(Json::Array(keys)) = u.get("Create").and_then(|c| c.get("KeySchema")) {
            let at = format!(
                "globalSecondaryIndexUpdates.{}.member.create.keySchema",
                i + 1
            );
            key_member_errors(&at, keys, KEY_TYPE, &mut errors);
        }
    }
    ApiError::constraints(errors)?;
    let asked = crate::indexes::parse_updates(updates, defs, billing, &def, &building)?;
    let others = [
        "BillingMode",
        "ProvisionedThroughput",
        "StreamSpecification",
        "ReplicaUpdates",
    ];
    let other = others.into_iter().find(|f| r.get(f).is_some());
    if !(asked.units.is_empty() && asked.on_demand.is_empty()) && other == Some("ReplicaUpdates") {
        return Err(ApiError::validation(
            "GlobalSecondaryIndexUpdates cannot update an index in the request that changes ReplicaUpdates; send them separately",
        ));
    }
    Ok((asked, other, settings))
}

/// The synchronized settings UpdateTable changes: billing mode,
/// throughput, the stream, and indexes' own units (`index_units`).
fn settings_change(
    r: &Req<'_>,
    index_units: Vec<(String, (u64, u64))>,
    index_on_demand: Vec<(String, meridian_core::settings::OnDemandUpdate)>,
) -> ApiResult<SettingsChange> {
    Ok(SettingsChange {
        mode: billing_mode(r, "BillingMode")?,
        throughput: throughput(r, "ProvisionedThroughput")?,
        stream: stream_spec(r, false)?,
        indexes: index_units
            .into_iter()
            .map(|(name, units)| (name, Some(units)))
            .collect(),
        scaling: None,
        on_demand: on_demand_throughput(r)?,
        index_on_demand,
    })
}

/// Makes the request's changes to this region's replica of `table` alone:
/// deletion protection, the table class and encryption, which DynamoDB
/// keeps per replica and never synchronizes.
async fn per_replica(
    ops: &RegionHandle,
    table: &str,
    protect: Option<bool>,
    replica: &ReplicaChange,
) -> ApiResult<()> {
    protect_replica(ops, table, protect).await?;
    replica.write(ops, table, false).await.map(|_| ())
}

/// Sets deletion protection of this region's replica of `table` when the
/// request gives it: DynamoDB's per-replica setting, never replicated.
async fn protect_replica(ops: &RegionHandle, table: &str, on: Option<bool>) -> ApiResult<()> {
    if let Some(on) = on {
        ops.set_deletion_protection(table, on).await?;
    }
    Ok(())
}

/// ListTables: the tables whose replica here is the caller's account's
/// (`crate::accounts`).
pub async fn list(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, caller, r) = (&front.ops, req.caller, req.body());
    let limit = r.limit("Limit", Some(100))?.unwrap_or(100) as usize;
    let mut after = r
        .opt_str("ExclusiveStartTableName")?
        .unwrap_or("")
        .to_string();
    // One more than the page, to know whether a next page exists: DynamoDB
    // gives no LastEvaluatedTableName when the page ends at the last table.
    let mut names = Vec::new();
    loop {
        let page = ops.list_tables(&after, limit + 1).await?;
        let done = page.len() <= limit;
        for name in page {
            if names.len() <= limit && front.owners.owner(ops, &name).await? == Some(caller) {
                names.push(name.clone());
            }
            after = name;
        }
        if done || names.len() > limit {
            break;
        }
    }
    let more = names.len() > limit;
    names.truncate(limit);
    let mut out = json!({"TableNames": names});
    if more && let Some(last) = names.last() {
        out["LastEvaluatedTableName"] = json!(last);
    }
    Ok(out)
}

pub async fn delete(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let name = r.table_name()?;
    let info = match ops.describe(name).await {
        // DynamoDB names the missing table here, unlike most operations.
        Err(OpError::TableNotFound(_)) => {
            return Err(ApiError::new(
                Kind::ResourceNotFound,
                format!("Requested resource not found: Table: {name} not found"),
            ));
        }
        other => other?,
    };
    // This region's replica alone while another region holds the table,
    // as DynamoDB deletes a replica; deletion protection is checked there.
    ops.delete_table_here(&info.def.name).await?;
    let mut d = description::table(ops.region(), &info, "DELETING");
    // DynamoDB's DeleteTable describes the table without its creation time,
    // key definitions, indexes and warm throughput, which DescribeTable
    // includes.
    if let Some(o) = d.as_object_mut() {
        for field in [
            "WarmThroughput",
            "CreationDateTime",
            "KeySchema",
            "AttributeDefinitions",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
        ] {
            o.remove(field);
        }
    }
    Ok(json!({"TableDescription": d}))
}

pub async fn update_ttl(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    let spec = r.obj("TimeToLiveSpecification")?;
    let enabled = spec
        .opt_bool("Enabled")?
        .ok_or_else(|| crate::req::missing("Enabled"))?;
    let attribute = spec.str("AttributeName")?;
    if attribute.is_empty() || attribute.len() > 255 {
        let bound = if attribute.is_empty() {
            "greater than or equal to 1"
        } else {
            "less than or equal to 255"
        };
        return Err(ApiError::constraint(format!(
            "Value '{attribute}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    let info = ops.describe(table).await?;
    meridian_core::replicas::disassociate::check_shared_change(&info.def, "Time to Live")?;
    match (&info.ttl_attribute, enabled) {
        (Some(_), true) => return Err(ApiError::validation("TimeToLive is already enabled")),
        (None, false) => return Err(ApiError::validation("TimeToLive is already disabled")),
        (Some(current), false) if current != attribute => {
            return Err(ApiError::validation(format!(
                "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
            )));
        }
        _ => {}
    }
    ops.write(vec![CatalogChange::SetTtl {
        table: table.to_string(),
        attribute: enabled.then(|| attribute.to_string()),
    }])
    .await?;
    Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}))
}

pub async fn describe_ttl(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let info = ops.describe(r.table_name()?).await?;
    Ok(match info.ttl_attribute {
        Some(a) => {
            json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
        }
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}
