//! Simulated drills: the same region code and the same [`driver`] run under
//! turmoil, on simulated TCP, in virtual time, from a seed.
//!
//! Every region is a turmoil host running [`meridian_region::start`] with
//! the store inline on the simulation thread ([`Mode::Inline`]), a clock
//! that reads virtual time, and seeded reconnect jitter. The drill's driver
//! is a turmoil client talking gRPC to the regions like the live drill does.
//! Faults that need the simulation handle (latency, partitions, crashes)
//! are queued by the driver and applied between simulation steps; the same
//! seed therefore replays the same run, and `report.json` is byte-identical.
//!
//! Link jitter is set once per millisecond of virtual time from the seed,
//! the link and the time ([`crate::jitter`]), never drawn per message from
//! turmoil's shared random stream, so traffic cannot shift it.
//!
//! Differences from live drills, by construction of turmoil's network:
//! jitter is exponential whatever the scenario's distribution; a `refuse` partition drops segments like a blackhole; and
//! bandwidth limits and packet loss are not simulated (those events fail
//! and say so in the report).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use meridian_core::PhysicalClock;
use meridian_region::transport::{Conn, Dialer, Listener};
use meridian_region::{Clocks, Mode, PeerConfig, RegionConfig, ReplicationTuning};
use meridian_scenario::report::Report;
use meridian_scenario::scenario::{Action, Durability, Scenario, directed, isolating};
use tonic::transport::Endpoint;

use crate::driver::{self, DriveError, Progress};
use crate::target::{FaultError, Faults, RegionTarget};

/// The port every simulated region serves gRPC on (each host has its own
/// address, so they can share it).
const GRPC_PORT: u16 = 7100;

/// The simulated host the drill's driver runs on.
const DRIVER_HOST: &str = "drill";

/// Virtual time starts here (2026-01-01T00:00:00Z), the same for every run,
/// so versions, and therefore reports, do not depend on when a run happens.
const EPOCH_SECS: u64 = 1_767_225_600;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("preparing {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("simulation failed: {0}")]
    Sim(String),
    #[error(transparent)]
    Drive(#[from] DriveError),
}

/// Virtual time as the simulated host sees it.
struct SimClock;

impl PhysicalClock for SimClock {
    fn now_micros(&self) -> u64 {
        turmoil::since_epoch()
            .map(|d| d.as_micros() as u64)
            .unwrap_or(EPOCH_SECS * 1_000_000)
    }
}

/// Replication settings for a simulated network: turmoil TCP has no
/// retransmission, so a connection that carried data through a partition
/// is wedged for good; short keepalives notice that and reconnect.
/// The scenario's replication order and lanes apply as they would live.
fn sim_tuning(scenario: &Scenario) -> ReplicationTuning {
    ReplicationTuning {
        keepalive_interval: Duration::from_millis(500),
        keepalive_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(1000),
        order: crate::table::replication_order(scenario),
        lanes: crate::table::lane_model(scenario),
        ..ReplicationTuning::default()
    }
}

fn dialer() -> Dialer {
    Dialer(Arc::new(|target: String| {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect(target).await?;
            Ok(Conn::new(stream))
        })
    }))
}

/// What the driver asks of the simulation, applied between steps.
#[derive(Debug)]
enum Command {
    Latency {
        from: String,
        to: String,
        latency: Duration,
        jitter: Duration,
    },
    Block(String, String),
    Unblock(String, String),
    Flap {
        from: String,
        to: String,
        period: Duration,
        down: Duration,
    },
    Crash(String),
    Restart(String),
    /// Wipe, snapshot or restore a crashed region's data directory.
    Data(Action),
}

type Queue = Rc<RefCell<VecDeque<Command>>>;

/// Writes the driver asks a region's host to run through the region's own
/// operations, with where to answer.
type OpsRequest = (
    Vec<meridian_store::CatalogChange>,
    tokio::sync::oneshot::Sender<Result<(), String>>,
);

/// Per region, the way into its host's operations, replaced at each
/// (re)start. The driver holds no `RegionHandle` itself: one kept past a crash
/// would keep the dead region's store open under the restarted one.
type Doors = Rc<RefCell<BTreeMap<String, tokio::sync::mpsc::UnboundedSender<OpsRequest>>>>;

