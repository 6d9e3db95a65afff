//! Auto scaling of a provisioned table's units, as DynamoDB's auto scaling
//! (Application Auto Scaling's target tracking) does it for a global
//! table: the settings, their rules, and the decision each region makes
//! for its own replica. Pure: the region measures consumption and keeps
//! the units it scaled to (`meridian_region::autoscaler`).
//!
//! - **What is synchronized.** "If provisioned with auto scaling, the
//!   write settings (minimum, maximum, and target utilization) are
//!   replicated across Regions. Although the auto scaling settings are
//!   synchronized, the actual provisioned write capacity can float
//!   independently between Regions" (*Throughput capacity planning for
//!   DynamoDB global tables*). So the settings live in the table's
//!   synchronized settings row ([`crate::settings::TableSettings`]): the
//!   write settings once for every replica, read settings per replica
//!   (UpdateTableReplicaAutoScaling's `ReplicaUpdates`), and each region
//!   scales its own replica's units.
//! - **Why a global table needs it.** "A global table must be in on-demand
//!   mode or provisioned with auto scaling enabled" (the same page):
//!   adding a replica to a provisioned table without write auto scaling is
//!   refused ([`replicas_refused`]).
//! - **The cadence.** "Auto scaling triggers when your consumed capacity
//!   breaches the configured target utilization for two consecutive
//!   minutes. ... a scale down event can occur when 15 consecutive data
//!   points are lower than the target utilization" (*DynamoDB Metrics and
//!   dimensions*); the knowledge center (*DynamoDB auto scaling*) puts the
//!   lower alarm at "20% or more below the target". [`decide`] counts in
//!   data points of one period each (a minute on AWS).

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value as Json, json};

use crate::error::Error;
use crate::units::MAX_CAPACITY_UNITS;

/// The lowest and highest target utilization DynamoDB auto scaling takes,
/// percent: "between 20 and 90 percent" (*Managing throughput capacity
/// automatically with DynamoDB auto scaling*).
pub const TARGET_RANGE: std::ops::RangeInclusive<f64> = 20.0..=90.0;

/// DynamoDB's data point: "DynamoDB outputs consumed provisioned
/// throughput for one-minute periods" (*DynamoDB Metrics and
/// dimensions*). A region's `autoscaling_period_ms` defaults to it.
pub const PERIOD_MS: u64 = 60_000;

/// Data points above the target before a scale out.
pub const SCALE_OUT_POINTS: usize = 2;
/// Data points below the lower threshold before a scale in.
pub const SCALE_IN_POINTS: usize = 15;
/// How far below the target (percentage points) the lower threshold is.
pub const SCALE_IN_MARGIN: f64 = 20.0;

/// AWS's message for a replica added to a provisioned table whose write
/// capacity is not auto scaled (met by Terraform and CDK users:
/// terraform-provider-aws issue 13097, aws-cdk issue 11346).
pub const NOT_AUTOSCALED: &str =
    "Table write capacity should either be Pay-Per-Request or AutoScaled.";

/// The field of [`NOT_AUTOSCALED`], whose message is AWS's own, whole.
pub const FIELD: &str = "ReplicaUpdates[].Create";

/// One direction's auto scaling: DynamoDB's `AutoScalingSettingsDescription`
/// with its one target tracking policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub min: u64,
    pub max: u64,
    /// Target utilization, percent ([`TARGET_RANGE`]).
    pub target: f64,
    pub disable_scale_in: bool,
    /// Seconds after a scale in (out) before another may start; 0 by
    /// default for DynamoDB tables (Application Auto Scaling's default
    /// cooldown for DynamoDB, as AWS CDK's `BaseTargetTrackingProps`
    /// documents it).
    pub scale_in_cooldown: u64,
    pub scale_out_cooldown: u64,
    pub policy_name: String,
}

/// A target is never NaN: every policy is checked against [`TARGET_RANGE`].
impl Eq for Policy {}

