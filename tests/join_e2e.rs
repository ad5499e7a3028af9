//! Another host joins: a second Docker engine in a network namespace of its own
//! plays the other host. `join-bundle` on this host, `join` on that engine: the
//! scheduler counts its server and a client's compiles run on it; after `revoke`
//! the scheduler refuses it and counts the local builder alone, which registered
//! again with its new JWT and keeps compiling.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::engine::{Dockerd, EngineOptions};
use support::netns::NetNs;
use support::{compile_all, require_docker, stderr, stdout, Session, TestProfile};

const REPO: &str = "sccache-dist-e2e-join";
const IMAGE: &str = "sccache-dist-e2e-join:debian";

/// The default runtime profile on ports of its own, so no other cluster on this
/// host answers for this one or collides with it.
const PROFILE: TestProfile = TestProfile {
    name: "join-test",
    scheduler_port: SCHEDULER_PORT,
    server_port: SERVER_PORT,
    net: 253,
};
const SCHEDULER_PORT: u16 = 10680;
const SERVER_PORT: u16 = 10681;

/// Host mode binds fixed ports: the cluster tests take turns.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The other host: a network namespace joined to this one by a veth pair, with a
/// dockerd of its own (classic overlay2 store, no bridge, no iptables).
struct SecondHost {
    net: Arc<NetNs>,
    engine: Arc<Dockerd>,
}

impl SecondHost {
    /// Made up and owned by the session: torn down with it, engine first.
    fn start(s: &Session) -> SecondHost {
        let net = s.own(NetNs::create());
        let ns = format!("{}c", net.name);
        let engine = s.own(Dockerd::start(&EngineOptions {
            prefix: "sdj-",
            netns: Some(&net.name),
            bridge: "none",
            containerd_namespace: Some(&ns),
        }));
        SecondHost { net, engine }
    }

    /// This host's address on the link to the other host.
    fn here(&self) -> &str {
        &self.net.here
    }

    /// The other host's address.
    fn there(&self) -> &str {
        &self.net.there
    }

    /// `docker ARGS` against the second engine.
    fn docker(&self, args: &[&str]) -> Output {
        self.engine.docker_output(args)
    }
}

