//! ExecuteStatement's `NextToken`: an opaque token holding the
//! `LastEvaluatedKey` of a Query or Scan that stopped early and a hash of
//! the statement and its parameters, so a token is refused with any other
//! request.

use serde_json::{Value as Json, json};

use crate::error::{ApiError, ApiResult};

/// Longest `NextToken` accepted (DynamoDB's limit).
pub const MAX_NEXT_TOKEN_CHARS: usize = 32768;

/// What a `NextToken` is bound to: the statement and its parameters.
pub fn request_hash(text: &str, params: &[Json]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(text.as_bytes());
    h.update([0]);
    h.update(Json::Array(params.to_vec()).to_string().as_bytes());
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An opaque token: the hex of `{"h": hash, "k": LastEvaluatedKey}`.
pub fn encode_token(hash: &str, last_key: &Json) -> String {
    json!({"h": hash, "k": last_key})
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `ExclusiveStartKey` a token holds, if it was made for this request.
pub fn decode_token(token: &str, hash: &str) -> ApiResult<Json> {
    let chars = token.chars().count();
    if chars == 0 || chars > MAX_NEXT_TOKEN_CHARS {
        return Err(ApiError::constraint(format!(
            "Value at 'nextToken' failed to satisfy constraint: Member must have length less than or equal to {MAX_NEXT_TOKEN_CHARS} and greater than or equal to 1; got {chars}"
        )));
    }
    let bad = || ApiError::validation("Invalid NextToken");
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let v: Json = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v["h"].as_str() != Some(hash) {
        return Err(ApiError::validation("NextToken does not match request"));
    }
    match v.get("k") {
        Some(k @ Json::Object(_)) => Ok(k.clone()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_token_round_trips_only_for_its_own_request() {
        let key = json!({"pk": {"S": "a"}, "sk": {"N": "3"}});
        let hash = request_hash("SELECT * FROM t WHERE pk = ?", &[json!({"S": "a"})]);
        let token = encode_token(&hash, &key);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(decode_token(&token, &hash).unwrap(), key);
        // Another statement, or other parameters, may not use it.
        let other = request_hash("SELECT * FROM t WHERE pk = ?", &[json!({"S": "b"})]);
        assert_ne!(hash, other);
        assert_eq!(
            decode_token(&token, &other).unwrap_err().message,
            "NextToken does not match request"
        );
        for bad in ["zz", "abc", "6e6f", "é"] {
            assert_eq!(
                decode_token(bad, &hash).unwrap_err().message,
                "Invalid NextToken",
                "{bad}"
            );
        }
        let long = "a".repeat(MAX_NEXT_TOKEN_CHARS + 1);
        assert!(
            decode_token(&long, &hash)
                .unwrap_err()
                .message
                .contains("less than or equal to 32768")
        );
    }
}
