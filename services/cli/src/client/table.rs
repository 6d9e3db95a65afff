//! `meridian table`: create, describe, list and delete tables, their
//! secondary indexes parsed from `--gsi`/`--lsi`, and replicas added or
//! removed.

use anyhow::{Result, anyhow};
use meridian_core::{KeyAttr, KeyType};
use meridian_proto::v1 as pb;
use meridian_region::admin::authorized;
use serde_json::{Value as Json, json};

use crate::{TableCommand, Target};

use super::connect::{admin, admin_token, client};
use super::json::{print, version_text};

pub(super) async fn table(command: TableCommand) -> Result<()> {
    match command {
        TableCommand::Create {
            target,
            name,
            partition_key,
            sort_key,
            replicas,
            consistency,
            witness,
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
                consistency: consistency.to_uppercase(),
                witness: witness.unwrap_or_default(),
                provisioned: None,
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
            consistency,
            witness,
        } => {
            let strong = Strong {
                consistency: consistency.to_uppercase(),
                witness: witness.unwrap_or_default(),
            };
            replicas(&target, name, replica, Vec::new(), strong).await?
        }
        TableCommand::RemoveReplica {
            target,
            name,
            replica,
        } => replicas(&target, name, Vec::new(), vec![replica], Strong::default()).await?,
    }
    Ok(())
}

pub(super) fn key_attr(spec: &str, flag: &str) -> Result<pb::KeyAttr> {
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
pub(super) fn index_spec(
    spec: &str,
    global: bool,
    table_pk: &pb::KeyAttr,
) -> Result<pb::IndexSpec> {
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

pub(super) fn describe_json(d: &pb::TableDescription) -> Json {
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
        "MultiRegionConsistency": d.consistency,
        "Witness": (!d.witness.is_empty()).then_some(&d.witness),
        "ItemCount": d.item_count,
        "CreatedAtVersion": version_text(&d.version),
        "Indexes": indexes,
    })
}

/// A replica change that makes the table STRONG (docs/strong.md), or
/// none (empty fields).
#[derive(Default)]
pub(super) struct Strong {
    pub consistency: String,
    pub witness: String,
}

/// `table add-replica` and `remove-replica`: the replica set after the
/// change, as the region asked wrote it.
pub(super) async fn replicas(
    target: &Target,
    table: String,
    create: Vec<String>,
    delete: Vec<String>,
    strong: Strong,
) -> Result<()> {
    let set = admin(target)
        .await?
        .update_replicas(authorized(
            pb::UpdateReplicasRequest {
                table,
                create,
                delete,
                witness: strong.witness,
                consistency: strong.consistency,
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
