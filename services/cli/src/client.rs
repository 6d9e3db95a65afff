//! Item, table and status commands: thin gRPC clients that speak DynamoDB JSON.

use anyhow::{Context, Result, anyhow, bail};
use meridian_core::sigv4::Credentials;
use meridian_core::{
    Item, KeyAttr, KeyType, Timestamp, Version, decode_item, encode_item, item_from_json,
    item_to_json,
};
use meridian_proto::v1 as pb;
use meridian_proto::v1::admin_client::AdminClient;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::admin::authorized;
use meridian_region::client_auth::Signing;
use serde_json::{Value as Json, json};
use tonic::transport::{Channel, Endpoint};

use crate::{BackupCommand, Command, TableCommand, Target, load_cluster};

pub(crate) async fn channel(url: &str) -> Result<Channel> {
    Endpoint::from_shared(url.to_string())
        .with_context(|| format!("bad endpoint {url}"))?
        .connect_timeout(std::time::Duration::from_secs(3))
        .connect()
        .await
        .with_context(|| format!("cannot reach {url}; is the region running? (meridian up)"))
}

/// The target region's client API (`grpc`).
async fn endpoint(t: &Target) -> Result<String> {
    target_url(t, |e| e.grpc).await
}

/// Where the target region answers admin calls: its `admin` listener, else
/// `grpc`; an `--endpoint` is taken as given.
async fn admin_endpoint(t: &Target) -> Result<String> {
    target_url(t, meridian_region::RegionEntry::admin_addr).await
}

async fn target_url(
    t: &Target,
    addr: impl Fn(&meridian_region::RegionEntry) -> std::net::SocketAddr,
) -> Result<String> {
    if let Some(e) = &t.endpoint {
        return Ok(e.clone());
    }
    let cluster = load_cluster(&crate::cluster_path(t.config.as_deref())?)?;
    let name = match &t.region {
        Some(r) => r.clone(),
        None => bail!(
            "--region is required; the cluster has {}",
            cluster.region_names().join(", ")
        ),
    };
    Ok(format!("http://{}", addr(cluster.entry(&name)?)))
}

/// What a mutating admin call carries: the token in the cluster file's
/// `admin_token_file`, else none.
fn admin_token(config: Option<&std::path::Path>) -> Result<Option<String>> {
    match crate::cluster_path(config) {
        Ok(path) => Ok(load_cluster(&path)?.client_admin_token()?),
        // Talking to an --endpoint with no cluster file to be found.
        Err(_) => Ok(None),
    }
}

/// What client calls are signed with: `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` when both are set, else the first of the cluster
/// file's `dynamodb_keys` (by access key id), else nothing: a cluster with
/// keys refuses unsigned calls (docs/security.md).
fn credentials(t: &Target) -> Result<Option<Credentials>> {
    let region = t.region.clone().unwrap_or_else(|| "us-east-1".into());
    if let (Ok(access_key), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Some(Credentials {
            access_key,
            secret,
            region,
        }));
    }
    let Ok(path) = crate::cluster_path(t.config.as_deref()) else {
        // Talking to an --endpoint with no cluster file to be found.
        return Ok(None);
    };
    let cluster = load_cluster(&path)?;
    Ok(cluster
        .dynamodb_keys
        .iter()
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(access_key, secret)| Credentials {
            access_key: access_key.clone(),
            secret: secret.clone(),
            region,
        }))
}

/// The client API of the target region, signing its calls when there are
/// credentials.
async fn client(t: &Target) -> Result<MeridianClient<Signing<Channel>>> {
    let limit = meridian_region::service::MAX_MESSAGE_BYTES;
    let url = endpoint(t).await?;
    let host = url
        .parse::<tonic::codegen::http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let signing = Signing::new(channel(&url).await?, credentials(t)?, host);
    Ok(MeridianClient::new(signing)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit))
}

fn parse_item(text: &str, what: &str) -> Result<Item> {
    let json: Json =
        serde_json::from_str(text).with_context(|| format!("{what}: not valid JSON"))?;
    item_from_json(&json).map_err(|e| anyhow!("{what}: {e}"))
}

