//! A real browser for the tests: headless Chromium driven by chromedriver
//! over the W3C WebDriver protocol (plain HTTP and JSON, spoken here with
//! cluster control's own HTTP client). [`Browser::start`] answers `None`
//! when Chromium or chromedriver is not installed, so a test can skip with
//! a clear message; `.ci/run` installs both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meridian_cluster::http::{Target, request};
use serde_json::{Value as Json, json};

/// Where Debian's `chromium` and `chromium-driver` put their binaries.
const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: [&str; 2] = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
/// How long one WebDriver command may take (a page load included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// What a test needs installed, or why it is skipped.
pub fn installed() -> Result<(PathBuf, PathBuf), String> {
    let chromium = first_existing(&CHROMIUM).ok_or(
        "Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does)",
    )?;
    let driver = first_existing(&CHROMEDRIVER)
        .ok_or("chromedriver is not installed (apt-get install chromium-driver; .ci/run does)")?;
    Ok((chromium, driver))
}

/// One headless Chromium session. Dropping it ends the session and kills
/// chromedriver's process group (Chromium with it).
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

impl Browser {
    /// chromedriver on a free port, and a session of headless Chromium in a
    /// window of `width` × `height`.
    pub async fn start(chromium: &Path, driver: &Path, width: u32, height: u32) -> Browser {
        let port = meridian_cluster::ports::free_port().expect("a free port");
        let mut cmd = Command::new(driver);
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("start chromedriver");
        let mut browser = Browser {
            driver: child,
            addr: format!("127.0.0.1:{port}"),
            session: String::new(),
        };
        let addr = browser.addr.clone();
        meridian_tests::poll_until("chromedriver to answer", Duration::from_secs(20), || {
            let addr = addr.clone();
            async move {
                let r = request(
                    &Target::at(&addr, "/status"),
                    "GET",
                    &[],
                    Vec::new(),
                    1 << 20,
                    Duration::from_secs(2),
                )
                .await;
                matches!(r, Ok(r) if r.ok())
            }
        })
        .await;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", format!("--window-size={width},{height}")],
            },
        }}});
        let v = browser.call("POST", "/session", Some(caps)).await;
        browser.session = v["sessionId"].as_str().expect("a session id").to_string();
        browser
    }

    /// One WebDriver command; panics with the driver's message on an error.
    async fn call(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("content-type", "application/json")]
        };
        let r = request(
            &Target::at(&self.addr, path),
            method,
            headers,
            body,
            64 << 20,
            COMMAND_TIMEOUT,
        )
        .await
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let v: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
        assert!(
            r.ok(),
            "WebDriver {method} {path}: {} {}",
            r.status,
            v["value"]
        );
        v["value"].clone()
    }

    fn at(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.at("/url"), Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn eval(&self, script: &str, args: Json) -> Json {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                &self.at("/element"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clicks the element as a user does (WebDriver Element Click). An
    /// element the page replaced between finding and clicking it (a list
    /// redrawn by a new sample) is found again, as a user would see the
    /// new one, a few times at most.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            let e = self.element(css).await;
            let path = self.at(&format!("/element/{e}/click"));
            let r = self
                .post_empty(&path)
                .await
                .unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"));
            let v: Json = serde_json::from_slice(&r.body).unwrap_or(Json::Null);
            if r.ok() {
                return;
            }
            assert_eq!(
                v["value"]["error"], "stale element reference",
                "WebDriver POST {path}: {} {}",
                r.status, v["value"]
            );
        }
        panic!("{css}: the page replaced it five times while it was clicked");
    }

    /// Clears the field and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/clear")),
            Some(json!({})),
        )
        .await;
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Picks the option of a `<select>` whose value is `value`, by clicking it.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// A command without parameters, its answer as it came.
    async fn post_empty(
        &self,
        path: &str,
    ) -> Result<meridian_cluster::http::Response, meridian_cluster::http::HttpError> {
        request(
            &Target::at(&self.addr, path),
            "POST",
            &[("content-type", "application/json")],
            b"{}".to_vec(),
            1 << 20,
            COMMAND_TIMEOUT,
        )
        .await
    }

    /// Accepts the `confirm()` dialog the page opens, once it is open.
    pub async fn accept_dialog(&self) {
        let path = self.at("/alert/accept");
        meridian_tests::poll_until(
            "the page to ask for confirmation",
            Duration::from_secs(20),
            || {
                let path = path.clone();
                async move { matches!(self.post_empty(&path).await, Ok(r) if r.ok()) }
            },
        )
        .await;
    }

    /// The element's text as rendered, or `None` when there is none.
    pub async fn text(&self, css: &str) -> Option<String> {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            json!([css]),
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let v = self.call("GET", &self.at("/screenshot"), None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 PNG"))
            .expect("a PNG");
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = request(
            &Target::at(&self.addr, &path),
            "DELETE",
            &[],
            Vec::new(),
            1 << 20,
            COMMAND_TIMEOUT,
        )
        .await;
        self.session.clear();
        self.kill();
    }

    fn kill(&mut self) {
        // SAFETY: signals chromedriver's own process group, made at spawn.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if matches!(self.driver.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
