//! Child processes a benchmark starts (distccd, a native sccache-dist): each in
//! its own process group, logged to a file, and always ended when dropped, also
//! on an error path.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A running child; dropping it sends SIGTERM to its process group, then
/// SIGKILL after a grace period, and reaps it.
pub struct ChildGuard {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildGuard {
    /// Spawns `cmd` in a new process group with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<ChildGuard> {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
        Ok(ChildGuard {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    /// What the child logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An error when the child has exited (it should run until dropped).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "{} exited ({status}); its log:\n{}",
                self.name,
                tail(&self.log(), 30)
            );
        }
        Ok(())
    }

    fn signal(&self, sig: i32) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's process group; no memory is shared.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever of the group is left (prefork children, sandboxes) goes too.
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `ready` every 50 ms until it says yes, fails, or `timeout` passes.
pub fn wait_until<F>(what: &str, timeout: Duration, mut ready: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> anyhow::Result<bool>,
{
    let t0 = Instant::now();
    loop {
        if ready()? {
            return Ok(t0.elapsed());
        }
        anyhow::ensure!(
            t0.elapsed() < timeout,
            "{what}: not ready after {} s",
            timeout.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port nobody listens on now (the kernel's choice) on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
