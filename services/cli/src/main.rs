//! `meridian`: run regions, start a local cluster, read and write items,
//! and show replication status.

mod bench;
mod client;
mod dashboard;
mod drill;
mod health;
mod metrics;
mod net;
mod up;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

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

/// The cluster file used when none is given: three regions on loopback.
pub const DEFAULT_CLUSTER: &str = meridian_cluster::current::DEFAULT_CLUSTER;

/// How commands that talk to a running cluster find its file, for their
/// `--config` help.
const DISCOVERY: &str = "Cluster file [default: regions/local-3.toml if it exists here, else the \
    one the last `meridian up` recorded (see docs/operations.md)]";

/// A command that ran and answered "no": scripts can tell each answer from a
/// failure to run (exit 1) and from bad usage (exit 2, from the argument
/// parser). docs/operations.md lists the codes.
#[derive(Debug)]
pub enum Refusal {
    /// `meridian status` found regions down or not answering (exit 3).
    RegionsDown(Vec<String>),
    /// A drill ran to the end and its checker failed (exit 4).
    CheckerFailed(String),
}

impl Refusal {
    /// The process exit status for this answer.
    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::RegionsDown(_) => 3,
            Refusal::CheckerFailed(_) => 4,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::RegionsDown(down) => write!(
                f,
                "{} region(s) down or not answering: {}",
                down.len(),
                down.join(", ")
            ),
            Refusal::CheckerFailed(first) => write!(f, "the checker failed: {first}"),
        }
    }
}

impl std::error::Error for Refusal {}

