//! Tests for the expression module: condition, update, projection and key
//! condition expressions, with DynamoDB's semantics and error messages.

use meridian_core::expr::{
    ConditionExpr, ExprError, KeyCondition, MAX_EXPRESSION_BYTES, Names, Path, PathElem,
    SortKeyCondition, UpdateExpr, Usage, Values, add_numbers, check_unused, is_reserved_word,
    parse_condition, parse_key_condition, parse_projection, parse_update, project, sub_numbers,
};
use meridian_core::{AttrValue, Item, Number, item_from_json};
use serde_json::{Value as Json, json};

// ---- helpers ----------------------------------------------------------------

fn item(j: Json) -> Item {
    item_from_json(&j).expect("valid item")
}

fn av(j: Json) -> AttrValue {
    AttrValue::from_json(&j, "test").expect("valid value")
}

fn num(s: &str) -> Number {
    Number::parse(s, "n").unwrap()
}

fn names(pairs: &[(&str, &str)]) -> Names {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values(pairs: Json) -> Values {
    pairs
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), av(v.clone())))
        .collect()
}

fn cond_nv(text: &str, n: &Names, v: &Values) -> ConditionExpr {
    parse_condition("ConditionExpression", text, n, v)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .0
}

fn cond(text: &str, v: Json) -> ConditionExpr {
    cond_nv(text, &Names::new(), &values(v))
}

fn cond_err_nv(text: &str, n: &Names, v: &Values) -> String {
    match parse_condition("ConditionExpression", text, n, v) {
        Ok(_) => panic!("{text:?} parsed"),
        Err(e) => e.to_string(),
    }
}

fn cond_err(text: &str, v: Json) -> String {
    cond_err_nv(text, &Names::new(), &values(v))
}

/// Evaluates `text` against `it` (`Json::Null` for "no item").
fn holds(text: &str, v: Json, it: &Json) -> bool {
    let c = cond(text, v);
    if it.is_null() {
        c.eval(None).unwrap()
    } else {
        c.eval(Some(&item(it.clone()))).unwrap()
    }
}

fn upd_nv(text: &str, n: &Names, v: &Values) -> UpdateExpr {
    parse_update(text, n, v)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .0
}

fn upd(text: &str, v: Json) -> UpdateExpr {
    upd_nv(text, &Names::new(), &values(v))
}

fn upd_err(text: &str, v: Json) -> String {
    match parse_update(text, &Names::new(), &values(v)) {
        Ok(_) => panic!("{text:?} parsed"),
        Err(e) => e.to_string(),
    }
}

/// Applies `text` to `before` and returns the new item.
fn apply(text: &str, v: Json, before: Json) -> Item {
    upd(text, v)
        .apply(&item(before))
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn apply_err(text: &str, v: Json, before: Json) -> String {
    match upd(text, v).apply(&item(before)) {
        Ok(i) => panic!("{text:?} applied: {i:?}"),
        Err(e) => e.to_string(),
    }
}

fn proj(text: &str, n: &Names) -> Vec<Path> {
    parse_projection(text, n)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .0
}

fn proj_err(text: &str) -> String {
    match parse_projection(text, &Names::new()) {
        Ok(_) => panic!("{text:?} parsed"),
        Err(e) => e.to_string(),
    }
}

fn key(text: &str, v: Json) -> KeyCondition {
    parse_key_condition(text, &Names::new(), &values(v))
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .0
}

fn key_err(text: &str, v: Json) -> String {
    match parse_key_condition(text, &Names::new(), &values(v)) {
        Ok(k) => panic!("{text:?} parsed: {k:?}"),
        Err(e) => e.to_string(),
    }
}

const MISSING: &str =
    "The provided expression refers to an attribute that does not exist in the item";
const WRONG_TYPE: &str = "An operand in the update expression has an incorrect data type";
const BAD_PATH: &str = "The document path provided in the update expression is invalid for update";
const OVERFLOW: &str =
    "Number overflow. Attempting to store a number with magnitude larger than supported range";
const UNDERFLOW: &str =
    "Number underflow. Attempting to store a number with magnitude smaller than supported range";

// ---- comparisons -------------------------------------------------------------

#[test]
fn equality_and_inequality_across_types() {
    let it = json!({
        "n": {"N": "1.50"}, "s": {"S": "hello"}, "b": {"B": "AQI="}, "t": {"BOOL": true},
        "z": {"NULL": true}, "l": {"L": [{"S": "x"}, {"N": "2"}]}, "m": {"M": {"k": {"S": "v"}}},
        "ss": {"SS": ["b", "a"]}, "ns": {"NS": ["2", "1"]}, "bs": {"BS": ["AQ=="]}
    });
    let same = json!({
        ":n": {"N": "1.5"}, ":s": {"S": "hello"}, ":b": {"B": "AQI="}, ":t": {"BOOL": true},
        ":z": {"NULL": true}, ":l": {"L": [{"S": "x"}, {"N": "2.0"}]},
        ":m": {"M": {"k": {"S": "v"}}}, ":ss": {"SS": ["a", "b"]}, ":ns": {"NS": ["1", "2"]},
        ":bs": {"BS": ["AQ=="]}
    });
    for a in ["n", "s", "b", "t", "z", "l", "m", "ss", "ns", "bs"] {
        for b in ["n", "s", "b", "t", "z", "l", "m", "ss", "ns", "bs"] {
            let v = json!({ ":x": same[format!(":{b}")].clone() });
            let eq = holds(&format!("{a} = :x"), v.clone(), &it);
            let ne = holds(&format!("{a} <> :x"), v, &it);
            assert_eq!(eq, a == b, "{a} = :{b}");
            assert_eq!(ne, a != b, "{a} <> :{b}");
        }
    }
}

#[test]
fn missing_attributes_compare_false_except_not_equal() {
    let it = json!({"a": {"N": "1"}});
    let v = json!({":v": {"N": "1"}});
    for op in ["=", "<", "<=", ">", ">="] {
        assert!(!holds(&format!("q {op} :v"), v.clone(), &it), "q {op} :v");
        assert!(!holds(&format!(":v {op} q"), v.clone(), &it), ":v {op} q");
        assert!(!holds(&format!("q {op} z"), json!({}), &it), "q {op} z");
    }
    assert!(holds("q <> :v", v.clone(), &it));
    assert!(holds("q <> z", json!({}), &it));
    // No item at all behaves like an item without attributes.
    assert!(!holds("a = :v", v.clone(), &Json::Null));
    assert!(holds("a <> :v", v, &Json::Null));
}

#[test]
fn ordering_comparisons_on_numbers_strings_and_binary() {
    let it = json!({"n": {"N": "10"}, "s": {"S": "cat"}, "b": {"B": "Y2F0"}, "l": {"L": []}});
    let v = json!({
        ":n9": {"N": "9.99"}, ":n10": {"N": "1E1"}, ":n11": {"N": "11"},
        ":dog": {"S": "dog"}, ":cat": {"S": "cat"}, ":aard": {"S": "aardvark"},
        ":bdog": {"B": "ZG9n"}, ":bcat": {"B": "Y2F0"}, ":s10": {"S": "10"}
    });
    let cases = [
        ("n < :n11", true),
        ("n < :n10", false),
        ("n <= :n10", true),
        ("n <= :n9", false),
        ("n > :n9", true),
        ("n > :n10", false),
        ("n >= :n10", true),
        ("n >= :n11", false),
        ("s < :dog", true),
        ("s < :cat", false),
        ("s <= :cat", true),
        ("s > :aard", true),
        ("s >= :dog", false),
        ("b < :bdog", true),
        ("b >= :bcat", true),
        ("b > :bcat", false),
        // Different types: false, not an error.
        ("n < :s10", false),
        ("n >= :s10", false),
        ("s > :n9", false),
        // An unorderable item attribute: false.
        ("l < :n9", false),
        (":n9 < n", true),
    ];
    for (text, want) in cases {
        assert_eq!(holds(text, v.clone(), &it), want, "{text}");
    }
}

#[test]
fn ordering_a_constant_of_unsupported_type_is_an_error() {
    for op in ["<", "<=", ">", ">="] {
        assert_eq!(
            cond_err(&format!("a {op} :l"), json!({":l": {"L": []}})),
            format!(
                "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: {op}, operand type: L"
            )
        );
    }
    assert!(
        cond_err(":v > a", json!({":v": {"BOOL": true}})).ends_with("operand type: BOOL"),
        "bool constant"
    );
    // = and <> accept every type.
    cond("a = :l", json!({":l": {"L": []}}));
    cond("a <> :m", json!({":m": {"M": {}}}));
}

#[test]
fn identical_operands_are_rejected() {
    assert_eq!(
        cond_err("a.b = a.b", json!({})),
        "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a, b]"
    );
    assert!(cond_err("contains(x[1], x[1])", json!({})).contains("operator: contains"));
    cond("a = b", json!({}));
}

#[test]
fn between_is_inclusive_and_typed() {
    let it = json!({"a": {"N": "5"}, "s": {"S": "m"}, "lo": {"N": "1"}, "hi": {"N": "9"}});
    let v = json!({":1": {"N": "1"}, ":5": {"N": "5"}, ":9": {"N": "9"}, ":a": {"S": "a"}, ":z": {"S": "z"}});
    assert!(holds("a BETWEEN :1 AND :9", v.clone(), &it));
    assert!(holds("a between :5 and :5", v.clone(), &it));
    assert!(holds("a BETWEEN lo AND hi", v.clone(), &it));
    assert!(!holds("a BETWEEN :1 AND :1", v.clone(), &it));
    assert!(holds("s BETWEEN :a AND :z", v.clone(), &it));
    assert!(
        !holds("a BETWEEN :a AND :z", v.clone(), &it),
        "type mismatch"
    );
    assert!(!holds("q BETWEEN :1 AND :9", v.clone(), &it), "missing");
    // Bounds from the item in the wrong order are simply false.
    assert!(!holds("a BETWEEN hi AND lo", v, &it));
}

#[test]
fn between_constant_bounds_are_validated() {
    assert_eq!(
        cond_err(
            "a BETWEEN :x AND :y",
            json!({":x": {"N": "2"}, ":y": {"N": "1"}})
        ),
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}"
    );
    assert_eq!(
        cond_err(
            "a BETWEEN :x AND :y",
            json!({":x": {"N": "2"}, ":y": {"S": "dog"}})
        ),
        "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {S:dog}"
    );
    assert!(
        cond_err(
            "a BETWEEN :x AND :y",
            json!({":x": {"L": []}, ":y": {"L": []}})
        )
        .contains("operator or function: BETWEEN, operand type: L")
    );
}

