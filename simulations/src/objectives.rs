//! The application's verdict beside Meridian's (docs/drills.md, *Judge
//! the drill by your application*): the scenario's objectives, as AWS
//! Resilience Hub states a resiliency policy (an RTO and an RPO) and runs
//! a recovery test (alarms back to OK in time), judged from the report.
//! Pure: the same report gives the same criteria.

use serde::{Deserialize, Serialize};

use crate::alarm::AlarmReport;
use crate::report::Report;
use crate::scenario::Objectives;

/// One criterion and how the drill met it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CriterionReport {
    /// `rto`, `rpo`, `failed_requests` or `recover <alarm>`.
    pub criterion: String,
    /// What it had to meet, as the scenario wrote it.
    pub target: String,
    /// What the drill measured.
    pub value: String,
    pub met: bool,
    /// When the value was measured (the disaster, the check), ms into the
    /// drill; `None` for a total.
    pub at_ms: Option<u64>,
}

impl CriterionReport {
    /// The verdict's line for a criterion not met.
    pub fn problem(&self) -> String {
        let at = self
            .at_ms
            .map(|t| format!(" at {t} ms"))
            .unwrap_or_default();
        format!(
            "objective {} not met{at}: {} (objective: {})",
            self.criterion, self.value, self.target
        )
    }
}

/// What the drill knows beside its report: when its faults ended, and the
/// application's failed requests where it can see them.
pub struct Judged {
    /// The timeline's last fault ended (its last event, or the stop), ms.
    pub faults_end_ms: u64,
    /// The application's failed requests: the drill's own, or the failover
    /// endpoint's; `None` when neither is known.
    pub failed_requests: Option<u64>,
    /// The drill's start in the regions' epoch time, µs: what a lost
    /// write's version is measured from.
    pub epoch_micros: u64,
}

/// Every objective of `o`, judged from `report`.
pub fn judge(o: &Objectives, report: &Report, known: &Judged) -> Vec<CriterionReport> {
    let mut out = Vec::new();
    if let Some(rto) = o.rto {
        out.push(rto_criterion(rto.as_millis() as u64, report));
    }
    if let Some(rpo) = o.rpo {
        out.push(rpo_criterion(
            rpo.as_millis() as u64,
            report,
            known.epoch_micros,
        ));
    }
    if let Some(max) = o.max_failed_requests {
        out.push(failed_requests(max, known.failed_requests, None));
    }
    let deadline = known.faults_end_ms + o.recover_within.as_millis() as u64;
    for name in &o.recover {
        let alarm = report.alarms.iter().find(|a| a.name == *name);
        out.push(recover_criterion(
            name,
            alarm,
            deadline,
            o.recover_within.as_millis() as u64,
        ));
    }
    out
}

/// The ceiling on the application's failed requests against `failed`
/// (`None`: unknown, which fails it), counted by the end or, for a
/// drill's live progress, by `at_ms`.
pub fn failed_requests(max: u64, failed: Option<u64>, at_ms: Option<u64>) -> CriterionReport {
    CriterionReport {
        criterion: "failed_requests".into(),
        target: format!("at most {max}"),
        value: failed.map_or("unknown".into(), |n| n.to_string()),
        met: failed.is_some_and(|n| n <= max),
        at_ms,
    }
}

/// Every disaster's RTO, and every failover move's time from the old
/// region's first failed check: the longest must be within `rto_ms`, and
/// a region that never served again fails it.
fn rto_criterion(rto_ms: u64, report: &Report) -> CriterionReport {
    // (the recovery time, never as the longest; when; the time; what)
    let mut worst: Option<(u64, u64, Option<u64>, String)> = None;
    let mut consider = |at: u64, rto: Option<u64>, what: String| {
        let key = rto.unwrap_or(u64::MAX);
        if worst.as_ref().is_none_or(|w| key > w.0) {
            worst = Some((key, at, rto, what));
        }
    };
    for d in &report.disasters {
        consider(d.at_ms, d.rto_ms, format!("{} ({})", d.region, d.label));
    }
    for m in report.failover.iter().flat_map(|f| &f.moves) {
        if let Some(ms) = m.after_first_failed_ms {
            consider(
                m.at_ms,
                Some(ms),
                format!("the failover endpoint's move {} → {}", m.from, m.to),
            );
        }
    }
    let target = format!("at most {rto_ms} ms");
    match worst {
        None => CriterionReport {
            criterion: "rto".into(),
            target,
            value: "no disaster or move to recover from".into(),
            met: true,
            at_ms: None,
        },
        Some((_, at, rto, what)) => CriterionReport {
            criterion: "rto".into(),
            target,
            value: match rto {
                Some(ms) => format!("{ms} ms, {what}"),
                None => format!("never served again during the drill, {what}"),
            },
            met: rto.is_some_and(|ms| ms <= rto_ms),
            at_ms: Some(at),
        },
    }
}

