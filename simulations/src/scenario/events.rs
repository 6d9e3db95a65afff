//! A scenario's timeline: each event of the file parsed into an
//! [`Action`] and checked on its own, then the timeline as a whole (a
//! crash before its restart, a region's data touched only while it is
//! down, a mark before its restore, a replica asked of a region that holds
//! one).

use std::collections::BTreeSet;
use std::time::Duration;

use super::action::{Action, Distribution, PartitionKind};
use super::file::EventSection;
use super::limits::{MAX_DRIFT_PPM, MAX_EVENTS, MAX_PAUSE, MAX_PAUSE_TAIL, MAX_RTO};
use super::model::Event;
use super::units::{duration_field, parse_offset};

/// The file's events, each parsed and checked, sorted by time (ties keep
/// file order). `duration` bounds them; `duration_text` is how the file
/// wrote it. An `add-replica` with no `from` asks `replicas[0]`.
pub(super) fn parse_events(
    sections: &[EventSection],
    regions: &[String],
    replicas: &[String],
    table: &str,
    duration: Duration,
    duration_text: &str,
) -> Result<Vec<Event>, String> {
    if sections.len() > MAX_EVENTS {
        return Err(format!(
            "at most {MAX_EVENTS} events, got {}",
            sections.len()
        ));
    }
    let mut events = Vec::new();
    for (i, e) in sections.iter().enumerate() {
        events.push(parse_event(
            i,
            e,
            regions,
            replicas,
            table,
            duration,
            duration_text,
        )?);
    }
    events.sort_by_key(|e| e.at);
    Ok(events)
}

/// Event `i` of the file; `table` is the drill's.
fn parse_event(
    i: usize,
    e: &EventSection,
    regions: &[String],
    replicas: &[String],
    table: &str,
    duration: Duration,
    duration_text: &str,
) -> Result<Event, String> {
    let f = Fields { i, e, regions };
    let at = duration_field(&f.name("at"), &e.at)?;
    if at > duration {
        return Err(format!(
            "{} = {} is after the end of the workload ({})",
            f.name("at"),
            e.at,
            duration_text
        ));
    }
    let action = match e.action.as_str() {
        "latency" => f.latency()?,
        "bandwidth" => f.bandwidth()?,
        "loss" => f.loss()?,
        "partition" => {
            let (from, to) = f.link()?;
            Action::Partition {
                from,
                to,
                both: e.both,
                kind: e.kind.unwrap_or(PartitionKind::Blackhole),
            }
        }
        "isolate" => Action::Isolate {
            region: f.region(&e.region, "region")?,
            kind: e.kind.unwrap_or(PartitionKind::Blackhole),
        },
        "flap" => f.flap()?,
        "heal" | "clear" => f.heal_or_clear()?,
        "skew" => f.skew()?,
        "crash" => Action::Crash {
            region: f.region(&e.region, "region")?,
        },
        "restart" => Action::Restart {
            region: f.region(&e.region, "region")?,
        },
        "wipe" => Action::Wipe {
            region: f.region(&e.region, "region")?,
        },
        "snapshot" | "restore" | "mark" | "restore-to-time" => f.named_point()?,
        "recovery" => Action::Recovery {
            region: f.region(&e.region, "region")?,
        },
        "add-replica" => Action::AddReplica {
            region: f.region(&e.region, "region")?,
            from: match &e.from {
                Some(_) => f.region(&e.from, "from")?,
                None => replicas[0].clone(),
            },
        },
        "recreate" => Action::Recreate {
            region: f.region(&e.region, "region")?,
        },
        "move-traffic" => {
            let (from, to) = f.link()?;
            Action::MoveTraffic { from, to }
        }
        "pause-replication" => f.pause_replication(table)?,
        other => {
            return Err(format!(
                "{} = {other:?} is not one of latency, bandwidth, loss, partition, isolate, flap, heal, clear, skew, crash, restart, wipe, snapshot, restore, recovery, mark, restore-to-time, add-replica, recreate, move-traffic, pause-replication",
                f.name("action")
            ));
        }
    };
    Ok(Event { at, action })
}

/// One event's fields, read and checked with errors that name each as
/// `event[i].name`: one parser per kind of action that takes more than
/// its region.
struct Fields<'a> {
    i: usize,
    e: &'a EventSection,
    regions: &'a [String],
}

