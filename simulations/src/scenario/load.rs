//! Reading a scenario: the file, its catalogue's round-trip times, and
//! every check that turns the file into a [`Scenario`] or says which field
//! is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::action::Action;
use super::action::Distribution;
use super::criteria;
use super::events::{check_timeline, parse_events};
use super::file::{
    Catalogue, FailoverSection, File, ReplicationSection, TableSection, WorkloadSection,
};
use super::limits::{MAX_DURATION, MAX_ITEM_BYTES, MAX_KEYS, MAX_RATE_PER_REGION, MAX_REGIONS};
use super::model::{
    Consistency, Event, Failover, KeyDistribution, Mix, Order, Replication, Scenario, Table,
    Workload,
};
use super::units::duration_field;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut rtt = file.regions.rtt_ms.clone();
        if let Some(c) = &file.regions.catalogue {
            let cpath = path.parent().unwrap_or(Path::new(".")).join(c);
            let ctext = std::fs::read_to_string(&cpath).map_err(|source| ScenarioError::Read {
                path: cpath.clone(),
                source,
            })?;
            let cat: Catalogue = toml::from_str(&ctext).map_err(|e| ScenarioError::Invalid {
                path: cpath.clone(),
                message: e.to_string(),
            })?;
            for (a, row) in cat.rtt_ms {
                for (b, ms) in row {
                    rtt.entry(a.clone()).or_default().entry(b).or_insert(ms);
                }
            }
        }
        let profile = file.replication.profile.clone();
        let mut scenario = Scenario::from_file(file, &rtt).map_err(invalid)?;
        scenario.replication.profile =
            profile.map(|p| path.parent().unwrap_or(Path::new(".")).join(p));
        Ok(scenario)
    }

    /// Parses a scenario from text; `catalogue` supplies round-trip times
    /// the file does not list itself.
    pub fn parse(
        text: &str,
        catalogue: &BTreeMap<String, BTreeMap<String, f64>>,
    ) -> Result<Scenario, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rtt = file.regions.rtt_ms.clone();
        for (a, row) in catalogue {
            for (b, ms) in row {
                rtt.entry(a.clone())
                    .or_default()
                    .entry(b.clone())
                    .or_insert(*ms);
            }
        }
        Scenario::from_file(file, &rtt)
    }

    /// Checks `file` field by field into a scenario; the first field that
    /// is wrong is the error.
    fn from_file(
        file: File,
        rtt: &BTreeMap<String, BTreeMap<String, f64>>,
    ) -> Result<Scenario, String> {
        check_name(&file.name)?;
        let regions = regions(&file.regions.names)?;
        let latency = latencies(&regions, rtt)?;
        let times = times(&file)?;
        let workload = workload(&file.workload, &regions)?;
        let events = parse_events(
            &file.events,
            &regions,
            &workload.replicas,
            &workload.table,
            times.duration,
            &file.duration,
        )?;
        let table = table(&file.table, &regions, &workload, &events)?;
        if workload.external
            && let Some(e) = events.iter().find(|e| {
                matches!(
                    e.action,
                    Action::Recreate { .. }
                        | Action::Mark { .. }
                        | Action::RestoreToTime { .. }
                        | Action::Recovery { .. }
                        | Action::MoveTraffic { .. }
                )
            })
        {
            return Err(format!(
                "event \"{}\" at {} ms: not with workload.external = true; a recreate would delete your application's table, a mark or restore is judged against the drill's own writes, which it sees only when it makes them, and a traffic move moves the drill's own workload",
                e.action.name(),
                e.at.as_millis()
            ));
        }
        let replication = replication(&file.replication)?;
        if replication.order == Order::Both && table.consistency == Consistency::Both {
            return Err(
                "replication.order and table.consistency cannot both be \"both\": a drill compares one thing at a time".into(),
            );
        }
        // A witness holds the table's log, not its items: the checker
        // leaves it out, as it leaves out no replica.
        let holders: Vec<String> = workload
            .replicas
            .iter()
            .chain(&table.witness)
            .cloned()
            .collect();
        check_timeline(&events, &regions, &holders)?;
        let alarms = criteria::alarms(&file.alarms, &regions, times.sample_interval)?;
        criteria::named_alarms("stop_conditions", &file.stop_conditions, &alarms)?;
        let objectives = criteria::objectives(&file.objectives, &alarms)?;
        let invariants =
            criteria::invariants(&file.invariants, &workload.table, times.sample_interval)?;
        let failover = file
            .failover
            .map(|f| failover(f, &workload.replicas, workload.external, &events))
            .transpose()?;
        Ok(Scenario {
            name: file.name,
            description: file.description,
            regions,
            latency,
            jitter: times.jitter,
            distribution: file.network.distribution.unwrap_or(Distribution::Normal),
            workload,
            table,
            replication,
            duration: times.duration,
            settle: times.settle,
            sample_interval: times.sample_interval,
            max_clock_offset: times.max_clock_offset,
            tombstone_retain: times.tombstone_retain,
            repair_interval: times.repair_interval,
            durability: file.durability,
            sync_interval: times.sync_interval,
            events,
            alarms,
            stop_conditions: file.stop_conditions,
            objectives,
            invariants,
            failover,
        })
    }
}

