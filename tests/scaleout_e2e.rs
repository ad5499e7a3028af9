//! More than one build server: a scheduler container and N server containers, each
//! server with its own address, JWT, config and cache. Four clients compiling at
//! once spread over three builders; scaling down leaves the scheduler running and
//! counting the rest.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{
    compile_all, docker_maybe, project_root, require_docker, stderr, xtask, Session, TestProfile,
};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-dist-e2e-scaleout";

/// Compiles each client runs at once: 4 clients x 2 = 8 jobs fit the 9 slots of three
/// 2-core servers (cores + 1 + cores/8 each). With 3 each (12 jobs), the client that
/// loses the race for a freed slot was seen to fall back to local for all 100 of its
/// compiles ("Insufficient capacity across 3 available servers").
const JOBS_PER_CLIENT: usize = 2;

/// The runtime profile these tests run with: the default one on other ports and
/// another subnet, so a cluster someone runs on the default ports (without the
/// host-network lock) neither answers for nor collides with these.
const PROFILE: TestProfile = TestProfile {
    name: "scaleout-test",
    scheduler_port: SCHEDULER_PORT,
    server_port: 10691,
    net: 251,
};
const SCHEDULER_PORT: u16 = 10690;

/// Host mode binds fixed ports: the cluster tests take turns.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A session of this test binary's on [`PROFILE`].
fn session(tag: &str) -> Session {
    Session::with_profile(&format!("so-{tag}"), REPO, &PROFILE)
}

