//! Property tests for DynamoDB numbers: parsing, normalisation, ordering and
//! the order-preserving key encoding, all checked against an independent
//! big-integer reference.
//!
//! A test number is `±digits × 10^exp` with `digits` a decimal string of 1 to
//! 38 digits (first digit non-zero), kept inside DynamoDB's range
//! 1E-130 ..= 9.99…E+125. It is written out in several textual forms and
//! parsed back with `Number::parse`.

use std::cmp::Ordering;

use meridian_core::{Error, Number};
use num_bigint::BigInt;
use proptest::prelude::*;

/// Exact decimal value `±digits × 10^exp` (`digits` empty or all zeros is zero).
#[derive(Clone, Debug)]
struct Dec {
    negative: bool,
    digits: String,
    exp: i32,
}

impl Dec {
    fn is_zero(&self) -> bool {
        self.digits.bytes().all(|b| b == b'0')
    }

    fn signed_mantissa(&self) -> BigInt {
        let m = BigInt::parse_bytes(self.digits.as_bytes(), 10).expect("decimal digits");
        if self.negative { -m } else { m }
    }
}

/// Reference comparison: scale both mantissas to the smaller exponent.
fn reference_cmp(a: &Dec, b: &Dec) -> Ordering {
    let e = a.exp.min(b.exp);
    let ten = BigInt::from(10u32);
    let scale = |d: &Dec| d.signed_mantissa() * ten.pow((d.exp - e) as u32);
    scale(a).cmp(&scale(b))
}

/// Digit strings of exactly `n` digits, first digit non-zero. Trailing zeros
/// are made common so that normalisation is exercised.
fn digits(n: usize) -> impl Strategy<Value = String> {
    let body = prop_oneof![
        3 => prop::collection::vec(0u8..10, n - 1),
        1 => prop::collection::vec(prop_oneof![3 => Just(0u8), 1 => Just(9u8), 1 => 0u8..10], n - 1),
    ];
    (1u8..10, body).prop_map(|(first, rest)| {
        std::iter::once(first)
            .chain(rest)
            .map(|d| char::from(b'0' + d))
            .collect()
    })
}

/// The exponent range keeping an `n`-digit mantissa in DynamoDB's range:
/// `digits × 10^exp >= 1E-130` iff `exp >= -(n + 129)`, and
/// `digits × 10^exp < 1E+126` iff `exp <= 126 - n`.
fn exp_range(n: usize) -> (i32, i32) {
    let n = n as i32;
    (-(n + 129), 126 - n)
}

fn in_range_dec() -> impl Strategy<Value = Dec> {
    let nonzero = (1usize..=38)
        .prop_flat_map(|n| {
            let (lo, hi) = exp_range(n);
            let exp = prop_oneof![
                2 => lo..=hi,
                1 => lo..=(lo + 2),
                1 => (hi - 2)..=hi,
                2 => -45i32..=45,
            ];
            (any::<bool>(), digits(n), exp)
        })
        .prop_map(|(negative, digits, exp)| Dec {
            negative,
            digits,
            exp,
        });
    prop_oneof![
        12 => nonzero,
        1 => (any::<bool>(), 1usize..4, -200i32..200).prop_map(|(negative, n, exp)| Dec {
            negative,
            digits: "0".repeat(n),
            exp,
        }),
    ]
}

