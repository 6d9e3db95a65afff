//! Resource-based policies: PutResourcePolicy, GetResourcePolicy and
//! DeleteResourcePolicy, on a table's ARN or one of its streams'.
//!
//! A policy belongs to the region's replica of the table, as in DynamoDB,
//! where each replica of a global table has its own. A table's policy is
//! its replica's catalog row (`policy/<region>`, written only by this
//! region, `meridian_core::replicas::authorize`), which every region reads:
//! it decides what DynamoDB's replication service may do
//! (`REPLICATION_NOT_AUTHORIZED`, and who may join a multi-account global
//! table). A stream's policy is the region's own replica setting. Requests
//! of callers are not decided by policies: there is no IAM here
//! (docs/dynamodb-compat.md).
//!
//! Each stored policy has a revision id. Putting the document a resource
//! already has keeps its revision, as DynamoDB's PutResourcePolicy is
//! idempotent; any other change gets a new one, the time of the change in
//! milliseconds (above the one it replaces). `ExpectedRevisionId` is
//! checked against the stored revision in the write's own transaction.

use meridian_core::account::Account;
use meridian_core::replicas::authorize;
use meridian_core::{PhysicalClock, SystemClock};
use meridian_region::ops::{OpError, RegionHandle};
use meridian_store::CatalogChange;
use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;

/// Largest policy document, in bytes, whitespace included: 20 KB, as
/// DynamoDB's.
pub const MAX_POLICY_BYTES: usize = authorize::MAX_DOCUMENT_BYTES;

/// `ExpectedRevisionId` asking that the resource have no policy yet.
const NO_POLICY: &str = "NO_POLICY";

/// The replica setting that holds a table's own policy.
const TABLE_POLICY: &str = "policy/table";

/// A resource a policy may be attached to, of a table of this region.
struct Resource<'a> {
    arn: &'a str,
    table: &'a str,
    /// The replica setting holding the policy (`policy/table`,
    /// `policy/stream/<label>`).
    setting: String,
}

/// A policy as stored: the revision id, a newline, the document.
struct Stored<'a> {
    revision: &'a str,
    policy: &'a str,
}

fn parse_stored(text: &str) -> Stored<'_> {
    let (revision, policy) = text.split_once('\n').unwrap_or((text, ""));
    Stored { revision, policy }
}

fn not_found(arn: &str) -> ApiError {
    ApiError::new(
        Kind::PolicyNotFound,
        format!("Resource-based policy not found for the provided ResourceArn: {arn}"),
    )
}

fn table_not_found(table: &str) -> ApiError {
    ApiError::new(
        Kind::ResourceNotFound,
        format!("Requested resource not found: Table: {table} not found"),
    )
}

/// `ResourceArn`: a table ARN or a stream ARN of this region, whose table
/// (and stream) exist here.
async fn resource<'a>(ops: &RegionHandle, r: &Req<'a>) -> ApiResult<Resource<'a>> {
    let arn = r.str("ResourceArn")?;
    let not_dynamodb = || {
        ApiError::validation(format!(
            "One or more parameter values were invalid: Provided Arn is not a DynamoDB resource arn: {arn}"
        ))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", _, "dynamodb", region, account, rest] = parts.as_slice() else {
        return Err(not_dynamodb());
    };
    let rest = rest.strip_prefix("table/").ok_or_else(not_dynamodb)?;
    let (table, setting) = match rest.split_once('/') {
        None => (rest, TABLE_POLICY.to_string()),
        Some((table, tail)) => match tail.strip_prefix("stream/") {
            Some(label) if !label.is_empty() && !label.contains('/') => {
                (table, format!("policy/stream/{label}"))
            }
            _ => return Err(not_dynamodb()),
        },
    };
    meridian_core::schema::validate_table_name(table).map_err(|_| not_dynamodb())?;
    if *region != ops.region() {
        return Err(table_not_found(table));
    }
    let def = match ops.table(table).await {
        Err(OpError::TableNotFound(_)) => return Err(table_not_found(table)),
        other => other?.0,
    };
    // A table's ARN names its replica's account; a stream's, as its
    // description gives it, is checked by `stream_of` below.
    if setting == TABLE_POLICY
        && Account::parse(account) != Some(authorize::account_of(&def, region))
    {
        return Err(table_not_found(table));
    }
    if setting != TABLE_POLICY {
        // The stream must be one of the table's in this region.
        crate::streams::stream_of(ops, arn).await?;
    }
    Ok(Resource {
        arn,
        table,
        setting,
    })
}