/// `[failover]` checked: its regions the drill table's, its timings those
/// a cluster file takes (`meridian_layout::failover`).
fn failover(
    f: FailoverSection,
    replicas: &[String],
    external: bool,
    events: &[Event],
) -> Result<Failover, String> {
    if external {
        return Err(
            "failover: the section sends the drill's own workload through a simulated endpoint, and workload.external = true leaves the load to your application; it goes through the cluster file's [failover] endpoint".into(),
        );
    }
    let known: Vec<&str> = replicas.iter().map(String::as_str).collect();
    meridian_layout::failover::check_regions("failover", &f.regions, &known)?;
    meridian_layout::failover::check_timing(
        "failover",
        f.interval_ms,
        f.failure_threshold,
        f.ttl_ms,
    )?;
    let home = &f.regions[0];
    if let Some(i) = events
        .iter()
        .position(|e| matches!(&e.action, Action::MoveTraffic { from, .. } if from == home))
    {
        return Err(format!(
            "event[{i}]: move-traffic from {home}, whose workload goes through [failover]: the endpoint moves it"
        ));
    }
    Ok(Failover {
        regions: f.regions,
        interval_ms: f.interval_ms,
        failure_threshold: f.failure_threshold,
        ttl_ms: f.ttl_ms,
    })
}

/// The name becomes a directory name for the drill's output.
fn check_name(name: &str) -> Result<(), String> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(format!(
            "name must be 1 to 64 characters of letters, digits, '-', '_' and '.', not starting with '.', got {:?}",
            name
        ));
    }
    Ok(())
}

/// The scenario's regions: 2 to [`MAX_REGIONS`] valid names, each once.
fn regions(names: &[String]) -> Result<Vec<String>, String> {
    let regions = names.to_vec();
    if regions.len() < 2 || regions.len() > MAX_REGIONS {
        return Err(format!(
            "regions.names must list 2 to {MAX_REGIONS} regions, got {}",
            regions.len()
        ));
    }
    for (i, r) in regions.iter().enumerate() {
        meridian_core::key::validate_region_name(r).map_err(|e| format!("regions.names: {e}"))?;
        if regions[..i].contains(r) {
            return Err(format!("regions.names lists {r} twice"));
        }
    }
    Ok(regions)
}

