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
    // Lowercase, as SigV4 wants it.
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// How far a request's `X-Amz-Date` may be from the server's time, either
/// way, as in AWS.
const SKEW_SECS: i64 = 15 * 60;

/// Requests signed more than 15 minutes from now are refused, as in AWS, so
/// a captured request cannot be replayed later; the messages are AWS's.
fn check_fresh(amz_date: &str) -> Result<(), ApiError> {
    let signed = parse_amz_date(amz_date)
        .ok_or_else(|| denied(format!("X-Amz-Date {amz_date:?} is not YYYYMMDDTHHMMSSZ")))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let at = format_amz_date;
    if signed < now - SKEW_SECS {
        return Err(denied(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            at(now - SKEW_SECS),
            at(now)
        )));
    }
    if signed > now + SKEW_SECS {
        return Err(denied(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            at(now + SKEW_SECS),
            at(now)
        )));
    }
    Ok(())
}

/// Seconds since the epoch to `YYYYMMDDTHHMMSSZ`, the inverse of
/// [`parse_amz_date`] (Howard Hinnant's civil-from-days).
fn format_amz_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYYMMDDTHHMMSSZ` to seconds since the epoch.
fn parse_amz_date(s: &str) -> Option<i64> {
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
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
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
    // Components are separated by commas, whitespace or both.
    for part in rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part
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
    // As AWS: a stale or future date is refused before the key is looked up.
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| denied("Request is missing the X-Amz-Date header"))?;
    check_fresh(amz_date)?;
    let secret = keys.get(auth.access_key).ok_or_else(|| {
        ApiError::new(
            Kind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        )
    })?;
    // The scope must be today's, for this service, and complete.
    let scope: Vec<&str> = auth.scope.split('/').collect();
    if scope.len() != 4
        || scope[0] != amz_date.get(..8).unwrap_or_default()
        || scope[2] != "dynamodb"
        || scope[3] != "aws4_request"
    {
        return Err(denied(format!(
            "Credential should be scoped to a valid date, region, the dynamodb service and aws4_request: {}",
            auth.scope
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(denied(format!("'{required}' must be a signed header")));
        }
    }
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
    let provided = decode_hex(auth.signature).ok_or_else(|| denied("Signature is not hex"))?;
    let mut mac = HmacSha256::new_from_slice(&k_signing).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    // verify_slice compares in constant time.
    if mac.verify_slice(&provided).is_err() {
        return Err(denied(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn amz_dates_parse_to_epoch_seconds() {
        assert_eq!(super::parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(
            super::parse_amz_date("20261121T013000Z"),
            Some(1_795_224_600)
        );
        assert_eq!(
            super::parse_amz_date("20240229T235959Z"),
            Some(1_709_251_199)
        );
        assert_eq!(super::parse_amz_date("2026-11-21T01:30:00Z"), None);
        assert_eq!(super::parse_amz_date("20261321T013000Z"), None);
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
            let secs = super::parse_amz_date(s).unwrap();
            assert_eq!(super::format_amz_date(secs), s);
        }
    }
}