/// The driver's side of fault injection: it queues commands.
struct SimFaults {
    queue: Queue,
    regions: Vec<String>,
    /// Regions crashed and not restarted, to restart at the end.
    down: BTreeSet<String>,
    /// Directed links cut by partitions, isolation or flapping.
    cut: BTreeSet<(String, String)>,
    /// Latency and jitter per host pair (turmoil's are symmetric), so an
    /// event that leaves one of them unset keeps it.
    latency: BTreeMap<(String, String), (Duration, Duration)>,
    doors: Doors,
}

impl SimFaults {
    fn push(&self, c: Command) {
        self.queue.borrow_mut().push_back(c);
    }

    fn block(&mut self, a: String, b: String) {
        self.cut.insert((a.clone(), b.clone()));
        self.push(Command::Block(a, b));
    }

    fn set_latency(
        &mut self,
        from: &str,
        to: &str,
        latency: Option<Duration>,
        jitter: Option<Duration>,
    ) {
        let key = if from < to {
            (from.to_string(), to.to_string())
        } else {
            (to.to_string(), from.to_string())
        };
        let now = self.latency.entry(key).or_default();
        now.0 = latency.unwrap_or(now.0);
        now.1 = jitter.unwrap_or(now.1);
        let (latency, jitter) = *now;
        self.push(Command::Latency {
            from: from.to_string(),
            to: to.to_string(),
            latency,
            jitter,
        });
    }

    /// The links of a heal or clear: one link both ways, one region's, or
    /// (`None`) every link.
    fn scope(
        &self,
        link: &Option<(String, String)>,
        region: &Option<String>,
    ) -> Option<Vec<(String, String)>> {
        match (link, region) {
            (Some((a, b)), _) => Some(vec![(a.clone(), b.clone())]),
            (None, Some(r)) => Some(
                self.regions
                    .iter()
                    .filter(|o| *o != r)
                    .map(|o| (r.clone(), o.clone()))
                    .collect(),
            ),
            (None, None) => None,
        }
    }

    fn heal(&mut self, pairs: Vec<(String, String)>) {
        for (a, b) in pairs {
            for (x, y) in [(a.clone(), b.clone()), (b.clone(), a.clone())] {
                self.cut.remove(&(x.clone(), y.clone()));
                self.push(Command::Unblock(x, y));
            }
        }
    }

    /// `links` cut for `down` of every `period`, from now on.
    fn flap(&mut self, links: Vec<(String, String)>, period: Duration, down: Duration) {
        for (a, b) in links {
            self.cut.insert((a.clone(), b.clone()));
            self.push(Command::Flap {
                from: a,
                to: b,
                period,
                down,
            });
        }
    }

    /// Every pair of regions, once, in the order the scenario lists them.
    fn every_pair(&self) -> Vec<(String, String)> {
        self.regions
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                self.regions[i + 1..]
                    .iter()
                    .map(move |b| (a.clone(), b.clone()))
            })
            .collect()
    }
}

