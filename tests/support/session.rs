//! One end-to-end test's session: the xtask binary as the user of one test cluster
//! (its own project tree, state directory, container name and image repository),
//! and the owner of everything else the test starts. Dropping it, at the end of the
//! test or while a panic unwinds, removes all of it.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xtask::sccache::client::PrivateClient;

use super::{copy_tree, docker_maybe, project_root, stderr, stdout};

/// A runtime profile of a test's own: the default one on its own ports and bridge
/// subnet (`172.31.NET.0/24`), so that neither a cluster on the default ports nor
/// another test's answers for the test's cluster.
pub struct TestProfile {
    pub name: &'static str,
    pub scheduler_port: u16,
    pub server_port: u16,
    pub net: u8,
}

/// A test cluster and what else the test started. Every name the cluster gets
/// (containers, volumes, networks, a compose project) starts with [`Session::name`],
/// which is unique to the test and process; the guards handed to [`Session::own`]
/// (a second engine, a network namespace, a registry, local images...) are dropped
/// with it, newest first.
pub struct Session {
    /// The project root the binary is pointed at (`--root`).
    pub root: PathBuf,
    /// The state directory (`--state-dir`), removed with the session.
    pub state: tempfile::TempDir,
    /// The container name (`SCCACHE_DOCKER_CONTAINER`), and the prefix of every
    /// name the cluster's objects get.
    pub name: String,
    /// The image repository (`SCCACHE_DOCKER_REPO`).
    pub repo: String,
    /// The copy of the project tree [`Session::root`] is, when it is not the project.
    tree: Option<tempfile::TempDir>,
    /// Guards owned by the session, dropped in reverse order.
    owned: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl Session {
    /// A session on the project tree itself, named `sccache-e2e-TAG-PID`.
    pub fn new(tag: &str, repo: &str) -> Session {
        Session::on(project_root(), None, tag, repo)
    }

    /// A session on a copy of the project tree with `profile` added.
    pub fn with_profile(tag: &str, repo: &str, profile: &TestProfile) -> Session {
        let tree = tree_with_profile(profile);
        Session::on(tree.path().to_owned(), Some(tree), tag, repo)
    }

    fn on(root: PathBuf, tree: Option<tempfile::TempDir>, tag: &str, repo: &str) -> Session {
        let state = tempfile::Builder::new()
            .prefix("sccache-state-")
            .tempdir()
            .unwrap();
        Session {
            root,
            state,
            name: format!("sccache-e2e-{tag}-{}", std::process::id()),
            repo: repo.to_owned(),
            tree,
            owned: Mutex::new(Vec::new()),
        }
    }

    /// Hands `guard` to the session, which drops it when it is dropped itself
    /// (newest first, before the cluster's objects are swept).
    pub fn own<T: Send + Sync + 'static>(&self, guard: T) -> Arc<T> {
        let guard = Arc::new(guard);
        let mut owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
        owned.push(guard.clone());
        guard
    }

