//! CreateTable, DescribeTable, ListTables, DeleteTable and the TTL settings.

use meridian_core::settings::{
    Billing, MAX_CAPACITY_UNITS, SettingsChange, TableSettings, VIEW_TYPES,
};
use meridian_core::{KeyAttr, KeySchema, KeyType, TableDef};
use meridian_region::ops::{RegionHandle, TableInfo};
use meridian_store::WriteOp;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult, Kind};
use crate::req::Req;

/// The account id in ARNs: there is no account here.
pub const ACCOUNT: &str = "000000000000";

/// A table's ARN in `region`, as DescribeTable reports it.
pub fn table_arn(region: &str, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}")
}

pub fn describe_json(region: &str, t: &TableInfo, status: &str) -> Json {
    let ks = &t.def.key_schema;
    let mut key_schema = vec![json!({"AttributeName": ks.partition.name, "KeyType": "HASH"})];
    let mut defs = vec![
        json!({"AttributeName": ks.partition.name, "AttributeType": ks.partition.ty.as_str()}),
    ];
    if let Some(s) = &ks.sort {
        key_schema.push(json!({"AttributeName": s.name, "KeyType": "RANGE"}));
        defs.push(json!({"AttributeName": s.name, "AttributeType": s.ty.as_str()}));
    }
    let arn = table_arn(region, &t.def.name);
    let created = t.version.hlc.physical as f64 / 1e6;
    let seconds = |micros: u64| micros as f64 / 1e6;
    let settings = &t.settings;
    let (read, write) = settings.billing.units();
    let mut throughput = json!({"ReadCapacityUnits": read, "WriteCapacityUnits": write, "NumberOfDecreasesToday": 0});
    if let Some(at) = settings.last_increase {
        throughput["LastIncreaseDateTime"] = json!(seconds(at));
    }
    if let Some(at) = settings.last_decrease {
        throughput["LastDecreaseDateTime"] = json!(seconds(at));
    }
    let mut billing = json!({"BillingMode": settings.billing.mode()});
    if settings.billing == Billing::PayPerRequest {
        billing["LastUpdateToPayPerRequestDateTime"] = json!(seconds(settings.billing_since));
    }
    let mut d = json!({
        "TableName": t.def.name,
        "TableStatus": status,
        "KeySchema": key_schema,
        "AttributeDefinitions": defs,
        "CreationDateTime": created,
        "ItemCount": t.item_count,
        "TableSizeBytes": t.size_bytes,
        "TableArn": arn,
        "TableId": table_id(&t.version),
        "BillingModeSummary": billing,
        "ProvisionedThroughput": throughput,
        "GlobalTableVersion": "2019.11.21",
        "Replicas": t.def.replica_states.iter()
            .filter(|(_, s)| s.status.described())
            .map(|(r, s)| json!({"RegionName": r, "ReplicaStatus": s.status.as_str()}))
            .collect::<Vec<_>>(),
    });
    if let Some(stream) = &settings.stream {
        let label = stream_label(stream.since);
        d["StreamSpecification"] =
            json!({"StreamEnabled": true, "StreamViewType": stream.view_type});
        d["LatestStreamArn"] = json!(format!("{arn}/stream/{label}"));
        d["LatestStreamLabel"] = json!(label);
    }
    crate::indexes::describe(&mut d, &arn, t);
    d
}

