//! A real Prometheus for tests: Debian's `prometheus` (installed by `.ci/install`)
//! on a free loopback port, with its own data dir, config and log in a temp dir,
//! asked through its HTTP API. Killed and reaped when dropped; when the test is
//! failing, the tail of its log is printed then.
//!
//! Self-contained (it needs nothing else of `support`), so a test can take it with
//! `#[path = "support/prometheus.rs"] mod prometheus;` or as `support::prometheus`.
#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Stands for Prometheus's own `127.0.0.1:PORT` in a config given to
/// [`Prometheus::start`] (the port is picked when it starts), e.g. to scrape itself.
pub const SELF_ADDRESS: &str = "@PROMETHEUS_ADDRESS@";

/// How long Prometheus may take to answer `/-/ready` after it starts.
const READY_SECS: u64 = 60;
/// The timeout of one API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `prometheus` process, its temp dir and an HTTP client for its API.
pub struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    agent: ureq::Agent,
}

/// One active scrape target of `/api/v1/targets`.
#[derive(Debug, Clone)]
pub struct Target {
    pub job: String,
    pub scrape_url: String,
    /// "up", "down" or "unknown" (not scraped yet).
    pub health: String,
    pub last_error: String,
}

/// The `prometheus` binary on PATH; panics (never skips) naming `.ci/install`.
pub fn prometheus_binary() -> PathBuf {
    find_on_path("prometheus").unwrap_or_else(|| {
        panic!("prometheus is not on PATH: .ci/install installs it (Debian's prometheus 2.53 from trixie)")
    })
}

/// The `promtool` binary on PATH; panics (never skips) naming `.ci/install`.
pub fn promtool_binary() -> PathBuf {
    find_on_path("promtool").unwrap_or_else(|| {
        panic!(
            "promtool is not on PATH: .ci/install installs it (Debian's promtool 2.53 from trixie)"
        )
    })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A loopback port nothing listens on now (the kernel's pick for port 0).
fn free_loopback_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port binds");
    listener.local_addr().unwrap()
}

impl Prometheus {
    /// Starts Prometheus with `config` (prometheus.yml text) and `files` (name,
    /// contents) written beside it in its temp dir, e.g. rule files the config
    /// names by a relative path, and waits until `/-/ready` answers 200.
    /// [`SELF_ADDRESS`] in `config` becomes its own address.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Prometheus {
        let binary = prometheus_binary();
        let dir = tempfile::Builder::new()
            .prefix("prometheus-test-")
            .tempdir()
            .expect("a temp dir for prometheus");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let addr = free_loopback_port();
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(
            &config_path,
            config.replace(SELF_ADDRESS, &addr.to_string()),
        )
        .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .proxy(None)
            .http_status_as_error(false)
            .build()
            .into();
        let mut prometheus = Prometheus {
            child,
            dir,
            addr,
            agent,
        };
        prometheus.wait_ready();
        prometheus
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(READY_SECS);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "prometheus exited ({status}) before it was ready; its log:\n{}",
                    self.log_tail(40)
                );
            }
            if matches!(self.get_raw("/-/ready", &[]), Ok((200, _))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus at {} not ready within {READY_SECS}s; its log:\n{}",
                self.addr,
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`, Prometheus's own address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its temp dir (config, files, data dir, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("prometheus.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn get_raw(&self, path: &str, query: &[(&str, &str)]) -> Result<(u16, String), String> {
        let url = format!("{}{path}", self.url());
        let mut request = self.agent.get(&url);
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let mut reply = request.call().map_err(|e| format!("{url}: {e}"))?;
        let status = reply.status().as_u16();
        let body = reply
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("{url}: reading the reply: {e}"))?;
        Ok((status, body))
    }

    /// GET `path` of the API; the `data` of a `"status": "success"` reply. Panics
    /// with Prometheus's error (e.g. a PromQL parse error) otherwise.
    pub fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self
            .get_raw(path, query)
            .unwrap_or_else(|e| panic!("prometheus API: {e}\nits log:\n{}", self.log_tail(20)));
        let reply: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path} answered {status}, not JSON ({e}): {body}"));
        assert!(
            status == 200 && reply["status"] == "success",
            "{path} {query:?} answered {status}: {} {}",
            reply["errorType"],
            reply["error"]
        );
        reply["data"].clone()
    }

    /// An instant query at now: the `data` of the reply, `{"resultType", "result"}`.
    pub fn query(&self, promql: &str) -> Value {
        self.api("/api/v1/query", &[("query", promql)])
    }

    /// The result vector of an instant query (empty when no series matched).
    pub fn query_vector(&self, promql: &str) -> Vec<Value> {
        let data = self.query(promql);
        assert_eq!(data["resultType"], "vector", "{promql}: {data}");
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `promql` until its result vector is not empty or `secs` pass; the result.
    pub fn wait_for_vector(&self, promql: &str, secs: u64) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let result = self.query_vector(promql);
            if !result.is_empty() {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "`{promql}` returned nothing within {secs}s; targets: {:?}",
                self.targets()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `/api/v1/alerts`: `{"alerts": [{"labels", "annotations", "state", ...}]}`.
    pub fn alerts(&self) -> Value {
        self.api("/api/v1/alerts", &[])
    }

    /// `/api/v1/rules`: `{"groups": [{"name", "file", "rules": [...]}]}`.
    pub fn rules(&self) -> Value {
        self.api("/api/v1/rules", &[])
    }

    /// The active scrape targets of `/api/v1/targets`.
    pub fn targets(&self) -> Vec<Target> {
        let data = self.api("/api/v1/targets", &[("state", "active")]);
        let text = |t: &Value, k: &str| t[k].as_str().unwrap_or_default().to_owned();
        data["activeTargets"]
            .as_array()
            .map(|targets| {
                targets
                    .iter()
                    .map(|t| Target {
                        job: text(&t["labels"], "job"),
                        scrape_url: text(t, "scrapeUrl"),
                        health: text(t, "health"),
                        last_error: text(t, "lastError"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether there is an active target and every one was up at its last scrape.
    pub fn targets_up(&self) -> bool {
        let targets = self.targets();
        !targets.is_empty() && targets.iter().all(|t| t.health == "up")
    }

    /// Polls until [`Prometheus::targets_up`] or `secs` pass; panics with every
    /// target's last error (a TLS or 401 failure shows there) and the log's tail.
    pub fn wait_for_targets_up(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.targets_up() {
            assert!(
                Instant::now() < deadline,
                "scrape targets not up within {secs}s: {:#?}\nprometheus log:\n{}",
                self.targets(),
                self.log_tail(20)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "prometheus at {} (dir {}), the tail of its log:\n{}",
                self.addr,
                self.dir.path().display(),
                self.log_tail(40)
            );
        }
    }
}
