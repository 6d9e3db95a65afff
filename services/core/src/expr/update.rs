//! Update expressions: resolution and application.

use std::collections::{BTreeMap, BTreeSet};

use super::arith::{add_numbers, sub_numbers};
use super::parser::{Parser, RawAction, RawOperand, RawSetValue};
use super::resolve::{Cat, Resolver, long_type_name};
use super::{ExprError, Names, Path, PathElem, Usage, Values, check_text, parse_with_stack};
use crate::value::{AttrValue, Item, MAX_DEPTH};

const MISSING: &str =
    "The provided expression refers to an attribute that does not exist in the item";
const WRONG_TYPE: &str = "An operand in the update expression has an incorrect data type";
const BAD_PATH: &str = "The document path provided in the update expression is invalid for update";
const TOO_DEEP: &str = "Nesting Levels have exceeded supported limits";

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Path(Path),
    Value(AttrValue),
    IfNotExists(Path, Box<Operand>),
    ListAppend(Box<Operand>, Box<Operand>),
}

#[derive(Clone, Debug, PartialEq)]
enum SetValue {
    Operand(Operand),
    Plus(Operand, Operand),
    Minus(Operand, Operand),
}

#[derive(Clone, Debug, PartialEq)]
enum Action {
    Set(Path, SetValue),
    Remove(Path),
    Add(Path, AttrValue),
    Delete(Path, AttrValue),
}

impl Action {
    fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

/// A parsed and validated update expression.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateExpr {
    actions: Vec<Action>,
}

/// Parses an `UpdateExpression`.
pub fn parse_update(
    text: &str,
    names: &Names,
    values: &Values,
) -> Result<(UpdateExpr, Usage), ExprError> {
    const KIND: &str = "UpdateExpression";
    check_text(KIND, text)?;
    let raw = parse_with_stack(text, || Parser::for_update(text).update())?;
    let mut r = Resolver::new(KIND, names, values);
    if let Some(section) = raw.duplicate_section {
        r.report(
            Cat::Section,
            format!("The \"{section}\" section can only be used once in an update expression;"),
        );
    }
    let actions: Vec<Action> = raw
        .actions
        .iter()
        .map(|a| resolve_action(&mut r, a))
        .collect();
    let paths: Vec<Path> = actions.iter().map(|a| a.path().clone()).collect();
    r.check_disjoint(&paths);
    let usage = r.finish()?;
    Ok((UpdateExpr { actions }, usage))
}

fn resolve_action(r: &mut Resolver<'_>, raw: &RawAction) -> Action {
    match raw {
        RawAction::Set(p, v) => {
            let path = r.path(p);
            let value = match v {
                RawSetValue::Operand(o) => SetValue::Operand(resolve_operand(r, o, None)),
                RawSetValue::Plus(a, b) | RawSetValue::Minus(a, b) => {
                    let plus = matches!(v, RawSetValue::Plus(..));
                    let sym = if plus { "+" } else { "-" };
                    let a = resolve_operand(r, a, Some(sym));
                    let b = resolve_operand(r, b, Some(sym));
                    for o in [&a, &b] {
                        if let Operand::Value(v) = o
                            && !matches!(v, AttrValue::N(_))
                        {
                            operand_type_error(r, sym, v.type_name());
                        }
                    }
                    if plus {
                        SetValue::Plus(a, b)
                    } else {
                        SetValue::Minus(a, b)
                    }
                }
            };
            Action::Set(path, value)
        }
        RawAction::Remove(p) => Action::Remove(r.path(p)),
        RawAction::Add(p, v) | RawAction::Delete(p, v) => {
            let path = r.path(p);
            let value = r.value(v);
            let add = matches!(raw, RawAction::Add(..));
            let ok = match &value {
                AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_) => true,
                AttrValue::N(_) => add,
                _ => false,
            };
            if !ok {
                r.report(
                    Cat::OperandType,
                    format!(
                        "Incorrect operand type for operator or function; operator: {}, operand type: {}",
                        if add { "ADD" } else { "DELETE" },
                        long_type_name(&value)
                    ),
                );
            }
            if add {
                Action::Add(path, value)
            } else {
                Action::Delete(path, value)
            }
        }
    }
}

