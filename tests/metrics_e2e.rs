//! The cluster seen working, by a real Prometheus (Debian's, on loopback, its
//! own data dir) scraping the metrics endpoint through the TLS front with the
//! token file and the cluster's CA: after a known workload PromQL gives each
//! build server the distributed compiles its clients' `--show-stats` counted,
//! every panel query of the shipped dashboard returns data, `top --once` lists
//! every builder; with one builder's port dropped from the client (iptables),
//! the stale-jobs alert fires and `doctor` on the scheduler's host names that
//! builder. A scrape without the token or with the client token gets 401, and
//! no scrape holds a token, JWT or key.

#[path = "support/prometheus.rs"]
mod prometheus;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use prometheus::Prometheus;
use support::{compile_all, require_docker, stderr, stdout, Session, TestProfile};

const REPO: &str = "sccache-dist-e2e-metrics";

const PROFILE: TestProfile = TestProfile {
    name: "metrics-test",
    scheduler_port: 10740,
    server_port: 10741,
    net: 247,
};

static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// An iptables rule in the host's OUTPUT chain, deleted when dropped: the
/// client on this host can no longer connect to one builder, while the
/// scheduler (another container on the bridge) still can.
struct Dropped {
    spec: Vec<String>,
}

impl Dropped {
    fn client_from(addr: &str) -> Dropped {
        let (ip, port) = addr.rsplit_once(':').unwrap();
        let spec: Vec<String> = [
            "OUTPUT",
            "-d",
            ip,
            "-p",
            "tcp",
            "--dport",
            port,
            "-j",
            "DROP",
            "-m",
            "comment",
            "--comment",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("sccache-e2e-metrics-{}", std::process::id())])
        .collect();
        let mut args = vec!["-I".to_owned()];
        args.extend(spec.iter().cloned());
        let out = Command::new("iptables")
            .args(&args)
            .output()
            .expect("iptables runs");
        assert!(out.status.success(), "iptables {args:?}: {}", stderr(&out));
        Dropped { spec }
    }
}

impl Drop for Dropped {
    fn drop(&mut self) {
        let mut args = vec!["-D".to_owned()];
        args.extend(self.spec.iter().cloned());
        let _ = Command::new("iptables").args(&args).output();
    }
}

/// The scrape config: the cluster's endpoint through its front, the token
/// file, the cluster's CA; one-second scrapes and rule evaluations.
fn scrape_config(url: &str, token_file: &str, ca: &Path) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\n\
         scrape_configs:\n  - job_name: sccache-dist\n    scheme: {scheme}\n    metrics_path: /{path}\n\
         \x20   authorization:\n      type: Bearer\n      credentials_file: {token_file}\n\
         \x20   tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: ['{host}']\n",
        ca.display()
    )
}

fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

/// Every secret of the session's state: what no scrape, label or output may hold.
fn secrets(state: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("secrets.json")).unwrap())
            .unwrap();
    for key in ["client_token", "jwt_key", "server_token", "metrics_token"] {
        if let Some(v) = s[key].as_str() {
            out.push((key.to_owned(), v.to_owned()));
        }
    }
    for entry in walkdir::WalkDir::new(state.join("container")) {
        let p = entry.unwrap().into_path();
        if p.file_name().is_some_and(|n| n == "server.conf") {
            let text = std::fs::read_to_string(&p).unwrap();
            for line in text.lines().filter(|l| l.trim_start().starts_with("token")) {
                let jwt = line.split('"').nth(1).unwrap().to_owned();
                out.push((format!("JWT in {}", p.display()), jwt));
            }
        }
    }
    let key = std::fs::read_to_string(state.join("tls/ca.key")).unwrap();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    out.push(("CA key".into(), body[..40].to_owned()));
    out
}

