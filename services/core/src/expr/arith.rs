//! Exact decimal addition and subtraction of DynamoDB numbers.
//!
//! `Number` keeps its digits private, so the operands are read back from
//! their canonical text, added exactly as digit vectors aligned on a common
//! exponent (at most ~300 digits given the number range), and the result is
//! range-checked and rebuilt through `Number::parse`.

use super::ExprError;
use crate::number::{MAX_DIGITS, MAX_EXP, MIN_EXP, Number};

pub(crate) const OVERFLOW: &str =
    "Number overflow. Attempting to store a number with magnitude larger than supported range";
pub(crate) const UNDERFLOW: &str =
    "Number underflow. Attempting to store a number with magnitude smaller than supported range";

/// `±0.d1 d2 … dn × 10^exp`, digits most significant first, no leading or
/// trailing zeros; zero has no digits.
struct Dec {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Dec {
    fn of(n: &Number) -> Dec {
        let text = n.to_string();
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.as_str()),
        };
        let (mantissa, exp10) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap_or(0)),
            None => (rest, 0),
        };
        let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i64;
        let all: Vec<u8> = mantissa
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        let leading = all.iter().take_while(|d| **d == 0).count();
        let mut digits = all[leading..].to_vec();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Dec {
                negative: false,
                digits,
                exp: 0,
            };
        }
        Dec {
            negative,
            digits,
            exp: int_len - leading as i64 + exp10,
        }
    }

    /// Power of ten of the last digit.
    fn scale(&self) -> i64 {
        self.exp - self.digits.len() as i64
    }

    /// The digits as an integer at `scale` (which must not exceed ours),
    /// least significant first.
    fn aligned(&self, scale: i64) -> Vec<u8> {
        let pad = (self.scale() - scale) as usize;
        let mut out = vec![0u8; pad];
        out.extend(self.digits.iter().rev());
        out
    }
}

fn cmp_mag(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    // Little-endian digit vectors without high zeros may differ in length.
    let trim = |v: &[u8]| v.len() - v.iter().rev().take_while(|d| **d == 0).count();
    let (la, lb) = (trim(a), trim(b));
    la.cmp(&lb)
        .then_with(|| a[..la].iter().rev().cmp(b[..lb].iter().rev()))
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0u8;
    for i in 0..a.len().max(b.len()) {
        let s = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i8;
    for (i, &da) in a.iter().enumerate() {
        let mut d = da as i8 - b.get(i).copied().unwrap_or(0) as i8 - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
    }
    out
}

fn combine(a: &Number, b: &Number, negate_b: bool) -> Result<Number, ExprError> {
    let x = Dec::of(a);
    let mut y = Dec::of(b);
    if negate_b && !y.digits.is_empty() {
        y.negative = !y.negative;
    }
    if x.digits.is_empty() {
        return finish(
            y.negative,
            y.digits.iter().rev().copied().collect(),
            y.scale(),
        );
    }
    if y.digits.is_empty() {
        return finish(
            x.negative,
            x.digits.iter().rev().copied().collect(),
            x.scale(),
        );
    }
    let scale = x.scale().min(y.scale());
    let (ma, mb) = (x.aligned(scale), y.aligned(scale));
    let (negative, mag) = if x.negative == y.negative {
        (x.negative, add_mag(&ma, &mb))
    } else if cmp_mag(&ma, &mb).is_ge() {
        (x.negative, sub_mag(&ma, &mb))
    } else {
        (y.negative, sub_mag(&mb, &ma))
    };
    finish(negative, mag, scale)
}

/// Normalises a little-endian magnitude at `scale` and range-checks it.
fn finish(negative: bool, mut mag: Vec<u8>, mut scale: i64) -> Result<Number, ExprError> {
    while mag.last() == Some(&0) {
        mag.pop();
    }
    let low_zeros = mag.iter().take_while(|d| **d == 0).count();
    if low_zeros == mag.len() {
        return Ok(Number::zero());
    }
    mag.drain(..low_zeros);
    scale += low_zeros as i64;
    let exp = scale + mag.len() as i64;
    // DynamoDB reports a result that needs more than 38 significant digits
    // with its overflow message too.
    if exp > i64::from(MAX_EXP) || mag.len() > MAX_DIGITS {
        return Err(ExprError::validation(OVERFLOW));
    }
    if exp < i64::from(MIN_EXP) {
        return Err(ExprError::validation(UNDERFLOW));
    }
    let digits: String = mag.iter().rev().map(|d| char::from(b'0' + d)).collect();
    let text = format!("{}0.{digits}E{exp}", if negative { "-" } else { "" });
    Number::parse(&text, "number").map_err(|_| ExprError::validation(OVERFLOW))
}

/// `a + b`, exactly; errors like DynamoDB when the result is out of range or
/// needs more than 38 significant digits.
pub fn add_numbers(a: &Number, b: &Number) -> Result<Number, ExprError> {
    combine(a, b, false)
}

/// `a - b`, exactly; errors like [`add_numbers`].
pub fn sub_numbers(a: &Number, b: &Number) -> Result<Number, ExprError> {
    combine(a, b, true)
}
