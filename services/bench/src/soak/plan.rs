//! What `bench soak` runs, as a drill scenario: the workload (overwrites,
//! deletes and conditional updates over a bounded key space, TTL and a
//! stream on) and the fault timeline, one fault a period cycling through
//! added latency, a partition, a crash and restart, and a clock skew. The
//! first and the last period carry no fault: the soak compares replication
//! latency in the one with that in the other. Pure: the text is parsed by
//! the drill's own scenario parser, which checks every field's limits.

use std::fmt::Write as _;
use std::time::Duration;

/// The longest soak: a scenario's workload lasts at most an hour.
pub(super) const MAX_MINUTES: u64 = 60;

/// How a soak is paced.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Plan {
    /// How long the workload runs.
    pub(super) duration: Duration,
    /// One fault starts every period (a minute; two seconds under
    /// `--smoke`), after the first.
    pub(super) period: Duration,
    /// How long each fault lasts before it is undone.
    pub(super) fault_for: Duration,
    /// Time between two samples of every region.
    pub(super) sample: Duration,
}

impl Plan {
    /// `minutes` of workload (1 to [`MAX_MINUTES`]); a few seconds under
    /// `smoke`, with faults every two seconds and a sample every second.
    pub(super) fn new(smoke: bool, minutes: u64) -> Result<Plan, String> {
        if smoke {
            return Ok(Plan {
                duration: Duration::from_secs(12),
                period: Duration::from_secs(2),
                fault_for: Duration::from_secs(1),
                sample: Duration::from_secs(1),
            });
        }
        if !(1..=MAX_MINUTES).contains(&minutes) {
            return Err(format!(
                "--minutes must be 1 to {MAX_MINUTES}, got {minutes}"
            ));
        }
        Ok(Plan {
            duration: Duration::from_secs(60 * minutes),
            period: Duration::from_secs(60),
            fault_for: Duration::from_secs(15),
            sample: Duration::from_secs(10),
        })
    }

    /// How many periods the workload spans.
    pub(super) fn periods(&self) -> u64 {
        (self.duration.as_millis() / self.period.as_millis().max(1)) as u64
    }

    /// Samples taken at 0, one interval, ... up to the end: their count.
    pub(super) fn samples(&self) -> u64 {
        (self.duration.as_millis() / self.sample.as_millis().max(1)) as u64 + 1
    }

    /// The fault timeline as scenario `[[event]]` tables: in every period
    /// but the first and the last, a fault at its start, undone
    /// `fault_for` later. The kinds take turns (latency, partition, crash,
    /// skew), and each round of four moves to other regions.
    pub(super) fn events(&self, names: &[String]) -> String {
        let mut out = String::new();
        let n = names.len().max(1);
        for k in 1..self.periods().saturating_sub(1) {
            let i = (k - 1) as usize;
            let round = i / 4;
            let (a, b) = (&names[round % n], &names[(round + 1) % n]);
            let r = &names[(round + 2) % n];
            let at = self.period * k as u32;
            let end = at + self.fault_for;
            let (start, stop) = match i % 4 {
                0 => (
                    format!(
                        "action = \"latency\"\nfrom = \"{a}\"\nto = \"{b}\"\nboth = true\nlatency = \"40ms\"\n"
                    ),
                    format!("action = \"clear\"\nfrom = \"{a}\"\nto = \"{b}\"\n"),
                ),
                1 => (
                    format!("action = \"partition\"\nfrom = \"{a}\"\nto = \"{b}\"\nboth = true\n"),
                    format!("action = \"heal\"\nfrom = \"{a}\"\nto = \"{b}\"\n"),
                ),
                2 => (
                    format!("action = \"crash\"\nregion = \"{r}\"\n"),
                    format!("action = \"restart\"\nregion = \"{r}\"\n"),
                ),
                _ => (
                    format!("action = \"skew\"\nregion = \"{r}\"\noffset = \"+250ms\"\n"),
                    format!("action = \"skew\"\nregion = \"{r}\"\noffset_ms = 0\n"),
                ),
            };
            for (when, what) in [(at, start), (end, stop)] {
                let _ = write!(out, "\n[[event]]\nat = \"{}ms\"\n{what}", when.as_millis());
            }
        }
        out
    }

