//! DynamoDB's legacy (pre-expression) parameters: `Expected`,
//! `ConditionalOperator`, `KeyConditions`, `QueryFilter`, `ScanFilter`,
//! `AttributesToGet` and `AttributeUpdates`.
//!
//! They are not a second evaluator. Each legacy condition or update is
//! checked with DynamoDB's rules for the legacy form (argument counts,
//! argument types, `Exists`/`Value` combinations, actions), then written as
//! an expression over generated `#lN` / `:lN` placeholders of its own and
//! handed to [`meridian_core::expr`], so one engine decides every condition
//! and applies every update. The placeholders live in maps of their own: a
//! request may not mix the two forms, so they never meet the client's.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;

use meridian_core::AttrValue;
use meridian_core::expr::{self, ConditionExpr, Names, Path, UpdateExpr, Values};
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult, Kind};
use crate::req::Req;

/// Every `ComparisonOperator`, in the order DynamoDB lists them.
const OPERATORS: [&str; 13] = [
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
];

/// Operators a Query's `KeyConditions` may use.
const KEY_OPERATORS: [&str; 7] = ["EQ", "LE", "LT", "GE", "GT", "BEGINS_WITH", "BETWEEN"];

/// Most names `AttributesToGet` may list.
pub const MAX_ATTRIBUTES_TO_GET: usize = 255;

fn invalid(message: impl Display) -> ApiError {
    ApiError::validation(format!(
        "One or more parameter values were invalid: {message}"
    ))
}

/// DynamoDB refuses a request that uses both forms, naming what it found of
/// each (`expression` and `legacy` list the operation's members in
/// DynamoDB's order). `KeyConditions` may go with the other expressions as
/// long as there is no `KeyConditionExpression`.
pub fn refuse_mixed(r: Req<'_>, expression: &[&str], legacy: &[&str]) -> ApiResult<()> {
    let exprs: Vec<&str> = expression
        .iter()
        .copied()
        .filter(|m| r.get(m).is_some())
        .collect();
    if exprs.is_empty() {
        return Ok(());
    }
    let key_expression = r.get("KeyConditionExpression").is_some();
    let legacy: Vec<&str> = legacy
        .iter()
        .copied()
        .filter(|m| r.get(m).is_some() && (*m != "KeyConditions" || key_expression))
        .collect();
    if legacy.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(format!(
        "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
        legacy.join(", "),
        exprs.join(", ")
    )))
}

/// An expression being written from legacy parameters: its generated
/// placeholders, and the clauses written with them.
#[derive(Default)]
struct ExprWriter {
    names: Names,
    values: Values,
    clauses: Vec<String>,
}

impl ExprWriter {
    fn name(&mut self, attr: &str) -> String {
        let key = format!("#l{}", self.names.len());
        self.names.insert(key.clone(), attr.to_string());
        key
    }

    fn value(&mut self, v: AttrValue) -> String {
        let key = format!(":l{}", self.values.len());
        self.values.insert(key.clone(), v);
        key
    }

    /// One legacy comparison as a condition expression clause. Arguments
    /// are already checked by [`check_arguments`].
    fn comparison(&mut self, attr: &str, op: &str, args: Vec<AttrValue>) {
        let n = self.name(attr);
        let v: Vec<String> = args.into_iter().map(|a| self.value(a)).collect();
        let cmp = |sym: &str| format!("{n} {sym} {}", v[0]);
        let clause = match op {
            "EQ" => cmp("="),
            "NE" => cmp("<>"),
            "LE" => cmp("<="),
            "LT" => cmp("<"),
            "GE" => cmp(">="),
            "GT" => cmp(">"),
            "NULL" => format!("attribute_not_exists({n})"),
            "NOT_NULL" => format!("attribute_exists({n})"),
            "CONTAINS" => format!("contains({n}, {})", v[0]),
            // A missing attribute neither contains nor lacks the value.
            "NOT_CONTAINS" => format!("attribute_exists({n}) AND NOT contains({n}, {})", v[0]),
            "BEGINS_WITH" => format!("begins_with({n}, {})", v[0]),
            "IN" => format!("{n} IN ({})", v.join(", ")),
            _ => format!("{n} BETWEEN {} AND {}", v[0], v[1]),
        };
        self.clauses.push(clause);
    }

