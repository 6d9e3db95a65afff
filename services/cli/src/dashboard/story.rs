//! A key's story: one key of one table as every region holds it (item and
//! version), the conflicts each region recorded on it (the conflict log,
//! as `meridian conflicts` reads it) and, when the table has a stream, the
//! changes each region made to it (the admin-free `Watch` call `meridian
//! watch` uses): each write where it was taken, each arrival elsewhere,
//! and each concurrent write discarded on arrival. The page draws the
//! sequence diagram from these.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_core::{
    EncodedKey, Item, KeyAttr, KeySchema, KeyType, decode_item, encode_item, item_from_json,
    item_to_json,
};
use meridian_proto::v1 as pb;
use meridian_region::ClusterFile;
use serde_json::{Value as Json, json};

use super::board::{Shared, error};
use crate::client::{client_at, cluster_credentials, version_text};

/// Conflict records and stream records read per region, newest last.
const MAX_SCANNED: u64 = 10_000;
/// How long one region's stream is read, and how long it may stay silent
/// once it has answered (it has then sent what it holds).
const STREAM_FOR: Duration = Duration::from_secs(3);
const STREAM_IDLE: Duration = Duration::from_millis(300);

/// `GET /api/key?table=T&key={"id":{"S":"a"}}`.
pub async fn key(State(board): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let table = match q.get("table").map(|t| t.trim()) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "table: missing (e.g. orders)".into(),
            );
        }
    };
    let key = match q.get("key").map(|k| parse_key(k)) {
        Some(Ok(k)) => k,
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                r#"key: missing (DynamoDB JSON, e.g. {"id": {"S": "a"}})"#.into(),
            );
        }
    };
    let views = futures::future::join_all(board.cluster.region_names().into_iter().map(|r| {
        let (cluster, table, key) = (board.cluster.clone(), table.clone(), key.clone());
        async move {
            match region_view(&cluster, &r, &table, &key).await {
                Ok(v) => v,
                Err(e) => json!({"region": r, "error": format!("{e:#}")}),
            }
        }
    }))
    .await;
    let differs = differing(&views);
    axum::Json(json!({
        "table": table,
        "key": Json::Object(item_to_json(&key)),
        "regions": views,
        "differs": differs,
    }))
    .into_response()
}

fn parse_key(text: &str) -> Result<Item, String> {
    let j: Json = serde_json::from_str(text).map_err(|e| format!("key: not JSON: {e}"))?;
    item_from_json(&j).map_err(|e| format!("key: {e}"))
}

