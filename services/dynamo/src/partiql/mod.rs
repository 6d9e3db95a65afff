//! PartiQL: `ExecuteStatement`, `BatchExecuteStatement` and
//! `ExecuteTransaction`.
//!
//! A statement is parsed ([`parser`]) into an AST, translated
//! ([`translate`]) into the JSON request of an operation this endpoint
//! already serves — GetItem, Query, Scan, PutItem, UpdateItem, DeleteItem,
//! TransactGetItems or TransactWriteItems — and that operation's handler
//! runs it. The answer is then reshaped into PartiQL's. So PartiQL adds a
//! syntax, not a second engine: conditions, updates, projections, key
//! checks, capacity and replication are exactly those of the operations.
//!
//! Paging: a Query or Scan that stops early answers a `NextToken`
//! ([`token`]) holding its `LastEvaluatedKey` and a hash of the statement
//! and its parameters, so a token is refused with any other request.
//!
//! This module is the entry point: it checks each request's members, runs
//! the plans and shapes the answers. Errors of a statement are
//! [`error::PartiqlError`].

mod error;
mod lexer;
pub(crate) mod parser;
mod token;
mod translate;

use meridian_core::AttrValue;
use meridian_region::ops::RegionHandle;
use serde_json::{Map, Value as Json, json};

use crate::Front;
use crate::capacity::{Report, Tally, Units};
use crate::error::{ApiError, ApiResult, Kind, cancelled_message};
use crate::req::Req;
use crate::request::{Operation, Request};
use crate::{items, reads, txn};
use error::PartiqlError;
use parser::Statement;
use token::{decode_token, encode_token, request_hash};
use translate::{Op, Plan};

/// Longest statement, in characters (DynamoDB's limit).
pub const MAX_STATEMENT_CHARS: usize = 8192;
/// Most statements in a BatchExecuteStatement (DynamoDB's limit).
pub const MAX_BATCH_STATEMENTS: usize = 25;
/// Most statements in an ExecuteTransaction (DynamoDB's limit).
pub const MAX_TRANSACTION_STATEMENTS: usize = 100;

const DUPLICATE_ITEM: &str = "Duplicate primary key exists in table";

/// One statement of a request, as sent: its text and parameters.
struct Member<'a> {
    text: &'a str,
    params: Vec<Json>,
}

/// A member's `Statement` and `Parameters`, checked as DynamoDB checks
/// request members. `field` is the member's path in messages.
fn member<'a>(r: Req<'a>, field: &str) -> ApiResult<Member<'a>> {
    let text = r.str("Statement")?;
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_STATEMENT_CHARS {
        return Err(ApiError::constraint(format!(
            "Value at '{field}statement' failed to satisfy constraint: Member must have length less than or equal to {MAX_STATEMENT_CHARS} and greater than or equal to 1; got {chars}"
        )));
    }
    let params = match r.opt_arr("Parameters")? {
        None => Vec::new(),
        Some(list) if list.is_empty() => {
            return Err(ApiError::constraint(format!(
                "Value '[]' at '{field}parameters' failed to satisfy constraint: Member must have length greater than or equal to 1"
            )));
        }
        Some(list) => {
            for (i, p) in list.iter().enumerate() {
                AttrValue::from_json(p, &format!("Parameters[{i}]"))?;
            }
            list.clone()
        }
    };
    Ok(Member { text, params })
}

/// Parses a member's statement and checks its parameter count.
fn parse(m: &Member<'_>) -> ApiResult<Statement> {
    let parsed = parser::parse(m.text)?;
    if parsed.parameters != m.params.len() {
        return Err(PartiqlError::Invalid(
            "Number of parameters in request and statement don't match.".into(),
        )
        .into());
    }
    Ok(parsed.statement)
}

