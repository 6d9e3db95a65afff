//! Prometheus metrics for one region, served at `/metrics`.
//!
//! Everything Meridian counts is under `meridian_`; the process metrics
//! ([`process`]) keep the names Prometheus' own process collector gives
//! them, so stock dashboards and alerts work unchanged. Requests to the
//! DynamoDB endpoint and the gRPC servers ([`grpc`]) are counted and timed
//! under a bounded label set: operations and methods come from fixed
//! lists, anything else is `unknown`.

pub mod answers;
pub mod grpc;
pub mod process;
pub mod tables;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use hdrhistogram::Histogram as Hdr;
use meridian_core::lag;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    pub peer: String,
}

/// A replication stream or session that ended over a broken protocol rule.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerReasonLabel {
    pub peer: String,
    pub reason: &'static str,
}

/// Bytes a repair round moved with a peer: `sent` (requests) or `received` (answers).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerDirectionLabel {
    pub peer: String,
    pub direction: &'static str,
}

/// A repair or admin call this region refused as the callee, by call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabel {
    pub call: &'static str,
}

/// One background worker of the region (docs/operations.md).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabel {
    pub worker: String,
}

/// A worker and one of its states.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerStateLabel {
    pub worker: String,
    pub state: &'static str,
}

/// Where a shipper's batch came from: `memory` (the log's tail) or `store`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: &'static str,
}

/// A strong-mode message, by direction (`in`, `out`) and kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionKindLabel {
    pub direction: &'static str,
    pub kind: &'static str,
}

/// A snapshot of a STRONG table, by direction (`sent`, `installed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    pub direction: &'static str,
}

/// What became of a write to a STRONG table.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// A request an endpoint refused before it ran: endpoint and reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointReasonLabel {
    pub endpoint: &'static str,
    pub reason: &'static str,
}

/// A DynamoDB API request by operation (`unknown` for a name the endpoint
/// does not serve) and outcome (`ok` or the DynamoDB error type).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationOutcomeLabel {
    pub operation: &'static str,
    pub outcome: &'static str,
}

/// A DynamoDB API operation, for its latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: &'static str,
}

/// A gRPC call by service, method and status code (`OK`, `NOT_FOUND`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodCodeLabel {
    pub service: &'static str,
    pub method: &'static str,
    pub code: &'static str,
}

/// A gRPC method, for its latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    pub service: &'static str,
    pub method: &'static str,
}

/// What this binary was built from, as `meridian_build_info` shows it;
/// what the build could not read is left out, not shown empty.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct BuildLabel {
    pub version: &'static str,
    /// The commit built, when the build could ask git.
    pub git_commit: Option<&'static str>,
    /// The compiler's `rustc --version`, when the build recorded it.
    pub rustc: Option<&'static str>,
}

impl EncodeLabelSet for BuildLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("version", self.version).encode(encoder.encode_label())?;
        if let Some(commit) = self.git_commit {
            ("git_commit", commit).encode(encoder.encode_label())?;
        }
        if let Some(rustc) = self.rustc {
            ("rustc", rustc).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// What the running binary records about its build: the crate version
/// always, the commit and compiler when its build script could read them.
/// Set once at start by the binary ([`set_build`]); regions started in
/// tests show the version alone.
static BUILD: std::sync::OnceLock<BuildLabel> = std::sync::OnceLock::new();

/// Records the binary's build for every region it starts; the first call
/// wins.
pub fn set_build(git_commit: Option<&'static str>, rustc: Option<&'static str>) {
    let _ = BUILD.set(BuildLabel {
        version: env!("CARGO_PKG_VERSION"),
        git_commit,
        rustc,
    });
}

/// The build [`set_build`] recorded, or the version alone.
fn build() -> BuildLabel {
    BUILD.get().cloned().unwrap_or(BuildLabel {
        version: env!("CARGO_PKG_VERSION"),
        git_commit: None,
        rustc: None,
    })
}

/// Buckets of the request latency histograms: 0.2 ms doubling to 6.6 s.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0002, 2.0, 16))
}

