//! The dashboard end to end, in a real browser: the real `meridian up`
//! binary runs three region processes behind its link proxy and serves the
//! dashboard; headless Chromium, driven over WebDriver, opens the URL `up`
//! printed and cuts, heals, crashes and restarts from the page. Skipped,
//! saying so, only when Chromium or chromedriver is not installed (`.ci/run`
//! installs both). Every wait polls with a deadline.
//!
//! With `MERIDIAN_DASHBOARD_SCREENSHOTS=<dir>` it also saves the
//! screenshots docs/dashboard.md shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meridian_cluster::http::{Target, request};
use meridian_core::{AttrValue, Item, encode_item};
use meridian_proto::v1 as pb;
use meridian_proto::v1::meridian_client::MeridianClient;
use serde_json::{Value as Json, json};

use crate::common;
use crate::up;
use crate::webdriver;
use common::{WAIT, channel, create_kvs};
use up::{Daemon, REGIONS, cluster};
use webdriver::Browser;

/// Writes to `port`'s region, one every 10 ms, until stopped or `max` are
/// done; each write a new key.
fn writer(
    port: u16,
    max: u32,
) -> (
    tokio::task::JoinHandle<u32>,
    tokio::sync::watch::Sender<bool>,
) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut client = MeridianClient::new(channel(port));
        let mut done = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while done < max && !*stopped.borrow() {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            let mut item = Item::new();
            item.insert("id".into(), AttrValue::S(format!("w{done}")));
            let req = pb::PutItemRequest {
                table: "kvs".into(),
                item: encode_item(&item),
                condition: None,
            };
            if client.put_item(req).await.is_ok() {
                done += 1;
            }
        }
        done
    });
    (task, stop)
}

/// Writes `{"id": id, "v": v}` into `kvs` in the region on `port`.
async fn put(port: u16, id: &str, v: &str) {
    put_in(port, "kvs", id, v).await;
}

async fn put_in(port: u16, table: &str, id: &str, v: &str) {
    let mut item = Item::new();
    item.insert("id".into(), AttrValue::S(id.into()));
    item.insert("v".into(), AttrValue::S(v.into()));
    MeridianClient::new(channel(port))
        .put_item(pb::PutItemRequest {
            table: table.into(),
            item: encode_item(&item),
            condition: None,
        })
        .await
        .expect("put");
}

/// Creates `name` (key `id`, a string) in every region, with a stream of
/// new and old images, from the region on `port`.
async fn create_streamed(port: u16, name: &str) {
    MeridianClient::new(channel(port))
        .create_table(pb::CreateTableRequest {
            name: name.into(),
            partition_key: Some(pb::KeyAttr {
                name: "id".into(),
                r#type: "S".into(),
            }),
            stream_view_type: "NEW_AND_OLD_IMAGES".into(),
            ..Default::default()
        })
        .await
        .expect("create the table");
}

/// Waits until every region knows table `name`.
async fn everywhere(ports: &[u16], name: &str) {
    for &p in ports {
        poll_page("the table in every region", || async move {
            MeridianClient::new(channel(p))
                .describe_table(pb::TableRequest { name: name.into() })
                .await
                .is_ok()
        })
        .await;
    }
}

/// The page, as the test reads it: what a user sees.
struct Page<'a> {
    b: &'a Browser,
}