#[test]
fn three_builders_serve_four_clients_then_scale_to_two() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let t0 = Instant::now();
    support::build_debian_image(REPO);
    let c = session("host");
    let (addrs, scheduler_started) = start_three(&c);
    println!(
        "start --builders 3 after {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let per_server = four_clients(&c);
    assert_eq!(
        per_server.keys().collect::<Vec<_>>(),
        addrs.iter().collect::<Vec<_>>(),
        "every builder served jobs"
    );
    assert!(per_server.values().all(|&n| n > 0));
    // Every container is healthy by its role's healthcheck.
    support::wait_for("every container to be healthy", 40, || {
        let s = c.status();
        s["scheduler"]["container"]["health"] == "healthy"
            && s["builders"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["container"]["health"] == "healthy")
    });
    scale_to_two(&c, &scheduler_started);
    println!("scale-out test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// `start --builders 3` on the host network: three registered servers on three
/// ports; returns their addresses and when the scheduler's container started.
fn start_three(c: &Session) -> (Vec<String>, serde_json::Value) {
    let out = c.start_on_host(&PROFILE, 3);
    assert!(out.contains("3 build server(s)"), "{out}");
    let status = c.status();
    let builders = status["builders"].as_array().unwrap();
    let addrs: Vec<String> = builders
        .iter()
        .map(|b| b["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        addrs,
        [10691, 10692, 10693].map(|p| format!("127.0.0.1:{p}"))
    );
    for b in builders {
        assert_eq!(b["registration"], "registered", "{b:#}");
        assert_eq!(b["container"]["state"], "running", "{b:#}");
    }
    (
        addrs,
        status["scheduler"]["container"]["started_at"].clone(),
    )
}

/// Four clients at once, each its own daemon and dist cache, 100 files each:
/// all 400 objects are made; returns the distributed compiles per server.
fn four_clients(c: &Session) -> BTreeMap<String, u64> {
    let clients = c.clients(4);
    let sources: Vec<Vec<PathBuf>> = clients
        .iter()
        .enumerate()
        .map(|(i, cl)| support::c_sources(cl.dir(), &format!("c{i}_"), 100))
        .collect();
    let t = Instant::now();
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .zip(&sources)
            .map(|(cl, src)| s.spawn(move || compile_all(cl, src, JOBS_PER_CLIENT)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    let objects = sources
        .iter()
        .flatten()
        .filter(|s| s.with_extension("o").is_file())
        .count();
    let (per_server, dist_errors) = merged_stats(&clients);
    println!(
        "400 compiles in {secs:.1}s: {objects} objects, per server {per_server:?}, {} distributed, {dist_errors} distributed-compile error(s) (ran locally), {} failed compile(s)",
        per_server.values().sum::<u64>(),
        errors.len()
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(objects, 400);
    // 8 jobs in 9 slots: every compile distributes, none falls back to local.
    assert_eq!(
        (per_server.values().sum::<u64>(), dist_errors),
        (400, 0),
        "compiles that ran locally instead of on a builder: {per_server:?}"
    );
    per_server
}

/// Every client's distributed compiles per server, summed, and the distributed-
/// compile errors; each client must have distributed some.
fn merged_stats(clients: &[PrivateClient]) -> (BTreeMap<String, u64>, u64) {
    let mut per_server: BTreeMap<String, u64> = BTreeMap::new();
    let mut dist_errors = 0;
    for (i, cl) in clients.iter().enumerate() {
        let st = cl.stats().unwrap();
        println!(
            "client {i}: {:?}, {} distributed-compile error(s)",
            st.per_server, st.failed
        );
        dist_errors += st.failed;
        if st.failed > 0 {
            let log = cl.error_log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            println!(
                "client {i} log, warnings and errors (last 8 of {}):\n{}",
                lines.len(),
                lines[lines.len().saturating_sub(8)..].join("\n")
            );
        }
        assert!(st.distributed() > 0, "client {i} distributed nothing");
        for (k, v) in st.per_server {
            *per_server.entry(k).or_default() += v;
        }
    }
    (per_server, dist_errors)
}

/// Scale to 2 while nothing runs: the third server is drained and removed, the
/// scheduler keeps running and forgets it after its heartbeat timeout.
fn scale_to_two(c: &Session, scheduler_started: &serde_json::Value) {
    let t = Instant::now();
    c.ok(&["scale", "2"]);
    let third = format!("{}-server-3", c.name);
    assert!(docker_maybe(&["container", "inspect", &third]).is_none());
    let s = c.wait_counted(2, 120);
    println!("scheduler counts 2 after {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(s["builders"].as_array().unwrap().len(), 2);
    assert_eq!(s["expected_servers"], 2);
    assert_eq!(
        &s["scheduler"]["container"]["started_at"],
        scheduler_started
    );
    let text = c.ok(&["status"]);
    let builder_lines = text.lines().filter(|l| l.starts_with("builder ")).count();
    assert_eq!(builder_lines, 2, "{text}");
    assert!(text.contains("2 server(s) of 2 expected"), "{text}");
}

#[test]
fn bridge_builders_have_their_own_addresses() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = session("bridge");
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
    let client = c.client();
    let errors = compile_all(&client, &support::c_sources(client.dir(), "br", 8), 2);
    assert!(errors.is_empty(), "{errors:?}");
    let stats = client.stats().unwrap();
    // All 8 ran on a builder (none locally), and each builder, known to the scheduler
    // by its own bridge address, served some: a local fallback or one silent builder fails.
    assert_eq!(
        (stats.distributed(), stats.failed),
        (8, 0),
        "{stats:?}\n{}",
        client.error_log()
    );
    assert_eq!(
        stats
            .per_server
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["172.31.251.11:10691", "172.31.251.12:10691"],
        "{stats:?}"
    );
    assert!(stats.per_server.values().all(|&n| n > 0), "{stats:?}");
    // A server container sees only its own config and the CA it trusts the
    // scheduler's front with: no scheduler key, no other JWT, not the front's key.
    let seen = support::docker(&[
        "exec",
        &format!("{}-server-1", c.name),
        "ls",
        "-A",
        "/etc/sccache-dist",
    ]);
    assert_eq!(seen, "ca.pem\nserver.conf");
    // start --builders on the running cluster scales it without a new scheduler.
    c.ok(&["start", "debian", "--builders", "3", "--network", "bridge"]);
    assert_eq!(c.status()["builders"][2]["address"], "172.31.251.13:10691");
}

/// A compose project, taken down with its volumes on drop.
struct ComposeProject {
    dir: tempfile::TempDir,
    project: String,
}

impl ComposeProject {
    fn compose(&self, args: &[&str]) -> String {
        let file = self.dir.path().join("compose.yaml");
        let mut full = vec!["compose", "-p", &self.project, "-f", file.to_str().unwrap()];
        full.extend_from_slice(args);
        support::docker(&full)
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let file = self.dir.path().join("compose.yaml");
        let _ = std::process::Command::new("docker")
            .args([
                "compose",
                "-p",
                &self.project,
                "-f",
                file.to_str().unwrap(),
                "down",
                "-v",
            ])
            .output();
    }
}

#[test]
fn compose_project_compiles_remotely_and_keeps_its_volumes() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let s = session("compose");
    // The project is named as the session: what `down -v` misses, its sweep takes.
    let p = s.own(ComposeProject {
        dir: tempfile::Builder::new()
            .prefix("sccache-compose-")
            .tempdir()
            .unwrap(),
        project: s.name.clone(),
    });
    let dir = p.dir.path().to_str().unwrap();
    let out = xtask(
        &s.root,
        &[
            "compose",
            "debian",
            "--profile",
            PROFILE.name,
            "--builders",
            "2",
            "--advertise",
            "127.0.0.1",
            "--repo",
            REPO,
            "--name",
            "so",
            "-o",
            dir,
            "--state-dir",
            s.state.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    p.compose(&["up", "-d"]);
    // Over the project's TLS front, trusting only the project's CA, which stays
    // in the state directory (compose-tls/NAME), not in the project.
    let url = format!("https://127.0.0.1:{SCHEDULER_PORT}");
    let ca = std::fs::read(s.state.path().join("compose-tls/so/tls/ca.pem")).unwrap();
    assert!(!p.dir.path().join("tls/ca.key").exists());
    support::wait_for("both compose servers to register", 60, || {
        use xtask::sccache::scheduler_status::{fetch_url, Trust};
        fetch_url(&url, Trust::Pem(&ca)).is_ok_and(|s| s.num_servers == 2)
    });
    let conf = std::fs::read_to_string(p.dir.path().join("client.conf")).unwrap();
    let client = PrivateClient::new(&conf)
        .unwrap()
        .with_cert_file(support::cert_file(p.dir.path()));
    client.start().unwrap();
    let errors = compile_all(&client, &support::c_sources(client.dir(), "cmp", 6), 2);
    assert!(errors.is_empty(), "{errors:?}");
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.distributed(), stats.failed),
        (6, 0),
        "{}",
        client.error_log()
    );
    drop(client);
    p.compose(&["down"]);
    let filter = format!("label=com.docker.compose.project={}", p.project);
    let volumes = support::docker(&["volume", "ls", "-q", "--filter", &filter]);
    for n in 1..=2 {
        let want = format!("{}_so-server-{n}-cache", p.project);
        assert!(
            volumes.lines().any(|v| v == want),
            "{want} not kept: {volumes}"
        );
    }
}

/// The compose service and the `docker run` line of each container agree on image,
/// command, capabilities, security options, mounts, restart, grace period and network;
/// no secret is in compose.yaml; every file holding one is private.
#[test]
fn compose_services_match_the_run_specs() {
    use std::os::unix::fs::PermissionsExt;
    use xtask::cluster::compose;
    use xtask::model::specs;
    let out = tempfile::tempdir().unwrap();
    let req = compose::ComposeRequest {
        cluster: start_request(),
        output: out.path().join("p"),
        ca_dir: out.path().join("state/compose-tls"),
    };
    let p = compose::write(&project_root(), &req).unwrap();
    let sources = specs::ConfigSources {
        scheduler: "./container".into(),
        servers: "./container/servers".into(),
    };
    let run_specs = specs::all_from(&p.cluster, &sources);
    assert_eq!(run_specs.len(), 4);
    assert_eq!(p.services.len(), run_specs.len(), "{:?}", p.services);
    let text = std::fs::read_to_string(p.dir.join("compose.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut with_ca = 0;
    for (service, spec) in p.services.iter().zip(&run_specs) {
        let svc = &yaml["services"][service.as_str()];
        let run = run_view(xtask::docker::run::run(spec).argv());
        assert_eq!(run, compose_view(svc, &spec.image), "{service}");
        with_ca += run
            .iter()
            .filter(|f| f.starts_with("--env=SSL_CERT_FILE="))
            .count();
    }
    // The three servers trust the TLS front through SSL_CERT_FILE, in both forms.
    assert_eq!(with_ca, 3, "SSL_CERT_FILE in the run lines");
    let secrets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.dir.join("secrets.json")).unwrap()).unwrap();
    for key in ["client_token", "jwt_key"] {
        assert!(
            !text.contains(secrets[key].as_str().unwrap()),
            "{key} in compose.yaml"
        );
    }
    // The CA's key stays in the state directory (`ca_dir`), not in the project:
    // not in compose.yaml, not in container/, the directory the containers mount.
    assert!(
        !p.dir.join("tls/ca.key").exists(),
        "the CA key in the project"
    );
    let ca_key = std::fs::read_to_string(req.ca_dir.join("tls/ca.key")).unwrap();
    let ca_lines: Vec<&str> = ca_key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .collect();
    assert!(
        !ca_lines.is_empty(),
        "no PEM body in the state's tls/ca.key"
    );
    let mounted: Vec<(std::path::PathBuf, String)> = walkdir::WalkDir::new(p.dir.join("container"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().to_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    assert!(mounted.len() >= 4, "{} files in container/", mounted.len());
    // Nor is any server's JWT in compose.yaml.
    let jwts: Vec<&str> = mounted
        .iter()
        .filter(|(path, _)| path.ends_with("server.conf"))
        .filter_map(|(_, body)| body.lines().find_map(|l| l.strip_prefix("token = ")))
        .map(|t| t.trim_matches('"'))
        .collect();
    assert_eq!(jwts.len(), 3, "one JWT per server");
    for jwt in &jwts {
        assert!(
            jwt.len() >= 40 && !text.contains(jwt),
            "a server JWT in compose.yaml"
        );
    }
    for line in &ca_lines {
        assert!(!text.contains(line), "the CA key in compose.yaml");
        for (path, body) in &mounted {
            assert!(!body.contains(line), "the CA key in {}", path.display());
        }
    }
    for f in walkdir::WalkDir::new(&p.dir)
        .into_iter()
        .map(|e| e.unwrap())
    {
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        let want = if f.file_type().is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{}", f.path().display());
    }
}

fn start_request() -> xtask::cluster::StartRequest {
    xtask::cluster::StartRequest {
        distro: "debian".into(),
        profile: "default".into(),
        cache_dir: None,
        network: Some(xtask::profile::runtime::NetworkMode::Bridge),
        advertise: None,
        name: "agree".into(),
        repo: REPO.into(),
        timeout: Duration::from_secs(1),
        builders: Some(3),
        plain_http: false,
        tls_names: Vec::new(),
        own_cert: None,
        log_level: None,
    }
}

/// What a `docker run` line says, as sorted `key=value` facts.
fn run_view(args: &[String]) -> Vec<String> {
    let mut facts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--cap-add" | "--security-opt" | "--restart" | "--stop-timeout" | "--volume"
            | "--network" | "--ip" | "--env" => {
                facts.push(format!("{a}={}", args[i + 1]));
                i += 2;
            }
            "--name" | "--label" => i += 2,
            "run" | "--detach" => i += 1,
            _ => {
                facts.push(format!("image+command={}", args[i..].join(" ")));
                break;
            }
        }
    }
    facts.sort();
    facts
}

/// The same facts from a compose service.
fn compose_view(svc: &serde_yaml::Value, image: &str) -> Vec<String> {
    let strs = |v: &serde_yaml::Value| -> Vec<String> {
        v.as_sequence()
            .map(|s| s.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    assert_eq!(svc["image"].as_str(), Some(image));
    let mut facts: Vec<String> = strs(&svc["cap_add"])
        .iter()
        .map(|c| format!("--cap-add={c}"))
        .collect();
    facts.extend(
        strs(&svc["security_opt"])
            .iter()
            .map(|o| format!("--security-opt={o}")),
    );
    if let Some(env) = svc["environment"].as_mapping() {
        for (k, v) in env {
            facts.push(format!(
                "--env={}={}",
                k.as_str().unwrap(),
                v.as_str().unwrap()
            ));
        }
    }
    facts.push(format!("--restart={}", svc["restart"].as_str().unwrap()));
    let grace = svc["stop_grace_period"]
        .as_str()
        .unwrap()
        .trim_end_matches('s');
    facts.push(format!("--stop-timeout={grace}"));
    for m in svc["volumes"].as_sequence().unwrap() {
        let ro = if m["read_only"].as_bool().unwrap() {
            ":ro"
        } else {
            ""
        };
        facts.push(format!(
            "--volume={}:{}{ro}",
            m["source"].as_str().unwrap(),
            m["target"].as_str().unwrap()
        ));
    }
    match svc["network_mode"].as_str() {
        Some(mode) => facts.push(format!("--network={mode}")),
        None => {
            let (net, att) = svc["networks"].as_mapping().unwrap().iter().next().unwrap();
            facts.push(format!("--network={}", net.as_str().unwrap()));
            facts.push(format!("--ip={}", att["ipv4_address"].as_str().unwrap()));
        }
    }
    facts.push(format!(
        "image+command={image} {}",
        strs(&svc["command"]).join(" ")
    ));
    facts.sort();
    facts
}
