//! The scenario's alarms while a drill runs: each sample's datapoint of
//! every alarm's metric, made from the sample's rows and the drill's
//! counts, handed to the pure evaluation
//! ([`meridian_scenario::alarm::Watch`]), and the stop conditions
//! watched, as FIS watches an experiment's (docs/drills.md, *Judge the
//! drill by your application*). Live and simulated drills make the same
//! datapoints from the same rows; a simulated one's are in virtual time.

use std::collections::BTreeMap;

use meridian_proto::v1 as pb;
use meridian_scenario::alarm::{Alarm, AlarmReport, AlarmState, MetricName, Transition, Watch};
use meridian_scenario::scenario::Scenario;

use crate::collect::SampleRows;
use crate::endpoint::FailoverCounts;
use crate::traffic::Tally;

/// The drill's request counts at a sample, per region: (answered,
/// failed, of those throttled).
pub(crate) type Counts = BTreeMap<String, (u64, u64, u64)>;

/// The drill's requests per region so far, from its tally.
pub(crate) fn counts(tally: &Tally) -> Counts {
    let mut requests = Counts::new();
    for (r, n) in &tally.by_region {
        requests.entry(r.clone()).or_default().0 = *n;
    }
    for (r, n) in &tally.failed_by_region {
        requests.entry(r.clone()).or_default().1 = *n;
    }
    for (r, n) in &tally.throttled_by_region {
        requests.entry(r.clone()).or_default().2 = *n;
    }
    requests
}

/// The cumulative counts a sample's datapoints are the difference of.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) requests: Counts,
    /// The failover endpoint's counts, where its record is read.
    pub(crate) failover: Option<FailoverCounts>,
}

/// An alarm that went to ALARM and is a stop condition.
#[derive(Clone, Debug)]
pub(crate) struct Stop {
    pub(crate) alarm: String,
    pub(crate) transition: Transition,
}

/// Every alarm of the scenario, evaluated a sample at a time.
pub(crate) struct Alarms {
    watches: Vec<Watch>,
    stop_conditions: Vec<String>,
    last: Totals,
    /// Whose requests the request metrics count.
    requests: Requests,
    /// The failover endpoint is simulated (`[failover]`): its counts are
    /// the drill's own, read at every sample interval like the drill's
    /// requests, not only when a status sample comes.
    endpoint_counted: bool,
}

/// Whose requests `FailedRequests`, `ErrorRate` and `ThrottledRequests`
/// count: a drill's own, or (a cluster file's alarms and a drill of your
/// application, which no drill's requests feed) what the regions' DynamoDB
/// endpoints answered, a request failed when it was a user error, a system
/// error or a throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requests {
    Drill,
    Regions,
}

impl Alarms {
    /// `None` when the scenario declares no alarm.
    pub(crate) fn new(scenario: &Scenario) -> Option<Alarms> {
        // The application's load is seen as the regions answered it.
        let requests = match scenario.workload.external {
            true => Requests::Regions,
            false => Requests::Drill,
        };
        let mut alarms = Alarms::of(&scenario.alarms, &scenario.stop_conditions, requests)?;
        alarms.endpoint_counted = scenario.failover.is_some();
        if alarms.endpoint_counted {
            // A simulated endpoint counts from zero with the drill.
            alarms.last.failover = Some(FailoverCounts::default());
        }
        Some(alarms)
    }

    /// `alarms` evaluated, those named in `stop_conditions` stopping;
    /// `None` when there is none: a scenario's, or a cluster file's
    /// ([`crate::cluster_alarms`]).
    pub(crate) fn of(
        alarms: &[Alarm],
        stop_conditions: &[String],
        requests: Requests,
    ) -> Option<Alarms> {
        if alarms.is_empty() {
            return None;
        }
        Some(Alarms {
            watches: alarms.iter().cloned().map(Watch::new).collect(),
            stop_conditions: stop_conditions.to_vec(),
            last: Totals::default(),
            requests,
            endpoint_counted: false,
        })
    }

