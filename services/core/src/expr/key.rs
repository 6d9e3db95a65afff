//! Key condition expressions (Query). Parsed with the condition grammar, as
//! DynamoDB does, then restricted to `pk = :v [AND <sort key condition>]`.

use std::cmp::Ordering;

use super::condition::{Cond, Operand, compare, parse_cond};
use super::parser::CmpOp;
use super::{ExprError, Names, PathElem, Usage, Values};
use crate::value::AttrValue;

/// A condition on the sort key.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKeyCondition {
    Eq(String, AttrValue),
    Lt(String, AttrValue),
    Le(String, AttrValue),
    Gt(String, AttrValue),
    Ge(String, AttrValue),
    Between(String, AttrValue, AttrValue),
    BeginsWith(String, AttrValue),
}

impl SortKeyCondition {
    /// The sort key attribute named in the condition.
    pub fn attribute(&self) -> &str {
        match self {
            SortKeyCondition::Eq(a, _)
            | SortKeyCondition::Lt(a, _)
            | SortKeyCondition::Le(a, _)
            | SortKeyCondition::Gt(a, _)
            | SortKeyCondition::Ge(a, _)
            | SortKeyCondition::Between(a, _, _)
            | SortKeyCondition::BeginsWith(a, _) => a,
        }
    }

    /// The constant values of the condition (to check against the key type).
    pub fn values(&self) -> Vec<&AttrValue> {
        match self {
            SortKeyCondition::Eq(_, v)
            | SortKeyCondition::Lt(_, v)
            | SortKeyCondition::Le(_, v)
            | SortKeyCondition::Gt(_, v)
            | SortKeyCondition::Ge(_, v)
            | SortKeyCondition::BeginsWith(_, v) => vec![v],
            SortKeyCondition::Between(_, lo, hi) => vec![lo, hi],
        }
    }

    /// Whether a sort key value satisfies the condition. Values of another
    /// type never do.
    pub fn matches(&self, key: &AttrValue) -> bool {
        let ord = |v: &AttrValue| compare(key, v);
        match self {
            SortKeyCondition::Eq(_, v) => ord(v) == Some(Ordering::Equal),
            SortKeyCondition::Lt(_, v) => ord(v).is_some_and(Ordering::is_lt),
            SortKeyCondition::Le(_, v) => ord(v).is_some_and(Ordering::is_le),
            SortKeyCondition::Gt(_, v) => ord(v).is_some_and(Ordering::is_gt),
            SortKeyCondition::Ge(_, v) => ord(v).is_some_and(Ordering::is_ge),
            SortKeyCondition::Between(_, lo, hi) => {
                ord(lo).is_some_and(Ordering::is_ge) && ord(hi).is_some_and(Ordering::is_le)
            }
            SortKeyCondition::BeginsWith(_, v) => match (key, v) {
                (AttrValue::S(k), AttrValue::S(p)) => k.starts_with(p.as_str()),
                (AttrValue::B(k), AttrValue::B(p)) => k.starts_with(p),
                _ => false,
            },
        }
    }
}

/// A parsed key condition: an equality on one attribute (taken to be the
/// partition key) and an optional condition on another (the sort key).
/// Conditions may be written in either order; when both are equalities the
/// first is taken as the partition key until [`KeyCondition::oriented`] is
/// called with the table's partition key name. Checking names and value
/// types against the key schema is the caller's job.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyCondition {
    pub partition: (String, AttrValue),
    pub sort: Option<SortKeyCondition>,
}

impl KeyCondition {
    /// Makes `partition` the condition on `partition_key`, swapping the two
    /// equalities if they were written the other way round.
    pub fn oriented(self, partition_key: &str) -> Result<KeyCondition, ExprError> {
        if self.partition.0 == partition_key {
            return Ok(self);
        }
        match self.sort {
            Some(SortKeyCondition::Eq(name, v)) if name == partition_key => Ok(KeyCondition {
                partition: (name, v),
                sort: Some(SortKeyCondition::Eq(self.partition.0, self.partition.1)),
            }),
            _ => Err(ExprError::validation(format!(
                "Query condition missed key schema element: {partition_key}"
            ))),
        }
    }
}

fn unsupported() -> ExprError {
    ExprError::validation("Query key condition not supported")
}