/// Translates a statement against its table's key schema.
async fn plan(ops: &RegionHandle, stmt: &Statement, params: &[Json]) -> ApiResult<Plan> {
    let table = stmt.table();
    meridian_core::schema::validate_table_name(table).map_err(|e| {
        ApiError::validation(format!(
            "Table name is not valid: {}",
            e.to_string().trim_start_matches("TableName: ")
        ))
    })?;
    let (def, _) = ops.item_table(table).await?;
    // A SELECT of an index reads by the index's key.
    if let Statement::Select(s) = stmt
        && let Some(name) = &s.index
    {
        // PartiQL's words, unlike Query's, do not name the index.
        let index = def
            .index(name)
            .ok_or_else(|| ApiError::validation("The table does not have the specified index"))?;
        return translate::translate_index(s, index, params);
    }
    translate::translate(stmt, &def.key_schema, params)
}

/// Runs a plan through its operation's handler, as a request made within
/// `req`; returns that operation's answer.
async fn run(front: &Front, req: &Request, plan: &Plan) -> ApiResult<Json> {
    let op = match plan.op {
        Op::GetItem => Operation::GetItem,
        Op::Query => Operation::Query,
        Op::Scan => Operation::Scan,
        Op::PutItem => Operation::PutItem,
        Op::UpdateItem => Operation::UpdateItem,
        Op::DeleteItem => Operation::DeleteItem,
    };
    let inner = req.within(op, plan.request.clone());
    match plan.op {
        Op::GetItem => items::get(front, &inner).await,
        Op::Query => reads::query(front, &inner).await,
        Op::Scan => reads::scan(front, &inner).await,
        // The INSERT's only condition is that the key is new.
        Op::PutItem => items::put(front, &inner).await.map_err(|e| match e.kind {
            Kind::ConditionalCheckFailed => ApiError::new(Kind::DuplicateItem, DUPLICATE_ITEM),
            _ => e,
        }),
        Op::UpdateItem => items::update(front, &inner).await,
        Op::DeleteItem => items::delete(front, &inner).await,
    }
}

/// Copies a request member into a plan's request when present.
fn pass(plan: &mut Plan, r: Req<'_>, member: &str) {
    if let Some(v) = r.get(member) {
        plan.request.insert(member.into(), v.clone());
    }
}

/// The items an operation's answer holds, as PartiQL returns them.
fn items_of(op: Op, out: &Json) -> Vec<Json> {
    let member = match op {
        Op::GetItem => "Item",
        Op::Query | Op::Scan => return out["Items"].as_array().cloned().unwrap_or_default(),
        Op::PutItem | Op::UpdateItem | Op::DeleteItem => "Attributes",
    };
    out.get(member)
        .filter(|v| v.is_object())
        .cloned()
        .into_iter()
        .collect()
}

// ---- ExecuteStatement -------------------------------------------------------------

