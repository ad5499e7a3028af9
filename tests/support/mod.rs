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
