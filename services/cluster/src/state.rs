//! What a region holds, read from its store file (read-only, so the region
//! may still be running), in the convergence checker's terms. Drills, live
//! and simulated, and the end-to-end tests judge a cluster from this one
//! reading.

use std::path::{Path, PathBuf};

use meridian_scenario::scenario::Action;
use meridian_scenario::{Head, Heads};
use meridian_store::StoreError;

/// Every head of `table`, tombstones included, in the store under
/// `data_dir`.
pub fn heads(data_dir: &Path, table: &str) -> Result<Heads, StoreError> {
    let rows = meridian_store::open_reader(data_dir)?.heads(table)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                (table.to_string(), row.key),
                Head {
                    version: row.version,
                    image: row.image,
                },
            )
        })
        .collect())
}

/// What replaying a region's change stream of `table` from its start
/// gives: the items by key (the last new image of each key not removed
/// since), and how many records and REMOVEs it read; beside it, how many
/// live items the store says it turned into tombstones, counted apart
/// from the stream, which the REMOVEs must equal. Needs a view type that
/// keeps new images.
pub struct Replayed {
    pub items: std::collections::BTreeMap<meridian_core::EncodedKey, Vec<u8>>,
    /// Every key with a record in what the stream still holds.
    pub seen: std::collections::BTreeSet<meridian_core::EncodedKey>,
    pub records: u64,
    pub removes: u64,
    pub tombstones_applied: u64,
    /// Records of the table's stream went with its retention: the replay
    /// starts part-way, so only the keys `seen` can be compared, and the
    /// REMOVEs are not all there to count.
    pub trimmed: bool,
}

pub fn stream_replay(data_dir: &Path, table: &str) -> Result<Replayed, StoreError> {
    use meridian_store::stream::Event;
    let reader = meridian_store::open_reader(data_dir)?;
    let mut out = Replayed {
        items: Default::default(),
        seen: Default::default(),
        records: 0,
        removes: 0,
        tombstones_applied: reader.removes_applied(table)?,
        trimmed: false,
    };
    // Streams of the table as it is now: a table deleted and created again
    // keeps its old streams readable, but they are of items that are gone.
    let Some((_, incarnation)) = reader.table_def(table)? else {
        return Ok(out);
    };
    for (label, _) in reader.streams_held(table)? {
        if label < incarnation.hlc.physical {
            continue;
        }
        let mut after = 0;
        loop {
            let page = reader.stream_records(table, label, after, None, 10_000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for rec in page {
                out.records += 1;
                out.seen.insert(rec.key.clone());
                match (rec.event, rec.new) {
                    (Event::Remove, _) => {
                        out.removes += 1;
                        out.items.remove(&rec.key);
                    }
                    (_, Some(image)) => {
                        out.items.insert(rec.key, image);
                    }
                    (_, None) => {
                        return Err(StoreError::Corrupt(format!(
                            "stream record {} of {table} keeps no new image; a replay needs NEW_IMAGE or NEW_AND_OLD_IMAGES",
                            rec.seq
                        )));
                    }
                }
            }
        }
        // Read after the records: the region may still be trimming, and
        // a trim between two pages must count as one.
        out.trimmed |= !reader.stream_trims(table, label)?.is_empty();
    }
    Ok(out)
}

/// How far a reading of a region's own writes came: the identity of the
/// log it read (its newest epoch then) and the last position read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogCursor {
    pub log_id: String,
    pub seq: u64,
}

/// The writes a region committed itself (its clients' writes, not those it
/// applied from peers) to one table, read from its log since a cursor.
pub struct OwnWrites {
    /// In log order. A TTL delete is not among them: no client asked for it.
    pub writes: Vec<meridian_scenario::AckedWrite>,
    pub cursor: LogCursor,
    /// Log entries (of any table) truncated before this reading could see
    /// them: writes nobody judges.
    pub missed: u64,
    /// The log is not the one the cursor read (the store was wiped,
    /// restored or seeded since), so it was read from its start.
    pub new_log: bool,
}

/// Where the log of the store under `data_dir` is now: reading from here
/// sees only what is committed after.
pub fn log_cursor(data_dir: &Path) -> Result<LogCursor, StoreError> {
    let reader = meridian_store::open_reader(data_dir)?;
    Ok(LogCursor {
        log_id: reader.log_id()?,
        seq: reader.log_head()?,
    })
}

/// Most log entries one [`own_writes`] reads: the rest wait for the next.
const OWN_WRITES_MAX: usize = 1_000_000;

