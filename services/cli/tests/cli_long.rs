//! The CLI's long checks, a test binary of their own that the README's test
//! command leaves out (`test = false`) and `.ci/run` runs in its step of
//! long checks, beside the replay and the sweep: the benchmark harness's
//! smoke runs (`bench`, 14 tests, about 70 s of test time) and the
//! dashboard driven in a real browser (`dashboard`, about 45 s).
//! `cargo test --workspace --test cli_long` runs them.

// Shared with tests/cli.rs; each binary uses a part of them.
#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod up;
// The WebDriver client of the browser test.
mod webdriver;

mod bench;
mod dashboard;
