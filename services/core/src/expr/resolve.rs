//! Semantic checks shared by every expression kind: placeholder
//! substitution, reserved words, path depth, overlapping paths. Errors are
//! collected by category and the highest-priority one is reported, so the
//! message does not depend on where in the expression a problem sits.

use super::parser::{RawElem, RawPath};
use super::reserved::is_reserved_word;
use super::{ExprError, MAX_PATH_DEPTH, Names, Path, PathElem, Usage, Values};
use crate::value::AttrValue;

/// Error categories in reporting order (earlier wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cat {
    Parens,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Section,
    PathDepth,
    Name,
    Value,
    Overlap,
    Conflict,
    Arity,
    Distinct,
    OperandType,
    Limit,
}

pub(crate) struct Resolver<'a> {
    pub kind: &'static str,
    names: &'a Names,
    values: &'a Values,
    pub usage: Usage,
    best: Option<(Cat, String)>,
}

impl<'a> Resolver<'a> {
    pub fn new(kind: &'static str, names: &'a Names, values: &'a Values) -> Self {
        Resolver {
            kind,
            names,
            values,
            usage: Usage::default(),
            best: None,
        }
    }

    /// Records an error; the first of the most important category wins.
    pub fn report(&mut self, cat: Cat, message: impl Into<String>) {
        if self.best.as_ref().is_none_or(|(c, _)| cat < *c) {
            self.best = Some((cat, message.into()));
        }
    }

    /// The reported error, if any, as `Invalid <kind>: <message>`.
    pub fn finish(self) -> Result<Usage, ExprError> {
        match self.best {
            Some((_, message)) => Err(ExprError::invalid(self.kind, message)),
            None => Ok(self.usage),
        }
    }

    pub fn path(&mut self, raw: &RawPath) -> Path {
        if raw.0.len() > MAX_PATH_DEPTH {
            self.report(
                Cat::PathDepth,
                format!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    raw.0.len()
                ),
            );
        }
        let elems = raw
            .0
            .iter()
            .map(|e| match e {
                RawElem::Ident(name) => {
                    if is_reserved_word(name) {
                        self.report(
                            Cat::Reserved,
                            format!(
                                "Attribute name is a reserved keyword; reserved keyword: {name}"
                            ),
                        );
                    }
                    PathElem::Attr(name.clone())
                }
                RawElem::Name(ph) => PathElem::Attr(self.name(ph)),
                RawElem::Index(digits) => match digits.parse::<usize>() {
                    Ok(i) if i <= u32::MAX as usize => PathElem::Index(i),
                    _ => {
                        self.report(
                            Cat::Limit,
                            format!(
                                "List index is not within the allowable range; index: {digits}"
                            ),
                        );
                        PathElem::Index(0)
                    }
                },
            })
            .collect();
        Path(elems)
    }

    fn name(&mut self, ph: &str) -> String {
        match self.names.get(ph) {
            Some(n) => {
                self.usage.names.insert(ph.to_string());
                n.clone()
            }
            None => {
                self.report(
                    Cat::Name,
                    format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {ph}"
                    ),
                );
                ph.to_string()
            }
        }
    }

    pub fn value(&mut self, ph: &str) -> AttrValue {
        match self.values.get(ph) {
            Some(v) => {
                self.usage.values.insert(ph.to_string());
                v.clone()
            }
            None => {
                self.report(
                    Cat::Value,
                    format!(
                        "An expression attribute value used in expression is not defined; attribute value: {ph}"
                    ),
                );
                AttrValue::Null
            }
        }
    }

    /// Rejects paths that are equal, one inside the other ("overlap"), or
    /// that use a name and an index at the same position ("conflict").
    pub fn check_disjoint(&mut self, paths: &[Path]) {
        for (j, b) in paths.iter().enumerate() {
            for a in &paths[..j] {
                if let Some((cat, what)) = relation(a, b) {
                    self.report(
                        cat,
                        format!(
                            "Two document paths {what} with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                            a.bracketed(),
                            b.bracketed()
                        ),
                    );
                }
            }
        }
    }
}

fn relation(a: &Path, b: &Path) -> Option<(Cat, &'static str)> {
    for (x, y) in a.0.iter().zip(&b.0) {
        match (x, y) {
            (PathElem::Attr(p), PathElem::Attr(q)) if p != q => return None,
            (PathElem::Index(p), PathElem::Index(q)) if p != q => return None,
            (PathElem::Attr(_), PathElem::Index(_)) | (PathElem::Index(_), PathElem::Attr(_)) => {
                return Some((Cat::Conflict, "conflict"));
            }
            _ => {}
        }
    }
    Some((Cat::Overlap, "overlap"))
}

/// DynamoDB's type names as used in `ADD`/`DELETE` operand messages.
pub(crate) fn long_type_name(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::S(_) => "STRING",
        AttrValue::N(_) => "NUMBER",
        AttrValue::B(_) => "BINARY",
        AttrValue::Bool(_) => "BOOLEAN",
        AttrValue::Null => "NULL",
        AttrValue::M(_) => "MAP",
        AttrValue::L(_) => "LIST",
        AttrValue::Ss(_) => "STRING_SET",
        AttrValue::Ns(_) => "NUMBER_SET",
        AttrValue::Bs(_) => "BINARY_SET",
    }
}

/// DynamoDB's rendering of a value in messages, `AttributeValue: {N:2}`
/// (BETWEEN bounds, an invalid start key).
pub fn show_value(v: &AttrValue) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = match v {
        AttrValue::S(s) => s.clone(),
        AttrValue::N(n) => n.to_string(),
        AttrValue::B(b) => b64(b),
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Null => "true".into(),
        other => other.to_json().to_string(),
    };
    format!("AttributeValue: {{{}:{}}}", v.type_name(), body)
}
