//! What ships for operators in `observability/`: the alert rules (checked and
//! unit-tested by promtool), the scrape config example, the Grafana dashboard's
//! queries (valid PromQL over the metrics the exporter serves, nothing else), and the
//! real-Prometheus helper of `tests/support/prometheus.rs`, run against Prometheus
//! itself and a fake exporter serving the metric contract. Engine-free: it needs
//! `prometheus` and `promtool` (`.ci/install`), no Docker.

#[path = "support/prometheus.rs"]
mod prometheus;

use prometheus::{promtool_binary, Prometheus};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every metric the exporter serves (the contract of the exporter, the dashboard,
/// the alerts, `top` and `status`). Keep in step with the exporter; once it exposes
/// its list as a const, read that instead.
/// Every metric family the exporter serves: its own table of names.
fn served_metrics() -> Vec<&'static str> {
    sccache_dist_exporter::names::ALL
        .iter()
        .map(|f| f.name)
        .collect()
}

/// The histograms among them (served as `_bucket`, `_sum` and `_count`).
const HISTOGRAMS: &[&str] = &[
    sccache_dist_exporter::names::TOOLCHAIN_WAIT.name,
    sccache_dist_exporter::names::START_LATENCY.name,
    sccache_dist_exporter::names::COMPILE.name,
];

/// The buckets of those histograms.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The shipped alerts, group sccache-dist.
const ALERTS: &[&str] = &[
    "SccacheDistNoBuildServer",
    "SccacheDistServerRefused",
    "SccacheDistStaleJobs",
    "SccacheDistServerSaturated",
    "SccacheDistSchedulerRestarted",
    "SccacheDistMetricsDown",
    "SccacheDistCertificateExpiresSoon",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn observability(file: &str) -> PathBuf {
    root().join("observability").join(file)
}

/// A series name a query may use: one the exporter serves (a histogram's
/// `_bucket`, `_sum`, `_count` too), or `up`, which Prometheus makes per target.
fn known_series(name: &str) -> bool {
    if name == "up" || served_metrics().contains(&name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .is_some_and(|base| HISTOGRAMS.contains(&base))
    })
}

/// PromQL words that are not series names.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "atan2",
    "inf",
    "nan",
];

/// The series names in a PromQL expression: identifiers outside strings, label
/// matchers, ranges and `by (...)`-style label lists that are neither a function
/// call nor a PromQL word.
fn series_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut quote = None;
                while i < chars.len() && (quote.is_some() || chars[i] != close) {
                    match (quote, chars[i]) {
                        (Some(_), '\\') => i += 1,
                        (Some(q), c) if c == q => quote = None,
                        (None, c @ ('"' | '\'' | '`')) => quote = Some(c),
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_label_list => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                skip_label_list = false;
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                let lower = word.to_ascii_lowercase();
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&lower.as_str())
                {
                    skip_label_list = true;
                } else if next != Some(&'(') && !PROMQL_WORDS.contains(&lower.as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn series_names_finds_metrics_only() {
    let expr = r#"histogram_quantile(0.95, sum by (server, le) (rate(a_bucket{code=~"4..", x="b{c}"}[1m] offset 5m))) or on (instance) (time() - b_seconds < 300) unless c"#;
    let got: Vec<String> = series_names(expr).into_iter().collect();
    assert_eq!(got, ["a_bucket", "b_seconds", "c"]);
}

/// Runs promtool with `args`; its output, or a panic with it when it failed.
fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new(promtool_binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
    text
}

fn read_yaml(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(v: &'a serde_yaml::Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", "observability/alerts.yml"], &root());
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", ALERTS.len())),
        "{out}"
    );
}

#[test]
fn alert_rules_unit_tests_pass() {
    let out = promtool(&["test", "rules", "observability/alerts.test.yml"], &root());
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every shipped alert, with a severity, a summary and a description, over the
/// metrics the exporter serves; the stale-jobs alert keeps `server` and fires at
/// the first evaluation after a stale job.
#[test]
fn alert_rules_are_the_shipped_set() {
    let doc = read_yaml(&observability("alerts.yml"));
    let groups = doc["groups"].as_sequence().expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"].as_str(), Some("sccache-dist"));
    let rules = groups[0]["rules"].as_sequence().expect("rules");
    let names: Vec<&str> = rules.iter().map(|r| str_of(&r["alert"], "alert")).collect();
    assert_eq!(names, ALERTS);
    for rule in rules {
        let name = str_of(&rule["alert"], "alert");
        let expr = str_of(&rule["expr"], "expr");
        let series = series_names(expr);
        assert!(!series.is_empty(), "{name}: no series in {expr}");
        for s in &series {
            assert!(
                known_series(s),
                "{name}: {s} is not a metric the exporter serves"
            );
        }
        let severity = str_of(&rule["labels"]["severity"], "severity");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity}"
        );
        for a in ["summary", "description"] {
            let text = str_of(&rule["annotations"][a], a);
            assert!(text.len() > 40, "{name}: {a} too short: {text}");
        }
    }
    let stale = &rules[2];
    assert!(
        stale["for"].is_null(),
        "SccacheDistStaleJobs must fire at the next evaluation"
    );
    let summary = str_of(&stale["annotations"]["summary"], "summary");
    assert!(summary.contains("{{ $labels.server }}"), "{summary}");
    let description = str_of(&stale["annotations"]["description"], "description");
    assert!(description.contains("cargo xtask doctor"), "{description}");
}

/// A copy of prometheus.yml whose token and CA files are real files in `dir`, with
/// alerts.yml beside it: what `promtool check config` checks without --syntax-only.
fn scrape_config_copy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(observability("prometheus.yml")).unwrap();
    let token = dir.join("metrics-token");
    std::fs::write(&token, "not-a-real-token\n").unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["sccache-dist-test-ca".into()]).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert.pem()).unwrap();
    let doc = read_yaml(&observability("prometheus.yml"));
    let auth = &doc["scrape_configs"][0]["authorization"]["credentials_file"];
    let ca_file = &doc["scrape_configs"][0]["tls_config"]["ca_file"];
    let text = text
        .replace(str_of(auth, "credentials_file"), token.to_str().unwrap())
        .replace(str_of(ca_file, "ca_file"), ca_path.to_str().unwrap());
    let copy = dir.join("prometheus.yml");
    std::fs::write(&copy, text).unwrap();
    std::fs::copy(observability("alerts.yml"), dir.join("alerts.yml")).unwrap();
    copy
}

