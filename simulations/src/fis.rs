//! AWS Fault Injection Service experiment templates as drills
//! (docs/drills.md, *FIS experiment templates*): a template's actions,
//! timed as FIS times them, become a scenario's fault timeline, so a team
//! rehearses locally the experiment it will run in AWS.
//!
//! The template is FIS's documented JSON (`aws fis get-experiment-template`
//! prints it; `targets`, `actions` with `actionId`, `parameters`,
//! `targets` and `startAfter`). Meridian honours two actions:
//! `aws:dynamodb:global-table-pause-replication` (a `pause-replication`
//! event of each targeted replica, the table named by its ARN) and
//! `aws:fis:wait` (time only). Any other action is refused by name before
//! anything starts. The scenario is written as scenario-file TOML and
//! parsed as any scenario file is, so it meets every check a file meets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::Duration;

use serde::Deserialize;

/// FIS's pause-replication action.
pub const PAUSE: &str = "aws:dynamodb:global-table-pause-replication";
/// FIS's wait action.
pub const WAIT: &str = "aws:fis:wait";
/// The resource type a pause's `Tables` target must have.
pub const GLOBAL_TABLE: &str = "aws:dynamodb:global-table";
/// The drill's regions when no cluster file names them: the default
/// cluster's (`regions/local-3.toml`).
pub const DEFAULT_REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-1"];
/// The workload goes on this long past the last action's end, so the
/// regions are seen coming back together.
const AFTER: Duration = Duration::from_secs(10);
/// Round-trip time between the drill's regions: a template names none.
const RTT_MS: u32 = 60;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Template {
    #[serde(default)]
    description: String,
    #[serde(default)]
    targets: BTreeMap<String, Target>,
    #[serde(default)]
    actions: BTreeMap<String, FisAction>,
    #[serde(default)]
    stop_conditions: Vec<StopCondition>,
}

