//! AWS Signature Version 4, both ways: the check an endpoint configured
//! with keys makes, and the signature a Meridian client puts on a request.
//!
//! The DynamoDB endpoint and the gRPC client API take the same credentials
//! (`dynamodb_keys`), so one canonical form serves both: a request is
//! `POST` to a path with no query, its signed headers, and the SHA-256 of
//! its body as sent. The caller passes the time, so this stays pure.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The only service a credential may be scoped to: the DynamoDB endpoint
/// and the gRPC client API are one service with two protocols.
pub const SERVICE: &str = "dynamodb";

/// How far a request's `X-Amz-Date` may be from the server's time, either
/// way, as in AWS.
pub const SKEW_SECS: i64 = 15 * 60;

/// Why a request's signature was refused, in AWS's words; each variant is
/// one of AWS's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// `MissingAuthenticationTokenException`: no `Authorization` header.
    #[error("{0}")]
    Missing(String),
    /// `UnrecognizedClientException`: an access key no one configured.
    #[error("{0}")]
    UnknownKey(String),
    /// `InvalidSignatureException`: anything else wrong with the signature.
    #[error("{0}")]
    Invalid(String),
}

impl SigV4Error {
    /// AWS's error code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            SigV4Error::Missing(_) => "MissingAuthenticationTokenException",
            SigV4Error::UnknownKey(_) => "UnrecognizedClientException",
            SigV4Error::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SigV4Error::Missing(_) => "missing",
            SigV4Error::UnknownKey(_) => "unknown_key",
            SigV4Error::Invalid(_) => "invalid_signature",
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex, as SigV4 wants it.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex SHA-256 of a body: the payload hash of the canonical request.
pub fn body_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn invalid(message: impl Into<String>) -> SigV4Error {
    SigV4Error::Invalid(message.into())
}

/// Requests signed more than 15 minutes from `now` are refused, as in AWS,
/// so a captured request cannot be replayed later; the messages are AWS's.
fn check_fresh(amz_date: &str, now: i64) -> Result<(), SigV4Error> {
    let signed = parse_amz_date(amz_date)
        .ok_or_else(|| invalid(format!("X-Amz-Date {amz_date:?} is not YYYYMMDDTHHMMSSZ")))?;
    let at = format_amz_date;
    if signed < now - SKEW_SECS {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            at(now - SKEW_SECS),
            at(now)
        )));
    }
    if signed > now + SKEW_SECS {
        return Err(invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            at(now + SKEW_SECS),
            at(now)
        )));
    }
    Ok(())
}

