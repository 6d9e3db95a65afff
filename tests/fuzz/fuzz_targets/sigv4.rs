//! SigV4 verification on the DynamoDB endpoint: an `Authorization` header,
//! an `X-Amz-Date`, other headers and a body, all from the input. Anything
//! is refused or verified; nothing panics.
#![no_main]

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0x00: authorization, x-amz-date, then pairs of
    // header name and value, and the body last.
    let mut fields = data.split(|b| *b == 0);
    let mut headers = HeaderMap::new();
    for name in ["authorization", "x-amz-date"] {
        if let Some(v) = fields.next().and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, v);
        }
    }
    let rest: Vec<&[u8]> = fields.collect();
    let (body, pairs): (&[u8], &[&[u8]]) = match rest.split_last() {
        Some((body, pairs)) => (body, pairs),
        None => (b"", &[]),
    };
    for pair in pairs.chunks(2) {
        if let [n, v] = pair
            && let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v))
        {
            headers.append(n, v);
        }
    }
    let keys = HashMap::from([("AKIDFUZZ".to_string(), "secret".to_string())]);
    let _ = meridian_dynamo::verify_signature(&keys, "/", &headers, body);
});
