//! Contributor insights: UpdateContributorInsights,
//! DescribeContributorInsights and ListContributorInsights keep and report
//! whether insights are on for a table or one of its global indexes.
//!
//! The setting belongs to the region's replica, as in DynamoDB, where each
//! replica's insights are its own: it is kept in the region's store
//! (`meridian_store`'s replica settings) and never replicated. There is no
//! CloudWatch here, so no rule is made and nothing is measured: the state
//! is kept and described, nothing more (docs/dynamodb-compat.md). As
//! DynamoDB, an update answers `ENABLING` or `DISABLING`; there being
//! nothing to set up, the table is described `ENABLED` or `DISABLED` at
//! once, as CreateTable answers `CREATING` and DescribeTable `ACTIVE`.

use meridian_core::TableDef;
use meridian_region::ops::{OpError, RegionHandle};
use serde_json::{Value as Json, json};

use crate::description::seconds;
use crate::error::{ApiError, ApiResult, Kind};
use crate::front::Front;
use crate::req::Req;
use crate::request::Request;

/// Prefix of the replica settings that hold insights: `insights/` for the
/// table, `insights/<index>` for an index.
const PREFIX: &str = "insights/";

/// Most summaries one ListContributorInsights page holds, and its default.
const MAX_RESULTS: u64 = 100;

const MODES: [&str; 2] = ["ACCESSED_AND_THROTTLED_KEYS", "THROTTLED_KEYS"];

/// Insights as stored: on or off, in which mode, since when (µs).
struct State {
    enabled: bool,
    mode: String,
    since: u64,
}

impl State {
    fn to_text(&self) -> String {
        let on = if self.enabled { "ENABLED" } else { "DISABLED" };
        format!("{on} {} {}", self.mode, self.since)
    }

    fn parse(text: &str) -> Option<State> {
        let mut parts = text.split(' ');
        let enabled = match parts.next()? {
            "ENABLED" => true,
            "DISABLED" => false,
            _ => return None,
        };
        let mode = parts.next()?.to_string();
        let since = parts.next()?.parse().ok()?;
        Some(State {
            enabled,
            mode,
            since,
        })
    }

    fn status(&self) -> &'static str {
        if self.enabled { "ENABLED" } else { "DISABLED" }
    }
}

fn setting(index: Option<&str>) -> String {
    format!("{PREFIX}{}", index.unwrap_or(""))
}

/// `TableName` and `IndexName`, with the index checked to be one of the
/// table's global indexes.
async fn target<'a>(ops: &RegionHandle, r: &Req<'a>) -> ApiResult<(&'a str, Option<&'a str>)> {
    let table = r.table_name()?;
    let index = r.opt_str("IndexName")?;
    let def = match ops.table(table).await {
        Err(OpError::TableNotFound(_)) => {
            return Err(ApiError::new(
                Kind::ResourceNotFound,
                format!("Requested resource not found: Table: {table} not found"),
            ));
        }
        other => other?.0,
    };
    if let Some(index) = index {
        check_index(&def, index)?;
    }
    Ok((table, index))
}

fn check_index(def: &TableDef, index: &str) -> ApiResult<()> {
    match def.indexes.iter().find(|i| i.name == index) {
        Some(i) if i.kind == meridian_core::index::Kind::Global => Ok(()),
        Some(_) => Err(ApiError::validation(format!(
            "One or more parameter values were invalid: {index} is a local secondary index of table {}; contributor insights are kept for a table and its global secondary indexes",
            def.name
        ))),
        None => Err(ApiError::new(
            Kind::ResourceNotFound,
            format!(
                "Requested resource not found: Index: {index} not found in table {}",
                def.name
            ),
        )),
    }
}

fn with_index(mut out: Json, index: Option<&str>) -> Json {
    if let Some(i) = index {
        out["IndexName"] = json!(i);
    }
    out
}

