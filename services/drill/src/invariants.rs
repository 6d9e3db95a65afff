//! The scenario's invariants while a drill runs and once it has settled:
//! each region's table scanned through its API, the rows judged by the
//! pure rules of [`meridian_scenario::invariant`], and the rows handed to
//! the invariant's command, whose exit status judges them too. Every
//! violation is kept with its region, time, rows and the faults in effect
//! then, and the first of each run of violations marks the timeline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use meridian_core::Item;
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use meridian_scenario::invariant::{
    Expect, Invariant, InvariantReport, MAX_VIOLATIONS, ROWS_SHOWN, Violation, show, unequal,
};
use meridian_scenario::report::EventMark;
use meridian_scenario::scenario::Scenario;

use crate::probe::SAMPLE_TIMEOUT;
use crate::target::{Mode, RegionTarget};

/// Items a Scan page holds at most.
const PAGE: u32 = 1000;
/// Longest an invariant's command may run before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Refuses an invariant whose command is not an executable, naming the
/// field, before any fault is applied.
pub(crate) fn check(scenario: &Scenario) -> Result<(), String> {
    for (i, inv) in scenario.invariants.iter().enumerate() {
        if let Some(cmd) = &inv.command
            && executable(&cmd[0]).is_none()
        {
            return Err(format!(
                "invariant[{i}].command: {:?} is not an executable file (nor one on PATH)",
                cmd[0]
            ));
        }
    }
    Ok(())
}

/// `program` as a path to an executable file: itself if it names a path,
/// else the first of PATH's directories that holds it.
fn executable(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runs = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return runs(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| runs(p))
}

/// One invariant being checked.
struct Watched {
    inv: Invariant,
    next_ms: u64,
    report: InvariantReport,
    /// The regions where it was violated at its last check.
    violated: BTreeSet<String>,
}

/// Every invariant of the scenario.
pub(crate) struct Invariants {
    watched: Vec<Watched>,
    /// How the commands are waited for ([`run_command`]).
    mode: Mode,
}

impl Invariants {
    pub(crate) fn new(scenario: &Scenario, mode: Mode) -> Option<Invariants> {
        if scenario.invariants.is_empty() {
            return None;
        }
        let watched = scenario
            .invariants
            .iter()
            .map(|inv| Watched {
                next_ms: inv.every.map_or(u64::MAX, |e| e.as_millis() as u64),
                report: InvariantReport {
                    name: inv.name.clone(),
                    table: inv.table.clone(),
                    query: query(inv),
                    holds: true,
                    ..InvariantReport::default()
                },
                inv: inv.clone(),
                violated: BTreeSet::new(),
            })
            .collect();
        Some(Invariants { watched, mode })
    }

    /// Checks, at `t_ms`, every invariant due by then (`settled`: every
    /// one, the regions having settled); returns the timeline's entries
    /// for violations newly seen.
    pub(crate) async fn check(
        &mut self,
        t_ms: u64,
        settled: bool,
        regions: &[RegionTarget],
        faults: &[String],
    ) -> Vec<EventMark> {
        let mut marks = Vec::new();
        for w in &mut self.watched {
            if !settled && t_ms < w.next_ms {
                continue;
            }
            if let Some(every) = w.inv.every {
                let every = every.as_millis() as u64;
                w.next_ms = (t_ms / every + 1) * every;
            }
            let phase = if settled { "settled" } else { "running" };
            let mut scanned = BTreeMap::new();
            for r in regions {
                let Ok((items, pages)) = scan(r, &w.inv.table).await else {
                    continue;
                };
                w.report.requests += pages;
                let (items, gets) = confirm(&w.inv, r, items).await;
                w.report.requests += gets;
                scanned.insert(r.name.clone(), items);
            }
            w.report.checks += 1;
            let found = violations(self.mode, &w.inv, &scanned, settled, phase).await;
            let now: BTreeSet<String> = found.iter().map(|v| v.region.clone()).collect();
            for mut v in found {
                v.at_ms = t_ms;
                v.faults = faults.to_vec();
                if !w.violated.contains(&v.region) {
                    marks.push(EventMark {
                        at_ms: t_ms,
                        action: "invariant".into(),
                        label: format!(
                            "invariant {} violated in {} ({phase}): {}",
                            w.inv.name, v.region, v.detail
                        ),
                    });
                }
                w.report.holds = false;
                match w.report.violations.len() < MAX_VIOLATIONS {
                    true => w.report.violations.push(v),
                    false => w.report.more += 1,
                }
            }
            w.violated = now;
        }
        marks
    }

