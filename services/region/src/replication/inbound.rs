//! The receiving side of replication on tonic: the gRPC service a peer's
//! shipper opens its stream to, and the task that runs each accepted
//! stream's [`Receiver`].
//!
//! Everything here is plumbing: checking the opening, moving messages,
//! calling the storage bridge, keeping status and metrics. What to do next
//! is always the machine's call. Every message is decoded by the checks of
//! untrusted mutations ([`crate::untrusted`]) before the machine sees it.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream};
use meridian_core::epoch::{Epoch, resume};
use meridian_core::{CATALOG_TABLE, Mutation};
use meridian_proto::v1 as pb;
use meridian_proto::v1::replication_server::Replication;
use meridian_store::{PeerBatch, Skip, Skips};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::lanes::{Entry, Lane, LaneModel};
use super::link_rng;
use super::receiver::{
    self, Entries, HelloError, Inbound, Receiver, StreamError, check_epochs, check_hello,
};
use crate::Shared;
use crate::capacity::Demand;
use crate::convert::version_to_pb;
use crate::metrics::{PeerLabel, PeerReasonLabel};
use crate::status::status_from;
use crate::untrusted::{BatchError, Origins, decode_batch};
use crate::worker::{Stop, Worker};

/// How long a receiver waits for the first message of a stream.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a receiver waiting for write units looks at them again.
const UNITS_RECHECK: Duration = Duration::from_millis(250);

pub struct ReplicationApi {
    pub(crate) shared: Arc<Shared>,
    /// Ends open streams at shutdown, so a graceful stop does not wait on peers.
    pub(crate) stop: Stop,
}

type ShipStream = Pin<Box<dyn Stream<Item = Result<pb::ShipResponse, Status>> + Send>>;
type Responses = mpsc::Sender<Result<pb::ShipResponse, Status>>;

fn ack(applied_through: u64, refused: String) -> pb::ShipResponse {
    pb::ShipResponse {
        msg: Some(pb::ship_response::Msg::Ack(pb::Ack {
            applied_through,
            refused,
        })),
    }
}

fn hello_status(e: HelloError) -> Status {
    let m = e.to_string();
    match e {
        HelloError::Protocol(_) | HelloError::WrongRegion { .. } => Status::failed_precondition(m),
        HelloError::LogId(_) | HelloError::Epochs(_) => Status::invalid_argument(m),
        HelloError::NotAPeer(_) => Status::permission_denied(m),
    }
}

fn stream_status(e: &StreamError) -> Status {
    match e {
        StreamError::Malformed(_) | StreamError::Unexpected => {
            Status::invalid_argument(e.to_string())
        }
        StreamError::Gap { .. } => Status::failed_precondition(e.to_string()),
        StreamError::OverBudget { .. } => Status::resource_exhausted(e.to_string()),
    }
}

#[tonic::async_trait]
impl Replication for ReplicationApi {
    type ShipStream = ShipStream;