pub async fn update(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let action = r.str("ContributorInsightsAction")?;
    let enable = match action {
        "ENABLE" => true,
        "DISABLE" => false,
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'contributorInsightsAction' failed to satisfy constraint: Member must satisfy enum value set: [ENABLE, DISABLE]"
            )));
        }
    };
    let mode = match r.opt_str("ContributorInsightsMode")? {
        None => None,
        Some(m) if MODES.contains(&m) => Some(m.to_string()),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'contributorInsightsMode' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                MODES.join(", ")
            )));
        }
    };
    let (table, index) = target(ops, &r).await?;
    let stored = ops
        .change_replica_setting(table, &setting(index), move |current, now| {
            let current = current.and_then(State::parse);
            let mode = mode
                .or_else(|| current.as_ref().map(|c| c.mode.clone()))
                .unwrap_or_else(|| MODES[0].to_string());
            let unchanged = current
                .as_ref()
                .is_some_and(|c| c.enabled == enable && c.mode == mode);
            let since = match &current {
                Some(c) if unchanged => c.since,
                _ => now,
            };
            let next = State {
                enabled: enable,
                mode,
                since,
            };
            Ok::<_, ApiError>(Some(next.to_text()))
        })
        .await??
        .after;
    let state = stored.as_deref().and_then(State::parse);
    let status = if enable { "ENABLING" } else { "DISABLING" };
    let mut out = json!({"TableName": table, "ContributorInsightsStatus": status});
    if let Some(s) = state {
        out["ContributorInsightsMode"] = json!(s.mode);
    }
    Ok(with_index(out, index))
}

pub async fn describe(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let (table, index) = target(ops, &r).await?;
    let (owned, name) = (table.to_string(), setting(index));
    let state = ops
        .read(move |rd| rd.replica_setting(&owned, &name))
        .await?
        .as_deref()
        .and_then(State::parse);
    let mut out = json!({
        "TableName": table,
        "ContributorInsightsStatus": state.as_ref().map_or("DISABLED", State::status),
    });
    if let Some(s) = &state {
        // No CloudWatch: no rule is made, so none is listed.
        out["ContributorInsightsRuleList"] = json!([]);
        out["LastUpdateDateTime"] = json!(seconds(s.since));
        out["ContributorInsightsMode"] = json!(s.mode);
    }
    Ok(with_index(out, index))
}

/// ListContributorInsights: the table and index settings this region's
/// replicas have (on, or off after having been on), by table then index,
/// of `TableName` alone when it is given. `NextToken` is the last summary
/// of the page, `<table>/<index>`.
pub async fn list(front: &Front, req: &Request) -> ApiResult<Json> {
    let (ops, r) = (&front.ops, req.body());
    let limit = r
        .limit("MaxResults", Some(MAX_RESULTS))?
        .unwrap_or(MAX_RESULTS) as usize;
    let only = match r.opt_str("TableName")? {
        Some(_) => Some(target(ops, &r).await?.0.to_string()),
        None => None,
    };
    let after = match r.opt_str("NextToken")? {
        None => None,
        Some(t) => {
            let (table, index) = t
                .split_once('/')
                .ok_or_else(|| ApiError::validation(format!("Invalid NextToken: {t:?}")))?;
            Some((table.to_string(), index.to_string()))
        }
    };
    let region = ops.region().to_string();
    let found = ops
        .read(move |rd| {
            let mut out: Vec<(String, String, State)> = Vec::new();
            let mut from = match (&only, &after) {
                (Some(t), _) => t.clone(),
                (None, Some((t, _))) => t.clone(),
                (None, None) => String::new(),
            };
            // Tables after `from`, starting with it: list_tables starts
            // after the name it is given, so the first is read by name.
            let mut names = vec![from.clone()];
            loop {
                for name in names.drain(..) {
                    if name.is_empty() || only.as_ref().is_some_and(|o| *o != name) {
                        continue;
                    }
                    let here = rd
                        .table_def(&name)?
                        .is_some_and(|(def, _)| def.has_replica(&region));
                    if !here {
                        continue;
                    }
                    for (key, text) in rd.replica_settings(&name, PREFIX)? {
                        let index = key[PREFIX.len()..].to_string();
                        let past = after.as_ref().is_none_or(|(t, i)| {
                            (name.as_str(), index.as_str()) > (t.as_str(), i.as_str())
                        });
                        if past && let Some(state) = State::parse(&text) {
                            out.push((name.clone(), index, state));
                        }
                    }
                }
                if out.len() > limit || only.is_some() {
                    return Ok(out);
                }
                let page = rd.list_tables(&from, 100)?;
                let done = page.is_empty();
                if let Some(last) = page.last() {
                    from = last.clone();
                }
                names = page;
                if done {
                    return Ok(out);
                }
            }
        })
        .await?;
    let more = found.len() > limit;
    let summaries: Vec<Json> = found
        .iter()
        .take(limit)
        .map(|(table, index, s)| {
            let out = json!({
                "TableName": table,
                "ContributorInsightsStatus": s.status(),
                "ContributorInsightsMode": s.mode,
            });
            with_index(out, (!index.is_empty()).then_some(index.as_str()))
        })
        .collect();
    let mut out = json!({"ContributorInsightsSummaries": summaries});
    if more && let Some((table, index, _)) = found.get(limit - 1) {
        out["NextToken"] = json!(format!("{table}/{index}"));
    }
    Ok(out)
}