/// Every disaster's window of lost writes, from the oldest it lost for
/// good to the loss; a failover move whose client's writes are still
/// missing at the end has lost them too, over a window the drill cannot
/// date, so it fails any RPO.
fn rpo_criterion(rpo_ms: u64, report: &Report, epoch_micros: u64) -> CriterionReport {
    let mut worst: Option<(u64, u64, String)> = None;
    for d in &report.disasters {
        let oldest = d
            .lost
            .iter()
            .filter_map(|w| w.version.parse::<meridian_core::Version>().ok())
            .map(|v| v.hlc.physical.saturating_sub(epoch_micros) / 1000)
            .min();
        if let Some(oldest) = oldest {
            let window = d.at_ms.saturating_sub(oldest);
            if worst.as_ref().is_none_or(|w| window > w.1) {
                let what = format!("{} writes lost by {} ({})", d.lost.len(), d.region, d.label);
                worst = Some((d.at_ms, window, what));
            }
        }
    }
    let target = format!("at most {rpo_ms} ms of writes lost");
    if let Some(m) = report
        .failover
        .iter()
        .flat_map(|f| &f.moves)
        .find(|m| m.still_missing > 0)
    {
        return CriterionReport {
            criterion: "rpo".into(),
            target,
            value: format!(
                "{} writes acknowledged in {} before the failover endpoint moved never reached {}",
                m.still_missing, m.from, m.to
            ),
            met: false,
            at_ms: Some(m.at_ms),
        };
    }
    match worst {
        None => CriterionReport {
            criterion: "rpo".into(),
            target,
            value: "no acknowledged write lost".into(),
            met: true,
            at_ms: None,
        },
        Some((at, window, what)) => CriterionReport {
            criterion: "rpo".into(),
            target,
            value: format!("{window} ms: {what}"),
            met: window <= rpo_ms,
            at_ms: Some(at),
        },
    }
}

/// The alarm must be OK `within_ms` after the faults ended (`deadline`),
/// as Resilience Hub's recovery test asks of an application's alarms.
fn recover_criterion(
    name: &str,
    alarm: Option<&AlarmReport>,
    deadline: u64,
    within_ms: u64,
) -> CriterionReport {
    let state = alarm.map_or("unknown", |a| a.state_at(deadline));
    let last_period = alarm.and_then(|a| a.periods.last()).map_or(0, |p| p.0);
    let value = match alarm {
        Some(a) if state == "OK" => {
            let since = a
                .transitions
                .iter()
                .rev()
                .find(|t| t.at_ms <= deadline && t.to.as_str() == "OK")
                .map_or(0, |t| t.at_ms);
            format!("OK from {since} ms")
        }
        _ if last_period < deadline => {
            format!("{state} at the drill's last evaluation, {last_period} ms")
        }
        _ => format!("{state} at {deadline} ms"),
    };
    CriterionReport {
        criterion: format!("recover {name}"),
        target: format!("OK within {within_ms} ms of the faults' end"),
        value,
        met: state == "OK",
        at_ms: Some(deadline),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alarm::{AlarmState, Transition};
    use crate::report::{DisasterReport, LostWrite};

    fn known() -> Judged {
        Judged {
            faults_end_ms: 10_000,
            failed_requests: Some(7),
            epoch_micros: 1_000_000_000,
        }
    }

    #[test]
    fn each_criterion_says_what_failed_when_and_with_what() {
        let mut report = Report::default();
        report.disasters.push(DisasterReport {
            region: "b".into(),
            at_ms: 5_000,
            label: "wipe b".into(),
            rto_ms: Some(3_000),
            // Written 1.5 s into the drill, lost at 5 s: a 3.5 s window.
            lost: vec![LostWrite {
                key: "k".into(),
                version: "1001.500000+0@b".into(),
            }],
            ..DisasterReport::default()
        });
        let ok = |to: AlarmState, at_ms| Transition {
            at_ms,
            from: AlarmState::Ok,
            to,
            value: None,
            reason: String::new(),
        };
        report.alarms.push(AlarmReport {
            name: "errors".into(),
            transitions: vec![ok(AlarmState::Alarm, 6_000), ok(AlarmState::Ok, 13_000)],
            periods: vec![(20_000, Some(0.0))],
            ..AlarmReport::default()
        });
        let o = Objectives {
            rto: Some(Duration::from_secs(2)),
            rpo: Some(Duration::from_secs(4)),
            max_failed_requests: Some(5),
            recover: vec!["errors".into()],
            recover_within: Duration::from_secs(2),
        };
        let c = judge(&o, &report, &known());
        let met: Vec<(&str, bool)> = c.iter().map(|c| (c.criterion.as_str(), c.met)).collect();
        assert_eq!(
            met,
            vec![
                ("rto", false),
                ("rpo", true),
                ("failed_requests", false),
                ("recover errors", false)
            ]
        );
        assert_eq!(c[0].value, "3000 ms, b (wipe b)");
        assert_eq!(c[0].at_ms, Some(5_000));
        assert!(c[1].value.starts_with("3500 ms"), "{}", c[1].value);
        assert_eq!(c[3].value, "ALARM at 12000 ms");
        assert_eq!(
            c[2].problem(),
            "objective failed_requests not met: 7 (objective: at most 5)"
        );
        let later = Objectives {
            recover_within: Duration::from_secs(4),
            ..o
        };
        assert!(judge(&later, &report, &known())[3].met);
    }

    #[test]
    fn a_region_that_never_recovered_fails_the_rto() {
        let mut report = Report::default();
        for rto_ms in [Some(100), None, Some(200)] {
            report.disasters.push(DisasterReport {
                region: "b".into(),
                rto_ms,
                ..DisasterReport::default()
            });
        }
        let o = Objectives {
            rto: Some(Duration::from_secs(60)),
            ..Objectives::default()
        };
        let c = judge(&o, &report, &known());
        assert!(!c[0].met);
        assert!(
            c[0].value.starts_with("never served again"),
            "{}",
            c[0].value
        );
    }
}
