//! `meridian alarms`: the cluster file's alarms (`[[alarm]]`) with the
//! state `meridian up` has evaluated for each, read from its control API
//! (`GET /meridian/alarms`, `meridian_drill::cluster_alarms`): a state
//! depends on the periods before it, so it is evaluated where the cluster
//! runs, once, and read here as the dashboard reads it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use meridian_cluster::ControlApi;
use serde_json::{Value as Json, json};

/// Prints the alarms of the cluster file at `config` and their states, as
/// a table or (`json`) as the control API serves them.
pub async fn run(config: &Path, json: bool) -> Result<()> {
    let cluster = crate::load_cluster(config)?;
    if cluster.alarms.is_empty() {
        if json {
            println!("{}", json!({ "cluster": cluster.name, "alarms": [] }));
        } else {
            println!(
                "no alarms: {} declares no [[alarm]] table (docs/drills.md, *Judge the drill by your application*)",
                config.display()
            );
        }
        return Ok(());
    }
    let Some(netsim) = &cluster.netsim else {
        bail!("{}: alarms need a [netsim] section", config.display());
    };
    let api = ControlApi::new(netsim.api_dial()).with_token(cluster.client_admin_token()?);
    let doc = api
        .alarms()
        .await
        .with_context(|| {
            format!(
                "reading the alarms' states from the control API at {} (is `meridian up` running with {}?)",
                netsim.api_dial(),
                config.display()
            )
        })?
        .with_context(|| {
            format!(
                "the cluster at {} evaluates no alarms: it was started from a file without [[alarm]] tables; restart `meridian up` to evaluate those of {}",
                netsim.api_dial(),
                config.display()
            )
        })?;
    if json {
        println!("{doc}");
    } else {
        print!("{}", table(&doc));
    }
    Ok(())
}

/// The states as a table: one alarm a row, its state, since when it holds
/// and why, the metric, the condition and the newest period's value.
fn table(doc: &Json) -> String {
    let alarms = doc["alarms"].as_array().cloned().unwrap_or_default();
    let at = |ms: &Json| {
        ms.as_u64()
            .map(|ms| format!("{}Z", meridian_core::utc::format_millis(ms * 1000)))
            .unwrap_or_else(|| "–".into())
    };
    let rows: Vec<[String; 6]> = alarms
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            let value = match a["value"].as_f64() {
                Some(v) => format!("{v} at {}", at(&a["value_at_ms"])),
                None => "no datapoint".into(),
            };
            [
                s("name"),
                s("state"),
                at(&a["since_ms"]),
                s("metric"),
                s("condition"),
                value,
            ]
        })
        .collect();
    let heads = ["alarm", "state", "since", "metric", "condition", "latest"];
    let widths: Vec<usize> = (0..heads.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([heads[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "cluster {}: {} alarm(s), {} in ALARM, evaluated every {} ms, last at {}\n",
        doc["cluster"].as_str().unwrap_or_default(),
        alarms.len(),
        doc["in_alarm"].as_u64().unwrap_or(0),
        doc["sample_every_ms"].as_u64().unwrap_or(0),
        at(&doc["evaluated_at_ms"]),
    );
    out.push_str(&line(heads.to_vec()));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    for a in &alarms {
        out.push_str(&format!(
            "{}: {}\n",
            a["name"].as_str().unwrap_or_default(),
            a["reason"].as_str().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_alarm_its_state_since_when_and_why() {
        let doc = json!({
            "cluster": "local-3",
            "sample_every_ms": 1000,
            "evaluated_at_ms": 1_795_442_460_000u64,
            "in_alarm": 1,
            "alarms": [{
                "name": "lag",
                "state": "ALARM",
                "since_ms": 1_795_442_400_000u64,
                "metric": "ReplicationLatency us-east-1",
                "condition": "Maximum over 5000 ms GreaterThanThreshold 500, 1 of 1",
                "value": 812.5,
                "value_at_ms": 1_795_442_455_000u64,
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints were greater than the threshold (500)",
            }, {
                "name": "quiet",
                "state": "INSUFFICIENT_DATA",
                "since_ms": 1_795_442_300_000u64,
                "metric": "FailoverFailedRequests",
                "condition": "Sum over 1000 ms GreaterThanThreshold 0, 1 of 1",
                "value": null,
                "value_at_ms": null,
                "reason": "Unchecked: Initial alarm creation",
            }],
        });
        let t = table(&doc);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("2 alarm(s), 1 in ALARM"), "{t}");
        assert!(lines[1].starts_with("alarm  state"), "{t}");
        assert!(
            lines[2].starts_with("lag    ALARM              2026-11-23T14:00:00.000Z"),
            "{t}"
        );
        assert!(
            lines[2].ends_with("812.5 at 2026-11-23T14:00:55.000Z"),
            "{t}"
        );
        assert!(lines[3].contains("INSUFFICIENT_DATA") && lines[3].ends_with("no datapoint"));
        assert!(lines[4].starts_with("lag: Threshold Crossed"), "{t}");
    }
}
