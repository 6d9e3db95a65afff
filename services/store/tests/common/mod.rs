//! What the store's test files share: a region's store with a manual
//! clock, written and shipped from like a region's writer does.
#![allow(dead_code)]

use std::sync::Arc;

use meridian_core::hlc::ManualClock;
use meridian_core::{Hlc, Mutation, PhysicalClock};
use meridian_store::{Durability, Ops, PeerBatch, Reader, StoreError, WriteResult, Writer};
use tempfile::TempDir;

pub const T0: u64 = 1_700_000_000_000_000;

pub struct Node {
    _dir: TempDir,
    pub writer: Writer,
    pub reader: Reader,
    pub clock: Arc<ManualClock>,
    pub hlc: Hlc,
}

impl Node {
    pub fn new(region: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let writer = meridian_store::open(dir.path(), region, Durability::Normal).unwrap();
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let hlc = Hlc::new(clock.clone() as Arc<dyn PhysicalClock>, 500_000);
        Node {
            _dir: dir,
            writer,
            reader,
            clock,
            hlc,
        }
    }

    pub fn write<'r>(&mut self, ops: impl Into<Ops<'r>>) -> Result<Vec<WriteResult>, StoreError> {
        self.clock.advance(10);
        let mut g = self.writer.group().unwrap();
        let r = g.write(&self.hlc, T0, ops);
        g.commit().unwrap();
        r
    }

    pub fn ship_to(&self, to: &mut Node, from_region: &str) -> meridian_store::ApplyOutcome {
        let entries: Vec<Mutation> = self.reader.log_after(0, 100_000, usize::MAX).unwrap();
        let mut g = to.writer.group().unwrap();
        let out = g
            .apply(&to.hlc, T0, &PeerBatch::new(from_region, "log", entries))
            .unwrap();
        g.commit().unwrap();
        out
    }
}
