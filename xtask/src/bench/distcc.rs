//! The distcc way: Debian's `distccd` on 127.0.0.1 as a child process, the batch
//! through `distcc cc` with no local fallback, and distccd's log as the proof of
//! where each compile ran.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::child::{free_port, wait_until, ChildGuard};
use super::workload::{parallel, Measured, Workload};

/// A distccd of the benchmark's own, listening on 127.0.0.1:`port`.
pub struct Distccd {
    /// Its listening port.
    pub port: u16,
    /// Jobs it accepts at once (and the client's host limit).
    pub jobs: usize,
    dir: tempfile::TempDir,
    guard: ChildGuard,
}

/// `distccd` arguments: in the foreground (a child we end), loopback only, its
/// log to stderr (which goes to a file we own: distccd drops root and could not
/// open one of ours itself).
pub fn daemon_args(port: u16, jobs: usize) -> Vec<String> {
    [
        "--daemon",
        "--no-detach",
        "--allow",
        "127.0.0.1",
        "--listen",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--jobs",
        &jobs.to_string(),
        "--log-stderr",
        "--log-level",
        "info",
    ]
    .map(String::from)
    .to_vec()
}

/// The client's environment: only that host, and a failed distribution is an
/// error rather than a silent local compile.
pub fn client_env(port: u16, jobs: usize, distcc_dir: &Path) -> Vec<(String, String)> {
    vec![
        ("DISTCC_HOSTS".into(), format!("127.0.0.1:{port}/{jobs}")),
        ("DISTCC_FALLBACK".into(), "0".into()),
        ("DISTCC_DIR".into(), distcc_dir.display().to_string()),
    ]
}

impl Distccd {
    /// Starts distccd on a free port and waits (polling) until it accepts connections.
    pub fn start(jobs: usize, timeout: Duration) -> anyhow::Result<Distccd> {
        let dir = tempfile::Builder::new().prefix("bench-distcc-").tempdir()?;
        std::fs::create_dir(dir.path().join("client"))?;
        let port = free_port()?;
        let mut guard = ChildGuard::spawn(
            "distccd",
            Command::new("distccd").args(daemon_args(port, jobs)),
            &dir.path().join("distccd.log"),
        )?;
        wait_until("distccd", timeout, || {
            guard.check_running()?;
            Ok(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
        })?;
        Ok(Distccd {
            port,
            jobs,
            dir,
            guard,
        })
    }

    fn client_dir(&self) -> PathBuf {
        self.dir.path().join("client")
    }

    /// `distcc cc -O2 -c SRC -o OBJ`; any failure (also of distribution) is an error.
    pub fn compile(&self, src: &Path, obj: &Path) -> anyhow::Result<()> {
        let mut cmd = Command::new("distcc");
        cmd.args(["cc", "-O2", "-c"]).arg(src).arg("-o").arg(obj);
        cmd.envs(client_env(self.port, self.jobs, &self.client_dir()));
        super::timed(&mut cmd).map(drop)
    }

    /// Jobs distccd's log summarises as compiled (`COMPILE_OK`) and as anything else.
    pub fn completed(&self) -> (u64, u64) {
        count_jobs(&self.guard.log())
    }

    /// The batch of `w` through this distccd, `jobs` at a time.
    pub fn run(&self, w: &Workload, jobs: usize) -> anyhow::Result<Measured> {
        let obj = |src: &Path| src.with_extension("distcc.o");
        self.compile(&w.warmup, &obj(&w.warmup))?;
        let (ok0, bad0) = self.completed();
        let wall = parallel(&w.sources, jobs, |src| self.compile(src, &obj(src)))?;
        // distccd writes a job's summary after the client has its object: wait for
        // them all (a deadline, not a nap), and report what is there if some lack.
        let n = w.sources.len() as u64;
        let _ = wait_until("distccd's job summaries", Duration::from_secs(10), || {
            let (ok, bad) = self.completed();
            Ok(ok + bad >= ok0 + bad0 + n)
        });
        let (ok, bad) = self.completed();
        Ok(Measured {
            wall,
            distributed: Some(ok - ok0),
            failed: bad - bad0,
        })
    }
}

/// (`COMPILE_OK`, other) job summaries in a distccd log.
pub fn count_jobs(log: &str) -> (u64, u64) {
    let summaries = log.lines().filter(|l| l.contains("(dcc_job_summary)"));
    let (mut ok, mut other) = (0, 0);
    for l in summaries {
        if l.contains(" COMPILE_OK ") {
            ok += 1;
        } else {
            other += 1;
        }
    }
    (ok, other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_listens_on_loopback_only_in_the_foreground() {
        let a = daemon_args(3632, 3).join(" ");
        assert!(a.contains("--daemon --no-detach"), "{a}");
        assert!(a.contains("--allow 127.0.0.1 --listen 127.0.0.1 --port 3632"));
        assert!(a.contains("--jobs 3 --log-stderr"));
    }

    #[test]
    fn client_has_one_host_and_no_fallback() {
        let env = client_env(3632, 3, Path::new("/d"));
        assert!(env.contains(&("DISTCC_HOSTS".into(), "127.0.0.1:3632/3".into())));
        assert!(env.contains(&("DISTCC_FALLBACK".into(), "0".into())));
    }

    #[test]
    fn job_summaries_are_counted() {
        let log = "distccd[1] job complete\n\
            distccd[1] (dcc_job_summary) client: 127.0.0.1:1 COMPILE_OK exit:0 sig:0 core:0 ret:0 time:47ms gcc a.c\n\
            distccd[2] (dcc_job_summary) client: 127.0.0.1:2 OTHER exit:0 sig:0 core:0 ret:108 time:11ms\n";
        assert_eq!(count_jobs(log), (1, 1));
    }
}
