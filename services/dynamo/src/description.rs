//! A table's description, DescribeTable's shape, in one place: CreateTable,
//! DescribeTable, UpdateTable, DeleteTable and both restores answer with
//! it, so they never disagree on a member. It is composed here from the
//! table's definition and settings, its indexes ([`crate::indexes`]), its
//! latest stream, and the `RestoreSummary` of a table this region restored.

use meridian_core::KeySchema;
use meridian_core::settings::Billing;
use meridian_region::ops::{RegionHandle, TableInfo};
use serde_json::{Value as Json, json};

use meridian_core::replicas::authorize;

use crate::arn::{backup_arn, stream_arn, stream_label, table_arn, table_id};
use crate::error::ApiResult;

/// A time as DynamoDB's answers give one: seconds since the epoch, with
/// the fraction, from µs.
pub fn seconds(micros: u64) -> f64 {
    micros as f64 / 1e6
}

/// `KeySchema` as DynamoDB lists it: the partition key (`HASH`), then the
/// sort key (`RANGE`) if there is one.
pub fn key_schema(ks: &KeySchema) -> Vec<Json> {
    let mut key_schema = vec![json!({"AttributeName": ks.partition.name, "KeyType": "HASH"})];
    if let Some(s) = &ks.sort {
        key_schema.push(json!({"AttributeName": s.name, "KeyType": "RANGE"}));
    }
    key_schema
}

/// The description of table `t` in `region`, with `status` as its
/// `TableStatus`. `AttributeDefinitions` lists every key attribute of the
/// table and its indexes, as [`crate::indexes::describe`] adds them.
pub fn table(region: &str, t: &TableInfo, status: &str) -> Json {
    let arn = authorize::replica_arn(&t.def, region);
    // A replica whose policy withholds replication says so, as DynamoDB's.
    let status = if status == "ACTIVE" && t.not_authorized.iter().any(|r| r == region) {
        NOT_AUTHORIZED
    } else {
        status
    };
    let created = seconds(t.version.hlc.physical);
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
    // DynamoDB describes a billing mode only for a table that is, or has
    // been, on demand: "You may need to switch to on-demand mode at least
    // once in order to return a BillingModeSummary response" (the API
    // reference's BillingModeSummary), and its recording of a table created
    // with `BillingMode: PROVISIONED` named has none (LocalStack's
    // test_gsi_with_billing_mode[PROVISIONED], recorded 2025-10-08). The
    // mode's time moves only with a change of mode, so a moved time is a
    // table that was on demand once.
    let billing_given = settings.billing == Billing::PayPerRequest
        || settings.billing_since != t.version.hlc.physical;
    let mut d = json!({
        "TableName": t.def.name,
        "TableStatus": status,
        "KeySchema": key_schema(&t.def.key_schema),
        "CreationDateTime": created,
        "ItemCount": t.item_count,
        "TableSizeBytes": t.size_bytes,
        "TableArn": arn,
        "TableId": table_id(&t.version),
        "ProvisionedThroughput": throughput,
        "DeletionProtectionEnabled": t.deletion_protected,
        "WarmThroughput": crate::warm::described(settings.billing, t.def.warm.as_deref().copied()),
    });
    if billing_given {
        d["BillingModeSummary"] = billing;
    }
    // Only the members set, and nothing when neither is, as AWS describes
    // an on-demand table (a live probe: `OnDemandThroughput` null until
    // set, `{"MaxReadRequestUnits": 200}` with one).
    if let Some(most) = crate::indexes::on_demand_described(settings.on_demand_max) {
        d["OnDemandThroughput"] = most;
    }
    global(&mut d, region, t);
    per_replica(&mut d, t);
    if let Some(stream) = &settings.stream {
        d["StreamSpecification"] =
            json!({"StreamEnabled": true, "StreamViewType": stream.view_type});
        latest_stream(&mut d, region, &t.def.name, stream.since);
    }
    crate::indexes::describe(&mut d, &arn, t);
    d
}

/// The description CreateTable answers with: [`table`]'s, CREATING, and
/// without `WarmThroughput` on its global indexes, nor on the table unless
/// one was asked for, which is then `UPDATING`. DynamoDB reports warm
/// throughput once the table is described (DescribeTable), as its
/// recorded answers show.
pub fn created(region: &str, t: &TableInfo) -> Json {
    let mut d = table(region, t, "CREATING");
    if t.def.warm.is_some() {
        d["WarmThroughput"]["Status"] = json!("UPDATING");
    } else if let Some(o) = d.as_object_mut() {
        o.remove("WarmThroughput");
    }
    if let Some(Json::Array(indexes)) = d.get_mut("GlobalSecondaryIndexes") {
        for i in indexes.iter_mut().filter_map(Json::as_object_mut) {
            i.remove("WarmThroughput");
        }
    }
    d
}

/// DynamoDB's settings synchronization mode of a global table in one
/// account.
const SETTINGS_MODE: &str = "ENABLED_WITH_OVERRIDES";
/// ... and of a multi-account global table, whose settings are all
/// synchronized, none a replica's own (the developer guide's multi-account
/// *How it works*).
const SETTINGS_MODE_MULTI_ACCOUNT: &str = "ENABLED";
/// The status of a table or replica whose resource-based policy withholds
/// replication (`meridian_core::replicas::authorize`).
const NOT_AUTHORIZED: &str = "REPLICATION_NOT_AUTHORIZED";

