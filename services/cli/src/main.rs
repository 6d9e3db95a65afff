//! `meridian`: run regions, start a local cluster, read and write items,
//! and show replication status.

mod alarms;
mod args;
mod client;
mod cluster_health;
mod common;
mod dashboard;
mod drill;
mod health;
mod metrics;
mod net;
mod up;

use anyhow::Result;
use clap::Parser;

use args::Cli;
pub(crate) use args::{BackupCommand, Command, TableCommand};
pub(crate) use common::{
    DEFAULT_CLUSTER, Refusal, Target, cluster_path, load_cluster, stop_signal,
};

/// jemalloc instead of the system allocator: a region allocates and frees
/// per request and per replicated batch (HTTP/2 frames, protobuf messages,
/// SQLite rows), and glibc's malloc and free took about a tenth of the
/// machine in the replication profile. jemalloc rather than mimalloc, which
/// cost the same CPU: under the soak's faults mimalloc held 170 to 380 MiB
/// per region for a live heap of about 33 MiB, swinging by 100 MiB from one
/// sample to the next, while jemalloc, which hands freed pages back on a
/// steady decay, holds 70 to 90 MiB between faults (docs/performance.md,
/// *Soak*). SQLite is handed jemalloc too, first thing in `main`.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Logs to stderr, filtered by `RUST_LOG` (else `default`), in `format`:
/// JSON puts each event's fields beside `timestamp`, `level`, `target` and
/// `message`, one object per line, for log pipelines.
fn init_tracing(default: &str, format: meridian_region::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        meridian_region::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        meridian_region::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// Logs at `info` for a command that runs the regions of the cluster file
/// `config`.
fn init_tracing_for(config: &std::path::Path, given: Option<meridian_region::LogFormat>) {
    init_tracing("info", cluster_log_format(given, config));
}

/// The log format of a command that runs a cluster file's regions: the
/// flag or environment, else the file's `log_format`. A file that does not
/// load gives the default here; the command then reports why.
fn cluster_log_format(
    given: Option<meridian_region::LogFormat>,
    config: &std::path::Path,
) -> meridian_region::LogFormat {
    given.unwrap_or_else(|| {
        meridian_region::ClusterFile::load(config)
            .map(|c| c.log_format)
            .unwrap_or_default()
    })
}

fn main() -> std::process::ExitCode {
    // Before anything opens a store: SQLite takes its allocator only then.
    if !meridian_store::memory::sqlite_on_jemalloc() {
        eprintln!("warning: SQLite refused jemalloc and keeps the C library's malloc");
    }
    let cli = Cli::parse();
    // What `/metrics` says this binary is (`meridian_build_info`), from
    // build.rs: absent when the build had no git or could not ask rustc.
    meridian_region::metrics::set_build(
        option_env!("MERIDIAN_GIT_COMMIT"),
        option_env!("MERIDIAN_RUSTC_VERSION"),
    );
    if let (Some(format), Command::Up { .. }) = (cli.log_format, &cli.command) {
        let name = match format {
            meridian_region::LogFormat::Text => "text",
            meridian_region::LogFormat::Json => "json",
        };
        // SAFETY: before the runtime starts, while this is the only
        // thread; the regions `up` spawns inherit it.
        unsafe { std::env::set_var("MERIDIAN_LOG_FORMAT", name) };
    }
    if !cli.command.serves() {
        quiet_on_closed_pipe();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Refusal>().is_some() => {
            eprintln!("{e}");
            let code = e.downcast_ref::<Refusal>().map_or(1, Refusal::exit_code);
            std::process::ExitCode::from(code)
        }
        Err(e) => {
            // A region's answer is the useful part; the gRPC code says what kind.
            match e.downcast_ref::<tonic::Status>() {
                Some(s) => eprintln!("error: {} ({:?})", s.message(), s.code()),
                None => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command whose output is piped into `head`, `grep -q` or `less` ends
/// quietly when the reader goes away, as Unix tools do, with the status a
/// SIGPIPE death gives (128 + 13). Not through SIGPIPE's default action:
/// that is process-wide, and a socket written with `writev` (hyper's HTTP/2
/// frames through std's `TcpStream`) raises SIGPIPE as well when its peer is
/// gone, which killed a live drill the moment a region it wrote to crashed.
/// So SIGPIPE stays ignored (Rust's default, a socket's EPIPE is an error
/// like any other) and only a print to a closed standard output ends the
/// process. Servers keep Rust's default entirely.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Runs the parsed command. Those that serve (regions, the link proxy, the
/// dashboard) are started here; the rest print an answer through
/// [`run_tool`].
async fn run(cli: Cli) -> Result<()> {
    let log = cli.log_format;
    let init_logs = |default: &str| init_tracing(default, log.unwrap_or_default());
    match cli.command {
        Command::Region {
            config,
            region,
            data_dir,
        } => {
            init_tracing_for(&config, log);
            up::run_region(&config, region.as_deref(), data_dir).await
        }
        Command::Up {
            config,
            wipe,
            dashboard,
            no_dashboard,
            in_container,
            health,
            no_edge,
        } => {
            init_tracing_for(&config, log);
            let options = up::UpOptions {
                wipe,
                dashboard: (!no_dashboard).then_some(dashboard),
                reach: reach(in_container),
                health,
                edge: !no_edge,
            };
            up::up(&config, options).await
        }
        Command::Dashboard {
            config,
            listen,
            in_container,
        } => {
            init_logs("warn");
            let config = cluster_path(config.as_deref())?;
            dashboard::standalone(&config, listen, reach(in_container)).await
        }
        Command::Netsim { api, config } => {
            init_logs("info");
            up::netsim(api, config.as_deref()).await
        }
        command => run_tool(command, log).await,
    }
}

/// Where the dashboard may listen: off loopback only in a container, where
/// Docker forwards the port it publishes.
fn reach(in_container: bool) -> dashboard::Reach {
    match in_container {
        true => dashboard::Reach::Container,
        false => dashboard::Reach::Loopback,
    }
}

/// Runs a command that does not serve: it prints an answer (or a report)
/// and exits, logging only warnings unless it says otherwise.
async fn run_tool(command: Command, log: Option<meridian_region::LogFormat>) -> Result<()> {
    let init_logs = |default: &str| init_tracing(default, log.unwrap_or_default());
    match command {
        Command::Certs { config, dir } => up::certs(&config, dir.as_deref()),
        Command::Metrics(args) => {
            init_logs("warn");
            metrics::run(args)
        }
        Command::Alarms { config, json } => {
            init_logs("warn");
            alarms::run(&cluster_path(config.as_deref())?, json).await
        }
        Command::Health(args) => {
            init_logs("warn");
            health::run(args).await
        }
        Command::Net(args) => {
            init_logs("warn");
            net::run(args).await
        }
        Command::Drill(args) => {
            // A sweep runs hundreds of simulations whose regions warn of
            // the faults they are put through: only errors are news there.
            let sweep = matches!(args.command, drill::DrillCommand::Sweep { .. });
            init_logs(if sweep { "error" } else { "warn" });
            drill::run(args).await
        }
        Command::Bench(args) => {
            init_logs("warn");
            meridian_bench::run(args, |cluster, listener, shutdown| {
                Box::pin(dashboard::serve(cluster, listener, shutdown))
            })
            .await
        }
        Command::Conformance(args) => {
            init_logs("warn");
            conformance(args).await
        }
        command => {
            init_logs("warn");
            client::run(command).await
        }
    }
}

/// Runs the conformance checks and prints their report; a failed check
/// makes the command fail, with the exit code of a checker that failed.
async fn conformance(args: meridian_conformance::Args) -> Result<()> {
    let json = args.json;
    let report = meridian_conformance::run(args).await?;
    if report.print(json) {
        return Err(Refusal::CheckerFailed(
            "a conformance check failed (its line says which)".into(),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every argument says what it is for.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && path != " meridian" {
                missing.push(path.clone());
            }
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path, missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
