//! The cluster on a real Docker engine: real compiles from a client on this host run
//! on the container's build server, as `sccache --show-stats` proves, in both network
//! modes, across a stop/start and after the server process is killed.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use support::{
    docker, docker_maybe, project_root, require_docker, stderr, stdout, wait_for, xtask, Session,
};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-dist-e2e-cluster";

/// Host mode binds fixed ports: the cluster tests take turns.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Compiles the sources through `client` and asserts every one ran remotely.
fn compile_remotely(client: &PrivateClient, sources: &[PathBuf]) {
    let before = client.stats().unwrap();
    for src in sources {
        client
            .compile("cc", &[], src, &src.with_extension("o"))
            .unwrap();
        assert!(src.with_extension("o").is_file());
    }
    let after = client.stats().unwrap();
    let distributed = after.distributed() - before.distributed();
    assert_eq!(
        (distributed, after.failed),
        (sources.len() as u64, 0),
        "Successful distributed compiles / Failed distributed compilations; client log:\n{}",
        client.error_log()
    );
}

/// The cached toolchain files with size and inode. An upload writes a temporary file
/// and renames it into place (a new inode); a use only touches the mtime (LRU).
fn toolchain_files(container: &str) -> String {
    docker(&[
        "exec",
        container,
        "find",
        "/var/sccache/toolchains",
        "-type",
        "f",
        "-printf",
        "%p %s %i\n",
    ])
}

