//! What judges a drill by the application, as a scenario file declares it:
//! `[[alarm]]` tables in CloudWatch's shape, `stop_conditions` naming
//! them as an FIS template's do, and `[objectives]` as Resilience Hub
//! states them. Each is checked here, naming the field, before any fault
//! is applied.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::units::duration_field;
use crate::alarm::{Alarm, Comparison, MetricName, Statistic};
use crate::invariant::{Expect, Invariant, parse_filter};

/// Most alarms a scenario may declare.
pub const MAX_ALARMS: usize = 100;
/// Most evaluation periods of an alarm.
pub const MAX_EVALUATION_PERIODS: u32 = 100;

/// `[[alarm]]` as written: in a scenario, and in a cluster file for
/// `meridian up` (`meridian_region::ClusterFile::alarms`), both checked by
/// [`alarms`]. Serializable, since a cluster file is written as well as
/// read.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSection {
    name: String,
    metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receiving_region: Option<String>,
    statistic: String,
    period: String,
    threshold: f64,
    comparison: String,
    #[serde(default = "one")]
    evaluation_periods: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    datapoints_to_alarm: Option<u32>,
}

fn one() -> u32 {
    1
}

/// `[objectives]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ObjectivesSection {
    rto: Option<String>,
    rpo: Option<String>,
    max_failed_requests: Option<u64>,
    #[serde(default)]
    recover: Vec<String>,
    recover_within: Option<String>,
}

/// What the application must meet for the drill to pass (Resilience Hub's
/// resiliency policy and recovery test).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Objectives {
    /// The longest a region (or the failover endpoint's clients) may take
    /// to serve again after a disaster.
    pub rto: Option<Duration>,
    /// The longest window of acknowledged writes a disaster may lose.
    pub rpo: Option<Duration>,
    /// The most requests of the application that may fail.
    pub max_failed_requests: Option<u64>,
    /// Alarms that must be back to OK within `recover_within` of the
    /// timeline's last fault ending.
    pub recover: Vec<String>,
    pub recover_within: Duration,
}

impl Objectives {
    pub fn is_empty(&self) -> bool {
        self.rto.is_none()
            && self.rpo.is_none()
            && self.max_failed_requests.is_none()
            && self.recover.is_empty()
    }
}

/// Most invariants a scenario may declare.
pub const MAX_INVARIANTS: usize = 20;
/// How often an invariant is checked while the drill runs, unless set.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(1);

/// `[[invariant]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InvariantSection {
    name: String,
    table: Option<String>,
    filter: Option<String>,
    #[serde(default)]
    names: BTreeMap<String, String>,
    /// `ExpressionAttributeValues`, each in DynamoDB JSON (`{ S = "x" }`).
    #[serde(default)]
    values: BTreeMap<String, toml::Value>,
    expect: String,
    count: Option<u64>,
    reference: Option<String>,
    key: Option<String>,
    command: Option<Vec<String>>,
    every: Option<String>,
}

/// The invariants, checked field by field: the filter parses as
/// DynamoDB parses a Scan's, and the expectation is whole.
pub(super) fn invariants(
    sections: &[InvariantSection],
    table: &str,
    sample_interval: Duration,
) -> Result<Vec<Invariant>, String> {
    if sections.len() > MAX_INVARIANTS {
        return Err(format!(
            "invariant: at most {MAX_INVARIANTS} invariants, got {}",
            sections.len()
        ));
    }
    let mut out: Vec<Invariant> = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let field = |f: &str| format!("invariant[{i}].{f}");
        let inv = invariant(s, table, sample_interval, &field)?;
        if out.iter().any(|o| o.name == inv.name) {
            return Err(format!(
                "{}: {:?} names two invariants",
                field("name"),
                inv.name
            ));
        }
        out.push(inv);
    }
    Ok(out)
}