    /// The clauses joined by `ConditionalOperator`, parsed by the engine.
    fn condition(self, kind: &'static str, or: bool) -> ApiResult<Option<Arc<ConditionExpr>>> {
        if self.clauses.is_empty() {
            return Ok(None);
        }
        let text = self.clauses.join(if or { " OR " } else { " AND " });
        let (cond, _) = expr::parse_condition(kind, &text, &self.names, &self.values)?;
        Ok(Some(Arc::new(cond)))
    }
}

fn object<'a>(v: &'a Json, member: &str) -> ApiResult<Req<'a>> {
    match v {
        Json::Object(m) => Ok(Req(m)),
        _ => Err(ApiError::new(
            Kind::Serialization,
            format!("{member} must be a map of objects"),
        )),
    }
}

/// `ConditionalOperator`: whether the conditions of `member` (`Expected`,
/// `QueryFilter`, `ScanFilter`) are joined by OR. With no conditions to
/// join, DynamoDB refuses it.
fn joins_with_or(r: Req<'_>, member: &str) -> ApiResult<bool> {
    let op = r.opt_str("ConditionalOperator")?;
    if op.is_some() && r.opt_obj(member)?.is_none_or(|m| m.0.is_empty()) {
        return Err(ApiError::validation(
            "ConditionalOperator can only be used when Filter or Expected has two or more elements",
        ));
    }
    match op {
        None | Some("AND") => Ok(false),
        Some("OR") => Ok(true),
        Some(other) => Err(ApiError::constraint(format!(
            "Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        ))),
    }
}

/// A condition's `ComparisonOperator`; `field` is the member as DynamoDB
/// names it in messages (`scanFilter`, `expected`, ...).
fn operator<'a>(spec: Req<'a>, field: &str, attr: &str) -> ApiResult<Option<&'a str>> {
    let Some(op) = spec.opt_str("ComparisonOperator")? else {
        return Ok(None);
    };
    if !OPERATORS.contains(&op) {
        return Err(ApiError::constraint(format!(
            "Value '{op}' at '{field}.{attr}.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            OPERATORS.join(", ")
        )));
    }
    Ok(Some(op))
}

fn attribute_value_list(spec: Req<'_>, attr: &str) -> ApiResult<Vec<AttrValue>> {
    let Some(list) = spec.opt_arr("AttributeValueList")? else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|v| Ok(AttrValue::from_json(v, attr)?))
        .collect()
}

/// DynamoDB's rules for a legacy comparison's arguments: how many, all of
/// one type, a type the operator accepts, and BETWEEN's bounds in order.
fn check_arguments(op: &str, args: &[AttrValue]) -> ApiResult<()> {
    let count_ok = match op {
        "NULL" | "NOT_NULL" => args.is_empty(),
        "IN" => !args.is_empty(),
        "BETWEEN" => args.len() == 2,
        _ => args.len() == 1,
    };
    if !count_ok {
        return Err(invalid(format!(
            "Invalid number of argument(s) for the {op} ComparisonOperator"
        )));
    }
    if let Some(first) = args.first()
        && args.iter().any(|a| a.type_name() != first.type_name())
    {
        return Err(invalid(
            "AttributeValues inside AttributeValueList must be of same type",
        ));
    }
    // EQ and NE take any type, lists and maps included.
    let allowed: &[&str] = match op {
        "EQ" | "NE" => &[],
        "BEGINS_WITH" => &["S", "B"],
        _ => &["S", "N", "B"],
    };
    if let Some(bad) = args
        .iter()
        .find(|a| !allowed.is_empty() && !allowed.contains(&a.type_name()))
    {
        return Err(invalid(format!(
            "ComparisonOperator {op} is not valid for {} AttributeValue type",
            bad.type_name()
        )));
    }
    if op == "BETWEEN" && expr::compare(&args[0], &args[1]) == Some(Ordering::Greater) {
        return Err(ApiError::validation(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
        ));
    }
    Ok(())
}

