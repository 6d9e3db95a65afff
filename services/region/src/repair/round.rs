//! One anti-entropy round against one peer, and the per-peer worker that
//! runs rounds: on a period, whenever the link to the peer (re)connects,
//! and on demand (`meridian repair`, the admin `Repair` call).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_core::digest::{NodeId, Summary};
use meridian_core::purge::Claims;
use meridian_core::{CATALOG_TABLE, EncodedKey, Mutation, Timestamp};
use meridian_proto::v1 as pb;
use meridian_proto::v1::repair_client::RepairClient;
use prost::Message;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::plan::{self, HeadRef, MAX_HEADS, MAX_KEYS, MAX_NODES, Step};
use super::{children_from_pb, hash_from, node_to_pb, summary_from_pb};
use crate::Shared;
use crate::bridge::BridgeError;
use crate::config::PeerConfig;
use crate::convert::version_from_pb;
use crate::metrics::{PeerDirectionLabel, PeerLabel};
use crate::replication::MAX_MESSAGE_BYTES;
use crate::replication::raise_clock;
use crate::runner::{Next, Work};
use crate::transport::{DialError, dial};
use crate::untrusted::BatchError;
use crate::untrusted::{Origins, decode_batch};
use crate::worker::Worker;

/// What one round did for one table with one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableReport {
    pub peer: String,
    pub table: String,
    pub nodes_compared: u64,
    pub keys_differing: u64,
    pub keys_pulled: u64,
    pub keys_applied: u64,
    /// Heads dropped here because the peer purged the tombstones that
    /// deleted them (`Group::drop_superseded`).
    pub keys_dropped: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub micros: u64,
    /// Why the table's comparison stopped early, if it did.
    pub error: Option<String>,
}

impl TableReport {
    pub fn to_pb(&self) -> pb::RepairTableReport {
        pb::RepairTableReport {
            peer: self.peer.clone(),
            table: self.table.clone(),
            nodes_compared: self.nodes_compared,
            keys_differing: self.keys_differing,
            keys_pulled: self.keys_pulled,
            keys_applied: self.keys_applied,
            keys_dropped: self.keys_dropped,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            micros: self.micros,
            error: self.error.clone().unwrap_or_default(),
        }
    }
}

/// Why a round, or one table's comparison in it, stopped. Every kind is
/// retried by the next round; the message is what `meridian repair` and
/// the worker's status show.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error("{0} is not a peer of this region")]
    NotAPeer(String),
    #[error(transparent)]
    Dial(#[from] DialError),
    /// A call to the peer failed.
    #[error("{:?}: {}", .0.code(), .0.message())]
    Call(tonic::Status),
    #[error(transparent)]
    Store(#[from] BridgeError),
    /// The peer sent what breaks the protocol: what and where.
    #[error("{0}")]
    Malformed(String),
    /// Heads the peer sent failed a batch's checks.
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("the peer sent an entry of table {entry} for table {table}")]
    WrongTable { entry: String, table: String },
    /// This region's store refused the heads.
    #[error("refused: {0}")]
    Refused(String),
}

/// The peer's side of a round: its client, and the bytes each call moved.
struct Calls {
    client: RepairClient<Channel>,
    sent: u64,
    received: u64,
    /// Of `received`, the `Fetch` answers: the items moved.
    fetched: u64,
}

impl Calls {
    async fn call<Q: Message, A: Message>(
        &mut self,
        req: Q,
        f: impl AsyncFnOnce(&mut RepairClient<Channel>, Q) -> Result<tonic::Response<A>, tonic::Status>,
    ) -> Result<A, RoundError> {
        self.sent += req.encoded_len() as u64;
        let a = f(&mut self.client, req)
            .await
            .map_err(RoundError::Call)?
            .into_inner();
        self.received += a.encoded_len() as u64;
        Ok(a)
    }

    /// A `Fetch` call, its answer counted as items moved.
    async fn fetch(&mut self, req: pb::FetchRequest) -> Result<pb::FetchResponse, RoundError> {
        let a = self.call(req, async |c, q| c.fetch(q).await).await?;
        self.fetched += a.encoded_len() as u64;
        Ok(a)
    }
}

