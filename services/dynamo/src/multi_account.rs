//! Multi-account global tables: CreateTable with `GlobalTableSourceArn`,
//! sent with the new account's credentials to the new replica's region,
//! adds that region to the source table's replicas as the caller's
//! account's (the developer guide's *Tutorials: Creating multi-account
//! global tables*; the API reference's CreateTable). The replica takes its
//! key schema, indexes and settings from the source, fills from its peers
//! as any new replica, and is `ACTIVE` once full.
//!
//! Refused, each by name: a mode other than `ENABLED`; a key schema or a
//! synchronized setting in the request (they are the source's); a source
//! that is not a table of that account in that region; this region as the
//! source's; an account that already has a replica of the table; a STRONG
//! table; a same-account global table; a table in the middle of a
//! disassociation. Then the policies decide
//! (`meridian_core::replicas::authorize::check_join`): every member's must
//! let the account join and grant it replication, and the new replica's
//! (`ResourcePolicy`) must grant every member.

use meridian_core::account::Account;
use meridian_core::policy::Policy;
use meridian_core::replicas::authorize;
use meridian_core::{PhysicalClock, SystemClock, TableDef};
use meridian_region::ops::RegionHandle;
use meridian_store::CatalogChange;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult, Kind};
use crate::req::Req;

/// The one settings synchronization mode of a multi-account table.
const ENABLED: &str = "ENABLED";

/// `GlobalTableSettingsReplicationMode` as given, checked against
/// DynamoDB's enum.
pub fn mode<'a>(r: &Req<'a>) -> ApiResult<Option<&'a str>> {
    match r.opt_str("GlobalTableSettingsReplicationMode")? {
        m @ (None | Some("ENABLED" | "DISABLED" | "ENABLED_WITH_OVERRIDES")) => Ok(m),
        Some(other) => Err(ApiError::constraint(format!(
            "Value '{other}' at 'globalTableSettingsReplicationMode' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_OVERRIDES]"
        ))),
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::validation(format!(
        "One or more parameter values were invalid: {message}"
    ))
}

/// The members a replica made from a source takes from it.
const FROM_SOURCE: [&str; 9] = [
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "OnDemandThroughput",
    "StreamSpecification",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "WarmThroughput",
];

/// A replica's own settings Meridian sets only on a replica once made.
const LATER: [&str; 4] = [
    "Tags",
    "DeletionProtectionEnabled",
    "TableClass",
    "SSESpecification",
];

/// CreateTable with `GlobalTableSourceArn`: `caller`'s replica of the
/// source table in this region.
pub async fn join(ops: &RegionHandle, caller: Account, r: &Req<'_>) -> ApiResult<Json> {
    let name = r.table_name()?;
    let source = r.str("GlobalTableSourceArn")?;
    if mode(r)? != Some(ENABLED) {
        return Err(invalid(
            "GlobalTableSettingsReplicationMode must be ENABLED to create a replica of a multi-account global table".into(),
        ));
    }
    if let Some(field) = FROM_SOURCE.iter().find(|f| r.get(f).is_some()) {
        return Err(invalid(format!(
            "{field} cannot be given with GlobalTableSourceArn: a replica takes it from its source table"
        )));
    }
    if let Some(field) = LATER.iter().find(|f| r.get(f).is_some()) {
        return Err(invalid(format!(
            "{field} is not taken with GlobalTableSourceArn here: set it on the replica once it is made (docs/limits.md)"
        )));
    }
    let (region, account) = source_table(source, name)?;
    let here = ops.region();
    if region == here {
        return Err(invalid(format!(
            "the source table is in {here}, this region: multi-account global tables don't support same-Region replication"
        )));
    }
    let not_found = || {
        ApiError::new(
            Kind::ResourceNotFound,
            format!("Requested resource not found: Table: {source} not found"),
        )
    };
    let (def, _) = ops.catalog_table(name).await?.ok_or_else(not_found)?;
    if !def.has_replica(region) || authorize::account_of(&def, region) != account {
        return Err(not_found());
    }
    check_joinable(&def, name, caller, here)?;
    let policy = crate::policies::at_creation(r)?;
    let stored = {
        let owned = name.to_string();
        ops.read(move |rd| rd.replica_policies(&owned)).await?
    };
    let policies: authorize::Policies = stored
        .iter()
        .map(|(r, s)| (r.clone(), Policy::parse(&s.document)))
        .collect();
    let now = SystemClock.now_micros();
    let own = policy.as_deref().map(Policy::parse);
    authorize::check_join(&def, &policies, here, caller, own.as_ref(), now)
        .map_err(|e| ApiError::new(Kind::AccessDenied, e.to_string()))?;
    // A table that becomes global gets its stream first, as a replica
    // added through ReplicaUpdates does.
    ops.stream_for_new_replica(name, &def).await?;
    // The new replica's policy first: it grants nothing before the
    // replica exists, and the replica never exists without it.
    if let Some(document) = policy {
        crate::policies::attach(ops, name, document).await?;
    }
    ops.write(vec![CatalogChange::JoinReplica {
        table: name.to_string(),
        account: caller,
    }])
    .await?;
    let info = ops.describe(name).await?;
    Ok(json!({"TableDescription": crate::description::table(here, &info, "CREATING")}))
}