/// A second number near the first: often equal in value, a neighbour in the
/// last digit or the exponent, or the opposite sign.
fn related(a: &Dec) -> BoxedStrategy<Dec> {
    let mut choices: Vec<BoxedStrategy<Dec>> = vec![
        Just(Dec {
            negative: !a.negative,
            ..a.clone()
        })
        .boxed(),
        in_range_dec().boxed(),
    ];
    if a.is_zero() {
        return proptest::strategy::Union::new(choices).boxed();
    }
    if a.digits.len() < 38 {
        let (x, y) = (a.clone(), a.clone());
        // Zeros appended to the mantissa, exponent lowered: the same value.
        choices.push(
            (1usize..=38 - a.digits.len())
                .prop_map(move |k| Dec {
                    negative: x.negative,
                    digits: format!("{}{}", x.digits, "0".repeat(k)),
                    exp: x.exp - k as i32,
                })
                .boxed(),
        );
        // One more digit at the end: 0.12 against 0.123.
        choices.push(
            (1u8..10)
                .prop_map(move |d| Dec {
                    negative: y.negative,
                    digits: format!("{}{d}", y.digits),
                    exp: y.exp - 1,
                })
                .boxed(),
        );
    }
    // The exponent one up or down, where that stays in range.
    let (lo, hi) = exp_range(a.digits.len());
    let exps: Vec<i32> = (a.exp - 1..=a.exp + 1)
        .filter(|e| (lo..=hi).contains(e))
        .collect();
    let x = a.clone();
    choices.push(
        prop::sample::select(exps)
            .prop_map(move |exp| Dec { exp, ..x.clone() })
            .boxed(),
    );
    // The last digit one up or down, keeping the digit count.
    let m = BigInt::parse_bytes(a.digits.as_bytes(), 10).expect("digits");
    let neighbours: Vec<String> = [-1i32, 0, 1]
        .iter()
        .map(|d| (&m + d).to_string())
        .filter(|s| s.len() == a.digits.len() && !s.starts_with(['-', '0']))
        .collect();
    let x = a.clone();
    choices.push(
        prop::sample::select(neighbours)
            .prop_map(move |digits| Dec {
                digits,
                ..x.clone()
            })
            .boxed(),
    );
    proptest::strategy::Union::new(choices).boxed()
}

fn pair() -> impl Strategy<Value = (Dec, Dec)> {
    in_range_dec().prop_flat_map(|a| {
        let b = related(&a);
        (Just(a), b)
    })
}

/// The textual forms a client might send for the same value.
#[derive(Clone, Copy, Debug)]
struct Style {
    form: u8,
    lower_e: bool,
    plus_exp: bool,
    plus_sign: bool,
    lead: u8,
    trail: u8,
}

fn style() -> impl Strategy<Value = Style> {
    (
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u8..4,
        0u8..4,
    )
        .prop_map(|(form, lower_e, plus_exp, plus_sign, lead, trail)| Style {
            form,
            lower_e,
            plus_exp,
            plus_sign,
            lead,
            trail,
        })
}

fn render(d: &Dec, s: Style) -> String {
    let mut out = String::new();
    if d.negative {
        out.push('-');
    } else if s.plus_sign {
        out.push('+');
    }
    let lead = "0".repeat(usize::from(s.lead));
    let trail = "0".repeat(usize::from(s.trail));
    let e = if s.lower_e { 'e' } else { 'E' };
    let exp_text = |x: i64| {
        if x >= 0 && s.plus_exp {
            format!("{e}+{x}")
        } else {
            format!("{e}{x}")
        }
    };
    let n = d.digits.len() as i64;
    match s.form {
        // digits × 10^exp: "12300E-7"
        0 => {
            out.push_str(&lead);
            out.push_str(&d.digits);
            if s.trail > 0 {
                out.push('.');
                out.push_str(&trail);
            }
            out.push_str(&exp_text(i64::from(d.exp)));
        }
        // Scientific: "1.23E-3"
        1 => {
            out.push_str(&lead);
            out.push_str(&d.digits[..1]);
            if n > 1 || s.trail > 0 {
                out.push('.');
                out.push_str(&d.digits[1..]);
                out.push_str(&trail);
            }
            out.push_str(&exp_text(i64::from(d.exp) + n - 1));
        }
        // Plain decimal, no exponent: "0.00123", "12300000"
        2 => {
            let point = n + i64::from(d.exp); // digits before the decimal point
            if point <= 0 {
                out.push_str(&lead);
                if s.lead == 0 && s.plus_exp {
                    // ".00123" without an integer part
                } else {
                    out.push('0');
                }
                out.push('.');
                out.push_str(&"0".repeat((-point) as usize));
                out.push_str(&d.digits);
                out.push_str(&trail);
            } else if point >= n {
                out.push_str(&lead);
                out.push_str(&d.digits);
                out.push_str(&"0".repeat((point - n) as usize));
                if s.trail > 0 {
                    out.push('.');
                    out.push_str(&trail);
                } else if s.plus_exp {
                    out.push('.'); // "123." is a number too
                }
            } else {
                out.push_str(&lead);
                out.push_str(&d.digits[..point as usize]);
                out.push('.');
                out.push_str(&d.digits[point as usize..]);
                out.push_str(&trail);
            }
        }
        // Fraction with an exponent: "0.123E-2"
        _ => {
            out.push_str(&lead);
            out.push_str("0.");
            out.push_str(&d.digits);
            out.push_str(&trail);
            out.push_str(&exp_text(i64::from(d.exp) + n));
        }
    }
    out
}