/// A table's auto scaling settings: its write settings, shared by every
/// replica, and each replica's read settings, by region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoScaling {
    pub write: Option<Policy>,
    pub read: BTreeMap<String, Policy>,
}

impl AutoScaling {
    pub fn is_empty(&self) -> bool {
        self.write.is_none() && self.read.is_empty()
    }
}

/// `TargetTrackingScalingPolicyConfiguration` (with its `PolicyName`) as
/// an update gives it: the target is required, the rest keep what was set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetUpdate {
    pub policy_name: Option<String>,
    pub target: f64,
    pub disable_scale_in: Option<bool>,
    pub scale_in_cooldown: Option<u64>,
    pub scale_out_cooldown: Option<u64>,
}

/// A target as parsed from JSON, never NaN.
impl Eq for TargetUpdate {}

/// `AutoScalingSettingsUpdate`: what is not given keeps what was set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyUpdate {
    /// The request member it came from, which its errors name
    /// (`ProvisionedWriteCapacityAutoScalingUpdate`, ...).
    pub field: String,
    pub min: Option<u64>,
    pub max: Option<u64>,
    /// `AutoScalingDisabled: true`: the settings are removed.
    pub disabled: bool,
    pub policy: Option<TargetUpdate>,
}

/// What one UpdateTableReplicaAutoScaling asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalingUpdate {
    pub write: Option<PolicyUpdate>,
    /// Read settings by replica region.
    pub read: Vec<(String, PolicyUpdate)>,
}

impl PolicyUpdate {
    /// The policy after this update of `current` (`None`: removed), for
    /// `kind` ("Write" or "Read") units of `table`, or the refusal naming
    /// the member at fault and its limit.
    pub fn apply(
        &self,
        current: Option<&Policy>,
        kind: &str,
        table: &str,
    ) -> Result<Option<Policy>, Error> {
        if self.disabled {
            return Ok(None);
        }
        let (min, max) = self.bounds(current, kind, table)?;
        let next = match (&self.policy, current) {
            (None, None) => {
                return Err(Error::invalid(
                    format!("{}.ScalingPolicyUpdate", self.field),
                    format!(
                        "a target tracking policy (TargetValue) is required when {kind} auto scaling of table {table} is first set"
                    ),
                ));
            }
            (None, Some(c)) => Policy {
                min,
                max,
                ..c.clone()
            },
            (Some(p), c) => self.targeted(p, c, (min, max), kind, table)?,
        };
        Ok(Some(next))
    }

    /// The minimum and maximum units after this update of `current`: each
    /// given or kept, both in range and in order. Settings set for the first
    /// time must give both.
    fn bounds(
        &self,
        current: Option<&Policy>,
        kind: &str,
        table: &str,
    ) -> Result<(u64, u64), Error> {
        let f = &self.field;
        let first = |member: &str| {
            Error::invalid(
                format!("{f}.{member}"),
                format!("required when {kind} auto scaling of table {table} is first set"),
            )
        };
        let min = self
            .min
            .or(current.map(|c| c.min))
            .ok_or_else(|| first("MinimumUnits"))?;
        let max = self
            .max
            .or(current.map(|c| c.max))
            .ok_or_else(|| first("MaximumUnits"))?;
        for (member, v) in [("MinimumUnits", min), ("MaximumUnits", max)] {
            if !(1..=MAX_CAPACITY_UNITS).contains(&v) {
                return Err(Error::invalid(
                    format!("{f}.{member}"),
                    format!("{v} is out of range: units are from 1 to {MAX_CAPACITY_UNITS}"),
                ));
            }
        }
        if min > max {
            return Err(Error::invalid(
                f.clone(),
                format!("MinimumUnits ({min}) must not be above MaximumUnits ({max})"),
            ));
        }
        Ok((min, max))
    }

