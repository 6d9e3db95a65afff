//! A recursive-descent parser for DynamoDB's PartiQL subset: one `SELECT`,
//! `INSERT`, `UPDATE` or `DELETE` statement, into an AST that
//! [`super::translate`] turns into an existing operation's request.
//!
//! The parser checks only the grammar and the few rules DynamoDB words as
//! statement errors (aliases, several tables, `EXISTS` outside conditions
//! it supports). Everything about the table — which attributes are keys,
//! what a condition means — is left to translation and to the expression
//! engine, so nothing here evaluates anything.

use super::error::PartiqlError;
use super::lexer::{Tok, Token, lex, syntax};

/// Deepest nesting of parentheses, literals and `NOT`s. Bounds recursion so
/// a hostile statement cannot exhaust the stack; DynamoDB's own item nesting
/// limit (32) is well below it.
pub const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Select(Select),
    Insert(Insert),
    Update(Update),
    Delete(Delete),
}

impl Statement {
    pub fn table(&self) -> &str {
        match self {
            Statement::Select(s) => &s.table,
            Statement::Insert(s) => &s.table,
            Statement::Update(s) => &s.table,
            Statement::Delete(s) => &s.table,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Statement::Select(_))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// `None` for `*`.
    pub projection: Option<Vec<Path>>,
    pub table: String,
    /// `"table"."index"`: a SELECT reads the index; other statements refuse it.
    pub index: Option<String>,
    pub filter: Option<Expr>,
    /// `ORDER BY` paths, `true` when descending.
    pub order_by: Vec<(Path, bool)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    pub table: String,
    /// A tuple literal, or a parameter holding a map.
    pub item: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub table: String,
    pub actions: Vec<Action>,
    pub filter: Expr,
    pub returning: Option<Returning>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Delete {
    pub table: String,
    pub filter: Expr,
    pub returning: Option<Returning>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Set(Path, Expr),
    Remove(Path),
}

/// `RETURNING (ALL | MODIFIED) (OLD | NEW) *`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returning {
    AllOld,
    AllNew,
    ModifiedOld,
    ModifiedNew,
}

impl Returning {
    /// The `ReturnValues` of UpdateItem and DeleteItem it stands for.
    pub fn return_values(self) -> &'static str {
        match self {
            Returning::AllOld => "ALL_OLD",
            Returning::AllNew => "ALL_NEW",
            Returning::ModifiedOld => "UPDATED_OLD",
            Returning::ModifiedNew => "UPDATED_NEW",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Returning::AllOld => "ALL OLD *",
            Returning::AllNew => "ALL NEW *",
            Returning::ModifiedOld => "MODIFIED OLD *",
            Returning::ModifiedNew => "MODIFIED NEW *",
        }
    }
}

/// A document path: an attribute, then map keys and list indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(pub Vec<Step>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Attr(String),
    Index(u32),
}

