//! Strong mode in a region (docs/strong.md): the adapter that runs
//! [`meridian_core::strong::Node`] for every STRONG table this region is a
//! member of.
//!
//! - [`runtime`] owns the members: local writes and reads, peers'
//!   messages and ticks go in; each member's actions go, in order, to its
//!   table's effects task.
//! - [`effects`] carries them out in order: a member's state changes are
//!   made durable (one writer group) before the messages that follow them
//!   leave, chosen entries are applied to the store, and local requests
//!   are answered once their outcome is applied here.
//! - [`links`] carries messages to and from peers over the replication
//!   listener (mutual TLS when the cluster has it), from the per-peer
//!   queues of [`queues`]; [`wire`] checks what a peer sends as untrusted
//!   input.
//! - [`error`] says why a request did not succeed.
//!
//! [`Strong`] is what the region's operations call.

mod effects;
mod error;
mod links;
mod queues;
mod runtime;
mod snapshot;
pub mod wire;
mod write;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use meridian_core::strong::Index;
use meridian_core::strong::codec::Writes;
use meridian_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot, watch};

pub use error::{MAY_TAKE_EFFECT, NO_MAJORITY, StrongError};
pub use links::ConsensusApi;
pub(crate) use links::run_link;
pub(crate) use runtime::run;
pub(crate) use write::write;

/// How long a request refused for want of a leader waits before it is
/// sent again ([`Strong::ask_led`]): a leader's heartbeat.
const LEADER_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// What the runtime task is asked to do.
pub(crate) enum Input {
    Propose {
        table: String,
        writes: Writes,
        reply: Reply<(Index, bool)>,
    },
    Read {
        table: String,
        reply: Reply<()>,
    },
    Message(Box<wire::Envelope>),
    /// The effects task applied a table through a position.
    Applied {
        table: String,
        incarnation: Vec<u8>,
        through: Index,
    },
    /// The effects task made the table's acceptances at `ballot` durable
    /// through a position.
    Persisted {
        table: String,
        incarnation: Vec<u8>,
        ballot: meridian_core::strong::Ballot,
        through: Index,
    },
    Refresh(oneshot::Sender<()>),
}

type Reply<T> = oneshot::Sender<Result<T, StrongError>>;

/// Each peer's queue of outgoing messages, for its link task.
pub(crate) type LinkQueues = Vec<(String, mpsc::Receiver<pb::StrongEnvelope>)>;

/// What the region's operations know of a STRONG table without asking the
/// runtime: how far this region has applied its log.
#[derive(Clone)]
struct Known {
    applied: watch::Receiver<u64>,
}

/// Strong mode's handle, shared by the region's services.
pub struct Strong {
    inputs: mpsc::UnboundedSender<Input>,
    tables: RwLock<HashMap<String, Known>>,
    status: Mutex<Vec<pb::StrongTableStatus>>,
    /// Writes answered with `ReplicatedWriteConflictException` since start,
    /// by table: one entry per STRONG table written here.
    write_conflicts: Mutex<HashMap<String, u64>>,
    links: queues::Links,
    /// How long a local write or read waits for a majority.
    request: Duration,
}

