//! DynamoDB expressions: condition/filter, update, projection and key
//! condition expressions. Pure: parsing, validation and evaluation only.
//!
//! # API
//!
//! ```text
//! type Names  = HashMap<String, String>;     // "#n" -> "name"
//! type Values = HashMap<String, AttrValue>;  // ":v" -> value
//!
//! parse_condition(kind, text, &names, &values) -> Result<(ConditionExpr, Usage), ExprError>
//!     kind is "ConditionExpression" or "FilterExpression" (used in messages)
//!     ConditionExpr::eval(Option<&Item>) -> Result<bool, ExprError>
//! parse_update(text, &names, &values) -> Result<(UpdateExpr, Usage), ExprError>
//!     UpdateExpr::apply(&Item) -> Result<Item, ExprError>
//!     UpdateExpr::apply_opt(Option<&Item>) -> Result<Item, ExprError>
//!     UpdateExpr::updated_paths() -> Vec<Path>
//!     UpdateExpr::updated_attributes() -> BTreeSet<String>
//! parse_projection(text, &names) -> Result<(Vec<Path>, Usage), ExprError>
//!     project(&Item, &[Path]) -> Item
//! parse_key_condition(text, &names, &values) -> Result<(KeyCondition, Usage), ExprError>
//! parse_key_conditions(text, &names, &values) -> Result<(KeyConditions, Usage), ExprError>
//!     KeyConditions = Result<Vec<SortKeyCondition>, ExprError>: shape errors come after unused checks
//! match_keys(&conds, partition_attrs, sort_attrs) -> Result<KeyMatch, ExprError>
//!     KeyCondition::oriented(self, partition_key_name) -> Result<KeyCondition, ExprError>
//! check_unused(&names, &values, &[&Usage]) -> Result<(), ExprError>
//! check_placeholder_key(member, '#' or ':', key) -> Result<(), ExprError>
//! compare(&AttrValue, &AttrValue) -> Option<Ordering>   // N, S, B order, as conditions use it
//! add_numbers / sub_numbers(&Number, &Number) -> Result<Number, ExprError>
//! ```
//!
//! Every [`ExprError`] is a DynamoDB `ValidationException`; its `Display`
//! (and [`ExprError::message`]) is the DynamoDB message, e.g.
//! `Invalid UpdateExpression: Syntax error; token: "=", near: "= ="`.
//!
//! # Semantics, as in DynamoDB
//!
//! * Syntax errors are reported first; then the first semantic error in this
//!   order: redundant parentheses, unknown function, misused function,
//!   reserved word, duplicate update section, path nesting, undefined
//!   `#name`, undefined `:value`, overlapping then conflicting paths,
//!   operand count, identical operands, operand types, operand limits.
//! * Bare attribute names must start with a letter and must not be one of
//!   DynamoDB's reserved words (use `#placeholders`). Keywords (`AND`, `SET`,
//!   …) are case-insensitive; function names are case-sensitive.
//! * Conditions: a missing attribute or a type mismatch makes a comparison
//!   false (`<>` true), never an error; a constant operand of an unsupported
//!   type (e.g. a list with `<`) is a validation error. `NOT` binds tighter
//!   than `AND`, which binds tighter than `OR`.
//! * Updates read every operand from the item as it was before the update,
//!   and list indexes refer to positions before the update; `SET` past the
//!   end of a list appends (in index order). Set results that become empty
//!   remove the attribute.
//! * Limits: 4096 bytes per expression, 32 document-path levels, 300
//!   operators/functions (and so 301 levels of parentheses), 100 operands
//!   for `IN`.

mod arith;
mod condition;
mod key;
mod lexer;
mod parser;
mod projection;
mod reserved;
mod resolve;
mod update;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::value::{AttrValue, Item};

pub use arith::{add_numbers, sub_numbers};
pub use condition::{ConditionExpr, compare, parse_condition};
pub use key::{
    KeyCondition, KeyConditions, KeyMatch, LENGTH_1_OR_2, SortKeyCondition, match_keys,
    parse_key_condition, parse_key_conditions,
};
pub use parser::CmpOp;
pub use projection::{parse_projection, project};
pub use reserved::is_reserved_word;
pub use resolve::show_value;
pub use update::{UpdateExpr, parse_update};

/// `ExpressionAttributeNames`: `"#n"` to the attribute name it stands for.
pub type Names = HashMap<String, String>;
/// `ExpressionAttributeValues`: `":v"` to its value.
pub type Values = HashMap<String, AttrValue>;

/// Longest expression accepted, in bytes (DynamoDB's limit).
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Most elements in one document path (`a.b[0]` has three).
pub const MAX_PATH_DEPTH: usize = 32;
/// Most operators and functions in one expression (DynamoDB's limit).
pub const MAX_OPERATORS: usize = 300;
/// Most nested levels of parentheses, which bounds the parser's recursion.
/// Every level around another must hold an operator or function of its own
/// (else it is redundant, which DynamoDB refuses), so no expression DynamoDB
/// accepts nests deeper than this; deeper text is refused before the
/// recursion could exhaust the stack.
pub const MAX_PAREN_DEPTH: usize = MAX_OPERATORS + 1;
/// Most operands of `IN`, counting the left-hand side.
pub const MAX_IN_OPERANDS: usize = 100;

/// An expression error. All of them are DynamoDB `ValidationException`s.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum ExprError {
    /// A parse or validation error in one expression: `Invalid <kind>: <message>`.
    #[error("Invalid {kind}: {message}")]
    Invalid { kind: &'static str, message: String },
    /// An error with a message of its own: evaluation errors (missing
    /// operands, wrong types, bad paths, number range) and request-level
    /// checks such as unused names and values.
    #[error("{0}")]
    Validation(String),
}

