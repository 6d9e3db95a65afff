//! UpdateTable's global-table part: `ReplicaUpdates`, and with it
//! `MultiRegionConsistency` and `GlobalTableWitnessUpdates`, which make a
//! table a multi-Region strongly consistent (STRONG) global table
//! (docs/strong.md), or remove two of its members at once. Every rule is
//! checked before anything is written.

use meridian_core::replicas::Change;
use meridian_region::ops::{RegionHandle, TableInfo};
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult};
use crate::req::Req;

/// Carries out the request's global-table part, if it has one, and
/// answers with the table as it then stands; `None` when it has none.
pub async fn update(ops: &RegionHandle, r: &Req<'_>, table: &str) -> ApiResult<Option<TableInfo>> {
    let consistency = consistency(r)?;
    let witness = witness_updates(r)?;
    let Some(updates) = r.opt_arr("ReplicaUpdates")? else {
        if consistency.is_some() {
            return Err(ApiError::validation(
                "MultiRegionConsistency is valid only when ReplicaUpdates creates replicas of a new global table",
            ));
        }
        return match witness {
            None => Ok(None),
            // DynamoDB's `DeleteGlobalTableWitnessGroupMemberAction`: "You
            // cannot delete a single witness from a MRSC global table".
            Some(Witness::Delete(_)) => Err(ApiError::validation(
                "You cannot delete a single witness from a MRSC global table - you must delete both a replica and the witness together.",
            )),
            Some(Witness::Create(_)) => Err(ApiError::validation(
                "GlobalTableWitnessUpdates is valid only with the ReplicaUpdates that make a multi-Region strongly consistent global table",
            )),
        };
    };
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
    if !change.create.is_empty() {
        refuse_unscaled(ops, table).await?;
    }
    let strong = consistency == Some(Strong::Strong);
    if strong {
        if !change.delete.is_empty() {
            return Err(ApiError::validation(
                "A multi-Region strongly consistent global table is made with ReplicaUpdates Create actions only",
            ));
        }
        let witness = match witness {
            None => None,
            Some(Witness::Create(w)) => Some(w),
            Some(Witness::Delete(_)) => {
                return Err(ApiError::validation(
                    "GlobalTableWitnessUpdates Delete removes the witness of an existing global table; a new one takes Create",
                ));
            }
        };
        // DynamoDB's endpoint holds the members to AWS's Region sets;
        // Meridian's own API does not (`meridian_core::consistency`).
        let mut members: Vec<&str> = vec![ops.region()];
        members.extend(change.create.iter().map(String::as_str));
        members.extend(witness.as_deref());
        meridian_core::consistency::check_region_set(&members)?;
        return Ok(Some(
            ops.make_strong(table, &change.create, &change.kms_keys, witness.as_deref())
                .await?,
        ));
    }
    let strong = ops.table(table).await?.0.consistency.strong().is_some();
    match witness {
        Some(Witness::Create(_)) if strong => {
            return Err(ApiError::validation(
                "The witness must be added when the multi-Region strongly consistent global table is made",
            ));
        }
        Some(_) if !strong => {
            return Err(ApiError::validation(
                "A witness belongs only to a multi-Region strongly consistent global table: add it with MultiRegionConsistency STRONG when the table is made global",
            ));
        }
        _ => {}
    }
    if strong && change.create.is_empty() {
        let witness = match &witness {
            Some(Witness::Delete(w)) => Some(w.as_str()),
            _ => None,
        };
        return Ok(Some(
            ops.remove_strong_members(table, &change.delete, witness)
                .await?,
        ));
    }
    Ok(Some(ops.change_replicas(table, &change).await?))
}