/// One of a template's `stopConditions`: `{"source": "none"}`, or
/// `{"source": "aws:cloudwatch:alarm", "value": "<alarm ARN>"}`
/// (AWS: *Stop conditions for AWS FIS*,
/// <https://docs.aws.amazon.com/fis/latest/userguide/stop-conditions.html>).
#[derive(Deserialize)]
struct StopCondition {
    source: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    resource_type: String,
    #[serde(default)]
    resource_arns: Vec<String>,
    #[serde(default)]
    resource_tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FisAction {
    action_id: String,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    targets: BTreeMap<String, String>,
    #[serde(default)]
    start_after: Vec<String>,
}

/// What a template asks, on the drill's regions.
pub struct Drill {
    /// The scenario, as scenario-file TOML.
    pub toml: String,
    /// The template's table, which the drill's workload writes.
    pub table: String,
}

/// The scenario of the template `json` (named `name`) on `regions`, every
/// duration divided by `time_scale` (1 to 3,600: a 12-minute pause at 60
/// lasts 12 s). `external`: the template's table is the application's, in
/// a running cluster, and the application makes the load (as in a game
/// day); otherwise the drill writes the table itself.
pub fn scenario(
    json: &str,
    name: &str,
    regions: &[String],
    time_scale: u32,
    external: bool,
) -> Result<Drill, String> {
    scenario_with_alarms(json, name, regions, time_scale, external, "")
}

/// [`scenario`], with the alarms a template's stop conditions name: the
/// `[[alarm]]` tables of the TOML text `alarms` (the file `--alarms`
/// names), which the scenario declares. A stop condition naming an alarm
/// they do not declare is refused by name.
pub fn scenario_with_alarms(
    json: &str,
    name: &str,
    regions: &[String],
    time_scale: u32,
    external: bool,
    alarms: &str,
) -> Result<Drill, String> {
    if !(1..=3600).contains(&time_scale) {
        return Err(format!(
            "--time-scale must be from 1 to 3600, got {time_scale}"
        ));
    }
    let t: Template =
        serde_json::from_str(json).map_err(|e| format!("not an FIS experiment template: {e}"))?;
    if t.actions.is_empty() {
        return Err("actions: the template has none".into());
    }
    let (declared, alarm_tables) = alarm_tables(alarms)?;
    let stops = stop_conditions(&t.stop_conditions, &declared)?;
    let lengths = lengths(&t.actions, time_scale)?;
    let starts = schedule(&t.actions, &lengths)?;
    let timeline = timeline(&t, regions, &starts, &lengths, time_scale)?;
    let table = timeline
        .table
        .ok_or_else(|| format!("actions: none is {PAUSE}, so nothing would be paused"))?;
    let description = if t.description.is_empty() {
        format!("FIS experiment template {name}")
    } else {
        t.description.clone()
    };
    let toml = scenario_toml(
        name,
        &description,
        regions,
        timeline.end + AFTER,
        external,
        &table,
        &timeline.events,
    );
    let mut toml = with_stop_conditions(toml, &stops);
    toml.push_str(&alarm_tables);
    Ok(Drill { toml, table })
}

/// The fault timeline a template's actions make, gathered in one pass
/// over them.
struct Timeline {
    /// The one table the pauses name, if any pause names one.
    table: Option<String>,
    /// The `[[event]]` tables, as scenario-file TOML.
    events: String,
    /// When the last action ends.
    end: Duration,
}

/// The timeline of the template's actions, in their order: every action
/// counts towards when the faults end, and each pause becomes one
/// `pause-replication` event per replica it targets.
fn timeline(
    t: &Template,
    regions: &[String],
    starts: &BTreeMap<String, Duration>,
    lengths: &BTreeMap<String, Duration>,
    time_scale: u32,
) -> Result<Timeline, String> {
    let mut out = Timeline {
        table: None,
        events: String::new(),
        end: Duration::ZERO,
    };
    for (key, a) in &t.actions {
        let (start, length) = (starts[key], lengths[key]);
        out.end = out.end.max(start + length);
        if a.action_id != PAUSE {
            continue;
        }
        let (target, tg) = pause_target(t, key, a)?;
        for (i, arn) in tg.resource_arns.iter().enumerate() {
            let field = format!("targets.{target}.resourceArns[{i}]");
            let region = replica(arn, &field, regions, &mut out.table)?;
            // AWS: replication may go on for up to five minutes after the
            // action starts; how long is drawn from the drill's seed, on
            // the template's time scale.
            let _ = write!(
                out.events,
                "\n[[event]]\nat = \"{}ms\"\naction = \"pause-replication\"\nregion = {}\nduration = \"{}ms\"\ntail_max = \"{}ms\"\n",
                start.as_millis(),
                toml_str(&region),
                length.as_millis(),
                (crate::scenario::MAX_PAUSE_TAIL / time_scale).as_millis()
            );
        }
    }
    Ok(out)
}

/// The target a pause action's `Tables` names, with its key: it must be
/// declared, be global tables, and select them by ARN, as only an ARN
/// says which region's replica to pause.
fn pause_target<'t>(
    t: &'t Template,
    key: &str,
    a: &'t FisAction,
) -> Result<(&'t str, &'t Target), String> {
    let target = a
        .targets
        .get("Tables")
        .ok_or_else(|| format!("actions.{key}.targets.Tables is required by {PAUSE}"))?;
    let tg = t
        .targets
        .get(target)
        .ok_or_else(|| format!("actions.{key}.targets.Tables: no target {target:?} in targets"))?;
    if tg.resource_type != GLOBAL_TABLE {
        return Err(format!(
            "targets.{target}.resourceType: {PAUSE} takes {GLOBAL_TABLE}, got {}",
            tg.resource_type
        ));
    }
    if tg.resource_arns.is_empty() || !tg.resource_tags.is_empty() {
        return Err(format!(
            "targets.{target}: select the tables by resourceArns (resourceTags select nothing here)"
        ));
    }
    Ok((target, tg))
}

/// The region of the replica `arn` (at `field`) names, which must be one
/// of the drill's, its table the same as every other ARN's (`table`, set
/// by the first), since a drill writes one table.
fn replica(
    arn: &str,
    field: &str,
    regions: &[String],
    table: &mut Option<String>,
) -> Result<String, String> {
    let (region, name) = table_arn(arn).map_err(|e| format!("{field}: {e}"))?;
    if !regions.contains(&region) {
        return Err(format!(
            "{field}: region {region} is not one of the drill's regions ({})",
            regions.join(", ")
        ));
    }
    match table {
        Some(t) if *t != name => {
            return Err(format!(
                "{field}: table {name}, where another target names {t}: a drill writes one table"
            ));
        }
        _ => *table = Some(name),
    }
    Ok(region)
}