    /// Whether `object` (a container, volume or network name) is one of this
    /// session's: its name, or its name and `-` or `_` (compose) and more.
    pub fn owns_name(&self, object: &str) -> bool {
        object
            .strip_prefix(self.name.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
    }

    /// `xtask ARGS` with the state directory `state` and `env` added.
    pub fn run_with(&self, state: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.command(state, env, args)
            .output()
            .expect("the xtask binary runs")
    }

    fn command(&self, state: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--state-dir")
            .arg(state)
            .args(args)
            .env("SCCACHE_DOCKER_CONTAINER", &self.name)
            .env("SCCACHE_DOCKER_REPO", &self.repo)
            .env_remove("SCCACHE_DOCKER_ROOT");
        // The shell of a user who did what `start` printed: `doctor` fails where
        // the shell's clients would not trust the cluster's CA. A test's `env`
        // may set another.
        match super::cert_file(state) {
            Some(bundle) => cmd.env("SSL_CERT_FILE", bundle),
            None => cmd.env_remove("SSL_CERT_FILE"),
        };
        cmd.envs(env.iter().copied());
        cmd
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

    /// `start debian --profile P --advertise IP MORE...`, whatever its outcome.
    pub fn start_with(&self, profile: &TestProfile, advertise: &str, more: &[&str]) -> Output {
        let args = [
            "start",
            "debian",
            "--profile",
            profile.name,
            "--advertise",
            advertise,
        ];
        self.run(&[&args[..], more].concat())
    }

    /// `start debian --profile P --builders N --advertise 127.0.0.1`, which must
    /// succeed: `builders` build servers on the host network; its stdout.
    pub fn start_on_host(&self, profile: &TestProfile, builders: usize) -> String {
        let n = builders.to_string();
        let out = self.start_with(profile, "127.0.0.1", &["--builders", &n]);
        assert!(
            out.status.success(),
            "start:\n{}\n{}",
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

    /// Polls `status --json` until `cond` holds on it, or panics after `secs`.
    pub fn wait_status(
        &self,
        what: &str,
        secs: u64,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status();
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not after {secs}s: {s:#}"
            );
            std::thread::sleep(Duration::from_millis(250)); // the poll interval
        }
    }

    /// Polls until the scheduler counts `n` servers, or panics after `secs`.
    pub fn wait_counted(&self, n: u64, secs: u64) -> serde_json::Value {
        let what = format!("the scheduler counts {n} servers");
        self.wait_status(&what, secs, |s| s["scheduler"]["num_servers"] == n)
    }

    /// The state directory's `cluster.json`.
    pub fn record(&self) -> serde_json::Value {
        let text = std::fs::read(self.state.path().join("cluster.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    /// The client config `client-config` writes for this cluster.
    pub fn client_conf(&self) -> String {
        let conf = self.state.path().join("client-for-test.conf");
        let path = conf.to_str().unwrap();
        self.ok(&["client-config", "--output", path, "--force"]);
        std::fs::read_to_string(conf).unwrap()
    }

    /// A started private client on [`Session::client_conf`].
    pub fn client(&self) -> PrivateClient {
        self.clients(1).pop().unwrap()
    }

    /// `n` started private clients of this cluster, each with its own daemon and
    /// dist cache.
    pub fn clients(&self, n: usize) -> Vec<PrivateClient> {
        let conf = self.client_conf();
        let clients: Vec<PrivateClient> = (0..n)
            .map(|_| {
                PrivateClient::new(&conf)
                    .unwrap()
                    .with_cert_file(super::cert_file(self.state.path()))
            })
            .collect();
        for c in &clients {
            c.start().unwrap();
        }
        clients
    }

    /// Removes what is left on the main engine under this session's name:
    /// containers first (they hold the volumes and networks), then volumes, then
    /// networks. Says what it removed; never panics.
    fn sweep(&self) {
        let kinds: [(&str, &[&str], &[&str]); 3] = [
            (
                "container",
                &["ps", "--all", "--format", "{{.Names}}"],
                &["rm", "--force", "--volumes"],
            ),
            (
                "volume",
                &["volume", "ls", "--format", "{{.Name}}"],
                &["volume", "rm", "--force"],
            ),
            (
                "network",
                &["network", "ls", "--format", "{{.Name}}"],
                &["network", "rm"],
            ),
        ];
        for (kind, list, remove) in kinds {
            let names = docker_maybe(list).unwrap_or_default();
            for name in names.lines().filter(|n| self.owns_name(n)) {
                let gone = docker_maybe(&[remove, &[name]].concat()).is_some();
                let how = if gone { "removed" } else { "could not remove" };
                eprintln!("session {}: {how} leftover {kind} {name}", self.name);
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The tool takes down what its state records (containers, volumes, network).
        // (Nothing here may panic: a panic while a failed test unwinds aborts.)
        if self.state.path().join("cluster.json").exists() {
            let purge = ["remove-container", "--purge"];
            match self.command(self.state.path(), &[], &purge).output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!("cleanup of {}: {}", self.name, stderr(&out)),
                Err(e) => eprintln!("cleanup of {}: {e}", self.name),
            }
        }
        // Second engines, namespaces, registries...: newest first.
        let owned = std::mem::take(self.owned.get_mut().unwrap_or_else(|e| e.into_inner()));
        for guard in owned.into_iter().rev() {
            drop(guard);
        }
        // Whatever the state did not record (a start that failed part way, a
        // compose project, a container the test made) goes by its name.
        self.sweep();
        // The state directory and the tree copy go with their TempDirs, next.
    }
}

/// A copy of the project tree with `p` added as `profiles/NAME.yaml`.
pub fn tree_with_profile(p: &TestProfile) -> tempfile::TempDir {
    let tree = copy_tree();
    let default = std::fs::read_to_string(tree.path().join("profiles/default.yaml")).unwrap();
    let mut profile = default.clone();
    for (from, to) in [
        (
            "scheduler_port: 10600".to_owned(),
            format!("scheduler_port: {}", p.scheduler_port),
        ),
        (
            "server_port: 10501".to_owned(),
            format!("server_port: {}", p.server_port),
        ),
        ("172.31.250.".to_owned(), format!("172.31.{}.", p.net)),
    ] {
        // Every replacement must hit: a default profile that no longer says one of
        // these would leave the test profile on the default's port or subnet.
        assert!(
            profile.contains(&from),
            "the default profile no longer holds {from:?}: update tree_with_profile"
        );
        profile = profile.replace(&from, &to);
    }
    let file = tree.path().join(format!("profiles/{}.yaml", p.name));
    std::fs::write(file, profile).unwrap();
    tree
}