/// A `QueryFilter`, `ScanFilter` or `KeyConditions` map into clauses.
fn conditions(r: Req<'_>, member: &str, w: &mut ExprWriter) -> ApiResult<bool> {
    let Some(map) = r.opt_obj(member)? else {
        return Ok(false);
    };
    let field = crate::req::lower_first(member);
    for (attr, spec) in map.0 {
        let spec = object(spec, member)?;
        let op = operator(spec, &field, attr)?.ok_or_else(|| {
            ApiError::constraint(format!(
                "Value null at '{field}.{attr}.member.comparisonOperator' failed to satisfy constraint: Member must not be null"
            ))
        })?;
        let args = attribute_value_list(spec, attr)?;
        check_arguments(op, &args)?;
        if member == "KeyConditions" && !KEY_OPERATORS.contains(&op) {
            return Err(ApiError::validation(
                "Attempted conditional constraint is not an indexable operation",
            ));
        }
        w.comparison(attr, op, args);
    }
    Ok(true)
}

/// `QueryFilter` or `ScanFilter` (named by `member`), with `ConditionalOperator`.
pub fn filter(r: Req<'_>, member: &str) -> ApiResult<Option<Arc<ConditionExpr>>> {
    let or = joins_with_or(r, member)?;
    let mut w = ExprWriter::default();
    conditions(r, member, &mut w)?;
    w.condition("FilterExpression", or)
}

/// A Query's `KeyConditions`: a condition per key attribute, one or two
/// on a table's key, up to one per attribute on a multi-attribute index key
/// (checked with the key, as the equivalent expression's).
pub fn key_conditions(r: Req<'_>) -> ApiResult<Option<Vec<expr::SortKeyCondition>>> {
    let mut w = ExprWriter::default();
    if !conditions(r, "KeyConditions", &mut w)? {
        return Ok(None);
    }
    if w.clauses.is_empty() {
        return Err(ApiError::validation(expr::LENGTH_1_OR_2));
    }
    let (conds, _) = expr::parse_key_conditions(&w.clauses.join(" AND "), &w.names, &w.values)?;
    Ok(Some(conds?))
}

/// `Expected` with `ConditionalOperator`: the condition of PutItem,
/// UpdateItem and DeleteItem in the legacy form.
pub fn expected(r: Req<'_>) -> ApiResult<Option<Arc<ConditionExpr>>> {
    let or = joins_with_or(r, "Expected")?;
    let Some(map) = r.opt_obj("Expected")? else {
        return Ok(None);
    };
    let mut w = ExprWriter::default();
    for (attr, spec) in map.0 {
        let spec = object(spec, "Expected")?;
        let has = |m: &str| spec.get(m).is_some();
        if has("AttributeValueList") && has("Value") {
            return Err(invalid(format!(
                "Value and AttributeValueList cannot be used together for Attribute: {attr}"
            )));
        }
        let value = spec
            .get("Value")
            .map(|v| AttrValue::from_json(v, attr))
            .transpose()?;
        if let Some(op) = operator(spec, "expected", attr)? {
            if has("Exists") {
                return Err(invalid(format!(
                    "Exists and ComparisonOperator cannot be used together for Attribute: {attr}"
                )));
            }
            if op != "NULL" && op != "NOT_NULL" && !has("AttributeValueList") && value.is_none() {
                return Err(invalid(format!(
                    "Value or AttributeValueList must be used with ComparisonOperator: {op} for Attribute: {attr}"
                )));
            }
            let args = match value {
                Some(v) => vec![v],
                None => attribute_value_list(spec, attr)?,
            };
            check_arguments(op, &args)?;
            w.comparison(attr, op, args);
            continue;
        }
        if has("AttributeValueList") {
            return Err(invalid(format!(
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: {attr}"
            )));
        }
        match (spec.opt_bool("Exists")?, value) {
            (Some(false), None) => w.comparison(attr, "NULL", Vec::new()),
            (Some(false), Some(_)) => {
                return Err(invalid(format!(
                    "Value cannot be used when Exists is false for Attribute: {attr}"
                )));
            }
            (exists, None) => {
                return Err(invalid(format!(
                    "Value must be provided when Exists is {} for Attribute: {attr}",
                    if exists.is_some() { "true" } else { "null" }
                )));
            }
            (_, Some(v)) => w.comparison(attr, "EQ", vec![v]),
        }
    }
    w.condition("ConditionExpression", or)
}

