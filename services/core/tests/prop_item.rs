//! Property tests for the canonical item encoding: arbitrary nested items
//! round-trip, equal items have equal bytes, and `decode_item` never panics,
//! whatever bytes a peer sends.

use std::collections::BTreeMap;

use meridian_core::value::MAX_DEPTH;
use meridian_core::{AttrValue, Error, Item, Number, decode_item, encode_item, item_from_json};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z]{1,3}",
        1 => "\\PC{1,6}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-c]{0,3}",
        1 => "\\PC{0,8}",
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..6)
}

fn number() -> impl Strategy<Value = Number> {
    let text = prop_oneof![
        // Small values collide often, which matters for sets.
        (-20i32..20, -3i32..3).prop_map(|(m, e)| format!("{m}E{e}")),
        (any::<bool>(), "[1-9][0-9]{0,37}", -160i32..=125).prop_map(|(neg, d, e)| {
            // Clamp into range: d × 10^e with d of n digits needs
            // -(n + 129) <= e <= 126 - n.
            let n = d.len() as i32;
            let e = e.clamp(-(n + 129), 126 - n);
            format!("{}{d}E{e}", if neg { "-" } else { "" })
        }),
        Just("0".to_string()),
    ];
    text.prop_map(|t| Number::parse(&t, "n").expect("generated numbers are in range"))
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

fn leaf() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        string().prop_map(AttrValue::S),
        number().prop_map(AttrValue::N),
        bytes().prop_map(AttrValue::B),
        any::<bool>().prop_map(AttrValue::Bool),
        Just(AttrValue::Null),
        // Sets go through their constructors, from shuffled members.
        prop::collection::btree_set(string(), 1..5)
            .prop_flat_map(|s| Just(s.into_iter().collect::<Vec<_>>()).prop_shuffle())
            .prop_map(|m| AttrValue::string_set(m, "ss").unwrap()),
        prop::collection::vec(number(), 1..5)
            .prop_flat_map(|v| Just(dedup(v)).prop_shuffle())
            .prop_map(|m| AttrValue::number_set(m, "ns").unwrap()),
        prop::collection::btree_set(bytes(), 1..5)
            .prop_flat_map(|s| Just(s.into_iter().collect::<Vec<_>>()).prop_shuffle())
            .prop_map(|m| AttrValue::binary_set(m, "bs").unwrap()),
    ]
}

fn value() -> impl Strategy<Value = AttrValue> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::btree_map(name(), inner.clone(), 0..5).prop_map(AttrValue::M),
            prop::collection::vec(inner, 0..5).prop_map(AttrValue::L),
        ]
    })
}

fn item() -> impl Strategy<Value = Item> {
    prop::collection::btree_map(name(), value(), 0..6)
}