/// Runs one round against `peer`: every table (or only `only`), the
/// catalog first so that items find their tables. Fails as a whole only
/// when the peer cannot be reached or its roots cannot be read.
pub(crate) async fn round(
    shared: &Shared,
    peer: &PeerConfig,
    only: Option<&str>,
) -> Result<Vec<TableReport>, RoundError> {
    let lock = shared
        .repair_locks
        .get(&peer.name)
        .ok_or_else(|| RoundError::NotAPeer(peer.name.clone()))?;
    // One round per peer at a time: the worker's and on-demand ones queue.
    let _one = lock.lock().await;
    let label = PeerLabel {
        peer: peer.name.clone(),
    };
    shared.metrics.repair_rounds.get_or_create(&label).inc();
    let token = shared.purge.round_starting();
    let result = run(shared, peer, only).await;
    let failed = match &result {
        Ok(reports) => reports.iter().any(|r| r.error.is_some()),
        Err(_) => true,
    };
    if failed {
        shared.metrics.repair_failures.get_or_create(&label).inc();
    } else if only.is_none() {
        // This region now holds what the peer held when the round began.
        shared.purge.round_completed(&peer.name, token);
    }
    result
}

async fn run(
    shared: &Shared,
    peer: &PeerConfig,
    only: Option<&str>,
) -> Result<Vec<TableReport>, RoundError> {
    let channel = dial(&shared.config, peer).await?;
    let mut calls = Calls {
        client: RepairClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        sent: 0,
        received: 0,
        fetched: 0,
    };
    let started = Instant::now();
    let p = peer.name.clone();
    let inbound = shared.storage.read(move |r| r.inbound_record(&p)).await?;
    let roots = calls
        .call(
            pb::RootsRequest {
                from_region: shared.config.name.clone(),
            },
            async |c, q| c.roots(q).await,
        )
        .await?;
    if let Some(v) = &roots.high_water {
        raise_clock(shared, &peer.name, v);
    }
    let horizon = heard(shared, &peer.name, inbound, &roots)?;
    let remote = remote_roots(&roots)?;
    let local: BTreeMap<String, Summary> = shared
        .storage
        .read(|r| r.digest_roots())
        .await?
        .into_iter()
        .collect();
    // The catalog first, then every other table in name order.
    let mut tables: Vec<&String> = remote.keys().chain(local.keys()).collect();
    tables.sort_by_key(|t| (t.as_str() != CATALOG_TABLE, t.as_str()));
    tables.dedup();
    let mut reports = Vec::new();
    // The roots' call is counted with the first table.
    let mut bytes = (0, 0);
    let mut since = started;
    for table in tables {
        if only.is_some_and(|o| o != table) || left_out(shared, peer, table).await? {
            continue;
        }
        let mut report = TableReport {
            peer: peer.name.clone(),
            table: table.clone(),
            ..Default::default()
        };
        let l = local.get(table).copied().unwrap_or_default();
        let r = remote.get(table).copied().unwrap_or_default();
        if let Err(e) = compare(shared, &mut calls, &mut report, (l, r), horizon).await {
            report.error = Some(e.to_string());
        }
        report.bytes_sent = calls.sent - bytes.0;
        report.bytes_received = calls.received - bytes.1;
        report.micros = since.elapsed().as_micros() as u64;
        bytes = (calls.sent, calls.received);
        since = Instant::now();
        reports.push(report);
    }
    count_bytes(shared, &peer.name, &calls);
    Ok(reports)
}

/// The roots of the peer's tables, each checked to be a root.
fn remote_roots(roots: &pb::RootsResponse) -> Result<BTreeMap<String, Summary>, RoundError> {
    let mut remote = BTreeMap::new();
    for (i, t) in roots.tables.iter().enumerate() {
        let root = t
            .root
            .as_ref()
            .ok_or_else(|| RoundError::Malformed(format!("tables[{i}].root is missing")))?;
        let (node, s) =
            summary_from_pb(root, &format!("tables[{i}].root")).map_err(RoundError::Malformed)?;
        if node != NodeId::ROOT {
            return Err(RoundError::Malformed(format!(
                "tables[{i}].root is not the root node"
            )));
        }
        remote.insert(t.table.clone(), s);
    }
    Ok(remote)
}

