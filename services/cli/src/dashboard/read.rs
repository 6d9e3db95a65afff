//! What the page reads from the regions on demand: a region's newest
//! conflict records, through the admin `Conflicts` call `meridian
//! conflicts` uses, and every table as each region describes it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use serde_json::json;

use super::board::{Shared, error};
use crate::client::{channel, client_at, cluster_credentials, conflict_json};

/// Most conflict records one answer carries.
pub const MAX_CONFLICTS: u64 = 200;

/// `GET /api/conflicts?region=R&limit=N`: the region's newest `N` (at most
/// [`MAX_CONFLICTS`], 50 unless told) conflict records, newest first, each
/// as `meridian conflicts` prints it with when it was detected.
pub async fn conflicts(State(board): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(region) = q.get("region") else {
        return error(
            StatusCode::BAD_REQUEST,
            "region: missing (e.g. ?region=us-east-1)".into(),
        );
    };
    let entry = match board.cluster.entry(region) {
        Ok(e) => e,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("region: {e}")),
    };
    let limit = match q.get("limit").map(|l| l.parse::<u64>()) {
        None => 50,
        Some(Ok(n @ 1..=MAX_CONFLICTS)) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("limit: must be a whole number from 1 to {MAX_CONFLICTS}"),
            );
        }
    };
    let admin_addr = entry.admin_dial();
    let read = async {
        let (mut admin, count) = conflicts_admin(&admin_addr).await?;
        let page = admin
            .conflicts(pb::ConflictsRequest {
                table: String::new(),
                limit: limit as u32,
                after: count.saturating_sub(limit),
            })
            .await?
            .into_inner();
        anyhow::Ok((count, page.conflicts))
    };
    match read.await {
        Ok((count, records)) => {
            let rows: Vec<_> = records.iter().rev().map(conflict_row).collect();
            axum::Json(json!({"region": region, "count": count, "conflicts": rows})).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("{region}: {e:#}")),
    }
}

/// An admin client of the region at `admin_addr`, and how many conflicts
/// the region has recorded. Its records are numbered 1, 2, … as they are
/// recorded, and Status counts every one ever recorded, so the newest N
/// follow count − N.
pub(super) async fn conflicts_admin(
    admin_addr: &str,
) -> anyhow::Result<(AdminClient<tonic::transport::Channel>, u64)> {
    let mut admin = AdminClient::new(channel(&format!("http://{admin_addr}")).await?);
    let count = admin
        .status(pb::StatusRequest {})
        .await?
        .into_inner()
        .conflicts;
    Ok((admin, count))
}

/// A conflict record as the page shows it: as `meridian conflicts` prints
/// it, with when it was detected.
pub(super) fn conflict_row(c: &pb::ConflictRecord) -> serde_json::Value {
    let mut j = conflict_json(c);
    j["DetectedAtMicros"] = json!(c.detected_real_micros);
    j
}

/// Most tables `GET /api/tables` describes.
pub const MAX_TABLES: u32 = 100;

/// `GET /api/tables`: every table as each region that answers describes
/// it: key, consistency mode, replicas and witness, indexes, items, and
/// whether it has a stream there.
pub async fn tables(State(board): Shared) -> Response {
    let views = futures::future::join_all(board.cluster.region_names().into_iter().map(|r| {
        let cluster = board.cluster.clone();
        async move {
            match region_tables(&cluster, &r).await {
                Ok(t) => json!({"region": r, "tables": t}),
                Err(e) => json!({"region": r, "error": format!("{e:#}")}),
            }
        }
    }))
    .await;
    axum::Json(json!({ "regions": views, "max_tables": MAX_TABLES })).into_response()
}

async fn region_tables(
    cluster: &meridian_region::ClusterFile,
    region: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let entry = cluster.entry(region)?;
    let mut client = client_at(
        &format!("http://{}", entry.grpc_dial()),
        cluster_credentials(cluster, region.to_string()),
    )
    .await?;
    let names = client
        .list_tables(pb::ListTablesRequest {
            limit: MAX_TABLES,
            start_after: String::new(),
        })
        .await?
        .into_inner()
        .names;
    let mut out = Vec::new();
    for name in names {
        let d = match client
            .describe_table(pb::TableRequest { name: name.clone() })
            .await
        {
            Ok(d) => d.into_inner(),
            // Deleted between the two calls.
            Err(s) if s.code() == tonic::Code::NotFound => continue,
            Err(s) => return Err(s.into()),
        };
        // The stream is what `Watch` answers: FAILED_PRECONDITION when the
        // table has none here.
        let stream = match client
            .watch(pb::WatchRequest {
                table: name.clone(),
                from_start: false,
            })
            .await
        {
            Ok(_) => Some(true),
            Err(s) if s.code() == tonic::Code::FailedPrecondition => Some(false),
            Err(_) => None,
        };
        let attr = |k: &pb::KeyAttr| format!("{} ({})", k.name, k.r#type);
        out.push(json!({
            "name": d.name,
            "partition_key": d.partition_key.as_ref().map(attr),
            "sort_key": d.sort_key.as_ref().map(attr),
            "replicas": d.replicas,
            "witness": (!d.witness.is_empty()).then_some(&d.witness),
            "consistency": if d.consistency.is_empty() { "EVENTUAL" } else { d.consistency.as_str() },
            "items": d.item_count,
            "stream": stream,
            "indexes": d.indexes.iter().map(|i| json!({
                "name": i.name, "global": i.global, "projection": i.projection, "building": i.building,
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}