    pub(crate) fn reports(self) -> Vec<InvariantReport> {
        self.watched.into_iter().map(|w| w.report).collect()
    }
}

/// The invariant as the report names it: the Scan and what it expects.
fn query(inv: &Invariant) -> String {
    let filter = inv
        .filter_text
        .as_deref()
        .map(|f| format!(" FilterExpression {f}"))
        .unwrap_or_default();
    let expect = match &inv.expect {
        Expect::Empty => "empty".to_string(),
        Expect::Count(n) => format!("{n} rows"),
        Expect::Equal => "equal in every region".to_string(),
        Expect::Referenced(a, k) => format!("each row's {a} an item's {k}"),
    };
    let command = inv
        .command
        .as_ref()
        .map(|c| format!(", and {} exits 0", c.join(" ")))
        .unwrap_or_default();
    format!("Scan {}{filter}: {expect}{command}", inv.table)
}

/// The violations the scanned regions show: the rows against the
/// expectation (`Equal` only once settled), then the command.
async fn violations(
    mode: Mode,
    inv: &Invariant,
    scanned: &BTreeMap<String, Vec<Item>>,
    settled: bool,
    phase: &str,
) -> Vec<Violation> {
    let violation = |region: &str, detail: String, rows: Vec<&Item>| Violation {
        region: region.to_string(),
        phase: phase.into(),
        detail,
        rows: rows.iter().take(ROWS_SHOWN).map(|i| show(i)).collect(),
        ..Violation::default()
    };
    let mut out = Vec::new();
    if inv.expect == Expect::Equal {
        if settled {
            for (region, detail, rows) in unequal(inv, scanned) {
                out.push(violation(&region, detail, rows));
            }
        }
    } else {
        for (region, items) in scanned {
            if let Some((detail, rows)) = inv.judge(items) {
                out.push(violation(region, detail, rows));
            }
        }
    }
    if let Some(cmd) = &inv.command {
        for (region, items) in scanned {
            let rows = inv.select(items);
            if let Err(detail) = run_command(mode, cmd, inv, region, phase, &rows).await {
                out.push(violation(region, detail, rows));
            }
        }
    }
    out
}

/// Runs the invariant's command with the region's rows on its standard
/// input (`{"invariant", "region", "phase", "rows": [DynamoDB JSON]}`);
/// an exit status other than 0, or no exit within [`COMMAND_TIMEOUT`], is
/// a violation, with what it wrote to its standard error.
///
/// A live drill awaits the command on its own runtime. A simulated one
/// runs on turmoil's, which has no I/O driver to wait on a process with
/// and whose clock is virtual: there the same run goes on a runtime of
/// its own, on a thread of its own, and the simulation waits for it, so
/// the command takes no virtual time and the seed decides the rest.
async fn run_command(
    mode: Mode,
    cmd: &[String],
    inv: &Invariant,
    region: &str,
    phase: &str,
    rows: &[&Item],
) -> Result<(), String> {
    let input = serde_json::json!({
        "invariant": inv.name,
        "region": region,
        "phase": phase,
        "rows": rows
            .iter()
            .map(|i| serde_json::Value::Object(meridian_core::item_to_json(i)))
            .collect::<Vec<_>>(),
    })
    .to_string();
    match mode {
        Mode::Live => judge_by_command(cmd, input, COMMAND_TIMEOUT).await,
        Mode::Simulated => std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("{} did not start: {e}", cmd[0]))?
                    .block_on(judge_by_command(cmd, input, COMMAND_TIMEOUT))
            })
            .join()
            .unwrap_or_else(|_| Err(format!("running {} panicked", cmd[0])))
        }),
    }
}

/// Runs `cmd` with `input` on its standard input: `Ok` when it exits 0
/// within `timeout`; else why not, with the first 300 characters of its
/// standard error. A command still running at `timeout` is killed.
async fn judge_by_command(cmd: &[String], input: String, timeout: Duration) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{} did not start: {e}", cmd[0]))?;
    let (stdin, stderr) = (child.stdin.take(), child.stderr.take());
    // Fed and drained at once, so that neither pipe filling up holds the
    // other; stdin closes once written. A command that exits without
    // reading all its input is judged by its exit status alone.
    let feed = async move {
        if let Some(mut i) = stdin {
            let _ = i.write_all(input.as_bytes()).await;
        }
    };
    let drain = async move {
        let mut err = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut err).await;
        }
        err
    };
    let waiting = &mut child;
    let run = async move {
        let ((), err) = tokio::join!(feed, drain);
        (waiting.wait().await, err)
    };
    let outcome = tokio::time::timeout(timeout, run).await;
    let Ok((status, err)) = outcome else {
        let _ = child.kill().await;
        return Err(format!(
            "{} did not exit within {} s",
            cmd[0],
            timeout.as_secs_f64()
        ));
    };
    let status = status.map_err(|e| format!("waiting for {}: {e}", cmd[0]))?;
    if status.success() {
        return Ok(());
    }
    let err: String = err.trim().chars().take(300).collect();
    Err(format!("{} exited with {status}: {err}", cmd[0]))
}