/// The scenario TOML `toml` with the alarms the template's stop
/// conditions name, as `stop_conditions` (a top-level key, so it goes
/// before the first table); unchanged when there are none.
fn with_stop_conditions(toml: String, stops: &[String]) -> String {
    if stops.is_empty() {
        return toml;
    }
    let names: Vec<String> = stops.iter().map(|n| toml_str(n)).collect();
    toml.replacen(
        "\n[regions]",
        &format!("stop_conditions = [{}]\n\n[regions]", names.join(", ")),
        1,
    )
}

/// The names of the alarms the TOML text `alarms` declares, and its
/// `[[alarm]]` tables alone, as scenario-file TOML (a cluster file's other
/// tables left out).
fn alarm_tables(alarms: &str) -> Result<(Vec<String>, String), String> {
    if alarms.trim().is_empty() {
        return Ok((Vec::new(), String::new()));
    }
    let mut file: toml::Table = toml::from_str(alarms).map_err(|e| format!("--alarms: {e}"))?;
    let Some(list) = file.remove("alarm") else {
        return Ok((Vec::new(), String::new()));
    };
    let names = list
        .as_array()
        .ok_or("--alarms: alarm must be [[alarm]] tables")?
        .iter()
        .map(|a| {
            a.get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let mut only = toml::Table::new();
    only.insert("alarm".into(), list);
    let text = toml::to_string(&only).map_err(|e| format!("--alarms: {e}"))?;
    Ok((names, format!("\n{text}")))
}

/// The alarms the stop conditions name, each declared in `declared`;
/// one that is not is refused, by name, before anything starts: FIS stops
/// an experiment when a stop condition's alarm goes to ALARM, and a drill
/// that ran on with that lever silently dropped would be kinder than the
/// experiment it rehearses.
fn stop_conditions(
    conditions: &[StopCondition],
    declared: &[String],
) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for (i, c) in conditions.iter().enumerate() {
        let field = format!("stopConditions[{i}]");
        match c.source.as_str() {
            "none" => {}
            "aws:cloudwatch:alarm" => {
                let arn = c
                    .value
                    .as_deref()
                    .ok_or_else(|| format!("{field}.value: the alarm's ARN is required"))?;
                let alarm = arn
                    .split_once(":alarm:")
                    .filter(|(head, _)| head.starts_with("arn:aws:cloudwatch:"))
                    .map(|(_, n)| n)
                    .ok_or_else(|| {
                        format!("{field}.value: {arn:?} is not a CloudWatch alarm ARN (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME)")
                    })?;
                if !declared.iter().any(|d| d == alarm) {
                    return Err(format!(
                        "{field}: the CloudWatch alarm {alarm:?} is not declared, so FIS's \
                         stop on ALARM could not be honoured; declare it as an [[alarm]] table \
                         (name = {alarm:?}) in the file --alarms names, or remove the stop \
                         condition (source \"none\") to rehearse without it"
                    ));
                }
                names.push(alarm.to_string());
            }
            other => {
                return Err(format!(
                    "{field}.source: {other:?} is not a stop condition source \
                     (aws:cloudwatch:alarm or none)"
                ));
            }
        }
    }
    Ok(names)
}

/// Each action's length on the drill's time scale; every action must be
/// one Meridian honours, and last a millisecond or more once scaled.
fn lengths(
    actions: &BTreeMap<String, FisAction>,
    time_scale: u32,
) -> Result<BTreeMap<String, Duration>, String> {
    for (key, a) in actions {
        if a.action_id != PAUSE && a.action_id != WAIT {
            return Err(format!(
                "actions.{key}.actionId: {} is not an action Meridian can honour; it honours {PAUSE} (a pause-replication event) and {WAIT}",
                a.action_id
            ));
        }
    }
    let mut lengths = BTreeMap::new();
    for (key, a) in actions {
        let text = a
            .parameters
            .get("duration")
            .ok_or_else(|| format!("actions.{key}.parameters.duration is required"))?;
        let d = iso8601(text).map_err(|e| format!("actions.{key}.parameters.duration: {e}"))?;
        let scaled = d / time_scale;
        if scaled < Duration::from_millis(1) {
            return Err(format!(
                "actions.{key}.parameters.duration: {text} at --time-scale {time_scale} is under a millisecond"
            ));
        }
        lengths.insert(key.clone(), scaled);
    }
    Ok(lengths)
}

/// The scenario file: `duration` of workload on `regions`, writing `table`
/// (or with `external`, the application writing it), then `events`.
fn scenario_toml(
    name: &str,
    description: &str,
    regions: &[String],
    duration: Duration,
    external: bool,
    table: &str,
    events: &str,
) -> String {
    let mut toml = String::new();
    let _ = writeln!(toml, "name = {}", toml_str(&format!("fis-{name}")));
    let _ = writeln!(toml, "description = {}", toml_str(description));
    let _ = writeln!(
        toml,
        "duration = \"{}ms\"\nsettle = \"30s\"",
        duration.as_millis()
    );
    let names: Vec<String> = regions.iter().map(|r| toml_str(r)).collect();
    let _ = writeln!(toml, "\n[regions]\nnames = [{}]", names.join(", "));
    let mut rtt = String::new();
    for (i, a) in regions.iter().enumerate() {
        let row: Vec<String> = regions[i + 1..]
            .iter()
            .map(|b| format!("{} = {RTT_MS}", toml_str(b)))
            .collect();
        if !row.is_empty() {
            let _ = write!(
                rtt,
                "{}{} = {{ {} }}",
                if rtt.is_empty() { "" } else { ", " },
                toml_str(a),
                row.join(", ")
            );
        }
    }
    let _ = writeln!(toml, "rtt_ms = {{ {rtt} }}");
    let load = if external {
        "external = true"
    } else {
        "rate_per_region = 30\nkeys = 1000\nmix = { put = 4, update = 3, delete = 1, get = 2 }\nstream = \"NEW_AND_OLD_IMAGES\""
    };
    let _ = writeln!(toml, "\n[workload]\ntable = {}\n{load}", toml_str(table));
    toml.push_str(events);
    toml
}

/// `s` as a TOML string, escaped as TOML escapes (Rust's `{:?}` writes
/// escapes such as `\u{200d}` that TOML does not read).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// When each action starts: at 0, or once every action in its
/// `startAfter` has ended, as FIS runs them.
fn schedule(
    actions: &BTreeMap<String, FisAction>,
    lengths: &BTreeMap<String, Duration>,
) -> Result<BTreeMap<String, Duration>, String> {
    fn start(
        key: &str,
        actions: &BTreeMap<String, FisAction>,
        lengths: &BTreeMap<String, Duration>,
        done: &mut BTreeMap<String, Duration>,
        path: &mut BTreeSet<String>,
    ) -> Result<Duration, String> {
        if let Some(s) = done.get(key) {
            return Ok(*s);
        }
        if !path.insert(key.to_string()) {
            return Err(format!(
                "actions.{key}.startAfter: the actions wait for each other in a loop"
            ));
        }
        let mut at = Duration::ZERO;
        for before in &actions[key].start_after {
            if !actions.contains_key(before) {
                return Err(format!("actions.{key}.startAfter: no action {before:?}"));
            }
            at = at.max(start(before, actions, lengths, done, path)? + lengths[before]);
        }
        path.remove(key);
        done.insert(key.to_string(), at);
        Ok(at)
    }
    let mut done = BTreeMap::new();
    for key in actions.keys() {
        start(key, actions, lengths, &mut done, &mut BTreeSet::new())?;
    }
    Ok(done)
}

/// The region and table of a DynamoDB table ARN,
/// `arn:aws:dynamodb:us-east-1:123456789012:table/Orders`.
fn table_arn(arn: &str) -> Result<(String, String), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "dynamodb", region, _, resource] if !region.is_empty() => {
            let name = resource
                .strip_prefix("table/")
                .filter(|n| !n.is_empty() && !n.contains('/'))
                .ok_or_else(|| format!("{arn:?} names no table (table/NAME)"))?;
            Ok((region.to_string(), name.to_string()))
        }
        _ => Err(format!("{arn:?} is not a DynamoDB table ARN")),
    }
}

