//! The replica-change worker of [`super`]: fills a replica `CREATING` in
//! this region, deletes one `DELETING` and finishes disassociating one
//! `DISASSOCIATING`, publishing what it does in the
//! [`super::Membership`] the region's shared state holds. Apart from that
//! state because it runs with the shared state ([`Shared`]), which holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use meridian_core::replicas::Status;
use meridian_store::CatalogChange;

use super::{Fill, Filling, POLL, Removal};
use crate::Shared;
use crate::bridge::CatalogLook;
use crate::runner::{Next, Work};
use crate::worker::Worker;

/// The replica-change worker: looks every [`POLL`] for a replica of this
/// region to fill or delete, once the catalog has changed since a look
/// found none ([`crate::runner`] drives it).
pub(crate) struct Changes {
    shared: Arc<Shared>,
    filling: BTreeMap<String, Filling>,
    last_error: Option<String>,
    /// Skips the pass while the catalog has not changed since one found
    /// nothing to do: a replica row arriving is a catalog change.
    look: CatalogLook,
}

impl Changes {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Changes {
            shared,
            filling: BTreeMap::new(),
            last_error: None,
            look: CatalogLook::default(),
        }
    }
}

impl Work for Changes {
    type Error = String;

    async fn work(&mut self, worker: &Worker) -> Result<Next, String> {
        let Some(epoch) = self.look.due(self.shared.storage.catalog_epoch()) else {
            return Ok(Next::Idle);
        };
        match pass(&self.shared, worker, &mut self.filling).await {
            Ok(idle) => {
                if idle {
                    self.look.settled(epoch);
                }
                self.last_error = None;
                Ok(Next::Idle)
            }
            Err(e) => {
                // Said once per new reason: a fill may wait long for a peer.
                if self.last_error.as_ref() != Some(&e) {
                    tracing::warn!(error = %e, "replica change not finished; trying again");
                }
                self.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(POLL).await
    }
}

/// The tables whose replica in this region is `CREATING`, `DELETING` or
/// `DISASSOCIATING`, each with the other regions it replicates with.
async fn pending(shared: &Shared) -> Result<Vec<(String, Status, Vec<String>)>, String> {
    let me = shared.config.name.clone();
    shared
        .storage
        .read(move |r| {
            let mut out = Vec::new();
            for name in r.tables_with_replica_row(&me)? {
                let Some((def, _)) = r.table_def(&name)? else {
                    continue;
                };
                if let Some(s) = def.replica_states.get(&me)
                    && matches!(
                        s.status,
                        Status::Creating | Status::Deleting | Status::Disassociating
                    )
                {
                    let group = meridian_core::replicas::disassociate::group(&def, &me);
                    let others = group.into_iter().filter(|x| *x != me);
                    out.push((name.clone(), s.status, others.collect()));
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())
}

/// One pass over the changes pending; true when there were none.
async fn pass(
    shared: &Shared,
    worker: &Worker,
    filling: &mut BTreeMap<String, Filling>,
) -> Result<bool, String> {
    let pending = pending(shared).await?;
    let idle = pending.is_empty();
    // A fill no longer pending (removed meanwhile) starts afresh if asked again.
    filling.retain(|t, _| {
        pending
            .iter()
            .any(|(p, s, _)| p == t && *s == Status::Creating)
    });
    // Every change under way is published before any runs, so Status shows
    // a fill that waits behind another, and a removal that keeps failing.
    let mut removing = Vec::new();
    for (table, status, others) in &pending {
        match status {
            Status::Creating => {
                filling.entry(table.clone()).or_insert_with(|| Filling {
                    started: tokio::time::Instant::now(),
                    peers: others.clone(),
                    done: BTreeSet::new(),
                    items: 0,
                    bytes: 0,
                    last_error: None,
                });
            }
            Status::Deleting => removing.push(table.clone()),
            _ => {}
        }
    }
    shared.membership.publish(filling, &removing);
    for (table, status, others) in pending {
        worker.running();
        let done = match status {
            Status::Creating => {
                let Some(f) = filling.get_mut(&table) else {
                    continue;
                };
                let done = fill(shared, &table, &others, f).await;
                match &done {
                    Ok(()) => {
                        filling.remove(&table);
                    }
                    Err(e) => f.last_error = Some(e.clone()),
                }
                done
            }
            Status::Disassociating => disassociate(shared, &table, &others).await,
            _ => {
                let done = remove(shared, &table).await;
                if done.is_ok() {
                    removing.retain(|t| *t != table);
                }
                done
            }
        };
        shared.membership.publish(filling, &removing);
        done?;
    }
    Ok(idle)
}

async fn set(shared: &Shared, table: &str, status: Status) -> Result<(), String> {
    shared
        .storage
        .write(vec![CatalogChange::SetReplica {
            table: table.to_string(),
            region: shared.config.name.clone(),
            status,
            kms_key: None,
        }])
        .await
        .map(|_| ())
        .map_err(|e| format!("{table}: marking this replica {}: {e}", status.as_str()))
}

async fn fill(
    shared: &Shared,
    table: &str,
    others: &[String],
    f: &mut Filling,
) -> Result<(), String> {
    for name in others {
        if f.done.contains(name) {
            continue;
        }
        let peer = shared
            .config
            .peers
            .iter()
            .find(|p| p.name == *name)
            .ok_or_else(|| format!("{table}: replica {name} is not a peer of this region"))?;
        // A round leaves a table the replicas' policies withhold alone
        // (`crate::grants`): the fill waits for the grant instead of
        // calling an empty copy full.
        if shared
            .withheld
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocks(name, table)
        {
            return Err(format!(
                "{table}: filling from {name}: replication is not authorized by the replicas' resource-based policies"
            ));
        }
        let reports = crate::repair::round::round(shared, peer, Some(table))
            .await
            .map_err(|e| format!("{table}: filling from {name}: {e}"))?;
        // What a round that stopped early copied stays copied.
        for r in &reports {
            f.items += r.keys_applied;
            f.bytes += r.bytes_received;
        }
        if let Some(e) = reports.iter().find_map(|r| r.error.as_ref()) {
            return Err(format!("{table}: filling from {name}: {e}"));
        }
        f.done.insert(name.clone());
        shared.membership.update_fill(table, f);
    }
    set(shared, table, Status::Active).await?;
    let fill = Fill {
        table: table.to_string(),
        peers: others.to_vec(),
        items: f.items,
        bytes: f.bytes,
        micros: f.started.elapsed().as_micros() as u64,
        active_at: shared.real_clock.now_micros(),
    };
    tracing::info!(table, items = f.items, micros = fill.micros, peers = ?others, "new replica filled; ACTIVE");
    shared
        .membership
        .fills
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(fill);
    Ok(())
}

/// Per peer, how many writes of `table` in this region's log it has not
/// acknowledged yet.
async fn unacknowledged(
    shared: &Shared,
    table: &str,
    peers: Vec<String>,
) -> Result<Vec<(String, u64)>, String> {
    let owned = table.to_string();
    shared
        .storage
        .read(move |r| {
            let marks = r.watermarks()?;
            peers
                .into_iter()
                .map(|p| {
                    let acked = marks.get(&p).copied().unwrap_or(0);
                    Ok((p, r.log_entries_after(&owned, acked)?))
                })
                .collect::<Result<Vec<_>, meridian_store::StoreError>>()
        })
        .await
        .map_err(|e| e.to_string())
}

/// Finishes disassociating this region's replica of `table` from `peers`
/// (DynamoDB's `WAIT_FOR_REPLICATION`): once every peer has acknowledged
/// every write of the table this region made, takes the cut above every
/// timestamp issued here and moves the clock past it, so a later write
/// here stays here (`meridian_core::replicas::disassociate`). Until then
/// it answers what is still on its way, and is tried again.
async fn disassociate(shared: &Shared, table: &str, peers: &[String]) -> Result<(), String> {
    let unsent = unacknowledged(shared, table, peers.to_vec()).await?;
    // Worded without the count, so the worker says it once, not at every
    // look while the peer catches up.
    if let Some((peer, _)) = unsent.iter().find(|(_, n)| *n > 0) {
        return Err(format!(
            "{table}: disassociating waits for {peer} to acknowledge the writes made here"
        ));
    }
    let clock = |e: meridian_core::HlcError| format!("{table}: taking the cut: {e}");
    let now = shared.hlc.now().map_err(clock)?;
    let cut = now.physical + 1;
    shared
        .hlc
        .observe(meridian_core::Timestamp::new(cut, 0))
        .map_err(clock)?;
    shared
        .storage
        .write(vec![CatalogChange::Disassociated {
            table: table.to_string(),
            cut,
        }])
        .await
        .map_err(|e| format!("{table}: marking this replica DISASSOCIATED: {e}"))?;
    tracing::info!(table, cut, peers = ?peers, "replica disassociated; a single-Region table here");
    Ok(())
}

async fn remove(shared: &Shared, table: &str) -> Result<(), String> {
    let peers: Vec<String> = shared.config.peers.iter().map(|p| p.name.clone()).collect();
    let pending = unacknowledged(shared, table, peers).await?;
    // The replica's resource-based policy goes with it, so a replica made
    // here again, by whichever account, starts without one.
    let (owned, me) = (table.to_string(), shared.config.name.clone());
    let policy = shared
        .storage
        .read(move |r| Ok(r.replica_policies(&owned)?.remove(&me)))
        .await
        .map_err(|e| format!("{table}: reading this replica's policy: {e}"))?;
    if let Some(p) = policy {
        shared
            .storage
            .write(vec![CatalogChange::SetPolicy {
                table: table.to_string(),
                policy: None,
                if_revision: Some(p.revision),
            }])
            .await
            .map_err(|e| format!("{table}: removing this replica's policy: {e}"))?;
    }
    set(shared, table, Status::Deleted).await?;
    let unsent: u64 = pending.iter().map(|(_, n)| n).max().copied().unwrap_or(0);
    if unsent > 0 {
        tracing::warn!(
            table,
            ?pending,
            "replica removed with writes some peers have not applied yet; they are still shipped"
        );
    } else {
        tracing::info!(table, "replica removed; its copy is deleted");
    }
    shared
        .membership
        .removals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Removal {
            table: table.to_string(),
            pending,
            deleted_at: shared.real_clock.now_micros(),
        });
    Ok(())
}
