//! On-demand backups of a table and restores from them, in this region.
//!
//! As in DynamoDB, a backup belongs to the region that took it: it is the
//! table as this region held it at one position of its history
//! ([`meridian_store::backup`]), kept in the region's backup directory,
//! apart from its data directory, so a lost disk leaves it. A restore
//! creates a new table through the catalog, like CreateTable, and loads the
//! backup's items into it as this region's own writes, so they replicate
//! to every replica of the new table by the ordinary log.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meridian_core::{EncodedKey, TableDef, Version};
use meridian_store::backup::{self, BackupFile, BackupMeta, PARTIAL_SUFFIX};
use meridian_store::pitr::Pitr;
use meridian_store::{StoreError, WriteOp};

use crate::ops::{OpError, RegionHandle};

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
    /// serves ([`RegionHandle::resume_restores`]).
    unfinished: Mutex<Vec<Journal>>,
}

/// A restore being loaded, as recorded on disk (`<backup dir>/restores/
/// <table>.toml`) from the table's creation until its last item is written,
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
        match e {
            StoreError::TableNotFound(t) => BackupError::Op(OpError::TableNotFound(t)),
            e => BackupError::Op(OpError::Store(e.into())),
        }
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

/// A store error reached through the bridge, with a missing table told
/// apart.
fn bridge_error(e: crate::bridge::BridgeError) -> BackupError {
    match e {
        crate::bridge::BridgeError::Store(s) => BackupError::from(s),
        e => BackupError::Op(e.into()),
    }
}

/// The file a restore loads, and what it is.
struct Source {
    path: PathBuf,
    backup_id: Option<String>,
    /// A file made for this restore alone, deleted once it is loaded.
    temporary: bool,
}

/// What a restore may change from the backup's table.
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// The billing mode and throughput, instead of the backup's.
    pub billing: Option<meridian_core::settings::Billing>,
    /// The regions that hold the restored table; default the backed-up
    /// table's replicas that this cluster still has.
    pub replicas: Option<Vec<String>>,
}

impl RegionHandle {
    fn backups(&self) -> &Backups {
        &self.shared.backups
    }

    /// Takes a backup of `table` named `name`, now. Writers go on; the
    /// backup is the table at one position of this region's history.
    pub async fn create_backup(
        &self,
        table: &str,
        name: &str,
    ) -> Result<BackupRecord, BackupError> {
        check_name(name)?;
        let backups = self.backups();
        let _one_at_a_time = backups.taking.lock().await;
        let created = self.real_now_micros();
        let id = backups.new_id(created, table, name);
        let meta = self
            .take(table, name, created, None, backups.path(&id))
            .await?;
        let size_bytes = std::fs::metadata(backups.path(&id)).map_or(0, |m| m.len());
        let record = BackupRecord {
            id: id.clone(),
            meta,
            size_bytes,
        };
        lock(&backups.index).insert(id, record.clone());
        tracing::info!(backup = %record.id, table = %record.meta.def.name, items = record.meta.items, "backup taken");
        Ok(record)
    }

    /// Every backup this region holds, oldest first (in id order, which
    /// begins with the creation time).
    pub fn list_backups(&self) -> Vec<BackupRecord> {
        lock(&self.backups().index).values().cloned().collect()
    }

    pub fn backup(&self, id: &str) -> Result<BackupRecord, BackupError> {
        lock(&self.backups().index)
            .get(id)
            .cloned()
            .ok_or_else(|| BackupError::NotFound(id.to_string()))
    }

    /// Deletes a backup; refused while a restore reads it.
    pub fn delete_backup(&self, id: &str) -> Result<BackupRecord, BackupError> {
        let backups = self.backups();
        let in_use = lock(&backups.restores)
            .values()
            .any(|r| r.restore.in_progress && r.restore.backup_id.as_deref() == Some(id));
        if in_use {
            return Err(BackupError::InUse(id.to_string()));
        }
        let record = lock(&backups.index)
            .remove(id)
            .ok_or_else(|| BackupError::NotFound(id.to_string()))?;
        if let Err(e) = std::fs::remove_file(backups.path(id)) {
            tracing::warn!(backup = %id, error = %e, "could not delete a backup file");
        }
        Ok(record)
    }

