//! Drills: a scenario's workload and fault timeline run against regions,
//! with a report of replication lag, backlogs, convergence and conflicts,
//! and the checker's verdict.
//!
//! [`driver`] is the drill itself and is shared by both modes: [`live`]
//! runs every region as its own OS process behind the link proxy;
//! [`sim`] runs the same region code under turmoil in virtual time, from a
//! seed. [`attached`] drives regions already running as a Docker Swarm stack,
//! live. What both modes hand the driver is in [`target`].
//!
//! The driver's loop hands each event to the module that owns it:
//! `restore` (point-in-time recovery, marks and restores), `join` (a
//! replica added), `recreate` (the table deleted and created again),
//! `disaster` (a region's data lost), and [`Faults`] for the rest. The
//! workload runs in `traffic`, the regions are looked at through `probe`,
//! the table is made in `table` (provisioned with `[table.capacity]`,
//! whose report `capacity` makes), and the final state is checked in
//! `checks`. With a load that is the user's application's
//! (`workload.external`), `recorded` reads what the regions committed for
//! it in place of the workload's answers. `orders` places orders beside the workload and watches other
//! regions for an application's invariant that partition order breaks.
//! `experiment` evaluates the scenario's alarms (`alarms`) at every sample,
//! stops the timeline when a stop condition's alarm goes to ALARM, and
//! judges the scenario's objectives; `invariants` checks the application's
//! data in every region while the drill runs and once it has settled.
//! [`cluster_alarms`] evaluates a cluster file's alarms the same way for
//! `meridian up`.

mod alarms;
pub mod attached;
mod capacity;
mod checks;
pub mod cluster_alarms;
pub mod collect;
pub mod compare;
mod disaster;
pub mod driver;
mod endpoint;
mod experiment;
mod failover;
mod history;
mod invariants;
mod jitter;
mod join;
pub mod live;
mod orders;
mod probe;
pub mod profile;
pub mod random;
mod recorded;
mod recreate;
mod restore;
pub mod sim;
pub mod sweep;
mod table;
pub mod target;
mod traffic;
pub mod workload;

pub use driver::Progress;
pub use target::{FaultError, Faults, Mode, RegionTarget};
