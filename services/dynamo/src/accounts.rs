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
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult, Kind};
use crate::request::Request;

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

    /// Refuses a request that names a table whose replica here is
    /// another account's, as DynamoDB answers a table it does not find:
    /// every table the request must own (`Request::owned_tables`), the
    /// first of them another's named.
    pub async fn admit(&self, ops: &RegionHandle, req: &Request) -> ApiResult<()> {
        for table in req.owned_tables() {
            if let Some(owner) = self.owner(ops, table).await?
                && owner != req.caller
            {
                return Err(not_found(table));
            }
        }
        Ok(())
    }

    /// Leaves out of a listing's answer (`Operation::listing`: ListStreams,
    /// ListBackups, ListContributorInsights) the entries of tables whose
    /// replica here is another account's.
    pub async fn filter_listing(
        &self,
        ops: &RegionHandle,
        req: &Request,
        answer: &mut Json,
    ) -> ApiResult<()> {
        let Some(field) = req.op.listing() else {
            return Ok(());
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
                Some(owner) if owner != req.caller => {}
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
