//! The one fault vocabulary, [`Action`]: scenario events parse into it,
//! and so do the arguments of `meridian net`, and the live executor
//! (`meridian_cluster::faults`) and the simulator apply it. With it, the
//! kinds a fault takes (jitter distributions, partition kinds) and the
//! directed links an event covers.

use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Uniform,
    Normal,
    Pareto,
}

impl Distribution {
    pub const ALL: [&'static str; 3] = ["uniform", "normal", "pareto"];

    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Normal => "normal",
            Distribution::Pareto => "pareto",
        }
    }
}

impl std::str::FromStr for Distribution {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "uniform" => Ok(Distribution::Uniform),
            "normal" => Ok(Distribution::Normal),
            "pareto" => Ok(Distribution::Pareto),
            other => Err(format!(
                "{other:?} is not a distribution: use uniform, normal or pareto"
            )),
        }
    }
}

/// Partition kinds, as docs/netsim.md and `meridian net` name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionKind {
    /// Bytes are accepted and never forwarded.
    Blackhole,
    /// Connections are refused or reset.
    Refuse,
}

impl PartitionKind {
    pub const ALL: [&'static str; 2] = ["blackhole", "refuse"];

    pub fn as_str(self) -> &'static str {
        match self {
            PartitionKind::Blackhole => "blackhole",
            PartitionKind::Refuse => "refuse",
        }
    }
}

impl std::str::FromStr for PartitionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "blackhole" => Ok(PartitionKind::Blackhole),
            "refuse" => Ok(PartitionKind::Refuse),
            other => Err(format!(
                "{other:?} is not a partition kind: use blackhole or refuse"
            )),
        }
    }
}

/// A fault, or the end of one. A directed link `from → to` carries every
/// byte travelling from `from` to `to`; `both` applies the same to `to → from`.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Set a link's latency (one-way), jitter and jitter distribution. A
    /// field left `None` keeps what the link has (`meridian net lag` without
    /// `--jitter` keeps the jitter); a scenario event gives all three, so it
    /// replaces. Latency and jitter both zero removes the latency.
    Latency {
        from: String,
        to: String,
        both: bool,
        latency: Option<Duration>,
        jitter: Option<Duration>,
        distribution: Option<Distribution>,
    },
    /// Limit a link to `kbps` kilobytes per second; `None` removes the limit.
    Bandwidth {
        from: String,
        to: String,
        both: bool,
        kbps: Option<u64>,
    },
    /// Lose a share of segments; TCP retransmits, so each loss costs a
    /// retransmission timeout (`rto`, the proxy's default when `None`).
    /// 0 % removes the loss.
    Loss {
        from: String,
        to: String,
        both: bool,
        percent: f64,
        rto: Option<Duration>,
    },
    Partition {
        from: String,
        to: String,
        both: bool,
        kind: PartitionKind,
    },
    /// Cut every link of one region, both ways.
    Isolate { region: String, kind: PartitionKind },
    /// Partition a link for `down` out of every `period`, until healed.
    Flap {
        from: String,
        to: String,
        both: bool,
        period: Duration,
        down: Duration,
    },
    /// End partitions, isolations and flapping: of one link (both ways) when
    /// `from`/`to` are given, of one region's links when `region` is, or
    /// everywhere. Latency, bandwidth and loss stay.
    Heal {
        link: Option<(String, String)>,
        region: Option<String>,
    },
    /// Remove every fault, latency, bandwidth and loss included, in the same
    /// scope as [`Action::Heal`].
    Clear {
        link: Option<(String, String)>,
        region: Option<String>,
    },
    /// Skew a region's HLC clock: `offset_micros` ahead (negative: behind)
    /// and a drift rate in ppm.
    Skew {
        region: String,
        offset_micros: i64,
        drift_ppm: i64,
    },
    /// kill -9 of the region's process.
    Crash { region: String },
    /// Start a crashed region again on its data directory.
    Restart { region: String },
    /// Delete a crashed region's data directory, as a lost disk would: a
    /// later `restart` brings it back empty.
    Wipe { region: String },
    /// Copy a crashed region's data directory under `name`, to put back
    /// later with `restore`.
    Snapshot { region: String, name: String },
    /// Replace a crashed region's data directory with its copy `name`, as
    /// a restore from an old backup would.
    Restore { region: String, name: String },
    /// Turn point-in-time recovery of the drill's table on in a region
    /// (docs/backups.md).
    Recovery { region: String },
    /// Note an instant as `name`: the workload pauses everywhere until the
    /// regions agree, and the table as `region` holds it then is what a
    /// restore to this mark must give back, key by key.
    Mark { region: String, name: String },
    /// Restore the drill's table in `region` as it was at mark `name`,
    /// into `<table>-<name>`, by point-in-time recovery; the checker
    /// compares it, in every region, with the table at the mark.
    RestoreToTime { region: String, name: String },
    /// Add a replica of the drill's table in `region`, asked of `from` (a
    /// region of the table), while the workload goes on
    /// (docs/replicas.md). The report follows its fill to `ACTIVE`.
    AddReplica { region: String, from: String },
    /// Delete the drill's table in `region` and create it again with the
    /// same schema (and TTL, when the workload has it on): the workload
    /// pauses until no request is in flight and resumes once every region
    /// holds the new table, while other events go on firing. Writes to the
    /// old table are gone with it and must never reappear in the new one.
    Recreate { region: String },
    /// Send the workload of region `from` to region `to` from now on, as a
    /// failover endpoint or a DNS record moves an application's clients
    /// when their region fails: `to` then serves both shares, on its own
    /// units (docs/drills.md, *Capacity*). The move stays; `heal` does not
    /// undo it.
    MoveTraffic { from: String, to: String },
    /// Stop replication of `table` into and out of its replica in
    /// `region` for `duration`, after `tail` in which it goes on, while
    /// every region keeps serving it, as AWS FIS's
    /// `aws:dynamodb:global-table-pause-replication` does
    /// (docs/netsim.md, *Pausing a table's replication*). It ends by
    /// itself; `heal` does not end it.
    PauseReplication {
        table: String,
        region: String,
        duration: Duration,
        tail: Duration,
        /// `Some`: the tail is not chosen but drawn from the drill's seed
        /// when it begins, from 0 to this, at most the pause's duration
        /// ([`crate::scenario::Scenario::with_seeded_tails`]); `tail` is 0
        /// until then. AWS says only that replication may go on for up to
        /// five minutes, not for how long.
        tail_max: Option<Duration>,
    },
}