/// Latency summary for the status API.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub struct Metrics {
    pub registry: Registry,
    /// Inbound replication latency, labelled by the source peer (real time).
    pub replication_latency: Family<PeerLabel, Histogram>,
    /// Outbound mutations each peer has yet to apply.
    pub pending: Family<PeerLabel, Gauge>,
    pub acked_seq: Family<PeerLabel, Gauge>,
    pub conflicts: Counter,
    /// Conflicts per table, as the store counted them at the last scrape.
    pub table_conflicts: tables::TableConflicts,
    pub drift_refusals: Family<PeerLabel, Counter>,
    /// How far ahead of this region's clock the peer's entry that the
    /// drift guard last refused was, µs; 0 once its entries apply again.
    pub drift_ahead: Family<PeerLabel, Gauge>,
    /// Replicated units refused for now (the sender retries them), by
    /// peer and reason.
    pub replication_refusals: Family<PeerReasonLabel, Counter>,
    /// Relayed catalog changes that would delete or replace a table here,
    /// passed over for their origin to bring, by relaying peer.
    pub left_to_origin: Family<PeerLabel, Counter>,
    /// Entries skipped rather than applied, by peer and reason
    /// (`meridian_store::Skip`): their table's replication with the peer
    /// paused (`pause`) or withheld by the replicas' policies (`grants`).
    pub skipped: Family<PeerReasonLabel, Counter>,
    pub applied: Family<PeerLabel, Counter>,
    /// Partition order's anomalies as they became visible here, by source
    /// peer: entries applied while an earlier entry of the peer's log was
    /// still held (a reordering), and units (one request's writes, such as
    /// a transaction) applied in part (docs/replication.md, *Lanes*).
    pub reordered: Family<PeerLabel, Counter>,
    pub torn_units: Family<PeerLabel, Counter>,
    /// Log entries shipped to each peer, and versions left out of what was
    /// shipped because a later version of the same item in the batch
    /// stood for them (coalescing; docs/replication.md, *Coalescing*), by
    /// destination peer.
    pub shipped: Family<PeerLabel, Counter>,
    pub coalesced: Family<PeerLabel, Counter>,
    /// Write units the peer's entries drew on this region's provisioned
    /// tables (replicated write units; `crate::capacity`), and the time
    /// its stream waited for them, by source peer.
    pub replicated_write_units: Family<PeerLabel, Counter>,
    pub replication_throttled_seconds: Family<PeerLabel, Counter<f64, AtomicU64>>,
    /// Replication streams ended because the peer broke the protocol
    /// (a batch with a gap, an ack past what was sent, a malformed batch).
    pub protocol_errors: Family<PeerReasonLabel, Counter>,
    pub committed_writes: Counter,
    pub group_commits: Counter,
    pub ttl_expired: Counter,
    /// 1 for each worker's current state, 0 for its others.
    pub worker_state: Family<WorkerStateLabel, Gauge>,
    /// How often each worker started over.
    pub worker_restarts: Family<WorkerLabel, Counter>,
    /// Batches read for shipping, by where they came from.
    pub log_reads: Family<SourceLabel, Counter>,
    /// Log entries deleted by truncation.
    pub log_truncated: Counter,
    /// Tombstones purged: every replica held them (docs/repair.md).
    pub tombstones_purged: Counter,
    /// Writes dropped because a tombstone purged here or at a peer had
    /// overwritten them: the deletes that purging must not undo.
    pub superseded: Counter,
    /// Anti-entropy rounds this region ran against each peer (docs/repair.md).
    pub repair_rounds: Family<PeerLabel, Counter>,
    /// Rounds that failed or stopped at a refused entry.
    pub repair_failures: Family<PeerLabel, Counter>,
    /// Heads fetched from each peer by repair and applied here.
    pub repair_keys: Family<PeerLabel, Counter>,
    /// Bytes of repair requests sent to and answers received from each peer.
    pub repair_bytes: Family<PeerDirectionLabel, Counter>,
    /// Of the repair bytes received, the fetched heads: the items moved.
    pub repair_item_bytes: Family<PeerLabel, Counter>,
    /// Repair requests from peers refused as malformed or over a limit.
    pub repair_refused: Family<CallLabel, Counter>,
    /// Mutating admin calls refused for a missing or wrong admin token.
    pub admin_refused: Family<CallLabel, Counter>,
    /// Client requests shed or timed out, by endpoint and reason.
    pub refused_requests: Family<EndpointReasonLabel, Counter>,
    /// Client requests refused for a missing or wrong SigV4 signature, by
    /// endpoint and reason.
    pub unauthenticated: Family<EndpointReasonLabel, Counter>,
    /// Strong mode's messages sent and received, by kind (docs/strong.md).
    pub strong_messages: Family<DirectionKindLabel, Counter>,
    /// Strong-mode messages refused as malformed, forged or from a stranger.
    pub strong_refused: Family<PeerReasonLabel, Counter>,
    /// Writes to STRONG tables taken here, by outcome.
    pub strong_writes: Family<OutcomeLabel, Counter>,
    /// Snapshots of STRONG tables read to be sent to a member, and
    /// installed here, by direction (`sent`, `installed`).
    pub strong_snapshots: Family<DirectionLabel, Counter>,
    /// DynamoDB API requests answered, by operation and outcome.
    pub dynamodb_requests: Family<OperationOutcomeLabel, Counter>,
    /// DynamoDB API requests' time from their headers to their answer.
    pub dynamodb_duration: Family<OperationLabel, Histogram>,
    /// DynamoDB API answers as CloudWatch counts them, for alarms.
    pub dynamodb_answers: answers::Answers,
    /// gRPC calls answered, by method and status code.
    pub grpc_requests: Family<MethodCodeLabel, Counter>,
    /// gRPC calls' time to their status: a stream's whole life.
    pub grpc_duration: Family<MethodLabel, Histogram>,
    /// Exact percentiles for `meridian status`, in µs, per source peer.
    latency_hdr: Mutex<HashMap<String, Hdr<u64>>>,
    /// Cumulative counts per `meridian_core::lag` bucket, per inbound peer.
    latency_buckets: Mutex<HashMap<String, Vec<u64>>>,
}

