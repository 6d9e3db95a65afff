//! Alarms over what a drill measures, in CloudWatch's shape
//! (docs/drills.md, *Judge the drill by your application*): a metric, a
//! statistic over each period, a threshold and a comparison, and how many
//! of the last periods must breach ([`Alarm`]). The evaluation is pure:
//! [`Watch`] takes a metric's datapoints in time order and says when the
//! alarm changes state, so a simulated drill (virtual time) and a live one
//! judge the same datapoints alike.
//!
//! CloudWatch evaluates an alarm at the end of each period over the last
//! `EvaluationPeriods` periods, and goes to ALARM when `DatapointsToAlarm`
//! of them breach ([Using Amazon CloudWatch alarms](https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html)).
//! A period without a datapoint is missing: with `TreatMissingData`
//! `missing` (CloudWatch's default) an alarm whose whole range is missing
//! goes to INSUFFICIENT_DATA; an alarm on a metric of the `AWS/DynamoDB`
//! namespace (replication latency, pending replication) always ignores
//! missing data and keeps its state, as CloudWatch does for that namespace
//! ([Configuring how CloudWatch alarms treat missing data](https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html)).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The series an alarm may watch: every one a drill measures, with the
/// name CloudWatch (or, for the drill's own, the report) gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MetricName {
    /// ms, per sample: the longest replication latency of the mutations a
    /// link applied since the previous sample (`AWS/DynamoDB`).
    ReplicationLatency,
    /// Count, per sample: mutations a link's receiver has not applied
    /// (`AWS/DynamoDB`, `PendingReplicationCount`).
    PendingReplicationCount,
    /// Count, per sample: the drill's requests that failed since the
    /// previous sample.
    FailedRequests,
    /// Percent, per sample: of the drill's requests answered or failed
    /// since the previous sample, those that failed.
    ErrorRate,
    /// Count, per sample: requests the failover endpoint could not forward
    /// since the previous sample (docs/failover.md).
    FailoverFailedRequests,
    /// Count, per sample: of the drill's failed requests since the
    /// previous sample, those a region refused for its spent units
    /// (`ProvisionedThroughputExceededException`; a table with
    /// `[table.capacity]`): CloudWatch's `ThrottledRequests`. A cluster
    /// file's alarm counts the regions' DynamoDB endpoints' throttles
    /// instead, since a cluster makes no requests of its own.
    ThrottledRequests,
    /// Count, per sample: the regions' DynamoDB endpoints' HTTP 4xx
    /// answers but throttles and failed conditions (`AWS/DynamoDB`
    /// `UserErrors`); a running cluster's only.
    UserErrors,
    /// Count, per sample: the regions' DynamoDB endpoints' HTTP 5xx
    /// answers (`AWS/DynamoDB` `SystemErrors`); a running cluster's only.
    SystemErrors,
    /// ms, per sample: the mean time the failover endpoint took to answer
    /// the requests it forwarded since the previous sample, the region's
    /// time included (docs/failover.md).
    FailoverLatency,
}

