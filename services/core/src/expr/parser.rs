//! Recursive-descent parsers producing unresolved syntax trees: placeholders
//! are still text and nothing has been checked beyond the grammar. Semantic
//! checks happen in `resolve`, so syntax errors always win, as in DynamoDB.
//!
//! Recursion is bounded: parentheses by `MAX_PAREN_DEPTH`, `NOT` chains and
//! nested function calls by `MAX_OPERATORS` (each counts as an operator), so
//! the syntax tree is at most about 300 levels deep too, and so is every
//! walk over it (resolution, evaluation, drop).

use super::lexer::{Kind, Token, lex};
use super::{ExprError, MAX_OPERATORS, MAX_PAREN_DEPTH};

/// One step of a path as written.
#[derive(Clone, Debug)]
pub(crate) enum RawElem {
    /// A bare name (reserved-word checked later).
    Ident(String),
    /// A `#placeholder`.
    Name(String),
    /// A list index, as its digits (range checked later).
    Index(String),
}

#[derive(Clone, Debug)]
pub(crate) struct RawPath(pub Vec<RawElem>);

#[derive(Clone, Debug)]
pub(crate) struct RawFunc {
    pub name: String,
    pub args: Vec<RawOperand>,
}

#[derive(Clone, Debug)]
pub(crate) enum RawOperand {
    Path(RawPath),
    /// A `:placeholder`.
    Value(String),
    Func(RawFunc),
}

/// A comparison operator of an expression (and of PartiQL's `WHERE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `1 < a` is `a > 1`.
    pub fn flipped(self) -> Self {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            same => same,
        }
    }

    fn from_symbol(s: &str) -> Option<Self> {
        Some(match s {
            "=" => CmpOp::Eq,
            "<>" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) enum RawCond {
    Cmp(CmpOp, RawOperand, RawOperand),
    Between(RawOperand, RawOperand, RawOperand),
    In(RawOperand, Vec<RawOperand>),
    And(Box<RawCond>, Box<RawCond>),
    Or(Box<RawCond>, Box<RawCond>),
    Not(Box<RawCond>),
    /// A function used as a condition, e.g. `attribute_exists(a)`.
    Func(RawFunc),
}

#[derive(Clone, Debug)]
pub(crate) enum RawSetValue {
    Operand(RawOperand),
    Plus(RawOperand, RawOperand),
    Minus(RawOperand, RawOperand),
}

#[derive(Clone, Debug)]
pub(crate) enum RawAction {
    Set(RawPath, RawSetValue),
    Remove(RawPath),
    Add(RawPath, String),
    Delete(RawPath, String),
}

#[derive(Clone, Debug)]
pub(crate) struct RawUpdate {
    pub actions: Vec<RawAction>,
    /// The first clause keyword that appeared twice.
    pub duplicate_section: Option<&'static str>,
}

/// A condition-level parse result: either a condition or a bare operand
/// (valid only as part of a comparison, or as a function-condition).
enum Node {
    Cond(RawCond),
    Operand(RawOperand),
}

/// DynamoDB's text for `((…))`, its semicolon included.
pub(crate) const REDUNDANT_PARENS: &str = "The expression has redundant parentheses;";

const CONDITION_KEYWORDS: &[&str] = &["AND", "OR", "NOT", "BETWEEN", "IN"];
const UPDATE_KEYWORDS: &[&str] = &["SET", "REMOVE", "ADD", "DELETE"];

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    kind: &'static str,
    keywords: &'static [&'static str],
    ops: usize,
    depth: usize,
    /// Set when `((…))` was seen; reported by condition resolution.
    pub redundant_parens: bool,
}

