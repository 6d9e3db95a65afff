//! The end of a paused table's replication (`pause`): when a pause is
//! over, this region pulls what it skipped by repair rounds of that table,
//! the replica from every peer and each peer from the replica. Repair only
//! pulls, so both sides' rounds together bring both directions back: the
//! latest version of every item, not each version in between (which the
//! skipped log entries held), as docs/netsim.md says.

use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// How often the pauses are looked at: a pause ends within this of its end.
const TICK: Duration = Duration::from_millis(100);

pub(crate) struct Resume {
    shared: Arc<Shared>,
    /// Rounds still to run, as (table, peer), retried after a failure (a
    /// peer down at the pause's end).
    due: Vec<(String, String)>,
}

impl Resume {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Resume {
            shared,
            due: Vec::new(),
        }
    }
}

/// Works the replicas' grants out again when due (`crate::grants`), and
/// returns the pairs (table, peer) granted again since the last time.
pub(crate) async fn refresh_grants(shared: &Shared) -> Result<Vec<(String, String)>, String> {
    let epoch = shared.storage.catalog_epoch();
    let instant = tokio::time::Instant::now();
    let due = shared
        .withheld
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .due(epoch, instant);
    if !due {
        return Ok(Vec::new());
    }
    let tables = shared
        .storage
        .read(|r| r.authorization_inputs())
        .await
        .map_err(|e| e.to_string())?;
    let fresh =
        crate::grants::work_out(&shared.config.name, &tables, shared.real_clock.now_micros());
    let (reopened, closed) = shared
        .withheld
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(fresh, epoch, instant);
    for (table, peer) in &closed {
        tracing::warn!(region = %shared.config.name, %table, %peer, "replication not authorized by the replicas' resource-based policies; withheld until it is");
    }
    Ok(reopened)
}

impl Work for Resume {
    type Error = String;

    async fn work(&mut self, worker: &Worker) -> Result<Next, String> {
        let me = self.shared.config.name.clone();
        // Replication a resource-based policy granted again is pulled back
        // as a pause's end is (`crate::grants`).
        match refresh_grants(&self.shared).await {
            Ok(reopened) => {
                for (table, peer) in reopened {
                    tracing::info!(region = %me, %table, %peer, "replication authorized again; pulling what was withheld");
                    self.due.push((table, peer));
                }
            }
            Err(e) => {
                tracing::warn!(region = %me, error = %e, "working out the replicas' policies failed")
            }
        }
        let ended = self
            .shared
            .pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ended(tokio::time::Instant::now());
        for p in ended {
            tracing::info!(region = %me, table = %p.table, replica = %p.region, "replication pause over; pulling what it skipped");
            for peer in &self.shared.config.peers {
                if p.region == me || p.region == peer.name {
                    self.due.push((p.table.clone(), peer.name.clone()));
                }
            }
        }
        if self.due.is_empty() {
            return Ok(Next::Idle);
        }
        worker.running();
        let mut failed = Vec::new();
        for (table, peer) in std::mem::take(&mut self.due) {
            let Some(config) = self.shared.config.peers.iter().find(|p| p.name == peer) else {
                continue;
            };
            // A round that reached the peer but failed on the table says
            // so in its report, not as an error: both are retried.
            let why = match crate::repair::round::round(&self.shared, config, Some(&table)).await {
                Err(e) => Some(e.to_string()),
                Ok(reports) => reports.iter().find_map(|r| r.error.clone()),
            };
            if let Some(e) = why {
                failed.push(format!("{table} from {peer}: {e}"));
                self.due.push((table, peer));
            }
        }
        if failed.is_empty() {
            Ok(Next::Idle)
        } else {
            Err(format!("repair after a pause: {}", failed.join("; ")))
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(TICK).await;
    }
}
