//! A parsed statement as the request of an existing operation.
//!
//! Like [`crate::legacy`], this is not a second evaluator: a `WHERE` clause
//! becomes a `KeyConditionExpression`, `FilterExpression` or
//! `ConditionExpression`, `SET`/`REMOVE` an `UpdateExpression`, a projection
//! a `ProjectionExpression`, all written over generated `#nN` names and
//! `:vN` values, and the handler of GetItem, Query, Scan, PutItem, UpdateItem
//! or DeleteItem runs the request. [`meridian_core::expr`] alone decides
//! every condition and applies every update. Every attribute name goes
//! through a placeholder, so reserved words (`name`, `status`, ...) need no
//! quoting in a statement.
//!
//! Translation needs only the table's key schema: which attributes are keys
//! decides between GetItem, Query and Scan, and which `WHERE` terms name the
//! item a write acts on.

use std::collections::HashMap;

use meridian_core::index::IndexDef;
use meridian_core::{AttrValue, KeySchema};
use serde_json::{Map, Value as Json, json};

use super::error::PartiqlError;
use super::parser::{
    Action, CmpOp, Delete, Expr, Insert, IsType, Path, Select, Statement, Step, Update,
};
use crate::error::{ApiError, ApiResult};

/// The operation a statement runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    GetItem,
    Query,
    Scan,
    /// An `INSERT`: a PutItem that must not replace an item.
    PutItem,
    UpdateItem,
    DeleteItem,
}

/// A statement as one operation's request (without the members the caller
/// passes through, such as `ConsistentRead` or `Limit`).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub op: Op,
    pub table: String,
    pub request: Map<String, Json>,
}

impl Plan {
    pub fn is_read(&self) -> bool {
        matches!(self.op, Op::GetItem | Op::Query | Op::Scan)
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    PartiqlError::Invalid(message.into()).into()
}

const MISSING_KEY: &str =
    "Where clause does not contain a mandatory equality on all key attributes";
const NOT_BOOLEAN: &str = "WHERE clause must contain an expression that resolves to a boolean";
const MISSING_COMPARED: &str = "MISSING must be compared using IS operator";

/// Translates a statement against a table keyed by `key`. `params` are the
/// request's `Parameters`, already checked to be attribute values and as
/// many as the statement's `?`s.
pub fn translate(stmt: &Statement, key: &KeySchema, params: &[Json]) -> ApiResult<Plan> {
    let mut ph = Placeholders {
        params,
        ..Placeholders::default()
    };
    let (op, table, request) = match stmt {
        Statement::Select(s) => {
            let (op, request) = select(&mut ph, s, Some(key))?;
            (op, &s.table, request)
        }
        Statement::Insert(s) => (Op::PutItem, &s.table, insert(&mut ph, s, key)?),
        Statement::Update(s) => (Op::UpdateItem, &s.table, update(&mut ph, s, key)?),
        Statement::Delete(s) => (Op::DeleteItem, &s.table, delete(&mut ph, s, key)?),
    };
    Ok(finish(ph, op, table, request))
}

/// Translates a SELECT of `index` (`"table"."index"`): a Query of the
/// index when the WHERE clause gives its partition key by equality, else
/// a Scan of it. A multi-attribute index key is read by a Scan.
pub fn translate_index(s: &Select, index: &IndexDef, params: &[Json]) -> ApiResult<Plan> {
    let mut ph = Placeholders {
        params,
        ..Placeholders::default()
    };
    let key = match (index.partition.as_slice(), index.sort.as_slice()) {
        ([p], sort) if sort.len() <= 1 => Some(KeySchema {
            partition: p.clone(),
            sort: sort.first().cloned(),
        }),
        _ => None,
    };
    let (op, mut request) = select(&mut ph, s, key.as_ref())?;
    request.insert("IndexName".into(), json!(index.name));
    Ok(finish(ph, op, &s.table, request))
}

/// The plan of `op` with its request, names and values.
fn finish(ph: Placeholders<'_>, op: Op, table: &str, mut request: Map<String, Json>) -> Plan {
    request.insert("TableName".into(), json!(table));
    if !ph.names.is_empty() {
        request.insert("ExpressionAttributeNames".into(), Json::Object(ph.names));
    }
    if !ph.values.is_empty() {
        request.insert("ExpressionAttributeValues".into(), Json::Object(ph.values));
    }
    Plan {
        op,
        table: table.to_string(),
        request,
    }
}

// ---- placeholders and values ------------------------------------------------

/// Generated placeholders, and the parameters `?`s stand for.
#[derive(Default)]
struct Placeholders<'p> {
    names: Map<String, Json>,
    name_of: HashMap<String, String>,
    values: Map<String, Json>,
    params: &'p [Json],
}

