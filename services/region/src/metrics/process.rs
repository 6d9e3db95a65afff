//! The process metrics Prometheus' own client libraries export, under
//! their names (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! ...), so stock dashboards and alerts read a region like any other
//! process. Read from `/proc/self` at each scrape: Linux only; elsewhere the
//! region exports none of them (docs/operations.md).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/<pid>/stat`: Linux fixes `USER_HZ` at
/// 100 for what it shows userspace, whatever the kernel's own tick.
const USER_HZ: f64 = 100.0;

/// The collector, registered once per region's registry.
#[derive(Debug)]
pub struct Process;

/// One reading of the process; what could not be read is `None` and left
/// out of the scrape rather than shown as 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    /// Seconds since the epoch.
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    /// The soft limit on open files.
    pub max_fds: Option<u64>,
    /// The soft limit on the address space; `u64::MAX` when unlimited.
    pub virtual_max_bytes: Option<u64>,
}

impl Reading {
    /// Reads `/proc/self` now.
    pub fn now() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let boot = read("/proc/stat").and_then(|s| parse_boot_time(&s));
        let limits = read("/proc/self/limits");
        let limit = |name| limits.as_deref().and_then(|l| parse_limit(l, name));
        Reading {
            cpu_seconds: stat.map(|s| s.cpu_ticks as f64 / USER_HZ),
            resident_bytes: read("/proc/self/status").and_then(|s| parse_status_kb(&s, "VmRSS")),
            virtual_bytes: stat.map(|s| s.vsize),
            start_time_seconds: stat
                .zip(boot)
                .map(|(s, boot)| boot as f64 + s.start_ticks as f64 / USER_HZ),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: limit("Max open files"),
            virtual_max_bytes: limit("Max address space"),
        }
    }

    /// Writes the reading in the registry's encoding.
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(v) = self.cpu_seconds {
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(v).encode(m)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                self.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                self.virtual_bytes,
            ),
            (
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes",
                self.virtual_max_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                self.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                self.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(v).encode(m)?;
            }
        }
        if let Some(v) = self.start_time_seconds {
            let m = encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(v).encode(m)?;
        }
        Ok(())
    }
}

impl Collector for Process {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Reading::now().encode(encoder)
    }
}

/// The fields of `/proc/<pid>/stat` these metrics use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// When the process started, in clock ticks after boot.
    pub start_ticks: u64,
    /// Virtual memory size, bytes.
    pub vsize: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so fields are counted from
/// the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        start_ticks: field(22)?,
        vsize: field(23)?,
    })
}

/// `btime` of `/proc/stat`: the boot time, seconds since the epoch.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `Name: <n> kB` line of `/proc/<pid>/status`, in bytes.
pub fn parse_status_kb(text: &str, name: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    let kb = value
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kb.checked_mul(1024)
}

/// The soft limit of one resource of `/proc/<pid>/limits`; `u64::MAX` for
/// `unlimited`.
pub fn parse_limit(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(name))?;
    match line.split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name with spaces and a parenthesis does not shift the fields.
    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 75 0 0 20 0 9 0 123456 987654321 2500 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 17632 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                cpu_ticks: 325,
                start_ticks: 123456,
                vsize: 987654321,
            })
        );
        assert_eq!(parse_stat("4242 (cut) S 1 2 3"), None);
        assert_eq!(parse_stat("no name at all"), None);
    }

    #[test]
    fn boot_time_rss_and_limits_are_read_from_their_lines() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1763683200\nprocesses 9\n"),
            Some(1763683200)
        );
        assert_eq!(parse_boot_time("cpu 1\n"), None);
        let status = "Name:\tmeridian\nVmSize:\t  200000 kB\nVmRSS:\t   51200 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(51200 * 1024));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max address space         unlimited            unlimited            bytes     \n\
                      Max open files            1024                 1048576              files     \n";
        assert_eq!(parse_limit(limits, "Max open files"), Some(1024));
        assert_eq!(parse_limit(limits, "Max address space"), Some(u64::MAX));
        assert_eq!(parse_limit(limits, "Max processes"), None);
    }

    /// This process, read for real: plausible values, and every one of
    /// them present on Linux.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read_from_proc() {
        let r = Reading::now();
        assert!(r.resident_bytes.is_some_and(|b| b > 0), "{r:?}");
        assert!(r.virtual_bytes >= r.resident_bytes, "{r:?}");
        assert!(r.cpu_seconds.is_some(), "{r:?}");
        assert!(r.open_fds.is_some_and(|n| n >= 3), "{r:?}");
        assert!(r.max_fds.is_some_and(|n| n >= r.open_fds.unwrap()), "{r:?}");
        assert!(r.virtual_max_bytes.is_some(), "{r:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = r.start_time_seconds.expect("start time");
        assert!(
            started <= now + 1.0 && started > now - 86_400.0 * 365.0,
            "{r:?}"
        );
    }
}