impl Metrics {
    pub fn new(region: &str) -> Self {
        let mut root = Registry::with_labels(
            [(
                std::borrow::Cow::Borrowed("region"),
                std::borrow::Cow::Owned(region.to_string()),
            )]
            .into_iter(),
        );
        // Where there is no `/proc` (not Linux) it exports nothing.
        root.register_collector(Box::new(process::Process));
        let registry = root.sub_registry_with_prefix("meridian");
        let replication_latency = Family::<PeerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        let m = Metrics {
            registry: Registry::default(),
            replication_latency,
            pending: Family::default(),
            acked_seq: Family::default(),
            conflicts: Counter::default(),
            table_conflicts: tables::TableConflicts::default(),
            drift_refusals: Family::default(),
            drift_ahead: Family::default(),
            replication_refusals: Family::default(),
            left_to_origin: Family::default(),
            skipped: Family::default(),
            applied: Family::default(),
            reordered: Family::default(),
            torn_units: Family::default(),
            shipped: Family::default(),
            coalesced: Family::default(),
            replicated_write_units: Family::default(),
            replication_throttled_seconds: Family::default(),
            protocol_errors: Family::default(),
            committed_writes: Counter::default(),
            group_commits: Counter::default(),
            ttl_expired: Counter::default(),
            log_reads: Family::default(),
            log_truncated: Counter::default(),
            tombstones_purged: Counter::default(),
            superseded: Counter::default(),
            repair_rounds: Family::default(),
            repair_failures: Family::default(),
            repair_keys: Family::default(),
            repair_bytes: Family::default(),
            repair_item_bytes: Family::default(),
            repair_refused: Family::default(),
            admin_refused: Family::default(),
            refused_requests: Family::default(),
            unauthenticated: Family::default(),
            worker_state: Family::default(),
            worker_restarts: Family::default(),
            strong_messages: Family::default(),
            strong_refused: Family::default(),
            strong_writes: Family::default(),
            strong_snapshots: Family::default(),
            dynamodb_requests: Family::default(),
            dynamodb_duration: Family::new_with_constructor(request_buckets),
            dynamodb_answers: answers::Answers::default(),
            grpc_requests: Family::default(),
            grpc_duration: Family::new_with_constructor(request_buckets),
            latency_hdr: Mutex::new(HashMap::new()),
            latency_buckets: Mutex::new(HashMap::new()),
        };
        m.register_strong(registry);
        m.register_replication(registry);
        m.register_store(registry);
        m.register_refused_requests(registry);
        m.register_repair(registry);
        m.register_process(registry);
        m.register_requests(registry);
        Metrics {
            registry: root,
            ..m
        }
    }