fn parse(d: &Dec, s: Style) -> Result<Number, TestCaseError> {
    let text = render(d, s);
    Number::parse(&text, "num")
        .map_err(|e| TestCaseError::fail(format!("{text:?} ({d:?}) rejected: {e}")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_spelling_parses_to_one_normalised_number(
        d in in_range_dec(), s1 in style(), s2 in style(),
    ) {
        let a = parse(&d, s1)?;
        let b = parse(&d, s2)?;
        prop_assert_eq!(&a, &b, "{:?} vs {:?}", render(&d, s1), render(&d, s2));
        prop_assert_eq!(a.is_zero(), d.is_zero());
        // Canonical text round-trips to an equal number and is a fixed point.
        let text = a.to_string();
        let again = Number::parse(&text, "num").map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&again, &a, "display {:?}", text);
        prop_assert_eq!(again.to_string(), text);
    }

    #[test]
    fn order_and_key_bytes_match_the_reference(
        (x, y) in pair(), s1 in style(), s2 in style(),
    ) {
        let a = parse(&x, s1)?;
        let b = parse(&y, s2)?;
        let expected = reference_cmp(&x, &y);
        prop_assert_eq!(a.cmp(&b), expected, "{} vs {}", a, b);
        prop_assert_eq!(a == b, expected == Ordering::Equal, "{} vs {}", a, b);
        let (ka, kb) = (a.key_bytes(), b.key_bytes());
        prop_assert_eq!(ka.cmp(&kb), expected, "{} vs {}: {:02x?} vs {:02x?}", a, b, ka, kb);
        prop_assert_eq!(Number::from_key_bytes(&ka).unwrap(), a.clone());
        prop_assert_eq!(Number::from_key_bytes(&kb).unwrap(), b.clone());
    }

    /// `from_key_bytes` accepts exactly what `key_bytes` produces.
    #[test]
    fn from_key_bytes_is_strict(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..12),
            // Shaped like a key: tag, exponent byte, digits, maybe a terminator.
            (
                prop::sample::select(vec![0x40u8, 0x80, 0xC0]),
                any::<u8>(),
                prop::collection::vec(prop_oneof![6 => 0u8..10, 1 => any::<u8>()], 0..6),
                prop_oneof![Just(None), Just(Some(0xFF)), any::<u8>().prop_map(Some)],
            )
                .prop_map(|(tag, exp, digits, end)| {
                    let mut b = vec![tag, exp];
                    b.extend(digits);
                    b.extend(end);
                    b
                }),
        ],
    ) {
        if let Ok(n) = Number::from_key_bytes(&bytes) {
            prop_assert_eq!(n.key_bytes(), bytes);
            // And it is a normalised number, the same one its text parses to.
            let text = n.to_string();
            prop_assert_eq!(Number::parse(&text, "num"), Ok(n), "{}", text);
        }
    }

    #[test]
    fn parse_never_panics_and_what_it_accepts_round_trips(text in "[-+]?[0-9.]{0,6}([eE][-+]?[0-9]{0,4})?|[-+0-9.eE x]{0,12}") {
        if let Ok(n) = Number::parse(&text, "num") {
            prop_assert_eq!(Number::parse(&n.to_string(), "num").unwrap(), n);
        }
    }
}