impl Fields<'_> {
    fn name(&self, name: &str) -> String {
        format!("event[{}].{name}", self.i)
    }

    /// The field `name`, required, holding one of the scenario's regions.
    fn region(&self, v: &Option<String>, name: &str) -> Result<String, String> {
        let r = v
            .clone()
            .ok_or_else(|| format!("{} is required", self.name(name)))?;
        if !self.regions.contains(&r) {
            return Err(format!(
                "{} = {r:?} is not one of the scenario's regions ({})",
                self.name(name),
                self.regions.join(", ")
            ));
        }
        Ok(r)
    }

    /// The directed link `from` → `to`, two different regions.
    fn link(&self) -> Result<(String, String), String> {
        let e = self.e;
        let (a, b) = (self.region(&e.from, "from")?, self.region(&e.to, "to")?);
        if a == b {
            return Err(format!("{}: from and to must differ", self.name("to")));
        }
        Ok((a, b))
    }

    /// The required duration field `name`, whose text is `v`.
    fn duration(&self, v: &Option<String>, name: &str) -> Result<Duration, String> {
        duration_field(
            &self.name(name),
            v.as_deref()
                .ok_or_else(|| format!("{} is required", self.name(name)))?,
        )
    }

    /// The link's latency and jitter, replacing both whole.
    fn latency(&self) -> Result<Action, String> {
        let e = self.e;
        let (from, to) = self.link()?;
        Ok(Action::Latency {
            from,
            to,
            both: e.both,
            latency: Some(self.duration(&e.latency, "latency")?),
            // An event replaces the link's latency whole.
            jitter: Some(match &e.jitter {
                Some(j) => duration_field(&self.name("jitter"), j)?,
                None => Duration::ZERO,
            }),
            distribution: Some(e.distribution.unwrap_or(Distribution::Normal)),
        })
    }

    /// A link's bandwidth limit, 1 kbps or more.
    fn bandwidth(&self) -> Result<Action, String> {
        let e = self.e;
        let (from, to) = self.link()?;
        let kbps = e
            .kbps
            .ok_or_else(|| format!("{} is required", self.name("kbps")))?;
        if kbps == 0 {
            return Err(format!(
                "{} must be at least 1 (use partition to cut a link)",
                self.name("kbps")
            ));
        }
        Ok(Action::Bandwidth {
            from,
            to,
            both: e.both,
            kbps: Some(kbps),
        })
    }

    /// A link's packet loss, and the retransmission timeout it costs.
    fn loss(&self) -> Result<Action, String> {
        let e = self.e;
        let (from, to) = self.link()?;
        let percent = e
            .percent
            .ok_or_else(|| format!("{} is required", self.name("percent")))?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!(
                "{} must be between 0 and 100, got {percent}",
                self.name("percent")
            ));
        }
        let rto = match &e.rto {
            Some(r) => {
                let rto = duration_field(&self.name("rto"), r)?;
                if rto < Duration::from_millis(1) || rto > MAX_RTO {
                    return Err(format!(
                        "{} must be between 1ms and {} s, got {r}",
                        self.name("rto"),
                        MAX_RTO.as_secs()
                    ));
                }
                Some(rto)
            }
            None => None,
        };
        Ok(Action::Loss {
            from,
            to,
            both: e.both,
            percent,
            rto,
        })
    }

    /// A link cut for `down` of every `period`.
    fn flap(&self) -> Result<Action, String> {
        let e = self.e;
        let (from, to) = self.link()?;
        let period = self.duration(&e.period, "period")?;
        let down = self.duration(&e.down, "down")?;
        if period < Duration::from_millis(100) || down.is_zero() || down >= period {
            return Err(format!(
                "{}: need period ≥ 100ms and 0 < down < period, got period {} and down {}",
                self.name("period"),
                e.period.as_deref().unwrap_or(""),
                e.down.as_deref().unwrap_or("")
            ));
        }
        Ok(Action::Flap {
            from,
            to,
            both: e.both,
            period,
            down,
        })
    }

    /// A heal or clear of a link, a region, or everything.
    fn heal_or_clear(&self) -> Result<Action, String> {
        let e = self.e;
        let link = match (&e.from, &e.to) {
            (None, None) => None,
            _ => Some(self.link()?),
        };
        let region = match &e.region {
            None => None,
            Some(_) => Some(self.region(&e.region, "region")?),
        };
        if link.is_some() && region.is_some() {
            return Err(format!(
                "{}: give from/to or region, not both",
                self.name("region")
            ));
        }
        Ok(if e.action == "heal" {
            Action::Heal { link, region }
        } else {
            Action::Clear { link, region }
        })
    }

    /// A region's clock offset and drift, each within its bound.
    fn skew(&self) -> Result<Action, String> {
        let e = self.e;
        let offset_micros = match (e.offset_ms, &e.offset) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{}: give offset_ms or offset, not both",
                    self.name("offset")
                ));
            }
            (Some(offset_ms), None) => {
                if offset_ms.unsigned_abs() > 86_400_000 {
                    return Err(format!(
                        "{} must be within ±86400000 (one day), got {offset_ms}",
                        self.name("offset_ms")
                    ));
                }
                offset_ms * 1000
            }
            (None, Some(o)) => {
                parse_offset(o).map_err(|e| format!("{}: {e}", self.name("offset")))?
            }
            (None, None) => 0,
        };
        let drift_ppm = e.drift_ppm.unwrap_or(0);
        if drift_ppm.unsigned_abs() > MAX_DRIFT_PPM as u64 {
            return Err(format!(
                "{} must be within ±100000, got {drift_ppm}",
                self.name("drift_ppm")
            ));
        }
        Ok(Action::Skew {
            region: self.region(&e.region, "region")?,
            offset_micros,
            drift_ppm,
        })
    }

    /// A snapshot, restore, mark or restore-to-time: a region and the
    /// name of its copy or mark.
    fn named_point(&self) -> Result<Action, String> {
        let e = self.e;
        let region = self.region(&e.region, "region")?;
        let name = e.name.clone().unwrap_or_else(|| "default".into());
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{} must be 1 to 64 letters, digits, '-' or '_', got {name:?}",
                self.name("name")
            ));
        }
        Ok(match e.action.as_str() {
            "snapshot" => Action::Snapshot { region, name },
            "restore" => Action::Restore { region, name },
            "mark" => Action::Mark { region, name },
            _ => Action::RestoreToTime { region, name },
        })
    }

    /// A pause of the table's replication from a region, and the tail
    /// replication may run on for after it (AWS's own test).
    fn pause_replication(&self, table: &str) -> Result<Action, String> {
        let e = self.e;
        let length = self.duration(&e.duration, "duration")?;
        if length.is_zero() || length > MAX_PAUSE {
            return Err(format!(
                "{} must be more than 0 and at most 12h, got {}",
                self.name("duration"),
                e.duration.as_deref().unwrap_or("")
            ));
        }
        let at_most_5m = |name: &str, d: Duration, text: &str| {
            if d > MAX_PAUSE_TAIL {
                Err(format!(
                    "{} must be at most 5m (AWS: replication may go on for up to five minutes), got {text}",
                    self.name(name)
                ))
            } else {
                Ok(d)
            }
        };
        // Unless the file fixes it, the tail is drawn from the seed, as
        // AWS leaves its length open (docs/netsim.md).
        let (tail, tail_max) = match (e.tail.as_deref(), &e.tail_max) {
            (None | Some("seeded"), max) => {
                let max = match max {
                    Some(m) => {
                        at_most_5m("tail_max", duration_field(&self.name("tail_max"), m)?, m)?
                    }
                    None => MAX_PAUSE_TAIL,
                };
                (Duration::ZERO, Some(max))
            }
            (Some(t), None) => (
                at_most_5m("tail", duration_field(&self.name("tail"), t)?, t)?,
                None,
            ),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{} is only for tail = \"seeded\"",
                    self.name("tail_max")
                ));
            }
        };
        Ok(Action::PauseReplication {
            table: table.to_string(),
            region: self.region(&e.region, "region")?,
            duration: length,
            tail,
            tail_max,
        })
    }
}