impl Page<'_> {
    /// `region → data-state` of every region card.
    async fn region_states(&self) -> Json {
        self.b
            .eval(
                "const o = {}; for (const c of document.querySelectorAll('#regions > .card')) o[c.id.slice(7)] = c.dataset.state; return o;",
                json!([]),
            )
            .await
    }

    /// The pending count every link cell shows, by `from>to`.
    async fn pending(&self) -> Json {
        self.b
            .eval(
                "const o = {}; for (const c of document.querySelectorAll('td.link[id]')) \
                 o[c.id.slice(5).replace('--', '>')] = c.dataset.pending === '' ? null : Number(c.dataset.pending); return o;",
                json!([]),
            )
            .await
    }

    /// The link's partition-order counts, as the page shows them.
    async fn order(&self, from: &str, to: &str) -> String {
        self.b
            .text(&format!("#link-{from}--{to} .order"))
            .await
            .unwrap_or_default()
    }

    /// The state the alarms table shows for alarm `name`, once it shows it.
    async fn alarm_state(&self, name: &str) -> String {
        self.b
            .text(&format!("#alarms tr[data-alarm=\"{name}\"] .alarm-state"))
            .await
            .unwrap_or_default()
    }

    async fn faults(&self, from: &str, to: &str) -> String {
        self.b
            .text(&format!("#link-{from}--{to} .faults"))
            .await
            .unwrap_or_default()
    }

    /// Types a `meridian net` command line into the page's line and runs it.
    async fn run_line(&self, line: &str) {
        self.b
            .eval(
                "document.getElementById('message').textContent = ''",
                json!([]),
            )
            .await;
        self.b.type_into("#l-args", line).await;
        self.b.click("#l-run").await;
    }

    /// The page's answer to the last action, once there is one:
    /// (refused?, text).
    async fn answer(&self) -> (bool, String) {
        const READ: &str = "const m = document.getElementById('message'); \
             return m.textContent === '' || m.textContent.endsWith('…') ? null : [m.className, m.textContent];";
        poll_page("the page to answer the action", || async {
            !self.b.eval(READ, json!([])).await.is_null()
        })
        .await;
        let v = self.b.eval(READ, json!([])).await;
        (
            v[0] == "error",
            v[1].as_str().unwrap_or_default().to_string(),
        )
    }
}

/// This machine's clock, ms since the epoch: the page's `Date.now()`.
fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

/// Prints how long after a write's acknowledgement the page drew it:
/// the figure docs/performance.md quotes, not asserted.
fn print_delays(drawn: &str, mut delays: Vec<f64>) {
    delays.sort_by(f64::total_cmp);
    let n = delays.len();
    eprintln!(
        "plot delay, write acknowledged → {drawn}, over {n}: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        delays[n / 2],
        delays[n * 9 / 10],
        delays[n - 1]
    );
}