    /// The restore that created this incarnation of `table` here, if one
    /// did since this region started: in progress or done.
    pub fn restore_of(&self, table: &str, incarnation: &Version) -> Option<Restore> {
        lock(&self.backups().restores)
            .get(table)
            .filter(|r| r.incarnation == *incarnation)
            .map(Running::now)
    }

    /// Every restore this region ran since it started: the table, its
    /// incarnation, and how far loading got.
    pub fn restores(&self) -> Vec<(String, Version, Restore)> {
        lock(&self.backups().restores)
            .iter()
            .map(|(t, r)| (t.clone(), r.incarnation.clone(), r.now()))
            .collect()
    }

    /// Creates `target` with the backup's key schema and settings, then
    /// loads the backup's items into it in the background, as this
    /// region's writes. Answers once the table exists; [`RegionHandle::restore_of`]
    /// says how far loading got.
    pub async fn restore_backup(
        &self,
        id: &str,
        target: &str,
        options: RestoreOptions,
    ) -> Result<(TableDef, Version), BackupError> {
        let record = self.backup(id)?;
        let source = Source {
            path: self.backups().path(id),
            backup_id: Some(id.to_string()),
            temporary: false,
        };
        self.restore(source, &record.meta, target, options).await
    }

    /// Creates `target` as `source` was at `at` in this region (the latest
    /// time when `None`), from its point-in-time history, and loads it in
    /// the background like a backup. Refused when recovery is off on
    /// `source` or `at` is outside its window, before anything is created.
    /// Returns the new table and the instant it was restored to.
    pub async fn restore_to_time(
        &self,
        source: &str,
        at: Option<u64>,
        target: &str,
        options: RestoreOptions,
    ) -> Result<(TableDef, Version, u64), BackupError> {
        if self.table(target).await.is_ok() {
            return Err(BackupError::Op(OpError::Store(
                StoreError::TableExists(target.to_string()).into(),
            )));
        }
        let now = self.real_now_micros();
        let at = at.unwrap_or(now);
        let path = self
            .backups()
            .dir
            .join(format!("{target}-{}.{POINT_IN_TIME}", now / 1_000));
        let meta = self
            .take(source, "point-in-time", now, Some(at), path.clone())
            .await?;
        let source = Source {
            path,
            backup_id: None,
            temporary: true,
        };
        let path = source.path.clone();
        let restored = self.restore(source, &meta, target, options).await;
        if restored.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        let (def, incarnation) = restored?;
        Ok((def, incarnation, at))
    }

    /// Writes the backup [`backup::take`] makes of `table` into `path` in
    /// the backup directory, off the async workers.
    async fn take(
        &self,
        table: &str,
        name: &str,
        now_micros: u64,
        as_of: Option<u64>,
        path: PathBuf,
    ) -> Result<BackupMeta, BackupError> {
        let dir = &self.backups().dir;
        std::fs::create_dir_all(dir).map_err(|e| BackupError::Io {
            dir: dir.clone(),
            reason: e.to_string(),
        })?;
        let (data_dir, region) = (
            self.shared.config.data_dir.clone(),
            self.region().to_string(),
        );
        let (table, name) = (table.to_string(), name.to_string());
        self.shared
            .storage
            .blocking(move || {
                let what = backup::Take {
                    region: &region,
                    table: &table,
                    name: &name,
                    now_micros,
                    as_of,
                };
                backup::take(&data_dir, &what, &path)
            })
            .await
            .map_err(bridge_error)
    }

    /// Point-in-time recovery of `table` in this region, if it is on.
    pub async fn pitr(&self, table: &str) -> Result<Option<Pitr>, OpError> {
        self.table(table).await?;
        let owned = table.to_string();
        Ok(self.shared.storage.read(move |r| r.pitr(&owned)).await?)
    }

    /// Turns point-in-time recovery of `table` on in this region, keeping
    /// `period_days`, or off (`None`).
    pub async fn set_pitr(
        &self,
        table: &str,
        period_days: Option<u32>,
    ) -> Result<Option<Pitr>, OpError> {
        Ok(self.shared.storage.set_pitr(table, period_days).await?)
    }