impl MetricName {
    pub const ALL: [MetricName; 9] = [
        MetricName::ReplicationLatency,
        MetricName::PendingReplicationCount,
        MetricName::FailedRequests,
        MetricName::ErrorRate,
        MetricName::FailoverFailedRequests,
        MetricName::ThrottledRequests,
        MetricName::UserErrors,
        MetricName::SystemErrors,
        MetricName::FailoverLatency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::ReplicationLatency => "ReplicationLatency",
            MetricName::PendingReplicationCount => "PendingReplicationCount",
            MetricName::FailedRequests => "FailedRequests",
            MetricName::ErrorRate => "ErrorRate",
            MetricName::FailoverFailedRequests => "FailoverFailedRequests",
            MetricName::ThrottledRequests => "ThrottledRequests",
            MetricName::UserErrors => "UserErrors",
            MetricName::SystemErrors => "SystemErrors",
            MetricName::FailoverLatency => "FailoverLatency",
        }
    }

    pub fn parse(text: &str) -> Option<MetricName> {
        MetricName::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether the metric is a link's (dimensions `Region` and
    /// `ReceivingRegion`), else a region's (`Region`) or the endpoint's.
    pub fn per_link(self) -> bool {
        matches!(
            self,
            MetricName::ReplicationLatency | MetricName::PendingReplicationCount
        )
    }

    /// Whether the metric is the failover endpoint's, of no region.
    pub fn failover_endpoints(self) -> bool {
        matches!(
            self,
            MetricName::FailoverFailedRequests | MetricName::FailoverLatency
        )
    }

    /// Whether the metric is made of the regions' DynamoDB endpoints'
    /// answers, which only a running cluster's regions serve.
    pub fn dynamodb_answers(self) -> bool {
        matches!(self, MetricName::UserErrors | MetricName::SystemErrors)
    }

    /// CloudWatch keeps the state of an `AWS/DynamoDB` alarm whose data is
    /// missing, whatever `TreatMissingData` says.
    pub fn ignores_missing(self) -> bool {
        self.per_link() || self.dynamodb_answers()
    }
}

/// CloudWatch's `Statistic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statistic {
    Average,
    Maximum,
    Minimum,
    Sum,
    SampleCount,
}

impl Statistic {
    /// The statistic of a period's datapoints (never empty).
    pub fn of(self, values: &[f64]) -> f64 {
        match self {
            Statistic::Average => values.iter().sum::<f64>() / values.len() as f64,
            Statistic::Maximum => values.iter().copied().fold(f64::MIN, f64::max),
            Statistic::Minimum => values.iter().copied().fold(f64::MAX, f64::min),
            Statistic::Sum => values.iter().sum(),
            Statistic::SampleCount => values.len() as f64,
        }
    }
}

/// CloudWatch's `ComparisonOperator` (the static-threshold ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

/// An alarm's state, as CloudWatch names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmState {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    /// Every alarm starts here, as in CloudWatch.
    #[default]
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm, checked (`[[alarm]]` in a scenario).
#[derive(Clone, Debug, PartialEq)]
pub struct Alarm {
    /// `AlarmName`: what a stop condition's ARN ends in.
    pub name: String,
    pub metric: MetricName,
    /// `Dimensions`: the region (a link's sender), and a link's receiver.
    /// Left out, the metric is over every region or link: the largest
    /// latency, the sum of the counts, the error rate of all requests.
    pub region: Option<String>,
    pub receiving_region: Option<String>,
    pub statistic: Statistic,
    pub period: Duration,
    pub threshold: f64,
    pub comparison: Comparison,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
}

impl Alarm {
    /// `MetricName` with its dimensions, for a report: e.g.
    /// `ReplicationLatency us-east-1 → eu-west-1`.
    pub fn metric_label(&self) -> String {
        let mut label = self.metric.as_str().to_string();
        if let Some(r) = &self.region {
            label.push(' ');
            label.push_str(r);
        }
        if let Some(r) = &self.receiving_region {
            label.push_str(" → ");
            label.push_str(r);
        }
        label
    }
}

/// A metric's value at a sample, ms into the drill.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Datapoint {
    pub t_ms: u64,
    pub value: f64,
}

/// A change of an alarm's state, at the end of the period whose
/// evaluation made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: u64,
    pub from: AlarmState,
    pub to: AlarmState,
    /// The statistic of the last period evaluated (`None`: missing).
    pub value: Option<f64>,
    /// CloudWatch's `StateReason`, in its words: "Threshold Crossed: 2 out
    /// of the last 3 datapoints were greater than the threshold (5.0)".
    pub reason: String,
}