/// An ISO 8601 duration as FIS writes them: `PT12M`, `PT1H30M`, `PT45S`,
/// `PT0.5S`, `P1DT2H`.
fn iso8601(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an ISO 8601 duration such as PT12M");
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0.0f64;
    let mut any = false;
    for (part, units) in [
        (days, &[('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        let mut next = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let at = units[next..]
                .iter()
                .position(|(u, _)| *u == c)
                .ok_or_else(bad)?;
            let n: f64 = number.parse().map_err(|_| bad())?;
            total += n * units[next + at].1;
            next += at + 1;
            number.clear();
            any = true;
        }
        if !number.is_empty() {
            return Err(bad());
        }
    }
    if !any || total > 86_400.0 * 30.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        ["us-east-1", "eu-west-1", "ap-southeast-1"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn any_description_makes_a_scenario_file_that_parses() {
        let json = r#"{"description": "quote \" back \\ nul \u0000 zwj \u200d end",
            "targets": {"T": {"resourceType": "aws:dynamodb:global-table",
              "resourceArns": ["arn:aws:dynamodb:eu-west-1:1:table/orders"]}},
            "actions": {"p": {"actionId": "aws:dynamodb:global-table-pause-replication",
              "parameters": {"duration": "PT1M"}, "targets": {"Tables": "T"}}}}"#;
        let d = scenario(json, "t", &regions(), 60, false).unwrap();
        let s = crate::scenario::Scenario::parse(&d.toml, &Default::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", d.toml));
        assert_eq!(s.description, "quote \" back \\ nul \u{0} zwj \u{200d} end");
        assert_eq!(s.workload.table, "orders");
        assert!(!s.workload.external);
        // Against a running cluster the application makes the load.
        let d = scenario(json, "t", &regions(), 60, true).unwrap();
        let s = crate::scenario::Scenario::parse(&d.toml, &Default::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", d.toml));
        assert!(s.workload.external && s.workload.stream.is_none());
        assert_eq!(s.workload.table, "orders");
    }

    #[test]
    fn iso_8601_durations_as_fis_writes_them() {
        assert_eq!(iso8601("PT12M"), Ok(Duration::from_secs(720)));
        assert_eq!(iso8601("PT1H30M"), Ok(Duration::from_secs(5400)));
        assert_eq!(iso8601("PT0.5S"), Ok(Duration::from_millis(500)));
        assert_eq!(iso8601("P1DT1S"), Ok(Duration::from_secs(86_401)));
        for bad in ["12M", "PT", "PTM", "PT5X", "PT5", "PT1S2M", ""] {
            assert!(iso8601(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn actions_start_after_the_ones_they_name() {
        let json = r#"{"targets": {"T": {"resourceType": "aws:dynamodb:global-table",
              "resourceArns": ["arn:aws:dynamodb:eu-west-1:123456789012:table/orders"]}},
            "actions": {
              "wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT2M"}},
              "pause": {"actionId": "aws:dynamodb:global-table-pause-replication",
                        "parameters": {"duration": "PT12M"}, "targets": {"Tables": "T"},
                        "startAfter": ["wait"]}}}"#;
        let d = scenario(json, "t", &regions(), 60, false).unwrap();
        assert_eq!(d.table, "orders");
        assert!(d.toml.contains("at = \"2000ms\""), "{}", d.toml);
        assert!(d.toml.contains("duration = \"12000ms\"\n"), "{}", d.toml);
        assert!(d.toml.contains("region = \"eu-west-1\""), "{}", d.toml);
        // 2 s + 12 s of actions, 10 s after.
        assert!(d.toml.contains("duration = \"24000ms\""), "{}", d.toml);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let with = |actions: &str| {
            format!(
                r#"{{"targets": {{"T": {{"resourceType": "aws:dynamodb:global-table",
                  "resourceArns": ["arn:aws:dynamodb:eu-west-1:1:table/orders"]}}}},
                  "actions": {{{actions}}}}}"#
            )
        };
        let pause = r#""p": {"actionId": "aws:dynamodb:global-table-pause-replication", "parameters": {"duration": "PT1M"}, "targets": {"Tables": "T"}}"#;
        for (actions, names) in [
            (
                format!(r#"{pause}, "x": {{"actionId": "aws:ssm:start-automation-execution", "parameters": {{"duration": "PT1M"}}}}"#),
                "actions.x.actionId: aws:ssm:start-automation-execution is not an action",
            ),
            (
                r#""p": {"actionId": "aws:dynamodb:global-table-pause-replication", "targets": {"Tables": "T"}}"#.into(),
                "actions.p.parameters.duration is required",
            ),
            (
                format!(r#"{pause}, "w": {{"actionId": "aws:fis:wait", "parameters": {{"duration": "PT1M"}}, "startAfter": ["w"]}}"#),
                "loop",
            ),
            (
                format!(r#"{pause}, "w": {{"actionId": "aws:fis:wait", "parameters": {{"duration": "PT1M"}}, "startAfter": ["nope"]}}"#),
                "no action \"nope\"",
            ),
        ] {
            let err = scenario(&with(&actions), "t", &regions(), 1, false).err().unwrap();
            assert!(err.contains(names), "{err}");
        }
        let other_region = with(pause).replace("eu-west-1", "sa-east-1");
        let err = scenario(&other_region, "t", &regions(), 1, false)
            .err()
            .unwrap();
        assert!(
            err.contains("resourceArns[0]: region sa-east-1 is not one"),
            "{err}"
        );
        assert!(scenario(&with(pause), "t", &regions(), 0, false).is_err());
        let stop = |conditions: &str| {
            let json = with(pause);
            let json = format!(
                "{}, \"stopConditions\": {conditions}}}",
                &json[..json.len() - 1]
            );
            scenario(&json, "t", &regions(), 1, false)
        };
        assert!(stop(r#"[{"source": "none"}]"#).is_ok());
        let err = stop(
            r#"[{"source": "none"}, {"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:orders-errors"}]"#,
        )
        .err()
        .unwrap();
        assert!(
            err.contains(
                "stopConditions[1]: the CloudWatch alarm \"orders-errors\" is not declared"
            ),
            "{err}"
        );
        let err = stop(r#"[{"source": "aws:sns"}]"#).err().unwrap();
        assert!(
            err.contains("stopConditions[0].source: \"aws:sns\" is not"),
            "{err}"
        );
        assert!(scenario("{", "t", &regions(), 1, false).is_err());
    }

    /// A stop condition's alarm is one the file of `--alarms` declares
    /// (its other tables left out); the scenario stops on it.
    #[test]
    fn a_stop_condition_names_an_alarm_the_drill_declares() {
        let json = |alarm: &str| {
            format!(
                r#"{{"targets": {{"T": {{"resourceType": "aws:dynamodb:global-table",
                  "resourceArns": ["arn:aws:dynamodb:eu-west-1:1:table/orders"]}}}},
                  "actions": {{"p": {{"actionId": "aws:dynamodb:global-table-pause-replication",
                    "parameters": {{"duration": "PT1M"}}, "targets": {{"Tables": "T"}}}}}},
                  "stopConditions": [{{"source": "aws:cloudwatch:alarm", "value": "{alarm}"}}]}}"#
            )
        };
        let alarms = "[netsim]\napi = \"x\"\n\n[[alarm]]\nname = \"lagging\"\nmetric = \"PendingReplicationCount\"\nstatistic = \"Maximum\"\nperiod = \"1s\"\nthreshold = 50\ncomparison = \"GreaterThanThreshold\"\n";
        let arn = "arn:aws:cloudwatch:us-east-1:111122223333:alarm:lagging";
        let d = scenario_with_alarms(&json(arn), "t", &regions(), 60, false, alarms).unwrap();
        let s = crate::scenario::Scenario::parse(&d.toml, &Default::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", d.toml));
        assert_eq!(s.stop_conditions, vec!["lagging".to_string()]);
        assert_eq!(s.alarms.len(), 1);
        assert_eq!(s.alarms[0].threshold, 50.0);
        let other = arn.replace("lagging", "orders-errors");
        let err = scenario_with_alarms(&json(&other), "t", &regions(), 60, false, alarms)
            .err()
            .unwrap();
        assert!(
            err.contains(
                "stopConditions[0]: the CloudWatch alarm \"orders-errors\" is not declared"
            ),
            "{err}"
        );
        let err = scenario_with_alarms(&json("lagging"), "t", &regions(), 60, false, alarms)
            .err()
            .unwrap();
        assert!(
            err.contains("stopConditions[0].value: \"lagging\" is not a CloudWatch alarm ARN"),
            "{err}"
        );
    }
}
