//! SQLite on jemalloc (`meridian_store::memory`), in a test binary of its
//! own: the configuration only takes before SQLite's first use in a
//! process, which other tests sharing the binary would race.

use rusqlite::ffi;

#[test]
fn sqlite_runs_on_jemalloc_once_configured_first() {
    assert!(meridian_store::memory::sqlite_on_jemalloc());
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t(v BLOB); INSERT INTO t VALUES (zeroblob(100000));")
        .unwrap();
    let n: i64 = conn
        .query_row("SELECT length(v) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100_000);
    // SQLite's own accounting goes through the size query: it counts the
    // page cache and the blob it holds in jemalloc's memory.
    let (mut cur, mut hi) = (0, 0);
    // SAFETY: a status query into two local integers.
    let rc = unsafe { ffi::sqlite3_status(ffi::SQLITE_STATUS_MEMORY_USED, &mut cur, &mut hi, 0) };
    assert_eq!(rc, ffi::SQLITE_OK);
    assert!(
        cur > 0 && hi >= 100_000,
        "memory used {cur}, high water {hi}"
    );
    drop(conn);
    // The proof that jemalloc serves SQLite: an allocation's size as SQLite
    // reports it is jemalloc's size class for the request (5,120 bytes for
    // 5,000), where SQLite's own allocator would report 5,000.
    // SAFETY: one allocation from SQLite, sized and freed by SQLite.
    unsafe {
        let class = tikv_jemalloc_sys::nallocx(5_000, 0);
        assert_ne!(class, 5_000);
        let p = ffi::sqlite3_malloc(5_000);
        assert!(!p.is_null());
        assert_eq!(ffi::sqlite3_msize(p) as usize, class);
        ffi::sqlite3_free(p);
    }
    // Too late once SQLite is in use: refused, and SQLite keeps going.
    assert!(!meridian_store::memory::sqlite_on_jemalloc());
}