    async fn ship(
        &self,
        req: Request<Streaming<pb::ShipRequest>>,
    ) -> Result<Response<ShipStream>, Status> {
        let shared = self.shared.clone();
        // Who the caller's certificate says it is, checked against the
        // Hello below; taken before the request is consumed.
        let caller = crate::tls::CallerCert::of(&req);
        let mut inbound = req.into_inner();
        let (hello, chain) = accept_hello(&shared, &caller, &mut inbound).await?;
        let peer = hello.from_region;
        let (applied, high_water) =
            resume_position(&shared, &peer, &hello.log_id, hello.log_start, &chain).await?;
        let (tx, rx) = mpsc::channel(16);
        let welcome = pb::ShipResponse {
            msg: Some(pb::ship_response::Msg::Welcome(pb::Welcome {
                applied_through: applied,
                high_water: high_water.as_ref().map(version_to_pb),
            })),
        };
        let _ = tx.send(Ok(welcome)).await;
        tracing::debug!(%peer, applied, "replication stream opened");
        let core = receiver_core(&shared.config, &peer, applied);
        let workers = shared.workers.clone();
        let name = format!("receive:{peer}");
        workers.spawn_session(&name, &self.stop, move |worker, stop| {
            let stream = InboundStream {
                regions: shared.config.all_regions(),
                shared,
                label: PeerLabel { peer },
                log_id: hello.log_id,
                inbound,
                tx,
                worker,
            };
            stream.run(core, stop)
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Counts and logs a refused opening, and passes its status on. It counts
/// under the peer it named when that is one of ours, else `unknown`: a
/// stranger must not grow the label set.
fn refuse(shared: &Shared, from: &str, reason: &'static str, status: Status) -> Status {
    let peer = if shared.config.peers.iter().any(|c| c.name == from) {
        from.to_string()
    } else {
        "unknown".to_string()
    };
    tracing::warn!(%peer, claimed = %from, reason, error = %status.message(), "refused a replication stream at its Hello");
    shared
        .metrics
        .protocol_errors
        .get_or_create(&PeerReasonLabel { peer, reason })
        .inc();
    status
}

/// Waits for the stream's `Hello` and checks it: addressed to this region
/// by one of its peers in this protocol, with an epoch chain that holds
/// together, and from the region the caller's certificate names. Returns
/// it with the chain the sender vouches for.
async fn accept_hello(
    shared: &Shared,
    caller: &crate::tls::CallerCert,
    inbound: &mut Streaming<pb::ShipRequest>,
) -> Result<(pb::Hello, Vec<Epoch>), Status> {
    let config = &shared.config;
    let first = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
        Err(_) => {
            return Err(refuse(
                shared,
                "",
                "hello_missing",
                Status::deadline_exceeded("no Hello within 5 s of opening the stream"),
            ));
        }
        Ok(m) => m?,
    };
    let hello = match first.and_then(|m| m.msg) {
        Some(pb::ship_request::Msg::Hello(h)) => h,
        _ => {
            return Err(refuse(
                shared,
                "",
                "hello_missing",
                Status::invalid_argument("the first message of a stream must be Hello"),
            ));
        }
    };
    let mut chain: Vec<Epoch> = hello
        .epochs
        .iter()
        .map(|e| Epoch::new(e.log_id.clone(), e.start))
        .collect();
    check_hello(
        &config.name,
        |p| config.peers.iter().any(|c| c.name == p),
        &hello.from_region,
        &hello.to_region,
        hello.protocol,
        &hello.log_id,
    )
    .and_then(|()| check_epochs(&hello.log_id, &chain))
    .map_err(|e| refuse(shared, &hello.from_region, e.reason(), hello_status(e)))?;
    caller
        .check(config.tls.as_ref(), &hello.from_region)
        .map_err(|status| refuse(shared, &hello.from_region, "hello_certificate", status))?;
    if chain.is_empty() {
        // A sender that names only its current epoch vouches for it alone.
        chain.push(Epoch::new(hello.log_id.clone(), 0));
    }
    Ok((hello, chain))
}

/// Where `peer`'s stream of log `log_id` resumes: the position this region
/// applied through by the sender's `chain` and `log_start`, with the
/// highest version of this region's own writes it holds of `peer`'s (for
/// the `Welcome`). A truncated log wakes repair, a discontinuity tells
/// purging, and a new position is recorded before anything of the stream
/// is applied.
async fn resume_position(
    shared: &Shared,
    peer: &str,
    log_id: &str,
    log_start: u64,
    chain: &[Epoch],
) -> Result<(u64, Option<meridian_core::Version>), Status> {
    let p = peer.to_string();
    let (stored, high_water) = shared
        .storage
        .read(move |r| Ok((r.inbound_record(&p)?, r.high_water(&p)?)))
        .await
        .map_err(status_from)?;
    let (applied, truncated) = resume(
        chain,
        stored.as_ref().map(|(id, a)| (id.as_str(), *a)),
        log_start,
    );
    if truncated {
        // What the peer's log no longer holds, its store still does.
        tracing::info!(%peer, log_start, previous = ?stored, "the peer's log was truncated past what this region applied; repairing from it");
        if let Some(wake) = shared.repair_wake.get(peer) {
            wake.notify_one();
        }
    }
    let continues = !truncated
        && stored
            .as_ref()
            .is_some_and(|(id, a)| *a == applied && chain.iter().any(|e| &e.id == id));
    if !continues {
        // Writes of the peer may be held elsewhere and not here: no
        // claims on anyone until rounds with every peer (`purge`).
        shared.purge.discontinuity();
    }
    if truncated || stored.as_ref().map(|(id, _)| id.as_str()) != Some(log_id) {
        // A new epoch of the peer's log, or a jump past its truncated
        // part: where it resumes is recorded before anything of it is
        // applied, so the store's duplicate check starts from the same
        // position as this stream.
        tracing::info!(%peer, log_id = %log_id, resume_after = applied, previous = ?stored, "resuming a peer's log at a new position");
        shared
            .storage
            .set_inbound(peer, log_id, applied)
            .await
            .map_err(status_from)?;
    }
    Ok((applied, high_water))
}

/// One accepted stream: the [`Receiver`]'s hands.
struct InboundStream {
    shared: Arc<Shared>,
    regions: Vec<String>,
    label: PeerLabel,
    log_id: String,
    inbound: Streaming<pb::ShipRequest>,
    tx: Responses,
    /// The peer's receiver worker, of which this stream is a session:
    /// erroring when it ends with an error, idle otherwise.
    worker: Worker,
}

/// The receiver of a stream from `peer` whose `Welcome` named `applied`, in
/// the cluster's replication order. Lane delays are drawn from a source
/// seeded per link when the config carries a seed, so simulations replay.
fn receiver_core(
    config: &crate::RegionConfig,
    peer: &str,
    applied: u64,
) -> Receiver<Vec<Mutation>> {
    let tuning = &config.replication;
    match tuning.order {
        super::ReplicationOrder::Log => Receiver::new(applied),
        super::ReplicationOrder::Partition => {
            let model = tuning.lanes.clone();
            let draws = model.clone();
            let mut rng = link_rng(config, peer, "lanes<");
            let delay = Box::new(move || draws.delay(rng.random::<f64>()));
            Receiver::partitioned(applied, model, delay)
        }
    }
}

impl InboundStream {
    async fn run(mut self, mut core: Receiver<Vec<Mutation>>, mut stop: Stop) {
        let now = || Instant::now().into_std();
        while let Some(action) = core.next_action() {
            match action {
                receiver::Action::Receive => {
                    let event = tokio::select! {
                        m = self.inbound.message() => receiver::Event::Message(self.classify(m)),
                        _ = stop.raised() => receiver::Event::Shutdown,
                    };
                    core.handle(now(), event);
                }
                receiver::Action::Wait { until, take } => {
                    let until = Instant::from_std(until);
                    let event = tokio::select! {
                        m = self.inbound.message(), if take => receiver::Event::Message(self.classify(m)),
                        _ = tokio::time::sleep_until(until) => receiver::Event::Due,
                        _ = stop.raised() => receiver::Event::Shutdown,
                    };
                    core.handle(now(), event);
                }
                receiver::Action::Poll => {
                    let event = match self.inbound.message().now_or_never() {
                        Some(m) => receiver::Event::Message(self.classify(m)),
                        None => receiver::Event::NothingYet,
                    };
                    core.handle(now(), event);
                }
                receiver::Action::Apply(entries) => {
                    let Some(event) = self.apply(entries, None, &mut stop).await else {
                        return;
                    };
                    core.handle(now(), event);
                }
                receiver::Action::ApplyReleased {
                    entries,
                    through,
                    reordered,
                    torn,
                } => {
                    let m = &self.shared.metrics;
                    m.reordered
                        .get_or_create(&self.label)
                        .inc_by(reordered as u64);
                    m.torn_units.get_or_create(&self.label).inc_by(torn as u64);
                    let Some(event) = self.apply(entries, Some(through), &mut stop).await else {
                        return;
                    };
                    core.handle(now(), event);
                }
                receiver::Action::Ack {
                    applied_through,
                    refused,
                } => {
                    if self
                        .tx
                        .send(Ok(ack(applied_through, refused)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                receiver::Action::End(None) => return,
                receiver::Action::End(Some(e)) => {
                    let peer = &self.label.peer;
                    tracing::warn!(%peer, reason = e.reason(), error = %e, "ended a replication stream");
                    self.shared
                        .metrics
                        .protocol_errors
                        .get_or_create(&PeerReasonLabel {
                            peer: peer.clone(),
                            reason: e.reason(),
                        })
                        .inc();
                    self.worker.erroring(&e);
                    let _ = self.tx.send(Err(stream_status(&e))).await;
                    return;
                }
            }
        }
    }

    /// Applies entries through the store and records what came of it;
    /// `None` when the store failed and the stream ended, or the region is
    /// stopping. The entries first wait for this region's write units
    /// ([`Self::await_units`]), and are charged them once applied.
    async fn apply(
        &mut self,
        entries: Vec<Mutation>,
        released: Option<u64>,
        stop: &mut Stop,
    ) -> Option<receiver::Event<Vec<Mutation>>> {
        let skips = skips(&self.shared, &self.label.peer);
        let demand = self.await_units(&entries, &skips, stop).await?;
        let peer = &self.label.peer;
        let shared = &self.shared;
        let batch = PeerBatch::new(peer.as_str(), self.log_id.as_str(), entries).skipping(skips);
        let batch = match released {
            Some(through) => batch.released_through(through),
            None => batch,
        };
        let outcome = match shared.storage.apply(batch).await {
            Ok(o) => o,
            Err(e) => {
                self.worker.erroring(&e);
                let _ = self.tx.send(Err(status_from(e))).await;
                return None;
            }
        };
        if let Err(e) = shared.capacity.charge_all(&shared.storage, &demand).await {
            tracing::warn!(%peer, error = %e, "could not charge replicated write units");
        }
        let m = &shared.metrics;
        let units: f64 = demand
            .iter()
            .filter(|(r, _)| r.index.is_none() && r.partition.is_none())
            .map(|(_, u)| u)
            .sum();
        m.replicated_write_units
            .get_or_create(&self.label)
            .inc_by(units as u64);
        m.observe_latency(peer, &outcome.latencies_micros);
        m.applied
            .get_or_create(&self.label)
            .inc_by(outcome.applied as u64);
        m.conflicts.inc_by(outcome.conflicts as u64);
        for (why, n) in outcome.skipped.iter().filter(|(_, n)| *n > 0) {
            m.skipped
                .get_or_create(&PeerReasonLabel {
                    peer: peer.clone(),
                    reason: why.reason(),
                })
                .inc_by(n as u64);
        }
        if outcome.left_to_origin > 0 {
            m.left_to_origin
                .get_or_create(&self.label)
                .inc_by(outcome.left_to_origin as u64);
        }
        // A far-future version stalls this peer's entries only;
        // how far ahead it was shows until they apply again.
        let ahead = m.drift_ahead.get_or_create(&self.label);
        match outcome.drift_ahead_micros {
            Some(micros) => {
                m.drift_refusals.get_or_create(&self.label).inc();
                ahead.set(micros.min(i64::MAX as u64) as i64);
            }
            None if outcome.refused.is_none() => {
                ahead.set(0);
            }
            None => {}
        }
        if let Some(reason) = &outcome.refused {
            let label = outcome
                .refusal
                .unwrap_or(meridian_store::Refusal::TableNotReady)
                .reason();
            m.replication_refusals
                .get_or_create(&PeerReasonLabel {
                    peer: peer.to_string(),
                    reason: label,
                })
                .inc();
            tracing::warn!(%peer, applied_through = outcome.applied_through, reason = label, error = %reason, "refused replicated entries; the peer will retry");
        }
        Some(receiver::Event::Applied {
            applied_through: outcome.applied_through,
            refused: outcome.refused,
        })
    }

    /// Waits until this region's write units admit `entries` (their
    /// partitions, tables and global indexes: `Capacity::demand`), and
    /// returns what
    /// they draw. While it waits nothing more of the stream is read, so
    /// the peer's backlog and the link's replication latency grow, as
    /// when a replica is short of replicated write units on AWS; nothing
    /// is dropped or reordered. `None` when the region stops meanwhile.
    async fn await_units(
        &self,
        entries: &[Mutation],
        skips: &Skips,
        stop: &mut Stop,
    ) -> Option<Demand> {
        let shared = &self.shared;
        let demand = match shared
            .capacity
            .demand(&shared.storage, entries, |t| skips.why(t).is_some())
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(peer = %self.label.peer, error = %e, "could not read the capacity of replicated tables");
                return Some(Demand::new());
            }
        };
        if demand.is_empty() {
            return Some(demand);
        }
        let throttled = shared
            .metrics
            .replication_throttled_seconds
            .get_or_create(&self.label)
            .clone();
        loop {
            let wait = shared
                .capacity
                .wait(&shared.storage, &demand)
                .await
                .unwrap_or_default();
            if wait.is_zero() {
                break;
            }
            // Counted as it passes, so a long wait shows while it lasts;
            // read again at least this often, so units raised meanwhile
            // (by UpdateTable) count at once.
            let slept = Instant::now();
            tokio::select! {
                _ = tokio::time::sleep(wait.min(UNITS_RECHECK)) => {}
                _ = stop.raised() => return None,
            }
            throttled.inc_by(slept.elapsed().as_secs_f64());
        }
        Some(demand)
    }

    /// One message of the stream, decoded: nothing a peer sends is trusted.
    fn classify(&self, m: Result<Option<pb::ShipRequest>, Status>) -> Inbound<Vec<Mutation>> {
        match m {
            Ok(Some(pb::ShipRequest {
                msg: Some(pb::ship_request::Msg::Batch(b)),
            })) => match decode_batch(&self.label.peer, Origins::Sender, &self.regions, b) {
                Ok(entries) => Inbound::Batch(entries),
                Err(BatchError::Malformed(m)) => Inbound::Malformed(m),
                Err(BatchError::OverBudget { bytes, limit }) => {
                    Inbound::OverBudget { bytes, limit }
                }
            },
            Ok(None) => Inbound::End,
            Ok(Some(_)) => Inbound::Unexpected,
            // What the transport refused to decode is the peer's doing: a
            // message over the limit (refused from its length prefix) or
            // bytes that are not a message at all.
            Err(e)
                if e.code() == tonic::Code::OutOfRange
                    || (e.code() == tonic::Code::Internal
                        && e.message().starts_with("failed to decode Protobuf message")) =>
            {
                Inbound::Malformed(format!("the message did not decode: {}", e.message()))
            }
            Err(e) => {
                tracing::debug!(peer = %self.label.peer, error = %e, "replication stream ended");
                Inbound::End
            }
        }
    }
}

/// A stream's entries as the receiver and its lanes see them.
impl Entries for Vec<Mutation> {
    type Item = Mutation;

    fn into_items(self) -> Vec<Mutation> {
        self
    }

    fn from_items(items: Vec<Mutation>) -> Self {
        items
    }

    fn seqs(&self) -> Vec<u64> {
        self.iter().map(|e| e.seq).collect()
    }

    fn count(&self) -> usize {
        self.len()
    }

    fn bytes(&self) -> usize {
        self.iter().map(Mutation::size).sum()
    }

    fn first_seq(&self) -> Option<u64> {
        self.first().map(|e| e.seq)
    }

    fn last_seq(&self) -> Option<u64> {
        self.last().map(|e| e.seq)
    }

    fn append(&mut self, more: Self) {
        self.extend(more);
    }
}

impl Entry for Mutation {
    fn seq(&self) -> u64 {
        self.seq
    }

    /// Catalog changes are barriers; items go by table and partition key.
    fn lane(&self, model: &LaneModel) -> Lane {
        if self.table == CATALOG_TABLE {
            Lane::Barrier
        } else {
            model.lane(&self.table, &self.key.partition)
        }
    }

    fn unit(&self) -> (u64, u32) {
        (self.seq.saturating_sub(u64::from(self.unit.0)), self.unit.1)
    }

    fn bytes(&self) -> usize {
        self.size()
    }
}

/// The tables whose entries from `peer` this region skips now, and why: a
/// pause of their replication (`pause`) or the replicas' policies
/// withholding it (`grants`). A table both paused and withheld counts as
/// paused, the reason asked for by name.
fn skips(shared: &Shared, peer: &str) -> Skips {
    let paused = shared
        .pauses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .skipped(&shared.config.name, peer, Instant::now());
    let withheld = shared
        .withheld
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .tables(peer)
        .to_vec();
    let paused = paused.into_iter().map(|t| (t, Skip::Paused));
    paused
        .chain(withheld.into_iter().map(|t| (t, Skip::Withheld)))
        .collect()
}
