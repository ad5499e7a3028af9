//! tcpdump on the host's interfaces for a test: nothing secret on the wire.
//! Self-contained; a test takes it with `#[path = "support/capture.rs"] mod capture;`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// tcpdump on every interface of the host, written to a file; stopped (SIGINT,
/// then waited for) on drop, also when the test fails.
pub struct Capture {
    child: Child,
    file: PathBuf,
    /// Its stderr, kept open: a closed pipe would end it at its next message.
    _stderr: std::process::ChildStderr,
}

impl Capture {
    pub fn start(file: &Path, filter: &str) -> Capture {
        let mut child = Command::new("tcpdump")
            .args(["-i", "any", "-U", "-s", "0", "-w"])
            .arg(file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump runs (.ci/install installs it)");
        // tcpdump says "listening on any" once it captures.
        let mut err = child.stderr.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("listening on") {
            use std::io::Read;
            assert!(
                Instant::now() < deadline,
                "tcpdump did not start: {}",
                String::from_utf8_lossy(&seen)
            );
            let n = err.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "tcpdump exited: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        Capture {
            child,
            file: file.to_owned(),
            _stderr: err,
        }
    }

    /// Stops the capture and returns every byte captured.
    pub fn finish(mut self) -> Vec<u8> {
        self.stop();
        std::fs::read(&self.file).unwrap()
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        sigint(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50)); // the poll interval
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGINT, so tcpdump flushes its file.
fn sigint(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}
