//! [`Writer`]: the one writer of a region's store, which every change goes
//! through, a [`Group`] at a time.

use std::collections::HashMap;
use std::path::PathBuf;

use meridian_core::Version;
use rusqlite::Connection;

use crate::cache::{CatalogCache, Records};
use crate::group::Group;
use crate::{StoreError, version_from};

/// After how long (µs) a change stream's shard closes unless set
/// otherwise: four hours, as DynamoDB's shards roll.
const DEFAULT_SHARD_AGE: u64 = 4 * 3600 * 1_000_000;

/// The one writer of a region's store.
pub struct Writer {
    conn: Connection,
    region: String,
    path: PathBuf,
    /// Live table definitions by name; cleared whenever the catalog may have changed.
    catalog: CatalogCache,
    /// What a change of a table records besides its head here (history,
    /// stream), by name; cleared with the catalog and whenever a setting
    /// changes.
    records: HashMap<String, Records>,
    /// The time of the last group (µs): the next never goes below it, so
    /// history rows never go back in time.
    last_at: u64,
    /// After how long (µs) a change stream's shard closes and the next
    /// opens, at the first change past it (docs/streams.md).
    shard_age: u64,
}

impl Writer {
    pub(crate) fn new(conn: Connection, region: String, path: PathBuf) -> Self {
        Writer {
            conn,
            region,
            path,
            catalog: CatalogCache::default(),
            records: HashMap::new(),
            last_at: 0,
            shard_age: DEFAULT_SHARD_AGE,
        }
    }

    /// Sets after how long a change stream's shard closes and the next
    /// opens (DynamoDB rolls its shards about every four hours).
    pub fn set_stream_shard_age(&mut self, age: std::time::Duration) {
        self.shard_age = (age.as_micros() as u64).max(1);
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How many times a cached table definition was dropped because the
    /// catalog may have changed: a definition read while this had some
    /// value is current for as long as it keeps it (the region's readers
    /// cache definitions on it).
    pub fn catalog_epoch(&self) -> u64 {
        self.catalog.epoch()
    }

    /// Sets after how many WAL pages a commit checkpoints by itself.
    pub(crate) fn set_auto_checkpoint(&self, pages: u32) -> Result<(), StoreError> {
        self.conn.query_row(
            &format!("PRAGMA wal_autocheckpoint={pages}"),
            [],
            |_| Ok(()),
        )?;
        Ok(())
    }

    /// The highest version among the heads this store has written, of any
    /// origin: the clock restarts above it. Reads the stored high-water
    /// marks (one row per region), never the log.
    pub fn max_version(&self) -> Result<Option<Version>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT version FROM high_water")?;
        let mut max: Option<Version> = None;
        for v in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))? {
            let v = version_from(Some(v?))?;
            if v > max {
                max = v;
            }
        }
        Ok(max)
    }

    /// Starts a group commit at the system clock's time: [`Writer::group_at`].
    pub fn group(&mut self) -> Result<Group<'_>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.group_at(now)
    }

    /// Starts a group commit. Everything done through it commits in one
    /// transaction with one fsync. `real_micros` is the region's time, which
    /// point-in-time history records its changes at.
    pub fn group_at(&mut self, real_micros: u64) -> Result<Group<'_>, StoreError> {
        // Only a group that began moves the history clock on.
        let at = self.last_at.max(real_micros);
        let group = Group::begin(
            &self.conn,
            &self.region,
            at,
            self.shard_age,
            &mut self.records,
            &mut self.catalog,
        )?;
        self.last_at = at;
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use meridian_core::hlc::ManualClock;
    use meridian_core::{
        AttrValue, Hlc, Item, KeyAttr, KeySchema, KeyType, PhysicalClock, TableDef,
    };

    use crate::{CatalogChange, Durability, ItemWrite};

    /// A strong-mode evaluation writes nothing: a group of evaluations
    /// alone adds no frame to the WAL (no fsync) and raises no high-water
    /// mark, and what it returns is the mutation a write would store.
    #[test]
    fn an_evaluation_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = crate::open(dir.path(), "r-a", Durability::Normal).unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let hlc = Hlc::new(clock.clone() as Arc<dyn PhysicalClock>, 500_000);
        let def = TableDef::new(
            "items",
            KeySchema {
                partition: KeyAttr {
                    name: "id".into(),
                    ty: KeyType::S,
                },
                sort: None,
            },
            vec!["r-a".into()],
        )
        .unwrap();
        let put = ItemWrite::Put {
            table: "items".into(),
            item: Item::from([("id".to_string(), AttrValue::S("k".into()))]),
            condition: None,
        };
        let mut g = writer.group().unwrap();
        g.write(&hlc, 1, &[CatalogChange::CreateTable(def)])
            .unwrap();
        g.commit().unwrap();
        let before = writer.max_version().unwrap();
        // Frames in the WAL, all copied back: a commit that wrote would
        // change the count (more frames, or the WAL started over).
        let frames = |w: &crate::Writer| -> i64 {
            w.conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap()
        };
        let wal = frames(&writer);
        clock.advance(1_000);
        let mut g = writer.group().unwrap();
        let e = g
            .strong_evaluate(&hlc, 2, std::slice::from_ref(&put))
            .unwrap();
        assert!(g.commit().unwrap().is_empty());
        assert_eq!(
            frames(&writer),
            wal,
            "the evaluation's group wrote to the WAL"
        );
        assert_eq!(writer.max_version().unwrap(), before);
        assert_eq!(e.writes.expect, [None], "the key held nothing");
        let [m] = &e.writes.mutations[..] else {
            panic!("one mutation: {:?}", e.writes.mutations)
        };
        assert_eq!(m.version, e.results[0].version.to_bytes());
        assert!(m.version > before.unwrap().to_bytes());
        assert_eq!(
            m.image,
            Some(meridian_core::value::encode_item(&match put {
                ItemWrite::Put { item, .. } => item,
                _ => unreachable!(),
            }))
        );
    }
}