#[test]
fn in_matches_any_listed_value() {
    let it = json!({"a": {"N": "74"}, "b": {"N": "74"}, "l": {"L": [{"S": "x"}]}});
    let v = json!({":x": {"S": "dog"}, ":y": {"N": "74"}, ":l": {"L": [{"S": "x"}]}});
    assert!(holds("a IN (:x, :y)", v.clone(), &it));
    assert!(holds("a in (b)", v.clone(), &it));
    assert!(holds("l IN (:l)", v.clone(), &it));
    assert!(!holds("a IN (:x)", v.clone(), &it));
    assert!(!holds("q IN (:x, :y)", v.clone(), &it));
    assert!(cond_err("a IN ()", v).contains("Syntax error; token: \")\""));
}

#[test]
fn in_accepts_at_most_100_operands() {
    let mut vals = serde_json::Map::new();
    for i in 0..100 {
        vals.insert(format!(":v{i}"), json!({"N": i.to_string()}));
    }
    let list = |n: usize| {
        (0..n)
            .map(|i| format!(":v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let it = json!({"a": {"N": "98"}});
    assert!(holds(
        &format!("a IN ({})", list(99)),
        Json::Object(vals.clone()),
        &it
    ));
    assert_eq!(
        cond_err(&format!("a IN ({})", list(100)), Json::Object(vals)),
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    );
}

// ---- logic and precedence ----------------------------------------------------

#[test]
fn and_or_not_and_their_precedence() {
    let it = json!({"a": {"N": "1"}, "b": {"N": "2"}, "c": {"N": "3"}});
    let cases = [
        ("a < b AND b < c", true),
        ("a < b aNd c < b", false),
        ("b < a OR b < c", true),
        ("b < a oR c < b", false),
        ("NOT b < a", true),
        ("nOt a < b", false),
        ("NOT NOT NOT NOT a < b", true),
        // AND binds tighter than OR: a<b OR (c<b AND b<c).
        ("a < b OR c < b AND b < c", true),
        // ...so parentheses change the result.
        ("(a < b OR c < b) AND c < b", false),
        ("c < b AND b < c OR a < b", true),
        // NOT binds tighter than AND: (NOT a<b) AND c<b.
        ("NOT a < b AND c < b", false),
        ("NOT (a < b AND c < b)", true),
        ("NOT a < b OR a < b", true),
        // BETWEEN's AND is not the logical AND.
        ("b BETWEEN a AND c AND a < b", true),
        ("(a < b OR b < a) AND (b < c AND (a < b OR b < c))", true),
    ];
    for (text, want) in cases {
        assert_eq!(holds(text, json!({}), &it), want, "{text}");
    }
}

#[test]
fn redundant_parentheses_are_rejected_but_single_ones_allowed() {
    let it = json!({"a": {"N": "1"}});
    let v = json!({":v": {"N": "1"}});
    assert!(holds("(a = :v)", v.clone(), &it));
    assert!(holds("(a) = (:v)", v.clone(), &it));
    assert!(holds("((a = :v) AND (a = :v))", v.clone(), &it));
    for text in [
        "((a = :v))",
        "a = :v AND ((a = :v))",
        "((a)) = :v",
        "NOT ((a = :v))",
    ] {
        assert_eq!(
            cond_err(text, v.clone()),
            "Invalid ConditionExpression: The expression has redundant parentheses;",
            "{text}"
        );
    }
}

// ---- functions ---------------------------------------------------------------

#[test]
fn attribute_exists_and_not_exists_on_nested_paths() {
    let it = json!({"a": {"M": {"b": {"L": [{"N": "1"}, {"M": {"c": {"NULL": true}}}]}}}});
    assert!(holds("attribute_exists(a)", json!({}), &it));
    assert!(holds("attribute_exists (a.b[1].c)", json!({}), &it));
    assert!(!holds("attribute_exists(a.b[2])", json!({}), &it));
    assert!(
        !holds("attribute_exists(a.b.c)", json!({}), &it),
        "index a list by name"
    );
    assert!(
        !holds("attribute_exists(a[0])", json!({}), &it),
        "index a map by number"
    );
    assert!(holds("attribute_not_exists(a.x)", json!({}), &it));
    assert!(!holds("attribute_not_exists(a.b[0])", json!({}), &it));
    assert!(holds("attribute_not_exists(a)", json!({}), &Json::Null));
    assert_eq!(
        cond_err("attribute_exists(:v)", json!({":v": {"N": "1"}})),
        "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"
    );
}

#[test]
fn attribute_type_checks_every_type_name() {
    let it = json!({
        "S": {"S": "x"}, "SS": {"SS": ["x"]}, "N": {"N": "1"}, "NS": {"NS": ["1"]},
        "B": {"B": "AQ=="}, "BS": {"BS": ["AQ=="]}, "BOOL": {"BOOL": false},
        "NULL": {"NULL": true}, "L": {"L": []}, "M": {"M": {}}
    });
    let types = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
    let n: Names = types
        .iter()
        .map(|t| (format!("#{t}"), t.to_string()))
        .collect();
    for attr in types {
        for ty in types {
            let v = values(json!({":t": {"S": ty}}));
            let c = cond_nv(&format!("attribute_type(#{attr}, :t)"), &n, &v);
            let got = c.eval(Some(&item(it.clone()))).unwrap();
            assert_eq!(got, attr == ty, "attribute_type({attr}, {ty})");
        }
    }
    assert_eq!(
        cond_err("attribute_type(a, :t)", json!({":t": {"S": "DOG"}})),
        "Invalid ConditionExpression: Invalid attribute type name found; type: DOG, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
    );
    assert!(
        cond_err("attribute_type(a, :t)", json!({":t": {"N": "1"}}))
            .contains("operator or function: attribute_type, operand type: N")
    );
    assert!(cond_err("attribute_type(a, b)", json!({})).contains("attribute_type"));
}

#[test]
fn begins_with_on_strings_and_binary() {
    let it = json!({"a": {"S": "hello"}, "b": {"B": "aGkgdGhlcmU="}, "n": {"N": "12"}});
    let v = json!({":hell": {"S": "hell"}, ":dog": {"S": "dog"}, ":hi": {"B": "aGk="}, ":str": {"S": "hellohi"}});
    assert!(holds("begins_with(a, :hell)", v.clone(), &it));
    assert!(!holds("begins_with(a, :dog)", v.clone(), &it));
    assert!(holds("begins_with(b, :hi)", v.clone(), &it));
    assert!(
        !holds("begins_with(b, :hell)", v.clone(), &it),
        "binary vs string"
    );
    assert!(
        !holds("begins_with(n, :hell)", v.clone(), &it),
        "number attribute"
    );
    assert!(!holds("begins_with(q, :hell)", v.clone(), &it), "missing");
    assert!(holds("begins_with(:str, a)", v, &it), "reversed operands");
    assert_eq!(
        cond_err("begins_with(a, :n)", json!({":n": {"N": "2"}})),
        "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
    );
}

#[test]
fn contains_on_strings_binary_sets_and_lists() {
    let it = json!({
        "s": {"S": "hello"}, "ns": {"NS": ["2", "4", "7"]}, "ss": {"SS": ["a", "b"]},
        "bs": {"BS": ["AQ=="]}, "l": {"L": [{"N": "2"}, {"S": "hi"}, {"NS": ["1", "2"]}]},
        "b": {"B": "aGkgdGhlcmU="}
    });
    let v = json!({
        ":ell": {"S": "ell"}, ":4": {"N": "4.0"}, ":5": {"N": "5"}, ":a": {"S": "a"},
        ":c": {"S": "c"}, ":b1": {"B": "AQ=="}, ":hi": {"S": "hi"}, ":set": {"NS": ["2", "1"]},
        ":here": {"B": "aGVyZQ=="}, ":dog": {"B": "ZG9n"}
    });
    let cases = [
        ("contains(s, :ell)", true),
        ("contains(s, :a)", false),
        ("contains(ns, :4)", true),
        ("contains(ns, :5)", false),
        ("contains(ss, :a)", true),
        ("contains(ss, :c)", false),
        ("contains(ss, :4)", false),
        ("contains(bs, :b1)", true),
        ("contains(l, :hi)", true),
        ("contains(l, :set)", true),
        ("contains(l, :ell)", false),
        ("contains(b, :here)", true),
        ("contains(b, :dog)", false),
        ("contains(q, :a)", false),
    ];
    for (text, want) in cases {
        assert_eq!(holds(text, v.clone(), &it), want, "{text}");
    }
}

#[test]
fn size_of_each_type() {
    let it = json!({
        "s": {"S": "hello"}, "u": {"S": "é"}, "ns": {"NS": ["2", "4", "7"]},
        "l": {"L": [{"N": "2"}, {"S": "dog"}, {"N": "7"}]}, "b": {"B": "aGkgdGhlcmU="},
        "m": {"M": {"x": {"N": "2"}, "y": {"M": {}}}}, "n": {"N": "5"}, "t": {"BOOL": true},
        "z": {"NULL": true}
    });
    let v = |n: &str| json!({":n": {"N": n}});
    assert!(holds("size(s) = :n", v("5"), &it));
    assert!(
        holds("size(u) = :n", v("2"), &it),
        "size counts UTF-8 bytes"
    );
    assert!(holds("size(ns) = :n", v("3"), &it));
    assert!(holds("size(l) = :n", v("3"), &it));
    assert!(holds("size(b) = :n", v("8"), &it));
    assert!(holds("size(m) = :n", v("2"), &it));
    for attr in ["n", "t", "z", "absent"] {
        assert!(!holds(&format!("size({attr}) = :n"), v("1"), &it), "{attr}");
    }
    assert!(holds("size(s) < :n", v("7"), &it));
    assert!(holds("size(s) >= :n", v("5"), &it));
    assert!(holds("size(s) <> :n", v("4"), &it));
    assert!(
        holds("size(s) = n", json!({}), &it),
        "compared to an attribute"
    );
    assert!(!holds("size(s) = :n", json!({":n": {"S": "5"}}), &it));
    assert!(!holds("size(:n) = :n", json!({":n": {"S": "5"}}), &it));
}

#[test]
fn misused_and_unknown_functions() {
    let v = json!({":v": {"N": "1"}});
    let e = |t: &str| cond_err(t, v.clone());
    assert_eq!(
        e("size(a)"),
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"
    );
    assert_eq!(
        e("attribute_exists(a) < :v"),
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: attribute_exists"
    );
    assert_eq!(
        e("if_not_exists(a, b) = :v"),
        "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists"
    );
    assert_eq!(
        e("dog(a) = :v"),
        "Invalid ConditionExpression: Invalid function name; function: dog"
    );
    assert_eq!(
        e("BEGINS_WITH(a, :v)"),
        "Invalid ConditionExpression: Invalid function name; function: BEGINS_WITH",
        "function names are case-sensitive"
    );
    assert_eq!(
        e("size(a, b) = :v"),
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"
    );
    assert_eq!(
        e("attribute_exists(a, b)"),
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
    );
    assert!(e("size(:v) = :v").ends_with("operator or function: size, operand type: N"));
    // The unknown function is reported before a later, lower-priority error.
    assert_eq!(
        e("a = :undefined AND dog(b)"),
        "Invalid ConditionExpression: Invalid function name; function: dog"
    );
}

// ---- paths, placeholders and reserved words ------------------------------------

#[test]
fn nested_paths_and_name_placeholders() {
    let it = json!({
        "a": {"M": {"b": {"L": [{"N": "1"}, {"M": {"x": {"S": "deep"}}}]}}},
        "a.b": {"S": "dotted"}, "and": {"M": {"or": {"N": "2"}}}
    });
    let n = names(&[("#ab", "a.b"), ("#x", "x"), ("#and", "and"), ("#or", "or")]);
    let v = values(json!({":deep": {"S": "deep"}, ":dotted": {"S": "dotted"}, ":2": {"N": "2"}}));
    let check = |t: &str| cond_nv(t, &n, &v).eval(Some(&item(it.clone()))).unwrap();
    assert!(check("a.b[1].#x = :deep"));
    assert!(check("a . b [ 1 ] . #x = :deep"), "whitespace inside paths");
    assert!(
        check("#ab = :dotted"),
        "a dot inside a placeholder is literal"
    );
    assert!(check("#and.#or = :2"));
    assert!(!check("a.b[1].#x = :dotted"));
}

#[test]
fn undefined_placeholders_are_reported() {
    assert_eq!(
        cond_err("#x = :v", json!({":v": {"N": "1"}})),
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
    );
    assert_eq!(
        cond_err("a = :v", json!({})),
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :v"
    );
    assert_eq!(
        upd_err("SET #x = :v", json!({":v": {"N": "1"}})),
        "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
    );
    assert_eq!(
        parse_condition("FilterExpression", "a = :v", &Names::new(), &Values::new())
            .unwrap_err()
            .to_string(),
        "Invalid FilterExpression: An expression attribute value used in expression is not defined; attribute value: :v"
    );
}

#[test]
fn unused_names_and_values_are_reported() {
    let n = names(&[("#a", "a"), ("#b", "b"), ("#c", "c")]);
    let v = values(json!({":x": {"N": "1"}, ":y": {"N": "2"}, ":z": {"N": "3"}}));
    let (_, u1) = parse_condition("ConditionExpression", "#a = :x", &n, &v).unwrap();
    let (_, u2) = parse_update("SET #b = :y", &n, &v).unwrap();
    assert_eq!(u1.names.iter().collect::<Vec<_>>(), ["#a"]);
    assert_eq!(u1.values.iter().collect::<Vec<_>>(), [":x"]);
    assert_eq!(
        check_unused(&n, &v, &[&u1, &u2]).unwrap_err().to_string(),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#c}"
    );
    let n2 = names(&[("#a", "a"), ("#b", "b")]);
    assert_eq!(
        check_unused(&n2, &v, &[&u1, &u2]).unwrap_err().to_string(),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:z}"
    );
    let v3 = values(json!({":x": {"N": "1"}, ":b": {"N": "1"}, ":a": {"N": "1"}}));
    assert_eq!(
        check_unused(&Names::new(), &v3, &[&u1])
            .unwrap_err()
            .to_string(),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:a, :b}"
    );
    let v4 = values(json!({":x": {"N": "1"}, ":y": {"N": "2"}}));
    check_unused(&n2, &v4, &[&u1, &u2]).unwrap();
    check_unused(&Names::new(), &Values::new(), &[&Usage::default()]).unwrap();
}

#[test]
fn reserved_words_need_placeholders() {
    assert_eq!(
        cond_err("name = :v", json!({":v": {"S": "x"}})),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: name"
    );
    assert!(
        cond_err("a.Status = :v", json!({":v": {"S": "x"}})).ends_with("reserved keyword: Status")
    );
    assert_eq!(
        upd_err("SET count = :v", json!({":v": {"N": "1"}})),
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: count"
    );
    assert!(proj_err("a, data").ends_with("reserved keyword: data"));
    cond_nv(
        "#n = :v",
        &names(&[("#n", "name")]),
        &values(json!({":v": {"S": "x"}})),
    );
    assert!(is_reserved_word("ZONE") && is_reserved_word("size") && is_reserved_word("Abort"));
    assert!(
        !is_reserved_word("id") && !is_reserved_word("pk") && !is_reserved_word("attribute_exists")
    );
}

#[test]
fn syntax_errors_name_the_token_and_its_neighbours() {
    let v = json!({":v": {"N": "1"}});
    let cases = [
        ("a = =", "\"=\", near: \"= =\""),
        ("a = = :v", "\"=\", near: \"= = :v\""),
        ("foo", "\"<EOF>\", near: \"foo\""),
        ("a = :v AND", "\"<EOF>\", near: \"AND\""),
        ("a == :v", "\"=\", near: \"== :v\""),
        ("a != :v", "\"!\", near: \"a !=\""),
        ("_hidden = :v", "\"_\", near: \"_hidden\""),
        ("a = :v b", "\"b\", near: \":v b\""),
        ("a = :", "\":\", near: \"= :\""),
        ("a = (:v", "\"<EOF>\", near: \":v\""),
        ("a[x] = :v", "\"x\", near: \"[x]\""),
        ("a.:v = :v", "\":v\", near: \".:v =\""),
        ("1a = :v", "\"1\", near: \"1a\""),
        ("a = :v OR OR b = :v", "\"OR\", near: \"OR OR b\""),
        ("a BETWEEN :v :v", "\":v\", near: \":v :v\""),
        ("f() = :v", "\")\", near: \"() =\""),
    ];
    for (text, want) in cases {
        assert_eq!(
            cond_err(text, v.clone()),
            format!("Invalid ConditionExpression: Syntax error; token: {want}"),
            "{text}"
        );
    }
    // Syntax errors win over semantic ones anywhere in the expression.
    assert!(cond_err("name = :undefined AND (", v).contains("Syntax error"));
}

#[test]
fn empty_and_oversized_expressions() {
    for text in ["", "   \n\t"] {
        assert_eq!(
            cond_err(text, json!({})),
            "Invalid ConditionExpression: The expression can not be empty;"
        );
        assert_eq!(
            upd_err(text, json!({})),
            "Invalid UpdateExpression: The expression can not be empty;"
        );
        assert_eq!(
            proj_err(text),
            "Invalid ProjectionExpression: The expression can not be empty;"
        );
        assert_eq!(
            key_err(text, json!({})),
            "Invalid KeyConditionExpression: The expression can not be empty;"
        );
    }
    let v = json!({":v": {"N": "1"}});
    let exact = format!("{:<width$}", "a = :v", width = MAX_EXPRESSION_BYTES);
    assert_eq!(exact.len(), 4096);
    cond(&exact, v.clone());
    let long = format!("{exact} ");
    assert_eq!(
        cond_err(&long, v.clone()),
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4097"
    );
    let long_update = format!("SET a = :v{}", " ".repeat(4090));
    assert_eq!(
        upd_err(&long_update, v),
        "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size; expression size: 4100"
    );
}

#[test]
fn nesting_limits_guard_the_parser() {
    let v = json!({":v": {"N": "1"}});
    let nested = |depth: usize| {
        let mut s = "a = :v".to_string();
        for _ in 0..depth {
            s = format!("(a = :v AND {s})");
        }
        s
    };
    let it = json!({"a": {"N": "1"}});
    // Parentheses nest as deep as the operators allow: 149 levels hold 299
    // operators (149 ANDs, 150 comparisons), 150 levels 301.
    assert!(holds(&nested(149), v.clone(), &it));
    assert_eq!(
        cond_err(&nested(150), v.clone()),
        "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
    );
    // Deeper than any accepted expression: refused as DynamoDB refuses it,
    // before the parser's recursion could exhaust the stack.
    let wrapped = |depth: usize| format!("{}a = :v{}", "(".repeat(depth), ")".repeat(depth));
    for depth in [302, 2045] {
        assert_eq!(
            cond_err(&wrapped(depth), v.clone()),
            "Invalid ConditionExpression: The expression has redundant parentheses;"
        );
    }
    assert_eq!(
        cond_err(&"(".repeat(4000), v.clone()),
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"(\""
    );
    assert_eq!(
        cond_err(&"(".repeat(3), v.clone()),
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"(\""
    );
    assert!(
        cond_err(&format!("{}a = :v", "NOT ".repeat(1000)), v.clone())
            .contains("The expression contains too many operators; operator count: 301")
    );
    assert!(
        cond_err(
            &format!("a < {}b{}", "size(".repeat(680), ")".repeat(680)),
            v.clone()
        )
        .contains("The expression contains too many operators; operator count: 301")
    );
    assert_eq!(
        upd_err(&format!("SET a = {}:v", "(".repeat(2000)), v.clone()),
        "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \":v\""
    );
    // Functions nest as deep as the operator limit and the 4 KB allow.
    let nested_funcs = format!(
        "SET a = {}:v{}",
        "if_not_exists(b, ".repeat(200),
        ")".repeat(200)
    );
    assert_eq!(
        apply(&nested_funcs, v, json!({}))["a"],
        av(json!({"N": "1"}))
    );
    // Document paths: 32 levels allowed, 33 not.
    let path = |levels: usize| format!("a{}", ".b".repeat(levels - 1));
    proj(&path(32), &Names::new());
    assert_eq!(
        proj_err(&path(33)),
        "Invalid ProjectionExpression: The document path has too many nesting levels; nesting levels: 33"
    );
    assert!(
        cond_err(&format!("attribute_exists({})", path(33)), json!({}))
            .contains("nesting levels: 33")
    );
}

// ---- updates -----------------------------------------------------------------

#[test]
fn set_values_and_copies() {
    let before = json!({"p": {"S": "k"}, "a": {"S": "hello"}, "n": {"N": "2"}});
    let n = names(&[("#d", "d")]);
    let v = values(json!({":v": {"N": "4"}, ":m": {"M": {"x": {"L": []}}}}));
    let got = upd_nv("SET b = :v, c = a, #d = :m", &n, &v)
        .apply(&item(before.clone()))
        .unwrap();
    // Keywords are case-insensitive; the item is merged, not replaced.
    let got2 = upd_nv("set b = :v,c=a , #d = :m", &n, &v)
        .apply(&item(before.clone()))
        .unwrap();
    assert_eq!(got, got2);
    assert_eq!(
        got,
        item(
            json!({"p": {"S": "k"}, "a": {"S": "hello"}, "n": {"N": "2"}, "b": {"N": "4"},
                    "c": {"S": "hello"}, "d": {"M": {"x": {"L": []}}}})
        )
    );
    assert_eq!(apply_err("SET c = z", json!({}), before.clone()), MISSING);
    // Operands are read before any action runs.
    assert_eq!(
        apply_err(
            "SET x = :v, y = x",
            json!({":v": {"N": "1"}}),
            before.clone()
        ),
        MISSING
    );
    let got = apply("REMOVE a SET b = a", json!({}), before);
    assert_eq!(got.get("b"), Some(&av(json!({"S": "hello"}))));
    assert!(!got.contains_key("a"));
}

#[test]
fn arithmetic_in_set() {
    let before = json!({"a": {"N": "2"}, "s": {"S": "x"}});
    let v = json!({":3": {"N": "3"}, ":7": {"N": "7"}});
    let n = |text: &str| apply(text, v.clone(), before.clone())["r"].clone();
    assert_eq!(n("SET r = a + :3"), av(json!({"N": "5"})));
    assert_eq!(n("SET r = :3 + a"), av(json!({"N": "5"})));
    assert_eq!(n("SET r = :7 - a"), av(json!({"N": "5"})));
    assert_eq!(n("SET r = a - :7"), av(json!({"N": "-5"})));
    assert_eq!(n("SET r = a+a"), av(json!({"N": "4"})));
    assert_eq!(n("SET r = (a - :3)"), av(json!({"N": "-1"})));
    assert_eq!(
        n("SET r = if_not_exists(r, :3) + :7"),
        av(json!({"N": "10"}))
    );
    let got = apply("SET a = a + :3", v.clone(), before.clone());
    assert_eq!(got["a"], av(json!({"N": "5"})));
    assert_eq!(
        apply_err("SET r = b + :3", v.clone(), before.clone()),
        MISSING
    );
    assert_eq!(
        apply_err("SET r = s + :3", v.clone(), before.clone()),
        WRONG_TYPE
    );
    assert_eq!(
        upd_err(
            "SET r = :s + :3",
            json!({":s": {"S": "dog"}, ":3": {"N": "3"}})
        ),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: +, operand type: S"
    );
    assert!(
        upd_err(
            "SET r = :3 - :l",
            json!({":l": {"L": []}, ":3": {"N": "3"}})
        )
        .ends_with("operator or function: -, operand type: L")
    );
    assert!(upd_err("SET r = :3 + :3 + :3", v.clone()).contains("Syntax error; token: \"+\""));
    assert!(upd_err("SET r = if_not_exists(r, :3 + :7)", v).contains("Syntax error; token: \"+\""));
}

#[test]
fn number_arithmetic_is_exact_and_range_checked() {
    let add = |a: &str, b: &str| add_numbers(&num(a), &num(b)).map(|n| n.to_string());
    let sub = |a: &str, b: &str| sub_numbers(&num(a), &num(b)).map(|n| n.to_string());
    assert_eq!(
        add("1", "10000000000000000000000").unwrap(),
        "10000000000000000000001"
    );
    assert_eq!(
        sub("10000000000000000000000", "1").unwrap(),
        "9999999999999999999999"
    );
    assert_eq!(add("0.1", "0.2").unwrap(), "0.3");
    assert_eq!(add("-1.5", "1.5").unwrap(), "0");
    assert_eq!(sub("1.25", "3").unwrap(), "-1.75");
    assert_eq!(add("0", "-7E-3").unwrap(), "-0.007");
    assert_eq!(
        add("99999999999999999999999999999999999999", "1").unwrap(),
        format!("1{}", "0".repeat(38))
    );
    assert_eq!(
        add("9.9999999999999999999999999999999999998E+125", "1E+88").unwrap(),
        format!("{}{}", "9".repeat(38), "0".repeat(88))
    );
    assert_eq!(
        add("1E-130", "1E-130").unwrap(),
        format!("0.{}2", "0".repeat(129))
    );
    // Out of range.
    let err = |r: Result<String, ExprError>| r.unwrap_err().to_string();
    assert_eq!(err(add("9E+125", "9E+125")), OVERFLOW);
    assert_eq!(err(sub("9E+125", "-9E+125")), OVERFLOW);
    assert_eq!(
        err(add(
            "9.9999999999999999999999999999999999999E+125",
            "1E+125"
        )),
        OVERFLOW
    );
    assert_eq!(err(sub("1.1E-130", "1E-130")), UNDERFLOW);
    // More than 38 significant digits: DynamoDB reports an overflow too.
    assert_eq!(err(add("1E+50", "1")), OVERFLOW);
    assert_eq!(err(sub("1E+50", "1")), OVERFLOW);
    assert_eq!(err(add("1", "1E-38")), OVERFLOW);
    // Through an update.
    let before = json!({"a": {"N": "9E+125"}});
    assert_eq!(
        apply_err("SET a = a + a", json!({}), before.clone()),
        OVERFLOW
    );
    assert_eq!(
        apply_err("ADD a :v", json!({":v": {"N": "1E+125"}}), before),
        OVERFLOW
    );
}

#[test]
fn if_not_exists_and_list_append() {
    let before = json!({"a": {"N": "2"}, "l": {"L": [{"S": "hi"}, {"N": "2"}]}, "s": {"S": "x"}});
    let v = json!({":1": {"N": "1"}, ":l": {"L": [{"N": "4"}]}, ":e": {"L": []}});
    let get = |text: &str, attr: &str| apply(text, v.clone(), before.clone())[attr].clone();
    assert_eq!(
        get("SET a = if_not_exists(a, :1)", "a"),
        av(json!({"N": "2"}))
    );
    assert_eq!(
        get("SET b = if_not_exists(b, :1)", "b"),
        av(json!({"N": "1"}))
    );
    assert_eq!(
        get("SET b = if_not_exists(a, :1)", "b"),
        av(json!({"N": "2"}))
    );
    assert_eq!(
        get("SET l = list_append(l, :l)", "l"),
        av(json!({"L": [{"S": "hi"}, {"N": "2"}, {"N": "4"}]}))
    );
    assert_eq!(
        get("SET l = list_append(:l, l)", "l"),
        av(json!({"L": [{"N": "4"}, {"S": "hi"}, {"N": "2"}]}))
    );
    assert_eq!(
        get("SET n = list_append(if_not_exists(n, :e), :l)", "n"),
        av(json!({"L": [{"N": "4"}]}))
    );
    assert_eq!(
        apply_err("SET n = list_append(n, :l)", v.clone(), before.clone()),
        MISSING
    );
    assert_eq!(
        apply_err("SET n = list_append(s, :l)", v.clone(), before.clone()),
        WRONG_TYPE
    );
    assert_eq!(
        upd_err("SET n = list_append(:l, :1)", v.clone()),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: list_append, operand type: N"
    );
    assert_eq!(
        upd_err("SET n = list_append(:l)", v.clone()),
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"
    );
    assert_eq!(
        upd_err("SET n = list_append(list_append(:l, :l), :l)", v.clone()),
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append"
    );
    assert_eq!(
        upd_err("SET n = if_not_exists(:1, :1)", v.clone()),
        "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"
    );
    assert_eq!(
        upd_err("SET n = LIST_APPEND(:l, :l)", v.clone()),
        "Invalid UpdateExpression: Invalid function name; function: LIST_APPEND"
    );
    assert_eq!(
        upd_err("SET n = size(l)", v),
        "Invalid UpdateExpression: The function is not allowed in an update expression; function: size"
    );
}

#[test]
fn remove_attributes_and_list_elements() {
    let before = json!({
        "a": {"S": "x"}, "m": {"M": {"b": {"N": "1"}, "c": {"L": [{"S": "hi"}, {"M": {"q": {"N": "2"}, "x": {"N": "3"}}}]}}},
        "l": {"L": [{"N": "2"}, {"N": "3"}, {"N": "4"}, {"N": "5"}, {"N": "6"}, {"N": "7"}]}
    });
    let got = apply("REMOVE a, m.b, m.c[1].q", json!({}), before.clone());
    assert_eq!(
        got,
        item(json!({
            "m": {"M": {"c": {"L": [{"S": "hi"}, {"M": {"x": {"N": "3"}}}]}}},
            "l": before["l"].clone()
        }))
    );
    // Indexes refer to the list before the update, whatever the order.
    let l = |text: &str| apply(text, json!({":v": {"N": "17"}}), before.clone())["l"].clone();
    let nums = |ns: &[&str]| AttrValue::L(ns.iter().map(|n| AttrValue::N(num(n))).collect());
    assert_eq!(l("REMOVE l[1], l[3]"), nums(&["2", "4", "6", "7"]));
    assert_eq!(l("REMOVE l[3], l[1]"), nums(&["2", "4", "6", "7"]));
    assert_eq!(
        l("REMOVE l[1] SET l[3] = :v"),
        nums(&["2", "4", "17", "6", "7"])
    );
    assert_eq!(
        l("SET l[3] = :v REMOVE l[1]"),
        nums(&["2", "4", "17", "6", "7"])
    );
    assert_eq!(l("REMOVE l[17]"), before_list(&before));
    assert_eq!(
        l("REMOVE l[0], l[1], l[2], l[3], l[4], l[5]"),
        AttrValue::L(vec![])
    );
    // Removing what is not there is fine; removing below a non-container is not.
    assert_eq!(
        apply("REMOVE zz, m.zz", json!({}), before.clone()),
        item(before.clone())
    );
    for text in [
        "REMOVE a.c",
        "REMOVE a[0]",
        "REMOVE zz.c",
        "REMOVE zz[0]",
        "REMOVE l.x",
    ] {
        assert_eq!(
            apply_err(text, json!({}), before.clone()),
            BAD_PATH,
            "{text}"
        );
    }
    // Without an item, DynamoDB ignores REMOVE of nested paths.
    let u = upd("REMOVE x.y, z[0]", json!({}));
    assert_eq!(u.apply_opt(None).unwrap(), Item::new());
}

fn before_list(before: &Json) -> AttrValue {
    av(before["l"].clone())
}

#[test]
fn nested_set_requires_existing_parents() {
    let before = json!({"a": {"M": {"b": {"N": "3"}, "c": {"L": [{"S": "hi"}, {"M": {"x": {"M": {"y": {"L": [{"N": "3"}, {"N": "5"}]}}}}}]}}}, "s": {"S": "x"}});
    let n = names(&[("#name", "x")]);
    let v = values(json!({":v": {"N": "9"}}));
    let got = upd_nv("SET a.c[1].#name.y[1] = :v, a.d = :v", &n, &v)
        .apply(&item(before.clone()))
        .unwrap();
    assert_eq!(
        got["a"],
        av(
            json!({"M": {"b": {"N": "3"}, "d": {"N": "9"}, "c": {"L": [{"S": "hi"}, {"M": {"x": {"M": {"y": {"L": [{"N": "3"}, {"N": "9"}]}}}}}]}}})
        )
    );
    for text in [
        "SET s.c = :v",
        "SET zz.c = :v",
        "SET a.zz.c = :v",
        "SET s[0] = :v",
        "SET a[0] = :v",
        "SET a.c.x = :v",
    ] {
        assert_eq!(
            upd(text, json!({":v": {"N": "9"}}))
                .apply(&item(before.clone()))
                .unwrap_err()
                .to_string(),
            BAD_PATH,
            "{text}"
        );
    }
    assert_eq!(
        upd("SET c.c = :v", json!({":v": {"N": "9"}}))
            .apply_opt(None)
            .unwrap_err()
            .to_string(),
        BAD_PATH
    );
}

#[test]
fn set_past_the_end_of_a_list_appends_in_index_order() {
    let before = json!({"a": {"L": [{"S": "one"}, {"S": "two"}, {"S": "three"}]}});
    let got = apply(
        "SET a[7] = :v",
        json!({":v": {"S": "hello"}}),
        before.clone(),
    );
    assert_eq!(
        got["a"],
        av(json!({"L": [{"S": "one"}, {"S": "two"}, {"S": "three"}, {"S": "hello"}]}))
    );
    let got = apply(
        "SET a[84] = :a1, a[37] = :a2, a[17] = :a3, a[1] = :a4",
        json!({":a1": {"S": "a1"}, ":a2": {"S": "a2"}, ":a3": {"S": "a3"}, ":a4": {"S": "a4"}}),
        before,
    );
    assert_eq!(
        got["a"],
        av(
            json!({"L": [{"S": "one"}, {"S": "a4"}, {"S": "three"}, {"S": "a3"}, {"S": "a2"}, {"S": "a1"}]})
        )
    );
}

#[test]
fn add_numbers_and_sets() {
    let before = json!({"n": {"N": "3"}, "ss": {"SS": ["dog", "cat"]}, "ns": {"NS": ["1"]}, "s": {"S": "hi"}, "l": {"L": []}});
    let v = json!({":4": {"N": "4"}, ":ss": {"SS": ["pig", "cat"]}, ":ns": {"NS": ["2"]}, ":bs": {"BS": ["AQ=="]}});
    let got = apply(
        "ADD n :4, ss :ss, fresh :4, newset :bs",
        v.clone(),
        before.clone(),
    );
    assert_eq!(got["n"], av(json!({"N": "7"})));
    assert_eq!(got["ss"], av(json!({"SS": ["cat", "dog", "pig"]})));
    assert_eq!(got["fresh"], av(json!({"N": "4"})));
    assert_eq!(got["newset"], av(json!({"BS": ["AQ=="]})));
    // ADD creates the item's attribute from nothing too.
    let got = upd("ADD c :4", v.clone()).apply_opt(None).unwrap();
    assert_eq!(got, item(json!({"c": {"N": "4"}})));
    for text in ["ADD s :4", "ADD ns :ss", "ADD l :ns", "ADD n :ns"] {
        assert_eq!(
            apply_err(text, v.clone(), before.clone()),
            WRONG_TYPE,
            "{text}"
        );
    }
    for (ty, val) in [
        ("STRING", json!({"S": "x"})),
        ("LIST", json!({"L": []})),
        ("MAP", json!({"M": {}})),
        ("BOOLEAN", json!({"BOOL": true})),
        ("BINARY", json!({"B": "AQ=="})),
        ("NULL", json!({"NULL": true})),
    ] {
        assert_eq!(
            upd_err("ADD a :v", json!({ ":v": val })),
            format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {ty}"
            )
        );
    }
    assert!(upd_err("ADD a b", json!({})).contains("Syntax error; token: \"b\""));
}

