//! UpdateTableReplicaAutoScaling and DescribeTableReplicaAutoScaling: a
//! provisioned table's auto scaling settings on the wire, in DynamoDB's
//! shapes (`AutoScalingSettingsUpdate` in, `TableAutoScalingDescription`
//! out). The rules and the stored settings are
//! `meridian_core::autoscaling`'s: the write settings synchronized across
//! the replicas, the read settings per replica; each region's scaling
//! worker moves its own replica's units (docs/dynamodb-compat.md, *Auto
//! scaling*).

use meridian_core::autoscaling::{AutoScaling, Policy, PolicyUpdate, ScalingUpdate, TargetUpdate};
use meridian_core::settings::SettingsChange;
use meridian_store::CatalogChange;
use serde_json::{Value as Json, json};

use crate::arn::ACCOUNT;
use crate::error::{ApiError, ApiResult};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;

/// The role Application Auto Scaling acts as for a DynamoDB table: its
/// service-linked role, which DynamoDB describes when none was named.
fn role_arn() -> String {
    format!(
        "arn:aws:iam::{ACCOUNT}:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"
    )
}

/// UpdateTableReplicaAutoScaling: the table's write settings
/// (`ProvisionedWriteCapacityAutoScalingUpdate`) and replicas' read
/// settings (`ReplicaUpdates`), checked whole before anything is written.
pub async fn update(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    crate::tables::refuse_while_paused(ops, table)?;
    if r.opt_arr("GlobalSecondaryIndexUpdates")?
        .is_some_and(|a| !a.is_empty())
    {
        return Err(index_scaling("GlobalSecondaryIndexUpdates"));
    }
    let write = r
        .opt_obj("ProvisionedWriteCapacityAutoScalingUpdate")?
        .map(|u| policy_update(u, "ProvisionedWriteCapacityAutoScalingUpdate".into()))
        .transpose()?;
    let mut read = Vec::new();
    for (i, u) in r
        .opt_arr("ReplicaUpdates")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(u) = u.as_object().map(Req) else {
            return Err(ApiError::validation(format!(
                "ReplicaUpdates[{i}] must be an object"
            )));
        };
        let region = u.str("RegionName")?;
        if u.opt_arr("ReplicaGlobalSecondaryIndexUpdates")?
            .is_some_and(|a| !a.is_empty())
        {
            return Err(index_scaling(&format!(
                "ReplicaUpdates[{i}].ReplicaGlobalSecondaryIndexUpdates"
            )));
        }
        let field = format!("ReplicaUpdates[{i}].ReplicaProvisionedReadCapacityAutoScalingUpdate");
        if let Some(p) = u.opt_obj("ReplicaProvisionedReadCapacityAutoScalingUpdate")? {
            read.push((region.to_string(), policy_update(p, field)?));
        }
    }
    if write.is_none() && read.is_empty() {
        return Err(ApiError::validation(
            "UpdateTableReplicaAutoScaling needs ProvisionedWriteCapacityAutoScalingUpdate or a ReplicaUpdates member with ReplicaProvisionedReadCapacityAutoScalingUpdate",
        ));
    }
    ops.write(vec![CatalogChange::UpdateSettings {
        table: table.to_string(),
        change: SettingsChange {
            scaling: Some(ScalingUpdate { write, read }),
            ..Default::default()
        },
    }])
    .await?;
    Ok(json!({"TableAutoScalingDescription": described(front, table).await?}))
}

/// DescribeTableReplicaAutoScaling.
pub async fn describe(front: &Front, req: &Request) -> ApiResult<Json> {
    let table = req.body().table_name()?;
    Ok(json!({"TableAutoScalingDescription": described(front, table).await?}))
}

/// Auto scaling of an index's units is not modelled (docs/limits.md).
fn index_scaling(field: &str) -> ApiError {
    ApiError::validation(format!(
        "{field}: auto scaling of a global secondary index's units is not supported by this endpoint; see docs/limits.md"
    ))
}