impl Faults for SimFaults {
    async fn apply(&mut self, action: &Action) -> Result<(), FaultError> {
        match action {
            Action::Latency {
                from,
                to,
                both: _,
                latency,
                jitter,
                ..
            } => {
                // turmoil's latency is per host pair, the same both ways.
                self.set_latency(from, to, *latency, *jitter);
                Ok(())
            }
            Action::Bandwidth { .. } => {
                Err(FaultError::Unsupported(
                    "bandwidth limits are not simulated; run this scenario live".into(),
                ))
            }
            Action::Loss { .. } => Err(FaultError::Unsupported(
                "packet loss is not simulated (turmoil TCP does not retransmit); run this scenario live"
                    .into(),
            )),
            Action::Partition { from, to, both, .. } => {
                for (a, b) in directed(from, to, *both) {
                    self.block(a, b);
                }
                Ok(())
            }
            Action::Isolate { region, .. } => {
                for (a, b) in isolating(region, &self.regions) {
                    self.block(a, b);
                }
                Ok(())
            }
            Action::Flap {
                from,
                to,
                both,
                period,
                down,
            } => {
                self.flap(directed(from, to, *both), *period, *down);
                Ok(())
            }
            Action::Heal { link, region } => {
                let pairs = self
                    .scope(link, region)
                    .unwrap_or_else(|| self.cut.iter().cloned().collect());
                self.heal(pairs);
                Ok(())
            }
            Action::Clear { link, region } => {
                let pairs = self
                    .scope(link, region)
                    .unwrap_or_else(|| self.every_pair());
                for (a, b) in &pairs {
                    self.set_latency(a, b, Some(Duration::ZERO), Some(Duration::ZERO));
                }
                self.heal(pairs);
                Ok(())
            }
            Action::Crash { region } => {
                self.down.insert(region.clone());
                self.push(Command::Crash(region.clone()));
                Ok(())
            }
            Action::Restart { region } => {
                self.down.remove(region);
                self.push(Command::Restart(region.clone()));
                wait_listening(region).await
            }
            Action::Wipe { .. } | Action::Snapshot { .. } | Action::Restore { .. } => {
                self.push(Command::Data(action.clone()));
                Ok(())
            }
            Action::Skew { .. } | Action::PauseReplication { .. } => Err(
                FaultError::Unsupported("skew and pauses are applied through the Admin API".into()),
            ),
            Action::Recovery { .. }
            | Action::Mark { .. }
            | Action::RestoreToTime { .. }
            | Action::AddReplica { .. }
            | Action::Recreate { .. }
            | Action::MoveTraffic { .. } => {
                Err(FaultError::Unsupported(
                    "point-in-time, replica, recreate and traffic events are run by the driver"
                        .into(),
                ))
            }
        }
    }

    async fn heal_all(&mut self) -> Result<Vec<String>, FaultError> {
        let mut done = Vec::new();
        if !self.cut.is_empty() {
            let pairs = self.cut.iter().cloned().collect();
            self.heal(pairs);
            done.push("heal all".to_string());
        }
        let down = std::mem::take(&mut self.down);
        for r in &down {
            self.push(Command::Restart(r.clone()));
            done.push(format!("restart {r}"));
        }
        for r in &down {
            wait_listening(r).await?;
        }
        Ok(done)
    }

    async fn region_write(
        &mut self,
        region: &str,
        ops: Vec<meridian_store::CatalogChange>,
    ) -> Result<(), FaultError> {
        let door = self
            .doors
            .borrow()
            .get(region)
            .cloned()
            .ok_or_else(|| FaultError::Failed(format!("{region} has not started")))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        door.send((ops, tx))
            .map_err(|_| FaultError::Failed(format!("{region} is down")))?;
        rx.await
            .map_err(|_| FaultError::Failed(format!("{region} went down")))?
            .map_err(FaultError::Failed)
    }
}

/// Waits until a restarted region accepts connections, as a live restart
/// does; the restart itself happens between simulation steps.
async fn wait_listening(region: &str) -> Result<(), FaultError> {
    use meridian_cluster::wait::{Step, poll};
    poll(
        &format!("{region} did not listen"),
        Duration::from_secs(10),
        Duration::from_millis(5),
        || async {
            let attempt = tokio::time::timeout(
                Duration::from_millis(100),
                turmoil::net::TcpStream::connect((region, GRPC_PORT)),
            )
            .await;
            match attempt {
                Ok(Ok(_)) => Step::Done(()),
                Ok(Err(e)) => Step::NotYet(e.to_string()),
                Err(_) => Step::NotYet("no answer within 100 ms".into()),
            }
        },
    )
    .await
    .map_err(|e| FaultError::Failed(format!("{e} (after its restart)")))
}

/// Runs a scenario under simulation. Stores go under `dir`, wiped first.
/// A comparison scenario runs twice, EVENTUAL then STRONG, from the same
/// seed ([`crate::compare`]).
pub fn run(scenario: &Scenario, seed: u64, dir: &Path) -> Result<Report, SimError> {
    run_watched(scenario, seed, dir, &mut |_| {})
}

