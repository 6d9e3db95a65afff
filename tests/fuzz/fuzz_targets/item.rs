//! The item encoding: any bytes decode to a valid item or are refused,
//! never panic; what decodes encodes back to the same bytes (the canonical
//! form digests rely on).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meridian_core::{decode_item, encode_item};

fuzz_target!(|data: &[u8]| {
    if let Ok(item) = decode_item(data) {
        assert_eq!(
            encode_item(&item),
            data,
            "a decoded item re-encodes as it came"
        );
        meridian_core::value::check_item(&item).expect("a decoded item obeys the item rules");
    }
});
