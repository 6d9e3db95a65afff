//! The `Repair` service: a peer's side of a comparison. Every call is a
//! read from one snapshot of this region's store; nothing is kept between
//! calls. A peer's requests are untrusted: table names, nodes and keys are
//! validated and bounded before anything is read, and a refusal is counted
//! in `meridian_repair_refused_total{call}`.

use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

use meridian_core::digest::NodeId;
use meridian_core::schema::validate_table_name;
use meridian_core::{CATALOG_TABLE, EncodedKey, Mutation, Timestamp, Version};
use meridian_proto::v1 as pb;
use meridian_proto::v1::repair_server::Repair;
use tonic::{Request, Response, Status};

use super::plan::{FETCH_BYTES, MAX_HEADS, MAX_KEYS, MAX_NODES};
use super::{children_to_pb, node_from_pb, summary_to_pb};
use crate::Shared;
use crate::convert::{mutation_to_pb, version_to_pb};
use crate::metrics::CallLabel;
use crate::status::status_from;

pub struct RepairApi {
    pub(crate) shared: Arc<Shared>,
    /// One snapshot at a time: each is a full copy of the store on disk.
    pub(crate) snapshots: Arc<tokio::sync::Semaphore>,
}

/// The snapshot's pieces: 1 MiB, well under a message's limit.
const SNAPSHOT_CHUNK: usize = 1 << 20;

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotChunk, Status>> + Send>>;

/// The snapshot file being streamed; deleted when the stream ends or the
/// caller goes away.
struct SnapshotFile {
    path: PathBuf,
    file: std::fs::File,
    left: u64,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for SnapshotFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl RepairApi {
    /// Counts a refused request and says why.
    fn refuse(&self, call: &'static str, why: String) -> Status {
        self.shared
            .metrics
            .repair_refused
            .get_or_create(&CallLabel { call })
            .inc();
        tracing::warn!(call, reason = %why, "refused a repair request");
        Status::invalid_argument(why)
    }

    fn table(&self, call: &'static str, table: &str) -> Result<String, Status> {
        if table != CATALOG_TABLE {
            validate_table_name(table).map_err(|e| self.refuse(call, format!("table: {e}")))?;
        }
        Ok(table.to_string())
    }

    fn nodes(&self, call: &'static str, nodes: &[pb::Node]) -> Result<Vec<NodeId>, Status> {
        if nodes.is_empty() || nodes.len() > MAX_NODES {
            return Err(self.refuse(
                call,
                format!("nodes: {} given, 1 to {MAX_NODES} allowed", nodes.len()),
            ));
        }
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| node_from_pb(n, &format!("nodes[{i}]")))
            .collect::<Result<_, _>>()
            .map_err(|e| self.refuse(call, e))
    }
}

/// Entries numbered 1, 2, … as a batch's validation expects: a head is not
/// a log entry and has no position of its own.
fn numbered(entries: Vec<Mutation>) -> Vec<pb::LogEntry> {
    entries
        .into_iter()
        .zip(1u64..)
        .map(|(mut m, seq)| {
            m.seq = seq;
            mutation_to_pb(m)
        })
        .collect()
}

fn key_from_pb(k: &pb::KeyRef) -> EncodedKey {
    EncodedKey {
        partition: k.partition_key.clone(),
        sort: k.sort_key.clone(),
    }
}

