//! Seeding: a region that starts on an empty data directory copies a
//! peer's store before it opens its own (docs/repair.md, "Seeding from a
//! peer"). The peer sends a consistent snapshot of its database
//! (the `Repair.Snapshot` call); [`meridian_store::adopt`] checks it as
//! untrusted input and makes it this region's store. Peers are asked in the
//! cluster file's order; one that cannot be reached, holds no table yet,
//! or sends a snapshot that fails a check is skipped, and if none gives
//! one the region starts empty and repair rounds rebuild it: seeding only
//! shortens the rebuild, so no peer is ever needed for a region to start.

use std::io::Write;
use std::path::{Path, PathBuf};
// tokio's clock: virtual under a simulated drill, so the seeding time it
// reports is a pure function of the seed like every other figure.
use tokio::time::Instant;

use meridian_proto::v1 as pb;
use meridian_proto::v1::repair_client::RepairClient;
use meridian_store::Seeded;

use crate::Mode;
use crate::config::{PeerConfig, RegionConfig};
use crate::replication::MAX_MESSAGE_BYTES;
use crate::transport::{DialError, dial};

/// The largest snapshot a region accepts: a peer's claim of a bigger file
/// is refused before anything is written.
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 40;

/// What seeding did, for the log and the region's status.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub peer: String,
    pub bytes: u64,
    pub seeded: Seeded,
    pub micros: u64,
}

/// Seeds the store of `config` from the first peer that gives a snapshot,
/// if the store does not exist yet. `max_physical` is the drift guard's
/// bound for the versions the snapshot may hold.
pub async fn from_peers(
    config: &RegionConfig,
    max_physical: u64,
    mode: Mode,
) -> Option<SeedReport> {
    remove_scratch(&config.data_dir);
    if !config.seed_from_peers || meridian_store::db_path(&config.data_dir).exists() {
        return None;
    }
    for peer in &config.peers {
        let started = Instant::now();
        let part = config
            .data_dir
            .join(format!("seed-from-{}.part", peer.name));
        match from_peer(config, peer, &part, max_physical, mode).await {
            Ok(Some((bytes, seeded))) => {
                let report = SeedReport {
                    peer: peer.name.clone(),
                    bytes,
                    seeded,
                    micros: started.elapsed().as_micros() as u64,
                };
                tracing::info!(
                    region = %config.name, peer = %report.peer, bytes,
                    items = report.seeded.items, tombstones = report.seeded.tombstones,
                    millis = report.micros / 1000,
                    "seeded the empty store from a peer's snapshot"
                );
                return Some(report);
            }
            Ok(None) => {
                tracing::info!(region = %config.name, peer = %peer.name, "peer holds no table; not seeding from it");
            }
            // Usual when a whole cluster starts at once.
            Err(why) if why.unreachable() => {
                tracing::info!(region = %config.name, peer = %peer.name, reason = %why, "peer unreachable; not seeding from it");
            }
            Err(why) => {
                tracing::warn!(region = %config.name, peer = %peer.name, reason = %why, "could not seed from this peer");
            }
        }
        let _ = std::fs::remove_file(&part);
    }
    None
}

/// Deletes the scratch files a crash left behind: snapshots this region
/// was streaming to peers, and a copy it was receiving.
fn remove_scratch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let scratch = (name.starts_with("snapshot-for-") && name.ends_with(".db"))
            || (name.starts_with("seed-from-") && name.ends_with(".part"));
        if scratch {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Why a peer gave no snapshot. Whether it could be reached at all decides
/// how loudly that is said ([`SeedError::unreachable`]).
#[derive(Debug, thiserror::Error)]
enum SeedError {
    /// No connection: the peer is down, or not started yet.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// The peer's server answered that it is not serving yet.
    #[error("{}", .0.message())]
    Unavailable(tonic::Status),
    /// The snapshot call failed.
    #[error("{:?}: {}", .0.code(), .0.message())]
    Call(tonic::Status),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("total_bytes: {0} is past the limit of {MAX_SNAPSHOT_BYTES}")]
    TooLarge(u64),
    #[error("the snapshot runs past its total_bytes of {0}")]
    PastTotal(u64),
    #[error("the snapshot ended at {got} bytes of {total}")]
    Short { got: u64, total: u64 },
    #[error("checking the snapshot panicked: {0}")]
    Panicked(tokio::task::JoinError),
    /// The copy failed a check ([`meridian_store::adopt`]).
    #[error(transparent)]
    Adopt(#[from] meridian_store::StoreError),
}

impl SeedError {
    /// The peer could not be reached, as is usual when a whole cluster
    /// starts at once; every other failure is the peer's or the copy's.
    fn unreachable(&self) -> bool {
        matches!(self, SeedError::Dial(_) | SeedError::Unavailable(_))
    }
}

/// Fetches `peer`'s snapshot into `part` and adopts it. `Ok(None)`: the
/// peer holds no table.
async fn from_peer(
    config: &RegionConfig,
    peer: &PeerConfig,
    part: &Path,
    max_physical: u64,
    mode: Mode,
) -> Result<Option<(u64, Seeded)>, SeedError> {
    let channel = dial(config, peer).await?;
    let t = Instant::now();
    let mut client = RepairClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut stream = match client
        .snapshot(pb::SnapshotRequest {
            from_region: config.name.clone(),
        })
        .await
    {
        Ok(s) => s.into_inner(),
        Err(s) if s.code() == tonic::Code::FailedPrecondition => return Ok(None),
        Err(s) if s.code() == tonic::Code::Unavailable => {
            return Err(SeedError::Unavailable(s));
        }
        Err(s) => return Err(SeedError::Call(s)),
    };
    std::fs::create_dir_all(&config.data_dir)?;
    let mut file = std::fs::File::create(part).map_err(|source| SeedError::Create {
        path: part.to_path_buf(),
        source,
    })?;
    let mut total = None;
    let mut got = 0u64;
    while let Some(chunk) = stream.message().await.map_err(SeedError::Call)? {
        let want = *total.get_or_insert(chunk.total_bytes);
        if want > MAX_SNAPSHOT_BYTES {
            return Err(SeedError::TooLarge(want));
        }
        got += chunk.data.len() as u64;
        if got > want {
            return Err(SeedError::PastTotal(want));
        }
        file.write_all(&chunk.data)?;
    }
    if total != Some(got) {
        return Err(SeedError::Short {
            got,
            total: total.unwrap_or(0),
        });
    }
    drop(file);
    tracing::debug!(millis = t.elapsed().as_millis() as u64, "seed: fetched");
    let (dir, region, from, part): (PathBuf, String, String, PathBuf) = (
        config.data_dir.clone(),
        config.name.clone(),
        peer.name.clone(),
        part.to_path_buf(),
    );
    let adopt = move || meridian_store::adopt(&part, &dir, &region, &from, max_physical);
    // Checking the copy reads all of it; off the async workers when live.
    let seeded = match mode {
        Mode::Inline => adopt(),
        Mode::Threads => tokio::task::spawn_blocking(adopt)
            .await
            .map_err(SeedError::Panicked)?,
    }?;
    Ok(Some((got, seeded)))
}