/// `AttributesToGet`: top-level names, at least one, none twice.
pub fn attributes_to_get(r: Req<'_>) -> ApiResult<Option<Vec<Path>>> {
    let Some(list) = r.opt_arr("AttributesToGet")? else {
        return Ok(None);
    };
    let names: Vec<&str> = list
        .iter()
        .map(|v| {
            v.as_str().ok_or_else(|| {
                ApiError::new(
                    Kind::Serialization,
                    "AttributesToGet must be a list of strings",
                )
            })
        })
        .collect::<ApiResult<_>>()?;
    let bound = if names.is_empty() {
        Some("greater than or equal to 1")
    } else if names.len() > MAX_ATTRIBUTES_TO_GET {
        Some("less than or equal to 255")
    } else {
        None
    };
    if let Some(bound) = bound {
        return Err(ApiError::constraint(format!(
            "Value '[{}]' at 'attributesToGet' failed to satisfy constraint: Member must have length {bound}",
            names.join(", ")
        )));
    }
    for name in &names {
        meridian_core::value::check_attribute_name(name)?;
    }
    let mut seen = HashSet::new();
    let mut paths = Vec::with_capacity(names.len());
    for name in names {
        if !seen.insert(name) {
            return Err(invalid(format!(
                "Duplicate value in attribute name: {name}"
            )));
        }
        paths.push(Path::attr(name));
    }
    Ok(Some(paths))
}

fn is_set(v: &AttrValue) -> bool {
    matches!(v, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_))
}

/// An `AttributeUpdates` `ADD` or `DELETE` that met a value of another
/// type fails in the update engine with the UpdateExpression's message;
/// DynamoDB words it differently for the legacy form.
pub fn type_mismatch(e: ApiError) -> ApiError {
    const WRONG_TYPE: &str = "An operand in the update expression has an incorrect data type";
    if e.message == WRONG_TYPE {
        ApiError::validation("Type mismatch for attribute to update")
    } else {
        e
    }
}

