//! Drills from the page: a scenario file run by `meridian drill run`, the
//! same command a user types (it starts a cluster of its own, or simulates
//! one with `--sim`), watched while it runs, and the reports under
//! `drill-out/` listed with their verdicts. One drill at a time.
//!
//! A drill started here is watched while it runs through the progress file
//! it writes beside its report ([`crate::drill::PROGRESS_FILE`]: its
//! timeline entries and the rows of its report's series, as they are
//! made), which `GET /api/drills/live` streams to the page line by line as
//! server-sent events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use meridian_scenario::scenario::Scenario;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::board::{Board, Run, Shared, error};
use crate::drill::{DRILL_OUT, PROGRESS_FILE};

/// Lines of a running drill's output kept for the page.
const KEPT_LINES: usize = 40;
/// Largest summary read from a drill's stdout, and largest report read.
const MAX_JSON: usize = 16 << 20;
/// Most reports listed.
const MAX_REPORTS: usize = 200;
/// How often a running drill's progress file is looked at for new lines.
const TAIL_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// Most read of the progress file at once, and the longest line passed on.
const TAIL_CHUNK: usize = 1 << 20;

/// `POST /api/drills` with `{"scenario": "simulations/partition-heal.toml",
/// "sim": true}`: starts `meridian drill run` on it.
pub async fn start(State(board): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err((status, message)) = board.authorized(&headers) {
        return error(status, message);
    }
    let (path, sim) = match requested(&body) {
        Ok(r) => r,
        Err((status, message)) => return error(status, message),
    };
    // Checked here first, so a bad file is refused with the drill's own
    // message and nothing starts.
    let scenario = match Scenario::load(Path::new(&path))
        .map_err(|e| e.to_string())
        .and_then(meridian_drill::profile::apply)
    {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("scenario: {e:#}")),
    };
    let mut current = board.drills.current.lock().expect("drills");
    if let Some(run) = current.as_ref().filter(|r| r.ended.is_none()) {
        return error(
            StatusCode::CONFLICT,
            format!("drill {} is running; one drill at a time", run.scenario),
        );
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("locating meridian: {e}"),
            );
        }
    };
    // The previous run's progress goes first, so the page never shows it
    // as this one's: the drill writes its own afresh once it starts.
    let progress = Path::new(DRILL_OUT)
        .join(&scenario.name)
        .join(PROGRESS_FILE);
    if let Err(e) = std::fs::remove_file(&progress)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("removing {}: {e}", progress.display()),
        );
    }
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["drill", "run", &path, "--json", "--quiet"]);
    if sim {
        cmd.arg("--sim");
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own group, so stopping it stops the regions it started too.
    cmd.as_std_mut().process_group(0);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("starting the drill: {e}"),
            );
        }
    };
    *current = Some(Run {
        id: board
            .drills
            .started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        scenario: scenario.name.clone(),
        progress,
        path,
        sim,
        pgid: child.id().map(|p| p as i32),
        lines: VecDeque::new(),
        ended: None,
    });
    let started = current.as_ref().map(Run::json).unwrap_or(Json::Null);
    drop(current);
    tokio::spawn(follow(board.clone(), child));
    axum::Json(json!({ "ok": started })).into_response()
}

/// Follows a started drill until it ends: its stderr's last lines kept
/// for the page, its stdout read as its JSON summary, and both kept with
/// its exit status on the board's current run.
async fn follow(board: Arc<Board>, mut child: tokio::process::Child) {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let notes = async {
        if let Some(err) = stderr {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut current = board.drills.current.lock().expect("drills");
                if let Some(run) = current.as_mut() {
                    run.lines.push_back(line);
                    while run.lines.len() > KEPT_LINES {
                        run.lines.pop_front();
                    }
                }
            }
        }
    };
    let summary = async {
        let mut text = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(MAX_JSON as u64).read_to_end(&mut text).await;
        }
        serde_json::from_slice::<Json>(&text).unwrap_or(Json::Null)
    };
    let ((), summary) = tokio::join!(notes, summary);
    let exit = match child.wait().await {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown: {e}"),
    };
    if let Some(run) = board.drills.current.lock().expect("drills").as_mut() {
        run.ended = Some((exit, summary));
    }
}

/// The scenario file's path and whether to simulate, from the body.
fn requested(body: &Bytes) -> Result<(String, bool), (StatusCode, String)> {
    let j: Json = match serde_json::from_slice(body) {
        Ok(j) => j,
        Err(e) => return Err((StatusCode::BAD_REQUEST, format!("body: not JSON: {e}"))),
    };
    let path = match j["scenario"].as_str().map(str::trim) {
        Some(p) if !p.is_empty() && p.len() <= 4096 => p.to_string(),
        _ => {
            return Err((
                StatusCode::BAD_REQUEST,
                "scenario: a scenario file's path, e.g. simulations/partition-heal.toml".into(),
            ));
        }
    };
    let sim = j["sim"].as_bool().unwrap_or(false);
    Ok((path, sim))
}

/// Where a page is in the drill's progress file.
struct Tail {
    board: Arc<Board>,
    closing: tokio::sync::watch::Receiver<bool>,
    id: u64,
    path: PathBuf,
    offset: u64,
    /// A line begun but not yet ended.
    partial: Vec<u8>,
    ready: VecDeque<Event>,
    done: bool,
}