fn parse_version(text: &str) -> Result<pb::Version> {
    let v: Version = text.parse().map_err(|e| anyhow!("--if-version: {e}"))?;
    Ok(version_pb(&v))
}

fn version_pb(v: &Version) -> pb::Version {
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

fn stored_json(s: &pb::StoredItem) -> Result<Json> {
    let item =
        decode_item(&s.item).map_err(|e| anyhow!("the region sent a malformed item: {e}"))?;
    Ok(json!({ "Item": Json::Object(item_to_json(&item)), "Version": version_text(&s.version) }))
}

/// Prints an answer. A reader that stops early (`| grep -q`, `| head`)
/// closes the pipe; that is not an error of the command, so it neither
/// panics nor fails.
fn print(j: &Json) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(j).unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{text}");
}

fn key_attr(spec: &str, flag: &str) -> Result<pb::KeyAttr> {
    let (name, ty) = spec
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("{flag}: expected NAME:TYPE, e.g. id:S"))?;
    let attr = KeyAttr {
        name: name.to_string(),
        ty: KeyType::parse(ty, flag)?,
    };
    Ok(pb::KeyAttr {
        name: attr.name,
        r#type: attr.ty.as_str().to_string(),
    })
}

/// A secondary index from `--gsi` or `--lsi` (see their help): the
/// table's partition key `table_pk` leads a local index's key.
fn index_spec(spec: &str, global: bool, table_pk: &pb::KeyAttr) -> Result<pb::IndexSpec> {
    let flag = if global { "--gsi" } else { "--lsi" };
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("{flag}: expected NAME=KEYS[@PROJECTION], got {spec:?}"))?;
    let (keys, projection) = match rest.split_once('@') {
        Some((k, p)) => (k, p),
        None => (rest, "ALL"),
    };
    let attrs = |part: &str| -> Result<Vec<pb::KeyAttr>> {
        part.split('+').map(|a| key_attr(a, flag)).collect()
    };
    let (partition, sort) = if global {
        match keys.split_once('/') {
            Some((h, r)) => (attrs(h)?, attrs(r)?),
            None => (attrs(keys)?, Vec::new()),
        }
    } else {
        (vec![table_pk.clone()], attrs(keys)?)
    };
    let (projection, non_key_attributes) = match projection.split_once(':') {
        Some(("INCLUDE", names)) => (
            "INCLUDE".to_string(),
            names.split(',').map(str::to_string).collect(),
        ),
        _ => (projection.to_string(), Vec::new()),
    };
    Ok(pb::IndexSpec {
        name: name.to_string(),
        global,
        partition,
        sort,
        projection,
        non_key_attributes,
        building: false,
    })
}

