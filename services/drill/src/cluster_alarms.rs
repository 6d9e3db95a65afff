//! The cluster file's alarms while `meridian up` runs: every
//! [`ALARM_SAMPLE_INTERVAL`] each region's Status is read, made into the
//! rows a drill's sample makes ([`Series`]), and handed to the drill's own
//! evaluation (`crate::alarms`, over [`meridian_scenario::alarm::Watch`]),
//! so an alarm in a cluster file means what it
//! means in a scenario. Each state is published on the control API's
//! [`AlarmBoard`] (`GET /meridian/alarms`), where the dashboard and
//! `meridian alarms` read it: evaluated once, in the process that runs the
//! cluster, since a state depends on the periods before it
//! (docs/drills.md, *Judge the drill by your application*).

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use meridian_cluster::ControlApi;
use meridian_cluster::alarms::AlarmBoard;
use meridian_proto::v1 as pb;
use meridian_region::{ALARM_SAMPLE_INTERVAL, ClusterFile};
use meridian_scenario::alarm::{AlarmReport, AlarmState, Transition};
use serde_json::{Value as Json, json};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::alarms::{Alarms, Requests, Totals};
use crate::collect::{Sample, Series};
use crate::endpoint::FailoverCounts;

/// What CloudWatch gives an alarm's reason before its first evaluation.
const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";

/// A cluster file's alarms, evaluated a sample at a time.
pub struct ClusterAlarms {
    cluster: String,
    names: Vec<String>,
    alarms: Alarms,
    /// Counts latency from the first sample on (`None` before it): what
    /// the regions measured before `meridian up` watched is not judged.
    series: Option<Series>,
    began: Instant,
    /// Wall clock when evaluation began, ms since the epoch: a watch's
    /// times are ms since then.
    began_ms: u64,
}

impl ClusterAlarms {
    /// `None` when the file declares no alarm; an error names the field
    /// of one that is wrong ([`ClusterFile::checked_alarms`]).
    pub fn new(file: &ClusterFile) -> Result<Option<ClusterAlarms>, String> {
        let Some(alarms) = Alarms::of(&file.checked_alarms()?, &[], Requests::Regions) else {
            return Ok(None);
        };
        Ok(Some(ClusterAlarms {
            cluster: file.name.clone(),
            names: file.region_names(),
            alarms,
            series: None,
            began: Instant::now(),
            began_ms: wall_ms(),
        }))
    }

    /// Evaluates every alarm on the regions' `statuses` (in file order,
    /// `None` for one that did not answer) and the failover endpoint's
    /// record, if read; returns each change of state.
    pub fn observe(
        &mut self,
        statuses: Vec<Option<pb::StatusResponse>>,
        failover: Option<&Json>,
    ) -> Vec<(String, Transition)> {
        let sample = Sample {
            t_ms: Instant::now().duration_since(self.began).as_millis() as u64,
            statuses,
        };
        let totals = Totals {
            requests: Default::default(),
            failover: failover.and_then(FailoverCounts::of),
        };
        let Some(series) = self.series.as_mut() else {
            // The first sample is where counting starts.
            self.series = Some(Series::since(&self.names, &sample));
            self.alarms.failover_from(totals.failover);
            return Vec::new();
        };
        let rows = series.push(&sample);
        let (changes, _) = self.alarms.observe(sample.t_ms, Some(&rows), totals);
        self.alarms.forget_history();
        changes
    }

    /// The states as the control API serves them: per alarm its
    /// definition (as a drill's report gives it, and as one line,
    /// `condition`), `state`, since when it
    /// holds (`since_ms`, ms since the epoch) and why (`reason`, in
    /// CloudWatch's words), and the statistic of the newest period
    /// evaluated (`value`, `null` when it had no datapoint) with its end
    /// (`value_at_ms`).
    pub fn document(&self) -> Json {
        let wall = |at_ms: u64| self.began_ms + at_ms;
        let alarms: Vec<Json> = self
            .alarms
            .watches()
            .iter()
            .map(|w| {
                let last = w.transitions.last();
                let newest = w.evaluated.last();
                let report = AlarmReport::from(w);
                let mut doc = serde_json::to_value(&report).unwrap_or(Json::Null);
                doc["condition"] = json!(report.condition());
                if let Some(o) = doc.as_object_mut() {
                    o.remove("transitions");
                    o.remove("periods");
                }
                doc["since_ms"] = json!(wall(last.map_or(0, |t| t.at_ms)));
                doc["reason"] = json!(last.map_or(INITIAL_REASON, |t| t.reason.as_str()));
                doc["value"] = json!(newest.and_then(|p| p.1));
                doc["value_at_ms"] = json!(newest.map(|p| wall(p.0)));
                doc
            })
            .collect();
        json!({
            "cluster": self.cluster,
            "sample_every_ms": ALARM_SAMPLE_INTERVAL.as_millis() as u64,
            "evaluated_at_ms": wall(Instant::now().duration_since(self.began).as_millis() as u64),
            "in_alarm": self.alarms.watches().iter().filter(|w| w.state == AlarmState::Alarm).count(),
            "alarms": alarms,
        })
    }

    fn reads_failover(&self) -> bool {
        self.alarms.reads_failover()
    }
}