/// The one-way latency of every directed pair: half the round-trip time
/// the file or its catalogue gives, either way round.
fn latencies(
    regions: &[String],
    rtt: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Result<BTreeMap<(String, String), Duration>, String> {
    let mut latency = BTreeMap::new();
    for a in regions {
        for b in regions {
            if a == b {
                continue;
            }
            let ms = rtt
                .get(a)
                .and_then(|row| row.get(b))
                .or_else(|| rtt.get(b).and_then(|row| row.get(a)))
                .copied()
                .ok_or_else(|| {
                    format!(
                        "no round-trip time for {a} ⇄ {b}: add regions.rtt_ms.{a}.{b} (0 for none) or a catalogue that lists the pair"
                    )
                })?;
            if !(0.0..=10_000.0).contains(&ms) {
                return Err(format!(
                    "rtt_ms.{a}.{b} must be between 0 and 10000 ms, got {ms}"
                ));
            }
            latency.insert(
                (a.clone(), b.clone()),
                Duration::from_secs_f64(ms / 2.0 / 1000.0),
            );
        }
    }
    Ok(latency)
}

/// The times that bound the drill and pace its regions.
struct Times {
    duration: Duration,
    settle: Duration,
    sample_interval: Duration,
    max_clock_offset: Duration,
    tombstone_retain: Duration,
    repair_interval: Duration,
    sync_interval: Duration,
    jitter: Duration,
}

fn times(file: &File) -> Result<Times, String> {
    let duration = duration_field("duration", &file.duration)?;
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(format!(
            "duration must be between 1ms and {} s, got {}",
            MAX_DURATION.as_secs(),
            file.duration
        ));
    }
    let settle = duration_field("settle", &file.settle)?;
    if settle > MAX_DURATION {
        return Err(format!(
            "settle must be at most {} s, got {}",
            MAX_DURATION.as_secs(),
            file.settle
        ));
    }
    let sample_interval = duration_field("sample_interval", &file.sample_interval)?;
    if sample_interval < Duration::from_millis(10) || sample_interval > Duration::from_secs(60) {
        return Err(format!(
            "sample_interval must be between 10ms and 60s, got {}",
            file.sample_interval
        ));
    }
    let max_clock_offset = duration_field("max_clock_offset", &file.max_clock_offset)?;
    if max_clock_offset < Duration::from_millis(1) || max_clock_offset > Duration::from_secs(60) {
        return Err(format!(
            "max_clock_offset must be between 1ms and 60s, got {}",
            file.max_clock_offset
        ));
    }
    let tombstone_retain = duration_field("tombstone_retain", &file.tombstone_retain)?;
    if tombstone_retain.subsec_nanos() != 0 || tombstone_retain > Duration::from_secs(7 * 86_400) {
        return Err(format!(
            "tombstone_retain must be whole seconds, at most 7 days (10080m), got {}",
            file.tombstone_retain
        ));
    }
    let repair_interval = duration_field("repair_interval", &file.repair_interval)?;
    if repair_interval < Duration::from_millis(100) || repair_interval > Duration::from_secs(3600) {
        return Err(format!(
            "repair_interval must be between 100ms and 60m, got {}",
            file.repair_interval
        ));
    }
    let sync_interval = duration_field("sync_interval", &file.sync_interval)?;
    if sync_interval < Duration::from_millis(10) || sync_interval > Duration::from_secs(3600) {
        return Err(format!(
            "sync_interval must be between 10ms and 60m, got {}",
            file.sync_interval
        ));
    }
    let jitter = match &file.network.jitter {
        Some(j) => duration_field("network.jitter", j)?,
        None => Duration::ZERO,
    };
    Ok(Times {
        duration,
        settle,
        sample_interval,
        max_clock_offset,
        tombstone_retain,
        repair_interval,
        sync_interval,
        jitter,
    })
}