    /// Turns deletion protection of `table` on or off in this region, as
    /// DynamoDB sets it on one replica: a catalog row of this region's,
    /// which every region reads and none but this one writes
    /// (`meridian_core::protection`).
    pub async fn set_deletion_protection(&self, table: &str, on: bool) -> Result<(), OpError> {
        self.write(vec![WriteOp::Protect {
            table: table.to_string(),
            on,
        }])
        .await
        .map(|_| ())
    }

    /// Moves deletion protection that an earlier build kept as a per-replica
    /// setting of this region's store (`LEGACY_DELETION_PROTECTION`) into
    /// the catalog row that replaced it, then drops the old setting. Run
    /// once at start; a crash between the two steps leaves both, and the
    /// next start repeats them.
    pub(crate) async fn move_legacy_protection(&self) -> Result<(), OpError> {
        use meridian_store::LEGACY_DELETION_PROTECTION;
        let tables = self.read(|r| r.legacy_protected()).await?;
        for table in tables {
            tracing::info!(%table, "deletion protection moves into the catalog");
            self.set_deletion_protection(&table, true).await?;
            self.change_replica_setting(&table, LEGACY_DELETION_PROTECTION, |_, _| {
                Ok::<_, std::convert::Infallible>(None)
            })
            .await?
            .unwrap_or_else(|never| match never {});
        }
        Ok(())
    }

    /// Creates `target` like the table of `meta` and loads `source`'s items
    /// into it in the background.
    async fn restore(
        &self,
        source: Source,
        meta: &BackupMeta,
        target: &str,
        options: RestoreOptions,
    ) -> Result<(TableDef, Version), BackupError> {
        let cluster = self.regions();
        let replicas = match options.replicas {
            Some(r) => {
                if let Some(unknown) = r.iter().find(|r| !cluster.contains(r)) {
                    return Err(BackupError::UnknownRegion(unknown.clone()));
                }
                r
            }
            None => meta
                .def
                .replicas
                .iter()
                .filter(|r| cluster.contains(r))
                .cloned()
                .collect(),
        };
        if !replicas.iter().any(|r| r == self.region()) {
            return Err(BackupError::NotAReplica {
                region: self.region().to_string(),
                replicas,
            });
        }
        let mut def = TableDef::new(target, meta.def.key_schema.clone(), replicas)
            .map_err(|e| BackupError::Op(OpError::Store(StoreError::Invalid(e).into())))?;
        def.billing = options.billing.unwrap_or(meta.def.billing);
        // The restored table has the source's indexes, as in DynamoDB.
        def.indexes = meta.def.indexes.clone();
        let created = self.write(vec![WriteOp::CreateTable(def)]).await?;
        let incarnation = created
            .first()
            .map(|w| w.version.clone())
            .ok_or_else(|| OpError::TableNotFound(target.to_string()))?;
        let file = source
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let journal = Journal {
            table: target.to_string(),
            incarnation: incarnation.to_string(),
            file,
            backup_id: source.backup_id.clone(),
            temporary: source.temporary,
            source_table: meta.def.name.clone(),
            restored_to: meta.created_micros,
            started_micros: self.real_now_micros(),
            total: meta.items,
        };
        journal.write(&self.backups().dir)?;
        let (def, _) = self.table(target).await?;
        self.start_loading(journal, incarnation.clone());
        Ok((def, incarnation))
    }

