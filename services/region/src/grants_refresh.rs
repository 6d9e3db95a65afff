//! The grants refresh: the worker `grants`, which works out again which
//! pairs of replicas the replicas' resource-based policies withhold
//! (`crate::grants`, its pure core) whenever the catalog has changed or
//! [`grants::REFRESH`] has passed. The receiver and repair rounds read the
//! result from `Shared::withheld`; the pairs granted again wait there for
//! the resume worker (`crate::resume`) to pull back what was skipped.

use std::sync::Arc;
use std::time::Duration;

use crate::Shared;
use crate::grants;
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// How often the worker looks whether the grants are due: a catalog
/// change is taken within this.
const TICK: Duration = Duration::from_millis(100);

pub(crate) struct Grants {
    shared: Arc<Shared>,
}

impl Grants {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Grants { shared }
    }
}

/// Works the replicas' grants out again if due, logging each pair newly
/// withheld or granted again.
pub(crate) async fn refresh(shared: &Shared) -> Result<(), String> {
    let epoch = shared.storage.catalog_epoch();
    let instant = tokio::time::Instant::now();
    let withheld = || shared.withheld.lock().unwrap_or_else(|p| p.into_inner());
    if !withheld().due(epoch, instant) {
        return Ok(());
    }
    let tables = shared
        .storage
        .read(|r| r.authorization_inputs())
        .await
        .map_err(|e| format!("working out the replicas' policies: {e}"))?;
    let fresh = grants::work_out(&shared.config.name, &tables, shared.real_clock.now_micros());
    let (reopened, closed) = withheld().replace(fresh, epoch, instant);
    let region = &shared.config.name;
    for (table, peer) in &closed {
        tracing::warn!(%region, %table, %peer, "replication not authorized by the replicas' resource-based policies; withheld until it is");
    }
    for (table, peer) in &reopened {
        tracing::info!(%region, %table, %peer, "replication authorized again; what was withheld is pulled back");
    }
    Ok(())
}

impl Work for Grants {
    type Error = String;

    async fn work(&mut self, _: &Worker) -> Result<Next, String> {
        refresh(&self.shared).await.map(|()| Next::Idle)
    }

    async fn wait(&mut self) {
        tokio::time::sleep(TICK).await;
    }
}