    pub(crate) fn watches(&self) -> &[Watch] {
        &self.watches
    }

    /// The failover endpoint's counts as evaluation begins, which its
    /// datapoints count from (a record read as the drill began, or
    /// nothing counted yet).
    pub(crate) fn failover_from(&mut self, counts: Option<FailoverCounts>) {
        self.last.failover = counts;
    }

    /// Forgets what only a report reads ([`Watch::forget_history`]).
    pub(crate) fn forget_history(&mut self) {
        self.watches.iter_mut().for_each(Watch::forget_history);
    }

    /// Whether an alarm reads the failover endpoint's record.
    pub(crate) fn reads_failover(&self) -> bool {
        self.watches
            .iter()
            .any(|w| w.alarm.metric.failover_endpoints())
    }

    /// Whether `m` is made of the drill's own request counts, which are
    /// read at every sample interval, not only with a sample's rows.
    fn counted(&self, m: MetricName) -> bool {
        match m {
            MetricName::FailedRequests | MetricName::ErrorRate | MetricName::ThrottledRequests => {
                self.requests == Requests::Drill
            }
            m if m.failover_endpoints() => self.endpoint_counted,
            _ => false,
        }
    }

    /// Feeds the alarms their datapoints at `t_ms`: with a sample's
    /// `rows`, those of the link metrics and the failover endpoint's; with
    /// none, those of the drill's own counts, which are read at every
    /// sample interval even while a sample waits on a region that does not
    /// answer. Returns each change of state (alarm, transition), and the
    /// first stop condition that went to ALARM.
    pub(crate) fn observe(
        &mut self,
        t_ms: u64,
        rows: Option<&SampleRows>,
        totals: Totals,
    ) -> (Vec<(String, Transition)>, Option<Stop>) {
        let mut changes = Vec::new();
        for i in 0..self.watches.len() {
            if self.counted(self.watches[i].alarm.metric) == rows.is_some() {
                continue;
            }
            let w = &mut self.watches[i];
            let value = datapoint(&w.alarm, rows, &self.last, &totals);
            for t in w.push(t_ms, value) {
                changes.push((w.alarm.name.clone(), t));
            }
        }
        if rows.is_none() {
            self.last.requests = totals.requests;
        }
        // A record that could not be read leaves the last one standing,
        // so what failed meanwhile counts at the next read.
        if rows.is_none() == self.endpoint_counted && totals.failover.is_some() {
            self.last.failover = totals.failover;
        }
        let stop = changes
            .iter()
            .find(|(name, t)| t.to == AlarmState::Alarm && self.stop_conditions.contains(name))
            .map(|(name, t)| Stop {
                alarm: name.clone(),
                transition: t.clone(),
            });
        (changes, stop)
    }

    pub(crate) fn reports(&self) -> Vec<AlarmReport> {
        self.watches.iter().map(AlarmReport::from).collect()
    }
}

/// A region's answers that failed the request: user and system errors
/// and throttles (a failed condition is an answer the client asked for).
fn failed(c: &pb::RequestCounts) -> u64 {
    c.user_errors + c.system_errors + c.throttled
}