    /// Loads the restore `journal` describes in the background, tracked
    /// until done; its record goes once every item is written, or once the
    /// table is gone. A region that stops part-way keeps the record.
    fn start_loading(&self, journal: Journal, incarnation: Version) {
        let loaded = Arc::new(AtomicU64::new(0));
        let restore = Restore {
            backup_id: journal.backup_id.clone(),
            source_table: journal.source_table.clone(),
            restored_to: journal.restored_to,
            started_micros: journal.started_micros,
            in_progress: true,
            loaded: 0,
            total: journal.total,
            error: None,
        };
        lock(&self.backups().restores).insert(
            journal.table.clone(),
            Running {
                incarnation: incarnation.clone(),
                restore,
                loaded: loaded.clone(),
            },
        );
        let ops = self.clone();
        tokio::spawn(async move {
            let dir = ops.backups().dir.clone();
            let path = dir.join(&journal.file);
            let target = journal.table.clone();
            let result = ops.load(&path, &target, &loaded).await;
            let stopping = matches!(
                &result,
                Err(BackupError::Op(OpError::Store(
                    crate::bridge::BridgeError::Closed
                )))
            );
            if !stopping {
                journal.remove(&dir);
                if journal.temporary {
                    let _ = std::fs::remove_file(&path);
                }
            }
            if let Err(e) = &result {
                tracing::warn!(table = %target, error = %e, "restore stopped before every item was loaded");
            } else {
                tracing::info!(table = %target, items = loaded.load(Ordering::Relaxed), "restore done");
            }
            if let Some(r) = lock(&ops.backups().restores).get_mut(&target)
                && r.incarnation == incarnation
            {
                r.restore.in_progress = false;
                r.restore.error = result.err().map(|e| e.to_string());
            }
        });
    }

    /// Resumes the restores the last run of this region left unfinished,
    /// from their first item again (writing an item twice leaves it as
    /// once). A restore whose table is gone, or was created again since,
    /// is dropped with its record.
    pub async fn resume_restores(&self) {
        let unfinished = std::mem::take(&mut *lock(&self.backups().unfinished));
        let dir = self.backups().dir.clone();
        for journal in unfinished {
            let current = self.table(&journal.table).await.ok().map(|(_, v)| v);
            match journal.incarnation.parse::<Version>() {
                Ok(v) if current.as_ref() == Some(&v) => {
                    tracing::info!(table = %journal.table, "resuming a restore the last run left unfinished");
                    self.start_loading(journal, v);
                }
                _ => {
                    tracing::warn!(table = %journal.table, "dropping an unfinished restore: its table is gone or was created again");
                    journal.remove(&dir);
                    if journal.temporary {
                        let _ = std::fs::remove_file(dir.join(&journal.file));
                    }
                }
            }
        }
    }

    /// Writes every item of the backup at `path` into `table`: pages are
    /// read from the file while the writes of earlier ones are in flight,
    /// [`RESTORE_IN_FLIGHT`] requests at a time.
    async fn load(&self, path: &Path, table: &str, loaded: &AtomicU64) -> Result<(), BackupError> {
        use futures::StreamExt;
        let owned = path.to_path_buf();
        let file = Arc::new(Mutex::new(
            self.shared
                .storage
                .blocking(move || BackupFile::open(&owned))
                .await
                .map_err(OpError::from)?,
        ));
        let pages = futures::stream::try_unfold(None, move |after: Option<EncodedKey>| {
            let file = file.clone();
            let storage = self.shared.storage.clone();
            async move {
                let page = storage
                    .blocking(move || lock(&file).items_after(after.as_ref(), RESTORE_PAGE))
                    .await
                    .map_err(OpError::from)?;
                let next = page.last().map(|(k, _)| k.clone());
                Ok::<_, BackupError>(next.map(|k| (page, Some(k))))
            }
        });
        let requests = pages
            .map(|page| {
                let ops: Vec<Vec<WriteOp>> = match page {
                    Ok(page) => page
                        .chunks(RESTORE_WRITE)
                        .map(|chunk| {
                            chunk
                                .iter()
                                .map(|(_, item)| WriteOp::Load {
                                    table: table.to_string(),
                                    item: item.clone(),
                                })
                                .collect()
                        })
                        .collect(),
                    Err(e) => return futures::stream::iter(vec![Err(e)]),
                };
                futures::stream::iter(ops.into_iter().map(Ok).collect::<Vec<_>>())
            })
            .flatten();
        let mut writes = std::pin::pin!(
            requests
                .map(|ops: Result<Vec<WriteOp>, BackupError>| async move {
                    let ops = ops?;
                    let n = ops.len() as u64;
                    self.write(ops).await?;
                    Ok::<_, BackupError>(n)
                })
                .buffer_unordered(RESTORE_IN_FLIGHT)
        );
        while let Some(done) = writes.next().await {
            loaded.fetch_add(done?, Ordering::Relaxed);
        }
        Ok(())
    }
}