impl ExprError {
    /// The message to return to the client.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The DynamoDB error type, always `ValidationException`.
    pub fn error_type(&self) -> &'static str {
        "ValidationException"
    }

    pub(crate) fn invalid(kind: &'static str, message: impl Into<String>) -> Self {
        ExprError::Invalid {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        ExprError::Validation(message.into())
    }
}

/// The `#names` and `:values` one expression used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub names: BTreeSet<String>,
    pub values: BTreeSet<String>,
}

/// Rejects names or values that no expression of the request used, as
/// DynamoDB does. Names are checked first; keys are listed sorted.
pub fn check_unused(names: &Names, values: &Values, used: &[&Usage]) -> Result<(), ExprError> {
    fn unused<'k>(
        keys: impl Iterator<Item = &'k String>,
        used: &[&Usage],
        pick: fn(&Usage) -> &BTreeSet<String>,
    ) -> Vec<&'k str> {
        let mut out: Vec<&str> = keys
            .filter(|k| !used.iter().any(|u| pick(u).contains(*k)))
            .map(String::as_str)
            .collect();
        out.sort_unstable();
        out
    }
    let n = unused(names.keys(), used, |u| &u.names);
    if !n.is_empty() {
        return Err(ExprError::validation(format!(
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
            n.join(", ")
        )));
    }
    let v = unused(values.keys(), used, |u| &u.values);
    if !v.is_empty() {
        return Err(ExprError::validation(format!(
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
            v.join(", ")
        )));
    }
    Ok(())
}

/// Refuses a key of `ExpressionAttributeNames` (`sigil` `#`) or
/// `ExpressionAttributeValues` (`:`) that no expression could name, as
/// DynamoDB does before reading any expression: the key must be one whole
/// placeholder token.
pub fn check_placeholder_key(member: &str, sigil: char, key: &str) -> Result<(), ExprError> {
    match lexer::is_placeholder(key, sigil) {
        true => Ok(()),
        false => Err(ExprError::validation(format!(
            "{member} contains invalid key: Syntax error; key: \"{key}\""
        ))),
    }
}

/// One step of a document path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElem {
    /// A map key (or, first, a top-level attribute name).
    Attr(String),
    /// A list index.
    Index(usize),
}

/// A resolved document path (placeholders already substituted). The first
/// element is always an [`PathElem::Attr`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElem>);

impl Path {
    /// A top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Path(vec![PathElem::Attr(name.into())])
    }

    /// The top-level attribute name.
    pub fn top(&self) -> &str {
        match self.0.first() {
            Some(PathElem::Attr(a)) => a,
            _ => "",
        }
    }

    /// The form DynamoDB uses in error messages: `[a, b, [2]]`.
    pub fn bracketed(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                PathElem::Attr(a) => a.clone(),
                PathElem::Index(i) => format!("[{i}]"),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    }

    /// The value at this path, if every step exists.
    pub fn get<'a>(&self, item: &'a Item) -> Option<&'a AttrValue> {
        let mut elems = self.0.iter();
        let mut cur = match elems.next()? {
            PathElem::Attr(a) => item.get(a)?,
            PathElem::Index(_) => return None,
        };
        for e in elems {
            cur = match (e, cur) {
                (PathElem::Attr(a), AttrValue::M(m)) => m.get(a)?,
                (PathElem::Index(i), AttrValue::L(l)) => l.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// `a.b[2].c`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            match e {
                PathElem::Attr(a) if i == 0 => f.write_str(a)?,
                PathElem::Attr(a) => write!(f, ".{a}")?,
                PathElem::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Parenthesis nesting up to which an expression is parsed on the caller's
/// stack (DynamoDB accepts up to `MAX_PAREN_DEPTH`, but real expressions
/// rarely pass a handful).
const INLINE_PAREN_DEPTH: usize = 32;
/// Stack for parsing a more deeply nested expression. Each level of
/// parentheses takes five frames of the recursive-descent parser:
/// `MAX_PAREN_DEPTH` levels overflowed 4 MiB in an unoptimised build, and
/// a Tokio worker has 2 MiB. Only the pages touched are committed.
const DEEP_PARSE_STACK: usize = 32 << 20;

/// Runs `parse` over `text` where its recursion cannot overflow the stack:
/// inline when the parentheses nest at most `INLINE_PAREN_DEPTH` deep, else
/// on a scoped thread with `DEEP_PARSE_STACK` bytes of stack. Expressions
/// hold no literals (values are placeholders), so every byte `(` or `)` is
/// a parenthesis.
pub(crate) fn parse_with_stack<R: Send>(
    text: &str,
    parse: impl FnOnce() -> Result<R, ExprError> + Send,
) -> Result<R, ExprError> {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest <= INLINE_PAREN_DEPTH {
        return parse();
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("expr-parse".into())
            .stack_size(DEEP_PARSE_STACK)
            .spawn_scoped(scope, parse)
            .map_err(|e| {
                ExprError::validation(format!(
                    "Could not start parsing a deeply nested expression: {e}"
                ))
            })?;
        handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Checks the length and emptiness rules shared by every expression.
pub(crate) fn check_text(kind: &'static str, text: &str) -> Result<(), ExprError> {
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(ExprError::invalid(
            kind,
            format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                text.len()
            ),
        ));
    }
    if text.trim_matches(lexer::is_space).is_empty() {
        return Err(ExprError::invalid(kind, "The expression can not be empty;"));
    }
    Ok(())
}
