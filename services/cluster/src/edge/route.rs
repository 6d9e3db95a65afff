//! Where the edge sends a request, from its head alone (pure, so every
//! case is a unit test): to the region its SigV4 credential scope names,
//! read from the `Authorization` header's `Credential=` or, for
//! query-string signing, from the `X-Amz-Credential` parameter; an
//! unsigned request to the cluster's first region. A scope naming a region
//! the cluster lacks, another service, or no parsable scope at all is
//! refused, in AWS's words where AWS has them (IAM user guide,
//! *Troubleshoot signed requests for AWS APIs*, "Credential scope
//! errors"), and nothing is forwarded.

use hyper::StatusCode;
use meridian_core::sigv4;

/// The signing name of DynamoDB and of DynamoDB Streams alike.
pub const SERVICE: &str = "dynamodb";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The region's place in the cluster file.
    pub index: usize,
    /// Whether a credential scope chose it (`false`: unsigned, the first
    /// region by default).
    pub signed: bool,
}

/// Why a request is not forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The scope names a region the cluster does not have.
    UnknownRegion { region: String, known: Vec<String> },
    /// The scope names another service than DynamoDB.
    WrongService { service: String },
    /// An `Authorization` header or `X-Amz-Credential` with no parsable
    /// credential scope.
    Malformed { why: String },
}

/// The labels of the refusals' counters, in [`Refusal::index`] order.
pub const REASONS: [&str; 3] = ["unknown_region", "wrong_service", "malformed"];

impl Refusal {
    /// This refusal's place in [`REASONS`].
    pub fn index(&self) -> usize {
        match self {
            Refusal::UnknownRegion { .. } => 0,
            Refusal::WrongService { .. } => 1,
            Refusal::Malformed { .. } => 2,
        }
    }

    /// The label of this refusal's counter.
    pub fn reason(&self) -> &'static str {
        REASONS[self.index()]
    }

    /// The answer: status, DynamoDB error type and message. A region
    /// refuses a bad signature with `InvalidSignatureException`, HTTP 403;
    /// the edge answers in the same shape, AWS's sentence first.
    pub fn answer(&self) -> (StatusCode, &'static str, String) {
        let message = match self {
            Refusal::UnknownRegion { region, known } => format!(
                "Credential should be scoped to a valid region, not '{region}'. \
                 This cluster's regions are {}; the edge sends each request to the region its credential scope names (docs/edge.md).",
                known.join(", ")
            ),
            Refusal::WrongService { service } => format!(
                "Credential should be scoped to correct service: '{SERVICE}'. \
                 The edge serves DynamoDB and DynamoDB Streams only; this request is signed for '{service}' (docs/edge.md)."
            ),
            Refusal::Malformed { why } => format!(
                "{why}. The edge sends each request to the region its credential scope names \
                 (Credential=<key>/<date>/<region>/dynamodb/aws4_request) and sends none without a parsable one (docs/edge.md)."
            ),
        };
        (StatusCode::FORBIDDEN, "InvalidSignatureException", message)
    }
}

/// Where a request with this `Authorization` header and query string goes
/// among `regions` (the cluster file's, in order). The header wins over
/// the query string, as a region's signature check reads it.
pub fn decide<S: AsRef<str>>(
    authorization: Option<&str>,
    query: Option<&str>,
    regions: &[S],
) -> Result<Route, Refusal> {
    let scope = match (authorization, query.and_then(query_credential)) {
        (Some(header), _) => sigv4::credential_scope(header)
            .map_err(|e| Refusal::Malformed { why: e.to_string() })?
            .to_string(),
        (None, Some(credential)) => {
            let credential = credential?;
            match credential.split_once('/') {
                Some((_, scope)) => scope.to_string(),
                None => {
                    return Err(Refusal::Malformed {
                        why: format!("Malformed X-Amz-Credential {credential:?}"),
                    });
                }
            }
        }
        (None, None) => {
            return Ok(Route {
                index: 0,
                signed: false,
            });
        }
    };
    let parts: Vec<&str> = scope.split('/').collect();
    let [_date, region, service, "aws4_request"] = parts[..] else {
        return Err(Refusal::Malformed {
            why: format!(
                "Malformed credential scope {scope:?}, not <date>/<region>/<service>/aws4_request"
            ),
        });
    };
    if service != SERVICE {
        return Err(Refusal::WrongService {
            service: service.to_string(),
        });
    }
    match regions.iter().position(|r| r.as_ref() == region) {
        Some(index) => Ok(Route {
            index,
            signed: true,
        }),
        None => Err(Refusal::UnknownRegion {
            region: region.to_string(),
            known: regions.iter().map(|r| r.as_ref().to_string()).collect(),
        }),
    }
}