/// Whether a round with `peer` leaves `table` out: a table whose items
/// only another path may change, or that this pair must not exchange.
async fn left_out(shared: &Shared, peer: &PeerConfig, table: &str) -> Result<bool, RoundError> {
    // A STRONG table's items change only through its consensus log
    // (docs/strong.md): a repair would race it.
    if shared.strong.is_strong(table) {
        return Ok(true);
    }
    // Nor a table the replicas' policies withhold from this pair
    // (`crate::grants`): the resume worker pulls it once granted.
    if shared
        .withheld
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .blocks(&peer.name, table)
    {
        return Ok(true);
    }
    // Nor a table whose replication with this peer is paused (AWS FIS's
    // pause-replication, `crate::pause`): nothing of it crosses between
    // the replica and its peers, repair included, until the pause ends and
    // the resume worker pulls what it skipped.
    if shared
        .pauses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .blocks(
            &shared.config.name,
            &peer.name,
            table,
            tokio::time::Instant::now(),
        )
    {
        return Ok(true);
    }
    // Nor are the two sides of a disassociated replica's split: each
    // keeps its own writes since (`meridian_core::replicas::disassociate`).
    Ok(
        if let Some((def, _)) = shared.storage.table_def(table).await? {
            !meridian_core::replicas::disassociate::group(&def, &shared.config.name)
                .contains(&peer.name)
                && def.has_replica(&shared.config.name)
                && def.has_replica(&peer.name)
        } else {
            false
        },
    )
}

/// Adds what a round moved with `peer` to the repair byte counters.
fn count_bytes(shared: &Shared, peer: &str, calls: &Calls) {
    let m = &shared.metrics;
    m.repair_item_bytes
        .get_or_create(&PeerLabel {
            peer: peer.to_string(),
        })
        .inc_by(calls.fetched);
    for (direction, n) in [("sent", calls.sent), ("received", calls.received)] {
        m.repair_bytes
            .get_or_create(&PeerDirectionLabel {
                peer: peer.to_string(),
                direction,
            })
            .inc_by(n);
    }
}

/// Compares one table's trees top-down from the roots and pulls what the
/// peer holds newer.
async fn compare(
    shared: &Shared,
    calls: &mut Calls,
    report: &mut TableReport,
    (local_root, remote_root): (Summary, Summary),
    horizon: Timestamp,
) -> Result<(), RoundError> {
    let table = report.table.clone();
    // Below a peer's purge horizon, what only this region holds may be
    // what the peer's purged tombstones deleted: look for it too.
    let purged = horizon != Timestamp::ZERO && table != CATALOG_TABLE;
    report.nodes_compared = 1;
    let mut frontier = vec![(NodeId::ROOT, local_root, remote_root)];
    while !frontier.is_empty() {
        let (mut descend, mut list, mut all) = (Vec::new(), Vec::new(), Vec::new());
        for (node, l, r) in frontier.drain(..) {
            match plan::step(node, l, r, purged) {
                Some(Step::Descend) => descend.push(node),
                Some(Step::List) => list.push(node),
                Some(Step::FetchAll) => all.push(node),
                None => {}
            }
        }
        for nodes in all.chunks(MAX_NODES) {
            fetch_all(shared, calls, report, nodes).await?;
        }
        for nodes in list.chunks(MAX_NODES) {
            compare_heads(shared, calls, report, &table, nodes, horizon).await?;
        }
        for parents in descend.chunks(MAX_NODES) {
            frontier.extend(compare_children(shared, calls, report, &table, parents).await?);
        }
    }
    Ok(())
}

