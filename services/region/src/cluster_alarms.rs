//! The cluster file's `[[alarm]]` tables: a scenario's alarms, in the same
//! shape and checked by the same rules
//! ([`meridian_scenario::scenario::criteria::alarms`]), over what a
//! running cluster exports. `meridian up` evaluates them every
//! [`ALARM_SAMPLE_INTERVAL`] and serves their states on its control API,
//! where the dashboard and `meridian alarms` read them (docs/drills.md,
//! *Judge the drill by your application*).

use std::time::Duration;

use meridian_scenario::alarm::Alarm;

use crate::ClusterFile;

/// How often `meridian up` samples the regions for its alarms: a period
/// shorter than this would hold no datapoint, so none may be.
pub const ALARM_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

impl ClusterFile {
    /// The file's alarms, checked: each field as a scenario's, and the
    /// metric one a cluster has. A cluster under `meridian up` makes no
    /// requests of its own: its request metrics (`FailedRequests`,
    /// `ErrorRate`, `ThrottledRequests`, `UserErrors`, `SystemErrors`)
    /// count what the regions' DynamoDB endpoints answered; the failover
    /// endpoint's metrics need the failover endpoint; and the states are
    /// served on the control API, so alarms need `[netsim]`.
    pub fn checked_alarms(&self) -> Result<Vec<Alarm>, String> {
        let alarms = meridian_scenario::scenario::criteria::alarms(
            &self.alarms,
            &self.region_names(),
            ALARM_SAMPLE_INTERVAL,
        )?;
        if self.failover.is_none()
            && let Some(i) = alarms.iter().position(|a| a.metric.failover_endpoints())
        {
            return Err(format!(
                "alarm[{i}].metric: {} is the failover endpoint's, and this file has no [failover] section (docs/failover.md)",
                alarms[i].metric.as_str()
            ));
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