    /// The whole scenario: `rate` operations per second in each region of
    /// `names` over `keys` keys, at most `concurrency` in flight each.
    pub(super) fn scenario(
        &self,
        names: &[String],
        rate: u32,
        keys: u64,
        concurrency: usize,
        table: &str,
    ) -> String {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        // Loopback between every pair: the faults add what latency there is.
        let mut rtt = String::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                let _ = writeln!(rtt, "rtt_ms.\"{a}\".\"{b}\" = 0");
            }
        }
        format!(
            "name = \"soak\"\n\
             description = \"meridian bench soak: overwrites, deletes and conditional updates with TTL and a stream on, a fault every {}s\"\n\
             duration = \"{}ms\"\n\
             settle = \"{}s\"\n\
             sample_interval = \"1s\"\n\
             \n[regions]\nnames = [{}]\n{rtt}\
             \n[workload]\ntable = \"{table}\"\nrate_per_region = {rate}\nkeys = {keys}\n\
             mix = {{ put = 5, update = 3, delete = 2 }}\nconcurrency = {concurrency}\n\
             stream = \"NEW_AND_OLD_IMAGES\"\nttl = true\n{}",
            self.period.as_secs(),
            self.duration.as_millis(),
            if self.period < Duration::from_secs(60) {
                60
            } else {
                300
            },
            quoted.join(", "),
            self.events(names)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_scenario::scenario::{Action, Scenario};

    fn names() -> Vec<String> {
        ["us-east-1", "eu-west-1", "ap-southeast-1"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn minutes_out_of_range_are_refused_by_name() {
        for bad in [0, MAX_MINUTES + 1] {
            let e = Plan::new(false, bad).unwrap_err();
            assert!(
                e.contains("--minutes") && e.contains(&bad.to_string()),
                "{e}"
            );
        }
        assert_eq!(Plan::new(false, 60).unwrap().samples(), 361);
    }

    #[test]
    fn ten_minutes_cycle_all_four_faults_twice_and_leave_the_ends_healthy() {
        let plan = Plan::new(false, 10).unwrap();
        let text = plan.scenario(&names(), 1000, 50_000, 256, "soak");
        let s = Scenario::parse(&text, &Default::default()).unwrap();
        assert_eq!(s.duration, Duration::from_secs(600));
        assert!(s.workload.ttl && s.workload.stream.is_some());
        assert_eq!(s.workload.rate_per_region, 1000);
        // Minutes 1 to 8: a fault and its end each.
        assert_eq!(s.events.len(), 16);
        let first = s.events.first().unwrap().at;
        let last = s.events.last().unwrap().at;
        assert_eq!(first, Duration::from_secs(60));
        assert_eq!(last, Duration::from_secs(8 * 60 + 15));
        let kinds: Vec<&str> = s.events.iter().map(|e| e.action.name()).collect();
        for k in ["latency", "partition", "crash", "skew"] {
            assert_eq!(
                kinds.iter().filter(|x| **x == k).count(),
                if k == "skew" { 4 } else { 2 },
                "{k}: {kinds:?}"
            );
        }
        // Every crash is followed by the restart of the same region.
        for (i, e) in s.events.iter().enumerate() {
            if let Action::Crash { region } = &e.action {
                assert_eq!(
                    s.events[i + 1].action,
                    Action::Restart {
                        region: region.clone()
                    }
                );
            }
        }
    }

    #[test]
    fn the_smoke_plan_parses_with_faults_every_two_seconds() {
        let plan = Plan::new(true, 0).unwrap();
        assert_eq!(plan.samples(), 13);
        let s = Scenario::parse(
            &plan.scenario(&names(), 50, 200, 32, "soak"),
            &Default::default(),
        )
        .unwrap();
        let ats: Vec<u64> = s.events.iter().map(|e| e.at.as_millis() as u64).collect();
        assert_eq!(ats, [2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);
    }
}