/// One invariant, checked in the order its fields are read: name, values,
/// filter, expectation, command, then how often it is checked.
fn invariant(
    s: &InvariantSection,
    table: &str,
    sample_interval: Duration,
    field: &dyn Fn(&str) -> String,
) -> Result<Invariant, String> {
    if s.name.is_empty() || s.name.len() > 255 {
        return Err(format!("{}: 1 to 255 characters", field("name")));
    }
    let filter = invariant_filter(s, field)?;
    let expect = expectation(s, field)?;
    if let Some(c) = &s.command
        && c.first().is_none_or(|p| p.is_empty())
    {
        return Err(format!(
            "{}: must name an executable, then its arguments",
            field("command")
        ));
    }
    let every = invariant_every(s, &expect, sample_interval, field)?;
    Ok(Invariant {
        name: s.name.clone(),
        table: s.table.clone().unwrap_or_else(|| table.to_string()),
        filter_text: s.filter.clone(),
        filter,
        expect,
        command: s.command.clone(),
        every,
    })
}

/// The invariant's filter, parsed as DynamoDB parses a Scan's, with the
/// names and values it refers to; its values are checked first, as the
/// filter cannot be parsed without them.
fn invariant_filter(
    s: &InvariantSection,
    field: &dyn Fn(&str) -> String,
) -> Result<Option<meridian_core::expr::ConditionExpr>, String> {
    let mut values = meridian_core::expr::Values::new();
    for (k, v) in &s.values {
        let json = serde_json::to_value(v).map_err(|e| format!("{}: {e}", field("values")))?;
        let value = meridian_core::AttrValue::from_json(&json, k)
            .map_err(|e| format!("{}.{k}: {e}", field("values")))?;
        values.insert(k.clone(), value);
    }
    let names: meridian_core::expr::Names = s.names.clone().into_iter().collect();
    s.filter
        .as_deref()
        .map(|f| parse_filter(f, &names, &values))
        .transpose()
        .map_err(|e| format!("{}: {e}", field("filter")))
}

/// What the invariant expects of the items its filter selects, whole:
/// `count` comes with its number, `referenced` with its two attributes,
/// and neither with anything else.
fn expectation(s: &InvariantSection, field: &dyn Fn(&str) -> String) -> Result<Expect, String> {
    Ok(match (s.expect.as_str(), s.count, &s.reference, &s.key) {
        ("empty", None, None, None) => Expect::Empty,
        ("count", Some(n), None, None) => Expect::Count(n),
        ("equal", None, None, None) => Expect::Equal,
        ("referenced", None, Some(r), Some(k)) => Expect::Referenced(r.clone(), k.clone()),
        ("count", None, ..) => {
            return Err(format!(
                "{} is required with expect = \"count\"",
                field("count")
            ));
        }
        ("referenced", ..) => {
            return Err(format!(
                "{} and {} are required with expect = \"referenced\" (the attribute that names an item, and the key attribute it names), and nothing else",
                field("reference"),
                field("key")
            ));
        }
        ("empty" | "count" | "equal", ..) => {
            return Err(format!(
                "{}: count goes with \"count\" only, reference and key with \"referenced\" only",
                field("expect")
            ));
        }
        (other, ..) => {
            return Err(format!(
                "{}: {other:?} is not an expectation (empty, count, equal or referenced)",
                field("expect")
            ));
        }
    })
}

/// How often the invariant is checked while the drill runs: never for an
/// `equal` one (judged once the regions settle), else no more often than
/// metrics are sampled and at least hourly.
fn invariant_every(
    s: &InvariantSection,
    expect: &Expect,
    sample_interval: Duration,
    field: &dyn Fn(&str) -> String,
) -> Result<Option<Duration>, String> {
    Ok(match (&s.every, expect) {
        (Some(_), Expect::Equal) => {
            return Err(format!(
                "{}: an \"equal\" invariant is judged once the regions have settled, as they differ by the replication lag while the drill runs",
                field("every")
            ));
        }
        (None, Expect::Equal) => None,
        (None, _) => Some(DEFAULT_EVERY.max(sample_interval)),
        (Some(t), _) => {
            let every = duration_field(&field("every"), t)?;
            if every < sample_interval || every > Duration::from_secs(3600) {
                return Err(format!(
                    "{}: from the sample interval ({} ms) to 1 h, got {t}",
                    field("every"),
                    sample_interval.as_millis()
                ));
            }
            Some(every)
        }
    })
}