/// The workload section, checked against its limits; the table's replicas
/// must be among `regions`.
fn workload(w: &WorkloadSection, regions: &[String]) -> Result<Workload, String> {
    if w.external {
        return external_workload(w, regions);
    }
    let required = |field: &str| {
        format!(
            "workload.{field} is required (or workload.external = true, when your application makes the load)"
        )
    };
    let workload = Workload {
        table: w.table.clone(),
        external: false,
        rate_per_region: w
            .rate_per_region
            .ok_or_else(|| required("rate_per_region"))?,
        keys: w.keys.ok_or_else(|| required("keys"))?,
        keys_dist: match (w.distribution.as_deref().unwrap_or("uniform"), w.zipf_s) {
            ("uniform", None) => KeyDistribution::Uniform,
            ("uniform", Some(_)) => {
                return Err("workload.zipf_s is only for distribution = \"zipf\"".into());
            }
            ("zipf", Some(s)) if s > 0.0 && s <= 10.0 => KeyDistribution::Zipf(s),
            ("zipf", Some(s)) => {
                return Err(format!("workload.zipf_s must be in (0, 10], got {s}"));
            }
            ("zipf", None) => return Err("workload.zipf_s is required for zipf".into()),
            (other, _) => {
                return Err(format!(
                    "workload.distribution must be \"uniform\" or \"zipf\", got {other:?}"
                ));
            }
        },
        mix: w.mix.ok_or_else(|| required("mix"))?,
        item_bytes: w.item_bytes.unwrap_or(DEFAULT_ITEM_BYTES),
        concurrency: w.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        indexes: w.indexes,
        ttl: w.ttl.unwrap_or(false),
        orders: match w.orders.unwrap_or(0) {
            n if n <= MAX_ORDERS_PER_REGION => n,
            n => {
                return Err(format!(
                    "workload.orders must be at most {MAX_ORDERS_PER_REGION} a second per region, got {n}"
                ));
            }
        },
        stream: stream_view(w)?,
        replicas: replicas(w, regions)?,
    };
    meridian_core::schema::validate_table_name(&workload.table)
        .map_err(|e| format!("workload.table: {e}"))?;
    if workload.rate_per_region == 0 || workload.rate_per_region > MAX_RATE_PER_REGION {
        return Err(format!(
            "workload.rate_per_region must be between 1 and {MAX_RATE_PER_REGION}, got {}",
            workload.rate_per_region
        ));
    }
    if workload.keys == 0 || workload.keys > MAX_KEYS {
        return Err(format!(
            "workload.keys must be between 1 and {MAX_KEYS}, got {}",
            workload.keys
        ));
    }
    let m = workload.mix;
    if [m.put, m.update, m.delete, m.get, m.transact]
        .into_iter()
        .map(u64::from)
        .sum::<u64>()
        == 0
    {
        return Err("workload.mix needs at least one non-zero weight".into());
    }
    if workload.item_bytes < 16 || workload.item_bytes > MAX_ITEM_BYTES {
        return Err(format!(
            "workload.item_bytes must be between 16 and {MAX_ITEM_BYTES}, got {}",
            workload.item_bytes
        ));
    }
    if workload.concurrency == 0 || workload.concurrency > 1024 {
        return Err(format!(
            "workload.concurrency must be between 1 and 1024, got {}",
            workload.concurrency
        ));
    }
    Ok(workload)
}

/// `workload.item_bytes` and `workload.concurrency` when the file leaves
/// them out.
const DEFAULT_ITEM_BYTES: usize = 200;
const DEFAULT_CONCURRENCY: usize = 32;

/// `workload.replicas`: the regions that hold the table at the start,
/// every scenario region unless the file names some of them.
fn replicas(w: &WorkloadSection, regions: &[String]) -> Result<Vec<String>, String> {
    match &w.replicas {
        None => Ok(regions.to_vec()),
        Some(r) if r.is_empty() => Err("workload.replicas must name at least one region".into()),
        Some(r) => match r.iter().find(|x| !regions.contains(x)) {
            Some(x) => Err(format!(
                "workload.replicas: {x:?} is not one of the scenario's regions ({})",
                regions.join(", ")
            )),
            None => Ok(r.clone()),
        },
    }
}

/// `workload.stream`: the view type of the table's stream, when the drill
/// replays it; only those that keep the new image will do.
fn stream_view(w: &WorkloadSection) -> Result<Option<String>, String> {
    match w.stream.as_deref() {
        None => Ok(None),
        Some(v @ ("NEW_IMAGE" | "NEW_AND_OLD_IMAGES")) => Ok(Some(v.to_string())),
        Some(other) => Err(format!(
            "workload.stream must be \"NEW_IMAGE\" or \"NEW_AND_OLD_IMAGES\" (a replay needs the new image), got {other:?}"
        )),
    }
}

/// A workload the user's application makes (`external = true`): only the
/// table, its replicas and the checks of its stream and indexes mean
/// anything; a field that shapes a generated load is refused by name,
/// rather than ignored.
fn external_workload(w: &WorkloadSection, regions: &[String]) -> Result<Workload, String> {
    let generated = [
        ("rate_per_region", w.rate_per_region.is_some()),
        ("keys", w.keys.is_some()),
        ("distribution", w.distribution.is_some()),
        ("zipf_s", w.zipf_s.is_some()),
        ("mix", w.mix.is_some()),
        ("item_bytes", w.item_bytes.is_some()),
        ("concurrency", w.concurrency.is_some()),
        ("orders", w.orders.is_some()),
        ("ttl", w.ttl.is_some()),
    ];
    if let Some((field, _)) = generated.iter().find(|(_, set)| *set) {
        return Err(format!(
            "workload.{field} shapes the drill's own load, and workload.external = true leaves the load to your application: remove it"
        ));
    }
    meridian_core::schema::validate_table_name(&w.table)
        .map_err(|e| format!("workload.table: {e}"))?;
    Ok(Workload {
        table: w.table.clone(),
        external: true,
        rate_per_region: 0,
        keys: 0,
        keys_dist: KeyDistribution::Uniform,
        mix: Mix::default(),
        item_bytes: 0,
        concurrency: 0,
        replicas: replicas(w, regions)?,
        stream: stream_view(w)?,
        indexes: w.indexes,
        ttl: false,
        orders: 0,
    })
}

