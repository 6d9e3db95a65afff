//! Which account a request is, and which tables it sees
//! (`meridian_core::account`): a region's replica of a table belongs to one
//! account, and a request of another account does not find it, as a table
//! of another AWS account is not found in yours. ARNs name the replica's
//! account.
//!
//! Meridian keeps one catalog per cluster, so a table name is one table
//! whatever the account (docs/limits.md): two accounts cannot each have a
//! table of their own under one name, as two AWS accounts can.

use std::collections::HashMap;
use std::sync::Mutex;

use meridian_core::account::Account;
use meridian_core::replicas::authorize;
use meridian_region::ops::{OpError, RegionHandle};
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, ApiResult, Kind};

/// Most owners remembered at once, so memory stays bounded.
const MAX_OWNERS: usize = 100_000;

/// The account of each table's replica here, as of the catalog's last
/// change: looked up once per table and catalog change, so a request pays
/// a map lookup.
#[derive(Debug, Default)]
pub struct Owners {
    state: Mutex<(u64, HashMap<String, Option<Account>>)>,
}

impl Owners {
    /// The account `table`'s replica in this region belongs to; `None`
    /// when the region holds no replica of it (the operation answers).
    pub async fn owner(&self, ops: &RegionHandle, table: &str) -> ApiResult<Option<Account>> {
        let epoch = ops.catalog_epoch();
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            // A request that read an older epoch than the cache's neither
            // uses nor resets it.
            if s.0 < epoch || s.1.len() >= MAX_OWNERS {
                *s = (epoch, HashMap::new());
            }
            if s.0 == epoch
                && let Some(known) = s.1.get(table)
            {
                return Ok(*known);
            }
        }
        let found = match ops.table(table).await {
            Ok((def, _)) if def.has_replica(ops.region()) => {
                Some(authorize::account_of(&def, ops.region()))
            }
            Ok(_) | Err(OpError::TableNotFound(_) | OpError::NotReplica { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 == epoch {
            s.1.insert(table.to_string(), found);
        }
        Ok(found)
    }

    /// Refuses a request of `caller` that names a table whose replica here
    /// is another account's, as DynamoDB answers a table it does not find.
    /// CreateTable is left to its own checks: a name in use is in use.
    pub async fn admit(
        &self,
        ops: &RegionHandle,
        caller: Account,
        op: &str,
        map: &Map<String, Json>,
    ) -> ApiResult<()> {
        if op == "CreateTable" {
            return Ok(());
        }
        for table in named(map) {
            if let Some(owner) = self.owner(ops, &table).await?
                && owner != caller
            {
                return Err(not_found(&table));
            }
        }
        Ok(())
    }

    /// Leaves out of a listing answer (ListStreams, ListBackups,
    /// ListContributorInsights) the entries of tables whose replica here is
    /// another account's.
    pub async fn filter_listing(
        &self,
        ops: &RegionHandle,
        caller: Account,
        op: &str,
        answer: &mut Json,
    ) -> ApiResult<()> {
        let field = match op {
            "ListStreams" => "Streams",
            "ListBackups" => "BackupSummaries",
            "ListContributorInsights" => "ContributorInsightsSummaries",
            _ => return Ok(()),
        };
        let Some(Json::Array(entries)) = answer.get_mut(field) else {
            return Ok(());
        };
        let mut kept = Vec::with_capacity(entries.len());
        for e in std::mem::take(entries) {
            let table = e
                .get("TableName")
                .and_then(Json::as_str)
                .unwrap_or_default();
            match self.owner(ops, table).await? {
                Some(owner) if owner != caller => {}
                _ => kept.push(e),
            }
        }
        *entries = kept;
        Ok(())
    }
}

/// DynamoDB's answer for a table the caller's account does not have here.
pub fn not_found(table: &str) -> ApiError {
    ApiError::new(
        Kind::ResourceNotFound,
        format!("Requested resource not found: Table: {table} not found"),
    )
}

/// The account a request is: its SigV4 credential's.
pub fn caller(headers: &axum::http::HeaderMap) -> Account {
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    Account::of_authorization(auth)
}

/// Every table a request names, by name once ARNs are resolved
/// (`crate::arn::resolve_tables`): its `TableName` (and a restore's
/// `SourceTableName`), a batch's `RequestItems`, every action of a
/// transaction, PartiQL statements' targets, and the table of a
/// `ResourceArn`, `StreamArn`, `BackupArn` or `SourceTableArn`.
fn named(map: &Map<String, Json>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |t: &str| {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    };
    for field in ["TableName", "SourceTableName"] {
        if let Some(t) = map.get(field).and_then(Json::as_str) {
            add(t);
        }
    }
    if let Some(items) = map.get("RequestItems").and_then(Json::as_object) {
        items.keys().for_each(|t| add(t));
    }
    // Every member of every action: an action with two is refused by its
    // operation, and must not hide a table from this check meanwhile.
    for body in map
        .get("TransactItems")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_object)
        .flat_map(|a| a.values())
    {
        if let Some(t) = body.get("TableName").and_then(Json::as_str) {
            add(t);
        }
    }
    let statement = map.get("Statement").into_iter();
    let listed = ["Statements", "TransactStatements"]
        .into_iter()
        .filter_map(|f| map.get(f).and_then(Json::as_array))
        .flatten()
        .filter_map(|s| s.get("Statement"));
    for s in statement.chain(listed).filter_map(Json::as_str) {
        if let Some((table, _, _)) = crate::partiql::parser::target(s) {
            add(&table);
        }
    }
    for field in ["ResourceArn", "StreamArn", "BackupArn", "SourceTableArn"] {
        if let Some(arn) = map.get(field).and_then(Json::as_str)
            && let Some(rest) = arn.splitn(6, ':').nth(5)
            && let Some(table) = rest.strip_prefix("table/")
        {
            add(table.split('/').next().unwrap_or(table));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_a_request_names_a_table_is_found() {
        let map = |j: Json| j.as_object().unwrap().clone();
        let req = map(serde_json::json!({
            "TableName": "a",
            "RequestItems": {"b": [], "a": []},
            "TransactItems": [{"ConditionCheck": {"TableName": "c"}, "Get": {"TableName": "g"}}],
            "Statement": "SELECT * FROM \"d\"",
            "TransactStatements": [{"Statement": "DELETE FROM e WHERE k = 1"}],
            "ResourceArn": "arn:aws:dynamodb:us-east-1:111122223333:table/f/stream/2026-01-01T00:00:00.000",
        }));
        assert_eq!(named(&req), ["a", "b", "c", "g", "d", "e", "f"]);
        assert!(named(&Map::new()).is_empty());
    }
}