#[test]
fn delete_from_sets() {
    let before =
        json!({"ss": {"SS": ["dog", "cat", "mouse"]}, "ns": {"NS": ["1", "2"]}, "s": {"S": "x"}});
    let v = json!({":cm": {"SS": ["cat", "mouse"]}, ":pig": {"SS": ["pig"]}, ":all": {"SS": ["dog", "cat", "mouse", "x"]}, ":n": {"NS": ["2.0"]}});
    let got = apply("DELETE ss :cm, ns :n", v.clone(), before.clone());
    assert_eq!(got["ss"], av(json!({"SS": ["dog"]})));
    assert_eq!(got["ns"], av(json!({"NS": ["1"]})));
    assert_eq!(
        apply("DELETE ss :pig", v.clone(), before.clone()),
        item(before.clone())
    );
    let got = apply("DELETE ss :all", v.clone(), before.clone());
    assert!(!got.contains_key("ss"), "an emptied set is removed");
    assert_eq!(
        apply("DELETE zz :pig", v.clone(), before.clone()),
        item(before.clone())
    );
    assert_eq!(
        apply_err("DELETE ss :n", v.clone(), before.clone()),
        WRONG_TYPE
    );
    assert_eq!(apply_err("DELETE s :pig", v, before), WRONG_TYPE);
    assert_eq!(
        upd_err("DELETE a :v", json!({":v": {"N": "1"}})),
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"
    );
}

