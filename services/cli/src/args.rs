//! `meridian`'s command line: the arguments of every subcommand, as clap
//! parses them. Apart from `main.rs`, which runs the commands, so the
//! commands that read these arguments (`client` and its parts) do not
//! reach back to it; it names only the modules whose own arguments it
//! embeds (`drill`, `net`, `health`, `metrics`) and `meridian_bench`'s.

// The doc comments of this file are `--help` text (clap reads them), plain
// text for a terminal rather than rustdoc: brackets and angle brackets in
// them are the usual notation for options and placeholders.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::common::{DEFAULT_CLUSTER, DISCOVERY, Target};
use crate::{drill, health, metrics, net};

#[derive(Parser)]
#[command(
    name = "meridian",
    version,
    about = "Multi-region, active-active replicated item store"
)]
pub(crate) struct Cli {
    /// Log format, text or json (one JSON object per line); `RUST_LOG` is
    /// still the filter. `region` and `up` otherwise take the cluster
    /// file's `log_format`, and regions `up` starts inherit this.
    #[arg(
        long,
        global = true,
        env = "MERIDIAN_LOG_FORMAT",
        value_name = "text|json"
    )]
    pub(crate) log_format: Option<meridian_region::LogFormat>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        #[arg(long, default_value = DEFAULT_CLUSTER, env = "MERIDIAN_CONFIG")]
        config: PathBuf,
        /// Delete the cluster's data directory first.
        #[arg(long)]
        wipe: bool,
        /// Where the live dashboard listens (loopback only, unless
        /// --in-container; port 0 picks a free one) [default: 127.0.0.1:7180,
        /// or a free port when that is taken]. docs/dashboard.md.
        #[arg(long, value_name = "ADDR", env = "MERIDIAN_UP_DASHBOARD")]
        dashboard: Option<std::net::SocketAddr>,
        /// Serve no dashboard.
        #[arg(long, conflicts_with = "dashboard")]
        no_dashboard: bool,
        /// Running in a container (the image's `up`): --dashboard may then
        /// be off loopback, e.g. 0.0.0.0:7180, where Docker forwards the
        /// port it publishes.
        #[arg(long, env = "MERIDIAN_DASHBOARD_IN_CONTAINER")]
        in_container: bool,
        /// Also serve GET /health here: 200 only while every region answers
        /// its own /health, 503 naming those that do not (the image's
        /// HEALTHCHECK, docs/containers.md).
        #[arg(long, value_name = "ADDR", env = "MERIDIAN_UP_HEALTH")]
        health: Option<std::net::SocketAddr>,
        /// Serve no edge (the one address for every region of the cluster
        /// file's `[edge]` section). docs/edge.md.
        #[arg(long)]
        no_edge: bool,
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
    #[command(long_about = net::args::LONG_ABOUT)]
    Net(net::args::NetArgs),
    /// Run a drill: a scenario of workload and faults, with a report.
    Drill(drill::DrillArgs),
    /// Benchmarks: write path, replication lag, catch-up and memory, each
    /// against a baseline measured in the same run.
    Bench(meridian_bench::BenchArgs),
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
    /// The cluster file's alarms ([[alarm]] tables) and the state
    /// `meridian up` evaluates for each: OK, ALARM or INSUFFICIENT_DATA,
    /// since when, why, and the newest period's value (docs/drills.md).
    Alarms {
        #[arg(long, env = "MERIDIAN_CONFIG", help = DISCOVERY)]
        config: Option<PathBuf>,
        /// One JSON document instead of the table, as the control API
        /// serves it (GET /meridian/alarms).
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
pub(crate) enum TableCommand {
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

impl Command {
    /// Whether this command runs servers (regions, the link proxy) rather
    /// than printing an answer and exiting.
    pub(crate) fn serves(&self) -> bool {
        matches!(
            self,
            Command::Region { .. }
                | Command::Up { .. }
                | Command::Netsim { .. }
                | Command::Dashboard { .. }
        )
    }
}
