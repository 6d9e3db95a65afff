//! The end of a skip (`meridian_store::Skip`): when a paused table's
//! replication (`pause`) is over, or the replicas' policies grant a
//! withheld pair again (`grants`, worked out by `grants_refresh`), this
//! region pulls what it skipped by repair rounds of that table: at a
//! pause's end the replica from every peer and each peer from the
//! replica; at a grant, from the peer it names. Repair only pulls, so both
//! sides' rounds together bring both directions back: the latest version
//! of every item, not each version in between (which the skipped log
//! entries held), as docs/netsim.md says.

use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// How often the pauses and grants are looked at: a pause ends within this
/// of its end.
const TICK: Duration = Duration::from_millis(100);

pub(crate) struct Resume {
    shared: Arc<Shared>,
    /// Rounds still to run, as (table, peer), retried after a failure (a
    /// peer down at the pause's end or at the grant).
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

impl Work for Resume {
    type Error = String;

    async fn work(&mut self, worker: &Worker) -> Result<Next, String> {
        let me = self.shared.config.name.clone();
        // Replication the replicas' policies granted again
        // (`crate::grants_refresh`) is pulled back as a pause's end is.
        let reopened = self
            .shared
            .withheld
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_reopened();
        self.due.extend(reopened);
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
            Err(format!("repair after a skip: {}", failed.join("; ")))
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(TICK).await;
    }
}