impl Placeholders<'_> {
    /// `#nN` for an attribute name, one per distinct name.
    fn name(&mut self, attr: &str) -> String {
        if let Some(n) = self.name_of.get(attr) {
            return n.clone();
        }
        let n = format!("#n{}", self.name_of.len());
        self.name_of.insert(attr.to_string(), n.clone());
        self.names.insert(n.clone(), json!(attr));
        n
    }

    /// A document path over name placeholders: `#n0.#n1[2]`.
    fn path(&mut self, p: &Path) -> String {
        let mut out = String::new();
        for (i, step) in p.0.iter().enumerate() {
            match step {
                Step::Attr(a) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(&self.name(a));
                }
                Step::Index(n) => out.push_str(&format!("[{n}]")),
            }
        }
        out
    }

    /// `:vN` for a value.
    fn value(&mut self, v: Json) -> String {
        let n = format!(":v{}", self.values.len());
        self.values.insert(n.clone(), v);
        n
    }

    /// A literal or parameter as DynamoDB JSON; `None` for `MISSING`.
    /// `at` names where it appears, for messages.
    fn literal(&self, e: &Expr, at: &str) -> ApiResult<Option<Json>> {
        let v = match e {
            Expr::Str(s) => json!({"S": s}),
            Expr::Num(n) => {
                let v = json!({"N": n});
                // Checked now so the message names the statement's
                // attribute rather than a generated placeholder.
                AttrValue::from_json(&v, at)?;
                v
            }
            Expr::Bool(b) => json!({"BOOL": b}),
            Expr::Null => json!({"NULL": true}),
            Expr::Missing => return Ok(None),
            Expr::Param(i) => self.params.get(*i).cloned().ok_or_else(|| {
                invalid("Number of parameters in request and statement don't match.")
            })?,
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{at}[{i}]");
                    out.push(
                        self.literal(item, &at)?
                            .ok_or_else(|| invalid(MISSING_COMPARED))?,
                    );
                }
                json!({"L": out})
            }
            Expr::Tuple(pairs) => json!({"M": self.tuple(pairs, at)?}),
            Expr::Bag(items) => self.bag(items, at)?,
            other => {
                return Err(invalid(format!(
                    "Unsupported operation: {} where a value is expected, under key {at}; use a literal or a ? parameter",
                    describe(other)
                )));
            }
        };
        Ok(Some(v))
    }

    /// A tuple's attributes; `MISSING` values leave the attribute out.
    fn tuple(&self, pairs: &[(Expr, Expr)], at: &str) -> ApiResult<Map<String, Json>> {
        let mut out = Map::new();
        for (k, v) in pairs {
            let name = match k {
                Expr::Str(s) => s.clone(),
                Expr::Param(_) => match self.literal(k, at)? {
                    Some(Json::Object(o)) if o.get("S").is_some_and(Json::is_string) => {
                        o["S"].as_str().unwrap_or_default().to_string()
                    }
                    _ => {
                        return Err(invalid(format!(
                            "Tuple keys must be of type String. Actual type: {} under {at}",
                            param_type(self.literal(k, at)?.as_ref())
                        )));
                    }
                },
                other => {
                    return Err(invalid(format!(
                        "Tuple keys must be of type String. Actual type: {} under {at}",
                        describe(other)
                    )));
                }
            };
            if out.contains_key(&name) {
                return Err(invalid(format!(
                    "Duplicate keys in tuple. Key: {name} under {at}"
                )));
            }
            let inner = if at.is_empty() {
                name.clone()
            } else {
                format!("{at}.{name}")
            };
            if let Some(value) = self.literal(v, &inner)? {
                out.insert(name, value);
            }
        }
        Ok(out)
    }

    /// `<<...>>`: a string set or a number set.
    fn bag(&self, items: &[Expr], at: &str) -> ApiResult<Json> {
        if items.is_empty() {
            return Err(invalid("Empty bags are not supported"));
        }
        let mut kind = None;
        let mut members = Vec::with_capacity(items.len());
        for item in items {
            let v = self
                .literal(item, at)?
                .ok_or_else(|| invalid(MISSING_COMPARED))?;
            let (k, member) = match v.as_object().and_then(|o| o.iter().next()) {
                Some((k, m)) if (k == "S" || k == "N") && m.is_string() => (k.clone(), m.clone()),
                _ => {
                    return Err(invalid(
                        "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags",
                    ));
                }
            };
            if kind.get_or_insert_with(|| k.clone()) != &k {
                return Err(invalid(
                    "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags",
                ));
            }
            members.push(member);
        }
        let ty = if kind.as_deref() == Some("S") {
            "SS"
        } else {
            "NS"
        };
        Ok(json!({ ty: members }))
    }

    // ---- conditions ---------------------------------------------------------

    /// A `WHERE` term as a condition expression.
    fn cond(&mut self, e: &Expr) -> ApiResult<String> {
        Ok(match e {
            Expr::And(a, b) => format!("{} AND {}", self.and_operand(a)?, self.and_operand(b)?),
            Expr::Or(a, b) => format!("{} OR {}", self.cond(a)?, self.cond(b)?),
            Expr::Not(a) => format!("NOT ({})", self.cond(a)?),
            Expr::Cmp(op, l, r) => {
                // A value on the left reads as the path on the right: `1 < a` is `a > 1`.
                let (op, l, r) = if is_value(l) && !is_value(r) {
                    (op.flipped(), r, l)
                } else {
                    (*op, l, r)
                };
                let l = self.operand(l)?;
                let r = self.operand(r)?;
                format!("{l} {} {r}", op.symbol())
            }
            Expr::Between(x, lo, hi) => {
                let (x, lo, hi) = (self.operand(x)?, self.operand(lo)?, self.operand(hi)?);
                format!("{x} BETWEEN {lo} AND {hi}")
            }
            Expr::In(x, list) => {
                if list.is_empty() {
                    return Err(invalid(
                        "IN operator must have a left hand argument of type Variable Reference and right hand argument of type Seq with at least one member",
                    ));
                }
                let x = self.operand(x)?;
                let list = list
                    .iter()
                    .map(|v| self.operand(v))
                    .collect::<ApiResult<Vec<_>>>()?;
                format!("{x} IN ({})", list.join(", "))
            }
            Expr::Is(x, ty, negated) => {
                let Expr::Path(p) = x.as_ref() else {
                    return Err(invalid(
                        "The left hand side argument to IS must be a Variable Reference, Literal, or Path",
                    ));
                };
                let p = self.path(p);
                match (ty, negated) {
                    (IsType::Missing, false) => format!("attribute_not_exists({p})"),
                    (IsType::Missing, true) => format!("attribute_exists({p})"),
                    (ty, negated) => {
                        let t = self.value(json!({"S": ty.dynamo_type()}));
                        let test = format!("attribute_type({p}, {t})");
                        if *negated {
                            format!("NOT {test}")
                        } else {
                            test
                        }
                    }
                }
            }
            Expr::Call(name, args) => match name.as_str() {
                "begins_with" | "contains" | "attribute_type" => {
                    if args.len() != 2 {
                        return Err(invalid(format!(
                            "Incorrect number of arguments for function {name}: expected 2, got {}",
                            args.len()
                        )));
                    }
                    let (a, b) = (self.operand(&args[0])?, self.operand(&args[1])?);
                    format!("{name}({a}, {b})")
                }
                "size" => return Err(invalid(NOT_BOOLEAN)),
                "exists" => return Err(exists_unsupported()),
                other => return Err(invalid(format!("Unrecognized function: {other}"))),
            },
            _ => return Err(invalid(NOT_BOOLEAN)),
        })
    }

    /// An operand of `AND`: an `OR` needs parentheses to keep its meaning.
    fn and_operand(&mut self, e: &Expr) -> ApiResult<String> {
        let c = self.cond(e)?;
        Ok(if matches!(e, Expr::Or(..)) {
            format!("({c})")
        } else {
            c
        })
    }

    /// Terms joined by `AND`.
    fn conjunction(&mut self, terms: &[&Expr]) -> ApiResult<String> {
        let parts = terms
            .iter()
            .map(|t| self.and_operand(t))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(parts.join(" AND "))
    }

    /// An operand of a comparison: a path, `size(path)`, a literal or a parameter.
    fn operand(&mut self, e: &Expr) -> ApiResult<String> {
        match e {
            Expr::Path(p) => Ok(self.path(p)),
            Expr::Call(name, args) if name == "size" => match args.as_slice() {
                [Expr::Path(p)] => Ok(format!("size({})", self.path(p))),
                _ => Err(invalid(
                    "size takes one argument: an attribute name or document path",
                )),
            },
            Expr::Call(name, _) if name == "exists" => Err(exists_unsupported()),
            Expr::Call(name, _)
                if ["begins_with", "contains", "attribute_type"].contains(&name.as_str()) =>
            {
                Err(invalid(format!(
                    "Unsupported operation: {name} returns a boolean and cannot be compared"
                )))
            }
            Expr::Call(name, _) => Err(invalid(format!("Unrecognized function: {name}"))),
            Expr::Add(..) | Expr::Sub(..) => Err(invalid(
                "Unsupported operation: arithmetic (+ or -) in a WHERE clause; conditions compare attributes and values as they are",
            )),
            Expr::Missing => Err(invalid(MISSING_COMPARED)),
            e if is_value(e) => {
                let v = self
                    .literal(e, "WHERE")?
                    .ok_or_else(|| invalid(MISSING_COMPARED))?;
                Ok(self.value(v))
            }
            _ => Err(invalid(NOT_BOOLEAN)),
        }
    }

    /// The value `attr = value` (or `value = attr`) gives a key attribute.
    fn key_equality(&self, term: &Expr, attr: &str) -> ApiResult<Option<Json>> {
        let Expr::Cmp(CmpOp::Eq, l, r) = term else {
            return Ok(None);
        };
        let value = match (l.as_ref(), r.as_ref()) {
            (Expr::Path(p), v) | (v, Expr::Path(p)) if p.single() == Some(attr) && is_value(v) => v,
            _ => return Ok(None),
        };
        self.literal(value, attr)
    }
}

