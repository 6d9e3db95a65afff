//! Drills against regions already running, reached through their cluster
//! file: processes under `meridian up`, or a Docker Swarm stack
//! (`regions/stack.yaml`, docs/containers.md) through its gateway. Which
//! one is found from the cluster's control API: `meridian up` lists the
//! region processes it supervises; a stack's link proxy supervises none.
//!
//! Link faults go through the cluster's link proxy, by its control API,
//! exactly as `meridian net` applies them, and so do crashes, restarts,
//! wipes and copies of a region under `meridian up`. On a stack a crash is
//! `docker kill` of the region's task, followed at once by scaling its
//! service to 0, so Swarm does not start it again before the scenario's
//! restart, which scales it back to 1 (on the same node and volume).
//!
//! The checks read every region's store. Under `meridian up` they read the
//! data directories the cluster file names. On a stack, after the regions
//! settle, each task is paused, its data directory copied out with
//! `docker cp` (the database and its WAL at one frozen instant, which
//! SQLite opens as after a crash), and unpaused; the checks then read the
//! copies. All of this goes through this machine's Docker engine, so the
//! tasks must run on it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meridian_cluster::{ControlApi, Executor};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_region::ClusterFile;
use meridian_scenario::scenario::{Action, Scenario};
use tokio::process::Command;

use crate::live::{base_latencies, heal_cut_links};
use crate::target::{FaultError, Faults, RegionTarget};

/// Where the stack's tasks keep their stores: `data_dir` of
/// `regions/compose-3.toml`, the cluster file the stack's regions read.
const TASK_DATA_DIR: &str = "/data";
/// How long a region gets to serve at start and after a restart.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long one docker command may take.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the regions a drill attaches to run: what decides how a crash, a
/// restart and the checks' reading of a store are done.
enum Host {
    /// Processes `meridian up` supervises: everything through its control
    /// API and the data directories of the cluster file.
    Up,
    /// Tasks of a Docker Swarm stack.
    Swarm {
        stack: String,
        /// Regions this drill crashed and has not restarted.
        down: BTreeSet<String>,
        /// Where the stores are copied for the checks.
        stores: PathBuf,
    },
}

/// The regions of a running cluster, driven by a drill.
pub struct Attached {
    file: ClusterFile,
    host: Host,
    api: ControlApi,
    faults: Executor,
    regions: Vec<String>,
}