impl<'a> Parser<'a> {
    fn new(kind: &'static str, src: &'a str, keywords: &'static [&'static str]) -> Self {
        Parser {
            src,
            toks: lex(src),
            pos: 0,
            kind,
            keywords,
            ops: 0,
            depth: 0,
            redundant_parens: false,
        }
    }

    pub fn for_condition(kind: &'static str, src: &'a str) -> Self {
        Self::new(kind, src, CONDITION_KEYWORDS)
    }

    pub fn for_update(src: &'a str) -> Self {
        Self::new("UpdateExpression", src, UPDATE_KEYWORDS)
    }

    pub fn for_projection(src: &'a str) -> Self {
        Self::new("ProjectionExpression", src, &[])
    }

    // ---- token helpers ---------------------------------------------------

    fn cur(&self) -> Token {
        // The token list always ends with Eof and `pos` never passes it.
        self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self, n: usize) -> Token {
        self.toks[(self.pos + n).min(self.toks.len() - 1)]
    }

    fn text(&self, t: Token) -> &'a str {
        &self.src[t.start..t.end]
    }

    fn advance(&mut self) {
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.cur().kind, Kind::Sym(t) if t == s)
    }

    fn is_kw_token(&self, t: Token, kw: &str) -> bool {
        t.kind == Kind::Ident && self.text(t).eq_ignore_ascii_case(kw)
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_token(self.cur(), kw)
    }

    fn is_keyword(&self, t: Token) -> bool {
        self.keywords.iter().any(|k| self.is_kw_token(t, k))
    }

    /// `Syntax error; token: "<tok>", near: "<prev tok … next tok>"`.
    fn syntax_error(&self) -> ExprError {
        let i = self.pos.min(self.toks.len() - 1);
        let bad = self.toks[i];
        let prev = i.checked_sub(1).map(|j| self.toks[j]);
        let (token, near) = if bad.kind == Kind::Eof {
            let near = prev.map_or("", |p| self.text(p));
            ("<EOF>", near)
        } else {
            let next = self
                .toks
                .get(i + 1)
                .filter(|t| t.kind != Kind::Eof)
                .copied();
            let start = prev.map_or(bad.start, |p| p.start);
            let end = next.map_or(bad.end, |n| n.end);
            (self.text(bad), &self.src[start..end])
        };
        ExprError::invalid(
            self.kind,
            format!("Syntax error; token: \"{token}\", near: \"{near}\""),
        )
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), ExprError> {
        if self.is_sym(s) {
            self.advance();
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn expect_eof(&self) -> Result<(), ExprError> {
        if self.cur().kind == Kind::Eof {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn count_op(&mut self) -> Result<(), ExprError> {
        self.ops += 1;
        if self.ops > MAX_OPERATORS {
            return Err(ExprError::invalid(
                self.kind,
                format!(
                    "The expression contains too many operators; operator count: {}",
                    self.ops
                ),
            ));
        }
        Ok(())
    }

    fn open_paren(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_PAREN_DEPTH {
            return Err(self.too_deep());
        }
        self.advance();
        Ok(())
    }

    /// The error for parentheses nested deeper than any expression DynamoDB
    /// accepts, said as DynamoDB says it without parsing further: text
    /// whose parentheses never close is a syntax error at its end; any
    /// other has redundant parentheses (a level without an operator of its
    /// own), since reaching this depth within `MAX_OPERATORS` takes one.
    fn too_deep(&mut self) -> ExprError {
        let mut open = self.depth - 1;
        for t in &self.toks[self.pos..] {
            match t.kind {
                Kind::Sym("(") => open += 1,
                Kind::Sym(")") => open = open.saturating_sub(1),
                _ => {}
            }
        }
        if open > 0 {
            self.pos = self.toks.len() - 1;
            return self.syntax_error();
        }
        ExprError::invalid(self.kind, REDUNDANT_PARENS)
    }

    fn close_paren(&mut self) -> Result<(), ExprError> {
        self.expect_sym(")")?;
        self.depth -= 1;
        Ok(())
    }

    // ---- shared pieces ---------------------------------------------------

    /// A name usable as a path element: an identifier that is not a
    /// keyword of this grammar, or a `#placeholder`.
    fn path_elem_name(&mut self) -> Result<RawElem, ExprError> {
        let t = self.cur();
        let elem = match t.kind {
            Kind::Ident if !self.is_keyword(t) => RawElem::Ident(self.text(t).to_string()),
            Kind::Name => RawElem::Name(self.text(t).to_string()),
            _ => return Err(self.syntax_error()),
        };
        self.advance();
        Ok(elem)
    }

    fn path(&mut self) -> Result<RawPath, ExprError> {
        let mut elems = vec![self.path_elem_name()?];
        loop {
            if self.is_sym(".") {
                self.advance();
                elems.push(self.path_elem_name()?);
            } else if self.is_sym("[") {
                self.advance();
                let t = self.cur();
                if t.kind != Kind::Int {
                    return Err(self.syntax_error());
                }
                elems.push(RawElem::Index(self.text(t).to_string()));
                self.advance();
                self.expect_sym("]")?;
            } else {
                return Ok(RawPath(elems));
            }
        }
    }

    /// path | :value | name(args), without surrounding parentheses.
    fn operand_bare(&mut self) -> Result<RawOperand, ExprError> {
        let t = self.cur();
        match t.kind {
            Kind::Value => {
                self.advance();
                Ok(RawOperand::Value(self.text(t).to_string()))
            }
            Kind::Ident if !self.is_keyword(t) && self.peek(1).kind == Kind::Sym("(") => {
                let name = self.text(t).to_string();
                self.count_op()?;
                self.advance();
                self.open_paren()?;
                let mut args = vec![self.operand()?.0];
                while self.is_sym(",") {
                    self.advance();
                    args.push(self.operand()?.0);
                }
                self.close_paren()?;
                Ok(RawOperand::Func(RawFunc { name, args }))
            }
            Kind::Ident | Kind::Name => Ok(RawOperand::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }

    /// An operand, optionally in parentheses. The flag says whether it was
    /// parenthesised (to detect redundant parentheses).
    fn operand(&mut self) -> Result<(RawOperand, bool), ExprError> {
        if self.is_sym("(") {
            self.open_paren()?;
            let (inner, parens) = self.operand()?;
            self.close_paren()?;
            self.redundant_parens |= parens;
            Ok((inner, true))
        } else {
            Ok((self.operand_bare()?, false))
        }
    }

    // ---- conditions ------------------------------------------------------

    pub fn condition(&mut self) -> Result<RawCond, ExprError> {
        let (node, _) = self.or_expr()?;
        self.expect_eof()?;
        self.as_cond(node)
    }

    fn as_cond(&self, node: Node) -> Result<RawCond, ExprError> {
        match node {
            Node::Cond(c) => Ok(c),
            Node::Operand(RawOperand::Func(f)) => Ok(RawCond::Func(f)),
            Node::Operand(_) => Err(self.syntax_error()),
        }
    }

    fn or_expr(&mut self) -> Result<(Node, bool), ExprError> {
        let (mut left, mut parens) = self.and_expr()?;
        while self.is_kw("OR") {
            let l = self.as_cond(left)?;
            self.advance();
            self.count_op()?;
            let (right, _) = self.and_expr()?;
            let r = self.as_cond(right)?;
            left = Node::Cond(RawCond::Or(Box::new(l), Box::new(r)));
            parens = false;
        }
        Ok((left, parens))
    }

    fn and_expr(&mut self) -> Result<(Node, bool), ExprError> {
        let (mut left, mut parens) = self.not_expr()?;
        while self.is_kw("AND") {
            let l = self.as_cond(left)?;
            self.advance();
            self.count_op()?;
            let (right, _) = self.not_expr()?;
            let r = self.as_cond(right)?;
            left = Node::Cond(RawCond::And(Box::new(l), Box::new(r)));
            parens = false;
        }
        Ok((left, parens))
    }

    fn not_expr(&mut self) -> Result<(Node, bool), ExprError> {
        if self.is_kw("NOT") {
            self.advance();
            self.count_op()?;
            let (inner, _) = self.not_expr()?;
            let c = self.as_cond(inner)?;
            return Ok((Node::Cond(RawCond::Not(Box::new(c))), false));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<(Node, bool), ExprError> {
        let (first, parens) = self.primary()?;
        let t = self.cur();
        let op = match t.kind {
            Kind::Sym(s) => CmpOp::from_symbol(s),
            _ => None,
        };
        let is_between = self.is_kw("BETWEEN");
        let is_in = self.is_kw("IN");
        if op.is_none() && !is_between && !is_in {
            return Ok((first, parens));
        }
        let lhs = match first {
            Node::Operand(o) => o,
            Node::Cond(_) => return Err(self.syntax_error()),
        };
        self.advance();
        self.count_op()?;
        let cond = if let Some(op) = op {
            RawCond::Cmp(op, lhs, self.operand()?.0)
        } else if is_between {
            let lo = self.operand()?.0;
            if !self.is_kw("AND") {
                return Err(self.syntax_error());
            }
            self.advance();
            RawCond::Between(lhs, lo, self.operand()?.0)
        } else {
            if !self.is_sym("(") {
                return Err(self.syntax_error());
            }
            self.open_paren()?;
            let mut list = vec![self.operand()?.0];
            while self.is_sym(",") {
                self.advance();
                list.push(self.operand()?.0);
            }
            self.close_paren()?;
            RawCond::In(lhs, list)
        };
        Ok((Node::Cond(cond), false))
    }

    fn primary(&mut self) -> Result<(Node, bool), ExprError> {
        if self.is_sym("(") {
            self.open_paren()?;
            let (inner, parens) = self.or_expr()?;
            self.close_paren()?;
            self.redundant_parens |= parens;
            Ok((inner, true))
        } else {
            Ok((Node::Operand(self.operand_bare()?), false))
        }
    }

    // ---- updates ---------------------------------------------------------

    fn clause_keyword(&self) -> Option<&'static str> {
        UPDATE_KEYWORDS.iter().copied().find(|k| self.is_kw(k))
    }

    pub fn update(&mut self) -> Result<RawUpdate, ExprError> {
        let mut actions = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut duplicate_section = None;
        loop {
            let Some(clause) = self.clause_keyword() else {
                return Err(self.syntax_error());
            };
            if seen.contains(&clause) {
                duplicate_section.get_or_insert(clause);
            }
            seen.push(clause);
            self.advance();
            loop {
                actions.push(self.action(clause)?);
                if !self.is_sym(",") {
                    break;
                }
                self.advance();
            }
            if self.cur().kind == Kind::Eof {
                return Ok(RawUpdate {
                    actions,
                    duplicate_section,
                });
            }
        }
    }

    fn action(&mut self, clause: &'static str) -> Result<RawAction, ExprError> {
        let path = self.path()?;
        match clause {
            "SET" => {
                self.expect_sym("=")?;
                Ok(RawAction::Set(path, self.set_value()?.0))
            }
            "REMOVE" => Ok(RawAction::Remove(path)),
            _ => {
                let t = self.cur();
                if t.kind != Kind::Value {
                    return Err(self.syntax_error());
                }
                self.advance();
                let v = self.text(t).to_string();
                Ok(if clause == "ADD" {
                    RawAction::Add(path, v)
                } else {
                    RawAction::Delete(path, v)
                })
            }
        }
    }

    /// operand | operand + operand | operand - operand, any of which may be
    /// parenthesised as a whole.
    fn set_value(&mut self) -> Result<(RawSetValue, bool), ExprError> {
        let (first, parens) = if self.is_sym("(") {
            self.open_paren()?;
            let (inner, _) = self.set_value()?;
            self.close_paren()?;
            (inner, true)
        } else {
            (RawSetValue::Operand(self.operand_bare()?), false)
        };
        let plus = self.is_sym("+");
        if !plus && !self.is_sym("-") {
            return Ok((first, parens));
        }
        let RawSetValue::Operand(lhs) = first else {
            return Err(self.syntax_error());
        };
        self.advance();
        self.count_op()?;
        let rhs = self.operand()?.0;
        Ok((
            if plus {
                RawSetValue::Plus(lhs, rhs)
            } else {
                RawSetValue::Minus(lhs, rhs)
            },
            false,
        ))
    }

    // ---- projections -----------------------------------------------------

    pub fn projection(&mut self) -> Result<Vec<RawPath>, ExprError> {
        let mut paths = vec![self.path()?];
        while self.is_sym(",") {
            self.advance();
            paths.push(self.path()?);
        }
        self.expect_eof()?;
        Ok(paths)
    }
}
