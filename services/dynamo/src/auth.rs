//! SigV4 verification, for endpoints configured with keys.
//!
//! By default any signature is accepted, as DynamoDB Local does. With keys
//! configured, a request must carry an `AWS4-HMAC-SHA256` `Authorization`
//! header whose signature, recomputed with the named key's secret over the
//! canonical request, matches.

use std::collections::HashMap;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Kind};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(Kind::InvalidSignature, message)
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization<'a> {
    access_key: &'a str,
    scope: &'a str,
    date: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse(header: &str) -> Result<Authorization<'_>, ApiError> {
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| denied("Only AWS4-HMAC-SHA256 signatures are accepted"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| denied("Malformed Authorization header"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| denied("Authorization header has no Credential"))?;
    let (access_key, scope) = credential
        .split_once('/')
        .ok_or_else(|| denied("Malformed Credential"))?;
    let date = scope.split('/').next().unwrap_or_default();
    Ok(Authorization {
        access_key,
        scope,
        date,
        signed_headers: signed
            .ok_or_else(|| denied("Authorization header has no SignedHeaders"))?
            .split(';')
            .collect(),
        signature: signature.ok_or_else(|| denied("Authorization header has no Signature"))?,
    })
}

/// Checks the request's signature against `keys` (access key id → secret).
pub fn verify(
    keys: &HashMap<String, String>,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                Kind::MissingAuthenticationToken,
                "Request is missing Authentication Token",
            )
        })?;
    let auth = parse(header)?;
    let secret = keys.get(auth.access_key).ok_or_else(|| {
        ApiError::new(
            Kind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        )
    })?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| denied("Request is missing the X-Amz-Date header"))?;
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(denied(format!(
                "Signed header {name} is missing from the request"
            )));
        }
        let joined: Vec<String> = values
            .iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", joined.join(",")));
    }
    let payload_hash = hex(&Sha256::digest(body));
    let canonical = format!(
        "POST\n{path}\n\n{canonical_headers}\n{}\n{payload_hash}",
        auth.signed_headers.join(";")
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        auth.scope,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut parts = auth.scope.split('/').skip(1);
    let (region, service) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex(&hmac(&k_signing, to_sign.as_bytes()));
    // Compare without an early exit, so timing says nothing about the signature.
    let same = expected.len() == auth.signature.len()
        && expected
            .bytes()
            .zip(auth.signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(denied(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}