    /// The policy this update's target tracking `p` makes of `c` with the
    /// units `(min, max)`: what `p` does not give is kept from `c`, or a
    /// default when there is no `c`. The target and policy name are
    /// checked first, so a refusal names the member at fault.
    fn targeted(
        &self,
        p: &TargetUpdate,
        c: Option<&Policy>,
        (min, max): (u64, u64),
        kind: &str,
        table: &str,
    ) -> Result<Policy, Error> {
        let f = &self.field;
        let tf = format!("{f}.ScalingPolicyUpdate.TargetTrackingScalingPolicyConfiguration");
        if !TARGET_RANGE.contains(&p.target) {
            return Err(Error::invalid(
                format!("{tf}.TargetValue"),
                format!(
                    "{} is outside the target utilization DynamoDB auto scaling takes, {} to {} (percent)",
                    p.target,
                    TARGET_RANGE.start(),
                    TARGET_RANGE.end()
                ),
            ));
        }
        if let Some(name) = &p.policy_name
            && !(1..=256).contains(&name.len())
        {
            return Err(Error::invalid(
                format!("{f}.ScalingPolicyUpdate.PolicyName"),
                format!("{} characters; a policy name has 1 to 256", name.len()),
            ));
        }
        let keep = |get: fn(&Policy) -> u64| c.map(get).unwrap_or(0);
        Ok(Policy {
            min,
            max,
            target: p.target,
            disable_scale_in: p
                .disable_scale_in
                .or(c.map(|c| c.disable_scale_in))
                .unwrap_or(false),
            scale_in_cooldown: p.scale_in_cooldown.unwrap_or(keep(|c| c.scale_in_cooldown)),
            scale_out_cooldown: p
                .scale_out_cooldown
                .unwrap_or(keep(|c| c.scale_out_cooldown)),
            policy_name: p
                .policy_name
                .clone()
                .or(c.map(|c| c.policy_name.clone()))
                .unwrap_or_else(|| default_policy_name(kind, table)),
        })
    }
}

/// The policy name DynamoDB's console gives: `DynamoDB<Kind>CapacityUtilization:table/<name>`.
fn default_policy_name(kind: &str, table: &str) -> String {
    format!("DynamoDB{kind}CapacityUtilization:table/{table}")
}

impl ScalingUpdate {
    /// `current` after this update, for `table` whose replicas are
    /// `replicas`, when `provisioned`; refused naming the member at fault,
    /// so nothing changes.
    pub fn apply(
        &self,
        current: &AutoScaling,
        table: &str,
        provisioned: bool,
        replicas: &[String],
    ) -> Result<AutoScaling, Error> {
        if !provisioned {
            let field = self
                .write
                .iter()
                .chain(self.read.iter().map(|(_, u)| u))
                .next()
                .map_or(FIELD, |u| u.field.as_str());
            return Err(Error::invalid(
                field,
                format!(
                    "auto scaling applies to PROVISIONED tables only; table {table} is PAY_PER_REQUEST"
                ),
            ));
        }
        let mut next = current.clone();
        if let Some(w) = &self.write {
            next.write = w.apply(current.write.as_ref(), "Write", table)?;
        }
        for (region, u) in &self.read {
            if !replicas.contains(region) {
                return Err(Error::invalid(
                    format!(
                        "{}.RegionName",
                        u.field
                            .rsplit_once('.')
                            .map_or("ReplicaUpdates", |(p, _)| p)
                    ),
                    format!("{region} holds no replica of table {table}"),
                ));
            }
            match u.apply(next.read.get(region), "Read", table)? {
                Some(p) => next.read.insert(region.clone(), p),
                None => next.read.remove(region),
            };
        }
        Ok(next)
    }
}

/// Refuses replicas added to a table of these settings: a PROVISIONED
/// table must auto scale its writes first (AWS's [`NOT_AUTOSCALED`]).
pub fn replicas_refused(provisioned: bool, scaling: &AutoScaling) -> Result<(), Error> {
    if provisioned && scaling.write.is_none() {
        return Err(Error::invalid(FIELD, NOT_AUTOSCALED));
    }
    Ok(())
}