#[test]
fn overlapping_and_conflicting_paths() {
    let v = json!({":1": {"N": "1"}, ":2": {"N": "2"}, ":s": {"SS": ["x"]}});
    let overlap = |a: &str, b: &str| {
        format!(
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
        )
    };
    assert_eq!(
        upd_err("SET a = :1, a.b = :2", v.clone()),
        overlap("[a]", "[a, b]")
    );
    assert_eq!(
        upd_err("SET a.b = :1 REMOVE a", v.clone()),
        overlap("[a, b]", "[a]")
    );
    assert_eq!(
        upd_err("SET a = :1 REMOVE a", v.clone()),
        overlap("[a]", "[a]")
    );
    assert_eq!(
        upd_err("SET a[1][1] = :1, a[1] = :2", v.clone()),
        overlap("[a, [1], [1]]", "[a, [1]]")
    );
    assert_eq!(
        upd_err("ADD a :1 DELETE a :s", v.clone()),
        overlap("[a]", "[a]")
    );
    let n = names(&[("#a1", "a"), ("#a2", "a")]);
    assert_eq!(
        parse_update("SET #a1 = :1, #a2 = :2", &n, &values(v.clone()))
            .unwrap_err()
            .to_string(),
        overlap("[a]", "[a]")
    );
    assert_eq!(
        upd_err("SET a.b.c = :1, a.b[2] = :2", v.clone()),
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b, c], path two: [a, b, [2]]"
    );
    for ok in [
        "SET a.b = :1, a.c = :2",
        "SET a[1] = :1, a[2] = :2",
        "SET a.b = :1 REMOVE ab",
        "SET a = :1, b = a",
    ] {
        upd(ok, v.clone());
    }
}

