//! CreateTable, DescribeTable, ListTables, DeleteTable and the TTL settings.

use meridian_core::{KeyAttr, KeySchema, KeyType, TableDef};
use meridian_region::ops::{Ops, TableInfo};
use meridian_store::WriteOp;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult};
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
    let mut d = json!({
        "TableName": t.def.name,
        "TableStatus": status,
        "KeySchema": key_schema,
        "AttributeDefinitions": defs,
        "CreationDateTime": created,
        "ItemCount": t.item_count,
        "TableSizeBytes": t.size_bytes,
        "TableArn": arn,
        "TableId": t.version.to_string(),
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": created},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0},
        "GlobalTableVersion": "2019.11.21",
        "Replicas": t.def.replicas.iter().map(|r| json!({"RegionName": r, "ReplicaStatus": "ACTIVE"})).collect::<Vec<_>>(),
    });
    if let Some(view) = &t.def.stream_view_type {
        d["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": view});
        d["LatestStreamArn"] = json!(format!("{arn}/stream/{}", t.version.hlc.physical));
        d["LatestStreamLabel"] = json!(t.version.hlc.physical.to_string());
    }
    d
}

fn key_type(name: &str, defs: &[Json]) -> ApiResult<KeyType> {
    let def = defs
        .iter()
        .find(|d| d.get("AttributeName").and_then(Json::as_str) == Some(name))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{name}], AttributeDefinitions: []"
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

pub async fn create(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let name = r.table_name()?;
    for unsupported in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        if r.opt_arr(unsupported)?.is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::validation(format!(
                "{unsupported} are not supported by this endpoint yet; see docs/dynamodb-compat.md"
            )));
        }
    }
    if r.opt_str("BillingMode")? == Some("PROVISIONED")
        && r.opt_obj("ProvisionedThroughput")?.is_none()
    {
        return Err(ApiError::validation(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ));
    }
    if let Some(mode) = r.opt_str("BillingMode")?
        && mode != "PAY_PER_REQUEST"
        && mode != "PROVISIONED"
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{mode}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )));
    }
    let schema = r.arr("KeySchema")?;
    let defs = r.arr("AttributeDefinitions")?;
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
    let key_names: Vec<&str> = std::iter::once(hash).chain(range).collect();
    if let Some(extra) = defs
        .iter()
        .filter_map(|d| d.get("AttributeName").and_then(Json::as_str))
        .find(|n| !key_names.contains(n))
    {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions; {extra} is not a key attribute"
        )));
    }
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
    if let Some(stream) = r.opt_obj("StreamSpecification")?
        && stream.opt_bool("StreamEnabled")? == Some(true)
    {
        let view = stream
            .opt_str("StreamViewType")?
            .unwrap_or("NEW_AND_OLD_IMAGES");
        if !["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"].contains(&view) {
            return Err(ApiError::validation(format!(
                "StreamViewType {view} is not one of KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES"
            )));
        }
        def.stream_view_type = Some(view.to_string());
    }
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
    let info = TableInfo {
        def,
        version: written[0].version.clone(),
        item_count: 0,
        size_bytes: 0,
        ttl_attribute: None,
    };
    Ok(json!({"TableDescription": describe_json(ops.region(), &info, "ACTIVE")}))
}

pub async fn describe(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let info = ops.describe(r.table_name()?).await?;
    Ok(json!({"Table": describe_json(ops.region(), &info, "ACTIVE")}))
}

pub async fn list(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let limit = match r.opt_u64("Limit")? {
        None => 100,
        Some(n @ 1..=100) => n as usize,
        Some(n) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100 and greater than or equal to 1"
            )));
        }
    };
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

pub async fn delete(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let info = ops.describe(r.table_name()?).await?;
    ops.write(vec![WriteOp::DeleteTable(info.def.name.clone())])
        .await?;
    Ok(json!({"TableDescription": describe_json(ops.region(), &info, "DELETING")}))
}

pub async fn update_ttl(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let table = r.table_name()?;
    let spec = r.obj("TimeToLiveSpecification")?;
    let enabled = spec
        .opt_bool("Enabled")?
        .ok_or_else(|| crate::req::missing("Enabled"))?;
    let attribute = spec.str("AttributeName")?;
    if attribute.is_empty() || attribute.len() > 255 {
        return Err(ApiError::validation(
            "TimeToLiveSpecification.AttributeName must be 1 to 255 characters",
        ));
    }
    let info = ops.describe(table).await?;
    match (&info.ttl_attribute, enabled) {
        (Some(_), true) => return Err(ApiError::validation("TimeToLive is already enabled")),
        (None, false) => return Err(ApiError::validation("TimeToLive is already disabled")),
        (Some(current), false) if current != attribute => {
            return Err(ApiError::validation(format!(
                "TimeToLive is enabled on attribute {current}, not {attribute}"
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

pub async fn describe_ttl(ops: &Ops, r: Req<'_>) -> ApiResult<Json> {
    let info = ops.describe(r.table_name()?).await?;
    Ok(match info.ttl_attribute {
        Some(a) => {
            json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": a}})
        }
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}