impl Policy {
    fn to_json(&self) -> Json {
        json!({
            "min": self.min, "max": self.max, "target": self.target,
            "dsi": self.disable_scale_in, "sic": self.scale_in_cooldown,
            "soc": self.scale_out_cooldown, "name": self.policy_name,
        })
    }

    /// A policy as a peer's row holds it: untrusted, so every field is
    /// checked against the rules an update is held to.
    fn from_json(v: &Json) -> Option<Policy> {
        let o = v.as_object()?;
        if o.len() != 7 {
            return None;
        }
        let p = Policy {
            min: o.get("min")?.as_u64()?,
            max: o.get("max")?.as_u64()?,
            target: o.get("target")?.as_f64()?,
            disable_scale_in: o.get("dsi")?.as_bool()?,
            scale_in_cooldown: o.get("sic")?.as_u64()?,
            scale_out_cooldown: o.get("soc")?.as_u64()?,
            policy_name: o.get("name")?.as_str()?.to_string(),
        };
        let ok = (1..=MAX_CAPACITY_UNITS).contains(&p.min)
            && (p.min..=MAX_CAPACITY_UNITS).contains(&p.max)
            && TARGET_RANGE.contains(&p.target)
            && (1..=256).contains(&p.policy_name.len());
        ok.then_some(p)
    }
}

impl AutoScaling {
    /// The text a settings row keeps (`scaling`).
    pub fn to_text(&self) -> String {
        let read: serde_json::Map<String, Json> = self
            .read
            .iter()
            .map(|(r, p)| (r.clone(), p.to_json()))
            .collect();
        json!({"write": self.write.as_ref().map(Policy::to_json), "read": read}).to_string()
    }

    /// The settings a row's text holds; `None` when it is not what
    /// [`Self::to_text`] writes within the rules.
    pub fn from_text(text: &str) -> Option<AutoScaling> {
        let v: Json = serde_json::from_str(text).ok()?;
        let o = v.as_object()?;
        if o.len() != 2 {
            return None;
        }
        let write = match o.get("write")? {
            Json::Null => None,
            w => Some(Policy::from_json(w)?),
        };
        let mut read = BTreeMap::new();
        for (region, p) in o.get("read")?.as_object()? {
            crate::key::validate_region_name(region).ok()?;
            read.insert(region.clone(), Policy::from_json(p)?);
        }
        Some(AutoScaling { write, read })
    }
}

/// One replica's measurements of one direction's units since its last
/// scaling action: consumed units a second per data point, newest last.
#[derive(Clone, Debug, Default)]
pub struct Window {
    points: VecDeque<f64>,
    /// When (seconds, the caller's clock) this replica last scaled out
    /// and in, for the policy's cooldowns.
    last_out: Option<f64>,
    last_in: Option<f64>,
}

impl Window {
    /// Adds a data point: units consumed a second over the last period.
    pub fn push(&mut self, per_second: f64) {
        self.points.push_back(per_second);
        while self.points.len() > SCALE_IN_POINTS {
            self.points.pop_front();
        }
    }

    /// Records a scaling action to `to` from `from` at `now`: the alarms
    /// start again on the new units, as Application Auto Scaling makes
    /// them anew after each change.
    pub fn scaled(&mut self, from: u64, to: u64, now: f64) {
        self.points.clear();
        if to > from {
            self.last_out = Some(now);
        } else {
            self.last_in = Some(now);
        }
    }
}

