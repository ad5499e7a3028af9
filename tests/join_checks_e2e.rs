//! `join` treats a bundle as input (issue 18) and checks the host before it
//! starts anything (issue 16): through the real binary and the real engine, a
//! bundle damaged in one field fails naming that field with no engine reachable
//! (so before any engine call) and echoes no credential; a bundle made
//! for an address this host lacks, or whose port is taken here, fails naming the
//! address or the port, and leaves no container behind; `stop` and
//! `remove-container` on a host that only joined go for its joined servers.

mod support;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;

use serde_json::Value;
use support::{docker, project_root, require_docker, stderr, test_base_image};

const SECRET: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.SECRET-PAYLOAD.SIG";

/// A bundle as `join-bundle` writes one, for `address:port`.
fn bundle(address: &str, port: u16) -> Value {
    let conf = format!(
        "cache_dir = \"/var/sccache/toolchains\"\ntoolchain_cache_size = 10737418240\npublic_addr = \"{address}:{port}\"\nbind_address = \"0.0.0.0:{port}\"\nscheduler_url = \"http://192.0.2.1:10600\"\n\n[builder]\ntype = \"overlay\"\nbuild_dir = \"/var/sccache/build\"\nbwrap_path = \"/usr/bin/bwrap\"\n\n[scheduler_auth]\ntype = \"jwt_token\"\ntoken = \"{SECRET}\"\n"
    );
    serde_json::json!({
        "format": "sccache-docker-join-bundle/1",
        "name": "sdjc-remote",
        "address": address,
        "port": port,
        "scheduler_url": "http://192.0.2.1:10600",
        "distro": "debian",
        "image": test_base_image(),
        "image_hash": "0".repeat(64),
        "cache_root": "/var/sccache",
        "log_level": "info",
        "toolchain_cache_size": 10737418240u64,
        "server_conf": conf,
    })
}

fn write_bundle(dir: &Path, v: &Value, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("bundle.json");
    std::fs::write(&path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Every container of the engine, running or not.
fn containers() -> String {
    docker(&[
        "ps",
        "--all",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.State}}",
    ])
}

/// Runs `join` on `v` (written with `mode`) with `DOCKER_HOST` set to
/// `docker_host` when given: it must fail, naming `want`, and echo no credential.
/// Returns stderr.
fn refused(v: &Value, mode: u32, want: &str, docker_host: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_bundle(dir.path(), v, mode);
    let state = dir.path().join("state");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("--root")
        .arg(project_root())
        .args(["--state-dir", state.to_str().unwrap(), "join"])
        .arg(&path)
        .env_remove("SCCACHE_DOCKER_ROOT");
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    let out = cmd.output().expect("the xtask binary runs");
    let err = stderr(&out);
    assert!(!out.status.success(), "join accepted it: {err}");
    assert!(err.contains(want), "wanted {want:?} in: {err}");
    assert!(
        !err.contains("SECRET-PAYLOAD"),
        "the credential was echoed: {err}"
    );
    err
}

/// An engine address where no engine is: any engine call fails, so a refusal
/// naming the field proves the field was checked before the engine was asked.
const NO_ENGINE: &str = "unix:///nonexistent/docker.sock";

