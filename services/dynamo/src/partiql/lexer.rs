//! Tokens of DynamoDB's PartiQL subset, each with the byte range it came
//! from so that errors can say where the statement went wrong.

use super::error::PartiqlError;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A bare word: a keyword or an identifier (keywords are matched
    /// case-insensitively by the parser; identifiers keep their case).
    Word(String),
    /// A double-quoted identifier, `""` unescaped. Never a keyword.
    Quoted(String),
    /// A single-quoted string literal, `''` unescaped.
    Str(String),
    /// A number literal as written (digits, an optional fraction and
    /// exponent); a sign in front is a separate token.
    Num(String),
    /// `?`, the n-th parameter of the statement (0-based, in text order).
    Param(usize),
    /// Punctuation and operators.
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offsets into the statement.
    pub start: usize,
    pub end: usize,
}

/// Symbols, longest first so `<=` is not read as `<` then `=`.
const SYMBOLS: [&str; 21] = [
    "<<", ">>", "<>", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "(", ")", "[", "]", "{", "}",
    ",", ".", ":",
];

/// The 1-based line and column (in characters) of a byte offset, for messages.
pub fn position(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A syntax error at `offset`.
pub fn syntax(src: &str, offset: usize, what: impl Into<String>) -> PartiqlError {
    let (line, column) = position(src, offset);
    PartiqlError::Syntax {
        what: what.into(),
        line,
        column,
    }
}

/// Splits a statement into tokens, ending with [`Tok::Eof`].
pub fn lex(src: &str) -> Result<Vec<Token>, PartiqlError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut params = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // `--` starts a comment that runs to the end of the line.
        if src[i..].starts_with("--") {
            i = src[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'$'))
            {
                i += 1;
            }
            Tok::Word(src[start..i].to_string())
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i = number_end(bytes, i);
            if i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
                return Err(syntax(
                    src,
                    i,
                    "a number runs into a word; put a space between them",
                ));
            }
            Tok::Num(src[start..i].to_string())
        } else if c == b'\'' || c == b'"' {
            let (text, end) = quoted(src, i, c as char)?;
            i = end;
            if c == b'\'' {
                Tok::Str(text)
            } else {
                Tok::Quoted(text)
            }
        } else if c == b'?' {
            i += 1;
            params += 1;
            Tok::Param(params - 1)
        } else if c == b'`' {
            return Err(syntax(
                src,
                i,
                "Ion literals in backticks are not supported; write the value as a PartiQL literal",
            ));
        } else if let Some(s) = SYMBOLS.iter().find(|s| src[i..].starts_with(**s)) {
            i += s.len();
            Tok::Sym(s)
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(syntax(src, i, format!("unexpected character '{ch}'")));
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

/// Where a number starting at `i` ends: digits, `.digits`, `e[+-]digits`.
fn number_end(bytes: &[u8], mut i: usize) -> usize {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    i = digits(i);
    if i < bytes.len() && bytes[i] == b'.' {
        i = digits(i + 1);
    }
    if i < bytes.len() && matches!(bytes[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < bytes.len() && matches!(bytes[j], b'+' | b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = digits(j);
        }
    }
    i
}

/// A quoted string or identifier starting at `start`; a doubled quote
/// stands for one. Returns the text and the offset after the closing quote.
fn quoted(src: &str, start: usize, quote: char) -> Result<(String, usize), PartiqlError> {
    let mut text = String::new();
    let mut chars = src[start + 1..].char_indices().peekable();
    while let Some((j, ch)) = chars.next() {
        if ch == quote {
            if chars.peek().is_some_and(|(_, next)| *next == quote) {
                chars.next();
                text.push(quote);
                continue;
            }
            return Ok((text, start + 1 + j + 1));
        }
        text.push(ch);
    }
    let what = if quote == '\'' {
        "a string literal is not closed: a ' is missing"
    } else {
        "a quoted identifier is not closed: a \" is missing"
    };
    Err(syntax(src, start, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_strings_numbers_parameters_and_symbols() {
        assert_eq!(
            toks(r#"SELECT "a""b" FROM t WHERE x <= 'it''s' AND y <> -1.5e3 AND z = ?"#),
            vec![
                Tok::Word("SELECT".into()),
                Tok::Quoted("a\"b".into()),
                Tok::Word("FROM".into()),
                Tok::Word("t".into()),
                Tok::Word("WHERE".into()),
                Tok::Word("x".into()),
                Tok::Sym("<="),
                Tok::Str("it's".into()),
                Tok::Word("AND".into()),
                Tok::Word("y".into()),
                Tok::Sym("<>"),
                Tok::Sym("-"),
                Tok::Num("1.5e3".into()),
                Tok::Word("AND".into()),
                Tok::Word("z".into()),
                Tok::Sym("="),
                Tok::Param(0),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn bags_parameters_count_in_order_and_comments_are_skipped() {
        assert_eq!(
            toks("<<?, ?>> -- a comment\n.5"),
            vec![
                Tok::Sym("<<"),
                Tok::Param(0),
                Tok::Sym(","),
                Tok::Param(1),
                Tok::Sym(">>"),
                Tok::Num(".5".into()),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn errors_say_where() {
        let e = lex("SELECT * FROM t WHERE a = 'open").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Statement wasn't well formed, can't be processed: a string literal is not closed: a ' is missing at line 1, column 27"
        );
        let e = lex("SELECT *\nFROM t WHERE a = #x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Statement wasn't well formed, can't be processed: unexpected character '#' at line 2, column 18"
        );
        assert!(
            lex("SELECT * FROM t WHERE a = `1`")
                .unwrap_err()
                .to_string()
                .contains("Ion literals")
        );
        assert!(lex("SELECT * FROM t WHERE a = 12abc").is_err());
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(position("é = x", 5), (1, 5));
        assert_eq!(position("a\nbc", 3), (2, 2));
    }
}