/// A policy document: JSON, an object, with a `Statement`, at most
/// [`MAX_POLICY_BYTES`].
fn check_policy(policy: &str) -> ApiResult<()> {
    if policy.len() > MAX_POLICY_BYTES {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Policy size {} bytes exceeds the limit of {MAX_POLICY_BYTES} bytes (20 KB, whitespace included)",
            policy.len()
        )));
    }
    let doc: Json = serde_json::from_str(policy).map_err(|e| {
        ApiError::validation(format!(
            "One or more parameter values were invalid: Policy is not valid JSON: {e}"
        ))
    })?;
    match doc.get("Statement") {
        Some(Json::Object(_)) => Ok(()),
        Some(Json::Array(a)) if !a.is_empty() => Ok(()),
        _ if !doc.is_object() => Err(ApiError::validation(
            "One or more parameter values were invalid: Policy must be a JSON object",
        )),
        _ => Err(ApiError::validation(
            "One or more parameter values were invalid: Policy must have a Statement: an object or a non-empty list of them",
        )),
    }
}

/// Checks `expected` against the stored policy `current` of `table`.
fn check_expected(
    arn: &str,
    table: &str,
    expected: Option<&str>,
    current: Option<&Stored<'_>>,
) -> ApiResult<()> {
    match (expected, current) {
        (None, _) | (Some(NO_POLICY), None) => Ok(()),
        (Some(NO_POLICY), Some(c)) => Err(ApiError::new(
            Kind::PolicyNotFound,
            format!(
                "Resource-based policy not found for the provided ResourceArn: Requested policy update expecting none to be present for table {table}, but a policy exists with revision id {}.",
                c.revision
            ),
        )),
        (Some(_), None) => Err(not_found(arn)),
        (Some(e), Some(c)) if e == c.revision => Ok(()),
        (Some(e), Some(c)) => Err(ApiError::new(
            Kind::PolicyNotFound,
            format!(
                "Resource-based policy not found for the provided ResourceArn: Requested update for policy with revision id {e}, but the policy associated to target table {table} has revision id {}.",
                c.revision
            ),
        )),
    }
}

/// The revision after `previous` at `now` (µs): milliseconds, always above
/// the previous one.
fn next_revision(previous: Option<&str>, now: u64) -> String {
    let floor = previous
        .and_then(|p| p.parse::<u64>().ok())
        .map_or(0, |p| p + 1);
    (now / 1000).max(floor).to_string()
}

/// CreateTable's `ResourcePolicy`, checked as PutResourcePolicy's
/// `Policy` before anything is made.
pub fn at_creation(r: &Req<'_>) -> ApiResult<Option<String>> {
    let Some(policy) = r.opt_str("ResourcePolicy")? else {
        return Ok(None);
    };
    check_policy(policy)?;
    Ok(Some(policy.to_string()))
}

/// Attaches CreateTable's policy to the new table's replica here, with its
/// first revision, as PutResourcePolicy would.
pub async fn attach(ops: &RegionHandle, table: &str, policy: String) -> ApiResult<()> {
    change(ops, table, TABLE_POLICY, move |_, now| {
        Ok(Some(format!("{}\n{policy}", next_revision(None, now))))
    })
    .await?;
    Ok(())
}

/// How often a table policy's change is decided again when another
/// change of it came first.
const MAX_TRIES: usize = 5;

