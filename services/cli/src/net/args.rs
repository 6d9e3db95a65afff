//! The grammar of `meridian net`: its options and commands as clap parses
//! them, and the help text that says what a directed link is.

// The doc comments of this file are `--help` text (clap reads them), plain
// text for a terminal rather than rustdoc: brackets and angle brackets in
// them are the usual notation for options and placeholders.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use meridian_scenario::scenario::{Distribution, PartitionKind};

/// `meridian net --help`: what a link is, before any command.
pub const LONG_ABOUT: &str = "\
Inject faults into a running cluster: latency, loss, partitions, skew, crashes.

A directed link A → B is every byte travelling from region A to region B:
the upstream of proxy A>B (the connection A opens to B, carrying A's
mutations) plus the downstream of proxy B>A (A's acks on the connection B
opens to A). --both applies the same to B → A. Repeating a command replaces
the fault; it never stacks. `heal` ends partitions, isolation and flapping
and keeps latency, bandwidth and loss; `clear` removes everything. `--for
30s` makes a fault end by itself: the proxy removes it when the time is up.

Region names, gRPC addresses and the control API come from the cluster file
(--config). The cluster must run under `meridian up` with a [netsim]
section (crash and restart need it), or behind `meridian netsim --config`.
The commands are the events of scenario files (docs/drills.md), applied the
same way a live drill applies them. See docs/netsim.md for the exact mapping
onto proxies and toxics.";

#[derive(Args)]
pub struct NetArgs {
    /// Cluster file: region names, their gRPC addresses, the control API
    /// [default: regions/local-3.toml if it exists here, else the one the
    /// last `meridian up` recorded (see docs/operations.md)].
    #[arg(long, global = true, env = "MERIDIAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Control API address (host:port) [default: netsim.api of the cluster file].
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// End the fault by itself after this long (e.g. 30s; at most 1 day):
    /// the link proxy removes it on its own timer, whether or not this
    /// command or any client is still there. For lag, jitter, bandwidth,
    /// loss, partition, isolate and flap.
    #[arg(long = "for", global = true, value_name = "DURATION")]
    pub for_: Option<String>,
    #[command(subcommand)]
    pub command: NetCommand,
}

/// `--distribution`: uniform, normal or pareto.
fn distribution() -> impl TypedValueParser<Value = Distribution> {
    PossibleValuesParser::new(Distribution::ALL).try_map(|s| s.parse::<Distribution>())
}

/// `--kind`: blackhole or refuse.
fn kind() -> impl TypedValueParser<Value = PartitionKind> {
    PossibleValuesParser::new(PartitionKind::ALL).try_map(|s| s.parse::<PartitionKind>())
}

#[derive(Args)]
pub struct Pair {
    /// Region the bytes leave (a name from the cluster file).
    pub from: String,
    /// Region the bytes reach.
    pub to: String,
    /// Apply the same to TO → FROM.
    #[arg(long)]
    pub both: bool,
}

