//! The shipping side of replication on tonic: the task that ships this
//! region's log to one peer, running its [`Shipper`] over a stream it
//! dials ([`Link`]).
//!
//! Everything here is plumbing: dialling, reading the log, moving
//! messages, keeping status and metrics. What to do next is always the
//! machine's call. The same code serves live regions and the turmoil
//! simulation, which differ only in how a connection is dialled
//! ([`crate::transport`]).

use std::sync::Arc;

use meridian_proto::v1 as pb;
use meridian_proto::v1::replication_client::ReplicationClient;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::coalesce::coalesce;
use super::shipper::{self, REREAD_EVERY, SessionEnd, Shipper};
use super::{MAX_MESSAGE_BYTES, PROTOCOL, link_rng};
use crate::config::PeerConfig;
use crate::convert::{mutation_to_pb, version_from_pb};
use crate::metrics::{PeerLabel, PeerReasonLabel};
use crate::transport::dial;
use crate::worker::{Stop, Worker};
use crate::{PeerState, Shared};

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
                connected(&shared, &peer.name, &label, &worker, sessions, acked);
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
                Some(l) => l.ship(&shared, &label, after, limit, max_bytes).await,
                None => shipper::Event::Failed("no session".into()),
            },
            shipper::Action::Reconnect { after, why } => {
                link = None;
                session_ended(&shared, &peer.name, &worker, &why);
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

/// A session is up, resuming after `acked`: status and metrics say so, the
/// peer's repair worker wakes, and the shipper's worker is running (after
/// its first session, `sessions` of them before this one, restarted).
fn connected(
    shared: &Shared,
    peer: &str,
    label: &PeerLabel,
    worker: &Worker,
    sessions: u64,
    acked: u64,
) {
    shared
        .metrics
        .acked_seq
        .get_or_create(label)
        .set(acked as i64);
    update_state(shared, peer, |s| {
        s.connected = true;
        s.acked = acked;
        s.acked_live = true;
        s.last_error.clear();
    });
    tracing::info!(%peer, resume_after = acked, "replication connected");
    // After a reconnect the peer may hold what the log cannot
    // bring back (a wiped or restored store): compare trees.
    if let Some(wake) = shared.repair_wake.get(peer) {
        wake.notify_one();
    }
    // The task's start was the first; each later session is a restart.
    if sessions > 0 {
        worker.started();
    } else {
        worker.running();
    }
}

/// A session ended (`why`) and the shipper will reconnect: a protocol
/// violation is logged and counted, and status and the worker show why.
fn session_ended(shared: &Shared, peer: &str, worker: &Worker, why: &SessionEnd) {
    match why {
        SessionEnd::Failed(e) => {
            tracing::debug!(%peer, error = %e, "replication session failed");
        }
        SessionEnd::Refused(_) => {}
        SessionEnd::Violation(v) => {
            tracing::warn!(%peer, reason = v.reason(), error = %v, "ended a replication session");
            shared
                .metrics
                .protocol_errors
                .get_or_create(&PeerReasonLabel {
                    peer: peer.to_string(),
                    reason: v.reason(),
                })
                .inc();
        }
    }
    update_state(shared, peer, |s| {
        s.connected = false;
        s.last_error = why.to_string();
    });
    worker.erroring(why);
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

    /// Reads the batch after `after`, coalesces it unless the tuning says
    /// otherwise ([`coalesce`]), and sends it to the peer of `label`.
    async fn ship(
        &mut self,
        shared: &Shared,
        label: &PeerLabel,
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
        // The last entry read is the latest of its item in the batch, so
        // coalescing always ships it: the batch covers the log through it.
        let Some(last) = entries.last().map(|e| e.seq) else {
            return shipper::Event::CaughtUp;
        };
        let entries = if shared.config.replication.coalesce {
            let c = coalesce(entries);
            if c.left_out > 0 {
                let m = shared.metrics.coalesced.get_or_create(label);
                m.inc_by(c.left_out as u64);
            }
            c.entries
        } else {
            entries
        };
        let n = entries.len();
        let batch = pb::Batch {
            entries: entries.into_iter().map(mutation_to_pb).collect(),
        };
        let req = pb::ShipRequest {
            msg: Some(pb::ship_request::Msg::Batch(batch)),
        };
        match self.tx.send(req).await {
            Ok(()) => {
                shared.metrics.shipped.get_or_create(label).inc_by(n as u64);
                shipper::Event::Sent { last, entries: n }
            }
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
