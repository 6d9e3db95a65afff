//! `[table.capacity]` checked: a provisioned drill table holds to what
//! DynamoDB holds a provisioned table to (`meridian_core::units`,
//! `meridian_core::autoscaling`), with the figures a drill may shorten
//! (auto scaling's period, the burst) never longer than AWS's.

use std::time::Duration;

use meridian_core::autoscaling::{PERIOD_MS, TARGET_RANGE};
use meridian_core::throughput::BURST_SECONDS;
use meridian_core::units::MAX_CAPACITY_UNITS;

use super::file::{CapacitySection, ScalingSection};
use super::model::{Capacity, Scaling};
use super::units::duration_field;

/// The shortest auto scaling period a drill may set.
const MIN_PERIOD: Duration = Duration::from_secs(1);

/// `[table.capacity]` of a table of `replicas` regions, checked; errors
/// name the field and its limit.
pub(super) fn capacity(c: &CapacitySection, replicas: usize) -> Result<Capacity, String> {
    for (field, units) in [("read_units", c.read_units), ("write_units", c.write_units)] {
        units_in_range(&format!("table.capacity.{field}"), units)?;
    }
    let write_scaling = c
        .write_scaling
        .as_ref()
        .map(|s| scaling("table.capacity.write_scaling", s))
        .transpose()?;
    let read_scaling = c
        .read_scaling
        .as_ref()
        .map(|s| scaling("table.capacity.read_scaling", s))
        .transpose()?;
    if replicas > 1 && write_scaling.is_none() {
        return Err(format!(
            "table.capacity.write_scaling is required for a table of {replicas} replicas: {}",
            meridian_core::autoscaling::NOT_AUTOSCALED
        ));
    }
    let most_period = Duration::from_millis(PERIOD_MS);
    let autoscaling_period = c
        .autoscaling_period
        .as_ref()
        .map(|p| duration_field("table.capacity.autoscaling_period", p))
        .transpose()?;
    if let Some(p) = autoscaling_period
        && !(MIN_PERIOD..=most_period).contains(&p)
    {
        return Err(format!(
            "table.capacity.autoscaling_period = {p:?}: from 1 s to DynamoDB's 60 s"
        ));
    }
    let burst = c
        .burst
        .as_ref()
        .map(|b| duration_field("table.capacity.burst", b))
        .transpose()?;
    if let Some(b) = burst
        && (b > Duration::from_secs(BURST_SECONDS) || b.subsec_nanos() != 0)
    {
        return Err(format!(
            "table.capacity.burst = {b:?}: whole seconds, at most DynamoDB's 300 s"
        ));
    }
    Ok(Capacity {
        read_units: c.read_units,
        write_units: c.write_units,
        write_scaling,
        read_scaling,
        autoscaling_period,
        burst,
    })
}

fn units_in_range(field: &str, units: u64) -> Result<(), String> {
    if (1..=MAX_CAPACITY_UNITS).contains(&units) {
        Ok(())
    } else {
        Err(format!("{field} = {units}: from 1 to {MAX_CAPACITY_UNITS}"))
    }
}

fn scaling(field: &str, s: &ScalingSection) -> Result<Scaling, String> {
    units_in_range(&format!("{field}.min"), s.min)?;
    units_in_range(&format!("{field}.max"), s.max)?;
    if s.min > s.max {
        return Err(format!(
            "{field}.min = {} is above {field}.max = {}",
            s.min, s.max
        ));
    }
    if !TARGET_RANGE.contains(&s.target) {
        return Err(format!(
            "{field}.target = {}: from {} to {} percent",
            s.target,
            TARGET_RANGE.start(),
            TARGET_RANGE.end()
        ));
    }
    Ok(Scaling {
        min: s.min,
        max: s.max,
        target: s.target,
    })
}
