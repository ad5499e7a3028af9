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
