//! Tokens of the expression language, with byte positions for messages.

/// What a token is. Text is recovered from the source by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `[A-Za-z][A-Za-z0-9_]*`: a name, keyword or function name.
    Ident,
    /// `#[A-Za-z0-9_]+`
    Name,
    /// `:[A-Za-z0-9_]+`
    Value,
    /// `[0-9]+`, only meaningful as a list index.
    Int,
    /// Punctuation or an operator, e.g. `<=`.
    Sym(&'static str),
    /// A character that starts no token.
    Bad,
    Eof,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `key` is exactly one `#name` (`sigil` `#`) or `:value` (`:`)
/// placeholder token.
pub(crate) fn is_placeholder(key: &str, sigil: char) -> bool {
    let want = if sigil == '#' {
        Kind::Name
    } else {
        Kind::Value
    };
    matches!(lex(key).as_slice(), [t, _] if t.kind == want && t.start == 0 && t.end == key.len())
}

/// Splits `src` into tokens; never fails (bad characters become `Bad`
/// tokens, reported by the parser when it reaches them). Ends with `Eof`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let word_end = |mut j: usize| {
            while j < bytes.len() && is_word(bytes[j]) {
                j += 1;
            }
            j
        };
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                i = word_end(i + 1);
                Kind::Ident
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Kind::Int
            }
            b'#' | b':' => {
                i = word_end(i + 1);
                if i == start + 1 {
                    Kind::Bad
                } else if b == b'#' {
                    Kind::Name
                } else {
                    Kind::Value
                }
            }
            b'<' | b'>' | b'=' | b'(' | b')' | b'[' | b']' | b',' | b'.' | b'+' | b'-' => {
                let next = bytes.get(i + 1).copied();
                let (sym, len) = match (b, next) {
                    (b'<', Some(b'>')) => ("<>", 2),
                    (b'<', Some(b'=')) => ("<=", 2),
                    (b'>', Some(b'=')) => (">=", 2),
                    (b'<', _) => ("<", 1),
                    (b'>', _) => (">", 1),
                    (b'=', _) => ("=", 1),
                    (b'(', _) => ("(", 1),
                    (b')', _) => (")", 1),
                    (b'[', _) => ("[", 1),
                    (b']', _) => ("]", 1),
                    (b',', _) => (",", 1),
                    (b'.', _) => (".", 1),
                    (b'+', _) => ("+", 1),
                    _ => ("-", 1),
                };
                i += len;
                Kind::Sym(sym)
            }
            _ => {
                // One whole character, which may be several bytes.
                let ch = src[i..].chars().next().map_or(1, char::len_utf8);
                i += ch;
                Kind::Bad
            }
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out.push(Token {
        kind: Kind::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::is_placeholder;

    #[test]
    fn a_placeholder_is_one_whole_token() {
        for key in ["#a", "#0", "#a_b9"] {
            assert!(is_placeholder(key, '#'), "{key}");
        }
        for key in [":a", ":0", ":a_B"] {
            assert!(is_placeholder(key, ':'), "{key}");
        }
        for key in ["a", "#", ":a", " #a", "#a ", "#a-b", "#a.b", "##a", ""] {
            assert!(!is_placeholder(key, '#'), "{key:?}");
        }
        assert!(!is_placeholder("loc", ':'));
        assert!(!is_placeholder("#a", ':'));
    }
}
