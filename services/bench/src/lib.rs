//! `meridian bench`: the write path, replication lag, catch-up and memory,
//! each measured through the same binary and gRPC API users use (regions are
//! real `meridian region` child processes) and reported against a baseline
//! measured in the same run. See docs/performance.md.
//!
//! A library of its own so the `meridian` binary holds only the command's
//! entry: the binary parses [`BenchArgs`] with its other commands and hands
//! them to [`run`], with the dashboard it serves (see [`Dashboard`]).

mod backup;
mod catchup;
mod cluster;
mod common;
mod disk;
mod fill;
mod hot;
mod index;
mod load;
mod memory;
mod phase;
mod probe;
mod repair;
mod replicate;
mod report;
mod soak;
mod status;
mod stream;
mod strong;
mod tls;
mod viewer;
mod write;

use anyhow::Result;
use clap::{Args, Subcommand};

pub(crate) use common::Common;
pub use viewer::Dashboard;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Subcommand)]
enum Which {
    /// One region, N concurrent clients: single-item PutItem, then
    /// BatchWrite of 25; baseline: raw rusqlite inserts of the same rows.
    Write(write::WriteArgs),
    /// Three regions writing at a fixed rate, with no injected latency and
    /// then with one-way latency L on every link; replication latency per
    /// region pair and maximum pending.
    Replicate(replicate::ReplicateArgs),
    /// Stop one region while the others write a backlog, restart it, and
    /// measure how fast the backlog drains.
    Catchup(catchup::CatchupArgs),
    /// Load items into one region and report its RSS and database size.
    Memory(memory::MemoryArgs),
    /// Wipe a region that holds N items, restart it empty, and measure how
    /// fast anti-entropy rebuilds it; baseline: a raw copy of the same
    /// store's files.
    Repair(repair::RepairArgs),
    /// Overwrite a fixed set of keys many times and report the store's
    /// size against its live data: the log is truncated as peers apply it.
    Disk(disk::DiskArgs),
    /// Back up a table of N items against a plain copy of the store's
    /// files; writes while backups run against writes alone; and a restore
    /// to a point in time N overwrites ago.
    Backup(backup::BackupArgs),
    /// A table of N items in one region gets a replica in a second one,
    /// which fills from it; baseline: a raw copy of the first region's
    /// store files.
    Fill(fill::FillArgs),
    /// Writes with a NEW_AND_OLD_IMAGES stream on, against the same
    /// writes with it off; and how soon a change is readable from the
    /// stream, in its region and in a peer.
    Stream(stream::StreamArgs),
    /// Writes with two global secondary indexes against the same writes
    /// without; a query of a global index against one of the table; and
    /// the build of an index added to a loaded table, with writes going on.
    Index(index::IndexArgs),
    /// Three regions replicating over mutual TLS against three replicating
    /// in plaintext, phases alternating in the same run: replication
    /// latency and CPU per write.
    Tls(tls::TlsArgs),
    /// Writes to a STRONG table against the same writes to an EVENTUAL
    /// one: uncontended latency at L = 0 and L, strongly consistent reads,
    /// throughput, and the conflicts of a two-region race (docs/strong.md).
    Strong(strong::StrongArgs),
    /// Three regions under a steady mixed load for minutes to an hour,
    /// a fault every minute: no acknowledged write lost, convergence, and
    /// RSS, descriptors, disk and replication latency staying flat.
    Soak(soak::SoakArgs),
}

/// Runs the benchmark `args` names; `dashboard` serves the page `bench
/// replicate --dashboard` keeps open.
pub async fn run(args: BenchArgs, dashboard: Dashboard) -> Result<()> {
    match args.which {
        Which::Write(a) => write::write(a).await,
        Which::Replicate(a) => replicate::replicate(a, dashboard).await,
        Which::Catchup(a) => catchup::catchup(a).await,
        Which::Memory(a) => memory::memory(a).await,
        Which::Repair(a) => repair::repair(a).await,
        Which::Disk(a) => disk::disk(a).await,
        Which::Backup(a) => backup::backup(a).await,
        Which::Fill(a) => fill::fill(a).await,
        Which::Stream(a) => stream::stream(a).await,
        Which::Index(a) => index::index(a).await,
        Which::Tls(a) => tls::tls(a).await,
        Which::Strong(a) => strong::strong(a).await,
        Which::Soak(a) => soak::soak(a).await,
    }
}