#[test]
fn scrape_config_passes_promtool_check() {
    let doc = read_yaml(&observability("prometheus.yml"));
    assert_eq!(doc["global"]["scrape_interval"].as_str(), Some("15s"));
    let rule_files = doc["rule_files"].as_sequence().expect("rule_files");
    assert!(
        rule_files.iter().any(|f| f.as_str() == Some("alerts.yml")),
        "{rule_files:?}"
    );
    let job = &doc["scrape_configs"][0];
    assert_eq!(job["job_name"].as_str(), Some("sccache-dist"));
    assert_eq!(job["scheme"].as_str(), Some("https"));
    assert_eq!(job["authorization"]["type"].as_str(), Some("Bearer"));
    assert!(job["authorization"]["credentials_file"].is_string());
    assert!(job["tls_config"]["ca_file"].is_string());
    let text = std::fs::read_to_string(observability("prometheus.yml")).unwrap();
    for named in ["metrics.url", "metrics.token_file", "tls/ca.pem"] {
        assert!(
            text.contains(named),
            "prometheus.yml does not say where {named} is"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let copy = scrape_config_copy(dir.path());
    let out = promtool(&["check", "config", copy.to_str().unwrap()], dir.path());
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", ALERTS.len())),
        "{out}"
    );
}

/// Every query of every panel of the dashboard, with `$__rate_interval` as `1m`.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(observability("grafana-dashboard.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 12, "{} panels", panels.len());
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("every panel has a title");
        let targets = panel["targets"]
            .as_array()
            .expect("every panel has targets");
        assert!(!targets.is_empty(), "{title}: no targets");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default().trim();
            assert!(!expr.is_empty(), "{title}: a target without expr");
            queries.push((title.to_owned(), expr.replace("$__rate_interval", "1m")));
        }
    }
    queries
}

