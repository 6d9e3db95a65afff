//! The expression language: condition, filter, update, projection and key
//! condition expressions with a fixed set of names and values, evaluated
//! and applied to a nested item. Anything is refused or runs; nothing
//! panics, and an update's result obeys the item rules or is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meridian_core::expr::{
    Names, Values, parse_condition, parse_key_condition, parse_key_conditions, parse_projection,
    parse_update, project,
};
use meridian_core::{AttrValue, Item, item_from_json};

struct Fixture {
    names: Names,
    values: Values,
    item: Item,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let names = Names::from([
            ("#a".to_string(), "a".to_string()),
            ("#b".to_string(), "b.c".to_string()),
            ("#n".to_string(), "n".to_string()),
            ("#l".to_string(), "l".to_string()),
        ]);
        let item = item_from_json(&serde_json::json!({
            "id": {"S": "k"}, "n": {"N": "5"}, "a": {"S": "text"},
            "l": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"x": {"BOOL": true}}}]},
            "m": {"M": {"b": {"M": {"c": {"NS": ["1", "2"]}}}, "s": {"SS": ["p", "q"]}}},
            "bin": {"B": "AQID"}, "nul": {"NULL": true}
        }))
        .expect("a valid item");
        let values = item_from_json(&serde_json::json!({
            ":s": {"S": "text"}, ":n": {"N": "1"}, ":z": {"N": "-1e5"},
            ":l": {"L": [{"N": "3"}]}, ":m": {"M": {"k": {"S": "v"}}},
            ":ss": {"SS": ["q", "r"]}, ":ns": {"NS": ["2"]}, ":b": {"B": "AA=="},
            ":t": {"BOOL": true}, ":nul": {"NULL": true}
        }))
        .expect("valid values")
        .into_iter()
        .collect::<std::collections::HashMap<String, AttrValue>>();
        Fixture {
            names,
            values,
            item,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let f = fixture();
    match kind % 5 {
        0 => {
            if let Ok((c, _)) = parse_condition("ConditionExpression", text, &f.names, &f.values) {
                let _ = c.eval(Some(&f.item));
                let _ = c.eval(None);
            }
        }
        1 => {
            if let Ok((u, _)) = parse_update(text, &f.names, &f.values) {
                if let Ok(after) = u.apply(&f.item) {
                    // The result is an item like any other: one that obeys
                    // the item rules survives its encoding.
                    if meridian_core::value::check_item(&after).is_ok() {
                        let bytes = meridian_core::encode_item(&after);
                        assert_eq!(meridian_core::decode_item(&bytes).as_ref(), Ok(&after));
                    }
                }
                let _ = u.apply_opt(None);
            }
        }
        2 => {
            if let Ok((paths, _)) = parse_projection(text, &f.names) {
                let _ = project(&f.item, &paths);
            }
        }
        3 => {
            let _ = parse_key_condition(text, &f.names, &f.values);
        }
        _ => {
            let _ = parse_key_conditions(text, &f.names, &f.values);
        }
    }
});
