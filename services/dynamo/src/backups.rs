//! On-demand backups: CreateBackup, DescribeBackup, ListBackups,
//! DeleteBackup and RestoreTableFromBackup, with DynamoDB's shapes and
//! errors. A backup belongs to the region that took it, as in DynamoDB: its
//! ARN names that region, and another region answers
//! `BackupNotFoundException` for it.

use meridian_region::backups::{BackupError, BackupRecord, RestoreOptions};
use meridian_region::ops::{OpError, RegionHandle};
use meridian_store::pitr::{MAX_PERIOD_DAYS, Pitr};
use serde_json::{Value as Json, json};

use crate::arn::{backup_arn, backup_id, table_arn, table_id};
use crate::description::{self, key_schema, seconds};
use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;
use crate::settings::billing;

fn not_found(arn: &str) -> ApiError {
    ApiError::new(Kind::BackupNotFound, format!("Backup not found: {arn}"))
}

/// The record of the backup `BackupArn` names.
fn find(ops: &RegionHandle, r: &Req<'_>) -> ApiResult<(String, BackupRecord)> {
    let arn = r.str("BackupArn")?;
    let id = backup_id(ops.region(), arn).ok_or_else(|| not_found(arn))?;
    let record = ops.backup(id).map_err(|_| not_found(arn))?;
    // The ARN must also name the backed-up table.
    if backup_arn(ops.region(), &record.meta.def.name, id) != arn {
        return Err(not_found(arn));
    }
    Ok((arn.to_string(), record))
}

fn details(region: &str, b: &BackupRecord, status: &str) -> Json {
    json!({
        "BackupArn": backup_arn(region, &b.meta.def.name, &b.id),
        "BackupName": b.meta.name,
        "BackupSizeBytes": b.size_bytes,
        "BackupStatus": status,
        "BackupType": "USER",
        "BackupCreationDateTime": seconds(b.meta.created_micros),
    })
}

/// A backup's `BackupDescription`: its details and its table's as backed up.
fn backup_description(region: &str, b: &BackupRecord, status: &str) -> Json {
    let def = &b.meta.def;
    let (read, write) = def.billing.units();
    json!({
        "BackupDetails": details(region, b, status),
        "SourceTableDetails": {
            "TableName": def.name,
            "TableId": table_id(&b.meta.incarnation),
            "TableArn": table_arn(region, &def.name),
            "TableSizeBytes": b.meta.item_bytes,
            "KeySchema": key_schema(&def.key_schema),
            "TableCreationDateTime": seconds(b.meta.incarnation.hlc.physical),
            "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
            "ItemCount": b.meta.items,
            "BillingMode": def.billing.mode(),
        },
        "SourceTableFeatureDetails": {},
    })
}

impl From<BackupError> for ApiError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Op(OpError::TableNotFound(t)) => {
                ApiError::new(Kind::TableNotFound, format!("Table not found: {t}"))
            }
            BackupError::Op(OpError::TableExists(t)) => ApiError::new(
                Kind::TableAlreadyExists,
                format!("Table already exists: {t}"),
            ),
            BackupError::Op(e) => e.into(),
            BackupError::NotFound(id) => {
                ApiError::new(Kind::BackupNotFound, format!("Backup not found: {id}"))
            }
            BackupError::InUse(_) => ApiError::new(
                Kind::BackupInUse,
                "Backup is being used to restore a table; delete it once the restore is done",
            ),
            BackupError::InvalidName { name, constraint } => ApiError::constraint(format!(
                "Value '{name}' at 'backupName' failed to satisfy constraint: {constraint}"
            )),
            e @ (BackupError::NotAReplica { .. } | BackupError::UnknownRegion(_)) => {
                ApiError::validation(format!("One or more parameter values were invalid: {e}"))
            }
            e @ BackupError::Io { .. } => ApiError::new(Kind::InternalServerError, e.to_string()),
        }
    }
}

pub async fn create(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    let name = r.str("BackupName")?;
    let record = ops.create_backup(table, name).await?;
    Ok(json!({"BackupDetails": details(ops.region(), &record, "AVAILABLE")}))
}

pub async fn describe(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let (_, record) = find(ops, &r)?;
    Ok(json!({"BackupDescription": backup_description(ops.region(), &record, "AVAILABLE")}))
}

pub async fn delete(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let (_, record) = find(ops, &r)?;
    let deleted = ops.delete_backup(&record.id)?;
    Ok(json!({"BackupDescription": backup_description(ops.region(), &deleted, "DELETED")}))
}

