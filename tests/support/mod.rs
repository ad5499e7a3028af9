//! Helpers shared by the integration tests: a private copy of the project tree, the
//! xtask binary run against it, and snapshots of directories.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The project root these tests belong to.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A temporary copy of everything the xtask reads and writes (not target/).
pub fn copy_tree() -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("xtask-tree-")
        .tempdir()
        .unwrap();
    let root = project_root();
    for entry in ["distros", "profiles", "generated", "Dockerfile.j2"] {
        copy_recursively(&root.join(entry), &tmp.path().join(entry));
    }
    tmp
}

fn copy_recursively(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_recursively(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Runs the xtask binary with `--root root`.
pub fn xtask(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("SCCACHE_DOCKER_ROOT")
        .output()
        .expect("the xtask binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file below `dir` with its bytes and mode, for "nothing changed" checks.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (
                e.path().strip_prefix(dir).unwrap().to_owned(),
                (std::fs::read(e.path()).unwrap(), meta.permissions().mode()),
            )
        })
        .collect()
}

/// The locally made base image the E2E tests build on (no registry is reachable on
/// CI): `.ci/install` makes it with debootstrap and `docker import`.
pub fn test_base_image() -> String {
    std::env::var("SCCACHE_DOCKER_TEST_BASE").unwrap_or_else(|_| "local/debian:trixie".into())
}

/// Fails (never skips) when what the E2E tests need is missing.
pub fn require_docker() {
    let engine = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match engine {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "no Docker engine reachable: these end-to-end tests need one (.ci/install starts dockerd): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("no docker client on PATH ({e}): run .ci/install"),
    }
    let base = test_base_image();
    let found = std::process::Command::new("docker")
        .args(["image", "inspect", &base])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "the base image {base} is missing: .ci/install makes it (debootstrap + docker import)"
    );
    let dist = std::process::Command::new("sccache-dist")
        .arg("--version")
        .output();
    assert!(
        matches!(dist, Ok(ref o) if o.status.success()),
        "sccache-dist is not on PATH: .ci/install runs cargo install sccache --features dist-client,dist-server"
    );
}

/// `docker ARGS`, stdout trimmed; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        stderr(&out)
    );
    stdout(&out).trim().to_owned()
}

/// `docker ARGS`, or None when it fails (no such object).
pub fn docker_maybe(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    out.status.success().then(|| stdout(&out).trim().to_owned())
}

/// Polls `cond` every 100 ms until it holds or `secs` pass.
pub fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A turn on the host's fixed cluster ports: within this test binary (the mutex)
/// and across test processes and checkouts on this machine (a file lock).
pub fn host_network_turn(m: &'static std::sync::Mutex<()>) -> HostNetworkTurn {
    let guard = m.lock().unwrap_or_else(|e| e.into_inner());
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("sccache-docker-e2e-host-network.lock"))
        .expect("the host-network lock file opens");
    file.lock().expect("the host-network lock is taken");
    HostNetworkTurn {
        _file: file,
        _guard: guard,
    }
}

/// Held while a test uses the host's fixed cluster ports.
pub struct HostNetworkTurn {
    _file: std::fs::File,
    _guard: std::sync::MutexGuard<'static, ()>,
}

/// The docker client on PATH.
pub fn docker_path() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("docker"))
                .find(|p| p.is_file())
        })
        .expect("a docker client on PATH")
}

/// Builds the debian image on the test base into `repo` (skipped by the tool when
/// it is up to date), failing with the tool's output when it cannot.
pub fn build_debian_image(repo: &str) {
    let base = test_base_image();
    let args = ["image", "debian", "--base-image", &base, "--repo", repo];
    let out = xtask(&project_root(), &args);
    assert!(
        out.status.success(),
        "image build:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `n` distinct small C files in `dir` (distinct, so no compile is a cache hit).
pub fn c_sources(dir: &Path, prefix: &str, n: usize) -> Vec<PathBuf> {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("{prefix}{i}.c"));
            let body = format!(
                "#include <string.h>\nint {prefix}{i}_{nonce}(const char *s) {{ return (int)strlen(s) * {i}; }}\n"
            );
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect()
}

/// The xtask binary as one test cluster's user: its own project root, state
/// directory, container name and image repository. Dropping it removes the
/// cluster's containers, volumes and network, and its state directory.
pub struct Session {
    /// The project root the binary is pointed at (`--root`).
    pub root: PathBuf,
    /// The state directory (`--state-dir`), removed with the session.
    pub state: tempfile::TempDir,
    /// The container name (`SCCACHE_DOCKER_CONTAINER`).
    pub name: String,
    /// The image repository (`SCCACHE_DOCKER_REPO`).
    pub repo: String,
}

impl Session {
    /// A session with a fresh state directory.
    pub fn new(root: &Path, name: String, repo: &str) -> Session {
        let state = tempfile::Builder::new()
            .prefix("sccache-state-")
            .tempdir()
            .unwrap();
        Session {
            root: root.to_owned(),
            state,
            name,
            repo: repo.to_owned(),
        }
    }

    /// `xtask ARGS` with the state directory `state` and `env` added.
    pub fn run_with(&self, state: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(&self.root)
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .env("SCCACHE_DOCKER_CONTAINER", &self.name)
            .env("SCCACHE_DOCKER_REPO", &self.repo)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// `xtask ARGS` with this session's state directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(self.state.path(), &[], args)
    }

    /// `xtask ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "xtask {}:\n{}\n{}",
            args.join(" "),
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// `status --json`, whether or not the cluster is healthy.
    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}\n{}", stderr(&out)))
    }

    /// The client config `client-config` writes for this cluster.
    pub fn client_conf(&self) -> String {
        let conf = self.state.path().join("client-for-test.conf");
        self.ok(&[
            "client-config",
            "--output",
            conf.to_str().unwrap(),
            "--force",
        ]);
        std::fs::read_to_string(conf).unwrap()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let out = self.run(&["remove-container", "--purge"]);
        if !out.status.success() {
            eprintln!("cleanup of {}: {}", self.name, stderr(&out));
        }
    }
}

/// A copy of the project tree with a runtime profile `name` added: the default one
/// on its own ports and bridge subnet (`172.31.NET.0/24`), so that neither a cluster
/// on the default ports nor another test's answers for the test's cluster.
pub fn tree_with_profile(
    name: &str,
    scheduler_port: u16,
    server_port: u16,
    net: u8,
) -> tempfile::TempDir {
    let tree = copy_tree();
    let default = std::fs::read_to_string(tree.path().join("profiles/default.yaml")).unwrap();
    let profile = default
        .replace(
            "scheduler_port: 10600",
            &format!("scheduler_port: {scheduler_port}"),
        )
        .replace("server_port: 10501", &format!("server_port: {server_port}"))
        .replace("172.31.250.", &format!("172.31.{net}."));
    assert_ne!(
        profile, default,
        "the default profile changed: update tree_with_profile"
    );
    std::fs::write(tree.path().join(format!("profiles/{name}.yaml")), profile).unwrap();
    tree
}