#[test]
fn prometheus_sees_what_clients_did_and_alerts_on_an_unreachable_builder() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = Session::with_profile("metrics", REPO, &PROFILE);
    c.ok(&[
        "start",
        "debian",
        "--profile",
        PROFILE.name,
        "--builders",
        "2",
        "--network",
        "bridge",
    ]);
    let status = c.status();
    let url = status["metrics"]["url"].as_str().unwrap().to_owned();
    let token_file = status["metrics"]["token_file"].as_str().unwrap().to_owned();
    let builders: Vec<String> = (1..=2)
        .map(|i| format!("172.31.247.{}:10741", 10 + i))
        .collect();
    let ca = c.state.path().join("tls/ca.pem");
    assert_eq!(url, "https://172.31.247.10:10740/metrics");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{token_file}");

    // The endpoint wants its own token: none, or the client's, gets 401.
    let secrets = secrets(c.state.path());
    let client_token = &secrets.iter().find(|(k, _)| k == "client_token").unwrap().1;
    let pem = std::fs::read(&ca).unwrap();
    let trust = xtask::sccache::scheduler_status::Trust::Pem(&pem);
    let agent = xtask::sccache::scheduler_status::agent(trust).unwrap();
    for auth in [None, Some(format!("Bearer {client_token}"))] {
        let mut req = agent.get(&url);
        if let Some(a) = &auth {
            req = req.header("Authorization", a);
        }
        let code = req.call().unwrap().status().as_u16();
        assert_eq!(
            code,
            401,
            "{url} with {:?}",
            auth.as_ref().map(|_| "the client token")
        );
    }

    // A known workload: both builders serve, their toolchains arrive.
    let client = c.client();
    let errors = compile_all(&client, &support::c_sources(client.dir(), "m", 8), 4);
    assert!(errors.is_empty(), "{errors:?}");
    let stats = client.stats().unwrap();
    assert_eq!(stats.distributed(), 8, "{}", client.error_log());
    assert_eq!(stats.per_server.len(), 2, "{stats:?}");

    let prom = Prometheus::start(
        &scrape_config(&url, &token_file, &ca),
        &[(
            "alerts.yml",
            &std::fs::read_to_string(support::project_root().join("observability/alerts.yml"))
                .unwrap(),
        )],
    );
    prom.wait_for_targets_up(60);
    let per_server = prom.wait_for_vector("sum(sccache_dist_server_jobs_completed_total) == 8", 30);
    assert_eq!(per_server.len(), 1);
    let completed: BTreeMap<String, f64> = prom
        .query_vector("sccache_dist_server_jobs_completed_total")
        .iter()
        .map(|s| (s["metric"]["server"].as_str().unwrap().to_owned(), value(s)))
        .collect();
    let counted: BTreeMap<String, f64> = stats
        .per_server
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    assert_eq!(
        completed, counted,
        "PromQL against the clients' --show-stats"
    );

    // Every panel of the shipped dashboard returns data from the real scrape.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            support::project_root().join("observability/grafana-dashboard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m");
            let got = prom.wait_for_vector(&expr, 30);
            assert!(!got.is_empty(), "panel {:?}: {expr}", panel["title"]);
            queries += 1;
        }
    }
    assert!(queries >= 10, "{queries} panel queries");

    // top --once lists every builder with its jobs, as the scrape does.
    let top = c.ok(&["top", "--once"]);
    for b in &builders {
        let row = top
            .lines()
            .find(|l| l.starts_with(b.as_str()))
            .unwrap_or_else(|| panic!("{b} in\n{top}"));
        let done = completed[b.as_str()] as u64;
        assert!(
            row.split_whitespace().any(|w| w == done.to_string()),
            "{row}"
        );
    }
    let st = c.status();
    for (i, b) in st["builders"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            b["jobs"]["done"].as_f64(),
            Some(completed[builders[i].as_str()]),
            "{b}"
        );
    }

    // No scrape holds a token, a JWT or a key; nor does the tool's own output.
    let scrape = xtask::sccache::metrics_endpoint::fetch_text(
        &url,
        xtask::sccache::scheduler_status::Trust::Pem(&pem),
        &std::fs::read_to_string(&token_file).unwrap(),
    )
    .unwrap();
    for (what, secret) in &secrets {
        assert!(!scrape.contains(secret.as_str()), "{what} in a scrape");
        assert!(!top.contains(secret.as_str()), "{what} in top's output");
        assert!(
            !st.to_string().contains(secret.as_str()),
            "{what} in status --json"
        );
    }

    // The client can no longer reach builder 2; the scheduler still can.
    let blocked = &builders[1];
    let _drop = Dropped::client_from(blocked);
    let errors = compile_all(&client, &support::c_sources(client.dir(), "blocked", 4), 4);
    assert!(errors.is_empty(), "{errors:?}");
    let alert = prom.wait_for_vector(
        &format!("ALERTS{{alertname=\"SccacheDistStaleJobs\",server=\"{blocked}\"}}"),
        150,
    );
    assert!(!alert.is_empty());
    let out = c.run(&["doctor"]);
    let text = stdout(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(&format!("clients cannot reach build server {blocked}")),
        "{text}\n{}",
        stderr(&out)
    );
    assert!(
        !text.contains(&format!(
            "clients cannot reach build server {}",
            builders[0]
        )),
        "{text}"
    );
}