/// [`run`], handing `progress` the drill's progress as it goes (in virtual
/// time): the same timeline entries and series rows as the report's. It
/// is called between the simulation's steps, outside the simulated world,
/// so watching changes nothing in the run or its report.
pub fn run_watched(
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, SimError> {
    match crate::compare::sides(scenario) {
        Some([first, second]) => {
            let [a, b] = crate::compare::side_names(scenario);
            let one = run_one(&first, seed, &dir.join(a), progress)?;
            let two = run_one(&second, seed, &dir.join(b), progress)?;
            Ok(crate::compare::combine(scenario, one, two))
        }
        None => run_one(scenario, seed, dir, progress),
    }
}

fn run_one(
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, SimError> {
    fresh_dir(dir)?;
    if scenario.regions.iter().any(|r| r == DRIVER_HOST) {
        return Err(SimError::Sim(format!(
            "a region may not be named {DRIVER_HOST:?} in simulation: the drill's own host has that name"
        )));
    }
    let limit = scenario.duration + scenario.settle + Duration::from_secs(120);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .simulation_duration(limit)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::ZERO)
        .tcp_capacity(4096)
        .build();
    let doors: Doors = Rc::default();
    add_regions(&mut sim, scenario, seed, dir, &doors);
    let driver = Driver::default();
    add_driver(&mut sim, scenario, seed, dir, &driver, doors);
    let mut conditions = Conditions::new(scenario, dir);
    loop {
        let finished = sim.step().map_err(|e| SimError::Sim(e.to_string()))?;
        for p in driver.told.borrow_mut().drain(..) {
            progress(&p);
        }
        if finished {
            break;
        }
        let now = sim.elapsed();
        while let Some(c) = driver.queue.borrow_mut().pop_front() {
            conditions.carry_out(&mut sim, c, now);
        }
        conditions.sync_points(now);
        conditions.set_links(&mut sim, seed, now);
    }
    let outcome = driver.result.borrow_mut().take();
    match outcome {
        Some(r) => Ok(r?),
        None => Err(SimError::Sim(
            "the drill client ended without a report".into(),
        )),
    }
}

/// Empties `dir` (or creates it): a run's stores start from nothing.
fn fresh_dir(dir: &Path) -> Result<(), SimError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|source| SimError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::create_dir_all(dir).map_err(|source| SimError::Dir {
        path: dir.to_path_buf(),
        source,
    })
}

/// One turmoil host per region of the scenario, each running the region
/// with its stores under `dir` and a door for the driver's writes.
fn add_regions(
    sim: &mut turmoil::Sim<'_>,
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
    doors: &Doors,
) {
    let names = &scenario.regions;
    let (autoscaling_period, burst_capacity) = crate::capacity::region_settings(scenario);
    for name in names {
        let config = RegionConfig {
            peers: names
                .iter()
                .filter(|p| *p != name)
                .map(|p| PeerConfig {
                    name: p.clone(),
                    url: format!("http://{p}:{GRPC_PORT}"),
                })
                .collect(),
            // Nothing is lost by skipping fsync here: a simulated crash drops
            // the host, not the operating system's page cache.
            durability: meridian_store::Durability::Simulated,
            // What `durability = "normal"` means here: a crash is a power
            // loss back to the last sync point.
            crash_loses_commits: scenario.durability == Durability::Normal,
            max_clock_offset: scenario.max_clock_offset,
            // Often enough that an item expiring in a 6 s sweep drill is
            // deleted well before the workload ends (drills that turn TTL
            // on, `workload.ttl`, hold every region to that).
            ttl_interval: Duration::from_millis(250),
            autoscaling_period,
            burst_capacity,
            repair_interval: scenario.repair_interval,
            retention: meridian_region::Retention {
                tombstone_age: scenario.tombstone_retain,
                ..Default::default()
            },
            replication: sim_tuning(scenario),
            dialer: Some(dialer()),
            seed: Some(seed),
            ..RegionConfig::new(
                name,
                dir,
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), GRPC_PORT),
            )
        };
        let doors = doors.clone();
        sim.host(name.as_str(), move || {
            region_host(config.clone(), doors.clone())
        });
    }
}