fn operand_type_error(r: &mut Resolver<'_>, op: &str, ty: &str) {
    r.report(
        Cat::OperandType,
        format!("Incorrect operand type for operator or function; operator or function: {op}, operand type: {ty}"),
    );
}

/// `parent`: the function or operator this operand is an argument of.
fn resolve_operand(r: &mut Resolver<'_>, raw: &RawOperand, parent: Option<&str>) -> Operand {
    let f = match raw {
        RawOperand::Path(p) => return Operand::Path(r.path(p)),
        RawOperand::Value(v) => return Operand::Value(r.value(v)),
        RawOperand::Func(f) => f,
    };
    let name = f.name.as_str();
    let args: Vec<Operand> = f
        .args
        .iter()
        .map(|a| resolve_operand(r, a, Some(name)))
        .collect();
    let dummy = Operand::Value(AttrValue::Null);
    match name {
        "if_not_exists" | "list_append" => {}
        "attribute_exists"
        | "attribute_not_exists"
        | "attribute_type"
        | "begins_with"
        | "contains"
        | "size" => {
            r.report(
                Cat::MisusedFunction,
                format!("The function is not allowed in an update expression; function: {name}"),
            );
            return dummy;
        }
        _ => {
            r.report(
                Cat::UnknownFunction,
                format!("Invalid function name; function: {name}"),
            );
            return dummy;
        }
    }
    if name == "list_append" && parent == Some("list_append") {
        r.report(
            Cat::MisusedFunction,
            "The function is not allowed to be used this way in an expression; function: list_append",
        );
    }
    if args.len() != 2 {
        r.report(
            Cat::Arity,
            format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            ),
        );
        return dummy;
    }
    let mut args = args.into_iter();
    let (a, b) = match (args.next(), args.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => return dummy,
    };
    if name == "if_not_exists" {
        let Operand::Path(p) = a else {
            r.report(
                Cat::OperandType,
                "Operator or function requires a document path; operator or function: if_not_exists",
            );
            return dummy;
        };
        return Operand::IfNotExists(p, Box::new(b));
    }
    for o in [&a, &b] {
        if let Operand::Value(v) = o
            && !matches!(v, AttrValue::L(_))
        {
            operand_type_error(r, name, v.type_name());
        }
    }
    Operand::ListAppend(Box::new(a), Box::new(b))
}

// ---- application ----------------------------------------------------------

fn eval_operand(op: &Operand, item: &Item) -> Result<AttrValue, ExprError> {
    match op {
        Operand::Path(p) => p
            .get(item)
            .cloned()
            .ok_or_else(|| ExprError::validation(MISSING)),
        Operand::Value(v) => Ok(v.clone()),
        Operand::IfNotExists(p, v) => match p.get(item) {
            Some(found) => Ok(found.clone()),
            None => eval_operand(v, item),
        },
        Operand::ListAppend(a, b) => match (eval_operand(a, item)?, eval_operand(b, item)?) {
            (AttrValue::L(mut a), AttrValue::L(b)) => {
                a.extend(b);
                Ok(AttrValue::L(a))
            }
            _ => Err(ExprError::validation(WRONG_TYPE)),
        },
    }
}

fn eval_set_value(v: &SetValue, item: &Item) -> Result<AttrValue, ExprError> {
    let (a, b, plus) = match v {
        SetValue::Operand(o) => return eval_operand(o, item),
        SetValue::Plus(a, b) => (a, b, true),
        SetValue::Minus(a, b) => (a, b, false),
    };
    match (eval_operand(a, item)?, eval_operand(b, item)?) {
        (AttrValue::N(a), AttrValue::N(b)) => Ok(AttrValue::N(if plus {
            add_numbers(&a, &b)?
        } else {
            sub_numbers(&a, &b)?
        })),
        _ => Err(ExprError::validation(WRONG_TYPE)),
    }
}

