//! On-demand backups of a table and restores from them, in this region.
//!
//! As in DynamoDB, a backup belongs to the region that took it: it is the
//! table as this region held it at one position of its history
//! ([`meridian_store::backup`]), kept in the region's backup directory,
//! apart from its data directory, so a lost disk leaves it. A restore
//! creates a new table through the catalog, like CreateTable, and loads the
//! backup's items into it as this region's own writes, so they replicate
//! to every replica of the new table by the ordinary log.
//!
//! This file keeps the backups' state ([`Backups`], which the region's
//! shared state holds) and their records; the operations, which run
//! through the region's handle, are [`handle`]'s.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meridian_core::Version;
use meridian_store::StoreError;
use meridian_store::backup::{BackupFile, BackupMeta, PARTIAL_SUFFIX};

use crate::ops::OpError;

mod handle;

/// The extension of a finished backup file.
const EXTENSION: &str = "backup";
/// The extension of the file a restore to a point in time loads from; it
/// is deleted once loaded, and at start-up whatever a crash left.
const POINT_IN_TIME: &str = "pitr";

/// Items a restore reads from the backup file at a time.
const RESTORE_PAGE: usize = 1_000;
/// Items one restore write carries: one request, one unit of the log.
const RESTORE_WRITE: usize = 100;
/// Restore writes in flight at once, so group commit can batch them.
const RESTORE_IN_FLIGHT: usize = 16;

/// One backup this region holds.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupRecord {
    /// `<created ms, 14 digits>-<8 hex digits>`, as DynamoDB forms the
    /// last part of a backup's ARN; unique in this region.
    pub id: String,
    pub meta: BackupMeta,
    /// The backup file's size.
    pub size_bytes: u64,
}

/// A table being loaded from a backup in this region.
#[derive(Clone, Debug)]
pub struct Restore {
    /// The backup it reads; `None` for a restore to a point in time.
    pub backup_id: Option<String>,
    /// The table the backup was of.
    pub source_table: String,
    /// The instant the table is restored to, µs: the backup's time, or
    /// the point in time asked for.
    pub restored_to: u64,
    /// When the restore began, µs since the epoch.
    pub started_micros: u64,
    /// Whether items are still being loaded.
    pub in_progress: bool,
    /// Items loaded so far, of `total`.
    pub loaded: u64,
    pub total: u64,
    /// Why loading stopped early, if it did.
    pub error: Option<String>,
}

/// This region's backups, and the restores it has run since it started.
pub struct Backups {
    dir: PathBuf,
    /// One backup is taken at a time: the id a backup gets is free until
    /// its file is in place, and the disk serves one copy at full speed.
    taking: tokio::sync::Mutex<()>,
    index: Mutex<BTreeMap<String, BackupRecord>>,
    /// By target table and its incarnation (the catalog version that
    /// created it), so a table recreated under the same name is not taken
    /// for the restored one.
    restores: Mutex<HashMap<String, Running>>,
    /// Restores a previous run left unfinished, to resume once the region
    /// serves ([`crate::ops::RegionHandle::resume_restores`]).
    unfinished: Mutex<Vec<Journal>>,
}

/// A restore being loaded, as recorded on disk
/// (`<backup dir>/restores/<table>.toml`) from the table's creation until its last item is written,
/// so a region that stops part-way resumes it when it starts again.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Journal {
    /// The table being loaded, and the catalog version that created it.
    table: String,
    incarnation: String,
    /// The file it loads, in the backup directory.
    file: String,
    backup_id: Option<String>,
    /// A file made for this restore alone (a point in time), deleted once loaded.
    temporary: bool,
    source_table: String,
    restored_to: u64,
    started_micros: u64,
    total: u64,
}

impl Journal {
    fn dir(backups: &Path) -> PathBuf {
        backups.join("restores")
    }

    fn path(&self, backups: &Path) -> PathBuf {
        Self::dir(backups).join(format!("{}.toml", self.table))
    }

    /// Every record in the backup directory `backups`; one that cannot be
    /// read is reported and left.
    fn read(backups: &Path) -> Vec<Journal> {
        let Ok(entries) = std::fs::read_dir(Self::dir(backups)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
            .filter_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                toml::from_str(&text)
                    .inspect_err(|err| tracing::warn!(path = %e.path().display(), error = %err, "skipping an unreadable restore record"))
                    .ok()
            })
            .collect()
    }

    /// Writes the record durably (a new file renamed into place).
    fn write(&self, backups: &Path) -> Result<(), BackupError> {
        let dir = Self::dir(backups);
        let io = |e: String| BackupError::Io {
            dir: dir.clone(),
            reason: e,
        };
        std::fs::create_dir_all(&dir).map_err(|e| io(e.to_string()))?;
        let text = toml::to_string(self).map_err(|e| io(e.to_string()))?;
        let path = self.path(backups);
        let scratch = path.with_extension("toml.partial");
        std::fs::write(&scratch, text).map_err(|e| io(e.to_string()))?;
        std::fs::File::open(&scratch)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(e.to_string()))?;
        std::fs::rename(&scratch, &path).map_err(|e| io(e.to_string()))
    }

    fn remove(&self, backups: &Path) {
        let _ = std::fs::remove_file(self.path(backups));
    }
}

