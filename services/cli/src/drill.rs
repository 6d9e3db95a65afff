//! `meridian drill run <scenario>`: run a scenario of workload and faults
//! against real region processes (or under simulation) and write a report.

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub command: DrillCommand,
}

#[derive(Subcommand)]
pub enum DrillCommand {
    /// Run a scenario file.
    Run {
        /// A scenario file, e.g. simulations/partition-heal.toml.
        scenario: std::path::PathBuf,
    },
}

pub async fn run(args: DrillArgs) -> Result<()> {
    match args.command {
        DrillCommand::Run { .. } => anyhow::bail!("meridian drill run: not implemented yet"),
    }
}