fn bad_operator(op: &str) -> ExprError {
    ExprError::validation(format!(
        "Invalid operator used in KeyConditionExpression: {op}"
    ))
}

fn leaves<'a>(c: &'a Cond, out: &mut Vec<&'a Cond>) -> Result<(), ExprError> {
    match c {
        Cond::And(a, b) => {
            leaves(a, out)?;
            leaves(b, out)
        }
        Cond::Or(..) => Err(bad_operator("OR")),
        Cond::Not(_) => Err(bad_operator("NOT")),
        Cond::In(..) => Err(bad_operator("IN")),
        Cond::Cmp(CmpOp::Ne, ..) => Err(bad_operator("<>")),
        Cond::Exists(_) => Err(bad_operator("attribute_exists")),
        Cond::NotExists(_) => Err(bad_operator("attribute_not_exists")),
        Cond::Type(..) => Err(bad_operator("attribute_type")),
        Cond::Contains(..) => Err(bad_operator("contains")),
        other => {
            out.push(other);
            Ok(())
        }
    }
}

fn multiple_names() -> ExprError {
    ExprError::validation(
        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
    )
}

/// The one key attribute among a condition's operands, with its position.
/// DynamoDB reads the operands in order: a second attribute path is
/// refused as such before its own shape is looked at.
fn the_attribute(ops: &[&Operand]) -> Result<(String, usize), ExprError> {
    let mut found = None;
    for (i, op) in ops.iter().enumerate() {
        match op {
            Operand::Value(_) => {}
            Operand::Size(_) => return Err(bad_operator("size")),
            Operand::Path(_) if found.is_some() => return Err(multiple_names()),
            Operand::Path(p) => match p.0.as_slice() {
                [PathElem::Attr(a)] => found = Some((a.clone(), i)),
                _ => {
                    return Err(ExprError::validation(
                        "KeyConditionExpressions cannot have conditions on nested attributes",
                    ));
                }
            },
        }
    }
    found.ok_or_else(unsupported)
}

fn value(op: &Operand) -> Result<AttrValue, ExprError> {
    match op {
        Operand::Value(v) => Ok(v.clone()),
        _ => Err(unsupported()),
    }
}

fn to_sort_condition(c: &Cond) -> Result<SortKeyCondition, ExprError> {
    match c {
        Cond::Cmp(op, a, b) => {
            let (name, v, op) = match the_attribute(&[a, b])? {
                (n, 0) => (n, value(b)?, *op),
                (n, _) => (n, value(a)?, op.flipped()),
            };
            Ok(match op {
                CmpOp::Eq => SortKeyCondition::Eq(name, v),
                CmpOp::Lt => SortKeyCondition::Lt(name, v),
                CmpOp::Le => SortKeyCondition::Le(name, v),
                CmpOp::Gt => SortKeyCondition::Gt(name, v),
                CmpOp::Ge => SortKeyCondition::Ge(name, v),
                CmpOp::Ne => return Err(bad_operator("<>")),
            })
        }
        Cond::Between(x, lo, hi) => match the_attribute(&[x, lo, hi])? {
            (name, 0) => Ok(SortKeyCondition::Between(name, value(lo)?, value(hi)?)),
            _ => Err(unsupported()),
        },
        Cond::BeginsWith(x, prefix) => match the_attribute(&[x, prefix])? {
            (name, 0) => Ok(SortKeyCondition::BeginsWith(name, value(prefix)?)),
            _ => Err(unsupported()),
        },
        _ => Err(unsupported()),
    }
}

/// Most conditions a key condition can hold: four partition and four sort
/// attributes of a multi-attribute index key.
pub const MAX_KEY_CONDITIONS: usize = 8;

/// What a `KeyConditionExpression` makes: its conditions, one per
/// attribute as written, or what is wrong with its shape as a key
/// condition. DynamoDB reports the latter only after its check of unused
/// names and values, so it is kept apart from errors of the text itself.
pub type KeyConditions = Result<Vec<SortKeyCondition>, ExprError>;

/// Parses a `KeyConditionExpression` into its conditions. Errors of the
/// text (syntax, undefined placeholders) are the outer error; see
/// [`KeyConditions`] for the inner one. Matching the conditions with a key
/// schema is [`KeyCondition::of`] for a table's key and [`match_keys`] for
/// an index's, which may have several attributes per part.
pub fn parse_key_conditions(
    text: &str,
    names: &Names,
    values: &Values,
) -> Result<(KeyConditions, Usage), ExprError> {
    let (cond, usage) = parse_cond("KeyConditionExpression", text, names, values)?;
    Ok((shape(&cond, MAX_KEY_CONDITIONS), usage))
}

