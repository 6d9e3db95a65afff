//! Drills: a scenario's workload and fault timeline run against regions,
//! with a report of replication lag, backlogs, convergence and conflicts,
//! and the checker's verdict.
//!
//! [`driver`] is the drill itself and is shared by both modes: [`live`]
//! runs every region as its own OS process behind the link proxy;
//! [`sim`] runs the same region code under turmoil in virtual time, from a
//! seed.

pub mod collect;
pub mod driver;
mod join;
pub mod live;
pub mod random;
mod restore;
pub mod sim;
pub mod sweep;
pub mod workload;

pub use driver::{Faults, Progress, RegionTarget};