/// Most orders a region places a second (`workload.orders`): each is
/// watched by a reader in every other region.
const MAX_ORDERS_PER_REGION: u32 = 200;

/// Most partitions a drill's table may have: the regions' own limit.
const MAX_PARTITIONS: u32 = 1024;

/// The `[replication]` section, with the regions' defaults for what it
/// leaves out.
fn replication(r: &ReplicationSection) -> Result<Replication, String> {
    let mut out = Replication {
        order: r.order,
        ..Replication::default()
    };
    if let Some(n) = r.partitions {
        if !(1..=MAX_PARTITIONS).contains(&n) {
            return Err(format!(
                "replication.partitions must be between 1 and {MAX_PARTITIONS}, got {n}"
            ));
        }
        out.partitions = n;
    }
    let limit = Duration::from_secs(60);
    if let Some(d) = &r.lane_delay {
        out.lane_delay = duration_field("replication.lane_delay", d)?;
    }
    if let Some(d) = &r.lane_delay_max {
        out.lane_delay_max = duration_field("replication.lane_delay_max", d)?;
    }
    if out.lane_delay_max > limit {
        return Err(format!(
            "replication.lane_delay_max must be at most 60s, got {:?}",
            out.lane_delay_max
        ));
    }
    if out.lane_delay_max < out.lane_delay {
        return Err(format!(
            "replication.lane_delay_max ({:?}) must be at least replication.lane_delay ({:?})",
            out.lane_delay_max, out.lane_delay
        ));
    }
    Ok(out)
}

/// The `[table]` section, checked against the workload and the timeline: a
/// STRONG table has exactly three members, as in DynamoDB (three replicas,
/// or two and a witness, which runs no workload), and none of what DynamoDB
/// refuses on one (TTL), nor what the driver does only to EVENTUAL tables
/// (replicas added, the table recreated).
fn table(
    t: &TableSection,
    regions: &[String],
    workload: &Workload,
    events: &[Event],
) -> Result<Table, String> {
    let capacity = t
        .capacity
        .as_ref()
        .map(|c| super::capacity::capacity(c, workload.replicas.len()))
        .transpose()?;
    if capacity.is_some() && workload.external {
        return Err(
            "table.capacity: with workload.external = true the table is your application's".into(),
        );
    }
    let table = Table {
        consistency: t.consistency,
        witness: t.witness.clone(),
        // A history is of the operations the drill made and saw answered:
        // with an external workload it makes none.
        history: t.consistency != Consistency::Eventual && !workload.external,
        capacity,
    };
    if table.consistency == Consistency::Eventual {
        if table.witness.is_some() {
            return Err("table.witness is only for consistency = \"strong\" or \"both\"".into());
        }
        return Ok(table);
    }
    let members = workload.replicas.len() + usize::from(table.witness.is_some());
    if let Some(w) = &table.witness {
        if !regions.contains(w) {
            return Err(format!(
                "table.witness = {w:?} is not one of the scenario's regions ({})",
                regions.join(", ")
            ));
        }
        if workload.replicas.contains(w) {
            return Err(format!(
                "table.witness = {w:?} is in workload.replicas: a witness holds no items"
            ));
        }
    }
    if members != 3 {
        return Err(format!(
            "a STRONG table has exactly three members (three replicas, or two and a witness); workload.replicas and table.witness name {members}"
        ));
    }
    if workload.ttl {
        return Err("workload.ttl: a STRONG table cannot have TTL".into());
    }
    if let Some(e) = events.iter().find(|e| {
        matches!(
            e.action,
            Action::AddReplica { .. } | Action::Recreate { .. }
        )
    }) {
        return Err(format!(
            "event {:?}: the drill runs it on EVENTUAL tables only",
            e.action.name()
        ));
    }
    Ok(table)
}
