//! The scenario's alarms while a drill runs: each sample's datapoint of
//! every alarm's metric, made from the sample's rows and the drill's
//! counts, handed to the pure evaluation
//! ([`meridian_scenario::alarm::Watch`]), and the stop conditions
//! watched, as FIS watches an experiment's (docs/drills.md, *Judge the
//! drill by your application*). Live and simulated drills make the same
//! datapoints from the same rows; a simulated one's are in virtual time.

use std::collections::BTreeMap;

use meridian_scenario::alarm::{Alarm, AlarmReport, AlarmState, MetricName, Transition, Watch};
use meridian_scenario::scenario::Scenario;

use crate::collect::SampleRows;
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
    /// The failover endpoint's failed requests, where it is read.
    pub(crate) failover_failed: Option<u64>,
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
}

impl Alarms {
    /// `None` when the scenario declares no alarm.
    pub(crate) fn new(scenario: &Scenario) -> Option<Alarms> {
        Alarms::of(&scenario.alarms, &scenario.stop_conditions)
    }

    /// `alarms` evaluated, those named in `stop_conditions` stopping;
    /// `None` when there is none: a scenario's, or a cluster file's
    /// ([`crate::cluster_alarms`]).
    pub(crate) fn of(alarms: &[Alarm], stop_conditions: &[String]) -> Option<Alarms> {
        if alarms.is_empty() {
            return None;
        }
        Some(Alarms {
            watches: alarms.iter().cloned().map(Watch::new).collect(),
            stop_conditions: stop_conditions.to_vec(),
            last: Totals::default(),
        })
    }

    pub(crate) fn watches(&self) -> &[Watch] {
        &self.watches
    }

    /// Forgets what only a report reads ([`Watch::forget_history`]).
    pub(crate) fn forget_history(&mut self) {
        self.watches.iter_mut().for_each(Watch::forget_history);
    }

    /// Whether an alarm reads the failover endpoint's record.
    pub(crate) fn reads_failover(&self) -> bool {
        self.watches
            .iter()
            .any(|w| w.alarm.metric == MetricName::FailoverFailedRequests)
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
        for w in &mut self.watches {
            if counted(w.alarm.metric) == rows.is_some() {
                continue;
            }
            let value = datapoint(w, rows, &self.last, &totals);
            for t in w.push(t_ms, value) {
                changes.push((w.alarm.name.clone(), t));
            }
        }
        match rows {
            Some(_) => self.last.failover_failed = totals.failover_failed,
            None => self.last.requests = totals.requests,
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

/// Whether `m` is made of the drill's own request counts.
fn counted(m: MetricName) -> bool {
    matches!(
        m,
        MetricName::FailedRequests | MetricName::ErrorRate | MetricName::ThrottledRequests
    )
}

/// The datapoint of `w`'s metric at a sample: its rows for a link's
/// metric, else the difference of the counts since the previous sample.
/// `None` where the metric had no value (no mutation applied, a sender
/// down, no request made).
fn datapoint(w: &Watch, rows: Option<&SampleRows>, last: &Totals, now: &Totals) -> Option<f64> {
    let a = &w.alarm;
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
    match a.metric {
        MetricName::ReplicationLatency => links
            .filter_map(|(_, _, s)| s.max_ms)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
        MetricName::PendingReplicationCount => {
            let known: Vec<u64> = links.filter_map(|(_, _, s)| s.pending).collect();
            (!known.is_empty()).then(|| known.iter().sum::<u64>() as f64)
        }
        MetricName::FailedRequests => Some(delta(|c| c.1) as f64),
        MetricName::ThrottledRequests => Some(delta(|c| c.2) as f64),
        MetricName::ErrorRate => {
            let (answered, failed) = (delta(|c| c.0), delta(|c| c.1));
            let all = answered + failed;
            (all > 0).then(|| failed as f64 * 100.0 / all as f64)
        }
        MetricName::FailoverFailedRequests => now
            .failover_failed
            .map(|n| n.saturating_sub(last.failover_failed.unwrap_or(n)) as f64),
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
        }
    }

    #[test]
    fn each_metric_is_made_from_its_rows_or_its_counts() {
        let r = rows();
        let none = Totals::default();
        let dp = |m, region, receiving, last: &Totals, now: &Totals| {
            datapoint(&watch(m, region, receiving), Some(&r), last, now)
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
        let before = Totals {
            requests: [("a".to_string(), (10, 1, 0)), ("b".to_string(), (10, 0, 0))].into(),
            failover_failed: Some(4),
        };
        let after = Totals {
            requests: [("a".to_string(), (16, 3, 1)), ("b".to_string(), (20, 0, 0))].into(),
            failover_failed: Some(9),
        };
        assert_eq!(dp(FailedRequests, None, None, &before, &after), Some(2.0));
        assert_eq!(
            dp(ThrottledRequests, None, None, &before, &after),
            Some(1.0)
        );
        assert_eq!(
            dp(ThrottledRequests, Some("b"), None, &before, &after),
            Some(0.0)
        );
        assert_eq!(dp(ErrorRate, Some("a"), None, &before, &after), Some(25.0));
        assert_eq!(dp(ErrorRate, None, None, &after, &after), None);
        assert_eq!(
            dp(FailoverFailedRequests, None, None, &before, &after),
            Some(5.0)
        );
    }
}