impl Tail {
    /// The run's state: `None` once it is no longer the drill being shown
    /// (another one started), else whether it has ended.
    fn ended(&self) -> Option<bool> {
        let current = self.board.drills.current.lock().expect("drills");
        current
            .as_ref()
            .filter(|r| r.id == self.id)
            .map(|r| r.ended.is_some())
    }

    /// Reads what the file gained since the last read, as whole lines.
    async fn read(&mut self) -> usize {
        use tokio::io::AsyncSeekExt as _;
        let Ok(mut f) = tokio::fs::File::open(&self.path).await else {
            return 0;
        };
        if f.seek(std::io::SeekFrom::Start(self.offset)).await.is_err() {
            return 0;
        }
        let mut chunk = Vec::new();
        let n = f
            .take(TAIL_CHUNK as u64)
            .read_to_end(&mut chunk)
            .await
            .unwrap_or(0);
        self.offset += n as u64;
        let before = self.ready.len();
        for byte in chunk {
            if byte != b'\n' {
                if self.partial.len() < TAIL_CHUNK {
                    self.partial.push(byte);
                }
                continue;
            }
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            if !line.trim().is_empty() {
                self.ready
                    .push_back(Event::default().event("progress").data(line));
            }
        }
        self.ready.len() - before
    }
}

/// `GET /api/drills/live`: the progress of the drill started from the page,
/// from its first line, each line of its progress file as a `progress`
/// event as it is written, then an `end` event once the drill has ended
/// (or when none runs).
pub async fn live(
    State(board): Shared,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let run = board
        .drills
        .current
        .lock()
        .expect("drills")
        .as_ref()
        .map(|r| (r.id, r.progress.clone()));
    let closing = board.samples.closing.subscribe();
    let (id, path, done) = match run {
        Some((id, path)) => (id, path, false),
        None => (0, PathBuf::new(), true),
    };
    let tail = Tail {
        board: board.clone(),
        closing,
        id,
        path,
        offset: 0,
        partial: Vec::new(),
        ready: VecDeque::new(),
        done,
    };
    let stream = futures::stream::unfold(tail, |mut tail| async move {
        loop {
            if let Some(event) = tail.ready.pop_front() {
                return Some((Ok(event), tail));
            }
            if tail.done {
                return None;
            }
            // Whether it had ended is read before the file, so that the
            // read after it ended takes the drill's last line.
            let ended = tail.ended();
            if tail.read().await > 0 {
                continue;
            }
            if ended != Some(false) {
                tail.done = true;
                return Some((Ok(Event::default().event("end").data("{}")), tail));
            }
            tokio::select! {
                _ = tokio::time::sleep(TAIL_EVERY) => {}
                _ = tail.closing.wait_for(|c| *c) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/drills`: the drill started from the page, the scenario files
/// under `simulations/`, and the reports under `drill-out/` with verdicts.
pub async fn list(State(board): Shared) -> Response {
    let current = board
        .drills
        .current
        .lock()
        .expect("drills")
        .as_ref()
        .map(Run::json);
    let (scenarios, reports) = tokio::task::spawn_blocking(|| (scenario_files(), reports()))
        .await
        .unwrap_or_default();
    axum::Json(json!({
        "current": current,
        "scenarios": scenarios,
        "reports": reports,
        "drill_out": std::env::current_dir().map(|d| d.join(DRILL_OUT).display().to_string()).ok(),
    }))
    .into_response()
}

fn scenario_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("simulations")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "toml")
                && p.file_name().is_some_and(|n| n != "Cargo.toml")
        })
        .map(|p| p.display().to_string())
        .collect();
    out.sort();
    out
}

/// Every `drill-out/<name>/report.json` with its verdict, newest first.
fn reports() -> Vec<Json> {
    let mut found: Vec<(std::time::SystemTime, String, PathBuf)> = std::fs::read_dir(DRILL_OUT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path().join("report.json");
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            Some((modified, e.file_name().to_string_lossy().into_owned(), path))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .take(MAX_REPORTS)
        .map(|(modified, name, path)| {
            let report = std::fs::File::open(&path)
                .ok()
                .and_then(|f| {
                    let mut text = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_JSON as u64), &mut text).ok()?;
                    serde_json::from_slice::<Json>(&text).ok()
                })
                .unwrap_or(Json::Null);
            let v = &report["verdict"];
            json!({
                "name": name,
                "scenario": report["scenario"],
                "mode": report["mode"],
                "ok": v["ok"],
                "problems": v["problems"].as_array().map(Vec::len),
                "first_problem": v["problems"].get(0),
                "modified_ms": modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
                "html": format!("/api/drills/report/{name}"),
            })
        })
        .collect()
}

/// `GET /api/drills/report/<name>`: `drill-out/<name>/report.html`.
pub async fn report(UrlPath(name): UrlPath<String>) -> Response {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !plain {
        return error(
            StatusCode::BAD_REQUEST,
            format!("report: {name:?} is not a drill's name (letters, digits, '-', '_', '.')"),
        );
    }
    let path = Path::new(DRILL_OUT).join(&name).join("report.html");
    match tokio::fs::read(&path).await {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, format!("{}: {e}", path.display())),
    }
}
