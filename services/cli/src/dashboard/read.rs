//! What the page reads from a region on demand: its newest conflict
//! records, through the admin `Conflicts` call `meridian conflicts` uses.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use serde_json::json;

use super::{Shared, error};
use crate::client::{channel, conflict_json};

/// Most conflict records one answer carries.
pub const MAX_CONFLICTS: u64 = 200;

/// `GET /api/conflicts?region=R&limit=N`: the region's newest `N` (at most
/// [`MAX_CONFLICTS`], 50 unless told) conflict records, newest first, each
/// as `meridian conflicts` prints it with when it was detected.
pub async fn conflicts(State(board): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(region) = q.get("region") else {
        return error(StatusCode::BAD_REQUEST, "region: missing (e.g. ?region=us-east-1)".into());
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
    let url = format!("http://{}", entry.admin_addr());
    let read = async {
        let mut admin = AdminClient::new(channel(&url).await?);
        // Conflict records are numbered 1, 2, … as they are recorded, and
        // Status counts every one ever recorded: the newest N follow
        // count − N.
        let count = admin.status(pb::StatusRequest {}).await?.into_inner().conflicts;
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
            let rows: Vec<_> = records
                .iter()
                .rev()
                .map(|c| {
                    let mut j = conflict_json(c);
                    j["DetectedAtMicros"] = json!(c.detected_real_micros);
                    j
                })
                .collect();
            axum::Json(json!({"region": region, "count": count, "conflicts": rows})).into_response()
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("{region}: {e:#}")),
    }
}
