//! A failover endpoint's settings (docs/failover.md): the cluster file's
//! `[failover]` section, one more DynamoDB endpoint that `meridian up`
//! serves, forwarding every request to the first region of `regions` and,
//! when that region stops answering its health check, to the next one, as
//! a Route 53 failover record (health check interval, failure threshold,
//! record TTL) or an application-level router in front of DynamoDB global
//! tables does; and when it moves, as settings: the interval, threshold
//! and TTL, their defaults and their limits. One rule for the cluster
//! file's section (the endpoint `meridian up` serves) and a scenario's (the
//! endpoint a simulated drill models), so both take the same values and
//! refuse the same ones alike. The endpoint itself is
//! `meridian_cluster::failover`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Health checks come at least this often: Route 53's fastest is every
/// 10 s; below 100 ms a laptop's scheduler noise decides.
pub const MIN_INTERVAL_MS: u64 = 100;
/// And at most this far apart (Route 53's slowest is every 30 s).
pub const MAX_INTERVAL_MS: u64 = 60_000;
/// Route 53 takes a failure threshold from 1 to 10.
pub const MAX_FAILURE_THRESHOLD: u32 = 10;
/// The longest TTL taken: one day.
pub const MAX_TTL_MS: u64 = 86_400_000;

/// The defaults, laptop-scaled (AWS's are in docs/failover.md).
pub const DEFAULT_INTERVAL_MS: u64 = 1_000;
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_TTL_MS: u64 = 5_000;

/// Checks the three timings of a section whose fields are named
/// `<section>.interval_ms` and so on; the error names the field and its
/// limit.
pub fn check_timing(
    section: &str,
    interval_ms: u64,
    failure_threshold: u32,
    ttl_ms: u64,
) -> Result<(), String> {
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&interval_ms) {
        return Err(format!(
            "{section}.interval_ms must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS} (Route 53 checks every 10000 or 30000), got {interval_ms}"
        ));
    }
    if !(1..=MAX_FAILURE_THRESHOLD).contains(&failure_threshold) {
        return Err(format!(
            "{section}.failure_threshold must be between 1 and {MAX_FAILURE_THRESHOLD}, as Route 53 takes it, got {failure_threshold}"
        ));
    }
    if ttl_ms > MAX_TTL_MS {
        return Err(format!(
            "{section}.ttl_ms must be at most {MAX_TTL_MS} (one day), got {ttl_ms}"
        ));
    }
    Ok(())
}

