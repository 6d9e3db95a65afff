//! A state's identity: a 128-bit hash of a canonical `Debug` form.

use std::hash::{DefaultHasher, Hash, Hasher};

pub fn hash128(s: &str) -> u128 {
    let mut a = DefaultHasher::new();
    0u8.hash(&mut a);
    s.hash(&mut a);
    let mut b = DefaultHasher::new();
    1u8.hash(&mut b);
    s.hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// A `Debug` form with the items of every `{…}` sorted: struct fields
/// (harmless) and the entries of maps and sets, whose order a `HashMap`
/// does not fix.
pub fn canonical(s: &str) -> String {
    fn items(b: &[u8], i: &mut usize, close: Option<u8>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        while *i < b.len() {
            let c = b[*i];
            if Some(c) == close {
                *i += 1;
                break;
            }
            match c {
                b'{' | b'[' | b'(' => {
                    let end = match c {
                        b'{' => b'}',
                        b'[' => b']',
                        _ => b')',
                    };
                    *i += 1;
                    let mut inner = items(b, i, Some(end));
                    if c == b'{' {
                        inner.sort();
                    }
                    cur.push(c);
                    cur.extend(inner.join(&b","[..]));
                    cur.push(end);
                }
                b',' => {
                    out.push(std::mem::take(&mut cur));
                    *i += 1;
                }
                b' ' => *i += 1,
                b'"' => {
                    cur.push(c);
                    *i += 1;
                    while *i < b.len() && b[*i] != b'"' {
                        if b[*i] == b'\\' {
                            cur.push(b[*i]);
                            *i += 1;
                        }
                        if *i < b.len() {
                            cur.push(b[*i]);
                            *i += 1;
                        }
                    }
                    cur.push(b'"');
                    *i += 1;
                }
                _ => {
                    cur.push(c);
                    *i += 1;
                }
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }
    let mut i = 0;
    let parts = items(s.as_bytes(), &mut i, None);
    String::from_utf8_lossy(&parts.join(&b","[..])).into_owned()
}
