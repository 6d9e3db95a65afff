//! The replication state machines on tonic: the gRPC receiver service and
//! the shipper task of each link.
//!
//! Everything here is plumbing: moving messages, calling the storage
//! bridge, keeping status and metrics. What to do next is always the
//! machine's call ([`Shipper`], [`Receiver`]). The same code serves live
//! regions and the turmoil simulation, which differ only in how a
//! connection is dialled ([`crate::transport`]).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream};
use meridian_core::Mutation;
use meridian_core::epoch::{Epoch, resume};
use meridian_proto::v1 as pb;
use meridian_proto::v1::replication_client::ReplicationClient;
use meridian_proto::v1::replication_server::Replication;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::decode::{BatchError, Origins, decode_batch};
use super::receiver::{
    self, HelloError, Inbound, Receiver, StreamError, check_epochs, check_hello,
};
use super::shipper::{self, REREAD_EVERY, SessionEnd, Shipper};
use super::{MAX_MESSAGE_BYTES, PROTOCOL};
use crate::config::PeerConfig;
use crate::convert::{mutation_to_pb, status_from, version_from_pb, version_to_pb};
use crate::metrics::{PeerLabel, PeerReasonLabel};
use crate::transport::dial;
use crate::worker::{Stop, Worker};
use crate::{PeerState, Shared};

