//! Replication: per-peer shippers and the receiver.
//!
//! A shipper streams this region's log (its own writes and relayed catalog
//! changes; docs/store.md) to one peer over a long-lived bidirectional
//! gRPC stream, keeping up to `window` batches in flight. The receiver
//! applies each batch through the storage bridge and acknowledges the
//! sender position it has durably applied; the shipper records that as the
//! peer's watermark. On reconnect the receiver's `Welcome` names its durable
//! position, so nothing is lost and redelivered entries have no effect.
//!
//! When the receiver refuses an entry (drift guard, or a table it does not
//! know yet), it acknowledges the prefix it applied and ends the stream; the
//! shipper waits and resumes from that position. Nothing after a refused
//! entry is ever applied ahead of it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream};
use meridian_core::schema::{MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, validate_table_name};
use meridian_core::schema::{TAGS_SORT_PREFIX, TTL_SORT_KEY};
use meridian_core::{CATALOG_TABLE, Context, EncodedKey, TableDef, Version, decode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::replication_client::ReplicationClient;
use meridian_proto::v1::replication_server::Replication;
use meridian_store::{LogEntry, RemoteEntry};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Request, Response, Status, Streaming};

use crate::config::PeerConfig;
use crate::convert::status_from;
use crate::metrics::PeerLabel;
use crate::{PeerState, Shared};

pub const PROTOCOL: u32 = 1;
/// How long a receiver waits for the first message of a stream.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most entries a receiver accepts in one batch.
pub const MAX_BATCH_ENTRIES: usize = 10_000;
/// Most entries a receiver applies in one go when it coalesces batches
/// that arrived together: no more than one batch may hold.
const MAX_APPLY_ENTRIES: usize = MAX_BATCH_ENTRIES;
/// gRPC message size limit for replication streams.
/// Room for a batch of about 1 MiB plus one whole unit of up to 16 MiB.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// How often an acknowledged position is written to the store at most.
const WATERMARK_EVERY: Duration = Duration::from_millis(200);

pub struct ReplicationApi {
    pub(crate) shared: Arc<Shared>,
    /// Ends open streams at shutdown, so a graceful stop does not wait on peers.
    pub(crate) shutdown: watch::Receiver<bool>,
}

type ShipStream = Pin<Box<dyn Stream<Item = Result<pb::ShipResponse, Status>> + Send>>;

fn ack(applied_through: u64, refused: String) -> pb::ShipResponse {
    pb::ShipResponse {
        msg: Some(pb::ship_response::Msg::Ack(pb::Ack {
            applied_through,
            refused,
        })),
    }
}

