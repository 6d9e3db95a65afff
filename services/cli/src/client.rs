//! Item, table and status commands: thin gRPC clients that speak DynamoDB
//! JSON. This module is the item commands (put, get, delete, query, scan,
//! conflicts) and the dispatch to the others, one module each.

mod backup;
pub(crate) mod connect;
pub(crate) mod json;
mod repair;
mod status;
mod table;
mod watch;

use anyhow::{Result, bail};
use meridian_core::encode_item;
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_region::admin::authorized;
use serde_json::{Value as Json, json};

use crate::{Command, Target};

use backup::{backup, follow_restore, parse_instant};
use connect::{admin, admin_endpoint, admin_token, client};
pub(crate) use connect::{channel, client_at, cluster_credentials};
pub(crate) use json::{conflict_json, version_text};
use json::{parse_item, parse_version, print, stored_json, write_json};
use repair::repair;
use status::status;
pub(crate) use status::status_json;
use table::table;
use watch::watch;

/// Runs one of the item, table and status commands (the others are
/// `main`'s), each in a function of its own below.
pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Put { .. }
        | Command::Get { .. }
        | Command::Delete { .. }
        | Command::Query { .. }
        | Command::Scan { .. }
        | Command::Conflicts { .. } => item_command(command).await?,
        Command::Table { command } => table(command).await?,
        Command::Status { config, json } => {
            status(&crate::cluster_path(config.as_deref())?, json).await?
        }
        Command::Backup { command } => backup(command).await?,
        Command::Restore {
            target,
            table,
            to,
            at,
            replicas,
            wait,
        } => restore(&target, table, to, &at, replicas, wait).await?,
        Command::Watch {
            target,
            table,
            from_start,
            limit,
            json,
        } => watch(&target, table, from_start, limit, json).await?,
        Command::Repair {
            config,
            region,
            peer,
            table,
            json,
        } => repair(config.as_deref(), region, peer, table, json).await?,
        Command::Region { .. }
        | Command::Certs { .. }
        | Command::Up { .. }
        | Command::Dashboard { .. }
        | Command::Netsim { .. }
        | Command::Health(_)
        | Command::Alarms { .. }
        | Command::Metrics(_)
        | Command::Net(_)
        | Command::Drill(_)
        | Command::Bench(_)
        | Command::Conformance(_) => {
            unreachable!("handled in main")
        }
    }
    Ok(())
}

/// The item commands: put, get, delete, query, scan and conflicts.
async fn item_command(command: Command) -> Result<()> {
    match command {
        Command::Put {
            target,
            table,
            item,
            if_not_exists,
            if_version,
        } => put(&target, table, &item, if_not_exists, if_version).await?,
        Command::Get {
            target,
            table,
            key,
            consistent,
        } => get(&target, table, &key, consistent).await?,
        Command::Delete {
            target,
            table,
            key,
            if_version,
        } => delete(&target, table, &key, if_version).await?,
        Command::Query {
            target,
            table,
            partition,
            sort_op,
            sort_value,
            sort_high,
            index,
            reverse,
            limit,
            all,
        } => {
            let sort = sort_condition(sort_op, sort_value, sort_high)?;
            let partition_key = encode_item(&parse_item(&partition, "--partition")?);
            query_pages(
                &target,
                pb::QueryRequest {
                    index: index.unwrap_or_default(),
                    table,
                    partition_key,
                    sort,
                    reverse,
                    limit,
                    page_token: Vec::new(),
                },
                all,
            )
            .await?
        }
        Command::Scan {
            target,
            table,
            index,
            limit,
            all,
        } => {
            let scan = pb::ScanRequest {
                index: index.unwrap_or_default(),
                table,
                limit,
                page_token: Vec::new(),
            };
            scan_pages(&target, scan, all).await?
        }
        Command::Conflicts {
            target,
            table,
            limit,
        } => conflicts(&target, &table, limit).await?,
        _ => unreachable!("run hands only the item commands here"),
    }
    Ok(())
}

/// `--if-version`: the write goes through only if the item's version is
/// still this one.
fn version_condition(if_version: Option<String>) -> Result<Option<pb::Condition>> {
    if_version
        .map(|v| -> Result<_> {
            Ok(pb::Condition {
                kind: Some(pb::condition::Kind::VersionEquals(parse_version(&v)?)),
            })
        })
        .transpose()
}

/// `meridian put`.
async fn put(
    target: &Target,
    table: String,
    item: &str,
    if_not_exists: bool,
    if_version: Option<String>,
) -> Result<()> {
    let item = parse_item(item, "--item")?;
    let condition = if if_not_exists {
        Some(pb::Condition {
            kind: Some(pb::condition::Kind::MustNotExist(true)),
        })
    } else {
        version_condition(if_version)?
    };
    let r = client(target)
        .await?
        .put_item(pb::PutItemRequest {
            table,
            item: encode_item(&item),
            condition,
        })
        .await?
        .into_inner();
    print(&write_json(&r));
    Ok(())
}