/// A table's id, in DynamoDB's UUID form: derived from the catalog
/// version that created this incarnation, so every region gives the same
/// table the same id and a recreated table a new one.
pub fn table_id(incarnation: &meridian_core::Version) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(incarnation.to_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    // A version-4-shaped UUID (RFC 9562 layout), as DynamoDB's ids are.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A stream label as DynamoDB writes one: the UTC time the stream was
/// enabled, to the millisecond (`2015-05-11T21:21:33.291`).
pub fn stream_label(micros: u64) -> String {
    meridian_core::utc::format_millis(micros)
}

/// `ProvisionedThroughput` (or RestoreTableFromBackup's
/// `ProvisionedThroughputOverride`, named by `field`), checked as DynamoDB
/// checks it: both units present, at least 1, and within the per-table
/// quota.
fn throughput(r: &Req<'_>, field: &str) -> ApiResult<Option<(u64, u64)>> {
    let Some(tp) = r.opt_obj(field)? else {
        return Ok(None);
    };
    let path = crate::req::lower_first(field);
    let unit = |name: &str, member: &str| -> ApiResult<u64> {
        let at = format!("{path}.{member}");
        match tp.get(name) {
            None | Some(Json::Null) => Err(ApiError::validation(format!(
                "1 validation error detected: Value null at '{at}' failed to satisfy constraint: Member must not be null"
            ))),
            Some(v) => match v.as_i64() {
                Some(n) if n < 1 => Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{n}' at '{at}' failed to satisfy constraint: Member must have value greater than or equal to 1"
                ))),
                Some(n) if n as u64 > MAX_CAPACITY_UNITS => Err(ApiError::validation(format!(
                    "One or more parameter values were invalid: {name} {n} is above the per-table limit of {MAX_CAPACITY_UNITS}"
                ))),
                Some(n) => Ok(n as u64),
                None => Err(ApiError::new(
                    Kind::Serialization,
                    format!("{name} must be a whole number, got {v}"),
                )),
            },
        }
    };
    Ok(Some((
        unit("ReadCapacityUnits", "readCapacityUnits")?,
        unit("WriteCapacityUnits", "writeCapacityUnits")?,
    )))
}

/// `BillingMode` (or `BillingModeOverride`, named by `field`), if given.
fn billing_mode(r: &Req<'_>, field: &str) -> ApiResult<Option<&'static str>> {
    match r.opt_str(field)? {
        None => Ok(None),
        Some("PAY_PER_REQUEST") => Ok(Some("PAY_PER_REQUEST")),
        Some("PROVISIONED") => Ok(Some("PROVISIONED")),
        Some(mode) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{mode}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
            crate::req::lower_first(field)
        ))),
    }
}

/// The billing a new table asks for by `mode_field` and `throughput_field`
/// (CreateTable's, or a restore's overrides), by DynamoDB's rules: `None`
/// when it names neither; provisioned needs both units, on-demand takes
/// none.
pub(crate) fn billing(
    r: &Req<'_>,
    mode_field: &str,
    throughput_field: &str,
) -> ApiResult<Option<Billing>> {
    let units = throughput(r, throughput_field)?;
    match (billing_mode(r, mode_field)?, units) {
        (None, None) => Ok(None),
        (Some("PAY_PER_REQUEST"), None) => Ok(Some(Billing::PayPerRequest)),
        (Some("PAY_PER_REQUEST"), Some(_)) => Err(ApiError::validation(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (_, None) => Err(provisioned_needs_units()),
        (_, Some((read, write))) => Ok(Some(Billing::Provisioned { read, write })),
    }
}

fn provisioned_needs_units() -> ApiError {
    ApiError::validation(
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
    )
}

/// `StreamSpecification`: `Some(Some(view))` to enable a stream,
/// `Some(None)` to have none. `creating` picks DynamoDB's wording, which
/// differs between CreateTable and UpdateTable.
fn stream_spec(r: &Req<'_>, creating: bool) -> ApiResult<Option<Option<String>>> {
    let Some(spec) = r.opt_obj("StreamSpecification")? else {
        return Ok(None);
    };
    let enabled = spec.opt_bool("StreamEnabled")?.ok_or_else(|| {
        ApiError::validation(
            "1 validation error detected: Value null at 'streamSpecification.streamEnabled' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let view = spec.opt_str("StreamViewType")?;
    if let Some(v) = view
        && !VIEW_TYPES.contains(&v)
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{v}' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            VIEW_TYPES.join(", ")
        )));
    }
    let invalid = |m: &str| {
        Err(ApiError::validation(format!(
            "One or more parameter values were invalid: {m}"
        )))
    };
    match (enabled, view, creating) {
        (true, Some(v), _) => Ok(Some(Some(v.to_string()))),
        (false, None, _) => Ok(Some(None)),
        (true, None, true) => {
            invalid("Table is being created with a stream enabled, UpdateViewType is required")
        }
        (true, None, false) => {
            invalid("If stream is being enabled then UpdateViewType is required")
        }
        (false, Some(_), true) => invalid(
            "Table is being created with a stream disabled, UpdateViewType should not be specified",
        ),
        (false, Some(_), false) => {
            invalid("If stream is being disabled, then UpdateViewType must not be specified")
        }
    }
}

pub(crate) fn key_type(name: &str, defs: &[Json]) -> ApiResult<KeyType> {
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
        ApiError::validation(format!(
            "1 validation error detected: Value '{ty}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
        ))
    })
}