/// The units `policy` scales `units` to at `now` from what `w` measured,
/// `None` to leave them:
///
/// - outside `[min, max]` (settings just set or changed): to the nearest
///   bound at once;
/// - the last [`SCALE_OUT_POINTS`] data points above the target: out, to
///   what puts the latest at the target, at most `max`;
/// - the last [`SCALE_IN_POINTS`] all [`SCALE_IN_MARGIN`] points or more
///   below it (and scale in not disabled): in, to what puts the busiest of
///   them at the target, at least `min`;
///
/// each past its cooldown since the last action of its kind.
pub fn decide(policy: &Policy, units: u64, w: &Window, now: f64) -> Option<u64> {
    if units < policy.min {
        return Some(policy.min);
    }
    if units > policy.max {
        return Some(policy.max);
    }
    let utilization = |per_second: f64| per_second / units as f64 * 100.0;
    let at_target = |per_second: f64| {
        ((per_second * 100.0 / policy.target).ceil() as u64).clamp(policy.min, policy.max)
    };
    let cooled = |last: Option<f64>, secs: u64| last.is_none_or(|t| now - t >= secs as f64);
    let n = w.points.len();
    if n >= SCALE_OUT_POINTS
        && w.points
            .iter()
            .skip(n - SCALE_OUT_POINTS)
            .all(|p| utilization(*p) > policy.target)
        && cooled(w.last_out, policy.scale_out_cooldown)
    {
        let to = at_target(*w.points.back()?);
        return (to > units).then_some(to);
    }
    if n >= SCALE_IN_POINTS
        && !policy.disable_scale_in
        && w.points
            .iter()
            .all(|p| utilization(*p) < policy.target - SCALE_IN_MARGIN)
        && cooled(w.last_in, policy.scale_in_cooldown)
    {
        let busiest = w.points.iter().copied().fold(0.0, f64::max);
        let to = at_target(busiest);
        return (to < units).then_some(to);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: u64, max: u64, target: f64) -> Policy {
        Policy {
            min,
            max,
            target,
            disable_scale_in: false,
            scale_in_cooldown: 0,
            scale_out_cooldown: 0,
            policy_name: "p".into(),
        }
    }

    fn update(min: Option<u64>, max: Option<u64>, target: Option<f64>) -> PolicyUpdate {
        PolicyUpdate {
            field: "ProvisionedWriteCapacityAutoScalingUpdate".into(),
            min,
            max,
            disabled: false,
            policy: target.map(|target| TargetUpdate {
                target,
                ..Default::default()
            }),
        }
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_settings_are_refused_naming_the_member() {
        let f = |u: PolicyUpdate| field_of(u.apply(None, "Write", "t").unwrap_err());
        assert_eq!(
            f(update(Some(10), Some(5), Some(70.0))),
            "ProvisionedWriteCapacityAutoScalingUpdate"
        );
        assert!(f(update(Some(1), Some(5), Some(95.0))).ends_with(".TargetValue"));
        assert!(f(update(Some(1), Some(5), Some(19.9))).ends_with(".TargetValue"));
        assert!(f(update(Some(0), Some(5), Some(70.0))).ends_with(".MinimumUnits"));
        assert!(f(update(Some(1), Some(40_001), Some(70.0))).ends_with(".MaximumUnits"));
        assert!(f(update(None, Some(5), Some(70.0))).ends_with(".MinimumUnits"));
        assert!(f(update(Some(1), Some(5), None)).ends_with(".ScalingPolicyUpdate"));
        let ok = update(Some(1), Some(5), Some(70.0))
            .apply(None, "Write", "t")
            .unwrap()
            .unwrap();
        assert_eq!((ok.min, ok.max, ok.target), (1, 5, 70.0));
        assert_eq!(ok.policy_name, "DynamoDBWriteCapacityUtilization:table/t");
        // A later update keeps what it does not give.
        let later = update(None, Some(9), None)
            .apply(Some(&ok), "Write", "t")
            .unwrap()
            .unwrap();
        assert_eq!((later.min, later.max, later.target), (1, 9, 70.0));
        let off = PolicyUpdate {
            disabled: true,
            ..update(None, None, None)
        };
        assert_eq!(off.apply(Some(&ok), "Write", "t").unwrap(), None);
    }

    #[test]
    fn on_demand_tables_and_foreign_regions_are_refused() {
        let u = ScalingUpdate {
            write: Some(update(Some(1), Some(5), Some(70.0))),
            read: Vec::new(),
        };
        let none = AutoScaling::default();
        assert_eq!(
            field_of(u.apply(&none, "t", false, &[]).unwrap_err()),
            "ProvisionedWriteCapacityAutoScalingUpdate"
        );
        assert!(u.apply(&none, "t", true, &[]).unwrap().write.is_some());
        let r = ScalingUpdate {
            write: None,
            read: vec![(
                "eu-west-1".into(),
                PolicyUpdate {
                    field: "ReplicaUpdates[0].ReplicaProvisionedReadCapacityAutoScalingUpdate"
                        .into(),
                    ..update(Some(1), Some(5), Some(70.0))
                },
            )],
        };
        assert_eq!(
            field_of(
                r.apply(&none, "t", true, &["us-east-1".into()])
                    .unwrap_err()
            ),
            "ReplicaUpdates[0].RegionName"
        );
        let both = r.apply(&none, "t", true, &["eu-west-1".into()]).unwrap();
        assert!(both.read.contains_key("eu-west-1"));
        assert!(
            replicas_refused(true, &both).is_err(),
            "reads alone do not do"
        );
        assert!(replicas_refused(false, &none).is_ok());
    }

    #[test]
    fn a_row_keeps_the_settings_and_refuses_what_breaks_the_rules() {
        let mut s = AutoScaling {
            write: Some(policy(1, 10, 70.0)),
            read: BTreeMap::new(),
        };
        s.read.insert("eu-west-1".into(), policy(2, 20, 50.0));
        assert_eq!(AutoScaling::from_text(&s.to_text()), Some(s.clone()));
        s.write = Some(policy(10, 1, 70.0));
        assert_eq!(AutoScaling::from_text(&s.to_text()), None);
        s.write = Some(policy(1, 10, 95.0));
        assert_eq!(AutoScaling::from_text(&s.to_text()), None);
        assert_eq!(AutoScaling::from_text("{}"), None);
    }

    #[test]
    fn scales_out_after_two_points_above_target_and_in_after_fifteen_below() {
        let p = policy(5, 100, 50.0);
        let mut w = Window::default();
        assert_eq!(decide(&p, 1, &w, 0.0), Some(5), "up to the minimum at once");
        assert_eq!(decide(&p, 500, &w, 0.0), Some(100), "down to the maximum");
        w.push(8.0);
        assert_eq!(decide(&p, 10, &w, 60.0), None, "one point is not sustained");
        w.push(9.0);
        assert_eq!(decide(&p, 10, &w, 120.0), Some(18), "9 a second at 50 %");
        w.push(1000.0);
        assert_eq!(
            decide(&p, 10, &w, 120.0),
            Some(100),
            "never past the maximum"
        );
        w.scaled(10, 18, 120.0);
        for i in 0..14 {
            w.push(1.0);
            assert_eq!(
                decide(&p, 18, &w, 180.0 + i as f64),
                None,
                "{i} points below"
            );
        }
        w.push(1.0);
        assert_eq!(decide(&p, 18, &w, 300.0), Some(5), "in, to the minimum");
        // A point between the lower threshold and the target holds it.
        let mut w2 = Window::default();
        for _ in 0..15 {
            w2.push(6.0);
        }
        assert_eq!(
            decide(&p, 18, &w2, 0.0),
            None,
            "33 % is not 20 points below 50 %"
        );
        let still = Policy {
            disable_scale_in: true,
            ..p.clone()
        };
        assert_eq!(decide(&still, 18, &w, 300.0), None);
        let slow = Policy {
            scale_in_cooldown: 600,
            ..p.clone()
        };
        let mut w3 = w.clone();
        w3.scaled(30, 18, 250.0);
        for _ in 0..15 {
            w3.push(1.0);
        }
        assert_eq!(decide(&slow, 18, &w3, 300.0), None, "cooling down");
        assert_eq!(decide(&slow, 18, &w3, 850.0), Some(5));
    }
}
