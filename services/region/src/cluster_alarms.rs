//! The cluster file's `[[alarm]]` tables: a scenario's alarms, in the same
//! shape and checked by the same rules
//! ([`meridian_scenario::scenario::criteria::alarms`]), over what a
//! running cluster exports. `meridian up` evaluates them every
//! [`ALARM_SAMPLE_INTERVAL`] and serves their states on its control API,
//! where the dashboard and `meridian alarms` read them (docs/drills.md,
//! *Judge the drill by your application*).

use std::time::Duration;

use meridian_scenario::alarm::{Alarm, MetricName};

use crate::ClusterFile;

/// How often `meridian up` samples the regions for its alarms: a period
/// shorter than this would hold no datapoint, so none may be.
pub const ALARM_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

impl ClusterFile {
    /// The file's alarms, checked: each field as a scenario's, and the
    /// metric one a cluster has. `FailedRequests` and `ErrorRate` count a
    /// drill's own requests, which a cluster under `meridian up` does not
    /// make (its `ThrottledRequests`, `UserErrors` and `SystemErrors` are
    /// the regions' DynamoDB endpoints' answers); the failover endpoint's
    /// metrics need the failover endpoint; and the states are served on
    /// the control API, so alarms need `[netsim]`.
    pub fn checked_alarms(&self) -> Result<Vec<Alarm>, String> {
        let alarms = meridian_scenario::scenario::criteria::alarms(
            &self.alarms,
            &self.region_names(),
            ALARM_SAMPLE_INTERVAL,
        )?;
        for (i, a) in alarms.iter().enumerate() {
            match a.metric {
                MetricName::FailedRequests | MetricName::ErrorRate => {
                    return Err(format!(
                        "alarm[{i}].metric: {} counts a drill's own requests, and a cluster makes none; watch the regions' UserErrors, SystemErrors or ThrottledRequests",
                        a.metric.as_str()
                    ));
                }
                m if m.failover_endpoints() && self.failover.is_none() => {
                    return Err(format!(
                        "alarm[{i}].metric: {} is the failover endpoint's, and this file has no [failover] section (docs/failover.md)",
                        m.as_str()
                    ));
                }
                _ => {}
            }
        }
        if !alarms.is_empty() && self.netsim.is_none() {
            return Err(
                "alarm: `meridian up` serves the alarms' states on its control API, and this file has no [netsim] section (docs/netsim.md)"
                    .into(),
            );
        }
        Ok(alarms)
    }
}