/// Changes policy `setting` of `table` here to what `f` makes of it (the
/// stored text, revision and document, before; the time) and answers the
/// texts before and after. A table's policy is its catalog row, changed
/// only if no other change came between the read and the write, else
/// decided again; a stream's, the replica setting.
async fn change<F>(
    ops: &RegionHandle,
    table: &str,
    setting: &str,
    f: F,
) -> ApiResult<(Option<String>, Option<String>)>
where
    F: Fn(Option<&str>, u64) -> ApiResult<Option<String>> + Send + Sync + 'static,
{
    if setting != TABLE_POLICY {
        let changed = ops.change_replica_setting(table, setting, f).await??;
        return Ok((changed.before, changed.after));
    }
    for _ in 0..MAX_TRIES {
        let current = table_policy(ops, table).await?;
        let before = current
            .as_ref()
            .map(|s| format!("{}\n{}", s.revision, s.document));
        let after = f(before.as_deref(), SystemClock.now_micros())?;
        let policy = after.as_deref().map(|text| {
            let s = parse_stored(text);
            authorize::Stored {
                revision: s.revision.to_string(),
                document: s.policy.to_string(),
            }
        });
        let write = CatalogChange::SetPolicy {
            table: table.to_string(),
            policy,
            if_revision: current.map(|c| c.revision),
        };
        match ops.write(vec![write]).await {
            Ok(_) => return Ok((before, after)),
            Err(OpError::PolicyChanged(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OpError::PolicyChanged(table.to_string()).into())
}

/// The policy of this region's replica of `table`, from its catalog row.
async fn table_policy(ops: &RegionHandle, table: &str) -> ApiResult<Option<authorize::Stored>> {
    let owned = table.to_string();
    let mut all = ops.read(move |r| r.replica_policies(&owned)).await?;
    Ok(all.remove(ops.region()))
}

/// The stored text of policy `setting` of `table` here.
async fn stored(ops: &RegionHandle, table: &str, setting: &str) -> ApiResult<Option<String>> {
    if setting == TABLE_POLICY {
        return Ok(table_policy(ops, table)
            .await?
            .map(|s| format!("{}\n{}", s.revision, s.document)));
    }
    let (table, setting) = (table.to_string(), setting.to_string());
    Ok(ops
        .read(move |rd| rd.replica_setting(&table, &setting))
        .await?)
}

pub async fn put(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let policy = r.str("Policy")?.to_string();
    let expected = r.opt_str("ExpectedRevisionId")?.map(str::to_string);
    // Whether the caller may lock itself out is a question for IAM, which
    // does not decide anything here; the member is read for its type.
    r.opt_bool("ConfirmRemoveSelfResourceAccess")?;
    check_policy(&policy)?;
    let res = resource(ops, &r).await?;
    let (arn, table) = (res.arn.to_string(), res.table.to_string());
    let stored = change(ops, res.table, &res.setting, move |current, now| {
        let current = current.map(parse_stored);
        check_expected(&arn, &table, expected.as_deref(), current.as_ref())?;
        let revision = match &current {
            Some(c) if c.policy == policy => c.revision.to_string(),
            _ => next_revision(current.as_ref().map(|c| c.revision), now),
        };
        Ok(Some(format!("{revision}\n{policy}")))
    })
    .await?
    .1
    .unwrap_or_default();
    Ok(json!({"RevisionId": parse_stored(&stored).revision}))
}

pub async fn get(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let res = resource(ops, &r).await?;
    let stored = stored(ops, res.table, &res.setting)
        .await?
        .ok_or_else(|| not_found(res.arn))?;
    let s = parse_stored(&stored);
    Ok(json!({"Policy": s.policy, "RevisionId": s.revision}))
}

pub async fn delete(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let expected = r.opt_str("ExpectedRevisionId")?.map(str::to_string);
    let res = resource(ops, &r).await?;
    let (arn, table) = (res.arn.to_string(), res.table.to_string());
    let deleted = change(ops, res.table, &res.setting, move |current, _| {
        let Some(current) = current.map(parse_stored) else {
            return Err(not_found(&arn));
        };
        // NO_POLICY names no policy to delete.
        check_expected(&arn, &table, expected.as_deref(), Some(&current))?;
        Ok(None)
    })
    .await?
    .0
    .unwrap_or_default();
    Ok(json!({"RevisionId": parse_stored(&deleted).revision}))
}