// ---- rejections ------------------------------------------------------------

fn field_name() -> impl Strategy<Value = String> {
    "[a-z][a-zA-Z0-9_]{2,10}"
}

fn assert_rejected(text: &str, field: &str, why: &str) -> Result<(), TestCaseError> {
    match Number::parse(text, field) {
        Ok(n) => Err(TestCaseError::fail(format!(
            "{text:?} accepted as {n}, expected: {why}"
        ))),
        Err(e @ Error::InvalidNumber { .. }) => {
            let msg = e.to_string();
            prop_assert!(
                msg.contains(field),
                "{:?} does not name the field {:?}",
                msg,
                field
            );
            let Error::InvalidNumber { field: f, .. } = e else {
                unreachable!()
            };
            prop_assert_eq!(f, field);
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!(
            "{text:?}: unexpected error kind {e:?}"
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn more_than_38_significant_digits_are_rejected(
        (d, s) in (39usize..=60)
            .prop_flat_map(|n| {
                // Last digit non-zero so every digit is significant; exponent
                // comfortably in range so only the precision is wrong.
                (any::<bool>(), digits(n - 1), 1u8..10, -60i32..=60)
            })
            .prop_map(|(negative, mut digits, last, exp)| {
                digits.push(char::from(b'0' + last));
                Dec { negative, digits, exp }
            })
            .prop_flat_map(|d| (Just(d), style())),
        field in field_name(),
    ) {
        assert_rejected(&render(&d, s), &field, "more than 38 significant digits")?;
    }

    #[test]
    fn magnitudes_outside_the_range_are_rejected(
        (d, s) in (1usize..=38)
            .prop_flat_map(|n| {
                let (lo, hi) = exp_range(n);
                let exp = prop_oneof![
                    (hi + 1)..=(hi + 3),
                    (lo - 3)..=(lo - 1),
                    (hi + 1)..=(hi + 400),
                    (lo - 400)..=(lo - 1),
                ];
                (any::<bool>(), digits(n), exp)
            })
            .prop_map(|(negative, digits, exp)| Dec { negative, digits, exp })
            .prop_flat_map(|d| (Just(d), style())),
        field in field_name(),
    ) {
        assert_rejected(&render(&d, s), &field, "out of range")?;
    }

    #[test]
    fn huge_exponents_are_rejected(
        exp in prop_oneof![Just(i64::MAX), Just(i64::MIN + 1), any::<i64>()],
        field in field_name(),
    ) {
        prop_assume!(!(-130..=125).contains(&exp));
        assert_rejected(&format!("1E{exp}"), &field, "out of range")?;
        assert_rejected(&format!("1E{exp}0000000000"), &field, "out of range")?;
    }
}

#[test]
fn range_boundaries_are_exact() {
    let max38 = format!("{}E+125", "9.".to_string() + &"9".repeat(37));
    for ok in [
        "1E-130",
        "-1E-130",
        &max38,
        "-9.9E+125",
        "0.1E-129",
        "99E+124",
    ] {
        assert!(Number::parse(ok, "f").is_ok(), "{ok} rejected");
    }
    for bad in ["9.9999E-131", "1E+126", "-1E+126", "10E+125", "0.01E-129"] {
        let e = Number::parse(bad, "f").unwrap_err().to_string();
        assert!(e.starts_with("f: "), "{bad}: {e}");
    }
}
