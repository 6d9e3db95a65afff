//! The drill's [`Faults`] for `bench soak`'s cluster: faults through the
//! link proxies' control API and the regions' processes, exactly as a live
//! drill applies them ([`meridian_cluster::Executor`]); TTL turned on
//! through a region's DynamoDB endpoint (UpdateTimeToLive), which a live
//! drill's cluster has none of; and, once the regions have settled, a wait
//! until every item whose time has come is reaped and replicated, so the
//! checker's "an expired item must be gone" holds whatever the reaper's
//! pace through a large table.

use std::time::Duration;

use meridian_cluster::Executor;
use meridian_drill::{FaultError, Faults};
use meridian_scenario::scenario::Action;
use meridian_store::CatalogChange;
use serde_json::json;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::load::dynamo_call;
use crate::status::wait_drained;

/// Longest wait, once settled, for expired items to be reaped and the
/// reaping to replicate.
const REAP_WAIT: Duration = Duration::from_secs(120);

pub(super) struct SoakFaults<'a> {
    pub(super) cluster: &'a Cluster,
    pub(super) exec: Executor,
    pub(super) table: String,
}

fn failed(e: impl std::fmt::Display) -> FaultError {
    FaultError::Failed(e.to_string())
}

/// Whether any region still holds a live item of `table` whose TTL
/// attribute `attr` is at or before `now_secs`.
fn expired_left(cluster: &Cluster, table: &str, attr: &str, now_secs: u64) -> Result<bool, String> {
    for i in 0..cluster.names.len() {
        let heads = meridian_cluster::state::heads(&cluster.data_dir(i), table)
            .map_err(|e| format!("{}: {e}", cluster.names[i]))?;
        let due = heads.values().any(|h| {
            h.image
                .as_ref()
                .and_then(|item| match item.get(attr) {
                    Some(meridian_core::AttrValue::N(n)) => n.to_string().parse::<u64>().ok(),
                    _ => None,
                })
                .is_some_and(|at| at <= now_secs)
        });
        if due {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Faults for SoakFaults<'_> {
    async fn apply(&mut self, action: &Action) -> Result<(), FaultError> {
        self.exec.apply(action).await.map(|_| ()).map_err(failed)
    }

    async fn heal_all(&mut self) -> Result<Vec<String>, FaultError> {
        meridian_drill::live::heal_local(&self.exec, self.cluster.processes()).await
    }

    async fn region_write(
        &mut self,
        region: &str,
        ops: Vec<CatalogChange>,
    ) -> Result<(), FaultError> {
        let entry = self.exec.cluster.entry(region).map_err(failed)?;
        let Some(addr) = entry.dynamo else {
            return Err(FaultError::Unsupported(format!(
                "{region} has no DynamoDB endpoint"
            )));
        };
        for op in ops {
            let (table, attribute) = match op {
                CatalogChange::SetTtl { table, attribute } => (table, attribute),
                other => {
                    return Err(FaultError::Unsupported(format!(
                        "bench soak writes only TTL settings through {region}, not {other:?}"
                    )));
                }
            };
            let spec = match &attribute {
                Some(a) => json!({"Enabled": true, "AttributeName": a}),
                None => json!({"Enabled": false}),
            };
            let target = meridian_cluster::http::Target::at(&addr.to_string(), "/");
            let mut conn = meridian_cluster::http::Conn::open(&target, Duration::from_secs(5))
                .await
                .map_err(failed)?;
            dynamo_call(
                &mut conn,
                "DynamoDB_20120810.UpdateTimeToLive",
                &json!({"TableName": table, "TimeToLiveSpecification": spec}),
            )
            .await
            .map_err(|e| failed(format!("{e:#}")))?;
        }
        Ok(())
    }

    async fn settled(&mut self) -> Result<(), FaultError> {
        let attr = meridian_drill::workload::TTL_ATTR;
        let deadline = Instant::now() + REAP_WAIT;
        // Expiry times are whole seconds, read on the regions' real clocks:
        // one second of slack, as the checker allows.
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_sub(1)
        };
        loop {
            let (cluster, table, at) = (self.cluster, self.table.clone(), now());
            if !expired_left(cluster, &table, attr, at).map_err(failed)? {
                break;
            }
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "items past their TTL were still live {} s after the regions settled",
                    REAP_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let all: Vec<usize> = (0..self.cluster.names.len()).collect();
        wait_drained(self.cluster, &all, REAP_WAIT)
            .await
            .map_err(|e| failed(format!("{e:#}")))?;
        Ok(())
    }
}