/// The member errors of one list of key schema elements or attribute
/// definitions at `list` (`keySchema`, `attributeDefinitions.…`): a name
/// missing or not 1 to 255 long, a type (`ty`: its path name and member)
/// missing.
fn key_member_errors(list: &str, members: &[Json], ty: (&str, &str), errors: &mut Vec<String>) {
    let (ty_at, ty) = ty;
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
        if m.get(ty).is_none_or(Json::is_null) {
            errors.push(format!(
                "Value null at '{at}.{ty_at}' failed to satisfy constraint: Member must not be null"
            ));
        }
    }
}

/// DynamoDB's summary of member errors: `N validation error(s) detected:`
/// and each, or nothing when there are none.
fn validation_errors(errors: Vec<String>) -> ApiResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    Err(ApiError::validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        errors.join("; ")
    )))
}

/// DynamoDB's member checks on `KeySchema` and `AttributeDefinitions`, and
/// on the key schemas of the indexes a request names, made before it
/// compares them: names present and 1 to 255 long, types present, no
/// attribute defined twice.
fn check_key_members(r: &Req<'_>, schema: &[Json], defs: &[Json]) -> ApiResult<()> {
    let mut errors = Vec::new();
    key_member_errors("keySchema", schema, ("keyType", "KeyType"), &mut errors);
    key_member_errors(
        "attributeDefinitions",
        defs,
        ("attributeType", "AttributeType"),
        &mut errors,
    );
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
                key_member_errors(&at, keys, ("keyType", "KeyType"), &mut errors);
            }
        }
    }
    validation_errors(errors)?;
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

pub async fn create(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let name = r.table_name()?;
    // BillingMode defaults to PROVISIONED, which needs its units.
    let billing =
        billing(&r, "BillingMode", "ProvisionedThroughput")?.ok_or_else(provisioned_needs_units)?;
    let stream = stream_spec(&r, true)?;
    let schema = r.arr("KeySchema")?;
    let defs = r.arr("AttributeDefinitions")?;
    check_key_members(&r, schema, defs)?;
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
    crate::indexes::check_definitions_used(&r, defs, &[hash, range.unwrap_or(hash)])?;
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
    let mut def = TableDef::new(name, KeySchema { partition, sort }, ops.regions())?;
    def.indexes = crate::indexes::parse_create(&r, defs, &def.key_schema, billing)?;
    def.stream_view_type = stream.flatten();
    def.billing = billing;
    let tags = r
        .opt_arr("Tags")?
        .filter(|t| !t.is_empty())
        .map(|t| crate::tags::parse_tags(t))
        .transpose()?;
    let written = ops.write(vec![WriteOp::CreateTable(def.clone())]).await?;
    // A catalog change stands alone, so the tags follow the creation.
    if let Some(tags) = tags {
        let arn = table_arn(ops.region(), name);
        crate::tags::write(ops, &arn, name, tags, Vec::new()).await?;
    }
    let version = written[0].version.clone();
    let indexes = def
        .indexes
        .iter()
        .map(|i| meridian_region::ops::IndexState {
            def: i.clone(),
            building: false,
            stats: Default::default(),
        })
        .collect();
    let info = TableInfo {
        settings: TableSettings::initial(&def, &version),
        def,
        version,
        item_count: 0,
        size_bytes: 0,
        ttl_attribute: None,
        indexes,
    };
    // DynamoDB answers CREATING and SDK waiters poll DescribeTable until
    // ACTIVE. Here the table takes writes as soon as it is created, so it
    // is ACTIVE from the first DescribeTable on.
    Ok(json!({"TableDescription": describe_json(ops.region(), &info, "CREATING")}))
}