/// `AttributeUpdates` as one update expression. `PUT` sets; `DELETE`
/// without a value removes the attribute, with a set removes those members;
/// `ADD` adds to a number or a set (creating it if missing) and appends a
/// list to a list.
pub fn attribute_updates(r: Req<'_>) -> ApiResult<Option<Arc<UpdateExpr>>> {
    let Some(map) = r.opt_obj("AttributeUpdates")? else {
        return Ok(None);
    };
    let mut w = ExprWriter::default();
    let (mut set, mut remove, mut add, mut delete) = (vec![], vec![], vec![], vec![]);
    for (attr, spec) in map.0 {
        meridian_core::value::check_attribute_name(attr)?;
        let spec = object(spec, "AttributeUpdates")?;
        let action = spec.opt_str("Action")?.unwrap_or("PUT");
        if !["ADD", "PUT", "DELETE"].contains(&action) {
            return Err(ApiError::constraint(format!(
                "Value '{action}' at 'attributeUpdates.{attr}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
            )));
        }
        let value = spec
            .get("Value")
            .map(|v| AttrValue::from_json(v, attr))
            .transpose()?;
        let Some(v) = value else {
            if action != "DELETE" {
                return Err(invalid(
                    "Only DELETE action is allowed when no attribute value is specified",
                ));
            }
            remove.push(w.name(attr));
            continue;
        };
        let ty = v.type_name();
        match action {
            "PUT" => {
                let n = w.name(attr);
                set.push(format!("{n} = {}", w.value(v)));
            }
            "DELETE" if is_set(&v) => {
                let n = w.name(attr);
                delete.push(format!("{n} {}", w.value(v)));
            }
            "DELETE" => {
                return Err(invalid(format!(
                    "DELETE action with value is not supported for the type {ty}"
                )));
            }
            _ if matches!(v, AttrValue::L(_)) => {
                let n = w.name(attr);
                let empty = w.value(AttrValue::L(Vec::new()));
                let tail = w.value(v);
                set.push(format!(
                    "{n} = list_append(if_not_exists({n}, {empty}), {tail})"
                ));
            }
            _ if is_set(&v) || matches!(v, AttrValue::N(_)) => {
                let n = w.name(attr);
                add.push(format!("{n} {}", w.value(v)));
            }
            _ => {
                return Err(invalid(format!(
                    "ADD action is not supported for the type {ty}"
                )));
            }
        }
    }
    let text: Vec<String> = [
        ("SET", set),
        ("REMOVE", remove),
        ("ADD", add),
        ("DELETE", delete),
    ]
    .into_iter()
    .filter(|(_, parts)| !parts.is_empty())
    .map(|(section, parts)| format!("{section} {}", parts.join(", ")))
    .collect();
    if text.is_empty() {
        return Ok(None);
    }
    let (u, _) = expr::parse_update(&text.join(" "), &w.names, &w.values)?;
    Ok(Some(Arc::new(u)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::{Item, item_from_json};
    use serde_json::json;

    fn req(j: &Json) -> Req<'_> {
        match j {
            Json::Object(m) => Req(m),
            _ => panic!("not an object"),
        }
    }

    fn item(j: Json) -> Item {
        item_from_json(&j).unwrap()
    }

    fn err<T: std::fmt::Debug>(r: ApiResult<T>) -> String {
        r.unwrap_err().message
    }

    fn scan_filter(f: Json) -> ApiResult<Option<Arc<ConditionExpr>>> {
        filter(req(&json!({"ScanFilter": f})), "ScanFilter")
    }

    #[test]
    fn every_operator_filters_as_dynamodb_documents() {
        let it = item(json!({"s": {"S": "hello"}, "n": {"N": "5"}, "ss": {"SS": ["a", "b"]}}));
        let cases = [
            (
                json!({"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "5"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "5"}]}}),
                false,
            ),
            (
                json!({"x": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "5"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "LE", "AttributeValueList": [{"N": "5"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "5"}]}}),
                false,
            ),
            (
                json!({"n": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "6"}]}}),
                false,
            ),
            (
                json!({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "4"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "4"}]}}),
                false,
            ),
            (json!({"s": {"ComparisonOperator": "NOT_NULL"}}), true),
            (json!({"s": {"ComparisonOperator": "NULL"}}), false),
            (json!({"x": {"ComparisonOperator": "NULL"}}), true),
            (
                json!({"s": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "ell"}]}}),
                true,
            ),
            (
                json!({"ss": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "b"}]}}),
                true,
            ),
            (
                json!({"ss": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "c"}]}}),
                true,
            ),
            (
                json!({"ss": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "a"}]}}),
                false,
            ),
            (
                json!({"x": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "a"}]}}),
                false,
            ),
            (
                json!({"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}]}}),
                false,
            ),
            (
                json!({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "5"}, {"N": "9"}]}}),
                true,
            ),
            (
                json!({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "6"}, {"N": "9"}]}}),
                false,
            ),
        ];
        for (f, want) in cases {
            let c = scan_filter(f.clone()).unwrap().unwrap();
            assert_eq!(c.eval(Some(&it)).unwrap(), want, "{f}");
        }
    }

    #[test]
    fn conditional_operator_joins_with_and_or_or() {
        let it = item(json!({"a": {"N": "1"}}));
        let f = json!({"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]},
                       "b": {"ComparisonOperator": "NOT_NULL"}});
        let and = filter(req(&json!({"ScanFilter": f})), "ScanFilter")
            .unwrap()
            .unwrap();
        assert!(!and.eval(Some(&it)).unwrap());
        let or = filter(
            req(&json!({"ScanFilter": f, "ConditionalOperator": "OR"})),
            "ScanFilter",
        )
        .unwrap()
        .unwrap();
        assert!(or.eval(Some(&it)).unwrap());
        assert!(
            err(filter(
                req(&json!({"ScanFilter": f, "ConditionalOperator": "XOR"})),
                "ScanFilter"
            ))
            .contains("Member must satisfy enum value set: [OR, AND]")
        );
    }

    #[test]
    fn argument_counts_and_types_are_dynamodbs() {
        let one = |op: &str, vals: Json| json!({"a": {"ComparisonOperator": op, "AttributeValueList": vals}});
        let cases = [
            (
                one("EQ", json!([])),
                "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator",
            ),
            (
                one("NULL", json!([{"S": "x"}])),
                "One or more parameter values were invalid: Invalid number of argument(s) for the NULL ComparisonOperator",
            ),
            (
                one("BETWEEN", json!([{"N": "1"}])),
                "One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator",
            ),
            (
                one("IN", json!([])),
                "One or more parameter values were invalid: Invalid number of argument(s) for the IN ComparisonOperator",
            ),
            (
                one("LT", json!([{"SS": ["a"]}])),
                "One or more parameter values were invalid: ComparisonOperator LT is not valid for SS AttributeValue type",
            ),
            (
                one("BEGINS_WITH", json!([{"N": "1"}])),
                "One or more parameter values were invalid: ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
            ),
            (
                one("IN", json!([{"N": "1"}, {"S": "1"}])),
                "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type",
            ),
            (
                one("BETWEEN", json!([{"N": "9"}, {"N": "1"}])),
                "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
            ),
            (
                one("LIKE", json!([])),
                "1 validation error detected: Value 'LIKE' at 'scanFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]",
            ),
            (
                json!({"a": {}}),
                "1 validation error detected: Value null at 'scanFilter.a.member.comparisonOperator' failed to satisfy constraint: Member must not be null",
            ),
        ];
        for (f, want) in cases {
            assert_eq!(err(scan_filter(f.clone())), want, "{f}");
        }
    }

    #[test]
    fn expected_follows_exists_and_value_rules() {
        let it = item(json!({"a": {"N": "1"}}));
        let check = |e: Json| expected(req(&json!({"Expected": e})));
        let ok = |e: Json| check(e).unwrap().unwrap().eval(Some(&it)).unwrap();
        assert!(ok(json!({"a": {"Value": {"N": "1"}}})));
        assert!(ok(json!({"a": {"Value": {"N": "1"}, "Exists": true}})));
        assert!(!ok(json!({"a": {"Value": {"N": "2"}}})));
        assert!(ok(json!({"b": {"Exists": false}})));
        assert!(!ok(json!({"a": {"Exists": false}})));
        assert!(ok(
            json!({"a": {"ComparisonOperator": "GT", "Value": {"N": "0"}}})
        ));
        assert!(ok(json!({"a": {"ComparisonOperator": "NOT_NULL"}})));
        let p = "One or more parameter values were invalid: ";
        for (e, want) in [
            (
                json!({"a": {"Exists": true}}),
                "Value must be provided when Exists is true for Attribute: a",
            ),
            (
                json!({"a": {}}),
                "Value must be provided when Exists is null for Attribute: a",
            ),
            (
                json!({"a": {"Exists": false, "Value": {"N": "1"}}}),
                "Value cannot be used when Exists is false for Attribute: a",
            ),
            (
                json!({"a": {"Exists": true, "ComparisonOperator": "NULL"}}),
                "Exists and ComparisonOperator cannot be used together for Attribute: a",
            ),
            (
                json!({"a": {"Value": {"N": "1"}, "AttributeValueList": [{"N": "1"}], "ComparisonOperator": "EQ"}}),
                "Value and AttributeValueList cannot be used together for Attribute: a",
            ),
            (
                json!({"a": {"AttributeValueList": [{"N": "1"}]}}),
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
            ),
            (
                json!({"a": {"ComparisonOperator": "EQ"}}),
                "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a",
            ),
        ] {
            assert_eq!(err(check(e.clone())), format!("{p}{want}"), "{e}");
        }
    }

    #[test]
    fn attribute_updates_put_add_and_delete() {
        let it = item(
            json!({"n": {"N": "1"}, "ss": {"SS": ["a", "b"]}, "l": {"L": [{"N": "1"}]}, "gone": {"S": "x"}}),
        );
        let r = json!({"AttributeUpdates": {
            "s": {"Action": "PUT", "Value": {"S": "v"}},
            "n": {"Action": "ADD", "Value": {"N": "2"}},
            "m": {"Action": "ADD", "Value": {"N": "3"}},
            "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
            "l": {"Action": "ADD", "Value": {"L": [{"N": "2"}]}},
            "nl": {"Action": "ADD", "Value": {"L": [{"N": "9"}]}},
            "ns": {"Action": "ADD", "Value": {"NS": ["7"]}},
            "gone": {"Action": "DELETE"},
        }});
        let u = attribute_updates(req(&r)).unwrap().unwrap();
        let got = u.apply(&it).unwrap();
        let want = item(json!({
            "s": {"S": "v"}, "n": {"N": "3"}, "m": {"N": "3"}, "ss": {"SS": ["b"]},
            "l": {"L": [{"N": "1"}, {"N": "2"}]}, "nl": {"L": [{"N": "9"}]}, "ns": {"NS": ["7"]},
        }));
        assert_eq!(got, want);
        let p = "One or more parameter values were invalid: ";
        for (u, want) in [
            (json!({"a": {"Action": "PUT"}}), format!("{p}Only DELETE action is allowed when no attribute value is specified")),
            (json!({"a": {"Action": "DELETE", "Value": {"S": "x"}}}), format!("{p}DELETE action with value is not supported for the type S")),
            (json!({"a": {"Action": "ADD", "Value": {"S": "x"}}}), format!("{p}ADD action is not supported for the type S")),
            (json!({"a": {"Action": "MERGE", "Value": {"S": "x"}}}), "1 validation error detected: Value 'MERGE' at 'attributeUpdates.a.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]".to_string()),
        ] {
            assert_eq!(err(attribute_updates(req(&json!({"AttributeUpdates": u.clone()})))), want, "{u}");
        }
    }

    #[test]
    fn key_conditions_become_a_key_condition() {
        let r = json!({"KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "a"}]},
        }});
        let kc = expr::KeyCondition::of(key_conditions(req(&r)).unwrap().unwrap())
            .unwrap()
            .oriented("pk")
            .unwrap();
        assert_eq!(kc.partition, ("pk".to_string(), AttrValue::S("p".into())));
        assert!(matches!(kc.sort, Some(expr::SortKeyCondition::BeginsWith(ref a, _)) if a == "sk"));
        // As many as a multi-attribute index key has attributes; the key
        // they are matched with decides.
        let r = json!({"KeyConditions": {
            "a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "b": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "q"}]},
            "c": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "r"}]},
        }});
        assert_eq!(key_conditions(req(&r)).unwrap().unwrap().len(), 3);
        let r = json!({"KeyConditions": {"pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "p"}]}}});
        assert_eq!(
            err(key_conditions(req(&r))),
            "Attempted conditional constraint is not an indexable operation"
        );
        let r = json!({"KeyConditions": {}});
        assert_eq!(
            err(key_conditions(req(&r))),
            "Conditions can be of length 1 or 2 only"
        );
    }

    #[test]
    fn attributes_to_get_and_mixing() {
        let r = json!({"AttributesToGet": ["a", "b"]});
        assert_eq!(
            attributes_to_get(req(&r)).unwrap().unwrap(),
            vec![Path::attr("a"), Path::attr("b")]
        );
        let r = json!({"AttributesToGet": ["a", "a"]});
        assert_eq!(
            err(attributes_to_get(req(&r))),
            "One or more parameter values were invalid: Duplicate value in attribute name: a"
        );
        let r = json!({"AttributesToGet": []});
        assert!(
            err(attributes_to_get(req(&r)))
                .contains("Member must have length greater than or equal to 1")
        );
        let r = json!({"AttributesToGet": ["a"], "ProjectionExpression": "a"});
        assert_eq!(
            err(refuse_mixed(
                req(&r),
                &["ProjectionExpression"],
                &["AttributesToGet"]
            )),
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}"
        );
        let q = [
            "ProjectionExpression",
            "FilterExpression",
            "KeyConditionExpression",
        ];
        let l = [
            "AttributesToGet",
            "QueryFilter",
            "ConditionalOperator",
            "KeyConditions",
        ];
        let r = json!({"KeyConditions": {}, "FilterExpression": "a = :a"});
        assert!(refuse_mixed(req(&r), &q, &l).is_ok());
        let r = json!({"KeyConditions": {}, "KeyConditionExpression": "a = :a", "QueryFilter": {}});
        assert_eq!(
            err(refuse_mixed(req(&r), &q, &l)),
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {QueryFilter, KeyConditions} Expression parameters: {KeyConditionExpression}"
        );
    }
}
