//! Item, table and status commands: thin gRPC clients that speak DynamoDB
//! JSON. This module is the item commands (put, get, delete, query, scan,
//! conflicts) and the dispatch to the others, one module each.

mod backup;
mod connect;
mod json;
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

use crate::Command;

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

pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Put {
            target,
            table,
            item,
            if_not_exists,
            if_version,
        } => {
            let item = parse_item(&item, "--item")?;
            let condition = if if_not_exists {
                Some(pb::Condition {
                    kind: Some(pb::condition::Kind::MustNotExist(true)),
                })
            } else {
                if_version
                    .map(|v| -> Result<_> {
                        Ok(pb::Condition {
                            kind: Some(pb::condition::Kind::VersionEquals(parse_version(&v)?)),
                        })
                    })
                    .transpose()?
            };
            let r = client(&target)
                .await?
                .put_item(pb::PutItemRequest {
                    table,
                    item: encode_item(&item),
                    condition,
                })
                .await?
                .into_inner();
            print(&write_json(&r));
        }
        Command::Get {
            target,
            table,
            key,
            consistent,
        } => {
            let key = encode_item(&parse_item(&key, "--key")?);
            let r = client(&target)
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
        }
        Command::Delete {
            target,
            table,
            key,
            if_version,
        } => {
            let key = encode_item(&parse_item(&key, "--key")?);
            let condition = if_version
                .map(|v| -> Result<_> {
                    Ok(pb::Condition {
                        kind: Some(pb::condition::Kind::VersionEquals(parse_version(&v)?)),
                    })
                })
                .transpose()?;
            let r = client(&target)
                .await?
                .delete_item(pb::DeleteItemRequest {
                    table,
                    key,
                    condition,
                })
                .await?
                .into_inner();
            print(&write_json(&r));
        }
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
            let sort = match sort_op {
                None => None,
                Some(op) => {
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
                        (pb::SortOp::Between, Some(h)) => {
                            encode_item(&parse_item(&h, "--sort-high")?)
                        }
                        (pb::SortOp::Between, None) => {
                            bail!("--sort-high is required with between")
                        }
                        _ => Vec::new(),
                    };
                    Some(pb::SortCondition {
                        op: op as i32,
                        value,
                        high,
                    })
                }
            };
            let partition_key = encode_item(&parse_item(&partition, "--partition")?);
            let mut c = client(&target).await?;
            let mut token = Vec::new();
            let mut items = Vec::new();
            loop {
                let r = c
                    .query(pb::QueryRequest {
                        index: index.clone().unwrap_or_default(),
                        table: table.clone(),
                        partition_key: partition_key.clone(),
                        sort: sort.clone(),
                        reverse,
                        limit,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for s in &r.items {
                    items.push(stored_json(s)?);
                }
                token = r.next_page_token;
                if !all || token.is_empty() {
                    break;
                }
            }
            print(&json!({ "Items": items, "Count": items.len(), "More": !token.is_empty() }));
        }
        Command::Scan {
            target,
            table,
            index,
            limit,
            all,
        } => {
            let mut c = client(&target).await?;
            let mut token = Vec::new();
            let mut items = Vec::new();
            loop {
                let r = c
                    .scan(pb::ScanRequest {
                        index: index.clone().unwrap_or_default(),
                        table: table.clone(),
                        limit,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for s in &r.items {
                    items.push(stored_json(s)?);
                }
                token = r.next_page_token;
                if !all || token.is_empty() {
                    break;
                }
            }
            print(&json!({ "Items": items, "Count": items.len(), "More": !token.is_empty() }));
        }
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
        } => {
            let at_micros = parse_instant(&at)?;
            let mut c = admin(&target).await?;
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
            follow_restore(&mut c, status, &to, wait).await?;
        }
        Command::Watch {
            target,
            table,
            from_start,
            limit,
            json,
        } => watch(&target, table, from_start, limit, json).await?,
        Command::Conflicts {
            target,
            table,
            limit,
        } => {
            let url = admin_endpoint(&target).await?;
            let mut admin = AdminClient::new(channel(&url).await?);
            let conflicts =
                meridian_cluster::state::conflicts(&mut admin, &table, limit as usize).await?;
            let rows: Vec<Json> = conflicts.iter().map(conflict_json).collect();
            print(&json!({ "Conflicts": rows, "Count": rows.len() }));
        }
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
