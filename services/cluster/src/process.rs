//! Region processes: every region of a cluster file as its own `meridian
//! region` OS process, so a region can really be killed. `meridian up`,
//! live drills and benchmarks start, crash, restart and stop them here, and
//! the control API crashes and restarts them through [`Supervisor`].
//!
//! A region that crashes or exits is never a reason to stop the others:
//! surviving a lost region is what the cluster is for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use meridian_netsim::supervisor::BoxFuture;
use meridian_netsim::{ProcessState, RegionProcess, Supervisor, SupervisorError};
use meridian_region::ClusterFile;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{ClusterError, Result};

/// How long a region gets to stop after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where a region process's output goes.
#[derive(Clone, Debug)]
pub enum Logs {
    /// To this process's stderr, each line prefixed with `[region]`
    /// (`meridian up`, in the foreground).
    Prefixed,
    /// Appended to `<dir>/<region>.log` (drills and benchmarks).
    Dir(PathBuf),
}

/// One region process.
struct Proc {
    name: String,
    grpc: SocketAddr,
    /// Where it answers admin calls (its status, while starting).
    admin: SocketAddr,
    child: Option<Child>,
    pid: Option<u32>,
    state: ProcessState,
    exit: Option<String>,
}

impl Proc {
    fn view(&self) -> RegionProcess {
        RegionProcess {
            name: self.name.clone(),
            grpc: self.grpc.to_string(),
            pid: self.pid,
            state: self.state,
            exit: self.exit.clone(),
        }
    }

    /// Notices a process that ended by itself; true the first time.
    fn reap(&mut self) -> bool {
        if self.state != ProcessState::Running {
            return false;
        }
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                self.state = ProcessState::Exited;
                self.exit = Some(status.to_string());
                self.child = None;
                true
            }
            _ => false,
        }
    }
}

/// SIGTERM to `pid`, a child this process started and has not reaped.
fn sigterm(pid: u32) {
    // SAFETY: kill(2) on a child we started and have not reaped, so the pid
    // still names it.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
}

/// SIGTERM to a child this process started and has not reaped.
fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        sigterm(pid);
    }
}