/// What the driver's client shares with the loop that steps the
/// simulation: the fault commands it queues, the progress it tells, and
/// its report once it ends.
#[derive(Default)]
struct Driver {
    queue: Queue,
    result: Rc<RefCell<Option<Result<Report, DriveError>>>>,
    /// The driver's progress, handed on between steps.
    told: Rc<RefCell<Vec<Progress>>>,
}

/// The drill's driver as a turmoil client on [`DRIVER_HOST`], talking gRPC
/// to the regions and queueing its faults on `driver`.
fn add_driver(
    sim: &mut turmoil::Sim<'_>,
    scenario: &Scenario,
    seed: u64,
    dir: &Path,
    driver: &Driver,
    doors: Doors,
) {
    let (queue, result, scenario, told) = (
        driver.queue.clone(),
        driver.result.clone(),
        scenario.clone(),
        driver.told.clone(),
    );
    let targets: Vec<(String, PathBuf)> = scenario
        .regions
        .iter()
        .map(|n| (n.clone(), dir.join(n)))
        .collect();
    sim.client(DRIVER_HOST, async move {
        let regions: Vec<RegionTarget> = targets
            .into_iter()
            .map(|(name, data_dir)| {
                let channel = sim_channel(&name);
                RegionTarget {
                    admin_token: None,
                    admin: channel.clone(),
                    channel,
                    name,
                    data_dir,
                }
            })
            .collect();
        let mut faults = SimFaults {
            queue,
            regions: regions.iter().map(|r| r.name.clone()).collect(),
            down: BTreeSet::new(),
            cut: BTreeSet::new(),
            latency: scenario
                .latency
                .iter()
                .map(|(pair, l)| (pair.clone(), (*l, scenario.jitter)))
                .collect(),
            doors,
        };
        let report = driver::drive(
            &scenario,
            seed,
            crate::Mode::Simulated,
            &regions,
            &mut faults,
            &mut |p| told.borrow_mut().push(p.clone()),
        )
        .await;
        *result.borrow_mut() = Some(report);
        Ok(())
    });
}

/// The network and the power as the driver's fault commands left them,
/// applied to the simulation between its steps.
struct Conditions<'a> {
    scenario: &'a Scenario,
    dir: &'a Path,
    /// Each link's (base latency, mean jitter), by host pair in name order:
    /// turmoil's latency is per pair, the same both ways.
    links: BTreeMap<(String, String), (Duration, Duration)>,
    /// Under durability = "normal", the regions the timeline crashes lose
    /// power: each keeps a copy of its files as they stood at its last
    /// sync point, and a crash rolls it back to that copy. Only they are
    /// copied, and only until their last crash.
    crashes_left: BTreeMap<String, usize>,
    down: BTreeSet<String>,
    latencies: LinkLatencies,
    next_sync: Duration,
    /// The directed links cut in the simulation now.
    blocked: BTreeSet<(String, String)>,
    partitions: BTreeSet<(String, String)>,
    flaps: BTreeMap<(String, String), (Duration, Duration, Duration)>,
}

impl<'a> Conditions<'a> {
    fn new(scenario: &'a Scenario, dir: &'a Path) -> Self {
        let mut links = BTreeMap::new();
        for ((a, b), latency) in &scenario.latency {
            if a < b {
                links.insert(pair(a, b), (*latency, scenario.jitter));
            }
        }
        let mut crashes_left: BTreeMap<String, usize> = BTreeMap::new();
        if scenario.durability == Durability::Normal {
            for e in &scenario.events {
                if let Action::Crash { region } = &e.action {
                    *crashes_left.entry(region.clone()).or_default() += 1;
                }
            }
        }
        Conditions {
            scenario,
            dir,
            links,
            crashes_left,
            down: BTreeSet::new(),
            latencies: LinkLatencies::default(),
            next_sync: scenario.sync_interval,
            blocked: BTreeSet::new(),
            partitions: BTreeSet::new(),
            flaps: BTreeMap::new(),
        }
    }