/// Validates one batch from a peer. Nothing a peer sends is trusted: sizes,
/// encodings, table names, versions and images are all checked.
pub fn decode_batch(
    peer: &str,
    regions: &[String],
    batch: &pb::Batch,
) -> Result<Vec<RemoteEntry>, String> {
    if batch.entries.len() > MAX_BATCH_ENTRIES {
        return Err(format!(
            "batch has {} entries, the limit is {MAX_BATCH_ENTRIES}",
            batch.entries.len()
        ));
    }
    let mut out = Vec::with_capacity(batch.entries.len());
    let mut last_seq = 0u64;
    for (i, e) in batch.entries.iter().enumerate() {
        let at = |m: String| format!("entries[{i}] (seq {}): {m}", e.seq);
        // Positions are stored as SQLite integers.
        if e.seq > i64::MAX as u64 {
            return Err(at(format!(
                "sequence number above the limit of {}",
                i64::MAX
            )));
        }
        if e.seq == 0 || e.seq <= last_seq {
            return Err(at(
                "sequence numbers must be positive and strictly increasing".into(),
            ));
        }
        last_seq = e.seq;
        let version = Version::from_bytes(&e.version).map_err(|x| at(format!("version: {x}")))?;
        let prev = if e.prev.is_empty() {
            None
        } else {
            Some(Version::from_bytes(&e.prev).map_err(|x| at(format!("prev: {x}")))?)
        };
        if prev.as_ref().is_some_and(|p| *p >= version) {
            return Err(at("prev must be older than version".into()));
        }
        let context = Context::from_bytes(&e.context).map_err(|x| at(format!("context: {x}")))?;
        // A write's context names the write itself as the newest of its
        // origin, and covers what it replaced.
        if !context.entries().contains(&version) || context.entries().iter().any(|c| *c > version) {
            return Err(at(
                "context must hold the entry's own version as its newest".into(),
            ));
        }
        // Only regions of this cluster can have written anything, and a
        // padded context would outgrow the limit at the next local write.
        if let Some(stranger) = context
            .entries()
            .iter()
            .find(|c| !regions.contains(&c.origin))
        {
            return Err(at(format!(
                "context names {}, which is not a region of this cluster",
                stranger.origin
            )));
        }
        if prev.as_ref().is_some_and(|p| !context.saw(p)) {
            return Err(at("context must cover prev".into()));
        }
        if e.tombstone && !e.image.is_empty() {
            return Err(at("a tombstone carries no image".into()));
        }
        let image = if e.tombstone {
            None
        } else {
            Some(decode_item(&e.image).map_err(|x| at(format!("image: {x}")))?)
        };
        let table_version = if e.table_version.is_empty() {
            None
        } else {
            Some(
                Version::from_bytes(&e.table_version)
                    .map_err(|x| at(format!("table_version: {x}")))?,
            )
        };
        if e.table == CATALOG_TABLE {
            let name = std::str::from_utf8(&e.partition_key)
                .map_err(|_| at("catalog key is not UTF-8".into()))?;
            validate_table_name(name).map_err(|x| at(x.to_string()))?;
            if table_version.is_some() || e.ttl || e.unit_len > 1 {
                return Err(at(
                    "catalog entries stand alone and have no table version".into()
                ));
            }
            match (e.sort_key.as_slice(), &image) {
                (b"", Some(item)) => {
                    let def =
                        TableDef::from_item(item).map_err(|x| at(format!("catalog image: {x}")))?;
                    if def.name != name {
                        return Err(at(format!(
                            "catalog image is for table {}, key is {name}",
                            def.name
                        )));
                    }
                }
                (TTL_SORT_KEY, Some(item)) => {
                    TableDef::ttl_attribute(item)
                        .map_err(|x| at(format!("catalog TTL row: {x}")))?;
                }
                (sk, Some(item)) if sk.starts_with(TAGS_SORT_PREFIX) => {
                    TableDef::tags(item).map_err(|x| at(format!("catalog tags row: {x}")))?;
                }
                (b"", None) | (TTL_SORT_KEY, None) => {}
                (sk, None) if sk.starts_with(TAGS_SORT_PREFIX) => {}
                _ => return Err(at("unknown catalog row".into())),
            }
        } else {
            validate_table_name(&e.table).map_err(|x| at(x.to_string()))?;
            if table_version.is_none() {
                return Err(at("item entries need a table version".into()));
            }
            // Only relayed catalog changes may come from another origin.
            if version.origin != peer {
                return Err(at(format!(
                    "item entry from {peer} claims origin {}",
                    version.origin
                )));
            }
            // Encoded keys: the attribute limit plus room for a number's tag bytes.
            let (pk_limit, sk_limit) = (MAX_PARTITION_KEY_BYTES + 8, MAX_SORT_KEY_BYTES + 8);
            if e.partition_key.is_empty() || e.partition_key.len() > pk_limit {
                return Err(at(format!(
                    "encoded partition key is {} bytes; it must be 1 to {pk_limit}",
                    e.partition_key.len()
                )));
            }
            if e.sort_key.len() > sk_limit {
                return Err(at(format!(
                    "encoded sort key is {} bytes, the limit is {sk_limit}",
                    e.sort_key.len()
                )));
            }
        }
        out.push(RemoteEntry {
            seq: e.seq,
            table: e.table.clone(),
            table_version,
            key: EncodedKey {
                partition: e.partition_key.clone(),
                sort: e.sort_key.clone(),
            },
            version,
            prev,
            context,
            image: image.is_some().then(|| e.image.clone()),
            commit_real: e.commit_real_micros,
            ttl: e.ttl,
            unit: (e.unit_pos, e.unit_len.max(1)),
        });
    }
    check_units(&out).map_err(|m| format!("batch: {m}"))?;
    Ok(out)
}

