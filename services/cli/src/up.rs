//! `meridian region` (one region in the foreground) and `meridian up` (every
//! region of a cluster file as its own OS process, so a region can really be
//! killed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meridian_region::{Clocks, Mode};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

use crate::load_cluster;

pub async fn run_region(
    config: &Path,
    region: Option<&str>,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    let cluster = load_cluster(config)?;
    let name = match region {
        Some(r) => r.to_string(),
        None if cluster.regions.len() == 1 => cluster.regions[0].name.clone(),
        None => bail!(
            "--region is required: {} lists {}",
            config.display(),
            cluster.region_names().join(", ")
        ),
    };
    let mut cfg = cluster.region_config(&name)?;
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    let (grpc, metrics) = meridian_region::bind(&cfg).await?;
    let dynamo = match cfg.dynamo_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the DynamoDB endpoint {addr}"))?,
        ),
        None => None,
    };
    let region = meridian_region::start(cfg, grpc, metrics, Clocks::system(), Mode::Threads)
        .await
        .with_context(|| format!("starting region {name}"))?;
    let (stop_front, front_stopped) = tokio::sync::watch::channel(false);
    let front = dynamo.map(|listener| {
        let config = meridian_dynamo::FrontConfig {
            keys: cluster.dynamodb_keys.clone(),
        };
        let front = meridian_dynamo::Front::new(region.ops(), config);
        tokio::spawn(meridian_dynamo::serve(front, listener, front_stopped))
    });
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!(region = %name, "shutting down");
    let _ = stop_front.send(true);
    if let Some(f) = front {
        let _ = f.await;
    }
    region.shutdown().await;
    Ok(())
}

struct Proc {
    name: String,
    child: Child,
}

fn spawn_region(exe: &Path, config: &Path, name: &str) -> Result<Proc> {
    let mut child = Command::new(exe)
        .arg("region")
        .arg("--config")
        .arg(config)
        .arg("--region")
        .arg(name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting region {name}"))?;
    // Prefix each region's log lines with its name.
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tag = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{tag}] {line}");
            }
        });
    }
    Ok(Proc {
        name: name.to_string(),
        child,
    })
}

/// Polls until the address accepts TCP connections, with a deadline.
async fn wait_listening(addr: std::net::SocketAddr, deadline: Duration) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    while tokio::time::Instant::now() < until {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub async fn up(config: &Path, wipe: bool) -> Result<()> {
    let cluster = load_cluster(config)?;
    if wipe && cluster.data_dir.exists() {
        std::fs::remove_dir_all(&cluster.data_dir)
            .with_context(|| format!("wiping {}", cluster.data_dir.display()))?;
        println!("wiped {}", cluster.data_dir.display());
    }
    let exe = std::env::current_exe().context("locating the meridian binary")?;
    let mut procs = Vec::new();
    for r in &cluster.regions {
        procs.push(spawn_region(&exe, config, &r.name)?);
    }
    for r in &cluster.regions {
        if !wait_listening(r.grpc, Duration::from_secs(20)).await {
            for p in &mut procs {
                let _ = p.child.start_kill();
            }
            bail!(
                "region {} did not start listening on {} within 20 s",
                r.name,
                r.grpc
            );
        }
    }
    println!(
        "\nMeridian cluster {:?}: {} regions up",
        cluster.name,
        cluster.regions.len()
    );
    println!(
        "  {:<16} {:<18} {:<24} {:<32} data",
        "region", "grpc", "dynamodb", "metrics"
    );
    for r in &cluster.regions {
        println!(
            "  {:<16} {:<18} {:<24} {:<32} {}",
            r.name,
            r.grpc.to_string(),
            r.dynamo.map(|d| format!("http://{d}")).unwrap_or_default(),
            r.metrics
                .map(|m| format!("http://{m}/metrics"))
                .unwrap_or_default(),
            cluster.data_dir.join(&r.name).display()
        );
    }
    println!(
        "\nTry:  meridian table create --region {} --name demo --partition-key id:S",
        cluster.regions[0].name
    );
    println!("      meridian status");
    println!("Ctrl-C stops every region.\n");

    let mut term = signal(SignalKind::terminate())?;
    let mut exited = vec![false; procs.len()];
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (i, p) in procs.iter_mut().enumerate() {
                    if !exited[i] && let Ok(Some(status)) = p.child.try_wait() {
                        exited[i] = true;
                        eprintln!("region {} exited ({status}); the others keep running", p.name);
                    }
                }
            }
        }
    }
    println!("stopping {} regions", procs.len());
    for p in &procs {
        if let Some(pid) = p.child.id() {
            // SAFETY: kill(2) on a child we started; a stale pid is harmless here
            // because the child has not been reaped yet.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }
    for p in &mut procs {
        match tokio::time::timeout(Duration::from_secs(10), p.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("region {} did not stop within 10 s; killing it", p.name);
                let _ = p.child.kill().await;
            }
        }
    }
    println!("all regions stopped");
    Ok(())
}
