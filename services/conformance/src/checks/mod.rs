//! The checks. Each is one function: it makes its own tables (the runner
//! removes them and heals its faults whatever happens), does what the AWS
//! page it cites describes, and says PASS, FAIL or SKIP with what it saw.

mod capacity;
mod common;
mod lifecycle;
mod mrec;
mod mrsc;
mod order;
mod sampling;

use std::future::Future;
use std::pin::Pin;

use crate::ConfError;
use crate::ctx::{Ctx, Scope, Verdict};
use capacity::replicated_write_units;
pub use common::SRC_BEST_PRACTICES;
use common::{
    SRC_CORE, SRC_MRSC, SRC_MRSC_EXAMPLE, SRC_PRESCRIPTIVE, SRC_RWCE, SRC_RWCU,
    SRC_STREAMS_IDENTITY, SRC_TRANSACTIONS, SRC_WRITE_MODES,
};
use lifecycle::{replica_add_remove, streams_of_replicas, ttl_delete_as_service};
use mrec::{conditions_local, lost_increments, lww_whole_item, replication, stale_consistent_read};
use mrsc::{
    mrsc_isolated_region, mrsc_refuses_transactions, mrsc_strong_read, mrsc_write_conflict,
};
use order::{per_item_order, reordering_between_items, torn_transactions};
pub use sampling::measure;

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Verdict, ConfError>> + Send + 'a>>;

/// A check: its name (for `--only`), its source page and its function.
pub struct Check {
    pub name: &'static str,
    pub source: &'static str,
    pub run: for<'a> fn(&'a Ctx, &'a mut Scope) -> Fut<'a>,
}

macro_rules! check {
    ($name:literal, $source:expr, $f:ident) => {
        Check {
            name: $name,
            source: $source,
            run: {
                fn boxed<'a>(c: &'a Ctx, s: &'a mut Scope) -> Fut<'a> {
                    Box::pin($f(c, s))
                }
                boxed
            },
        }
    };
}

pub static ALL: &[Check] = &[
    check!("replication", SRC_CORE, replication),
    check!("lww-whole-item", SRC_PRESCRIPTIVE, lww_whole_item),
    check!("conditions-local", SRC_PRESCRIPTIVE, conditions_local),
    check!("stale-consistent-read", SRC_CORE, stale_consistent_read),
    check!("lost-increments", SRC_WRITE_MODES, lost_increments),
    check!("per-item-order", SRC_BEST_PRACTICES, per_item_order),
    check!(
        "reordering-between-items",
        SRC_BEST_PRACTICES,
        reordering_between_items
    ),
    check!("torn-transactions", SRC_TRANSACTIONS, torn_transactions),
    check!("streams-of-replicas", SRC_CORE, streams_of_replicas),
    check!(
        "ttl-delete-as-service",
        SRC_STREAMS_IDENTITY,
        ttl_delete_as_service
    ),
    check!("replica-add-remove", SRC_CORE, replica_add_remove),
    check!("replicated-write-units", SRC_RWCU, replicated_write_units),
    check!("mrsc-strong-read", SRC_MRSC_EXAMPLE, mrsc_strong_read),
    check!("mrsc-write-conflict", SRC_RWCE, mrsc_write_conflict),
    check!("mrsc-isolated-region", SRC_MRSC, mrsc_isolated_region),
    check!(
        "mrsc-refuses-transactions",
        SRC_MRSC,
        mrsc_refuses_transactions
    ),
];
