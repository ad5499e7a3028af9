//! `cargo xtask image` and `verify-repro` on the classic image store (overlay2),
//! the other store the tool supports. The machine's engine runs the containerd
//! store and other tests use it, so this test starts a second dockerd of its own:
//! in the host's network namespace (builds reach Debian's mirror through
//! `--build-network host`), with its own socket, data root, exec root, pidfile
//! and an empty daemon.json (the classic store), a bridge of its own and
//! `--iptables=false`, so it leaves docker0 and the firewall to the main engine.
//! (Not `--bridge none`: a dockerd started that way deletes the host's docker0,
//! which the main engine's containers need.) Everything it made goes when the test
//! ends, pass or fail.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{copy_tree, require_docker, stderr, stdout, test_base_image};

const BUILDKIT_REPO: &str = "sccache-dist-e2e-classic-bk";
const LEGACY_REPO: &str = "sccache-dist-e2e-classic-legacy";
const REPRO_REPO: &str = "sccache-dist-e2e-classic-repro";

/// A dockerd with the classic image store, owned by the test: stopped, unmounted
/// and removed on drop.
struct ClassicEngine {
    dir: PathBuf,
    /// The bridge interface this engine's default network uses (its own).
    bridge: String,
    host: String,
    child: Option<Child>,
}

impl ClassicEngine {
    fn start() -> ClassicEngine {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "a second dockerd needs root"
        );
        assert!(
            Command::new("dockerd").arg("--version").output().is_ok(),
            "no dockerd on PATH"
        );
        // Short: the containerd socket below it must fit a Unix socket path.
        let dir = tempfile::Builder::new()
            .prefix("sdc-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        let bridge = own_bridge();
        let mut engine = ClassicEngine {
            host: format!("unix://{}", dir.join("docker.sock").display()),
            dir,
            bridge,
            child: None,
        };
        let d = engine.dir.clone();
        std::fs::write(d.join("daemon.json"), "{}\n").unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(&engine.host)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .args(["--bridge", &engine.bridge, "--iptables=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        engine.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if engine
                .docker_maybe(&["info", "--format", "{{.ID}}"])
                .is_some()
            {
                break;
            }
            if let Some(status) = engine.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("dockerd exited ({status}):\n{}", engine.log());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60s:\n{}",
                engine.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// `docker ARGS` against this engine.
    fn docker_output(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap()
    }

    fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_output(args);
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            stderr(&out)
        );
        stdout(&out).trim().to_owned()
    }

    fn docker_maybe(&self, args: &[&str]) -> Option<String> {
        let out = self.docker_output(args);
        out.status.success().then(|| stdout(&out).trim().to_owned())
    }

    fn image_id(&self, reference: &str) -> Option<String> {
        self.docker_maybe(&["image", "inspect", "--format", "{{.Id}}", reference])
    }

    /// The xtask binary with `--root root`, talking to this engine.
    fn xtask(&self, root: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(root)
            .args(args)
            .env_remove("SCCACHE_DOCKER_ROOT")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_HOST", &self.host)
            .env("SCCACHE_DOCKER_STATE_DIR", self.dir.join("state"))
            .output()
            .expect("the xtask binary runs")
    }

    /// Processes whose command line names this engine's directory: dockerd and
    /// the containerd it supervises.
    fn own_processes(&self) -> Vec<i32> {
        let needle = self.dir.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                    .unwrap_or(false)
            })
            .collect()
    }

    /// Mount points at or below the engine's directory, deepest first.
    fn mounts(&self) -> Vec<String> {
        let prefix = self.dir.to_string_lossy().into_owned();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| p.replace("\\040", " "))
            .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        points
    }
}

/// A bridge interface for the second engine's default network, with an address
/// from TEST-NET-2 (nothing is routed there; builds use the host network).
fn own_bridge() -> String {
    let name = format!("sdc{}", std::process::id() % 100_000);
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip runs");
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            stderr(&out)
        );
    };
    let _ = Command::new("ip").args(["link", "del", &name]).output();
    ip(&["link", "add", &name, "type", "bridge"]);
    ip(&["addr", "add", "198.51.100.1/24", "dev", &name]);
    ip(&["link", "set", &name, "up"]);
    name
}

