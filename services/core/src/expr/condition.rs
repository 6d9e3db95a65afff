//! Condition and filter expressions: resolution and evaluation.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::parser::{CmpOp, Parser, REDUNDANT_PARENS, RawCond, RawFunc, RawOperand};
use super::resolve::{Cat, Resolver, show_value};
use super::{ExprError, MAX_IN_OPERANDS, Names, Path, Usage, Values, check_text, parse_with_stack};
use crate::number::Number;
use crate::value::{AttrValue, Item};

/// A value-producing operand of a condition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Box<Operand>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cond {
    Cmp(CmpOp, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    Type(Operand, String),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// A parsed and validated condition (or filter) expression.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionExpr {
    pub(crate) root: Cond,
}

/// Parses a `ConditionExpression` or `FilterExpression`; `kind` names the
/// expression in error messages.
pub fn parse_condition(
    kind: &'static str,
    text: &str,
    names: &Names,
    values: &Values,
) -> Result<(ConditionExpr, Usage), ExprError> {
    let (root, usage) = parse_cond(kind, text, names, values)?;
    Ok((ConditionExpr { root }, usage))
}

pub(crate) fn parse_cond(
    kind: &'static str,
    text: &str,
    names: &Names,
    values: &Values,
) -> Result<(Cond, Usage), ExprError> {
    check_text(kind, text)?;
    let (raw, redundant_parens) = parse_with_stack(text, || {
        let mut parser = Parser::for_condition(kind, text);
        let raw = parser.condition()?;
        Ok((raw, parser.redundant_parens))
    })?;
    let mut r = Resolver::new(kind, names, values);
    if redundant_parens {
        r.report(Cat::Parens, REDUNDANT_PARENS);
    }
    let cond = resolve_cond(&mut r, &raw);
    let usage = r.finish()?;
    Ok((cond, usage))
}

const BOOLEAN_FUNCTIONS: &[&str] = &[
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
];
const UPDATE_FUNCTIONS: &[&str] = &["if_not_exists", "list_append"];
const TYPE_NAMES: &[&str] = &["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];

fn operand_type_error(r: &mut Resolver<'_>, op: &str, ty: &str) {
    r.report(
        Cat::OperandType,
        format!("Incorrect operand type for operator or function; operator or function: {op}, operand type: {ty}"),
    );
}

fn check_arity(r: &mut Resolver<'_>, f: &RawFunc, want: usize) -> bool {
    if f.args.len() == want {
        return true;
    }
    r.report(
        Cat::Arity,
        format!(
            "Incorrect number of operands for operator or function; operator or function: {}, number of operands: {}",
            f.name,
            f.args.len()
        ),
    );
    false
}

fn check_distinct(r: &mut Resolver<'_>, op: &str, a: &Operand, b: &Operand) {
    if let (Operand::Path(p), Operand::Path(q)) = (a, b)
        && p == q
    {
        r.report(
            Cat::Distinct,
            format!(
                "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {}",
                p.bracketed()
            ),
        );
    }
}

/// The type an operand is known to have before evaluation, if any.
fn static_type(op: &Operand) -> Option<&'static str> {
    match op {
        Operand::Value(v) => Some(v.type_name()),
        Operand::Size(_) => Some("N"),
        Operand::Path(_) => None,
    }
}

fn is_ordered_type(t: &str) -> bool {
    matches!(t, "N" | "S" | "B")
}

pub(crate) fn resolve_operand(r: &mut Resolver<'_>, raw: &RawOperand) -> Operand {
    match raw {
        RawOperand::Path(p) => Operand::Path(r.path(p)),
        RawOperand::Value(v) => Operand::Value(r.value(v)),
        RawOperand::Func(f) => {
            let args: Vec<Operand> = f.args.iter().map(|a| resolve_operand(r, a)).collect();
            match f.name.as_str() {
                "size" => {
                    if !check_arity(r, f, 1) {
                        return Operand::Value(AttrValue::Null);
                    }
                    let arg = args
                        .into_iter()
                        .next()
                        .unwrap_or(Operand::Value(AttrValue::Null));
                    if let Some(t @ ("N" | "BOOL" | "NULL")) = static_type(&arg) {
                        operand_type_error(r, "size", t);
                    }
                    Operand::Size(Box::new(arg))
                }
                name => {
                    misplaced_function(r, name, true);
                    Operand::Value(AttrValue::Null)
                }
            }
        }
    }
}