#[test]
fn dashboard_queries_use_only_served_metrics() {
    let text = std::fs::read_to_string(observability("grafana-dashboard.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36);
    let vars = dash["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no datasource variable of type prometheus"
    );
    for panel in dash["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
    }
    let queries = dashboard_queries();
    for (title, expr) in &queries {
        assert!(
            !expr.contains('$'),
            "{title}: a variable other than $__rate_interval in {expr}"
        );
        let series = series_names(expr);
        assert!(!series.is_empty(), "{title}: no series in {expr}");
        for s in &series {
            assert!(
                known_series(s),
                "{title}: {s} is not a metric the exporter serves"
            );
        }
    }
    // The metrics shown, a histogram's series counted as the histogram.
    let served: BTreeSet<String> = queries
        .iter()
        .flat_map(|(_, e)| series_names(e))
        .map(|s| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|x| s.strip_suffix(x).filter(|b| HISTOGRAMS.contains(b)))
                .map_or(s.clone(), str::to_owned)
        })
        .collect();
    for wanted in [
        "sccache_dist_servers_registered",
        "sccache_dist_cpus",
        "sccache_dist_server_jobs_in_progress",
        "sccache_dist_server_slots",
        "sccache_dist_server_jobs_completed_total",
        "sccache_dist_server_jobs_stale_total",
        "sccache_dist_server_job_compile_seconds",
        "sccache_dist_server_job_toolchain_wait_seconds",
        "sccache_dist_server_job_start_latency_seconds",
        "sccache_dist_client_requests_total",
        "sccache_dist_heartbeats_total",
        "sccache_dist_scheduler_start_time_seconds",
        "sccache_dist_log_lines_unparsed_total",
    ] {
        assert!(served.contains(wanted), "no panel shows {wanted}");
    }

    // promtool parses every query, as recording rules of a scratch rule file.
    let dir = tempfile::tempdir().unwrap();
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": expr}))
        .collect();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.path().join("dashboard-rules.yml"), file.to_string()).unwrap();
    let out = promtool(&["check", "rules", "dashboard-rules.yml"], dir.path());
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{out}"
    );
}

/// Prometheus scrapes itself through the helper, and loads the shipped alerts.
#[test]
fn prometheus_helper_scrapes_itself_and_loads_the_alerts() {
    let alerts = std::fs::read_to_string(observability("alerts.yml")).unwrap();
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: [alerts.yml]\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['{}']}}]\n",
        prometheus::SELF_ADDRESS
    );
    let prom = Prometheus::start(&config, &[("alerts.yml", &alerts)]);
    prom.wait_for_targets_up(30);
    let up = prom.wait_for_vector("up{job=\"prometheus\"} == 1", 30);
    assert_eq!(up[0]["metric"]["instance"], prom.addr().to_string());
    assert_eq!(up[0]["value"][1], "1");

    let names = wait_for_rules_evaluated(&prom, 30);
    assert_eq!(names, ALERTS);
    // Nothing of the cluster is scraped here, so nothing fires.
    assert_eq!(prom.alerts()["alerts"], serde_json::json!([]));
}