impl Path {
    /// The attribute name when the path is just one attribute.
    pub fn single(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Step::Attr(a)] => Some(a),
            _ => None,
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Attr(a) if i == 0 => write!(f, "{a}")?,
                Step::Attr(a) => write!(f, ".{a}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

pub use meridian_core::expr::CmpOp;

/// The types `IS` can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsType {
    Missing,
    Null,
    Boolean,
    String,
    Numeric,
    Blob,
    List,
    Struct,
}

impl IsType {
    /// The DynamoDB type `attribute_type` tests, for all but `MISSING`.
    pub fn dynamo_type(self) -> &'static str {
        match self {
            IsType::Missing | IsType::Null => "NULL",
            IsType::Boolean => "BOOL",
            IsType::String => "S",
            IsType::Numeric => "N",
            IsType::Blob => "B",
            IsType::List => "L",
            IsType::Struct => "M",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Str(String),
    /// A number as written, sign included.
    Num(String),
    Bool(bool),
    Null,
    Missing,
    Param(usize),
    List(Vec<Expr>),
    /// `{'k': v, ...}`: keys are expressions, checked to be strings later.
    Tuple(Vec<(Expr, Expr)>),
    /// `<<v, ...>>`: a string or number set.
    Bag(Vec<Expr>),
    Path(Path),
    /// A function call; the name is lower-cased (PartiQL function names
    /// are case-insensitive).
    Call(String, Vec<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Expr>),
    Is(Box<Expr>, IsType, bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// A statement and how many `?` parameters it has.
#[derive(Debug)]
pub struct Parsed {
    pub statement: Statement,
    pub parameters: usize,
}

/// The table a statement reads or writes, the index a `SELECT` reads, and
/// whether it reads: what `crate::throttle` meters. `None` when it does
/// not parse (the statement is then refused by its operation).
pub fn target(src: &str) -> Option<(String, Option<String>, bool)> {
    let s = parse(src).ok()?.statement;
    let index = match &s {
        Statement::Select(select) => select.index.clone(),
        _ => None,
    };
    Some((s.table().to_string(), index, s.is_read()))
}

/// Parses one statement.
pub fn parse(src: &str) -> Result<Parsed, PartiqlError> {
    let toks = lex(src)?;
    let parameters = toks
        .iter()
        .filter(|t| matches!(t.tok, Tok::Param(_)))
        .count();
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
    };
    let statement = p.statement()?;
    Ok(Parsed {
        statement,
        parameters,
    })
}

/// SQL clauses DynamoDB's PartiQL does not have; named in the error when
/// they follow a complete statement.
const UNSUPPORTED_CLAUSES: [&str; 9] = [
    "GROUP",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "JOIN",
    "LET",
];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn invalid(message: impl Into<String>) -> PartiqlError {
    PartiqlError::Invalid(message.into())
}

impl Parser<'_> {
    // ---- tokens ------------------------------------------------------------

    fn cur(&self) -> &Token {
        // The list ends with Eof and `pos` never passes it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn advance(&mut self) {
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.cur().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(&self.cur().tok, Tok::Sym(t) if *t == s)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.is_kw(kw);
        if hit {
            self.advance();
        }
        hit
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let hit = self.is_sym(s);
        if hit {
            self.advance();
        }
        hit
    }

    /// How the current token reads in a message.
    fn describe(&self) -> String {
        let t = self.cur();
        match &t.tok {
            Tok::Eof => "the end of the statement".into(),
            Tok::Word(w) if is_keyword(w) => format!("keyword {}", w.to_uppercase()),
            _ => format!("'{}'", &self.src[t.start..t.end]),
        }
    }

    /// "unexpected X at line L, column C, expected WHAT".
    fn expected(&self, what: &str) -> PartiqlError {
        syntax(
            self.src,
            self.cur().start,
            format!("unexpected {}, expected {what}", self.describe()),
        )
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), PartiqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.expected(kw))
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), PartiqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.expected(&format!("'{s}'")))
        }
    }

    fn deeper(&mut self) -> Result<(), PartiqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(
                self.src,
                self.cur().start,
                format!("the statement nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    // ---- statements --------------------------------------------------------

    fn statement(&mut self) -> Result<Statement, PartiqlError> {
        let stmt = if self.eat_kw("SELECT") {
            Statement::Select(self.select()?)
        } else if self.eat_kw("INSERT") {
            Statement::Insert(self.insert()?)
        } else if self.eat_kw("UPDATE") {
            Statement::Update(self.update()?)
        } else if self.eat_kw("DELETE") {
            Statement::Delete(self.delete()?)
        } else {
            return Err(self.expected("SELECT, INSERT, UPDATE or DELETE"));
        };
        self.end()?;
        Ok(stmt)
    }

    /// The statement must end here; name a known SQL clause DynamoDB lacks.
    fn end(&mut self) -> Result<(), PartiqlError> {
        match &self.cur().tok {
            Tok::Eof => Ok(()),
            Tok::Word(w)
                if UNSUPPORTED_CLAUSES
                    .iter()
                    .any(|c| w.eq_ignore_ascii_case(c)) =>
            {
                Err(invalid(format!("Unsupported clause: {}", w.to_uppercase())))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("AS") => {
                Err(invalid("Aliasing is not supported"))
            }
            Tok::Word(w)
                if ["SELECT", "INSERT", "UPDATE", "DELETE"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Err(invalid("Only one operation is allowed in a statement."))
            }
            _ => Err(self.expected("the end of the statement")),
        }
    }

    /// `"table"`, `table`, or `"table"."index"`.
    fn source(&mut self) -> Result<(String, Option<String>), PartiqlError> {
        let table = self.identifier("a table name")?;
        let index = if self.eat_sym(".") {
            Some(self.identifier("an index name")?)
        } else {
            None
        };
        if self.is_sym(".") {
            return Err(invalid(
                "A path may contain at most 2 components in the FROM clause",
            ));
        }
        Ok((table, index))
    }

    fn identifier(&mut self, what: &str) -> Result<String, PartiqlError> {
        let name = match &self.cur().tok {
            Tok::Quoted(q) => q.clone(),
            Tok::Word(w) if !is_keyword(w) => w.clone(),
            _ => return Err(self.expected(what)),
        };
        self.advance();
        Ok(name)
    }

    fn select(&mut self) -> Result<Select, PartiqlError> {
        if self.is_kw("VALUE") || self.is_kw("PIVOT") {
            return Err(invalid(
                "Select projection doesn't support value or pivot keywords",
            ));
        }
        if self.is_kw("DISTINCT") {
            return Err(invalid("Unsupported clause: DISTINCT"));
        }
        let projection = if self.eat_sym("*") {
            if self.is_sym(",") {
                return Err(invalid(
                    "Other attributes should not be present in the projection when '*' is used.",
                ));
            }
            None
        } else {
            let mut paths = Vec::new();
            loop {
                if self.is_sym("*") {
                    return Err(invalid(
                        "Other attributes should not be present in the projection when '*' is used.",
                    ));
                }
                if matches!(self.cur().tok, Tok::Word(_)) && *self.peek(1) == Tok::Sym("(") {
                    return Err(invalid(
                        "Unsupported operation: functions and expressions in a projection; list attribute names or document paths, or *",
                    ));
                }
                paths.push(self.path()?);
                if self.is_kw("AS") {
                    return Err(invalid("Aliasing is not supported"));
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
            Some(paths)
        };
        self.expect_kw("FROM")?;
        let (table, index) = self.source()?;
        let join = ["JOIN", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS"]
            .iter()
            .any(|k| self.is_kw(k));
        if self.is_sym(",") || join {
            return Err(invalid(
                "Only select from a single table or index is supported.",
            ));
        }
        let alias = matches!(&self.cur().tok, Tok::Word(w)
            if !is_keyword(w) && !UNSUPPORTED_CLAUSES.iter().any(|c| w.eq_ignore_ascii_case(c)));
        if self.is_kw("AS") || alias {
            return Err(invalid("Aliasing is not supported"));
        }
        let filter = if self.eat_kw("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let mut order_by = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let path = self.path()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                order_by.push((path, desc));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        Ok(Select {
            projection,
            table,
            index,
            filter,
            order_by,
        })
    }

    fn insert(&mut self) -> Result<Insert, PartiqlError> {
        self.expect_kw("INTO")?;
        let (table, index) = self.source()?;
        if index.is_some() {
            return Err(invalid("This operation is not supported on an index"));
        }
        if self.is_kw("VALUES") || self.is_sym("(") {
            return Err(invalid(
                "Unsupported operation: Inserting multiple items in a single statement is not supported, use \"INSERT INTO tableName VALUE item\" instead",
            ));
        }
        self.expect_kw("VALUE")?;
        if self.is_sym("<<") || self.is_sym("[") {
            return Err(invalid(
                "Unsupported operation: Inserting multiple items in a single statement is not supported, use \"INSERT INTO tableName VALUE item\" instead",
            ));
        }
        let item = if self.is_sym("{") || matches!(self.cur().tok, Tok::Param(_)) {
            self.primary()?
        } else {
            return Err(invalid(
                "Unsupported format in item expression. Please use struct format {...} to express item values for insert statement.",
            ));
        };
        if self.is_sym(",") {
            return Err(invalid(
                "Unsupported operation: Inserting multiple items in a single statement is not supported, use \"INSERT INTO tableName VALUE item\" instead",
            ));
        }
        if self.is_kw("RETURNING") {
            return Err(invalid("RETURNING is not supported in INSERT"));
        }
        if self.is_kw("WHERE") || self.is_kw("FROM") {
            return Err(invalid(
                "Unsupported FROM ... WHERE ... clause in INSERT statement.",
            ));
        }
        Ok(Insert { table, item })
    }

    fn update(&mut self) -> Result<Update, PartiqlError> {
        let (table, index) = self.source()?;
        if index.is_some() {
            return Err(invalid("This operation is not supported on an index"));
        }
        let mut actions = Vec::new();
        loop {
            if self.eat_kw("SET") {
                loop {
                    let path = self.path()?;
                    self.expect_sym("=")?;
                    actions.push(Action::Set(path, self.additive()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.eat_kw("REMOVE") {
                loop {
                    actions.push(Action::Remove(self.path()?));
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            } else if self.is_kw("ADD") || self.is_kw("DELETE") {
                return Err(invalid(
                    "Only SET and REMOVE are supported in update expressions at this time",
                ));
            } else {
                break;
            }
        }
        if actions.is_empty() {
            return Err(self.expected("SET or REMOVE"));
        }
        self.expect_kw("WHERE")?;
        let filter = self.expr()?;
        let returning = self.returning()?;
        Ok(Update {
            table,
            actions,
            filter,
            returning,
        })
    }

    fn delete(&mut self) -> Result<Delete, PartiqlError> {
        self.expect_kw("FROM")?;
        let (table, index) = self.source()?;
        if index.is_some() {
            return Err(invalid("This operation is not supported on an index"));
        }
        self.expect_kw("WHERE")?;
        let filter = self.expr()?;
        let returning = self.returning()?;
        Ok(Delete {
            table,
            filter,
            returning,
        })
    }

    fn returning(&mut self) -> Result<Option<Returning>, PartiqlError> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let all = if self.eat_kw("ALL") {
            true
        } else if self.eat_kw("MODIFIED") {
            false
        } else {
            return Err(self.expected("ALL or MODIFIED"));
        };
        let new = if self.eat_kw("NEW") {
            true
        } else if self.eat_kw("OLD") {
            false
        } else {
            return Err(self.expected("NEW or OLD"));
        };
        if !self.eat_sym("*") {
            return Err(invalid(
                "Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause",
            ));
        }
        if self.is_sym(",") {
            return Err(invalid(
                "Invalid syntax with multiple returning elements in RETURNING clause",
            ));
        }
        Ok(Some(match (all, new) {
            (true, false) => Returning::AllOld,
            (true, true) => Returning::AllNew,
            (false, false) => Returning::ModifiedOld,
            (false, true) => Returning::ModifiedNew,
        }))
    }

    // ---- paths -------------------------------------------------------------

    /// `name`, `"name"`, then `.name`, `."name"`, `[n]` or `['key']`.
    fn path(&mut self) -> Result<Path, PartiqlError> {
        if self.is_sym("[") {
            return Err(invalid("A path cannot start with a list index"));
        }
        let mut steps = vec![Step::Attr(
            self.identifier("an attribute name or document path")?,
        )];
        loop {
            if self.eat_sym(".") {
                if self.is_sym("*") {
                    return Err(invalid(
                        "Unpivot path component like a.*.b are not supported",
                    ));
                }
                steps.push(Step::Attr(self.identifier("an attribute name after '.'")?));
            } else if self.eat_sym("[") {
                match self.cur().tok.clone() {
                    Tok::Num(n) => {
                        let index = n.parse::<u32>().map_err(|_| {
                            invalid(format!(
                                "List index is not within the allowable range; index: [{n}]"
                            ))
                        })?;
                        self.advance();
                        steps.push(Step::Index(index));
                    }
                    Tok::Str(key) => {
                        self.advance();
                        steps.push(Step::Attr(key));
                    }
                    Tok::Sym("*") => {
                        return Err(invalid(
                            "Wildcard path component like a[*].b are not supported",
                        ));
                    }
                    _ => return Err(self.expected("a list index or a 'quoted' map key")),
                }
                self.expect_sym("]")?;
            } else {
                return Ok(Path(steps));
            }
        }
    }

    // ---- expressions -------------------------------------------------------

    pub fn expr(&mut self) -> Result<Expr, PartiqlError> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, PartiqlError> {
        let mut left = self.not()?;
        while self.eat_kw("AND") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, PartiqlError> {
        if self.eat_kw("NOT") {
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, PartiqlError> {
        let left = self.additive()?;
        let op = match &self.cur().tok {
            Tok::Sym("=") => Some(CmpOp::Eq),
            Tok::Sym("<>") | Tok::Sym("!=") => Some(CmpOp::Ne),
            Tok::Sym("<") => Some(CmpOp::Lt),
            Tok::Sym("<=") => Some(CmpOp::Le),
            Tok::Sym(">") => Some(CmpOp::Gt),
            Tok::Sym(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.additive()?;
            return Ok(Expr::Cmp(op, Box::new(left), Box::new(right)));
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let ty = self.is_type()?;
            return Ok(Expr::Is(Box::new(left), ty, negated));
        }
        let negated = self.is_kw("NOT")
            && matches!(self.peek(1), Tok::Word(w) if w.eq_ignore_ascii_case("BETWEEN") || w.eq_ignore_ascii_case("IN") || w.eq_ignore_ascii_case("LIKE"));
        if negated {
            self.advance();
        }
        let e = if self.eat_kw("BETWEEN") {
            let lo = self.additive()?;
            self.expect_kw("AND")?;
            let hi = self.additive()?;
            Expr::Between(Box::new(left), Box::new(lo), Box::new(hi))
        } else if self.eat_kw("IN") {
            let close = if self.eat_sym("[") {
                "]"
            } else if self.eat_sym("(") {
                ")"
            } else {
                return Err(invalid(
                    "IN operator must have a left hand argument of type Variable Reference and right hand argument of type Seq with at least one member",
                ));
            };
            let mut list = Vec::new();
            if !self.is_sym(close) {
                loop {
                    list.push(self.additive()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            }
            self.expect_sym(close)?;
            Expr::In(Box::new(left), list)
        } else if self.is_kw("LIKE") {
            return Err(invalid(
                "Unsupported operation: LIKE; use begins_with or contains",
            ));
        } else {
            return Ok(left);
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn is_type(&mut self) -> Result<IsType, PartiqlError> {
        let Tok::Word(w) = &self.cur().tok else {
            return Err(self.expected("a type such as MISSING or NULL"));
        };
        let ty = match w.to_uppercase().as_str() {
            "MISSING" => IsType::Missing,
            "NULL" => IsType::Null,
            "BOOLEAN" | "BOOL" => IsType::Boolean,
            "STRING" => IsType::String,
            "NUMERIC" | "NUMBER" | "INT" | "INTEGER" | "DECIMAL" | "FLOAT" => IsType::Numeric,
            "BLOB" => IsType::Blob,
            "LIST" => IsType::List,
            "STRUCT" | "TUPLE" => IsType::Struct,
            other => {
                return Err(invalid(format!(
                    "Unsupported data type for IS operator: {other}. Supported data types are [MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
                )));
            }
        };
        self.advance();
        Ok(ty)
    }

    fn additive(&mut self) -> Result<Expr, PartiqlError> {
        let mut left = self.primary()?;
        loop {
            if self.eat_sym("+") {
                left = Expr::Add(Box::new(left), Box::new(self.primary()?));
            } else if self.eat_sym("-") {
                left = Expr::Sub(Box::new(left), Box::new(self.primary()?));
            } else {
                return Ok(left);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, PartiqlError> {
        self.deeper()?;
        let e = self.primary_inner();
        self.depth -= 1;
        e
    }

    fn primary_inner(&mut self) -> Result<Expr, PartiqlError> {
        let tok = self.cur().tok.clone();
        match tok {
            Tok::Str(s) => {
                self.advance();
                Ok(Expr::Str(s))
            }
            Tok::Num(n) => {
                self.advance();
                Ok(Expr::Num(n))
            }
            Tok::Param(i) => {
                self.advance();
                Ok(Expr::Param(i))
            }
            Tok::Sym("-") | Tok::Sym("+") if matches!(self.peek(1), Tok::Num(_)) => {
                let negative = self.is_sym("-");
                self.advance();
                let Tok::Num(n) = self.cur().tok.clone() else {
                    return Err(self.expected("a number"));
                };
                self.advance();
                Ok(Expr::Num(if negative { format!("-{n}") } else { n }))
            }
            Tok::Sym("(") => {
                self.advance();
                let inner = self.expr()?;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Tok::Sym("[") => {
                self.advance();
                let items = self.list_items("]")?;
                Ok(Expr::List(items))
            }
            Tok::Sym("<<") => {
                self.advance();
                let items = self.list_items(">>")?;
                Ok(Expr::Bag(items))
            }
            Tok::Sym("{") => {
                self.advance();
                let mut pairs = Vec::new();
                if !self.eat_sym("}") {
                    loop {
                        let key = self.primary()?;
                        if !self.eat_sym(":") {
                            return Err(self.expected("':' between a key and its value"));
                        }
                        let value = self.additive()?;
                        pairs.push((key, value));
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.expect_sym("}")?;
                }
                Ok(Expr::Tuple(pairs))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("TRUE") => {
                self.advance();
                Ok(Expr::Bool(true))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("FALSE") => {
                self.advance();
                Ok(Expr::Bool(false))
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("NULL") => {
                self.advance();
                Ok(Expr::Null)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("MISSING") => {
                self.advance();
                Ok(Expr::Missing)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("EXISTS") => Err(invalid(
                "EXISTS is not supported by this endpoint yet; check a condition with TransactWriteItems' ConditionCheck instead",
            )),
            Tok::Word(w) if w.eq_ignore_ascii_case("SELECT") => {
                Err(invalid("Unsupported operation: nested SELECT statements"))
            }
            Tok::Word(w) if !is_keyword(&w) && *self.peek(1) == Tok::Sym("(") => {
                self.advance();
                self.advance();
                let args = self.list_items(")")?;
                Ok(Expr::Call(w.to_lowercase(), args))
            }
            Tok::Word(w) if is_keyword(&w) => Err(self.expected("a value, an attribute or '('")),
            Tok::Word(_) | Tok::Quoted(_) => Ok(Expr::Path(self.path()?)),
            _ => Err(self.expected("a value, an attribute or '('")),
        }
    }

    /// Comma-separated expressions up to `close`.
    fn list_items(&mut self, close: &str) -> Result<Vec<Expr>, PartiqlError> {
        let mut items = Vec::new();
        if self.eat_sym(close) {
            return Ok(items);
        }
        loop {
            items.push(self.additive()?);
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(close)?;
        Ok(items)
    }
}

/// Words that end or join clauses and so cannot be bare attribute names
/// (quote them to use them as names).
fn is_keyword(w: &str) -> bool {
    const KEYWORDS: [&str; 31] = [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "BETWEEN",
        "IN",
        "IS",
        "INSERT",
        "INTO",
        "VALUE",
        "VALUES",
        "UPDATE",
        "SET",
        "REMOVE",
        "DELETE",
        "RETURNING",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "TRUE",
        "FALSE",
        "NULL",
        "MISSING",
        "EXISTS",
        "AS",
        "JOIN",
        "LIKE",
        "LIMIT",
    ];
    KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(src: &str) -> Statement {
        parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .statement
    }

    fn err(src: &str) -> String {
        match parse(src) {
            Ok(p) => panic!("{src}: parsed as {:?}", p.statement),
            Err(e) => e.to_string(),
        }
    }

    fn path(steps: &[&str]) -> Path {
        Path(
            steps
                .iter()
                .map(|s| match s.parse::<u32>() {
                    Ok(n) => Step::Index(n),
                    Err(_) => Step::Attr(s.to_string()),
                })
                .collect(),
        )
    }

    fn p(name: &str) -> Box<Expr> {
        Box::new(Expr::Path(path(&[name])))
    }

    fn filter(src: &str) -> Expr {
        match stmt(&format!("SELECT * FROM t WHERE {src}")) {
            Statement::Select(s) => s.filter.expect("a WHERE clause"),
            other => panic!("{other:?}"),
        }
    }

    fn value(src: &str) -> Expr {
        match stmt(&format!("INSERT INTO t VALUE {{'v': {src}}}")) {
            Statement::Insert(Insert {
                item: Expr::Tuple(mut pairs),
                ..
            }) => pairs.remove(0).1,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn select_with_projection_quoted_table_and_order() {
        let s = stmt(
            r#"select a, "b c".d[2], e['k'] FROM "My.Table" where pk = 'x' order by sk DESC, pk"#,
        );
        assert_eq!(
            s,
            Statement::Select(Select {
                projection: Some(vec![
                    path(&["a"]),
                    path(&["b c", "d", "2"]),
                    path(&["e", "k"])
                ]),
                table: "My.Table".into(),
                index: None,
                filter: Some(Expr::Cmp(
                    CmpOp::Eq,
                    p("pk"),
                    Box::new(Expr::Str("x".into()))
                )),
                order_by: vec![(path(&["sk"]), true), (path(&["pk"]), false)],
            })
        );
        let Statement::Select(s) = stmt(r#"SELECT * FROM "t"."by_date""#) else {
            unreachable!()
        };
        assert_eq!(
            (s.table.as_str(), s.index.as_deref(), s.projection),
            ("t", Some("by_date"), None)
        );
    }

    #[test]
    fn every_literal_kind() {
        assert_eq!(value("'it''s'"), Expr::Str("it's".into()));
        assert_eq!(value("42"), Expr::Num("42".into()));
        assert_eq!(value("-1.5e-3"), Expr::Num("-1.5e-3".into()));
        assert_eq!(value("+7"), Expr::Num("7".into()));
        assert_eq!(value("true"), Expr::Bool(true));
        assert_eq!(value("FALSE"), Expr::Bool(false));
        assert_eq!(value("null"), Expr::Null);
        assert_eq!(value("MISSING"), Expr::Missing);
        assert_eq!(value("[]"), Expr::List(vec![]));
        assert_eq!(
            value("[1, 'a', [TRUE]]"),
            Expr::List(vec![
                Expr::Num("1".into()),
                Expr::Str("a".into()),
                Expr::List(vec![Expr::Bool(true)])
            ])
        );
        assert_eq!(
            value("{'k': {'n': NULL}, 'e': {}}"),
            Expr::Tuple(vec![
                (
                    Expr::Str("k".into()),
                    Expr::Tuple(vec![(Expr::Str("n".into()), Expr::Null)])
                ),
                (Expr::Str("e".into()), Expr::Tuple(vec![])),
            ])
        );
        assert_eq!(
            value("<<'a', 'b'>>"),
            Expr::Bag(vec![Expr::Str("a".into()), Expr::Str("b".into())])
        );
        assert_eq!(
            value("<<1, 2.5>>"),
            Expr::Bag(vec![Expr::Num("1".into()), Expr::Num("2.5".into())])
        );
    }

    #[test]
    fn parameters_are_numbered_in_text_order() {
        let parsed =
            parse("UPDATE t SET a = ?, b = <<?, ?>> WHERE pk = ? AND sk IN [?, 1]").unwrap();
        assert_eq!(parsed.parameters, 5);
        let Statement::Update(u) = parsed.statement else {
            unreachable!()
        };
        assert_eq!(u.actions[0], Action::Set(path(&["a"]), Expr::Param(0)));
        assert_eq!(
            u.actions[1],
            Action::Set(
                path(&["b"]),
                Expr::Bag(vec![Expr::Param(1), Expr::Param(2)])
            )
        );
        assert_eq!(parse("SELECT * FROM t").unwrap().parameters, 0);
    }

    #[test]
    fn precedence_not_then_and_then_or() {
        let a = || {
            Box::new(Expr::Cmp(
                CmpOp::Eq,
                p("a"),
                Box::new(Expr::Num("1".into())),
            ))
        };
        let b = || {
            Box::new(Expr::Cmp(
                CmpOp::Ne,
                p("b"),
                Box::new(Expr::Num("2".into())),
            ))
        };
        let c = || Box::new(Expr::Is(p("c"), IsType::Missing, false));
        assert_eq!(
            filter("a = 1 OR NOT b != 2 AND c IS MISSING"),
            Expr::Or(a(), Box::new(Expr::And(Box::new(Expr::Not(b())), c())))
        );
        assert_eq!(
            filter("(a = 1 OR b <> 2) AND c IS MISSING"),
            Expr::And(Box::new(Expr::Or(a(), b())), c())
        );
    }

    #[test]
    fn predicates() {
        let n = |s: &str| Box::new(Expr::Num(s.into()));
        assert_eq!(
            filter("x BETWEEN 1 AND 5"),
            Expr::Between(p("x"), n("1"), n("5"))
        );
        assert_eq!(
            filter("x NOT BETWEEN 1 AND 5 AND y = 2"),
            Expr::And(
                Box::new(Expr::Not(Box::new(Expr::Between(p("x"), n("1"), n("5"))))),
                Box::new(Expr::Cmp(CmpOp::Eq, p("y"), n("2")))
            )
        );
        assert_eq!(
            filter("x IN [1, 2]"),
            Expr::In(p("x"), vec![*n("1"), *n("2")])
        );
        assert_eq!(filter("x IN (1)"), Expr::In(p("x"), vec![*n("1")]));
        assert_eq!(
            filter("x NOT IN [1]"),
            Expr::Not(Box::new(Expr::In(p("x"), vec![*n("1")])))
        );
        assert_eq!(
            filter("x IS NOT NULL"),
            Expr::Is(p("x"), IsType::Null, true)
        );
        assert_eq!(
            filter("x is string"),
            Expr::Is(p("x"), IsType::String, false)
        );
        assert_eq!(
            filter("BEGINS_WITH(x, 'a')"),
            Expr::Call(
                "begins_with".into(),
                vec![Expr::Path(path(&["x"])), Expr::Str("a".into())]
            )
        );
        assert_eq!(
            filter("size(x) >= 3"),
            Expr::Cmp(
                CmpOp::Ge,
                Box::new(Expr::Call("size".into(), vec![Expr::Path(path(&["x"]))])),
                n("3")
            )
        );
        assert_eq!(filter("3 < x"), Expr::Cmp(CmpOp::Lt, n("3"), p("x")));
    }

    #[test]
    fn writes() {
        assert_eq!(
            stmt(
                "UPDATE \"t\" SET a = a + 1 SET b = list_append(b, [1]) REMOVE c, d[0] WHERE pk = 'k' RETURNING MODIFIED NEW *"
            ),
            Statement::Update(Update {
                table: "t".into(),
                actions: vec![
                    Action::Set(
                        path(&["a"]),
                        Expr::Add(p("a"), Box::new(Expr::Num("1".into())))
                    ),
                    Action::Set(
                        path(&["b"]),
                        Expr::Call(
                            "list_append".into(),
                            vec![
                                Expr::Path(path(&["b"])),
                                Expr::List(vec![Expr::Num("1".into())])
                            ]
                        )
                    ),
                    Action::Remove(path(&["c"])),
                    Action::Remove(path(&["d", "0"])),
                ],
                filter: Expr::Cmp(CmpOp::Eq, p("pk"), Box::new(Expr::Str("k".into()))),
                returning: Some(Returning::ModifiedNew),
            })
        );
        assert_eq!(
            stmt("DELETE FROM t WHERE pk = ? RETURNING ALL OLD *"),
            Statement::Delete(Delete {
                table: "t".into(),
                filter: Expr::Cmp(CmpOp::Eq, p("pk"), Box::new(Expr::Param(0))),
                returning: Some(Returning::AllOld),
            })
        );
        assert_eq!(
            stmt("insert into t value ?"),
            Statement::Insert(Insert {
                table: "t".into(),
                item: Expr::Param(0)
            })
        );
    }

    #[test]
    fn syntax_errors_name_the_token_and_position() {
        assert_eq!(
            err("SELECT * FORM t"),
            "Statement wasn't well formed, can't be processed: unexpected 'FORM', expected FROM at line 1, column 10"
        );
        assert_eq!(
            err("SELECT * FROM t WHERE"),
            "Statement wasn't well formed, can't be processed: unexpected the end of the statement, expected a value, an attribute or '(' at line 1, column 22"
        );
        assert_eq!(
            err("UPDATE t\n  SET a = 1"),
            "Statement wasn't well formed, can't be processed: unexpected the end of the statement, expected WHERE at line 2, column 12"
        );
        assert_eq!(
            err("SELECT * FROM t WHERE a = 1 b"),
            "Statement wasn't well formed, can't be processed: unexpected 'b', expected the end of the statement at line 1, column 29"
        );
        assert_eq!(
            err("DROP TABLE t"),
            "Statement wasn't well formed, can't be processed: unexpected 'DROP', expected SELECT, INSERT, UPDATE or DELETE at line 1, column 1"
        );
        assert!(
            err("SELECT * FROM t WHERE a = [1, 2").contains("expected ']' at line 1, column 32")
        );
        assert!(
            err("INSERT INTO t VALUE {'a' 1}")
                .contains("expected ':' between a key and its value at line 1, column 26")
        );
        assert!(err("SELECT * FROM t WHERE a IN [1 2]").contains("unexpected '2', expected ']'"));
        assert!(
            err("SELECT * FROM t WHERE from = 1")
                .contains("unexpected keyword FROM, expected a value")
        );
        assert!(
            err("SELECT * FROM t WHERE a = (SELECT * FROM u)")
                .starts_with("Unsupported operation: nested SELECT")
        );
    }

    #[test]
    fn unsupported_features_are_named() {
        assert_eq!(
            err("SELECT * FROM a, b"),
            "Only select from a single table or index is supported."
        );
        assert_eq!(
            err("SELECT * FROM a JOIN b"),
            "Only select from a single table or index is supported."
        );
        assert_eq!(
            err("SELECT * FROM a INNER JOIN b"),
            "Only select from a single table or index is supported."
        );
        assert_eq!(err("SELECT * FROM t AS x"), "Aliasing is not supported");
        assert_eq!(err("SELECT * FROM t x"), "Aliasing is not supported");
        assert_eq!(err("SELECT a AS b FROM t"), "Aliasing is not supported");
        assert_eq!(
            err("SELECT * FROM t GROUP BY a"),
            "Unsupported clause: GROUP"
        );
        assert_eq!(
            err("SELECT * FROM t WHERE a = 1 LIMIT 5"),
            "Unsupported clause: LIMIT"
        );
        assert_eq!(
            err("SELECT a, * FROM t"),
            "Other attributes should not be present in the projection when '*' is used."
        );
        assert!(err("SELECT count(*) FROM t").starts_with("Unsupported operation: functions"));
        assert!(
            err("SELECT * FROM t WHERE EXISTS(SELECT * FROM u)")
                .starts_with("EXISTS is not supported")
        );
        assert!(
            err("INSERT INTO t VALUES ('a')")
                .starts_with("Unsupported operation: Inserting multiple items")
        );
        assert!(
            err("INSERT INTO t VALUE <<{'a': 1}>>")
                .starts_with("Unsupported operation: Inserting multiple items")
        );
        assert_eq!(
            err("INSERT INTO t VALUE {'a': 1} RETURNING ALL OLD *"),
            "RETURNING is not supported in INSERT"
        );
        assert!(
            err("INSERT INTO t VALUE 'a'").starts_with("Unsupported format in item expression")
        );
        assert_eq!(
            err("SELECT * FROM t; SELECT * FROM u").split(" at ").next(),
            Some("Statement wasn't well formed, can't be processed: unexpected character ';'")
        );
        assert_eq!(
            err("SELECT * FROM t WHERE a = 1 DELETE"),
            "Only one operation is allowed in a statement."
        );
        assert_eq!(
            err("UPDATE t ADD a 1 WHERE pk = 1"),
            "Only SET and REMOVE are supported in update expressions at this time"
        );
        assert_eq!(
            err("UPDATE t SET a = 1 WHERE pk = 1 RETURNING ALL NEW"),
            "Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause"
        );
        assert!(
            err("SELECT * FROM t WHERE a IS DATE")
                .starts_with("Unsupported data type for IS operator: DATE")
        );
        assert!(err("SELECT * FROM t WHERE a[*].b = 1").starts_with("Wildcard path component"));
        assert!(
            err("SELECT * FROM t WHERE a LIKE 'x%'").starts_with("Unsupported operation: LIKE")
        );
        assert_eq!(
            err("SELECT * FROM a.b.c"),
            "A path may contain at most 2 components in the FROM clause"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "SELECT * FROM t WHERE a = {}1{}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(err(&deep).contains("nests deeper than 64 levels"));
        let nots = format!("SELECT * FROM t WHERE {} a = 1", "NOT ".repeat(100));
        assert!(err(&nots).contains("nests deeper than 64 levels"));
        let parens = format!(
            "SELECT * FROM t WHERE {}a = 1{}",
            "(".repeat(100),
            ")".repeat(100)
        );
        assert!(err(&parens).contains("nests deeper than 64 levels"));
        // Within the limit, nesting is fine.
        let ok = format!(
            "SELECT * FROM t WHERE a = {}1{}",
            "[".repeat(30),
            "]".repeat(30)
        );
        parse(&ok).unwrap();
    }
}