#[test]
fn clauses_each_once_in_any_order() {
    let v = json!({":1": {"N": "1"}, ":s": {"SS": ["x"]}});
    let before = json!({"r": {"S": "x"}, "d": {"SS": ["x", "y"]}});
    let got = apply(
        "DELETE d :s ADD n :1 REMOVE r SET s = :1",
        v.clone(),
        before.clone(),
    );
    assert_eq!(
        got,
        item(json!({"d": {"SS": ["y"]}, "n": {"N": "1"}, "s": {"N": "1"}}))
    );
    assert_eq!(
        got,
        apply(
            "set s = :1 remove r add n :1 delete d :s",
            v.clone(),
            before
        )
    );
    for kw in ["SET", "REMOVE", "ADD", "DELETE"] {
        let text = match kw {
            "SET" => "SET a = :1 REMOVE b SET c = :1",
            "REMOVE" => "REMOVE a SET b = :1 REMOVE c",
            "ADD" => "ADD a :1 ADD b :1",
            _ => "DELETE a :s REMOVE q DELETE b :s",
        };
        assert_eq!(
            upd_err(text, v.clone()),
            format!(
                "Invalid UpdateExpression: The \"{kw}\" section can only be used once in an update expression;"
            )
        );
    }
    assert!(upd_err("HELLO b = :1", v.clone()).contains("Syntax error; token: \"HELLO\""));
    assert!(upd_err("SET a = :1,", v.clone()).contains("token: \"<EOF>\", near: \",\""));
    assert!(upd_err("SET :a = :1", v.clone()).contains("token: \":a\""));
    assert!(upd_err("SET a[:1] = :1", v.clone()).contains("token: \":1\""));
    assert!(upd_err("SET a[#x] = :1", v.clone()).contains("token: \"#x\""));
    assert!(upd_err("SET _a = :1", v.clone()).contains("token: \"_\", near: \"SET _a\""));
    assert!(upd_err("SET a = :1 b = :1", v).contains("token: \"b\""));
}