#[derive(Clone, Debug)]
enum Edit {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    Duplicate(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        2 => (any::<Index>(), prop_oneof![0u8..16, Just(0x7f), Just(0x80), Just(0xff), any::<u8>()])
            .prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match e {
        Edit::Flip(i, x) => {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        Edit::Set(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), *b),
        Edit::Remove(i) => {
            bytes.remove(i.index(bytes.len()));
        }
        Edit::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Edit::Duplicate(a, b) => {
            // Copy a slice over another spot: lengths and tags in odd places.
            let (x, y) = (a.index(bytes.len()), b.index(bytes.len()));
            let (lo, hi) = (x.min(y), x.max(y));
            let chunk = bytes[lo..hi].to_vec();
            bytes.splice(hi..hi, chunk);
        }
    }
}

/// Whatever `decode_item` accepts must be canonical: re-encoding gives back
/// the very bytes.
fn check_decode(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(item) = decode_item(bytes) {
        prop_assert_eq!(
            encode_item(&item),
            bytes,
            "accepted non-canonical bytes: {:?}",
            item
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn items_round_trip(item in item()) {
        let bytes = encode_item(&item);
        prop_assert_eq!(decode_item(&bytes).unwrap(), item.clone());
        // The JSON form agrees too.
        let json = serde_json::Value::Object(meridian_core::item_to_json(&item));
        prop_assert_eq!(item_from_json(&json).unwrap(), item);
    }

    /// The two doors an item comes in by, DynamoDB JSON from a client and
    /// bytes from a peer, admit the same items. Attribute names here may be
    /// empty, which DynamoDB does not allow at the top level.
    #[test]
    fn json_and_bytes_accept_the_same_items(
        item in prop::collection::btree_map(prop_oneof![1 => Just(String::new()), 4 => name()], value(), 0..4),
    ) {
        let from_bytes = decode_item(&encode_item(&item));
        let json = serde_json::Value::Object(meridian_core::item_to_json(&item));
        let from_json = item_from_json(&json);
        prop_assert_eq!(from_bytes.is_ok(), from_json.is_ok(), "bytes: {:?}, json: {:?}", from_bytes, from_json);
        if let (Ok(a), Ok(b)) = (from_bytes, from_json) {
            prop_assert_eq!(&a, &item);
            prop_assert_eq!(&b, &item);
        }
    }

    /// Equal items, and only equal items, have equal bytes.
    #[test]
    fn encoding_is_injective(a in item(), b in item()) {
        prop_assert_eq!(encode_item(&a) == encode_item(&b), a == b);
        let a2 = a.clone();
        prop_assert_eq!(encode_item(&a), encode_item(&a2));
    }

    /// Set constructors are order-insensitive, and refuse empties and duplicates.
    #[test]
    fn sets_are_canonical(
        (members, shuffled) in prop::collection::btree_set(string(), 1..6)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>())
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        dup in any::<Index>(),
    ) {
        let a = AttrValue::string_set(members.clone(), "f").unwrap();
        let b = AttrValue::string_set(shuffled.clone(), "f").unwrap();
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &AttrValue::Ss(members.clone()));
        let mut with_dup = shuffled;
        with_dup.push(dup.get(&members).clone());
        let e = AttrValue::string_set(with_dup, "tags").unwrap_err();
        prop_assert!(matches!(&e, Error::DuplicateSetMember { field, .. } if field == "tags"), "{e}");
        let e = AttrValue::string_set(Vec::new(), "tags").unwrap_err();
        prop_assert!(matches!(&e, Error::EmptySet { field, .. } if field == "tags"), "{e}");
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            // Past the format byte, with small counts and tags.
            prop::collection::vec(prop_oneof![0u8..12, any::<u8>()], 0..64)
                .prop_map(|mut v| { v.insert(0, 1); v }),
        ],
    ) {
        check_decode(&bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn decode_never_panics_on_mutated_encodings(
        item in item(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = encode_item(&item);
        for e in &edits {
            apply(&mut bytes, e);
            check_decode(&bytes)?;
        }
    }

    /// Nesting: both entry points accept exactly MAX_DEPTH levels of M or L.
    #[test]
    fn nesting_limit_is_the_same_for_json_and_bytes(
        kinds in prop::collection::vec(any::<bool>(), 1..=MAX_DEPTH + 3),
    ) {
        let mut v = AttrValue::S("leaf".into());
        for &list in &kinds {
            v = if list {
                AttrValue::L(vec![v])
            } else {
                AttrValue::M(BTreeMap::from([("k".to_string(), v)]))
            };
        }
        let item = Item::from([("deep".to_string(), v)]);
        let bytes = encode_item(&item);
        let ok = kinds.len() <= MAX_DEPTH;
        let decoded = decode_item(&bytes);
        prop_assert_eq!(decoded.is_ok(), ok, "{} levels: {:?}", kinds.len(), decoded.err());
        if !ok {
            let too_deep = matches!(decoded, Err(Error::NestingTooDeep { limit: MAX_DEPTH, .. }));
            prop_assert!(too_deep, "{:?}", decoded);
        }
        let json = serde_json::Value::Object(meridian_core::item_to_json(&item));
        prop_assert_eq!(item_from_json(&json).is_ok(), ok);
    }
}

#[test]
fn non_canonical_numbers_and_sets_are_refused() {
    // {"n": N "1.50"} written by hand: equal in value to 1.5, but not canonical.
    let mut b = vec![1u8, 1, 1, b'n', 2, 4];
    b.extend_from_slice(b"1.50");
    assert!(
        matches!(decode_item(&b), Err(Error::Decode(_))),
        "{:?}",
        decode_item(&b)
    );
    let item = item_from_json(&json!({"s": {"SS": ["b", "a"]}})).unwrap();
    let mut bytes = encode_item(&item);
    // Swap the two one-byte members: an unsorted set.
    let n = bytes.len();
    bytes.swap(n - 1, n - 3);
    assert!(decode_item(&bytes).is_err());
}

#[test]
fn item_size_limit_is_the_same_for_json_and_bytes() {
    use meridian_core::value::MAX_ITEM_BYTES;
    for (extra, ok) in [(0usize, true), (1, false)] {
        // Size counts the name (2 bytes) plus the string's bytes.
        let item = Item::from([(
            "id".to_string(),
            AttrValue::S("x".repeat(MAX_ITEM_BYTES - 2 + extra)),
        )]);
        let bytes = decode_item(&encode_item(&item));
        assert_eq!(bytes.is_ok(), ok, "{:?}", bytes.as_ref().err());
        if !ok {
            assert!(matches!(
                bytes,
                Err(Error::ItemTooLarge {
                    limit: MAX_ITEM_BYTES,
                    ..
                })
            ));
        }
        let json = serde_json::Value::Object(meridian_core::item_to_json(&item));
        assert_eq!(item_from_json(&json).is_ok(), ok);
    }
}

/// A peer's item is held to the client's rules: `decode_item` refuses an
/// empty top-level attribute name, as `item_from_json` does.
#[test]
fn empty_attribute_names_are_refused_from_peers_too() {
    let item = Item::from([(String::new(), AttrValue::S(String::new()))]);
    let e = decode_item(&encode_item(&item)).unwrap_err();
    assert_eq!(e.to_string(), "Empty attribute name");
    // A nested map may still have an empty key, through either door.
    let nested = Item::from([(
        "m".to_string(),
        AttrValue::M(BTreeMap::from([(String::new(), AttrValue::Null)])),
    )]);
    assert_eq!(decode_item(&encode_item(&nested)).unwrap(), nested);
    let json = serde_json::Value::Object(meridian_core::item_to_json(&nested));
    assert_eq!(item_from_json(&json).unwrap(), nested);
}