/// `AutoScalingSettingsUpdate` at `field`.
fn policy_update(u: Req<'_>, field: String) -> ApiResult<PolicyUpdate> {
    let units = |name: &str| -> ApiResult<Option<u64>> {
        match u.get(name) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if n >= 1 => Ok(Some(n as u64)),
                Some(n) => Err(ApiError::validation(format!(
                    "{field}.{name}: {n} is out of range: units are from 1 to {}",
                    meridian_core::settings::MAX_CAPACITY_UNITS
                ))),
                None => Err(ApiError::validation(format!(
                    "{field}.{name} must be a whole number"
                ))),
            },
        }
    };
    let policy = match u.opt_obj("ScalingPolicyUpdate")? {
        None => None,
        Some(p) => {
            let c = p.obj("TargetTrackingScalingPolicyConfiguration")?;
            let target = c.get("TargetValue").and_then(Json::as_f64).ok_or_else(|| {
                ApiError::validation(format!(
                    "{field}.ScalingPolicyUpdate.TargetTrackingScalingPolicyConfiguration.TargetValue is required, a number"
                ))
            })?;
            Some(TargetUpdate {
                policy_name: p.opt_str("PolicyName")?.map(str::to_string),
                target,
                disable_scale_in: c.opt_bool("DisableScaleIn")?,
                scale_in_cooldown: c.opt_u64("ScaleInCooldown")?,
                scale_out_cooldown: c.opt_u64("ScaleOutCooldown")?,
            })
        }
    };
    Ok(PolicyUpdate {
        min: units("MinimumUnits")?,
        max: units("MaximumUnits")?,
        disabled: u.opt_bool("AutoScalingDisabled")?.unwrap_or(false),
        policy,
        field,
    })
}

/// `AutoScalingSettingsDescription` of one policy.
fn settings(p: &Policy) -> Json {
    json!({
        "MinimumUnits": p.min,
        "MaximumUnits": p.max,
        "AutoScalingDisabled": false,
        "AutoScalingRoleArn": role_arn(),
        "ScalingPolicies": [{
            "PolicyName": p.policy_name,
            "TargetTrackingScalingPolicyConfiguration": {
                "DisableScaleIn": p.disable_scale_in,
                "ScaleInCooldown": p.scale_in_cooldown,
                "ScaleOutCooldown": p.scale_out_cooldown,
                "TargetValue": p.target,
            }
        }]
    })
}

/// `TableAutoScalingDescription` of `table` as this region sees it: each
/// replica (this region's first) with its write and read settings.
async fn described(front: &Front, table: &str) -> ApiResult<Json> {
    let ops = &front.ops;
    let info = ops.describe(table).await?;
    let here = ops.region();
    let scaling: &AutoScaling = &info.settings.scaling;
    let mut regions = vec![(here.to_string(), "ACTIVE")];
    regions.extend(
        meridian_core::replicas::disassociate::listed(&info.def, here)
            .into_iter()
            .map(|(r, s)| (r.clone(), s.status.described_as())),
    );
    let replicas: Vec<Json> = regions
        .into_iter()
        .map(|(region, status)| {
            let mut d = json!({
                "RegionName": region,
                "GlobalSecondaryIndexes": [],
                "ReplicaStatus": status,
            });
            if let Some(w) = &scaling.write {
                d["ReplicaProvisionedWriteCapacityAutoScalingSettings"] = settings(w);
            }
            if let Some(p) = scaling.read.get(&region) {
                d["ReplicaProvisionedReadCapacityAutoScalingSettings"] = settings(p);
            }
            d
        })
        .collect();
    Ok(json!({
        "TableName": table,
        "TableStatus": "ACTIVE",
        "Replicas": replicas,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_reads_every_member_and_refuses_units_below_one_by_name() {
        let body = json!({
            "MinimumUnits": 2, "MaximumUnits": 9, "AutoScalingDisabled": false,
            "ScalingPolicyUpdate": {"PolicyName": "p", "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 70.0, "DisableScaleIn": true, "ScaleInCooldown": 5, "ScaleOutCooldown": 6}}
        });
        let u = policy_update(Req(body.as_object().unwrap()), "W".into()).unwrap();
        assert_eq!((u.min, u.max, u.disabled), (Some(2), Some(9), false));
        let t = u.policy.unwrap();
        assert_eq!(
            (
                t.target,
                t.disable_scale_in,
                t.scale_in_cooldown,
                t.scale_out_cooldown
            ),
            (70.0, Some(true), Some(5), Some(6))
        );
        let zero = json!({"MinimumUnits": 0});
        let e = policy_update(Req(zero.as_object().unwrap()), "W".into()).unwrap_err();
        assert!(
            format!("{e:?}").contains("W.MinimumUnits: 0 is out of range"),
            "{e:?}"
        );
    }
}