#[test]
fn updated_paths_feed_projections() {
    let u = upd(
        "SET a.b = :1, c = :1 REMOVE d ADD e :1",
        json!({":1": {"N": "1"}}),
    );
    let paths = u.updated_paths();
    assert_eq!(
        paths.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["a.b", "c", "d", "e"]
    );
    assert_eq!(
        u.updated_attributes().into_iter().collect::<Vec<_>>(),
        ["a", "c", "d", "e"]
    );
    let old = item(
        json!({"a": {"M": {"b": {"N": "0"}, "x": {"N": "5"}}}, "d": {"S": "gone"}, "z": {"S": "z"}}),
    );
    let new = u.apply(&old).unwrap();
    assert_eq!(
        project(&old, &paths),
        item(json!({"a": {"M": {"b": {"N": "0"}}}, "d": {"S": "gone"}}))
    );
    assert_eq!(
        project(&new, &paths),
        item(json!({"a": {"M": {"b": {"N": "1"}}}, "c": {"N": "1"}, "e": {"N": "1"}}))
    );
}

#[test]
fn updates_may_not_nest_values_too_deeply() {
    let mut deep = json!({"S": "leaf"});
    for _ in 0..31 {
        deep = json!({"L": [deep]});
    }
    let before = json!({"a": {"M": {}}});
    // 31 lists inside a's map: 32 levels, the limit.
    let got = apply("SET a.b = :d", json!({":d": deep.clone()}), before.clone());
    assert!(got.contains_key("a"));
    let deeper = json!({"L": [deep]});
    assert_eq!(
        apply_err("SET a.b = :d", json!({":d": deeper}), before),
        "Nesting Levels have exceeded supported limits"
    );
}

// ---- projections -------------------------------------------------------------

#[test]
fn projection_keeps_the_nesting_of_selected_paths() {
    let it = item(json!({
        "p": {"S": "k"}, "b": {"S": "hello"},
        "a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"}, {"M": {"x": {"S": "hi"}, "y": {"S": "yo"}}}]}, "c": {"N": "5"}}}
    }));
    let n = names(&[("#n", "a"), ("#y", "y")]);
    let p = |text: &str| project(&it, &proj(text, &n));
    assert_eq!(
        p("a.b"),
        item(json!({"a": {"M": {"b": it["a"].clone().to_json()["M"]["b"].clone()}}}))
    );
    assert_eq!(
        p("a.b[0]"),
        item(json!({"a": {"M": {"b": {"L": [{"N": "2"}]}}}}))
    );
    assert_eq!(
        p("#n.b[2].#y"),
        item(json!({"a": {"M": {"b": {"L": [{"M": {"y": {"S": "yo"}}}]}}}}))
    );
    assert_eq!(
        p("a.b[1], a.b[0]"),
        item(json!({"a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"}]}}}}))
    );
    assert_eq!(
        p("a.b[0],a.c"),
        item(json!({"a": {"M": {"b": {"L": [{"N": "2"}]}, "c": {"N": "5"}}}}))
    );
    assert_eq!(
        p(" a.c ,  b "),
        item(json!({"a": {"M": {"c": {"N": "5"}}}, "b": {"S": "hello"}}))
    );
    assert_eq!(
        p("p, b"),
        item(json!({"p": {"S": "k"}, "b": {"S": "hello"}}))
    );
    for missing in [
        "x",
        "a.b[3]",
        "a.x",
        "a.x.y",
        "a.b[3].x",
        "a.b.x",
        "a[0]",
        "a.b[0].x",
        "a.b[0][0]",
    ] {
        assert_eq!(p(missing), Item::new(), "{missing}");
    }
    assert_eq!(
        p("a.x, a.b[0], x, a.b[3].x"),
        item(json!({"a": {"M": {"b": {"L": [{"N": "2"}]}}}}))
    );
}