#[test]
fn a_damaged_bundle_is_refused_by_field_before_the_engine() {
    let good = bundle("192.0.2.99", 10501);
    let conf = good["server_conf"].as_str().unwrap().to_owned();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("image", "--privileged".into(), "field `image`"),
        ("address", "0.0.0.0".into(), "field `address`"),
        ("port", 70000.into(), "field `port`"),
        ("port", 10600.into(), "field `port`"),
        ("cache_root", "/".into(), "field `cache_root`"),
        ("cache_root", "/var/../x".into(), "field `cache_root`"),
        (
            "scheduler_url",
            "http://192.0.2.1:10600 x".into(),
            "field `scheduler_url`",
        ),
        (
            "toolchain_cache_size",
            5.into(),
            "field `toolchain_cache_size`",
        ),
        ("name", "x;reboot".into(), "field `name`"),
        ("log_level", "trace".into(), "field `log_level`"),
        (
            "server_conf",
            format!("unknown_key = 1\n{conf}").into(),
            "`unknown_key`: sccache-dist does not accept this key",
        ),
        (
            "server_conf",
            conf.replace("192.0.2.99:10501", "192.0.2.98:10501").into(),
            "`public_addr` is not the bundle's address",
        ),
    ];
    for (key, value, want) in cases {
        let mut v = good.clone();
        v[key] = value;
        let err = refused(&v, 0o600, want, Some(NO_ENGINE));
        assert!(!err.contains("no Docker engine"), "{key}: {err}");
    }
    let err = refused(&good, 0o644, "chmod 600", Some(NO_ENGINE));
    assert!(err.contains("readable by group or others"), "{err}");
    // The same engine address does fail a bundle that passes every field check:
    // the refusals above were not the engine's.
    let err = refused(&good, 0o600, "no Docker engine", Some(NO_ENGINE));
    assert!(err.contains("nonexistent"), "{err}");
}

/// An address of this host that is not loopback (the default route's, or
/// docker0's on a machine without one).
fn a_host_address() -> Ipv4Addr {
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    if sock.connect("192.0.2.1:9").is_ok() {
        if let Ok(std::net::SocketAddr::V4(a)) = sock.local_addr() {
            if !a.ip().is_unspecified() {
                return *a.ip();
            }
        }
    }
    let out = docker(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    ]);
    out.trim().parse().expect("docker0's gateway address")
}

#[test]
fn a_bundle_for_another_host_or_a_taken_port_fails_before_anything_runs() {
    require_docker();
    // No other test of this machine starts or removes cluster containers while the
    // engine's whole container list is compared.
    let _turn = support::host_network_turn(&ENGINE_TURN);
    let before = containers();
    // 192.0.2.99 is TEST-NET-1: no host here has it.
    let err = refused(
        &bundle("192.0.2.99", 10501),
        0o600,
        "this host does not have the bundle's address 192.0.2.99",
        None,
    );
    assert!(err.contains("join-bundle --address"), "{err}");
    assert_eq!(containers(), before, "join changed the engine's containers");
    let held = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let address = a_host_address().to_string();
    let err = refused(
        &bundle(&address, port),
        0o600,
        &format!("port {port} of the bundle is already in use"),
        None,
    );
    assert!(err.contains("--port PORT"), "{err}");
    assert_eq!(containers(), before, "join changed the engine's containers");
    drop(held);
}

/// Within this binary, beside the cross-process lock of `host_network_turn`.
static ENGINE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `stop` and `remove-container` with the state directory of a host that only
/// joined (no cluster record, a `joined/NAME/`): they go to the engine for that
/// server instead of saying no cluster was started there. With no engine
/// reachable, asking it is what fails.
#[test]
fn stop_and_remove_know_the_joined_servers() {
    use std::os::unix::fs::DirBuilderExt;
    for args in [&["stop"][..], &["remove-container", "--purge"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let joined = state.join("joined").join("sdjc-remote");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&joined)
            .unwrap();
        std::fs::write(joined.join("server.conf"), "x").unwrap();
        let run = |state: &Path| {
            std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
                .arg("--root")
                .arg(project_root())
                .args(["--state-dir", state.to_str().unwrap()])
                .args(args)
                .env_remove("SCCACHE_DOCKER_ROOT")
                .env("DOCKER_HOST", NO_ENGINE)
                .output()
                .expect("the xtask binary runs")
        };
        let out = run(&state);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(err.contains("no Docker engine"), "{args:?}: {err}");
        assert!(joined.join("server.conf").exists(), "{args:?}");
        // Without a joined server, nothing to do and no engine asked.
        let empty = dir.path().join("empty");
        let out = run(&empty);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(support::stdout(&out).contains("nothing to"), "{args:?}");
    }
}