/// The `X-Amz-Credential` parameter of a query string, percent-decoded;
/// `Some(Err)` when it is there but does not decode.
fn query_credential(query: &str) -> Option<Result<String, Refusal>> {
    let value = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "X-Amz-Credential")?
        .1;
    Some(percent_decode(value).ok_or_else(|| Refusal::Malformed {
        why: format!("X-Amz-Credential {value:?} is not percent-encoded UTF-8"),
    }))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];

    fn header(scope: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/{scope}, SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }

    fn signed(index: usize) -> Result<Route, Refusal> {
        Ok(Route {
            index,
            signed: true,
        })
    }

    #[test]
    fn a_header_scope_picks_its_region() {
        for (i, r) in REGIONS.iter().enumerate() {
            let h = header(&format!("20261129/{r}/dynamodb/aws4_request"));
            assert_eq!(decide(Some(&h), None, &REGIONS), signed(i), "{r}");
        }
    }

    #[test]
    fn a_query_string_scope_picks_its_region() {
        let q = "Action=x&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261129%2Feu-west-1%2Fdynamodb%2Faws4_request&X-Amz-Signature=abc";
        assert_eq!(decide(None, Some(q), &REGIONS), signed(1));
        let plain = "X-Amz-Credential=AKID/20261129/ap-southeast-1/dynamodb/aws4_request";
        assert_eq!(decide(None, Some(plain), &REGIONS), signed(2));
    }

    #[test]
    fn the_header_wins_over_the_query_string() {
        let h = header("20261129/ap-southeast-1/dynamodb/aws4_request");
        let q = "X-Amz-Credential=AKID%2F20261129%2Feu-west-1%2Fdynamodb%2Faws4_request";
        assert_eq!(decide(Some(&h), Some(q), &REGIONS), signed(2));
    }

    #[test]
    fn unsigned_goes_to_the_first_region() {
        let first = Ok(Route {
            index: 0,
            signed: false,
        });
        assert_eq!(decide::<&str>(None, None, &REGIONS), first);
        assert_eq!(decide(None, Some("a=b&c"), &REGIONS), first);
    }

    #[test]
    fn an_unknown_region_is_refused_naming_it_and_the_known_ones() {
        let h = header("20261129/us-west-2/dynamodb/aws4_request");
        let refusal = decide(Some(&h), None, &REGIONS).unwrap_err();
        assert_eq!(refusal.reason(), "unknown_region");
        let (status, kind, message) = refusal.answer();
        assert_eq!(
            (status, kind),
            (StatusCode::FORBIDDEN, "InvalidSignatureException")
        );
        assert!(
            message.starts_with("Credential should be scoped to a valid region, not 'us-west-2'. "),
            "{message}"
        );
        assert!(
            message.contains("us-east-1, eu-west-1, ap-southeast-1"),
            "{message}"
        );
        // Region names are compared exactly, as AWS's are.
        let h = header("20261129/US-EAST-1/dynamodb/aws4_request");
        assert_eq!(
            decide(Some(&h), None, &REGIONS).unwrap_err().reason(),
            "unknown_region"
        );
    }

    #[test]
    fn another_service_is_refused_naming_it() {
        let h = header("20261129/us-east-1/s3/aws4_request");
        let refusal = decide(Some(&h), None, &REGIONS).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::WrongService {
                service: "s3".into()
            }
        );
        let (_, _, message) = refusal.answer();
        assert!(
            message.starts_with("Credential should be scoped to correct service: 'dynamodb'. "),
            "{message}"
        );
        assert!(message.contains("signed for 's3'"), "{message}");
    }

    #[test]
    fn a_header_or_parameter_without_a_parsable_scope_is_refused() {
        let cases = [
            (Some("Bearer token"), None, "AWS4-HMAC-SHA256"),
            (
                Some("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc"),
                None,
                "no Credential",
            ),
            (
                Some(
                    "AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1, SignedHeaders=host, Signature=abc",
                ),
                None,
                "Malformed credential scope",
            ),
            (
                Some(
                    "AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/dynamodb/aws4_request/x, SignedHeaders=host, Signature=abc",
                ),
                None,
                "Malformed credential scope",
            ),
            (
                None,
                Some("X-Amz-Credential=AKID"),
                "Malformed X-Amz-Credential",
            ),
            (None, Some("X-Amz-Credential=%ZZ"), "not percent-encoded"),
            (
                None,
                Some("X-Amz-Credential=AKID%2F20261129%2Fus-east-1"),
                "Malformed credential scope",
            ),
        ];
        for (authorization, query, want) in cases {
            let refusal = decide(authorization, query, &REGIONS).unwrap_err();
            assert_eq!(refusal.reason(), "malformed", "{authorization:?} {query:?}");
            let (status, _, message) = refusal.answer();
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(message.contains(want), "{message:?} lacks {want:?}");
        }
    }
}
