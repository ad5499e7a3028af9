//! Helpers shared by the integration tests: a private copy of the project tree, the
//! xtask binary run against it, snapshots of directories, the main engine's
//! `docker`, image helpers and remote compiles. The fixtures that own what an
//! end-to-end test starts are in [`session`] (a cluster and everything else a test
//! made), [`engine`] (a second dockerd) and [`netns`] (another host's network).
#![allow(dead_code)] // each test binary uses its own subset

pub mod engine;
pub mod netns;
pub mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

#[allow(unused_imports)] // the tests that run no cluster use neither
pub use session::{Session, TestProfile};

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

/// The CA bundle `start`, `compose` or `client-config` wrote in `dir` for the
/// cluster's TLS front, when there is one: a client's `SSL_CERT_FILE`.
pub fn cert_file(dir: &Path) -> Option<PathBuf> {
    Some(dir.join("ca-bundle.pem")).filter(|p| p.is_file())
}

/// Runs the xtask binary with `--root root`.
pub fn xtask(root: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("SCCACHE_DOCKER_ROOT")
        .env("SCCACHE_DOCKER_STATE_DIR", test_state_dir())
        .output()
        .expect("the xtask binary runs")
}

/// The state directory of the tool's runs that name none (`--state-dir` wins over
/// it): never the user's `~/.local/state/sccache-docker`. One for every test
/// process of this machine, as the user's is for every checkout, so two tests
/// building one image still take the same build lock.
pub fn test_state_dir() -> PathBuf {
    std::env::temp_dir().join("sccache-docker-e2e-state")
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
    docker_stdout(args, &out)
}

/// The trimmed stdout of `docker ARGS`, which must have succeeded.
pub fn docker_stdout(args: &[&str], out: &Output) -> String {
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        stderr(out)
    );
    stdout(out).trim().to_owned()
}

/// `docker ARGS`, or None when it fails (no such object).
pub fn docker_maybe(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .ok()?;
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

/// Runs `f` on a thread of its own and returns what it returns; fails the test,
/// instead of hanging it, when `f` has not returned after `secs`. A watchdog
/// against a blocking read, not a speed check: `secs` is far above any normal run.
pub fn within<T: Send + 'static>(
    what: &str,
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no result after {secs}s (hung?)")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
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

/// `name` found on PATH, or None.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `name` found on PATH; panics naming it when it is not.
pub fn on_path(name: &str) -> PathBuf {
    which(name).unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// The docker client on PATH.
pub fn docker_path() -> PathBuf {
    on_path("docker")
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

/// The label the tool puts the input hash in.
pub const HASH_LABEL: &str = "io.github.sccache-docker.input-hash";

/// The image id of `reference` in the main engine, or None.
pub fn image_id(reference: &str) -> Option<String> {
    docker_maybe(&["image", "inspect", "--format", "{{.Id}}", reference])
}

/// The input-hash label of `reference` in the main engine.
pub fn hash_label(reference: &str) -> String {
    let format = format!("{{{{index .Config.Labels \"{HASH_LABEL}\"}}}}");
    docker(&["image", "inspect", "--format", &format, reference])
}

/// Whether a run of the tool ran a docker build, with either builder.
pub fn ran_build(out: &Output) -> bool {
    let err = stderr(out);
    err.contains("$ docker buildx build ") || err.contains("$ DOCKER_BUILDKIT=0 docker build ")
}

/// The hash of the `# DISTRO: input hash HASH` line of a dry run's output.
pub fn input_hash(text: &str, distro: &str) -> String {
    let prefix = format!("# {distro}: input hash ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
        .to_owned()
}

/// Adds `package` to the debian distro profile of the tree at `root`.
pub fn add_package(root: &Path, package: &str) {
    let path = root.join("distros/debian.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("packages:\n", &format!("packages:\n  - {package}\n")),
    )
    .unwrap();
}

/// Every local image of a repository; removed again when dropped, so a failing
/// test leaves none behind.
pub struct LocalImages(pub String);

impl LocalImages {
    /// The repository's images, removed now: a test then sees its own builds only.
    pub fn cleared(repo: &str) -> LocalImages {
        let images = LocalImages(repo.to_owned());
        images.remove();
        images
    }

    /// `repo:tag` of every local image of the repository.
    fn refs(&self) -> Vec<String> {
        let format = "{{.Repository}}:{{.Tag}}";
        let refs = docker_maybe(&["images", &self.0, "--format", format]).unwrap_or_default();
        refs.lines().map(str::to_owned).collect()
    }

    /// Removes every local image of the repository.
    pub fn remove(&self) {
        let refs = self.refs();
        if !refs.is_empty() {
            let mut args = vec!["image", "rm", "--force"];
            args.extend(refs.iter().map(String::as_str));
            docker(&args);
        }
    }

    /// `TAG ID` lines of the repository's local images.
    pub fn tags(&self) -> String {
        docker(&["images", &self.0, "--format", "{{.Tag}} {{.ID}}"])
    }
}

impl Drop for LocalImages {
    fn drop(&mut self) {
        let refs = self.refs();
        if !refs.is_empty() {
            let mut args = vec!["image", "rm", "--force"];
            args.extend(refs.iter().map(String::as_str));
            let _ = docker_maybe(&args);
        }
    }
}

/// Compiles `sources` through `client`, `jobs` compiles at a time; returns the
/// errors of compiles that failed outright (not those that fell back to local).
pub fn compile_all(
    client: &xtask::sccache::client::PrivateClient,
    sources: &[PathBuf],
    jobs: usize,
) -> Vec<String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(src) = sources.get(i) else { break };
                if let Err(e) = client.compile("cc", &["-O1"], src, &src.with_extension("o")) {
                    errors.lock().unwrap().push(format!("{e:#}"));
                }
            });
        }
    });
    errors.into_inner().unwrap()
}