/// How long a receiver waits for the first message of a stream.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

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
        let config = &shared.config;
        // A refused opening counts under the peer it named when that is one
        // of ours, else `unknown`: a stranger must not grow the label set.
        let refuse = |from: &str, reason: &'static str, status: Status| {
            let peer = if config.peers.iter().any(|c| c.name == from) {
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
        };
        let first = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Err(_) => {
                return Err(refuse(
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
        .map_err(|e| refuse(&hello.from_region, e.reason(), hello_status(e)))?;
        caller
            .check(config.tls.as_ref(), &hello.from_region)
            .map_err(|status| refuse(&hello.from_region, "hello_certificate", status))?;
        if chain.is_empty() {
            // A sender that names only its current epoch vouches for it alone.
            chain.push(Epoch::new(hello.log_id.clone(), 0));
        }
        let peer = hello.from_region;
        let p = peer.clone();
        let (stored, high_water) = shared
            .storage
            .read(move |r| Ok((r.inbound_record(&p)?, r.high_water(&p)?)))
            .await
            .map_err(status_from)?;
        let (applied, truncated) = resume(
            &chain,
            stored.as_ref().map(|(id, a)| (id.as_str(), *a)),
            hello.log_start,
        );
        if truncated {
            // What the peer's log no longer holds, its store still does.
            tracing::info!(%peer, log_start = hello.log_start, previous = ?stored, "the peer's log was truncated past what this region applied; repairing from it");
            if let Some(wake) = shared.repair_wake.get(&peer) {
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
        if truncated || stored.as_ref().map(|(id, _)| id) != Some(&hello.log_id) {
            // A new epoch of the peer's log, or a jump past its truncated
            // part: where it resumes is recorded before anything of it is
            // applied, so the store's duplicate check starts from the same
            // position as this stream.
            tracing::info!(%peer, log_id = %hello.log_id, resume_after = applied, previous = ?stored, "resuming a peer's log at a new position");
            shared
                .storage
                .set_inbound(&peer, &hello.log_id, applied)
                .await
                .map_err(status_from)?;
        }
        let (tx, rx) = mpsc::channel(16);
        let welcome = pb::ShipResponse {
            msg: Some(pb::ship_response::Msg::Welcome(pb::Welcome {
                applied_through: applied,
                high_water: high_water.as_ref().map(version_to_pb),
            })),
        };
        let _ = tx.send(Ok(welcome)).await;
        tracing::debug!(%peer, applied, "replication stream opened");
        let worker = shared.workers.worker(&format!("receive:{peer}"));
        worker.started();
        let stream = InboundStream {
            regions: shared.config.all_regions(),
            shared,
            label: PeerLabel { peer },
            log_id: hello.log_id,
            inbound,
            tx,
            worker,
        };
        let core = receiver_core(&stream.shared.config, &stream.label.peer, applied);
        tokio::spawn(stream.run(core, self.stop.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// One accepted stream: the [`Receiver`]'s hands.
struct InboundStream {
    shared: Arc<Shared>,
    regions: Vec<String>,
    label: PeerLabel,
    log_id: String,
    inbound: Streaming<pb::ShipRequest>,
    tx: Responses,
    /// The peer's receiver worker: idle once the stream ends cleanly,
    /// erroring when it ends with an error.
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
                    let Some(event) = self.apply(entries, None).await else {
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
                    let Some(event) = self.apply(entries, Some(through)).await else {
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
                receiver::Action::End(None) => {
                    self.worker.idle();
                    return;
                }
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
    /// `None` when the store failed and the stream ended.
    async fn apply(
        &mut self,
        entries: Vec<Mutation>,
        released: Option<u64>,
    ) -> Option<receiver::Event<Vec<Mutation>>> {
        let peer = &self.label.peer;
        let shared = &self.shared;
        let mut paused = shared
            .pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .skipped(&shared.config.name, peer, tokio::time::Instant::now());
        // A table the replicas' policies do not let replicate is skipped
        // alike (`grants`).
        paused.extend(
            shared
                .withheld
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .tables(peer)
                .iter()
                .filter(|t| !paused.contains(t))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let outcome = match shared
            .storage
            .apply(peer, &self.log_id, entries, released, paused)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                self.worker.erroring(&e);
                let _ = self.tx.send(Err(status_from(e))).await;
                return None;
            }
        };
        let m = &shared.metrics;
        m.observe_latency(peer, &outcome.latencies_micros);
        m.applied
            .get_or_create(&self.label)
            .inc_by(outcome.applied as u64);
        m.conflicts.inc_by(outcome.conflicts as u64);
        if outcome.paused > 0 {
            m.paused_skipped
                .get_or_create(&self.label)
                .inc_by(outcome.paused as u64);
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

/// Ships to one peer until shutdown: the [`Shipper`]'s hands.
pub(crate) async fn run_shipper(
    shared: Arc<Shared>,
    peer: PeerConfig,
    worker: Worker,
    mut stop: Stop,
) {
    let mut rng = jitter_rng(&shared.config, &peer.name);
    let mut core = Shipper::new(
        shared.config.replication.clone(),
        Box::new(move || rng.random_range(0.5..1.0)),
    );
    let label = PeerLabel {
        peer: peer.name.clone(),
    };
    let mut link: Option<Link> = None;
    let mut sessions = 0u64;
    loop {
        let Some(action) = core.next_action() else {
            // Nothing to do until the peer answers or the log grows.
            let Some(l) = link.as_mut() else {
                // The machine always queues a Connect when no session is up.
                tracing::error!(peer = %peer.name, "shipper idle without a session; stopping it");
                return;
            };
            let event = l.next_event(core.wants_log(), &mut stop).await;
            core.handle(Instant::now().into_std(), event);
            continue;
        };
        let event = match action {
            shipper::Action::Connect => {
                if stop.is_raised() {
                    return;
                }
                match Link::open(&shared, &peer).await {
                    Ok((l, welcome)) => {
                        link = Some(l);
                        welcome
                    }
                    Err(e) => shipper::Event::Failed(e),
                }
            }
            shipper::Action::PersistWatermark(acked) => {
                match shared.storage.set_watermark(&peer.name, acked).await {
                    Ok(()) => continue,
                    Err(e) => shipper::Event::Failed(e.to_string()),
                }
            }
            shipper::Action::Connected { acked } => {
                shared
                    .metrics
                    .acked_seq
                    .get_or_create(&label)
                    .set(acked as i64);
                update_state(&shared, &peer.name, |s| {
                    s.connected = true;
                    s.acked = acked;
                    s.acked_live = true;
                    s.last_error.clear();
                });
                tracing::info!(peer = %peer.name, resume_after = acked, "replication connected");
                // After a reconnect the peer may hold what the log cannot
                // bring back (a wiped or restored store): compare trees.
                if let Some(wake) = shared.repair_wake.get(&peer.name) {
                    wake.notify_one();
                }
                // The task's start was the first; each later session is a restart.
                if sessions > 0 {
                    worker.started();
                } else {
                    worker.running();
                }
                sessions += 1;
                continue;
            }
            shipper::Action::Acked(acked) => {
                shared
                    .metrics
                    .acked_seq
                    .get_or_create(&label)
                    .set(acked as i64);
                update_state(&shared, &peer.name, |s| s.acked = acked);
                continue;
            }
            shipper::Action::ReadAndSend {
                after,
                limit,
                max_bytes,
            } => match link.as_mut() {
                Some(l) => l.ship(&shared, after, limit, max_bytes).await,
                None => shipper::Event::Failed("no session".into()),
            },
            shipper::Action::Reconnect { after, why } => {
                link = None;
                match &why {
                    SessionEnd::Failed(e) => {
                        tracing::debug!(peer = %peer.name, error = %e, "replication session failed");
                    }
                    SessionEnd::Refused(_) => {}
                    SessionEnd::Violation(v) => {
                        tracing::warn!(peer = %peer.name, reason = v.reason(), error = %v, "ended a replication session");
                        shared
                            .metrics
                            .protocol_errors
                            .get_or_create(&PeerReasonLabel {
                                peer: peer.name.clone(),
                                reason: v.reason(),
                            })
                            .inc();
                    }
                }
                update_state(&shared, &peer.name, |s| {
                    s.connected = false;
                    s.last_error = why.to_string();
                });
                worker.erroring(&why);
                tokio::select! {
                    _ = tokio::time::sleep(after) => continue,
                    _ = stop.raised() => shipper::Event::Shutdown,
                }
            }
            shipper::Action::Stop => return,
        };
        core.handle(Instant::now().into_std(), event);
    }
}

/// One session's connection: the stream to the peer and its answers.
struct Link {
    tx: mpsc::Sender<pb::ShipRequest>,
    responses: Streaming<pb::ShipResponse>,
    /// Moves when the writer commits to the log.
    head: watch::Receiver<u64>,
}

impl Link {
    /// Connects, says `Hello` and waits for `Welcome`.
    async fn open(shared: &Shared, peer: &PeerConfig) -> Result<(Link, shipper::Event), String> {
        let t = &shared.config.replication;
        let channel = dial(&shared.config, peer)
            .await
            .map_err(|e| e.to_string())?;
        let mut client = ReplicationClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (epochs, log_head, log_start) = shared
            .storage
            .read(|r| Ok((r.epochs()?, r.log_head()?, r.log_start()?)))
            .await
            .map_err(|e| e.to_string())?;
        let log_id = epochs
            .last()
            .map(|e| e.id.clone())
            .ok_or("the store has no log epoch")?;
        let (tx, rx) = mpsc::channel(t.window + 2);
        let hello = pb::ShipRequest {
            msg: Some(pb::ship_request::Msg::Hello(pb::Hello {
                from_region: shared.config.name.clone(),
                to_region: peer.name.clone(),
                protocol: PROTOCOL,
                log_id,
                log_start,
                epochs: epochs
                    .into_iter()
                    .map(|e| pb::Epoch {
                        log_id: e.id,
                        start: e.start,
                    })
                    .collect(),
            })),
        };
        tx.send(hello)
            .await
            .map_err(|_| "stream closed".to_string())?;
        // Bounded like the dial: a link wedged since it was dialled must not
        // hold the session until keepalive notices.
        let mut responses =
            tokio::time::timeout(t.connect_timeout * 2, client.ship(ReceiverStream::new(rx)))
                .await
                .map_err(|_| "no answer to the stream's opening in time".to_string())?
                .map_err(|e| format!("open stream: {}", e.message()))?
                .into_inner();
        let first = tokio::time::timeout(t.connect_timeout * 2, responses.message())
            .await
            .map_err(|_| "no Welcome from the peer in time".to_string())?
            .map_err(|e| format!("handshake: {}", e.message()))?;
        let (applied_through, high_water) = match first.and_then(|m| m.msg) {
            Some(pb::ship_response::Msg::Welcome(w)) => (w.applied_through, w.high_water),
            _ => return Err("the peer did not answer Hello with Welcome".into()),
        };
        if let Some(v) = high_water {
            raise_clock(shared, &peer.name, &v);
        }
        let link = Link {
            tx,
            responses,
            head: shared.storage.log_head(),
        };
        let welcome = shipper::Event::Welcome {
            applied_through,
            log_head,
        };
        Ok((link, welcome))
    }

    /// Reads the batch after `after` and sends it.
    async fn ship(
        &mut self,
        shared: &Shared,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> shipper::Event {
        // Mark before reading: a commit that lands while we read wakes us again.
        self.head.mark_unchanged();
        let entries = match shared.storage.log_after(after, limit, max_bytes).await {
            Ok(e) => e,
            Err(e) => return shipper::Event::Failed(e.to_string()),
        };
        let Some(last) = entries.last().map(|e| e.seq) else {
            return shipper::Event::CaughtUp;
        };
        let n = entries.len();
        let batch = pb::Batch {
            entries: entries.into_iter().map(mutation_to_pb).collect(),
        };
        let req = pb::ShipRequest {
            msg: Some(pb::ship_request::Msg::Batch(batch)),
        };
        match self.tx.send(req).await {
            Ok(()) => shipper::Event::Sent { last, entries: n },
            Err(_) => shipper::Event::Failed("stream closed by the peer".into()),
        }
    }

    /// Waits for the peer's next answer, or, while the shipper wants more
    /// of the log (`open`), for the log to grow.
    async fn next_event(&mut self, open: bool, stop: &mut Stop) -> shipper::Event {
        tokio::select! {
            biased;
            _ = stop.raised() => shipper::Event::Shutdown,
            msg = self.responses.message() => match msg {
                Err(e) => shipper::Event::Failed(format!("stream: {}", e.message())),
                Ok(Some(pb::ShipResponse { msg: Some(pb::ship_response::Msg::Ack(a)) })) => {
                    shipper::Event::Ack { applied_through: a.applied_through, refused: a.refused }
                }
                Ok(_) => shipper::Event::Failed("stream ended by the peer".into()),
            },
            changed = self.head.changed(), if open => match changed {
                Ok(()) => shipper::Event::LogGrew,
                Err(_) => shipper::Event::Shutdown,
            },
            // A safety net: re-read the log even if a wake-up was missed.
            _ = tokio::time::sleep(REREAD_EVERY), if open => shipper::Event::LogGrew,
        }
    }
}

/// Raises this region's clock above the highest version of its own writes
/// that `peer` holds (`v`, untrusted): a region that lost its disk or was
/// restored from a copy must never issue one of those versions again. The
/// drift guard bounds how far a peer can push the clock.
pub(crate) fn raise_clock(shared: &Shared, peer: &str, v: &pb::Version) {
    let Ok(v) = version_from_pb(v, "high_water") else {
        tracing::warn!(%peer, "ignored a malformed high-water version");
        return;
    };
    if v.origin != shared.config.name {
        tracing::warn!(%peer, origin = %v.origin, "ignored a high-water version of another region");
        return;
    }
    if let Err(e) = shared.hlc.observe(v.hlc) {
        tracing::warn!(%peer, error = %e, "a peer holds a version of ours beyond the drift guard; the clock was not raised to it");
    }
}

fn update_state(shared: &Shared, peer: &str, f: impl FnOnce(&mut PeerState)) {
    if let Some(s) = shared.peers.get(peer) {
        f(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The reconnect-jitter source of one shipper: seeded per (region, peer)
/// when the config carries a seed, so simulations replay.
fn jitter_rng(config: &crate::RegionConfig, peer: &str) -> rand::rngs::SmallRng {
    link_rng(config, peer, ">")
}

/// A random source for one link and one use (`between` tells the uses
/// apart): seeded from the config's seed when it carries one, so
/// simulations replay; else from the OS.
fn link_rng(config: &crate::RegionConfig, peer: &str, between: &str) -> rand::rngs::SmallRng {
    use rand::SeedableRng;
    match config.seed {
        Some(seed) => {
            // FNV-1a over the link's names: stable across runs and builds.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
            for b in config
                .name
                .bytes()
                .chain(between.bytes())
                .chain(peer.bytes())
            {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            rand::rngs::SmallRng::seed_from_u64(h)
        }
        None => rand::rngs::SmallRng::from_os_rng(),
    }
}
