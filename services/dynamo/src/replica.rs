//! What DynamoDB keeps per replica of a table and describes with it: the
//! table class (`TableClass`, `TableClassSummary`) and server-side
//! encryption (`SSESpecification`, `SSEDescription`). DynamoDB never
//! synchronizes either between the replicas of a global table, so each is
//! a per-replica setting of this region (`RegionHandle::change_replica_setting`),
//! stored as the description member it gives (which
//! [`crate::description`] adds as it is), never replicated.
//!
//! Encryption is a description only: there is no KMS here, so no key is
//! made, checked or used, and the store is not encrypted by it. A key named
//! in the request is described by its ARN; the AWS managed key DynamoDB
//! would otherwise use has no ARN here, so none is described.

use meridian_region::ops::{RegionHandle, SSE, TABLE_CLASS};
use serde_json::json;

use crate::arn::ACCOUNT;
use crate::description::seconds;
use crate::error::{ApiError, ApiResult};
use crate::req::Req;

/// DynamoDB's table classes.
const TABLE_CLASSES: [&str; 2] = ["STANDARD", "STANDARD_INFREQUENT_ACCESS"];

/// DynamoDB's server-side encryption types.
const SSE_TYPES: [&str; 2] = ["AES256", "KMS"];

/// The per-replica part of a CreateTable or UpdateTable: `None` for what
/// the request leaves as it is.
#[derive(Default)]
pub struct ReplicaChange {
    pub table_class: Option<&'static str>,
    /// `Some(None)`: encryption by an AWS owned key (no description);
    /// `Some(Some(key))`: by KMS, with the key named, if any.
    pub sse: Option<Option<Option<String>>>,
}

impl ReplicaChange {
    /// The request's `TableClass` and `SSESpecification`, checked as
    /// DynamoDB checks them.
    pub fn parse(r: &Req<'_>) -> ApiResult<Self> {
        let table_class = match r.opt_str("TableClass")? {
            None => None,
            Some(c) => Some(
                TABLE_CLASSES
                    .into_iter()
                    .find(|k| *k == c)
                    .ok_or_else(|| {
                        ApiError::constraint(format!(
                            "Value '{c}' at 'tableClass' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                            TABLE_CLASSES.join(", ")
                        ))
                    })?,
            ),
        };
        let sse = r.opt_obj("SSESpecification")?.map(sse_spec).transpose()?;
        Ok(ReplicaChange { table_class, sse })
    }

    pub fn is_empty(&self) -> bool {
        self.table_class.is_none() && self.sse.is_none()
    }

    /// Stores the change in this region's replica of `table`; `created`
    /// says whether it comes with the table's creation, where DynamoDB's
    /// `TableClassSummary` has no `LastUpdateDateTime`. Answers the table
    /// class and encryption texts now stored (`None`: unset).
    pub async fn write(
        &self,
        ops: &RegionHandle,
        table: &str,
        created: bool,
    ) -> ApiResult<(Option<String>, Option<String>)> {
        let mut stored = (None, None);
        if let Some(class) = self.table_class {
            stored.0 = ops
                .change_replica_setting(table, TABLE_CLASS, move |_, now| {
                    let mut summary = json!({"TableClass": class});
                    if !created {
                        summary["LastUpdateDateTime"] = json!(seconds(now));
                    }
                    Ok::<_, std::convert::Infallible>(Some(summary.to_string()))
                })
                .await?
                .unwrap_or_else(|never| match never {})
                .after;
        }
        if let Some(sse) = &self.sse {
            let region = ops.region().to_string();
            // With no key named, DynamoDB's AWS managed key.
            let text = sse.as_ref().map(|key| {
                let arn = match key {
                    Some(key) => key_arn(&region, key),
                    None => crate::arn::managed_key_arn(&region),
                };
                json!({"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": arn}).to_string()
            });
            stored.1 = ops
                .change_replica_setting(table, SSE, move |_, _| {
                    Ok::<_, std::convert::Infallible>(text)
                })
                .await?
                .unwrap_or_else(|never| match never {})
                .after;
        }
        Ok(stored)
    }
}

/// `SSESpecification`: KMS when `Enabled` is true or `SSEType` is `KMS`,
/// else DynamoDB's default, an AWS owned key. A key id is taken only with
/// KMS, as DynamoDB takes it.
fn sse_spec(spec: Req<'_>) -> ApiResult<Option<Option<String>>> {
    let ty = spec.opt_str("SSEType")?;
    if let Some(t) = ty
        && !SSE_TYPES.contains(&t)
    {
        return Err(ApiError::constraint(format!(
            "Value '{t}' at 'sSESpecification.sSEType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            SSE_TYPES.join(", ")
        )));
    }
    let enabled = spec.opt_bool("Enabled")?;
    let key = spec.opt_str("KMSMasterKeyId")?;
    let invalid = |m: String| {
        Err(ApiError::validation(format!(
            "One or more parameter values were invalid: {m}"
        )))
    };
    let kms = match (enabled, ty) {
        // DynamoDB's own refusal, whatever `Enabled` says.
        (_, Some("AES256")) => return invalid("SSEType AES256 is not supported".into()),
        (Some(false), Some(t)) => {
            return invalid(format!(
                "SSEType {t} cannot be specified when SSESpecification.Enabled is false"
            ));
        }
        (Some(true), _) | (None, Some(_)) => true,
        (_, None) => false,
    };
    match (kms, key) {
        (false, Some(_)) => invalid(
            "KMSMasterKeyId can only be specified when SSESpecification.Enabled is true or SSEType is KMS"
                .into(),
        ),
        (false, None) => Ok(None),
        (true, key) => Ok(Some(key.map(str::to_string))),
    }
}

/// A KMS key as DynamoDB describes it: an ARN as given, else the key id or
/// alias in `region` under this endpoint's account.
fn key_arn(region: &str, key: &str) -> String {
    if key.starts_with("arn:") {
        key.to_string()
    } else if key.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{ACCOUNT}:{key}")
    } else {
        format!("arn:aws:kms:{region}:{ACCOUNT}:key/{key}")
    }
}
