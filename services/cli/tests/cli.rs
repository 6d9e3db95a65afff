//! Every test of the `meridian` command, compiled and linked as one test
//! binary, so the whole CLI is linked once rather than once per file
//! (tests/tests/e2e.rs says why one binary). Each file is a module named
//! after it: `cargo test -p meridian --test cli drill::` runs one file's tests. The
//! benchmark smoke runs and the dashboard's browser test are the long
//! checks' binary (tests/cli_long.rs).

// Shared by several files: waits and clients, `meridian up` clusters.
// tests/cli_long.rs, the long checks, shares them too.
mod common;
mod up;

mod cluster_alarms;
mod conformance;
mod dashboard_standalone;
mod discovery;
mod drill;
mod edge;
mod failover;
mod failover_stop;
mod net;
mod observability;
mod processes;
mod tls;