/// The conditions of a key condition of at most `most` of them.
fn shape(cond: &Cond, most: usize) -> KeyConditions {
    let mut parts = Vec::new();
    leaves(cond, &mut parts)?;
    if parts.len() > most {
        return Err(ExprError::validation(if most == 2 {
            LENGTH_1_OR_2.to_string()
        } else {
            format!("Conditions can be of length 1 to {most} only")
        }));
    }
    let conds = parts
        .into_iter()
        .map(to_sort_condition)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, c) in conds.iter().enumerate() {
        if conds[..i].iter().any(|o| o.attribute() == c.attribute()) {
            return Err(ExprError::validation(
                "KeyConditionExpressions must only contain one condition per key",
            ));
        }
    }
    if !conds.iter().any(|c| matches!(c, SortKeyCondition::Eq(..))) {
        return Err(unsupported());
    }
    Ok(conds)
}

/// DynamoDB's words for a key condition of neither one nor two conditions
/// on a key of one partition and at most one sort attribute.
pub const LENGTH_1_OR_2: &str = "Conditions can be of length 1 or 2 only";

/// Parses a `KeyConditionExpression` on a table's key.
pub fn parse_key_condition(
    text: &str,
    names: &Names,
    values: &Values,
) -> Result<(KeyCondition, Usage), ExprError> {
    let (cond, usage) = parse_cond("KeyConditionExpression", text, names, values)?;
    Ok((KeyCondition::of(shape(&cond, 2)?)?, usage))
}

impl KeyCondition {
    /// The condition of a table's key: one equality (taken to be on the
    /// partition key) and at most one other condition.
    pub fn of(mut conds: Vec<SortKeyCondition>) -> Result<Self, ExprError> {
        if conds.len() > 2 {
            return Err(ExprError::validation(LENGTH_1_OR_2));
        }
        let pos = conds
            .iter()
            .position(|c| matches!(c, SortKeyCondition::Eq(..)))
            .ok_or_else(unsupported)?;
        let SortKeyCondition::Eq(name, v) = conds.remove(pos) else {
            return Err(unsupported());
        };
        Ok(KeyCondition {
            partition: (name, v),
            sort: conds.pop(),
        })
    }

    /// Its conditions again, one per attribute.
    pub fn into_conditions(self) -> Vec<SortKeyCondition> {
        let (name, v) = self.partition;
        std::iter::once(SortKeyCondition::Eq(name, v))
            .chain(self.sort)
            .collect()
    }
}

/// A key condition matched with an index's key: the partition attributes'
/// values in key order, the values of the sort attributes compared by
/// equality (a prefix of the sort key), and the condition on the next sort
/// attribute, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMatch {
    pub partition: Vec<AttrValue>,
    pub sort_eq: Vec<AttrValue>,
    pub sort: Option<SortKeyCondition>,
}