/// An alarm being evaluated: its datapoints so far, grouped by period, and
/// its state. Pure: the same datapoints give the same transitions.
#[derive(Clone, Debug)]
pub struct Watch {
    pub alarm: Alarm,
    /// Period index → the datapoints in it. A datapoint at `t` measures
    /// up to `t`, so it belongs to the period that ends at or after `t`.
    periods: BTreeMap<u64, Vec<f64>>,
    /// The next period to evaluate.
    next: u64,
    pub state: AlarmState,
    pub transitions: Vec<Transition>,
    /// Every period evaluated: its end (ms) and statistic.
    pub evaluated: Vec<(u64, Option<f64>)>,
}

impl Watch {
    pub fn new(alarm: Alarm) -> Watch {
        Watch {
            alarm,
            periods: BTreeMap::new(),
            next: 0,
            state: AlarmState::default(),
            transitions: Vec::new(),
            evaluated: Vec::new(),
        }
    }

    fn period_ms(&self) -> u64 {
        (self.alarm.period.as_millis() as u64).max(1)
    }

    /// Adds the datapoint at `t_ms` (`None`: the metric had no value
    /// then), then evaluates every period that has ended by `t_ms`.
    /// Returns the transitions that made.
    pub fn push(&mut self, t_ms: u64, value: Option<f64>) -> Vec<Transition> {
        let p = self.period_ms();
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.periods
                .entry(t_ms.saturating_sub(1) / p)
                .or_default()
                .push(v);
        }
        let before = self.transitions.len();
        while (self.next + 1) * p <= t_ms {
            self.evaluate(self.next);
            self.next += 1;
        }
        // Only the periods the next evaluation reads are kept, so a watch
        // that runs as long as `meridian up` holds a bounded window.
        let keep = (self.next + 1).saturating_sub(u64::from(self.alarm.evaluation_periods));
        self.periods = self.periods.split_off(&keep);
        self.transitions[before..].to_vec()
    }

    /// Forgets every evaluated period but the last and every transition
    /// but the last: what a report needs is gone, what the state, its
    /// reason and since when it holds need is kept. For a watch that runs
    /// without end (the cluster's alarms under `meridian up`).
    pub fn forget_history(&mut self) {
        let keep = |n: usize| n.saturating_sub(1);
        self.evaluated.drain(..keep(self.evaluated.len()));
        self.transitions.drain(..keep(self.transitions.len()));
    }

    /// The statistic of period `k`, `None` if it had no datapoint.
    fn value(&self, k: u64) -> Option<f64> {
        self.periods
            .get(&k)
            .filter(|v| !v.is_empty())
            .map(|v| self.alarm.statistic.of(v))
    }

    /// Evaluates the range of periods ending with `k`, as CloudWatch does
    /// at that period's end.
    fn evaluate(&mut self, k: u64) {
        let a = &self.alarm;
        let n = u64::from(a.evaluation_periods);
        let first = (k + 1).saturating_sub(n);
        let values: Vec<Option<f64>> = (first..=k).map(|i| self.value(i)).collect();
        let present = values.iter().flatten().count() as u32;
        let breaching = values
            .iter()
            .flatten()
            .filter(|v| a.comparison.breaches(**v, a.threshold))
            .count() as u32;
        let last = values.last().copied().flatten();
        let end_ms = (k + 1) * self.period_ms();
        self.evaluated.push((end_ms, last));
        let to = if breaching >= a.datapoints_to_alarm {
            AlarmState::Alarm
        } else if present == 0 {
            if a.metric.ignores_missing() {
                self.state
            } else {
                AlarmState::InsufficientData
            }
        } else {
            AlarmState::Ok
        };
        if to == self.state {
            return;
        }
        let reason = match to {
            AlarmState::InsufficientData => format!(
                "Insufficient Data: {n} datapoint{} missing",
                if n == 1 { " was" } else { "s were" }
            ),
            _ => format!(
                "Threshold Crossed: {} out of the last {} datapoints {} {} the threshold ({})",
                if to == AlarmState::Alarm {
                    breaching
                } else {
                    present - breaching
                },
                present,
                if to == AlarmState::Alarm {
                    "were"
                } else {
                    "were not"
                },
                comparison_words(a.comparison),
                a.threshold
            ),
        };
        self.transitions.push(Transition {
            at_ms: end_ms,
            from: self.state,
            to,
            value: last,
            reason,
        });
        self.state = to;
    }
}