/// Seconds since the epoch to `YYYYMMDDTHHMMSSZ`, the inverse of
/// [`parse_amz_date`].
pub fn format_amz_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::utc::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYYMMDDTHHMMSSZ` to seconds since the epoch.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = crate::utc::days_from_civil(y, m, d);
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization<'a> {
    access_key: &'a str,
    scope: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse(header: &str) -> Result<Authorization<'_>, SigV4Error> {
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| invalid("Only AWS4-HMAC-SHA256 signatures are accepted"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    // Components are separated by commas, whitespace or both.
    for part in rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| invalid("Malformed Authorization header"))?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| invalid("Authorization header has no Credential"))?;
    let (access_key, scope) = credential
        .split_once('/')
        .ok_or_else(|| invalid("Malformed Credential"))?;
    Ok(Authorization {
        access_key,
        scope,
        signed_headers: signed
            .ok_or_else(|| invalid("Authorization header has no SignedHeaders"))?
            .split(';')
            .collect(),
        signature: signature.ok_or_else(|| invalid("Authorization header has no Signature"))?,
    })
}

/// The region an `Authorization` header's credential is scoped to
/// (`Credential=<key>/<date>/<region>/…`), if it names one: an endpoint
/// that serves one region refuses a signature scoped to another.
pub fn credential_region(header: &str) -> Option<&str> {
    credential_scope(header).ok()?.split('/').nth(1)
}

/// The credential scope of an `Authorization` header
/// (`<date>/<region>/<service>/aws4_request`, what follows the access key
/// in `Credential=`), or why the header has none, in the words the
/// signature check uses.
pub fn credential_scope(header: &str) -> Result<&str, SigV4Error> {
    Ok(parse(header)?.scope)
}

/// The access key id of an `Authorization` header's credential, read as
/// the signature check reads it, so the key a request is checked against
/// is the key it is taken to be.
pub fn credential_key(header: &str) -> Option<&str> {
    Some(parse(header).ok()?.access_key)
}

/// What the check reads of a request: its path, its headers by lowercase
/// name (every value of a repeated header), and its body's hex SHA-256.
pub struct Request<'a, H: Fn(&str) -> Vec<&'a str>> {
    pub path: &'a str,
    pub header: H,
    pub body_hash: &'a str,
}

/// The MAC over the string to sign, keyed by the signing key of a
/// credential scope (`date/region/service/aws4_request`): finalized, it is
/// the signature.
fn signing_mac(secret: &str, scope: &str, amz_date: &str, canonical: &str) -> HmacSha256 {
    let mut parts = scope.split('/');
    let date = parts.next().unwrap_or_default();
    let region = parts.next().unwrap_or_default();
    let service = parts.next().unwrap_or_default();
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = HmacSha256::new_from_slice(&k_signing).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    mac
}

/// The canonical request: `POST`, the path, no query, the signed headers
/// and the payload hash.
fn canonical(path: &str, headers: &[(&str, String)], body_hash: &str) -> String {
    let mut lines = String::new();
    for (name, value) in headers {
        lines.push_str(&format!("{name}:{value}\n"));
    }
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    format!("POST\n{path}\n\n{lines}\n{}\n{body_hash}", names.join(";"))
}

/// Checks a request's signature against `keys` (access key id → secret) at
/// `now` (seconds since the epoch).
pub fn verify<'a, H: Fn(&str) -> Vec<&'a str>>(
    keys: &HashMap<String, String>,
    request: &Request<'a, H>,
    now: i64,
) -> Result<(), SigV4Error> {
    let header = (request.header)("authorization");
    let header = header.first().ok_or_else(|| {
        SigV4Error::Missing("Request is missing Authentication Token".to_string())
    })?;
    let auth = parse(header)?;
    // As AWS: a stale or future date is refused before the key is looked up.
    let amz_date = *(request.header)("x-amz-date")
        .first()
        .ok_or_else(|| invalid("Request is missing the X-Amz-Date header"))?;
    check_fresh(amz_date, now)?;
    let secret = keys.get(auth.access_key).ok_or_else(|| {
        SigV4Error::UnknownKey("The security token included in the request is invalid.".into())
    })?;
    // The scope must be today's, for this service, and complete.
    let scope: Vec<&str> = auth.scope.split('/').collect();
    if scope.len() != 4
        || scope[0] != amz_date.get(..8).unwrap_or_default()
        || scope[2] != SERVICE
        || scope[3] != "aws4_request"
    {
        return Err(invalid(format!(
            "Credential should be scoped to a valid date, region, the dynamodb service and aws4_request: {}",
            auth.scope
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(invalid(format!("'{required}' must be a signed header")));
        }
    }
    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values = (request.header)(name);
        if values.is_empty() {
            return Err(invalid(format!(
                "Signed header {name} is missing from the request"
            )));
        }
        let joined: Vec<String> = values
            .iter()
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        signed.push((*name, joined.join(",")));
    }
    let canonical = canonical(request.path, &signed, request.body_hash);
    let provided = decode_hex(auth.signature).ok_or_else(|| invalid("Signature is not hex"))?;
    // verify_slice compares in constant time, so the signature cannot be
    // found byte by byte.
    if signing_mac(secret, auth.scope, amz_date, &canonical)
        .verify_slice(&provided)
        .is_err()
    {
        return Err(invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// A credential to sign requests with.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret: String,
    /// The region named in the credential's scope (any name: the check
    /// takes the scope's region as given, as DynamoDB Local does).
    pub region: String,
}

impl std::fmt::Debug for Credentials {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// The headers that sign a `POST` of `body` to `host` and `path` at `now`:
/// `x-amz-date` and `authorization`, to add to the request (which must
/// carry `host` as given, or an HTTP/2 `:authority` of it).
pub fn sign(
    credentials: &Credentials,
    host: &str,
    path: &str,
    body: &[u8],
    now: i64,
) -> [(&'static str, String); 2] {
    let amz_date = format_amz_date(now);
    let scope = format!(
        "{}/{}/{SERVICE}/aws4_request",
        &amz_date[..8],
        credentials.region
    );
    let headers = [("host", host.to_string()), ("x-amz-date", amz_date.clone())];
    let canonical = canonical(path, &headers, &body_hash(body));
    let signature = hex(
        &signing_mac(&credentials.secret, &scope, &amz_date, &canonical)
            .finalize()
            .into_bytes(),
    );
    [
        ("x-amz-date", amz_date),
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-date, Signature={signature}",
                credentials.access_key
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_to_epoch_seconds() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20261121T013000Z"), Some(1_795_224_600));
        assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
        assert_eq!(parse_amz_date("2026-11-21T01:30:00Z"), None);
        assert_eq!(parse_amz_date("20261321T013000Z"), None);
    }

    #[test]
    fn amz_dates_format_back() {
        for s in [
            "19700101T000000Z",
            "20261121T013000Z",
            "20240229T235959Z",
            "21000301T120000Z",
            "30200101T010101Z",
        ] {
            let secs = parse_amz_date(s).unwrap();
            assert_eq!(format_amz_date(secs), s);
        }
    }

    const NOW: i64 = 1_795_224_600;

    fn keys() -> HashMap<String, String> {
        HashMap::from([("AKID".to_string(), "secret".to_string())])
    }

    fn creds(secret: &str) -> Credentials {
        Credentials {
            access_key: "AKID".into(),
            secret: secret.into(),
            region: "us-east-1".into(),
        }
    }

    /// Checks `signed` (the signer's headers plus `host`) against `body`.
    fn check(
        signed: &[(&'static str, String)],
        host: &str,
        path: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SigV4Error> {
        let hash = body_hash(body);
        let request = Request {
            path,
            header: |name: &str| {
                if name == "host" {
                    return vec![host];
                }
                signed
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
                    .collect()
            },
            body_hash: &hash,
        };
        verify(&keys(), &request, now)
    }

    #[test]
    fn a_signed_request_passes_and_any_change_to_it_fails() {
        let path = "/meridian.v1.Meridian/PutItem";
        let signed = sign(&creds("secret"), "127.0.0.1:7001", path, b"body", NOW);
        check(&signed, "127.0.0.1:7001", path, b"body", NOW).unwrap();
        // Within the 15 minutes either way.
        check(&signed, "127.0.0.1:7001", path, b"body", NOW + SKEW_SECS).unwrap();

        let bad = |r: Result<(), SigV4Error>| match r {
            Err(SigV4Error::Invalid(m)) => m,
            other => panic!("expected an invalid signature, got {other:?}"),
        };
        assert!(
            bad(check(&signed, "127.0.0.1:7001", path, b"bodx", NOW)).contains("does not match")
        );
        assert!(
            bad(check(
                &signed,
                "127.0.0.1:7001",
                "/meridian.v1.Meridian/DeleteItem",
                b"body",
                NOW
            ))
            .contains("does not match")
        );
        assert!(
            bad(check(&signed, "127.0.0.1:7002", path, b"body", NOW)).contains("does not match")
        );
        assert!(
            bad(check(
                &signed,
                "127.0.0.1:7001",
                path,
                b"body",
                NOW + SKEW_SECS + 1
            ))
            .starts_with("Signature expired")
        );
        let wrong = sign(&creds("other"), "127.0.0.1:7001", path, b"body", NOW);
        assert!(
            bad(check(&wrong, "127.0.0.1:7001", path, b"body", NOW)).contains("does not match")
        );
    }

    #[test]
    fn a_missing_header_or_unknown_key_is_its_own_refusal() {
        assert!(matches!(
            check(&[], "h", "/", b"", NOW),
            Err(SigV4Error::Missing(m)) if m == "Request is missing Authentication Token"
        ));
        let mut c = creds("secret");
        c.access_key = "NOBODY".into();
        let signed = sign(&c, "h", "/", b"", NOW);
        let err = check(&signed, "h", "/", b"", NOW).unwrap_err();
        assert_eq!(err.code(), "UnrecognizedClientException");
    }
}