/// The writes `region` committed to the current incarnation of `table`
/// since `from`, from the store under `data_dir` (read-only, so the region
/// may be running). A drill of an application's own load judges these as
/// the acknowledged writes: a region acknowledges a write only once it is
/// committed, so they are every write a client may have seen succeed.
pub fn own_writes(
    data_dir: &Path,
    region: &str,
    table: &str,
    from: &LogCursor,
) -> Result<OwnWrites, StoreError> {
    use meridian_core::Version;
    let reader = meridian_store::open_reader(data_dir)?;
    let epochs = reader.epochs()?;
    // The log goes on from the cursor when the cursor's epoch is one of
    // this log's and every epoch since began past what was read; a store
    // rolled back to a copy begins a new epoch at a position already read.
    let continues = epochs
        .iter()
        .position(|e| e.id == from.log_id)
        .is_some_and(|i| epochs[i + 1..].iter().all(|e| e.start > from.seq));
    let mut after = if continues { from.seq } else { 0 };
    let start = reader.log_start()?;
    let mut out = OwnWrites {
        writes: Vec::new(),
        cursor: LogCursor {
            log_id: epochs.last().map(|e| e.id.clone()).unwrap_or_default(),
            seq: after,
        },
        missed: start.saturating_sub(after + 1),
        new_log: !continues && !from.log_id.is_empty(),
    };
    let Some((_, incarnation)) = reader.table_def(table)? else {
        return Ok(out);
    };
    let incarnation = incarnation.to_bytes();
    let version = |b: &[u8]| Version::from_bytes(b).map_err(|e| StoreError::Corrupt(e.to_string()));
    let mut read = 0;
    while read < OWN_WRITES_MAX {
        let page = reader.log_after(after, 10_000, 8 << 20)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        read += page.len();
        for m in page {
            if m.table != table
                || m.ttl
                || m.origin() != Some(region)
                || m.table_version.as_deref() != Some(&incarnation[..])
            {
                continue;
            }
            let image = match &m.image {
                Some(b) => Some(
                    meridian_core::decode_item(b)
                        .map_err(|e| StoreError::Corrupt(format!("log entry {}: {e}", m.seq)))?,
                ),
                None => None,
            };
            out.writes.push(meridian_scenario::AckedWrite {
                table: m.table.clone(),
                key: m.key.clone(),
                version: version(&m.version)?,
                prev: m.prev.as_deref().map(version).transpose()?,
                image,
                seen_through: None,
            });
        }
    }
    out.cursor.seq = after;
    Ok(out)
}

/// One secondary index of a table as a region's store holds it.
pub struct HeldIndex {
    pub def: meridian_core::index::IndexDef,
    pub entries: std::collections::BTreeSet<meridian_store::IndexPos>,
    /// Still being built from the table's items.
    pub building: bool,
}

/// Every secondary index of `table` in the store under `data_dir`, with
/// its entries as stored.
pub fn indexes(data_dir: &Path, table: &str) -> Result<Vec<HeldIndex>, StoreError> {
    let reader = meridian_store::open_reader(data_dir)?;
    let Some((def, _)) = reader.table_def(table)? else {
        return Ok(Vec::new());
    };
    let building = reader.indexes_building(table)?;
    def.indexes
        .into_iter()
        .map(|i| {
            Ok(HeldIndex {
                entries: reader.index_entries(table, &i.name)?.into_iter().collect(),
                building: building.contains(&i.name),
                def: i,
            })
        })
        .collect()
}

/// Why a disaster could not be applied to a data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file operation failed: `what` says which, on `path`.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// `restore` of a snapshot never taken.
    #[error("no snapshot {name:?} of {}", data_dir.display())]
    NoSnapshot { name: String, data_dir: PathBuf },
    /// The action is not a disaster to a data directory.
    #[error("{0} does not touch a data directory")]
    NotData(&'static str),
}

/// Applies a scenario's disaster to the data directory `data_dir` of a
/// region that is down: `wipe` deletes it, `snapshot` copies it aside,
/// `restore` puts a copy back in its place. Live drills and the simulator
/// both do it here, on real files.
pub fn apply_to_data(data_dir: &Path, action: &Action) -> Result<(), DataError> {
    let fail = |what: &'static str| {
        move |source: std::io::Error| DataError::Io {
            what,
            path: data_dir.to_path_buf(),
            source,
        }
    };
    match action {
        Action::Wipe { .. } => match std::fs::remove_dir_all(data_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(fail("deleting")(e)),
            _ => Ok(()),
        },
        Action::Snapshot { name, .. } => {
            let to = snapshot_dir(data_dir, name);
            if to.exists() {
                std::fs::remove_dir_all(&to).map_err(fail("replacing the snapshot of"))?;
            }
            copy_files(data_dir, &to).map_err(fail("copying"))
        }
        Action::Restore { name, .. } => {
            let from = snapshot_dir(data_dir, name);
            if !from.is_dir() {
                return Err(DataError::NoSnapshot {
                    name: name.clone(),
                    data_dir: data_dir.to_path_buf(),
                });
            }
            if data_dir.exists() {
                std::fs::remove_dir_all(data_dir).map_err(fail("deleting"))?;
            }
            copy_files(&from, data_dir).map_err(fail("restoring"))
        }
        other => Err(DataError::NotData(other.name())),
    }
}

/// Where snapshot `name` of the data directory `data_dir` is kept: beside
/// it, so it goes with the cluster's data.
fn snapshot_dir(data_dir: &Path, name: &str) -> PathBuf {
    let mut dir = data_dir.as_os_str().to_owned();
    dir.push(format!(".snapshot-{name}"));
    PathBuf::from(dir)
}

/// Copies the files of directory `from` into `to`, which is created.
pub fn copy_files(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// Every conflict record a region holds for `table`, oldest first, read
/// page by page through its admin API; at most `max` (the caller says what
/// more than that means).
pub async fn conflicts(
    admin: &mut meridian_proto::v1::admin_client::AdminClient<tonic::transport::Channel>,
    table: &str,
    max: usize,
) -> Result<Vec<meridian_proto::v1::ConflictRecord>, tonic::Status> {
    use meridian_proto::v1 as pb;
    let mut out = Vec::new();
    let mut after = 0;
    while out.len() < max {
        let page = admin
            .conflicts(pb::ConflictsRequest {
                table: table.into(),
                limit: (max - out.len()).min(10_000) as u32,
                after,
            })
            .await?
            .into_inner();
        out.extend(page.conflicts);
        if page.next == 0 {
            break;
        }
        after = page.next;
    }
    Ok(out)
}
