//! Where the endpoints are: `--endpoint NAME=URL` or a Meridian cluster file.
//!
//! A cluster file is read as the cluster reads its layout
//! ([`meridian_layout::Layout`]: each `[[region]]`, `[netsim]`,
//! `ttl_interval_ms`), without the region's code; every other key is
//! ignored, so the file can grow keys (the replication profile keys among
//! them) without this checker knowing them.

use std::path::Path;

use meridian_layout::{Layout, dial};

use crate::ConfError;

/// One regional DynamoDB endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The region's name, as DynamoDB's `RegionName` (`us-east-1`).
    pub name: String,
    /// `http://host:port` or `https://dynamodb.<region>.amazonaws.com`.
    pub url: String,
}

impl Endpoint {
    /// Spoken over TLS, and signed with the credentials the AWS CLI would
    /// find (crate::credentials) rather than dummies.
    pub fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }

    /// An `https` endpoint under one of AWS's DNS domains is taken to be
    /// real AWS: its waits poll less often, and a TTL expiry that does not
    /// arrive in time is a SKIP (AWS documents deletion "typically within
    /// two days"), never a FAIL. Meridian behind a TLS terminator is not.
    pub fn is_real_aws(&self) -> bool {
        let Some(rest) = self.url.strip_prefix("https://") else {
            return false;
        };
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        AWS_DOMAINS
            .iter()
            .any(|(_, d)| host.ends_with(&format!(".{d}")))
    }
}

/// AWS partitions' DNS suffixes by region prefix, the commercial one
/// last as the fallback (the SDKs' endpoint rules: `dynamodb.{region}.{dnsSuffix}`).
const AWS_DOMAINS: [(&str, &str); 4] = [
    ("cn-", "amazonaws.com.cn"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("", "amazonaws.com"),
];

/// `--aws us-east-1,us-west-2`: each region's public DynamoDB endpoint,
/// `https://dynamodb.<region>.amazonaws.com` (`.com.cn` in China).
pub fn parse_aws_regions(list: &str) -> Result<Vec<Endpoint>, ConfError> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim) {
        let well_formed = name.len() <= 32
            && name.contains('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
            && name.ends_with(|c: char| c.is_ascii_digit());
        if !well_formed {
            return Err(ConfError::Arg(format!(
                "--aws {list:?}: {name:?} is not a region name (lowercase letters, digits and dashes, \
                 ending in a digit, as us-east-1), comma-separated"
            )));
        }
        let (_, domain) = AWS_DOMAINS
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .expect("the last domain matches every name");
        out.push(Endpoint {
            name: name.into(),
            url: format!("https://dynamodb.{name}.{domain}"),
        });
    }
    Ok(out)
}

/// Parses `NAME=URL` (`us-east-1=http://127.0.0.1:8101`).
pub fn parse_endpoint(s: &str) -> Result<Endpoint, ConfError> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| ConfError::Arg(format!("--endpoint {s:?}: expected NAME=URL")))?;
    let (name, url) = (name.trim(), url.trim());
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(ConfError::Arg(format!(
            "--endpoint {s:?}: the region name is empty or has spaces"
        )));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConfError::Arg(format!(
            "--endpoint {s:?}: the URL must start with http:// or https://"
        )));
    }
    Ok(Endpoint {
        name: name.into(),
        url: url.trim_end_matches('/').into(),
    })
}

/// What a cluster file says about endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterInfo {
    pub endpoints: Vec<Endpoint>,
    /// The fault API (`[netsim] api`) as a URL, when the file has one.
    pub fault_api: Option<String>,
    /// How often each region expires items (`ttl_interval_ms`, 5000 when
    /// absent as in Meridian's default).
    pub ttl_interval_ms: u64,
}

/// Meridian's default TTL reaper interval (docs/operations.md).
pub const DEFAULT_TTL_INTERVAL_MS: u64 = meridian_layout::DEFAULT_TTL_INTERVAL_MS;