enum Container<'a> {
    Map(&'a mut BTreeMap<String, AttrValue>),
    List(&'a mut Vec<AttrValue>),
}

/// The map or list that holds the last element of `path`, if it exists and
/// has the right type for that element.
fn parent_mut<'a>(item: &'a mut Item, path: &Path) -> Option<Container<'a>> {
    let (last, parents) = path.0.split_last()?;
    let Some((first, rest)) = parents.split_first() else {
        return match last {
            PathElem::Attr(_) => Some(Container::Map(item)),
            PathElem::Index(_) => None,
        };
    };
    let PathElem::Attr(top) = first else {
        return None;
    };
    let mut cur = item.get_mut(top)?;
    for e in rest {
        cur = match (e, cur) {
            (PathElem::Attr(a), AttrValue::M(m)) => m.get_mut(a)?,
            (PathElem::Index(i), AttrValue::L(l)) => l.get_mut(*i)?,
            _ => return None,
        };
    }
    match (last, cur) {
        (PathElem::Attr(_), AttrValue::M(m)) => Some(Container::Map(m)),
        (PathElem::Index(_), AttrValue::L(l)) => Some(Container::List(l)),
        _ => None,
    }
}

enum Write<'a> {
    Set(AttrValue),
    Add(&'a AttrValue),
    Delete(&'a AttrValue),
}

fn union<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter()
        .chain(b)
        .cloned()
        .collect::<BTreeSet<T>>()
        .into_iter()
        .collect()
}

fn difference<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter()
        .filter(|x| b.binary_search(x).is_err())
        .cloned()
        .collect()
}

/// The new value for an ADD or DELETE, `None` to remove the attribute.
fn combine(current: Option<&AttrValue>, w: Write<'_>) -> Result<Option<AttrValue>, ExprError> {
    use AttrValue::{Bs, N, Ns, Ss};
    let set_or_remove = |v: AttrValue, empty: bool| if empty { None } else { Some(v) };
    Ok(match w {
        Write::Set(v) => Some(v),
        Write::Add(v) => match (current, v) {
            (None, v) => Some(v.clone()),
            (Some(N(a)), N(b)) => Some(N(add_numbers(a, b)?)),
            (Some(Ss(a)), Ss(b)) => Some(Ss(union(a, b))),
            (Some(Ns(a)), Ns(b)) => Some(Ns(union(a, b))),
            (Some(Bs(a)), Bs(b)) => Some(Bs(union(a, b))),
            _ => return Err(ExprError::validation(WRONG_TYPE)),
        },
        Write::Delete(v) => match (current, v) {
            (None, _) => return Ok(current.cloned()),
            (Some(Ss(a)), Ss(b)) => {
                let d = difference(a, b);
                set_or_remove(Ss(d.clone()), d.is_empty())
            }
            (Some(Ns(a)), Ns(b)) => {
                let d = difference(a, b);
                set_or_remove(Ns(d.clone()), d.is_empty())
            }
            (Some(Bs(a)), Bs(b)) => {
                let d = difference(a, b);
                set_or_remove(Bs(d.clone()), d.is_empty())
            }
            _ => return Err(ExprError::validation(WRONG_TYPE)),
        },
    })
}

fn write(item: &mut Item, path: &Path, w: Write<'_>) -> Result<(), ExprError> {
    let delete = matches!(w, Write::Delete(_));
    let container = parent_mut(item, path).ok_or_else(|| ExprError::validation(BAD_PATH))?;
    match (container, path.0.last()) {
        (Container::Map(m), Some(PathElem::Attr(k))) => {
            if delete && !m.contains_key(k) {
                return Ok(());
            }
            match combine(m.get(k), w)? {
                Some(v) => {
                    m.insert(k.clone(), v);
                }
                None => {
                    m.remove(k);
                }
            }
        }
        (Container::List(l), Some(PathElem::Index(i))) => {
            if delete && *i >= l.len() {
                return Ok(());
            }
            match (combine(l.get(*i), w)?, *i < l.len()) {
                (Some(v), true) => l[*i] = v,
                (Some(v), false) => l.push(v),
                (None, true) => {
                    l.remove(*i);
                }
                (None, false) => {}
            }
        }
        _ => return Err(ExprError::validation(BAD_PATH)),
    }
    Ok(())
}

