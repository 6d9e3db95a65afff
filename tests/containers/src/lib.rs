//! Nothing: the container tests are `tests/containers.rs`, which
//! `.ci/containers.sh` runs once it has built the image. Cargo wants a
//! library or a binary in every package; this one holds none of its own.
