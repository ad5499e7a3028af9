//! Another host joins: a second Docker engine in a network namespace of its own
//! plays the other host. `join-bundle` on this host, `join` on that engine: the
//! scheduler counts its server and a client's compiles run on it; after `revoke`
//! the scheduler refuses it and counts the local builder alone, which registered
//! again with its new JWT and keeps compiling.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{require_docker, stderr, stdout};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-dist-e2e-join";
const IMAGE: &str = "sccache-dist-e2e-join:debian";

/// The default runtime profile on ports of its own, so no other cluster on this
/// host answers for this one or collides with it.
const PROFILE: &str = "join-test";
const SCHEDULER_PORT: u16 = 10680;
const SERVER_PORT: u16 = 10681;

/// Host mode binds fixed ports: the cluster tests take turns.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A copy of the project tree with [`PROFILE`] added.
fn test_root() -> tempfile::TempDir {
    support::tree_with_profile(PROFILE, SCHEDULER_PORT, SERVER_PORT, 253)
}

/// `PROGRAM ARGS`, which must succeed.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        stderr(&out)
    );
    out
}

/// `PROGRAM ARGS`, failures ignored (teardown).
fn quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The other host: a network namespace joined to this one by a veth pair (a /30
/// of 10.251.0.0/16 picked from the test's pid), with a dockerd of its own.
/// Everything is torn down on drop, in reverse.
struct SecondHost {
    ns: String,
    veth: String,
    dir: tempfile::TempDir,
    /// This host's end of the veth.
    here: String,
    /// The other host's address.
    there: String,
    dockerd: Option<Child>,
}

impl SecondHost {
    fn new() -> SecondHost {
        let pid = std::process::id();
        let (third, fourth) = ((pid / 64) % 256, (pid % 64) * 4);
        let h = SecondHost {
            ns: format!("sdj{pid}"),
            veth: format!("sdja{pid}"),
            dir: tempfile::Builder::new().prefix("sdj-").tempdir().unwrap(),
            here: format!("10.251.{third}.{}", fourth + 1),
            there: format!("10.251.{third}.{}", fourth + 2),
            dockerd: None,
        };
        let taken = stdout(&run("ip", &["-4", "-o", "addr", "show"]));
        assert!(
            !taken.contains(&format!(" {}/", h.here)),
            "{} is in use",
            h.here
        );
        h
    }

    /// The namespace, the veth pair and the addresses.
    fn link(&self) {
        let peer = format!("sdjb{}", std::process::id());
        let nsx = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &self.ns];
            full.extend_from_slice(args);
            run("ip", &full);
        };
        run("ip", &["netns", "add", &self.ns]);
        run(
            "ip",
            &[
                "link", "add", &self.veth, "type", "veth", "peer", "name", &peer,
            ],
        );
        run("ip", &["link", "set", &peer, "netns", &self.ns]);
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", self.here),
                "dev",
                &self.veth,
            ],
        );
        run("ip", &["link", "set", &self.veth, "up"]);
        nsx(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", self.there),
            "dev",
            &peer,
        ]);
        nsx(&["ip", "link", "set", &peer, "up"]);
        nsx(&["ip", "link", "set", "lo", "up"]);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.path("docker.sock").display())
    }

    /// A dockerd in the namespace (classic overlay2 store, no bridge, no
    /// iptables), polled until it answers.
    fn start_engine(&mut self) {
        std::fs::write(self.path("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(self.path("dockerd.log")).unwrap();
        let p = |n: &str| self.path(n).display().to_string();
        let ns = format!("{}c", self.ns);
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.ns))
            .args(["dockerd", "--host", &self.docker_host()])
            .args(["--data-root", &p("data"), "--exec-root", &p("exec")])
            .args([
                "--pidfile",
                &p("docker.pid"),
                "--config-file",
                &p("daemon.json"),
            ])
            .args(["--bridge", "none", "--iptables=false"])
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}p")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.dockerd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.docker(&["info"]).status.success() {
            let log = std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "the second dockerd did not come up:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(200)); // the poll interval
        }
    }

    /// `docker ARGS` against the second engine.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.docker_host())
            .output()
            .unwrap()
    }

    /// `docker save | docker load`: the image onto the second engine.
    fn load_image(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .arg("load")
            .env("DOCKER_HOST", self.docker_host())
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success());
        assert!(load.status.success(), "docker load: {}", stderr(&load));
    }

    fn stop_engine(&mut self) {
        let Some(mut child) = self.dockerd.take() else {
            return;
        };
        let ids = stdout(&self.docker(&["ps", "-aq"]));
        for id in ids.split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let pid = std::fs::read_to_string(self.path("docker.pid")).unwrap_or_default();
        let pid = pid.trim();
        if pid.is_empty() {
            let _ = child.kill();
        } else {
            quietly("kill", &[pid]);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100)); // the poll interval
        }
    }

    /// Every mount below the directory, deepest first, unmounted (the netns
    /// mount under exec/ is busy otherwise).
    fn unmount_all(&self) {
        let root = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut below: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&root))
            .collect();
        below.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in below {
            quietly("umount", &[m]);
        }
    }
}

