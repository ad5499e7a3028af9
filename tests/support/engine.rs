//! A second Docker engine owned by a test: a dockerd with its own socket, data
//! root, exec root, pidfile and an empty daemon.json (the classic image store),
//! optionally in a network namespace of its own. Dropping it removes its
//! containers, stops it (and the containerd it supervises), unmounts what it
//! mounted and removes its directory, also when the test panicked while starting it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{stderr, stdout};

/// How a second engine is started.
pub struct EngineOptions<'a> {
    /// The directory's name prefix (kept short: the containerd socket below it
    /// must fit a Unix socket path).
    pub prefix: &'a str,
    /// The network namespace (`/var/run/netns/NAME`) it runs in; the host's when None.
    pub netns: Option<&'a str>,
    /// `--bridge`: `none`, or a bridge interface of its own. Never `none` in the
    /// host's namespace: a dockerd started that way deletes the host's docker0.
    pub bridge: &'a str,
    /// `--containerd-namespace` (and `…p` for the plugins one), when given.
    pub containerd_namespace: Option<&'a str>,
}

/// A running second dockerd, stopped and removed on drop.
pub struct Dockerd {
    dir: PathBuf,
    /// `unix://DIR/docker.sock`.
    pub host: String,
    child: Option<Child>,
}

impl Dockerd {
    /// Starts the engine and polls until it answers (60 s at most).
    pub fn start(o: &EngineOptions) -> Dockerd {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "a second dockerd needs root"
        );
        assert!(
            Command::new("dockerd").arg("--version").output().is_ok(),
            "no dockerd on PATH"
        );
        let dir = tempfile::Builder::new()
            .prefix(o.prefix)
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        // From here on, a panic drops the engine and so cleans up after it.
        let mut engine = Dockerd {
            host: format!("unix://{}", dir.join("docker.sock").display()),
            dir,
            child: None,
        };
        let d = engine.dir.clone();
        std::fs::write(d.join("daemon.json"), "{}\n").unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let mut cmd = match o.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}")).arg("dockerd");
                c
            }
            None => Command::new("dockerd"),
        };
        cmd.arg("--host")
            .arg(&engine.host)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .args(["--bridge", o.bridge, "--iptables=false"]);
        if let Some(ns) = o.containerd_namespace {
            cmd.args(["--containerd-namespace", ns])
                .args(["--containerd-plugins-namespace", &format!("{ns}p")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        engine.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while engine
            .docker_maybe(&["info", "--format", "{{.ID}}"])
            .is_none()
        {
            if let Some(status) = engine.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("dockerd exited ({status}):\n{}", engine.log());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60s:\n{}",
                engine.log()
            );
            std::thread::sleep(Duration::from_millis(200)); // the poll interval
        }
        engine
    }

    /// The engine's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What dockerd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// `docker ARGS` against this engine.
    pub fn docker_output(&self, args: &[&str]) -> Output {
        self.docker_command(args).output().unwrap()
    }

    fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT");
        cmd
    }

    /// `docker ARGS` against this engine, stdout trimmed; panics with stderr on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        super::docker_stdout(args, &self.docker_output(args))
    }

    /// `docker ARGS` against this engine, or None when it fails.
    pub fn docker_maybe(&self, args: &[&str]) -> Option<String> {
        let out = self.docker_command(args).output().ok()?;
        out.status.success().then(|| stdout(&out).trim().to_owned())
    }

    pub fn image_id(&self, reference: &str) -> Option<String> {
        self.docker_maybe(&["image", "inspect", "--format", "{{.Id}}", reference])
    }

    /// The xtask binary with `--root root`, talking to this engine, with a state
    /// directory in the engine's directory.
    pub fn xtask(&self, root: &Path, args: &[&str]) -> Output {
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

    /// `docker save IMAGE | docker load`: an image of the main engine onto this one.
    pub fn load_from_main(&self, image: &str) {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = Command::new("docker")
            .arg("load")
            .env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT")
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        let saved = save.wait().unwrap();
        assert!(saved.success(), "docker save {image}: {saved}");
        assert!(load.status.success(), "docker load: {}", stderr(&load));
    }

    /// Processes whose command line names this engine's directory: dockerd and
    /// the containerd it supervises.
    pub fn own_processes(&self) -> Vec<i32> {
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
    pub fn mounts(&self) -> Vec<String> {
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

    /// Stops dockerd by its pidfile (it stops its containerd), waits up to 30 s,
    /// then kills what is left of it.
    fn stop(&mut self) {
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
                std::thread::sleep(Duration::from_millis(100)); // the poll interval
            }
        }
        while !self.own_processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100)); // the poll interval
        }
        let left = self.own_processes();
        if !left.is_empty() {
            eprintln!("second engine: killing what did not stop in 30s: {left:?}");
            for pid in left {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Its containers first, while it still answers.
            let ids = self.docker_maybe(&["ps", "-aq"]).unwrap_or_default();
            for id in ids.split_whitespace() {
                let _ = self.docker_maybe(&["rm", "--force", "--volumes", id]);
            }
        }
        self.stop();
        // exec/netns/default, overlay mounts of the data root, the data root itself.
        for point in self.mounts() {
            let c = std::ffi::CString::new(point.clone()).unwrap();
            if unsafe { libc::umount2(c.as_ptr(), 0) } != 0 {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let still = self.mounts();
        if still.is_empty() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!("second engine: cannot remove {}: {e}", self.dir.display());
            }
        } else {
            eprintln!(
                "second engine: left {} (still mounted: {still:?})",
                self.dir.display()
            );
        }
    }
}