    /// Strong mode's consensus: its messages, refusals, writes and snapshots.
    fn register_strong(&self, registry: &mut Registry) {
        registry.register(
            "strong_messages",
            "Strong-mode consensus messages, by direction (in, out) and kind (docs/strong.md)",
            self.strong_messages.clone(),
        );
        registry.register(
            "strong_refused_messages",
            "Strong-mode messages refused as malformed, forged or from a region that is not a member, or dropped while their table's replication with the peer is paused (replication_paused), by peer and reason",
            self.strong_refused.clone(),
        );
        registry.register(
            "strong_writes",
            "Writes to STRONG tables taken by this region, by outcome: ok, conflict (ReplicatedWriteConflictException), retried (evaluated again on a newer copy), unavailable (no majority in time) or busy",
            self.strong_writes.clone(),
        );
        registry.register(
            "strong_snapshots",
            "Snapshots of STRONG tables: sent (read to be sent to a member that needs entries every member has dropped) and installed here, by direction (docs/strong.md)",
            self.strong_snapshots.clone(),
        );
    }

    /// Replication's links: latency, positions, conflicts, refusals and what the receivers applied, held back or skipped.
    fn register_replication(&self, registry: &mut Registry) {
        self.register_replication_apply(registry);
        self.register_replication_shipping(registry);
        self.register_replication_outcomes(registry);
    }

    /// How far behind each link is, and what applying its entries found:
    /// conflicts, drift refusals and entries applied out of log order.
    fn register_replication_apply(&self, registry: &mut Registry) {
        registry.register(
            "replication_latency_seconds",
            "Real time from the origin's commit to this region's apply, by source peer",
            self.replication_latency.clone(),
        );
        registry.register(
            "pending_mutations",
            "Mutations in this region's log that the peer has not applied",
            self.pending.clone(),
        );
        registry.register(
            "acked_seq",
            "Log position the peer has durably applied",
            self.acked_seq.clone(),
        );
        registry.register(
            "conflicts",
            "Concurrent writes detected on apply",
            self.conflicts.clone(),
        );
        registry.register_collector(Box::new(self.table_conflicts.clone()));
        registry.register(
            "drift_refusals",
            "Remote mutations refused by the clock drift guard, by source peer",
            self.drift_refusals.clone(),
        );
        registry.register(
            "replication_reordered",
            "Replicated entries applied while an earlier entry of the same peer's log was still held in its lane (partition order), by source peer",
            self.reordered.clone(),
        );
        registry.register(
            "replication_torn_units",
            "Replicated units (one request's writes, such as a transaction) applied here in part, the rest still held in other lanes (partition order), by source peer",
            self.torn_units.clone(),
        );
    }

    /// What went over each link and what it cost: entries shipped and left
    /// out, and the provisioned write units replication drew and waited for.
    fn register_replication_shipping(&self, registry: &mut Registry) {
        registry.register(
            "replication_shipped",
            "Log entries shipped to the peer (entries a resumed session sends again count again), by destination peer",
            self.shipped.clone(),
        );
        registry.register(
            "replication_coalesced",
            "Versions of items left out of what was shipped to the peer because a later version of the same item, pending in the same batch, stood for them (replication_coalesce), by destination peer",
            self.coalesced.clone(),
        );
        registry.register(
            "replicated_write_units",
            "Write units the peer's replicated writes drew on this region's provisioned tables (the table's own; its global indexes draw as well), by source peer",
            self.replicated_write_units.clone(),
        );
        registry.register(
            "replication_throttled_seconds",
            "Time the peer's replication stream waited for this region's provisioned write units before applying its entries, by source peer",
            self.replication_throttled_seconds.clone(),
        );
    }

    /// What the receivers did with the entries that were not simply
    /// applied (held back, passed over, skipped), what they applied, and
    /// the streams ended for breaking the protocol.
    fn register_replication_outcomes(&self, registry: &mut Registry) {
        registry.register(
            "drift_ahead_micros",
            "How far ahead of this region's clock the version the drift guard last refused from the peer was, in µs; 0 once the peer's entries apply again",
            self.drift_ahead.clone(),
        );
        registry.register(
            "replication_refusals",
            "Replicated units refused for now and retried by the sender, by peer and reason: drift_guard (a version too far ahead of this region's clock) or table_not_ready (its table, or that version of it, is not known here yet)",
            self.replication_refusals.clone(),
        );
        registry.register(
            "replication_left_to_origin",
            "Relayed catalog entries that would delete or replace a table held here, passed over for the region that made them to bring (docs/security.md), by relaying peer",
            self.left_to_origin.clone(),
        );
        registry.register(
            "replication_skipped",
            "Entries from a peer skipped rather than applied, by peer and reason: paused (the table's replication with that peer is paused, docs/netsim.md) or withheld (the replicas' resource-based policies do not grant it, docs/replicas.md); the reason's end pulls them back by repair",
            self.skipped.clone(),
        );
        registry.register(
            "applied_mutations",
            "Remote mutations applied, by source peer",
            self.applied.clone(),
        );
        registry.register(
            "replication_protocol_errors",
            "Replication streams ended because the peer broke the protocol, by peer and reason",
            self.protocol_errors.clone(),
        );
    }