/// Checks the timeline as a whole, in time order, starting from the
/// regions that hold the table (`replicas`).
pub(super) fn check_timeline(
    events: &[Event],
    regions: &[String],
    replicas: &[String],
) -> Result<(), String> {
    let mut state = TimelineState {
        down: BTreeSet::new(),
        snapshots: BTreeSet::new(),
        recovering: BTreeSet::new(),
        marks: BTreeSet::new(),
        restored: BTreeSet::new(),
        holding: replicas.iter().cloned().collect(),
    };
    for e in events {
        let at = format!("the {} event at {:?}", e.action.name(), e.at);
        // Each action is of one kind only, so at most one of these has
        // anything to check of it.
        state.crashes(&e.action, &at)?;
        state.point_in_time(&e.action, &at, regions)?;
        state.replicas(&e.action, &at, regions, replicas)?;
    }
    // The checker compares every region's copy at the end.
    if let Some(missing) = regions.iter().find(|r| !state.holding.contains(*r)) {
        return Err(format!(
            "{missing} holds no replica of the table and no add-replica event adds one; the checker compares every region's copy"
        ));
    }
    Ok(())
}

/// What the events so far have done, which decides whether the next one
/// may happen.
struct TimelineState {
    /// Regions crashed and not yet restarted.
    down: BTreeSet<String>,
    /// Snapshots taken, by region and name.
    snapshots: BTreeSet<(String, String)>,
    /// Regions with point-in-time recovery on.
    recovering: BTreeSet<String>,
    /// Marks set, by name.
    marks: BTreeSet<String>,
    /// Marks already restored to, by name.
    restored: BTreeSet<String>,
    /// Regions that hold a replica of the table.
    holding: BTreeSet<String>,
}