impl Drop for ClassicEngine {
    fn drop(&mut self) {
        // Stop dockerd by its pidfile (it stops its containerd), wait, then kill
        // what is left of it.
        let pid = std::fs::read_to_string(self.dir.join("docker.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .or_else(|| self.child.as_ref().map(|c| c.id() as i32));
        if let Some(pid) = pid {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        if let Some(child) = self.child.as_mut() {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        while !self.own_processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = self.own_processes();
        if !left.is_empty() {
            eprintln!("classic engine: killing what did not stop in 30s: {left:?}");
            for pid in left {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if let Some(child) = self.child.as_mut() {
                let _ = child.wait();
            }
        }
        // exec/netns/default, overlay mounts of the data root, the data root itself.
        for point in self.mounts() {
            let c = std::ffi::CString::new(point.clone()).unwrap();
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let still = self.mounts();
        if still.is_empty() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!("classic engine: cannot remove {}: {e}", self.dir.display());
            }
        } else {
            eprintln!(
                "classic engine: left {} (still mounted: {still:?})",
                self.dir.display()
            );
        }
    }
}

fn add_package(root: &Path, package: &str) {
    let path = root.join("distros/debian.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("packages:\n", &format!("packages:\n  - {package}\n")),
    )
    .unwrap();
}

/// The hash of the `# debian: input hash HASH` line of a dry run.
fn dry_run_hash(engine: &ClassicEngine, root: &Path, repo: &str) -> String {
    let out = image(engine, root, repo, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("# debian: input hash "))
        .unwrap_or_else(|| panic!("no hash line in:\n{text}"));
    line.split_whitespace().nth(4).unwrap().to_owned()
}

fn image(engine: &ClassicEngine, root: &Path, repo: &str, extra: &[&str]) -> Output {
    let base = test_base_image();
    let mut args = vec![
        "image",
        "debian",
        "--base-image",
        &base,
        "--build-network",
        "host",
        "--repo",
        repo,
    ];
    args.extend_from_slice(extra);
    engine.xtask(root, &args)
}

fn ran_build(out: &Output) -> bool {
    let err = stderr(out);
    err.contains("$ docker buildx build ") || err.contains("$ DOCKER_BUILDKIT=0 docker build ")
}

/// Build, no-op and rebuild on a changed input with one builder, in a repository
/// of its own on the classic engine. `shows` is the builder line it must print.
fn build_skip_rebuild(engine: &ClassicEngine, builder: &str, repo: &str, shows: &str) {
    let started = Instant::now();
    let tree = copy_tree();
    let root = tree.path();
    let with = ["--builder", builder];

    let out = image(engine, root, repo, &with);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(shows), "{}", stdout(&out));
    assert!(ran_build(&out), "no build ran:\n{}", stderr(&out));
    let hash = dry_run_hash(engine, root, repo);
    let tag = format!("{repo}:debian");
    let hash_tag = format!("{repo}:debian-{}", &hash[..12]);
    let first_id = engine.image_id(&tag).expect("the distro tag exists");
    assert_eq!(
        engine.image_id(&hash_tag).as_deref(),
        Some(first_id.as_str())
    );
    // It went into the classic engine, not the machine's.
    assert!(
        support::docker_maybe(&["image", "inspect", &hash_tag]).is_none(),
        "{hash_tag} is in the main engine"
    );

    // Nothing changed: no build, the same image.
    let out = image(engine, root, repo, &with);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is up to date") && stdout(&out).contains("no build needed"),
        "{}",
        stdout(&out)
    );
    assert!(!ran_build(&out), "a build ran:\n{}", stderr(&out));
    assert_eq!(engine.image_id(&tag).as_deref(), Some(first_id.as_str()));

    // A changed input: a new hash tag on a new image; the old hash tag stays.
    add_package(root, "less");
    let new_hash = dry_run_hash(engine, root, repo);
    assert_ne!(new_hash, hash);
    let out = image(engine, root, repo, &with);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(shows), "{}", stdout(&out));
    assert!(ran_build(&out), "no build ran:\n{}", stderr(&out));
    let second_id = engine.image_id(&tag).unwrap();
    assert_ne!(second_id, first_id);
    assert_eq!(
        engine
            .image_id(&format!("{repo}:debian-{}", &new_hash[..12]))
            .as_deref(),
        Some(second_id.as_str())
    );
    assert_eq!(
        engine.image_id(&hash_tag).as_deref(),
        Some(first_id.as_str())
    );
    eprintln!(
        "classic store, --builder {builder}: build, no-op, rebuild in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn image_and_verify_repro_on_the_classic_store() {
    require_docker();
    let started = Instant::now();
    let engine = ClassicEngine::start();

    // The classic store: overlay2, no containerd snapshotter.
    let info = engine.docker(&["info", "--format", "{{.Driver}}|{{json .DriverStatus}}"]);
    assert!(
        info.starts_with("overlay2|") && !info.contains("io.containerd.snapshotter"),
        "not the classic image store: {info}"
    );

    // The base image, from the machine's engine.
    let base = test_base_image();
    let mut save = Command::new("docker")
        .args(["save", &base])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = Command::new("docker")
        .arg("load")
        .env("DOCKER_HOST", &engine.host)
        .env_remove("DOCKER_CONTEXT")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    let saved = save.wait().unwrap();
    assert!(saved.success(), "docker save {base}: {saved}");
    assert!(load.status.success(), "docker load: {}", stderr(&load));
    assert!(engine.image_id(&base).is_some());
    eprintln!(
        "classic engine up, base loaded in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    build_skip_rebuild(
        &engine,
        "buildkit",
        BUILDKIT_REPO,
        "debian: builder: BuildKit (buildx ",
    );
    build_skip_rebuild(
        &engine,
        "legacy",
        LEGACY_REPO,
        "debian: builder: legacy — --builder legacy",
    );

    // verify-repro with BuildKit: the docker driver cannot export OCI tarballs on
    // the classic store ("OCI exporter is not supported for the docker driver")
    // and rewrite-timestamp is ignored on a load, so it compares file trees.
    let repro_started = Instant::now();
    let tree = copy_tree();
    let out = engine.xtask(
        tree.path(),
        &[
            "verify-repro",
            "debian",
            "--base-image",
            &base,
            "--build-network",
            "host",
            "--repo",
            REPRO_REPO,
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("builder: BuildKit (buildx ")
            && text.contains("compare: file trees (the docker driver on the classic image store"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("debian: reproducible: tree-sha256:"))
        .unwrap_or_else(|| panic!("no digest line:\n{text}"));
    assert!(!stderr(&out).contains("type=oci"), "{}", stderr(&out));
    assert_eq!(
        engine.docker(&["images", REPRO_REPO, "--format", "{{.Tag}}"]),
        "",
        "the temporary tags are gone"
    );
    eprintln!(
        "{line} ({:.1}s)\nclassic store test: {:.1}s in all",
        repro_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