#[test]
fn another_host_joins_serves_and_is_revoked() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let t0 = Instant::now();
    support::build_debian_image(REPO);
    let c = Session::with_profile("join", REPO, &PROFILE);
    let host = SecondHost::start(&c);
    host.engine.load_from_main(IMAGE);
    println!(
        "second host up with the image after {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let args = ["start", "debian", "--profile", PROFILE.name];
    c.ok(&[&args[..], &["--advertise", host.here()]].concat());
    let bundle = issue_bundle(&c, &host);
    let remote_state = tempfile::Builder::new()
        .prefix("sccache-remote-")
        .tempdir()
        .unwrap();
    join_with_another_ca_fails_fast(&c, &host, &bundle, remote_state.path());
    let t = Instant::now();
    join(&c, &host, &bundle, remote_state.path());
    println!("join registered in {:.1}s", t.elapsed().as_secs_f64());
    let remote_addr = format!("{}:{SERVER_PORT}", host.there());
    let local_addr = format!("{}:{SERVER_PORT}", host.here());
    counted_with_remote(&c, &remote_addr);
    let client = c.client();
    let errors = compile_all(&client, &support::c_sources(client.dir(), "jn", 20), 4);
    assert!(errors.is_empty(), "{errors:?}");
    let before = client.stats().unwrap();
    println!(
        "20 compiles: {:?}, {} failed",
        before.per_server, before.failed
    );
    assert!(
        before.per_server.get(&remote_addr).copied().unwrap_or(0) > 0,
        "{before:?}\n{}",
        client.error_log()
    );
    stop_on_the_joining_host(&c, &host, remote_state.path());
    revoke_and_check(&c, &host);
    let errors = compile_all(&client, &support::c_sources(client.dir(), "rv", 6), 2);
    assert!(errors.is_empty(), "{errors:?}");
    let after = client.stats().unwrap();
    println!(
        "after revoke: {:?}, {} failed",
        after.per_server, after.failed
    );
    assert_eq!(
        after.per_server.get(&remote_addr),
        before.per_server.get(&remote_addr)
    );
    let local =
        |s: &xtask::sccache::client::DistStats| s.per_server.get(&local_addr).copied().unwrap_or(0);
    assert_eq!(
        local(&after),
        local(&before) + 6,
        "{after:?}\n{}",
        client.error_log()
    );
    rejoin_revoked(&c, &host, &bundle, remote_state.path());
    purge_on_the_joining_host(&c, &host, remote_state.path());
    refused_join_leaves_nothing(&c, &host, &bundle, remote_state.path());
    println!("join test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// `join` again with the revoked bundle: the scheduler refuses the new server,
/// `join` fails naming that, and removes the container it started (no restart
/// loop left on the other host).
fn rejoin_revoked(c: &Session, host: &SecondHost, bundle: &Path, state: &Path) {
    let docker_host = host.engine.host.clone();
    let t = Instant::now();
    let out = c.run_with(
        state,
        &[("DOCKER_HOST", &docker_host)],
        &["join", bundle.to_str().unwrap(), "--timeout", "60"],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "a revoked bundle joined:\n{err}");
    assert!(err.contains("refused (token not accepted)"), "{err}");
    let name = format!("{}-remote-{}", c.name, host.there().replace('.', "-"));
    let left = host.docker(&[
        "ps",
        "--all",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(
        stdout(&left).trim(),
        "",
        "join left its refused server behind"
    );
    println!(
        "a revoked bundle failed in {:.1}s and left nothing",
        t.elapsed().as_secs_f64()
    );
}

/// The scheduler counts the local and the remote builder; `status` lists both.
fn counted_with_remote(c: &Session, remote_addr: &str) {
    let s = c.wait_counted(2, 60);
    assert_eq!(s["expected_servers"], 2);
    let remote = &s["remote_builders"][0];
    assert_eq!(remote["address"], remote_addr, "{s:#}");
    assert_eq!(remote["registration"], "registered", "{s:#}");
    let text = c.ok(&["status"]);
    let line = format!("remote     {}", remote["name"].as_str().unwrap());
    assert!(text.contains(&line), "{text}");
    assert!(text.contains("2 server(s) of 2 expected"), "{text}");
}

/// `join-bundle` for the other host: a 0600 file whose credential is printed nowhere.
fn issue_bundle(c: &Session, host: &SecondHost) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bundle = c.state.path().join("bundle.json");
    let out = c.run_with(
        c.state.path(),
        &[],
        &[
            "join-bundle",
            "--address",
            host.there(),
            "--output",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(
        b["scheduler_url"],
        format!("https://{}:{SCHEDULER_PORT}", host.here())
    );
    // The CA's certificate travels with it; no key of any kind does.
    let ca = b["ca_cert"].as_str().expect("the bundle carries the CA");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(!text.contains("PRIVATE KEY"), "a key in the bundle");
    let conf = b["server_conf"].as_str().unwrap();
    let jwt = conf
        .lines()
        .find_map(|l| l.strip_prefix("token = "))
        .unwrap()
        .trim_matches('"');
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !printed.contains(jwt),
        "the credential was printed: {printed}"
    );
    assert!(printed.contains(host.there()), "{printed}");
    bundle
}

/// `join BUNDLE` against the second engine, with a state directory of its own.
fn join(c: &Session, host: &SecondHost, bundle: &Path, state: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let docker_host = host.engine.host.clone();
    let out = c.run_with(
        state,
        &[("DOCKER_HOST", &docker_host)],
        &["join", bundle.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "join:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let conf = walkdir::WalkDir::new(state)
        .into_iter()
        .map(|e| e.unwrap())
        .find(|e| e.file_name() == "server.conf")
        .expect("join wrote server.conf into its state directory");
    assert_eq!(conf.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    let dir = conf.path().parent().unwrap();
    assert_eq!(
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

/// `revoke ADDRESS:PORT`: the scheduler counts the local builder alone (it
/// registered again with its new JWT) and refuses the other host's server; a
/// bundle issued for another port of that host (never joined) is named as
/// needing a new one and shows as stale.
fn revoke_and_check(c: &Session, host: &SecondHost) {
    let spare = format!("spare-{}", std::process::id());
    let spare_file = c.state.path().join("spare.json");
    c.ok(&[
        "join-bundle",
        "--address",
        host.there(),
        "--port",
        "10682",
        "--name",
        &spare,
        "-o",
        spare_file.to_str().unwrap(),
    ]);
    let t = Instant::now();
    let out = c.ok(&["revoke", &format!("{}:{SERVER_PORT}", host.there())]);
    println!("revoke took {:.1}s: {out}", t.elapsed().as_secs_f64());
    assert!(
        out.contains(&format!("needs a new bundle: {spare}")),
        "{out}"
    );
    let s = c.wait_counted(1, 30);
    assert_eq!(s["expected_servers"], 2, "the spare is still expected");
    let remotes = s["remote_builders"].as_array().unwrap();
    assert_eq!(remotes.len(), 1, "{s:#}");
    assert_eq!(remotes[0]["name"], spare.as_str());
    assert_eq!(remotes[0]["registration"], "stale bundle", "{s:#}");
    assert_eq!(s["builders"][0]["registration"], "registered", "{s:#}");
    let name = format!("{}-remote-{}", c.name, host.there().replace('.', "-"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let log = host.docker(&["logs", "--tail", "200", &name]);
        let text = format!("{}{}", stdout(&log), stderr(&log));
        // The scheduler's 401 body for a JWT its new key does not verify; not the
        // address check's `invalid_bearer_token_mismatched_address`, and not "401",
        // which hex in earlier job lines can hold.
        let refused = text.lines().any(|l| {
            l.contains("invalid_bearer_token")
                && !l.contains("invalid_bearer_token_mismatched_address")
        });
        if refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no refused heartbeat in 90s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500)); // the poll interval
    }
    println!(
        "the remote server's heartbeat refused {:.1}s after revoke",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(c.status()["scheduler"]["num_servers"], 1);
}

/// What the second engine holds and the joining host's state directory: what a
/// failed join must leave as it was.
fn engine_and_state(host: &SecondHost, state: &Path) -> (String, String, Vec<PathBuf>) {
    let ps = stdout(&host.docker(&[
        "ps",
        "--all",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.State}}",
    ]));
    let volumes = stdout(&host.docker(&["volume", "ls", "--format", "{{.Name}}"]));
    let files = walkdir::WalkDir::new(state)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().path().to_owned())
        .collect();
    (ps, volumes, files)
}

/// A bundle whose `ca_cert` is another valid CA (the scheduler's front is signed
/// by the cluster's own): `join` fails within seconds, before it starts or
/// writes anything, naming the trust (UnknownIssuer) and the fix on the
/// scheduler's host, not the client's SSL_CERT_FILE.
fn join_with_another_ca_fails_fast(c: &Session, host: &SecondHost, bundle: &Path, state: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    let other = xtask::sccache::tls::new_ca("another cluster").unwrap();
    b["ca_cert"] = other.cert_pem.into();
    let wrong = c.state.path().join("wrong-ca.json");
    std::fs::write(&wrong, serde_json::to_vec_pretty(&b).unwrap()).unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = engine_and_state(host, state);
    let (root, name, repo) = (c.root.clone(), c.name.clone(), c.repo.clone());
    let (state_arg, docker_host) = (state.to_owned(), host.engine.host.clone());
    let t = Instant::now();
    // A watchdog well above the few seconds it takes, far below the 60 s wait
    // for a registration that used to stand for this check.
    let out = support::within("join with another CA", 5, move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(root)
            .arg("--state-dir")
            .arg(state_arg)
            .args(["join", wrong.to_str().unwrap()])
            .env("SCCACHE_DOCKER_CONTAINER", name)
            .env("SCCACHE_DOCKER_REPO", repo)
            .env("DOCKER_HOST", docker_host)
            .env_remove("SCCACHE_DOCKER_ROOT")
            .env_remove("SSL_CERT_FILE")
            .output()
            .unwrap()
    });
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "a bundle with another CA joined:\n{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("is not trusted"), "{err}");
    assert!(err.contains("cargo xtask join-bundle --address"), "{err}");
    assert!(!err.contains("SSL_CERT_FILE"), "the client's fix: {err}");
    assert_eq!(
        engine_and_state(host, state),
        before,
        "a failed join left something"
    );
    println!(
        "a bundle with another CA failed in {:.1}s and left nothing",
        t.elapsed().as_secs_f64()
    );
}

/// `stop` on the joining host (its own state directory) stops the server it
/// joined; it is started again for the rest of the test.
fn stop_on_the_joining_host(c: &Session, host: &SecondHost, state: &Path) {
    let docker_host = host.engine.host.clone();
    let name = format!("{}-remote-{}", c.name, host.there().replace('.', "-"));
    let out = c.run_with(state, &[("DOCKER_HOST", &docker_host)], &["stop"]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("stopped {name}")), "{text}");
    let st = stdout(&host.docker(&["inspect", "--format", "{{.State.Status}}", &name]));
    assert_eq!(st.trim(), "exited", "{text}");
    let started = host.docker(&["start", &name]);
    assert!(started.status.success(), "{}", stderr(&started));
    c.wait_counted(2, 60);
}

/// `remove-container --purge` on the joining host removes what the join made:
/// the server's container (removed already by the refused rejoin), its cache
/// volume and its joined config.
fn purge_on_the_joining_host(c: &Session, host: &SecondHost, state: &Path) {
    let docker_host = host.engine.host.clone();
    let name = format!("{}-remote-{}", c.name, host.there().replace('.', "-"));
    let volume = format!("{name}-cache");
    let volumes = || stdout(&host.docker(&["volume", "ls", "--format", "{{.Name}}"]));
    assert!(volumes().lines().any(|v| v == volume), "{}", volumes());
    let joined = state.join("joined").join(&name);
    assert!(joined.join("server.conf").is_file());
    let out = c.run_with(
        state,
        &[("DOCKER_HOST", &docker_host)],
        &["remove-container", "--purge"],
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("no cluster was started"), "{text}");
    assert!(!volumes().lines().any(|v| v == volume), "{}", volumes());
    assert!(!joined.exists(), "{text}");
    let ps = stdout(&host.docker(&["ps", "--all", "--format", "{{.Names}}"]));
    assert!(!ps.lines().any(|n| n == name), "{ps}");
}

/// After the purge nothing of the server is left; a join the scheduler then
/// refuses (the revoked bundle: trusted, answered, refused at registration)
/// removes the container, the cache volume and the joined config it made.
fn refused_join_leaves_nothing(c: &Session, host: &SecondHost, bundle: &Path, state: &Path) {
    let before = engine_and_state(host, state);
    let docker_host = host.engine.host.clone();
    let out = c.run_with(
        state,
        &[("DOCKER_HOST", &docker_host)],
        &["join", bundle.to_str().unwrap()],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "a revoked bundle joined:\n{err}");
    assert!(err.contains("refused (token not accepted)"), "{err}");
    assert_eq!(
        engine_and_state(host, state),
        before,
        "a refused join left something"
    );
}
