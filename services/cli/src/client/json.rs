//! DynamoDB JSON both ways: items and versions parsed from the command
//! line, and the region's answers (stored items, versions, write results)
//! printed, and the conflict records `meridian conflicts` and the
//! dashboard both show.

use anyhow::{Context, Result, anyhow};
use meridian_core::{Item, Timestamp, Version, decode_item, item_from_json, item_to_json};
use meridian_proto::v1 as pb;
use serde_json::{Value as Json, json};

pub(super) fn parse_item(text: &str, what: &str) -> Result<Item> {
    let json: Json =
        serde_json::from_str(text).with_context(|| format!("{what}: not valid JSON"))?;
    item_from_json(&json).map_err(|e| anyhow!("{what}: {e}"))
}

pub(super) fn parse_version(text: &str) -> Result<pb::Version> {
    let v: Version = text.parse().map_err(|e| anyhow!("--if-version: {e}"))?;
    Ok(version_pb(&v))
}

pub(super) fn version_pb(v: &Version) -> pb::Version {
    pb::Version {
        physical_micros: v.hlc.physical,
        logical: v.hlc.logical,
        origin: v.origin.clone(),
    }
}

pub(crate) fn version_text(v: &Option<pb::Version>) -> String {
    v.as_ref()
        .map(|v| {
            Version::new(
                Timestamp::new(v.physical_micros, v.logical),
                v.origin.clone(),
            )
            .to_string()
        })
        .unwrap_or_default()
}

pub(super) fn stored_json(s: &pb::StoredItem) -> Result<Json> {
    let item =
        decode_item(&s.item).map_err(|e| anyhow!("the region sent a malformed item: {e}"))?;
    Ok(json!({ "Item": Json::Object(item_to_json(&item)), "Version": version_text(&s.version) }))
}

/// Prints an answer. A reader that stops early (`| grep -q`, `| head`)
/// closes the pipe; that is not an error of the command, so it neither
/// panics nor fails.
pub(super) fn print(j: &Json) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(j).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{text}");
}

pub(super) fn write_json(w: &pb::WriteResponse) -> Json {
    json!({ "Version": version_text(&w.version), "Prev": version_text(&w.prev) })
}

/// One conflict record as `meridian conflicts` prints it and the dashboard
/// shows it: both writes' versions and items, and why the winner won.
pub(crate) fn conflict_json(c: &pb::ConflictRecord) -> Json {
    let image = |bytes: &[u8], tomb: bool| -> Json {
        if tomb {
            return Json::String("<deleted>".into());
        }
        decode_item(bytes)
            .map(|i| Json::Object(item_to_json(&i)))
            .unwrap_or(Json::Null)
    };
    json!({
        "Table": c.table,
        "Winner": version_text(&c.winner),
        "Loser": version_text(&c.loser),
        "Why": c.reason,
        "DetectedBy": c.detected_by,
        "WinnerItem": image(&c.winner_image, c.winner_tombstone),
        "LostItem": image(&c.loser_image, c.loser_tombstone),
    })
}