fn exists_unsupported() -> ApiError {
    invalid(
        "EXISTS is not supported by this endpoint yet; check a condition with TransactWriteItems' ConditionCheck instead",
    )
}

/// A literal, a collection literal or a parameter: something with a value
/// of its own rather than one read from the item.
fn is_value(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Str(_)
            | Expr::Num(_)
            | Expr::Bool(_)
            | Expr::Null
            | Expr::Missing
            | Expr::Param(_)
            | Expr::List(_)
            | Expr::Tuple(_)
            | Expr::Bag(_)
    )
}

/// An expression in a message.
fn describe(e: &Expr) -> String {
    match e {
        Expr::Path(p) => format!("the attribute {p}"),
        Expr::Call(name, _) => format!("a call of {name}"),
        Expr::Add(..) | Expr::Sub(..) => "arithmetic".into(),
        Expr::Num(_) => "NUMBER".into(),
        Expr::Bool(_) => "BOOL".into(),
        Expr::Null => "NULL".into(),
        Expr::List(_) => "LIST".into(),
        Expr::Tuple(_) => "STRUCT".into(),
        Expr::Bag(_) => "BAG".into(),
        _ => "a condition".into(),
    }
}

/// The DynamoDB type of a parameter's value, for messages.
fn param_type(v: Option<&Json>) -> String {
    v.and_then(Json::as_object)
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_else(|| "MISSING".into())
}

/// The terms of a top-level `AND`, in order.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

fn key_names(key: &KeySchema) -> Vec<&str> {
    std::iter::once(key.partition.name.as_str())
        .chain(key.sort.as_ref().map(|s| s.name.as_str()))
        .collect()
}

// ---- SELECT -----------------------------------------------------------------

/// A SELECT by `key`, the key schema of the table or of the index it
/// reads (`s.index`); `None`: an index whose key no Query here can use.
fn select(
    ph: &mut Placeholders<'_>,
    s: &Select,
    key: Option<&KeySchema>,
) -> ApiResult<(Op, Map<String, Json>)> {
    let mut request = Map::new();
    if let Some(paths) = &s.projection {
        let list: Vec<String> = paths.iter().map(|p| ph.path(p)).collect();
        request.insert("ProjectionExpression".into(), json!(list.join(", ")));
    }
    let terms = s.filter.as_ref().map(conjuncts).unwrap_or_default();
    let mut partition = None;
    if let Some(key) = key {
        for (i, t) in terms.iter().enumerate() {
            if let Some(v) = ph.key_equality(t, &key.partition.name)? {
                partition = Some((i, v, key));
                break;
            }
        }
    }
    let Some((pk_at, pk_value, key)) = partition else {
        if !s.order_by.is_empty() {
            return Err(invalid(if s.filter.is_none() {
                "Must have WHERE clause in the statement when using ORDER BY clause."
            } else {
                "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."
            }));
        }
        if let Some(f) = &s.filter {
            let text = ph.cond(f)?;
            request.insert("FilterExpression".into(), json!(text));
        }
        return Ok((Op::Scan, request));
    };
    let forward = order(s, key)?;
    let mut rest: Vec<&Expr> = terms
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != pk_at)
        .map(|(_, t)| *t)
        .collect();

    let (sort_eq, sort_cond) = sort_terms(ph, &rest, key)?;
    let pk = key.partition.name.as_str();
    // An index's key names many items: its reads are always Querys.
    let whole_key = s.index.is_none() && (key.sort.is_none() || sort_eq.is_some());
    if whole_key && rest.len() == usize::from(sort_eq.is_some()) {
        let mut k = Map::new();
        k.insert(pk.to_string(), pk_value);
        if let (Some(sk), Some((_, v))) = (&key.sort, sort_eq) {
            k.insert(sk.name.clone(), v);
        }
        request.insert("Key".into(), Json::Object(k));
        return Ok((Op::GetItem, request));
    }
    let sort_at = sort_eq.as_ref().map(|(i, _)| *i).or(sort_cond);
    let sort_term = sort_at.map(|i| rest.remove(i));
    // DynamoDB filters a Query only on attributes its key condition does
    // not name. Other terms on key attributes (two ranges on the sort key,
    // an OR of sort keys) leave a Scan, which may filter on anything.
    if let Some(f) = &s.filter
        && rest.iter().any(|t| mentions(t, &key_names(key)))
    {
        if !s.order_by.is_empty() {
            return Err(invalid(ORDER_BY_NEEDS_QUERY));
        }
        let text = ph.cond(f)?;
        request.insert("FilterExpression".into(), json!(text));
        return Ok((Op::Scan, request));
    }
    let pk_name = ph.name(pk);
    let pk_value = ph.value(pk_value);
    let mut key_condition = format!("{pk_name} = {pk_value}");
    if let Some(term) = sort_term {
        key_condition.push_str(" AND ");
        key_condition.push_str(&ph.cond(term)?);
    }
    request.insert("KeyConditionExpression".into(), json!(key_condition));
    if !rest.is_empty() {
        let filter = ph.conjunction(&rest)?;
        request.insert("FilterExpression".into(), json!(filter));
    }
    if !forward {
        request.insert("ScanIndexForward".into(), json!(false));
    }
    Ok((Op::Query, request))
}

/// A sort key equality among a SELECT's terms: its position and value.
type SortEquality = Option<(usize, Json)>;

