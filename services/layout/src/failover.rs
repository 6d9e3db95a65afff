//! When a failover endpoint moves, as settings: the health-check interval,
//! the failure threshold and the TTL of a Route 53 failover record
//! (docs/failover.md), their defaults and their limits. One rule for the
//! cluster file's `[failover]` section (the endpoint `meridian up` serves)
//! and a scenario's (the endpoint a simulated drill models), so both take
//! the same values and refuse the same ones alike.

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
