//! `cargo run -p meridian-conformance --example conformance -- --cluster regions/local-3.toml`
//!
//! The same command line `meridian conformance` takes; exits 1 when any
//! check fails.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "conformance",
    about = "Checks DynamoDB regional endpoints against what AWS documents for global tables"
)]
struct Cli {
    #[command(flatten)]
    args: meridian_conformance::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let json = cli.args.json;
    let report = meridian_conformance::run(cli.args).await?;
    if report.print(json) {
        std::process::exit(1);
    }
    Ok(())
}
