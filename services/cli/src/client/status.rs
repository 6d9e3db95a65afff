//! `meridian status`: every region's status, as a table or one JSON
//! document.

use anyhow::Result;
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use serde_json::{Value as Json, json};

use crate::load_cluster;

use super::connect::channel;
use super::json::{print, version_text};

/// `meridian status`: every region's status as a table, or with `json`
/// one JSON document. Fails with [`crate::Refusal::RegionsDown`] (exit 3) when a
/// region is down or answers with an error, after printing the others.
pub(super) async fn status(config: &std::path::Path, json: bool) -> Result<()> {
    let cluster = load_cluster(config)?;
    let mut down = Vec::new();
    let mut regions = Vec::new();
    for entry in &cluster.regions {
        let Some(s) = region_status(entry, json, &mut down, &mut regions).await else {
            continue;
        };
        if json {
            regions.push(status_json(&s));
            continue;
        }
        print_region(&s);
    }
    // The edge, when the file has one (docs/edge.md): counted by
    // `meridian up`, not by a region, so read from its own listener.
    let edge = match &cluster.edge {
        Some(section) => Some(
            meridian_cluster::edge::fetch_status(section)
                .await
                .map_err(|e| (section.listen, e.to_string())),
        ),
        None => None,
    };
    if json {
        let mut doc = json!({"cluster": cluster.name, "regions": regions});
        if let Some(e) = edge {
            doc["edge"] = e.unwrap_or_else(|(listen, error)| {
                json!({"listen": listen.to_string(), "up": false, "error": error})
            });
        }
        print(&doc);
    } else {
        match edge {
            Some(Ok(doc)) => println!("{}\n", meridian_cluster::edge::status_line(&doc)),
            Some(Err((listen, e))) => println!(
                "edge http://{listen}  NOT ANSWERING ({e}); is `meridian up` running without --no-edge?\n"
            ),
            None => {}
        }
        println!(
            "pending: our mutations the peer has not applied yet. lag: real time from the peer's commit to our apply."
        );
    }
    if !down.is_empty() {
        return Err(crate::Refusal::RegionsDown(down).into());
    }
    Ok(())
}

/// `entry`'s status, or `None` when it is down or answers with an error:
/// it is then counted in `down`, given its entry in `regions` and, for the
/// table, its line, so the other regions are still shown.
async fn region_status(
    entry: &meridian_region::RegionEntry,
    json: bool,
    down: &mut Vec<String>,
    regions: &mut Vec<Json>,
) -> Option<pb::StatusResponse> {
    let url = format!("http://{}", entry.admin_dial());
    let s = match channel(&url).await {
        Ok(ch) => AdminClient::new(ch)
            .status(pb::StatusRequest {})
            .await
            .map(|r| r.into_inner()),
        Err(e) => {
            down.push(entry.name.clone());
            regions.push(json!({"region": entry.name, "up": false, "error": format!("{e:#}")}));
            if !json {
                println!("{}  DOWN ({e:#})\n", entry.name);
            }
            return None;
        }
    };
    match s {
        Ok(s) => Some(s),
        Err(e) => {
            down.push(entry.name.clone());
            regions.push(json!({"region": entry.name, "up": false, "error": e.message()}));
            if !json {
                println!("{}  ERROR {}\n", entry.name, e.message());
            }
            None
        }
    }
}

/// One answering region's lines of the table.
fn print_region(s: &pb::StatusResponse) {
    println!(
        "{}  hlc {}  log {}..{}  conflicts {}  drift refusals {}  tombstones purged {}  superseded {}",
        s.region,
        version_text(&s.hlc_now),
        s.log_start,
        s.log_head,
        s.conflicts,
        s.drift_refusals,
        s.tombstones_purged,
        s.superseded
    );
    if !s.writer_failure.is_empty() {
        println!("  NOT READY: {}; restart the region", s.writer_failure);
    }
    if let Some(seed) = &s.seeded {
        println!(
            "  seeded from {}: {:.1} MiB, {} items and {} tombstones, in {:.2} s",
            seed.peer,
            seed.bytes as f64 / 1048576.0,
            seed.items,
            seed.tombstones,
            seed.micros as f64 / 1e6
        );
    }
    print_peers(s);
    print_replicas(s);
    print_tables(s);
    if !s.workers.is_empty() {
        println!(
            "  {:<24} {:<9} {:>8}  last error",
            "worker", "state", "restarts"
        );
        for w in &s.workers {
            println!(
                "  {:<24} {:<9} {:>8}  {}",
                w.name, w.state, w.restarts, w.last_error
            );
        }
    }
    println!();
}

/// A line `title: …` of what `of` says of each peer, when it says
/// anything of one.
fn peer_line(s: &pb::StatusResponse, title: &str, of: impl Fn(&pb::PeerStatus) -> Option<String>) {
    let parts: Vec<String> = s.peers.iter().filter_map(of).collect();
    if !parts.is_empty() {
        println!("  {title}: {}", parts.join("; "));
    }
}