pub async fn list(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = match r.get("TableName") {
        Some(_) => Some(r.table_name()?),
        None => None,
    };
    let limit = r.limit("Limit", Some(100))?.unwrap_or(100) as usize;
    let kinds = ["USER", "SYSTEM", "AWS_BACKUP", "ALL"];
    let kind = r.opt_str("BackupType")?.unwrap_or("USER");
    if !kinds.contains(&kind) {
        return Err(ApiError::constraint(format!(
            "Value '{kind}' at 'backupType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            kinds.join(", ")
        )));
    }
    let (from, until) = (
        instant(&r, "TimeRangeLowerBound")?,
        instant(&r, "TimeRangeUpperBound")?,
    );
    // Every backup here is a user's: this region takes no others.
    let mut backups: Vec<BackupRecord> = if matches!(kind, "USER" | "ALL") {
        ops.list_backups()
    } else {
        Vec::new()
    };
    backups.retain(|b| {
        let at = b.meta.created_micros;
        table.is_none_or(|t| b.meta.def.name == t)
            && from.is_none_or(|f| at >= f)
            && until.is_none_or(|u| at < u)
    });
    let region = ops.region();
    let arn = |b: &BackupRecord| backup_arn(region, &b.meta.def.name, &b.id);
    // Ids begin with their creation time, so the listing (in id order)
    // resumes after the start key even if that backup was deleted since.
    if let Some(start) = r.opt_str("ExclusiveStartBackupArn")? {
        let after = backup_id(region, start).unwrap_or(start);
        backups.retain(|b| b.id.as_str() > after);
    }
    let more = backups.len() > limit;
    backups.truncate(limit);
    let summaries: Vec<Json> = backups
        .iter()
        .map(|b| {
            json!({
                "TableName": b.meta.def.name,
                "TableId": table_id(&b.meta.incarnation),
                "TableArn": table_arn(region, &b.meta.def.name),
                "BackupArn": arn(b),
                "BackupName": b.meta.name,
                "BackupCreationDateTime": seconds(b.meta.created_micros),
                "BackupStatus": "AVAILABLE",
                "BackupType": "USER",
                "BackupSizeBytes": b.size_bytes,
            })
        })
        .collect();
    let mut out = json!({"BackupSummaries": summaries});
    if more && let Some(last) = backups.last() {
        out["LastEvaluatedBackupArn"] = json!(arn(last));
    }
    Ok(out)
}

pub async fn restore(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, caller, r) = (&front.ops, req.caller, req.body());
    let target = r.str("TargetTableName")?;
    meridian_core::schema::validate_table_name(target).map_err(|e| {
        ApiError::constraint(format!(
            "Value '{target}' at 'targetTableName' failed to satisfy constraint: {}",
            e.to_string().trim_start_matches("TableName: ")
        ))
    })?;
    refuse_index_overrides(&r)?;
    let billing = billing(&r, "BillingModeOverride", "ProvisionedThroughputOverride")?;
    let (arn, record) = find(ops, &r)?;
    if ops.table(target).await.is_ok() {
        return Err(ApiError::new(
            Kind::TableAlreadyExists,
            format!("Table already exists: {target}"),
        ));
    }
    let options = RestoreOptions {
        billing,
        // A restored table is made like CreateTable's (`dynamodb_create_table`).
        replicas: Some(ops.create_table_regions()),
        owner: caller,
    };
    ops.restore_backup(&record.id, target, options).await?;
    Ok(json!({"TableDescription": description::current(ops, target, Some(&arn)).await?}))
}

/// The name of a table that must exist for a backup operation: a missing
/// one is `TableNotFoundException`, as those operations name it.
async fn existing<'a>(ops: &RegionHandle, name: &'a str) -> ApiResult<&'a str> {
    match ops.table(name).await {
        Err(OpError::TableNotFound(_)) => Err(ApiError::new(
            Kind::TableNotFound,
            format!("Table not found: {name}"),
        )),
        other => other.map(|_| name).map_err(ApiError::from),
    }
}

/// `ContinuousBackupsDescription` of a table here: on-demand backups are
/// always on; point-in-time recovery as set, with its window now.
fn continuous(ops: &RegionHandle, pitr: Option<Pitr>) -> Json {
    let recovery = match pitr {
        None => json!({"PointInTimeRecoveryStatus": "DISABLED"}),
        Some(p) => {
            let now = ops.real_now_micros();
            json!({
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": p.period_days,
                "EarliestRestorableDateTime": seconds(p.earliest(now)),
                "LatestRestorableDateTime": seconds(now),
            })
        }
    };
    json!({"ContinuousBackupsDescription": {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": recovery,
    }})
}

/// DescribeContinuousBackups.
pub async fn describe_continuous(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let name = existing(ops, r.table_name()?).await?;
    Ok(continuous(ops, ops.pitr(name).await?))
}