/// `meridian get`.
async fn get(target: &Target, table: String, key: &str, consistent: bool) -> Result<()> {
    let key = encode_item(&parse_item(key, "--key")?);
    let r = client(target)
        .await?
        .get_item(pb::GetItemRequest {
            table,
            key,
            consistent,
        })
        .await?
        .into_inner();
    match r.item {
        Some(s) => print(&stored_json(&s)?),
        None => print(&json!({})),
    }
    Ok(())
}

/// `meridian delete`.
async fn delete(
    target: &Target,
    table: String,
    key: &str,
    if_version: Option<String>,
) -> Result<()> {
    let key = encode_item(&parse_item(key, "--key")?);
    let condition = version_condition(if_version)?;
    let r = client(target)
        .await?
        .delete_item(pb::DeleteItemRequest {
            table,
            key,
            condition,
        })
        .await?
        .into_inner();
    print(&write_json(&r));
    Ok(())
}

/// `meridian query`'s condition on the sort key, from `--sort-op`,
/// `--sort-value` and (for `between`) `--sort-high`.
fn sort_condition(
    sort_op: Option<String>,
    sort_value: Option<String>,
    sort_high: Option<String>,
) -> Result<Option<pb::SortCondition>> {
    let Some(op) = sort_op else {
        return Ok(None);
    };
    let op = match op.as_str() {
        "eq" => pb::SortOp::Eq,
        "lt" => pb::SortOp::Lt,
        "le" => pb::SortOp::Le,
        "gt" => pb::SortOp::Gt,
        "ge" => pb::SortOp::Ge,
        "between" => pb::SortOp::Between,
        "begins_with" => pb::SortOp::BeginsWith,
        other => bail!(
            "--sort-op: unknown operator {other:?}; use eq, lt, le, gt, ge, between or begins_with"
        ),
    };
    let value = encode_item(&parse_item(
        sort_value.as_deref().unwrap_or("{}"),
        "--sort-value",
    )?);
    let high = match (&op, sort_high) {
        (pb::SortOp::Between, Some(h)) => encode_item(&parse_item(&h, "--sort-high")?),
        (pb::SortOp::Between, None) => bail!("--sort-high is required with between"),
        _ => Vec::new(),
    };
    Ok(Some(pb::SortCondition {
        op: op as i32,
        value,
        high,
    }))
}

/// `meridian query`: one page, or with `all` every page, printed together.
async fn query_pages(target: &Target, mut query: pb::QueryRequest, all: bool) -> Result<()> {
    let mut c = client(target).await?;
    let mut items = Vec::new();
    loop {
        let r = c.query(query.clone()).await?.into_inner();
        for s in &r.items {
            items.push(stored_json(s)?);
        }
        query.page_token = r.next_page_token;
        if !all || query.page_token.is_empty() {
            break;
        }
    }
    print(&json!({ "Items": items, "Count": items.len(), "More": !query.page_token.is_empty() }));
    Ok(())
}

/// `meridian scan`: one page, or with `all` every page, printed together.
async fn scan_pages(target: &Target, mut scan: pb::ScanRequest, all: bool) -> Result<()> {
    let mut c = client(target).await?;
    let mut items = Vec::new();
    loop {
        let r = c.scan(scan.clone()).await?.into_inner();
        for s in &r.items {
            items.push(stored_json(s)?);
        }
        scan.page_token = r.next_page_token;
        if !all || scan.page_token.is_empty() {
            break;
        }
    }
    print(&json!({ "Items": items, "Count": items.len(), "More": !scan.page_token.is_empty() }));
    Ok(())
}

/// `meridian restore`: a table restored to an instant, into a new table.
async fn restore(
    target: &Target,
    table: String,
    to: String,
    at: &str,
    replicas: Vec<String>,
    wait: bool,
) -> Result<()> {
    let at_micros = parse_instant(at)?;
    let mut c = admin(target).await?;
    let status = c
        .restore_to_time(authorized(
            pb::RestoreToTimeRequest {
                table,
                target_table: to.clone(),
                at_micros,
                replicas,
            },
            admin_token(target.config.as_deref())?.as_deref(),
        ))
        .await?
        .into_inner();
    follow_restore(&mut c, status, &to, wait).await
}

/// `meridian conflicts`: a region's newest conflicts of a table.
async fn conflicts(target: &Target, table: &str, limit: u32) -> Result<()> {
    let url = admin_endpoint(target).await?;
    let mut admin = AdminClient::new(channel(&url).await?);
    let conflicts = meridian_cluster::state::conflicts(&mut admin, table, limit as usize).await?;
    let rows: Vec<Json> = conflicts.iter().map(conflict_json).collect();
    print(&json!({ "Conflicts": rows, "Count": rows.len() }));
    Ok(())
}