    /// The store's own work: commits, TTL expiry, log reads and truncation, purging.
    fn register_store(&self, registry: &mut Registry) {
        registry.register(
            "committed_writes",
            "Local writes committed",
            self.committed_writes.clone(),
        );
        registry.register(
            "group_commits",
            "SQLite transactions committed by the writer",
            self.group_commits.clone(),
        );
        registry.register(
            "ttl_expired",
            "Items this region expired by TTL",
            self.ttl_expired.clone(),
        );
        registry.register(
            "log_reads",
            "Batches the shippers read from the log, by source: memory (the newest entries, handed over by the writer) or store (SQLite, for a peer further behind)",
            self.log_reads.clone(),
        );
        registry.register(
            "log_truncated",
            "Log entries deleted by truncation: every peer had applied them and they were past the retention, or the log outgrew its maximum",
            self.log_truncated.clone(),
        );
        registry.register(
            "tombstones_purged",
            "Tombstones purged: every replica of every table claimed to hold every write at or below the purge horizon",
            self.tombstones_purged.clone(),
        );
        registry.register(
            "superseded",
            "Writes dropped for keys this region holds nothing for, at or below a purge horizon: a purged tombstone had overwritten them",
            self.superseded.clone(),
        );
    }

    /// Client requests the endpoints refused: unsigned, overloaded or too slow.
    fn register_refused_requests(&self, registry: &mut Registry) {
        registry.register(
            "unauthenticated_requests",
            "Client requests refused for a missing or wrong SigV4 signature where the cluster has dynamodb_keys, by endpoint and reason",
            self.unauthenticated.clone(),
        );
        registry.register(
            "refused_requests",
            "Client requests an endpoint refused: overloaded (past its in-flight limit, shed at once) or timeout (not finished in time), by endpoint",
            self.refused_requests.clone(),
        );
    }

    /// Anti-entropy rounds with each peer, and the repair and admin calls this region refused as the callee.
    fn register_repair(&self, registry: &mut Registry) {
        registry.register(
            "repair_rounds",
            "Anti-entropy rounds run against each peer",
            self.repair_rounds.clone(),
        );
        registry.register(
            "repair_failures",
            "Anti-entropy rounds that failed or stopped at a refused entry, by peer",
            self.repair_failures.clone(),
        );
        registry.register(
            "repair_keys",
            "Heads fetched from each peer by anti-entropy and applied here",
            self.repair_keys.clone(),
        );
        registry.register(
            "repair_bytes",
            "Bytes of anti-entropy requests sent to (sent) and answers received from (received) each peer",
            self.repair_bytes.clone(),
        );
        registry.register(
            "repair_item_bytes",
            "Of the repair bytes received from each peer, the fetched heads (the items moved)",
            self.repair_item_bytes.clone(),
        );
        registry.register(
            "admin_refused",
            "Mutating admin calls refused for a missing or wrong admin token, by call",
            self.admin_refused.clone(),
        );
        registry.register(
            "repair_refused",
            "Anti-entropy requests from peers refused as malformed or over a limit, by call",
            self.repair_refused.clone(),
        );
    }

    /// The background workers' states and restarts, and what the binary was built from.
    fn register_process(&self, registry: &mut Registry) {
        registry.register(
            "worker_state",
            "1 for the state each background worker is in (running, idle, erroring, stopped), 0 for the others",
            self.worker_state.clone(),
        );
        registry.register(
            "worker_restarts",
            "How often each background worker started over: a shipper's sessions after the first, a receiver's streams after the first",
            self.worker_restarts.clone(),
        );
        registry.register(
            "build",
            "What this binary was built from: the crate version, and the git commit and rustc version when its build could read them",
            prometheus_client::metrics::info::Info::new(build()),
        );
    }

