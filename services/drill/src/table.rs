//! The drill's table: how it is created (at the start, and again by a
//! recreate), how TTL is turned on for it, and how a version the regions
//! answer with is read.

use std::time::Duration;

use meridian_core::Version;
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::convert::version_from_pb;
use tokio::time::Instant;

use meridian_region::replication::{LaneModel, ReplicationOrder};
use meridian_scenario::scenario::{Order, Scenario, Table};

use crate::target::{FaultError, Faults, RegionTarget};
use crate::workload;

/// The order the drill's regions replicate in: a comparison's side has
/// been resolved to one order before its regions start (`compare::sides`).
pub(crate) fn replication_order(scenario: &Scenario) -> ReplicationOrder {
    match scenario.replication.order {
        Order::Log => ReplicationOrder::Log,
        Order::Partition | Order::Both => ReplicationOrder::Partition,
    }
}

/// Partition order's lanes as the scenario sets them, for every table.
pub(crate) fn lane_model(scenario: &Scenario) -> LaneModel {
    let r = &scenario.replication;
    LaneModel {
        partitions: r.partitions,
        delay_mean: r.lane_delay,
        delay_max: r.lane_delay_max,
        ..LaneModel::default()
    }
}

/// A version as the gRPC API gives it, `None` when absent or unreadable.
pub(crate) fn version_of(v: &Option<pb::Version>) -> Option<Version> {
    v.as_ref().and_then(|v| version_from_pb(v, "version").ok())
}

/// Creates the drill's table and waits until every region that holds it
/// has it (a STRONG table: until a strongly consistent read succeeds in
/// each replica, so its members are up); returns its creation time (µs
/// since the epoch).
pub(crate) async fn create(
    regions: &[RegionTarget],
    table: &str,
    replicas: &[String],
    (stream, indexes): (Option<&str>, bool),
    kind: &Table,
) -> Result<u64, String> {
    // A STRONG table is created through one of its replicas.
    let first = regions
        .iter()
        .find(|r| !kind.strong() || replicas.contains(&r.name))
        .unwrap_or(&regions[0]);
    let mut client = MeridianClient::new(first.channel.clone());
    let mut request = create_request(table, replicas, stream, indexes);
    request.provisioned = kind.capacity.as_ref().map(crate::capacity::provisioned);
    if kind.strong() {
        request.consistency = "STRONG".into();
        request.witness = kind.witness.clone().unwrap_or_default();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    // Regions may still be connecting; retry until the create is accepted.
    loop {
        match client.create_table(request.clone()).await {
            Ok(_) => break,
            Err(e) if e.code() == tonic::Code::AlreadyExists => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "{} refused CreateTable {table}: {}",
                    first.name,
                    e.message()
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let mut created = 0;
    // A witness holds no copy to describe.
    for r in regions
        .iter()
        .filter(|r| kind.witness.as_ref() != Some(&r.name) || !kind.strong())
    {
        let mut c = MeridianClient::new(r.channel.clone());
        loop {
            match c
                .describe_table(pb::TableRequest { name: table.into() })
                .await
            {
                Ok(d) => {
                    if created == 0 {
                        created = version_of(&d.into_inner().version).map_or(0, |v| v.hlc.physical);
                    }
                    break;
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "table {table} did not reach {} within 30 s: {}",
                        r.name,
                        e.message()
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        while kind.strong() {
            let read = c
                .get_item(pb::GetItemRequest {
                    table: table.into(),
                    key: meridian_core::encode_item(&workload::key_item(0)),
                    consistent: true,
                })
                .await;
            match read {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "the STRONG table {table} did not serve a strongly consistent read in {} within 30 s: {}",
                        r.name,
                        e.message()
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    Ok(created)
}

/// The drill's table as the driver creates it.
pub(crate) fn create_request(
    table: &str,
    replicas: &[String],
    stream: Option<&str>,
    indexes: bool,
) -> pb::CreateTableRequest {
    pb::CreateTableRequest {
        name: table.into(),
        partition_key: Some(pb::KeyAttr {
            name: workload::KEY_ATTR.into(),
            r#type: "S".into(),
        }),
        sort_key: None,
        replicas: replicas.to_vec(),
        stream_view_type: stream.unwrap_or_default().to_string(),
        indexes: if indexes {
            workload::indexes()
                .iter()
                .map(|i| meridian_region::convert::index_to_pb(i, false))
                .collect()
        } else {
            Vec::new()
        },
        consistency: String::new(),
        witness: String::new(),
        provisioned: None,
    }
}

/// Turns TTL on for `table` on [`workload::TTL_ATTR`], through `region`'s
/// own operations (the gRPC API has no call for it); the catalog row
/// replicates it to every region.
pub(crate) async fn enable_ttl<F: Faults>(
    faults: &mut F,
    region: &str,
    table: &str,
) -> Result<(), FaultError> {
    faults
        .region_write(
            region,
            vec![meridian_store::CatalogChange::SetTtl {
                table: table.into(),
                attribute: Some(workload::TTL_ATTR.into()),
            }],
        )
        .await
}