#[test]
fn projection_errors() {
    let overlap = |a: &str, b: &str| {
        format!(
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
        )
    };
    assert_eq!(proj_err("a, a"), overlap("[a]", "[a]"));
    assert_eq!(proj_err("a.b, a.b[2]"), overlap("[a, b]", "[a, b, [2]]"));
    assert_eq!(proj_err("a.b.d, a.b"), overlap("[a, b, d]", "[a, b]"));
    assert_eq!(
        proj_err("a.b, a[1]"),
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"
    );
    for ok in ["a, b", "a.b, a.c", "a[1], a[2]", "a.b, a.c[2]"] {
        proj(ok, &Names::new());
    }
    assert!(proj_err("a,").contains("Syntax error; token: \"<EOF>\""));
    assert!(proj_err(",a").contains("Syntax error; token: \",\""));
    assert!(proj_err("a,,b").contains("Syntax error; token: \",\""));
    assert!(proj_err("(a)").contains("Syntax error; token: \"(\""));
    assert!(proj_err("#x").contains("attribute name: #x"));
    let n = names(&[("#a", "a")]);
    let (paths, usage) = parse_projection("#a.b", &n).unwrap();
    assert_eq!(
        paths,
        vec![Path(vec![
            PathElem::Attr("a".into()),
            PathElem::Attr("b".into())
        ])]
    );
    assert!(usage.names.contains("#a"));
}

#[test]
fn path_display() {
    let p = Path(vec![
        PathElem::Attr("a".into()),
        PathElem::Attr("b".into()),
        PathElem::Index(2),
        PathElem::Attr("c".into()),
        PathElem::Index(0),
    ]);
    assert_eq!(p.to_string(), "a.b[2].c[0]");
    assert_eq!(p.bracketed(), "[a, b, [2], c, [0]]");
    assert_eq!(p.top(), "a");
    assert_eq!(Path::attr("x").to_string(), "x");
}

// ---- key conditions -----------------------------------------------------------

#[test]
fn key_conditions_each_operator() {
    let v = json!({":p": {"S": "k"}, ":c": {"N": "5"}, ":lo": {"N": "4"}, ":hi": {"N": "7"}, ":pre": {"S": "ab"}});
    let k = key("p = :p", v.clone());
    assert_eq!(k.partition, ("p".to_string(), av(json!({"S": "k"}))));
    assert_eq!(k.sort, None);
    let sort = |text: &str| key(text, v.clone()).sort.expect("sort condition");
    let five = av(json!({"N": "5"}));
    assert_eq!(
        sort("p = :p AND c = :c"),
        SortKeyCondition::Eq("c".into(), five.clone())
    );
    assert_eq!(
        sort("p=:p AND c<:c"),
        SortKeyCondition::Lt("c".into(), five.clone())
    );
    assert_eq!(
        sort("p=:p AND c<=:c"),
        SortKeyCondition::Le("c".into(), five.clone())
    );
    assert_eq!(
        sort("p=:p AND c>:c"),
        SortKeyCondition::Gt("c".into(), five.clone())
    );
    assert_eq!(
        sort("p=:p AND c>=:c"),
        SortKeyCondition::Ge("c".into(), five.clone())
    );
    // Reversed operands reverse the operator.
    assert_eq!(
        sort(":p = p AND :c < c"),
        SortKeyCondition::Gt("c".into(), five.clone())
    );
    assert_eq!(
        sort(":p = p AND :c >= c"),
        SortKeyCondition::Le("c".into(), five.clone())
    );
    assert_eq!(
        sort("p = :p AnD c BeTwEeN :lo aNd :hi"),
        SortKeyCondition::Between("c".into(), av(json!({"N": "4"})), av(json!({"N": "7"})))
    );
    assert_eq!(
        sort("p = :p AND begins_with(c, :pre)"),
        SortKeyCondition::BeginsWith("c".into(), av(json!({"S": "ab"})))
    );
    // Sort condition first, parentheses allowed.
    let k = key("((c < :c) AND (p = :p))", v.clone());
    assert_eq!(k.partition.0, "p");
    assert_eq!(k.sort, Some(SortKeyCondition::Lt("c".into(), five.clone())));
    // Two equalities: the first is the partition until oriented.
    let n = names(&[("#c", "c")]);
    let (k, usage) = parse_key_condition("#c = :c AND p = :p", &n, &values(v.clone())).unwrap();
    assert!(usage.names.contains("#c") && usage.values.contains(":p"));
    assert_eq!(k.partition.0, "c");
    let k = k.oriented("p").unwrap();
    assert_eq!(k.partition, ("p".to_string(), av(json!({"S": "k"}))));
    assert_eq!(k.sort, Some(SortKeyCondition::Eq("c".into(), five)));
    assert_eq!(
        key("c < :c AND p = :p", v)
            .oriented("x")
            .unwrap_err()
            .to_string(),
        "Query condition missed key schema element: x"
    );
}

#[test]
fn key_condition_errors() {
    let v = json!({":p": {"S": "k"}, ":c": {"N": "5"}, ":d": {"N": "6"}});
    let e = |t: &str| key_err(t, v.clone());
    assert_eq!(
        e("p = :p OR c = :c"),
        "Invalid operator used in KeyConditionExpression: OR"
    );
    assert_eq!(
        e("NOT c = :c AND p = :p"),
        "Invalid operator used in KeyConditionExpression: NOT"
    );
    assert_eq!(
        e("p = :p AND c <> :c"),
        "Invalid operator used in KeyConditionExpression: <>"
    );
    assert_eq!(
        e("p = :p AND c IN (:c)"),
        "Invalid operator used in KeyConditionExpression: IN"
    );
    assert_eq!(
        e("p = :p AND attribute_exists(c)"),
        "Invalid operator used in KeyConditionExpression: attribute_exists"
    );
    assert_eq!(
        e("p = :p AND dog(c, :c)"),
        "Invalid KeyConditionExpression: Invalid function name; function: dog"
    );
    assert_eq!(e("p < :p"), "Query key condition not supported");
    assert_eq!(e("p < :p AND c > :c"), "Query key condition not supported");
    // Two attribute paths in one condition, read in order: the second is
    // refused as such before its own shape is looked at.
    let multiple = "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition";
    for t in [
        "p = c",
        "p = :p AND c > p.x",
        "p = :p AND c BETWEEN p AND :d",
        "p = :p AND begins_with(c, p)",
    ] {
        assert_eq!(e(t), multiple, "{t}");
    }
    assert_eq!(
        e("p[0] = c"),
        "KeyConditionExpressions cannot have conditions on nested attributes"
    );
    assert_eq!(
        e("p = :p AND p = :p"),
        "KeyConditionExpressions must only contain one condition per key"
    );
    assert_eq!(
        e("p = :p AND c >= :c AND c <= :d"),
        "Conditions can be of length 1 or 2 only"
    );
    assert_eq!(
        e("p.x = :p"),
        "KeyConditionExpressions cannot have conditions on nested attributes"
    );
    assert_eq!(
        e("p = :p AND begins_with(c, :c)"),
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
    );
    assert!(
        e("p = :p AND c BETWEEN :d AND :c").contains("upper bound to be greater than or equal")
    );
    assert!(
        e("p = :p AND c != :c")
            .starts_with("Invalid KeyConditionExpression: Syntax error; token: \"!\"")
    );
    assert!(e("p = :q").ends_with("attribute value: :q"));
}

#[test]
fn sort_key_conditions_match_values() {
    let n = |s: &str| AttrValue::N(num(s));
    let s = |s: &str| AttrValue::S(s.into());
    let c = "c".to_string();
    assert!(SortKeyCondition::Eq(c.clone(), n("5")).matches(&n("5.0")));
    assert!(!SortKeyCondition::Eq(c.clone(), n("5")).matches(&s("5")));
    assert!(SortKeyCondition::Lt(c.clone(), n("5")).matches(&n("-10")));
    assert!(!SortKeyCondition::Lt(c.clone(), n("5")).matches(&n("5")));
    assert!(SortKeyCondition::Le(c.clone(), n("5")).matches(&n("5")));
    assert!(SortKeyCondition::Gt(c.clone(), s("b")).matches(&s("ba")));
    assert!(!SortKeyCondition::Ge(c.clone(), s("b")).matches(&s("a")));
    let between = SortKeyCondition::Between(c.clone(), n("4"), n("7"));
    assert!(between.matches(&n("4")) && between.matches(&n("7")) && !between.matches(&n("7.01")));
    assert_eq!(between.attribute(), "c");
    assert_eq!(between.values().len(), 2);
    let bw = SortKeyCondition::BeginsWith(c.clone(), s("ab"));
    assert!(bw.matches(&s("abc")) && !bw.matches(&s("a")) && !bw.matches(&n("1")));
    assert!(
        SortKeyCondition::BeginsWith(c, AttrValue::B(vec![1])).matches(&AttrValue::B(vec![1, 2]))
    );
}

// ---- errors -------------------------------------------------------------------