#[derive(Parser)]
#[command(
    name = "meridian",
    version,
    about = "Multi-region, active-active replicated item store"
)]
struct Cli {
    /// Log format, text or json (one JSON object per line); `RUST_LOG` is
    /// still the filter. `region` and `up` otherwise take the cluster
    /// file's `log_format`, and regions `up` starts inherit this.
    #[arg(
        long,
        global = true,
        env = "MERIDIAN_LOG_FORMAT",
        value_name = "text|json"
    )]
    log_format: Option<meridian_region::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct Target {
    #[arg(long, env = "MERIDIAN_CONFIG", help = DISCOVERY)]
    pub config: Option<PathBuf>,
    /// Region to talk to (a name from the cluster file).
    #[arg(long)]
    pub region: Option<String>,
    /// gRPC endpoint to talk to instead, e.g. http://127.0.0.1:7101.
    #[arg(long)]
    pub endpoint: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one region in the foreground.
    Region {
        /// Cluster file; the region picks its own entry by --region.
        #[arg(long, default_value = DEFAULT_CLUSTER, env = "MERIDIAN_CONFIG")]
        config: PathBuf,
        /// Which region of the cluster file to run (optional if it lists one).
        #[arg(long, env = "MERIDIAN_REGION")]
        region: Option<String>,
        /// Override the data directory (default: <cluster data_dir>/<region>).
        #[arg(long, env = "MERIDIAN_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Create the cluster's certificate authority and a certificate per
    /// region, for mutual TLS between regions (docs/security.md). Existing
    /// files are kept; delete a region's two files to reissue them.
    Certs {
        /// Cluster file: the regions, and the `[tls] dir` to write to.
        #[arg(long, env = "MERIDIAN_CONFIG", default_value = DEFAULT_CLUSTER)]
        config: PathBuf,
        /// Write here instead of the cluster file's `[tls] dir`.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Start every region of a cluster file as its own process, and record
    /// where the file is so other commands find it from any directory.
    Up {
        /// Cluster file: the regions to start, their addresses and data.
        #[arg(long, default_value = DEFAULT_CLUSTER)]
        config: PathBuf,
        /// Delete the cluster's data directory first.
        #[arg(long)]
        wipe: bool,
        /// Where the live dashboard listens (loopback only; port 0 picks a
        /// free one) [default: 127.0.0.1:7180, or a free port when that is
        /// taken]. docs/dashboard.md.
        #[arg(long, value_name = "ADDR")]
        dashboard: Option<std::net::SocketAddr>,
        /// Serve no dashboard.
        #[arg(long, conflicts_with = "dashboard")]
        no_dashboard: bool,
    },
    /// Serve the live dashboard of a cluster that runs already (under
    /// `meridian up` elsewhere, or compose): the one `meridian up` serves.
    /// docs/dashboard.md.
    Dashboard {
        /// Cluster file of the running cluster [default: regions/local-3.toml
        /// if it exists here, else the one the last `meridian up` recorded].
        #[arg(long, env = "MERIDIAN_CONFIG")]
        config: Option<PathBuf>,
        /// Where it listens (loopback only, unless --in-container; port 0
        /// picks a free one) [default: 127.0.0.1:7180, or a free port when
        /// that is taken].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Running in a container (regions/compose.yaml): --listen may then
        /// be off loopback, e.g. 0.0.0.0:7180, the container's interface,
        /// where Docker forwards the port it publishes on the host.
        #[arg(long, env = "MERIDIAN_DASHBOARD_IN_CONTAINER")]
        in_container: bool,
    },
    /// Run the link proxy: TCP proxies with injectable faults, controlled by
    /// a Toxiproxy-compatible REST API.
    Netsim {
        /// Where the control API listens [default: the cluster file's
        /// netsim.api with --config, else 127.0.0.1:8474].
        #[arg(long)]
        api: Option<std::net::SocketAddr>,
        /// Create one proxy per directed link of this cluster file's
        /// [netsim] section at start (to run the proxy in its own container).
        /// Without it the proxy starts with no proxies. Region processes are
        /// not supervised here: crash and restart them with docker kill/start.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Probe an HTTP health endpoint once: exit 0 on a 2xx answer, 1 otherwise.
    Health(health::HealthArgs),
    /// Monitoring: the Prometheus configuration that scrapes a cluster.
    Metrics(metrics::MetricsArgs),
    /// Inject faults into a running cluster: latency, partitions, skew, crashes.
    #[command(long_about = net::LONG_ABOUT)]
    Net(net::NetArgs),
    /// Run a drill: a scenario of workload and faults, with a report.
    Drill(drill::DrillArgs),
    /// Benchmarks: write path, replication lag, catch-up and memory, each
    /// against a baseline measured in the same run.
    Bench(bench::BenchArgs),
    /// Check any set of DynamoDB regional endpoints (Meridian's, or AWS's)
    /// against what AWS documents of global tables, one line per behaviour
    /// with its source; `--measure` writes what it saw as a profile to
    /// rehearse against (docs/conformance.md). Exit 4 when a check fails.
    Conformance(meridian_conformance::Args),
    /// Write an item, given as DynamoDB JSON.
    Put {
        #[command(flatten)]
        target: Target,
        /// The table to write to.
        #[arg(long)]
        table: String,
        /// The item, e.g. '{"id": {"S": "a"}, "n": {"N": "1"}}'.
        #[arg(long)]
        item: String,
        /// Fail unless no live item has this key.
        #[arg(long, conflicts_with = "if_version")]
        if_not_exists: bool,
        /// Fail unless the current version is exactly this one.
        #[arg(long)]
        if_version: Option<String>,
    },
    /// Read an item by key, given as DynamoDB JSON.
    Get {
        #[command(flatten)]
        target: Target,
        /// The table to read from.
        #[arg(long)]
        table: String,
        /// The item's key, e.g. '{"id": {"S": "a"}}'.
        #[arg(long)]
        key: String,
        /// A strongly consistent read: on a STRONG table it sees every
        /// write chosen before it, whichever region took it.
        #[arg(long)]
        consistent: bool,
    },
    /// Delete an item by key.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The table to delete from.
        #[arg(long)]
        table: String,
        /// The item's key, e.g. '{"id": {"S": "a"}}'.
        #[arg(long)]
        key: String,
        /// Fail unless the current version is exactly this one.
        #[arg(long)]
        if_version: Option<String>,
    },
    /// Items of one partition, optionally within a sort-key range.
    Query {
        #[command(flatten)]
        target: Target,
        /// The table to query.
        #[arg(long)]
        table: String,
        /// The partition key, e.g. '{"pk": {"S": "user#1"}}'.
        #[arg(long)]
        partition: String,
        /// eq, lt, le, gt, ge, between or begins_with.
        #[arg(long, requires = "sort_value")]
        sort_op: Option<String>,
        /// The sort key value, e.g. '{"sk": {"N": "10"}}'.
        #[arg(long)]
        sort_value: Option<String>,
        /// Upper bound for between.
        #[arg(long)]
        sort_high: Option<String>,
        /// Query this secondary index: --partition then holds every
        /// partition attribute of the index, and --sort-op applies to its
        /// first sort attribute.
        #[arg(long)]
        index: Option<String>,
        /// Descending sort-key order.
        #[arg(long)]
        reverse: bool,
        /// Items per page.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Follow pages to the end.
        #[arg(long)]
        all: bool,
    },
    /// Every item of a table, in key order.
    Scan {
        #[command(flatten)]
        target: Target,
        /// The table to scan.
        #[arg(long)]
        table: String,
        /// Scan this secondary index's entries, in index order.
        #[arg(long)]
        index: Option<String>,
        /// Items per page.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Follow pages to the end.
        #[arg(long)]
        all: bool,
    },
    /// Create, describe, list or delete tables.
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
    /// Replication status of every region: pending, lag, conflicts. Exits
    /// with 3 when a region is down or does not answer.
    Status {
        #[arg(long, env = "MERIDIAN_CONFIG", help = DISCOVERY)]
        config: Option<PathBuf>,
        /// One JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Runs an anti-entropy round now: each region compares its digest
    /// trees with its peers' and pulls what differs. Prints, per region,
    /// peer and table, what was compared, what differed, what moved and
    /// how long it took. Exits with 1 when a round failed.
    Repair {
        #[arg(long, env = "MERIDIAN_CONFIG", help = DISCOVERY)]
        config: Option<PathBuf>,
        /// Only this region pulls (default: every region of the cluster).
        #[arg(long)]
        region: Option<String>,
        /// Only from this peer (default: every peer).
        #[arg(long)]
        peer: Option<String>,
        /// Only this table (default: every table, the catalog first).
        #[arg(long)]
        table: Option<String>,
        /// One JSON document instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// On-demand backups of a region's tables: take, list, delete, and
    /// restore into a new table (docs/backups.md). A backup belongs to the
    /// region that took it.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Restore a table as it was at an instant into a new table, from the
    /// region's point-in-time history (turn it on with `backup recovery`).
    Restore {
        #[command(flatten)]
        target: Target,
        /// The table to restore.
        #[arg(long)]
        table: String,
        /// The new table's name; no table of that name may exist.
        #[arg(long)]
        to: String,
        /// The instant: RFC 3339 in UTC (2026-11-23T14:01:00Z, fractions
        /// allowed), seconds since the epoch, or "latest".
        #[arg(long)]
        at: String,
        /// Comma-separated regions that hold the new table (this one
        /// included); default the restored table's.
        #[arg(long, value_delimiter = ',')]
        replicas: Vec<String>,
        /// Wait until every item is loaded, printing the progress.
        #[arg(long)]
        wait: bool,
    },
    /// Tail a table's change stream in a region as it is written: every
    /// change it applies, local or replicated, a mark on each change that
    /// overwrote a concurrent write, and a DISCARDED line for each
    /// concurrent write that lost on arrival (docs/streams.md). Needs the
    /// table's stream enabled. Runs until Ctrl-C, or `--limit` changes.
    Watch {
        #[command(flatten)]
        target: Target,
        /// The table.
        #[arg(long)]
        table: String,
        /// Start at the stream's oldest record instead of now.
        #[arg(long)]
        from_start: bool,
        /// Stop after this many changes.
        #[arg(long)]
        limit: Option<u64>,
        /// One JSON document per change instead of a line.
        #[arg(long)]
        json: bool,
    },
    /// Conflicts a region recorded: which write lost, to which, and why.
    Conflicts {
        #[command(flatten)]
        target: Target,
        /// Only this table's conflicts (default: every table).
        #[arg(long, default_value = "")]
        table: String,
        /// At most this many, oldest first (read a page at a time).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create a table (replicated to every region unless --replicas).
    Create {
        #[command(flatten)]
        target: Target,
        /// The table's name.
        #[arg(long)]
        name: String,
        /// NAME:TYPE, type S, N or B.
        #[arg(long)]
        partition_key: String,
        /// NAME:TYPE, type S, N or B.
        #[arg(long)]
        sort_key: Option<String>,
        /// Comma-separated regions; default every region.
        #[arg(long, value_delimiter = ',')]
        replicas: Vec<String>,
        /// eventual (last writer wins, the default) or strong: a majority
        /// of three regions decides each write (docs/strong.md); then
        /// --replicas names two or three regions, the one asked among them.
        #[arg(long, default_value = "eventual", value_parser = ["eventual", "strong"])]
        consistency: String,
        /// With --consistency strong and two replicas: the third region, a
        /// witness that votes but holds no items.
        #[arg(long)]
        witness: Option<String>,
        /// A global secondary index, NAME=HASH[/RANGE][@PROJECTION]: each
        /// key part is one attribute NAME:TYPE or up to four joined by
        /// '+'; PROJECTION is ALL (the default), KEYS_ONLY or
        /// INCLUDE:attr,attr. E.g. by_status=status:S/at:N@KEYS_ONLY.
        /// Repeatable.
        #[arg(long = "gsi")]
        gsi: Vec<String>,
        /// A local secondary index, NAME=RANGE[@PROJECTION]: its partition
        /// key is the table's. E.g. by_at=at:N. Repeatable.
        #[arg(long = "lsi")]
        lsi: Vec<String>,
    },
    /// A table's key schema, replicas and state.
    Describe {
        #[command(flatten)]
        target: Target,
        /// The table's name.
        #[arg(long)]
        name: String,
    },
    /// Every table.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Delete a table.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The table's name.
        #[arg(long)]
        name: String,
    },
    /// Add a replica of a table in another region, while writes go on: it
    /// is CREATING while it fills from the other replicas, then ACTIVE
    /// (docs/replicas.md). Ask any region of the table.
    AddReplica {
        #[command(flatten)]
        target: Target,
        /// The table's name.
        #[arg(long)]
        name: String,
        /// The region that gets the new replica (not the one asked);
        /// repeatable, or comma-separated.
        #[arg(long = "replica", value_delimiter = ',', required = true)]
        replica: Vec<String>,
        /// strong: the table, empty and held by the region asked alone,
        /// becomes a STRONG table with these replicas (docs/strong.md).
        #[arg(long, default_value = "eventual", value_parser = ["eventual", "strong"])]
        consistency: String,
        /// With --consistency strong: a witness region.
        #[arg(long)]
        witness: Option<String>,
    },
    /// Remove a table's replica from another region: that region stops
    /// taking writes for it and deletes its copy.
    RemoveReplica {
        #[command(flatten)]
        target: Target,
        /// The table's name.
        #[arg(long)]
        name: String,
        /// The region whose replica goes (not the one asked).
        #[arg(long = "replica")]
        replica: String,
    },
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Take a backup of a table now, while writes go on.
    Create {
        #[command(flatten)]
        target: Target,
        /// The table to back up.
        #[arg(long)]
        table: String,
        /// The backup's name: 3 to 255 characters of a-z, A-Z, 0-9, '_', '.' and '-'.
        #[arg(long)]
        name: String,
    },
    /// Turn a table's point-in-time recovery on or off in this region,
    /// and show the window a restore may ask for.
    Recovery {
        #[command(flatten)]
        target: Target,
        /// The table.
        #[arg(long)]
        table: String,
        /// Days of history to keep, 1 to 35.
        #[arg(long, default_value_t = 35, conflicts_with = "off")]
        days: u32,
        /// Turn recovery off, which drops the history.
        #[arg(long)]
        off: bool,
    },
    /// The region's backups, oldest first, and the restores it ran.
    List {
        #[command(flatten)]
        target: Target,
        /// Only this table's backups.
        #[arg(long, default_value = "")]
        table: String,
    },
    /// Delete a backup.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The backup's id (the last part of its ARN, from `backup list`).
        #[arg(long)]
        id: String,
    },
    /// Create a new table from a backup and load its items; they replicate
    /// to every replica of the new table.
    Restore {
        #[command(flatten)]
        target: Target,
        /// The backup's id (from `backup list`).
        #[arg(long)]
        id: String,
        /// The new table's name; no table of that name may exist.
        #[arg(long)]
        to: String,
        /// Comma-separated regions that hold the new table (this one
        /// included); default the backed-up table's.
        #[arg(long, value_delimiter = ',')]
        replicas: Vec<String>,
        /// Wait until every item is loaded, printing the progress.
        #[arg(long)]
        wait: bool,
    },
}

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

impl Command {
    /// Whether this command runs servers (regions, the link proxy) rather
    /// than printing an answer and exiting.
    fn serves(&self) -> bool {
        matches!(
            self,
            Command::Region { .. }
                | Command::Up { .. }
                | Command::Netsim { .. }
                | Command::Dashboard { .. }
        )
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
        Command::Certs { config, dir } => up::certs(&config, dir.as_deref()),
        Command::Up {
            config,
            wipe,
            dashboard,
            no_dashboard,
        } => {
            init_tracing_for(&config, log);
            up::up(&config, wipe, (!no_dashboard).then_some(dashboard)).await
        }
        Command::Dashboard {
            config,
            listen,
            in_container,
        } => {
            init_logs("warn");
            let config = cluster_path(config.as_deref())?;
            let reach = match in_container {
                true => dashboard::Reach::Container,
                false => dashboard::Reach::Loopback,
            };
            dashboard::standalone(&config, listen, reach).await
        }
        Command::Netsim { api, config } => {
            init_logs("info");
            up::netsim(api, config.as_deref()).await
        }
        Command::Metrics(args) => {
            init_logs("warn");
            metrics::run(args)
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
            bench::run(args).await
        }
        Command::Conformance(args) => {
            init_logs("warn");
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
        command => {
            init_logs("warn");
            client::run(command).await
        }
    }
}

/// The cluster file of a command that talks to a running cluster: the one
/// given, else the default here, else the one `meridian up` recorded.
pub fn cluster_path(given: Option<&std::path::Path>) -> Result<PathBuf> {
    Ok(meridian_cluster::current::resolve(given)?)
}

/// Resolves on Ctrl-C or SIGTERM: how a server of ours (the link proxy,
/// the dashboard alone) is told to stop.
pub async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Reads a cluster file with a message that says which file.
pub fn load_cluster(path: &std::path::Path) -> Result<meridian_region::ClusterFile> {
    meridian_region::ClusterFile::load(path)
        .with_context(|| format!("loading cluster file {} (set --config)", path.display()))
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