/// Each peer's link, acknowledgement and replication lag, what arrives
/// from it out of order or waits for the clocks, and what was coalesced
/// on the way to it.
fn print_peers(s: &pb::StatusResponse) {
    println!(
        "  {:<16} {:<5} {:>10} {:>9} {:>10} {:>10} {:>10} {:>9}  last error",
        "peer", "link", "acked", "pending", "lag p50", "lag p99", "lag max", "samples",
    );
    for p in &s.peers {
        let l = p.latency.unwrap_or_default();
        println!(
            "  {:<16} {:<5} {:>10} {:>9} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>9}  {}",
            p.peer,
            if p.connected { "up" } else { "down" },
            p.acked_seq,
            p.pending,
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            l.count,
            p.last_error
        );
    }
    print_peer_counts(s);
    print_units(s);
    // What the region's DynamoDB endpoint answered, as CloudWatch counts
    // it (the alarms' UserErrors, SystemErrors, ThrottledRequests).
    if let Some(r) = s.requests.filter(|r| r.requests > 0) {
        println!(
            "  dynamodb requests: {} answered, {} user errors, {} system errors, {} throttled",
            r.requests, r.user_errors, r.system_errors, r.throttled
        );
    }
    for p in s.peers.iter().filter(|p| p.drift_ahead_micros > 0) {
        println!(
            "  {}'s entries wait: the drift guard refused a version {:.1} ms ahead of this region's clock; they apply once the clocks allow",
            p.peer,
            p.drift_ahead_micros as f64 / 1000.0
        );
    }
}

/// What each peer's replication counted that is worth a line only when
/// it happened: anomalies of partition order, coalescing and replicated
/// write units.
fn print_peer_counts(s: &pb::StatusResponse) {
    // Partition order's anomalies, inbound: what DynamoDB allows and
    // applications trip on (docs/replication.md, "Lanes").
    peer_line(s, "partition order", |p| {
        (p.reordered + p.torn_units > 0).then(|| {
            format!(
                "from {} {} reordered, {} torn",
                p.peer, p.reordered, p.torn_units
            )
        })
    });
    // Coalescing, outbound: versions an item's later version stood for
    // (docs/replication.md, "Coalescing").
    peer_line(s, "coalescing", |p| {
        (p.coalesced > 0).then(|| {
            format!(
                "to {} {} shipped, {} coalesced",
                p.peer, p.shipped, p.coalesced
            )
        })
    });
    // Replicated write units, inbound: what the peer's writes drew on this
    // region's provisioned tables, and how long they waited for them
    // (docs/replication.md, "Replicated write units").
    peer_line(s, "replicated write units", |p| {
        (p.replicated_write_units > 0).then(|| {
            format!(
                "from {} {} units, waited {:.1} s",
                p.peer,
                p.replicated_write_units,
                p.throttled_micros as f64 / 1e6
            )
        })
    });
}

/// This region's replica of each provisioned table: its units now (auto
/// scaling's, when it moved them) and what was charged to them since the
/// region started (docs/dynamodb-compat.md, "Throughput").
fn print_units(s: &pb::StatusResponse) {
    let units: Vec<String> = s
        .units
        .iter()
        .map(|u| {
            format!(
                "{} {} read / {} write, charged {:.1} / {:.1}",
                u.table, u.read_units, u.write_units, u.consumed_read, u.consumed_write
            )
        })
        .collect();
    if !units.is_empty() {
        println!("  provisioned units: {}", units.join("; "));
    }
}

/// Replicas filled, filling, being removed and removed.
fn print_replicas(s: &pb::StatusResponse) {
    for f in &s.fills {
        println!(
            "  replica of {} filled from {}: {} items, {:.1} MiB, in {:.2} s",
            f.table,
            f.peers.join(", "),
            f.items,
            f.bytes as f64 / 1048576.0,
            f.micros as f64 / 1e6
        );
    }
    for f in &s.filling {
        println!(
            "  replica of {} filling: {} of {} peers done ({}), {} items, {:.1} MiB, for {:.2} s{}",
            f.table,
            f.done.len(),
            f.peers.len(),
            f.peers.join(", "),
            f.items,
            f.bytes as f64 / 1048576.0,
            f.micros as f64 / 1e6,
            if f.last_error.is_empty() {
                String::new()
            } else {
                format!("; retrying after: {}", f.last_error)
            }
        );
    }
    for t in &s.removing {
        println!("  replica of {t} being removed");
    }
    for r in &s.removals {
        let pending: Vec<String> = r
            .pending
            .iter()
            .map(|p| format!("{} {}", p.peer, p.count))
            .collect();
        println!(
            "  replica of {} removed; its writes peers had not applied then: {}",
            r.table,
            if pending.is_empty() {
                "none".to_string()
            } else {
                pending.join(", ")
            }
        );
    }
}