/// Most items a referenced invariant looks up again per check and region.
const CONFIRM: usize = 100;

/// With [`Expect::Referenced`]: the items the rows name that the Scan did
/// not hold, looked up again (the first [`CONFIRM`]) and added when found.
/// A Scan reads its pages one after another, so an item written before
/// a row that names it, on an earlier page, may be missed by the Scan
/// and not by the row: only a row whose item is still missing after is
/// a violation. Returns the items and the lookups it made.
async fn confirm(inv: &Invariant, r: &RegionTarget, mut items: Vec<Item>) -> (Vec<Item>, u64) {
    let Expect::Referenced(attr, key) = &inv.expect else {
        return (items, 0);
    };
    let Some((_, orphans)) = inv.judge(&items) else {
        return (items, 0);
    };
    let wanted: BTreeMap<String, meridian_core::AttrValue> = orphans
        .iter()
        .filter_map(|o| o.get(attr))
        .map(|v| (v.to_json().to_string(), v.clone()))
        .take(CONFIRM)
        .collect();
    let mut client = MeridianClient::new(r.channel.clone());
    let mut gets = 0;
    for v in wanted.into_values() {
        let k: Item = [(key.clone(), v)].into();
        gets += 1;
        let got = tokio::time::timeout(
            SAMPLE_TIMEOUT,
            client.get_item(pb::GetItemRequest {
                table: inv.table.clone(),
                key: meridian_core::encode_item(&k),
                consistent: false,
            }),
        )
        .await;
        if let Ok(Ok(reply)) = got
            && let Some(stored) = reply.into_inner().item
            && let Ok(item) = meridian_core::decode_item(&stored.item)
        {
            items.push(item);
        }
    }
    (items, gets)
}

/// Every item of `table` in region `r`, and the Scan pages it took.
async fn scan(r: &RegionTarget, table: &str) -> Result<(Vec<Item>, u64), String> {
    let mut client = MeridianClient::new(r.channel.clone());
    let mut items = Vec::new();
    let mut token = Vec::new();
    let mut pages = 0;
    loop {
        let page = tokio::time::timeout(
            SAMPLE_TIMEOUT,
            client.scan(pb::ScanRequest {
                table: table.into(),
                limit: PAGE,
                page_token: token,
                index: String::new(),
            }),
        )
        .await
        .map_err(|_| format!("{} did not answer", r.name))?
        .map_err(|e| e.message().to_string())?
        .into_inner();
        pages += 1;
        for s in page.items {
            items.push(meridian_core::decode_item(&s.item).map_err(|e| e.to_string())?);
        }
        if page.next_page_token.is_empty() {
            return Ok((items, pages));
        }
        token = page.next_page_token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn a_command_judges_by_its_exit_status_and_says_what_it_wrote() {
        let input = r#"{"invariant": "i", "rows": []}"#.to_string();
        let t = Duration::from_secs(10);
        assert_eq!(
            judge_by_command(&sh(r#"grep -q '"invariant": "i"'"#), input.clone(), t).await,
            Ok(())
        );
        let err = judge_by_command(
            &sh("cat > /dev/null; echo stock negative >&2; exit 3"),
            input.clone(),
            t,
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("exited with exit status: 3: stock negative"),
            "{err}"
        );
        // One that leaves its input unread is judged by its status alone.
        assert_eq!(
            judge_by_command(&sh("exit 0"), "x".repeat(1 << 20), t).await,
            Ok(())
        );
        let err = judge_by_command(&["/nonexistent/check".to_string()], input, t)
            .await
            .unwrap_err();
        assert!(err.starts_with("/nonexistent/check did not start"), "{err}");
    }

    #[tokio::test]
    async fn a_command_that_does_not_exit_in_time_is_killed_and_a_violation() {
        let began = std::time::Instant::now();
        let err = judge_by_command(
            &sh("exec tail -f /dev/null"),
            String::new(),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(err.contains("did not exit within 0.2 s"), "{err}");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{:?}",
            began.elapsed()
        );
    }
}