/// AWS's refusal of replicas added to a PROVISIONED table whose write
/// capacity is not auto scaled: "A global table must be in on-demand mode
/// or provisioned with auto scaling enabled" (*Throughput capacity
/// planning for DynamoDB global tables*;
/// `meridian_core::autoscaling::replicas_refused`). Tables made in every
/// region at once (`dynamodb_create_table = "every-region"`) never come
/// here.
async fn refuse_unscaled(ops: &RegionHandle, table: &str) -> ApiResult<()> {
    let t = table.to_string();
    let settings = ops
        .read(move |r| r.settings(&t))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let provisioned = matches!(
        settings.billing,
        meridian_core::settings::Billing::Provisioned { .. }
    );
    meridian_core::autoscaling::replicas_refused(provisioned, &settings.scaling)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Strong {
    Eventual,
    Strong,
}

fn consistency(r: &Req<'_>) -> ApiResult<Option<Strong>> {
    match r.opt_str("MultiRegionConsistency")? {
        None => Ok(None),
        Some("EVENTUAL") => Ok(Some(Strong::Eventual)),
        Some("STRONG") => Ok(Some(Strong::Strong)),
        Some(other) => Err(ApiError::constraint(format!(
            "Value '{other}' at 'multiRegionConsistency' failed to satisfy constraint: Member must satisfy enum value set: [EVENTUAL, STRONG]"
        ))),
    }
}

enum Witness {
    Create(String),
    /// Removing the witness, with a replica (`meridian_core::consistency::plan_removal`).
    Delete(String),
}

/// `GlobalTableWitnessUpdates`: at most one, a `Create` or a `Delete`
/// naming a `RegionName`.
fn witness_updates(r: &Req<'_>) -> ApiResult<Option<Witness>> {
    let Some(updates) = r.opt_arr("GlobalTableWitnessUpdates")? else {
        return Ok(None);
    };
    let [update] = updates.as_slice() else {
        return Err(ApiError::validation(format!(
            "You can create or delete only one witness per UpdateTable operation; GlobalTableWitnessUpdates has {}",
            updates.len()
        )));
    };
    let Some(u) = update.as_object().map(Req) else {
        return Err(ApiError::new(
            crate::error::Kind::Serialization,
            "GlobalTableWitnessUpdates[0] must be an object",
        ));
    };
    let region = |action: &str| -> ApiResult<String> {
        let name = u.obj(action)?.str("RegionName")?;
        meridian_core::key::validate_region_name(name).map_err(|_| {
            ApiError::validation(format!(
                "GlobalTableWitnessUpdates[0].{action}.RegionName: {name:?} is not a region name"
            ))
        })?;
        Ok(name.to_string())
    };
    match (u.get("Create").is_some(), u.get("Delete").is_some()) {
        (true, false) => Ok(Some(Witness::Create(region("Create")?))),
        (false, true) => Ok(Some(Witness::Delete(region("Delete")?))),
        _ => Err(ApiError::validation(
            "GlobalTableWitnessUpdates[0] must contain exactly one of Create or Delete",
        )),
    }
}

/// `ReplicaUpdates`, as DynamoDB's 2019.11.21 global tables take it: each
/// member is one `Create` or `Delete` naming a `RegionName`. A `Create`'s
/// `KMSMasterKeyId` (a string, the API reference's
/// CreateReplicationGroupMemberAction, with no other constraint) is kept
/// as given for the new replica and described among the table's
/// `Replicas` (ReplicaDescription); no key is checked or used. `Update` (a
/// replica's own throughput or class) is refused: throughput is
/// synchronized here, and a replica's class is set in its own region.
fn replica_updates(updates: &[Json]) -> ApiResult<Change> {
    let mut change = Change::default();
    if updates.is_empty() || updates.len() > 10 {
        return Err(ApiError::constraint(format!(
            "Value at 'replicaUpdates' failed to satisfy constraint: Member must have length between 1 and 10, got {}",
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
        let actions: Vec<&str> = ["Create", "Update", "Delete", "Disassociate"]
            .into_iter()
            .filter(|a| u.get(a).is_some())
            .collect();
        let region = |action: &str| -> ApiResult<String> {
            let a = u.obj(action)?;
            let name = a.str("RegionName")?;
            meridian_core::key::validate_region_name(name).map_err(|_| {
                ApiError::validation(format!(
                    "ReplicaUpdates[{i}].{action}.RegionName: {name:?} is not a region name"
                ))
            })?;
            Ok(name.to_string())
        };
        match actions.as_slice() {
            ["Create"] => {
                let name = region("Create")?;
                if let Some(key) = u.obj("Create")?.opt_str("KMSMasterKeyId")? {
                    change.kms_keys.insert(name.clone(), key.to_string());
                }
                change.create.push(name);
            }
            ["Delete"] => change.delete.push(region("Delete")?),
            ["Disassociate"] => {
                return Err(ApiError::validation(format!(
                    "ReplicaUpdates[{i}].Disassociate: a Disassociate action must be the only replica update in the request"
                )));
            }
            ["Update"] => {
                return Err(ApiError::validation(format!(
                    "ReplicaUpdates[{i}].Update: a replica's own throughput and indexes are not supported, every replica has the table's; set a replica's table class with UpdateTable TableClass in its own region"
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_creates_kms_key_is_kept_for_its_region_only() {
        let change = replica_updates(&[
            json!({"Create": {"RegionName": "eu-west-1", "KMSMasterKeyId": "bar"}}),
            json!({"Create": {"RegionName": "us-east-1"}}),
        ])
        .unwrap();
        assert_eq!(change.create, ["eu-west-1", "us-east-1"]);
        assert_eq!(
            change.kms_keys.into_iter().collect::<Vec<_>>(),
            [("eu-west-1".to_string(), "bar".to_string())]
        );
        let err =
            replica_updates(&[json!({"Create": {"RegionName": "eu-west-1", "KMSMasterKeyId": 5}})])
                .expect_err("a key that is not a string is refused");
        assert!(format!("{err:?}").contains("KMSMasterKeyId"), "{err:?}");
    }
}