/// Compares the heads under `nodes` on both sides, drops what a purged
/// tombstone superseded here, and fetches and applies what differs.
async fn compare_heads(
    shared: &Shared,
    calls: &mut Calls,
    report: &mut TableReport,
    table: &str,
    nodes: &[NodeId],
    horizon: Timestamp,
) -> Result<(), RoundError> {
    let t = table.to_string();
    let owned = nodes.to_vec();
    let local = shared
        .storage
        .read(move |r| r.heads_under(&t, &owned, MAX_HEADS))
        .await?
        .into_iter()
        .map(|h| HeadRef {
            key: h.key,
            version: h.version,
            entry: h.digest.entry.hash,
        })
        .collect::<Vec<_>>();
    let answer = calls
        .call(
            pb::HeadsRequest {
                table: table.to_string(),
                nodes: nodes.iter().copied().map(node_to_pb).collect(),
            },
            async |c, q| c.heads(q).await,
        )
        .await?;
    let remote = answer
        .heads
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            Ok(HeadRef {
                entry: hash_from(&h.entry_hash, &format!("heads[{i}].entry_hash"))?,
                key: EncodedKey {
                    partition: h.partition_key,
                    sort: h.sort_key,
                },
                version: h.version,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(RoundError::Malformed)?;
    let diff = plan::diff_heads(&local, &remote, horizon);
    if !diff.superseded.is_empty() {
        let dropped = shared
            .storage
            .drop_superseded(table.to_string(), diff.superseded, horizon)
            .await?;
        report.keys_dropped += dropped;
        shared.metrics.superseded.inc_by(dropped);
    }
    report.keys_differing += diff.differing as u64;
    if !diff.same_version.is_empty() {
        tracing::error!(
            peer = %report.peer, %table, keys = diff.same_version.len(),
            "heads with the same version and different contents: a version was issued twice"
        );
    }
    for keys in diff.fetch.chunks(MAX_KEYS) {
        let answer = calls
            .fetch(pb::FetchRequest {
                table: table.to_string(),
                keys: keys
                    .iter()
                    .map(|k| pb::KeyRef {
                        partition_key: k.partition.clone(),
                        sort_key: k.sort.clone(),
                    })
                    .collect(),
                nodes: Vec::new(),
                after: None,
            })
            .await?;
        apply(shared, report, answer.entries).await?;
    }
    Ok(())
}

/// The children of `parents` on both sides, those that differ to be
/// compared next.
async fn compare_children(
    shared: &Shared,
    calls: &mut Calls,
    report: &mut TableReport,
    table: &str,
    parents: &[NodeId],
) -> Result<Vec<(NodeId, Summary, Summary)>, RoundError> {
    let t = table.to_string();
    let owned = parents.to_vec();
    let local: Vec<(NodeId, Summary)> = shared
        .storage
        .read(move |r| r.digest_children_of(&t, &owned))
        .await?
        .into_iter()
        .flatten()
        .collect();
    let answer = calls
        .call(
            pb::ChildrenRequest {
                table: table.to_string(),
                nodes: parents.iter().copied().map(node_to_pb).collect(),
            },
            async |c, q| c.children(q).await,
        )
        .await?;
    if answer.nodes.len() != parents.len() {
        return Err(RoundError::Malformed(format!(
            "nodes: {} answers for {} nodes asked",
            answer.nodes.len(),
            parents.len()
        )));
    }
    let mut remote = Vec::new();
    for (i, (p, c)) in parents.iter().zip(&answer.nodes).enumerate() {
        remote.extend(
            children_from_pb(*p, c, &format!("nodes[{i}]")).map_err(RoundError::Malformed)?,
        );
    }
    report.nodes_compared += local.len() as u64;
    Ok(plan::differing(&local, &remote))
}

/// Fetches every head the peer holds under `nodes`, page by page. The
/// next page is asked for while this one is applied, so the peer's read
/// and the transfer overlap the local apply: a wiped region rebuilds at
/// the pace of the slower of the two, not of their sum.
async fn fetch_all(
    shared: &Shared,
    calls: &mut Calls,
    report: &mut TableReport,
    nodes: &[NodeId],
) -> Result<(), RoundError> {
    let table = report.table.clone();
    let page = |after| pb::FetchRequest {
        table: table.clone(),
        keys: Vec::new(),
        nodes: nodes.iter().copied().map(node_to_pb).collect(),
        after,
    };
    let mut answer = calls.fetch(page(None)).await?;
    loop {
        report.keys_differing += answer.entries.len() as u64;
        let entries = std::mem::take(&mut answer.entries);
        let Some(after) = answer.more_after.take() else {
            return apply(shared, report, entries).await;
        };
        let (applied, next) = tokio::join!(
            apply(shared, report, entries),
            calls.fetch(page(Some(after)))
        );
        applied?;
        answer = next?;
    }
}

/// Validates heads the peer sent, as any batch from a peer is validated,
/// and applies them by the LWW apply, outside the log.
async fn apply(
    shared: &Shared,
    report: &mut TableReport,
    entries: Vec<pb::LogEntry>,
) -> Result<(), RoundError> {
    if entries.is_empty() {
        return Ok(());
    }
    let entries: Vec<Mutation> = decode_batch(
        &report.peer,
        Origins::AnyRegion,
        &shared.config.all_regions(),
        pb::Batch { entries },
    )?;
    if let Some(e) = entries.iter().find(|e| e.table != report.table) {
        return Err(RoundError::WrongTable {
            entry: e.table.clone(),
            table: report.table.clone(),
        });
    }
    report.keys_pulled += entries.len() as u64;
    // What a round brings draws on this region's write units as the
    // stream's entries do (`crate::capacity`), but without waiting: a round
    // is Meridian's safety net, and must never be a cheaper way in.
    let demand = shared
        .capacity
        .demand(&shared.storage, &entries, |_| false)
        .await
        .unwrap_or_default();
    let outcome = shared.storage.repair(entries).await?;
    if let Err(e) = shared.capacity.charge_all(&shared.storage, &demand).await {
        tracing::warn!(peer = %report.peer, error = %e, "could not charge repaired items' write units");
    }
    report.keys_applied += outcome.applied as u64;
    shared.metrics.superseded.inc_by(outcome.superseded as u64);
    shared
        .metrics
        .repair_keys
        .get_or_create(&PeerLabel {
            peer: report.peer.clone(),
        })
        .inc_by(outcome.applied as u64);
    shared.metrics.conflicts.inc_by(outcome.conflicts as u64);
    match outcome.refused {
        Some(why) => Err(RoundError::Refused(why)),
        None => Ok(()),
    }
}

/// Takes in what the peer's roots say for purging (its log, floor and
/// claims) and returns its purge horizon. Everything is checked first: the
/// origins must be regions of the cluster, and a time past this region's
/// clock is cut to it, since nothing held here is newer.
fn heard(
    shared: &Shared,
    peer: &str,
    inbound: Option<(String, u64)>,
    roots: &pb::RootsResponse,
) -> Result<Timestamp, RoundError> {
    let regions = shared.config.all_regions();
    let now = shared.hlc.peek();
    let time = |v: &pb::Version, field: &str, origin: Option<&str>| {
        let v = version_from_pb(v, field)
            .map_err(|s| RoundError::Malformed(s.message().to_string()))?;
        if !regions.contains(&v.origin) || origin.is_some_and(|o| o != v.origin) {
            return Err(RoundError::Malformed(format!(
                "{field}: {} is not a region it may name",
                v.origin
            )));
        }
        Ok((v.origin, v.hlc.min(now)))
    };
    let mut claims = Claims::new();
    for (i, c) in roots.claims.iter().enumerate() {
        let (origin, t) = time(c, &format!("claims[{i}]"), None)?;
        claims.insert(origin, t);
    }
    let horizon = match &roots.purge_horizon {
        Some(h) => time(h, "purge_horizon", Some(peer))?.1,
        None => Timestamp::ZERO,
    };
    if let Some(f) = &roots.floor {
        let (_, floor) = time(f, "floor", Some(peer))?;
        let inbound = inbound.as_ref().map(|(id, a)| (id.as_str(), *a));
        shared.purge.heard(
            peer,
            inbound,
            (&roots.log_id, roots.log_head, floor),
            claims,
        );
    }
    Ok(horizon)
}

/// The repair worker of one peer: a round every `repair_interval` (never
/// when it is zero), and whenever the link to the peer connects
/// ([`crate::runner`] drives it).
pub(crate) struct Repairer {
    shared: Arc<Shared>,
    peer: PeerConfig,
    wake: Arc<tokio::sync::Notify>,
    interval: Duration,
}

impl Repairer {
    /// `None` when `peer` is not a peer of this region.
    pub(crate) fn new(shared: Arc<Shared>, peer: PeerConfig) -> Option<Self> {
        let wake = shared.repair_wake.get(&peer.name).cloned()?;
        Some(Repairer {
            interval: shared.config.repair_interval,
            shared,
            peer,
            wake,
        })
    }
}

impl Work for Repairer {
    type Error = String;

    async fn work(&mut self, worker: &Worker) -> Result<Next, String> {
        let peer = &self.peer;
        worker.running();
        match round(&self.shared, peer, None).await {
            Ok(reports) => {
                let pulled: u64 = reports.iter().map(|r| r.keys_applied).sum();
                if pulled > 0 {
                    tracing::info!(peer = %peer.name, applied = pulled, "repair round applied heads from the peer");
                }
                match reports.iter().find_map(|r| r.error.as_ref()) {
                    Some(e) => Err(e.clone()),
                    None => Ok(Next::Idle),
                }
            }
            Err(e) => {
                tracing::debug!(peer = %peer.name, error = %e, "repair round failed");
                Err(e.to_string())
            }
        }
    }

    async fn wait(&mut self) {
        if self.interval.is_zero() {
            return self.wake.notified().await;
        }
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(self.interval) => {}
        }
    }
}