/// The alarms, checked field by field against the regions they may name
/// and the interval their metrics are sampled at (a scenario's, or a
/// cluster's).
pub fn alarms(
    sections: &[AlarmSection],
    regions: &[String],
    sample_interval: Duration,
) -> Result<Vec<Alarm>, String> {
    if sections.len() > MAX_ALARMS {
        return Err(format!(
            "alarm: at most {MAX_ALARMS} alarms, got {}",
            sections.len()
        ));
    }
    let mut out: Vec<Alarm> = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let field = |f: &str| format!("alarm[{i}].{f}");
        let a = alarm(s, regions, sample_interval, &field)?;
        if out.iter().any(|o| o.name == a.name) {
            return Err(format!("{}: {:?} names two alarms", field("name"), a.name));
        }
        out.push(a);
    }
    Ok(out)
}

/// One alarm, checked in the order its fields are read: name, metric and
/// the regions it names, statistic, comparison, period, threshold, then
/// how many periods it is evaluated over.
fn alarm(
    s: &AlarmSection,
    regions: &[String],
    sample_interval: Duration,
    field: &dyn Fn(&str) -> String,
) -> Result<Alarm, String> {
    if s.name.is_empty() || s.name.len() > 255 || s.name.contains(':') {
        return Err(format!(
            "{}: 1 to 255 characters without ':' (CloudWatch's AlarmName, the end of its ARN), got {:?}",
            field("name"),
            s.name
        ));
    }
    let metric = alarm_metric(s, regions, field)?;
    let statistic = statistic(s, field)?;
    let comparison = comparison(s, field)?;
    let period = duration_field(&field("period"), &s.period)?;
    if period < sample_interval || period > Duration::from_secs(3600) {
        return Err(format!(
            "{}: from the sample interval ({} ms: a shorter period holds no datapoint) to 1 h, got {}",
            field("period"),
            sample_interval.as_millis(),
            s.period
        ));
    }
    if !s.threshold.is_finite() {
        return Err(format!("{}: must be a number", field("threshold")));
    }
    let datapoints_to_alarm = datapoints_to_alarm(s, field)?;
    Ok(Alarm {
        name: s.name.clone(),
        metric,
        region: s.region.clone(),
        receiving_region: s.receiving_region.clone(),
        statistic,
        period,
        threshold: s.threshold,
        comparison,
        evaluation_periods: s.evaluation_periods,
        datapoints_to_alarm,
    })
}

/// The alarm's metric, one Meridian exports, with the regions it names:
/// each one of the cluster's, a receiving region only for a link's
/// metric, and no region for the failover endpoint's.
fn alarm_metric(
    s: &AlarmSection,
    regions: &[String],
    field: &dyn Fn(&str) -> String,
) -> Result<MetricName, String> {
    let metric = MetricName::parse(&s.metric).ok_or_else(|| {
        let known: Vec<&str> = MetricName::ALL.iter().map(|m| m.as_str()).collect();
        format!(
            "{}: {:?} is not a metric Meridian exports; it exports {}",
            field("metric"),
            s.metric,
            known.join(", ")
        )
    })?;
    for (f, r) in [
        ("region", &s.region),
        ("receiving_region", &s.receiving_region),
    ] {
        if let Some(r) = r
            && !regions.contains(r)
        {
            return Err(format!(
                "{} = {r:?} is not one of the regions ({})",
                field(f),
                regions.join(", ")
            ));
        }
    }
    if s.receiving_region.is_some() && !metric.per_link() {
        return Err(format!(
            "{}: only a link's metrics (ReplicationLatency, PendingReplicationCount) have a receiving region",
            field("receiving_region")
        ));
    }
    if s.region.is_some() && metric.failover_endpoints() {
        return Err(format!(
            "{}: {} is the failover endpoint's, of no region",
            field("region"),
            metric.as_str()
        ));
    }
    Ok(metric)
}

