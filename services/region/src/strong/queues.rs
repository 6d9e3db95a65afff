//! Strong mode's outgoing message queues, one per peer: what the
//! [`super::Strong`] handle holds to send. A leaf, apart from the link
//! tasks (`super::links`) that drain the queues with the region's shared
//! state, so the handle the region's state holds does not reach back to it.

use std::collections::HashMap;
use std::sync::Arc;

use meridian_proto::v1 as pb;
use tokio::sync::mpsc;

use crate::metrics::PeerReasonLabel;

/// Messages queued per peer: beyond it they are dropped and the protocol
/// sends again, so a peer that is down costs bounded memory.
pub(super) const QUEUE: usize = 8_192;

/// The outgoing queues, one per peer.
pub(crate) struct Links {
    peers: HashMap<String, mpsc::Sender<pb::StrongEnvelope>>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Links {
    pub(crate) fn new(
        peers: &[String],
        metrics: Arc<crate::metrics::Metrics>,
    ) -> (Self, Vec<(String, mpsc::Receiver<pb::StrongEnvelope>)>) {
        let mut senders = HashMap::new();
        let mut receivers = Vec::new();
        for p in peers {
            let (tx, rx) = mpsc::channel(QUEUE);
            senders.insert(p.clone(), tx);
            receivers.push((p.clone(), rx));
        }
        (
            Links {
                peers: senders,
                metrics,
            },
            receivers,
        )
    }

    /// Queues a message for `peer`; drops it when the queue is full.
    pub(crate) fn send(&self, peer: &str, env: pb::StrongEnvelope) {
        let Some(tx) = self.peers.get(peer) else {
            return;
        };
        if tx.try_send(env).is_err() {
            self.metrics
                .strong_refused
                .get_or_create(&PeerReasonLabel {
                    peer: peer.to_string(),
                    reason: "queue_full",
                })
                .inc();
        }
    }
}