/// The sort key's term among `rest`: an equality makes the key whole
/// (its position and value); otherwise the position of the first range
/// condition DynamoDB can query by.
fn sort_terms(
    ph: &Placeholders<'_>,
    rest: &[&Expr],
    key: &KeySchema,
) -> ApiResult<(SortEquality, Option<usize>)> {
    let mut sort_cond = None;
    let mut sort_eq = None;
    if let Some(sk) = &key.sort {
        for (i, t) in rest.iter().enumerate() {
            if let Some(v) = ph.key_equality(t, &sk.name)? {
                sort_eq = Some((i, v));
                break;
            }
        }
        if sort_eq.is_none() {
            sort_cond = rest.iter().position(|t| is_sort_range(t, &sk.name));
        }
    }
    Ok((sort_eq, sort_cond))
}

/// Why an `ORDER BY` cannot be honoured when the `WHERE` clause becomes a Scan.
const ORDER_BY_NEEDS_QUERY: &str = "ORDER BY needs a WHERE clause that reads one partition: the partition key's equality, at most one condition on the sort key, and other terms that name no key attribute";

/// Whether an expression reads any of `attrs` (at the top of a path).
fn mentions(e: &Expr, attrs: &[&str]) -> bool {
    let any = |list: &[Expr]| list.iter().any(|x| mentions(x, attrs));
    match e {
        Expr::Path(p) => matches!(p.0.first(), Some(Step::Attr(a)) if attrs.contains(&a.as_str())),
        Expr::Call(_, args) | Expr::List(args) | Expr::Bag(args) => any(args),
        Expr::Tuple(pairs) => pairs
            .iter()
            .any(|(k, v)| mentions(k, attrs) || mentions(v, attrs)),
        Expr::Add(a, b)
        | Expr::Sub(a, b)
        | Expr::Cmp(_, a, b)
        | Expr::And(a, b)
        | Expr::Or(a, b) => mentions(a, attrs) || mentions(b, attrs),
        Expr::Between(a, b, c) => mentions(a, attrs) || mentions(b, attrs) || mentions(c, attrs),
        Expr::In(a, list) => mentions(a, attrs) || any(list),
        Expr::Is(a, ..) | Expr::Not(a) => mentions(a, attrs),
        Expr::Str(_)
        | Expr::Num(_)
        | Expr::Bool(_)
        | Expr::Null
        | Expr::Missing
        | Expr::Param(_) => false,
    }
}

/// Whether a term is a condition a Query can put on the sort key.
fn is_sort_range(t: &Expr, sk: &str) -> bool {
    let on_sk = |e: &Expr| matches!(e, Expr::Path(p) if p.single() == Some(sk));
    match t {
        Expr::Cmp(op, l, r) if *op != CmpOp::Ne => {
            (on_sk(l) && is_value(r) && !matches!(**r, Expr::Missing))
                || (on_sk(r) && is_value(l) && !matches!(**l, Expr::Missing))
        }
        Expr::Between(x, lo, hi) => on_sk(x) && is_value(lo) && is_value(hi),
        Expr::Call(name, args) if name == "begins_with" => {
            matches!(args.as_slice(), [a, b] if on_sk(a) && is_value(b))
        }
        _ => false,
    }
}

/// `ORDER BY` as a Query's direction: only key attributes may be named,
/// and the sort key's direction is the Query's.
fn order(s: &Select, key: &KeySchema) -> ApiResult<bool> {
    let mut forward = true;
    for (path, desc) in &s.order_by {
        let name = path
            .single()
            .filter(|n| key_names(key).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "Variable reference {path} in ORDER BY clause must be part of the primary key"
                ))
            })?;
        if key.sort.as_ref().is_some_and(|sk| sk.name == name) {
            forward = !desc;
        }
    }
    Ok(forward)
}

// ---- writes -----------------------------------------------------------------

fn insert(ph: &mut Placeholders<'_>, s: &Insert, key: &KeySchema) -> ApiResult<Map<String, Json>> {
    let item = match &s.item {
        Expr::Tuple(pairs) => ph.tuple(pairs, "")?,
        Expr::Param(_) => match ph.literal(&s.item, "VALUE")? {
            Some(Json::Object(mut o)) if o.get("M").is_some_and(Json::is_object) => {
                match o.remove("M") {
                    Some(Json::Object(m)) => m,
                    _ => Map::new(),
                }
            }
            _ => {
                return Err(invalid(
                    "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.",
                ));
            }
        },
        _ => {
            return Err(invalid(
                "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.",
            ));
        }
    };
    let pk = ph.name(&key.partition.name);
    let mut request = Map::new();
    request.insert("Item".into(), Json::Object(item));
    request.insert(
        "ConditionExpression".into(),
        json!(format!("attribute_not_exists({pk})")),
    );
    Ok(request)
}

/// The item a write acts on: one equality per key attribute, and the other
/// `WHERE` terms, which become its condition.
fn item_key<'e>(
    ph: &Placeholders<'_>,
    filter: &'e Expr,
    key: &KeySchema,
) -> ApiResult<(Map<String, Json>, Vec<&'e Expr>)> {
    let mut rest = conjuncts(filter);
    let mut k = Map::new();
    for name in key_names(key) {
        let mut found = Vec::new();
        for (i, t) in rest.iter().enumerate() {
            if let Some(v) = ph.key_equality(t, name)? {
                found.push((i, v));
            }
        }
        if found.len() > 1 {
            return Err(invalid(format!(
                "Multiple conditions on same key {name}. Only single item Update/Insert/Delete are supported"
            )));
        }
        let Some((i, v)) = found.pop() else {
            return Err(invalid(MISSING_KEY));
        };
        rest.remove(i);
        k.insert(name.to_string(), v);
    }
    Ok((k, rest))
}

