//! Disassociating this region's replica from its global table, and the
//! replica's disassociation protection, as UpdateTable takes them
//! (`ReplicaUpdates` `Disassociate`, `DisassociationProtectionEnabled`;
//! the developer guide's *Disassociating a global table replica*). Each is
//! alone in its request; the rules are `meridian_core::replicas::disassociate`'s.

use meridian_core::replicas::disassociate::WAIT_FOR_REPLICATION;
use meridian_region::ops::RegionHandle;
use serde_json::Value as Json;

use crate::description;
use crate::error::{ApiError, ApiResult};
use crate::req::Req;

/// What of UpdateTable this module answers.
enum Asked {
    Disassociate { region: String, mode: String },
    Protection(bool),
}

/// Answers the request when it disassociates this replica or sets its
/// disassociation protection; `None` when it does neither.
pub async fn update(ops: &RegionHandle, r: &Req<'_>, table: &str) -> ApiResult<Option<Json>> {
    let Some(asked) = asked(r)? else {
        return Ok(None);
    };
    // Each is the only change of its request (UpdateTable's API reference).
    let mut fields: Vec<&str> = r.0.keys().map(String::as_str).collect();
    fields.retain(|f| {
        !matches!(
            *f,
            "TableName" | "ReplicaUpdates" | "DisassociationProtectionEnabled"
        )
    });
    let what = match asked {
        Asked::Disassociate { .. } => "A Disassociate action",
        Asked::Protection(_) => "DisassociationProtectionEnabled",
    };
    if let Some(other) = fields.first() {
        return Err(ApiError::validation(format!(
            "{what} must be the only change in its UpdateTable request; this one also has {other}"
        )));
    }
    let info = match asked {
        Asked::Disassociate { region, mode } => ops.disassociate(table, &region, &mode).await?,
        Asked::Protection(on) => ops.set_disassociation_protection(table, on).await?,
    };
    Ok(Some(serde_json::json!({
        "TableDescription": description::table(ops.region(), &info, "UPDATING")
    })))
}

fn asked(r: &Req<'_>) -> ApiResult<Option<Asked>> {
    let protection = r.opt_bool("DisassociationProtectionEnabled")?;
    let updates = r.opt_arr("ReplicaUpdates")?;
    let disassociate = updates.and_then(|u| {
        u.iter()
            .position(|x| x.get("Disassociate").is_some())
            .map(|i| (u.len(), i))
    });
    match (disassociate, protection) {
        (None, None) => Ok(None),
        (None, Some(on)) => {
            if updates.is_some() {
                return Err(ApiError::validation(
                    "DisassociationProtectionEnabled must be the only change in its UpdateTable request; this one also has ReplicaUpdates",
                ));
            }
            Ok(Some(Asked::Protection(on)))
        }
        (Some((n, i)), _) => {
            if n > 1 {
                return Err(ApiError::validation(format!(
                    "A Disassociate action must be the only replica update in the request; ReplicaUpdates has {n}"
                )));
            }
            let u = updates
                .and_then(|u| u[i].as_object())
                .map(Req)
                .ok_or_else(|| {
                    ApiError::new(
                        crate::error::Kind::Serialization,
                        "ReplicaUpdates[0] must be an object",
                    )
                })?;
            if u.0.len() > 1 {
                return Err(ApiError::validation(
                    "ReplicaUpdates[0] must contain exactly one of Create, Update, Delete or Disassociate",
                ));
            }
            let d = u.obj("Disassociate")?;
            let region = d.str("RegionName")?.to_string();
            let mode = d.str("DisassociationMode")?.to_string();
            if mode != WAIT_FOR_REPLICATION {
                return Err(ApiError::constraint(format!(
                    "Value '{mode}' at 'replicaUpdates.1.member.disassociate.disassociationMode' failed to satisfy constraint: Member must satisfy enum value set: [{WAIT_FOR_REPLICATION}]"
                )));
            }
            Ok(Some(Asked::Disassociate { region, mode }))
        }
    }
}