impl Drop for SecondHost {
    fn drop(&mut self) {
        self.stop_engine();
        self.unmount_all();
        let _ = std::fs::remove_dir_all(self.dir.path());
        quietly("ip", &["netns", "del", &self.ns]);
        quietly("ip", &["link", "del", &self.veth]);
    }
}

/// The cluster on this host, with its own name and state directory, removed (with
/// its volumes) on drop.
struct TestCluster {
    // Dropped before the tree: its cleanup runs the tool on this tree.
    session: support::Session,
    _root: tempfile::TempDir,
}

impl std::ops::Deref for TestCluster {
    type Target = support::Session;
    fn deref(&self) -> &support::Session {
        &self.session
    }
}

impl TestCluster {
    fn new() -> TestCluster {
        let root = test_root();
        let name = format!("sccache-join-{}", std::process::id());
        TestCluster {
            session: support::Session::new(root.path(), name, REPO),
            _root: root,
        }
    }
}

/// Compiles `sources` through `client`, `jobs` at a time; every compile must succeed.
fn compile_all(client: &PrivateClient, sources: &[PathBuf], jobs: usize) {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
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
    let errors = errors.into_inner().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
}

/// Polls until `cond` holds on `status --json`, or panics after `secs`.
fn wait_status(
    c: &TestCluster,
    what: &str,
    secs: u64,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = c.status();
        if cond(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not after {secs}s: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(500)); // the poll interval
    }
}

#[test]
fn another_host_joins_serves_and_is_revoked() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let t0 = Instant::now();
    support::build_debian_image(REPO);
    let mut host = SecondHost::new();
    host.link();
    host.start_engine();
    host.load_image(IMAGE);
    println!(
        "second host up with the image after {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let c = TestCluster::new();
    c.ok(&[
        "start",
        "debian",
        "--profile",
        PROFILE,
        "--advertise",
        &host.here,
    ]);
    let bundle = issue_bundle(&c, &host);
    let remote_state = tempfile::Builder::new()
        .prefix("sccache-remote-")
        .tempdir()
        .unwrap();
    let t = Instant::now();
    join(&c, &host, &bundle, remote_state.path());
    println!("join registered in {:.1}s", t.elapsed().as_secs_f64());
    let remote_addr = format!("{}:{SERVER_PORT}", host.there);
    let local_addr = format!("{}:{SERVER_PORT}", host.here);
    counted_with_remote(&c, &remote_addr);
    let client = PrivateClient::new(&c.client_conf()).unwrap();
    client.start().unwrap();
    compile_all(&client, &support::c_sources(client.dir(), "jn", 20), 4);
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
    compile_all(&client, &support::c_sources(client.dir(), "rv", 6), 2);
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
    println!("join test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// The scheduler counts the local and the remote builder; `status` lists both.
fn counted_with_remote(c: &TestCluster, remote_addr: &str) {
    let s = wait_status(c, "the scheduler counts 2", 60, |s| {
        s["scheduler"]["num_servers"] == 2
    });
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
fn issue_bundle(c: &TestCluster, host: &SecondHost) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bundle = c.state.path().join("bundle.json");
    let out = c.run_with(
        c.state.path(),
        &[],
        &[
            "join-bundle",
            "--address",
            &host.there,
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
        format!("http://{}:{SCHEDULER_PORT}", host.here)
    );
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
    assert!(printed.contains(&host.there), "{printed}");
    bundle
}

/// `join BUNDLE` against the second engine, with a state directory of its own.
fn join(c: &TestCluster, host: &SecondHost, bundle: &Path, state: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let docker_host = host.docker_host();
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
fn revoke_and_check(c: &TestCluster, host: &SecondHost) {
    let spare = format!("spare-{}", std::process::id());
    let spare_file = c.state.path().join("spare.json");
    c.ok(&[
        "join-bundle",
        "--address",
        &host.there,
        "--port",
        "10682",
        "--name",
        &spare,
        "-o",
        spare_file.to_str().unwrap(),
    ]);
    let t = Instant::now();
    let out = c.ok(&["revoke", &format!("{}:{SERVER_PORT}", host.there)]);
    println!("revoke took {:.1}s: {out}", t.elapsed().as_secs_f64());
    assert!(
        out.contains(&format!("needs a new bundle: {spare}")),
        "{out}"
    );
    let s = wait_status(c, "the scheduler counts 1", 30, |s| {
        s["scheduler"]["num_servers"] == 1
    });
    assert_eq!(s["expected_servers"], 2, "the spare is still expected");
    let remotes = s["remote_builders"].as_array().unwrap();
    assert_eq!(remotes.len(), 1, "{s:#}");
    assert_eq!(remotes[0]["name"], spare.as_str());
    assert_eq!(remotes[0]["registration"], "stale bundle", "{s:#}");
    assert_eq!(s["builders"][0]["registration"], "registered", "{s:#}");
    let name = format!("{}-remote-{}", c.name, host.there.replace('.', "-"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let log = host.docker(&["logs", "--tail", "200", &name]);
        let text = format!("{}{}", stdout(&log), stderr(&log));
        if text.contains("401") || text.contains("invalid_bearer_token") {
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