/// DescribeTable: ACTIVE, or CREATING while this region loads the table
/// from a backup (with its `RestoreSummary`).
pub async fn describe(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let table = r.table_name()?;
    let mut d = crate::backups::describe_restored(ops, table, None).await?;
    keep_latest_stream(ops, table, &mut d).await?;
    Ok(json!({"Table": d}))
}

/// Adds `LatestStreamArn` and `LatestStreamLabel` to the description `d`
/// of `table` when its stream is disabled: DynamoDB keeps naming the
/// latest stream the table had, and leaves out only `StreamSpecification`.
async fn keep_latest_stream(ops: &RegionHandle, table: &str, d: &mut Json) -> ApiResult<()> {
    if d.get("LatestStreamArn").is_some() {
        return Ok(());
    }
    let name = table.to_string();
    if let Some(label) = ops.read(move |r| r.latest_stream_label(&name)).await? {
        let label = stream_label(label);
        d["LatestStreamArn"] = json!(format!("{}/stream/{label}", table_arn(ops.region(), table)));
        d["LatestStreamLabel"] = json!(label);
    }
    Ok(())
}

/// UpdateTable: billing mode, provisioned throughput and the stream, or
/// the replica set (`ReplicaUpdates`). Secondary indexes are refused by
/// name.
pub async fn update(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let table = r.table_name()?;
    if let Some(updates) = r.opt_arr("GlobalSecondaryIndexUpdates")? {
        // What the rules need, without DescribeTable's count of the items.
        let (def, _) = ops.table(table).await?;
        let name = table.to_string();
        let (building, settings) = ops
            .read(move |r| Ok((r.indexes_building(&name)?, r.settings(&name)?)))
            .await?;
        let billing = settings.ok_or_else(ApiError::not_found)?.billing;
        let defs = r.opt_arr("AttributeDefinitions")?.map(Vec::as_slice);
        let mut errors = Vec::new();
        if let Some(defs) = defs {
            key_member_errors(
                "attributeDefinitions",
                defs,
                ("attributeType", "AttributeType"),
                &mut errors,
            );
        }
        for (i, u) in updates.iter().enumerate() {
            if let Some(Json::Array(keys)) = u.get("Create").and_then(|c| c.get("KeySchema")) {
                let at = format!(
                    "globalSecondaryIndexUpdates.{}.member.create.keySchema",
                    i + 1
                );
                key_member_errors(&at, keys, ("keyType", "KeyType"), &mut errors);
            }
        }
        validation_errors(errors)?;
        let changes = crate::indexes::parse_updates(updates, defs, billing, &def, &building)?;
        let others = [
            "BillingMode",
            "ProvisionedThroughput",
            "StreamSpecification",
            "ReplicaUpdates",
        ];
        let other = others.iter().find(|f| r.get(f).is_some());
        match (changes.into_iter().next(), other) {
            (Some(_), Some(&("BillingMode" | "ProvisionedThroughput"))) => {
                return Err(ApiError::validation(
                    "One or more parameter values were invalid: You cannot create or delete index while updating table IOPS",
                ));
            }
            (Some(_), Some(&"StreamSpecification")) => {
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
                ops.write(vec![WriteOp::UpdateIndex {
                    table: table.to_string(),
                    change,
                }])
                .await?;
            }
            // Only index `Update`s, which change nothing here: the rest
            // of the request goes on below.
            (None, Some(_)) => {}
            (None, None) => {}
        }
        if other.is_none() {
            let info = ops.describe(table).await?;
            return Ok(json!({"TableDescription": describe_json(ops.region(), &info, "UPDATING")}));
        }
    }
    if let Some(updates) = r.opt_arr("ReplicaUpdates")? {
        let settings = [
            "BillingMode",
            "ProvisionedThroughput",
            "StreamSpecification",
        ];
        if let Some(other) = settings.iter().find(|f| r.get(f).is_some()) {
            return Err(ApiError::validation(format!(
                "ReplicaUpdates cannot be combined with {other} in one UpdateTable request; send them separately"
            )));
        }
        let change = replica_updates(updates)?;
        let info = ops.change_replicas(table, &change).await?;
        return Ok(json!({"TableDescription": describe_json(ops.region(), &info, "UPDATING")}));
    }
    let change = SettingsChange {
        mode: billing_mode(&r, "BillingMode")?,
        throughput: throughput(&r, "ProvisionedThroughput")?,
        stream: stream_spec(&r, false)?,
    };
    ops.write(vec![WriteOp::UpdateSettings {
        table: table.to_string(),
        change,
    }])
    .await?;
    let info = ops.describe(table).await?;
    let mut d = describe_json(ops.region(), &info, "UPDATING");
    keep_latest_stream(ops, table, &mut d).await?;
    Ok(json!({"TableDescription": d}))
}

