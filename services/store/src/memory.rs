//! SQLite's memory from jemalloc, the allocator the `meridian` binary uses
//! for everything else.
//!
//! SQLite allocates through the C library's `malloc` unless told otherwise:
//! its page caches (the writer's 16 MiB, each reader's 2 MiB), parsed
//! statements and row buffers. glibc gives a burst's memory back only from
//! the top of an arena, so a region that had caught up on a backlog kept
//! what the burst left scattered: in a soak, a region restarted mid-run held
//! 26 MiB in glibc's arena against 17 MiB in its neighbours for the rest of
//! the run, with no more data. jemalloc returns freed pages on a steady
//! decay, so SQLite's share falls back once the burst is over.
//!
//! This must run before SQLite is first used: `SQLITE_CONFIG_MALLOC` is
//! refused once it is initialised, and SQLite then keeps `malloc`. Only the
//! `meridian` binary asks for it, first thing in `main`; libraries and their
//! tests leave SQLite on `malloc`.

use std::ffi::{c_int, c_void};

use rusqlite::ffi;
use tikv_jemalloc_sys as je;

/// Hands SQLite jemalloc's `malloc`, `free`, `realloc` and size queries.
/// Returns whether SQLite took them.
pub fn sqlite_on_jemalloc() -> bool {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(x_malloc),
        xFree: Some(x_free),
        xRealloc: Some(x_realloc),
        xSize: Some(x_size),
        xRoundup: Some(x_roundup),
        xInit: Some(x_init),
        xShutdown: Some(x_shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to a
    // `sqlite3_mem_methods`, which SQLite copies before returning; every
    // function in it is a thin, thread-safe wrapper over jemalloc.
    let rc = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_MALLOC,
            &methods as *const ffi::sqlite3_mem_methods,
        )
    };
    rc == ffi::SQLITE_OK
}

/// SQLite never asks for a negative size; one would be a bug, refused
/// like a failed allocation rather than wrapped into a huge request.
fn size(n: c_int) -> Option<usize> {
    usize::try_from(n).ok()
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    match size(n) {
        // SAFETY: jemalloc's malloc, any size.
        Some(n) => unsafe { je::malloc(n) },
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    // SAFETY: `p` came from x_malloc or x_realloc, or is null.
    unsafe { je::free(p) }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    match size(n) {
        // SAFETY: `p` came from x_malloc or x_realloc, or is null.
        Some(n) => unsafe { je::realloc(p, n) },
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: `p` is a live allocation from x_malloc or x_realloc.
    let n = unsafe { je::malloc_usable_size(p) };
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    let Some(want) = size(n).filter(|n| *n > 0) else {
        return n;
    };
    // SAFETY: nallocx only computes a size class; a zero size is excluded.
    let got = unsafe { je::nallocx(want, 0) };
    if got == 0 {
        return n;
    }
    c_int::try_from(got).unwrap_or(n)
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_jemalloc_classes() {
        // SAFETY: pure size computations.
        unsafe {
            assert_eq!(x_roundup(0), 0);
            assert_eq!(x_roundup(-1), -1);
            assert!(x_roundup(100) >= 100);
            assert_eq!(x_roundup(4096), 4096);
            assert!(x_malloc(-5).is_null());
            let p = x_malloc(100);
            assert!(!p.is_null());
            assert!(x_size(p) >= 100);
            let q = x_realloc(p, 10_000);
            assert!(x_size(q) >= 10_000);
            x_free(q);
            assert_eq!(x_size(std::ptr::null_mut()), 0);
        }
    }
}