/// A restore as the region tracks it: the incarnation of the table it
/// created, what it is, and a counter the loading task moves.
struct Running {
    incarnation: Version,
    restore: Restore,
    loaded: Arc<AtomicU64>,
}

impl Running {
    fn now(&self) -> Restore {
        Restore {
            loaded: self.loaded.load(Ordering::Relaxed),
            ..self.restore.clone()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backups {
    /// Reads the backups in `dir`, deleting what an interrupted backup
    /// left. A file that cannot be read is reported and left in place.
    pub fn load(dir: &Path) -> Self {
        let mut index = BTreeMap::new();
        let journal = Journal::read(dir);
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let loose_pitr = name.ends_with(&format!(".{POINT_IN_TIME}"))
                    && !journal.iter().any(|j| j.file == name);
                if name.ends_with(PARTIAL_SUFFIX) || loose_pitr {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                let Some(id) = name.strip_suffix(&format!(".{EXTENSION}")) else {
                    continue;
                };
                match BackupFile::open(&path) {
                    Ok(file) => {
                        let size_bytes = file.size_bytes();
                        index.insert(
                            id.to_string(),
                            BackupRecord {
                                id: id.to_string(),
                                meta: file.meta,
                                size_bytes,
                            },
                        );
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping a backup file that cannot be read");
                    }
                }
            }
        }
        Backups {
            dir: dir.to_path_buf(),
            taking: tokio::sync::Mutex::new(()),
            index: Mutex::new(index),
            restores: Mutex::default(),
            unfinished: Mutex::new(journal),
        }
    }

    /// A new backup id: the creation time in ms, then 8 hex digits hashed
    /// from what the backup is, not drawn at random, so a simulated drill
    /// names its backups the same way at every run of its seed.
    fn new_id(&self, created_micros: u64, table: &str, name: &str) -> String {
        use std::hash::{Hash, Hasher};
        let index = lock(&self.index);
        let mut hasher = std::hash::DefaultHasher::new();
        (created_micros, table, name).hash(&mut hasher);
        let mut h = hasher.finish() as u32;
        loop {
            let id = format!("{:014}-{h:08x}", created_micros / 1_000);
            if !index.contains_key(&id) && !self.path(&id).exists() {
                return id;
            }
            h = h.wrapping_add(1);
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{EXTENSION}"))
    }
}

/// Why a backup operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup {0} not found")]
    NotFound(String),
    /// The backup is being restored from, so it cannot be deleted.
    #[error("backup {0} is in use by a restore")]
    InUse(String),
    #[error(
        "this region ({region}) must be among the restored table's replicas, since it loads the items; asked for {replicas:?}"
    )]
    NotAReplica {
        region: String,
        replicas: Vec<String>,
    },
    #[error("region {0} is not in this cluster")]
    UnknownRegion(String),
    /// A backup name DynamoDB would refuse; `constraint` is its wording.
    #[error("backup name {name:?}: {constraint}")]
    InvalidName {
        name: String,
        constraint: &'static str,
    },
    #[error("backup directory {dir}: {reason}")]
    Io { dir: PathBuf, reason: String },
    #[error(transparent)]
    Op(#[from] OpError),
}

impl From<StoreError> for BackupError {
    fn from(e: StoreError) -> Self {
        BackupError::Op(e.into())
    }
}

/// A backup name is 3 to 255 characters of `[a-zA-Z0-9_.-]`, as in
/// DynamoDB; the error is DynamoDB's wording of the broken constraint.
pub fn check_name(name: &str) -> Result<(), BackupError> {
    let constraint = if name.chars().count() < 3 {
        "Member must have length greater than or equal to 3"
    } else if name.chars().count() > 255 {
        "Member must have length less than or equal to 255"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    } else {
        return Ok(());
    };
    Err(BackupError::InvalidName {
        name: name.to_string(),
        constraint,
    })
}

/// What a restore may change from the backup's table.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// The billing mode and throughput, instead of the backup's.
    pub billing: Option<meridian_core::settings::Billing>,
    /// The regions that hold the restored table; default the backed-up
    /// table's replicas that this cluster still has.
    pub replicas: Option<Vec<String>>,
    /// The account the restored table belongs to: the restoring
    /// request's (`meridian_core::account`), the default one otherwise.
    pub owner: meridian_core::account::Account,
}