    /// Carries out one command the driver queued, at virtual time `now`.
    fn carry_out(&mut self, sim: &mut turmoil::Sim<'_>, c: Command, now: Duration) {
        match c {
            Command::Latency {
                from,
                to,
                latency,
                jitter,
            } => {
                self.links.insert(pair(&from, &to), (latency, jitter));
            }
            Command::Block(a, b) => {
                self.partitions.insert((a, b));
            }
            Command::Unblock(a, b) => {
                self.partitions.remove(&(a.clone(), b.clone()));
                self.flaps.remove(&(a, b));
            }
            Command::Flap {
                from,
                to,
                period,
                down,
            } => {
                self.flaps.insert((from, to), (now, period, down));
            }
            Command::Crash(r) => {
                sim.crash(r.as_str());
                self.down.insert(r.clone());
                if self.scenario.durability == Durability::Normal {
                    self.lose_power(&r);
                }
            }
            Command::Restart(r) => {
                self.down.remove(&r);
                sim.bounce(r.as_str());
            }
            Command::Data(action) => self.change_data(action),
        }
    }

    /// A crash under durability = "normal": `r`'s store goes back to its
    /// last sync point, and after its last crash it is copied no more.
    fn lose_power(&mut self, r: &String) {
        if let Err(e) = power_loss(&self.dir.join(r)) {
            tracing::warn!(region = %r, error = %e, "a power loss failed");
        }
        if let Some(left) = self.crashes_left.get_mut(r) {
            *left -= 1;
            if *left == 0 {
                self.crashes_left.remove(r);
            }
        }
    }

    /// A wipe, snapshot or restore of a region's data directory.
    fn change_data(&mut self, action: Action) {
        // The scenario checked that the region is down by now.
        let region = match &action {
            Action::Wipe { region }
            | Action::Snapshot { region, .. }
            | Action::Restore { region, .. } => region.clone(),
            _ => return,
        };
        if let Err(e) = meridian_cluster::state::apply_to_data(&self.dir.join(&region), &action) {
            tracing::warn!(%region, error = %e, "a data event failed");
        }
        // What was put on the disk of a region that is down is
        // on it for good: its next power loss goes back to that.
        if self.crashes_left.contains_key(&region)
            && let Err(e) = sync_point(&self.dir.join(&region))
        {
            tracing::warn!(%region, error = %e, "a sync point failed");
        }
    }

    /// A sync point: between steps no region is inside a transaction
    /// (the store runs inline on this thread), so each copy is the
    /// store exactly as its last commit left it.
    fn sync_points(&mut self, now: Duration) {
        if now >= self.next_sync {
            for r in self.crashes_left.keys().filter(|r| !self.down.contains(*r)) {
                if let Err(e) = sync_point(&self.dir.join(r)) {
                    tracing::warn!(region = %r, error = %e, "a sync point failed");
                }
            }
            while self.next_sync <= now {
                self.next_sync += self.scenario.sync_interval;
            }
        }
    }

    /// Each link's latency for `now`, and the directed links cut now: the
    /// partitions, and the flapping links in the down part of their period.
    fn set_links(&mut self, sim: &mut turmoil::Sim<'_>, seed: u64, now: Duration) {
        self.latencies.set(sim, &self.links, seed, now);
        let mut want = self.partitions.clone();
        for (link, (since, period, down)) in &self.flaps {
            let phase = (now - *since).as_nanos() % period.as_nanos().max(1);
            if phase < down.as_nanos() {
                want.insert(link.clone());
            }
        }
        for (a, b) in want.difference(&self.blocked) {
            sim.partition_oneway(a.as_str(), b.as_str());
        }
        for (a, b) in self.blocked.difference(&want) {
            sim.repair_oneway(a.as_str(), b.as_str());
        }
        self.blocked = want;
    }
}

/// Where a region's files as of its last sync point are kept: beside its
/// data directory.
fn synced_dir(data_dir: &Path) -> PathBuf {
    let mut dir = data_dir.as_os_str().to_owned();
    dir.push(".synced");
    PathBuf::from(dir)
}

