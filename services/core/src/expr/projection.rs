//! Projection expressions.

use std::collections::BTreeMap;

use super::parser::Parser;
use super::resolve::Resolver;
use super::{ExprError, Names, Path, PathElem, Usage, Values, check_text};
use crate::value::{AttrValue, Item};

/// Parses a `ProjectionExpression` into its document paths.
pub fn parse_projection(text: &str, names: &Names) -> Result<(Vec<Path>, Usage), ExprError> {
    const KIND: &str = "ProjectionExpression";
    check_text(KIND, text)?;
    let raw = Parser::for_projection(text).projection()?;
    let no_values = Values::new();
    let mut r = Resolver::new(KIND, names, &no_values);
    let paths: Vec<Path> = raw.iter().map(|p| r.path(p)).collect();
    r.check_disjoint(&paths);
    let usage = r.finish()?;
    Ok((paths, usage))
}

/// Which parts of a value to keep.
#[derive(Default)]
struct Select {
    whole: bool,
    keys: BTreeMap<String, Select>,
    indexes: BTreeMap<usize, Select>,
}

impl Select {
    fn add(&mut self, elems: &[PathElem]) {
        match elems.split_first() {
            None => self.whole = true,
            Some((PathElem::Attr(k), rest)) => self.keys.entry(k.clone()).or_default().add(rest),
            Some((PathElem::Index(i), rest)) => self.indexes.entry(*i).or_default().add(rest),
        }
    }

    fn apply(&self, v: &AttrValue) -> Option<AttrValue> {
        if self.whole {
            return Some(v.clone());
        }
        match v {
            AttrValue::M(m) if !self.keys.is_empty() => {
                let out: BTreeMap<String, AttrValue> = self
                    .keys
                    .iter()
                    .filter_map(|(k, sel)| Some((k.clone(), sel.apply(m.get(k)?)?)))
                    .collect();
                (!out.is_empty()).then_some(AttrValue::M(out))
            }
            AttrValue::L(l) if !self.indexes.is_empty() => {
                let out: Vec<AttrValue> = self
                    .indexes
                    .iter()
                    .filter_map(|(i, sel)| sel.apply(l.get(*i)?))
                    .collect();
                (!out.is_empty()).then_some(AttrValue::L(out))
            }
            _ => None,
        }
    }
}

/// Keeps only the selected paths of `item`, preserving their nesting as
/// DynamoDB does: `a.b[1]` of `{a: {b: [1, 2], c: 3}}` is `{a: {b: [2]}}`.
/// Selected list elements keep their relative order; missing paths are
/// skipped.
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut root = Select::default();
    for p in paths {
        root.add(&p.0);
    }
    root.keys
        .iter()
        .filter_map(|(k, sel)| Some((k.clone(), sel.apply(item.get(k)?)?)))
        .collect()
}
