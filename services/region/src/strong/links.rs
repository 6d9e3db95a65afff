//! Strong mode's messages between regions: one outgoing stream per peer
//! (draining its queue in [`super::queues`]), opened when the first
//! message for it is queued and opened again after a failure, on the same
//! channel as replication (mutual TLS when the cluster has it); and the `Consensus` service that takes a peer's
//! stream, checks the caller is the region it names, and hands each
//! decoded message to the runtime.

use std::sync::Arc;
use std::time::Duration;

use meridian_proto::v1 as pb;
use pb::consensus_client::ConsensusClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::queues::QUEUE;
use super::wire;
use crate::Shared;
use crate::config::PeerConfig;
use crate::metrics::PeerReasonLabel;
use crate::worker::{Stop, Worker};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Carries the queued messages to `peer` until the region stops.
pub(crate) async fn run_link(
    shared: Arc<Shared>,
    peer: PeerConfig,
    mut rx: mpsc::Receiver<pb::StrongEnvelope>,
    w: Worker,
    mut stop: Stop,
) {
    let mut backoff = BACKOFF_MIN;
    w.idle();
    loop {
        // Nothing is dialled until there is something to say.
        let first = tokio::select! {
            _ = stop.raised() => return,
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
        };
        let channel = tokio::select! {
            _ = stop.raised() => return,
            c = crate::transport::dial(&shared.config, &peer) => c,
        };
        let result = match channel {
            Err(e) => Err(e.to_string()),
            Ok(channel) => {
                w.running();
                // The call's own queue, filled from the peer's queue while
                // the call lasts.
                let (tx, call_rx) = mpsc::channel(QUEUE);
                let _ = tx.try_send(first);
                let mut client = ConsensusClient::new(channel)
                    .max_encoding_message_size(crate::replication::MAX_MESSAGE_BYTES)
                    .max_decoding_message_size(crate::replication::MAX_MESSAGE_BYTES);
                let call = client.exchange(Request::new(ReceiverStream::new(call_rx)));
                tokio::pin!(call);
                loop {
                    tokio::select! {
                        _ = stop.raised() => return,
                        r = &mut call => break r.map(|_| ()).map_err(|e| e.to_string()),
                        m = rx.recv() => match m {
                            Some(m) => {
                                // A full queue drops: the protocol resends.
                                let _ = tx.try_send(m);
                            }
                            None => return,
                        },
                    }
                }
            }
        };
        match result {
            Ok(()) => backoff = BACKOFF_MIN,
            Err(e) => {
                w.erroring(&e);
                tracing::debug!(peer = %peer.name, error = %e, "strong-mode link to the peer failed; dialling again");
                tokio::select! {
                    _ = stop.raised() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// The `Consensus` service: peers' strong-mode streams, each ended when
/// the region stops (a stream holds the region's state open).
pub struct ConsensusApi {
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop: Stop,
}

#[tonic::async_trait]
impl pb::consensus_server::Consensus for ConsensusApi {
    async fn exchange(
        &self,
        req: Request<Streaming<pb::StrongEnvelope>>,
    ) -> Result<Response<pb::StrongSummary>, Status> {
        let caller = crate::tls::CallerCert::of(&req);
        let mut inbound = req.into_inner();
        let config = &self.shared.config;
        let refuse = |peer: &str, reason: &'static str| {
            let peer = if config.peers.iter().any(|p| p.name == peer) {
                peer.to_string()
            } else {
                "unknown".to_string()
            };
            self.shared
                .metrics
                .strong_refused
                .get_or_create(&PeerReasonLabel { peer, reason })
                .inc();
        };
        // The region the stream speaks for, once its name is checked
        // against the caller's certificate; every message must name it.
        let mut speaker: Option<String> = None;
        let mut received = 0u64;
        let mut stop = self.stop.clone();
        loop {
            let env = tokio::select! {
                _ = stop.raised() => break,
                m = inbound.message() => match m? {
                    Some(env) => env,
                    None => break,
                },
            };
            match &speaker {
                Some(s) if *s == env.from_region => {}
                Some(_) => {
                    refuse(&env.from_region, "changed_name");
                    return Err(Status::permission_denied(
                        "a strong-mode stream speaks for one region",
                    ));
                }
                None => {
                    if !config.peers.iter().any(|p| p.name == env.from_region) {
                        refuse(&env.from_region, "not_a_peer");
                        return Err(Status::permission_denied(format!(
                            "{:?} is not a region of this cluster",
                            env.from_region
                        )));
                    }
                    if let Err(status) = caller.check(config.tls.as_ref(), &env.from_region) {
                        refuse(&env.from_region, "certificate");
                        return Err(status);
                    }
                    speaker = Some(env.from_region.clone());
                }
            }
            let from = env.from_region.clone();
            match wire::decode(env) {
                Ok(m) => {
                    received += 1;
                    self.shared.strong.deliver(m);
                }
                Err(e) => {
                    tracing::warn!(peer = %from, error = %e, "refused a strong-mode message");
                    refuse(&from, e.reason);
                }
            }
        }
        Ok(Response::new(pb::StrongSummary { received }))
    }
}
