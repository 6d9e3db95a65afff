//! What the benchmarks measure outside the regions' API: the machine's
//! fsync and CPU reference, a process's CPU time and RSS from /proc, a
//! directory's size, and a raw copy of a store's files (the baseline of a
//! rebuild).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value as Json, json};

use super::cluster::Cluster;
use super::report::{finite, median};

/// CPU time (user + system) process `pid` has used so far, in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which may itself hold spaces: state is
    // the first, utime the 12th and stime the 13th.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("no CPU time in /proc/{pid}/stat"))
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11)? + ticks(12)?) as f64 / hz)
}

/// Context switches so far of every thread of process `pid`, voluntary
/// (a thread went to sleep: a wait, a lock, a blocking call) and not (it
/// was preempted): each is a wake-up paid for, whether or not it found
/// work. A thread that has ended is no longer counted, so a figure over
/// an interval leaves out threads that ended in it (tokio's idle blocking
/// threads, after 10 s without work).
fn switches(pid: u32) -> Result<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("reading /proc/{pid}/task"))?;
    let mut total = 0;
    for task in tasks {
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        for line in text.lines() {
            let count = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"));
            if let Some(n) = count.and_then(|v| v.trim().parse::<u64>().ok()) {
                total += n;
            }
        }
    }
    Ok(total)
}

/// What the regions in `alive` and this process have used so far.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Used {
    /// The regions' CPU seconds (user + system).
    pub(super) regions: f64,
    /// This process's CPU seconds: the clients and the link proxies.
    pub(super) bench: f64,
    /// The regions' threads' context switches ([`switches`]).
    pub(super) region_switches: u64,
}

/// CPU seconds and context switches used so far by the regions in
/// `alive`, and CPU by this process.
pub(super) fn used_now(cluster: &Cluster, alive: &[usize]) -> Result<Used> {
    let mut used = Used {
        bench: cpu_secs(std::process::id())?,
        ..Used::default()
    };
    for &i in alive {
        if let Some(pid) = cluster.pid(i) {
            used.regions += cpu_secs(pid)?;
            used.region_switches += switches(pid)?;
        }
    }
    Ok(used)
}

/// (VmRSS, VmHWM) of a process in bytes.
pub(super) fn rss(pid: u32) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

pub(super) fn dir_size(p: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Copies every file of `from` into a new directory `to` and fsyncs the
/// copies: the raw baseline of a rebuild. Returns the bytes copied.
pub(super) fn raw_copy(from: &Path, to: &Path) -> Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        bytes += std::fs::copy(entry.path(), &dest)?;
        std::fs::File::open(&dest)?.sync_all()?;
    }
    Ok(bytes)
}

/// What the machine could do when the run started. Absolute figures from
/// different days differ severalfold on a shared machine (fsyncs of 0.1 ms
/// one day and 3.6 ms another; CPU shared with other tenants), and these
/// two numbers say how much of a difference between runs is the machine.
pub fn probe_machine(dir: &Path, smoke: bool) -> Result<Json> {
    use std::io::Write;
    let path = dir.join("machine-probe");
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let page = [0u8; 4096];
    let mut syncs = Vec::new();
    for _ in 0..if smoke { 10 } else { 200 } {
        let t = std::time::Instant::now();
        file.write_all(&page)?;
        file.sync_data()?;
        syncs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    // A fixed single-threaded integer workload, best of several runs: the
    // best is the least disturbed by other work on the machine.
    let steps: u64 = if smoke { 200_000 } else { 20_000_000 };
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / steps as f64);
    }
    Ok(json!({
        "fsync_4k_ms_median": finite(median(&syncs)),
        "cpu_ns_per_step_best": finite(best),
    }))
}