/// The alarm's statistic, by CloudWatch's name for it.
fn statistic(s: &AlarmSection, field: &dyn Fn(&str) -> String) -> Result<Statistic, String> {
    Ok(match s.statistic.as_str() {
        "Average" => Statistic::Average,
        "Maximum" => Statistic::Maximum,
        "Minimum" => Statistic::Minimum,
        "Sum" => Statistic::Sum,
        "SampleCount" => Statistic::SampleCount,
        other => {
            return Err(format!(
                "{}: {other:?} is not a statistic (Average, Maximum, Minimum, Sum or SampleCount)",
                field("statistic")
            ));
        }
    })
}

/// The alarm's comparison operator, by CloudWatch's name for it.
fn comparison(s: &AlarmSection, field: &dyn Fn(&str) -> String) -> Result<Comparison, String> {
    Ok(match s.comparison.as_str() {
        "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqualToThreshold,
        "GreaterThanThreshold" => Comparison::GreaterThanThreshold,
        "LessThanThreshold" => Comparison::LessThanThreshold,
        "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqualToThreshold,
        other => {
            return Err(format!(
                "{}: {other:?} is not a comparison operator (GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or LessThanOrEqualToThreshold)",
                field("comparison")
            ));
        }
    })
}

/// How many of the evaluated periods must breach for the alarm to fire
/// (all of them unless set), with the evaluation periods checked first.
fn datapoints_to_alarm(s: &AlarmSection, field: &dyn Fn(&str) -> String) -> Result<u32, String> {
    if !(1..=MAX_EVALUATION_PERIODS).contains(&s.evaluation_periods) {
        return Err(format!(
            "{}: from 1 to {MAX_EVALUATION_PERIODS}, got {}",
            field("evaluation_periods"),
            s.evaluation_periods
        ));
    }
    let datapoints_to_alarm = s.datapoints_to_alarm.unwrap_or(s.evaluation_periods);
    if !(1..=s.evaluation_periods).contains(&datapoints_to_alarm) {
        return Err(format!(
            "{}: from 1 to evaluation_periods ({}), got {datapoints_to_alarm}",
            field("datapoints_to_alarm"),
            s.evaluation_periods
        ));
    }
    Ok(datapoints_to_alarm)
}

/// Every name in `names` (at `field[i]`) must be a declared alarm's.
pub(super) fn named_alarms(field: &str, names: &[String], alarms: &[Alarm]) -> Result<(), String> {
    for (i, n) in names.iter().enumerate() {
        if !alarms.iter().any(|a| a.name == *n) {
            return Err(format!(
                "{field}[{i}]: no alarm named {n:?} is declared (add an [[alarm]] table with name = {n:?})"
            ));
        }
    }
    Ok(())
}

/// The objectives, checked: times are durations (never negative), and the
/// alarms to recover are declared ones.
pub(super) fn objectives(s: &ObjectivesSection, alarms: &[Alarm]) -> Result<Objectives, String> {
    let time = |f: &str, t: &Option<String>| -> Result<Option<Duration>, String> {
        t.as_deref()
            .map(|t| duration_field(&format!("objectives.{f}"), t))
            .transpose()
    };
    named_alarms("objectives.recover", &s.recover, alarms)?;
    let recover_within = time("recover_within", &s.recover_within)?;
    if !s.recover.is_empty() && recover_within.is_none() {
        return Err(
            "objectives.recover_within is required with objectives.recover: how long after the faults end the alarms must be OK".into(),
        );
    }
    Ok(Objectives {
        rto: time("rto", &s.rto)?,
        rpo: time("rpo", &s.rpo)?,
        max_failed_requests: s.max_failed_requests,
        recover: s.recover.clone(),
        recover_within: recover_within.unwrap_or_default(),
    })
}
