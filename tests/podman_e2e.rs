//! Podman as the engine, rootful, through its Docker API: the test starts
//! `podman system service --time=0 unix://SOCK` (removed in Drop) and points
//! DOCKER_HOST at it, as a user would. The tool builds its image there, starts
//! `--builders 2`, and a client compiles 6 files, all remote, none failed.
//! Fails (never skips) without Podman: `.ci/install` installs it.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use support::session::{Session, TestProfile};
use support::{c_sources, compile_all, stderr, stdout, wait_for, which};

const REPO: &str = "sccache-dist-e2e-podman";
const PROFILE: TestProfile = TestProfile {
    name: "podman-e2e",
    scheduler_port: 10830,
    server_port: 10831,
    net: 244,
};

/// A rootful Podman API service on a socket of the test's own.
struct PodmanService {
    child: Child,
    dir: tempfile::TempDir,
}

impl PodmanService {
    fn start() -> PodmanService {
        let podman = which("podman").unwrap_or_else(|| {
            panic!("podman is not on PATH: run .ci/install (it installs Debian's podman)")
        });
        let dir = tempfile::tempdir().unwrap();
        // Containers get the limits this process has: Podman asks for a higher
        // nofile and nproc by default, which fails where the service lacks
        // CAP_SYS_RESOURCE (as on CI, inside a sandbox).
        let limit = |r| {
            let mut l = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes the struct it is given.
            assert_eq!(unsafe { libc::getrlimit(r, &mut l) }, 0);
            l.rlim_max.min(32768)
        };
        let nofile = limit(libc::RLIMIT_NOFILE);
        let nproc = limit(libc::RLIMIT_NPROC);
        let conf = dir.path().join("containers.conf");
        std::fs::write(
            &conf,
            format!("[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n"),
        )
        .unwrap();
        let sock = dir.path().join("podman.sock");
        let child = Command::new(podman)
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", sock.display()))
            .env("CONTAINERS_CONF", &conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("service.log")).unwrap())
            .spawn()
            .unwrap();
        let service = PodmanService { child, dir };
        let host = service.host();
        wait_for("the Podman API socket", 30, || {
            Command::new("docker")
                .args(["-H", &host, "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        service
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("podman.sock").display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("service.log")).unwrap_or_default()
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `image` from the Docker engine at `from` into Podman.
fn copy_image(from: &str, image: &str) {
    let mut save = Command::new("docker");
    if !from.is_empty() {
        save.args(["-H", from]);
    }
    let mut save = save
        .args(["save", image])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = Command::new("podman")
        .args(["load"])
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success(), "docker save {image}");
    assert!(load.status.success(), "podman load: {}", stderr(&load));
}

#[test]
fn start_builders_2_through_podman_compiles_remotely() {
    support::require_docker();
    let docker_host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let base = support::test_base_image();
    let service = PodmanService::start();
    copy_image(&docker_host, &base);
    // Every docker call of this test and of the tool now goes to Podman (this
    // binary runs this one test, so nothing else reads the variable meanwhile).
    std::env::set_var("DOCKER_HOST", service.host());

    let s = Session::with_profile("podman", REPO, &PROFILE);
    let _images = s.own(support::LocalImages::cleared(REPO));
    let out = s.run(&["image", "debian", "--base-image", &base, "--repo", REPO]);
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "image through Podman:\n{printed}");
    assert!(
        printed.contains("builder: legacy") && printed.contains("Podman"),
        "the builder and why:\n{printed}"
    );
    let out = s.run(&[
        "start",
        "debian",
        "--profile",
        PROFILE.name,
        "--network",
        "bridge",
        "--builders",
        "2",
    ]);
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "start through Podman:\n{printed}\n{}",
        service.log()
    );
    assert!(printed.contains("Podman"), "names the engine:\n{printed}");
    assert!(
        printed.contains("unmask=/proc/*") && printed.contains("sandbox"),
        "the Podman quirks said:\n{printed}"
    );
    // Health as Podman gives it, said to be Podman's (it runs no HEALTHCHECK
    // without systemd).
    let status = s.run(&["status"]);
    let text = stdout(&status);
    assert!(status.status.success(), "status: {text}{}", stderr(&status));
    assert!(text.contains("as Podman reports it"), "status:\n{text}");

    let client = s.client();
    let dir = tempfile::tempdir().unwrap();
    let sources: Vec<PathBuf> = c_sources(dir.path(), "podman", 6);
    let errors = compile_all(&client, &sources, 2);
    assert!(errors.is_empty(), "compiles failed: {errors:?}");
    let stats = client.stats().unwrap();
    assert_eq!(
        (stats.distributed(), stats.failed),
        (6, 0),
        "all 6 remote, none failed: {stats:?}\n{}",
        client.error_log()
    );
    let doctor = s.run(&["doctor"]);
    let text = format!("{}{}", stdout(&doctor), stderr(&doctor));
    assert!(doctor.status.success(), "doctor through Podman:\n{text}");
    assert!(
        text.contains("Podman reachable"),
        "doctor names the engine:\n{text}"
    );
    let out = s.run(&["stop"]);
    assert!(out.status.success(), "stop: {}", stderr(&out));
    let out = s.run(&["remove-container", "--purge"]);
    assert!(out.status.success(), "remove-container: {}", stderr(&out));
}
