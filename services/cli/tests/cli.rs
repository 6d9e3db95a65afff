//! Every test of the `meridian` command, compiled and linked as one test
//! binary: each file used to link the whole CLI on its own (tests/tests/e2e.rs
//! says why one binary). Each file stays a module named as before:
//! `cargo test -p meridian --test cli dashboard::` runs one file's tests.

// Shared by several files: waits and clients, `meridian up` clusters, the
// WebDriver client of the dashboard's browser test.
mod common;
mod up;
mod webdriver;

mod bench;
mod conformance;
mod dashboard;
mod dashboard_standalone;
mod discovery;
mod drill;
mod failover;
mod net;
mod observability;
mod processes;