/// Stops a child started with `std::process` the way regions are stopped:
/// SIGTERM, so it can stop what it started, then SIGKILL if it has not
/// exited within `grace`. Blocking, so a `Drop` can call it (a test's
/// `meridian up`). The exit status, or `None` when it had to be killed.
pub fn stop_blocking(
    child: &mut std::process::Child,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    sigterm(child.id());
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Every region process of one cluster file, in file order.
pub struct Processes {
    exe: PathBuf,
    config: PathBuf,
    logs: Logs,
    env: Vec<(String, String)>,
    procs: tokio::sync::Mutex<Vec<Proc>>,
}

impl Processes {
    /// The regions of `cluster` (read from `config`), none started yet;
    /// each runs as `<exe> region --config <config> --region <name>` with
    /// `env` added to its environment.
    pub fn new(
        exe: &Path,
        config: &Path,
        cluster: &ClusterFile,
        logs: Logs,
        env: Vec<(String, String)>,
    ) -> Self {
        Processes {
            exe: exe.to_path_buf(),
            config: config.to_path_buf(),
            logs,
            env,
            procs: tokio::sync::Mutex::new(
                cluster
                    .regions
                    .iter()
                    .map(|r| Proc {
                        name: r.name.clone(),
                        grpc: r.grpc,
                        admin: r.admin_addr(),
                        child: None,
                        pid: None,
                        state: ProcessState::Exited,
                        exit: Some("not started".into()),
                    })
                    .collect(),
            ),
        }
    }

    /// What happens to a region, said on stderr next to its prefixed lines
    /// when it runs in the foreground (`meridian up`); a log line otherwise.
    pub fn announce(&self, what: std::fmt::Arguments<'_>) {
        match self.logs {
            Logs::Prefixed => eprintln!("{what}"),
            Logs::Dir(_) => tracing::info!("{what}"),
        }
    }

    /// The region's log file, with [`Logs::Dir`].
    pub fn log_path(&self, name: &str) -> Option<PathBuf> {
        match &self.logs {
            Logs::Dir(dir) => Some(dir.join(format!("{name}.log"))),
            Logs::Prefixed => None,
        }
    }

    fn spawn(&self, name: &str) -> Result<Child> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("region")
            .arg("--config")
            .arg(&self.config)
            .arg("--region")
            .arg(name)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match &self.logs {
            Logs::Prefixed => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
            Logs::Dir(dir) => {
                let path = dir.join(format!("{name}.log"));
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(ClusterError::io(format!("opening {}", path.display())))?;
                let err = log
                    .try_clone()
                    .map_err(ClusterError::io(format!("opening {}", path.display())))?;
                cmd.stdout(log).stderr(err);
            }
        }
        let mut child = cmd.spawn().map_err(ClusterError::io(format!(
            "starting region {name} with {}",
            self.exe.display()
        )))?;
        let streams = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let tag = name.to_string();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    eprintln!("[{tag}] {line}");
                }
            });
        }
        Ok(child)
    }

    fn index(name: &str, procs: &[Proc]) -> Result<usize, SupervisorError> {
        procs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| SupervisorError::Unknown {
                name: name.to_string(),
                known: procs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Starts every region that is not running.
    pub async fn start_all(&self) -> Result<()> {
        let names: Vec<String> = self
            .procs
            .lock()
            .await
            .iter()
            .map(|p| p.name.clone())
            .collect();
        for name in names {
            match self.start(&name).await {
                Ok(_) | Err(SupervisorError::AlreadyRunning { .. }) => {}
                Err(e) => return Err(ClusterError::Failed(e.to_string())),
            }
        }
        Ok(())
    }

    /// Starts (or restarts, on its data directory) one region.
    pub async fn start(&self, name: &str) -> Result<RegionProcess, SupervisorError> {
        let mut procs = self.procs.lock().await;
        let i = Self::index(name, &procs)?;
        let p = &mut procs[i];
        p.reap();
        if p.state == ProcessState::Running {
            return Err(SupervisorError::AlreadyRunning {
                name: name.to_string(),
                pid: p.pid.unwrap_or(0),
            });
        }
        let child = self
            .spawn(name)
            .map_err(|e| SupervisorError::Failed(e.to_string()))?;
        p.pid = child.id();
        p.child = Some(child);
        p.state = ProcessState::Running;
        p.exit = None;
        Ok(p.view())
    }

    /// SIGKILL, then waits: once it is reaped its ports are free.
    pub async fn crash(&self, name: &str) -> Result<RegionProcess, SupervisorError> {
        let mut procs = self.procs.lock().await;
        let i = Self::index(name, &procs)?;
        let p = &mut procs[i];
        p.reap();
        if p.state != ProcessState::Running {
            return Err(SupervisorError::NotRunning {
                name: name.to_string(),
                state: p.state,
            });
        }
        if let Some(mut child) = p.child.take() {
            child
                .start_kill()
                .map_err(|e| SupervisorError::Failed(format!("killing region {name}: {e}")))?;
            tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .map_err(|_| {
                    SupervisorError::Failed(format!(
                        "region {name} did not die within {STOP_GRACE:?} of SIGKILL"
                    ))
                })?
                .map_err(|e| SupervisorError::Failed(format!("reaping region {name}: {e}")))?;
        }
        p.state = ProcessState::Crashed;
        p.exit = Some("killed (SIGKILL) through the control API".into());
        Ok(p.view())
    }

    /// Stops one region: SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub async fn stop(&self, name: &str) -> Result<RegionProcess, SupervisorError> {
        let mut procs = self.procs.lock().await;
        let i = Self::index(name, &procs)?;
        Self::stop_procs(&mut procs[i..=i]).await;
        Ok(procs[i].view())
    }

    /// Stops every running region: SIGTERM to all at once, then waits for
    /// each, killing one that has not stopped after [`STOP_GRACE`]. Returns
    /// how many were running.
    pub async fn stop_all(&self) -> usize {
        let mut procs = self.procs.lock().await;
        Self::stop_procs(&mut procs).await
    }

    async fn stop_procs(procs: &mut [Proc]) -> usize {
        let mut running = 0;
        for p in procs.iter_mut() {
            p.reap();
            if let Some(child) = p
                .child
                .as_ref()
                .filter(|_| p.state == ProcessState::Running)
            {
                terminate(child);
                running += 1;
            }
        }
        for p in procs.iter_mut() {
            let Some(mut child) = p.child.take() else {
                continue;
            };
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(region = %p.name, "did not stop within {STOP_GRACE:?}; killing it");
                let _ = child.kill().await;
            }
            p.state = ProcessState::Exited;
            p.exit = Some("stopped".into());
        }
        running
    }

    /// Regions whose process ended by itself since the last look, with how.
    pub async fn reap(&self) -> Vec<(String, String)> {
        let mut procs = self.procs.lock().await;
        procs
            .iter_mut()
            .filter_map(|p| {
                p.reap()
                    .then(|| (p.name.clone(), p.exit.clone().unwrap_or_default()))
            })
            .collect()
    }

    /// Every region's process, in file order.
    pub async fn list(&self) -> Vec<RegionProcess> {
        let mut procs = self.procs.lock().await;
        procs
            .iter_mut()
            .map(|p| {
                p.reap();
                p.view()
            })
            .collect()
    }

    /// How the region's process ended, or `None` while it runs.
    pub async fn ended(&self, name: &str) -> Option<String> {
        let mut procs = self.procs.lock().await;
        let i = Self::index(name, &procs).ok()?;
        let p = &mut procs[i];
        p.reap();
        (p.state != ProcessState::Running).then(|| p.exit.clone().unwrap_or_default())
    }

    /// Waits until the region serves, failing at once if its process ends.
    pub async fn wait_serving(&self, name: &str, within: Duration) -> Result<Duration> {
        let (admin, pid) = {
            let procs = self.procs.lock().await;
            let i = Self::index(name, &procs).map_err(|e| ClusterError::Failed(e.to_string()))?;
            (procs[i].admin, procs[i].pid)
        };
        crate::wait::serving(admin, within, pid, || self.ended(name))
            .await
            .map_err(|e| {
                let log = match self.log_path(name) {
                    Some(p) => format!("; see {}", p.display()),
                    None => String::new(),
                };
                ClusterError::Failed(format!("region {name}: {e}{log}"))
            })
    }
}

impl Supervisor for Processes {
    fn regions(&self) -> BoxFuture<'_, Vec<RegionProcess>> {
        Box::pin(self.list())
    }

    fn crash<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>> {
        Box::pin(async move {
            let p = Processes::crash(self, name).await?;
            self.announce(format_args!(
                "region {name} crashed (SIGKILL, pid {}) through the control API; the others keep running",
                p.pid.unwrap_or(0)
            ));
            Ok(p)
        })
    }

    fn restart<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<RegionProcess, SupervisorError>> {
        Box::pin(async move {
            let p = self.start(name).await?;
            self.announce(format_args!(
                "region {name} restarted (pid {}) on its data directory",
                p.pid.unwrap_or(0)
            ));
            Ok(p)
        })
    }
}