/// `ReplicaUpdates`, as DynamoDB's 2019.11.21 global tables take it: each
/// member is one `Create` or `Delete` naming a `RegionName`. `Update` (a
/// replica's own throughput or class) has nothing to change here.
fn replica_updates(updates: &[Json]) -> ApiResult<meridian_core::replicas::Change> {
    let mut change = meridian_core::replicas::Change::default();
    if updates.is_empty() || updates.len() > 10 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'replicaUpdates' failed to satisfy constraint: Member must have length between 1 and 10, got {}",
            updates.len()
        )));
    }
    for (i, u) in updates.iter().enumerate() {
        let Some(u) = u.as_object().map(Req) else {
            return Err(ApiError::new(
                crate::error::Kind::Serialization,
                format!("ReplicaUpdates[{i}] must be an object"),
            ));
        };
        let actions: Vec<&str> = ["Create", "Update", "Delete"]
            .into_iter()
            .filter(|a| u.get(a).is_some())
            .collect();
        let region = |action: &str| -> ApiResult<String> {
            let a = u.obj(action)?;
            let name = a.str("RegionName")?;
            meridian_core::schema::validate_region_name(name).map_err(|_| {
                ApiError::validation(format!(
                    "ReplicaUpdates[{i}].{action}.RegionName: {name:?} is not a region name"
                ))
            })?;
            Ok(name.to_string())
        };
        match actions.as_slice() {
            ["Create"] => change.create.push(region("Create")?),
            ["Delete"] => change.delete.push(region("Delete")?),
            ["Update"] => {
                return Err(ApiError::validation(format!(
                    "ReplicaUpdates[{i}].Update: a replica's own settings (throughput, table class, indexes) are not supported; every replica has the table's"
                )));
            }
            _ => {
                return Err(ApiError::validation(format!(
                    "ReplicaUpdates[{i}] must contain exactly one of Create, Update or Delete"
                )));
            }
        }
    }
    Ok(change)
}

pub async fn list(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let limit = r.limit("Limit", Some(100))?.unwrap_or(100) as usize;
    let after = r.opt_str("ExclusiveStartTableName")?.unwrap_or("");
    let names = ops.list_tables(after, limit).await?;
    let mut out = json!({"TableNames": names});
    if names.len() == limit
        && let Some(last) = names.last()
    {
        out["LastEvaluatedTableName"] = json!(last);
    }
    Ok(out)
}

pub async fn delete(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let info = ops.describe(r.table_name()?).await?;
    ops.write(vec![WriteOp::DeleteTable(info.def.name.clone())])
        .await?;
    let mut d = describe_json(ops.region(), &info, "DELETING");
    // DynamoDB's DeleteTable describes the table without its creation time,
    // key definitions and indexes, which DescribeTable includes.
    if let Some(o) = d.as_object_mut() {
        for field in [
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

pub async fn update_ttl(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
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
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{attribute}' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length {bound}"
        )));
    }
    let info = ops.describe(table).await?;
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
    ops.write(vec![WriteOp::SetTtl {
        table: table.to_string(),
        attribute: enabled.then(|| attribute.to_string()),
    }])
    .await?;
    Ok(json!({"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}))
}

pub async fn describe_ttl(ops: &RegionHandle, r: Req<'_>) -> ApiResult<Json> {
    let info = ops.describe(r.table_name()?).await?;
    Ok(match info.ttl_attribute {
        Some(a) => {
            json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
        }
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}
