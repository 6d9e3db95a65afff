//! `meridian repair`: one anti-entropy round on each chosen region, and
//! what it found and moved.

use anyhow::{Context, Result, bail};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::admin::authorized;
use serde_json::{Value as Json, json};

use crate::load_cluster;

use super::connect::channel;
use super::json::print;

/// `meridian repair`: one round on each chosen region, reported.
pub(super) async fn repair(
    config: Option<&std::path::Path>,
    region: Option<String>,
    peer: Option<String>,
    table: Option<String>,
    json: bool,
) -> Result<()> {
    let path = crate::cluster_path(config)?;
    let cluster = load_cluster(&path)?;
    if let Some(r) = &region {
        cluster.entry(r)?;
    }
    let token = cluster.client_admin_token()?;
    let mut rows = Vec::new();
    let mut failed = false;
    for entry in cluster
        .regions
        .iter()
        .filter(|e| region.as_ref().is_none_or(|r| *r == e.name))
    {
        let url = format!("http://{}", entry.admin_dial());
        let report = AdminClient::new(channel(&url).await?)
            .repair(authorized(
                pb::RepairRequest {
                    peer: peer.clone().unwrap_or_default(),
                    table: table.clone().unwrap_or_default(),
                },
                token.as_deref(),
            ))
            .await
            .with_context(|| format!("repair on {}", entry.name))?
            .into_inner();
        for t in report.tables {
            failed |= !t.error.is_empty();
            rows.push((entry.name.clone(), t));
        }
    }
    if json {
        print_json(&rows);
    } else {
        print_table(&rows);
    }
    if failed {
        bail!("a repair round failed; see the errors above");
    }
    Ok(())
}

/// `meridian repair --json`: every round's figures.
fn print_json(rows: &[(String, pb::RepairTableReport)]) {
    let tables: Vec<Json> = rows
        .iter()
        .map(|(region, t)| {
            json!({
                "region": region,
                "peer": t.peer,
                "table": t.table,
                "nodes_compared": t.nodes_compared,
                "keys_differing": t.keys_differing,
                "keys_pulled": t.keys_pulled,
                "keys_applied": t.keys_applied,
                "bytes_sent": t.bytes_sent,
                "bytes_received": t.bytes_received,
                "millis": t.micros as f64 / 1000.0,
                "error": t.error,
            })
        })
        .collect();
    print(&json!({ "tables": tables }));
}

/// `meridian repair`: a row per round, with its error if any, and the
/// totals.
fn print_table(rows: &[(String, pb::RepairTableReport)]) {
    println!(
        "{:<16} {:<16} {:<20} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>9}",
        "REGION",
        "FROM PEER",
        "TABLE",
        "COMPARED",
        "DIFFERED",
        "PULLED",
        "APPLIED",
        "SENT",
        "RECEIVED",
        "MS"
    );
    for (region, t) in rows {
        println!(
            "{:<16} {:<16} {:<20} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>9.1}",
            region,
            t.peer,
            t.table,
            t.nodes_compared,
            t.keys_differing,
            t.keys_pulled,
            t.keys_applied,
            t.bytes_sent,
            t.bytes_received,
            t.micros as f64 / 1000.0
        );
        if !t.error.is_empty() {
            println!("  error: {}", t.error);
        }
    }
    let total = |f: fn(&pb::RepairTableReport) -> u64| rows.iter().map(|(_, t)| f(t)).sum::<u64>();
    println!(
        "\n{} comparisons: {} keys differed, {} pulled, {} applied; {} bytes sent, {} received",
        rows.len(),
        total(|t| t.keys_differing),
        total(|t| t.keys_pulled),
        total(|t| t.keys_applied),
        total(|t| t.bytes_sent),
        total(|t| t.bytes_received)
    );
    let dropped = total(|t| t.keys_dropped);
    if dropped > 0 {
        println!("{dropped} items dropped: deleted at a peer that has since purged the tombstones");
    }
}
