//! Every end-to-end test file, compiled and linked as one test binary.
//!
//! One binary instead of one per file: a binary per file would link the
//! whole stack (regions, the AWS SDK, tonic) once each, and run its tests
//! alone while the other core idles at its tail (docs/performance.md, *The
//! test suite's time*). Each file is a module of its own, named as the
//! file: `cargo test -p meridian-tests --test e2e multi_account::` runs one
//! file's tests.
//!
//! The container tests are a package of their own (`tests/containers/`,
//! `--test containers`), run by `.ci/containers.sh` once the image is built.

// The SDK helpers and the shared refusal cases, used by several files.
mod cases;
mod sdk;

mod admin_token;
mod api;
mod autoscaling;
mod backups;
mod client_capacity;
mod coalesce;
mod converge;
mod disassociate;
#[path = "dynamodb/main.rs"]
mod dynamodb;
mod dynamodb_auth;
mod global_lifecycle;
mod health;
mod hostile_peer;
mod hot_partitions;
#[path = "indexes/main.rs"]
mod indexes;
mod isolation;
mod limits;
mod mrsc;
mod multi_account;
mod partiql;
mod partition;
mod repair;
mod replica_settings;
mod replicas;
mod replicated_units;
mod settings_sync;
mod streams;
mod strong;
mod strong_hostile;
mod strong_snapshot;
mod throughput;
mod tls;