/// Units must arrive whole: positions 0..len in order, one origin, and only
/// item writes with a tombstone flag that fits.
fn check_units(entries: &[RemoteEntry]) -> Result<(), String> {
    let mut i = 0;
    while i < entries.len() {
        let (pos, len) = entries[i].unit;
        if pos != 0 {
            return Err(format!(
                "entry seq {} starts in the middle of a unit",
                entries[i].seq
            ));
        }
        let len = len as usize;
        if len > entries.len() - i {
            return Err(format!(
                "the unit starting at seq {} is cut off",
                entries[i].seq
            ));
        }
        for (k, e) in entries[i..i + len].iter().enumerate() {
            if e.unit != (k as u32, len as u32) || e.version.origin != entries[i].version.origin {
                return Err(format!(
                    "entry seq {} breaks the unit starting at seq {}",
                    e.seq, entries[i].seq
                ));
            }
        }
        i += len;
    }
    for e in entries {
        if e.ttl && e.image.is_some() {
            return Err(format!(
                "entry seq {}: only a tombstone can be a TTL expiry",
                e.seq
            ));
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl Replication for ReplicationApi {
    type ShipStream = ShipStream;

    async fn ship(
        &self,
        req: Request<Streaming<pb::ShipRequest>>,
    ) -> Result<Response<ShipStream>, Status> {
        let mut inbound = req.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
            .await
            .map_err(|_| {
                Status::deadline_exceeded("no Hello within 5 s of opening the stream")
            })??;
        let hello = match first.and_then(|m| m.msg) {
            Some(pb::ship_request::Msg::Hello(h)) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message of a stream must be Hello",
                ));
            }
        };
        let shared = self.shared.clone();
        if hello.protocol != PROTOCOL {
            return Err(Status::failed_precondition(format!(
                "protocol {} is not supported; this region speaks {PROTOCOL}",
                hello.protocol
            )));
        }
        if hello.to_region != shared.config.name {
            return Err(Status::failed_precondition(format!(
                "this is region {}, not {}",
                shared.config.name, hello.to_region
            )));
        }
        if hello.log_id.is_empty() || hello.log_id.len() > 64 {
            return Err(Status::invalid_argument(format!(
                "log_id: must be 1 to 64 characters, got {}",
                hello.log_id.len()
            )));
        }
        let peer = hello.from_region;
        if !shared.config.peers.iter().any(|p| p.name == peer) {
            return Err(Status::permission_denied(format!(
                "{peer:?} is not a peer of this region"
            )));
        }
        let (p, log_id) = (peer.clone(), hello.log_id.clone());
        let applied = shared
            .storage
            .read(move |r| r.inbound(&p, &log_id))
            .await
            .map_err(status_from)?;
        let (tx, rx) = mpsc::channel(16);
        let welcome = pb::ShipResponse {
            msg: Some(pb::ship_response::Msg::Welcome(pb::Welcome {
                applied_through: applied,
            })),
        };
        let _ = tx.send(Ok(welcome)).await;
        tracing::debug!(%peer, applied, "replication stream opened");
        let mut shutdown = self.shutdown.clone();
        let regions = shared.config.all_regions();
        tokio::spawn(async move {
            let label = PeerLabel { peer: peer.clone() };
            // A message read while coalescing that could not join the apply.
            let mut carried: Option<Inbound> = None;
            loop {
                let next = match carried.take() {
                    Some(n) => n,
                    None => tokio::select! {
                        m = inbound.message() => classify(&peer, m),
                        _ = shutdown.wait_for(|s| *s) => break,
                    },
                };
                let batch = match next {
                    Inbound::Batch(b) => b,
                    Inbound::End => break,
                    Inbound::Fail(status) => {
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                };
                let mut entries = match decode_batch(&peer, &regions, &batch) {
                    Ok(e) => e,
                    Err(m) => {
                        reject(&tx, &peer, m).await;
                        break;
                    }
                };
                // Coalesce: batches that arrived while the previous apply was
                // being committed join this one, so a busy link costs one
                // group commit per round instead of one per batch. Only
                // messages already received are taken; nothing waits.
                let mut malformed = None;
                while entries.len() < MAX_APPLY_ENTRIES {
                    let Some(m) = inbound.message().now_or_never() else {
                        break;
                    };
                    let b = match classify(&peer, m) {
                        Inbound::Batch(b) => b,
                        other => {
                            carried = Some(other);
                            break;
                        }
                    };
                    let last = entries.last().map_or(0, |e| e.seq);
                    let fits = entries.len() + b.entries.len() <= MAX_APPLY_ENTRIES
                        && b.entries.first().is_none_or(|e| e.seq > last);
                    if !fits {
                        carried = Some(Inbound::Batch(b));
                        break;
                    }
                    match decode_batch(&peer, &regions, &b) {
                        Ok(more) => entries.extend(more),
                        Err(m) => {
                            // Apply what came before it, then end the stream.
                            malformed = Some(m);
                            break;
                        }
                    }
                }
                let outcome = match shared.storage.apply(&peer, &hello.log_id, entries).await {
                    Ok(o) => o,
                    Err(e) => {
                        let _ = tx.send(Err(status_from(e))).await;
                        break;
                    }
                };
                shared
                    .metrics
                    .observe_latency(&peer, &outcome.latencies_micros);
                shared
                    .metrics
                    .applied
                    .get_or_create(&label)
                    .inc_by(outcome.applied as u64);
                shared.metrics.conflicts.inc_by(outcome.conflicts as u64);
                if outcome.drift_refused {
                    shared.metrics.drift_refusals.get_or_create(&label).inc();
                }
                let refused = outcome.refused.unwrap_or_default();
                if !refused.is_empty() {
                    tracing::warn!(%peer, applied_through = outcome.applied_through, reason = %refused, "refused replicated entries; the peer will retry");
                }
                let done = !refused.is_empty();
                if tx
                    .send(Ok(ack(outcome.applied_through, refused)))
                    .await
                    .is_err()
                    || done
                {
                    break;
                }
                if let Some(m) = malformed {
                    reject(&tx, &peer, m).await;
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Ends a stream over a malformed batch, telling the peer why.
async fn reject(tx: &mpsc::Sender<Result<pb::ShipResponse, Status>>, peer: &str, m: String) {
    tracing::warn!(%peer, error = %m, "rejected a malformed batch");
    let _ = tx.send(Err(Status::invalid_argument(m))).await;
}

/// One message of a replication stream, as the receiver acts on it.
enum Inbound {
    Batch(pb::Batch),
    End,
    Fail(Status),
}

fn classify(peer: &str, m: Result<Option<pb::ShipRequest>, Status>) -> Inbound {
    match m {
        Ok(Some(pb::ShipRequest {
            msg: Some(pb::ship_request::Msg::Batch(b)),
        })) => Inbound::Batch(b),
        Ok(None) => Inbound::End,
        Ok(Some(_)) => Inbound::Fail(Status::invalid_argument("expected a Batch after Hello")),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "replication stream ended");
            Inbound::End
        }
    }
}

fn to_pb(e: LogEntry) -> pb::LogEntry {
    pb::LogEntry {
        seq: e.seq,
        table: e.table,
        table_version: e.table_version.unwrap_or_default(),
        partition_key: e.key.partition,
        sort_key: e.key.sort,
        version: e.version,
        prev: e.prev.unwrap_or_default(),
        context: e.context,
        ttl: e.ttl,
        unit_pos: e.unit.0,
        unit_len: e.unit.1,
        tombstone: e.image.is_none(),
        image: e.image.unwrap_or_default(),
        commit_real_micros: e.commit_real,
    }
}

fn update_state(shared: &Shared, peer: &str, f: impl FnOnce(&mut PeerState)) {
    if let Some(s) = shared.peers.get(peer) {
        f(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Ships to one peer until shutdown, reconnecting with capped exponential
/// backoff and jitter.
pub(crate) async fn run_shipper(
    shared: Arc<Shared>,
    peer: PeerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let tuning = shared.config.replication.clone();
    let mut backoff = tuning.backoff_min;
    let mut rng = jitter_rng(&shared.config, &peer.name);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let result = ship_session(&shared, &peer, &mut shutdown).await;
        let mut was_connected = false;
        update_state(&shared, &peer.name, |s| {
            was_connected = s.connected;
            s.connected = false;
        });
        if was_connected {
            // The link worked; a fresh failure starts the backoff over.
            backoff = tuning.backoff_min;
        }
        let wait = match result {
            Ok(Session::Shutdown) => return,
            Ok(Session::Refused(reason)) => {
                update_state(&shared, &peer.name, |s| s.last_error = reason);
                backoff = tuning.backoff_min;
                tuning.refusal_retry
            }
            Err(e) => {
                tracing::debug!(peer = %peer.name, error = %e, "replication session failed");
                update_state(&shared, &peer.name, |s| s.last_error = e);
                let jitter = rng.random_range(0.5..1.0);
                let wait = backoff.mul_f64(jitter);
                backoff = (backoff * 2).min(tuning.backoff_max);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The reconnect-jitter source of one shipper: seeded per (region, peer)
/// when the config carries a seed, so simulations replay.
fn jitter_rng(config: &crate::RegionConfig, peer: &str) -> rand::rngs::SmallRng {
    use rand::SeedableRng;
    match config.seed {
        Some(seed) => {
            // FNV-1a over the link's names: stable across runs and builds.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
            for b in config.name.bytes().chain([b'>']).chain(peer.bytes()) {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            rand::rngs::SmallRng::seed_from_u64(h)
        }
        None => rand::rngs::SmallRng::from_os_rng(),
    }
}

enum Session {
    Shutdown,
    Refused(String),
}

/// The unacknowledged batches of one session, oldest first.
#[derive(Default)]
struct Window {
    /// (last seq, entries) of each batch.
    batches: VecDeque<(u64, usize)>,
    entries: usize,
}

impl Window {
    /// Whether another batch may be sent under the tuning's limits.
    fn open(&self, t: &crate::ReplicationTuning) -> bool {
        self.batches.len() < t.window && self.entries < t.window_entries
    }

    fn push(&mut self, last: u64, entries: usize) {
        self.batches.push_back((last, entries));
        self.entries += entries;
    }

    /// Forgets every batch the peer has applied through `acked`.
    fn ack(&mut self, acked: u64) {
        while let Some(&(last, n)) = self.batches.front() {
            if last > acked {
                break;
            }
            self.batches.pop_front();
            self.entries -= n;
        }
    }
}

async fn ship_session(
    shared: &Arc<Shared>,
    peer: &PeerConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Session, String> {
    let t = &shared.config.replication;
    let endpoint = Endpoint::from_shared(peer.url.clone())
        .map_err(|e| format!("bad peer url {}: {e}", peer.url))?
        .connect_timeout(t.connect_timeout)
        .timeout(Duration::from_secs(3600))
        .http2_keep_alive_interval(t.keepalive_interval)
        .keep_alive_timeout(t.keepalive_timeout)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    let channel = match &shared.config.dialer {
        None => endpoint.connect().await,
        Some(dialer) => {
            let dialer = dialer.clone();
            endpoint
                .connect_with_connector(tower::service_fn(move |uri: tonic::transport::Uri| {
                    let target = format!(
                        "{}:{}",
                        uri.host().unwrap_or_default(),
                        uri.port_u16().unwrap_or(80)
                    );
                    let dial = (dialer.0)(target);
                    async move { dial.await.map(hyper_util::rt::TokioIo::new) }
                }))
                .await
        }
    }
    .map_err(|e| format!("connect {}: {e}", peer.url))?;
    let mut client = ReplicationClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (log_id, log_head) = shared
        .storage
        .read(|r| Ok((r.log_id()?, r.log_head()?)))
        .await
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel(t.window + 2);
    let hello = pb::ShipRequest {
        msg: Some(pb::ship_request::Msg::Hello(pb::Hello {
            from_region: shared.config.name.clone(),
            to_region: peer.name.clone(),
            protocol: PROTOCOL,
            log_id,
        })),
    };
    tx.send(hello)
        .await
        .map_err(|_| "stream closed".to_string())?;
    let mut responses = client
        .ship(ReceiverStream::new(rx))
        .await
        .map_err(|e| format!("open stream: {}", e.message()))?
        .into_inner();
    let first = tokio::time::timeout(t.connect_timeout * 2, responses.message())
        .await
        .map_err(|_| "no Welcome from the peer in time".to_string())?
        .map_err(|e| format!("handshake: {}", e.message()))?;
    let mut persisted = tokio::time::Instant::now();
    let mut acked = match first.and_then(|m| m.msg) {
        Some(pb::ship_response::Msg::Welcome(w)) => w.applied_through,
        _ => return Err("the peer did not answer Hello with Welcome".into()),
    };
    if acked > log_head {
        return Err(format!(
            "the peer reports position {acked} in our log, which ends at {log_head}; refusing to skip entries"
        ));
    }
    let label = PeerLabel {
        peer: peer.name.clone(),
    };
    // The receiver's position is authoritative, even if it moved backwards
    // (a peer restored from an older copy needs those entries again).
    shared
        .storage
        .set_watermark(&peer.name, acked)
        .await
        .map_err(|e| e.to_string())?;
    shared
        .metrics
        .acked_seq
        .get_or_create(&label)
        .set(acked as i64);
    update_state(shared, &peer.name, |s| {
        s.connected = true;
        s.acked = acked;
        s.acked_live = true;
        s.last_error.clear();
    });
    tracing::info!(peer = %peer.name, resume_after = acked, "replication connected");

    let mut head = shared.storage.log_head();
    let mut sent = acked;
    let mut inflight = Window::default();
    loop {
        // Mark before reading: a commit that lands while we read wakes us again.
        head.mark_unchanged();
        while inflight.open(t) {
            let (after, n, bytes) = (sent, t.batch_entries, t.batch_bytes);
            let entries = shared
                .storage
                .log_after(after, n, bytes)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                break;
            };
            let n = entries.len();
            let batch = pb::Batch {
                entries: entries.into_iter().map(to_pb).collect(),
            };
            let req = pb::ShipRequest {
                msg: Some(pb::ship_request::Msg::Batch(batch)),
            };
            tx.send(req)
                .await
                .map_err(|_| "stream closed by the peer".to_string())?;
            inflight.push(last, n);
            sent = last;
        }
        let open = inflight.open(t);
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(Session::Shutdown),
            msg = responses.message() => {
                let msg = msg.map_err(|e| format!("stream: {}", e.message()))?;
                let Some(pb::ShipResponse { msg: Some(pb::ship_response::Msg::Ack(a)) }) = msg else {
                    return Err("stream ended by the peer".into());
                };
                // Another stream of ours (an older session still draining)
                // may have moved the peer past what this one sent: skip ahead.
                sent = sent.max(a.applied_through);
                if a.applied_through > acked {
                    acked = a.applied_through;
                    shared.metrics.acked_seq.get_or_create(&label).set(acked as i64);
                    update_state(shared, &peer.name, |s| s.acked = acked);
                    // Status reads the position from memory; the stored copy
                    // only serves a restart, where a stale one costs nothing
                    // (the receiver's Welcome is authoritative), so it is
                    // written at most every WATERMARK_EVERY, not per ack.
                    if persisted.elapsed() >= WATERMARK_EVERY {
                        shared.storage.set_watermark(&peer.name, acked).await.map_err(|e| e.to_string())?;
                        persisted = tokio::time::Instant::now();
                    }
                }
                inflight.ack(acked);
                if !a.refused.is_empty() {
                    return Ok(Session::Refused(a.refused));
                }
            }
            changed = head.changed(), if open => {
                if changed.is_err() {
                    return Ok(Session::Shutdown);
                }
            }
            // A safety net: re-read the log even if a wake-up was missed.
            _ = tokio::time::sleep(Duration::from_millis(500)), if open => {}
        }
    }
}