fn comparison_words(c: Comparison) -> &'static str {
    match c {
        Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
        Comparison::GreaterThanThreshold => "greater than",
        Comparison::LessThanThreshold => "less than",
        Comparison::LessThanOrEqualToThreshold => "less than or equal to",
    }
}

/// An alarm as the report shows it: its definition, its final state and
/// every change of state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmReport {
    pub name: String,
    /// `MetricName` and its dimensions.
    pub metric: String,
    pub statistic: String,
    pub period_ms: u64,
    pub threshold: f64,
    pub comparison: String,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA` at the drill's end.
    pub state: String,
    pub transitions: Vec<Transition>,
    /// Every period evaluated: its end, ms into the drill, and the
    /// statistic (`None`: no datapoint).
    pub periods: Vec<(u64, Option<f64>)>,
}

impl From<&Watch> for AlarmReport {
    fn from(w: &Watch) -> AlarmReport {
        let a = &w.alarm;
        AlarmReport {
            name: a.name.clone(),
            metric: a.metric_label(),
            statistic: format!("{:?}", a.statistic),
            period_ms: a.period.as_millis() as u64,
            threshold: a.threshold,
            comparison: format!("{:?}", a.comparison),
            evaluation_periods: a.evaluation_periods,
            datapoints_to_alarm: a.datapoints_to_alarm,
            state: w.state.as_str().into(),
            transitions: w.transitions.clone(),
            periods: w.evaluated.clone(),
        }
    }
}

impl AlarmReport {
    /// The alarm's condition in one line, as the report, the dashboard and
    /// `meridian alarms` show it: "Maximum over 1000 ms
    /// GreaterThanThreshold 500, 3 of 3".
    pub fn condition(&self) -> String {
        format!(
            "{} over {} ms {} {}, {} of {}",
            self.statistic,
            self.period_ms,
            self.comparison,
            self.threshold,
            self.datapoints_to_alarm,
            self.evaluation_periods
        )
    }

    /// The alarm's state at `t_ms` (INSUFFICIENT_DATA before its first
    /// transition).
    pub fn state_at(&self, t_ms: u64) -> &str {
        self.transitions
            .iter()
            .rev()
            .find(|t| t.at_ms <= t_ms)
            .map_or(AlarmState::InsufficientData.as_str(), |t| t.to.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(metric: MetricName, n: u32, m: u32) -> Alarm {
        Alarm {
            name: "a".into(),
            metric,
            region: None,
            receiving_region: None,
            statistic: Statistic::Sum,
            period: Duration::from_secs(1),
            threshold: 5.0,
            comparison: Comparison::GreaterThanThreshold,
            evaluation_periods: n,
            datapoints_to_alarm: m,
        }
    }

    /// Datapoints every 250 ms: `per_second[i]` split over second `i`.
    fn feed(w: &mut Watch, per_second: &[f64]) -> Vec<Transition> {
        let mut out = Vec::new();
        for (i, v) in per_second.iter().enumerate() {
            for q in 1..=4 {
                out.extend(w.push(i as u64 * 1000 + q * 250, Some(v / 4.0)));
            }
        }
        out
    }

    #[test]
    fn an_alarm_goes_to_alarm_at_the_end_of_the_period_that_breaches() {
        let mut w = Watch::new(alarm(MetricName::FailedRequests, 1, 1));
        let t = feed(&mut w, &[0.0, 2.0, 8.0, 0.0]);
        let states: Vec<_> = t.iter().map(|t| (t.at_ms, t.to)).collect();
        assert_eq!(
            states,
            vec![
                (1000, AlarmState::Ok),
                (3000, AlarmState::Alarm),
                (4000, AlarmState::Ok)
            ]
        );
        assert_eq!(t[1].value, Some(8.0));
        assert!(
            t[1].reason
                .contains("1 out of the last 1 datapoints were greater than the threshold (5)"),
            "{}",
            t[1].reason
        );
    }

    #[test]
    fn datapoints_to_alarm_of_evaluation_periods_must_breach() {
        // 2 of the last 3: the second breaching period makes it.
        let mut w = Watch::new(alarm(MetricName::FailedRequests, 3, 2));
        let t = feed(&mut w, &[9.0, 0.0, 0.0, 9.0, 0.0, 9.0]);
        let alarms: Vec<u64> = t
            .iter()
            .filter(|t| t.to == AlarmState::Alarm)
            .map(|t| t.at_ms)
            .collect();
        assert_eq!(alarms, vec![6000]);
    }

    #[test]
    fn missing_data_is_insufficient_unless_the_metric_is_dynamodbs() {
        let mut w = Watch::new(alarm(MetricName::ErrorRate, 1, 1));
        w.push(500, Some(9.0));
        assert_eq!(w.push(1000, None).last().unwrap().to, AlarmState::Alarm);
        let t = w.push(2000, None);
        assert_eq!(t.last().unwrap().to, AlarmState::InsufficientData);
        let mut w = Watch::new(alarm(MetricName::ReplicationLatency, 1, 1));
        w.push(500, Some(9.0));
        w.push(1000, None);
        assert!(w.push(3000, None).is_empty());
        assert_eq!(w.state, AlarmState::Alarm);
    }

    #[test]
    fn statistics_are_cloudwatchs() {
        let v = [1.0, 4.0, 2.0, 5.0];
        assert_eq!(Statistic::Average.of(&v), 3.0);
        assert_eq!(Statistic::Maximum.of(&v), 5.0);
        assert_eq!(Statistic::Minimum.of(&v), 1.0);
        assert_eq!(Statistic::Sum.of(&v), 12.0);
        assert_eq!(Statistic::SampleCount.of(&v), 4.0);
        assert!(Comparison::GreaterThanOrEqualToThreshold.breaches(5.0, 5.0));
        assert!(!Comparison::GreaterThanThreshold.breaches(5.0, 5.0));
        assert!(Comparison::LessThanThreshold.breaches(4.0, 5.0));
        assert!(Comparison::LessThanOrEqualToThreshold.breaches(5.0, 5.0));
    }

    #[test]
    fn a_watch_keeps_only_the_periods_it_will_read_again() {
        let mut w = Watch::new(alarm(MetricName::FailedRequests, 3, 2));
        feed(&mut w, &[9.0; 50]);
        assert!(w.periods.len() <= 3, "{:?}", w.periods.keys());
        assert_eq!(w.state, AlarmState::Alarm);
        w.forget_history();
        assert_eq!((w.evaluated.len(), w.transitions.len()), (1, 1));
        assert_eq!(w.evaluated[0], (50_000, Some(9.0)));
        // Forgetting changes no later evaluation: 2 of the last 3 still
        // breach a second on, 1 of them two seconds on.
        let t: Vec<_> = (1..=12)
            .flat_map(|q| w.push(50_000 + q * 250, Some(0.0)))
            .map(|t| (t.at_ms, t.to))
            .collect();
        assert_eq!(t, vec![(52_000, AlarmState::Ok)]);
    }

    #[test]
    fn the_state_at_a_time_is_the_last_transition_before_it() {
        let mut w = Watch::new(alarm(MetricName::FailedRequests, 1, 1));
        feed(&mut w, &[0.0, 9.0]);
        let r = AlarmReport::from(&w);
        assert_eq!(r.state_at(500), "INSUFFICIENT_DATA");
        assert_eq!(r.state_at(1500), "OK");
        assert_eq!(r.state_at(2000), "ALARM");
        assert_eq!(r.state, "ALARM");
    }
}