fn container_depth(v: &AttrValue) -> usize {
    match v {
        AttrValue::M(m) => 1 + m.values().map(container_depth).max().unwrap_or(0),
        AttrValue::L(l) => 1 + l.iter().map(container_depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl UpdateExpr {
    /// Applies the update to `item` (pass the key attributes alone for an
    /// item that does not exist yet) and returns the new item. The caller
    /// checks key attributes and the item size.
    pub fn apply(&self, item: &Item) -> Result<Item, ExprError> {
        self.apply_opt(Some(item))
    }

    /// Like [`UpdateExpr::apply`]; `None` means there is no item, in which
    /// case, as in DynamoDB, `REMOVE` of a nested path is silently ignored.
    pub fn apply_opt(&self, item: Option<&Item>) -> Result<Item, ExprError> {
        let empty = Item::new();
        let original = item.unwrap_or(&empty);
        // Every operand is read from the item as it was before the update.
        let mut writes = Vec::new();
        let mut removes = Vec::new();
        for a in &self.actions {
            match a {
                Action::Set(p, v) => writes.push((p, Write::Set(eval_set_value(v, original)?))),
                Action::Add(p, v) => writes.push((p, Write::Add(v))),
                Action::Delete(p, v) => writes.push((p, Write::Delete(v))),
                Action::Remove(p) => removes.push(p),
            }
        }
        // Paths never overlap, so order matters only for appends past the
        // end of a list, which happen in index order.
        writes.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = original.clone();
        for (path, w) in writes {
            write(&mut out, path, w)?;
        }
        // Highest index first, so every index refers to the original list.
        removes.sort_by(|a, b| b.cmp(a));
        for path in removes {
            let original_len = match path.0.split_last() {
                Some((PathElem::Index(_), parent)) => match Path(parent.to_vec()).get(original) {
                    Some(AttrValue::L(l)) => Some(l.len()),
                    _ => Some(0),
                },
                _ => None,
            };
            match (parent_mut(&mut out, path), path.0.last()) {
                (Some(Container::Map(m)), Some(PathElem::Attr(k))) => {
                    m.remove(k);
                }
                (Some(Container::List(l)), Some(PathElem::Index(i))) => {
                    if original_len.is_some_and(|n| *i < n) && *i < l.len() {
                        l.remove(*i);
                    }
                }
                _ if item.is_none() => {}
                _ => return Err(ExprError::validation(BAD_PATH)),
            }
        }
        for top in self.updated_attributes() {
            if out
                .get(&top)
                .is_some_and(|v| container_depth(v) > MAX_DEPTH)
            {
                return Err(ExprError::validation(TOO_DEEP));
            }
        }
        Ok(out)
    }

    /// The document paths this update sets, adds to, deletes from or
    /// removes, in expression order. `project(&new_item, &paths)` gives
    /// `UPDATED_NEW` and `project(&old_item, &paths)` gives `UPDATED_OLD`.
    /// The item after this update, or `None` when it leaves no item: an
    /// update of an item that does not exist creates it, unless every action
    /// takes something away (`REMOVE`, `DELETE`), which DynamoDB answers by
    /// writing nothing, without error.
    pub fn apply_to(&self, item: Option<&Item>) -> Result<Option<Item>, ExprError> {
        let takes_only = self
            .actions
            .iter()
            .all(|a| matches!(a, Action::Remove(_) | Action::Delete(..)));
        if item.is_none() && takes_only {
            return Ok(None);
        }
        self.apply_opt(item).map(Some)
    }

    pub fn updated_paths(&self) -> Vec<Path> {
        self.actions.iter().map(|a| a.path().clone()).collect()
    }

    /// The top-level attributes this update touches.
    pub fn updated_attributes(&self) -> BTreeSet<String> {
        self.actions
            .iter()
            .map(|a| a.path().top().to_string())
            .collect()
    }
}
