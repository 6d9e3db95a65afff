//! The backup and restore operations of a region's handle
//! ([`RegionHandle`]): taking, listing and deleting backups, restoring one
//! or a point in time into a new table, and resuming restores at start.
//! Apart from [`super`], whose [`Backups`] the region's shared state holds,
//! because they run through the handle, which holds that shared state.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use meridian_core::{EncodedKey, TableDef, Version};
use meridian_store::backup::{self, BackupFile, BackupMeta};
use meridian_store::pitr::Pitr;
use meridian_store::{CatalogChange, ItemWrite};

use super::{
    BackupError, BackupRecord, Backups, Journal, POINT_IN_TIME, RESTORE_IN_FLIGHT, RESTORE_PAGE,
    RESTORE_WRITE, Restore, RestoreOptions, Running, check_name, lock,
};
use crate::ops::{OpError, RegionHandle};

/// The file a restore loads, and what it is.
struct Source {
    path: PathBuf,
    backup_id: Option<String>,
    /// A file made for this restore alone, deleted once it is loaded.
    temporary: bool,
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
            return Err(BackupError::Op(OpError::TableExists(target.to_string())));
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
            .map_err(|e| BackupError::Op(e.into()))
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
        self.write(vec![CatalogChange::Protect {
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
        self.move_legacy_policies().await
    }

    /// Moves the table policies an earlier build kept as this replica's
    /// own settings (`LEGACY_TABLE_POLICY`) into their catalog rows
    /// (`meridian_core::replicas::authorize`), unless a row is there
    /// already, then drops the old settings; as
    /// [`Self::move_legacy_protection`], repeated if a crash came between.
    async fn move_legacy_policies(&self) -> Result<(), OpError> {
        use meridian_core::replicas::authorize::Stored;
        use meridian_store::LEGACY_TABLE_POLICY;
        let found = self
            .read(|r| r.legacy_settings(LEGACY_TABLE_POLICY))
            .await?;
        for (table, text) in found {
            tracing::info!(%table, "the table's resource-based policy moves into the catalog");
            let owned = table.clone();
            let here = self.region().to_string();
            let row = self
                .read(move |r| Ok(r.replica_policies(&owned)?.remove(&here)))
                .await?;
            if row.is_none() {
                let (revision, document) = text.split_once('\n').unwrap_or((&text, ""));
                self.write(vec![CatalogChange::SetPolicy {
                    table: table.clone(),
                    policy: Some(Stored {
                        revision: revision.to_string(),
                        document: document.to_string(),
                    }),
                    if_revision: None,
                }])
                .await?;
            }
            self.change_replica_setting(&table, LEGACY_TABLE_POLICY, |_, _| {
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
            .map_err(|e| BackupError::Op(OpError::Invalid(e)))?;
        def.billing = options.billing.unwrap_or(meta.def.billing);
        def.owner = options.owner;
        // The restored table has the source's indexes, as in DynamoDB.
        def.indexes = meta.def.indexes.clone();
        let created = self.write(vec![CatalogChange::CreateTable(def)]).await?;
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
        let name = format!("restore:{}", journal.table);
        let stop = self.shared.stop.clone();
        self.shared.workers.spawn(&name, &stop, |w, mut stop| async move {
            w.running();
            let dir = ops.backups().dir.clone();
            let path = dir.join(&journal.file);
            let target = journal.table.clone();
            let result = tokio::select! {
                r = ops.load(&path, &target, &loaded) => r,
                // The journal stays, so the next start resumes the restore.
                _ = stop.raised() => return,
            };
            let stopping = matches!(
                &result,
                Err(BackupError::Op(OpError::Internal(crate::ops::Internal(
                    crate::bridge::BridgeError::Closed
                ))))
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
                let ops: Vec<Vec<ItemWrite>> = match page {
                    Ok(page) => page
                        .chunks(RESTORE_WRITE)
                        .map(|chunk| {
                            chunk
                                .iter()
                                .map(|(_, item)| ItemWrite::Load {
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
                .map(|ops: Result<Vec<ItemWrite>, BackupError>| async move {
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
