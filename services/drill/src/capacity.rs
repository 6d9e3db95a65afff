//! A provisioned drill table (`[table.capacity]`, docs/drills.md,
//! *Capacity*): how the driver asks for it, and its section of the
//! report from the regions' status samples (each replica's units and the
//! units charged to it), and what a drill against a running cluster
//! cannot set. Pure.

use std::time::Duration;

use meridian_proto::v1 as pb;
use meridian_scenario::report::{CapacityReport, UnitsChange};
use meridian_scenario::scenario::{Capacity, Scaling, Scenario};

use crate::collect::Sample;

/// CreateTable's `provisioned` for `c`.
pub(crate) fn provisioned(c: &Capacity) -> pb::Provisioned {
    let spec = |s: &Scaling| pb::AutoScalingSpec {
        min: s.min,
        max: s.max,
        target: s.target,
    };
    pb::Provisioned {
        read_units: c.read_units,
        write_units: c.write_units,
        write_scaling: c.write_scaling.as_ref().map(spec),
        read_scaling: c.read_scaling.as_ref().map(spec),
    }
}

/// The regions' auto scaling period and burst for `scenario`: its
/// `[table.capacity]`'s, else DynamoDB's minute and five minutes.
pub(crate) fn region_settings(scenario: &Scenario) -> (Duration, Duration) {
    let c = scenario.table.capacity.as_ref();
    (
        c.and_then(|c| c.autoscaling_period)
            .unwrap_or(Duration::from_millis(meridian_core::autoscaling::PERIOD_MS)),
        c.and_then(|c| c.burst).unwrap_or(Duration::from_secs(
            meridian_core::throughput::BURST_SECONDS,
        )),
    )
}

/// What a drill against the running cluster of `file` cannot do: set its
/// regions' auto scaling period or burst, which their cluster file gives.
/// A `[table.capacity]` value that differs from the file's is refused by
/// name rather than left unapplied.
pub(crate) fn refuse_unappliable(
    scenario: &Scenario,
    file: &meridian_region::ClusterFile,
) -> Result<(), String> {
    let Some(c) = &scenario.table.capacity else {
        return Ok(());
    };
    if let Some(p) = c.autoscaling_period
        && p.as_millis() as u64 != file.autoscaling_period_ms
    {
        return Err(format!(
            "table.capacity.autoscaling_period = {p:?}: a drill against a running cluster does not configure its regions, whose file has autoscaling_period_ms = {}; set it there, or leave it out here",
            file.autoscaling_period_ms
        ));
    }
    if let Some(b) = c.burst
        && b.as_secs() != file.burst_capacity_s
    {
        return Err(format!(
            "table.capacity.burst = {b:?}: a drill against a running cluster does not configure its regions, whose file has burst_capacity_s = {}; set it there, or leave it out here",
            file.burst_capacity_s
        ));
    }
    Ok(())
}

/// Each region's replica of `table` over the samples, in the report's
/// region order; `throttled` gives the drill's requests each region
/// refused for spent units. Regions whose status never showed the table
/// provisioned are left out. A region restarted counts its charges from
/// zero again; they are added up across restarts.
pub(crate) fn report(
    names: &[String],
    table: &str,
    samples: &[Sample],
    throttled: impl Fn(&str) -> u64,
    sample_interval_ms: u64,
) -> Vec<CapacityReport> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut r = CapacityReport {
            region: name.clone(),
            table: table.to_string(),
            throttled_requests: throttled(name),
            ..Default::default()
        };
        let mut last: Option<[f64; 2]> = None;
        for s in samples {
            let Some(u) = s.statuses[i]
                .as_ref()
                .and_then(|st| st.units.iter().find(|u| u.table == table))
            else {
                continue;
            };
            if r.units
                .last()
                .is_none_or(|c| (c.read_units, c.write_units) != (u.read_units, u.write_units))
            {
                r.units.push(UnitsChange {
                    t_ms: s.t_ms,
                    read_units: u.read_units,
                    write_units: u.write_units,
                });
            }
            let now = [u.consumed_read, u.consumed_write];
            let gained = |k: usize| match last {
                Some(l) if now[k] >= l[k] => now[k] - l[k],
                // The first sample, or the region restarted.
                _ => now[k],
            };
            let (read, write) = (gained(0), gained(1));
            r.consumed_read += read;
            r.consumed_write += write;
            if last.is_some() && sample_interval_ms > 0 {
                let per_s = write * 1000.0 / sample_interval_ms as f64;
                r.peak_write_per_s = r.peak_write_per_s.max(per_s);
            }
            last = Some(now);
        }
        if !r.units.is_empty() {
            r.consumed_read = round(r.consumed_read);
            r.consumed_write = round(r.consumed_write);
            r.peak_write_per_s = round(r.peak_write_per_s);
            out.push(r);
        }
    }
    out
}

/// To a tenth: reports compare byte for byte, and sums of halves and
/// thirds should not show float noise.
fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, units: Option<(u64, f64)>) -> Sample {
        Sample {
            t_ms,
            statuses: vec![Some(pb::StatusResponse {
                units: units
                    .map(|(w, consumed)| pb::TableUnits {
                        table: "t".into(),
                        read_units: 5,
                        write_units: w,
                        consumed_read: 0.0,
                        consumed_write: consumed,
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            })],
        }
    }

    #[test]
    fn units_are_listed_at_each_change_and_charges_add_up_across_a_restart() {
        let samples = [
            sample(0, None),
            sample(250, Some((10, 5.0))),
            sample(500, Some((10, 10.0))),
            sample(750, Some((20, 15.0))),
            // Restarted: counts from zero again.
            sample(1000, Some((20, 2.0))),
        ];
        let r = report(&["a".into()], "t", &samples, |_| 3, 250);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        let changes: Vec<_> = r.units.iter().map(|c| (c.t_ms, c.write_units)).collect();
        assert_eq!(changes, [(250, 10), (750, 20)]);
        assert_eq!(r.consumed_write, 17.0);
        assert_eq!(r.peak_write_per_s, 20.0, "5 units in 250 ms");
        assert_eq!(r.throttled_requests, 3);
    }

    /// A drill against a running cluster refuses a period or burst its
    /// regions do not have, naming the field, and takes the ones they do.
    #[test]
    fn a_running_clusters_own_burst_and_period_are_the_only_ones_taken() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let scenario = Scenario::load(&root.join("simulations/capacity-failover.toml")).unwrap();
        let mut file =
            meridian_region::ClusterFile::load(&root.join("regions/local-3.toml")).unwrap();
        let e = refuse_unappliable(&scenario, &file).unwrap_err();
        assert!(e.starts_with("table.capacity.autoscaling_period"), "{e}");
        file.autoscaling_period_ms = 5_000;
        let e = refuse_unappliable(&scenario, &file).unwrap_err();
        assert!(e.starts_with("table.capacity.burst"), "{e}");
        file.burst_capacity_s = 0;
        assert_eq!(refuse_unappliable(&scenario, &file), Ok(()));
    }

    #[test]
    fn a_region_that_never_showed_the_table_is_left_out() {
        let r = report(&["a".into()], "t", &[sample(0, None)], |_| 0, 250);
        assert!(r.is_empty());
    }
}
