//! `meridian watch`: a table's changes as the region's Watch call streams
//! them, one line or JSON document each.

use anyhow::Result;
use meridian_proto::v1 as pb;
use serde_json::{Value as Json, json};

use crate::Target;

use super::connect::client;
use super::json::version_text;

/// `meridian watch`: the region's Watch call, one line (or JSON document)
/// per change, with the version a change overwrote when it won over a
/// concurrent write, and a DISCARDED line for each concurrent write the
/// region discarded without a record (it lost on arrival), with the
/// version kept.
pub(super) async fn watch(
    target: &Target,
    table: String,
    from_start: bool,
    limit: Option<u64>,
    as_json: bool,
) -> Result<()> {
    use std::io::Write;
    let mut changes = client(target)
        .await?
        .watch(pb::WatchRequest { table, from_start })
        .await?
        .into_inner();
    let mut out = std::io::stdout().lock();
    let mut seen = 0;
    while limit.is_none_or(|l| seen < l) {
        let Some(c) = changes.message().await? else {
            break;
        };
        seen += 1;
        let version = version_text(&c.version);
        let overwrote = c.overwrote.as_ref().map(|v| version_text(&Some(v.clone())));
        let kept = c.kept.as_ref().map(|v| version_text(&Some(v.clone())));
        let line = if as_json {
            let parse = |s: &str| serde_json::from_str::<Json>(s).unwrap_or(Json::Null);
            json!({
                "SequenceNumber": c.sequence,
                "Event": c.event,
                "Keys": parse(&c.keys_json),
                "NewImage": parse(&c.new_image_json),
                "OldImage": parse(&c.old_image_json),
                "Version": version,
                "At": meridian_core::utc::format_millis(c.at_micros),
                "Ttl": c.ttl,
                "Overwrote": overwrote,
                "Kept": kept,
                "KeptImage": parse(&c.kept_image_json),
            })
            .to_string()
        } else {
            let mark = match (&overwrote, &kept) {
                (Some(v), _) => format!("  ⚠ overwrote concurrent {v}"),
                (None, Some(k)) => format!("  ⚠ lost to concurrent {k}, which this region kept"),
                (None, None) => String::new(),
            };
            let ttl = if c.ttl { " (TTL)" } else { "" };
            format!(
                "{:>8}  {}  {:<6}{ttl}  {}  {version}{mark}",
                c.sequence,
                meridian_core::utc::format_millis(c.at_micros),
                c.event,
                c.keys_json
            )
        };
        // A closed pipe (`| head`) ends the watch quietly.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}