/// Evaluates the alarms of `file` every [`ALARM_SAMPLE_INTERVAL`] and
/// publishes their states on `board`, until `stop`. Returns at once when
/// the file declares none.
pub async fn run(file: ClusterFile, board: AlarmBoard, stop: impl Future<Output = ()>) {
    let mut alarms = match ClusterAlarms::new(&file) {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            // `load` checked them already; said in case a caller did not.
            tracing::error!(error = %e, "the cluster file's alarms are not evaluated");
            return;
        }
    };
    let admins: Vec<Channel> = file
        .regions
        .iter()
        .filter_map(|r| meridian_cluster::wait::channel(&format!("http://{}", r.admin_dial())).ok())
        .collect();
    let api = file.netsim.as_ref().map(|n| {
        ControlApi::new(n.api_dial()).with_token(file.client_admin_token().ok().flatten())
    });
    board.publish(alarms.document());
    let mut tick = tokio::time::interval(ALARM_SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let statuses = crate::probe::statuses(admins.iter()).await;
        let failover = match (&api, alarms.reads_failover()) {
            (Some(api), true) => api.failover().await.ok().flatten(),
            _ => None,
        };
        for (name, t) in alarms.observe(statuses, failover.as_ref()) {
            tracing::warn!(
                alarm = %name,
                from = t.from.as_str(),
                to = t.to.as_str(),
                reason = %t.reason,
                "alarm state changed"
            );
        }
        board.publish(alarms.document());
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cluster(alarms: &str) -> ClusterFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = format!(
            "name = \"t\"\ndata_dir = \"/tmp/t\"\nplaintext = true\n\
             [[region]]\nname = \"a\"\ngrpc = \"127.0.0.1:7101\"\n\
             [[region]]\nname = \"b\"\ngrpc = \"127.0.0.1:7102\"\n\
             [netsim]\napi = \"127.0.0.1:8474\"\nfirst_port = 7201\n{alarms}"
        );
        std::fs::write(&path, text).unwrap();
        ClusterFile::load(&path).unwrap()
    }

    /// Region `a`'s Status with `pending` mutations for `b`.
    fn statuses(pending: u64) -> Vec<Option<pb::StatusResponse>> {
        let a = pb::StatusResponse {
            peers: vec![pb::PeerStatus {
                peer: "b".into(),
                pending,
                ..Default::default()
            }],
            ..Default::default()
        };
        vec![Some(a), Some(pb::StatusResponse::default())]
    }

    #[tokio::test(start_paused = true)]
    async fn a_cluster_alarm_goes_to_alarm_when_its_metric_breaches_and_says_since_when() {
        let file = cluster(
            "[[alarm]]\nname = \"backlog\"\nmetric = \"PendingReplicationCount\"\n\
             region = \"a\"\nstatistic = \"Maximum\"\nperiod = \"1s\"\nthreshold = 5\n\
             comparison = \"GreaterThanThreshold\"\n",
        );
        let mut alarms = ClusterAlarms::new(&file).unwrap().unwrap();
        let doc = alarms.document();
        assert_eq!(doc["alarms"][0]["state"], "INSUFFICIENT_DATA", "{doc}");
        assert_eq!(doc["alarms"][0]["reason"], INITIAL_REASON);
        let mut seen = Vec::new();
        for pending in [0, 1, 9, 9, 2] {
            seen.extend(alarms.observe(statuses(pending), None));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let states: Vec<&str> = seen.iter().map(|(_, t)| t.to.as_str()).collect();
        assert_eq!(states, ["OK", "ALARM", "OK"], "{seen:?}");
        let doc = alarms.document();
        let a = &doc["alarms"][0];
        assert_eq!(
            (a["name"].as_str(), a["state"].as_str(), a["value"].as_f64()),
            (Some("backlog"), Some("OK"), Some(2.0)),
            "{doc}"
        );
        assert_eq!(a["metric"], "PendingReplicationCount a");
        // The state holds since its last change, 4 s after evaluation began.
        assert_eq!(
            a["since_ms"].as_u64(),
            Some(alarms.began_ms + 4_000),
            "{doc}"
        );
        assert_eq!(doc["in_alarm"], 0);
        // A cluster file without alarms evaluates nothing.
        assert!(ClusterAlarms::new(&cluster("")).unwrap().is_none());
    }

    /// Region `a`'s DynamoDB answers so far: `user_errors` of 100.
    fn answering(user_errors: u64) -> Vec<Option<pb::StatusResponse>> {
        let a = pb::StatusResponse {
            requests: Some(pb::RequestCounts {
                requests: 100 + user_errors,
                user_errors,
                ..Default::default()
            }),
            ..Default::default()
        };
        vec![Some(a), None]
    }

    #[tokio::test(start_paused = true)]
    async fn a_cluster_alarm_on_user_errors_counts_the_regions_answers_between_samples() {
        let file = cluster(
            "[[alarm]]\nname = \"errors\"\nmetric = \"UserErrors\"\n\
             statistic = \"Sum\"\nperiod = \"1s\"\nthreshold = 2\n\
             comparison = \"GreaterThanThreshold\"\n",
        );
        let mut alarms = ClusterAlarms::new(&file).unwrap().unwrap();
        let (mut seen, mut values) = (Vec::new(), Vec::new());
        // The first sample is the baseline: the 50 errors before it are
        // not judged. Then 1, 4 and 0 more; then the region restarted and
        // counts 1 from zero.
        for errors in [50, 51, 55, 55, 1] {
            seen.extend(alarms.observe(answering(errors), None));
            values.push(alarms.document()["alarms"][0]["value"].as_f64());
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        let states: Vec<&str> = seen.iter().map(|(_, t)| t.to.as_str()).collect();
        assert_eq!(states, ["OK", "ALARM", "OK"], "{seen:?}");
        assert_eq!(values, [None, Some(1.0), Some(4.0), Some(0.0), Some(1.0)]);
    }
}