    /// Requests to the DynamoDB endpoint and the gRPC servers, counted and timed.
    fn register_requests(&self, registry: &mut Registry) {
        registry.register(
            "dynamodb_requests",
            "DynamoDB API requests answered, by operation (unknown for a name the endpoint does not serve) and outcome (ok, or the DynamoDB error type)",
            self.dynamodb_requests.clone(),
        );
        registry.register(
            "dynamodb_request_duration_seconds",
            "Time from a DynamoDB API request's headers to its answer, by operation",
            self.dynamodb_duration.clone(),
        );
        registry.register(
            "grpc_requests",
            "gRPC calls answered, by service, method (unknown for a path no service routes) and status code",
            self.grpc_requests.clone(),
        );
        registry.register(
            "grpc_request_duration_seconds",
            "Time from a gRPC call's headers to its status (for a stream, its whole life), by service and method",
            self.grpc_duration.clone(),
        );
        // The counters' series exist from the start, so `rate()` sees a
        // method's first call; the histograms' (19 lines each) only once a
        // method is called, which keeps a scrape small.
        for &(service, method) in meridian_proto::methods::METHODS {
            let _ = self.grpc_requests.get_or_create(&MethodCodeLabel {
                service,
                method,
                code: "OK",
            });
        }
    }

    /// Makes the counters of these DynamoDB operations exist from the
    /// start (with outcome `ok`), so `rate()` sees their first request;
    /// their latency histograms appear with their first request.
    pub fn register_dynamodb_operations(&self, operations: &[&'static str]) {
        for &operation in operations {
            let _ = self
                .dynamodb_requests
                .get_or_create(&OperationOutcomeLabel {
                    operation,
                    outcome: "ok",
                });
        }
    }

    /// Counts and times one gRPC call that got its status.
    pub fn observe_grpc(
        &self,
        service: &'static str,
        method: &'static str,
        code: &'static str,
        secs: f64,
    ) {
        self.grpc_requests
            .get_or_create(&MethodCodeLabel {
                service,
                method,
                code,
            })
            .inc();
        self.grpc_duration
            .get_or_create(&MethodLabel { service, method })
            .observe(secs);
    }

    /// Counts and times one answered DynamoDB API request.
    pub fn observe_dynamodb(&self, operation: &'static str, outcome: &'static str, secs: f64) {
        self.dynamodb_requests
            .get_or_create(&OperationOutcomeLabel { operation, outcome })
            .inc();
        self.dynamodb_duration
            .get_or_create(&OperationLabel { operation })
            .observe(secs);
    }

    pub fn observe_latency(&self, peer: &str, micros: &[u64]) {
        if micros.is_empty() {
            return;
        }
        let h = self.replication_latency.get_or_create(&PeerLabel {
            peer: peer.to_string(),
        });
        let mut hdr = self.latency_hdr.lock().unwrap_or_else(|p| p.into_inner());
        let hdr = hdr.entry(peer.to_string()).or_insert_with(|| {
            Hdr::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
        });
        let mut buckets = self
            .latency_buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let buckets = buckets
            .entry(peer.to_string())
            .or_insert_with(|| vec![0; lag::BUCKETS]);
        for &us in micros {
            h.observe(us as f64 / 1e6);
            hdr.saturating_record(us.max(1));
            buckets[lag::bucket_of(us)] += 1;
        }
    }

    /// Cumulative bucket counts for one inbound peer (all zero before any).
    pub fn latency_buckets(&self, peer: &str) -> Vec<u64> {
        let buckets = self
            .latency_buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        buckets
            .get(peer)
            .cloned()
            .unwrap_or_else(|| vec![0; lag::BUCKETS])
    }

    pub fn latency(&self, peer: &str) -> LatencySummary {
        let hdr = self.latency_hdr.lock().unwrap_or_else(|p| p.into_inner());
        match hdr.get(peer) {
            Some(h) if !h.is_empty() => LatencySummary {
                count: h.len(),
                p50_ms: h.value_at_quantile(0.50) as f64 / 1e3,
                p99_ms: h.value_at_quantile(0.99) as f64 / 1e3,
                max_ms: h.max() as f64 / 1e3,
            },
            _ => LatencySummary::default(),
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}