/// A global table's part of the description, as DynamoDB gives it once a
/// table has replicas in other regions: `GlobalTableVersion`, the other
/// regions' `Replicas` with their status (the region described is not
/// among them), `MultiRegionConsistency`, a STRONG table's
/// `GlobalTableWitnesses`, and `GlobalTableSettingsReplicationMode`,
/// which is `ENABLED_WITH_OVERRIDES` for the table and each replica, as
/// DynamoDB sets it for every global table within one account (settings
/// synchronized, some of them a replica's own; docs/dynamodb-compat.md).
/// A table held by its region alone has none.
fn global(d: &mut Json, region: &str, t: &TableInfo) {
    let mode = if authorize::multi_account(&t.def) {
        SETTINGS_MODE_MULTI_ACCOUNT
    } else {
        SETTINGS_MODE
    };
    let replicas: Vec<Json> = meridian_core::replicas::disassociate::listed(&t.def, region)
        .into_iter()
        .map(|(r, s)| {
            let status = match s.status.described_as() {
                "ACTIVE" if t.not_authorized.contains(r) => NOT_AUTHORIZED,
                other => other,
            };
            let mut replica = json!({
                "RegionName": r,
                "ReplicaStatus": status,
                "ReplicaArn": authorize::replica_arn(&t.def, r),
                "GlobalTableSettingsReplicationMode": mode,
            });
            // The key its `Create` named (ReplicaDescription's
            // `KMSMasterKeyId`), only when one was.
            if let Some(key) = &s.kms_key {
                replica["KMSMasterKeyId"] = json!(key);
            }
            replica
        })
        .collect();
    let strong = t.def.consistency.strong();
    if replicas.is_empty() && strong.is_none() {
        return;
    }
    d["GlobalTableVersion"] = json!("2019.11.21");
    d["Replicas"] = json!(replicas);
    d["MultiRegionConsistency"] = json!(t.def.consistency.as_str());
    d["GlobalTableSettingsReplicationMode"] = json!(mode);
    if let Some(w) = strong.and_then(|s| s.witness.as_ref()) {
        d["GlobalTableWitnesses"] = json!([{"RegionName": w, "WitnessStatus": "ACTIVE"}]);
    } else {
        // This replica's own, on unless turned off (MREC only).
        d["DisassociationProtectionEnabled"] = json!(t.disassociation_protected);
    }
}

/// Adds this replica's `TableClassSummary` and `SSEDescription` to the
/// description `d` of `t`, when they were set: stored as the members they
/// are ([`crate::replica`]).
fn per_replica(d: &mut Json, t: &TableInfo) {
    for (member, text) in [
        ("TableClassSummary", &t.table_class),
        ("SSEDescription", &t.sse),
    ] {
        if let Some(v) = text
            .as_deref()
            .and_then(|s| serde_json::from_str::<Json>(s).ok())
        {
            d[member] = v;
        }
    }
}

/// Names the stream of `table` enabled at `since` (µs) as the latest
/// stream of its description `d`.
fn latest_stream(d: &mut Json, region: &str, table: &str, since: u64) {
    d["LatestStreamArn"] = json!(stream_arn(region, table, since));
    d["LatestStreamLabel"] = json!(stream_label(since));
}

/// Adds `LatestStreamArn` and `LatestStreamLabel` to the description `d`
/// of `table` when its stream is disabled: DynamoDB keeps naming the
/// latest stream the table had, and leaves out only `StreamSpecification`.
pub async fn keep_latest_stream(ops: &RegionHandle, table: &str, d: &mut Json) -> ApiResult<()> {
    if d.get("LatestStreamArn").is_some() {
        return Ok(());
    }
    let name = table.to_string();
    if let Some(since) = ops.read(move |r| r.latest_stream_label(&name)).await? {
        latest_stream(d, ops.region(), table, since);
    }
    Ok(())
}

/// The description of `table` as it stands: ACTIVE, or CREATING while
/// this region loads it from a backup or a point in time or fills its new
/// replica from its peers, and with its
/// `RestoreSummary` when this region restored it. `from_backup` is the ARN
/// of the backup it was restored from, when the caller knows it.
pub async fn current(
    ops: &RegionHandle,
    table: &str,
    from_backup: Option<&str>,
) -> ApiResult<Json> {
    let info = ops.describe(table).await?;
    let restore = ops.restore_of(table, &info.version);
    let status = match &restore {
        Some(r) if r.in_progress => "CREATING",
        // A replica filling from its peers is a table being created here.
        _ if ops.creating_here(&info.def) => "CREATING",
        // One being disassociated is being updated, as DynamoDB's.
        _ if info
            .def
            .replica_states
            .get(ops.region())
            .is_some_and(|s| s.status == meridian_core::replicas::Status::Disassociating) =>
        {
            "UPDATING"
        }
        _ => "ACTIVE",
    };
    let mut d = self::table(ops.region(), &info, status);
    if let Some(r) = restore {
        let mut summary = json!({
            "SourceTableArn": table_arn(ops.region(), &r.source_table),
            "RestoreDateTime": seconds(r.restored_to),
            "RestoreInProgress": r.in_progress,
        });
        let backup = from_backup.map(str::to_string).or_else(|| {
            r.backup_id
                .as_ref()
                .map(|id| backup_arn(ops.region(), &r.source_table, id))
        });
        if let Some(backup) = backup {
            summary["SourceBackupArn"] = json!(backup);
        }
        d["RestoreSummary"] = summary;
    }
    Ok(d)
}