async fn poll_page<F, Fut>(what: &str, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    meridian_tests::poll_until(what, WAIT, f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_and_changes_a_running_cluster_in_a_real_browser() {
    let (chromium, driver) = match webdriver::installed() {
        Ok(found) => found,
        Err(why) => {
            eprintln!("SKIPPED the dashboard's browser test: {why}");
            return;
        }
    };
    let shots: Option<PathBuf> =
        std::env::var_os("MERIDIAN_DASHBOARD_SCREENSHOTS").map(PathBuf::from);
    // As the default cluster, it has an admin token: actions take it.
    let c = cluster(true);
    // One alarm, on the backlog of the link the test cuts.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&c.config)
        .unwrap();
    std::io::Write::write_all(&mut file, BACKLOG_ALARM.as_bytes()).unwrap();
    let mut up = Daemon::start(
        &["up", "--dashboard", "127.0.0.1:0"],
        &c.config,
        c.dir.path().join("up.log"),
    );
    let [ra, rb, rc] = REGIONS;

    // `up` prints the dashboard's URL, with the admin token in its fragment.
    let dashboard_url = |log: String| {
        log.lines()
            .find_map(|l| l.strip_prefix("Dashboard: ").map(str::to_string))
    };
    poll_page("`meridian up` to print the dashboard's URL", || {
        let found = dashboard_url(up.log()).is_some();
        async move { found }
    })
    .await;
    let url = dashboard_url(up.log()).unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/#token="),
        "{url}"
    );
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();

    refused_without_the_token(&addr, rc).await;
    snapshot_names_the_cluster(&addr, c.api).await;

    let browser = Browser::start(&chromium, &driver, 1280, 900).await;
    let page = Page { b: &browser };
    browser.goto(&url).await;
    poll_page("the page to show three regions up", || async {
        page.region_states().await == json!({ra: "up", rb: "up", rc: "up"})
    })
    .await;
    assert_eq!(
        browser.text("#token-state").await.as_deref(),
        Some("actions enabled")
    );
    print_first_paint(&browser).await;
    // The cluster file's alarm, evaluated by `up`: OK once a period of
    // the idle cluster has been evaluated.
    poll_page("the page to show the alarm OK", || async {
        page.alarm_state("backlog").await == "OK"
    })
    .await;

    create_kvs(&c.grpc).await;
    let (writes, stop_writes) = writer(c.grpc[0], 20_000);

    let shots = shots.as_ref();
    partition_and_heal_from_the_form(&page, shots).await;
    pause_from_the_form(&page, shots).await;
    stop_writes.send(true).unwrap();
    assert!(writes.await.unwrap() > 0);

    pulses_draw_the_plots(&page, &c.grpc).await;
    a_conflict_and_its_story(&page, &c.grpc, shots).await;
    bad_input_and_a_fault_that_ends(&page, &c.config).await;
    crash_restart_and_wipe(&page, shots).await;
    replica_removed_and_filled(&page, &c.config, shots).await;
    live_drill(&page, c.dir.path()).await;
    simulated_drill(&page, c.dir.path(), shots).await;
    report_link_opens(&browser, &addr).await;

    // The plots drew from the samples pushed.
    let paths = browser
        .eval(
            "return document.querySelectorAll('#plot-pending path').length",
            json!([]),
        )
        .await;
    assert_eq!(paths, json!(6), "one pending line per directed link");

    browser.quit().await;
    let status = up.stop().expect("meridian up to stop");
    assert!(status.success(), "{}", up.log());
    assert!(up.log().contains("all regions stopped"), "{}", up.log());
}

/// Without the token an action is refused and changes nothing.
async fn refused_without_the_token(addr: &str, rc: &str) {
    let refused = request(
        &Target::at(addr, "/api/net"),
        "POST",
        &[("content-type", "application/json")],
        json!({"args": ["crash", rc]}).to_string().into_bytes(),
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        refused.status,
        401,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
}

/// The snapshot, as scripts read it: this cluster's control API (on port
/// `api`), its six links.
async fn snapshot_names_the_cluster(addr: &str, api: u16) {
    let snapshot = || async {
        let r = request(
            &Target::at(addr, "/api/snapshot"),
            "GET",
            &[],
            Vec::new(),
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        serde_json::from_slice::<Json>(&r.body).unwrap()
    };
    poll_page("the first sample", || async { !snapshot().await.is_null() }).await;
    let s = snapshot().await;
    assert_eq!(s["control_api"], json!(format!("127.0.0.1:{api}")));
    assert_eq!(s["links"].as_array().map(Vec::len), Some(6), "{s}");
}

/// How soon the page showed the cluster, from the navigation's start:
/// printed, not asserted (docs/performance.md has the figure).
async fn print_first_paint(browser: &Browser) {
    let paint = browser
        .eval(
            "const at = (n) => { const e = performance.getEntriesByName(n)[0]; return e ? e.startTime : null; }; \
             return [at('first-contentful-paint'), at('regions-drawn')];",
            json!([]),
        )
        .await;
    eprintln!(
        "first paint: first contentful paint {} ms, three regions drawn {} ms after the navigation started",
        paint[0], paint[1]
    );
}

/// A partition set from the page's form: pending climbs on that link
/// only; healed from the page, the backlog drains.
async fn partition_and_heal_from_the_form(page: &Page<'_>, shots: Option<&PathBuf>) {
    let browser = page.b;
    let [ra, rb, rc] = REGIONS;
    browser.click(&format!("#link-{ra}--{rb}")).await;
    browser.select("#f-kind", "partition").await;
    browser.click("#f-apply").await;
    let (error, said) = page.answer().await;
    assert!(!error, "{said}");
    assert!(
        said.contains(&format!("partitioned {ra} → {rb} (blackhole)")),
        "{said}"
    );
    poll_page("pending to climb on us-east-1 → eu-west-1 only", || async {
        let p = page.pending().await;
        let cut = p[format!("{ra}>{rb}")].as_u64().unwrap_or(0);
        let others = [(ra, rc), (rb, ra), (rb, rc), (rc, ra), (rc, rb)]
            .iter()
            .map(|(a, b)| p[format!("{a}>{b}")].as_u64().unwrap_or(u64::MAX))
            .max()
            .unwrap();
        cut >= 50 && others <= 10
    })
    .await;
    // Pending moves with the regions' pulses, faults with the next sample.
    poll_page("the page to show the backlog's alarm in ALARM", || async {
        page.alarm_state("backlog").await == "ALARM"
    })
    .await;
    poll_page(
        "the page to show the partition on that link only",
        || async { page.faults(ra, rb).await.contains("blackhole") },
    )
    .await;
    assert_eq!(page.faults(ra, rc).await, "no faults");
    // Each link shows what its receiver counted of partition order's
    // anomalies (docs/replication.md, "Lanes").
    let order = page.order(ra, rc).await;
    let counts: Vec<&str> = order.split_whitespace().collect();
    assert!(
        matches!(counts.as_slice(), ["reordered", n, "torn", m]
            if n.parse::<u64>().is_ok() && m.parse::<u64>().is_ok()),
        "{order:?}"
    );
    if let Some(dir) = shots {
        browser
            .screenshot(&dir.join("dashboard-partition.png"))
            .await;
    }

    // Healed from the page: the backlog drains.
    browser.select("#f-kind", "heal").await;
    browser.click("#f-apply").await;
    let (error, said) = page.answer().await;
    assert!(!error, "{said}");
    poll_page("the backlog on us-east-1 → eu-west-1 to drain", || async {
        let p = page.pending().await;
        p[format!("{ra}>{rb}")].as_u64().is_some_and(|n| n <= 10)
            && page.faults(ra, rb).await == "no faults"
    })
    .await;
    poll_page("the backlog's alarm back to OK", || async {
        page.alarm_state("backlog").await == "OK"
    })
    .await;
}

/// The alarm the test's cluster file declares: the backlog of the link
/// `partition_and_heal_from_the_form` cuts, past 20 in a second.
const BACKLOG_ALARM: &str = r#"
[[alarm]]
name = "backlog"
metric = "PendingReplicationCount"
region = "us-east-1"
receiving_region = "eu-west-1"
statistic = "Maximum"
period = "1s"
threshold = 20
comparison = "GreaterThanThreshold"
"#;

/// A table's replication paused from the page's form, as `meridian net
/// pause-replication` pauses it: the table in the extra field, the
/// replica in "from", the duration as the value.
async fn pause_from_the_form(page: &Page<'_>, shots: Option<&PathBuf>) {
    let browser = page.b;
    let ra = REGIONS[0];
    browser.select("#f-kind", "pause").await;
    browser.type_into("#f-extra", "kvs").await;
    browser.type_into("#f-value", "1s").await;
    browser.click("#f-apply").await;
    let (error, said) = page.answer().await;
    assert!(!error, "{said}");
    assert!(
        said.contains(&format!("paused replication of kvs into and out of {ra}")),
        "{said}"
    );
    if let Some(dir) = shots {
        browser
            .eval(
                "document.querySelector('.plots').scrollIntoView()",
                json!([]),
            )
            .await;
        browser.screenshot(&dir.join("dashboard-plots.png")).await;
        browser.eval("window.scrollTo(0, 0)", json!([])).await;
    }
}

/// A write shows on the pending plot as soon as the region's pulse
/// brings it, between two samples; replication latency moves with the
/// pulses too. How long after each write was acknowledged the page drew
/// it is printed, not asserted (docs/performance.md has the figures).
async fn pulses_draw_the_plots(page: &Page<'_>, grpc: &[u16]) {
    let browser = page.b;
    let [ra, rb, rc] = REGIONS;
    page.run_line(&format!("partition {ra} {rb}")).await;
    assert!(!page.answer().await.0);
    let link = format!("{ra} → {rb}");
    let b = browser;
    let plotted = move |link: String| async move {
        b.eval(
            "const p = window.plotted.pending[arguments[0]]; return p ? [p.value, p.at] : null;",
            json!([link]),
        )
        .await
    };
    let mut delays = Vec::new();
    for i in 0..20 {
        let before = plotted(link.clone()).await[0].as_u64().unwrap_or(0);
        put(grpc[0], &format!("pulse{i}"), "x").await;
        let acked_ms = wall_ms();
        poll_page("the pending plot to draw the write", || async {
            plotted(link.clone()).await[0]
                .as_u64()
                .is_some_and(|v| v > before)
        })
        .await;
        let drawn_at = plotted(link.clone()).await[1].as_f64().unwrap();
        delays.push(drawn_at - acked_ms);
    }
    print_delays("pending plot drawn", delays);
    page.run_line(&format!("heal {ra} {rb}")).await;
    assert!(!page.answer().await.0);

    // Replication latency moves with the pulses too: the pulse of the
    // region that applied a write carries the latency of what it applied
    // since its previous pulse. From a write's acknowledgement to the
    // latency plot drawing a point that holds it (a pulse's, or a sample's
    // if one came first), printed as above. Each write waits for a sample
    // with nothing applied on the link, so that no point drawn after the
    // write can hold only earlier ones.
    let link = format!("{ra} → {rc}");
    let lag_plotted = move |link: String| async move {
        b.eval(
            "const p = window.plotted.lag[arguments[0]]; return p ? [p.value, p.t, p.at] : null;",
            json!([link]),
        )
        .await
    };
    let mut lag_delays = Vec::new();
    for i in 0..10 {
        poll_page("a second with nothing applied on the link", || async {
            lag_plotted(link.clone()).await[0].is_null()
        })
        .await;
        put(grpc[0], &format!("lag{i}"), "x").await;
        let acked_ms = wall_ms();
        poll_page("the latency plot to draw the write", || async {
            let p = lag_plotted(link.clone()).await;
            p[0].is_number() && p[1].as_f64().is_some_and(|t| t > acked_ms)
        })
        .await;
        lag_delays.push(lag_plotted(link.clone()).await[2].as_f64().unwrap() - acked_ms);
    }
    print_delays("latency plot drawn", lag_delays);
}

/// Two writes of one key crossing while the link is cut both ways: the
/// conflict appears in the feed, and clicking it shows both writes. The
/// same on a table with a stream: the key's story.
async fn a_conflict_and_its_story(page: &Page<'_>, grpc: &[u16], shots: Option<&PathBuf>) {
    let browser = page.b;
    let [ra, rb, _] = REGIONS;
    page.run_line(&format!("partition {ra} {rb} --both")).await;
    let (error, said) = page.answer().await;
    assert!(!error, "{said}");
    put(grpc[0], "c1", "written-in-us").await;
    put(grpc[1], "c1", "written-in-eu").await;
    page.run_line(&format!("heal {ra} {rb}")).await;
    let (error, said) = page.answer().await;
    assert!(!error, "{said}");
    poll_page("the conflict to appear in the page's feed", || async {
        browser
            .text("#conflicts")
            .await
            .is_some_and(|t| t.contains("kvs in"))
    })
    .await;
    browser.click("#conflicts li").await;
    let detail = browser.text("#conflict-detail").await.unwrap_or_default();
    assert!(
        detail.contains("written-in-us")
            && detail.contains("written-in-eu")
            && detail.contains("write won"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("{rb}'s write won")),
        "the later write, in {rb}, wins: {detail}"
    );
    if let Some(dir) = shots {
        browser
            .eval(
                "document.getElementById('conflicts').scrollIntoView()",
                json!([]),
            )
            .await;
        browser
            .screenshot(&dir.join("dashboard-conflict.png"))
            .await;
        browser.eval("window.scrollTo(0, 0)", json!([])).await;
    }
    key_story(page, grpc, shots).await;
}

/// The same on a table with a stream: the key's story shows the key in
/// every region alike, each write where it was taken, the shipments to
/// the peers, and the crossing that lost on arrival; and the tables as
/// the regions describe them.
async fn key_story(page: &Page<'_>, grpc: &[u16], shots: Option<&PathBuf>) {
    let browser = page.b;
    let [ra, rb, rc] = REGIONS;
    create_streamed(grpc[0], "story").await;
    everywhere(grpc, "story").await;
    page.run_line(&format!("partition {ra} {rb} --both")).await;
    assert!(!page.answer().await.0);
    put_in(grpc[0], "story", "k", "written-in-us").await;
    put_in(grpc[1], "story", "k", "written-in-eu").await;
    page.run_line(&format!("heal {ra} {rb}")).await;
    assert!(!page.answer().await.0);
    browser.type_into("#s-table", "story").await;
    browser.type_into("#s-key", r#"{"id": {"S": "k"}}"#).await;
    poll_page("the key's story to show the key alike everywhere, both writes and the crossing", || async {
        browser.click("#s-show").await;
        let story = browser
            .eval(
                "const d = document.getElementById('story-diagram'); if (!d) return null; \
                 return [document.getElementById('story-differs').textContent, \
                   d.querySelectorAll('.write').length, d.querySelectorAll('.ship').length, \
                   d.querySelectorAll('.ship.lost').length, document.getElementById('story').innerText];",
                json!([]),
            )
            .await;
        // Two writes, each shipped to both peers; the older one lost on
        // arrival where the newer one was already held.
        story[0] == "the same in every region"
            && story[1] == 2
            && story[2] == 4
            && story[3].as_u64().is_some_and(|n| n >= 1)
            && story[4].as_str().is_some_and(|t| t.contains("written-in-eu") && !t.contains("written-in-us"))
    })
    .await;
    // The tables as the regions describe them: the stream on where it is.
    browser.click("#t-refresh").await;
    poll_page("the tables to list story with its stream", || async {
        browser.text("#table-story").await.is_some_and(|t| {
            t.contains("EVENTUAL")
                && t.contains(&format!("{ra}: on"))
                && t.contains(&format!("{rc}: on"))
        }) && browser
            .text("#table-kvs")
            .await
            .is_some_and(|t| t.contains(&format!("{rb}: off")))
    })
    .await;
    if let Some(dir) = shots {
        browser
            .eval(
                "document.getElementById('story').scrollIntoView()",
                json!([]),
            )
            .await;
        browser.screenshot(&dir.join("dashboard-story.png")).await;
    }
}

/// Bad input is refused with `meridian net`'s own message (the CLI run on
/// `config`); nothing changes. A 3 s fault ends by itself, and the page
/// says so.
async fn bad_input_and_a_fault_that_ends(page: &Page<'_>, config: &Path) {
    let browser = page.b;
    let [ra, rb, _] = REGIONS;
    page.run_line(&format!("lag {ra} {rb} 40")).await;
    let (error, said) = page.answer().await;
    assert!(error, "a latency without a unit was taken: {said}");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args(["net", "--config"])
        .arg(config)
        .args(["lag", ra, rb, "40"])
        .output()
        .unwrap();
    let cli_error = String::from_utf8_lossy(&cli.stderr);
    let first = said.lines().next().unwrap();
    assert!(first.starts_with("LATENCY:"), "{said}");
    assert!(
        cli_error.contains(first),
        "the page said {said:?}, the CLI {cli_error:?}"
    );
    page.run_line(&format!("loss {ra} {rb} 150%")).await;
    let (error, said) = page.answer().await;
    assert!(
        error && said.contains("PERCENT: must be between 0 and 100 %"),
        "{said}"
    );
    page.run_line(&format!("partition {ra} mars-1")).await;
    let (error, said) = page.answer().await;
    assert!(
        error && said.starts_with("TO:") && said.contains("mars-1"),
        "{said}"
    );
    assert_eq!(page.faults(ra, rb).await, "no faults");

    // A 3 s fault ends by itself, and the page says so.
    browser.select("#f-kind", "partition").await;
    browser.type_into("#f-for", "3s").await;
    browser.click("#f-apply").await;
    let (error, said) = page.answer().await;
    assert!(
        !error && said.contains("the link proxy ends it then"),
        "{said}"
    );
    poll_page("the page to show the time left", || async {
        page.faults(ra, rb).await.contains("ends in")
    })
    .await;
    poll_page("the page to say the partition healed by itself", || async {
        page.faults(ra, rb).await == "no faults"
            && browser.text("#log").await.is_some_and(|l| {
                l.contains(&format!("{ra} → {rb}: blackhole ended by itself: healed"))
            })
    })
    .await;
    browser.type_into("#f-for", "").await;
}

/// A crash from the page shows the region down; a restart brings it
/// back. Wiping a running region is refused; the wipe button asks, then
/// crashes, wipes and restarts it, and it comes back seeded from a peer.
async fn crash_restart_and_wipe(page: &Page<'_>, shots: Option<&PathBuf>) {
    let browser = page.b;
    let rc = REGIONS[2];
    browser.click(&format!("#region-{rc} .act-crash")).await;
    let (error, said) = page.answer().await;
    assert!(!error, "{said}");
    poll_page("the page to show ap-southeast-1 down", || async {
        page.region_states().await[rc] == "down"
    })
    .await;
    if let Some(dir) = shots {
        browser.screenshot(&dir.join("dashboard-crash.png")).await;
    }
    browser.click(&format!("#region-{rc} .act-restart")).await;
    let (error, said) = page.answer().await;
    assert!(
        !error && said.contains(&format!("restarted {rc}")),
        "{said}"
    );
    poll_page("the page to show ap-southeast-1 up again", || async {
        page.region_states().await[rc] == "up"
    })
    .await;
    // Wiping a running region is refused; the wipe button asks, then
    // crashes, wipes and restarts it, and it comes back seeded from a peer.
    page.run_line(&format!("wipe {rc}")).await;
    let (error, said) = page.answer().await;
    assert!(error && said.contains("is running"), "{said}");
    browser.click(&format!("#region-{rc} .act-wipe")).await;
    browser.accept_dialog().await;
    poll_page("the wipe to end in a restart", || async {
        let log = browser.text("#log").await.unwrap_or_default();
        // The second restart: the first was the restart button's.
        log.contains(&format!("wiped {rc}'s data directory"))
            && log.matches(&format!("restarted {rc}")).count() == 2
    })
    .await;
    poll_page(
        "the page to show the wiped region up, seeded from a peer",
        || async {
            page.region_states().await[rc] == "up"
                && browser
                    .text(&format!("#region-{rc} dd.progress"))
                    .await
                    .is_some_and(|t| t.contains("seeded from"))
        },
    )
    .await;
}

/// A replica removed (through the CLI on `config`), then added back while
/// one of the regions it fills from is down: the card shows the removal,
/// then the fill under way and why it waits, then the fill done once that
/// region is back.
async fn replica_removed_and_filled(page: &Page<'_>, config: &Path, shots: Option<&PathBuf>) {
    let browser = page.b;
    let [ra, rb, rc] = REGIONS;
    let replicas = |verb: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"))
            .args(["table", verb, "--config"])
            .arg(config)
            .args(["--region", ra, "--name", "kvs", "--replica", rc])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let progress = || async {
        browser
            .text(&format!("#region-{rc} dd.progress"))
            .await
            .unwrap_or_default()
    };
    replicas("remove-replica");
    poll_page("the card to show the replica removed", || async {
        progress().await.contains("removed kvs")
    })
    .await;
    page.run_line(&format!("crash {rb}")).await;
    assert!(!page.answer().await.0);
    replicas("add-replica");
    poll_page(
        "the card to show the fill under way, waiting for a peer",
        || async {
            let p = progress().await;
            p.contains("filling kvs: ") && p.contains("of 2 peers") && p.contains("retrying")
        },
    )
    .await;
    if let Some(dir) = shots {
        browser.screenshot(&dir.join("dashboard-fill.png")).await;
    }
    page.run_line(&format!("restart {rb}")).await;
    assert!(!page.answer().await.0);
    poll_page("the card to show the fill done", || async {
        let p = progress().await;
        p.contains("filled kvs") && !p.contains("filling")
    })
    .await;
}

/// The drill page's timeline, entry by entry.
async fn drill_timeline(browser: &Browser) -> Json {
    browser
        .eval(
            "return [...document.querySelectorAll('#drill-timeline li')].map((l) => l.textContent)",
            json!([]),
        )
        .await
}

/// How many lines the drill's plot `svg` drew.
async fn paths_drawn(browser: &Browser, svg: &str) -> Json {
    browser
        .eval(
            &format!("return document.querySelectorAll('#{svg} path').length"),
            json!([]),
        )
        .await
}

/// A drill from the page: a bad path is refused; a scenario file (written
/// under `dir`) runs live, on a cluster of its own: its timeline and plots
/// grow while it runs, before its report exists.
async fn live_drill(page: &Page<'_>, dir: &Path) {
    let browser = page.b;
    browser.type_into("#d-path", "no-such-scenario.toml").await;
    browser.click("#d-start").await;
    let (error, said) = page.answer().await;
    assert!(error && said.starts_with("scenario:"), "{said}");
    let tiny = dir.join("tiny.toml");
    std::fs::write(&tiny, include_str!("dashboard-tiny.toml")).unwrap();
    let report = dir.join("drill-out/tiny/report.json");
    // Live, on a cluster of its own: its timeline and plots grow while it
    // runs, before its report exists.
    browser.type_into("#d-path", tiny.to_str().unwrap()).await;
    browser.click("#d-start").await;
    let (error, said) = page.answer().await;
    assert!(!error && said == "drill tiny started", "{said}");
    poll_page(
        "the live drill's partition and pending on the page",
        || async {
            drill_timeline(browser)
                .await
                .to_string()
                .contains("partition")
                && paths_drawn(browser, "drill-plot-pending").await == json!(6)
        },
    )
    .await;
    assert!(
        !report.exists(),
        "the page showed the drill's progress only once its report was written"
    );
    let state = browser.text("#drill-live-state").await.unwrap_or_default();
    assert!(state.contains("(live, seed "), "{state}");
    assert!(state.ends_with("running"), "{state}");
    poll_page("the live drill to pass", || async {
        browser
            .eval(
                "return document.getElementById('drill-live-state').dataset.state || null",
                json!([]),
            )
            .await
            == "passed"
    })
    .await;
    assert!(report.exists());
}

/// Simulated: it runs in virtual time, and the page shows all of it,
/// the report's timeline entry for entry, and its verdict.
async fn simulated_drill(page: &Page<'_>, dir: &Path, shots: Option<&PathBuf>) {
    let browser = page.b;
    let report = dir.join("drill-out/tiny/report.json");
    browser.click("#d-sim").await;
    browser.click("#d-start").await;
    let (error, said) = page.answer().await;
    assert!(!error && said == "drill tiny started", "{said}");
    poll_page("the drill to pass and its report to be listed", || async {
        let state = browser
            .eval("const s = document.getElementById('drill-state'); return s ? s.dataset.state : null", json!([]))
            .await;
        state == "passed"
            && browser
                .text("#reports tr[data-name=tiny]")
                .await
                .is_some_and(|t| t.contains("passed"))
            && browser
                .eval("return document.getElementById('drill-live-state').dataset.state || null", json!([]))
                .await
                == "passed"
    })
    .await;
    let written: Json = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(written["mode"], "sim");
    let shown = drill_timeline(browser).await;
    let labels: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().split_once("  ").unwrap().1)
        .collect();
    let expected: Vec<&str> = written["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, expected, "the report's timeline, entry for entry");
    for svg in [
        "drill-plot-pending",
        "drill-plot-lag",
        "drill-plot-conflicts",
    ] {
        let n = paths_drawn(browser, svg).await;
        assert!(n.as_u64().is_some_and(|n| n > 0), "{svg}: {n}");
    }
    if let Some(dir) = shots {
        browser
            .eval(
                "document.getElementById('drill-live').scrollIntoView()",
                json!([]),
            )
            .await;
        browser.screenshot(&dir.join("dashboard-drill.png")).await;
    }
}

/// The drill's report link opens the report; a path out of the reports
/// is refused.
async fn report_link_opens(browser: &Browser, addr: &str) {
    let href = browser
        .eval(
            "return new URL(document.getElementById('drill-live-report').href).pathname",
            json!([]),
        )
        .await;
    assert_eq!(href, "/api/drills/report/tiny");
    let html = request(
        &Target::at(addr, "/api/drills/report/tiny"),
        "GET",
        &[],
        Vec::new(),
        64 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert!(html.ok() && String::from_utf8_lossy(&html.body).contains("tiny"));
    let bad = request(
        &Target::at(addr, "/api/drills/report/..%2Fx"),
        "GET",
        &[],
        Vec::new(),
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
}
