//! A private sccache client daemon: its own port, cache dir and config, so a check
//! or a test never talks to (or disturbs) the user's own client daemon.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::Context;

/// A client daemon in a private temporary dir; stopped and removed on drop.
pub struct PrivateClient {
    dir: tempfile::TempDir,
    port: u16,
    conf: PathBuf,
    /// `SSL_CERT_FILE` of the daemon: the roots it trusts instead of the system's.
    cert_file: Option<PathBuf>,
}

/// What `sccache --show-stats` says about distribution.
#[derive(Debug, Clone, Default)]
pub struct DistStats {
    /// Successful distributed compiles per build server.
    pub per_server: BTreeMap<String, u64>,
    /// Compiles that were distributed, failed and ran locally instead.
    pub failed: u64,
}

impl DistStats {
    /// Compiles that ran on a build server, all servers together.
    pub fn distributed(&self) -> u64 {
        self.per_server.values().sum()
    }
}

/// The part of `sccache --show-stats --stats-format json` read here. Both fields
/// are required: a renamed or missing counter is an error, never a silent 0 that
/// every "nothing failed" check would accept.
#[derive(serde::Deserialize)]
struct ShownStats {
    stats: DistCounters,
}

#[derive(serde::Deserialize)]
struct DistCounters {
    dist_compiles: BTreeMap<String, u64>,
    dist_errors: u64,
}

/// Reads the distribution counters from `--show-stats` JSON.
fn parse_stats(json: &[u8]) -> anyhow::Result<DistStats> {
    let shown: ShownStats = serde_json::from_slice(json)
        .context("sccache --show-stats JSON lacks stats.dist_compiles or stats.dist_errors")?;
    Ok(DistStats {
        per_server: shown.stats.dist_compiles,
        failed: shown.stats.dist_errors,
    })
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl PrivateClient {
    /// A client using `client_conf` (the text of an sccache client config).
    pub fn new(client_conf: &str) -> anyhow::Result<PrivateClient> {
        let dir = tempfile::Builder::new()
            .prefix("sccache-client-")
            .tempdir()?;
        let conf = dir.path().join("client.conf");
        crate::base::atomic::write(&conf, client_conf.as_bytes(), 0o600)?;
        // Toolchain archives go to a private dir too: appended here, not to the user's file.
        let mut text = client_conf.to_owned();
        let dist_cache = dir.path().join("dist-client");
        if let Some(i) = text.find("[dist]\n") {
            let at = i + "[dist]\n".len();
            text.insert_str(
                at,
                &format!(
                    "cache_dir = {}\n",
                    crate::base::escape::toml_string(dist_cache.display().to_string())
                ),
            );
            crate::base::atomic::write(&conf, text.as_bytes(), 0o600)?;
        }
        Ok(PrivateClient {
            port: free_port()?,
            conf,
            dir,
            cert_file: None,
        })
    }

    /// The same client trusting the certificates in `bundle` (`SSL_CERT_FILE`)
    /// instead of the system store: a cluster CA's bundle, or None for the system's.
    pub fn with_cert_file(mut self, bundle: Option<PathBuf>) -> PrivateClient {
        self.cert_file = bundle;
        self
    }

    /// The private dir (config, cache, error log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sccache ARGS` with this client's environment.
    pub fn cmd<I, S>(&self, args: I) -> duct::Expression
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString>,
    {
        self.env(duct::cmd("sccache", args))
    }

    /// Any command (e.g. `cargo build` with `RUSTC_WRAPPER=sccache`) run with this
    /// client's environment, so its sccache calls reach this client's daemon.
    pub fn env(&self, e: duct::Expression) -> duct::Expression {
        let e = match &self.cert_file {
            Some(f) => e.env("SSL_CERT_FILE", f),
            None => e.env_remove("SSL_CERT_FILE"),
        };
        e.env("SCCACHE_CONF", &self.conf)
            .env("SCCACHE_SERVER_PORT", self.port.to_string())
            .env("SCCACHE_DIR", self.dir.path().join("cache"))
            .env("SCCACHE_ERROR_LOG", self.dir.path().join("error.log"))
            .env("SCCACHE_LOG", "info")
            .env("SCCACHE_IDLE_TIMEOUT", "0")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("SCCACHE_NO_DAEMON")
    }

    fn capture(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.cmd(args)
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .context("cannot run sccache: is it installed and on PATH?")
    }

    /// Starts the daemon; the error says what its log shows if it fails.
    pub fn start(&self) -> anyhow::Result<()> {
        let out = self.capture(&["--start-server"])?;
        anyhow::ensure!(
            out.status.success(),
            "sccache --start-server failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            self.error_log()
        );
        Ok(())
    }

    /// `sccache --dist-status`, as printed.
    pub fn dist_status(&self) -> anyhow::Result<String> {
        let out = self.capture(&["--dist-status"])?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        anyhow::ensure!(
            out.status.success(),
            "sccache --dist-status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(text)
    }

    /// Compiles `source` to `object` with `sccache CC FLAGS -c`.
    pub fn compile(
        &self,
        cc: &str,
        flags: &[&str],
        source: &Path,
        object: &Path,
    ) -> anyhow::Result<()> {
        let mut args: Vec<&std::ffi::OsStr> = vec![cc.as_ref()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        args.extend([
            "-c".as_ref(),
            source.as_os_str(),
            "-o".as_ref(),
            object.as_os_str(),
        ]);
        let out = self
            .cmd(args)
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()?;
        anyhow::ensure!(
            out.status.success(),
            "sccache {cc} -c {} failed: {}",
            source.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// The daemon's distribution counters, from `--show-stats` JSON.
    pub fn stats(&self) -> anyhow::Result<DistStats> {
        let out = self.capture(&["--show-stats", "--stats-format", "json"])?;
        anyhow::ensure!(
            out.status.success(),
            "sccache --show-stats failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_stats(&out.stdout)
    }

    /// What the client daemon logged (its error log).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Stops the daemon; errors are ignored, as it may not be running.
    pub fn stop(&self) {
        let _ = self.capture(&["--stop-server"]);
    }
}

impl Drop for PrivateClient {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_read_from_the_json() {
        let json = br#"{"stats":{"compile_requests":3,"dist_compiles":{"10.0.0.5:10501":2},"dist_errors":1},"version":"0.19.0"}"#;
        let s = parse_stats(json).unwrap();
        assert_eq!(s.per_server.get("10.0.0.5:10501"), Some(&2));
        assert_eq!(s.distributed(), 2);
        assert_eq!(s.failed, 1);
    }

    #[test]
    fn a_missing_counter_is_an_error_not_zero() {
        for json in [
            br#"{"stats":{"dist_compiles":{}}}"#.as_slice(),
            br#"{"stats":{"dist_compiles":{},"dist_failures":0}}"#,
            br#"{"stats":{"dist_errors":0}}"#,
            br#"{"stats":{"dist_compiles":{},"dist_errors":"0"}}"#,
            b"{}",
        ] {
            let err = parse_stats(json).unwrap_err();
            assert!(
                format!("{err:#}").contains("missing field")
                    || format!("{err:#}").contains("invalid type"),
                "{}: {err:#}",
                String::from_utf8_lossy(json)
            );
        }
    }
}