/// The table's key schema as a region describes it.
fn schema(d: &pb::TableDescription) -> Result<KeySchema> {
    let attr = |k: &pb::KeyAttr, field: &str| -> Result<KeyAttr> {
        Ok(KeyAttr {
            name: k.name.clone(),
            ty: KeyType::parse(&k.r#type, field).map_err(|e| anyhow!("{e}"))?,
        })
    };
    Ok(KeySchema {
        partition: attr(
            d.partition_key.as_ref().context("no partition key")?,
            "partition_key",
        )?,
        sort: d
            .sort_key
            .as_ref()
            .map(|k| attr(k, "sort_key"))
            .transpose()?,
    })
}

async fn region_view(cluster: &ClusterFile, region: &str, table: &str, key: &Item) -> Result<Json> {
    let entry = cluster.entry(region)?;
    let mut client = client_at(
        &format!("http://{}", entry.grpc_dial()),
        cluster_credentials(cluster, region.to_string()),
    )
    .await?;
    let desc = client
        .describe_table(pb::TableRequest { name: table.into() })
        .await
        .map_err(|s| anyhow!("{}", s.message()))?
        .into_inner();
    let schema = schema(&desc)?;
    let encoded = schema.key_of(key).map_err(|e| anyhow!("key: {e}"))?;
    let held = client
        .get_item(pb::GetItemRequest {
            table: table.into(),
            key: encode_item(key),
            consistent: false,
        })
        .await
        .map_err(|s| anyhow!("{}", s.message()))?
        .into_inner()
        .item;
    let (item, version) = match held {
        Some(s) => (
            Json::Object(item_to_json(
                &decode_item(&s.item).context("a malformed item")?,
            )),
            json!(version_text(&s.version)),
        ),
        None => (Json::Null, Json::Null),
    };
    let conflicts = key_conflicts(cluster, region, table, &encoded).await?;
    let changes = changes(&mut client, table, &schema, &encoded).await?;
    Ok(json!({
        "region": region,
        "item": item,
        "version": version,
        "conflicts": conflicts,
        "stream": changes.is_some(),
        "changes": changes.unwrap_or_default(),
    }))
}

/// The conflicts the region recorded on the key, among its newest
/// [`MAX_SCANNED`] records of the table.
async fn key_conflicts(
    cluster: &ClusterFile,
    region: &str,
    table: &str,
    key: &EncodedKey,
) -> Result<Vec<Json>> {
    let (mut admin, count) =
        super::read::conflicts_admin(&cluster.entry(region)?.admin_dial()).await?;
    let mut after = count.saturating_sub(MAX_SCANNED);
    let mut out = Vec::new();
    // Each page moves `after` on; the pages end by MAX_SCANNED records.
    for _ in 0..MAX_SCANNED {
        let page = admin
            .conflicts(pb::ConflictsRequest {
                table: table.into(),
                limit: 1000,
                after,
            })
            .await?
            .into_inner();
        for c in &page.conflicts {
            if c.partition_key == key.partition && c.sort_key == key.sort {
                out.push(super::read::conflict_row(c));
            }
        }
        if page.next == 0 {
            break;
        }
        after = page.next;
    }
    Ok(out)
}

/// The key's changes in the region's stream, oldest first; `None` when the
/// table has no stream there.
async fn changes(
    client: &mut pb::meridian_client::MeridianClient<
        meridian_region::client_auth::Signing<tonic::transport::Channel>,
    >,
    table: &str,
    schema: &KeySchema,
    key: &EncodedKey,
) -> Result<Option<Vec<Json>>> {
    let watch = client
        .watch(pb::WatchRequest {
            table: table.into(),
            from_start: true,
        })
        .await;
    let mut stream = match watch {
        Ok(s) => s.into_inner(),
        Err(s) if s.code() == tonic::Code::FailedPrecondition => return Ok(None),
        Err(s) => return Err(anyhow!("{}", s.message())),
    };
    let start = tokio::time::Instant::now();
    let mut out = Vec::new();
    let mut scanned = 0u64;
    while scanned < MAX_SCANNED {
        let left = STREAM_FOR.saturating_sub(start.elapsed());
        let wait = if scanned == 0 {
            left
        } else {
            left.min(STREAM_IDLE)
        };
        let c = match tokio::time::timeout(wait, stream.message()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(s)) => return Err(anyhow!("{}", s.message())),
        };
        scanned += 1;
        let mine = serde_json::from_str::<Json>(&c.keys_json)
            .ok()
            .and_then(|j| item_from_json(&j).ok())
            .and_then(|k| schema.key_of(&k).ok())
            .is_some_and(|k| &k == key);
        if mine {
            let opt = |v: &Option<pb::Version>| v.as_ref().map(|_| version_text(v));
            out.push(json!({
                "event": c.event,
                "version": version_text(&c.version),
                "at_micros": c.at_micros,
                "overwrote": opt(&c.overwrote),
                "kept": opt(&c.kept),
                "new_image": serde_json::from_str::<Json>(&c.new_image_json).unwrap_or(Json::Null),
            }));
        }
    }
    Ok(Some(out))
}

/// The attributes whose values are not the same in every region that
/// answered (an attribute missing in one differs), and `version` when the
/// versions differ.
fn differing(views: &[Json]) -> Vec<String> {
    let answered: Vec<&Json> = views.iter().filter(|v| v.get("error").is_none()).collect();
    let mut names: Vec<String> = answered
        .iter()
        .filter_map(|v| v["item"].as_object())
        .flat_map(|o| o.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| {
            answered
                .windows(2)
                .any(|w| w[0]["item"].get(n) != w[1]["item"].get(n))
        })
        .collect();
    if answered
        .windows(2)
        .any(|w| w[0]["version"] != w[1]["version"])
    {
        out.push("version".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_differs_between_regions_is_named() {
        let views = [
            json!({"region": "a", "item": {"id": {"S": "k"}, "v": {"S": "1"}}, "version": "1+0@a"}),
            json!({"region": "b", "item": {"id": {"S": "k"}, "v": {"S": "2"}, "w": {"N": "1"}}, "version": "2+0@b"}),
            json!({"region": "c", "error": "down"}),
        ];
        assert_eq!(differing(&views), ["v", "w", "version"]);
        assert!(differing(&views[..1]).is_empty());
        let same = [views[0].clone(), views[0].clone()];
        assert!(differing(&same).is_empty());
    }

    #[test]
    fn a_bad_key_names_the_field() {
        assert!(parse_key("{").unwrap_err().starts_with("key: not JSON"));
        let e = parse_key(r#"{"id": {"Q": "a"}}"#).unwrap_err();
        assert!(e.starts_with("key: "), "{e}");
    }
}
