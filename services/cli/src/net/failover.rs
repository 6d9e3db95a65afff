//! `meridian net failover`: the failover endpoint's status as text or as
//! the control API's JSON (`GET /meridian/failover`, docs/failover.md),
//! and the moves an operator asks for.

use anyhow::{Result, bail};
use meridian_cluster::ControlApi;
use serde_json::Value as Json;

use super::args::FailoverAction;

/// Runs one `net failover` command; its output.
pub async fn run(api: &ControlApi, action: Option<FailoverAction>, json: bool) -> Result<String> {
    let (said, status) = match action {
        None => match api.failover().await? {
            Some(s) => (None, s),
            None => bail!(
                "the cluster serves no failover endpoint: its file has no [failover] section (docs/failover.md)"
            ),
        },
        Some(FailoverAction::Move { region }) => {
            let s = api.failover_move(Some(&region)).await?;
            (Some(format!("moved the failover endpoint to {region}")), s)
        }
        Some(FailoverAction::Back) => {
            let s = api.failover_move(None).await?;
            let home = s["home"].as_str().unwrap_or("its home").to_string();
            (
                Some(format!("moved the failover endpoint back to {home}")),
                s,
            )
        }
    };
    if json {
        return Ok(serde_json::to_string_pretty(&status)?);
    }
    let text = render(&status);
    Ok(match said {
        Some(line) => format!("{line}\n{text}"),
        None => text,
    })
}

fn ms(v: &Json) -> String {
    v.as_u64().map_or("-".into(), |n| format!("{n} ms"))
}

/// The status as lines of text.
pub fn render(s: &Json) -> String {
    let set = &s["settings"];
    let mut out = vec![
        format!(
            "failover endpoint http://{} → {} (home {}); checks every {} ms, unhealthy after {} failed, TTL {} ms: moves within {} ms",
            s["listen"].as_str().unwrap_or("?"),
            s["active"].as_str().unwrap_or("?"),
            s["home"].as_str().unwrap_or("?"),
            set["interval_ms"],
            set["failure_threshold"],
            set["ttl_ms"],
            set["bound_ms"],
        ),
        format!(
            "requests: {} forwarded, {} failed{}",
            s["requests"]["forwarded"],
            s["requests"]["failed"],
            if s["armed"] == true {
                ""
            } else {
                "; health checks start once the home answers one"
            }
        ),
    ];
    for h in s["health"].as_array().into_iter().flatten() {
        let state = if h["healthy"] == true {
            "healthy"
        } else {
            "unhealthy"
        };
        let last = match (&h["last_ok"], h["last_error"].as_str()) {
            (Json::Bool(true), _) => format!("answered ({} in a row)", h["consecutive_successes"]),
            (Json::Bool(false), e) => format!(
                "failed ({} in a row): {}",
                h["consecutive_failures"],
                e.unwrap_or("?")
            ),
            _ => "not checked yet".into(),
        };
        out.push(format!(
            "  {:<16} {:<9} {last}",
            h["region"].as_str().unwrap_or("?"),
            state
        ));
    }
    if let Some(p) = s["pending"].as_object() {
        out.push(format!(
            "pending: clients leave {} at {} (declared unhealthy at {}, first failed check at {})",
            p["from"].as_str().unwrap_or("?"),
            ms(&p["moves_at_ms"]),
            ms(&p["declared_ms"]),
            ms(&p["first_failed_check_ms"]),
        ));
    }
    let moves = s["moves"].as_array().cloned().unwrap_or_default();
    out.push(format!("moves: {}", moves.len()));
    for (n, m) in moves.iter().enumerate() {
        render_move(&mut out, n, m);
    }
    out.join("\n")
}

/// Move `n` (from 0): why it was made, the requests that failed, and the
/// writes the region it left had not replicated, each with its fate.
fn render_move(out: &mut Vec<String>, n: usize, m: &Json) {
    let why = if m["why"] == "health" {
        format!(
            "health: first failed check at {}, declared at {}",
            ms(&m["first_failed_check_ms"]),
            ms(&m["declared_ms"])
        )
    } else {
        "asked".into()
    };
    let x = &m["missing"];
    let missing = if let Some(e) = x["error"].as_str() {
        format!("missing writes not compared: {e}")
    } else if x["compared"] != true {
        "missing writes: comparing".into()
    } else {
        format!(
            "{} writes missing ({} came back, {} superseded, {} still missing){}",
            x["count"],
            x["came_back"],
            x["superseded"],
            x["still_missing"],
            if x["partial"] == true {
                "; partial: the log scan stopped at its limit"
            } else {
                ""
            }
        )
    };
    out.push(format!(
        "  #{} at {}: {} → {} ({why}); {} requests failed; {missing}",
        n + 1,
        ms(&m["at_ms"]),
        m["from"].as_str().unwrap_or("?"),
        m["to"].as_str().unwrap_or("?"),
        m["failed_requests"],
    ));
    for w in x["writes"].as_array().into_iter().flatten() {
        let state = match w["state"].as_str() {
            Some("missing") => format!("still missing: {}", w["reason"].as_str().unwrap_or("")),
            Some(other) => format!("{other} at {}", ms(&w["resolved_ms"])),
            None => "?".into(),
        };
        out.push(format!(
            "      {} {} {} — {state}",
            w["table"].as_str().unwrap_or("?"),
            w["key"],
            w["version"].as_str().unwrap_or("?"),
        ));
    }
}