/// Takes the copy a power loss goes back to. The `-shm` file is left out:
/// it is SQLite's shared-memory index of the WAL, never on disk for good,
/// and the first connection after a restart rebuilds it from the WAL.
fn sync_point(data_dir: &Path) -> std::io::Result<()> {
    let to = synced_dir(data_dir);
    if to.exists() {
        std::fs::remove_dir_all(&to)?;
    }
    // A wiped disk holds nothing: neither does the copy then.
    if !data_dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if entry.file_type()?.is_file() && !name.to_string_lossy().ends_with("-shm") {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// A power loss under `synchronous=NORMAL`: the WAL is synced only at
/// checkpoints, so what reaches the disk for good is the store as of some
/// commit at or after the last sync point. This takes the worst of those,
/// the sync point itself: every commit since is lost, acknowledged or not,
/// and the store is whole (SQLite never tears a commit). With no sync
/// point yet the disk holds nothing, as after a wipe.
fn power_loss(data_dir: &Path) -> std::io::Result<()> {
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir)?;
    }
    let from = synced_dir(data_dir);
    if from.is_dir() {
        meridian_cluster::state::copy_files(&from, data_dir)?;
    }
    Ok(())
}

/// A host pair in name order: turmoil's links are per pair.
fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn sim_channel(host: &str) -> tonic::transport::Channel {
    let target = format!("{host}:{GRPC_PORT}");
    Endpoint::from_shared(format!("http://{target}"))
        .expect("a region name is a valid host")
        .connect_timeout(Duration::from_secs(1))
        .connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
            let target = target.clone();
            async move {
                let stream = turmoil::net::TcpStream::connect(target).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
}

/// One simulated region: serves until the simulation crashes the host,
/// running meanwhile the writes the driver sends through `doors`.
async fn region_host(config: RegionConfig, doors: Doors) -> turmoil::Result {
    let name = config.name.clone();
    let listener = turmoil::net::TcpListener::bind(config.grpc_listen).await?;
    let local_addr = config.grpc_listen;
    let incoming = futures::stream::unfold(listener, |l| async move {
        let next = l.accept().await.map(|(s, _)| Conn::new(s));
        Some((next, l))
    });
    let clocks = Clocks::from_real(Arc::new(SimClock));
    let region = meridian_region::start(
        config,
        Listener::Custom {
            incoming: Box::pin(incoming),
            local_addr,
        },
        None,
        clocks,
        Mode::Inline,
    )
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OpsRequest>();
    doors.borrow_mut().insert(name, tx);
    let ops = region.ops();
    while let Some((writes, reply)) = rx.recv().await {
        let done = ops
            .write(writes)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let _ = reply.send(done);
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// What the simulation's links were last told their latency is. Turmoil
/// keeps one latency per pair of hosts, both directions alike, so the
/// value a pair ends up with is the one set last for either direction;
/// setting it every step, by host name, took about 3 % of a steady
/// drill's time. A pair is told only when that value changes, by
/// address, which leaves every delay as it was.
#[derive(Default)]
struct LinkLatencies {
    addrs: BTreeMap<String, IpAddr>,
    told: BTreeMap<(IpAddr, IpAddr), Duration>,
}

impl LinkLatencies {
    /// Sets each directed link's latency plus its jitter at `now`, as the
    /// scenario has it: `links` maps (from, to) to (latency, mean jitter).
    fn set(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        links: &BTreeMap<(String, String), (Duration, Duration)>,
        seed: u64,
        now: Duration,
    ) {
        let mut last: BTreeMap<(IpAddr, IpAddr), Duration> = BTreeMap::new();
        for ((a, b), (latency, mean)) in links {
            let delay = *latency + crate::jitter::at(seed, a, b, now, *mean);
            let (x, y) = (self.addr(sim, a), self.addr(sim, b));
            last.insert((x.min(y), x.max(y)), delay);
        }
        for (pair, delay) in last {
            if self.told.get(&pair) != Some(&delay) {
                sim.set_link_latency(pair.0, pair.1, delay);
                sim.set_link_max_message_latency(pair.0, pair.1, delay);
                self.told.insert(pair, delay);
            }
        }
    }

    fn addr(&mut self, sim: &turmoil::Sim<'_>, host: &str) -> IpAddr {
        *self
            .addrs
            .entry(host.to_string())
            .or_insert_with(|| sim.lookup(host))
    }
}