pub async fn execute_statement(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let m = member(r, "")?;
    let limit = r.opt_u64("Limit")?;
    if limit == Some(0) {
        return Err(ApiError::constraint(
            "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ));
    }
    let hash = request_hash(m.text, &m.params);
    let start = r
        .opt_str("NextToken")?
        .map(|t| decode_token(t, &hash))
        .transpose()?;
    let stmt = parse(&m)?;
    let mut plan = plan(ops, &stmt, &m.params).await?;
    pass(&mut plan, r, "ReturnConsumedCapacity");
    match plan.op {
        Op::GetItem | Op::Query | Op::Scan => pass(&mut plan, r, "ConsistentRead"),
        Op::PutItem | Op::UpdateItem | Op::DeleteItem => {
            pass(&mut plan, r, "ReturnValuesOnConditionCheckFailure")
        }
    }
    if matches!(plan.op, Op::Query | Op::Scan) {
        pass(&mut plan, r, "Limit");
        if let Some(k) = start {
            plan.request.insert("ExclusiveStartKey".into(), k);
        }
    } else if start.is_some() {
        // Only a Query or Scan makes tokens, and the hash names the statement.
        return Err(ApiError::validation("NextToken does not match request"));
    }
    let out = run(front, req, &plan).await?;
    let mut answer = json!({"Items": items_of(plan.op, &out)});
    if let Some(k) = out.get("LastEvaluatedKey") {
        answer["NextToken"] = json!(encode_token(&hash, k));
        answer["LastEvaluatedKey"] = k.clone();
    }
    if let Some(c) = out.get("ConsumedCapacity") {
        answer["ConsumedCapacity"] = c.clone();
    }
    Ok(answer)
}

// ---- BatchExecuteStatement --------------------------------------------------------

/// A batch statement's `Error.Code` for an error.
fn batch_code(kind: Kind) -> &'static str {
    match kind {
        Kind::ConditionalCheckFailed => "ConditionalCheckFailed",
        Kind::DuplicateItem => "DuplicateItem",
        Kind::ResourceNotFound => "ResourceNotFound",
        Kind::InternalServerError => "InternalServerError",
        Kind::TransactionCanceled | Kind::TransactionInProgress => "TransactionConflict",
        _ => "ValidationError",
    }
}

/// A failed statement's response: the error, and the table when known.
fn error_response(e: ApiError, table: Option<&str>) -> Json {
    let mut error = Map::new();
    error.insert("Code".into(), json!(batch_code(e.kind)));
    error.insert("Message".into(), json!(e.message));
    if let Some(item) = e.extra.get("Item") {
        error.insert("Item".into(), item.clone());
    }
    let mut out = json!({"Error": error});
    if let Some(t) = table {
        out["TableName"] = json!(t);
    }
    out
}

pub async fn batch_execute_statement(front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    let list = r.arr("Statements")?;
    if list.is_empty() || list.len() > MAX_BATCH_STATEMENTS {
        return Err(ApiError::constraint(format!(
            "Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_STATEMENTS} and greater than or equal to 1; got {}",
            list.len()
        )));
    }
    let report = Report::of(r)?;
    // Malformed members fail the request; statements that do not parse
    // fail on their own, as DynamoDB reports them per statement.
    let mut members = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let s = s.as_object().map(Req).ok_or_else(|| {
            ApiError::new(
                Kind::Serialization,
                format!("Statements[{i}] must be an object"),
            )
        })?;
        let m = member(s, &format!("statements.{}.member.", i + 1))?;
        s.opt_bool("ConsistentRead")?;
        items::return_old_on_failure(s)?;
        let stmt = parse(&m);
        members.push((s, m, stmt));
    }
    let reads = members
        .iter()
        .filter(|(.., p)| p.as_ref().is_ok_and(Statement::is_read))
        .count();
    let writes = members
        .iter()
        .filter(|(.., p)| p.as_ref().is_ok_and(|s| !s.is_read()))
        .count();
    if reads > 0 && writes > 0 {
        return Err(ApiError::validation(
            "The entire batch must consist of either read statements or write statements, you cannot mix both in one batch.",
        ));
    }
    let mut tally = Tally::default();
    let mut responses = Vec::with_capacity(members.len());
    for (s, m, stmt) in members {
        let stmt = match stmt {
            Ok(stmt) => stmt,
            Err(e) => {
                responses.push(error_response(e, None));
                continue;
            }
        };
        let table = stmt.table().to_string();
        match batch_statement(front, req, s, &stmt, &m.params, report).await {
            Ok((out, units)) => {
                tally.add(&table, units);
                responses.push(out);
            }
            Err(e) => responses.push(error_response(e, Some(&table))),
        }
    }
    let mut out = json!({"Responses": responses});
    if let Some(c) = tally.render(report, false) {
        out["ConsumedCapacity"] = c;
    }
    Ok(out)
}

/// One statement of a batch: a read by full key, or a write. Returns its
/// response and the units it consumed.
async fn batch_statement(
    front: &Front,
    req: &Request,
    s: Req<'_>,
    stmt: &Statement,
    params: &[Json],
    report: Report,
) -> ApiResult<(Json, Units)> {
    let mut plan = plan(&front.ops, stmt, params).await?;
    if plan.is_read() && plan.op != Op::GetItem {
        return Err(PartiqlError::Invalid(
            "Each read statement in a BatchExecuteStatement must specify an equality condition on all key attributes, and no other condition"
                .into(),
        )
        .into());
    }
    if report != Report::None {
        plan.request
            .insert("ReturnConsumedCapacity".into(), json!("TOTAL"));
    }
    if plan.is_read() {
        pass(&mut plan, s, "ConsistentRead");
    } else {
        pass(&mut plan, s, "ReturnValuesOnConditionCheckFailure");
    }
    let out = run(front, req, &plan).await?;
    let spent = out["ConsumedCapacity"]["CapacityUnits"]
        .as_f64()
        .unwrap_or(0.0);
    let mut response = json!({"TableName": plan.table});
    let units = if plan.is_read() {
        if let Some(item) = out.get("Item") {
            response["Item"] = item.clone();
        }
        Units::read(spent)
    } else {
        Units::write(spent)
    };
    Ok((response, units))
}