#[derive(Subcommand)]
pub enum NetCommand {
    /// Every directed link with its faults, connection, pending mutations and
    /// replication lag; every region's process and clock.
    Show {
        /// Lag over a window of this length (e.g. 5s) instead of since start.
        #[arg(long)]
        window: Option<String>,
        /// One JSON document instead of the table (null where unknown).
        #[arg(long)]
        json: bool,
    },
    /// One-way latency on FROM → TO, e.g. `lag us-east-1 eu-west-1 40ms`.
    /// Keeps the jitter already set unless --jitter is given; `0` with no
    /// jitter removes the latency.
    Lag {
        #[command(flatten)]
        pair: Pair,
        /// Delay added to every chunk: 40ms, 1.5s, 0.
        latency: String,
        /// Jitter: ± this (uniform), σ (normal), or the median extra delay
        /// (pareto).
        #[arg(long)]
        jitter: Option<String>,
        /// How the jitter is distributed [default for a new latency: uniform].
        #[arg(long, value_parser = distribution())]
        distribution: Option<Distribution>,
    },
    /// Jitter on FROM → TO, keeping the latency already set.
    Jitter {
        #[command(flatten)]
        pair: Pair,
        /// e.g. 5ms; 0 removes it.
        jitter: String,
        /// How the jitter is distributed [default for a new latency: uniform].
        #[arg(long, value_parser = distribution())]
        distribution: Option<Distribution>,
    },
    /// Bandwidth limit on FROM → TO in KB/s, e.g. `bandwidth A B 100`; `off`
    /// removes it.
    Bandwidth {
        #[command(flatten)]
        pair: Pair,
        /// KB/s (1 to 10000000), or `off`.
        rate: String,
    },
    /// Packet loss on FROM → TO, e.g. `loss A B 2%`: each chunk, with that
    /// probability, waits one TCP retransmission timeout and the chunks
    /// behind it wait too. `0%` removes it.
    Loss {
        #[command(flatten)]
        pair: Pair,
        /// 0 to 100, with or without %.
        percent: String,
        /// Retransmission timeout a lost chunk costs.
        #[arg(long, default_value = "200ms")]
        rto: String,
    },
    /// Cut FROM → TO (one way unless --both).
    Partition {
        #[command(flatten)]
        pair: Pair,
        /// blackhole: bytes are accepted and never forwarded (a `timeout`
        /// toxic of 0 on both streams of the link); connections stay open,
        /// silently. refuse: for A → B, proxy A>B gets a `reset_peer` toxic
        /// (open connections get an RST) and is then disabled (new
        /// connections are refused); the connection B opens to A stays up.
        #[arg(long, value_parser = kind(), default_value = "blackhole")]
        kind: PartitionKind,
    },
    /// End partitions, isolation and flapping: of link A ⇄ B, of every link
    /// of --region, or (no arguments) everywhere. Latency, bandwidth and
    /// loss stay; `meridian net clear` removes those too.
    Heal {
        /// One end of the link to heal (both ways).
        from: Option<String>,
        /// The other end.
        to: Option<String>,
        /// Heal every link of this region instead.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        region: Option<String>,
    },
    /// Remove every fault (every toxic, of any client) and enable the
    /// proxies: of link A ⇄ B, of every link of --region, or everywhere.
    Clear {
        /// One end of the link to clear (both ways).
        from: Option<String>,
        /// The other end.
        to: Option<String>,
        /// Clear every link of this region instead.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        region: Option<String>,
    },
    /// Cut every link of REGION, both ways.
    Isolate {
        /// The region to cut off.
        region: String,
        /// blackhole (silent) or refuse (reset and refused), as for `partition`.
        #[arg(long, value_parser = kind(), default_value = "blackhole")]
        kind: PartitionKind,
    },
    /// Blackhole FROM → TO for --down out of every --period, until healed.
    Flap {
        #[command(flatten)]
        pair: Pair,
        /// e.g. 2s (at least 100ms).
        #[arg(long)]
        period: String,
        /// e.g. 500ms (more than 0, less than --period).
        #[arg(long)]
        down: String,
    },
    /// Skew REGION's clock (the one its HLC reads): `skew R +300ms`,
    /// `skew R -1s --drift-ppm 50`, `skew R 0` to undo. Sets the offset and
    /// the drift together (through Admin SetClock, not the proxy).
    Skew {
        /// The region whose clock to skew.
        region: String,
        /// Offset from real time: +300ms, -1.5s, 0 (within ±1 day).
        #[arg(allow_hyphen_values = true)]
        offset: String,
        /// Drift rate, parts per million (within ±100000).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        drift_ppm: i64,
    },
    /// Pause TABLE's replication into and out of its replica in REGION
    /// for DURATION, as AWS FIS's `aws:dynamodb:global-table-pause-replication`
    /// does: every region keeps serving the table, nothing of it crosses
    /// between REGION and its peers, other tables go on; at the end each
    /// side pulls what it missed. Ends by itself (`heal` does not end it);
    /// repeating it restarts it. Through Admin PauseReplication, in every
    /// region (docs/netsim.md).
    PauseReplication {
        /// The table.
        table: String,
        /// The region whose replica's replication stops.
        region: String,
        /// How long: 30s, 5m, at most 12h; 0 ends a pause of the table at
        /// REGION now (as stopping an FIS experiment does).
        duration: String,
        /// Replication goes on this long first (AWS: for up to five
        /// minutes after the action begins); at most 5m.
        #[arg(long, default_value = "0")]
        tail: String,
    },
    /// Kill REGION's process with SIGKILL (needs `meridian up`).
    Crash {
        /// The region to kill.
        region: String,
    },
    /// Delete a crashed REGION's data directory, as a lost disk would; the
    /// next `restart` starts it empty, and it seeds from a peer. Refused
    /// while the region runs.
    Wipe {
        /// The crashed region to wipe.
        region: String,
    },
    /// The failover DynamoDB endpoint of the cluster file's [failover]
    /// section (docs/failover.md): where it forwards, each region's
    /// health, every move with the requests that failed and the writes
    /// missing; or move it.
    Failover {
        #[command(subcommand)]
        action: Option<FailoverAction>,
        /// The status as JSON, as `GET /meridian/failover` serves it.
        #[arg(long)]
        json: bool,
    },
    /// Start REGION again on its data directory and wait until it serves.
    Restart {
        /// The region to start.
        region: String,
        /// How long to wait for it to serve.
        #[arg(long, default_value = "30s")]
        wait: String,
    },
}

/// What `meridian net failover` does besides showing the status.
#[derive(Subcommand)]
pub enum FailoverAction {
    /// Move the endpoint to REGION now: a region of failover.regions,
    /// healthy and not already active.
    Move {
        /// The region to forward to.
        region: String,
    },
    /// Move the endpoint back to its home (the first of failover.regions),
    /// once the home is healthy again.
    Back,
}
