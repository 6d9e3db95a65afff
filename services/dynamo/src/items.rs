//! PutItem, GetItem, DeleteItem and UpdateItem.

use std::sync::Arc;

use meridian_core::expr::{self, Names, Usage, Values};
use meridian_core::value::item_size;
use meridian_core::{Item, item_to_json};
use meridian_region::ops::{OpError, RegionHandle};
use meridian_store::{Condition, ItemWrite, WriteResult};
use serde_json::{Value as Json, json};

use crate::capacity::{self, Report, Units};
use crate::error::{ApiError, ApiResult};
use crate::front::Front;
use crate::legacy;
use crate::req::{Req, key_of};
use crate::request::Request;

/// The expression context of one request: names, values, and what used them.
pub struct Exprs {
    pub names: Names,
    pub values: Values,
    used: Vec<Usage>,
    /// Whether its errors are worded as constraint violations
    /// ([`ApiError::detected`]), as DynamoDB's single-item writes word them.
    detected: bool,
}

impl Exprs {
    pub fn of(r: Req<'_>) -> ApiResult<Self> {
        Self::read(r, false)
    }

    /// The context of a PutItem, UpdateItem or DeleteItem request, whose
    /// update expression and unused names or values DynamoDB reports as
    /// constraint violations (its condition's errors it does not).
    fn of_write(r: Req<'_>) -> ApiResult<Self> {
        Self::read(r, true)
    }

    fn read(r: Req<'_>, write: bool) -> ApiResult<Self> {
        Ok(Exprs {
            names: r.names(write)?,
            values: r.values(write)?,
            used: Vec::new(),
            detected: write,
        })
    }

    /// An error of `r` as this request words it.
    fn word<T>(&self, r: ApiResult<T>) -> ApiResult<T> {
        match self.detected {
            true => r.map_err(ApiError::detected),
            false => r,
        }
    }

    /// `ConditionExpression` (or `FilterExpression`) as a store condition.
    pub fn condition(
        &mut self,
        r: Req<'_>,
        member: &'static str,
    ) -> ApiResult<Option<Arc<expr::ConditionExpr>>> {
        let Some(text) = r.opt_str(member)? else {
            return Ok(None);
        };
        let (cond, usage) = expr::parse_condition(member, text, &self.names, &self.values)?;
        self.used.push(usage);
        Ok(Some(Arc::new(cond)))
    }

    pub fn projection(&mut self, r: Req<'_>) -> ApiResult<Option<Vec<expr::Path>>> {
        let Some(text) = r.opt_str("ProjectionExpression")? else {
            return Ok(None);
        };
        let (paths, usage) = expr::parse_projection(text, &self.names)?;
        self.used.push(usage);
        Ok(Some(paths))
    }

    pub fn update(&mut self, r: Req<'_>) -> ApiResult<Option<Arc<expr::UpdateExpr>>> {
        let Some(text) = r.opt_str("UpdateExpression")? else {
            return Ok(None);
        };
        let (u, usage) =
            self.word(expr::parse_update(text, &self.names, &self.values).map_err(Into::into))?;
        self.used.push(usage);
        Ok(Some(Arc::new(u)))
    }

    /// A `KeyConditionExpression`'s conditions, one per attribute, or what
    /// is wrong with its shape: to be reported after [`Exprs::finish`].
    pub fn key_conditions(&mut self, text: &str) -> ApiResult<expr::KeyConditions> {
        let (k, usage) = expr::parse_key_conditions(text, &self.names, &self.values)?;
        self.used.push(usage);
        Ok(k)
    }

    /// DynamoDB refuses names and values that no expression used.
    pub fn finish(&self) -> ApiResult<()> {
        if self.used.is_empty() {
            if !self.names.is_empty() {
                return Err(ApiError::validation(
                    "ExpressionAttributeNames can only be specified when using expressions",
                ));
            }
            if !self.values.is_empty() {
                return Err(ApiError::validation(
                    "ExpressionAttributeValues can only be specified when using expressions",
                ));
            }
        }
        let used: Vec<&Usage> = self.used.iter().collect();
        self.word(expr::check_unused(&self.names, &self.values, &used).map_err(Into::into))
    }
}