/// Runs `docker ARGS`; its standard output, or why it failed.
async fn docker(args: &[&str]) -> Result<String, String> {
    let line = format!("docker {}", args.join(" "));
    let out = tokio::time::timeout(
        DOCKER_TIMEOUT,
        Command::new("docker")
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| {
        format!(
            "{line} did not answer within {} s",
            DOCKER_TIMEOUT.as_secs()
        )
    })?
    .map_err(|e| format!("{line}: {e} (is Docker installed?)"))?;
    if !out.status.success() {
        return Err(format!(
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Attached {
    /// Checks that every scenario region is in `cluster` and runs (a
    /// process `meridian up` supervises, or else a task of `stack`), that
    /// each serves through `cluster`'s addresses and holds no table of the
    /// drill's name yet, clears the cluster's link faults and sets the
    /// scenario's base latencies.
    pub async fn start(
        scenario: &Scenario,
        cluster: &Path,
        stack: &str,
        out: &Path,
    ) -> Result<Self, String> {
        let file = ClusterFile::load(cluster).map_err(|e| e.to_string())?;
        let api = file.netsim.as_ref().map(|n| n.api).ok_or_else(|| {
            format!(
                "{} has no [netsim] section: a drill against running regions applies its faults through their link proxy",
                cluster.display()
            )
        })?;
        for r in &scenario.regions {
            file.entry(r)
                .map_err(|e| format!("{}: {e}", cluster.display()))?;
        }
        crate::capacity::refuse_unappliable(scenario, &file)?;
        let api = ControlApi::new(api.to_string());
        let supervised = api
            .regions()
            .await
            .map_err(|e| format!("the control API of {}: {e}", cluster.display()))?;
        let host = match supervised {
            Some(processes) => {
                all_running(&processes, &scenario.regions, cluster)?;
                Host::Up
            }
            None => {
                let stores = out.join("stores");
                if stores.exists() {
                    std::fs::remove_dir_all(&stores)
                        .map_err(|e| format!("wiping {}: {e}", stores.display()))?;
                }
                Host::Swarm {
                    stack: stack.to_string(),
                    down: BTreeSet::new(),
                    stores,
                }
            }
        };
        let mut faults = Executor::new(file.clone(), api.clone());
        faults.restart_wait = START_WAIT;
        let me = Attached {
            file,
            host,
            api,
            faults,
            regions: scenario.regions.clone(),
        };
        for r in &scenario.regions {
            if let Host::Swarm { .. } = me.host {
                me.task(r).await?;
            }
            me.wait_serving(r).await?;
        }
        if !scenario.workload.external {
            me.refuse_existing_table(&scenario.workload.table).await?;
        } else if let Host::Swarm { .. } = me.host {
            // The application's writes are read from the stores as the
            // drill goes, which a stack's tasks keep in their containers.
            return Err(format!(
                "workload.external = true runs against `meridian up`, whose regions' stores this machine reads as the drill goes; {} is a Swarm stack's",
                cluster.display()
            ));
        } else {
            // Refused before the cluster's link faults are touched.
            let replicas: Vec<RegionTarget> = me
                .targets()?
                .into_iter()
                .filter(|t| scenario.workload.replicas.contains(&t.name))
                .collect();
            crate::recorded::check_table(&scenario.workload.table, &replicas).await?;
        }
        me.faults
            .apply(&Action::Clear {
                link: None,
                region: None,
            })
            .await
            .map_err(|e| format!("clearing the cluster's link faults: {e}"))?;
        base_latencies(&me.faults, scenario)
            .await
            .map_err(|e| e.to_string())?;
        Ok(me)
    }

    /// What the drill runs against, for its notes: `meridian up`, or the
    /// stack's name.
    pub fn host(&self) -> String {
        match &self.host {
            Host::Up => "meridian up".into(),
            Host::Swarm { stack, .. } => format!("stack {stack}"),
        }
    }

    fn service(&self, region: &str) -> String {
        match &self.host {
            Host::Swarm { stack, .. } => format!("{stack}_{region}"),
            Host::Up => region.to_string(),
        }
    }

    /// The container of `region`'s running task.
    async fn task(&self, region: &str) -> Result<String, String> {
        let service = self.service(region);
        let ids = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
        ])
        .await?;
        ids.lines().next().map(str::to_string).ok_or_else(|| {
            format!("no running task of service {service} on this machine's Docker engine (regions/stack.sh up; --stack names the stack)")
        })
    }

    async fn wait_serving(&self, region: &str) -> Result<Duration, String> {
        let admin = self
            .file
            .entry(region)
            .map_err(|e| e.to_string())?
            .admin_addr();
        meridian_cluster::wait::serving(admin, START_WAIT, None, || async { None })
            .await
            .map_err(|e| format!("{region}: {e}"))
    }

    /// A drill judges its own table from empty: one left by an earlier run
    /// would mix that run's items into this one's.
    async fn refuse_existing_table(&self, table: &str) -> Result<(), String> {
        for t in self.targets()? {
            let mut c = MeridianClient::new(t.channel.clone());
            match c
                .describe_table(pb::TableRequest { name: table.into() })
                .await
            {
                Err(e) if e.code() == tonic::Code::NotFound => {}
                Ok(_) => {
                    return Err(format!(
                        "{} already has a table {table}: a drill judges its own table from empty; delete it (meridian table delete --region {} --name {table}) or start the cluster afresh",
                        t.name, t.name
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "DescribeTable {table} in {}: {}",
                        t.name,
                        e.message()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every scenario region, reached through the cluster file; the stores
    /// the checks read are the copies [`Faults::settled`] makes.
    pub fn targets(&self) -> Result<Vec<RegionTarget>, String> {
        let admin_token = self.file.client_admin_token().map_err(|e| e.to_string())?;
        self.regions
            .iter()
            .map(|name| {
                let entry = self.file.entry(name).map_err(|e| e.to_string())?;
                let connect = |addr: std::net::SocketAddr| {
                    meridian_cluster::wait::channel(&format!("http://{addr}"))
                        .map_err(|e| e.to_string())
                };
                Ok(RegionTarget {
                    admin_token: admin_token.clone(),
                    name: name.clone(),
                    channel: connect(entry.grpc)?,
                    admin: connect(entry.admin_addr())?,
                    data_dir: match &self.host {
                        Host::Up => self.file.data_dir.join(name),
                        Host::Swarm { stores, .. } => stores.join(name),
                    },
                })
            })
            .collect()
    }

    /// A stack's region crashed: its task killed, its service scaled to 0.
    async fn crash_task(&mut self, region: &str) -> Result<(), String> {
        let task = self.task(region).await?;
        docker(&["kill", "--signal", "KILL", &task]).await?;
        docker(&[
            "service",
            "scale",
            "--detach",
            &format!("{}=0", self.service(region)),
        ])
        .await?;
        if let Host::Swarm { down, .. } = &mut self.host {
            down.insert(region.to_string());
        }
        Ok(())
    }

    /// A stack's region back: its service scaled to 1.
    async fn restart_task(&mut self, region: &str) -> Result<(), String> {
        docker(&[
            "service",
            "scale",
            "--detach",
            &format!("{}=1", self.service(region)),
        ])
        .await?;
        self.wait_serving(region).await?;
        if let Host::Swarm { down, .. } = &mut self.host {
            down.remove(region);
        }
        Ok(())
    }

    /// The regions down now that the drill must restart: on a stack those
    /// it crashed; under `meridian up` every scenario region whose process
    /// is not running (all ran when the drill began).
    async fn down(&self) -> Result<Vec<String>, String> {
        match &self.host {
            Host::Swarm { down, .. } => Ok(down.iter().cloned().collect()),
            Host::Up => {
                let processes = self
                    .api
                    .regions()
                    .await
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default();
                Ok(self
                    .regions
                    .iter()
                    .filter(|r| {
                        processes
                            .iter()
                            .any(|p| p["name"] == r.as_str() && p["state"] != "running")
                    })
                    .cloned()
                    .collect())
            }
        }
    }

    async fn restart(&mut self, region: &str) -> Result<(), String> {
        match self.host {
            Host::Swarm { .. } => self.restart_task(region).await,
            Host::Up => self
                .faults
                .apply(&Action::Restart {
                    region: region.to_string(),
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    /// Pauses `region`'s task, copies its data directory out, unpauses it.
    async fn copy_store(&self, region: &str, stores: &Path) -> Result<(), String> {
        let task = self.task(region).await?;
        std::fs::create_dir_all(stores)
            .map_err(|e| format!("creating {}: {e}", stores.display()))?;
        let to = stores.join(region);
        let to = to.to_str().ok_or("the drill's output path is not UTF-8")?;
        docker(&["pause", &task]).await?;
        let copied = docker(&["cp", &format!("{task}:{TASK_DATA_DIR}/{region}"), to]).await;
        let resumed = docker(&["unpause", &task]).await;
        copied.and(resumed).map(|_| ())
    }

    /// Ends the pauses of `table`'s replication the drill left (one that
    /// outlasts a drill cut short would go on for up to 12 hours): each is
    /// ended now, in every region, and its skipped entries pulled back.
    async fn end_pauses(&self, table: &str) {
        let Ok(targets) = self.targets() else {
            return;
        };
        let mut left = BTreeSet::new();
        for t in &targets {
            let mut admin = meridian_proto::v1::admin_client::AdminClient::new(t.admin.clone());
            if let Ok(s) = admin.status(pb::StatusRequest {}).await {
                left.extend(
                    s.into_inner()
                        .pauses
                        .into_iter()
                        .filter(|p| p.table == table)
                        .map(|p| p.region),
                );
            }
        }
        let admins: Vec<_> = targets
            .iter()
            .map(|t| (t.name.clone(), t.admin.clone()))
            .collect();
        let token = targets.first().and_then(|t| t.admin_token.as_deref());
        for region in left {
            let end = meridian_cluster::faults::pause_request(
                table,
                &region,
                Duration::ZERO,
                Duration::ZERO,
            );
            if let Err(e) = meridian_cluster::faults::pause_everywhere(&admins, token, end).await {
                tracing::warn!(%table, %region, error = %e, "could not end a pause the drill left");
            }
        }
    }

    /// Ends the pauses of the drill's `table` it left, restarts what it
    /// left crashed and removes every link fault, its base latencies
    /// included.
    pub async fn stop(mut self, table: &str) {
        self.end_pauses(table).await;
        let down = self.down().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not list the regions that are down");
            Vec::new()
        });
        for r in down {
            if let Err(e) = self.restart(&r).await {
                tracing::warn!(region = %r, error = %e, "could not restart a crashed region");
            }
        }
        let clear = Action::Clear {
            link: None,
            region: None,
        };
        if let Err(e) = self.faults.apply(&clear).await {
            tracing::warn!(error = %e, "could not clear the cluster's link faults");
        }
    }
}

impl Faults for Attached {
    async fn apply(&mut self, action: &Action) -> Result<(), FaultError> {
        let swarm = matches!(self.host, Host::Swarm { .. });
        match action {
            Action::Skew { .. } => Err(FaultError::Unsupported(
                "skew is applied through the Admin API".into(),
            )),
            Action::Crash { region } if swarm => {
                self.crash_task(region).await.map_err(FaultError::Failed)
            }
            Action::Restart { region } if swarm => {
                self.restart_task(region).await.map_err(FaultError::Failed)
            }
            Action::Wipe { region }
            | Action::Snapshot { region, .. }
            | Action::Restore { region, .. }
                if swarm =>
            {
                Err(FaultError::Unsupported(format!(
                    "{region}'s store is in its task's volume: a drill against a stack cannot wipe, copy or replace it; run it live, against `meridian up`, or with --sim"
                )))
            }
            _ => self
                .faults
                .apply(action)
                .await
                .map(|_| ())
                .map_err(|e| FaultError::Failed(e.to_string())),
        }
    }

    async fn heal_all(&mut self) -> Result<Vec<String>, FaultError> {
        let mut done = Vec::new();
        if heal_cut_links(&self.faults).await? {
            done.push("heal all".to_string());
        }
        for r in self.down().await.map_err(FaultError::Failed)? {
            self.restart(&r).await.map_err(FaultError::Failed)?;
            done.push(format!("restart {r}"));
        }
        Ok(done)
    }

    async fn region_write(
        &mut self,
        region: &str,
        _ops: Vec<meridian_store::CatalogChange>,
    ) -> Result<(), FaultError> {
        Err(crate::target::no_region_write(
            "a drill against running regions",
            region,
        ))
    }

    async fn failover_record(&mut self) -> Option<serde_json::Value> {
        // A record that cannot be read leaves the report without it; the
        // drill goes on.
        self.api.failover().await.ok().flatten()
    }

    async fn settled(&mut self) -> Result<(), FaultError> {
        let Host::Swarm { stores, .. } = &self.host else {
            return Ok(());
        };
        let stores = stores.clone();
        for r in self.regions.clone() {
            self.copy_store(&r, &stores)
                .await
                .map_err(|e| FaultError::Failed(format!("copying {r}'s store: {e}")))?;
        }
        Ok(())
    }
}

/// Every region of the drill runs among the `processes` `meridian up`
/// supervises for `cluster`.
fn all_running(
    processes: &[serde_json::Value],
    regions: &[String],
    cluster: &Path,
) -> Result<(), String> {
    for r in regions {
        let state = processes
            .iter()
            .find(|p| p["name"] == r.as_str())
            .map(|p| p["state"].as_str().unwrap_or("unknown"));
        match state {
            Some("running") => {}
            Some(state) => {
                return Err(format!(
                    "{r} is {state} under `meridian up`: a drill starts from regions that run (meridian net restart {r})"
                ));
            }
            None => {
                return Err(format!(
                    "`meridian up` for {} runs no region {r}",
                    cluster.display()
                ));
            }
        }
    }
    Ok(())
}