/// stdout and stderr of a run of the tool.
fn both(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn host_network_cluster_end_to_end() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = Session::new("host", REPO);

    // What the tool itself prints (stdout and stderr) is searched for secrets below.
    let mut printed: Vec<(&str, String)> = Vec::new();
    let start = c.run(&["start", "debian"]);
    let out = stdout(&start);
    assert!(start.status.success(), "{out}\n{}", stderr(&start));
    assert!(
        out.contains("ready in") && out.contains("1 build server(s)"),
        "{out}"
    );
    assert!(out.contains("advertising"), "{out}");
    printed.push(("xtask start", both(&start)));
    // Starting the running cluster again keeps its containers (and renews its
    // front's certificate in place, when it needs it).
    let again = c.run(&["start", "debian"]);
    assert!(
        again.status.success() && stdout(&again).contains("already runs"),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );

    let status = c.ok(&["status"]);
    assert!(
        status.contains("1 server(s)") && status.contains("running"),
        "{status}"
    );
    let doctor = c.run(&["doctor"]);
    assert!(
        doctor.status.success() && stdout(&doctor).contains("test compile: ran remotely on"),
        "{}",
        both(&doctor)
    );
    printed.push(("xtask doctor", both(&doctor)));
    let conf = c.state.path().join("client-printed.conf");
    let client_config = c.run(&["client-config", "--output", conf.to_str().unwrap()]);
    assert!(client_config.status.success(), "{}", both(&client_config));
    printed.push(("xtask client-config", both(&client_config)));
    let status_json = c.run(&["status", "--json"]);
    assert!(status_json.status.success(), "{}", both(&status_json));
    printed.push(("xtask status --json", both(&status_json)));

    // 20 C files compiled by a fresh client on this host, all on the build server.
    let client = c.client();
    let sources = support::c_sources(client.dir(), "host", 20);
    compile_remotely(&client, &sources);
    assert!(client.dist_status().unwrap().contains("\"num_servers\":1"));
    drop(client);

    // Stop and start again: the toolchain in the volume is reused, not uploaded again.
    let toolchains = toolchain_files(&c.name);
    assert!(!toolchains.is_empty(), "no toolchain was cached");
    c.ok(&["stop"]);
    // SIGTERM reached both processes through tini and the entrypoint, which exited
    // cleanly within the grace period: the kill at its end would make this 137.
    let exit = docker(&["inspect", "--format", "{{.State.ExitCode}}", &c.name]);
    assert_eq!(exit, "0", "the container did not stop cleanly on SIGTERM");
    let stopped = c.run(&["status"]);
    assert!(
        !stopped.status.success() && stdout(&stopped).contains("exited"),
        "{}",
        stdout(&stopped)
    );
    c.ok(&["start", "debian"]);
    let client = c.client();
    compile_remotely(&client, &support::c_sources(client.dir(), "again", 3));
    assert_eq!(
        toolchain_files(&c.name),
        toolchains,
        "the toolchain was uploaded again"
    );

    // Kill the server process: the container exits non-zero, the restart policy
    // brings it back, and the server registers again.
    let restarts = |n: &str| {
        docker(&["inspect", "--format", "{{.RestartCount}}", n])
            .parse::<u32>()
            .unwrap()
    };
    let before = restarts(&c.name);
    docker(&[
        "exec",
        &c.name,
        "bash",
        "-c",
        "kill -9 \"$(cat /run/sccache-dist/server.pid)\"",
    ]);
    wait_for("the container to restart", 60, || {
        restarts(&c.name) > before
    });
    wait_for("the server to register again", 60, || {
        c.run(&["status"]).status.success()
    });
    compile_remotely(&client, &support::c_sources(client.dir(), "after", 2));
    drop(client);

    // No secret anywhere it must not be; state files are private.
    let secrets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.state.path().join("secrets.json")).unwrap())
            .unwrap();
    let server_conf =
        std::fs::read_to_string(c.state.path().join("container/server.conf")).unwrap();
    let jwt = server_conf
        .lines()
        .find(|l| l.starts_with("token = "))
        .unwrap()
        .trim_start_matches("token = ")
        .trim_matches('"');
    let mut needles = vec![
        secrets["client_token"].as_str().unwrap().to_owned(),
        jwt.to_owned(),
    ];
    needles.push(secrets["jwt_key"].as_str().unwrap().to_owned());
    // The CA's key and the TLS front's key, by each line of their PEM bodies.
    for key in ["tls/ca.key", "container/tls/scheduler.key"] {
        let pem = std::fs::read_to_string(c.state.path().join(key)).unwrap();
        let lines: Vec<&str> = pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 40)
            .collect();
        assert!(!lines.is_empty(), "{key} holds no PEM body");
        needles.extend(lines.into_iter().map(str::to_owned));
    }
    let image = format!("{REPO}:debian");
    let layers = tempfile::tempdir().unwrap();
    let tar = layers.path().join("image.tar");
    docker(&["save", "--output", tar.to_str().unwrap(), &image]);
    let image_bytes = std::fs::read(&tar).unwrap();
    let places = [
        ("docker inspect", docker(&["inspect", &c.name])),
        ("docker history", docker(&["history", "--no-trunc", &image])),
        (
            "docker image inspect",
            docker(&["image", "inspect", &image]),
        ),
        ("docker logs", {
            let o = std::process::Command::new("docker")
                .args(["logs", &c.name])
                .output()
                .unwrap();
            format!("{}{}", stdout(&o), stderr(&o))
        }),
        ("xtask logs", both(&c.run(&["logs"]))),
        ("xtask status", both(&c.run(&["status"]))),
    ];
    let places: Vec<(&str, String)> = places.into_iter().chain(printed).collect();
    for secret in &needles {
        assert!(secret.len() >= 40, "secrets are long random strings");
        for (place, text) in &places {
            assert!(
                !text.contains(secret.as_str()),
                "a secret appears in {place}"
            );
        }
        assert!(
            !image_bytes
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "a secret is in the image's layers"
        );
    }
    assert_eq!(mode(c.state.path()), 0o700);
    for f in [
        "secrets.json",
        "cluster.json",
        "container/scheduler.conf",
        "container/server.conf",
        "client-for-test.conf",
    ] {
        assert_eq!(mode(&c.state.path().join(f)), 0o600, "{f}");
    }
    // The configs reach the container read-only.
    let mounts = docker(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Destination}}:{{.RW}} {{end}}",
        &c.name,
    ]);
    assert!(mounts.contains("/etc/sccache-dist:false"), "{mounts}");
    assert!(
        !docker(&["inspect", "--format", "{{.HostConfig.Privileged}}", &c.name]).contains("true")
    );
}