/// Reports a function that cannot appear where it does. `as_operand`: it was
/// used as a value (else as a condition).
fn misplaced_function(r: &mut Resolver<'_>, name: &str, as_operand: bool) {
    if UPDATE_FUNCTIONS.contains(&name) {
        r.report(
            Cat::MisusedFunction,
            format!("The function is not allowed in a condition expression; function: {name}"),
        );
    } else if (as_operand && BOOLEAN_FUNCTIONS.contains(&name)) || (!as_operand && name == "size") {
        r.report(
            Cat::MisusedFunction,
            format!(
                "The function is not allowed to be used this way in an expression; function: {name}"
            ),
        );
    } else {
        r.report(
            Cat::UnknownFunction,
            format!("Invalid function name; function: {name}"),
        );
    }
}

fn resolve_cond(r: &mut Resolver<'_>, raw: &RawCond) -> Cond {
    match raw {
        RawCond::Cmp(op, a, b) => {
            let (a, b) = (resolve_operand(r, a), resolve_operand(r, b));
            check_distinct(r, op.symbol(), &a, &b);
            if *op != CmpOp::Eq && *op != CmpOp::Ne {
                for o in [&a, &b] {
                    if let Operand::Value(v) = o
                        && !is_ordered_type(v.type_name())
                    {
                        operand_type_error(r, op.symbol(), v.type_name());
                    }
                }
            }
            Cond::Cmp(*op, a, b)
        }
        RawCond::Between(x, lo, hi) => {
            let x = resolve_operand(r, x);
            let (lo, hi) = (resolve_operand(r, lo), resolve_operand(r, hi));
            for o in [&x, &lo, &hi] {
                if let Operand::Value(v) = o
                    && !is_ordered_type(v.type_name())
                {
                    operand_type_error(r, "BETWEEN", v.type_name());
                }
            }
            if let (Operand::Value(l), Operand::Value(h)) = (&lo, &hi)
                && is_ordered_type(l.type_name())
                && is_ordered_type(h.type_name())
            {
                let bounds = format!(
                    "lower bound operand: {}, upper bound operand: {}",
                    show_value(l),
                    show_value(h)
                );
                if l.type_name() != h.type_name() {
                    r.report(
                        Cat::OperandType,
                        format!("The BETWEEN operator requires same data type for lower and upper bounds; {bounds}"),
                    );
                } else if compare(l, h) == Some(Ordering::Greater) {
                    r.report(
                        Cat::OperandType,
                        format!("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; {bounds}"),
                    );
                }
            }
            Cond::Between(x, lo, hi)
        }
        RawCond::In(x, list) => {
            let x = resolve_operand(r, x);
            let list: Vec<Operand> = list.iter().map(|o| resolve_operand(r, o)).collect();
            if list.len() + 1 > MAX_IN_OPERANDS {
                r.report(
                    Cat::Limit,
                    format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len() + 1
                    ),
                );
            }
            Cond::In(x, list)
        }
        RawCond::And(a, b) => Cond::And(Box::new(resolve_cond(r, a)), Box::new(resolve_cond(r, b))),
        RawCond::Or(a, b) => Cond::Or(Box::new(resolve_cond(r, a)), Box::new(resolve_cond(r, b))),
        RawCond::Not(c) => Cond::Not(Box::new(resolve_cond(r, c))),
        RawCond::Func(f) => resolve_function_cond(r, f),
    }
}

