//! DynamoDB numbers: decimals with up to 38 significant digits, magnitude
//! from 1E-130 to 9.99…E+125, stored normalised so that equal values have one
//! representation and the key encoding sorts numerically under `memcmp`.

use std::cmp::Ordering;
use std::fmt;

use crate::error::Error;

/// Most significant digits a number may carry, as in DynamoDB.
pub const MAX_DIGITS: usize = 38;
/// Smallest exponent `e` in `0.d1d2… × 10^e` (1E-130 = 0.1 × 10^-129).
pub const MIN_EXP: i32 = -129;
/// Largest exponent `e` in `0.d1d2… × 10^e` (9.99…E+125 < 10^126).
pub const MAX_EXP: i32 = 126;

/// A normalised decimal: `value = ±0.d1 d2 … dn × 10^exp`, `d1 != 0`,
/// `dn != 0`. Zero has no digits, `exp == 0` and is never negative.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    digits: Vec<u8>,
    exp: i32,
}

impl Number {
    pub fn zero() -> Self {
        Number {
            negative: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Parses DynamoDB's number syntax; `field` names the attribute in errors.
    pub fn parse(text: &str, field: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::InvalidNumber {
            field: field.to_string(),
            value: text.chars().take(64).collect(),
            reason,
        };
        if text.len() > 1024 {
            return Err(bad(format!(
                "the text is {} characters long, the limit is 1024",
                text.len()
            )));
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            negative = bytes[i] == b'-';
            i += 1;
        }
        let mut mantissa = Vec::new();
        let mut point: Option<usize> = None;
        while i < bytes.len() {
            match bytes[i] {
                b'0'..=b'9' => mantissa.push(bytes[i] - b'0'),
                b'.' if point.is_none() => point = Some(mantissa.len()),
                _ => break,
            }
            i += 1;
        }
        if mantissa.is_empty() {
            return Err(bad("it has no digits".into()));
        }
        let mut exp10: i64 = 0;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            i += 1;
            let mut exp_negative = false;
            if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
                exp_negative = bytes[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                // Saturate: anything this large is out of range anyway.
                exp10 = (exp10 * 10 + i64::from(bytes[i] - b'0')).min(1_000_000);
                i += 1;
            }
            if i == start {
                return Err(bad("the exponent has no digits".into()));
            }
            if exp_negative {
                exp10 = -exp10;
            }
        }
        if i != bytes.len() {
            return Err(bad(format!(
                "unexpected character {:?}",
                text[i..].chars().next().unwrap_or(' ')
            )));
        }
        let int_len = point.unwrap_or(mantissa.len()) as i64;
        let leading = mantissa.iter().take_while(|d| **d == 0).count();
        if leading == mantissa.len() {
            return Ok(Number::zero());
        }
        let mut digits = mantissa[leading..].to_vec();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        let exp = int_len - leading as i64 + exp10;
        if digits.len() > MAX_DIGITS {
            return Err(bad(format!(
                "it has {} significant digits, the limit is {MAX_DIGITS}",
                digits.len()
            )));
        }
        if exp > i64::from(MAX_EXP) {
            return Err(bad(
                "its magnitude is above the largest allowed, 9.9999999999999999999999999999999999999E+125".into(),
            ));
        }
        if exp < i64::from(MIN_EXP) {
            return Err(bad(
                "its magnitude is below the smallest allowed, 1E-130".into()
            ));
        }
        Ok(Number {
            negative,
            digits,
            exp: exp as i32,
        })
    }

    /// Order-preserving bytes: `a < b` numerically iff `a.key_bytes() < b.key_bytes()`
    /// bytewise. Negative numbers sort first, then zero, then positives; within a
    /// sign the exponent decides, then the digits (complemented for negatives).
    pub fn key_bytes(&self) -> Vec<u8> {
        if self.is_zero() {
            return vec![0x80];
        }
        let biased = (self.exp - MIN_EXP) as u8; // 0..=255 by the range check
        let mut out = Vec::with_capacity(self.digits.len() + 3);
        if self.negative {
            out.push(0x40);
            out.push(255 - biased);
            out.extend(self.digits.iter().map(|d| 9 - d));
            // Terminator above every complemented digit: a shorter negative
            // mantissa is the larger number (-0.12 > -0.123).
            out.push(0xFF);
        } else {
            out.push(0xC0);
            out.push(biased);
            out.extend_from_slice(&self.digits);
        }
        out
    }

    /// Inverse of [`Number::key_bytes`]; rejects anything `key_bytes` cannot produce.
    pub fn from_key_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Decode("malformed number key".into());
        let (&tag, rest) = bytes.split_first().ok_or_else(bad)?;
        let (negative, exp_byte, digits) = match tag {
            0x80 if rest.is_empty() => return Ok(Number::zero()),
            0xC0 => {
                let (&e, d) = rest.split_first().ok_or_else(bad)?;
                (false, e, d.to_vec())
            }
            0x40 => {
                let (&e, d) = rest.split_first().ok_or_else(bad)?;
                let d = d.strip_suffix(&[0xFF]).ok_or_else(bad)?;
                (
                    true,
                    255 - e,
                    d.iter().map(|x| 9u8.wrapping_sub(*x)).collect(),
                )
            }
            _ => return Err(bad()),
        };
        let valid = !digits.is_empty()
            && digits.len() <= MAX_DIGITS
            && digits.iter().all(|d| *d <= 9)
            && digits[0] != 0
            && digits[digits.len() - 1] != 0;
        let exp = MIN_EXP + i32::from(exp_byte);
        if !valid || exp > MAX_EXP {
            return Err(bad());
        }
        Ok(Number {
            negative,
            digits,
            exp,
        })
    }