/// Reads a cluster file.
pub fn read_cluster_file(path: &Path) -> Result<ClusterInfo, ConfError> {
    let layout = Layout::read(path).map_err(|e| ConfError::Cluster(e.to_string()))?;
    info(layout).map_err(|e| match e {
        ConfError::Cluster(m) => ConfError::Cluster(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Parses a cluster file's text.
pub fn parse_cluster(text: &str) -> Result<ClusterInfo, ConfError> {
    info(Layout::parse(text).map_err(|e| ConfError::Cluster(e.to_string()))?)
}

/// The endpoints of a cluster's layout: each region's DynamoDB endpoint
/// and the link proxy's control API, dialled where the cluster's own
/// clients dial them.
fn info(layout: Layout) -> Result<ClusterInfo, ConfError> {
    let mut endpoints = Vec::new();
    for r in &layout.regions {
        let addr = r.dynamo.ok_or_else(|| {
            ConfError::Cluster(format!("region {} has no `dynamo` address", r.name))
        })?;
        endpoints.push(Endpoint {
            name: r.name.clone(),
            url: format!("http://{}", dial(addr)),
        });
    }
    if endpoints.is_empty() {
        return Err(ConfError::Cluster("no [[region]] entries".into()));
    }
    Ok(ClusterInfo {
        endpoints,
        fault_api: layout
            .netsim
            .as_ref()
            .map(|n| format!("http://{}", n.api_dial())),
        ttl_interval_ms: layout.ttl_interval_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_flags_parse_and_refuse_nonsense() {
        let e = parse_endpoint("us-east-1=http://127.0.0.1:8101/").unwrap();
        assert_eq!(
            e,
            Endpoint {
                name: "us-east-1".into(),
                url: "http://127.0.0.1:8101".into()
            }
        );
        assert!(!e.is_real_aws() && !e.is_https());
        let aws = parse_endpoint("eu-west-1=https://dynamodb.eu-west-1.amazonaws.com").unwrap();
        assert!(aws.is_real_aws() && aws.is_https());
        // Meridian behind a TLS terminator is https but not AWS.
        let local = parse_endpoint("us-east-1=https://localhost:8443").unwrap();
        assert!(local.is_https() && !local.is_real_aws());
        assert!(
            !parse_endpoint("a=https://amazonaws.com.evil.example")
                .unwrap()
                .is_real_aws()
        );
        assert!(parse_endpoint("us-east-1").is_err());
        assert!(parse_endpoint("=http://x").is_err());
        assert!(parse_endpoint("us-east-1=127.0.0.1:8101").is_err());
    }

    #[test]
    fn aws_regions_name_their_public_endpoints() {
        let e = parse_aws_regions("us-east-1, us-east-2,us-west-2").unwrap();
        let urls: Vec<_> = e
            .iter()
            .map(|e| (e.name.as_str(), e.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("us-east-1", "https://dynamodb.us-east-1.amazonaws.com"),
                ("us-east-2", "https://dynamodb.us-east-2.amazonaws.com"),
                ("us-west-2", "https://dynamodb.us-west-2.amazonaws.com"),
            ]
        );
        assert!(e.iter().all(Endpoint::is_real_aws));
        let cn = parse_aws_regions("cn-north-1").unwrap();
        assert_eq!(cn[0].url, "https://dynamodb.cn-north-1.amazonaws.com.cn");
        assert!(cn[0].is_real_aws());
        for bad in [
            "",
            "us-east-1,",
            "US-EAST-1",
            "us east 1",
            "useast",
            "us-east-1/x",
            "-us-1",
        ] {
            let err = parse_aws_regions(bad).unwrap_err().to_string();
            assert!(
                err.contains("--aws") && err.contains("not a region name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_shipped_cluster_file_gives_three_endpoints_and_the_fault_api() {
        let text = include_str!("../../../regions/local-3.toml");
        let c = parse_cluster(text).unwrap();
        let names: Vec<_> = c.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["us-east-1", "eu-west-1", "ap-southeast-1"]);
        assert_eq!(c.endpoints[1].url, "http://127.0.0.1:8102");
        assert_eq!(c.fault_api.as_deref(), Some("http://127.0.0.1:8474"));
        assert_eq!(c.ttl_interval_ms, DEFAULT_TTL_INTERVAL_MS);
    }

    #[test]
    fn unknown_keys_are_tolerated_and_wildcards_become_loopback() {
        let text = r#"
            name = "x"
            replication_order = "partition"
            replication_lane_delay_ms = 4.5
            ttl_interval_ms = 250
            [profile]
            latency_ms = { "a>b" = 3.0 }
            [[region]]
            name = "a"
            dynamo = "0.0.0.0:9000"
            grpc = "127.0.0.1:1"
        "#;
        let c = parse_cluster(text).unwrap();
        assert_eq!(c.endpoints[0].url, "http://127.0.0.1:9000");
        assert_eq!(c.fault_api, None);
        assert_eq!(c.ttl_interval_ms, 250);
    }

    #[test]
    fn a_region_without_dynamo_is_an_error() {
        assert!(parse_cluster("[[region]]\nname = \"a\"\n").is_err());
        assert!(parse_cluster("name = \"empty\"\n").is_err());
    }
}