/// STRONG tables' consensus state, and conflicts per table.
fn print_tables(s: &pb::StatusResponse) {
    for t in &s.strong {
        println!(
            "  STRONG table {}: {} {} (following {}), {}, commit {} applied {} last {} compacted {}, {} write conflicts",
            t.table,
            t.member,
            t.role,
            if t.leader.is_empty() {
                "no leader"
            } else {
                &t.leader
            },
            t.standing,
            t.commit,
            t.applied,
            t.last,
            t.compacted,
            t.write_conflicts
        );
    }
    if !s.table_conflicts.is_empty() {
        let counts: Vec<String> = s
            .table_conflicts
            .iter()
            .map(|t| format!("{} {}", t.table, t.count))
            .collect();
        println!("  conflicts per table: {}", counts.join(", "));
    }
}

/// One answering region of `meridian status --json`.
pub(crate) fn status_json(s: &pb::StatusResponse) -> Json {
    let peers: Vec<Json> = s
        .peers
        .iter()
        .map(|p| {
            let l = p.latency.unwrap_or_default();
            json!({
                "peer": p.peer,
                "connected": p.connected,
                "acked_seq": p.acked_seq,
                "pending": p.pending,
                "lag_p50_ms": l.p50_ms,
                "lag_p99_ms": l.p99_ms,
                "lag_max_ms": l.max_ms,
                "lag_samples": l.count,
                "last_error": p.last_error,
                "repair_rounds": p.repair_rounds,
                "repair_keys": p.repair_keys,
                "repair_bytes_sent": p.repair_bytes_sent,
                "repair_bytes_received": p.repair_bytes_received,
                "repair_item_bytes_received": p.repair_item_bytes_received,
                "drift_ahead_ms": p.drift_ahead_micros as f64 / 1000.0,
                "reordered": p.reordered,
                "torn_units": p.torn_units,
                "shipped": p.shipped,
                "coalesced": p.coalesced,
                "replicated_write_units": p.replicated_write_units,
                "throttled_ms": p.throttled_micros as f64 / 1000.0,
            })
        })
        .collect();
    let workers: Vec<Json> = s
        .workers
        .iter()
        .map(|w| {
            json!({
                "name": w.name,
                "state": w.state,
                "restarts": w.restarts,
                "last_error": w.last_error,
            })
        })
        .collect();
    json!({
        "region": s.region,
        "up": true,
        "hlc": version_text(&s.hlc_now),
        "log_head": s.log_head,
        "log_start": s.log_start,
        "conflicts": s.conflicts,
        "drift_refusals": s.drift_refusals,
        "tombstones_purged": s.tombstones_purged,
        "superseded": s.superseded,
        "writer_failure": (!s.writer_failure.is_empty()).then_some(&s.writer_failure),
        "seeded": s.seeded.as_ref().map(|seed| json!({
            "peer": seed.peer, "bytes": seed.bytes, "items": seed.items,
            "tombstones": seed.tombstones, "micros": seed.micros,
        })),
        "peers": peers,
        "fills": s.fills.iter().map(|f| json!({
            "table": f.table, "peers": f.peers, "items": f.items, "bytes": f.bytes,
            "micros": f.micros, "active_at_micros": f.active_at_micros,
        })).collect::<Vec<_>>(),
        "removals": s.removals.iter().map(|r| json!({
            "table": r.table, "deleted_at_micros": r.deleted_at_micros,
            "pending": r.pending.iter().map(|p| json!({"peer": p.peer, "count": p.count})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "filling": s.filling.iter().map(|f| json!({
            "table": f.table, "peers": f.peers, "done": f.done, "items": f.items,
            "bytes": f.bytes, "micros": f.micros,
            "last_error": (!f.last_error.is_empty()).then_some(&f.last_error),
        })).collect::<Vec<_>>(),
        "removing": s.removing,
        "table_conflicts": s.table_conflicts.iter().map(|t| (t.table.clone(), json!(t.count)))
            .collect::<serde_json::Map<String, Json>>(),
        "workers": workers,
        "strong": s.strong.iter().map(|t| json!({
            "table": t.table, "member": t.member, "role": t.role, "leader": t.leader,
            "standing": t.standing, "ballot_round": t.promised_round, "commit": t.commit,
            "applied": t.applied, "last": t.last, "generation": t.generation,
            "compacted": t.compacted, "write_conflicts": t.write_conflicts,
        })).collect::<Vec<_>>(),
        "units": s.units.iter().map(|u| json!({
            "table": u.table, "read_units": u.read_units, "write_units": u.write_units,
            "consumed_read": u.consumed_read, "consumed_write": u.consumed_write,
        })).collect::<Vec<_>>(),
        "requests": s.requests.map(|r| json!({
            "requests": r.requests, "user_errors": r.user_errors,
            "system_errors": r.system_errors, "throttled": r.throttled,
        })),
    })
}
