//! The TLS front in front of the scheduler (issue 17), with a real client, a real
//! proxy and a real engine:
//! - nothing secret on the wire: a packet capture of a bridge cluster with three
//!   builders, while a client builds and doctor runs, holds neither the client
//!   token, nor a server JWT, nor the JWT key, nor `Authorization: Bearer`; the
//!   same capture of a `--plain-http` cluster holds the token (the test sees it);
//! - from another host (a network namespace): plain HTTP on the scheduler's port
//!   gets no scheduler answer, its loopback port is not reachable at all, and a
//!   heartbeat with a valid JWT for another address and a forged `X-Real-IP` of
//!   that address is refused (the front overwrites the header);
//! - a client without the CA does not distribute, and doctor fails naming the
//!   trust cause; a leaf without the advertised address, and an expired leaf, are
//!   named;
//! - a leaf 10 days from its end is renewed in place (`tls renew`, and `start`
//!   with a new --tls-name on the running cluster) while a client compiles: the
//!   scheduler's container is not restarted and no compile fails (issue 23).

#[path = "support/capture.rs"]
mod capture;
mod support;

use capture::Capture;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use support::netns::NetNs;
use support::{compile_all, stderr, stdout, Session, TestProfile};

const REPO: &str = "sccache-e2e-tls";

/// Its own ports and bridge subnet (172.31.248.0/24).
const PROFILE: TestProfile = TestProfile {
    name: "tls",
    scheduler_port: 10650,
    server_port: 10651,
    net: 248,
};

/// The scheduler's own port behind the front (the profile's port + 1000).
const INTERNAL_PORT: u16 = 11650;

static TURN: Mutex<()> = Mutex::new(());

