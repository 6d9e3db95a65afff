//! SigV4 verification, for endpoints configured with keys.
//!
//! By default any signature is accepted, as DynamoDB Local does. With keys
//! configured, a request must carry an `AWS4-HMAC-SHA256` `Authorization`
//! header whose signature, recomputed with the named key's secret over the
//! canonical request, matches. The rule itself is `meridian_core::sigv4`,
//! shared with the gRPC client API; this maps its refusals to DynamoDB's.
//! On top of it, as AWS does, a signature made for another region than the
//! endpoint's (its credential scope) is refused, even when it is valid.

use std::collections::HashMap;

use axum::http::HeaderMap;
use meridian_core::sigv4::SigV4Error;

use crate::error::{ApiError, Kind};

/// Checks the request's signature against `keys` (access key id → secret),
/// with DynamoDB's error for a refusal.
pub fn verify(
    keys: &HashMap<String, String>,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    check(keys, path, headers, body).map_err(api_error)
}

/// A refusal as DynamoDB answers it.
pub fn api_error(e: SigV4Error) -> ApiError {
    let kind = match e {
        SigV4Error::Missing(_) => Kind::MissingAuthenticationToken,
        SigV4Error::UnknownKey(_) => Kind::UnrecognizedClient,
        SigV4Error::Invalid(_) => Kind::InvalidSignature,
    };
    ApiError::new(kind, e.to_string())
}

/// Checks the request's signature against `keys`.
pub fn check(
    keys: &HashMap<String, String>,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), SigV4Error> {
    use meridian_region::client_auth::{now_secs, verify_http};
    verify_http(keys, path, headers, None, body, now_secs())
}

/// Refuses a request, already verified, whose credential is scoped to
/// another region than `region`, the endpoint's, in AWS's words: they name
/// the scope's region and end with a space.
pub fn check_region(region: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let scoped = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(meridian_core::sigv4::credential_region);
    match scoped {
        Some(r) if r != region => Err(ApiError::new(
            Kind::InvalidSignature,
            format!("Credential should be scoped to a valid region, not '{r}'. "),
        )),
        _ => Ok(()),
    }
}
