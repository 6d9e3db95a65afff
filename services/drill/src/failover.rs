//! The failover endpoint as a drill saw it: `meridian up` may serve one
//! more DynamoDB endpoint that moves its clients from a region that stops
//! answering to the next (docs/failover.md). A drill against such a
//! cluster reads the endpoint's record as it begins and once the regions
//! have settled, and reports what changed between the two: where it
//! forwarded, its requests, and every move made meanwhile, with the
//! writes the client lost at it and where each stood at the end.

use meridian_scenario::report::{FailoverMove, FailoverReport, FailoverWrite};
use serde_json::Value as Json;

/// How long after the regions settle the drill waits, at most, for the
/// endpoint to see writes come back: each health round looks up to
/// `recheck_per_round` missing writes (of every move) again, in turn, so
/// the record lags the stores by up to as many rounds as it takes to go
/// through them all, and one more. At most a minute.
pub(crate) fn settle_wait(record: &Json) -> std::time::Duration {
    let settings = &record["settings"];
    let interval = settings["interval_ms"].as_u64().unwrap_or(1_000);
    let per_round = settings["recheck_per_round"]
        .as_u64()
        .unwrap_or(1_000)
        .max(1);
    let missing = still_missing(record, 0);
    let rounds = missing.div_ceil(per_round) + 1;
    std::time::Duration::from_millis((rounds * interval + 1_000).min(60_000))
}

/// Writes still missing, in `record`, of the moves made since
/// `began_unix_ms`.
pub(crate) fn still_missing(record: &Json, began_unix_ms: u64) -> u64 {
    record["moves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["at_unix_ms"].as_u64().is_some_and(|t| t >= began_unix_ms))
        .filter_map(|m| m["missing"]["still_missing"].as_u64())
        .sum()
}

/// The report of the endpoint from its record at the drill's start and at
/// its end (`GET /meridian/failover`), the drill having begun at
/// `began_unix_ms`. Moves are those made since the drill began.
pub(crate) fn report(start: &Json, end: &Json, began_unix_ms: u64) -> FailoverReport {
    let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
    let count = |v: &Json, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[*k])
            .as_u64()
            .unwrap_or_default()
    };
    let since_began = |unix_ms: u64| unix_ms.saturating_sub(began_unix_ms);
    let moves = end["moves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["at_unix_ms"].as_u64().is_some_and(|t| t >= began_unix_ms))
        .map(|m| {
            let missing = &m["missing"];
            FailoverMove {
                at_ms: since_began(count(m, &["at_unix_ms"])),
                from: text(&m["from"]),
                to: text(&m["to"]),
                why: text(&m["why"]),
                after_first_failed_ms: m["first_failed_check_ms"]
                    .as_u64()
                    .map(|first| count(m, &["at_ms"]).saturating_sub(first)),
                failed_requests: count(m, &["failed_requests"]),
                missing: count(missing, &["count"]),
                came_back: count(missing, &["came_back"]),
                superseded: count(missing, &["superseded"]),
                still_missing: count(missing, &["still_missing"]),
                writes: missing["writes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|w| FailoverWrite {
                        table: text(&w["table"]),
                        key: w["key"].to_string(),
                        version: text(&w["version"]),
                        state: text(&w["state"]),
                        reason: text(&w["reason"]),
                        resolved_at_ms: w["resolved_unix_ms"].as_u64().map(since_began),
                    })
                    .collect(),
            }
        })
        .collect();
    // A record started afresh during the drill (`meridian up` restarted)
    // counts from zero: its counts are the drill's.
    let delta = |path: &[&str]| {
        let (a, b) = (count(start, path), count(end, path));
        if b >= a { b - a } else { b }
    };
    FailoverReport {
        listen: text(&end["listen"]),
        home: text(&end["home"]),
        active_at_start: text(&start["active"]),
        active_at_end: text(&end["active"]),
        bound_ms: count(end, &["settings", "bound_ms"]),
        forwarded: delta(&["requests", "forwarded"]),
        failed: delta(&["requests", "failed"]),
        moves,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Only the moves made since the drill began are its; times are made
    /// relative to its start, the counts are what changed, and each
    /// missing write keeps its state and reason.
    #[test]
    fn a_drill_reports_the_moves_made_while_it_ran() {
        let start = json!({
            "listen": "127.0.0.1:8100", "home": "us-east-1", "active": "us-east-1",
            "settings": {"bound_ms": 8000},
            "requests": {"forwarded": 100, "failed": 2},
            "moves": [{"at_unix_ms": 500, "at_ms": 400, "from": "us-east-1", "to": "eu-west-1", "why": "asked"}]
        });
        let mut end = start.clone();
        end["active"] = json!("eu-west-1");
        end["requests"] = json!({"forwarded": 180, "failed": 14});
        end["moves"].as_array_mut().unwrap().push(json!({
            "at_unix_ms": 10_000, "at_ms": 9_900, "from": "us-east-1", "to": "eu-west-1",
            "why": "health", "first_failed_check_ms": 2_900, "failed_requests": 12,
            "missing": {"count": 2, "came_back": 1, "superseded": 0, "still_missing": 1,
                "writes": [
                    {"table": "orders", "key": {"order_id": {"S": "a"}}, "version": "v1",
                     "state": "came_back", "reason": "not replicated", "resolved_unix_ms": 12_000},
                    {"table": "orders", "key": {"order_id": {"S": "b"}}, "version": "v2",
                     "state": "missing", "reason": "not replicated", "resolved_unix_ms": null}]}
        }));
        let r = report(&start, &end, 1_000);
        assert_eq!((r.forwarded, r.failed, r.bound_ms), (80, 12, 8000));
        assert_eq!(
            (r.active_at_start.as_str(), r.active_at_end.as_str()),
            ("us-east-1", "eu-west-1")
        );
        assert_eq!(r.moves.len(), 1, "the move before the drill is not its");
        let m = &r.moves[0];
        assert_eq!((m.at_ms, m.after_first_failed_ms), (9_000, Some(7_000)));
        assert_eq!((m.missing, m.came_back, m.still_missing), (2, 1, 1));
        assert_eq!(m.writes[0].resolved_at_ms, Some(11_000));
        assert_eq!(m.writes[0].key, r#"{"order_id":{"S":"a"}}"#);
        assert_eq!(m.writes[1].state, "missing");
        assert_eq!(m.writes[1].resolved_at_ms, None);
        // Only the drill's moves count towards what it waits for.
        assert_eq!(still_missing(&end, 1_000), 1);
        assert_eq!(still_missing(&end, 20_000), 0);
        assert_eq!(settle_wait(&end), std::time::Duration::from_millis(3_000));
    }
}