/// UpdateContinuousBackups: point-in-time recovery on (with
/// `RecoveryPeriodInDays`, 35 by default) or off, in this region; as in
/// DynamoDB's global tables, each replica has its own.
pub async fn update_continuous(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let name = r.table_name()?;
    let spec = r.obj("PointInTimeRecoverySpecification")?;
    let enabled = spec.opt_bool("PointInTimeRecoveryEnabled")?.ok_or_else(|| {
        ApiError::constraint(
            "Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy constraint: Member must not be null",
        )
    })?;
    let days = match spec.opt_u64("RecoveryPeriodInDays")? {
        None => MAX_PERIOD_DAYS,
        Some(d) if (1..=u64::from(MAX_PERIOD_DAYS)).contains(&d) => d as u32,
        Some(d) => {
            return Err(ApiError::constraint(format!(
                "Value '{d}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: Member must have value between 1 and {MAX_PERIOD_DAYS}"
            )));
        }
    };
    if !enabled && spec.get("RecoveryPeriodInDays").is_some() {
        return Err(ApiError::validation(
            "RecoveryPeriodInDays may be given only when PointInTimeRecoveryEnabled is true",
        ));
    }
    let name = existing(ops, name).await?;
    let pitr = ops.set_pitr(name, enabled.then_some(days)).await?;
    Ok(continuous(ops, pitr))
}

/// A time member (`RestoreDateTime`, ListBackups' bounds) in seconds since
/// the epoch, as µs.
fn instant(r: &Req<'_>, name: &str) -> ApiResult<Option<u64>> {
    match r.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|s| *s >= 0.0)
            .map(|s| Some((s * 1e6) as u64))
            .ok_or_else(|| {
                ApiError::new(
                    Kind::Serialization,
                    format!("{name} must be a timestamp (seconds since the epoch)"),
                )
            }),
    }
}

/// RestoreTableToPointInTime: a new table as the source was at
/// `RestoreDateTime` (or the latest restorable time) in this region.
pub async fn restore_to_time(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, caller, r) = (&front.ops, req.caller, req.body());
    let source = match (r.opt_str("SourceTableName")?, r.opt_str("SourceTableArn")?) {
        (Some(name), None) => name,
        (None, Some(arn)) => arn
            .strip_prefix(&meridian_core::account::table_arn(ops.region(), caller, ""))
            .filter(|n| !n.contains('/'))
            .ok_or_else(|| ApiError::new(Kind::TableNotFound, format!("Table not found: {arn}")))?,
        (None, None) => {
            return Err(ApiError::validation(
                "One of SourceTableName or SourceTableArn must be given",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "SourceTableName and SourceTableArn cannot both be given",
            ));
        }
    };
    let target = r.str("TargetTableName")?;
    meridian_core::schema::validate_table_name(target).map_err(|e| {
        ApiError::constraint(format!(
            "Value '{target}' at 'targetTableName' failed to satisfy constraint: {}",
            e.to_string().trim_start_matches("TableName: ")
        ))
    })?;
    refuse_index_overrides(&r)?;
    let latest = r.opt_bool("UseLatestRestorableTime")?.unwrap_or(false);
    let at = match (latest, instant(&r, "RestoreDateTime")?) {
        (true, None) => None,
        (false, Some(at)) => Some(at),
        (true, Some(_)) => {
            return Err(ApiError::validation(
                "RestoreDateTime cannot be given when UseLatestRestorableTime is true",
            ));
        }
        (false, None) => {
            return Err(ApiError::validation(
                "RestoreDateTime must be given unless UseLatestRestorableTime is true",
            ));
        }
    };
    let billing = billing(&r, "BillingModeOverride", "ProvisionedThroughputOverride")?;
    let source = existing(ops, source).await?;
    let options = RestoreOptions {
        billing,
        // A restored table is made like CreateTable's (`dynamodb_create_table`).
        replicas: Some(ops.create_table_regions()),
        owner: caller,
    };
    ops.restore_to_time(source, at, target, options).await?;
    Ok(json!({"TableDescription": description::current(ops, target, None).await?}))
}

/// Secondary-index overrides are refused: a restored table has the
/// backup's indexes, as backed up.
fn refuse_index_overrides(r: &Req<'_>) -> ApiResult<()> {
    for unsupported in [
        "GlobalSecondaryIndexOverride",
        "LocalSecondaryIndexOverride",
    ] {
        if r.opt_arr(unsupported)?.is_some_and(|a| !a.is_empty()) {
            return Err(ApiError::validation(format!(
                "{unsupported} is not supported by this endpoint: the restored table has the backup's secondary indexes; see docs/dynamodb-compat.md"
            )));
        }
    }
    Ok(())
}
