//! The region's read connections: a fixed set, opened with the store, and
//! a read that finds them all busy waits for one.
//!
//! Why not open an extra connection when the pooled ones are all busy and
//! close it afterwards: SQLite cannot give back a closed connection's file
//! descriptor while other connections of the process hold locks on the same
//! file (POSIX locks belong to the process, and closing any descriptor would
//! drop them all), so it parks the descriptor until no lock is held, which
//! in a region that is always reading is never. Each burst of concurrent
//! reads would leave the process holding as many more descriptors as the
//! burst had extra connections: measured in a soak, a region went from 8
//! descriptors on its database file to 13 in four minutes, and one
//! restarted mid-run held 8 more than its earlier process. Every extra
//! connection would also pay for opening the file and reading the schema,
//! under the very load that made it needed. A fixed set keeps descriptors
//! and memory where they were at start-up, whatever the region went
//! through.

use std::sync::{Condvar, Mutex};

use meridian_store::Reader;

use super::lock;

/// Read connections kept open. More than a region's steady readers (client
/// reads, a shipper catching up on each link, repair rounds on each side,
/// the TTL reaper, stream reads), so that a few long passes over a table
/// leave connections for the short reads beside them.
pub(super) const READERS: usize = 8;

/// A fixed set of reader connections.
pub(super) struct Readers {
    idle: Mutex<Vec<Reader>>,
    returned: Condvar,
}

impl Readers {
    /// Takes the connections opened with the store. There must be at least
    /// one: with none, every read would wait forever.
    pub(super) fn new(readers: Vec<Reader>) -> Self {
        assert!(!readers.is_empty(), "a store bridge needs a reader");
        Readers {
            idle: Mutex::new(readers),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` on an idle connection, waiting for one if all are in use.
    /// The connection goes back to the set afterwards, even if `f` panics.
    pub(super) fn with<T>(&self, f: impl FnOnce(&Reader) -> T) -> T {
        let mut idle = lock(&self.idle);
        let reader = loop {
            if let Some(r) = idle.pop() {
                break r;
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        };
        drop(idle);
        let lent = Lent {
            readers: self,
            reader: Some(reader),
        };
        f(lent.reader.as_ref().expect("held until dropped"))
    }
}

/// A connection out of the set; dropping it puts it back.
struct Lent<'a> {
    readers: &'a Readers,
    reader: Option<Reader>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            lock(&self.readers.idle).push(r);
            self.readers.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().unwrap();
        let writer = meridian_store::open(dir.path(), "us-east-1", Default::default()).unwrap();
        drop(writer);
        let reader = meridian_store::open_reader(dir.path()).unwrap();
        (dir, reader)
    }

    #[test]
    fn a_read_waits_for_the_busy_connection_and_then_gets_it() {
        let (_dir, reader) = store();
        let readers = Arc::new(Readers::new(vec![reader]));
        let (started, started_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let holder = {
            let readers = readers.clone();
            std::thread::spawn(move || {
                readers.with(|_| {
                    started.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
            })
        };
        started_rx.recv().unwrap();
        let (done, done_rx) = mpsc::channel();
        let waiter = {
            let readers = readers.clone();
            std::thread::spawn(move || readers.with(|r| done.send(r.log_head().is_ok()).unwrap()))
        };
        // The only connection is lent: the second read has not run.
        assert!(done_rx.recv_timeout(Duration::from_millis(50)).is_err());
        release.send(()).unwrap();
        assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)), Ok(true));
        holder.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(lock(&readers.idle).len(), 1);
    }

    #[test]
    fn a_read_that_panics_gives_its_connection_back() {
        let (_dir, reader) = store();
        let readers = Readers::new(vec![reader]);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            readers.with(|_| panic!("a bug in a read"))
        }));
        assert!(caught.is_err());
        assert!(readers.with(|r| r.log_head().is_ok()));
    }
}