// ---- ExecuteTransaction -----------------------------------------------------------

/// A statement's validation error, numbered as DynamoDB numbers them.
fn in_statement(i: usize, e: ApiError) -> ApiError {
    match e.kind {
        Kind::Validation => ApiError::validation(format!(
            "Validation failed in statements[{i}]: {}",
            e.message
        )),
        _ => e,
    }
}

pub async fn execute_transaction(front: &Front, req: &Request) -> ApiResult<Json> {
    let r = req.body();
    let ops = &front.ops;
    let list = r.arr("TransactStatements")?;
    if list.is_empty() || list.len() > MAX_TRANSACTION_STATEMENTS {
        return Err(ApiError::constraint(format!(
            "Value at 'transactStatements' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRANSACTION_STATEMENTS} and greater than or equal to 1; got {}",
            list.len()
        )));
    }
    Report::of(r)?;
    let mut members = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let s = s.as_object().map(Req).ok_or_else(|| {
            ApiError::new(
                Kind::Serialization,
                format!("TransactStatements[{i}] must be an object"),
            )
        })?;
        let m = member(s, &format!("transactStatements.{}.member.", i + 1))?;
        let stmt = parse(&m).map_err(|e| in_statement(i, e))?;
        members.push((s, m, stmt));
    }
    let reads = members.iter().filter(|(.., s)| s.is_read()).count();
    if reads > 0 && reads < members.len() {
        return Err(ApiError::validation(
            "The entire transaction must consist of either read statements or write statements, you cannot mix both in one transaction.",
        ));
    }
    let mut plans = Vec::with_capacity(members.len());
    for (i, (_, m, stmt)) in members.iter().enumerate() {
        plans.push(
            plan(ops, stmt, &m.params)
                .await
                .map_err(|e| in_statement(i, e))?,
        );
    }
    let mut actions = Vec::with_capacity(plans.len());
    for (i, (plan, (s, ..))) in plans.iter().zip(&members).enumerate() {
        actions.push(action(plan, *s).map_err(|e| in_statement(i, e))?);
    }
    let mut request = Map::new();
    request.insert("TransactItems".into(), Json::Array(actions));
    if let Some(c) = r.get("ReturnConsumedCapacity") {
        request.insert("ReturnConsumedCapacity".into(), c.clone());
    }
    if reads > 0 {
        // A read transaction changes nothing: a retry with the same token
        // may simply read again.
        return reads::transact_get(front, &req.within(Operation::TransactGetItems, request)).await;
    }
    if let Some(t) = r.get("ClientRequestToken") {
        request.insert("ClientRequestToken".into(), t.clone());
    }
    let mut out = txn::transact_write(front, &req.within(Operation::TransactWriteItems, request))
        .await
        .map_err(|e| duplicates(e, &plans))?;
    // DynamoDB answers a write transaction with an empty `Responses`.
    out["Responses"] = Json::Array(Vec::new());
    Ok(out)
}