impl Strong {
    /// The handle, the runtime's input and the link senders to start
    /// ([`run`], [`run_link`]) with `peers`.
    pub(crate) fn new(
        peers: &[String],
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> (Self, mpsc::UnboundedReceiver<Input>, LinkQueues) {
        let (inputs, rx) = mpsc::unbounded_channel();
        let (links, receivers) = queues::Links::new(peers, metrics);
        let request = Duration::from_millis(meridian_core::strong::Timing::default().request);
        (
            Strong {
                inputs,
                tables: RwLock::new(HashMap::new()),
                status: Mutex::new(Vec::new()),
                write_conflicts: Mutex::new(HashMap::new()),
                links,
                request,
            },
            rx,
            receivers,
        )
    }

    /// Whether `table` is a STRONG table this region is a member of, as
    /// the runtime last found.
    pub fn is_strong(&self, table: &str) -> bool {
        self.tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(table)
    }

    /// Asks the runtime to look for STRONG tables now.
    pub async fn refresh(&self) {
        let (reply, rx) = oneshot::channel();
        if self.inputs.send(Input::Refresh(reply)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Proposes `writes` to `table` and waits until they are chosen and
    /// applied here: the position, and whether they took effect (false:
    /// a key had moved on, and the write must be evaluated again).
    pub async fn propose(&self, table: &str, writes: Writes) -> Result<(Index, bool), StrongError> {
        self.ask_led(table, |reply| Input::Propose {
            table: table.to_string(),
            writes: writes.clone(),
            reply,
        })
        .await
    }

    /// Waits until this region has applied everything chosen in `table`
    /// before the call: a read after it is linearizable.
    pub async fn read_barrier(&self, table: &str) -> Result<(), StrongError> {
        self.ask_led(table, |reply| Input::Read {
            table: table.to_string(),
            reply,
        })
        .await
    }

    /// Sends the input `make` builds and waits for its answer, and sends
    /// it again while the answer is a failure known to have placed nothing
    /// (no leader takes it yet: a table just made STRONG is electing its
    /// first, the members having learned of it a moment apart) and the
    /// request's bounded wait has time left. That wait is the region's: a
    /// table described `ACTIVE` takes writes, and a client never sees its
    /// first election as an error. A failure after the whole wait (no
    /// majority within it) is answered as it is.
    async fn ask_led<T>(
        &self,
        table: &str,
        make: impl Fn(Reply<T>) -> Input,
    ) -> Result<T, StrongError> {
        let until = tokio::time::Instant::now() + self.request;
        loop {
            let (reply, rx) = oneshot::channel();
            self.send(make(reply));
            match self.answer(table, rx).await {
                Err(StrongError::Unavailable { unknown: false, .. })
                    if tokio::time::Instant::now() + LEADER_RETRY < until =>
                {
                    tokio::time::sleep(LEADER_RETRY).await;
                }
                answer => return answer,
            }
        }
    }

    /// Waits until this region has applied `table` through `index`.
    pub async fn wait_applied(&self, table: &str, index: Index) -> Result<(), StrongError> {
        let known = self
            .tables
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
            .cloned();
        let Some(mut known) = known else {
            return Err(StrongError::NotMember(table.to_string()));
        };
        let reached = tokio::time::timeout(self.request, known.applied.wait_for(|a| *a >= index));
        match reached.await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(self.unavailable(table, false)),
        }
    }

    /// Every STRONG table of this region, as Admin `Status` shows it.
    pub fn status(&self) -> Vec<pb::StrongTableStatus> {
        let mut out = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let conflicts = self
            .write_conflicts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for s in &mut out {
            s.write_conflicts = conflicts.get(&s.table).copied().unwrap_or(0);
        }
        out
    }

    /// Counts a write to `table` answered with
    /// `ReplicatedWriteConflictException`.
    pub(crate) fn count_write_conflict(&self, table: &str) {
        let mut conflicts = self
            .write_conflicts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match conflicts.get_mut(table) {
            Some(n) => *n += 1,
            None => {
                conflicts.insert(table.to_string(), 1);
            }
        }
    }

    /// The runtime's own input, for what it sends itself.
    pub(crate) fn input(&self) -> mpsc::UnboundedSender<Input> {
        self.inputs.clone()
    }

    /// A peer's message, decoded.
    pub(crate) fn deliver(&self, env: wire::Envelope) {
        self.send(Input::Message(Box::new(env)));
    }

    fn send(&self, input: Input) {
        // A stopped runtime drops the reply, which answers the caller.
        let _ = self.inputs.send(input);
    }

    /// The runtime's answer. The protocol bounds its own wait; this bounds
    /// the rest (an entry chosen but not yet applicable here), so a client
    /// never waits on a region that cannot finish.
    async fn answer<T>(
        &self,
        table: &str,
        rx: oneshot::Receiver<Result<T, StrongError>>,
    ) -> Result<T, StrongError> {
        match tokio::time::timeout(2 * self.request, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => Err(self.unavailable(table, true)),
        }
    }

    fn unavailable(&self, table: &str, unknown: bool) -> StrongError {
        StrongError::Unavailable {
            table: table.to_string(),
            millis: self.request.as_millis() as u64,
            unknown,
        }
    }
}
