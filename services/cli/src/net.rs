//! `meridian net`: inject network, clock and process faults into a running
//! cluster (`meridian up`) through the link proxy's control API.

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct NetArgs {
    #[command(subcommand)]
    pub command: NetCommand,
}

#[derive(Subcommand)]
pub enum NetCommand {
    /// Every link with its faults and replication lag.
    Show,
}

pub async fn run(args: NetArgs) -> Result<()> {
    match args.command {
        NetCommand::Show => anyhow::bail!("meridian net show: not implemented yet"),
    }
}