/// The secrets a capture must not hold: the client token, the JWT key and every
/// server's JWT, read from the state directory.
fn secrets(s: &Session) -> Vec<String> {
    let st = s.state.path();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(st.join("secrets.json")).unwrap()).unwrap();
    let mut out = vec![json["client_token"].as_str().unwrap().to_owned()];
    for key in ["jwt_key", "front_client_token", "metrics_token"] {
        if let Some(k) = json[key].as_str() {
            out.push(k.to_owned());
        }
    }
    for e in walkdir::WalkDir::new(st.join("container")) {
        let e = e.unwrap();
        if e.file_name() == "server.conf" {
            let t: toml::Value =
                toml::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            out.push(t["scheduler_auth"]["token"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A cluster of three builders (a bridge network, or the host network on
/// loopback), a client's build and doctor, captured from before its start, so
/// the build servers' first heartbeats (with their credentials) are in it.
fn captured_run(tag: &str, plain: bool, host: bool) -> (Vec<u8>, Vec<String>) {
    support::build_debian_image(REPO);
    let s = Session::with_profile(tag, REPO, &PROFILE);
    let mut args = vec![
        "start",
        "debian",
        "--profile",
        PROFILE.name,
        "--builders",
        "3",
    ];
    match host {
        true => args.extend(["--advertise", "127.0.0.1"]),
        false => args.extend(["--network", "bridge"]),
    }
    if plain {
        args.push("--plain-http");
    }
    let pcap = s.state.path().join("capture.pcap");
    // What crosses the network: the bridge's subnet, or on the host network the
    // public ports (scheduler and builders), not the scheduler's loopback port
    // behind the front.
    let filter = match host {
        true => format!(
            "tcp port {} or tcp portrange {}-{}",
            PROFILE.scheduler_port,
            PROFILE.server_port,
            PROFILE.server_port + 2
        ),
        false => format!("net 172.31.{}.0/24", PROFILE.net),
    };
    let cap = Capture::start(&pcap, &filter);
    let out = s.run(&args);
    assert!(
        out.status.success(),
        "start:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stderr(&out).contains("warning: --plain-http"),
        plain,
        "{}",
        stderr(&out)
    );
    let client = s.client();
    let errors = compile_all(&client, &support::c_sources(client.dir(), tag, 9), 3);
    assert!(errors.is_empty(), "{errors:?}");
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.distributed(), stats.failed),
        (9, 0),
        "{stats:?}\n{}",
        client.error_log()
    );
    assert_eq!(stats.per_server.len(), 3, "every builder served: {stats:?}");
    let doctor = s.run(&["doctor"]);
    assert!(doctor.status.success(), "doctor:\n{}", stdout(&doctor));
    let bytes = cap.finish();
    assert!(
        bytes.len() > 10_000,
        "the capture saw the traffic ({} bytes)",
        bytes.len()
    );
    (bytes, secrets(&s))
}

/// A server JWT (`HEADER.CLAIMS.SIGNATURE`) among the secrets.
fn is_jwt(s: &str) -> bool {
    s.matches('.').count() == 2
}

#[test]
fn nothing_secret_on_the_wire() {
    let _turn = support::host_network_turn(&TURN);
    // Behind the front, on a bridge and on the host network: nothing.
    for (tag, host) in [("tlscap", false), ("tlscaphost", true)] {
        let (bytes, secrets) = captured_run(tag, false, host);
        assert!(secrets.iter().filter(|s| is_jwt(s)).count() >= 3, "{tag}");
        for s in &secrets {
            assert!(
                !contains(&bytes, s),
                "{tag}: a secret on the wire: {}...",
                &s[..8]
            );
        }
        assert!(!contains(&bytes, "Authorization: Bearer"), "{tag}");
        assert!(!contains(&bytes, "Bearer "), "{tag}");
    }
    // The control: without the front, the same capture shows the client token
    // and every build server's JWT (in its heartbeats): the capture would see them.
    let (plain, secrets) = captured_run("tlsplain", true, false);
    assert!(
        contains(&plain, &secrets[0]),
        "the plain capture lacks the client token"
    );
    let jwts: Vec<&String> = secrets.iter().filter(|s| is_jwt(s)).collect();
    assert_eq!(jwts.len(), 3, "three builders' JWTs");
    for jwt in jwts {
        assert!(
            contains(&plain, jwt),
            "the plain capture lacks a server's JWT"
        );
    }
    assert!(
        contains(&plain, "Bearer "),
        "the plain capture lacks a bearer header"
    );
}

/// `ARGS` in the namespace `ns`'s network.
fn in_ns(ns: &NetNs, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{}", ns.name))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn from_another_host_only_the_front_answers_and_it_sets_the_source() {
    let _turn = support::host_network_turn(&TURN);
    support::build_debian_image(REPO);
    let s = Session::with_profile("tlsns", REPO, &PROFILE);
    let ns = s.own(NetNs::create());
    let out = s.start_with(&PROFILE, &ns.here, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let front = format!("{}:{}", ns.here, PROFILE.scheduler_port);
    // Plain HTTP on the scheduler's port: nginx refuses it; no scheduler answer.
    let plain = in_ns(
        &ns,
        &[
            "curl",
            "-s",
            "-m",
            "5",
            &format!("http://{front}/api/v1/scheduler/status"),
        ],
    );
    let text = stdout(&plain);
    assert!(
        !text.contains("num_servers"),
        "the scheduler answered plain HTTP: {text}"
    );
    assert!(
        text.contains("plain HTTP request was sent to HTTPS port"),
        "{text}"
    );
    // The scheduler's own port is loopback only: nothing answers from outside.
    let internal = in_ns(
        &ns,
        &[
            "curl",
            "-s",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{}:{INTERNAL_PORT}/api/v1/scheduler/status", ns.here),
        ],
    );
    assert_eq!(
        stdout(&internal),
        "000",
        "the internal port answered from another host"
    );
    // A valid JWT for this host's builder, sent from the other host with a forged
    // X-Real-IP of this host's address, through the front: refused.
    let conf: toml::Value = toml::from_str(
        &std::fs::read_to_string(s.state.path().join("container/server.conf")).unwrap(),
    )
    .unwrap();
    let jwt = conf["scheduler_auth"]["token"].as_str().unwrap();
    let ca = s.state.path().join("tls/ca.pem");
    let forged = in_ns(
        &ns,
        &[
            "curl",
            "-s",
            "-m",
            "5",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            &format!("Authorization: Bearer {jwt}"),
            "-H",
            &format!("X-Real-IP: {}", ns.here),
            "--data-binary",
            "x",
            &format!("https://{front}/api/v1/scheduler/heartbeat_server"),
        ],
    );
    let head = stdout(&forged);
    assert!(
        head.starts_with("HTTP/1.1 401"),
        "{head}{}",
        stderr(&forged)
    );
    assert!(
        head.contains("invalid_bearer_token_mismatched_address"),
        "{head}"
    );
    // The control: the same request straight to the scheduler on its loopback
    // port (only this host can) passes the address check (and fails on the body).
    let direct = Command::new("curl")
        .args(["-s", "-m", "5", "-D", "-", "-o", "/dev/null"])
        .args([
            "-H",
            &format!("Authorization: Bearer {jwt}"),
            "-H",
            &format!("X-Real-IP: {}", ns.here),
        ])
        .args([
            "--data-binary",
            "x",
            &format!("http://127.0.0.1:{INTERNAL_PORT}/api/v1/scheduler/heartbeat_server"),
        ])
        .output()
        .unwrap();
    let head = stdout(&direct);
    assert!(
        head.starts_with("HTTP/1.1 400"),
        "the header is honoured without the front: {head}"
    );
    // The cluster still serves.
    assert_eq!(s.status()["scheduler"]["num_servers"], 1);
}

/// `start debian --profile tls --advertise 127.0.0.1 MORE...`.
fn start_local(s: &Session, more: &[&str]) -> std::process::Output {
    s.start_with(&PROFILE, "127.0.0.1", more)
}

/// [`start_local`], which must succeed; its stdout.
fn start_local_ok(s: &Session, more: &[&str]) -> String {
    let out = start_local(s, more);
    assert!(
        out.status.success(),
        "start:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Replaces the front's leaf with one made by the test from the cluster's CA,
/// and restarts the scheduler's container so the front serves it.
fn replace_leaf(s: &Session, names: &[xtask::sccache::tls::Name], days: i64) {
    let st = s.state.path();
    let ca = xtask::sccache::tls::Pair {
        cert_pem: std::fs::read_to_string(st.join("tls/ca.pem")).unwrap(),
        key_pem: std::fs::read_to_string(st.join("tls/ca.key")).unwrap(),
    };
    let leaf = xtask::sccache::tls::issue_leaf(&ca, names, days).unwrap();
    std::fs::write(st.join("container/tls/scheduler.pem"), leaf.cert_pem).unwrap();
    std::fs::write(st.join("container/tls/scheduler.key"), leaf.key_pem).unwrap();
    support::docker(&["restart", "--timeout", "20", &s.name]);
}

#[test]
fn untrusted_clients_and_bad_leaves_are_named() {
    let _turn = support::host_network_turn(&TURN);
    support::build_debian_image(REPO);
    let s = Session::with_profile("tlsbad", REPO, &PROFILE);
    start_local_ok(&s, &[]);
    // A client without the CA: it compiles locally, distributes nothing.
    let conf = s.client_conf();
    let bare = xtask::sccache::client::PrivateClient::new(&conf).unwrap();
    bare.start().unwrap();
    let errors = compile_all(&bare, &support::c_sources(bare.dir(), "bare", 2), 1);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(bare.stats().unwrap().distributed(), 0);
    assert!(
        bare.error_log().contains("UnknownIssuer"),
        "{}",
        bare.error_log()
    );
    // Doctor, from a shell without the cluster's CA, fails naming the trust cause.
    let system = "/etc/ssl/certs/ca-certificates.crt";
    let doctor = s.run_with(s.state.path(), &[("SSL_CERT_FILE", system)], &["doctor"]);
    let text = stdout(&doctor);
    assert!(!doctor.status.success(), "{text}");
    assert!(text.contains("FAIL  your shell's trust"), "{text}");
    assert!(text.contains("certificate not trusted"), "{text}");
    assert!(text.contains("Fix: `export SSL_CERT_FILE="), "{text}");
    // A leaf that does not cover 127.0.0.1.
    replace_leaf(
        &s,
        &[xtask::sccache::tls::Name::Dns("elsewhere.example".into())],
        30,
    );
    let doctor = s.run(&["doctor"]);
    let text = stdout(&doctor);
    assert!(!doctor.status.success(), "{text}");
    assert!(
        text.contains("FAIL  certificate: name or address not in the certificate"),
        "{text}"
    );
    // An expired leaf.
    replace_leaf(
        &s,
        &[
            xtask::sccache::tls::Name::Ip("127.0.0.1".parse().unwrap()),
            xtask::sccache::tls::Name::Dns("localhost".into()),
        ],
        -1,
    );
    let doctor = s.run(&["doctor"]);
    let text = stdout(&doctor);
    assert!(!doctor.status.success(), "{text}");
    assert!(text.contains("FAIL  certificate: expired"), "{text}");
    // Starting again re-issues a good leaf from the same CA: doctor passes.
    let ca_before = std::fs::read(s.state.path().join("tls/ca.pem")).unwrap();
    s.ok(&["stop"]);
    let out = start_local_ok(&s, &[]);
    assert!(out.contains("issued the scheduler's certificate"), "{out}");
    assert_eq!(
        std::fs::read(s.state.path().join("tls/ca.pem")).unwrap(),
        ca_before
    );
    let doctor = s.run(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
}

/// A cluster that ran plain HTTP (as one started by an older version did) moves
/// behind the front on its next start: its secrets and cache volume are kept,
/// client.conf now names https, and the output says so.
#[test]
fn a_plain_cluster_moves_behind_the_front_keeping_its_secrets() {
    let _turn = support::host_network_turn(&TURN);
    support::build_debian_image(REPO);
    let s = Session::with_profile("tlsmig", REPO, &PROFILE);
    let out = start_local(&s, &["--plain-http"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: --plain-http"),
        "{}",
        stderr(&out)
    );
    let conf = std::fs::read_to_string(s.state.path().join("client.conf")).unwrap();
    assert!(
        conf.contains("scheduler_url = \"http://127.0.0.1:10650\""),
        "{conf}"
    );
    let secrets = std::fs::read(s.state.path().join("secrets.json")).unwrap();
    s.ok(&["stop"]);
    let out = start_local_ok(&s, &[]);
    assert!(
        out.contains("it now runs behind a TLS front: its secrets and cache volumes are kept"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(s.state.path().join("secrets.json")).unwrap(),
        secrets
    );
    let conf = std::fs::read_to_string(s.state.path().join("client.conf")).unwrap();
    assert!(
        conf.contains("scheduler_url = \"https://127.0.0.1:10650\""),
        "{conf}"
    );
    let volume = format!("{}-cache", s.name);
    assert!(support::docker_maybe(&["volume", "inspect", &volume]).is_some());
    let client = s.client();
    let errors = compile_all(&client, &support::c_sources(client.dir(), "mig", 2), 1);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        client.stats().unwrap().distributed(),
        2,
        "{}",
        client.error_log()
    );
}

/// `--tls-cert`, `--tls-key` and `--tls-ca`: the front serves the user's own
/// certificate (here one the test signs with a "corporate" CA of its own), the
/// builders trust that CA, and a client that trusts it through its own store
/// (here its SSL_CERT_FILE) compiles remotely; no cluster CA is made.
#[test]
fn a_certificate_of_ones_own() {
    use xtask::sccache::tls::{issue_leaf, new_ca, Name};
    let _turn = support::host_network_turn(&TURN);
    support::build_debian_image(REPO);
    let s = Session::with_profile("tlsown", REPO, &PROFILE);
    let dir = s.state.path().join("own");
    std::fs::create_dir_all(&dir).unwrap();
    let corp = new_ca("corporate").unwrap();
    let leaf = issue_leaf(&corp, &[Name::Ip("127.0.0.1".parse().unwrap())], 90).unwrap();
    let (cert, key, ca) = (
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
        dir.join("corp.pem"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca, &corp.cert_pem).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (cert, key, ca) = (path(&cert), path(&key), path(&ca));
    start_local_ok(
        &s,
        &["--tls-cert", &cert, "--tls-key", &key, "--tls-ca", &ca],
    );
    assert!(
        !s.state.path().join("tls/ca.key").exists(),
        "a cluster CA was made"
    );
    assert!(!s.state.path().join("ca-bundle.pem").exists());
    let served =
        std::fs::read_to_string(s.state.path().join("container/tls/scheduler.pem")).unwrap();
    assert_eq!(served, leaf.cert_pem);
    // The client's own trust: the system roots and the corporate CA.
    let trust = dir.join("trust.pem");
    let roots = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    std::fs::write(&trust, format!("{roots}{}", corp.cert_pem)).unwrap();
    let conf = s.client_conf();
    assert!(conf.contains("https://127.0.0.1:10650"), "{conf}");
    let client = xtask::sccache::client::PrivateClient::new(&conf)
        .unwrap()
        .with_cert_file(Some(trust.clone()));
    client.start().unwrap();
    let errors = compile_all(&client, &support::c_sources(client.dir(), "own", 2), 1);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        client.stats().unwrap().distributed(),
        2,
        "{}",
        client.error_log()
    );
    let doctor = s.run_with(
        s.state.path(),
        &[("SSL_CERT_FILE", trust.to_str().unwrap())],
        &["doctor"],
    );
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    // A certificate that does not cover the advertised address is refused at start.
    let other = issue_leaf(&corp, &[Name::Dns("elsewhere.example".into())], 90).unwrap();
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, other.cert_pem).unwrap();
    s.ok(&["stop"]);
    let out = start_local(&s, &["--tls-cert", &path(&bad), "--tls-key", &key]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not the advertised address 127.0.0.1"),
        "{}",
        stderr(&out)
    );
}

/// The served leaf of the cluster's front, DER.
fn served() -> Vec<u8> {
    try_served().expect("the front answers")
}

fn try_served() -> Option<Vec<u8>> {
    let addr = format!("127.0.0.1:{}", PROFILE.scheduler_port)
        .parse()
        .unwrap();
    xtask::sccache::tls_verify::served_leaf(addr, Duration::from_secs(5)).ok()
}

/// The leaf in the state directory, DER.
fn stored(s: &Session) -> (Vec<u8>, xtask::sccache::tls::Facts) {
    let pem = std::fs::read_to_string(s.state.path().join("container/tls/scheduler.pem")).unwrap();
    let der = xtask::sccache::tls_verify::certificates(&pem).unwrap()[0].to_vec();
    (der, xtask::sccache::tls::facts(&pem).unwrap())
}

fn started_at(s: &Session) -> String {
    support::docker(&["inspect", "--format", "{{.State.StartedAt}}", &s.name])
}

/// A leaf 10 days from its end is renewed in place while a client compiles:
/// `tls renew` re-issues it and reloads the front; the scheduler's container is
/// not restarted, no compile fails, and the new leaf is served. `start` on the
/// running cluster with a new --tls-name renews it the same way.
#[test]
fn a_leaf_near_its_end_is_renewed_in_place() {
    use xtask::sccache::tls::Name;
    let _turn = support::host_network_turn(&TURN);
    support::build_debian_image(REPO);
    let s = Session::with_profile("tlsrenew", REPO, &PROFILE);
    start_local_ok(&s, &[]);
    let names = [
        Name::Ip("127.0.0.1".parse().unwrap()),
        Name::Dns("localhost".into()),
    ];
    replace_leaf(&s, &names, 10);
    // The restarted front comes up with it.
    let aged = stored(&s).0;
    support::wait_for("the restarted front to serve the aged leaf", 30, || {
        try_served().as_ref() == Some(&aged)
    });
    let doctor = stdout(&s.run(&["doctor"]));
    assert!(
        doctor.contains("expires in") && doctor.contains("`cargo xtask tls renew`"),
        "{doctor}"
    );
    let since = started_at(&s);
    let client = s.client();
    let sources = support::c_sources(client.dir(), "renew", 12);
    let (errors, renewed) = std::thread::scope(|scope| {
        let compiling = scope.spawn(|| compile_all(&client, &sources, 2));
        let renewed = s.run(&["tls", "renew"]);
        (compiling.join().unwrap(), renewed)
    });
    let out = stdout(&renewed);
    assert!(renewed.status.success(), "{out}\n{}", stderr(&renewed));
    assert!(out.contains("issued the scheduler's certificate"), "{out}");
    assert!(out.contains("serves the new certificate"), "{out}");
    assert!(errors.is_empty(), "{errors:?}");
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.distributed(), stats.failed),
        (12, 0),
        "{}",
        client.error_log()
    );
    assert_eq!(started_at(&s), since, "the scheduler's container restarted");
    let (leaf, facts) = stored(&s);
    assert_eq!(served(), leaf);
    assert!(facts.remaining().unwrap() > Duration::from_secs(300 * 86400));
    let again = s.ok(&["tls", "renew"]);
    assert!(again.contains("nothing to renew"), "{again}");
    // A name added on the running cluster: renewed in place, not restarted.
    let out = start_local_ok(&s, &["--tls-name", "renewed.example"]);
    assert!(out.contains("already runs"), "{out}");
    let (leaf, facts) = stored(&s);
    assert!(facts.covers(&Name::Dns("renewed.example".into())), "{out}");
    assert_eq!(served(), leaf);
    assert_eq!(started_at(&s), since, "the scheduler's container restarted");
    let doctor = s.run(&["doctor"]);
    assert!(doctor.status.success(), "{}", stdout(&doctor));
}