#[tonic::async_trait]
impl Repair for RepairApi {
    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        req: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let caller = crate::tls::CallerCert::of(&req);
        let from = req.into_inner().from_region;
        if !self.shared.config.peers.iter().any(|p| p.name == from) {
            return Err(self.refuse(
                "snapshot",
                format!("from_region: {from:?} is not a peer of this region"),
            ));
        }
        caller
            .check(self.shared.config.tls.as_ref(), &from)
            .inspect_err(|s| {
                // Counted and logged as any refusal, answered with its own code.
                let _ = self.refuse("snapshot", s.message().to_string());
            })?;
        let permit = self.snapshots.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted("a snapshot is being taken for another region; try later")
        })?;
        let path = self
            .shared
            .config
            .data_dir
            .join(format!("snapshot-for-{from}.db"));
        let _ = std::fs::remove_file(&path);
        let p = path.clone();
        let t = std::time::Instant::now();
        let taken = self
            .shared
            .storage
            .read(move |r| {
                // A store with no table has nothing a snapshot could give.
                let tables = r
                    .digest_roots()?
                    .into_iter()
                    .any(|(t, s)| t == CATALOG_TABLE && s.live > 0);
                tables.then(|| r.snapshot_to(&p)).transpose()
            })
            .await;
        let bytes = match taken {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return Err(Status::failed_precondition(
                    "this region holds no table yet",
                ));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(status_from(e));
            }
        };
        let file = std::fs::File::open(&path).map_err(|e| Status::internal(e.to_string()))?;
        tracing::info!(peer = %from, bytes, millis = t.elapsed().as_millis() as u64, "sending a snapshot of the store");
        let state = SnapshotFile {
            path,
            file,
            left: bytes,
            _permit: permit,
        };
        let first = std::sync::atomic::AtomicBool::new(true);
        let stream = futures::stream::unfold(state, move |mut st| {
            let total = first
                .swap(false, std::sync::atomic::Ordering::Relaxed)
                .then_some(bytes);
            async move {
                if st.left == 0 && total.is_none() {
                    return None;
                }
                let mut data = vec![0; SNAPSHOT_CHUNK.min(st.left as usize)];
                if let Err(e) = st.file.read_exact(&mut data) {
                    st.left = 0;
                    return Some((
                        Err(Status::internal(format!("reading the snapshot: {e}"))),
                        st,
                    ));
                }
                st.left -= data.len() as u64;
                let chunk = pb::SnapshotChunk {
                    data,
                    total_bytes: total.unwrap_or(0),
                };
                Some((Ok(chunk), st))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn roots(
        &self,
        req: Request<pb::RootsRequest>,
    ) -> Result<Response<pb::RootsResponse>, Status> {
        let caller = crate::tls::CallerCert::of(&req);
        let from = req.into_inner().from_region;
        if !self.shared.config.peers.iter().any(|p| p.name == from) {
            return Err(self.refuse(
                "roots",
                format!("from_region: {from:?} is not a peer of this region"),
            ));
        }
        caller
            .check(self.shared.config.tls.as_ref(), &from)
            .inspect_err(|s| {
                // Counted and logged as any refusal, answered with its own code.
                let _ = self.refuse("roots", s.message().to_string());
            })?;
        // The floor is taken before the log's epoch is read: a new epoch
        // (a restart) only ever comes with a new process and a new floor.
        let (log_head, floor) = self.shared.storage.floor();
        let (roots, high_water, log_id, horizon) = self
            .shared
            .storage
            .read(move |r| {
                Ok((
                    r.digest_roots()?,
                    r.high_water(&from)?,
                    r.log_id()?,
                    r.purge_horizon()?,
                ))
            })
            .await
            .map_err(status_from)?;
        let me = &self.shared.config.name;
        let at = |hlc: Timestamp, origin: &str| version_to_pb(&Version::new(hlc, origin));
        let peers: Vec<String> = self
            .shared
            .config
            .peers
            .iter()
            .map(|p| p.name.clone())
            .collect();
        Ok(Response::new(pb::RootsResponse {
            log_id,
            log_head,
            floor: Some(at(floor, me)),
            claims: self
                .shared
                .purge
                .report(&peers)
                .into_iter()
                .map(|(origin, t)| at(t, &origin))
                .collect(),
            purge_horizon: (horizon != Timestamp::ZERO).then(|| at(horizon, me)),
            tables: roots
                .into_iter()
                .map(|(table, s)| pb::TableRoot {
                    table,
                    root: Some(summary_to_pb(NodeId::ROOT, s)),
                })
                .collect(),
            high_water: high_water.as_ref().map(version_to_pb),
        }))
    }

    async fn children(
        &self,
        req: Request<pb::ChildrenRequest>,
    ) -> Result<Response<pb::ChildrenResponse>, Status> {
        let req = req.into_inner();
        let table = self.table("children", &req.table)?;
        let nodes = self.nodes("children", &req.nodes)?;
        let children = self
            .shared
            .storage
            .read(move |r| r.digest_children_of(&table, &nodes))
            .await
            .map_err(status_from)?;
        Ok(Response::new(pb::ChildrenResponse {
            nodes: children.iter().map(|c| children_to_pb(c)).collect(),
        }))
    }

    async fn heads(
        &self,
        req: Request<pb::HeadsRequest>,
    ) -> Result<Response<pb::HeadsResponse>, Status> {
        let req = req.into_inner();
        let table = self.table("heads", &req.table)?;
        let nodes = self.nodes("heads", &req.nodes)?;
        let heads = self
            .shared
            .storage
            .read(move |r| r.heads_under(&table, &nodes, MAX_HEADS))
            .await
            .map_err(|e| self.refuse("heads", status_from(e).message().to_string()))?;
        Ok(Response::new(pb::HeadsResponse {
            heads: heads
                .into_iter()
                .map(|h| pb::RepairHead {
                    partition_key: h.key.partition,
                    sort_key: h.key.sort,
                    version: h.version,
                    tombstone: h.tombstone,
                    entry_hash: h.digest.entry.hash.to_be_bytes().to_vec(),
                })
                .collect(),
        }))
    }

    async fn fetch(
        &self,
        req: Request<pb::FetchRequest>,
    ) -> Result<Response<pb::FetchResponse>, Status> {
        let req = req.into_inner();
        let table = self.table("fetch", &req.table)?;
        match (req.keys.is_empty(), req.nodes.is_empty()) {
            (false, true) => {
                if req.keys.len() > MAX_KEYS {
                    return Err(self.refuse(
                        "fetch",
                        format!("keys: {} given, at most {MAX_KEYS} allowed", req.keys.len()),
                    ));
                }
                let keys: Vec<EncodedKey> = req.keys.iter().map(key_from_pb).collect();
                let entries = self
                    .shared
                    .storage
                    .read(move |r| r.entries(&table, &keys))
                    .await
                    .map_err(status_from)?;
                Ok(Response::new(pb::FetchResponse {
                    entries: numbered(entries),
                    more_after: None,
                }))
            }
            (true, false) => {
                let nodes = self.nodes("fetch", &req.nodes)?;
                let after = req.after.as_ref().map(key_from_pb);
                let (entries, more) = self
                    .shared
                    .storage
                    .read(move |r| {
                        r.entries_under(&table, &nodes, after.as_ref(), (MAX_KEYS, FETCH_BYTES))
                    })
                    .await
                    .map_err(status_from)?;
                let more_after = match (more, entries.last()) {
                    (true, Some(last)) => Some(pb::KeyRef {
                        partition_key: last.key.partition.clone(),
                        sort_key: last.key.sort.clone(),
                    }),
                    _ => None,
                };
                Ok(Response::new(pb::FetchResponse {
                    entries: numbered(entries),
                    more_after,
                }))
            }
            _ => Err(self.refuse(
                "fetch",
                "give either keys or nodes, not both and not neither".into(),
            )),
        }
    }
}
