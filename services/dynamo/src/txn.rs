//! BatchWriteItem and TransactWriteItems: several writes, one region request,
//! so they commit together here and replicate as one unit that every peer
//! applies all or nothing.

use std::collections::HashMap;

use meridian_core::{EncodedKey, TableDef};
use meridian_region::ops::{OpError, RegionHandle};
use meridian_store::{ItemWrite, WriteResult};
use serde_json::{Value as Json, json};

use crate::Front;
use crate::capacity::{self, Report, Tally, Units};
use crate::error::{ApiError, ApiResult, CancelReason, cancelled, condition_reasons};
use crate::items::{Exprs, as_condition, change_of, return_old_on_failure};
use crate::req::{Req, key_error, key_of};
use crate::request::Request;

async fn def_of(
    ops: &RegionHandle,
    defs: &mut HashMap<String, TableDef>,
    table: &str,
) -> ApiResult<TableDef> {
    if let Some(d) = defs.get(table) {
        return Ok(d.clone());
    }
    let d = ops.item_table(table).await?.0;
    defs.insert(table.to_string(), d.clone());
    Ok(d)
}

pub async fn batch_write(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let requests = r.obj("RequestItems")?;
    let total = batch_size(requests)?;
    let report = Report::of(r)?;
    capacity::check_collection_metrics(r)?;
    let mut defs = HashMap::new();
    let mut seen: Vec<(String, EncodedKey)> = Vec::new();
    let mut writes = Vec::with_capacity(total);
    for (table, list) in requests.0 {
        meridian_core::schema::validate_table_name(table)
            .map_err(|e| ApiError::validation(e.to_string()))?;
        let def = def_of(ops, &mut defs, table).await?;
        for req in list.as_array().into_iter().flatten() {
            let req = req
                .as_object()
                .map(Req)
                .ok_or_else(|| ApiError::validation("Each write request must be an object"))?;
            let (op, key) = match (req.opt_obj("PutRequest")?, req.opt_obj("DeleteRequest")?) {
                (Some(p), None) => {
                    let item = p.item("Item")?;
                    // DynamoDB words a put's missing or mistyped key as it
                    // words a bad key here, unlike PutItem's.
                    let key = def.key_schema.key_of(&item).map_err(|e| match e {
                        meridian_core::Error::MissingKey { .. }
                        | meridian_core::Error::KeyType { .. } => ApiError::validation(
                            "The provided key element does not match the schema",
                        ),
                        other => other.into(),
                    })?;
                    (
                        ItemWrite::Put {
                            table: table.clone(),
                            item,
                            condition: None,
                        },
                        key,
                    )
                }
                (None, Some(d)) => {
                    let key_attrs = d.item("Key")?;
                    let key = key_of(&def, &key_attrs)?;
                    (
                        ItemWrite::Delete {
                            table: table.clone(),
                            key: key_attrs,
                            condition: None,
                        },
                        key,
                    )
                }
                _ => {
                    return Err(ApiError::validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes: a write request holds exactly one PutRequest or DeleteRequest",
                    ));
                }
            };
            if seen.iter().any(|(t, k)| t == table && *k == key) {
                return Err(ApiError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
            seen.push((table.clone(), key));
            writes.push(op);
        }
    }
    let results = ops.write(writes).await?;
    let mut out = json!({"UnprocessedItems": {}});
    if let Some(c) = tally_writes(&seen, &results).render(report, false) {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}

/// The number of writes in BatchWriteItem's `RequestItems`, within
/// DynamoDB's limits. Its member constraints come first: 1 to 25 requests
/// per table; then the total over all tables. Its Value is Java's
/// rendering of the map; here each list is shown by its length.
fn batch_size(requests: Req<'_>) -> ApiResult<usize> {
    let lens: Vec<(&String, usize)> = requests
        .0
        .iter()
        .map(|(t, v)| (t, v.as_array().map_or(0, Vec::len)))
        .collect();
    let total: usize = lens.iter().map(|(_, n)| n).sum();
    let shown = || {
        let lists: Vec<String> = lens
            .iter()
            .map(|(t, n)| format!("{t}=[{n} WriteRequests]"))
            .collect();
        format!("{{{}}}", lists.join(", "))
    };
    if lens.is_empty() {
        return Err(ApiError::constraint(
            "Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    if lens.iter().any(|(_, n)| *n == 0 || *n > 25) {
        return Err(ApiError::constraint(format!(
            "Value '{}' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
            shown()
        )));
    }
    if total > 25 {
        return Err(ApiError::validation(
            "Too many items requested for the BatchWriteItem call",
        ));
    }
    Ok(total)
}

/// Write units per table of writes committed together; `seen` names each
/// write's table, in the order of `results`.
fn tally_writes(seen: &[(String, EncodedKey)], results: &[WriteResult]) -> Tally {
    let mut tally = Tally::default();
    for ((table, _), w) in seen.iter().zip(results) {
        let units = capacity::write_units(w.old.as_ref(), w.new.as_ref());
        tally.add(table, Units::write(units));
    }
    tally
}

pub async fn transact_write(front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    let actions = r.arr("TransactItems")?;
    if actions.is_empty() || actions.len() > 100 {
        return Err(ApiError::constraint(format!(
            "Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1; got {}",
            actions.len()
        )));
    }
    let token = r.opt_str("ClientRequestToken")?;
    if let Some(t) = token
        && (t.is_empty() || t.len() > 36)
    {
        return Err(ApiError::constraint(
            "Value at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to 36 and greater than or equal to 1",
        ));
    }
    let report = Report::of(r)?;
    capacity::check_collection_metrics(r)?;
    let fingerprint = crate::fingerprint(r.0);
    if let Some(t) = token
        && let Some(answer) = front.token_begin(t, &fingerprint)?
    {
        return Ok(answer);
    }
    // Detached, so a client that hangs up mid-request cannot leave its token
    // claimed: the transaction finishes and the token is settled either way.
    let (front, actions, token) = (front.clone(), actions.clone(), token.map(str::to_string));
    tokio::spawn(async move {
        let result = transact(&front.ops, &actions, report).await;
        if let Some(t) = &token {
            front.token_finish(t, result.as_ref().ok());
        }
        result
    })
    .await
    .map_err(|e| {
        ApiError::new(
            crate::Kind::InternalServerError,
            format!("the transaction task failed: {e}"),
        )
    })?
}

async fn transact(ops: &RegionHandle, actions: &[Json], report: Report) -> ApiResult<Json> {
    let mut defs = HashMap::new();
    let mut writes = Vec::with_capacity(actions.len());
    let mut return_old = Vec::with_capacity(actions.len());
    let mut seen: Vec<(String, EncodedKey)> = Vec::new();
    // The first action whose key does not fit its table. DynamoDB cancels
    // the transaction for it, but only once every action passed the
    // request's own checks (expressions, unused names, empty keys): those
    // are ValidationExceptions of the whole request, whichever action
    // holds them.
    let mut misfit: Option<(usize, ApiError)> = None;
    for (i, action) in actions.iter().enumerate() {
        let obj = action.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            ApiError::validation(format!(
                "TransactItems[{i}]: an action holds exactly one of ConditionCheck, Put, Delete, Update"
            ))
        })?;
        let (kind, body) = obj.iter().next().expect("one member");
        let a = body.as_object().map(Req).ok_or_else(|| {
            ApiError::validation(format!("TransactItems[{i}].{kind} must be an object"))
        })?;
        let table = a.table_name()?;
        let def = def_of(ops, &mut defs, table).await?;
        return_old.push(return_old_on_failure(a)?);
        let mut ex = Exprs::of(a)?;
        let (op, key) = action_write(i, kind, a, &mut ex, &def, table)?;
        ex.finish()?;
        let key = match key {
            Ok(key) => key,
            // An empty key attribute refuses the whole request.
            Err((e @ meridian_core::Error::EmptyKey { .. }, _)) => return Err(e.into()),
            Err((e, word)) => {
                misfit.get_or_insert((i, word(e)));
                continue;
            }
        };
        if seen.iter().any(|(t, k)| t == table && *k == key) {
            return Err(ApiError::validation(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        seen.push((table.to_string(), key));
        writes.push(op);
    }
    if let Some((i, e)) = misfit {
        return Err(validation_error(i, actions.len(), &e));
    }
    refuse_strong(ops, seen.iter().map(|(t, _)| t.as_str()))?;
    let results = match ops.write(writes).await {
        Ok(results) => results,
        Err(OpError::TransactionCanceled { reasons }) => {
            return Err(cancelled(&condition_reasons(&reasons, &return_old)));
        }
        Err(OpError::ConditionFailed(f)) => {
            // A one-action transaction still answers as a transaction.
            return Err(cancelled(&condition_reasons(&[Some(f)], &return_old)));
        }
        Err(OpError::Invalid(e)) => {
            return Err(runtime_validation_error(e, actions.len()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = json!({});
    if let Some(c) = tally_writes(&seen, &results).render(report, true) {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}

/// A key of a transaction's action, or why it does not fit its table
/// with the wording for it: the transaction is cancelled for it only once
/// every action passed the request's own checks ([`transact`]).
type ActionKey = Result<EncodedKey, (meridian_core::Error, fn(meridian_core::Error) -> ApiError)>;

/// Action `i` of a transaction, of `kind` (`Put`, `Delete`, `Update`,
/// `ConditionCheck`), as the write it makes to `table`, and its key.
fn action_write(
    i: usize,
    kind: &str,
    a: Req<'_>,
    ex: &mut Exprs,
    def: &TableDef,
    table: &str,
) -> ApiResult<(ItemWrite, ActionKey)> {
    Ok(match kind {
        "Put" => {
            let item = a.item("Item")?;
            let condition = ex.condition(a, "ConditionExpression")?.map(as_condition);
            // A put's key is worded as PutItem words it.
            let key = def.key_schema.key_of(&item);
            (
                ItemWrite::Put {
                    table: table.into(),
                    item,
                    condition,
                },
                key.map_err(|e| (e, ApiError::from as fn(_) -> _)),
            )
        }
        "Delete" => {
            let key_attrs = a.item("Key")?;
            let condition = ex.condition(a, "ConditionExpression")?.map(as_condition);
            let key = def.key_schema.key_from_attrs(&key_attrs);
            (
                ItemWrite::Delete {
                    table: table.into(),
                    key: key_attrs,
                    condition,
                },
                key.map_err(|e| (e, key_error as fn(_) -> _)),
            )
        }
        "Update" => {
            let key_attrs = a.item("Key")?;
            let update = ex.update(a)?;
            if update.is_none() {
                return Err(crate::req::missing("UpdateExpression"));
            }
            let condition = ex.condition(a, "ConditionExpression")?.map(as_condition);
            let ks = &def.key_schema;
            let key_names: Vec<&str> = std::iter::once(ks.partition.name.as_str())
                .chain(ks.sort.as_ref().map(|s| s.name.as_str()))
                .collect();
            let change = change_of(update, &key_names)?;
            let key = def.key_schema.key_from_attrs(&key_attrs);
            (
                ItemWrite::Update {
                    table: table.into(),
                    key: key_attrs,
                    change,
                    condition,
                },
                key.map_err(|e| (e, key_error as fn(_) -> _)),
            )
        }
        "ConditionCheck" => {
            let key_attrs = a.item("Key")?;
            let condition = ex
                .condition(a, "ConditionExpression")?
                .map(as_condition)
                .ok_or_else(|| crate::req::missing("ConditionExpression"))?;
            let key = def.key_schema.key_from_attrs(&key_attrs);
            (
                ItemWrite::ConditionCheck {
                    table: table.into(),
                    key: key_attrs,
                    condition,
                },
                key.map_err(|e| (e, key_error as fn(_) -> _)),
            )
        }
        other => {
            return Err(ApiError::validation(format!(
                "TransactItems[{i}]: unknown action {other}; use ConditionCheck, Put, Delete or Update"
            )));
        }
    })
}

/// A `TransactionCanceledException` for a validation error in action `i` of
/// `n`: DynamoDB reports an action's own invalid data (a key of the wrong
/// type, an item grown past 400 KB, an `ADD` to a string) as a
/// `ValidationError` reason at its index, with `None` for every other
/// action, which are not checked further. Malformed requests and bad
/// expressions stay `ValidationException`s of the whole request.
fn validation_error(i: usize, n: usize, e: &ApiError) -> ApiError {
    let reasons = (0..n)
        .map(|j| {
            if j == i {
                CancelReason::ValidationError(&e.message)
            } else {
                CancelReason::None
            }
        })
        .collect::<Vec<_>>();
    cancelled(&reasons)
}

/// A write the store refused while applying the transaction. With several
/// actions the store names the one at fault as `ops[<i>]` and gives its
/// error's text; with one, the error is that action's.
fn runtime_validation_error(e: meridian_core::Error, n: usize) -> ApiError {
    // An index key of the wrong type cancels the transaction with the
    // action's reason; an empty one is refused outright, as DynamoDB does.
    if let meridian_core::Error::IndexKey { op, reason, empty } = &e {
        return if *empty {
            ApiError::validation(reason.clone())
        } else {
            validation_error(op.unwrap_or(0), n, &ApiError::validation(reason.clone()))
        };
    }
    if n == 1 {
        return validation_error(0, 1, &ApiError::from(e));
    }
    if let meridian_core::Error::Invalid { field, reason } = &e
        && let Some(i) = field
            .strip_prefix("ops[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|i| *i < n)
    {
        return validation_error(i, n, &ApiError::validation(reason.clone()));
    }
    e.into()
}

/// Transactions are not supported on multi-Region strongly consistent
/// tables, as in DynamoDB (docs/strong.md).
pub(crate) fn refuse_strong<'t>(
    ops: &RegionHandle,
    mut tables: impl Iterator<Item = &'t str>,
) -> ApiResult<()> {
    match tables.find(|t| ops.is_strong(t)) {
        Some(t) => Err(ApiError::validation(format!(
            "Transactions are not supported on multi-Region strongly consistent global tables; {t} is one"
        ))),
        None => Ok(()),
    }
}