/// Checks a section's `regions` against the regions there are: at least a
/// home and one to fail over to, each known, none twice.
pub fn check_regions(section: &str, regions: &[String], known: &[&str]) -> Result<(), String> {
    if regions.len() < 2 {
        return Err(format!(
            "{section}.regions needs at least 2 regions (a home and one to fail over to), got {}",
            regions.len()
        ));
    }
    for (i, name) in regions.iter().enumerate() {
        if regions[..i].contains(name) {
            return Err(format!("{section}.regions lists {name} twice"));
        }
        if !known.contains(&name.as_str()) {
            return Err(format!(
                "{section}.regions names {name:?}, which is no region here (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Where the endpoint listens, the regions it may forward to (home first)
/// and when it moves. Defaults are laptop-scaled; AWS's are in
/// docs/failover.md.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSection {
    /// The endpoint's address, a DynamoDB endpoint like any region's.
    pub listen: SocketAddr,
    /// The regions in failover order: the first is the home, each next one
    /// takes over when the one before it is unhealthy. Every one needs a
    /// `dynamo` address.
    pub regions: Vec<String>,
    /// Time between two health checks of each region (Route 53: 10 or
    /// 30 seconds).
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Consecutive failed checks that make a healthy region unhealthy, and
    /// consecutive answered ones that make it healthy again (Route 53: 1 to
    /// 10, default 3).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long clients keep sending to a region after it is declared
    /// unhealthy, as clients holding a cached DNS answer do until the
    /// record's TTL passes.
    #[serde(default = "default_ttl_ms")]
    pub ttl_ms: u64,
    /// A check fails unless the region answers within this long (Route 53:
    /// a TCP connection within 4 s, then a 2xx or 3xx status within 2 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_interval_ms() -> u64 {
    DEFAULT_INTERVAL_MS
}

fn default_failure_threshold() -> u32 {
    DEFAULT_FAILURE_THRESHOLD
}

fn default_ttl_ms() -> u64 {
    DEFAULT_TTL_MS
}

fn default_timeout_ms() -> u64 {
    1_000
}

impl FailoverSection {
    /// A section with the defaults `load` fills in.
    pub fn new(listen: SocketAddr, regions: Vec<String>) -> Self {
        FailoverSection {
            listen,
            regions,
            interval_ms: default_interval_ms(),
            failure_threshold: default_failure_threshold(),
            ttl_ms: default_ttl_ms(),
            timeout_ms: default_timeout_ms(),
        }
    }

    /// Checks the section against the file's regions (`(name, dynamo
    /// address)` in file order) and the addresses the file's other
    /// listeners take; each error names the field and its limit.
    pub fn validate(
        &self,
        regions: &[(&str, Option<SocketAddr>)],
        taken: &[SocketAddr],
    ) -> Result<(), String> {
        let names: Vec<&str> = regions.iter().map(|r| r.0).collect();
        check_regions("failover", &self.regions, &names)?;
        if let Some(name) = self
            .regions
            .iter()
            .find(|n| regions.iter().any(|r| r.0 == n.as_str() && r.1.is_none()))
        {
            return Err(format!(
                "failover.regions names {name}, which has no dynamo address to forward to"
            ));
        }
        check_timing(
            "failover",
            self.interval_ms,
            self.failure_threshold,
            self.ttl_ms,
        )?;
        if !(1..=self.interval_ms).contains(&self.timeout_ms) {
            return Err(format!(
                "failover.timeout_ms must be between 1 and failover.interval_ms ({}), got {}",
                self.interval_ms, self.timeout_ms
            ));
        }
        crate::own_port("failover.listen", self.listen, taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_and_regions_are_refused_naming_the_field_and_its_limit() {
        assert_eq!(check_timing("f", 1_000, 3, 5_000), Ok(()));
        for (t, wanted) in [
            ((99, 3, 0), "f.interval_ms must be between 100 and 60000"),
            (
                (60_001, 3, 0),
                "f.interval_ms must be between 100 and 60000",
            ),
            (
                (1_000, 0, 0),
                "f.failure_threshold must be between 1 and 10",
            ),
            (
                (1_000, 11, 0),
                "f.failure_threshold must be between 1 and 10",
            ),
            (
                (1_000, 3, MAX_TTL_MS + 1),
                "f.ttl_ms must be at most 86400000",
            ),
        ] {
            let err = check_timing("f", t.0, t.1, t.2).unwrap_err();
            assert!(err.starts_with(wanted), "{err}");
        }
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let known = ["a", "b", "c"];
        assert_eq!(check_regions("f", &names(&["a", "c"]), &known), Ok(()));
        for (regions, wanted) in [
            (&["a"][..], "f.regions needs at least 2 regions"),
            (&["a", "a"][..], "f.regions lists a twice"),
            (
                &["a", "z"][..],
                "f.regions names \"z\", which is no region here (known: a, b, c)",
            ),
        ] {
            let err = check_regions("f", &names(regions), &known).unwrap_err();
            assert!(err.starts_with(wanted), "{err}");
        }
    }
}

#[cfg(test)]
mod section_tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn check(f: &FailoverSection) -> Result<(), String> {
        let regions = [
            ("a", Some(addr(8101))),
            ("b", Some(addr(8102))),
            ("c", None),
        ];
        f.validate(&regions, &[addr(8101), addr(8102), addr(8474)])
    }

    /// One change to a valid section.
    type Change = fn(&mut FailoverSection);

    fn section() -> FailoverSection {
        FailoverSection::new(addr(8100), vec!["a".into(), "b".into()])
    }

    #[test]
    fn the_defaults_pass() {
        assert_eq!(check(&section()), Ok(()));
    }

    #[test]
    fn each_error_names_the_field_and_its_limit() {
        let cases: [(Change, &str); 9] = [
            (
                |f| f.regions = vec!["a".into()],
                "failover.regions needs at least 2",
            ),
            (
                |f| f.regions.push("zz".into()),
                "\"zz\", which is no region here",
            ),
            (|f| f.regions.push("a".into()), "lists a twice"),
            (
                |f| f.regions.push("c".into()),
                "c, which has no dynamo address",
            ),
            (
                |f| f.interval_ms = 0,
                "failover.interval_ms must be between 100 and 60000",
            ),
            (
                |f| f.failure_threshold = 0,
                "failover.failure_threshold must be between 1 and 10",
            ),
            (
                |f| f.failure_threshold = 11,
                "failover.failure_threshold must be between 1 and 10",
            ),
            (
                |f| f.timeout_ms = 5_000,
                "failover.timeout_ms must be between 1 and failover.interval_ms (1000)",
            ),
            (
                |f| f.listen = addr(8474),
                "failover.listen 127.0.0.1:8474 takes the port",
            ),
        ];
        for (change, want) in cases {
            let mut f = section();
            change(&mut f);
            let err = check(&f).unwrap_err();
            assert!(err.contains(want), "{err:?} does not contain {want:?}");
        }
        let mut f = section();
        f.ttl_ms = MAX_TTL_MS + 1;
        assert!(
            check(&f)
                .unwrap_err()
                .contains("failover.ttl_ms must be at most")
        );
    }
}