/// The directed links an event on `from → to` covers: that one, and
/// `to → from` as well when `both`.
pub fn directed(from: &str, to: &str, both: bool) -> Vec<(String, String)> {
    let mut v = vec![(from.to_string(), to.to_string())];
    if both {
        v.push((to.to_string(), from.to_string()));
    }
    v
}

/// The directed links isolating `region` from the other `regions` cuts:
/// to and from each of them, in their order.
pub fn isolating(region: &str, regions: &[String]) -> Vec<(String, String)> {
    regions
        .iter()
        .filter(|other| *other != region)
        .flat_map(|other| directed(region, other, true))
        .collect()
}

/// How a directed link is drawn: `→`, or `⇄` when `both` ways.
pub fn arrow(both: bool) -> &'static str {
    if both { "⇄" } else { "→" }
}

impl Action {
    /// The region whose data this action destroys or rolls back, if any:
    /// the disasters a drill states an RPO and RTO for.
    pub fn data_loss(&self) -> Option<&str> {
        match self {
            Action::Wipe { region } | Action::Restore { region, .. } => Some(region),
            _ => None,
        }
    }

    /// The event's name in the file, for markers and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Latency { .. } => "latency",
            Action::Bandwidth { .. } => "bandwidth",
            Action::Loss { .. } => "loss",
            Action::Partition { .. } => "partition",
            Action::Isolate { .. } => "isolate",
            Action::Flap { .. } => "flap",
            Action::Heal { .. } => "heal",
            Action::Clear { .. } => "clear",
            Action::Skew { .. } => "skew",
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
            Action::Wipe { .. } => "wipe",
            Action::Snapshot { .. } => "snapshot",
            Action::Restore { .. } => "restore",
            Action::Recovery { .. } => "recovery",
            Action::Mark { .. } => "mark",
            Action::RestoreToTime { .. } => "restore-to-time",
            Action::AddReplica { .. } => "add-replica",
            Action::Recreate { .. } => "recreate",
            Action::MoveTraffic { .. } => "move-traffic",
            Action::PauseReplication { .. } => "pause-replication",
        }
    }

    /// A one-line description, as plots and progress output show it.
    pub fn label(&self) -> String {
        let ms = |d: &Option<Duration>| match d {
            Some(d) => format!("{} ms", d.as_millis()),
            None => "unchanged".to_string(),
        };
        match self {
            Action::Latency {
                from,
                to,
                both,
                latency,
                jitter,
                distribution,
            } => format!(
                "latency {from} {} {to} {} ± {} ({})",
                arrow(*both),
                ms(latency),
                ms(jitter),
                distribution
                    .map(Distribution::as_str)
                    .unwrap_or("unchanged")
            ),
            Action::Bandwidth {
                from,
                to,
                both,
                kbps,
            } => match kbps {
                Some(kbps) => format!("bandwidth {from} {} {to} {kbps} KB/s", arrow(*both)),
                None => format!("bandwidth {from} {} {to} off", arrow(*both)),
            },
            Action::Loss {
                from,
                to,
                both,
                percent,
                ..
            } => format!("loss {from} {} {to} {percent}%", arrow(*both)),
            Action::Partition {
                from,
                to,
                both,
                kind,
            } => format!("partition {from} {} {to} ({})", arrow(*both), kind.as_str()),
            Action::Isolate { region, kind } => {
                format!("isolate {region} ({})", kind.as_str())
            }
            Action::Flap {
                from,
                to,
                both,
                period,
                down,
            } => format!(
                "flap {from} {} {to} down {} ms every {} ms",
                arrow(*both),
                down.as_millis(),
                period.as_millis()
            ),
            Action::Heal { link, region } => scope_label("heal", link, region),
            Action::Clear { link, region } => scope_label("clear", link, region),
            Action::Skew {
                region,
                offset_micros,
                drift_ppm,
            } => format!(
                "skew {region} {:+} ms, drift {drift_ppm:+} ppm",
                *offset_micros as f64 / 1e3
            ),
            Action::Crash { region } => format!("crash {region}"),
            Action::Restart { region } => format!("restart {region}"),
            Action::Wipe { region } => format!("wipe {region}'s data directory"),
            Action::Snapshot { region, name } => format!("snapshot {region} as {name:?}"),
            Action::Restore { region, name } => format!("restore {region} from {name:?}"),
            Action::Recovery { region } => format!("point-in-time recovery on in {region}"),
            Action::Mark { region, name } => format!("mark {name:?} in {region}"),
            Action::RestoreToTime { region, name } => {
                format!("restore {region}'s table to mark {name:?}")
            }
            Action::AddReplica { region, from } => {
                format!("add a replica in {region} (asked of {from})")
            }
            Action::Recreate { region } => {
                format!("delete the table in {region} and create it again")
            }
            Action::MoveTraffic { from, to } => format!("move {from}'s traffic to {to}"),
            Action::PauseReplication {
                table,
                region,
                duration,
                tail,
                tail_max,
            } => pause_label(table, region, *duration, *tail, *tail_max),
        }
    }
}

/// A heal's or clear's label (`verb`): of a link, a region, or all.
fn scope_label(verb: &str, link: &Option<(String, String)>, region: &Option<String>) -> String {
    match (link, region) {
        (Some((a, b)), _) => format!("{verb} {a} ⇄ {b}"),
        (None, Some(r)) => format!("{verb} {r}"),
        (None, None) => format!("{verb} all"),
    }
}

/// A pause's label, with its tail: fixed, or drawn from the seed up to
/// `tail_max` (no longer than the pause).
fn pause_label(
    table: &str,
    region: &str,
    duration: Duration,
    tail: Duration,
    tail_max: Option<Duration>,
) -> String {
    let tail = match (tail_max, tail.as_millis()) {
        (Some(max), _) => format!(
            " after a tail of up to {} ms drawn from the seed",
            max.min(duration).as_millis()
        ),
        (None, 0) => String::new(),
        (None, ms) => format!(" after a {ms} ms tail"),
    };
    format!(
        "pause replication of {table} at {region} for {} ms{tail}",
        duration.as_millis()
    )
}