#[test]
fn every_error_is_a_validation_exception() {
    let errs = [
        cond_err("a = =", json!({})),
        upd_err("SET a = :x", json!({})),
        proj_err("a, a"),
        key_err("p < :p", json!({":p": {"N": "1"}})),
    ];
    assert!(errs.iter().all(|e| !e.is_empty()));
    let e = parse_update("SET a = :x", &Names::new(), &Values::new()).unwrap_err();
    assert_eq!(e.error_type(), "ValidationException");
    assert_eq!(e.message(), e.to_string());
    let e = ExprError::Validation("x".into());
    assert_eq!(e.message(), "x");
    assert_eq!(e.error_type(), "ValidationException");
}

// ---- never panics -----------------------------------------------------------------

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn fixture() -> (Names, Values, Item) {
        let n = names(&[("#a", "a"), ("#b", "b"), ("#n", "name")]);
        let v = values(json!({
            ":n": {"N": "1"}, ":s": {"S": "x"}, ":l": {"L": [{"N": "1"}]},
            ":ss": {"SS": ["x"]}, ":big": {"N": "9.9E+125"}, ":t": {"S": "N"}
        }));
        let it = item(json!({
            "a": {"N": "9E+125"}, "b": {"L": [{"M": {"c": {"S": "x"}}}, {"N": "2"}]},
            "s": {"SS": ["x", "y"]}, "m": {"M": {"k": {"S": "v"}}}
        }));
        (n, v, it)
    }

    /// Runs every parser on `text` and evaluates whatever parses.
    fn exercise(text: &str) {
        let (n, v, it) = fixture();
        if let Ok((c, _)) = parse_condition("ConditionExpression", text, &n, &v) {
            let _ = c.eval(Some(&it));
            let _ = c.eval(None);
        }
        if let Ok((u, _)) = parse_update(text, &n, &v) {
            let _ = u.apply(&it);
            let _ = u.apply_opt(None);
            let _ = project(&it, &u.updated_paths());
        }
        if let Ok((paths, _)) = parse_projection(text, &n) {
            let _ = project(&it, &paths);
        }
        if let Ok((k, _)) = parse_key_condition(text, &n, &v)
            && let Some(s) = k.sort.clone()
        {
            let _ = s.matches(&AttrValue::N(num("1")));
            let _ = k.oriented("a");
        }
    }

    fn token() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "a",
            "b",
            "s",
            "m",
            "name",
            "#a",
            "#b",
            "#zz",
            ":n",
            ":s",
            ":l",
            ":ss",
            ":big",
            ":t",
            ":zz",
            "=",
            "<>",
            "<",
            "<=",
            ">",
            ">=",
            "(",
            ")",
            "[",
            "]",
            "[0]",
            "[1]",
            ".",
            ",",
            "+",
            "-",
            "AND",
            "OR",
            "NOT",
            "BETWEEN",
            "IN",
            "SET",
            "REMOVE",
            "ADD",
            "DELETE",
            "size",
            "contains",
            "begins_with",
            "attribute_exists",
            "attribute_not_exists",
            "attribute_type",
            "if_not_exists",
            "list_append",
            "_",
            "!",
            "é",
            "9",
            " ",
        ])
        .prop_map(str::to_string)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_strings_never_panic(text in any::<String>()) {
            exercise(&text);
        }

        #[test]
        fn token_soup_never_panics(tokens in prop::collection::vec(token(), 0..40)) {
            exercise(&tokens.join(" "));
            exercise(&tokens.concat());
        }
    }

    fn path_text() -> impl Strategy<Value = String> {
        "(a|b|s|m|#a|#b)(\\.(c|k|#b)|\\[[0-2]\\]){0,3}"
    }

    fn value_text() -> impl Strategy<Value = String> {
        prop::sample::select(vec![":n", ":s", ":l", ":ss", ":big", ":t"]).prop_map(str::to_string)
    }

    fn operand_text() -> impl Strategy<Value = String> {
        prop_oneof![
            path_text(),
            value_text(),
            path_text().prop_map(|p| format!("size({p})")),
        ]
    }

    /// Mostly well-formed condition expressions.
    fn condition_text() -> impl Strategy<Value = String> {
        let cmp = prop::sample::select(vec!["=", "<>", "<", "<=", ">", ">="]);
        let leaf = prop_oneof![
            (operand_text(), cmp, operand_text()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (operand_text(), operand_text(), operand_text())
                .prop_map(|(a, b, c)| format!("{a} BETWEEN {b} AND {c}")),
            (operand_text(), prop::collection::vec(operand_text(), 1..4))
                .prop_map(|(a, l)| format!("{a} IN ({})", l.join(", "))),
            path_text().prop_map(|p| format!("attribute_exists({p})")),
            path_text().prop_map(|p| format!("attribute_not_exists({p})")),
            path_text().prop_map(|p| format!("attribute_type({p}, :t)")),
            (operand_text(), operand_text()).prop_map(|(a, b)| format!("begins_with({a}, {b})")),
            (operand_text(), operand_text()).prop_map(|(a, b)| format!("contains({a}, {b})")),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
                inner.clone().prop_map(|a| format!("NOT {a}")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    /// Mostly well-formed update expressions.
    fn update_text() -> impl Strategy<Value = String> {
        let set_value = prop_oneof![
            operand_text(),
            (operand_text(), operand_text()).prop_map(|(a, b)| format!("{a} + {b}")),
            (operand_text(), operand_text()).prop_map(|(a, b)| format!("{a} - {b}")),
            (path_text(), operand_text()).prop_map(|(a, b)| format!("if_not_exists({a}, {b})")),
            (operand_text(), operand_text()).prop_map(|(a, b)| format!("list_append({a}, {b})")),
        ];
        let action = prop_oneof![
            (path_text(), set_value).prop_map(|(p, v)| format!("SET {p} = {v}")),
            path_text().prop_map(|p| format!("REMOVE {p}")),
            (path_text(), value_text()).prop_map(|(p, v)| format!("ADD {p} {v}")),
            (path_text(), value_text()).prop_map(|(p, v)| format!("DELETE {p} {v}")),
        ];
        prop::collection::vec(action, 1..4).prop_map(|a| a.join(" "))
    }

    /// Deletes or duplicates one character, to probe near-valid input.
    fn mutated(base: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        (base, any::<prop::sample::Index>(), 0..3u8).prop_map(|(s, at, how)| {
            let chars: Vec<char> = s.chars().collect();
            if chars.is_empty() || how == 0 {
                return s;
            }
            let i = at.index(chars.len());
            let mut out: Vec<char> = chars.clone();
            if how == 1 {
                out.remove(i);
            } else {
                out.insert(i, chars[i]);
            }
            out.into_iter().collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn generated_conditions_never_panic(text in mutated(condition_text())) {
            exercise(&text);
        }

        #[test]
        fn generated_updates_never_panic(text in mutated(update_text())) {
            exercise(&text);
        }
    }

    #[test]
    fn generated_expressions_mostly_parse() {
        // Guards the generators above: they must reach evaluation.
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let (n, v, _) = fixture();
        let mut runner = TestRunner::deterministic();
        let (mut conds, mut updates) = (0, 0);
        for _ in 0..300 {
            let c = condition_text().new_tree(&mut runner).unwrap().current();
            conds += usize::from(parse_condition("ConditionExpression", &c, &n, &v).is_ok());
            let u = update_text().new_tree(&mut runner).unwrap().current();
            updates += usize::from(parse_update(&u, &n, &v).is_ok());
        }
        assert!(conds > 30, "only {conds} of 300 generated conditions parse");
        assert!(
            updates > 30,
            "only {updates} of 300 generated updates parse"
        );
    }

    /// Decimal strings with up to 38 digits and a bounded exponent.
    fn decimal() -> impl Strategy<Value = (bool, String, i32)> {
        (any::<bool>(), "[1-9][0-9]{0,37}", -60i32..60)
    }

    fn to_big(neg: bool, digits: &str, exp: i32, scale: i32) -> num_bigint::BigInt {
        // value = digits × 10^exp, as an integer at 10^scale (scale <= exp).
        let mut n: num_bigint::BigInt = digits.parse().unwrap();
        n *= num_bigint::BigInt::from(10u32).pow((exp - scale) as u32);
        if neg { -n } else { n }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn add_and_sub_match_big_integers(a in decimal(), b in decimal()) {
            let text = |(neg, d, e): &(bool, String, i32)| format!("{}{d}E{e}", if *neg { "-" } else { "" });
            let (x, y) = (num(&text(&a)), num(&text(&b)));
            let scale = a.2.min(b.2);
            let want_sum = to_big(a.0, &a.1, a.2, scale) + to_big(b.0, &b.1, b.2, scale);
            let want_diff = to_big(a.0, &a.1, a.2, scale) - to_big(b.0, &b.1, b.2, scale);
            for (got, want) in [(add_numbers(&x, &y), want_sum), (sub_numbers(&x, &y), want_diff)] {
                let digits = want.magnitude().to_string().trim_end_matches('0').len();
                match got {
                    Ok(n) => {
                        let expect = num(&format!("{want}E{scale}"));
                        prop_assert_eq!(n, expect);
                    }
                    Err(e) => {
                        prop_assert!(digits > 38, "unexpected error {} for {}", e, want);
                        prop_assert_eq!(e.to_string(), OVERFLOW);
                    }
                }
            }
        }
    }
}