pub fn as_condition(c: Arc<expr::ConditionExpr>) -> Condition {
    // Evaluation errors (an operand of the wrong type) make the condition false.
    Condition::Check(Arc::new(move |item: Option<&Item>| {
        c.eval(item).unwrap_or(false)
    }))
}

/// `ReturnValues`, checked against what the operation allows.
pub fn return_values<'a>(r: Req<'a>, allowed: &[&str]) -> ApiResult<&'a str> {
    let rv = r.opt_str("ReturnValues")?.unwrap_or("NONE");
    if !allowed.contains(&rv) {
        return Err(ApiError::validation(format!(
            "Return values set to invalid value; ReturnValues must be one of {}",
            allowed.join(", ")
        )));
    }
    Ok(rv)
}

/// Whether `ReturnValuesOnConditionCheckFailure` asks for the item.
pub fn return_old_on_failure(r: Req<'_>) -> ApiResult<bool> {
    match r.opt_str("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(other) => Err(ApiError::constraint(format!(
            "Value '{other}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        ))),
    }
}

/// Runs one write; a failed condition becomes ConditionalCheckFailedException.
/// The failure still consumes write units, by the larger of the item
/// found and the item a put would have written (`capacity::sized_write_units`).
async fn write_one(ops: &RegionHandle, op: ItemWrite, return_old: bool) -> ApiResult<WriteResult> {
    let written = match &op {
        ItemWrite::Put { item, .. } => item_size(item),
        _ => 0,
    };
    match ops.write(vec![op]).await {
        Ok(mut r) => Ok(r.remove(0)),
        Err(OpError::ConditionFailed(f)) => {
            let found = f.current.as_ref().map_or(0, item_size);
            let mut e = ApiError::condition_failed(f.current.as_ref(), return_old);
            e.consumed = Some(capacity::sized_write_units(found.max(written)));
            Err(e)
        }
        Err(e) => Err(e.into()),
    }
}

fn attributes(item: Option<&Item>) -> Json {
    match item {
        Some(i) => json!({"Attributes": Json::Object(item_to_json(i))}),
        None => json!({}),
    }
}

pub async fn put(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let item = r.written_item("Item")?;
    conditional(ops, r, None, |table, condition| ItemWrite::Put {
        table,
        item,
        condition,
    })
    .await
}

/// PutItem and DeleteItem: an optional condition, `ALL_OLD` or nothing back.
/// DeleteItem's `key` must be exactly the table's, checked after the
/// request's expressions as DynamoDB checks it.
async fn conditional(
    ops: &RegionHandle,
    r: Req<'_>,
    key: Option<&Item>,
    op: impl FnOnce(String, Option<Condition>) -> ItemWrite,
) -> ApiResult<Json> {
    let table = r.table_name()?;
    legacy::refuse_mixed(
        r,
        &["ConditionExpression"],
        &["Expected", "ConditionalOperator"],
    )?;
    let rv = return_values(r, &["NONE", "ALL_OLD"])?;
    let return_old = return_old_on_failure(r)?;
    let report = Report::of(r)?;
    capacity::check_collection_metrics(r)?;
    let mut ex = Exprs::of_write(r)?;
    let condition = match ex.condition(r, "ConditionExpression")? {
        Some(c) => Some(c),
        None => legacy::expected(r)?,
    }
    .map(as_condition);
    ex.finish()?;
    if let Some(key) = key {
        key_of(&ops.item_table(table).await?.0, key)?;
    }
    let w = write_one(ops, op(table.into(), condition), return_old).await?;
    let mut out = if rv == "ALL_OLD" {
        attributes(w.old.as_ref())
    } else {
        json!({})
    };
    let units = capacity::write_units(w.old.as_ref(), w.new.as_ref());
    capacity::attach(&mut out, report, table, Units::write(units));
    Ok(out)
}