fn describe_json(d: &pb::TableDescription) -> Json {
    let key = |k: &Option<pb::KeyAttr>| {
        k.as_ref()
            .map(|k| json!({"name": k.name, "type": k.r#type}))
    };
    let attrs = |l: &[pb::KeyAttr]| {
        l.iter()
            .map(|k| json!({"name": k.name, "type": k.r#type}))
            .collect::<Vec<_>>()
    };
    let indexes: Vec<Json> = d
        .indexes
        .iter()
        .map(|i| {
            json!({
                "IndexName": i.name,
                "Kind": if i.global { "GLOBAL" } else { "LOCAL" },
                "PartitionKey": attrs(&i.partition),
                "SortKey": attrs(&i.sort),
                "Projection": i.projection,
                "NonKeyAttributes": i.non_key_attributes,
                "Status": if i.building { "CREATING" } else { "ACTIVE" },
            })
        })
        .collect();
    json!({
        "TableName": d.name,
        "PartitionKey": key(&d.partition_key),
        "SortKey": key(&d.sort_key),
        "Replicas": d.replicas,
        "ItemCount": d.item_count,
        "CreatedAtVersion": version_text(&d.version),
        "Indexes": indexes,
    })
}

fn write_json(w: &pb::WriteResponse) -> Json {
    json!({ "Version": version_text(&w.version), "Prev": version_text(&w.prev) })
}

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
        Command::Get { target, table, key } => {
            let key = encode_item(&parse_item(&key, "--key")?);
            let r = client(&target)
                .await?
                .get_item(pb::GetItemRequest { table, key })
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
            let image = |bytes: &[u8], tomb: bool| -> Json {
                if tomb {
                    return Json::String("<deleted>".into());
                }
                decode_item(bytes)
                    .map(|i| Json::Object(item_to_json(&i)))
                    .unwrap_or(Json::Null)
            };
            let rows: Vec<Json> = conflicts
                .iter()
                .map(|c| {
                    json!({
                        "Table": c.table,
                        "Winner": version_text(&c.winner),
                        "Loser": version_text(&c.loser),
                        "Why": c.reason,
                        "DetectedBy": c.detected_by,
                        "WinnerItem": image(&c.winner_image, c.winner_tombstone),
                        "LostItem": image(&c.loser_image, c.loser_tombstone),
                    })
                })
                .collect();
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
        | Command::Netsim { .. }
        | Command::Health(_)
        | Command::Net(_)
        | Command::Drill(_)
        | Command::Bench(_) => {
            unreachable!("handled in main")
        }
    }
    Ok(())
}

async fn table(command: TableCommand) -> Result<()> {
    match command {
        TableCommand::Create {
            target,
            name,
            partition_key,
            sort_key,
            replicas,
            gsi,
            lsi,
        } => {
            let pk = key_attr(&partition_key, "--partition-key")?;
            let indexes = gsi
                .iter()
                .map(|g| index_spec(g, true, &pk))
                .chain(lsi.iter().map(|l| index_spec(l, false, &pk)))
                .collect::<Result<Vec<_>>>()?;
            let req = pb::CreateTableRequest {
                indexes,
                name,
                partition_key: Some(pk),
                sort_key: sort_key.map(|s| key_attr(&s, "--sort-key")).transpose()?,
                replicas,
                stream_view_type: String::new(),
            };
            let d = client(&target).await?.create_table(req).await?.into_inner();
            print(&describe_json(&d));
        }
        TableCommand::Describe { target, name } => {
            let d = client(&target)
                .await?
                .describe_table(pb::TableRequest { name })
                .await?
                .into_inner();
            print(&describe_json(&d));
        }
        TableCommand::List { target } => {
            let mut c = client(&target).await?;
            let mut names = Vec::new();
            let mut start_after = String::new();
            loop {
                let r = c
                    .list_tables(pb::ListTablesRequest {
                        limit: 100,
                        start_after,
                    })
                    .await?
                    .into_inner();
                names.extend(r.names);
                if r.last_evaluated.is_empty() {
                    break;
                }
                start_after = r.last_evaluated;
            }
            print(&json!({ "TableNames": names }));
        }
        TableCommand::Delete { target, name } => {
            let d = client(&target)
                .await?
                .delete_table(pb::TableRequest { name })
                .await?
                .into_inner();
            print(&describe_json(&d));
        }
        TableCommand::AddReplica {
            target,
            name,
            replica,
        } => replicas(&target, name, vec![replica], Vec::new()).await?,
        TableCommand::RemoveReplica {
            target,
            name,
            replica,
        } => replicas(&target, name, Vec::new(), vec![replica]).await?,
    }
    Ok(())
}

/// `meridian watch`: the region's Watch call, one line (or JSON document)
/// per change, with the version a change overwrote when it won over a
/// concurrent write, and a DISCARDED line for each concurrent write the
/// region discarded without a record (it lost on arrival), with the
/// version kept.
async fn watch(
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

/// `table add-replica` and `remove-replica`: the replica set after the
/// change, as the region asked wrote it.
async fn replicas(
    target: &Target,
    table: String,
    create: Vec<String>,
    delete: Vec<String>,
) -> Result<()> {
    let set = admin(target)
        .await?
        .update_replicas(authorized(
            pb::UpdateReplicasRequest {
                table,
                create,
                delete,
            },
            admin_token(target.config.as_deref())?.as_deref(),
        ))
        .await?
        .into_inner();
    let replicas: Vec<_> = set
        .replicas
        .iter()
        .map(|r| json!({"RegionName": r.region, "ReplicaStatus": r.status}))
        .collect();
    print(&json!({"TableName": set.table, "Replicas": replicas}));
    Ok(())
}

/// `meridian status`: every region's status as a table, or with `json`
/// one JSON document. Fails with [`crate::Refusal::RegionsDown`] (exit 3) when a
/// region is down or answers with an error, after printing the others.
/// `meridian repair`: one round on each chosen region, reported.
async fn repair(
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
        let url = format!("http://{}", entry.admin_addr());
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
    } else {
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
        for (region, t) in &rows {
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
        let total =
            |f: fn(&pb::RepairTableReport) -> u64| rows.iter().map(|(_, t)| f(t)).sum::<u64>();
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
            println!(
                "{dropped} items dropped: deleted at a peer that has since purged the tombstones"
            );
        }
    }
    if failed {
        bail!("a repair round failed; see the errors above");
    }
    Ok(())
}

async fn status(config: &std::path::Path, json: bool) -> Result<()> {
    let cluster = load_cluster(config)?;
    let mut down = Vec::new();
    let mut regions = Vec::new();
    for entry in &cluster.regions {
        let url = format!("http://{}", entry.admin_addr());
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
                continue;
            }
        };
        let s = match s {
            Ok(s) => s,
            Err(e) => {
                down.push(entry.name.clone());
                regions.push(json!({"region": entry.name, "up": false, "error": e.message()}));
                if !json {
                    println!("{}  ERROR {}\n", entry.name, e.message());
                }
                continue;
            }
        };
        if json {
            regions.push(status_json(&s));
            continue;
        }
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
        for p in s.peers.iter().filter(|p| p.drift_ahead_micros > 0) {
            println!(
                "  {}'s entries wait: the drift guard refused a version {:.1} ms ahead of this region's clock; they apply once the clocks allow",
                p.peer,
                p.drift_ahead_micros as f64 / 1000.0
            );
        }
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
    if json {
        print(&json!({"cluster": cluster.name, "regions": regions}));
    } else {
        println!(
            "pending: our mutations the peer has not applied yet. lag: real time from the peer's commit to our apply."
        );
    }
    if !down.is_empty() {
        return Err(crate::Refusal::RegionsDown(down).into());
    }
    Ok(())
}

/// One answering region of `meridian status --json`.
fn status_json(s: &pb::StatusResponse) -> Json {
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
        "workers": workers,
    })
}

async fn admin(target: &Target) -> Result<AdminClient<Channel>> {
    Ok(AdminClient::new(
        channel(&admin_endpoint(target).await?).await?,
    ))
}

fn backup_json(b: &pb::BackupInfo) -> Json {
    json!({
        "BackupId": b.id,
        "BackupName": b.name,
        "TableName": b.table,
        "CreatedMicros": b.created_micros,
        "ItemCount": b.items,
        "SizeBytes": b.size_bytes,
        "LogPosition": format!("{}@{}", b.log_head, b.log_id),
    })
}

fn restore_json(r: &pb::RestoreStatus) -> Json {
    json!({
        "TableName": r.table,
        "BackupId": (!r.backup_id.is_empty()).then_some(&r.backup_id),
        "RestoredTo": rfc3339(r.restored_to_micros),
        "InProgress": r.in_progress,
        "Loaded": r.loaded,
        "Total": r.total,
        "Error": (!r.error.is_empty()).then_some(&r.error),
    })
}

async fn backup(command: BackupCommand) -> Result<()> {
    match command {
        BackupCommand::Create {
            target,
            table,
            name,
        } => {
            let b = admin(&target)
                .await?
                .create_backup(authorized(
                    pb::CreateBackupRequest { table, name },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            print(&backup_json(&b));
        }
        BackupCommand::List { target, table } => {
            let r = admin(&target)
                .await?
                .list_backups(pb::ListBackupsRequest { table })
                .await?
                .into_inner();
            print(&json!({
                "Backups": r.backups.iter().map(backup_json).collect::<Vec<_>>(),
                "Restores": r.restores.iter().map(restore_json).collect::<Vec<_>>(),
            }));
        }
        BackupCommand::Delete { target, id } => {
            let b = admin(&target)
                .await?
                .delete_backup(authorized(
                    pb::BackupRequest { id },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            print(&json!({"Deleted": backup_json(&b)}));
        }
        BackupCommand::Restore {
            target,
            id,
            to,
            replicas,
            wait,
        } => {
            let mut c = admin(&target).await?;
            let status = c
                .restore_backup(authorized(
                    pb::RestoreBackupRequest {
                        id,
                        target_table: to.clone(),
                        replicas,
                    },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            follow_restore(&mut c, status, &to, wait).await?;
        }
        BackupCommand::Recovery {
            target,
            table,
            days,
            off,
        } => {
            let r = admin(&target)
                .await?
                .set_recovery(authorized(
                    pb::SetRecoveryRequest {
                        table,
                        period_days: if off { 0 } else { days },
                    },
                    admin_token(target.config.as_deref())?.as_deref(),
                ))
                .await?
                .into_inner();
            print(&json!({
                "PointInTimeRecovery": if r.enabled { "ENABLED" } else { "DISABLED" },
                "RecoveryPeriodInDays": r.enabled.then_some(r.period_days),
                "EarliestRestorable": r.enabled.then(|| rfc3339(r.earliest_micros)),
                "LatestRestorable": r.enabled.then(|| rfc3339(r.latest_micros)),
            }));
        }
    }
    Ok(())
}

/// Prints a restore's state; with `wait`, polls the region until every
/// item is loaded. Fails if loading stopped early.
async fn follow_restore(
    c: &mut AdminClient<Channel>,
    mut status: pb::RestoreStatus,
    table: &str,
    wait: bool,
) -> Result<()> {
    while wait && status.in_progress {
        eprintln!("loaded {} of {} items", status.loaded, status.total);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let all = c
            .list_backups(pb::ListBackupsRequest::default())
            .await?
            .into_inner();
        status = all
            .restores
            .into_iter()
            .find(|r| r.table == table)
            .ok_or_else(|| {
                anyhow!("the region no longer reports the restore of {table} (did it restart?)")
            })?;
    }
    print(&restore_json(&status));
    if !status.error.is_empty() {
        bail!("the restore of {table} stopped: {}", status.error);
    }
    Ok(())
}

/// An instant given on the command line, as µs since the epoch (0 for
/// "latest"): RFC 3339 in UTC (`2026-11-23T14:01:00Z`, a fraction allowed)
/// or seconds since the epoch.
fn parse_instant(text: &str) -> Result<u64> {
    if text == "latest" {
        return Ok(0);
    }
    let secs = text
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0);
    secs.map(|s| (s * 1e6) as u64)
        .or_else(|| meridian_core::utc::parse_rfc3339(text))
        .ok_or_else(|| {
            anyhow!(
                "--at: expected RFC 3339 in UTC like 2026-11-23T14:01:00Z, seconds since the epoch, or latest; got {text:?}"
            )
        })
}

/// µs since the epoch in RFC 3339, UTC, to the millisecond.
fn rfc3339(micros: u64) -> String {
    format!("{}Z", meridian_core::utc::format_millis(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_epoch_seconds_or_latest() {
        assert_eq!(parse_instant("latest").unwrap(), 0);
        assert_eq!(parse_instant("1970-01-01T00:00:01Z").unwrap(), 1_000_000);
        assert_eq!(
            parse_instant("2026-11-23T14:01:00.25Z").unwrap(),
            1_795_442_460_250_000
        );
        assert_eq!(
            parse_instant("1795442460.25").unwrap(),
            1_795_442_460_250_000
        );
        assert_eq!(rfc3339(1_795_442_460_250_000), "2026-11-23T14:01:00.250Z");
        for bad in ["yesterday", "2026-11-23T14:01:00", "-5", "0"] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