/// Matches `conds` with a key of `partition` and `sort` attributes, by
/// DynamoDB's rules for multi-attribute keys: every partition attribute by
/// equality; sort attributes from the first on without a gap, each by
/// equality but the last, which may be any sort key condition.
pub fn match_keys(
    conds: &[SortKeyCondition],
    partition: &[&str],
    sort: &[&str],
) -> Result<KeyMatch, ExprError> {
    let missed = |name: &str| {
        ExprError::validation(format!("Query condition missed key schema element: {name}"))
    };
    let find = |name: &str| conds.iter().find(|c| c.attribute() == name);
    // A multi-attribute key gets words for its own rules.
    if partition.len() > 1 || sort.len() > 1 {
        for p in partition {
            if !matches!(find(p), Some(SortKeyCondition::Eq(..))) {
                return Err(ExprError::validation(format!(
                    "Query key condition not supported: every HASH key attribute of the index needs an equality condition; {p} has none"
                )));
            }
        }
        // Every sort attribute before one with a condition needs an equality.
        for (later, s) in sort.iter().enumerate().filter(|(_, s)| find(s).is_some()) {
            if let Some(prior) = sort[..later]
                .iter()
                .find(|p| !matches!(find(p), Some(SortKeyCondition::Eq(..))))
            {
                return Err(ExprError::validation(format!(
                    "RANGE key attributes {prior} must have equality conditions specified in the query because a condition is present on key attribute {s}"
                )));
            }
        }
    } else if conds.len() > 2 {
        return Err(ExprError::validation(LENGTH_1_OR_2));
    }
    let mut out = KeyMatch {
        partition: Vec::new(),
        sort_eq: Vec::new(),
        sort: None,
    };
    for p in partition {
        match find(p) {
            Some(SortKeyCondition::Eq(_, v)) => out.partition.push(v.clone()),
            _ => return Err(missed(p)),
        }
    }
    // The first sort attribute without a condition: none after it may have one.
    let mut gap: Option<&str> = None;
    for s in sort {
        match (find(s), gap) {
            (None, None) => gap = Some(s),
            (None, Some(_)) => {}
            (Some(_), Some(g)) => return Err(missed(g)),
            (Some(c), None) => {
                if let Some(prev) = out.sort.take() {
                    match prev {
                        SortKeyCondition::Eq(_, v) => out.sort_eq.push(v),
                        other => {
                            return Err(ExprError::validation(format!(
                                "Query key condition not supported: only the last sort key attribute given may have a condition other than equality; {} has one",
                                other.attribute()
                            )));
                        }
                    }
                }
                out.sort = Some(c.clone());
            }
        }
    }
    if let Some(stray) = conds
        .iter()
        .find(|c| !partition.contains(&c.attribute()) && !sort.contains(&c.attribute()))
    {
        return Err(match sort.first() {
            Some(first) if out.sort.is_none() => missed(first),
            _ => ExprError::validation(format!(
                "Query key condition not supported: {} is not a key attribute",
                stray.attribute()
            )),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(text: &str) -> Vec<SortKeyCondition> {
        let values: Values = [":a", ":b", ":c", ":d"]
            .into_iter()
            .map(|k| (k.to_string(), AttrValue::S(k.into())))
            .collect();
        let (conds, _) = parse_key_conditions(text, &Names::new(), &values).unwrap();
        conds.unwrap()
    }

    fn matched(text: &str) -> Result<KeyMatch, String> {
        match_keys(&conds(text), &["h"], &["s1", "s2", "s3"]).map_err(|e| e.to_string())
    }

    #[test]
    fn sort_attributes_before_a_condition_need_equalities() {
        let skipped = |prior: &str, later: &str| {
            Err(format!(
                "RANGE key attributes {prior} must have equality conditions specified in the query because a condition is present on key attribute {later}"
            ))
        };
        assert_eq!(matched("h = :a AND s2 > :b"), skipped("s1", "s2"));
        assert_eq!(
            matched("h = :a AND s1 = :b AND s3 = :c"),
            skipped("s2", "s3")
        );
        assert_eq!(
            matched("h = :a AND s1 > :b AND s2 = :c AND s3 = :d"),
            skipped("s1", "s2")
        );
        let m = matched("h = :a AND s1 = :b AND s2 > :c").unwrap();
        assert_eq!(m.sort_eq, [AttrValue::S(":b".into())]);
        assert!(matches!(m.sort, Some(SortKeyCondition::Gt(ref a, _)) if a == "s2"));
        assert_eq!(
            matched("h = :a AND s1 = :b AND s2 = :c AND s3 <= :d")
                .unwrap()
                .sort_eq
                .len(),
            2
        );
    }

    #[test]
    fn a_key_of_one_attribute_per_part_takes_two_conditions() {
        assert_eq!(
            match_keys(&conds("h = :a AND s = :b AND t = :c"), &["h"], &["s"])
                .unwrap_err()
                .to_string(),
            LENGTH_1_OR_2
        );
    }

    #[test]
    fn shape_errors_come_apart_from_text_errors() {
        let names: Names = [("#n".to_string(), "h".to_string())].into();
        let (conds, usage) =
            parse_key_conditions("#n = somewhere", &names, &Values::new()).unwrap();
        assert!(usage.names.contains("#n"));
        assert_eq!(
            conds.unwrap_err().to_string(),
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"
        );
        assert!(parse_key_conditions("#m = :v", &names, &Values::new()).is_err());
    }
}