impl TimelineState {
    /// A crash must come before the restart of the same region, and a
    /// region's data is touched (wiped, snapshotted, restored) only while
    /// it is down.
    fn crashes(&mut self, action: &Action, at: &str) -> Result<(), String> {
        match action {
            Action::Crash { region } if !self.down.insert(region.clone()) => {
                return Err(format!("{region} is crashed twice without a restart"));
            }
            Action::Restart { region } if !self.down.remove(region) => {
                return Err(format!("{region} is restarted without a crash before it"));
            }
            Action::Wipe { region }
            | Action::Snapshot { region, .. }
            | Action::Restore { region, .. }
                if !self.down.contains(region) =>
            {
                return Err(format!(
                    "{at}: {region} must be crashed first (its data is copied or replaced only while it is down)"
                ));
            }
            Action::Snapshot { region, name } => {
                self.snapshots.insert((region.clone(), name.clone()));
            }
            Action::Restore { region, name }
                if !self.snapshots.contains(&(region.clone(), name.clone())) =>
            {
                return Err(format!(
                    "{at}: {region} has no snapshot named {name:?} before it"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Marks and their restores need recovery on in their region first,
    /// and each mark's name once, as its restore is the table
    /// `<table>-<name>`.
    fn point_in_time(
        &mut self,
        action: &Action,
        at: &str,
        regions: &[String],
    ) -> Result<(), String> {
        match action {
            Action::Recovery { region } => {
                self.recovering.insert(region.clone());
            }
            Action::Mark { region, .. } | Action::RestoreToTime { region, .. }
                if !self.recovering.contains(region) =>
            {
                return Err(format!(
                    "{at}: {region} needs a recovery event before it (point-in-time recovery must be on)"
                ));
            }
            // A mark's restore is the table `<table>-<name>`: one per name.
            Action::Mark { name, .. } if !self.marks.insert(name.clone()) => {
                return Err(format!("{at}: there is already a mark named {name:?}"));
            }
            Action::RestoreToTime { region, name }
                if !self.marks.contains(name) || !self.restored.insert(name.clone()) =>
            {
                return Err(format!(
                    "{at}: {region} has no mark named {name:?} before it, or it is restored twice"
                ));
            }
            // Marks compare every region's copy of the table.
            Action::Mark { .. } if self.holding.len() != regions.len() => {
                return Err(format!(
                    "{at}: a mark needs every region to hold the table; add the others first"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// A replica is asked of a region that holds one, traffic moves to a
    /// region that holds the table, and a recreated table goes to every
    /// region.
    fn replicas(
        &mut self,
        action: &Action,
        at: &str,
        regions: &[String],
        replicas: &[String],
    ) -> Result<(), String> {
        match action {
            Action::AddReplica { region, from } => {
                if !self.holding.contains(from) {
                    return Err(format!("{at}: {from} holds no replica of the table to ask"));
                }
                if !self.holding.insert(region.clone()) {
                    return Err(format!("{at}: {region} already holds a replica"));
                }
            }
            // Traffic moves from a region that runs the workload to one that
            // holds the table.
            Action::MoveTraffic { from, to } if !replicas.contains(from) => {
                return Err(format!("{at}: {from} runs no workload to move to {to}"));
            }
            Action::MoveTraffic { to, .. } if !self.holding.contains(to) => {
                return Err(format!("{at}: {to} holds no replica of the table"));
            }
            // The recreated table goes to every region, as the first.
            Action::Recreate { .. } if self.holding.len() != regions.len() => {
                return Err(format!(
                    "{at}: recreate needs every region to hold the table; add the others first"
                ));
            }
            _ => {}
        }
        Ok(())
    }
}