    /// Size as DynamoDB counts it: about one byte per two significant digits, plus one.
    pub fn size(&self) -> usize {
        self.digits.len().div_ceil(2) + 1
    }

    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        self.exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |n: &Number| -> i8 {
            if n.is_zero() {
                0
            } else if n.negative {
                -1
            } else {
                1
            }
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => match sign(self) {
                0 => Ordering::Equal,
                1 => self.cmp_magnitude(other),
                _ => other.cmp_magnitude(self),
            },
            unequal => unequal,
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Number {
    /// The text stored in the item encoding: plain notation for ordinary
    /// magnitudes, scientific beyond (`1E-130` stays 6 bytes, not 132).
    /// Kept apart from `Display` so that stored bytes, and the digests
    /// computed over them, do not change with the wire format.
    pub fn to_stored_string(&self) -> String {
        if !(-20..=40).contains(&self.exp) {
            let mut s = String::with_capacity(self.digits.len() + 8);
            if self.negative {
                s.push('-');
            }
            let mut digits = self.digits.iter().map(|d| char::from(b'0' + d));
            s.extend(digits.next());
            if self.digits.len() > 1 {
                s.push('.');
                s.extend(digits);
            }
            let e = self.exp - 1;
            s.push_str(&format!("E{}{e}", if e >= 0 { "+" } else { "" }));
            return s;
        }
        self.to_string()
    }
}

/// Canonical text, always in plain notation (`1E+125` prints as a 1 and 125
/// zeros, `1E-130` as `0.` and 129 zeros before the 1): DynamoDB returns
/// numbers that way, whatever notation they were written in, and clients
/// compare the strings.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let n = self.digits.len() as i32;
        // Sign, digits, and at most 130 zeros and a point around them.
        let mut s = String::with_capacity(self.digits.len() + 132);
        if self.negative {
            s.push('-');
        }
        let digits = self.digits.iter().map(|d| char::from(b'0' + d));
        if self.exp <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-self.exp) as usize));
            s.extend(digits);
        } else if self.exp >= n {
            s.extend(digits);
            s.extend(std::iter::repeat_n('0', (self.exp - n) as usize));
        } else {
            for (i, d) in digits.enumerate() {
                if i == self.exp as usize {
                    s.push('.');
                }
                s.push(d);
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s, "x").unwrap()
    }

    #[test]
    fn normalises_equal_values() {
        assert_eq!(n("1.50"), n("001.5"));
        assert_eq!(n("15e-1"), n("1.5"));
        assert_eq!(n("-0"), Number::zero());
        assert_eq!(n("0.000"), Number::zero());
        assert_eq!(n("100").to_string(), "100");
        assert_eq!(n("-0.0012").to_string(), "-0.0012");
        assert_eq!(n("12.5").to_string(), "12.5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-1.5e2").to_string(), "-150");
        assert_eq!(n("1.23e-1").to_string(), "0.123");
        assert_eq!(n(".5").to_string(), "0.5");
        // Plain digits at both ends of the range, never an exponent.
        assert_eq!(n("1E-130").to_string(), format!("0.{}1", "0".repeat(129)));
        assert_eq!(n("9.9E+125").to_string(), format!("99{}", "0".repeat(124)));
        assert_eq!(n("1e125").to_string(), format!("1{}", "0".repeat(125)));
    }

    #[test]
    fn stored_text_is_short_and_parses_back() {
        for (text, stored) in [
            ("1E-130", "1E-130"),
            ("-9.9E+125", "-9.9E+125"),
            ("1e39", "1000000000000000000000000000000000000000"),
            ("1e40", "1E+40"),
            ("0.5", "0.5"),
            ("0", "0"),
        ] {
            assert_eq!(n(text).to_stored_string(), stored, "{text}");
            assert_eq!(n(stored), n(text));
        }
    }

    #[test]
    fn enforces_range_and_precision() {
        assert!(Number::parse("1E-131", "x").is_err());
        assert!(Number::parse("1E+126", "x").is_err());
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125", "x").is_ok());
        let err = Number::parse("1.23456789012345678901234567890123456789", "price")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("price") && err.contains("39") && err.contains("38"),
            "{err}"
        );
        for bad in [
            "", "-", "1e", "abc", "1.2.3", "NaN", "Infinity", " 1", "0x10",
        ] {
            assert!(Number::parse(bad, "x").is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn key_bytes_order_examples() {
        let ordered = [
            "-1E+125", "-100", "-12", "-1.23", "-1.2", "-1", "-0.5", "-1E-130", "0", "1E-130",
            "0.5", "1", "1.2", "1.23", "12", "100", "9.9E+125",
        ];
        for pair in ordered.windows(2) {
            let (a, b) = (n(pair[0]), n(pair[1]));
            assert!(a < b, "{a} < {b}");
            assert!(a.key_bytes() < b.key_bytes(), "{a} < {b} bytewise");
        }
    }
}