/// The datapoint of alarm `a`'s metric at a sample: its rows for a link's
/// metric and the regions' answers, else the difference of the counts
/// since the previous sample. `None` where the metric had no value (no
/// mutation applied, a sender down, no request made, no region answered).
fn datapoint(a: &Alarm, rows: Option<&SampleRows>, last: &Totals, now: &Totals) -> Option<f64> {
    let region_ok = |r: &str| a.region.as_deref().is_none_or(|x| x == r);
    let links = rows.iter().flat_map(|r| &r.links).filter(|(from, to, _)| {
        region_ok(from) && a.receiving_region.as_deref().is_none_or(|x| x == to)
    });
    let delta = |f: fn(&(u64, u64, u64)) -> u64| -> u64 {
        now.requests
            .iter()
            .filter(|(r, _)| region_ok(r))
            .map(|(r, c)| f(c).saturating_sub(last.requests.get(r).map_or(0, f)))
            .sum()
    };
    // The regions' DynamoDB answers since the previous sample, summed
    // over those that answered.
    let answered = |f: fn(&pb::RequestCounts) -> u64| -> Option<f64> {
        let mut counts = rows?
            .answers
            .iter()
            .filter(|(r, _)| region_ok(r))
            .peekable();
        counts.peek()?;
        Some(counts.map(|(_, c)| f(c)).sum::<u64>() as f64)
    };
    let failover = now.failover.map(|n| n.since(last.failover));
    match a.metric {
        MetricName::ReplicationLatency => links
            .filter_map(|(_, _, s)| s.max_ms)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
        MetricName::PendingReplicationCount => {
            let known: Vec<u64> = links.filter_map(|(_, _, s)| s.pending).collect();
            (!known.is_empty()).then(|| known.iter().sum::<u64>() as f64)
        }
        MetricName::FailedRequests if rows.is_some() => answered(failed),
        MetricName::FailedRequests => Some(delta(|c| c.1) as f64),
        MetricName::ThrottledRequests if rows.is_some() => answered(|c| c.throttled),
        MetricName::ThrottledRequests => Some(delta(|c| c.2) as f64),
        MetricName::UserErrors => answered(|c| c.user_errors),
        MetricName::SystemErrors => answered(|c| c.system_errors),
        MetricName::ErrorRate if rows.is_some() => {
            let all = answered(|c| c.requests).filter(|n| *n > 0.0)?;
            Some(answered(failed)? * 100.0 / all)
        }
        MetricName::ErrorRate => {
            let (answered, failed) = (delta(|c| c.0), delta(|c| c.1));
            let all = answered + failed;
            (all > 0).then(|| failed as f64 * 100.0 / all as f64)
        }
        MetricName::FailoverFailedRequests => failover.map(|d| d.failed as f64),
        MetricName::FailoverLatency => failover.and_then(|d| {
            (d.forwarded > 0).then(|| d.latency_us as f64 / d.forwarded as f64 / 1_000.0)
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use meridian_scenario::alarm::{Comparison, Statistic};
    use meridian_scenario::report::{ConflictSample, LinkSample};

    use super::*;

    fn watch(metric: MetricName, region: Option<&str>, receiving: Option<&str>) -> Watch {
        Watch::new(Alarm {
            name: "a".into(),
            metric,
            region: region.map(String::from),
            receiving_region: receiving.map(String::from),
            statistic: Statistic::Maximum,
            period: Duration::from_secs(1),
            threshold: 1.0,
            comparison: Comparison::GreaterThanThreshold,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
        })
    }

    fn rows() -> SampleRows {
        let link = |from: &str, to: &str, max: Option<f64>, pending| {
            (
                from.to_string(),
                to.to_string(),
                LinkSample {
                    t_ms: 250,
                    p50_ms: max,
                    p99_ms: max,
                    max_ms: max,
                    applied: 1,
                    pending,
                },
            )
        };
        SampleRows {
            links: vec![
                link("a", "b", Some(40.0), Some(3)),
                link("b", "a", Some(90.0), None),
                link("a", "c", None, Some(5)),
            ],
            conflicts: ConflictSample {
                t_ms: 250,
                by_region: BTreeMap::new(),
            },
            answers: [("a", (1, 0, 3)), ("b", (2, 2, 1))]
                .into_iter()
                .map(|(r, (user_errors, system_errors, throttled))| {
                    let c = pb::RequestCounts {
                        requests: 10,
                        user_errors,
                        system_errors,
                        throttled,
                    };
                    (r.to_string(), c)
                })
                .collect(),
        }
    }

    #[test]
    fn each_metric_is_made_from_its_rows_or_its_counts() {
        let r = rows();
        let none = Totals::default();
        let dp = |m, region, receiving, last: &Totals, now: &Totals| {
            datapoint(&watch(m, region, receiving).alarm, Some(&r), last, now)
        };
        use MetricName::*;
        assert_eq!(dp(ReplicationLatency, None, None, &none, &none), Some(90.0));
        assert_eq!(
            dp(ReplicationLatency, Some("a"), None, &none, &none),
            Some(40.0)
        );
        assert_eq!(
            dp(ReplicationLatency, Some("a"), Some("c"), &none, &none),
            None
        );
        assert_eq!(
            dp(PendingReplicationCount, None, None, &none, &none),
            Some(8.0)
        );
        assert_eq!(
            dp(PendingReplicationCount, Some("b"), None, &none, &none),
            None
        );
        let endpoint = |failed, forwarded, latency_us| FailoverCounts {
            forwarded,
            failed,
            latency_us,
        };
        let before = Totals {
            requests: [("a".to_string(), (10, 1, 0)), ("b".to_string(), (10, 0, 0))].into(),
            failover: Some(endpoint(4, 100, 900_000)),
        };
        let after = Totals {
            requests: [("a".to_string(), (16, 3, 1)), ("b".to_string(), (20, 0, 0))].into(),
            failover: Some(endpoint(9, 104, 1_000_000)),
        };
        // A drill's request metrics are its own counts, read without rows.
        let counted = |m, region, last: &Totals, now: &Totals| {
            datapoint(&watch(m, region, None).alarm, None, last, now)
        };
        assert_eq!(counted(FailedRequests, None, &before, &after), Some(2.0));
        assert_eq!(counted(ThrottledRequests, None, &before, &after), Some(1.0));
        assert_eq!(
            counted(ThrottledRequests, Some("b"), &before, &after),
            Some(0.0)
        );
        assert_eq!(counted(ErrorRate, Some("a"), &before, &after), Some(25.0));
        assert_eq!(counted(ErrorRate, None, &after, &after), None);
        assert_eq!(
            dp(FailoverFailedRequests, None, None, &before, &after),
            Some(5.0)
        );
        // 100 ms over 4 forwarded requests.
        assert_eq!(dp(FailoverLatency, None, None, &before, &after), Some(25.0));
        assert_eq!(dp(FailoverLatency, None, None, &after, &after), None);
        // The regions' answers: summed over those that answered, none
        // where none did.
        assert_eq!(dp(UserErrors, None, None, &none, &none), Some(3.0));
        assert_eq!(dp(SystemErrors, Some("b"), None, &none, &none), Some(2.0));
        assert_eq!(dp(UserErrors, Some("c"), None, &none, &none), None);
        let a = |m| watch(m, None, None).alarm;
        assert_eq!(
            datapoint(&a(ThrottledRequests), Some(&r), &none, &none),
            Some(4.0),
            "a cluster's alarm counts the regions' throttles"
        );
        // a: 1 + 0 + 3 of 10, b: 2 + 2 + 1 of 10.
        assert_eq!(
            datapoint(&a(FailedRequests), Some(&r), &none, &none),
            Some(9.0)
        );
        assert_eq!(datapoint(&a(ErrorRate), Some(&r), &none, &none), Some(45.0));
    }

    #[test]
    fn requests_are_the_drills_own_in_a_drill_and_the_regions_in_a_cluster() {
        let alarm = watch(MetricName::ThrottledRequests, None, None).alarm;
        let drill = Alarms::of(std::slice::from_ref(&alarm), &[], Requests::Drill).unwrap();
        let cluster = Alarms::of(&[alarm], &[], Requests::Regions).unwrap();
        assert!(drill.counted(MetricName::ThrottledRequests));
        assert!(!cluster.counted(MetricName::ThrottledRequests));
        assert!(!cluster.counted(MetricName::UserErrors));
        assert!(!cluster.counted(MetricName::FailedRequests));
        assert!(drill.counted(MetricName::ErrorRate));
    }
}
