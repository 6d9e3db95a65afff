//! Seeding: a region that starts on an empty data directory copies a
//! peer's store before it opens its own (docs/repair.md, "Seeding from a
//! peer"). The peer sends a consistent snapshot of its database
//! (the `Repair.Snapshot` call); [`meridian_store::adopt`] checks it as
//! untrusted input and makes it this region's store. Peers are asked in the
//! cluster file's order; one that cannot be reached, holds no table yet,
//! or sends a snapshot that fails a check is skipped, and if none gives
//! one the region starts empty and repair rounds rebuild it, as before.

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
use crate::transport::dial;

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
            Err(Failed::Unreachable(why)) => {
                tracing::info!(region = %config.name, peer = %peer.name, reason = %why, "peer unreachable; not seeding from it");
            }
            Err(Failed::Refused(why)) => {
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

/// Why a peer gave no snapshot.
enum Failed {
    /// It could not be reached: down, or not started yet.
    Unreachable(String),
    /// It answered, but the transfer or the snapshot failed.
    Refused(String),
}

impl From<String> for Failed {
    fn from(why: String) -> Self {
        Failed::Refused(why)
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
) -> Result<Option<(u64, Seeded)>, Failed> {
    let channel = dial(config, peer)
        .await
        .map_err(|e| Failed::Unreachable(e.to_string()))?;
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
            return Err(Failed::Unreachable(s.message().to_string()));
        }
        Err(s) => return Err(format!("{:?}: {}", s.code(), s.message()).into()),
    };
    std::fs::create_dir_all(&config.data_dir).map_err(|e| e.to_string())?;
    let mut file = std::fs::File::create(part).map_err(|e| format!("{}: {e}", part.display()))?;
    let mut total = None;
    let mut got = 0u64;
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
    {
        let want = *total.get_or_insert(chunk.total_bytes);
        if want > MAX_SNAPSHOT_BYTES {
            return Err(
                format!("total_bytes: {want} is past the limit of {MAX_SNAPSHOT_BYTES}").into(),
            );
        }
        got += chunk.data.len() as u64;
        if got > want {
            return Err(format!("the snapshot runs past its total_bytes of {want}").into());
        }
        file.write_all(&chunk.data).map_err(|e| e.to_string())?;
    }
    if total != Some(got) {
        return Err(format!(
            "the snapshot ended at {got} bytes of {}",
            total.unwrap_or(0)
        )
        .into());
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
            .map_err(|e| format!("checking the snapshot panicked: {e}"))?,
    }
    .map_err(|e| e.to_string())?;
    Ok(Some((got, seeded)))
}
