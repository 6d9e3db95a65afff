//! Table-driven cases for the long DynamoDB tests: each case of a test runs
//! even when an earlier one failed, and the test fails once at the end,
//! naming every failing case with what its assertion said. A case checks
//! with the usual `assert!` macros; its panic is caught and recorded under
//! the case's name, so one wrong answer does not hide the others. A table
//! of refused requests runs a case a row through `Cases::refused`.
#![allow(dead_code)]

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures::FutureExt;

mod refusals;

/// The cases of one test, run in order; their failures, kept.
#[derive(Default)]
pub struct Cases {
    ran: usize,
    failed: Vec<String>,
}

impl Cases {
    pub fn new() -> Cases {
        Cases::default()
    }

    /// Runs one case that talks to the cluster.
    pub async fn run(&mut self, name: impl Display, case: impl Future<Output = ()>) {
        self.ran += 1;
        if let Err(panic) = AssertUnwindSafe(case).catch_unwind().await {
            self.failed.push(format!("{name}: {}", message(&*panic)));
        }
    }

    /// Runs one case that only checks values already at hand.
    pub fn check(&mut self, name: impl Display, case: impl FnOnce()) {
        self.ran += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(case)) {
            self.failed.push(format!("{name}: {}", message(&*panic)));
        }
    }

    /// Fails the test if any case failed, listing every one.
    #[track_caller]
    pub fn finish(mut self) {
        let failed = std::mem::take(&mut self.failed);
        if !failed.is_empty() {
            panic!(
                "{} of {} cases failed:\n  {}",
                failed.len(),
                self.ran,
                failed.join("\n  ")
            );
        }
    }
}

/// A forgotten [`Cases::finish`] must not turn failures into a pass.
impl Drop for Cases {
    fn drop(&mut self) {
        if !self.failed.is_empty() && !std::thread::panicking() {
            panic!(
                "cases failed and were never reported:\n  {}",
                self.failed.join("\n  ")
            );
        }
    }
}

/// What a panic said: the text of `panic!`/`assert!`, when it has one.
fn message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "2 of 3 cases failed:\n  one: first\n  three: third")]
    fn every_failing_case_is_named_after_all_ran() {
        let mut cases = Cases::new();
        let mut ran = Vec::new();
        cases.check("one", || {
            ran.push(1);
            panic!("first")
        });
        cases.check("two", || ran.push(2));
        cases.check("three", || {
            ran.push(3);
            panic!("{}", "third")
        });
        assert_eq!(ran, [1, 2, 3]);
        cases.finish();
    }

    #[tokio::test]
    async fn async_cases_are_collected_too() {
        let mut cases = Cases::new();
        cases.run("fails", async { assert_eq!(1, 2) }).await;
        cases.run("passes", async {}).await;
        assert_eq!(cases.ran, 2);
        assert_eq!(cases.failed.len(), 1);
        assert!(
            cases.failed[0].starts_with("fails: assertion"),
            "{:?}",
            cases.failed
        );
        cases.failed.clear();
        cases.finish();
    }
}