/// The region and account of `GlobalTableSourceArn` (`source`): the ARN
/// of a DynamoDB table named `name`, as every replica of a global table
/// has its table's name.
fn source_table<'a>(source: &'a str, name: &str) -> ApiResult<(&'a str, Account)> {
    let parts: Vec<&str> = source.splitn(6, ':').collect();
    let ["arn", "aws", "dynamodb", region, account, rest] = parts.as_slice() else {
        return Err(invalid(format!(
            "GlobalTableSourceArn {source} is not the ARN of a DynamoDB table"
        )));
    };
    let (Some(account), Some(source_name)) = (
        Account::parse(account),
        rest.strip_prefix("table/").filter(|n| !n.contains('/')),
    ) else {
        return Err(invalid(format!(
            "GlobalTableSourceArn {source} is not the ARN of a DynamoDB table"
        )));
    };
    if source_name != name {
        return Err(invalid(format!(
            "TableName {name} must be the source table's name, {source_name}: every replica of a global table has its table's name"
        )));
    }
    Ok((region, account))
}

/// Whether `caller` may have the replica of table `def` (`name`) in this
/// region, `here`, before the policies decide: none here already, not a STRONG
/// table, no replica of that account already, a table that is already
/// multi-account or has one replica, and not in a disassociation.
fn check_joinable(def: &TableDef, name: &str, caller: Account, here: &str) -> ApiResult<()> {
    if def.replica_states.get(here).is_some_and(|s| {
        s.status.holds_data() || s.status == meridian_core::replicas::Status::Deleting
    }) {
        return Err(ApiError::new(
            Kind::ResourceInUse,
            format!("Table already exists: {name}"),
        ));
    }
    if def.consistency.strong().is_some() {
        return Err(invalid(format!(
            "table {name} is a multi-Region strongly consistent global table, which does not support the multi-account model"
        )));
    }
    if let Some(r) = def
        .replicas
        .iter()
        .find(|r| authorize::account_of(def, r) == caller)
    {
        return Err(invalid(format!(
            "account {caller} already has the replica of {name} in {r}: each replica of a multi-account global table must reside in a separate AWS account"
        )));
    }
    if def.replicas.len() > 1 && !authorize::multi_account(def) {
        return Err(invalid(format!(
            "table {name} is a global table within one account (its replicas are in {}); converting it into a multi-account global table is not supported: remove its other replicas first",
            def.replicas.join(", ")
        )));
    }
    meridian_core::replicas::disassociate::check_shared_change(def, "The replicas")?;
    Ok(())
}
