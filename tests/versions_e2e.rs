//! One sccache version across client and cluster (issue 16), with real binaries:
//! a cluster whose servers run sccache-dist 0.17.0 (built once by .ci/install)
//! and the README's 0.19.0 client: `start` and `client-config` warn before any
//! compile, `status --json` shows both versions, `doctor` names the certificate
//! signature. With matching versions: no warning, and a remote compile. And a
//! server whose heartbeats the scheduler refuses for their source address:
//! `doctor` names that cause.

mod support;

use std::path::PathBuf;
use std::sync::Mutex;

use support::{stderr, stdout, test_base_image, xtask, Session, TestProfile};

/// Its own ports and bridge subnet: no other test's cluster answers for it.
const PROFILE: TestProfile = TestProfile {
    name: "versions",
    scheduler_port: 10670,
    server_port: 10671,
    net: 249,
};

/// One cluster at a time on the host network (ports, the client's daemon).
static TURN: Mutex<()> = Mutex::new(());

/// Where .ci/install builds sccache-dist 0.17.0 (`SCCACHE_DIST_0_17` overrides).
fn old_server() -> PathBuf {
    let path = std::env::var_os("SCCACHE_DIST_0_17")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/sccache-versions/0.17.0/bin/sccache-dist"));
    assert!(
        path.is_file(),
        "{} is missing: .ci/install builds sccache 0.17.0 there (cargo install sccache --version 0.17.0 --root /opt/sccache-versions/0.17.0)",
        path.display()
    );
    path
}

/// The debian image with `sccache_dist` as its server, in `repo`.
fn image(repo: &str, sccache_dist: Option<&PathBuf>) {
    let base = test_base_image();
    let mut args = vec!["image", "debian", "--base-image", &base, "--repo", repo];
    let bin;
    if let Some(p) = sccache_dist {
        bin = p.to_str().unwrap().to_owned();
        args.extend(["--sccache-dist", &bin]);
    }
    let out = xtask(&support::project_root(), &args);
    assert!(
        out.status.success(),
        "image:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

fn start(s: &Session, advertise: &str) -> std::process::Output {
    start_with(s, advertise, &[])
}

fn start_with(s: &Session, advertise: &str, more: &[&str]) -> std::process::Output {
    let out = s.start_with(&PROFILE, advertise, more);
    assert!(
        out.status.success(),
        "start:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

const SKEW: &str =
    "warning: the client sccache 0.19.0 cannot use build servers of sccache-dist 0.17.0";

#[test]
fn an_old_server_is_named_before_any_compile() {
    let _turn = support::host_network_turn(&TURN);
    let old = old_server();
    let repo = "sccache-e2e-versions-old";
    image(repo, Some(&old));
    let s = Session::with_profile("vold", repo, &PROFILE);
    let out = start(&s, "127.0.0.1");
    assert!(
        stderr(&out).contains(SKEW),
        "start did not warn:\n{}",
        stderr(&out)
    );
    let st = s.status();
    assert_eq!(st["client_version"], "0.19.0", "{st:#}");
    assert_eq!(st["image_version"], "0.17.0", "{st:#}");
    assert_eq!(st["scheduler"]["version"], "0.17.0", "{st:#}");
    assert_eq!(st["builders"][0]["version"], "0.17.0", "{st:#}");
    assert!(
        st["version_warning"]
            .as_str()
            .is_some_and(|w| w.contains("SHA-1")),
        "{st:#}"
    );
    let conf = s.state.path().join("c.conf");
    let cc = s.run(&["client-config", "--output", conf.to_str().unwrap()]);
    assert!(
        cc.status.success() && stderr(&cc).contains(SKEW),
        "client-config:\n{}",
        stderr(&cc)
    );
    let doctor = s.run(&["doctor"]);
    let text = stdout(&doctor);
    assert!(!doctor.status.success(), "doctor passed:\n{text}");
    assert!(text.contains("FAIL  versions"), "{text}");
    assert!(
        text.contains("FAIL  test compile: compiled locally"),
        "{text}"
    );
    assert!(
        text.contains("UnsupportedSignatureAlgorithm"),
        "doctor did not name the cause:\n{text}"
    );
}

#[test]
fn matching_versions_warn_nothing_and_compile_remotely() {
    let _turn = support::host_network_turn(&TURN);
    let repo = "sccache-e2e-versions-new";
    image(repo, None);
    let s = Session::with_profile("vnew", repo, &PROFILE);
    let out = start(&s, "127.0.0.1");
    assert!(
        !stderr(&out).contains("warning: the client"),
        "{}",
        stderr(&out)
    );
    let st = s.status();
    assert_eq!(st["client_version"], "0.19.0", "{st:#}");
    assert_eq!(st["scheduler"]["version"], "0.19.0", "{st:#}");
    assert!(st["version_warning"].is_null(), "{st:#}");
    let doctor = s.run(&["doctor"]);
    let text = stdout(&doctor);
    assert!(
        doctor.status.success(),
        "doctor:\n{text}\n{}",
        stderr(&doctor)
    );
    assert!(
        text.contains("ok    versions: client sccache 0.19.0, servers sccache-dist 0.19.0"),
        "{text}"
    );
    assert!(text.contains("ok    test compile: ran remotely"), "{text}");
}

/// The docker0 bridge's address: a host address that is not loopback.
fn docker0() -> String {
    support::docker(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ])
}

#[test]
fn a_refused_heartbeat_is_named_by_doctor() {
    let _turn = support::host_network_turn(&TURN);
    let repo = "sccache-e2e-versions-new";
    image(repo, None);
    let s = Session::with_profile("vhb", repo, &PROFILE);
    // The front's certificate also covers docker0's address, so the server's
    // requests there pass TLS and reach the scheduler with that source address.
    let host = docker0();
    start_with(&s, "127.0.0.1", &["--tls-name", &host]);
    // The server keeps its public_addr (127.0.0.1:PORT, its JWT's) but now reaches
    // the scheduler at a non-loopback address of this host: its heartbeats leave
    // from another address than 127.0.0.1, which the scheduler refuses
    // (invalid_bearer_token_mismatched_address). The tool would never render this
    // (check-configs refuses it); the test edits the file the container mounts.
    let conf = s.state.path().join("container/server.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let url = format!("https://127.0.0.1:{}", PROFILE.scheduler_port);
    assert!(text.contains(&url), "{text}");
    let other = format!("https://{host}:{}", PROFILE.scheduler_port);
    std::fs::write(&conf, text.replace(&url, &other)).unwrap();
    support::docker(&["restart", "--timeout", "20", &s.name]);
    support::wait_for("the scheduler refuses the heartbeat", 60, || {
        container_log(&s.name).contains("invalid_bearer_token_mismatched_address")
    });
    let doctor = s.run(&["doctor"]);
    let out = stdout(&doctor);
    assert!(!doctor.status.success(), "doctor passed:\n{out}");
    assert!(
        out.contains("the scheduler refuses its heartbeats"),
        "{out}"
    );
    assert!(
        out.contains("it accepts a server only when the heartbeat comes from the IP in the server's public_addr"),
        "{out}"
    );
}

/// A container's log, stdout and stderr.
fn container_log(name: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["logs", name])
        .output()
        .unwrap();
    format!("{}{}", stdout(&out), stderr(&out))
}