#[test]
fn bridge_network_cluster_compiles_remotely() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = Session::new("bridge", REPO);
    let out = c.ok(&["start", "debian", "--network", "bridge"]);
    assert!(out.contains("ready in"), "{out}");
    let record = c.record();
    assert_eq!(record["network"]["mode"], "bridge");
    assert_eq!(record["servers"][0]["address"], "172.31.250.10");
    let client = c.client();
    compile_remotely(&client, &support::c_sources(client.dir(), "bridge", 20));
    let stats = client.stats().unwrap();
    assert!(
        stats.per_server.contains_key("172.31.250.10:10501"),
        "{stats:?}"
    );
}

#[test]
fn client_config_is_private_and_never_overwritten_silently() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = Session::new("cfg", REPO);
    c.ok(&[
        "start",
        "debian",
        "--advertise",
        "127.0.0.1",
        "--cache-dir",
        c.state.path().join("cache").to_str().unwrap(),
    ]);
    let out = c.ok(&["client-config"]);
    let default = c.state.path().join("client.conf");
    assert_eq!(mode(&default), 0o600);
    assert!(
        out.contains("SCCACHE_CONF=")
            && out.contains("RUSTC_WRAPPER=sccache")
            && out.contains("CC=\"sccache cc\""),
        "{out}"
    );
    assert!(std::fs::read_to_string(&default)
        .unwrap()
        .contains("scheduler_url = \"https://127.0.0.1:10600\""));
    // Same content again is fine; a different file is left alone without --force.
    c.ok(&["client-config"]);
    let other = c.state.path().join("mine.conf");
    std::fs::write(&other, "# my own\n").unwrap();
    let out = c.run(&["client-config", "--output", other.to_str().unwrap()]);
    assert!(
        !out.status.success() && stderr(&out).contains("exists and differs; pass --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "# my own\n");
    c.ok(&[
        "client-config",
        "--output",
        other.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(mode(&other), 0o600);
    // --cache-dir: the toolchain cache sits in the host directory.
    let client = c.client();
    compile_remotely(&client, &support::c_sources(client.dir(), "cfg", 1));
    assert!(c
        .state
        .path()
        .join("cache/toolchains")
        .read_dir()
        .unwrap()
        .next()
        .is_some());
}

#[test]
fn cpp_and_rust_compile_remotely() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = Session::new("langs", REPO);
    c.ok(&["start", "debian", "--network", "bridge"]);
    let client = c.client();

    let cpp = client.dir().join("vec.cpp");
    std::fs::write(&cpp, "#include <string>\n#include <vector>\nint count() { std::vector<std::string> v{\"a\", \"b\"}; return (int)v.size(); }\n").unwrap();
    client
        .compile("c++", &["-std=c++17"], &cpp, &cpp.with_extension("o"))
        .unwrap();
    assert_eq!(
        client.stats().unwrap().distributed(),
        1,
        "C++: {}",
        client.error_log()
    );

    // A crate built by cargo with sccache as rustc's wrapper: the rustc job, its
    // toolchain packaged and uploaded by the client, runs on the build server.
    let krate = client.dir().join("krate");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"krate\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[lib]\npath = \"src/lib.rs\"\n").unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        "pub fn mix(a: u64, b: u64) -> u64 { a.rotate_left(7) ^ b }\n",
    )
    .unwrap();
    // Set on the inner command: duct lets the innermost environment win, and the
    // client's own environment drops any RUSTC_WRAPPER of the caller's.
    let cargo = duct::cmd!("cargo", "build", "--offline", "--quiet")
        .dir(&krate)
        .env("RUSTC_WRAPPER", "sccache")
        .env("CARGO_INCREMENTAL", "0") // sccache passes incremental builds through
        .env("CARGO_TARGET_DIR", krate.join("target"));
    let build = client
        .env(cargo)
        .stderr_capture()
        .unchecked()
        .run()
        .unwrap();
    assert!(
        build.status.success(),
        "cargo build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.distributed(), stats.failed),
        (2, 0),
        "Rust: {}",
        client.error_log()
    );
}