/// A plan as one action of TransactGetItems or TransactWriteItems.
fn action(plan: &Plan, s: Req<'_>) -> ApiResult<Json> {
    let mut body = plan.request.clone();
    let kind = match plan.op {
        Op::GetItem => "Get",
        Op::Query | Op::Scan => {
            return Err(PartiqlError::Invalid(
                "Select statements within ExecuteTransaction must specify the primary key in the where clause, and no other condition."
                    .into(),
            )
            .into());
        }
        Op::PutItem => "Put",
        Op::UpdateItem => "Update",
        Op::DeleteItem => "Delete",
    };
    if body.remove("ReturnValues").is_some() {
        return Err(PartiqlError::Invalid(
            "RETURNING is not supported in ExecuteTransaction: a transaction returns no items"
                .into(),
        )
        .into());
    }
    if kind != "Get"
        && let Some(v) = s.get("ReturnValuesOnConditionCheckFailure")
    {
        body.insert("ReturnValuesOnConditionCheckFailure".into(), v.clone());
    }
    Ok(json!({ kind: body }))
}

/// An INSERT whose key exists cancels the transaction with `DuplicateItem`
/// as its reason, where the PutItem it became says `ConditionalCheckFailed`.
fn duplicates(mut e: ApiError, plans: &[Plan]) -> ApiError {
    if e.kind != Kind::TransactionCanceled {
        return e;
    }
    let Some(Json::Array(reasons)) = e.extra.get_mut("CancellationReasons") else {
        return e;
    };
    for (reason, plan) in reasons.iter_mut().zip(plans) {
        if plan.op == Op::PutItem && reason["Code"] == "ConditionalCheckFailed" {
            *reason = json!({"Code": "DuplicateItem", "Message": DUPLICATE_ITEM});
        }
    }
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    e.message = cancelled_message(&codes);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_must_match_the_statement() {
        let m = |text, params: Vec<Json>| Member { text, params };
        assert!(
            parse(&m(
                "SELECT * FROM t WHERE a = ? AND b = ?",
                vec![json!({"S": "x"})]
            ))
            .is_err()
        );
        let e = parse(&m("SELECT * FROM t", vec![json!({"S": "x"})])).unwrap_err();
        assert_eq!(
            e.message,
            "Number of parameters in request and statement don't match."
        );
        assert_eq!(e.kind, Kind::Validation);
        parse(&m("SELECT * FROM t WHERE a = ?", vec![json!({"S": "x"})])).unwrap();
    }

    #[test]
    fn members_are_checked_like_request_members() {
        let req = |v: Json| v.as_object().cloned().unwrap();
        let long = "x".repeat(MAX_STATEMENT_CHARS + 1);
        for (body, want) in [
            (json!({}), "Value null at 'statement'"),
            (
                json!({"Statement": ""}),
                "greater than or equal to 1; got 0",
            ),
            (json!({"Statement": long}), "less than or equal to 8192"),
            (
                json!({"Statement": "SELECT", "Parameters": []}),
                "Value '[]' at 'parameters'",
            ),
            (
                json!({"Statement": "SELECT", "Parameters": [{"X": "1"}]}),
                "Parameters[0]",
            ),
        ] {
            let m = req(body);
            let e = member(Req(&m), "")
                .err()
                .unwrap_or_else(|| panic!("{m:?} was accepted"));
            assert!(e.message.contains(want), "{}: want {want}", e.message);
        }
    }

    #[test]
    fn a_failed_insert_in_a_transaction_is_a_duplicate_item() {
        let plan = |op| Plan {
            op,
            table: "t".into(),
            request: Map::new(),
        };
        let mut e = ApiError::new(Kind::TransactionCanceled, "cancelled");
        e.extra.insert(
            "CancellationReasons".into(),
            json!([
                {"Code": "None"},
                {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
                {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
            ]),
        );
        let e = duplicates(
            e,
            &[
                plan(Op::UpdateItem),
                plan(Op::PutItem),
                plan(Op::UpdateItem),
            ],
        );
        assert_eq!(
            e.message,
            "Transaction cancelled, please refer cancellation reasons for specific reasons [None, DuplicateItem, ConditionalCheckFailed]"
        );
        assert_eq!(
            e.extra["CancellationReasons"][1],
            json!({"Code": "DuplicateItem", "Message": DUPLICATE_ITEM})
        );
        assert_eq!(batch_code(Kind::DuplicateItem), "DuplicateItem");
        assert_eq!(batch_code(Kind::Validation), "ValidationError");
    }
}