fn update(ph: &mut Placeholders<'_>, s: &Update, key: &KeySchema) -> ApiResult<Map<String, Json>> {
    let (item_key, rest) = item_key(ph, &s.filter, key)?;
    let (mut sets, mut removes, mut adds, mut deletes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for action in &s.actions {
        match action {
            Action::Remove(p) => removes.push(ph.path(p)),
            Action::Set(p, Expr::Call(f, args)) if f == "set_add" || f == "set_delete" => {
                let word = f.trim_start_matches("set_").to_uppercase();
                let [target, members] = args.as_slice() else {
                    return Err(invalid(format!(
                        "SET_{word} must have exactly two arguments"
                    )));
                };
                if !matches!(target, Expr::Path(t) if t == p) {
                    return Err(invalid(format!(
                        "The first argument to SET_{word} must equal the assignment value"
                    )));
                }
                let set = ph.literal(members, &p.to_string())?;
                let is_set = set
                    .as_ref()
                    .and_then(Json::as_object)
                    .and_then(|o| o.keys().next())
                    .is_some_and(|k| matches!(k.as_str(), "SS" | "NS" | "BS"));
                let Some(set) = set.filter(|_| is_set) else {
                    return Err(invalid(format!(
                        "The second argument to SET_{word} must be a value with type SET"
                    )));
                };
                let clause = format!("{} {}", ph.path(p), ph.value(set));
                if word == "ADD" {
                    adds.push(clause)
                } else {
                    deletes.push(clause)
                }
            }
            Action::Set(p, value) => {
                let target = ph.path(p);
                let value = set_value(ph, value, &p.to_string())?;
                sets.push(format!("{target} = {value}"));
            }
        }
    }
    let mut sections = Vec::new();
    for (word, list) in [
        ("SET", sets),
        ("REMOVE", removes),
        ("ADD", adds),
        ("DELETE", deletes),
    ] {
        if !list.is_empty() {
            sections.push(format!("{word} {}", list.join(", ")));
        }
    }
    // DynamoDB's UPDATE never creates an item: it fails on a missing one.
    let mut condition = format!("attribute_exists({})", ph.name(&key.partition.name));
    if !rest.is_empty() {
        condition = format!("{condition} AND {}", ph.conjunction(&rest)?);
    }
    let mut request = Map::new();
    request.insert("Key".into(), Json::Object(item_key));
    request.insert("UpdateExpression".into(), json!(sections.join(" ")));
    request.insert("ConditionExpression".into(), json!(condition));
    if let Some(r) = s.returning {
        request.insert("ReturnValues".into(), json!(r.return_values()));
    }
    Ok(request)
}

/// The right-hand side of `SET path = ...`: an operand, or two joined by
/// `+` or `-`, as UpdateExpression allows.
fn set_value(ph: &mut Placeholders<'_>, e: &Expr, at: &str) -> ApiResult<String> {
    match e {
        Expr::Add(a, b) | Expr::Sub(a, b) => {
            let sign = if matches!(e, Expr::Add(..)) { "+" } else { "-" };
            let (a, b) = (set_operand(ph, a, at)?, set_operand(ph, b, at)?);
            Ok(format!("{a} {sign} {b}"))
        }
        other => set_operand(ph, other, at),
    }
}

fn set_operand(ph: &mut Placeholders<'_>, e: &Expr, at: &str) -> ApiResult<String> {
    match e {
        Expr::Path(p) => Ok(ph.path(p)),
        Expr::Add(..) | Expr::Sub(..) => Err(invalid(format!(
            "Unsupported operator in Update Expression. Operator: more than one + or - in the value of {at}"
        ))),
        Expr::Call(f, args) if f == "list_append" || f == "if_not_exists" => {
            let [a, b] = args.as_slice() else {
                return Err(invalid(format!("{f} must have exactly two arguments")));
            };
            let (a, b) = (set_operand(ph, a, at)?, set_operand(ph, b, at)?);
            Ok(format!("{f}({a}, {b})"))
        }
        Expr::Call(f, _) if f == "set_add" || f == "set_delete" => Err(invalid(format!(
            "{} can only be the whole value of SET: SET {at} = {}({at}, <<...>>)",
            f.to_uppercase(),
            f
        ))),
        Expr::Call(f, _)
            if ["begins_with", "contains", "attribute_type", "size"].contains(&f.as_str()) =>
        {
            Err(invalid(format!(
                "Unsupported operator in Update Expression. Operator: {f}"
            )))
        }
        Expr::Call(f, _) => Err(invalid(format!("Unrecognized function: {f}"))),
        Expr::Missing => Err(invalid(MISSING_COMPARED)),
        e if is_value(e) => {
            let v = ph
                .literal(e, at)?
                .ok_or_else(|| invalid(MISSING_COMPARED))?;
            Ok(ph.value(v))
        }
        _ => Err(invalid(
            "IS operator is not supported in update expressions",
        )),
    }
}

fn delete(ph: &mut Placeholders<'_>, s: &Delete, key: &KeySchema) -> ApiResult<Map<String, Json>> {
    if let Some(r) = s
        .returning
        .filter(|r| *r != super::parser::Returning::AllOld)
    {
        return Err(invalid(format!(
            "Invalid returning clause: RETURNING {}. Only RETURNING ALL OLD * is allowed in DELETE statements.",
            r.words()
        )));
    }
    let (item_key, rest) = item_key(ph, &s.filter, key)?;
    let mut request = Map::new();
    request.insert("Key".into(), Json::Object(item_key));
    if !rest.is_empty() {
        // A missing item is deleted "successfully", as in DynamoDB; an
        // existing one must meet the other terms. AND binds tighter than
        // OR, so the terms need no parentheses.
        let pk = ph.name(&key.partition.name);
        let terms = ph.conjunction(&rest)?;
        request.insert(
            "ConditionExpression".into(),
            json!(format!("attribute_not_exists({pk}) OR {terms}")),
        );
    }
    if s.returning.is_some() {
        request.insert("ReturnValues".into(), json!("ALL_OLD"));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partiql::parser::parse;
    use crate::req::Req;
    use meridian_core::expr;
    use meridian_core::{KeyAttr, KeyType};

    fn composite() -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "pk".into(),
                ty: KeyType::S,
            },
            sort: Some(KeyAttr {
                name: "sk".into(),
                ty: KeyType::N,
            }),
        }
    }

    fn hash_only() -> KeySchema {
        KeySchema {
            partition: KeyAttr {
                name: "id".into(),
                ty: KeyType::S,
            },
            sort: None,
        }
    }

    /// Translates, then checks that the engine parses every expression and
    /// that every generated placeholder is used, as the handlers will.
    fn plan_with(src: &str, key: &KeySchema, params: &[Json]) -> ApiResult<Plan> {
        let parsed = parse(src).map_err(ApiError::from)?;
        let plan = translate(&parsed.statement, key, params)?;
        let r = Req(&plan.request);
        let (names, values) = (r.names(false).unwrap(), r.values(false).unwrap());
        let mut used = Vec::new();
        for member in ["ConditionExpression", "FilterExpression"] {
            if let Some(text) = r.opt_str(member).unwrap() {
                let (_, u) = expr::parse_condition(member, text, &names, &values)
                    .unwrap_or_else(|e| panic!("{src}: {member} {text:?}: {e}"));
                used.push(u);
            }
        }
        if let Some(text) = r.opt_str("KeyConditionExpression").unwrap() {
            let (_, u) = expr::parse_key_condition(text, &names, &values)
                .unwrap_or_else(|e| panic!("{src}: key condition {text:?}: {e}"));
            used.push(u);
        }
        if let Some(text) = r.opt_str("UpdateExpression").unwrap() {
            let (_, u) = expr::parse_update(text, &names, &values)
                .unwrap_or_else(|e| panic!("{src}: update {text:?}: {e}"));
            used.push(u);
        }
        if let Some(text) = r.opt_str("ProjectionExpression").unwrap() {
            let (_, u) = expr::parse_projection(text, &names)
                .unwrap_or_else(|e| panic!("{src}: projection {text:?}: {e}"));
            used.push(u);
        }
        let used: Vec<&expr::Usage> = used.iter().collect();
        expr::check_unused(&names, &values, &used).unwrap_or_else(|e| panic!("{src}: {e}"));
        Ok(plan)
    }

    fn plan(src: &str) -> Plan {
        plan_with(src, &composite(), &[]).unwrap_or_else(|e| panic!("{src}: {}", e.message))
    }

    fn err(src: &str) -> String {
        err_with(src, &composite())
    }

    fn err_with(src: &str, key: &KeySchema) -> String {
        match plan_with(src, key, &[]) {
            Ok(p) => panic!("{src}: translated to {:?}", p.request),
            Err(e) => e.message,
        }
    }

    fn member<'a>(p: &'a Plan, name: &str) -> &'a Json {
        p.request
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", p.request))
    }

    #[test]
    fn the_full_key_is_a_get_item_with_a_projection_of_placeholders() {
        let p = plan("SELECT a, name, m.status[0] FROM t WHERE pk = 'x' AND sk = 3");
        assert_eq!(p.op, Op::GetItem);
        assert_eq!(p.table, "t");
        assert_eq!(
            member(&p, "Key"),
            &json!({"pk": {"S": "x"}, "sk": {"N": "3"}})
        );
        assert_eq!(member(&p, "ProjectionExpression"), "#n0, #n1, #n2.#n3[0]");
        assert_eq!(
            member(&p, "ExpressionAttributeNames"),
            &json!({"#n0": "a", "#n1": "name", "#n2": "m", "#n3": "status"})
        );
        assert!(!p.request.contains_key("ExpressionAttributeValues"));
        // Either side of = and either order of terms.
        let q = plan("SELECT * FROM t WHERE 3 = sk AND 'x' = pk");
        assert_eq!(
            (q.op, member(&q, "Key")),
            (Op::GetItem, &json!({"pk": {"S": "x"}, "sk": {"N": "3"}}))
        );
        let h = plan_with(
            "SELECT * FROM t WHERE id = ?",
            &hash_only(),
            &[json!({"S": "p"})],
        )
        .unwrap();
        assert_eq!(
            (h.op, member(&h, "Key")),
            (Op::GetItem, &json!({"id": {"S": "p"}}))
        );
    }

    #[test]
    fn the_partition_key_is_a_query_the_rest_a_filter() {
        let p = plan_with(
            "SELECT * FROM t WHERE pk = ? AND sk BETWEEN 1 AND 5 AND status = 'on' ORDER BY sk DESC",
            &composite(),
            &[json!({"S": "p"})],
        )
        .unwrap();
        assert_eq!(p.op, Op::Query);
        assert_eq!(
            member(&p, "KeyConditionExpression"),
            "#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2"
        );
        assert_eq!(member(&p, "FilterExpression"), "#n2 = :v3");
        assert_eq!(member(&p, "ScanIndexForward"), false);
        assert_eq!(
            member(&p, "ExpressionAttributeValues"),
            &json!({":v0": {"S": "p"}, ":v1": {"N": "1"}, ":v2": {"N": "5"}, ":v3": {"S": "on"}})
        );
        // The whole key with another term reads the one item through a Query.
        let q = plan("SELECT * FROM t WHERE pk = 'a' AND sk = 1 AND (x = 1 OR y = 2)");
        assert_eq!(q.op, Op::Query);
        assert_eq!(
            member(&q, "KeyConditionExpression"),
            "#n0 = :v0 AND #n1 = :v1"
        );
        assert_eq!(member(&q, "FilterExpression"), "(#n2 = :v2 OR #n3 = :v3)");
        // begins_with queries; ORDER BY the partition key changes nothing.
        let r =
            plan("SELECT * FROM t WHERE begins_with(sk, 'a') AND pk = 'a' AND n < 9 ORDER BY pk");
        assert_eq!(r.op, Op::Query);
        assert_eq!(
            member(&r, "KeyConditionExpression"),
            "#n0 = :v0 AND begins_with(#n1, :v1)"
        );
        assert_eq!(member(&r, "FilterExpression"), "#n2 < :v2");
        assert!(!r.request.contains_key("ScanIndexForward"));
        // A value on the left is turned around for the key condition.
        let s = plan("SELECT * FROM t WHERE pk = 'a' AND 5 < sk");
        assert_eq!(
            member(&s, "KeyConditionExpression"),
            "#n0 = :v0 AND #n1 > :v1"
        );
        // A hash-only table with a filter.
        let h = plan_with(
            "SELECT * FROM t WHERE id = 'a' AND n > 1",
            &hash_only(),
            &[],
        )
        .unwrap();
        assert_eq!(
            (h.op, member(&h, "FilterExpression")),
            (Op::Query, &json!("#n1 > :v1"))
        );
    }

    #[test]
    fn other_terms_on_key_attributes_make_a_scan_since_a_query_cannot_filter_on_keys() {
        for src in [
            "SELECT * FROM t WHERE pk = 'a' AND sk > 1 AND sk < 9",
            "SELECT * FROM t WHERE pk = 'a' AND (sk = 1 OR sk = 2)",
            "SELECT * FROM t WHERE pk = 'a' AND pk = 'b'",
            "SELECT * FROM t WHERE pk = 'a' AND sk = 1 AND size(pk) > 1",
        ] {
            let p = plan(src);
            assert_eq!(p.op, Op::Scan, "{src}");
            assert!(!p.request.contains_key("KeyConditionExpression"), "{src}");
        }
        let p = plan("SELECT * FROM t WHERE pk = 'a' AND sk > 1 AND sk < 9");
        assert_eq!(
            member(&p, "FilterExpression"),
            "#n0 = :v0 AND #n1 > :v1 AND #n1 < :v2"
        );
        assert_eq!(
            err("SELECT * FROM t WHERE pk = 'a' AND sk > 1 AND sk < 9 ORDER BY sk DESC"),
            ORDER_BY_NEEDS_QUERY
        );
    }

    #[test]
    fn anything_else_is_a_scan_with_the_whole_where_as_filter() {
        let p = plan("SELECT * FROM t WHERE sk > 3 OR pk = 'a'");
        assert_eq!(p.op, Op::Scan);
        assert_eq!(member(&p, "FilterExpression"), "#n0 > :v0 OR #n1 = :v1");
        assert_eq!(plan("SELECT * FROM t WHERE pk <> 'a'").op, Op::Scan);
        let all = plan("SELECT * FROM t");
        assert_eq!(all.op, Op::Scan);
        assert_eq!(
            all.request,
            Map::from_iter([("TableName".to_string(), json!("t"))])
        );
        let f = plan(
            "SELECT * FROM t WHERE NOT (a = 1 OR b IS MISSING) AND c IN [1, 'x'] AND size(d) > 2 \
             AND e IS NULL AND f IS NOT STRING AND contains(g, 'z') AND h.i IS NOT MISSING AND attribute_type(j, 'N')",
        );
        assert_eq!(
            member(&f, "FilterExpression"),
            "NOT (#n0 = :v0 OR attribute_not_exists(#n1)) AND #n2 IN (:v1, :v2) AND size(#n3) > :v3 \
             AND attribute_type(#n4, :v4) AND NOT attribute_type(#n5, :v5) AND contains(#n6, :v6) \
             AND attribute_exists(#n7.#n8) AND attribute_type(#n9, :v7)"
        );
        let values = member(&f, "ExpressionAttributeValues");
        assert_eq!(
            (&values[":v4"], &values[":v5"]),
            (&json!({"S": "NULL"}), &json!({"S": "S"}))
        );
    }

    #[test]
    fn where_clauses_the_engine_cannot_express_are_refused_in_partiql_terms() {
        assert_eq!(err("SELECT * FROM t WHERE a"), NOT_BOOLEAN);
        assert_eq!(err("SELECT * FROM t WHERE size(a)"), NOT_BOOLEAN);
        assert_eq!(err("SELECT * FROM t WHERE a = MISSING"), MISSING_COMPARED);
        assert!(
            err("SELECT * FROM t WHERE a + 1 = 2").starts_with("Unsupported operation: arithmetic")
        );
        assert_eq!(
            err("SELECT * FROM t WHERE foo(a)"),
            "Unrecognized function: foo"
        );
        assert!(
            err("SELECT * FROM t WHERE begins_with(a)")
                .starts_with("Incorrect number of arguments for function begins_with")
        );
        assert!(
            err("SELECT * FROM t WHERE 'a' IS MISSING")
                .starts_with("The left hand side argument to IS")
        );
        assert!(err("SELECT * FROM t WHERE a IN []").starts_with("IN operator must have"));
    }

    #[test]
    fn order_by_and_indexes() {
        assert_eq!(
            err("SELECT * FROM t ORDER BY sk"),
            "Must have WHERE clause in the statement when using ORDER BY clause."
        );
        assert_eq!(
            err("SELECT * FROM t WHERE sk = 1 ORDER BY sk"),
            "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."
        );
        assert_eq!(
            err("SELECT * FROM t WHERE pk = 'a' ORDER BY other"),
            "Variable reference other in ORDER BY clause must be part of the primary key"
        );
    }

    #[test]
    fn a_select_of_an_index_queries_it_by_its_key() {
        use meridian_core::index::{Kind, Projection};
        let attr = |n: &str| meridian_core::KeyAttr {
            name: n.into(),
            ty: meridian_core::KeyType::S,
        };
        let index = IndexDef {
            name: "by_kind".into(),
            kind: Kind::Global,
            partition: vec![attr("kind")],
            sort: vec![attr("at")],
            projection: Projection::All,
            throughput: None,
        };
        let plan = |src: &str, index: &IndexDef| {
            let Statement::Select(s) = parse(src).unwrap().statement else {
                panic!("{src}: not a SELECT");
            };
            translate_index(&s, index, &[]).unwrap()
        };
        // The whole index key names many items: a Query, never a GetItem.
        let p = plan(
            r#"SELECT * FROM "t"."by_kind" WHERE kind = 'a' AND at = 'b'"#,
            &index,
        );
        assert!(matches!(p.op, Op::Query), "{:?}", p.request);
        assert_eq!(p.request["IndexName"], "by_kind");
        assert!(p.request.contains_key("KeyConditionExpression"));
        let p = plan(r#"SELECT * FROM "t"."by_kind" WHERE other = 'x'"#, &index);
        assert!(matches!(p.op, Op::Scan), "{:?}", p.request);
        assert_eq!(p.request["IndexName"], "by_kind");
        // A multi-attribute key: a Scan of the index, filtered.
        let mut multi = index.clone();
        multi.partition.push(attr("region"));
        let p = plan(r#"SELECT * FROM "t"."by_kind" WHERE kind = 'a'"#, &multi);
        assert!(matches!(p.op, Op::Scan) && p.request.contains_key("FilterExpression"));
    }

    #[test]
    fn insert_is_a_put_that_must_not_replace() {
        let p = plan_with(
            "INSERT INTO t VALUE {'pk': 'a', 'sk': -1.5e2, 'gone': MISSING, 'tags': <<'x', 'y'>>, \
             'nums': <<1, 2>>, 'm': {'l': [NULL, TRUE, 'it''s']}, 'p': ?, ?: 'named by a parameter'}",
            &composite(),
            &[json!({"B": "AAE="}), json!({"S": "k"})],
        )
        .unwrap();
        assert_eq!(p.op, Op::PutItem);
        assert_eq!(
            member(&p, "Item"),
            &json!({
                "pk": {"S": "a"}, "sk": {"N": "-1.5e2"},
                "tags": {"SS": ["x", "y"]}, "nums": {"NS": ["1", "2"]},
                "m": {"M": {"l": {"L": [{"NULL": true}, {"BOOL": true}, {"S": "it's"}]}}},
                "p": {"B": "AAE="}, "k": {"S": "named by a parameter"},
            })
        );
        assert_eq!(
            member(&p, "ConditionExpression"),
            "attribute_not_exists(#n0)"
        );
        assert_eq!(
            member(&p, "ExpressionAttributeNames"),
            &json!({"#n0": "pk"})
        );
        let q = plan_with(
            "INSERT INTO t VALUE ?",
            &composite(),
            &[json!({"M": {"pk": {"S": "a"}}})],
        )
        .unwrap();
        assert_eq!(member(&q, "Item"), &json!({"pk": {"S": "a"}}));
    }

    #[test]
    fn insert_values_are_checked() {
        assert_eq!(
            err("INSERT INTO t VALUE {'a': 1, 'a': 2}"),
            "Duplicate keys in tuple. Key: a under "
        );
        assert_eq!(
            err("INSERT INTO t VALUE {'m': {'b': 1, 'b': 2}}"),
            "Duplicate keys in tuple. Key: b under m"
        );
        assert_eq!(
            err("INSERT INTO t VALUE {1: 2}"),
            "Tuple keys must be of type String. Actual type: NUMBER under "
        );
        let bag = "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags";
        assert_eq!(err("INSERT INTO t VALUE {'s': <<1, 'a'>>}"), bag);
        assert_eq!(err("INSERT INTO t VALUE {'s': <<[1]>>}"), bag);
        assert_eq!(
            err("INSERT INTO t VALUE {'s': <<>>}"),
            "Empty bags are not supported"
        );
        assert_eq!(
            err("INSERT INTO t VALUE {'l': [MISSING]}"),
            MISSING_COMPARED
        );
        assert!(err("INSERT INTO t VALUE {'n': 1e999}").starts_with("Number overflow"));
        assert!(
            err("INSERT INTO t VALUE {'n': x}").contains("where a value is expected, under key n")
        );
        assert!(
            plan_with("INSERT INTO t VALUE ?", &composite(), &[json!({"S": "a"})])
                .unwrap_err()
                .message
                .starts_with("Unsupported format in item expression")
        );
        assert!(
            plan_with(
                "INSERT INTO t VALUE {?: 1}",
                &composite(),
                &[json!({"N": "1"})]
            )
            .unwrap_err()
            .message
            .starts_with("Tuple keys must be of type String. Actual type: N")
        );
    }

    #[test]
    fn update_is_an_update_item_of_an_existing_item() {
        let p = plan_with(
            "UPDATE t SET a = 1, b = b + ?, c = list_append(c, [2]) SET tags = set_add(tags, <<'z'>>) \
             REMOVE d.e[1] SET s = set_delete(s, <<3>>) WHERE pk = 'k' AND sk = 2 AND f > 0 RETURNING ALL NEW *",
            &composite(),
            &[json!({"N": "5"})],
        )
        .unwrap();
        assert_eq!(p.op, Op::UpdateItem);
        assert_eq!(
            member(&p, "Key"),
            &json!({"pk": {"S": "k"}, "sk": {"N": "2"}})
        );
        assert_eq!(
            member(&p, "UpdateExpression"),
            "SET #n0 = :v0, #n1 = #n1 + :v1, #n2 = list_append(#n2, :v2) REMOVE #n4.#n5[1] ADD #n3 :v3 DELETE #n6 :v4"
        );
        assert_eq!(
            member(&p, "ConditionExpression"),
            "attribute_exists(#n7) AND #n8 > :v5"
        );
        assert_eq!(member(&p, "ReturnValues"), "ALL_NEW");
        assert_eq!(
            member(&p, "ExpressionAttributeValues")[":v3"],
            json!({"SS": ["z"]})
        );
        let q = plan(
            "UPDATE t SET a = 1 WHERE pk = 'k' AND sk = 2 AND (x = 1 OR x IS MISSING) RETURNING MODIFIED OLD *",
        );
        assert_eq!(
            member(&q, "ConditionExpression"),
            "attribute_exists(#n1) AND (#n2 = :v1 OR attribute_not_exists(#n2))"
        );
        assert_eq!(member(&q, "ReturnValues"), "UPDATED_OLD");
    }

    #[test]
    fn writes_need_one_equality_per_key_attribute() {
        assert_eq!(err("UPDATE t SET a = 1 WHERE pk = 'k'"), MISSING_KEY);
        assert_eq!(
            err("UPDATE t SET a = 1 WHERE pk = 'k' OR sk = 1"),
            MISSING_KEY
        );
        assert_eq!(err("DELETE FROM t WHERE pk = 'k' AND sk > 1"), MISSING_KEY);
        assert_eq!(
            err("DELETE FROM t WHERE pk = 'k' AND sk = 1 AND pk = 'j'"),
            "Multiple conditions on same key pk. Only single item Update/Insert/Delete are supported"
        );
        assert_eq!(
            err_with("DELETE FROM t WHERE pk = 'k'", &hash_only()),
            MISSING_KEY
        );
    }

    #[test]
    fn update_values_are_checked() {
        let k = "WHERE pk = 'k' AND sk = 1";
        assert_eq!(
            err(&format!("UPDATE t SET a = set_add(b, <<1>>) {k}")),
            "The first argument to SET_ADD must equal the assignment value"
        );
        assert_eq!(
            err(&format!("UPDATE t SET a = set_delete(a, [1]) {k}")),
            "The second argument to SET_DELETE must be a value with type SET"
        );
        assert_eq!(
            err(&format!("UPDATE t SET a = set_add(a) {k}")),
            "SET_ADD must have exactly two arguments"
        );
        assert!(
            err(&format!("UPDATE t SET a = a + 1 + 2 {k}"))
                .starts_with("Unsupported operator in Update Expression")
        );
        assert_eq!(
            err(&format!("UPDATE t SET a = MISSING {k}")),
            MISSING_COMPARED
        );
        assert!(
            err(&format!("UPDATE t SET a = b IS NULL {k}"))
                .contains("unexpected keyword IS, expected WHERE")
        );
        assert_eq!(
            err(&format!("UPDATE t SET a = nope(a) {k}")),
            "Unrecognized function: nope"
        );
    }

    #[test]
    fn delete_of_a_missing_item_succeeds_and_of_an_existing_one_meets_the_rest() {
        let p = plan(
            "DELETE FROM t WHERE pk = 'k' AND sk = 1 AND (a = 1 OR b = 2) AND c < 3 RETURNING ALL OLD *",
        );
        assert_eq!(p.op, Op::DeleteItem);
        assert_eq!(
            member(&p, "Key"),
            &json!({"pk": {"S": "k"}, "sk": {"N": "1"}})
        );
        assert_eq!(
            member(&p, "ConditionExpression"),
            "attribute_not_exists(#n0) OR (#n1 = :v0 OR #n2 = :v1) AND #n3 < :v2"
        );
        assert_eq!(member(&p, "ReturnValues"), "ALL_OLD");
        let q = plan("DELETE FROM t WHERE sk = 1 AND pk = 'k'");
        assert!(!q.request.contains_key("ConditionExpression"));
        assert!(!q.request.contains_key("ReturnValues"));
        assert_eq!(
            err("DELETE FROM t WHERE pk = 'k' AND sk = 1 RETURNING MODIFIED NEW *"),
            "Invalid returning clause: RETURNING MODIFIED NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements."
        );
    }

    #[test]
    fn parameters_bind_in_order_wherever_values_go() {
        let params = [
            json!({"S": "k"}),
            json!({"N": "2"}),
            json!({"L": [{"S": "x"}]}),
            json!({"BOOL": true}),
        ];
        let p = plan_with(
            "UPDATE t SET a = ?, b = ? WHERE pk = ? AND sk = ?",
            &composite(),
            &[
                params[2].clone(),
                params[3].clone(),
                params[0].clone(),
                params[1].clone(),
            ],
        )
        .unwrap();
        assert_eq!(
            member(&p, "Key"),
            &json!({"pk": params[0], "sk": params[1]})
        );
        assert_eq!(
            member(&p, "ExpressionAttributeValues"),
            &json!({":v0": params[2], ":v1": params[3]})
        );
        // A parameter beyond those given is refused, not a panic.
        assert_eq!(
            plan_with("SELECT * FROM t WHERE a = ?", &composite(), &[])
                .unwrap_err()
                .message,
            "Number of parameters in request and statement don't match."
        );
    }
}