fn resolve_function_cond(r: &mut Resolver<'_>, f: &RawFunc) -> Cond {
    let args: Vec<Operand> = f.args.iter().map(|a| resolve_operand(r, a)).collect();
    let dummy = Cond::Exists(Path::attr(""));
    let name = f.name.as_str();
    if !BOOLEAN_FUNCTIONS.contains(&name) {
        misplaced_function(r, name, false);
        return dummy;
    }
    let want = if name.starts_with("attribute_") && name != "attribute_type" {
        1
    } else {
        2
    };
    if !check_arity(r, f, want) {
        return dummy;
    }
    let mut args = args.into_iter();
    let a = args.next().unwrap_or(Operand::Value(AttrValue::Null));
    let b = args.next().unwrap_or(Operand::Value(AttrValue::Null));
    match name {
        "attribute_exists" | "attribute_not_exists" => {
            let Operand::Path(p) = a else {
                r.report(
                    Cat::OperandType,
                    format!("Operator or function requires a document path; operator or function: {name}"),
                );
                return dummy;
            };
            if name == "attribute_exists" {
                Cond::Exists(p)
            } else {
                Cond::NotExists(p)
            }
        }
        "attribute_type" => match &b {
            Operand::Value(AttrValue::S(t)) if TYPE_NAMES.contains(&t.as_str()) => {
                Cond::Type(a, t.clone())
            }
            Operand::Value(AttrValue::S(t)) => {
                r.report(
                    Cat::OperandType,
                    format!(
                        "Invalid attribute type name found; type: {t}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                    ),
                );
                dummy
            }
            other => {
                let ty = static_type(other).unwrap_or("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}");
                operand_type_error(r, name, ty);
                dummy
            }
        },
        "begins_with" => {
            check_distinct(r, name, &a, &b);
            for o in [&a, &b] {
                if let Some(t) = static_type(o)
                    && t != "S"
                    && t != "B"
                {
                    operand_type_error(r, name, t);
                }
            }
            Cond::BeginsWith(a, b)
        }
        _ => {
            check_distinct(r, name, &a, &b);
            Cond::Contains(a, b)
        }
    }
}

// ---- evaluation -----------------------------------------------------------

/// Orders two values of the same scalar type (N, S or B); `None` otherwise.
pub fn compare(a: &AttrValue, b: &AttrValue) -> Option<Ordering> {
    match (a, b) {
        (AttrValue::N(x), AttrValue::N(y)) => Some(x.cmp(y)),
        (AttrValue::S(x), AttrValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttrValue::B(x), AttrValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// What `size()` returns, if the type has a size.
fn size_of(v: &AttrValue) -> Option<usize> {
    Some(match v {
        AttrValue::S(s) => s.len(),
        AttrValue::B(b) => b.len(),
        AttrValue::Ss(s) => s.len(),
        AttrValue::Ns(s) => s.len(),
        AttrValue::Bs(s) => s.len(),
        AttrValue::L(l) => l.len(),
        AttrValue::M(m) => m.len(),
        AttrValue::N(_) | AttrValue::Bool(_) | AttrValue::Null => return None,
    })
}

fn eval_operand<'a>(op: &'a Operand, item: Option<&'a Item>) -> Option<Cow<'a, AttrValue>> {
    match op {
        Operand::Path(p) => item.and_then(|i| p.get(i)).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(inner) => {
            let n = size_of(eval_operand(inner, item)?.as_ref())?;
            Number::parse(&n.to_string(), "size")
                .ok()
                .map(|n| Cow::Owned(AttrValue::N(n)))
        }
    }
}

fn contains(haystack: &AttrValue, needle: &AttrValue) -> bool {
    match (haystack, needle) {
        (AttrValue::S(h), AttrValue::S(n)) => h.contains(n.as_str()),
        (AttrValue::B(h), AttrValue::B(n)) => {
            n.is_empty() || h.windows(n.len()).any(|w| w == n.as_slice())
        }
        (AttrValue::Ss(h), AttrValue::S(n)) => h.binary_search(n).is_ok(),
        (AttrValue::Ns(h), AttrValue::N(n)) => h.binary_search(n).is_ok(),
        (AttrValue::Bs(h), AttrValue::B(n)) => h.binary_search(n).is_ok(),
        (AttrValue::L(h), n) => h.iter().any(|e| e == n),
        _ => false,
    }
}

pub(crate) fn eval_cond(c: &Cond, item: Option<&Item>) -> bool {
    let val = |o| eval_operand(o, item);
    match c {
        Cond::Cmp(op, a, b) => {
            let (a, b) = (val(a), val(b));
            match op {
                CmpOp::Eq => matches!((a, b), (Some(a), Some(b)) if a == b),
                CmpOp::Ne => !matches!((a, b), (Some(a), Some(b)) if a == b),
                _ => {
                    let ord = match (a, b) {
                        (Some(a), Some(b)) => compare(&a, &b),
                        _ => None,
                    };
                    match (op, ord) {
                        (_, None) => false,
                        (CmpOp::Lt, Some(o)) => o.is_lt(),
                        (CmpOp::Le, Some(o)) => o.is_le(),
                        (CmpOp::Gt, Some(o)) => o.is_gt(),
                        (_, Some(o)) => o.is_ge(),
                    }
                }
            }
        }
        Cond::Between(x, lo, hi) => match (val(x), val(lo), val(hi)) {
            (Some(x), Some(lo), Some(hi)) => {
                compare(&x, &lo).is_some_and(Ordering::is_ge)
                    && compare(&x, &hi).is_some_and(Ordering::is_le)
            }
            _ => false,
        },
        Cond::In(x, list) => match val(x) {
            Some(x) => list.iter().any(|o| val(o).is_some_and(|v| v == x)),
            None => false,
        },
        Cond::And(a, b) => eval_cond(a, item) && eval_cond(b, item),
        Cond::Or(a, b) => eval_cond(a, item) || eval_cond(b, item),
        Cond::Not(a) => !eval_cond(a, item),
        Cond::Exists(p) => item.and_then(|i| p.get(i)).is_some(),
        Cond::NotExists(p) => item.and_then(|i| p.get(i)).is_none(),
        Cond::Type(o, t) => val(o).is_some_and(|v| v.type_name() == t),
        Cond::BeginsWith(a, b) => match (val(a), val(b)) {
            (Some(a), Some(b)) => match (&*a, &*b) {
                (AttrValue::S(a), AttrValue::S(b)) => a.starts_with(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => a.starts_with(b),
                _ => false,
            },
            _ => false,
        },
        Cond::Contains(a, b) => match (val(a), val(b)) {
            (Some(a), Some(b)) => contains(&a, &b),
            _ => false,
        },
    }
}

impl ConditionExpr {
    /// Evaluates against an item; `None` means the item does not exist (every
    /// attribute is missing). Comparisons of missing attributes or mismatched
    /// types are false, never errors.
    pub fn eval(&self, item: Option<&Item>) -> Result<bool, ExprError> {
        Ok(eval_cond(&self.root, item))
    }

    /// The top-level attributes the expression reads, in name order: a
    /// Query's filter may not read the key (DynamoDB's rule).
    pub fn attributes(&self) -> std::collections::BTreeSet<String> {
        fn operand(o: &Operand, out: &mut std::collections::BTreeSet<String>) {
            match o {
                Operand::Path(p) => {
                    out.insert(p.top().to_string());
                }
                Operand::Size(inner) => operand(inner, out),
                Operand::Value(_) => {}
            }
        }
        fn cond(c: &Cond, out: &mut std::collections::BTreeSet<String>) {
            match c {
                Cond::Cmp(_, a, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
                    operand(a, out);
                    operand(b, out);
                }
                Cond::Between(x, lo, hi) => {
                    for o in [x, lo, hi] {
                        operand(o, out);
                    }
                }
                Cond::In(x, list) => {
                    operand(x, out);
                    list.iter().for_each(|o| operand(o, out));
                }
                Cond::And(a, b) | Cond::Or(a, b) => {
                    cond(a, out);
                    cond(b, out);
                }
                Cond::Not(a) => cond(a, out),
                Cond::Exists(p) | Cond::NotExists(p) => {
                    out.insert(p.top().to_string());
                }
                Cond::Type(o, _) => operand(o, out),
            }
        }
        let mut out = std::collections::BTreeSet::new();
        cond(&self.root, &mut out);
        out
    }
}