pub async fn get(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    legacy::refuse_mixed(r, &["ProjectionExpression"], &["AttributesToGet"])?;
    let key = r.item("Key")?;
    let consistent = r.opt_bool("ConsistentRead")?.unwrap_or(false);
    let report = Report::of(r)?;
    let mut ex = Exprs::of(r)?;
    let projection = match ex.projection(r)? {
        Some(p) => Some(p),
        None => legacy::attributes_to_get(r)?,
    };
    ex.finish()?;
    let (def, _) = ops.item_table(table).await?;
    let key = key_of(&def, &key)?;
    // A read of this region's copy: its latest commit; on a STRONG table a
    // strongly consistent read first waits for every write chosen anywhere
    // before it (docs/strong.md).
    if consistent {
        ops.consistent(table).await?;
    }
    let item = ops.get(table, key).await?.and_then(|r| r.image);
    let units = capacity::item_read_units(item.as_ref(), consistent);
    let mut out = match item {
        Some(item) => {
            let item = match &projection {
                Some(p) => expr::project(&item, p),
                None => item,
            };
            json!({"Item": Json::Object(item_to_json(&item))})
        }
        None => json!({}),
    };
    capacity::attach(&mut out, report, table, Units::read(units));
    Ok(out)
}

pub async fn delete(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let key = r.item("Key")?;
    let check = key.clone();
    conditional(ops, r, Some(&check), |table, condition| ItemWrite::Delete {
        table,
        key,
        condition,
    })
    .await
}

/// The update as a store change, refusing updates to key attributes.
pub fn change_of(
    update: Option<Arc<expr::UpdateExpr>>,
    key_names: &[&str],
) -> ApiResult<meridian_store::Change> {
    if let Some(u) = &update
        && let Some(k) = u
            .updated_attributes()
            .iter()
            .find(|a| key_names.contains(&a.as_str()))
    {
        return Err(ApiError::validation(format!(
            "One or more parameter values were invalid: Cannot update attribute {k}. This attribute is part of the key"
        )));
    }
    Ok(Arc::new(move |current: Option<&Item>| match &update {
        Some(u) => u
            .apply_to(current)
            .map_err(|e| meridian_core::Error::Expression(e.message())),
        // No update at all still creates the item, with just its key.
        None => Ok(Some(current.cloned().unwrap_or_default())),
    }))
}

pub async fn update(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let table = r.table_name()?;
    legacy::refuse_mixed(
        r,
        &["UpdateExpression", "ConditionExpression"],
        &["AttributeUpdates", "Expected", "ConditionalOperator"],
    )?;
    let key = r.item("Key")?;
    let rv = return_values(
        r,
        &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
    )?;
    let return_old = return_old_on_failure(r)?;
    let report = Report::of(r)?;
    capacity::check_collection_metrics(r)?;
    let mut ex = Exprs::of_write(r)?;
    let update = match ex.update(r)? {
        Some(u) => Some(u),
        None => legacy::attribute_updates(r)?,
    };
    let condition = match ex.condition(r, "ConditionExpression")? {
        Some(c) => Some(c),
        None => legacy::expected(r)?,
    }
    .map(as_condition);
    ex.finish()?;
    let (def, _) = ops.item_table(table).await?;
    key_of(&def, &key)?;
    let ks = &def.key_schema;
    let key_names: Vec<&str> = std::iter::once(ks.partition.name.as_str())
        .chain(ks.sort.as_ref().map(|s| s.name.as_str()))
        .collect();
    let paths = update
        .as_ref()
        .map(|u| u.updated_paths())
        .unwrap_or_default();
    let change = change_of(update, &key_names)?;
    let op = ItemWrite::Update {
        table: table.into(),
        key,
        change,
        condition,
    };
    let legacy_update = r.get("AttributeUpdates").is_some();
    let w = write_one(ops, op, return_old)
        .await
        .map_err(|e| match legacy_update {
            true => legacy::type_mismatch(e),
            false => e,
        })?;
    let updated = |item: Option<&Item>| item.map(|i| expr::project(i, &paths));
    let mut out = match rv {
        "ALL_OLD" => attributes(w.old.as_ref()),
        "ALL_NEW" => attributes(w.new.as_ref()),
        "UPDATED_OLD" => attributes(updated(w.old.as_ref()).filter(|i| !i.is_empty()).as_ref()),
        "UPDATED_NEW" => attributes(updated(w.new.as_ref()).filter(|i| !i.is_empty()).as_ref()),
        _ => json!({}),
    };
    let units = capacity::write_units(w.old.as_ref(), w.new.as_ref());
    capacity::attach(&mut out, report, table, Units::write(units));
    Ok(out)
}