#[test]
fn lifecycle_commands_without_a_cluster() {
    let empty = tempfile::tempdir().unwrap();
    let run = |cmd: &[&str]| {
        let mut args = vec!["--state-dir", empty.path().to_str().unwrap()];
        args.extend_from_slice(cmd);
        xtask(&project_root(), &args)
    };
    // Cleaning up a machine where nothing ran is not an error: one line says so.
    for cmd in [
        &["stop"][..],
        &["remove-container"],
        &["remove-container", "--purge"],
    ] {
        let out = run(cmd);
        assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("no cluster was started") && text.contains("nothing to"),
            "{cmd:?}: {text}"
        );
        assert_eq!(text.lines().count(), 1, "{cmd:?}: {text}");
    }
    // Asking about a cluster that is not there is.
    for cmd in [
        &["status"][..],
        &["status", "--json"],
        &["scale", "2"],
        &["logs"],
        &["client-config"],
        &["doctor"],
    ] {
        let out = run(cmd);
        assert!(!out.status.success(), "{cmd:?} succeeded without a cluster");
        let err = stderr(&out) + &stdout(&out);
        assert!(err.contains("no cluster was started"), "{cmd:?}: {err}");
    }
    // Cleanup commands with nothing to act on say so and succeed.
    for cmd in [&["stop"][..], &["remove-container"]] {
        let mut args = vec!["--state-dir", empty.path().to_str().unwrap()];
        args.extend_from_slice(cmd);
        let out = xtask(&project_root(), &args);
        assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("nothing to"),
            "{cmd:?}: {}",
            stdout(&out)
        );
    }
    let out = xtask(
        &project_root(),
        &[
            "--state-dir",
            empty.path().to_str().unwrap(),
            "start",
            "debian",
            "--repo",
            "sccache-dist-never-built",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no image sccache-dist-never-built:debian: build it first with `cargo xtask image debian`"), "{}", stderr(&out));
    let out = xtask(&project_root(), &["remove-image", "nosuch"]);
    assert!(
        !out.status.success() && stderr(&out).contains("known distros are"),
        "{}",
        stderr(&out)
    );
    assert!(docker_maybe(&["image", "inspect", "sccache-dist-never-built:debian"]).is_none());
}

/// The session's containers that are up, sorted.
fn running(c: &Session) -> Vec<String> {
    let filter = format!("name=^{}", c.name);
    let mut names: Vec<String> = docker(&["ps", "--filter", &filter, "--format", "{{.Names}}"])
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// A `start` or `scale` that fails stops what it started (so nothing restart-loops)
/// and leaves what ran before it running. `--timeout 0` makes the wait for the
/// build servers fail at its first look: the containers have just been created.
#[test]
fn a_failed_start_or_scale_stops_what_it_started() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    support::build_debian_image(REPO);
    let c = Session::new("fail", REPO);
    let args = ["start", "debian", "--network", "bridge", "--builders", "2"];
    let failed = c.run(&[&args[..], &["--timeout", "0"]].concat());
    let err = stderr(&failed);
    assert!(!failed.status.success(), "{}", stdout(&failed));
    assert!(err.contains("did not register"), "{err}");
    assert!(err.contains("stopped "), "{err}");
    assert_eq!(running(&c), Vec::<String>::new(), "{err}");
    let record = c.record();
    let started: Vec<&str> = [&record["scheduler"]["container"]]
        .into_iter()
        .chain(
            record["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| &s["container"]),
        )
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        started.len(),
        3,
        "the scheduler and two servers: {started:?}"
    );
    for name in &started {
        let state = docker(&["inspect", "--format", "{{.State.Status}}", name]);
        assert_eq!(state, "exited", "{name}");
        assert!(err.contains(name), "{name} is not named as stopped: {err}");
    }

    // Once running, a failed scale stops the server it added and only that one.
    c.ok(&args);
    let before = running(&c);
    assert_eq!(before.len(), 3, "{before:?}");
    let failed = c.run(&["scale", "3", "--timeout", "0"]);
    let err = stderr(&failed);
    assert!(!failed.status.success(), "{}", stdout(&failed));
    assert!(err.contains("stopped "), "{err}");
    assert_eq!(running(&c), before, "{err}");
    let third = format!("{}-server-3", c.name);
    assert!(err.contains(&third), "{err}");
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Status}}", &third]),
        "exited"
    );
}