/// Polls until the group sccache-dist is loaded and each of its rules evaluated
/// without error; the names of its rules.
fn wait_for_rules_evaluated(prom: &Prometheus, secs: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let groups = prom.rules()["groups"].clone();
        let group = groups
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["name"] == "sccache-dist")
            .cloned();
        if let Some(group) = &group {
            let rules = group["rules"].as_array().unwrap();
            for r in rules {
                assert_ne!(r["health"], "err", "{}: {}", r["name"], r["lastError"]);
            }
            if rules.iter().all(|r| r["health"] == "ok") {
                return rules
                    .iter()
                    .map(|r| r["name"].as_str().unwrap().to_owned())
                    .collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the rules of group sccache-dist not evaluated within {secs}s: {group:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fake exporter on loopback: plain HTTP serving every metric of the contract,
/// its counters growing by one per scrape (one stale job per scrape on one server).
struct FakeExporter {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeExporter {
    fn start() -> FakeExporter {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        // An hour ago, and the same at every scrape: SccacheDistSchedulerRestarted
        // stays silent.
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 3600;
        let thread = std::thread::spawn(move || {
            let mut scrapes = 0u64;
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match conn.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        scrapes += 1;
                        let body = fake_metrics(scrapes, started);
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("fake exporter: {e}"),
                }
            }
        });
        FakeExporter {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeExporter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The exposition of the contract's metrics at the `n`th scrape of an exporter
/// started at `started`: two build servers, 10.0.0.2:10501 with a stale job more at
/// each scrape, 10.0.0.3:10501 with none.
fn fake_metrics(n: u64, started: u64) -> String {
    let mut m = String::new();
    let mut line = |s: String| {
        m.push_str(&s);
        m.push('\n');
    };
    line("# TYPE sccache_dist_up gauge\nsccache_dist_up 1".into());
    line(
        "sccache_dist_servers_registered 2\nsccache_dist_cpus 8\nsccache_dist_jobs_in_progress 3"
            .into(),
    );
    line(format!(
        "sccache_dist_scheduler_start_time_seconds {started}"
    ));
    line("sccache_dist_build_info{version=\"0.19.0\",image_hash=\"abc123\"} 1".into());
    for (server, stale) in [("10.0.0.2:10501", n), ("10.0.0.3:10501", 0)] {
        let l = format!("server=\"{server}\"");
        line(format!("sccache_dist_server_registered{{{l}}} 1"));
        line(format!("sccache_dist_server_jobs_in_progress{{{l}}} 1"));
        line(format!("sccache_dist_server_slots{{{l}}} 5"));
        line(format!(
            "sccache_dist_server_jobs_created_total{{{l}}} {}",
            10 * n
        ));
        line(format!(
            "sccache_dist_server_jobs_completed_total{{{l}}} {}",
            9 * n
        ));
        line(format!(
            "sccache_dist_server_jobs_stale_total{{{l}}} {stale}"
        ));
        line(format!("sccache_dist_server_registrations_total{{{l}}} 1"));
        line(format!("sccache_dist_server_prunes_total{{{l}}} 0"));
        for h in HISTOGRAMS {
            line(format!("# TYPE {h} histogram"));
            for le in BUCKETS {
                let count = if *le >= 0.5 { 9 * n } else { 0 };
                line(format!("{h}_bucket{{{l},le=\"{le}\"}} {count}"));
            }
            line(format!("{h}_bucket{{{l},le=\"+Inf\"}} {}", 9 * n));
            line(format!("{h}_sum{{{l}}} {}", 3 * n));
            line(format!("{h}_count{{{l}}} {}", 9 * n));
        }
    }
    line(format!(
        "sccache_dist_client_requests_total{{address=\"10.0.0.9\",code=\"200\"}} {}",
        10 * n
    ));
    line(format!(
        "sccache_dist_heartbeats_total{{address=\"10.0.0.2\",code=\"200\"}} {n}"
    ));
    line(format!(
        "sccache_dist_heartbeats_total{{address=\"10.0.0.3\",code=\"200\"}} {n}"
    ));
    line(format!(
        "sccache_dist_front_requests_total{{path=\"alloc_job\",code=\"200\"}} {}",
        10 * n
    ));
    line(format!("sccache_dist_log_lines_total {}", 50 * n));
    line(format!("sccache_dist_log_lines_unparsed_total {n}"));
    line(format!("process_cpu_seconds_total {}", n as f64 / 100.0));
    line("process_resident_memory_bytes 7340032".into());
    line(format!(
        "sccache_dist_front_certificate_expiry_timestamp_seconds {}",
        started + 365 * 86400
    ));
    m
}

/// Against a fake exporter that serves the contract, every dashboard query returns
/// data from a real Prometheus, and the stale-jobs alert fires for the server whose
/// jobs go stale (with its `server` label), while the others stay silent.
#[test]
fn dashboard_and_alerts_work_against_the_metric_contract() {
    let exporter = FakeExporter::start();
    let alerts = std::fs::read_to_string(observability("alerts.yml")).unwrap();
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: [alerts.yml]\n\
         scrape_configs:\n  - job_name: sccache-dist\n    static_configs: [{{targets: ['{}']}}]\n",
        exporter.addr
    );
    let prom = Prometheus::start(&config, &[("alerts.yml", &alerts)]);
    prom.wait_for_targets_up(30);
    // rate() needs two samples in its window: wait for the third scrape.
    prom.wait_for_vector("count_over_time(sccache_dist_up[1m]) >= 3", 30);
    for (title, expr) in dashboard_queries() {
        assert!(
            !prom.query_vector(&expr).is_empty(),
            "{title}: `{expr}` returned nothing"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let firing = loop {
        let alerts = prom.alerts()["alerts"].as_array().cloned().unwrap();
        let firing: Vec<Value> = alerts
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect();
        if !firing.is_empty() {
            break firing;
        }
        assert!(Instant::now() < deadline, "no alert fired within 30s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(firing.len(), 1, "{firing:#?}");
    let alert = &firing[0];
    assert_eq!(alert["labels"]["alertname"], "SccacheDistStaleJobs");
    assert_eq!(alert["labels"]["server"], "10.0.0.2:10501");
    assert_eq!(alert["labels"]["severity"], "warning");
    let summary = alert["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("Clients cannot reach build server 10.0.0.2:10501"),
        "{summary}"
    );
    // Only that alert is pending or firing.
    let active: Vec<Value> = prom.alerts()["alerts"].as_array().cloned().unwrap();
    assert!(
        active
            .iter()
            .all(|a| a["labels"]["alertname"] == "SccacheDistStaleJobs"
                && a["labels"]["server"] == "10.0.0.2:10501"),
        "{active:#?}"
    );
}
